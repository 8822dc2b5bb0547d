/* The pylint format: `path:line: [CODE] message`, pylint's `--output-format=parseable`
 * shape as Ruff writes it, for tools that already parse pylint (Jenkins warnings-ng,
 * Emacs compile mode, older editor plugins); notebook cells as in concise
 * (`path.ipynb:cell 3:2: [CODE] message`). One line per diagnostic, no summary; paths and
 * messages go through eql_emit_escaped so no byte of a user's file can split a line. */
#include "emit_internal.h"

int eql_emit_pylint(FILE *out, const eql_diag_list *diags, const eql_emit_options *opts) {
  (void)opts;
  for (size_t i = 0; i < diags->n; i++) {
    const eql_diag *d = &diags->items[i];
    eql_emit_escaped(out, d->path);
    /* Notebooks as in concise (and Ruff): path.ipynb:cell 3:2: [CODE] message. */
    if (d->cell) fprintf(out, ":cell %u", (unsigned)d->cell);
    fprintf(out, ":%u: [%s] ", (unsigned)d->span.line, eql_emit_code_of(d));
    eql_emit_escaped(out, d->message ? d->message : "");
    fputc('\n', out);
  }
  return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}
