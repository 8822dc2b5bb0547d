/* The rule registry. rules/rules.def is the single place a code is declared; this header
 * turns it into an enum and a table. Each rule is one function in one file of rules/. */
#ifndef EQLINT_RULES_H
#define EQLINT_RULES_H
#include <stdbool.h>
#include "eqlint/diag.h"

struct eql_ctx;

/* rules.def rows: EQL_RULE(code, name, severity, fixable, summary) for rules with a check
 * function eql_check_<code>, EQL_DRIVER_RULE(...) for codes the driver itself reports. */
typedef enum {
#define EQL_RULE(code, name, sev, fixable, summary) EQL_R_##code,
#define EQL_DRIVER_RULE(code, name, sev, fixable, summary) EQL_R_##code,
#include "rules.def"
#undef EQL_RULE
#undef EQL_DRIVER_RULE
  EQL_RULE_COUNT
} eql_rule_id;

typedef void (*eql_rule_fn)(struct eql_ctx *ctx);

typedef struct eql_rule_info {
  const char *code;    /* "EQX001" */
  const char *name;    /* "optimizer-init-unfiltered" */
  eql_severity severity;
  bool fixable;
  const char *summary; /* one line */
  eql_rule_fn check;   /* NULL for codes produced by the driver (EQX900, EQX999) */
  const char *doc;     /* the rule file's leading comment, Markdown (generated) */
} eql_rule_info;

extern const eql_rule_info eql_rules[EQL_RULE_COUNT];

/* The rule with this code (case-insensitive), or -1. */
int eql_rule_find(const char *code);
const char *eql_severity_name(eql_severity s);

/* A selection of rules: a bitmask over eql_rule_id. */
typedef struct { bool on[EQL_RULE_COUNT]; } eql_ruleset;
/* Every rule on. */
void eql_ruleset_all(eql_ruleset *rs);
/* Applies a comma list of codes or prefixes ("EQX0,EQX101", "ALL") as select (on=true:
 * everything else off first) or ignore (on=false). Returns 0, or -1 with the bad item
 * copied to bad (size badlen). */
int eql_ruleset_select(eql_ruleset *rs, const char *list, char *bad, size_t badlen);
int eql_ruleset_ignore(eql_ruleset *rs, const char *list, char *bad, size_t badlen);

/* Rule entry points (defined in rules/eqxNNN_*.c). */
#define EQL_RULE(code, name, sev, fixable, summary) void eql_check_##code(struct eql_ctx *ctx);
#define EQL_DRIVER_RULE(code, name, sev, fixable, summary)
#include "rules.def"
#undef EQL_RULE
#undef EQL_DRIVER_RULE

#endif
