/* Emitters: diagnostics rendered for people (full) or for other programs (the rest).
 *
 *   full        path:line:col: CODE [severity] message, a code frame with the span
 *               underlined, `= help:` and `= note:` lines, and a closing summary (default)
 *   concise     path:line:col: CODE message, one line per diagnostic and nothing else
 *   json        a JSON array of diagnostic objects (Ruff's `--output-format json` shape)
 *   json-lines  the same objects, one per line
 *   sarif       SARIF 2.1.0 (GitHub code scanning), with the whole rule table
 *   github      GitHub Actions workflow commands (`::error file=...::message`)
 *   gitlab      GitLab Code Quality report (JSON)
 *   junit       JUnit XML: a test suite per file, a failed test case per diagnostic
 *   pylint      path:line: [CODE] message (pylint's parseable format)
 *
 * Positions are 1-based lines and 1-based columns counted in Unicode code points (as in
 * Ruff); end positions are exclusive. In notebooks rows count within the code cell: json
 * carries `cell`, sarif a `cell` property, the text formats say `cell N`. Machine formats always write valid UTF-8: invalid
 * bytes in messages become U+FFFD (JSON) or escapes (text formats).
 *
 * Emitters never read files: they get sources through a callback, so the CLI passes its
 * project (eql_emit_project_source) and tests or the LSP server pass whatever they hold.
 * Text taken from users' files (paths, messages quoting code, source lines) is written
 * with control characters escaped, so a hostile file cannot drive the terminal. */
#ifndef EQLINT_EMIT_H
#define EQLINT_EMIT_H
#include <stdbool.h>
#include <stdio.h>
#include "eqlint/diag.h"
#include "eqlint/source.h"

typedef enum {
  EQL_EMIT_FULL = 0,
  EQL_EMIT_CONCISE,
  EQL_EMIT_JSON,
  EQL_EMIT_JSON_LINES,
  EQL_EMIT_SARIF,
  EQL_EMIT_GITHUB,
  EQL_EMIT_GITLAB,
  EQL_EMIT_JUNIT,
  EQL_EMIT_PYLINT,
  EQL_EMIT_FORMAT_COUNT
} eql_emit_format;

/* The format named `name` ("full", "json-lines", ...), or -1. */
int eql_emit_format_from_name(const char *name);
/* The name of a format ("sarif"); NULL for a value outside the enum. */
const char *eql_emit_format_name(eql_emit_format fmt);
/* Every format name, comma-separated, for help texts and error messages. */
extern const char eql_emit_format_list[];

/* Where each rule's documentation lives: the base joined with the code gives the page
 * (https://eqlint.dev/rules/EQX001). The one place this address is spelled. */
#define EQL_EMIT_DOCS_URL "https://eqlint.dev"
#define EQL_EMIT_RULE_URL_BASE EQL_EMIT_DOCS_URL "/rules/"

typedef struct eql_emit_options {
  bool color;        /* ANSI colours and bold */
  bool summary;      /* full: the closing "Found N diagnostics" / "All checks passed!" line */
  /* The directory CI reports are relative to (the working directory, normally the root of
   * the checkout), or NULL. sarif, gitlab, github and junit report an absolute path below it
   * relative to it, because those systems match paths against the repository. */
  const char *root;
  /* Fixes: whether unsafe ones count as applicable (`[*]` markers and the summary's count),
   * whether this run applied fixes (--fix), and how many diagnostics it repaired. */
  bool unsafe_fixes;
  bool hide_unsafe_hint; /* `unsafe-fixes = false`: no "hidden fixes" hint either */
  bool fix_mode;
  size_t fixed;
} eql_emit_options;

/* The source of a displayed path, or NULL (then no code frame is shown). */
typedef const eql_source *(*eql_emit_source_fn)(const void *ud, const char *path);
/* Adapter for an eql_project (check.h) passed as ud. */
const eql_source *eql_emit_project_source(const void *project, const char *path);

/* Both return 0, or -1 when writing to `out` failed (closed pipe, full disk). */
int eql_emit_full(FILE *out, const eql_diag_list *diags, eql_emit_source_fn source,
                  const void *ud, const eql_emit_options *opts);
int eql_emit_concise(FILE *out, const eql_diag_list *diags, const eql_emit_options *opts);

/* The machine formats. Each returns 0, or -1 when writing failed or memory ran out. Those
 * given a source callback read the flagged lines from it for stable fingerprints (sarif
 * partialFingerprints, gitlab fingerprint); with NULL the message stands in for the line. */
int eql_emit_json(FILE *out, const eql_diag_list *diags, const eql_emit_options *opts);
int eql_emit_json_lines(FILE *out, const eql_diag_list *diags, const eql_emit_options *opts);
int eql_emit_sarif(FILE *out, const eql_diag_list *diags, eql_emit_source_fn source,
                   const void *ud, const eql_emit_options *opts);
int eql_emit_github(FILE *out, const eql_diag_list *diags, const eql_emit_options *opts);
int eql_emit_gitlab(FILE *out, const eql_diag_list *diags, eql_emit_source_fn source,
                    const void *ud, const eql_emit_options *opts);
int eql_emit_junit(FILE *out, const eql_diag_list *diags, const eql_emit_options *opts);
int eql_emit_pylint(FILE *out, const eql_diag_list *diags, const eql_emit_options *opts);

/* `--statistics`: the number of diagnostics per rule, most frequent first (ties by code),
 * as Ruff prints them: `count<TAB>code<TAB>name`, columns padded to the widest entry. With
 * `json` true, a JSON array of {code, name, count, fixable} instead. Returns 0 or -1. */
int eql_emit_statistics(FILE *out, const eql_diag_list *diags, bool json,
                        const eql_emit_options *opts);

/* `eqlint rule --format json`: rule `rule` (an eql_rule_id) as one JSON object {code, name,
 * severity, fixable, summary, url, explanation}, or, with rule -1, every rule as an array.
 * Returns 0, or -1 for a rule outside the table or when writing failed. */
int eql_emit_rules_json(FILE *out, int rule);

/* Dispatches on fmt. */
int eql_emit(FILE *out, eql_emit_format fmt, const eql_diag_list *diags,
             eql_emit_source_fn source, const void *ud, const eql_emit_options *opts);

/* Writes s with every control character (C0, DEL, C1, bidirectional and zero-width format
 * characters, line separators) escaped as \n, \t, \xNN or \u{NNNN}, and every byte
 * that is not part of valid UTF-8 as \xNN; everything else unchanged. Used by the emitters
 * for paths and messages (defined in emit/full.c). */
void eql_emit_escaped(FILE *out, const char *s);

/* `--output-file`: a report written to a temporary file in the target's directory and
 * renamed over the target only when complete, so a CI step never uploads half a report and
 * an interrupted run leaves the previous report intact. */
typedef struct eql_emit_file {
  FILE *fp;   /* write the report here */
  char *path; /* the target (owned) */
  char *tmp;  /* the temporary file (owned) */
} eql_emit_file;

/* Creates the target's missing parent directories and the temporary file. Returns 0, or
 * -1 with *err set (static string). */
int eql_emit_file_open(eql_emit_file *f, const char *path, const char **err);
/* Flushes, syncs and renames the temporary file over the target; on failure removes it.
 * Returns 0, or -1 with *err set. Either way f is released. */
int eql_emit_file_commit(eql_emit_file *f, const char **err);
/* Removes the temporary file and releases f (the target is untouched). */
void eql_emit_file_abort(eql_emit_file *f);

#endif
