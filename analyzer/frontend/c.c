/* C front end: libclang syntax tree -> facts, for model code written against libeqx.
 *
 * Design choice: LOWERING, not C-specific rules. libeqx mirrors Equinox name for name, so
 * each libeqx call of interest is rewritten here into the Python-shaped facts the rules
 * already read, and the rules stay language-neutral:
 *   eqx_adam_new(lr, ..., &opt)           opt = optax.adam(lr, ...)
 *   eqx_opt_init(opt, model, &state)      state = opt.init(model)
 *   eqx_filter(m, eqx_is_array, &p)       p = equinox.filter(m, equinox.is_array)
 *   eqx_mlp_new(..., key, &m)             m = MLP(..., key=key)   (MLP: a class made from
 *                                         runtime/include/eqx_layers.def)
 *   eqx_module_new(&pair_type, kids, &m)  m = Pair(kids[0], kids[1], ...) where Pair is a
 *                                         class built from the eqx_module_type/eqx_field
 *                                         tables (static fields keep is_static)
 *   eqx_jit(step, u, &jf); eqx_jitted_call(ctx, jf, args, &o)
 *                                         jf = jax.jit(step); o = jf(*elements of args)
 *   eqx_prng_split(key, n, ks)            ks = jax.random.split(key, n)
 * An out-parameter `&x` becomes an assignment to x that holds from the end of the
 * statement, exactly like `x = ...` in Python, so the position-aware lookup of facts.c gives
 * data flow for free. The whole mapping is the table `lowerings` below (plus the layer rows of
 * eqx_layers.def); nothing else in the analyzer knows a libeqx name. The alternative, C
 * matchers inside every rule, would double each rule and let the two languages drift.
 *
 * What a layer holds comes from eqx_layers.def, shared with runtime/nn.c: a layer whose row
 * says FUNCTIONS becomes a Module class with a non-static `activation` field assigned the
 * function passed at each construction site (so messages name the real function); ARRAYS
 * layers are Modules without non-array fields; CHILDREN layers hold what their trees hold
 * (lowered like equinox.nn.Sequential, whose verdict is per instance). libeqx lists and
 * dicts are trees too and lower the same way; tuples are mostly the argument packs of
 * jitted calls, rebuilt every step around one model, so they stay plain tuple values whose
 * elements feed eqx_jitted_call. A parameter typed eqx_optimizer * is an optax
 * GradientTransformation (libeqx has no other kind).
 *
 * Statements keep their structure (if/else arms, loops, returns) for branch-aware rules.
 * `do { ... } while (0)` (EQX_TRY and friends) is not a loop and is inlined; a `for` becomes
 * its init statement followed by a while loop whose body ends with the increment.
 * Positions are byte offsets in the file; code inside macro expansions reports at the
 * expansion, macro arguments at their spelling. Compiler errors become EQX999 (the first
 * error, with clang's message); the parts that parsed are converted anyway. */
#define _GNU_SOURCE
#include "eqlint/cfront.h"

#include <clang-c/CXCompilationDatabase.h>
#include <clang-c/Index.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_DEPTH 300

/* ------------------------------------------------------------------ options */

static char **g_flags;
static size_t g_nflags;
static char *g_compdb;

bool eql_cfront_is_c_path(const char *path) {
  size_t n = strlen(path);
  return n > 2 && path[n - 2] == '.' && (path[n - 1] == 'c' || path[n - 1] == 'h') &&
         path[n - 3] != '/';
}

int eql_cfront_add_flag(const char *flag) {
  char **v = realloc(g_flags, (g_nflags + 1) * sizeof *v);
  if (!v) return -1;
  g_flags = v;
  if (!(g_flags[g_nflags] = strdup(flag))) return -1;
  g_nflags++;
  return 0;
}

int eql_cfront_set_compdb_dir(const char *dir) {
  free(g_compdb);
  g_compdb = dir ? strdup(dir) : NULL;
  return dir && !g_compdb ? -1 : 0;
}

void eql_cfront_reset(void) {
  for (size_t i = 0; i < g_nflags; i++) free(g_flags[i]);
  free(g_flags);
  g_flags = NULL;
  g_nflags = 0;
  free(g_compdb);
  g_compdb = NULL;
}

/* ------------------------------------------------------------------ the lowering table */

typedef enum {
  LW_CTOR,     /* out (last argument) = canon(args...) */
  LW_METHOD,   /* out = arg0.canon(args...): eqx_opt_init -> opt.init(params) */
  LW_PAIR,     /* last two arguments = the two results of canon(args...) */
  LW_MODULE,   /* eqx_module_new(&type, children, &out): out = Type(children...) */
  LW_CONTAINER,/* list/tuple/dict: out = equinox.nn.Sequential([children...]) */
  LW_LEAF,     /* leaf constructors: canon says which ("array", "scalar", "fn", "string") */
  LW_GRAD,     /* (ctx, fn, model, user, ...): canon(fn)(model, user) */
  LW_CALLED,   /* (ctx, transformed, args, &out): out = transformed(*args) */
  LW_MODCALL,  /* eqx_module_call(ctx, m, x, key, &out): out = m(x, key=key) */
  LW_SPLIT,    /* eqx_prng_split(key, n, out[]): out = jax.random.split(key, n) */
  LW_RETURNS,  /* value-returning: canon(args...) */
  LW_SETCHILD, /* eqx_tree_set_child(node, i, child): one more place holding child */
  LW_OPAQUE,   /* deliberately not lowered (see its comment) */
} lw_kind;

typedef struct lowering {
  const char *c_name;
  lw_kind how;
  const char *canon;
  signed char args[6]; /* C arguments that become positional arguments, in order; -1 ends */
} lowering;

#define A(...) {__VA_ARGS__, -1}
static const lowering lowerings[] = {
  /* optimisers: GradientTransformations by their optax names */
  {"eqx_sgd_new", LW_CTOR, "optax.sgd", A(0, 1)},
  {"eqx_adam_new", LW_CTOR, "optax.adam", A(0, 1, 2, 3)},
  {"eqx_adamw_new", LW_CTOR, "optax.adamw", A(0, 1, 2, 3, 4)},
  {"eqx_opt_init", LW_METHOD, "init", A(1)},
  /* eqx_opt_update(opt, grads, state, params, ...) is NOT lowered to opt.update(...): libeqx
   * documents that params may be the whole model (only AdamW reads it, leafwise, skipping
   * non-array leaves), so passing the model there is correct C. */
  {"eqx_opt_update", LW_OPAQUE, NULL, A(0)},
  {"eqx_apply_updates", LW_CTOR, "equinox.apply_updates", A(0, 1)},
  /* filtering */
  {"eqx_filter", LW_CTOR, "equinox.filter", A(0, 1)},
  {"eqx_partition", LW_PAIR, "equinox.partition", A(0, 1)},
  {"eqx_combine", LW_CTOR, "equinox.combine", A(0, 1)},
  {"eqx_tree_at", LW_CTOR, "equinox.tree_at", A(1, 0, 2)}, /* where, pytree, replace */
  {"eqx_nn_inference_mode", LW_CTOR, "equinox.nn.inference_mode", A(0)},
  /* trees */
  {"eqx_module_new", LW_MODULE, NULL, A(1)},
  {"eqx_list_new", LW_CONTAINER, "equinox.nn.Sequential", A(1)},
  /* tuples are mostly the argument packs of jitted/vmapped calls, rebuilt every step around
   * the same model: a plain tuple value (its elements are still tracked for those calls) */
  {"eqx_tuple_new", LW_CONTAINER, NULL, A(1)},
  {"eqx_dict_new", LW_CONTAINER, "equinox.nn.Sequential", A(2)},
  {"eqx_tree_set_child", LW_SETCHILD, NULL, A(0, 1, 2)},
  {"eqx_leaf_array", LW_LEAF, "array", A(0)},
  {"eqx_leaf_scalar", LW_LEAF, "scalar", A(0)},
  {"eqx_leaf_fn", LW_LEAF, "fn", A(1)},
  {"eqx_leaf_string", LW_LEAF, "string", A(0)},
  {"eqx_none", LW_RETURNS, NULL, A(-1)},
  /* transforms: libeqx's eqx_vmap never maps non-array leaves, i.e. it is filter_vmap */
  {"eqx_jit", LW_CTOR, "jax.jit", A(0)},
  {"eqx_filter_jit", LW_CTOR, "equinox.filter_jit", A(0)},
  {"eqx_vmap", LW_CTOR, "equinox.filter_vmap", A(0)},
  {"eqx_vmap_module", LW_CTOR, "equinox.filter_vmap", A(0)},
  {"eqx_jitted_call", LW_CALLED, NULL, A(1, 2)},
  {"eqx_vmapped_call", LW_CALLED, NULL, A(1, 2)},
  {"eqx_filter_value_and_grad", LW_GRAD, "equinox.filter_value_and_grad", A(1, 2, 3)},
  {"eqx_filter_value_and_grad_array", LW_GRAD, "equinox.filter_value_and_grad", A(1, 2, 3)},
  /* the unfiltered spellings RULES.md names (not in eqx.h today): lowered when they appear */
  {"eqx_grad", LW_GRAD, "jax.grad", A(1, 2, 3)},
  {"eqx_value_and_grad", LW_GRAD, "jax.value_and_grad", A(1, 2, 3)},
  {"eqx_module_call", LW_MODCALL, NULL, A(1, 2, 3)},
  /* PRNG */
  {"eqx_prng_key", LW_RETURNS, "jax.random.PRNGKey", A(0)},
  {"eqx_prng_split", LW_SPLIT, "jax.random.split", A(0, 1)},
  {"eqx_random_uniform", LW_CTOR, "jax.random.uniform", A(0, 2, 3, 4)},
  {"eqx_random_normal", LW_CTOR, "jax.random.normal", A(0, 2)},
};
#undef A

/* Names that are values with an Equinox twin (filter predicates). */
static const struct { const char *c_name, *canon; } value_names[] = {
  {"eqx_is_array", "equinox.is_array"},
  {"eqx_is_inexact_array", "equinox.is_inexact_array"},
};

/* The layer table shared with the runtime. */
enum { ARRAYS, FUNCTIONS, CHILDREN };
typedef struct layer_row {
  const char *ctor, *name;
  int leaves, key_arg, fn_arg, tree_arg;
  const char *why;
} layer_row;
static const layer_row layer_rows[] = {
#define EQX_LAYER(stem, name, leaves, key_arg, fn_arg, tree_arg, why) \
  {"eqx_" #stem "_new", name, leaves, key_arg, fn_arg, tree_arg, why},
#include "eqx_layers.def"
#undef EQX_LAYER
};
enum { NLAYERS = sizeof layer_rows / sizeof *layer_rows };

static const lowering *find_lowering(const char *name) {
  for (size_t i = 0; i < sizeof lowerings / sizeof *lowerings; i++)
    if (!strcmp(lowerings[i].c_name, name)) return &lowerings[i];
  return NULL;
}

static int find_layer(const char *name) {
  for (int i = 0; i < NLAYERS; i++)
    if (!strcmp(layer_rows[i].ctor, name)) return i;
  return -1;
}

static const char *value_canon(const char *name) {
  for (size_t i = 0; i < sizeof value_names / sizeof *value_names; i++)
    if (!strcmp(value_names[i].c_name, name)) return value_names[i].canon;
  return NULL;
}

/* ------------------------------------------------------------------ conversion state */

typedef struct track {       /* a local array or container whose elements are known */
  const char *name;
  eql_func *scope;
  eql_expr **elems;
  unsigned n;
  unsigned long long set_slots; /* eqx_tree_set_child slots already filled (bit i) */
} track;

typedef struct summary {     /* `*out = v` in a function defined here: callers' &x get v */
  eql_func *fn;
  int param;
  eql_expr *value;
} summary;

typedef struct mtype {       /* a class made for an eqx_module_type or a layer row */
  const char *bind;          /* C identifier it is constructed by */
  eql_class *cls;
  eql_func *init;            /* synthetic __init__: one `self.f = v` per construction site */
} mtype;

typedef struct cconv {
  eql_facts *f;
  const char *src;
  uint32_t len;
  CXTranslationUnit tu;
  CXFile file;
  eql_func *scope;
  eql_stmt *stmt;
  eql_stmt *parent;
  uint32_t bind_pos;        /* where bindings made by the expression being converted hold */
  int loops;                /* enclosing loops in the current function */
  int depth;
  int oom;
  eql_vec tracks, summaries, mtypes, stubs;
} cconv;

static void *alloc(cconv *c, size_t n) {
  void *p = eql_arena_alloc(c->f->arena, n);
  if (!p) c->oom = 1;
  return p;
}

static void push(cconv *c, eql_vec *v, void *item) {
  if (item && eql_vec_push(c->f->arena, v, item) < 0) c->oom = 1;
}

static const char *sdup(cconv *c, const char *s) {
  char *d = eql_arena_strdup(c->f->arena, s ? s : "");
  if (!d) c->oom = 1;
  return d ? d : "";
}

static const char *spelling(cconv *c, CXCursor cur) {
  CXString s = clang_getCursorSpelling(cur);
  const char *r = sdup(c, clang_getCString(s));
  clang_disposeString(s);
  return r;
}

/* Byte offset in this file of a location (macro arguments: where written; macro bodies:
 * where expanded). *ok = 0 when it lies in another file. */
static uint32_t offset_of(cconv *c, CXSourceLocation loc, int *ok) {
  CXFile file;
  unsigned line, col, off;
  clang_getFileLocation(loc, &file, &line, &col, &off);
  if (ok) *ok = file && clang_File_isEqual(file, c->file);
  return off > c->len ? c->len : off;
}

static void range_of(cconv *c, CXCursor cur, uint32_t *s, uint32_t *e) {
  CXSourceRange r = clang_getCursorExtent(cur);
  int ok1, ok2;
  *s = offset_of(c, clang_getRangeStart(r), &ok1);
  *e = offset_of(c, clang_getRangeEnd(r), &ok2);
  if (!ok1) *s = 0;
  if (!ok2 || *e < *s) *e = *s;
}

static int in_main(CXCursor cur) {
  return clang_Location_isFromMainFile(clang_getCursorLocation(cur));
}

/* Children of a cursor, in an arena array. */
typedef struct kids {
  CXCursor *v;
  unsigned n, cap;
  cconv *c;
} kids;

static enum CXChildVisitResult kid_cb(CXCursor cur, CXCursor parent, CXClientData d) {
  (void)parent;
  kids *k = d;
  if (k->n == k->cap) {
    unsigned cap = k->cap ? k->cap * 2 : 8;
    CXCursor *v = alloc(k->c, cap * sizeof *v);
    if (!v) return CXChildVisit_Break;
    if (k->n) memcpy(v, k->v, k->n * sizeof *v);
    k->v = v;
    k->cap = cap;
  }
  k->v[k->n++] = cur;
  return CXChildVisit_Continue;
}

static kids children(cconv *c, CXCursor cur) {
  kids k = {NULL, 0, 0, c};
  clang_visitChildren(cur, kid_cb, &k);
  return k;
}

/* Looks through implicit casts, parentheses and explicit casts. */
static CXCursor strip(cconv *c, CXCursor cur) {
  for (int i = 0; i < 32; i++) {
    enum CXCursorKind k = clang_getCursorKind(cur);
    if (k != CXCursor_UnexposedExpr && k != CXCursor_ParenExpr && k != CXCursor_CStyleCastExpr)
      break;
    kids ch = children(c, cur);
    if (!ch.n) break;
    cur = ch.v[ch.n - 1]; /* a cast's type comes first */
  }
  return cur;
}

static int word_at(cconv *c, uint32_t off, const char *w) {
  size_t n = strlen(w);
  if (off + n > c->len || memcmp(c->src + off, w, n) != 0) return 0;
  char after = off + n < c->len ? c->src[off + n] : ' ';
  return !(after == '_' || (after >= 'a' && after <= 'z') || (after >= 'A' && after <= 'Z') ||
           (after >= '0' && after <= '9'));
}

/* ------------------------------------------------------------------ IR construction */

static eql_expr *new_expr(cconv *c, eql_expr_kind k, uint32_t s, uint32_t e) {
  eql_expr *x = alloc(c, sizeof *x);
  if (!x) return NULL;
  x->kind = k;
  x->start = s;
  x->end = e;
  x->scope = c->scope;
  x->stmt = c->stmt;
  return x;
}

static eql_expr *expr_at(cconv *c, eql_expr_kind k, CXCursor cur) {
  uint32_t s, e;
  range_of(c, cur, &s, &e);
  return new_expr(c, k, s, e);
}

static void set_args(cconv *c, eql_expr *e, eql_expr **vals, const char **kws, unsigned n) {
  e->args = n ? alloc(c, n * sizeof *e->args) : NULL;
  if (n && !e->args) return;
  for (unsigned i = 0; i < n; i++) {
    e->args[i].value = vals[i];
    e->args[i].kw = kws ? kws[i] : NULL;
    if (vals[i]) {
      e->args[i].start = vals[i]->start;
      e->args[i].end = vals[i]->end;
    }
  }
  e->nargs = n;
}

static eql_expr *new_call(cconv *c, eql_expr *callee, uint32_t s, uint32_t e) {
  eql_expr *x = new_expr(c, EQL_E_CALL, s, e);
  if (!x) return NULL;
  x->a = callee;
  push(c, &c->f->calls, x);
  return x;
}

static eql_binding *add_binding(cconv *c, const char *name, eql_binding_kind k, eql_expr *value,
                                eql_expr *target, uint32_t pos) {
  eql_binding *b = alloc(c, sizeof *b);
  if (!b) return NULL;
  b->name = name;
  b->kind = k;
  b->scope = c->scope;
  b->stmt = c->stmt;
  b->value = value;
  b->target = target;
  b->unpack = -1;
  b->pos = pos;
  push(c, &c->f->bindings, b);
  return b;
}

static eql_stmt *new_stmt(cconv *c, eql_stmt_kind k, uint32_t s, uint32_t e) {
  eql_stmt *x = alloc(c, sizeof *x);
  if (!x) return NULL;
  x->kind = k;
  x->start = s;
  x->end = e;
  x->scope = c->scope;
  x->parent = c->parent;
  return x;
}

static void block_push(cconv *c, eql_block *b, eql_stmt *s) {
  if (!s) return;
  eql_stmt **items = alloc(c, (b->n + 1) * sizeof *items);
  if (!items) return;
  if (b->n) memcpy(items, b->items, b->n * sizeof *items);
  items[b->n++] = s;
  b->items = items;
}

/* ------------------------------------------------------------------ tracking */

static track *find_track(cconv *c, const char *name) {
  for (unsigned i = c->tracks.n; i-- > 0;) {
    track *t = c->tracks.items[i];
    if (t->scope == c->scope && !strcmp(t->name, name)) return t;
  }
  return NULL;
}

static void set_track(cconv *c, const char *name, eql_expr **elems, unsigned n) {
  track *t = find_track(c, name);
  if (!t) {
    t = alloc(c, sizeof *t);
    if (!t) return;
    t->name = name;
    t->scope = c->scope;
    push(c, &c->tracks, t);
  }
  t->elems = alloc(c, (n ? n : 1) * sizeof *t->elems);
  if (!t->elems) return;
  if (n) memcpy(t->elems, elems, n * sizeof *elems);
  t->n = n;
  t->set_slots = 0;
}

static void track_slot(cconv *c, const char *name, long long i, eql_expr *v) {
  track *t = find_track(c, name);
  if (!t || i < 0 || i > 4096) return;
  if ((unsigned long long)i >= t->n) {
    eql_expr **e = alloc(c, ((size_t)i + 1) * sizeof *e);
    if (!e) return;
    if (t->n) memcpy(e, t->elems, t->n * sizeof *e);
    t->elems = e;
    t->n = (unsigned)i + 1;
  }
  /* a copy: containers built earlier keep their own snapshot */
  eql_expr **e = alloc(c, t->n * sizeof *e);
  if (!e) return;
  memcpy(e, t->elems, t->n * sizeof *e);
  e[i] = v;
  t->elems = e;
}

/* A DeclRefExpr to a variable: its name, else NULL. */
static const char *var_name(cconv *c, CXCursor cur) {
  cur = strip(c, cur);
  if (clang_getCursorKind(cur) != CXCursor_DeclRefExpr) return NULL;
  CXCursor ref = clang_getCursorReferenced(cur);
  enum CXCursorKind k = clang_getCursorKind(ref);
  if (k != CXCursor_VarDecl && k != CXCursor_ParmDecl) return NULL;
  return spelling(c, cur);
}

static int const_int(cconv *c, CXCursor cur, long long *out) {
  (void)c;
  CXEvalResult r = clang_Cursor_Evaluate(cur);
  if (!r) return 0;
  int ok = clang_EvalResult_getKind(r) == CXEval_Int;
  if (ok) *out = clang_EvalResult_getAsLongLong(r);
  clang_EvalResult_dispose(r);
  return ok;
}

/* ------------------------------------------------------------------ expressions */

static eql_expr *cexpr(cconv *c, CXCursor cur);
static eql_expr *lower_call(cconv *c, CXCursor call);

/* A function used as a value. Defined here: its def binding exists; declared only (a header
 * function such as eqx_relu): a module-level def binding to a body-less function is made, so
 * the value is known to be a function. */
static void ensure_function_binding(cconv *c, const char *name) {
  for (unsigned i = 0; i < c->stubs.n; i++)
    if (!strcmp(c->stubs.items[i], name)) return;
  push(c, &c->stubs, (void *)name);
  for (unsigned i = 0; i < c->f->funcs.n; i++)
    if (!strcmp(((eql_func *)c->f->funcs.items[i])->name, name)) return;
  eql_func *fn = alloc(c, sizeof *fn);
  if (!fn) return;
  fn->name = name;
  eql_func *saved = c->scope;
  eql_stmt *saved_stmt = c->stmt;
  c->scope = NULL;
  c->stmt = NULL;
  eql_binding *b = add_binding(c, name, EQL_B_DEF, NULL, NULL, 0);
  if (b) b->func = fn;
  c->scope = saved;
  c->stmt = saved_stmt;
}

static eql_expr *name_expr(cconv *c, CXCursor cur) {
  eql_expr *e = expr_at(c, EQL_E_NAME, cur);
  if (!e) return NULL;
  e->name = spelling(c, cur);
  CXCursor ref = clang_getCursorReferenced(cur);
  if (clang_getCursorKind(ref) == CXCursor_FunctionDecl) {
    e->canon = value_canon(e->name);
    if (!e->canon && !find_lowering(e->name) && find_layer(e->name) < 0)
      ensure_function_binding(c, e->name);
  }
  return e;
}

/* The operator of a unary/binary expression, read from the source between the operands. */
static const char *operator_text(cconv *c, uint32_t from, uint32_t to) {
  while (from < to && (c->src[from] == ' ' || c->src[from] == '\t' || c->src[from] == '\n' ||
                       c->src[from] == '\r' || c->src[from] == ')'))
    from++;
  uint32_t e = from;
  while (e < to && strchr("=!<>&|+-*/%^~", c->src[e])) e++;
  if (e == from) return "?";
  char *s = eql_arena_strndup(c->f->arena, c->src + from, e - from);
  return s ? s : "?";
}

static void bind_name(cconv *c, const char *name, eql_binding_kind k, eql_expr *value,
                      eql_expr *target) {
  add_binding(c, name, k, value, target, c->bind_pos);
}

/* Assignment `lhs = rhs` (statement or expression): bindings, tracks, summaries. */
static void assign_effects(cconv *c, CXCursor lhs, eql_expr *target, eql_expr *value,
                           CXCursor rhs) {
  CXCursor l = strip(c, lhs);
  enum CXCursorKind k = clang_getCursorKind(l);
  if (k == CXCursor_DeclRefExpr) {
    const char *n = var_name(c, l);
    if (!n) return;
    bind_name(c, n, EQL_B_ASSIGN, value, target);
    const char *src = var_name(c, rhs);
    track *t = src ? find_track(c, src) : NULL;
    if (t) set_track(c, n, t->elems, t->n);
    return;
  }
  if (k == CXCursor_ArraySubscriptExpr) {
    kids ch = children(c, l);
    if (ch.n != 2) return;
    const char *arr = var_name(c, ch.v[0]);
    long long i;
    if (!arr) return;
    if (const_int(c, ch.v[1], &i)) {
      track_slot(c, arr, i, value);
    } else if (c->loops && value && value->kind == EQL_E_NAME) {
      /* layers[i] = block in a loop: every slot gets the same object, like xs.append(x) */
      eql_expr *base = target && target->a ? target->a : NULL;
      eql_expr *callee = new_expr(c, EQL_E_ATTR, target ? target->start : value->start,
                                  target ? target->end : value->end);
      if (!callee) return;
      callee->a = base;
      callee->name = "append";
      eql_expr *call = new_call(c, callee, callee->start, value->end);
      if (call) set_args(c, call, &value, NULL, 1);
    }
    return;
  }
  if (k == CXCursor_UnaryOperator) {
    /* *out = v in a function defined here */
    kids ch = children(c, l);
    if (ch.n != 1 || !c->scope) return;
    const char *p = var_name(c, ch.v[0]);
    if (!p) return;
    for (unsigned i = 0; i < c->scope->nparams; i++)
      if (c->scope->params[i].name && !strcmp(c->scope->params[i].name, p)) {
        summary *s = alloc(c, sizeof *s);
        if (!s) return;
        s->fn = c->scope;
        s->param = (int)i;
        s->value = value;
        push(c, &c->summaries, s);
      }
  }
}

static eql_expr *other_with_kids(cconv *c, CXCursor cur) {
  eql_expr *e = expr_at(c, EQL_E_OTHER, cur);
  if (!e) return NULL;
  kids ch = children(c, cur);
  eql_expr **vals = ch.n ? alloc(c, ch.n * sizeof *vals) : NULL;
  unsigned n = 0;
  for (unsigned i = 0; i < ch.n && vals; i++)
    if (clang_isExpression(clang_getCursorKind(ch.v[i]))) vals[n++] = cexpr(c, ch.v[i]);
  set_args(c, e, vals, NULL, n);
  return e;
}

static eql_expr *cexpr(cconv *c, CXCursor cur) {
  if (c->oom || c->depth > MAX_DEPTH) return NULL;
  c->depth++;
  uint32_t s, e;
  range_of(c, cur, &s, &e);
  eql_expr *r = NULL;
  /* NULL, true and false are macros; say what they mean */
  if (word_at(c, s, "NULL")) {
    r = new_expr(c, EQL_E_NONE, s, s + 4);
    goto out;
  }
  if (word_at(c, s, "true") || word_at(c, s, "false")) {
    r = new_expr(c, EQL_E_BOOL, s, s + (c->src[s] == 't' ? 4 : 5));
    if (r) r->name = c->src[s] == 't' ? "True" : "False";
    goto out;
  }
  CXCursor st = strip(c, cur);
  switch (clang_getCursorKind(st)) {
    case CXCursor_DeclRefExpr: {
      CXCursor ref = clang_getCursorReferenced(st);
      if (clang_getCursorKind(ref) == CXCursor_EnumConstantDecl) {
        r = expr_at(c, EQL_E_INT, st);
        if (r) r->name = eql_arena_printf(c->f->arena, "%lld", clang_getEnumConstantDeclValue(ref));
      } else {
        r = name_expr(c, st);
      }
      break;
    }
    case CXCursor_IntegerLiteral:
    case CXCursor_CharacterLiteral: {
      long long v = 0;
      r = expr_at(c, EQL_E_INT, st);
      if (r) r->name = const_int(c, st, &v) ? eql_arena_printf(c->f->arena, "%lld", v) : "0";
      break;
    }
    case CXCursor_FloatingLiteral: {
      uint32_t a, b;
      range_of(c, st, &a, &b);
      r = new_expr(c, EQL_E_FLOAT, a, b);
      if (r) r->name = eql_arena_strndup(c->f->arena, c->src + a, b - a);
      break;
    }
    case CXCursor_StringLiteral: {
      r = expr_at(c, EQL_E_STR, st);
      const char *sp = spelling(c, st);
      size_t n = strlen(sp);
      if (r) r->name = n >= 2 ? eql_arena_strndup(c->f->arena, sp + 1, n - 2) : sp;
      break;
    }
    case CXCursor_CallExpr:
      r = lower_call(c, st);
      break;
    case CXCursor_MemberRefExpr: {
      kids ch = children(c, st);
      r = expr_at(c, EQL_E_ATTR, st);
      if (r) {
        r->name = spelling(c, st);
        r->a = ch.n ? cexpr(c, ch.v[0]) : NULL;
      }
      break;
    }
    case CXCursor_ArraySubscriptExpr: {
      kids ch = children(c, st);
      r = expr_at(c, EQL_E_SUBSCRIPT, st);
      if (r && ch.n == 2) {
        r->a = cexpr(c, ch.v[0]);
        eql_expr *ix = cexpr(c, ch.v[1]);
        set_args(c, r, &ix, NULL, 1);
      }
      break;
    }
    case CXCursor_InitListExpr: {
      kids ch = children(c, st);
      r = expr_at(c, EQL_E_LIST, st);
      eql_expr **vals = ch.n ? alloc(c, ch.n * sizeof *vals) : NULL;
      for (unsigned i = 0; i < ch.n && vals; i++) vals[i] = cexpr(c, ch.v[i]);
      if (r) set_args(c, r, vals, NULL, vals ? ch.n : 0);
      break;
    }
    case CXCursor_CompoundLiteralExpr: {
      kids ch = children(c, st);
      for (unsigned i = 0; i < ch.n; i++)
        if (clang_getCursorKind(ch.v[i]) == CXCursor_InitListExpr) r = cexpr(c, ch.v[i]);
      if (!r) r = other_with_kids(c, st);
      break;
    }
    case CXCursor_ConditionalOperator: {
      kids ch = children(c, st);
      r = expr_at(c, EQL_E_IFEXP, st);
      if (r && ch.n == 3) {
        r->b = cexpr(c, ch.v[0]);
        r->a = cexpr(c, ch.v[1]);
        r->c = cexpr(c, ch.v[2]);
      }
      break;
    }
    case CXCursor_UnaryOperator: {
      kids ch = children(c, st);
      uint32_t a, b;
      range_of(c, st, &a, &b);
      if (ch.n != 1) break;
      uint32_t oa, ob;
      range_of(c, ch.v[0], &oa, &ob);
      int prefix = oa > a;
      const char *op = prefix ? operator_text(c, a, oa) : operator_text(c, ob, b);
      eql_expr *operand = cexpr(c, ch.v[0]);
      if (!strcmp(op, "&")) {
        r = operand; /* &x: the object itself (out-parameters are handled by calls) */
      } else if (!strcmp(op, "*")) {
        r = new_expr(c, EQL_E_OTHER, a, b);
        if (r) r->a = operand;
      } else if (!strcmp(op, "++") || !strcmp(op, "--")) {
        r = new_expr(c, EQL_E_OTHER, a, b);
        if (r) r->a = operand;
        const char *n = var_name(c, ch.v[0]);
        if (n) bind_name(c, n, EQL_B_OTHER, NULL, operand);
      } else {
        r = new_expr(c, EQL_E_UNARY, a, b);
        if (r) {
          r->name = op;
          r->a = operand;
        }
      }
      break;
    }
    case CXCursor_BinaryOperator:
    case CXCursor_CompoundAssignOperator: {
      kids ch = children(c, st);
      if (ch.n != 2) break;
      uint32_t a, b, le, le2, rs, re;
      range_of(c, st, &a, &b);
      range_of(c, ch.v[0], &le2, &le);
      range_of(c, ch.v[1], &rs, &re);
      const char *op = operator_text(c, le, rs > le ? rs : b);
      eql_expr *lhs = cexpr(c, ch.v[0]), *rhs = cexpr(c, ch.v[1]);
      if (!strcmp(op, "=")) {
        r = new_expr(c, EQL_E_OTHER, a, b);
        if (r) {
          r->name = "=";
          r->a = lhs;
          r->b = rhs;
        }
        assign_effects(c, ch.v[0], lhs, rhs, ch.v[1]);
      } else if (clang_getCursorKind(st) == CXCursor_CompoundAssignOperator) {
        r = new_expr(c, EQL_E_OTHER, a, b);
        if (r) {
          r->name = op;
          r->a = lhs;
          r->b = rhs;
        }
        const char *n = var_name(c, ch.v[0]);
        if (n) bind_name(c, n, EQL_B_OTHER, NULL, lhs);
      } else if (!strcmp(op, "&&") || !strcmp(op, "||")) {
        r = new_expr(c, EQL_E_BOOLOP, a, b);
        if (r) {
          r->name = op[0] == '&' ? "and" : "or";
          r->a = lhs;
          r->b = rhs;
        }
      } else if (!strcmp(op, "==") || !strcmp(op, "!=") || op[0] == '<' || op[0] == '>') {
        r = new_expr(c, EQL_E_COMPARE, a, b);
        if (r) {
          r->name = op;
          r->a = lhs;
          set_args(c, r, &rhs, NULL, 1);
        }
      } else {
        r = new_expr(c, EQL_E_BINOP, a, b);
        if (r) {
          r->name = op;
          r->a = lhs;
          r->b = rhs;
        }
      }
      break;
    }
    default:
      r = other_with_kids(c, st);
      break;
  }
out:
  c->depth--;
  return r;
}

/* ------------------------------------------------------------------ classes */

static eql_expr *module_base(cconv *c, uint32_t s, uint32_t e) {
  eql_expr *b = new_expr(c, EQL_E_NAME, s, e);
  if (b) {
    b->name = "equinox.Module"; /* not a C identifier: no binding can shadow it */
    b->canon = "equinox.Module";
    b->scope = NULL;
  }
  return b;
}

/* A Module class constructed by the C identifier `bind` (a type object or a constructor). */
static mtype *new_mtype(cconv *c, const char *bind, const char *display, uint32_t s, uint32_t e) {
  for (unsigned i = 0; i < c->mtypes.n; i++) {
    mtype *m = c->mtypes.items[i];
    if (!strcmp(m->bind, bind)) return m;
  }
  mtype *m = alloc(c, sizeof *m);
  eql_class *cl = alloc(c, sizeof *cl);
  eql_func *init = alloc(c, sizeof *init);
  eql_param *self = alloc(c, sizeof *self);
  eql_expr **bases = alloc(c, sizeof *bases);
  eql_func **methods = alloc(c, sizeof *methods);
  if (!m || !cl || !init || !self || !bases || !methods) return NULL;
  cl->name = cl->qualname = display;
  cl->start = cl->name_start = s;
  cl->end = cl->name_end = e;
  bases[0] = module_base(c, s, e);
  cl->bases = bases;
  cl->nbases = 1;
  init->name = "__init__";
  init->start = init->name_start = s;
  init->end = init->name_end = e;
  self->name = "self";
  init->params = self;
  init->nparams = 1;
  init->cls = cl;
  methods[0] = init;
  cl->methods = methods;
  cl->nmethods = 1;
  push(c, &c->f->classes, cl);
  eql_func *saved = c->scope;
  eql_stmt *saved_stmt = c->stmt;
  c->scope = NULL;
  c->stmt = NULL;
  eql_binding *b = add_binding(c, bind, EQL_B_CLASS, NULL, NULL, 0);
  if (b) b->cls = cl;
  c->scope = saved;
  c->stmt = saved_stmt;
  m->bind = bind;
  m->cls = cl;
  m->init = init;
  push(c, &c->mtypes, m);
  return m;
}

static void add_field(cconv *c, mtype *m, const char *name, bool is_static, uint32_t s, uint32_t e) {
  eql_class *cl = m->cls;
  eql_field *fs = alloc(c, (cl->nfields + 1) * sizeof *fs);
  if (!fs) return;
  if (cl->nfields) memcpy(fs, cl->fields, cl->nfields * sizeof *fs);
  eql_field *fd = &fs[cl->nfields];
  fd->name = name;
  fd->is_static = is_static;
  fd->has_default = true; /* every field gets a value at construction (the children array) */
  fd->start = s;
  fd->end = e;
  cl->fields = fs;
  cl->nfields++;
}

/* `self.<field> = value` in the synthetic __init__, for one construction site. */
static void init_assign(cconv *c, mtype *m, const char *field, eql_expr *value) {
  if (!value) return;
  eql_stmt *st = alloc(c, sizeof *st);
  eql_expr *self = alloc(c, sizeof *self), *attr = alloc(c, sizeof *attr);
  eql_expr **targets = alloc(c, sizeof *targets);
  if (!st || !self || !attr || !targets) return;
  st->kind = EQL_S_ASSIGN;
  st->start = value->start;
  st->end = value->end;
  st->scope = m->init;
  self->kind = EQL_E_NAME;
  self->name = "self";
  self->start = attr->start = value->start;
  self->end = attr->end = value->end;
  self->scope = attr->scope = m->init;
  self->stmt = attr->stmt = st;
  attr->kind = EQL_E_ATTR;
  attr->a = self;
  attr->name = field;
  targets[0] = attr;
  st->targets = targets;
  st->ntargets = 1;
  st->value = value;
  block_push(c, &m->init->body, st);
}

static mtype *find_mtype(cconv *c, const char *bind) {
  for (unsigned i = 0; i < c->mtypes.n; i++) {
    mtype *m = c->mtypes.items[i];
    if (!strcmp(m->bind, bind)) return m;
  }
  return NULL;
}

static int type_mentions(CXCursor cur, const char *what) {
  CXString s = clang_getTypeSpelling(clang_getCursorType(cur));
  int r = strstr(clang_getCString(s), what) != NULL;
  clang_disposeString(s);
  return r;
}

static const char *string_lit(cconv *c, CXCursor cur) {
  cur = strip(c, cur);
  if (clang_getCursorKind(cur) != CXCursor_StringLiteral) return NULL;
  const char *sp = spelling(c, cur);
  size_t n = strlen(sp);
  return n >= 2 ? eql_arena_strndup(c->f->arena, sp + 1, n - 2) : NULL;
}

static CXCursor var_init(cconv *c, CXCursor var) {
  kids ch = children(c, var);
  for (unsigned i = ch.n; i-- > 0;)
    if (clang_isExpression(clang_getCursorKind(ch.v[i]))) return ch.v[i];
  return clang_getNullCursor();
}

/* `const eqx_module_type pair_type = {"Pair", 3, pair_fields, call}`: a Module class whose
 * fields (and their static flags) come from the eqx_field array. */
static void module_type_decl(cconv *c, CXCursor var, const eql_expr *use) {
  CXCursor init = var_init(c, var);
  if (clang_Cursor_isNull(init) || clang_getCursorKind(init) != CXCursor_InitListExpr) return;
  kids ch = children(c, init);
  const char *display = NULL;
  CXCursor fields = clang_getNullCursor();
  for (unsigned i = 0; i < ch.n; i++) {
    const char *s = string_lit(c, ch.v[i]);
    if (s && !display) display = s;
    CXCursor st = strip(c, ch.v[i]);
    if (clang_getCursorKind(st) == CXCursor_DeclRefExpr) {
      CXCursor ref = clang_getCursorReferenced(st);
      if (clang_getCursorKind(ref) == CXCursor_VarDecl && type_mentions(ref, "eqx_field"))
        fields = ref;
    }
  }
  const char *bind = spelling(c, var);
  uint32_t s, e;
  range_of(c, var, &s, &e);
  if (use) { /* declared in a header: positions are those of its use in this file */
    s = use->start;
    e = use->end;
  }
  mtype *m = new_mtype(c, bind, display ? display : bind, s, e);
  if (!m || clang_Cursor_isNull(fields)) return;
  CXCursor finit = var_init(c, fields);
  if (clang_Cursor_isNull(finit) || clang_getCursorKind(finit) != CXCursor_InitListExpr) return;
  kids fl = children(c, finit);
  /* entries in index order: `[UM_W] = {"weight", false}` designates its slot */
  typedef struct entry {
    const char *name;
    bool is_static, set;
    uint32_t s, e;
  } entry;
  entry *slots = fl.n ? alloc(c, fl.n * sizeof *slots) : NULL;
  unsigned next = 0, nslots = 0;
  for (unsigned i = 0; i < fl.n && slots; i++) {
    CXCursor el = fl.v[i];
    long long at = next;
    if (clang_getCursorKind(el) == CXCursor_UnexposedExpr) { /* designated */
      kids d = children(c, el);
      if (d.n < 2 || clang_getCursorKind(d.v[d.n - 1]) != CXCursor_InitListExpr) continue;
      if (!const_int(c, d.v[0], &at) || at < 0 || at >= (long long)fl.n) continue;
      el = d.v[d.n - 1];
    }
    if (clang_getCursorKind(el) != CXCursor_InitListExpr) continue;
    kids parts = children(c, el);
    entry *en = &slots[at];
    long long is_static = 0;
    en->name = NULL;
    for (unsigned k = 0; k < parts.n; k++) {
      const char *sv = string_lit(c, parts.v[k]);
      if (sv && !en->name) en->name = sv;
      else if (!sv) const_int(c, parts.v[k], &is_static);
    }
    en->is_static = is_static != 0;
    en->set = true;
    range_of(c, fl.v[i], &en->s, &en->e);
    if (use) {
      en->s = use->start;
      en->e = use->end;
    }
    next = (unsigned)at + 1;
    if (next > nslots) nslots = next;
  }
  for (unsigned i = 0; i < nslots; i++)
    add_field(c, m, slots[i].set && slots[i].name ? slots[i].name : "?", slots[i].is_static,
              slots[i].s, slots[i].e);
}

/* ------------------------------------------------------------------ calls */

/* The elements an argument holding several trees stands for: a compound literal, `&tree`, or a
 * local array / container whose elements are tracked. NULL when unknown. `done` is the
 * argument already converted (never converted twice: its calls and bindings would repeat). */
static eql_expr *elements(cconv *c, CXCursor arg, eql_expr *done) {
  CXCursor st = strip(c, arg);
  uint32_t s, e;
  range_of(c, arg, &s, &e);
  if (clang_getCursorKind(st) == CXCursor_CompoundLiteralExpr ||
      clang_getCursorKind(st) == CXCursor_InitListExpr) {
    return done && done->kind == EQL_E_LIST ? done : NULL;
  }
  if (clang_getCursorKind(st) == CXCursor_UnaryOperator) {
    /* &tree: an array of one */
    kids ch = children(c, st);
    uint32_t a, b, oa, ob;
    range_of(c, st, &a, &b);
    if (ch.n != 1) return NULL;
    range_of(c, ch.v[0], &oa, &ob);
    if (strcmp(operator_text(c, a, oa), "&") != 0) return NULL;
    eql_expr *one = done, *l = new_expr(c, EQL_E_LIST, s, e);
    if (l && one) set_args(c, l, &one, NULL, 1);
    return l;
  }
  const char *n = var_name(c, st);
  track *t = n ? find_track(c, n) : NULL;
  if (!t) return NULL;
  eql_expr *l = new_expr(c, EQL_E_LIST, s, e);
  if (l) set_args(c, l, t->elems, NULL, t->n);
  return l;
}

/* Records `&x` / `&k[i]` / `out` (a parameter) as receiving `value`. */
static void out_param(cconv *c, CXCursor arg, eql_expr *value, int unpack, int nunpack) {
  CXCursor st = strip(c, arg);
  enum CXCursorKind k = clang_getCursorKind(st);
  if (k == CXCursor_UnaryOperator) {
    kids ch = children(c, st);
    if (ch.n != 1) return;
    uint32_t a, b, oa, ob;
    range_of(c, st, &a, &b);
    range_of(c, ch.v[0], &oa, &ob);
    if (strcmp(operator_text(c, a, oa), "&") != 0) return;
    CXCursor obj = strip(c, ch.v[0]);
    if (clang_getCursorKind(obj) == CXCursor_DeclRefExpr) {
      const char *n = var_name(c, obj);
      if (!n) return;
      eql_expr *t = expr_at(c, EQL_E_NAME, obj);
      if (t) t->name = n;
      eql_binding *bd = add_binding(c, n, EQL_B_ASSIGN, value, t, c->bind_pos);
      if (bd && unpack >= 0) {
        bd->unpack = unpack;
        bd->nunpack = nunpack;
      }
    } else if (clang_getCursorKind(obj) == CXCursor_ArraySubscriptExpr) {
      kids sc = children(c, obj);
      long long i;
      const char *arr = sc.n == 2 ? var_name(c, sc.v[0]) : NULL;
      if (arr && const_int(c, sc.v[1], &i) && unpack < 0) track_slot(c, arr, i, value);
    }
    return;
  }
  /* an out-parameter of the function being converted, passed on */
  const char *p = var_name(c, st);
  if (!p || !c->scope || unpack >= 0) return;
  for (unsigned i = 0; i < c->scope->nparams; i++)
    if (c->scope->params[i].name && !strcmp(c->scope->params[i].name, p)) {
      summary *s = alloc(c, sizeof *s);
      if (!s) return;
      s->fn = c->scope;
      s->param = (int)i;
      s->value = value;
      push(c, &c->summaries, s);
    }
}

static eql_expr *callee_name(cconv *c, CXCursor call, const char *canon) {
  kids ch = children(c, call);
  eql_expr *e = ch.n ? expr_at(c, EQL_E_NAME, strip(c, ch.v[0])) : expr_at(c, EQL_E_NAME, call);
  if (!e) return NULL;
  if (e->end > e->start + 64 || e->end == e->start) {
    uint32_t s, x;
    range_of(c, call, &s, &x);
    e->start = s;
    e->end = s;
  }
  e->name = spelling(c, call);
  e->canon = canon;
  return e;
}

/* Positional arguments of the lowered call, from the C arguments listed in `idx`. */
static eql_expr *lowered_call(cconv *c, eql_expr *callee, CXCursor call, eql_expr **conv,
                              unsigned nconv, const signed char *idx, int key_arg) {
  uint32_t s, e;
  range_of(c, call, &s, &e);
  eql_expr *x = new_call(c, callee, s, e);
  if (!x) return NULL;
  eql_expr *vals[8];
  const char *kws[8];
  unsigned n = 0;
  for (int i = 0; idx && idx[i] >= 0 && n < 7; i++)
    if ((unsigned)idx[i] < nconv) {
      vals[n] = conv[idx[i]];
      kws[n++] = NULL;
    }
  if (key_arg >= 0 && (unsigned)key_arg < nconv && n < 8) {
    vals[n] = conv[key_arg];
    kws[n++] = "key";
  }
  set_args(c, x, vals, kws, n);
  return x;
}

static eql_func *defined_function(cconv *c, const char *name) {
  for (unsigned i = 0; i < c->f->funcs.n; i++) {
    eql_func *fn = c->f->funcs.items[i];
    if (!fn->is_lambda && !strcmp(fn->name, name)) return fn;
  }
  return NULL;
}

static eql_expr *layer_call(cconv *c, int li, CXCursor call, eql_expr **conv, unsigned n) {
  const layer_row *row = &layer_rows[li];
  uint32_t s, e;
  range_of(c, call, &s, &e);
  signed char idx[8];
  unsigned k = 0;
  for (unsigned i = 0; i + 1 < n && k < 7; i++)
    if ((int)i != row->key_arg && (int)i != row->tree_arg) idx[k++] = (signed char)i;
  idx[k] = -1;
  if (row->leaves == CHILDREN) {
    /* holds what its trees hold: Sequential-like, judged per instance */
    eql_expr *callee = callee_name(c, call, "equinox.nn.Sequential");
    eql_expr *x = new_call(c, callee, s, e);
    if (!x) return NULL;
    eql_expr *held = NULL;
    if (row->tree_arg >= 0 && (unsigned)row->tree_arg < n) {
      CXCursor arg = clang_Cursor_getArgument(call, (unsigned)row->tree_arg);
      CXType t = clang_getCanonicalType(clang_getCursorType(arg));
      int many = t.kind == CXType_Pointer &&
                 clang_getCanonicalType(clang_getPointeeType(t)).kind == CXType_Pointer;
      held = many ? elements(c, arg, conv[row->tree_arg]) : NULL;
      if (!held) {
        held = new_expr(c, EQL_E_LIST, conv[row->tree_arg] ? conv[row->tree_arg]->start : s,
                        conv[row->tree_arg] ? conv[row->tree_arg]->end : e);
        if (held && !many) set_args(c, held, &conv[row->tree_arg], NULL, 1);
        else if (held) held->kind = EQL_E_OTHER; /* unknown elements */
      }
    }
    set_args(c, x, &held, NULL, held ? 1 : 0);
    return x;
  }
  eql_expr *callee = callee_name(c, call, NULL);
  mtype *m = new_mtype(c, row->ctor, row->name, s, s);
  if (m && row->leaves == FUNCTIONS && !m->cls->nfields) {
    /* the function argument's name in eqx.h is the field's name */
    CXCursor decl = clang_getCursorReferenced(call);
    const char *fname = "activation";
    if (row->fn_arg >= 0 && clang_Cursor_getNumArguments(decl) > row->fn_arg)
      fname = spelling(c, clang_Cursor_getArgument(decl, (unsigned)row->fn_arg));
    add_field(c, m, fname[0] ? fname : "activation", false, s, s);
    add_field(c, m, "final_activation", false, s, s);
  }
  if (m && row->leaves == FUNCTIONS) {
    if (row->fn_arg >= 0 && (unsigned)row->fn_arg < n)
      init_assign(c, m, m->cls->fields[0].name, conv[row->fn_arg]);
    if (m->init->body.n < 2) {
      /* libeqx always stores a final activation function: a function value, whatever the
       * construction site passes */
      eql_expr *fnv = new_expr(c, EQL_E_LAMBDA, callee ? callee->start : s, callee ? callee->end : s);
      init_assign(c, m, "final_activation", fnv);
    }
  }
  return lowered_call(c, callee, call, conv, n, idx, row->key_arg);
}

static eql_expr *lower_call(cconv *c, CXCursor call) {
  const char *name = spelling(c, call);
  int nargs = clang_Cursor_getNumArguments(call);
  if (nargs < 0) nargs = 0;
  unsigned n = (unsigned)nargs;
  eql_expr **conv = n ? alloc(c, n * sizeof *conv) : NULL;
  for (unsigned i = 0; i < n && conv; i++) conv[i] = cexpr(c, clang_Cursor_getArgument(call, i));
  if (n && !conv) return NULL;
  uint32_t s, e;
  range_of(c, call, &s, &e);

  const lowering *lw = name[0] ? find_lowering(name) : NULL;
  int li = name[0] && !lw ? find_layer(name) : -1;
  eql_expr *x = NULL;
  if (li >= 0) {
    x = layer_call(c, li, call, conv, n);
    if (n) out_param(c, clang_Cursor_getArgument(call, n - 1), x, -1, 0);
    return x;
  }
  if (lw) {
    switch (lw->how) {
      case LW_CTOR:
      case LW_RETURNS:
        if (!lw->canon) return new_expr(c, EQL_E_NONE, s, e); /* eqx_none() */
        x = lowered_call(c, callee_name(c, call, lw->canon), call, conv, n, lw->args, -1);
        if (lw->how == LW_CTOR && n) out_param(c, clang_Cursor_getArgument(call, n - 1), x, -1, 0);
        return x;
      case LW_METHOD: {
        eql_expr *callee = callee_name(c, call, NULL);
        if (callee) {
          callee->kind = EQL_E_ATTR;
          callee->a = n ? conv[0] : NULL;
          callee->name = lw->canon;
        }
        x = lowered_call(c, callee, call, conv, n, lw->args, -1);
        if (n) out_param(c, clang_Cursor_getArgument(call, n - 1), x, -1, 0);
        return x;
      }
      case LW_PAIR:
        x = lowered_call(c, callee_name(c, call, lw->canon), call, conv, n, lw->args, -1);
        if (n >= 2) {
          out_param(c, clang_Cursor_getArgument(call, n - 2), x, 0, 2);
          out_param(c, clang_Cursor_getArgument(call, n - 1), x, 1, 2);
        }
        return x;
      case LW_MODULE:
      case LW_CONTAINER: {
        eql_expr *callee = callee_name(c, call, lw->canon);
        eql_expr *elems = (unsigned)lw->args[0] < n
                              ? elements(c, clang_Cursor_getArgument(call, (unsigned)lw->args[0]),
                                         conv[lw->args[0]])
                              : NULL;
        mtype *m = NULL;
        if (lw->how == LW_MODULE && n >= 1) {
          /* the type object: &pair_type */
          CXCursor t = strip(c, clang_Cursor_getArgument(call, 0));
          if (clang_getCursorKind(t) == CXCursor_UnaryOperator) {
            kids ch = children(c, t);
            if (ch.n == 1) t = strip(c, ch.v[0]);
          }
          if (clang_getCursorKind(t) == CXCursor_DeclRefExpr) {
            const char *tn = spelling(c, t);
            m = find_mtype(c, tn);
            if (callee) range_of(c, t, &callee->start, &callee->end);
            CXCursor ref = clang_getCursorReferenced(t);
            if (!m && callee && !in_main(ref) && clang_getCursorKind(ref) == CXCursor_VarDecl &&
                type_mentions(ref, "eqx_module_type")) {
              /* a module type from an included header (model.h): known here too */
              module_type_decl(c, ref, callee);
              m = find_mtype(c, tn);
            }
            if (callee && m) callee->name = tn;
          }
          if (!m && callee) callee->name = "eqx_module_new"; /* unknown type: no class */
        }
        if (lw->how == LW_CONTAINER && !lw->canon) {
          /* a plain tuple: the value is the literal itself, not a call */
          x = new_expr(c, elems ? EQL_E_TUPLE : EQL_E_OTHER, s, e);
          if (x && elems) {
            x->args = elems->args;
            x->nargs = elems->nargs;
          }
        } else {
          x = new_call(c, callee, s, e);
        }
        if (x && x->kind != EQL_E_CALL) {
          /* the tuple above */
        } else if (x && lw->how == LW_CONTAINER) {
          eql_expr *list = elems;
          if (!list) {
            list = new_expr(c, EQL_E_OTHER, s, e);
          }
          set_args(c, x, &list, NULL, 1);
        } else if (x && elems) {
          eql_expr **vals = elems->nargs ? alloc(c, elems->nargs * sizeof *vals) : NULL;
          for (unsigned i = 0; i < elems->nargs && vals; i++) vals[i] = elems->args[i].value;
          set_args(c, x, vals, NULL, vals ? elems->nargs : 0);
          if (m)
            for (unsigned i = 0; i < elems->nargs && i < m->cls->nfields; i++)
              if (elems->args[i].value && elems->args[i].value->kind != EQL_E_NONE)
                init_assign(c, m, m->cls->fields[i].name, elems->args[i].value);
        }
        if (n) {
          out_param(c, clang_Cursor_getArgument(call, n - 1), x, -1, 0);
          /* remember the elements of the new container (jitted calls unpack it) */
          CXCursor last = strip(c, clang_Cursor_getArgument(call, n - 1));
          if (elems && clang_getCursorKind(last) == CXCursor_UnaryOperator) {
            kids ch = children(c, last);
            const char *vn = ch.n == 1 ? var_name(c, ch.v[0]) : NULL;
            if (vn) {
              eql_expr **vals = elems->nargs ? alloc(c, elems->nargs * sizeof *vals) : NULL;
              for (unsigned i = 0; i < elems->nargs && vals; i++) vals[i] = elems->args[i].value;
              set_track(c, vn, vals, vals ? elems->nargs : 0);
            }
          }
        }
        return x;
      }
      case LW_LEAF: {
        eql_expr *v = (unsigned)lw->args[0] < n ? conv[lw->args[0]] : NULL;
        if (!strcmp(lw->canon, "array")) {
          x = lowered_call(c, callee_name(c, call, "jax.numpy.asarray"), call, conv, n, lw->args, -1);
        } else if (!strcmp(lw->canon, "scalar") && v) {
          x = new_expr(c, EQL_E_FLOAT, v->start, v->end);
          if (x) x->name = eql_arena_strndup(c->f->arena, c->src + v->start, v->end - v->start);
        } else if (!strcmp(lw->canon, "string") && v) {
          x = new_expr(c, EQL_E_STR, v->start, v->end);
          if (x) x->name = v->name ? v->name : "";
        } else {
          x = v; /* a function leaf is the function */
        }
        if (n) out_param(c, clang_Cursor_getArgument(call, n - 1), x, -1, 0);
        return x;
      }
      case LW_GRAD: {
        eql_expr *inner_callee = callee_name(c, call, lw->canon);
        signed char fn_only[2] = {lw->args[0], -1};
        eql_expr *inner = lowered_call(c, inner_callee, call, conv, n, fn_only, -1);
        x = new_call(c, inner, s, e);
        if (x) {
          eql_expr *vals[2];
          unsigned k = 0;
          for (int i = 1; i < 3 && lw->args[i] >= 0; i++)
            if ((unsigned)lw->args[i] < n) vals[k++] = conv[lw->args[i]];
          set_args(c, x, vals, NULL, k);
        }
        return x;
      }
      case LW_CALLED: {
        eql_expr *fnv = (unsigned)lw->args[0] < n ? conv[lw->args[0]] : NULL;
        x = new_call(c, fnv, s, e);
        eql_expr *elems = (unsigned)lw->args[1] < n
                              ? elements(c, clang_Cursor_getArgument(call, (unsigned)lw->args[1]),
                                         conv[lw->args[1]])
                              : NULL;
        if (x && elems) {
          eql_expr **vals = elems->nargs ? alloc(c, elems->nargs * sizeof *vals) : NULL;
          for (unsigned i = 0; i < elems->nargs && vals; i++) vals[i] = elems->args[i].value;
          set_args(c, x, vals, NULL, vals ? elems->nargs : 0);
        } else if (x && (unsigned)lw->args[1] < n) {
          set_args(c, x, &conv[lw->args[1]], NULL, 1);
          if (x->args) x->args[0].star = 1; /* unknown elements */
        }
        if (n) out_param(c, clang_Cursor_getArgument(call, n - 1), NULL, -1, 0);
        return x;
      }
      case LW_MODCALL: {
        eql_expr *m = (unsigned)lw->args[0] < n ? conv[lw->args[0]] : NULL;
        signed char xs[2] = {lw->args[1], -1};
        x = lowered_call(c, m, call, conv, n, xs, lw->args[2]);
        return x;
      }
      case LW_SPLIT: {
        x = lowered_call(c, callee_name(c, call, lw->canon), call, conv, n, lw->args, -1);
        if (n >= 3) {
          CXCursor outarr = strip(c, clang_Cursor_getArgument(call, 2));
          const char *vn = var_name(c, outarr);
          if (vn) {
            eql_expr *t = expr_at(c, EQL_E_NAME, outarr);
            if (t) t->name = vn;
            add_binding(c, vn, EQL_B_ASSIGN, x, t, c->bind_pos);
          }
        }
        return x;
      }
      case LW_SETCHILD: {
        x = new_call(c, callee_name(c, call, NULL), s, e);
        if (x) set_args(c, x, conv, NULL, n);
        long long slot = -1;
        const char *node = n == 3 ? var_name(c, clang_Cursor_getArgument(call, 0)) : NULL;
        int known = n == 3 && const_int(c, clang_Cursor_getArgument(call, 1), &slot) && slot >= 0 &&
                    slot < 64;
        track *t = node ? find_track(c, node) : NULL;
        int again = t && known && (t->set_slots >> slot) & 1;
        /* one more place of this tree holds child: pairs with the node's other places. A
         * constant slot refilled on every iteration of a loop replaces, it does not add. */
        int adds = known ? !again && !c->loops : c->loops > 0;
        if (node && n == 3 && conv[2] && conv[2]->kind == EQL_E_NAME && adds) {
          eql_expr *callee = new_expr(c, EQL_E_ATTR, conv[0] ? conv[0]->start : s,
                                      conv[0] ? conv[0]->end : s);
          if (callee) {
            callee->a = conv[0];
            callee->name = "append";
            eql_expr *app = new_call(c, callee, conv[2]->start, conv[2]->end);
            if (app) set_args(c, app, &conv[2], NULL, 1);
          }
        }
        if (t && known) {
          track_slot(c, node, slot, conv[2]);
          t = find_track(c, node);
          if (t) t->set_slots |= 1ull << slot;
        }
        return x;
      }
      case LW_OPAQUE:
        break;
    }
  }
  /* any other call: f(args); out-parameters get what the function is known to store */
  kids ch = children(c, call);
  eql_expr *callee = ch.n ? cexpr(c, ch.v[0]) : NULL;
  x = new_call(c, callee, s, e);
  if (x) set_args(c, x, conv, NULL, n);
  eql_func *fn = name[0] ? defined_function(c, name) : NULL;
  for (unsigned i = 0; i < n; i++) {
    CXCursor arg = strip(c, clang_Cursor_getArgument(call, i));
    if (clang_getCursorKind(arg) != CXCursor_UnaryOperator) continue;
    eql_expr *v = NULL;
    for (unsigned k = 0; fn && k < c->summaries.n; k++) {
      summary *sm = c->summaries.items[k];
      if (sm->fn == fn && sm->param == (int)i) v = sm->value;
    }
    if (!v) {
      v = new_expr(c, EQL_E_OTHER, conv[i] ? conv[i]->start : s, conv[i] ? conv[i]->end : s);
      if (v) v->a = x; /* written by a call we cannot see into */
    }
    out_param(c, arg, v, -1, 0);
  }
  return x;
}

/* ------------------------------------------------------------------ statements */

static void cstmt(cconv *c, CXCursor cur, eql_block *out);

static void body_into(cconv *c, eql_stmt *s, CXCursor body, eql_block *out) {
  eql_stmt *saved = c->parent;
  c->parent = s;
  cstmt(c, body, out);
  c->parent = saved;
}

static void var_decl(cconv *c, CXCursor var, eql_block *out) {
  if (type_mentions(var, "eqx_module_type")) {
    module_type_decl(c, var, NULL);
    return;
  }
  uint32_t s, e;
  range_of(c, var, &s, &e);
  eql_stmt *st = new_stmt(c, EQL_S_ASSIGN, s, e);
  if (!st) return;
  eql_stmt *saved = c->stmt;
  c->stmt = st;
  c->bind_pos = e;
  const char *name = spelling(c, var);
  eql_expr *target = new_expr(c, EQL_E_NAME, s, e);
  CXSourceLocation loc = clang_getCursorLocation(var);
  int ok;
  uint32_t at = offset_of(c, loc, &ok);
  if (target) {
    target->name = name;
    if (ok) {
      target->start = at;
      target->end = at + (uint32_t)strlen(name) <= c->len ? at + (uint32_t)strlen(name) : at;
    }
  }
  CXCursor init = var_init(c, var);
  eql_expr *value = clang_Cursor_isNull(init) ? NULL : cexpr(c, init);
  eql_expr **targets = alloc(c, sizeof *targets);
  if (targets) {
    targets[0] = target;
    st->targets = targets;
    st->ntargets = 1;
  }
  st->value = value;
  add_binding(c, name, value ? EQL_B_ASSIGN : EQL_B_OTHER, value, target, e);
  if (value && value->kind == EQL_E_LIST) {
    eql_expr **vals = value->nargs ? alloc(c, value->nargs * sizeof *vals) : NULL;
    for (unsigned i = 0; i < value->nargs && vals; i++) vals[i] = value->args[i].value;
    set_track(c, name, vals, vals ? value->nargs : 0);
  } else if (clang_getCanonicalType(clang_getCursorType(var)).kind == CXType_ConstantArray) {
    set_track(c, name, NULL, 0);
  }
  c->stmt = saved;
  block_push(c, out, st);
}

/* The two `;` of a for header, to tell init, condition and increment apart. */
static void for_semis(cconv *c, uint32_t s, uint32_t e, uint32_t *s1, uint32_t *s2) {
  *s1 = *s2 = e;
  int depth = 0, n = 0;
  for (uint32_t i = s; i < e; i++) {
    char ch = c->src[i];
    if (ch == '(') depth++;
    else if (ch == ')' && --depth == 0) break;
    else if (ch == ';' && depth == 1) {
      if (n++ == 0) *s1 = i;
      else {
        *s2 = i;
        break;
      }
    }
  }
}

static eql_stmt *expr_stmt(cconv *c, CXCursor cur) {
  uint32_t s, e;
  range_of(c, cur, &s, &e);
  eql_stmt *st = new_stmt(c, EQL_S_EXPR, s, e);
  if (!st) return NULL;
  eql_stmt *saved = c->stmt;
  c->stmt = st;
  c->bind_pos = e;
  st->value = cexpr(c, cur);
  if (st->value && st->value->kind == EQL_E_OTHER && st->value->name &&
      !strcmp(st->value->name, "=")) {
    st->kind = EQL_S_ASSIGN;
    eql_expr **targets = alloc(c, sizeof *targets);
    if (targets) {
      targets[0] = st->value->a;
      st->targets = targets;
      st->ntargets = targets[0] ? 1 : 0;
    }
    st->value = st->value->b;
  }
  c->stmt = saved;
  return st;
}

static void cstmt(cconv *c, CXCursor cur, eql_block *out) {
  if (c->oom || c->depth > MAX_DEPTH) return;
  c->depth++;
  uint32_t s, e;
  range_of(c, cur, &s, &e);
  enum CXCursorKind k = clang_getCursorKind(cur);
  kids ch = children(c, cur);
  eql_stmt *st = NULL;
  switch (k) {
    case CXCursor_CompoundStmt:
      for (unsigned i = 0; i < ch.n; i++) cstmt(c, ch.v[i], out);
      break;
    case CXCursor_DeclStmt:
      for (unsigned i = 0; i < ch.n; i++)
        if (clang_getCursorKind(ch.v[i]) == CXCursor_VarDecl) var_decl(c, ch.v[i], out);
      break;
    case CXCursor_ReturnStmt:
      st = new_stmt(c, EQL_S_RETURN, s, e);
      if (st && ch.n) {
        eql_stmt *saved = c->stmt;
        c->stmt = st;
        c->bind_pos = e;
        st->value = cexpr(c, ch.v[0]);
        c->stmt = saved;
      }
      break;
    case CXCursor_IfStmt: {
      if (ch.n < 2) break;
      st = new_stmt(c, EQL_S_IF, s, e);
      if (!st) break;
      eql_stmt *saved = c->stmt;
      c->stmt = st;
      uint32_t cs, ce;
      range_of(c, ch.v[0], &cs, &ce);
      c->bind_pos = ce;
      st->value = cexpr(c, ch.v[0]);
      c->stmt = saved;
      body_into(c, st, ch.v[1], &st->body);
      if (ch.n > 2) body_into(c, st, ch.v[2], &st->orelse);
      break;
    }
    case CXCursor_WhileStmt:
    case CXCursor_DoStmt:
    case CXCursor_ForStmt: {
      CXCursor body = ch.n ? ch.v[ch.n - 1] : clang_getNullCursor();
      CXCursor cond = clang_getNullCursor(), init = clang_getNullCursor(), inc = clang_getNullCursor();
      if (k == CXCursor_WhileStmt && ch.n == 2) cond = ch.v[0];
      if (k == CXCursor_DoStmt && ch.n == 2) {
        body = ch.v[0];
        cond = ch.v[1];
        long long v = 1;
        if (const_int(c, cond, &v) && v == 0) { /* do { ... } while (0): not a loop */
          cstmt(c, body, out);
          break;
        }
      }
      if (k == CXCursor_ForStmt) {
        uint32_t s1, s2;
        for_semis(c, s, e, &s1, &s2);
        for (unsigned i = 0; i + 1 < ch.n; i++) {
          uint32_t a, b;
          range_of(c, ch.v[i], &a, &b);
          if (b <= s1 + 1) init = ch.v[i];
          else if (b <= s2 + 1) cond = ch.v[i];
          else inc = ch.v[i];
        }
        if (!clang_Cursor_isNull(init)) {
          if (clang_getCursorKind(init) == CXCursor_DeclStmt) cstmt(c, init, out);
          else block_push(c, out, expr_stmt(c, init));
        }
      }
      st = new_stmt(c, EQL_S_WHILE, s, e);
      if (!st) break;
      if (!clang_Cursor_isNull(cond)) {
        eql_stmt *saved = c->stmt;
        c->stmt = st;
        uint32_t cs, ce;
        range_of(c, cond, &cs, &ce);
        c->bind_pos = ce;
        st->value = cexpr(c, cond);
        c->stmt = saved;
      }
      c->loops++;
      if (!clang_Cursor_isNull(body)) body_into(c, st, body, &st->body);
      if (!clang_Cursor_isNull(inc)) {
        eql_stmt *saved = c->parent;
        c->parent = st;
        block_push(c, &st->body, expr_stmt(c, inc));
        c->parent = saved;
      }
      c->loops--;
      break;
    }
    case CXCursor_SwitchStmt: {
      /* the arms are exclusive (as if/elif/else): one IF per `case` group, each next group in
       * the previous one's orelse. Fall-through is not modelled. */
      st = new_stmt(c, EQL_S_IF, s, e);
      if (!st || ch.n < 2) break;
      eql_stmt *saved = c->stmt;
      c->stmt = st;
      c->bind_pos = e;
      st->value = cexpr(c, ch.v[0]);
      c->stmt = saved;
      kids arms = children(c, ch.v[ch.n - 1]);
      eql_stmt *arm = st;
      int started = 0;
      for (unsigned i = 0; i < arms.n; i++) {
        enum CXCursorKind ak = clang_getCursorKind(arms.v[i]);
        if ((ak == CXCursor_CaseStmt || ak == CXCursor_DefaultStmt) && started) {
          uint32_t as, ae;
          range_of(c, arms.v[i], &as, &ae);
          eql_stmt *saved_parent = c->parent;
          c->parent = arm;
          eql_stmt *next = new_stmt(c, EQL_S_IF, as, e);
          c->parent = saved_parent;
          if (!next) break;
          block_push(c, &arm->orelse, next);
          arm = next;
        }
        started = 1;
        body_into(c, arm, arms.v[i], &arm->body);
      }
      break;
    }
    case CXCursor_CaseStmt:
    case CXCursor_DefaultStmt:
    case CXCursor_LabelStmt:
      if (ch.n) cstmt(c, ch.v[ch.n - 1], out);
      break;
    case CXCursor_BreakStmt:
      st = new_stmt(c, EQL_S_BREAK, s, e);
      break;
    case CXCursor_ContinueStmt:
      st = new_stmt(c, EQL_S_CONTINUE, s, e);
      break;
    case CXCursor_NullStmt:
      st = new_stmt(c, EQL_S_PASS, s, e);
      break;
    case CXCursor_GotoStmt:
      st = new_stmt(c, EQL_S_OTHER, s, e);
      break;
    default:
      if (clang_isExpression(k)) st = expr_stmt(c, cur);
      else st = new_stmt(c, EQL_S_OTHER, s, e);
      break;
  }
  block_push(c, out, st);
  c->depth--;
}

/* ------------------------------------------------------------------ functions */

/* A parameter's C type as the annotation a Python reader would write, when it says something
 * definite: functions are Callable, eqx_array * is an Array, scalars are float/int/bool/str. */
static eql_expr *type_annotation(cconv *c, CXCursor parm) {
  CXType t = clang_getCanonicalType(clang_getCursorType(parm));
  const char *name = NULL, *canon = NULL;
  if (t.kind == CXType_Pointer) {
    CXType p = clang_getCanonicalType(clang_getPointeeType(t));
    CXString ps = clang_getTypeSpelling(p);
    const char *sp = clang_getCString(ps);
    if (p.kind == CXType_FunctionProto || p.kind == CXType_FunctionNoProto) {
      name = "Callable";
      canon = "typing.Callable";
    } else if (strstr(sp, "struct eqx_array")) {
      name = "Array";
      canon = "jax.Array";
    } else if (p.kind == CXType_Char_S || p.kind == CXType_Char_U) {
      name = "str";
    }
    clang_disposeString(ps);
  } else if (t.kind == CXType_Float || t.kind == CXType_Double) {
    name = "float";
  } else if (t.kind == CXType_Bool) {
    name = "bool";
  } else if (t.kind == CXType_Int || t.kind == CXType_Long || t.kind == CXType_LongLong) {
    name = "int";
  }
  if (!name) return NULL;
  uint32_t s, e;
  range_of(c, parm, &s, &e);
  eql_expr *an = new_expr(c, EQL_E_NAME, s, e);
  if (an) {
    an->name = name;
    an->canon = canon;
  }
  return an;
}

/* Parameter types whose every value is one known thing (part of the lowering table). */
static const struct { const char *c_type, *canon; } param_types[] = {
  {"struct eqx_optimizer", "optax.GradientTransformation"},
};

static const char *param_canon(CXCursor parm) {
  CXType t = clang_getCanonicalType(clang_getCursorType(parm));
  if (t.kind != CXType_Pointer) return NULL;
  CXString ps = clang_getTypeSpelling(clang_getCanonicalType(clang_getPointeeType(t)));
  const char *sp = clang_getCString(ps), *r = NULL;
  for (size_t i = 0; i < sizeof param_types / sizeof *param_types && !r; i++) {
    const char *at = strstr(sp, param_types[i].c_type);
    size_t n = strlen(param_types[i].c_type);
    if (at && (at[n] == 0 || at[n] == ' ')) r = param_types[i].canon;
  }
  clang_disposeString(ps);
  return r;
}

static void function_def(cconv *c, CXCursor cur, eql_block *out) {
  kids ch = children(c, cur);
  CXCursor body = clang_getNullCursor();
  for (unsigned i = 0; i < ch.n; i++)
    if (clang_getCursorKind(ch.v[i]) == CXCursor_CompoundStmt) body = ch.v[i];
  uint32_t s, e;
  range_of(c, cur, &s, &e);
  eql_func *fn = alloc(c, sizeof *fn);
  eql_stmt *st = new_stmt(c, EQL_S_DEF, s, e);
  if (!fn || !st) return;
  fn->name = spelling(c, cur);
  fn->start = s;
  fn->end = e;
  int ok;
  fn->name_start = offset_of(c, clang_getCursorLocation(cur), &ok);
  if (!ok) fn->name_start = s;
  fn->name_end = fn->name_start + (uint32_t)strlen(fn->name) <= c->len
                     ? fn->name_start + (uint32_t)strlen(fn->name)
                     : fn->name_start;
  fn->stmt = st;
  st->func = fn;
  push(c, &c->f->funcs, fn);
  eql_stmt *saved_stmt = c->stmt;
  c->stmt = st;
  eql_binding *b = add_binding(c, fn->name, EQL_B_DEF, NULL, NULL, s);
  if (b) b->func = fn;
  c->stmt = saved_stmt;

  c->scope = fn;
  int np = clang_Cursor_getNumArguments(cur);
  if (np > 0) {
    fn->params = alloc(c, (size_t)np * sizeof *fn->params);
    for (int i = 0; i < np && fn->params; i++) {
      CXCursor p = clang_Cursor_getArgument(cur, (unsigned)i);
      eql_param *pp = &fn->params[fn->nparams++];
      pp->name = spelling(c, p);
      range_of(c, p, &pp->start, &pp->end);
      pp->annotation = type_annotation(c, p);
      if (pp->name[0]) {
        eql_binding *pb = add_binding(c, pp->name, EQL_B_PARAM, NULL, NULL, s);
        if (pb) pb->param = pp;
        const char *canon = param_canon(p);
        if (canon) {
          /* every libeqx optimiser is an optax GradientTransformation: the parameter holds
           * one from the start of the body (a call not listed among the file's calls) */
          eql_expr *callee = new_expr(c, EQL_E_NAME, pp->start, pp->end);
          eql_expr *v = new_expr(c, EQL_E_CALL, pp->start, pp->end);
          if (callee && v) {
            callee->name = canon;
            callee->canon = canon;
            v->a = callee;
            add_binding(c, pp->name, EQL_B_ASSIGN, v, NULL, s);
          }
        }
      }
    }
  }
  c->loops = 0;
  c->parent = NULL;
  if (!clang_Cursor_isNull(body)) cstmt(c, body, &fn->body);
  c->scope = NULL;
  block_push(c, out, st);
}

/* ------------------------------------------------------------------ file level */

static void top_level(cconv *c, CXCursor cur) {
  if (!in_main(cur)) return;
  switch (clang_getCursorKind(cur)) {
    case CXCursor_FunctionDecl:
      if (clang_isCursorDefinition(cur)) function_def(c, cur, &c->f->body);
      break;
    case CXCursor_VarDecl:
      var_decl(c, cur, &c->f->body);
      break;
    default:
      break;
  }
}

static enum CXChildVisitResult top_cb(CXCursor cur, CXCursor parent, CXClientData d) {
  (void)parent;
  cconv *c = d;
  if (c->oom) return CXChildVisit_Break;
  top_level(c, cur);
  return CXChildVisit_Continue;
}

static void collect_comments(cconv *c) {
  CXSourceRange all = clang_getRange(clang_getLocationForOffset(c->tu, c->file, 0),
                                     clang_getLocationForOffset(c->tu, c->file, c->len));
  CXToken *toks = NULL;
  unsigned n = 0;
  clang_tokenize(c->tu, all, &toks, &n);
  for (unsigned i = 0; i < n; i++) {
    if (clang_getTokenKind(toks[i]) != CXToken_Comment) continue;
    CXSourceRange r = clang_getTokenExtent(c->tu, toks[i]);
    eql_comment *cm = alloc(c, sizeof *cm);
    if (!cm) break;
    cm->start = offset_of(c, clang_getRangeStart(r), NULL);
    cm->end = offset_of(c, clang_getRangeEnd(r), NULL);
    push(c, &c->f->comments, cm);
  }
  if (toks) clang_disposeTokens(c->tu, toks, n);
}

static void record_error(cconv *c) {
  unsigned nd = clang_getNumDiagnostics(c->tu);
  for (unsigned i = 0; i < nd; i++) {
    CXDiagnostic d = clang_getDiagnostic(c->tu, i);
    enum CXDiagnosticSeverity sev = clang_getDiagnosticSeverity(d);
    /* EQX999 means "does not parse": syntax and preprocessor errors. Semantic errors (clang
     * rejects some initialisers gcc accepts) leave the syntax tree, hence the facts, whole. */
    CXString cat = clang_getDiagnosticCategoryText(d);
    int semantic = !strcmp(clang_getCString(cat), "Semantic Issue");
    clang_disposeString(cat);
    if (sev < CXDiagnostic_Error || semantic) {
      clang_disposeDiagnostic(d);
      continue;
    }
    CXFile file;
    unsigned line, col, off;
    clang_getFileLocation(clang_getDiagnosticLocation(d), &file, &line, &col, &off);
    CXString msg = clang_getDiagnosticSpelling(d);
    c->f->has_error = true;
    if (file && clang_File_isEqual(file, c->file)) {
      c->f->error_start = c->f->error_end = off > c->len ? c->len : off;
      c->f->error_message = sdup(c, clang_getCString(msg));
    } else {
      CXString fname = clang_getFileName(file);
      c->f->error_start = c->f->error_end = 0;
      c->f->error_message = eql_arena_printf(c->f->arena, "in %s:%u: %s",
                                             file ? clang_getCString(fname) : "?", line,
                                             clang_getCString(msg));
      clang_disposeString(fname);
    }
    clang_disposeString(msg);
    clang_disposeDiagnostic(d);
    break;
  }
}

/* ------------------------------------------------------------------ compiler flags */

typedef struct argv_buf {
  char **v;
  unsigned n, cap;
} argv_buf;

static int arg_push(argv_buf *a, const char *s) {
  if (a->n == a->cap) {
    unsigned cap = a->cap ? a->cap * 2 : 32;
    char **v = realloc(a->v, cap * sizeof *v);
    if (!v) return -1;
    a->v = v;
    a->cap = cap;
  }
  if (!(a->v[a->n] = strdup(s))) return -1;
  a->n++;
  return 0;
}

static void args_free(argv_buf *a) {
  for (unsigned i = 0; i < a->n; i++) free(a->v[i]);
  free(a->v);
}

static int file_exists(const char *p) { return access(p, F_OK) == 0; }

/* Flags from the compilation database in `dir` for `abs`; 1 when found. */
static int compdb_flags(const char *dir, const char *abs, argv_buf *out) {
  CXCompilationDatabase_Error err;
  CXCompilationDatabase db = clang_CompilationDatabase_fromDirectory(dir, &err);
  if (err != CXCompilationDatabase_NoError || !db) return 0;
  CXCompileCommands cmds = clang_CompilationDatabase_getCompileCommands(db, abs);
  int found = 0;
  if (cmds && clang_CompileCommands_getSize(cmds) > 0) {
    CXCompileCommand cmd = clang_CompileCommands_getCommand(cmds, 0);
    CXString wd = clang_CompileCommand_getDirectory(cmd);
    const char *cwd = clang_getCString(wd);
    unsigned na = clang_CompileCommand_getNumArgs(cmd);
    found = 1;
    for (unsigned i = 1; i < na; i++) {
      CXString as = clang_CompileCommand_getArg(cmd, i);
      const char *a = clang_getCString(as);
      char buf[PATH_MAX + 8];
      int skip_next = !strcmp(a, "-o") || !strcmp(a, "-MF") || !strcmp(a, "-MT") || !strcmp(a, "-MQ");
      const char *base = strrchr(abs, '/');
      if (skip_next) i++;
      else if (!strcmp(a, "-c") || !strcmp(a, "--") || !strcmp(a, abs) ||
               (base && !strcmp(a, base + 1)) || (strlen(a) > 2 && eql_cfront_is_c_path(a) && a[0] != '-'))
        ;
      else if ((!strncmp(a, "-I", 2) && a[2] && a[2] != '/') && cwd) {
        snprintf(buf, sizeof buf, "-I%s/%s", cwd, a + 2);
        if (arg_push(out, buf) < 0) found = -1;
      } else if (arg_push(out, a) < 0) {
        found = -1;
      }
      clang_disposeString(as);
    }
    clang_disposeString(wd);
  }
  if (cmds) clang_CompileCommands_dispose(cmds);
  clang_CompilationDatabase_dispose(db);
  return found;
}

static int build_flags(const char *path, argv_buf *out) {
  char abs[PATH_MAX], dir[PATH_MAX];
  if (!realpath(path, abs)) {
    /* an in-memory buffer (editor, tests): resolve its directory instead */
    char d[PATH_MAX];
    snprintf(d, sizeof d, "%s", path);
    char *sl = strrchr(d, '/');
    const char *base = sl ? sl + 1 : path;
    if (sl) *sl = 0;
    char rd[PATH_MAX];
    if (realpath(sl ? d : ".", rd)) snprintf(abs, sizeof abs, "%.*s/%s", PATH_MAX / 2, rd, base);
    else snprintf(abs, sizeof abs, "%s", path);
  }
  snprintf(dir, sizeof dir, "%s", abs);
  char *slash = strrchr(dir, '/');
  if (slash) *slash = 0;
  else snprintf(dir, sizeof dir, ".");
  int found = 0;
  if (g_compdb) {
    found = compdb_flags(g_compdb, abs, out);
  } else {
    char probe[PATH_MAX + 32], up[PATH_MAX];
    snprintf(up, sizeof up, "%s", dir);
    for (int depth = 0; depth < 64 && up[0] && !found; depth++) {
      /* like clangd: DIR/compile_commands.json or DIR/build/compile_commands.json */
      snprintf(probe, sizeof probe, "%s/compile_commands.json", up);
      if (file_exists(probe)) found = compdb_flags(up, abs, out);
      snprintf(probe, sizeof probe, "%s/build/compile_commands.json", up);
      if (!found && file_exists(probe)) {
        probe[strlen(probe) - strlen("/compile_commands.json")] = 0;
        found = compdb_flags(probe, abs, out);
      }
      char *s = strrchr(up, '/');
      if (!s || s == up) break;
      *s = 0;
    }
  }
  if (found < 0) return -1;
  if (!found) {
    char buf[PATH_MAX + 40], up[PATH_MAX];
    if (arg_push(out, "-std=gnu11") < 0) return -1;
    snprintf(buf, sizeof buf, "-I%s", dir);
    if (arg_push(out, buf) < 0) return -1;
    snprintf(up, sizeof up, "%s", dir);
    for (int depth = 0; depth < 64 && up[0]; depth++) {
      char probe[PATH_MAX + 40];
      snprintf(probe, sizeof probe, "%s/include/eqx.h", up);
      if (file_exists(probe)) {
        snprintf(buf, sizeof buf, "-I%s/include", up);
        if (arg_push(out, buf) < 0) return -1;
        break;
      }
      snprintf(probe, sizeof probe, "%s/runtime/include/eqx.h", up);
      if (file_exists(probe)) {
        snprintf(buf, sizeof buf, "-I%s/runtime/include", up);
        if (arg_push(out, buf) < 0) return -1;
        break;
      }
      char *s = strrchr(up, '/');
      if (!s || s == up) break;
      *s = 0;
    }
  }
  for (size_t i = 0; i < g_nflags; i++)
    if (arg_push(out, g_flags[i]) < 0) return -1;
  /* a header is parsed as C too; warnings are not eqlint's business */
  if (arg_push(out, "-xc") < 0 || arg_push(out, "-Wno-everything") < 0) return -1;
  return 0;
}

/* ------------------------------------------------------------------ entry point */

eql_facts *eql_c_facts(const eql_source *src, const char **err) {
  static __thread char msg[256];
  *err = "out of memory";
  eql_arena *arena = eql_arena_new();
  if (!arena) return NULL;
  eql_facts *f = eql_arena_alloc(arena, sizeof *f);
  if (!f) {
    eql_arena_free(arena);
    return NULL;
  }
  f->arena = arena;
  f->src = src;
  f->module_name = "";
  f->is_c = true;

  argv_buf args = {0};
  if (build_flags(src->path, &args) < 0) {
    args_free(&args);
    eql_arena_free(arena);
    return NULL;
  }
  CXIndex index = clang_createIndex(0, 0);
  struct CXUnsavedFile uf = {src->path, src->text, src->len};
  CXTranslationUnit tu = NULL;
  enum CXErrorCode ec = index ? clang_parseTranslationUnit2(
                                    index, src->path, (const char *const *)args.v, (int)args.n, &uf, 1,
                                    CXTranslationUnit_KeepGoing, &tu)
                              : CXError_Failure;
  args_free(&args);
  if (ec != CXError_Success || !tu) {
    snprintf(msg, sizeof msg, "libclang could not parse the file (error %d)", (int)ec);
    *err = msg;
    if (index) clang_disposeIndex(index);
    eql_arena_free(arena);
    return NULL;
  }
  cconv c;
  memset(&c, 0, sizeof c);
  c.f = f;
  c.src = src->text;
  c.len = src->len;
  c.tu = tu;
  c.file = clang_getFile(tu, src->path);
  if (c.file) {
    clang_visitChildren(clang_getTranslationUnitCursor(tu), top_cb, &c);
    collect_comments(&c);
  }
  record_error(&c);
  clang_disposeTranslationUnit(tu);
  clang_disposeIndex(index);
  if (!c.oom && eql_facts_finish(f) < 0) c.oom = 1;
  if (c.oom) {
    eql_arena_free(arena);
    return NULL;
  }
  *err = NULL;
  return f;
}
