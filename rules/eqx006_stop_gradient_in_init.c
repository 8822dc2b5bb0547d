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
 * Unsafe. When the value is stored through a plain `jax.lax.stop_gradient(x)` call, the fix
 * unwraps it there and wraps every read of the field in the class's other methods
 * (`self.embedding` -> `jax.lax.stop_gradient(self.embedding)`), spelled as the file spells
 * `stop_gradient`. That makes the freezing real, which changes training; and reads outside
 * the class (subclasses, functions given the model) are not wrapped. Values stored through
 * `jax.tree_util.tree_map` or `object.__setattr__` get no fix.
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
#include "rule_fix.h"

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

/* Reads of `self.<field>` in the methods of the class other than the initialisers. */
typedef struct reads {
  eql_ctx *ctx;
  const eql_class *cls;
  const char *field;
  const eql_expr *found[64];
  unsigned n;
  int overflow;
} reads;

/* The method of the class an expression is in (through lambdas and nested functions). */
static const eql_func *method_of(const eql_expr *e, const eql_class *cls) {
  for (const eql_func *fn = e->scope; fn; fn = fn->parent)
    if (fn->cls == cls) return fn;
  return NULL;
}

static int is_target(const eql_expr *e) {
  const eql_stmt *s = e->stmt;
  if (!s || (s->kind != EQL_S_ASSIGN && s->kind != EQL_S_AUGASSIGN && s->kind != EQL_S_DELETE))
    return 0;
  /* in a target at all: `self.x[0] = v` writes through the field too */
  for (unsigned i = 0; i < s->ntargets; i++)
    if (s->targets[i]->start <= e->start && e->end <= s->targets[i]->end) return 1;
  for (unsigned i = 0; s->kind == EQL_S_DELETE && i < s->nexprs; i++)
    if (s->exprs[i]->start <= e->start && e->end <= s->exprs[i]->end) return 1;
  return 0;
}

static void find_read(const eql_expr *e, void *ud) {
  reads *r = ud;
  if (e->kind != EQL_E_ATTR || !e->name || strcmp(e->name, r->field) || !e->a ||
      e->a->kind != EQL_E_NAME)
    return;
  const eql_func *m = method_of(e, r->cls);
  if (!m || !strcmp(m->name, "__init__") || !strcmp(m->name, "__post_init__") || !m->nparams ||
      !m->params[0].name || strcmp(m->params[0].name, e->a->name))
    return;
  const eql_binding *b = eql_facts_lookup(r->ctx->facts, e->a->name, e->a->scope, e->a->start);
  if (!b || b->kind != EQL_B_PARAM || b->scope != m) return;
  if (is_target(e)) {
    r->overflow = 1; /* written there too (EQX008's business): leave it all alone */
    return;
  }
  if (r->n == sizeof r->found / sizeof *r->found) r->overflow = 1;
  else r->found[r->n++] = e;
}

/* Unwraps the stop_gradient in the initialiser and wraps the field's reads instead. */
static void fix(state *st, eql_diag *d, const char *field, const eql_expr *sg) {
  eql_ctx *ctx = st->ctx;
  const eql_facts *f = ctx->facts;
  const eql_expr *arg = sg->nargs == 1 && !sg->args[0].kw && !sg->args[0].star
                            ? sg->args[0].value : NULL;
  if (!d || !arg || !st->fn->cls || !is_stop_gradient(st, sg->a) || !eql_rf_in_file(ctx, sg))
    return;
  /* the spelling of stop_gradient must mean the same in the other methods: its root name is
   * bound at module level */
  const eql_expr *root = sg->a;
  while (root && root->kind == EQL_E_ATTR) root = root->a;
  if (!root || root->kind != EQL_E_NAME) return;
  const eql_binding *rb = eql_facts_lookup(f, root->name, root->scope, root->start);
  if (!rb || rb->scope) return;
  reads r = {.ctx = ctx, .cls = st->fn->cls, .field = field};
  eql_facts_visit_exprs(f, find_read, &r);
  if (r.overflow) return;
  const char *sg_text = eql_rf_text(ctx, sg->a);
  const char *title = eql_arena_printf(ctx->scratch,
                                       "Move `%s` from `__init__` to the uses of `self.%s`",
                                       sg_text, field);
  int rc = eql_fix_edit(ctx, d, title, sg->start, sg->end, eql_rf_text(ctx, arg));
  for (unsigned i = 0; rc == 0 && i < r.n; i++) {
    const eql_expr *e = r.found[i];
    if (eql_facts_lookup(f, root->name, e->scope, e->start) != rb) rc = -1; /* shadowed */
    else
      rc = eql_fix_edit(ctx, d, title, e->start, e->end,
                        eql_arena_printf(ctx->scratch, "%s(%s)", sg_text, eql_rf_text(ctx, e)));
  }
  if (rc < 0) eql_diag_drop_fix(d);
  else eql_diag_fix_unsafe(d);
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
  if (d && s->kind == EQL_S_ASSIGN) fix(st, d, field, sg);
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
