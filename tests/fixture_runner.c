/* fixture_runner: checks every fixture case against its inline expectations.
 *
 * usage: fixture_runner [DIR]   (default: fixtures/python; fixtures/c for the C front end)
 *
 * Each immediate child of DIR is one case: a `.py` (or `.c`/`.h`) file is checked alone; a
 * directory is one project (all such files below it, found as `eqlint check` finds them,
 * checked together, so imports between its files resolve). Hidden children and other files
 * are not cases. The library runs in-process with every rule on.
 *
 * Expectations live in the fixtures, like clang-tidy's CHECK-MESSAGES: a line whose
 * stripped text is `# expect: EQX001` (or `# expect: EQX001, EQX003`; `//` for C) says those
 * codes must be reported on the next line. Expected and reported diagnostics are compared
 * as multisets of (file, line, code), both ways: every missing and every unexpected one is
 * printed, in the `path:line[:col]: ...` shape editors jump to. A case without expectations
 * must come out clean. Exit status: 0 when every case passed, 1 otherwise (also when there
 * are no cases at all: a runner that tests nothing must not look green). */
#include <ctype.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "eqlint/check.h"
#include "eqlint/emit.h"
#include "eqlint/rules.h"
#include "eqlint/walk.h"

typedef struct {
  const char *path; /* the file's path as added to the project (owned by the walk list) */
  uint32_t line;
  int rule;
  bool matched;
} expectation;

typedef struct {
  expectation *items;
  size_t n, cap;
} expectations;

static int expect_push(expectations *e, const char *path, uint32_t line, int rule) {
  if (e->n == e->cap) {
    size_t cap = e->cap ? e->cap * 2 : 16;
    expectation *items = realloc(e->items, cap * sizeof *items);
    if (!items) return -1;
    e->items = items;
    e->cap = cap;
  }
  e->items[e->n++] = (expectation){path, line, rule, false};
  return 0;
}

/* If the line is an expectation comment, records its codes for line `lineno + 1`. Returns
 * the number of problems found in it (unknown codes), or -1 when out of memory. */
static int parse_expectation(expectations *e, const char *path, uint32_t lineno,
                             const char *text, uint32_t len) {
  const char *p = text, *end = text + len;
  while (p < end && isspace((unsigned char)*p)) p++;
  if (p < end && *p == '#') p++;
  else if (end - p >= 2 && p[0] == '/' && p[1] == '/') p += 2;
  else return 0;
  while (p < end && isspace((unsigned char)*p)) p++;
  static const char tag[] = "expect:";
  if ((size_t)(end - p) < sizeof tag - 1 || memcmp(p, tag, sizeof tag - 1) != 0) return 0;
  p += sizeof tag - 1;
  int problems = 0;
  while (p < end) {
    while (p < end && (isspace((unsigned char)*p) || *p == ',')) p++;
    const char *q = p;
    while (q < end && !isspace((unsigned char)*q) && *q != ',') q++;
    if (q == p) break;
    char code[32];
    snprintf(code, sizeof code, "%.*s", (int)(q - p), p);
    int rule = eql_rule_find(code);
    if (rule < 0 || strcasecmp(eql_rules[rule].code, code) != 0) {
      printf("%s:%u: unknown code '%s' in expectation\n", path, (unsigned)lineno, code);
      problems++;
    } else if (expect_push(e, path, lineno + 1, rule) < 0) {
      return -1;
    }
    p = q;
  }
  return problems;
}

static void on_walk_error(void *ud, const char *path, const char *reason) {
  (void)ud;
  printf("%s: cannot read: %s\n", path, reason);
}

/* Runs one case over `files`. Returns true when it passed. */
static bool run_case(const char *name, const eql_walk_files *files) {
  bool ok = true;
  eql_project *p = eql_project_new();
  expectations exp = {0};
  eql_diag_list diags;
  eql_diag_list_init(&diags);
  if (!p) {
    printf("%s: out of memory\n", name);
    return false;
  }
  if (files->n == 0) {
    printf("%s: no .py, .ipynb, .c or .h files in this case\n", name);
    ok = false;
  }
  for (size_t i = 0; i < files->n; i++) {
    const char *err = NULL;
    if (eql_project_add_file(p, files->paths[i], &err) != 0) {
      printf("%s: cannot read: %s\n", files->paths[i], err ? err : "unknown error");
      ok = false;
      continue;
    }
    const eql_source *src = eql_project_source(p, files->paths[i]);
    if (!src) {
      printf("%s: the project lost its source\n", files->paths[i]);
      ok = false;
      continue;
    }
    for (uint32_t line = 1; line <= src->nlines; line++) {
      uint32_t len;
      const char *t = eql_source_line(src, line, &len);
      int r = t ? parse_expectation(&exp, files->paths[i], line, t, len) : 0;
      if (r < 0) {
        printf("%s: out of memory\n", name);
        ok = false;
        goto done;
      }
      if (r > 0) ok = false;
    }
  }

  eql_ruleset rules;
  eql_ruleset_all(&rules);
  if (eql_project_run(p, &rules, &diags) != 0) {
    printf("%s: out of memory while checking\n", name);
    ok = false;
    goto done;
  }
  for (size_t i = 0; i < diags.n; i++) {
    const eql_diag *d = &diags.items[i];
    bool found = false;
    for (size_t k = 0; k < exp.n && !found; k++) {
      expectation *x = &exp.items[k];
      if (!x->matched && x->rule == d->rule && x->line == d->span.line &&
          strcmp(x->path, d->path) == 0)
        found = x->matched = true;
    }
    if (!found) {
      printf("%s:%u:%u: unexpected %s ", d->path, (unsigned)d->span.line, (unsigned)d->span.col,
             d->rule >= 0 && d->rule < EQL_RULE_COUNT ? eql_rules[d->rule].code : "EQX???");
      eql_emit_escaped(stdout, d->message ? d->message : "");
      putchar('\n');
      ok = false;
    }
  }
  for (size_t k = 0; k < exp.n; k++)
    if (!exp.items[k].matched) {
      printf("%s:%u: missing %s\n", exp.items[k].path, (unsigned)exp.items[k].line,
             eql_rules[exp.items[k].rule].code);
      ok = false;
    }

done:
  printf("%s %s\n", ok ? "ok  " : "FAIL", name);
  free(exp.items);
  eql_diag_list_free(&diags);
  eql_project_free(p);
  return ok;
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : "fixtures/python";
  if (argc > 2) {
    fprintf(stderr, "usage: fixture_runner [DIR]\n");
    return 2;
  }
  DIR *d = opendir(dir);
  if (!d) {
    perror(dir);
    return 1;
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  bool oom = false;
  for (struct dirent *e; !oom && (e = readdir(d));) {
    if (e->d_name[0] == '.') continue;
    if (n == cap) {
      size_t ncap = cap ? cap * 2 : 64;
      char **nn = realloc(names, ncap * sizeof *nn);
      if (!nn) {
        oom = true;
        break;
      }
      names = nn;
      cap = ncap;
    }
    if (!(names[n] = strdup(e->d_name))) oom = true;
    else n++;
  }
  closedir(d);
  if (oom) {
    fprintf(stderr, "fixture_runner: out of memory\n");
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return 2;
  }
  if (n > 1) qsort(names, n, sizeof *names, cmp_names);

  size_t passed = 0, failed = 0;
  for (size_t i = 0; i < n; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    struct stat st;
    eql_walk_files files;
    eql_walk_files_init(&files);
    if (stat(path, &st) != 0) {
      printf("%s: cannot read\n", path);
      failed++;
    } else if (S_ISDIR(st.st_mode) || eql_walk_is_python(names[i])) {
      const char *roots[] = {path};
      long werr = eql_walk(roots, 1, &files, on_walk_error, NULL);
      bool ok = false;
      if (werr == 0) {
        ok = run_case(path, &files);
      } else {
        if (werr < 0) printf("%s: out of memory while looking for files\n", path);
        printf("FAIL %s\n", path);
      }
      if (ok) passed++;
      else failed++;
    }
    eql_walk_files_free(&files);
    free(names[i]);
  }
  free(names);
  printf("%zu passed, %zu failed\n", passed, failed);
  if (passed + failed == 0) {
    printf("no fixture cases under %s\n", dir);
    return 1;
  }
  return failed ? 1 : 0;
}
