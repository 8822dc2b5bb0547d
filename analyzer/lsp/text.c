/* Text for the language server: LSP positions <-> byte offsets, tree-sitter points, the
 * document buffer, the `# noqa` edit, and file:// URIs.
 *
 * LSP positions are (line, character) where `character` counts UTF-16 code units unless
 * the client agreed to UTF-8 bytes; a character outside the BMP is 2 units. Lines end at
 * \n, \r\n or \r exactly as eql_source splits them, so a diagnostic's line converts
 * without surprises. tree-sitter, by contrast, counts rows at \n only and columns in
 * bytes; edits sent to the kept tree use its convention, not the protocol's.
 *
 * Every conversion clamps instead of failing: a position the client got wrong (a stale
 * line, a character past the end) must never read outside the buffer. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "lsp_internal.h"

/* Length of the UTF-8 sequence at p (1 for an invalid or truncated one), as source.c counts. */
static uint32_t utf8_len(const unsigned char *p, const unsigned char *end) {
  unsigned c = p[0];
  uint32_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
  if (p + n > end) return 1;
  for (uint32_t i = 1; i < n; i++)
    if ((p[i] & 0xC0) != 0x80) return 1;
  return n;
}

/* Byte offset where line `line` (0-based) starts, or len when the text has fewer lines. */
static size_t line_start(const char *text, size_t len, uint32_t line, bool *past_end) {
  size_t i = 0;
  *past_end = false;
  for (uint32_t l = 0; l < line; l++) {
    const char *nl = NULL;
    /* find the next \n or \r, whichever comes first */
    for (size_t k = i; k < len; k++)
      if (text[k] == '\n' || text[k] == '\r') {
        nl = text + k;
        break;
      }
    if (!nl) {
      *past_end = true;
      return len;
    }
    i = (size_t)(nl - text) + 1;
    if (*nl == '\r' && i < len && text[i] == '\n') i++;
  }
  return i;
}

/* End of the line starting at `start` (the offset of its \n or \r, or len). */
static size_t line_end(const char *text, size_t len, size_t start) {
  size_t i = start;
  while (i < len && text[i] != '\n' && text[i] != '\r') i++;
  return i;
}

uint32_t eql_lsp_offset_of(const char *text, size_t len, uint32_t line, uint32_t character,
                           eql_lsp_encoding enc, bool *clamped) {
  bool past;
  size_t s = line_start(text, len, line, &past);
  if (clamped) *clamped = past;
  if (past) return (uint32_t)len;
  size_t e = line_end(text, len, s);
  const unsigned char *p = (const unsigned char *)text + s, *end = (const unsigned char *)text + e;
  uint32_t units = 0;
  while (p < end && units < character) {
    uint32_t n = utf8_len(p, end);
    uint32_t w = enc == EQL_LSP_UTF8 ? n : (n == 4 ? 2 : 1);
    if (units + w > character) { /* inside this character: stay at its start */
      if (clamped) *clamped = true;
      break;
    }
    units += w;
    p += n;
  }
  if (p == end && units < character && clamped) *clamped = true;
  return (uint32_t)((const char *)p - text);
}

void eql_lsp_position_of(const char *text, size_t len, uint32_t byte, eql_lsp_encoding enc,
                         uint32_t *line, uint32_t *character) {
  if (byte > len) byte = (uint32_t)len;
  uint32_t l = 0;
  size_t s = 0;
  for (size_t i = 0; i < byte; i++) {
    if (text[i] == '\n' || (text[i] == '\r' && (i + 1 >= len || text[i + 1] != '\n'))) {
      l++;
      s = i + 1;
    }
  }
  /* a byte on the \n of a \r\n pair sits on the same line, after the \r */
  uint32_t units = 0;
  const unsigned char *p = (const unsigned char *)text + s, *end = (const unsigned char *)text + byte;
  while (p < end) {
    uint32_t n = utf8_len(p, end);
    units += enc == EQL_LSP_UTF8 ? n : (n == 4 ? 2 : 1);
    p += n;
  }
  *line = l;
  *character = units;
}

void eql_lsp_ts_point_of(const char *text, size_t len, uint32_t byte, uint32_t *row,
                         uint32_t *col) {
  if (byte > len) byte = (uint32_t)len;
  uint32_t r = 0;
  size_t s = 0;
  for (const char *p = text, *end = text + byte; (p = memchr(p, '\n', (size_t)(end - p)));) {
    r++;
    p++;
    s = (size_t)(p - text);
  }
  *row = r;
  *col = (uint32_t)(byte - s);
}

void eql_lsp_ts_point_after(uint32_t row, uint32_t col, const char *ins, size_t n,
                            uint32_t *end_row, uint32_t *end_col) {
  const char *last = NULL;
  for (const char *p = ins, *end = ins + n; (p = memchr(p, '\n', (size_t)(end - p))); p++) {
    row++;
    last = p;
  }
  *end_row = row;
  *end_col = last ? (uint32_t)(ins + n - last - 1) : col + (uint32_t)n;
}

int eql_lsp_text_replace(eql_lsp_text *t, size_t start, size_t end, const char *ins, size_t n) {
  if (start > t->len) start = t->len;
  if (end > t->len) end = t->len;
  if (end < start) end = start;
  size_t newlen = t->len - (end - start) + n;
  if (newlen >= UINT32_MAX) return -1;
  if (newlen + 1 > t->cap) {
    size_t cap = t->cap ? t->cap : 256;
    while (cap < newlen + 1) cap *= 2;
    char *d = realloc(t->data, cap);
    if (!d) return -1;
    t->data = d;
    t->cap = cap;
  }
  memmove(t->data + start + n, t->data + end, t->len - end);
  if (n) memcpy(t->data + start, ins, n);
  t->len = newlen;
  t->data[newlen] = 0;
  return 0;
}

void eql_lsp_text_free(eql_lsp_text *t) {
  free(t->data);
  memset(t, 0, sizeof *t);
}

/* ---- # noqa ---- */

int eql_lsp_noqa_edit(const char *line, size_t n, const char *code, size_t *at, char **ins) {
  size_t clen = strlen(code);
  /* An existing "# noqa" directive, spelled as suppress.c reads it. A '#' inside a string
   * literal could fool this scan; the edit then lands in a harmless place (the line end)
   * because such a "directive" rarely has the shape below. */
  for (size_t h = 0; h < n; h++) {
    if (line[h] != '#') continue;
    size_t k = h + 1;
    while (k < n && (line[k] == ' ' || line[k] == '\t')) k++;
    if (n - k < 4 || strncasecmp(line + k, "noqa", 4) != 0) continue;
    size_t after = k + 4;
    if (after < n && isalnum((unsigned char)line[after])) continue;
    size_t c = after;
    while (c < n && (line[c] == ' ' || line[c] == '\t')) c++;
    if (c >= n || line[c] != ':') return 1; /* a bare noqa already covers every code */
    /* walk the code list to its last code; stop at the first thing that is not a code */
    size_t p = c + 1, last_end = 0;
    for (;;) {
      while (p < n && (line[p] == ' ' || line[p] == '\t' || line[p] == ',')) p++;
      size_t s = p;
      while (p < n && isalpha((unsigned char)line[p])) p++;
      size_t digits = p;
      while (p < n && isdigit((unsigned char)line[p])) p++;
      if (digits == s || p == digits) break;
      if (p - s <= clen && strncasecmp(line + s, code, p - s) == 0) return 1; /* or prefix */
      last_end = p;
    }
    if (!last_end) { /* "# noqa:" with no codes: suppress.c treats it as bare */
      return 1;
    }
    *at = last_end;
    size_t m = clen + 3;
    if (!(*ins = malloc(m))) return -1;
    snprintf(*ins, m, ", %s", code);
    return 0;
  }
  *at = n;
  size_t m = clen + 10;
  if (!(*ins = malloc(m))) return -1;
  snprintf(*ins, m, " # noqa: %s", code);
  return 0;
}

/* ---- URIs ---- */

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

char *eql_lsp_uri_to_path(const char *uri) {
  if (strncasecmp(uri, "file://", 7) != 0) return strdup(uri);
  const char *p = uri + 7;
  /* authority: empty or localhost; a remote host is not a local file */
  const char *slash = strchr(p, '/');
  if (!slash) return NULL;
  size_t host = (size_t)(slash - p);
  if (host && !(host == 9 && strncasecmp(p, "localhost", 9) == 0)) return NULL;
  p = slash;
  size_t n = strlen(p);
  char *out = malloc(n + 1);
  if (!out) return NULL;
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    if (p[i] == '?' || p[i] == '#') break; /* query and fragment are not part of the path */
    int h1, h2;
    if (p[i] == '%' && i + 2 < n && (h1 = hexval(p[i + 1])) >= 0 &&
        (h2 = hexval(p[i + 2])) >= 0) {
      int c = h1 * 16 + h2;
      if (c == 0) {
        free(out);
        return NULL;
      }
      out[o++] = (char)c;
      i += 2;
    } else {
      out[o++] = p[i];
    }
  }
  /* keep "/" itself, drop a trailing slash elsewhere so roots join cleanly */
  while (o > 1 && out[o - 1] == '/') o--;
  out[o] = 0;
  return out;
}

char *eql_lsp_path_to_uri(const char *path) {
  size_t n = strlen(path);
  char *out = malloc(7 + 3 * n + 1);
  if (!out) return NULL;
  memcpy(out, "file://", 7);
  size_t o = 7;
  static const char hex[] = "0123456789ABCDEF";
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)path[i];
    if (isalnum(c) || strchr("/-._~!$&'()*+,;=:@", c)) {
      out[o++] = (char)c;
    } else {
      out[o++] = '%';
      out[o++] = hex[c >> 4];
      out[o++] = hex[c & 15];
    }
  }
  out[o] = 0;
  return out;
}
