/* Helpers several rules share: class hierarchy walks that only read other files' facts
 * (rules run on several threads, so nothing here allocates in a facts arena). */
#ifndef EQLINT_RULE_UTIL_H
#define EQLINT_RULE_UTIL_H
#include "eqlint/facts.h"
#include "eqlint/index.h"

/* The method `name` defined in class `c` itself, or NULL. */
const eql_func *eql_ru_own_method(const eql_class *c, const char *name);
/* The class a base-class expression names: 1 with *out filled; 0 when it is
 * `equinox.Module` (*is_module_root set) or a base that adds nothing (Generic, Protocol,
 * ABC, object); -1 when unknown. */
int eql_ru_resolve_base(const eql_index *idx, const eql_facts *f, const eql_expr *b,
                        eql_classref *out, int *is_module_root);
/* The method `name` of a base class of `c`, depth first and left to right (the MRO of
 * simple hierarchies), and its file in *in (may be NULL); NULL when there is none. */
const eql_func *eql_ru_base_method(const eql_index *idx, const eql_facts *f, const eql_class *c,
                                   const char *name, const eql_facts **in);

#endif
