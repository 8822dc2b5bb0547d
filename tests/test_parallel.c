/* Unit tests of the driver at scale: parallel passes give exactly the sequential result, and
 * the prefilter skips files that cannot matter while the index still reaches every Module
 * class an imported file defines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cunit_main.h"
#include "eqlint/check.h"

static char root[256];

static void write_file(const char *rel, const char *text) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", root, rel);
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

static void on_error(const char *path, const char *reason, void *ud) {
  (void)path;
  (void)reason;
  (*(int *)ud)++;
}

/* Checks every file named in rels with `jobs` threads; renders diagnostics to one string. */
static char *check(const char **rels, size_t n, int jobs, size_t *nskipped, int *errors) {
  eql_project *p = eql_project_new();
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  char **paths = calloc(n, sizeof *paths);
  for (size_t i = 0; i < n; i++) {
    paths[i] = malloc(512);
    snprintf(paths[i], 512, "%s/%s", root, rels[i]);
  }
  *errors = 0;
  CU_ASSERT_TRUE(eql_project_add_files(p, (const char *const *)paths, n, jobs, on_error, errors) >= 0);
  eql_project_set_jobs(p, jobs);
  eql_ruleset rs;
  eql_ruleset_all(&rs);
  eql_diag_list out;
  eql_diag_list_init(&out);
  CU_ASSERT_EQUAL(eql_project_run(p, &rs, &out), 0);
  *nskipped = eql_project_nskipped(p);
  size_t cap = 1 << 16, len = 0;
  char *s = calloc(cap, 1);
  for (size_t i = 0; i < out.n && len + 600 < cap; i++)
    len += (size_t)snprintf(s + len, cap - len, "%s:%u:%u:%s %s\n", out.items[i].path,
                            out.items[i].span.line, out.items[i].span.col,
                            eql_rules[out.items[i].rule].code, out.items[i].message);
  eql_diag_list_free(&out);
  eql_project_free(p);
  for (size_t i = 0; i < n; i++) free(paths[i]);
  free(paths);
  return s;
}

static void test_parallel_equals_sequential_and_prefilter(void) {
  snprintf(root, sizeof root, "/tmp/eqlint-par-XXXXXX");
  CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(root));
  /* base.py mentions equinox; blocks.py subclasses its Module without naming jax/equinox */
  write_file("base.py", "import equinox as eqx\nfrom typing import Callable\n"
                        "class Base(eqx.Module):\n    act: Callable\n");
  write_file("blocks.py", "from base import Base\nclass Block(Base):\n    width: int\n");
  write_file("plain.py", "def add(a, b):\n    return a + b\n");
  write_file("unrelated.py", "class Config:\n    depth = 3\n");
  enum { N = 40 };
  const char *rels[N + 5];
  char names[N][32];
  size_t n = 0;
  rels[n++] = "base.py";
  rels[n++] = "blocks.py";
  rels[n++] = "plain.py";
  rels[n++] = "unrelated.py";
  rels[n++] = "missing.py";
  for (int i = 0; i < N; i++) {
    snprintf(names[i], sizeof names[i], "train%02d.py", i);
    write_file(names[i], i % 2 ? "import optax\nfrom blocks import Block\nopt = optax.adam(1)\n"
                                 "state = opt.init(Block())\n"
                               : "import optax\nfrom blocks import Block\nimport equinox as eqx\n"
                                 "opt = optax.adam(1)\nstate = opt.init(eqx.filter(Block(), eqx.is_array))\n");
    rels[n++] = names[i];
  }
  size_t sk1, sk4;
  int e1, e4;
  char *seq = check(rels, n, 1, &sk1, &e1);
  char *par = check(rels, n, 4, &sk4, &e4);
  CU_ASSERT_STRING_EQUAL(seq, par);
  CU_ASSERT_EQUAL(e1, 1); /* missing.py, reported and skipped */
  CU_ASSERT_EQUAL(e4, 1);
  /* plain.py and unrelated.py are never parsed; blocks.py is, because trainNN imports it */
  CU_ASSERT_EQUAL(sk1, 2);
  CU_ASSERT_EQUAL(sk4, 2);
  /* 20 unfiltered inits through the subclass defined in a prefiltered file */
  int lines = 0;
  for (const char *c = seq; *c; c++) lines += *c == '\n';
  CU_ASSERT_EQUAL(lines, N / 2);
  CU_ASSERT_PTR_NOT_NULL(strstr(seq, "it inherits from `Base`"));
  free(seq);
  free(par);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  CU_ASSERT_EQUAL(system(cmd), 0);
}

int main(void) {
  static const eql_test tests[] = {
    EQL_TEST(test_parallel_equals_sequential_and_prefilter),
  };
  return eql_cunit_run("parallel", tests, sizeof tests / sizeof *tests);
}
