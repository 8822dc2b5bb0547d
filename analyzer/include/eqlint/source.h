/* A source file in memory: its bytes, a line index, and conversions between byte offsets
 * and the (line, column) pairs users see. Lines and columns are 1-based; columns count
 * Unicode code points (like Ruff), and UTF-16 code units are available for LSP clients. */
#ifndef EQLINT_SOURCE_H
#define EQLINT_SOURCE_H
#include <stddef.h>
#include <stdint.h>

typedef struct eql_source {
  char *path;          /* as given or relative to the working directory (owned) */
  char *text;          /* the bytes, NUL-terminated copy (owned) */
  uint32_t len;        /* byte length, without the added NUL */
  uint32_t *line_start;/* byte offset of each line's first byte (owned) */
  uint32_t nlines;
} eql_source;

/* Copies `len` bytes of `data`. Returns NULL when out of memory or when the file is larger
 * than 4 GiB - 1. The caller owns the result (eql_source_free). */
eql_source *eql_source_new(const char *path, const char *data, size_t len);
/* Reads a file. Returns NULL and sets *err (static string) when it cannot be read. */
eql_source *eql_source_read(const char *path, const char **err);
void eql_source_free(eql_source *s);

/* 1-based line of a byte offset. */
uint32_t eql_source_line_of(const eql_source *s, uint32_t byte);
/* 1-based column of a byte offset in code points (invalid UTF-8 bytes count one each). */
uint32_t eql_source_col_of(const eql_source *s, uint32_t byte);
/* 0-based column in UTF-16 code units. */
uint32_t eql_source_utf16_col_of(const eql_source *s, uint32_t byte);
/* Pointer to the start of a 1-based line and its length without the newline. */
const char *eql_source_line(const eql_source *s, uint32_t line, uint32_t *len);

#endif
