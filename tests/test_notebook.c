/* Unit tests of notebook support: code cells become one program with a line map, magics
 * are blanked, bad notebooks give clear errors, and diagnostics point at (cell, line). */
#include <stdlib.h>
#include <string.h>

#include "cunit_main.h"
#include "eqlint/check.h"
#include "eqlint/notebook.h"

static void test_conversion_and_map(void) {
  const char *nb =
      "{\"cells\": ["
      "{\"cell_type\": \"markdown\", \"source\": [\"# title\\n\"]},"
      "{\"cell_type\": \"code\", \"source\": [\"%matplotlib inline\\n\", \"import jax\\n\"]},"
      "{\"cell_type\": \"code\", \"source\": \"!ls\\nx = 1\\nx?\"},"
      "{\"cell_type\": \"code\", \"source\": [\"%%bash\\n\", \"echo hi\\n\"]},"
      "{\"cell_type\": \"code\", \"source\": []}"
      "], \"nbformat\": 4}";
  char *text = NULL;
  size_t len = 0;
  eql_cellmap map;
  char err[200] = "";
  CU_ASSERT_EQUAL_FATAL(eql_notebook_to_python(nb, strlen(nb), &text, &len, &map, err, sizeof err), 0);
  CU_ASSERT_STRING_EQUAL(text, "\nimport jax\n\nx = 1\n\n\n\n\n");
  CU_ASSERT_EQUAL(len, strlen(text));
  /* program line 4 is "x = 1": cell 3 (the markdown cell counts), its line 2 */
  CU_ASSERT_TRUE_FATAL(map.nlines >= 5);
  CU_ASSERT_EQUAL(map.cell[3], 3);
  CU_ASSERT_EQUAL(map.line[3], 2);
  CU_ASSERT_EQUAL(map.cell[1], 2);
  CU_ASSERT_EQUAL(map.line[1], 2);
  free(text);
  eql_cellmap_free(&map);
}

static void test_bad_notebooks(void) {
  static const char *bad[] = {
    "{not json",
    "{\"cells\": 3}",
    "[]",
    "{\"cells\": [{\"cell_type\": \"code\", \"source\": [1, 2]}]}",
    "{\"cells\": [{\"cell_type\": \"code\", \"source\": {\"a\": 1}}]}",
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char *text = NULL;
    size_t len = 0;
    eql_cellmap map;
    char err[200] = "";
    CU_ASSERT_EQUAL(eql_notebook_to_python(bad[i], strlen(bad[i]), &text, &len, &map, err, sizeof err), -1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "notebook"));
    CU_ASSERT_PTR_NULL(text);
  }
}

static void test_diagnostic_cells(void) {
  eql_project *p = eql_project_new();
  const char *err = NULL;
  CU_ASSERT_EQUAL_FATAL(eql_project_add_file(p, "fixtures/notebooks/fit.ipynb", &err), 0);
  eql_ruleset rs;
  eql_ruleset_all(&rs);
  eql_diag_list out;
  eql_diag_list_init(&out);
  CU_ASSERT_EQUAL(eql_project_run(p, &rs, &out), 0);
  CU_ASSERT_EQUAL_FATAL(out.n, 1);
  CU_ASSERT_STRING_EQUAL(eql_rules[out.items[0].rule].code, "EQX001");
  CU_ASSERT_EQUAL(out.items[0].cell, 4);
  CU_ASSERT_EQUAL(out.items[0].span.line, 2);
  CU_ASSERT_EQUAL(out.items[0].span.col, 13);
  eql_diag_list_free(&out);
  eql_project_free(p);
}

int main(void) {
  static const eql_test tests[] = {
    EQL_TEST(test_conversion_and_map),
    EQL_TEST(test_bad_notebooks),
    EQL_TEST(test_diagnostic_cells),
  };
  return eql_cunit_run("notebook", tests, sizeof tests / sizeof *tests);
}
