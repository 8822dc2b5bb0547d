/* Diagnostic lists. Diagnostics outlive the facts they came from (the CLI prints them after
 * all files are checked), so they own heap copies of their strings. */
#include "eqlint/diag.h"

#include <stdlib.h>
#include <string.h>

void eql_diag_list_init(eql_diag_list *l) { memset(l, 0, sizeof *l); }

static void diag_free(eql_diag *d) {
  free(d->path);
  free(d->message);
  free(d->help);
  free(d->related_message);
}

void eql_diag_list_free(eql_diag_list *l) {
  for (size_t i = 0; i < l->n; i++) diag_free(&l->items[i]);
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
    diag_free(d);
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
      diag_free(&l->items[i]);
      continue;
    }
    l->items[w++] = l->items[i];
  }
  l->n = w;
}
