/* libFuzzer harness: arbitrary bytes as a Python file through the whole analyzer — the
 * tree-sitter front end, the facts, the project index, every rule, suppressions — and a
 * second file that imports it, so the cross-file paths run too. Then the fix engine, unsafe
 * fixes included, to a fixed point: a fix that would have broken the parse is a bug in a
 * rule (the engine drops it, the user is told), so the harness treats it as a crash. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "eqlint/check.h"
#include "eqlint/fix.h"

static int run_all(void *ud, eql_diag_list *out) {
  eql_ruleset rs;
  eql_ruleset_all(&rs);
  return eql_project_run(ud, &rs, out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char importer[] =
      "import optax, equinox as eqx\nfrom fuzzed import *\nfrom fuzzed import Model\n"
      "m = Model()\noptax.adam(1).init(m)\n";
  eql_project *p = eql_project_new();
  if (!p) return 0;
  eql_project_add_source(p, "fuzzed.py", (const char *)data, size);
  eql_project_add_source(p, "importer.py", importer, sizeof importer - 1);
  eql_ruleset rs;
  eql_ruleset_all(&rs);
  eql_diag_list out;
  eql_diag_list_init(&out);
  eql_project_run(p, &rs, &out);
  eql_diag_list_free(&out);
  static const char *const paths[] = {"fuzzed.py", "importer.py"};
  eql_fix_report rep;
  eql_diag_list_init(&out);
  if (eql_fix_project(p, run_all, p, paths, 2, true, 8, &rep, &out) == 0) {
    if (rep.dropped.n) {
      fprintf(stderr, "fuzz_python: the %s fix would leave a syntax error\n",
              eql_rules[rep.dropped.items[0].rule].code);
      abort();
    }
    eql_fix_report_free(&rep);
  }
  eql_diag_list_free(&out);
  eql_project_free(p);
  return 0;
}
