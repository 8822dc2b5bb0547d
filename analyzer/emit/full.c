/* The full format: what people read in a terminal or a CI log.
 *
 *   train.py:28:17: EQX001 [error] optax optimiser initialised on a Module ...
 *      |
 *   28 |     opt_state = optim.init(model)
 *      |                 ^^^^^^^^^^^^^^^^^
 *      |
 *      = help: initialise on the arrays only: `optim.init(eqx.filter(model, eqx.is_array))`
 *      = note: train.py:26:5: the model is built here
 *
 * Design: a source line is first cut into cells, one per code point, using exactly the
 * UTF-8 segmentation of source.c (an invalid byte is one column there, so it is one cell
 * here), which keeps the span's code-point columns and the cells in step. Each cell knows
 * what it prints and how many terminal columns that takes: a tab expands to the next stop
 * of 4 (so the underline, computed from the same widths, stays aligned), East Asian wide
 * characters take two, combining marks none, and control or bidirectional characters are
 * printed escaped (`\x1b`, `\u{202e}`), never raw. Long lines are cut to a window of at
 * most 200 columns around the span, with `…` marking the cuts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eqlint/emit.h"
#include "eqlint/rules.h"

enum { TAB_STOP = 4, FRAME_MAX_WIDTH = 200, FRAME_LEFT_CONTEXT = 40 };

#define ANSI_RESET "\x1b[0m"
#define ANSI_BOLD "\x1b[1m"
#define ANSI_GUTTER "\x1b[1;34m"

static const char *severity_color(eql_severity s) {
  switch (s) {
    case EQL_SEV_ERROR: return "\x1b[1;31m";
    case EQL_SEV_WARNING: return "\x1b[1;33m";
    default: return "\x1b[1;36m";
  }
}

/* Decodes one UTF-8 sequence at p (p < end) with source.c's segmentation. Returns the number
 * of bytes it spans; *cp is the code point, or -1 for a byte or sequence that is not valid
 * UTF-8 (overlong forms and surrogates included: they still span the same bytes). */
static uint32_t utf8_next(const unsigned char *p, const unsigned char *end, int32_t *cp) {
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
  int32_t v = n == 1 ? (int32_t)c : n == 2 ? (int32_t)(c & 0x1F) : n == 3 ? (int32_t)(c & 0x0F)
                                                                          : (int32_t)(c & 0x07);
  for (uint32_t i = 1; i < n; i++) v = (v << 6) | (p[i] & 0x3F);
  static const int32_t min_for_len[] = {0, 0, 0x80, 0x800, 0x10000};
  if (v < min_for_len[n] || (v >= 0xD800 && v <= 0xDFFF) || v > 0x10FFFF) v = -1;
  *cp = v;
  return n;
}

/* Characters never written raw: C0 and C1 controls, DEL, and the invisible characters that
 * reorder or hide text (bidirectional overrides and isolates, zero-width characters, line
 * and paragraph separators, the byte-order mark). */
static int must_escape(int32_t cp) {
  return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) || cp == 0x061C ||
         (cp >= 0x200B && cp <= 0x200F) || (cp >= 0x2028 && cp <= 0x202E) ||
         (cp >= 0x2060 && cp <= 0x2069) || cp == 0xFEFF;
}

/* The escaped spelling of cp into buf (at least 12 bytes); returns its length. */
static int escape_text(int32_t cp, char *buf, size_t size) {
  switch (cp) {
    case '\n': return snprintf(buf, size, "\\n");
    case '\r': return snprintf(buf, size, "\\r");
    case '\t': return snprintf(buf, size, "\\t");
    default: break;
  }
  if (cp < 0x80) return snprintf(buf, size, "\\x%02x", (unsigned)cp);
  return snprintf(buf, size, "\\u{%04x}", (unsigned)cp);
}

void eql_emit_escaped(FILE *out, const char *s) {
  const unsigned char *p = (const unsigned char *)s, *end = p + strlen(s);
  const unsigned char *run = p; /* start of bytes not yet written */
  while (p < end) {
    int32_t cp;
    uint32_t n = utf8_next(p, end, &cp);
    if (cp >= 0 && !must_escape(cp)) {
      p += n;
      continue;
    }
    fwrite(run, 1, (size_t)(p - run), out);
    char buf[16];
    if (cp < 0) {
      for (uint32_t i = 0; i < n; i++) fprintf(out, "\\x%02x", p[i]);
    } else {
      int k = escape_text(cp, buf, sizeof buf);
      fwrite(buf, 1, (size_t)k, out);
    }
    p += n;
    run = p;
  }
  fwrite(run, 1, (size_t)(p - run), out);
}

/* Terminal columns of a printable code point: 0 for combining marks and variation
 * selectors, 2 for East Asian wide and fullwidth characters and emoji, else 1. */
static int cp_width(int32_t cp) {
  static const int32_t zero[][2] = {{0x0300, 0x036F}, {0x0483, 0x0489}, {0x0591, 0x05BD},
                                    {0x1AB0, 0x1AFF}, {0x1DC0, 0x1DFF}, {0x20D0, 0x20FF},
                                    {0xFE00, 0xFE0F}, {0xFE20, 0xFE2F}, {0xE0100, 0xE01EF}};
  static const int32_t wide[][2] = {
      {0x1100, 0x115F},   {0x231A, 0x231B},   {0x2329, 0x232A}, {0x23E9, 0x23EC},
      {0x25FD, 0x25FE},   {0x2614, 0x2615},   {0x2E80, 0x303E}, {0x3041, 0x33FF},
      {0x3400, 0x4DBF},   {0x4E00, 0x9FFF},   {0xA000, 0xA4CF}, {0xA960, 0xA97F},
      {0xAC00, 0xD7A3},   {0xF900, 0xFAFF},   {0xFE10, 0xFE19}, {0xFE30, 0xFE6F},
      {0xFF00, 0xFF60},   {0xFFE0, 0xFFE6},   {0x1F300, 0x1F64F}, {0x1F680, 0x1F6FF},
      {0x1F900, 0x1F9FF}, {0x1FA70, 0x1FAFF}, {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD}};
  for (size_t i = 0; i < sizeof zero / sizeof *zero; i++)
    if (cp >= zero[i][0] && cp <= zero[i][1]) return 0;
  for (size_t i = 0; i < sizeof wide / sizeof *wide; i++)
    if (cp >= wide[i][0] && cp <= wide[i][1]) return 2;
  return 1;
}

typedef enum { CELL_RAW, CELL_TAB, CELL_TEXT } cell_kind;

/* One code point of a source line as displayed. */
typedef struct {
  const char *bytes; /* CELL_RAW: the source bytes */
  uint8_t nbytes;
  uint8_t kind;
  uint8_t width;     /* terminal columns */
  char text[13];     /* CELL_TEXT: escape or replacement character */
} cell;

/* Cuts a line into cells. Returns a malloc'd array (n cells) or NULL when out of memory. */
static cell *line_cells(const char *line, uint32_t len, size_t *n) {
  cell *cells = malloc(((size_t)len + 1) * sizeof *cells);
  if (!cells) return NULL;
  const unsigned char *p = (const unsigned char *)line, *end = p + len;
  size_t k = 0, col = 0;
  while (p < end) {
    int32_t cp;
    uint32_t nb = utf8_next(p, end, &cp);
    cell *c = &cells[k++];
    c->bytes = (const char *)p;
    c->nbytes = (uint8_t)nb;
    if (cp == '\t') {
      c->kind = CELL_TAB;
      c->width = (uint8_t)(TAB_STOP - col % TAB_STOP);
    } else if (cp < 0) {
      c->kind = CELL_TEXT;
      snprintf(c->text, sizeof c->text, "\xef\xbf\xbd"); /* U+FFFD REPLACEMENT CHARACTER */
      c->width = 1;
    } else if (must_escape(cp)) {
      c->kind = CELL_TEXT;
      c->width = (uint8_t)escape_text(cp, c->text, sizeof c->text);
    } else {
      c->kind = CELL_RAW;
      c->width = (uint8_t)cp_width(cp);
    }
    col += c->width;
    p += nb;
  }
  *n = k;
  return cells;
}

static void put_cell(FILE *out, const cell *c) {
  switch (c->kind) {
    case CELL_RAW: fwrite(c->bytes, 1, c->nbytes, out); break;
    case CELL_TAB: fprintf(out, "%*s", c->width, ""); break;
    default: fputs(c->text, out); break;
  }
}

static size_t width_of(const cell *cells, size_t from, size_t to) {
  size_t w = 0;
  for (size_t i = from; i < to; i++) w += cells[i].width;
  return w;
}

static int digits(uint32_t v) {
  int d = 1;
  while (v >= 10) {
    v /= 10;
    d++;
  }
  return d;
}

typedef struct {
  FILE *out;
  bool color;
  int gutter; /* width of the line-number column */
} frame_ctx;

static void color_on(const frame_ctx *f, const char *code) {
  if (f->color) fputs(code, f->out);
}
static void color_off(const frame_ctx *f) {
  if (f->color) fputs(ANSI_RESET, f->out);
}

/* "   |" with nothing after it, or the gutter before a source line (lineno != 0). */
static void gutter(const frame_ctx *f, uint32_t lineno, bool newline) {
  color_on(f, ANSI_GUTTER);
  if (lineno)
    fprintf(f->out, "%*u |", f->gutter, (unsigned)lineno);
  else
    fprintf(f->out, "%*s |", f->gutter, "");
  color_off(f);
  if (newline) fputc('\n', f->out);
}

/* The source line of the span with its underline. Returns 1 when printed, 0 when the line
 * is not in the source, -1 when out of memory (in both cases nothing is printed). */
static int code_frame(const frame_ctx *f, const eql_source *src, const eql_diag *d,
                      const char *sev_color) {
  uint32_t len;
  /* by byte offset: in notebooks span.line counts within the cell, not the source */
  const char *line =
      eql_source_line(src, d->cell ? eql_source_line_of(src, d->span.start) : d->span.line, &len);
  if (!line) return 0;
  size_t n;
  cell *cells = line_cells(line, len, &n);
  if (!cells) return -1;

  /* The span in cells: [s, e). A span running past this line is underlined to its end. */
  size_t s = d->span.col > 0 ? d->span.col - 1 : 0;
  if (s > n) s = n;
  size_t e = n;
  if (d->span.end_line == d->span.line && d->span.end_col > 0) e = d->span.end_col - 1;
  if (e > n) e = n;
  if (e < s) e = s;

  /* The window [ws, we) shown, cut around the span when the line is too wide. */
  size_t ws = 0, we = n;
  if (width_of(cells, 0, n) > FRAME_MAX_WIDTH) {
    size_t acc = 0;
    ws = s;
    while (ws > 0 && acc + cells[ws - 1].width <= FRAME_LEFT_CONTEXT) acc += cells[--ws].width;
    size_t budget = FRAME_MAX_WIDTH - (ws > 0) - 1, w = 0;
    we = ws;
    while (we < n && w + cells[we].width <= budget) w += cells[we++].width;
    if (we == n) /* the end is in view: spend what is left on more context to the left */
      while (ws > 0 && w + cells[ws - 1].width <= FRAME_MAX_WIDTH - 1) w += cells[--ws].width;
  }

  gutter(f, 0, true);
  gutter(f, d->span.line, false);
  if (n > 0) fputc(' ', f->out); /* an empty line gets no trailing blank */
  if (ws > 0) fputs("\xe2\x80\xa6", f->out); /* … */
  for (size_t i = ws; i < we; i++) put_cell(f->out, &cells[i]);
  if (we < n) fputs("\xe2\x80\xa6", f->out);
  fputc('\n', f->out);

  size_t us = s < ws ? ws : s, ue = e > we ? we : e;
  if (ue < us) ue = us;
  size_t pad = (ws > 0) + width_of(cells, ws, us), carets = width_of(cells, us, ue);
  if (carets == 0) carets = 1; /* an empty span or a zero-width mark still gets a caret */
  gutter(f, 0, false);
  fprintf(f->out, " %*s", (int)pad, "");
  color_on(f, sev_color);
  for (size_t i = 0; i < carets; i++) fputc('^', f->out);
  color_off(f);
  fputc('\n', f->out);
  free(cells);
  return 1;
}

static const eql_rule_info *rule_of(const eql_diag *d) {
  return d->rule >= 0 && d->rule < EQL_RULE_COUNT ? &eql_rules[d->rule] : NULL;
}

static void one_diagnostic(FILE *out, const eql_diag *d, const eql_source *src, bool color,
                           bool unsafe_fixes) {
  const eql_rule_info *r = rule_of(d);
  eql_severity sev = r ? r->severity : EQL_SEV_ERROR;
  const char *sc = severity_color(sev);
  frame_ctx f = {out, color, digits(d->span.line)};

  color_on(&f, ANSI_BOLD);
  eql_emit_escaped(out, d->path);
  if (d->cell) fprintf(out, ":cell %u", (unsigned)d->cell);
  fprintf(out, ":%u:%u:", (unsigned)d->span.line, (unsigned)d->span.col);
  color_off(&f);
  fputc(' ', out);
  color_on(&f, sc);
  fprintf(out, "%s [%s]", r ? r->code : "EQX???", eql_severity_name(sev));
  color_off(&f);
  if (eql_diag_fixable(d, unsafe_fixes)) fputs(" [*]", out); /* Ruff's mark: --fix repairs it */
  fputc(' ', out);
  eql_emit_escaped(out, d->message ? d->message : "");
  fputc('\n', out);

  bool framed = src && code_frame(&f, src, d, sc) == 1;
  bool tail = (d->help && *d->help) || d->has_related;
  if (framed && tail) gutter(&f, 0, true);
  if (d->help && *d->help) {
    fprintf(out, "%*s ", f.gutter, "");
    color_on(&f, ANSI_GUTTER);
    fputc('=', out);
    color_off(&f);
    fputc(' ', out);
    color_on(&f, ANSI_BOLD);
    fputs("help:", out);
    color_off(&f);
    fputc(' ', out);
    eql_emit_escaped(out, d->help);
    fputc('\n', out);
  }
  if (d->has_related) {
    /* The related place is in the same file: eql_diag carries one path. */
    fprintf(out, "%*s ", f.gutter, "");
    color_on(&f, ANSI_GUTTER);
    fputc('=', out);
    color_off(&f);
    fputc(' ', out);
    color_on(&f, ANSI_BOLD);
    fputs("note:", out);
    color_off(&f);
    fputc(' ', out);
    eql_emit_escaped(out, d->path);
    fprintf(out, ":%u:%u: ", (unsigned)d->related.line, (unsigned)d->related.col);
    eql_emit_escaped(out, d->related_message && *d->related_message ? d->related_message
                                                                    : "related location");
    fputc('\n', out);
  }
  fputc('\n', out);
}

/* Ruff's closing lines: how many `--fix` would repair, and how many more `--unsafe-fixes`
 * would. */
static void fixable_summary(FILE *out, const eql_diag_list *diags, const eql_emit_options *o) {
  size_t fixable = 0, hidden = 0;
  bool unsafe = o && o->unsafe_fixes;
  for (size_t i = 0; i < diags->n; i++) {
    if (eql_diag_fixable(&diags->items[i], unsafe)) fixable++;
    else if (eql_diag_fixable(&diags->items[i], true) && !(o && o->hide_unsafe_hint)) hidden++;
  }
  char hint[160] = "";
  if (hidden)
    snprintf(hint, sizeof hint, "%zu hidden fix%s can be enabled with the `--unsafe-fixes` option",
             hidden, hidden == 1 ? "" : "es");
  if (fixable)
    fprintf(out, "[*] %zu fixable with the `--fix` option%s%s%s.\n", fixable, hidden ? " (" : "",
            hint, hidden ? ")" : "");
  else if (hidden)
    fprintf(out, "No fixes available (%s).\n", hint);
}

static void summary(FILE *out, const eql_diag_list *diags, const eql_emit_options *o) {
  size_t fixed = o && o->fix_mode ? o->fixed : 0;
  if (diags->n == 0 && fixed == 0) {
    fputs("All checks passed!\n", out);
    return;
  }
  if (o && o->fix_mode) {
    /* "Found 3 diagnostics (2 fixed, 1 remaining)." */
    size_t all = diags->n + fixed;
    fprintf(out, "Found %zu diagnostic%s (%zu fixed, %zu remaining).\n", all, all == 1 ? "" : "s",
            fixed, diags->n);
    fixable_summary(out, diags, o);
    return;
  }
  size_t count[3] = {0, 0, 0};
  for (size_t i = 0; i < diags->n; i++) {
    const eql_rule_info *r = rule_of(&diags->items[i]);
    eql_severity s = r ? r->severity : EQL_SEV_ERROR;
    count[s <= EQL_SEV_ERROR ? s : EQL_SEV_ERROR]++;
  }
  fprintf(out, "Found %zu diagnostic%s (", diags->n, diags->n == 1 ? "" : "s");
  const char *sep = "";
  if (count[EQL_SEV_ERROR]) {
    fprintf(out, "%zu error%s", count[EQL_SEV_ERROR], count[EQL_SEV_ERROR] == 1 ? "" : "s");
    sep = ", ";
  }
  if (count[EQL_SEV_WARNING]) {
    fprintf(out, "%s%zu warning%s", sep, count[EQL_SEV_WARNING],
            count[EQL_SEV_WARNING] == 1 ? "" : "s");
    sep = ", ";
  }
  if (count[EQL_SEV_INFO]) fprintf(out, "%s%zu info", sep, count[EQL_SEV_INFO]);
  fputs(").\n", out);
  fixable_summary(out, diags, o);
}

int eql_emit_full(FILE *out, const eql_diag_list *diags, eql_emit_source_fn source,
                  const void *ud, const eql_emit_options *opts) {
  bool color = opts && opts->color;
  /* Consecutive diagnostics usually share a file: look its source up once. */
  const char *last_path = NULL;
  const eql_source *src = NULL;
  for (size_t i = 0; i < diags->n; i++) {
    const eql_diag *d = &diags->items[i];
    if (!last_path || strcmp(last_path, d->path) != 0) {
      src = source ? source(ud, d->path) : NULL;
      last_path = d->path;
    }
    one_diagnostic(out, d, src, color, opts && opts->unsafe_fixes);
  }
  if (!opts || opts->summary) summary(out, diags, opts);
  return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}
