/*
 * grad.c — reverse-mode autodiff: eqx_filter_value_and_grad.
 *
 * Design: the model is flattened; every float32 array leaf is replaced by a view (same
 * storage, no copy) registered as a tape input, and the watched model is rebuilt with the
 * same treedef. The user's loss runs in grad mode, so ops record themselves (trace.c);
 * the backward pass walks the tape in reverse and each rule accumulates into its inputs'
 * gradient buffers. Filtering is structural, as in Equinox: non-float leaves are never
 * watched, so their gradient is none without any special case. A value used twice (the
 * same array at two leaves through eqx_shared) is one tape input, so its gradients add.
 */
#include "eqx_internal.h"

#include <string.h>

eqx_status eqx_filter_value_and_grad(eqx_ctx *ctx, eqx_loss_fn fn, const eqx_tree *model,
                                     void *user, float *value, eqx_tree **grads) {
    *grads = NULL;
    if (value) *value = 0.0f;
    if (!ctx || !fn || !model)
        return eqx__err(EQX_ERR_ARG, "eqx_filter_value_and_grad: ctx, fn and model are required");
    if (ctx->mode != EQX_MODE_EAGER)
        return eqx__err(EQX_ERR_UNSUPPORTED,
                        "eqx_filter_value_and_grad was called inside another one on the same "
                        "ctx; higher-order gradients are not supported");

    eqx_treedef *td = NULL;
    eqx_tree **leaves = NULL, **wl = NULL, **gl = NULL, *watched = NULL;
    struct eqx_tape_entry **went = NULL;
    int n = 0;
    eqx_status s = eqx__flatten(model, "model", &td, &leaves, &n, NULL);
    if (s) return s;
    size_t cnt = (size_t)(n ? n : 1);
    wl = eqx__calloc(cnt, sizeof *wl);
    gl = eqx__calloc(cnt, sizeof *gl);
    went = eqx__calloc(cnt, sizeof *went);
    if (!wl || !gl || !went) { s = eqx__nomem(); goto done; }

    for (int i = 0; i < n; i++) {
        if (!eqx_is_inexact_array(leaves[i])) {
            wl[i] = eqx_tree_retain(leaves[i]);
            continue;
        }
        const eqx_array *a = leaves[i]->u.array;
        eqx_array *v;
        if ((s = eqx__array_view(a, a->ndim, a->shape, &v))) goto done;
        struct eqx_tape_entry *e = eqx__calloc(1, sizeof *e);
        if (!e) { eqx_array_free(v); s = eqx__nomem(); goto done; }
        e->out = eqx_array_retain(v);
        if ((s = eqx__tape_push(ctx, e))) {
            eqx_array_free(v);
            eqx_array_free(v);
            eqx__free(e);
            goto done;
        }
        v->node = e;
        went[i] = e;
        s = eqx_leaf_array(v, &wl[i]);
        eqx_array_free(v); /* the leaf and the tape entry hold it now */
        if (s) goto done;
    }
    if ((s = eqx_tree_unflatten(td, wl, n, &watched))) goto done;

    eqx_array *loss = NULL;
    ctx->mode = EQX_MODE_GRAD;
    s = fn(ctx, watched, user, &loss);
    ctx->mode = EQX_MODE_EAGER;
    if (s) goto done;
    if (!loss || loss->dtype != EQX_F32 || loss->size != 1) {
        char b[96];
        s = eqx__err(EQX_ERR_SHAPE,
                     "eqx_filter_value_and_grad: the loss function must return a float32 "
                     "scalar, got %s; reduce it with eqx_mean or eqx_sum",
                     loss ? eqx_shape_str(loss, b, sizeof b) : "nothing");
        goto done;
    }
    if (value) *value = ((const float *)loss->data)[0];

    if (loss->node) {
        /* Seed d loss/d loss = 1, then run the recorded rules last to first. */
        loss->node->grad = eqx__calloc(1, sizeof(float));
        if (!loss->node->grad) { s = eqx__nomem(); goto done; }
        loss->node->grad[0] = 1.0f;
        for (int i = ctx->ntape - 1; i >= 0; i--) {
            struct eqx_tape_entry *e = ctx->tape[i];
            if (!e->op || !e->grad || !e->op->vjp) continue;
            float *gin[EQX__MAX_IN] = {NULL};
            for (int k = 0; k < e->nin; k++) {
                struct eqx_tape_entry *src = e->in[k]->node;
                if (!src) continue;
                if (!src->grad) {
                    src->grad = eqx__calloc((size_t)(src->out->size ? src->out->size : 1),
                                            sizeof(float));
                    if (!src->grad) { s = eqx__nomem(); goto done; }
                }
                gin[k] = src->grad;
            }
            e->op->vjp(e, e->grad, gin);
        }
    }

    for (int i = 0; i < n; i++) {
        if (!went[i]) {
            gl[i] = eqx_none();
            continue;
        }
        const eqx_array *a = leaves[i]->u.array;
        eqx_array *g;
        if ((s = eqx__array_alloc(EQX_F32, a->ndim, a->shape, true, &g))) goto done;
        if (went[i]->grad) memcpy(g->data, went[i]->grad, (size_t)a->size * sizeof(float));
        s = eqx_leaf_array(g, &gl[i]);
        eqx_array_free(g);
        if (s) goto done;
    }
    s = eqx_tree_unflatten(td, gl, n, grads);

done:
    ctx->mode = EQX_MODE_EAGER;
    eqx__tape_clear(ctx);
    eqx_tree_free(watched);
    if (wl) for (int i = 0; i < n; i++) eqx_tree_free(wl[i]);
    if (gl) for (int i = 0; i < n; i++) eqx_tree_free(gl[i]);
    eqx__free(wl);
    eqx__free(gl);
    eqx__free(went);
    eqx_leaves_free(leaves, n);
    eqx_treedef_free(td);
    return s;
}
