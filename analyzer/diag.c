/* Diagnostic lists. Diagnostics outlive the facts they came from (the CLI prints them after
 * all files are checked), so they own heap copies of their strings. */
#include "eqlint/diag.h"

#include <stdlib.h>
#include <string.h>

void eql_diag_list_init(eql_diag_list *l) { memset(l, 0, sizeof *l); }

void eql_fix_free(eql_fix *f) {
  if (!f) return;
  for (unsigned i = 0; i < f->nedits; i++) free(f->edits[i].text);
  free(f->edits);
  free(f->title);
  free(f);
}

void eql_diag_clear(eql_diag *d) {
  eql_fix_free(d->fix);
  d->fix = NULL;
  free(d->path);
  free(d->message);
  free(d->help);
  free(d->related_message);
}

void eql_diag_list_free(eql_diag_list *l) {
  for (size_t i = 0; i < l->n; i++) eql_diag_clear(&l->items[i]);
  free(l->items);
  eql_diag_list_init(l);
}

void eql_span_from_bytes(eql_span *sp, const eql_source *src, uint32_t start, uint32_t end) {
  if (start > src->len) start = src->len;
  if (end > src->len) end = src->len;
  if (end < start) end = start;
  sp->start = start;
  sp->end = end;
  sp->line = eql_source_line_of(src, start);
  sp->col = eql_source_col_of(src, start);
  sp->end_line = eql_source_line_of(src, end);
  sp->end_col = eql_source_col_of(src, end);
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

eql_diag *eql_diag_add(eql_diag_list *l, int rule, const eql_source *src, uint32_t start,
                       uint32_t end, const char *message, const char *help) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 16;
    eql_diag *items = realloc(l->items, cap * sizeof *items);
    if (!items) return NULL;
    l->items = items;
    l->cap = cap;
  }
  eql_diag *d = &l->items[l->n];
  memset(d, 0, sizeof *d);
  d->rule = rule;
  d->path = strdup(src->path);
  d->message = strdup(message);
  d->help = dup_or_null(help);
  if (!d->path || !d->message || (help && !d->help)) {
    eql_diag_clear(d);
    return NULL;
  }
  eql_span_from_bytes(&d->span, src, start, end);
  l->n++;
  return d;
}

void eql_diag_set_related(eql_diag *d, const eql_source *src, uint32_t start, uint32_t end,
                          const char *message) {
  free(d->related_message);
  d->related_message = dup_or_null(message);
  d->has_related = 1;
  eql_span_from_bytes(&d->related, src, start, end);
}

void eql_diag_drop_fix(eql_diag *d) {
  eql_fix_free(d->fix);
  d->fix = NULL;
}

void eql_diag_fix_unsafe(eql_diag *d) {
  if (d->fix) d->fix->applicability = EQL_FIX_UNSAFE;
}

int eql_diag_fixable(const eql_diag *d, int unsafe_fixes) {
  return d->fix && d->fix->nedits > 0 &&
         (d->fix->applicability == EQL_FIX_SAFE || unsafe_fixes);
}

int eql_diag_add_edit(eql_diag *d, const eql_source *src, const char *title, uint32_t start,
                      uint32_t end, const char *text) {
  if (!d->fix) {
    d->fix = calloc(1, sizeof *d->fix);
    if (!d->fix) return -1;
    d->fix->title = strdup(title ? title : "Apply the fix");
    if (!d->fix->title) goto fail;
  }
  eql_fix *f = d->fix;
  for (unsigned i = 0; i < f->nedits; i++) /* the same edit twice (two names, one import) */
    if (f->edits[i].span.start == start && f->edits[i].span.end == end &&
        !strcmp(f->edits[i].text, text ? text : ""))
      return 0;
  eql_edit e;
  eql_span_from_bytes(&e.span, src, start, end);
  /* Insertion-sort position; a neighbour that overlaps invalidates the fix. Two insertions
   * at one point, or an insertion at the edge of a replacement, are fine: they apply in the
   * order added. */
  unsigned at = f->nedits;
  while (at > 0 && (f->edits[at - 1].span.start > e.span.start ||
                    (f->edits[at - 1].span.start == e.span.start && e.span.start == e.span.end &&
                     f->edits[at - 1].span.end > e.span.start)))
    at--;
  if (at > 0 && f->edits[at - 1].span.end > e.span.start) goto fail;
  if (at < f->nedits && e.span.end > f->edits[at].span.start) goto fail;
  eql_edit *edits = realloc(f->edits, (f->nedits + 1) * sizeof *edits);
  if (!edits) goto fail;
  f->edits = edits;
  e.text = strdup(text ? text : "");
  if (!e.text) goto fail;
  memmove(f->edits + at + 1, f->edits + at, (f->nedits - at) * sizeof *f->edits);
  f->edits[at] = e;
  f->nedits++;
  return 0;
fail:
  eql_diag_drop_fix(d);
  return -1;
}

eql_fix *eql_fix_copy(const eql_fix *f) {
  if (!f) return NULL;
  eql_fix *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->applicability = f->applicability;
  c->title = strdup(f->title);
  c->edits = calloc(f->nedits ? f->nedits : 1, sizeof *c->edits);
  if (!c->title || !c->edits) {
    eql_fix_free(c);
    return NULL;
  }
  for (unsigned i = 0; i < f->nedits; i++) {
    c->edits[i].span = f->edits[i].span;
    c->edits[i].text = strdup(f->edits[i].text);
    c->nedits = i + 1;
    if (!c->edits[i].text) {
      eql_fix_free(c);
      return NULL;
    }
  }
  return c;
}

int eql_diag_list_take(eql_diag_list *to, eql_diag_list *from) {
  if (to->n + from->n > to->cap) {
    size_t cap = to->cap ? to->cap : 16;
    while (cap < to->n + from->n) cap *= 2;
    eql_diag *items = realloc(to->items, cap * sizeof *items);
    if (!items) return -1;
    to->items = items;
    to->cap = cap;
  }
  if (from->n) memcpy(to->items + to->n, from->items, from->n * sizeof *from->items);
  to->n += from->n;
  free(from->items);
  eql_diag_list_init(from);
  return 0;
}

static int cmp_diag(const void *pa, const void *pb) {
  const eql_diag *a = pa, *b = pb;
  int c = strcmp(a->path, b->path);
  if (c) return c;
  if (a->cell != b->cell) return a->cell < b->cell ? -1 : 1;
  if (a->span.line != b->span.line) return a->span.line < b->span.line ? -1 : 1;
  if (a->span.col != b->span.col) return a->span.col < b->span.col ? -1 : 1;
  if (a->rule != b->rule) return a->rule < b->rule ? -1 : 1;
  if (a->span.end != b->span.end) return a->span.end < b->span.end ? -1 : 1;
  return strcmp(a->message, b->message);
}

void eql_diag_list_sort(eql_diag_list *l) {
  if (l->n > 1) qsort(l->items, l->n, sizeof *l->items, cmp_diag);
  size_t w = 0;
  for (size_t i = 0; i < l->n; i++) {
    if (w > 0 && cmp_diag(&l->items[w - 1], &l->items[i]) == 0 &&
        l->items[w - 1].span.start == l->items[i].span.start) {
      eql_diag_clear(&l->items[i]);
      continue;
    }
    l->items[w++] = l->items[i];
  }
  l->n = w;
}
