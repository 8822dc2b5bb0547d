/* Shared rule helpers (see rule_util.h). Not a rule: it has no documentation comment of a
 * rule and no row in rules.def. */
#include "rule_util.h"

#include <string.h>

const eql_func *eql_ru_own_method(const eql_class *c, const char *name) {
  for (unsigned i = 0; i < c->nmethods; i++)
    if (!strcmp(c->methods[i]->name, name)) return c->methods[i];
  return NULL;
}

/* Bases that neither declare fields nor define `__init__`. */
static int harmless_base(const char *canon) {
  static const char *const names[] = {"typing.Generic", "typing.Protocol", "abc.ABC", "object",
                                      "typing_extensions.Protocol", NULL};
  for (int i = 0; names[i]; i++)
    if (!strcmp(canon, names[i])) return 1;
  return 0;
}

int eql_ru_resolve_base(const eql_index *idx, const eql_facts *f, const eql_expr *b,
                        eql_classref *out, int *is_module_root) {
  memset(out, 0, sizeof *out);
  *is_module_root = 0;
  if (b && b->kind == EQL_E_SUBSCRIPT) b = b->a;
  if (!b) return -1;
  const char *canon = eql_facts_canon_ro(f, b);
  if (canon && !strcmp(canon, "equinox.Module")) {
    *is_module_root = 1;
    return 0;
  }
  if (canon && harmless_base(canon)) return 0;
  if (canon) return eql_index_resolve(idx, f, canon, out) ? 1 : -1;
  if (b->kind == EQL_E_NAME) {
    const eql_binding *bd = eql_facts_lookup(f, b->name, b->scope, b->start);
    if (bd && bd->kind == EQL_B_CLASS && bd->cls) {
      out->facts = f;
      out->cls = bd->cls;
      return 1;
    }
  }
  return -1;
}

static const eql_func *base_method(const eql_index *idx, const eql_facts *f, const eql_class *c,
                                   const char *name, const eql_facts **in, int depth) {
  if (depth > 16) return NULL;
  for (unsigned i = 0; i < c->nbases; i++) {
    eql_classref ref;
    int root;
    if (eql_ru_resolve_base(idx, f, c->bases[i], &ref, &root) != 1 || !ref.cls) continue;
    const eql_func *m = eql_ru_own_method(ref.cls, name);
    if (m) {
      if (in) *in = ref.facts;
      return m;
    }
    m = base_method(idx, ref.facts, ref.cls, name, in, depth + 1);
    if (m) return m;
  }
  return NULL;
}

const eql_func *eql_ru_base_method(const eql_index *idx, const eql_facts *f, const eql_class *c,
                                   const char *name, const eql_facts **in) {
  return base_method(idx, f, c, name, in, 0);
}
