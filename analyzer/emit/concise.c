/* The concise format, for other programs (editors' problem matchers, grep, CI annotations):
 *
 *   path:line:col: CODE message
 *   path:line:col: CODE [*] message      (Ruff's mark: `--fix` can repair it)
 *
 * exactly one line per diagnostic and nothing else, no summary. The shape is a contract:
 * paths and messages are escaped (eql_emit_escaped) so that no newline or control byte can
 * split or forge a line. Colour, when asked for, only wraps the fields; with it stripped the
 * line is byte-for-byte the plain one.
 *
 * Also here: the project adapter every format shares (format names and dispatch are in
 * formats.c). */
#include <string.h>

#include "eqlint/check.h"
#include "eqlint/emit.h"
#include "eqlint/rules.h"

const eql_source *eql_emit_project_source(const void *project, const char *path) {
  return eql_project_source((const eql_project *)project, path);
}

int eql_emit_concise(FILE *out, const eql_diag_list *diags, const eql_emit_options *opts) {
  bool color = opts && opts->color;
  for (size_t i = 0; i < diags->n; i++) {
    const eql_diag *d = &diags->items[i];
    const eql_rule_info *r = d->rule >= 0 && d->rule < EQL_RULE_COUNT ? &eql_rules[d->rule] : NULL;
    if (color) fputs("\x1b[1m", out);
    eql_emit_escaped(out, d->path);
    if (d->cell) fprintf(out, ":cell %u", (unsigned)d->cell); /* path.ipynb:cell 3:2:5: */
    fprintf(out, ":%u:%u:", (unsigned)d->span.line, (unsigned)d->span.col);
    if (color) {
      const char *sc = !r || r->severity == EQL_SEV_ERROR     ? "\x1b[1;31m"
                       : r->severity == EQL_SEV_WARNING ? "\x1b[1;33m"
                                                        : "\x1b[1;36m";
      fprintf(out, "\x1b[0m %s%s\x1b[0m ", sc, r ? r->code : "EQX???");
    } else {
      fprintf(out, " %s ", r ? r->code : "EQX???");
    }
    if (eql_diag_fixable(d, opts && opts->unsafe_fixes)) fputs("[*] ", out);
    eql_emit_escaped(out, d->message ? d->message : "");
    fputc('\n', out);
  }
  return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}
