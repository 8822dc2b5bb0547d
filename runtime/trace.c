/*
 * trace.c — the evaluation context and the single op dispatcher.
 *
 * Design: a ctx is an arena plus a mode. Every op result is owned by the ctx that made
 * it, so user code and layer code never free intermediates one by one; eqx_ctx_reset
 * drops them all at the end of a step. eqx__apply is the only place that knows about
 * modes, and they stack in one fixed order: an input carrying vmap batch axes sends the
 * op to its batching rule, which lowers it to physical ops (ordinary arrays whose leading
 * axes happen to be batch axes) and re-enters here through eqx__apply_phys; a physical op
 * runs its kernel, is recorded on the autodiff tape when an input is being
 * differentiated, and is appended to the jit program when a trace is active. Because
 * batching happens before recording, the tape and the jit program only ever hold plain
 * kernels: grad of vmap and jit of both need no special cases.
 */
#include "eqx_internal.h"

#include <stdio.h>
#include <string.h>

eqx_status eqx_ctx_new(eqx_ctx **out) {
    *out = eqx__calloc(1, sizeof **out);
    if (!*out) return eqx__nomem();
    snprintf((*out)->call_path, sizeof (*out)->call_path, "model");
    return EQX_OK;
}

void eqx__tape_clear(eqx_ctx *ctx) {
    for (int i = 0; i < ctx->ntape; i++) {
        struct eqx_tape_entry *e = ctx->tape[i];
        e->out->node = NULL;
        for (int k = 0; k < e->nin; k++) eqx_array_free(e->in[k]);
        eqx_array_free(e->out);
        eqx_array_free(e->grad);
        eqx__free(e);
    }
    ctx->ntape = 0;
}

void eqx_ctx_reset(eqx_ctx *ctx) {
    /* A reset from inside a loss function would free values the tape still needs; the
     * arena is dropped by the caller's reset after eqx_filter_value_and_grad returns. */
    if (!ctx || ctx->mode != EQX_MODE_EAGER || ctx->vmap_depth > 0) return;
    eqx__tape_clear(ctx);
    for (int i = 0; i < ctx->nowned; i++) eqx_array_free(ctx->owned[i]);
    ctx->nowned = 0;
}

void eqx_ctx_free(eqx_ctx *ctx) {
    if (!ctx) return;
    eqx_ctx_reset(ctx);
    eqx__free(ctx->owned);
    eqx__free(ctx->tape);
    eqx__free(ctx);
}

eqx_status eqx__ctx_own(eqx_ctx *ctx, eqx_array *a) {
    if (ctx->nowned == ctx->capowned) {
        int ncap = ctx->capowned ? ctx->capowned * 2 : 64;
        eqx_array **n = eqx__realloc(ctx->owned, sizeof(eqx_array *) * (size_t)ncap);
        if (!n) return eqx__nomem();
        ctx->owned = n;
        ctx->capowned = ncap;
    }
    ctx->owned[ctx->nowned++] = a;
    return EQX_OK;
}

eqx_status eqx__tape_push(eqx_ctx *ctx, struct eqx_tape_entry *e) {
    if (ctx->ntape == ctx->captape) {
        int ncap = ctx->captape ? ctx->captape * 2 : 64;
        struct eqx_tape_entry **n = eqx__realloc(ctx->tape, sizeof(*n) * (size_t)ncap);
        if (!n) return eqx__nomem();
        ctx->tape = n;
        ctx->captape = ncap;
    }
    ctx->tape[ctx->ntape++] = e;
    return EQX_OK;
}

eqx_status eqx_scalar(eqx_ctx *ctx, float v, eqx_array **out) {
    *out = NULL;
    if (!ctx) return eqx__err(EQX_ERR_ARG, "eqx_scalar: the ctx is NULL");
    eqx_array *a;
    EQX_TRY(eqx__array_alloc(EQX_F32, 0, NULL, false, &a));
    ((float *)a->data)[0] = v;
    eqx_status s = eqx__ctx_own(ctx, a);
    if (s) { eqx_array_free(a); return s; }
    *out = a;
    return EQX_OK;
}

eqx_status eqx__apply_phys(eqx_ctx *ctx, const eqx_op *op, int nin,
                           const eqx_array *const *in, const eqx_opparams *p, eqx_array **out) {
    *out = NULL;
    eqx_dtype dt;
    int nd = 0;
    int64_t sh[EQX_MAX_DIMS];
    EQX_TRY(op->shape(in, p, &dt, &nd, sh));

    eqx_array *o;
    if (op->view) EQX_TRY(eqx__array_view(in[0], nd, sh, &o)); /* records itself */
    else EQX_TRY(eqx__array_alloc(dt, nd, sh, false, &o));
    eqx_status s = op->fwd ? op->fwd(in, p, o) : EQX_OK;
    if (!s && eqx__rec && !op->view && op->fwd) s = eqx__rec_fwd(op, nin, in, p, o);
    if (!s) s = eqx__ctx_own(ctx, o);
    if (s) { eqx_array_free(o); return s; }

    bool record = false;
    if (ctx->mode == EQX_MODE_GRAD && !op->no_grad)
        for (int i = 0; i < nin; i++) record |= in[i]->node != NULL;
    if (record) {
        struct eqx_tape_entry *e = eqx__calloc(1, sizeof *e);
        if (!e) return eqx__nomem();
        e->op = op;
        e->nin = nin;
        e->p = *p;
        /* the tape holds its own references: inputs may be user arrays freed early */
        for (int i = 0; i < nin; i++) e->in[i] = eqx_array_retain((eqx_array *)in[i]);
        e->out = eqx_array_retain(o);
        s = eqx__tape_push(ctx, e);
        if (s) {
            for (int i = 0; i < nin; i++) eqx_array_free(e->in[i]);
            eqx_array_free(e->out);
            eqx__free(e);
            return s;
        }
        o->node = e;
    }
    *out = o;
    return EQX_OK;
}

eqx_status eqx__apply(eqx_ctx *ctx, const eqx_op *op, int nin, const eqx_array *const *in,
                      const eqx_opparams *p, eqx_array **out) {
    *out = NULL;
    if (!ctx) return eqx__err(EQX_ERR_ARG, "%s: the ctx is NULL (create one with eqx_ctx_new)",
                              op->name);
    bool batched = false;
    for (int i = 0; i < nin; i++) {
        if (!in[i]) return eqx__err(EQX_ERR_ARG, "%s: operand %d is NULL", op->name, i);
        batched |= in[i]->batch != 0;
    }
    if (!batched) return eqx__apply_phys(ctx, op, nin, in, p, out);
    if (!op->batch)
        return eqx__err(EQX_ERR_UNSUPPORTED,
                        "batching rule for '%s' not implemented: it was called under eqx_vmap "
                        "on a batched operand; call it outside the vmapped function, or loop "
                        "over the examples",
                        op->name);
    return op->batch(ctx, op, in, p, out);
}

eqx_status eqx__kernel(const char *name, eqx_kernel_fn kern, int nin, const eqx_array *const *in,
                       int nout, eqx_array *const *out, const float *kp, int nkp) {
    for (int i = 0; i < nin; i++)
        if (in[i] && in[i]->batch)
            return eqx__err(EQX_ERR_UNSUPPORTED,
                            "batching rule for '%s' not implemented: it was given a batched "
                            "array under eqx_vmap; apply it outside the vmapped function",
                            name);
    EQX_TRY(kern(in, out, kp));
    if (eqx__rec) return eqx__rec_kernel(name, kern, nin, in, nout, out, kp, nkp);
    return EQX_OK;
}
