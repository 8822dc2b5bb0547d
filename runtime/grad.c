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
 * Gradient buffers are arrays: the gradient tree hands out the watched leaves' buffers
 * themselves (no copy), and under a jit trace each buffer's zeroing, the seed and every
 * backward rule are recorded, so the replayed program contains the backward pass too.
 * Batching happens before the tape (trace.c), so grad of a vmapped loss needs nothing here.
 */
#include "eqx_internal.h"

#include <string.h>

/* A zeroed gradient buffer shaped like e's output; recorded so every replay re-zeroes it
 * (backward rules accumulate). */
static eqx_status grad_buffer(struct eqx_tape_entry *e) {
    if (e->grad) return EQX_OK;
    EQX_TRY(eqx__array_alloc(EQX_F32, e->out->ndim, e->out->shape, true, &e->grad));
    return eqx__rec ? eqx__rec_zero(e->grad) : EQX_OK;
}

static eqx_status value_and_grad(eqx_ctx *ctx, eqx_loss_fn fn, const eqx_tree *model,
                                 void *user, eqx_array **value, eqx_tree **grads) {
    *grads = NULL;
    *value = NULL;
    if (!ctx || !fn || !model)
        return eqx__err(EQX_ERR_ARG, "eqx_filter_value_and_grad: ctx, fn and model are required");
    if (ctx->mode != EQX_MODE_EAGER)
        return eqx__err(EQX_ERR_UNSUPPORTED,
                        "eqx_filter_value_and_grad was called inside another one on the same "
                        "ctx; higher-order gradients are not supported");
    /* Inside eqx_vmap (per-example gradients, vmap of grad) every watched leaf becomes one
     * copy per example, batched over all active levels: each example's gradient then lands
     * in its own slice instead of being summed into one shared leaf. */
    unsigned levels = ctx->vmap_depth ? (1u << ctx->vmap_depth) - 1u : 0u;

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
        if (levels) {
            if ((s = eqx__vmap_materialize(ctx, a, levels, &v))) goto done;
            eqx_array_retain(v); /* ctx-owned; the tape entry and the leaf take refs below */
        } else if ((s = eqx__array_view(a, a->ndim, a->shape, &v))) {
            goto done;
        }
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
    int64_t lsh[EQX_MAX_DIMS], lsize = 1;
    for (int d = loss ? eqx_array_shape(loss, lsh) : 0; d > 0; d--) lsize *= lsh[d - 1];
    if (!loss || loss->dtype != EQX_F32 || lsize != 1) {
        char b[96];
        s = eqx__err(EQX_ERR_SHAPE,
                     "eqx_filter_value_and_grad: the loss function must return a float32 "
                     "scalar, got %s; reduce it with eqx_mean or eqx_sum",
                     loss ? eqx_shape_str(loss, b, sizeof b) : "nothing");
        goto done;
    }
    *value = loss;

    if (loss->node) {
        /* Seed d loss/d loss = 1, then run the recorded rules last to first. */
        struct eqx_tape_entry *le = loss->node;
        if ((s = eqx__array_alloc(EQX_F32, le->out->ndim, le->out->shape, false, &le->grad)))
            goto done;
        /* one seed per example when the loss is batched (vmap of grad) */
        for (int64_t k = 0; k < le->grad->size; k++) ((float *)le->grad->data)[k] = 1.0f;
        if (eqx__rec && (s = eqx__rec_fill(le->grad, 1.0f))) goto done;
        for (int i = ctx->ntape - 1; i >= 0; i--) {
            struct eqx_tape_entry *e = ctx->tape[i];
            if (!e->op || !e->grad || !e->op->vjp) continue;
            float *gin[EQX__MAX_IN] = {NULL};
            eqx_array *gina[EQX__MAX_IN] = {NULL};
            for (int k = 0; k < e->nin; k++) {
                struct eqx_tape_entry *src = e->in[k]->node;
                if (!src) continue;
                if ((s = grad_buffer(src))) goto done;
                gina[k] = src->grad;
                gin[k] = src->grad->data;
            }
            e->op->vjp(e, e->grad->data, gin);
            if (eqx__rec && (s = eqx__rec_vjp(e, gina))) goto done;
        }
    }

    for (int i = 0; i < n; i++) {
        if (!went[i]) {
            gl[i] = eqx_none();
            continue;
        }
        /* a watched leaf the loss never used has gradient zero */
        if ((s = grad_buffer(went[i]))) goto done;
        went[i]->grad->batch = went[i]->out->batch; /* per-example under vmap */
        if ((s = eqx_leaf_array(went[i]->grad, &gl[i]))) goto done;
    }
    s = eqx_tree_unflatten(td, gl, n, grads);

done:
    if (s) *value = NULL;
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

eqx_status eqx_filter_value_and_grad_array(eqx_ctx *ctx, eqx_loss_fn fn, const eqx_tree *model,
                                           void *user, eqx_array **value, eqx_tree **grads) {
    return value_and_grad(ctx, fn, model, user, value, grads);
}

eqx_status eqx_filter_value_and_grad(eqx_ctx *ctx, eqx_loss_fn fn, const eqx_tree *model,
                                     void *user, float *value, eqx_tree **grads) {
    eqx_array *v;
    if (value) *value = 0.0f;
    EQX_TRY(value_and_grad(ctx, fn, model, user, &v, grads));
    if (value) *value = ((const float *)v->data)[0];
    return EQX_OK;
}
