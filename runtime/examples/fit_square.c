/*
 * fit_square — the Equinox FAQ's regression: fit y = x^2 on [-1, 1] with an MLP.
 *
 * Shows the filtered training loop: the MLP keeps its activation as a function leaf, the
 * optimiser is initialised on eqx_filter(model, eqx_is_array) only, the loss is a
 * per-example function mapped over the batch with eqx_vmap, the whole step (value and
 * grad, Adam, apply) is traced once by eqx_filter_jit and replayed, and the trained model
 * is saved, loaded into a like-shaped fresh model and evaluated again. The last line is
 * final_loss=<loss of the reloaded model>.
 */
#include <eqx.h>

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

enum { N = 64, STEPS = 1500 };

/* The per-example loss; eqx_vmap maps it over the batch by batching rules, so each layer
 * runs as one matrix product for all N examples. args = (model, x, y). */
static eqx_status example_loss(eqx_ctx *ctx, const eqx_tree *args, void *user, eqx_tree **out) {
    (void)user;
    eqx_array *pred, *l;
    EQX_TRY(eqx_module_call(ctx, eqx_tree_child(args, 0), eqx_tree_array(eqx_tree_child(args, 1)),
                            NULL, &pred));
    EQX_TRY(eqx_mse(ctx, pred, eqx_tree_array(eqx_tree_child(args, 2)), &l));
    return eqx_leaf_array(l, out);
}

typedef struct batch {
    const eqx_vmapped *vloss;
    eqx_tree *x, *y;     /* array leaves (N, 1) */
} batch;

/* mean over the batch of vmap(example_loss, in_axes=(None, 0, 0)) */
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

/* (model, opt_state, x, y) -> (model', opt_state', loss): traced once by eqx_filter_jit,
 * then replayed as one recorded program (forward, backward, Adam) with no allocation. */
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

static eqx_status run(void) {
    eqx_tree *model = NULL, *params = NULL, *state = NULL, *loaded = NULL, *fresh = NULL;
    eqx_tree *x = NULL, *y = NULL, *args = NULL, *out = NULL;
    eqx_optimizer *opt = NULL;
    eqx_vmapped *vloss = NULL;
    eqx_jitted *step = NULL;
    eqx_ctx *ctx = NULL;
    eqx_array *xa = NULL, *ya = NULL;
    eqx_status s;
    int64_t shape[2] = {N, 1};
    float xs[N], ys[N];
    for (int i = 0; i < N; i++) {
        xs[i] = -1.0f + 2.0f * (float)i / (N - 1);
        ys[i] = xs[i] * xs[i];
    }
    if ((s = eqx_array_from_f32(2, shape, xs, &xa))) goto done;
    if ((s = eqx_array_from_f32(2, shape, ys, &ya))) goto done;
    if ((s = eqx_leaf_array(xa, &x))) goto done;
    if ((s = eqx_leaf_array(ya, &y))) goto done;
    if ((s = eqx_mlp_new(1, 1, 32, 2, "tanh", eqx_tanh, eqx_prng_key(0), &model))) goto done;
    if ((s = eqx_adam_new(3e-3f, 0.9f, 0.999f, 1e-8f, &opt))) goto done;
    if ((s = eqx_filter(model, eqx_is_array, &params))) goto done; /* FAQ: filter first */
    if ((s = eqx_opt_init(opt, params, &state))) goto done;
    if ((s = eqx_vmap(example_loss, NULL, 3, (int[]){EQX_UNMAPPED, 0, 0}, 0, &vloss))) goto done;
    step_cfg cfg = {opt, vloss};
    if ((s = eqx_filter_jit(train_step, &cfg, &step))) goto done;
    if ((s = eqx_ctx_new(&ctx))) goto done;
    eqx_tree *kids[4] = {model, state, x, y};
    if ((s = eqx_tuple_new(4, kids, &args))) goto done;

    float loss = 0;
    for (int i = 0; i < STEPS; i++) {
        if ((s = eqx_tree_set_child(args, 0, model)) || (s = eqx_tree_set_child(args, 1, state)))
            goto done;
        if ((s = eqx_jitted_call(ctx, step, args, &out))) goto done;
        eqx_tree_free(model); /* trees are immutable values: swap in the new ones */
        eqx_tree_free(state);
        model = eqx_tree_retain(eqx_tree_child(out, 0));
        state = eqx_tree_retain(eqx_tree_child(out, 1));
        loss = eqx_array_f32(eqx_tree_array(eqx_tree_child(out, 2)))[0];
        eqx_tree_free(out);
        out = NULL;
        if (i % 250 == 0) printf("step %4d loss %.6f\n", i, (double)loss);
    }
    printf("step %4d loss %.6f (traced %d time(s))\n", STEPS, (double)loss,
           eqx_jitted_trace_count(step));

    /* save, load into a freshly initialised model of the same shape, evaluate */
    char path[256];
    const char *tmp = getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/fit_square_%ld.eqx", tmp ? tmp : "/tmp", (long)getpid());
    if ((s = eqx_tree_serialise_leaves(path, model))) goto done;
    if ((s = eqx_mlp_new(1, 1, 32, 2, "tanh", eqx_tanh, eqx_prng_key(1), &fresh))) goto done;
    s = eqx_tree_deserialise_leaves(path, fresh, &loaded);
    remove(path);
    if (s) goto done;
    batch b = {vloss, x, y};
    eqx_array *l;
    if ((s = loss_fn(ctx, loaded, &b, &l))) goto done;
    printf("final_loss=%.6g\n", (double)eqx_array_f32(l)[0]);
done:
    eqx_ctx_free(ctx);
    eqx_jitted_free(step);
    eqx_vmapped_free(vloss);
    eqx_optimizer_free(opt);
    eqx_tree *all[] = {model, params, state, fresh, loaded, x, y, args, out};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) eqx_tree_free(all[i]);
    eqx_array_free(xa);
    eqx_array_free(ya);
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
