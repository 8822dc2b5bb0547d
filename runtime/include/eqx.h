/*
 * eqx.h — libeqx, a minimal C runtime that does what Equinox does right.
 *
 * Names mirror Equinox (eqx_filter, eqx_is_array, eqx_stop_gradient, eqx_apply_updates),
 * so a JAX user reads this code with no dictionary. Every fallible call returns an
 * eqx_status; on failure eqx_errmsg() says what went wrong, where (a tree path such as
 * model.layers[1].activation) and the fix, in Equinox's words where one exists.
 *
 * Worked example: fit y = x^2 with an MLP (the Equinox FAQ's filtered training loop), the
 * per-example loss mapped over the batch with eqx_vmap and the whole step jitted.
 *
 *     // one example: args = (model, x, y)
 *     static eqx_status example_loss(eqx_ctx *ctx, const eqx_tree *args, void *user,
 *                                    eqx_tree **out) {
 *         eqx_array *pred, *l;
 *         EQX_TRY(eqx_module_call(ctx, eqx_tree_child(args, 0),
 *                                 eqx_tree_array(eqx_tree_child(args, 1)), NULL, &pred));
 *         EQX_TRY(eqx_mse(ctx, pred, eqx_tree_array(eqx_tree_child(args, 2)), &l));
 *         return eqx_leaf_array(l, out);
 *     }
 *     // the batch: mean of vmap(example_loss, in_axes=(None, 0, 0))(model, x, y)
 *     static eqx_status loss_fn(eqx_ctx *ctx, const eqx_tree *model, void *user,
 *                               eqx_array **loss) {
 *         const batch *b = user;               // { eqx_vmapped *vloss; eqx_tree *x, *y; }
 *         eqx_tree *args, *losses;
 *         EQX_TRY(eqx_tuple_new(3, (eqx_tree *[]){(eqx_tree *)model, b->x, b->y}, &args));
 *         eqx_status s = eqx_vmapped_call(ctx, b->vloss, args, &losses);  // one GEMM/layer
 *         eqx_tree_free(args);
 *         if (s) return s;
 *         s = eqx_mean(ctx, eqx_tree_array(losses), 0, NULL, loss);
 *         eqx_tree_free(losses);
 *         return s;
 *     }
 *     // (model, opt_state, x, y) -> (model', opt_state', loss); user = the optimiser etc.
 *     static eqx_status train_step(eqx_ctx *ctx, const eqx_tree *args, void *user,
 *                                  eqx_tree **out) {
 *         ...eqx_filter_value_and_grad_array(ctx, loss_fn, model, &b, &loss, &grads);
 *         ...eqx_opt_update(opt, grads, state, model, &updates, &new_state);
 *         ...eqx_apply_updates(model, updates, &new_model);
 *         return eqx_tuple_new(3, (eqx_tree *[]){new_model, new_state, loss_leaf}, out);
 *     }
 *
 *     EQX_TRY(eqx_mlp_new(1, 1, 32, 2, "tanh", eqx_tanh, eqx_prng_key(0), &model));
 *     EQX_TRY(eqx_adam_new(3e-3f, 0.9f, 0.999f, 1e-8f, &opt));
 *     EQX_TRY(eqx_filter(model, eqx_is_array, &params));        // FAQ: filter first
 *     EQX_TRY(eqx_opt_init(opt, params, &state));
 *     EQX_TRY(eqx_vmap(example_loss, NULL, 3, (int[]){EQX_UNMAPPED, 0, 0}, 0, &vloss));
 *     EQX_TRY(eqx_filter_jit(train_step, &cfg, &step));         // traced on the first call
 *     for (int i = 0; i < 1500; i++) {
 *         eqx_tree_set_child(args, 0, model); eqx_tree_set_child(args, 1, state);
 *         EQX_TRY(eqx_jitted_call(ctx, step, args, &out));      // replayed, no allocation
 *         eqx_tree_free(model); model = eqx_tree_retain(eqx_tree_child(out, 0));
 *         eqx_tree_free(state); state = eqx_tree_retain(eqx_tree_child(out, 1));
 *         eqx_tree_free(out);                  // trees are immutable values: swap them
 *     }
 *     EQX_TRY(eqx_tree_serialise_leaves("model.eqx", model));
 *
 * (Declarations and cleanup are elided here; runtime/examples/fit_square.c is the same
 * program in full, with every path freeing what it made.)
 *
 * Ownership, in one paragraph: a function that hands out an object through an `out`
 * parameter gives the caller one reference, released with the matching _free, EXCEPT
 * arrays returned by ops and layer calls (eqx_add, eqx_module_call, ...): those belong
 * to the eqx_ctx (an arena) and live until eqx_ctx_reset/eqx_ctx_free; take your own
 * reference with eqx_array_retain to keep one longer. Inputs are borrowed: a container
 * constructor retains its children, so the caller still releases its own references.
 * Accessors (eqx_tree_child, eqx_tree_array, ...) return borrowed pointers.
 * On failure nothing is returned through `out` (it is set to NULL) and nothing leaks.
 */
#ifndef EQX_H
#define EQX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---------------------------------------------------------------- status and errors */

typedef enum eqx_status {
    EQX_OK = 0,
    EQX_ERR_NOMEM,       /* an allocation failed; every object is left as it was */
    EQX_ERR_SHAPE,       /* shapes do not fit; the message names both shapes */
    EQX_ERR_DTYPE,       /* float32 where int32 was needed or the reverse */
    EQX_ERR_TYPE,        /* wrong kind of tree node (e.g. a list where a module was needed) */
    EQX_ERR_ARG,         /* an argument is out of range (negative size, bad axis, ...) */
    EQX_ERR_DUPLICATE,   /* one container reachable twice, or containing itself: eqx_shared */
    EQX_ERR_NOT_ARRAY,   /* a non-array leaf where arrays are needed: eqx_filter first */
    EQX_ERR_BATCHED,     /* a per-example layer was called on a batch: eqx_vmap */
    EQX_ERR_KEY,         /* a PRNG key is needed (dropout outside inference mode) */
    EQX_ERR_STRUCTURE,   /* two trees (or a file and a tree) do not have the same structure */
    EQX_ERR_PATH,        /* a tree path does not exist */
    EQX_ERR_IO,          /* the operating system refused a read or write */
    EQX_ERR_FORMAT,      /* a serialised file is truncated, corrupt or of another version */
    EQX_ERR_UNSUPPORTED  /* not available in this evaluation mode (e.g. nested grad) */
} eqx_status;

/* The message of the last failure in this thread: what, where, and the fix.
 * Owned by the library (thread-local); valid until the next failing call. */
const char *eqx_errmsg(void);
/* "EQX_ERR_SHAPE" etc. Static string, never freed. */
const char *eqx_status_name(eqx_status s);

/* Convenience for callers: return the status from the enclosing function on failure. */
#define EQX_TRY(expr) do { eqx_status eqx_try_s_ = (expr); \
                           if (eqx_try_s_ != EQX_OK) return eqx_try_s_; } while (0)

/* ---------------------------------------------------------------- allocator hook */

/* Every allocation libeqx makes (not OpenBLAS's own) goes through this table, so tests can
 * count allocations and make any one of them fail. The hook is process-global; set it
 * before creating objects and keep it until they are all freed. */
typedef struct eqx_allocator {
    void *(*malloc_fn)(size_t size, void *ud);
    void *(*realloc_fn)(void *ptr, size_t size, void *ud);
    void (*free_fn)(void *ptr, void *ud);
    void *ud;
} eqx_allocator;

/* NULL restores the C library's malloc/realloc/free. The table is copied. */
void eqx_set_allocator(const eqx_allocator *a);

/* ---------------------------------------------------------------- arrays */

#define EQX_MAX_DIMS 6

typedef enum eqx_dtype { EQX_F32 = 1, EQX_I32 = 2 } eqx_dtype;

struct eqx_storage;
struct eqx_tape_entry;

/* A dense, contiguous, row-major array. Fields are read-only for users; data may be
 * written only by the code that just created the array (before sharing it). */
typedef struct eqx_array {
    int refcount;
    eqx_dtype dtype;
    int ndim;                        /* 0..EQX_MAX_DIMS; 0 is a scalar of size 1 */
    int64_t shape[EQX_MAX_DIMS];
    int64_t size;                    /* product of shape */
    void *data;                      /* float* for EQX_F32, int32_t* for EQX_I32 */
    struct eqx_storage *storage;     /* shared by views (reshape, stop_gradient) */
    struct eqx_tape_entry *node;     /* set while an autodiff tape records this value */
    unsigned batch;                  /* inside eqx_vmap: bit i set = batched at vmap level i;
                                        those batch axes lead the shape, outermost first */
} eqx_array;

/* New zero-filled array. Caller owns *out (eqx_array_free). */
eqx_status eqx_array_new(eqx_dtype dtype, int ndim, const int64_t *shape, eqx_array **out);
/* New float32 array holding a copy of data (size = product of shape). Caller owns *out. */
eqx_status eqx_array_from_f32(int ndim, const int64_t *shape, const float *data,
                              eqx_array **out);
/* New int32 array holding a copy of data. Caller owns *out. */
eqx_status eqx_array_from_i32(int ndim, const int64_t *shape, const int32_t *data,
                              eqx_array **out);
/* Deep copy (new storage). Caller owns *out. */
eqx_status eqx_array_copy(const eqx_array *a, eqx_array **out);
/* Adds a reference; returns a. */
eqx_array *eqx_array_retain(eqx_array *a);
/* Drops one reference; frees at zero. NULL is ignored. */
void eqx_array_free(eqx_array *a);
/* Typed data pointers (borrowed); NULL when the dtype differs. */
float *eqx_array_f32(const eqx_array *a);
int32_t *eqx_array_i32(const eqx_array *a);
/* Writes "(3, 4)" into buf (always NUL-terminated); returns buf. Inside eqx_vmap this is the
 * per-example shape (batch axes hidden), as jax.vmap shows a tracer's shape. */
char *eqx_shape_str(const eqx_array *a, char *buf, size_t n);
/* The per-example ("logical") shape into shape[EQX_MAX_DIMS]; returns its rank. Outside
 * eqx_vmap it is a->ndim/a->shape. Layers and per-example code should read shapes this
 * way; a->data inside eqx_vmap holds the whole batch (batch axes first). */
int eqx_array_shape(const eqx_array *a, int64_t *shape);

/* ---------------------------------------------------------------- trees */

typedef enum eqx_kind {
    EQX_NONE = 0,
    EQX_LEAF_ARRAY,
    EQX_LEAF_SCALAR,    /* a double: hyperparameters, flags */
    EQX_LEAF_FN,        /* a named unary array function, e.g. the MLP's activation */
    EQX_LEAF_STRING,
    EQX_MODULE,
    EQX_LIST,
    EQX_TUPLE,
    EQX_DICT
} eqx_kind;

typedef struct eqx_tree eqx_tree;
typedef struct eqx_ctx eqx_ctx;
typedef struct eqx_key { uint32_t k[2]; } eqx_key;

/* The type stored in a function leaf: an elementwise activation such as eqx_relu. */
typedef eqx_status (*eqx_unary_fn)(eqx_ctx *ctx, const eqx_array *x, eqx_array **out);

typedef struct eqx_field {
    const char *name;
    bool is_static;     /* static fields live in the treedef, never among the leaves */
} eqx_field;

/* A module type: its fields and its call. Define one as a static const object; the
 * library keeps a pointer to it, so it must outlive every module of that type. `call`
 * may be NULL for modules that are only containers. `out` returned by call is owned by
 * ctx (or may be x itself). `key` may be NULL when the module needs no randomness. */
typedef struct eqx_module_type {
    const char *name;
    int nfields;
    const eqx_field *fields;
    eqx_status (*call)(eqx_ctx *ctx, const eqx_tree *self, const eqx_array *x,
                       const eqx_key *key, eqx_array **out);
} eqx_module_type;

/* Leaf constructors. Caller owns *out (eqx_tree_free). eqx_leaf_array retains a. */
eqx_status eqx_leaf_array(eqx_array *a, eqx_tree **out);
eqx_status eqx_leaf_scalar(double v, eqx_tree **out);
eqx_status eqx_leaf_fn(const char *name, eqx_unary_fn fn, eqx_tree **out);
eqx_status eqx_leaf_string(const char *s, eqx_tree **out);
/* The none leaf (an immortal singleton: freeing it is a no-op). Never fails. */
eqx_tree *eqx_none(void);

/* Container constructors. Children are borrowed and retained (NULL means none).
 * Dict keys are copied and sorted, as JAX sorts dict keys. Caller owns *out. */
eqx_status eqx_list_new(int n, eqx_tree *const *children, eqx_tree **out);
eqx_status eqx_tuple_new(int n, eqx_tree *const *children, eqx_tree **out);
eqx_status eqx_dict_new(int n, const char *const *keys, eqx_tree *const *children,
                        eqx_tree **out);
/* children has type->nfields entries, in field order. */
eqx_status eqx_module_new(const eqx_module_type *type, eqx_tree *const *children,
                          eqx_tree **out);
/* In-place replacement of child i (retains child, releases the old one). For building
 * trees step by step; functional code should prefer eqx_tree_at. Making a tree contain
 * itself is possible in C; eqx_tree_check reports it, and such a cycle must be broken
 * (set the child back to eqx_none()) before freeing. */
eqx_status eqx_tree_set_child(eqx_tree *node, int i, eqx_tree *child);

eqx_tree *eqx_tree_retain(eqx_tree *t);
void eqx_tree_free(eqx_tree *t);          /* drops one reference; NULL is ignored */

/* Accessors; every returned pointer is borrowed from t. */
eqx_kind eqx_tree_kind(const eqx_tree *t);
int eqx_tree_nchildren(const eqx_tree *t);                      /* 0 for leaves */
eqx_tree *eqx_tree_child(const eqx_tree *t, int i);
const char *eqx_tree_key(const eqx_tree *t, int i);             /* dict key / field name */
eqx_tree *eqx_tree_field(const eqx_tree *t, const char *name);  /* module field or dict key */
const eqx_module_type *eqx_tree_module_type(const eqx_tree *t);
eqx_array *eqx_tree_array(const eqx_tree *t);                   /* NULL unless array leaf */
double eqx_tree_scalar(const eqx_tree *t);                      /* 0 unless scalar leaf */
const char *eqx_tree_string(const eqx_tree *t);                 /* string or fn name */
eqx_unary_fn eqx_tree_fn(const eqx_tree *t);

/* Flatten / unflatten: the treedef records the structure in post-order (JAX's PyTreeDef)
 * including every static field's value; leaves come out left to right. Unlike JAX, none
 * is a leaf, so a filtered tree and its complement share one treedef and combine is
 * leafwise. Caller owns *treedef (eqx_treedef_free) and *leaves (eqx_leaves_free). */
typedef struct eqx_treedef eqx_treedef;
eqx_status eqx_tree_flatten(const eqx_tree *t, eqx_treedef **treedef, eqx_tree ***leaves,
                            int *nleaves);
/* Leaves are borrowed and retained. Caller owns *out. */
eqx_status eqx_tree_unflatten(const eqx_treedef *td, eqx_tree *const *leaves, int nleaves,
                              eqx_tree **out);
int eqx_treedef_num_leaves(const eqx_treedef *td);
bool eqx_treedef_equal(const eqx_treedef *a, const eqx_treedef *b);
void eqx_treedef_free(eqx_treedef *td);
void eqx_leaves_free(eqx_tree **leaves, int n);

/* Leaf predicates for filtering. */
typedef bool (*eqx_filter_fn)(const eqx_tree *leaf);
bool eqx_is_array(const eqx_tree *leaf);           /* float32 or int32 array */
bool eqx_is_inexact_array(const eqx_tree *leaf);   /* float32 array */

/* eqx_filter: leaves failing keep() become none. Caller owns *out. */
eqx_status eqx_filter(const eqx_tree *t, eqx_filter_fn keep, eqx_tree **out);
/* Split into (leaves passing, leaves failing), each with none elsewhere. Caller owns both. */
eqx_status eqx_partition(const eqx_tree *t, eqx_filter_fn keep, eqx_tree **yes,
                         eqx_tree **no);
/* Re-join: at each leaf the first non-none of a, b wins. Same structure required.
 * Caller owns *out. */
eqx_status eqx_combine(const eqx_tree *a, const eqx_tree *b, eqx_tree **out);
/* Functional update: a copy of t with the node at path replaced. Path syntax relative to
 * the root: ".layers[1].weight", "['key']", "" (the root). Caller owns *out. */
eqx_status eqx_tree_at(const eqx_tree *t, const char *path, eqx_tree *replacement,
                       eqx_tree **out);
/* One node, one place: fails with EQX_ERR_DUPLICATE when a container is reachable by two
 * paths or contains itself, naming both paths and suggesting eqx_shared. Leaves (arrays)
 * may repeat. Flatten and every transform/optimiser entry point run this check. */
eqx_status eqx_tree_check(const eqx_tree *t);

/* ---------------------------------------------------------------- evaluation context */

/* A context owns the temporaries of a computation (an arena) and chooses how ops are
 * evaluated: eagerly, batched by their batching rules inside eqx_vmap, recorded onto a
 * tape inside eqx_filter_value_and_grad; and while eqx_filter_jit traces, every kernel is
 * also recorded into the program. One op set serves all of them.
 * Caller owns *out (eqx_ctx_free). */
eqx_status eqx_ctx_new(eqx_ctx **out);
/* Releases every array the ctx owns (op results). Arrays you retained survive. Ignored
 * when called from inside a loss function being differentiated or a vmapped function. */
void eqx_ctx_reset(eqx_ctx *ctx);
void eqx_ctx_free(eqx_ctx *ctx);
/* A 0-d float32 constant owned by ctx. */
eqx_status eqx_scalar(eqx_ctx *ctx, float v, eqx_array **out);

/* ---------------------------------------------------------------- ops */
/* Every op returns its result through out, owned by ctx. Shape errors name both shapes. */

/* (m,k)@(k,n), (k,)@(k,n), (m,k)@(k,), (k,)@(k,); OpenBLAS sgemm. */
eqx_status eqx_matmul(eqx_ctx *ctx, const eqx_array *a, const eqx_array *b, eqx_array **out);
/* Elementwise with NumPy broadcasting. */
eqx_status eqx_add(eqx_ctx *ctx, const eqx_array *a, const eqx_array *b, eqx_array **out);
eqx_status eqx_sub(eqx_ctx *ctx, const eqx_array *a, const eqx_array *b, eqx_array **out);
eqx_status eqx_mul(eqx_ctx *ctx, const eqx_array *a, const eqx_array *b, eqx_array **out);
eqx_status eqx_div(eqx_ctx *ctx, const eqx_array *a, const eqx_array *b, eqx_array **out);
eqx_status eqx_mul_scalar(eqx_ctx *ctx, const eqx_array *a, float s, eqx_array **out);
eqx_status eqx_tanh(eqx_ctx *ctx, const eqx_array *x, eqx_array **out);
eqx_status eqx_relu(eqx_ctx *ctx, const eqx_array *x, eqx_array **out);
/* jax.nn.gelu's default tanh approximation. */
eqx_status eqx_gelu(eqx_ctx *ctx, const eqx_array *x, eqx_array **out);
eqx_status eqx_exp(eqx_ctx *ctx, const eqx_array *x, eqx_array **out);
eqx_status eqx_log(eqx_ctx *ctx, const eqx_array *x, eqx_array **out);
eqx_status eqx_sqrt(eqx_ctx *ctx, const eqx_array *x, eqx_array **out);
eqx_status eqx_identity(eqx_ctx *ctx, const eqx_array *x, eqx_array **out);
/* Reductions over the listed axes (negative counts from the end; naxes == 0: all axes).
 * Reduced axes are removed. */
eqx_status eqx_sum(eqx_ctx *ctx, const eqx_array *x, int naxes, const int *axes,
                   eqx_array **out);
eqx_status eqx_mean(eqx_ctx *ctx, const eqx_array *x, int naxes, const int *axes,
                    eqx_array **out);
/* A view with a new shape (one entry may be -1). */
eqx_status eqx_reshape(eqx_ctx *ctx, const eqx_array *x, int ndim, const int64_t *shape,
                       eqx_array **out);
/* perm == NULL reverses the axes. */
eqx_status eqx_transpose(eqx_ctx *ctx, const eqx_array *x, const int *perm, eqx_array **out);
/* Over the last axis. */
eqx_status eqx_log_softmax(eqx_ctx *ctx, const eqx_array *x, eqx_array **out);
/* Mean over examples of -log_softmax(logits)[label]; logits (..., C), labels int32 (...). */
eqx_status eqx_cross_entropy(eqx_ctx *ctx, const eqx_array *logits, const eqx_array *labels,
                             eqx_array **out);
/* mean((pred - target)^2) over all elements; same shapes. */
eqx_status eqx_mse(eqx_ctx *ctx, const eqx_array *pred, const eqx_array *target,
                   eqx_array **out);
/* Identity forward, zero gradient backward: the FAQ's way to hold buffers. */
eqx_status eqx_stop_gradient(eqx_ctx *ctx, const eqx_array *x, eqx_array **out);

/* ---------------------------------------------------------------- autodiff */

/* A scalar loss of `model` (plus anything else through user). *loss is owned by ctx. */
typedef eqx_status (*eqx_loss_fn)(eqx_ctx *ctx, const eqx_tree *model, void *user,
                                  eqx_array **loss);

/* Runs fn on model with its float32 array leaves watched, then reverse-mode autodiff.
 * *value receives the loss; *grads (caller owns) has model's structure: the gradient at
 * each float32 array leaf, none everywhere else (functions, ints, strings, ...). Only the
 * first argument is differentiated; pass data through user. Runs eqx_tree_check(model).
 * Not re-entrant within one ctx (no grad of grad). Inside eqx_vmap the gradients are
 * per-example (each leaf's gradient carries the batch axis). */
eqx_status eqx_filter_value_and_grad(eqx_ctx *ctx, eqx_loss_fn fn, const eqx_tree *model,
                                     void *user, float *value, eqx_tree **grads);

/* Like eqx_filter_value_and_grad, but the loss comes back as the 0-d float32 array the
 * loss function returned (owned by ctx): what a jitted training step returns. */
eqx_status eqx_filter_value_and_grad_array(eqx_ctx *ctx, eqx_loss_fn fn, const eqx_tree *model,
                                           void *user, eqx_array **value, eqx_tree **grads);

/* ---------------------------------------------------------------- transforms (vmap.c, jit.c) */

/* The functions eqx_vmap and eqx_filter_jit transform: a tree of arguments (a tuple, one
 * child per argument) to a tree of results. Arrays in *out may be ctx-owned op results;
 * the tree itself is the caller's (one reference). user is fixed when the transform is
 * made, like a closure: data that changes between calls must come through args. */
typedef eqx_status (*eqx_fn)(eqx_ctx *ctx, const eqx_tree *args, void *user, eqx_tree **out);

/* in_axes entry for an argument that is not mapped (JAX's None). */
#define EQX_UNMAPPED (-100)

typedef struct eqx_vmapped eqx_vmapped;
/* jax.vmap / eqx.filter_vmap: fn maps over axis in_axes[i] of every array leaf of argument
 * i (non-array leaves are never mapped); results get the batch axis at out_axes. Each op
 * runs once on the whole batch by its batching rule (a vmapped eqx_linear is one GEMM);
 * an op without a rule fails with "batching rule for '<op>' not implemented". Nests
 * (call an eqx_vmapped inside fn, or vmap eqx_vmapped_fn) and composes with
 * eqx_filter_value_and_grad both ways: grad of a vmapped loss is the batch gradient;
 * grad inside fn gives per-example gradients. in_axes is copied. Caller owns *out. */
eqx_status eqx_vmap(eqx_fn fn, void *user, int nargs, const int *in_axes, int out_axes,
                    eqx_vmapped **out);
/* jax.vmap(model): the module is the mapped function (and is not mapped itself); call
 * with args = (x,) or through eqx_vmapped_call_array. The module is retained. */
eqx_status eqx_vmap_module(const eqx_tree *module, int in_axis, int out_axis,
                           eqx_vmapped **out);
/* Calls vf on args (a tuple or list of vf's nargs arguments). Caller owns *out. */
eqx_status eqx_vmapped_call(eqx_ctx *ctx, const eqx_vmapped *vf, const eqx_tree *args,
                            eqx_tree **out);
/* One array in, one array out (e.g. a vmapped module). *out is owned by ctx. */
eqx_status eqx_vmapped_call_array(eqx_ctx *ctx, const eqx_vmapped *vf, const eqx_array *x,
                                  eqx_array **out);
void eqx_vmapped_free(eqx_vmapped *vf);
/* An eqx_fn that calls the eqx_vmapped passed as user: eqx_vmap(eqx_vmapped_fn, inner, ...)
 * is vmap(vmap(f)). */
eqx_status eqx_vmapped_fn(eqx_ctx *ctx, const eqx_tree *args, void *user, eqx_tree **out);
/* An eqx_fn for "call a module": args = (module, x) gives module(x) as an array leaf; so
 * eqx_vmap(eqx_module_fn, NULL, 2, (int[]){EQX_UNMAPPED, 0}, 0) maps x with the module
 * as an unmapped argument. */
eqx_status eqx_module_fn(eqx_ctx *ctx, const eqx_tree *args, void *user, eqx_tree **out);

typedef struct eqx_jitted eqx_jitted;
/* eqx.filter_jit: the first call for a given (treedef, static leaves, array shapes and
 * dtypes) of the arguments traces fn (running it once, recording every kernel) and plans
 * its buffers; later calls with the same key replay the recorded program without calling
 * fn and without allocating. Array leaves are traced; every other leaf (function,
 * scalar, string, none) is static and compared by value: a change re-traces. Arrays fn
 * reaches other than through args are constants of the program (kept by reference). Caller
 * owns *out (eqx_jitted_free). */
eqx_status eqx_filter_jit(eqx_fn fn, void *user, eqx_jitted **out);
/* jax.jit: the same, but every leaf of args must be an array (or none); any other leaf
 * fails with EQX_ERR_NOT_ARRAY naming its path and type, and pointing to eqx_filter_jit. */
eqx_status eqx_jit(eqx_fn fn, void *user, eqx_jitted **out);
/* Calls the jitted function. *out (caller owns one reference) holds arrays owned by the
 * program's output buffers: release it before the next-but-one call to let the program
 * reuse them (it keeps two sets and allocates a new set only if both are still held).
 * Inside another transform (vmap, grad, another jit's trace) fn is inlined, as in JAX.
 * One eqx_jitted replays into one set of buffers: do not call the same one from two
 * threads at once (make one per thread). */
eqx_status eqx_jitted_call(eqx_ctx *ctx, eqx_jitted *jf, const eqx_tree *args, eqx_tree **out);
/* How many times fn has been traced (once per distinct key). */
int eqx_jitted_trace_count(const eqx_jitted *jf);
void eqx_jitted_free(eqx_jitted *jf);

/* Matrix products (cblas_sgemm calls) issued so far by this thread, forward and backward:
 * lets tests prove that a vmapped layer is one GEMM, not a loop. */
long eqx_debug_gemm_calls(void);

/* ---------------------------------------------------------------- PRNG (threefry-2x32) */

eqx_key eqx_prng_key(uint64_t seed);
/* n new independent keys into out[0..n-1]. */
void eqx_prng_split(eqx_key key, int n, eqx_key *out);
/* Same key, same numbers. Caller owns *out. */
eqx_status eqx_random_uniform(eqx_key key, int ndim, const int64_t *shape, float lo,
                              float hi, eqx_array **out);
eqx_status eqx_random_normal(eqx_key key, int ndim, const int64_t *shape, eqx_array **out);

/* ---------------------------------------------------------------- layers (nn.c) */
/* Constructors: caller owns *out. Layers act on ONE example; a batch fails with
 * EQX_ERR_BATCHED and a message pointing to eqx_vmap. */

extern const eqx_module_type eqx_linear_type, eqx_mlp_type, eqx_sequential_type,
    eqx_layer_norm_type, eqx_dropout_type, eqx_shared_type;

/* weight (out, in) and bias (out,), uniform(-1/sqrt(in), 1/sqrt(in)) as in Equinox. */
eqx_status eqx_linear_new(int in_features, int out_features, bool use_bias, eqx_key key,
                          eqx_tree **out);
/* depth hidden layers of width_size; activation is stored as a function leaf named
 * act_name; the final activation is the identity. */
eqx_status eqx_mlp_new(int in_size, int out_size, int width_size, int depth,
                       const char *act_name, eqx_unary_fn activation, eqx_key key,
                       eqx_tree **out);
/* layers are borrowed and retained. */
eqx_status eqx_sequential_new(int n, eqx_tree *const *layers, eqx_tree **out);
/* Normalises over the whole input of the given shape; weight=1, bias=0 if affine. */
eqx_status eqx_layer_norm_new(int ndim, const int64_t *shape, float eps, bool affine,
                              eqx_tree **out);
eqx_status eqx_dropout_new(float p, bool inference, eqx_tree **out);
/* A copy of model with every dropout's inference flag set (eqx.nn.inference_mode).
 * Caller owns *out. */
eqx_status eqx_nn_inference_mode(const eqx_tree *model, bool inference, eqx_tree **out);
/* Weight tying: stores `tree` once, with the node at where_path replaced by none; and
 * eqx_shared_get re-inserts the node found at get_path there, so both uses are one value
 * and their gradients are summed. Paths use eqx_tree_at syntax. */
eqx_status eqx_shared_new(const eqx_tree *tree, const char *where_path, const char *get_path,
                          eqx_tree **out);
/* The tied tree, ready to use. Caller owns *out. */
eqx_status eqx_shared_get(const eqx_tree *shared, eqx_tree **out);

/* Calls module's type->call on one example. *out is owned by ctx. key may be NULL. */
eqx_status eqx_module_call(eqx_ctx *ctx, const eqx_tree *module, const eqx_array *x,
                           const eqx_key *key, eqx_array **out);

/* ---------------------------------------------------------------- optimisers (optim.c) */

typedef struct eqx_optimizer eqx_optimizer;
/* Optimiser constructors: caller owns *out (eqx_optimizer_free). The optimiser holds only
 * hyperparameters; its state is a tree made by eqx_opt_init.
 * optax.sgd(lr, momentum): trace = g + momentum * trace; update = -lr * trace. */
eqx_status eqx_sgd_new(float lr, float momentum, eqx_optimizer **out);
/* optax.adam / optax.adamw (weight_decay applied to params, scaled by -lr). */
eqx_status eqx_adam_new(float lr, float b1, float b2, float eps, eqx_optimizer **out);
eqx_status eqx_adamw_new(float lr, float b1, float b2, float eps, float weight_decay,
                         eqx_optimizer **out);
void eqx_optimizer_free(eqx_optimizer *opt);

/* State for params, which may hold arrays and none only: any other leaf fails with
 * EQX_ERR_NOT_ARRAY naming its path and the FAQ's fix, eqx_filter(model, eqx_is_array).
 * Caller owns *state. */
eqx_status eqx_opt_init(const eqx_optimizer *opt, const eqx_tree *params, eqx_tree **state);
/* updates (same structure as grads; none where grads are none) and the next state.
 * params may be the full model or the filtered params; needed by AdamW only (else NULL
 * is fine). Caller owns *updates and *new_state. */
eqx_status eqx_opt_update(const eqx_optimizer *opt, const eqx_tree *grads,
                          const eqx_tree *state, const eqx_tree *params, eqx_tree **updates,
                          eqx_tree **new_state);
/* model + updates leafwise; none updates keep the model's leaf. Caller owns *out. */
eqx_status eqx_apply_updates(const eqx_tree *model, const eqx_tree *updates, eqx_tree **out);

/* ---------------------------------------------------------------- save / load (io.c) */

/* Writes every leaf of t (format: docs/runtime.md, "Binary format"). */
eqx_status eqx_tree_serialise_leaves(const char *path, const eqx_tree *t);
/* Reads leaves saved from a model shaped like `like`; checks magic, version, length,
 * checksum, leaf kinds, dtypes and shapes, and on success gives a new tree (caller owns)
 * with like's structure and the file's leaves. On any failure `like` is untouched and
 * *out is NULL. */
eqx_status eqx_tree_deserialise_leaves(const char *path, const eqx_tree *like,
                                       eqx_tree **out);

#ifdef __cplusplus
}
#endif
#endif /* EQX_H */
