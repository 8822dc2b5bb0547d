/* ## What it does
 * Checks for one PRNG key consumed twice on a path where both uses run, without being
 * re-bound in between: given to two `jax.random` samplers (`normal`, `uniform`, `bernoulli`,
 * `categorical`, `randint`, `permutation`, `choice`, ...), as `key=` to two layer or Module
 * constructors, to an `eqx.nn.Dropout`, to a Module's `__call__` or a function that uses its
 * key. Also a key consumed inside a loop body (or a comprehension) that the body does not
 * re-bind, so every iteration sees the same key, and a key stored in a Module field in
 * `__init__` and consumed in `__call__`.
 *
 * ## Why is this bad
 * JAX keys are values, not generators: nothing advances them. Two samplers given the same
 * key draw the same bits, so two layers "randomly" initialised from one key start with
 * identical (or correlated) weights, the "noise" equals the "init", every batch gets the
 * same dropout mask, and a Module that keeps a key in a field draws the same randomness on
 * every call. The JAX documentation: "never reuse keys (unless you want identical outputs)".
 *
 * ## Example
 * ```python
 * def __init__(self, key):
 *     self.encoder = eqx.nn.Linear(784, 64, key=key)
 *     self.decoder = eqx.nn.Linear(64, 784, key=key)
 *
 * for step in range(steps):
 *     noise = jax.random.normal(key, x.shape)
 * ```
 *
 * ## Use instead
 * Split before every use and give each consumer its own key:
 * ```python
 * def __init__(self, key):
 *     ekey, dkey = jax.random.split(key)
 *     self.encoder = eqx.nn.Linear(784, 64, key=ekey)
 *     self.decoder = eqx.nn.Linear(64, 784, key=dkey)
 *
 * for step in range(steps):
 *     key, subkey = jax.random.split(key)
 *     noise = jax.random.normal(subkey, x.shape)
 * ```
 * A Module takes its key as an argument of `__call__` (`def __call__(self, x, *, key)`).
 *
 * ## Fix safety
 * No automatic fix: where to split, and which use keeps the original key, is the
 * author's choice (splitting changes every random number drawn afterwards).
 *
 * ## Known limits
 * The analysis is per function (and per module body) and branch-aware: `if`/`elif`/`else`
 * and `match` arms are exclusive, `return`/`raise`/`break`/`continue` end a path, loop
 * bodies are run twice, loops are assumed to run at least once, and an `except` handler
 * starts from the state before its `try` (nothing in the `try` body is assumed to have run;
 * names it re-binds are forgotten). Conditions are not evaluated, so a use guarded by
 * `if step == 0` inside a loop still counts on every iteration. Only names and `name[i]`
 * with a literal index are tracked; keys in containers, attributes (other than a stored
 * field used in `__call__`), lambdas and closures called later are not followed. A
 * callee counts as consuming when it is a `jax.random` sampler, a layer or Module
 * constructor, `eqx.nn.Dropout`, a Module whose `__call__` uses its key, or a function of
 * the file that uses its key parameter; an unknown callee counts for `key=` arguments
 * whose value is known to be a PRNG key. Callables that ignore their key (`eqx.nn.MLP`,
 * `eqx.nn.Linear` calls, activations), `split`/`fold_in` (they derive new keys),
 * `filter_eval_shape` and functions that only `fold_in` their key are not uses. Functions
 * imported from other files of the project are not followed (only their classes are).
 * Tests that reuse a key on purpose (to compare two runs) opt out with
 * `[tool.eqlint.rules.EQX013] exclude-tests = true`, which turns the rule off for
 * `test_*.py`, `*_test.py`, `conftest.py` and files under `tests/`.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eqlint/ctx.h"
#include "eqlint/value.h"

/* Design: each function (and the module body) is interpreted over its statement tree with a
 * SET OF PATH STATES instead of one merged state, so exclusive arms never meet: an `if`
 * forks the set, the arms run on their copies, and the results are united; `return`,
 * `raise`, `break` and `continue` move a path out of the current set. A path state maps
 * each tracked name to a value id and lists the ids already consumed (with the first use,
 * for the related location). Ids of keys derived by `split` are a hash of the parent's id,
 * the call site and the element, so the same split of the same key gives the same id again
 * (a loop that splits an unchanged key hands out the same subkey every time), while
 * `fold_in` and unknown values get fresh ids. Loops run their body twice; a use in the
 * second run that finds its id consumed is a reuse across iterations. When a set grows
 * past MAX_PATHS it collapses to what all paths agree on, which can only report less. */

#define MAX_PATHS 32
#define MAX_NAMES 256

/* ------------------------------------------------------------------ knowledge */

static const char *const samplers[] = {
  "ball", "bernoulli", "beta", "binomial", "bits", "categorical", "cauchy", "chisquare",
  "choice", "dirichlet", "double_sided_maxwell", "exponential", "f", "gamma",
  "generalized_normal", "geometric", "gumbel", "laplace", "loggamma", "logistic", "lognormal",
  "maxwell", "multinomial", "multivariate_normal", "normal", "orthogonal", "pareto",
  "permutation", "poisson", "rademacher", "randint", "rayleigh", "shuffle", "t", "triangular",
  "truncated_normal", "uniform", "wald", "weibull_min", NULL,
};

static int is_sampler(const char *canon) {
  if (!canon || strncmp(canon, "jax.random.", 11)) return 0;
  for (int i = 0; samplers[i]; i++)
    if (!strcmp(canon + 11, samplers[i])) return 1;
  return 0;
}

static int canon_is(const char *canon, const char *name) { return canon && !strcmp(canon, name); }

/* Calls that make a key from scratch or from another key without consuming it. */
static int is_split(const char *c) { return canon_is(c, "jax.random.split"); }
static int is_key_maker(const char *c) {
  return canon_is(c, "jax.random.PRNGKey") || canon_is(c, "jax.random.key") ||
         canon_is(c, "jax.random.fold_in") || canon_is(c, "jax.random.clone") ||
         canon_is(c, "jax.random.wrap_key_data");
}

/* Names that hold a PRNG key by the conventions of JAX code. */
static int keyish_name(const char *n) {
  if (!n) return 0;
  size_t len = strlen(n);
  if (!strcmp(n, "key") || !strcmp(n, "rng") || !strcmp(n, "prng") || !strcmp(n, "rngkey"))
    return 1;
  if (len > 3 && !strcmp(n + len - 3, "key")) return 1;   /* subkey, init_key, wkey */
  if (len > 4 && !strcmp(n + len - 4, "_rng")) return 1;
  if (!strncmp(n, "rng_", 4) || !strncmp(n, "key_", 4)) return 1;
  return 0;
}

static int keyish_annotation(const eql_facts *f, const eql_expr *an) {
  if (!an) return 0;
  const eql_expr *head = an->kind == EQL_E_SUBSCRIPT ? an->a : an;
  const char *c = eql_facts_canon(f, head);
  if (!c && head && head->kind == EQL_E_NAME) c = head->name;
  if (!c) return 0;
  return !strcmp(c, "jaxtyping.PRNGKeyArray") || !strcmp(c, "jaxtyping.Key") ||
         !strcmp(c, "jax.random.PRNGKeyArray") || !strcmp(c, "jax.random.KeyArray") ||
         !strcmp(c, "chex.PRNGKey") || !strcmp(c, "PRNGKeyArray");
}

/* Callees whose `key=` is a sort key, not a PRNG key. */
static int sort_like(const eql_expr *callee) {
  const char *n = callee && (callee->kind == EQL_E_NAME || callee->kind == EQL_E_ATTR) ? callee->name
                                                                                       : NULL;
  if (!n) return 0;
  static const char *const names[] = {"sorted", "sort", "min", "max", "nlargest", "nsmallest",
                                      "groupby", "sort_values", "sort_index", "bisect_left",
                                      "bisect_right", "insort", NULL};
  for (int i = 0; names[i]; i++)
    if (!strcmp(n, names[i])) return 1;
  return 0;
}

/* Imports from libraries (whose functions that take `key=` use it), as opposed to modules
 * of the project being checked. */
static int library_canon(const char *canon) {
  static const char *const libs[] = {"jax", "equinox", "optax", "diffrax", "lineax",
                                     "optimistix", "flax", "haiku", "distrax", "numpyro",
                                     "blackjax", "chex", "tensorflow_probability", "levanter",
                                     "haliax", "jraph", "sympy2jax", NULL};
  size_t n = strcspn(canon, ".");
  for (int i = 0; libs[i]; i++)
    if (strlen(libs[i]) == n && !strncmp(canon, libs[i], n)) return 1;
  return 0;
}

/* ------------------------------------------------------------------ callees */

enum { C_NONE = 0, C_DEFINITE, C_KEYISH }; /* C_KEYISH: only when the value is a known key */

typedef struct callinfo {
  const eql_expr *call;
  int kind;
  const eql_expr *arg; /* the key argument */
} callinfo;

typedef struct rule {
  eql_ctx *ctx;
  eql_eval ev;
  callinfo *cache; /* open addressing on the call pointer */
  size_t ncache, nfill;
  const eql_expr **reported; /* second uses already reported */
  size_t nrep, caprep;
  const eql_expr **firsts;   /* first uses that some report names */
  size_t nfirst, capfirst;
  int oom;
} rule;

/* Does `fn` use its parameter `pname`? 0 no, 1 yes, 2 only through fold_in or in ways we
 * cannot judge (it derives per-call keys, e.g. `fold_in(key, step)`). */
typedef struct puse {
  const eql_facts *f;
  const char *name;
  int used, folded;
} puse;

static void puse_expr(puse *p, const eql_expr *e, int depth) {
  if (!e || depth > 200) return;
  if (e->kind == EQL_E_NAME) {
    if (!strcmp(e->name, p->name)) p->used = 1;
    return;
  }
  if (e->kind == EQL_E_CALL && e->a) {
    const char *c = eql_facts_canon(p->f, e->a);
    if (canon_is(c, "jax.random.fold_in")) {
      const eql_expr *k = eql_call_arg(e, 0, "key");
      if (k && k->kind == EQL_E_NAME && !strcmp(k->name, p->name)) p->folded = 1;
      for (unsigned i = 0; i < e->nargs; i++)
        if (e->args[i].value != k) puse_expr(p, e->args[i].value, depth + 1);
      return;
    }
  }
  if (e->kind == EQL_E_LAMBDA) {
    for (unsigned i = 0; i < e->nparams; i++)
      if (!strcmp(e->params[i].name, p->name)) return; /* shadowed */
  }
  puse_expr(p, e->a, depth + 1);
  puse_expr(p, e->b, depth + 1);
  puse_expr(p, e->c, depth + 1);
  for (unsigned i = 0; i < e->nargs; i++) {
    puse_expr(p, e->args[i].key, depth + 1);
    puse_expr(p, e->args[i].value, depth + 1);
  }
}

static void puse_block(puse *p, const eql_block *b, int depth);

static void puse_stmt(puse *p, const eql_stmt *s, int depth) {
  if (depth > 100) return;
  if (s->kind == EQL_S_DELETE) return; /* `del key`: the idiom for "ignored" */
  for (unsigned i = 0; i < s->ntargets; i++)
    if (s->targets[i] && s->targets[i]->kind != EQL_E_NAME) puse_expr(p, s->targets[i], 0);
  puse_expr(p, s->value, 0);
  for (unsigned i = 0; i < s->nexprs; i++) puse_expr(p, s->exprs[i], 0);
  puse_block(p, &s->body, depth + 1);
  puse_block(p, &s->orelse, depth + 1);
  puse_block(p, &s->finalbody, depth + 1);
  for (unsigned h = 0; h < s->nhandlers; h++) puse_block(p, &s->handlers[h], depth + 1);
  if (s->kind == EQL_S_DEF && s->func) puse_block(p, &s->func->body, depth + 1);
}

static void puse_block(puse *p, const eql_block *b, int depth) {
  for (unsigned i = 0; i < b->n; i++) puse_stmt(p, b->items[i], depth);
}

static int param_use(const eql_facts *f, const eql_func *fn, const char *pname) {
  puse p = {f, pname, 0, 0};
  puse_block(&p, &fn->body, 0);
  if (p.folded) return 2;
  return p.used;
}

/* The key argument of `call` into function `fn` (skipping `self` when `skip` is 1) and how
 * it counts: C_DEFINITE when fn uses that parameter, C_NONE when it ignores it or cannot
 * be judged, C_KEYISH when `key=` disappears into **kwargs. */
static int through_function(const eql_facts *ff, const eql_func *fn, const eql_expr *call,
                            int skip, const eql_expr **arg) {
  const eql_expr *kw = eql_call_arg(call, -1, "key");
  const char *pname = NULL;
  if (kw) {
    int varkw = 0;
    for (unsigned i = 0; i < fn->nparams; i++) {
      if (fn->params[i].kind == EQL_P_VARKW) varkw = 1;
      if (fn->params[i].kind != EQL_P_POSONLY && fn->params[i].kind != EQL_P_VARARGS &&
          fn->params[i].kind != EQL_P_VARKW && !strcmp(fn->params[i].name, "key"))
        pname = "key";
    }
    *arg = kw;
    if (!pname) return varkw ? C_KEYISH : C_NONE;
  } else {
    /* positional: a parameter whose name says it is a key */
    int pos = 0;
    for (unsigned k = 0; k < call->nargs; k++) {
      const eql_arg *a = &call->args[k];
      if (a->star) return C_NONE;
      if (a->kw) continue;
      unsigned pi = (unsigned)(pos++ + skip);
      if (pi >= fn->nparams) return C_NONE;
      const eql_param *p = &fn->params[pi];
      if (p->kind != EQL_P_PLAIN && p->kind != EQL_P_POSONLY) return C_NONE;
      if (keyish_name(p->name) || keyish_annotation(ff, p->annotation)) {
        pname = p->name;
        *arg = a->value;
        break;
      }
    }
    if (!pname) return C_NONE;
  }
  return param_use(ff, fn, pname) == 1 ? C_DEFINITE : C_NONE;
}

/* `self.field` of a method of a class: the field's declared type, as a value. */
static eql_value self_field(rule *r, const eql_expr *callee) {
  eql_value none;
  memset(&none, 0, sizeof none);
  if (!callee || callee->kind != EQL_E_ATTR || !callee->a || callee->a->kind != EQL_E_NAME)
    return none;
  const eql_func *fn = callee->scope;
  while (fn && fn->is_lambda) fn = fn->parent;
  if (!fn || !fn->cls || !fn->nparams || strcmp(fn->params[0].name, callee->a->name)) return none;
  const eql_class *cls = fn->cls;
  for (unsigned i = 0; i < cls->nfields; i++)
    if (!strcmp(cls->fields[i].name, callee->name) && cls->fields[i].annotation)
      return eql_eval_annotation(&r->ev, cls->fields[i].annotation);
  return none;
}

static callinfo classify_uncached(rule *r, const eql_expr *call) {
  const eql_facts *f = r->ctx->facts;
  callinfo ci = {call, C_NONE, NULL};
  const eql_expr *callee = call->a;
  if (!callee) return ci;
  const char *canon = eql_facts_canon(f, callee);
  if (canon) {
    if (is_sampler(canon)) {
      ci.arg = eql_call_arg(call, 0, "key");
      ci.kind = ci.arg ? C_DEFINITE : C_NONE;
      return ci;
    }
    if (!strncmp(canon, "jax.random.", 11) || !strncmp(canon, "jax.nn.", 7) ||
        !strncmp(canon, "jax.numpy.", 10) || !strncmp(canon, "numpy.", 6) ||
        !strcmp(canon, "equinox.filter_eval_shape") || !strcmp(canon, "jax.eval_shape") ||
        !strcmp(canon, "functools.partial") || !strncmp(canon, "jax.tree_util.", 14) ||
        !strncmp(canon, "jax.lax.", 8))
      return ci;
  }
  const eql_expr *kw = eql_call_arg(call, -1, "key");
  /* cheap exit: no `key=` and no positional argument that could be a key */
  if (!kw) {
    int any = 0;
    for (unsigned k = 0; k < call->nargs && !any; k++) {
      const eql_expr *v = call->args[k].value;
      if (call->args[k].kw || call->args[k].star || !v) continue;
      if (v->kind == EQL_E_NAME || (v->kind == EQL_E_SUBSCRIPT && v->a && v->a->kind == EQL_E_NAME))
        any = 1;
    }
    if (!any) return ci;
  }
  eql_value v = eql_eval_expr(&r->ev, callee);
  if (v.kind == EQL_V_UNKNOWN) v = self_field(r, callee);
  const eql_facts *in = NULL;
  const eql_func *m = NULL;
  switch (v.kind) {
    case EQL_V_CLASS:
      if (v.cls.layer) {
        /* built-in layers take `key` keyword-only and use it to initialise */
        if (kw) {
          ci.kind = C_DEFINITE;
          ci.arg = kw;
        }
        return ci;
      }
      m = eql_index_method(r->ctx->index, &v.cls, "__init__", &in);
      if (!m) {
        /* the dataclass __init__ stores the key in a field */
        if (kw && eql_index_is_module(r->ctx->index, &v.cls) == EQL_YES) {
          ci.kind = C_DEFINITE;
          ci.arg = kw;
        }
        return ci;
      }
      if (kw && m->nparams <= 1) {
        /* an __init__ of `self` alone stands for a constructor we cannot see (the C front
         * end's libeqx layers); in Python the call would not even run */
        ci.kind = C_DEFINITE;
        ci.arg = kw;
        return ci;
      }
      ci.kind = through_function(in, m, call, 1, &ci.arg);
      return ci;
    case EQL_V_MODULE:
      if (v.cls.layer) {
        if (kw && !strcmp(v.cls.layer->name, "Dropout")) {
          ci.kind = C_DEFINITE;
          ci.arg = kw;
        }
        return ci; /* MLP, Linear, ... ignore their key; MHA/Sequential: undecided */
      }
      m = eql_index_method(r->ctx->index, &v.cls, "__call__", &in);
      if (!m) {
        if (kw) {
          ci.kind = C_KEYISH;
          ci.arg = kw;
        }
        return ci;
      }
      ci.kind = through_function(in, m, call, 1, &ci.arg);
      return ci;
    case EQL_V_FUNCTION:
    case EQL_V_TRANSFORMED:
      if (v.func && v.func_facts == f && !v.func->is_lambda && !v.func->cls) {
        ci.kind = through_function(f, v.func, call, 0, &ci.arg);
        return ci;
      }
      if (v.kind == EQL_V_FUNCTION && v.canon && strncmp(v.canon, "equinox.filter_", 15))
        return ci; /* jax.nn.relu and friends */
      if (v.func && v.func->is_lambda) return ci;
      break;
    case EQL_V_UNKNOWN:
      break;
    default:
      return ci;
  }
  if (kw && !sort_like(callee)) {
    /* `for layer in self.layers: x = layer(x, key=key)`: a different, unknown callee on
     * every iteration; whether any of them uses the key cannot be told */
    if (callee->kind == EQL_E_NAME) {
      const eql_binding *b = eql_facts_lookup(f, callee->name, callee->scope, callee->start);
      if (b && b->kind == EQL_B_FOR) return ci;
    }
    /* a function imported from another file of the project: its body is out of reach (the
     * index knows classes only), and it may ignore its key like an activation does */
    if (canon && !library_canon(canon)) return ci;
    ci.kind = C_KEYISH;
    ci.arg = kw;
  }
  return ci;
}

static size_t ptr_hash(const void *p) {
  uintptr_t x = (uintptr_t)p;
  x ^= x >> 17;
  x *= (uintptr_t)0x9E3779B97F4A7C15ull;
  return (size_t)(x ^ (x >> 29));
}

static callinfo classify(rule *r, const eql_expr *call) {
  if (!r->cache) return classify_uncached(r, call);
  size_t i = ptr_hash(call) & (r->ncache - 1);
  while (r->cache[i].call && r->cache[i].call != call) i = (i + 1) & (r->ncache - 1);
  if (!r->cache[i].call) {
    /* every call is in facts->calls, so the table (twice that size) never fills; should a
     * front end ever add one that is not, stop caching before it does */
    if (4 * (r->nfill + 1) > 3 * r->ncache) return classify_uncached(r, call);
    r->cache[i] = classify_uncached(r, call);
    r->nfill++;
  }
  return r->cache[i];
}

/* ------------------------------------------------------------------ path states */

typedef struct use_rec {
  const eql_expr *arg, *call;
} use_rec;

typedef struct used_ent {
  int vid;
  const use_rec *u;
} used_ent;

/* One path through the function so far: the value each tracked name holds (an id, -1 when
 * unknown), whether that value is known to be a key, and the values already consumed. */
typedef struct pstate {
  int *vid;
  unsigned char *keyish;
  used_ent *used;
  unsigned nused, capused;
} pstate;

typedef struct pset {
  pstate **items;
  unsigned n, cap;
} pset;

typedef struct loopctx {
  pset brk, cont;
  struct loopctx *up;
} loopctx;

typedef struct an {
  rule *r;
  const eql_facts *f;
  const eql_func *fn;      /* NULL: the module body */
  const char *names[MAX_NAMES];
  unsigned nnames;
  int next_vid;
  loopctx *loop;
  int again;               /* > 0 while re-running a loop body or comprehension element */
  int in_comp;             /* > 0 inside a comprehension element */
  const char *shadow[64];  /* comprehension targets in scope */
  unsigned nshadow;
} an;

static int name_idx(const an *a, const char *n) {
  for (unsigned i = 0; i < a->nnames; i++)
    if (!strcmp(a->names[i], n)) return (int)i;
  return -1;
}

static void add_name(an *a, const char *n) {
  if (n && name_idx(a, n) < 0 && a->nnames < MAX_NAMES) a->names[a->nnames++] = n;
}

static pstate *ps_new(an *a) {
  pstate *p = calloc(1, sizeof *p);
  if (!p) {
    a->r->oom = 1;
    return NULL;
  }
  size_t n = a->nnames ? a->nnames : 1;
  p->vid = malloc(n * sizeof *p->vid);
  p->keyish = calloc(n, 1);
  if (!p->vid || !p->keyish) {
    free(p->vid);
    free(p->keyish);
    free(p);
    a->r->oom = 1;
    return NULL;
  }
  for (size_t i = 0; i < n; i++) p->vid[i] = -1;
  return p;
}

static void ps_free(pstate *p) {
  if (!p) return;
  free(p->vid);
  free(p->keyish);
  free(p->used);
  free(p);
}

static pstate *ps_copy(an *a, const pstate *s) {
  pstate *p = ps_new(a);
  if (!p) return NULL;
  size_t n = a->nnames ? a->nnames : 1;
  memcpy(p->vid, s->vid, n * sizeof *p->vid);
  memcpy(p->keyish, s->keyish, n);
  if (s->nused) {
    p->used = malloc(s->nused * sizeof *p->used);
    if (!p->used) {
      ps_free(p);
      a->r->oom = 1;
      return NULL;
    }
    memcpy(p->used, s->used, s->nused * sizeof *p->used);
    p->nused = p->capused = s->nused;
  }
  return p;
}

static int ps_equal(const an *a, const pstate *x, const pstate *y) {
  size_t n = a->nnames ? a->nnames : 1;
  if (x->nused != y->nused || memcmp(x->vid, y->vid, n * sizeof *x->vid) ||
      memcmp(x->keyish, y->keyish, n))
    return 0;
  for (unsigned i = 0; i < x->nused; i++)
    if (x->used[i].vid != y->used[i].vid || x->used[i].u->arg != y->used[i].u->arg) return 0;
  return 1;
}

static const use_rec *used_get(const pstate *p, int vid) {
  for (unsigned i = 0; i < p->nused; i++)
    if (p->used[i].vid == vid) return p->used[i].u;
  return NULL;
}

static void used_set(an *a, pstate *p, int vid, const use_rec *u) {
  if (p->nused == p->capused) {
    unsigned cap = p->capused ? p->capused * 2 : 8;
    used_ent *n = realloc(p->used, cap * sizeof *n);
    if (!n) {
      a->r->oom = 1;
      return;
    }
    p->used = n;
    p->capused = cap;
  }
  p->used[p->nused++] = (used_ent){vid, u};
}

static void pset_clear(pset *s) {
  for (unsigned i = 0; i < s->n; i++) ps_free(s->items[i]);
  s->n = 0;
}

static void pset_free(pset *s) {
  pset_clear(s);
  free(s->items);
  s->items = NULL;
  s->cap = 0;
}

/* Too many paths: keep one state that holds only what every path agrees on (a name whose
 * value differs becomes unknown; a value counts as consumed only if consumed on all paths).
 * Less is reported, never more. */
static void pset_collapse(an *a, pset *s) {
  if (s->n <= 1) return;
  pstate *m = s->items[0];
  for (unsigned k = 1; k < s->n; k++) {
    pstate *o = s->items[k];
    for (unsigned i = 0; i < a->nnames; i++) {
      if (m->vid[i] != o->vid[i]) m->vid[i] = -1;
      m->keyish[i] = (unsigned char)(m->keyish[i] && o->keyish[i]);
    }
    unsigned w = 0;
    for (unsigned i = 0; i < m->nused; i++)
      if (used_get(o, m->used[i].vid)) m->used[w++] = m->used[i];
    m->nused = w;
    ps_free(o);
  }
  s->n = 1;
}

static void pset_add(an *a, pset *s, pstate *p) {
  if (!p) return;
  for (unsigned i = 0; i < s->n; i++)
    if (ps_equal(a, s->items[i], p)) {
      ps_free(p);
      return;
    }
  if (s->n == s->cap) {
    unsigned cap = s->cap ? s->cap * 2 : 4;
    pstate **n = realloc(s->items, cap * sizeof *n);
    if (!n) {
      ps_free(p);
      a->r->oom = 1;
      return;
    }
    s->items = n;
    s->cap = cap;
  }
  s->items[s->n++] = p;
  if (s->n > MAX_PATHS) pset_collapse(a, s);
}

/* Moves every state of `from` into `to`. */
static void pset_join(an *a, pset *to, pset *from) {
  for (unsigned i = 0; i < from->n; i++) pset_add(a, to, from->items[i]);
  from->n = 0;
}

static pset pset_copy(an *a, const pset *s) {
  pset c = {0};
  for (unsigned i = 0; i < s->n; i++) pset_add(a, &c, ps_copy(a, s->items[i]));
  return c;
}

/* ------------------------------------------------------------------ values */

static int mix(int base, const void *site, int idx) {
  uint64_t h = (uint64_t)(uint32_t)base * 0x9E3779B97F4A7C15ull;
  h ^= (uint64_t)(uintptr_t)site * 0xC2B2AE3D27D4EB4Full;
  h ^= (uint64_t)(uint32_t)(idx + 17) * 0x165667B19E3779F9ull;
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ull;
  h ^= h >> 32;
  return (int)((h & 0x3fffffffu) | 0x40000000u);
}

/* A literal non-negative index (`keys[0]`), or -1. */
static int literal_index(const eql_expr *e) {
  if (!e || e->kind != EQL_E_SUBSCRIPT || e->nargs != 1 || !e->args[0].value) return -1;
  const eql_expr *i = e->args[0].value;
  if (i->kind != EQL_E_INT || !i->name) return -1;
  char *end = NULL;
  long v = strtol(i->name, &end, 10);
  if (!end || *end || v < 0 || v > 100000) return -1;
  return (int)v;
}

/* The tracked name an expression reads (`key`, or the base of `keys[0]` with *sub = 0). */
static int tracked_ref(const an *a, const eql_expr *e, int *sub) {
  *sub = -1;
  if (!e) return -1;
  if (e->kind == EQL_E_NAME) return name_idx(a, e->name);
  if (e->kind == EQL_E_SUBSCRIPT && e->a && e->a->kind == EQL_E_NAME) {
    int i = literal_index(e);
    if (i < 0) return -1;
    *sub = i;
    return name_idx(a, e->a->name);
  }
  return -1;
}

/* The value id `e` has on path p (-1 unknown). */
static int ref_vid(const an *a, const pstate *p, const eql_expr *e, int *keyish) {
  int sub;
  int i = tracked_ref(a, e, &sub);
  if (i < 0 || p->vid[i] < 0) return -1;
  if (keyish) *keyish = p->keyish[i];
  return sub >= 0 ? mix(p->vid[i], NULL, sub) : p->vid[i];
}

typedef enum { V_FRESH, V_ALIAS, V_SPLIT, V_ELEM, V_SITE } vkind;

typedef struct vdesc {
  vkind kind;
  const eql_expr *src; /* ALIAS/ELEM: the expression read; SPLIT: the key split */
  const void *site;    /* SPLIT, SITE */
  int idx;             /* SPLIT: unpack position (-1 whole); ELEM: element */
  int keyish;          /* FRESH */
} vdesc;

static int all_literal_args(const eql_expr *call) {
  for (unsigned i = 0; i < call->nargs; i++) {
    const eql_expr *v = call->args[i].value;
    if (!v || call->args[i].star || (v->kind != EQL_E_INT && v->kind != EQL_E_STR)) return 0;
  }
  return 1;
}

/* What binding a target to element `unpack` (-1: all) of `value` gives it. */
static vdesc describe(an *a, const eql_expr *value, int unpack, const char *target) {
  vdesc d = {V_FRESH, NULL, NULL, -1, keyish_name(target)};
  if (!value) return d;
  if (value->kind == EQL_E_CALL && value->a) {
    const char *c = eql_facts_canon(a->f, value->a);
    if (is_split(c)) {
      d.kind = V_SPLIT;
      d.src = eql_call_arg(value, 0, "key");
      d.site = value;
      d.idx = unpack;
      d.keyish = 1;
      return d;
    }
    if (is_key_maker(c)) {
      d.keyish = 1;
      /* PRNGKey(0) made again (in a loop) is the same key again */
      if (unpack < 0 && !canon_is(c, "jax.random.fold_in") && all_literal_args(value)) {
        d.kind = V_SITE;
        d.site = value;
      }
      return d;
    }
    return d;
  }
  int sub;
  int i = tracked_ref(a, value, &sub);
  if (i >= 0) {
    if (unpack < 0) {
      d.kind = V_ALIAS;
      d.src = value;
    } else if (sub < 0) {
      d.kind = V_ELEM; /* k1, k2 = keys */
      d.src = value;
      d.idx = unpack;
    }
    return d;
  }
  if (value->kind == EQL_E_NAME) d.keyish = d.keyish || keyish_name(value->name);
  return d;
}

static void bind_idx(an *a, pset *cur, int i, const vdesc *d) {
  int fresh = a->next_vid++;
  for (unsigned k = 0; k < cur->n; k++) {
    pstate *p = cur->items[k];
    int kish = 0, v = -1;
    switch (d->kind) {
      case V_FRESH:
        v = fresh;
        kish = d->keyish;
        break;
      case V_ALIAS:
        v = ref_vid(a, p, d->src, &kish);
        break;
      case V_ELEM:
        v = ref_vid(a, p, d->src, &kish);
        if (v >= 0) v = mix(v, NULL, d->idx);
        break;
      case V_SPLIT: {
        int base = ref_vid(a, p, d->src, NULL);
        v = base >= 0 ? mix(base, d->site, d->idx) : fresh;
        kish = 1;
        break;
      }
      case V_SITE:
        v = mix(0, d->site, -7);
        kish = 1;
        break;
    }
    p->vid[i] = v;
    p->keyish[i] = (unsigned char)kish;
  }
}

static void bind_target(an *a, pset *cur, const eql_expr *t, const eql_expr *value, int unpack) {
  if (!t) return;
  switch (t->kind) {
    case EQL_E_NAME: {
      int i = name_idx(a, t->name);
      if (i < 0) return;
      vdesc d = describe(a, value, unpack, t->name);
      bind_idx(a, cur, i, &d);
      return;
    }
    case EQL_E_TUPLE:
    case EQL_E_LIST: {
      int same = value && (value->kind == EQL_E_TUPLE || value->kind == EQL_E_LIST) &&
                 value->nargs == t->nargs && unpack < 0;
      for (unsigned k = 0; k < t->nargs; k++) {
        const eql_expr *el = t->args[k].value;
        if (!el) continue;
        if (el->kind == EQL_E_STARRED || t->args[k].star) {
          bind_target(a, cur, el->kind == EQL_E_STARRED ? el->a : el, NULL, -1);
          continue;
        }
        if (same) bind_target(a, cur, el, value->args[k].value, -1);
        else bind_target(a, cur, el, unpack < 0 ? value : NULL, unpack < 0 ? (int)k : -1);
      }
      return;
    }
    case EQL_E_STARRED:
      bind_target(a, cur, t->a, NULL, -1);
      return;
    case EQL_E_SUBSCRIPT:
      /* keys[0] = ...: the container changed */
      if (t->a && t->a->kind == EQL_E_NAME) bind_target(a, cur, t->a, NULL, -1);
      return;
    default:
      return;
  }
}

/* ------------------------------------------------------------------ reports */

static int in_list(const eql_expr *const *xs, size_t n, const eql_expr *e) {
  for (size_t i = 0; i < n; i++)
    if (xs[i] == e) return 1;
  return 0;
}

static void push_list(rule *r, const eql_expr ***xs, size_t *n, size_t *cap, const eql_expr *e) {
  if (*n == *cap) {
    size_t c = *cap ? *cap * 2 : 16;
    const eql_expr **p = realloc((void *)*xs, c * sizeof *p);
    if (!p) {
      r->oom = 1;
      return;
    }
    *xs = p;
    *cap = c;
  }
  (*xs)[(*n)++] = e;
}

static const char *who(const eql_facts *f, const eql_expr *call) {
  return eql_expr_snippet(f, call->a, 40);
}

static void report(an *a, const use_rec *u, const use_rec *prev) {
  rule *r = a->r;
  eql_ctx *ctx = r->ctx;
  const eql_facts *f = a->f;
  if (in_list(r->reported, r->nrep, u->arg)) return;
  if (a->again && (in_list(r->firsts, r->nfirst, prev->arg) ||
                   in_list(r->reported, r->nrep, prev->arg)))
    return; /* the key is already reported; the loop adds nothing new */
  const char *k = eql_expr_snippet(f, u->arg, 30);
  unsigned line = (unsigned)eql_source_line_of(f->src, prev->arg->start);
  eql_diag *d;
  if (prev->arg == u->arg && a->in_comp) {
    d = eql_report(ctx, u->arg->start, u->arg->end,
                   eql_arena_printf(ctx->scratch,
                                    "give each element its own key: iterate over "
                                    "`jax.random.split(%s, n)`", k),
                   "PRNG key `%s` is consumed by `%s` for every element of the comprehension: "
                   "all elements get the same random numbers", k, who(f, u->call));
  } else if (prev->arg == u->arg) {
    d = eql_report(ctx, u->arg->start, u->arg->end,
                   eql_arena_printf(ctx->scratch,
                                    "split it at the top of the loop body and use the new key: "
                                    "`key, subkey = jax.random.split(key)`"),
                   "PRNG key `%s` is consumed by `%s` on every iteration of the loop, but it is "
                   "the same key on every iteration (the loop body never splits a new one): "
                   "every iteration gets the same random numbers",
                   k, who(f, u->call));
  } else if (a->again) {
    d = eql_report(ctx, u->arg->start, u->arg->end,
                   "split it at the top of the loop body and use the new key: "
                   "`key, subkey = jax.random.split(key)`",
                   "PRNG key `%s` is consumed by `%s` on the next iteration of the loop after "
                   "`%s` consumed it (line %u), and the loop body never splits a new one: both "
                   "get the same random numbers",
                   k, who(f, u->call), who(f, prev->call), line);
  } else {
    d = eql_report(ctx, u->arg->start, u->arg->end,
                   eql_arena_printf(ctx->scratch,
                                    "split it and give each use its own key: "
                                    "`k1, k2 = jax.random.split(%s)`", k),
                   "PRNG key `%s` is consumed again by `%s` after `%s` already consumed it "
                   "(line %u), without being split in between: both get the same random numbers",
                   k, who(f, u->call), who(f, prev->call), line);
  }
  if (d)
    eql_diag_set_related(d, f->src, prev->arg->start, prev->arg->end,
                         prev->arg == u->arg ? "consumed here on every iteration"
                                             : "first consumed here");
  push_list(r, &r->reported, &r->nrep, &r->caprep, u->arg);
  push_list(r, &r->firsts, &r->nfirst, &r->capfirst, prev->arg);
}

static int shadowed(const an *a, const char *n) {
  for (unsigned i = 0; i < a->nshadow; i++)
    if (!strcmp(a->shadow[i], n)) return 1;
  return 0;
}

static void consume(an *a, pset *cur, const eql_expr *call, const callinfo *ci) {
  int sub;
  int i = tracked_ref(a, ci->arg, &sub);
  if (i < 0) return;
  const char *base = ci->arg->kind == EQL_E_NAME ? ci->arg->name : ci->arg->a->name;
  if (shadowed(a, base)) return;
  use_rec *u = eql_arena_alloc(a->r->ctx->scratch, sizeof *u);
  if (!u) {
    a->r->oom = 1;
    return;
  }
  u->arg = ci->arg;
  u->call = call;
  for (unsigned k = 0; k < cur->n; k++) {
    pstate *p = cur->items[k];
    int keyish = 0;
    int vid = ref_vid(a, p, ci->arg, &keyish);
    if (vid < 0 || (ci->kind == C_KEYISH && !keyish)) continue;
    const use_rec *prev = used_get(p, vid);
    if (prev) report(a, u, prev);
    else used_set(a, p, vid, u);
  }
}

/* ------------------------------------------------------------------ interpretation */

static void walk(an *a, const eql_expr *e, pset *cur, int depth);

static void comp_targets(an *a, const eql_expr *t) {
  if (!t) return;
  if (t->kind == EQL_E_NAME) {
    if (a->nshadow < sizeof a->shadow / sizeof *a->shadow) a->shadow[a->nshadow++] = t->name;
    return;
  }
  if (t->kind == EQL_E_STARRED) comp_targets(a, t->a);
  if (t->kind == EQL_E_TUPLE || t->kind == EQL_E_LIST)
    for (unsigned i = 0; i < t->nargs; i++) comp_targets(a, t->args[i].value);
}

static void walk(an *a, const eql_expr *e, pset *cur, int depth) {
  if (!e || !cur->n || a->r->oom || depth > 150) return;
  switch (e->kind) {
    case EQL_E_LAMBDA:
    case EQL_E_NAME:
      return;
    case EQL_E_IFEXP: {
      walk(a, e->b, cur, depth + 1);
      pset other = pset_copy(a, cur);
      walk(a, e->a, cur, depth + 1);
      walk(a, e->c, &other, depth + 1);
      pset_join(a, cur, &other);
      pset_free(&other);
      return;
    }
    case EQL_E_COMP: {
      for (unsigned i = 0; i < e->nargs; i++) walk(a, e->args[i].value, cur, depth + 1);
      unsigned saved = a->nshadow;
      for (unsigned i = 0; i < e->nargs; i++) comp_targets(a, e->args[i].key);
      a->in_comp++;
      for (int pass = 0; pass < 2; pass++) {
        if (pass) a->again++;
        walk(a, e->b, cur, depth + 1);
        walk(a, e->a, cur, depth + 1);
        if (pass) a->again--;
      }
      a->in_comp--;
      a->nshadow = saved;
      return;
    }
    case EQL_E_CALL: {
      walk(a, e->a, cur, depth + 1);
      for (unsigned i = 0; i < e->nargs; i++) walk(a, e->args[i].value, cur, depth + 1);
      callinfo ci = classify(a->r, e);
      if (ci.kind != C_NONE && ci.arg) consume(a, cur, e, &ci);
      return;
    }
    default:
      walk(a, e->a, cur, depth + 1);
      walk(a, e->b, cur, depth + 1);
      walk(a, e->c, cur, depth + 1);
      for (unsigned i = 0; i < e->nargs; i++) {
        walk(a, e->args[i].key, cur, depth + 1);
        walk(a, e->args[i].value, cur, depth + 1);
      }
      return;
  }
}

static void exec_block(an *a, const eql_block *b, pset *cur, int depth);

static int is_true_const(const eql_expr *e) {
  return e && ((e->kind == EQL_E_BOOL && e->name && !strcmp(e->name, "True")) ||
               (e->kind == EQL_E_INT && e->name && strcmp(e->name, "0")));
}

/* Names re-bound anywhere in a block (for except handlers: forget them). */
static void forget_bound(an *a, const eql_block *b, pset *set, int depth);

static void forget_target(an *a, const eql_expr *t, pset *set) {
  if (!t) return;
  if (t->kind == EQL_E_NAME) {
    int i = name_idx(a, t->name);
    if (i >= 0)
      for (unsigned k = 0; k < set->n; k++) set->items[k]->vid[i] = -1;
  } else if (t->kind == EQL_E_TUPLE || t->kind == EQL_E_LIST) {
    for (unsigned k = 0; k < t->nargs; k++) forget_target(a, t->args[k].value, set);
  } else if (t->kind == EQL_E_STARRED || t->kind == EQL_E_SUBSCRIPT) {
    forget_target(a, t->a, set);
  }
}

static void forget_bound(an *a, const eql_block *b, pset *set, int depth) {
  if (depth > 100) return;
  for (unsigned i = 0; i < b->n; i++) {
    const eql_stmt *s = b->items[i];
    for (unsigned t = 0; t < s->ntargets; t++) forget_target(a, s->targets[t], set);
    forget_bound(a, &s->body, set, depth + 1);
    forget_bound(a, &s->orelse, set, depth + 1);
    forget_bound(a, &s->finalbody, set, depth + 1);
    for (unsigned h = 0; h < s->nhandlers; h++) forget_bound(a, &s->handlers[h], set, depth + 1);
  }
}

static void exec_loop(an *a, const eql_stmt *s, pset *cur, int depth) {
  int is_for = s->kind == EQL_S_FOR;
  if (is_for) walk(a, s->value, cur, 0);
  int forever = !is_for && is_true_const(s->value);
  pset exits = {0};
  loopctx L = {{0}, {0}, a->loop};
  for (int pass = 0; pass < 2 && cur->n && !a->r->oom; pass++) {
    a->loop = &L;
    if (pass) a->again++;
    if (is_for) {
      /* the target is bound afresh on every iteration */
      for (unsigned t = 0; t < s->ntargets; t++) {
        const eql_expr *tg = s->targets[t];
        if (tg && tg->kind == EQL_E_NAME) {
          int i = name_idx(a, tg->name);
          if (i >= 0) {
            vdesc d = {V_FRESH, NULL, NULL, -1, keyish_name(tg->name)};
            const eql_expr *it = s->value;
            int sub;
            if (it && it->kind == EQL_E_CALL && is_split(eql_facts_canon(a->f, it->a))) d.keyish = 1;
            if (tracked_ref(a, it, &sub) >= 0) d.keyish = 1;
            bind_idx(a, cur, i, &d);
          }
        } else {
          bind_target(a, cur, tg, NULL, -1);
        }
      }
    } else {
      walk(a, s->value, cur, 0);
    }
    exec_block(a, &s->body, cur, depth + 1);
    pset_join(a, cur, &L.cont);
    if (pass) a->again--;
    a->loop = L.up;
    if (!forever) {
      pset c = pset_copy(a, cur);
      pset_join(a, &exits, &c);
      pset_free(&c);
    }
  }
  pset_clear(cur);
  pset_join(a, cur, &exits);
  pset_free(&exits);
  exec_block(a, &s->orelse, cur, depth + 1);
  pset_join(a, cur, &L.brk);
  pset_free(&L.brk);
  pset_free(&L.cont);
}

static void exec_stmt(an *a, const eql_stmt *s, pset *cur, int depth) {
  if (!cur->n || a->r->oom || depth > 100) return;
  switch (s->kind) {
    case EQL_S_EXPR:
      walk(a, s->value, cur, 0);
      return;
    case EQL_S_ASSIGN:
      if (!s->value) return;
      walk(a, s->value, cur, 0);
      for (unsigned t = 0; t < s->ntargets; t++) bind_target(a, cur, s->targets[t], s->value, -1);
      return;
    case EQL_S_AUGASSIGN:
      walk(a, s->value, cur, 0);
      if (s->ntargets) bind_target(a, cur, s->targets[0], NULL, -1);
      return;
    case EQL_S_RETURN:
    case EQL_S_RAISE:
      walk(a, s->value, cur, 0);
      for (unsigned i = 0; i < s->nexprs; i++)
        if (s->exprs[i] != s->value) walk(a, s->exprs[i], cur, 0); /* value is exprs[0] */
      pset_clear(cur);
      return;
    case EQL_S_BREAK:
    case EQL_S_CONTINUE:
      if (a->loop) pset_join(a, s->kind == EQL_S_BREAK ? &a->loop->brk : &a->loop->cont, cur);
      pset_clear(cur);
      return;
    case EQL_S_IF: {
      walk(a, s->value, cur, 0);
      pset other = pset_copy(a, cur);
      exec_block(a, &s->body, cur, depth + 1);
      exec_block(a, &s->orelse, &other, depth + 1);
      pset_join(a, cur, &other);
      pset_free(&other);
      return;
    }
    case EQL_S_FOR:
    case EQL_S_WHILE:
      exec_loop(a, s, cur, depth);
      return;
    case EQL_S_WITH:
      for (unsigned i = 0; i < s->nexprs; i++) walk(a, s->exprs[i], cur, 0);
      for (unsigned t = 0; t < s->ntargets; t++) bind_target(a, cur, s->targets[t], NULL, -1);
      exec_block(a, &s->body, cur, depth + 1);
      return;
    case EQL_S_TRY: {
      pset pre = {0};
      if (s->nhandlers) pre = pset_copy(a, cur);
      exec_block(a, &s->body, cur, depth + 1);
      exec_block(a, &s->orelse, cur, depth + 1);
      for (unsigned h = 0; h < s->nhandlers; h++) {
        /* an exception may come before anything in the body ran, or after it re-bound
         * names: start from the state before the try, forgetting what the body binds */
        pset hs = pset_copy(a, &pre);
        forget_bound(a, &s->body, &hs, 0);
        exec_block(a, &s->handlers[h], &hs, depth + 1);
        pset_join(a, cur, &hs);
        pset_free(&hs);
      }
      pset_free(&pre);
      exec_block(a, &s->finalbody, cur, depth + 1);
      return;
    }
    case EQL_S_DEF:
      if (s->func && s->func->name) {
        eql_expr nm;
        memset(&nm, 0, sizeof nm);
        nm.kind = EQL_E_NAME;
        nm.name = s->func->name;
        bind_target(a, cur, &nm, NULL, -1);
      }
      return;
    case EQL_S_CLASS:
    case EQL_S_IMPORT:
    case EQL_S_PASS:
      return;
    case EQL_S_DELETE:
      for (unsigned i = 0; i < s->nexprs; i++) forget_target(a, s->exprs[i], cur);
      return;
    default:
      /* match: the cases are exclusive arms (and none may match); assert, global ... */
      walk(a, s->value, cur, 0);
      for (unsigned i = 0; i < s->nexprs; i++)
        if (s->exprs[i] != s->value) walk(a, s->exprs[i], cur, 0);
      if (s->nhandlers) {
        pset out = {0};
        for (unsigned h = 0; h < s->nhandlers; h++) {
          pset arm = pset_copy(a, cur);
          exec_block(a, &s->handlers[h], &arm, depth + 1);
          pset_join(a, &out, &arm);
          pset_free(&arm);
        }
        pset_join(a, cur, &out);
        pset_free(&out);
      }
      return;
  }
}

static void exec_block(an *a, const eql_block *b, pset *cur, int depth) {
  for (unsigned i = 0; i < b->n && cur->n && !a->r->oom; i++) exec_stmt(a, b->items[i], cur, depth);
}

/* ------------------------------------------------------------------ tracked names */

static void collect_expr(an *a, const eql_expr *e, int depth) {
  if (!e || depth > 150 || e->kind == EQL_E_LAMBDA) return;
  if (e->kind == EQL_E_CALL) {
    callinfo ci = classify(a->r, e);
    if (ci.kind != C_NONE && ci.arg) {
      if (ci.arg->kind == EQL_E_NAME) add_name(a, ci.arg->name);
      else if (literal_index(ci.arg) >= 0 && ci.arg->a && ci.arg->a->kind == EQL_E_NAME)
        add_name(a, ci.arg->a->name);
    }
  }
  collect_expr(a, e->a, depth + 1);
  collect_expr(a, e->b, depth + 1);
  collect_expr(a, e->c, depth + 1);
  for (unsigned i = 0; i < e->nargs; i++) {
    collect_expr(a, e->args[i].key, depth + 1);
    collect_expr(a, e->args[i].value, depth + 1);
  }
}

static void collect_block(an *a, const eql_block *b, int depth);

static void collect_stmt(an *a, const eql_stmt *s, int depth) {
  if (depth > 100 || s->kind == EQL_S_DEF || s->kind == EQL_S_CLASS) return;
  collect_expr(a, s->value, 0);
  for (unsigned i = 0; i < s->nexprs; i++) collect_expr(a, s->exprs[i], 0);
  collect_block(a, &s->body, depth + 1);
  collect_block(a, &s->orelse, depth + 1);
  collect_block(a, &s->finalbody, depth + 1);
  for (unsigned h = 0; h < s->nhandlers; h++) collect_block(a, &s->handlers[h], depth + 1);
}

static void collect_block(an *a, const eql_block *b, int depth) {
  for (unsigned i = 0; i < b->n; i++) collect_stmt(a, b->items[i], depth);
}

/* Where tracked names come from: `k = key`, `k = keys[0]`, `k1, k2 = keys`,
 * `k1, k2 = split(key)` make `key`/`keys` tracked too. */
static int target_tracked(const an *a, const eql_expr *t) {
  if (!t) return 0;
  if (t->kind == EQL_E_NAME) return name_idx(a, t->name) >= 0;
  if (t->kind == EQL_E_TUPLE || t->kind == EQL_E_LIST)
    for (unsigned i = 0; i < t->nargs; i++)
      if (target_tracked(a, t->args[i].value)) return 1;
  return 0;
}

static void source_name(an *a, const eql_expr *v) {
  if (!v) return;
  if (v->kind == EQL_E_NAME) add_name(a, v->name);
  else if (v->kind == EQL_E_SUBSCRIPT && v->a && v->a->kind == EQL_E_NAME) add_name(a, v->a->name);
  else if (v->kind == EQL_E_CALL && v->a && is_split(eql_facts_canon(a->f, v->a)))
    source_name(a, eql_call_arg(v, 0, "key"));
  else if (v->kind == EQL_E_TUPLE || v->kind == EQL_E_LIST)
    for (unsigned i = 0; i < v->nargs; i++) source_name(a, v->args[i].value);
}

static void close_block(an *a, const eql_block *b, int depth) {
  if (depth > 100) return;
  for (unsigned i = 0; i < b->n; i++) {
    const eql_stmt *s = b->items[i];
    if (s->kind == EQL_S_DEF || s->kind == EQL_S_CLASS) continue;
    if (s->kind == EQL_S_ASSIGN && s->value)
      for (unsigned t = 0; t < s->ntargets; t++)
        if (target_tracked(a, s->targets[t])) source_name(a, s->value);
    close_block(a, &s->body, depth + 1);
    close_block(a, &s->orelse, depth + 1);
    close_block(a, &s->finalbody, depth + 1);
    for (unsigned h = 0; h < s->nhandlers; h++) close_block(a, &s->handlers[h], depth + 1);
  }
}

static void analyse(rule *r, const eql_func *fn, const eql_block *body) {
  an *a = calloc(1, sizeof *a);
  if (!a) {
    r->oom = 1;
    return;
  }
  a->r = r;
  a->f = r->ctx->facts;
  a->fn = fn;
  a->next_vid = 1;
  collect_block(a, body, 0);
  if (!a->nnames) {
    free(a);
    return;
  }
  for (int round = 0; round < 6; round++) {
    unsigned before = a->nnames;
    close_block(a, body, 0);
    if (a->nnames == before) break;
  }
  pset cur = {0};
  pstate *p = ps_new(a);
  if (p) {
    for (unsigned i = 0; i < a->nnames; i++) {
      p->vid[i] = a->next_vid++;
      p->keyish[i] = (unsigned char)keyish_name(a->names[i]);
      for (unsigned k = 0; fn && k < fn->nparams; k++)
        if (!strcmp(fn->params[k].name, a->names[i]) &&
            keyish_annotation(a->f, fn->params[k].annotation))
          p->keyish[i] = 1;
    }
    pset_add(a, &cur, p);
    exec_block(a, body, &cur, 0);
  }
  pset_free(&cur);
  free(a);
}

/* ------------------------------------------------------------------ keys kept in fields */

typedef struct store {
  const char *field;
  uint32_t start, end;
} store;

/* Is `v`, assigned in __init__ `init`, a PRNG key? */
static int key_value(rule *r, const eql_func *init, const eql_expr *v, int depth) {
  const eql_facts *f = r->ctx->facts;
  if (!v || depth > 4) return 0;
  if (v->kind == EQL_E_CALL && v->a) {
    const char *c = eql_facts_canon(f, v->a);
    return is_key_maker(c);
  }
  if (v->kind == EQL_E_SUBSCRIPT && v->a) {
    if (v->a->kind == EQL_E_CALL && is_split(eql_facts_canon(f, v->a->a))) return 1;
    return v->a->kind == EQL_E_NAME && key_value(r, init, v->a, depth + 1);
  }
  if (v->kind != EQL_E_NAME) return 0;
  const eql_binding *b = eql_facts_lookup(f, v->name, v->scope, v->start);
  if (!b) return 0;
  if (b->kind == EQL_B_PARAM && b->param)
    return keyish_name(b->param->name) || keyish_annotation(f, b->param->annotation);
  if (b->kind == EQL_B_ASSIGN && b->value) {
    if (b->value->kind == EQL_E_CALL && is_split(eql_facts_canon(f, b->value->a))) return 1;
    if (b->unpack >= 0) return 0;
    return key_value(r, init, b->value, depth + 1);
  }
  return 0;
}

static void find_stores(rule *r, const eql_func *init, const eql_block *b, store *out,
                        unsigned *n, unsigned max, int depth) {
  if (depth > 50) return;
  const char *self = init->params[0].name;
  for (unsigned i = 0; i < b->n; i++) {
    const eql_stmt *s = b->items[i];
    if (s->kind == EQL_S_ASSIGN && s->value && s->ntargets == 1) {
      const eql_expr *t = s->targets[0];
      if (t->kind == EQL_E_ATTR && t->a && t->a->kind == EQL_E_NAME && !strcmp(t->a->name, self) &&
          key_value(r, init, s->value, 0) && *n < max)
        out[(*n)++] = (store){t->name, s->start, s->end};
      /* `bkey, self.key = jax.random.split(key)` */
      if ((t->kind == EQL_E_TUPLE || t->kind == EQL_E_LIST) && s->value->kind == EQL_E_CALL &&
          is_split(eql_facts_canon(r->ctx->facts, s->value->a)))
        for (unsigned k = 0; k < t->nargs; k++) {
          const eql_expr *el = t->args[k].value;
          if (el && el->kind == EQL_E_ATTR && el->a && el->a->kind == EQL_E_NAME &&
              !strcmp(el->a->name, self) && *n < max)
            out[(*n)++] = (store){el->name, s->start, s->end};
        }
    }
    if (s->kind == EQL_S_DEF || s->kind == EQL_S_CLASS) continue;
    find_stores(r, init, &s->body, out, n, max, depth + 1);
    find_stores(r, init, &s->orelse, out, n, max, depth + 1);
    find_stores(r, init, &s->finalbody, out, n, max, depth + 1);
    for (unsigned h = 0; h < s->nhandlers; h++)
      find_stores(r, init, &s->handlers[h], out, n, max, depth + 1);
  }
}

typedef struct fieldscan {
  rule *r;
  const eql_func *call_fn;
  const store *stores;
  unsigned nstores;
} fieldscan;

/* The stored field a key argument reads in __call__: `self.key`, or a name bound at the top
 * of __call__ to `self.key` or to `jax.random.split(self.key)` (or an element of it). */
static const store *stored_read(const fieldscan *fs, const eql_expr *arg, int depth) {
  const eql_facts *f = fs->r->ctx->facts;
  const char *self = fs->call_fn->params[0].name;
  if (!arg || depth > 3) return NULL;
  if (arg->kind == EQL_E_ATTR && arg->a && arg->a->kind == EQL_E_NAME && !strcmp(arg->a->name, self)) {
    for (unsigned i = 0; i < fs->nstores; i++)
      if (!strcmp(fs->stores[i].field, arg->name)) return &fs->stores[i];
    return NULL;
  }
  if (arg->kind == EQL_E_SUBSCRIPT) return stored_read(fs, arg->a, depth + 1);
  if (arg->kind == EQL_E_CALL && arg->a && is_split(eql_facts_canon(f, arg->a)))
    return stored_read(fs, eql_call_arg(arg, 0, "key"), depth + 1);
  if (arg->kind != EQL_E_NAME) return NULL;
  const eql_binding *b = eql_facts_lookup(f, arg->name, arg->scope, arg->start);
  /* only unconditional bindings of __call__ itself: `if key is None: key = self.key` is a
   * fallback the caller can override */
  if (!b || b->kind != EQL_B_ASSIGN || b->scope != fs->call_fn || !b->stmt || b->stmt->parent)
    return NULL;
  return stored_read(fs, b->value, depth + 1);
}

static void scan_field_uses(fieldscan *fs, const eql_block *b, int depth);

static void scan_expr(fieldscan *fs, const eql_expr *e, int depth) {
  if (!e || depth > 150 || e->kind == EQL_E_LAMBDA) return;
  if (e->kind == EQL_E_CALL) {
    callinfo ci = classify(fs->r, e);
    const store *st = ci.kind != C_NONE ? stored_read(fs, ci.arg, 0) : NULL;
    if (st && !in_list(fs->r->reported, fs->r->nrep, ci.arg)) {
      eql_ctx *ctx = fs->r->ctx;
      const eql_facts *f = ctx->facts;
      eql_diag *d = eql_report(
          ctx, ci.arg->start, ci.arg->end,
          "take the key as an argument of `__call__` (`def __call__(self, x, *, key)`) and "
          "split it per use; keep fixed randomness in an array field instead of a key",
          "PRNG key `self.%s` is stored in `__init__` (line %u) and consumed by `%s` in "
          "`__call__`: every call of the Module gets the same random numbers",
          st->field, (unsigned)eql_source_line_of(f->src, st->start), who(f, e));
      if (d) eql_diag_set_related(d, f->src, st->start, st->end, "the key is stored here");
      push_list(fs->r, &fs->r->reported, &fs->r->nrep, &fs->r->caprep, ci.arg);
    }
  }
  scan_expr(fs, e->a, depth + 1);
  scan_expr(fs, e->b, depth + 1);
  scan_expr(fs, e->c, depth + 1);
  for (unsigned i = 0; i < e->nargs; i++) {
    scan_expr(fs, e->args[i].key, depth + 1);
    scan_expr(fs, e->args[i].value, depth + 1);
  }
}

static void scan_field_uses(fieldscan *fs, const eql_block *b, int depth) {
  if (depth > 100) return;
  for (unsigned i = 0; i < b->n; i++) {
    const eql_stmt *s = b->items[i];
    if (s->kind == EQL_S_DEF || s->kind == EQL_S_CLASS) continue;
    scan_expr(fs, s->value, 0);
    for (unsigned k = 0; k < s->nexprs; k++) scan_expr(fs, s->exprs[k], 0);
    scan_field_uses(fs, &s->body, depth + 1);
    scan_field_uses(fs, &s->orelse, depth + 1);
    scan_field_uses(fs, &s->finalbody, depth + 1);
    for (unsigned h = 0; h < s->nhandlers; h++) scan_field_uses(fs, &s->handlers[h], depth + 1);
  }
}

static void check_fields(rule *r) {
  const eql_facts *f = r->ctx->facts;
  for (unsigned c = 0; c < f->classes.n; c++) {
    const eql_class *cls = f->classes.items[c];
    eql_classref ref = {f, cls, NULL};
    if (eql_index_is_module(r->ctx->index, &ref) != EQL_YES) continue;
    const eql_func *init = NULL, *call = NULL;
    for (unsigned m = 0; m < cls->nmethods; m++) {
      if (!strcmp(cls->methods[m]->name, "__init__")) init = cls->methods[m];
      if (!strcmp(cls->methods[m]->name, "__call__")) call = cls->methods[m];
    }
    if (!init || !call || !init->nparams || !call->nparams) continue;
    store stores[16];
    unsigned n = 0;
    find_stores(r, init, &init->body, stores, &n, 16, 0);
    if (!n) continue;
    fieldscan fs = {r, call, stores, n};
    scan_field_uses(&fs, &call->body, 0);
  }
}

/* ------------------------------------------------------------------ entry */

/* A file that imports neither jax nor equinox holds no PRNG keys we could know of: a
 * parameter called `key` there is a dictionary key or a registry path (seen in the
 * standard library), never a JAX key. */
static bool imports_jax(const eql_facts *f) {
  for (unsigned i = 0; i < f->imports.n; i++) {
    const eql_import *im = f->imports.items[i];
    if (!strncmp(im->target, "jax", 3) || !strncmp(im->target, "equinox", 7)) return true;
  }
  return false;
}

void eql_check_EQX013(eql_ctx *ctx) {
  const eql_facts *f = ctx->facts;
  if (!imports_jax(f) && f->imports.n > 0) return;
  rule r;
  memset(&r, 0, sizeof r);
  r.ctx = ctx;
  r.ev.idx = ctx->index;
  r.ev.f = f;
  size_t n = 16;
  while (n < (size_t)f->calls.n * 2) n *= 2;
  r.cache = calloc(n, sizeof *r.cache);
  r.ncache = r.cache ? n : 0;
  analyse(&r, NULL, &f->body);
  for (unsigned i = 0; i < f->funcs.n && !r.oom; i++) {
    const eql_func *fn = f->funcs.items[i];
    if (!fn->is_lambda) analyse(&r, fn, &fn->body);
  }
  if (!r.oom) check_fields(&r);
  free(r.cache);
  free((void *)r.reported);
  free((void *)r.firsts);
}
