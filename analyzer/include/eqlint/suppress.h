/* Suppression comments (`# noqa`, `# noqa: EQX001`, `# eqlint: noqa[: codes]`,
 * `// NOLINT(EQX001)`) and the unused-suppression check (EQX900). */
#ifndef EQLINT_SUPPRESS_H
#define EQLINT_SUPPRESS_H
#include "eqlint/diag.h"
#include "eqlint/facts.h"
#include "eqlint/rules.h"

typedef struct eql_suppressions eql_suppressions;

/* Reads the suppression comments of a file. Caller owns the result (eql_suppress_free);
 * NULL when out of memory. */
eql_suppressions *eql_suppress_parse(const eql_facts *f);
void eql_suppress_free(eql_suppressions *s);
/* Removes (and frees) the diagnostics a suppression covers, remembering which codes were
 * used. Returns how many were removed. */
int eql_suppress_apply(eql_suppressions *s, eql_diag_list *diags);
/* Appends an EQX900 diagnostic for each eqlint code of a suppression that covered nothing
 * (only codes of enabled rules). 0, or -1 when out of memory. */
int eql_suppress_unused(eql_suppressions *s, const eql_source *src, const eql_ruleset *rules,
                        eql_diag_list *out);

#endif
