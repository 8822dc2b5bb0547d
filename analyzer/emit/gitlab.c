/* The gitlab format: a GitLab Code Quality report (a subset of Code Climate's issue format),
 * the artifact `artifacts: reports: codequality:` expects:
 *
 *   [{"description": "EQX001: ...", "check_name": "EQX001", "fingerprint": "<hex>",
 *     "severity": "major", "location": {"path": "src/a.py",
 *       "positions": {"begin": {"line": 15, "column": 13}, "end": {"line": 15, "column": 30}}}}]
 *
 * GitLab compares reports of the source and target branches by fingerprint to show what a
 * merge request introduces and fixes, so the fingerprint is fingerprint.c's line-number-free
 * digest (an edit above a finding must not turn it into "fixed one, introduced one"), and it
 * is unique within a report (the occurrence index separates identical lines). Severities:
 * error -> major, warning -> minor, info -> info. Paths are relative to the checkout. */
#include <stdlib.h>
#include <string.h>

#include "emit_internal.h"

static const char *gitlab_severity(eql_severity s) {
  switch (s) {
    case EQL_SEV_ERROR: return "major";
    case EQL_SEV_WARNING: return "minor";
    default: return "info";
  }
}

static json_t *issue(const eql_diag *d, const char *fingerprint, const char *root) {
  const eql_rule_info *r = eql_emit_rule_of(d);
  const char *code = eql_emit_code_of(d), *msg = d->message ? d->message : "";
  /* The code leads the description: the merge request widget shows only the description. */
  size_t n = strlen(code) + strlen(msg) + 32;
  char *desc = malloc(n), *path = eql_emit_report_path(d->path, root);
  json_t *jdesc = NULL, *jpath = NULL;
  if (desc && path) {
    /* Notebooks: positions count lines within the cell, so the description names it. */
    if (d->cell) snprintf(desc, n, "%s: cell %u: %s", code, (unsigned)d->cell, msg);
    else snprintf(desc, n, "%s: %s", code, msg);
    jdesc = eql_emit_json_text(desc);
    jpath = eql_emit_json_text(path);
  }
  free(desc);
  free(path);
  if (!jdesc || !jpath) {
    json_decref(jdesc);
    json_decref(jpath);
    return NULL;
  }
  return json_pack("{s:o, s:s, s:s, s:s, s:{s:o, s:{s:{s:I, s:I}, s:{s:I, s:I}}}}",
                   "description", jdesc, "check_name", code, "fingerprint", fingerprint,
                   "severity", gitlab_severity(r ? r->severity : EQL_SEV_ERROR), "location",
                   "path", jpath, "positions", "begin", "line", (json_int_t)d->span.line,
                   "column", (json_int_t)d->span.col, "end", "line",
                   (json_int_t)d->span.end_line, "column", (json_int_t)d->span.end_col);
}

int eql_emit_gitlab(FILE *out, const eql_diag_list *diags, eql_emit_source_fn source,
                    const void *ud, const eql_emit_options *opts) {
  const char *root = opts ? opts->root : NULL;
  eql_emit_fingerprint *fps = calloc(diags->n ? diags->n : 1, sizeof *fps);
  if (!fps || eql_emit_fingerprints(diags, source, ud, root, fps) != 0) {
    free(fps);
    return -1;
  }
  json_t *arr = json_array();
  for (size_t i = 0; arr && i < diags->n; i++)
    if (json_array_append_new(arr, issue(&diags->items[i], fps[i], root)) != 0) {
      json_decref(arr);
      arr = NULL;
    }
  free(fps);
  if (eql_emit_json_dump(out, arr, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) return -1;
  return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}
