/* Optimisers: optax's SGD/Adam/AdamW equations, opt_init's refusal of unfiltered models,
 * apply_updates, and a 10-step Adam loss trajectory checked two ways: against an
 * independent double-precision reference (hand-written backprop + Adam) and against the
 * recorded golden file tests/golden/adam_10_steps.txt. */
#include "test_util.h"

#ifndef EQX_GOLDEN_DIR
#define EQX_GOLDEN_DIR "."
#endif

static eqx_tree *params_of(float w0, float w1) {
    int64_t s[1] = {2};
    float d[2] = {w0, w1};
    eqx_tree *l = leaf(arr_f32(1, s, d)), *t;
    OK(eqx_tuple_new(1, &l, &t));
    eqx_tree_free(l);
    return t;
}

static const float *first(const eqx_tree *t) {
    return eqx_tree_array(eqx_tree_child(t, 0))->data;
}

static void test_opt_init_unfiltered(void) {
    eqx_tree *mlp, *state = (eqx_tree *)1;
    OK(eqx_mlp_new(2, 1, 4, 1, "tanh", eqx_tanh, eqx_prng_key(0), &mlp));
    eqx_optimizer *opt;
    OK(eqx_adam_new(1e-3f, 0.9f, 0.999f, 1e-8f, &opt));
    FAILS_WITH(eqx_opt_init(opt, mlp, &state), EQX_ERR_NOT_ARRAY);
    CU_ASSERT_PTR_NULL(state);
    MSG_HAS("model.activation");
    MSG_HAS("function leaf ('tanh')");
    MSG_HAS("eqx_filter(model, eqx_is_array)");
    printf("\n    message: %s\n", eqx_errmsg());
    /* the same model filtered is accepted */
    eqx_tree *arrays;
    OK(eqx_filter(mlp, eqx_is_array, &arrays));
    OK(eqx_opt_init(opt, arrays, &state));
    eqx_tree_free(state);
    eqx_tree_free(arrays);
    /* a string leaf deeper down is named by its path too */
    eqx_tree *s, *k[2], *lst;
    OK(eqx_leaf_string("name", &s));
    k[0] = mlp;
    k[1] = s;
    OK(eqx_list_new(2, k, &lst));
    eqx_tree *filt;
    OK(eqx_filter(lst, eqx_is_array, &filt));
    eqx_tree *bad;
    OK(eqx_tree_at(filt, "[1]", s, &bad));
    FAILS_WITH(eqx_opt_init(opt, bad, &state), EQX_ERR_NOT_ARRAY);
    MSG_HAS("model[1] is a string leaf");
    eqx_tree_free(bad);
    eqx_tree_free(filt);
    eqx_tree_free(lst);
    eqx_tree_free(s);
    eqx_optimizer_free(opt);
    eqx_tree_free(mlp);
}

static void step(const eqx_optimizer *opt, eqx_tree **params, eqx_tree **state, float g0, float g1) {
    eqx_tree *g = params_of(g0, g1), *u, *ns, *np;
    OK(eqx_opt_update(opt, g, *state, *params, &u, &ns));
    OK(eqx_apply_updates(*params, u, &np));
    eqx_tree_free(g);
    eqx_tree_free(u);
    eqx_tree_free(*state);
    eqx_tree_free(*params);
    *state = ns;
    *params = np;
}

static void test_sgd_momentum(void) {
    eqx_optimizer *opt;
    OK(eqx_sgd_new(0.1f, 0.9f, &opt));
    eqx_tree *p = params_of(1, -1), *st;
    OK(eqx_opt_init(opt, p, &st));
    step(opt, &p, &st, 1.0f, 2.0f);   /* trace = g = (1, 2) */
    CU_ASSERT_DOUBLE_EQUAL(first(p)[0], 1 - 0.1 * 1, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(first(p)[1], -1 - 0.1 * 2, 1e-6);
    step(opt, &p, &st, 0.5f, 0.0f);   /* trace = g + 0.9 * trace = (1.4, 1.8) */
    CU_ASSERT_DOUBLE_EQUAL(first(p)[0], 0.9 - 0.1 * 1.4, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(first(p)[1], -1.2 - 0.1 * 1.8, 1e-6);
    eqx_tree_free(p);
    eqx_tree_free(st);
    eqx_optimizer_free(opt);
    /* plain SGD keeps no state */
    OK(eqx_sgd_new(0.5f, 0.0f, &opt));
    p = params_of(1, 1);
    OK(eqx_opt_init(opt, p, &st));
    CU_ASSERT_EQUAL(eqx_tree_kind(eqx_tree_child(st, 0)), EQX_NONE);
    step(opt, &p, &st, 2.0f, -2.0f);
    CU_ASSERT_DOUBLE_EQUAL(first(p)[0], 0.0, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(first(p)[1], 2.0, 1e-6);
    eqx_tree_free(p);
    eqx_tree_free(st);
    eqx_optimizer_free(opt);
}

static void test_adam_equations(void) {
    const double lr = 0.01, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 0.1;
    for (int w = 0; w < 2; w++) {
        eqx_optimizer *opt;
        if (w) OK(eqx_adamw_new((float)lr, (float)b1, (float)b2, (float)eps, (float)wd, &opt));
        else OK(eqx_adam_new((float)lr, (float)b1, (float)b2, (float)eps, &opt));
        eqx_tree *p = params_of(0.5f, -2.0f), *st;
        OK(eqx_opt_init(opt, p, &st));
        double pr[2] = {0.5, -2.0}, m[2] = {0, 0}, v[2] = {0, 0};
        const float gs[3][2] = {{0.3f, -1.0f}, {0.1f, 0.5f}, {-0.2f, 0.25f}};
        for (int t = 1; t <= 3; t++) {
            step(opt, &p, &st, gs[t - 1][0], gs[t - 1][1]);
            for (int i = 0; i < 2; i++) {
                m[i] = b1 * m[i] + (1 - b1) * gs[t - 1][i];
                v[i] = b2 * v[i] + (1 - b2) * gs[t - 1][i] * gs[t - 1][i];
                double u = (m[i] / (1 - pow(b1, t))) / (sqrt(v[i] / (1 - pow(b2, t))) + eps);
                if (w) u += wd * pr[i];
                pr[i] -= lr * u;
                CU_ASSERT_DOUBLE_EQUAL(first(p)[i], pr[i], 1e-5);
            }
        }
        CU_ASSERT_EQUAL(eqx_array_i32(eqx_tree_array(eqx_tree_field(st, "count")))[0], 3);
        eqx_tree_free(p);
        eqx_tree_free(st);
        eqx_optimizer_free(opt);
    }
}

static void test_apply_updates_and_structure(void) {
    eqx_tree *mlp, *arrays, *st, *other, *grads_bad, *u = (eqx_tree *)1, *ns = (eqx_tree *)1;
    OK(eqx_mlp_new(2, 1, 3, 1, "relu", eqx_relu, eqx_prng_key(1), &mlp));
    OK(eqx_filter(mlp, eqx_is_inexact_array, &arrays));
    eqx_optimizer *opt;
    OK(eqx_sgd_new(1.0f, 0.0f, &opt));
    OK(eqx_opt_init(opt, arrays, &st));
    /* updates = -grads; use the params themselves as grads: result is all zeros */
    eqx_tree *upd, *newm;
    OK(eqx_opt_update(opt, arrays, st, NULL, &upd, &ns));
    eqx_tree_free(ns);
    OK(eqx_apply_updates(mlp, upd, &newm));
    CU_ASSERT_EQUAL(eqx_tree_kind(eqx_tree_field(newm, "activation")), EQX_LEAF_FN);
    const eqx_array *w = eqx_tree_array(eqx_tree_field(eqx_tree_child(eqx_tree_field(newm, "layers"), 0), "weight"));
    for (int64_t i = 0; i < w->size; i++) CU_ASSERT_EQUAL(((float *)w->data)[i], 0.0f);
    /* grads of another architecture do not fit the state */
    OK(eqx_mlp_new(2, 1, 5, 1, "relu", eqx_relu, eqx_prng_key(2), &other));
    OK(eqx_filter(other, eqx_is_inexact_array, &grads_bad));
    eqx_optimizer *adam;
    eqx_tree *ast;
    OK(eqx_adam_new(1e-3f, 0.9f, 0.999f, 1e-8f, &adam));
    OK(eqx_opt_init(adam, arrays, &ast));
    FAILS_WITH(eqx_opt_update(adam, grads_bad, ast, NULL, &u, &ns), EQX_ERR_STRUCTURE);
    CU_ASSERT_PTR_NULL(u);
    CU_ASSERT_PTR_NULL(ns);
    FAILS_WITH(eqx_opt_update(opt, grads_bad, ast, NULL, &u, &ns), EQX_ERR_TYPE);
    FAILS_WITH(eqx_apply_updates(mlp, grads_bad, &u), EQX_ERR_STRUCTURE);
    MSG_HAS("same tree structure");
    eqx_tree_free(ast);
    eqx_optimizer_free(adam);
    eqx_tree_free(grads_bad);
    eqx_tree_free(other);
    eqx_tree_free(newm);
    eqx_tree_free(upd);
    eqx_tree_free(st);
    eqx_optimizer_free(opt);
    eqx_tree_free(arrays);
    eqx_tree_free(mlp);
}

/* ------------------------------------------------------------ golden trajectory */

enum { NPTS = 8, WIDTH = 4, NSTEPS = 10 };

typedef struct pts {
    eqx_array *x[NPTS], *y[NPTS];
    float xv[NPTS], yv[NPTS];
} pts;

static eqx_status traj_loss(eqx_ctx *ctx, const eqx_tree *model, void *user, eqx_array **loss) {
    const pts *d = user;
    eqx_array *tot = NULL, *p, *l;
    for (int i = 0; i < NPTS; i++) {
        EQX_TRY(eqx_module_call(ctx, model, d->x[i], NULL, &p));
        EQX_TRY(eqx_mse(ctx, p, d->y[i], &l));
        if (tot) EQX_TRY(eqx_add(ctx, tot, l, &tot));
        else tot = l;
    }
    return eqx_mul_scalar(ctx, tot, 1.0f / NPTS, loss);
}

/* Independent reference: the same MLP (1 -> 4 tanh -> 1) and Adam, in double precision,
 * with hand-derived gradients. Shares nothing with the library but the initial weights. */
static void reference_trajectory(const eqx_tree *mlp, const pts *d, double *losses) {
    const eqx_tree *layers = eqx_tree_field(mlp, "layers");
    const float *W1 = eqx_tree_array(eqx_tree_field(eqx_tree_child(layers, 0), "weight"))->data;
    const float *B1 = eqx_tree_array(eqx_tree_field(eqx_tree_child(layers, 0), "bias"))->data;
    const float *W2 = eqx_tree_array(eqx_tree_field(eqx_tree_child(layers, 1), "weight"))->data;
    const float *B2 = eqx_tree_array(eqx_tree_field(eqx_tree_child(layers, 1), "bias"))->data;
    enum { NP = 3 * WIDTH + 1 };
    double p[NP], m[NP] = {0}, v[NP] = {0};
    for (int j = 0; j < WIDTH; j++) {
        p[j] = W1[j];
        p[WIDTH + j] = B1[j];
        p[2 * WIDTH + j] = W2[j];
    }
    p[3 * WIDTH] = B2[0];
    for (int t = 1; t <= NSTEPS; t++) {
        double g[NP] = {0}, loss = 0;
        for (int i = 0; i < NPTS; i++) {
            double h[WIDTH], o = p[3 * WIDTH];
            for (int j = 0; j < WIDTH; j++) {
                h[j] = tanh(p[j] * d->xv[i] + p[WIDTH + j]);
                o += p[2 * WIDTH + j] * h[j];
            }
            double e = o - d->yv[i];
            loss += e * e / NPTS;
            double go = 2 * e / NPTS;
            g[3 * WIDTH] += go;
            for (int j = 0; j < WIDTH; j++) {
                g[2 * WIDTH + j] += go * h[j];
                double gh = go * p[2 * WIDTH + j] * (1 - h[j] * h[j]);
                g[j] += gh * d->xv[i];
                g[WIDTH + j] += gh;
            }
        }
        losses[t - 1] = loss;
        for (int k = 0; k < NP; k++) {
            m[k] = 0.9 * m[k] + 0.1 * g[k];
            v[k] = 0.999 * v[k] + 0.001 * g[k] * g[k];
            p[k] -= 0.05 * (m[k] / (1 - pow(0.9, t))) / (sqrt(v[k] / (1 - pow(0.999, t))) + 1e-8);
        }
    }
}

static void test_golden_adam_trajectory(void) {
    pts d;
    int64_t one[1] = {1};
    for (int i = 0; i < NPTS; i++) {
        d.xv[i] = -1.0f + 2.0f * (float)i / (NPTS - 1);
        d.yv[i] = d.xv[i] * d.xv[i];
        d.x[i] = arr_f32(1, one, &d.xv[i]);
        d.y[i] = arr_f32(1, one, &d.yv[i]);
    }
    eqx_tree *model, *params, *state;
    OK(eqx_mlp_new(1, 1, WIDTH, 1, "tanh", eqx_tanh, eqx_prng_key(1234), &model));
    double ref[NSTEPS];
    reference_trajectory(model, &d, ref);
    eqx_optimizer *opt;
    OK(eqx_adam_new(0.05f, 0.9f, 0.999f, 1e-8f, &opt));
    OK(eqx_filter(model, eqx_is_array, &params));
    OK(eqx_opt_init(opt, params, &state));
    eqx_ctx *ctx;
    OK(eqx_ctx_new(&ctx));
    float got[NSTEPS];
    for (int t = 0; t < NSTEPS; t++) {
        eqx_tree *g, *u, *ns, *nm;
        OK(eqx_filter_value_and_grad(ctx, traj_loss, model, &d, &got[t], &g));
        OK(eqx_opt_update(opt, g, state, model, &u, &ns));
        OK(eqx_apply_updates(model, u, &nm));
        eqx_tree_free(g);
        eqx_tree_free(u);
        eqx_tree_free(state);
        eqx_tree_free(model);
        state = ns;
        model = nm;
        eqx_ctx_reset(ctx);
        CU_ASSERT_DOUBLE_EQUAL(got[t], ref[t], 1e-4 + 1e-3 * ref[t]);
    }
    CU_ASSERT_TRUE(got[NSTEPS - 1] < got[0]);

    char path[512];
    snprintf(path, sizeof path, "%s/adam_10_steps.txt", EQX_GOLDEN_DIR);
    if (getenv("EQX_UPDATE_GOLDEN")) {
        FILE *f = fopen(path, "w");
        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        fprintf(f, "# libeqx: loss before each of 10 Adam steps (lr 0.05), MLP 1-4-1 tanh, "
                   "eqx_prng_key(1234), y = x^2 on 8 points\n");
        for (int t = 0; t < NSTEPS; t++) fprintf(f, "%.9g\n", (double)got[t]);
        fclose(f);
    }
    FILE *f = fopen(path, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    char line[256];
    int t = 0;
    while (fgets(line, sizeof line, f) && t < NSTEPS) {
        if (line[0] == '#') continue;
        double want = atof(line);
        CU_ASSERT_DOUBLE_EQUAL(got[t], want, 1e-6 + 1e-5 * fabs(want));
        t++;
    }
    fclose(f);
    CU_ASSERT_EQUAL(t, NSTEPS);

    eqx_ctx_free(ctx);
    eqx_optimizer_free(opt);
    eqx_tree_free(state);
    eqx_tree_free(params);
    eqx_tree_free(model);
    for (int i = 0; i < NPTS; i++) {
        eqx_array_free(d.x[i]);
        eqx_array_free(d.y[i]);
    }
}

/* A parameter large enough that Adam and apply_updates are split across the cores (and
 * uneven, so the chunks differ in size): every element must match a double-precision
 * reference over several steps, whichever thread computed it. */
static void test_adamw_large_parameter_split(void) {
    enum { N = 300001, STEPS = 4 };
    int64_t sh[1] = {N};
    eqx_array *p0, *g0;
    OK(eqx_array_new(EQX_F32, 1, sh, &p0));
    OK(eqx_array_new(EQX_F32, 1, sh, &g0));
    fill(p0->data, N, 3, -1, 1);
    fill(g0->data, N, 4, -1, 1);
    eqx_tree *params = leaf(eqx_array_retain(p0)), *grads = leaf(eqx_array_retain(g0)), *state;
    eqx_optimizer *opt;
    const double lr = 1e-2, b1 = 0.9, b2 = 0.999, eps = 1e-8, wd = 1e-2;
    OK(eqx_adamw_new((float)lr, (float)b1, (float)b2, (float)eps, (float)wd, &opt));
    OK(eqx_opt_init(opt, params, &state));
    double *p = malloc(sizeof(double) * N), *m = calloc(N, sizeof(double)),
           *v = calloc(N, sizeof(double));
    for (int i = 0; i < N; i++) p[i] = ((float *)p0->data)[i];
    for (int t = 1; t <= STEPS; t++) {
        eqx_tree *upd, *ns, *np;
        OK(eqx_opt_update(opt, grads, state, params, &upd, &ns));
        OK(eqx_apply_updates(params, upd, &np));
        eqx_tree_free(upd);
        eqx_tree_free(state);
        eqx_tree_free(params);
        state = ns;
        params = np;
        for (int i = 0; i < N; i++) {
            double g = ((float *)g0->data)[i];
            m[i] = b1 * m[i] + (1 - b1) * g;
            v[i] = b2 * v[i] + (1 - b2) * g * g;
            double u = (m[i] / (1 - pow(b1, t))) / (sqrt(v[i] / (1 - pow(b2, t))) + eps) + wd * p[i];
            p[i] -= lr * u;
        }
    }
    const float *got = eqx_tree_array(params)->data;
    double worst = 0;
    for (int i = 0; i < N; i++) worst = fmax(worst, fabs(got[i] - p[i]));
    printf("\n    %d elements, %d steps: max |libeqx - reference| = %.3g\n", N, STEPS, worst);
    CU_ASSERT_TRUE(worst < 1e-5);
    free(p);
    free(m);
    free(v);
    eqx_tree_free(params);
    eqx_tree_free(grads);
    eqx_tree_free(state);
    eqx_array_free(p0);
    eqx_array_free(g0);
    eqx_optimizer_free(opt);
}

static const test_case cases[] = {
    {"opt_init refuses unfiltered models (FAQ advice + path)", test_opt_init_unfiltered},
    {"sgd with momentum follows optax", test_sgd_momentum},
    {"adam and adamw follow optax", test_adam_equations},
    {"apply_updates and structure errors", test_apply_updates_and_structure},
    {"golden 10-step adam trajectory", test_golden_adam_trajectory},
    {"adamw on a parameter split across cores", test_adamw_large_parameter_split},
    {NULL, NULL}};

int main(void) { return run_suite("runtime_optim", cases); }
