/* Helpers for rules that attach fixes: spelling an Equinox name the way the file does (and
 * adding `import equinox as eqx` when it has none), removing call arguments with their
 * commas, and the source text of expressions. Everything allocates in ctx->scratch. */
#ifndef EQLINT_RULE_FIX_H
#define EQLINT_RULE_FIX_H
#include <stdbool.h>
#include "eqlint/ctx.h"

/* The source text of e, exactly as written (scratch-owned). */
const char *eql_rf_text(eql_ctx *ctx, const eql_expr *e);

/* How `equinox.<attr>` can be written at expression `at`: through the file's own alias
 * (`eqx.filter`, `equinox.filter`) or name (`from equinox import filter` -> `filter`). When
 * the file imports equinox nowhere visible there, adds to d's fix the edit inserting
 * `import equinox as eqx` after the module's leading imports and answers `eqx.<attr>`.
 * NULL when no spelling is safe (the names `eqx` and `equinox` both mean something else). */
const char *eql_rf_equinox(eql_ctx *ctx, eql_diag *d, const char *title, const eql_expr *at,
                           const char *attr);

/* Removes the arguments i of `call` with drop[i] set, together with the commas that would
 * be left dangling. Returns 0, or -1 when the fix cannot be built. */
int eql_rf_drop_args(eql_ctx *ctx, eql_diag *d, const char *title, const eql_expr *call,
                     const bool *drop);

/* Whether e is an expression of this rule's file (values the evaluator returns may come
 * from another file, whose offsets must never be edited here). */
bool eql_rf_in_file(const eql_ctx *ctx, const eql_expr *e);

/* A JAX transform's `eqx.filter_*` twin and what the twin accepts. */
typedef struct eql_rf_twin_spec {
  const char *transform, *twin; /* "jax.jit", "filter_jit" */
  const char *keeps[5];         /* keywords the twin takes as they are */
  int axes;                     /* vmap/pmap: kept in_axes/out_axes make the fix unsafe */
} eql_rf_twin_spec;

/* The twin of a canonical transform name, or NULL. */
const eql_rf_twin_spec *eql_rf_twin_of(const char *transform);

/* Replaces the transform written `name` with its twin. `config` is the call that carries the
 * transform's arguments (`jax.jit(f, static_argnums=1)`, `partial(jax.jit, ...)`; NULL for a
 * bare `@jax.jit`), whose arguments before `first_kw` are the function. Drops what the twin
 * rejects and marks the fix unsafe when that carried meaning (EQX003's Fix safety).
 * Returns 0, or -1 when there is no fix (a keyword with meaning the twin lacks ...). */
int eql_rf_twin(eql_ctx *ctx, eql_diag *d, const char *transform, const eql_expr *name,
                const eql_expr *config, unsigned first_kw);

/* Index of keyword argument `kw` of call, or -1. */
int eql_rf_kwarg(const eql_expr *call, const char *kw);

#endif
