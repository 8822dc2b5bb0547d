/* ## What it does
 * Checks for `self.f = self.g` in the `__init__` of an `equinox.Module`, where `g` is a
 * method of the class (its own or inherited), not a field.
 *
 * ## Why is this bad
 * `self.g` is a bound method whose `__self__` is the Module being built. Storing it in a
 * field makes the Module contain itself: it is no longer a tree, so flattening, `jit`,
 * `grad` and serialisation go wrong. Since v0.11 Equinox refuses it at run time with
 * "Cannot assign methods in __init__" (`self.foo.__self__` is a cycle that brings us back
 * to `self`); older versions silently misbehaved.
 *
 * ## Example
 * ```python
 * class Model(eqx.Module):
 *     forward: Callable
 *
 *     def __init__(self, use_residual):
 *         self.forward = self.residual if use_residual else self.plain
 *
 *     def residual(self, x): ...
 *     def plain(self, x): ...
 * ```
 *
 * ## Use instead
 * A `@property`, which is not stored in the tree:
 * ```python
 * class Model(eqx.Module):
 *     use_residual: bool = eqx.field(static=True)
 *
 *     @property
 *     def forward(self):
 *         return self.residual if self.use_residual else self.plain
 * ```
 *
 * ## Fix safety
 * No automatic fix: turning the field into a property changes the class's fields and its
 * constructor's behaviour.
 *
 * ## Known limits
 * Only direct `self.g` values (also as the arms of a conditional expression) in `__init__`
 * are checked; methods wrapped first (`jax.vmap(self.g)`, `functools.partial(self.g)`), or
 * assigned in helpers called from `__init__`, are not. Methods are found in the class and
 * its base classes of this run; `@property`, `@staticmethod` and `@classmethod` members
 * are not methods bound to the instance and are never reported.
 */
#include <string.h>

#include "eqlint/ctx.h"
#include "rule_util.h"
#include "eqlint/value.h"






/* Is `name` declared as a field (or any class-body name) in `c` or a known base class? */
static int has_field(const eql_index *idx, const eql_facts *f, const eql_class *c,
                     const char *name, int depth) {
  if (depth > 16) return 0;
  for (unsigned i = 0; i < c->nfields; i++)
    if (!strcmp(c->fields[i].name, name)) return 1;
  for (unsigned i = 0; i < c->nbases; i++) {
    eql_classref ref;
    int root;
    if (eql_ru_resolve_base(idx, f, c->bases[i], &ref, &root) != 1 || !ref.cls) continue;
    if (has_field(idx, ref.facts, ref.cls, name, depth + 1)) return 1;
  }
  return 0;
}

/* Decorated members (`@property`, `@staticmethod`, `@classmethod`, and any other wrapper)
 * are not plain bound methods when looked up on the instance: never reported. */
static int not_bound(const eql_func *m) { return m->ndecorators > 0; }

typedef struct state {
  eql_ctx *ctx;
  const eql_class *cls;
  const eql_func *init;
  const char *self;
} state;

static int is_self(state *st, const eql_expr *e) {
  if (!e || e->kind != EQL_E_NAME || strcmp(e->name, st->self)) return 0;
  const eql_binding *b = eql_facts_lookup(st->ctx->facts, e->name, e->scope, e->start);
  return b && b->kind == EQL_B_PARAM && b->scope == st->init;
}

/* The method that `value` (`self.g`) binds, or NULL. */
static const eql_func *bound_method(state *st, const eql_expr *value) {
  if (!value || value->kind != EQL_E_ATTR || !value->name || !is_self(st, value->a)) return NULL;
  const eql_facts *f = st->ctx->facts;
  const char *g = value->name;
  if (g[0] == '_' && g[1] == '_') return NULL; /* dunders: Equinox does not wrap them either */
  if (has_field(st->ctx->index, f, st->cls, g, 0)) return NULL;
  const eql_func *m = eql_ru_own_method(st->cls, g);
  if (!m) m = eql_ru_base_method(st->ctx->index, f, st->cls, g, NULL);
  if (!m || !m->cls || not_bound(m)) return NULL;
  if (!m->nparams || m->params[0].kind == EQL_P_VARARGS) return NULL;
  return m;
}

/* Reports `target = value` once if value (or an arm of it) is a bound method; 1 if so. */
static int check_value(state *st, const eql_stmt *s, const eql_expr *target,
                       const eql_expr *value) {
  if (!value) return 0;
  if (value->kind == EQL_E_IFEXP)
    return check_value(st, s, target, value->a) || check_value(st, s, target, value->c);
  const eql_func *m = bound_method(st, value);
  if (!m) return 0;
  const eql_facts *f = st->ctx->facts;
  eql_report(st->ctx, s->start, s->end,
             eql_arena_printf(st->ctx->scratch,
                              "make `%s` a `@property` that returns `self.%s` (it is then not "
                              "stored in the tree), or call `self.%s` where `self.%s` is used",
                              target->name, value->name, value->name, target->name),
             "`%s = %s` stores the bound method `%s.%s` in a field of `%s`: Equinox refuses "
             "this (\"Cannot assign methods in __init__\"), because `self.%s.__self__` is a "
             "cycle that brings us back to `self`",
             eql_expr_snippet(f, target, 40), eql_expr_snippet(f, value, 40), m->cls->qualname,
             m->name, st->cls->qualname, target->name);
  return 1;
}

static void visit_block(state *st, const eql_block *b);

static void visit_stmt(state *st, const eql_stmt *s) {
  if (s->kind == EQL_S_ASSIGN && s->value) {
    for (unsigned t = 0; t < s->ntargets; t++) {
      const eql_expr *tg = s->targets[t];
      if (tg->kind == EQL_E_ATTR && tg->name && is_self(st, tg->a))
        if (check_value(st, s, tg, s->value)) break;
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

void eql_check_EQX010(eql_ctx *ctx) {
  const eql_facts *f = ctx->facts;
  for (unsigned i = 0; i < f->classes.n; i++) {
    const eql_class *c = f->classes.items[i];
    eql_classref self = {f, c, NULL};
    const eql_func *init = eql_ru_own_method(c, "__init__");
    if (!init || !init->nparams || !init->params[0].name) continue;
    if (init->params[0].kind == EQL_P_VARARGS || init->params[0].kind == EQL_P_VARKW) continue;
    if (eql_index_is_module(ctx->index, &self) != EQL_YES) continue;
    state st = {ctx, c, init, init->params[0].name};
    visit_block(&st, &init->body);
  }
}
