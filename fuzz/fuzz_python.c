/* libFuzzer harness: arbitrary bytes as a Python file through the whole analyzer — the
 * tree-sitter front end, the facts, the project index, every rule, suppressions — and a
 * second file that imports it, so the cross-file paths run too. */
#include <stddef.h>
#include <stdint.h>

#include "eqlint/check.h"

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
  eql_project_free(p);
  return 0;
}
