/* Unit tests of the rule group "c" (EQX013, EQX014, EQX017) on small in-memory programs:
 * what each rule reports, where, and what it says; the fixtures cover realistic programs,
 * these pin the edges and the messages. */
#include <stdlib.h>
#include <string.h>

#include "cunit_main.h"
#include "eqlint/check.h"

static eql_diag_list run(const char *code) {
  eql_project *p = eql_project_new();
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  CU_ASSERT_EQUAL(eql_project_add_source(p, "t.py", code, strlen(code)), 0);
  eql_ruleset rs;
  eql_ruleset_all(&rs);
  eql_diag_list out;
  eql_diag_list_init(&out);
  CU_ASSERT_EQUAL(eql_project_run(p, &rs, &out), 0);
  eql_project_free(p);
  return out;
}

static int count(const eql_diag_list *l, const char *code) {
  int n = 0;
  for (size_t i = 0; i < l->n; i++)
    if (!strcmp(eql_rules[l->items[i].rule].code, code)) n++;
  return n;
}

/* The k-th diagnostic of `code` (0-based), or NULL. */
static const eql_diag *nth(const eql_diag_list *l, const char *code, int k) {
  for (size_t i = 0; i < l->n; i++)
    if (!strcmp(eql_rules[l->items[i].rule].code, code) && k-- == 0) return &l->items[i];
  return NULL;
}

/* Lines of every diagnostic of `code`, in order, into lines[max]; returns how many. */
static int lines_of(const eql_diag_list *l, const char *code, int *lines, int max) {
  int n = 0;
  for (size_t i = 0; i < l->n && n < max; i++)
    if (!strcmp(eql_rules[l->items[i].rule].code, code)) lines[n++] = (int)l->items[i].span.line;
  return n;
}

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

int main(void) {
  static const eql_test tests[] = {
    EQL_TEST(test_eqx014_message_span_help),
    EQL_TEST(test_eqx014_partition_related_and_inexact),
    EQL_TEST(test_eqx014_negatives),
    EQL_TEST(test_eqx014_aliases),
  };
  return eql_cunit_run("rules_c", tests, sizeof tests / sizeof *tests);
}
