/* ## What it does
 * Checks for `jax.jit` and `eqx.filter_jit` (wrapper or decorator) applied to a function
 * object that is new every time the application runs: a lambda, a `functools.partial`, the
 * result of another transform (`jax.jit(jax.grad(f))`), or a function defined inside a loop
 * body or inside a function that runs once per training step (one called from inside a loop
 * of the same file, directly or through other such functions).
 *
 * ## Why is this bad
 * JAX caches compiled code per function object. A function created afresh on each iteration
 * or each step is a new object, so every call traces and compiles again: the "jitted" step
 * is slower than not jitting at all, and the compilation cache grows without bound. The
 * JAX documentation warns against jitting temporary functions (lambdas, `partial`s) inside
 * loops for this reason.
 *
 * ## Example
 * ```python
 * def train_step(model, opt_state, x, y):
 *     @eqx.filter_jit
 *     def step(model, opt_state):
 *         ...
 *     return step(model, opt_state)
 *
 * for x, y in loader:
 *     model, opt_state = train_step(model, opt_state, x, y)
 * ```
 *
 * ## Use instead
 * Define and jit the whole step once, at module level, and pass everything that changes as
 * arguments:
 * ```python
 * @eqx.filter_jit
 * def train_step(model, opt_state, x, y):
 *     ...
 * ```
 *
 * ## Fix safety
 * No automatic fix: values the inner function closed over must become arguments.
 *
 * ## Known limits
 * Calls are followed within one file, by name (`step(...)`) and through `self.method(...)`.
 * A loop whose body holds another loop (over configurations or epochs, building a step for
 * the inner loop) is taken as a factory loop: jit applications in it, and in functions it
 * calls, are not reported; neither are functions that run a loop of their own (experiment
 * or epoch drivers), even when called in a loop.
 * Applications guarded by a cache check (`if fn is None:`, `if key not in cache:`) or stored
 * into a subscript (`cache[key] = jax.jit(...)`) are not reported. Loops written as
 * comprehensions are not followed.
 */
#include <string.h>

#include "eqlint/ctx.h"
#include "eqlint/value.h"

#define MAX_CHAIN 4

typedef struct state {
  eql_ctx *ctx;
  eql_eval ev;
} state;

static int is_jit_canon(const char *c) {
  return c && (!strcmp(c, "jax.jit") || !strcmp(c, "equinox.filter_jit"));
}

static const char *shown(const char *canon) {
  return !strcmp(canon, "jax.jit") ? "jax.jit" : "eqx.filter_jit";
}

/* The jit a decorator applies, or NULL: `@jax.jit`, `@eqx.filter_jit`,
 * `@eqx.filter_jit(donate=...)`, `@partial(jax.jit, static_argnums=...)`. */
static const char *decorator_jit(const eql_facts *f, const eql_expr *d) {
  const char *c = eql_facts_canon(f, d);
  if (is_jit_canon(c)) return c;
  if (d->kind != EQL_E_CALL) return NULL;
  c = eql_facts_canon(f, d->a);
  if (c && !strcmp(c, "equinox.filter_jit") && !eql_call_arg(d, 0, NULL)) return c;
  if (c && !strcmp(c, "functools.partial")) {
    const char *inner = eql_facts_canon(f, eql_call_arg(d, 0, NULL));
    if (is_jit_canon(inner)) return inner;
  }
  return NULL;
}

/* Does the block contain a loop statement (not looking into nested defs)? */
static int block_has_loop(const eql_block *b, int depth) {
  if (depth > 50) return 0;
  for (unsigned i = 0; i < b->n; i++) {
    const eql_stmt *s = b->items[i];
    if (s->kind == EQL_S_FOR || s->kind == EQL_S_WHILE) return 1;
    if (s->kind == EQL_S_DEF || s->kind == EQL_S_CLASS) continue;
    if (block_has_loop(&s->body, depth + 1) || block_has_loop(&s->orelse, depth + 1) ||
        block_has_loop(&s->finalbody, depth + 1))
      return 1;
    for (unsigned h = 0; h < s->nhandlers; h++)
      if (block_has_loop(&s->handlers[h], depth + 1)) return 1;
  }
  return 0;
}

/* Text of an `if` test that checks a cache: `x is None`, `not x`, `k not in d`, `k in d`. */
static int is_cache_guard(const eql_facts *f, const eql_stmt *s) {
  if (s->kind != EQL_S_IF || !s->value) return 0;
  const char *t = eql_expr_text(f, s->value);
  return strstr(t, "None") || !strncmp(t, "not ", 4) || strstr(t, " in ") || strstr(t, "hasattr");
}

/* The innermost loop whose body (not header) holds statement `s`, within its function;
 * NULL when there is none or a cache guard sits in between. `stop` (may be NULL): a
 * statement at which to stop looking (the def of a function whose body we are in). */
static const eql_stmt *loop_around(const eql_facts *f, const eql_stmt *s, const eql_stmt *stop) {
  for (const eql_stmt *p = s; p && p != stop; p = p->parent) {
    if (p != s && is_cache_guard(f, p)) return NULL;
    if ((p->kind == EQL_S_FOR || p->kind == EQL_S_WHILE) && p != s) return p;
  }
  return NULL;
}

static int has_cache_decorator(const eql_facts *f, const eql_func *fn) {
  for (unsigned i = 0; i < fn->ndecorators; i++) {
    const eql_expr *d = fn->decorators[i];
    if (d->kind == EQL_E_CALL) d = d->a;
    const char *c = eql_facts_canon(f, d);
    if (c && (!strcmp(c, "functools.lru_cache") || !strcmp(c, "functools.cache") ||
              !strcmp(c, "functools.cached_property")))
      return 1;
    if (d->kind == EQL_E_NAME && !strcmp(d->name, "property")) return 1;
  }
  return 0;
}

/* Is `call` a call of `fn`: `fn(...)` by name, or `self.fn(...)` inside a method of the same
 * class? */
static int calls_func(const eql_facts *f, const eql_expr *call, const eql_func *fn) {
  const eql_expr *c = call->a;
  if (!c) return 0;
  if (c->kind == EQL_E_NAME && !fn->cls) {
    if (strcmp(c->name, fn->name)) return 0;
    const eql_binding *b = eql_facts_lookup(f, c->name, c->scope, c->start);
    return b && b->kind == EQL_B_DEF && b->func == fn;
  }
  if (c->kind == EQL_E_ATTR && fn->cls && c->name && !strcmp(c->name, fn->name) && c->a &&
      c->a->kind == EQL_E_NAME) {
    const eql_binding *b = eql_facts_lookup(f, c->a->name, c->a->scope, c->a->start);
    if (!b || b->kind != EQL_B_PARAM || !b->scope || b->scope->cls != fn->cls) return 0;
    return b->param == &b->scope->params[0];
  }
  return 0;
}

/* The innermost non-lambda function around an expression or statement scope. */
static const eql_func *def_scope(const eql_func *s) {
  while (s && s->is_lambda) s = s->parent;
  return s;
}

/* Does `fn` run once per training step: called from the body of an innermost loop, or from
 * a function that does? Returns the call that shows it (for the related location). */
static const eql_expr *per_step_call(const eql_facts *f, const eql_func *fn, int depth) {
  if (!fn || fn->is_lambda || depth > MAX_CHAIN || has_cache_decorator(f, fn)) return NULL;
  /* a function that runs a loop of its own drives training (an experiment, an epoch): it
   * is not itself one step, even when called in a loop over configurations */
  if (block_has_loop(&fn->body, 0)) return NULL;
  for (unsigned i = 0; i < f->calls.n; i++) {
    const eql_expr *call = f->calls.items[i];
    if (!calls_func(f, call, fn) || !call->stmt) continue;
    const eql_func *caller = def_scope(call->scope);
    if (caller == fn) continue; /* recursion */
    const eql_stmt *loop = loop_around(f, call->stmt, NULL);
    if (loop) {
      /* a loop that holds another loop builds things for it: a factory call, not a step */
      if (!block_has_loop(&loop->body, 0)) return call;
      continue;
    }
    if (caller && per_step_call(f, caller, depth + 1)) return call;
  }
  return NULL;
}

/* Why the application at statement `s` (in function scope `scope`) runs over and over:
 * fills *loop or *step (the per-step call of the enclosing function). */
static int repeats(const eql_facts *f, const eql_stmt *s, const eql_func *scope,
                   const eql_stmt **loop, const eql_expr **step, const eql_func **stepped) {
  *loop = NULL;
  *step = NULL;
  *stepped = NULL;
  if (!s) return 0;
  if (s->kind == EQL_S_ASSIGN && s->ntargets == 1 && s->targets[0]->kind == EQL_E_SUBSCRIPT)
    return 0; /* cache[key] = jax.jit(...) */
  const eql_stmt *l = loop_around(f, s, NULL);
  if (l) {
    /* a loop over configurations or epochs that builds a function for an inner loop:
     * compiling once per outer iteration is the point */
    if (block_has_loop(&l->body, 0)) return 0;
    *loop = l;
    return 1;
  }
  /* a cache guard anywhere above the statement in its function: memoised */
  for (const eql_stmt *p = s->parent; p; p = p->parent)
    if (is_cache_guard(f, p)) return 0;
  const eql_func *fn = def_scope(scope);
  if (!fn) return 0;
  const eql_expr *c = per_step_call(f, fn, 0);
  if (!c) return 0;
  *step = c;
  *stepped = fn;
  return 1;
}

/* Is the statement `def_stmt` (a def) inside loop `loop`'s body? */
static int inside(const eql_stmt *def_stmt, const eql_stmt *loop) {
  for (const eql_stmt *p = def_stmt; p; p = p->parent)
    if (p == loop && p != def_stmt) return 1;
  return 0;
}

static void report(state *st, const eql_expr *at, const char *jit, const char *what,
                   const eql_stmt *loop, const eql_expr *step, const eql_func *stepped) {
  const eql_facts *f = st->ctx->facts;
  eql_diag *d;
  const char *help = "define the function once at module level, jit it there (around the whole "
                     "step), and pass what changes as arguments";
  if (loop) {
    d = eql_report(st->ctx, at->start, at->end, help,
                   "`%s` is applied to %s inside a loop: every iteration makes a new function "
                   "object, so JAX traces and compiles it again on each call",
                   jit, what);
    if (d) eql_diag_set_related(d, f->src, loop->start, loop->start, "the loop");
  } else {
    d = eql_report(st->ctx, at->start, at->end, help,
                   "`%s` is applied to %s inside `%s`, which runs once per training step: every "
                   "call makes a new function object, so JAX traces and compiles it again each "
                   "step",
                   jit, what, stepped->name);
    if (d) eql_diag_set_related(d, f->src, step->start, step->end, "called once per step here");
  }
}

/* Wrapper: jax.jit(X) / eqx.filter_jit(X). */
static void check_wrapper(state *st, const eql_expr *call, const char *jit) {
  const eql_facts *f = st->ctx->facts;
  const eql_expr *x = eql_call_arg(call, 0, "fun");
  if (!x) x = eql_call_arg(call, 0, "f");
  if (!x || !call->stmt) return;
  const char *what = NULL;
  const eql_stmt *def_stmt = NULL;    /* a named inner function: its def */
  const eql_func *def_parent = NULL;
  if (x->kind == EQL_E_LAMBDA) {
    what = "a lambda";
  } else if (x->kind == EQL_E_CALL) {
    const char *c = eql_facts_canon(f, x->a);
    if (c && !strcmp(c, "functools.partial"))
      what = eql_arena_printf(st->ctx->scratch, "`%s`, a new `functools.partial`",
                              eql_expr_snippet(f, x, 40));
    else if (c && (eql_jax_transform(c) || !strncmp(c, "equinox.filter_", 15)))
      what = eql_arena_printf(st->ctx->scratch, "`%s`, a function a transform has just built",
                              eql_expr_snippet(f, x, 40));
  } else if (x->kind == EQL_E_NAME) {
    const eql_binding *b = eql_facts_lookup(f, x->name, x->scope, x->start);
    if (b && b->kind == EQL_B_DEF && b->func && b->func->stmt) {
      def_stmt = b->func->stmt;
      def_parent = b->func->parent;
      what = eql_arena_printf(st->ctx->scratch, "`%s` (a nested `def`)", x->name);
    } else if (b && b->kind == EQL_B_ASSIGN && b->unpack < 0 && b->value &&
               b->value->kind == EQL_E_LAMBDA && b->stmt) {
      def_stmt = b->stmt;
      def_parent = b->scope;
      what = eql_arena_printf(st->ctx->scratch, "`%s` (a lambda)", x->name);
    }
  }
  if (!what) return;
  const eql_stmt *loop;
  const eql_expr *step;
  const eql_func *stepped;
  if (!repeats(f, call->stmt, call->scope, &loop, &step, &stepped)) return;
  if (def_stmt) {
    /* the named function must be made afresh as often as the jit runs */
    if (loop && !inside(def_stmt, loop)) return;
    if (!loop && def_scope(def_parent) != stepped) return;
  }
  report(st, call, shown(jit), what, loop, step, stepped);
}

/* Decorator on a def: the jit runs when the def statement does. */
static void check_decorated(state *st, const eql_func *fn, const eql_expr *dec, const char *jit) {
  const eql_facts *f = st->ctx->facts;
  if (!fn->stmt || fn->is_lambda) return;
  const eql_stmt *loop;
  const eql_expr *step;
  const eql_func *stepped;
  if (!repeats(f, fn->stmt, fn->parent, &loop, &step, &stepped)) return;
  if (!loop && fn->cls) return; /* a method is defined once per class */
  const char *what = eql_arena_printf(st->ctx->scratch, "`%s` (a nested `def`)", fn->name);
  report(st, dec, shown(jit), what, loop, step, stepped);
}

void eql_check_EQX015(eql_ctx *ctx) {
  const eql_facts *f = ctx->facts;
  state st = {.ctx = ctx, .ev = {.idx = ctx->index, .f = f}};
  for (unsigned i = 0; i < f->funcs.n; i++) {
    const eql_func *fn = f->funcs.items[i];
    for (unsigned d = 0; d < fn->ndecorators; d++) {
      const char *jit = decorator_jit(f, fn->decorators[d]);
      if (!jit) continue;
      check_decorated(&st, fn, fn->decorators[d], jit);
      break;
    }
  }
  for (unsigned i = 0; i < f->calls.n; i++) {
    const eql_expr *call = f->calls.items[i];
    const char *c = eql_facts_canon(f, call->a);
    if (!is_jit_canon(c)) continue;
    check_wrapper(&st, call, c);
  }
}
