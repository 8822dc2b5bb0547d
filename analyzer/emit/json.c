/* The json and json-lines formats: one object per diagnostic, in Ruff's vocabulary so tools
 * written for `ruff check --output-format json` read ours with a different code prefix:
 *
 *   {"code": "EQX001", "name": "optimizer-init-unfiltered", "severity": "error",
 *    "message": "...", "help": "..." | null, "filename": "src/train.py", "cell": null | 3,
 *    "location": {"row": 15, "column": 13}, "end_location": {"row": 15, "column": 30},
 *    "fix": null | {"applicability": "safe" | "unsafe", "message": "Wrap `model` in ...",
 *            "edits": [{"content": "...", "location": {...}, "end_location": {...}}]},
 *    "url": "https://eqlint.dev/rules/EQX001",
 *    "related": [{"message": ..., "filename": ..., "location": ..., "end_location": ...}]}
 *
 * `related` is present only when the diagnostic points at a second place (an array, so a
 * rule may one day point at several). Keys are written in the order above, always (Jansson
 * keeps insertion order), and json arrays are indented by two spaces like Ruff's; json-lines
 * writes each object compact on its own line for streaming consumers. Strings are repaired
 * to valid UTF-8 (U+FFFD for invalid bytes) before they reach Jansson, which would refuse
 * them otherwise; control characters come out as \u00XX escapes. */
#include <stdlib.h>
#include <string.h>

#include "emit_internal.h"

static json_t *position(uint32_t row, uint32_t column) {
  return json_pack("{s:I,s:I}", "row", (json_int_t)row, "column", (json_int_t)column);
}

/* Notebooks: the 1-based code cell the diagnostic is in (rows then count within the cell);
 * plain Python files have no cell: null, as in Ruff. */
static json_t *cell_of(const eql_diag *d) {
  return d->cell ? json_integer((json_int_t)d->cell) : json_null();
}

/* The rule's documentation page, or null for an unknown rule. */
static json_t *rule_url(const eql_rule_info *r) {
  if (!r) return json_null();
  char url[128];
  snprintf(url, sizeof url, "%s%s", EQL_EMIT_RULE_URL_BASE, r->code);
  return json_string(url);
}

static json_t *text_or_null(const char *s) { return s ? eql_emit_json_text(s) : json_null(); }

/* Adds key -> value, consuming value; remembers any failure in *ok. */
static void put(json_t *obj, const char *key, json_t *value, bool *ok) {
  if (!value || json_object_set_new(obj, key, value) != 0) *ok = false;
}

/* Ruff's fix object; edits in file order, positions like the diagnostic's. */
static json_t *fix_object(const eql_diag *d) {
  const eql_fix *f = d->fix;
  if (!f) return json_null();
  json_t *o = json_object(), *edits = json_array();
  bool ok = o && edits;
  for (unsigned i = 0; ok && i < f->nedits; i++) {
    const eql_edit *e = &f->edits[i];
    json_t *eo = json_object();
    if (!eo) {
      ok = false;
      break;
    }
    put(eo, "content", eql_emit_json_text(e->text), &ok);
    put(eo, "location", position(e->span.line, e->span.col), &ok);
    put(eo, "end_location", position(e->span.end_line, e->span.end_col), &ok);
    if (json_array_append_new(edits, eo) != 0) ok = false;
  }
  if (o) {
    put(o, "applicability",
        json_string(f->applicability == EQL_FIX_SAFE ? "safe" : "unsafe"), &ok);
    put(o, "message", text_or_null(f->title), &ok);
    put(o, "edits", edits, &ok);
    edits = NULL;
  }
  json_decref(edits);
  if (!ok) {
    json_decref(o);
    return NULL;
  }
  return o;
}

static json_t *diag_object(const eql_diag *d) {
  const eql_rule_info *r = eql_emit_rule_of(d);
  json_t *o = json_object();
  if (!o) return NULL;
  bool ok = true;
  put(o, "code", json_string(eql_emit_code_of(d)), &ok);
  put(o, "name", r ? json_string(r->name) : json_null(), &ok);
  put(o, "severity", json_string(eql_severity_name(r ? r->severity : EQL_SEV_ERROR)), &ok);
  put(o, "message", eql_emit_json_text(d->message ? d->message : ""), &ok);
  put(o, "help", text_or_null(d->help), &ok);
  put(o, "filename", eql_emit_json_text(d->path), &ok);
  put(o, "cell", cell_of(d), &ok);
  put(o, "location", position(d->span.line, d->span.col), &ok);
  put(o, "end_location", position(d->span.end_line, d->span.end_col), &ok);
  put(o, "fix", fix_object(d), &ok);
  put(o, "url", rule_url(r), &ok);
  if (d->has_related) {
    json_t *rel = json_object(), *arr = json_array();
    if (rel) {
      put(rel, "message", text_or_null(d->related_message), &ok);
      put(rel, "filename", eql_emit_json_text(d->path), &ok);
      put(rel, "location", position(d->related.line, d->related.col), &ok);
      put(rel, "end_location", position(d->related.end_line, d->related.end_col), &ok);
    }
    if (!arr || !rel || json_array_append_new(arr, rel) != 0) {
      ok = false;
      json_decref(arr);
      arr = NULL;
    }
    put(o, "related", arr, &ok);
  }
  if (!ok) {
    json_decref(o);
    return NULL;
  }
  return o;
}

/* Ruff's indentation; JSON_PRESERVE_ORDER is the default since Jansson 2.8 and spelled out
 * for older ones. */
enum { PRETTY = JSON_INDENT(2) | JSON_PRESERVE_ORDER, COMPACT = JSON_COMPACT | JSON_PRESERVE_ORDER };

int eql_emit_json(FILE *out, const eql_diag_list *diags, const eql_emit_options *opts) {
  (void)opts;
  json_t *arr = json_array();
  for (size_t i = 0; arr && i < diags->n; i++) {
    json_t *o = diag_object(&diags->items[i]);
    if (!o || json_array_append_new(arr, o) != 0) {
      json_decref(arr);
      arr = NULL;
    }
  }
  if (eql_emit_json_dump(out, arr, PRETTY) != 0) return -1;
  return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}

int eql_emit_json_lines(FILE *out, const eql_diag_list *diags, const eql_emit_options *opts) {
  (void)opts;
  for (size_t i = 0; i < diags->n; i++)
    if (eql_emit_json_dump(out, diag_object(&diags->items[i]), COMPACT) != 0) return -1;
  return fflush(out) == 0 && !ferror(out) ? 0 : -1;
}
