/* Arena allocation: every fact, string and diagnostic buffer of one file lives in one arena
 * and is freed with it. Objects allocated from an arena are never freed one by one. */
#ifndef EQLINT_ARENA_H
#define EQLINT_ARENA_H
#include <stddef.h>

typedef struct eql_arena eql_arena;

/* Returns a new arena (caller owns; free with eql_arena_free) or NULL when out of memory. */
eql_arena *eql_arena_new(void);
void eql_arena_free(eql_arena *a);
/* Zeroed memory owned by the arena; NULL only when out of memory. */
void *eql_arena_alloc(eql_arena *a, size_t n);
/* Copies of strings owned by the arena. */
char *eql_arena_strndup(eql_arena *a, const char *s, size_t n);
char *eql_arena_strdup(eql_arena *a, const char *s);
/* printf into the arena. */
char *eql_arena_printf(eql_arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Bytes currently held, for budgets and benchmarks. */
size_t eql_arena_used(const eql_arena *a);

/* A growable array of pointers backed by an arena (old buffers are left to the arena). */
typedef struct {
  void **items;
  unsigned n, cap;
} eql_vec;
int eql_vec_push(eql_arena *a, eql_vec *v, void *item);

#endif
