/*
 * train_classifier — an MLP classifier on the 8x8 handwritten digits (1797 images, 64
 * pixels, 10 classes), trained with Adam on minibatches and scored on held-out data.
 *
 * Data: argv[1], or the copy Debian's python3-sklearn ships at DIGITS_PATH (CSV, gzip,
 * 64 pixel values 0..16 then the label per line). When no file is readable it falls back
 * to a synthetic 10-class problem generated with the libeqx PRNG, and says so. The
 * per-example loss is mapped over each minibatch with eqx_vmap and the training step is
 * traced once by eqx_filter_jit; the held-out set is scored with jax.vmap(model) in one
 * call. The last line is accuracy=<fraction correct on the held-out 20%>.
 */
#include <eqx.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef EQX_HAVE_ZLIB
#include <zlib.h>
#endif

#define DIGITS_PATH "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz"
enum { NFEAT = 64, NCLASS = 10, MAXN = 2000, BATCH = 32, EPOCHS = 20 };

typedef struct dataset {
    int n;
    float x[MAXN][NFEAT];
    int32_t y[MAXN];
} dataset;

static dataset g_data;

/* Parses "p0,...,p63,label" lines; returns the number of examples read (0 on failure). */
static int load_digits(const char *path) {
#ifdef EQX_HAVE_ZLIB
    gzFile f = gzopen(path, "rb"); /* reads plain CSV too */
    if (!f) return 0;
    char line[1024];
    int n = 0;
    while (n < MAXN && gzgets(f, line, sizeof line)) {
        char *p = line, *end;
        int k;
        for (k = 0; k <= NFEAT; k++) {
            double v = strtod(p, &end);
            if (end == p) break;
            if (k < NFEAT) g_data.x[n][k] = (float)(v / 16.0); /* pixels are 0..16 */
            else g_data.y[n] = (int32_t)v;
            p = end + (*end == ',');
        }
        if (k == NFEAT + 1 && g_data.y[n] >= 0 && g_data.y[n] < NCLASS) n++;
    }
    gzclose(f);
    return n;
#else
    (void)path;
    return 0;
#endif
}

/* 10 Gaussian blobs in 64-d: class means ~ N(0, 0.5^2), unit noise. */
static eqx_status synthetic(void) {
    int64_t ms[2] = {NCLASS, NFEAT}, xs[2] = {1500, NFEAT};
    eqx_array *means, *noise;
    eqx_key k[3];
    eqx_prng_split(eqx_prng_key(7), 3, k);
    EQX_TRY(eqx_random_normal(k[0], 2, ms, &means));
    eqx_status s = eqx_random_normal(k[1], 2, xs, &noise);
    if (s) { eqx_array_free(means); return s; }
    const float *m = eqx_array_f32(means), *z = eqx_array_f32(noise);
    g_data.n = 1500;
    for (int i = 0; i < g_data.n; i++) {
        g_data.y[i] = i % NCLASS;
        for (int f = 0; f < NFEAT; f++)
            g_data.x[i][f] = 0.5f * m[g_data.y[i] * NFEAT + f] + z[i * NFEAT + f];
    }
    eqx_array_free(means);
    eqx_array_free(noise);
    return EQX_OK;
}

/* Per-example loss, mapped over the minibatch with eqx_vmap. args = (model, x, label). */
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

static eqx_status loss_fn(eqx_ctx *ctx, const eqx_tree *model, void *user, eqx_array **loss) {
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

typedef struct step_cfg {
    const eqx_optimizer *opt;
    const eqx_vmapped *vloss;
} step_cfg;

/* (model, opt_state, x, y) -> (model', opt_state', loss), jitted by eqx_filter_jit */
static eqx_status train_step(eqx_ctx *ctx, const eqx_tree *args, void *user, eqx_tree **out) {
    const step_cfg *cfg = user;
    const eqx_tree *model = eqx_tree_child(args, 0), *state = eqx_tree_child(args, 1);
    batch b = {cfg->vloss, eqx_tree_child(args, 2), eqx_tree_child(args, 3)};
    eqx_array *loss;
    eqx_tree *grads = NULL, *updates = NULL, *kids[3] = {NULL};
    eqx_status s = eqx_filter_value_and_grad_array(ctx, loss_fn, model, &b, &loss, &grads);
    if (!s) s = eqx_opt_update(cfg->opt, grads, state, model, &updates, &kids[1]);
    if (!s) s = eqx_apply_updates(model, updates, &kids[0]);
    if (!s) s = eqx_leaf_array(loss, &kids[2]);
    if (!s) s = eqx_tuple_new(3, kids, out);
    for (int i = 0; i < 3; i++) eqx_tree_free(kids[i]);
    eqx_tree_free(grads);
    eqx_tree_free(updates);
    return s;
}

static eqx_status run(const char *path) {
    int n = load_digits(path);
    if (n >= 100) {
        g_data.n = n;
        printf("data: %s (%d examples)\n", path, n);
    } else {
        EQX_TRY(synthetic());
        printf("data: synthetic 10-class blobs (%s not readable)\n", path);
    }
    /* shuffle with a fixed seed, then hold out the last 20% */
    int *order = malloc(sizeof(int) * (size_t)g_data.n);
    eqx_tree *model = NULL, *params = NULL, *state = NULL, *bx = NULL, *by = NULL, *args = NULL,
             *out = NULL;
    eqx_array *xb = NULL, *yb = NULL, *xt = NULL;
    eqx_optimizer *opt = NULL;
    eqx_vmapped *vloss = NULL, *vmodel = NULL;
    eqx_jitted *step = NULL;
    eqx_ctx *ctx = NULL;
    eqx_status s = EQX_OK;
    if (!order) { fprintf(stderr, "out of memory\n"); s = EQX_ERR_NOMEM; goto done; }
    unsigned r = 12345u;
    for (int i = 0; i < g_data.n; i++) order[i] = i;
    for (int i = g_data.n - 1; i > 0; i--) {
        r = r * 1664525u + 1013904223u;
        int j = (int)((r >> 8) % (unsigned)(i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    int ntrain = g_data.n * 4 / 5, ntest = g_data.n - ntrain;
    /* minibatch buffers: refilled in place each step (the jitted step reads them as inputs) */
    int64_t xs[2] = {BATCH, NFEAT}, ys[1] = {BATCH}, ts[2] = {ntest, NFEAT};
    if ((s = eqx_array_new(EQX_F32, 2, xs, &xb))) goto done;
    if ((s = eqx_array_new(EQX_I32, 1, ys, &yb))) goto done;
    if ((s = eqx_leaf_array(xb, &bx)) || (s = eqx_leaf_array(yb, &by))) goto done;

    if ((s = eqx_mlp_new(NFEAT, NCLASS, 64, 1, "relu", eqx_relu, eqx_prng_key(0), &model))) goto done;
    if ((s = eqx_adam_new(3e-3f, 0.9f, 0.999f, 1e-8f, &opt))) goto done;
    if ((s = eqx_filter(model, eqx_is_array, &params))) goto done;
    if ((s = eqx_opt_init(opt, params, &state))) goto done;
    if ((s = eqx_vmap(example_loss, NULL, 3, (int[]){EQX_UNMAPPED, 0, 0}, 0, &vloss))) goto done;
    step_cfg cfg = {opt, vloss};
    if ((s = eqx_filter_jit(train_step, &cfg, &step))) goto done;
    if ((s = eqx_ctx_new(&ctx))) goto done;
    eqx_tree *kids[4] = {model, state, bx, by};
    if ((s = eqx_tuple_new(4, kids, &args))) goto done;
    float *X = eqx_array_f32(xb);
    int32_t *Y = eqx_array_i32(yb);
    for (int epoch = 0; epoch < EPOCHS; epoch++) {
        double sum = 0;
        int nb = 0;
        for (int start = 0; start + BATCH <= ntrain; start += BATCH) {
            for (int i = 0; i < BATCH; i++) {
                int idx = order[(start + i + epoch * 7 * BATCH) % ntrain]; /* rotate per epoch */
                memcpy(X + i * NFEAT, g_data.x[idx], sizeof(float) * NFEAT);
                Y[i] = g_data.y[idx];
            }
            if ((s = eqx_tree_set_child(args, 0, model)) || (s = eqx_tree_set_child(args, 1, state)))
                goto done;
            if ((s = eqx_jitted_call(ctx, step, args, &out))) goto done;
            eqx_tree_free(model);
            eqx_tree_free(state);
            model = eqx_tree_retain(eqx_tree_child(out, 0));
            state = eqx_tree_retain(eqx_tree_child(out, 1));
            sum += eqx_array_f32(eqx_tree_array(eqx_tree_child(out, 2)))[0];
            eqx_tree_free(out);
            out = NULL;
            nb++;
        }
        if (epoch % 5 == 4) printf("epoch %2d train loss %.4f\n", epoch + 1, sum / nb);
    }
    printf("training step traced %d time(s)\n", eqx_jitted_trace_count(step));
    /* held-out accuracy: jax.vmap(model)(x_test), one GEMM per layer for the whole set */
    if ((s = eqx_array_new(EQX_F32, 2, ts, &xt))) goto done;
    for (int i = 0; i < ntest; i++)
        memcpy(eqx_array_f32(xt) + i * NFEAT, g_data.x[order[ntrain + i]], sizeof(float) * NFEAT);
    if ((s = eqx_vmap_module(model, 0, 0, &vmodel))) goto done;
    eqx_array *logits;
    if ((s = eqx_vmapped_call_array(ctx, vmodel, xt, &logits))) goto done;
    int correct = 0;
    for (int i = 0; i < ntest; i++) {
        const float *l = eqx_array_f32(logits) + i * NCLASS;
        int best = 0;
        for (int c = 1; c < NCLASS; c++) best = l[c] > l[best] ? c : best;
        correct += best == g_data.y[order[ntrain + i]];
    }
    printf("held out: %d of %d correct\n", correct, ntest);
    printf("accuracy=%.4f\n", (double)correct / (double)ntest);
done:
    if (s && s != EQX_ERR_NOMEM) fprintf(stderr, "train_classifier: %s: %s\n", eqx_status_name(s), eqx_errmsg());
    eqx_ctx_free(ctx);
    eqx_jitted_free(step);
    eqx_vmapped_free(vloss);
    eqx_vmapped_free(vmodel);
    eqx_optimizer_free(opt);
    eqx_tree *all[] = {model, params, state, bx, by, args, out};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) eqx_tree_free(all[i]);
    eqx_array_free(xb);
    eqx_array_free(yb);
    eqx_array_free(xt);
    free(order);
    return s;
}

int main(int argc, char **argv) {
    return run(argc > 1 ? argv[1] : DIGITS_PATH) == EQX_OK ? 0 : 1;
}
