/* Arena allocator. Front ends allocate thousands of small facts per file; a bump allocator
 * over 64 KiB chunks makes that cheap and makes freeing a file's facts one call. Large
 * requests get a chunk of their own. */
#include "eqlint/arena.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CHUNK 65536u

typedef struct chunk {
  struct chunk *next;
  size_t used, cap;
  max_align_t data[];
} chunk;

struct eql_arena {
  chunk *head;
  size_t total;
};

eql_arena *eql_arena_new(void) { return calloc(1, sizeof(eql_arena)); }

void eql_arena_free(eql_arena *a) {
  if (!a) return;
  chunk *c = a->head;
  while (c) {
    chunk *n = c->next;
    free(c);
    c = n;
  }
  free(a);
}

void *eql_arena_alloc(eql_arena *a, size_t n) {
  size_t align = sizeof(max_align_t);
  n = (n + align - 1) & ~(align - 1);
  if (n == 0) n = align;
  chunk *c = a->head;
  if (!c || c->cap - c->used < n) {
    size_t cap = n > CHUNK / 2 ? n : CHUNK;
    chunk *nc = malloc(sizeof(chunk) + cap);
    if (!nc) return NULL;
    nc->used = 0;
    nc->cap = cap;
    if (cap == n && c) {
      /* a big block: keep the current chunk in front so small allocations continue there */
      nc->next = c->next;
      c->next = nc;
    } else {
      nc->next = c;
      a->head = nc;
    }
    a->total += cap;
    c = nc;
  }
  void *p = (char *)c->data + c->used;
  c->used += n;
  memset(p, 0, n);
  return p;
}

char *eql_arena_strndup(eql_arena *a, const char *s, size_t n) {
  char *p = eql_arena_alloc(a, n + 1);
  if (!p) return NULL;
  memcpy(p, s, n);
  p[n] = 0;
  return p;
}

char *eql_arena_strdup(eql_arena *a, const char *s) { return eql_arena_strndup(a, s, strlen(s)); }

char *eql_arena_printf(eql_arena *a, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) return NULL;
  char *p = eql_arena_alloc(a, (size_t)n + 1);
  if (!p) return NULL;
  va_start(ap, fmt);
  vsnprintf(p, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return p;
}

size_t eql_arena_used(const eql_arena *a) { return a->total; }

int eql_vec_push(eql_arena *a, eql_vec *v, void *item) {
  if (v->n == v->cap) {
    unsigned cap = v->cap ? v->cap * 2 : 8;
    void **items = eql_arena_alloc(a, cap * sizeof(void *));
    if (!items) return -1;
    if (v->n) memcpy(items, v->items, v->n * sizeof(void *));
    v->items = items;
    v->cap = cap;
  }
  v->items[v->n++] = item;
  return 0;
}
