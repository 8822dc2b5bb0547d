/* ## What it does
 * Checks for `eqx.filter_jit` given `static_argnums`, `static_argnames` or `donate_argnums`,
 * and for `eqx.filter_grad` / `eqx.filter_value_and_grad` given `argnums`: as a wrapper
 * (`eqx.filter_jit(f, static_argnums=1)`), a decorator (`@eqx.filter_jit(static_argnums=1)`)
 * or through `functools.partial(eqx.filter_jit, static_argnums=1)`.
 *
 * ## Why is this bad
 * These are `jax.jit`/`jax.grad` arguments that the filtered transforms replace, and Equinox
 * rejects them when the function is wrapped: "`jitkwargs` cannot contain 'static_argnums',
 * 'static_argnames' or 'donate_argnums'", and "`argnums` should not be passed. If you need
 * to differentiate multiple objects then collect them into a tuple and pass that as the
 * first argument." The program stops with a `ValueError` at the decoration.
 *
 * ## Example
 * ```python
 * @eqx.filter_jit(static_argnums=(2,))
 * def make_step(model, batch, training):
 *     ...
 *
 * grads = eqx.filter_grad(loss, argnums=1)(x, model)
 * ```
 *
 * ## Use instead
 * Drop the argument: `eqx.filter_jit` already holds every non-array (Python `bool`, `int`,
 * `str`, functions) static, and `eqx.filter_jit(donate="all")` donates buffers;
 * `eqx.filter_grad` differentiates the arrays of its first argument, so put what is
 * differentiated first (a tuple when there are several):
 * ```python
 * @eqx.filter_jit
 * def make_step(model, batch, training):
 *     ...
 *
 * grads = eqx.filter_grad(loss)(model, x)
 * ```
 *
 * ## Fix safety
 * Safe. The fix removes the rejected keyword argument (with its comma). Equinox refuses these
 * arguments when the function is wrapped, so the code never ran with them; without them
 * `eqx.filter_jit` holds every non-array argument static, which is what `static_argnums` and
 * `static_argnames` asked for. `argnums=0` is removed the same way. Any other `argnums` has no
 * fix: removing it would differentiate the first argument instead, so the parameters must
 * be reordered by hand. `donate_argnums` has no fix either: its meaning moves to `donate=`.
 *
 * ## Known limits
 * Keywords given through `**kwargs` are not seen. `filter_grad(..., argnums=None)` is
 * accepted by Equinox and not reported. Other filtered transforms (`filter_vmap`,
 * `filter_pmap`) are not checked.
 */
#include <string.h>

#include "eqlint/ctx.h"
#include "rule_fix.h"

typedef struct bad_kw {
  const char *transform; /* canonical name */
  const char *kw;
  int none_ok;           /* `kw=None` is accepted */
} bad_kw;

static const bad_kw bad_kws[] = {
  {"equinox.filter_jit", "static_argnums", 0},
  {"equinox.filter_jit", "static_argnames", 0},
  {"equinox.filter_jit", "donate_argnums", 0},
  {"equinox.filter_grad", "argnums", 1},
  {"equinox.filter_value_and_grad", "argnums", 1},
};

static const char *help_for(const char *kw) {
  if (!strcmp(kw, "argnums"))
    return "drop `argnums`: `eqx.filter_grad` differentiates the arrays of the first argument, "
           "so pass what is differentiated first (a tuple when there are several)";
  if (!strcmp(kw, "donate_argnums"))
    return "drop `donate_argnums`; to donate buffers use `eqx.filter_jit(donate=\"all\")` (or "
           "\"all-except-first\")";
  return "drop it: `eqx.filter_jit` already holds every non-array argument (bools, ints, strings, "
         "functions) static";
}

static void check_kwargs(eql_ctx *ctx, const eql_expr *call, const char *canon) {
  const eql_facts *f = ctx->facts;
  for (unsigned k = 0; k < call->nargs; k++) {
    const eql_arg *a = &call->args[k];
    if (!a->kw || a->star) continue;
    for (size_t r = 0; r < sizeof bad_kws / sizeof *bad_kws; r++) {
      const bad_kw *b = &bad_kws[r];
      if (strcmp(b->transform, canon) || strcmp(b->kw, a->kw)) continue;
      if (b->none_ok && a->value && a->value->kind == EQL_E_NONE) continue;
      const char *short_name = canon + strlen("equinox.");
      int grad = !strcmp(a->kw, "argnums");
      eql_diag *d = eql_report(ctx, a->start, a->end, help_for(a->kw),
                 "`eqx.%s` does not take `%s=%s`: Equinox raises \"ValueError: %s\" when the "
                 "function is wrapped; %s",
                 short_name, a->kw, eql_expr_snippet(f, a->value, 30),
                 grad ? "`argnums` should not be passed"
                      : "`jitkwargs` cannot contain 'static_argnums', 'static_argnames' or "
                        "'donate_argnums'",
                 grad ? "it always differentiates the arrays of the first argument"
                 : !strcmp(a->kw, "donate_argnums")
                     ? "buffers are donated with `donate=`"
                     : "it already traces every array and holds everything else static");
      if (d && (!grad || (a->value && a->value->kind == EQL_E_INT && !strcmp(a->value->name, "0"))) &&
          strcmp(a->kw, "donate_argnums")) {
        bool drop[64] = {false};
        if (call->nargs > 64) continue;
        drop[k] = true;
        if (eql_rf_drop_args(ctx, d, eql_arena_printf(ctx->scratch, "Remove `%s`", a->kw), call,
                             drop) < 0)
          eql_diag_drop_fix(d);
      }
    }
  }
}

void eql_check_EQX017(eql_ctx *ctx) {
  const eql_facts *f = ctx->facts;
  for (unsigned i = 0; i < f->calls.n; i++) {
    const eql_expr *call = f->calls.items[i];
    if (!call->a) continue;
    const char *canon = eql_facts_canon(f, call->a);
    if (!canon) continue;
    if (!strcmp(canon, "functools.partial")) {
      /* partial(eqx.filter_jit, static_argnums=...): the keywords reach filter_jit */
      const eql_expr *inner = eql_call_arg(call, 0, NULL);
      const char *ic = inner ? eql_facts_canon(f, inner) : NULL;
      if (ic && !strncmp(ic, "equinox.filter_", 15)) check_kwargs(ctx, call, ic);
      continue;
    }
    if (!strncmp(canon, "equinox.filter_", 15)) check_kwargs(ctx, call, canon);
  }
}
