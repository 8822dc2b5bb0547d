/* Source files: bytes plus a line index. Columns shown to users count code points; LSP
 * clients may want UTF-16 units. Invalid UTF-8 never stops anything: a stray byte counts as
 * one column. */
#include "eqlint/source.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

eql_source *eql_source_new(const char *path, const char *data, size_t len) {
  if (len >= UINT32_MAX) return NULL;
  eql_source *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  s->path = strdup(path ? path : "<input>");
  s->text = malloc(len + 1);
  if (!s->path || !s->text) goto fail;
  if (len) memcpy(s->text, data, len);
  s->text[len] = 0;
  s->len = (uint32_t)len;
  uint32_t n = 1;
  for (size_t i = 0; i < len; i++)
    if (data[i] == '\n' || (data[i] == '\r' && (i + 1 >= len || data[i + 1] != '\n'))) n++;
  s->line_start = malloc(sizeof(uint32_t) * n);
  if (!s->line_start) goto fail;
  s->line_start[0] = 0;
  uint32_t k = 1;
  for (size_t i = 0; i < len; i++)
    if (data[i] == '\n' || (data[i] == '\r' && (i + 1 >= len || data[i + 1] != '\n')))
      s->line_start[k++] = (uint32_t)i + 1;
  s->nlines = n;
  return s;
fail:
  eql_source_free(s);
  return NULL;
}

eql_source *eql_source_read(const char *path, const char **err) {
  /* a FIFO or device named *.py would block or never end: only regular files are read */
  struct stat st;
  if (stat(path, &st) != 0) {
    *err = strerror(errno);
    return NULL;
  }
  if (S_ISDIR(st.st_mode)) {
    *err = "is a directory";
    return NULL;
  }
  if (!S_ISREG(st.st_mode)) {
    *err = "not a regular file";
    return NULL;
  }
  FILE *f = fopen(path, "rb");
  if (!f) {
    *err = strerror(errno);
    return NULL;
  }
  size_t cap = 65536, len = 0;
  char *buf = malloc(cap);
  if (!buf) {
    fclose(f);
    *err = "out of memory";
    return NULL;
  }
  for (;;) {
    if (len == cap) {
      if (cap >= (size_t)UINT32_MAX / 2) {
        free(buf);
        fclose(f);
        *err = "file too large";
        return NULL;
      }
      char *nb = realloc(buf, cap * 2);
      if (!nb) {
        free(buf);
        fclose(f);
        *err = "out of memory";
        return NULL;
      }
      buf = nb;
      cap *= 2;
    }
    size_t got = fread(buf + len, 1, cap - len, f);
    len += got;
    if (got == 0) break;
  }
  int bad = ferror(f);
  int e = errno;
  fclose(f);
  if (bad) {
    free(buf);
    *err = strerror(e);
    return NULL;
  }
  eql_source *s = eql_source_new(path, buf, len);
  free(buf);
  if (!s) *err = "out of memory or file too large";
  return s;
}

void eql_source_free(eql_source *s) {
  if (!s) return;
  free(s->path);
  free(s->text);
  free(s->line_start);
  free(s);
}

uint32_t eql_source_line_of(const eql_source *s, uint32_t byte) {
  uint32_t lo = 0, hi = s->nlines;
  while (hi - lo > 1) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (s->line_start[mid] <= byte) lo = mid;
    else hi = mid;
  }
  return lo + 1;
}

/* Length of the UTF-8 sequence starting at p (1 for an invalid lead or truncated one). */
static uint32_t utf8_len(const unsigned char *p, const unsigned char *end) {
  unsigned c = p[0];
  uint32_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
  if (p + n > end) return 1;
  for (uint32_t i = 1; i < n; i++)
    if ((p[i] & 0xC0) != 0x80) return 1;
  return n;
}

static uint32_t count_cols(const eql_source *s, uint32_t byte, int utf16) {
  if (byte > s->len) byte = s->len;
  uint32_t line = eql_source_line_of(s, byte);
  const unsigned char *p = (const unsigned char *)s->text + s->line_start[line - 1];
  const unsigned char *end = (const unsigned char *)s->text + byte;
  uint32_t col = 0;
  while (p < end) {
    uint32_t n = utf8_len(p, end);
    col += (utf16 && n == 4) ? 2 : 1;
    p += n;
  }
  return col;
}

uint32_t eql_source_col_of(const eql_source *s, uint32_t byte) { return count_cols(s, byte, 0) + 1; }
uint32_t eql_source_utf16_col_of(const eql_source *s, uint32_t byte) { return count_cols(s, byte, 1); }

const char *eql_source_line(const eql_source *s, uint32_t line, uint32_t *len) {
  if (line < 1 || line > s->nlines) {
    *len = 0;
    return NULL;
  }
  uint32_t a = s->line_start[line - 1];
  uint32_t b = line < s->nlines ? s->line_start[line] : s->len;
  while (b > a && (s->text[b - 1] == '\n' || s->text[b - 1] == '\r')) b--;
  *len = b - a;
  return s->text + a;
}
