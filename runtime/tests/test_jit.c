/* eqx_filter_jit / eqx_jit: one trace per key, replays equal to eager runs, no heap
 * allocation per replayed step (counting allocator), static leaves compared by value,
 * plain jit's "not a valid JAX type", a whole training step (value-and-grad of a vmapped
 * loss + Adam + apply) as one program, output buffers that survive being held. */
#include "test_util.h"

#include "eqx_internal.h"

static eqx_array *rand_arr(int ndim, const int64_t *shape, unsigned seed) {
    eqx_array *a;
    OK(eqx_array_new(EQX_F32, ndim, shape, &a));
    fill(a->data, a->size, seed, -1, 1);
    return a;
}

static eqx_tree *tupn(int n, eqx_tree **kids) {
    eqx_tree *t;
    OK(eqx_tuple_new(n, kids, &t));
    return t;
}

/* ------------------------------------------------------------ counting allocator */

typedef struct counting {
    long events, live;
} counting;
static counting g_count;
static void *c_malloc(size_t n, void *ud) {
    counting *c = ud;
    c->events++;
    void *p = malloc(n);
    if (p) c->live++;
    return p;
}
static void *c_realloc(void *p, size_t n, void *ud) {
    counting *c = ud;
    c->events++;
    void *q = realloc(p, n);
    if (q && !p) c->live++;
    return q;
}
static void c_free(void *p, void *ud) {
    counting *c = ud;
    if (p) c->live--;
    free(p);
}
static void count_on(void) {
    memset(&g_count, 0, sizeof g_count);
    eqx_allocator a = {c_malloc, c_realloc, c_free, &g_count};
    eqx_set_allocator(&a);
}

/* ------------------------------------------------------------ a model call */

/* f(model, x) = model(x) with an MLP: fn leaf (activation) static, arrays traced */
static int g_calls;
static eqx_status apply_fn(eqx_ctx *ctx, const eqx_tree *args, void *user, eqx_tree **out) {
    (void)user;
    g_calls++;
    eqx_array *y;
    EQX_TRY(eqx_module_call(ctx, eqx_tree_child(args, 0), eqx_tree_array(eqx_tree_child(args, 1)),
                            NULL, &y));
    return eqx_leaf_array(y, out);
}

static void test_trace_once_replay_equals_eager(void) {
    eqx_tree *mlp;
    OK(eqx_mlp_new(4, 3, 8, 2, "tanh", eqx_tanh, eqx_prng_key(1), &mlp));
    eqx_jitted *jf;
    OK(eqx_filter_jit(apply_fn, NULL, &jf));
    eqx_ctx *ctx;
    OK(eqx_ctx_new(&ctx));
    int64_t xs[1] = {4};
    g_calls = 0;
    for (int step = 0; step < 5; step++) {
        eqx_array *x = rand_arr(1, xs, (unsigned)step + 1);
        eqx_tree *kids[2] = {mlp, leaf(x)}, *args = tupn(2, kids), *out, *ref;
        OK(eqx_jitted_call(ctx, jf, args, &out));
        OK(apply_fn(ctx, args, NULL, &ref)); /* eager, for comparison */
        const float *a = eqx_tree_array(out)->data, *b = eqx_tree_array(ref)->data;
        for (int i = 0; i < 3; i++) CU_ASSERT_DOUBLE_EQUAL(a[i], b[i], 1e-6);
        eqx_tree_free(out);
        eqx_tree_free(ref);
        eqx_tree_free(args);
        eqx_tree_free(kids[1]);
        eqx_ctx_reset(ctx);
    }
    CU_ASSERT_EQUAL(eqx_jitted_trace_count(jf), 1);
    CU_ASSERT_EQUAL(g_calls, 1 + 5); /* one trace, then only the eager comparisons */
    eqx_jitted_free(jf);
    eqx_ctx_free(ctx);
    eqx_tree_free(mlp);
}

/* A different array shape or dtype is a new key; a different static leaf value too, but an
 * equal value in a new object is not. */
static void test_static_leaves_by_value(void) {
    eqx_tree *m1, *m2, *m3;
    OK(eqx_mlp_new(4, 3, 8, 1, "tanh", eqx_tanh, eqx_prng_key(1), &m1));
    OK(eqx_mlp_new(4, 3, 8, 1, "tanh", eqx_tanh, eqx_prng_key(2), &m2)); /* new objects */
    OK(eqx_mlp_new(4, 3, 8, 1, "relu", eqx_relu, eqx_prng_key(1), &m3)); /* other function */
    eqx_jitted *jf;
    OK(eqx_filter_jit(apply_fn, NULL, &jf));
    eqx_ctx *ctx;
    OK(eqx_ctx_new(&ctx));
    int64_t xs[1] = {4};
    eqx_tree *x = leaf(rand_arr(1, xs, 3)), *out;
    eqx_tree *k1[2] = {m1, x}, *a1 = tupn(2, k1);
    eqx_tree *k2[2] = {m2, x}, *a2 = tupn(2, k2);
    eqx_tree *k3[2] = {m3, x}, *a3 = tupn(2, k3);
    OK(eqx_jitted_call(ctx, jf, a1, &out));
    eqx_tree_free(out);
    OK(eqx_jitted_call(ctx, jf, a2, &out));
    eqx_tree_free(out);
    CU_ASSERT_EQUAL(eqx_jitted_trace_count(jf), 1);
    OK(eqx_jitted_call(ctx, jf, a3, &out)); /* relu != tanh: re-trace */
    /* and the relu program really uses relu */
    eqx_array *ref;
    OK(eqx_module_call(ctx, m3, eqx_tree_array(x), NULL, &ref));
    for (int i = 0; i < 3; i++)
        CU_ASSERT_DOUBLE_EQUAL(((float *)eqx_tree_array(out)->data)[i], ((float *)ref->data)[i], 1e-6);
    eqx_tree_free(out);
    CU_ASSERT_EQUAL(eqx_jitted_trace_count(jf), 2);
    OK(eqx_jitted_call(ctx, jf, a1, &out)); /* tanh again: cached */
    eqx_tree_free(out);
    CU_ASSERT_EQUAL(eqx_jitted_trace_count(jf), 2);
    /* a scalar and a string leaf in the arguments */
    eqx_tree *sc1, *sc2, *sc3, *st1, *st2;
    OK(eqx_leaf_scalar(1.0, &sc1));
    OK(eqx_leaf_scalar(1.0, &sc2));
    OK(eqx_leaf_scalar(2.0, &sc3));
    OK(eqx_leaf_string("adam", &st1));
    OK(eqx_leaf_string("sgd", &st2));
    eqx_tree *k4[4] = {m1, x, sc1, st1}, *a4 = tupn(4, k4);
    eqx_tree *k5[4] = {m1, x, sc2, st1}, *a5 = tupn(4, k5);
    eqx_tree *k6[4] = {m1, x, sc3, st1}, *a6 = tupn(4, k6);
    eqx_tree *k7[4] = {m1, x, sc2, st2}, *a7 = tupn(4, k7);
    int base = eqx_jitted_trace_count(jf);
    OK(eqx_jitted_call(ctx, jf, a4, &out));
    eqx_tree_free(out);
    OK(eqx_jitted_call(ctx, jf, a5, &out)); /* 1.0 == 1.0 */
    eqx_tree_free(out);
    CU_ASSERT_EQUAL(eqx_jitted_trace_count(jf), base + 1);
    OK(eqx_jitted_call(ctx, jf, a6, &out)); /* 2.0 */
    eqx_tree_free(out);
    CU_ASSERT_EQUAL(eqx_jitted_trace_count(jf), base + 2);
    OK(eqx_jitted_call(ctx, jf, a7, &out)); /* "sgd" */
    eqx_tree_free(out);
    CU_ASSERT_EQUAL(eqx_jitted_trace_count(jf), base + 3);
    /* a new shape re-traces */
    int64_t xs5[1] = {5};
    eqx_tree *lin5, *x5 = leaf(rand_arr(1, xs5, 4));
    OK(eqx_linear_new(5, 2, true, eqx_prng_key(0), &lin5));
    eqx_tree *k8[2] = {lin5, x5}, *a8 = tupn(2, k8);
    OK(eqx_jitted_call(ctx, jf, a8, &out));
    eqx_tree_free(out);
    CU_ASSERT_EQUAL(eqx_jitted_trace_count(jf), base + 4);
    eqx_tree *all[] = {a1, a2, a3, a4, a5, a6, a7, a8, sc1, sc2, sc3, st1, st2, x, x5, lin5,
                       m1, m2, m3};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) eqx_tree_free(all[i]);
    eqx_jitted_free(jf);
    eqx_ctx_free(ctx);
}

static void test_plain_jit_rejects_non_arrays(void) {
    eqx_tree *mlp;
    OK(eqx_mlp_new(4, 3, 8, 1, "relu", eqx_relu, eqx_prng_key(1), &mlp));
    eqx_jitted *jf;
    OK(eqx_jit(apply_fn, NULL, &jf));
    eqx_ctx *ctx;
    OK(eqx_ctx_new(&ctx));
    int64_t xs[1] = {4};
    eqx_tree *x = leaf(rand_arr(1, xs, 3)), *kids[2] = {mlp, x}, *args = tupn(2, kids),
             *out = (eqx_tree *)1;
    FAILS_WITH(eqx_jitted_call(ctx, jf, args, &out), EQX_ERR_NOT_ARRAY);
    MSG_HAS("args[0].activation");
    MSG_HAS("function");
    MSG_HAS("'relu'");
    MSG_HAS("not a valid JAX type");
    MSG_HAS("eqx_filter_jit");
    CU_ASSERT_PTR_NULL(out);
    printf("\n    message: %s\n", eqx_errmsg());
    CU_ASSERT_EQUAL(eqx_jitted_trace_count(jf), 0);
    /* an all-array tree (a Linear: its sizes are static fields, not leaves) is fine */
    eqx_tree *lin;
    OK(eqx_linear_new(4, 2, true, eqx_prng_key(2), &lin));
    eqx_tree *k2[2] = {lin, x}, *a2 = tupn(2, k2);
    OK(eqx_jitted_call(ctx, jf, a2, &out));
    CU_ASSERT_EQUAL(eqx_tree_array(out)->shape[0], 2);
    eqx_tree_free(out);
    CU_ASSERT_EQUAL(eqx_jitted_trace_count(jf), 1);
    eqx_tree_free(a2);
    eqx_tree_free(lin);
    eqx_tree_free(args);
    eqx_tree_free(x);
    eqx_tree_free(mlp);
    eqx_jitted_free(jf);
    eqx_ctx_free(ctx);
}

/* ------------------------------------------------------------ a whole training step */

enum { B = 16, IN = 6, HID = 10, C = 4 };

typedef struct step_cfg {
    eqx_optimizer *opt;
    eqx_vmapped *vloss;
    int traced_calls;
} step_cfg;

static eqx_status example_loss(eqx_ctx *ctx, const eqx_tree *args, void *user, eqx_tree **out) {
    (void)user;
    eqx_array *logits, *l;
    EQX_TRY(eqx_module_call(ctx, eqx_tree_child(args, 0), eqx_tree_array(eqx_tree_child(args, 1)),
                            NULL, &logits));
    EQX_TRY(eqx_cross_entropy(ctx, logits, eqx_tree_array(eqx_tree_child(args, 2)), &l));
    return eqx_leaf_array(l, out);
}

typedef struct batch_ref {
    const step_cfg *cfg;
    eqx_array *x, *y;
} batch_ref;

static eqx_status batch_loss(eqx_ctx *ctx, const eqx_tree *model, void *user, eqx_array **loss) {
    const batch_ref *b = user;
    eqx_tree *kids[3] = {(eqx_tree *)model, NULL, NULL}, *args = NULL, *res = NULL;
    eqx_status s = eqx_leaf_array(b->x, &kids[1]);
    if (!s) s = eqx_leaf_array(b->y, &kids[2]);
    if (!s) s = eqx_tuple_new(3, kids, &args);
    if (!s) s = eqx_vmapped_call(ctx, b->cfg->vloss, args, &res);
    if (!s) s = eqx_mean(ctx, eqx_tree_array(res), 0, NULL, loss);
    eqx_tree_free(kids[1]);
    eqx_tree_free(kids[2]);
    eqx_tree_free(args);
    eqx_tree_free(res);
    return s;
}

/* args = (model, opt_state, x, y) -> (model', opt_state', loss) */
static eqx_status train_step(eqx_ctx *ctx, const eqx_tree *args, void *user, eqx_tree **out) {
    step_cfg *cfg = user;
    cfg->traced_calls++;
    const eqx_tree *model = eqx_tree_child(args, 0), *state = eqx_tree_child(args, 1);
    batch_ref b = {cfg, eqx_tree_array(eqx_tree_child(args, 2)), eqx_tree_array(eqx_tree_child(args, 3))};
    eqx_array *loss;
    eqx_tree *grads = NULL, *upd = NULL, *ns = NULL, *nm = NULL, *kids[3] = {NULL};
    eqx_status s = eqx_filter_value_and_grad_array(ctx, batch_loss, model, &b, &loss, &grads);
    if (!s) s = eqx_opt_update(cfg->opt, grads, state, model, &upd, &ns);
    if (!s) s = eqx_apply_updates(model, upd, &nm);
    if (!s) s = eqx_leaf_array(loss, &kids[2]);
    kids[0] = nm;
    kids[1] = ns;
    if (!s) s = eqx_tuple_new(3, kids, out);
    eqx_tree_free(grads);
    eqx_tree_free(upd);
    eqx_tree_free(ns);
    eqx_tree_free(nm);
    eqx_tree_free(kids[2]);
    return s;
}

typedef struct setup {
    step_cfg cfg;
    eqx_tree *model, *state, *x, *y;
} setup;

static void setup_new(setup *su) {
    memset(su, 0, sizeof *su);
    OK(eqx_mlp_new(IN, C, HID, 1, "relu", eqx_relu, eqx_prng_key(9), &su->model));
    OK(eqx_adam_new(1e-2f, 0.9f, 0.999f, 1e-8f, &su->cfg.opt));
    eqx_tree *params;
    OK(eqx_filter(su->model, eqx_is_array, &params));
    OK(eqx_opt_init(su->cfg.opt, params, &su->state));
    eqx_tree_free(params);
    int axes[3] = {EQX_UNMAPPED, 0, 0};
    OK(eqx_vmap(example_loss, NULL, 3, axes, 0, &su->cfg.vloss));
    int64_t xs[2] = {B, IN}, ys[1] = {B};
    int32_t lab[B];
    for (int i = 0; i < B; i++) lab[i] = (i * 3) % C;
    eqx_array *ya;
    OK(eqx_array_from_i32(1, ys, lab, &ya));
    su->x = leaf(rand_arr(2, xs, 77));
    su->y = leaf(ya);
}

static void setup_free(setup *su) {
    eqx_tree_free(su->model);
    eqx_tree_free(su->state);
    eqx_tree_free(su->x);
    eqx_tree_free(su->y);
    eqx_optimizer_free(su->cfg.opt);
    eqx_vmapped_free(su->cfg.vloss);
}

/* One step through the (jitted or eager) function; model/state advance in place. */
static float do_step(eqx_ctx *ctx, eqx_jitted *jf, setup *su, eqx_tree *args) {
    OK(eqx_tree_set_child(args, 0, su->model));
    OK(eqx_tree_set_child(args, 1, su->state));
    eqx_tree *out;
    if (jf) {
        OK(eqx_jitted_call(ctx, jf, args, &out));
    } else {
        OK(train_step(ctx, args, &su->cfg, &out));
    }
    eqx_tree_free(su->model);
    eqx_tree_free(su->state);
    su->model = eqx_tree_retain(eqx_tree_child(out, 0));
    su->state = eqx_tree_retain(eqx_tree_child(out, 1));
    float loss = eqx_array_f32(eqx_tree_array(eqx_tree_child(out, 2)))[0];
    eqx_tree_free(out);
    /* the args tuple must not keep last step's model: release it until the next call */
    OK(eqx_tree_set_child(args, 0, NULL));
    OK(eqx_tree_set_child(args, 1, NULL));
    if (!jf) eqx_ctx_reset(ctx);
    return loss;
}

static void test_training_step_jitted_equals_eager(void) {
    enum { STEPS = 12 };
    setup je, ea;
    setup_new(&je);
    setup_new(&ea);
    eqx_ctx *ctx;
    OK(eqx_ctx_new(&ctx));
    eqx_jitted *jf;
    OK(eqx_filter_jit(train_step, &je.cfg, &jf));
    eqx_tree *k1[4] = {je.model, je.state, je.x, je.y}, *a1 = tupn(4, k1);
    eqx_tree *k2[4] = {ea.model, ea.state, ea.x, ea.y}, *a2 = tupn(4, k2);
    float lj[STEPS], le[STEPS];
    for (int s = 0; s < STEPS; s++) {
        lj[s] = do_step(ctx, jf, &je, a1);
        le[s] = do_step(ctx, NULL, &ea, a2);
    }
    CU_ASSERT_EQUAL(eqx_jitted_trace_count(jf), 1);
    CU_ASSERT_EQUAL(je.cfg.traced_calls, 1);
    for (int s = 0; s < STEPS; s++) CU_ASSERT_DOUBLE_EQUAL(lj[s], le[s], 1e-6);
    CU_ASSERT_TRUE(lj[STEPS - 1] < lj[0]); /* it trains */
    printf("\n    loss %.4f -> %.4f (jit) / %.4f -> %.4f (eager)\n", (double)lj[0],
           (double)lj[STEPS - 1], (double)le[0], (double)le[STEPS - 1]);
    /* parameters and optimiser state agree leaf by leaf */
    eqx_tree *pj[2] = {je.model, je.state}, *pe[2] = {ea.model, ea.state};
    for (int t = 0; t < 2; t++) {
        eqx_treedef *t1, *t2;
        eqx_tree **l1, **l2;
        int n1, n2;
        OK(eqx_tree_flatten(pj[t], &t1, &l1, &n1));
        OK(eqx_tree_flatten(pe[t], &t2, &l2, &n2));
        CU_ASSERT_TRUE(eqx_treedef_equal(t1, t2));
        for (int i = 0; i < n1 && i < n2; i++) {
            eqx_array *a = eqx_tree_array(l1[i]), *b = eqx_tree_array(l2[i]);
            if (!a || !b) continue;
            CU_ASSERT_EQUAL(a->dtype, b->dtype);
            for (int64_t k = 0; k < a->size; k++) {
                if (a->dtype == EQX_I32) {
                    CU_ASSERT_EQUAL(((int32_t *)a->data)[k], ((int32_t *)b->data)[k]);
                } else {
                    CU_ASSERT_DOUBLE_EQUAL(((float *)a->data)[k], ((float *)b->data)[k], 1e-6);
                }
            }
        }
        eqx_leaves_free(l1, n1);
        eqx_leaves_free(l2, n2);
        eqx_treedef_free(t1);
        eqx_treedef_free(t2);
    }
    CU_ASSERT_EQUAL(((int32_t *)eqx_tree_array(eqx_tree_field(je.state, "count"))->data)[0], STEPS);
    eqx_tree_free(a1);
    eqx_tree_free(a2);
    eqx_jitted_free(jf);
    setup_free(&je);
    setup_free(&ea);
    eqx_ctx_free(ctx);
}

static void test_replay_allocates_nothing(void) {
    count_on();
    setup su;
    setup_new(&su);
    eqx_ctx *ctx;
    OK(eqx_ctx_new(&ctx));
    eqx_jitted *jf;
    OK(eqx_filter_jit(train_step, &su.cfg, &jf));
    eqx_tree *kids[4] = {su.model, su.state, su.x, su.y}, *args = tupn(4, kids);
    do_step(ctx, jf, &su, args); /* trace */
    do_step(ctx, jf, &su, args);
    long before = g_count.events;
    enum { N = 20 };
    float first = 0, last = 0;
    for (int i = 0; i < N; i++) {
        float l = do_step(ctx, jf, &su, args);
        if (i == 0) first = l;
        last = l;
    }
    long per_step = g_count.events - before;
    printf("\n    %d replayed training steps: %ld heap allocations (trace: 1, loss %.4f -> %.4f)\n",
           N, per_step, (double)first, (double)last);
    CU_ASSERT_EQUAL(per_step, 0);
    CU_ASSERT_EQUAL(eqx_jitted_trace_count(jf), 1);
    CU_ASSERT_TRUE(last < first);
    eqx_tree_free(args);
    eqx_jitted_free(jf);
    setup_free(&su);
    eqx_ctx_free(ctx);
    eqx_set_allocator(NULL);
    CU_ASSERT_EQUAL(g_count.live, 0);
}

/* Results the caller keeps are never overwritten by later calls. */
static void test_held_outputs_survive(void) {
    eqx_tree *lin;
    OK(eqx_linear_new(3, 2, true, eqx_prng_key(4), &lin));
    eqx_jitted *jf;
    OK(eqx_filter_jit(apply_fn, NULL, &jf));
    eqx_ctx *ctx;
    OK(eqx_ctx_new(&ctx));
    int64_t xs[1] = {3};
    eqx_tree *outs[5];
    float want[5][2];
    for (int i = 0; i < 5; i++) {
        eqx_tree *x = leaf(rand_arr(1, xs, 100 + (unsigned)i)), *kids[2] = {lin, x},
                 *args = tupn(2, kids);
        OK(eqx_jitted_call(ctx, jf, args, &outs[i]));
        eqx_array *ref;
        OK(eqx_module_call(ctx, lin, eqx_tree_array(x), NULL, &ref));
        memcpy(want[i], ref->data, sizeof want[i]);
        eqx_tree_free(args);
        eqx_tree_free(x);
    }
    for (int i = 0; i < 5; i++) {
        const float *got = eqx_tree_array(outs[i])->data;
        CU_ASSERT_DOUBLE_EQUAL(got[0], want[i][0], 1e-6);
        CU_ASSERT_DOUBLE_EQUAL(got[1], want[i][1], 1e-6);
        eqx_tree_free(outs[i]);
    }
    CU_ASSERT_EQUAL(eqx_jitted_trace_count(jf), 1);
    eqx_jitted_free(jf);
    eqx_ctx_free(ctx);
    eqx_tree_free(lin);
}

/* Replays check what the trace checked: the structure (one node, one place) and data that
 * shape rules validate (class labels). */
static eqx_status ce_fn(eqx_ctx *ctx, const eqx_tree *args, void *user, eqx_tree **out) {
    (void)user;
    eqx_array *l;
    EQX_TRY(eqx_cross_entropy(ctx, eqx_tree_array(eqx_tree_child(args, 0)),
                              eqx_tree_array(eqx_tree_child(args, 1)), &l));
    return eqx_leaf_array(l, out);
}

/* args = ((logits, labels), anything): only the first part is computed with */
static eqx_status ce_nested_fn(eqx_ctx *ctx, const eqx_tree *args, void *user, eqx_tree **out) {
    return ce_fn(ctx, eqx_tree_child(args, 0), user, out);
}

static void test_replay_checks(void) {
    eqx_ctx *ctx;
    OK(eqx_ctx_new(&ctx));
    eqx_jitted *jf;
    OK(eqx_filter_jit(ce_fn, NULL, &jf));
    int64_t ls[2] = {2, 3}, ys[1] = {2};
    int32_t good[2] = {0, 2}, bad[2] = {0, 3};
    eqx_array *yg, *yb;
    OK(eqx_array_from_i32(1, ys, good, &yg));
    OK(eqx_array_from_i32(1, ys, bad, &yb));
    eqx_tree *lg = leaf(rand_arr(2, ls, 5)), *yl = leaf(yg), *bl = leaf(yb);
    eqx_tree *k1[2] = {lg, yl}, *a1 = tupn(2, k1), *k2[2] = {lg, bl}, *a2 = tupn(2, k2), *out;
    OK(eqx_jitted_call(ctx, jf, a1, &out));
    eqx_tree_free(out);
    out = (eqx_tree *)1;
    FAILS_WITH(eqx_jitted_call(ctx, jf, a2, &out), EQX_ERR_ARG);
    MSG_HAS("label 3");
    CU_ASSERT_PTR_NULL(out);
    CU_ASSERT_EQUAL(eqx_jitted_trace_count(jf), 1);
    eqx_jitted_free(jf);
    /* two Linears traced as two; the same Linear twice matches the key but is refused */
    eqx_tree *l1, *l2;
    OK(eqx_linear_new(3, 3, true, eqx_prng_key(1), &l1));
    OK(eqx_linear_new(3, 3, true, eqx_prng_key(2), &l2));
    eqx_tree *p1[2] = {l1, l2}, *pair1 = tupn(2, p1), *p2[2] = {l1, l1}, *pair2 = tupn(2, p2);
    eqx_tree *w1[2] = {a1, pair1}, *wrap1 = tupn(2, w1), *w2[2] = {a1, pair2}, *wrap2 = tupn(2, w2);
    OK(eqx_filter_jit(ce_nested_fn, NULL, &jf));
    OK(eqx_jitted_call(ctx, jf, wrap1, &out));
    eqx_tree_free(out);
    FAILS_WITH(eqx_jitted_call(ctx, jf, wrap2, &out), EQX_ERR_DUPLICATE);
    MSG_HAS("eqx_shared");
    CU_ASSERT_EQUAL(eqx_jitted_trace_count(jf), 1);
    eqx_tree *all[] = {a1, a2, wrap1, wrap2, pair1, pair2, l1, l2, lg, yl, bl};
    for (size_t i = 0; i < sizeof all / sizeof *all; i++) eqx_tree_free(all[i]);
    eqx_jitted_free(jf);
    eqx_ctx_free(ctx);
}

/* Inside another transform a jitted function is inlined (no trace of its own). */
static eqx_status jit_inside(eqx_ctx *ctx, const eqx_tree *args, void *user, eqx_tree **out) {
    return eqx_jitted_call(ctx, user, args, out);
}

static void test_jit_inside_vmap_inlines(void) {
    eqx_tree *lin;
    OK(eqx_linear_new(3, 2, true, eqx_prng_key(4), &lin));
    eqx_jitted *jf;
    OK(eqx_filter_jit(apply_fn, NULL, &jf));
    eqx_vmapped *vf;
    int axes[2] = {EQX_UNMAPPED, 0};
    OK(eqx_vmap(jit_inside, jf, 2, axes, 0, &vf));
    eqx_ctx *ctx;
    OK(eqx_ctx_new(&ctx));
    int64_t xs[2] = {5, 3};
    eqx_tree *x = leaf(rand_arr(2, xs, 8)), *kids[2] = {lin, x}, *args = tupn(2, kids), *out;
    long g0 = eqx_debug_gemm_calls();
    OK(eqx_vmapped_call(ctx, vf, args, &out));
    CU_ASSERT_EQUAL(eqx_debug_gemm_calls() - g0, 1);
    CU_ASSERT_EQUAL(eqx_tree_array(out)->shape[0], 5);
    CU_ASSERT_EQUAL(eqx_jitted_trace_count(jf), 0);
    eqx_tree_free(out);
    eqx_tree_free(args);
    eqx_tree_free(x);
    eqx_vmapped_free(vf);
    eqx_jitted_free(jf);
    eqx_ctx_free(ctx);
    eqx_tree_free(lin);
}

static const test_case cases[] = {
    {"trace once, replays equal eager", test_trace_once_replay_equals_eager},
    {"static leaves compared by value; shapes re-trace", test_static_leaves_by_value},
    {"eqx_jit rejects non-array leaves", test_plain_jit_rejects_non_arrays},
    {"whole training step jitted == eager", test_training_step_jitted_equals_eager},
    {"replayed training step allocates nothing", test_replay_allocates_nothing},
    {"held outputs are never overwritten", test_held_outputs_survive},
    {"replays check labels and duplicates", test_replay_checks},
    {"jit inside vmap is inlined", test_jit_inside_vmap_inlines},
    {NULL, NULL}};

int main(void) { return run_suite("runtime_jit", cases); }
