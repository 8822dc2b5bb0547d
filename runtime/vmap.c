/*
 * vmap.c — eqx_vmap: batching rules for every op, and the transform that uses them.
 *
 * Design: a value under eqx_vmap is an ordinary array whose leading axes are batch axes,
 * one per vmap level it varies over (eqx_array.batch has bit i set for level i), outermost
 * level first. Per-example code sees the rest of the shape (eqx_array_shape); ops see the
 * whole array. When an op gets a batched operand, trace.c calls its batching rule here,
 * which checks the per-example ("logical") shapes with the op's own shape rule — so
 * errors read exactly as they would for one example — and then lowers the op to physical
 * ops on the full arrays: elementwise ops by aligning batch axes (reshape views, no copy)
 * and broadcasting; a matrix-vector product against an unbatched matrix (eqx_linear) by
 * one GEMM, x_batch @ W^T; reductions by shifting axes. The lowered ops go through the
 * normal physical path, so the autodiff tape and the jit trace see plain kernels and
 * grad-of-vmap and jit-of-vmap need nothing special. Nested vmaps are just more bits: an
 * operand missing a level gets a size-1 axis there and broadcasting does the rest.
 * (JAX's BatchTracer keeps one batch dim per level anywhere in the shape; keeping them
 * leading means every rule has one layout to handle.)
 */
#include "eqx_internal.h"

#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------ helpers */

/* A stack header with a's per-example shape (same data pointer), for shape checks. */
static void logical_of(const eqx_array *a, eqx_array *l) {
    *l = *a;
    l->ndim = eqx_array_shape(a, l->shape);
    l->size = 1;
    for (int i = 0; i < l->ndim; i++) l->size *= l->shape[i];
    l->batch = 0;
    l->node = NULL;
}

/* Runs the op's own shape rule on per-example shapes: the user's error, in their terms. */
static eqx_status check_logical(const eqx_op *op, const eqx_array *const *in,
                                const eqx_opparams *p, int *nd, int64_t *sh) {
    eqx_array l[EQX__MAX_IN];
    const eqx_array *lp[EQX__MAX_IN];
    for (int i = 0; i < op->nin; i++) {
        logical_of(in[i], &l[i]);
        lp[i] = &l[i];
    }
    eqx_dtype dt;
    return op->shape(lp, p, &dt, nd, sh);
}

static int level_pos(unsigned mask, int level) {
    return __builtin_popcount(mask & ((1u << level) - 1u));
}

/* The batch part of a physical shape for the levels in U: x's size where x has the level,
 * else the level's full size (full) or 1. Returns the count. */
static int batch_dims(eqx_ctx *ctx, const eqx_array *x, unsigned U, bool full, int64_t *dims) {
    int n = 0;
    for (int l = 0; l < EQX__MAX_VMAP; l++) {
        if (!(U >> l & 1u)) continue;
        if (x && (x->batch >> l & 1u)) dims[n++] = x->shape[level_pos(x->batch, l)];
        else dims[n++] = full ? ctx->vmap_size[l] : 1;
    }
    return n;
}

static const eqx_opparams no_params;

static eqx_status phys1(eqx_ctx *ctx, const eqx_op *op, const eqx_array *x,
                        const eqx_opparams *p, eqx_array **out) {
    const eqx_array *in[1] = {x};
    return eqx__apply_phys(ctx, op, 1, in, p ? p : &no_params, out);
}

static eqx_status phys2(eqx_ctx *ctx, const eqx_op *op, const eqx_array *a, const eqx_array *b,
                        const eqx_opparams *p, eqx_array **out) {
    const eqx_array *in[2] = {a, b};
    return eqx__apply_phys(ctx, op, 2, in, p ? p : &no_params, out);
}

static eqx_status too_deep(int n) {
    return eqx__err(EQX_ERR_SHAPE,
                    "eqx_vmap: %d physical dimensions needed (batch axes + per-example axes); "
                    "libeqx arrays have at most %d",
                    n, EQX_MAX_DIMS);
}

/* A reshape view of x to (ndim, shape); x itself when the shape already matches. */
static eqx_status reshape_to(eqx_ctx *ctx, const eqx_array *x, int ndim, const int64_t *shape,
                             eqx_array **out) {
    if (ndim > EQX_MAX_DIMS) return too_deep(ndim);
    bool same = ndim == x->ndim;
    for (int i = 0; same && i < ndim; i++) same = x->shape[i] == shape[i];
    if (same) {
        *out = (eqx_array *)x;
        return EQX_OK;
    }
    eqx_opparams p = {0};
    p.ndim = ndim;
    memcpy(p.shape, shape, sizeof(int64_t) * (size_t)ndim);
    return phys1(ctx, &eqx__reshape_op, x, &p, out);
}

/* x with one leading axis per level of U (size 1 where x does not vary) and its
 * per-example shape left-padded with 1s to rank r: ready for NumPy broadcasting. */
static eqx_status align(eqx_ctx *ctx, const eqx_array *x, unsigned U, int r, eqx_array **out) {
    int64_t sh[2 * EQX_MAX_DIMS], ls[EQX_MAX_DIMS];
    int n = batch_dims(ctx, x, U, false, sh);
    int lr = eqx_array_shape(x, ls);
    for (int i = lr; i < r; i++) sh[n++] = 1;
    for (int i = 0; i < lr; i++) sh[n++] = ls[i];
    return reshape_to(ctx, x, n, sh, out);
}

/* align, then materialise the missing batch levels (for ops that do not broadcast). */
static eqx_status align_full(eqx_ctx *ctx, const eqx_array *x, unsigned U, eqx_array **out) {
    EQX_TRY(align(ctx, x, U, x->ndim - eqx__nb(x), out));
    if ((x->batch & U) == U) return EQX_OK;
    eqx_opparams p = {0};
    int64_t ls[EQX_MAX_DIMS];
    int lr = eqx_array_shape(x, ls);
    p.ndim = batch_dims(ctx, NULL, U, true, p.shape);
    if (p.ndim + lr > EQX_MAX_DIMS) return too_deep(p.ndim + lr);
    for (int i = 0; i < lr; i++) p.shape[p.ndim++] = ls[i];
    return phys1(ctx, &eqx__broadcast_op, *out, &p, out);
}

static eqx_status mark(eqx_array *o, unsigned U, eqx_array **out) {
    o->batch = U;
    *out = o;
    return EQX_OK;
}

/* sum or mean over the per-example axes of x (identity when there are none). */
static eqx_status reduce_logical(eqx_ctx *ctx, const eqx_op *op, const eqx_array *x, int nbx,
                                 int lr, eqx_array **out) {
    if (lr == 0) return phys1(ctx, &eqx__identity_op, x, NULL, out);
    eqx_opparams p = {0};
    p.naxes = lr;
    for (int i = 0; i < lr; i++) p.axes[i] = nbx + i;
    return phys1(ctx, op, x, &p, out);
}

/* ------------------------------------------------------------ rules */

eqx_status eqx__batch_unary(eqx_ctx *ctx, const eqx_op *op, const eqx_array *const *in,
                            const eqx_opparams *p, eqx_array **out) {
    int nd;
    int64_t sh[EQX_MAX_DIMS];
    EQX_TRY(check_logical(op, in, p, &nd, sh));
    eqx_array *o;
    EQX_TRY(phys1(ctx, op, in[0], p, &o)); /* elementwise or along the last axis */
    return mark(o, in[0]->batch, out);
}

eqx_status eqx__batch_binary(eqx_ctx *ctx, const eqx_op *op, const eqx_array *const *in,
                             const eqx_opparams *p, eqx_array **out) {
    int nd;
    int64_t sh[EQX_MAX_DIMS];
    EQX_TRY(check_logical(op, in, p, &nd, sh));
    unsigned U = in[0]->batch | in[1]->batch;
    eqx_array *a, *b, *o;
    EQX_TRY(align(ctx, in[0], U, nd, &a));
    EQX_TRY(align(ctx, in[1], U, nd, &b));
    EQX_TRY(phys2(ctx, op, a, b, p, &o));
    return mark(o, U, out);
}

eqx_status eqx__batch_reduce(eqx_ctx *ctx, const eqx_op *op, const eqx_array *const *in,
                             const eqx_opparams *p, eqx_array **out) {
    int nd;
    int64_t sh[EQX_MAX_DIMS];
    EQX_TRY(check_logical(op, in, p, &nd, sh));
    const eqx_array *x = in[0];
    int nbx = eqx__nb(x), lr = x->ndim - nbx;
    eqx_array *o;
    if (p->naxes == 0) {
        EQX_TRY(reduce_logical(ctx, op, x, nbx, lr, &o));
    } else {
        eqx_opparams q = *p;
        for (int k = 0; k < q.naxes; k++) q.axes[k] += nbx;
        EQX_TRY(phys1(ctx, op, x, &q, &o));
    }
    return mark(o, x->batch, out);
}

eqx_status eqx__batch_reshape(eqx_ctx *ctx, const eqx_op *op, const eqx_array *const *in,
                              const eqx_opparams *p, eqx_array **out) {
    int nd;
    int64_t sh[EQX_MAX_DIMS], ps[2 * EQX_MAX_DIMS];
    EQX_TRY(check_logical(op, in, p, &nd, sh)); /* resolves a -1 per example */
    int n = eqx__nb(in[0]);
    memcpy(ps, in[0]->shape, sizeof(int64_t) * (size_t)n);
    memcpy(ps + n, sh, sizeof(int64_t) * (size_t)nd);
    eqx_array *o;
    EQX_TRY(reshape_to(ctx, in[0], n + nd, ps, &o));
    if (o == in[0]) EQX_TRY(phys1(ctx, &eqx__identity_op, in[0], NULL, &o));
    return mark(o, in[0]->batch, out);
}

eqx_status eqx__batch_transpose(eqx_ctx *ctx, const eqx_op *op, const eqx_array *const *in,
                                const eqx_opparams *p, eqx_array **out) {
    int nd;
    int64_t sh[EQX_MAX_DIMS];
    EQX_TRY(check_logical(op, in, p, &nd, sh));
    int n = eqx__nb(in[0]);
    eqx_opparams q = *p;
    for (int i = 0; i < n; i++) q.perm[i] = i;
    for (int i = 0; i < nd; i++) q.perm[n + i] = n + p->perm[i];
    eqx_array *o;
    EQX_TRY(phys1(ctx, &eqx__transpose_op, in[0], &q, &o));
    return mark(o, in[0]->batch, out);
}

/* Matrix products. With only the vector/matrix operand batched (the layer case) the batch
 * folds into the GEMM's M dimension: one GEMM for the whole batch. With both batched
 * there is no single GEMM; broadcast-multiply-and-sum keeps it one fused computation
 * (and differentiable) at the cost of an (m, k, n) product per example. */
eqx_status eqx__batch_matmul(eqx_ctx *ctx, const eqx_op *op, const eqx_array *const *in,
                             const eqx_opparams *p, eqx_array **out) {
    (void)p;
    int nd;
    int64_t sh[EQX_MAX_DIMS], la[EQX_MAX_DIMS], lb[EQX_MAX_DIMS], ps[2 * EQX_MAX_DIMS];
    EQX_TRY(check_logical(op, in, p, &nd, sh));
    const eqx_array *a = in[0], *b = in[1];
    int ra = eqx_array_shape(a, la), rb = eqx_array_shape(b, lb);
    int64_t K = la[ra - 1];
    unsigned U = a->batch | b->batch;
    eqx_array *t, *y, *o;

    if (!b->batch) { /* (batch.., [m,] k) @ b: fold batch and m into rows */
        int64_t rows2[2] = {K ? a->size / K : 0, K};
        EQX_TRY(reshape_to(ctx, a, 2, rows2, &t));
        EQX_TRY(phys2(ctx, &eqx__matmul_op, t, b, NULL, &y));
        int n = batch_dims(ctx, a, U, false, ps);
        memcpy(ps + n, sh, sizeof(int64_t) * (size_t)nd);
        EQX_TRY(reshape_to(ctx, y, n + nd, ps, &o));
        if (o == y) EQX_TRY(phys1(ctx, &eqx__identity_op, y, NULL, &o));
        return mark(o, U, out);
    }
    if (!a->batch) {
        int nbb = eqx__nb(b), n = batch_dims(ctx, b, U, false, ps);
        int64_t R = 1;
        for (int i = 0; i < n; i++) R *= ps[i];
        if (rb == 1) { /* a @ x for a batch of vectors x: X (R, k) @ a^T, one GEMM */
            int64_t rows2[2] = {R, K};
            EQX_TRY(reshape_to(ctx, b, 2, rows2, &t));
            if (ra == 2) EQX_TRY(phys2(ctx, &eqx__gemm_nt_op, t, a, NULL, &y));
            else EQX_TRY(phys2(ctx, &eqx__matmul_op, t, a, NULL, &y));
        } else { /* a @ B for a batch of matrices: (k, batch.. n) as one wide matrix */
            eqx_opparams q = {0};
            q.perm[0] = nbb;
            for (int i = 0; i < nbb; i++) q.perm[i + 1] = i;
            q.perm[nbb + 1] = nbb + 1;
            EQX_TRY(phys1(ctx, &eqx__transpose_op, b, &q, &t));
            int64_t wide[2] = {K, K ? b->size / K : 0};
            EQX_TRY(reshape_to(ctx, t, 2, wide, &t));
            EQX_TRY(phys2(ctx, &eqx__matmul_op, a, t, NULL, &y)); /* (m, R n) or (R n,) */
            if (ra == 2) {
                int64_t s3[EQX_MAX_DIMS + 2];
                s3[0] = la[0];
                memcpy(s3 + 1, ps, sizeof(int64_t) * (size_t)n);
                s3[n + 1] = lb[1];
                EQX_TRY(reshape_to(ctx, y, n + 2, s3, &y));
                eqx_opparams q2 = {0};
                for (int i = 0; i < n; i++) q2.perm[i] = i + 1;
                q2.perm[n] = 0;
                q2.perm[n + 1] = n + 1;
                EQX_TRY(phys1(ctx, &eqx__transpose_op, y, &q2, &y));
            }
        }
        memcpy(ps + n, sh, sizeof(int64_t) * (size_t)nd);
        EQX_TRY(reshape_to(ctx, y, n + nd, ps, &o));
        if (o == y) EQX_TRY(phys1(ctx, &eqx__identity_op, y, NULL, &o));
        return mark(o, U, out);
    }
    /* both batched: (.., m, k, 1) * (.., 1, k, n), summed over k */
    int n = batch_dims(ctx, a, U, false, ps);
    if (n + 3 > EQX_MAX_DIMS) return too_deep(n + 3);
    int64_t m = ra == 2 ? la[0] : 1, N = rb == 2 ? lb[1] : 1;
    ps[n] = m, ps[n + 1] = K, ps[n + 2] = 1;
    eqx_array *ae, *be, *prod, *sum;
    EQX_TRY(reshape_to(ctx, a, n + 3, ps, &ae));
    n = batch_dims(ctx, b, U, false, ps);
    ps[n] = 1, ps[n + 1] = K, ps[n + 2] = N;
    EQX_TRY(reshape_to(ctx, b, n + 3, ps, &be));
    EQX_TRY(phys2(ctx, &eqx__mul_op, ae, be, NULL, &prod));
    eqx_opparams q = {0};
    q.naxes = 1;
    q.axes[0] = n + 1;
    EQX_TRY(phys1(ctx, &eqx__sum_op, prod, &q, &sum));
    n = batch_dims(ctx, NULL, U, true, ps);
    memcpy(ps + n, sh, sizeof(int64_t) * (size_t)nd);
    EQX_TRY(reshape_to(ctx, sum, n + nd, ps, &o));
    if (o == sum) EQX_TRY(phys1(ctx, &eqx__identity_op, sum, NULL, &o));
    return mark(o, U, out);
}

/* Cross-entropy averages over an example's rows, so the batch needs per-row losses first
 * (cross_entropy_rows), then a mean over each example's own rows. */
eqx_status eqx__batch_cross_entropy(eqx_ctx *ctx, const eqx_op *op, const eqx_array *const *in,
                                    const eqx_opparams *p, eqx_array **out) {
    int nd;
    int64_t sh[EQX_MAX_DIMS];
    EQX_TRY(check_logical(op, in, p, &nd, sh));
    unsigned U = in[0]->batch | in[1]->batch;
    eqx_array *x, *lab, *rows, *o;
    EQX_TRY(align_full(ctx, in[0], U, &x));
    EQX_TRY(align_full(ctx, in[1], U, &lab));
    EQX_TRY(phys2(ctx, &eqx__ce_rows_op, x, lab, NULL, &rows));
    int nU = __builtin_popcount(U);
    EQX_TRY(reduce_logical(ctx, &eqx__mean_op, rows, nU, rows->ndim - nU, &o));
    return mark(o, U, out);
}

eqx_status eqx__batch_mse(eqx_ctx *ctx, const eqx_op *op, const eqx_array *const *in,
                          const eqx_opparams *p, eqx_array **out) {
    int nd;
    int64_t sh[EQX_MAX_DIMS];
    EQX_TRY(check_logical(op, in, p, &nd, sh));
    unsigned U = in[0]->batch | in[1]->batch;
    int lr = eqx_array_shape(in[0], sh);
    eqx_array *a, *b, *d, *sq, *o;
    EQX_TRY(align(ctx, in[0], U, lr, &a));
    EQX_TRY(align(ctx, in[1], U, lr, &b));
    EQX_TRY(phys2(ctx, &eqx__sub_op, a, b, NULL, &d));
    EQX_TRY(phys2(ctx, &eqx__mul_op, d, d, NULL, &sq));
    EQX_TRY(reduce_logical(ctx, &eqx__mean_op, sq, __builtin_popcount(U), lr, &o));
    return mark(o, U, out);
}

/* ------------------------------------------------------------ the transform */

struct eqx_vmapped {
    eqx_fn fn;
    void *user;
    eqx_tree *module;   /* eqx_vmap_module: prepended to the arguments, unmapped */
    int nargs;
    int *in_axes;
    int out_axes;
};

static eqx_status vmapped_alloc(eqx_fn fn, void *user, int nargs, const int *in_axes,
                                int out_axes, eqx_vmapped **out) {
    *out = NULL;
    if (!fn) return eqx__err(EQX_ERR_ARG, "eqx_vmap: fn is NULL");
    if (nargs < 1 || !in_axes)
        return eqx__err(EQX_ERR_ARG, "eqx_vmap: give one in_axes entry per argument (%d given)",
                        nargs);
    eqx_vmapped *v = eqx__calloc(1, sizeof *v);
    int *ax = eqx__malloc(sizeof(int) * (size_t)nargs);
    if (!v || !ax) {
        eqx__free(v);
        eqx__free(ax);
        return eqx__nomem();
    }
    memcpy(ax, in_axes, sizeof(int) * (size_t)nargs);
    v->fn = fn;
    v->user = user;
    v->nargs = nargs;
    v->in_axes = ax;
    v->out_axes = out_axes;
    *out = v;
    return EQX_OK;
}

eqx_status eqx_vmap(eqx_fn fn, void *user, int nargs, const int *in_axes, int out_axes,
                    eqx_vmapped **out) {
    return vmapped_alloc(fn, user, nargs, in_axes, out_axes, out);
}

eqx_status eqx_vmap_module(const eqx_tree *module, int in_axis, int out_axis,
                           eqx_vmapped **out) {
    *out = NULL;
    if (!module || module->kind != EQX_MODULE)
        return eqx__err(EQX_ERR_TYPE, "eqx_vmap_module: the function to map must be a module");
    int axes[2] = {EQX_UNMAPPED, in_axis};
    EQX_TRY(vmapped_alloc(eqx_module_fn, NULL, 2, axes, out_axis, out));
    (*out)->module = eqx_tree_retain((eqx_tree *)module);
    return EQX_OK;
}

void eqx_vmapped_free(eqx_vmapped *vf) {
    if (!vf) return;
    eqx_tree_free(vf->module);
    eqx__free(vf->in_axes);
    eqx__free(vf);
}

/* x with level `level` added as its last batch axis, taken from per-example axis ax. */
static eqx_status enter(eqx_ctx *ctx, const eqx_array *x, int ax, int level, eqx_array **out) {
    int nb = eqx__nb(x);
    eqx_array *v;
    if (ax == 0) {
        EQX_TRY(phys1(ctx, &eqx__identity_op, x, NULL, &v));
    } else {
        eqx_opparams q = {0};
        int k = 0;
        for (int i = 0; i < nb; i++) q.perm[k++] = i;
        q.perm[k++] = nb + ax;
        for (int i = nb; i < x->ndim; i++)
            if (i != nb + ax) q.perm[k++] = i;
        EQX_TRY(phys1(ctx, &eqx__transpose_op, x, &q, &v));
    }
    return mark(v, x->batch | 1u << level, out);
}

/* x without level `level`: its batch axis becomes per-example axis ax of the result (an
 * unbatched x is broadcast to size B there, as jax.vmap does for out_axes). */
static eqx_status leave(eqx_ctx *ctx, const eqx_array *x, int level, int ax, int64_t B,
                        const char *path, eqx_array **out) {
    unsigned bit = 1u << level, rest = x->batch & ~bit;
    int nbo = __builtin_popcount(rest), lr = x->ndim - eqx__nb(x);
    bool has = (x->batch & bit) != 0;
    char b1[96];
    if (ax == EQX_UNMAPPED) {
        if (has)
            return eqx__err(EQX_ERR_SHAPE,
                            "eqx_vmap: out_axes is EQX_UNMAPPED but the result at %s %s varies "
                            "over the batch; give it an output axis (out_axes=0)",
                            path, eqx_shape_str(x, b1, sizeof b1));
        eqx_array *v;
        EQX_TRY(phys1(ctx, &eqx__identity_op, x, NULL, &v));
        return mark(v, rest, out);
    }
    int a = ax < 0 ? ax + lr + 1 : ax;
    if (a < 0 || a > lr)
        return eqx__err(EQX_ERR_ARG,
                        "eqx_vmap: out_axes=%d is out of range for the result at %s, whose "
                        "per-example shape is %s",
                        ax, path, eqx_shape_str(x, b1, sizeof b1));
    eqx_array *v;
    if (has && a == 0) {
        EQX_TRY(phys1(ctx, &eqx__identity_op, x, NULL, &v));
    } else if (has) {
        eqx_opparams q = {0};
        int k = 0;
        for (int i = 0; i < x->ndim; i++) {
            if (i == nbo) continue;
            if (k == nbo + a) q.perm[k++] = nbo;
            q.perm[k++] = i;
        }
        if (k == nbo + a) q.perm[k++] = nbo;
        EQX_TRY(phys1(ctx, &eqx__transpose_op, x, &q, &v));
    } else {
        if (x->ndim + 1 > EQX_MAX_DIMS) return too_deep(x->ndim + 1);
        int64_t s1[EQX_MAX_DIMS];
        eqx_opparams q = {0};
        q.ndim = x->ndim + 1;
        for (int i = 0, k = 0; i < q.ndim; i++) {
            if (i == nbo + a) {
                s1[i] = 1;
                q.shape[i] = B;
            } else {
                s1[i] = q.shape[i] = x->shape[k++];
            }
        }
        EQX_TRY(reshape_to(ctx, x, q.ndim, s1, &v));
        EQX_TRY(phys1(ctx, &eqx__broadcast_op, v, &q, &v));
    }
    return mark(v, rest, out);
}

typedef struct flat_t {
    eqx_treedef *td;
    eqx_tree **leaves;
    char **paths;
    int n;
} flat_t;

static void flat_release(flat_t *f) {
    eqx__paths_free(f->paths, f->n);
    eqx_leaves_free(f->leaves, f->n);
    eqx_treedef_free(f->td);
    memset(f, 0, sizeof *f);
}

/* Rebuilds f's tree with each array leaf replaced by map(leaf). */
typedef eqx_status (*leaf_map)(eqx_ctx *ctx, const eqx_array *a, const char *path, void *st,
                               eqx_array **out);

static eqx_status map_arrays(eqx_ctx *ctx, const flat_t *f, leaf_map fn, void *st,
                             eqx_tree **out) {
    eqx_tree **nl = eqx__calloc((size_t)(f->n ? f->n : 1), sizeof *nl);
    if (!nl) return eqx__nomem();
    eqx_status s = EQX_OK;
    for (int i = 0; i < f->n && !s; i++) {
        const eqx_array *a = eqx_tree_array(f->leaves[i]);
        if (!a) {
            nl[i] = eqx_tree_retain(f->leaves[i]);
            continue;
        }
        eqx_array *m = NULL;
        s = fn(ctx, a, f->paths[i], st, &m);
        if (!s) s = eqx_leaf_array(m, &nl[i]);
    }
    if (!s) s = eqx_tree_unflatten(f->td, nl, f->n, out);
    eqx_leaves_free(nl, f->n);
    return s;
}

typedef struct enter_st {
    int ax, level;
} enter_st;
static eqx_status enter_leaf(eqx_ctx *ctx, const eqx_array *a, const char *path, void *st,
                             eqx_array **out) {
    (void)path;
    const enter_st *e = st;
    int64_t ls[EQX_MAX_DIMS];
    int lr = eqx_array_shape(a, ls);
    return enter(ctx, a, e->ax < 0 ? e->ax + lr : e->ax, e->level, out);
}

typedef struct leave_st {
    int level, ax;
    int64_t B;
} leave_st;
static eqx_status leave_leaf(eqx_ctx *ctx, const eqx_array *a, const char *path, void *st,
                             eqx_array **out) {
    const leave_st *l = st;
    return leave(ctx, a, l->level, l->ax, l->B, path, out);
}

static eqx_status vmap_call(eqx_ctx *ctx, const eqx_vmapped *vf, const eqx_tree *args,
                            eqx_tree **out) {
    int n = vf->nargs;
    if (args->kind != EQX_TUPLE && args->kind != EQX_LIST)
        return eqx__err(EQX_ERR_TYPE, "eqx_vmapped_call: args must be a tuple (or list) of the "
                        "%d arguments", n);
    if (args->u.c.n != n)
        return eqx__err(EQX_ERR_ARG, "eqx_vmapped_call: in_axes has %d entries but %d arguments "
                        "were given; in_axes needs one entry per argument (EQX_UNMAPPED for an "
                        "unmapped one)", n, args->u.c.n);
    if (ctx->vmap_depth >= EQX__MAX_VMAP)
        return eqx__err(EQX_ERR_UNSUPPORTED, "eqx_vmap: at most %d nested vmaps", EQX__MAX_VMAP);
    EQX_TRY(eqx__tree_check_named(args, "args"));
    int level = ctx->vmap_depth;

    flat_t *f = eqx__calloc((size_t)n, sizeof *f);
    eqx_tree **margs = eqx__calloc((size_t)n, sizeof *margs), *mtuple = NULL, *res = NULL;
    flat_t fo = {0};
    if (!f || !margs) {
        eqx__free(f);
        eqx__free(margs);
        return eqx__nomem();
    }
    eqx_status s = EQX_OK;
    int64_t B = -1;
    const char *bpath = NULL;
    int bax = 0;
    char root[32], b1[96];
    for (int i = 0; i < n && !s; i++) {
        int ax = vf->in_axes[i];
        if (ax == EQX_UNMAPPED) continue;
        snprintf(root, sizeof root, "args[%d]", i);
        if ((s = eqx__flatten(args->u.c.children[i], root, &f[i].td, &f[i].leaves, &f[i].n,
                              &f[i].paths)))
            break;
        for (int k = 0; k < f[i].n; k++) {
            const eqx_array *a = eqx_tree_array(f[i].leaves[k]);
            if (!a) continue; /* only arrays are mapped, as in eqx.filter_vmap */
            int64_t ls[EQX_MAX_DIMS];
            int lr = eqx_array_shape(a, ls), r = ax < 0 ? ax + lr : ax;
            if (r < 0 || r >= lr) {
                s = eqx__err(EQX_ERR_ARG,
                             "eqx_vmap: in_axes[%d]=%d but %s has shape %s, which has no axis "
                             "%d to map over",
                             i, ax, f[i].paths[k], eqx_shape_str(a, b1, sizeof b1), ax);
                break;
            }
            if (B < 0) {
                B = ls[r];
                bpath = f[i].paths[k];
                bax = r;
            } else if (ls[r] != B) {
                s = eqx__err(EQX_ERR_SHAPE,
                             "eqx_vmap got inconsistent sizes for the array axes to be mapped: "
                             "%s has size %lld along axis %d, but %s has size %lld along axis "
                             "%d",
                             bpath, (long long)B, bax, f[i].paths[k], (long long)ls[r], r);
                break;
            }
        }
    }
    if (!s && B < 0)
        s = eqx__err(EQX_ERR_ARG,
                     "eqx_vmap: nothing to map over: no argument with an in_axes entry has an "
                     "array leaf (vmap must have at least one non-None value in in_axes)");
    for (int i = 0; i < n && !s; i++) {
        if (vf->in_axes[i] == EQX_UNMAPPED) {
            margs[i] = eqx_tree_retain(args->u.c.children[i]);
            continue;
        }
        enter_st st = {vf->in_axes[i], level};
        s = map_arrays(ctx, &f[i], enter_leaf, &st, &margs[i]);
    }
    if (!s) s = eqx_tuple_new(n, margs, &mtuple);
    if (!s) {
        ctx->vmap_size[level] = B;
        ctx->vmap_depth++;
        s = vf->fn(ctx, mtuple, vf->user, &res);
        ctx->vmap_depth--;
        if (!s && !res) s = eqx__err(EQX_ERR_ARG, "eqx_vmap: the mapped function gave no result");
    }
    if (!s) s = eqx__flatten(res, "result", &fo.td, &fo.leaves, &fo.n, &fo.paths);
    if (!s) {
        leave_st st = {level, vf->out_axes, B};
        s = map_arrays(ctx, &fo, leave_leaf, &st, out);
    }
    flat_release(&fo);
    eqx_tree_free(res);
    eqx_tree_free(mtuple);
    for (int i = 0; i < n; i++) {
        flat_release(&f[i]);
        eqx_tree_free(margs[i]);
    }
    eqx__free(f);
    eqx__free(margs);
    return s;
}

eqx_status eqx_vmapped_call(eqx_ctx *ctx, const eqx_vmapped *vf, const eqx_tree *args,
                            eqx_tree **out) {
    *out = NULL;
    if (!ctx || !vf || !args)
        return eqx__err(EQX_ERR_ARG, "eqx_vmapped_call: ctx, vf and args are required");
    if (!vf->module) return vmap_call(ctx, vf, args, out);
    /* jax.vmap(model)(x): the module is an extra, unmapped first argument */
    if ((args->kind != EQX_TUPLE && args->kind != EQX_LIST) || args->u.c.n != 1)
        return eqx__err(EQX_ERR_ARG, "eqx_vmapped_call: a vmapped module takes args = (x,)");
    eqx_tree *kids[2] = {vf->module, args->u.c.children[0]}, *t;
    EQX_TRY(eqx_tuple_new(2, kids, &t));
    eqx_status s = vmap_call(ctx, vf, t, out);
    eqx_tree_free(t);
    return s;
}

eqx_status eqx_vmapped_call_array(eqx_ctx *ctx, const eqx_vmapped *vf, const eqx_array *x,
                                  eqx_array **out) {
    *out = NULL;
    if (!x) return eqx__err(EQX_ERR_ARG, "eqx_vmapped_call_array: x is NULL");
    eqx_tree *l, *t, *r = NULL;
    EQX_TRY(eqx_leaf_array((eqx_array *)x, &l));
    eqx_status s = eqx_tuple_new(1, &l, &t);
    eqx_tree_free(l);
    if (s) return s;
    s = eqx_vmapped_call(ctx, vf, t, &r);
    eqx_tree_free(t);
    if (!s && r->kind != EQX_LEAF_ARRAY)
        s = eqx__err(EQX_ERR_TYPE, "eqx_vmapped_call_array: the mapped function returned a "
                     "tree, not one array; use eqx_vmapped_call");
    if (!s) *out = r->u.array; /* ctx-owned: leave() made it through an op */
    eqx_tree_free(r);
    return s;
}

eqx_status eqx_vmapped_fn(eqx_ctx *ctx, const eqx_tree *args, void *user, eqx_tree **out) {
    return eqx_vmapped_call(ctx, user, args, out);
}

eqx_status eqx_module_fn(eqx_ctx *ctx, const eqx_tree *args, void *user, eqx_tree **out) {
    (void)user;
    *out = NULL;
    const eqx_array *x = eqx_tree_array(eqx_tree_child(args, 1));
    if (eqx_tree_nchildren(args) != 2 || !x)
        return eqx__err(EQX_ERR_ARG, "eqx_module_fn: args must be (module, x) with x an array");
    eqx_array *y;
    EQX_TRY(eqx_module_call(ctx, eqx_tree_child(args, 0), x, NULL, &y));
    return eqx_leaf_array(y, out);
}

eqx_status eqx__vmap_materialize(eqx_ctx *ctx, const eqx_array *x, unsigned levels,
                                 eqx_array **out) {
    eqx_array *a;
    EQX_TRY(align_full(ctx, x, levels | x->batch, &a));
    if (a == x) EQX_TRY(phys1(ctx, &eqx__identity_op, x, NULL, &a)); /* a new header */
    return mark(a, levels | x->batch, out);
}
