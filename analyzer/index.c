/* The project index (pass 1 -> pass 2).
 *
 * Classes are keyed by the module name of their file (derived from the path, walking up
 * __init__.py packages) so that `from model import MLP`, `from .nets import Encoder` and
 * `import pkg.model as m; m.MLP` all find the class defined in another file of the run.
 * When several files claim the same module name (two example directories each with a
 * model.py), the one nearest the importing file wins.
 *
 * eql_index_finalize answers two questions for every class, once, before the rules run:
 * is it an equinox.Module, and can its instances hold non-array leaves? Answers are three-
 * valued; cycles and unknowns give EQL_MAYBE, on which rules stay silent. After finalize the
 * index is read-only. */
#include "eqlint/index.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eqlint/value.h"

typedef struct centry {
  const eql_facts *f;
  const eql_class *cls;
  eql_classref base;       /* first user base class, resolved at finalize (for method lookup) */
  eql_tri is_module, nonarray;
  const char *why;
  int mod_state, na_state; /* 0 = not computed, 1 = computing, 2 = done */
} centry;

struct eql_index {
  eql_arena *arena;
  eql_vec files;   /* const eql_facts * */
  centry *entries;
  size_t n, cap;
  size_t *slots;   /* hash of class pointer -> entry index + 1 */
  size_t nslots;
  const eql_facts **by_module; /* files sorted by module name (built by finalize) */
  int finalized;
};

eql_index *eql_index_new(void) {
  eql_index *idx = calloc(1, sizeof *idx);
  if (!idx) return NULL;
  idx->arena = eql_arena_new();
  if (!idx->arena) {
    free(idx);
    return NULL;
  }
  return idx;
}

void eql_index_free(eql_index *idx) {
  if (!idx) return;
  free(idx->entries);
  free(idx->slots);
  free(idx->by_module);
  eql_arena_free(idx->arena);
  free(idx);
}

int eql_index_add(eql_index *idx, const eql_facts *f) {
  if (eql_vec_push(idx->arena, &idx->files, (void *)f) < 0) return -1;
  for (unsigned i = 0; i < f->classes.n; i++) {
    if (idx->n == idx->cap) {
      size_t cap = idx->cap ? idx->cap * 2 : 64;
      centry *e = realloc(idx->entries, cap * sizeof *e);
      if (!e) return -1;
      idx->entries = e;
      idx->cap = cap;
    }
    centry *e = &idx->entries[idx->n++];
    memset(e, 0, sizeof *e);
    e->f = f;
    e->cls = f->classes.items[i];
  }
  return 0;
}

static size_t ptr_hash(const void *p) {
  uintptr_t x = (uintptr_t)p;
  x ^= x >> 17;
  x *= 0x9E3779B97F4A7C15ull;
  return (size_t)(x ^ (x >> 29));
}

static centry *entry_of(const eql_index *idx, const eql_class *cls) {
  if (!idx->slots) {
    for (size_t i = 0; i < idx->n; i++)
      if (idx->entries[i].cls == cls) return &idx->entries[i];
    return NULL;
  }
  size_t h = ptr_hash(cls) & (idx->nslots - 1);
  while (idx->slots[h]) {
    centry *e = &idx->entries[idx->slots[h] - 1];
    if (e->cls == cls) return e;
    h = (h + 1) & (idx->nslots - 1);
  }
  return NULL;
}

/* ------------------------------------------------------------------ resolution */

static size_t common_prefix(const char *a, const char *b) {
  size_t n = 0, last_slash = 0;
  while (a[n] && a[n] == b[n]) {
    if (a[n] == '/') last_slash = n + 1;
    n++;
  }
  return last_slash;
}

/* Compares a module name with the first n bytes of a dotted name (as a whole name). */
static int cmp_module(const char *name, const char *canon, size_t n) {
  int c = strncmp(name, canon, n);
  if (c) return c;
  return name[n] ? 1 : 0;
}

static int cmp_files(const void *a, const void *b) {
  const eql_facts *fa = *(const eql_facts *const *)a, *fb = *(const eql_facts *const *)b;
  return strcmp(fa->module_name, fb->module_name);
}

static const eql_class *top_class(const eql_facts *f, const char *name) {
  for (unsigned i = 0; i < f->classes.n; i++) {
    const eql_class *c = f->classes.items[i];
    if (!c->scope && !strcmp(c->qualname, name)) return c;
  }
  return NULL;
}

static int resolve_depth(const eql_index *idx, const eql_facts *from, const char *canon,
                         eql_classref *out, int depth) {
  memset(out, 0, sizeof *out);
  if (!canon || depth > 6) return 0;
  const eql_layer *l = eql_layer_find(canon);
  if (l) {
    out->layer = l;
    return 1;
  }
  const char *dot = strrchr(canon, '.');
  if (!dot) return 0;
  size_t mlen = (size_t)(dot - canon);
  const char *name = dot + 1;
  const eql_facts *best = NULL;
  size_t best_score = 0;
  /* the files whose module name is canon[0:mlen]: a range of the sorted array */
  size_t lo = 0, hi = idx->by_module ? idx->files.n : 0;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (cmp_module(idx->by_module[mid]->module_name, canon, mlen) < 0) lo = mid + 1;
    else hi = mid;
  }
  size_t first = lo, last = idx->by_module ? idx->files.n : 0;
  if (!idx->by_module) first = 0, last = idx->files.n;
  for (size_t i = first; i < last; i++) {
    const eql_facts *f = idx->by_module ? idx->by_module[i] : idx->files.items[i];
    int c = cmp_module(f->module_name, canon, mlen);
    if (c != 0) {
      if (idx->by_module) break;
      continue;
    }
    size_t score = 1 + (from ? common_prefix(f->src->path, from->src->path) : 0);
    if (score > best_score) {
      best = f;
      best_score = score;
    }
  }
  if (!best) return 0;
  const eql_class *c = top_class(best, name);
  if (c) {
    out->facts = best;
    out->cls = c;
    return 1;
  }
  /* re-exported: `from .model import MLP` in pkg/__init__.py, or `from .model import *` */
  for (unsigned i = 0; i < best->imports.n; i++) {
    const eql_import *im = best->imports.items[i];
    if (im->scope) continue;
    if (im->alias && !strcmp(im->alias, name))
      return resolve_depth(idx, best, im->target, out, depth + 1);
  }
  for (unsigned i = 0; i < best->imports.n; i++) {
    const eql_import *im = best->imports.items[i];
    if (im->scope || im->alias) continue;
    /* a stack buffer: resolution runs on rule threads, which must not touch shared arenas */
    char sub[512];
    if (snprintf(sub, sizeof sub, "%s.%s", im->target, name) >= (int)sizeof sub) continue;
    if (resolve_depth(idx, best, sub, out, depth + 1)) return 1;
  }
  return 0;
}

int eql_index_resolve(const eql_index *idx, const eql_facts *from, const char *canon,
                      eql_classref *out) {
  return resolve_depth(idx, from, canon, out, 0);
}

const char *eql_classref_name(const eql_classref *c) {
  if (c->layer) {
    static __thread char buf[64];
    size_t n = strlen(c->layer->name);
    if (n > sizeof buf - 8) n = sizeof buf - 8;
    memcpy(buf, "eqx.nn.", 7);
    memcpy(buf + 7, c->layer->name, n);
    buf[7 + n] = 0;
    return buf;
  }
  return c->cls ? c->cls->qualname : "?";
}

/* ------------------------------------------------------------------ Module-ness */

static eql_tri is_module_entry(eql_index *idx, centry *e);

/* The class a base-class expression names, or 0. */
static int base_class(eql_index *idx, const eql_facts *f, const eql_expr *b, eql_classref *out,
                      int *is_eqx_module) {
  *is_eqx_module = 0;
  memset(out, 0, sizeof *out);
  if (b && b->kind == EQL_E_SUBSCRIPT) b = b->a; /* Generic-style Module[T] */
  if (!b) return 0;
  const char *canon = eql_facts_canon(f, b);
  if (canon) {
    if (!strcmp(canon, "equinox.Module")) {
      *is_eqx_module = 1;
      return 0;
    }
    return eql_index_resolve(idx, f, canon, out);
  }
  if (b->kind == EQL_E_NAME) {
    const eql_binding *bd = eql_facts_lookup(f, b->name, b->scope, b->start);
    if (bd && bd->kind == EQL_B_CLASS && bd->cls) {
      out->facts = f;
      out->cls = bd->cls;
      return 1;
    }
  }
  return 0;
}

static eql_tri is_module_entry(eql_index *idx, centry *e) {
  if (e->mod_state == 2) return e->is_module;
  if (e->mod_state == 1) return EQL_MAYBE;
  e->mod_state = 1;
  eql_tri r = EQL_NO;
  for (unsigned i = 0; i < e->cls->nbases; i++) {
    eql_classref base;
    int direct;
    if (!base_class(idx, e->f, e->cls->bases[i], &base, &direct)) {
      if (direct) r = EQL_YES;
      continue;
    }
    eql_tri t = eql_index_is_module(idx, &base);
    if (t == EQL_YES) r = EQL_YES;
    else if (t == EQL_MAYBE && r == EQL_NO) r = EQL_MAYBE;
    if (r == EQL_YES) break;
  }
  e->is_module = r;
  e->mod_state = 2;
  return r;
}

eql_tri eql_index_is_module(const eql_index *cidx, const eql_classref *c) {
  if (c->layer) return EQL_YES;
  if (!c->cls) return EQL_NO;
  eql_index *idx = (eql_index *)cidx; /* memo slots are filled during finalize only */
  centry *e = entry_of(idx, c->cls);
  if (!e) return EQL_MAYBE;
  if (idx->finalized && e->mod_state == 2) return e->is_module;
  return is_module_entry(idx, e);
}

/* ------------------------------------------------------------------ non-array leaves */

/* Collects `self.<name> = value` statements of a method body, recursively. */
static void self_assignments(const eql_block *b, const char *self, const char *name,
                             const eql_expr **out, unsigned *n, unsigned max) {
  for (unsigned i = 0; i < b->n && *n < max; i++) {
    const eql_stmt *s = b->items[i];
    if (s->kind == EQL_S_ASSIGN && s->value) {
      for (unsigned t = 0; t < s->ntargets; t++) {
        const eql_expr *tg = s->targets[t];
        if (tg->kind == EQL_E_ATTR && tg->a && tg->a->kind == EQL_E_NAME &&
            !strcmp(tg->a->name, self) && tg->name && !strcmp(tg->name, name) && *n < max)
          out[(*n)++] = s->value;
      }
    }
    if (s->kind == EQL_S_DEF || s->kind == EQL_S_CLASS) continue;
    self_assignments(&s->body, self, name, out, n, max);
    self_assignments(&s->orelse, self, name, out, n, max);
    self_assignments(&s->finalbody, self, name, out, n, max);
    for (unsigned h = 0; h < s->nhandlers; h++) self_assignments(&s->handlers[h], self, name, out, n, max);
  }
}

static eql_tri field_verdict(eql_index *idx, const eql_facts *f, const eql_class *cls,
                             const eql_field *fd, const char **why) {
  eql_eval ev = {.idx = idx, .f = f};
  eql_tri ann = EQL_MAYBE;
  const char *ann_why = NULL;
  if (fd->annotation) {
    eql_value v = eql_eval_annotation(&ev, fd->annotation);
    if (v.kind != EQL_V_UNKNOWN) {
      const char *w = NULL;
      ann = eql_value_nonarray(&ev, &v, &w);
      if (ann == EQL_YES)
        ann_why = (v.kind == EQL_V_MODULE && w)
                      ? eql_arena_printf(idx->arena, "its field `%s` is an `%s`, %s", fd->name,
                                         eql_expr_snippet(f, fd->annotation, 40),
                                         eql_why_nested(idx->arena, w))
                      : eql_arena_printf(idx->arena, "its field `%s` is annotated `%s`", fd->name,
                                         eql_expr_snippet(f, fd->annotation, 40));
    }
  }
  if (ann == EQL_YES) {
    *why = ann_why;
    return EQL_YES;
  }
  /* values: a class-body default, and what methods that build the instance assign */
  const eql_expr *vals[16];
  unsigned nv = 0;
  if (fd->dflt && !(fd->dflt->kind == EQL_E_CALL && fd->dflt->a && fd->dflt->a->canon &&
                    (!strcmp(fd->dflt->a->canon, "equinox.field") ||
                     !strcmp(fd->dflt->a->canon, "equinox.static_field"))))
    vals[nv++] = fd->dflt;
  for (unsigned m = 0; m < cls->nmethods; m++) {
    const eql_func *fn = cls->methods[m];
    if (strcmp(fn->name, "__init__") && strcmp(fn->name, "__post_init__")) continue;
    if (!fn->nparams || !fn->params[0].name) continue;
    self_assignments(&fn->body, fn->params[0].name, fd->name, vals, &nv, 16);
  }
  int all_no = nv > 0;
  for (unsigned i = 0; i < nv; i++) {
    eql_value v = eql_eval_expr(&ev, vals[i]);
    const char *w = NULL;
    eql_tri t = eql_value_nonarray(&ev, &v, &w);
    if (t == EQL_YES) {
      const char *what = v.kind == EQL_V_FUNCTION ? "a function"
                       : v.kind == EQL_V_STR ? "a `str`"
                       : v.kind == EQL_V_BOOL ? "a `bool`"
                       : v.kind == EQL_V_FLOAT ? "a `float`"
                       : NULL;
      if (what)
        *why = eql_arena_printf(idx->arena, "its field `%s` is assigned %s (`%s`)", fd->name,
                                what, eql_expr_snippet(f, vals[i], 40));
      else
        *why = eql_arena_printf(idx->arena, "its field `%s` holds `%s`%s%s", fd->name,
                                eql_expr_snippet(f, vals[i], 40), w ? ", " : "",
                                w ? eql_why_nested(idx->arena, w) : "");
      return EQL_YES;
    }
    if (t != EQL_NO) all_no = 0;
  }
  if (ann == EQL_NO) return EQL_NO;
  return all_no ? EQL_NO : EQL_MAYBE;
}

static eql_tri nonarray_entry(eql_index *idx, centry *e) {
  if (e->na_state == 2) return e->nonarray;
  if (e->na_state == 1) return EQL_MAYBE;
  e->na_state = 1;
  eql_tri r = EQL_NO;
  const char *why = NULL;
  for (unsigned i = 0; i < e->cls->nbases && r != EQL_YES; i++) {
    eql_classref base;
    int direct;
    if (!base_class(idx, e->f, e->cls->bases[i], &base, &direct)) continue;
    const char *w = NULL;
    eql_tri t = eql_index_nonarray(idx, &base, &w);
    if (t == EQL_YES) {
      r = EQL_YES;
      why = eql_arena_printf(idx->arena, "it inherits from `%s`, %s", eql_classref_name(&base),
                             w ? eql_why_nested(idx->arena, w) : "which holds non-array leaves");
    } else if (t == EQL_MAYBE) {
      r = EQL_MAYBE;
    }
  }
  for (unsigned i = 0; i < e->cls->nfields && r != EQL_YES; i++) {
    const eql_field *fd = &e->cls->fields[i];
    if (fd->is_static || fd->is_classvar) continue;
    const char *w = NULL;
    eql_tri t = field_verdict(idx, e->f, e->cls, fd, &w);
    if (t == EQL_YES) {
      r = EQL_YES;
      why = w;
    } else if (t == EQL_MAYBE) {
      r = EQL_MAYBE;
    }
  }
  e->nonarray = r;
  e->why = why;
  e->na_state = 2;
  return r;
}

eql_tri eql_index_nonarray(const eql_index *cidx, const eql_classref *c, const char **why) {
  if (c->layer) {
    if (why) *why = c->layer->why;
    return c->layer->nonarray;
  }
  if (!c->cls) return EQL_MAYBE;
  eql_index *idx = (eql_index *)cidx;
  centry *e = entry_of(idx, c->cls);
  if (!e) return EQL_MAYBE;
  if (eql_index_is_module(idx, c) != EQL_YES) return EQL_MAYBE;
  eql_tri t = nonarray_entry(idx, e);
  if (why) *why = e->why;
  return t;
}

const eql_func *eql_index_method(const eql_index *idx, const eql_classref *c, const char *name,
                                 const eql_facts **in) {
  eql_classref cur = *c;
  for (int depth = 0; cur.cls && depth < 16; depth++) {
    for (unsigned i = 0; i < cur.cls->nmethods; i++)
      if (!strcmp(cur.cls->methods[i]->name, name)) {
        if (in) *in = cur.facts;
        return cur.cls->methods[i];
      }
    /* on to the first base that is a user class, resolved once at finalize: rules run on
     * several threads and must not resolve names in other files' facts themselves */
    const centry *e = entry_of(idx, cur.cls);
    if (!e) break;
    cur = e->base;
  }
  return NULL;
}

int eql_index_finalize(eql_index *idx) {
  if (idx->finalized) return 0;
  idx->by_module = malloc((idx->files.n ? idx->files.n : 1) * sizeof *idx->by_module);
  if (!idx->by_module) return -1;
  for (unsigned i = 0; i < idx->files.n; i++) idx->by_module[i] = idx->files.items[i];
  if (idx->files.n > 1) qsort(idx->by_module, idx->files.n, sizeof *idx->by_module, cmp_files);
  size_t ns = 16;
  while (ns < idx->n * 2) ns *= 2;
  idx->slots = calloc(ns, sizeof *idx->slots);
  if (!idx->slots) return -1;
  idx->nslots = ns;
  for (size_t i = 0; i < idx->n; i++) {
    size_t h = ptr_hash(idx->entries[i].cls) & (ns - 1);
    while (idx->slots[h]) h = (h + 1) & (ns - 1);
    idx->slots[h] = i + 1;
  }
  for (size_t i = 0; i < idx->n; i++) {
    centry *e = &idx->entries[i];
    for (unsigned b = 0; b < e->cls->nbases; b++) {
      eql_classref r;
      int direct;
      if (base_class(idx, e->f, e->cls->bases[b], &r, &direct) && r.cls) {
        e->base = r;
        break;
      }
    }
  }
  for (size_t i = 0; i < idx->n; i++) is_module_entry(idx, &idx->entries[i]);
  for (size_t i = 0; i < idx->n; i++)
    if (idx->entries[i].is_module == EQL_YES) nonarray_entry(idx, &idx->entries[i]);
  idx->finalized = 1;
  return 0;
}
