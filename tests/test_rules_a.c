/* Unit tests of the rule group "a" (EQX004, EQX007, EQX015, EQX016) on small in-memory
 * programs: what each rule reports, where, and what it says; the fixtures cover realistic
 * programs, these pin the edges and the messages. */
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

#define HEAD "import equinox as eqx\nimport jax\nimport jax.numpy as jnp\nimport optax\n" \
             "from typing import Callable\n"

/* ------------------------------------------------------------------ EQX004 */

static void test_eqx004_message_span_and_help(void) {
  eql_diag_list l = run(HEAD
                        "model = eqx.nn.MLP(2, 1, 8, 2, key=jax.random.PRNGKey(0))\n"
                        "x = jnp.zeros((64, 2))\n"
                        "y = model(x)\n"                         /* reported */
                        "z = jax.vmap(model)(x)\n"               /* fine */
                        "w = model(x[0])\n"                      /* fine: one example */
                        "v = model(x.reshape(-1))\n");           /* fine: flattened */
  CU_ASSERT_EQUAL_FATAL(count(&l, "EQX004"), 1);
  const eql_diag *d = first(&l, "EQX004");
  CU_ASSERT_EQUAL(d->span.line, 8);
  CU_ASSERT_EQUAL(d->span.col, 5);
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "eqx.nn.MLP"));
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "rank 2"));
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "jnp.zeros((64, 2))"));
  CU_ASSERT_PTR_NOT_NULL(strstr(d->help, "jax.vmap(model)(x)"));
  eql_diag_list_free(&l);
}

static void test_eqx004_vmap_depth_and_sites(void) {
  eql_diag_list l = run(HEAD
                        "lin = eqx.nn.Linear(4, 4, key=jax.random.PRNGKey(0))\n"
                        "xs = jax.random.normal(jax.random.PRNGKey(1), (8, 10, 4))\n"
                        "a = jax.vmap(lin)(xs)\n"                        /* one vmap short */
                        "b = jax.vmap(jax.vmap(lin))(xs)\n"              /* fine */
                        "def apply(layer, v):\n"
                        "    return layer(v)\n"                          /* reported via sites */
                        "c = apply(lin, xs[0])\n"
                        "def apply_one(layer, v):\n"
                        "    return layer(v)\n"                          /* fine: mapped twice */
                        "d = jax.vmap(jax.vmap(apply_one, in_axes=(None, 0)), in_axes=(None, 0))(lin, xs)\n"
                        "conv = eqx.nn.Conv2d(3, 8, 3, key=jax.random.PRNGKey(2))\n"
                        "e = conv(jnp.ones((3, 32, 32)))\n");            /* fine: rank 3 */
  CU_ASSERT_EQUAL(count(&l, "EQX004"), 2);
  int lines[2] = {0, 0};
  for (size_t i = 0, k = 0; i < l.n && k < 2; i++)
    if (!strcmp(eql_rules[l.items[i].rule].code, "EQX004")) lines[k++] = (int)l.items[i].span.line;
  CU_ASSERT_EQUAL(lines[0], 8);
  CU_ASSERT_EQUAL(lines[1], 11);
  const eql_diag *d = first(&l, "EQX004");
  if (d) CU_ASSERT_PTR_NOT_NULL(strstr(d->help, "jax.vmap(jax.vmap(lin))"));
  eql_diag_list_free(&l);
}

static void test_eqx004_user_module(void) {
  eql_diag_list l = run(HEAD
                        "class Net(eqx.Module):\n"
                        "    lin: eqx.nn.Linear\n"
                        "    def __init__(self, key):\n"
                        "        self.lin = eqx.nn.Linear(3, 1, key=key)\n"
                        "    def __call__(self, x):\n"
                        "        return jax.nn.relu(self.lin(x))\n"
                        "class Own(eqx.Module):\n"
                        "    lin: eqx.nn.Linear\n"
                        "    def __init__(self, key):\n"
                        "        self.lin = eqx.nn.Linear(3, 1, key=key)\n"
                        "    def __call__(self, x):\n"
                        "        return jax.vmap(self.lin)(x)\n"
                        "x = jnp.ones((5, 3))\n"
                        "a = Net(jax.random.PRNGKey(0))(x)\n"          /* reported */
                        "b = Own(jax.random.PRNGKey(1))(x)\n");        /* maps itself */
  CU_ASSERT_EQUAL_FATAL(count(&l, "EQX004"), 1);
  const eql_diag *d = first(&l, "EQX004");
  CU_ASSERT_EQUAL(d->span.line, 19);
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "Net"));
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "self.lin"));
  eql_diag_list_free(&l);
}

static void test_eqx004_through_returns(void) {
  eql_diag_list l = run(HEAD
                        "def data(key):\n"
                        "    return jax.random.normal(key, (32, 4)), jnp.zeros((32,))\n"
                        "def step(m, x):\n"
                        "    m = eqx.apply_updates(m, x)\n"
                        "    return m, 0.0\n"
                        "def shapes(key):\n"
                        "    if key is None:\n"
                        "        return jnp.zeros((4,))\n"
                        "    return jnp.zeros((2, 4))\n"           /* returns disagree */
                        "x, y = data(jax.random.PRNGKey(0))\n"
                        "m = eqx.nn.Linear(4, 1, key=jax.random.PRNGKey(1))\n"
                        "for _ in range(3):\n"
                        "    m, _ = step(m, x)\n"
                        "a = m(x)\n"                               /* reported */
                        "b = m(x[0])\n"
                        "c = m(shapes(None))\n");
  CU_ASSERT_EQUAL_FATAL(count(&l, "EQX004"), 1);
  CU_ASSERT_EQUAL(first(&l, "EQX004")->span.line, 19);
  eql_diag_list_free(&l);
}

/* ------------------------------------------------------------------ EQX007 */

static void test_eqx007_carry_message_and_span(void) {
  eql_diag_list l = run(HEAD
                        "model = eqx.nn.MLP(2, 2, 8, 2, key=jax.random.PRNGKey(0))\n"
                        "def step(c, x):\n"
                        "    return c, x\n"
                        "out = jax.lax.scan(step, (model, 0.0), xs)\n");
  CU_ASSERT_EQUAL_FATAL(count(&l, "EQX007"), 1);
  const eql_diag *d = first(&l, "EQX007");
  CU_ASSERT_EQUAL(d->span.line, 9);
  CU_ASSERT_EQUAL(d->span.col, 27); /* at `model` inside the tuple */
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "jax.lax.scan"));
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "carry"));
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "activation"));
  CU_ASSERT_PTR_NOT_NULL(strstr(d->help, "eqx.partition"));
  CU_ASSERT_PTR_NOT_NULL(strstr(d->help, "eqx.combine"));
  eql_diag_list_free(&l);
}

static void test_eqx007_bodies(void) {
  eql_diag_list l = run(HEAD
                        "class Cell(eqx.Module):\n"
                        "    w: jax.Array\n"
                        "    def update(self, h, x):\n"
                        "        return h, x\n"
                        "    def __call__(self, h, x):\n"
                        "        return h, x\n"
                        "cell = Cell(jnp.ones(3))\n"
                        "a = jax.lax.scan(cell.update, h0, xs)\n"         /* bound method */
                        "b = jax.lax.fori_loop(0, 3, cell, h0)\n"         /* Module instance */
                        "c = jax.lax.scan(lambda h, x: cell.update(h, x), h0, xs)\n"
                        "def body(h, x):\n"
                        "    return cell(h, x)\n"
                        "d = jax.lax.scan(body, h0, xs)\n"
                        "e = jax.lax.scan(cell.w, h0, xs)\n");            /* a field, not a method */
  CU_ASSERT_EQUAL(count(&l, "EQX007"), 2);
  int lines[2] = {0, 0};
  for (size_t i = 0, k = 0; i < l.n && k < 2; i++)
    if (!strcmp(eql_rules[l.items[i].rule].code, "EQX007")) lines[k++] = (int)l.items[i].span.line;
  CU_ASSERT_EQUAL(lines[0], 13);
  CU_ASSERT_EQUAL(lines[1], 14);
  const eql_diag *d = first(&l, "EQX007");
  if (d) {
    CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "bound method"));
    CU_ASSERT_PTR_NOT_NULL(strstr(d->help, "lambda"));
  }
  eql_diag_list_free(&l);
}

static void test_eqx007_negatives(void) {
  eql_diag_list l = run(HEAD
                        "model = eqx.nn.MLP(2, 2, 8, 2, key=jax.random.PRNGKey(0))\n"
                        "params, static = eqx.partition(model, eqx.is_array)\n"
                        "lin = eqx.nn.Linear(2, 2, key=jax.random.PRNGKey(1))\n"
                        "def step(c, x):\n"
                        "    return c, x\n"
                        "a = jax.lax.scan(step, params, xs)\n"                      /* partitioned */
                        "b = jax.lax.scan(step, eqx.filter(model, eqx.is_array), xs)\n"
                        "c = jax.lax.scan(step, (lin, jnp.zeros(2)), xs)\n"         /* all arrays */
                        "d = jax.lax.fori_loop(0, 4, lambda i, v: v + 1, jnp.ones(3))\n"
                        "e = jax.lax.while_loop(lambda s: s < 3, lambda s: s + 1, 0)\n"
                        "f = jax.lax.cond(p, lambda v: v, lambda v: -v, jnp.ones(2))\n"
                        "g = jax.lax.scan(step, load(), xs)\n");                    /* unknown */
  CU_ASSERT_EQUAL(count(&l, "EQX007"), 0);
  eql_diag_list_free(&l);
}

/* ------------------------------------------------------------------ EQX015 */

static void test_eqx015_loop_and_related(void) {
  eql_diag_list l = run(HEAD
                        "def f(v):\n"
                        "    return v + 1\n"
                        "for i in range(10):\n"
                        "    a = jax.jit(lambda v: v * 2)(i)\n"        /* reported */
                        "    b = jax.jit(f)(i)\n"                      /* same object: fine */
                        "    cache[i] = jax.jit(lambda v: v)\n");      /* stored: fine */
  CU_ASSERT_EQUAL_FATAL(count(&l, "EQX015"), 1);
  const eql_diag *d = first(&l, "EQX015");
  CU_ASSERT_EQUAL(d->span.line, 9);
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "lambda"));
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "compiles"));
  CU_ASSERT_TRUE(d->has_related);
  CU_ASSERT_EQUAL(d->related.line, 8);
  CU_ASSERT_PTR_NOT_NULL(strstr(d->help, "module level"));
  eql_diag_list_free(&l);
}

static void test_eqx015_per_step_function(void) {
  eql_diag_list l = run(HEAD
                        "def step(m, x):\n"
                        "    @eqx.filter_jit\n"                        /* reported */
                        "    def inner(m, x):\n"
                        "        return m(x)\n"
                        "    return inner(m, x)\n"
                        "def make():\n"
                        "    @eqx.filter_jit\n"                        /* factory called once */
                        "    def inner(m, x):\n"
                        "        return m(x)\n"
                        "    return inner\n"
                        "@eqx.filter_jit\n"                            /* module level */
                        "def top(m, x):\n"
                        "    return m(x)\n"
                        "fn = make()\n"
                        "while True:\n"
                        "    y = step(m, x)\n"
                        "    z = fn(m, x)\n"
                        "    w = top(m, x)\n");
  CU_ASSERT_EQUAL_FATAL(count(&l, "EQX015"), 1);
  const eql_diag *d = first(&l, "EQX015");
  CU_ASSERT_EQUAL(d->span.line, 7);
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "`step`"));
  CU_ASSERT_TRUE(d->has_related);
  CU_ASSERT_EQUAL(d->related.line, 21);
  eql_diag_list_free(&l);
}

static void test_eqx015_driver_in_sweep(void) {
  eql_diag_list l = run(HEAD
                        "def experiment(width, data):\n"
                        "    @eqx.filter_jit\n"                        /* once per experiment */
                        "    def step(m, x):\n"
                        "        return m(x)\n"
                        "    for x in data:\n"
                        "        step(width, x)\n"
                        "for w in (8, 16, 32):\n"
                        "    experiment(w, data)\n");
  CU_ASSERT_EQUAL(count(&l, "EQX015"), 0);
  eql_diag_list_free(&l);
}

/* ------------------------------------------------------------------ EQX016 */

static void test_eqx016_decorated_method(void) {
  eql_diag_list l = run(HEAD
                        "import functools\n"
                        "class Trainer:\n"
                        "    @jax.grad\n"
                        "    def loss(self, model, x):\n"
                        "        return model(x).sum()\n"
                        "    @functools.partial(jax.grad, argnums=1)\n"   /* skips self */
                        "    def loss2(self, model, x):\n"
                        "        return model(x).sum()\n"
                        "    @staticmethod\n"
                        "    @jax.grad\n"
                        "    def loss3(model, x):\n"
                        "        return model(x).sum()\n"
                        "class M(eqx.Module):\n"
                        "    w: jax.Array\n"
                        "    @jax.grad\n"                                 /* EQX003's business */
                        "    def loss(self, x):\n"
                        "        return (self.w * x).sum()\n");
  CU_ASSERT_EQUAL_FATAL(count(&l, "EQX016"), 1);
  const eql_diag *d = first(&l, "EQX016");
  CU_ASSERT_EQUAL(d->span.line, 8);
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "`self`"));
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "Trainer.loss"));
  CU_ASSERT_PTR_NOT_NULL(strstr(d->help, "eqx.filter_grad"));
  eql_diag_list_free(&l);
}

static void test_eqx016_bound_and_unbound(void) {
  eql_diag_list l = run(HEAD
                        "class T:\n"
                        "    def __init__(self, key):\n"
                        "        self.model = eqx.nn.Linear(2, 1, key=key)\n"
                        "        self.optim = optax.sgd(0.1)\n"
                        "    def loss(self, x):\n"
                        "        return self.model(x).sum()\n"
                        "    def step(self, x, state):\n"
                        "        g = jax.grad(self.loss)(x)\n"
                        "        u, state = self.optim.update(g, state)\n"
                        "        return u\n"
                        "    def saliency(self, x):\n"
                        "        return jax.grad(self.loss)(x)\n"      /* input gradients: fine */
                        "u = jax.grad(T.loss)(t, x)\n"
                        "v = jax.grad(T.loss, argnums=1)(t, x)\n"
                        "w = eqx.filter_grad(T.loss)(t, x)\n");
  CU_ASSERT_EQUAL(count(&l, "EQX016"), 2);
  int lines[2] = {0, 0};
  for (size_t i = 0, k = 0; i < l.n && k < 2; i++)
    if (!strcmp(eql_rules[l.items[i].rule].code, "EQX016")) lines[k++] = (int)l.items[i].span.line;
  CU_ASSERT_EQUAL(lines[0], 13);
  CU_ASSERT_EQUAL(lines[1], 18);
  const eql_diag *d = first(&l, "EQX016");
  if (d) CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "self.model"));
  eql_diag_list_free(&l);
}

int main(void) {
  static const eql_test tests[] = {
    EQL_TEST(test_eqx004_message_span_and_help),
    EQL_TEST(test_eqx004_vmap_depth_and_sites),
    EQL_TEST(test_eqx004_user_module),
    EQL_TEST(test_eqx004_through_returns),
    EQL_TEST(test_eqx007_carry_message_and_span),
    EQL_TEST(test_eqx007_bodies),
    EQL_TEST(test_eqx007_negatives),
    EQL_TEST(test_eqx015_loop_and_related),
    EQL_TEST(test_eqx015_per_step_function),
    EQL_TEST(test_eqx015_driver_in_sweep),
    EQL_TEST(test_eqx016_decorated_method),
    EQL_TEST(test_eqx016_bound_and_unbound),
  };
  return eql_cunit_run("rules_a", tests, sizeof tests / sizeof *tests);
}
