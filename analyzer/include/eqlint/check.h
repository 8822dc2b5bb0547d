/* The driver: a project is a set of files checked together. Pass 1 (eql_project_add_*)
 * parses each file into facts and records its Module classes in the project index; pass 2
 * (eql_project_run) runs the selected rules on every file with that index and returns the
 * diagnostics sorted by path, line and column. */
#ifndef EQLINT_CHECK_H
#define EQLINT_CHECK_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "eqlint/diag.h"
#include "eqlint/facts.h"
#include "eqlint/rules.h"

typedef struct eql_project eql_project;
struct eql_index;

/* Caller owns the project (eql_project_free). NULL when out of memory. */
eql_project *eql_project_new(void);
void eql_project_free(eql_project *p);

/* Adds a file from memory. `path` is the path shown to users; the module name used for
 * cross-file imports is derived from it (walking up through __init__.py packages).
 * Returns 0, or -1 when out of memory. */
int eql_project_add_source(eql_project *p, const char *path, const char *data, size_t len);
/* Reads and adds a file. Returns 0; -1 with *err set (static string, e.g. strerror) when the
 * file cannot be read. */
int eql_project_add_file(eql_project *p, const char *path, const char **err);
/* Adds many files from disk, reading and parsing them on `jobs` threads (0: one per core).
 * Order is kept. A file that cannot be read is reported through on_error(path, reason, ud)
 * and skipped. Files that mention none of jax, equinox, optax or eqx are not parsed unless
 * another file imports them (see eql_project_prefilter). Returns how many were added, or -1
 * when out of memory. */
typedef void (*eql_error_cb)(const char *path, const char *reason, void *ud);
long eql_project_add_files(eql_project *p, const char *const *paths, size_t n, int jobs,
                           eql_error_cb on_error, void *ud);
/* Whether eql_project_add_file(s) may skip files that cannot matter (default: true).
 * A skipped file is parsed later only if a checked file imports it, so the index still sees
 * every Module class that is used. */
void eql_project_prefilter(eql_project *p, bool on);
/* A per-file budget, so one pathological file cannot stall a run: files larger than
 * max_bytes are not parsed, nor is a parse allowed more than timeout_ms (0: no limit for
 * either). Defaults: 16 MiB and 20 s. Skipped files are reported through on_skip(path,
 * reason, ud) (may be NULL) and produce no diagnostics. */
void eql_project_set_budget(eql_project *p, size_t max_bytes, unsigned timeout_ms,
                            eql_error_cb on_skip, void *ud);

/* Threads for eql_project_run (0: one per core; default 1). Output order never changes. */
void eql_project_set_jobs(eql_project *p, int jobs);
/* Files added but skipped by the prefilter (never parsed). */
size_t eql_project_nskipped(const eql_project *p);

/* Number of files added. */
size_t eql_project_nfiles(const eql_project *p);

/* For editors (the LSP server): replaces the text of a file already in the project, or adds
 * it. When trees are kept (eql_project_keep_trees) and eql_project_edit was called for the
 * changes, the re-parse is incremental. The index is rebuilt on the next run. 0 or -1. */
int eql_project_set_source(eql_project *p, const char *path, const char *data, size_t len);
/* Removes a file from the project; 0, or -1 when it was not there. */
int eql_project_remove(eql_project *p, const char *path);
/* Keeps each file's syntax tree after parsing so later re-parses can be incremental. */
void eql_project_keep_trees(eql_project *p, bool keep);
/* Tells the kept tree of `path` about an edit, in bytes and (row, column-in-bytes) points,
 * before eql_project_set_source is called with the new text. No-op without a kept tree. */
void eql_project_edit(eql_project *p, const char *path, uint32_t start_byte,
                      uint32_t old_end_byte, uint32_t new_end_byte, uint32_t start_row,
                      uint32_t start_col, uint32_t old_end_row, uint32_t old_end_col,
                      uint32_t new_end_row, uint32_t new_end_col);
/* Runs the rules on one file of the project (the index still covers every file). */
int eql_project_run_file(eql_project *p, const char *path, const eql_ruleset *rules,
                         eql_diag_list *out);

/* Pass 2: runs the selected rules on every file. Appends to `out` (sorted). Returns 0 or -1
 * when out of memory. */
int eql_project_run(eql_project *p, const eql_ruleset *rules, eql_diag_list *out);

/* The source of a file added to the project (for code frames), or NULL. */
const eql_source *eql_project_source(const eql_project *p, const char *path);

/* Derives the dotted module name of a Python file from its path: "pkg/sub/mod.py" ->
 * "pkg.sub.mod" when pkg/ and pkg/sub/ hold __init__.py files, else "mod". Malloc'd. */
char *eql_module_name_for_path(const char *path, int *is_package_init);

#endif
