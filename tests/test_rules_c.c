/* Unit tests of the rule group "c" (EQX013, EQX014, EQX017) on small in-memory programs:
 * what each rule reports, where, and what it says; the fixtures cover realistic programs,
 * these pin the edges and the messages. */
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
#include "eqlint/config.h"



/* The k-th diagnostic of `code` (0-based), or NULL. */

/* Lines of every diagnostic of `code`, in order, into lines[max]; returns how many. */

#define HEAD "import equinox as eqx\nimport jax\nimport jax.random as jr\nimport optax\n"

/* ------------------------------------------------------------------------------ EQX014 */

static void test_eqx014_message_span_help(void) {
  eql_diag_list l = run(HEAD
                        "model = eqx.nn.MLP(2, 2, 8, 2, key=jr.PRNGKey(0))\n"
                        "optim = optax.adam(1e-3)\n"
                        "state = optim.init(eqx.filter(model, eqx.is_array_like))\n");
  CU_ASSERT_EQUAL_FATAL(count(&l, "EQX014"), 1);
  const eql_diag *d = nth(&l, "EQX014", 0);
  CU_ASSERT_EQUAL(d->span.line, 7);
  CU_ASSERT_EQUAL(d->span.col, 9);
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "`optim.init`"));
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "eqx.is_array_like"));
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "floats, ints and bools"));
  CU_ASSERT_FALSE(d->has_related); /* the predicate is in the call itself */
  CU_ASSERT_PTR_NOT_NULL_FATAL(d->help);
  CU_ASSERT_PTR_NOT_NULL(strstr(d->help, "eqx.filter(model, eqx.is_array)"));
  eql_diag_list_free(&l);
}

static void test_eqx014_partition_related_and_inexact(void) {
  eql_diag_list l = run(HEAD
                        "def setup(model):\n"
                        "    params, static = eqx.partition(model, eqx.is_inexact_array_like)\n"
                        "    opt = optax.chain(optax.clip(1.0), optax.sgd(0.1))\n"
                        "    return opt.init(params)\n");
  CU_ASSERT_EQUAL_FATAL(count(&l, "EQX014"), 1);
  const eql_diag *d = nth(&l, "EQX014", 0);
  CU_ASSERT_EQUAL(d->span.line, 8);
  CU_ASSERT_TRUE(d->has_related);
  CU_ASSERT_EQUAL(d->related.line, 6);
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "is_inexact_array_like"));
  CU_ASSERT_PTR_NOT_NULL(d->help && strstr(d->help, "eqx.is_inexact_array"));
  eql_diag_list_free(&l);
}

static void test_eqx014_negatives(void) {
  /* the right predicates, non-optax .init, unknown receivers, inverse filters, other uses */
  eql_diag_list l = run(HEAD
                        "import diffrax\n"
                        "model = eqx.nn.MLP(2, 2, 8, 2, key=jr.PRNGKey(0))\n"
                        "opt = optax.adam(1e-3)\n"
                        "a = opt.init(eqx.filter(model, eqx.is_array))\n"
                        "b = opt.init(eqx.filter(model, eqx.is_inexact_array))\n"
                        "p, s = eqx.partition(model, eqx.is_inexact_array)\n"
                        "c = opt.init(p)\n"
                        "solver = diffrax.Tsit5()\n"
                        "d = solver.init(eqx.filter(model, eqx.is_array_like), 0.0, 1.0, None, None)\n"
                        "def f(optimiser):\n"
                        "    return optimiser.init(eqx.filter(model, eqx.is_array_like))\n"
                        "e = opt.init(eqx.filter(model, eqx.is_array_like, inverse=True))\n"
                        "n = jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_array_like))\n");
  CU_ASSERT_EQUAL(count(&l, "EQX014"), 0);
  eql_diag_list_free(&l);
}

static void test_eqx014_aliases(void) {
  eql_diag_list l = run("from equinox import filter, is_array_like as like\n"
                        "import equinox as eqx\n"
                        "import optax\n"
                        "spec = eqx.is_array_like\n"
                        "def go(model, opt: optax.GradientTransformation):\n"
                        "    s1 = opt.init(filter(model, like))\n"
                        "    s2 = optax.adamw(1e-3).init(eqx.filter(model, filter_spec=spec))\n"
                        "    return s1, s2\n");
  int lines[4];
  CU_ASSERT_EQUAL_FATAL(lines_of(&l, "EQX014", lines, 4), 2);
  CU_ASSERT_EQUAL(lines[0], 6);
  CU_ASSERT_EQUAL(lines[1], 7);
  eql_diag_list_free(&l);
}

/* ------------------------------------------------------------------------------ EQX017 */

static void test_eqx017_span_on_keyword(void) {
  eql_diag_list l = run(HEAD
                        "def loss(x, model):\n"
                        "    return model(x).sum()\n"
                        "g = eqx.filter_grad(loss, argnums=1)\n"
                        "@eqx.filter_jit(static_argnums=(1,))\n"
                        "def f(x, n):\n"
                        "    return x * n\n");
  CU_ASSERT_EQUAL_FATAL(count(&l, "EQX017"), 2);
  const eql_diag *d = nth(&l, "EQX017", 0);
  CU_ASSERT_EQUAL(d->span.line, 7);
  CU_ASSERT_EQUAL(d->span.col, 27); /* at `argnums=1` */
  CU_ASSERT_EQUAL(d->span.end_col, 36);
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "`argnums` should not be passed"));
  CU_ASSERT_PTR_NOT_NULL(d->help && strstr(d->help, "first argument"));
  const eql_diag *e = nth(&l, "EQX017", 1);
  CU_ASSERT_EQUAL(e->span.line, 8);
  CU_ASSERT_PTR_NOT_NULL(strstr(e->message, "`jitkwargs` cannot contain"));
  CU_ASSERT_PTR_NOT_NULL(strstr(e->message, "static_argnums=(1,)"));
  eql_diag_list_free(&l);
}

static void test_eqx017_partial_and_each_keyword(void) {
  eql_diag_list l = run("import functools\n"
                        "from equinox import filter_jit as fj, filter_value_and_grad\n"
                        "step = functools.partial(fj, static_argnames=('mode',), donate_argnums=0)\n"
                        "vg = filter_value_and_grad(lambda m, x: x, has_aux=False, argnums=(0, 1))\n"
                        "w = fj(lambda x: x, static_argnums=0, static_argnames='x', donate='all')\n");
  int lines[8];
  CU_ASSERT_EQUAL_FATAL(lines_of(&l, "EQX017", lines, 8), 5);
  CU_ASSERT_EQUAL(lines[0], 3);
  CU_ASSERT_EQUAL(lines[1], 3);
  CU_ASSERT_EQUAL(lines[2], 4);
  CU_ASSERT_EQUAL(lines[3], 5);
  CU_ASSERT_EQUAL(lines[4], 5);
  const eql_diag *d = nth(&l, "EQX017", 1);
  CU_ASSERT_PTR_NOT_NULL(d && d->help && strstr(d->help, "donate="));
  eql_diag_list_free(&l);
}

static void test_eqx017_negatives(void) {
  eql_diag_list l = run(HEAD
                        "import functools\n"
                        "def loss(p, x):\n"
                        "    return (p * x).sum()\n"
                        "a = jax.jit(loss, static_argnums=1, donate_argnums=0)\n"
                        "b = jax.grad(loss, argnums=1)\n"
                        "c = functools.partial(jax.jit, static_argnames=('x',))\n"
                        "d = eqx.filter_jit(loss, donate='all')\n"
                        "e = eqx.filter_grad(loss, has_aux=False, argnums=None)\n"
                        "f = eqx.filter_vmap(loss, in_axes=(None, 0))\n"
                        "opts = dict(static_argnums=1)\n"
                        "g = eqx.filter_jit(loss, **opts)\n"
                        "def filter_jit(fn, static_argnums=()):\n"
                        "    return jax.jit(fn, static_argnums=static_argnums)\n"
                        "h = filter_jit(loss, static_argnums=1)\n");
  CU_ASSERT_EQUAL(count(&l, "EQX017"), 0);
  eql_diag_list_free(&l);
}

/* ------------------------------------------------------------------------------ EQX013 */

static void test_eqx013_second_use_related_first(void) {
  eql_diag_list l = run(HEAD
                        "class M(eqx.Module):\n"
                        "    a: eqx.nn.Linear\n"
                        "    b: eqx.nn.Linear\n"
                        "    def __init__(self, key):\n"
                        "        self.a = eqx.nn.Linear(2, 2, key=key)\n"
                        "        self.b = eqx.nn.Linear(2, 2, key=key)\n");
  CU_ASSERT_EQUAL_FATAL(count(&l, "EQX013"), 1);
  const eql_diag *d = nth(&l, "EQX013", 0);
  CU_ASSERT_EQUAL(d->span.line, 10);
  CU_ASSERT_EQUAL(d->span.col, 42); /* the key argument */
  CU_ASSERT_TRUE(d->has_related);
  CU_ASSERT_EQUAL(d->related.line, 9);
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "`key`"));
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "line 9"));
  CU_ASSERT_PTR_NOT_NULL(d->help && strstr(d->help, "jax.random.split(key)"));
  eql_diag_list_free(&l);
}

static void test_eqx013_branches(void) {
  eql_diag_list l = run(HEAD
                        "def f(key, a, b):\n"
                        "    if a:\n"
                        "        x = jr.normal(key, ())\n"
                        "    elif b:\n"
                        "        x = jr.uniform(key, ())\n"
                        "    else:\n"
                        "        return jr.bernoulli(key)\n"
                        "    if b:\n"
                        "        raise ValueError()\n"
                        "    return x\n"
                        "def g(key, a):\n"
                        "    if a:\n"
                        "        x = jr.normal(key, ())\n"
                        "    y = jr.uniform(key, ())\n"       /* line 18: a path with both */
                        "    return x, y\n"
                        "def h(key, a):\n"
                        "    return jr.normal(key, ()) if a else jr.uniform(key, ())\n");
  int lines[4];
  CU_ASSERT_EQUAL_FATAL(lines_of(&l, "EQX013", lines, 4), 1);
  CU_ASSERT_EQUAL(lines[0], 18);
  eql_diag_list_free(&l);
}

static void test_eqx013_loops(void) {
  eql_diag_list l = run(HEAD
                        "def f(key, n):\n"
                        "    for i in range(n):\n"
                        "        x = jr.normal(key, ())\n"              /* 7: every iteration */
                        "    for i in range(n):\n"
                        "        key, sub = jr.split(key)\n"
                        "        y = jr.normal(sub, ())\n"              /* fine */
                        "    for i in range(n):\n"
                        "        k1, k2 = jr.split(key)\n"
                        "        z = jr.normal(k1, ())\n"               /* 13: same k1 each time */
                        "    w = [jr.normal(jr.fold_in(key, i), ()) for i in range(n)]\n"
                        "    v = [eqx.nn.Linear(2, 2, key=key) for _ in range(n)]\n" /* 15 */
                        "    return x, y, z, w, v\n");
  int lines[8];
  CU_ASSERT_EQUAL_FATAL(lines_of(&l, "EQX013", lines, 8), 3);
  CU_ASSERT_EQUAL(lines[0], 7);
  CU_ASSERT_EQUAL(lines[1], 13);
  CU_ASSERT_EQUAL(lines[2], 15);
  const eql_diag *d = nth(&l, "EQX013", 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "every iteration"));
  CU_ASSERT_TRUE(d->has_related);
  CU_ASSERT_EQUAL(d->related.line, 7);
  const eql_diag *c = nth(&l, "EQX013", 2);
  CU_ASSERT_PTR_NOT_NULL(strstr(c->message, "comprehension"));
  eql_diag_list_free(&l);
}

static void test_eqx013_ignoring_callees_and_try(void) {
  eql_diag_list l = run(HEAD
                        "class Quiet(eqx.Module):\n"
                        "    def __call__(self, x, *, key=None):\n"
                        "        del key\n"
                        "        return x\n"
                        "def act(x, key=None):\n"
                        "    return jax.nn.relu(x)\n"
                        "def f(key, mkey, x):\n"
                        "    mlp = eqx.nn.MLP(2, 2, 4, 1, key=mkey)\n"
                        "    q = Quiet()\n"
                        "    y = q(mlp(x, key=key), key=key)\n"
                        "    y = act(act(y, key=key), key=key)\n"
                        "    z = sorted([1, 2], key=key)\n"
                        "    try:\n"
                        "        w = jr.normal(jr.split(key)[0], ())\n"
                        "    except ValueError:\n"
                        "        w = jr.normal(key, ())\n"
                        "    return y, z, w\n");
  CU_ASSERT_EQUAL(count(&l, "EQX013"), 0);
  eql_diag_list_free(&l);
}

static void test_eqx013_stored_field(void) {
  eql_diag_list l = run(HEAD
                        "class Noise(eqx.Module):\n"
                        "    key: jax.Array\n"
                        "    def __init__(self, key):\n"
                        "        self.key = key\n"
                        "    def __call__(self, x, step):\n"
                        "        a = jr.normal(jr.fold_in(self.key, step), x.shape)\n" /* fine */
                        "        return x + a + jr.normal(self.key, x.shape)\n");    /* 11 */
  CU_ASSERT_EQUAL_FATAL(count(&l, "EQX013"), 1);
  const eql_diag *d = nth(&l, "EQX013", 0);
  CU_ASSERT_EQUAL(d->span.line, 11);
  CU_ASSERT_TRUE(d->has_related);
  CU_ASSERT_EQUAL(d->related.line, 8);
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "self.key"));
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "every call"));
  eql_diag_list_free(&l);
}

/* Test files opt out through `[tool.eqlint.rules.EQX013] exclude-tests = true`: the
 * configuration turns the rule off for them; other files keep it. */
static void test_eqx013_exclude_tests_config(void) {
  static const char toml[] = "[tool.eqlint.rules.EQX013]\nexclude-tests = true\n";
  static const char code[] = "import jax.random as jr\n"
                             "key = jr.PRNGKey(0)\n"
                             "a = jr.normal(key, ())\n"
                             "b = jr.normal(key, ())\n";
  eql_config *cfg = NULL;
  eql_config_error err;
  CU_ASSERT_EQUAL_FATAL(eql_config_parse("pyproject.toml", toml, strlen(toml), &cfg, &err),
                        EQL_CONFIG_OK);
  const char *paths[2] = {"tests/test_noise.py", "noise.py"};
  int expect[2] = {0, 1};
  for (int i = 0; i < 2; i++) {
    eql_ruleset rs;
    eql_config_ruleset(cfg, NULL, paths[i], &rs);
    eql_project *p = eql_project_new();
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(eql_project_add_source(p, paths[i], code, strlen(code)), 0);
    eql_diag_list out;
    eql_diag_list_init(&out);
    CU_ASSERT_EQUAL(eql_project_run(p, &rs, &out), 0);
    CU_ASSERT_EQUAL(count(&out, "EQX013"), expect[i]);
    eql_diag_list_free(&out);
    eql_project_free(p);
  }
  eql_config_free(cfg);
}

int main(void) {
  static const eql_test tests[] = {
    EQL_TEST(test_eqx013_second_use_related_first),
    EQL_TEST(test_eqx013_branches),
    EQL_TEST(test_eqx013_loops),
    EQL_TEST(test_eqx013_ignoring_callees_and_try),
    EQL_TEST(test_eqx013_stored_field),
    EQL_TEST(test_eqx013_exclude_tests_config),
    EQL_TEST(test_eqx014_message_span_help),
    EQL_TEST(test_eqx014_partition_related_and_inexact),
    EQL_TEST(test_eqx014_negatives),
    EQL_TEST(test_eqx014_aliases),
    EQL_TEST(test_eqx017_span_on_keyword),
    EQL_TEST(test_eqx017_partial_and_each_keyword),
    EQL_TEST(test_eqx017_negatives),
  };
  return eql_cunit_run("rules_c", tests, sizeof tests / sizeof *tests);
}
