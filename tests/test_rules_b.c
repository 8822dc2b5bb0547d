/* Unit tests of the rule group "b" (EQX005, EQX006, EQX008, EQX009, EQX010, EQX011, EQX012)
 * on small in-memory programs: what each rule reports, where, and what it says; the
 * fixtures cover realistic programs, these pin the edges and the messages. */
#include <stdlib.h>
#include <string.h>

#include "check_helpers.h"
#include "cunit_main.h"

#define run eql_test_check
#define count eql_test_count
#define first(l, code) eql_test_nth(l, code, 0)
#define nth eql_test_nth
#define lines_of eql_test_lines
#include "eqlint/check.h"



/* The first diagnostic of `code`, or NULL. */

/* The lines of the diagnostics of `code`, in order, into lines[max]; returns how many. */

#define HEAD "import equinox as eqx\nimport jax\nimport jax.numpy as jnp\nimport numpy as np\n" \
             "from typing import Callable\n"

/* ------------------------------------------------------------------ EQX005 */

static void test_eqx005_message_and_span(void) {
  eql_diag_list l = run(HEAD
                        "class M(eqx.Module):\n"
                        "    w: jax.Array\n"
                        "    mask: jax.Array = eqx.field(static=True)\n"
                        "    dtype: object = eqx.field(static=True, default=jnp.float32)\n"
                        "    shape: tuple = eqx.field(static=True)\n"
                        "    buf: object = eqx.field(static=True)\n"
                        "    def __init__(self, n):\n"
                        "        self.w = jnp.zeros(n)\n"
                        "        self.mask = jnp.ones(n)\n"
                        "        self.shape = (n,)\n"
                        "        self.buf = np.zeros(n)\n");
  int lines[4];
  CU_ASSERT_EQUAL_FATAL(lines_of(&l, "EQX005", lines, 4), 2);
  CU_ASSERT_EQUAL(lines[0], 8);
  CU_ASSERT_EQUAL(lines[1], 11);
  const eql_diag *d = first(&l, "EQX005");
  CU_ASSERT_EQUAL(d->span.col, 5);
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "field `mask` of `M` is marked static"));
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "A JAX array is being set as static!"));
  CU_ASSERT_PTR_NOT_NULL(strstr(d->help, "jax.lax.stop_gradient"));
  CU_ASSERT_PTR_NOT_NULL(strstr(l.items[1].message, "np.zeros(n)"));
  eql_diag_list_free(&l);
}

static void test_eqx005_annotations(void) {
  eql_diag_list l = run(HEAD
                        "from jaxtyping import Float, Array, PyTree\n"
                        "from jax.typing import ArrayLike\n"
                        "class M(eqx.Module):\n"
                        "    a: Float[Array, 'n'] = eqx.field(static=True)\n"
                        "    b: Float[ArrayLike, ''] = eqx.field(static=True)\n"
                        "    c: PyTree = eqx.field(static=True)\n"
                        "    d: eqx.nn.Linear = eqx.field(static=True)\n"
                        "    e: eqx.nn.Lambda = eqx.field(static=True)\n"
                        "    f: np.ndarray | None = eqx.static_field(default=None)\n"
                        "    g: jnp.dtype = eqx.field(static=True)\n"
                        "    h: jax.Array\n");
  int lines[4];
  CU_ASSERT_EQUAL_FATAL(lines_of(&l, "EQX005", lines, 4), 3);
  CU_ASSERT_EQUAL(lines[0], 9);
  CU_ASSERT_EQUAL(lines[1], 12);
  CU_ASSERT_EQUAL(lines[2], 14);
  eql_diag_list_free(&l);
}

/* ------------------------------------------------------------------ EQX006 */

static void test_eqx006_message_span_related(void) {
  eql_diag_list l = run(HEAD
                        "class M(eqx.Module):\n"
                        "    w: jax.Array\n"
                        "    b: jax.Array\n"
                        "    def __init__(self, w):\n"
                        "        frozen = jax.lax.stop_gradient(w)\n"
                        "        self.w = frozen\n"
                        "        self.b = jnp.zeros(3)\n"
                        "    def __call__(self, x):\n"
                        "        return jax.lax.stop_gradient(self.w) @ x + self.b\n");
  CU_ASSERT_EQUAL_FATAL(count(&l, "EQX006"), 1);
  const eql_diag *d = first(&l, "EQX006");
  CU_ASSERT_EQUAL(d->span.line, 11);
  CU_ASSERT_EQUAL(d->span.col, 9);
  CU_ASSERT_TRUE(d->has_related);
  CU_ASSERT_EQUAL(d->related.line, 10);
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "field `w`"));
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "does nothing"));
  CU_ASSERT_PTR_NOT_NULL(strstr(d->help, "jax.lax.stop_gradient(self.w)"));
  eql_diag_list_free(&l);
}

static void test_eqx006_edges(void) {
  eql_diag_list l = run(HEAD
                        "from jax import lax\n"
                        "class M(eqx.Module):\n"
                        "    a: jax.Array\n"
                        "    f: Callable\n"
                        "    c: jax.Array = eqx.field(init=False)\n"
                        "    def __post_init__(self):\n"
                        "        self.f = lambda x: lax.stop_gradient(x)\n"  /* later: fine */
                        "        self.c = lax.stop_gradient(self.a) * 2\n"  /* reported */
                        "class P:\n"
                        "    def __init__(self, w):\n"
                        "        self.w = lax.stop_gradient(w)\n");        /* not a Module */
  int lines[4];
  CU_ASSERT_EQUAL_FATAL(lines_of(&l, "EQX006", lines, 4), 1);
  CU_ASSERT_EQUAL(lines[0], 13);
  CU_ASSERT_FALSE(first(&l, "EQX006")->has_related);
  eql_diag_list_free(&l);
}

/* ------------------------------------------------------------------ EQX008 */

static void test_eqx008_message_and_span(void) {
  eql_diag_list l = run(HEAD
                        "class C(eqx.Module):\n"
                        "    n: jax.Array\n"
                        "    def __init__(self):\n"
                        "        self.n = jnp.array(0)\n"
                        "    def __call__(self, x):\n"
                        "        self.n += 1\n"
                        "        setattr(self, 'n', x)\n"
                        "        return x\n");
  int lines[4];
  CU_ASSERT_EQUAL_FATAL(lines_of(&l, "EQX008", lines, 4), 2);
  CU_ASSERT_EQUAL(lines[0], 11);
  CU_ASSERT_EQUAL(lines[1], 12);
  const eql_diag *d = first(&l, "EQX008");
  CU_ASSERT_EQUAL(d->span.col, 9);
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "`self.n += ...`"));
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "`C.__call__`"));
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "FrozenInstanceError: cannot assign to field 'n'"));
  CU_ASSERT_PTR_NOT_NULL(strstr(d->help, "eqx.tree_at(lambda m: m.n, self, new_value)"));
  CU_ASSERT_PTR_NOT_NULL(strstr(d->help, "eqx.nn.State"));
  eql_diag_list_free(&l);
}

static void test_eqx008_negatives(void) {
  eql_diag_list l = run(HEAD
                        "class C(eqx.Module):\n"
                        "    a: jax.Array\n"
                        "    b: jax.Array = eqx.field(init=False)\n"
                        "    def __post_init__(self):\n"
                        "        self.b = self.a * 2\n"
                        "        object.__setattr__(self, 'b', self.a)\n"
                        "    def other(self, x):\n"
                        "        def inner(self):\n"          /* its own `self` */
                        "            self.y = 1\n"
                        "        setattr = print\n"           /* shadowed */
                        "        setattr(self, 'a')\n"
                        "        return eqx.tree_at(lambda m: m.a, self, x)\n"
                        "    @staticmethod\n"
                        "    def s(self):\n"
                        "        self.a = 1\n"
                        "class D(eqx.Module):\n"
                        "    a: int\n"
                        "    def __init__(self):\n"
                        "        self._fill()\n"
                        "    def _fill(self):\n"
                        "        self.a = 1\n"
                        "class P:\n"
                        "    def step(self):\n"
                        "        self.k = 1\n");
  CU_ASSERT_EQUAL(count(&l, "EQX008"), 0);
  eql_diag_list_free(&l);
}

/* ------------------------------------------------------------------ EQX009 */

static void test_eqx009_message_and_span(void) {
  eql_diag_list l = run(HEAD
                        "class M(eqx.Module):\n"
                        "    f: Callable\n"
                        "    g: Callable\n"
                        "    h: Callable\n"
                        "    def __init__(self, key):\n"
                        "        lin = eqx.nn.Linear(2, 2, key=key)\n"
                        "        self.f = jax.vmap(lin)\n"
                        "        self.g = eqx.filter_vmap(lin)\n"   /* a pytree: fine */
                        "        self.h = jax.jit(jax.nn.relu)\n"   /* no parameters */
                        "    def __call__(self, x):\n"
                        "        return jax.vmap(self.g)(x)\n");
  CU_ASSERT_EQUAL_FATAL(count(&l, "EQX009"), 1);
  const eql_diag *d = first(&l, "EQX009");
  CU_ASSERT_EQUAL(d->span.line, 12);
  CU_ASSERT_EQUAL(d->span.col, 9);
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "field `f` of `M`"));
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "`jax.vmap`"));
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "eqx.nn.Linear"));
  CU_ASSERT_PTR_NOT_NULL(strstr(d->help, "eqx.filter_vmap"));
  eql_diag_list_free(&l);
}

static void test_eqx009_methods_and_nesting(void) {
  eql_diag_list l = run(HEAD
                        "class M(eqx.Module):\n"
                        "    lin: eqx.nn.Linear\n"
                        "    f: Callable\n"
                        "    g: Callable\n"
                        "    def __init__(self, key):\n"
                        "        self.lin = eqx.nn.Linear(2, 2, key=key)\n"
                        "        self.f = jax.grad(self.loss)\n"
                        "        self.g = jax.jit(jax.vmap(self.lin))\n"
                        "    def loss(self, x):\n"
                        "        return self.lin(x).sum()\n"
                        "class P:\n"
                        "    def __init__(self, key):\n"
                        "        self.f = jax.vmap(eqx.nn.Linear(2, 2, key=key))\n");
  int lines[4];
  CU_ASSERT_EQUAL_FATAL(lines_of(&l, "EQX009", lines, 4), 2);
  CU_ASSERT_EQUAL(lines[0], 12);
  CU_ASSERT_EQUAL(lines[1], 13);
  CU_ASSERT_PTR_NOT_NULL(strstr(first(&l, "EQX009")->help, "eqx.filter_grad"));
  eql_diag_list_free(&l);
}

/* ------------------------------------------------------------------ EQX010 */

static void test_eqx010_message_and_span(void) {
  eql_diag_list l = run(HEAD
                        "class M(eqx.Module):\n"
                        "    lin: eqx.nn.Linear\n"
                        "    f: Callable\n"
                        "    g: Callable\n"
                        "    def __init__(self, key):\n"
                        "        self.lin = eqx.nn.Linear(2, 2, key=key)\n"
                        "        self.f = self.run\n"
                        "        self.g = self.lin\n"               /* a field: fine */
                        "    def run(self, x):\n"
                        "        return self.lin(x)\n");
  CU_ASSERT_EQUAL_FATAL(count(&l, "EQX010"), 1);
  const eql_diag *d = first(&l, "EQX010");
  CU_ASSERT_EQUAL(d->span.line, 12);
  CU_ASSERT_EQUAL(d->span.col, 9);
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "Cannot assign methods in __init__"));
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "`M.run`"));
  CU_ASSERT_PTR_NOT_NULL(strstr(d->help, "@property"));
  eql_diag_list_free(&l);
}

static void test_eqx010_edges(void) {
  eql_diag_list l = run(HEAD
                        "class Base(eqx.Module):\n"
                        "    def helper(self, x):\n"
                        "        return x\n"
                        "class M(Base):\n"
                        "    a: Callable\n"
                        "    b: Callable\n"
                        "    c: Callable\n"
                        "    d: int\n"
                        "    def __init__(self, flag):\n"
                        "        self.a = self.helper if flag else jnp.tanh\n" /* inherited */
                        "        self.b = self.stat\n"
                        "        self.c = self.prop\n"
                        "        self.d = self.count()\n"          /* called: a value */
                        "    @staticmethod\n"
                        "    def stat(x):\n"
                        "        return x\n"
                        "    @property\n"
                        "    def prop(self):\n"
                        "        return jnp.tanh\n"
                        "    def count(self):\n"
                        "        return 1\n"
                        "    def later(self):\n"
                        "        f = self.helper\n"                 /* not a field */
                        "        return f\n"
                        "class Plain:\n"
                        "    def __init__(self):\n"
                        "        self.f = self.g\n"
                        "    def g(self):\n"
                        "        pass\n");
  int lines[4];
  CU_ASSERT_EQUAL_FATAL(lines_of(&l, "EQX010", lines, 4), 1);
  CU_ASSERT_EQUAL(lines[0], 15);
  CU_ASSERT_PTR_NOT_NULL(strstr(first(&l, "EQX010")->message, "`Base.helper`"));
  eql_diag_list_free(&l);
}

/* ------------------------------------------------------------------ EQX011 */

static void test_eqx011_both_message_and_span(void) {
  eql_diag_list l = run(HEAD
                        "class M(eqx.Module):\n"
                        "    w: jax.Array\n"
                        "    def __init__(self, n):\n"
                        "        self.w = jnp.zeros(n)\n"
                        "    def __post_init__(self):\n"
                        "        assert self.w.ndim == 1\n");
  CU_ASSERT_EQUAL_FATAL(count(&l, "EQX011"), 1);
  const eql_diag *d = first(&l, "EQX011");
  CU_ASSERT_EQUAL(d->span.line, 10);
  CU_ASSERT_EQUAL(d->span.col, 9); /* at the name `__post_init__` */
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "will not be run"));
  CU_ASSERT_PTR_NOT_NULL(strstr(d->help, "__check_init__"));
  CU_ASSERT_TRUE(d->has_related);
  CU_ASSERT_EQUAL(d->related.line, 8);
  eql_diag_list_free(&l);
}

static void test_eqx011_inheritance(void) {
  eql_diag_list l = run(HEAD
                        "class Base(eqx.Module):\n"
                        "    w: jax.Array\n"
                        "    def __init__(self, n):\n"
                        "        self.w = jnp.zeros(n)\n"
                        "class Sub(Base):\n"                      /* inherits custom init */
                        "    def __post_init__(self):\n"
                        "        pass\n"
                        "class Checked(eqx.Module):\n"
                        "    w: jax.Array\n"
                        "    def __post_init__(self):\n"
                        "        pass\n"
                        "class Child(Checked):\n"                 /* dataclass init: runs */
                        "    v: int = 0\n"
                        "class Custom(Checked):\n"                /* custom init: never runs */
                        "    def __init__(self):\n"
                        "        self.w = jnp.ones(2)\n"
                        "class Plain:\n"
                        "    def __init__(self):\n"
                        "        pass\n"
                        "    def __post_init__(self):\n"
                        "        pass\n");
  int lines[4];
  CU_ASSERT_EQUAL_FATAL(lines_of(&l, "EQX011", lines, 4), 2);
  CU_ASSERT_EQUAL(lines[0], 11);
  CU_ASSERT_EQUAL(lines[1], 20);
  const eql_diag *d = first(&l, "EQX011");
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "`Base`"));
  eql_diag_list_free(&l);
}

/* ------------------------------------------------------------------ EQX012 */

static void test_eqx012_paths(void) {
  eql_diag_list l = run(HEAD
                        "class Lin(eqx.Module):\n"
                        "    weight: jax.Array\n"
                        "    bias: jax.Array\n"
                        "    name: str = 'lin'\n"
                        "    def __init__(self, n, use_bias):\n"
                        "        self.weight = jnp.zeros((n, n))\n"
                        "        if use_bias:\n"
                        "            self.bias = jnp.zeros(n)\n"
                        "class Ok(eqx.Module):\n"
                        "    a: jax.Array\n"
                        "    b: jax.Array\n"
                        "    def __init__(self, n, mode):\n"
                        "        if mode == 'x':\n"
                        "            self.a, self.b = jnp.zeros(n), jnp.ones(n)\n"
                        "        elif mode == 'y':\n"
                        "            self.a = self.b = jnp.ones(n)\n"
                        "            return\n"
                        "        else:\n"
                        "            raise ValueError(mode)\n"
                        "class Early(eqx.Module):\n"
                        "    a: jax.Array\n"
                        "    b: jax.Array\n"
                        "    def __init__(self, n):\n"
                        "        self.a = jnp.zeros(n)\n"
                        "        if n == 0:\n"
                        "            return\n"
                        "        self.b = jnp.zeros(n)\n");
  int lines[4];
  CU_ASSERT_EQUAL_FATAL(lines_of(&l, "EQX012", lines, 4), 2);
  CU_ASSERT_EQUAL(lines[0], 8);
  CU_ASSERT_EQUAL(lines[1], 27);
  const eql_diag *d = first(&l, "EQX012");
  CU_ASSERT_EQUAL(d->span.col, 5);
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "not assigned on every path"));
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "not initialised during __init__: {'bias'}"));
  CU_ASSERT_PTR_NOT_NULL(strstr(d->help, "self.bias"));
  CU_ASSERT_TRUE(d->has_related);
  CU_ASSERT_EQUAL(d->related.line, 10);
  eql_diag_list_free(&l);
}

static void test_eqx012_inheritance_and_unknowns(void) {
  eql_diag_list l = run(HEAD
                        "class Base(eqx.Module):\n"
                        "    a: jax.Array\n"
                        "    def __init__(self, n):\n"
                        "        self.a = jnp.zeros(n)\n"
                        "class Sub(Base):\n"                      /* inherits the custom init */
                        "    extra: jax.Array\n"
                        "class Sub2(Base):\n"
                        "    extra: jax.Array\n"
                        "    def __init__(self, n):\n"           /* forgets `a` */
                        "        self.extra = jnp.ones(n)\n"
                        "class Sub3(Base):\n"
                        "    extra: jax.Array\n"
                        "    def __init__(self, n):\n"
                        "        super().__init__(n)\n"
                        "        self.extra = jnp.ones(n)\n"
                        "class Dyn(eqx.Module):\n"
                        "    a: jax.Array\n"
                        "    def __init__(self, d):\n"
                        "        for k, v in d.items():\n"
                        "            setattr(self, k, v)\n"
                        "class DC(eqx.Module):\n"
                        "    a: jax.Array\n");
  int lines[4];
  CU_ASSERT_EQUAL_FATAL(lines_of(&l, "EQX012", lines, 4), 2);
  CU_ASSERT_EQUAL(lines[0], 11);
  CU_ASSERT_EQUAL(lines[1], 14);
  const eql_diag *d = first(&l, "EQX012");
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "inherits the custom `__init__` of `Base`"));
  CU_ASSERT_PTR_NOT_NULL(strstr(l.items[1].message, "inherited field 'a'"));
  eql_diag_list_free(&l);
}

int main(void) {
  static const eql_test tests[] = {
    EQL_TEST(test_eqx005_message_and_span),
    EQL_TEST(test_eqx005_annotations),
    EQL_TEST(test_eqx006_message_span_related),
    EQL_TEST(test_eqx006_edges),
    EQL_TEST(test_eqx008_message_and_span),
    EQL_TEST(test_eqx008_negatives),
    EQL_TEST(test_eqx009_message_and_span),
    EQL_TEST(test_eqx009_methods_and_nesting),
    EQL_TEST(test_eqx010_message_and_span),
    EQL_TEST(test_eqx010_edges),
    EQL_TEST(test_eqx011_both_message_and_span),
    EQL_TEST(test_eqx011_inheritance),
    EQL_TEST(test_eqx012_paths),
    EQL_TEST(test_eqx012_inheritance_and_unknowns),
  };
  return eql_cunit_run("rules_b", tests, sizeof tests / sizeof *tests);
}
