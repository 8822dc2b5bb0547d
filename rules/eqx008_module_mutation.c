/* ## What it does
 * Checks for assignments to attributes of `self` (`self.x = ...`, `self.x += ...`,
 * `setattr(self, ...)`) in a method of an `equinox.Module` that runs after
 * initialisation: any method other than `__init__`, `__post_init__` and the helpers they
 * call.
 *
 * ## Why is this bad
 * Equinox Modules are frozen dataclasses: once `__init__` has returned, assigning to a
 * field raises `dataclasses.FrozenInstanceError: cannot assign to field 'x'`. Code written
 * in the PyTorch style (`self.step += 1`, `self.running_mean = ...` in `__call__`) cannot
 * work, and under `jax.jit` it could not work anyway: the Module passed in is a copy
 * rebuilt from its leaves.
 *
 * ## Example
 * ```python
 * class Counter(eqx.Module):
 *     count: jax.Array
 *
 *     def __call__(self, x):
 *         self.count += 1
 *         return x
 * ```
 *
 * ## Use instead
 * Return an updated Module (`eqx.tree_at`), or keep mutable state in `eqx.nn.State`:
 * ```python
 *     def __call__(self, x):
 *         return x, eqx.tree_at(lambda m: m.count, self, self.count + 1)
 * ```
 *
 * ## Fix safety
 * No automatic fix: the caller has to use the returned Module (or thread the state).
 *
 * ## Known limits
 * Methods called from `__init__`/`__post_init__` through `self.name(...)` (in the class or
 * its base classes of this run) are initialisation helpers and are not checked; a helper
 * reached only in another way (passed `self` as an argument, or called from a subclass's
 * `__init__` in another file) is checked like any method. `__post_init__` is never
 * reported (Equinox allows assignments there), nor is `object.__setattr__`, the deliberate
 * escape hatch. Mutations of a field's contents (`self.cache[k] = v`) are not reported.
 */
#include <string.h>

#include "eqlint/ctx.h"
#include "rule_util.h"
#include "eqlint/value.h"






/* The names of the methods `__init__`/`__post_init__` of `c` (or of its known base classes)
 * call on their instance, transitively through the class's own methods. */
typedef struct names {
  const char *items[64];
  unsigned n;
} names;

static int names_has(const names *ns, const char *n) {
  for (unsigned i = 0; i < ns->n; i++)
    if (!strcmp(ns->items[i], n)) return 1;
  return 0;
}

typedef struct collect {
  const eql_facts *f;
  const eql_func *fn;
  const char *self;
  names *out;
} collect;

static void collect_call(const eql_expr *e, void *ud) {
  collect *c = ud;
  if (e->kind != EQL_E_CALL || !e->a || e->a->kind != EQL_E_ATTR || !e->a->name) return;
  const eql_expr *obj = e->a->a;
  if (!obj || obj->kind != EQL_E_NAME || strcmp(obj->name, c->self)) return;
  if (e->scope != c->fn) {
    /* inside a nested function of the method: still the method's `self`? */
    const eql_binding *b = eql_facts_lookup(c->f, obj->name, e->scope, e->start);
    if (!b || b->kind != EQL_B_PARAM || b->scope != c->fn) return;
  }
  if (!names_has(c->out, e->a->name) && c->out->n < 64) c->out->items[c->out->n++] = e->a->name;
}

static void visit_exprs_block(const eql_block *b, eql_expr_cb cb, void *ud);

static void visit_expr(const eql_expr *e, eql_expr_cb cb, void *ud, int depth) {
  if (!e || depth > 200) return;
  cb(e, ud);
  visit_expr(e->a, cb, ud, depth + 1);
  visit_expr(e->b, cb, ud, depth + 1);
  visit_expr(e->c, cb, ud, depth + 1);
  for (unsigned i = 0; i < e->nargs; i++) {
    visit_expr(e->args[i].key, cb, ud, depth + 1);
    visit_expr(e->args[i].value, cb, ud, depth + 1);
  }
}

static void visit_exprs_stmt(const eql_stmt *s, eql_expr_cb cb, void *ud) {
  for (unsigned i = 0; i < s->ntargets; i++) visit_expr(s->targets[i], cb, ud, 0);
  visit_expr(s->value, cb, ud, 0);
  for (unsigned i = 0; i < s->nexprs; i++)
    if (s->exprs[i] != s->value) visit_expr(s->exprs[i], cb, ud, 0);
  if (s->kind == EQL_S_DEF && s->func) visit_exprs_block(&s->func->body, cb, ud);
  visit_exprs_block(&s->body, cb, ud);
  visit_exprs_block(&s->orelse, cb, ud);
  visit_exprs_block(&s->finalbody, cb, ud);
  for (unsigned h = 0; h < s->nhandlers; h++) visit_exprs_block(&s->handlers[h], cb, ud);
}

static void visit_exprs_block(const eql_block *b, eql_expr_cb cb, void *ud) {
  for (unsigned i = 0; i < b->n; i++) visit_exprs_stmt(b->items[i], cb, ud);
}

static void calls_on_self(const eql_facts *f, const eql_func *fn, names *out) {
  if (!fn->nparams || !fn->params[0].name) return;
  collect c = {f, fn, fn->params[0].name, out};
  visit_exprs_block(&fn->body, collect_call, &c);
}

/* Seeds `out` with what the initialisers of `c` and its known bases call on self. */
static void init_calls(const eql_index *idx, const eql_facts *f, const eql_class *c, names *out,
                       int depth) {
  if (depth > 16) return;
  for (unsigned i = 0; i < c->nmethods; i++) {
    const eql_func *m = c->methods[i];
    if (!strcmp(m->name, "__init__") || !strcmp(m->name, "__post_init__"))
      calls_on_self(f, m, out);
  }
  for (unsigned i = 0; i < c->nbases; i++) {
    eql_classref ref;
    int root;
    if (eql_ru_resolve_base(idx, f, c->bases[i], &ref, &root) == 1 && ref.cls)
      init_calls(idx, ref.facts, ref.cls, out, depth + 1);
  }
}

/* Closes `ns` over the methods of `c` (own and known bases) that the named ones call. */
static void close_calls(const eql_index *idx, const eql_facts *f, const eql_class *c, names *ns) {
  for (unsigned k = 0; k < ns->n; k++) {
    const eql_facts *mf = f;
    const eql_func *m = eql_ru_own_method(c, ns->items[k]);
    if (!m) m = eql_ru_base_method(idx, f, c, ns->items[k], &mf);
    if (m) calls_on_self(mf, m, ns);
  }
}

static int is_decorated_static(const eql_facts *f, const eql_func *m) {
  for (unsigned i = 0; i < m->ndecorators; i++) {
    const eql_expr *d = m->decorators[i];
    const char *canon = eql_facts_canon_ro(f, d);
    const char *n = canon ? canon : (d->kind == EQL_E_NAME ? d->name : NULL);
    if (n && (!strcmp(n, "staticmethod") || !strcmp(n, "classmethod"))) return 1;
  }
  return 0;
}

typedef struct state {
  eql_ctx *ctx;
  const eql_class *cls;
  const eql_func *method;
  const char *self;
  const eql_stmt *reported; /* one report per statement (tuple targets) */
} state;

static int is_self(state *st, const eql_expr *e) {
  if (!e || e->kind != EQL_E_NAME || strcmp(e->name, st->self)) return 0;
  const eql_binding *b = eql_facts_lookup(st->ctx->facts, e->name, e->scope, e->start);
  return b && b->kind == EQL_B_PARAM && b->scope == st->method;
}

static const char *help_text(eql_ctx *ctx, const char *field) {
  return eql_arena_printf(ctx->scratch,
                          "return an updated copy instead: `eqx.tree_at(lambda m: m.%s, self, "
                          "new_value)`; keep running statistics in `eqx.nn.State`",
                          field ? field : "x");
}

static void report_target(state *st, const eql_stmt *s, const eql_expr *tg, int aug) {
  if (!tg) return;
  if (tg->kind == EQL_E_TUPLE || tg->kind == EQL_E_LIST) {
    for (unsigned i = 0; i < tg->nargs; i++)
      report_target(st, s, tg->args[i].value, aug);
    return;
  }
  if (tg->kind == EQL_E_STARRED) {
    report_target(st, s, tg->a, aug);
    return;
  }
  if (tg->kind != EQL_E_ATTR || !tg->name || !is_self(st, tg->a) || st->reported == s) return;
  st->reported = s;
  eql_report(st->ctx, tg->start, s->end, help_text(st->ctx, tg->name),
             "`%s %s ...` in `%s.%s` mutates the Module after `__init__`: Equinox Modules are "
             "frozen, so this raises `FrozenInstanceError: cannot assign to field '%s'`",
             eql_expr_snippet(st->ctx->facts, tg, 40), aug ? s->op : "=", st->cls->qualname,
             st->method->name, tg->name);
}

static void visit_block(state *st, const eql_block *b);

static void visit_stmt(state *st, const eql_stmt *s) {
  if (s->kind == EQL_S_ASSIGN && s->value) {
    for (unsigned t = 0; t < s->ntargets; t++) report_target(st, s, s->targets[t], 0);
  } else if (s->kind == EQL_S_AUGASSIGN && s->ntargets) {
    report_target(st, s, s->targets[0], 1);
  }
  if (s->kind == EQL_S_DEF && s->func) visit_block(st, &s->func->body);
  if (s->kind == EQL_S_CLASS) return;
  visit_block(st, &s->body);
  visit_block(st, &s->orelse);
  visit_block(st, &s->finalbody);
  for (unsigned h = 0; h < s->nhandlers; h++) visit_block(st, &s->handlers[h]);
}

static void visit_block(state *st, const eql_block *b) {
  for (unsigned i = 0; i < b->n; i++) visit_stmt(st, b->items[i]);
}

static void find_setattr(const eql_expr *e, void *ud) {
  state *st = ud;
  if (e->kind != EQL_E_CALL || !e->a || e->a->kind != EQL_E_NAME || strcmp(e->a->name, "setattr"))
    return;
  if (eql_facts_lookup(st->ctx->facts, "setattr", e->scope, e->start)) return; /* shadowed */
  const eql_expr *obj = eql_call_arg(e, 0, NULL);
  if (!is_self(st, obj)) return;
  const eql_expr *name = eql_call_arg(e, 1, NULL);
  const char *field = name && name->kind == EQL_E_STR ? name->name : NULL;
  eql_report(st->ctx, e->start, e->end, help_text(st->ctx, field),
             "`%s` in `%s.%s` mutates the Module after `__init__`: Equinox Modules are frozen, "
             "so this raises `FrozenInstanceError`",
             eql_expr_snippet(st->ctx->facts, e, 50), st->cls->qualname, st->method->name);
}

void eql_check_EQX008(eql_ctx *ctx) {
  const eql_facts *f = ctx->facts;
  for (unsigned i = 0; i < f->classes.n; i++) {
    const eql_class *c = f->classes.items[i];
    if (!c->nmethods) continue;
    eql_classref self = {f, c, NULL};
    if (eql_index_is_module(ctx->index, &self) != EQL_YES) continue;
    names helpers = {{0}, 0};
    init_calls(ctx->index, f, c, &helpers, 0);
    close_calls(ctx->index, f, c, &helpers);
    for (unsigned m = 0; m < c->nmethods; m++) {
      const eql_func *fn = c->methods[m];
      if (!strcmp(fn->name, "__init__") || !strcmp(fn->name, "__post_init__") ||
          !strcmp(fn->name, "__new__") || !strcmp(fn->name, "__setattr__") ||
          !strcmp(fn->name, "__delattr__") || !strcmp(fn->name, "__init_subclass__") ||
          !strcmp(fn->name, "__class_getitem__") || names_has(&helpers, fn->name))
        continue;
      if (!fn->nparams || !fn->params[0].name || fn->params[0].kind == EQL_P_VARARGS ||
          fn->params[0].kind == EQL_P_VARKW || fn->params[0].kind == EQL_P_KWONLY)
        continue;
      if (is_decorated_static(f, fn)) continue;
      state st = {ctx, c, fn, fn->params[0].name, NULL};
      visit_block(&st, &fn->body);
      visit_exprs_block(&fn->body, find_setattr, &st);
    }
  }
}
