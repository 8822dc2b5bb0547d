/* ## What it does
 * Checks for a layer or Module that acts on a single example (`eqx.nn.Linear`, `eqx.nn.MLP`,
 * `eqx.nn.Conv*`, `eqx.nn.LayerNorm`, `eqx.nn.Embedding`, ..., and user Modules whose
 * `__call__` hands its input straight to one of them) called on a value whose rank is known
 * to be larger than one example's: the literal shape of `jnp.zeros/ones/empty/full`,
 * `jax.random.*(key, shape)`, `.reshape(...)`, `jnp.linspace(...)[:, None]`, jaxtyping
 * annotations (`Float[Array, "batch 2"]`), followed through names, slices, arithmetic and the
 * arguments of local functions at their call sites. A `jax.vmap` / `eqx.filter_vmap` around
 * the layer (or around the function that calls it) counts once per level, so one vmap where
 * two are needed is reported too.
 *
 * ## Why is this bad
 * Equinox layers have no batch dimension: each acts on a single example, and batches are
 * handled by `jax.vmap` (as every Equinox example does). Given a batch, `eqx.nn.Conv2d` raises
 * `ValueError: Input to Conv needs to have rank 3`, `eqx.nn.LayerNorm` fails its shape
 * check, and `eqx.nn.Linear`/`eqx.nn.MLP` compute `weight @ x` on the wrong axis: an error
 * when the sizes differ, silently wrong numbers when they happen to match.
 *
 * ## Example
 * ```python
 * model = eqx.nn.MLP(2, 1, 32, 2, key=key)
 * x = jax.random.normal(key, (64, 2))
 * y = model(x)
 * ```
 *
 * ## Use instead
 * ```python
 * y = jax.vmap(model)(x)
 * ```
 * and one `jax.vmap` per extra leading dimension (`jax.vmap(jax.vmap(model))(x)` for
 * `(batch, time, features)`).
 *
 * ## Fix safety
 * No automatic fix: whether the extra dimension is a batch (vmap) or a mistake in the data
 * pipeline (reshape) is the author's call.
 *
 * ## Known limits
 * Reports only when both sides are known from the code: the layer from its constructor (or,
 * for fixed-rank layers such as `Conv2d` and `Embedding`, an annotation), a user Module only
 * when its `__call__` passes its input unchanged to such a layer in a top-level statement
 * and neither inspects the input's shape there nor vmaps anywhere; the argument's rank from
 * literal shapes. Values from unknown functions, `jnp.stack`/`concatenate`, integer-array
 * indexing and attributes are unknown. Values returned by local functions are followed
 * through their `return` statements (all must agree), undecorated or jitted ones only.
 * Inside a function that is vmapped, or
 * whose callers are not all visible (methods, functions passed to other functions), only
 * values coming in through the function's own parameters are judged.
 */
#include <stdlib.h>
#include <string.h>

#include "eqlint/ctx.h"
#include "eqlint/value.h"

#define MAX_DEPTH 10
#define MAX_STEPS 20000
#define MAX_POS 8

typedef struct rank {
  int r;                 /* -1 = unknown */
  const eql_expr *why;   /* the expression the shape comes from */
} rank;

static const rank UNKNOWN = {-1, NULL};

typedef struct expected {
  int r;                 /* rank of one example, -1 = unknown */
  const char *what;      /* "an `eqx.nn.MLP`" ... */
} expected;

/* A call site of a local function: positional argument i is batched by delta[i] vmaps. */
typedef struct site {
  const eql_expr *call;
  int delta[MAX_POS];
  int delta_kw;
} site;

typedef struct sites {
  site *items;
  size_t n, cap;
  int ok;                /* every reference to the function was understood */
} sites;

typedef struct pmap_entry {
  const eql_expr *key, *parent;
} pmap_entry;

typedef struct nref {
  const eql_expr *name;
  const eql_binding *b;
} nref;

typedef struct cls_cache {
  const eql_class *cls;
  expected e;
  int state;             /* 1 computing, 2 done */
} cls_cache;

typedef struct state {
  eql_ctx *ctx;
  const eql_facts *f;
  eql_eval ev;
  int steps;
  pmap_entry *pmap;
  size_t pcap;
  nref *refs;
  size_t nrefs, rcap;
  const eql_expr **targets;  /* binding target expressions, sorted */
  size_t ntargets;
  cls_cache *classes;
  size_t nclasses, ccap;
} state;


/* Source text of an expression of any file, on one line, into the rule's scratch arena. */
static const char *snip(const state *st, const eql_facts *f, const eql_expr *e, size_t max) {
  if (f == st->f) return eql_expr_snippet(f, e, max);
  size_t n = e->end - e->start;
  char *out = eql_arena_strndup(st->ctx->scratch, f->src->text + e->start, n < max ? n : max);
  if (!out) return "";
  for (char *c = out; *c; c++)
    if (*c == '\n' || *c == '\r' || *c == '\t') *c = ' ';
  return out;
}

/* The Module value a constructor call or class annotation of another file makes, found by
 * reading that file only (eql_eval would allocate in its arena). */
static eql_value ro_module(const state *st, const eql_facts *f, const eql_expr *e) {
  eql_value v;
  memset(&v, 0, sizeof v);
  const eql_expr *head = e && e->kind == EQL_E_CALL ? e->a : e;
  if (!head) return v;
  eql_classref c = {NULL, NULL, NULL};
  if (head->kind == EQL_E_NAME) {
    const eql_binding *b = eql_facts_lookup(f, head->name, head->scope, head->start);
    if (b && b->kind == EQL_B_CLASS && b->cls) {
      c.facts = f;
      c.cls = b->cls;
    }
  }
  if (!c.cls) {
    const char *canon = eql_facts_canon_ro(f, head);
    if (!canon || !eql_index_resolve(st->ctx->index, f, canon, &c)) return v;
  }
  if (eql_index_is_module(st->ctx->index, &c) != EQL_YES) return v;
  v.kind = EQL_V_MODULE;
  v.cls = c;
  v.origin = e;
  return v;
}

/* ------------------------------------------------------------------ parent map, refs */

static size_t ptr_hash(const void *p) {
  uintptr_t x = (uintptr_t)p;
  x ^= x >> 17;
  x *= 0x9E3779B97F4A7C15ull;
  return (size_t)(x ^ (x >> 29));
}

static void pmap_put(state *st, const eql_expr *child, const eql_expr *parent) {
  if (!child || !st->pmap) return;
  size_t h = ptr_hash(child) & (st->pcap - 1);
  while (st->pmap[h].key && st->pmap[h].key != child) h = (h + 1) & (st->pcap - 1);
  st->pmap[h].key = child;
  st->pmap[h].parent = parent;
}

static const eql_expr *parent_of(const state *st, const eql_expr *e) {
  if (!st->pmap || !e) return NULL;
  size_t h = ptr_hash(e) & (st->pcap - 1);
  while (st->pmap[h].key) {
    if (st->pmap[h].key == e) return st->pmap[h].parent;
    h = (h + 1) & (st->pcap - 1);
  }
  return NULL;
}

static void count_expr(const eql_expr *e, void *ud) {
  (void)e;
  (*(size_t *)ud)++;
}

static void fill_parents(const eql_expr *e, void *ud) {
  state *st = ud;
  pmap_put(st, e->a, e);
  pmap_put(st, e->b, e);
  pmap_put(st, e->c, e);
  for (unsigned i = 0; i < e->nargs; i++) {
    pmap_put(st, e->args[i].key, e);
    pmap_put(st, e->args[i].value, e);
  }
  for (unsigned i = 0; i < e->nparams; i++) {
    pmap_put(st, e->params[i].annotation, e);
    pmap_put(st, e->params[i].dflt, e);
  }
}

static int cmp_ptr(const void *a, const void *b) {
  uintptr_t x = (uintptr_t)*(const eql_expr *const *)a, y = (uintptr_t)*(const eql_expr *const *)b;
  return x < y ? -1 : x > y;
}

static int is_target(const state *st, const eql_expr *e) {
  size_t lo = 0, hi = st->ntargets;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if ((uintptr_t)st->targets[mid] < (uintptr_t)e) lo = mid + 1;
    else hi = mid;
  }
  return lo < st->ntargets && st->targets[lo] == e;
}

static void collect_ref(const eql_expr *e, void *ud) {
  state *st = ud;
  if (e->kind != EQL_E_NAME || !e->name || is_target(st, e)) return;
  const eql_binding *b = eql_facts_lookup(st->f, e->name, e->scope, e->start);
  if (!b) return;
  if (st->nrefs == st->rcap) {
    size_t cap = st->rcap ? st->rcap * 2 : 256;
    nref *r = realloc(st->refs, cap * sizeof *r);
    if (!r) return;
    st->refs = r;
    st->rcap = cap;
  }
  st->refs[st->nrefs++] = (nref){e, b};
}

static int build_maps(state *st) {
  size_t n = 0;
  eql_facts_visit_exprs(st->f, count_expr, &n);
  size_t cap = 64;
  while (cap < n * 2 + 2) cap *= 2;
  st->pmap = calloc(cap, sizeof *st->pmap);
  if (!st->pmap) return -1;
  st->pcap = cap;
  eql_facts_visit_exprs(st->f, fill_parents, st);
  st->targets = malloc((st->f->bindings.n + 1) * sizeof *st->targets);
  if (!st->targets) return -1;
  for (unsigned i = 0; i < st->f->bindings.n; i++) {
    const eql_binding *b = st->f->bindings.items[i];
    if (b->target) st->targets[st->ntargets++] = b->target;
  }
  qsort(st->targets, st->ntargets, sizeof *st->targets, cmp_ptr);
  eql_facts_visit_exprs(st->f, collect_ref, st);
  return 0;
}

/* ------------------------------------------------------------------ helpers */

static const char *canon_of(const state *st, const eql_expr *e) { return eql_facts_canon(st->f, e); }

static int is_vmap_canon(const char *c) {
  return c && (!strcmp(c, "jax.vmap") || !strcmp(c, "equinox.filter_vmap"));
}

/* Transforms that pass arguments through with their ranks unchanged. */
static int is_passthrough_canon(const char *c) {
  static const char *const names[] = {
    "jax.jit", "jax.grad", "jax.value_and_grad", "jax.checkpoint", "jax.remat",
    "equinox.filter_jit", "equinox.filter_grad", "equinox.filter_value_and_grad",
    "equinox.filter_checkpoint", NULL,
  };
  if (!c) return 0;
  for (int i = 0; names[i]; i++)
    if (!strcmp(c, names[i])) return 1;
  return 0;
}

static int int_value(const eql_expr *e, int *out) {
  if (!e) return 0;
  if (e->kind == EQL_E_INT) {
    *out = atoi(e->name);
    return 1;
  }
  if (e->kind == EQL_E_UNARY && e->name && !strcmp(e->name, "-") && e->a && e->a->kind == EQL_E_INT) {
    *out = -atoi(e->a->name);
    return 1;
  }
  return 0;
}

static int is_number(const eql_expr *e) {
  int v;
  return e && (e->kind == EQL_E_FLOAT || int_value(e, &v) ||
               (e->kind == EQL_E_UNARY && e->a && e->a->kind == EQL_E_FLOAT));
}

/* vmap in_axes of a vmap call `vm` (jax.vmap(f, in_axes=...) / filter_vmap): fills delta
 * per position; 0 when not understood. */
static int vmap_axes(const state *st, const eql_expr *vm, int *delta, int *delta_kw) {
  (void)st;
  const eql_expr *axes = eql_call_arg(vm, 1, "in_axes");
  for (int i = 0; i < MAX_POS; i++) delta[i] = 1;
  *delta_kw = 1;
  if (!axes) return 1;
  int v;
  if (int_value(axes, &v)) return v == 0;
  if (axes->kind == EQL_E_NONE) {
    for (int i = 0; i < MAX_POS; i++) delta[i] = 0;
    return 1;
  }
  if (axes->kind != EQL_E_TUPLE && axes->kind != EQL_E_LIST) return 0;
  if (axes->nargs > MAX_POS) return 0;
  for (unsigned i = 0; i < axes->nargs; i++) {
    const eql_expr *a = axes->args[i].value;
    if (axes->args[i].star || !a) return 0;
    if (a->kind == EQL_E_NONE) delta[i] = 0;
    else if (int_value(a, &v) && v == 0) delta[i] = 1;
    else return 0;
  }
  for (unsigned i = axes->nargs; i < MAX_POS; i++) delta[i] = -1000; /* absent: invalid */
  return 1;
}

/* ------------------------------------------------------------------ call sites */

static int sites_push(sites *s, const eql_expr *call, const int *delta, int delta_kw) {
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 8;
    site *it = realloc(s->items, cap * sizeof *it);
    if (!it) return -1;
    s->items = it;
    s->cap = cap;
  }
  site *x = &s->items[s->n++];
  x->call = call;
  memcpy(x->delta, delta, sizeof x->delta);
  x->delta_kw = delta_kw;
  return 0;
}

static const eql_binding *binding_of_target(const state *st, const eql_expr *t) {
  for (unsigned i = 0; i < st->f->bindings.n; i++) {
    const eql_binding *b = st->f->bindings.items[i];
    if (b->target == t) return b;
  }
  return NULL;
}

static void contexts(state *st, const eql_expr *x, const int *delta, int delta_kw, sites *out, int depth);

static void binding_contexts(state *st, const eql_binding *b, const int *delta, int delta_kw,
                             sites *out, int depth) {
  for (size_t i = 0; i < st->nrefs && out->ok; i++)
    if (st->refs[i].b == b) contexts(st, st->refs[i].name, delta, delta_kw, out, depth + 1);
}

/* Where the function value `x` ends up: called (a site), wrapped by a transform, or bound to
 * a name. Anything else makes the sites incomplete. */
static void contexts(state *st, const eql_expr *x, const int *delta, int delta_kw, sites *out, int depth) {
  if (!out->ok) return;
  if (depth > MAX_DEPTH || ++st->steps > MAX_STEPS) {
    out->ok = 0;
    return;
  }
  const eql_expr *p = parent_of(st, x);
  if (p && p->kind == EQL_E_CALL && p->a == x) {
    if (sites_push(out, p, delta, delta_kw) < 0) out->ok = 0;
    return;
  }
  if (p && p->kind == EQL_E_CALL) {
    const char *c = canon_of(st, p->a);
    const eql_expr *fn = eql_call_arg(p, 0, "fun");
    if (!fn) fn = eql_call_arg(p, 0, "f");
    if (fn == x && is_passthrough_canon(c)) {
      contexts(st, p, delta, delta_kw, out, depth + 1);
      return;
    }
    if (fn == x && is_vmap_canon(c)) {
      int d[MAX_POS], dk;
      if (!vmap_axes(st, p, d, &dk)) {
        out->ok = 0;
        return;
      }
      for (int i = 0; i < MAX_POS; i++) d[i] += delta[i];
      contexts(st, p, d, dk + delta_kw, out, depth + 1);
      return;
    }
    out->ok = 0;
    return;
  }
  if (!p && x->stmt && x->stmt->kind == EQL_S_ASSIGN && x->stmt->value == x &&
      x->stmt->ntargets == 1 && x->stmt->targets[0]->kind == EQL_E_NAME) {
    const eql_binding *b = binding_of_target(st, x->stmt->targets[0]);
    if (!b) {
      out->ok = 0;
      return;
    }
    binding_contexts(st, b, delta, delta_kw, out, depth);
    return;
  }
  out->ok = 0;
}

/* The lambda expression of a lambda function. */
static const eql_expr *lambda_expr(const state *st, const eql_func *fn) {
  for (unsigned i = 0; i < st->f->calls.n; i++) {
    const eql_expr *c = st->f->calls.items[i];
    for (unsigned k = 0; k < c->nargs; k++)
      if (c->args[k].value && c->args[k].value->kind == EQL_E_LAMBDA && c->args[k].value->start == fn->start)
        return c->args[k].value;
  }
  if (fn->stmt && fn->stmt->kind == EQL_S_ASSIGN && fn->stmt->value &&
      fn->stmt->value->kind == EQL_E_LAMBDA && fn->stmt->value->start == fn->start)
    return fn->stmt->value;
  return NULL;
}

/* Every call site of a function of this file, with the vmaps on the way; out->ok = 0 when
 * some use of the function is not understood. Caller frees out->items. */
static void function_sites(state *st, const eql_func *fn, sites *out) {
  memset(out, 0, sizeof *out);
  out->ok = 1;
  int delta[MAX_POS] = {0};
  int delta_kw = 0;
  if (fn->cls) {
    out->ok = 0;
    return;
  }
  if (fn->is_lambda) {
    const eql_expr *x = lambda_expr(st, fn);
    if (!x) {
      out->ok = 0;
      return;
    }
    contexts(st, x, delta, delta_kw, out, 0);
    return;
  }
  for (unsigned i = 0; i < fn->ndecorators; i++) {
    const eql_expr *d = fn->decorators[i];
    const char *c = canon_of(st, d);
    if (is_passthrough_canon(c)) continue;
    if (is_vmap_canon(c)) {
      for (int k = 0; k < MAX_POS; k++) delta[k] += 1;
      delta_kw += 1;
      continue;
    }
    if (d->kind == EQL_E_CALL) {
      const char *dc = canon_of(st, d->a);
      const eql_expr *inner = eql_call_arg(d, 0, NULL);
      const char *ic = canon_of(st, inner);
      if (dc && !strcmp(dc, "functools.partial") && (is_passthrough_canon(ic) || is_vmap_canon(ic))) {
        if (is_vmap_canon(ic)) {
          int dd[MAX_POS], dk;
          if (!vmap_axes(st, d, dd, &dk)) {
            out->ok = 0;
            return;
          }
          for (int k = 0; k < MAX_POS; k++) delta[k] += dd[k];
          delta_kw += dk;
        }
        continue;
      }
      if (dc && !strcmp(dc, "equinox.filter_jit") && !inner) continue;
    }
    out->ok = 0;
    return;
  }
  const eql_binding *b = NULL;
  for (unsigned i = 0; i < st->f->bindings.n && !b; i++) {
    const eql_binding *x = st->f->bindings.items[i];
    if (x->kind == EQL_B_DEF && x->func == fn) b = x;
  }
  if (!b) {
    out->ok = 0;
    return;
  }
  binding_contexts(st, b, delta, delta_kw, out, 0);
}

/* The argument a site passes for parameter `i` (name pname), or NULL; *delta receives its
 * vmap count. */
static const eql_expr *site_arg(const site *s, unsigned i, const char *pname, int *delta) {
  int pos = 0;
  for (unsigned k = 0; k < s->call->nargs; k++) {
    const eql_arg *a = &s->call->args[k];
    if (a->star) return NULL;
    if (a->kw) {
      if (pname && !strcmp(a->kw, pname)) {
        *delta = s->delta_kw;
        return a->value;
      }
      continue;
    }
    if ((unsigned)pos == i) {
      if (i >= MAX_POS || s->delta[i] < 0) return NULL;
      *delta = s->delta[i];
      return a->value;
    }
    pos++;
  }
  return NULL;
}

/* ------------------------------------------------------------------ returns of local functions */

#define MAX_RETURNS 8

static void collect_returns(const eql_block *b, const eql_expr **out, int *n, int *bad, int depth) {
  for (unsigned i = 0; i < b->n && !*bad && depth < 20; i++) {
    const eql_stmt *s = b->items[i];
    if (s->kind == EQL_S_DEF || s->kind == EQL_S_CLASS) continue;
    if (s->kind == EQL_S_RETURN) {
      if (!s->value || *n >= MAX_RETURNS) *bad = 1;
      else out[(*n)++] = s->value;
    }
    collect_returns(&s->body, out, n, bad, depth + 1);
    collect_returns(&s->orelse, out, n, bad, depth + 1);
    collect_returns(&s->finalbody, out, n, bad, depth + 1);
    for (unsigned h = 0; h < s->nhandlers; h++) collect_returns(&s->handlers[h], out, n, bad, depth + 1);
  }
}

/* What a call of a local function returns at tuple position `idx` of `nunpack` (idx -1:
 * the whole value), one expression per `return`; 0 when not known. Only plain functions of
 * this file, undecorated or jitted (a vmap decorator would change the ranks). */
static int returned_exprs(state *st, const eql_expr *call, int idx, int nunpack, const eql_expr **out) {
  if (!call || call->kind != EQL_E_CALL || !call->a || call->a->kind != EQL_E_NAME) return 0;
  const eql_binding *b = eql_facts_lookup(st->f, call->a->name, call->a->scope, call->a->start);
  if (!b || b->kind != EQL_B_DEF || !b->func) return 0;
  const eql_func *fn = b->func;
  if (fn->cls || fn->is_lambda || fn->is_async) return 0;
  for (unsigned i = 0; i < fn->ndecorators; i++) {
    const eql_expr *d = fn->decorators[i];
    if (!is_passthrough_canon(canon_of(st, d)) || strstr(canon_of(st, d), "grad")) return 0;
  }
  const eql_expr *rets[MAX_RETURNS];
  int n = 0, bad = 0;
  collect_returns(&fn->body, rets, &n, &bad, 0);
  if (bad || !n) return 0;
  for (int i = 0; i < n; i++) {
    const eql_expr *r = rets[i];
    if (idx < 0) {
      out[i] = r;
      continue;
    }
    if ((r->kind != EQL_E_TUPLE && r->kind != EQL_E_LIST) || r->nargs != (unsigned)nunpack ||
        r->args[idx].star)
      return 0;
    out[i] = r->args[idx].value;
  }
  return n;
}

/* ------------------------------------------------------------------ ranks */

static rank rank_of(state *st, const eql_expr *e, int depth);

static int jaxtyping_rank(state *st, const eql_facts *f, const eql_expr *an) {
  if (!an || an->kind != EQL_E_SUBSCRIPT || !an->a || an->nargs != 2) return -1;
  const char *head = eql_facts_canon_ro(f, an->a);
  if (!head || strncmp(head, "jaxtyping.", 10)) return -1;
  const eql_expr *dims = an->args[1].value;
  (void)st;
  if (!dims || dims->kind != EQL_E_STR || !dims->name) return -1;
  const char *s = dims->name;
  int n = 0;
  while (*s) {
    while (*s == ' ') s++;
    if (!*s) break;
    if (*s == '*' || *s == '.' || (*s == '#' && s[1] == '*')) return -1; /* variadic */
    n++;
    while (*s && *s != ' ') s++;
  }
  return n;
}

/* Length of a shape expression: `(B, D)`, `n`, `x.shape`, a name bound to a tuple. */
static int shape_len(state *st, const eql_expr *e, int depth) {
  if (!e || depth > MAX_DEPTH) return -1;
  if (e->kind == EQL_E_TUPLE || e->kind == EQL_E_LIST) {
    for (unsigned i = 0; i < e->nargs; i++)
      if (e->args[i].star) return -1;
    return (int)e->nargs;
  }
  int v;
  if (int_value(e, &v)) return 1;
  if (e->kind == EQL_E_ATTR && e->name && !strcmp(e->name, "shape")) return rank_of(st, e->a, depth + 1).r;
  if (e->kind == EQL_E_NAME) {
    const eql_binding *b = eql_facts_lookup(st->f, e->name, e->scope, e->start);
    if (b && b->kind == EQL_B_ASSIGN && b->unpack < 0 && b->value) {
      const eql_expr *val = b->value;
      if (val->kind == EQL_E_TUPLE || val->kind == EQL_E_LIST) return shape_len(st, val, depth + 1);
      if (int_value(val, &v)) return 1;
    }
  }
  return -1;
}

static rank make(int r, const eql_expr *why) {
  rank k = {r, why};
  return r < 0 ? UNKNOWN : k;
}

/* Nesting depth of a list literal of numbers: [[1., 2.], [3., 4.]] -> 2. */
static int literal_depth(const eql_expr *e, int depth) {
  if (!e || depth > 8) return -1;
  if (is_number(e)) return 0;
  if ((e->kind != EQL_E_LIST && e->kind != EQL_E_TUPLE) || !e->nargs) return -1;
  int d = literal_depth(e->args[0].value, depth + 1);
  if (d < 0) return -1;
  for (unsigned i = 1; i < e->nargs; i++)
    if (literal_depth(e->args[i].value, depth + 1) != d) return -1;
  return d + 1;
}

static const char *last_part(const char *canon) {
  const char *dot = strrchr(canon, '.');
  return dot ? dot + 1 : canon;
}

static int in_list(const char *name, const char *const *list) {
  for (int i = 0; list[i]; i++)
    if (!strcmp(name, list[i])) return 1;
  return 0;
}

static rank rank_of_call(state *st, const eql_expr *e, int depth) {
  const char *c = canon_of(st, e->a);
  if (c && (!strncmp(c, "jax.numpy.", 10) || !strncmp(c, "numpy.", 6))) {
    const char *fn = last_part(c);
    static const char *const ctor[] = {"zeros", "ones", "empty", "full", NULL};
    static const char *const like[] = {"zeros_like", "ones_like", "empty_like", "full_like", NULL};
    static const char *const elementwise[] = {
      "tanh", "exp", "log", "sin", "cos", "abs", "sqrt", "square", "sign", "negative", "log1p",
      "expm1", "clip", "round", "floor", "ceil", "transpose", "asarray", "float32", "real",
      "imag", "conj", "exp2", "log2", "arctan", "arcsin", "arccos", "sinh", "cosh", "reciprocal",
      NULL,
    };
    if (in_list(fn, ctor)) return make(shape_len(st, eql_call_arg(e, 0, "shape"), depth + 1), e);
    if (in_list(fn, like)) {
      if (eql_call_arg(e, -1, "shape")) return make(shape_len(st, eql_call_arg(e, -1, "shape"), depth + 1), e);
      return rank_of(st, eql_call_arg(e, 0, "a"), depth + 1);
    }
    if (!strcmp(fn, "arange")) return make(1, e);
    if (!strcmp(fn, "linspace")) {
      const eql_expr *a = eql_call_arg(e, 0, "start"), *b = eql_call_arg(e, 1, "stop");
      return is_number(a) && is_number(b) ? make(1, e) : UNKNOWN;
    }
    if (!strcmp(fn, "eye") || !strcmp(fn, "identity")) return make(2, e);
    if (!strcmp(fn, "ravel")) return make(1, e);
    if (!strcmp(fn, "reshape")) {
      const eql_expr *sh = eql_call_arg(e, 1, "shape");
      if (!sh) sh = eql_call_arg(e, 1, "newshape");
      return make(shape_len(st, sh, depth + 1), e);
    }
    if (!strcmp(fn, "array") || !strcmp(fn, "asarray")) {
      const eql_expr *a = eql_call_arg(e, 0, "object");
      if (!a) a = eql_call_arg(e, 0, "a");
      int d = literal_depth(a, 0);
      if (d > 0) return make(d, e);
      if (a && (a->kind == EQL_E_LIST || a->kind == EQL_E_TUPLE)) return UNKNOWN;
      return rank_of(st, a, depth + 1);
    }
    if (!strcmp(fn, "expand_dims")) {
      rank r = rank_of(st, eql_call_arg(e, 0, "a"), depth + 1);
      const eql_expr *ax = eql_call_arg(e, 1, "axis");
      int v;
      return r.r >= 0 && int_value(ax, &v) ? make(r.r + 1, r.why) : UNKNOWN;
    }
    if (in_list(fn, elementwise) && e->nargs >= 1 && !eql_call_arg(e, 1, NULL) &&
        !eql_call_arg(e, -1, "axes") && !eql_call_arg(e, -1, "axis"))
      return rank_of(st, eql_call_arg(e, 0, NULL), depth + 1);
    return UNKNOWN;
  }
  if (c && !strncmp(c, "jax.random.", 11)) {
    const char *fn = last_part(c);
    static const char *const at1[] = {"normal", "uniform", "randint", "laplace", "gumbel", "cauchy",
                                      "logistic", "exponential", "rademacher", NULL};
    const eql_expr *sh = eql_call_arg(e, -1, "shape");
    if (!sh && in_list(fn, at1)) sh = eql_call_arg(e, 1, NULL);
    if (!sh && !strcmp(fn, "bernoulli")) sh = eql_call_arg(e, 2, NULL);
    if (!sh && !strcmp(fn, "truncated_normal")) sh = eql_call_arg(e, 3, NULL);
    if (!sh) return UNKNOWN;
    return make(shape_len(st, sh, depth + 1), e);
  }
  if (c && !strncmp(c, "jax.nn.", 7)) {
    const char *fn = last_part(c);
    static const char *const same[] = {"relu", "gelu", "silu", "swish", "sigmoid", "softplus",
                                       "elu", "leaky_relu", "softmax", "log_softmax", "tanh",
                                       "relu6", "hard_tanh", "selu", "celu", "glu", "standardize",
                                       "log_sigmoid", "soft_sign", "mish", NULL};
    if (!strcmp(fn, "one_hot")) {
      rank r = rank_of(st, eql_call_arg(e, 0, "x"), depth + 1);
      return r.r >= 0 ? make(r.r + 1, r.why) : UNKNOWN;
    }
    if (in_list(fn, same)) return rank_of(st, eql_call_arg(e, 0, "x"), depth + 1);
    return UNKNOWN;
  }
  if (e->a && e->a->kind == EQL_E_ATTR && e->a->name && !c) {
    const char *m = e->a->name;
    if (!strcmp(m, "reshape")) {
      unsigned npos = 0;
      for (unsigned i = 0; i < e->nargs; i++) {
        if (e->args[i].star) return UNKNOWN;
        if (!e->args[i].kw) npos++;
      }
      if (npos == 1) {
        const eql_expr *a0 = eql_call_arg(e, 0, NULL);
        int v;
        if (int_value(a0, &v)) return make(1, e);
        return make(shape_len(st, a0, depth + 1), e);
      }
      return npos ? make((int)npos, e) : UNKNOWN;
    }
    if (!strcmp(m, "flatten") || !strcmp(m, "ravel")) return make(1, e);
    if (!strcmp(m, "astype") || !strcmp(m, "clip") || !strcmp(m, "copy") ||
        !strcmp(m, "block_until_ready"))
      return rank_of(st, e->a->a, depth + 1);
  }
  return UNKNOWN;
}

static rank param_rank(state *st, const eql_binding *b, int depth);

/* The rank every `return` of a local function agrees on (at a tuple position). */
static rank rank_of_returns(state *st, const eql_expr *call, int idx, int nunpack, int depth) {
  const eql_expr *rets[MAX_RETURNS];
  int n = returned_exprs(st, call, idx, nunpack, rets);
  rank out = UNKNOWN;
  for (int i = 0; i < n; i++) {
    rank r = rank_of(st, rets[i], depth + 1);
    if (r.r < 0 || (i && r.r != out.r)) return UNKNOWN;
    out = r;
  }
  return out;
}

static rank rank_of(state *st, const eql_expr *e, int depth) {
  if (!e || depth > MAX_DEPTH || ++st->steps > MAX_STEPS) return UNKNOWN;
  switch (e->kind) {
    case EQL_E_NAME: {
      const eql_binding *b = eql_facts_lookup(st->f, e->name, e->scope, e->start);
      if (!b) return UNKNOWN;
      switch (b->kind) {
        case EQL_B_ASSIGN:
          if (!b->value) return UNKNOWN;
          if (b->unpack < 0) return rank_of(st, b->value, depth + 1);
          if ((b->value->kind == EQL_E_TUPLE || b->value->kind == EQL_E_LIST) &&
              b->value->nargs == (unsigned)b->nunpack && !b->value->args[b->unpack].star)
            return rank_of(st, b->value->args[b->unpack].value, depth + 1);
          return rank_of_returns(st, b->value, b->unpack, b->nunpack, depth);
        case EQL_B_FOR: {
          if (b->unpack >= 0 || !b->value) return UNKNOWN;
          rank r = rank_of(st, b->value, depth + 1);
          return r.r >= 1 ? make(r.r - 1, r.why) : UNKNOWN;
        }
        case EQL_B_PARAM:
          return param_rank(st, b, depth + 1);
        default:
          return UNKNOWN;
      }
    }
    case EQL_E_CALL: {
      rank r = rank_of_call(st, e, depth);
      return r.r >= 0 ? r : rank_of_returns(st, e, -1, 0, depth);
    }
    case EQL_E_INT:
    case EQL_E_FLOAT:
      return make(0, e);
    case EQL_E_SUBSCRIPT: {
      rank r = rank_of(st, e->a, depth + 1);
      if (r.r < 0) return UNKNOWN;
      int n = r.r;
      for (unsigned i = 0; i < e->nargs; i++) {
        const eql_expr *ix = e->args[i].value;
        int v;
        if (!ix) return UNKNOWN;
        if (int_value(ix, &v)) n--;
        else if (ix->kind == EQL_E_NONE) n++;
        else if (ix->kind == EQL_E_OTHER && ix->name && !strcmp(ix->name, "slice")) continue;
        else return UNKNOWN;
      }
      return n >= 0 ? make(n, r.why) : UNKNOWN;
    }
    case EQL_E_BINOP: {
      if (!e->name || !strcmp(e->name, "@")) return UNKNOWN;
      if (strcmp(e->name, "+") && strcmp(e->name, "-") && strcmp(e->name, "*") &&
          strcmp(e->name, "/") && strcmp(e->name, "//") && strcmp(e->name, "**") &&
          strcmp(e->name, "%"))
        return UNKNOWN;
      if (is_number(e->a)) return rank_of(st, e->b, depth + 1);
      if (is_number(e->b)) return rank_of(st, e->a, depth + 1);
      rank a = rank_of(st, e->a, depth + 1);
      if (a.r < 0) return UNKNOWN;
      rank b = rank_of(st, e->b, depth + 1);
      if (b.r < 0) return UNKNOWN;
      return a.r >= b.r ? a : b;
    }
    case EQL_E_UNARY:
      if (e->name && (!strcmp(e->name, "-") || !strcmp(e->name, "+"))) return rank_of(st, e->a, depth + 1);
      return UNKNOWN;
    case EQL_E_ATTR:
      if (e->name && (!strcmp(e->name, "T") || !strcmp(e->name, "mT")) && !canon_of(st, e))
        return rank_of(st, e->a, depth + 1);
      return UNKNOWN;
    case EQL_E_IFEXP: {
      rank a = rank_of(st, e->a, depth + 1);
      rank c = rank_of(st, e->c, depth + 1);
      return a.r >= 0 && a.r == c.r ? a : UNKNOWN;
    }
    default:
      return UNKNOWN;
  }
}

static unsigned param_index(const eql_func *fn, const eql_param *p) {
  return (unsigned)(p - fn->params);
}

/* A parameter's rank: its jaxtyping annotation, or what every call site passes. */
static rank param_rank(state *st, const eql_binding *b, int depth) {
  const eql_param *p = b->param;
  const eql_func *fn = b->scope;
  if (!p || !fn || p->kind == EQL_P_VARARGS || p->kind == EQL_P_VARKW) return UNKNOWN;
  if (p->annotation) {
    int r = jaxtyping_rank(st, st->f, p->annotation);
    return r >= 0 ? make(r, p->annotation) : UNKNOWN;
  }
  if (depth > MAX_DEPTH) return UNKNOWN;
  sites s;
  function_sites(st, fn, &s);
  rank out = UNKNOWN;
  int first = 1;
  if (s.ok && s.n) {
    unsigned i = param_index(fn, p);
    for (size_t k = 0; k < s.n; k++) {
      int delta = 0;
      const eql_expr *a = site_arg(&s.items[k], i, p->name, &delta);
      rank r = a ? rank_of(st, a, depth + 1) : UNKNOWN;
      if (r.r >= 0) r.r -= delta;
      if (r.r < 0 || (!first && r.r != out.r)) {
        out = UNKNOWN;
        break;
      }
      out = r;
      first = 0;
    }
  }
  free(s.items);
  return out;
}

/* ------------------------------------------------------------------ what a callee expects */

static expected no_expect(void) {
  expected e = {-1, NULL};
  return e;
}

static expected expect(int r, const char *what) {
  expected e = {r, what};
  return e;
}

static expected module_expected(state *st, const eql_facts *f, const eql_value *v, int depth);

static int is_ctor_call(const eql_expr *e) { return e && e->kind == EQL_E_CALL; }

static expected layer_expected(state *st, const eql_facts *f, const eql_value *v, int depth) {
  const eql_layer *l = v->cls.layer;
  const char *what = eql_arena_printf(st->ctx->scratch, "an `eqx.nn.%s`", l->name);
  const eql_expr *call = is_ctor_call(v->origin) ? v->origin : NULL;
  int n;
  if (!strcmp(l->name, "Linear") || !strcmp(l->name, "MLP")) {
    if (!call) return no_expect();
    const eql_expr *in = eql_call_arg(call, 0, !strcmp(l->name, "Linear") ? "in_features" : "in_size");
    if (!in) return no_expect();
    if (in->kind == EQL_E_STR) return in->name && !strcmp(in->name, "scalar") ? expect(0, what) : no_expect();
    return expect(1, what);
  }
  if (!strcmp(l->name, "Conv") || !strcmp(l->name, "ConvTranspose")) {
    if (!call || !int_value(eql_call_arg(call, 0, "num_spatial_dims"), &n) || n < 1) return no_expect();
    return expect(n + 1, what);
  }
  if (!strcmp(l->name, "LayerNorm") || !strcmp(l->name, "RMSNorm")) {
    if (!call) return no_expect();
    const eql_expr *sh = eql_call_arg(call, 0, "shape");
    if (int_value(sh, &n)) return expect(1, what);
    if (sh && (sh->kind == EQL_E_TUPLE || sh->kind == EQL_E_LIST)) {
      for (unsigned i = 0; i < sh->nargs; i++)
        if (sh->args[i].star) return no_expect();
      return expect((int)sh->nargs, what);
    }
    return no_expect();
  }
  if (!strcmp(l->name, "Embedding")) return expect(0, what);
  if (!strcmp(l->name, "Sequential")) {
    if (!call || depth > MAX_DEPTH || f != st->f) return no_expect();
    const eql_expr *layers = eql_call_arg(call, 0, "layers");
    if (!layers || (layers->kind != EQL_E_LIST && layers->kind != EQL_E_TUPLE) || !layers->nargs ||
        layers->args[0].star)
      return no_expect();
    eql_eval ev = {.idx = st->ctx->index, .f = f};
    eql_value first = eql_eval_expr(&ev, layers->args[0].value);
    expected e = module_expected(st, f, &first, depth + 1);
    if (e.r < 0) return no_expect();
    return expect(e.r, eql_arena_printf(st->ctx->scratch, "an `eqx.nn.Sequential` starting with %s", e.what));
  }
  if (l->input_rank > 0) return expect(l->input_rank, what);
  return no_expect();
}

/* Does the text contain any of the words that show a __call__ handling shapes itself? */
static int handles_shapes(const char *t) {
  static const char *const words[] = {"vmap", "ndim", ".shape", "reshape", "ravel", "flatten",
                                      "expand_dims", "atleast_", "[None", "einsum", "squeeze",
                                      "jnp.shape", "len(", NULL};
  for (int i = 0; words[i]; i++)
    if (strstr(t, words[i])) return 1;
  return 0;
}

static int mentions(const char *text, const char *name) {
  size_t n = strlen(name);
  for (const char *p = strstr(text, name); p; p = strstr(p + 1, name)) {
    char before = p == text ? ' ' : p[-1];
    char after = p[n];
    int word_b = (before >= 'a' && before <= 'z') || (before >= 'A' && before <= 'Z') ||
                 (before >= '0' && before <= '9') || before == '_' || before == '.';
    int word_a = (after >= 'a' && after <= 'z') || (after >= 'A' && after <= 'Z') ||
                 (after >= '0' && after <= '9') || after == '_';
    if (!word_b && !word_a) return 1;
  }
  return 0;
}

/* The value held by `self.<attr>` of a user class: every assignment in its methods must
 * agree; the annotation when none is found. */
static expected field_expected(state *st, const eql_facts *f, const eql_class *cls, const char *attr,
                               int depth) {
  eql_eval ev = {.idx = st->ctx->index, .f = f};
  expected out = no_expect();
  int seen = 0;
  for (unsigned m = 0; m < cls->nmethods; m++) {
    const eql_func *fn = cls->methods[m];
    if (!fn->nparams || !fn->params[0].name) continue;
    const char *self = fn->params[0].name;
    /* assignments `self.attr = value` anywhere in the method (an explicit stack) */
    const eql_block *body = &fn->body;
    const eql_block *stack[64];
    int sp = 0;
    stack[sp++] = body;
    while (sp) {
      const eql_block *b = stack[--sp];
      for (unsigned i = 0; i < b->n; i++) {
        const eql_stmt *s = b->items[i];
        if (s->kind == EQL_S_ASSIGN && s->value && s->ntargets == 1) {
          const eql_expr *t = s->targets[0];
          if (t->kind == EQL_E_ATTR && t->a && t->a->kind == EQL_E_NAME && !strcmp(t->a->name, self) &&
              t->name && !strcmp(t->name, attr)) {
            eql_value v = f == st->f ? eql_eval_expr(&ev, s->value) : ro_module(st, f, s->value);
            expected e = module_expected(st, f, &v, depth + 1);
            if (e.r < 0 || (seen && e.r != out.r)) return no_expect();
            out = e;
            seen = 1;
          }
        }
        if (s->kind == EQL_S_DEF || s->kind == EQL_S_CLASS) continue;
        if (sp + 3 < 64) {
          if (s->body.n) stack[sp++] = &s->body;
          if (s->orelse.n) stack[sp++] = &s->orelse;
          if (s->finalbody.n) stack[sp++] = &s->finalbody;
        } else {
          return no_expect();
        }
      }
    }
  }
  if (seen) return out;
  for (unsigned i = 0; i < cls->nfields; i++) {
    const eql_field *fd = &cls->fields[i];
    if (strcmp(fd->name, attr)) continue;
    if (fd->dflt) {
      eql_value v = f == st->f ? eql_eval_expr(&ev, fd->dflt) : ro_module(st, f, fd->dflt);
      if (v.kind == EQL_V_MODULE) return module_expected(st, f, &v, depth + 1);
    }
    if (fd->annotation) {
      eql_value v = f == st->f ? eql_eval_annotation(&ev, fd->annotation) : ro_module(st, f, fd->annotation);
      return module_expected(st, f, &v, depth + 1);
    }
  }
  return no_expect();
}

/* A user Module: what its __call__ hands its input to, unchanged, first. */
static expected user_expected(state *st, const eql_classref *c, int depth) {
  for (size_t i = 0; i < st->nclasses; i++)
    if (st->classes[i].cls == c->cls) return st->classes[i].state == 2 ? st->classes[i].e : no_expect();
  if (st->nclasses == st->ccap) {
    size_t cap = st->ccap ? st->ccap * 2 : 16;
    cls_cache *cc = realloc(st->classes, cap * sizeof *cc);
    if (!cc) return no_expect();
    st->classes = cc;
    st->ccap = cap;
  }
  size_t slot = st->nclasses++;
  st->classes[slot] = (cls_cache){c->cls, no_expect(), 1};
  expected result = no_expect();
  const eql_facts *in = NULL;
  const eql_func *m = eql_index_method(st->ctx->index, c, "__call__", &in);
  while (m && in && m->cls && m->nparams >= 2 && depth <= MAX_DEPTH) {
    /* an inherited __call__: judged on the class that defines it, unless the subclass
     * declares or builds fields of its own */
    if (m->cls != c->cls) {
      int own = c->cls->nfields > 0;
      for (unsigned i = 0; i < c->cls->nmethods; i++)
        if (!strcmp(c->cls->methods[i]->name, "__init__") || !strcmp(c->cls->methods[i]->name, "__post_init__"))
          own = 1;
      if (own) break;
    }
    const eql_param *p = &m->params[1];
    if (p->kind != EQL_P_PLAIN && p->kind != EQL_P_POSONLY) break;
    if (!p->name || !m->params[0].name) break;
    int jr = jaxtyping_rank(st, in, p->annotation);
    if (jr >= 0) {
      result = expect(jr, eql_arena_printf(st->ctx->scratch, "a `%s` (its `__call__` takes `%s: %s`)",
                                           c->cls->name, p->name, snip(st, in, p->annotation, 40)));
      break;
    }
    const char *body = eql_arena_strndup(st->ctx->scratch, in->src->text + m->start, m->end - m->start);
    if (!body || strstr(body, "vmap")) break;
    /* the first top-level statement that mentions the input */
    const eql_stmt *first = NULL;
    const char *first_text = NULL;
    for (unsigned i = 0; i < m->body.n && !first; i++) {
      const eql_stmt *s = m->body.items[i];
      const char *t = eql_arena_strndup(st->ctx->scratch, in->src->text + s->start, s->end - s->start);
      if (t && mentions(t, p->name)) {
        first = s;
        first_text = t;
      }
    }
    if (!first || (first->kind != EQL_S_ASSIGN && first->kind != EQL_S_EXPR && first->kind != EQL_S_RETURN))
      break;
    if (handles_shapes(first_text)) break;
    const eql_expr *use = NULL;
    for (unsigned i = 0; i < in->calls.n && !use; i++) {
      const eql_expr *call = in->calls.items[i];
      if (call->stmt != first || call->scope != m) continue;
      const eql_expr *cal = call->a;
      const eql_expr *a0 = eql_call_arg(call, 0, NULL);
      if (!cal || cal->kind != EQL_E_ATTR || !cal->a || cal->a->kind != EQL_E_NAME ||
          strcmp(cal->a->name, m->params[0].name) || !a0 || a0->kind != EQL_E_NAME ||
          strcmp(a0->name, p->name))
        continue;
      const eql_binding *b = eql_facts_lookup(in, a0->name, a0->scope, a0->start);
      if (b && b->kind == EQL_B_PARAM && b->param == p) use = call;
    }
    if (!use) break;
    expected e = field_expected(st, in, m->cls, use->a->name, depth + 1);
    if (e.r < 0) break;
    result = expect(e.r, eql_arena_printf(st->ctx->scratch, "a `%s` (its `__call__` passes `%s` to `%s.%s`, %s)",
                                          c->cls->name, p->name, m->params[0].name, use->a->name, e.what));
    break;
  }
  for (size_t i = 0; i < st->nclasses; i++)
    if (st->classes[i].cls == c->cls) {
      st->classes[i].e = result;
      st->classes[i].state = 2;
    }
  return result;
}

static expected module_expected(state *st, const eql_facts *f, const eql_value *v, int depth) {
  if (v->kind != EQL_V_MODULE || depth > MAX_DEPTH) return no_expect();
  if (v->cls.layer) return layer_expected(st, f, v, depth);
  if (v->cls.cls) return user_expected(st, &v->cls, depth);
  return no_expect();
}

/* What the callee expression expects: a known Module, or a parameter every caller passes
 * one to. */
static expected callee_expected(state *st, const eql_expr *cal, int depth);

/* What every `return` of a local function agrees on expecting (at a tuple position). */
static expected expected_of_returns(state *st, const eql_expr *call, int idx, int nunpack, int depth) {
  const eql_expr *rets[MAX_RETURNS];
  int n = returned_exprs(st, call, idx, nunpack, rets);
  expected out = no_expect();
  for (int i = 0; i < n; i++) {
    expected e = callee_expected(st, rets[i], depth + 1);
    if (e.r < 0 || (i && e.r != out.r)) return no_expect();
    out = e;
  }
  return out;
}

static expected callee_expected(state *st, const eql_expr *cal, int depth) {
  if (!cal || depth > MAX_DEPTH || ++st->steps > MAX_STEPS) return no_expect();
  eql_value v = eql_eval_expr(&st->ev, cal);
  if (v.kind == EQL_V_MODULE) return module_expected(st, st->f, &v, depth);
  if (cal->kind == EQL_E_CALL) {
    /* trees in, trees out: the model an update or a surgery returns */
    const char *c = canon_of(st, cal->a);
    if (c && (!strcmp(c, "equinox.apply_updates") || !strcmp(c, "optax.apply_updates") ||
              !strcmp(c, "equinox.nn.inference_mode") || !strcmp(c, "equinox.tree_inference")))
      return callee_expected(st, eql_call_arg(cal, 0, NULL), depth + 1);
    if (c && !strcmp(c, "equinox.tree_at")) return callee_expected(st, eql_call_arg(cal, 1, "pytree"), depth + 1);
    return c ? no_expect() : expected_of_returns(st, cal, -1, 0, depth);
  }
  if (cal->kind != EQL_E_NAME) return no_expect();
  const eql_binding *b = eql_facts_lookup(st->f, cal->name, cal->scope, cal->start);
  if (b && b->kind == EQL_B_ASSIGN && b->value) {
    if (b->unpack < 0) return callee_expected(st, b->value, depth + 1);
    if ((b->value->kind == EQL_E_TUPLE || b->value->kind == EQL_E_LIST) &&
        b->value->nargs == (unsigned)b->nunpack && !b->value->args[b->unpack].star)
      return callee_expected(st, b->value->args[b->unpack].value, depth + 1);
    return expected_of_returns(st, b->value, b->unpack, b->nunpack, depth);
  }
  if (!b || b->kind != EQL_B_PARAM || !b->param || !b->scope || b->param->annotation) return no_expect();
  sites s;
  function_sites(st, b->scope, &s);
  expected out = no_expect();
  int first = 1;
  if (s.ok && s.n) {
    unsigned i = param_index(b->scope, b->param);
    for (size_t k = 0; k < s.n; k++) {
      int delta = 0;
      const eql_expr *a = site_arg(&s.items[k], i, b->param->name, &delta);
      expected e = a && delta == 0 ? callee_expected(st, a, depth + 1) : no_expect();
      if (e.r < 0 || (!first && e.r != out.r)) {
        out = no_expect();
        break;
      }
      out = e;
      first = 0;
    }
  }
  free(s.items);
  return out;
}

/* ------------------------------------------------------------------ the check */

/* Is any function around `scope` vmapped, or called in ways we cannot see? */
static int guarded(state *st, const eql_func *scope) {
  for (const eql_func *g = scope; g; g = g->parent) {
    sites s;
    function_sites(st, g, &s);
    int bad = !s.ok;
    for (size_t k = 0; k < s.n && !bad; k++) {
      for (int i = 0; i < MAX_POS; i++)
        if (s.items[k].delta[i] > 0) bad = 1;
      if (s.items[k].delta_kw > 0) bad = 1;
    }
    free(s.items);
    if (bad) return 1;
  }
  return 0;
}

static void check_call(state *st, const eql_expr *call) {
  const eql_facts *f = st->f;
  const eql_expr *cal = call->a;
  int vdepth = 0;
  for (int guard = 0; cal && cal->kind == EQL_E_CALL && guard < 8; guard++) {
    const char *c = canon_of(st, cal->a);
    if (!is_vmap_canon(c) && !is_passthrough_canon(c)) break; /* Net(key)(x): a constructor */
    const eql_expr *inner = eql_call_arg(cal, 0, "fun");
    if (!inner) inner = eql_call_arg(cal, 0, "f");
    if (!inner) return;
    if (is_vmap_canon(c)) {
      int d[MAX_POS], dk;
      if (!vmap_axes(st, cal, d, &dk) || d[0] != 1) return;
      vdepth++;
    } else if (strstr(c, "grad")) {
      return;
    }
    cal = inner;
  }
  if (!cal || (cal->kind != EQL_E_NAME && cal->kind != EQL_E_ATTR && cal->kind != EQL_E_CALL)) return;
  const eql_expr *arg = eql_call_arg(call, 0, NULL);
  if (!arg) return;
  for (unsigned i = 0; i < call->nargs; i++)
    if (call->args[i].star) return;
  st->steps = 0;
  expected ex = callee_expected(st, cal, 0);
  if (ex.r < 0) return;
  rank r;
  if (guarded(st, call->scope)) {
    /* only what comes in through the innermost function's own parameters */
    if (arg->kind != EQL_E_NAME) return;
    const eql_binding *b = eql_facts_lookup(f, arg->name, arg->scope, arg->start);
    if (!b || b->kind != EQL_B_PARAM || b->scope != call->scope) return;
    r = param_rank(st, b, 0);
  } else {
    r = rank_of(st, arg, 0);
  }
  if (r.r < 0 || r.r - vdepth <= ex.r) return;
  int extra = r.r - vdepth - ex.r;
  const char *cal_text = eql_expr_snippet(f, cal, 40);
  const char *arg_text = eql_expr_snippet(f, arg, 40);
  const char *from = r.why ? eql_arena_printf(st->ctx->scratch, " (from `%s`)", eql_expr_snippet(f, r.why, 50)) : "";
  /* help: one more vmap per extra dimension */
  const char *wrapped = cal_text;
  for (int i = 0; i < extra + vdepth && i < 4; i++)
    wrapped = eql_arena_printf(st->ctx->scratch, "jax.vmap(%s)", wrapped);
  const char *help = eql_arena_printf(st->ctx->scratch,
                                      "map the layer over the leading dimension%s: `%s(%s)`",
                                      extra + vdepth > 1 ? "s" : "", wrapped, arg_text);
  if (vdepth == 0)
    eql_report(st->ctx, call->start, call->end, help,
               "`%s` is %s, which acts on a single example of rank %d, but `%s` has rank %d here%s: "
               "Equinox layers do not broadcast over a batch dimension",
               cal_text, ex.what, ex.r, arg_text, r.r, from);
  else
    eql_report(st->ctx, call->start, call->end, help,
               "%d `jax.vmap` around `%s` map%s over %d dimension%s, but `%s` has rank %d%s and "
               "`%s` is %s, which acts on a single example of rank %d: %d more `jax.vmap` %s needed",
               vdepth, cal_text, vdepth == 1 ? "s" : "", vdepth, vdepth == 1 ? "" : "s", arg_text,
               r.r, from, cal_text, ex.what, ex.r, extra, extra == 1 ? "is" : "are");
}

void eql_check_EQX004(eql_ctx *ctx) {
  const eql_facts *f = ctx->facts;
  state st = {.ctx = ctx, .f = f, .ev = {.idx = ctx->index, .f = f}};
  if (build_maps(&st) == 0) {
    for (unsigned i = 0; i < f->calls.n; i++) check_call(&st, f->calls.items[i]);
  }
  free(st.pmap);
  free(st.refs);
  free(st.targets);
  free(st.classes);
}
