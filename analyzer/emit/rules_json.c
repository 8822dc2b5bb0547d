/* `eqlint rule --format json`: the rule table for programs (editor plugins listing the rules,
 * documentation generators, CI dashboards linking findings to their pages), in the shape
 * of `ruff rule --output-format json`:
 *
 *   {"code": "EQX001", "name": "optimizer-init-unfiltered", "severity": "error",
 *    "fixable": false, "summary": "...", "url": "https://eqlint.dev/rules/EQX001",
 *    "explanation": "## What it does\n..."}
 *
 * one object for one rule, an array of them (in code order) for --all. The explanation is
 * the rule file's leading comment, exactly what `eqlint rule CODE` prints as text. */
#include "emit_internal.h"

static json_t *rule_object(const eql_rule_info *r) {
  char url[128];
  snprintf(url, sizeof url, "%s%s", EQL_EMIT_RULE_URL_BASE, r->code);
  /* The doc is a comment's text: drop the blank before its first heading, as the text
   * rendering does. */
  const char *doc = r->doc ? r->doc : "";
  while (*doc == ' ' || *doc == '\t' || *doc == '\n') doc++;
  json_t *explanation = eql_emit_json_text(doc);
  if (!explanation) return NULL;
  return json_pack("{s:s, s:s, s:s, s:b, s:s, s:s, s:o}", "code", r->code, "name", r->name,
                   "severity", eql_severity_name(r->severity), "fixable", r->fixable,
                   "summary", r->summary, "url", url, "explanation", explanation);
}

int eql_emit_rules_json(FILE *out, int rule) {
  json_t *j;
  if (rule >= 0) {
    if (rule >= EQL_RULE_COUNT) return -1;
    j = rule_object(&eql_rules[rule]);
  } else {
    j = json_array();
    for (int i = 0; j && i < EQL_RULE_COUNT; i++)
      if (json_array_append_new(j, rule_object(&eql_rules[i])) != 0) {
        json_decref(j);
        j = NULL;
      }
  }
  if (eql_emit_json_dump(out, j, JSON_INDENT(2) | JSON_PRESERVE_ORDER) != 0) return -1;
  return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}
