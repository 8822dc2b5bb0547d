/* Abstract evaluation of expressions (see value.h).
 *
 * The evaluator answers "what is this?" for the handful of things the rules care about:
 * Module instances (and whether they can hold non-array leaves), optax transformations,
 * filtered trees, functions, JAX transforms and the functions they wrap, plain literals.
 * It follows names through bindings (position-aware, facts.c), tuple unpacking of
 * eqx.partition, calls of local functions (through their return statements) and class
 * constructors across files (through the index). Depth is bounded; anything else is
 * UNKNOWN, and rules never report on UNKNOWN. */
#include "eqlint/value.h"

#include <string.h>

#define MAX_EVAL_DEPTH 24
/* Returns of functions and both arms of conditionals branch; a budget per top-level query
 * keeps evaluation linear in practice (typing.py once took minutes without it). */
#define MAX_EVAL_STEPS 4000

static const char *const jax_transforms[] = {
  "jax.jit", "jax.grad", "jax.value_and_grad", "jax.vmap", "jax.pmap", "jax.checkpoint",
  "jax.remat", "jax.hessian", "jax.jacfwd", "jax.jacrev", "jax.ad_checkpoint.checkpoint",
  "jax.experimental.pjit.pjit", NULL,
};

const char *eql_jax_transform(const char *canon) {
  if (!canon) return NULL;
  for (int i = 0; jax_transforms[i]; i++)
    if (!strcmp(canon, jax_transforms[i])) return jax_transforms[i];
  return NULL;
}

/* optax functions whose result is not a GradientTransformation. */
static int optax_non_transform(const char *name) {
  static const char *const exact[] = {
    "apply_updates", "global_norm", "incremental_update", "periodic_update", "safe_norm",
    "safe_root_mean_squares", "tree_utils", "join_schedules", "l2_loss", "huber_loss",
    "log_cosh", "smooth_labels", "cosine_similarity", "cosine_distance", "ctc_loss",
    "hinge_loss", "squared_error", "kl_divergence", "convex_kl_divergence", "losses",
    "schedules", "projections", "contrib", "tree", NULL,
  };
  for (int i = 0; exact[i]; i++)
    if (!strcmp(name, exact[i])) return 1;
  size_t n = strlen(name);
  return strstr(name, "_schedule") || strstr(name, "cross_entropy") ||
         (n > 5 && !strcmp(name + n - 5, "_loss"));
}

static int is_optax_constructor(const char *canon) {
  if (!canon || strncmp(canon, "optax.", 6) != 0) return 0;
  const char *rest = canon + 6;
  /* optax.contrib.*, optax.schedules.* ... : judge the last component */
  const char *last = strrchr(canon, '.') + 1;
  if (optax_non_transform(last)) return 0;
  if (!strncmp(rest, "schedules.", 10) || !strncmp(rest, "losses.", 7) ||
      !strncmp(rest, "tree_utils.", 11) || !strncmp(rest, "tree.", 5) ||
      !strncmp(rest, "projections.", 12))
    return 0;
  return 1;
}

const char *eql_why_nested(eql_arena *a, const char *why) {
  if (!why) return "";
  if (!strncmp(why, "its ", 4)) return eql_arena_printf(a, "whose %s", why + 4);
  if (!strncmp(why, "it ", 3)) return eql_arena_printf(a, "which %s", why + 3);
  return why;
}

static eql_value unknown(void) {
  eql_value v;
  memset(&v, 0, sizeof v);
  return v;
}

static eql_value of_kind(eql_value_kind k, const eql_expr *origin) {
  eql_value v = unknown();
  v.kind = k;
  v.origin = origin;
  return v;
}

static eql_value module_value(eql_eval *ev, const eql_classref *c, const eql_expr *origin) {
  eql_value v = of_kind(EQL_V_MODULE, origin);
  v.cls = *c;
  v.nonarray = eql_index_nonarray(ev->idx, c, &v.why);
  return v;
}

/* eqx.nn.Sequential([...]): non-array leaves iff an element has them. */
static void refine_sequential(eql_eval *ev, eql_value *v, const eql_expr *call) {
  const eql_expr *layers = eql_call_arg(call, 0, "layers");
  if (!layers || (layers->kind != EQL_E_LIST && layers->kind != EQL_E_TUPLE)) return;
  eql_value seq = of_kind(EQL_V_SEQ, layers);
  seq.seq = layers;
  v->nonarray = eql_value_nonarray(ev, &seq, &v->why);
}

/* A name that refers to a class (here or in another file), or a callable by canonical name. */
static eql_value from_canon(eql_eval *ev, const char *canon, const eql_expr *origin) {
  eql_value v = unknown();
  v.origin = origin;
  if (!canon) return v;
  eql_classref c;
  if (eql_index_resolve(ev->idx, ev->f, canon, &c)) {
    v.kind = EQL_V_CLASS;
    v.cls = c;
    return v;
  }
  if (eql_jax_transform(canon)) {
    v.kind = EQL_V_TRANSFORMER;
    v.canon = eql_jax_transform(canon);
    v.site = origin;
    return v;
  }
  if (!strncmp(canon, "jax.nn.", 7) || !strncmp(canon, "jax.numpy.", 10) ||
      !strncmp(canon, "jax.lax.", 8) || !strncmp(canon, "jax.scipy.", 10) ||
      !strncmp(canon, "jax.random.", 11) || !strncmp(canon, "math.", 5) ||
      !strncmp(canon, "numpy.", 6) || !strcmp(canon, "operator") ||
      !strncmp(canon, "operator.", 9)) {
    /* a function object such as jax.nn.relu (not called) */
    const char *last = strrchr(canon, '.');
    if (last && last[1] >= 'a' && last[1] <= 'z') {
      v.kind = EQL_V_FUNCTION;
      v.canon = canon;
    }
  }
  return v;
}

static eql_value eval_returns(eql_eval *ev, const eql_func *fn);

static int is_builtin_name(eql_eval *ev, const eql_expr *e, const char *name) {
  return e && e->kind == EQL_E_NAME && !strcmp(e->name, name) &&
         !eql_facts_lookup(ev->f, name, e->scope, e->start);
}

static eql_value eval_call(eql_eval *ev, const eql_expr *e) {
  const eql_expr *callee = e->a;
  const char *canon = eql_facts_canon(ev->f, callee);
  if (canon) {
    if (!strcmp(canon, "equinox.filter")) {
      eql_value v = of_kind(EQL_V_FILTERED, e);
      v.predicate = eql_call_arg(e, 1, "filter_spec");
      return v;
    }
    if (!strcmp(canon, "equinox.partition")) {
      eql_value v = of_kind(EQL_V_PARTITION, e);
      v.predicate = eql_call_arg(e, 1, "filter_spec");
      return v;
    }
    /* functions that return a tree shaped like their tree argument */
    if (!strcmp(canon, "equinox.apply_updates") || !strcmp(canon, "optax.apply_updates") ||
        !strcmp(canon, "equinox.tree_at") || !strcmp(canon, "equinox.tree_inference") ||
        !strcmp(canon, "equinox.nn.inference_mode")) {
      const eql_expr *tree = !strcmp(canon, "equinox.tree_at") ? eql_call_arg(e, 1, "pytree")
                                                                : eql_call_arg(e, 0, NULL);
      return tree ? eql_eval_expr(ev, tree) : unknown();
    }
    if (!strncmp(canon, "equinox.filter_", 15) || !strcmp(canon, "equinox.Partial")) {
      eql_value v = of_kind(EQL_V_FUNCTION, e);
      v.canon = canon;
      return v;
    }
    if (!strcmp(canon, "functools.partial")) {
      const eql_expr *inner = eql_call_arg(e, 0, NULL);
      const char *ic = eql_facts_canon(ev->f, inner);
      if (eql_jax_transform(ic)) {
        eql_value v = of_kind(EQL_V_TRANSFORMER, e);
        v.canon = eql_jax_transform(ic);
        v.site = e;
        return v;
      }
      return unknown();
    }
    if (eql_jax_transform(canon)) {
      /* jax.jit(f, ...) wraps f; jax.jit(static_argnums=...) alone is not valid JAX */
      eql_value v = of_kind(EQL_V_TRANSFORMED, e);
      v.canon = eql_jax_transform(canon);
      v.site = callee;
      const eql_expr *fn = eql_call_arg(e, 0, "fun");
      if (!fn) fn = eql_call_arg(e, 0, "f");
      if (fn) {
        eql_value inner = eql_eval_expr(ev, fn);
        if (inner.kind == EQL_V_FUNCTION) {
          v.func = inner.func;
          v.func_facts = inner.func_facts;
        }
      }
      return v;
    }
    if (is_optax_constructor(canon)) {
      eql_value v = of_kind(EQL_V_OPTAX, e);
      v.canon = canon;
      return v;
    }
    if (!strncmp(canon, "jax.numpy.", 10) || !strncmp(canon, "numpy.", 6) ||
        !strncmp(canon, "jax.random.", 11) || !strncmp(canon, "jax.nn.", 7))
      return of_kind(EQL_V_ARRAY, e);
  }
  eql_value cv = eql_eval_expr(ev, callee);
  switch (cv.kind) {
    case EQL_V_CLASS:
      if (eql_index_is_module(ev->idx, &cv.cls) == EQL_YES) {
        eql_value v = module_value(ev, &cv.cls, e);
        if (cv.cls.layer && !strcmp(cv.cls.layer->name, "Sequential")) refine_sequential(ev, &v, e);
        return v;
      }
      return unknown();
    case EQL_V_OPTAX: {
      /* optax.inject_hyperparams(optax.adam)(learning_rate=...) */
      eql_value v = of_kind(EQL_V_OPTAX, e);
      v.canon = cv.canon;
      return v;
    }
    case EQL_V_TRANSFORMER: {
      eql_value v = of_kind(EQL_V_TRANSFORMED, e);
      v.canon = cv.canon;
      v.site = cv.site;
      const eql_expr *fn = eql_call_arg(e, 0, NULL);
      if (fn) {
        eql_value inner = eql_eval_expr(ev, fn);
        if (inner.kind == EQL_V_FUNCTION) {
          v.func = inner.func;
          v.func_facts = inner.func_facts;
        }
      }
      return v;
    }
    case EQL_V_FUNCTION:
      if (cv.func && cv.func_facts == ev->f) {
        eql_value r = eval_returns(ev, cv.func);
        if (r.kind != EQL_V_UNKNOWN) return r;
      }
      return unknown();
    case EQL_V_TRANSFORMED:
      /* jit/vmap keep what the function returns; grad gives gradients (unknown) */
      if (cv.func && cv.func_facts == ev->f &&
          (!strcmp(cv.canon, "jax.jit") || !strcmp(cv.canon, "jax.vmap") ||
           !strcmp(cv.canon, "jax.pmap") || !strcmp(cv.canon, "jax.checkpoint")))
        return eval_returns(ev, cv.func);
      return unknown();
    default:
      break;
  }
  if (is_builtin_name(ev, callee, "tuple") || is_builtin_name(ev, callee, "list")) {
    const eql_expr *arg = eql_call_arg(e, 0, NULL);
    if (arg) {
      eql_value a = eql_eval_expr(ev, arg);
      if (a.kind == EQL_V_SEQ) return a;
    }
    return unknown();
  }
  if (is_builtin_name(ev, callee, "float")) return of_kind(EQL_V_FLOAT, e);
  if (is_builtin_name(ev, callee, "int") || is_builtin_name(ev, callee, "len"))
    return of_kind(EQL_V_INT, e);
  if (is_builtin_name(ev, callee, "str")) return of_kind(EQL_V_STR, e);
  if (is_builtin_name(ev, callee, "bool")) return of_kind(EQL_V_BOOL, e);
  return unknown();
}

/* The common value of every `return` of a function (not nested defs), or UNKNOWN. */
static void collect_returns(eql_eval *ev, const eql_block *b, eql_value *acc, int *n, int *bad) {
  for (unsigned i = 0; i < b->n && !*bad; i++) {
    const eql_stmt *s = b->items[i];
    if (s->kind == EQL_S_DEF || s->kind == EQL_S_CLASS) continue;
    if (s->kind == EQL_S_RETURN) {
      eql_value v = s->value ? eql_eval_expr(ev, s->value) : of_kind(EQL_V_NONE, NULL);
      if (*n == 0) *acc = v;
      else if (acc->kind != v.kind || acc->cls.cls != v.cls.cls || acc->cls.layer != v.cls.layer)
        *bad = 1;
      (*n)++;
    }
    collect_returns(ev, &s->body, acc, n, bad);
    collect_returns(ev, &s->orelse, acc, n, bad);
    collect_returns(ev, &s->finalbody, acc, n, bad);
    for (unsigned h = 0; h < s->nhandlers; h++) collect_returns(ev, &s->handlers[h], acc, n, bad);
  }
}

static eql_value eval_returns(eql_eval *ev, const eql_func *fn) {
  if (fn->is_lambda) return unknown();
  eql_value acc = unknown();
  int n = 0, bad = 0;
  collect_returns(ev, &fn->body, &acc, &n, &bad);
  if (bad || n == 0) return unknown();
  return acc;
}

eql_value eql_eval_annotation(eql_eval *ev, const eql_expr *an) {
  if (ev->depth == 0) ev->steps = 0;
  if (!an || ev->depth > MAX_EVAL_DEPTH) return unknown();
  ev->depth++;
  eql_value r = unknown();
  const char *canon = eql_facts_canon(ev->f, an);
  const char *name = canon ? canon : (an->kind == EQL_E_NAME ? an->name : NULL);
  if (an->kind == EQL_E_STR && an->name) {
    /* "MLP" forward references: look the name up as a class */
    const eql_binding *b = eql_facts_lookup(ev->f, an->name, NULL, UINT32_MAX);
    if (b && b->kind == EQL_B_CLASS && b->cls) {
      eql_classref c = {ev->f, b->cls, NULL};
      if (eql_index_is_module(ev->idx, &c) == EQL_YES) r = module_value(ev, &c, an);
    }
  } else if (name && (!strcmp(name, "typing.Callable") || !strcmp(name, "collections.abc.Callable") ||
                      (!canon && !strcmp(name, "Callable")))) {
    r = of_kind(EQL_V_FUNCTION, an);
  } else if (!canon && name && (!strcmp(name, "str") || !strcmp(name, "bool") ||
                                !strcmp(name, "float") || !strcmp(name, "int")) &&
             !eql_facts_lookup(ev->f, name, an->scope, an->start)) {
    r = of_kind(name[0] == 's' ? EQL_V_STR : name[0] == 'b' ? EQL_V_BOOL
                : name[0] == 'f' ? EQL_V_FLOAT : EQL_V_INT, an);
  } else if (name && (!strcmp(name, "jax.Array") || !strcmp(name, "jax.numpy.ndarray") ||
                      !strcmp(name, "numpy.ndarray") || !strcmp(name, "jaxtyping.Array") ||
                      !strcmp(name, "jax.typing.ArrayLike") ||
                      !strncmp(name, "jaxtyping.", 10) || (!canon && !strcmp(name, "Array")))) {
    r = of_kind(EQL_V_ARRAY, an);
  } else if (an->kind == EQL_E_SUBSCRIPT && an->a) {
    const char *head = eql_facts_canon(ev->f, an->a);
    if (!head && an->a->kind == EQL_E_NAME) head = an->a->name;
    if (head && (!strcmp(head, "typing.Callable") || !strcmp(head, "collections.abc.Callable") ||
                 !strcmp(head, "Callable"))) {
      r = of_kind(EQL_V_FUNCTION, an);
    } else if (head && (!strncmp(head, "jaxtyping.", 10) || !strcmp(head, "Float") ||
                        !strcmp(head, "Array") || !strcmp(head, "Int") || !strcmp(head, "Shaped"))) {
      r = of_kind(EQL_V_ARRAY, an);
    } else if (head && (!strcmp(head, "typing.Optional") || !strcmp(head, "Optional")) && an->nargs == 1) {
      r = eql_eval_annotation(ev, an->args[0].value);
    }
  } else if (an->kind == EQL_E_BINOP && an->name && !strcmp(an->name, "|")) {
    /* X | None */
    const eql_expr *other = an->b && an->b->kind == EQL_E_NONE ? an->a
                          : an->a && an->a->kind == EQL_E_NONE ? an->b : NULL;
    if (other) r = eql_eval_annotation(ev, other);
  } else {
    eql_value cv = eql_eval_expr(ev, an);
    if (cv.kind == EQL_V_CLASS && eql_index_is_module(ev->idx, &cv.cls) == EQL_YES)
      r = module_value(ev, &cv.cls, an);
  }
  ev->depth--;
  return r;
}

eql_value eql_eval_param(eql_eval *ev, const eql_param *p, const eql_func *fn) {
  (void)fn;
  if (p->kind == EQL_P_VARARGS || p->kind == EQL_P_VARKW) return unknown();
  if (p->annotation) {
    eql_value v = eql_eval_annotation(ev, p->annotation);
    if (v.kind != EQL_V_UNKNOWN) return v;
  }
  if (p->dflt && p->dflt->kind != EQL_E_NONE) return eql_eval_expr(ev, p->dflt);
  return unknown();
}

eql_value eql_eval_binding(eql_eval *ev, const eql_binding *b) {
  if (!b) return unknown();
  switch (b->kind) {
    case EQL_B_IMPORT:
      return from_canon(ev, b->canon, b->target);
    case EQL_B_CLASS: {
      eql_value v = of_kind(EQL_V_CLASS, NULL);
      v.cls.facts = ev->f;
      v.cls.cls = b->cls;
      return v;
    }
    case EQL_B_DEF: {
      if (!b->func) return unknown();
      eql_value v = of_kind(EQL_V_FUNCTION, NULL);
      v.func = b->func;
      v.func_facts = ev->f;
      /* a def decorated with a JAX transform is the transformed function; the innermost
       * decorator applies first, but any jax transform in the stack is what matters */
      for (unsigned i = 0; i < b->func->ndecorators; i++) {
        eql_value d = eql_eval_expr(ev, b->func->decorators[i]);
        if (d.kind == EQL_V_TRANSFORMER) {
          v.kind = EQL_V_TRANSFORMED;
          v.canon = d.canon;
          v.site = b->func->decorators[i];
          break;
        }
      }
      return v;
    }
    case EQL_B_PARAM: {
      eql_func *fn = b->scope;
      return eql_eval_param(ev, b->param, fn);
    }
    case EQL_B_ASSIGN: {
      if (!b->value) return unknown();
      eql_value v = eql_eval_expr(ev, b->value);
      if (b->unpack < 0) return v;
      if (v.kind == EQL_V_PARTITION && b->nunpack == 2)
        return b->unpack == 0 ? (eql_value){.kind = EQL_V_FILTERED, .origin = v.origin, .predicate = v.predicate}
                              : of_kind(EQL_V_STATIC_PART, v.origin);
      if (v.kind == EQL_V_SEQ && v.seq && v.seq->nargs == (unsigned)b->nunpack &&
          !v.seq->args[b->unpack].star)
        return eql_eval_expr(ev, v.seq->args[b->unpack].value);
      return unknown();
    }
    default:
      return unknown();
  }
}

eql_value eql_eval_expr(eql_eval *ev, const eql_expr *e) {
  if (ev->depth == 0) ev->steps = 0;
  if (!e || ev->depth > MAX_EVAL_DEPTH || ++ev->steps > MAX_EVAL_STEPS) return unknown();
  ev->depth++;
  eql_value v = unknown();
  switch (e->kind) {
    case EQL_E_NAME: {
      const eql_binding *b = eql_facts_lookup(ev->f, e->name, e->scope, e->start);
      if (b) {
        v = eql_eval_binding(ev, b);
      } else if (e->canon) {
        v = from_canon(ev, e->canon, e);
      }
      break;
    }
    case EQL_E_ATTR: {
      const char *canon = eql_facts_canon(ev->f, e);
      if (canon) v = from_canon(ev, canon, e);
      break;
    }
    case EQL_E_CALL:
      v = eval_call(ev, e);
      break;
    case EQL_E_STR:
      v = of_kind(EQL_V_STR, e);
      break;
    case EQL_E_INT:
      v = of_kind(EQL_V_INT, e);
      break;
    case EQL_E_FLOAT:
      v = of_kind(EQL_V_FLOAT, e);
      break;
    case EQL_E_BOOL:
      v = of_kind(EQL_V_BOOL, e);
      break;
    case EQL_E_NONE:
      v = of_kind(EQL_V_NONE, e);
      break;
    case EQL_E_LAMBDA: {
      v = of_kind(EQL_V_FUNCTION, e);
      for (unsigned i = 0; i < ev->f->funcs.n; i++) {
        const eql_func *fn = ev->f->funcs.items[i];
        if (fn->is_lambda && fn->start == e->start) {
          v.func = fn;
          v.func_facts = ev->f;
          break;
        }
      }
      break;
    }
    case EQL_E_LIST:
    case EQL_E_TUPLE:
      v = of_kind(EQL_V_SEQ, e);
      v.seq = e;
      break;
    case EQL_E_COMP:
      if (e->name && (!strcmp(e->name, "list_comprehension") || !strcmp(e->name, "generator_expression"))) {
        v = of_kind(EQL_V_SEQ, e);
        v.elem = e->a;
      }
      break;
    case EQL_E_IFEXP: {
      eql_value a = eql_eval_expr(ev, e->a), c = eql_eval_expr(ev, e->c);
      if (a.kind == c.kind && a.cls.cls == c.cls.cls && a.cls.layer == c.cls.layer) v = a;
      break;
    }
    default:
      break;
  }
  ev->depth--;
  return v;
}

eql_tri eql_value_nonarray(eql_eval *ev, const eql_value *v, const char **why) {
  switch (v->kind) {
    case EQL_V_SEQ: {
      /* a list/tuple of layers and functions, as stored in a field */
      eql_tri r = EQL_NO;
      if (v->elem && ev->depth <= MAX_EVAL_DEPTH) {
        ev->depth++;
        eql_value el = eql_eval_expr(ev, v->elem);
        const char *w = NULL;
        r = eql_value_nonarray(ev, &el, &w);
        if (r == EQL_YES && why)
          *why = eql_arena_printf(ev->f->arena, "it holds `%s` items%s%s",
                                  eql_expr_snippet(ev->f, v->elem, 40), w ? ", each of " : "",
                                  w ? eql_why_nested(ev->f->arena, w) : "");
        ev->depth--;
        return r;
      }
      if (!v->seq || ev->depth > MAX_EVAL_DEPTH) return EQL_MAYBE;
      ev->depth++;
      for (unsigned i = 0; i < v->seq->nargs && r != EQL_YES; i++) {
        if (v->seq->args[i].star) {
          r = EQL_MAYBE;
          continue;
        }
        eql_value el = eql_eval_expr(ev, v->seq->args[i].value);
        const char *w = NULL;
        eql_tri t = eql_value_nonarray(ev, &el, &w);
        if (t == EQL_YES) {
          r = EQL_YES;
          if (why)
            *why = el.kind == EQL_V_FUNCTION
                       ? eql_arena_printf(ev->f->arena, "it holds the raw function `%s`",
                                          eql_expr_snippet(ev->f, v->seq->args[i].value, 40))
                       : eql_arena_printf(ev->f->arena, "it holds `%s`%s%s",
                                          eql_expr_snippet(ev->f, v->seq->args[i].value, 40),
                                          w ? ", " : "", w ? eql_why_nested(ev->f->arena, w) : "");
        } else if (t == EQL_MAYBE) {
          r = EQL_MAYBE;
        }
      }
      ev->depth--;
      return r;
    }
    case EQL_V_FUNCTION:
    case EQL_V_TRANSFORMED:
    case EQL_V_STR:
    case EQL_V_BOOL:
    case EQL_V_FLOAT:
      return EQL_YES;
    case EQL_V_MODULE:
      if (why) *why = v->why;
      return v->nonarray;
    case EQL_V_ARRAY:
    case EQL_V_INT:
    case EQL_V_NONE:
    case EQL_V_FILTERED:
      return EQL_NO;
    default:
      return EQL_MAYBE;
  }
}
