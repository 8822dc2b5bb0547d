/* Facts: the small, language-neutral model IR that front ends produce and rules read.
 *
 * It is a normalised syntax tree with names already resolved: every name or attribute chain
 * that refers to an import carries its canonical dotted name (`eqx.filter_jit` ->
 * "equinox.filter_jit"), every function knows its parameters and decorators, every class its
 * bases and declared fields, and every binding (assignment, parameter, def, import) is listed
 * with the scope and position it takes effect at. Rules never see tree-sitter or libclang.
 *
 * All of it lives in the facts' arena and is freed by eql_facts_free. */
#ifndef EQLINT_FACTS_H
#define EQLINT_FACTS_H
#include <stdbool.h>
#include <stdint.h>
#include "eqlint/arena.h"
#include "eqlint/source.h"

typedef struct eql_expr eql_expr;
typedef struct eql_stmt eql_stmt;
typedef struct eql_func eql_func;
typedef struct eql_class eql_class;

typedef enum {
  EQL_E_OTHER = 0, /* anything the rules do not look into (sub-expressions still listed) */
  EQL_E_NAME,      /* name */
  EQL_E_ATTR,      /* a . name */
  EQL_E_CALL,      /* a ( args ) */
  EQL_E_STR,       /* name = contents without quotes (best effort, no escapes decoded) */
  EQL_E_INT,       /* name = literal text */
  EQL_E_FLOAT,     /* name = literal text */
  EQL_E_BOOL,      /* name = "True" / "False" */
  EQL_E_NONE,
  EQL_E_LIST,      /* args = elements (positional) */
  EQL_E_TUPLE,
  EQL_E_SET,
  EQL_E_DICT,      /* args: key + value */
  EQL_E_LAMBDA,    /* params, a = body */
  EQL_E_BINOP,     /* a name b ; name = operator text ("*", "|", "+", "@" ...) */
  EQL_E_UNARY,     /* name a */
  EQL_E_BOOLOP,    /* a name b ; "and" / "or" */
  EQL_E_COMPARE,   /* a ... (args = further operands) */
  EQL_E_SUBSCRIPT, /* a [ args ] */
  EQL_E_IFEXP,     /* a if b else c */
  EQL_E_COMP,      /* comprehension or generator: a = element, args = iterables (key = target) */
  EQL_E_STARRED,   /* *a */
  EQL_E_AWAIT,     /* await a */
} eql_expr_kind;

typedef struct eql_arg {
  const char *kw;  /* keyword name, or NULL for a positional argument */
  eql_expr *key;   /* dict key; comprehension target */
  eql_expr *value;
  int star;        /* 1 for *value, 2 for **value */
  uint32_t start, end;
} eql_arg;

typedef enum {
  EQL_P_PLAIN = 0, EQL_P_POSONLY, EQL_P_KWONLY, EQL_P_VARARGS, EQL_P_VARKW
} eql_param_kind;

typedef struct eql_param {
  const char *name;
  eql_expr *annotation; /* or NULL */
  eql_expr *dflt;       /* default value or NULL */
  eql_param_kind kind;
  uint32_t start, end;
} eql_param;

struct eql_expr {
  eql_expr_kind kind;
  uint32_t start, end;  /* byte range in the source */
  const char *name;     /* see the kinds above */
  const char *canon;    /* canonical dotted name when this NAME/ATTR chain is an import */
  eql_expr *a, *b, *c;
  eql_arg *args;
  unsigned nargs;
  eql_param *params;    /* LAMBDA */
  unsigned nparams;
  eql_func *scope;      /* innermost enclosing function (NULL = module level) */
  eql_stmt *stmt;       /* the statement this expression belongs to */
};

typedef struct eql_block {
  eql_stmt **items;
  unsigned n;
} eql_block;

typedef enum {
  EQL_S_OTHER = 0, /* assert, global, pass, match ... */
  EQL_S_EXPR,      /* value */
  EQL_S_ASSIGN,    /* targets = value ; annotation for `x: T = v` (value may be NULL) */
  EQL_S_AUGASSIGN, /* targets[0] op= value */
  EQL_S_RETURN,    /* value (may be NULL) */
  EQL_S_RAISE,
  EQL_S_IF,        /* value = test, body, orelse (an elif is an IF alone in orelse) */
  EQL_S_FOR,       /* targets[0] in value: body, orelse */
  EQL_S_WHILE,     /* value = test, body, orelse */
  EQL_S_WITH,      /* items as exprs in `exprs`, `as` targets in targets, body */
  EQL_S_TRY,       /* body, handlers, orelse, finalbody */
  EQL_S_DEF,       /* func */
  EQL_S_CLASS,     /* cls */
  EQL_S_IMPORT,
  EQL_S_BREAK,
  EQL_S_CONTINUE,
  EQL_S_DELETE,
  EQL_S_PASS,
} eql_stmt_kind;

struct eql_stmt {
  eql_stmt_kind kind;
  uint32_t start, end;
  eql_expr **targets;
  unsigned ntargets;
  eql_expr *value;
  eql_expr *annotation;
  eql_expr **exprs;      /* WITH items; RAISE / DELETE operands */
  unsigned nexprs;
  const char *op;        /* AUGASSIGN operator */
  eql_block body, orelse, finalbody;
  eql_block *handlers;   /* TRY: one block per except clause */
  unsigned nhandlers;
  eql_func *func;        /* DEF */
  eql_class *cls;        /* CLASS */
  eql_func *scope;       /* enclosing function, NULL at module or class level */
  eql_class *in_class;   /* set for statements directly in a class body */
  eql_stmt *parent;      /* enclosing compound statement, or NULL */
};

struct eql_func {
  const char *name;
  uint32_t start, end, name_start, name_end;
  eql_param *params;
  unsigned nparams;
  eql_expr **decorators; /* without the @ */
  unsigned ndecorators;
  eql_expr *returns;
  eql_block body;
  eql_class *cls;        /* the class this is a method of, or NULL */
  eql_func *parent;      /* enclosing function, or NULL */
  eql_stmt *stmt;        /* its DEF statement */
  bool is_async, is_lambda;
};

typedef struct eql_field {
  const char *name;
  eql_expr *annotation;  /* NULL when only assigned (not a declared field) */
  eql_expr *dflt;        /* the right-hand side in the class body, or NULL */
  bool is_static;        /* eqx.field(static=True), eqx.static_field() */
  bool has_default;      /* plain default or field(default=/default_factory=) */
  bool init_false;       /* field(init=False) */
  bool is_classvar;      /* ClassVar[...] annotations are not fields */
  uint32_t start, end;
} eql_field;

struct eql_class {
  const char *name;
  const char *qualname;  /* Outer.Inner for nested classes */
  uint32_t start, end, name_start, name_end;
  eql_expr **bases;
  unsigned nbases;
  eql_arg *keywords;     /* class keyword arguments (metaclass=, strict=) */
  unsigned nkeywords;
  eql_expr **decorators;
  unsigned ndecorators;
  eql_field *fields;     /* annotated class-body names, in order */
  unsigned nfields;
  eql_func **methods;
  unsigned nmethods;
  eql_block body;
  eql_func *scope;       /* enclosing function, or NULL */
  eql_stmt *stmt;
};

typedef enum {
  EQL_B_ASSIGN = 0, /* name = value (unpack >= 0: element `unpack` of `nunpack`) */
  EQL_B_PARAM,      /* function parameter */
  EQL_B_DEF,        /* def name */
  EQL_B_CLASS,      /* class name */
  EQL_B_IMPORT,     /* import alias (canon = target) */
  EQL_B_FOR,        /* for-loop or comprehension target */
  EQL_B_OTHER,      /* with-as, except-as, walrus, global ... : value unknown */
} eql_binding_kind;

typedef struct eql_binding {
  const char *name;
  eql_binding_kind kind;
  eql_func *scope;       /* function scope, NULL = module level (class bodies are skipped) */
  eql_stmt *stmt;        /* the binding statement (NULL for parameters) */
  eql_expr *value;       /* ASSIGN: right-hand side; FOR: the iterable */
  eql_expr *target;      /* the name node bound */
  int unpack, nunpack;   /* tuple unpacking position, or -1 */
  eql_param *param;      /* PARAM */
  eql_func *func;        /* DEF */
  eql_class *cls;        /* CLASS */
  const char *canon;     /* IMPORT */
  uint32_t pos;          /* byte offset from which the binding holds (end of its statement) */
} eql_binding;

typedef struct eql_import {
  const char *alias;     /* local name ("eqx"), or NULL for `from x import *` */
  const char *target;    /* canonical dotted name ("equinox") */
  uint32_t start, end;
  eql_func *scope;
} eql_import;

typedef struct eql_comment {
  uint32_t start, end;      /* bytes of the comment, from its `#` (or `//`) to the line end */
} eql_comment;

typedef struct eql_facts {
  eql_arena *arena;
  const eql_source *src;
  const char *module_name;  /* dotted module name of the file ("pkg.model"), or "" */
  bool is_package_init;     /* __init__.py: relative imports resolve against itself */
  bool is_c;                /* C source lowered by the C front end: messages use libeqx's names */
  eql_block body;           /* module-level statements */
  eql_vec classes;          /* every eql_class *, nested ones too, in source order */
  eql_vec funcs;            /* every eql_func *, methods and lambdas too */
  eql_vec calls;            /* every CALL eql_expr *, in source order */
  eql_vec bindings;         /* every eql_binding *, in source order */
  eql_vec imports;          /* every eql_import * */
  eql_vec comments;         /* every eql_comment *, in source order (for suppressions) */
  bool has_error;           /* the parse had errors */
  uint32_t error_start, error_end;
  const char *error_message;
  struct eql_bindmap *bindmap; /* name -> bindings, built by eql_facts_finish */
} eql_facts;

/* Called by front ends once the facts are complete: builds the lookup tables. 0 or -1 (OOM). */
int eql_facts_finish(eql_facts *f);

/* Parses Python source into facts. module_name may be NULL. Returns NULL only when out of
 * memory; a file that does not parse gives facts with has_error set. Caller owns the result. */
eql_facts *eql_python_facts(const eql_source *src, const char *module_name, bool is_package_init);
void eql_facts_free(eql_facts *f);
/* The same with incremental parsing: `old_tree` (a TSTree *, already told about the edits
 * with ts_tree_edit) may be NULL; when `new_tree` is non-NULL it receives the new tree
 * (caller owns, ts_tree_delete). Kept as void pointers so this header stays free of
 * tree-sitter types. */
/* Parse-time budget for every later parse in this process (0 = none): a file whose parse
 * takes longer makes eql_python_facts* return NULL with eql_python_last_error() = "timeout".
 * Set it before starting threads. */
void eql_python_set_timeout(uint64_t micros);
/* Why the last eql_python_facts* call on this thread returned NULL: "timeout", "nesting"
 * (brackets nested deeper than the parser can safely handle) or "out of memory". */
const char *eql_python_last_error(void);
eql_facts *eql_python_facts_incremental(const eql_source *src, const char *module_name,
                                        bool is_package_init, void *old_tree, void **new_tree);

/* Source text of an expression, arena-owned copy. */
const char *eql_expr_text(const eql_facts *f, const eql_expr *e);
/* Canonical name of an expression if it is a (possibly re-bound) reference to an import, or
 * NULL. Follows `j = jax.jit` module-level re-bindings. */
const char *eql_facts_canon(const eql_facts *f, const eql_expr *e);
/* The same without following re-bindings and without allocating: safe on another file's
 * facts while rules run on several threads (an import name, or an attribute chain of one). */
const char *eql_facts_canon_ro(const eql_facts *f, const eql_expr *e);
/* The binding of `name` visible at byte `pos` in `scope` (walking out to enclosing functions
 * and the module), or NULL. */
const eql_binding *eql_facts_lookup(const eql_facts *f, const char *name, eql_func *scope,
                                    uint32_t pos);
/* Calls `cb` on every expression of the file (sub-expressions too, lambdas and nested
 * functions included), in source order of their statements. */
typedef void (*eql_expr_cb)(const eql_expr *e, void *ud);
void eql_facts_visit_exprs(const eql_facts *f, eql_expr_cb cb, void *ud);
/* Source text of an expression on one line, whitespace collapsed, at most `max` bytes
 * (with "..." when cut). Arena-owned. */
const char *eql_expr_snippet(const eql_facts *f, const eql_expr *e, size_t max);

/* Positional argument i (not counting keywords) or keyword `kw` of a call; NULL if absent. */
eql_expr *eql_call_arg(const eql_expr *call, int i, const char *kw);

#endif
