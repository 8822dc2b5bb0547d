/* Abstract values: what an expression is known to evaluate to, as far as the rules care.
 * Evaluation is demand-driven and bounded (depth, no loops); anything not known is
 * EQL_V_UNKNOWN, and rules stay silent on unknowns. */
#ifndef EQLINT_VALUE_H
#define EQLINT_VALUE_H
#include "eqlint/facts.h"
#include "eqlint/index.h"

typedef enum {
  EQL_V_UNKNOWN = 0,
  EQL_V_MODULE,      /* an instance of a Module class (cls) */
  EQL_V_CLASS,       /* a class object (cls) */
  EQL_V_OPTAX,       /* an optax GradientTransformation (canon: its constructor) */
  EQL_V_FILTERED,    /* eqx.filter(...) or the first result of eqx.partition(...) */
  EQL_V_STATIC_PART, /* the second result of eqx.partition(...) */
  EQL_V_PARTITION,   /* the pair eqx.partition(...) returns */
  EQL_V_FUNCTION,    /* a plain function: func (a def or lambda here) or canon (jax.nn.relu) */
  EQL_V_TRANSFORMER, /* a JAX transform itself: `jax.jit`, `partial(jax.jit, ...)` */
  EQL_V_TRANSFORMED, /* a function wrapped by a transform (canon = "jax.jit", func = inner) */
  EQL_V_ARRAY,
  EQL_V_STR,
  EQL_V_INT,
  EQL_V_FLOAT,
  EQL_V_BOOL,
  EQL_V_NONE,
  EQL_V_SEQ,         /* a list or tuple literal (seq), possibly repeated (`[x] * n`) */
} eql_value_kind;

typedef struct eql_value {
  eql_value_kind kind;
  eql_classref cls;          /* MODULE, CLASS */
  const char *canon;         /* OPTAX, FUNCTION, TRANSFORMER, TRANSFORMED: canonical name */
  const eql_func *func;      /* FUNCTION / TRANSFORMED: the function, when defined here */
  const eql_facts *func_facts; /* the file of func */
  const eql_expr *origin;    /* the expression that made the value (a constructor call ...) */
  const eql_expr *site;      /* TRANSFORMED/TRANSFORMER: the transform expression to report */
  const eql_expr *seq;       /* SEQ: the list/tuple literal */
  const eql_expr *elem;      /* SEQ: the element of a comprehension (all elements alike) */
  const eql_expr *predicate; /* FILTERED: the filter spec argument */
  eql_tri nonarray;          /* MODULE: can this instance hold non-array leaves */
  const char *why;
} eql_value;

typedef struct eql_eval {
  const eql_index *idx;
  const eql_facts *f;
  int depth;
  int steps;   /* work done by the current top-level evaluation (bounded: see value.c) */
} eql_eval;

eql_value eql_eval_expr(eql_eval *ev, const eql_expr *e);
/* The value a binding gives its name. */
eql_value eql_eval_binding(eql_eval *ev, const eql_binding *b);
/* The value a parameter has from its annotation or default (no call-site knowledge). */
eql_value eql_eval_param(eql_eval *ev, const eql_param *p, const eql_func *fn);
/* The value of an annotation expression as the type of a value ("Callable" -> FUNCTION,
 * "MLP" -> MODULE ...); UNKNOWN when it says nothing definite. */
eql_value eql_eval_annotation(eql_eval *ev, const eql_expr *an);
/* Can this value hold non-array leaves (as a pytree leaf or Module)? */
eql_tri eql_value_nonarray(eql_eval *ev, const eql_value *v, const char **why);
/* Turns a reason clause about a value ("its field `x` ...", "it holds ...") into one that
 * can follow a noun ("whose field `x` ...", "which holds ..."). Arena-owned. */
const char *eql_why_nested(eql_arena *a, const char *why);

/* Canonical name of a JAX transform ("jax.jit" ...) if `canon` is one, else NULL. */
const char *eql_jax_transform(const char *canon);

#endif
