/* Configuration: which rules run on which file, which paths are skipped, which extra files
 * feed the project index. Modelled on Ruff's settings and its hierarchical discovery.
 *
 * Sources, in the order they are looked for in each directory:
 *   .eqlint.toml, eqlint.toml   the keys at the top level
 *   pyproject.toml              the keys in [tool.eqlint]; a pyproject.toml without that
 *                               table is not a configuration and does not count
 * The closest configuration above a file applies to it (a file's own directory first, then
 * each parent up to /). There is no merging between levels: like Ruff, a nearer file
 * replaces a farther one entirely. `--config PATH` uses one file for every path, with no
 * discovery; `--isolated` uses no file at all. docs/configuration.md lists the keys.
 *
 * Keys: select, extend-select, ignore, per-file-ignores, exclude, extend-exclude, src,
 * respect-gitignore, force-exclude, fix, unsafe-fixes, unfixable, extend-safe-fixes,
 * extend-unsafe-fixes, and [rules.CODE] tables of per-rule options.
 *
 * Everything here is library code: it never prints and never exits. Problems come back as
 * an eql_config_error naming the file, the 1-based line and column (in code points) of the
 * offending key or value, and a message that names it; the command line prints them as
 * `file:line:col: error: message` and exits with status 2.
 *
 * Ownership: eql_config_load/parse return a config the caller frees with eql_config_free;
 * configs found by a store belong to the store and live until eql_config_store_free. Strings
 * returned by accessors live as long as their config. */
#ifndef EQLINT_CONFIG_H
#define EQLINT_CONFIG_H
#include <stdbool.h>
#include <stddef.h>
#include "eqlint/diag.h"
#include "eqlint/rules.h"
#include "eqlint/walk.h"

typedef struct eql_config eql_config;
typedef struct eql_config_store eql_config_store;

typedef enum {
  EQL_CONFIG_OK = 0,
  EQL_CONFIG_NONE = 1,       /* a pyproject.toml without [tool.eqlint]: not a configuration */
  EQL_CONFIG_INVALID = -1,   /* syntax error, unknown key, wrong type, bad code: see error */
  EQL_CONFIG_IO = -2,        /* the file cannot be read: see error (line and col are 0) */
  EQL_CONFIG_NOMEM = -3,
} eql_config_status;

/* A configuration problem. `line` and `col` are 1-based (columns in code points), or 0 when
 * the problem has no place in a file (unreadable file, bad command-line selector: then
 * `path` is empty too). */
typedef struct eql_config_error {
  char path[4096];
  unsigned line, col;
  char message[1024];
} eql_config_error;

/* Parses the text of a configuration file. Whether keys are read at the top level or from
 * [tool.eqlint] is decided by the file name: a file named pyproject.toml uses the table.
 * `path` is kept (for messages) and its directory is the root that the file's relative
 * patterns and `src` entries are resolved against; a relative path is taken relative to the
 * working directory. On EQL_CONFIG_OK *out is a new config (caller frees); otherwise *out is
 * NULL and, for EQL_CONFIG_INVALID and EQL_CONFIG_NOMEM, err is filled. */
eql_config_status eql_config_parse(const char *path, const char *text, size_t len,
                                   eql_config **out, eql_config_error *err);
/* Reads and parses a configuration file (same results; EQL_CONFIG_IO when unreadable). */
eql_config_status eql_config_load(const char *path, eql_config **out, eql_config_error *err);
void eql_config_free(eql_config *cfg);

/* The path the config was loaded from, as given, and the absolute directory holding it. */
const char *eql_config_path(const eql_config *cfg);
const char *eql_config_root(const eql_config *cfg);

/* A per-rule option from [rules.CODE] (`[tool.eqlint.rules.EQX013]` in pyproject.toml):
 * its value when the config sets it, else `dflt`. `cfg` may be NULL (no configuration).
 * `code` is a rule code ("EQX013"); `option` the key ("exclude-tests"). Known options are
 * validated when the file is read, so a typo never silently falls back to the default. */
bool eql_config_rule_option_bool(const eql_config *cfg, const char *code, const char *option,
                                 bool dflt);

/* `fix = true|false` and `unsafe-fixes = true|false`: -1 when the config does not set the
 * key (or cfg is NULL), else 0 or 1. Like Ruff, these govern the run as a whole, so the
 * command line reads them from the configuration of the working directory,
 * eql_config_store_find(store, ".", ...) (NULL under --isolated, the file under --config),
 * and its own --fix/--no-fix and --unsafe-fixes/--no-unsafe-fixes win over them. The three
 * values of unsafe-fixes mean what they mean in Ruff: 1 applies unsafe fixes (with a fix
 * mode on) and counts them as fixable; 0 does not, and hides the hint that unsafe fixes
 * are available; -1 (unset) does not either, but shows that hint. */
int eql_config_fix(const eql_config *cfg);
int eql_config_unsafe_fixes(const eql_config *cfg);

/* Rule selection given on the command line: lists of comma-separated selectors (codes,
 * prefixes such as EQX0, rule names, ALL), each list as one option value. */
typedef struct eql_config_cli {
  const char *const *select;        /* --select: replaces the config's selection */
  size_t nselect;
  const char *const *extend_select; /* --extend-select: adds to it */
  size_t nextend_select;
  const char *const *ignore;        /* --ignore */
  size_t nignore;
} eql_config_cli;

/* Checks every selector of `cli`. 0, or -1 with err filled (path empty, line 0) naming the
 * option and the unknown selector. */
int eql_config_cli_check(const eql_config_cli *cli, eql_config_error *err);

/* The rules that run on the file `path` (absolute, or relative to the working directory):
 * every rule, then the config's selection (select replaces, extend-select adds, ignore
 * removes; when one selector and an ignore both match a rule, the more specific wins and
 * ignore wins a tie, as in Ruff), then the command line's in the same way, then the
 * config's per-file-ignores that match the path relative to the config's directory, then
 * per-rule options that exempt files (EQX013 exclude-tests on test files). `cfg` and `cli`
 * may be NULL. `cli` must have passed eql_config_cli_check. */
void eql_config_ruleset(const eql_config *cfg, const eql_config_cli *cli, const char *path,
                        eql_ruleset *out);

/* True when `path` is excluded by the exclude/extend-exclude patterns of `cfg` (by the
 * default exclusions when cfg is NULL): the path, relative to the config's directory, or
 * its base name matches a pattern. With `ancestors`, a path is also excluded when one of
 * its directories (below the config's directory) is; discovery checks each directory
 * before it enters it, so only explicitly given paths need that. */
bool eql_config_excludes(const eql_config *cfg, const char *path, bool is_dir, bool ancestors);

/* The keys a configuration may hold at its top level (NULL-terminated; static), and for a
 * rule code the options its [rules.CODE] table may hold (NULL-terminated; static, empty for
 * rules without options). For completion in editors and for the documentation test. */
const char *const *eql_config_known_keys(void);
const char *const *eql_config_rule_options(const char *code);

/* True when `path` looks like a test file: test_*.py, *_test.py or conftest.py, or a file
 * below a directory named tests or test. (What EQX013's exclude-tests exempts.) */
bool eql_config_is_test_path(const char *path);

/* Glob matching as in exclude and per-file-ignores. `*` matches any run of characters but
 * `/`, `?` one character but `/`, `[a-z]`/`[!a-z]` a class, `\` quotes the next character,
 * and `**` as a whole path segment matches any number of directories: `**\/__init__.py`
 * (written without the backslash) matches every __init__.py, `tests/` followed by `**`
 * everything below tests. A pattern without `/` matches the base name of the path at any
 * depth (`__init__.py`, `*_pb2.py`); a pattern with one is anchored at the start of `path`
 * (a leading `./` or `/` is dropped). A trailing `/` restricts the pattern to directories. */
bool eql_config_glob_match(const char *pattern, const char *path, bool is_dir);
/* 0 when `pattern` is a well-formed glob, else -1 (an unclosed `[` or a trailing `\`). */
int eql_config_glob_check(const char *pattern);

/* ---- The store: discovery with a cache per directory. ---- */

typedef struct eql_config_options {
  const char *config_path; /* --config: this file applies to every path; no discovery */
  bool isolated;           /* --isolated: no configuration file at all (wins over config_path) */
  bool force_exclude;      /* --force-exclude: exclusions apply to paths given explicitly */
  eql_config_cli cli;      /* command-line rule selection (copied: the arrays must outlive
                            * the store) */
} eql_config_options;

/* A store is not safe for concurrent use: one thread at a time (it fills its cache as it
 * answers). Makes a store. Relative paths given to it later are taken relative to the working
 * directory of this moment. With config_path, loads that file now: a missing file or a pyproject.toml
 * without [tool.eqlint] is an error then. Checks the command-line selectors. On
 * EQL_CONFIG_OK *out is the new store (free with eql_config_store_free). */
eql_config_status eql_config_store_new(const eql_config_options *opt, eql_config_store **out,
                                       eql_config_error *err);
void eql_config_store_free(eql_config_store *s);

/* The configuration that applies to `path`, searching upwards from the directory holding it
 * or, when `path` is an existing directory, from that directory itself (so "." finds the
 * working directory's own eqlint.toml); NULL with 0 when none applies. -1 when a
 * configuration file on the way is invalid: err is filled, and the store keeps failing with
 * the same error (the first error stops the run). Results are cached per directory. */
int eql_config_store_find(eql_config_store *s, const char *path, const eql_config **out,
                          eql_config_error *err);

/* The rules for the file `path` under its configuration and the command line. 0 or -1. */
int eql_config_store_ruleset(eql_config_store *s, const char *path, eql_ruleset *out,
                             eql_config_error *err);

/* The selection for files directly inside the directory `dir` (config and command line),
 * before per-file-ignores: what --show-settings reports. 0 or -1. */
int eql_config_store_dir_ruleset(eql_config_store *s, const char *dir, eql_ruleset *out,
                                 eql_config_error *err);

/* A run with per-file rules, for drivers that run one selection over the whole project:
 * run the union of the files' rulesets (eql_config_store_union), then keep only what each
 * file selects (eql_config_store_filter). `paths` are the files asked for: diagnostics in
 * any other file (files parsed only for the index, through `src`) are dropped. The filter
 * also applies each kept diagnostic's file's fix settings to its fix, as Ruff does after a
 * check: `unfixable` rules lose their fix, then `extend-unsafe-fixes` marks a rule's fixes
 * unsafe and `extend-safe-fixes` marks them safe (the more specific selector wins; unsafe
 * wins a tie). Both return 0, or -1 with err filled (out of memory, or a configuration
 * error). */
int eql_config_store_union(eql_config_store *s, const char *const *paths, size_t npaths,
                           eql_ruleset *out, eql_config_error *err);
int eql_config_store_filter(eql_config_store *s, const char *const *paths, size_t npaths,
                            eql_diag_list *diags, eql_config_error *err);

/* Discovery with configuration: walks `paths` (none: ".") into `check`, skipping what the
 * configurations exclude and, unless `respect-gitignore = false`, what git ignores; paths
 * given explicitly are kept unless force-exclude is on (option or config key). Then walks
 * the `src` directories of the configurations of the files found into `index_only`: files
 * to parse for the project index but not to report on (never one already in `check`).
 * Returns the number of unreadable paths reported through on_error; -1 when out of memory;
 * -2 on a configuration error (err filled). The lists must be freed in every case. */
long eql_config_store_walk(eql_config_store *s, const char *const *paths, size_t npaths,
                           eql_walk_files *check, eql_walk_files *index_only,
                           eql_walk_error_fn on_error, void *ud, eql_config_error *err);

/* Only the second half of eql_config_store_walk: the `src` files of the configurations of
 * `paths` (files to check, existing or not: a buffer piped with --stdin-filename), appended
 * to `index_only` except `paths` themselves. 0; -1 out of memory; -2 configuration error. */
long eql_config_store_src(eql_config_store *s, const char *const *paths, size_t npaths,
                          eql_walk_files *index_only, eql_config_error *err);

#endif
