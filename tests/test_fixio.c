/* Unit tests for fixio.c: the unified diff of `check --diff` and the atomic write of
 * `check --fix`. Diffs are checked as whole strings in the exact shape `diff -u` prints, and
 * also by applying them with a small patcher of our own to random edits, so correctness
 * does not rest on hand-written expectations alone. The write tests each build a fresh tree
 * under /tmp and list its directories afterwards: a temporary left behind is a bug as real
 * as a lost file. Permission tests run as "nobody" in a child process when the suite runs as
 * root, since root ignores file permissions. */
#include <dirent.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cunit_main.h"
#include "eqlint/fixio.h"

/* ---------------------------------------------------------------- diff helpers */

/* eql_udiff of a -> b as a string (caller frees); *rc gets its return value. */
static char *udiff_n(const char *a, size_t alen, const char *b, size_t blen, int *rc) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  *rc = eql_udiff(f, "f.py", a, alen, b, blen);
  fclose(f);
  return buf;
}

static char *udiff(const char *a, const char *b) {
  int rc;
  char *s = udiff_n(a, strlen(a), b, strlen(b), &rc);
  CU_ASSERT_EQUAL(rc, 0);
  return s;
}

static void assert_udiff(const char *a, const char *b, const char *want) {
  char *got = udiff(a, b);
  if (strcmp(got, want) != 0) fprintf(stderr, "\n--- want:\n%s--- got:\n%s---\n", want, got);
  CU_ASSERT_STRING_EQUAL(got, want);
  free(got);
}

/* "line 1\n" ... "line n\n", with "LINE k\n" for each k in upper[0..nupper). */
static char *numbered(int n, const int *upper, size_t nupper) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  for (int k = 1; k <= n; k++) {
    bool up = false;
    for (size_t i = 0; i < nupper; i++) up = up || upper[i] == k;
    fprintf(f, "%s %d\n", up ? "LINE" : "line", k);
  }
  fclose(f);
  return buf;
}

/* ---------------------------------------------------------------- diff shape */

static void test_udiff_equal_prints_nothing(void) {
  assert_udiff("", "", "");
  assert_udiff("a\nb\n", "a\nb\n", "");
  assert_udiff("a\nb", "a\nb", "");
  char *t = numbered(20, NULL, 0);
  assert_udiff(t, t, "");
  free(t);
}

static void test_udiff_one_line_change(void) {
  char *a = numbered(20, NULL, 0), *b = numbered(20, (int[]){10}, 1);
  assert_udiff(a, b,
               "--- f.py\n"
               "+++ f.py\n"
               "@@ -7,7 +7,7 @@\n"
               " line 7\n"
               " line 8\n"
               " line 9\n"
               "-line 10\n"
               "+LINE 10\n"
               " line 11\n"
               " line 12\n"
               " line 13\n");
  free(a);
  free(b);
}

static void test_udiff_far_changes_two_hunks(void) {
  char *a = numbered(20, NULL, 0), *b = numbered(20, (int[]){2, 18}, 2);
  assert_udiff(a, b,
               "--- f.py\n"
               "+++ f.py\n"
               "@@ -1,5 +1,5 @@\n"
               " line 1\n"
               "-line 2\n"
               "+LINE 2\n"
               " line 3\n"
               " line 4\n"
               " line 5\n"
               "@@ -15,6 +15,6 @@\n"
               " line 15\n"
               " line 16\n"
               " line 17\n"
               "-line 18\n"
               "+LINE 18\n"
               " line 19\n"
               " line 20\n");
  free(a);
  free(b);
}

/* Six unchanged lines between two changes: the two contexts of three touch, one hunk.
 * Seven: a line would be left out between them, two hunks (as diff -u). */
static void test_udiff_close_changes_merge(void) {
  char *a = numbered(20, NULL, 0), *b = numbered(20, (int[]){8, 15}, 2);
  assert_udiff(a, b,
               "--- f.py\n"
               "+++ f.py\n"
               "@@ -5,14 +5,14 @@\n"
               " line 5\n line 6\n line 7\n"
               "-line 8\n+LINE 8\n"
               " line 9\n line 10\n line 11\n line 12\n line 13\n line 14\n"
               "-line 15\n+LINE 15\n"
               " line 16\n line 17\n line 18\n");
  free(b);
  b = numbered(20, (int[]){8, 16}, 2);
  assert_udiff(a, b,
               "--- f.py\n"
               "+++ f.py\n"
               "@@ -5,7 +5,7 @@\n"
               " line 5\n line 6\n line 7\n"
               "-line 8\n+LINE 8\n"
               " line 9\n line 10\n line 11\n"
               "@@ -13,7 +13,7 @@\n"
               " line 13\n line 14\n line 15\n"
               "-line 16\n+LINE 16\n"
               " line 17\n line 18\n line 19\n");
  free(a);
  free(b);
}

static void test_udiff_insert_at_start_and_end(void) {
  const char *a = "a\nb\nc\nd\ne\n";
  assert_udiff(a, "new\na\nb\nc\nd\ne\n",
               "--- f.py\n+++ f.py\n"
               "@@ -1,3 +1,4 @@\n"
               "+new\n a\n b\n c\n");
  assert_udiff(a, "a\nb\nc\nd\ne\nnew\n",
               "--- f.py\n+++ f.py\n"
               "@@ -3,3 +3,4 @@\n"
               " c\n d\n e\n+new\n");
  /* And the deletions that undo them. */
  assert_udiff("new\na\nb\nc\nd\ne\n", a,
               "--- f.py\n+++ f.py\n"
               "@@ -1,4 +1,3 @@\n"
               "-new\n a\n b\n c\n");
  /* A one-line range prints without its count. */
  assert_udiff("a\n", "a\nb\n", "--- f.py\n+++ f.py\n@@ -1 +1,2 @@\n a\n+b\n");
}

static void test_udiff_no_newline_marker(void) {
  /* Adding the final newline changes the last line. */
  assert_udiff("a\nb\nc", "a\nb\nc\n",
               "--- f.py\n+++ f.py\n"
               "@@ -1,3 +1,3 @@\n"
               " a\n b\n-c\n"
               "\\ No newline at end of file\n"
               "+c\n");
  /* Removing it. */
  assert_udiff("a\nb\nc\n", "a\nb\nc",
               "--- f.py\n+++ f.py\n"
               "@@ -1,3 +1,3 @@\n"
               " a\n b\n-c\n"
               "+c\n"
               "\\ No newline at end of file\n");
  /* Missing on both sides, on a context line: one marker. */
  assert_udiff("a\nb\nc", "A\nb\nc",
               "--- f.py\n+++ f.py\n"
               "@@ -1,3 +1,3 @@\n"
               "-a\n+A\n b\n c\n"
               "\\ No newline at end of file\n");
  /* A one-line file without newline, replaced. */
  assert_udiff("x", "y",
               "--- f.py\n+++ f.py\n"
               "@@ -1 +1 @@\n"
               "-x\n\\ No newline at end of file\n"
               "+y\n\\ No newline at end of file\n");
}

static void test_udiff_crlf_kept(void) {
  assert_udiff("a\r\nb\r\nc\r\n", "a\r\nB\r\nc\r\n",
               "--- f.py\n+++ f.py\n"
               "@@ -1,3 +1,3 @@\n"
               " a\r\n-b\r\n+B\r\n c\r\n");
  /* Only the ending differs: the line differs. */
  assert_udiff("a\nb\n", "a\r\nb\n",
               "--- f.py\n+++ f.py\n"
               "@@ -1,2 +1,2 @@\n"
               "-a\n+a\r\n b\n");
}

static void test_udiff_empty_side(void) {
  assert_udiff("", "a\nb\nc\n",
               "--- f.py\n+++ f.py\n"
               "@@ -0,0 +1,3 @@\n"
               "+a\n+b\n+c\n");
  assert_udiff("a\nb\nc\n", "",
               "--- f.py\n+++ f.py\n"
               "@@ -1,3 +0,0 @@\n"
               "-a\n-b\n-c\n");
  assert_udiff("", "a\n", "--- f.py\n+++ f.py\n@@ -0,0 +1 @@\n+a\n");
  assert_udiff("", "a", "--- f.py\n+++ f.py\n@@ -0,0 +1 @@\n+a\n\\ No newline at end of file\n");
}

/* Between equally short diffs, the one diff -u prints: an insertion among identical lines
 * goes as low as it can. */
static void test_udiff_ties_as_diff_u(void) {
  assert_udiff("y\nx\n", "x\ny\nx\nx\n",
               "--- f.py\n+++ f.py\n"
               "@@ -1,2 +1,4 @@\n"
               "+x\n y\n x\n+x\n");
  assert_udiff("x\ny\nz\nz\n", "y\nz\n",
               "--- f.py\n+++ f.py\n"
               "@@ -1,4 +1,2 @@\n"
               "-x\n y\n z\n-z\n");
  assert_udiff("a\nx\nx\nx\nb\n", "a\nx\nx\nb\n",
               "--- f.py\n+++ f.py\n"
               "@@ -1,5 +1,4 @@\n"
               " a\n x\n x\n-x\n b\n");
}

/* Bytes are bytes: NULs and invalid UTF-8 inside lines. */
static void test_udiff_binary_bytes(void) {
  const char a[] = "x\0y\n\xff\n", b[] = "x\0z\n\xff\n";
  int rc;
  char *got = udiff_n(a, sizeof a - 1, b, sizeof b - 1, &rc);
  CU_ASSERT_EQUAL(rc, 0);
  const char want[] = "--- f.py\n+++ f.py\n@@ -1,2 +1,2 @@\n-x\0y\n+x\0z\n \xff\n";
  CU_ASSERT_EQUAL(memcmp(got, want, sizeof want - 1), 0);
  free(got);
}

/* When `diff` is installed, the bodies (without diff's dated header lines) must agree. */
static void test_udiff_matches_diff_u(void) {
  if (system("command -v diff >/dev/null 2>&1") != 0) {
    CU_PASS("skipped: no diff(1) to compare with");
    fprintf(stderr, "\n  (skipped: no diff(1) on this machine) ");
    return;
  }
  char tmpl[] = "/tmp/eqlint-fixio-XXXXXX";
  CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(tmpl));
  char *n20 = numbered(20, NULL, 0), *c10 = numbered(20, (int[]){10}, 1),
       *c8_15 = numbered(20, (int[]){8, 15}, 2), *c8_16 = numbered(20, (int[]){8, 16}, 2);
  const char *cases[][2] = {
      {n20, c10},           {n20, c8_15},        {n20, c8_16},         {"", "a\nb\nc\n"},
      {"a\nb\nc\n", ""},    {"a\nb\nc", "a\nb\nc\n"}, {"a\nb\nc", "A\nb\nc"},
      {"x\nx\nx\ny\n", "x\nx\ny\n"}, {"a\r\nb\r\n", "a\r\nB\r\n"}, {"y\nx\n", "x\ny\nx\nx\n"},
      {"x\ny\nz\nz\n", "y\nz\n"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char pa[64], pb[64], cmd[256];
    snprintf(pa, sizeof pa, "%s/a", tmpl);
    snprintf(pb, sizeof pb, "%s/b", tmpl);
    FILE *fa = fopen(pa, "wb"), *fb = fopen(pb, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(fa);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fb);
    fputs(cases[i][0], fa);
    fputs(cases[i][1], fb);
    fclose(fa);
    fclose(fb);
    snprintf(cmd, sizeof cmd, "diff -u '%s' '%s' | tail -n +3", pa, pb);
    FILE *p = popen(cmd, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    char ref[4096];
    size_t n = fread(ref, 1, sizeof ref - 1, p);
    ref[n] = 0;
    pclose(p);
    char *ours = udiff(cases[i][0], cases[i][1]);
    const char *body = ours;
    for (int k = 0; k < 2 && strchr(body, '\n'); k++) body = strchr(body, '\n') + 1;
    if (strcmp(body, ref) != 0) fprintf(stderr, "\ncase %zu: diff -u:\n%s\nours:\n%s\n", i, ref, body);
    CU_ASSERT_STRING_EQUAL(body, ref);
    free(ours);
  }
  free(n20);
  free(c10);
  free(c8_15);
  free(c8_16);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpl);
  CU_ASSERT_EQUAL(system(cmd), 0);
}

/* ---------------------------------------------------------------- diff as a patch */

/* A line of a text: [p, p+len), its '\n' included when it has one. */
typedef struct {
  const char *p;
  size_t len;
} span;

/* Splits t into lines (at most max); returns how many. */
static size_t split(const char *t, size_t len, span *out, size_t max) {
  size_t n = 0, start = 0;
  for (size_t i = 0; i < len && n < max; i++)
    if (t[i] == '\n') {
      out[n++] = (span){t + start, i + 1 - start};
      start = i + 1;
    }
  if (start < len && n < max) out[n++] = (span){t + start, len - start};
  return n;
}

/* Applies unified diff d to a, as patch(1) would, strictly: context and deleted lines must
 * match a, hunk counts must match their lines. Returns the result (caller frees, *len), or
 * NULL when the diff is malformed or does not fit a. */
static char *apply_udiff(const char *a, size_t alen, const char *d, size_t dlen, size_t *len) {
  static span al[40000], dl[90000];
  size_t na = split(a, alen, al, 40000), nd = split(d, dlen, dl, 90000);
  char *out = NULL;
  size_t olen = 0;
  FILE *f = open_memstream(&out, &olen);
  if (!f) return NULL;
  bool ok = nd == 0 || (nd >= 2 && !strncmp(dl[0].p, "--- f.py\n", 9) &&
                        !strncmp(dl[1].p, "+++ f.py\n", 9));
  size_t ai = 0, di = 2;
  while (ok && di < nd) {
    long os, oc = 1, ns, nc = 1;
    char hdr[128];
    snprintf(hdr, sizeof hdr, "%.*s", (int)dl[di].len, dl[di].p);
    if (sscanf(hdr, "@@ -%ld,%ld +%ld,%ld @@", &os, &oc, &ns, &nc) != 4 &&
        sscanf(hdr, "@@ -%ld +%ld,%ld @@", &os, &ns, &nc) != 3 &&
        sscanf(hdr, "@@ -%ld,%ld +%ld @@", &os, &oc, &ns) != 3 &&
        sscanf(hdr, "@@ -%ld +%ld @@", &os, &ns) != 2) {
      ok = false;
      break;
    }
    di++;
    size_t start = oc == 0 ? (size_t)os : (size_t)os - 1;
    if (start < ai || start > na) {
      ok = false;
      break;
    }
    for (; ai < start; ai++) fwrite(al[ai].p, 1, al[ai].len, f);
    long seen_old = 0, seen_new = 0;
    while (ok && di < nd && dl[di].p[0] != '@') {
      char mark = dl[di].p[0];
      span body = {dl[di].p + 1, dl[di].len - 1};
      di++;
      if (di < nd && dl[di].p[0] == '\\') { /* the line above has no newline */
        body.len--;
        di++;
      }
      if (mark == ' ' || mark == '-') {
        ok = ai < na && al[ai].len == body.len && !memcmp(al[ai].p, body.p, body.len);
        ai++;
        seen_old++;
      }
      if (mark == ' ' || mark == '+') {
        fwrite(body.p, 1, body.len, f);
        seen_new++;
      }
      if (mark != ' ' && mark != '-' && mark != '+') ok = false;
    }
    ok = ok && seen_old == oc && seen_new == nc;
  }
  for (; ok && ai < na; ai++) fwrite(al[ai].p, 1, al[ai].len, f);
  fclose(f);
  if (!ok) {
    free(out);
    return NULL;
  }
  *len = olen;
  return out;
}

static uint64_t rng_state = 88172645463325252ull;
static unsigned rnd(unsigned n) { /* xorshift64: the same sequence every run */
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return (unsigned)(rng_state % n);
}

/* Random texts over a small alphabet (so lines repeat and the LCS is ambiguous), random
 * edits, random final newlines and CRLFs: every diff must turn a into b exactly. */
static void test_udiff_random_edits_apply(void) {
  for (int t = 0; t < 400; t++) {
    char a[2048], b[2048];
    size_t alen = 0, blen = 0;
    unsigned alpha = 2 + rnd(6), n = rnd(30);
    const char *nl = rnd(4) == 0 ? "\r\n" : "\n";
    for (unsigned i = 0; i < n; i++) alen += (size_t)sprintf(a + alen, "l%u%s", rnd(alpha), nl);
    /* b: a copied with lines dropped, changed and inserted. */
    for (size_t i = 0, start = 0; i <= alen; i++) {
      if (i < alen && a[i] != '\n') continue;
      if (rnd(8) == 0) blen += (size_t)sprintf(b + blen, "n%u%s", rnd(alpha), nl);
      if (i == alen) break;
      unsigned r = rnd(10);
      if (r == 0) blen += (size_t)sprintf(b + blen, "c%u%s", rnd(alpha), nl);
      else if (r != 1) {
        memcpy(b + blen, a + start, i + 1 - start);
        blen += i + 1 - start;
      }
      start = i + 1;
    }
    if (alen && rnd(4) == 0) alen--; /* no final newline (or a lone \r at the end) */
    if (blen && rnd(4) == 0) blen--;
    int rc;
    char *d = udiff_n(a, alen, b, blen, &rc);
    CU_ASSERT_EQUAL(rc, 0);
    size_t plen = 0;
    char *patched = apply_udiff(a, alen, d, strlen(d), &plen);
    bool same = patched && plen == blen && memcmp(patched, b, blen) == 0;
    if (!same) fprintf(stderr, "\ncase %d: a=%.*s|b=%.*s|diff:\n%s\n", t, (int)alen, a, (int)blen, b, d);
    CU_ASSERT(same);
    CU_ASSERT_EQUAL(alen == blen && memcmp(a, b, alen) == 0, d[0] == 0);
    free(patched);
    free(d);
    if (!same) break;
  }
}

/* Two texts some 32000 edits apart: past the bound, the middle is one deletion plus one
 * insertion (the one line both share in the middle is not kept), still a correct patch. */
static void test_udiff_bounded_cost(void) {
  char *a = NULL, *b = NULL;
  size_t alen = 0, blen = 0;
  FILE *fa = open_memstream(&a, &alen), *fb = open_memstream(&b, &blen);
  CU_ASSERT_PTR_NOT_NULL_FATAL(fa);
  CU_ASSERT_PTR_NOT_NULL_FATAL(fb);
  fputs("head\n", fa);
  fputs("head\n", fb);
  for (int i = 0; i < 16000; i++) {
    if (i == 8000) {
      fputs("shared\n", fa);
      fputs("shared\n", fb);
    }
    fprintf(fa, "a%d\n", i);
    fprintf(fb, "b%d\n", i);
  }
  fputs("tail\n", fa);
  fputs("tail\n", fb);
  fclose(fa);
  fclose(fb);
  clock_t t0 = clock();
  int rc;
  char *d = udiff_n(a, alen, b, blen, &rc);
  double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
  CU_ASSERT_EQUAL(rc, 0);
  CU_ASSERT(secs < 20); /* generous: ASan builds are slow; unbounded Myers is not this */
  const char *start = "--- f.py\n+++ f.py\n@@ -1,16003 +1,16003 @@\n head\n-a0\n";
  CU_ASSERT(strncmp(d, start, strlen(start)) == 0);
  CU_ASSERT_PTR_NULL(strstr(d, "\n shared\n"));
  size_t plen = 0;
  char *patched = apply_udiff(a, alen, d, strlen(d), &plen);
  CU_ASSERT(patched && plen == blen && memcmp(patched, b, blen) == 0);
  free(patched);
  free(d);
  free(a);
  free(b);
}

static void test_udiff_write_failure(void) {
  FILE *f = fopen("/dev/full", "w");
  if (!f) {
    CU_PASS("skipped: no /dev/full");
    return;
  }
  char *a = numbered(200, NULL, 0), *b = numbered(200, (int[]){1, 50, 100, 150, 200}, 5);
  CU_ASSERT_EQUAL(eql_udiff(f, "f.py", a, strlen(a), b, strlen(b)), -1);
  fclose(f);
  free(a);
  free(b);
}

/* ---------------------------------------------------------------- write helpers */

static char *make_root(void) {
  char tmpl[] = "/tmp/eqlint-fixio-XXXXXX";
  char *d = mkdtemp(tmpl);
  CU_ASSERT_PTR_NOT_NULL_FATAL(d);
  return strdup(d);
}

static void remove_root(char *root) {
  char cmd[PATH_MAX + 64];
  /* chmod first: a test may have left a directory read-only. */
  snprintf(cmd, sizeof cmd, "chmod -R u+rwx '%s' 2>/dev/null; rm -rf '%s'", root, root);
  CU_ASSERT_EQUAL(system(cmd), 0);
  free(root);
}

static char *path_in(char *buf, size_t n, const char *root, const char *rel) {
  snprintf(buf, n, "%s/%s", root, rel);
  return buf;
}

static void put(const char *root, const char *rel, const char *text) {
  char p[PATH_MAX];
  FILE *f = fopen(path_in(p, sizeof p, root, rel), "wb");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  fputs(text, f);
  fclose(f);
}

/* The file's contents (caller frees), or NULL. */
static char *get(const char *root, const char *rel) {
  char p[PATH_MAX];
  FILE *f = fopen(path_in(p, sizeof p, root, rel), "rb");
  if (!f) return NULL;
  char *buf = calloc(1, 4096);
  if (buf && fread(buf, 1, 4095, f) == 0 && ferror(f)) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  return buf;
}

static void assert_contents(const char *root, const char *rel, const char *want) {
  char *got = get(root, rel);
  CU_ASSERT_PTR_NOT_NULL(got);
  if (got) CU_ASSERT_STRING_EQUAL(got, want);
  free(got);
}

static int cmp_names(const void *x, const void *y) {
  return strcmp(*(char *const *)x, *(char *const *)y);
}

/* Asserts that directory root/rel holds exactly `want`: its names sorted, joined by ','. */
static void assert_listing(const char *root, const char *rel, const char *want) {
  char p[PATH_MAX];
  DIR *d = opendir(path_in(p, sizeof p, root, rel));
  CU_ASSERT_PTR_NOT_NULL_FATAL(d);
  char *names[64];
  size_t n = 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < 64)
    if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) names[n++] = strdup(e->d_name);
  closedir(d);
  qsort(names, n, sizeof *names, cmp_names);
  char got[1024] = "";
  for (size_t i = 0; i < n; i++) {
    if (i) strncat(got, ",", sizeof got - strlen(got) - 1);
    strncat(got, names[i], sizeof got - strlen(got) - 1);
    free(names[i]);
  }
  if (strcmp(got, want) != 0) fprintf(stderr, "\n  %s/%s holds %s, want %s\n", root, rel, got, want);
  CU_ASSERT_STRING_EQUAL(got, want);
}

/* eql_write_atomic(path, data, expect = what path holds now) */
static eql_write_status write_over(const char *path, const char *data, const char *expect,
                                   char *err, size_t errlen) {
  return eql_write_atomic(path, data, strlen(data), expect, strlen(expect), err, errlen);
}

/* ---------------------------------------------------------------- atomic write */

static void test_write_replaces_keeps_mode(void) {
  char *root = make_root();
  char p[PATH_MAX], err[256] = "junk";
  put(root, "f.py", "x = 1\n");
  path_in(p, sizeof p, root, "f.py");
  CU_ASSERT_EQUAL_FATAL(chmod(p, 0640), 0);
  bool as_root = geteuid() == 0;
  if (as_root) CU_ASSERT_EQUAL(chown(p, 65534, 65534), 0);
  struct stat before, after;
  CU_ASSERT_EQUAL_FATAL(stat(p, &before), 0);
  CU_ASSERT_EQUAL(write_over(p, "x = 2\ny = 3\n", "x = 1\n", err, sizeof err), EQL_WRITE_OK);
  CU_ASSERT_STRING_EQUAL(err, "");
  assert_contents(root, "f.py", "x = 2\ny = 3\n");
  CU_ASSERT_EQUAL_FATAL(stat(p, &after), 0);
  CU_ASSERT_EQUAL(after.st_mode & 07777, 0640);
  CU_ASSERT(S_ISREG(after.st_mode));
  CU_ASSERT_EQUAL(after.st_uid, before.st_uid);
  CU_ASSERT_EQUAL(after.st_gid, before.st_gid);
  CU_ASSERT_NOT_EQUAL(after.st_ino, before.st_ino); /* replaced, not rewritten in place */
  assert_listing(root, ".", "f.py");
  /* Emptying a file is a replacement like any other. */
  CU_ASSERT_EQUAL(eql_write_atomic(p, NULL, 0, "x = 2\ny = 3\n", 12, err, sizeof err),
                  EQL_WRITE_OK);
  assert_contents(root, "f.py", "");
  /* A relative path in the current directory: the temporary goes into ".". */
  char cwd[PATH_MAX];
  CU_ASSERT_PTR_NOT_NULL_FATAL(getcwd(cwd, sizeof cwd));
  CU_ASSERT_EQUAL_FATAL(chdir(root), 0);
  eql_write_status st = write_over("f.py", "z = 4\n", "", err, sizeof err);
  CU_ASSERT_EQUAL(chdir(cwd), 0);
  CU_ASSERT_EQUAL(st, EQL_WRITE_OK);
  assert_contents(root, "f.py", "z = 4\n");
  assert_listing(root, ".", "f.py");
  remove_root(root);
}

static void test_write_through_symlink(void) {
  char *root = make_root();
  char sub[PATH_MAX], link[PATH_MAX], link2[PATH_MAX], err[256];
  CU_ASSERT_EQUAL_FATAL(mkdir(path_in(sub, sizeof sub, root, "sub"), 0755), 0);
  put(root, "sub/target.py", "x = 1\n");
  /* link2.py -> link.py -> sub/target.py: relative targets, resolved from each link. */
  CU_ASSERT_EQUAL_FATAL(symlink("sub/target.py", path_in(link, sizeof link, root, "link.py")), 0);
  CU_ASSERT_EQUAL_FATAL(symlink("link.py", path_in(link2, sizeof link2, root, "link2.py")), 0);
  CU_ASSERT_EQUAL(write_over(link2, "x = 2\n", "x = 1\n", err, sizeof err), EQL_WRITE_OK);
  struct stat st;
  CU_ASSERT_EQUAL(lstat(link, &st), 0);
  CU_ASSERT(S_ISLNK(st.st_mode));
  CU_ASSERT_EQUAL(lstat(link2, &st), 0);
  CU_ASSERT(S_ISLNK(st.st_mode));
  char target[PATH_MAX];
  ssize_t n = readlink(link, target, sizeof target - 1);
  CU_ASSERT_EQUAL(n, 13);
  target[n < 0 ? 0 : n] = 0;
  CU_ASSERT_STRING_EQUAL(target, "sub/target.py");
  assert_contents(root, "sub/target.py", "x = 2\n");
  assert_listing(root, ".", "link.py,link2.py,sub");
  assert_listing(root, "sub", "target.py");
  /* A link to nowhere is a missing file, named as given. */
  CU_ASSERT_EQUAL_FATAL(symlink("gone.py", path_in(link, sizeof link, root, "dangling.py")), 0);
  CU_ASSERT_EQUAL(write_over(link, "x\n", "", err, sizeof err), EQL_WRITE_ERROR);
  char want[PATH_MAX + 64];
  snprintf(want, sizeof want, "cannot read %s: No such file or directory", link);
  CU_ASSERT_STRING_EQUAL(err, want);
  remove_root(root);
}

static void test_write_changed_leaves_file(void) {
  char *root = make_root();
  char p[PATH_MAX], err[256];
  put(root, "f.py", "x = 2  # edited meanwhile\n");
  path_in(p, sizeof p, root, "f.py");
  CU_ASSERT_EQUAL(write_over(p, "x = 1  # fixed\n", "x = 1\n", err, sizeof err),
                  EQL_WRITE_CHANGED);
  CU_ASSERT_PTR_NOT_NULL(strstr(err, "changed on disk"));
  assert_contents(root, "f.py", "x = 2  # edited meanwhile\n");
  assert_listing(root, ".", "f.py");
  /* A prefix of what was read is a change too (the file was truncated). */
  put(root, "f.py", "x = 1\n");
  CU_ASSERT_EQUAL(write_over(p, "y\n", "x = 1\ny = 2\n", err, sizeof err), EQL_WRITE_CHANGED);
  CU_ASSERT_EQUAL(write_over(p, "y\n", "x = ", err, sizeof err), EQL_WRITE_CHANGED);
  assert_contents(root, "f.py", "x = 1\n");
  assert_listing(root, ".", "f.py");
  remove_root(root);
}

/* Runs eql_write_atomic(path, data, expect) where file permissions apply: here, or as
 * "nobody" in a child when we are root (the caller has handed the files to nobody). The
 * message comes back through a pipe. False when that cannot be arranged. */
static bool write_unprivileged(const char *path, const char *data, const char *expect,
                               eql_write_status *st, char *err, size_t errlen) {
  if (geteuid() != 0) {
    *st = write_over(path, data, expect, err, errlen);
    return true;
  }
  int fds[2];
  if (pipe(fds) != 0) return false;
  fflush(NULL);
  pid_t pid = fork();
  if (pid < 0) return false;
  if (pid == 0) {
    close(fds[0]);
    char buf[256] = "";
    unsigned char code = 0xff;
    if (setgroups(0, NULL) == 0 && setgid(65534) == 0 && setuid(65534) == 0)
      code = (unsigned char)write_over(path, data, expect, buf, sizeof buf);
    bool sent = write(fds[1], &code, 1) == 1 &&
                write(fds[1], buf, strlen(buf)) == (ssize_t)strlen(buf);
    _exit(sent ? 0 : 1);
  }
  close(fds[1]);
  unsigned char code = 0xff;
  char buf[256];
  ssize_t n = read(fds[0], &code, 1), m = 0;
  if (n == 1) m = read(fds[0], buf, sizeof buf - 1);
  close(fds[0]);
  int status;
  waitpid(pid, &status, 0);
  if (n != 1 || code == 0xff) return false;
  buf[m > 0 ? m : 0] = 0;
  snprintf(err, errlen, "%s", buf);
  *st = (eql_write_status)code;
  return true;
}

static void give_to_nobody(const char *root, const char *rel) {
  char p[PATH_MAX];
  if (geteuid() == 0) CU_ASSERT_EQUAL(chown(path_in(p, sizeof p, root, rel), 65534, 65534), 0);
}

static void test_write_readonly_dir(void) {
  char *root = make_root();
  char ro[PATH_MAX], err[256] = "";
  CU_ASSERT_EQUAL_FATAL(mkdir(path_in(ro, sizeof ro, root, "ro"), 0755), 0);
  put(root, "ro/f.py", "x = 1\n");
  give_to_nobody(root, "ro/f.py"); /* the file is writable by the writer, its directory not */
  CU_ASSERT_EQUAL(chmod(root, 0755), 0);
  CU_ASSERT_EQUAL(chmod(ro, 0555), 0);
  char cwd[PATH_MAX];
  CU_ASSERT_PTR_NOT_NULL_FATAL(getcwd(cwd, sizeof cwd));
  CU_ASSERT_EQUAL_FATAL(chdir(root), 0);
  eql_write_status st = EQL_WRITE_OK;
  bool ran = write_unprivileged("ro/f.py", "x = 2\n", "x = 1\n", &st, err, sizeof err);
  CU_ASSERT_EQUAL(chdir(cwd), 0);
  if (!ran) {
    CU_PASS("skipped: running as root and cannot become nobody; root ignores permissions");
    fprintf(stderr, "\n  (read-only directory skipped: root, and cannot become nobody) ");
  } else {
    CU_ASSERT_EQUAL(st, EQL_WRITE_ERROR);
    CU_ASSERT_STRING_EQUAL(err, "cannot create a temporary file in ro/: Permission denied");
  }
  assert_contents(root, "ro/f.py", "x = 1\n");
  assert_listing(root, "ro", "f.py");
  remove_root(root);
}

/* A read-only file is refused like a plain write would be, even in a writable directory. */
static void test_write_readonly_file(void) {
  char *root = make_root();
  char p[PATH_MAX], err[256] = "";
  CU_ASSERT_EQUAL(chmod(root, 0755), 0);
  give_to_nobody(root, ".");
  put(root, "f.py", "x = 1\n");
  give_to_nobody(root, "f.py");
  CU_ASSERT_EQUAL(chmod(path_in(p, sizeof p, root, "f.py"), 0444), 0);
  eql_write_status st = EQL_WRITE_OK;
  if (!write_unprivileged(p, "x = 2\n", "x = 1\n", &st, err, sizeof err)) {
    CU_PASS("skipped: running as root and cannot become nobody; root ignores permissions");
  } else {
    CU_ASSERT_EQUAL(st, EQL_WRITE_ERROR);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "cannot write %s: Permission denied", p);
    CU_ASSERT_STRING_EQUAL(err, want);
  }
  assert_contents(root, "f.py", "x = 1\n");
  assert_listing(root, ".", "f.py");
  remove_root(root);
}

/* A disk that fills while the temporary is written, by way of RLIMIT_FSIZE (root is held
 * to it too): the error names the directory, the temporary goes, the file stays. */
static void test_write_disk_full(void) {
  char *root = make_root();
  char p[PATH_MAX], err[256] = "";
  put(root, "f.py", "x = 1\n");
  path_in(p, sizeof p, root, "f.py");
  char big[1000];
  memset(big, 'y', sizeof big - 1);
  big[sizeof big - 1] = 0;
  struct rlimit old, small;
  CU_ASSERT_EQUAL_FATAL(getrlimit(RLIMIT_FSIZE, &old), 0);
  small = old;
  small.rlim_cur = 100;
  void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
  CU_ASSERT_EQUAL_FATAL(setrlimit(RLIMIT_FSIZE, &small), 0);
  eql_write_status st = write_over(p, big, "x = 1\n", err, sizeof err);
  CU_ASSERT_EQUAL(setrlimit(RLIMIT_FSIZE, &old), 0);
  signal(SIGXFSZ, prev);
  CU_ASSERT_EQUAL(st, EQL_WRITE_ERROR);
  char want[PATH_MAX + 64];
  snprintf(want, sizeof want, "cannot write a temporary file in %s/: File too large", root);
  CU_ASSERT_STRING_EQUAL(err, want);
  assert_contents(root, "f.py", "x = 1\n");
  assert_listing(root, ".", "f.py");
  remove_root(root);
}

static void test_write_missing_file(void) {
  char *root = make_root();
  char p[PATH_MAX], err[256] = "", want[PATH_MAX + 64];
  path_in(p, sizeof p, root, "nope.py");
  CU_ASSERT_EQUAL(write_over(p, "x\n", "", err, sizeof err), EQL_WRITE_ERROR);
  snprintf(want, sizeof want, "cannot read %s: No such file or directory", p);
  CU_ASSERT_STRING_EQUAL(err, want);
  assert_listing(root, ".", "");
  /* Not a regular file. */
  CU_ASSERT_EQUAL(write_over(root, "x\n", "", err, sizeof err), EQL_WRITE_ERROR);
  snprintf(want, sizeof want, "cannot write %s: not a regular file", root);
  CU_ASSERT_STRING_EQUAL(err, want);
  /* No room for the message is not a crash. */
  CU_ASSERT_EQUAL(write_over(p, "x\n", "", NULL, 0), EQL_WRITE_ERROR);
  remove_root(root);
}

int main(void) {
  static const eql_test tests[] = {
      EQL_TEST(test_udiff_equal_prints_nothing),
      EQL_TEST(test_udiff_one_line_change),
      EQL_TEST(test_udiff_far_changes_two_hunks),
      EQL_TEST(test_udiff_close_changes_merge),
      EQL_TEST(test_udiff_insert_at_start_and_end),
      EQL_TEST(test_udiff_no_newline_marker),
      EQL_TEST(test_udiff_crlf_kept),
      EQL_TEST(test_udiff_empty_side),
      EQL_TEST(test_udiff_ties_as_diff_u),
      EQL_TEST(test_udiff_binary_bytes),
      EQL_TEST(test_udiff_matches_diff_u),
      EQL_TEST(test_udiff_random_edits_apply),
      EQL_TEST(test_udiff_bounded_cost),
      EQL_TEST(test_udiff_write_failure),
      EQL_TEST(test_write_replaces_keeps_mode),
      EQL_TEST(test_write_through_symlink),
      EQL_TEST(test_write_changed_leaves_file),
      EQL_TEST(test_write_readonly_dir),
      EQL_TEST(test_write_readonly_file),
      EQL_TEST(test_write_disk_full),
      EQL_TEST(test_write_missing_file),
  };
  return eql_cunit_run("fixio", tests, sizeof tests / sizeof *tests);
}
