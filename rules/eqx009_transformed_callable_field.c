/* ## What it does
 * Checks for a field of an `equinox.Module` assigned, in `__init__`, the result of a JAX
 * transform (`jax.jit`, `jax.vmap`, `jax.grad`, `jax.value_and_grad`, `jax.checkpoint`,
 * `jax.pmap`, `jax.numpy.vectorize` ...) applied to something that holds parameters: a
 * layer or Module instance, a method of the Module being built, or a lambda over `self`.
 *
 * ## Why is this bad
 * The function a JAX transform returns is not a pytree: to Equinox it is one opaque leaf.
 * The parameters of the layer inside it vanish from the model's tree, so they get no
 * gradients and the optimiser never updates them; and every new instance carries a new
 * function object, which `eqx.filter_jit` treats as a new static value and recompiles for.
 * Equinox warns: "Possibly assigning a JAX-transformed callable as an attribute ... This
 * will not have any of its parameters updated."
 *
 * ## Example
 * ```python
 * class Model(eqx.Module):
 *     vmap_linear: Callable
 *
 *     def __init__(self, key):
 *         self.vmap_linear = jax.vmap(eqx.nn.Linear(3, 3, key=key))
 * ```
 *
 * ## Use instead
 * Store the layer and apply the transform when calling it, or use the `eqx.filter_*` twin,
 * which returns a pytree:
 * ```python
 *     def __init__(self, key):
 *         self.linear = eqx.nn.Linear(3, 3, key=key)
 *
 *     def __call__(self, xs):
 *         return jax.vmap(self.linear)(xs)
 * ```
 *
 * ## Fix safety
 * Unsafe. The fix replaces the transform with its `eqx.filter_*` twin
 * (`jax.vmap(layer)` -> `eqx.filter_vmap(layer)`), which returns a Module: the layer's
 * parameters are back in the tree, so they now get gradients and optimiser updates. That is
 * the point, but it changes training; and the twins differ in details (`eqx.filter_vmap`
 * maps arrays only, by default along axis 0). Nested transforms (`jax.jit(jax.vmap(l))`),
 * `jax.numpy.vectorize` and keywords the twin does not take get no fix: move the transform
 * into `__call__` by hand.
 *
 * ## Known limits
 * Reported only when the transformed callable is known to hold parameters (a Module
 * constructor call or a name bound to one, a field annotated with such a Module class, a
 * method of the class, a lambda that uses `self`); transforms of plain functions, and
 * values built outside `__init__`, are not reported. `eqx.filter_*` wrappers are pytrees
 * and are never reported.
 */
#include <string.h>

#include "eqlint/ctx.h"
#include "rule_fix.h"
#include "rule_util.h"
#include "eqlint/value.h"






/* Built-in layers that hold arrays (weights); Lambda, Identity, Dropout and the pools do
 * not. */
static int layer_has_arrays(const char *name) {
  static const char *const names[] = {
    "Linear", "Conv", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose", "ConvTranspose1d",
    "ConvTranspose2d", "ConvTranspose3d", "Embedding", "LayerNorm", "RMSNorm", "GroupNorm",
    "GRUCell", "LSTMCell", "PReLU", "MLP", "MultiheadAttention", "BatchNorm", "Sequential",
    "SpectralNorm", "WeightNorm", NULL,
  };
  for (int i = 0; names[i]; i++)
    if (!strcmp(name, names[i])) return 1;
  return 0;
}

/* Can instances of this Module class hold parameters? (a user class: any non-static
 * field) */
static int module_holds_params(const eql_classref *c) {
  if (c->layer) return layer_has_arrays(c->layer->name);
  if (!c->cls) return 0;
  for (unsigned i = 0; i < c->cls->nfields; i++)
    if (!c->cls->fields[i].is_static && !c->cls->fields[i].is_classvar) return 1;
  return c->cls->nbases > 0 && c->cls->nfields == 0; /* fields inherited: assume so */
}

typedef struct state {
  eql_ctx *ctx;
  eql_eval ev;
  const eql_class *cls;
  const eql_func *init;
  const char *self;
} state;

static int is_self(state *st, const eql_expr *e) {
  if (!e || e->kind != EQL_E_NAME || strcmp(e->name, st->self)) return 0;
  const eql_binding *b = eql_facts_lookup(st->ctx->facts, e->name, e->scope, e->start);
  return b && b->kind == EQL_B_PARAM && b->scope == st->init;
}

typedef struct uses_self {
  state *st;
  int found;
} uses_self;

static void find_self(const eql_expr *e, void *ud) {
  uses_self *u = ud;
  if (!u->found && is_self(u->st, e)) u->found = 1;
}

static void visit(const eql_expr *e, eql_expr_cb cb, void *ud, int depth) {
  if (!e || depth > 200) return;
  cb(e, ud);
  visit(e->a, cb, ud, depth + 1);
  visit(e->b, cb, ud, depth + 1);
  visit(e->c, cb, ud, depth + 1);
  for (unsigned i = 0; i < e->nargs; i++) {
    visit(e->args[i].key, cb, ud, depth + 1);
    visit(e->args[i].value, cb, ud, depth + 1);
  }
}

/* Follows a name bound once in `__init__` to its value. */
static const eql_expr *local_value(state *st, const eql_expr *e) {
  if (!e || e->kind != EQL_E_NAME) return e;
  const eql_binding *b = eql_facts_lookup(st->ctx->facts, e->name, e->scope, e->start);
  if (b && b->kind == EQL_B_ASSIGN && b->unpack < 0 && b->scope == st->init && b->value)
    return b->value;
  return e;
}

/* What in the wrapped callable holds parameters: a phrase, or NULL. */
static const char *holds_params(state *st, const eql_expr *inner) {
  const eql_facts *f = st->ctx->facts;
  if (!inner) return NULL;
  if (inner->kind == EQL_E_LAMBDA) {
    uses_self u = {st, 0};
    visit(inner->a, find_self, &u, 0);
    return u.found ? "the lambda reads the Module being built through `self`" : NULL;
  }
  if (inner->kind == EQL_E_ATTR && inner->name && is_self(st, inner->a)) {
    for (unsigned i = 0; i < st->cls->nfields; i++) {
      const eql_field *fd = &st->cls->fields[i];
      if (strcmp(fd->name, inner->name)) continue;
      if (fd->is_static || !fd->annotation) return NULL;
      eql_value v = eql_eval_annotation(&st->ev, fd->annotation);
      if (v.kind == EQL_V_MODULE && module_holds_params(&v.cls))
        return eql_arena_printf(st->ctx->scratch, "the parameters of `%s` (a `%s`)",
                                eql_expr_snippet(f, inner, 40), eql_classref_name(&v.cls));
      return NULL;
    }
    const eql_func *m = eql_ru_own_method(st->cls, inner->name);
    if (!m) m = eql_ru_base_method(st->ctx->index, f, st->cls, inner->name, NULL);
    if (m && !m->ndecorators && m->nparams)
      return eql_arena_printf(st->ctx->scratch,
                              "the bound method `%s` carries the Module being built, with all "
                              "its parameters",
                              eql_expr_snippet(f, inner, 40));
    return NULL;
  }
  const eql_expr *v = local_value(st, inner);
  eql_value val = eql_eval_expr(&st->ev, v);
  if (val.kind == EQL_V_MODULE && module_holds_params(&val.cls))
    return eql_arena_printf(st->ctx->scratch, "the parameters of the wrapped `%s`",
                            eql_classref_name(&val.cls));
  return NULL;
}

/* The eqx twin of a JAX transform, or NULL. */
static const char *filter_twin(const char *canon) {
  if (!canon) return NULL;
  if (!strcmp(canon, "jax.jit")) return "eqx.filter_jit";
  if (!strcmp(canon, "jax.vmap")) return "eqx.filter_vmap";
  if (!strcmp(canon, "jax.pmap")) return "eqx.filter_pmap";
  if (!strcmp(canon, "jax.grad")) return "eqx.filter_grad";
  if (!strcmp(canon, "jax.value_and_grad")) return "eqx.filter_value_and_grad";
  if (!strcmp(canon, "jax.checkpoint") || !strcmp(canon, "jax.remat"))
    return "eqx.filter_checkpoint";
  return NULL;
}

/* If `e` is a JAX-transform application, its transform's canonical name and the wrapped
 * callable. */
static const char *transform_call(state *st, const eql_expr *e, const eql_expr **inner) {
  if (!e || e->kind != EQL_E_CALL || !e->a) return NULL;
  const char *canon = eql_facts_canon(st->ctx->facts, e->a);
  if (canon && !strcmp(canon, "jax.numpy.vectorize")) {
    *inner = eql_call_arg(e, 0, "pyfunc");
    return "jax.numpy.vectorize";
  }
  if (canon && !strncmp(canon, "equinox.", 8)) return NULL;
  eql_value v = eql_eval_expr(&st->ev, e);
  if (v.kind != EQL_V_TRANSFORMED || !v.canon) return NULL;
  *inner = eql_call_arg(e, 0, "fun");
  if (!*inner) *inner = eql_call_arg(e, 0, "f");
  return v.canon;
}

static void check_assign(state *st, const eql_stmt *s, const eql_expr *tg) {
  const eql_expr *value = local_value(st, s->value);
  const eql_expr *inner = NULL;
  const char *tr = transform_call(st, value, &inner);
  if (!tr) return;
  /* jax.jit(jax.vmap(layer)): look through nested transforms */
  int nested = 0;
  for (int k = 0; k < 4 && inner; k++) {
    const eql_expr *in2 = NULL;
    if (!transform_call(st, local_value(st, inner), &in2)) break;
    inner = in2;
    nested = 1;
  }
  const char *what = holds_params(st, inner);
  if (!what) return;
  const eql_facts *f = st->ctx->facts;
  const char *twin = filter_twin(tr);
  const char *help =
      twin ? eql_arena_printf(st->ctx->scratch,
                              "store the layer itself and apply `%s` in `__call__`, or use `%s`, "
                              "which returns a pytree",
                              tr, twin)
           : eql_arena_printf(st->ctx->scratch,
                              "store the layer itself and apply `%s` in `__call__`", tr);
  eql_diag *d = eql_report(st->ctx, s->start, s->end, help,
                           "field `%s` of `%s` is assigned the result of `%s`, which is not a "
                           "pytree: %s vanish from the model (no gradients, no optimiser "
                           "updates) and each instance recompiles under `eqx.filter_jit`",
                           tg->name, st->cls->qualname, tr, what);
  if (d && value != s->value)
    eql_diag_set_related(d, f->src, value->start, value->end, "the transform is applied here");
  const char *callee = value->a ? eql_facts_canon(f, value->a) : NULL;
  if (d && !nested && twin && callee && !strcmp(callee, tr) && eql_rf_in_file(st->ctx, value)) {
    if (eql_rf_twin(st->ctx, d, tr, value->a, value, 1) < 0) eql_diag_drop_fix(d);
    else eql_diag_fix_unsafe(d);
  }
}

static void visit_block(state *st, const eql_block *b);

static void visit_stmt(state *st, const eql_stmt *s) {
  if (s->kind == EQL_S_ASSIGN && s->value) {
    for (unsigned t = 0; t < s->ntargets; t++) {
      const eql_expr *tg = s->targets[t];
      if (tg->kind == EQL_E_ATTR && tg->name && is_self(st, tg->a)) {
        check_assign(st, s, tg);
        break;
      }
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

void eql_check_EQX009(eql_ctx *ctx) {
  const eql_facts *f = ctx->facts;
  for (unsigned i = 0; i < f->classes.n; i++) {
    const eql_class *c = f->classes.items[i];
    const eql_func *init = eql_ru_own_method(c, "__init__");
    if (!init || !init->nparams || !init->params[0].name || init->params[0].kind != EQL_P_PLAIN)
      continue;
    eql_classref ref = {f, c, NULL};
    if (eql_index_is_module(ctx->index, &ref) != EQL_YES) continue;
    state st = {ctx, {.idx = ctx->index, .f = f}, c, init, init->params[0].name};
    visit_block(&st, &init->body);
  }
}
