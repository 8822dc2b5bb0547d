/* Unit tests for discovery (walk.c). Each test builds its own tree under a fresh temporary
 * directory, so the results do not depend on the checkout, and removes it afterwards. The
 * git tests make real repositories with the git command, so what is checked is git's own
 * reading of the ignore files, not ours. */
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

/* ---- .gitignore ---- */

static void write_in(const char *root, const char *rel, const char *text) {
  char p[PATH_MAX];
  FILE *f = fopen(fmt_path(p, sizeof p, "%s/%s", root, rel), "w");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  fputs(text, f);
  fclose(f);
}

static void git_init(const char *dir) {
  char cmd[PATH_MAX + 64];
  snprintf(cmd, sizeof cmd, "git init -q '%s' 2>/dev/null", dir);
  CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
}

/* A repository exercising the ignore sources libgit2 must combine:
 *   .gitignore          *.gen.py, a negation, a directory-only pattern, an anchored name
 *   sub/.gitignore      a nested file whose rules apply below sub/ only
 *   .git/info/exclude   the repository's private list */
static char *make_repo(void) {
  char *root = make_root();
  git_init(root);
  write_in(root, ".gitignore", "# generated code\n*.gen.py\n!keep.gen.py\nbuild/\n/top_only.py\n");
  write_in(root, ".git/info/exclude", "secret.py\n");
  touch(root, "a.py");
  touch(root, "x.gen.py");
  touch(root, "keep.gen.py");
  touch(root, "top_only.py");
  touch(root, "secret.py");
  touch(root, "local.py");
  mkdir_in(root, "build");
  touch(root, "build/b.py");
  mkdir_in(root, "sub");
  write_in(root, "sub/.gitignore", "local.py\n");
  touch(root, "sub/c.py");
  touch(root, "sub/local.py");
  touch(root, "sub/top_only.py");
  touch(root, "sub/y.gen.py");
  return root;
}

static void test_gitignore_rules(void) {
  char *root = make_repo();
  const char *roots[] = {root};
  eql_walk_files files;
  eql_walk_files_init(&files);
  errors e = {0};
  CU_ASSERT_EQUAL(eql_walk(roots, 1, &files, on_error, &e), 0);
  const char *const want[] = {"a.py", "keep.gen.py", "local.py", "sub/c.py", "sub/top_only.py"};
  assert_files(&files, root, want, sizeof want / sizeof *want);
  eql_walk_files_free(&files);

  /* Walking from inside the repository: the rules of the directories above still apply. */
  char sub[PATH_MAX];
  const char *subroot[] = {fmt_path(sub, sizeof sub, "%s/sub", root)};
  eql_walk_files_init(&files);
  CU_ASSERT_EQUAL(eql_walk(subroot, 1, &files, on_error, &e), 0);
  const char *const want_sub[] = {"c.py", "top_only.py"};
  assert_files(&files, sub, want_sub, 2);
  eql_walk_files_free(&files);

  /* Relative roots (as typed) give the same answer as absolute ones. */
  char cwd[PATH_MAX];
  CU_ASSERT_PTR_NOT_NULL_FATAL(getcwd(cwd, sizeof cwd));
  CU_ASSERT_EQUAL_FATAL(chdir(root), 0);
  const char *rel[] = {"sub"};
  eql_walk_files_init(&files);
  long rc = eql_walk(rel, 1, &files, on_error, &e);
  CU_ASSERT_EQUAL(chdir(cwd), 0);
  CU_ASSERT_EQUAL(rc, 0);
  assert_files(&files, "sub", want_sub, 2);
  eql_walk_files_free(&files);

  /* Turned off, everything is listed. */
  eql_walk_options off = {.gitignore = false};
  eql_walk_files_init(&files);
  CU_ASSERT_EQUAL(eql_walk_ex(roots, 1, &off, &files, on_error, &e), 0);
  CU_ASSERT_EQUAL(files.n, 11);
  eql_walk_files_free(&files);
  CU_ASSERT_EQUAL(e.n, 0);
  remove_root(root);
}

static void test_gitignore_explicit_paths(void) {
  char *root = make_repo();
  char gen[PATH_MAX], build[PATH_MAX], secret[PATH_MAX];
  fmt_path(gen, sizeof gen, "%s/x.gen.py", root);
  fmt_path(build, sizeof build, "%s/build", root);
  fmt_path(secret, sizeof secret, "%s/secret.py", root);
  /* Named explicitly, ignored files and directories are checked (as in Ruff)... */
  const char *roots[] = {gen, build, secret};
  eql_walk_files files;
  eql_walk_files_init(&files);
  CU_ASSERT_EQUAL(eql_walk(roots, 3, &files, NULL, NULL), 0);
  CU_ASSERT_EQUAL(files.n, 3);
  if (files.n == 3) {
    CU_ASSERT_STRING_EQUAL(files.paths[0], gen);
    CU_ASSERT_STRING_EQUAL(files.paths[2], secret);
  }
  eql_walk_files_free(&files);
  /* ...unless force_exclude says otherwise. */
  eql_walk_options force = {.gitignore = true, .force_exclude = true};
  eql_walk_files_init(&files);
  CU_ASSERT_EQUAL(eql_walk_ex(roots, 3, &force, &files, NULL, NULL), 0);
  CU_ASSERT_EQUAL(files.n, 0);
  eql_walk_files_free(&files);
  remove_root(root);
}

static void test_gitignore_outside_and_nested_repos(void) {
  /* No repository: a .gitignore means nothing (no home-made imitation of git). */
  char *plain = make_root();
  write_in(plain, ".gitignore", "ignored.py\n");
  touch(plain, "ignored.py");
  const char *roots[] = {plain};
  eql_walk_files files;
  eql_walk_files_init(&files);
  CU_ASSERT_EQUAL(eql_walk(roots, 1, &files, NULL, NULL), 0);
  const char *const want_plain[] = {"ignored.py"};
  assert_files(&files, plain, want_plain, 1);
  eql_walk_files_free(&files);
  remove_root(plain);

  /* A repository inside another has its own rules; the outer ones stop at its border. */
  char *root = make_root();
  git_init(root);
  write_in(root, ".gitignore", "*.tmp.py\n");
  touch(root, "outer.tmp.py");
  touch(root, "outer.py");
  mkdir_in(root, "inner");
  char inner[PATH_MAX];
  git_init(fmt_path(inner, sizeof inner, "%s/inner", root));
  write_in(root, "inner/.gitignore", "y.py\n");
  touch(root, "inner/x.tmp.py");
  touch(root, "inner/y.py");
  touch(root, "inner/z.py");
  const char *outer[] = {root};
  eql_walk_files_init(&files);
  CU_ASSERT_EQUAL(eql_walk(outer, 1, &files, NULL, NULL), 0);
  const char *const want[] = {"inner/x.tmp.py", "inner/z.py", "outer.py"};
  assert_files(&files, root, want, 3);
  eql_walk_files_free(&files);
  remove_root(root);
}

/* ---- the exclusion hook ---- */

typedef struct {
  int calls, explicit_calls;
} hook_state;

static bool exclude_named_skip(void *ud, const char *path, bool is_dir, bool explicit_path) {
  hook_state *h = ud;
  h->calls++;
  if (explicit_path) h->explicit_calls++;
  const char *slash = strrchr(path, '/');
  const char *name = slash ? slash + 1 : path;
  return strncmp(name, "skip", 4) == 0 || (is_dir && strcmp(name, "node_modules") == 0);
}

static void test_exclude_hook(void) {
  char *root = make_root();
  touch(root, "a.py");
  touch(root, "skip_me.py");
  mkdir_in(root, "skipdir");
  touch(root, "skipdir/s.py");
  /* The hook replaces the built-in names: a hidden directory is walked... */
  mkdir_in(root, ".hidden");
  touch(root, ".hidden/h.py");
  mkdir_in(root, "node_modules");
  touch(root, "node_modules/n.py");
  /* ...but .git and virtual environments are skipped whatever the hook says. */
  mkdir_in(root, ".git");
  touch(root, ".git/g.py");
  mkdir_in(root, "venv");
  touch(root, "venv/pyvenv.cfg");
  touch(root, "venv/v.py");
  hook_state h = {0};
  eql_walk_options o = {.exclude = exclude_named_skip, .exclude_ud = &h};
  const char *roots[] = {root};
  eql_walk_files files;
  eql_walk_files_init(&files);
  CU_ASSERT_EQUAL(eql_walk_ex(roots, 1, &o, &files, NULL, NULL), 0);
  const char *const want[] = {".hidden/h.py", "a.py"};
  assert_files(&files, root, want, 2);
  CU_ASSERT_TRUE(h.calls > 0);
  CU_ASSERT_EQUAL(h.explicit_calls, 0);
  eql_walk_files_free(&files);

  /* Explicit paths: the hook is asked only with force_exclude, and told they are explicit. */
  char skip[PATH_MAX];
  const char *given[] = {fmt_path(skip, sizeof skip, "%s/skip_me.py", root)};
  eql_walk_files_init(&files);
  CU_ASSERT_EQUAL(eql_walk_ex(given, 1, &o, &files, NULL, NULL), 0);
  CU_ASSERT_EQUAL(files.n, 1);
  eql_walk_files_free(&files);
  o.force_exclude = true;
  h = (hook_state){0};
  eql_walk_files_init(&files);
  CU_ASSERT_EQUAL(eql_walk_ex(given, 1, &o, &files, NULL, NULL), 0);
  CU_ASSERT_EQUAL(files.n, 0);
  CU_ASSERT_EQUAL(h.explicit_calls, 1);
  eql_walk_files_free(&files);
  remove_root(root);
}

int main(void) {
  /* Keep the user's git configuration (a global excludes file) out of the results. */
  setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
  setenv("HOME", "/nonexistent-eqlint-test-home", 1);
  setenv("XDG_CONFIG_HOME", "/nonexistent-eqlint-test-home", 1);
  static const eql_test tests[] = {
      EQL_TEST(test_tree_sorted_and_skipping),
      EQL_TEST(test_trailing_slash_and_dot),
      EQL_TEST(test_link_out_of_root_stops_at_loops),
      EQL_TEST(test_explicit_paths),
      EQL_TEST(test_missing_path_reported_and_walk_goes_on),
      EQL_TEST(test_unreadable_entries),
      EQL_TEST(test_skip_dir_predicate),
      EQL_TEST(test_many_files_deterministic),
      EQL_TEST(test_gitignore_rules),
      EQL_TEST(test_gitignore_explicit_paths),
      EQL_TEST(test_gitignore_outside_and_nested_repos),
      EQL_TEST(test_exclude_hook),
  };
  return eql_cunit_run("walk", tests, sizeof tests / sizeof *tests);
}
