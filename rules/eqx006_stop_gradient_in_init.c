/* ## What it does
 * Checks for `jax.lax.stop_gradient(...)` applied in the `__init__` or `__post_init__` of
 * an `equinox.Module` to a value that is then stored in a field (`self.x =
 * jax.lax.stop_gradient(v)`, also through a local name, `jax.tree_util.tree_map`, or
 * `object.__setattr__`).
 *
 * ## Why is this bad
 * `stop_gradient` is an operation on the computation being traced: it blocks gradients
 * flowing through that point of that computation. Gradients with respect to a Module are
 * taken later, with respect to the leaves stored in it, and a stored array carries no
 * memory of having passed through `stop_gradient`. The field is trained like any other:
 * the author thinks it is frozen, and it is not.
 *
 * ## Example
 * ```python
 * class Model(eqx.Module):
 *     embedding: jax.Array
 *
 *     def __init__(self, pretrained):
 *         self.embedding = jax.lax.stop_gradient(pretrained)
 * ```
 *
 * ## Use instead
 * Store the plain value and stop gradients where it is used:
 * ```python
 *     def __call__(self, idx):
 *         return jax.lax.stop_gradient(self.embedding)[idx]
 * ```
 *
 * ## Fix safety
 * No automatic fix: every use of the field must be wrapped instead.
 *
 * ## Known limits
 * Only values built in the initialiser itself are followed (through local names of the
 * same method); a helper function that applies `stop_gradient` and returns the value is
 * not. Code inside lambdas and nested functions defined in `__init__` runs later and is
 * never reported.
 */
#include <string.h>

#include "eqlint/ctx.h"
#include "eqlint/value.h"

typedef struct state {
  eql_ctx *ctx;
  const eql_func *fn;
  const char *self;
} state;

static int is_stop_gradient(state *st, const eql_expr *e) {
  const char *canon = eql_facts_canon(st->ctx->facts, e);
  return canon && !strcmp(canon, "jax.lax.stop_gradient");
}

/* The stop_gradient application inside a stored value, or NULL. Follows local names of the
 * initialiser (a few levels); never enters lambdas (they run later). */
static const eql_expr *find_sg(state *st, const eql_expr *e, int depth) {
  if (!e || depth > 40) return NULL;
  switch (e->kind) {
    case EQL_E_LAMBDA:
      return NULL;
    case EQL_E_NAME: {
      if (depth > 20) return NULL;
      const eql_binding *b = eql_facts_lookup(st->ctx->facts, e->name, e->scope, e->start);
      if (!b || b->kind != EQL_B_ASSIGN || b->scope != st->fn || !b->value) return NULL;
      if (b->value->start <= e->start && e->end <= b->value->end) return NULL; /* x = f(x) */
      return find_sg(st, b->value, depth + 10);
    }
    case EQL_E_CALL: {
      if (is_stop_gradient(st, e->a)) return e;
      const char *canon = eql_facts_canon(st->ctx->facts, e->a);
      if (canon && (!strcmp(canon, "jax.tree_util.tree_map") || !strcmp(canon, "jax.tree.map") ||
                    !strcmp(canon, "jax.tree_map"))) {
        const eql_expr *fn = eql_call_arg(e, 0, NULL);
        if (fn && is_stop_gradient(st, fn)) return e;
      }
      break;
    }
    default:
      break;
  }
  const eql_expr *r = find_sg(st, e->a, depth + 1);
  if (!r) r = find_sg(st, e->b, depth + 1);
  if (!r) r = find_sg(st, e->c, depth + 1);
  for (unsigned i = 0; !r && i < e->nargs; i++) {
    r = find_sg(st, e->args[i].value, depth + 1);
    if (!r && e->kind == EQL_E_DICT) r = find_sg(st, e->args[i].key, depth + 1);
  }
  return r;
}

static int is_self(state *st, const eql_expr *e) {
  if (!e || e->kind != EQL_E_NAME || strcmp(e->name, st->self)) return 0;
  const eql_binding *b = eql_facts_lookup(st->ctx->facts, e->name, e->scope, e->start);
  return b && b->kind == EQL_B_PARAM && b->scope == st->fn;
}

static void report(state *st, const eql_stmt *s, const char *field, const eql_expr *sg) {
  const eql_facts *f = st->ctx->facts;
  eql_diag *d = eql_report(
      st->ctx, s->start, s->end,
      eql_arena_printf(st->ctx->scratch,
                       "store the plain value and apply `jax.lax.stop_gradient(self.%s)` where "
                       "the field is used (e.g. in `__call__`)",
                       field),
      "field `%s` is stored through `%s` in `%s`: stop_gradient only acts on the computation "
      "being traced, so it does nothing here; gradients taken later still reach `%s`",
      field, eql_expr_snippet(f, sg, 40), st->fn->name, field);
  if (d && !(sg->start >= s->start && sg->end <= s->end))
    eql_diag_set_related(d, f->src, sg->start, sg->end, "stop_gradient is applied here");
}

static void visit_block(state *st, const eql_block *b);

static void visit_stmt(state *st, const eql_stmt *s) {
  if (s->kind == EQL_S_ASSIGN && s->value) {
    for (unsigned t = 0; t < s->ntargets; t++) {
      const eql_expr *tg = s->targets[t];
      if (tg->kind != EQL_E_ATTR || !tg->name || !is_self(st, tg->a)) continue;
      const eql_expr *sg = find_sg(st, s->value, 0);
      if (sg) {
        report(st, s, tg->name, sg);
        break;
      }
    }
  } else if (s->kind == EQL_S_EXPR && s->value && s->value->kind == EQL_E_CALL) {
    /* object.__setattr__(self, "x", value) */
    const eql_expr *call = s->value;
    const eql_expr *callee = call->a;
    const eql_expr *obj = eql_call_arg(call, 0, NULL);
    const eql_expr *name = eql_call_arg(call, 1, NULL);
    const eql_expr *val = eql_call_arg(call, 2, NULL);
    if (callee && callee->kind == EQL_E_ATTR && callee->name &&
        !strcmp(callee->name, "__setattr__") && callee->a && callee->a->kind == EQL_E_NAME &&
        !strcmp(callee->a->name, "object") && is_self(st, obj) && name &&
        name->kind == EQL_E_STR && val) {
      const eql_expr *sg = find_sg(st, val, 0);
      if (sg) report(st, s, name->name, sg);
    }
  }
  if (s->kind == EQL_S_DEF || s->kind == EQL_S_CLASS) return;
  visit_block(st, &s->body);
  visit_block(st, &s->orelse);
  visit_block(st, &s->finalbody);
  for (unsigned h = 0; h < s->nhandlers; h++) visit_block(st, &s->handlers[h]);
}

static void visit_block(state *st, const eql_block *b) {
  for (unsigned i = 0; i < b->n; i++) visit_stmt(st, b->items[i]);
}

void eql_check_EQX006(eql_ctx *ctx) {
  const eql_facts *f = ctx->facts;
  for (unsigned i = 0; i < f->classes.n; i++) {
    const eql_class *c = f->classes.items[i];
    eql_classref ref = {f, c, NULL};
    int checked = 0;
    for (unsigned m = 0; m < c->nmethods; m++) {
      const eql_func *fn = c->methods[m];
      if (strcmp(fn->name, "__init__") && strcmp(fn->name, "__post_init__")) continue;
      if (!fn->nparams || !fn->params[0].name || fn->params[0].kind != EQL_P_PLAIN) continue;
      if (!checked) {
        if (eql_index_is_module(ctx->index, &ref) != EQL_YES) break;
        checked = 1;
      }
      state st = {ctx, fn, fn->params[0].name};
      visit_block(&st, &fn->body);
    }
  }
}
