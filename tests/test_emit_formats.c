/* Snapshot and property tests of the emitters and of the pieces behind the machine formats
 * (fingerprints, escaping, report paths, statistics, atomic output files).
 *
 * Every format (full and concise included) renders ONE canonical diagnostic set
 * (canonical() below): two Python files, one with a space in its name, and a notebook cell;
 * a non-ASCII message, a multi-line span, a related location, two findings on identical
 * lines, characters each format must escape (% : , < & " and an invalid UTF-8 byte) and an
 * EQX999 syntax error. The expected bytes live in tests/data/snapshots/canonical.<format>;
 * run the suite with EQL_UPDATE_SNAPSHOTS=1 to rewrite them after an intended change, then
 * review the diff like code (Ruff's insta workflow). The SARIF snapshot leaves out the rule
 * table and the ruleIndex values (both change with every rule added to rules.def;
 * test_sarif_structure checks them) and stands @VERSION@ for the version. */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../analyzer/emit/emit_internal.h"
#include "cunit_main.h"
#include "eqlint/diag.h"
#include "eqlint/emit.h"
#include "eqlint/rules.h"
#include "eqlint/source.h"

#define SNAPSHOT_DIR "tests/data/snapshots/"

static const char model_text[] =
    "import equinox as eqx\n"                              /* 1 */
    "import optax\n"                                       /* 2 */
    "\n"                                                   /* 3 */
    "\n"                                                   /* 4 */
    "class Net(eqx.Module):\n"                             /* 5 */
    "    mlp: eqx.nn.MLP\n"                                /* 6 */
    "\n"                                                   /* 7 */
    "    def __init__(self, key):\n"                       /* 8 */
    "        self.mlp = eqx.nn.MLP(2, 2, 8, 1, key=key)\n" /* 9 */
    "        self.head = self.mlp\n"                       /* 10 */
    "\n"                                                   /* 11 */
    "\n"                                                   /* 12 */
    "def step(model, x):\n"                                /* 13 */
    "    optim = optax.adam(1e-3)\n"                       /* 14 */
    "    state = optim.init(model)\n"                      /* 15 */
    "    state = optim.init(model)\n"                      /* 16 */
    "    y = jax.jit(lambda m, v: m(v))(\n"                /* 17 */
    "        model, x)\n"                                  /* 18 */
    "    return state, y\n";                               /* 19 */

static const char train_text[] =
    "import jax\n"                                  /* 1 */
    "\n"                                            /* 2 */
    "g = jax.grad(loss)(model)  # 50% done\n"       /* 3 */
    "def broken(:\n";                               /* 4 */

/* A notebook's program: its code cells joined (cell 1: line 1; cell 2: lines 2-3). */
static const char notebook_text[] =
    "import equinox as eqx, optax\n"                  /* cell 1, line 1 */
    "model = eqx.nn.MLP(2, 2, 8, 1, key=key)\n"       /* cell 2, line 1 */
    "opt_state = optax.adam(1e-3).init(model)\n";     /* cell 2, line 2 */

enum { N_CANON = 7 }; /* diagnostics in the canonical set */

static eql_source *model_src, *train_src, *notebook_src;

static const eql_source *lookup(const void *ud, const char *path) {
  (void)ud;
  if (model_src && strcmp(path, model_src->path) == 0) return model_src;
  if (train_src && strcmp(path, train_src->path) == 0) return train_src;
  if (notebook_src && strcmp(path, notebook_src->path) == 0) return notebook_src;
  return NULL;
}

/* Byte offset of the n-th (0-based) occurrence of needle in s. */
static uint32_t at_n(const eql_source *s, const char *needle, int n) {
  const char *p = s->text;
  for (;; n--) {
    p = strstr(p, needle);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    if (n == 0) break;
    p++;
  }
  return (uint32_t)(p - s->text);
}
static uint32_t at(const eql_source *s, const char *needle) { return at_n(s, needle, 0); }

static void add(eql_diag_list *l, int rule, const eql_source *s, uint32_t start, uint32_t end,
                const char *msg, const char *help) {
  CU_ASSERT_PTR_NOT_NULL_FATAL(eql_diag_add(l, rule, s, start, end, msg, help));
}

/* The canonical set, sorted as the checker sorts its output. */
static void canonical(eql_diag_list *l) {
  eql_diag_list_init(l);
  const eql_source *m = model_src, *t = train_src;
  uint32_t a = at(m, "self.head = self.mlp");
  eql_diag *d = eql_diag_add(l, EQL_R_EQX002, m, a, a + 20,
                             "`self.mlp` and `self.head` hold the same Module: after one "
                             "update they are two independent copies",
                             "wrap the layer in `eqx.nn.Shared`");
  CU_ASSERT_PTR_NOT_NULL_FATAL(d);
  uint32_t r = at(m, "self.mlp =");
  eql_diag_set_related(d, m, r, r + 8, "first stored here");
  for (int k = 0; k < 2; k++) {
    uint32_t b = at_n(m, "optim.init(model)", k);
    add(l, EQL_R_EQX001, m, b, b + 17,
        "optax optimiser initialised on `Net`, whose MLP holds activation functions \xe2\x80\x94 "
        "non-array leaves",
        "initialise on the arrays only: `optim.init(eqx.filter(model, eqx.is_array))`");
  }
  uint32_t c = at(m, "jax.jit("), c_end = at(m, "model, x)\n    return") + 9;
  add(l, EQL_R_EQX003, m, c, c_end,
      "jax.jit over `<lambda>` receives \"m\", a Module with non-array leaves & callables",
      "use `eqx.filter_jit`");
  uint32_t g = at(t, "jax.grad(loss)(model)");
  add(l, EQL_R_EQX003, t, g, g + 21,
      "jax.grad over `loss`: 50% of the model's leaves, e.g. `act\xff`, are not arrays", NULL);
  uint32_t e = at(t, ":\n");
  add(l, EQL_R_EQX999, t, e, e + 1, "expected a parameter name, got ':'", NULL);
  /* Notebook positions as the checker leaves them: rows within the cell, cell set. */
  const eql_source *nb = notebook_src;
  uint32_t n0 = at(nb, "optax.adam(1e-3).init(model)");
  add(l, EQL_R_EQX001, nb, n0, n0 + 28, "optimiser initialised on an MLP", NULL);
  eql_diag *nd = &l->items[l->n - 1];
  nd->cell = 2;
  nd->span.line = nd->span.end_line = 2;
  eql_diag_list_sort(l);
  CU_ASSERT_EQUAL_FATAL(l->n, N_CANON);
}

/* ---- rendering and snapshots ---- */

static char *render_fmt(eql_emit_format fmt, const eql_diag_list *l, const char *root) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  eql_emit_options o = {.color = false, .summary = true, .root = root};
  CU_ASSERT_EQUAL(eql_emit(f, fmt, l, lookup, NULL, &o), 0);
  fclose(f);
  return buf;
}

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *buf = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&buf, &len);
  char chunk[4096];
  size_t n;
  while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) fwrite(chunk, 1, n, m);
  fclose(f);
  fclose(m);
  return buf;
}

/* Compares `got` with the snapshot file, or rewrites the file in update mode. */
static void assert_snapshot(const char *name, const char *got) {
  char path[256];
  snprintf(path, sizeof path, SNAPSHOT_DIR "%s", name);
  const char *update = getenv("EQL_UPDATE_SNAPSHOTS");
  if (update && *update && strcmp(update, "0") != 0) {
    FILE *f = fopen(path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fputs(got, f);
    fclose(f);
    fprintf(stderr, "\nupdated %s\n", path);
    return;
  }
  char *want = read_file(path);
  if (!want) {
    fprintf(stderr, "\nmissing snapshot %s (run with EQL_UPDATE_SNAPSHOTS=1)\n", path);
    CU_FAIL("missing snapshot");
    return;
  }
  if (strcmp(got, want) != 0)
    fprintf(stderr, "\n--- want (%s) ---\n%s--- got ---\n%s--- end ---\n", path, want, got);
  CU_ASSERT_STRING_EQUAL(got, want);
  free(want);
}

static void snapshot_format(eql_emit_format fmt, const char *name) {
  eql_diag_list l;
  canonical(&l);
  char *got = render_fmt(fmt, &l, NULL);
  assert_snapshot(name, got);
  free(got);
  eql_diag_list_free(&l);
}

/* The human formats render the same set too (test_emit.c covers their terminal subtleties). */
static void test_snapshot_full(void) { snapshot_format(EQL_EMIT_FULL, "canonical.full"); }
static void test_snapshot_concise(void) {
  snapshot_format(EQL_EMIT_CONCISE, "canonical.concise");
}
static void test_snapshot_json(void) { snapshot_format(EQL_EMIT_JSON, "canonical.json"); }
static void test_snapshot_json_lines(void) {
  snapshot_format(EQL_EMIT_JSON_LINES, "canonical.jsonl");
}
static void test_snapshot_github(void) { snapshot_format(EQL_EMIT_GITHUB, "canonical.github"); }
static void test_snapshot_gitlab(void) { snapshot_format(EQL_EMIT_GITLAB, "canonical.gitlab.json"); }
static void test_snapshot_junit(void) { snapshot_format(EQL_EMIT_JUNIT, "canonical.junit.xml"); }
static void test_snapshot_pylint(void) { snapshot_format(EQL_EMIT_PYLINT, "canonical.pylint"); }

enum { PRETTY = JSON_INDENT(2) | JSON_PRESERVE_ORDER };

/* Parses JSON text, failing the test (with Jansson's reason) when it is not valid. */
static json_t *parse(const char *text) {
  json_error_t err;
  json_t *j = json_loads(text, JSON_REJECT_DUPLICATES, &err);
  if (!j) fprintf(stderr, "\ninvalid JSON at line %d: %s\n", err.line, err.text);
  CU_ASSERT_PTR_NOT_NULL_FATAL(j);
  return j;
}

static void test_snapshot_sarif(void) {
  eql_diag_list l;
  canonical(&l);
  char *got = render_fmt(EQL_EMIT_SARIF, &l, NULL);
  json_t *doc = parse(got);
  /* The emitter's bytes are exactly Jansson's rendering of the parsed document, so the
   * edited re-rendering below is as strict as comparing the raw output. */
  char *again = json_dumps(doc, PRETTY);
  size_t n = strlen(again);
  CU_ASSERT(strlen(got) == n + 1 && strncmp(got, again, n) == 0 && got[n] == '\n');
  free(again);
  json_t *driver = json_object_get(
      json_object_get(json_array_get(json_object_get(doc, "runs"), 0), "tool"), "driver");
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(driver, "version")), EQL_VERSION);
  json_object_set_new(driver, "version", json_string("@VERSION@"));
  json_object_set_new(driver, "rules", json_string("(checked by test_sarif_structure)"));
  /* ruleIndex follows rules.def, which grows; test_sarif_structure checks every index. */
  json_t *results = json_object_get(json_array_get(json_object_get(doc, "runs"), 0), "results");
  for (size_t i = 0; i < json_array_size(results); i++)
    json_object_del(json_array_get(results, i), "ruleIndex");
  char *edited = json_dumps(doc, PRETTY);
  size_t elen = strlen(edited);
  char *with_nl = malloc(elen + 2);
  memcpy(with_nl, edited, elen);
  memcpy(with_nl + elen, "\n", 2);
  assert_snapshot("canonical.sarif", with_nl);
  free(with_nl);
  free(edited);
  json_decref(doc);
  free(got);
  eql_diag_list_free(&l);
}

/* ---- structure ---- */

static const char *const json_keys[] = {"code", "name", "severity", "message", "help",
                                        "filename", "cell", "location", "end_location", "fix",
                                        "url"};

/* One json / json-lines object: keys in order, types, and agreement with the diagnostic. */
static void check_json_object(json_t *o, const eql_diag *d) {
  CU_ASSERT_FATAL(json_is_object(o));
  const char *key;
  json_t *v;
  size_t i = 0;
  json_object_foreach(o, key, v) {
    const char *want = i < sizeof json_keys / sizeof *json_keys ? json_keys[i] : "related";
    CU_ASSERT_STRING_EQUAL(key, want);
    i++;
  }
  CU_ASSERT_EQUAL(i, sizeof json_keys / sizeof *json_keys + (d->has_related ? 1 : 0));
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "code")), eql_rules[d->rule].code);
  CU_ASSERT_EQUAL(json_integer_value(json_object_get(json_object_get(o, "location"), "row")),
                  d->span.line);
  CU_ASSERT_EQUAL(
      json_integer_value(json_object_get(json_object_get(o, "end_location"), "column")),
      d->span.end_col);
  CU_ASSERT(json_is_null(json_object_get(o, "fix")));
  json_t *cell = json_object_get(o, "cell");
  CU_ASSERT(d->cell ? json_integer_value(cell) == d->cell : json_is_null(cell));
  char url[128];
  snprintf(url, sizeof url, "https://eqlint.dev/rules/%s", eql_rules[d->rule].code);
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "url")), url);
  CU_ASSERT_EQUAL(json_is_string(json_object_get(o, "help")), d->help != NULL);
  if (d->has_related) {
    json_t *rel = json_array_get(json_object_get(o, "related"), 0);
    CU_ASSERT_EQUAL(
        json_integer_value(json_object_get(json_object_get(rel, "location"), "row")),
        d->related.line);
  }
}

static void test_json_valid(void) {
  eql_diag_list l;
  canonical(&l);
  char *got = render_fmt(EQL_EMIT_JSON, &l, NULL);
  json_t *arr = parse(got);
  CU_ASSERT_FATAL(json_is_array(arr));
  CU_ASSERT_EQUAL_FATAL(json_array_size(arr), l.n);
  for (size_t i = 0; i < l.n; i++) check_json_object(json_array_get(arr, i), &l.items[i]);
  /* The invalid byte came out as U+FFFD, the em dash as itself. */
  CU_ASSERT_PTR_NOT_NULL(strstr(got, "`act\xef\xbf\xbd`"));
  CU_ASSERT_PTR_NOT_NULL(strstr(got, "\xe2\x80\x94"));
  json_decref(arr);
  free(got);

  got = render_fmt(EQL_EMIT_JSON_LINES, &l, NULL);
  size_t lines = 0;
  for (char *line = got, *nl; (nl = strchr(line, '\n')); line = nl + 1, lines++) {
    *nl = 0;
    json_t *o = parse(line);
    CU_ASSERT_FATAL(lines < l.n);
    check_json_object(o, &l.items[lines]);
    json_decref(o);
  }
  CU_ASSERT_EQUAL(lines, l.n);
  free(got);

  got = render_fmt(EQL_EMIT_GITLAB, &l, NULL);
  arr = parse(got);
  CU_ASSERT_EQUAL(json_array_size(arr), l.n);
  for (size_t i = 0; i < l.n; i++) {
    json_t *o = json_array_get(arr, i);
    const char *fp = json_string_value(json_object_get(o, "fingerprint"));
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    CU_ASSERT_EQUAL(strlen(fp), 32);
    CU_ASSERT_EQUAL(strspn(fp, "0123456789abcdef"), 32);
    for (size_t k = 0; k < i; k++)
      CU_ASSERT_STRING_NOT_EQUAL(
          fp, json_string_value(json_object_get(json_array_get(arr, k), "fingerprint")));
    json_t *begin = json_object_get(json_object_get(json_object_get(o, "location"),
                                                    "positions"), "begin");
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(begin, "line")), l.items[i].span.line);
    const char *sev = json_string_value(json_object_get(o, "severity"));
    CU_ASSERT(strcmp(sev, "major") == 0 || strcmp(sev, "minor") == 0 || strcmp(sev, "info") == 0);
  }
  json_decref(arr);
  free(got);
  eql_diag_list_free(&l);
}

static void test_sarif_structure(void) {
  eql_diag_list l;
  canonical(&l);
  char *got = render_fmt(EQL_EMIT_SARIF, &l, NULL);
  json_t *doc = parse(got);
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(doc, "version")), "2.1.0");
  CU_ASSERT_PTR_NOT_NULL(strstr(json_string_value(json_object_get(doc, "$schema")), "sarif-2.1.0"));
  json_t *runs = json_object_get(doc, "runs");
  CU_ASSERT_EQUAL_FATAL(json_array_size(runs), 1);
  json_t *run = json_array_get(runs, 0);
  json_t *driver = json_object_get(json_object_get(run, "tool"), "driver");
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(driver, "name")), "eqlint");
  CU_ASSERT_PTR_NOT_NULL(json_string_value(json_object_get(driver, "informationUri")));
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(run, "columnKind")),
                         "unicodeCodePoints");

  /* Every rule, in table order, with its documentation. */
  json_t *rules = json_object_get(driver, "rules");
  CU_ASSERT_EQUAL_FATAL(json_array_size(rules), EQL_RULE_COUNT);
  for (int i = 0; i < EQL_RULE_COUNT; i++) {
    json_t *r = json_array_get(rules, (size_t)i);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r, "id")), eql_rules[i].code);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r, "name")), eql_rules[i].name);
    CU_ASSERT_STRING_EQUAL(
        json_string_value(json_object_get(json_object_get(r, "shortDescription"), "text")),
        eql_rules[i].summary);
    const char *full =
        json_string_value(json_object_get(json_object_get(r, "fullDescription"), "text"));
    CU_ASSERT(full && *full && !strchr(full, '\n') && !strstr(full, "##"));
    json_t *help = json_object_get(r, "help");
    const char *md = json_string_value(json_object_get(help, "markdown"));
    CU_ASSERT_PTR_NOT_NULL_FATAL(md);
    CU_ASSERT_PTR_NOT_NULL(strstr(eql_rules[i].doc, md)); /* the doc, leading blank trimmed */
    CU_ASSERT_EQUAL(strncmp(md, "## What it does", 15), 0);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(help, "text")), md);
    const char *level = json_string_value(
        json_object_get(json_object_get(r, "defaultConfiguration"), "level"));
    CU_ASSERT_STRING_EQUAL(level, eql_rules[i].severity == EQL_SEV_ERROR     ? "error"
                                  : eql_rules[i].severity == EQL_SEV_WARNING ? "warning"
                                                                             : "note");
    CU_ASSERT(json_array_size(json_object_get(json_object_get(r, "properties"), "tags")) > 0);
    char url[128];
    snprintf(url, sizeof url, "https://eqlint.dev/rules/%s", eql_rules[i].code);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(r, "helpUri")), url);
  }

  /* Every result points at its rule, at a region, and at a relative, encoded URI. */
  json_t *results = json_object_get(run, "results");
  CU_ASSERT_EQUAL_FATAL(json_array_size(results), l.n);
  for (size_t i = 0; i < l.n; i++) {
    json_t *res = json_array_get(results, i);
    json_int_t idx = json_integer_value(json_object_get(res, "ruleIndex"));
    CU_ASSERT_FATAL(idx >= 0 && idx < EQL_RULE_COUNT);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(res, "ruleId")),
                           eql_rules[idx].code);
    CU_ASSERT_EQUAL(idx, l.items[i].rule);
    CU_ASSERT_PTR_NOT_NULL(json_string_value(json_object_get(json_object_get(res, "message"),
                                                             "text")));
    json_t *phys = json_object_get(json_array_get(json_object_get(res, "locations"), 0),
                                   "physicalLocation");
    json_t *art = json_object_get(phys, "artifactLocation");
    const char *uri = json_string_value(json_object_get(art, "uri"));
    CU_ASSERT_PTR_NOT_NULL_FATAL(uri);
    CU_ASSERT_PTR_NULL(strchr(uri, ' '));
    CU_ASSERT(uri[0] != '/');
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(art, "uriBaseId")), "%SRCROOT%");
    json_t *region = json_object_get(phys, "region");
    json_int_t sl = json_integer_value(json_object_get(region, "startLine"));
    json_int_t el = json_integer_value(json_object_get(region, "endLine"));
    CU_ASSERT(sl >= 1 && el >= sl);
    CU_ASSERT_EQUAL(sl, l.items[i].span.line);
    CU_ASSERT_EQUAL(json_integer_value(json_object_get(region, "startColumn")),
                    l.items[i].span.col);
    CU_ASSERT_EQUAL(json_object_get(res, "relatedLocations") != NULL, l.items[i].has_related);
    const char *fp =
        json_string_value(json_object_get(json_object_get(res, "partialFingerprints"), "eqlint/v1"));
    CU_ASSERT_PTR_NOT_NULL_FATAL(fp);
    for (size_t k = 0; k < i; k++)
      CU_ASSERT_STRING_NOT_EQUAL(
          fp, json_string_value(json_object_get(
                  json_object_get(json_array_get(results, k), "partialFingerprints"),
                  "eqlint/v1")));
  }
  CU_ASSERT_PTR_NOT_NULL(strstr(got, "\"uri\": \"scripts/train%20v2.py\""));
  json_decref(doc);
  free(got);
  eql_diag_list_free(&l);
}

/* ---- fingerprints ---- */

static void fingerprints_of(const eql_diag_list *l, eql_emit_fingerprint *fps) {
  CU_ASSERT_EQUAL_FATAL(eql_emit_fingerprints(l, lookup, NULL, NULL, fps), 0);
}

/* Replaces model_src by `text` (same path) for the duration of a test. */
static eql_source *swap_model(const char *text) {
  eql_source *old = model_src;
  model_src = eql_source_new("src/model.py", text, strlen(text));
  CU_ASSERT_PTR_NOT_NULL_FATAL(model_src);
  return old;
}

static void test_fingerprints_stable(void) {
  eql_diag_list l;
  canonical(&l);
  eql_emit_fingerprint before[N_CANON], after[N_CANON];
  fingerprints_of(&l, before);
  /* The two optim.init lines are identical: the occurrence index separates them. */
  CU_ASSERT_STRING_NOT_EQUAL(before[4], before[5]);
  eql_diag_list_free(&l);

  /* Lines added above and a re-indented block: every finding keeps its fingerprint. */
  size_t n = strlen(model_text);
  char *shifted = malloc(n + 64);
  strcpy(shifted, "# a new comment\nimport jax\n");
  strcat(shifted, model_text);
  char *p = strstr(shifted, "    state = optim.init(model)\n    state");
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  p[0] = '\t'; /* tab instead of four spaces: the same normalised text */
  memmove(p + 1, p + 4, strlen(p + 4) + 1);
  eql_source *old = swap_model(shifted);
  canonical(&l);
  CU_ASSERT_EQUAL(l.items[3].span.line, 12);
  fingerprints_of(&l, after);
  for (int i = 0; i < N_CANON; i++) CU_ASSERT_STRING_EQUAL(before[i], after[i]);
  eql_diag_list_free(&l);
  eql_source_free(model_src);

  /* Editing the flagged line changes its fingerprint, and only its own. */
  char *edited = strdup(model_text);
  char *q = strstr(edited, "state = optim.init(model)\n    state");
  q[0] = 'S';
  model_src = eql_source_new("src/model.py", edited, strlen(edited));
  canonical(&l);
  fingerprints_of(&l, after);
  CU_ASSERT_STRING_NOT_EQUAL(before[4], after[4]);
  for (int i = 0; i < N_CANON; i++)
    if (i != 4 && i != 5) CU_ASSERT_STRING_EQUAL(before[i], after[i]);
  /* The second init line is now the first of its text: its index, hence digest, moved. */
  eql_diag_list_free(&l);
  eql_source_free(model_src);
  model_src = old;
  free(shifted);
  free(edited);

  /* Without sources the message stands in; the result is still unique per finding. */
  canonical(&l);
  CU_ASSERT_EQUAL_FATAL(eql_emit_fingerprints(&l, NULL, NULL, NULL, after), 0);
  for (int i = 0; i < N_CANON; i++)
    for (int k = 0; k < i; k++) CU_ASSERT_STRING_NOT_EQUAL(after[i], after[k]);
  /* "./src/model.py" and "src/model.py" are one file. */
  free(l.items[4].path);
  l.items[4].path = strdup("./src/model.py");
  eql_emit_fingerprint dotted[N_CANON];
  CU_ASSERT_EQUAL_FATAL(eql_emit_fingerprints(&l, NULL, NULL, NULL, dotted), 0);
  CU_ASSERT_STRING_EQUAL(dotted[4], after[4]);
  eql_diag_list_free(&l);
}

static void test_sha256(void) {
  static const struct {
    const char *in, *hex;
  } v[] = {
      {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
      {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
      {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
       "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
  };
  for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
    unsigned char d[32];
    char hex[65];
    eql_emit_sha256(v[i].in, strlen(v[i].in), d);
    for (int b = 0; b < 32; b++) snprintf(hex + 2 * b, 3, "%02x", d[b]);
    CU_ASSERT_STRING_EQUAL(hex, v[i].hex);
  }
  /* A million 'a's crosses many blocks and the length encoding's upper bytes. */
  size_t n = 1000000;
  char *a = malloc(n);
  memset(a, 'a', n);
  unsigned char d[32];
  char hex[65];
  eql_emit_sha256(a, n, d);
  for (int b = 0; b < 32; b++) snprintf(hex + 2 * b, 3, "%02x", d[b]);
  CU_ASSERT_STRING_EQUAL(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
  free(a);
}

/* ---- escaping and paths ---- */

static char *capture_escape(void (*fn)(FILE *, const char *, bool), const char *s, bool flag) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  fn(f, s, flag);
  fclose(f);
  return buf;
}

static void test_workflow_escape(void) {
  struct {
    const char *in;
    bool prop;
    const char *out;
  } cases[] = {
      {"100% sure\r\nnext", false, "100%25 sure%0D%0Anext"},
      {"a: b, c", false, "a: b, c"},
      {"a: b, c", true, "a%3A b%2C c"},
      {"esc \x1b[2J bad \xff", false, "esc \\x1b[2J bad \\xff"},
      {"rtl \xe2\x80\xae caf\xc3\xa9", true, "rtl \\u{202e} caf\xc3\xa9"},
      {"::error::forged", false, "::error::forged"}, /* harmless mid-line */
      {"", false, ""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char *got = capture_escape(eql_emit_workflow_escaped, cases[i].in, cases[i].prop);
    CU_ASSERT_STRING_EQUAL(got, cases[i].out);
    free(got);
  }
}

static void test_xml_escape(void) {
  struct {
    const char *in;
    bool attr;
    const char *out;
  } cases[] = {
      {"a<b & \"c\" 'd'>", false, "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;"},
      {"two\nlines\tand tab", false, "two\nlines\tand tab"},
      {"two\nlines\tand tab", true, "two&#10;lines&#9;and tab"},
      {"nul-ish \x01\x1b bad \xff \xef\xbf\xbf", false, "nul-ish \\x01\\x1b bad \\xff \\u{ffff}"},
      {"caf\xc3\xa9 \xe5\x90\x8d", true, "caf\xc3\xa9 \xe5\x90\x8d"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char *got = capture_escape(eql_emit_xml_escaped, cases[i].in, cases[i].attr);
    CU_ASSERT_STRING_EQUAL(got, cases[i].out);
    free(got);
  }
}

static void test_report_path(void) {
  struct {
    const char *path, *root, *out;
  } cases[] = {
      {"src/a.py", NULL, "src/a.py"},
      {"./src//a.py", NULL, "src/a.py"},
      {"././a.py", NULL, "a.py"},
      {"src/./a.py", NULL, "src/a.py"},
      {"/repo/src/a.py", "/repo", "src/a.py"},
      {"/repo/src/a.py", "/repo/", "src/a.py"},
      {"/repository/a.py", "/repo", "/repository/a.py"}, /* a prefix is not a parent */
      {"/elsewhere/a.py", "/repo", "/elsewhere/a.py"},
      {"/a.py", "/", "a.py"},
      {"../up/a.py", "/repo", "../up/a.py"},
      {".hidden/a.py", NULL, ".hidden/a.py"},
      {"-", NULL, "-"},
      {"./", NULL, "."},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char *got = eql_emit_report_path(cases[i].path, cases[i].root);
    CU_ASSERT_PTR_NOT_NULL_FATAL(got);
    if (strcmp(got, cases[i].out) != 0)
      fprintf(stderr, "\nreport path of %s: got %s, want %s\n", cases[i].path, got, cases[i].out);
    CU_ASSERT_STRING_EQUAL(got, cases[i].out);
    free(got);
  }
}

/* Absolute paths: under the root they become relative everywhere; outside it SARIF falls
 * back to a file:// URI without a base. */
static void test_root_relative(void) {
  eql_source *s = eql_source_new("/work/repo/pkg/m\xc3\xa9.py", "x = 1\n", 6);
  eql_source *o = eql_source_new("/other/x.py", "x = 1\n", 6);
  eql_diag_list l;
  eql_diag_list_init(&l);
  add(&l, EQL_R_EQX001, s, 0, 1, "m", NULL);
  add(&l, EQL_R_EQX001, o, 0, 1, "m", NULL);
  char *got = render_fmt(EQL_EMIT_SARIF, &l, "/work/repo");
  CU_ASSERT_PTR_NOT_NULL(strstr(got, "\"uri\": \"pkg/m%C3%A9.py\",\n"));
  CU_ASSERT_PTR_NOT_NULL(strstr(got, "\"uri\": \"file:///other/x.py\"\n"));
  free(got);
  got = render_fmt(EQL_EMIT_GITHUB, &l, "/work/repo");
  CU_ASSERT_EQUAL(strncmp(got, "::error file=pkg/m\xc3\xa9.py,line=1,", 30), 0);
  free(got);
  got = render_fmt(EQL_EMIT_GITLAB, &l, "/work/repo");
  CU_ASSERT_PTR_NOT_NULL(strstr(got, "\"path\": \"pkg/m\xc3\xa9.py\""));
  free(got);
  eql_diag_list_free(&l);
  eql_source_free(s);
  eql_source_free(o);
}

/* ---- empty reports, names, statistics ---- */

static void test_empty(void) {
  static const struct {
    eql_emit_format fmt;
    const char *want;
  } cases[] = {
      {EQL_EMIT_JSON, "[]\n"},   {EQL_EMIT_JSON_LINES, ""}, {EQL_EMIT_GITHUB, ""},
      {EQL_EMIT_GITLAB, "[]\n"}, {EQL_EMIT_PYLINT, ""},
  };
  eql_diag_list l;
  eql_diag_list_init(&l);
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    char *got = render_fmt(cases[i].fmt, &l, NULL);
    CU_ASSERT_STRING_EQUAL(got, cases[i].want);
    free(got);
  }
  char *got = render_fmt(EQL_EMIT_JUNIT, &l, NULL);
  CU_ASSERT_PTR_NOT_NULL(strstr(got, "<testcase name=\"No errors found\""));
  CU_ASSERT_PTR_NOT_NULL(strstr(got, "failures=\"0\""));
  free(got);
  got = render_fmt(EQL_EMIT_SARIF, &l, NULL);
  json_t *doc = parse(got);
  json_t *run = json_array_get(json_object_get(doc, "runs"), 0);
  CU_ASSERT(json_is_array(json_object_get(run, "results")));
  CU_ASSERT_EQUAL(json_array_size(json_object_get(run, "results")), 0);
  json_decref(doc);
  free(got);
}

static void test_format_names(void) {
  for (int i = 0; i < EQL_EMIT_FORMAT_COUNT; i++) {
    const char *name = eql_emit_format_name((eql_emit_format)i);
    CU_ASSERT_PTR_NOT_NULL_FATAL(name);
    CU_ASSERT_EQUAL(eql_emit_format_from_name(name), i);
    CU_ASSERT_PTR_NOT_NULL(strstr(eql_emit_format_list, name));
  }
  CU_ASSERT_EQUAL(eql_emit_format_from_name("xml"), -1);
  CU_ASSERT_EQUAL(eql_emit_format_from_name("JSON"), -1);
  CU_ASSERT_PTR_NULL(eql_emit_format_name(EQL_EMIT_FORMAT_COUNT));
}

static char *render_stats(const eql_diag_list *l, bool json) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  CU_ASSERT_EQUAL(eql_emit_statistics(f, l, json, NULL), 0);
  fclose(f);
  return buf;
}

static void test_statistics(void) {
  eql_diag_list l;
  canonical(&l);
  char *got = render_stats(&l, false);
  /* EQX001 three times, EQX003 twice, then EQX002 and EQX999 once (ties by code). */
  CU_ASSERT_STRING_EQUAL(got,
                         "3\tEQX001\toptimizer-init-unfiltered\n"
                         "2\tEQX003\tunfiltered-transform\n"
                         "1\tEQX002\tshared-submodule-aliased\n"
                         "1\tEQX999\tsyntax-error\n");
  free(got);
  got = render_stats(&l, true);
  json_t *arr = parse(got);
  CU_ASSERT_EQUAL(json_array_size(arr), 4);
  json_t *first = json_array_get(arr, 0);
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(first, "code")), "EQX001");
  CU_ASSERT_EQUAL(json_integer_value(json_object_get(first, "count")), 3);
  CU_ASSERT(json_is_false(json_object_get(first, "fixable")));
  json_decref(arr);
  free(got);
  eql_diag_list_free(&l);

  /* Counts of different widths are right-aligned. */
  eql_diag_list_init(&l);
  for (int i = 0; i < 12; i++) add(&l, EQL_R_EQX003, train_src, 0, 1, "m", NULL);
  add(&l, EQL_R_EQX001, train_src, 0, 1, "m", NULL);
  got = render_stats(&l, false);
  CU_ASSERT_STRING_EQUAL(got,
                         "12\tEQX003\tunfiltered-transform\n"
                         " 1\tEQX001\toptimizer-init-unfiltered\n");
  free(got);
  eql_diag_list_free(&l);
  got = render_stats(&l, false);
  CU_ASSERT_STRING_EQUAL(got, "");
  free(got);
}

/* ---- the rule table as JSON ---- */

static char *render_rules(int rule, int *rc) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  *rc = eql_emit_rules_json(f, rule);
  fclose(f);
  return buf;
}

static void test_rules_json(void) {
  int rc;
  char *got = render_rules(EQL_R_EQX001, &rc);
  CU_ASSERT_EQUAL(rc, 0);
  json_t *o = parse(got);
  static const char *const keys[] = {"code",    "name", "severity",   "fixable",
                                     "summary", "url",  "explanation"};
  const char *key;
  json_t *v;
  size_t i = 0;
  json_object_foreach(o, key, v) {
    CU_ASSERT_FATAL(i < sizeof keys / sizeof *keys);
    CU_ASSERT_STRING_EQUAL(key, keys[i]);
    i++;
  }
  CU_ASSERT_EQUAL(i, sizeof keys / sizeof *keys);
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "code")), "EQX001");
  CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(o, "url")),
                         "https://eqlint.dev/rules/EQX001");
  CU_ASSERT_EQUAL(strncmp(json_string_value(json_object_get(o, "explanation")),
                          "## What it does", 15), 0);
  json_decref(o);
  free(got);

  /* --all: every rule, in table order, each object like the single one. */
  got = render_rules(-1, &rc);
  CU_ASSERT_EQUAL(rc, 0);
  json_t *arr = parse(got);
  CU_ASSERT_EQUAL_FATAL(json_array_size(arr), EQL_RULE_COUNT);
  for (int r = 0; r < EQL_RULE_COUNT; r++) {
    json_t *e = json_array_get(arr, (size_t)r);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(e, "code")), eql_rules[r].code);
    CU_ASSERT_STRING_EQUAL(json_string_value(json_object_get(e, "severity")),
                           eql_severity_name(eql_rules[r].severity));
    CU_ASSERT_EQUAL(json_is_true(json_object_get(e, "fixable")), eql_rules[r].fixable);
  }
  json_decref(arr);
  free(got);

  got = render_rules(EQL_RULE_COUNT, &rc);
  CU_ASSERT_EQUAL(rc, -1);
  free(got);
}

/* ---- atomic output files ---- */

static void test_output_file(void) {
  char dir[] = "/tmp/eqlint-out.XXXXXX";
  CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
  char target[256];
  snprintf(target, sizeof target, "%s/report.sarif", dir);
  const char *err = NULL;

  /* Commit publishes the whole content with the usual permissions. */
  eql_emit_file f;
  CU_ASSERT_EQUAL_FATAL(eql_emit_file_open(&f, target, &err), 0);
  CU_ASSERT_EQUAL(access(target, F_OK), -1); /* nothing visible before commit */
  fputs("first\n", f.fp);
  CU_ASSERT_EQUAL(eql_emit_file_commit(&f, &err), 0);
  char *got = read_file(target);
  CU_ASSERT_STRING_EQUAL(got, "first\n");
  free(got);
  struct stat st;
  CU_ASSERT_EQUAL(stat(target, &st), 0);
  mode_t mask = umask(0);
  umask(mask);
  CU_ASSERT_EQUAL(st.st_mode & 0777, 0666 & ~mask);

  /* Abort leaves the previous report as it was, and no temporary file behind. */
  CU_ASSERT_EQUAL_FATAL(eql_emit_file_open(&f, target, &err), 0);
  fputs("half a rep", f.fp);
  eql_emit_file_abort(&f);
  got = read_file(target);
  CU_ASSERT_STRING_EQUAL(got, "first\n");
  free(got);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "test \"$(ls -A %s)\" = report.sarif", dir);
  CU_ASSERT_EQUAL(system(cmd), 0);

  /* Missing parent directories are created, as Ruff does for --output-file. */
  char nested[300];
  snprintf(nested, sizeof nested, "%s/reports/ci/out.json", dir);
  CU_ASSERT_EQUAL_FATAL(eql_emit_file_open(&f, nested, &err), 0);
  fputs("[]\n", f.fp);
  CU_ASSERT_EQUAL(eql_emit_file_commit(&f, &err), 0);
  got = read_file(nested);
  CU_ASSERT_STRING_EQUAL(got, "[]\n");
  free(got);

  /* A parent that is a file is an error with a reason, not a crash. */
  char under_file[300];
  snprintf(under_file, sizeof under_file, "%s/report.sarif/out.json", dir);
  err = NULL;
  CU_ASSERT_EQUAL(eql_emit_file_open(&f, under_file, &err), -1);
  CU_ASSERT_PTR_NOT_NULL(err);
  CU_ASSERT_EQUAL(eql_emit_file_open(&f, "", &err), -1);

  unlink(nested);
  snprintf(nested, sizeof nested, "%s/reports/ci", dir);
  rmdir(nested);
  snprintf(nested, sizeof nested, "%s/reports", dir);
  rmdir(nested);
  unlink(target);
  CU_ASSERT_EQUAL(rmdir(dir), 0);
}

/* ---- properties over arbitrary bytes ---- */

static uint32_t lcg(uint32_t *state) {
  *state = *state * 1664525u + 1013904223u;
  return *state >> 8;
}

/* Arbitrary bytes in paths, messages and help never break a format: JSON parses, every
 * github/pylint diagnostic is exactly one line, XML carries no character XML forbids. */
static void test_random_inputs(void) {
  static const char alphabet[] = "a:%,\r\n\t\"<&>'\\\x01\x1b\x7f\xc3\xa9\xe2\x80\xae\xff\xef\xbf\xbe";
  uint32_t seed = 4242;
  for (int round = 0; round < 200; round++) {
    char msg[64], path[24];
    size_t mlen = lcg(&seed) % (sizeof msg - 1), plen = 1 + lcg(&seed) % (sizeof path - 2);
    for (size_t i = 0; i < mlen; i++) msg[i] = alphabet[lcg(&seed) % (sizeof alphabet - 1)];
    for (size_t i = 0; i < plen; i++) path[i] = alphabet[lcg(&seed) % (sizeof alphabet - 1)];
    msg[mlen] = path[plen] = 0;
    eql_source *s = eql_source_new(path, msg, mlen);
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    eql_diag_list l;
    eql_diag_list_init(&l);
    size_t nd = 1 + lcg(&seed) % 3;
    for (size_t k = 0; k < nd; k++) {
      eql_diag *d = eql_diag_add(&l, (int)(lcg(&seed) % EQL_RULE_COUNT), s, 0, (uint32_t)mlen,
                                 msg, k % 2 ? msg : NULL);
      CU_ASSERT_PTR_NOT_NULL_FATAL(d);
      if (k == 1) eql_diag_set_related(d, s, 0, 1, msg);
    }
    const eql_source *keep = model_src;
    model_src = s; /* so the fingerprints read this source */
    for (int fmt = EQL_EMIT_JSON; fmt < EQL_EMIT_FORMAT_COUNT; fmt++) {
      char *got = render_fmt((eql_emit_format)fmt, &l, NULL);
      if (fmt == EQL_EMIT_JSON || fmt == EQL_EMIT_SARIF || fmt == EQL_EMIT_GITLAB) {
        json_t *j = parse(got);
        json_decref(j);
      } else if (fmt == EQL_EMIT_JSON_LINES || fmt == EQL_EMIT_GITHUB || fmt == EQL_EMIT_PYLINT) {
        size_t lines = 0;
        for (const char *p = got; *p; p++) lines += *p == '\n';
        CU_ASSERT_EQUAL(lines, nd);
        for (const char *p = got; *p; p++)
          if ((unsigned char)*p < 0x20 && *p != '\n') {
            CU_FAIL("raw control byte in a line format");
            break;
          }
      } else if (fmt == EQL_EMIT_JUNIT) {
        const unsigned char *p = (const unsigned char *)got, *end = p + strlen(got);
        while (p < end) {
          int32_t cp;
          uint32_t n = eql_emit_utf8_next(p, end, &cp);
          bool ok = cp == '\n' || cp == '\t' ||
                    (cp >= 0x20 && cp != 0xFFFE && cp != 0xFFFF);
          if (!ok) {
            CU_FAIL("character XML 1.0 forbids");
            break;
          }
          p += n;
        }
        CU_ASSERT_PTR_NULL(strstr(got, "<testcase name=\"No errors"));
      }
      free(got);
    }
    model_src = (eql_source *)keep;
    eql_diag_list_free(&l);
    eql_source_free(s);
  }
}

static int setup(void) {
  model_src = eql_source_new("src/model.py", model_text, strlen(model_text));
  train_src = eql_source_new("scripts/train v2.py", train_text, strlen(train_text));
  notebook_src = eql_source_new("notebooks/fit.ipynb", notebook_text, strlen(notebook_text));
  return model_src && train_src && notebook_src ? 0 : 1;
}

int main(void) {
  if (setup() != 0) return 2;
  static const eql_test tests[] = {
      EQL_TEST(test_snapshot_full),      EQL_TEST(test_snapshot_concise),
      EQL_TEST(test_snapshot_json),      EQL_TEST(test_snapshot_json_lines),
      EQL_TEST(test_snapshot_sarif),     EQL_TEST(test_snapshot_github),
      EQL_TEST(test_snapshot_gitlab),    EQL_TEST(test_snapshot_junit),
      EQL_TEST(test_snapshot_pylint),    EQL_TEST(test_json_valid),
      EQL_TEST(test_sarif_structure),    EQL_TEST(test_fingerprints_stable),
      EQL_TEST(test_sha256),             EQL_TEST(test_workflow_escape),
      EQL_TEST(test_xml_escape),         EQL_TEST(test_report_path),
      EQL_TEST(test_root_relative),      EQL_TEST(test_empty),
      EQL_TEST(test_format_names),       EQL_TEST(test_statistics),
      EQL_TEST(test_rules_json),         EQL_TEST(test_output_file),
      EQL_TEST(test_random_inputs),
  };
  int rc = eql_cunit_run("emit_formats", tests, sizeof tests / sizeof *tests);
  eql_source_free(model_src);
  eql_source_free(train_src);
  eql_source_free(notebook_src);
  return rc;
}
