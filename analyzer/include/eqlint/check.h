/* The driver: a project is a set of files checked together. Pass 1 (eql_project_add_*)
 * parses each file into facts and records its Module classes in the project index; pass 2
 * (eql_project_run) runs the selected rules on every file with that index and returns the
 * diagnostics sorted by path, line and column. */
#ifndef EQLINT_CHECK_H
#define EQLINT_CHECK_H
#include <stddef.h>
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
/* Number of files added. */
size_t eql_project_nfiles(const eql_project *p);

/* Pass 2: runs the selected rules on every file. Appends to `out` (sorted). Returns 0 or -1
 * when out of memory. */
int eql_project_run(eql_project *p, const eql_ruleset *rules, eql_diag_list *out);

/* The source of a file added to the project (for code frames), or NULL. */
const eql_source *eql_project_source(const eql_project *p, const char *path);

/* Derives the dotted module name of a Python file from its path: "pkg/sub/mod.py" ->
 * "pkg.sub.mod" when pkg/ and pkg/sub/ hold __init__.py files, else "mod". Malloc'd. */
char *eql_module_name_for_path(const char *path, int *is_package_init);

#endif
