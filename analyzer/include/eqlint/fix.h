/* The fix engine: applies the fixes diagnostics carry (diag.h) to file texts, in memory.
 *
 * One round over a file takes its fixable diagnostics in source order and keeps a fix only
 * if none of its edits overlaps an edit already kept (an identical edit, such as two fixes
 * adding the same `import equinox as eqx`, is shared); the others wait for the next round.
 * eql_fix_project runs rounds over a whole project until nothing changes (bounded), checking
 * the project again after each round so that fixes are computed on fresh text, and drops any
 * fix that would leave a syntax error. Nothing here writes files: the caller decides between
 * writing (fixio.h), printing a diff, or printing the fixed text. */
#ifndef EQLINT_FIX_H
#define EQLINT_FIX_H
#include <stdbool.h>
#include <stddef.h>
#include "eqlint/check.h"
#include "eqlint/diag.h"
#include "eqlint/rules.h"

/* Applies, to text[0..len), the fixes of the `n` diagnostics `ds` (all of this file) that are
 * applicable (safe ones, and unsafe ones too when `unsafe`). applied[i] is set to 1 for each
 * diagnostic whose fix went in. *out (malloc'd, NUL-terminated, caller frees) receives the new
 * text; it is NULL and the return value 0 when no fix applied. Returns the number of fixes
 * applied, or -1 when out of memory. */
long eql_fix_apply(const char *text, size_t len, eql_diag *const *ds, size_t n, bool unsafe,
                   char **out, size_t *out_len, unsigned char *applied);

/* Whether text parses as Python: 1 yes, 0 no, -1 out of memory. What every fixed text must
 * still do (a fix that breaks the parse is dropped). */
int eql_fix_parses(const char *path, const char *text, size_t len);

/* One file the fixes changed: its text before the first round (the bytes read from disk)
 * and after the last. */
typedef struct eql_fixed_file {
  char *path;
  char *before, *after;
  size_t before_len, after_len;
  size_t nfixed;
} eql_fixed_file;

typedef struct eql_fix_report {
  eql_fixed_file *files; /* only files whose text changed, in the order first fixed */
  size_t nfiles;
  size_t fixed[EQL_RULE_COUNT]; /* diagnostics repaired, per rule */
  size_t total;
  /* Diagnostics whose fix was dropped because the fixed file would not parse (their spans
   * refer to the text at that round). A bug in eqlint, reported to the user as such. */
  eql_diag_list dropped;
  unsigned rounds;
} eql_fix_report;

void eql_fix_report_free(eql_fix_report *r);

/* Runs the checks: fills `out` with the diagnostics the user would see (selection,
 * suppressions and per-file ignores applied). 0, or -1 when out of memory. */
typedef int (*eql_fix_check_fn)(void *ud, eql_diag_list *out);

/* Fixes the project's files named in `fixable` (the paths the user asked to check; files
 * outside them, notebooks and C files are never changed) until no applicable fix is left or
 * `max_rounds` rounds ran. Each changed file's new text is put in the project
 * (eql_project_set_source), so `remaining` (filled by a last check) and later code frames
 * refer to the fixed text. Returns 0, or -1 when out of memory. */
int eql_fix_project(eql_project *p, eql_fix_check_fn check, void *ud,
                    const char *const *fixable, size_t nfixable, bool unsafe,
                    unsigned max_rounds, eql_fix_report *rep, eql_diag_list *remaining);

#endif
