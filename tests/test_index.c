/* Unit tests of the project index: resolution of classes across files (packages, relative
 * imports, re-exports, same-named modules in different directories) and the two verdicts it
 * computes, Module-ness and non-array leaves. Files are written to a temporary directory so
 * module names come from real paths, as in a run. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cunit_main.h"
#include "eqlint/check.h"
#include "eqlint/index.h"

static char root[256];

static void write_file(const char *rel, const char *text) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", root, rel);
  /* create parent directories */
  for (char *p = path + strlen(root) + 1; *p; p++)
    if (*p == '/') {
      *p = 0;
      mkdir(path, 0755);
      *p = '/';
    }
  FILE *f = fopen(path, "w");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  fputs(text, f);
  fclose(f);
}

static void rm_rf(const char *dir) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  CU_ASSERT_EQUAL(system(cmd), 0);
}

static void fresh_root(void) {
  snprintf(root, sizeof root, "/tmp/eqlint-index-XXXXXX");
  CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(root));
}

static void test_module_names(void) {
  fresh_root();
  write_file("pkg/__init__.py", "");
  write_file("pkg/sub/__init__.py", "");
  write_file("pkg/sub/model.py", "");
  write_file("flat/train.py", "");
  char path[512];
  int init = 0;
  snprintf(path, sizeof path, "%s/pkg/sub/model.py", root);
  char *m = eql_module_name_for_path(path, &init);
  CU_ASSERT_STRING_EQUAL(m, "pkg.sub.model");
  CU_ASSERT_EQUAL(init, 0);
  free(m);
  snprintf(path, sizeof path, "%s/pkg/sub/__init__.py", root);
  m = eql_module_name_for_path(path, &init);
  CU_ASSERT_STRING_EQUAL(m, "pkg.sub");
  CU_ASSERT_EQUAL(init, 1);
  free(m);
  snprintf(path, sizeof path, "%s/flat/train.py", root);
  m = eql_module_name_for_path(path, &init);
  CU_ASSERT_STRING_EQUAL(m, "train");
  free(m);
  m = eql_module_name_for_path("not/on/disk.py", &init);
  CU_ASSERT_STRING_EQUAL(m, "disk");
  free(m);
  rm_rf(root);
}

/* Runs all rules over the files under root and returns how many diagnostics of `code`. */
static int run_count(const char **rels, int n, const char *code, eql_diag_list *keep) {
  eql_project *p = eql_project_new();
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  for (int i = 0; i < n; i++) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", root, rels[i]);
    const char *err = NULL;
    CU_ASSERT_EQUAL(eql_project_add_file(p, path, &err), 0);
  }
  eql_ruleset rs;
  eql_ruleset_all(&rs);
  eql_diag_list out;
  eql_diag_list_init(&out);
  CU_ASSERT_EQUAL(eql_project_run(p, &rs, &out), 0);
  int count = 0;
  for (size_t i = 0; i < out.n; i++)
    if (!strcmp(eql_rules[out.items[i].rule].code, code)) count++;
  if (keep) eql_diag_list_take(keep, &out);
  eql_diag_list_free(&out);
  eql_project_free(p);
  return count;
}

static const char *model_py =
    "import equinox as eqx\n"
    "from typing import Callable\n"
    "class Base(eqx.Module):\n"
    "    act: Callable\n"
    "class MLP(Base):\n"
    "    lin: eqx.nn.Linear\n"
    "class Safe(eqx.Module):\n"
    "    lin: eqx.nn.Linear\n"
    "    act: Callable = eqx.field(static=True)\n";

static const char *train_tpl =
    "import optax\n"
    "%s\n"
    "model = %s(key=0)\n"
    "opt = optax.adam(1e-3)\n"
    "state = opt.init(model)\n";

static void check_train(const char *import, const char *ctor, int expect) {
  char text[512];
  snprintf(text, sizeof text, train_tpl, import, ctor);
  write_file("pkg/train.py", text);
  const char *rels[] = {"pkg/__init__.py", "pkg/model.py", "pkg/train.py"};
  CU_ASSERT_EQUAL(run_count(rels, 3, "EQX001", NULL), expect);
}

static void test_cross_file_resolution(void) {
  fresh_root();
  write_file("pkg/__init__.py", "from .model import MLP, Safe\n");
  write_file("pkg/model.py", model_py);
  check_train("from .model import MLP", "MLP", 1);           /* relative import */
  check_train("from pkg.model import MLP", "MLP", 1);        /* absolute */
  check_train("import pkg.model as m", "m.MLP", 1);          /* module alias */
  check_train("from pkg import MLP", "MLP", 1);              /* re-export in __init__ */
  check_train("from . import model", "model.MLP", 1);        /* submodule import */
  check_train("from .model import Safe", "Safe", 0);         /* static Callable: fine */
  check_train("from .missing import MLP", "MLP", 0);         /* unknown: silent */
  rm_rf(root);
}

static void test_same_module_name_nearest_wins(void) {
  fresh_root();
  write_file("a/model.py", model_py);
  /* b/model.py defines a different, all-array MLP */
  write_file("b/model.py", "import equinox as eqx\nclass MLP(eqx.Module):\n    lin: eqx.nn.Linear\n");
  write_file("a/train.py", "import optax\nfrom model import MLP\nopt = optax.adam(1)\nopt.init(MLP())\n");
  write_file("b/train.py", "import optax\nfrom model import MLP\nopt = optax.adam(1)\nopt.init(MLP())\n");
  const char *rels[] = {"a/model.py", "b/model.py", "a/train.py", "b/train.py"};
  eql_diag_list out;
  eql_diag_list_init(&out);
  CU_ASSERT_EQUAL(run_count(rels, 4, "EQX001", &out), 1);
  CU_ASSERT_EQUAL_FATAL(out.n, 1);
  CU_ASSERT_PTR_NOT_NULL(strstr(out.items[0].path, "/a/train.py"));
  /* the message explains why, naming the inherited field */
  CU_ASSERT_PTR_NOT_NULL(strstr(out.items[0].message, "act"));
  eql_diag_list_free(&out);
  rm_rf(root);
}

static void test_inheritance_cycle_terminates(void) {
  fresh_root();
  write_file("x.py", "import equinox as eqx\nfrom y import B\nclass A(B):\n    f: int\n");
  write_file("y.py", "import equinox as eqx\nfrom x import A\nclass B(A):\n    g: int\n");
  write_file("t.py", "import optax\nfrom x import A\noptax.adam(1).init(A())\n");
  const char *rels[] = {"x.py", "y.py", "t.py"};
  CU_ASSERT_EQUAL(run_count(rels, 3, "EQX001", NULL), 0);
  rm_rf(root);
}

static void test_layer_table(void) {
  const eql_layer *l = eql_layer_find("equinox.nn.MLP");
  CU_ASSERT_PTR_NOT_NULL_FATAL(l);
  CU_ASSERT_EQUAL(l->nonarray, EQL_YES);
  l = eql_layer_find("equinox.nn.Linear");
  CU_ASSERT_PTR_NOT_NULL_FATAL(l);
  CU_ASSERT_EQUAL(l->nonarray, EQL_NO);
  l = eql_layer_find("equinox.nn.Sequential");
  CU_ASSERT_PTR_NOT_NULL_FATAL(l);
  CU_ASSERT_EQUAL(l->nonarray, EQL_MAYBE);
  CU_ASSERT_PTR_NULL(eql_layer_find("torch.nn.Linear"));
  CU_ASSERT_PTR_NULL(eql_layer_find("equinox.nn.NoSuchLayer"));
}

static void test_project_update(void) {
  /* editor flow: replace a buffer, the index follows */
  eql_project *p = eql_project_new();
  const char *m1 = "import equinox as eqx\nclass M(eqx.Module):\n    w: int\n";
  const char *m2 = "import equinox as eqx\nfrom typing import Callable\nclass M(eqx.Module):\n    f: Callable\n";
  const char *t = "import optax\nfrom m import M\noptax.adam(1).init(M())\n";
  CU_ASSERT_EQUAL(eql_project_add_source(p, "m.py", m1, strlen(m1)), 0);
  CU_ASSERT_EQUAL(eql_project_add_source(p, "t.py", t, strlen(t)), 0);
  eql_ruleset rs;
  eql_ruleset_all(&rs);
  eql_diag_list out;
  eql_diag_list_init(&out);
  CU_ASSERT_EQUAL(eql_project_run_file(p, "t.py", &rs, &out), 0);
  CU_ASSERT_EQUAL(out.n, 0);
  CU_ASSERT_EQUAL(eql_project_set_source(p, "m.py", m2, strlen(m2)), 0);
  CU_ASSERT_EQUAL(eql_project_run_file(p, "t.py", &rs, &out), 0);
  CU_ASSERT_EQUAL(out.n, 1);
  CU_ASSERT_EQUAL(eql_project_remove(p, "m.py"), 0);
  CU_ASSERT_EQUAL(eql_project_remove(p, "m.py"), -1);
  eql_diag_list_free(&out);
  CU_ASSERT_EQUAL(eql_project_run_file(p, "t.py", &rs, &out), 0);
  CU_ASSERT_EQUAL(out.n, 0);
  eql_diag_list_free(&out);
  eql_project_free(p);
}

int main(void) {
  static const eql_test tests[] = {
    EQL_TEST(test_module_names),
    EQL_TEST(test_cross_file_resolution),
    EQL_TEST(test_same_module_name_nearest_wins),
    EQL_TEST(test_inheritance_cycle_terminates),
    EQL_TEST(test_layer_table),
    EQL_TEST(test_project_update),
  };
  return eql_cunit_run("index", tests, sizeof tests / sizeof *tests);
}
