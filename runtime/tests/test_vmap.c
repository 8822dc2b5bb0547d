/* eqx_vmap: batching rules against per-example loops, one GEMM per vmapped layer, in/out
 * axes, nesting, modules as function or argument, grad of vmap against the hand-batched
 * computation, and the errors (missing rule, inconsistent sizes, vmap of grad). */
#include "test_util.h"

#include "eqx_internal.h"

static eqx_array *rand_arr(int ndim, const int64_t *shape, unsigned seed) {
    eqx_array *a;
    OK(eqx_array_new(EQX_F32, ndim, shape, &a));
    fill(a->data, a->size, seed, -1, 1);
    return a;
}

/* row i of a (n, ...) array as a new (...) array */
static eqx_array *row(const eqx_array *a, int64_t i) {
    eqx_array *r;
    int64_t per = a->size / a->shape[0];
    OK(eqx_array_from_f32(a->ndim - 1, a->shape + 1, (const float *)a->data + i * per, &r));
    return r;
}

static double max_diff(const float *a, const float *b, int64_t n) {
    double m = 0;
    for (int64_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i] - (double)b[i]));
    return m;
}

static eqx_tree *tup2(eqx_tree *a, eqx_tree *b) {
    eqx_tree *kids[2] = {a, b}, *t;
    OK(eqx_tuple_new(2, kids, &t));
    return t;
}

/* ------------------------------------------------------------ layers: one GEMM */

static void check_module_batched(eqx_tree *model, int in, int out, int B, long want_gemms) {
    eqx_ctx *ctx;
    OK(eqx_ctx_new(&ctx));
    int64_t xs[2] = {B, in};
    eqx_array *X = rand_arr(2, xs, 11), *Y;
    eqx_vmapped *vf;
    OK(eqx_vmap_module(model, 0, 0, &vf));
    long before = eqx_debug_gemm_calls();
    OK(eqx_vmapped_call_array(ctx, vf, X, &Y));
    long gemms = eqx_debug_gemm_calls() - before;
    CU_ASSERT_EQUAL(gemms, want_gemms);
    printf("\n    batch %d: %ld GEMM call(s)\n", B, gemms);
    CU_ASSERT_EQUAL(Y->ndim, 2);
    CU_ASSERT_EQUAL(Y->shape[0], B);
    CU_ASSERT_EQUAL(Y->shape[1], out);
    CU_ASSERT_EQUAL(Y->batch, 0u);
    /* the same numbers as calling the per-example model in a loop */
    double worst = 0;
    long loop_before = eqx_debug_gemm_calls();
    for (int i = 0; i < B; i++) {
        eqx_array *xi = row(X, i), *yi;
        OK(eqx_module_call(ctx, model, xi, NULL, &yi));
        worst = fmax(worst, max_diff(yi->data, (float *)Y->data + i * out, out));
        eqx_array_free(xi);
    }
    CU_ASSERT_EQUAL(eqx_debug_gemm_calls() - loop_before, (long)B * want_gemms);
    CU_ASSERT_TRUE(worst < 1e-5);
    eqx_vmapped_free(vf);
    eqx_array_free(X);
    eqx_ctx_free(ctx);
}

static void test_linear_one_gemm(void) {
    eqx_tree *lin;
    OK(eqx_linear_new(5, 3, true, eqx_prng_key(1), &lin));
    check_module_batched(lin, 5, 3, 16, 1);
    eqx_tree_free(lin);
}

static void test_mlp_one_gemm_per_layer(void) {
    eqx_tree *mlp;
    OK(eqx_mlp_new(6, 4, 8, 2, "relu", eqx_relu, eqx_prng_key(2), &mlp)); /* 3 layers */
    check_module_batched(mlp, 6, 4, 32, 3);
    eqx_tree_free(mlp);
}

/* ------------------------------------------------------------ axes, modules as args */

/* f(model, x, s) = model(x) * s, with s a per-example scale */
static eqx_status scaled_call(eqx_ctx *ctx, const eqx_tree *args, void *user, eqx_tree **out) {
    (void)user;
    eqx_array *y, *z;
    EQX_TRY(eqx_module_call(ctx, eqx_tree_child(args, 0), eqx_tree_array(eqx_tree_child(args, 1)),
                            NULL, &y));
    EQX_TRY(eqx_mul(ctx, y, eqx_tree_array(eqx_tree_child(args, 2)), &z));
    return eqx_leaf_array(z, out);
}

static void test_in_out_axes_and_module_argument(void) {
    enum { B = 7, IN = 4, OUT = 3 };
    eqx_tree *lin;
    OK(eqx_linear_new(IN, OUT, true, eqx_prng_key(3), &lin));
    eqx_ctx *ctx;
    OK(eqx_ctx_new(&ctx));
    int64_t xt_s[2] = {IN, B}, s_s[1] = {B};
    eqx_array *XT = rand_arr(2, xt_s, 5), *S = rand_arr(1, s_s, 6); /* x mapped along axis 1 */
    eqx_tree *kids[3] = {lin, leaf(eqx_array_retain(XT)), leaf(eqx_array_retain(S))}, *args, *res;
    OK(eqx_tuple_new(3, kids, &args));
    int axes[3] = {EQX_UNMAPPED, 1, 0};
    eqx_vmapped *vf;
    OK(eqx_vmap(scaled_call, NULL, 3, axes, 1, &vf)); /* results stacked along axis 1 */
    OK(eqx_vmapped_call(ctx, vf, args, &res));
    eqx_array *Y = eqx_tree_array(res);
    CU_ASSERT_PTR_NOT_NULL_FATAL(Y);
    CU_ASSERT_EQUAL(Y->shape[0], OUT);
    CU_ASSERT_EQUAL(Y->shape[1], B);
    const float *xt = XT->data, *sv = S->data, *y = Y->data;
    const float *W = eqx_tree_array(eqx_tree_field(lin, "weight"))->data;
    const float *b = eqx_tree_array(eqx_tree_field(lin, "bias"))->data;
    double worst = 0;
    for (int i = 0; i < B; i++)
        for (int o = 0; o < OUT; o++) {
            double ref = b[o];
            for (int k = 0; k < IN; k++) ref += (double)W[o * IN + k] * xt[k * B + i];
            worst = fmax(worst, fabs(ref * sv[i] - y[o * B + i]));
        }
    CU_ASSERT_TRUE(worst < 1e-5);
    /* the module as an unmapped argument of eqx_module_fn is jax.vmap(model) */
    eqx_vmapped *vm;
    int axes2[2] = {EQX_UNMAPPED, 1};
    OK(eqx_vmap(eqx_module_fn, NULL, 2, axes2, 0, &vm));
    eqx_tree *a2 = tup2(lin, kids[1]), *r2;
    OK(eqx_vmapped_call(ctx, vm, a2, &r2));
    const float *y2 = eqx_tree_array(r2)->data;
    worst = 0;
    for (int i = 0; i < B; i++)
        for (int o = 0; o < OUT; o++)
            worst = fmax(worst, fabs(y2[i * OUT + o] * sv[i] - y[o * B + i]));
    CU_ASSERT_TRUE(worst < 1e-5);
    eqx_tree_free(r2);
    eqx_tree_free(a2);
    eqx_vmapped_free(vm);
    eqx_tree_free(res);
    eqx_tree_free(args);
    eqx_tree_free(kids[1]);
    eqx_tree_free(kids[2]);
    eqx_vmapped_free(vf);
    eqx_array_free(XT);
    eqx_array_free(S);
    eqx_ctx_free(ctx);
    eqx_tree_free(lin);
}

/* A batch of models (an ensemble: the module itself mapped) on one shared input. */
static void test_mapped_module(void) {
    enum { E = 3, IN = 4, OUT = 2 };
    eqx_tree *m[E];
    for (int i = 0; i < E; i++) OK(eqx_linear_new(IN, OUT, true, eqx_prng_key(10 + (unsigned)i), &m[i]));
    /* stack the ensemble's weights into one Linear with leading axis E */
    int64_t ws[3] = {E, OUT, IN}, bs[2] = {E, OUT}, xs[1] = {IN};
    eqx_array *W, *b;
    OK(eqx_array_new(EQX_F32, 3, ws, &W));
    OK(eqx_array_new(EQX_F32, 2, bs, &b));
    for (int i = 0; i < E; i++) {
        memcpy((float *)W->data + i * OUT * IN, eqx_tree_array(eqx_tree_field(m[i], "weight"))->data,
               sizeof(float) * OUT * IN);
        memcpy((float *)b->data + i * OUT, eqx_tree_array(eqx_tree_field(m[i], "bias"))->data,
               sizeof(float) * OUT);
    }
    eqx_tree *stacked, *t1, *wl = leaf(W), *bl = leaf(b);
    OK(eqx_tree_at(m[0], ".weight", wl, &t1));
    OK(eqx_tree_at(t1, ".bias", bl, &stacked));
    eqx_tree_free(t1);
    eqx_tree_free(wl);
    eqx_tree_free(bl);
    eqx_array *x = rand_arr(1, xs, 4);
    eqx_tree *xl = leaf(eqx_array_retain(x)), *args = tup2(stacked, xl), *res;
    int axes[2] = {0, EQX_UNMAPPED};
    eqx_vmapped *vf;
    eqx_ctx *ctx;
    OK(eqx_ctx_new(&ctx));
    OK(eqx_vmap(eqx_module_fn, NULL, 2, axes, 0, &vf));
    OK(eqx_vmapped_call(ctx, vf, args, &res));
    eqx_array *Y = eqx_tree_array(res);
    CU_ASSERT_EQUAL(Y->shape[0], E);
    for (int i = 0; i < E; i++) {
        eqx_array *yi;
        OK(eqx_module_call(ctx, m[i], x, NULL, &yi));
        CU_ASSERT_TRUE(max_diff(yi->data, (float *)Y->data + i * OUT, OUT) < 1e-5);
    }
    eqx_tree_free(res);
    eqx_tree_free(args);
    eqx_tree_free(xl);
    eqx_vmapped_free(vf);
    eqx_array_free(x);
    eqx_tree_free(stacked);
    for (int i = 0; i < E; i++) eqx_tree_free(m[i]);
    eqx_ctx_free(ctx);
}

/* ------------------------------------------------------------ nesting and op coverage */

/* f(a, b) = sum(tanh(a) * b) / 2 + mean(b): elementwise, reductions, a scalar constant */
static eqx_status pair_fn(eqx_ctx *ctx, const eqx_tree *args, void *user, eqx_tree **out) {
    (void)user;
    const eqx_array *a = eqx_tree_array(eqx_tree_child(args, 0));
    const eqx_array *b = eqx_tree_array(eqx_tree_child(args, 1));
    eqx_array *t, *p, *s, *h, *m, *r;
    EQX_TRY(eqx_tanh(ctx, a, &t));
    EQX_TRY(eqx_mul(ctx, t, b, &p));
    EQX_TRY(eqx_sum(ctx, p, 0, NULL, &s));
    EQX_TRY(eqx_mul_scalar(ctx, s, 0.5f, &h));
    EQX_TRY(eqx_mean(ctx, b, 0, NULL, &m));
    EQX_TRY(eqx_add(ctx, h, m, &r));
    return eqx_leaf_array(r, out);
}

static double pair_ref(const float *a, const float *b, int k) {
    double s = 0, m = 0;
    for (int i = 0; i < k; i++) {
        s += tanh((double)a[i]) * b[i];
        m += b[i];
    }
    return s / 2 + m / k;
}

static void test_nested_vmap(void) {
    enum { NA = 5, NB = 4, K = 3 };
    int64_t as[2] = {NA, K}, bsh[2] = {NB, K};
    eqx_array *A = rand_arr(2, as, 21), *Bm = rand_arr(2, bsh, 22);
    eqx_vmapped *inner, *outer;
    int ia[2] = {EQX_UNMAPPED, 0}, oa[2] = {0, EQX_UNMAPPED};
    OK(eqx_vmap(pair_fn, NULL, 2, ia, 0, &inner));           /* over b */
    OK(eqx_vmap(eqx_vmapped_fn, inner, 2, oa, 0, &outer));   /* over a */
    eqx_ctx *ctx;
    OK(eqx_ctx_new(&ctx));
    eqx_tree *la = leaf(eqx_array_retain(A)), *lb = leaf(eqx_array_retain(Bm)), *args = tup2(la, lb),
             *res;
    OK(eqx_vmapped_call(ctx, outer, args, &res));
    eqx_array *R = eqx_tree_array(res);
    CU_ASSERT_EQUAL_FATAL(R->ndim, 2);
    CU_ASSERT_EQUAL(R->shape[0], NA);
    CU_ASSERT_EQUAL(R->shape[1], NB);
    double worst = 0;
    for (int i = 0; i < NA; i++)
        for (int j = 0; j < NB; j++)
            worst = fmax(worst, fabs(pair_ref((float *)A->data + i * K, (float *)Bm->data + j * K, K) -
                                     ((float *)R->data)[i * NB + j]));
    CU_ASSERT_TRUE(worst < 1e-5);
    eqx_tree_free(res);
    eqx_tree_free(args);
    eqx_tree_free(la);
    eqx_tree_free(lb);
    eqx_vmapped_free(inner);
    eqx_vmapped_free(outer);
    eqx_array_free(A);
    eqx_array_free(Bm);
    eqx_ctx_free(ctx);
}

/* g(M, x) = transpose(reshape(M @ x ...)): matmul with both operands batched, reshape,
 * transpose, sum over a named axis, log_softmax. */
static eqx_status mat_fn(eqx_ctx *ctx, const eqx_tree *args, void *user, eqx_tree **out) {
    (void)user;
    const eqx_array *M = eqx_tree_array(eqx_tree_child(args, 0)); /* (4, 3) */
    const eqx_array *x = eqx_tree_array(eqx_tree_child(args, 1)); /* (3,) */
    eqx_array *y, *r, *t, *s, *l;
    int64_t sh[2] = {2, -1};
    int ax[1] = {1};
    EQX_TRY(eqx_matmul(ctx, M, x, &y));            /* (4,) */
    EQX_TRY(eqx_reshape(ctx, y, 2, sh, &r));       /* (2, 2) */
    EQX_TRY(eqx_transpose(ctx, r, NULL, &t));      /* (2, 2) */
    EQX_TRY(eqx_sum(ctx, t, 1, ax, &s));           /* (2,) */
    EQX_TRY(eqx_log_softmax(ctx, s, &l));
    return eqx_leaf_array(l, out);
}

static void test_op_rules_against_loop(void) {
    enum { B = 6 };
    int64_t ms[3] = {B, 4, 3}, xs[2] = {B, 3};
    eqx_array *M = rand_arr(3, ms, 31), *X = rand_arr(2, xs, 32);
    eqx_ctx *ctx;
    OK(eqx_ctx_new(&ctx));
    int axes[2] = {0, 0};
    eqx_vmapped *vf;
    OK(eqx_vmap(mat_fn, NULL, 2, axes, 0, &vf));
    eqx_tree *lm = leaf(eqx_array_retain(M)), *lx = leaf(eqx_array_retain(X)), *args = tup2(lm, lx),
             *res;
    OK(eqx_vmapped_call(ctx, vf, args, &res));
    eqx_array *R = eqx_tree_array(res);
    CU_ASSERT_EQUAL(R->shape[0], B);
    CU_ASSERT_EQUAL(R->shape[1], 2);
    double worst = 0;
    for (int i = 0; i < B; i++) {
        eqx_array *mi = row(M, i), *xi = row(X, i);
        eqx_tree *a1 = leaf(mi), *a2 = leaf(xi), *ai = tup2(a1, a2), *ri;
        OK(mat_fn(ctx, ai, NULL, &ri));
        worst = fmax(worst, max_diff(eqx_tree_array(ri)->data, (float *)R->data + i * 2, 2));
        eqx_tree_free(ri);
        eqx_tree_free(ai);
        eqx_tree_free(a1);
        eqx_tree_free(a2);
    }
    CU_ASSERT_TRUE(worst < 1e-5);
    /* the same with only x batched (M unmapped): the transpose-free one-GEMM path for
     * matrix @ batch of matrices is exercised by mapping M^T ... here: M shared */
    eqx_array *M0 = row(M, 0);
    eqx_tree *lm0 = leaf(M0), *args0 = tup2(lm0, lx), *res0;
    int axes0[2] = {EQX_UNMAPPED, 0};
    eqx_vmapped *vf0;
    OK(eqx_vmap(mat_fn, NULL, 2, axes0, 0, &vf0));
    OK(eqx_vmapped_call(ctx, vf0, args0, &res0));
    worst = 0;
    for (int i = 0; i < B; i++) {
        eqx_array *xi = row(X, i);
        eqx_tree *a2 = leaf(xi), *ai = tup2(lm0, a2), *ri;
        OK(mat_fn(ctx, ai, NULL, &ri));
        worst = fmax(worst, max_diff(eqx_tree_array(ri)->data,
                                     (float *)eqx_tree_array(res0)->data + i * 2, 2));
        eqx_tree_free(ri);
        eqx_tree_free(ai);
        eqx_tree_free(a2);
    }
    CU_ASSERT_TRUE(worst < 1e-5);
    eqx_tree_free(res0);
    eqx_tree_free(args0);
    eqx_tree_free(lm0);
    eqx_vmapped_free(vf0);
    eqx_tree_free(res);
    eqx_tree_free(args);
    eqx_tree_free(lm);
    eqx_tree_free(lx);
    eqx_vmapped_free(vf);
    eqx_array_free(M);
    eqx_array_free(X);
    eqx_ctx_free(ctx);
}

/* x @ B for a batch of matrices B with x shared: the (k, batch*n) wide-GEMM path. */
static eqx_status vec_mat(eqx_ctx *ctx, const eqx_tree *args, void *user, eqx_tree **out) {
    (void)user;
    eqx_array *y;
    EQX_TRY(eqx_matmul(ctx, eqx_tree_array(eqx_tree_child(args, 0)),
                       eqx_tree_array(eqx_tree_child(args, 1)), &y));
    return eqx_leaf_array(y, out);
}

static void test_matmul_batched_right_operand(void) {
    enum { B = 5, M = 2, K = 3, N = 4 };
    int64_t as[2] = {M, K}, bs[3] = {B, K, N};
    eqx_array *A = rand_arr(2, as, 41), *Bt = rand_arr(3, bs, 42);
    eqx_ctx *ctx;
    OK(eqx_ctx_new(&ctx));
    int axes[2] = {EQX_UNMAPPED, 0};
    eqx_vmapped *vf;
    OK(eqx_vmap(vec_mat, NULL, 2, axes, 0, &vf));
    eqx_tree *la = leaf(eqx_array_retain(A)), *lb = leaf(eqx_array_retain(Bt)), *args = tup2(la, lb),
             *res;
    long g0 = eqx_debug_gemm_calls();
    OK(eqx_vmapped_call(ctx, vf, args, &res));
    CU_ASSERT_EQUAL(eqx_debug_gemm_calls() - g0, 1);
    const float *a = A->data, *b = Bt->data, *y = eqx_tree_array(res)->data;
    double worst = 0;
    for (int i = 0; i < B; i++)
        for (int m = 0; m < M; m++)
            for (int n = 0; n < N; n++) {
                double ref = 0;
                for (int k = 0; k < K; k++) ref += (double)a[m * K + k] * b[i * K * N + k * N + n];
                worst = fmax(worst, fabs(ref - y[i * M * N + m * N + n]));
            }
    CU_ASSERT_TRUE(worst < 1e-5);
    eqx_tree_free(res);
    eqx_tree_free(args);
    eqx_tree_free(la);
    eqx_tree_free(lb);
    eqx_vmapped_free(vf);
    eqx_array_free(A);
    eqx_array_free(Bt);
    eqx_ctx_free(ctx);
}

/* ------------------------------------------------------------ grad of vmap */

typedef struct cls_data {
    eqx_array *X, *Y;       /* (B, IN) float, (B,) int32 */
    eqx_vmapped *vloss;
} cls_data;

static eqx_status example_loss(eqx_ctx *ctx, const eqx_tree *args, void *user, eqx_tree **out) {
    (void)user;
    eqx_array *logits, *l;
    EQX_TRY(eqx_module_call(ctx, eqx_tree_child(args, 0), eqx_tree_array(eqx_tree_child(args, 1)),
                            NULL, &logits));
    EQX_TRY(eqx_cross_entropy(ctx, logits, eqx_tree_array(eqx_tree_child(args, 2)), &l));
    return eqx_leaf_array(l, out);
}

/* mean over the batch of the vmapped per-example loss */
static eqx_status vmapped_loss(eqx_ctx *ctx, const eqx_tree *model, void *user, eqx_array **loss) {
    const cls_data *d = user;
    eqx_tree *kids[3] = {(eqx_tree *)model, NULL, NULL}, *args = NULL, *res = NULL;
    eqx_status s = eqx_leaf_array(d->X, &kids[1]);
    if (!s) s = eqx_leaf_array(d->Y, &kids[2]);
    if (!s) s = eqx_tuple_new(3, kids, &args);
    if (!s) s = eqx_vmapped_call(ctx, d->vloss, args, &res);
    if (!s) s = eqx_mean(ctx, eqx_tree_array(res), 0, NULL, loss);
    eqx_tree_free(kids[1]);
    eqx_tree_free(kids[2]);
    eqx_tree_free(args);
    eqx_tree_free(res);
    return s;
}

/* The same loss written by hand on the whole batch: X @ W^T + b per layer. */
static eqx_status hand_batched_loss(eqx_ctx *ctx, const eqx_tree *model, void *user,
                                    eqx_array **loss) {
    const cls_data *d = user;
    const eqx_tree *layers = eqx_tree_field(model, "layers");
    eqx_array *h = d->X;
    for (int i = 0; i < eqx_tree_nchildren(layers); i++) {
        const eqx_tree *lin = eqx_tree_child(layers, i);
        eqx_array *wt, *z;
        EQX_TRY(eqx_transpose(ctx, eqx_tree_array(eqx_tree_field(lin, "weight")), NULL, &wt));
        EQX_TRY(eqx_matmul(ctx, h, wt, &z));
        EQX_TRY(eqx_add(ctx, z, eqx_tree_array(eqx_tree_field(lin, "bias")), &z));
        if (i + 1 < eqx_tree_nchildren(layers)) EQX_TRY(eqx_tanh(ctx, z, &z));
        h = z;
    }
    return eqx_cross_entropy(ctx, h, d->Y, loss);
}

static void test_grad_of_vmap_matches_hand_batched(void) {
    enum { B = 12, IN = 5, C = 4 };
    eqx_tree *mlp;
    OK(eqx_mlp_new(IN, C, 7, 1, "tanh", eqx_tanh, eqx_prng_key(5), &mlp));
    int64_t xs[2] = {B, IN}, ys[1] = {B};
    int32_t lab[B];
    for (int i = 0; i < B; i++) lab[i] = (i * 7) % C;
    cls_data d = {rand_arr(2, xs, 51), NULL, NULL};
    OK(eqx_array_from_i32(1, ys, lab, &d.Y));
    int axes[3] = {EQX_UNMAPPED, 0, 0};
    OK(eqx_vmap(example_loss, NULL, 3, axes, 0, &d.vloss));
    eqx_ctx *ctx;
    OK(eqx_ctx_new(&ctx));
    float lv, lh;
    eqx_tree *gv, *gh;
    OK(eqx_filter_value_and_grad(ctx, vmapped_loss, mlp, &d, &lv, &gv));
    eqx_ctx_reset(ctx);
    OK(eqx_filter_value_and_grad(ctx, hand_batched_loss, mlp, &d, &lh, &gh));
    CU_ASSERT_DOUBLE_EQUAL(lv, lh, 1e-6);
    eqx_treedef *t1, *t2;
    eqx_tree **l1, **l2;
    int n1, n2, compared = 0;
    OK(eqx_tree_flatten(gv, &t1, &l1, &n1));
    OK(eqx_tree_flatten(gh, &t2, &l2, &n2));
    CU_ASSERT_EQUAL_FATAL(n1, n2);
    double worst = 0;
    for (int i = 0; i < n1; i++) {
        eqx_array *a = eqx_tree_array(l1[i]), *b = eqx_tree_array(l2[i]);
        CU_ASSERT_EQUAL(a == NULL, b == NULL);
        if (!a || !b) continue;
        worst = fmax(worst, max_diff(a->data, b->data, a->size));
        compared++;
    }
    printf("\n    %d gradient leaves, max |vmap - hand| = %.3g\n", compared, worst);
    CU_ASSERT_EQUAL(compared, 4);
    CU_ASSERT_TRUE(worst < 1e-6);
    /* and against finite differences */
    CU_ASSERT_EQUAL(fd_check(vmapped_loss, mlp, &d, 1e-3f, 2e-2f, 2e-3f), 0);
    eqx_leaves_free(l1, n1);
    eqx_leaves_free(l2, n2);
    eqx_treedef_free(t1);
    eqx_treedef_free(t2);
    eqx_tree_free(gv);
    eqx_tree_free(gh);
    eqx_vmapped_free(d.vloss);
    eqx_array_free(d.X);
    eqx_array_free(d.Y);
    eqx_tree_free(mlp);
    eqx_ctx_free(ctx);
}

/* mse + layer norm under vmap with grad, against the per-example loop's gradients */
typedef struct reg_data {
    eqx_array *X, *T;
    eqx_vmapped *v;
} reg_data;

static eqx_status reg_example(eqx_ctx *ctx, const eqx_tree *args, void *user, eqx_tree **out) {
    (void)user;
    eqx_array *y, *l;
    EQX_TRY(eqx_module_call(ctx, eqx_tree_child(args, 0), eqx_tree_array(eqx_tree_child(args, 1)),
                            NULL, &y));
    EQX_TRY(eqx_mse(ctx, y, eqx_tree_array(eqx_tree_child(args, 2)), &l));
    return eqx_leaf_array(l, out);
}

static eqx_status reg_vmapped(eqx_ctx *ctx, const eqx_tree *model, void *user, eqx_array **loss) {
    const reg_data *d = user;
    eqx_tree *kids[3] = {(eqx_tree *)model, NULL, NULL}, *args = NULL, *res = NULL;
    eqx_status s = eqx_leaf_array(d->X, &kids[1]);
    if (!s) s = eqx_leaf_array(d->T, &kids[2]);
    if (!s) s = eqx_tuple_new(3, kids, &args);
    if (!s) s = eqx_vmapped_call(ctx, d->v, args, &res);
    if (!s) s = eqx_mean(ctx, eqx_tree_array(res), 0, NULL, loss);
    eqx_tree_free(kids[1]);
    eqx_tree_free(kids[2]);
    eqx_tree_free(args);
    eqx_tree_free(res);
    return s;
}

static void test_grad_of_vmap_layer_norm_mse(void) {
    enum { B = 5, IN = 4 };
    int64_t ls[1] = {IN}, xs[2] = {B, IN}, ts[2] = {B, 2};
    eqx_tree *ln, *lin, *seq, *kids[2];
    OK(eqx_layer_norm_new(1, ls, 1e-5f, true, &ln));
    OK(eqx_linear_new(IN, 2, true, eqx_prng_key(8), &lin));
    kids[0] = ln;
    kids[1] = lin;
    OK(eqx_sequential_new(2, kids, &seq));
    reg_data d = {rand_arr(2, xs, 61), rand_arr(2, ts, 62), NULL};
    int axes[3] = {EQX_UNMAPPED, 0, 0};
    OK(eqx_vmap(reg_example, NULL, 3, axes, 0, &d.v));
    CU_ASSERT_EQUAL(fd_check(reg_vmapped, seq, &d, 1e-3f, 2e-2f, 2e-3f), 0);
    eqx_vmapped_free(d.v);
    eqx_array_free(d.X);
    eqx_array_free(d.T);
    eqx_tree_free(seq);
    eqx_tree_free(ln);
    eqx_tree_free(lin);
}

/* ------------------------------------------------------------ vmap of grad */

typedef struct xy {
    const eqx_array *x, *y;
} xy;

static eqx_status one_example_loss(eqx_ctx *ctx, const eqx_tree *model, void *user,
                                   eqx_array **loss) {
    const xy *d = user;
    eqx_array *logits;
    EQX_TRY(eqx_module_call(ctx, model, d->x, NULL, &logits));
    return eqx_cross_entropy(ctx, logits, d->y, loss);
}

/* args = (x, y), user = the model: (gradients, loss) of one example */
static eqx_status example_grads(eqx_ctx *ctx, const eqx_tree *args, void *user, eqx_tree **out) {
    xy d = {eqx_tree_array(eqx_tree_child(args, 0)), eqx_tree_array(eqx_tree_child(args, 1))};
    eqx_array *loss;
    eqx_tree *g, *k[2] = {NULL, NULL};
    EQX_TRY(eqx_filter_value_and_grad_array(ctx, one_example_loss, user, &d, &loss, &g));
    k[0] = g;
    eqx_status s = eqx_leaf_array(loss, &k[1]);
    if (!s) s = eqx_tuple_new(2, k, out);
    eqx_tree_free(k[0]);
    eqx_tree_free(k[1]);
    return s;
}

static void test_vmap_of_grad_per_example(void) {
    enum { B = 6, IN = 4, C = 3 };
    eqx_tree *mlp;
    OK(eqx_mlp_new(IN, C, 5, 1, "tanh", eqx_tanh, eqx_prng_key(12), &mlp));
    int64_t xs[2] = {B, IN}, ys[1] = {B};
    int32_t lab[B];
    for (int i = 0; i < B; i++) lab[i] = (i * 2) % C;
    eqx_array *X = rand_arr(2, xs, 71), *Y;
    OK(eqx_array_from_i32(1, ys, lab, &Y));
    eqx_ctx *ctx;
    OK(eqx_ctx_new(&ctx));
    eqx_vmapped *vf;
    int axes[2] = {0, 0};
    OK(eqx_vmap(example_grads, mlp, 2, axes, 0, &vf));
    eqx_tree *lx = leaf(eqx_array_retain(X)), *ly = leaf(eqx_array_retain(Y)), *args = tup2(lx, ly),
             *res;
    OK(eqx_vmapped_call(ctx, vf, args, &res));
    eqx_treedef *td;
    eqx_tree **gl;
    int ng;
    OK(eqx_tree_flatten(eqx_tree_child(res, 0), &td, &gl, &ng));
    const float *losses = eqx_tree_array(eqx_tree_child(res, 1))->data;
    double worst = 0;
    int compared = 0;
    for (int i = 0; i < B; i++) {
        int64_t one[1] = {IN};
        eqx_array *xi, *yi;
        OK(eqx_array_from_f32(1, one, (float *)X->data + i * IN, &xi));
        OK(eqx_array_from_i32(0, NULL, &lab[i], &yi));
        xy d = {xi, yi};
        float v;
        eqx_tree *gi;
        eqx_ctx *c2;
        OK(eqx_ctx_new(&c2));
        OK(eqx_filter_value_and_grad(c2, one_example_loss, mlp, &d, &v, &gi));
        CU_ASSERT_DOUBLE_EQUAL(losses[i], v, 1e-6);
        eqx_treedef *t2;
        eqx_tree **l2;
        int n2;
        OK(eqx_tree_flatten(gi, &t2, &l2, &n2));
        CU_ASSERT_EQUAL_FATAL(n2, ng);
        for (int k = 0; k < ng; k++) {
            eqx_array *batched = eqx_tree_array(gl[k]), *single = eqx_tree_array(l2[k]);
            CU_ASSERT_EQUAL(batched == NULL, single == NULL);
            if (!batched || !single) continue;
            CU_ASSERT_EQUAL_FATAL(batched->shape[0], B); /* the example axis leads */
            worst = fmax(worst, max_diff((float *)batched->data + i * single->size, single->data,
                                         single->size));
            compared++;
        }
        eqx_leaves_free(l2, n2);
        eqx_treedef_free(t2);
        eqx_tree_free(gi);
        eqx_ctx_free(c2);
        eqx_array_free(xi);
        eqx_array_free(yi);
    }
    printf("\n    %d per-example gradient slices, max |vmap(grad) - grad one by one| = %.3g\n",
           compared, worst);
    CU_ASSERT_EQUAL(compared, B * 4);
    CU_ASSERT_TRUE(worst < 1e-6);
    eqx_leaves_free(gl, ng);
    eqx_treedef_free(td);
    eqx_tree_free(res);
    eqx_tree_free(args);
    eqx_tree_free(lx);
    eqx_tree_free(ly);
    eqx_vmapped_free(vf);
    eqx_array_free(X);
    eqx_array_free(Y);
    eqx_ctx_free(ctx);
    eqx_tree_free(mlp);
}

/* ------------------------------------------------------------ errors */

static eqx_status noop_shape(const eqx_array *const *in, const eqx_opparams *p, eqx_dtype *dt,
                             int *nd, int64_t *sh) {
    (void)p;
    *dt = in[0]->dtype;
    *nd = in[0]->ndim;
    memcpy(sh, in[0]->shape, sizeof(int64_t) * (size_t)in[0]->ndim);
    return EQX_OK;
}
static eqx_status noop_fwd(const eqx_array *const *in, const eqx_opparams *p, eqx_array *out) {
    (void)p;
    memcpy(out->data, in[0]->data, (size_t)out->size * 4);
    return EQX_OK;
}
/* an op defined without a batching rule */
static const eqx_op ruleless_op = {"my_ruleless_op", 1, noop_shape, noop_fwd, NULL, false, false,
                                   NULL, false};

static eqx_status uses_ruleless(eqx_ctx *ctx, const eqx_tree *args, void *user, eqx_tree **out) {
    (void)user;
    const eqx_array *in[1] = {eqx_tree_array(eqx_tree_child(args, 0))};
    static const eqx_opparams p;
    eqx_array *y;
    EQX_TRY(eqx__apply(ctx, &ruleless_op, 1, in, &p, &y));
    return eqx_leaf_array(y, out);
}


static void test_errors(void) {
    eqx_ctx *ctx;
    OK(eqx_ctx_new(&ctx));
    int64_t s3[2] = {3, 2}, s4[2] = {4, 2};
    eqx_array *a = rand_arr(2, s3, 1), *b = rand_arr(2, s4, 2);
    eqx_tree *la = leaf(eqx_array_retain(a)), *lb = leaf(eqx_array_retain(b)), *res = (eqx_tree *)1;
    eqx_tree *one = tup2(la, la), *two = tup2(la, lb);
    eqx_vmapped *vf;
    int ax1[1] = {0};
    eqx_tree *single;
    OK(eqx_tuple_new(1, &la, &single));
    /* missing batching rule: the op's name, verbatim */
    OK(eqx_vmap(uses_ruleless, NULL, 1, ax1, 0, &vf));
    FAILS_WITH(eqx_vmapped_call(ctx, vf, single, &res), EQX_ERR_UNSUPPORTED);
    MSG_HAS("batching rule for 'my_ruleless_op' not implemented");
    CU_ASSERT_PTR_NULL(res);
    /* the same op outside vmap works */
    eqx_tree *r0;
    OK(uses_ruleless(ctx, single, NULL, &r0));
    eqx_tree_free(r0);
    eqx_vmapped_free(vf);
    /* inconsistent batch sizes name both leaves */
    int ax2[2] = {0, 0};
    OK(eqx_vmap(pair_fn, NULL, 2, ax2, 0, &vf));
    FAILS_WITH(eqx_vmapped_call(ctx, vf, two, &res), EQX_ERR_SHAPE);
    MSG_HAS("inconsistent sizes");
    MSG_HAS("args[0]");
    MSG_HAS("args[1]");
    printf("\n    message: %s\n", eqx_errmsg());
    /* wrong number of arguments */
    FAILS_WITH(eqx_vmapped_call(ctx, vf, single, &res), EQX_ERR_ARG);
    MSG_HAS("one entry per argument");
    eqx_vmapped_free(vf);
    /* an axis that does not exist */
    int ax3[2] = {2, EQX_UNMAPPED};
    OK(eqx_vmap(pair_fn, NULL, 2, ax3, 0, &vf));
    FAILS_WITH(eqx_vmapped_call(ctx, vf, one, &res), EQX_ERR_ARG);
    MSG_HAS("in_axes[0]=2");
    eqx_vmapped_free(vf);
    /* nothing mapped */
    int ax4[2] = {EQX_UNMAPPED, EQX_UNMAPPED};
    OK(eqx_vmap(pair_fn, NULL, 2, ax4, 0, &vf));
    FAILS_WITH(eqx_vmapped_call(ctx, vf, one, &res), EQX_ERR_ARG);
    MSG_HAS("at least one non-None value in in_axes");
    eqx_vmapped_free(vf);
    /* a per-example shape error inside vmap shows per-example shapes */
    eqx_tree *lin;
    OK(eqx_linear_new(5, 2, true, eqx_prng_key(0), &lin));
    eqx_vmapped *vm;
    OK(eqx_vmap_module(lin, 0, 0, &vm));
    eqx_array *y = NULL;
    FAILS_WITH(eqx_vmapped_call_array(ctx, vm, a, &y), EQX_ERR_SHAPE);
    MSG_HAS("expects input of shape (5,), got (2,)");
    eqx_vmapped_free(vm);
    CU_ASSERT_EQUAL(ctx->vmap_depth, 0);
    eqx_tree_free(lin);
    eqx_tree_free(single);
    eqx_tree_free(one);
    eqx_tree_free(two);
    eqx_tree_free(la);
    eqx_tree_free(lb);
    eqx_array_free(a);
    eqx_array_free(b);
    eqx_ctx_free(ctx);
}

/* An unbatched result is broadcast along out_axes; EQX_UNMAPPED accepts only that. */
static eqx_status constant_fn(eqx_ctx *ctx, const eqx_tree *args, void *user, eqx_tree **out) {
    (void)args;
    (void)user;
    eqx_array *c;
    EQX_TRY(eqx_scalar(ctx, 2.5f, &c));
    return eqx_leaf_array(c, out);
}

static eqx_status tanh_fn(eqx_ctx *ctx, const eqx_tree *args, void *user, eqx_tree **out) {
    (void)user;
    eqx_array *y;
    EQX_TRY(eqx_tanh(ctx, eqx_tree_array(eqx_tree_child(args, 0)), &y));
    return eqx_leaf_array(y, out);
}

static void test_out_axes_broadcast(void) {
    eqx_ctx *ctx;
    OK(eqx_ctx_new(&ctx));
    int64_t s[1] = {4};
    eqx_tree *la = leaf(rand_arr(1, s, 3)), *args, *res;
    OK(eqx_tuple_new(1, &la, &args));
    int ax[1] = {0};
    eqx_vmapped *vf;
    OK(eqx_vmap(constant_fn, NULL, 1, ax, 0, &vf));
    OK(eqx_vmapped_call(ctx, vf, args, &res));
    eqx_array *r = eqx_tree_array(res);
    CU_ASSERT_EQUAL(r->ndim, 1);
    CU_ASSERT_EQUAL(r->shape[0], 4);
    for (int i = 0; i < 4; i++) CU_ASSERT_DOUBLE_EQUAL(((float *)r->data)[i], 2.5, 0);
    eqx_tree_free(res);
    eqx_vmapped_free(vf);
    OK(eqx_vmap(constant_fn, NULL, 1, ax, EQX_UNMAPPED, &vf));
    OK(eqx_vmapped_call(ctx, vf, args, &res));
    CU_ASSERT_EQUAL(eqx_tree_array(res)->ndim, 0);
    eqx_tree_free(res);
    eqx_vmapped_free(vf);
    OK(eqx_vmap(tanh_fn, NULL, 1, ax, EQX_UNMAPPED, &vf)); /* a batched result */
    FAILS_WITH(eqx_vmapped_call(ctx, vf, args, &res), EQX_ERR_SHAPE);
    MSG_HAS("EQX_UNMAPPED");
    eqx_vmapped_free(vf);
    eqx_tree_free(args);
    eqx_tree_free(la);
    eqx_ctx_free(ctx);
}

static const test_case cases[] = {
    {"vmapped linear is one GEMM", test_linear_one_gemm},
    {"vmapped MLP is one GEMM per layer", test_mlp_one_gemm_per_layer},
    {"in_axes/out_axes, module as unmapped argument", test_in_out_axes_and_module_argument},
    {"a batch of modules (mapped module)", test_mapped_module},
    {"nested vmap", test_nested_vmap},
    {"batching rules vs per-example loop", test_op_rules_against_loop},
    {"matrix @ batch of matrices is one GEMM", test_matmul_batched_right_operand},
    {"grad of vmap == hand-batched gradients", test_grad_of_vmap_matches_hand_batched},
    {"grad of vmap through LayerNorm and MSE (finite differences)", test_grad_of_vmap_layer_norm_mse},
    {"vmap of grad: per-example gradients", test_vmap_of_grad_per_example},
    {"errors: missing rule, sizes, axes", test_errors},
    {"out_axes broadcast and EQX_UNMAPPED", test_out_axes_broadcast},
    {NULL, NULL}};

int main(void) { return run_suite("runtime_vmap", cases); }
