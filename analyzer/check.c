/* The driver: two passes over a project.
 *
 * Pass 1 reads and parses every file into facts and adds its classes to the index; pass 2
 * finalises the index and runs the selected rules file by file. Rules of a file see only
 * their own facts plus the read-only index, so pass 2 can later run files in parallel.
 * The driver itself reports EQX999 for files that do not parse (rules still run on what
 * parsed). */
#include "eqlint/check.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tree_sitter/api.h>
#include <unistd.h>

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
} pfile;

struct eql_project {
  pfile *files;
  size_t n, cap;
  eql_index *index;
  bool index_dirty;     /* files changed since the index was built */
  bool keep_trees;
};

eql_project *eql_project_new(void) {
  eql_project *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->index_dirty = true;
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
  eql_facts *facts = mod ? eql_python_facts_incremental(src, mod, is_init, NULL,
                                                        p->keep_trees ? &tree : NULL)
                         : NULL;
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

/* Rebuilds the index from the current facts when files changed. */
static int refresh_index(eql_project *p) {
  if (!p->index_dirty) return 0;
  eql_index *idx = eql_index_new();
  if (!idx) return -1;
  for (size_t i = 0; i < p->n; i++)
    if (eql_index_add(idx, p->files[i].facts) < 0) {
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

int eql_project_add_file(eql_project *p, const char *path, const char **err) {
  eql_source *src = eql_source_read(path, err);
  if (!src) return -1;
  if (ends_with(path, ".ipynb")) return add_notebook(p, src, err);
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
  if (eql_diag_list_take(out, &mine) < 0) rc = -1;
  eql_diag_list_free(&mine);
  return rc;
}

int eql_project_run_file(eql_project *p, const char *path, const eql_ruleset *rules,
                         eql_diag_list *out) {
  pfile *pf = find_file(p, path);
  if (!pf) return -1;
  if (refresh_index(p) < 0) return -1;
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

int eql_project_run(eql_project *p, const eql_ruleset *rules, eql_diag_list *out) {
  if (refresh_index(p) < 0) return -1;
  eql_diag_list local;
  eql_diag_list_init(&local);
  for (size_t i = 0; i < p->n; i++) {
    if (run_file(p, &p->files[i], rules, &local) < 0) {
      eql_diag_list_free(&local);
      return -1;
    }
  }
  eql_diag_list_sort(&local);
  int rc = eql_diag_list_take(out, &local);
  eql_diag_list_free(&local);
  return rc;
}
