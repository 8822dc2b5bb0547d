/* Unit tests of the rules on small in-memory programs: what each rule reports, where, and
 * what it says (the fixtures cover realistic programs; these pin the edges and messages). */
#include <stdlib.h>
#include <string.h>

#include "check_helpers.h"
#include "cunit_main.h"

#define run eql_test_check
#define count eql_test_count

#define HEAD "import equinox as eqx\nimport jax\nimport optax\nfrom typing import Callable\n"

static void test_eqx001_message_and_span(void) {
  eql_diag_list l = run(HEAD
                        "model = eqx.nn.MLP(2, 2, 8, 2, key=jax.random.PRNGKey(0))\n"
                        "optim = optax.adam(1e-3)\n"
                        "state = optim.init(model)\n");
  CU_ASSERT_EQUAL_FATAL(l.n, 1);
  eql_diag *d = &l.items[0];
  CU_ASSERT_STRING_EQUAL(eql_rules[d->rule].code, "EQX001");
  CU_ASSERT_EQUAL(d->span.line, 7);
  CU_ASSERT_EQUAL(d->span.col, 9);
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "activation"));
  CU_ASSERT_PTR_NOT_NULL(d->help);
  CU_ASSERT_PTR_NOT_NULL(strstr(d->help, "eqx.filter(model, eqx.is_array)"));
  eql_diag_list_free(&l);
}

static void test_eqx001_negatives(void) {
  /* filtered, partitioned, non-optax .init, all-array model, unknown model */
  eql_diag_list l = run(HEAD
                        "import diffrax\n"
                        "model = eqx.nn.MLP(2, 2, 8, 2, key=jax.random.PRNGKey(0))\n"
                        "optim = optax.chain(optax.clip(1.0), optax.adam(1e-3))\n"
                        "s1 = optim.init(eqx.filter(model, eqx.is_array))\n"
                        "params, static = eqx.partition(model, eqx.is_inexact_array)\n"
                        "s2 = optim.init(params)\n"
                        "solver = diffrax.Tsit5()\n"
                        "s3 = solver.init(model, 0.0, 1.0, None, None)\n"
                        "lin = eqx.nn.Linear(2, 2, key=jax.random.PRNGKey(0))\n"
                        "s4 = optim.init(lin)\n"
                        "s5 = optim.init(load_model())\n");
  CU_ASSERT_EQUAL(l.n, 0);
  eql_diag_list_free(&l);
}

static void test_eqx001_through_factories(void) {
  eql_diag_list l = run(HEAD
                        "def make_model(key):\n"
                        "    return eqx.nn.MLP(2, 2, 8, 2, key=key)\n"
                        "def make_opt():\n"
                        "    return optax.inject_hyperparams(optax.adamw)(learning_rate=1e-3)\n"
                        "model = make_model(jax.random.PRNGKey(0))\n"
                        "opt = make_opt()\n"
                        "st = opt.init(model)\n"
                        "updates, st = opt.update(g, st, model)\n");
  CU_ASSERT_EQUAL(count(&l, "EQX001"), 2);
  eql_diag_list_free(&l);
}

static void test_eqx002_related_location(void) {
  eql_diag_list l = run(HEAD
                        "class M(eqx.Module):\n"
                        "    a: eqx.nn.Linear\n"
                        "    b: eqx.nn.Linear\n"
                        "    def __init__(self, key):\n"
                        "        lin = eqx.nn.Linear(2, 2, key=key)\n"
                        "        self.a = lin\n"
                        "        self.b = lin\n");
  CU_ASSERT_EQUAL_FATAL(count(&l, "EQX002"), 1);
  eql_diag *d = &l.items[0];
  CU_ASSERT_EQUAL(d->span.line, 11);
  CU_ASSERT_TRUE(d->has_related);
  CU_ASSERT_EQUAL(d->related.line, 10);
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "field `a`"));
  CU_ASSERT_PTR_NOT_NULL(strstr(d->message, "field `b`"));
  CU_ASSERT_PTR_NOT_NULL(strstr(d->help, "eqx.nn.Shared"));
  eql_diag_list_free(&l);
}

static void test_eqx002_edges(void) {
  eql_diag_list l = run(HEAD
                        "def build(key, n):\n"
                        "    acts = [jax.nn.relu] * n\n"                 /* functions: fine */
                        "    one = [eqx.nn.Linear(2, 2, key=key)] * 1\n" /* once: fine */
                        "    blocks = []\n"
                        "    for k in jax.random.split(key, n):\n"
                        "        blk = eqx.nn.Linear(2, 2, key=k)\n"
                        "        blocks.append(blk)\n"                   /* rebuilt each time */
                        "    if n > 2:\n"
                        "        x = eqx.nn.Sequential([blk])\n"
                        "    else:\n"
                        "        x = eqx.nn.Sequential([blk, eqx.nn.Lambda(jax.nn.relu)])\n"
                        "    shared = eqx.nn.Linear(2, 2, key=key)\n"
                        "    rep = [shared] * n\n"                       /* aliased n times */
                        "    return acts, one, blocks, x, rep\n");
  CU_ASSERT_EQUAL(count(&l, "EQX002"), 1);
  if (l.n == 1) CU_ASSERT_EQUAL(l.items[0].span.line, 17);
  eql_diag_list_free(&l);
}

static void test_eqx003_argnums_and_static(void) {
  eql_diag_list l = run(HEAD
                        "import functools\n"
                        "def loss(x, model):\n"
                        "    return model(x).sum()\n"
                        "model = eqx.nn.MLP(2, 2, 8, 2, key=jax.random.PRNGKey(0))\n"
                        "g0 = jax.grad(loss)(x, model)\n"             /* differentiates x: fine */
                        "g1 = jax.grad(loss, argnums=1)(x, model)\n"  /* differentiates model */
                        "lin = eqx.nn.Linear(2, 2, key=jax.random.PRNGKey(0))\n"
                        "@functools.partial(jax.jit, static_argnums=(1,))\n"
                        "def apply(x, layer):\n"
                        "    return layer(x)\n"
                        "apply(x, lin)\n"
                        "y = eqx.filter_jit(loss)(x, model)\n"
                        "z = jax.vmap(model)(xs)\n");
  CU_ASSERT_EQUAL(count(&l, "EQX003"), 2);
  int lines[2] = {0, 0};
  for (size_t i = 0, k = 0; i < l.n && k < 2; i++) lines[k++] = (int)l.items[i].span.line;
  CU_ASSERT_EQUAL(lines[0], 10);
  CU_ASSERT_EQUAL(lines[1], 12);
  eql_diag_list_free(&l);
}

static void test_eqx003_method_self(void) {
  eql_diag_list l = run(HEAD
                        "class P(eqx.Module):\n"
                        "    act: Callable\n"
                        "    @jax.jit\n"
                        "    def __call__(self, x):\n"
                        "        return self.act(x)\n"
                        "class Q(eqx.Module):\n"
                        "    w: jax.Array\n"
                        "    @jax.jit\n"
                        "    def __call__(self, x):\n"
                        "        return self.w @ x\n");
  CU_ASSERT_EQUAL(count(&l, "EQX003"), 1);
  if (l.n) CU_ASSERT_EQUAL(l.items[0].span.line, 7);
  eql_diag_list_free(&l);
}

static void test_eqx999_and_partial_results(void) {
  eql_diag_list l = run(HEAD
                        "model = eqx.nn.MLP(2, 2, 8, 2, key=jax.random.PRNGKey(0))\n"
                        "optim = optax.adam(1e-3)\n"
                        "state = optim.init(model)\n"
                        "def broken(:\n");
  CU_ASSERT_EQUAL(count(&l, "EQX999"), 1);
  CU_ASSERT_EQUAL(count(&l, "EQX001"), 1);
  eql_diag_list_free(&l);
}

static void test_suppressions(void) {
  eql_diag_list l = run("# eqlint: noqa\n" HEAD
                        "model = eqx.nn.MLP(2, 2, 8, 2, key=jax.random.PRNGKey(0))\n"
                        "s = optax.adam(1e-3).init(model)  # noqa: EQX002\n");
  CU_ASSERT_EQUAL(l.n, 0); /* file-level bare noqa hides everything, EQX900 included */
  eql_diag_list_free(&l);
  l = run(HEAD
          "model = eqx.nn.MLP(2, 2, 8, 2, key=jax.random.PRNGKey(0))\n"
          "s = optax.adam(1e-3).init(model)  # NOLINT(EQX001)\n"
          "t = optax.adam(1e-3).init(model)  # noqa: EQX002, EQX900\n"
          "def broken(:  # noqa\n");
  CU_ASSERT_EQUAL(count(&l, "EQX001"), 1); /* clang-tidy's spelling works too */
  CU_ASSERT_EQUAL(count(&l, "EQX900"), 0); /* EQX900 in the list silences its line */
  CU_ASSERT_EQUAL(count(&l, "EQX999"), 1); /* a syntax error is never silenced per line */
  eql_diag_list_free(&l);
}

static void test_ruleset_selection(void) {
  eql_ruleset rs;
  eql_ruleset_all(&rs);
  char bad[32];
  CU_ASSERT_EQUAL(eql_ruleset_select(&rs, "EQX00", bad, sizeof bad), 0);
  CU_ASSERT_TRUE(rs.on[EQL_R_EQX001]);
  CU_ASSERT_FALSE(rs.on[EQL_R_EQX999]);
  CU_ASSERT_EQUAL(eql_ruleset_ignore(&rs, "EQX002,unfiltered-transform", bad, sizeof bad), 0);
  CU_ASSERT_FALSE(rs.on[EQL_R_EQX002]);
  CU_ASSERT_FALSE(rs.on[EQL_R_EQX003]);
  CU_ASSERT_EQUAL(eql_ruleset_select(&rs, "EQX7", bad, sizeof bad), -1);
  CU_ASSERT_STRING_EQUAL(bad, "EQX7");
  CU_ASSERT_EQUAL(eql_rule_find("eqx001"), EQL_R_EQX001);
  CU_ASSERT_EQUAL(eql_rule_find("nope"), -1);
  for (int i = 0; i < EQL_RULE_COUNT; i++) {
    CU_ASSERT_PTR_NOT_NULL(eql_rules[i].doc);
    CU_ASSERT_PTR_NOT_NULL(strstr(eql_rules[i].doc, "## What it does"));
  }
}

int main(void) {
  static const eql_test tests[] = {
    EQL_TEST(test_eqx001_message_and_span),
    EQL_TEST(test_eqx001_negatives),
    EQL_TEST(test_eqx001_through_factories),
    EQL_TEST(test_eqx002_related_location),
    EQL_TEST(test_eqx002_edges),
    EQL_TEST(test_eqx003_argnums_and_static),
    EQL_TEST(test_eqx003_method_self),
    EQL_TEST(test_eqx999_and_partial_results),
    EQL_TEST(test_suppressions),
    EQL_TEST(test_ruleset_selection),
  };
  return eql_cunit_run("rules", tests, sizeof tests / sizeof *tests);
}
