/* The driver: two passes over a project.
 *
 * Pass 1 reads and parses every file into facts and adds its classes to the index; pass 2
 * finalises the index and runs the selected rules file by file. Rules of a file see only
 * their own facts plus the read-only index, so pass 2 can later run files in parallel.
 * The driver itself reports EQX999 for files that do not parse (rules still run on what
 * parsed). */
#define _GNU_SOURCE /* memmem */
#include "eqlint/check.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tree_sitter/api.h>
#include <unistd.h>

#include "eqlint/cfront.h"
#include "eqlint/ctx.h"
#include "eqlint/index.h"
#include "eqlint/notebook.h"
#include "eqlint/suppress.h"

typedef struct pfile {
  eql_source *src;
  eql_facts *facts;
  char *module_name;
  TSTree *tree;         /* kept only with eql_project_keep_trees */
  eql_cellmap cells;    /* notebooks: program line -> (cell, line in cell) */
  bool skipped;         /* prefiltered: not parsed (facts NULL) unless imported */
  bool is_init;
  bool index_only;      /* parsed only because another file imports it: no rules */
} pfile;

struct eql_project {
  pfile *files;
  size_t n, cap;
  eql_index *index;
  bool index_dirty;     /* files changed since the index was built */
  bool keep_trees;
  bool no_prefilter;
  int jobs;             /* pass 2 threads */
  size_t max_bytes;     /* per-file budget (0: none) */
  unsigned timeout_ms;
  eql_error_cb on_skip;
  void *skip_ud;
};

eql_project *eql_project_new(void) {
  eql_project *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->index_dirty = true;
  p->max_bytes = (size_t)16 << 20;
  p->timeout_ms = 20000;
  return p;
}

void eql_project_free(eql_project *p) {
  if (!p) return;
  eql_index_free(p->index);
  for (size_t i = 0; i < p->n; i++) {
    eql_facts_free(p->files[i].facts);
    eql_source_free(p->files[i].src);
    free(p->files[i].module_name);
    if (p->files[i].tree) ts_tree_delete(p->files[i].tree);
    eql_cellmap_free(&p->files[i].cells);
  }
  free(p->files);
  free(p);
}

static pfile *find_file(eql_project *p, const char *path);
static const char *timeout_reason(const eql_project *p, char *buf, size_t n);
static bool budget_failure(void);

static int file_exists(const char *path) { return access(path, F_OK) == 0; }

char *eql_module_name_for_path(const char *path, int *is_package_init) {
  if (is_package_init) *is_package_init = 0;
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  size_t blen = strlen(base);
  if (blen > 3 && !strcmp(base + blen - 3, ".py")) blen -= 3;
  char *mod = strndup(base, blen);
  if (!mod) return NULL;
  int is_init = !strcmp(mod, "__init__");
  if (is_package_init) *is_package_init = is_init;

  char real[PATH_MAX];
  if (!realpath(path, real)) return mod; /* in-memory buffers: just the file's stem */
  char *slash = strrchr(real, '/');
  if (!slash) return mod;
  *slash = 0;
  /* walk up while the directory is a package */
  char *name = is_init ? NULL : mod;
  if (is_init) free(mod);
  for (int depth = 0; depth < 64 && real[0]; depth++) {
    char probe[PATH_MAX + 16];
    snprintf(probe, sizeof probe, "%s/__init__.py", real);
    if (!file_exists(probe)) break;
    char *dir = strrchr(real, '/');
    const char *dname = dir ? dir + 1 : real;
    char *joined;
    if (name) {
      size_t n = strlen(dname) + strlen(name) + 2;
      joined = malloc(n);
      if (joined) snprintf(joined, n, "%s.%s", dname, name);
      free(name);
    } else {
      joined = strdup(dname);
    }
    name = joined;
    if (!name || !dir) break;
    *dir = 0;
  }
  return name ? name : strdup("");
}

/* Could this file matter? Every pitfall involves jax, equinox or optax by name. */
static bool mentions_jax(const eql_source *src) {
  static const char *const needles[] = {"jax", "equinox", "optax", "eqx"};
  for (size_t i = 0; i < sizeof needles / sizeof *needles; i++)
    if (memmem(src->text, src->len, needles[i], strlen(needles[i]))) return true;
  return false;
}

static int grow(eql_project *p) {
  if (p->n < p->cap) return 0;
  size_t cap = p->cap ? p->cap * 2 : 32;
  pfile *f = realloc(p->files, cap * sizeof *f);
  if (!f) return -1;
  p->files = f;
  p->cap = cap;
  return 0;
}

/* Records a file without parsing it (prefiltered). */
static int add_skipped(eql_project *p, eql_source *src) {
  int is_init = 0;
  char *mod = eql_module_name_for_path(src->path, &is_init);
  if (!mod || grow(p) < 0) {
    free(mod);
    eql_source_free(src);
    return -1;
  }
  pfile *pf = &p->files[p->n++];
  memset(pf, 0, sizeof *pf);
  pf->src = src;
  pf->module_name = mod;
  pf->is_init = is_init;
  pf->skipped = true;
  return 0;
}

static int add(eql_project *p, eql_source *src) {
  if (p->n == p->cap) {
    size_t cap = p->cap ? p->cap * 2 : 32;
    pfile *f = realloc(p->files, cap * sizeof *f);
    if (!f) {
      eql_source_free(src);
      return -1;
    }
    p->files = f;
    p->cap = cap;
  }
  int is_init = 0;
  char *mod = eql_module_name_for_path(src->path, &is_init);
  void *tree = NULL;
  const char *cerr = NULL; /* .c/.h: the C front end (no incremental trees) */
  eql_facts *facts = !mod ? NULL
                     : eql_cfront_is_c_path(src->path) ? eql_c_facts(src, &cerr)
                     : eql_python_facts_incremental(src, mod, is_init, NULL,
                                                    p->keep_trees ? &tree : NULL);
  if (!facts && mod && budget_failure()) {
    char why[200];
    if (p->on_skip) p->on_skip(src->path, timeout_reason(p, why, sizeof why), p->skip_ud);
    free(mod);
    eql_source_free(src);
    return 0;
  }
  if (!facts) {
    eql_facts_free(facts);
    free(mod);
    eql_source_free(src);
    if (tree) ts_tree_delete(tree);
    return -1;
  }
  pfile *pf = &p->files[p->n++];
  memset(pf, 0, sizeof *pf);
  pf->src = src;
  pf->facts = facts;
  pf->module_name = mod;
  pf->tree = tree;
  p->index_dirty = true; /* the index is (re)built from all facts before rules run */
  return 0;
}

static pfile *find_file(eql_project *p, const char *path) {
  for (size_t i = 0; i < p->n; i++)
    if (!strcmp(p->files[i].src->path, path)) return &p->files[i];
  return NULL;
}

void eql_project_keep_trees(eql_project *p, bool keep) { p->keep_trees = keep; }

void eql_project_edit(eql_project *p, const char *path, uint32_t start_byte,
                      uint32_t old_end_byte, uint32_t new_end_byte, uint32_t start_row,
                      uint32_t start_col, uint32_t old_end_row, uint32_t old_end_col,
                      uint32_t new_end_row, uint32_t new_end_col) {
  pfile *pf = find_file(p, path);
  if (!pf || !pf->tree) return;
  TSInputEdit e = {start_byte, old_end_byte, new_end_byte, {start_row, start_col},
                   {old_end_row, old_end_col}, {new_end_row, new_end_col}};
  ts_tree_edit(pf->tree, &e);
}

int eql_project_set_source(eql_project *p, const char *path, const char *data, size_t len) {
  pfile *pf = find_file(p, path);
  if (!pf) return eql_project_add_source(p, path, data, len);
  eql_source *src = eql_source_new(path, data, len);
  if (!src) return -1;
  int is_init = 0;
  char *mod = eql_module_name_for_path(path, &is_init);
  void *tree = NULL;
  eql_facts *facts = mod ? eql_python_facts_incremental(src, mod, is_init, pf->tree,
                                                        p->keep_trees ? &tree : NULL)
                         : NULL;
  if (!facts) {
    free(mod);
    eql_source_free(src);
    return -1;
  }
  /* the index points into the old facts: it must be rebuilt before anything reads it */
  p->index_dirty = true;
  eql_facts_free(pf->facts);
  eql_source_free(pf->src);
  free(pf->module_name);
  if (pf->tree) ts_tree_delete(pf->tree);
  pf->src = src;
  pf->facts = facts;
  pf->module_name = mod;
  pf->tree = tree;
  pf->skipped = false;
  pf->index_only = false;
  return 0;
}

int eql_project_remove(eql_project *p, const char *path) {
  pfile *pf = find_file(p, path);
  if (!pf) return -1;
  p->index_dirty = true;
  eql_facts_free(pf->facts);
  eql_source_free(pf->src);
  free(pf->module_name);
  if (pf->tree) ts_tree_delete(pf->tree);
  eql_cellmap_free(&pf->cells);
  *pf = p->files[--p->n];
  return 0;
}

static int cmp_skipped(const void *a, const void *b) {
  const pfile *fa = *(pfile *const *)a, *fb = *(pfile *const *)b;
  return strcmp(fa->module_name, fb->module_name);
}

/* Parses the prefiltered files that a parsed file imports (transitively), so that the index
 * sees every Module class a checked file can reach. Single-threaded (before pass 2). */
static int parse_imported(eql_project *p) {
  size_t ns = 0;
  for (size_t i = 0; i < p->n; i++) ns += p->files[i].skipped;
  if (!ns) return 0;
  pfile **sk = malloc(ns * sizeof *sk);
  size_t *work = malloc(p->n * sizeof *work);
  if (!sk || !work) {
    free(sk);
    free(work);
    return -1;
  }
  size_t k = 0, nw = 0;
  for (size_t i = 0; i < p->n; i++) {
    if (p->files[i].skipped) sk[k++] = &p->files[i];
    else work[nw++] = i;
  }
  qsort(sk, ns, sizeof *sk, cmp_skipped);
  int rc = 0;
  while (nw > 0 && rc == 0) {
    const eql_facts *f = p->files[work[--nw]].facts;
    for (unsigned m = 0; f && m < f->imports.n && rc == 0; m++) {
      const eql_import *im = f->imports.items[m];
      char name[512];
      snprintf(name, sizeof name, "%s", im->target);
      /* the target and each of its parents may name a module: a.b.C, a.b, a */
      for (;;) {
        size_t lo = 0, hi = ns;
        while (lo < hi) {
          size_t mid = lo + (hi - lo) / 2;
          if (strcmp(sk[mid]->module_name, name) < 0) lo = mid + 1;
          else hi = mid;
        }
        for (size_t j = lo; j < ns && !strcmp(sk[j]->module_name, name); j++) {
          pfile *pf = sk[j];
          if (!pf->skipped) continue;
          pf->facts = eql_python_facts(pf->src, pf->module_name, pf->is_init);
          if (!pf->facts) {
            rc = -1;
            break;
          }
          pf->skipped = false;
          pf->index_only = true;
          work[nw++] = (size_t)(pf - p->files);
        }
        char *dot = strrchr(name, '.');
        if (!dot || rc) break;
        *dot = 0;
      }
    }
  }
  free(sk);
  free(work);
  return rc;
}

/* Rebuilds the index from the current facts when files changed. */
static int refresh_index(eql_project *p) {
  if (!p->index_dirty) return 0;
  if (parse_imported(p) < 0) return -1;
  eql_index *idx = eql_index_new();
  if (!idx) return -1;
  for (size_t i = 0; i < p->n; i++)
    if (p->files[i].facts && eql_index_add(idx, p->files[i].facts) < 0) {
      eql_index_free(idx);
      return -1;
    }
  if (eql_index_finalize(idx) < 0) {
    eql_index_free(idx);
    return -1;
  }
  eql_index_free(p->index);
  p->index = idx;
  p->index_dirty = false;
  return 0;
}

int eql_project_add_source(eql_project *p, const char *path, const char *data, size_t len) {
  eql_source *src = eql_source_new(path, data, len);
  if (!src) return -1;
  return add(p, src);
}

static int ends_with(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  return n >= m && !strcmp(s + n - m, suffix);
}

/* Notebooks are checked as the program their code cells make, in order. */
static int add_notebook(eql_project *p, eql_source *raw, const char **err) {
  static __thread char msg[256];
  msg[0] = 0;
  char *text = NULL;
  size_t len = 0;
  eql_cellmap map;
  memset(&map, 0, sizeof map);
  int rc = eql_notebook_to_python(raw->text, raw->len, &text, &len, &map, msg, sizeof msg);
  if (rc < 0) {
    eql_source_free(raw);
    *err = msg;
    return -1;
  }
  eql_source *src = eql_source_new(raw->path, text, len);
  eql_source_free(raw);
  free(text);
  if (!src || add(p, src) < 0) {
    eql_cellmap_free(&map);
    *err = "out of memory";
    return -1;
  }
  p->files[p->n - 1].cells = map;
  return 0;
}

void eql_project_prefilter(eql_project *p, bool on) { p->no_prefilter = !on; }

void eql_project_set_budget(eql_project *p, size_t max_bytes, unsigned timeout_ms,
                            eql_error_cb on_skip, void *ud) {
  p->max_bytes = max_bytes;
  p->timeout_ms = timeout_ms;
  p->on_skip = on_skip;
  p->skip_ud = ud;
}

/* Why a file is over the budget, in `buf`; NULL when it is within it. */
static const char *over_budget(const eql_project *p, const eql_source *src, char *buf, size_t n) {
  if (!p->max_bytes || src->len <= p->max_bytes) return NULL;
  snprintf(buf, n, "skipped: %.1f MiB is over the per-file budget of %.1f MiB (--max-file-size)",
           (double)src->len / (1 << 20), (double)p->max_bytes / (1 << 20));
  return buf;
}

/* Did the Python front end give up on a budget (rather than run out of memory)? */
static bool budget_failure(void) {
  const char *e = eql_python_last_error();
  return !strcmp(e, "timeout") || !strcmp(e, "nesting");
}

static const char *timeout_reason(const eql_project *p, char *buf, size_t n) {
  if (!strcmp(eql_python_last_error(), "nesting"))
    snprintf(buf, n, "skipped: brackets nested more than 20,000 deep, beyond what the parser "
                     "handles safely");
  else
    snprintf(buf, n, "skipped: parsing took longer than the per-file budget of %u ms "
                     "(--parse-timeout)", p->timeout_ms);
  return buf;
}
void eql_project_set_jobs(eql_project *p, int jobs) { p->jobs = jobs; }

size_t eql_project_nskipped(const eql_project *p) {
  size_t n = 0;
  for (size_t i = 0; i < p->n; i++) n += p->files[i].skipped;
  return n;
}

int eql_project_add_file(eql_project *p, const char *path, const char **err) {
  eql_source *src = eql_source_read(path, err);
  if (!src) return -1;
  char why[200];
  eql_python_set_timeout((uint64_t)p->timeout_ms * 1000);
  if (over_budget(p, src, why, sizeof why)) {
    if (p->on_skip) p->on_skip(path, why, p->skip_ud);
    eql_source_free(src);
    return 0;
  }
  if (ends_with(path, ".ipynb")) return add_notebook(p, src, err);
  if (!p->no_prefilter && !mentions_jax(src)) {
    if (add_skipped(p, src) < 0) {
      *err = "out of memory";
      return -1;
    }
    return 0;
  }
  if (add(p, src) < 0) {
    *err = "out of memory";
    return -1;
  }
  return 0;
}

size_t eql_project_nfiles(const eql_project *p) { return p->n; }

const eql_source *eql_project_source(const eql_project *p, const char *path) {
  const pfile *pf = find_file((eql_project *)p, path);
  return pf ? pf->src : NULL;
}

eql_diag *eql_report(eql_ctx *ctx, uint32_t start, uint32_t end, const char *help,
                     const char *fmt, ...) {
  char buf[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  return eql_diag_add(ctx->out, ctx->rule, ctx->facts->src, start, end, buf, help);
}

int eql_fix_edit(eql_ctx *ctx, eql_diag *d, const char *title, uint32_t start, uint32_t end,
                 const char *text) {
  return d ? eql_diag_add_edit(d, ctx->facts->src, title, start, end, text) : -1;
}

/* Notebook positions: lines become lines of the cell the diagnostic starts in. */
static uint32_t cell_line(const eql_cellmap *m, uint32_t line, uint32_t cell) {
  if (line < 1 || line > m->nlines) return line;
  if (m->cell[line - 1] != cell) return m->line[line - 1]; /* spans cells: best effort */
  return m->line[line - 1];
}

static void to_cell(const eql_cellmap *m, eql_diag *d) {
  uint32_t line = d->span.line;
  if (line < 1 || line > m->nlines) return;
  d->cell = m->cell[line - 1];
  d->span.line = cell_line(m, d->span.line, d->cell);
  d->span.end_line = cell_line(m, d->span.end_line, d->cell);
  if (d->has_related) {
    d->related.line = cell_line(m, d->related.line, d->cell);
    d->related.end_line = cell_line(m, d->related.end_line, d->cell);
  }
}

static int run_file(eql_project *p, pfile *pf, const eql_ruleset *rules, eql_diag_list *out) {
  eql_diag_list mine;
  eql_diag_list_init(&mine);
  eql_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.facts = pf->facts;
  ctx.index = p->index;
  ctx.out = &mine;
  ctx.scratch = eql_arena_new();
  if (!ctx.scratch) return -1;
  for (int r = 0; r < EQL_RULE_COUNT; r++) {
    if (!rules->on[r] || !eql_rules[r].check) continue;
    ctx.rule = r;
    eql_rules[r].check(&ctx);
  }
  if (pf->facts->has_error && rules->on[EQL_R_EQX999]) {
    ctx.rule = EQL_R_EQX999;
    eql_report(&ctx, pf->facts->error_start, pf->facts->error_end,
               "eqlint still checked the parts of the file that parsed",
               "SyntaxError: %s", pf->facts->error_message ? pf->facts->error_message : "invalid syntax");
  }
  eql_arena_free(ctx.scratch);
  /* suppressions: noqa comments hide what they cover; unused eqlint codes are EQX900 */
  eql_suppressions *sup = eql_suppress_parse(pf->facts);
  int rc = sup ? 0 : -1;
  if (sup) {
    eql_suppress_apply(sup, &mine);
    eql_diag_list unused;
    eql_diag_list_init(&unused);
    if (eql_suppress_unused(sup, pf->src, rules, &unused) < 0) rc = -1;
    eql_suppress_apply(sup, &unused); /* a file-level `# eqlint: noqa` hides these too */
    if (eql_diag_list_take(&mine, &unused) < 0) rc = -1;
    eql_diag_list_free(&unused);
    eql_suppress_free(sup);
  }
  if (pf->cells.nlines) {
    for (size_t i = 0; i < mine.n; i++) to_cell(&pf->cells, &mine.items[i]);
  }
  /* Fixes are Python text over the file's bytes: a notebook's bytes are JSON and a C file's
   * calls were lowered to Python shapes, so neither gets one (a known limit). A file that
   * does not parse gets none either: its facts may rest on a misread, and --fix leaves it
   * alone, so no diagnostic there may claim to be fixable. */
  if (pf->cells.nlines || pf->facts->is_c || pf->facts->has_error)
    for (size_t i = 0; i < mine.n; i++) eql_diag_drop_fix(&mine.items[i]);
  if (eql_diag_list_take(out, &mine) < 0) rc = -1;
  eql_diag_list_free(&mine);
  return rc;
}

int eql_project_run_file(eql_project *p, const char *path, const eql_ruleset *rules,
                         eql_diag_list *out) {
  pfile *pf = find_file(p, path);
  if (!pf) return -1;
  if (refresh_index(p) < 0) return -1;
  if (!pf->facts) return 0; /* prefiltered: nothing can be found there */
  eql_diag_list local;
  eql_diag_list_init(&local);
  if (run_file(p, pf, rules, &local) < 0) {
    eql_diag_list_free(&local);
    return -1;
  }
  eql_diag_list_sort(&local);
  int rc = eql_diag_list_take(out, &local);
  eql_diag_list_free(&local);
  return rc;
}

static int ncores(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

typedef struct run_job {
  eql_project *p;
  const eql_ruleset *rules;
  eql_diag_list *per_file;   /* one list per file, so the merge keeps file order */
  atomic_size_t next;
  atomic_int failed;
} run_job;

static void *run_worker(void *arg) {
  run_job *j = arg;
  for (;;) {
    size_t i = atomic_fetch_add(&j->next, 1);
    if (i >= j->p->n) break;
    pfile *pf = &j->p->files[i];
    if (!pf->facts || pf->index_only) continue;
    if (run_file(j->p, pf, j->rules, &j->per_file[i]) < 0) atomic_store(&j->failed, 1);
  }
  return NULL;
}

/* Pass 2. Rules read their own file's facts and the finalised (read-only) index, so files
 * are independent and run on `jobs` threads; results are merged in file order. */
int eql_project_run(eql_project *p, const eql_ruleset *rules, eql_diag_list *out) {
  if (refresh_index(p) < 0) return -1;
  run_job j = {p, rules, calloc(p->n ? p->n : 1, sizeof(eql_diag_list)), 0, 0};
  if (!j.per_file) return -1;
  int jobs = p->jobs > 0 ? p->jobs : (p->jobs == 0 ? 1 : ncores());
  if ((size_t)jobs > p->n) jobs = (int)(p->n ? p->n : 1);
  pthread_t th[64];
  int started = 0;
  for (int t = 1; t < jobs && t < 64; t++)
    if (pthread_create(&th[started], NULL, run_worker, &j) == 0) started++;
  run_worker(&j);
  for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
  eql_diag_list local;
  eql_diag_list_init(&local);
  int rc = atomic_load(&j.failed) ? -1 : 0;
  for (size_t i = 0; i < p->n; i++) {
    if (rc == 0 && eql_diag_list_take(&local, &j.per_file[i]) < 0) rc = -1;
    eql_diag_list_free(&j.per_file[i]);
  }
  free(j.per_file);
  eql_diag_list_sort(&local);
  if (rc == 0) rc = eql_diag_list_take(out, &local);
  eql_diag_list_free(&local);
  return rc;
}

/* ------------------------------------------------------------------ parallel pass 1 */

typedef struct loaded {
  eql_source *src;
  eql_facts *facts;
  char *module_name;
  int is_init;
  eql_cellmap cells;
  bool skipped;
  bool budget;          /* over the per-file budget: reported, not checked */
  const char *err;      /* static string, or errbuf */
  char errbuf[256];     /* a worker's message must outlive the worker */
} loaded;

typedef struct load_job {
  const char *const *paths;
  size_t n;
  loaded *out;
  bool prefilter;
  const eql_project *p;
  atomic_size_t next;
} load_job;

static void load_one(const eql_project *p, const char *path, bool prefilter, loaded *l) {
  char *msg = l->errbuf;
  size_t msglen = sizeof l->errbuf;
  eql_source *src = eql_source_read(path, &l->err);
  if (!src) return;
  if (over_budget(p, src, msg, msglen)) {
    l->budget = true;
    l->err = msg;
    eql_source_free(src);
    return;
  }
  if (ends_with(path, ".ipynb")) {
    char *text = NULL;
    size_t len = 0;
    msg[0] = 0;
    if (eql_notebook_to_python(src->text, src->len, &text, &len, &l->cells, msg, msglen) < 0) {
      eql_source_free(src);
      l->err = msg;
      return;
    }
    eql_source *nb = eql_source_new(path, text, len);
    free(text);
    eql_source_free(src);
    if (!nb) {
      eql_cellmap_free(&l->cells);
      l->err = "out of memory";
      return;
    }
    src = nb;
  } else if (prefilter && !mentions_jax(src)) {
    l->skipped = true;
  }
  l->module_name = eql_module_name_for_path(path, &l->is_init);
  if (!l->module_name) {
    eql_source_free(src);
    l->err = "out of memory";
    return;
  }
  l->src = src;
  if (!l->skipped) {
    const char *cerr = NULL; /* .c/.h: the C front end; its failures are reported, skipped */
    l->facts = eql_cfront_is_c_path(path) ? eql_c_facts(src, &cerr)
                                          : eql_python_facts(src, l->module_name, l->is_init);
    if (!l->facts && cerr) {
      l->err = cerr;
    } else if (!l->facts && budget_failure()) {
      l->budget = true;
      l->err = timeout_reason(p, msg, msglen);
      eql_source_free(src);
      l->src = NULL;
      free(l->module_name);
      l->module_name = NULL;
      eql_cellmap_free(&l->cells);
    } else if (!l->facts) {
      l->err = "out of memory";
    }
  }
}

static void *load_worker(void *arg) {
  load_job *j = arg;
  for (;;) {
    size_t i = atomic_fetch_add(&j->next, 1);
    if (i >= j->n) break;
    load_one(j->p, j->paths[i], j->prefilter, &j->out[i]);
  }
  return NULL;
}

long eql_project_add_files(eql_project *p, const char *const *paths, size_t n, int jobs,
                           eql_error_cb on_error, void *ud) {
  loaded *out = calloc(n ? n : 1, sizeof *out);
  if (!out) return -1;
  load_job j = {paths, n, out, !p->no_prefilter, p, 0};
  eql_python_set_timeout((uint64_t)p->timeout_ms * 1000);
  if (jobs <= 0) jobs = ncores();
  if ((size_t)jobs > n) jobs = (int)(n ? n : 1);
  pthread_t th[64];
  int started = 0;
  for (int t = 1; t < jobs && t < 64; t++)
    if (pthread_create(&th[started], NULL, load_worker, &j) == 0) started++;
  load_worker(&j);
  for (int t = 0; t < started; t++) pthread_join(th[t], NULL);
  long added = 0;
  int oom = 0;
  for (size_t i = 0; i < n; i++) {
    loaded *l = &out[i];
    if (l->budget) {
      if (p->on_skip) p->on_skip(paths[i], l->err, p->skip_ud);
      continue;
    }
    int ok = l->src && (l->facts || l->skipped);
    if (ok && !oom && grow(p) < 0) oom = 1;
    if (!ok || oom) {
      if (!ok && on_error) on_error(paths[i], l->err ? l->err : "out of memory", ud);
      eql_facts_free(l->facts);
      eql_source_free(l->src);
      free(l->module_name);
      eql_cellmap_free(&l->cells);
      continue;
    }
    pfile *pf = &p->files[p->n++];
    memset(pf, 0, sizeof *pf);
    pf->src = l->src;
    pf->facts = l->facts;
    pf->module_name = l->module_name;
    pf->is_init = l->is_init;
    pf->cells = l->cells;
    pf->skipped = l->skipped;
    added++;
  }
  free(out);
  p->index_dirty = true;
  return oom ? -1 : added;
}
