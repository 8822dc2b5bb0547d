/* A shared main for the CUnit suites: registers one suite from a table, runs it verbosely,
 * and turns the outcome into the exit status ctest looks at. CUnit's own basic runner
 * returns success even when assertions fail, so every suite must end through here. */
#ifndef EQL_CUNIT_MAIN_H
#define EQL_CUNIT_MAIN_H
#include <CUnit/Basic.h>
#include <stdio.h>

typedef struct eql_test {
  const char *name;
  CU_TestFunc fn;
} eql_test;

/* Runs `tests` (n entries) as suite `suite`. Returns 0 when every assertion held, 1 when any
 * failed, 2 when CUnit itself could not run. */
static inline int eql_cunit_run(const char *suite, const eql_test *tests, size_t n) {
  if (CU_initialize_registry() != CUE_SUCCESS) {
    fprintf(stderr, "%s: cannot initialise CUnit: %s\n", suite, CU_get_error_msg());
    return 2;
  }
  CU_pSuite s = CU_add_suite(suite, NULL, NULL);
  for (size_t i = 0; s && i < n; i++)
    if (!CU_add_test(s, tests[i].name, tests[i].fn)) s = NULL;
  if (!s) {
    fprintf(stderr, "%s: cannot register tests: %s\n", suite, CU_get_error_msg());
    CU_cleanup_registry();
    return 2;
  }
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  unsigned failed = CU_get_number_of_failures() + CU_get_number_of_suites_failed();
  unsigned ran = CU_get_number_of_tests_run();
  CU_cleanup_registry();
  if (ran != n) {
    fprintf(stderr, "%s: only %u of %zu tests ran\n", suite, ran, n);
    return 1;
  }
  return failed ? 1 : 0;
}

#define EQL_TEST(fn) {#fn, fn}

#endif
