/* The rule table, built from rules/rules.def, and rule selection (--select/--ignore). The
 * documentation strings are generated at build time from each rule file's leading comment
 * (tools/gendocs.c), so the docs cannot drift from the code that implements them. */
#include "eqlint/rules.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define EQL_RULE(code, name, sev, fixable, summary) extern const char eql_doc_##code[];
#define EQL_DRIVER_RULE EQL_RULE
#include "rules.def"
#undef EQL_RULE
#undef EQL_DRIVER_RULE

const eql_rule_info eql_rules[EQL_RULE_COUNT] = {
#define EQL_RULE(code, name, sev, fixable, summary) \
  [EQL_R_##code] = {#code, name, sev, fixable, summary, eql_check_##code, eql_doc_##code},
#define EQL_DRIVER_RULE(code, name, sev, fixable, summary) \
  [EQL_R_##code] = {#code, name, sev, fixable, summary, NULL, eql_doc_##code},
#include "rules.def"
#undef EQL_RULE
#undef EQL_DRIVER_RULE
};

int eql_rule_find(const char *code) {
  for (int i = 0; i < EQL_RULE_COUNT; i++)
    if (strcasecmp(eql_rules[i].code, code) == 0 || strcmp(eql_rules[i].name, code) == 0)
      return i;
  return -1;
}

const char *eql_severity_name(eql_severity s) {
  switch (s) {
    case EQL_SEV_ERROR: return "error";
    case EQL_SEV_WARNING: return "warning";
    default: return "info";
  }
}

void eql_ruleset_all(eql_ruleset *rs) {
  for (int i = 0; i < EQL_RULE_COUNT; i++) rs->on[i] = true;
}

/* Applies one comma list; each item is ALL, a rule name, or a code prefix that matches at
 * least one rule (EQX, EQX0, EQX001). */
static int apply(eql_ruleset *rs, const char *list, bool on, char *bad, size_t badlen) {
  const char *p = list;
  while (*p) {
    while (*p == ',' || isspace((unsigned char)*p)) p++;
    if (!*p) break;
    const char *q = p;
    while (*q && *q != ',' && !isspace((unsigned char)*q)) q++;
    size_t n = (size_t)(q - p);
    int matched = 0;
    if (n == 3 && strncasecmp(p, "ALL", 3) == 0) {
      for (int i = 0; i < EQL_RULE_COUNT; i++) rs->on[i] = on;
      matched = 1;
    } else {
      for (int i = 0; i < EQL_RULE_COUNT; i++) {
        const eql_rule_info *r = &eql_rules[i];
        if ((n <= strlen(r->code) && strncasecmp(r->code, p, n) == 0) ||
            (n == strlen(r->name) && strncmp(r->name, p, n) == 0)) {
          rs->on[i] = on;
          matched = 1;
        }
      }
    }
    if (!matched) {
      if (bad && badlen) snprintf(bad, badlen, "%.*s", (int)n, p);
      return -1;
    }
    p = q;
  }
  return 0;
}

int eql_ruleset_select(eql_ruleset *rs, const char *list, char *bad, size_t badlen) {
  eql_ruleset tmp;
  memset(&tmp, 0, sizeof tmp);
  if (apply(&tmp, list, true, bad, badlen) < 0) return -1;
  *rs = tmp;
  return 0;
}

int eql_ruleset_ignore(eql_ruleset *rs, const char *list, char *bad, size_t badlen) {
  return apply(rs, list, false, bad, badlen);
}
