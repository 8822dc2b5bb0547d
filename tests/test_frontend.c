/* Unit tests of the Python front end: canonical names, bindings and scoping, classes and
 * fields, error recovery. Each test parses a small source in memory and inspects the facts. */
#include <stdlib.h>
#include <string.h>

#include "cunit_main.h"
#include "eqlint/facts.h"

typedef struct parsed {
  eql_source *src;
  eql_facts *f;
} parsed;

static parsed parse_mod(const char *code, const char *module) {
  parsed p;
  p.src = eql_source_new("t.py", code, strlen(code));
  p.f = p.src ? eql_python_facts(p.src, module, false) : NULL;
  CU_ASSERT_PTR_NOT_NULL_FATAL(p.f);
  return p;
}

static parsed parse(const char *code) { return parse_mod(code, "t"); }

static void done(parsed *p) {
  eql_facts_free(p->f);
  eql_source_free(p->src);
}

/* The canonical name of the callee of the n-th call. */
static const char *callee_canon(parsed *p, unsigned n) {
  CU_ASSERT_FATAL(n < p->f->calls.n);
  const eql_expr *call = p->f->calls.items[n];
  return eql_facts_canon(p->f, call->a);
}

static void test_import_spellings(void) {
  parsed p = parse(
      "import equinox as eqx\n"
      "from equinox import nn\n"
      "from jax import jit as J\n"
      "import optax as ox\n"
      "from optax import adam\n"
      "import jax.numpy as jnp\n"
      "import jax\n"
      "eqx.nn.MLP(1, 1, 1, 1)\n"
      "nn.Linear(1, 1)\n"
      "J(f)\n"
      "ox.sgd(0.1)\n"
      "adam(1e-3)\n"
      "jnp.zeros(3)\n"
      "jax.random.split(k)\n");
  CU_ASSERT_STRING_EQUAL(callee_canon(&p, 0), "equinox.nn.MLP");
  CU_ASSERT_STRING_EQUAL(callee_canon(&p, 1), "equinox.nn.Linear");
  CU_ASSERT_STRING_EQUAL(callee_canon(&p, 2), "jax.jit");
  CU_ASSERT_STRING_EQUAL(callee_canon(&p, 3), "optax.sgd");
  CU_ASSERT_STRING_EQUAL(callee_canon(&p, 4), "optax.adam");
  CU_ASSERT_STRING_EQUAL(callee_canon(&p, 5), "jax.numpy.zeros");
  CU_ASSERT_STRING_EQUAL(callee_canon(&p, 6), "jax.random.split");
  done(&p);
}

static void test_rebinding_and_local_shadow(void) {
  parsed p = parse(
      "import jax\n"
      "j = jax.jit\n"
      "j(f)\n"
      "def g(jax):\n"
      "    jax.jit(f)\n");
  CU_ASSERT_STRING_EQUAL(callee_canon(&p, 0), "jax.jit");
  /* the parameter `jax` shadows the import inside g */
  CU_ASSERT_PTR_NULL(callee_canon(&p, 1));
  done(&p);
}

static void test_relative_imports(void) {
  parsed p = parse_mod(
      "from .model import MLP\n"
      "from . import layers\n"
      "from ..common.nets import Encoder as E\n"
      "MLP()\nlayers.Block()\nE()\n",
      "pkg.sub.train");
  CU_ASSERT_STRING_EQUAL(callee_canon(&p, 0), "pkg.sub.model.MLP");
  CU_ASSERT_STRING_EQUAL(callee_canon(&p, 1), "pkg.sub.layers.Block");
  CU_ASSERT_STRING_EQUAL(callee_canon(&p, 2), "pkg.common.nets.Encoder");
  done(&p);
}

static void test_classes_and_fields(void) {
  parsed p = parse(
      "import equinox as eqx\n"
      "from typing import Callable, ClassVar\n"
      "class M(eqx.Module):\n"
      "    w: jax.Array\n"
      "    act: Callable = eqx.field(static=True)\n"
      "    n: int = 3\n"
      "    k: ClassVar[int] = 1\n"
      "    d: float = eqx.field(default=0.1)\n"
      "    old: int = eqx.static_field()\n"
      "    def __init__(self, w):\n"
      "        self.w = w\n"
      "    def __call__(self, x):\n"
      "        return x\n");
  CU_ASSERT_EQUAL_FATAL(p.f->classes.n, 1);
  const eql_class *c = p.f->classes.items[0];
  CU_ASSERT_STRING_EQUAL(c->name, "M");
  CU_ASSERT_EQUAL(c->nbases, 1);
  CU_ASSERT_STRING_EQUAL(eql_facts_canon(p.f, c->bases[0]), "equinox.Module");
  CU_ASSERT_EQUAL_FATAL(c->nfields, 6);
  CU_ASSERT_STRING_EQUAL(c->fields[0].name, "w");
  CU_ASSERT_FALSE(c->fields[0].is_static);
  CU_ASSERT_FALSE(c->fields[0].has_default);
  CU_ASSERT_TRUE(c->fields[1].is_static);
  CU_ASSERT_FALSE(c->fields[1].has_default);
  CU_ASSERT_TRUE(c->fields[2].has_default);
  CU_ASSERT_TRUE(c->fields[3].is_classvar);
  CU_ASSERT_TRUE(c->fields[4].has_default);
  CU_ASSERT_FALSE(c->fields[4].is_static);
  CU_ASSERT_TRUE(c->fields[5].is_static);
  CU_ASSERT_EQUAL(c->nmethods, 2);
  CU_ASSERT_STRING_EQUAL(c->methods[0]->name, "__init__");
  CU_ASSERT_PTR_EQUAL(c->methods[0]->cls, c);
  /* methods are not module-level names */
  CU_ASSERT_PTR_NULL(eql_facts_lookup(p.f, "__call__", NULL, UINT32_MAX));
  CU_ASSERT_PTR_NOT_NULL(eql_facts_lookup(p.f, "M", NULL, UINT32_MAX));
  done(&p);
}

static void test_position_aware_lookup(void) {
  const char *code =
      "import equinox as eqx\n"
      "def f(model):\n"
      "    a = 1\n"
      "    model = eqx.filter(model, eqx.is_array)\n"
      "    use(model)\n";
  parsed p = parse(code);
  /* the call `use(model)` is the last call; its argument sees the filter binding */
  const eql_expr *use = p.f->calls.items[p.f->calls.n - 1];
  const eql_expr *arg = eql_call_arg(use, 0, NULL);
  const eql_binding *b = eql_facts_lookup(p.f, "model", arg->scope, arg->start);
  CU_ASSERT_PTR_NOT_NULL_FATAL(b);
  CU_ASSERT_EQUAL(b->kind, EQL_B_ASSIGN);
  /* the filter call's own argument sees the parameter, not the assignment it is part of */
  const eql_expr *filt = p.f->calls.items[0];
  const eql_expr *inner = eql_call_arg(filt, 0, NULL);
  b = eql_facts_lookup(p.f, "model", inner->scope, inner->start);
  CU_ASSERT_PTR_NOT_NULL_FATAL(b);
  CU_ASSERT_EQUAL(b->kind, EQL_B_PARAM);
  done(&p);
}

static void test_tuple_unpack_and_params(void) {
  parsed p = parse(
      "def f(a, b: int = 2, *args, c, **kw):\n"
      "    x, y = g()\n");
  const eql_func *fn = p.f->funcs.items[0];
  CU_ASSERT_EQUAL_FATAL(fn->nparams, 5);
  CU_ASSERT_EQUAL(fn->params[0].kind, EQL_P_PLAIN);
  CU_ASSERT_PTR_NOT_NULL(fn->params[1].annotation);
  CU_ASSERT_PTR_NOT_NULL(fn->params[1].dflt);
  CU_ASSERT_EQUAL(fn->params[2].kind, EQL_P_VARARGS);
  CU_ASSERT_EQUAL(fn->params[3].kind, EQL_P_KWONLY);
  CU_ASSERT_EQUAL(fn->params[4].kind, EQL_P_VARKW);
  const eql_binding *y = eql_facts_lookup(p.f, "y", (eql_func *)fn, UINT32_MAX);
  CU_ASSERT_PTR_NOT_NULL_FATAL(y);
  CU_ASSERT_EQUAL(y->unpack, 1);
  CU_ASSERT_EQUAL(y->nunpack, 2);
  done(&p);
}

static void test_syntax_error_keeps_the_rest(void) {
  parsed p = parse(
      "import optax\n"
      "def broken(:\n"
      "    pass\n"
      "opt = optax.adam(1e-3)\n");
  CU_ASSERT_TRUE(p.f->has_error);
  CU_ASSERT_PTR_NOT_NULL(p.f->error_message);
  /* the statement after the error is still there */
  int found = 0;
  for (unsigned i = 0; i < p.f->calls.n; i++) {
    const char *c = eql_facts_canon(p.f, ((eql_expr *)p.f->calls.items[i])->a);
    if (c && !strcmp(c, "optax.adam")) found = 1;
  }
  CU_ASSERT_TRUE(found);
  done(&p);
}

static void test_deep_nesting_and_garbage(void) {
  /* 5000 nested parentheses: converted without exhausting the stack */
  size_t n = 5000;
  char *code = malloc(2 * n + 8);
  CU_ASSERT_PTR_NOT_NULL_FATAL(code);
  size_t k = 0;
  code[k++] = 'x';
  code[k++] = '=';
  for (size_t i = 0; i < n; i++) code[k++] = '(';
  code[k++] = '1';
  for (size_t i = 0; i < n; i++) code[k++] = ')';
  code[k++] = '\n';
  code[k] = 0;
  parsed p = parse(code);
  CU_ASSERT_PTR_NOT_NULL(p.f);
  done(&p);
  free(code);
  /* binary garbage with NUL bytes and invalid UTF-8 */
  const char bin[] = "\x00\xff\xfe def \x80\x81(\n\x00\x00 class";
  eql_source *s = eql_source_new("bin.py", bin, sizeof bin - 1);
  eql_facts *f = eql_python_facts(s, "bin", false);
  CU_ASSERT_PTR_NOT_NULL(f);
  if (f) CU_ASSERT_TRUE(f->has_error);
  eql_facts_free(f);
  eql_source_free(s);
}

static void test_source_columns(void) {
  /* "é" is 2 bytes, 1 code point, 1 UTF-16 unit; "😀" is 4 bytes, 1 code point, 2 units */
  const char *code = "a = 1\r\nx = \"\xc3\xa9\xf0\x9f\x98\x80\" + y\n";
  eql_source *s = eql_source_new("c.py", code, strlen(code));
  CU_ASSERT_EQUAL(s->nlines, 3);
  uint32_t ybyte = (uint32_t)(strchr(code, 'y') - code);
  CU_ASSERT_EQUAL(eql_source_line_of(s, ybyte), 2);
  CU_ASSERT_EQUAL(eql_source_col_of(s, ybyte), 12);
  CU_ASSERT_EQUAL(eql_source_utf16_col_of(s, ybyte), 12);
  uint32_t len;
  const char *line = eql_source_line(s, 1, &len);
  CU_ASSERT_EQUAL(len, 5);
  CU_ASSERT_NSTRING_EQUAL(line, "a = 1", 5);
  eql_source_free(s);
}

int main(void) {
  static const eql_test tests[] = {
    EQL_TEST(test_import_spellings),
    EQL_TEST(test_rebinding_and_local_shadow),
    EQL_TEST(test_relative_imports),
    EQL_TEST(test_classes_and_fields),
    EQL_TEST(test_position_aware_lookup),
    EQL_TEST(test_tuple_unpack_and_params),
    EQL_TEST(test_syntax_error_keeps_the_rest),
    EQL_TEST(test_deep_nesting_and_garbage),
    EQL_TEST(test_source_columns),
  };
  return eql_cunit_run("frontend", tests, sizeof tests / sizeof *tests);
}
