/* gendocs: rule documentation from the rule files themselves.
 *
 * Each rule's documentation is the leading comment of rules/<code>_<name>.c (Markdown with
 * Ruff's fixed headings). This tool reads those comments and writes either a C file with one
 * string per rule (mode `c`, used by the build for `eqlint rule`, SARIF and LSP hover) or the
 * Markdown pages docs/rules/EQXnnn.md plus an index (mode `md`). A rule without a doc file or
 * without the required headings fails the build: undocumented rules cannot ship.
 *
 * usage: eql_gendocs c RULES_DIR OUT.c | eql_gendocs md RULES_DIR OUT_DIR */
#include <ctype.h>
#include <stdbool.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define EQL_SEV_ERROR "error"
#define EQL_SEV_WARNING "warning"
#define EQL_SEV_INFO "info"

typedef struct {
  const char *code, *name, *sev, *summary;
  int fixable, driver;
} row;

static const row rows[] = {
#define EQL_RULE(code, name, sev, fixable, summary) {#code, name, sev, summary, fixable, 0},
#define EQL_DRIVER_RULE(code, name, sev, fixable, summary) {#code, name, sev, summary, fixable, 1},
#include "rules.def"
#undef EQL_RULE
#undef EQL_DRIVER_RULE
};
#define NROWS (sizeof rows / sizeof rows[0])

static const char *required[] = {"## What it does", "## Why is this bad", "## Example",
                                 "## Use instead", "## Fix safety", "## Known limits"};

static char *read_all(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  size_t cap = 4096, n = 0;
  char *b = malloc(cap);
  size_t got;
  while (b && (got = fread(b + n, 1, cap - n - 1, f)) > 0) {
    n += got;
    if (cap - n <= 1) {
      char *nb = realloc(b, cap *= 2);
      if (!nb) { free(b); b = NULL; }
      else b = nb;
    }
  }
  fclose(f);
  if (b) b[n] = 0;
  return b;
}

/* The leading block comment of a file with the " * " margins removed; malloc'd. */
static char *leading_comment(const char *text) {
  const char *p = text;
  while (isspace((unsigned char)*p)) p++;
  if (strncmp(p, "/*", 2) != 0) return NULL;
  p += 2;
  const char *end = strstr(p, "*/");
  if (!end) return NULL;
  char *out = malloc((size_t)(end - p) + 2);
  if (!out) return NULL;
  size_t n = 0;
  while (p < end && (*p == ' ' || *p == '\t')) p++; /* text right after the opening marker */
  while (p < end) {
    const char *eol = memchr(p, '\n', (size_t)(end - p));
    if (!eol) eol = end;
    const char *q = p;
    while (q < eol && (*q == ' ' || *q == '\t')) q++;
    if (q < eol && *q == '*') {
      q++;
      if (q < eol && *q == ' ') q++;
    } else {
      q = p;
    }
    memcpy(out + n, q, (size_t)(eol - q));
    n += (size_t)(eol - q);
    out[n++] = '\n';
    p = eol < end ? eol + 1 : end;
  }
  while (n > 0 && isspace((unsigned char)out[n - 1])) n--;
  out[n++] = '\n';
  out[n] = 0;
  /* the first line may be empty (the comment opened on a line of its own) */
  while (out[0] == '\n') memmove(out, out + 1, n--);
  return out;
}

static char *doc_for(const char *dir, const row *r) {
  char prefix[32];
  size_t k = 0;
  for (; r->code[k] && k < sizeof prefix - 2; k++) prefix[k] = (char)tolower((unsigned char)r->code[k]);
  prefix[k++] = '_';
  prefix[k] = 0;
  DIR *d = opendir(dir);
  if (!d) return NULL;
  struct dirent *e;
  char *doc = NULL;
  while ((e = readdir(d))) {
    size_t len = strlen(e->d_name);
    if (strncmp(e->d_name, prefix, k) == 0 && len > 2 && strcmp(e->d_name + len - 2, ".c") == 0) {
      char path[4096];
      snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
      char *text = read_all(path);
      if (text) doc = leading_comment(text);
      free(text);
      break;
    }
  }
  closedir(d);
  return doc;
}

static void c_string(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '\n') fputs("\\n\"\n  \"", f);
    else if (*s == '"' || *s == '\\') fprintf(f, "\\%c", *s);
    else if ((unsigned char)*s < 0x20) fprintf(f, "\\%03o", (unsigned char)*s);
    else fputc(*s, f);
  }
  fputc('"', f);
}

int main(int argc, char **argv) {
  if (argc != 4 || (strcmp(argv[1], "c") != 0 && strcmp(argv[1], "md") != 0)) {
    fprintf(stderr, "usage: %s c RULES_DIR OUT.c | %s md RULES_DIR OUT_DIR\n", argv[0], argv[0]);
    return 2;
  }
  int md = strcmp(argv[1], "md") == 0;
  char *docs[NROWS];
  int bad = 0;
  for (size_t i = 0; i < NROWS; i++) {
    docs[i] = doc_for(argv[2], &rows[i]);
    if (!docs[i]) {
      fprintf(stderr, "gendocs: %s: no rule file %s/%s_*.c with a leading comment\n",
              rows[i].code, argv[2], rows[i].code);
      bad = 1;
      continue;
    }
    for (size_t h = 0; h < sizeof required / sizeof *required && !rows[i].driver; h++)
      if (!strstr(docs[i], required[h])) {
        fprintf(stderr, "gendocs: %s: documentation lacks the heading '%s'\n", rows[i].code,
                required[h]);
        bad = 1;
      }
  }
  if (bad) return 1;
  if (!md) {
    FILE *f = fopen(argv[3], "w");
    if (!f) { perror(argv[3]); return 1; }
    fputs("/* Generated by tools/gendocs.c from the rule files' leading comments. */\n", f);
    for (size_t i = 0; i < NROWS; i++) {
      fprintf(f, "extern const char eql_doc_%s[];\nconst char eql_doc_%s[] =\n  ", rows[i].code, rows[i].code);
      c_string(f, docs[i]);
      fputs(";\n", f);
    }
    if (fclose(f) != 0) { perror(argv[3]); return 1; }
  } else {
    char path[4096];
    snprintf(path, sizeof path, "%s/index.md", argv[3]);
    FILE *idx = fopen(path, "w");
    if (!idx) { perror(path); return 1; }
    fputs("# eqlint rules\n\nGenerated from the rule files by `make docs`; do not edit.\n\n"
          "| code | name | severity | fixable | summary |\n|---|---|---|---|---|\n", idx);
    for (size_t i = 0; i < NROWS; i++) {
      fprintf(idx, "| [%s](%s.md) | %s | %s | %s | %s |\n", rows[i].code, rows[i].code,
              rows[i].name, rows[i].sev, rows[i].fixable ? "yes" : "no", rows[i].summary);
      snprintf(path, sizeof path, "%s/%s.md", argv[3], rows[i].code);
      FILE *f = fopen(path, "w");
      if (!f) { perror(path); return 1; }
      fprintf(f, "# %s %s\n\n*Severity: %s. Fixable: %s.* %s.\n\n%s", rows[i].code, rows[i].name,
              rows[i].sev, rows[i].fixable ? "yes" : "no", rows[i].summary, docs[i]);
      if (fclose(f) != 0) { perror(path); return 1; }
    }
    if (fclose(idx) != 0) return 1;
  }
  for (size_t i = 0; i < NROWS; i++) free(docs[i]);
  return 0;
}
