/* Unit tests for configuration (config.c): the TOML → settings mapping with every key and
 * every error at its line:col, rule selection and its precedence, per-file-ignores and
 * exclude globs, and discovery through a store (hierarchy, --isolated, --config, src,
 * respect-gitignore). File-system tests build their trees under a fresh temporary
 * directory and chdir into it, because a store resolves relative paths against the working
 * directory of its creation. */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cunit_main.h"
#include "eqlint/config.h"

/* ---- helpers ---- */

static eql_config *parse_ok(const char *name, const char *text) {
  eql_config *cfg = NULL;
  eql_config_error err;
  memset(&err, 0, sizeof err);
  eql_config_status st = eql_config_parse(name, text, strlen(text), &cfg, &err);
  if (st != EQL_CONFIG_OK)
    fprintf(stderr, "\n  unexpected failure %d: %s:%u:%u: %s\n", st, err.path, err.line, err.col,
            err.message);
  CU_ASSERT_EQUAL(st, EQL_CONFIG_OK);
  CU_ASSERT_PTR_NOT_NULL(cfg);
  return cfg;
}

static int rule(const char *code) {
  int r = eql_rule_find(code);
  CU_ASSERT_TRUE_FATAL(r >= 0);
  return r;
}

/* The rules on for `path` under cfg and cli, as "EQX001 EQX003" (codes in registry order,
 * driver codes left out so the strings stay short). */
static const char *on_for(const eql_config *cfg, const eql_config_cli *cli, const char *path) {
  static char buf[512];
  eql_ruleset rs;
  eql_config_ruleset(cfg, cli, path, &rs);
  size_t k = 0;
  buf[0] = 0;
  for (int r = 0; r < EQL_RULE_COUNT; r++) {
    if (!rs.on[r] || !eql_rules[r].check) continue;
    k += (size_t)snprintf(buf + k, sizeof buf - k, "%s%s", k ? " " : "", eql_rules[r].code);
  }
  return buf;
}

/* Every pitfall rule that exists in this build (rules.def grows), space-separated. */
static const char *all_checks(void) {
  static char buf[512];
  size_t k = 0;
  buf[0] = 0;
  for (int r = 0; r < EQL_RULE_COUNT; r++)
    if (eql_rules[r].check)
      k += (size_t)snprintf(buf + k, sizeof buf - k, "%s%s", k ? " " : "", eql_rules[r].code);
  return buf;
}

static char *fmt(char *buf, size_t n, const char *f, ...) __attribute__((format(printf, 3, 4)));
static char *fmt(char *buf, size_t n, const char *f, ...) {
  va_list ap;
  va_start(ap, f);
  vsnprintf(buf, n, f, ap);
  va_end(ap);
  return buf;
}

static void write_file(const char *root, const char *rel, const char *text) {
  char p[PATH_MAX];
  FILE *f = fopen(fmt(p, sizeof p, "%s/%s", root, rel), "w");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  fputs(text, f);
  fclose(f);
}

static void mkdir_in(const char *root, const char *rel) {
  char p[PATH_MAX];
  CU_ASSERT_EQUAL_FATAL(mkdir(fmt(p, sizeof p, "%s/%s", root, rel), 0755), 0);
}

static char saved_cwd[PATH_MAX];

/* A fresh directory, made the working directory. Its real path (no /tmp link games). */
static char *enter_root(void) {
  char tmpl[] = "/tmp/eqlint-config-XXXXXX";
  CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(tmpl));
  char *real = realpath(tmpl, NULL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(real);
  CU_ASSERT_PTR_NOT_NULL_FATAL(getcwd(saved_cwd, sizeof saved_cwd));
  CU_ASSERT_EQUAL_FATAL(chdir(real), 0);
  return real;
}

static void leave_root(char *root) {
  CU_ASSERT_EQUAL(chdir(saved_cwd), 0);
  char cmd[PATH_MAX + 32];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  CU_ASSERT_EQUAL(system(cmd), 0);
  free(root);
}

static bool has(const eql_walk_files *f, const char *path) {
  for (size_t i = 0; i < f->n; i++)
    if (strcmp(f->paths[i], path) == 0) return true;
  return false;
}

static void print_files(const char *what, const eql_walk_files *f) {
  fprintf(stderr, "\n  %s:", what);
  for (size_t i = 0; i < f->n; i++) fprintf(stderr, " %s", f->paths[i]);
  fprintf(stderr, "\n");
}

/* ---- the mapping: every key ---- */

static void test_every_key(void) {
  const char *text =
      "# every key eqlint reads, at the top level of an eqlint.toml\n"
      "select = [\"EQX0\"]\n"
      "extend-select = [\"EQX999\"]\n"
      "ignore = [\"EQX002\"]\n"
      "exclude = [\"generated\", \"build/\"]\n"
      "extend-exclude = [\"legacy/*.py\"]\n"
      "src = [\"lib\", \"../shared\"]\n"
      "respect-gitignore = false\n"
      "force-exclude = true\n"
      "\n"
      "[per-file-ignores]\n"
      "\"tests/*.py\" = [\"EQX001\"]\n"
      "\"**/__init__.py\" = [\"EQX003\", \"EQX999\"]\n"
      "\n"
      "[rules.EQX013]\n"
      "exclude-tests = true\n";
  eql_config *cfg = parse_ok("/proj/eqlint.toml", text);
  if (!cfg) return;
  CU_ASSERT_STRING_EQUAL(eql_config_path(cfg), "/proj/eqlint.toml");
  CU_ASSERT_STRING_EQUAL(eql_config_root(cfg), "/proj");

  /* select EQX0 + extend-select EQX999 - ignore EQX002 */
  eql_ruleset rs;
  eql_config_ruleset(cfg, NULL, "/proj/model.py", &rs);
  CU_ASSERT_TRUE(rs.on[rule("EQX001")]);
  CU_ASSERT_FALSE(rs.on[rule("EQX002")]);
  CU_ASSERT_TRUE(rs.on[rule("EQX003")]);
  CU_ASSERT_TRUE(rs.on[rule("EQX999")]);
  CU_ASSERT_FALSE(rs.on[rule("EQX900")]); /* not selected: EQX9 is outside EQX0 */

  /* per-file-ignores, relative to /proj */
  eql_config_ruleset(cfg, NULL, "/proj/tests/test_model.py", &rs);
  CU_ASSERT_FALSE(rs.on[rule("EQX001")]);
  CU_ASSERT_TRUE(rs.on[rule("EQX003")]);
  eql_config_ruleset(cfg, NULL, "/proj/pkg/sub/__init__.py", &rs);
  CU_ASSERT_FALSE(rs.on[rule("EQX003")]);
  CU_ASSERT_FALSE(rs.on[rule("EQX999")]);
  CU_ASSERT_TRUE(rs.on[rule("EQX001")]);

  /* exclude replaces the defaults (hidden directories are no longer skipped by name) */
  CU_ASSERT_TRUE(eql_config_excludes(cfg, "/proj/generated", true, false));
  CU_ASSERT_TRUE(eql_config_excludes(cfg, "/proj/pkg/generated", true, false));
  CU_ASSERT_TRUE(eql_config_excludes(cfg, "/proj/build", true, false));
  CU_ASSERT_FALSE(eql_config_excludes(cfg, "/proj/build", false, false)); /* "build/": dirs */
  CU_ASSERT_TRUE(eql_config_excludes(cfg, "/proj/legacy/old.py", false, false));
  CU_ASSERT_FALSE(eql_config_excludes(cfg, "/proj/pkg/legacy/old.py", false, false));
  CU_ASSERT_FALSE(eql_config_excludes(cfg, "/proj/.cache", true, false));

  CU_ASSERT_TRUE(eql_config_rule_option_bool(cfg, "EQX013", "exclude-tests", false));
  CU_ASSERT_TRUE(eql_config_rule_option_bool(cfg, "eqx013", "exclude-tests", false));
  CU_ASSERT_FALSE(eql_config_rule_option_bool(cfg, "EQX001", "exclude-tests", false));
  eql_config_free(cfg);
}

static void test_pyproject_table(void) {
  /* Other tools' tables, arrays of tables included, are read but not judged. */
  const char *text =
      "[project]\n"
      "name = \"demo\"\n"
      "[[tool.mypy.overrides]]\n"
      "module = \"a\"\n"
      "[[tool.mypy.overrides]]\n"
      "module = \"b\"\n"
      "[tool.ruff]\n"
      "line-length = 100\n"
      "[tool.eqlint]\n"
      "select = [\"EQX001\"]\n"
      "[tool.eqlint.per-file-ignores]\n"
      "\"tests/*.py\" = [\"EQX001\"]\n";
  eql_config *cfg = parse_ok("/p/pyproject.toml", text);
  if (cfg) {
    CU_ASSERT_STRING_EQUAL(on_for(cfg, NULL, "/p/a.py"), "EQX001");
    CU_ASSERT_STRING_EQUAL(on_for(cfg, NULL, "/p/tests/a.py"), "");
    eql_config_free(cfg);
  }
  /* Dotted keys from the top: the same table. */
  cfg = parse_ok("/p/pyproject.toml", "tool.eqlint.select = [\"EQX003\"]\n");
  if (cfg) {
    CU_ASSERT_STRING_EQUAL(on_for(cfg, NULL, "/p/a.py"), "EQX003");
    eql_config_free(cfg);
  }
  cfg = parse_ok("/p/pyproject.toml", "[tool]\neqlint = { ignore = [\"EQX001\"] }\n");
  if (cfg) {
    eql_ruleset rs;
    eql_config_ruleset(cfg, NULL, "/p/a.py", &rs);
    CU_ASSERT_FALSE(rs.on[rule("EQX001")]);
    CU_ASSERT_TRUE(rs.on[rule("EQX002")]);
    eql_config_free(cfg);
  }
  /* No [tool.eqlint]: not a configuration at all, whatever else the file holds. */
  eql_config_error err;
  const char *none = "[tool.black]\nline-length = 88\n[tool.eqlintx]\nselect = 1\n";
  eql_config *out = (eql_config *)1;
  CU_ASSERT_EQUAL(eql_config_parse("pyproject.toml", none, strlen(none), &out, &err),
                  EQL_CONFIG_NONE);
  CU_ASSERT_PTR_NULL(out);
  /* In an eqlint.toml the same text is read at the top level, so [tool] is unknown. */
  CU_ASSERT_EQUAL(eql_config_parse("eqlint.toml", none, strlen(none), &out, &err),
                  EQL_CONFIG_INVALID);
  CU_ASSERT_STRING_EQUAL(err.message, "unknown key `tool`");
  /* An empty file is a configuration with the defaults. */
  cfg = parse_ok("/p/.eqlint.toml", "");
  if (cfg) {
    CU_ASSERT_STRING_EQUAL(on_for(cfg, NULL, "/p/a.py"), all_checks());
    CU_ASSERT_TRUE(eql_config_excludes(cfg, "/p/.venv", true, false));
    eql_config_free(cfg);
  }
}

static void test_toml_forms(void) {
  /* Escapes, literal and multi-line strings, comments, arrays over lines with a trailing
   * comma, inline tables, dotted keys into tables, quoted keys. */
  const char *text =
      "select = [ # the pitfalls\n"
      "  \"\\u0045QX001\",   # \\u escape for E\n"
      "  'EQX002',\n"
      "  \"\"\"\n"
      "EQX\\\n"
      "    003\"\"\",\n"
      "]\n"
      "exclude = ['''\n"
      "gen\\*''', \"a\\\\b\", \"caf\\u00e9\"]\n"
      "per-file-ignores = { \"x/*.py\" = [\"EQX001\"], 'y.py' = [\"EQX002\"] }\n"
      "rules.\"EQX013\".exclude-tests = false\n";
  eql_config *cfg = parse_ok("/q/eqlint.toml", text);
  if (!cfg) return;
  CU_ASSERT_STRING_EQUAL(on_for(cfg, NULL, "/q/m.py"), "EQX001 EQX002 EQX003");
  CU_ASSERT_STRING_EQUAL(on_for(cfg, NULL, "/q/x/m.py"), "EQX002 EQX003");
  CU_ASSERT_STRING_EQUAL(on_for(cfg, NULL, "/q/deep/y.py"), "EQX001 EQX003");
  /* '''\ngen\*''': the first newline dropped, the backslash kept (a literal string): the
   * glob gen\* matches the name "gen*" only. */
  CU_ASSERT_TRUE(eql_config_excludes(cfg, "/q/gen*", true, false));
  CU_ASSERT_FALSE(eql_config_excludes(cfg, "/q/genx", true, false));
  /* "a\\b" is the glob a\b, which matches "ab". */
  CU_ASSERT_TRUE(eql_config_excludes(cfg, "/q/ab", false, false));
  CU_ASSERT_TRUE(eql_config_excludes(cfg, "/q/caf\xc3\xa9", true, false));
  CU_ASSERT_FALSE(eql_config_rule_option_bool(cfg, "EQX013", "exclude-tests", true));
  eql_config_free(cfg);
}

/* ---- the mapping: every error, at its line:col ---- */

typedef struct {
  const char *file;
  const char *text;
  unsigned line, col;
  const char *message; /* exact */
} error_case;

static const error_case error_cases[] = {
    /* unknown keys, with and without a suggestion */
    {"eqlint.toml", "selct = []\n", 1, 1, "unknown key `selct` (did you mean `select`?)"},
    {"eqlint.toml", "colour = true\n", 1, 1, "unknown key `colour`"},
    {"pyproject.toml", "[tool.eqlint]\nextend_exclude = []\n", 2, 1,
     "unknown key `extend_exclude` in [tool.eqlint] (did you mean `extend-exclude`?)"},
    {"pyproject.toml", "[tool.eqlint]\nper-file-ignore = {}\n", 2, 1,
     "unknown key `per-file-ignore` in [tool.eqlint] (did you mean `per-file-ignores`?)"},
    {"eqlint.toml", "[rules.EQX013]\nexclude-test = true\n", 2, 1,
     "unknown key `exclude-test` in [rules.EQX013] (did you mean `exclude-tests`?)"},
    {"pyproject.toml", "[tool.eqlint.rules.EQX001]\nstrict = true\n", 2, 1,
     "unknown key `strict` in [tool.eqlint.rules.EQX001]: EQX001 has no options"},
    /* wrong types */
    {"eqlint.toml", "select = \"EQX001\"\n", 1, 10,
     "`select` must be an array of strings, not a string"},
    {"eqlint.toml", "ignore = [\"EQX001\", 3]\n", 1, 21,
     "`ignore` must be an array of strings, but item 2 is an integer"},
    {"eqlint.toml", "exclude = [[\"a\"]]\n", 1, 12,
     "`exclude` must be an array of strings, but item 1 is an array"},
    {"eqlint.toml", "extend-exclude = { a = 1 }\n", 1, 18,
     "`extend-exclude` must be an array of strings, not a table"},
    {"eqlint.toml", "src = \"lib\"\n", 1, 7, "`src` must be an array of strings, not a string"},
    {"eqlint.toml", "respect-gitignore = \"no\"\n", 1, 21,
     "`respect-gitignore` must be a boolean (true or false), not a string"},
    {"eqlint.toml", "force-exclude = 1\n", 1, 17,
     "`force-exclude` must be a boolean (true or false), not an integer"},
    {"eqlint.toml", "per-file-ignores = [\"a\"]\n", 1, 20,
     "`per-file-ignores` must be a table of glob = [codes], not an array"},
    {"eqlint.toml", "[per-file-ignores]\n\"tests/*.py\" = \"EQX001\"\n", 2, 16,
     "`per-file-ignores.\"tests/*.py\"` must be an array of strings, not a string"},
    {"eqlint.toml", "rules = 3\n", 1, 9,
     "`rules` must be a table of rule tables ([rules.EQX013]), not an integer"},
    {"eqlint.toml", "[rules]\nEQX013 = true\n", 2, 10,
     "`rules.EQX013` must be a table of options, not a boolean"},
    {"eqlint.toml", "[rules.EQX013]\nexclude-tests = \"yes\"\n", 2, 17,
     "`rules.EQX013.exclude-tests` must be a boolean (true or false), not a string"},
    {"pyproject.toml", "[tool]\neqlint = 1\n", 2, 10, "`tool.eqlint` must be a table, not an integer"},
    {"eqlint.toml", "select = [1979-05-27]\n", 1, 11,
     "`select` must be an array of strings, but item 1 is a date-time"},
    /* bad codes, wherever codes go; columns count code points, not bytes */
    {"eqlint.toml", "select = [\"EQX404\"]\n", 1, 11,
     "`select`: unknown rule code or prefix `EQX404` (run `eqlint rule --all` to list the "
     "rules)"},
    {"eqlint.toml", "extend-select = [\"EQX001\", \"FOO\"]\n", 1, 28,
     "`extend-select`: unknown rule code or prefix `FOO` (run `eqlint rule --all` to list the "
     "rules)"},
    {"eqlint.toml", "ignore = [\"EQX001,EQX002\"]\n", 1, 11,
     "`ignore`: `EQX001,EQX002` holds several codes; write one per string"},
    /* the fix settings: the same selectors, the same checks */
    {"eqlint.toml", "# fixes\nunfixable = [\"EQX014\", \"EQX404\"]\n", 2, 24,
     "`unfixable`: unknown rule code or prefix `EQX404` (run `eqlint rule --all` to list the "
     "rules)"},
    {"pyproject.toml", "[tool.eqlint]\nextend-safe-fixes = [\"optimizer-init-unfilterd\"]\n", 2,
     22, "`extend-safe-fixes`: unknown rule code or prefix `optimizer-init-unfilterd` (run "
     "`eqlint rule --all` to list the rules)"},
    {"eqlint.toml", "extend-unsafe-fixes = [\"EQX0\", \"EQY\"]\n", 1, 32,
     "`extend-unsafe-fixes`: unknown rule code or prefix `EQY` (run `eqlint rule --all` to list "
     "the rules)"},
    {"eqlint.toml", "unfixable = \"EQX014\"\n", 1, 13,
     "`unfixable` must be an array of strings, not a string"},
    {"eqlint.toml", "extend-safe-fixes = [\"EQX003 EQX001\"]\n", 1, 22,
     "`extend-safe-fixes`: `EQX003 EQX001` holds several codes; write one per string"},
    {"eqlint.toml", "fix = \"yes\"\n", 1, 7,
     "`fix` must be a boolean (true or false), not a string"},
    {"pyproject.toml", "[tool.eqlint]\nunsafe-fixes = 1\n", 2, 16,
     "`unsafe-fixes` must be a boolean (true or false), not an integer"},
    {"eqlint.toml", "unfixables = []\n", 1, 1,
     "unknown key `unfixables` (did you mean `unfixable`?)"},
    {"pyproject.toml", "[tool.eqlint]\nextend-unsafe-fix = []\n", 2, 1,
     "unknown key `extend-unsafe-fix` in [tool.eqlint] (did you mean `extend-unsafe-fixes`?)"},
    {"eqlint.toml", "select = [\"\"]\n", 1, 11, "`select`: empty string"},
    {"eqlint.toml", "per-file-ignores = {\"\xc3\xa9/*.py\" = [\"EQX404\"]}\n", 1, 33,
     "`per-file-ignores.\"\xc3\xa9/*.py\"`: unknown rule code or prefix `EQX404` (run `eqlint "
     "rule --all` to list the rules)"},
    {"eqlint.toml", "[rules.EQX404]\nx = true\n", 1, 8,
     "[rules.EQX404]: unknown rule `EQX404` (run `eqlint rule --all` to list the rules)"},
    /* bad globs */
    {"eqlint.toml", "exclude = [\"gen/[x\"]\n", 1, 12,
     "`exclude`: `gen/[x` is not a valid glob (unclosed `[` or a trailing `\\`)"},
    {"eqlint.toml", "[per-file-ignores]\n\"tests/[ab.py\" = [\"EQX001\"]\n", 2, 1,
     "`per-file-ignores`: `tests/[ab.py` is not a valid glob (unclosed `[` or a trailing `\\`)"},
    /* TOML itself */
    {"eqlint.toml", "select = [\n", 2, 1, "TOML syntax error: unexpected end of file"},
    {"eqlint.toml", "select = [\"EQX001\" \"EQX002\"]\n", 1, 20,
     "TOML syntax error: unexpected `\"EQX002\"`"},
    {"eqlint.toml", "a = 1\nb = \nc = 3\n", 2, 5, "TOML syntax error: unexpected end of line"},
    {"pyproject.toml", "[tool.eqlint\nselect = []\n", 1, 13,
     "TOML syntax error: unexpected end of line"},
    {"pyproject.toml", "[project\nname = \"x\"\n", 1, 9,
     "TOML syntax error: unexpected end of line"},
    {"eqlint.toml", "src = [] force-exclude = true\n", 1, 10,
     "TOML syntax error: unexpected `force-exclude`"},
    {"eqlint.toml", "x = 01\n", 1, 6, "TOML syntax error: unexpected `1`"},
    {"eqlint.toml", "x = \"\\q\"\n", 1, 6, "TOML syntax error: unexpected `\\`"},
    {"eqlint.toml", "[[a]] x\n", 1, 7, "TOML syntax error: unexpected `x`"},
    {"eqlint.toml", "= 1\n", 1, 1, "TOML syntax error: unexpected `=`"},
    {"eqlint.toml", "x = \"\\uD800\"\n", 1, 6,
     "the escape `\\uD800` is not a Unicode scalar value"},
    {"eqlint.toml", "select = []\nselect = [\"EQX001\"]\n", 2, 1,
     "duplicate key `select`: it is already defined on line 1"},
    {"eqlint.toml", "[rules.EQX013]\n[rules.EQX013]\n", 2, 8,
     "table [rules.EQX013] is defined twice (first on line 1)"},
    {"eqlint.toml", "per-file-ignores = {}\nper-file-ignores.x = []\n", 2, 1,
     "cannot add keys to `per-file-ignores`: it is already defined on line 1"},
    {"eqlint.toml", "[a]\nb.c = 1\n[a.b]\n", 3, 4,
     "table [a.b] was already defined by dotted keys on line 2"},
    {"eqlint.toml", "a = 1\n[a.b]\n", 2, 2, "`a` is already defined as an integer on line 1"},
    {"eqlint.toml", "[[a]]\n[a]\n", 2, 2, "[a] is already an array of tables (line 1)"},
    /* Windows files: CRLF line ends, and a byte-order mark that columns do not count */
    {"eqlint.toml", "src = []\r\nselct = 2\r\n", 2, 1,
     "unknown key `selct` (did you mean `select`?)"},
    {"eqlint.toml", "\xef\xbb\xbfselect = \"x\"\r\n", 1, 10,
     "`select` must be an array of strings, not a string"},
};

static void test_errors_with_positions(void) {
  for (size_t i = 0; i < sizeof error_cases / sizeof *error_cases; i++) {
    const error_case *c = &error_cases[i];
    eql_config *cfg = NULL;
    eql_config_error err;
    memset(&err, 0, sizeof err);
    eql_config_status st = eql_config_parse(c->file, c->text, strlen(c->text), &cfg, &err);
    bool ok = st == EQL_CONFIG_INVALID && !cfg && err.line == c->line && err.col == c->col &&
              strcmp(err.message, c->message) == 0 && strcmp(err.path, c->file) == 0;
    if (!ok)
      fprintf(stderr, "\n  case %zu (%s): got %d %s:%u:%u: %s\n  want %s:%u:%u: %s\n", i,
              c->text, st, err.path, err.line, err.col, err.message, c->file, c->line, c->col,
              c->message);
    CU_ASSERT_TRUE(ok);
    eql_config_free(cfg);
  }
}

/* Input nested absurdly deep: refused at the bracket over the limit, not parsed (the
 * tree-sitter runtime cannot free such an error tree), and deep valid nesting stops at
 * 100 levels with an error rather than recursing without bound. */
static void test_deep_nesting(void) {
  static char text[150016];
  memcpy(text, "x = ", 4);
  memset(text + 4, '[', 150000);
  text[150004] = '\n';
  eql_config *cfg = NULL;
  eql_config_error err;
  CU_ASSERT_EQUAL(eql_config_parse("eqlint.toml", text, 150005, &cfg, &err), EQL_CONFIG_INVALID);
  CU_ASSERT_PTR_NULL(cfg);
  CU_ASSERT_EQUAL(err.line, 1);
  CU_ASSERT_EQUAL(err.col, 20005);
  CU_ASSERT_STRING_EQUAL(err.message, "more than 20000 brackets: not a configuration file "
                                      "eqlint reads");
  char nested[512];
  size_t k = (size_t)snprintf(nested, sizeof nested, "x = ");
  for (int i = 0; i < 150; i++) nested[k++] = '[';
  for (int i = 0; i < 150; i++) nested[k++] = ']';
  nested[k++] = '\n';
  CU_ASSERT_EQUAL(eql_config_parse("eqlint.toml", nested, k, &cfg, &err), EQL_CONFIG_INVALID);
  CU_ASSERT_STRING_EQUAL(err.message, "values are nested more than 100 levels deep");
}

static void test_load_errors(void) {
  char *root = enter_root();
  eql_config *cfg = (eql_config *)1;
  eql_config_error err;
  CU_ASSERT_EQUAL(eql_config_load("missing.toml", &cfg, &err), EQL_CONFIG_IO);
  CU_ASSERT_PTR_NULL(cfg);
  CU_ASSERT_STRING_EQUAL(err.path, "missing.toml");
  CU_ASSERT_EQUAL(err.line, 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "No such file"));
  write_file(root, "eqlint.toml", "ignore = [\"EQX001\"]\n");
  CU_ASSERT_EQUAL_FATAL(eql_config_load("eqlint.toml", &cfg, &err), EQL_CONFIG_OK);
  /* A relative path's directory is resolved against the working directory. */
  CU_ASSERT_STRING_EQUAL(eql_config_root(cfg), root);
  CU_ASSERT_STRING_EQUAL(eql_config_path(cfg), "eqlint.toml");
  eql_config_free(cfg);
  leave_root(root);
}

/* ---- selection ---- */

static void test_selection_precedence(void) {
  eql_config *cfg;
  /* The more specific selector wins within one layer; ignore wins a tie. */
  cfg = parse_ok("/s/eqlint.toml", "select = [\"EQX001\"]\nignore = [\"EQX0\"]\n");
  CU_ASSERT_STRING_EQUAL(on_for(cfg, NULL, "/s/a.py"), "EQX001");
  eql_config_free(cfg);
  eql_ruleset rs;
  cfg = parse_ok("/s/eqlint.toml", "select = [\"EQX0\"]\nignore = [\"EQX001\"]\n");
  eql_config_ruleset(cfg, NULL, "/s/a.py", &rs);
  CU_ASSERT_FALSE(rs.on[rule("EQX001")]);
  CU_ASSERT_TRUE(rs.on[rule("EQX002")]);
  CU_ASSERT_TRUE(rs.on[rule("EQX003")]);
  CU_ASSERT_FALSE(rs.on[rule("EQX999")]);
  eql_config_free(cfg);
  cfg = parse_ok("/s/eqlint.toml", "select = [\"EQX001\"]\nignore = [\"EQX001\"]\n");
  CU_ASSERT_STRING_EQUAL(on_for(cfg, NULL, "/s/a.py"), "");
  eql_config_free(cfg);
  /* Names select like codes; ALL is the least specific. */
  cfg = parse_ok("/s/eqlint.toml", "select = [\"ALL\"]\nignore = [\"shared-submodule-aliased\"]\n");
  eql_config_ruleset(cfg, NULL, "/s/a.py", &rs);
  CU_ASSERT_TRUE(rs.on[rule("EQX001")]);
  CU_ASSERT_FALSE(rs.on[rule("EQX002")]);
  CU_ASSERT_TRUE(rs.on[rule("EQX003")]);
  CU_ASSERT_TRUE(rs.on[rule("EQX999")]);
  eql_config_free(cfg);
  /* Without select, extend-select and ignore adjust the default (everything). */
  cfg = parse_ok("/s/eqlint.toml", "ignore = [\"EQX0\"]\nextend-select = [\"EQX002\"]\n");
  CU_ASSERT_STRING_EQUAL(on_for(cfg, NULL, "/s/a.py"), "EQX002");
  eql_config_free(cfg);
  cfg = parse_ok("/s/eqlint.toml", "select = []\n");
  CU_ASSERT_STRING_EQUAL(on_for(cfg, NULL, "/s/a.py"), "");
  eql_config_free(cfg);

  /* The command line is a layer above: --select replaces, --ignore removes, and the file's
   * per-file-ignores still apply afterwards. */
  cfg = parse_ok("/s/eqlint.toml", "select = [\"EQX001\"]\n"
                                   "per-file-ignores = { \"tests/**\" = [\"EQX003\"] }\n");
  const char *sel3[] = {"EQX003,EQX002"};
  const char *ign2[] = {"EQX002"};
  const char *ext1[] = {"EQX003"};
  eql_config_cli cli = {.select = sel3, .nselect = 1};
  CU_ASSERT_STRING_EQUAL(on_for(cfg, &cli, "/s/a.py"), "EQX002 EQX003");
  CU_ASSERT_STRING_EQUAL(on_for(cfg, &cli, "/s/tests/unit/a.py"), "EQX002");
  cli = (eql_config_cli){.ignore = ign2, .nignore = 1, .extend_select = ext1, .nextend_select = 1};
  CU_ASSERT_STRING_EQUAL(on_for(cfg, &cli, "/s/a.py"), "EQX001 EQX003");
  cli = (eql_config_cli){.select = sel3, .nselect = 1, .ignore = sel3, .nignore = 1};
  CU_ASSERT_STRING_EQUAL(on_for(cfg, &cli, "/s/a.py"), "");
  eql_config_free(cfg);
  /* No config: the command line alone. */
  cli = (eql_config_cli){.ignore = ign2, .nignore = 1};
  eql_config_ruleset(NULL, &cli, "a.py", &rs);
  CU_ASSERT_TRUE(rs.on[rule("EQX001")]);
  CU_ASSERT_FALSE(rs.on[rule("EQX002")]);
  CU_ASSERT_STRING_EQUAL(on_for(NULL, NULL, "a.py"), all_checks());

  /* Command-line selectors are checked up front, naming the option. */
  eql_config_error err;
  const char *bad[] = {"EQX001, EQX404"};
  cli = (eql_config_cli){.extend_select = bad, .nextend_select = 1};
  CU_ASSERT_EQUAL(eql_config_cli_check(&cli, &err), -1);
  CU_ASSERT_STRING_EQUAL(err.message, "--extend-select: unknown rule code or prefix 'EQX404' "
                                      "(run 'eqlint rule --all' to list the rules)");
  CU_ASSERT_EQUAL(err.line, 0);
  CU_ASSERT_STRING_EQUAL(err.path, "");
  cli = (eql_config_cli){.select = sel3, .nselect = 1, .ignore = bad, .nignore = 1};
  CU_ASSERT_EQUAL(eql_config_cli_check(&cli, &err), -1);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "--ignore:"));
  cli = (eql_config_cli){.select = sel3, .nselect = 1};
  CU_ASSERT_EQUAL(eql_config_cli_check(&cli, &err), 0);
  CU_ASSERT_EQUAL(eql_config_cli_check(NULL, &err), 0);
}

/* ---- globs ---- */

static void test_glob_match(void) {
  struct {
    const char *pattern, *path;
    bool is_dir, want;
  } cases[] = {
      {"tests/*.py", "tests/test_a.py", false, true},
      {"tests/*.py", "tests/unit/test_a.py", false, false}, /* * stays in its segment */
      {"tests/*.py", "src/tests/test_a.py", false, false},  /* anchored */
      {"tests/**/*.py", "tests/test_a.py", false, true},    /* ** is zero or more dirs */
      {"tests/**/*.py", "tests/a/b/test_a.py", false, true},
      {"tests/**", "tests/a/b.py", false, true},
      {"tests/**", "tests", true, false},
      {"**/__init__.py", "__init__.py", false, true},
      {"**/__init__.py", "pkg/sub/__init__.py", false, true},
      {"__init__.py", "pkg/sub/__init__.py", false, true}, /* no slash: the base name */
      {"*_pb2.py", "api/gen/x_pb2.py", false, true},
      {"*.py", "a/b.pyi", false, false},
      {"./src/*.py", "src/a.py", false, true},
      {"/src/*.py", "src/a.py", false, true},
      {"/setup.py", "pkg/setup.py", false, false}, /* a leading / anchors a bare name */
      {"src/*.py", "./src/a.py", false, true},
      {"a?c.py", "abc.py", false, true},
      {"a?c.py", "a/c.py", false, false},
      {"[ab]x.py", "bx.py", false, true},
      {"[!ab]x.py", "bx.py", false, false},
      {"[a-c]x.py", "cx.py", false, true},
      {"[]]x", "]x", false, true},
      {"a\\*b", "a*b", false, true},
      {"a\\*b", "axb", false, false},
      {"build/", "build", true, true},
      {"build/", "build", false, false},
      {"build/", "x/build", true, true},
      {"a**b", "axxb", false, true},
      {"a**b", "ax/xb", false, false},
      {"", "a", false, false},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    bool got = eql_config_glob_match(cases[i].pattern, cases[i].path, cases[i].is_dir);
    if (got != cases[i].want)
      fprintf(stderr, "\n  glob %s vs %s: got %d\n", cases[i].pattern, cases[i].path, got);
    CU_ASSERT_EQUAL(got, cases[i].want);
  }
  CU_ASSERT_EQUAL(eql_config_glob_check("a[b"), -1);
  CU_ASSERT_EQUAL(eql_config_glob_check("a\\"), -1);
  CU_ASSERT_EQUAL(eql_config_glob_check("a[b]\\*"), 0);
  /* A pathological pattern ends (the step budget), without matching. */
  char pat[200], path[200];
  memset(pat, 0, sizeof pat);
  for (int i = 0; i < 40; i++) strcat(pat, "*a");
  strcat(pat, "b");
  memset(path, 'a', 120);
  path[120] = 0;
  CU_ASSERT_FALSE(eql_config_glob_match(pat, path, false));
}

static void test_per_file_ignores(void) {
  eql_config *cfg = parse_ok("/r/sub/eqlint.toml",
                             "select = [\"EQX001\", \"EQX002\", \"EQX003\"]\n"
                             "[per-file-ignores]\n"
                             "\"tests/*.py\" = [\"EQX001\"]\n"
                             "\"**/__init__.py\" = [\"EQX002\"]\n"
                             "\"!pkg/**\" = [\"EQX003\"]\n"
                             "\"conftest.py\" = [\"EQX0\"]\n");
  if (!cfg) return;
  /* Paths are matched relative to the config's directory, /r/sub. */
  CU_ASSERT_STRING_EQUAL(on_for(cfg, NULL, "/r/sub/pkg/a.py"), "EQX001 EQX002 EQX003");
  CU_ASSERT_STRING_EQUAL(on_for(cfg, NULL, "/r/sub/tests/a.py"), "EQX002");
  CU_ASSERT_STRING_EQUAL(on_for(cfg, NULL, "/r/sub/pkg/__init__.py"), "EQX001 EQX003");
  CU_ASSERT_STRING_EQUAL(on_for(cfg, NULL, "/r/sub/__init__.py"), "EQX001");
  CU_ASSERT_STRING_EQUAL(on_for(cfg, NULL, "/r/sub/pkg/deep/conftest.py"), "");
  /* Outside the config's directory only base-name patterns can match. */
  CU_ASSERT_STRING_EQUAL(on_for(cfg, NULL, "/r/tests/a.py"), "EQX001 EQX002");
  CU_ASSERT_STRING_EQUAL(on_for(cfg, NULL, "/elsewhere/conftest.py"), "");
  eql_config_free(cfg);

  /* Relative paths are taken from the working directory. */
  char *root = enter_root();
  cfg = parse_ok("eqlint.toml", "select = [\"EQX001\", \"EQX002\"]\n"
                                "per-file-ignores = { \"tests/*.py\" = [\"EQX001\"] }\n");
  CU_ASSERT_STRING_EQUAL(on_for(cfg, NULL, "tests/a.py"), "EQX002");
  CU_ASSERT_STRING_EQUAL(on_for(cfg, NULL, "./tests/../tests/a.py"), "EQX002");
  CU_ASSERT_STRING_EQUAL(on_for(cfg, NULL, "a.py"), "EQX001 EQX002");
  eql_config_free(cfg);
  leave_root(root);
}

static void test_exclude_patterns(void) {
  /* Defaults (no exclude key): hidden and cache directories by name. */
  eql_config *cfg = parse_ok("/e/eqlint.toml", "extend-exclude = [\"vendor\", \"gen/*.py\"]\n");
  if (!cfg) return;
  CU_ASSERT_TRUE(eql_config_excludes(cfg, "/e/.tox", true, false));
  CU_ASSERT_TRUE(eql_config_excludes(cfg, "/e/pkg/__pycache__", true, false));
  CU_ASSERT_FALSE(eql_config_excludes(cfg, "/e/.hidden.py", false, false)); /* dirs only */
  CU_ASSERT_TRUE(eql_config_excludes(cfg, "/e/vendor", true, false));
  CU_ASSERT_TRUE(eql_config_excludes(cfg, "/e/a/vendor", true, false));
  CU_ASSERT_TRUE(eql_config_excludes(cfg, "/e/gen/x.py", false, false));
  CU_ASSERT_FALSE(eql_config_excludes(cfg, "/e/a/gen/x.py", false, false));
  CU_ASSERT_FALSE(eql_config_excludes(cfg, "/e", true, false)); /* the root itself */
  /* Through a parent: only when asked (explicit paths), and only below the root. */
  CU_ASSERT_FALSE(eql_config_excludes(cfg, "/e/vendor/lib/a.py", false, false));
  CU_ASSERT_TRUE(eql_config_excludes(cfg, "/e/vendor/lib/a.py", false, true));
  CU_ASSERT_TRUE(eql_config_excludes(cfg, "/e/.venv/lib/a.py", false, true));
  CU_ASSERT_FALSE(eql_config_excludes(cfg, "/e/pkg/lib/a.py", false, true));
  eql_config_free(cfg);
  /* No config at all: the defaults. */
  CU_ASSERT_TRUE(eql_config_excludes(NULL, "/x/node_modules", true, false));
  CU_ASSERT_FALSE(eql_config_excludes(NULL, "/x/src", true, false));
}

static void test_rule_options_and_test_paths(void) {
  CU_ASSERT_TRUE(eql_config_rule_option_bool(NULL, "EQX013", "exclude-tests", true));
  CU_ASSERT_FALSE(eql_config_rule_option_bool(NULL, "EQX013", "exclude-tests", false));
  eql_config *cfg = parse_ok("/t/eqlint.toml", "[rules.EQX013]\nexclude-tests = true\n");
  if (!cfg) return;
  CU_ASSERT_TRUE(eql_config_rule_option_bool(cfg, "EQX013", "exclude-tests", false));
  CU_ASSERT_TRUE(eql_config_rule_option_bool(cfg, "EQX013", "no-such-option", true));
  CU_ASSERT_FALSE(eql_config_rule_option_bool(cfg, "EQX013", "no-such-option", false));
  /* The option exempts test files from EQX013 in the ruleset, once the rule exists. */
  int r13 = eql_rule_find("EQX013");
  if (r13 >= 0) {
    eql_ruleset rs;
    eql_config_ruleset(cfg, NULL, "/t/tests/test_keys.py", &rs);
    CU_ASSERT_FALSE(rs.on[r13]);
    eql_config_ruleset(cfg, NULL, "/t/train.py", &rs);
    CU_ASSERT_TRUE(rs.on[r13]);
  }
  eql_config_free(cfg);

  CU_ASSERT_TRUE(eql_config_is_test_path("test_model.py"));
  CU_ASSERT_TRUE(eql_config_is_test_path("pkg/model_test.py"));
  CU_ASSERT_TRUE(eql_config_is_test_path("conftest.py"));
  CU_ASSERT_TRUE(eql_config_is_test_path("/abs/tests/helpers.py"));
  CU_ASSERT_TRUE(eql_config_is_test_path("test/helpers.py"));
  CU_ASSERT_FALSE(eql_config_is_test_path("pkg/model.py"));
  CU_ASSERT_FALSE(eql_config_is_test_path("latest/model.py"));
  CU_ASSERT_FALSE(eql_config_is_test_path("contest.py"));
  CU_ASSERT_FALSE(eql_config_is_test_path("_test.py"));
}

/* ---- discovery through a store ---- */

/* root/pyproject.toml [tool.eqlint] select EQX001
 * root/sub/eqlint.toml select EQX002          sub/deeper inherits it
 * root/other/pyproject.toml without the table  -> root's
 * root/both/.eqlint.toml + eqlint.toml         -> .eqlint.toml wins */
static void make_hierarchy(const char *root) {
  write_file(root, "pyproject.toml", "[project]\nname = \"x\"\n[tool.eqlint]\nselect = [\"EQX001\"]\n");
  mkdir_in(root, "sub");
  write_file(root, "sub/eqlint.toml", "select = [\"EQX002\"]\n");
  mkdir_in(root, "sub/deeper");
  mkdir_in(root, "other");
  write_file(root, "other/pyproject.toml", "[tool.black]\nline-length = 88\n");
  mkdir_in(root, "both");
  write_file(root, "both/.eqlint.toml", "select = [\"EQX003\"]\n");
  write_file(root, "both/eqlint.toml", "select = [\"EQX002\"]\n");
  write_file(root, "both/pyproject.toml", "[tool.eqlint]\nselect = [\"EQX001\"]\n");
}

static const char *store_on(eql_config_store *s, const char *path) {
  static char buf[sizeof ((eql_config_error *)0)->message + 16];
  eql_ruleset rs;
  eql_config_error err;
  buf[0] = 0;
  if (eql_config_store_ruleset(s, path, &rs, &err) != 0) {
    snprintf(buf, sizeof buf, "error: %s", err.message);
    return buf;
  }
  size_t k = 0;
  for (int r = 0; r < EQL_RULE_COUNT; r++)
    if (rs.on[r] && eql_rules[r].check)
      k += (size_t)snprintf(buf + k, sizeof buf - k, "%s%s", k ? " " : "", eql_rules[r].code);
  return buf;
}

static void test_hierarchical_discovery(void) {
  char *root = enter_root();
  make_hierarchy(root);
  eql_config_store *s = NULL;
  eql_config_error err;
  CU_ASSERT_EQUAL_FATAL(eql_config_store_new(NULL, &s, &err), EQL_CONFIG_OK);
  const eql_config *cfg = NULL;
  CU_ASSERT_EQUAL(eql_config_store_find(s, "a.py", &cfg, &err), 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
  CU_ASSERT_STRING_EQUAL(eql_config_path(cfg), "pyproject.toml");
  CU_ASSERT_STRING_EQUAL(eql_config_root(cfg), root);
  CU_ASSERT_STRING_EQUAL(store_on(s, "a.py"), "EQX001");
  CU_ASSERT_STRING_EQUAL(store_on(s, "sub/a.py"), "EQX002");
  CU_ASSERT_STRING_EQUAL(store_on(s, "sub/deeper/a.py"), "EQX002");
  CU_ASSERT_STRING_EQUAL(store_on(s, "other/a.py"), "EQX001");
  CU_ASSERT_STRING_EQUAL(store_on(s, "both/a.py"), "EQX003");
  /* Absolute paths and cached directories give the same answers. */
  char abs[PATH_MAX];
  CU_ASSERT_STRING_EQUAL(store_on(s, fmt(abs, sizeof abs, "%s/sub/deeper/b.py", root)), "EQX002");
  CU_ASSERT_EQUAL(eql_config_store_find(s, "sub/deeper/c.py", &cfg, &err), 0);
  CU_ASSERT_STRING_EQUAL(eql_config_path(cfg), "sub/eqlint.toml");
  CU_ASSERT_STRING_EQUAL(store_on(s, "both/x/y/a.py"), "EQX003");
  eql_config_store_free(s);

  /* --isolated: no file counts. --config: that file for every path. */
  const char *ign[] = {"EQX003"};
  const char *sel[] = {"EQX001,EQX002,EQX003"};
  eql_config_options opt = {.isolated = true, .config_path = "sub/eqlint.toml",
                            .cli = {.ignore = ign, .nignore = 1}};
  CU_ASSERT_EQUAL_FATAL(eql_config_store_new(&opt, &s, &err), EQL_CONFIG_OK);
  CU_ASSERT_EQUAL(eql_config_store_find(s, "sub/a.py", &cfg, &err), 0);
  CU_ASSERT_PTR_NULL(cfg);
  eql_ruleset rs;
  CU_ASSERT_EQUAL(eql_config_store_ruleset(s, "sub/a.py", &rs, &err), 0);
  CU_ASSERT_TRUE(rs.on[rule("EQX001")]);
  CU_ASSERT_FALSE(rs.on[rule("EQX003")]);
  eql_config_store_free(s);
  opt.cli = (eql_config_cli){.select = sel, .nselect = 1, .ignore = ign, .nignore = 1};
  CU_ASSERT_EQUAL_FATAL(eql_config_store_new(&opt, &s, &err), EQL_CONFIG_OK);
  CU_ASSERT_STRING_EQUAL(store_on(s, "sub/a.py"), "EQX001 EQX002");
  eql_config_store_free(s);
  opt.isolated = false;
  opt.cli = (eql_config_cli){0};
  CU_ASSERT_EQUAL_FATAL(eql_config_store_new(&opt, &s, &err), EQL_CONFIG_OK);
  CU_ASSERT_STRING_EQUAL(store_on(s, "a.py"), "EQX002");
  CU_ASSERT_STRING_EQUAL(store_on(s, "both/a.py"), "EQX002");
  eql_config_store_free(s);
  /* --config naming a missing file, a pyproject.toml without the table, or a bad selector. */
  opt.config_path = "nope.toml";
  CU_ASSERT_EQUAL(eql_config_store_new(&opt, &s, &err), EQL_CONFIG_IO);
  CU_ASSERT_PTR_NULL(s);
  CU_ASSERT_STRING_EQUAL(err.path, "nope.toml");
  opt.config_path = "other/pyproject.toml";
  CU_ASSERT_EQUAL(eql_config_store_new(&opt, &s, &err), EQL_CONFIG_INVALID);
  CU_ASSERT_STRING_EQUAL(err.path, "other/pyproject.toml");
  CU_ASSERT_PTR_NOT_NULL(strstr(err.message, "no [tool.eqlint] table"));
  const char *bad[] = {"NOPE"};
  opt = (eql_config_options){.cli = {.select = bad, .nselect = 1}};
  CU_ASSERT_EQUAL(eql_config_store_new(&opt, &s, &err), EQL_CONFIG_INVALID);
  CU_ASSERT_STRING_EQUAL(err.message, "--select: unknown rule code or prefix 'NOPE' (run "
                                      "'eqlint rule --all' to list the rules)");
  leave_root(root);
}

static void test_store_error_is_sticky(void) {
  char *root = enter_root();
  make_hierarchy(root);
  mkdir_in(root, "broken");
  write_file(root, "broken/eqlint.toml", "# a typo\nignore = [\"EQX001\"]\nexlude = []\n");
  eql_config_store *s = NULL;
  eql_config_error err;
  CU_ASSERT_EQUAL_FATAL(eql_config_store_new(NULL, &s, &err), EQL_CONFIG_OK);
  CU_ASSERT_STRING_EQUAL(store_on(s, "sub/a.py"), "EQX002");
  const eql_config *cfg = (const eql_config *)1;
  memset(&err, 0, sizeof err);
  CU_ASSERT_EQUAL(eql_config_store_find(s, "broken/a.py", &cfg, &err), -1);
  CU_ASSERT_PTR_NULL(cfg);
  CU_ASSERT_STRING_EQUAL(err.path, "broken/eqlint.toml");
  CU_ASSERT_EQUAL(err.line, 3);
  CU_ASSERT_EQUAL(err.col, 1);
  CU_ASSERT_STRING_EQUAL(err.message, "unknown key `exlude` (did you mean `exclude`?)");
  /* Every later question fails with the same error: the run must stop. */
  memset(&err, 0, sizeof err);
  CU_ASSERT_EQUAL(eql_config_store_find(s, "a.py", &cfg, &err), -1);
  CU_ASSERT_EQUAL(err.line, 3);
  CU_ASSERT_STRING_EQUAL(store_on(s, "sub/a.py"),
                         "error: unknown key `exlude` (did you mean `exclude`?)");
  eql_config_store_free(s);

  /* The walk stops with -2 and the error when it meets the broken file. */
  CU_ASSERT_EQUAL_FATAL(eql_config_store_new(NULL, &s, &err), EQL_CONFIG_OK);
  write_file(root, "broken/m.py", "x = 1\n");
  eql_walk_files check, extra;
  eql_walk_files_init(&check);
  eql_walk_files_init(&extra);
  memset(&err, 0, sizeof err);
  CU_ASSERT_EQUAL(eql_config_store_walk(s, NULL, 0, &check, &extra, NULL, NULL, &err), -2);
  CU_ASSERT_STRING_EQUAL(err.path, "broken/eqlint.toml");
  CU_ASSERT_EQUAL(err.line, 3);
  eql_walk_files_free(&check);
  eql_walk_files_free(&extra);
  eql_config_store_free(s);
  leave_root(root);
}

static void test_store_walk_exclude_force_and_src(void) {
  char *root = enter_root();
  write_file(root, "eqlint.toml",
             "extend-exclude = [\"generated\", \"legacy_*.py\"]\n"
             "src = [\"lib\", \"missing-dir\"]\n");
  write_file(root, "app.py", "x = 1\n");
  write_file(root, "legacy_old.py", "x = 1\n");
  mkdir_in(root, "generated");
  write_file(root, "generated/g.py", "x = 1\n");
  mkdir_in(root, ".hidden");
  write_file(root, ".hidden/h.py", "x = 1\n");
  /* A nested config with its own exclusions, relative to its own directory; its exclude
   * replaces the defaults, so its hidden directory is walked. */
  mkdir_in(root, "pkg");
  write_file(root, "pkg/eqlint.toml", "exclude = [\"skip\"]\n");
  write_file(root, "pkg/m.py", "x = 1\n");
  write_file(root, "pkg/legacy_kept.py", "x = 1\n");
  mkdir_in(root, "pkg/skip");
  write_file(root, "pkg/skip/s.py", "x = 1\n");
  mkdir_in(root, "pkg/.dot");
  write_file(root, "pkg/.dot/d.py", "x = 1\n");
  /* lib/ is a src root: parsed for the index, not reported on. */
  mkdir_in(root, "lib");
  write_file(root, "lib/model.py", "x = 1\n");
  mkdir_in(root, "lib/generated");
  write_file(root, "lib/generated/skipped.py", "x = 1\n");

  eql_config_store *s = NULL;
  eql_config_error err;
  eql_walk_files check, extra;
  CU_ASSERT_EQUAL_FATAL(eql_config_store_new(NULL, &s, &err), EQL_CONFIG_OK);
  eql_walk_files_init(&check);
  eql_walk_files_init(&extra);
  CU_ASSERT_EQUAL(eql_config_store_walk(s, NULL, 0, &check, &extra, NULL, NULL, &err), 0);
  const char *want[] = {"app.py", "lib/model.py", "pkg/.dot/d.py", "pkg/legacy_kept.py",
                        "pkg/m.py"};
  CU_ASSERT_EQUAL(check.n, 5);
  for (size_t i = 0; i < 5 && i < check.n; i++) CU_ASSERT_STRING_EQUAL(check.paths[i], want[i]);
  if (check.n != 5) print_files("check", &check);
  CU_ASSERT_EQUAL(extra.n, 0); /* lib/model.py is already checked */
  eql_walk_files_free(&check);
  eql_walk_files_free(&extra);

  /* Checking one file: lib/ comes in for the index only. Explicit excluded paths are
   * checked anyway. */
  const char *one[] = {"app.py", "generated/g.py"};
  eql_walk_files_init(&check);
  eql_walk_files_init(&extra);
  CU_ASSERT_EQUAL(eql_config_store_walk(s, one, 2, &check, &extra, NULL, NULL, &err), 0);
  CU_ASSERT_EQUAL(check.n, 2);
  CU_ASSERT_TRUE(has(&check, "generated/g.py"));
  CU_ASSERT_EQUAL(extra.n, 1);
  if (extra.n == 1) CU_ASSERT_STRING_EQUAL(extra.paths[0], "lib/model.py");
  eql_walk_files_free(&check);
  eql_walk_files_free(&extra);

  /* Only the src half, as for a buffer piped in under a name that need not exist. */
  const char *piped[] = {"pkg/new_file.py"};
  eql_walk_files_init(&extra);
  CU_ASSERT_EQUAL(eql_config_store_src(s, piped, 1, &extra, &err), 0);
  CU_ASSERT_EQUAL(extra.n, 0); /* pkg/ has its own config, without src */
  const char *piped_top[] = {"new_file.py", "lib/model.py"};
  CU_ASSERT_EQUAL(eql_config_store_src(s, piped_top, 2, &extra, &err), 0);
  CU_ASSERT_EQUAL(extra.n, 0); /* lib/model.py is one of the files asked for */
  CU_ASSERT_EQUAL(eql_config_store_src(s, piped_top, 1, &extra, &err), 0);
  CU_ASSERT_EQUAL(extra.n, 1);
  CU_ASSERT_TRUE(has(&extra, "lib/model.py"));
  eql_walk_files_free(&extra);
  eql_config_store_free(s);

  /* --force-exclude: explicit paths are excluded too, also through a parent directory. */
  eql_config_options opt = {.force_exclude = true};
  CU_ASSERT_EQUAL_FATAL(eql_config_store_new(&opt, &s, &err), EQL_CONFIG_OK);
  const char *forced[] = {"app.py", "generated/g.py", "legacy_old.py", "pkg/skip/s.py",
                          "generated"};
  eql_walk_files_init(&check);
  eql_walk_files_init(&extra);
  CU_ASSERT_EQUAL(eql_config_store_walk(s, forced, 5, &check, &extra, NULL, NULL, &err), 0);
  CU_ASSERT_EQUAL(check.n, 1);
  if (check.n != 1) print_files("forced", &check);
  CU_ASSERT_TRUE(has(&check, "app.py"));
  eql_walk_files_free(&check);
  eql_walk_files_free(&extra);
  eql_config_store_free(s);

  /* The same through the config key. */
  write_file(root, "eqlint.toml", "extend-exclude = [\"generated\"]\nforce-exclude = true\n");
  CU_ASSERT_EQUAL_FATAL(eql_config_store_new(NULL, &s, &err), EQL_CONFIG_OK);
  eql_walk_files_init(&check);
  eql_walk_files_init(&extra);
  CU_ASSERT_EQUAL(eql_config_store_walk(s, forced, 2, &check, &extra, NULL, NULL, &err), 0);
  CU_ASSERT_EQUAL(check.n, 1);
  eql_walk_files_free(&check);
  eql_walk_files_free(&extra);
  eql_config_store_free(s);
  leave_root(root);
}

static void test_store_walk_gitignore_switch(void) {
  char *root = enter_root();
  CU_ASSERT_EQUAL_FATAL(system("git init -q . 2>/dev/null"), 0);
  write_file(root, ".gitignore", "ignored.py\n");
  write_file(root, "kept.py", "x = 1\n");
  write_file(root, "ignored.py", "x = 1\n");
  eql_config_store *s = NULL;
  eql_config_error err;
  eql_walk_files check;
  /* Default: git's rules apply. */
  CU_ASSERT_EQUAL_FATAL(eql_config_store_new(NULL, &s, &err), EQL_CONFIG_OK);
  eql_walk_files_init(&check);
  CU_ASSERT_EQUAL(eql_config_store_walk(s, NULL, 0, &check, NULL, NULL, NULL, &err), 0);
  CU_ASSERT_EQUAL(check.n, 1);
  CU_ASSERT_TRUE(has(&check, "kept.py"));
  eql_walk_files_free(&check);
  eql_config_store_free(s);
  /* respect-gitignore = false in the working directory's config turns them off. */
  write_file(root, "eqlint.toml", "respect-gitignore = false\n");
  CU_ASSERT_EQUAL_FATAL(eql_config_store_new(NULL, &s, &err), EQL_CONFIG_OK);
  eql_walk_files_init(&check);
  CU_ASSERT_EQUAL(eql_config_store_walk(s, NULL, 0, &check, NULL, NULL, NULL, &err), 0);
  CU_ASSERT_EQUAL(check.n, 2);
  CU_ASSERT_TRUE(has(&check, "ignored.py"));
  eql_walk_files_free(&check);
  eql_config_store_free(s);
  leave_root(root);
}

static void add_diag(eql_diag_list *l, const char *path, const char *code) {
  eql_source *src = eql_source_new(path, "x = 1\n", 6);
  CU_ASSERT_PTR_NOT_NULL_FATAL(src);
  CU_ASSERT_PTR_NOT_NULL(eql_diag_add(l, rule(code), src, 0, 1, "message", NULL));
  eql_source_free(src);
}

/* ---- fix settings ---- */

static void test_fix_settings_parse(void) {
  /* Unset: -1, so the command line can tell "not configured" from "false". */
  eql_config *cfg = parse_ok("/p/eqlint.toml", "select = [\"EQX001\"]\n");
  if (cfg) {
    CU_ASSERT_EQUAL(eql_config_fix(cfg), -1);
    CU_ASSERT_EQUAL(eql_config_unsafe_fixes(cfg), -1);
    eql_config_free(cfg);
  }
  CU_ASSERT_EQUAL(eql_config_fix(NULL), -1);
  CU_ASSERT_EQUAL(eql_config_unsafe_fixes(NULL), -1);
  cfg = parse_ok("/p/eqlint.toml", "fix = true\nunsafe-fixes = false\n"
                                   "unfixable = [\"EQX014\", \"optimizer-init-unfiltered\"]\n"
                                   "extend-safe-fixes = [\"EQX0\"]\n"
                                   "extend-unsafe-fixes = [\"ALL\"]\n");
  if (cfg) {
    CU_ASSERT_EQUAL(eql_config_fix(cfg), 1);
    CU_ASSERT_EQUAL(eql_config_unsafe_fixes(cfg), 0);
    /* Fix settings never change which rules run. */
    CU_ASSERT_STRING_EQUAL(on_for(cfg, NULL, "/p/a.py"), all_checks());
    eql_config_free(cfg);
  }
  cfg = parse_ok("/p/pyproject.toml", "[tool.eqlint]\nfix = false\nunsafe-fixes = true\n"
                                      "extend-unsafe-fixes = []\n");
  if (cfg) {
    CU_ASSERT_EQUAL(eql_config_fix(cfg), 0);
    CU_ASSERT_EQUAL(eql_config_unsafe_fixes(cfg), 1);
    eql_config_free(cfg);
  }
}

/* A diagnostic of `code` in `path` whose fix is safe or unsafe. */
static void add_fixable(eql_diag_list *l, const char *path, const char *code, bool unsafe) {
  eql_source *src = eql_source_new(path, "x = 1\n", 6);
  CU_ASSERT_PTR_NOT_NULL_FATAL(src);
  eql_diag *d = eql_diag_add(l, rule(code), src, 0, 1, "message", NULL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(d);
  CU_ASSERT_EQUAL(eql_diag_add_edit(d, src, "Replace it", 0, 1, "y"), 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(d->fix);
  if (unsafe) eql_diag_fix_unsafe(d);
  eql_source_free(src);
}

enum { NO_FIX = -1 }; /* besides EQL_FIX_SAFE and EQL_FIX_UNSAFE */

/* What is left of the fix of the diagnostic of `code` in `path` after filtering. */
static int fix_of(const eql_diag_list *l, const char *path, const char *code) {
  for (size_t i = 0; i < l->n; i++)
    if (strcmp(l->items[i].path, path) == 0 && l->items[i].rule == rule(code))
      return l->items[i].fix ? (int)l->items[i].fix->applicability : NO_FIX;
  fprintf(stderr, "\n  no %s diagnostic in %s after filtering\n", code, path);
  CU_FAIL("diagnostic missing");
  return -2;
}

static void test_store_filter_fix_settings(void) {
  char *root = enter_root();
  /* The outer project: EQX014 keeps being reported without its fix, EQX001's safe fixes
   * need --unsafe-fixes, EQX003's unsafe ones become safe; EQX002 (not selected) goes. */
  write_file(root, "eqlint.toml", "select = [\"EQX001\", \"EQX003\", \"EQX006\", \"EQX014\"]\n"
                                  "unfixable = [\"EQX014\"]\n"
                                  "extend-unsafe-fixes = [\"EQX001\"]\n"
                                  "extend-safe-fixes = [\"EQX003\"]\n"
                                  "[per-file-ignores]\n\"tests/*.py\" = [\"EQX003\"]\n");
  /* A nested project replaces all of that: only its own EQX001 is unfixable. */
  mkdir_in(root, "sub");
  write_file(root, "sub/eqlint.toml", "unfixable = [\"EQX001\"]\n");
  /* Specificity, as in Ruff: the more specific selector wins, unsafe wins a tie. */
  mkdir_in(root, "spec");
  write_file(root, "spec/eqlint.toml", "extend-safe-fixes = [\"EQX003\", \"EQX0\"]\n"
                                       "extend-unsafe-fixes = [\"EQX00\", \"EQX014\", \"ALL\"]\n"
                                       "[per-file-ignores]\n\"x.py\" = [\"EQX006\"]\n");
  mkdir_in(root, "tie");
  write_file(root, "tie/eqlint.toml", "extend-safe-fixes = [\"EQX003\", \"EQX014\"]\n"
                                      "extend-unsafe-fixes = [\"optimizer-filter-array-like\"]\n"
                                      "unfixable = [\"EQX003\"]\n");
  mkdir_in(root, "tests");
  eql_config_store *s = NULL;
  eql_config_error err;
  CU_ASSERT_EQUAL_FATAL(eql_config_store_new(NULL, &s, &err), EQL_CONFIG_OK);
  const char *paths[] = {"a.py", "sub/s.py", "spec/x.py", "tie/t.py", "tests/t.py"};
  eql_diag_list l;
  eql_diag_list_init(&l);
  add_fixable(&l, "a.py", "EQX014", false);
  add_fixable(&l, "a.py", "EQX001", false);
  add_fixable(&l, "a.py", "EQX003", true);
  add_fixable(&l, "a.py", "EQX006", true);       /* no setting names it: unchanged */
  add_fixable(&l, "a.py", "EQX002", false);      /* not selected: dropped, fix and all */
  add_diag(&l, "a.py", "EQX013");                /* not selected either */
  add_fixable(&l, "sub/s.py", "EQX001", false);
  add_fixable(&l, "sub/s.py", "EQX014", false);  /* the outer unfixable does not reach */
  add_fixable(&l, "sub/s.py", "EQX003", true);   /* nor does the outer promotion */
  add_fixable(&l, "spec/x.py", "EQX003", true);  /* EQX003 (safe) beats EQX00 (unsafe) */
  add_fixable(&l, "spec/x.py", "EQX001", false); /* EQX00 (unsafe) beats EQX0 (safe) */
  add_fixable(&l, "spec/x.py", "EQX014", false); /* EQX014 (unsafe) beats EQX0 (safe) */
  add_fixable(&l, "spec/x.py", "EQX017", true);  /* EQX0 (safe) beats ALL (unsafe) */
  add_fixable(&l, "spec/x.py", "EQX006", true);  /* per-file-ignores: dropped */
  add_fixable(&l, "tie/t.py", "EQX014", false);  /* code and name tie: unsafe wins */
  add_fixable(&l, "tie/t.py", "EQX003", true);   /* unfixable beats extend-safe-fixes */
  add_diag(&l, "tie/t.py", "EQX001");            /* nothing to change without a fix */
  add_fixable(&l, "tests/t.py", "EQX001", false);
  add_fixable(&l, "lib/x.py", "EQX001", false);  /* not asked for: dropped */
  CU_ASSERT_EQUAL(eql_config_store_filter(s, paths, 5, &l, &err), 0);
  CU_ASSERT_EQUAL(l.n, 15);
  CU_ASSERT_EQUAL(fix_of(&l, "a.py", "EQX014"), NO_FIX);
  CU_ASSERT_EQUAL(fix_of(&l, "a.py", "EQX001"), EQL_FIX_UNSAFE);
  CU_ASSERT_EQUAL(fix_of(&l, "a.py", "EQX003"), EQL_FIX_SAFE);
  CU_ASSERT_EQUAL(fix_of(&l, "a.py", "EQX006"), EQL_FIX_UNSAFE);
  CU_ASSERT_EQUAL(fix_of(&l, "sub/s.py", "EQX001"), NO_FIX);
  CU_ASSERT_EQUAL(fix_of(&l, "sub/s.py", "EQX014"), EQL_FIX_SAFE);
  CU_ASSERT_EQUAL(fix_of(&l, "sub/s.py", "EQX003"), EQL_FIX_UNSAFE);
  CU_ASSERT_EQUAL(fix_of(&l, "spec/x.py", "EQX003"), EQL_FIX_SAFE);
  CU_ASSERT_EQUAL(fix_of(&l, "spec/x.py", "EQX001"), EQL_FIX_UNSAFE);
  CU_ASSERT_EQUAL(fix_of(&l, "spec/x.py", "EQX014"), EQL_FIX_UNSAFE);
  CU_ASSERT_EQUAL(fix_of(&l, "spec/x.py", "EQX017"), EQL_FIX_SAFE);
  CU_ASSERT_EQUAL(fix_of(&l, "tie/t.py", "EQX014"), EQL_FIX_UNSAFE);
  CU_ASSERT_EQUAL(fix_of(&l, "tie/t.py", "EQX003"), NO_FIX);
  CU_ASSERT_EQUAL(fix_of(&l, "tie/t.py", "EQX001"), NO_FIX);
  /* per-file-ignores drop diagnostics, not fixes: the file's settings still apply */
  CU_ASSERT_EQUAL(fix_of(&l, "tests/t.py", "EQX001"), EQL_FIX_UNSAFE);
  /* The fix that survives is intact: its edits are untouched. */
  for (size_t i = 0; i < l.n; i++)
    if (l.items[i].fix) CU_ASSERT_EQUAL(l.items[i].fix->nedits, 1);
  eql_diag_list_free(&l);
  eql_config_store_free(s);

  /* --config: one file's settings for every path; --isolated: none at all. */
  eql_config_options opt = {.config_path = "sub/eqlint.toml"};
  CU_ASSERT_EQUAL_FATAL(eql_config_store_new(&opt, &s, &err), EQL_CONFIG_OK);
  eql_diag_list_init(&l);
  add_fixable(&l, "a.py", "EQX001", false);
  add_fixable(&l, "a.py", "EQX003", true);
  CU_ASSERT_EQUAL(eql_config_store_filter(s, paths, 1, &l, &err), 0);
  CU_ASSERT_EQUAL(fix_of(&l, "a.py", "EQX001"), NO_FIX);
  CU_ASSERT_EQUAL(fix_of(&l, "a.py", "EQX003"), EQL_FIX_UNSAFE);
  eql_diag_list_free(&l);
  eql_config_store_free(s);
  opt = (eql_config_options){.isolated = true};
  CU_ASSERT_EQUAL_FATAL(eql_config_store_new(&opt, &s, &err), EQL_CONFIG_OK);
  eql_diag_list_init(&l);
  add_fixable(&l, "a.py", "EQX014", false);
  add_fixable(&l, "a.py", "EQX003", true);
  CU_ASSERT_EQUAL(eql_config_store_filter(s, paths, 1, &l, &err), 0);
  CU_ASSERT_EQUAL(fix_of(&l, "a.py", "EQX014"), EQL_FIX_SAFE);
  CU_ASSERT_EQUAL(fix_of(&l, "a.py", "EQX003"), EQL_FIX_UNSAFE);
  eql_diag_list_free(&l);
  eql_config_store_free(s);
  leave_root(root);
}

/* The settings that govern the run come from the working directory's configuration, which
 * is what the command line looks up ("."); a nested file's `fix` does not leak upwards. */
static void test_store_fix_switches(void) {
  char *root = enter_root();
  write_file(root, "pyproject.toml", "[tool.eqlint]\nfix = true\n");
  mkdir_in(root, "sub");
  write_file(root, "sub/eqlint.toml", "fix = false\nunsafe-fixes = true\n");
  eql_config_store *s = NULL;
  eql_config_error err;
  CU_ASSERT_EQUAL_FATAL(eql_config_store_new(NULL, &s, &err), EQL_CONFIG_OK);
  const eql_config *cfg = NULL;
  CU_ASSERT_EQUAL(eql_config_store_find(s, ".", &cfg, &err), 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(cfg);
  CU_ASSERT_EQUAL(eql_config_fix(cfg), 1);
  CU_ASSERT_EQUAL(eql_config_unsafe_fixes(cfg), -1);
  CU_ASSERT_EQUAL(eql_config_store_find(s, "sub/x.py", &cfg, &err), 0);
  CU_ASSERT_EQUAL(eql_config_fix(cfg), 0);
  CU_ASSERT_EQUAL(eql_config_unsafe_fixes(cfg), 1);
  /* A directory is governed by the file inside it, the same as a file next to that one. */
  CU_ASSERT_EQUAL(eql_config_store_find(s, "sub", &cfg, &err), 0);
  CU_ASSERT_EQUAL(eql_config_fix(cfg), 0);
  CU_ASSERT_EQUAL(eql_config_store_find(s, "sub/", &cfg, &err), 0);
  CU_ASSERT_EQUAL(eql_config_fix(cfg), 0);
  CU_ASSERT_EQUAL(eql_config_store_find(s, "sub/..", &cfg, &err), 0);
  CU_ASSERT_EQUAL(eql_config_fix(cfg), 1);
  eql_config_store_free(s);
  eql_config_options opt = {.isolated = true};
  CU_ASSERT_EQUAL_FATAL(eql_config_store_new(&opt, &s, &err), EQL_CONFIG_OK);
  CU_ASSERT_EQUAL(eql_config_store_find(s, ".", &cfg, &err), 0);
  CU_ASSERT_PTR_NULL(cfg);
  CU_ASSERT_EQUAL(eql_config_fix(cfg), -1);
  eql_config_store_free(s);
  leave_root(root);
}


static void test_store_union_and_filter(void) {
  char *root = enter_root();
  write_file(root, "eqlint.toml", "select = [\"EQX001\", \"EQX002\"]\n"
                                  "per-file-ignores = { \"tests/*.py\" = [\"EQX002\"] }\n");
  mkdir_in(root, "tests");
  mkdir_in(root, "sub");
  write_file(root, "sub/eqlint.toml", "select = [\"EQX003\"]\n");
  eql_config_store *s = NULL;
  eql_config_error err;
  CU_ASSERT_EQUAL_FATAL(eql_config_store_new(NULL, &s, &err), EQL_CONFIG_OK);
  const char *paths[] = {"sub/s.py", "a.py", "tests/t.py"};
  eql_ruleset u;
  CU_ASSERT_EQUAL(eql_config_store_union(s, paths, 3, &u, &err), 0);
  CU_ASSERT_TRUE(u.on[rule("EQX001")] && u.on[rule("EQX002")] && u.on[rule("EQX003")]);
  CU_ASSERT_FALSE(u.on[rule("EQX999")]);
  CU_ASSERT_EQUAL(eql_config_store_union(s, paths + 1, 1, &u, &err), 0);
  CU_ASSERT_FALSE(u.on[rule("EQX003")]);

  eql_diag_list l;
  eql_diag_list_init(&l);
  add_diag(&l, "a.py", "EQX001");       /* kept */
  add_diag(&l, "a.py", "EQX003");       /* not selected there */
  add_diag(&l, "tests/t.py", "EQX002"); /* per-file-ignores */
  add_diag(&l, "tests/t.py", "EQX001"); /* kept */
  add_diag(&l, "sub/s.py", "EQX003");   /* kept: sub/ has its own config */
  add_diag(&l, "lib/x.py", "EQX001");   /* parsed for the index only: never reported */
  CU_ASSERT_EQUAL(eql_config_store_filter(s, paths, 3, &l, &err), 0);
  CU_ASSERT_EQUAL_FATAL(l.n, 3);
  CU_ASSERT_STRING_EQUAL(l.items[0].path, "a.py");
  CU_ASSERT_EQUAL(l.items[0].rule, rule("EQX001"));
  CU_ASSERT_STRING_EQUAL(l.items[1].path, "tests/t.py");
  CU_ASSERT_EQUAL(l.items[1].rule, rule("EQX001"));
  CU_ASSERT_STRING_EQUAL(l.items[2].path, "sub/s.py");
  eql_diag_list_free(&l);

  /* What --show-settings reports for a directory: its selection, no per-file patterns. */
  eql_ruleset rs;
  CU_ASSERT_EQUAL(eql_config_store_dir_ruleset(s, ".", &rs, &err), 0);
  CU_ASSERT_TRUE(rs.on[rule("EQX001")] && rs.on[rule("EQX002")]);
  CU_ASSERT_FALSE(rs.on[rule("EQX003")]);
  CU_ASSERT_EQUAL(eql_config_store_dir_ruleset(s, "sub", &rs, &err), 0);
  CU_ASSERT_TRUE(rs.on[rule("EQX003")]);
  CU_ASSERT_FALSE(rs.on[rule("EQX001")]);
  eql_config_store_free(s);
  leave_root(root);
}

/* docs/configuration.md must document every key and option the code accepts, and its
 * TOML examples must be valid configurations. An example may name a rule of the catalogue
 * that this build does not have yet: that one error is accepted. */
static void test_docs_cover_every_key(void) {
  FILE *f = fopen("docs/configuration.md", "rb");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  static char doc[65536];
  size_t n = fread(doc, 1, sizeof doc - 1, f);
  fclose(f);
  doc[n] = 0;
  CU_ASSERT_TRUE(n < sizeof doc - 1);
  for (const char *const *k = eql_config_known_keys(); *k; k++) {
    char heading[96];
    snprintf(heading, sizeof heading, "### `%s", *k);
    if (!strstr(doc, heading)) fprintf(stderr, "\n  undocumented key: %s\n", *k);
    CU_ASSERT_PTR_NOT_NULL(strstr(doc, heading));
  }
  for (const char *const *o = eql_config_rule_options("EQX013"); *o; o++) {
    char row[96];
    snprintf(row, sizeof row, "| EQX013 | `%s` |", *o);
    CU_ASSERT_PTR_NOT_NULL(strstr(doc, row));
  }
  CU_ASSERT_PTR_NULL(eql_config_rule_options("EQX001")[0]);
  int blocks = 0;
  for (char *p = strstr(doc, "```toml\n"); p; p = strstr(p, "```toml\n")) {
    p += 8;
    char *end = strstr(p, "```");
    CU_ASSERT_PTR_NOT_NULL_FATAL(end);
    *end = 0;
    const char *name = strstr(p, "[tool.eqlint") ? "/d/pyproject.toml" : "/d/eqlint.toml";
    eql_config *cfg = NULL;
    eql_config_error err;
    eql_config_status st = eql_config_parse(name, p, strlen(p), &cfg, &err);
    bool ok = st == EQL_CONFIG_OK || (st == EQL_CONFIG_INVALID &&
                                      (strstr(err.message, "unknown rule code or prefix") ||
                                       strstr(err.message, "unknown rule `")));
    if (!ok) fprintf(stderr, "\n  example %d: %u:%u: %s\n%s\n", blocks, err.line, err.col,
                     err.message, p);
    CU_ASSERT_TRUE(ok);
    eql_config_free(cfg);
    *end = '`';
    p = end + 3;
    blocks++;
  }
  CU_ASSERT_TRUE(blocks >= 10);
}

int main(void) {
  /* Keep the user's git configuration (a global excludes file) out of the results. */
  setenv("GIT_CONFIG_NOSYSTEM", "1", 1);
  setenv("HOME", "/nonexistent-eqlint-test-home", 1);
  setenv("XDG_CONFIG_HOME", "/nonexistent-eqlint-test-home", 1);
  static const eql_test tests[] = {
      EQL_TEST(test_every_key),
      EQL_TEST(test_pyproject_table),
      EQL_TEST(test_toml_forms),
      EQL_TEST(test_errors_with_positions),
      EQL_TEST(test_deep_nesting),
      EQL_TEST(test_load_errors),
      EQL_TEST(test_selection_precedence),
      EQL_TEST(test_glob_match),
      EQL_TEST(test_per_file_ignores),
      EQL_TEST(test_exclude_patterns),
      EQL_TEST(test_rule_options_and_test_paths),
      EQL_TEST(test_hierarchical_discovery),
      EQL_TEST(test_store_error_is_sticky),
      EQL_TEST(test_store_walk_exclude_force_and_src),
      EQL_TEST(test_store_walk_gitignore_switch),
      EQL_TEST(test_store_union_and_filter),
      EQL_TEST(test_fix_settings_parse),
      EQL_TEST(test_store_filter_fix_settings),
      EQL_TEST(test_store_fix_switches),
      EQL_TEST(test_docs_cover_every_key),
  };
  return eql_cunit_run("config", tests, sizeof tests / sizeof *tests);
}
