/*
 * eqx_internal.h — what the runtime's .c files share and users never see.
 *
 * Allocation goes through eqx__malloc & co. so the allocator hook sees all of it; errors
 * are set with eqx__err, which formats the thread's message and returns the status, so
 * a failing path reads `return eqx__err(EQX_ERR_SHAPE, "...")`.
 */
#ifndef EQX_INTERNAL_H
#define EQX_INTERNAL_H

#include "eqx.h"

#include <stdarg.h>

void *eqx__malloc(size_t n);
void *eqx__calloc(size_t count, size_t size);
void *eqx__realloc(void *p, size_t n);
void eqx__free(void *p);
char *eqx__strdup(const char *s);

eqx_status eqx__err(eqx_status s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
eqx_status eqx__nomem(void);

/* ------------------------------------------------------------ arrays */
struct eqx_storage {
    int refcount;
    void *data;
};
eqx_status eqx__array_alloc(eqx_dtype dtype, int ndim, const int64_t *shape, bool zero,
                            eqx_array **out);
eqx_status eqx__array_view(const eqx_array *src, int ndim, const int64_t *shape,
                           eqx_array **out);
bool eqx__same_shape(const eqx_array *a, const eqx_array *b);
const char *eqx__dtype_name(eqx_dtype d);

/* ------------------------------------------------------------ trees */
struct eqx_tree {
    int refcount;                /* < 0: immortal (the none singleton) */
    eqx_kind kind;
    union {
        eqx_array *array;
        double scalar;
        struct { char *name; eqx_unary_fn fn; } fn;
        char *string;
        struct {
            int n;
            eqx_tree **children;
            char **keys;                    /* dict only: sorted, owned */
            const eqx_module_type *type;    /* module only */
        } c;
    } u;
};
bool eqx__is_container(const eqx_tree *t);
/* Flatten that also gives each leaf's path (rooted at root_name); paths may be NULL.
 * Caller frees *paths with eqx__paths_free. */
eqx_status eqx__flatten(const eqx_tree *t, const char *root_name, eqx_treedef **td,
                        eqx_tree ***leaves, int *nleaves, char ***paths);
void eqx__paths_free(char **paths, int n);
eqx_status eqx__tree_check_named(const eqx_tree *t, const char *root_name);
bool eqx__tree_equal(const eqx_tree *a, const eqx_tree *b);
/* The node at path (eqx_tree_at syntax), borrowed. */
eqx_status eqx__tree_get(const eqx_tree *t, const char *path, eqx_tree **node);

/* ------------------------------------------------------------ ctx, ops and the tape */
typedef struct eqx_op eqx_op;

typedef struct eqx_opparams {
    int naxes;
    int axes[EQX_MAX_DIMS];
    int perm[EQX_MAX_DIMS];
    int ndim;                       /* reshape target */
    int64_t shape[EQX_MAX_DIMS];
    float scalar;
} eqx_opparams;

#define EQX__MAX_IN 3
struct eqx_tape_entry {
    const eqx_op *op;            /* NULL for a watched input */
    int nin;
    eqx_array *in[EQX__MAX_IN];  /* retained */
    eqx_array *out;              /* retained */
    eqx_opparams p;
    eqx_array *grad;             /* d loss / d out, allocated (zeroed) on demand in backward */
    unsigned fresh;              /* bit k: gin[k] is a just-zeroed buffer this rule writes
                                    first, so it may overwrite instead of add (set by jit
                                    replays for ops with vjp_fresh; 0 everywhere else) */
};

/* Backward rule: add the contribution of g (d loss / d out) into gin[i] (NULL for inputs
 * that do not need a gradient). */
typedef void (*eqx_vjp_fn)(const struct eqx_tape_entry *e, const float *g, float **gin);
/* Forward kernel: out is already allocated with the shape the shape rule gave. Backward
 * rules recompute what they need (e.g. softmax) rather than saving it: the ops are cheap
 * and it keeps the tape free of op-specific allocations. */
typedef eqx_status (*eqx_fwd_fn)(const eqx_array *const *in, const eqx_opparams *p,
                                 eqx_array *out);
/* Shape rule: validates inputs and gives the output dtype/shape (errors name shapes). */
typedef eqx_status (*eqx_shape_fn)(const eqx_array *const *in, const eqx_opparams *p,
                                   eqx_dtype *dtype, int *ndim, int64_t *shape);

/* Batching rule: computes op on inputs of which at least one carries batch axes (see
 * eqx_array.batch), by issuing physical ops through eqx__apply_phys, and marks the result's
 * batch levels. NULL: "batching rule for '<op>' not implemented". */
typedef eqx_status (*eqx_batch_fn)(eqx_ctx *ctx, const eqx_op *op, const eqx_array *const *in,
                                   const eqx_opparams *p, eqx_array **out);

struct eqx_op {
    const char *name;
    int nin;
    eqx_shape_fn shape;
    eqx_fwd_fn fwd;
    eqx_vjp_fn vjp;
    bool view;        /* output shares the first input's storage (reshape, stop_gradient) */
    bool no_grad;     /* never recorded (stop_gradient) */
    eqx_batch_fn batch;
    bool vjp_fresh;   /* vjp honours e->fresh: it then writes every element of that gin */
};

typedef enum eqx_mode { EQX_MODE_EAGER = 0, EQX_MODE_GRAD } eqx_mode;

#define EQX__MAX_VMAP 8
struct eqx_ctx {
    eqx_mode mode;
    eqx_array **owned;  int nowned, capowned;
    struct eqx_tape_entry **tape; int ntape, captape;
    char call_path[512];         /* where the module being called sits, for messages */
    int call_depth;
    int vmap_depth;                        /* active eqx_vmap levels */
    int64_t vmap_size[EQX__MAX_VMAP];      /* batch size of each level */
};

/* The single entry point every op goes through; the ctx's mode decides what happens:
 * batched inputs go to the op's batching rule, everything else to eqx__apply_phys. */
eqx_status eqx__apply(eqx_ctx *ctx, const eqx_op *op, int nin, const eqx_array *const *in,
                      const eqx_opparams *p, eqx_array **out);
/* Runs op on the arrays as they are in memory (batch axes are ordinary axes here), records
 * it on the tape in grad mode and in the jit trace when one is active. out->batch = 0. */
eqx_status eqx__apply_phys(eqx_ctx *ctx, const eqx_op *op, int nin,
                           const eqx_array *const *in, const eqx_opparams *p, eqx_array **out);
/* Internal ops the batching rules lower to (ops.c). */
extern const eqx_op eqx__reshape_op, eqx__transpose_op, eqx__identity_op,
    eqx__broadcast_op, eqx__gemm_nt_op, eqx__matmul_op, eqx__mul_op, eqx__sub_op,
    eqx__sum_op, eqx__mean_op, eqx__ce_rows_op;
/* Batching rules (vmap.c), referenced by the op descriptors in ops.c. */
eqx_status eqx__batch_unary(eqx_ctx *, const eqx_op *, const eqx_array *const *,
                            const eqx_opparams *, eqx_array **);
eqx_status eqx__batch_binary(eqx_ctx *, const eqx_op *, const eqx_array *const *,
                             const eqx_opparams *, eqx_array **);
eqx_status eqx__batch_reduce(eqx_ctx *, const eqx_op *, const eqx_array *const *,
                             const eqx_opparams *, eqx_array **);
eqx_status eqx__batch_reshape(eqx_ctx *, const eqx_op *, const eqx_array *const *,
                              const eqx_opparams *, eqx_array **);
eqx_status eqx__batch_transpose(eqx_ctx *, const eqx_op *, const eqx_array *const *,
                                const eqx_opparams *, eqx_array **);
eqx_status eqx__batch_matmul(eqx_ctx *, const eqx_op *, const eqx_array *const *,
                             const eqx_opparams *, eqx_array **);
eqx_status eqx__batch_cross_entropy(eqx_ctx *, const eqx_op *, const eqx_array *const *,
                                    const eqx_opparams *, eqx_array **);
eqx_status eqx__batch_mse(eqx_ctx *, const eqx_op *, const eqx_array *const *,
                          const eqx_opparams *, eqx_array **);
/* A copy of x varying over every level in `levels` (batch axes materialised): the
 * per-example parameters of vmap-of-grad. Owned by ctx. */
eqx_status eqx__vmap_materialize(eqx_ctx *ctx, const eqx_array *x, unsigned levels,
                                 eqx_array **out);
/* Thread-local count of cblas_sgemm calls (eqx_debug_gemm_calls). */
extern _Thread_local long eqx__gemm_calls;
/* Number of leading batch axes of a. */
static inline int eqx__nb(const eqx_array *a) { return __builtin_popcount(a->batch); }

/* ------------------------------------------------------------ kernels and the jit trace */

/* A computation outside the op set (optimiser updates): reads in[], writes the freshly
 * allocated out[]. kp holds its float parameters. May fail (e.g. a corrupt step counter). */
#define EQX__MAX_KIN 5
#define EQX__MAX_KOUT 3
typedef eqx_status (*eqx_kernel_fn)(const eqx_array *const *in, eqx_array *const *out,
                                    const float *kp);
/* Runs kern and, while a jit trace is active, records it. An input that carries batch
 * axes fails: "batching rule for '<name>' not implemented". */
eqx_status eqx__kernel(const char *name, eqx_kernel_fn kern, int nin, const eqx_array *const *in,
                       int nout, eqx_array *const *out, const float *kp, int nkp);

/* Runs fn(arg, lo, hi) over [0, n) split across the cores (pool.c); inline when n is below
 * min_chunk per core, when helpers are disabled (EQX_NUM_THREADS=1) or already busy. */
typedef void (*eqx__range_fn)(void *arg, int64_t lo, int64_t hi);
void eqx__parallel_for(int64_t n, int64_t min_chunk, eqx__range_fn fn, void *arg);

/* The trace recorder of eqx_filter_jit (jit.c): non-NULL on this thread while a function is
 * being traced. Every kernel run while it is set is appended to the program. */
typedef struct eqx__recorder eqx__recorder;
extern _Thread_local eqx__recorder *eqx__rec;
eqx_status eqx__rec_fwd(const eqx_op *op, int nin, const eqx_array *const *in,
                        const eqx_opparams *p, eqx_array *out);
eqx_status eqx__rec_view(const eqx_array *src, eqx_array *view);
eqx_status eqx__rec_zero(eqx_array *a);                /* a must be zero at each replay's start */
eqx_status eqx__rec_fill(eqx_array *a, float v);
eqx_status eqx__rec_vjp(const struct eqx_tape_entry *e, eqx_array *const *gin);
eqx_status eqx__rec_kernel(const char *name, eqx_kernel_fn kern, int nin,
                           const eqx_array *const *in, int nout, eqx_array *const *out,
                           const float *kp, int nkp);
/* Structure match without allocation: walks t in flatten order against td, storing
 * borrowed leaves (nleaves of them) and container nodes (up to ncont). False on mismatch. */
bool eqx__treedef_match(const eqx_treedef *td, const eqx_tree *t, const eqx_tree **leaves,
                        const eqx_tree **conts, int ncont, int *nconts);
int eqx__treedef_nnodes(const eqx_treedef *td);
eqx_status eqx__ctx_own(eqx_ctx *ctx, eqx_array *a);
eqx_status eqx__tape_push(eqx_ctx *ctx, struct eqx_tape_entry *e);
void eqx__tape_clear(eqx_ctx *ctx);

/* The raw threefry-2x32 block (20 rounds), exposed for known-answer tests. */
void eqx__threefry2x32(const uint32_t key[2], uint32_t *x0, uint32_t *x1);

/* Broadcasting helper shared by forward and backward kernels. */
typedef struct eqx_bcast {
    int ndim;
    int64_t shape[EQX_MAX_DIMS];
    int64_t sa[EQX_MAX_DIMS], sb[EQX_MAX_DIMS];   /* strides, 0 on broadcast axes */
} eqx_bcast;
void eqx__bcast_plan(const eqx_array *a, const eqx_array *b, eqx_bcast *bc);

#endif
