/* ## What it does
 * Checks for an `equinox.Module` with a custom `__init__` (its own, or one inherited from a
 * base class) that does not assign, on every path that returns normally, a declared field
 * without a default. Branches are followed: `if`/`elif`/`else` arms, early `return`s and
 * `raise`s, `super().__init__(...)` and the class's own helper methods called on `self`. A
 * subclass that adds fields but inherits its parent's custom `__init__` is included.
 *
 * ## Why is this bad
 * Equinox checks after `__init__` that every field was set, and refuses the instance:
 * "TypeError: The following fields were not initialised during __init__: {'bias'}". A field
 * set only in one branch (`if use_bias: self.bias = ...`) fails only for some arguments,
 * often far from where the model was written.
 *
 * ## Example
 * ```python
 * class Linear(eqx.Module):
 *     weight: jax.Array
 *     bias: jax.Array
 *
 *     def __init__(self, n_in, n_out, use_bias, key):
 *         self.weight = jax.random.normal(key, (n_out, n_in))
 *         if use_bias:
 *             self.bias = jnp.zeros(n_out)
 * ```
 *
 * ## Use instead
 * Assign every field on every path (`None` for an absent optional part, annotated
 * `Optional[...]`), or give the field a default:
 * ```python
 *         self.bias = jnp.zeros(n_out) if use_bias else None
 * ```
 *
 * ## Fix safety
 * No automatic fix: the right value for the missing field is the author's to choose.
 *
 * ## Known limits
 * Fields with defaults (also `eqx.field(default=...)`/`default_factory`), `init=False`
 * fields, `ClassVar`s, `AbstractVar`s and names that a class body defines otherwise (a
 * property, a class attribute) never count. A class whose bases are not all known, whose
 * `__init__` uses `setattr` with computed names, `object.__setattr__`, `self.__dict__`,
 * `vars(self)`, or passes `self` to another function, is not judged; fields assigned only
 * inside loops, `try` statements or `match` cases are not reported. Abstract classes are
 * not judged. A dataclass-style Module (no custom `__init__`) is never reported.
 */
#include <stdint.h>
#include <string.h>

#include "eqlint/ctx.h"
#include "rule_util.h"
#include "eqlint/value.h"






#define MAXF 256

typedef struct fset {
  uint64_t b[MAXF / 64];
} fset;

static void fs_add(fset *s, unsigned i) { s->b[i / 64] |= (uint64_t)1 << (i % 64); }
static int fs_has(const fset *s, unsigned i) { return (int)((s->b[i / 64] >> (i % 64)) & 1); }
static void fs_meet(fset *a, const fset *b) {
  for (unsigned k = 0; k < MAXF / 64; k++) a->b[k] &= b->b[k];
}
static void fs_join(fset *a, const fset *b) {
  for (unsigned k = 0; k < MAXF / 64; k++) a->b[k] |= b->b[k];
}

/* One field of the class as instances see it (the most derived declaration wins). */
typedef struct finfo {
  const char *name;
  const eql_field *fd;
  const eql_class *owner;
  int required; /* no default, init=True, not a ClassVar/AbstractVar, not shadowed */
} finfo;

typedef struct analysis {
  eql_ctx *ctx;
  const eql_class *cls; /* the class checked */
  const eql_facts *cls_facts;
  finfo fields[MAXF];
  unsigned nfields;
  const char *shadow[MAXF]; /* class-body names that are not fields (methods, attributes) */
  unsigned nshadow;
  int unknown;  /* something the analysis cannot follow: stay silent */
  fset maybe;   /* assigned where paths are not modelled (loops, try, match, closures) */
  fset ever;    /* assigned somewhere */
  const eql_func *stack[8];
  unsigned depth;
} analysis;

static int field_index(const analysis *a, const char *name) {
  for (unsigned i = 0; i < a->nfields; i++)
    if (!strcmp(a->fields[i].name, name)) return (int)i;
  return -1;
}

static int shadowed(const analysis *a, const char *name) {
  for (unsigned i = 0; i < a->nshadow; i++)
    if (!strcmp(a->shadow[i], name)) return 1;
  return 0;
}

/* AbstractVar[...], AbstractClassVar[...], InitVar[...], KW_ONLY: not instance fields. */
static int not_a_field(const eql_facts *f, const eql_expr *an) {
  if (!an) return 0;
  const eql_expr *h = an->kind == EQL_E_SUBSCRIPT ? an->a : an;
  if (!h) return 0;
  const char *canon = eql_facts_canon_ro(f, h);
  const char *n = canon ? strrchr(canon, '.') : NULL;
  n = n ? n + 1 : canon ? canon : (h->kind == EQL_E_NAME || h->kind == EQL_E_ATTR) ? h->name : NULL;
  return n && (!strcmp(n, "AbstractVar") || !strcmp(n, "AbstractClassVar") ||
               !strcmp(n, "InitVar") || !strcmp(n, "KW_ONLY") || !strcmp(n, "ClassVar"));
}

/* Collects the fields and other class-body names of `c` and its bases (most derived
 * first). 0, or -1 when a base is unknown. */
static int collect_fields(analysis *a, const eql_facts *f, const eql_class *c, int depth) {
  if (depth > 16) return -1;
  for (unsigned i = 0; i < c->nfields; i++) {
    const eql_field *fd = &c->fields[i];
    if (field_index(a, fd->name) >= 0 || shadowed(a, fd->name)) continue;
    if (a->nfields >= MAXF) return -1;
    finfo *fi = &a->fields[a->nfields++];
    fi->name = fd->name;
    fi->fd = fd;
    fi->owner = c;
    fi->required = !fd->has_default && !fd->init_false && !fd->is_classvar &&
                   !not_a_field(f, fd->annotation);
  }
  /* methods and plain class attributes: `dir(self)` has them */
  for (unsigned i = 0; i < c->nmethods && a->nshadow < MAXF; i++)
    if (field_index(a, c->methods[i]->name) < 0) a->shadow[a->nshadow++] = c->methods[i]->name;
  for (unsigned i = 0; i < c->body.n && a->nshadow < MAXF; i++) {
    const eql_stmt *s = c->body.items[i];
    if (s->kind != EQL_S_ASSIGN || s->annotation) continue;
    for (unsigned t = 0; t < s->ntargets && a->nshadow < MAXF; t++)
      if (s->targets[t]->kind == EQL_E_NAME && field_index(a, s->targets[t]->name) < 0)
        a->shadow[a->nshadow++] = s->targets[t]->name;
  }
  for (unsigned i = 0; i < c->nbases; i++) {
    eql_classref ref;
    int root;
    int r = eql_ru_resolve_base(a->ctx->index, f, c->bases[i], &ref, &root);
    if (r < 0 || (r == 1 && !ref.cls)) return -1;
    if (r == 1 && collect_fields(a, ref.facts, ref.cls, depth + 1) < 0) return -1;
  }
  return 0;
}

/* The custom `__init__` instances of `c` run: 1 with fn, in and owner set, 0 = dataclass init,
 * -1 = unknown. */
static int effective_init(const eql_index *idx, const eql_facts *f, const eql_class *c,
                          const eql_func **fn, const eql_facts **in, const eql_class **owner,
                          int depth) {
  if (depth > 16) return -1;
  const eql_func *own = eql_ru_own_method(c, "__init__");
  if (own) {
    *fn = own;
    *in = f;
    *owner = c;
    return 1;
  }
  for (unsigned i = 0; i < c->nbases; i++) {
    eql_classref ref;
    int root;
    int r = eql_ru_resolve_base(idx, f, c->bases[i], &ref, &root);
    if (r < 0) return -1;
    if (r == 0) {
      if (root) return 0;
      continue;
    }
    if (!ref.cls) return -1; /* an equinox.nn layer: its __init__ is not visible */
    if (eql_ru_own_method(ref.cls, "__init__") || eql_index_is_module(idx, &ref) == EQL_YES)
      return effective_init(idx, ref.facts, ref.cls, fn, in, owner, depth + 1);
  }
  return -1;
}

static int is_abstract(const eql_facts *f, const eql_class *c) {
  if (!strncmp(c->name, "Abstract", 8) || !strncmp(c->name, "_Abstract", 9)) return 1;
  for (unsigned i = 0; i < c->nkeywords; i++)
    if (c->keywords[i].kw && (!strcmp(c->keywords[i].kw, "strict") ||
                              !strcmp(c->keywords[i].kw, "is_abstract")))
      return 1;
  for (unsigned i = 0; i < c->nmethods; i++)
    for (unsigned k = 0; k < c->methods[i]->ndecorators; k++) {
      const eql_expr *d = c->methods[i]->decorators[k];
      const char *canon = eql_facts_canon_ro(f, d);
      const char *n = canon ? canon : d->name;
      if (n && strstr(n, "abstractmethod")) return 1;
    }
  return 0;
}

/* ---------------------------------------------------------------- path analysis */

typedef struct fnctx {
  analysis *a;
  const eql_facts *f;
  const eql_func *fn;
  const char *self;
  fset exit;   /* meet of the states at normal exits */
  int nexit;
} fnctx;

static int analyse_function(analysis *a, const eql_facts *f, const eql_func *fn, fset in,
                            fset *out);

static int is_self(fnctx *fc, const eql_expr *e) {
  if (!e || e->kind != EQL_E_NAME || strcmp(e->name, fc->self)) return 0;
  const eql_binding *b = eql_facts_lookup(fc->f, e->name, e->scope, e->start);
  return b && b->kind == EQL_B_PARAM && b->scope == fc->fn;
}

static void assign_name(fnctx *fc, fset *st, const char *name) {
  int i = field_index(fc->a, name);
  if (i < 0) return;
  fs_add(st, (unsigned)i);
  fs_add(&fc->a->ever, (unsigned)i);
}

static void assign_target(fnctx *fc, fset *st, const eql_expr *t) {
  if (!t) return;
  if (t->kind == EQL_E_TUPLE || t->kind == EQL_E_LIST) {
    for (unsigned i = 0; i < t->nargs; i++) assign_target(fc, st, t->args[i].value);
  } else if (t->kind == EQL_E_STARRED) {
    assign_target(fc, st, t->a);
  } else if (t->kind == EQL_E_ATTR && t->name && is_self(fc, t->a)) {
    assign_name(fc, st, t->name);
  }
}

/* All fields a dataclass-generated __init__ of class `c` (file f) sets: its fields and
 * those of its bases. */
static void dataclass_sets(fnctx *fc, fset *st, const eql_facts *f, const eql_class *c,
                           int depth) {
  if (depth > 16) return;
  for (unsigned i = 0; i < c->nfields; i++) assign_name(fc, st, c->fields[i].name);
  for (unsigned i = 0; i < c->nbases; i++) {
    eql_classref ref;
    int root;
    if (eql_ru_resolve_base(fc->a->ctx->index, f, c->bases[i], &ref, &root) == 1 && ref.cls)
      dataclass_sets(fc, st, ref.facts, ref.cls, depth + 1);
  }
}

/* `super().__init__(...)` / `Base.__init__(self, ...)`: what the parent's initialiser
 * sets, applied to st. */
static void parent_init(fnctx *fc, fset *st, const eql_facts *f, const eql_class *parent) {
  const eql_func *fn = NULL;
  const eql_facts *in = NULL;
  const eql_class *owner = NULL;
  int r = effective_init(fc->a->ctx->index, f, parent, &fn, &in, &owner, 0);
  if (r < 0) {
    fc->a->unknown = 1;
  } else if (r == 0) {
    dataclass_sets(fc, st, f, parent, 0);
  } else {
    fset out;
    if (analyse_function(fc->a, in, fn, *st, &out) == 0) *st = out;
  }
}

/* The class whose __init__ `super()` reaches from the method's class: its first base. */
static const eql_class *first_base(fnctx *fc, const eql_facts **bf) {
  const eql_class *c = fc->fn->cls;
  if (!c) return NULL;
  for (unsigned i = 0; i < c->nbases; i++) {
    eql_classref ref;
    int root;
    int r = eql_ru_resolve_base(fc->a->ctx->index, fc->f, c->bases[i], &ref, &root);
    if (r < 0 || (r == 1 && !ref.cls)) return NULL;
    if (r == 0 && root) return NULL; /* equinox.Module.__init__: sets nothing */
    if (r == 1) {
      *bf = ref.facts;
      return ref.cls;
    }
  }
  return NULL;
}

static int allowed_self_arg(const char *n) {
  static const char *const ok[] = {"isinstance", "type", "id", "repr", "str", "hash", "print",
                                   "super", "getattr", "hasattr", "len", NULL};
  for (int i = 0; ok[i]; i++)
    if (!strcmp(n, ok[i])) return 1;
  return 0;
}

typedef struct scan {
  fnctx *fc;
  fset *st;
} scan;

static void scan_expr(const eql_expr *e, void *ud);

static void walk_expr(const eql_expr *e, scan *sc, int depth) {
  if (!e || depth > 200 || sc->fc->a->unknown) return;
  if (e->kind == EQL_E_LAMBDA) return; /* runs later */
  scan_expr(e, sc);
  walk_expr(e->a, sc, depth + 1);
  walk_expr(e->b, sc, depth + 1);
  walk_expr(e->c, sc, depth + 1);
  for (unsigned i = 0; i < e->nargs; i++) {
    walk_expr(e->args[i].key, sc, depth + 1);
    walk_expr(e->args[i].value, sc, depth + 1);
  }
}

static void scan_expr(const eql_expr *e, void *ud) {
  scan *sc = ud;
  fnctx *fc = sc->fc;
  analysis *a = fc->a;
  /* self.__dict__ */
  if (e->kind == EQL_E_ATTR && e->name && !strcmp(e->name, "__dict__") && is_self(fc, e->a)) {
    a->unknown = 1;
    return;
  }
  if (e->kind != EQL_E_CALL || !e->a) return;
  const eql_expr *callee = e->a;
  const eql_expr *a0 = eql_call_arg(e, 0, NULL);
  /* setattr(self, "x", v) / object.__setattr__(self, "x", v) */
  int is_setattr = callee->kind == EQL_E_NAME && !strcmp(callee->name, "setattr") &&
                   !eql_facts_lookup(fc->f, "setattr", e->scope, e->start);
  int is_obj_setattr = callee->kind == EQL_E_ATTR && callee->name &&
                       !strcmp(callee->name, "__setattr__");
  if ((is_setattr || is_obj_setattr) && is_self(fc, a0)) {
    a->unknown = 1; /* the brief: setattr and object.__setattr__ tricks are not judged */
    return;
  }
  if (callee->kind == EQL_E_NAME && !strcmp(callee->name, "vars") && is_self(fc, a0)) {
    a->unknown = 1;
    return;
  }
  /* super().__init__(...) / super(C, self).__init__(...) */
  if (callee->kind == EQL_E_ATTR && callee->name && !strcmp(callee->name, "__init__")) {
    const eql_expr *obj = callee->a;
    if (obj && obj->kind == EQL_E_CALL && obj->a && obj->a->kind == EQL_E_NAME &&
        !strcmp(obj->a->name, "super")) {
      const eql_facts *bf = NULL;
      const eql_class *pb = first_base(fc, &bf);
      if (pb) parent_init(fc, sc->st, bf, pb);
      else if (obj->nargs == 0 && fc->fn->cls) {
        /* a direct equinox.Module base: nothing set; anything else unknown */
        const eql_class *c = fc->fn->cls;
        int direct = 0;
        for (unsigned i = 0; i < c->nbases; i++) {
          eql_classref ref;
          int root;
          if (eql_ru_resolve_base(a->ctx->index, fc->f, c->bases[i], &ref, &root) == 0 && root) direct = 1;
        }
        if (!direct) a->unknown = 1;
      } else {
        a->unknown = 1;
      }
      return;
    }
    if (obj && is_self(fc, a0)) { /* Base.__init__(self, ...) */
      eql_classref ref;
      int root;
      int r = eql_ru_resolve_base(a->ctx->index, fc->f, obj, &ref, &root);
      if (r == 1 && ref.cls) parent_init(fc, sc->st, ref.facts, ref.cls);
      else if (!(r == 0 && root)) a->unknown = 1;
      return;
    }
  }
  /* self.helper(...) */
  if (callee->kind == EQL_E_ATTR && callee->name && is_self(fc, callee->a)) {
    const eql_facts *mf = a->cls_facts;
    const eql_func *m = eql_ru_own_method(a->cls, callee->name);
    if (!m) {
      const eql_facts *bf = NULL;
      m = eql_ru_base_method(a->ctx->index, a->cls_facts, a->cls, callee->name, &bf);
      mf = bf;
    }
    if (m && mf && m->nparams) {
      fset out;
      if (analyse_function(a, mf, m, *sc->st, &out) == 0) *sc->st = out;
    }
    return;
  }
  /* self passed to something else */
  for (unsigned i = 0; i < e->nargs; i++) {
    if (!is_self(fc, e->args[i].value)) continue;
    if (callee->kind == EQL_E_NAME && allowed_self_arg(callee->name) &&
        !eql_facts_lookup(fc->f, callee->name, e->scope, e->start))
      continue;
    a->unknown = 1;
    return;
  }
}

static void scan_stmt_exprs(fnctx *fc, fset *st, const eql_stmt *s) {
  scan sc = {fc, st};
  for (unsigned i = 0; i < s->ntargets; i++) walk_expr(s->targets[i], &sc, 0);
  walk_expr(s->value, &sc, 0);
  for (unsigned i = 0; i < s->nexprs; i++)
    if (s->exprs[i] != s->value) walk_expr(s->exprs[i], &sc, 0);
}

/* Marks every field assigned anywhere in a block as `maybe` (paths not modelled). */
static void mark_maybe_block(fnctx *fc, const eql_block *b);

static void mark_maybe_stmt(fnctx *fc, const eql_stmt *s) {
  if (s->kind == EQL_S_ASSIGN) {
    fset tmp;
    memset(&tmp, 0, sizeof tmp);
    for (unsigned t = 0; t < s->ntargets; t++) assign_target(fc, &tmp, s->targets[t]);
    fs_join(&fc->a->maybe, &tmp);
  }
  if (s->kind == EQL_S_DEF && s->func) {
    /* a closure assigning self.x: whether it runs is unknown */
    fnctx inner = *fc;
    mark_maybe_block(&inner, &s->func->body);
  }
  if (s->kind == EQL_S_CLASS) return;
  mark_maybe_block(fc, &s->body);
  mark_maybe_block(fc, &s->orelse);
  mark_maybe_block(fc, &s->finalbody);
  for (unsigned h = 0; h < s->nhandlers; h++) mark_maybe_block(fc, &s->handlers[h]);
}

static void mark_maybe_block(fnctx *fc, const eql_block *b) {
  for (unsigned i = 0; i < b->n; i++) mark_maybe_stmt(fc, b->items[i]);
}

/* Walks a block from state *st; returns 1 when its end is reachable. */
static int walk_block(fnctx *fc, const eql_block *b, fset *st);

static void add_exit(fnctx *fc, const fset *st) {
  if (fc->nexit++ == 0) fc->exit = *st;
  else fs_meet(&fc->exit, st);
}

static int walk_stmt(fnctx *fc, const eql_stmt *s, fset *st) {
  analysis *a = fc->a;
  switch (s->kind) {
    case EQL_S_DEF:
    case EQL_S_CLASS:
      mark_maybe_stmt(fc, s);
      return 1;
    case EQL_S_ASSIGN:
      scan_stmt_exprs(fc, st, s);
      if (s->value)
        for (unsigned t = 0; t < s->ntargets; t++) assign_target(fc, st, s->targets[t]);
      return 1;
    case EQL_S_RETURN:
      scan_stmt_exprs(fc, st, s);
      add_exit(fc, st);
      return 0;
    case EQL_S_RAISE:
      return 0;
    case EQL_S_BREAK:
    case EQL_S_CONTINUE:
      return 0;
    case EQL_S_IF: {
      scan_stmt_exprs(fc, st, s);
      fset t = *st, e = *st;
      int rt = walk_block(fc, &s->body, &t);
      int re = walk_block(fc, &s->orelse, &e);
      if (rt && re) {
        fs_meet(&t, &e);
        *st = t;
      } else if (rt) {
        *st = t;
      } else if (re) {
        *st = e;
      }
      return rt || re;
    }
    case EQL_S_FOR:
    case EQL_S_WHILE: {
      scan_stmt_exprs(fc, st, s);
      fset body = *st, other = *st;
      walk_block(fc, &s->body, &body);
      walk_block(fc, &s->orelse, &other);
      mark_maybe_block(fc, &s->body);
      mark_maybe_block(fc, &s->orelse);
      return 1; /* the state after the loop: as before it */
    }
    case EQL_S_WITH: {
      scan_stmt_exprs(fc, st, s);
      return walk_block(fc, &s->body, st);
    }
    case EQL_S_TRY: {
      fset body = *st;
      int rb = walk_block(fc, &s->body, &body);
      if (rb) rb = walk_block(fc, &s->orelse, &body);
      fset res = body;
      int any = rb;
      for (unsigned h = 0; h < s->nhandlers; h++) {
        fset hs = *st;
        if (walk_block(fc, &s->handlers[h], &hs)) {
          if (any) fs_meet(&res, &hs);
          else res = hs;
          any = 1;
        }
      }
      mark_maybe_block(fc, &s->body);
      mark_maybe_block(fc, &s->orelse);
      for (unsigned h = 0; h < s->nhandlers; h++) mark_maybe_block(fc, &s->handlers[h]);
      if (any) *st = res;
      int rf = walk_block(fc, &s->finalbody, st);
      return any && rf;
    }
    default:
      break;
  }
  scan_stmt_exprs(fc, st, s);
  if (s->nhandlers) { /* match: the cases may all be skipped */
    for (unsigned h = 0; h < s->nhandlers; h++) {
      fset hs = *st;
      walk_block(fc, &s->handlers[h], &hs);
      mark_maybe_block(fc, &s->handlers[h]);
    }
  }
  (void)a;
  return 1;
}

static int walk_block(fnctx *fc, const eql_block *b, fset *st) {
  for (unsigned i = 0; i < b->n; i++) {
    if (fc->a->unknown) return 1;
    if (!walk_stmt(fc, b->items[i], st)) return 0;
  }
  return 1;
}

/* What `fn` leaves assigned on every normal exit, starting from `in`. 0, or -1 when it is
 * recursive/too deep (then the caller keeps its state) or never returns normally. */
static int analyse_function(analysis *a, const eql_facts *f, const eql_func *fn, fset in,
                            fset *out) {
  if (a->depth >= 8) {
    a->unknown = 1;
    return -1;
  }
  for (unsigned i = 0; i < a->depth; i++)
    if (a->stack[i] == fn) return -1; /* recursion: nothing more */
  if (!fn->nparams || !fn->params[0].name || fn->params[0].kind != EQL_P_PLAIN) {
    a->unknown = 1;
    return -1;
  }
  a->stack[a->depth++] = fn;
  fnctx fc;
  memset(&fc, 0, sizeof fc);
  fc.a = a;
  fc.f = f;
  fc.fn = fn;
  fc.self = fn->params[0].name;
  fset st = in;
  if (walk_block(&fc, &fn->body, &st)) add_exit(&fc, &st);
  a->depth--;
  if (!fc.nexit) return -1;
  *out = fc.exit;
  return 0;
}

/* ---------------------------------------------------------------- the rule */

static const char *join_names(eql_ctx *ctx, const analysis *a, const fset *missing) {
  const char *s = "";
  int first = 1;
  for (unsigned i = 0; i < a->nfields; i++) {
    if (!fs_has(missing, i)) continue;
    s = eql_arena_printf(ctx->scratch, "%s%s'%s'", s, first ? "" : ", ", a->fields[i].name);
    first = 0;
  }
  return s;
}

void eql_check_EQX012(eql_ctx *ctx) {
  const eql_facts *f = ctx->facts;
  for (unsigned ci = 0; ci < f->classes.n; ci++) {
    const eql_class *c = f->classes.items[ci];
    eql_classref ref = {f, c, NULL};
    if (eql_index_is_module(ctx->index, &ref) != EQL_YES || is_abstract(f, c)) continue;
    const eql_func *init = NULL;
    const eql_facts *init_f = NULL;
    const eql_class *owner = NULL;
    if (effective_init(ctx->index, f, c, &init, &init_f, &owner, 0) != 1) continue;
    /* an inherited __init__ matters here only for the fields this class adds */
    int own_init = owner == c;
    int adds_required = 0;
    for (unsigned i = 0; i < c->nfields; i++) adds_required |= !c->fields[i].has_default;
    if (!own_init && !adds_required) continue;
    static __thread analysis a;
    memset(&a, 0, sizeof a);
    a.ctx = ctx;
    a.cls = c;
    a.cls_facts = f;
    if (collect_fields(&a, f, c, 0) < 0) continue;
    fset none, must;
    memset(&none, 0, sizeof none);
    if (analyse_function(&a, init_f, init, none, &must) < 0 || a.unknown) continue;
    fset missing_inherited;
    memset(&missing_inherited, 0, sizeof missing_inherited);
    int n_inherited = 0;
    for (unsigned i = 0; i < a.nfields; i++) {
      const finfo *fi = &a.fields[i];
      if (!fi->required || fs_has(&must, i) || fs_has(&a.maybe, i)) continue;
      int sometimes = fs_has(&a.ever, i);
      if (fi->owner == c) {
        const char *help =
            eql_arena_printf(ctx->scratch,
                             "assign `self.%s` on every path through `__init__` (use `None` for "
                             "an absent optional part), or give the field a default",
                             fi->name);
        if (own_init) {
          eql_diag *d = eql_report(ctx, fi->fd->start, fi->fd->end, help,
                                   "field `%s` of `%s` is %s by `__init__`: Equinox raises "
                                   "\"The following fields were not initialised during "
                                   "__init__: {'%s'}\"",
                                   fi->name, c->qualname,
                                   sometimes ? "not assigned on every path" : "never assigned",
                                   fi->name);
          if (d) eql_diag_set_related(d, f->src, init->name_start, init->name_end, "the `__init__`");
        } else {
          eql_report(ctx, fi->fd->start, fi->fd->end, help,
                     "field `%s` of `%s` is never set: `%s` inherits the custom `__init__` of "
                     "`%s`, which does not assign it (Equinox raises \"The following fields "
                     "were not initialised during __init__: {'%s'}\")",
                     fi->name, c->qualname, c->qualname, owner->qualname, fi->name);
        }
      } else if (own_init) {
        fs_add(&missing_inherited, i);
        n_inherited++;
      }
    }
    if (n_inherited)
      eql_report(ctx, init->name_start, init->name_end,
                 "assign the inherited fields in `__init__` (or call `super().__init__(...)`), or "
                 "give them defaults",
                 "`%s.__init__` does not assign the inherited field%s %s on every path: Equinox "
                 "raises \"The following fields were not initialised during __init__: {%s}\"",
                 c->qualname, n_inherited > 1 ? "s" : "", join_names(ctx, &a, &missing_inherited),
                 join_names(ctx, &a, &missing_inherited));
  }
}
