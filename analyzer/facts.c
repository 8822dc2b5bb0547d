/* Queries over facts shared by every rule: name lookup with Python's scoping (function,
 * enclosing functions, module), canonical names through re-bindings, argument access.
 *
 * Lookup is position-aware inside a function: the binding that holds at a use is the last
 * one that ended before it (`model = eqx.filter(model, ...)` then `opt.init(model)` sees the
 * filtered value). From an inner function, enclosing scopes are seen as they are at the end
 * (closures run later). This is a deliberate approximation of data flow: rules that need
 * branches (EQX013) model them themselves. */
#include <stdlib.h>
#include <string.h>

#include "eqlint/facts.h"

typedef struct bucket {
  const char *name;
  eql_binding **items; /* grouped by scope; in source order within a scope */
  unsigned n;
} bucket;

/* Sorting a bucket by scope, stably (source order kept inside a scope). */
typedef struct keyed {
  uintptr_t scope;
  unsigned idx;
  eql_binding *b;
} keyed;

static int cmp_keyed(const void *pa, const void *pb) {
  const keyed *a = pa, *b = pb;
  if (a->scope != b->scope) return a->scope < b->scope ? -1 : 1;
  return a->idx < b->idx ? -1 : a->idx > b->idx;
}

/* The bindings of bucket `bk` in scope `sc`: [*lo, *hi). */
static void scope_range(const bucket *bk, const eql_func *sc, unsigned *lo, unsigned *hi) {
  uintptr_t key = (uintptr_t)sc;
  unsigned a = 0, b = bk->n;
  while (a < b) {
    unsigned m = a + (b - a) / 2;
    if ((uintptr_t)bk->items[m]->scope < key) a = m + 1;
    else b = m;
  }
  unsigned e = a;
  while (e < bk->n && bk->items[e]->scope == sc) e++;
  *lo = a;
  *hi = e;
}

struct eql_bindmap {
  bucket *b;
  unsigned cap; /* power of two */
};

static unsigned hash(const char *s) {
  unsigned h = 2166136261u;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
  return h;
}

int eql_facts_finish(eql_facts *f) {
  unsigned cap = 16;
  while (cap < f->bindings.n * 2) cap *= 2;
  struct eql_bindmap *m = eql_arena_alloc(f->arena, sizeof *m);
  if (!m) return -1;
  m->b = eql_arena_alloc(f->arena, cap * sizeof *m->b);
  if (!m->b) return -1;
  m->cap = cap;
  /* count per name, then fill */
  unsigned *counts = calloc(cap, sizeof *counts);
  if (!counts) return -1;
  for (unsigned i = 0; i < f->bindings.n; i++) {
    eql_binding *b = f->bindings.items[i];
    unsigned h = hash(b->name) & (cap - 1);
    while (m->b[h].name && strcmp(m->b[h].name, b->name)) h = (h + 1) & (cap - 1);
    m->b[h].name = b->name;
    counts[h]++;
  }
  for (unsigned h = 0; h < cap; h++) {
    if (!counts[h]) continue;
    m->b[h].items = eql_arena_alloc(f->arena, counts[h] * sizeof(eql_binding *));
    if (!m->b[h].items) {
      free(counts);
      return -1;
    }
  }
  free(counts);
  for (unsigned i = 0; i < f->bindings.n; i++) {
    eql_binding *b = f->bindings.items[i];
    unsigned h = hash(b->name) & (cap - 1);
    while (strcmp(m->b[h].name, b->name)) h = (h + 1) & (cap - 1);
    m->b[h].items[m->b[h].n++] = b;
  }
  /* group each name's bindings by scope, so a lookup reads only its own scopes' bindings
   * (train scripts reuse `model`, `x`, `key` in every function: scanning them all was the
   * largest cost of a language-server re-check) */
  for (unsigned h = 0; h < cap; h++) {
    bucket *bk = &m->b[h];
    if (bk->n < 2) continue;
    keyed *k = malloc(bk->n * sizeof *k);
    if (!k) return -1;
    for (unsigned i = 0; i < bk->n; i++) k[i] = (keyed){(uintptr_t)bk->items[i]->scope, i, bk->items[i]};
    qsort(k, bk->n, sizeof *k, cmp_keyed);
    for (unsigned i = 0; i < bk->n; i++) bk->items[i] = k[i].b;
    free(k);
  }
  f->bindmap = m;
  return 0;
}

static const bucket *find_bucket(const eql_facts *f, const char *name) {
  const struct eql_bindmap *m = f->bindmap;
  if (!m || !name) return NULL;
  unsigned h = hash(name) & (m->cap - 1);
  while (m->b[h].name) {
    if (!strcmp(m->b[h].name, name)) return &m->b[h];
    h = (h + 1) & (m->cap - 1);
  }
  return NULL;
}

const eql_binding *eql_facts_lookup(const eql_facts *f, const char *name, eql_func *scope,
                                    uint32_t pos) {
  const bucket *bk = find_bucket(f, name);
  if (!bk) return NULL;
  int first = 1;
  for (eql_func *sc = scope;; sc = sc->parent) {
    const eql_binding *best = NULL, *any = NULL;
    unsigned lo, hi;
    scope_range(bk, sc, &lo, &hi);
    for (unsigned i = lo; i < hi; i++) {
      const eql_binding *b = bk->items[i];
      any = b;
      if (!first || b->pos <= pos) best = b;
    }
    /* A name bound in this scope only after the use: in a loop it may come from the previous
     * iteration; we do not guess. */
    if (best) return best;
    if (any) return NULL;
    if (!sc) return NULL;
    /* lambdas and functions see their enclosing scopes as they end up */
    first = 0;
    if (!sc->parent) {
      /* module scope: any position (functions run after the module body) */
      scope_range(bk, NULL, &lo, &hi);
      return hi > lo ? bk->items[hi - 1] : NULL;
    }
  }
}

const char *eql_expr_text(const eql_facts *f, const eql_expr *e) {
  if (!e) return "";
  char *s = eql_arena_strndup(f->arena, f->src->text + e->start, e->end - e->start);
  return s ? s : "";
}

static const char *canon_depth(const eql_facts *f, const eql_expr *e, int depth) {
  if (!e || depth > 8) return NULL;
  if (e->kind == EQL_E_NAME) {
    const eql_binding *b = eql_facts_lookup(f, e->name, e->scope, e->start);
    if (!b) return e->canon; /* an import in another scope, or a builtin */
    if (b->kind == EQL_B_IMPORT) return b->canon;
    /* aliases: `jit = jax.jit` */
    if (b->kind == EQL_B_ASSIGN && b->unpack < 0 && b->value &&
        (b->value->kind == EQL_E_NAME || b->value->kind == EQL_E_ATTR))
      return canon_depth(f, b->value, depth + 1);
    return NULL; /* a local variable or parameter shadows the import */
  }
  if (e->kind == EQL_E_ATTR) {
    const char *base = canon_depth(f, e->a, depth + 1);
    if (!base || !e->name) return NULL;
    if (e->canon && e->a && base == e->a->canon) return e->canon; /* computed by the front end */
    return eql_arena_printf(f->arena, "%s.%s", base, e->name);
  }
  return NULL;
}

const char *eql_facts_canon(const eql_facts *f, const eql_expr *e) { return canon_depth(f, e, 0); }

const char *eql_facts_canon_ro(const eql_facts *f, const eql_expr *e) {
  if (!e) return NULL;
  if (e->kind == EQL_E_NAME) {
    const eql_binding *b = eql_facts_lookup(f, e->name, e->scope, e->start);
    if (!b) return e->canon;
    return b->kind == EQL_B_IMPORT ? b->canon : NULL;
  }
  return e->kind == EQL_E_ATTR ? e->canon : NULL;
}

eql_expr *eql_call_arg(const eql_expr *call, int i, const char *kw) {
  if (!call) return NULL;
  int pos = 0;
  for (unsigned k = 0; k < call->nargs; k++) {
    const eql_arg *a = &call->args[k];
    if (a->star) {
      /* after *args, positions are unknown */
      if (a->star == 1) i = -1;
      continue;
    }
    if (a->kw) {
      if (kw && !strcmp(a->kw, kw)) return a->value;
      continue;
    }
    if (pos++ == i) return a->value;
  }
  return NULL;
}

static void visit_block(const eql_block *b, eql_expr_cb cb, void *ud, int depth);

static void visit_expr(const eql_expr *e, eql_expr_cb cb, void *ud, int depth) {
  if (!e || depth > 500) return;
  cb(e, ud);
  visit_expr(e->a, cb, ud, depth + 1);
  visit_expr(e->b, cb, ud, depth + 1);
  visit_expr(e->c, cb, ud, depth + 1);
  for (unsigned i = 0; i < e->nargs; i++) {
    visit_expr(e->args[i].key, cb, ud, depth + 1);
    visit_expr(e->args[i].value, cb, ud, depth + 1);
  }
  for (unsigned i = 0; i < e->nparams; i++) {
    visit_expr(e->params[i].annotation, cb, ud, depth + 1);
    visit_expr(e->params[i].dflt, cb, ud, depth + 1);
  }
}

static void visit_stmt(const eql_stmt *s, eql_expr_cb cb, void *ud, int depth) {
  for (unsigned i = 0; i < s->ntargets; i++) visit_expr(s->targets[i], cb, ud, depth);
  visit_expr(s->annotation, cb, ud, depth);
  visit_expr(s->value, cb, ud, depth);
  for (unsigned i = 0; i < s->nexprs; i++)
    if (s->exprs[i] != s->value) visit_expr(s->exprs[i], cb, ud, depth);
  if (s->func) {
    const eql_func *fn = s->func;
    for (unsigned i = 0; i < fn->ndecorators; i++) visit_expr(fn->decorators[i], cb, ud, depth);
    for (unsigned i = 0; i < fn->nparams; i++) {
      visit_expr(fn->params[i].annotation, cb, ud, depth);
      visit_expr(fn->params[i].dflt, cb, ud, depth);
    }
    visit_expr(fn->returns, cb, ud, depth);
    visit_block(&fn->body, cb, ud, depth + 1);
  }
  if (s->cls) {
    const eql_class *c = s->cls;
    for (unsigned i = 0; i < c->ndecorators; i++) visit_expr(c->decorators[i], cb, ud, depth);
    for (unsigned i = 0; i < c->nbases; i++) visit_expr(c->bases[i], cb, ud, depth);
    for (unsigned i = 0; i < c->nkeywords; i++) visit_expr(c->keywords[i].value, cb, ud, depth);
    visit_block(&c->body, cb, ud, depth + 1);
  }
  visit_block(&s->body, cb, ud, depth + 1);
  for (unsigned h = 0; h < s->nhandlers; h++) visit_block(&s->handlers[h], cb, ud, depth + 1);
  visit_block(&s->orelse, cb, ud, depth + 1);
  visit_block(&s->finalbody, cb, ud, depth + 1);
}

static void visit_block(const eql_block *b, eql_expr_cb cb, void *ud, int depth) {
  if (depth > 500) return;
  for (unsigned i = 0; i < b->n; i++) visit_stmt(b->items[i], cb, ud, depth);
}

void eql_facts_visit_exprs(const eql_facts *f, eql_expr_cb cb, void *ud) {
  visit_block(&f->body, cb, ud, 0);
}

const char *eql_expr_snippet(const eql_facts *f, const eql_expr *e, size_t max) {
  if (!e) return "";
  if (max < 8) max = 8;
  const char *s = f->src->text + e->start;
  size_t n = e->end - e->start;
  char *out = eql_arena_alloc(f->arena, max + 4);
  if (!out) return "";
  size_t k = 0;
  int space = 0;
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch == '\n' || ch == '\r' || ch == '\t' || ch == ' ') {
      space = 1;
      continue;
    }
    if (space && k > 0 && out[k - 1] != '(' && out[k - 1] != '[' && ch != ')' && ch != ']')
      out[k++] = ' ';
    space = 0;
    if (k >= max - 3) {
      /* do not cut inside a UTF-8 sequence */
      while (k > 0 && ((unsigned char)out[k - 1] & 0xC0) == 0x80) k--;
      if (k > 0 && ((unsigned char)out[k - 1] & 0xC0) == 0xC0) k--;
      memcpy(out + k, "...", 3);
      k += 3;
      break;
    }
    out[k++] = (char)ch;
  }
  out[k] = 0;
  return out;
}

void eql_facts_free(eql_facts *f) {
  if (f) eql_arena_free(f->arena);
}
