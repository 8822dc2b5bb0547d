/* Internals of the language server shared by its files and its unit tests: message framing
 * (jsonrpc.c), positions, edits and URIs (text.c), the fix-all edit (server.c). Not a
 * public interface. */
#ifndef EQLINT_LSP_INTERNAL_H
#define EQLINT_LSP_INTERNAL_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- framing (jsonrpc.c) ---- */

typedef struct eql_lsp_reader {
  int fd;
  char *buf;          /* bytes read but not consumed: buf[pos..len) */
  size_t pos, len, cap;
  bool eof;           /* read() returned 0 (or failed): nothing more will come */
  bool in_garbage;    /* inside a run of bytes that are not a header: report it once */
  bool has_stash;     /* a message read behind a garbage report, returned next */
  char *stash_body;
  size_t stash_len;
  size_t max_message;
} eql_lsp_reader;

typedef enum {
  EQL_LSP_READ_MESSAGE = 0, /* *body (malloc'd, NUL-terminated) and *len are set */
  EQL_LSP_READ_EOF,         /* end of input (a message cut short by EOF is dropped) */
  EQL_LSP_READ_BAD_HEADER,  /* bytes that are not a valid header block were skipped */
  EQL_LSP_READ_TOO_LARGE,   /* a body over max_message was skipped unread */
} eql_lsp_read_status;

void eql_lsp_reader_init(eql_lsp_reader *r, int fd, size_t max_message);
void eql_lsp_reader_free(eql_lsp_reader *r);
/* Reads the next framed message, blocking. On BAD_HEADER and TOO_LARGE, `why` (size
 * whylen) says what was wrong; the reader has resynchronised and can be called again. */
eql_lsp_read_status eql_lsp_read(eql_lsp_reader *r, char **body, size_t *len, char *why,
                                 size_t whylen);
/* True when eql_lsp_read would return without waiting for more input (it reads what is
 * already available to find out, never blocking). */
bool eql_lsp_reader_ready(eql_lsp_reader *r);
/* Writes one framed message. 0, or -1 when the descriptor failed (the client is gone). */
int eql_lsp_write(int fd, const char *body, size_t len);

/* ---- positions and edits (text.c) ---- */

/* Position encodings: what an LSP `character` counts. */
typedef enum { EQL_LSP_UTF16 = 16, EQL_LSP_UTF8 = 8 } eql_lsp_encoding;

/* The byte offset of an LSP position in text[0..len). Lines end at \n, \r\n or \r, as in
 * the protocol. A line past the end clamps to the end of the text; a character past the
 * end of its line clamps to the end of the line (the protocol's rule), and one that falls
 * inside a character (half a surrogate pair, the middle of a UTF-8 sequence) moves to its
 * start. *clamped (may be NULL) is set when the position had to move. */
uint32_t eql_lsp_offset_of(const char *text, size_t len, uint32_t line, uint32_t character,
                           eql_lsp_encoding enc, bool *clamped);
/* The LSP position of a byte offset: fills *line and *character. */
void eql_lsp_position_of(const char *text, size_t len, uint32_t byte, eql_lsp_encoding enc,
                         uint32_t *line, uint32_t *character);
/* tree-sitter's point of a byte offset: rows end at \n only, columns count bytes. */
void eql_lsp_ts_point_of(const char *text, size_t len, uint32_t byte, uint32_t *row,
                         uint32_t *col);
/* Where a point moves after `ins` (n bytes) is inserted at (row, col). */
void eql_lsp_ts_point_after(uint32_t row, uint32_t col, const char *ins, size_t n,
                            uint32_t *end_row, uint32_t *end_col);

/* A growable text buffer (an open document). */
typedef struct eql_lsp_text {
  char *data;
  size_t len, cap;
} eql_lsp_text;
/* Replaces bytes [start, end) with ins[0..n). 0, or -1 when out of memory or when the
 * result would exceed 4 GiB - 1 (eql_source's limit); the text is unchanged then. */
int eql_lsp_text_replace(eql_lsp_text *t, size_t start, size_t end, const char *ins, size_t n);
void eql_lsp_text_free(eql_lsp_text *t);

/* The edit that suppresses `code` on one line (line_text, without its line break): where
 * to insert (*at, a byte offset into the line; nothing is removed) and what (*ins,
 * malloc'd). Adds the code to an existing `# noqa: A, B` list of that line, or appends
 * ` # noqa: CODE` at its end. Returns 0; 1 when the line already suppresses the code (a
 * bare `# noqa`, or the code or a prefix of it listed); -1 when out of memory. */
int eql_lsp_noqa_edit(const char *line_text, size_t line_len, const char *code, size_t *at,
                      char **ins);

/* The smallest single edit turning a[0..alen) into b[0..blen): bytes [*start, *a_end) of
 * a become bytes [*start, *b_end) of b. The ends never fall inside a UTF-8 character or
 * between the \r and \n of a line break, where no LSP position can point. (server.c) */
void eql_lsp_min_edit(const char *a, size_t alen, const char *b, size_t blen, size_t *start,
                      size_t *a_end, size_t *b_end);

/* ---- URIs (text.c) ---- */

/* The local path of a file:// URI ("file:///a%20b/c.py" -> "/a b/c.py"); any other scheme
 * (untitled:, vscode-notebook-cell:) gives a copy of the URI itself, so unsaved buffers are
 * still checked, in memory. NULL for a malformed URI (a %00 or a host other than
 * localhost) or when out of memory. Malloc'd. */
char *eql_lsp_uri_to_path(const char *uri);
/* The file:// URI of an absolute path, percent-encoding what RFC 3986 requires. Malloc'd. */
char *eql_lsp_path_to_uri(const char *path);

#endif
