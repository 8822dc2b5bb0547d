/* Shared by the rule suites: check one in-memory file with every rule on, and count the
 * diagnostics of one code. */
#ifndef EQL_CHECK_HELPERS_H
#define EQL_CHECK_HELPERS_H
#include <CUnit/Basic.h>
#include <string.h>

#include "eqlint/check.h"

/* Diagnostics of `code` checked as t.py (caller frees the list). */
static inline eql_diag_list eql_test_check(const char *code) {
  eql_diag_list out;
  eql_diag_list_init(&out);
  eql_project *p = eql_project_new();
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  CU_ASSERT_EQUAL(eql_project_add_source(p, "t.py", code, strlen(code)), 0);
  eql_ruleset rs;
  eql_ruleset_all(&rs);
  CU_ASSERT_EQUAL(eql_project_run(p, &rs, &out), 0);
  eql_project_free(p);
  return out;
}

static inline int eql_test_count(const eql_diag_list *l, const char *code) {
  int n = 0;
  for (size_t i = 0; i < l->n; i++)
    if (!strcmp(eql_rules[l->items[i].rule].code, code)) n++;
  return n;
}

/* The k-th (0-based) diagnostic of `code`, or NULL. */
static inline const eql_diag *eql_test_nth(const eql_diag_list *l, const char *code, int k) {
  for (size_t i = 0; i < l->n; i++)
    if (!strcmp(eql_rules[l->items[i].rule].code, code) && k-- == 0) return &l->items[i];
  return NULL;
}

/* The lines of the diagnostics of `code` (at most max); returns how many. */
static inline int eql_test_lines(const eql_diag_list *l, const char *code, int *lines, int max) {
  int n = 0;
  for (size_t i = 0; i < l->n && n < max; i++)
    if (!strcmp(eql_rules[l->items[i].rule].code, code)) lines[n++] = (int)l->items[i].span.line;
  return n;
}

#endif
