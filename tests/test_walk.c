/* Unit tests for discovery (walk.c). Each test builds its own tree under a fresh temporary
 * directory, so the results do not depend on the checkout, and removes it afterwards. */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cunit_main.h"
#include "eqlint/walk.h"

/* Paths built with printf into a fixed buffer; the temporary root is short. */
static char *fmt_path(char *buf, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static char *fmt_path(char *buf, size_t n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, n, fmt, ap);
  va_end(ap);
  return buf;
}

static void touch(const char *root, const char *rel) {
  char p[PATH_MAX];
  FILE *f = fopen(fmt_path(p, sizeof p, "%s/%s", root, rel), "w");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  fputs("x = 1\n", f);
  fclose(f);
}

static void mkdir_in(const char *root, const char *rel) {
  char p[PATH_MAX];
  CU_ASSERT_EQUAL_FATAL(mkdir(fmt_path(p, sizeof p, "%s/%s", root, rel), 0755), 0);
}

static void symlink_in(const char *root, const char *target, const char *rel) {
  char p[PATH_MAX];
  CU_ASSERT_EQUAL_FATAL(symlink(target, fmt_path(p, sizeof p, "%s/%s", root, rel)), 0);
}

static char *make_root(void) {
  char tmpl[] = "/tmp/eqlint-walk-XXXXXX";
  char *d = mkdtemp(tmpl);
  CU_ASSERT_PTR_NOT_NULL_FATAL(d);
  return strdup(d);
}

static void remove_root(char *root) {
  char cmd[PATH_MAX + 16];
  /* chmod first: a test may have left a directory unreadable. */
  snprintf(cmd, sizeof cmd, "chmod -R u+rwx '%s' 2>/dev/null; rm -rf '%s'", root, root);
  CU_ASSERT_EQUAL(system(cmd), 0);
  free(root);
}

/* Errors seen through the callback. */
typedef struct {
  int n;
  char path[8][PATH_MAX];
  char reason[8][128];
} errors;

static void on_error(void *ud, const char *path, const char *reason) {
  errors *e = ud;
  if (e->n < 8) {
    snprintf(e->path[e->n], sizeof e->path[e->n], "%s", path);
    snprintf(e->reason[e->n], sizeof e->reason[e->n], "%s", reason);
  }
  e->n++;
}

/* Asserts that files holds exactly the paths root/rel[i], in this order. */
static void assert_files(const eql_walk_files *files, const char *root, const char *const *rel,
                         size_t n) {
  CU_ASSERT_EQUAL(files->n, n);
  for (size_t i = 0; i < n && i < files->n; i++) {
    char want[PATH_MAX];
    if (root && *root)
      snprintf(want, sizeof want, "%s/%s", root, rel[i]);
    else
      snprintf(want, sizeof want, "%s", rel[i]);
    if (strcmp(files->paths[i], want) != 0)
      fprintf(stderr, "\n  file %zu: got %s, want %s\n", i, files->paths[i], want);
    CU_ASSERT_STRING_EQUAL(files->paths[i], want);
  }
}

/* The tree every discovery test starts from: sources, things to skip, links. */
static char *make_tree(void) {
  char *root = make_root();
  touch(root, "a.py");
  touch(root, "z.py");
  touch(root, "notes.txt");
  touch(root, "script"); /* no extension: only checked when named explicitly */
  mkdir_in(root, "sub");
  touch(root, "sub/c.py");
  mkdir_in(root, "sub/deeper");
  touch(root, "sub/deeper/d.py");
  mkdir_in(root, ".hidden");
  touch(root, ".hidden/h.py");
  mkdir_in(root, ".venv");
  touch(root, ".venv/v.py");
  mkdir_in(root, "__pycache__");
  touch(root, "__pycache__/cached.py");
  mkdir_in(root, "node_modules");
  touch(root, "node_modules/n.py");
  mkdir_in(root, "site-packages");
  touch(root, "site-packages/s.py");
  /* A virtual environment under an ordinary name: recognised by its pyvenv.cfg. */
  mkdir_in(root, "myenv");
  touch(root, "myenv/pyvenv.cfg");
  mkdir_in(root, "myenv/lib");
  touch(root, "myenv/lib/venvmod.py");
  /* `env` and `build` without the marker are ordinary source directories. */
  mkdir_in(root, "env");
  touch(root, "env/e.py");
  mkdir_in(root, "build");
  touch(root, "build/b.py");
  /* Loops: the root inside itself, and a child pointing back to its parent. */
  symlink_in(root, ".", "loop");
  symlink_in(root, "..", "sub/up");
  /* Another name for a.py (checked once), and a link to nowhere (skipped silently). */
  symlink_in(root, "a.py", "link_a.py");
  symlink_in(root, "missing-target.py", "dangling.py");
  return root;
}

static const char *const tree_files[] = {"a.py",     "build/b.py",      "env/e.py",
                                         "sub/c.py", "sub/deeper/d.py", "z.py"};

static void test_tree_sorted_and_skipping(void) {
  char *root = make_tree();
  eql_walk_files files;
  eql_walk_files_init(&files);
  errors e = {0};
  const char *roots[] = {root};
  long rc = eql_walk(roots, 1, &files, on_error, &e);
  CU_ASSERT_EQUAL(rc, 0);
  CU_ASSERT_EQUAL(e.n, 0);
  assert_files(&files, root, tree_files, sizeof tree_files / sizeof *tree_files);
  eql_walk_files_free(&files);
  remove_root(root);
}

static void test_trailing_slash_and_dot(void) {
  char *root = make_tree();
  eql_walk_files files;
  eql_walk_files_init(&files);
  errors e = {0};
  /* "root//" displays as "root/a.py", not "root///a.py". */
  char slashed[PATH_MAX];
  snprintf(slashed, sizeof slashed, "%s//", root);
  const char *roots[] = {slashed};
  CU_ASSERT_EQUAL(eql_walk(roots, 1, &files, on_error, &e), 0);
  assert_files(&files, root, tree_files, sizeof tree_files / sizeof *tree_files);
  eql_walk_files_free(&files);

  /* No roots means "." and gives bare relative paths, as users type them. */
  char cwd[PATH_MAX];
  CU_ASSERT_PTR_NOT_NULL_FATAL(getcwd(cwd, sizeof cwd));
  CU_ASSERT_EQUAL_FATAL(chdir(root), 0);
  eql_walk_files_init(&files);
  long rc = eql_walk(NULL, 0, &files, on_error, &e);
  CU_ASSERT_EQUAL(chdir(cwd), 0);
  CU_ASSERT_EQUAL(rc, 0);
  assert_files(&files, "", tree_files, sizeof tree_files / sizeof *tree_files);
  eql_walk_files_free(&files);

  /* "./" is "." too. */
  CU_ASSERT_EQUAL_FATAL(chdir(root), 0);
  const char *dot[] = {"./"};
  eql_walk_files_init(&files);
  rc = eql_walk(dot, 1, &files, on_error, &e);
  CU_ASSERT_EQUAL(chdir(cwd), 0);
  CU_ASSERT_EQUAL(rc, 0);
  assert_files(&files, "", tree_files, sizeof tree_files / sizeof *tree_files);
  eql_walk_files_free(&files);
  CU_ASSERT_EQUAL(e.n, 0);
  remove_root(root);
}

static void test_link_out_of_root_stops_at_loops(void) {
  /* Walking sub/: its `up` link leads to the parent, whose `sub` and `loop` entries lead
   * back to directories already on the path, so each is entered once. a.py is reached only
   * as up/a.py (its other name, up/link_a.py, is the same file). */
  char *root = make_tree();
  char sub[PATH_MAX];
  fmt_path(sub, sizeof sub, "%s/sub", root);
  const char *roots[] = {sub};
  eql_walk_files files;
  eql_walk_files_init(&files);
  errors e = {0};
  CU_ASSERT_EQUAL(eql_walk(roots, 1, &files, on_error, &e), 0);
  CU_ASSERT_EQUAL(e.n, 0);
  const char *const want[] = {"c.py",          "deeper/d.py",    "up/a.py",
                              "up/build/b.py", "up/env/e.py",    "up/z.py"};
  assert_files(&files, sub, want, sizeof want / sizeof *want);
  eql_walk_files_free(&files);
  remove_root(root);
}

static void test_explicit_paths(void) {
  char *root = make_tree();
  char script[PATH_MAX], hidden[PATH_MAX], a[PATH_MAX], link[PATH_MAX];
  fmt_path(script, sizeof script, "%s/script", root);
  fmt_path(hidden, sizeof hidden, "%s/.hidden", root);
  fmt_path(a, sizeof a, "%s/a.py", root);
  fmt_path(link, sizeof link, "%s/link_a.py", root);
  /* A file named explicitly is checked whatever its extension; a directory named explicitly
   * is walked even if it would be skipped inside another; a file given twice (or under a
   * second name) is listed once, under the first name. */
  const char *roots[] = {script, hidden, a, a, link};
  eql_walk_files files;
  eql_walk_files_init(&files);
  errors e = {0};
  CU_ASSERT_EQUAL(eql_walk(roots, 5, &files, on_error, &e), 0);
  CU_ASSERT_EQUAL(e.n, 0);
  const char *const want[] = {"script", ".hidden/h.py", "a.py"};
  assert_files(&files, root, want, 3);
  eql_walk_files_free(&files);
  remove_root(root);
}

static void test_missing_path_reported_and_walk_goes_on(void) {
  char *root = make_tree();
  char missing[PATH_MAX], sub[PATH_MAX];
  fmt_path(missing, sizeof missing, "%s/no-such-file.py", root);
  /* (not sub/ itself: its `up` link leads out of it, to the whole tree) */
  fmt_path(sub, sizeof sub, "%s/sub/deeper", root);
  const char *roots[] = {missing, sub, ""};
  eql_walk_files files;
  eql_walk_files_init(&files);
  errors e = {0};
  long rc = eql_walk(roots, 3, &files, on_error, &e);
  CU_ASSERT_EQUAL(rc, 2);
  CU_ASSERT_EQUAL(e.n, 2);
  CU_ASSERT_STRING_EQUAL(e.path[0], missing);
  CU_ASSERT_STRING_EQUAL(e.reason[0], strerror(ENOENT));
  CU_ASSERT_STRING_EQUAL(e.path[1], "");
  const char *const want[] = {"d.py"};
  assert_files(&files, sub, want, 1);
  eql_walk_files_free(&files);

  /* No callback: problems are still counted. */
  eql_walk_files_init(&files);
  CU_ASSERT_EQUAL(eql_walk(roots, 1, &files, NULL, NULL), 1);
  CU_ASSERT_EQUAL(files.n, 0);
  eql_walk_files_free(&files);
  remove_root(root);
}

static void test_unreadable_entries(void) {
  char *root = make_root();
  touch(root, "ok.py");
  /* A link that points at itself cannot be resolved even by root: ELOOP. */
  symlink_in(root, "self.py", "self.py");
  mkdir_in(root, "locked");
  touch(root, "locked/inside.py");
  char locked[PATH_MAX];
  fmt_path(locked, sizeof locked, "%s/locked", root);
  CU_ASSERT_EQUAL(chmod(locked, 0), 0);
  /* root (as in CI containers) reads a mode-000 directory anyway. */
  int privileged = access(locked, R_OK) == 0;

  const char *roots[] = {root};
  eql_walk_files files;
  eql_walk_files_init(&files);
  errors e = {0};
  long rc = eql_walk(roots, 1, &files, on_error, &e);
  char selfpath[PATH_MAX];
  fmt_path(selfpath, sizeof selfpath, "%s/self.py", root);
  if (privileged) {
    printf("\n  note: running with privileges that read mode-000 directories; "
           "the unreadable-directory assertion is skipped\n");
    CU_ASSERT_EQUAL(rc, 1);
    CU_ASSERT_EQUAL(e.n, 1);
    CU_ASSERT_STRING_EQUAL(e.path[0], selfpath);
    const char *const want[] = {"locked/inside.py", "ok.py"};
    assert_files(&files, root, want, 2);
  } else {
    CU_ASSERT_EQUAL(rc, 2);
    CU_ASSERT_EQUAL(e.n, 2);
    CU_ASSERT_STRING_EQUAL(e.path[0], locked);
    CU_ASSERT_STRING_EQUAL(e.reason[0], strerror(EACCES));
    CU_ASSERT_STRING_EQUAL(e.path[1], selfpath);
    const char *const want[] = {"ok.py"};
    assert_files(&files, root, want, 1);
  }
  CU_ASSERT_STRING_EQUAL(e.reason[privileged ? 0 : 1], strerror(ELOOP));
  eql_walk_files_free(&files);
  remove_root(root);
}

static void test_skip_dir_predicate(void) {
  char *root = make_tree();
  CU_ASSERT_TRUE(eql_walk_skip_dir(root, ".git"));
  CU_ASSERT_TRUE(eql_walk_skip_dir(root, "__pycache__"));
  CU_ASSERT_TRUE(eql_walk_skip_dir(root, "node_modules"));
  CU_ASSERT_TRUE(eql_walk_skip_dir(root, "site-packages"));
  CU_ASSERT_TRUE(eql_walk_skip_dir(root, "myenv"));
  CU_ASSERT_FALSE(eql_walk_skip_dir(root, "env"));
  CU_ASSERT_FALSE(eql_walk_skip_dir(root, "build"));
  CU_ASSERT_FALSE(eql_walk_skip_dir(root, "sub"));
  CU_ASSERT_TRUE(eql_walk_is_python("a.py"));
  CU_ASSERT_TRUE(eql_walk_is_python("pkg.tar.py"));
  CU_ASSERT_FALSE(eql_walk_is_python(".py"));
  CU_ASSERT_FALSE(eql_walk_is_python("a.pyc"));
  CU_ASSERT_FALSE(eql_walk_is_python("a.py~"));
  remove_root(root);
}

static void test_many_files_deterministic(void) {
  /* Enough entries to grow every internal table; names created in reverse order. */
  char *root = make_root();
  for (int i = 599; i >= 0; i--) {
    char rel[32];
    snprintf(rel, sizeof rel, "m%03d.py", i);
    touch(root, rel);
  }
  const char *roots[] = {root};
  eql_walk_files files;
  eql_walk_files_init(&files);
  CU_ASSERT_EQUAL(eql_walk(roots, 1, &files, NULL, NULL), 0);
  CU_ASSERT_EQUAL_FATAL(files.n, 600);
  for (size_t i = 0; i < files.n; i++) {
    char want[PATH_MAX];
    snprintf(want, sizeof want, "%s/m%03zu.py", root, i);
    CU_ASSERT_STRING_EQUAL(files.paths[i], want);
  }
  eql_walk_files_free(&files);
  remove_root(root);
}

int main(void) {
  static const eql_test tests[] = {
      EQL_TEST(test_tree_sorted_and_skipping),
      EQL_TEST(test_trailing_slash_and_dot),
      EQL_TEST(test_link_out_of_root_stops_at_loops),
      EQL_TEST(test_explicit_paths),
      EQL_TEST(test_missing_path_reported_and_walk_goes_on),
      EQL_TEST(test_unreadable_entries),
      EQL_TEST(test_skip_dir_predicate),
      EQL_TEST(test_many_files_deterministic),
  };
  return eql_cunit_run("walk", tests, sizeof tests / sizeof *tests);
}
