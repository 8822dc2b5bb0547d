/* ## What it does
 * Checks for `jax.grad` and `jax.value_and_grad` over a method of a plain Python class (not
 * an `equinox.Module`, not a registered pytree) where the differentiated argument is not the
 * model:
 *
 * - as a decorator on the method (`@jax.grad`, `@partial(jax.value_and_grad, ...)`), or as a
 *   wrapper over the unbound method (`jax.grad(Trainer.loss)`): the first argument, the one
 *   differentiated by default, is `self`;
 * - as a wrapper over the bound method (`jax.grad(self.loss)`) when the method reads the
 *   model from `self` (`self.model(x)`), the differentiated argument is only data, and the
 *   gradients are then handed to an optimiser or applied as the model's.
 *
 * ## Why is this bad
 * `jax.grad` differentiates with respect to the first positional argument (or `argnums`).
 * For an unbound method that is `self`: a `Trainer` object is not a pytree of arrays and JAX
 * fails with `TypeError: Argument '<Trainer object>' of type <class 'Trainer'> is not a
 * valid JAX type`. For a bound method the model read through `self` is a closed-over
 * constant: the gradient is taken with respect to the inputs, and the model's parameters
 * never receive one, so training silently does nothing.
 *
 * ## Example
 * ```python
 * class Trainer:
 *     def __init__(self, model):
 *         self.model = model
 *
 *     def loss(self, x, y):
 *         return jnp.mean((jax.vmap(self.model)(x) - y) ** 2)
 *
 *     def step(self, x, y):
 *         grads = jax.grad(self.loss)(x, y)  # gradients with respect to `x`
 *         updates, self.opt_state = self.optim.update(grads, self.opt_state)
 * ```
 *
 * ## Use instead
 * Make the model the first argument of a free function and use Equinox's filtered grad:
 * ```python
 * def loss(model, x, y):
 *     return jnp.mean((jax.vmap(model)(x) - y) ** 2)
 *
 * grads = eqx.filter_grad(loss)(trainer.model, x, y)
 * ```
 *
 * ## Fix safety
 * No automatic fix: moving the loss out of the class changes its signature and call sites.
 *
 * ## Known limits
 * Only classes defined in the checked files are judged; classes with unknown bases (flax,
 * `NamedTuple`, other libraries), class decorators other than `dataclass`, a `tree_flatten`
 * method, or a `jax.tree_util.register_*` call naming them may be pytrees and are skipped.
 * `argnums` must be a literal. Methods of `equinox.Module` subclasses are EQX003's business.
 * For bound methods, the model must be applied as `self.<attr>(...)` (or vmapped) where the
 * attribute is assigned a known Module, and the gradients must be bound to a name in the
 * call's statement and passed to `.update(...)` or `apply_updates` in the same function:
 * gradients with respect to inputs (saliency maps, adversarial examples) are left alone.
 */
#include <stdlib.h>
#include <string.h>

#include "eqlint/ctx.h"
#include "eqlint/value.h"

typedef struct state {
  eql_ctx *ctx;
  eql_eval ev;
} state;

static int is_grad_canon(const char *c) {
  return c && (!strcmp(c, "jax.grad") || !strcmp(c, "jax.value_and_grad"));
}

static int has_named_decorator(const eql_func *fn, const char *name) {
  for (unsigned i = 0; i < fn->ndecorators; i++) {
    const eql_expr *d = fn->decorators[i];
    if (d->kind == EQL_E_NAME && !strcmp(d->name, name)) return 1;
  }
  return 0;
}

static int is_instance_method(const eql_func *fn) {
  return fn && fn->cls && !has_named_decorator(fn, "staticmethod") &&
         !has_named_decorator(fn, "classmethod") && !has_named_decorator(fn, "property") &&
         fn->nparams >= 1 && fn->params[0].name && !strcmp(fn->params[0].name, "self") &&
         fn->params[0].kind != EQL_P_VARARGS;
}


/* A plain Python class: certainly not an equinox.Module and not a registered pytree. */
static int is_plain_class(state *st, const eql_facts *f, const eql_class *c, int depth) {
  if (!c || depth > 8) return 0;
  eql_classref ref = {f, c, NULL};
  if (eql_index_is_module(st->ctx->index, &ref) != EQL_NO) return 0;
  for (unsigned i = 0; i < c->ndecorators; i++) {
    const eql_expr *d = c->decorators[i];
    if (d->kind == EQL_E_CALL) d = d->a;
    const char *canon = eql_facts_canon_ro(f, d);
    if (canon && !strcmp(canon, "dataclasses.dataclass")) continue;
    return 0;
  }
  for (unsigned i = 0; i < c->nbases; i++) {
    const eql_expr *b = c->bases[i];
    const char *canon = eql_facts_canon_ro(f, b);
    if (canon && !strcmp(canon, "abc.ABC")) continue;
    if (!canon && b->kind == EQL_E_NAME && !strcmp(b->name, "object") &&
        !eql_facts_lookup(f, "object", b->scope, b->start))
      continue;
    eql_classref base = {NULL, NULL, NULL};
    if (canon) {
      if (!eql_index_resolve(st->ctx->index, f, canon, &base) || !base.cls) return 0;
    } else if (b->kind == EQL_E_NAME) {
      const eql_binding *bd = eql_facts_lookup(f, b->name, b->scope, b->start);
      if (!bd || bd->kind != EQL_B_CLASS || !bd->cls) return 0;
      base.facts = f;
      base.cls = bd->cls;
    } else {
      return 0;
    }
    if (!is_plain_class(st, base.facts, base.cls, depth + 1)) return 0;
    continue;
  }
  for (unsigned i = 0; i < c->nmethods; i++)
    if (!strcmp(c->methods[i]->name, "tree_flatten") || !strcmp(c->methods[i]->name, "__jax_array__"))
      return 0;
  /* jax.tree_util.register_pytree_node(Cls, ...) and friends anywhere in the file */
  for (unsigned i = 0; i < f->calls.n; i++) {
    const eql_expr *call = f->calls.items[i];
    const char *canon = eql_facts_canon_ro(f, call->a);
    if (!canon || strncmp(canon, "jax.tree_util.register", 22)) continue;
    const eql_expr *a0 = eql_call_arg(call, 0, NULL);
    if (a0 && a0->kind == EQL_E_NAME && !strcmp(a0->name, c->name)) return 0;
  }
  return 1;
}

/* Literal argnums of a grad call (`argnums=1`, `argnums=(0, 2)`): count, -1 absent, -2 unknown. */
static int argnums_of(const eql_expr *config, int *out, int max) {
  if (!config || config->kind != EQL_E_CALL) return -1;
  const eql_expr *v = NULL;
  for (unsigned i = 0; i < config->nargs; i++)
    if (config->args[i].kw && !strcmp(config->args[i].kw, "argnums")) v = config->args[i].value;
  if (!v) return -1;
  if (v->kind == EQL_E_INT) {
    out[0] = atoi(v->name);
    return 1;
  }
  if (v->kind != EQL_E_TUPLE && v->kind != EQL_E_LIST) return -2;
  int n = 0;
  for (unsigned i = 0; i < v->nargs && n < max; i++) {
    if (!v->args[i].value || v->args[i].value->kind != EQL_E_INT) return -2;
    out[n++] = atoi(v->args[i].value->name);
  }
  return n;
}

static int covers_zero(const eql_expr *config) {
  int nums[16];
  int n = argnums_of(config, nums, 16);
  if (n == -1) return 1;
  for (int i = 0; i < n; i++)
    if (nums[i] == 0) return 1;
  return 0;
}

static const char *help_text(void) {
  return "make the model the first argument of a free function and differentiate that: "
         "`def loss(model, x, y): ...` then `eqx.filter_grad(loss)(self.model, x, y)`";
}

static void report_self(state *st, const eql_expr *at, const char *transform, const eql_func *m) {
  eql_report(st->ctx, at->start, at->end, help_text(),
             "`%s` over the method `%s.%s` differentiates its first argument `self`, an "
             "instance of the plain class `%s` that is not a pytree of arrays, instead of the "
             "model (`TypeError: ... is not a valid JAX type`)",
             transform, m->cls->name, m->name, m->cls->name);
}

/* ---------------------------------------------------------------- bound methods */

typedef struct scan {
  const eql_func *m;
  const char *self;
  const eql_expr *model_use; /* `self.A` applied as the model */
  const char *model_attr;
  int param_is_model;        /* a differentiated parameter is used like a model */
  const char *const *dparams;
  int ndparams;
  state *st;
  const eql_class *cls;
} scan;

static int in_func(const eql_expr *e, const eql_func *m) {
  for (const eql_func *s = e->scope; s; s = s->parent)
    if (s == m) return 1;
  return 0;
}

static int is_self_attr(const scan *sc, const eql_expr *e) {
  return e && e->kind == EQL_E_ATTR && e->a && e->a->kind == EQL_E_NAME && e->name &&
         !strcmp(e->a->name, sc->self);
}

static int is_dparam(const scan *sc, const eql_expr *e) {
  if (!e || e->kind != EQL_E_NAME) return 0;
  for (int i = 0; i < sc->ndparams; i++)
    if (!strcmp(e->name, sc->dparams[i])) return 1;
  return 0;
}

/* Does some method of the class assign `self.<attr>` a Module? */
static void self_assigned_module(scan *sc, const eql_block *b, const char *self, const char *attr,
                                 int *found, int depth) {
  for (unsigned i = 0; i < b->n && !*found && depth < 20; i++) {
    const eql_stmt *s = b->items[i];
    if (s->kind == EQL_S_ASSIGN && s->value && s->ntargets == 1) {
      const eql_expr *t = s->targets[0];
      if (t->kind == EQL_E_ATTR && t->a && t->a->kind == EQL_E_NAME && !strcmp(t->a->name, self) &&
          t->name && !strcmp(t->name, attr)) {
        eql_value v = eql_eval_expr(&sc->st->ev, s->value);
        if (v.kind == EQL_V_MODULE) *found = 1;
      }
    }
    if (s->kind == EQL_S_DEF || s->kind == EQL_S_CLASS) continue;
    self_assigned_module(sc, &s->body, self, attr, found, depth + 1);
    self_assigned_module(sc, &s->orelse, self, attr, found, depth + 1);
  }
}

static int attr_is_module(scan *sc, const char *attr) {
  const eql_class *c = sc->cls;
  for (unsigned i = 0; i < c->nfields; i++)
    if (!strcmp(c->fields[i].name, attr) && c->fields[i].annotation) {
      eql_value v = eql_eval_annotation(&sc->st->ev, c->fields[i].annotation);
      if (v.kind == EQL_V_MODULE) return 1;
    }
  int found = 0;
  for (unsigned i = 0; i < c->nmethods && !found; i++) {
    const eql_func *fn = c->methods[i];
    if (!fn->nparams || !fn->params[0].name) continue;
    self_assigned_module(sc, &fn->body, fn->params[0].name, attr, &found, 0);
  }
  return found;
}

static int is_vmap_like(const char *canon) {
  return canon && (!strcmp(canon, "jax.vmap") || !strcmp(canon, "equinox.filter_vmap") ||
                   !strcmp(canon, "jax.jit") || !strcmp(canon, "equinox.filter_jit"));
}

static void scan_expr(const eql_expr *e, void *ud) {
  scan *sc = ud;
  if (e->kind != EQL_E_CALL || !in_func(e, sc->m)) return;
  const eql_facts *f = sc->st->ctx->facts;
  const eql_expr *callee = e->a;
  /* the model applied from self: self.model(x), jax.vmap(self.model)(x) */
  if (is_self_attr(sc, callee) && !sc->model_use && attr_is_module(sc, callee->name)) {
    sc->model_use = callee;
    sc->model_attr = callee->name;
  }
  const char *canon = eql_facts_canon(f, callee);
  if (is_vmap_like(canon)) {
    const eql_expr *a0 = eql_call_arg(e, 0, NULL);
    if (is_self_attr(sc, a0) && !sc->model_use && attr_is_module(sc, a0->name)) {
      sc->model_use = a0;
      sc->model_attr = a0->name;
    }
    if (is_dparam(sc, a0)) sc->param_is_model = 1;
  }
  /* a differentiated parameter used like a model */
  if (is_dparam(sc, callee)) sc->param_is_model = 1;
  if (canon && (!strcmp(canon, "equinox.combine") || !strcmp(canon, "equinox.tree_at") ||
                !strcmp(canon, "equinox.apply_updates") || !strncmp(canon, "equinox.filter", 14) ||
                !strncmp(canon, "jax.tree_util.", 14) || !strncmp(canon, "jax.tree.", 9)))
    for (unsigned i = 0; i < e->nargs; i++)
      if (is_dparam(sc, e->args[i].value)) sc->param_is_model = 1;
  /* passed on to another method of self or a function: may be the model there */
  if (callee && callee->kind == EQL_E_ATTR && callee->name &&
      (!strcmp(callee->name, "apply") || !strcmp(callee->name, "apply_fn")))
    for (unsigned i = 0; i < e->nargs; i++)
      if (is_dparam(sc, e->args[i].value)) sc->param_is_model = 1;
}


/* The name the gradients of `grad_call` are bound to when it is called at once:
 * `g = jax.grad(f)(...)`, `(v, g) = jax.value_and_grad(f)(...)`. */
static const eql_expr *grads_target(const eql_facts *f, const eql_expr *grad_call, int pair) {
  for (unsigned i = 0; i < f->calls.n; i++) {
    const eql_expr *outer = f->calls.items[i];
    if (outer->a != grad_call) continue;
    const eql_stmt *s = outer->stmt;
    if (!s || s->kind != EQL_S_ASSIGN || s->value != outer || s->ntargets != 1) return NULL;
    const eql_expr *t = s->targets[0];
    if (!pair) return t->kind == EQL_E_NAME ? t : NULL;
    if ((t->kind == EQL_E_TUPLE || t->kind == EQL_E_LIST) && t->nargs == 2 && t->args[1].value &&
        t->args[1].value->kind == EQL_E_NAME && !t->args[1].star)
      return t->args[1].value;
    return NULL;
  }
  return NULL;
}

typedef struct use_scan {
  const eql_facts *f;
  const eql_expr *target;
  int used;
} use_scan;

/* Are the gradients handed to an optimiser (`optim.update(grads, ...)`) or applied
 * (`apply_updates(model, grads)`)? Then they were meant to be the model's. */
static void find_update_use(const eql_expr *e, void *ud) {
  use_scan *u = ud;
  if (e->kind != EQL_E_CALL || e->scope != u->target->scope || e->start < u->target->end) return;
  const eql_expr *g = NULL;
  const char *canon = eql_facts_canon(u->f, e->a);
  if (canon && (!strcmp(canon, "equinox.apply_updates") || !strcmp(canon, "optax.apply_updates")))
    g = eql_call_arg(e, 1, "updates");
  else if (e->a && e->a->kind == EQL_E_ATTR && e->a->name && !strcmp(e->a->name, "update"))
    g = eql_call_arg(e, 0, "updates");
  if (g && g->kind == EQL_E_NAME && !strcmp(g->name, u->target->name)) u->used = 1;
}

static void check_bound(state *st, const eql_expr *call, const eql_expr *fn_expr, const char *transform) {
  const eql_facts *f = st->ctx->facts;
  if (!fn_expr || fn_expr->kind != EQL_E_ATTR || !fn_expr->a || fn_expr->a->kind != EQL_E_NAME ||
      !fn_expr->name)
    return;
  const eql_expr *obj = fn_expr->a;
  const eql_binding *b = eql_facts_lookup(f, obj->name, obj->scope, obj->start);
  if (!b) return;
  if (b->kind == EQL_B_CLASS) {
    /* jax.grad(Trainer.loss): unbound, self comes first */
    if (!b->cls || !is_plain_class(st, f, b->cls, 0)) return;
    for (unsigned i = 0; i < b->cls->nmethods; i++) {
      const eql_func *m = b->cls->methods[i];
      if (strcmp(m->name, fn_expr->name) || !is_instance_method(m)) continue;
      if (covers_zero(call)) report_self(st, call->a, transform, m);
      return;
    }
    return;
  }
  if (b->kind != EQL_B_PARAM || !b->scope || !b->param) return;
  const eql_func *outer = b->scope;
  if (!is_instance_method(outer) || b->param != &outer->params[0]) return;
  const eql_class *cls = outer->cls;
  if (!is_plain_class(st, f, cls, 0)) return;
  eql_classref ref = {f, cls, NULL};
  const eql_facts *in = NULL;
  const eql_func *m = eql_index_method(st->ctx->index, &ref, fn_expr->name, &in);
  if (!m || in != f || !is_instance_method(m) || m->nparams < 2) return;
  int nums[16];
  int n = argnums_of(call, nums, 16);
  if (n == -2) return;
  if (n == -1) {
    nums[0] = 0;
    n = 1;
  }
  const char *dparams[16];
  int nd = 0;
  for (int i = 0; i < n; i++) {
    unsigned k = (unsigned)nums[i] + 1;
    if (nums[i] < 0 || k >= m->nparams || m->params[k].kind == EQL_P_VARARGS ||
        m->params[k].kind == EQL_P_VARKW || !m->params[k].name)
      return;
    if (m->params[k].annotation) {
      eql_value v = eql_eval_annotation(&st->ev, m->params[k].annotation);
      if (v.kind != EQL_V_ARRAY) return; /* a Module, or something we cannot judge */
    }
    dparams[nd++] = m->params[k].name;
  }
  scan sc = {.m = m, .self = m->params[0].name, .dparams = dparams, .ndparams = nd, .st = st, .cls = cls};
  eql_facts_visit_exprs(f, scan_expr, &sc);
  if (!sc.model_use || sc.param_is_model) return;
  /* gradients with respect to inputs are wanted at times (saliency maps): report only when
   * they are used as the model's (handed to an optimiser or applied) */
  const eql_expr *g = grads_target(f, call, !strcmp(transform, "jax.value_and_grad"));
  if (!g) return;
  use_scan u = {f, g, 0};
  eql_facts_visit_exprs(f, find_update_use, &u);
  if (!u.used) return;
  eql_report(st->ctx, call->start, call->end, help_text(),
             "`%s(%s)` differentiates `%s` with respect to `%s`, not the model: `%s` reads the "
             "model from `%s.%s`, which JAX treats as a constant, so its parameters get no "
             "gradient",
             transform, eql_expr_snippet(f, fn_expr, 40), m->name, dparams[0], m->name,
             sc.self, sc.model_attr);
}

void eql_check_EQX016(eql_ctx *ctx) {
  const eql_facts *f = ctx->facts;
  state st = {.ctx = ctx, .ev = {.idx = ctx->index, .f = f}};
  /* decorators on methods */
  for (unsigned i = 0; i < f->funcs.n; i++) {
    const eql_func *fn = f->funcs.items[i];
    if (!is_instance_method(fn)) continue;
    for (unsigned d = 0; d < fn->ndecorators; d++) {
      eql_value v = eql_eval_expr(&st.ev, fn->decorators[d]);
      if (v.kind != EQL_V_TRANSFORMER || !is_grad_canon(v.canon)) continue;
      if (!is_plain_class(&st, f, fn->cls, 0)) break;
      const eql_expr *config = fn->decorators[d]->kind == EQL_E_CALL ? fn->decorators[d] : NULL;
      if (covers_zero(config)) report_self(&st, fn->decorators[d], v.canon, fn);
      break;
    }
  }
  /* wrappers: jax.grad(Trainer.loss), jax.grad(self.loss) */
  for (unsigned i = 0; i < f->calls.n; i++) {
    const eql_expr *call = f->calls.items[i];
    const char *canon = eql_facts_canon(f, call->a);
    if (!is_grad_canon(canon)) continue;
    const eql_expr *fn_expr = eql_call_arg(call, 0, "fun");
    check_bound(&st, call, fn_expr, canon);
  }
}
