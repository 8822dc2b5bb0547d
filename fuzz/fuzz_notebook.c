/* libFuzzer harness: arbitrary bytes as an .ipynb notebook (JSON parsing, cell assembly,
 * magics) and, when it converts, the resulting program through the analyzer. */
#include <stdint.h>
#include <stdlib.h>

#include "eqlint/check.h"
#include "eqlint/notebook.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *text = NULL;
  size_t len = 0;
  eql_cellmap map;
  char err[256];
  if (eql_notebook_to_python((const char *)data, size, &text, &len, &map, err, sizeof err) == 0) {
    /* the map covers every line of the program */
    size_t lines = 1;
    for (size_t i = 0; i < len; i++) lines += text[i] == '\n';
    if (map.nlines < lines) abort();
    eql_project *p = eql_project_new();
    if (p) {
      eql_project_add_source(p, "nb.py", text, len);
      eql_ruleset rs;
      eql_ruleset_all(&rs);
      eql_diag_list out;
      eql_diag_list_init(&out);
      eql_project_run(p, &rs, &out);
      eql_diag_list_free(&out);
      eql_project_free(p);
    }
    free(text);
    eql_cellmap_free(&map);
  }
  return 0;
}
