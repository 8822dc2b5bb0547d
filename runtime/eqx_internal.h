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
    float *grad;                 /* d loss / d out, allocated on demand in backward */
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

struct eqx_op {
    const char *name;
    int nin;
    eqx_shape_fn shape;
    eqx_fwd_fn fwd;
    eqx_vjp_fn vjp;
    bool view;        /* output shares the first input's storage (reshape, stop_gradient) */
    bool no_grad;     /* never recorded (stop_gradient) */
};

typedef enum eqx_mode { EQX_MODE_EAGER = 0, EQX_MODE_GRAD } eqx_mode;

struct eqx_ctx {
    eqx_mode mode;
    eqx_array **owned;  int nowned, capowned;
    struct eqx_tape_entry **tape; int ntape, captape;
    char call_path[512];         /* where the module being called sits, for messages */
    int call_depth;
};

/* The single entry point every op goes through; the ctx's mode decides what happens. */
eqx_status eqx__apply(eqx_ctx *ctx, const eqx_op *op, int nin, const eqx_array *const *in,
                      const eqx_opparams *p, eqx_array **out);
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
