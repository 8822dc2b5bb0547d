/* ## What it does
 * Checks for an optax optimiser initialised on a tree filtered with `eqx.is_array_like` or
 * `eqx.is_inexact_array_like` (`optim.init(eqx.filter(model, eqx.is_array_like))`, or the
 * first half of `eqx.partition(model, eqx.is_array_like)`), directly or through a name.
 *
 * ## Why is this bad
 * `eqx.is_array_like` keeps every leaf that *could* be turned into an array: Python `float`,
 * `int`, `bool` and `complex` values too (a Dropout's `p`, a `bool` flag, a `float`
 * temperature). optax then builds optimiser state for those leaves, while `eqx.filter_grad`
 * only differentiates real arrays (their gradient is `None`), so the trees of updates and
 * state no longer match and `optim.update` fails, or a Python scalar is silently "trained".
 * The Equinox FAQ initialises the optimiser with `eqx.filter(model, eqx.is_array)`.
 *
 * ## Example
 * ```python
 * model = eqx.nn.MLP(2, 2, 64, 2, key=key)
 * optim = optax.adam(1e-3)
 * opt_state = optim.init(eqx.filter(model, eqx.is_array_like))
 * ```
 *
 * ## Use instead
 * ```python
 * opt_state = optim.init(eqx.filter(model, eqx.is_array))
 * ```
 * (`eqx.is_inexact_array` in place of `eqx.is_inexact_array_like`.)
 *
 * ## Fix safety
 * Safe. The fix replaces the predicate (`eqx.is_array_like` -> `eqx.is_array`,
 * `eqx.is_inexact_array_like` -> `eqx.is_inexact_array`) where it is written, also when that
 * is the earlier `params = eqx.filter(...)` line; Python scalars then stay out of the
 * optimiser state, which is what the gradients from `eqx.filter_grad` already assume.
 *
 * ## Known limits
 * Only `init` is checked (an `update` on the same tree follows from it). The optimiser must
 * be known to come from an `optax` constructor (or be a parameter annotated
 * `optax.GradientTransformation`), and the predicate must be written as the
 * `equinox` function itself (or a module-level alias of it): predicates wrapped in lambdas,
 * `jax.tree_util.tree_map`-built filter specs and trees filtered in other functions are not
 * followed. The rule does not ask whether the model really holds Python scalars: the
 * predicate is wrong for an optimiser either way.
 */
#include <string.h>

#include "eqlint/ctx.h"
#include "eqlint/value.h"
#include "rule_fix.h"

/* The `_like` predicate a filter spec names, or NULL. */
static const char *array_like_predicate(const eql_facts *f, const eql_expr *pred) {
  if (!pred) return NULL;
  const char *canon = eql_facts_canon(f, pred);
  if (!canon) return NULL;
  if (!strcmp(canon, "equinox.is_array_like")) return "is_array_like";
  if (!strcmp(canon, "equinox.is_inexact_array_like")) return "is_inexact_array_like";
  return NULL;
}

/* Is `e` (the receiver of `.init`) an optax optimiser: a value built by an optax
 * constructor, or a parameter annotated with optax's transformation types? */
static int is_optimiser(eql_eval *ev, const eql_expr *e) {
  eql_value v = eql_eval_expr(ev, e);
  if (v.kind == EQL_V_OPTAX) return 1;
  if (v.kind != EQL_V_UNKNOWN || e->kind != EQL_E_NAME) return 0;
  const eql_binding *b = eql_facts_lookup(ev->f, e->name, e->scope, e->start);
  if (!b || b->kind != EQL_B_PARAM || !b->param || !b->param->annotation) return 0;
  const char *an = eql_facts_canon(ev->f, b->param->annotation);
  return an && (!strcmp(an, "optax.GradientTransformation") ||
                !strcmp(an, "optax.GradientTransformationExtraArgs") ||
                !strcmp(an, "optax.MultiSteps"));
}

/* `eqx.filter(..., inverse=True)` keeps the other half: not the parameters. */
static int is_inverse(const eql_expr *origin) {
  if (!origin || origin->kind != EQL_E_CALL) return 0;
  const eql_expr *inv = eql_call_arg(origin, -1, "inverse");
  return inv && !(inv->kind == EQL_E_BOOL && inv->name && !strcmp(inv->name, "False"));
}

void eql_check_EQX014(eql_ctx *ctx) {
  const eql_facts *f = ctx->facts;
  eql_eval ev = {.idx = ctx->index, .f = f};
  for (unsigned i = 0; i < f->calls.n; i++) {
    const eql_expr *call = f->calls.items[i];
    const eql_expr *callee = call->a;
    if (!callee || callee->kind != EQL_E_ATTR || !callee->name || !callee->a ||
        strcmp(callee->name, "init"))
      continue;
    const eql_expr *arg = eql_call_arg(call, 0, "params");
    if (!arg) continue;
    eql_value p = eql_eval_expr(&ev, arg);
    if (p.kind != EQL_V_FILTERED || is_inverse(p.origin)) continue;
    const char *pred = array_like_predicate(f, p.predicate);
    if (!pred || !is_optimiser(&ev, callee->a)) continue;
    int inexact = !strcmp(pred, "is_inexact_array_like");
    const char *good = inexact ? "is_inexact_array" : "is_array";
    /* a filter written elsewhere (`params = eqx.filter(...)`) is shown as the related place */
    int inside = p.predicate->start >= call->start && p.predicate->end <= call->end;
    eql_diag *d = eql_report(
        ctx, call->start, call->end,
        eql_arena_printf(ctx->scratch, "filter with `eqx.%s`: `%s(eqx.filter(model, eqx.%s))`",
                         good, eql_expr_snippet(f, callee, 40), good),
        "`%s` receives `%s`%s`eqx.%s`%s also keeps Python %s: they get "
        "optimiser state but never a gradient (`eqx.filter_grad` gives `None` for them), so "
        "updates and state no longer match",
        eql_expr_snippet(f, callee, 40), eql_expr_snippet(f, arg, 50),
        inside ? ": " : ", filtered with ", pred, inside ? "" : ", which",
        inexact ? "floats (and complex numbers)" : "floats, ints and bools");
    if (d && !inside)
      eql_diag_set_related(d, f->src, p.predicate->start, p.predicate->end,
                           eql_arena_printf(ctx->scratch, "filtered with `eqx.%s` here", pred));
    /* the predicate itself, where it is written in this file */
    if (d && eql_rf_in_file(ctx, p.predicate) &&
        (p.predicate->kind == EQL_E_NAME || p.predicate->kind == EQL_E_ATTR)) {
      const char *title = eql_arena_printf(ctx->scratch, "Replace `%s` with `%s`", pred, good);
      const char *spelled = eql_rf_equinox(ctx, d, title, p.predicate, good);
      if (!spelled || eql_fix_edit(ctx, d, title, p.predicate->start, p.predicate->end, spelled) < 0)
        eql_diag_drop_fix(d);
    }
  }
}
