/* Discovery: from the paths a user gives to the list of files to check.
 *
 * A path naming a file is checked whatever its extension. A directory is walked
 * recursively for `*.py` files, in sorted (byte-wise) order so every run sees the same
 * files in the same order. Below a given directory the walk skips hidden directories
 * (`.git`, `.venv`, ...), `__pycache__`, `node_modules`, `site-packages` and any directory
 * holding a `pyvenv.cfg` (a virtual environment, whatever its name). Symbolic links are
 * followed, but a directory already open on the current path (same device and inode) is
 * never entered again, so link loops end. A file reached twice (given twice, or through a
 * link) is listed once, under the first name it was reached by.
 *
 * Git: unless turned off, entries that git ignores are skipped: `.gitignore` files at every
 * level, `.git/info/exclude` and the user's global excludes file, all as libgit2 reads them
 * for the repository holding each directory (a nested repository or submodule uses its
 * own rules). Outside any repository there is no ignore handling at all. A path given
 * explicitly is checked even when git ignores it (as in Ruff), and so is everything below
 * an explicitly given directory that git ignores as a whole; `force_exclude` applies the
 * rules to given paths too. `.git` itself is never entered.
 *
 * Problems (a path that does not exist, a directory that cannot be opened) go to a
 * callback and the walk goes on: this module never prints and never exits, so the command
 * line and the LSP server can both use it. */
#ifndef EQLINT_WALK_H
#define EQLINT_WALK_H
#include <stdbool.h>
#include <stddef.h>

/* The files found, in discovery order. Owns its strings. */
typedef struct eql_walk_files {
  char **paths;
  size_t n, cap;
} eql_walk_files;

void eql_walk_files_init(eql_walk_files *f);
void eql_walk_files_free(eql_walk_files *f);

/* Called once per path that cannot be examined: `path` as it would be displayed, `reason`
 * a short lower-level message (strerror text). Both are valid only during the call. */
typedef void (*eql_walk_error_fn)(void *ud, const char *path, const char *reason);

/* Walks `roots` (npaths entries; none means ".") and appends every file to check to `out`.
 * Paths below a root are the root joined with the relative path ("src" -> "src/a.py");
 * the root "." contributes bare relative paths ("a.py"), as users type them.
 * Returns the number of problems reported through on_error (which may be NULL), or -1 when
 * out of memory (out then holds what was found so far and must still be freed). */
long eql_walk(const char *const *roots, size_t nroots, eql_walk_files *out,
              eql_walk_error_fn on_error, void *ud);

/* Exclusion hook: true to skip `path` (displayed form, as it would be listed). `is_dir`
 * tells directories (asked before they are entered) from files; `explicit_path` is true
 * for a path given by the caller (only asked with force_exclude), which should then also
 * be tested through its parent directories. */
typedef bool (*eql_walk_exclude_fn)(void *ud, const char *path, bool is_dir,
                                    bool explicit_path);

typedef struct eql_walk_options {
  bool gitignore;            /* skip what git ignores (see above) */
  bool force_exclude;        /* apply `exclude` and git's rules to the given paths too */
  /* When set, decides which names are skipped instead of the built-in list of
   * eql_walk_skip_dir; `.git` and virtual environments (a pyvenv.cfg inside) are skipped
   * either way. */
  eql_walk_exclude_fn exclude;
  void *exclude_ud;
} eql_walk_options;

/* eql_walk with options; eql_walk(...) is eql_walk_ex with {.gitignore = true}. Returns as
 * eql_walk does. */
long eql_walk_ex(const char *const *roots, size_t nroots, const eql_walk_options *opt,
                 eql_walk_files *out, eql_walk_error_fn on_error, void *ud);

/* True when a directory entry `name` found inside directory `dir_path` must not be
 * descended into (hidden, cache or virtual-environment directory). Exposed so editors can
 * apply the same exclusions when they watch files. */
bool eql_walk_skip_dir(const char *dir_path, const char *name);

/* True when a file name found while walking a directory is a Python source file. */
bool eql_walk_is_python(const char *name);

#endif
