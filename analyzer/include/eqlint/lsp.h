/* The language server: `eqlint server` speaks the Language Server Protocol (JSON-RPC 2.0
 * with Content-Length framing) over a pair of file descriptors, normally stdin/stdout.
 *
 * It keeps one eql_project holding every .py file of the workspace folders (read from disk
 * at initialize) plus the open buffers, which replace the on-disk file of the same path.
 * Buffers are edited incrementally (the kept tree-sitter tree is told about each edit and
 * re-parsed incrementally) and published with textDocument/publishDiagnostics; hovering a
 * diagnostic shows its rule's documentation and a code action inserts `# noqa: CODE`.
 *
 * Nothing is ever written to out_fd but protocol messages; logs go to the log stream. */
#ifndef EQLINT_LSP_H
#define EQLINT_LSP_H
#include <stddef.h>
#include <stdio.h>

/* The largest message body accepted; larger ones are skipped unread and answered with an
 * error, so a runaway client cannot make the server allocate without bound. */
#define EQL_LSP_MAX_MESSAGE ((size_t)64 << 20)

typedef struct eql_lsp_options {
  FILE *log;          /* protocol problems and a trace; NULL means stderr */
  int verbose;        /* 1: log every message method as it is handled */
  size_t max_message; /* 0 means EQL_LSP_MAX_MESSAGE; tests use a small cap */
} eql_lsp_options;

/* Serves one session: reads requests from in_fd until `exit` or end of input, writes
 * responses and notifications to out_fd. Neither descriptor is closed. `opts` may be NULL.
 * Returns the process exit status the protocol asks for: 0 when `shutdown` came before
 * `exit` (or before end of input), 1 otherwise or when out_fd could not be written. */
int eql_lsp_serve(int in_fd, int out_fd, const eql_lsp_options *opts);

/* `eqlint server [--stdio] [--verbose]`: the command-line entry point. Ignores SIGPIPE (a
 * client that went away must end the loop with an error, not kill the process) and serves
 * stdin/stdout. Returns the exit status (2 for a usage error). */
int eql_lsp_main(int argc, char **argv);

#endif
