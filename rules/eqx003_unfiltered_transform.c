/* ## What it does
 * Checks for `jax.jit`, `jax.grad`, `jax.value_and_grad`, `jax.vmap`, `jax.pmap` and
 * `jax.checkpoint`/`jax.remat` (as a decorator, a wrapper, or through `functools.partial`)
 * over a function that receives a Module with non-array leaves: known from a call site in
 * the same file, from a parameter annotation, or because it is a method of such a Module
 * (`self`). Also checks for `static_argnums`/`static_argnames` that mark a Module argument
 * static.
 *
 * ## Why is this bad
 * JAX transforms accept only arrays (and pytrees of arrays) as arguments. A Module holding
 * an activation function, a `str`, a `bool` or a float fails with
 * `TypeError: ... is not a valid JAX type`, or has its Python flags silently turned into
 * tracers. Marking the whole Module static instead makes JAX hash its arrays, which fails
 * (`unhashable type`) or recompiles on every new model. Equinox's `filter_*` transforms
 * exist exactly for this: they trace the arrays and treat everything else as static.
 *
 * ## Example
 * ```python
 * @jax.jit
 * def train_step(model, x, y):
 *     ...
 *
 * model = eqx.nn.MLP(2, 1, 32, 2, key=key)
 * train_step(model, x, y)
 * ```
 *
 * ## Use instead
 * ```python
 * @eqx.filter_jit
 * def train_step(model, x, y):
 *     ...
 * ```
 * For gradients, `eqx.filter_grad` / `eqx.filter_value_and_grad`; or partition first and
 * differentiate the arrays: `params, static = eqx.partition(model, eqx.is_array)`.
 *
 * ## Fix safety
 * The fix replaces the transform with its `eqx.filter_*` twin, spelled with the file's alias
 * for equinox (adding `import equinox as eqx` when there is none), and removes the keyword
 * arguments the twin rejects. It is safe when nothing with meaning is removed: `@jax.jit`
 * alone, `jax.grad(f, has_aux=True)`, `argnums=0`. It is unsafe when `static_argnums`,
 * `static_argnames` or `donate_argnums` are removed (the twin holds every non-array static,
 * which is usually what they meant, but not always: an array marked static becomes traced,
 * donated buffers are no longer donated), and for `jax.vmap`/`jax.pmap` given `in_axes` or
 * `out_axes` (`eqx.filter_vmap` maps arrays only, so an axis given for a tree that holds
 * non-arrays may need `eqx.if_array(0)`). There is no fix when another `argnums` is given
 * (the twin differentiates the first argument only), for keywords the twin does not know
 * (`device=`, `backend=`, `holomorphic=` ...), or when the transform is reached through a
 * name bound elsewhere (`my_jit = partial(jax.jit, ...)`).
 *
 * ## Known limits
 * Call sites are followed within one file. `jax.grad` and `jax.value_and_grad` are checked
 * only on the differentiated arguments (`argnums`), since other arguments may be anything.
 * Modules whose leaves cannot be judged (built by unknown functions, `eqx.combine`, or held
 * in attributes) are not reported.
 */
#include <stdlib.h>
#include <string.h>

#include "eqlint/ctx.h"
#include "eqlint/value.h"
#include "rule_fix.h"

/* The twin's name for messages; checkpoint's spellings default to its twin. */
static const char *twin(eql_arena *a, const char *t) {
  const eql_rf_twin_spec *sp = eql_rf_twin_of(t);
  return eql_arena_printf(a, "eqx.%s", sp ? sp->twin : "filter_checkpoint");
}

/* libeqx's spelling, for C files (the C front end lowers eqx_jit to jax.jit ...). */
static const char *c_name(const char *t) {
  if (!strcmp(t, "jax.jit")) return "eqx_jit";
  if (!strcmp(t, "jax.grad") || !strcmp(t, "jax.value_and_grad")) return "eqx_value_and_grad";
  if (!strcmp(t, "jax.vmap")) return "eqx_vmap";
  return t;
}

static const char *c_twin(const char *t) {
  if (!strcmp(t, "jax.jit")) return "eqx_filter_jit";
  if (!strcmp(t, "jax.grad") || !strcmp(t, "jax.value_and_grad")) return "eqx_filter_value_and_grad";
  return "eqx_filter_jit";
}

static int is_grad(const char *t) {
  return !strcmp(t, "jax.grad") || !strcmp(t, "jax.value_and_grad") || !strcmp(t, "jax.hessian") ||
         !strcmp(t, "jax.jacfwd") || !strcmp(t, "jax.jacrev");
}

typedef struct site {
  const eql_expr *site;     /* where to report */
  const eql_expr *config;   /* the call carrying keyword arguments (jax.jit(f, ...), partial(...)) */
  const char *transform;
  const eql_func *func;     /* the transformed function when defined here */
  int reported;
} site;

typedef struct state {
  eql_ctx *ctx;
  eql_eval ev;
  site *sites;
  size_t n, cap;
} state;

static site *site_for(state *st, const eql_value *v) {
  for (size_t i = 0; i < st->n; i++)
    if (st->sites[i].site == v->site) return &st->sites[i];
  if (st->n == st->cap) {
    size_t cap = st->cap ? st->cap * 2 : 16;
    site *s = realloc(st->sites, cap * sizeof *s);
    if (!s) return NULL;
    st->sites = s;
    st->cap = cap;
  }
  site *s = &st->sites[st->n++];
  memset(s, 0, sizeof *s);
  s->site = v->site;
  s->transform = v->canon;
  s->func = v->func;
  /* keyword arguments live on the wrapper call (jax.jit(f, static_argnums=...)) or on the
   * partial(...) / decorator call */
  if (v->origin && v->origin->kind == EQL_E_CALL) s->config = v->origin;
  if (v->site && v->site->kind == EQL_E_CALL) s->config = v->site;
  return s;
}

/* Integers listed by a keyword argument (`argnums=1`, `static_argnums=(0, 2)`); returns the
 * count, -1 when the keyword is absent, -2 when present but not literal. */
static int int_list(const eql_expr *call, const char *kw, int *out, int max) {
  if (!call) return -1;
  const eql_expr *v = NULL;
  for (unsigned i = 0; i < call->nargs; i++)
    if (call->args[i].kw && !strcmp(call->args[i].kw, kw)) v = call->args[i].value;
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

static int is_checked_position(const site *s, int pos) {
  if (!is_grad(s->transform)) return 1;
  int nums[16];
  int n = int_list(s->config, "argnums", nums, 16);
  if (n == -1) return pos == 0;
  if (n == -2) return 0;
  for (int i = 0; i < n; i++)
    if (nums[i] == pos) return 1;
  return 0;
}

static int is_static_position(const site *s, int pos, const char *pname) {
  int nums[16];
  int n = int_list(s->config, "static_argnums", nums, 16);
  for (int i = 0; i < n; i++)
    if (nums[i] == pos) return 1;
  if (pname && s->config) {
    for (unsigned i = 0; i < s->config->nargs; i++) {
      const eql_arg *a = &s->config->args[i];
      if (!a->kw || strcmp(a->kw, "static_argnames") || !a->value) continue;
      const eql_expr *v = a->value;
      if (v->kind == EQL_E_STR && !strcmp(v->name, pname)) return 1;
      if (v->kind == EQL_E_TUPLE || v->kind == EQL_E_LIST)
        for (unsigned k = 0; k < v->nargs; k++)
          if (v->args[k].value && v->args[k].value->kind == EQL_E_STR && !strcmp(v->args[k].value->name, pname))
            return 1;
    }
  }
  return 0;
}

static const eql_expr *static_kw(const site *s) {
  if (!s->config) return NULL;
  for (unsigned i = 0; i < s->config->nargs; i++)
    if (s->config->args[i].kw && (!strcmp(s->config->args[i].kw, "static_argnums") ||
                                  !strcmp(s->config->args[i].kw, "static_argnames")))
      return s->config->args[i].value;
  return NULL;
}

/* The fix for one site; see "Fix safety" above. */
static void fix_site(eql_ctx *ctx, eql_diag *d, const site *s) {
  const eql_facts *f = ctx->facts;
  const eql_rf_twin_spec *sp = eql_rf_twin_of(s->transform);
  const eql_expr *at = s->site;
  if (!d || f->is_c || !sp || !eql_rf_in_file(ctx, at)) return;
  /* the call that configures the transform: jax.jit(f, ...), partial(jax.jit, ...) */
  const eql_expr *config = s->config ? s->config : at->kind == EQL_E_CALL ? at : NULL;
  const eql_expr *name = NULL;
  unsigned first_kw = 0; /* arguments of config before this one are the function itself */
  if (!config) {
    if (at->kind != EQL_E_NAME && at->kind != EQL_E_ATTR) return;
    name = at; /* @jax.jit */
  } else {
    if (config->kind != EQL_E_CALL || !config->a || !eql_rf_in_file(ctx, config) ||
        at->start < config->start || at->end > config->end)
      return;
    const char *callee = eql_facts_canon(f, config->a);
    const eql_expr *inner = config->nargs ? config->args[0].value : NULL;
    if (callee && !strcmp(callee, sp->transform)) {
      name = config->a;
    } else if (callee && !strcmp(callee, "functools.partial") && inner && !config->args[0].kw &&
               !config->args[0].star && (inner->kind == EQL_E_NAME || inner->kind == EQL_E_ATTR) &&
               eql_facts_canon(f, inner) && !strcmp(eql_facts_canon(f, inner), sp->transform)) {
      name = inner;
    } else {
      return;
    }
    first_kw = 1;
  }
  if (eql_rf_twin(ctx, d, sp->transform, name, config, first_kw) < 0) eql_diag_drop_fix(d);
}

static void report(state *st, site *s, const char *argname, const eql_value *v, int as_static) {
  if (s->reported) return;
  s->reported = 1;
  const eql_facts *f = st->ctx->facts;
  const char *fname = s->func ? s->func->name : NULL;
  const char *cls = eql_classref_name(&v->cls);
  const char *shown = f->is_c ? c_name(s->transform) : s->transform;
  const char *fix = f->is_c ? c_twin(s->transform) : twin(st->ctx->scratch, s->transform);
  if (as_static) {
    const eql_expr *kw = static_kw(s);
    const eql_expr *at = kw ? kw : s->site;
    eql_diag *d = eql_report(st->ctx, at->start, at->end,
               eql_arena_printf(st->ctx->scratch, "use `%s` and drop static_argnums/static_argnames: "
                                "it treats every non-array leaf as static already", fix),
               "`%s` marks `%s` (an instance of the Module `%s`) static: JAX must hash it, and its "
               "arrays are not hashable", eql_expr_snippet(f, s->site, 60), argname, cls);
    fix_site(st->ctx, d, s);
    return;
  }
  eql_diag *d = eql_report(st->ctx, s->site->start, s->site->end,
             eql_arena_printf(st->ctx->scratch, "use `%s`, which traces the arrays and treats "
                              "every other leaf as static", fix),
             "`%s`%s%s%s receives `%s`, an instance of `%s`, whose non-array leaves are not valid "
             "JAX types: %s",
             shown, fname ? " over `" : "", fname ? fname : "", fname ? "`" : "", argname, cls,
             v->why ? v->why : "it holds functions, strings, bools or floats");
  fix_site(st->ctx, d, s);
}

/* Checks one argument value at position `pos` (parameter name pname). */
static void check_arg(state *st, site *s, int pos, const char *pname, const char *shown,
                      const eql_value *v) {
  if (v->kind != EQL_V_MODULE) return;
  if (is_static_position(s, pos, pname)) {
    report(st, s, shown, v, 1);
    return;
  }
  if (v->nonarray == EQL_YES && is_checked_position(s, pos)) report(st, s, shown, v, 0);
}

/* The transformed function's own parameters: annotations and `self` of a Module method. */
static void check_params(state *st, site *s) {
  const eql_func *fn = s->func;
  if (!fn) return;
  int is_static_method = 0;
  for (unsigned i = 0; i < fn->ndecorators; i++) {
    const eql_expr *d = fn->decorators[i];
    if (d->kind == EQL_E_NAME && (!strcmp(d->name, "staticmethod") || !strcmp(d->name, "classmethod")))
      is_static_method = 1;
  }
  for (unsigned i = 0; i < fn->nparams; i++) {
    const eql_param *p = &fn->params[i];
    eql_value v;
    if (i == 0 && fn->cls && !is_static_method) {
      eql_classref c = {st->ctx->facts, fn->cls, NULL};
      if (eql_index_is_module(st->ctx->index, &c) != EQL_YES) return;
      memset(&v, 0, sizeof v);
      v.kind = EQL_V_MODULE;
      v.cls = c;
      v.nonarray = eql_index_nonarray(st->ctx->index, &c, &v.why);
    } else {
      if (!p->annotation) continue;
      v = eql_eval_annotation(&st->ev, p->annotation);
    }
    check_arg(st, s, (int)i, p->name, p->name, &v);
  }
}

/* Arguments at a call of the transformed function. */
static void check_call(state *st, site *s, const eql_expr *call) {
  const eql_facts *f = st->ctx->facts;
  int pos = 0;
  for (unsigned i = 0; i < call->nargs; i++) {
    const eql_arg *a = &call->args[i];
    if (a->star) {
      if (a->star == 1) break;
      continue;
    }
    int at = pos;
    const char *pname = NULL;
    if (a->kw) {
      at = -1;
      pname = a->kw;
      if (s->func)
        for (unsigned k = 0; k < s->func->nparams; k++)
          if (s->func->params[k].name && !strcmp(s->func->params[k].name, a->kw)) at = (int)k;
    } else {
      pos++;
      if (s->func && (unsigned)at < s->func->nparams) pname = s->func->params[at].name;
    }
    eql_value v = eql_eval_expr(&st->ev, a->value);
    check_arg(st, s, at, pname, eql_expr_snippet(f, a->value, 40), &v);
  }
}

void eql_check_EQX003(eql_ctx *ctx) {
  const eql_facts *f = ctx->facts;
  state st = {.ctx = ctx, .ev = {.idx = ctx->index, .f = f}};
  /* decorated definitions */
  for (unsigned i = 0; i < f->funcs.n; i++) {
    const eql_func *fn = f->funcs.items[i];
    for (unsigned d = 0; d < fn->ndecorators; d++) {
      eql_value v = eql_eval_expr(&st.ev, fn->decorators[d]);
      if (v.kind != EQL_V_TRANSFORMER) continue;
      v.site = fn->decorators[d];
      v.func = fn;
      site *s = site_for(&st, &v);
      if (s) {
        s->func = fn;
        check_params(&st, s);
      }
    }
  }
  /* wrappers, and every call of a transformed function */
  for (unsigned i = 0; i < f->calls.n; i++) {
    const eql_expr *call = f->calls.items[i];
    eql_value self = eql_eval_expr(&st.ev, call);
    if (self.kind == EQL_V_TRANSFORMED && self.origin == call && self.func) {
      site *s = site_for(&st, &self);
      if (s) check_params(&st, s);
    }
    eql_value cv = eql_eval_expr(&st.ev, call->a);
    if (cv.kind != EQL_V_TRANSFORMED || !cv.site) continue;
    site *s = site_for(&st, &cv);
    if (s) check_call(&st, s, call);
  }
  free(st.sites);
}
