/* Suppression comments, flake8-compatible.
 *
 *   x = f()  # noqa                    every diagnostic starting or ending on this line
 *   x = f()  # noqa: EQX001, EQX013    those codes on this line (case-insensitive)
 *   # eqlint: noqa                     (own line) the whole file
 *   # eqlint: noqa: EQX013             (own line) that code in the whole file
 *   x = f()  // NOLINT(EQX001)         C files: clang-tidy's spelling
 *
 * A diagnostic that spans several lines (a call split over lines) is suppressed by a noqa
 * on its first or its last line. Each code of a noqa remembers whether it suppressed
 * anything; those that did not are reported as EQX900 (unused-suppression), but only for
 * eqlint's own codes that are enabled — `# noqa: F401` belongs to another tool. */
#include "eqlint/suppress.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_CODES 16

typedef struct noqa {
  uint32_t line;             /* 1-based line of the comment; 0 = file level */
  uint32_t start, end;       /* the directive's bytes, for EQX900 */
  int all;                   /* bare noqa: every code */
  int ncodes;
  char codes[MAX_CODES][16];
  uint32_t code_start[MAX_CODES], code_end[MAX_CODES];
  int used[MAX_CODES];
  int used_all;
} noqa;

struct eql_suppressions {
  noqa *items;
  size_t n, cap;
};

static int push(eql_suppressions *s, const noqa *q) {
  if (s->n == s->cap) {
    size_t cap = s->cap ? s->cap * 2 : 8;
    noqa *it = realloc(s->items, cap * sizeof *it);
    if (!it) return -1;
    s->items = it;
    s->cap = cap;
  }
  s->items[s->n++] = *q;
  return 0;
}

/* Parses a code list "EQX001, EQX013 E501" at p (up to end); fills q. Returns the number of
 * codes read. Codes are letters followed by digits (flake8's shape). */
static int parse_codes(const char *base, const char *p, const char *end, noqa *q) {
  int n = 0;
  for (;;) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == ',')) p++;
    const char *s = p;
    while (p < end && isalpha((unsigned char)*p)) p++;
    const char *digits = p;
    while (p < end && isdigit((unsigned char)*p)) p++;
    if (digits == s || p == digits || (size_t)(p - s) >= sizeof q->codes[0]) break;
    if (q->ncodes < MAX_CODES) {
      memcpy(q->codes[q->ncodes], s, (size_t)(p - s));
      q->codes[q->ncodes][p - s] = 0;
      for (char *c = q->codes[q->ncodes]; *c; c++) *c = (char)toupper((unsigned char)*c);
      q->code_start[q->ncodes] = (uint32_t)(s - base);
      q->code_end[q->ncodes] = (uint32_t)(p - base);
      q->ncodes++;
    }
    n++;
  }
  return n;
}

static const char *find_ci(const char *p, const char *end, const char *needle) {
  size_t n = strlen(needle);
  for (; p + n <= end; p++)
    if (strncasecmp(p, needle, n) == 0) return p;
  return NULL;
}

/* Is the comment alone on its line (only whitespace before it)? */
static int own_line(const eql_source *src, uint32_t start) {
  uint32_t i = start;
  while (i > 0 && src->text[i - 1] != '\n' && src->text[i - 1] != '\r') {
    if (src->text[i - 1] != ' ' && src->text[i - 1] != '\t') return 0;
    i--;
  }
  return 1;
}

static void parse_comment(eql_suppressions *s, const eql_source *src, const eql_comment *cm) {
  const char *base = src->text;
  const char *p = base + cm->start, *end = base + cm->end;
  noqa q;
  memset(&q, 0, sizeof q);
  q.line = eql_source_line_of(src, cm->start);
  /* file level: "# eqlint: noqa[: codes]" on its own line */
  const char *fl = find_ci(p, end, "eqlint:");
  if (fl && own_line(src, cm->start)) {
    const char *k = fl + 7;
    while (k < end && (*k == ' ' || *k == '\t')) k++;
    if (end - k >= 4 && strncasecmp(k, "noqa", 4) == 0) {
      k += 4;
      q.line = 0;
      q.start = (uint32_t)(fl - base);
      q.end = cm->end;
      while (k < end && (*k == ' ' || *k == '\t')) k++;
      if (k < end && *k == ':') parse_codes(base, k + 1, end, &q);
      if (!q.ncodes) q.all = 1;
      push(s, &q);
      return;
    }
  }
  /* clang-tidy: NOLINT or NOLINT(code, code) */
  const char *nl = find_ci(p, end, "NOLINT");
  if (nl && (nl + 6 >= end || nl[6] == '(' || nl[6] == ' ' || nl[6] == '\t' || nl[6] == '\n')) {
    q.start = (uint32_t)(nl - base);
    q.end = cm->end;
    const char *k = nl + 6;
    if (k < end && *k == '(') {
      const char *close = memchr(k, ')', (size_t)(end - k));
      parse_codes(base, k + 1, close ? close : end, &q);
    }
    if (!q.ncodes) q.all = 1;
    push(s, &q);
    return;
  }
  /* "# noqa", "#noqa:EQX001", "# type: ignore  # noqa: EQX001" */
  for (const char *h = p; h < end; h++) {
    if (*h != '#') continue;
    const char *k = h + 1;
    while (k < end && (*k == ' ' || *k == '\t')) k++;
    if (end - k < 4 || strncasecmp(k, "noqa", 4) != 0) continue;
    const char *after = k + 4;
    if (after < end && isalnum((unsigned char)*after)) continue; /* "noqaz" */
    q.start = (uint32_t)(h - base);
    q.end = cm->end;
    const char *c = after;
    while (c < end && (*c == ' ' || *c == '\t')) c++;
    if (c < end && *c == ':') parse_codes(base, c + 1, end, &q);
    if (!q.ncodes) q.all = 1;
    push(s, &q);
    return;
  }
}

eql_suppressions *eql_suppress_parse(const eql_facts *f) {
  eql_suppressions *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  for (unsigned i = 0; i < f->comments.n; i++) parse_comment(s, f->src, f->comments.items[i]);
  return s;
}

void eql_suppress_free(eql_suppressions *s) {
  if (!s) return;
  free(s->items);
  free(s);
}

/* Marks and returns 1 if noqa q covers rule `code`. */
static int covers(noqa *q, const char *code) {
  if (q->all) {
    q->used_all = 1;
    return 1;
  }
  for (int i = 0; i < q->ncodes; i++) {
    size_t n = strlen(q->codes[i]);
    /* a prefix also matches, as in flake8 ("EQX0" covers EQX001) */
    if (strncmp(code, q->codes[i], n) == 0) {
      q->used[i] = 1;
      return 1;
    }
  }
  return 0;
}

int eql_suppress_apply(eql_suppressions *s, eql_diag_list *diags) {
  size_t w = 0;
  for (size_t i = 0; i < diags->n; i++) {
    eql_diag *d = &diags->items[i];
    const char *code = eql_rules[d->rule].code;
    int hidden = 0;
    for (size_t k = 0; k < s->n; k++) {
      noqa *q = &s->items[k];
      if (q->line != 0 && q->line != d->span.line && q->line != d->span.end_line) continue;
      /* EQX999 cannot be silenced by a line noqa: a syntax error is not a style choice */
      if (d->rule == EQL_R_EQX999 && q->line != 0) continue;
      if (covers(q, code)) hidden = 1;
    }
    if (hidden) {
      eql_diag_clear(d);
      continue;
    }
    diags->items[w++] = *d;
  }
  int removed = (int)(diags->n - w);
  diags->n = w;
  return removed;
}

static int is_own_code(const char *code) {
  return strlen(code) == 6 && strncmp(code, "EQX", 3) == 0 && isdigit((unsigned char)code[3]) &&
         isdigit((unsigned char)code[4]) && isdigit((unsigned char)code[5]);
}

/* Would code i of q be reported unused? */
static int is_unused(const noqa *q, int i, const eql_ruleset *rules) {
  if (q->used[i] || !is_own_code(q->codes[i])) return 0;
  for (int j = 0; j < q->ncodes; j++)
    if (!strcmp(q->codes[j], "EQX900")) return 0; /* `# noqa: EQX900` keeps its line quiet */
  int r = eql_rule_find(q->codes[i]);
  return r < 0 || rules->on[r]; /* a rule not enabled: we cannot tell */
}

/* EQX900's fix. When every code of the directive goes, the directive goes: the whole line
 * when the comment is alone on it, else the comment and the blanks before it. Otherwise only
 * the code and its separator. NOLINT (C files) gets none: C files carry no fixes. */
static void fix_unused(eql_diag *d, const eql_source *src, const noqa *q, int i, int all_unused) {
  const char *t = src->text;
  if (!all_unused) {
    uint32_t start = i > 0 ? q->code_end[i - 1] : q->code_start[i];
    uint32_t end = i > 0 ? q->code_end[i] : q->code_start[i + 1];
    eql_diag_add_edit(d, src, "Remove the unused code from the suppression", start, end, "");
    return;
  }
  uint32_t hash = q->start;
  while (hash > 0 && t[hash] != '#' && t[hash - 1] != '\n') hash--; /* `# eqlint: noqa` */
  if (t[hash] != '#') return;
  uint32_t before = hash;
  while (before > 0 && (t[before - 1] == ' ' || t[before - 1] == '\t')) before--;
  uint32_t end = q->end;
  if (before == 0 || t[before - 1] == '\n' || t[before - 1] == '\r') {
    /* alone on its line: the line goes, with its line break */
    if (end < src->len && t[end] == '\r') end++;
    if (end < src->len && t[end] == '\n') end++;
  }
  eql_diag_add_edit(d, src, "Remove the unused suppression comment", before, end, "");
}

int eql_suppress_unused(eql_suppressions *s, const eql_source *src, const eql_ruleset *rules,
                        eql_diag_list *out) {
  if (!rules->on[EQL_R_EQX900]) return 0;
  for (size_t k = 0; k < s->n; k++) {
    noqa *q = &s->items[k];
    int nunused = 0;
    for (int i = 0; i < q->ncodes; i++) nunused += is_unused(q, i, rules);
    /* a directive with more codes than it keeps (MAX_CODES) is never removed whole */
    int all_unused = nunused == q->ncodes && q->ncodes < MAX_CODES;
    for (int i = 0; i < q->ncodes; i++) {
      if (!is_unused(q, i, rules)) continue;
      int r = eql_rule_find(q->codes[i]);
      char msg[160];
      if (r < 0)
        snprintf(msg, sizeof msg, "`%s` in this suppression is not an eqlint rule", q->codes[i]);
      else
        snprintf(msg, sizeof msg, "unused suppression: no %s (%s) diagnostic%s", q->codes[i],
                 eql_rules[r].name, q->line == 0 ? " in this file" : " on this line");
      eql_diag *d = eql_diag_add(out, EQL_R_EQX900, src, q->code_start[i], q->code_end[i], msg,
                                 q->ncodes == 1 ? "remove the suppression comment"
                                                : "remove this code from the suppression");
      if (!d) return -1;
      if (strncasecmp(src->text + q->start, "NOLINT", 6) != 0)
        fix_unused(d, src, q, i, all_unused);
    }
  }
  return 0;
}
