/* ## What it does
 * Checks for a Module field marked static (`eqx.field(static=True)`, `eqx.static_field()`)
 * that holds an array: its annotation is an array type (`jax.Array`, `jnp.ndarray`,
 * `np.ndarray`, jaxtyping's `Float[Array, "..."]` and friends, or a Module class that holds
 * arrays, such as `eqx.nn.Linear`), or its default or the value `__init__` assigns to it is
 * built by a `jnp.*`/`np.*` array constructor.
 *
 * ## Why is this bad
 * A static field is not a leaf of the tree: it is part of the tree's structure. JAX never
 * traces it, `grad` never differentiates it, optimisers never update it, and `jit` hashes
 * and compares it on every call: JAX arrays are not hashable in a useful way (and NumPy
 * arrays not at all), so you get errors or a recompilation per instance. Equinox warns at
 * run time: "A JAX array is being set as static! This can result in unexpected behavior
 * and is usually a mistake to do."
 *
 * ## Example
 * ```python
 * class Model(eqx.Module):
 *     linear: eqx.nn.Linear
 *     mask: jax.Array = eqx.field(static=True)
 * ```
 *
 * ## Use instead
 * Keep it a normal field, and stop gradients where it is used (the Equinox FAQ's
 * non-trainable buffer):
 * ```python
 * class Model(eqx.Module):
 *     linear: eqx.nn.Linear
 *     mask: jax.Array
 *
 *     def __call__(self, x):
 *         return self.linear(x) * jax.lax.stop_gradient(self.mask)
 * ```
 *
 * ## Fix safety
 * No automatic fix: the optimiser must also be told not to update the buffer (filter it
 * out, or rely on the zero gradient), which is the author's decision.
 *
 * ## Known limits
 * Annotations such as `ArrayLike`, `Any` or unions with non-array types are not judged;
 * values are judged only when they are a direct call of an array constructor (possibly
 * through one local name in the same method). Static fields holding dtypes, shapes, ints,
 * tuples, strings and callables are never reported.
 */
#include <string.h>

#include "eqlint/ctx.h"
#include "eqlint/value.h"

/* Canonical name of a NAME/ATTR without writing to the facts' arena. */
static const char *ro_canon(const eql_facts *f, const eql_expr *e) {
  if (!e) return NULL;
  if (e->kind == EQL_E_NAME) {
    const eql_binding *b = eql_facts_lookup(f, e->name, e->scope, e->start);
    if (!b) return e->canon;
    if (b->kind == EQL_B_IMPORT) return b->canon;
    /* a module-level alias `Array = jax.Array` */
    if (b->kind == EQL_B_ASSIGN && b->unpack < 0 && b->value &&
        (b->value->kind == EQL_E_ATTR || b->value->kind == EQL_E_NAME) && b->value != e)
      return b->value->kind == EQL_E_ATTR ? b->value->canon : NULL;
    return NULL;
  }
  return e->kind == EQL_E_ATTR ? e->canon : NULL;
}

/* Plain array types (not ArrayLike: it admits Python scalars). */
static int array_type_name(const char *canon) {
  static const char *const names[] = {
    "jax.Array", "jax.numpy.ndarray", "numpy.ndarray", "jaxtyping.Array", "jax.numpy.DeviceArray",
    "jaxtyping.PRNGKeyArray", "jax.random.KeyArray", "numpy.typing.NDArray", NULL,
  };
  for (int i = 0; canon && names[i]; i++)
    if (!strcmp(canon, names[i])) return 1;
  return 0;
}

/* jaxtyping's dtype annotations: Float[Array, "n"], Shaped[np.ndarray, "..."], ... */
static int jaxtyping_dtype(const char *canon) {
  static const char *const names[] = {
    "Float", "Int", "Shaped", "Bool", "Complex", "Inexact", "Integer", "Num", "Real", "UInt",
    "Key", "Float16", "Float32", "Float64", "BFloat16", "Int8", "Int16", "Int32", "Int64",
    "UInt8", "UInt16", "UInt32", "UInt64", "Complex64", "Complex128", NULL,
  };
  if (!canon || strncmp(canon, "jaxtyping.", 10)) return 0;
  for (int i = 0; names[i]; i++)
    if (!strcmp(canon + 10, names[i])) return 1;
  return 0;
}

/* Built-in layers that hold arrays (weights), as opposed to Lambda, Identity, Dropout and
 * the pools, which hold none. */
static int layer_has_arrays(const char *name) {
  static const char *const names[] = {
    "Linear", "Conv", "Conv1d", "Conv2d", "Conv3d", "ConvTranspose", "ConvTranspose1d",
    "ConvTranspose2d", "ConvTranspose3d", "Embedding", "LayerNorm", "RMSNorm", "GroupNorm",
    "GRUCell", "LSTMCell", "PReLU", "MLP", "MultiheadAttention", "BatchNorm", NULL,
  };
  for (int i = 0; names[i]; i++)
    if (!strcmp(name, names[i])) return 1;
  return 0;
}

static int is_array_annotation(const eql_facts *f, const eql_expr *an);

/* Does a user Module class declare a non-static field annotated with an array type? */
static const char *class_array_field(const eql_facts *f, const eql_class *c) {
  for (unsigned i = 0; i < c->nfields; i++) {
    const eql_field *fd = &c->fields[i];
    if (fd->is_static || fd->is_classvar || !fd->annotation) continue;
    if (is_array_annotation(f, fd->annotation)) return fd->name;
  }
  return NULL;
}

static int is_array_annotation(const eql_facts *f, const eql_expr *an) {
  if (!an) return 0;
  if (an->kind == EQL_E_BINOP && an->name && !strcmp(an->name, "|")) {
    const eql_expr *other = an->b && an->b->kind == EQL_E_NONE ? an->a
                          : an->a && an->a->kind == EQL_E_NONE ? an->b : NULL;
    return other ? is_array_annotation(f, other) : 0;
  }
  if (an->kind == EQL_E_SUBSCRIPT && an->a) {
    const char *head = ro_canon(f, an->a);
    if (head && (!strcmp(head, "typing.Optional")) && an->nargs == 1)
      return is_array_annotation(f, an->args[0].value);
    if (head && !strcmp(head, "numpy.typing.NDArray")) return 1;
    if (jaxtyping_dtype(head) && an->nargs >= 1)
      return is_array_annotation(f, an->args[0].value);
    return 0;
  }
  if (an->kind != EQL_E_NAME && an->kind != EQL_E_ATTR) return 0;
  const char *canon = ro_canon(f, an);
  if (array_type_name(canon)) return 1;
  if (!canon && an->kind == EQL_E_NAME && !strcmp(an->name, "Array") &&
      !eql_facts_lookup(f, an->name, an->scope, an->start))
    return 1;
  return 0;
}

/* A Module class annotation whose instances hold arrays: its display name, or NULL. */
static const char *array_module_annotation(eql_ctx *ctx, const eql_expr *an) {
  const eql_facts *f = ctx->facts;
  if (!an || (an->kind != EQL_E_NAME && an->kind != EQL_E_ATTR)) return NULL;
  eql_classref ref;
  memset(&ref, 0, sizeof ref);
  const char *canon = ro_canon(f, an);
  if (canon) {
    if (!eql_index_resolve(ctx->index, f, canon, &ref)) return NULL;
  } else if (an->kind == EQL_E_NAME) {
    const eql_binding *b = eql_facts_lookup(f, an->name, NULL, UINT32_MAX);
    if (!b || b->kind != EQL_B_CLASS || !b->cls) return NULL;
    ref.facts = f;
    ref.cls = b->cls;
  } else {
    return NULL;
  }
  if (ref.layer) return layer_has_arrays(ref.layer->name) ? eql_classref_name(&ref) : NULL;
  if (!ref.cls || eql_index_is_module(ctx->index, &ref) != EQL_YES) return NULL;
  return class_array_field(ref.facts, ref.cls) ? ref.cls->qualname : NULL;
}

/* `jnp.zeros(...)`, `np.asarray(...)` ...: the constructor's canonical name, or NULL. */
static const char *array_constructor(const eql_facts *f, const eql_expr *e) {
  static const char *const fns[] = {
    "array", "asarray", "zeros", "ones", "empty", "full", "zeros_like", "ones_like",
    "empty_like", "full_like", "arange", "linspace", "logspace", "geomspace", "eye", "identity",
    "tri", "tril", "triu", "diag", "stack", "concatenate", "vstack", "hstack", NULL,
  };
  static const char *const rnd[] = {"randn", "rand", "normal", "uniform", "standard_normal", NULL};
  if (!e || e->kind != EQL_E_CALL || !e->a) return NULL;
  const char *canon = ro_canon(f, e->a);
  if (!canon) return NULL;
  const char *rest = !strncmp(canon, "jax.numpy.", 10) ? canon + 10
                   : !strncmp(canon, "numpy.", 6) ? canon + 6 : NULL;
  if (!rest) return NULL;
  if (!strncmp(rest, "random.", 7)) {
    for (int i = 0; rnd[i]; i++)
      if (!strcmp(rest + 7, rnd[i])) return canon;
    return NULL;
  }
  for (int i = 0; fns[i]; i++)
    if (!strcmp(rest, fns[i])) return canon;
  return NULL;
}

/* The array-constructor call a value is (directly or through one local name), or NULL. */
static const eql_expr *array_value(const eql_facts *f, const eql_expr *v) {
  if (!v) return NULL;
  if (v->kind == EQL_E_NAME && v->scope) {
    const eql_binding *b = eql_facts_lookup(f, v->name, v->scope, v->start);
    if (!b || b->kind != EQL_B_ASSIGN || b->unpack >= 0 || b->scope != v->scope) return NULL;
    v = b->value;
  }
  return array_constructor(f, v) ? v : NULL;
}

/* The value stored by `self.<name> = value` in an initialiser of `c`, if it is an array
 * constructor call. */
static const eql_expr *find_assigned(const eql_facts *f, const eql_block *b, const char *self,
                                     const char *name) {
  for (unsigned i = 0; i < b->n; i++) {
    const eql_stmt *s = b->items[i];
    if (s->kind == EQL_S_ASSIGN && s->value) {
      for (unsigned t = 0; t < s->ntargets; t++) {
        const eql_expr *tg = s->targets[t];
        if (tg->kind == EQL_E_ATTR && tg->name && !strcmp(tg->name, name) && tg->a &&
            tg->a->kind == EQL_E_NAME && !strcmp(tg->a->name, self)) {
          const eql_expr *v = array_value(f, s->value);
          if (v) return v;
        }
      }
    }
    if (s->kind == EQL_S_DEF || s->kind == EQL_S_CLASS) continue;
    const eql_expr *r = find_assigned(f, &s->body, self, name);
    if (!r) r = find_assigned(f, &s->orelse, self, name);
    if (!r) r = find_assigned(f, &s->finalbody, self, name);
    for (unsigned h = 0; !r && h < s->nhandlers; h++) r = find_assigned(f, &s->handlers[h], self, name);
    if (r) return r;
  }
  return NULL;
}

void eql_check_EQX005(eql_ctx *ctx) {
  const eql_facts *f = ctx->facts;
  const char *help = "make it a normal field and wrap its uses in `jax.lax.stop_gradient` "
                     "(a non-trainable buffer); keep `static=True` for hashable "
                     "configuration such as shapes, dtypes and flags";
  for (unsigned i = 0; i < f->classes.n; i++) {
    const eql_class *c = f->classes.items[i];
    int any_static = 0;
    for (unsigned k = 0; k < c->nfields; k++) any_static |= c->fields[k].is_static;
    if (!any_static) continue;
    eql_classref self = {f, c, NULL};
    if (eql_index_is_module(ctx->index, &self) != EQL_YES) continue;
    for (unsigned k = 0; k < c->nfields; k++) {
      const eql_field *fd = &c->fields[k];
      if (!fd->is_static || fd->is_classvar) continue;
      const char *why = NULL;
      if (fd->annotation && is_array_annotation(f, fd->annotation)) {
        why = eql_arena_printf(ctx->scratch, "is annotated `%s`",
                               eql_expr_snippet(f, fd->annotation, 40));
      } else if (fd->annotation) {
        const char *m = array_module_annotation(ctx, fd->annotation);
        if (m)
          why = eql_arena_printf(ctx->scratch, "holds a `%s`, a Module whose parameters are arrays",
                                 m);
      }
      if (!why && fd->dflt && fd->dflt->kind == EQL_E_CALL) {
        const eql_expr *d = eql_call_arg(fd->dflt, -1, "default");
        if (d && array_constructor(f, d))
          why = eql_arena_printf(ctx->scratch, "defaults to `%s`", eql_expr_snippet(f, d, 40));
      }
      for (unsigned m = 0; !why && m < c->nmethods; m++) {
        const eql_func *fn = c->methods[m];
        if (strcmp(fn->name, "__init__") && strcmp(fn->name, "__post_init__")) continue;
        if (!fn->nparams || !fn->params[0].name) continue;
        const eql_expr *v = find_assigned(f, &fn->body, fn->params[0].name, fd->name);
        if (v)
          why = eql_arena_printf(ctx->scratch, "is assigned `%s` in `%s`",
                                 eql_expr_snippet(f, v, 40), fn->name);
      }
      if (!why) continue;
      eql_report(ctx, fd->start, fd->end, help,
                 "field `%s` of `%s` is marked static but %s: static fields are not leaves "
                 "(never differentiated or updated, hashed on every jit call); Equinox warns "
                 "\"A JAX array is being set as static!\"",
                 fd->name, c->qualname, why);
    }
  }
}
