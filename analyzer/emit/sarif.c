/* The sarif format: SARIF 2.1.0 as GitHub code scanning ingests it
 * (github/codeql-action/upload-sarif).
 *
 * Design choices, each for a consumer:
 * - tool.driver.rules lists every rule of eql_rules, not just those reported, in table
 *   order, so ruleIndex is simply the rule id and GitHub's rule help pages exist for
 *   alerts that are closed later. Each rule carries its Markdown page (help.markdown, from
 *   the rule file's leading comment) and the "What it does" section as fullDescription.
 * - Locations are relative URIs with uriBaseId %SRCROOT% (the checkout root), percent-
 *   encoded byte by byte so any file name is a valid URI; an absolute path outside the
 *   root becomes a file:// URI instead. Columns count code points, which the run declares
 *   with columnKind (SARIF's default would be UTF-16 code units).
 * - partialFingerprints carry fingerprint.c's line-number-free digest, so an alert stays
 *   the same alert when code above it moves.
 * Output is Jansson's, indented by two spaces, keys in the order SARIF's examples use. */
#include <stdlib.h>
#include <string.h>

#include "emit_internal.h"

enum { PRETTY = JSON_INDENT(2) | JSON_PRESERVE_ORDER };

static const char *sarif_level(eql_severity s) {
  switch (s) {
    case EQL_SEV_ERROR: return "error";
    case EQL_SEV_WARNING: return "warning";
    default: return "note";
  }
}

/* A category tag for GitHub's alert filters, from the severity's meaning in RULES.md. */
static const char *severity_tag(eql_severity s) {
  switch (s) {
    case EQL_SEV_ERROR: return "correctness";
    case EQL_SEV_WARNING: return "suspicious";
    default: return "performance";
  }
}

/* The rule's documentation without the leading blank a comment's text starts with. */
static const char *doc_text(const eql_rule_info *r) {
  const char *doc = r->doc ? r->doc : "";
  while (*doc == ' ' || *doc == '\t' || *doc == '\n') doc++;
  return doc;
}

/* The body of the doc's "## What it does" section as one paragraph (line breaks of the
 * comment become spaces), or the summary when the doc has no such section. Malloc'd. */
static char *what_it_does(const eql_rule_info *r) {
  const char *doc = doc_text(r), *h = strstr(doc, "## What it does");
  if (!h) return strdup(r->summary);
  const char *p = strchr(h, '\n');
  if (!p) return strdup(r->summary);
  p++;
  const char *end = strstr(p, "\n## ");
  size_t n = end ? (size_t)(end - p) : strlen(p);
  char *out = malloc(n + 1), *w = out;
  if (!out) return NULL;
  for (size_t i = 0; i < n; i++) *w++ = p[i] == '\n' ? ' ' : p[i];
  while (w > out && w[-1] == ' ') w--;
  *w = 0;
  return out;
}

static json_t *rule_descriptor(const eql_rule_info *r) {
  char url[128];
  snprintf(url, sizeof url, "%s%s", EQL_EMIT_RULE_URL_BASE, r->code);
  char *full = what_it_does(r);
  char *doc = eql_emit_utf8_dup(doc_text(r));
  json_t *j = NULL;
  if (full && doc)
    j = json_pack("{s:s, s:s, s:{s:s}, s:{s:s}, s:{s:s, s:s}, s:s, s:{s:s}, s:{s:[s,s,s]}}",
                  "id", r->code, "name", r->name, "shortDescription", "text", r->summary,
                  "fullDescription", "text", full, "help", "text", doc, "markdown", doc,
                  "helpUri", url, "defaultConfiguration", "level", sarif_level(r->severity),
                  "properties", "tags", "jax", "equinox", severity_tag(r->severity));
  free(full);
  free(doc);
  return j;
}

/* RFC 3986 path characters kept as they are; every other byte is percent-encoded. */
static bool uri_safe(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_' || c == '~' || c == '/';
}

/* {"uri": ..., "uriBaseId": "%SRCROOT%"} for a relative path, {"uri": "file:///..."} for an
 * absolute one outside the root. */
static json_t *artifact_location(const char *display_path, const char *root) {
  char *path = eql_emit_report_path(display_path, root);
  if (!path) return NULL;
  bool absolute = path[0] == '/';
  size_t n = strlen(path);
  char *uri = malloc(n * 3 + 8), *w = uri;
  if (!uri) {
    free(path);
    return NULL;
  }
  if (absolute) w += sprintf(w, "file://");
  static const char hex[] = "0123456789ABCDEF";
  for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
    if (uri_safe(*p)) {
      *w++ = (char)*p;
    } else {
      *w++ = '%';
      *w++ = hex[*p >> 4];
      *w++ = hex[*p & 15];
    }
  }
  *w = 0;
  json_t *j = absolute ? json_pack("{s:s}", "uri", uri)
                       : json_pack("{s:s, s:s}", "uri", uri, "uriBaseId", "%SRCROOT%");
  free(uri);
  free(path);
  return j;
}

static json_t *physical_location(const char *path, const eql_span *sp, const char *root) {
  json_t *art = artifact_location(path, root);
  if (!art) return NULL;
  return json_pack("{s:o, s:{s:I, s:I, s:I, s:I}}", "artifactLocation", art, "region",
                   "startLine", (json_int_t)sp->line, "startColumn", (json_int_t)sp->col,
                   "endLine", (json_int_t)sp->end_line, "endColumn", (json_int_t)sp->end_col);
}

/* SARIF §3.55: a fix is artifact changes made of replacements (a deleted region and the
 * inserted text). Unsafe fixes are included too, named so in the description: SARIF has no
 * notion of applicability and a viewer only offers them, it never applies them unasked. */
static json_t *fix_array(const eql_diag *d, const char *root) {
  const eql_fix *f = d->fix;
  json_t *reps = json_array();
  bool ok = reps != NULL;
  for (unsigned i = 0; ok && i < f->nedits; i++) {
    const eql_span *sp = &f->edits[i].span;
    json_t *text = eql_emit_json_text(f->edits[i].text);
    json_t *r = text ? json_pack("{s:{s:I, s:I, s:I, s:I}, s:{s:o}}", "deletedRegion",
                                 "startLine", (json_int_t)sp->line, "startColumn",
                                 (json_int_t)sp->col, "endLine", (json_int_t)sp->end_line,
                                 "endColumn", (json_int_t)sp->end_col, "insertedContent", "text",
                                 text)
                     : NULL;
    if (!r || json_array_append_new(reps, r) != 0) ok = false;
  }
  json_t *art = ok ? artifact_location(d->path, root) : NULL;
  char desc[600];
  snprintf(desc, sizeof desc, "%s%s", f->title ? f->title : "Apply the fix",
           f->applicability == EQL_FIX_SAFE ? "" : " (unsafe: may change behaviour)");
  json_t *dtext = art ? eql_emit_json_text(desc) : NULL;
  if (!dtext) {
    json_decref(reps);
    json_decref(art);
    return NULL;
  }
  return json_pack("[{s:{s:o}, s:[{s:o, s:o}]}]", "description", "text", dtext,
                   "artifactChanges", "artifactLocation", art, "replacements", reps);
}

static json_t *result_object(const eql_diag *d, const char *fingerprint, const char *root) {
  const eql_rule_info *r = eql_emit_rule_of(d);
  json_t *msg = eql_emit_json_text(d->message ? d->message : "");
  json_t *loc = physical_location(d->path, &d->span, root);
  if (!msg || !loc) {
    json_decref(msg);
    json_decref(loc);
    return NULL;
  }
  json_t *res = json_pack("{s:s}", "ruleId", eql_emit_code_of(d));
  if (!res) {
    json_decref(msg);
    json_decref(loc);
    return NULL;
  }
  bool ok = true;
  /* An unknown rule has no index into the table; SARIF then relies on ruleId alone. */
  if (r && json_object_set_new(res, "ruleIndex", json_integer(d->rule)) != 0) ok = false;
  if (json_object_set_new(res, "level",
                          json_string(sarif_level(r ? r->severity : EQL_SEV_ERROR))) != 0)
    ok = false;
  if (json_object_set_new(res, "message", json_pack("{s:o}", "text", msg)) != 0) ok = false;
  if (json_object_set_new(res, "locations", json_pack("[{s:o}]", "physicalLocation", loc)) != 0)
    ok = false;
  if (d->has_related) {
    json_t *rmsg = eql_emit_json_text(d->related_message ? d->related_message : "");
    json_t *rloc = physical_location(d->path, &d->related, root);
    json_t *rel = rmsg && rloc ? json_pack("[{s:i, s:o, s:o}]", "id", 1, "physicalLocation",
                                           rloc, "message", json_pack("{s:o}", "text", rmsg))
                               : NULL;
    if (!rel) {
      if (!rmsg || !rloc) {
        json_decref(rmsg);
        json_decref(rloc);
      }
      ok = false;
    } else if (json_object_set_new(res, "relatedLocations", rel) != 0) {
      ok = false;
    }
  }
  if (d->fix && d->fix->nedits) {
    json_t *fx = fix_array(d, root);
    if (!fx || json_object_set_new(res, "fixes", fx) != 0) ok = false;
  }
  /* Notebooks: regions count lines within the cell, which SARIF cannot express; the cell
   * travels as a property bag entry for viewers that know notebooks. */
  if (d->cell &&
      json_object_set_new(res, "properties", json_pack("{s:I}", "cell", (json_int_t)d->cell)) != 0)
    ok = false;
  if (json_object_set_new(res, "partialFingerprints",
                          json_pack("{s:s}", "eqlint/v1", fingerprint)) != 0)
    ok = false;
  if (!ok) {
    json_decref(res);
    return NULL;
  }
  return res;
}

int eql_emit_sarif(FILE *out, const eql_diag_list *diags, eql_emit_source_fn source,
                   const void *ud, const eql_emit_options *opts) {
  const char *root = opts ? opts->root : NULL;
  eql_emit_fingerprint *fps = calloc(diags->n ? diags->n : 1, sizeof *fps);
  if (!fps || eql_emit_fingerprints(diags, source, ud, root, fps) != 0) {
    free(fps);
    return -1;
  }
  json_t *rules = json_array(), *results = json_array();
  bool ok = rules && results;
  for (int i = 0; ok && i < EQL_RULE_COUNT; i++)
    if (json_array_append_new(rules, rule_descriptor(&eql_rules[i])) != 0) ok = false;
  for (size_t i = 0; ok && i < diags->n; i++)
    if (json_array_append_new(results, result_object(&diags->items[i], fps[i], root)) != 0)
      ok = false;
  free(fps);
  if (!ok) {
    json_decref(rules);
    json_decref(results);
    return -1;
  }
  json_t *doc = json_pack(
      "{s:s, s:s, s:[{s:{s:{s:s, s:s, s:s, s:o}}, s:s, s:o}]}",
      "$schema", "https://json.schemastore.org/sarif-2.1.0.json", "version", "2.1.0", "runs",
      "tool", "driver", "name", "eqlint", "version", EQL_VERSION, "informationUri",
      EQL_EMIT_DOCS_URL, "rules", rules, "columnKind", "unicodeCodePoints", "results", results);
  if (eql_emit_json_dump(out, doc, PRETTY) != 0) return -1;
  return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}
