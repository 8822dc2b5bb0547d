/* ## What it does
 * Checks for a Module with non-array leaves passed through `jax.lax` control flow: as the
 * carry (`init`) or `xs` of `jax.lax.scan`, the `init_val` of `jax.lax.fori_loop` and
 * `jax.lax.while_loop`, or an operand of `jax.lax.cond` and `jax.lax.switch` (also inside a
 * tuple, list or dict literal). Also checks for a Module instance, or a bound method of one
 * (`cell.update`), passed directly as the body of `scan`, `fori_loop` or `while_loop`.
 *
 * ## Why is this bad
 * `jax.lax` primitives are not filtered: every leaf of a carry or operand must be a JAX
 * type. A Module holding an activation function (every `eqx.nn.MLP`), a `str` or a `bool`
 * fails with `TypeError: Value <function relu> ... is not a valid JAX type`, or has its
 * Python flags turned into tracers. Module instances and their bound methods as loop
 * bodies are pytrees holding arrays; JAX hashes the body function to cache its trace, and
 * arrays are unhashable (`TypeError: unhashable type`, Equinox issue #558).
 *
 * ## Example
 * ```python
 * model = eqx.nn.MLP(2, 2, 32, 2, key=key)
 *
 * def step(model, x):
 *     return model, model(x)
 *
 * model, ys = jax.lax.scan(step, model, xs)
 * hs = jax.lax.scan(cell.update, h0, xs)
 * ```
 *
 * ## Use instead
 * Carry only the arrays and rebuild the Module inside the body; wrap methods in a lambda:
 * ```python
 * params, static = eqx.partition(model, eqx.is_array)
 *
 * def step(params, x):
 *     model = eqx.combine(params, static)
 *     return params, model(x)
 *
 * params, ys = jax.lax.scan(step, params, xs)
 * hs = jax.lax.scan(lambda h, x: cell.update(h, x), h0, xs)
 * ```
 *
 * ## Fix safety
 * No automatic fix: what to carry (the whole parameter tree or only a part of it) is the
 * author's choice.
 *
 * ## Known limits
 * Only values known to be Modules with non-array leaves are reported (constructor calls,
 * annotated parameters, local functions returning them); Modules held in attributes
 * (`self.model`), returned by unknown functions or built by `eqx.combine` are not judged.
 * Bound methods of `self` inside a Module's own methods, and Modules used as the branches of
 * `cond`/`switch`, are not reported.
 */
#include <string.h>

#include "eqlint/ctx.h"
#include "eqlint/value.h"

typedef struct cf_info {
  const char *canon;       /* "jax.lax.scan" */
  const char *shown;       /* "jax.lax.scan" as written in messages */
  int operand_pos[2];      /* positional carries / operands (-1 = none) */
  const char *operand_kw[2];
  int rest_from;           /* every positional argument from here on is an operand (-1) */
  int body_pos[2];         /* positional body functions (-1 = none) */
  const char *body_kw[2];
} cf_info;

static const cf_info primitives[] = {
  {"jax.lax.scan", "jax.lax.scan", {1, 2}, {"init", "xs"}, -1, {0, -1}, {"f", NULL}},
  {"jax.lax.fori_loop", "jax.lax.fori_loop", {3, -1}, {"init_val", NULL}, -1, {2, -1}, {"body_fun", NULL}},
  {"jax.lax.while_loop", "jax.lax.while_loop", {2, -1}, {"init_val", NULL}, -1, {1, 0},
   {"body_fun", "cond_fun"}},
  {"jax.lax.cond", "jax.lax.cond", {-1, -1}, {"operand", NULL}, 3, {-1, -1}, {NULL, NULL}},
  {"jax.lax.switch", "jax.lax.switch", {-1, -1}, {"operand", NULL}, 2, {-1, -1}, {NULL, NULL}},
};

typedef struct state {
  eql_ctx *ctx;
  eql_eval ev;
  const cf_info *prim;
} state;

static const char *role_of(const cf_info *p, int pos, const char *kw) {
  if (!strcmp(p->canon, "jax.lax.scan")) return (pos == 2 || (kw && !strcmp(kw, "xs"))) ? "`xs`" : "carry";
  if (!strcmp(p->canon, "jax.lax.fori_loop") || !strcmp(p->canon, "jax.lax.while_loop"))
    return "carry (`init_val`)";
  return "operand";
}

static void report_leaf(state *st, const eql_expr *at, const char *role, const eql_value *v,
                        const char *inside) {
  const eql_facts *f = st->ctx->facts;
  const char *cls = eql_classref_name(&v->cls);
  eql_report(st->ctx, at->start, at->end,
             "carry only the arrays: `params, static = eqx.partition(model, eqx.is_array)`, pass "
             "`params` and rebuild the Module inside the body with `eqx.combine(params, static)`",
             "`%s` passes `%s`%s%s%s, an instance of `%s`, as its %s: `jax.lax` control flow "
             "accepts only arrays, and %s",
             st->prim->shown, eql_expr_snippet(f, at, 40), inside ? " (inside `" : "",
             inside ? inside : "", inside ? "`)" : "", cls, role,
             v->why ? v->why : "it holds non-array leaves");
}

/* Checks one carry/operand expression; literals are searched element by element. */
static void check_operand(state *st, const eql_expr *e, const char *role, const char *inside,
                          int depth) {
  if (!e || depth > 6) return;
  const eql_facts *f = st->ctx->facts;
  if (e->kind == EQL_E_TUPLE || e->kind == EQL_E_LIST || e->kind == EQL_E_DICT) {
    const char *in = inside ? inside : eql_expr_snippet(f, e, 40);
    for (unsigned i = 0; i < e->nargs; i++)
      if (!e->args[i].star) check_operand(st, e->args[i].value, role, in, depth + 1);
    return;
  }
  eql_value v = eql_eval_expr(&st->ev, e);
  if (v.kind == EQL_V_MODULE && v.nonarray == EQL_YES) {
    report_leaf(st, e, role, &v, inside);
    return;
  }
  if (v.kind == EQL_V_SEQ && v.seq && !v.elem) {
    /* a name bound to a tuple literal: report at the name, naming the element */
    const eql_expr *seq = v.seq;
    for (unsigned i = 0; i < seq->nargs; i++) {
      if (seq->args[i].star) continue;
      eql_value ev = eql_eval_expr(&st->ev, seq->args[i].value);
      if (ev.kind == EQL_V_MODULE && ev.nonarray == EQL_YES) {
        const char *cls = eql_classref_name(&ev.cls);
        eql_report(st->ctx, e->start, e->end,
                   "carry only the arrays: `params, static = eqx.partition(model, eqx.is_array)`, "
                   "pass `params` and rebuild the Module inside the body with "
                   "`eqx.combine(params, static)`",
                   "`%s` passes `%s` as its %s, and it holds `%s`, an instance of `%s`: `jax.lax` "
                   "control flow accepts only arrays, and %s",
                   st->prim->shown, eql_expr_snippet(f, e, 40), role,
                   eql_expr_snippet(f, seq->args[i].value, 40), cls,
                   ev.why ? ev.why : "it holds non-array leaves");
        return;
      }
    }
  }
}

/* A Module instance or a bound method of one, as a loop body. */
static void check_body(state *st, const eql_expr *e) {
  if (!e) return;
  const eql_facts *f = st->ctx->facts;
  if (e->kind == EQL_E_LAMBDA) return;
  if (e->kind == EQL_E_ATTR && e->a && e->name) {
    eql_value obj = eql_eval_expr(&st->ev, e->a);
    if (obj.kind != EQL_V_MODULE || !obj.cls.cls) return;
    const eql_facts *in = NULL;
    const eql_func *m = eql_index_method(st->ctx->index, &obj.cls, e->name, &in);
    if (!m) return;
    for (unsigned i = 0; i < m->ndecorators; i++) {
      const eql_expr *d = m->decorators[i];
      if (d->kind == EQL_E_NAME && (!strcmp(d->name, "staticmethod") || !strcmp(d->name, "property")))
        return;
    }
    eql_report(st->ctx, e->start, e->end,
               eql_arena_printf(st->ctx->scratch, "wrap it in a function: `lambda *args: %s(*args)`",
                                eql_expr_snippet(f, e, 40)),
               "`%s` is given the bound method `%s` of a `%s` Module as its body: a bound method "
               "of a Module is a pytree holding the Module's arrays, and JAX hashes the body "
               "function (`TypeError: unhashable type`)",
               st->prim->shown, eql_expr_snippet(f, e, 40), eql_classref_name(&obj.cls));
    return;
  }
  eql_value v = eql_eval_expr(&st->ev, e);
  if (v.kind != EQL_V_MODULE) return;
  eql_report(st->ctx, e->start, e->end,
             eql_arena_printf(st->ctx->scratch, "wrap it in a function: `lambda *args: %s(*args)`",
                              eql_expr_snippet(f, e, 40)),
             "`%s` is given the Module instance `%s` (a `%s`) as its body: a Module is a pytree "
             "holding arrays, and JAX hashes the body function (`TypeError: unhashable type`)",
             st->prim->shown, eql_expr_snippet(f, e, 40), eql_classref_name(&v.cls));
}

void eql_check_EQX007(eql_ctx *ctx) {
  const eql_facts *f = ctx->facts;
  state st = {.ctx = ctx, .ev = {.idx = ctx->index, .f = f}};
  for (unsigned i = 0; i < f->calls.n; i++) {
    const eql_expr *call = f->calls.items[i];
    const char *canon = eql_facts_canon(f, call->a);
    if (!canon) continue;
    const cf_info *p = NULL;
    for (size_t k = 0; k < sizeof primitives / sizeof *primitives; k++)
      if (!strcmp(canon, primitives[k].canon)) p = &primitives[k];
    if (!p) continue;
    st.prim = p;
    for (int k = 0; k < 2; k++) {
      const eql_expr *arg = NULL;
      if (p->operand_pos[k] >= 0 || p->operand_kw[k])
        arg = eql_call_arg(call, p->operand_pos[k], p->operand_kw[k]);
      if (arg) check_operand(&st, arg, role_of(p, p->operand_pos[k], p->operand_kw[k]), NULL, 0);
    }
    if (p->rest_from >= 0) {
      int pos = 0;
      for (unsigned k = 0; k < call->nargs; k++) {
        const eql_arg *a = &call->args[k];
        if (a->star || a->kw) {
          if (a->star == 1) break;
          continue;
        }
        if (pos++ >= p->rest_from) check_operand(&st, a->value, "operand", NULL, 0);
      }
    }
    for (int k = 0; k < 2; k++) {
      if (p->body_pos[k] < 0 && !p->body_kw[k]) continue;
      check_body(&st, eql_call_arg(call, p->body_pos[k], p->body_kw[k]));
    }
  }
}
