/* Snapshot tests of the emitters: a fixed set of diagnostics on a fixed source, rendered to
 * memory and compared byte for byte with the expected text (as Ruff's render tests do).
 * The source exercises what breaks naive code frames: a tab before the span, a non-ASCII
 * letter before it, a multi-line span, a raw escape character, an East Asian wide
 * character, an invalid UTF-8 byte inside the span, and lines longer than the frame. */
#include <stdlib.h>
#include <string.h>

#include "cunit_main.h"
#include "eqlint/diag.h"
#include "eqlint/emit.h"
#include "eqlint/rules.h"
#include "eqlint/source.h"

static const char text[] =
    "import optax\n"                        /* 1 */
    "\tstate = optim.init(model)\n"         /* 2: a tab before the span */
    "s = \"h\xc3\xa9llo\" + opt.init(m)\n"  /* 3: a two-byte letter before it */
    "value = f(a,\n"                        /* 4: a span over two lines */
    "          b)\n"                        /* 5 */
    "bad\x1b[31m = 1\n"                     /* 6: a raw ESC */
    "\xe5\x90\x8d\t= f(\xff)\n";            /* 7: wide char, tab, invalid byte in the span */

static eql_source *src;

static const eql_source *lookup(const void *ud, const char *path) {
  const eql_source *s = ud;
  return s && strcmp(path, s->path) == 0 ? s : NULL;
}

static uint32_t at(const char *needle) {
  const char *p = strstr(text, needle);
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  return (uint32_t)(p - text);
}

/* The canonical diagnostic set, in output order. */
static void canonical(eql_diag_list *l) {
  eql_diag_list_init(l);
  uint32_t a = at("optim.init(model)");
  CU_ASSERT_PTR_NOT_NULL_FATAL(eql_diag_add(
      l, EQL_R_EQX001, src, a, a + 17, "optimiser initialised on a Module with non-array leaves",
      "initialise on `eqx.filter(model, eqx.is_array)`"));
  uint32_t b = at("opt.init(m)");
  CU_ASSERT_PTR_NOT_NULL_FATAL(
      eql_diag_add(l, EQL_R_EQX003, src, b, b + 11, "jax.jit over a Module argument", NULL));
  uint32_t c = at("f(a,"), c_end = at("b)\n") + 2;
  eql_diag *d = eql_diag_add(l, EQL_R_EQX002, src, c, c_end, "the same Module is stored twice",
                             NULL);
  CU_ASSERT_PTR_NOT_NULL_FATAL(d);
  uint32_t r = at("optax");
  eql_diag_set_related(d, src, r, r + 5, "first stored here");
  uint32_t e = at("= 1");
  CU_ASSERT_PTR_NOT_NULL_FATAL(eql_diag_add(l, EQL_R_EQX001, src, e, e + 3,
                                            "optimiser called on `bad\x1b[31m`", NULL));
  uint32_t f = at("f(\xff)");
  CU_ASSERT_PTR_NOT_NULL_FATAL(
      eql_diag_add(l, EQL_R_EQX003, src, f, f + 4, "transform over a bad byte", NULL));
}

/* Renders with `emit` into a malloc'd string. */
typedef int (*render_fn)(FILE *out, const eql_diag_list *l, const eql_emit_options *o);

static int full_with_source(FILE *out, const eql_diag_list *l, const eql_emit_options *o) {
  return eql_emit_full(out, l, lookup, src, o);
}
static int full_without_source(FILE *out, const eql_diag_list *l, const eql_emit_options *o) {
  return eql_emit_full(out, l, NULL, NULL, o);
}
/* The source the property test renders against. */
static const eql_source *current;
static int full_current(FILE *out, const eql_diag_list *l, const eql_emit_options *o) {
  return eql_emit_full(out, l, lookup, current, o);
}
static int concise(FILE *out, const eql_diag_list *l, const eql_emit_options *o) {
  return eql_emit_concise(out, l, o);
}

static char *render(render_fn fn, const eql_diag_list *l, bool color, bool summary) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  eql_emit_options o = {.color = color, .summary = summary};
  CU_ASSERT_EQUAL(fn(f, l, &o), 0);
  fclose(f);
  return buf;
}

/* Compares and, on a mismatch, shows both texts (CUnit alone prints only the expression). */
static void assert_text(const char *got, const char *want) {
  if (strcmp(got, want) != 0)
    fprintf(stderr, "\n--- want ---\n%s--- got ---\n%s--- end ---\n", want, got);
  CU_ASSERT_STRING_EQUAL(got, want);
}

static void test_full_snapshot(void) {
  eql_diag_list l;
  canonical(&l);
  char *got = render(full_with_source, &l, false, true);
  assert_text(got,
              "t.py:2:10: EQX001 [error] optimiser initialised on a Module with non-array leaves\n"
              "  |\n"
              "2 |     state = optim.init(model)\n"
              "  |             ^^^^^^^^^^^^^^^^^\n"
              "  |\n"
              "  = help: initialise on `eqx.filter(model, eqx.is_array)`\n"
              "\n"
              "t.py:3:15: EQX003 [error] jax.jit over a Module argument\n"
              "  |\n"
              "3 | s = \"h\xc3\xa9llo\" + opt.init(m)\n"
              "  |               ^^^^^^^^^^^\n"
              "\n"
              "t.py:4:9: EQX002 [error] the same Module is stored twice\n"
              "  |\n"
              "4 | value = f(a,\n"
              "  |         ^^^^\n"
              "  |\n"
              "  = note: t.py:1:8: first stored here\n"
              "\n"
              "t.py:6:10: EQX001 [error] optimiser called on `bad\\x1b[31m`\n"
              "  |\n"
              "6 | bad\\x1b[31m = 1\n"
              "  |             ^^^\n"
              "\n"
              "t.py:7:5: EQX003 [error] transform over a bad byte\n"
              "  |\n"
              "7 | \xe5\x90\x8d  = f(\xef\xbf\xbd)\n"
              "  |       ^^^^\n"
              "\n"
              "Found 5 diagnostics (5 errors).\n");
  /* Nothing the file contains reaches the terminal raw. */
  CU_ASSERT_PTR_NULL(strchr(got, '\x1b'));
  free(got);
  got = render(full_with_source, &l, false, false);
  CU_ASSERT_PTR_NULL(strstr(got, "Found"));
  CU_ASSERT_EQUAL(strncmp(got, "t.py:2:10: EQX001 [error] ", 26), 0);
  free(got);
  eql_diag_list_free(&l);
}

static void test_full_color(void) {
  eql_diag_list l;
  canonical(&l);
  l.n = 1; /* the first diagnostic alone; the others are freed below */
  char *got = render(full_with_source, &l, true, true);
  assert_text(got,
              "\x1b[1mt.py:2:10:\x1b[0m \x1b[1;31mEQX001 [error]\x1b[0m optimiser initialised "
              "on a Module with non-array leaves\n"
              "\x1b[1;34m  |\x1b[0m\n"
              "\x1b[1;34m2 |\x1b[0m     state = optim.init(model)\n"
              "\x1b[1;34m  |\x1b[0m             \x1b[1;31m^^^^^^^^^^^^^^^^^\x1b[0m\n"
              "\x1b[1;34m  |\x1b[0m\n"
              "  \x1b[1;34m=\x1b[0m \x1b[1mhelp:\x1b[0m initialise on `eqx.filter(model, "
              "eqx.is_array)`\n"
              "\n"
              "Found 1 diagnostic (1 error).\n");
  free(got);
  l.n = 5;
  eql_diag_list_free(&l);

  /* Warnings are yellow and info cyan, whichever rules carry those severities today. */
  for (int r = 0; r < EQL_RULE_COUNT; r++) {
    if (eql_rules[r].severity == EQL_SEV_ERROR) continue;
    eql_diag_list one;
    eql_diag_list_init(&one);
    CU_ASSERT_PTR_NOT_NULL_FATAL(eql_diag_add(&one, r, src, 0, 6, "m", NULL));
    got = render(full_with_source, &one, true, true);
    char want[64];
    snprintf(want, sizeof want, "%s%s [%s]\x1b[0m",
             eql_rules[r].severity == EQL_SEV_WARNING ? "\x1b[1;33m" : "\x1b[1;36m",
             eql_rules[r].code, eql_severity_name(eql_rules[r].severity));
    CU_ASSERT_PTR_NOT_NULL(strstr(got, want));
    free(got);
    eql_diag_list_free(&one);
  }
}

static void test_full_without_source(void) {
  eql_diag_list l;
  canonical(&l);
  l.items[0].span.line = 12; /* a two-digit gutter for the help line */
  eql_diag_list half = {l.items, 1, 1};
  char *got = render(full_without_source, &half, false, false);
  assert_text(got,
              "t.py:12:10: EQX001 [error] optimiser initialised on a Module with non-array "
              "leaves\n"
              "   = help: initialise on `eqx.filter(model, eqx.is_array)`\n"
              "\n");
  free(got);
  /* A line beyond the end of the file (a stale diagnostic): header only, no frame. */
  l.items[1].span.line = 99;
  got = render(full_with_source, &l, false, false);
  CU_ASSERT_PTR_NOT_NULL(strstr(got, "t.py:99:15: EQX003 [error] jax.jit over a Module "
                                     "argument\n\nt.py:4:9:"));
  free(got);
  eql_diag_list_free(&l);
}

static void test_full_empty_and_eol_spans(void) {
  eql_diag_list l;
  eql_diag_list_init(&l);
  char *got = render(full_with_source, &l, false, true);
  assert_text(got, "All checks passed!\n");
  free(got);
  got = render(full_with_source, &l, false, false);
  assert_text(got, "");
  free(got);
  /* An empty span at the end of line 1 still gets one caret, just past the text. */
  uint32_t eol = at("\n");
  CU_ASSERT_PTR_NOT_NULL_FATAL(eql_diag_add(&l, EQL_R_EQX999, src, eol, eol, "expected ':'", NULL));
  got = render(full_with_source, &l, false, true);
  assert_text(got,
              "t.py:1:13: EQX999 [error] expected ':'\n"
              "  |\n"
              "1 | import optax\n"
              "  |             ^\n"
              "\n"
              "Found 1 diagnostic (1 error).\n");
  free(got);
  /* At the end of the file: the empty last line, shown without trailing blanks. */
  l.items[0].span = (eql_span){0};
  eql_span_from_bytes(&l.items[0].span, src, src->len, src->len);
  got = render(full_with_source, &l, false, false);
  assert_text(got,
              "t.py:8:1: EQX999 [error] expected ':'\n"
              "  |\n"
              "8 |\n"
              "  | ^\n"
              "\n");
  free(got);
  eql_diag_list_free(&l);
}

/* A line of `n` columns with "XXXXX" at 0-based column `at_col`, as a one-line source. */
static eql_source *long_line(size_t n, size_t at_col) {
  char *s = malloc(n + 2);
  memset(s, 'a', n);
  memcpy(s + at_col, "XXXXX", 5);
  s[n] = '\n';
  s[n + 1] = 0;
  eql_source *ls = eql_source_new("long.py", s, n + 1);
  free(s);
  return ls;
}

/* Checks the frame of a one-diagnostic rendering: the carets sit under the X's, the shown
 * line is at most 200 columns, and the cuts are marked as expected. */
static void check_window(const char *got, bool left_cut, bool right_cut) {
  const char *line = strstr(got, "1 | ");
  CU_ASSERT_PTR_NOT_NULL_FATAL(line);
  line += 4;
  const char *eol = strchr(line, '\n');
  const char *carets = strstr(eol, "^");
  CU_ASSERT_PTR_NOT_NULL_FATAL(carets);
  const char *caret_row = strstr(eol, "  | ") + 4;
  size_t pad = (size_t)(carets - caret_row);
  /* Columns of the shown line: "…" is three bytes and one column, everything else ASCII. */
  const char *ell = "\xe2\x80\xa6";
  CU_ASSERT_EQUAL(strncmp(line, ell, 3) == 0, left_cut);
  CU_ASSERT_EQUAL(strncmp(eol - 3, ell, 3) == 0, right_cut);
  size_t bytes = (size_t)(eol - line), cols = bytes - 2 * ((size_t)left_cut + right_cut);
  CU_ASSERT(cols <= 200);
  size_t byte_at = pad + (left_cut ? 2 : 0);
  CU_ASSERT_EQUAL(strncmp(line + byte_at, "XXXXX", 5), 0);
  CU_ASSERT_EQUAL(strncmp(carets, "^^^^^\n", 6), 0);
}

static void test_full_long_lines(void) {
  struct {
    size_t n, at;
    bool left, right;
  } cases[] = {{300, 249, true, false}, {1000, 500, true, true}, {1000, 10, false, true},
               {200, 150, false, false}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    eql_source *ls = long_line(cases[i].n, cases[i].at);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ls);
    eql_diag_list l;
    eql_diag_list_init(&l);
    uint32_t s = (uint32_t)cases[i].at;
    CU_ASSERT_PTR_NOT_NULL_FATAL(eql_diag_add(&l, EQL_R_EQX001, ls, s, s + 5, "m", NULL));
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    eql_emit_options o = {.color = false, .summary = false};
    CU_ASSERT_EQUAL(eql_emit_full(f, &l, lookup, ls, &o), 0);
    fclose(f);
    check_window(buf, cases[i].left, cases[i].right);
    free(buf);
    eql_diag_list_free(&l);
    eql_source_free(ls);
  }
}

static void test_concise_snapshot(void) {
  eql_diag_list l;
  canonical(&l);
  char *got = render(concise, &l, false, true); /* summary is never printed in concise */
  assert_text(got,
              "t.py:2:10: EQX001 optimiser initialised on a Module with non-array leaves\n"
              "t.py:3:15: EQX003 jax.jit over a Module argument\n"
              "t.py:4:9: EQX002 the same Module is stored twice\n"
              "t.py:6:10: EQX001 optimiser called on `bad\\x1b[31m`\n"
              "t.py:7:5: EQX003 transform over a bad byte\n");
  free(got);
  l.n = 1;
  got = render(concise, &l, true, true);
  assert_text(got, "\x1b[1mt.py:2:10:\x1b[0m \x1b[1;31mEQX001\x1b[0m optimiser initialised on "
                   "a Module with non-array leaves\n");
  free(got);
  l.n = 5;
  eql_diag_list_free(&l);

  /* A path with a newline cannot split the line. */
  eql_source *odd = eql_source_new("we\nird.py", "x = 1\n", 6);
  CU_ASSERT_PTR_NOT_NULL_FATAL(odd);
  eql_diag_list_init(&l);
  CU_ASSERT_PTR_NOT_NULL_FATAL(eql_diag_add(&l, EQL_R_EQX001, odd, 4, 5, "m", NULL));
  got = render(concise, &l, false, false);
  assert_text(got, "we\\nird.py:1:5: EQX001 m\n");
  free(got);
  eql_diag_list_free(&l);
  eql_source_free(odd);

  eql_diag_list_init(&l);
  got = render(concise, &l, false, true);
  assert_text(got, "");
  free(got);
}

static void test_escaped(void) {
  struct {
    const char *in, *out;
  } cases[] = {
      {"plain ascii", "plain ascii"},
      {"caf\xc3\xa9 \xe5\x90\x8d", "caf\xc3\xa9 \xe5\x90\x8d"},
      {"tab\there\r\n", "tab\\there\\r\\n"},
      {"\x1b[2J\x7f", "\\x1b[2J\\x7f"},
      {"csi \xc2\x9b", "csi \\u{009b}"},
      {"rtl \xe2\x80\xae!", "rtl \\u{202e}!"},
      {"zw\xe2\x80\x8bsp", "zw\\u{200b}sp"},
      {"bad \xff\xfe end", "bad \\xff\\xfe end"},
      {"cut \xe5\x90", "cut \\xe5\\x90"},
      {"overlong \xc0\xaf", "overlong \\xc0\\xaf"},
      {"", ""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    eql_emit_escaped(f, cases[i].in);
    fclose(f);
    assert_text(buf, cases[i].out);
    free(buf);
  }
}

/* A small deterministic generator: the same "random" inputs on every run. */
static uint32_t lcg(uint32_t *state) {
  *state = *state * 1664525u + 1013904223u;
  return *state >> 8;
}

/* Property test: arbitrary bytes (controls, invalid UTF-8, tabs, CR, long lines) and
 * arbitrary, even inconsistent, spans never crash an emitter, never let a control byte
 * through, and concise output stays one line per diagnostic. */
static void test_random_inputs(void) {
  static const char alphabet[] = "ab \t\t\n\r\x1b\x7f\xc3\xa9\xe5\x90\x8d\xff\xe2\x80\xae(";
  uint32_t seed = 12345;
  for (int round = 0; round < 300; round++) {
    size_t len = lcg(&seed) % (round % 10 == 0 ? 3000 : 200);
    char *bytes = malloc(len + 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(bytes);
    for (size_t i = 0; i < len; i++) bytes[i] = alphabet[lcg(&seed) % (sizeof alphabet - 1)];
    bytes[len] = 0;
    eql_source *rs = eql_source_new("r\x1b.py", bytes, len);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rs);
    eql_diag_list l;
    eql_diag_list_init(&l);
    size_t ndiags = 1 + lcg(&seed) % 4;
    for (size_t k = 0; k < ndiags; k++) {
      uint32_t a = len ? lcg(&seed) % (uint32_t)(len + 1) : 0;
      uint32_t b = a + lcg(&seed) % 300;
      eql_diag *d = eql_diag_add(&l, (int)(lcg(&seed) % EQL_RULE_COUNT), rs, a, b,
                                 "msg \x1b[2J \xe2\x80\xae end", k % 2 ? "help\nline" : NULL);
      CU_ASSERT_PTR_NOT_NULL_FATAL(d);
      if (k == 1) eql_diag_set_related(d, rs, b, a, "bell \a in a note");
      if (k == 2) { /* stale or inconsistent positions must not matter */
        d->span.line += lcg(&seed) % 3;
        d->span.col += lcg(&seed) % 50;
        d->span.end_line = d->span.line;
        d->span.end_col = lcg(&seed) % 20;
      }
    }
    current = rs;
    char *full = render(full_current, &l, false, true);
    char *conc = render(concise, &l, false, false);
    for (const char *p = full; *p; p++)
      if (((unsigned char)*p < 0x20 && *p != '\n') || *p == 0x7f) {
        CU_FAIL("control byte in full output");
        break;
      }
    size_t lines = 0;
    for (const char *p = conc; *p; p++) {
      if (*p == '\n') lines++;
      else if ((unsigned char)*p < 0x20 || *p == 0x7f) CU_FAIL("control byte in concise output");
    }
    CU_ASSERT_EQUAL(lines, ndiags);
    free(full);
    free(conc);
    eql_diag_list_free(&l);
    eql_source_free(rs);
    free(bytes);
  }
}

static void test_format_names(void) {
  CU_ASSERT_EQUAL(eql_emit_format_from_name("full"), EQL_EMIT_FULL);
  CU_ASSERT_EQUAL(eql_emit_format_from_name("concise"), EQL_EMIT_CONCISE);
  CU_ASSERT_EQUAL(eql_emit_format_from_name("json"), EQL_EMIT_JSON);
  CU_ASSERT_EQUAL(eql_emit_format_from_name("xml"), -1);
  CU_ASSERT_EQUAL(eql_emit_format_from_name(""), -1);
}

int main(void) {
  src = eql_source_new("t.py", text, sizeof text - 1);
  if (!src) return 2;
  static const eql_test tests[] = {
      EQL_TEST(test_full_snapshot),       EQL_TEST(test_full_color),
      EQL_TEST(test_full_without_source), EQL_TEST(test_full_empty_and_eol_spans),
      EQL_TEST(test_full_long_lines),     EQL_TEST(test_concise_snapshot),
      EQL_TEST(test_escaped),             EQL_TEST(test_format_names),
      EQL_TEST(test_random_inputs),
  };
  int rc = eql_cunit_run("emit", tests, sizeof tests / sizeof *tests);
  eql_source_free(src);
  return rc;
}
