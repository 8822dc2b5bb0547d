/* The format table and dispatch: the one place a format's name is tied to its emitter, so
 * `--format`, the help text, error messages and `--show-settings` cannot disagree. */
#include <string.h>

#include "eqlint/emit.h"

static const char *const format_names[EQL_EMIT_FORMAT_COUNT] = {
    [EQL_EMIT_FULL] = "full",       [EQL_EMIT_CONCISE] = "concise",
    [EQL_EMIT_JSON] = "json",       [EQL_EMIT_JSON_LINES] = "json-lines",
    [EQL_EMIT_SARIF] = "sarif",     [EQL_EMIT_GITHUB] = "github",
    [EQL_EMIT_GITLAB] = "gitlab",   [EQL_EMIT_JUNIT] = "junit",
    [EQL_EMIT_PYLINT] = "pylint",
};

const char eql_emit_format_list[] =
    "full, concise, json, json-lines, sarif, github, gitlab, junit, pylint";

int eql_emit_format_from_name(const char *name) {
  for (int i = 0; i < EQL_EMIT_FORMAT_COUNT; i++)
    if (strcmp(name, format_names[i]) == 0) return i;
  return -1;
}

const char *eql_emit_format_name(eql_emit_format fmt) {
  return (int)fmt >= 0 && fmt < EQL_EMIT_FORMAT_COUNT ? format_names[fmt] : NULL;
}

int eql_emit(FILE *out, eql_emit_format fmt, const eql_diag_list *diags,
             eql_emit_source_fn source, const void *ud, const eql_emit_options *opts) {
  switch (fmt) {
    case EQL_EMIT_CONCISE: return eql_emit_concise(out, diags, opts);
    case EQL_EMIT_JSON: return eql_emit_json(out, diags, opts);
    case EQL_EMIT_JSON_LINES: return eql_emit_json_lines(out, diags, opts);
    case EQL_EMIT_SARIF: return eql_emit_sarif(out, diags, source, ud, opts);
    case EQL_EMIT_GITHUB: return eql_emit_github(out, diags, opts);
    case EQL_EMIT_GITLAB: return eql_emit_gitlab(out, diags, source, ud, opts);
    case EQL_EMIT_JUNIT: return eql_emit_junit(out, diags, opts);
    case EQL_EMIT_PYLINT: return eql_emit_pylint(out, diags, opts);
    case EQL_EMIT_FULL:
    default: return eql_emit_full(out, diags, source, ud, opts);
  }
}
