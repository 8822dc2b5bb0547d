/* Text hygiene for the machine formats: UTF-8 repair, report paths, and the escaping rules
 * of GitHub workflow commands and XML. See emit_internal.h for the contract of each.
 *
 * Design: every helper walks the input with one decoder (eql_emit_utf8_next) and writes
 * unremarkable runs in one fwrite, so the common case (plain ASCII messages) costs one
 * pass and no allocation. Characters that need care are handed to eql_emit_escaped one at
 * a time, which keeps the spelling of escapes (\x1b, \u{202e}) identical across formats. */
#include <stdlib.h>
#include <string.h>

#include "emit_internal.h"

uint32_t eql_emit_utf8_next(const unsigned char *p, const unsigned char *end, int32_t *cp) {
  unsigned c = p[0];
  uint32_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (n == 0 || p + n > end) {
    *cp = -1;
    return 1;
  }
  for (uint32_t i = 1; i < n; i++)
    if ((p[i] & 0xC0) != 0x80) {
      *cp = -1;
      return 1;
    }
  int32_t v = n == 1   ? (int32_t)c
              : n == 2 ? (int32_t)(c & 0x1F)
              : n == 3 ? (int32_t)(c & 0x0F)
                       : (int32_t)(c & 0x07);
  for (uint32_t i = 1; i < n; i++) v = (v << 6) | (p[i] & 0x3F);
  static const int32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
  if (v < min_for_len[n] || (v >= 0xD800 && v <= 0xDFFF) || v > 0x10FFFF) v = -1;
  *cp = v;
  return n;
}

char *eql_emit_utf8_dup(const char *s) {
  if (!s) s = "";
  size_t len = strlen(s);
  /* U+FFFD is three bytes and replaces at least one: three times the input always fits. */
  char *out = malloc(len * 3 + 1), *w = out;
  if (!out) return NULL;
  const unsigned char *p = (const unsigned char *)s, *end = p + len;
  while (p < end) {
    int32_t cp;
    uint32_t n = eql_emit_utf8_next(p, end, &cp);
    if (cp < 0) {
      memcpy(w, "\xef\xbf\xbd", 3);
      w += 3;
    } else {
      memcpy(w, p, n);
      w += n;
    }
    p += n;
  }
  *w = 0;
  return out;
}

json_t *eql_emit_json_text(const char *s) {
  char *clean = eql_emit_utf8_dup(s);
  if (!clean) return NULL;
  json_t *j = json_string(clean);
  free(clean);
  return j;
}

const eql_rule_info *eql_emit_rule_of(const eql_diag *d) {
  return d->rule >= 0 && d->rule < EQL_RULE_COUNT ? &eql_rules[d->rule] : NULL;
}

const char *eql_emit_code_of(const eql_diag *d) {
  const eql_rule_info *r = eql_emit_rule_of(d);
  return r ? r->code : "EQX???";
}

char *eql_emit_report_path(const char *path, const char *root) {
  if (!path) path = "";
  if (root && path[0] == '/') {
    size_t rl = strlen(root);
    while (rl > 1 && root[rl - 1] == '/') rl--; /* "/repo/" and "/repo" are one root */
    if (rl == 1 && root[0] == '/') {
      path++; /* root is "/": every absolute path is below it */
    } else if (strncmp(path, root, rl) == 0 && path[rl] == '/') {
      path += rl + 1;
    }
  }
  char *out = malloc(strlen(path) + 1), *w = out;
  if (!out) return NULL;
  const char *p = path;
  bool absolute = *p == '/';
  if (absolute) *w++ = *p++;
  while (*p) {
    /* At the start of a component: skip empty ("//") and "." components. */
    if (*p == '/') {
      p++;
      continue;
    }
    if (p[0] == '.' && (p[1] == '/' || p[1] == 0)) {
      p += p[1] ? 2 : 1;
      continue;
    }
    while (*p && *p != '/') *w++ = *p++;
    if (*p == '/') *w++ = *p++;
  }
  /* A trailing slash left by "dir/" or "dir/./" is not part of a file's path. */
  if (w > out + (absolute ? 1 : 0) && w[-1] == '/') w--;
  *w = 0;
  if (!*out) {
    /* Only "." components: the path named the root itself. */
    free(out);
    return strdup(absolute ? "/" : ".");
  }
  return out;
}

/* Writes the n bytes at p through eql_emit_escaped (which needs a NUL-terminated string). */
static void escaped_bytes(FILE *out, const unsigned char *p, uint32_t n) {
  char buf[8];
  memcpy(buf, p, n);
  buf[n] = 0;
  eql_emit_escaped(out, buf);
}

/* Characters eql_emit_escaped rewrites (invalid bytes, cp < 0, included); kept in step with
 * must_escape in full.c. */
static bool needs_escape(int32_t cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x061C ||
         (cp >= 0x200B && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202E) ||
         (cp >= 0x2060 && cp <= 0x2069) || cp == 0xFEFF;
}

void eql_emit_workflow_escaped(FILE *out, const char *s, bool property) {
  const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s), *run = p;
  while (p < end) {
    int32_t cp;
    uint32_t n = eql_emit_utf8_next(p, end, &cp);
    const char *pct = cp == '%'                ? "%25"
                      : cp == '\r'             ? "%0D"
                      : cp == '\n'             ? "%0A"
                      : property && cp == ':'  ? "%3A"
                      : property && cp == ','  ? "%2C"
                                               : NULL;
    if (!pct && !needs_escape(cp)) {
      p += n;
      continue;
    }
    fwrite(run, 1, (size_t)(p - run), out);
    if (pct) fputs(pct, out);
    else escaped_bytes(out, p, n);
    p += n;
    run = p;
  }
  fwrite(run, 1, (size_t)(p - run), out);
}

void eql_emit_xml_escaped(FILE *out, const char *s, bool attribute) {
  const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s), *run = p;
  while (p < end) {
    int32_t cp;
    uint32_t n = eql_emit_utf8_next(p, end, &cp);
    const char *entity = cp == '&'                  ? "&amp;"
                         : cp == '<'                ? "&lt;"
                         : cp == '>'                ? "&gt;"
                         : cp == '"'                ? "&quot;"
                         : cp == '\''               ? "&apos;"
                         : attribute && cp == '\n'  ? "&#10;"
                         : attribute && cp == '\t'  ? "&#9;"
                                                    : NULL;
    /* In text, LF and tab are ordinary XML characters; in attributes a parser would fold
     * them into spaces, hence the references above. */
    bool plain = !entity && (cp == '\n' || cp == '\t' ||
                             (!needs_escape(cp) && cp != 0xFFFE && cp != 0xFFFF));
    if (plain) {
      p += n;
      continue;
    }
    fwrite(run, 1, (size_t)(p - run), out);
    if (entity) fputs(entity, out);
    else if (cp == 0xFFFE || cp == 0xFFFF) fprintf(out, "\\u{%04x}", (unsigned)cp);
    else escaped_bytes(out, p, n);
    p += n;
    run = p;
  }
  fwrite(run, 1, (size_t)(p - run), out);
}

int eql_emit_json_dump(FILE *out, json_t *json, size_t flags) {
  if (!json) return -1;
  int rc = json_dumpf(json, out, flags);
  json_decref(json);
  if (rc != 0 || fputc('\n', out) == EOF) return -1;
  return 0;
}
