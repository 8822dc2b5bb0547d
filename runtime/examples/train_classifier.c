/*
 * train_classifier — an MLP classifier on the 8x8 handwritten digits (1797 images, 64
 * pixels, 10 classes), trained with Adam on minibatches and scored on held-out data.
 *
 * Data: argv[1], or the copy Debian's python3-sklearn ships at DIGITS_PATH (CSV, gzip,
 * 64 pixel values 0..16 then the label per line). When no file is readable it falls back
 * to a synthetic 10-class problem generated with the libeqx PRNG, and says so. The last
 * line is accuracy=<fraction correct on the held-out 20%>.
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

typedef struct batch {
    int n;
    eqx_array *x[BATCH], *y[BATCH];
} batch;

static eqx_status loss_fn(eqx_ctx *ctx, const eqx_tree *model, void *user, eqx_array **loss) {
    const batch *b = user;
    eqx_array *total = NULL, *logits, *l;
    for (int i = 0; i < b->n; i++) {
        EQX_TRY(eqx_module_call(ctx, model, b->x[i], NULL, &logits));
        EQX_TRY(eqx_cross_entropy(ctx, logits, b->y[i], &l));
        if (total) EQX_TRY(eqx_add(ctx, total, l, &total));
        else total = l;
    }
    return eqx_mul_scalar(ctx, total, 1.0f / (float)b->n, loss);
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
    eqx_array **xs = calloc((size_t)g_data.n, sizeof *xs), **ys = calloc((size_t)g_data.n, sizeof *ys);
    eqx_tree *model = NULL, *params = NULL, *state = NULL;
    eqx_optimizer *opt = NULL;
    eqx_ctx *ctx = NULL;
    eqx_status s = EQX_OK;
    if (!order || !xs || !ys) { fprintf(stderr, "out of memory\n"); s = EQX_ERR_NOMEM; goto done; }
    unsigned r = 12345u;
    for (int i = 0; i < g_data.n; i++) order[i] = i;
    for (int i = g_data.n - 1; i > 0; i--) {
        r = r * 1664525u + 1013904223u;
        int j = (int)((r >> 8) % (unsigned)(i + 1)), t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
    int64_t fs[1] = {NFEAT};
    for (int i = 0; i < g_data.n && !s; i++) {
        s = eqx_array_from_f32(1, fs, g_data.x[order[i]], &xs[i]);
        if (!s) s = eqx_array_from_i32(0, NULL, &g_data.y[order[i]], &ys[i]);
    }
    if (s) goto done;
    int ntrain = g_data.n * 4 / 5;

    if ((s = eqx_mlp_new(NFEAT, NCLASS, 64, 1, "relu", eqx_relu, eqx_prng_key(0), &model))) goto done;
    if ((s = eqx_adam_new(3e-3f, 0.9f, 0.999f, 1e-8f, &opt))) goto done;
    if ((s = eqx_filter(model, eqx_is_array, &params))) goto done;
    if ((s = eqx_opt_init(opt, params, &state))) goto done;
    if ((s = eqx_ctx_new(&ctx))) goto done;
    for (int epoch = 0; epoch < EPOCHS; epoch++) {
        double sum = 0;
        int nb = 0;
        for (int start = 0; start + BATCH <= ntrain; start += BATCH) {
            batch b = {BATCH, {0}, {0}};
            for (int i = 0; i < BATCH; i++) {
                int idx = (start + i + epoch * 7 * BATCH) % ntrain; /* rotate batches per epoch */
                b.x[i] = xs[idx];
                b.y[i] = ys[idx];
            }
            float loss;
            eqx_tree *grads, *updates, *ns, *nm;
            if ((s = eqx_filter_value_and_grad(ctx, loss_fn, model, &b, &loss, &grads))) goto done;
            s = eqx_opt_update(opt, grads, state, model, &updates, &ns);
            eqx_tree_free(grads);
            if (s) goto done;
            s = eqx_apply_updates(model, updates, &nm);
            eqx_tree_free(updates);
            if (s) { eqx_tree_free(ns); goto done; }
            eqx_tree_free(model);
            model = nm;
            eqx_tree_free(state);
            state = ns;
            eqx_ctx_reset(ctx);
            sum += loss;
            nb++;
        }
        if (epoch % 5 == 4) printf("epoch %2d train loss %.4f\n", epoch + 1, sum / nb);
    }
    int correct = 0;
    for (int i = ntrain; i < g_data.n; i++) {
        eqx_array *logits;
        if ((s = eqx_module_call(ctx, model, xs[i], NULL, &logits))) goto done;
        const float *l = eqx_array_f32(logits);
        int best = 0;
        for (int c = 1; c < NCLASS; c++) best = l[c] > l[best] ? c : best;
        correct += best == eqx_array_i32(ys[i])[0];
        eqx_ctx_reset(ctx);
    }
    printf("held out: %d of %d correct\n", correct, g_data.n - ntrain);
    printf("accuracy=%.4f\n", (double)correct / (double)(g_data.n - ntrain));
done:
    if (s && s != EQX_ERR_NOMEM) fprintf(stderr, "train_classifier: %s: %s\n", eqx_status_name(s), eqx_errmsg());
    eqx_ctx_free(ctx);
    eqx_optimizer_free(opt);
    eqx_tree_free(model);
    eqx_tree_free(params);
    eqx_tree_free(state);
    for (int i = 0; xs && ys && i < g_data.n; i++) {
        eqx_array_free(xs[i]);
        eqx_array_free(ys[i]);
    }
    free(xs);
    free(ys);
    free(order);
    return s;
}

int main(int argc, char **argv) {
    return run(argc > 1 ? argv[1] : DIGITS_PATH) == EQX_OK ? 0 : 1;
}
