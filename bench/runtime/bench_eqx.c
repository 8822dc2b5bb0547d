/*
 * bench_eqx — libeqx's side of `make bench-runtime`: a 784-256-256-10 ReLU MLP, batch 128,
 * float32, softmax cross-entropy, Adam (lr 1e-3), timed per training step eagerly and
 * under eqx_filter_jit, plus eqx_vmap against a per-example loop, plus a large SGEMM as
 * the machine's practical peak.
 *
 * Usage: bench_eqx <init-file> [steps [jit-only]]. ("jit-only" skips everything but the
 * jitted steps, for profilers.) Writes the initial weights and the batch to
 * <init-file> (raw little-endian: W1 b1 W2 b2 W3 b3 as float32 in Equinox's (out, in)
 * layout, X float32 (128, 784), labels int32 (128,)) so that PyTorch and NumPy start from
 * exactly the same state, then prints key=value lines for bench/runtime/run.sh.
 * Step times are medians of per-step wall times: the machine is shared, and a median is
 * what one noisy neighbour cannot drag.
 */
#include <eqx.h>

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { B = 128, D_IN = 784, H = 256, C = 10 };

#define CHECK(expr)                                                                    \
    do {                                                                               \
        eqx_status s_ = (expr);                                                        \
        if (s_ != EQX_OK) {                                                            \
            fprintf(stderr, "bench_eqx: %s: %s: %s\n", #expr, eqx_status_name(s_),     \
                    eqx_errmsg());                                                     \
            exit(1);                                                                   \
        }                                                                              \
    } while (0)

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec * 1e-6;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_d);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* ------------------------------------------------------------ the model's step */

static eqx_status example_loss(eqx_ctx *ctx, const eqx_tree *args, void *user, eqx_tree **out) {
    (void)user;
    eqx_array *logits, *l;
    EQX_TRY(eqx_module_call(ctx, eqx_tree_child(args, 0), eqx_tree_array(eqx_tree_child(args, 1)),
                            NULL, &logits));
    EQX_TRY(eqx_cross_entropy(ctx, logits, eqx_tree_array(eqx_tree_child(args, 2)), &l));
    return eqx_leaf_array(l, out);
}

typedef struct batch {
    const eqx_vmapped *vloss;
    eqx_tree *x, *y;
} batch;

static eqx_status loss_vmap(eqx_ctx *ctx, const eqx_tree *model, void *user, eqx_array **loss) {
    const batch *b = user;
    eqx_tree *kids[3] = {(eqx_tree *)model, b->x, b->y}, *args, *losses;
    EQX_TRY(eqx_tuple_new(3, kids, &args));
    eqx_status s = eqx_vmapped_call(ctx, b->vloss, args, &losses);
    eqx_tree_free(args);
    if (s) return s;
    s = eqx_mean(ctx, eqx_tree_array(losses), 0, NULL, loss);
    eqx_tree_free(losses);
    return s;
}

/* The pre-vmap way: one example at a time. */
typedef struct rows {
    eqx_array *x[B], *y[B];
} rows;

static eqx_status loss_loop(eqx_ctx *ctx, const eqx_tree *model, void *user, eqx_array **loss) {
    const rows *r = user;
    eqx_array *total = NULL, *logits, *l;
    for (int i = 0; i < B; i++) {
        EQX_TRY(eqx_module_call(ctx, model, r->x[i], NULL, &logits));
        EQX_TRY(eqx_cross_entropy(ctx, logits, r->y[i], &l));
        if (total) EQX_TRY(eqx_add(ctx, total, l, &total));
        else total = l;
    }
    return eqx_mul_scalar(ctx, total, 1.0f / B, loss);
}

typedef struct step_cfg {
    const eqx_optimizer *opt;
    const eqx_vmapped *vloss;
} step_cfg;

static eqx_status train_step(eqx_ctx *ctx, const eqx_tree *args, void *user, eqx_tree **out) {
    const step_cfg *cfg = user;
    const eqx_tree *model = eqx_tree_child(args, 0), *state = eqx_tree_child(args, 1);
    batch b = {cfg->vloss, eqx_tree_child(args, 2), eqx_tree_child(args, 3)};
    eqx_array *loss;
    eqx_tree *grads = NULL, *updates = NULL, *kids[3] = {NULL};
    eqx_status s = eqx_filter_value_and_grad_array(ctx, loss_vmap, model, &b, &loss, &grads);
    if (!s) s = eqx_opt_update(cfg->opt, grads, state, model, &updates, &kids[1]);
    if (!s) s = eqx_apply_updates(model, updates, &kids[0]);
    if (!s) s = eqx_leaf_array(loss, &kids[2]);
    if (!s) s = eqx_tuple_new(3, kids, out);
    for (int i = 0; i < 3; i++) eqx_tree_free(kids[i]);
    eqx_tree_free(grads);
    eqx_tree_free(updates);
    return s;
}

typedef struct run_state {
    eqx_tree *model, *state, *args;
} run_state;

/* Trains `steps` steps from model0; per-step times into ms[], first loss into *first. */
static void run_steps(eqx_ctx *ctx, eqx_jitted *jf, const step_cfg *cfg, const eqx_tree *model0,
                      eqx_tree *x, eqx_tree *y, int warm, int steps, double *ms, float *first,
                      float *last) {
    run_state r = {eqx_tree_retain((eqx_tree *)model0), NULL, NULL};
    eqx_tree *params;
    CHECK(eqx_filter(r.model, eqx_is_array, &params));
    CHECK(eqx_opt_init(cfg->opt, params, &r.state));
    eqx_tree_free(params);
    eqx_tree *kids[4] = {r.model, r.state, x, y};
    CHECK(eqx_tuple_new(4, kids, &r.args));
    for (int i = 0; i < warm + steps; i++) {
        double t0 = now_ms();
        CHECK(eqx_tree_set_child(r.args, 0, r.model));
        CHECK(eqx_tree_set_child(r.args, 1, r.state));
        eqx_tree *out;
        if (jf) CHECK(eqx_jitted_call(ctx, jf, r.args, &out));
        else CHECK(train_step(ctx, r.args, (void *)cfg, &out));
        eqx_tree_free(r.model);
        eqx_tree_free(r.state);
        r.model = eqx_tree_retain(eqx_tree_child(out, 0));
        r.state = eqx_tree_retain(eqx_tree_child(out, 1));
        float loss = eqx_array_f32(eqx_tree_array(eqx_tree_child(out, 2)))[0];
        eqx_tree_free(out);
        CHECK(eqx_tree_set_child(r.args, 0, NULL));
        CHECK(eqx_tree_set_child(r.args, 1, NULL));
        if (!jf) eqx_ctx_reset(ctx);
        double t1 = now_ms();
        if (i == 0) *first = loss;
        *last = loss;
        if (i >= warm) ms[i - warm] = t1 - t0;
    }
    eqx_tree_free(r.model);
    eqx_tree_free(r.state);
    eqx_tree_free(r.args);
}

/* ------------------------------------------------------------ main */

static void write_init(const char *path, const eqx_tree *mlp, const eqx_array *X,
                       const eqx_array *Y) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(1);
    }
    const eqx_tree *layers = eqx_tree_field(mlp, "layers");
    for (int i = 0; i < 3; i++) {
        const eqx_tree *lin = eqx_tree_child(layers, i);
        const eqx_array *w = eqx_tree_array(eqx_tree_field(lin, "weight"));
        const eqx_array *b = eqx_tree_array(eqx_tree_field(lin, "bias"));
        fwrite(w->data, 4, (size_t)w->size, f);
        fwrite(b->data, 4, (size_t)b->size, f);
    }
    fwrite(X->data, 4, (size_t)X->size, f);
    fwrite(Y->data, 4, (size_t)Y->size, f);
    if (fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: bench_eqx <init-file> [steps]\n");
        return 2;
    }
    int steps = argc > 2 ? atoi(argv[2]) : 50, warm = 5;
    if (steps < 5) steps = 5;

    eqx_key k[3];
    eqx_prng_split(eqx_prng_key(2026), 3, k);
    eqx_tree *mlp;
    CHECK(eqx_mlp_new(D_IN, C, H, 2, "relu", eqx_relu, k[0], &mlp));
    int64_t xs[2] = {B, D_IN}, ys[1] = {B};
    eqx_array *X, *U, *Y;
    CHECK(eqx_random_uniform(k[1], 2, xs, 0.0f, 1.0f, &X));
    CHECK(eqx_random_uniform(k[2], 1, ys, 0.0f, (float)C, &U));
    CHECK(eqx_array_new(EQX_I32, 1, ys, &Y));
    for (int i = 0; i < B; i++) {
        int c = (int)eqx_array_f32(U)[i];
        eqx_array_i32(Y)[i] = c < C ? c : C - 1;
    }
    write_init(argv[1], mlp, X, Y);

    eqx_optimizer *opt;
    CHECK(eqx_adam_new(1e-3f, 0.9f, 0.999f, 1e-8f, &opt));
    eqx_vmapped *vloss;
    int axes[3] = {EQX_UNMAPPED, 0, 0};
    CHECK(eqx_vmap(example_loss, NULL, 3, axes, 0, &vloss));
    step_cfg cfg = {opt, vloss};
    eqx_tree *xl, *yl;
    CHECK(eqx_leaf_array(X, &xl));
    CHECK(eqx_leaf_array(Y, &yl));
    eqx_ctx *ctx;
    CHECK(eqx_ctx_new(&ctx));

    double *ms = calloc((size_t)steps, sizeof *ms);
    float f_eager = 0, l_eager = 0, f_jit, l_jit;
    bool jit_only = argc > 3 && strcmp(argv[3], "jit-only") == 0;
    double eager = 0;
    if (!jit_only) {
        run_steps(ctx, NULL, &cfg, mlp, xl, yl, warm, steps, ms, &f_eager, &l_eager);
        eager = median(ms, steps);
    }
    eqx_jitted *jf;
    CHECK(eqx_filter_jit(train_step, &cfg, &jf));
    run_steps(ctx, jf, &cfg, mlp, xl, yl, warm, steps, ms, &f_jit, &l_jit);
    double jit = median(ms, steps);
    if (jit_only) {
        printf("eqx_jit_ms=%.4f\n", jit);
        return 0;
    }
    printf("eqx_eager_ms=%.4f\neqx_jit_ms=%.4f\n", eager, jit);
    printf("eqx_first_loss=%.7f\neqx_last_loss_eager=%.7f\neqx_last_loss_jit=%.7f\n",
           (double)f_eager, (double)l_eager, (double)l_jit);
    printf("eqx_jit_traces=%d\nsteps=%d\n", eqx_jitted_trace_count(jf), warm + steps);

    /* value-and-grad of the batch loss: eqx_vmap vs a per-example loop */
    batch bv = {vloss, xl, yl};
    rows rw;
    int64_t rs[1] = {D_IN};
    for (int i = 0; i < B; i++) {
        CHECK(eqx_array_from_f32(1, rs, eqx_array_f32(X) + (size_t)i * D_IN, &rw.x[i]));
        CHECK(eqx_array_from_i32(0, NULL, eqx_array_i32(Y) + i, &rw.y[i]));
    }
    int reps = steps < 20 ? steps : 20;
    float lv = 0, ll = 0;
    for (int variant = 0; variant < 2; variant++) {
        for (int i = 0; i < reps + 2; i++) {
            eqx_tree *g;
            float v;
            double t0 = now_ms();
            if (variant == 0) CHECK(eqx_filter_value_and_grad(ctx, loss_vmap, mlp, &bv, &v, &g));
            else CHECK(eqx_filter_value_and_grad(ctx, loss_loop, mlp, &rw, &v, &g));
            eqx_tree_free(g);
            eqx_ctx_reset(ctx);
            double t1 = now_ms();
            if (i >= 2) ms[i - 2] = t1 - t0;
            if (variant == 0) lv = v;
            else ll = v;
        }
        printf("%s=%.4f\n", variant == 0 ? "grad_vmap_ms" : "grad_loop_ms", median(ms, reps));
    }
    printf("grad_loss_vmap=%.7f\ngrad_loss_loop=%.7f\n", (double)lv, (double)ll);

    /* a large SGEMM: the practical peak of this machine's BLAS */
    {
        enum { N = 1024 };
        float *a = malloc(sizeof(float) * N * N), *b = malloc(sizeof(float) * N * N),
              *c = malloc(sizeof(float) * N * N);
        for (int i = 0; i < N * N; i++) a[i] = b[i] = (float)(i % 7) * 0.1f;
        double best = 1e30;
        for (int r = 0; r < 5; r++) {
            double t0 = now_ms();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, N, N, 1.0f, a, N, b, N, 0.0f,
                        c, N);
            double t = now_ms() - t0;
            best = t < best ? t : best;
        }
        printf("sgemm1024_gflops=%.2f\n", 2.0 * N * N * N / (best * 1e-3) / 1e9);
        free(a);
        free(b);
        free(c);
    }
    /* GEMM work per training step: forward, weight gradients, and input gradients of
     * layers 2 and 3 (layer 1's input is data) */
    double l1 = (double)D_IN * H, l2 = (double)H * H, l3 = (double)H * C;
    printf("step_gflop=%.6f\n", 2.0 * B * (3 * (l1 + l2 + l3) - l1) / 1e9);

    for (int i = 0; i < B; i++) {
        eqx_array_free(rw.x[i]);
        eqx_array_free(rw.y[i]);
    }
    free(ms);
    eqx_jitted_free(jf);
    eqx_ctx_free(ctx);
    eqx_tree_free(xl);
    eqx_tree_free(yl);
    eqx_vmapped_free(vloss);
    eqx_optimizer_free(opt);
    eqx_array_free(X);
    eqx_array_free(U);
    eqx_array_free(Y);
    eqx_tree_free(mlp);
    return 0;
}
