/* ## What it does
 * Checks for an `equinox.Module` class that has both a custom `__init__` and a
 * `__post_init__`: defined side by side in the class, a `__post_init__` added to a class
 * that inherits a custom `__init__`, or a custom `__init__` added to a class that inherits
 * a `__post_init__`.
 *
 * ## Why is this bad
 * `__post_init__` is called by the `__init__` that dataclasses generate. A user-provided
 * `__init__` replaces that generated method, so the `__post_init__` never runs: its checks
 * and derived fields silently do not happen. Equinox warns at class creation: "has both an
 * `__init__` method and a `__post_init__` method. This means that the `__post_init__`
 * method will not be run!"
 *
 * ## Example
 * ```python
 * class Encoder(eqx.Module):
 *     linear: eqx.nn.Linear
 *
 *     def __init__(self, size, key):
 *         self.linear = eqx.nn.Linear(size, size, key=key)
 *
 *     def __post_init__(self):
 *         assert self.linear.in_features > 0
 * ```
 *
 * ## Use instead
 * Put the code at the end of `__init__`, or, for invariants, use `__check_init__`, which
 * Equinox always runs after initialisation:
 * ```python
 *     def __check_init__(self):
 *         assert self.linear.in_features > 0
 * ```
 *
 * ## Fix safety
 * No automatic fix: whether the code belongs at the end of `__init__` (it sets fields) or in
 * `__check_init__` (it only checks) is the author's choice.
 *
 * ## Known limits
 * Only classes known to be Modules are checked, and inherited methods are found only in
 * base classes of this run (not in classes from installed libraries, except `equinox.nn`
 * layers, which all have a custom `__init__`). A class that merely inherits both methods
 * from one base is reported once, on that base.
 */
#include <string.h>

#include "eqlint/ctx.h"
#include "rule_util.h"
#include "eqlint/value.h"





/* Where the `__init__` that instances of `c` run comes from, as Equinox decides it: 1 = a
 * custom one (*from_name names the class defining it), 0 = the dataclass-generated one,
 * -1 = unknown (a base from outside this run). */
static int inherited_init(const eql_index *idx, const eql_facts *f, const eql_class *c,
                          const char **from_name, int depth) {
  if (depth > 16) return -1;
  for (unsigned i = 0; i < c->nbases; i++) {
    eql_classref ref;
    int root;
    int r = eql_ru_resolve_base(idx, f, c->bases[i], &ref, &root);
    if (r < 0) return -1;
    if (r == 0) {
      if (root) return 0;
      continue;
    }
    if (ref.layer) {
      *from_name = eql_classref_name(&ref);
      return 1; /* every equinox.nn layer has its own __init__ */
    }
    if (eql_ru_own_method(ref.cls, "__init__")) {
      *from_name = ref.cls->qualname;
      return 1;
    }
    if (eql_index_is_module(idx, &ref) == EQL_YES)
      return inherited_init(idx, ref.facts, ref.cls, from_name, depth + 1);
    /* a plain class without __init__: the MRO goes on to the next base */
  }
  return -1;
}


void eql_check_EQX011(eql_ctx *ctx) {
  const eql_facts *f = ctx->facts;
  const char *help = "move the code to the end of `__init__`, or, if it only checks invariants, "
                     "rename it `__check_init__` (Equinox always runs that)";
  for (unsigned i = 0; i < f->classes.n; i++) {
    const eql_class *c = f->classes.items[i];
    eql_classref self = {f, c, NULL};
    if (eql_index_is_module(ctx->index, &self) != EQL_YES) continue;
    const eql_func *init = eql_ru_own_method(c, "__init__");
    const eql_func *post = eql_ru_own_method(c, "__post_init__");
    if (init && post) {
      eql_diag *d = eql_report(ctx, post->name_start, post->name_end, help,
                               "`%s` has both an `__init__` method and a `__post_init__` method: "
                               "the custom `__init__` replaces the dataclass one that calls "
                               "`__post_init__`, so `__post_init__` will not be run",
                               c->qualname);
      if (d)
        eql_diag_set_related(d, f->src, init->name_start, init->name_end,
                             "the custom `__init__` is defined here");
      continue;
    }
    if (post) {
      const char *from = NULL;
      if (inherited_init(ctx->index, f, c, &from, 0) == 1 && from)
        eql_report(ctx, post->name_start, post->name_end, help,
                   "`%s` inherits a custom `__init__` from `%s`, so its `__post_init__` will not "
                   "be run (only the dataclass-generated `__init__` calls it)",
                   c->qualname, from);
      continue;
    }
    if (init) {
      const eql_func *inherited = eql_ru_base_method(ctx->index, f, c, "__post_init__", NULL);
      if (!inherited || !inherited->cls) continue;
      eql_report(ctx, init->name_start, init->name_end, help,
                 "`%s` defines a custom `__init__` but inherits `__post_init__` from `%s`: the "
                 "custom `__init__` replaces the dataclass one that calls it, so `__post_init__` "
                 "will not be run",
                 c->qualname, inherited->cls->qualname);
    }
  }
}
