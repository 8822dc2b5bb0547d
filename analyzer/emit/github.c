/* The github format: GitHub Actions workflow commands, one per diagnostic, which the runner
 * turns into annotations on the pull request's diff:
 *
 *   ::error file=src/a.py,line=15,col=13,endLine=15,endColumn=30,title=EQX001 (optimizer-init-unfiltered)::message
 *
 * error for errors, warning for warnings, notice for info. The runner parses these lines,
 * so escaping is a correctness matter, not cosmetics: in the message `%`, CR and LF are
 * percent-encoded, and in property values `:` and `,` as well (they delimit properties);
 * anything else that could drive a terminal is escaped as in the other text formats
 * (eql_emit_workflow_escaped). Paths are made relative to the checkout (options.root), as
 * GitHub matches them against the repository. */
#include <stdlib.h>

#include "emit_internal.h"

static const char *command_of(eql_severity s) {
  switch (s) {
    case EQL_SEV_ERROR: return "error";
    case EQL_SEV_WARNING: return "warning";
    default: return "notice";
  }
}

int eql_emit_github(FILE *out, const eql_diag_list *diags, const eql_emit_options *opts) {
  for (size_t i = 0; i < diags->n; i++) {
    const eql_diag *d = &diags->items[i];
    const eql_rule_info *r = eql_emit_rule_of(d);
    char *path = eql_emit_report_path(d->path, opts ? opts->root : NULL);
    if (!path) return -1;
    fprintf(out, "::%s file=", command_of(r ? r->severity : EQL_SEV_ERROR));
    eql_emit_workflow_escaped(out, path, true);
    free(path);
    fprintf(out, ",line=%u,col=%u,endLine=%u,endColumn=%u,title=", (unsigned)d->span.line,
            (unsigned)d->span.col, (unsigned)d->span.end_line, (unsigned)d->span.end_col);
    eql_emit_workflow_escaped(out, eql_emit_code_of(d), true);
    if (r) {
      fputs(" (", out);
      eql_emit_workflow_escaped(out, r->name, true);
      fputs(")", out);
    }
    fputs("::", out);
    /* Notebooks: line= counts within the cell, so the message says which cell. */
    if (d->cell) fprintf(out, "cell %u: ", (unsigned)d->cell);
    eql_emit_workflow_escaped(out, d->message ? d->message : "", false);
    fputc('\n', out);
  }
  return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}
