/* ## What it does
 * Checks for an optax optimiser initialised (`optim.init(model)`) or updated
 * (`optim.update(grads, state, model)`) with a Module that has non-array leaves, without
 * filtering it first.
 *
 * ## Why is this bad
 * `optim.init` builds optimiser state for every leaf of the tree it receives. A Module that
 * holds an activation function (every `eqx.nn.MLP` does), a `str`, a `bool` or a `float`
 * makes optax try to build state for those leaves, and initialisation fails with a cryptic
 * error such as `TypeError: zeros_like requires ndarray or scalar arguments`. The Equinox
 * FAQ: "the optimiser must be initialised with only the arrays of the model".
 *
 * ## Example
 * ```python
 * model = eqx.nn.MLP(2, 2, 64, 2, key=key)
 * optim = optax.adam(1e-3)
 * opt_state = optim.init(model)
 * ```
 *
 * ## Use instead
 * ```python
 * opt_state = optim.init(eqx.filter(model, eqx.is_array))
 * ```
 * and pass `eqx.filter(model, eqx.is_array)` as the `params` of `optim.update` too.
 *
 * ## Fix safety
 * Safe. The fix wraps the argument in `eqx.filter(..., eqx.is_array)`, spelled with the
 * file's own alias for equinox; when the file does not import equinox, it adds
 * `import equinox as eqx` after its imports. The optimiser then holds state for the arrays
 * only, which is what every optax transformation expects; `update` gets the same filtered
 * tree, and the gradients must come from `eqx.filter_grad` (EQX003 says so when they do not).
 *
 * ## Known limits
 * Reports only when the optimiser is known to come from an `optax` constructor (directly,
 * through `optax.chain`, `optax.inject_hyperparams(...)(...)` or a local function that
 * returns one) and the model is known to be a Module with non-array leaves (a constructor
 * call, a parameter annotation, or a local function that returns one). Models that come from
 * other libraries, `eqx.combine`, or attributes (`self.model`) are not judged.
 */
#include <string.h>

#include "eqlint/ctx.h"
#include "eqlint/value.h"
#include "rule_fix.h"

/* `opt.init(model)` -> `opt.init(eqx.filter(model, eqx.is_array))`. */
static void fix(eql_ctx *ctx, eql_diag *d, const eql_expr *arg) {
  if (!d) return;
  const char *title = eql_arena_printf(ctx->scratch, "Wrap `%s` in `eqx.filter(..., eqx.is_array)`",
                                       eql_expr_snippet(ctx->facts, arg, 30));
  const char *filter = eql_rf_equinox(ctx, d, title, arg, "filter");
  const char *is_array = filter ? eql_rf_equinox(ctx, d, title, arg, "is_array") : NULL;
  if (!is_array ||
      eql_fix_edit(ctx, d, title, arg->start, arg->end,
                   eql_arena_printf(ctx->scratch, "%s(%s, %s)", filter, eql_rf_text(ctx, arg),
                                    is_array)) < 0)
    eql_diag_drop_fix(d);
}

void eql_check_EQX001(eql_ctx *ctx) {
  const eql_facts *f = ctx->facts;
  eql_eval ev = {.idx = ctx->index, .f = f};
  for (unsigned i = 0; i < f->calls.n; i++) {
    const eql_expr *call = f->calls.items[i];
    const eql_expr *callee = call->a;
    if (!callee || callee->kind != EQL_E_ATTR || !callee->name) continue;
    int is_init = !strcmp(callee->name, "init");
    int is_update = !strcmp(callee->name, "update");
    if (!is_init && !is_update) continue;
    const eql_expr *arg = is_init ? eql_call_arg(call, 0, "params") : eql_call_arg(call, 2, "params");
    if (!arg) continue;
    eql_value opt = eql_eval_expr(&ev, callee->a);
    if (opt.kind != EQL_V_OPTAX) continue;
    eql_value m = eql_eval_expr(&ev, arg);
    if (m.kind != EQL_V_MODULE || m.nonarray != EQL_YES) continue;
    const char *arg_text = eql_expr_snippet(f, arg, 40);
    const char *cls = eql_classref_name(&m.cls);
    if (f->is_c) {
      /* the C front end lowered eqx_opt_init(opt, model, &state) to opt.init(model) */
      eql_report(ctx, call->start, call->end,
                 "initialise on the arrays only: `eqx_filter(model, eqx_is_array, &params)`, "
                 "then `eqx_opt_init(opt, params, &state)`",
                 "`eqx_opt_init` receives `%s`, an instance of `%s` with non-array leaves that "
                 "the optimiser cannot handle: %s",
                 arg_text, cls, m.why ? m.why : "it holds functions, strings, bools or floats");
      continue;
    }
    eql_diag *d = eql_report(ctx, call->start, call->end,
               is_init ? "initialise on the arrays only: "
                         "`optim.init(eqx.filter(model, eqx.is_array))`"
                       : "pass the arrays only: `eqx.filter(model, eqx.is_array)`",
               "`%s.%s` receives `%s`, an instance of `%s` with non-array leaves that optax cannot "
               "handle: %s",
               eql_expr_snippet(f, callee->a, 40), callee->name, arg_text, cls,
               m.why ? m.why : "it holds functions, strings, bools or floats");
    fix(ctx, d, arg);
  }
}
