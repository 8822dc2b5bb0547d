/* Notebook reader (see notebook.h). nbformat 4 stores a cell's source as a list of strings
 * (each usually ending in "\n") or as one string; both are accepted, anything else is a
 * clear error naming the cell. A cell magic (`%%time`, `%%bash`) makes the whole cell
 * non-Python, so all of its lines are blanked. */
#include "eqlint/notebook.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct buf {
  char *p;
  size_t n, cap;
} buf;

static int put(buf *b, const char *s, size_t n) {
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + n + 1) cap *= 2;
    char *np = realloc(b->p, cap);
    if (!np) return -1;
    b->p = np;
    b->cap = cap;
  }
  memcpy(b->p + b->n, s, n);
  b->n += n;
  b->p[b->n] = 0;
  return 0;
}

typedef struct lines {
  uint32_t *cell, *line;
  uint32_t n, cap;
} lines;

static int add_line(lines *l, uint32_t cell, uint32_t line) {
  if (l->n == l->cap) {
    uint32_t cap = l->cap ? l->cap * 2 : 256;
    uint32_t *c = realloc(l->cell, cap * sizeof *c);
    if (!c) return -1;
    l->cell = c;
    uint32_t *ln = realloc(l->line, cap * sizeof *ln);
    if (!ln) return -1;
    l->line = ln;
    l->cap = cap;
  }
  l->cell[l->n] = cell;
  l->line[l->n] = line;
  l->n++;
  return 0;
}

/* A line IPython rewrites before Python sees it. */
static int is_magic(const char *s, size_t n) {
  size_t i = 0;
  while (i < n && (s[i] == ' ' || s[i] == '\t')) i++;
  if (i == n) return 0;
  if (s[i] == '%' || s[i] == '!') return 1;
  if (s[i] == '?') return 1;
  /* `obj?` / `obj??` help requests */
  size_t e = n;
  while (e > i && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r')) e--;
  return e > i && s[e - 1] == '?' && !memchr(s + i, '#', e - i);
}

int eql_notebook_to_python(const char *json, size_t json_len, char **text, size_t *len,
                           eql_cellmap *map, char *err, size_t errlen) {
  json_error_t je;
  json_t *root = json_loadb(json, json_len, 0, &je);
  if (!root) {
    snprintf(err, errlen, "invalid notebook JSON at line %d column %d: %s", je.line, je.column, je.text);
    return -1;
  }
  json_t *cells = json_object_get(root, "cells");
  if (!json_is_array(cells)) {
    snprintf(err, errlen, "invalid notebook: no \"cells\" list (only nbformat 4 is supported)");
    json_decref(root);
    return -1;
  }
  buf b = {0};
  lines l = {0};
  int rc = 0;
  size_t ci;
  json_t *cell;
  json_array_foreach(cells, ci, cell) {
    const char *type = json_string_value(json_object_get(cell, "cell_type"));
    if (!type || strcmp(type, "code") != 0) continue;
    json_t *src = json_object_get(cell, "source");
    /* gather the cell's text */
    buf cb = {0};
    if (json_is_string(src)) {
      rc = put(&cb, json_string_value(src), json_string_length(src));
    } else if (json_is_array(src)) {
      size_t k;
      json_t *piece;
      json_array_foreach(src, k, piece) {
        if (!json_is_string(piece)) {
          snprintf(err, errlen, "invalid notebook: cell %zu: source item %zu is not a string", ci + 1, k + 1);
          rc = -1;
          break;
        }
        if (put(&cb, json_string_value(piece), json_string_length(piece)) < 0) rc = -1;
      }
    } else if (src) {
      snprintf(err, errlen, "invalid notebook: cell %zu: \"source\" is neither a string nor a list", ci + 1);
      rc = -1;
    }
    if (rc < 0) {
      if (!err[0]) snprintf(err, errlen, "out of memory");
      free(cb.p);
      break;
    }
    const char *t = cb.p ? cb.p : "";
    size_t tn = cb.n;
    size_t first_end = 0;
    while (first_end < tn && t[first_end] != '\n') first_end++;
    int cell_magic = tn >= 2 && t[0] == '%' && t[1] == '%';
    uint32_t lineno = 0;
    size_t pos = 0;
    while (pos < tn || (pos == tn && tn == 0 && lineno == 0)) {
      size_t e = pos;
      while (e < tn && t[e] != '\n') e++;
      lineno++;
      int blank = cell_magic || is_magic(t + pos, e - pos);
      if ((!blank && put(&b, t + pos, e - pos) < 0) || put(&b, "\n", 1) < 0 ||
          add_line(&l, (uint32_t)ci + 1, lineno) < 0) {
        rc = -1;
        break;
      }
      pos = e + 1;
      if (e >= tn) break;
    }
    free(cb.p);
    if (rc < 0) {
      snprintf(err, errlen, "out of memory");
      break;
    }
  }
  json_decref(root);
  if (rc < 0) {
    free(b.p);
    free(l.cell);
    free(l.line);
    return -1;
  }
  /* the line after the last newline (empty) maps to the last cell */
  if (add_line(&l, l.n ? l.cell[l.n - 1] : 1, l.n ? l.line[l.n - 1] + 1 : 1) < 0) {
    free(b.p);
    free(l.cell);
    free(l.line);
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  *text = b.p ? b.p : calloc(1, 1);
  *len = b.n;
  map->cell = l.cell;
  map->line = l.line;
  map->nlines = l.n;
  return *text ? 0 : -1;
}

void eql_cellmap_free(eql_cellmap *map) {
  if (!map) return;
  free(map->cell);
  free(map->line);
  memset(map, 0, sizeof *map);
}
