/* Emitters: diagnostics rendered for people (full) or for other programs (concise).
 *
 *   full     path:line:col: CODE [severity] message, a code frame with the span underlined,
 *            `= help:` and `= note:` lines, and a closing summary (default format)
 *   concise  path:line:col: CODE message, one line per diagnostic and nothing else
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

typedef enum { EQL_EMIT_FULL = 0, EQL_EMIT_CONCISE } eql_emit_format;

/* The format named `name` ("full", "concise"), or -1. */
int eql_emit_format_from_name(const char *name);

typedef struct eql_emit_options {
  bool color;        /* ANSI colours and bold */
  bool summary;      /* full: the closing "Found N diagnostics" / "All checks passed!" line */
} eql_emit_options;

/* The source of a displayed path, or NULL (then no code frame is shown). */
typedef const eql_source *(*eql_emit_source_fn)(const void *ud, const char *path);
/* Adapter for an eql_project (check.h) passed as ud. */
const eql_source *eql_emit_project_source(const void *project, const char *path);

/* Both return 0, or -1 when writing to `out` failed (closed pipe, full disk). */
int eql_emit_full(FILE *out, const eql_diag_list *diags, eql_emit_source_fn source,
                  const void *ud, const eql_emit_options *opts);
int eql_emit_concise(FILE *out, const eql_diag_list *diags, const eql_emit_options *opts);

/* Dispatches on fmt. */
int eql_emit(FILE *out, eql_emit_format fmt, const eql_diag_list *diags,
             eql_emit_source_fn source, const void *ud, const eql_emit_options *opts);

/* Writes s with every control character (C0, DEL, C1, bidirectional and zero-width format
 * characters, line separators) escaped as \n, \t, \xNN or \u{NNNN}, and every byte
 * that is not part of valid UTF-8 as \xNN; everything else unchanged. Used by the emitters
 * for paths and messages (defined in emit/full.c). */
void eql_emit_escaped(FILE *out, const char *s);

#endif
