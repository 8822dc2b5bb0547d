/*
 * ops.c — the op set: for each op a shape rule, a forward kernel and a backward rule.
 *
 * Design: ops know nothing about evaluation modes. Each public function fills an
 * eqx_opparams and hands its op descriptor to eqx__apply (trace.c), which lets the ctx
 * decide: run eagerly, or run and record onto the autodiff tape; batching (eqx_vmap) and
 * tracing (eqx_filter_jit) will be further modes of the same dispatcher, adding a batching
 * rule per descriptor rather than a second op set. Backward rules accumulate (+=) into
 * the input gradients, which is what makes a value used twice (shared weights) get the
 * sum of both contributions with no special casing.
 */
#include "eqx_internal.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

/* ------------------------------------------------------------ helpers */

_Thread_local long eqx__gemm_calls;
long eqx_debug_gemm_calls(void) { return eqx__gemm_calls; }

static eqx_status need_f32(const char *op, const eqx_array *a) {
    if (a->dtype == EQX_F32) return EQX_OK;
    char b[96];
    return eqx__err(EQX_ERR_DTYPE, "%s needs a float32 array, got %s %s", op,
                    eqx__dtype_name(a->dtype), eqx_shape_str(a, b, sizeof b));
}

static void copy_shape(const eqx_array *a, int *ndim, int64_t *shape) {
    *ndim = a->ndim;
    for (int i = 0; i < a->ndim; i++) shape[i] = a->shape[i];
}

static void strides_of(int ndim, const int64_t *shape, int64_t *st) {
    int64_t s = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        st[i] = s;
        s *= shape[i];
    }
}

void eqx__bcast_plan(const eqx_array *a, const eqx_array *b, eqx_bcast *bc) {
    int nd = a->ndim > b->ndim ? a->ndim : b->ndim;
    int64_t sta[EQX_MAX_DIMS], stb[EQX_MAX_DIMS];
    strides_of(a->ndim, a->shape, sta);
    strides_of(b->ndim, b->shape, stb);
    bc->ndim = nd;
    for (int d = 0; d < nd; d++) {
        int da = d - (nd - a->ndim), db = d - (nd - b->ndim);
        int64_t ea = da >= 0 ? a->shape[da] : 1, eb = db >= 0 ? b->shape[db] : 1;
        bc->shape[d] = ea > eb ? ea : eb;
        bc->sa[d] = (da >= 0 && ea != 1) ? sta[da] : 0;
        bc->sb[d] = (db >= 0 && eb != 1) ? stb[db] : 0;
    }
}

/* Advances a multi-index over bc->shape, keeping two flat offsets in step. */
#define BCAST_LOOP(bc, N, ...)                                                       \
    do {                                                                              \
        int64_t idx_[EQX_MAX_DIMS] = {0}, ia = 0, ib = 0;                            \
        for (int64_t o = 0; o < (N); o++) {                                           \
            __VA_ARGS__;                                                              \
            for (int d_ = (bc)->ndim - 1; d_ >= 0; d_--) {                            \
                ia += (bc)->sa[d_];                                                   \
                ib += (bc)->sb[d_];                                                   \
                if (++idx_[d_] < (bc)->shape[d_]) break;                              \
                ia -= (bc)->sa[d_] * (bc)->shape[d_];                                 \
                ib -= (bc)->sb[d_] * (bc)->shape[d_];                                 \
                idx_[d_] = 0;                                                         \
            }                                                                         \
        }                                                                             \
    } while (0)

/* ------------------------------------------------------------ binary elementwise */

enum { BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV };
static const char *const bin_names[] = {"eqx_add", "eqx_sub", "eqx_mul", "eqx_div"};

static eqx_status bin_shape_named(const char *name, const eqx_array *const *in,
                                  eqx_dtype *dt, int *nd, int64_t *sh) {
    EQX_TRY(need_f32(name, in[0]));
    EQX_TRY(need_f32(name, in[1]));
    const eqx_array *a = in[0], *b = in[1];
    int n = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int d = 0; d < n; d++) {
        int da = d - (n - a->ndim), db = d - (n - b->ndim);
        int64_t ea = da >= 0 ? a->shape[da] : 1, eb = db >= 0 ? b->shape[db] : 1;
        if (ea != eb && ea != 1 && eb != 1) {
            char s1[96], s2[96];
            return eqx__err(EQX_ERR_SHAPE,
                            "%s: shapes %s and %s cannot be broadcast together (axis %d: %lld "
                            "vs %lld); reshape one of them or check the operands",
                            name, eqx_shape_str(a, s1, sizeof s1), eqx_shape_str(b, s2, sizeof s2),
                            d, (long long)ea, (long long)eb);
        }
        sh[d] = ea > eb ? ea : eb;
    }
    *nd = n;
    *dt = EQX_F32;
    return EQX_OK;
}

/* The broadcast loop split into an outer walk over all axes but the last and a contiguous
 * inner loop: with the last axis unit-strided in both operands (the bias-add case, and
 * any same-shape case) the inner loop vectorises; per-element index arithmetic, which
 * dominated small-layer time, is paid once per row. */
#define ROWS_LOOP(bc, N, ...)                                                          \
    do {                                                                              \
        int last_ = (bc)->ndim - 1;                                                   \
        int64_t inner = last_ >= 0 ? (bc)->shape[last_] : 1;                          \
        int64_t sai = last_ >= 0 ? (bc)->sa[last_] : 0;                               \
        int64_t sbi = last_ >= 0 ? (bc)->sb[last_] : 0;                               \
        eqx_bcast outer_ = *(bc);                                                      \
        outer_.ndim = last_ > 0 ? last_ : 0;                                          \
        int64_t nouter_ = inner ? (N) / inner : 0;                                    \
        BCAST_LOOP(&outer_, nouter_, {                                                \
            int64_t row0 = o * inner;                                                 \
            __VA_ARGS__;                                                              \
        });                                                                           \
    } while (0)

#define DEF_BIN(NAME, CODE, OPNAME, EXPR, GA, GB)                                              \
    static eqx_status NAME##_shape(const eqx_array *const *in, const eqx_opparams *p,   \
                                   eqx_dtype *dt, int *nd, int64_t *sh) {               \
        (void)p;                                                                         \
        return bin_shape_named(bin_names[CODE], in, dt, nd, sh);                         \
    }                                                                                    \
    static eqx_status NAME##_fwd(const eqx_array *const *in, const eqx_opparams *p,     \
                                 eqx_array *out) {                                       \
        (void)p;                                                                         \
        const float *A = in[0]->data, *B = in[1]->data;                                 \
        float *Y = out->data;                                                            \
        if (eqx__same_shape(in[0], in[1])) {                                             \
            for (int64_t i = 0; i < out->size; i++) {                                   \
                float a = A[i], b = B[i];                                               \
                Y[i] = (EXPR);                                                           \
            }                                                                            \
            return EQX_OK;                                                               \
        }                                                                                \
        eqx_bcast bc;                                                                    \
        eqx__bcast_plan(in[0], in[1], &bc);                                              \
        ROWS_LOOP(&bc, out->size, {                                                      \
            const float *Ar = A + ia, *Br = B + ib;                                     \
            float *Yr = Y + row0;                                                        \
            if (sai == 1 && sbi == 1)                                                    \
                for (int64_t i = 0; i < inner; i++) {                                   \
                    float a = Ar[i], b = Br[i];                                         \
                    Yr[i] = (EXPR);                                                      \
                }                                                                        \
            else if (sai == 1 && sbi == 0)                                               \
                for (int64_t i = 0; i < inner; i++) {                                   \
                    float a = Ar[i], b = Br[0];                                         \
                    Yr[i] = (EXPR);                                                      \
                }                                                                        \
            else                                                                         \
                for (int64_t i = 0; i < inner; i++) {                                   \
                    float a = Ar[i * sai], b = Br[i * sbi];                             \
                    Yr[i] = (EXPR);                                                      \
                }                                                                        \
        });                                                                              \
        return EQX_OK;                                                                   \
    }                                                                                    \
    static void NAME##_vjp(const struct eqx_tape_entry *e, const float *g, float **gin) { \
        const float *A = e->in[0]->data, *B = e->in[1]->data;                           \
        float *GA_ = gin[0], *GB_ = gin[1];                                              \
        eqx_bcast bc;                                                                    \
        eqx__bcast_plan(e->in[0], e->in[1], &bc);                                        \
        ROWS_LOOP(&bc, e->out->size, {                                                   \
            const float *Ar = A + ia, *Br = B + ib, *gr = g + row0;                     \
            float *GAr = GA_ ? GA_ + ia : NULL, *GBr = GB_ ? GB_ + ib : NULL;           \
            for (int64_t i = 0; i < inner; i++) {                                       \
                float a = Ar[i * sai], b = Br[i * sbi], gg = gr[i];                     \
                (void)a;                                                                 \
                (void)b;                                                                 \
                if (GAr) GAr[i * sai] += (GA);                                           \
                if (GBr) GBr[i * sbi] += (GB);                                           \
            }                                                                            \
        });                                                                              \
    }                                                                                    \
    const eqx_op eqx__##NAME##_op = {OPNAME, 2, NAME##_shape, NAME##_fwd,               \
                                     NAME##_vjp, false, false, eqx__batch_binary, false};

DEF_BIN(add, BIN_ADD, "eqx_add", a + b, gg, gg)
DEF_BIN(sub, BIN_SUB, "eqx_sub", a - b, gg, -gg)
DEF_BIN(mul, BIN_MUL, "eqx_mul", a * b, gg * b, gg * a)
DEF_BIN(divide, BIN_DIV, "eqx_div", a / b, gg / b, -gg * a / (b * b))

/* ------------------------------------------------------------ unary elementwise */

static const float GELU_C = 0.7978845608028654f; /* sqrt(2/pi) */

static float gelu_f(float x) {
    return 0.5f * x * (1.0f + tanhf(GELU_C * (x + 0.044715f * x * x * x)));
}
static float gelu_d(float x) {
    float t = tanhf(GELU_C * (x + 0.044715f * x * x * x));
    return 0.5f * (1.0f + t) + 0.5f * x * (1.0f - t * t) * GELU_C * (1.0f + 3.0f * 0.044715f * x * x);
}

static eqx_status same_shape_f32(const char *name, const eqx_array *const *in, eqx_dtype *dt,
                                 int *nd, int64_t *sh) {
    EQX_TRY(need_f32(name, in[0]));
    copy_shape(in[0], nd, sh);
    *dt = EQX_F32;
    return EQX_OK;
}

/* y = F(x, s); dy/dx = D(x, y, s) with s = p->scalar */
#define DEF_UNARY(NAME, PUB, F, D)                                                       \
    static eqx_status NAME##_shape(const eqx_array *const *in, const eqx_opparams *p,   \
                                   eqx_dtype *dt, int *nd, int64_t *sh) {               \
        (void)p;                                                                         \
        return same_shape_f32(PUB, in, dt, nd, sh);                                      \
    }                                                                                    \
    static eqx_status NAME##_fwd(const eqx_array *const *in, const eqx_opparams *p,     \
                                 eqx_array *out) {                                       \
        const float *restrict X = in[0]->data; /* out is always a fresh buffer */       \
        float *restrict Y = out->data;                                                   \
        float s = p->scalar;                                                             \
        (void)s;                                                                         \
        for (int64_t i = 0; i < out->size; i++) {                                       \
            float x = X[i];                                                              \
            Y[i] = (F);                                                                  \
        }                                                                                \
        return EQX_OK;                                                                   \
    }                                                                                    \
    static void NAME##_vjp(const struct eqx_tape_entry *e, const float *g, float **gin) { \
        const float *restrict X = e->in[0]->data, *restrict Y = e->out->data;           \
        const float *restrict G_ = g;                                                    \
        float s = e->p.scalar;                                                           \
        (void)s;                                                                         \
        if (!gin[0]) return;                                                             \
        float *restrict GI = gin[0]; /* the input's gradient buffer: its own array */  \
        if (e->fresh & 1u) {                                                             \
            for (int64_t i = 0; i < e->out->size; i++) {                                \
                float x = X[i], y = Y[i];                                               \
                (void)x;                                                                 \
                (void)y;                                                                 \
                GI[i] = G_[i] * (D);                                                     \
            }                                                                            \
            return;                                                                      \
        }                                                                                \
        for (int64_t i = 0; i < e->out->size; i++) {                                    \
            float x = X[i], y = Y[i];                                                   \
            (void)x;                                                                     \
            (void)y;                                                                     \
            GI[i] += G_[i] * (D);                                                        \
        }                                                                                \
    }                                                                                    \
    static const eqx_op NAME##_op = {PUB, 1, NAME##_shape, NAME##_fwd, NAME##_vjp,      \
                                     false, false, eqx__batch_unary, true};

DEF_UNARY(tanh, "eqx_tanh", tanhf(x), 1.0f - y * y)
DEF_UNARY(relu, "eqx_relu", x > 0.0f ? x : 0.0f, x > 0.0f ? 1.0f : 0.0f)
DEF_UNARY(gelu, "eqx_gelu", gelu_f(x), gelu_d(x))
DEF_UNARY(exp, "eqx_exp", expf(x), y)
DEF_UNARY(log, "eqx_log", logf(x), 1.0f / x)
DEF_UNARY(sqrt, "eqx_sqrt", sqrtf(x), 0.5f / y)
DEF_UNARY(scale, "eqx_mul_scalar", x * s, s)

/* ------------------------------------------------------------ views */

static eqx_status any_shape(const eqx_array *const *in, const eqx_opparams *p, eqx_dtype *dt,
                            int *nd, int64_t *sh) {
    (void)p;
    copy_shape(in[0], nd, sh);
    *dt = in[0]->dtype;
    return EQX_OK;
}

static void pass_vjp(const struct eqx_tape_entry *e, const float *g, float **gin) {
    if (!gin[0]) return;
    if (e->fresh & 1u) memcpy(gin[0], g, (size_t)e->out->size * sizeof(float));
    else
        for (int64_t i = 0; i < e->out->size; i++) gin[0][i] += g[i];
}


const eqx_op eqx__identity_op = {"eqx_identity", 1, any_shape, NULL, pass_vjp, true, false,
                                 eqx__batch_unary, true};
static const eqx_op stop_gradient_op = {"eqx_stop_gradient", 1, any_shape, NULL, NULL, true,
                                        true, eqx__batch_unary, false};

static eqx_status reshape_shape(const eqx_array *const *in, const eqx_opparams *p,
                                eqx_dtype *dt, int *nd, int64_t *sh) {
    int infer = -1;
    int64_t known = 1;
    for (int i = 0; i < p->ndim; i++) {
        if (p->shape[i] == -1 && infer < 0) infer = i;
        else if (p->shape[i] < 0)
            return eqx__err(EQX_ERR_ARG, "eqx_reshape: dimension %d is %lld", i,
                            (long long)p->shape[i]);
        else known *= p->shape[i];
        sh[i] = p->shape[i];
    }
    if (infer >= 0 && known > 0 && in[0]->size % known == 0) sh[infer] = in[0]->size / known;
    int64_t size = 1;
    for (int i = 0; i < p->ndim; i++) size *= sh[i];
    if (size != in[0]->size || (infer >= 0 && known == 0)) {
        char s1[96];
        return eqx__err(EQX_ERR_SHAPE,
                        "eqx_reshape: cannot reshape %s (%lld elements) to a %d-d shape with "
                        "%lld elements",
                        eqx_shape_str(in[0], s1, sizeof s1), (long long)in[0]->size,
                        p->ndim, (long long)size);
    }
    *nd = p->ndim;
    *dt = in[0]->dtype;
    return EQX_OK;
}
const eqx_op eqx__reshape_op = {"eqx_reshape", 1, reshape_shape, NULL, pass_vjp, true, false,
                                eqx__batch_reshape, true};

/* ------------------------------------------------------------ transpose */

static eqx_status transpose_shape(const eqx_array *const *in, const eqx_opparams *p,
                                  eqx_dtype *dt, int *nd, int64_t *sh) {
    int n = in[0]->ndim;
    bool used[EQX_MAX_DIMS] = {false};
    for (int i = 0; i < n; i++) {
        int q = p->perm[i];
        if (q < 0 || q >= n || used[q])
            return eqx__err(EQX_ERR_ARG,
                            "eqx_transpose: perm must be a permutation of 0..%d; entry %d is %d",
                            n - 1, i, q);
        used[q] = true;
        sh[i] = in[0]->shape[q];
    }
    *nd = n;
    *dt = in[0]->dtype;
    return EQX_OK;
}

/* Walks the output in order; `src` is the matching flat offset in the input. */
#define PERM_LOOP(x, p, ndim_, outshape, ...)                                           \
    do {                                                                              \
        int64_t ist_[EQX_MAX_DIMS], st_[EQX_MAX_DIMS], idx_[EQX_MAX_DIMS] = {0};     \
        int64_t src = 0, total_ = 1;                                                  \
        strides_of((x)->ndim, (x)->shape, ist_);                                      \
        for (int i_ = 0; i_ < (ndim_); i_++) {                                        \
            st_[i_] = ist_[(p)->perm[i_]];                                            \
            total_ *= (outshape)[i_];                                                 \
        }                                                                             \
        for (int64_t o = 0; o < total_; o++) {                                        \
            __VA_ARGS__;                                                              \
            for (int d_ = (ndim_) - 1; d_ >= 0; d_--) {                               \
                src += st_[d_];                                                       \
                if (++idx_[d_] < (outshape)[d_]) break;                               \
                src -= st_[d_] * (outshape)[d_];                                      \
                idx_[d_] = 0;                                                         \
            }                                                                         \
        }                                                                             \
    } while (0)

static eqx_status transpose_fwd(const eqx_array *const *in, const eqx_opparams *p,
                                eqx_array *out) {
    const int32_t *X = in[0]->data; /* 4-byte elements of either dtype */
    int32_t *Y = out->data;
    PERM_LOOP(in[0], p, out->ndim, out->shape, Y[o] = X[src]);
    return EQX_OK;
}

static void transpose_vjp(const struct eqx_tape_entry *e, const float *g, float **gin) {
    if (!gin[0]) return;
    float *G = gin[0];
    PERM_LOOP(e->in[0], &e->p, e->out->ndim, e->out->shape, G[src] += g[o]);
}
const eqx_op eqx__transpose_op = {"eqx_transpose", 1, transpose_shape, transpose_fwd,
                                  transpose_vjp, false, false, eqx__batch_transpose, false};

/* ------------------------------------------------------------ reductions */

static eqx_status reduce_shape(const char *name, const eqx_array *const *in,
                               const eqx_opparams *p, eqx_dtype *dt, int *nd, int64_t *sh) {
    EQX_TRY(need_f32(name, in[0]));
    int n = 0;
    for (int d = 0; d < in[0]->ndim; d++) {
        bool red = p->naxes == 0;
        for (int k = 0; k < p->naxes; k++)
            if (p->axes[k] == d) red = true;
        if (!red) sh[n++] = in[0]->shape[d];
    }
    *nd = n;
    *dt = EQX_F32;
    return EQX_OK;
}

/* Input strides into the output: 0 along reduced axes. */
static void reduce_plan(const eqx_array *x, const eqx_opparams *p, eqx_bcast *bc) {
    int64_t ost[EQX_MAX_DIMS];
    int64_t oshape[EQX_MAX_DIMS];
    int n = 0;
    bool red[EQX_MAX_DIMS];
    for (int d = 0; d < x->ndim; d++) {
        red[d] = p->naxes == 0;
        for (int k = 0; k < p->naxes; k++)
            if (p->axes[k] == d) red[d] = true;
        if (!red[d]) oshape[n++] = x->shape[d];
    }
    strides_of(n, oshape, ost);
    bc->ndim = x->ndim;
    strides_of(x->ndim, x->shape, bc->sa);
    for (int d = 0, k = 0; d < x->ndim; d++) {
        bc->shape[d] = x->shape[d];
        bc->sb[d] = red[d] ? 0 : ost[k++];
    }
}

static int64_t reduce_count(const eqx_array *x, const eqx_array *out) {
    return out->size ? x->size / out->size : 1;
}

static eqx_status sum_shape(const eqx_array *const *in, const eqx_opparams *p, eqx_dtype *dt,
                            int *nd, int64_t *sh) {
    return reduce_shape("eqx_sum", in, p, dt, nd, sh);
}
static eqx_status mean_shape(const eqx_array *const *in, const eqx_opparams *p, eqx_dtype *dt,
                             int *nd, int64_t *sh) {
    return reduce_shape("eqx_mean", in, p, dt, nd, sh);
}

static void reduce_fwd_scaled(const eqx_array *x, const eqx_opparams *p, eqx_array *out,
                              float scale) {
    const float *X = x->data;
    float *Y = out->data;
    memset(Y, 0, (size_t)out->size * 4);
    eqx_bcast bc;
    reduce_plan(x, p, &bc);
    BCAST_LOOP(&bc, x->size, Y[ib] += X[ia]);
    for (int64_t i = 0; i < out->size; i++) Y[i] *= scale;
}

static eqx_status sum_fwd(const eqx_array *const *in, const eqx_opparams *p, eqx_array *out) {
    reduce_fwd_scaled(in[0], p, out, 1.0f);
    return EQX_OK;
}
static eqx_status mean_fwd(const eqx_array *const *in, const eqx_opparams *p, eqx_array *out) {
    reduce_fwd_scaled(in[0], p, out, 1.0f / (float)reduce_count(in[0], out));
    return EQX_OK;
}

static void reduce_vjp_scaled(const struct eqx_tape_entry *e, const float *g, float **gin,
                              float scale) {
    if (!gin[0]) return;
    float *G = gin[0];
    eqx_bcast bc;
    reduce_plan(e->in[0], &e->p, &bc);
    BCAST_LOOP(&bc, e->in[0]->size, G[ia] += g[ib] * scale);
}
static void sum_vjp(const struct eqx_tape_entry *e, const float *g, float **gin) {
    reduce_vjp_scaled(e, g, gin, 1.0f);
}
static void mean_vjp(const struct eqx_tape_entry *e, const float *g, float **gin) {
    reduce_vjp_scaled(e, g, gin, 1.0f / (float)reduce_count(e->in[0], e->out));
}
const eqx_op eqx__sum_op = {"eqx_sum", 1, sum_shape, sum_fwd, sum_vjp, false, false,
                            eqx__batch_reduce, false};
const eqx_op eqx__mean_op = {"eqx_mean", 1, mean_shape, mean_fwd, mean_vjp, false, false,
                             eqx__batch_reduce, false};

/* ------------------------------------------------------------ matmul */

static void mm_dims(const eqx_array *a, const eqx_array *b, int *M, int *K, int *N) {
    *M = a->ndim == 2 ? (int)a->shape[0] : 1;
    *K = (int)a->shape[a->ndim - 1];
    *N = b->ndim == 2 ? (int)b->shape[1] : 1;
}

static eqx_status matmul_shape(const eqx_array *const *in, const eqx_opparams *p,
                               eqx_dtype *dt, int *nd, int64_t *sh) {
    (void)p;
    const eqx_array *a = in[0], *b = in[1];
    EQX_TRY(need_f32("eqx_matmul", a));
    EQX_TRY(need_f32("eqx_matmul", b));
    char s1[96], s2[96];
    if (a->ndim < 1 || a->ndim > 2 || b->ndim < 1 || b->ndim > 2)
        return eqx__err(EQX_ERR_SHAPE,
                        "eqx_matmul takes 1-d or 2-d operands, got %s @ %s; for a batch of "
                        "examples use eqx_vmap over a per-example function",
                        eqx_shape_str(a, s1, sizeof s1), eqx_shape_str(b, s2, sizeof s2));
    int64_t ka = a->shape[a->ndim - 1], kb = b->shape[0];
    if (ka != kb)
        return eqx__err(EQX_ERR_SHAPE,
                        "eqx_matmul: inner dimensions differ: %s @ %s (%lld != %lld)",
                        eqx_shape_str(a, s1, sizeof s1), eqx_shape_str(b, s2, sizeof s2),
                        (long long)ka, (long long)kb);
    int n = 0;
    if (a->ndim == 2) sh[n++] = a->shape[0];
    if (b->ndim == 2) sh[n++] = b->shape[1];
    *nd = n;
    *dt = EQX_F32;
    return EQX_OK;
}

static eqx_status matmul_fwd(const eqx_array *const *in, const eqx_opparams *p,
                             eqx_array *out) {
    (void)p;
    int M, K, N;
    mm_dims(in[0], in[1], &M, &K, &N);
    if (M == 0 || N == 0) return EQX_OK;
    if (K == 0) {
        memset(out->data, 0, (size_t)out->size * 4);
        return EQX_OK;
    }
    eqx__gemm_calls++;
    /* memset + beta = 1 rather than beta = 0: OpenBLAS zeroes C for beta = 0 with its own
     * scaling pass, which is slower than memset */
    memset(out->data, 0, (size_t)out->size * 4);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, in[0]->data, K,
                in[1]->data, N, 1.0f, out->data, N);
    return EQX_OK;
}

/* Always beta = 1 (accumulate): OpenBLAS skips its C-scaling pass only for beta = 1, and
 * that pass is slower than the memset that zeroes a fresh gradient buffer, so GEMM rules
 * do not claim vjp_fresh (measured: docs/benchmarks-runtime.md). */
static void matmul_vjp(const struct eqx_tape_entry *e, const float *g, float **gin) {
    int M, K, N;
    mm_dims(e->in[0], e->in[1], &M, &K, &N);
    if (M == 0 || N == 0 || K == 0) return;
    eqx__gemm_calls += (gin[0] != NULL) + (gin[1] != NULL);
    if (gin[0]) /* dA (M,K) += dC (M,N) @ B^T */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, K, N, 1.0f, g, N,
                    e->in[1]->data, N, 1.0f, gin[0], K);
    if (gin[1]) /* dB (K,N) += A^T @ dC */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, N, M, 1.0f, e->in[0]->data, K,
                    g, N, 1.0f, gin[1], N);
}
const eqx_op eqx__matmul_op = {"eqx_matmul", 2, matmul_shape, matmul_fwd, matmul_vjp, false,
                               false, eqx__batch_matmul, false};

/* ------------------------------------------------------------ softmax family */

static eqx_status lsm_shape(const eqx_array *const *in, const eqx_opparams *p, eqx_dtype *dt,
                            int *nd, int64_t *sh) {
    (void)p;
    EQX_TRY(need_f32("eqx_log_softmax", in[0]));
    if (in[0]->ndim < 1 || in[0]->shape[in[0]->ndim - 1] < 1)
        return eqx__err(EQX_ERR_SHAPE, "eqx_log_softmax needs at least one class on the last axis");
    copy_shape(in[0], nd, sh);
    *dt = EQX_F32;
    return EQX_OK;
}

static void lsm_rows(const float *X, float *Y, int64_t rows, int64_t C) {
    for (int64_t r = 0; r < rows; r++) {
        const float *x = X + r * C;
        float *y = Y + r * C;
        float m = x[0];
        for (int64_t c = 1; c < C; c++) m = x[c] > m ? x[c] : m;
        double s = 0;
        for (int64_t c = 0; c < C; c++) s += exp((double)(x[c] - m));
        float lse = m + (float)log(s);
        for (int64_t c = 0; c < C; c++) y[c] = x[c] - lse;
    }
}

static eqx_status lsm_fwd(const eqx_array *const *in, const eqx_opparams *p, eqx_array *out) {
    (void)p;
    int64_t C = in[0]->shape[in[0]->ndim - 1];
    lsm_rows(in[0]->data, out->data, in[0]->size / C, C);
    return EQX_OK;
}

static void lsm_vjp(const struct eqx_tape_entry *e, const float *g, float **gin) {
    if (!gin[0]) return;
    int64_t C = e->out->shape[e->out->ndim - 1], rows = e->out->size / C;
    const float *Y = e->out->data;
    for (int64_t r = 0; r < rows; r++) {
        float s = 0;
        for (int64_t c = 0; c < C; c++) s += g[r * C + c];
        for (int64_t c = 0; c < C; c++)
            gin[0][r * C + c] += g[r * C + c] - expf(Y[r * C + c]) * s;
    }
}
static const eqx_op lsm_op = {"eqx_log_softmax", 1, lsm_shape, lsm_fwd, lsm_vjp, false, false,
                              eqx__batch_unary, false};

static eqx_status ce_shape(const eqx_array *const *in, const eqx_opparams *p, eqx_dtype *dt,
                           int *nd, int64_t *sh) {
    (void)p;
    (void)sh;
    const eqx_array *x = in[0], *lab = in[1];
    char s1[96], s2[96];
    EQX_TRY(need_f32("eqx_cross_entropy (logits)", x));
    if (lab->dtype != EQX_I32)
        return eqx__err(EQX_ERR_DTYPE, "eqx_cross_entropy: labels must be int32 class indices, "
                                       "got %s", eqx__dtype_name(lab->dtype));
    bool ok = x->ndim >= 1 && lab->ndim == x->ndim - 1;
    for (int d = 0; ok && d < lab->ndim; d++) ok = lab->shape[d] == x->shape[d];
    if (!ok || x->shape[x->ndim - 1] < 1)
        return eqx__err(EQX_ERR_SHAPE,
                        "eqx_cross_entropy: logits %s need labels of shape logits.shape[:-1], got "
                        "%s",
                        eqx_shape_str(x, s1, sizeof s1), eqx_shape_str(lab, s2, sizeof s2));
    int64_t C = x->shape[x->ndim - 1];
    const int32_t *L = lab->data;
    for (int64_t i = 0; i < lab->size; i++)
        if (L[i] < 0 || L[i] >= C)
            return eqx__err(EQX_ERR_ARG,
                            "eqx_cross_entropy: label %d at position %lld is not a class index "
                            "in [0, %lld)",
                            L[i], (long long)i, (long long)C);
    *nd = 0;
    *dt = EQX_F32;
    return EQX_OK;
}

static eqx_status ce_fwd(const eqx_array *const *in, const eqx_opparams *p, eqx_array *out) {
    (void)p;
    const eqx_array *x = in[0];
    int64_t C = x->shape[x->ndim - 1], rows = x->size / C;
    const float *X = x->data;
    const int32_t *L = in[1]->data;
    double total = 0;
    for (int64_t r = 0; r < rows; r++) {
        const float *row = X + r * C;
        float m = row[0];
        for (int64_t c = 1; c < C; c++) m = row[c] > m ? row[c] : m;
        double s = 0;
        for (int64_t c = 0; c < C; c++) s += exp((double)(row[c] - m));
        total += (double)m + log(s) - (double)row[L[r]];
    }
    ((float *)out->data)[0] = rows ? (float)(total / (double)rows) : 0.0f;
    return EQX_OK;
}

static void ce_vjp(const struct eqx_tape_entry *e, const float *g, float **gin) {
    const eqx_array *x = e->in[0];
    int64_t C = x->shape[x->ndim - 1], rows = x->size / C;
    if (!gin[0] || rows == 0) return;
    const float *X = x->data;
    const int32_t *L = e->in[1]->data;
    float scale = g[0] / (float)rows;
    for (int64_t r = 0; r < rows; r++) {
        const float *row = X + r * C;
        float *G = gin[0] + r * C;
        float m = row[0];
        for (int64_t c = 1; c < C; c++) m = row[c] > m ? row[c] : m;
        double s = 0;
        for (int64_t c = 0; c < C; c++) s += exp((double)(row[c] - m));
        for (int64_t c = 0; c < C; c++) {
            float pr = (float)(exp((double)(row[c] - m)) / s);
            G[c] += scale * (pr - (c == L[r] ? 1.0f : 0.0f));
        }
    }
}
static const eqx_op ce_op = {"eqx_cross_entropy", 2, ce_shape, ce_fwd, ce_vjp, false, false,
                             eqx__batch_cross_entropy, false};

static eqx_status mse_shape(const eqx_array *const *in, const eqx_opparams *p, eqx_dtype *dt,
                            int *nd, int64_t *sh) {
    (void)p;
    (void)sh;
    EQX_TRY(need_f32("eqx_mse", in[0]));
    EQX_TRY(need_f32("eqx_mse", in[1]));
    if (!eqx__same_shape(in[0], in[1])) {
        char s1[96], s2[96];
        return eqx__err(EQX_ERR_SHAPE, "eqx_mse: prediction %s and target %s differ in shape",
                        eqx_shape_str(in[0], s1, sizeof s1), eqx_shape_str(in[1], s2, sizeof s2));
    }
    *nd = 0;
    *dt = EQX_F32;
    return EQX_OK;
}

static eqx_status mse_fwd(const eqx_array *const *in, const eqx_opparams *p, eqx_array *out) {
    (void)p;
    const float *P = in[0]->data, *T = in[1]->data;
    double s = 0;
    for (int64_t i = 0; i < in[0]->size; i++) {
        double d = (double)P[i] - (double)T[i];
        s += d * d;
    }
    ((float *)out->data)[0] = in[0]->size ? (float)(s / (double)in[0]->size) : 0.0f;
    return EQX_OK;
}

static void mse_vjp(const struct eqx_tape_entry *e, const float *g, float **gin) {
    const float *P = e->in[0]->data, *T = e->in[1]->data;
    int64_t n = e->in[0]->size;
    if (!n) return;
    float k = 2.0f * g[0] / (float)n;
    for (int64_t i = 0; i < n; i++) {
        float d = k * (P[i] - T[i]);
        if (gin[0]) gin[0][i] += d;
        if (gin[1]) gin[1][i] -= d;
    }
}
static const eqx_op mse_op = {"eqx_mse", 2, mse_shape, mse_fwd, mse_vjp, false, false,
                              eqx__batch_mse, false};

/* ------------------------------------------------------------ internal ops for batching */

/* broadcast_to(x, shape): NumPy broadcasting made explicit (a copy), for any 4-byte dtype.
 * Batching rules use it where an op does not broadcast by itself (labels, logits) and to
 * give an unbatched result its batch axis. Its gradient sums over the broadcast axes. */
static eqx_status bcast_shape(const eqx_array *const *in, const eqx_opparams *p,
                              eqx_dtype *dt, int *nd, int64_t *sh) {
    const eqx_array *x = in[0];
    bool ok = p->ndim >= x->ndim;
    for (int d = 0; ok && d < x->ndim; d++) {
        int64_t e = x->shape[x->ndim - 1 - d], t = p->shape[p->ndim - 1 - d];
        ok = e == t || e == 1;
    }
    if (!ok) {
        char s1[96];
        return eqx__err(EQX_ERR_SHAPE, "broadcast_to: cannot broadcast %s to a %d-d shape",
                        eqx_shape_str(x, s1, sizeof s1), p->ndim);
    }
    *nd = p->ndim;
    for (int d = 0; d < p->ndim; d++) sh[d] = p->shape[d];
    *dt = x->dtype;
    return EQX_OK;
}
static eqx_status bcast_fwd(const eqx_array *const *in, const eqx_opparams *p, eqx_array *out) {
    (void)p;
    const int32_t *X = in[0]->data; /* 4-byte elements of either dtype */
    int32_t *Y = out->data;
    eqx_bcast bc;
    eqx__bcast_plan(in[0], out, &bc);
    BCAST_LOOP(&bc, out->size, Y[o] = X[ia]);
    return EQX_OK;
}
static void bcast_vjp(const struct eqx_tape_entry *e, const float *g, float **gin) {
    if (!gin[0]) return;
    float *G = gin[0];
    eqx_bcast bc;
    eqx__bcast_plan(e->in[0], e->out, &bc);
    BCAST_LOOP(&bc, e->out->size, G[ia] += g[o]);
}
const eqx_op eqx__broadcast_op = {"broadcast_to", 1, bcast_shape, bcast_fwd, bcast_vjp, false,
                                  false, NULL, false};

/* gemm_nt(A (M,K), B (N,K)) = A @ B^T (M,N): the batched linear layer, x_batch @ W^T, as
 * one GEMM with no transposed copy of W; both gradients are single GEMMs too. */
static eqx_status gemm_nt_shape(const eqx_array *const *in, const eqx_opparams *p,
                                eqx_dtype *dt, int *nd, int64_t *sh) {
    (void)p;
    const eqx_array *a = in[0], *b = in[1];
    EQX_TRY(need_f32("gemm_nt", a));
    EQX_TRY(need_f32("gemm_nt", b));
    if (a->ndim != 2 || b->ndim != 2 || a->shape[1] != b->shape[1]) {
        char s1[96], s2[96];
        return eqx__err(EQX_ERR_SHAPE, "gemm_nt: %s @ %s^T does not fit",
                        eqx_shape_str(a, s1, sizeof s1), eqx_shape_str(b, s2, sizeof s2));
    }
    *nd = 2;
    sh[0] = a->shape[0];
    sh[1] = b->shape[0];
    *dt = EQX_F32;
    return EQX_OK;
}
static eqx_status gemm_nt_fwd(const eqx_array *const *in, const eqx_opparams *p,
                              eqx_array *out) {
    (void)p;
    int M = (int)in[0]->shape[0], K = (int)in[0]->shape[1], N = (int)in[1]->shape[0];
    if (M == 0 || N == 0) return EQX_OK;
    if (K == 0) {
        memset(out->data, 0, (size_t)out->size * 4);
        return EQX_OK;
    }
    eqx__gemm_calls++;
    memset(out->data, 0, (size_t)out->size * 4); /* + beta = 1: see matmul_fwd */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, in[0]->data, K,
                in[1]->data, K, 1.0f, out->data, N);
    return EQX_OK;
}
static void gemm_nt_vjp(const struct eqx_tape_entry *e, const float *g, float **gin) {
    int M = (int)e->in[0]->shape[0], K = (int)e->in[0]->shape[1], N = (int)e->in[1]->shape[0];
    if (M == 0 || N == 0 || K == 0) return;
    eqx__gemm_calls += (gin[0] != NULL) + (gin[1] != NULL);
    if (gin[0]) /* dA (M,K) += dC (M,N) @ B (N,K) */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, K, N, 1.0f, g, N,
                    e->in[1]->data, K, 1.0f, gin[0], K);
    if (gin[1]) /* dB (N,K) += dC^T (N,M) @ A (M,K) */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, N, K, M, 1.0f, g, N,
                    e->in[0]->data, K, 1.0f, gin[1], K);
}
const eqx_op eqx__gemm_nt_op = {"gemm_nt", 2, gemm_nt_shape, gemm_nt_fwd, gemm_nt_vjp, false,
                                false, NULL, false};

/* ce_rows(logits (..., C), labels (...)): the per-row cross-entropy, not yet averaged, so
 * the batched cross-entropy can average each example's rows separately. */
static eqx_status ce_rows_shape(const eqx_array *const *in, const eqx_opparams *p,
                                eqx_dtype *dt, int *nd, int64_t *sh) {
    int64_t dummy[EQX_MAX_DIMS];
    int dn;
    EQX_TRY(ce_shape(in, p, dt, &dn, dummy));
    *nd = in[1]->ndim;
    for (int d = 0; d < in[1]->ndim; d++) sh[d] = in[1]->shape[d];
    return EQX_OK;
}
static eqx_status ce_rows_fwd(const eqx_array *const *in, const eqx_opparams *p,
                              eqx_array *out) {
    (void)p;
    const eqx_array *x = in[0];
    int64_t C = x->shape[x->ndim - 1], rows = x->size / C;
    const float *X = x->data;
    const int32_t *L = in[1]->data;
    float *Y = out->data;
    for (int64_t r = 0; r < rows; r++) {
        const float *row = X + r * C;
        float m = row[0];
        for (int64_t c = 1; c < C; c++) m = row[c] > m ? row[c] : m;
        double s = 0;
        for (int64_t c = 0; c < C; c++) s += exp((double)(row[c] - m));
        Y[r] = (float)((double)m + log(s) - (double)row[L[r]]);
    }
    return EQX_OK;
}
static void ce_rows_vjp(const struct eqx_tape_entry *e, const float *g, float **gin) {
    const eqx_array *x = e->in[0];
    int64_t C = x->shape[x->ndim - 1], rows = x->size / C;
    if (!gin[0]) return;
    const float *X = x->data;
    const int32_t *L = e->in[1]->data;
    for (int64_t r = 0; r < rows; r++) {
        const float *row = X + r * C;
        float *G = gin[0] + r * C;
        float m = row[0];
        for (int64_t c = 1; c < C; c++) m = row[c] > m ? row[c] : m;
        double s = 0;
        for (int64_t c = 0; c < C; c++) s += exp((double)(row[c] - m));
        for (int64_t c = 0; c < C; c++) {
            float pr = (float)(exp((double)(row[c] - m)) / s);
            G[c] += g[r] * (pr - (c == L[r] ? 1.0f : 0.0f));
        }
    }
}
const eqx_op eqx__ce_rows_op = {"cross_entropy_rows", 2, ce_rows_shape, ce_rows_fwd,
                                ce_rows_vjp, false, false, NULL, false};

/* ------------------------------------------------------------ public entry points */

static const eqx_opparams no_params;

static eqx_status apply1(eqx_ctx *ctx, const eqx_op *op, const eqx_array *x,
                         const eqx_opparams *p, eqx_array **out) {
    const eqx_array *in[1] = {x};
    return eqx__apply(ctx, op, 1, in, p ? p : &no_params, out);
}

static eqx_status apply2(eqx_ctx *ctx, const eqx_op *op, const eqx_array *a,
                         const eqx_array *b, eqx_array **out) {
    const eqx_array *in[2] = {a, b};
    return eqx__apply(ctx, op, 2, in, &no_params, out);
}

eqx_status eqx_matmul(eqx_ctx *ctx, const eqx_array *a, const eqx_array *b, eqx_array **out) {
    return apply2(ctx, &eqx__matmul_op, a, b, out);
}
eqx_status eqx_add(eqx_ctx *ctx, const eqx_array *a, const eqx_array *b, eqx_array **out) {
    return apply2(ctx, &eqx__add_op, a, b, out);
}
eqx_status eqx_sub(eqx_ctx *ctx, const eqx_array *a, const eqx_array *b, eqx_array **out) {
    return apply2(ctx, &eqx__sub_op, a, b, out);
}
eqx_status eqx_mul(eqx_ctx *ctx, const eqx_array *a, const eqx_array *b, eqx_array **out) {
    return apply2(ctx, &eqx__mul_op, a, b, out);
}
eqx_status eqx_div(eqx_ctx *ctx, const eqx_array *a, const eqx_array *b, eqx_array **out) {
    return apply2(ctx, &eqx__divide_op, a, b, out);
}
eqx_status eqx_mul_scalar(eqx_ctx *ctx, const eqx_array *a, float s, eqx_array **out) {
    eqx_opparams p = no_params;
    p.scalar = s;
    return apply1(ctx, &scale_op, a, &p, out);
}
eqx_status eqx_tanh(eqx_ctx *ctx, const eqx_array *x, eqx_array **out) {
    return apply1(ctx, &tanh_op, x, NULL, out);
}
eqx_status eqx_relu(eqx_ctx *ctx, const eqx_array *x, eqx_array **out) {
    return apply1(ctx, &relu_op, x, NULL, out);
}
eqx_status eqx_gelu(eqx_ctx *ctx, const eqx_array *x, eqx_array **out) {
    return apply1(ctx, &gelu_op, x, NULL, out);
}
eqx_status eqx_exp(eqx_ctx *ctx, const eqx_array *x, eqx_array **out) {
    return apply1(ctx, &exp_op, x, NULL, out);
}
eqx_status eqx_log(eqx_ctx *ctx, const eqx_array *x, eqx_array **out) {
    return apply1(ctx, &log_op, x, NULL, out);
}
eqx_status eqx_sqrt(eqx_ctx *ctx, const eqx_array *x, eqx_array **out) {
    return apply1(ctx, &sqrt_op, x, NULL, out);
}
eqx_status eqx_identity(eqx_ctx *ctx, const eqx_array *x, eqx_array **out) {
    return apply1(ctx, &eqx__identity_op, x, NULL, out);
}
eqx_status eqx_stop_gradient(eqx_ctx *ctx, const eqx_array *x, eqx_array **out) {
    return apply1(ctx, &stop_gradient_op, x, NULL, out);
}
eqx_status eqx_log_softmax(eqx_ctx *ctx, const eqx_array *x, eqx_array **out) {
    return apply1(ctx, &lsm_op, x, NULL, out);
}
eqx_status eqx_cross_entropy(eqx_ctx *ctx, const eqx_array *logits, const eqx_array *labels,
                             eqx_array **out) {
    return apply2(ctx, &ce_op, logits, labels, out);
}
eqx_status eqx_mse(eqx_ctx *ctx, const eqx_array *pred, const eqx_array *target,
                   eqx_array **out) {
    return apply2(ctx, &mse_op, pred, target, out);
}

/* Axes count in the per-example shape: under eqx_vmap the batch axes are invisible. */
static eqx_status axes_params(const char *name, const eqx_array *x, int naxes,
                              const int *axes, eqx_opparams *p) {
    *p = no_params;
    if (!x) return eqx__err(EQX_ERR_ARG, "%s: the array is NULL", name);
    int64_t ls[EQX_MAX_DIMS];
    int nd = eqx_array_shape(x, ls);
    if (naxes < 0 || naxes > nd)
        return eqx__err(EQX_ERR_ARG, "%s: %d axes given for a %d-d array", name, naxes, nd);
    for (int k = 0; k < naxes; k++) {
        int a = axes[k] < 0 ? axes[k] + nd : axes[k];
        char s1[96];
        if (a < 0 || a >= nd)
            return eqx__err(EQX_ERR_ARG, "%s: axis %d is out of range for shape %s", name,
                            axes[k], eqx_shape_str(x, s1, sizeof s1));
        for (int j = 0; j < k; j++)
            if (p->axes[j] == a)
                return eqx__err(EQX_ERR_ARG, "%s: axis %d is listed twice", name, axes[k]);
        p->axes[k] = a;
    }
    p->naxes = naxes;
    return EQX_OK;
}

eqx_status eqx_sum(eqx_ctx *ctx, const eqx_array *x, int naxes, const int *axes,
                   eqx_array **out) {
    eqx_opparams p;
    *out = NULL;
    EQX_TRY(axes_params("eqx_sum", x, naxes, axes, &p));
    return apply1(ctx, &eqx__sum_op, x, &p, out);
}

eqx_status eqx_mean(eqx_ctx *ctx, const eqx_array *x, int naxes, const int *axes,
                    eqx_array **out) {
    eqx_opparams p;
    *out = NULL;
    EQX_TRY(axes_params("eqx_mean", x, naxes, axes, &p));
    return apply1(ctx, &eqx__mean_op, x, &p, out);
}

eqx_status eqx_reshape(eqx_ctx *ctx, const eqx_array *x, int ndim, const int64_t *shape,
                       eqx_array **out) {
    *out = NULL;
    if (ndim < 0 || ndim > EQX_MAX_DIMS)
        return eqx__err(EQX_ERR_ARG, "eqx_reshape: %d dimensions (0..%d allowed)", ndim,
                        EQX_MAX_DIMS);
    eqx_opparams p = no_params;
    p.ndim = ndim;
    for (int i = 0; i < ndim; i++) p.shape[i] = shape[i];
    return apply1(ctx, &eqx__reshape_op, x, &p, out);
}

eqx_status eqx_transpose(eqx_ctx *ctx, const eqx_array *x, const int *perm, eqx_array **out) {
    *out = NULL;
    if (!x) return eqx__err(EQX_ERR_ARG, "eqx_transpose: the array is NULL");
    eqx_opparams p = no_params;
    int nd = x->ndim - eqx__nb(x);
    for (int i = 0; i < nd; i++) p.perm[i] = perm ? perm[i] : nd - 1 - i;
    return apply1(ctx, &eqx__transpose_op, x, &p, out);
}
