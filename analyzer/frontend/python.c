/* Python front end: tree-sitter-python syntax tree -> facts.
 *
 * One pass over the tree builds the normalised IR of facts.h. Before it, a cheap pre-pass
 * collects every import of the file (module level and inside functions), so that while
 * converting, each name or attribute chain rooted at an import gets its canonical dotted name
 * right away (`eqx.nn.MLP` -> "equinox.nn.MLP", `J` -> "jax.jit"). Rebindings such as
 * `jit = jax.jit` are left to eql_facts_canon, which follows bindings.
 *
 * Robustness: the converter recurses, so it stops descending past MAX_DEPTH nested nodes
 * (10,000-deep expressions exist in generated code); deeper parts become EQL_E_OTHER. ERROR
 * nodes are converted like blocks, so rules still see the statements that did parse. */
#include <stdlib.h>
#include <string.h>
#include <tree_sitter/api.h>

#include "eqlint/facts.h"

const TSLanguage *tree_sitter_python(void);

#define MAX_DEPTH 400

typedef struct conv {
  eql_facts *f;
  const char *src;
  eql_func *scope;       /* innermost function */
  eql_class *cls;        /* class whose body is being converted (directly) */
  eql_stmt *stmt;        /* statement being converted */
  eql_stmt *parent;      /* enclosing compound statement */
  int depth;
  int oom;
  const char *pkg;       /* package of this module, for relative imports */
} conv;

/* ---------------------------------------------------------------- small helpers */

static int is(TSNode n, const char *type) { return strcmp(ts_node_type(n), type) == 0; }

static TSNode field(TSNode n, const char *name) {
  return ts_node_child_by_field_name(n, name, (uint32_t)strlen(name));
}

static const char *text(conv *c, TSNode n) {
  uint32_t a = ts_node_start_byte(n), b = ts_node_end_byte(n);
  char *s = eql_arena_strndup(c->f->arena, c->src + a, b - a);
  if (!s) c->oom = 1;
  return s ? s : "";
}

static void *alloc(conv *c, size_t n) {
  void *p = eql_arena_alloc(c->f->arena, n);
  if (!p) c->oom = 1;
  return p;
}

static void push(conv *c, eql_vec *v, void *item) {
  if (item && eql_vec_push(c->f->arena, v, item) < 0) c->oom = 1;
}

/* ---------------------------------------------------------------- imports (pre-pass) */

static const char *import_canon(conv *c, const char *alias) {
  /* later imports of the same alias win only when at module level: the first module-level
   * binding is what most of the file sees */
  const char *hit = NULL;
  for (unsigned i = 0; i < c->f->imports.n; i++) {
    eql_import *im = c->f->imports.items[i];
    if (im->alias && strcmp(im->alias, alias) == 0) {
      if (!hit || !im->scope) hit = im->target;
    }
  }
  return hit;
}

static void add_import(conv *c, const char *alias, const char *target, TSNode n) {
  eql_import *im = alloc(c, sizeof *im);
  if (!im) return;
  im->alias = alias;
  im->target = target;
  im->start = ts_node_start_byte(n);
  im->end = ts_node_end_byte(n);
  im->scope = c->scope;
  push(c, &c->f->imports, im);
}

/* "from ..a.b import x": the absolute module, resolved against this file's package. */
static const char *relative_module(conv *c, TSNode rel) {
  int level = 0;
  const char *rest = NULL;
  uint32_t nc = ts_node_child_count(rel);
  for (uint32_t i = 0; i < nc; i++) {
    TSNode ch = ts_node_child(rel, i);
    if (is(ch, "import_prefix")) level = (int)(ts_node_end_byte(ch) - ts_node_start_byte(ch));
    else if (is(ch, "dotted_name")) rest = text(c, ch);
  }
  /* strip level-1 trailing components from the package */
  char *base = eql_arena_strdup(c->f->arena, c->pkg ? c->pkg : "");
  if (!base) {
    c->oom = 1;
    return "";
  }
  for (int l = 1; l < level; l++) {
    char *dot = strrchr(base, '.');
    if (dot) *dot = 0;
    else base[0] = 0;
  }
  if (!rest) return base;
  if (!base[0]) return rest;
  return eql_arena_printf(c->f->arena, "%s.%s", base, rest);
}

static void collect_import(conv *c, TSNode n) {
  if (is(n, "import_statement")) {
    uint32_t nc = ts_node_named_child_count(n);
    for (uint32_t i = 0; i < nc; i++) {
      TSNode ch = ts_node_named_child(n, i);
      if (is(ch, "aliased_import")) {
        add_import(c, text(c, field(ch, "alias")), text(c, field(ch, "name")), ch);
      } else if (is(ch, "dotted_name")) {
        /* `import jax.numpy` binds `jax` */
        const char *full = text(c, ch);
        const char *dot = strchr(full, '.');
        const char *root = dot ? eql_arena_strndup(c->f->arena, full, (size_t)(dot - full)) : full;
        add_import(c, root, root, ch);
      }
    }
  } else if (is(n, "import_from_statement")) {
    TSNode mod = field(n, "module_name");
    if (ts_node_is_null(mod)) return;
    const char *base = is(mod, "relative_import") ? relative_module(c, mod) : text(c, mod);
    uint32_t nc = ts_node_named_child_count(n);
    for (uint32_t i = 0; i < nc; i++) {
      TSNode ch = ts_node_named_child(n, i);
      if (ts_node_eq(ch, mod)) continue;
      const char *name, *alias;
      if (is(ch, "aliased_import")) {
        name = text(c, field(ch, "name"));
        alias = text(c, field(ch, "alias"));
      } else if (is(ch, "dotted_name")) {
        name = alias = text(c, ch);
      } else if (is(ch, "wildcard_import")) {
        add_import(c, NULL, base, ch);
        continue;
      } else {
        continue;
      }
      const char *target = base[0] ? eql_arena_printf(c->f->arena, "%s.%s", base, name) : name;
      add_import(c, alias, target, ch);
    }
  }
}

/* Imports live in statements only; expressions are not searched. */
static void prepass(conv *c, TSNode n, int depth) {
  if (depth > MAX_DEPTH) return;
  uint32_t nc = ts_node_named_child_count(n);
  for (uint32_t i = 0; i < nc; i++) {
    TSNode ch = ts_node_named_child(n, i);
    const char *t = ts_node_type(ch);
    if (!strcmp(t, "import_statement") || !strcmp(t, "import_from_statement")) {
      collect_import(c, ch);
    } else if (!strcmp(t, "block") || !strcmp(t, "function_definition") ||
               !strcmp(t, "class_definition") || !strcmp(t, "decorated_definition") ||
               !strcmp(t, "if_statement") || !strcmp(t, "elif_clause") ||
               !strcmp(t, "else_clause") || !strcmp(t, "try_statement") ||
               !strcmp(t, "except_clause") || !strcmp(t, "finally_clause") ||
               !strcmp(t, "with_statement") || !strcmp(t, "for_statement") ||
               !strcmp(t, "while_statement") || !strcmp(t, "ERROR")) {
      prepass(c, ch, depth + 1);
    }
  }
}

/* ---------------------------------------------------------------- expressions */

static eql_expr *conv_expr(conv *c, TSNode n);
static void conv_block_into(conv *c, TSNode n, eql_block *out);
static eql_func *conv_function(conv *c, TSNode n, TSNode *decorators, unsigned ndec);

static eql_expr *new_expr(conv *c, eql_expr_kind k, TSNode n) {
  eql_expr *e = alloc(c, sizeof *e);
  if (!e) return NULL;
  e->kind = k;
  e->start = ts_node_start_byte(n);
  e->end = ts_node_end_byte(n);
  e->scope = c->scope;
  e->stmt = c->stmt;
  return e;
}

static void add_binding(conv *c, const char *name, eql_binding_kind k, eql_expr *value,
                        eql_expr *target, int unpack, int nunpack, uint32_t pos) {
  if (c->cls && c->scope == c->cls->scope) return; /* class attributes are not variables */
  eql_binding *b = alloc(c, sizeof *b);
  if (!b) return;
  b->name = name;
  b->kind = k;
  b->scope = c->scope;
  b->stmt = c->stmt;
  b->value = value;
  b->target = target;
  b->unpack = unpack;
  b->nunpack = nunpack;
  b->pos = pos;
  push(c, &c->f->bindings, b);
}

/* Binds every name of an assignment target. */
static void bind_target(conv *c, eql_expr *t, eql_binding_kind k, eql_expr *value, uint32_t pos) {
  if (!t) return;
  if (t->kind == EQL_E_NAME) {
    add_binding(c, t->name, k, value, t, -1, 0, pos);
  } else if (t->kind == EQL_E_TUPLE || t->kind == EQL_E_LIST) {
    for (unsigned i = 0; i < t->nargs; i++) {
      eql_expr *el = t->args[i].value;
      if (el && el->kind == EQL_E_NAME && !t->args[i].star)
        add_binding(c, el->name, k, value, el, (int)i, (int)t->nargs, pos);
      else if (el && el->kind == EQL_E_NAME)
        add_binding(c, el->name, EQL_B_OTHER, NULL, el, -1, 0, pos);
      else
        bind_target(c, el, EQL_B_OTHER, NULL, pos);
    }
  } else if (t->kind == EQL_E_STARRED) {
    bind_target(c, t->a, EQL_B_OTHER, NULL, pos);
  }
}

/* Arguments of a call (argument_list) or elements of a collection. */
static void conv_args(conv *c, TSNode list, eql_expr *e) {
  uint32_t nc = ts_node_named_child_count(list);
  eql_arg *args = nc ? alloc(c, nc * sizeof *args) : NULL;
  unsigned k = 0;
  for (uint32_t i = 0; i < nc && args; i++) {
    TSNode ch = ts_node_named_child(list, i);
    if (is(ch, "comment")) continue;
    eql_arg *a = &args[k];
    a->start = ts_node_start_byte(ch);
    a->end = ts_node_end_byte(ch);
    if (is(ch, "keyword_argument")) {
      a->kw = text(c, field(ch, "name"));
      a->value = conv_expr(c, field(ch, "value"));
    } else if (is(ch, "list_splat") || is(ch, "parenthesized_list_splat")) {
      a->star = 1;
      a->value = ts_node_named_child_count(ch) ? conv_expr(c, ts_node_named_child(ch, 0)) : NULL;
    } else if (is(ch, "dictionary_splat")) {
      a->star = 2;
      a->value = ts_node_named_child_count(ch) ? conv_expr(c, ts_node_named_child(ch, 0)) : NULL;
    } else if (is(ch, "pair")) {
      a->key = conv_expr(c, field(ch, "key"));
      a->value = conv_expr(c, field(ch, "value"));
    } else {
      a->value = conv_expr(c, ch);
    }
    k++;
  }
  e->args = args;
  e->nargs = k;
}

/* Comprehensions: element, then one arg per `for` clause (key = target, value = iterable). */
static void conv_comprehension(conv *c, TSNode n, eql_expr *e) {
  uint32_t nc = ts_node_named_child_count(n);
  eql_arg *args = nc ? alloc(c, nc * sizeof *args) : NULL;
  unsigned k = 0;
  for (uint32_t i = 0; i < nc && args; i++) {
    TSNode ch = ts_node_named_child(n, i);
    if (is(ch, "for_in_clause")) {
      args[k].start = ts_node_start_byte(ch);
      args[k].end = ts_node_end_byte(ch);
      args[k].value = conv_expr(c, field(ch, "right"));
      args[k].key = conv_expr(c, field(ch, "left"));
      bind_target(c, args[k].key, EQL_B_FOR, args[k].value, ts_node_start_byte(n));
      k++;
    } else if (is(ch, "if_clause") && ts_node_named_child_count(ch)) {
      conv_expr(c, ts_node_named_child(ch, 0)); /* still records calls */
    }
  }
  TSNode body = field(n, "body");
  if (!ts_node_is_null(body)) {
    if (is(body, "pair")) {
      e->b = conv_expr(c, field(body, "key"));
      e->a = conv_expr(c, field(body, "value"));
    } else {
      e->a = conv_expr(c, body);
    }
  }
  e->args = args;
  e->nargs = k;
}

static const char *strip_string(conv *c, TSNode n) {
  /* contents of the first string_content child; empty for "" */
  uint32_t nc = ts_node_named_child_count(n);
  for (uint32_t i = 0; i < nc; i++) {
    TSNode ch = ts_node_named_child(n, i);
    if (is(ch, "string_content")) return text(c, ch);
    if (is(ch, "string")) return strip_string(c, ch);
  }
  return "";
}

static void conv_params(conv *c, TSNode params, eql_param **out, unsigned *nout, uint32_t pos);

static eql_expr *conv_lambda(conv *c, TSNode n) {
  eql_expr *e = new_expr(c, EQL_E_LAMBDA, n);
  eql_func *fn = alloc(c, sizeof *fn);
  if (!e || !fn) return e;
  fn->name = "<lambda>";
  fn->start = e->start;
  fn->end = e->end;
  fn->name_start = e->start;
  fn->name_end = e->start + 6;
  fn->parent = c->scope;
  fn->stmt = c->stmt;
  fn->is_lambda = true;
  push(c, &c->f->funcs, fn);
  eql_func *saved = c->scope;
  eql_class *saved_cls = c->cls;
  c->scope = fn;
  c->cls = NULL;
  TSNode params = field(n, "parameters");
  if (!ts_node_is_null(params)) conv_params(c, params, &fn->params, &fn->nparams, e->start);
  e->params = fn->params;
  e->nparams = fn->nparams;
  e->a = conv_expr(c, field(n, "body"));
  c->scope = saved;
  c->cls = saved_cls;
  return e;
}

static eql_expr *conv_children_other(conv *c, TSNode n) {
  eql_expr *e = new_expr(c, EQL_E_OTHER, n);
  if (!e) return NULL;
  e->name = ts_node_type(n);
  conv_args(c, n, e);
  return e;
}

static eql_expr *conv_expr(conv *c, TSNode n) {
  if (ts_node_is_null(n)) return NULL;
  if (c->depth > MAX_DEPTH || c->oom) {
    eql_expr *e = new_expr(c, EQL_E_OTHER, n);
    if (e) e->name = "too-deep";
    return e;
  }
  c->depth++;
  eql_expr *e = NULL;
  const char *t = ts_node_type(n);
  if (!strcmp(t, "identifier")) {
    e = new_expr(c, EQL_E_NAME, n);
    if (e) {
      e->name = text(c, n);
      e->canon = import_canon(c, e->name);
    }
  } else if (!strcmp(t, "attribute")) {
    e = new_expr(c, EQL_E_ATTR, n);
    if (e) {
      e->a = conv_expr(c, field(n, "object"));
      e->name = text(c, field(n, "attribute"));
      if (e->a && e->a->canon)
        e->canon = eql_arena_printf(c->f->arena, "%s.%s", e->a->canon, e->name);
    }
  } else if (!strcmp(t, "call")) {
    e = new_expr(c, EQL_E_CALL, n);
    if (e) {
      push(c, &c->f->calls, e);
      e->a = conv_expr(c, field(n, "function"));
      TSNode args = field(n, "arguments");
      if (!ts_node_is_null(args)) {
        if (is(args, "generator_expression")) {
          eql_arg *a = alloc(c, sizeof *a);
          if (a) {
            a->value = conv_expr(c, args);
            a->start = ts_node_start_byte(args);
            a->end = ts_node_end_byte(args);
            e->args = a;
            e->nargs = 1;
          }
        } else {
          conv_args(c, args, e);
        }
      }
    }
  } else if (!strcmp(t, "string") || !strcmp(t, "concatenated_string")) {
    e = new_expr(c, EQL_E_STR, n);
    if (e) e->name = strip_string(c, n);
  } else if (!strcmp(t, "integer")) {
    e = new_expr(c, EQL_E_INT, n);
    if (e) e->name = text(c, n);
  } else if (!strcmp(t, "float")) {
    e = new_expr(c, EQL_E_FLOAT, n);
    if (e) e->name = text(c, n);
  } else if (!strcmp(t, "true") || !strcmp(t, "false")) {
    e = new_expr(c, EQL_E_BOOL, n);
    if (e) e->name = t[0] == 't' ? "True" : "False";
  } else if (!strcmp(t, "none")) {
    e = new_expr(c, EQL_E_NONE, n);
  } else if (!strcmp(t, "list") || !strcmp(t, "tuple") || !strcmp(t, "set") ||
             !strcmp(t, "expression_list") || !strcmp(t, "pattern_list") ||
             !strcmp(t, "tuple_pattern") || !strcmp(t, "list_pattern")) {
    eql_expr_kind k = t[0] == 'l' ? EQL_E_LIST : t[0] == 's' ? EQL_E_SET : EQL_E_TUPLE;
    e = new_expr(c, k, n);
    if (e) conv_args(c, n, e);
  } else if (!strcmp(t, "dictionary")) {
    e = new_expr(c, EQL_E_DICT, n);
    if (e) conv_args(c, n, e);
  } else if (!strcmp(t, "lambda")) {
    e = conv_lambda(c, n);
  } else if (!strcmp(t, "binary_operator") || !strcmp(t, "boolean_operator")) {
    e = new_expr(c, t[1] == 'i' ? EQL_E_BINOP : EQL_E_BOOLOP, n);
    if (e) {
      e->a = conv_expr(c, field(n, "left"));
      e->b = conv_expr(c, field(n, "right"));
      TSNode op = field(n, "operator");
      e->name = ts_node_is_null(op) ? "?" : text(c, op);
    }
  } else if (!strcmp(t, "unary_operator") || !strcmp(t, "not_operator")) {
    e = new_expr(c, EQL_E_UNARY, n);
    if (e) {
      e->a = conv_expr(c, field(n, "argument"));
      TSNode op = field(n, "operator");
      e->name = ts_node_is_null(op) ? "not" : text(c, op);
    }
  } else if (!strcmp(t, "comparison_operator")) {
    e = new_expr(c, EQL_E_COMPARE, n);
    if (e) {
      conv_args(c, n, e);
      if (e->nargs) e->a = e->args[0].value;
    }
  } else if (!strcmp(t, "subscript")) {
    e = new_expr(c, EQL_E_SUBSCRIPT, n);
    if (e) {
      e->a = conv_expr(c, field(n, "value"));
      uint32_t nc = ts_node_named_child_count(n);
      eql_arg *args = nc > 1 ? alloc(c, (nc - 1) * sizeof *args) : NULL;
      unsigned k = 0;
      for (uint32_t i = 1; i < nc && args; i++) {
        TSNode ch = ts_node_named_child(n, i);
        if (is(ch, "comment")) continue;
        args[k].value = conv_expr(c, ch);
        args[k].start = ts_node_start_byte(ch);
        args[k].end = ts_node_end_byte(ch);
        k++;
      }
      e->args = args;
      e->nargs = k;
    }
  } else if (!strcmp(t, "generic_type")) {
    /* annotations: Float[Array, "n"], list[int] */
    e = new_expr(c, EQL_E_SUBSCRIPT, n);
    if (e) {
      uint32_t nc = ts_node_named_child_count(n);
      eql_arg *args = alloc(c, (nc + 1) * sizeof *args);
      unsigned k = 0;
      for (uint32_t i = 0; i < nc && args; i++) {
        TSNode ch = ts_node_named_child(n, i);
        if (i == 0) {
          e->a = conv_expr(c, ch);
        } else if (is(ch, "type_parameter")) {
          uint32_t pc = ts_node_named_child_count(ch);
          eql_arg *more = alloc(c, (k + pc + 1) * sizeof *more);
          if (!more) break;
          memcpy(more, args, k * sizeof *args);
          args = more;
          for (uint32_t j = 0; j < pc; j++) {
            TSNode p = ts_node_named_child(ch, j);
            args[k].value = conv_expr(c, p);
            args[k].start = ts_node_start_byte(p);
            args[k].end = ts_node_end_byte(p);
            k++;
          }
        }
      }
      e->args = args;
      e->nargs = k;
    }
  } else if (!strcmp(t, "member_type")) {
    e = new_expr(c, EQL_E_ATTR, n);
    if (e && ts_node_named_child_count(n) >= 2) {
      e->a = conv_expr(c, ts_node_named_child(n, 0));
      e->name = text(c, ts_node_named_child(n, 1));
      if (e->a && e->a->canon)
        e->canon = eql_arena_printf(c->f->arena, "%s.%s", e->a->canon, e->name);
    }
  } else if (!strcmp(t, "conditional_expression")) {
    e = new_expr(c, EQL_E_IFEXP, n);
    if (e) {
      uint32_t nc = ts_node_named_child_count(n);
      if (nc > 0) e->a = conv_expr(c, ts_node_named_child(n, 0));
      if (nc > 1) e->b = conv_expr(c, ts_node_named_child(n, 1));
      if (nc > 2) e->c = conv_expr(c, ts_node_named_child(n, 2));
    }
  } else if (!strcmp(t, "list_comprehension") || !strcmp(t, "set_comprehension") ||
             !strcmp(t, "generator_expression") || !strcmp(t, "dictionary_comprehension")) {
    e = new_expr(c, EQL_E_COMP, n);
    if (e) {
      e->name = t;
      conv_comprehension(c, n, e);
    }
  } else if (!strcmp(t, "parenthesized_expression") || !strcmp(t, "type") ||
             !strcmp(t, "as_pattern_target")) {
    uint32_t nc = ts_node_named_child_count(n);
    TSNode inner = {0};
    int found = 0;
    for (uint32_t i = 0; i < nc; i++) {
      TSNode ch = ts_node_named_child(n, i);
      if (is(ch, "comment")) continue;
      inner = ch;
      found = 1;
      break;
    }
    e = found ? conv_expr(c, inner) : new_expr(c, EQL_E_OTHER, n);
  } else if (!strcmp(t, "list_splat") || !strcmp(t, "list_splat_pattern") ||
             !strcmp(t, "dictionary_splat") || !strcmp(t, "dictionary_splat_pattern")) {
    e = new_expr(c, EQL_E_STARRED, n);
    if (e && ts_node_named_child_count(n)) e->a = conv_expr(c, ts_node_named_child(n, 0));
  } else if (!strcmp(t, "await")) {
    e = new_expr(c, EQL_E_AWAIT, n);
    if (e && ts_node_named_child_count(n)) e->a = conv_expr(c, ts_node_named_child(n, 0));
  } else if (!strcmp(t, "named_expression")) {
    /* (x := value): the value, and a binding of x */
    e = conv_expr(c, field(n, "value"));
    TSNode nm = field(n, "name");
    if (!ts_node_is_null(nm)) add_binding(c, text(c, nm), EQL_B_ASSIGN, e, NULL, -1, 0, ts_node_end_byte(n));
  } else {
    e = conv_children_other(c, n);
  }
  c->depth--;
  return e;
}

/* ---------------------------------------------------------------- parameters, defs */

static void conv_params(conv *c, TSNode params, eql_param **out, unsigned *nout, uint32_t pos) {
  uint32_t nc = ts_node_named_child_count(params);
  eql_param *ps = nc ? alloc(c, nc * sizeof *ps) : NULL;
  unsigned k = 0;
  int kwonly = 0;
  for (uint32_t i = 0; i < nc && ps; i++) {
    TSNode ch = ts_node_named_child(params, i);
    eql_param *p = &ps[k];
    p->start = ts_node_start_byte(ch);
    p->end = ts_node_end_byte(ch);
    p->kind = kwonly ? EQL_P_KWONLY : EQL_P_PLAIN;
    TSNode name = {0};
    if (is(ch, "identifier")) {
      name = ch;
    } else if (is(ch, "typed_parameter")) {
      TSNode inner = ts_node_named_child(ch, 0);
      p->annotation = conv_expr(c, field(ch, "type"));
      if (is(inner, "list_splat_pattern") || is(inner, "dictionary_splat_pattern")) {
        p->kind = is(inner, "list_splat_pattern") ? EQL_P_VARARGS : EQL_P_VARKW;
        if (p->kind == EQL_P_VARARGS) kwonly = 1;
        name = ts_node_named_child(inner, 0);
      } else {
        name = inner;
      }
    } else if (is(ch, "default_parameter") || is(ch, "typed_default_parameter")) {
      name = field(ch, "name");
      TSNode ty = field(ch, "type");
      if (!ts_node_is_null(ty)) p->annotation = conv_expr(c, ty);
      p->dflt = conv_expr(c, field(ch, "value"));
    } else if (is(ch, "list_splat_pattern")) {
      p->kind = EQL_P_VARARGS;
      kwonly = 1;
      name = ts_node_named_child(ch, 0);
    } else if (is(ch, "dictionary_splat_pattern")) {
      p->kind = EQL_P_VARKW;
      name = ts_node_named_child(ch, 0);
    } else if (is(ch, "keyword_separator")) {
      kwonly = 1;
      continue;
    } else if (is(ch, "positional_separator")) {
      for (unsigned j = 0; j < k; j++) ps[j].kind = EQL_P_POSONLY;
      continue;
    } else {
      continue;
    }
    if (ts_node_is_null(name) || !is(name, "identifier")) continue;
    p->name = text(c, name);
    eql_binding *b = alloc(c, sizeof *b);
    if (b) {
      b->name = p->name;
      b->kind = EQL_B_PARAM;
      b->scope = c->scope;
      b->param = p;
      b->unpack = -1;
      b->pos = pos;
      push(c, &c->f->bindings, b);
    }
    k++;
  }
  *out = ps;
  *nout = k;
}

static void conv_decorators(conv *c, TSNode *decs, unsigned n, eql_expr ***out, unsigned *nout) {
  if (!n) return;
  eql_expr **ds = alloc(c, n * sizeof *ds);
  unsigned k = 0;
  for (unsigned i = 0; i < n && ds; i++) {
    if (!ts_node_named_child_count(decs[i])) continue;
    eql_expr *d = conv_expr(c, ts_node_named_child(decs[i], 0));
    if (d) ds[k++] = d;
  }
  *out = ds;
  *nout = k;
}

static eql_func *conv_function(conv *c, TSNode n, TSNode *decorators, unsigned ndec) {
  eql_func *fn = alloc(c, sizeof *fn);
  if (!fn) return NULL;
  TSNode name = field(n, "name");
  fn->name = ts_node_is_null(name) ? "" : text(c, name);
  fn->start = ts_node_start_byte(n);
  fn->end = ts_node_end_byte(n);
  fn->name_start = ts_node_is_null(name) ? fn->start : ts_node_start_byte(name);
  fn->name_end = ts_node_is_null(name) ? fn->start : ts_node_end_byte(name);
  fn->parent = c->scope;
  fn->stmt = c->stmt;
  fn->is_async = ts_node_child_count(n) > 0 && is(ts_node_child(n, 0), "async");
  if (c->cls && c->scope == c->cls->scope) {
    fn->cls = c->cls;
    eql_func **ms = alloc(c, (c->cls->nmethods + 1) * sizeof *ms);
    if (ms) {
      if (c->cls->nmethods) memcpy(ms, c->cls->methods, c->cls->nmethods * sizeof *ms);
      ms[c->cls->nmethods++] = fn;
      c->cls->methods = ms;
    }
  }
  push(c, &c->f->funcs, fn);
  conv_decorators(c, decorators, ndec, &fn->decorators, &fn->ndecorators);
  TSNode ret = field(n, "return_type");
  if (!ts_node_is_null(ret)) fn->returns = conv_expr(c, ret);
  add_binding(c, fn->name, EQL_B_DEF, NULL, NULL, -1, 0, fn->start);
  if (c->f->bindings.n) {
    eql_binding *b = c->f->bindings.items[c->f->bindings.n - 1];
    if (b->kind == EQL_B_DEF && b->name == fn->name) b->func = fn;
  }

  eql_func *saved = c->scope;
  eql_class *saved_cls = c->cls;
  eql_stmt *saved_parent = c->parent;
  c->scope = fn;
  c->cls = NULL;
  c->parent = NULL;
  TSNode params = field(n, "parameters");
  if (!ts_node_is_null(params)) conv_params(c, params, &fn->params, &fn->nparams, fn->start);
  TSNode body = field(n, "body");
  if (!ts_node_is_null(body)) conv_block_into(c, body, &fn->body);
  c->scope = saved;
  c->cls = saved_cls;
  c->parent = saved_parent;
  return fn;
}

/* eqx.field(static=True) / eqx.static_field() and friends. */
static void classify_field(eql_field *fd) {
  eql_expr *d = fd->dflt;
  if (fd->annotation) {
    eql_expr *an = fd->annotation;
    if (an->kind == EQL_E_SUBSCRIPT) an = an->a;
    if (an && an->name && (!strcmp(an->name, "ClassVar") ||
                           (an->canon && !strcmp(an->canon, "typing.ClassVar"))))
      fd->is_classvar = true;
  }
  if (!d) return;
  fd->has_default = true;
  if (d->kind != EQL_E_CALL || !d->a) return;
  const char *cn = d->a->canon;
  if (!cn) return;
  if (!strcmp(cn, "equinox.static_field")) {
    fd->is_static = true;
    fd->has_default = false;
  } else if (!strcmp(cn, "equinox.field") || !strcmp(cn, "dataclasses.field")) {
    fd->has_default = false;
  } else {
    return;
  }
  for (unsigned i = 0; i < d->nargs; i++) {
    const char *kw = d->args[i].kw;
    eql_expr *v = d->args[i].value;
    if (!kw) continue;
    if (!strcmp(kw, "static") && v && v->kind == EQL_E_BOOL && !strcmp(v->name, "True"))
      fd->is_static = true;
    else if (!strcmp(kw, "default") || !strcmp(kw, "default_factory"))
      fd->has_default = true;
    else if (!strcmp(kw, "init") && v && v->kind == EQL_E_BOOL && !strcmp(v->name, "False"))
      fd->init_false = true;
  }
}

static eql_class *conv_class(conv *c, TSNode n, TSNode *decorators, unsigned ndec) {
  eql_class *cl = alloc(c, sizeof *cl);
  if (!cl) return NULL;
  TSNode name = field(n, "name");
  cl->name = ts_node_is_null(name) ? "" : text(c, name);
  cl->qualname = (c->cls && c->cls->scope == c->scope)
                     ? eql_arena_printf(c->f->arena, "%s.%s", c->cls->qualname, cl->name)
                     : cl->name;
  cl->start = ts_node_start_byte(n);
  cl->end = ts_node_end_byte(n);
  cl->name_start = ts_node_is_null(name) ? cl->start : ts_node_start_byte(name);
  cl->name_end = ts_node_is_null(name) ? cl->start : ts_node_end_byte(name);
  cl->scope = c->scope;
  cl->stmt = c->stmt;
  push(c, &c->f->classes, cl);
  conv_decorators(c, decorators, ndec, &cl->decorators, &cl->ndecorators);
  TSNode sup = field(n, "superclasses");
  if (!ts_node_is_null(sup)) {
    eql_expr tmp;
    memset(&tmp, 0, sizeof tmp);
    conv_args(c, sup, &tmp);
    cl->bases = tmp.nargs ? alloc(c, tmp.nargs * sizeof *cl->bases) : NULL;
    cl->keywords = tmp.nargs ? alloc(c, tmp.nargs * sizeof *cl->keywords) : NULL;
    for (unsigned i = 0; i < tmp.nargs && cl->bases && cl->keywords; i++) {
      if (tmp.args[i].kw) cl->keywords[cl->nkeywords++] = tmp.args[i];
      else if (!tmp.args[i].star && tmp.args[i].value) cl->bases[cl->nbases++] = tmp.args[i].value;
    }
  }
  add_binding(c, cl->name, EQL_B_CLASS, NULL, NULL, -1, 0, cl->start);
  if (c->f->bindings.n) {
    eql_binding *b = c->f->bindings.items[c->f->bindings.n - 1];
    if (b->kind == EQL_B_CLASS && b->name == cl->name) b->cls = cl;
  }

  eql_class *saved = c->cls;
  eql_stmt *saved_parent = c->parent;
  c->cls = cl;
  c->parent = NULL;
  TSNode body = field(n, "body");
  if (!ts_node_is_null(body)) conv_block_into(c, body, &cl->body);
  c->cls = saved;
  c->parent = saved_parent;

  /* fields: annotated names of the class body */
  unsigned nf = 0;
  for (unsigned i = 0; i < cl->body.n; i++) {
    eql_stmt *s = cl->body.items[i];
    if (s->kind == EQL_S_ASSIGN && s->annotation && s->ntargets == 1 &&
        s->targets[0]->kind == EQL_E_NAME)
      nf++;
  }
  cl->fields = nf ? alloc(c, nf * sizeof *cl->fields) : NULL;
  for (unsigned i = 0; i < cl->body.n && cl->fields; i++) {
    eql_stmt *s = cl->body.items[i];
    if (!(s->kind == EQL_S_ASSIGN && s->annotation && s->ntargets == 1 &&
          s->targets[0]->kind == EQL_E_NAME))
      continue;
    eql_field *fd = &cl->fields[cl->nfields++];
    fd->name = s->targets[0]->name;
    fd->annotation = s->annotation;
    fd->dflt = s->value;
    fd->start = s->start;
    fd->end = s->end;
    classify_field(fd);
  }
  return cl;
}

/* ---------------------------------------------------------------- statements */

static eql_stmt *new_stmt(conv *c, eql_stmt_kind k, TSNode n) {
  eql_stmt *s = alloc(c, sizeof *s);
  if (!s) return NULL;
  s->kind = k;
  s->start = ts_node_start_byte(n);
  s->end = ts_node_end_byte(n);
  s->scope = c->scope;
  s->in_class = (c->cls && c->scope == c->cls->scope) ? c->cls : NULL;
  s->parent = c->parent;
  return s;
}

static void block_push(conv *c, eql_block *b, eql_stmt *s) {
  if (!s) return;
  eql_stmt **items = alloc(c, (b->n + 1) * sizeof *items);
  if (!items) return;
  if (b->n) memcpy(items, b->items, b->n * sizeof *items);
  items[b->n++] = s;
  b->items = items;
}

static void push_expr_list(conv *c, eql_expr ***list, unsigned *n, eql_expr *e) {
  if (!e) return;
  eql_expr **items = alloc(c, (*n + 1) * sizeof *items);
  if (!items) return;
  if (*n) memcpy(items, *list, *n * sizeof *items);
  items[(*n)++] = e;
  *list = items;
}

/* Converts a statement body (block, else_clause body ...) with `s` as the parent. */
static void conv_body(conv *c, eql_stmt *s, TSNode body, eql_block *out) {
  if (ts_node_is_null(body)) return;
  eql_stmt *saved = c->parent;
  c->parent = s;
  conv_block_into(c, body, out);
  c->parent = saved;
}

static void conv_assignment(conv *c, eql_stmt *s, TSNode n) {
  /* a = b = value: collect the chain of left sides */
  TSNode cur = n;
  while (!ts_node_is_null(cur) && is(cur, "assignment")) {
    TSNode left = field(cur, "left");
    TSNode ty = field(cur, "type");
    if (!ts_node_is_null(ty)) s->annotation = conv_expr(c, ty);
    push_expr_list(c, &s->targets, &s->ntargets, conv_expr(c, left));
    TSNode right = field(cur, "right");
    if (ts_node_is_null(right)) {
      cur = right;
      break;
    }
    cur = right;
  }
  if (!ts_node_is_null(cur)) s->value = conv_expr(c, cur);
  for (unsigned i = 0; i < s->ntargets; i++)
    if (s->value || !s->annotation) bind_target(c, s->targets[i], EQL_B_ASSIGN, s->value, s->end);
}

static eql_stmt *conv_if(conv *c, TSNode n, TSNode cond, TSNode conseq, TSNode *alts,
                         unsigned nalts) {
  eql_stmt *s = new_stmt(c, EQL_S_IF, n);
  if (!s) return NULL;
  eql_stmt *saved = c->stmt;
  c->stmt = s;
  s->value = conv_expr(c, cond);
  c->stmt = saved;
  conv_body(c, s, conseq, &s->body);
  if (nalts) {
    TSNode a = alts[0];
    if (is(a, "elif_clause")) {
      eql_stmt *saved_parent = c->parent;
      c->parent = s;
      eql_stmt *sub = conv_if(c, a, field(a, "condition"), field(a, "consequence"), alts + 1, nalts - 1);
      c->parent = saved_parent;
      if (sub) sub->end = s->end;
      block_push(c, &s->orelse, sub);
    } else {
      conv_body(c, s, field(a, "body"), &s->orelse);
    }
  }
  return s;
}

static void conv_statement(conv *c, TSNode n, eql_block *out);

static void conv_block_into(conv *c, TSNode n, eql_block *out) {
  if (c->depth > MAX_DEPTH) return;
  c->depth++;
  uint32_t nc = ts_node_named_child_count(n);
  for (uint32_t i = 0; i < nc && !c->oom; i++) conv_statement(c, ts_node_named_child(n, i), out);
  c->depth--;
}

static void conv_statement(conv *c, TSNode n, eql_block *out) {
  const char *t = ts_node_type(n);
  eql_stmt *saved_stmt = c->stmt;
  eql_stmt *s = NULL;
  if (!strcmp(t, "comment")) return;
  if (!strcmp(t, "expression_statement")) {
    TSNode ch = ts_node_named_child(n, 0);
    if (ts_node_is_null(ch)) return;
    if (is(ch, "assignment")) {
      s = new_stmt(c, EQL_S_ASSIGN, n);
      if (!s) return;
      c->stmt = s;
      conv_assignment(c, s, ch);
    } else if (is(ch, "augmented_assignment")) {
      s = new_stmt(c, EQL_S_AUGASSIGN, n);
      if (!s) return;
      c->stmt = s;
      push_expr_list(c, &s->targets, &s->ntargets, conv_expr(c, field(ch, "left")));
      s->value = conv_expr(c, field(ch, "right"));
      TSNode op = field(ch, "operator");
      s->op = ts_node_is_null(op) ? "?" : text(c, op);
    } else {
      s = new_stmt(c, EQL_S_EXPR, n);
      if (!s) return;
      c->stmt = s;
      if (ts_node_named_child_count(n) > 1) {
        eql_expr *tup = new_expr(c, EQL_E_TUPLE, n);
        if (tup) conv_args(c, n, tup);
        s->value = tup;
      } else {
        s->value = conv_expr(c, ch);
      }
    }
  } else if (!strcmp(t, "return_statement") || !strcmp(t, "raise_statement") ||
             !strcmp(t, "delete_statement")) {
    s = new_stmt(c, t[0] == 'r' ? (t[2] == 't' ? EQL_S_RETURN : EQL_S_RAISE) : EQL_S_DELETE, n);
    if (!s) return;
    c->stmt = s;
    uint32_t k = ts_node_named_child_count(n);
    for (uint32_t i = 0; i < k; i++) {
      TSNode ch = ts_node_named_child(n, i);
      if (is(ch, "comment")) continue;
      eql_expr *e = conv_expr(c, ch);
      if (!s->value) s->value = e;
      push_expr_list(c, &s->exprs, &s->nexprs, e);
    }
  } else if (!strcmp(t, "if_statement")) {
    TSNode alts[64];
    unsigned na = 0;
    uint32_t k = ts_node_named_child_count(n);
    for (uint32_t i = 0; i < k && na < 64; i++) {
      TSNode ch = ts_node_named_child(n, i);
      if (is(ch, "elif_clause") || is(ch, "else_clause")) alts[na++] = ch;
    }
    s = conv_if(c, n, field(n, "condition"), field(n, "consequence"), alts, na);
  } else if (!strcmp(t, "for_statement") || !strcmp(t, "while_statement")) {
    int isfor = t[0] == 'f';
    s = new_stmt(c, isfor ? EQL_S_FOR : EQL_S_WHILE, n);
    if (!s) return;
    c->stmt = s;
    if (isfor) {
      s->value = conv_expr(c, field(n, "right"));
      push_expr_list(c, &s->targets, &s->ntargets, conv_expr(c, field(n, "left")));
      if (s->ntargets) bind_target(c, s->targets[0], EQL_B_FOR, s->value, s->start);
    } else {
      s->value = conv_expr(c, field(n, "condition"));
    }
    c->stmt = saved_stmt;
    conv_body(c, s, field(n, "body"), &s->body);
    TSNode alt = field(n, "alternative");
    if (!ts_node_is_null(alt)) conv_body(c, s, field(alt, "body"), &s->orelse);
  } else if (!strcmp(t, "with_statement")) {
    s = new_stmt(c, EQL_S_WITH, n);
    if (!s) return;
    c->stmt = s;
    uint32_t k = ts_node_named_child_count(n);
    for (uint32_t i = 0; i < k; i++) {
      TSNode cl = ts_node_named_child(n, i);
      if (!is(cl, "with_clause")) continue;
      uint32_t m = ts_node_named_child_count(cl);
      for (uint32_t j = 0; j < m; j++) {
        TSNode item = ts_node_named_child(cl, j);
        if (!is(item, "with_item")) continue;
        TSNode v = field(item, "value");
        if (!ts_node_is_null(v) && is(v, "as_pattern")) {
          push_expr_list(c, &s->exprs, &s->nexprs, conv_expr(c, ts_node_named_child(v, 0)));
          eql_expr *tg = conv_expr(c, field(v, "alias"));
          push_expr_list(c, &s->targets, &s->ntargets, tg);
          bind_target(c, tg, EQL_B_OTHER, NULL, s->start);
        } else {
          push_expr_list(c, &s->exprs, &s->nexprs, conv_expr(c, v));
        }
      }
    }
    c->stmt = saved_stmt;
    conv_body(c, s, field(n, "body"), &s->body);
  } else if (!strcmp(t, "try_statement")) {
    s = new_stmt(c, EQL_S_TRY, n);
    if (!s) return;
    conv_body(c, s, field(n, "body"), &s->body);
    uint32_t k = ts_node_named_child_count(n);
    for (uint32_t i = 0; i < k; i++) {
      TSNode ch = ts_node_named_child(n, i);
      if (is(ch, "except_clause") || is(ch, "except_group_clause")) {
        eql_block *hs = alloc(c, (s->nhandlers + 1) * sizeof *hs);
        if (!hs) break;
        if (s->nhandlers) memcpy(hs, s->handlers, s->nhandlers * sizeof *hs);
        s->handlers = hs;
        eql_block *h = &hs[s->nhandlers++];
        uint32_t m = ts_node_named_child_count(ch);
        for (uint32_t j = 0; j < m; j++) {
          TSNode part = ts_node_named_child(ch, j);
          if (is(part, "block")) {
            conv_body(c, s, part, h);
          } else if (is(part, "as_pattern")) {
            c->stmt = s;
            conv_expr(c, ts_node_named_child(part, 0));
            eql_expr *tg = conv_expr(c, field(part, "alias"));
            bind_target(c, tg, EQL_B_OTHER, NULL, ts_node_start_byte(part));
            c->stmt = saved_stmt;
          }
        }
      } else if (is(ch, "else_clause")) {
        conv_body(c, s, field(ch, "body"), &s->orelse);
      } else if (is(ch, "finally_clause")) {
        uint32_t m = ts_node_named_child_count(ch);
        for (uint32_t j = 0; j < m; j++)
          if (is(ts_node_named_child(ch, j), "block"))
            conv_body(c, s, ts_node_named_child(ch, j), &s->finalbody);
      }
    }
  } else if (!strcmp(t, "function_definition") || !strcmp(t, "class_definition") ||
             !strcmp(t, "decorated_definition")) {
    TSNode def = n;
    TSNode decs[32];
    unsigned nd = 0;
    if (t[0] == 'd') {
      def = field(n, "definition");
      uint32_t k = ts_node_named_child_count(n);
      for (uint32_t i = 0; i < k && nd < 32; i++)
        if (is(ts_node_named_child(n, i), "decorator")) decs[nd++] = ts_node_named_child(n, i);
      if (ts_node_is_null(def)) return;
    }
    if (is(def, "function_definition")) {
      s = new_stmt(c, EQL_S_DEF, n);
      if (!s) return;
      c->stmt = s;
      s->func = conv_function(c, def, decs, nd);
      if (s->func) {
        s->func->start = s->start; /* decorators belong to the definition */
        s->func->stmt = s;
      }
    } else {
      s = new_stmt(c, EQL_S_CLASS, n);
      if (!s) return;
      c->stmt = s;
      s->cls = conv_class(c, def, decs, nd);
      if (s->cls) s->cls->stmt = s;
    }
  } else if (!strcmp(t, "import_statement") || !strcmp(t, "import_from_statement") ||
             !strcmp(t, "future_import_statement")) {
    s = new_stmt(c, EQL_S_IMPORT, n);
    if (!s) return;
    c->stmt = s;
    /* bindings for the imported names (the canonical table was built by the pre-pass) */
    for (unsigned i = 0; i < c->f->imports.n; i++) {
      eql_import *im = c->f->imports.items[i];
      if (im->alias && im->start >= s->start && im->end <= s->end) {
        eql_binding *b = alloc(c, sizeof *b);
        if (!b) break;
        b->name = im->alias;
        b->kind = EQL_B_IMPORT;
        b->scope = c->scope;
        b->stmt = s;
        b->canon = im->target;
        b->unpack = -1;
        b->pos = s->end;
        if (!(c->cls && c->scope == c->cls->scope)) push(c, &c->f->bindings, b);
      }
    }
  } else if (!strcmp(t, "break_statement") || !strcmp(t, "continue_statement") ||
             !strcmp(t, "pass_statement")) {
    s = new_stmt(c, t[0] == 'b' ? EQL_S_BREAK : t[0] == 'c' ? EQL_S_CONTINUE : EQL_S_PASS, n);
  } else if (!strcmp(t, "block") || !strcmp(t, "ERROR") || !strcmp(t, "module")) {
    /* error recovery wraps statements in ERROR nodes: keep what parsed */
    conv_block_into(c, n, out);
    return;
  } else if (!strcmp(t, "match_statement")) {
    s = new_stmt(c, EQL_S_OTHER, n);
    if (!s) return;
    c->stmt = s;
    s->value = conv_expr(c, field(n, "subject"));
    c->stmt = saved_stmt;
    TSNode body = field(n, "body");
    uint32_t k = ts_node_is_null(body) ? 0 : ts_node_named_child_count(body);
    for (uint32_t i = 0; i < k; i++) {
      TSNode cc = ts_node_named_child(body, i);
      TSNode blk = field(cc, "consequence");
      if (ts_node_is_null(blk)) continue;
      eql_block *hs = alloc(c, (s->nhandlers + 1) * sizeof *hs);
      if (!hs) break;
      if (s->nhandlers) memcpy(hs, s->handlers, s->nhandlers * sizeof *hs);
      s->handlers = hs;
      conv_body(c, s, blk, &hs[s->nhandlers++]);
    }
  } else {
    /* assert, global, nonlocal, print, exec, type alias, and bare expressions under ERROR */
    s = new_stmt(c, EQL_S_OTHER, n);
    if (!s) return;
    c->stmt = s;
    eql_expr *e = conv_expr(c, n);
    if (e && e->kind == EQL_E_OTHER) {
      s->exprs = NULL;
      for (unsigned i = 0; i < e->nargs; i++) push_expr_list(c, &s->exprs, &s->nexprs, e->args[i].value);
    } else if (e) {
      s->kind = EQL_S_EXPR;
      s->value = e;
    }
  }
  c->stmt = saved_stmt;
  block_push(c, out, s);
}

/* ---------------------------------------------------------------- syntax errors */

static int find_error(TSNode n, TSNode *out, int depth) {
  if (depth > 2 * MAX_DEPTH) return 0;
  if (ts_node_is_missing(n) || is(n, "ERROR")) {
    *out = n;
    return 1;
  }
  if (!ts_node_has_error(n)) return 0;
  uint32_t nc = ts_node_child_count(n);
  for (uint32_t i = 0; i < nc; i++)
    if (find_error(ts_node_child(n, i), out, depth + 1)) return 1;
  *out = n;
  return 1;
}

static void record_error(conv *c, TSNode root) {
  TSNode err;
  if (!find_error(root, &err, 0)) return;
  c->f->has_error = true;
  c->f->error_start = ts_node_start_byte(err);
  c->f->error_end = ts_node_end_byte(err);
  if (ts_node_is_missing(err)) {
    c->f->error_message = eql_arena_printf(c->f->arena, "expected `%s`", ts_node_type(err));
    c->f->error_end = c->f->error_start;
  } else {
    uint32_t a = c->f->error_start, b = c->f->error_end;
    const char *eol = memchr(c->src + a, '\n', b - a);
    uint32_t stop = eol ? (uint32_t)(eol - c->src) : b;
    if (stop - a > 40) stop = a + 40;
    if (stop > a)
      c->f->error_message = eql_arena_printf(c->f->arena, "unexpected `%.*s`", (int)(stop - a), c->src + a);
    else
      c->f->error_message = "unexpected token";
  }
}

/* ---------------------------------------------------------------- comments */

/* Comments are extras in tree-sitter's tree, attached anywhere. Rather than walking every
 * node, look at each `#` of the text and ask the tree whether a comment starts there (a `#`
 * inside a string is part of a string node). */
static void collect_comments(conv *c, TSNode root, uint32_t len) {
  const char *text = c->src;
  for (uint32_t i = 0; i < len; i++) {
    if (text[i] != '#') continue;
    TSNode n = ts_node_descendant_for_byte_range(root, i, i + 1);
    if (ts_node_is_null(n) || !is(n, "comment") || ts_node_start_byte(n) != i) continue;
    eql_comment *cm = alloc(c, sizeof *cm);
    if (!cm) return;
    cm->start = i;
    cm->end = ts_node_end_byte(n);
    push(c, &c->f->comments, cm);
    if (cm->end > i) i = cm->end - 1;
  }
}

/* ---------------------------------------------------------------- entry point */

static const char *package_of(eql_arena *a, const char *module_name, bool is_init) {
  if (!module_name) return "";
  if (is_init) return module_name;
  const char *dot = strrchr(module_name, '.');
  return dot ? eql_arena_strndup(a, module_name, (size_t)(dot - module_name)) : "";
}

static _Atomic uint64_t parse_timeout_us;

/* tree-sitter's runtime corrupts its heap freeing trees nested about 65,536 brackets deep
 * (seen with 100,000 `[`). No real program comes close; refuse anything past 20,000 open
 * brackets before parsing. Brackets inside strings count too: a conservative guard. */
#define MAX_BRACKET_DEPTH 20000
static bool too_deep(const char *s, uint32_t n) {
  int depth = 0;
  for (uint32_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '(' || c == '[' || c == '{') {
      if (++depth > MAX_BRACKET_DEPTH) return true;
    } else if ((c == ')' || c == ']' || c == '}') && depth > 0) {
      depth--;
    }
  }
  return false;
}
static __thread const char *last_error = "out of memory";

void eql_python_set_timeout(uint64_t micros) { parse_timeout_us = micros; }
const char *eql_python_last_error(void) { return last_error; }

eql_facts *eql_python_facts(const eql_source *src, const char *module_name, bool is_package_init) {
  return eql_python_facts_incremental(src, module_name, is_package_init, NULL, NULL);
}

eql_facts *eql_python_facts_incremental(const eql_source *src, const char *module_name,
                                        bool is_package_init, void *old_tree, void **new_tree) {
  eql_arena *arena = eql_arena_new();
  if (!arena) return NULL;
  eql_facts *f = eql_arena_alloc(arena, sizeof *f);
  if (!f) {
    eql_arena_free(arena);
    return NULL;
  }
  f->arena = arena;
  f->src = src;
  f->module_name = eql_arena_strdup(arena, module_name ? module_name : "");
  f->is_package_init = is_package_init;

  TSParser *parser = ts_parser_new();
  if (!parser || !ts_parser_set_language(parser, tree_sitter_python())) {
    if (parser) ts_parser_delete(parser);
    eql_arena_free(arena);
    return NULL;
  }
  last_error = "out of memory";
  if (too_deep(src->text, src->len)) {
    last_error = "nesting";
    ts_parser_delete(parser);
    eql_arena_free(arena);
    return NULL;
  }
  ts_parser_set_timeout_micros(parser, parse_timeout_us);
  /* Python ignores a UTF-8 byte-order mark; tree-sitter would see a stray token. Skip it
   * with an included range, so every byte offset stays the file's own. */
  if (src->len >= 3 && !memcmp(src->text, "\xEF\xBB\xBF", 3)) {
    TSRange r = {{0, 3}, {UINT32_MAX, UINT32_MAX}, 3, UINT32_MAX};
    ts_parser_set_included_ranges(parser, &r, 1);
  }
  TSTree *tree = ts_parser_parse_string(parser, old_tree, src->text, src->len);
  ts_parser_delete(parser);
  if (!tree) {
    if (parse_timeout_us) last_error = "timeout"; /* tree-sitter gives up only on its budget */
    eql_arena_free(arena);
    return NULL;
  }
  TSNode root = ts_tree_root_node(tree);
  conv c;
  memset(&c, 0, sizeof c);
  c.f = f;
  c.src = src->text;
  c.pkg = package_of(arena, module_name, is_package_init);
  prepass(&c, root, 0);
  conv_block_into(&c, root, &f->body);
  record_error(&c, root);
  collect_comments(&c, root, src->len);
  if (new_tree) *new_tree = tree;
  else ts_tree_delete(tree);
  if (!c.oom && eql_facts_finish(f) < 0) c.oom = 1;
  if (c.oom) {
    if (new_tree) {
      ts_tree_delete(tree);
      *new_tree = NULL;
    }
    eql_arena_free(arena);
    return NULL;
  }
  return f;
}
