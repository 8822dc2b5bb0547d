/*
 * fit_square — the Equinox FAQ's regression: fit y = x^2 on [-1, 1] with an MLP.
 *
 * Shows the filtered training loop: the MLP keeps its activation as a function leaf, the
 * optimiser is initialised on eqx_filter(model, eqx_is_array) only, gradients come from
 * eqx_filter_value_and_grad, and the trained model is saved, loaded into a like-shaped
 * fresh model and evaluated again. The per-example loop in the loss is what eqx_vmap
 * will replace. The last line is final_loss=<loss of the reloaded model>.
 */
#include <eqx.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

enum { N = 64, STEPS = 1500 };

typedef struct data {
    eqx_array *x[N], *y[N];
} data;

static eqx_status loss_fn(eqx_ctx *ctx, const eqx_tree *model, void *user, eqx_array **loss) {
    const data *d = user;
    eqx_array *total = NULL, *pred, *l;
    for (int i = 0; i < N; i++) {
        EQX_TRY(eqx_module_call(ctx, model, d->x[i], NULL, &pred));
        EQX_TRY(eqx_mse(ctx, pred, d->y[i], &l));
        if (total) EQX_TRY(eqx_add(ctx, total, l, &total));
        else total = l;
    }
    return eqx_mul_scalar(ctx, total, 1.0f / N, loss);
}

static eqx_status run(void) {
    data d = {{0}, {0}};
    eqx_tree *model = NULL, *params = NULL, *state = NULL, *loaded = NULL, *fresh = NULL;
    eqx_optimizer *opt = NULL;
    eqx_ctx *ctx = NULL;
    eqx_status s = EQX_OK;
    int64_t one[1] = {1};
    for (int i = 0; i < N && !s; i++) {
        float x = -1.0f + 2.0f * (float)i / (N - 1), y = x * x;
        s = eqx_array_from_f32(1, one, &x, &d.x[i]);
        if (!s) s = eqx_array_from_f32(1, one, &y, &d.y[i]);
    }
    if (s) goto done;
    if ((s = eqx_mlp_new(1, 1, 32, 2, "tanh", eqx_tanh, eqx_prng_key(0), &model))) goto done;
    if ((s = eqx_adam_new(3e-3f, 0.9f, 0.999f, 1e-8f, &opt))) goto done;
    if ((s = eqx_filter(model, eqx_is_array, &params))) goto done; /* FAQ: filter first */
    if ((s = eqx_opt_init(opt, params, &state))) goto done;
    if ((s = eqx_ctx_new(&ctx))) goto done;

    float loss = 0;
    for (int step = 0; step < STEPS; step++) {
        eqx_tree *grads, *updates, *new_state, *new_model;
        if ((s = eqx_filter_value_and_grad(ctx, loss_fn, model, &d, &loss, &grads))) goto done;
        s = eqx_opt_update(opt, grads, state, model, &updates, &new_state);
        eqx_tree_free(grads);
        if (s) goto done;
        s = eqx_apply_updates(model, updates, &new_model);
        eqx_tree_free(updates);
        if (s) { eqx_tree_free(new_state); goto done; }
        eqx_tree_free(model);
        model = new_model;
        eqx_tree_free(state);
        state = new_state;
        eqx_ctx_reset(ctx);
        if (step % 250 == 0) printf("step %4d loss %.6f\n", step, (double)loss);
    }
    printf("step %4d loss %.6f\n", STEPS, (double)loss);

    /* save, load into a freshly initialised model of the same shape, evaluate */
    char path[256];
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/fit_square_%ld.eqx", tmp ? tmp : "/tmp", (long)getpid());
    if ((s = eqx_tree_serialise_leaves(path, model))) goto done;
    if ((s = eqx_mlp_new(1, 1, 32, 2, "tanh", eqx_tanh, eqx_prng_key(1), &fresh))) goto done;
    s = eqx_tree_deserialise_leaves(path, fresh, &loaded);
    remove(path);
    if (s) goto done;
    eqx_array *l;
    if ((s = loss_fn(ctx, loaded, &d, &l))) goto done;
    printf("final_loss=%.6g\n", (double)eqx_array_f32(l)[0]);
done:
    eqx_ctx_free(ctx);
    eqx_optimizer_free(opt);
    eqx_tree_free(model);
    eqx_tree_free(params);
    eqx_tree_free(state);
    eqx_tree_free(fresh);
    eqx_tree_free(loaded);
    for (int i = 0; i < N; i++) {
        eqx_array_free(d.x[i]);
        eqx_array_free(d.y[i]);
    }
    return s;
}

int main(void) {
    eqx_status s = run();
    if (s) {
        fprintf(stderr, "fit_square: %s: %s\n", eqx_status_name(s), eqx_errmsg());
        return 1;
    }
    return 0;
}
