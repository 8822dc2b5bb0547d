/* The junit format: JUnit XML, which every CI system renders as a test report (GitLab's
 * `artifacts: reports: junit:`, Jenkins, Azure Pipelines). The mapping follows Ruff's:
 *
 *   <testsuites name="eqlint" tests="N" failures="N" errors="0">
 *     <testsuite name="src/a.py" tests="n" disabled="0" errors="0" failures="n" package="org.eqlint">
 *       <testcase name="org.eqlint.EQX001" classname="src/a" line="15" column="13">
 *         <failure message="...">line 15, col 13, ...</failure>
 *
 * one suite per file (in path order, whatever order the list is in), one failed case per
 * diagnostic; a clean run is one suite holding one passing case "No errors found", because
 * some consumers reject an empty report. Everything taken from users' files goes through
 * eql_emit_xml_escaped: XML 1.0 cannot carry most control characters even as references, so
 * those are written as visible escapes instead of producing a document parsers refuse. */
#include <stdlib.h>
#include <string.h>

#include "emit_internal.h"

typedef struct {
  const eql_diag *d;
  size_t index;
} junit_entry;

static int cmp_entry(const void *a, const void *b) {
  const junit_entry *x = a, *y = b;
  int c = strcmp(x->d->path ? x->d->path : "", y->d->path ? y->d->path : "");
  if (c) return c;
  return x->index < y->index ? -1 : x->index > y->index;
}

static bool same_file(const eql_diag *a, const eql_diag *b) {
  return strcmp(a->path ? a->path : "", b->path ? b->path : "") == 0;
}

/* The test class of a file: its path without the extension (src/a.py -> src/a). */
static void write_classname(FILE *out, const char *path) {
  const char *slash = strrchr(path, '/'), *dot = strrchr(path, '.');
  size_t n = dot && dot > (slash ? slash + 1 : path) ? (size_t)(dot - path) : strlen(path);
  char *s = strndup(path, n);
  eql_emit_xml_escaped(out, s ? s : path, true);
  free(s);
}

static void write_case(FILE *out, const eql_diag *d, const char *path) {
  fprintf(out, "        <testcase name=\"org.eqlint.%s\" classname=\"", eql_emit_code_of(d));
  write_classname(out, path);
  fprintf(out, "\" line=\"%u\" column=\"%u\">\n", (unsigned)d->span.line, (unsigned)d->span.col);
  const char *msg = d->message ? d->message : "";
  fputs("            <failure message=\"", out);
  eql_emit_xml_escaped(out, msg, true);
  fputs("\">", out);
  if (d->cell) fprintf(out, "cell %u, ", (unsigned)d->cell); /* notebooks: line within it */
  fprintf(out, "line %u, col %u, ", (unsigned)d->span.line, (unsigned)d->span.col);
  eql_emit_xml_escaped(out, msg, false);
  if (d->help && *d->help) {
    fputs("\nhelp: ", out);
    eql_emit_xml_escaped(out, d->help, false);
  }
  fputs("</failure>\n        </testcase>\n", out);
}

int eql_emit_junit(FILE *out, const eql_diag_list *diags, const eql_emit_options *opts) {
  const char *root = opts ? opts->root : NULL;
  fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", out);
  if (diags->n == 0) {
    fputs("<testsuites name=\"eqlint\" tests=\"1\" failures=\"0\" errors=\"0\">\n"
          "    <testsuite name=\"eqlint\" tests=\"1\" disabled=\"0\" errors=\"0\" "
          "failures=\"0\" package=\"org.eqlint\">\n"
          "        <testcase name=\"No errors found\" classname=\"eqlint\"/>\n"
          "    </testsuite>\n"
          "</testsuites>\n",
          out);
    return fflush(out) == 0 && !ferror(out) ? 0 : -1;
  }
  junit_entry *e = malloc(diags->n * sizeof *e);
  if (!e) return -1;
  for (size_t i = 0; i < diags->n; i++) e[i] = (junit_entry){&diags->items[i], i};
  qsort(e, diags->n, sizeof *e, cmp_entry);
  fprintf(out, "<testsuites name=\"eqlint\" tests=\"%zu\" failures=\"%zu\" errors=\"0\">\n",
          diags->n, diags->n);
  int rc = 0;
  for (size_t i = 0; i < diags->n && rc == 0;) {
    size_t j = i;
    while (j < diags->n && same_file(e[i].d, e[j].d)) j++;
    char *path = eql_emit_report_path(e[i].d->path, root);
    if (!path) {
      rc = -1;
      break;
    }
    fputs("    <testsuite name=\"", out);
    eql_emit_xml_escaped(out, path, true);
    fprintf(out, "\" tests=\"%zu\" disabled=\"0\" errors=\"0\" failures=\"%zu\" "
                 "package=\"org.eqlint\">\n", j - i, j - i);
    for (size_t k = i; k < j; k++) write_case(out, e[k].d, path);
    fputs("    </testsuite>\n", out);
    free(path);
    i = j;
  }
  free(e);
  if (rc != 0) return -1;
  fputs("</testsuites>\n", out);
  return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}
