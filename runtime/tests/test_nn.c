/* Layers: Linear, MLP, Sequential, LayerNorm, Dropout, Shared, user-defined modules;
 * gradients through layers against finite differences; the batched-call error. */
#include "test_util.h"

static eqx_array *vec_n(int n, unsigned seed) {
    int64_t s[1] = {n};
    eqx_array *a;
    OK(eqx_array_new(EQX_F32, 1, s, &a));
    fill(a->data, n, seed, -1, 1);
    return a;
}

static void test_linear(void) {
    eqx_tree *lin;
    OK(eqx_linear_new(3, 2, true, eqx_prng_key(1), &lin));
    eqx_array *W = eqx_tree_array(eqx_tree_field(lin, "weight"));
    eqx_array *b = eqx_tree_array(eqx_tree_field(lin, "bias"));
    CU_ASSERT_EQUAL(W->shape[0], 2);
    CU_ASSERT_EQUAL(W->shape[1], 3);
    float lim = 1.0f / sqrtf(3.0f);
    for (int i = 0; i < 6; i++) CU_ASSERT_TRUE(fabsf(((float *)W->data)[i]) <= lim);
    eqx_ctx *ctx;
    OK(eqx_ctx_new(&ctx));
    eqx_array *x = vec_n(3, 5), *y;
    OK(eqx_module_call(ctx, lin, x, NULL, &y));
    CU_ASSERT_EQUAL(y->ndim, 1);
    CU_ASSERT_EQUAL(y->shape[0], 2);
    for (int o = 0; o < 2; o++) {
        double ref = ((float *)b->data)[o];
        for (int i = 0; i < 3; i++)
            ref += (double)((float *)W->data)[o * 3 + i] * ((float *)x->data)[i];
        CU_ASSERT_DOUBLE_EQUAL(((float *)y->data)[o], ref, 1e-5);
    }
    /* static fields are not leaves: weight and bias only */
    eqx_treedef *td;
    eqx_tree **l;
    int n;
    OK(eqx_tree_flatten(lin, &td, &l, &n));
    CU_ASSERT_EQUAL(n, 2);
    eqx_leaves_free(l, n);
    eqx_treedef_free(td);
    eqx_array_free(x);
    eqx_ctx_free(ctx);
    eqx_tree_free(lin);
}

static void test_batched_call_error(void) {
    eqx_tree *mlp;
    OK(eqx_mlp_new(3, 2, 8, 2, "relu", eqx_relu, eqx_prng_key(2), &mlp));
    eqx_ctx *ctx;
    OK(eqx_ctx_new(&ctx));
    int64_t s[2] = {16, 3};
    eqx_array *xb, *y = (eqx_array *)1;
    OK(eqx_array_new(EQX_F32, 2, s, &xb));
    FAILS_WITH(eqx_module_call(ctx, mlp, xb, NULL, &y), EQX_ERR_BATCHED);
    MSG_HAS("model.layers[0]");
    MSG_HAS("(3,)");
    MSG_HAS("(16, 3)");
    MSG_HAS("eqx_vmap");
    CU_ASSERT_PTR_NULL(y);
    printf("\n    message: %s\n", eqx_errmsg());
    int64_t s2[1] = {4};
    eqx_array *bad;
    OK(eqx_array_new(EQX_F32, 1, s2, &bad));
    FAILS_WITH(eqx_module_call(ctx, mlp, bad, NULL, &y), EQX_ERR_SHAPE);
    /* LayerNorm: a batch of its normalised shape is also refused */
    int64_t ls[1] = {3};
    eqx_tree *ln;
    OK(eqx_layer_norm_new(1, ls, 1e-5f, true, &ln));
    FAILS_WITH(eqx_module_call(ctx, ln, xb, NULL, &y), EQX_ERR_BATCHED);
    MSG_HAS("eqx_vmap");
    eqx_tree_free(ln);
    eqx_array_free(bad);
    eqx_array_free(xb);
    eqx_ctx_free(ctx);
    eqx_tree_free(mlp);
}

static void test_mlp_structure(void) {
    eqx_tree *mlp;
    OK(eqx_mlp_new(2, 1, 4, 2, "gelu", eqx_gelu, eqx_prng_key(3), &mlp));
    CU_ASSERT_EQUAL(eqx_tree_nchildren(eqx_tree_field(mlp, "layers")), 3);
    eqx_tree *act = eqx_tree_field(mlp, "activation");
    CU_ASSERT_EQUAL(eqx_tree_kind(act), EQX_LEAF_FN);
    CU_ASSERT_STRING_EQUAL(eqx_tree_string(act), "gelu");
    CU_ASSERT_PTR_EQUAL(eqx_tree_fn(act), eqx_gelu);
    eqx_tree *arrays;
    OK(eqx_filter(mlp, eqx_is_array, &arrays));
    CU_ASSERT_EQUAL(eqx_tree_kind(eqx_tree_field(arrays, "activation")), EQX_NONE);
    /* a filtered model cannot be called: the message says to combine */
    eqx_ctx *ctx;
    OK(eqx_ctx_new(&ctx));
    eqx_array *x = vec_n(2, 1), *y;
    FAILS_WITH(eqx_module_call(ctx, arrays, x, NULL, &y), EQX_ERR_TYPE);
    MSG_HAS("eqx_combine");
    eqx_array_free(x);
    eqx_ctx_free(ctx);
    eqx_tree_free(arrays);
    eqx_tree_free(mlp);
}

typedef struct xy {
    eqx_array *x, *y;
    eqx_key key;
    bool use_key;
} xy;

static eqx_status model_loss(eqx_ctx *ctx, const eqx_tree *model, void *user, eqx_array **loss) {
    const xy *d = user;
    eqx_array *p;
    EQX_TRY(eqx_module_call(ctx, model, d->x, d->use_key ? &d->key : NULL, &p));
    return eqx_mse(ctx, p, d->y, loss);
}

static void test_mlp_and_layer_norm_grads(void) {
    eqx_tree *mlp, *ln, *mlp2, *seq;
    OK(eqx_mlp_new(3, 4, 5, 1, "tanh", eqx_tanh, eqx_prng_key(4), &mlp));
    int64_t ls[1] = {4};
    OK(eqx_layer_norm_new(1, ls, 1e-5f, true, &ln));
    /* perturb LayerNorm's affine parameters so their gradients are non-trivial */
    fill(eqx_tree_array(eqx_tree_field(ln, "weight"))->data, 4, 9, 0.5f, 1.5f);
    fill(eqx_tree_array(eqx_tree_field(ln, "bias"))->data, 4, 10, -0.5f, 0.5f);
    OK(eqx_mlp_new(4, 2, 3, 1, "gelu", eqx_gelu, eqx_prng_key(5), &mlp2));
    eqx_tree *layers[3] = {mlp, ln, mlp2};
    OK(eqx_sequential_new(3, layers, &seq));
    xy d = {vec_n(3, 11), vec_n(2, 12), {{0, 0}}, false};
    CU_ASSERT_EQUAL(fd_check(model_loss, seq, &d, 1e-2f, 3e-2f, 2e-3f), 0);
    /* LayerNorm output has zero mean and unit variance before the affine part */
    eqx_tree *ln0;
    int64_t s6[1] = {6};
    OK(eqx_layer_norm_new(1, s6, 1e-6f, false, &ln0));
    eqx_ctx *ctx;
    OK(eqx_ctx_new(&ctx));
    eqx_array *x = vec_n(6, 3), *y;
    OK(eqx_module_call(ctx, ln0, x, NULL, &y));
    double m = 0, v = 0;
    for (int i = 0; i < 6; i++) m += ((float *)y->data)[i];
    for (int i = 0; i < 6; i++) v += pow(((float *)y->data)[i] - m / 6, 2);
    CU_ASSERT_DOUBLE_EQUAL(m / 6, 0, 1e-5);
    CU_ASSERT_DOUBLE_EQUAL(v / 6, 1, 1e-3);
    eqx_array_free(x);
    eqx_ctx_free(ctx);
    eqx_tree_free(ln0);
    eqx_array_free(d.x);
    eqx_array_free(d.y);
    eqx_tree_free(seq);
    eqx_tree_free(mlp);
    eqx_tree_free(ln);
    eqx_tree_free(mlp2);
}

static void test_dropout(void) {
    eqx_tree *lin, *drop, *seq;
    OK(eqx_linear_new(4, 400, true, eqx_prng_key(6), &lin));
    OK(eqx_dropout_new(0.25f, false, &drop));
    eqx_tree *layers[2] = {lin, drop};
    OK(eqx_sequential_new(2, layers, &seq));
    eqx_ctx *ctx;
    OK(eqx_ctx_new(&ctx));
    eqx_array *x = vec_n(4, 7), *y, *ref;
    eqx_key key = eqx_prng_key(42);
    FAILS_WITH(eqx_module_call(ctx, seq, x, NULL, &y), EQX_ERR_KEY);
    MSG_HAS("model.layers[1]");
    MSG_HAS("eqx_nn_inference_mode");
    OK(eqx_module_call(ctx, lin, x, NULL, &ref));
    OK(eqx_module_call(ctx, seq, x, &key, &y));
    int zeros = 0;
    for (int i = 0; i < 400; i++) {
        float r = ((float *)ref->data)[i], v = ((float *)y->data)[i];
        if (v == 0.0f) zeros++;
        else CU_ASSERT_DOUBLE_EQUAL(v, r / 0.75f, 1e-5);
    }
    CU_ASSERT_TRUE(zeros > 60 && zeros < 140); /* ~100 expected */
    /* same key, same mask */
    eqx_array *y2;
    OK(eqx_module_call(ctx, seq, x, &key, &y2));
    CU_ASSERT_EQUAL(memcmp(y->data, y2->data, 400 * 4), 0);
    /* inference mode: identity, no key needed */
    eqx_tree *inf;
    OK(eqx_nn_inference_mode(seq, true, &inf));
    OK(eqx_module_call(ctx, inf, x, NULL, &y));
    CU_ASSERT_EQUAL(memcmp(y->data, ref->data, 400 * 4), 0);
    /* the original is unchanged */
    FAILS_WITH(eqx_module_call(ctx, seq, x, NULL, &y), EQX_ERR_KEY);
    eqx_tree_free(inf);
    eqx_array_free(x);
    eqx_ctx_free(ctx);
    eqx_tree_free(seq);
    eqx_tree_free(lin);
    eqx_tree_free(drop);
}

/* ------------------------------------------------------------ Shared (tied weights) */

typedef struct tied_data {
    eqx_array *x, *y;
} tied_data;

/* encoder (3->3), then decoder whose weight is tied to the encoder's */
static eqx_status tied_loss(eqx_ctx *ctx, const eqx_tree *model, void *user, eqx_array **loss) {
    const tied_data *d = user;
    eqx_tree *pair;
    EQX_TRY(eqx_shared_get(model, &pair));
    eqx_array *h, *o;
    eqx_status s = eqx_module_call(ctx, eqx_tree_child(pair, 0), d->x, NULL, &h);
    if (!s) s = eqx_tanh(ctx, h, &h);
    if (!s) s = eqx_module_call(ctx, eqx_tree_child(pair, 1), h, NULL, &o);
    if (!s) s = eqx_mse(ctx, o, d->y, loss);
    eqx_tree_free(pair);
    return s;
}

/* the same computation with the two weights as separate leaves */
static eqx_status untied_loss(eqx_ctx *ctx, const eqx_tree *pair, void *user, eqx_array **loss) {
    const tied_data *d = user;
    eqx_array *h, *o;
    EQX_TRY(eqx_module_call(ctx, eqx_tree_child(pair, 0), d->x, NULL, &h));
    EQX_TRY(eqx_tanh(ctx, h, &h));
    EQX_TRY(eqx_module_call(ctx, eqx_tree_child(pair, 1), h, NULL, &o));
    return eqx_mse(ctx, o, d->y, loss);
}

static void test_shared(void) {
    eqx_tree *enc, *dec, *pair, *shared;
    OK(eqx_linear_new(3, 3, true, eqx_prng_key(7), &enc));
    OK(eqx_linear_new(3, 3, true, eqx_prng_key(8), &dec));
    eqx_tree *k[2] = {enc, dec};
    OK(eqx_tuple_new(2, k, &pair));
    /* tying by putting the same module twice is the bug eqx_tree_check reports */
    eqx_tree *k2[2] = {enc, enc}, *bad;
    OK(eqx_tuple_new(2, k2, &bad));
    FAILS_WITH(eqx_tree_check(bad), EQX_ERR_DUPLICATE);
    MSG_HAS("eqx_shared");
    eqx_tree_free(bad);

    OK(eqx_shared_new(pair, "[1].weight", "[0].weight", &shared));
    /* stored once: the decoder's weight slot holds none */
    eqx_treedef *td;
    eqx_tree **l;
    int n;
    OK(eqx_tree_flatten(shared, &td, &l, &n));
    CU_ASSERT_EQUAL(n, 4); /* enc.weight, enc.bias, none, dec.bias */
    CU_ASSERT_EQUAL(eqx_tree_kind(l[2]), EQX_NONE);
    eqx_leaves_free(l, n);
    eqx_treedef_free(td);

    tied_data d = {vec_n(3, 21), vec_n(3, 22)};
    eqx_ctx *ctx;
    OK(eqx_ctx_new(&ctx));
    float v1, v2;
    eqx_tree *g, *gu, *untied;
    OK(eqx_filter_value_and_grad(ctx, tied_loss, shared, &d, &v1, &g));
    /* reference: untie (both weights = encoder weight) and add the two gradients */
    OK(eqx_shared_get(shared, &untied));
    CU_ASSERT_PTR_EQUAL(eqx_tree_array(eqx_tree_field(eqx_tree_child(untied, 1), "weight")),
                        eqx_tree_array(eqx_tree_field(enc, "weight")));
    eqx_tree *copy, *w1;
    eqx_array *wc;
    OK(eqx_array_copy(eqx_tree_array(eqx_tree_field(enc, "weight")), &wc));
    w1 = leaf(wc);
    OK(eqx_tree_at(untied, "[1].weight", w1, &copy)); /* two distinct leaves */
    OK(eqx_filter_value_and_grad(ctx, untied_loss, copy, &d, &v2, &gu));
    CU_ASSERT_DOUBLE_EQUAL(v1, v2, 1e-6);
    const float *gs = eqx_tree_array(eqx_tree_field(eqx_tree_child(eqx_tree_field(g, "pytree"), 0), "weight"))->data;
    const float *ga = eqx_tree_array(eqx_tree_field(eqx_tree_child(gu, 0), "weight"))->data;
    const float *gb = eqx_tree_array(eqx_tree_field(eqx_tree_child(gu, 1), "weight"))->data;
    for (int i = 0; i < 9; i++) CU_ASSERT_DOUBLE_EQUAL(gs[i], ga[i] + gb[i], 1e-5);
    CU_ASSERT_EQUAL(eqx_tree_kind(eqx_tree_field(eqx_tree_child(eqx_tree_field(g, "pytree"), 1), "weight")), EQX_NONE);
    /* and the summed gradient agrees with finite differences on the shared model */
    CU_ASSERT_EQUAL(fd_check(tied_loss, shared, &d, 1e-2f, 3e-2f, 2e-3f), 0);
    /* shapes of tied arrays must agree */
    eqx_tree *wide, *k3[2], *pair2, *sh2 = (eqx_tree *)1;
    OK(eqx_linear_new(3, 5, true, eqx_prng_key(9), &wide));
    k3[0] = enc;
    k3[1] = wide;
    OK(eqx_tuple_new(2, k3, &pair2));
    FAILS_WITH(eqx_shared_new(pair2, "[1].weight", "[0].weight", &sh2), EQX_ERR_SHAPE);
    CU_ASSERT_PTR_NULL(sh2);
    eqx_tree_free(pair2);
    eqx_tree_free(wide);
    eqx_tree_free(w1);
    eqx_tree_free(copy);
    eqx_tree_free(untied);
    eqx_tree_free(g);
    eqx_tree_free(gu);
    eqx_ctx_free(ctx);
    eqx_array_free(d.x);
    eqx_array_free(d.y);
    eqx_tree_free(shared);
    eqx_tree_free(pair);
    eqx_tree_free(enc);
    eqx_tree_free(dec);
}

/* ------------------------------------------------------------ a user-defined module */

/* y = scale * (W x) + running_mean, where running_mean is a buffer (stop_gradient, as the
 * FAQ recommends) and scale is a static hyperparameter. */
enum { UM_W, UM_BUF, UM_SCALE, UM_NF };
static const eqx_field um_fields[UM_NF] = {{"weight", false}, {"running_mean", false}, {"scale", true}};

static eqx_status um_call(eqx_ctx *ctx, const eqx_tree *self, const eqx_array *x,
                          const eqx_key *key, eqx_array **out) {
    (void)key;
    eqx_array *h, *buf;
    EQX_TRY(eqx_matmul(ctx, eqx_tree_array(eqx_tree_child(self, UM_W)), x, &h));
    EQX_TRY(eqx_mul_scalar(ctx, h, (float)eqx_tree_scalar(eqx_tree_child(self, UM_SCALE)), &h));
    EQX_TRY(eqx_stop_gradient(ctx, eqx_tree_array(eqx_tree_child(self, UM_BUF)), &buf));
    return eqx_add(ctx, h, buf, out);
}
static const eqx_module_type um_type = {"ScaledWithBuffer", UM_NF, um_fields, um_call};

static void test_user_module(void) {
    int64_t ws[2] = {2, 3};
    eqx_array *w;
    OK(eqx_random_normal(eqx_prng_key(10), 2, ws, &w));
    eqx_tree *k[UM_NF] = {leaf(w), leaf(vec_n(2, 30)), NULL}, *m;
    OK(eqx_leaf_scalar(0.5, &k[UM_SCALE]));
    OK(eqx_module_new(&um_type, k, &m));
    xy d = {vec_n(3, 31), vec_n(2, 32), {{0, 0}}, false};
    eqx_ctx *ctx;
    OK(eqx_ctx_new(&ctx));
    float v;
    eqx_tree *g;
    OK(eqx_filter_value_and_grad(ctx, model_loss, m, &d, &v, &g));
    const float *gb = eqx_tree_array(eqx_tree_field(g, "running_mean"))->data;
    CU_ASSERT_EQUAL(gb[0], 0.0f); /* the buffer gets no gradient */
    CU_ASSERT_EQUAL(gb[1], 0.0f);
    eqx_tree_free(g);
    eqx_ctx_free(ctx);
    /* ...while the weight's (leaf 0) gradient matches finite differences */
    CU_ASSERT_EQUAL(fd_check_skip(model_loss, m, &d, 1e-2f, 2e-2f, 1e-3f, 1u << 1), 0);
    eqx_array_free(d.x);
    eqx_array_free(d.y);
    eqx_tree_free(m);
    for (int i = 0; i < UM_NF; i++) eqx_tree_free(k[i]);
}

static const test_case cases[] = {
    {"linear forward and init", test_linear},
    {"batched call says eqx_vmap", test_batched_call_error},
    {"mlp activation is a function leaf", test_mlp_structure},
    {"grads through mlp/layer_norm/sequential vs FD", test_mlp_and_layer_norm_grads},
    {"dropout needs a key unless inference", test_dropout},
    {"shared: stored once, gradients summed", test_shared},
    {"user-defined module with a buffer", test_user_module},
    {NULL, NULL}};

int main(void) { return run_suite("runtime_nn", cases); }
