/* What a rule sees: the facts of one file, the project index, and a way to report. */
#ifndef EQLINT_CTX_H
#define EQLINT_CTX_H
#include "eqlint/diag.h"
#include "eqlint/facts.h"
#include "eqlint/index.h"
#include "eqlint/rules.h"

typedef struct eql_ctx {
  const eql_facts *facts;
  const struct eql_index *index;
  eql_arena *scratch;      /* freed after the file's rules ran */
  eql_diag_list *out;
  int rule;                /* the rule running now */
} eql_ctx;

/* Reports a diagnostic of the running rule over bytes [start, end). Returns it so a rule can
 * add a related location, or NULL when out of memory. */
eql_diag *eql_report(eql_ctx *ctx, uint32_t start, uint32_t end, const char *help,
                     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* Adds an edit to the fix of d (a diagnostic this rule just reported): replace bytes
 * [start, end) of the file with `text` ("" deletes; start == end inserts). The first edit
 * creates the fix, safe, with `title` (what an editor's menu shows: "Replace `jax.jit` with
 * `eqx.filter_jit`"); eql_diag_fix_unsafe marks it unsafe. Overlapping edits void the fix.
 * Returns 0, or -1 (no fix). Notebooks and C files never keep fixes (the driver drops them). */
int eql_fix_edit(eql_ctx *ctx, eql_diag *d, const char *title, uint32_t start, uint32_t end,
                 const char *text);

#endif
