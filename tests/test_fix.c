/* The fix engine (fix.h) in-process: how edits combine, the golden before -> after cases
 * of fixtures/fixes, idempotence, a round trip over every Python fixture, what happens to a
 * fix that would break the parse, and a file that changes on disk between read and write.
 * The command line's side of fixing (flags, exit codes, atomic writes through the program,
 * mtimes) is tests/cli_fix_test.sh. */
#include <dirent.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cunit_main.h"
#include "eqlint/check.h"
#include "eqlint/fix.h"
#include "eqlint/fixio.h"
#include "eqlint/walk.h"

/* ------------------------------------------------------------------ helpers */

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = NULL;
  size_t cap = 0, n = 0;
  for (;;) {
    if (n + 4096 + 1 > cap) {
      cap = (n + 4096 + 1) * 2;
      char *nb = realloc(buf, cap);
      if (!nb) break;
      buf = nb;
    }
    size_t got = fread(buf + n, 1, cap - n - 1, f);
    n += got;
    if (got == 0) break;
  }
  fclose(f);
  if (buf) buf[n] = 0;
  *len = n;
  return buf;
}

typedef struct run_ctx {
  eql_project *p;
  eql_ruleset rules;
} run_ctx;

static int run_all(void *ud, eql_diag_list *out) {
  run_ctx *r = ud;
  return eql_project_run(r->p, &r->rules, out);
}

/* Fixes the files of `p` (all of them fixable) with every rule on. */
static int fix_project(eql_project *p, const char *const *paths, size_t n, bool unsafe,
                       eql_fix_report *rep, eql_diag_list *remaining) {
  run_ctx r = {p, {{0}}};
  eql_ruleset_all(&r.rules);
  return eql_fix_project(p, run_all, &r, paths, n, unsafe, 20, rep, remaining);
}

/* A diagnostic on `src` whose fix is the given edits (start, end, text triples). */
static eql_diag *diag_with(eql_diag_list *l, const eql_source *src, int nedits, ...) {
  eql_diag *d = eql_diag_add(l, EQL_R_EQX003, src, 0, 1, "m", NULL);
  va_list ap;
  va_start(ap, nedits);
  for (int i = 0; i < nedits; i++) {
    unsigned s = va_arg(ap, unsigned), e = va_arg(ap, unsigned);
    const char *t = va_arg(ap, const char *);
    CU_ASSERT_EQUAL(eql_diag_add_edit(d, src, "fix", s, e, t), 0);
  }
  va_end(ap);
  return d;
}

/* Applies every diagnostic's fix of `l` to src's text; returns the text (malloc'd). */
static char *apply(const eql_source *src, eql_diag_list *l, bool unsafe, long *nfixed,
                   unsigned char *applied) {
  eql_diag **ds = malloc((l->n + 1) * sizeof *ds);
  for (size_t i = 0; i < l->n; i++) ds[i] = &l->items[i];
  char *out = NULL;
  size_t len = 0;
  *nfixed = eql_fix_apply(src->text, src->len, ds, l->n, unsafe, &out, &len, applied);
  free(ds);
  if (!out) out = strdup(src->text);
  return out;
}

/* ------------------------------------------------------------------ combining edits */

static void test_apply_combines_and_defers(void) {
  eql_source *src = eql_source_new("t.py", "abcdefghij", 10);
  eql_diag_list l;
  eql_diag_list_init(&l);
  diag_with(&l, src, 1, 1u, 3u, "XY");     /* bc -> XY */
  diag_with(&l, src, 1, 2u, 5u, "Q");      /* overlaps the first: waits */
  diag_with(&l, src, 1, 7u, 8u, "");       /* h deleted */
  diag_with(&l, src, 2, 0u, 0u, "<", 9u, 10u, ">"); /* a fix of two edits, all or nothing */
  unsigned char applied[4];
  long n = 0;
  char *out = apply(src, &l, false, &n, applied);
  CU_ASSERT_EQUAL(n, 3);
  CU_ASSERT_STRING_EQUAL(out, "<aXYdefgi>");
  CU_ASSERT(applied[0] && !applied[1] && applied[2] && applied[3]);
  free(out);
  eql_diag_list_free(&l);
  eql_source_free(src);
}

static void test_apply_shares_identical_edits_and_orders_insertions(void) {
  eql_source *src = eql_source_new("t.py", "x = f(a)\n", 9);
  eql_diag_list l;
  eql_diag_list_init(&l);
  /* two fixes that both add the same import, each with its own replacement */
  diag_with(&l, src, 2, 0u, 0u, "import eqx\n", 4u, 5u, "g");
  diag_with(&l, src, 2, 0u, 0u, "import eqx\n", 6u, 7u, "b");
  /* an insertion at the start of a replaced range goes before the replacement */
  diag_with(&l, src, 1, 8u, 8u, "  # end");
  unsigned char applied[3];
  long n = 0;
  char *out = apply(src, &l, false, &n, applied);
  CU_ASSERT_EQUAL(n, 3);
  CU_ASSERT_STRING_EQUAL(out, "import eqx\nx = g(b)  # end\n");
  free(out);
  eql_diag_list_free(&l);

  /* two different insertions at one point would have an arbitrary order: one waits */
  eql_diag_list_init(&l);
  diag_with(&l, src, 1, 0u, 0u, "A");
  diag_with(&l, src, 1, 0u, 0u, "B");
  out = apply(src, &l, false, &n, applied);
  CU_ASSERT_EQUAL(n, 1);
  CU_ASSERT_STRING_EQUAL(out, "Ax = f(a)\n");
  free(out);
  eql_diag_list_free(&l);
  eql_source_free(src);
}

static void test_apply_unsafe_and_stale(void) {
  eql_source *src = eql_source_new("t.py", "0123456789", 10);
  eql_diag_list l;
  eql_diag_list_init(&l);
  eql_diag *d = diag_with(&l, src, 1, 0u, 1u, "U");
  eql_diag_fix_unsafe(d);
  diag_with(&l, src, 1, 5u, 6u, "S");
  unsigned char applied[2];
  long n = 0;
  char *out = apply(src, &l, false, &n, applied);
  CU_ASSERT_EQUAL(n, 1);
  CU_ASSERT_STRING_EQUAL(out, "01234S6789");
  CU_ASSERT(!applied[0] && applied[1]);
  free(out);
  out = apply(src, &l, true, &n, applied);
  CU_ASSERT_EQUAL(n, 2);
  CU_ASSERT_STRING_EQUAL(out, "U1234S6789");
  free(out);
  eql_diag_list_free(&l);
  /* an edit past the end of the text (a diagnostic of an older text) is never applied */
  eql_source *longer = eql_source_new("t.py", "0123456789ABCDEF", 16);
  eql_diag_list_init(&l);
  diag_with(&l, longer, 1, 12u, 14u, "");
  out = apply(src, &l, true, &n, applied);
  CU_ASSERT_EQUAL(n, 0);
  CU_ASSERT_STRING_EQUAL(out, "0123456789");
  free(out);
  eql_diag_list_free(&l);
  eql_source_free(longer);
  eql_source_free(src);
}

static void test_overlapping_edits_void_a_fix(void) {
  eql_source *src = eql_source_new("t.py", "0123456789", 10);
  eql_diag_list l;
  eql_diag_list_init(&l);
  eql_diag *d = eql_diag_add(&l, EQL_R_EQX003, src, 0, 1, "m", NULL);
  CU_ASSERT_EQUAL(eql_diag_add_edit(d, src, "fix", 2, 5, "x"), 0);
  CU_ASSERT_EQUAL(eql_diag_add_edit(d, src, "fix", 0, 1, "y"), 0); /* sorted in */
  CU_ASSERT_EQUAL_FATAL(d->fix->nedits, 2);
  CU_ASSERT_EQUAL(d->fix->edits[0].span.start, 0);
  CU_ASSERT_EQUAL(eql_diag_add_edit(d, src, "fix", 0, 1, "y"), 0); /* the same edit: once */
  CU_ASSERT_EQUAL(d->fix->nedits, 2);
  CU_ASSERT_EQUAL(eql_diag_add_edit(d, src, "fix", 4, 6, "z"), -1); /* overlaps 2..5 */
  CU_ASSERT_PTR_NULL(d->fix);
  eql_diag_list_free(&l);
  eql_source_free(src);
}

/* ------------------------------------------------------------------ golden cases */

#define FIXES_DIR "fixtures/fixes"

/* Fixes one file in memory; returns its final text (malloc'd) and the report's total. */
static char *fixed_text(const char *path, const char *text, size_t len, bool unsafe,
                        size_t *total, eql_diag_list *remaining) {
  eql_project *p = eql_project_new();
  CU_ASSERT_EQUAL_FATAL(eql_project_add_source(p, path, text, len), 0);
  eql_fix_report rep;
  const char *paths[] = {path};
  CU_ASSERT_EQUAL(fix_project(p, paths, 1, unsafe, &rep, remaining), 0);
  CU_ASSERT_EQUAL(rep.dropped.n, 0);
  *total = rep.total;
  const eql_source *s = eql_project_source(p, path);
  char *out = s ? strndup(s->text, s->len) : NULL;
  eql_fix_report_free(&rep);
  eql_project_free(p);
  return out;
}

static int golden_cases(char names[][256], int max) {
  DIR *d = opendir(FIXES_DIR);
  int n = 0;
  if (!d) return 0;
  for (struct dirent *e; (e = readdir(d)) && n < max;) {
    size_t k = strlen(e->d_name);
    if (k > 3 && !strcmp(e->d_name + k - 3, ".py")) snprintf(names[n++], 256, "%s", e->d_name);
  }
  closedir(d);
  return n;
}

static void check_golden(bool unsafe) {
  char names[64][256];
  int n = golden_cases(names, 64);
  CU_ASSERT_FATAL(n >= 12);
  for (int i = 0; i < n; i++) {
    char path[512], want_path[600];
    snprintf(path, sizeof path, FIXES_DIR "/%.255s", names[i]);
    size_t stem = strlen(path) - 3;
    snprintf(want_path, sizeof want_path, "%.*s.unsafe-fixed", (int)stem, path);
    struct stat st;
    if (!unsafe || stat(want_path, &st) != 0)
      snprintf(want_path, sizeof want_path, "%.*s.fixed", (int)stem, path);
    size_t len = 0, want_len = 0, total = 0, again = 0;
    char *before = slurp(path, &len), *want = slurp(want_path, &want_len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(before);
    if (!want) {
      printf("\n%s: no %s\n", path, want_path);
      CU_FAIL("golden file missing");
      free(before);
      continue;
    }
    eql_diag_list rest;
    eql_diag_list_init(&rest);
    char *got = fixed_text(path, before, len, unsafe, &total, &rest);
    if (!got || strcmp(got, want) != 0) {
      printf("\n%s (%s): fixed text differs from %s:\n%s\n", path, unsafe ? "unsafe" : "safe",
             want_path, got ? got : "(null)");
      CU_FAIL("golden mismatch");
    }
    /* nothing --fix could still do is left behind */
    for (size_t k = 0; k < rest.n; k++)
      CU_ASSERT(!eql_diag_fixable(&rest.items[k], unsafe));
    eql_diag_list_free(&rest);
    /* idempotence: fixing the fixed text changes nothing */
    eql_diag_list_init(&rest);
    char *twice = got ? fixed_text(path, got, strlen(got), unsafe, &again, &rest) : NULL;
    CU_ASSERT_EQUAL(again, 0);
    CU_ASSERT(twice && got && !strcmp(twice, got));
    /* a golden case that changes nothing must say so by being its own .fixed */
    if (strcmp(before, want) != 0) CU_ASSERT(total > 0);
    eql_diag_list_free(&rest);
    free(twice);
    free(got);
    free(before);
    free(want);
  }
}

static void test_golden_safe(void) { check_golden(false); }
static void test_golden_unsafe(void) { check_golden(true); }

/* ------------------------------------------------------------------ round trip */

/* Per-rule counts of a diagnostic list. */
static void count_rules(const eql_diag_list *l, size_t *counts) {
  memset(counts, 0, EQL_RULE_COUNT * sizeof *counts);
  for (size_t i = 0; i < l->n; i++) counts[l->items[i].rule]++;
}

static void on_walk_error(void *ud, const char *path, const char *reason) {
  (void)ud;
  printf("%s: %s\n", path, reason);
}

/* Every case of fixtures/python, fixed with unsafe fixes on: each fixed file still parses,
 * no rule reports more than before, nothing fixable is left, and a second pass is a no-op. */
static void test_round_trip_every_fixture(void) {
  DIR *dir = opendir("fixtures/python");
  CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
  int cases = 0, changed = 0;
  size_t fixed_total = 0;
  for (struct dirent *e; (e = readdir(dir));) {
    if (e->d_name[0] == '.') continue;
    char root[512];
    snprintf(root, sizeof root, "fixtures/python/%.255s", e->d_name);
    const char *roots[] = {root};
    eql_walk_files files;
    eql_walk_files_init(&files);
    if (eql_walk(roots, 1, &files, on_walk_error, NULL) != 0 || files.n == 0) {
      eql_walk_files_free(&files);
      continue;
    }
    cases++;
    eql_project *p = eql_project_new();
    for (size_t i = 0; i < files.n; i++) {
      const char *err = NULL;
      CU_ASSERT_EQUAL(eql_project_add_file(p, files.paths[i], &err), 0);
    }
    run_ctx r = {p, {{0}}};
    eql_ruleset_all(&r.rules);
    eql_diag_list before;
    eql_diag_list_init(&before);
    CU_ASSERT_EQUAL(eql_project_run(p, &r.rules, &before), 0);
    size_t cb[EQL_RULE_COUNT], ca[EQL_RULE_COUNT];
    count_rules(&before, cb);
    eql_fix_report rep;
    eql_diag_list after;
    eql_diag_list_init(&after);
    CU_ASSERT_EQUAL(fix_project(p, (const char *const *)files.paths, files.n, true, &rep, &after),
                    0);
    count_rules(&after, ca);
    if (rep.dropped.n) printf("\n%s: %zu fixes dropped (syntax errors)\n", root, rep.dropped.n);
    CU_ASSERT_EQUAL(rep.dropped.n, 0);
    for (int k = 0; k < EQL_RULE_COUNT; k++) {
      if (ca[k] > cb[k]) {
        printf("\n%s: %s went from %zu to %zu diagnostics after fixing\n", root,
               eql_rules[k].code, cb[k], ca[k]);
        CU_FAIL("a fix added diagnostics");
      }
    }
    CU_ASSERT_EQUAL(ca[EQL_R_EQX999], cb[EQL_R_EQX999]); /* still parses (when it did) */
    for (size_t k = 0; k < after.n; k++) {
      if (eql_diag_fixable(&after.items[k], true)) {
        printf("\n%s:%u: %s still fixable after fixing\n", after.items[k].path,
               after.items[k].span.line, eql_rules[after.items[k].rule].code);
        CU_FAIL("fixable diagnostic left");
      }
    }
    if (rep.nfiles) changed++;
    fixed_total += rep.total;
    /* idempotence over the whole project */
    eql_fix_report rep2;
    eql_diag_list after2;
    eql_diag_list_init(&after2);
    CU_ASSERT_EQUAL(
        fix_project(p, (const char *const *)files.paths, files.n, true, &rep2, &after2), 0);
    CU_ASSERT_EQUAL(rep2.total, 0);
    eql_fix_report_free(&rep2);
    eql_diag_list_free(&after2);
    eql_fix_report_free(&rep);
    eql_diag_list_free(&after);
    eql_diag_list_free(&before);
    eql_project_free(p);
    eql_walk_files_free(&files);
  }
  closedir(dir);
  printf("\n  round trip: %d cases, %d changed, %zu diagnostics fixed\n", cases, changed,
         fixed_total);
  CU_ASSERT(cases >= 200);
  CU_ASSERT(changed >= 20); /* the fixtures hold plenty of fixable pitfalls */
}

/* ------------------------------------------------------------------ safety nets */

/* A check that offers one fix breaking the parse and one good fix. */
static int bad_fix_check(void *ud, eql_diag_list *out) {
  eql_project *p = ud;
  const eql_source *src = eql_project_source(p, "bad.py");
  const char *x = strstr(src->text, "x = 1");
  const char *y = strstr(src->text, "y = 2");
  if (x) {
    eql_diag *d = eql_diag_add(out, EQL_R_EQX003, src, (uint32_t)(x - src->text),
                               (uint32_t)(x - src->text) + 5, "breaks", NULL);
    eql_diag_add_edit(d, src, "break it", (uint32_t)(x - src->text) + 4,
                      (uint32_t)(x - src->text) + 5, "(");
  }
  if (y) {
    eql_diag *d = eql_diag_add(out, EQL_R_EQX001, src, (uint32_t)(y - src->text),
                               (uint32_t)(y - src->text) + 5, "fine", NULL);
    eql_diag_add_edit(d, src, "ok", (uint32_t)(y - src->text), (uint32_t)(y - src->text) + 1,
                      "z");
  }
  eql_diag_list_sort(out);
  return 0;
}

static void test_fix_leaving_a_syntax_error_is_dropped(void) {
  eql_project *p = eql_project_new();
  const char *text = "x = 1\ny = 2\n";
  CU_ASSERT_EQUAL_FATAL(eql_project_add_source(p, "bad.py", text, strlen(text)), 0);
  const char *paths[] = {"bad.py"};
  eql_fix_report rep;
  eql_diag_list rest;
  eql_diag_list_init(&rest);
  CU_ASSERT_EQUAL(eql_fix_project(p, bad_fix_check, p, paths, 1, false, 20, &rep, &rest), 0);
  CU_ASSERT_EQUAL(rep.dropped.n, 1);
  CU_ASSERT_STRING_EQUAL(rep.dropped.items[0].message, "breaks");
  CU_ASSERT_EQUAL(rep.total, 1);
  CU_ASSERT_STRING_EQUAL(eql_project_source(p, "bad.py")->text, "x = 1\nz = 2\n");
  CU_ASSERT(rep.rounds < 20); /* the dropped fix is not offered again and again */
  eql_fix_report_free(&rep);
  eql_diag_list_free(&rest);
  eql_project_free(p);
}

static void test_unparsable_file_is_not_fixed(void) {
  const char *text = "import jax\nimport equinox as eqx\n@jax.jit\ndef f(m: eqx.nn.MLP):\n"
                     "    return m\ndef broken(:\n";
  size_t total = 0;
  eql_diag_list rest;
  eql_diag_list_init(&rest);
  char *got = fixed_text("broken.py", text, strlen(text), true, &total, &rest);
  CU_ASSERT_EQUAL(total, 0);
  CU_ASSERT(got && !strcmp(got, text));
  free(got);
  eql_diag_list_free(&rest);
}

static void test_only_fixable_paths_change(void) {
  /* model.py is part of the project (the index) but not asked for: never changed */
  const char *model = "import jax\nimport equinox as eqx\nimport optax\n"
                      "m = eqx.nn.MLP(2, 1, 8, 2, key=jax.random.PRNGKey(0))\n"
                      "s = optax.adam(1e-3).init(m)\n";
  eql_project *p = eql_project_new();
  CU_ASSERT_EQUAL_FATAL(eql_project_add_source(p, "model.py", model, strlen(model)), 0);
  CU_ASSERT_EQUAL_FATAL(eql_project_add_source(p, "train.py", model, strlen(model)), 0);
  const char *paths[] = {"train.py"};
  eql_fix_report rep;
  eql_diag_list rest;
  eql_diag_list_init(&rest);
  CU_ASSERT_EQUAL(fix_project(p, paths, 1, false, &rep, &rest), 0);
  CU_ASSERT_EQUAL(rep.nfiles, 1);
  CU_ASSERT_STRING_EQUAL(eql_project_source(p, "model.py")->text, model);
  CU_ASSERT_PTR_NOT_NULL(strstr(eql_project_source(p, "train.py")->text,
                                "init(eqx.filter(m, eqx.is_array))"));
  eql_fix_report_free(&rep);
  eql_diag_list_free(&rest);
  eql_project_free(p);
}

static void test_file_changed_between_read_and_write(void) {
  char dir[] = "/tmp/eqlint-fix.XXXXXX";
  CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
  char path[600];
  snprintf(path, sizeof path, "%s/train.py", dir);
  const char *text = "import jax\nimport equinox as eqx\n"
                     "@jax.jit\ndef f(m: eqx.nn.MLP, x):\n    return m(x)\n";
  FILE *f = fopen(path, "wb");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  fputs(text, f);
  fclose(f);
  eql_project *p = eql_project_new();
  const char *err = NULL;
  CU_ASSERT_EQUAL_FATAL(eql_project_add_file(p, path, &err), 0);
  const char *paths[] = {path};
  eql_fix_report rep;
  eql_diag_list rest;
  eql_diag_list_init(&rest);
  CU_ASSERT_EQUAL(fix_project(p, paths, 1, false, &rep, &rest), 0);
  CU_ASSERT_EQUAL_FATAL(rep.nfiles, 1);
  /* the user saves in the editor meanwhile */
  const char *edited = "# edited meanwhile\n";
  f = fopen(path, "wb");
  fputs(edited, f);
  fclose(f);
  char msg[256];
  const eql_fixed_file *ff = &rep.files[0];
  CU_ASSERT_EQUAL(eql_write_atomic(ff->path, ff->after, ff->after_len, ff->before,
                                   ff->before_len, msg, sizeof msg),
                  EQL_WRITE_CHANGED);
  size_t len = 0;
  char *now = slurp(path, &len);
  CU_ASSERT(now && !strcmp(now, edited));
  free(now);
  /* unchanged on disk: written */
  f = fopen(path, "wb");
  fputs(text, f);
  fclose(f);
  CU_ASSERT_EQUAL(eql_write_atomic(ff->path, ff->after, ff->after_len, ff->before,
                                   ff->before_len, msg, sizeof msg),
                  EQL_WRITE_OK);
  now = slurp(path, &len);
  CU_ASSERT(now && strstr(now, "@eqx.filter_jit"));
  free(now);
  eql_fix_report_free(&rep);
  eql_diag_list_free(&rest);
  eql_project_free(p);
  unlink(path);
  rmdir(dir);
}

int main(void) {
  static const eql_test tests[] = {
      {"apply combines non-overlapping fixes and defers the rest", test_apply_combines_and_defers},
      {"apply shares identical edits, orders insertions", test_apply_shares_identical_edits_and_orders_insertions},
      {"apply: unsafe only when asked, stale edits never", test_apply_unsafe_and_stale},
      {"overlapping edits void a fix", test_overlapping_edits_void_a_fix},
      {"golden cases, safe fixes", test_golden_safe},
      {"golden cases, unsafe fixes", test_golden_unsafe},
      {"round trip over every Python fixture", test_round_trip_every_fixture},
      {"a fix leaving a syntax error is dropped", test_fix_leaving_a_syntax_error_is_dropped},
      {"an unparsable file is not fixed", test_unparsable_file_is_not_fixed},
      {"only the asked-for paths change", test_only_fixable_paths_change},
      {"a file changed between read and write is kept", test_file_changed_between_read_and_write},
  };
  return eql_cunit_run("fix", tests, sizeof tests / sizeof *tests);
}
