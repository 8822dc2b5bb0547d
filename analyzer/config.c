/* Configuration files: TOML → a small value tree → validated settings → per-file rulesets.
 *
 * Design: tree-sitter-toml gives a concrete syntax tree but none of TOML's semantics, so
 * reading happens in two steps. First the tree becomes a generic TOML value tree (tables,
 * arrays, decoded strings), applying the rules a TOML reader must enforce (no key defined
 * twice, no table header repeated, inline tables closed, `[[x]]` arrays of tables, dotted
 * keys creating tables) and remembering the byte offset of every key and value. Then the
 * settings are read from that tree with strict checking: an unknown key, a value of the
 * wrong type or a rule code that does not exist is an error pointing at its line and column,
 * never a silent default, because a misspelt `ignore` that is quietly dropped makes CI lie.
 *
 * Everything a config owns lives in one arena, freed with it. The store caches, for every
 * directory it was asked about, which config applies there (possibly none), so a walk over
 * a thousand files stats each directory's candidates once. The first invalid file makes the
 * store fail for good: the run must stop rather than check with half a configuration. */
#include "eqlint/config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <tree_sitter/api.h>
#include <unistd.h>

#include "eqlint/arena.h"

const TSLanguage *tree_sitter_toml(void);

/* ------------------------------------------------------------------------------------ */
/* Errors and positions                                                                  */

static void error_set(eql_config_error *err, const char *path, unsigned line, unsigned col,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void error_set(eql_config_error *err, const char *path, unsigned line, unsigned col,
                      const char *fmt, ...) {
  if (!err) return;
  snprintf(err->path, sizeof err->path, "%s", path ? path : "");
  err->line = line;
  err->col = col;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->message, sizeof err->message, fmt, ap);
  va_end(ap);
}

/* 1-based line and column (in code points, as everywhere in eqlint) of a byte offset. */
static void position_of(const char *text, size_t len, uint32_t byte, unsigned *line,
                        unsigned *col) {
  if (byte > len) byte = (uint32_t)len;
  unsigned l = 1;
  size_t line_start = 0;
  for (size_t i = 0; i < byte; i++)
    if (text[i] == '\n') {
      l++;
      line_start = i + 1;
    }
  unsigned c = 1;
  for (size_t i = line_start; i < byte; i++)
    if (((unsigned char)text[i] & 0xC0) != 0x80) c++;
  *line = l;
  *col = c;
}

/* ------------------------------------------------------------------------------------ */
/* The TOML value tree                                                                   */

typedef enum { TV_STRING, TV_INTEGER, TV_FLOAT, TV_BOOLEAN, TV_DATETIME, TV_ARRAY, TV_TABLE } tv_kind;

/* How a table came to be; TOML allows different later additions to each. */
typedef enum {
  TB_IMPLICIT, /* an intermediate of a header ([a.b] makes a) */
  TB_HEADER,   /* defined by its own [header] or [[header]] */
  TB_DOTTED,   /* made by a dotted key (a.b = 1 makes a) */
  TB_INLINE,   /* { ... } or anything inside one: closed for good */
} tb_origin;

typedef struct tval tval;
typedef struct tentry {
  const char *key;
  tval *val;
  uint32_t key_byte; /* where the key (its last segment) was written */
} tentry;

struct tval {
  tv_kind kind;
  uint32_t byte;
  /* TV_STRING: decoded, NUL-terminated (len excludes it; \u0000 may make strlen shorter) */
  const char *str;
  size_t len;
  bool boolean;
  /* TV_ARRAY */
  tval **items;
  size_t n, cap;
  bool table_array; /* an array of tables made by [[header]]: headers may append to it */
  /* TV_TABLE */
  tentry *entries;
  size_t nent, entcap;
  tb_origin origin;
};

typedef struct tparse {
  const char *path; /* for messages */
  const char *text;
  size_t len;
  eql_arena *arena;
  eql_config_error *err;
  int status; /* 0, EQL_CONFIG_INVALID or EQL_CONFIG_NOMEM */
} tparse;

static int perr(tparse *tp, uint32_t byte, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int perr(tparse *tp, uint32_t byte, const char *fmt, ...) {
  if (tp->status) return -1; /* the first error is the one reported */
  tp->status = EQL_CONFIG_INVALID;
  unsigned line, col;
  position_of(tp->text, tp->len, byte, &line, &col);
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  error_set(tp->err, tp->path, line, col, "%s", msg);
  return -1;
}

static int pnomem(tparse *tp) {
  if (!tp->status) {
    tp->status = EQL_CONFIG_NOMEM;
    error_set(tp->err, tp->path, 0, 0, "out of memory");
  }
  return -1;
}

static tval *tv_new(tparse *tp, tv_kind kind, uint32_t byte) {
  tval *v = eql_arena_alloc(tp->arena, sizeof *v);
  if (!v) {
    pnomem(tp);
    return NULL;
  }
  v->kind = kind;
  v->byte = byte;
  return v;
}

static tentry *table_get(const tval *t, const char *key) {
  for (size_t i = 0; i < t->nent; i++)
    if (strcmp(t->entries[i].key, key) == 0) return &t->entries[i];
  return NULL;
}

static int table_put(tparse *tp, tval *t, const char *key, tval *v, uint32_t key_byte) {
  if (t->nent == t->entcap) {
    size_t cap = t->entcap ? t->entcap * 2 : 8;
    tentry *e = eql_arena_alloc(tp->arena, cap * sizeof *e);
    if (!e) return pnomem(tp);
    if (t->nent) memcpy(e, t->entries, t->nent * sizeof *e);
    t->entries = e;
    t->entcap = cap;
  }
  t->entries[t->nent++] = (tentry){key, v, key_byte};
  return 0;
}

static int array_push(tparse *tp, tval *a, tval *v) {
  if (a->n == a->cap) {
    size_t cap = a->cap ? a->cap * 2 : 8;
    tval **items = eql_arena_alloc(tp->arena, cap * sizeof *items);
    if (!items) return pnomem(tp);
    if (a->n) memcpy(items, a->items, a->n * sizeof *items);
    a->items = items;
    a->cap = cap;
  }
  a->items[a->n++] = v;
  return 0;
}

static const char *kind_name(const tval *v) {
  switch (v->kind) {
    case TV_STRING: return "a string";
    case TV_INTEGER: return "an integer";
    case TV_FLOAT: return "a float";
    case TV_BOOLEAN: return "a boolean";
    case TV_DATETIME: return "a date-time";
    case TV_ARRAY: return "an array";
    case TV_TABLE: return "a table";
  }
  return "a value";
}

/* ---- strings ---- */

static int put_utf8(char *out, uint32_t cp) {
  if (cp < 0x80) {
    out[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    out[0] = (char)(0xC0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (cp >> 18));
  out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  out[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Decodes the TOML string written at [start, end) — any of the four kinds, told apart by
 * their quotes. The grammar has already checked the escapes' shapes; what is left here is
 * their meaning: the Unicode ones must name scalar values, and a backslash ending a line of
 * a multi-line basic string swallows the line break and the blanks after it. */
static int decode_string(tparse *tp, uint32_t start, uint32_t end, const char **out,
                         size_t *outlen) {
  const char *s = tp->text + start;
  size_t n = end - start;
  bool literal = s[0] == '\'';
  bool multi = n >= 6 && (memcmp(s, "\"\"\"", 3) == 0 || memcmp(s, "'''", 3) == 0);
  size_t q = multi ? 3 : 1;
  if (n < 2 * q) return perr(tp, start, "malformed string");
  const char *p = s + q, *e = s + n - q;
  /* A newline right after the opening delimiter is not part of a multi-line string. */
  if (multi) {
    if (p < e && *p == '\n') p++;
    else if (e - p >= 2 && p[0] == '\r' && p[1] == '\n') p += 2;
  }
  char *buf = eql_arena_alloc(tp->arena, (size_t)(e - p) + 1);
  if (!buf) return pnomem(tp);
  size_t k = 0;
  while (p < e) {
    if (literal || *p != '\\') {
      buf[k++] = *p++;
      continue;
    }
    uint32_t esc_at = (uint32_t)(p - tp->text);
    p++;
    if (p >= e) return perr(tp, esc_at, "malformed escape sequence");
    char c = *p++;
    switch (c) {
      case 'b': buf[k++] = '\b'; break;
      case 't': buf[k++] = '\t'; break;
      case 'n': buf[k++] = '\n'; break;
      case 'f': buf[k++] = '\f'; break;
      case 'r': buf[k++] = '\r'; break;
      case '"': buf[k++] = '"'; break;
      case '\\': buf[k++] = '\\'; break;
      case 'u':
      case 'U': {
        int digits = c == 'u' ? 4 : 8;
        if (e - p < digits) return perr(tp, esc_at, "malformed Unicode escape");
        uint32_t cp = 0;
        for (int i = 0; i < digits; i++) {
          int h = hexval(p[i]);
          if (h < 0) return perr(tp, esc_at, "malformed Unicode escape");
          cp = cp * 16 + (uint32_t)h;
        }
        p += digits;
        if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
          return perr(tp, esc_at, "the escape `\\%c%.*s` is not a Unicode scalar value", c,
                      digits, p - digits);
        /* \uXXXX takes 6 bytes of source and at most 3 of UTF-8; \U 10 and 4. */
        k += (size_t)put_utf8(buf + k, cp);
        break;
      }
      default:
        if (multi && (c == ' ' || c == '\t' || c == '\r' || c == '\n')) {
          p--;
          while (p < e && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')) p++;
          break;
        }
        return perr(tp, esc_at, "unknown escape sequence `\\%c`", c);
    }
  }
  buf[k] = 0;
  *out = buf;
  *outlen = k;
  return 0;
}

/* ---- keys ---- */

typedef struct {
  const char *s;
  uint32_t byte;
} tkey;

typedef struct {
  tkey *items;
  size_t n, cap;
} tkeys;

static uint32_t node_start(TSNode n) { return ts_node_start_byte(n); }

/* Appends the segments of a key node (bare, quoted or dotted) to `keys`. */
static int collect_keys(tparse *tp, TSNode n, tkeys *keys) {
  const char *type = ts_node_type(n);
  if (strcmp(type, "dotted_key") == 0) {
    uint32_t c = ts_node_named_child_count(n);
    for (uint32_t i = 0; i < c; i++) {
      TSNode ch = ts_node_named_child(n, i);
      if (strcmp(ts_node_type(ch), "comment") == 0) continue;
      if (collect_keys(tp, ch, keys) < 0) return -1;
    }
    return 0;
  }
  const char *s;
  size_t len;
  if (strcmp(type, "bare_key") == 0) {
    s = eql_arena_strndup(tp->arena, tp->text + node_start(n),
                          ts_node_end_byte(n) - node_start(n));
    if (!s) return pnomem(tp);
    len = strlen(s);
  } else if (strcmp(type, "quoted_key") == 0) {
    if (decode_string(tp, node_start(n), ts_node_end_byte(n), &s, &len) < 0) return -1;
  } else {
    return perr(tp, node_start(n), "unexpected %s where a key was expected", type);
  }
  if (strlen(s) != len) return perr(tp, node_start(n), "a key must not contain NUL characters");
  if (keys->n == keys->cap) {
    size_t cap = keys->cap ? keys->cap * 2 : 8;
    tkey *k = eql_arena_alloc(tp->arena, cap * sizeof *k);
    if (!k) return pnomem(tp);
    if (keys->n) memcpy(k, keys->items, keys->n * sizeof *k);
    keys->items = k;
    keys->cap = cap;
  }
  keys->items[keys->n++] = (tkey){s, node_start(n)};
  return 0;
}

/* "a.b.c" for the first `n` segments, for messages (quoted where a segment needs it). */
static const char *keys_text(tparse *tp, const tkeys *keys, size_t n) {
  size_t cap = 1;
  for (size_t i = 0; i < n; i++) cap += strlen(keys->items[i].s) * 2 + 3;
  char *s = eql_arena_alloc(tp->arena, cap);
  if (!s) return "?";
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    const char *seg = keys->items[i].s;
    bool bare = *seg != 0;
    for (const char *c = seg; *c; c++)
      if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-') bare = false;
    if (i) s[k++] = '.';
    if (!bare) s[k++] = '"';
    for (const char *c = seg; *c; c++) {
      if (*c == '"' || *c == '\\') s[k++] = '\\';
      s[k++] = *c;
    }
    if (!bare) s[k++] = '"';
  }
  s[k] = 0;
  return s;
}

/* ---- building ---- */

enum { MAX_DEPTH = 100, MAX_BRACKETS = 20000 };

static tval *build_value(tparse *tp, TSNode n, int depth);

/* Inserts `key... = value` (a pair) into table t. Dotted keys make tables on the way:
 * `origin` is what such a table becomes (TB_DOTTED, or TB_INLINE inside an inline table). */
static int insert_pair(tparse *tp, tval *t, TSNode pair, tb_origin origin, int depth) {
  uint32_t c = ts_node_named_child_count(pair);
  TSNode key = {0}, value = {0};
  bool have_key = false, have_value = false;
  for (uint32_t i = 0; i < c; i++) {
    TSNode ch = ts_node_named_child(pair, i);
    const char *type = ts_node_type(ch);
    if (strcmp(type, "comment") == 0) continue;
    if (!have_key) {
      key = ch;
      have_key = true;
    } else if (!have_value) {
      value = ch;
      have_value = true;
    }
  }
  if (!have_key || !have_value) return perr(tp, node_start(pair), "malformed key/value pair");
  tkeys keys = {0};
  if (collect_keys(tp, key, &keys) < 0) return -1;
  for (size_t i = 0; i + 1 < keys.n; i++) {
    tentry *e = table_get(t, keys.items[i].s);
    if (!e) {
      tval *sub = tv_new(tp, TV_TABLE, keys.items[i].byte);
      if (!sub || table_put(tp, t, keys.items[i].s, sub, keys.items[i].byte) < 0) return -1;
      sub->origin = origin;
      t = sub;
      continue;
    }
    /* A dotted key may add to a table that dotted keys made in the same place (or that a
     * header only implied), never to one with its own header or an inline one. */
    if (e->val->kind != TV_TABLE ||
        !(e->val->origin == TB_DOTTED || e->val->origin == TB_IMPLICIT ||
          (e->val->origin == TB_INLINE && origin == TB_INLINE))) {
      unsigned line, col;
      position_of(tp->text, tp->len, e->key_byte, &line, &col);
      return perr(tp, keys.items[i].byte,
                  "cannot add keys to `%s`: it is already defined on line %u",
                  keys_text(tp, &keys, i + 1), line);
    }
    t = e->val;
  }
  const tkey *last = &keys.items[keys.n - 1];
  tentry *dup = table_get(t, last->s);
  if (dup) {
    unsigned line, col;
    position_of(tp->text, tp->len, dup->key_byte, &line, &col);
    return perr(tp, last->byte, "duplicate key `%s`: it is already defined on line %u",
                keys_text(tp, &keys, keys.n), line);
  }
  tval *v = build_value(tp, value, depth + 1);
  if (!v) return -1;
  return table_put(tp, t, last->s, v, last->byte);
}

static tval *build_value(tparse *tp, TSNode n, int depth) {
  uint32_t at = node_start(n);
  if (depth > MAX_DEPTH) {
    perr(tp, at, "values are nested more than %d levels deep", MAX_DEPTH);
    return NULL;
  }
  const char *type = ts_node_type(n);
  tval *v;
  if (strcmp(type, "string") == 0) {
    if (!(v = tv_new(tp, TV_STRING, at))) return NULL;
    if (decode_string(tp, at, ts_node_end_byte(n), &v->str, &v->len) < 0) return NULL;
  } else if (strcmp(type, "integer") == 0) {
    v = tv_new(tp, TV_INTEGER, at);
  } else if (strcmp(type, "float") == 0) {
    v = tv_new(tp, TV_FLOAT, at);
  } else if (strcmp(type, "boolean") == 0) {
    if (!(v = tv_new(tp, TV_BOOLEAN, at))) return NULL;
    v->boolean = tp->text[at] == 't';
  } else if (strstr(type, "date") || strstr(type, "time")) {
    v = tv_new(tp, TV_DATETIME, at);
  } else if (strcmp(type, "array") == 0) {
    if (!(v = tv_new(tp, TV_ARRAY, at))) return NULL;
    uint32_t c = ts_node_named_child_count(n);
    for (uint32_t i = 0; i < c; i++) {
      TSNode ch = ts_node_named_child(n, i);
      if (strcmp(ts_node_type(ch), "comment") == 0) continue;
      tval *item = build_value(tp, ch, depth + 1);
      if (!item || array_push(tp, v, item) < 0) return NULL;
    }
  } else if (strcmp(type, "inline_table") == 0) {
    if (!(v = tv_new(tp, TV_TABLE, at))) return NULL;
    v->origin = TB_INLINE;
    uint32_t c = ts_node_named_child_count(n);
    for (uint32_t i = 0; i < c; i++) {
      TSNode ch = ts_node_named_child(n, i);
      if (strcmp(ts_node_type(ch), "pair") != 0) continue;
      if (insert_pair(tp, v, ch, TB_INLINE, depth + 1) < 0) return NULL;
    }
  } else {
    perr(tp, at, "unexpected %s where a value was expected", type);
    return NULL;
  }
  return v;
}

/* Opens the table named by a [header] (array = false) or [[header]] (array = true) and
 * returns it: the place the pairs below the header go. */
static tval *open_header(tparse *tp, tval *root, TSNode key, bool array) {
  tkeys keys = {0};
  if (collect_keys(tp, key, &keys) < 0) return NULL;
  tval *t = root;
  for (size_t i = 0; i < keys.n; i++) {
    const tkey *k = &keys.items[i];
    bool last = i + 1 == keys.n;
    tentry *e = table_get(t, k->s);
    const char *name = keys_text(tp, &keys, i + 1);
    if (!e) {
      tval *sub = tv_new(tp, TV_TABLE, k->byte);
      if (!sub) return NULL;
      sub->origin = last ? TB_HEADER : TB_IMPLICIT;
      if (last && array) {
        tval *arr = tv_new(tp, TV_ARRAY, k->byte);
        if (!arr) return NULL;
        arr->table_array = true;
        if (array_push(tp, arr, sub) < 0 || table_put(tp, t, k->s, arr, k->byte) < 0)
          return NULL;
      } else if (table_put(tp, t, k->s, sub, k->byte) < 0) {
        return NULL;
      }
      t = sub;
      continue;
    }
    unsigned line, col;
    position_of(tp->text, tp->len, e->key_byte, &line, &col);
    tval *v = e->val;
    if (v->kind == TV_ARRAY && v->table_array) {
      if (last && !array) {
        perr(tp, k->byte, "[%s] is already an array of tables (line %u)", name, line);
        return NULL;
      }
      if (last) {
        tval *sub = tv_new(tp, TV_TABLE, k->byte);
        if (!sub || array_push(tp, v, sub) < 0) return NULL;
        sub->origin = TB_HEADER;
        return sub;
      }
      t = v->items[v->n - 1];
      continue;
    }
    if (v->kind != TV_TABLE) {
      perr(tp, k->byte, "`%s` is already defined as %s on line %u", name, kind_name(v), line);
      return NULL;
    }
    if (v->origin == TB_INLINE) {
      perr(tp, k->byte, "cannot add to `%s`: it is an inline table (line %u)", name, line);
      return NULL;
    }
    if (last) {
      if (array) {
        perr(tp, k->byte, "[[%s]]: `%s` is already a table (line %u)", name, name, line);
        return NULL;
      }
      if (v->origin == TB_HEADER) {
        perr(tp, k->byte, "table [%s] is defined twice (first on line %u)", name, line);
        return NULL;
      }
      if (v->origin == TB_DOTTED) {
        perr(tp, k->byte, "table [%s] was already defined by dotted keys on line %u", name,
             line);
        return NULL;
      }
      v->origin = TB_HEADER;
      e->key_byte = k->byte; /* messages about the table now point at its own header */
    }
    t = v;
  }
  return t;
}

static bool is_error_node(TSNode n) {
  return ts_node_is_missing(n) || strcmp(ts_node_type(n), "ERROR") == 0;
}

/* The deepest first ERROR or MISSING node below (or at) n, in document order: tree-sitter
 * wraps a whole broken line in an ERROR, and the nested one, when there is one, sits on
 * the offending character. A node with an error but no erroneous child holds a missing
 * token that the API does not show (the grammar's hidden line end): it is returned. */
static bool innermost_error(TSNode n, TSNode *out) {
  if (!is_error_node(n) && !ts_node_has_error(n)) return false;
  uint32_t c = ts_node_child_count(n);
  for (uint32_t i = 0; i < c; i++)
    if (innermost_error(ts_node_child(n, i), out)) return true;
  *out = n;
  return true;
}

static bool is_value_type(const char *t) {
  return strcmp(t, "string") == 0 || strcmp(t, "integer") == 0 || strcmp(t, "float") == 0 ||
         strcmp(t, "boolean") == 0 || strcmp(t, "array") == 0 ||
         strcmp(t, "inline_table") == 0 || strstr(t, "date") || strstr(t, "time");
}

/* Reports "unexpected `what is at byte`", naming the smallest named node there (a whole
 * string rather than its quote), cut at the end of its line. */
static void unexpected_at(tparse *tp, TSNode root, uint32_t at) {
  if (at >= tp->len) {
    perr(tp, (uint32_t)tp->len, "TOML syntax error: unexpected end of file");
    return;
  }
  if (tp->text[at] == '\n' || tp->text[at] == '\r') {
    perr(tp, at, "TOML syntax error: unexpected end of line");
    return;
  }
  TSNode n = ts_node_named_descendant_for_byte_range(root, at, at + 1);
  if (ts_node_is_null(n) || is_error_node(n) || ts_node_start_byte(n) != at)
    n = ts_node_descendant_for_byte_range(root, at, at + 1);
  uint32_t end = at + 1;
  if (!ts_node_is_null(n) && ts_node_start_byte(n) == at && ts_node_end_byte(n) > at)
    end = ts_node_end_byte(n);
  uint32_t k = at;
  while (k < end && k < tp->len && tp->text[k] != '\n' && tp->text[k] != '\r' && k - at < 30)
    k++;
  if (k == at) k = at + 1;
  perr(tp, at, "TOML syntax error: unexpected `%.*s`", (int)(k - at), tp->text + at);
}

/* Turns the first error of the tree into a message. Tree-sitter's recovery says where it
 * gave up, not why, so the place is inferred: inside an ERROR made of a complete `key =
 * value` and more, the more is unexpected; an ERROR that is a valid beginning (`key = [`)
 * means that what follows it is unexpected (end of line, end of file, or a token). */
static void syntax_error(tparse *tp, TSNode root) {
  TSNode bad;
  if (!innermost_error(root, &bad)) {
    perr(tp, 0, "TOML syntax error");
    return;
  }
  uint32_t at = node_start(bad);
  if (ts_node_is_missing(bad)) {
    const char *t = ts_node_type(bad);
    perr(tp, at, "TOML syntax error: expected %s%s%s", is_value_type(t) ? "" : "`", t,
         is_value_type(t) ? "" : "`");
    return;
  }
  uint32_t c = ts_node_child_count(bad);
  if (!is_error_node(bad)) c = 0; /* a hidden missing token at its end: see below */
  bool after_eq = false, complete = false;
  for (uint32_t i = 0; i < c; i++) {
    TSNode ch = ts_node_child(bad, i);
    const char *t = ts_node_type(ch);
    if (strcmp(t, "comment") == 0) continue;
    if (i == 0 && strcmp(t, "=") == 0) break; /* a value without a key: reported below */
    if (complete) {
      unexpected_at(tp, root, node_start(ch));
      return;
    }
    /* A key is always followed by `=`, `.` or `]` on its own line. */
    if (strstr(t, "key")) {
      uint32_t e = ts_node_end_byte(ch), k = e;
      while (k < tp->len && (tp->text[k] == ' ' || tp->text[k] == '\t')) k++;
      if (k >= tp->len || tp->text[k] == '\n' || tp->text[k] == '\r') {
        unexpected_at(tp, root, k);
        return;
      }
    }
    /* `key = value` (the value right after the `=`, not the first item of an unfinished
     * array) or `[header]` complete the construct. */
    complete = (after_eq && ts_node_is_named(ch) && is_value_type(t)) ||
               strcmp(t, "]") == 0 || strcmp(t, "]]") == 0;
    after_eq = strcmp(t, "=") == 0;
  }
  if (is_error_node(bad) &&
      (c == 0 || tp->text[at] == '\n' || tp->text[at] == '\r' || tp->text[at] == '=')) {
    unexpected_at(tp, root, at);
    return;
  }
  uint32_t after = ts_node_end_byte(bad);
  while (after < tp->len && (tp->text[after] == ' ' || tp->text[after] == '\t')) after++;
  unexpected_at(tp, root, after);
}

/* TOML puts one key/value pair or header per line. The grammar's line-end token also
 * accepts a blank, so `a = 1 b = 2` parses; this restores the rule. */
static int check_line_end(tparse *tp, uint32_t at) {
  uint32_t k = at;
  while (k < tp->len && (tp->text[k] == ' ' || tp->text[k] == '\t')) k++;
  if (k >= tp->len || tp->text[k] == '\n' || tp->text[k] == '\r' || tp->text[k] == '#')
    return 0;
  return perr(tp, k, "TOML syntax error: expected the end of the line before `%.*s`",
              (int)strcspn(tp->text + k, " \t\r\n") > 30 ? 30
                                                         : (int)strcspn(tp->text + k, " \t\r\n"),
              tp->text + k);
}

/* Parses the whole document into a root table (NULL on error, tp->status says which). */
static tval *toml_parse(tparse *tp) {
  if (tp->len > UINT32_MAX - 1) {
    perr(tp, 0, "the file is too large");
    return NULL;
  }
  /* The tree-sitter runtime (0.20) corrupts its heap freeing the error tree of input nested
   * some 65536 brackets deep, so absurd nesting is refused before parsing. Counting every
   * bracket, quoted or not, bounds the depth without a second lexer; no configuration comes
   * near the limit (it is also far above MAX_DEPTH, which a valid file must respect). */
  size_t brackets = 0;
  for (size_t i = 0; i < tp->len; i++)
    if ((tp->text[i] == '[' || tp->text[i] == '{') && ++brackets > MAX_BRACKETS) {
      perr(tp, (uint32_t)i, "more than %d brackets: not a configuration file eqlint reads",
           MAX_BRACKETS);
      return NULL;
    }
  TSParser *parser = ts_parser_new();
  if (!parser) {
    pnomem(tp);
    return NULL;
  }
  tval *root = NULL;
  TSTree *tree = NULL;
  if (!ts_parser_set_language(parser, tree_sitter_toml())) {
    perr(tp, 0, "internal error: the TOML grammar does not match the tree-sitter library");
    goto done;
  }
  tree = ts_parser_parse_string(parser, NULL, tp->text, (uint32_t)tp->len);
  if (!tree) {
    pnomem(tp);
    goto done;
  }
  TSNode doc = ts_tree_root_node(tree);
  if (ts_node_has_error(doc)) {
    syntax_error(tp, doc);
    goto done;
  }
  if (!(root = tv_new(tp, TV_TABLE, 0))) goto done;
  root->origin = TB_HEADER;
  uint32_t c = ts_node_named_child_count(doc);
  for (uint32_t i = 0; i < c && !tp->status; i++) {
    TSNode ch = ts_node_named_child(doc, i);
    const char *type = ts_node_type(ch);
    if (strcmp(type, "pair") == 0) {
      if (insert_pair(tp, root, ch, TB_DOTTED, 0) == 0) check_line_end(tp, ts_node_end_byte(ch));
    } else if (strcmp(type, "table") == 0 || strcmp(type, "table_array_element") == 0) {
      bool array = type[5] == '_';
      uint32_t cc = ts_node_named_child_count(ch);
      tval *t = NULL;
      for (uint32_t j = 0; j < cc && !tp->status; j++) {
        TSNode part = ts_node_named_child(ch, j);
        const char *pt = ts_node_type(part);
        if (strcmp(pt, "comment") == 0) continue;
        if (!t) {
          t = open_header(tp, root, part, array);
          if (!t) break;
          /* after the closing bracket(s) of the header */
          TSNode close = ts_node_next_sibling(part);
          if (!ts_node_is_null(close) && check_line_end(tp, ts_node_end_byte(close)) < 0) break;
        } else if (strcmp(pt, "pair") == 0) {
          if (insert_pair(tp, t, part, TB_DOTTED, 0) == 0)
            check_line_end(tp, ts_node_end_byte(part));
        }
      }
    }
  }
done:
  if (tree) ts_tree_delete(tree);
  ts_parser_delete(parser);
  return tp->status ? NULL : root;
}

/* ------------------------------------------------------------------------------------ */
/* Paths                                                                                 */

/* `path` made absolute against `cwd` and normalised lexically ("a/./b/../c" -> "a/c"),
 * without resolving links: that is the path users see and patterns are written against.
 * Malloc'd; NULL when out of memory. */
static char *abs_path(const char *cwd, const char *path) {
  size_t a = strlen(cwd), b = strlen(path);
  char *joined = malloc(a + b + 2);
  if (!joined) return NULL;
  if (path[0] == '/') {
    memcpy(joined, path, b + 1);
  } else {
    memcpy(joined, cwd, a);
    joined[a] = '/';
    memcpy(joined + a + 1, path, b + 1);
  }
  char *out = malloc(strlen(joined) + 2);
  if (!out) {
    free(joined);
    return NULL;
  }
  size_t k = 0;
  out[k++] = '/';
  const char *p = joined;
  while (*p) {
    while (*p == '/') p++;
    if (!*p) break;
    const char *q = p;
    while (*q && *q != '/') q++;
    size_t n = (size_t)(q - p);
    if (n == 1 && p[0] == '.') {
      /* nothing */
    } else if (n == 2 && p[0] == '.' && p[1] == '.') {
      if (k > 1) {
        k--; /* the slash after the last segment */
        while (k > 1 && out[k - 1] != '/') k--;
      }
    } else {
      memcpy(out + k, p, n);
      k += n;
      out[k++] = '/';
    }
    p = q;
  }
  if (k > 1) k--; /* no trailing slash but for "/" itself */
  out[k] = 0;
  free(joined);
  return out;
}

/* The directory part of an absolute path ("/a/b" -> "/a", "/a" -> "/"). Malloc'd. */
static char *dir_name(const char *abs) {
  const char *slash = strrchr(abs, '/');
  size_t n = slash && slash != abs ? (size_t)(slash - abs) : 1;
  char *d = malloc(n + 1);
  if (!d) return NULL;
  memcpy(d, abs, n);
  d[n] = 0;
  return d;
}

/* `abs` relative to the directory `root` (both absolute and normalised), or NULL when it
 * is not below it. "" when abs is root itself. Points into abs. */
static const char *below(const char *root, const char *abs) {
  size_t n = strlen(root);
  if (n == 1) return abs + 1; /* root "/" */
  if (strncmp(abs, root, n) != 0) return NULL;
  if (abs[n] == 0) return abs + n;
  if (abs[n] != '/') return NULL;
  return abs + n + 1;
}

static char *current_dir(void) {
  size_t cap = 256;
  for (;;) {
    char *buf = malloc(cap);
    if (!buf) return NULL;
    if (getcwd(buf, cap)) return buf;
    free(buf);
    if (errno != ERANGE) return strdup("/"); /* the working directory was removed */
    cap *= 2;
  }
}

/* ------------------------------------------------------------------------------------ */
/* Globs                                                                                 */

/* Matches one character class starting after '['; returns the position after ']' and sets
 * *ok, or NULL when the class is unclosed. */
static const char *match_class(const char *p, char c, bool *ok) {
  bool negate = *p == '!' || *p == '^';
  if (negate) p++;
  bool hit = false;
  bool first = true;
  while (*p && (*p != ']' || first)) {
    first = false;
    char lo = *p;
    if (lo == '\\' && p[1]) lo = *++p;
    p++;
    char hi = lo;
    if (*p == '-' && p[1] && p[1] != ']') {
      hi = p[1];
      if (hi == '\\' && p[2]) {
        hi = p[2];
        p++;
      }
      p += 2;
    }
    if ((unsigned char)c >= (unsigned char)lo && (unsigned char)c <= (unsigned char)hi)
      hit = true;
  }
  if (*p != ']') return NULL;
  *ok = hit != negate && c != '/';
  return p + 1;
}

/* The matcher proper, over the whole of p and s. `*` stops at '/', `**` as a whole segment
 * crosses directories. Backtracking is exponential in the number of stars at worst, so a
 * shared step budget caps the work a hostile pattern can cause (no real pattern comes
 * near it). */
static bool glob_rec(const char *p, const char *s, long *budget) {
  if (--*budget <= 0) return false;
  while (*p) {
    if (p[0] == '*' && p[1] == '*') {
      bool seg_start = *(p - 1) == '/' || *(p - 1) == 0;
      const char *after = p + 2;
      if (seg_start && (*after == '/' || *after == 0)) {
        if (*after == 0) return true; /* "dir/" then "**": everything below */
        after++;                     /* "**\/x": zero or more directories, then x */
        for (const char *t = s;; t++) {
          if ((t == s || t[-1] == '/') && glob_rec(after, t, budget)) return true;
          if (!*t) return false;
        }
      }
      p++; /* "a**b" is "a*b" */
    }
    if (*p == '*') {
      p++;
      for (const char *t = s;; t++) {
        if (glob_rec(p, t, budget)) return true;
        if (!*t || *t == '/') return false;
      }
    }
    if (!*s) return false;
    if (*p == '?') {
      if (*s == '/') return false;
    } else if (*p == '[') {
      bool ok = false;
      const char *q = match_class(p + 1, *s, &ok);
      if (!q) return false;
      if (!ok) return false;
      p = q;
      s++;
      continue;
    } else {
      char want = *p;
      if (want == '\\' && p[1]) want = *++p;
      if (want != *s) return false;
    }
    p++;
    s++;
  }
  return *s == 0;
}

int eql_config_glob_check(const char *pattern) {
  for (const char *p = pattern; *p; p++) {
    if (*p == '\\') {
      if (!p[1]) return -1;
      p++;
    } else if (*p == '[') {
      bool ok;
      const char *q = match_class(p + 1, 'a', &ok);
      if (!q) return -1;
      p = q - 1;
    }
  }
  return 0;
}

bool eql_config_glob_match(const char *pattern, const char *path, bool is_dir) {
  /* Work on a copy with the decorations removed: a leading "./" or "/" (anchors, which a
   * pattern with a slash is anyway) and a trailing "/" (directories only). */
  while (pattern[0] == '.' && pattern[1] == '/') pattern += 2;
  bool anchored = false;
  while (pattern[0] == '/') {
    pattern++;
    anchored = true;
  }
  size_t n = strlen(pattern);
  bool dir_only = false;
  while (n > 0 && pattern[n - 1] == '/' && !(n > 1 && pattern[n - 2] == '\\')) {
    n--;
    dir_only = true;
  }
  if (n == 0 || (dir_only && !is_dir)) return false;
  char buf[1024];
  if (n >= sizeof buf) return false;
  /* buf[0] = 0 lets the matcher look one byte behind the pattern's start. */
  buf[0] = 0;
  memcpy(buf + 1, pattern, n);
  buf[n + 1] = 0;
  const char *p = buf + 1;
  while (path[0] == '.' && path[1] == '/') path += 2;
  bool has_slash = anchored || memchr(p, '/', n) != NULL;
  const char *subject = path;
  if (!has_slash) {
    const char *slash = strrchr(path, '/');
    subject = slash ? slash + 1 : path;
  }
  long budget = 100000;
  return glob_rec(p, subject, &budget);
}

/* ------------------------------------------------------------------------------------ */
/* Settings                                                                              */

/* One selector as read: the rules it stands for and how specific it is (ALL 0, a prefix
 * its length, a full code or a rule name the length of a code). */
typedef struct {
  const char *text;
  eql_ruleset rules;
  int specificity;
} selector;

typedef struct {
  selector *items;
  size_t n;
} selector_list;

typedef struct {
  const char *pattern; /* without the leading "!" */
  bool negated;        /* applies to files that do NOT match */
  eql_ruleset rules;
} file_ignore;

typedef struct {
  const char **items;
  size_t n;
} string_list;

/* Per-rule options: which rule reads which keys (all booleans for now). This table is what
 * validation and "did you mean" look at; docs/configuration.md documents each entry. */
static const char *const eqx013_options[] = {
    "exclude-tests", /* no reused-key reports in test files (eql_config_is_test_path) */
    NULL};
static const struct {
  const char *code;
  const char *const *options;
} rule_options[] = {
    {"EQX013", eqx013_options},
};
enum { N_RULE_OPTIONS = sizeof rule_options / sizeof *rule_options };

typedef struct {
  const char *code, *option; /* static strings from rule_options */
  bool value;
} rule_option;

struct eql_config {
  eql_arena *arena;
  const char *path; /* as given */
  const char *root; /* absolute directory */
  bool has_select;
  selector_list select, extend_select, ignore;
  file_ignore *file_ignores;
  size_t nfile_ignores;
  bool has_exclude;
  string_list exclude, extend_exclude;
  string_list src; /* absolute */
  int respect_gitignore; /* -1 when not set */
  int force_exclude;
  int fix, unsafe_fixes; /* -1 when not set */
  selector_list unfixable, extend_safe_fixes, extend_unsafe_fixes;
  /* The three lists above resolved once, when the file is read, since the filter consults
   * them for every diagnostic of every round of fixing: */
  eql_ruleset no_fix;                   /* unfixable */
  signed char safety[EQL_RULE_COUNT];   /* -1 as the rule says, else an eql_applicability */
  rule_option *options;
  size_t noptions;
};

/* What the built-in skipping of walk.c does by name (eql_walk_skip_dir), as patterns:
 * `exclude` replaces them, `extend-exclude` adds to them (Ruff's defaults work the same). */
static const char *const default_excludes[] = {".*/", "__pycache__/", "node_modules/",
                                               "site-packages/", "__pypackages__/"};

static const char *const top_keys[] = {
    "select", "extend-select", "ignore", "per-file-ignores", "exclude", "extend-exclude",
    "src", "respect-gitignore", "force-exclude", "fix", "unsafe-fixes", "unfixable",
    "extend-safe-fixes", "extend-unsafe-fixes", "rules", NULL};
enum { N_TOP_KEYS = sizeof top_keys / sizeof *top_keys - 1 };

const char *const *eql_config_known_keys(void) { return top_keys; }

/* The rule_options row of a code or rule name, or -1. */
static int option_row(const char *code) {
  int rule = eql_rule_find(code);
  const char *canon = rule >= 0 ? eql_rules[rule].code : code;
  for (size_t d = 0; d < N_RULE_OPTIONS; d++)
    if (strcasecmp(rule_options[d].code, canon) == 0) return (int)d;
  return -1;
}

const char *const *eql_config_rule_options(const char *code) {
  static const char *const none[] = {NULL};
  int row = option_row(code);
  return row >= 0 ? rule_options[row].options : none;
}

static size_t edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 63 || lb > 63) return SIZE_MAX;
  size_t prev[64], cur[64];
  for (size_t j = 0; j <= lb; j++) prev[j] = j;
  for (size_t i = 1; i <= la; i++) {
    cur[0] = i;
    for (size_t j = 1; j <= lb; j++) {
      size_t sub = prev[j - 1] + (tolower((unsigned char)a[i - 1]) !=
                                  tolower((unsigned char)b[j - 1]));
      size_t del = prev[j] + 1, ins = cur[j - 1] + 1;
      cur[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
    }
    memcpy(prev, cur, (lb + 1) * sizeof *prev);
  }
  return prev[lb];
}

/* The closest of `known` to `key` when it is close enough to be a typo, else NULL. */
static const char *suggest(const char *key, const char *const *known, size_t n) {
  const char *best = NULL;
  size_t best_d = SIZE_MAX;
  for (size_t i = 0; i < n; i++) {
    size_t d = edit_distance(key, known[i]);
    if (d < best_d) {
      best_d = d;
      best = known[i];
    }
  }
  size_t len = strlen(key);
  size_t limit = len < 6 ? 1 : len / 3;
  return best && best_d <= limit ? best : NULL;
}

typedef struct {
  tparse *tp;
  eql_config *cfg;
  const char *section; /* "[tool.eqlint]" or "" for messages */
} reader;

static int unknown_key(reader *r, const tentry *e, const char *where, const char *const *known,
                       size_t n) {
  const char *hint = suggest(e->key, known, n);
  if (hint)
    return perr(r->tp, e->key_byte, "unknown key `%s`%s%s (did you mean `%s`?)", e->key,
                *where ? " in " : "", where, hint);
  return perr(r->tp, e->key_byte, "unknown key `%s`%s%s", e->key, *where ? " in " : "", where);
}

/* The value of `e` as an array of strings (each non-empty and NUL-free). */
static int expect_strings(reader *r, const tentry *e, const char *name) {
  const tval *v = e->val;
  if (v->kind != TV_ARRAY)
    return perr(r->tp, v->byte, "`%s` must be an array of strings, not %s", name, kind_name(v));
  for (size_t i = 0; i < v->n; i++) {
    const tval *it = v->items[i];
    if (it->kind != TV_STRING)
      return perr(r->tp, it->byte, "`%s` must be an array of strings, but item %zu is %s", name,
                  i + 1, kind_name(it));
    if (it->len == 0) return perr(r->tp, it->byte, "`%s`: empty string", name);
    if (strlen(it->str) != it->len)
      return perr(r->tp, it->byte, "`%s`: a string must not contain NUL characters", name);
  }
  return 0;
}

/* How specific a valid selector is; see `selector`. */
static int selector_specificity(const char *text) {
  if (strcasecmp(text, "ALL") == 0) return 0;
  for (int i = 0; i < EQL_RULE_COUNT; i++)
    if (strcmp(eql_rules[i].name, text) == 0) return (int)strlen(eql_rules[i].code);
  return (int)strlen(text);
}

/* Resolves one selector; -1 when it names no rule. Items of a list must be single
 * selectors (no commas, no blanks), so this does not accept eql_ruleset_select's lists. */
static int selector_resolve(const char *text, selector *out) {
  if (!*text || strpbrk(text, ", \t\r\n")) return -1;
  if (eql_ruleset_select(&out->rules, text, NULL, 0) < 0) return -1;
  out->text = text;
  out->specificity = selector_specificity(text);
  return 0;
}

static int read_selectors(reader *r, const tentry *e, const char *name, selector_list *out) {
  if (expect_strings(r, e, name) < 0) return -1;
  const tval *v = e->val;
  out->n = 0;
  out->items = eql_arena_alloc(r->tp->arena, (v->n ? v->n : 1) * sizeof *out->items);
  if (!out->items) return pnomem(r->tp);
  for (size_t i = 0; i < v->n; i++) {
    const tval *it = v->items[i];
    if (selector_resolve(it->str, &out->items[out->n]) < 0) {
      if (strpbrk(it->str, ", \t\r\n"))
        return perr(r->tp, it->byte, "`%s`: `%s` holds several codes; write one per string",
                    name, it->str);
      return perr(r->tp, it->byte,
                  "`%s`: unknown rule code or prefix `%s` (run `eqlint rule --all` to list "
                  "the rules)",
                  name, it->str);
    }
    out->n++;
  }
  return 0;
}

static int read_globs(reader *r, const tentry *e, const char *name, string_list *out) {
  if (expect_strings(r, e, name) < 0) return -1;
  const tval *v = e->val;
  out->items = eql_arena_alloc(r->tp->arena, (v->n ? v->n : 1) * sizeof *out->items);
  if (!out->items) return pnomem(r->tp);
  out->n = 0;
  for (size_t i = 0; i < v->n; i++) {
    const tval *it = v->items[i];
    if (eql_config_glob_check(it->str) < 0)
      return perr(r->tp, it->byte, "`%s`: `%s` is not a valid glob (unclosed `[` or a "
                                   "trailing `\\`)", name, it->str);
    out->items[out->n++] = it->str;
  }
  return 0;
}

static int expect_bool(reader *r, const tentry *e, const char *name, int *out) {
  if (e->val->kind != TV_BOOLEAN)
    return perr(r->tp, e->val->byte, "`%s` must be a boolean (true or false), not %s", name,
                kind_name(e->val));
  *out = e->val->boolean;
  return 0;
}

static int read_file_ignores(reader *r, const tentry *e) {
  const tval *t = e->val;
  if (t->kind != TV_TABLE)
    return perr(r->tp, t->byte,
                "`per-file-ignores` must be a table of glob = [codes], not %s", kind_name(t));
  eql_config *cfg = r->cfg;
  cfg->file_ignores = eql_arena_alloc(r->tp->arena, (t->nent ? t->nent : 1) *
                                                       sizeof *cfg->file_ignores);
  if (!cfg->file_ignores) return pnomem(r->tp);
  for (size_t i = 0; i < t->nent; i++) {
    const tentry *pe = &t->entries[i];
    file_ignore *fi = &cfg->file_ignores[cfg->nfile_ignores];
    const char *pat = pe->key;
    fi->negated = pat[0] == '!';
    if (fi->negated) pat++;
    if (!*pat) return perr(r->tp, pe->key_byte, "`per-file-ignores`: empty glob");
    if (eql_config_glob_check(pat) < 0)
      return perr(r->tp, pe->key_byte, "`per-file-ignores`: `%s` is not a valid glob "
                                       "(unclosed `[` or a trailing `\\`)", pe->key);
    fi->pattern = pat;
    selector_list sl;
    char name[512];
    snprintf(name, sizeof name, "per-file-ignores.\"%s\"", pe->key);
    if (read_selectors(r, pe, name, &sl) < 0) return -1;
    memset(&fi->rules, 0, sizeof fi->rules);
    for (size_t k = 0; k < sl.n; k++)
      for (int rr = 0; rr < EQL_RULE_COUNT; rr++)
        if (sl.items[k].rules.on[rr]) fi->rules.on[rr] = true;
    cfg->nfile_ignores++;
  }
  return 0;
}

static int read_src(reader *r, const tentry *e) {
  if (expect_strings(r, e, "src") < 0) return -1;
  const tval *v = e->val;
  eql_config *cfg = r->cfg;
  cfg->src.items = eql_arena_alloc(r->tp->arena, (v->n ? v->n : 1) * sizeof *cfg->src.items);
  if (!cfg->src.items) return pnomem(r->tp);
  for (size_t i = 0; i < v->n; i++) {
    char *abs = abs_path(cfg->root, v->items[i]->str);
    if (!abs) return pnomem(r->tp);
    const char *kept = eql_arena_strdup(r->tp->arena, abs);
    free(abs);
    if (!kept) return pnomem(r->tp);
    cfg->src.items[cfg->src.n++] = kept;
  }
  return 0;
}

static int read_rule_options(reader *r, const tentry *e) {
  const tval *t = e->val;
  if (t->kind != TV_TABLE)
    return perr(r->tp, t->byte, "`rules` must be a table of rule tables ([%srules.EQX013]), "
                                "not %s", *r->section ? "tool.eqlint." : "", kind_name(t));
  eql_config *cfg = r->cfg;
  size_t total = 0;
  for (size_t i = 0; i < t->nent; i++)
    if (t->entries[i].val->kind == TV_TABLE) total += t->entries[i].val->nent;
  cfg->options = eql_arena_alloc(r->tp->arena, (total ? total : 1) * sizeof *cfg->options);
  if (!cfg->options) return pnomem(r->tp);
  const char *prefix = *r->section ? "tool.eqlint." : "";
  for (size_t i = 0; i < t->nent; i++) {
    const tentry *re = &t->entries[i];
    /* Options may be set for a rule of the catalogue that this build does not have yet:
     * the option table knows its code, and the setting waits for the rule. */
    int rule = eql_rule_find(re->key);
    const char *code = rule >= 0 ? eql_rules[rule].code : NULL;
    int row = code ? -1 : option_row(re->key);
    if (row >= 0) code = rule_options[row].code;
    if (!code)
      return perr(r->tp, re->key_byte, "[%srules.%s]: unknown rule `%s` (run `eqlint rule "
                                       "--all` to list the rules)", prefix, re->key, re->key);
    if (re->val->kind != TV_TABLE)
      return perr(r->tp, re->val->byte, "`rules.%s` must be a table of options, not %s",
                  re->key, kind_name(re->val));
    const char *const *known = eql_config_rule_options(code);
    size_t nknown = 0;
    while (known[nknown]) nknown++;
    for (size_t k = 0; k < re->val->nent; k++) {
      const tentry *oe = &re->val->entries[k];
      const char *option = NULL;
      for (size_t d = 0; d < nknown; d++)
        if (strcmp(known[d], oe->key) == 0) option = known[d];
      if (!option) {
        char where[128];
        snprintf(where, sizeof where, "[%srules.%s]", prefix, re->key);
        if (nknown == 0)
          return perr(r->tp, oe->key_byte, "unknown key `%s` in %s: %s has no options",
                      oe->key, where, code);
        return unknown_key(r, oe, where, known, nknown);
      }
      char name[128];
      snprintf(name, sizeof name, "rules.%s.%s", re->key, oe->key);
      int value = 0;
      if (expect_bool(r, oe, name, &value) < 0) return -1;
      cfg->options[cfg->noptions++] = (rule_option){code, option, value != 0};
    }
  }
  return 0;
}

/* Reads the settings table (the document, or its tool.eqlint). */
static int read_settings(reader *r, const tval *t) {
  eql_config *cfg = r->cfg;
  for (size_t i = 0; i < t->nent; i++) {
    const tentry *e = &t->entries[i];
    const char *k = e->key;
    int rc;
    if (strcmp(k, "select") == 0) {
      cfg->has_select = true;
      rc = read_selectors(r, e, k, &cfg->select);
    } else if (strcmp(k, "extend-select") == 0) {
      rc = read_selectors(r, e, k, &cfg->extend_select);
    } else if (strcmp(k, "ignore") == 0) {
      rc = read_selectors(r, e, k, &cfg->ignore);
    } else if (strcmp(k, "per-file-ignores") == 0) {
      rc = read_file_ignores(r, e);
    } else if (strcmp(k, "exclude") == 0) {
      cfg->has_exclude = true;
      rc = read_globs(r, e, k, &cfg->exclude);
    } else if (strcmp(k, "extend-exclude") == 0) {
      rc = read_globs(r, e, k, &cfg->extend_exclude);
    } else if (strcmp(k, "src") == 0) {
      rc = read_src(r, e);
    } else if (strcmp(k, "respect-gitignore") == 0) {
      rc = expect_bool(r, e, k, &cfg->respect_gitignore);
    } else if (strcmp(k, "force-exclude") == 0) {
      rc = expect_bool(r, e, k, &cfg->force_exclude);
    } else if (strcmp(k, "fix") == 0) {
      rc = expect_bool(r, e, k, &cfg->fix);
    } else if (strcmp(k, "unsafe-fixes") == 0) {
      rc = expect_bool(r, e, k, &cfg->unsafe_fixes);
    } else if (strcmp(k, "unfixable") == 0) {
      rc = read_selectors(r, e, k, &cfg->unfixable);
    } else if (strcmp(k, "extend-safe-fixes") == 0) {
      rc = read_selectors(r, e, k, &cfg->extend_safe_fixes);
    } else if (strcmp(k, "extend-unsafe-fixes") == 0) {
      rc = read_selectors(r, e, k, &cfg->extend_unsafe_fixes);
    } else if (strcmp(k, "rules") == 0) {
      rc = read_rule_options(r, e);
    } else {
      rc = unknown_key(r, e, r->section, top_keys, N_TOP_KEYS);
    }
    if (rc < 0) return -1;
  }
  return 0;
}

/* Ruff's FixSafetyTable: a rule takes the override of the most specific selector that
 * names it, and when a safe and an unsafe selector are equally specific the unsafe one
 * wins, because promoting a fix by accident can rewrite code wrongly while demoting one
 * only asks for a flag. Without `fixable` (which eqlint does not have) every rule is
 * fixable but the unfixable ones, so specificity does not matter there. */
static void resolve_fix_settings(eql_config *cfg) {
  memset(&cfg->no_fix, 0, sizeof cfg->no_fix);
  for (size_t i = 0; i < cfg->unfixable.n; i++)
    for (int r = 0; r < EQL_RULE_COUNT; r++)
      if (cfg->unfixable.items[i].rules.on[r]) cfg->no_fix.on[r] = true;
  memset(cfg->safety, -1, sizeof cfg->safety);
  int spec[EQL_RULE_COUNT] = {0};
  const struct {
    const selector_list *list;
    eql_applicability to;
  } lists[] = {{&cfg->extend_safe_fixes, EQL_FIX_SAFE},
               {&cfg->extend_unsafe_fixes, EQL_FIX_UNSAFE}};
  for (size_t k = 0; k < sizeof lists / sizeof *lists; k++)
    for (size_t i = 0; i < lists[k].list->n; i++) {
      const selector *sel = &lists[k].list->items[i];
      for (int r = 0; r < EQL_RULE_COUNT; r++) {
        if (!sel->rules.on[r]) continue;
        bool take = cfg->safety[r] < 0 || sel->specificity > spec[r] ||
                    (sel->specificity == spec[r] && lists[k].to == EQL_FIX_UNSAFE);
        if (take) {
          cfg->safety[r] = (signed char)lists[k].to;
          spec[r] = sel->specificity;
        }
      }
    }
}

/* What the file's configuration says about d's fix (nothing without a fix or a config). */
static void apply_fix_settings(const eql_config *cfg, eql_diag *d) {
  if (!cfg || !d->fix || d->rule < 0 || d->rule >= EQL_RULE_COUNT) return;
  if (cfg->no_fix.on[d->rule]) {
    eql_diag_drop_fix(d);
    return;
  }
  if (cfg->safety[d->rule] >= 0)
    d->fix->applicability = (eql_applicability)cfg->safety[d->rule];
}

static bool is_pyproject(const char *path) {
  const char *slash = strrchr(path, '/');
  return strcmp(slash ? slash + 1 : path, "pyproject.toml") == 0;
}

/* Parses with the display path `path` and the absolute directory `root`. */
static eql_config_status parse_at(const char *path, const char *root, const char *text,
                                  size_t len, eql_config **out, eql_config_error *err) {
  *out = NULL;
  eql_config *cfg = calloc(1, sizeof *cfg);
  eql_arena *arena = eql_arena_new();
  if (!cfg || !arena) {
    free(cfg);
    eql_arena_free(arena);
    error_set(err, path, 0, 0, "out of memory");
    return EQL_CONFIG_NOMEM;
  }
  cfg->arena = arena;
  cfg->respect_gitignore = -1;
  cfg->force_exclude = -1;
  cfg->fix = -1;
  cfg->unsafe_fixes = -1;
  cfg->path = eql_arena_strdup(arena, path);
  cfg->root = eql_arena_strdup(arena, root);
  /* A UTF-8 byte-order mark (Windows editors write one) is not part of the document, and
   * columns on the first line must not count it. */
  if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
    text += 3;
    len -= 3;
  }
  tparse tp = {path, text, len, arena, err, 0};
  if (!cfg->path || !cfg->root) pnomem(&tp);
  tval *doc = tp.status ? NULL : toml_parse(&tp);
  eql_config_status st = EQL_CONFIG_OK;
  if (!doc) {
    st = (eql_config_status)tp.status;
  } else {
    const tval *settings = doc;
    reader r = {&tp, cfg, ""};
    if (is_pyproject(path)) {
      r.section = "[tool.eqlint]";
      const tentry *tool = table_get(doc, "tool");
      const tentry *mine = tool && tool->val->kind == TV_TABLE ? table_get(tool->val, "eqlint")
                                                               : NULL;
      if (!mine) {
        st = EQL_CONFIG_NONE;
      } else if (mine->val->kind != TV_TABLE) {
        perr(&tp, mine->val->byte, "`tool.eqlint` must be a table, not %s",
             kind_name(mine->val));
      } else {
        settings = mine->val;
      }
    }
    if (st == EQL_CONFIG_OK && !tp.status && read_settings(&r, settings) == 0)
      resolve_fix_settings(cfg);
    if (tp.status) st = (eql_config_status)tp.status;
  }
  if (st != EQL_CONFIG_OK) {
    eql_config_free(cfg);
    return st;
  }
  *out = cfg;
  return EQL_CONFIG_OK;
}

static eql_config_status root_of(const char *path, char **root, eql_config_error *err) {
  char *cwd = current_dir();
  char *abs = cwd ? abs_path(cwd, path) : NULL;
  *root = abs ? dir_name(abs) : NULL;
  free(cwd);
  free(abs);
  if (!*root) {
    error_set(err, path, 0, 0, "out of memory");
    return EQL_CONFIG_NOMEM;
  }
  return EQL_CONFIG_OK;
}

eql_config_status eql_config_parse(const char *path, const char *text, size_t len,
                                   eql_config **out, eql_config_error *err) {
  char *root;
  *out = NULL;
  eql_config_status st = root_of(path, &root, err);
  if (st != EQL_CONFIG_OK) return st;
  st = parse_at(path, root, text, len, out, err);
  free(root);
  return st;
}

/* Reads `file` (any path that opens) and parses it as `display` under `root`. */
static eql_config_status load_at(const char *display, const char *file, const char *root,
                                 eql_config **out, eql_config_error *err) {
  *out = NULL;
  FILE *f = fopen(file, "rb");
  if (!f) {
    error_set(err, display, 0, 0, "cannot read the configuration file: %s", strerror(errno));
    return EQL_CONFIG_IO;
  }
  char *buf = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    if (len == cap) {
      size_t ncap = cap ? cap * 2 : 4096;
      char *nb = realloc(buf, ncap + 1);
      if (!nb) {
        free(buf);
        fclose(f);
        error_set(err, display, 0, 0, "out of memory");
        return EQL_CONFIG_NOMEM;
      }
      buf = nb;
      cap = ncap;
    }
    size_t got = fread(buf + len, 1, cap - len, f);
    len += got;
    if (got == 0) break;
  }
  int bad = ferror(f);
  int saved = errno;
  fclose(f);
  if (bad) {
    free(buf);
    error_set(err, display, 0, 0, "cannot read the configuration file: %s", strerror(saved));
    return EQL_CONFIG_IO;
  }
  buf[len] = 0;
  eql_config_status st = parse_at(display, root, buf, len, out, err);
  free(buf);
  return st;
}

eql_config_status eql_config_load(const char *path, eql_config **out, eql_config_error *err) {
  char *root;
  *out = NULL;
  eql_config_status st = root_of(path, &root, err);
  if (st != EQL_CONFIG_OK) return st;
  st = load_at(path, path, root, out, err);
  free(root);
  return st;
}

void eql_config_free(eql_config *cfg) {
  if (!cfg) return;
  eql_arena_free(cfg->arena);
  free(cfg);
}

const char *eql_config_path(const eql_config *cfg) { return cfg->path; }
const char *eql_config_root(const eql_config *cfg) { return cfg->root; }
int eql_config_fix(const eql_config *cfg) { return cfg ? cfg->fix : -1; }
int eql_config_unsafe_fixes(const eql_config *cfg) { return cfg ? cfg->unsafe_fixes : -1; }

bool eql_config_rule_option_bool(const eql_config *cfg, const char *code, const char *option,
                                 bool dflt) {
  if (!cfg) return dflt;
  int rule = eql_rule_find(code);
  const char *canon = rule >= 0 ? eql_rules[rule].code : code;
  bool value = dflt;
  for (size_t i = 0; i < cfg->noptions; i++)
    if (strcasecmp(cfg->options[i].code, canon) == 0 &&
        strcmp(cfg->options[i].option, option) == 0)
      value = cfg->options[i].value;
  return value;
}

/* ------------------------------------------------------------------------------------ */
/* Rule selection                                                                        */

/* The command line's comma lists, one selector at a time: copies the next one into buf
 * (truncated to its size) and returns the position after it, or NULL at the end. */
static const char *next_selector(const char *p, char *buf, size_t cap) {
  while (*p == ',' || isspace((unsigned char)*p)) p++;
  if (!*p) return NULL;
  const char *q = p;
  while (*q && *q != ',' && !isspace((unsigned char)*q)) q++;
  size_t n = (size_t)(q - p);
  if (n >= cap) n = cap - 1;
  memcpy(buf, p, n);
  buf[n] = 0;
  return q;
}

int eql_config_cli_check(const eql_config_cli *cli, eql_config_error *err) {
  if (!cli) return 0;
  struct {
    const char *name;
    const char *const *lists;
    size_t n;
  } opts[] = {{"--select", cli->select, cli->nselect},
              {"--extend-select", cli->extend_select, cli->nextend_select},
              {"--ignore", cli->ignore, cli->nignore}};
  for (size_t o = 0; o < sizeof opts / sizeof *opts; o++)
    for (size_t i = 0; i < opts[o].n; i++) {
      char buf[128];
      for (const char *p = opts[o].lists[i]; (p = next_selector(p, buf, sizeof buf));) {
        selector sel;
        if (selector_resolve(buf, &sel) < 0) {
          error_set(err, "", 0, 0,
                    "%s: unknown rule code or prefix '%s' (run 'eqlint rule --all' to list "
                    "the rules)",
                    opts[o].name, buf);
          return -1;
        }
      }
    }
  return 0;
}

/* One layer of selection (a config file, or the command line), as Ruff applies it: for each
 * level of specificity from ALL up to full codes, the layer's selects then its ignores set
 * the rules they match, so the most specific selector decides and ignore wins a tie. A
 * layer with `select` starts from nothing; one without modifies what it is given. */
typedef struct {
  signed char state[EQL_RULE_COUNT]; /* -1 untouched, 0 off, 1 on */
} layer;

static void layer_mark(layer *l, const eql_ruleset *rules, bool on) {
  for (int r = 0; r < EQL_RULE_COUNT; r++)
    if (rules->on[r]) l->state[r] = on ? 1 : 0;
}

static void layer_finish(const layer *l, bool has_select, eql_ruleset *rs) {
  for (int r = 0; r < EQL_RULE_COUNT; r++) {
    if (has_select)
      rs->on[r] = l->state[r] == 1;
    else if (l->state[r] >= 0)
      rs->on[r] = l->state[r] == 1;
  }
}

enum { MAX_SPECIFICITY = 16 };

static void mark_list(layer *l, const selector_list *sl, int spec, bool on) {
  for (size_t i = 0; i < sl->n; i++)
    if (sl->items[i].specificity == spec) layer_mark(l, &sl->items[i].rules, on);
}

static void mark_cli(layer *l, const char *const *lists, size_t n, int spec, bool on) {
  for (size_t i = 0; i < n; i++) {
    char buf[128];
    for (const char *p = lists[i]; (p = next_selector(p, buf, sizeof buf));) {
      selector sel;
      if (selector_resolve(buf, &sel) == 0 && sel.specificity == spec)
        layer_mark(l, &sel.rules, on);
    }
  }
}

/* The ruleset for the absolute path `abs`. */
static void ruleset_abs(const eql_config *cfg, const eql_config_cli *cli, const char *abs,
                        eql_ruleset *out) {
  eql_ruleset_all(out);
  if (cfg) {
    layer l;
    memset(l.state, -1, sizeof l.state);
    for (int spec = 0; spec <= MAX_SPECIFICITY; spec++) {
      mark_list(&l, &cfg->select, spec, true);
      mark_list(&l, &cfg->extend_select, spec, true);
      mark_list(&l, &cfg->ignore, spec, false);
    }
    layer_finish(&l, cfg->has_select, out);
  }
  if (cli) {
    layer l;
    memset(l.state, -1, sizeof l.state);
    for (int spec = 0; spec <= MAX_SPECIFICITY; spec++) {
      mark_cli(&l, cli->select, cli->nselect, spec, true);
      mark_cli(&l, cli->extend_select, cli->nextend_select, spec, true);
      mark_cli(&l, cli->ignore, cli->nignore, spec, false);
    }
    layer_finish(&l, cli->nselect > 0, out);
  }
  if (!cfg) return;
  /* Outside the config's directory (with --config) only base-name patterns can match. */
  const char *rel = below(cfg->root, abs);
  if (!rel) rel = abs;
  for (size_t i = 0; i < cfg->nfile_ignores; i++) {
    const file_ignore *fi = &cfg->file_ignores[i];
    if (eql_config_glob_match(fi->pattern, rel, false) != fi->negated)
      for (int r = 0; r < EQL_RULE_COUNT; r++)
        if (fi->rules.on[r]) out->on[r] = false;
  }
  if (eql_config_rule_option_bool(cfg, "EQX013", "exclude-tests", false) &&
      eql_config_is_test_path(rel)) {
    int r = eql_rule_find("EQX013");
    if (r >= 0) out->on[r] = false;
  }
}

void eql_config_ruleset(const eql_config *cfg, const eql_config_cli *cli, const char *path,
                        eql_ruleset *out) {
  char *cwd = current_dir();
  char *abs = cwd ? abs_path(cwd, path) : NULL;
  /* Out of memory: the path as given still matches base-name patterns. */
  ruleset_abs(cfg, cli, abs ? abs : path, out);
  free(abs);
  free(cwd);
}

bool eql_config_is_test_path(const char *path) {
  const char *slash = strrchr(path, '/');
  const char *base = slash ? slash + 1 : path;
  size_t n = strlen(base);
  if (strncmp(base, "test_", 5) == 0 || strcmp(base, "conftest.py") == 0 ||
      (n > 8 && strcmp(base + n - 8, "_test.py") == 0))
    return true;
  for (const char *p = path; p < base;) {
    const char *q = strchr(p, '/');
    if (!q || q >= base) break;
    size_t len = (size_t)(q - p);
    if ((len == 5 && strncmp(p, "tests", 5) == 0) || (len == 4 && strncmp(p, "test", 4) == 0))
      return true;
    p = q + 1;
  }
  return false;
}

/* ------------------------------------------------------------------------------------ */
/* Exclusion                                                                             */

static bool match_any(const char *const *pats, size_t n, const char *rel, bool is_dir) {
  for (size_t i = 0; i < n; i++)
    if (eql_config_glob_match(pats[i], rel, is_dir)) return true;
  return false;
}

static bool excluded_rel(const eql_config *cfg, const char *rel, bool is_dir) {
  if (!*rel) return false;
  if (cfg && cfg->has_exclude) {
    if (match_any(cfg->exclude.items, cfg->exclude.n, rel, is_dir)) return true;
  } else if (match_any(default_excludes, sizeof default_excludes / sizeof *default_excludes,
                       rel, is_dir)) {
    return true;
  }
  return cfg && match_any(cfg->extend_exclude.items, cfg->extend_exclude.n, rel, is_dir);
}

/* `abs` against the patterns of cfg (root: cfg's directory, or `cwd` without a config). */
static bool excludes_abs(const eql_config *cfg, const char *cwd, const char *abs, bool is_dir,
                         bool ancestors) {
  const char *root = cfg ? cfg->root : cwd;
  const char *rel = below(root, abs);
  if (!rel) return excluded_rel(cfg, abs, is_dir); /* base-name patterns only */
  if (excluded_rel(cfg, rel, is_dir)) return true;
  if (!ancestors) return false;
  /* Each directory between the root and the path, shortest first. */
  char *copy = strdup(rel);
  if (!copy) return false;
  bool hit = false;
  for (char *slash = strchr(copy, '/'); slash && !hit; slash = strchr(slash + 1, '/')) {
    *slash = 0;
    hit = excluded_rel(cfg, copy, true);
    *slash = '/';
  }
  free(copy);
  return hit;
}

bool eql_config_excludes(const eql_config *cfg, const char *path, bool is_dir, bool ancestors) {
  char *cwd = current_dir();
  char *abs = cwd ? abs_path(cwd, path) : NULL;
  bool hit = abs && excludes_abs(cfg, cwd, abs, is_dir, ancestors);
  free(abs);
  free(cwd);
  return hit;
}

/* ------------------------------------------------------------------------------------ */
/* The store                                                                             */

typedef struct {
  char *dir;               /* absolute */
  const eql_config *cfg;   /* may be NULL: no configuration applies there */
} dir_entry;

struct eql_config_store {
  char *cwd;
  eql_config_cli cli;
  bool isolated, force_exclude;
  eql_config *forced; /* --config */
  eql_config **owned;
  size_t nowned, capowned;
  dir_entry *slots; /* open addressing on the directory string */
  size_t nslots, capslots;
  bool failed;
  bool nomem; /* the failure is out of memory, not a configuration problem */
  eql_config_error error;
};

static size_t str_hash(const char *s) {
  size_t h = 1469598103934665603ull;
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static dir_entry *cache_find(eql_config_store *s, const char *dir) {
  if (!s->capslots) return NULL;
  for (size_t j = str_hash(dir) & (s->capslots - 1);; j = (j + 1) & (s->capslots - 1)) {
    if (!s->slots[j].dir) return NULL;
    if (strcmp(s->slots[j].dir, dir) == 0) return &s->slots[j];
  }
}

static int cache_put(eql_config_store *s, const char *dir, const eql_config *cfg) {
  if ((s->nslots + 1) * 2 > s->capslots) {
    size_t cap = s->capslots ? s->capslots * 2 : 64;
    dir_entry *slots = calloc(cap, sizeof *slots);
    if (!slots) return -1;
    for (size_t i = 0; i < s->capslots; i++) {
      if (!s->slots[i].dir) continue;
      size_t j = str_hash(s->slots[i].dir) & (cap - 1);
      while (slots[j].dir) j = (j + 1) & (cap - 1);
      slots[j] = s->slots[i];
    }
    free(s->slots);
    s->slots = slots;
    s->capslots = cap;
  }
  char *copy = strdup(dir);
  if (!copy) return -1;
  size_t j = str_hash(dir) & (s->capslots - 1);
  while (s->slots[j].dir) j = (j + 1) & (s->capslots - 1);
  s->slots[j] = (dir_entry){copy, cfg};
  s->nslots++;
  return 0;
}

static int store_fail(eql_config_store *s, const eql_config_error *err) {
  if (!s->failed) {
    s->failed = true;
    s->error = *err;
  }
  return -1;
}

static int store_nomem(eql_config_store *s) {
  if (!s->failed) s->nomem = true;
  eql_config_error e;
  error_set(&e, "", 0, 0, "out of memory");
  return store_fail(s, &e);
}

static int store_own(eql_config_store *s, eql_config *cfg) {
  if (s->nowned == s->capowned) {
    size_t cap = s->capowned ? s->capowned * 2 : 8;
    eql_config **o = realloc(s->owned, cap * sizeof *o);
    if (!o) return -1;
    s->owned = o;
    s->capowned = cap;
  }
  s->owned[s->nowned++] = cfg;
  return 0;
}

/* `abs` as users should read it: relative to the working directory when below it. */
static char *display_path(const eql_config_store *s, const char *abs) {
  const char *rel = below(s->cwd, abs);
  return strdup(rel && *rel ? rel : abs);
}

/* Ruff's order in one directory: the dedicated files before pyproject.toml. */
static const char *const config_names[] = {".eqlint.toml", "eqlint.toml", "pyproject.toml"};

/* The configuration for the absolute directory `dir`. */
static int find_for_dir(eql_config_store *s, const char *dir, const eql_config **out) {
  *out = NULL;
  if (s->failed) return -1;
  if (s->isolated) return 0;
  if (s->forced) {
    *out = s->forced;
    return 0;
  }
  dir_entry *hit = cache_find(s, dir);
  if (hit) {
    *out = hit->cfg;
    return 0;
  }
  const eql_config *found = NULL;
  bool have = false;
  for (size_t i = 0; i < sizeof config_names / sizeof *config_names && !have; i++) {
    size_t n = strlen(dir);
    char *file = malloc(n + strlen(config_names[i]) + 2);
    if (!file) return store_nomem(s);
    sprintf(file, "%s%s%s", dir, n > 1 ? "/" : "", config_names[i]);
    struct stat st;
    if (stat(file, &st) != 0 || !S_ISREG(st.st_mode)) {
      free(file);
      continue;
    }
    char *display = display_path(s, file);
    eql_config *cfg = NULL;
    eql_config_error err;
    eql_config_status status =
        display ? load_at(display, file, dir, &cfg, &err) : EQL_CONFIG_NOMEM;
    free(display);
    free(file);
    if (status == EQL_CONFIG_NONE) continue;
    if (status != EQL_CONFIG_OK) {
      if (status == EQL_CONFIG_NOMEM) return store_nomem(s);
      return store_fail(s, &err);
    }
    if (store_own(s, cfg) < 0) {
      eql_config_free(cfg);
      return store_nomem(s);
    }
    found = cfg;
    have = true;
  }
  if (!have && strcmp(dir, "/") != 0) {
    char *parent = dir_name(dir);
    if (!parent) return store_nomem(s);
    int rc = find_for_dir(s, parent, &found);
    free(parent);
    if (rc < 0) return -1;
  }
  if (cache_put(s, dir, found) < 0) return store_nomem(s);
  *out = found;
  return 0;
}

eql_config_status eql_config_store_new(const eql_config_options *opt, eql_config_store **out,
                                       eql_config_error *err) {
  *out = NULL;
  static const eql_config_options none = {0};
  if (!opt) opt = &none;
  if (eql_config_cli_check(&opt->cli, err) < 0) return EQL_CONFIG_INVALID;
  eql_config_store *s = calloc(1, sizeof *s);
  if (!s || !(s->cwd = current_dir())) {
    free(s);
    error_set(err, "", 0, 0, "out of memory");
    return EQL_CONFIG_NOMEM;
  }
  s->cli = opt->cli;
  s->isolated = opt->isolated;
  s->force_exclude = opt->force_exclude;
  if (opt->config_path && !opt->isolated) {
    eql_config_status st = eql_config_load(opt->config_path, &s->forced, err);
    if (st == EQL_CONFIG_NONE) {
      error_set(err, opt->config_path, 0, 0,
                "no [tool.eqlint] table in this pyproject.toml (given with --config)");
      st = EQL_CONFIG_INVALID;
    }
    if (st != EQL_CONFIG_OK) {
      eql_config_store_free(s);
      return st;
    }
  }
  *out = s;
  return EQL_CONFIG_OK;
}

void eql_config_store_free(eql_config_store *s) {
  if (!s) return;
  for (size_t i = 0; i < s->nowned; i++) eql_config_free(s->owned[i]);
  free(s->owned);
  for (size_t i = 0; i < s->capslots; i++) free(s->slots[i].dir);
  free(s->slots);
  eql_config_free(s->forced);
  free(s->cwd);
  free(s);
}

/* The configuration for the entry at absolute path `abs`: its directory's. */
static int find_for_abs(eql_config_store *s, const char *abs, const eql_config **out) {
  char *dir = dir_name(abs);
  if (!dir) return store_nomem(s);
  int rc = find_for_dir(s, dir, out);
  free(dir);
  return rc;
}

/* The configuration for the file `path` (no stat: it need not exist). */
static int find_for_file(eql_config_store *s, const char *path, const eql_config **out) {
  char *abs = abs_path(s->cwd, path);
  int rc = abs ? find_for_abs(s, abs, out) : store_nomem(s);
  free(abs);
  return rc;
}

int eql_config_store_find(eql_config_store *s, const char *path, const eql_config **out,
                          eql_config_error *err) {
  *out = NULL;
  char *abs = abs_path(s->cwd, path);
  struct stat st;
  /* A directory's settings include the file inside it: "." must find ./eqlint.toml. */
  int rc = !abs                                           ? store_nomem(s)
           : stat(abs, &st) == 0 && S_ISDIR(st.st_mode) ? find_for_dir(s, abs, out)
                                                          : find_for_abs(s, abs, out);
  free(abs);
  if (rc < 0 && err) *err = s->error;
  return rc;
}

int eql_config_store_ruleset(eql_config_store *s, const char *path, eql_ruleset *out,
                             eql_config_error *err) {
  const eql_config *cfg = NULL;
  char *abs = abs_path(s->cwd, path);
  int rc = abs ? find_for_abs(s, abs, &cfg) : store_nomem(s);
  if (rc == 0) ruleset_abs(cfg, &s->cli, abs, out);
  free(abs);
  if (rc < 0 && err) *err = s->error;
  return rc;
}

int eql_config_store_dir_ruleset(eql_config_store *s, const char *dir, eql_ruleset *out,
                                 eql_config_error *err) {
  const eql_config *cfg = NULL;
  char *abs = abs_path(s->cwd, dir);
  int rc = abs ? find_for_dir(s, abs, &cfg) : store_nomem(s);
  free(abs);
  if (rc < 0) {
    if (err) *err = s->error;
    return -1;
  }
  /* The same config minus what depends on a file's path (a shallow copy: nothing freed). */
  eql_config plain;
  if (cfg) {
    plain = *cfg;
    plain.nfile_ignores = 0;
    plain.noptions = 0;
  }
  ruleset_abs(cfg ? &plain : NULL, &s->cli, "/", out);
  return 0;
}

typedef struct {
  const char *path;
  const eql_config *cfg; /* the file's own: its fix settings apply to its diagnostics */
  eql_ruleset rules;
} path_rules;

static int cmp_path_rules(const void *a, const void *b) {
  return strcmp(((const path_rules *)a)->path, ((const path_rules *)b)->path);
}

/* The rulesets of `paths`, sorted by path for lookups. NULL on failure (store failed). */
static path_rules *rules_of(eql_config_store *s, const char *const *paths, size_t n) {
  path_rules *pr = malloc((n ? n : 1) * sizeof *pr);
  if (!pr) {
    store_nomem(s);
    return NULL;
  }
  for (size_t i = 0; i < n; i++) {
    pr[i].path = paths[i];
    pr[i].cfg = NULL;
    char *abs = abs_path(s->cwd, paths[i]);
    int rc = abs ? find_for_abs(s, abs, &pr[i].cfg) : store_nomem(s);
    if (rc == 0) ruleset_abs(pr[i].cfg, &s->cli, abs, &pr[i].rules);
    free(abs);
    if (rc < 0) {
      free(pr);
      return NULL;
    }
  }
  qsort(pr, n, sizeof *pr, cmp_path_rules);
  return pr;
}

int eql_config_store_union(eql_config_store *s, const char *const *paths, size_t npaths,
                           eql_ruleset *out, eql_config_error *err) {
  memset(out, 0, sizeof *out);
  path_rules *pr = rules_of(s, paths, npaths);
  if (!pr) {
    if (err) *err = s->error;
    return -1;
  }
  for (size_t i = 0; i < npaths; i++)
    for (int r = 0; r < EQL_RULE_COUNT; r++) out->on[r] = out->on[r] || pr[i].rules.on[r];
  free(pr);
  return 0;
}

int eql_config_store_filter(eql_config_store *s, const char *const *paths, size_t npaths,
                            eql_diag_list *diags, eql_config_error *err) {
  path_rules *pr = rules_of(s, paths, npaths);
  eql_diag_list dropped;
  eql_diag_list_init(&dropped);
  if (pr && diags->n) dropped.items = malloc(diags->n * sizeof *dropped.items);
  if (!pr || (diags->n && !dropped.items)) {
    if (pr) store_nomem(s);
    free(pr);
    if (err) *err = s->error;
    return -1;
  }
  /* Partition in place; what is dropped moves (with its strings) to a list of its own so
   * the list's own destructor frees it, whatever a diagnostic comes to own. */
  size_t kept = 0;
  for (size_t i = 0; i < diags->n; i++) {
    eql_diag *d = &diags->items[i];
    path_rules key = {d->path, NULL, {{0}}};
    const path_rules *hit =
        d->path ? bsearch(&key, pr, npaths, sizeof *pr, cmp_path_rules) : NULL;
    bool keep = hit && d->rule >= 0 && d->rule < EQL_RULE_COUNT && hit->rules.on[d->rule];
    if (keep) {
      apply_fix_settings(hit->cfg, d);
      diags->items[kept++] = *d;
    } else {
      dropped.items[dropped.n++] = *d;
    }
  }
  diags->n = kept;
  dropped.cap = dropped.n;
  eql_diag_list_free(&dropped);
  free(pr);
  return 0;
}

/* walk.c's exclusion hook. A configuration error skips the entry and marks the store
 * failed; the walk is then abandoned by the caller. */
static bool store_exclude(void *ud, const char *path, bool is_dir, bool explicit_path) {
  eql_config_store *s = ud;
  if (s->failed) return true;
  char *abs = abs_path(s->cwd, path);
  if (!abs) {
    store_nomem(s);
    return true;
  }
  const eql_config *cfg = NULL;
  bool hit = find_for_abs(s, abs, &cfg) < 0 || excludes_abs(cfg, s->cwd, abs, is_dir,
                                                             explicit_path);
  free(abs);
  return hit;
}

typedef struct {
  dev_t dev;
  ino_t ino;
} file_id;

static int cmp_id(const void *a, const void *b) {
  const file_id *x = a, *y = b;
  if (x->dev != y->dev) return x->dev < y->dev ? -1 : 1;
  if (x->ino != y->ino) return x->ino < y->ino ? -1 : 1;
  return 0;
}

static int move_path(eql_walk_files *to, char *path) {
  if (to->n == to->cap) {
    size_t cap = to->cap ? to->cap * 2 : 64;
    char **p = realloc(to->paths, cap * sizeof *p);
    if (!p) return -1;
    to->paths = p;
    to->cap = cap;
  }
  to->paths[to->n++] = path;
  return 0;
}

/* Walks the `src` roots of the configurations of the files in `check` into `index_only`,
 * leaving out files already in `check`. 0 or -1 (out of memory or config error). */
static int walk_src(eql_config_store *s, const eql_walk_options *wo,
                    const char *const *checked, size_t nchecked, eql_walk_files *index_only) {
  const eql_config **cfgs = NULL;
  size_t ncfgs = 0;
  char **roots = NULL;
  size_t nroots = 0, caproots = 0;
  file_id *ids = NULL;
  eql_walk_files found;
  eql_walk_files_init(&found);
  int rc = -1;
  cfgs = calloc(nchecked + 1, sizeof *cfgs);
  if (!cfgs) goto nomem;
  for (size_t i = 0; i < nchecked; i++) {
    const eql_config *cfg;
    if (find_for_file(s, checked[i], &cfg) < 0) goto done;
    if (!cfg || !cfg->src.n) continue;
    size_t k = 0;
    while (k < ncfgs && cfgs[k] != cfg) k++;
    if (k == ncfgs) cfgs[ncfgs++] = cfg;
  }
  for (size_t c = 0; c < ncfgs; c++)
    for (size_t i = 0; i < cfgs[c]->src.n; i++) {
      struct stat st;
      /* A configured root that does not exist (yet) is not a problem of this run. */
      if (stat(cfgs[c]->src.items[i], &st) != 0 || !S_ISDIR(st.st_mode)) continue;
      char *d = display_path(s, cfgs[c]->src.items[i]);
      if (!d) goto nomem;
      bool dup = false;
      for (size_t k = 0; k < nroots && !dup; k++) dup = strcmp(roots[k], d) == 0;
      if (dup) {
        free(d);
        continue;
      }
      if (nroots == caproots) {
        size_t cap = caproots ? caproots * 2 : 8;
        char **r = realloc(roots, cap * sizeof *r);
        if (!r) {
          free(d);
          goto nomem;
        }
        roots = r;
        caproots = cap;
      }
      roots[nroots++] = d;
    }
  if (nroots == 0) {
    rc = 0;
    goto done;
  }
  eql_walk_options src_opts = *wo;
  src_opts.force_exclude = false; /* the roots come from the config, not the user */
  if (eql_walk_ex((const char *const *)roots, nroots, &src_opts, &found, NULL, NULL) < 0)
    goto nomem;
  if (s->failed) goto done;
  ids = malloc((nchecked + 1) * sizeof *ids);
  if (!ids) goto nomem;
  size_t nids = 0;
  for (size_t i = 0; i < nchecked; i++) {
    struct stat st;
    if (stat(checked[i], &st) == 0) ids[nids++] = (file_id){st.st_dev, st.st_ino};
  }
  qsort(ids, nids, sizeof *ids, cmp_id);
  for (size_t i = 0; i < found.n; i++) {
    struct stat st;
    if (stat(found.paths[i], &st) != 0) continue;
    file_id key = {st.st_dev, st.st_ino};
    if (nids && bsearch(&key, ids, nids, sizeof *ids, cmp_id)) continue;
    if (move_path(index_only, found.paths[i]) < 0) goto nomem;
    found.paths[i] = NULL;
  }
  rc = 0;
  goto done;
nomem:
  store_nomem(s);
done:
  for (size_t i = 0; i < nroots; i++) free(roots[i]);
  free(roots);
  free(cfgs);
  free(ids);
  eql_walk_files_free(&found); /* frees the NULLs left by moved paths harmlessly */
  return rc;
}

/* The walk's options. Like Ruff, the settings that govern the walk as a whole come from
 * the configuration of the working directory (or --config). */
static int walk_options(eql_config_store *s, eql_walk_options *wo) {
  const eql_config *top = NULL;
  if (find_for_dir(s, s->cwd, &top) < 0) return -1;
  *wo = (eql_walk_options){
      .gitignore = !(top && top->respect_gitignore == 0),
      .force_exclude = s->force_exclude || (top && top->force_exclude == 1),
      .exclude = store_exclude,
      .exclude_ud = s,
  };
  return 0;
}

long eql_config_store_src(eql_config_store *s, const char *const *paths, size_t npaths,
                          eql_walk_files *index_only, eql_config_error *err) {
  eql_walk_options wo;
  if (walk_options(s, &wo) < 0 || walk_src(s, &wo, paths, npaths, index_only) < 0) {
    if (err) *err = s->error;
    return s->nomem || !s->failed ? -1 : -2;
  }
  return 0;
}

long eql_config_store_walk(eql_config_store *s, const char *const *paths, size_t npaths,
                           eql_walk_files *check, eql_walk_files *index_only,
                           eql_walk_error_fn on_error, void *ud, eql_config_error *err) {
  eql_walk_options wo;
  if (walk_options(s, &wo) < 0) {
    if (err) *err = s->error;
    return s->nomem ? -1 : -2;
  }
  long n = eql_walk_ex(paths, npaths, &wo, check, on_error, ud);
  if (n >= 0 && !s->failed && index_only) {
    if (walk_src(s, &wo, (const char *const *)check->paths, check->n, index_only) < 0 &&
        !s->failed)
      n = -1;
  }
  if (s->failed) {
    if (err) *err = s->error;
    return s->nomem ? -1 : -2;
  }
  return n;
}
