/* The allocator hook: a counting allocator proves a full workflow frees everything it
 * allocates, and a failing allocator makes each allocation of that workflow fail in turn
 * (one run per allocation) to prove every failure returns EQX_ERR_NOMEM, leaks nothing
 * and crashes nowhere. */
#include "test_util.h"

#include <unistd.h>

typedef struct counting {
    long live, events, fail_at; /* fail_at: 1-based allocation event to fail, 0 = never */
    long failed;
} counting;

static counting g_count;

static void *c_malloc(size_t n, void *ud) {
    counting *c = ud;
    if (++c->events == c->fail_at) { c->failed++; return NULL; }
    void *p = malloc(n);
    if (p) c->live++;
    return p;
}

static void *c_realloc(void *p, size_t n, void *ud) {
    counting *c = ud;
    if (++c->events == c->fail_at) { c->failed++; return NULL; }
    void *q = realloc(p, n);
    if (q && !p) c->live++;
    return q;
}

static void c_free(void *p, void *ud) {
    counting *c = ud;
    if (p) c->live--;
    free(p);
}

static void install(long fail_at) {
    memset(&g_count, 0, sizeof g_count);
    g_count.fail_at = fail_at;
    eqx_allocator a = {c_malloc, c_realloc, c_free, &g_count};
    eqx_set_allocator(&a);
}

typedef struct data2 {
    eqx_array *x[2], *y[2];
} data2;

static eqx_status loss2(eqx_ctx *ctx, const eqx_tree *model, void *user, eqx_array **loss) {
    const data2 *d = user;
    eqx_array *p0, *p1, *l0, *l1, *t;
    eqx_tree *pair;
    EQX_TRY(eqx_shared_get(model, &pair));
    eqx_status s = eqx_module_call(ctx, eqx_tree_child(pair, 0), d->x[0], NULL, &p0);
    if (!s) s = eqx_module_call(ctx, eqx_tree_child(pair, 1), d->x[1], NULL, &p1);
    eqx_tree_free(pair);
    EQX_TRY(s);
    EQX_TRY(eqx_mse(ctx, p0, d->y[0], &l0));
    EQX_TRY(eqx_mse(ctx, p1, d->y[1], &l1));
    EQX_TRY(eqx_add(ctx, l0, l1, &t));
    return eqx_mul_scalar(ctx, t, 0.5f, loss);
}

/* A complete small workflow; frees everything on every path. */
static eqx_status scenario(const char *path) {
    eqx_status s;
    data2 d = {{NULL, NULL}, {NULL, NULL}};
    eqx_tree *m1 = NULL, *m2 = NULL, *pair = NULL, *model = NULL, *params = NULL, *state = NULL,
             *grads = NULL, *upd = NULL, *ns = NULL, *nm = NULL, *yes = NULL, *no = NULL,
             *back = NULL, *at = NULL, *loaded = NULL, *ln = NULL, *drop = NULL, *seq = NULL,
             *inf = NULL, *kids[2];
    eqx_optimizer *opt = NULL;
    eqx_ctx *ctx = NULL;
    int64_t one[1] = {1}, three[1] = {3};
    float xv[3] = {0.5f, -0.25f, 1.0f};
    float loss;
    eqx_array *y;
    eqx_key key = eqx_prng_key(3);
    if ((s = eqx_array_from_f32(1, one, &xv[0], &d.x[0]))) goto done;
    if ((s = eqx_array_from_f32(1, one, &xv[1], &d.x[1]))) goto done;
    if ((s = eqx_array_from_f32(1, one, &xv[2], &d.y[0]))) goto done;
    if ((s = eqx_array_from_f32(1, one, &xv[0], &d.y[1]))) goto done;
    if ((s = eqx_mlp_new(1, 1, 3, 1, "tanh", eqx_tanh, eqx_prng_key(1), &m1))) goto done;
    if ((s = eqx_mlp_new(1, 1, 3, 1, "tanh", eqx_tanh, eqx_prng_key(2), &m2))) goto done;
    kids[0] = m1;
    kids[1] = m2;
    if ((s = eqx_tuple_new(2, kids, &pair))) goto done;
    if ((s = eqx_shared_new(pair, "[1].layers[0].weight", "[0].layers[0].weight", &model))) goto done;
    if ((s = eqx_filter(model, eqx_is_array, &params))) goto done;
    if ((s = eqx_adamw_new(1e-2f, 0.9f, 0.999f, 1e-8f, 1e-4f, &opt))) goto done;
    if ((s = eqx_opt_init(opt, params, &state))) goto done;
    if ((s = eqx_ctx_new(&ctx))) goto done;
    if ((s = eqx_filter_value_and_grad(ctx, loss2, model, &d, &loss, &grads))) goto done;
    if ((s = eqx_opt_update(opt, grads, state, model, &upd, &ns))) goto done;
    if ((s = eqx_apply_updates(model, upd, &nm))) goto done;
    if ((s = eqx_partition(nm, eqx_is_inexact_array, &yes, &no))) goto done;
    if ((s = eqx_combine(yes, no, &back))) goto done;
    if ((s = eqx_tree_at(back, ".pytree[0].activation", eqx_none(), &at))) goto done;
    if ((s = eqx_tree_serialise_leaves(path, back))) goto done;
    if ((s = eqx_tree_deserialise_leaves(path, model, &loaded))) goto done;
    if ((s = eqx_layer_norm_new(1, three, 1e-5f, true, &ln))) goto done;
    if ((s = eqx_dropout_new(0.5f, false, &drop))) goto done;
    kids[0] = ln;
    kids[1] = drop;
    if ((s = eqx_sequential_new(2, kids, &seq))) goto done;
    eqx_array *x3;
    if ((s = eqx_random_normal(key, 1, three, &x3))) goto done;
    s = eqx_module_call(ctx, seq, x3, &key, &y);
    eqx_array_free(x3);
    if (s) goto done;
    if ((s = eqx_nn_inference_mode(seq, true, &inf))) goto done;
done:
    eqx_ctx_free(ctx);
    eqx_optimizer_free(opt);
    eqx_tree *all[] = {m1, m2, pair, model, params, state, grads, upd, ns, nm, yes, no,
                       back, at, loaded, ln, drop, seq, inf};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) eqx_tree_free(all[i]);
    for (int i = 0; i < 2; i++) {
        eqx_array_free(d.x[i]);
        eqx_array_free(d.y[i]);
    }
    remove(path);
    return s;
}

/* ---- the transforms: a vmapped loss under grad, and a jitted training step traced,
 * replayed, re-traced for a new shape, with outputs held across calls */

static eqx_status ex_loss(eqx_ctx *ctx, const eqx_tree *args, void *user, eqx_tree **out) {
    (void)user;
    eqx_array *y, *l;
    EQX_TRY(eqx_module_call(ctx, eqx_tree_child(args, 0), eqx_tree_array(eqx_tree_child(args, 1)),
                            NULL, &y));
    EQX_TRY(eqx_mse(ctx, y, eqx_tree_array(eqx_tree_child(args, 2)), &l));
    return eqx_leaf_array(l, out);
}

typedef struct tcfg {
    eqx_vmapped *v;
    eqx_optimizer *opt;
    const eqx_tree *x, *y;
} tcfg;

static eqx_status vloss(eqx_ctx *ctx, const eqx_tree *model, void *user, eqx_array **loss) {
    const tcfg *c = user;
    eqx_tree *kids[3] = {(eqx_tree *)model, (eqx_tree *)c->x, (eqx_tree *)c->y}, *args, *r = NULL;
    EQX_TRY(eqx_tuple_new(3, kids, &args));
    eqx_status s = eqx_vmapped_call(ctx, c->v, args, &r);
    eqx_tree_free(args);
    if (!s) s = eqx_mean(ctx, eqx_tree_array(r), 0, NULL, loss);
    eqx_tree_free(r);
    return s;
}

/* args = (model, state, x, y) -> (model', state', loss) */
static eqx_status tstep(eqx_ctx *ctx, const eqx_tree *args, void *user, eqx_tree **out) {
    tcfg c = *(const tcfg *)user;
    c.x = eqx_tree_child(args, 2);
    c.y = eqx_tree_child(args, 3);
    const eqx_tree *model = eqx_tree_child(args, 0);
    eqx_array *loss;
    eqx_tree *g = NULL, *u = NULL, *k[3] = {NULL};
    eqx_status s = eqx_filter_value_and_grad_array(ctx, vloss, model, &c, &loss, &g);
    if (!s) s = eqx_opt_update(c.opt, g, eqx_tree_child(args, 1), model, &u, &k[1]);
    if (!s) s = eqx_apply_updates(model, u, &k[0]);
    if (!s) s = eqx_leaf_array(loss, &k[2]);
    if (!s) s = eqx_tuple_new(3, k, out);
    for (int i = 0; i < 3; i++) eqx_tree_free(k[i]);
    eqx_tree_free(g);
    eqx_tree_free(u);
    return s;
}

static eqx_status scenario_transforms(const char *unused) {
    (void)unused;
    eqx_status s;
    eqx_tree *mlp = NULL, *params = NULL, *state = NULL, *x4 = NULL, *y4 = NULL, *x6 = NULL,
             *y6 = NULL, *args = NULL, *grads = NULL, *held[3] = {NULL, NULL, NULL};
    eqx_array *a = NULL;
    eqx_jitted *jf = NULL;
    eqx_ctx *ctx = NULL;
    tcfg c = {NULL, NULL, NULL, NULL};
    int64_t s4[2] = {4, 2}, t4[2] = {4, 1}, s6[2] = {6, 2}, t6[2] = {6, 1};
    float loss;
    if ((s = eqx_mlp_new(2, 1, 3, 1, "tanh", eqx_tanh, eqx_prng_key(5), &mlp))) goto done;
    if ((s = eqx_adam_new(1e-2f, 0.9f, 0.999f, 1e-8f, &c.opt))) goto done;
    if ((s = eqx_filter(mlp, eqx_is_array, &params))) goto done;
    if ((s = eqx_opt_init(c.opt, params, &state))) goto done;
    if ((s = eqx_vmap(ex_loss, NULL, 3, (int[]){EQX_UNMAPPED, 0, 0}, 0, &c.v))) goto done;
    eqx_tree **leaves[4] = {&x4, &y4, &x6, &y6};
    const int64_t *shapes[4] = {s4, t4, s6, t6};
    for (int i = 0; i < 4; i++) {
        if ((s = eqx_random_normal(eqx_prng_key((unsigned)i), 2, shapes[i], &a))) goto done;
        s = eqx_leaf_array(a, leaves[i]);
        eqx_array_free(a);
        if (s) goto done;
    }
    if ((s = eqx_ctx_new(&ctx))) goto done;
    c.x = x4;
    c.y = y4;
    if ((s = eqx_filter_value_and_grad(ctx, vloss, mlp, &c, &loss, &grads))) goto done;
    eqx_ctx_reset(ctx);
    if ((s = eqx_filter_jit(tstep, &c, &jf))) goto done;
    eqx_tree *kids[4] = {mlp, state, x4, y4};
    if ((s = eqx_tuple_new(4, kids, &args))) goto done;
    for (int i = 0; i < 3; i++) /* trace, replay, replay with two results still held */
        if ((s = eqx_jitted_call(ctx, jf, args, &held[i]))) goto done;
    if ((s = eqx_tree_set_child(args, 2, x6)) || (s = eqx_tree_set_child(args, 3, y6))) goto done;
    eqx_tree_free(held[0]);
    held[0] = NULL;
    if ((s = eqx_jitted_call(ctx, jf, args, &held[0]))) goto done; /* new shape: re-trace */
done:
    for (int i = 0; i < 3; i++) eqx_tree_free(held[i]);
    eqx_jitted_free(jf);
    eqx_ctx_free(ctx);
    eqx_vmapped_free(c.v);
    eqx_optimizer_free(c.opt);
    eqx_tree *all[] = {mlp, params, state, x4, y4, x6, y6, args, grads};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) eqx_tree_free(all[i]);
    return s;
}

static char g_path[256];

typedef eqx_status (*scenario_fn)(const char *path);

static void counting_no_leaks(scenario_fn sc) {
    install(0);
    eqx_status s = sc(g_path);
    eqx_set_allocator(NULL);
    if (s) fprintf(stderr, "scenario: %s\n", eqx_errmsg());
    CU_ASSERT_EQUAL(s, EQX_OK);
    CU_ASSERT_TRUE(g_count.events > 100);
    CU_ASSERT_EQUAL(g_count.live, 0);
    printf("\n    %ld allocations, %ld live at the end\n", g_count.events, g_count.live);
}

static void every_allocation_may_fail(scenario_fn sc) {
    install(0);
    CU_ASSERT_EQUAL_FATAL(sc(g_path), EQX_OK);
    long total = g_count.events;
    eqx_set_allocator(NULL);
    /* EQX_ALLOC_STRIDE > 1 samples every n-th allocation (for slow valgrind runs) */
    const char *st = getenv("EQX_ALLOC_STRIDE");
    long stride = st ? atol(st) : 1;
    if (stride < 1) stride = 1;
    long wrong = 0, leaky = 0;
    for (long k = 1; k <= total; k += stride) {
        install(k);
        eqx_status s = sc(g_path);
        eqx_set_allocator(NULL);
        if (g_count.failed != 1) continue; /* fewer allocations on this path: nothing failed */
        if (s != EQX_ERR_NOMEM) {
            if (wrong++ < 5)
                fprintf(stderr, "  allocation %ld failed but status was %s: %s\n", k,
                        eqx_status_name(s), eqx_errmsg());
        }
        if (g_count.live != 0) {
            if (leaky++ < 5) fprintf(stderr, "  allocation %ld failed: %ld blocks leaked\n", k,
                                     g_count.live);
        }
    }
    CU_ASSERT_EQUAL(wrong, 0);
    CU_ASSERT_EQUAL(leaky, 0);
    printf("\n    failed each of %ld allocations in turn\n", total);
}

static void test_counting_no_leaks(void) { counting_no_leaks(scenario); }
static void test_every_allocation_may_fail(void) { every_allocation_may_fail(scenario); }
static void test_transforms_no_leaks(void) { counting_no_leaks(scenario_transforms); }
static void test_transforms_every_allocation_may_fail(void) {
    every_allocation_may_fail(scenario_transforms);
}

static const test_case cases[] = {
    {"full workflow frees everything", test_counting_no_leaks},
    {"any allocation failure returns EQX_ERR_NOMEM, no leak", test_every_allocation_may_fail},
    {"vmap + jit workflow frees everything", test_transforms_no_leaks},
    {"vmap + jit: any allocation failure returns EQX_ERR_NOMEM, no leak",
     test_transforms_every_allocation_may_fail},
    {NULL, NULL}};

int main(void) {
    const char *tmp = getenv("TMPDIR");
    snprintf(g_path, sizeof g_path, "%s/eqx_test_alloc_%ld.eqx", tmp ? tmp : "/tmp", (long)getpid());
    return run_suite("runtime_alloc", cases);
}
