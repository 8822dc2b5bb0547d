/* Diagnostics: what a rule reports. A diagnostic owns its strings (heap); a list owns its
 * diagnostics. Locations are byte ranges plus the 1-based line/column derived from them. */
#ifndef EQLINT_DIAG_H
#define EQLINT_DIAG_H
#include <stdint.h>
#include <stdio.h>
#include "eqlint/source.h"

typedef enum { EQL_SEV_INFO = 0, EQL_SEV_WARNING = 1, EQL_SEV_ERROR = 2 } eql_severity;

typedef struct eql_span {
  uint32_t start, end;                /* byte offsets, end exclusive */
  uint32_t line, col, end_line, end_col; /* 1-based; col in code points */
} eql_span;

/* An automatic fix: edits to the file's bytes that resolve the diagnostic. Safe fixes keep
 * what the code means (Ruff's definition) and `--fix` applies them; unsafe ones may change
 * behaviour the user relied on and need `--unsafe-fixes`. */
typedef enum { EQL_FIX_SAFE = 0, EQL_FIX_UNSAFE = 1 } eql_applicability;

typedef struct eql_edit {
  eql_span span;       /* the bytes replaced (empty for an insertion) */
  char *text;          /* what replaces them (owned; "" deletes) */
} eql_edit;

typedef struct eql_fix {
  eql_applicability applicability;
  char *title;         /* imperative, for editors' menus: "Wrap `model` in `eqx.filter`" */
  eql_edit *edits;     /* sorted by position, never overlapping (owned) */
  unsigned nedits;
} eql_fix;

typedef struct eql_diag {
  int rule;            /* an eql_rule_id */
  char *path;          /* the file, as displayed */
  uint32_t cell;       /* notebooks: 1-based cell; span lines then count within the cell.
                        * 0 for ordinary files. Byte offsets always index the file's source. */
  eql_span span;
  char *message;       /* one sentence: what is wrong, in Equinox's words where possible */
  char *help;          /* the fix, or NULL */
  int has_related;     /* a second place (EQX002: the other field) */
  eql_span related;
  char *related_message;
  eql_fix *fix;        /* NULL when eqlint cannot repair it mechanically (owned) */
} eql_diag;

typedef struct eql_diag_list {
  eql_diag *items;
  size_t n, cap;
} eql_diag_list;

void eql_diag_list_init(eql_diag_list *l);
void eql_diag_list_free(eql_diag_list *l);
/* Frees what one diagnostic owns (for code that removes items from a list in place). */
void eql_diag_clear(eql_diag *d);
/* Appends a copy of the strings; returns the new diagnostic or NULL when out of memory. */
eql_diag *eql_diag_add(eql_diag_list *l, int rule, const eql_source *src, uint32_t start,
                       uint32_t end, const char *message, const char *help);
void eql_diag_set_related(eql_diag *d, const eql_source *src, uint32_t start, uint32_t end,
                          const char *message);
/* Adds an edit to d's fix, creating the fix (safe, titled `title`) on the first call; later
 * calls ignore `title`. Edits may come in any order; an edit that overlaps one already there
 * makes the whole fix invalid and it is dropped (so a rule cannot emit a broken fix).
 * Returns 0, or -1 when out of memory (the fix is then dropped too). */
int eql_diag_add_edit(eql_diag *d, const eql_source *src, const char *title, uint32_t start,
                      uint32_t end, const char *text);
/* Marks d's fix unsafe (no-op without a fix). */
void eql_diag_fix_unsafe(eql_diag *d);
/* Drops d's fix. */
void eql_diag_drop_fix(eql_diag *d);
/* Whether d has a fix that a run with unsafe fixes on/off would apply. */
int eql_diag_fixable(const eql_diag *d, int unsafe_fixes);
/* A deep copy of a fix (NULL when out of memory or f is NULL). */
eql_fix *eql_fix_copy(const eql_fix *f);
void eql_fix_free(eql_fix *f);
/* Moves every diagnostic of `from` to the end of `to` (from is left empty). */
int eql_diag_list_take(eql_diag_list *to, eql_diag_list *from);
/* Sorts by path, line, column, code: the order of every output. Removes exact duplicates. */
void eql_diag_list_sort(eql_diag_list *l);
/* Fills a span from byte offsets. */
void eql_span_from_bytes(eql_span *sp, const eql_source *src, uint32_t start, uint32_t end);

#endif
