/* `--statistics`: how often each rule fired, instead of the diagnostics themselves, for a
 * first look at a large codebase ("which pitfall do we have most of?"). Ruff's layout:
 *
 *   12	EQX001	optimizer-init-unfiltered
 *    3	EQX003	unfiltered-transform
 *
 * counts right-aligned and codes left-aligned to the widest entry, tab-separated, most
 * frequent first and ties by code so the order never depends on the input order. A `[*] `
 * column appears (as in Ruff) once some diagnostic of the run has a fix `--fix` would apply
 * (unsafe ones count with --unsafe-fixes); a rule is marked when one of its diagnostics has
 * one. The json variant is an array of {code, name, count, fixable} for dashboards. */
#include <stdlib.h>
#include <string.h>

#include "emit_internal.h"

typedef struct {
  int rule; /* eql_rule_id, or -1 for ids outside the table */
  size_t count;
} stat_row;

static int cmp_row(const void *a, const void *b) {
  const stat_row *x = a, *y = b;
  if (x->count != y->count) return x->count > y->count ? -1 : 1;
  /* Rule ids follow rules.def, which lists codes in order; unknown ids sort last. */
  unsigned rx = (unsigned)x->rule, ry = (unsigned)y->rule;
  return rx < ry ? -1 : rx > ry;
}

int eql_emit_statistics(FILE *out, const eql_diag_list *diags, bool json,
                        const eql_emit_options *opts) {
  stat_row rows[EQL_RULE_COUNT + 1];
  size_t nrows = 0, unknown = 0;
  size_t counts[EQL_RULE_COUNT] = {0};
  bool fixable[EQL_RULE_COUNT] = {false};
  for (size_t i = 0; i < diags->n; i++) {
    int r = diags->items[i].rule;
    if (r >= 0 && r < EQL_RULE_COUNT) {
      counts[r]++;
      if (eql_diag_fixable(&diags->items[i], opts && opts->unsafe_fixes)) fixable[r] = true;
    } else {
      unknown++;
    }
  }
  for (int r = 0; r < EQL_RULE_COUNT; r++)
    if (counts[r]) rows[nrows++] = (stat_row){r, counts[r]};
  if (unknown) rows[nrows++] = (stat_row){-1, unknown};
  qsort(rows, nrows, sizeof *rows, cmp_row);

  if (json) {
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < nrows; i++) {
      const eql_rule_info *ri = rows[i].rule >= 0 ? &eql_rules[rows[i].rule] : NULL;
      json_t *o = json_pack("{s:s, s:s?, s:I, s:b}", "code", ri ? ri->code : "EQX???", "name",
                            ri ? ri->name : NULL, "count", (json_int_t)rows[i].count,
                            "fixable", ri && fixable[rows[i].rule]);
      if (json_array_append_new(arr, o) != 0) {
        json_decref(arr);
        arr = NULL;
      }
    }
    if (eql_emit_json_dump(out, arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) return -1;
    return fflush(out) == 0 && !ferror(out) ? 0 : -1;
  }

  int wcount = 1, wcode = 1;
  bool any_fixable = false;
  for (size_t i = 0; i < nrows; i++) {
    const eql_rule_info *ri = rows[i].rule >= 0 ? &eql_rules[rows[i].rule] : NULL;
    int wc = snprintf(NULL, 0, "%zu", rows[i].count);
    int wd = (int)strlen(ri ? ri->code : "EQX???");
    if (wc > wcount) wcount = wc;
    if (wd > wcode) wcode = wd;
    if (ri && fixable[rows[i].rule]) any_fixable = true;
  }
  for (size_t i = 0; i < nrows; i++) {
    const eql_rule_info *ri = rows[i].rule >= 0 ? &eql_rules[rows[i].rule] : NULL;
    fprintf(out, "%*zu\t%-*s\t%s%s\n", wcount, rows[i].count, wcode, ri ? ri->code : "EQX???",
            !any_fixable ? "" : ri && fixable[rows[i].rule] ? "[*] " : "[ ] ",
            ri ? ri->name : "unknown-rule");
  }
  return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}
