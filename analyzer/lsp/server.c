/* The language server: dispatch, open documents, and the protocol's view of diagnostics.
 *
 * One thread, one eql_project. At initialize every .py file of the workspace folders is
 * added from disk (without kept trees: they are parsed once and only their facts matter
 * to the index); an opened buffer replaces its file's entry with a fresh parse whose tree
 * is kept, so each didChange is told to tree-sitter (eql_project_edit) and re-parsed
 * incrementally (eql_project_set_source). Closing a buffer puts the on-disk file back.
 *
 * The loop reads ahead whatever input is already waiting (at most READ_AHEAD messages)
 * before handling the oldest, which buys two things a strictly sequential loop cannot
 * have: a burst of didChanges on one document is checked and published once, for its
 * last version, and a $/cancelRequest queued behind its request cancels it.
 *
 * Invariants worth knowing: a document's tree is only ever re-used for text that reached
 * it through eql_project_edit (anything else goes through remove + add, because handing
 * tree-sitter an old tree for unrelated text silently corrupts the parse); a document's
 * cached diagnostics are byte spans into the project's copy of its text, so they are used
 * only when that copy is current (!dirty && !stale). */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "eqlint/check.h"
#include "eqlint/config.h"
#include "eqlint/emit.h"
#include "eqlint/fix.h"
#include "eqlint/lsp.h"
#include "eqlint/rules.h"
#include "eqlint/walk.h"
#include "lsp_internal.h"


#define READ_AHEAD 256
/* Below "source.fixAll", where clients look for fix-on-save actions. */
#define FIX_ALL_KIND "source.fixAll.eqlint"
/* A workspace folder that is really a home directory must not take the editor down: past
 * this many files the index stops growing (open buffers are still checked). */
#define EQL_LSP_MAX_WORKSPACE_FILES 20000

/* JSON-RPC and LSP error codes. */
enum {
  RPC_PARSE_ERROR = -32700,
  RPC_INVALID_REQUEST = -32600,
  RPC_METHOD_NOT_FOUND = -32601,
  RPC_INVALID_PARAMS = -32602,
  RPC_INTERNAL_ERROR = -32603,
  LSP_SERVER_NOT_INITIALIZED = -32002,
  LSP_REQUEST_CANCELLED = -32800,
};

typedef struct doc {
  char *uri;
  char *path;              /* the project's key for this buffer */
  eql_lsp_text text;
  json_int_t version;
  bool was_in_project;     /* the path was a workspace file before the buffer opened */
  bool dirty;              /* edits not yet handed to the project (set_source pending) */
  bool stale;              /* the project changed since diags were computed */
  eql_diag_list diags;
} doc;

typedef struct queued {
  json_t *msg;             /* a parsed message, or NULL for a framing/parse error */
  int err_code;
  char *err_text;
} queued;

typedef enum { ST_UNINITIALIZED, ST_RUNNING, ST_SHUT_DOWN } server_state;

typedef struct server {
  eql_lsp_reader rd;
  bool input_done;
  int out;
  bool write_failed;
  FILE *log;
  int verbose;
  eql_project *project;
  /* Rules come from the configuration files (pyproject.toml [tool.eqlint], eqlint.toml)
   * found above each file, with the client's settings on top as the command line's
   * --select/--extend-select/--ignore would be. The lists are owned here because the
   * store keeps pointers to them. */
  eql_config_store *store;
  char **sel, **ext, **ign;
  size_t nsel, next, nign;
  char config_error[1400]; /* the last configuration error shown, so it is shown once */
  eql_walk_files ws;       /* files added from disk (workspace folders), for folder removal */
  bool watch_dynamic;      /* the client lets us register file watchers */
  doc **docs;
  size_t ndocs, capdocs;
  eql_lsp_encoding enc;
  bool hover_markdown;
  server_state state;
  bool exit;
  queued *q;
  size_t qhead, qn, qcap;
} server;

static void logf_(server *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(server *s, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("eqlint server: ", s->log);
  vfprintf(s->log, fmt, ap);
  fputc('\n', s->log);
  va_end(ap);
  fflush(s->log);
}

static void rules_for(server *s, const char *path, eql_ruleset *rs);

/* ---- JSON helpers ---- */

/* A JSON string from bytes that may not be valid UTF-8 (messages quote users' code):
 * invalid bytes become U+FFFD, because Jansson refuses them and the client would too. */
static json_t *jstr(const char *str) {
  json_t *j = json_string(str);
  if (j) return j;
  size_t n = strlen(str);
  char *clean = malloc(3 * n + 1);
  if (!clean) return NULL;
  size_t o = 0;
  const unsigned char *p = (const unsigned char *)str, *end = p + n;
  while (p < end) {
    unsigned c = *p;
    size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    bool ok = len > 0 && p + len <= end;
    for (size_t i = 1; ok && i < len; i++) ok = (p[i] & 0xC0) == 0x80;
    if (ok) {
      memcpy(clean + o, p, len);
      o += len;
      p += len;
    } else {
      memcpy(clean + o, "\xEF\xBF\xBD", 3);
      o += 3;
      p++;
    }
  }
  clean[o] = 0;
  j = json_string(clean); /* still NULL for overlong forms or surrogates: give up quietly */
  free(clean);
  return j ? j : json_string("?");
}

static const char *jget_str(const json_t *o, const char *key) {
  return json_string_value(json_object_get(o, key));
}

/* A uint32 field of a position; negatives clamp to 0, huge values to UINT32_MAX. Returns
 * false when missing or not an integer. */
static bool jget_u32(const json_t *o, const char *key, uint32_t *out) {
  json_t *v = json_object_get(o, key);
  if (!json_is_integer(v)) return false;
  json_int_t x = json_integer_value(v);
  *out = x < 0 ? 0 : x > (json_int_t)UINT32_MAX ? UINT32_MAX : (uint32_t)x;
  return true;
}

static void send_msg(server *s, json_t *msg) {
  if (!msg) return;
  if (!s->write_failed) {
    char *body = json_dumps(msg, JSON_COMPACT);
    if (!body || eql_lsp_write(s->out, body, strlen(body)) < 0) {
      if (body) logf_(s, "cannot write to the client (%s); stopping", strerror(errno));
      else logf_(s, "out of memory while encoding a message; stopping");
      s->write_failed = true;
    }
    free(body);
  }
  json_decref(msg);
}

static void respond(server *s, json_t *id, json_t *result) {
  send_msg(s, json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id", id ? id : json_null(),
                        "result", result ? result : json_null()));
}

static void respond_error(server *s, json_t *id, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void respond_error(server *s, json_t *id, int code, const char *fmt, ...) {
  char text[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text, sizeof text, fmt, ap);
  va_end(ap);
  send_msg(s, json_pack("{s:s, s:O, s:{s:i, s:o}}", "jsonrpc", "2.0", "id",
                        id ? id : json_null(), "error", "code", code, "message", jstr(text)));
}

static void notify(server *s, const char *method, json_t *params) {
  send_msg(s, json_pack("{s:s, s:s, s:o}", "jsonrpc", "2.0", "method", method, "params",
                        params));
}

static void show_message(server *s, int type, const char *text) {
  notify(s, "window/showMessage", json_pack("{s:i, s:o}", "type", type, "message", jstr(text)));
}

/* ---- documents ---- */

static doc *find_doc(server *s, const char *uri) {
  for (size_t i = 0; i < s->ndocs; i++)
    if (!strcmp(s->docs[i]->uri, uri)) return s->docs[i];
  return NULL;
}

static void doc_free(doc *d) {
  if (!d) return;
  free(d->uri);
  free(d->path);
  eql_lsp_text_free(&d->text);
  eql_diag_list_free(&d->diags);
  free(d);
}

/* Puts `path` into the project with this text and a fresh parse (never an old tree). */
static int project_put_fresh(server *s, const char *path, const char *text, size_t len,
                             bool keep_tree) {
  eql_project_remove(s->project, path);
  eql_project_keep_trees(s->project, keep_tree);
  return eql_project_add_source(s->project, path, text, len);
}

static json_t *lsp_position(server *s, const eql_source *src, uint32_t byte) {
  if (byte > src->len) byte = src->len;
  uint32_t line = eql_source_line_of(src, byte);
  uint32_t ch = s->enc == EQL_LSP_UTF8 ? byte - src->line_start[line - 1]
                                       : eql_source_utf16_col_of(src, byte);
  return json_pack("{s:i, s:i}", "line", (json_int_t)(line - 1), "character", (json_int_t)ch);
}

static json_t *lsp_range(server *s, const eql_source *src, uint32_t start, uint32_t end) {
  return json_pack("{s:o, s:o}", "start", lsp_position(s, src, start), "end",
                   lsp_position(s, src, end));
}

static int lsp_severity(eql_severity sev) {
  switch (sev) {
    case EQL_SEV_ERROR: return 1;
    case EQL_SEV_WARNING: return 2;
    case EQL_SEV_INFO: return 3;
  }
  return 3;
}

static json_t *lsp_diagnostic(server *s, const doc *d, const eql_source *src, const eql_diag *g) {
  const eql_rule_info *ri = &eql_rules[g->rule];
  char href[128];
  snprintf(href, sizeof href, "%s%s", EQL_EMIT_RULE_URL_BASE, ri->code);
  json_t *o = json_pack("{s:o, s:i, s:s, s:{s:s}, s:s, s:o}", "range",
                        lsp_range(s, src, g->span.start, g->span.end), "severity",
                        lsp_severity(ri->severity), "code", ri->code, "codeDescription", "href",
                        href, "source", "eqlint", "message", jstr(g->message));
  if (!o) return NULL;
  if (g->rule == EQL_R_EQX900) /* an unused noqa: editors grey it out */
    json_object_set_new(o, "tags", json_pack("[i]", 1));
  if (g->has_related) {
    /* the related place is in the same file (eql_diag records no second path) */
    json_object_set_new(
        o, "relatedInformation",
        json_pack("[{s:{s:s, s:o}, s:o}]", "location", "uri", d->uri, "range",
                  lsp_range(s, src, g->related.start, g->related.end), "message",
                  jstr(g->related_message ? g->related_message : "related location")));
  }
  return o;
}

/* Hands pending edits to the project: an incremental re-parse over the edited tree. */
static void doc_sync(server *s, doc *d) {
  if (!d->dirty) return;
  if (eql_project_set_source(s->project, d->path, d->text.data ? d->text.data : "",
                             d->text.len) < 0)
    logf_(s, "out of memory re-parsing %s", d->path);
  d->dirty = false;
  d->stale = true;
}

/* Makes d->diags current for the project as it is now. */
static void doc_check(server *s, doc *d) {
  doc_sync(s, d);
  if (!d->stale) return;
  eql_diag_list_free(&d->diags);
  eql_ruleset rules;
  rules_for(s, d->path, &rules);
  if (eql_project_run_file(s->project, d->path, &rules, &d->diags) < 0) {
    logf_(s, "checking %s failed (out of memory)", d->path);
    eql_diag_list_free(&d->diags);
  }
  d->stale = false;
}

static void publish(server *s, doc *d) {
  doc_check(s, d);
  const eql_source *src = eql_project_source(s->project, d->path);
  json_t *arr = json_array();
  for (size_t i = 0; src && i < d->diags.n; i++)
    json_array_append_new(arr, lsp_diagnostic(s, d, src, &d->diags.items[i]));
  notify(s, "textDocument/publishDiagnostics",
         json_pack("{s:s, s:I, s:o}", "uri", d->uri, "version", d->version, "diagnostics",
                   arr));
}

/* Every open buffer again: after a save, a close or a configuration change the index or
 * the rules changed, and a model class edited in one file changes findings in another. */
static void recheck_all(server *s) {
  for (size_t i = 0; i < s->ndocs; i++) {
    s->docs[i]->stale = true;
    publish(s, s->docs[i]);
  }
}

static bool is_python_doc(const char *language, const char *path) {
  if (language && !strcmp(language, "python")) return true;
  size_t n = strlen(path);
  return (n > 3 && !strcmp(path + n - 3, ".py")) || (n > 4 && !strcmp(path + n - 4, ".pyi"));
}

/* ---- the read-ahead queue ---- */

static bool queue_push(server *s, json_t *msg, int code, const char *text) {
  if (s->qn == s->qcap) {
    if (s->qhead > 0) {
      memmove(s->q, s->q + s->qhead, (s->qn - s->qhead) * sizeof *s->q);
      s->qn -= s->qhead;
      s->qhead = 0;
    }
    if (s->qn == s->qcap) {
      size_t cap = s->qcap ? s->qcap * 2 : 16;
      queued *q = realloc(s->q, cap * sizeof *q);
      if (!q) {
        json_decref(msg);
        return false;
      }
      s->q = q;
      s->qcap = cap;
    }
  }
  queued *e = &s->q[s->qn++];
  e->msg = msg;
  e->err_code = code;
  e->err_text = text ? strdup(text) : NULL;
  return true;
}

/* Reads one message into the queue. False at end of input. */
static bool read_one(server *s) {
  char *body = NULL, why[256];
  size_t len = 0;
  eql_lsp_read_status st = eql_lsp_read(&s->rd, &body, &len, why, sizeof why);
  switch (st) {
    case EQL_LSP_READ_EOF: s->input_done = true; return false;
    case EQL_LSP_READ_BAD_HEADER:
      logf_(s, "framing error: %s", why);
      return queue_push(s, NULL, RPC_PARSE_ERROR, why);
    case EQL_LSP_READ_TOO_LARGE:
      logf_(s, "%s", why);
      return queue_push(s, NULL, RPC_INVALID_REQUEST, why);
    case EQL_LSP_READ_MESSAGE: break;
  }
  json_error_t err;
  json_t *msg = json_loadb(body, len, JSON_ALLOW_NUL, &err);
  free(body);
  if (!msg) {
    char text[300];
    snprintf(text, sizeof text, "parse error at line %d, column %d: %s", err.line, err.column,
             err.text);
    logf_(s, "%s", text);
    return queue_push(s, NULL, RPC_PARSE_ERROR, text);
  }
  return queue_push(s, msg, 0, NULL);
}

/* Is there, behind the message being handled, a didChange for `uri`? */
static bool queued_change_for(server *s, const char *uri) {
  for (size_t i = s->qhead; i < s->qn; i++) {
    json_t *m = s->q[i].msg;
    const char *method = m ? jget_str(m, "method") : NULL;
    if (!method || strcmp(method, "textDocument/didChange")) continue;
    const char *u = jget_str(json_object_get(json_object_get(m, "params"), "textDocument"), "uri");
    if (u && !strcmp(u, uri)) return true;
  }
  return false;
}

/* Is there, behind the request being handled, a $/cancelRequest for its id? */
static bool queued_cancel_for(server *s, json_t *id) {
  for (size_t i = s->qhead; i < s->qn; i++) {
    json_t *m = s->q[i].msg;
    const char *method = m ? jget_str(m, "method") : NULL;
    if (!method || strcmp(method, "$/cancelRequest")) continue;
    if (json_equal(json_object_get(json_object_get(m, "params"), "id"), id)) return true;
  }
  return false;
}

/* ---- configuration ---- */

static void free_list(char **l, size_t n) {
  for (size_t i = 0; i < n; i++) free(l[i]);
  free(l);
}

/* A list setting: a string (itself a comma-separated list) or an array of strings. Sets
 * *out (malloc'd entries) and *n; false when the value has the wrong type. */
static bool setting_list(json_t *v, char ***out, size_t *n) {
  *out = NULL;
  *n = 0;
  if (!v || json_is_null(v)) return true;
  if (!json_is_string(v) && !json_is_array(v)) return false;
  size_t cnt = json_is_string(v) ? 1 : json_array_size(v);
  char **l = calloc(cnt ? cnt : 1, sizeof *l);
  if (!l) return false;
  for (size_t i = 0; i < cnt; i++) {
    json_t *e = json_is_string(v) ? v : json_array_get(v, i);
    if (!json_is_string(e) || !(l[i] = strdup(json_string_value(e)))) {
      free_list(l, cnt);
      return false;
    }
  }
  *out = l;
  *n = cnt;
  return true;
}

static eql_config_cli settings_cli(const server *s) {
  eql_config_cli cli = {(const char *const *)s->sel, s->nsel, (const char *const *)s->ext,
                        s->next, (const char *const *)s->ign, s->nign};
  return cli;
}

/* Shows a configuration problem once (until a different one comes up). */
static void config_problem(server *s, const eql_config_error *err) {
  char text[sizeof s->config_error];
  if (err->path[0] && err->line)
    snprintf(text, sizeof text, "eqlint: %.200s:%u:%u: %s", err->path, err->line, err->col,
             err->message);
  else if (err->path[0])
    snprintf(text, sizeof text, "eqlint: %.200s: %s", err->path, err->message);
  else
    snprintf(text, sizeof text, "eqlint: %s", err->message);
  logf_(s, "%s", text + 8);
  if (strcmp(text, s->config_error) != 0) {
    show_message(s, 1, text);
    snprintf(s->config_error, sizeof s->config_error, "%s", text);
  }
}

/* (Re)creates the configuration store: configuration files are read afresh (after one
 * was saved) and the client's settings apply on top. */
static void rebuild_store(server *s) {
  eql_config_store_free(s->store);
  s->store = NULL;
  s->config_error[0] = 0;
  eql_config_options opt;
  memset(&opt, 0, sizeof opt);
  opt.cli = settings_cli(s);
  eql_config_error err;
  memset(&err, 0, sizeof err);
  if (eql_config_store_new(&opt, &s->store, &err) != EQL_CONFIG_OK) {
    s->store = NULL;
    config_problem(s, &err);
  }
}

/* The rules for one file: its configuration and the client's settings. Without a usable
 * configuration (an invalid file, a buffer that is not a file), the settings alone. */
static void rules_for(server *s, const char *path, eql_ruleset *rs) {
  if (s->store && path[0] == '/') {
    eql_config_error err;
    memset(&err, 0, sizeof err);
    if (eql_config_store_ruleset(s->store, path, rs, &err) == 0) return;
    config_problem(s, &err);
  }
  eql_config_cli cli = settings_cli(s);
  eql_config_ruleset(NULL, &cli, path, rs);
}

/* Applies settings {"eqlint": {"select": ..., "extendSelect": ..., "ignore": ...}} (or the
 * inner object itself). Absent keys mean nothing on top of the configuration files. On an
 * error the settings in force stay and the user is told. True when the settings changed. */
static bool apply_settings(server *s, json_t *settings) {
  json_t *cfg = json_object_get(settings, "eqlint");
  if (!json_is_object(cfg)) cfg = settings;
  char **sel = NULL, **ext = NULL, **ign = NULL;
  size_t nsel = 0, next = 0, nign = 0;
  json_t *jext = json_object_get(cfg, "extendSelect");
  if (!jext) jext = json_object_get(cfg, "extend-select");
  bool ok = !json_is_object(cfg) ||
            (setting_list(json_object_get(cfg, "select"), &sel, &nsel) &&
             setting_list(jext, &ext, &next) &&
             setting_list(json_object_get(cfg, "ignore"), &ign, &nign));
  char text[1200];
  eql_config_cli cli = {(const char *const *)sel, nsel, (const char *const *)ext, next,
                        (const char *const *)ign, nign};
  eql_config_error err;
  memset(&err, 0, sizeof err);
  if (!ok) {
    snprintf(text, sizeof text, "eqlint: settings `select`, `extendSelect` and `ignore` must "
                                "be a string or a list of strings; keeping the previous ones");
  } else if (eql_config_cli_check(&cli, &err) < 0) {
    snprintf(text, sizeof text, "eqlint: settings: %s; keeping the previous ones", err.message);
    ok = false;
  }
  if (!ok) {
    free_list(sel, nsel);
    free_list(ext, next);
    free_list(ign, nign);
    logf_(s, "%s", text + 8);
    show_message(s, 1, text);
    if (!s->store) rebuild_store(s); /* bad settings at initialize: files' configs still apply */
    return false;
  }
  free_list(s->sel, s->nsel);
  free_list(s->ext, s->next);
  free_list(s->ign, s->nign);
  s->sel = sel, s->nsel = nsel;
  s->ext = ext, s->next = next;
  s->ign = ign, s->nign = nign;
  rebuild_store(s);
  return true;
}

/* Is this the name of a configuration file? Saving one re-reads the configuration. */
static bool is_config_file(const char *path) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  return !strcmp(base, "pyproject.toml") || !strcmp(base, "eqlint.toml") ||
         !strcmp(base, ".eqlint.toml");
}

/* ---- workspace ---- */

static void walk_error(void *ud, const char *path, const char *reason) {
  logf_((server *)ud, "cannot read %s: %s", path, reason);
}

/* Adds a file from disk to the project (a workspace file, not an open buffer). */
static void index_file(server *s, const char *path) {
  const char *err = NULL;
  eql_project_remove(s->project, path);
  eql_project_keep_trees(s->project, false);
  if (eql_project_add_file(s->project, path, &err) < 0) {
    logf_(s, "cannot read %s: %s", path, err ? err : "unknown error");
    return;
  }
  for (size_t i = 0; i < s->ws.n; i++)
    if (!strcmp(s->ws.paths[i], path)) return;
  if (s->ws.n == s->ws.cap) {
    size_t cap = s->ws.cap ? s->ws.cap * 2 : 64;
    char **pp = realloc(s->ws.paths, cap * sizeof *pp);
    if (!pp) return;
    s->ws.paths = pp;
    s->ws.cap = cap;
  }
  if ((s->ws.paths[s->ws.n] = strdup(path))) s->ws.n++;
}

static doc *doc_by_path(server *s, const char *path) {
  for (size_t i = 0; i < s->ndocs; i++)
    if (!strcmp(s->docs[i]->path, path)) return s->docs[i];
  return NULL;
}

/* Adds every .py file under the folders `roots` (absolute paths) from disk. */
static void index_folders(server *s, char **roots, size_t nroots) {
  /* discovery as `eqlint check` does it: the configurations' excludes, .gitignore, and
   * their `src` directories (files parsed for the index only) */
  eql_walk_files files, extra;
  eql_walk_files_init(&files);
  eql_walk_files_init(&extra);
  eql_config_error cerr;
  memset(&cerr, 0, sizeof cerr);
  long rc = s->store ? eql_config_store_walk(s->store, (const char *const *)roots, nroots,
                                             &files, &extra, walk_error, s, &cerr)
                     : -2;
  if (rc == -2) { /* no usable configuration: the plain walk */
    if (s->store) config_problem(s, &cerr);
    eql_walk_files_free(&files);
    eql_walk_files_free(&extra);
    eql_walk_files_init(&files);
    eql_walk_files_init(&extra);
    rc = eql_walk((const char *const *)roots, nroots, &files, walk_error, s);
  }
  if (rc == -1) logf_(s, "out of memory while looking for files; the index is partial");
  size_t added = 0;
  for (int pass = 0; pass < 2; pass++) {
    eql_walk_files *list = pass ? &extra : &files;
    for (size_t i = 0; i < list->n && s->ws.n < EQL_LSP_MAX_WORKSPACE_FILES; i++) {
      doc *d = doc_by_path(s, list->paths[i]);
      if (d) { /* an open buffer wins; it becomes a workspace file for when it closes */
        d->was_in_project = true;
        continue;
      }
      size_t before = s->ws.n;
      index_file(s, list->paths[i]);
      added += s->ws.n > before;
    }
  }
  if (s->ws.n >= EQL_LSP_MAX_WORKSPACE_FILES)
    logf_(s, "workspace: stopped indexing at %d files", EQL_LSP_MAX_WORKSPACE_FILES);
  logf_(s, "workspace: %zu Python files indexed from %zu folder%s", added, nroots,
        nroots == 1 ? "" : "s");
  eql_walk_files_free(&files);
  eql_walk_files_free(&extra);
}

/* Drops the workspace files below `root` (a folder removed from the workspace). */
static void unindex_folder(server *s, const char *root) {
  size_t rl = strlen(root), w = 0;
  for (size_t i = 0; i < s->ws.n; i++) {
    char *p = s->ws.paths[i];
    if (strncmp(p, root, rl) || (p[rl] != '/' && rl > 1)) {
      s->ws.paths[w++] = p;
      continue;
    }
    doc *d = doc_by_path(s, p);
    if (d) d->was_in_project = false; /* the buffer stays; on close it simply goes */
    else eql_project_remove(s->project, p);
    free(p);
  }
  s->ws.n = w;
}

/* The folder paths of an array of WorkspaceFolder (malloc'd, at most max). */
static size_t folder_paths(json_t *folders, char **out, size_t max) {
  size_t n = 0, i;
  json_t *f;
  json_array_foreach(folders, i, f) {
    const char *uri = jget_str(f, "uri");
    char *p = uri ? eql_lsp_uri_to_path(uri) : NULL;
    if (p && p[0] == '/' && n < max) out[n++] = p;
    else free(p);
  }
  return n;
}

/* The workspace at initialize: workspaceFolders, else rootUri, else rootPath. */
static void load_workspace(server *s, json_t *params) {
  char *roots[64];
  size_t nroots = folder_paths(json_object_get(params, "workspaceFolders"), roots, 64);
  if (nroots == 0) {
    const char *uri = jget_str(params, "rootUri");
    char *p = uri ? eql_lsp_uri_to_path(uri) : NULL;
    if (!p && jget_str(params, "rootPath")) p = strdup(jget_str(params, "rootPath"));
    if (p && p[0] == '/') roots[nroots++] = p;
    else free(p);
  }
  if (nroots == 0) {
    logf_(s, "no workspace folder: checking open buffers only");
    return;
  }
  index_folders(s, roots, nroots);
  for (size_t i = 0; i < nroots; i++) free(roots[i]);
}

/* Asks the client to tell us about .py and configuration files changed outside the
 * editor (git checkout, code generators), when it supports registering watchers. */
static void register_watchers(server *s) {
  if (!s->watch_dynamic) return;
  /* a string id: it can never be mistaken for one of the client's numeric request ids by
   * a client that (wrongly) shares one id space between directions */
  send_msg(s, json_pack("{s:s, s:s, s:s, s:{s:[{s:s, s:s, s:{s:[{s:s}, {s:s}]}}]}}",
                        "jsonrpc", "2.0", "id", "eqlint/registerWatchers", "method",
                        "client/registerCapability", "params", "registrations", "id",
                        "eqlint-watch", "method", "workspace/didChangeWatchedFiles",
                        "registerOptions", "watchers", "globPattern", "**/*.py", "globPattern",
                        "**/{pyproject.toml,eqlint.toml,.eqlint.toml}"));
}

/* ---- requests ---- */

static void handle_initialize(server *s, json_t *id, json_t *params) {
  json_t *caps = json_object_get(params, "capabilities");
  json_t *encs = json_object_get(json_object_get(caps, "general"), "positionEncodings");
  s->enc = EQL_LSP_UTF16; /* the protocol's default, and the one every client supports */
  size_t i;
  json_t *e;
  json_array_foreach(encs, i, e) {
    if (json_is_string(e) && !strcmp(json_string_value(e), "utf-8")) s->enc = EQL_LSP_UTF8;
  }
  json_t *formats = json_object_get(
      json_object_get(json_object_get(caps, "textDocument"), "hover"), "contentFormat");
  if (json_is_array(formats) && json_array_size(formats) > 0) {
    s->hover_markdown = false;
    json_array_foreach(formats, i, e) {
      if (json_is_string(e) && !strcmp(json_string_value(e), "markdown")) s->hover_markdown = true;
    }
  }
  s->watch_dynamic = json_is_true(json_object_get(
      json_object_get(json_object_get(caps, "workspace"), "didChangeWatchedFiles"),
      "dynamicRegistration"));
  json_t *opts = json_object_get(params, "initializationOptions");
  if (json_is_object(opts)) apply_settings(s, opts);
  else rebuild_store(s);

  json_t *result = json_pack(
      "{s:{s:s, s:{s:b, s:i, s:{s:b}}, s:b, s:{s:[s, s]}, s:{s:{s:b, s:b}}}, s:{s:s, s:s}}",
      "capabilities",
      "positionEncoding", s->enc == EQL_LSP_UTF8 ? "utf-8" : "utf-16", "textDocumentSync",
      "openClose", 1, "change", 2 /* incremental */, "save", "includeText", 0, "hoverProvider",
      1, "codeActionProvider", "codeActionKinds", "quickfix", FIX_ALL_KIND, "workspace",
      "workspaceFolders", "supported", 1, "changeNotifications", 1, "serverInfo", "name",
      "eqlint", "version", EQL_VERSION);
  respond(s, id, result);
  s->state = ST_RUNNING;
  /* the index is built right after answering, before any didOpen is read */
  load_workspace(s, params);
}

/* The text document a request or notification is about, or NULL. */
static doc *param_doc(server *s, json_t *params) {
  const char *uri = jget_str(json_object_get(params, "textDocument"), "uri");
  return uri ? find_doc(s, uri) : NULL;
}

/* Diagnostics of d whose span holds byte `off`. */
static bool diag_at(const eql_diag *g, uint32_t off) {
  return (g->span.start <= off && off < g->span.end) ||
         (g->span.start == g->span.end && off == g->span.start);
}

static char *rule_doc_text(const eql_diag *g, bool markdown) {
  const eql_rule_info *ri = &eql_rules[g->rule];
  const char *docs = ri->doc ? ri->doc : "";
  /* the doc is a comment's text: drop the blank the comment marker left before it */
  while (*docs == ' ' || *docs == '\t' || *docs == '\n') docs++;
  char *out = NULL;
  size_t n = 0;
  FILE *m = open_memstream(&out, &n);
  if (!m) return NULL;
  if (markdown)
    fprintf(m, "**%s** `%s` (%s)\n\n%s\n", ri->code, ri->name, eql_severity_name(ri->severity),
            g->message);
  else
    fprintf(m, "%s %s (%s)\n\n%s\n", ri->code, ri->name, eql_severity_name(ri->severity),
            g->message);
  if (g->help) fprintf(m, "\nhelp: %s\n", g->help);
  fprintf(m, "\n---\n\n%s", docs);
  if (fclose(m) != 0) {
    free(out);
    return NULL;
  }
  return out;
}

static void handle_hover(server *s, json_t *id, json_t *params) {
  json_t *pos = json_object_get(params, "position");
  uint32_t line, ch;
  if (!jget_u32(pos, "line", &line) || !jget_u32(pos, "character", &ch)) {
    respond_error(s, id, RPC_INVALID_PARAMS, "hover needs textDocument.uri and a position");
    return;
  }
  doc *d = param_doc(s, params);
  if (!d) {
    respond(s, id, json_null());
    return;
  }
  bool was_dirty = d->dirty;
  doc_check(s, d);
  if (was_dirty) publish(s, d); /* the check ran anyway: let the editor see it */
  const eql_source *src = eql_project_source(s->project, d->path);
  uint32_t off = eql_lsp_offset_of(d->text.data ? d->text.data : "", d->text.len, line, ch,
                                   s->enc, NULL);
  char *all = NULL;
  size_t alln = 0;
  FILE *m = open_memstream(&all, &alln);
  const eql_diag *first = NULL;
  for (size_t i = 0; m && src && i < d->diags.n; i++) {
    const eql_diag *g = &d->diags.items[i];
    if (!diag_at(g, off)) continue;
    char *t = rule_doc_text(g, s->hover_markdown);
    if (!t) continue;
    if (first) fputs("\n\n---\n\n", m);
    fputs(t, m);
    free(t);
    if (!first) first = g;
  }
  if (m) fclose(m);
  if (!first) {
    free(all);
    respond(s, id, json_null());
    return;
  }
  json_t *res = json_pack("{s:{s:s, s:o}, s:o}", "contents", "kind",
                          s->hover_markdown ? "markdown" : "plaintext", "value", jstr(all),
                          "range", lsp_range(s, src, first->span.start, first->span.end));
  free(all);
  respond(s, id, res);
}

/* ---- fixes ---- */

/* The code action request's range, as bytes: a diagnostic touching it qualifies. */
static bool diag_in_range(const eql_diag *g, uint32_t a, uint32_t b) {
  return g->span.start <= b && g->span.end >= a;
}

static bool same_fix(const eql_fix *x, const eql_fix *y) {
  if (x->applicability != y->applicability || x->nedits != y->nedits ||
      strcmp(x->title ? x->title : "", y->title ? y->title : ""))
    return false;
  for (unsigned k = 0; k < x->nedits; k++)
    if (x->edits[k].span.start != y->edits[k].span.start ||
        x->edits[k].span.end != y->edits[k].span.end || strcmp(x->edits[k].text, y->edits[k].text))
      return false;
  return true;
}

/* A fix's edits as TextEdits, or NULL when one cannot be sent faithfully: an edit past the
 * end of the text means the fix belongs to another version of it, and text that is not
 * valid UTF-8 would reach the file as U+FFFD (jstr's repair is fine for messages only). */
static json_t *fix_text_edits(server *s, const eql_source *src, const eql_fix *f) {
  json_t *arr = json_array();
  for (unsigned k = 0; arr && k < f->nedits; k++) {
    const eql_edit *e = &f->edits[k];
    json_t *text = e->span.start <= e->span.end && e->span.end <= src->len
                       ? json_string(e->text ? e->text : "")
                       : NULL;
    json_t *te = text ? json_pack("{s:o, s:o}", "range", lsp_range(s, src, e->span.start,
                                                                   e->span.end),
                                  "newText", text)
                      : NULL;
    if (!te || json_array_append_new(arr, te) < 0) {
      json_decref(arr);
      return NULL;
    }
  }
  return arr;
}

/* The quick fix of diagnostic i (in the range [a, b]), appended to `actions`. Unsafe fixes
 * are offered too, marked in the title and never preferred: in an editor the user sees the
 * edit before choosing it, which is the consent `--unsafe-fixes` stands for on the command
 * line. Diagnostics that carry the same fix (two unused codes of one noqa comment, whose
 * fixes both delete the comment) share one action, so the menu does not list it twice.
 * Returns the number appended. */
static size_t eql_lsp_add_fix_actions(server *s, const doc *d, const eql_source *src,
                                      size_t i, uint32_t a, uint32_t b, json_t *actions) {
  const eql_diag *g = &d->diags.items[i];
  if (!eql_diag_fixable(g, true)) return 0;
  for (size_t k = 0; k < i; k++) {
    const eql_diag *h = &d->diags.items[k];
    if (h->fix && diag_in_range(h, a, b) && same_fix(h->fix, g->fix)) return 0;
  }
  json_t *edits = fix_text_edits(s, src, g->fix);
  if (!edits) {
    logf_(s, "%s: the fix of %s cannot be sent (stale or not UTF-8); not offered", d->uri,
          eql_rules[g->rule].code);
    return 0;
  }
  json_t *diags = json_array();
  for (size_t k = i; k < d->diags.n; k++) {
    const eql_diag *h = &d->diags.items[k];
    if (k == i || (h->fix && diag_in_range(h, a, b) && same_fix(h->fix, g->fix)))
      json_array_append_new(diags, lsp_diagnostic(s, d, src, h));
  }
  bool safe = g->fix->applicability == EQL_FIX_SAFE;
  const char *title = g->fix->title ? g->fix->title : "Apply eqlint's fix";
  size_t tn = strlen(title) + sizeof " (unsafe)";
  char *full = malloc(tn);
  if (full) snprintf(full, tn, "%s%s", title, safe ? "" : " (unsafe)");
  json_t *changes = json_object();
  json_object_set_new(changes, d->uri, edits);
  json_t *act = json_pack("{s:o, s:s, s:o, s:{s:o}}", "title", jstr(full ? full : title),
                          "kind", "quickfix", "diagnostics", diags, "edit", "changes", changes);
  free(full);
  if (!act) return 0;
  if (safe) json_object_set_new(act, "isPreferred", json_true());
  json_array_append_new(actions, act);
  return 1;
}

void eql_lsp_min_edit(const char *a, size_t alen, const char *b, size_t blen, size_t *start,
                      size_t *a_end, size_t *b_end) {
  size_t max = alen < blen ? alen : blen, p = 0, q = 0;
  while (p < max && a[p] == b[p]) p++;
  while (q < max - p && a[alen - 1 - q] == b[blen - 1 - q]) q++;
  /* Positions are sent in UTF-16 units or whole UTF-8 characters: neither can name a byte
   * inside a character, so the ends move out to character boundaries. */
  while (p > 0 && ((p < alen && (a[p] & 0xC0) == 0x80) || (p < blen && (b[p] & 0xC0) == 0x80)))
    p--;
  while (q > 0 && (a[alen - q] & 0xC0) == 0x80) q--;
  /* Between the \r and \n of a line break is no position at all in the protocol. */
  if (p > 0 && p < alen && a[p - 1] == '\r' && a[p] == '\n') p--;
  if (q > 0 && alen - q > 0 && a[alen - q - 1] == '\r' && a[alen - q] == '\n') q--;
  *start = p;
  *a_end = alen - q;
  *b_end = blen - q;
}

/* "Fix all eqlint problems": the document's safe fixes at once, as `eqlint check --fix`
 * would apply them in one round, sent as one TextEdit over the region that changed. One
 * edit cannot be misapplied by a client that orders edits its own way, and the text it
 * produces is exactly what the fix engine made. NULL when nothing would change. */
static json_t *fix_all_action(server *s, const doc *d, const eql_source *src) {
  eql_diag **ds = malloc((d->diags.n ? d->diags.n : 1) * sizeof *ds);
  if (!ds) return NULL;
  size_t n = 0;
  for (size_t i = 0; i < d->diags.n; i++)
    if (eql_diag_fixable(&d->diags.items[i], false)) ds[n++] = &d->diags.items[i];
  char *out = NULL;
  size_t out_len = 0;
  long fixed = n ? eql_fix_apply(src->text, src->len, ds, n, false, &out, &out_len, NULL) : 0;
  free(ds);
  if (fixed < 0) logf_(s, "out of memory computing the fixes of %s", d->uri);
  if (fixed <= 0 || !out) {
    free(out);
    return NULL;
  }
  /* as `--fix` does: a result that no longer parses is a bug in a rule, never offered */
  if (eql_fix_parses(d->path, out, out_len) != 1) {
    logf_(s, "eqlint bug: the fixes of %s would leave a syntax error; fix-all not offered",
          d->uri);
    free(out);
    return NULL;
  }
  size_t start, end, new_end;
  eql_lsp_min_edit(src->text, src->len, out, out_len, &start, &end, &new_end);
  json_t *text = start == end && start == new_end
                     ? NULL
                     : json_stringn(out + start, new_end - start);
  free(out);
  if (!text) return NULL;
  json_t *changes = json_object();
  json_object_set_new(changes, d->uri,
                      json_pack("[{s:o, s:o}]", "range",
                                lsp_range(s, src, (uint32_t)start, (uint32_t)end), "newText",
                                text));
  return json_pack("{s:s, s:s, s:{s:o}}", "title", "Fix all eqlint problems", "kind",
                   FIX_ALL_KIND, "edit", "changes", changes);
}

/* "Suppress EQXnnn with `# noqa: EQXnnn`": an edit on the diagnostic's first line, or its
 * last when the first ends in a backslash continuation (a comment there would be a syntax
 * error; suppress.c honours either line). NULL when no such edit applies. */
static json_t *noqa_action(server *s, const doc *d, const eql_source *src, const eql_diag *g) {
  const char *code = eql_rules[g->rule].code;
  uint32_t lines[2] = {g->span.line, g->span.end_line};
  for (int k = 0; k < 2; k++) {
    uint32_t ln = lines[k], len;
    const char *text = eql_source_line(src, ln, &len);
    if (!text) continue;
    if (len > 0 && text[len - 1] == '\\') continue;
    size_t at;
    char *ins = NULL;
    int rc = eql_lsp_noqa_edit(text, len, code, &at, &ins);
    if (rc != 0) return NULL; /* already suppressed there, or out of memory */
    uint32_t byte = src->line_start[ln - 1] + (uint32_t)at;
    char title[96];
    snprintf(title, sizeof title, "Suppress %s with `# noqa: %s`", code, code);
    json_t *edit = json_pack("{s:{s:o, s:o}, s:o}", "range", "start", lsp_position(s, src, byte),
                             "end", lsp_position(s, src, byte), "newText", jstr(ins));
    free(ins);
    json_t *changes = json_object();
    json_object_set_new(changes, d->uri, json_pack("[o]", edit));
    return json_pack("{s:s, s:s, s:[o], s:{s:o}}", "title", title, "kind", "quickfix",
                     "diagnostics", lsp_diagnostic(s, d, src, g), "edit", "changes", changes);
  }
  return NULL;
}

/* Does CodeActionContext.only ask for actions of `kind`? Kinds are hierarchical: an entry
 * asks for itself and every kind below it ("source" and "source.fixAll" both cover
 * FIX_ALL_KIND), and "" is the protocol's empty kind, which covers all. */
static bool kind_wanted(json_t *only, const char *kind) {
  if (!json_is_array(only)) return true;
  size_t i;
  json_t *e;
  json_array_foreach(only, i, e) {
    const char *k = json_string_value(e);
    size_t n = k ? strlen(k) : 0;
    if (k && (!n || (!strncmp(kind, k, n) && (kind[n] == 0 || kind[n] == '.')))) return true;
  }
  return false;
}

static void handle_code_action(server *s, json_t *id, json_t *params) {
  json_t *range = json_object_get(params, "range");
  uint32_t l0, c0, l1, c1;
  if (!jget_u32(json_object_get(range, "start"), "line", &l0) ||
      !jget_u32(json_object_get(range, "start"), "character", &c0) ||
      !jget_u32(json_object_get(range, "end"), "line", &l1) ||
      !jget_u32(json_object_get(range, "end"), "character", &c1)) {
    respond_error(s, id, RPC_INVALID_PARAMS, "codeAction needs textDocument.uri and a range");
    return;
  }
  doc *d = param_doc(s, params);
  json_t *actions = json_array();
  json_t *only = json_object_get(json_object_get(params, "context"), "only");
  bool want_quick = kind_wanted(only, "quickfix"), want_all = kind_wanted(only, FIX_ALL_KIND);
  if (!d || (!want_quick && !want_all)) {
    respond(s, id, actions);
    return;
  }
  bool was_dirty = d->dirty;
  doc_check(s, d);
  if (was_dirty) publish(s, d);
  const eql_source *src = eql_project_source(s->project, d->path);
  const char *t = d->text.data ? d->text.data : "";
  if (!src) { /* skipped (over a budget) or out of memory: nothing was checked */
    respond(s, id, actions);
    return;
  }
  /* Every edit below is computed on the text the diagnostics were found in; it must also
   * be the editor's text, which it is unless re-parsing the buffer ran out of memory. */
  if (src->len != d->text.len || memcmp(src->text, t, d->text.len)) {
    logf_(s, "%s: the checked text is not the buffer's; no code actions", d->uri);
    respond(s, id, actions);
    return;
  }
  uint32_t a = eql_lsp_offset_of(t, d->text.len, l0, c0, s->enc, NULL);
  uint32_t b = eql_lsp_offset_of(t, d->text.len, l1, c1, s->enc, NULL);
  if (b < a) {
    uint32_t x = a;
    a = b;
    b = x;
  }
  for (size_t i = 0; want_quick && i < d->diags.n; i++) {
    const eql_diag *g = &d->diags.items[i];
    if (!diag_in_range(g, a, b)) continue;
    eql_lsp_add_fix_actions(s, d, src, i, a, b, actions);
    /* a line noqa never hides a syntax error (suppress.c), so offering one would lie */
    if (g->rule == EQL_R_EQX999) continue;
    /* one suppression per code and line, however many diagnostics share them */
    bool dup = false;
    for (size_t k = 0; k < i && !dup; k++) {
      const eql_diag *h = &d->diags.items[k];
      dup = h->rule == g->rule && h->span.line == g->span.line && diag_in_range(h, a, b);
    }
    if (dup) continue;
    json_t *act = noqa_action(s, d, src, g);
    if (act) json_array_append_new(actions, act);
  }
  /* document-wide, so offered wherever the cursor is */
  json_t *all = want_all ? fix_all_action(s, d, src) : NULL;
  if (all) json_array_append_new(actions, all);
  respond(s, id, actions);
}

static void handle_request(server *s, json_t *id, const char *method, json_t *params) {
  if (s->verbose) logf_(s, "request %s", method);
  if (queued_cancel_for(s, id)) {
    respond_error(s, id, LSP_REQUEST_CANCELLED, "request cancelled");
    return;
  }
  if (s->state == ST_UNINITIALIZED && strcmp(method, "initialize")) {
    respond_error(s, id, LSP_SERVER_NOT_INITIALIZED,
                  "the server is not initialized: send `initialize` first");
    return;
  }
  if (s->state == ST_SHUT_DOWN) {
    respond_error(s, id, RPC_INVALID_REQUEST, "the server is shut down: only `exit` is allowed");
    return;
  }
  if (!strcmp(method, "initialize")) {
    if (s->state != ST_UNINITIALIZED)
      respond_error(s, id, RPC_INVALID_REQUEST, "`initialize` may be sent only once");
    else handle_initialize(s, id, json_is_object(params) ? params : NULL);
  } else if (!strcmp(method, "shutdown")) {
    s->state = ST_SHUT_DOWN;
    respond(s, id, json_null());
  } else if (!strcmp(method, "textDocument/hover")) {
    handle_hover(s, id, params);
  } else if (!strcmp(method, "textDocument/codeAction")) {
    handle_code_action(s, id, params);
  } else {
    respond_error(s, id, RPC_METHOD_NOT_FOUND, "unknown method '%s'", method);
  }
}

/* ---- notifications ---- */

static void did_open(server *s, json_t *params) {
  json_t *td = json_object_get(params, "textDocument");
  const char *uri = jget_str(td, "uri");
  json_t *jtext = json_object_get(td, "text");
  if (!uri || !json_is_string(jtext)) {
    logf_(s, "didOpen without textDocument.uri and text: ignored");
    return;
  }
  char *path = eql_lsp_uri_to_path(uri);
  if (!path) {
    logf_(s, "didOpen: cannot use URI %s: ignored", uri);
    return;
  }
  /* Only files and unsaved buffers: a notebook cell (vscode-notebook-cell:) alone is not a
   * module — its magics are syntax errors and its names come from other cells. */
  bool scheme_ok = !strncasecmp(uri, "file:", 5) || !strncasecmp(uri, "untitled:", 9);
  if (!scheme_ok || !is_python_doc(jget_str(td, "languageId"), path)) {
    if (s->verbose) logf_(s, "didOpen: %s is not a Python file or buffer: ignored", uri);
    free(path);
    return;
  }
  doc *d = find_doc(s, uri); /* a second didOpen of an open URI replaces its text */
  if (!d) {
    d = calloc(1, sizeof *d);
    doc **docs = s->ndocs == s->capdocs
                     ? realloc(s->docs, (s->capdocs ? s->capdocs * 2 : 8) * sizeof *docs)
                     : s->docs;
    if (!d || !docs || !(d->uri = strdup(uri))) {
      logf_(s, "out of memory opening %s", uri);
      if (docs) s->docs = docs;
      doc_free(d);
      free(path);
      return;
    }
    if (s->ndocs == s->capdocs) s->capdocs = s->capdocs ? s->capdocs * 2 : 8;
    s->docs = docs;
    d->path = path;
    d->was_in_project = eql_project_source(s->project, path) != NULL;
    s->docs[s->ndocs++] = d;
  } else {
    free(path);
  }
  d->version = json_integer_value(json_object_get(td, "version"));
  d->text.len = 0;
  if (eql_lsp_text_replace(&d->text, 0, 0, json_string_value(jtext), json_string_length(jtext)) <
          0 ||
      project_put_fresh(s, d->path, d->text.data ? d->text.data : "", d->text.len, true) < 0)
    logf_(s, "out of memory (or file over 4 GiB) opening %s", uri);
  d->dirty = false;
  d->stale = true;
  publish(s, d);
}

/* Applies one contentChange to the buffer and tells the kept tree. False when it was
 * unusable (the document may now differ from the client's). */
static bool apply_change(server *s, doc *d, json_t *ch) {
  json_t *jtext = json_object_get(ch, "text");
  if (!json_is_string(jtext)) return false;
  const char *ins = json_string_value(jtext);
  size_t n = json_string_length(jtext);
  const char *t = d->text.data ? d->text.data : "";
  uint32_t a = 0, b = (uint32_t)d->text.len;
  json_t *range = json_object_get(ch, "range");
  if (range) {
    uint32_t l0, c0, l1, c1;
    json_t *st = json_object_get(range, "start"), *en = json_object_get(range, "end");
    if (!jget_u32(st, "line", &l0) || !jget_u32(st, "character", &c0) ||
        !jget_u32(en, "line", &l1) || !jget_u32(en, "character", &c1))
      return false;
    bool k0 = false, k1 = false;
    a = eql_lsp_offset_of(t, d->text.len, l0, c0, s->enc, &k0);
    b = eql_lsp_offset_of(t, d->text.len, l1, c1, s->enc, &k1);
    if (k0 || k1)
      logf_(s, "didChange on %s: range %u:%u-%u:%u is outside the document; clamped", d->uri,
            l0, c0, l1, c1);
    if (b < a) {
      uint32_t x = a;
      a = b;
      b = x;
    }
  }
  uint32_t r0, col0, r1, col1, r2, col2;
  eql_lsp_ts_point_of(t, d->text.len, a, &r0, &col0);
  eql_lsp_ts_point_of(t, d->text.len, b, &r1, &col1);
  eql_lsp_ts_point_after(r0, col0, ins, n, &r2, &col2);
  if (eql_lsp_text_replace(&d->text, a, b, ins, n) < 0) return false;
  eql_project_edit(s->project, d->path, a, b, a + (uint32_t)n, r0, col0, r1, col1, r2, col2);
  d->dirty = true;
  return true;
}

static void did_change(server *s, json_t *params) {
  doc *d = param_doc(s, params);
  if (!d) {
    if (s->verbose) logf_(s, "didChange for a document that is not open: ignored");
    return;
  }
  json_t *changes = json_object_get(params, "contentChanges");
  size_t i;
  json_t *ch;
  json_array_foreach(changes, i, ch) {
    if (!apply_change(s, d, ch)) {
      logf_(s, "didChange on %s: change %zu is malformed or too large; ignored (the buffer "
               "may now differ from the editor's: reopen it)", d->uri, i);
    }
  }
  json_t *v = json_object_get(json_object_get(params, "textDocument"), "version");
  if (json_is_integer(v)) d->version = json_integer_value(v);
  /* a burst of edits already waiting is checked once, after the last of them */
  if (!queued_change_for(s, d->uri)) publish(s, d);
}

static void did_close(server *s, json_t *params) {
  const char *uri = jget_str(json_object_get(params, "textDocument"), "uri");
  size_t i = 0;
  while (uri && i < s->ndocs && strcmp(s->docs[i]->uri, uri)) i++;
  if (!uri || i == s->ndocs) return;
  doc *d = s->docs[i];
  s->docs[i] = s->docs[--s->ndocs];
  notify(s, "textDocument/publishDiagnostics",
         json_pack("{s:s, s:[]}", "uri", d->uri, "diagnostics"));
  /* the workspace file comes back from disk; a buffer that was never a file goes away */
  eql_project_remove(s->project, d->path);
  if (d->was_in_project) index_file(s, d->path);
  doc_free(d);
  recheck_all(s);
}

static void did_change_folders(server *s, json_t *params) {
  json_t *ev = json_object_get(params, "event");
  char *roots[64];
  size_t n = folder_paths(json_object_get(ev, "removed"), roots, 64);
  for (size_t i = 0; i < n; i++) {
    unindex_folder(s, roots[i]);
    free(roots[i]);
  }
  n = folder_paths(json_object_get(ev, "added"), roots, 64);
  if (n) index_folders(s, roots, n);
  for (size_t i = 0; i < n; i++) free(roots[i]);
  recheck_all(s);
}

/* Files changed outside the editor: the index follows the disk, except for open buffers,
 * which stay what the editor holds. FileChangeType: 1 created, 2 changed, 3 deleted. */
static void did_change_watched(server *s, json_t *params) {
  size_t i;
  json_t *ch;
  bool config = false;
  json_array_foreach(json_object_get(params, "changes"), i, ch) {
    const char *uri = jget_str(ch, "uri");
    char *path = uri ? eql_lsp_uri_to_path(uri) : NULL;
    json_int_t type = json_integer_value(json_object_get(ch, "type"));
    if (!path || path[0] != '/' || type < 1 || type > 3) {
      free(path);
      continue;
    }
    if (is_config_file(path)) {
      config = true;
    } else if (eql_walk_is_python(strrchr(path, '/') + 1)) {
      doc *d = doc_by_path(s, path);
      if (d) d->was_in_project = type != 3;
      else if (type == 3) eql_project_remove(s->project, path);
      else index_file(s, path);
    }
    free(path);
  }
  if (config) rebuild_store(s);
  recheck_all(s);
}

/* A save changes what other buffers see through the index; a saved configuration file
 * changes the rules of every buffer below it. */
static void did_save(server *s, json_t *params) {
  const char *uri = jget_str(json_object_get(params, "textDocument"), "uri");
  char *path = uri ? eql_lsp_uri_to_path(uri) : NULL;
  if (path && is_config_file(path)) {
    logf_(s, "%s saved: reading the configuration again", path);
    rebuild_store(s);
  }
  free(path);
  recheck_all(s);
}

static void handle_notification(server *s, const char *method, json_t *params) {
  if (s->verbose) logf_(s, "notification %s", method);
  if (!strcmp(method, "exit")) {
    s->exit = true;
    return;
  }
  /* before initialize and after shutdown, notifications other than exit are dropped */
  if (s->state != ST_RUNNING) return;
  if (!strcmp(method, "textDocument/didOpen")) did_open(s, params);
  else if (!strcmp(method, "textDocument/didChange")) did_change(s, params);
  else if (!strcmp(method, "textDocument/didClose")) did_close(s, params);
  else if (!strcmp(method, "textDocument/didSave")) did_save(s, params);
  else if (!strcmp(method, "initialized")) register_watchers(s);
  else if (!strcmp(method, "workspace/didChangeWorkspaceFolders")) did_change_folders(s, params);
  else if (!strcmp(method, "workspace/didChangeWatchedFiles")) did_change_watched(s, params);
  else if (!strcmp(method, "workspace/didChangeConfiguration")) {
    if (apply_settings(s, json_object_get(params, "settings"))) recheck_all(s);
  }
  /* $/cancelRequest (handled by look-ahead), $/setTrace and anything unknown need no action */
}

static void handle(server *s, queued *e) {
  if (!e->msg) {
    respond_error(s, NULL, e->err_code, "%s", e->err_text ? e->err_text : "invalid message");
    return;
  }
  json_t *m = e->msg;
  if (!json_is_object(m)) {
    respond_error(s, NULL, RPC_INVALID_REQUEST, "a message must be a JSON object");
    return;
  }
  json_t *id = json_object_get(m, "id");
  json_t *jmethod = json_object_get(m, "method");
  if (id && !json_is_integer(id) && !json_is_string(id) && !json_is_null(id)) {
    respond_error(s, NULL, RPC_INVALID_REQUEST, "`id` must be a number or a string");
    return;
  }
  if (!jmethod) {
    if (id) return; /* a response to a request of ours: none are outstanding */
    respond_error(s, NULL, RPC_INVALID_REQUEST, "a message needs a `method`");
    return;
  }
  if (!json_is_string(jmethod)) {
    if (id) respond_error(s, id, RPC_INVALID_REQUEST, "`method` must be a string");
    return;
  }
  json_t *params = json_object_get(m, "params");
  if (id) handle_request(s, id, json_string_value(jmethod), params);
  else handle_notification(s, json_string_value(jmethod), params);
}

int eql_lsp_serve(int in_fd, int out_fd, const eql_lsp_options *opts) {
  server s;
  memset(&s, 0, sizeof s);
  eql_lsp_reader_init(&s.rd, in_fd,
                      opts && opts->max_message ? opts->max_message : EQL_LSP_MAX_MESSAGE);
  s.out = out_fd;
  s.log = opts && opts->log ? opts->log : stderr;
  s.verbose = opts ? opts->verbose : 0;
  s.enc = EQL_LSP_UTF16;
  s.hover_markdown = true;
  s.project = eql_project_new();
  if (!s.project) {
    logf_(&s, "out of memory");
    eql_lsp_reader_free(&s.rd);
    return 1;
  }
  while (!s.exit && !s.write_failed) {
    if (s.qhead == s.qn) {
      s.qhead = s.qn = 0;
      if (s.input_done || !read_one(&s)) {
        if (s.input_done) break;
        continue;
      }
    }
    /* read ahead what is already waiting, so bursts coalesce and cancels find their target */
    while (!s.input_done && s.qn - s.qhead < READ_AHEAD && eql_lsp_reader_ready(&s.rd))
      if (!read_one(&s) && !s.input_done) break;
    queued e = s.q[s.qhead++];
    handle(&s, &e);
    json_decref(e.msg);
    free(e.err_text);
  }
  int status = s.write_failed ? 1 : s.state == ST_SHUT_DOWN ? 0 : 1;
  if (!s.exit && s.input_done) logf_(&s, "end of input%s", status ? " before shutdown" : "");
  for (size_t i = s.qhead; i < s.qn; i++) {
    json_decref(s.q[i].msg);
    free(s.q[i].err_text);
  }
  free(s.q);
  for (size_t i = 0; i < s.ndocs; i++) doc_free(s.docs[i]);
  free(s.docs);
  eql_project_free(s.project);
  eql_config_store_free(s.store);
  eql_walk_files_free(&s.ws);
  free_list(s.sel, s.nsel);
  free_list(s.ext, s.next);
  free_list(s.ign, s.nign);
  eql_lsp_reader_free(&s.rd);
  return status;
}

static const char server_usage[] =
    "Run the eqlint language server (LSP) on stdin and stdout\n"
    "\n"
    "Usage: eqlint server [--stdio] [--verbose]\n"
    "\n"
    "Editors start this command themselves; see docs/editors.md for Neovim, Helix, VS Code\n"
    "and Emacs. Diagnostics update as you type; hover a finding for its rule's\n"
    "documentation; quick fixes repair a finding where eqlint knows how, or suppress it\n"
    "with `# noqa: CODE`, and the source action \"Fix all eqlint problems\" (kind\n"
    "source.fixAll.eqlint) applies every safe fix at once. Logs go to stderr.\n"
    "\n"
    "Options:\n"
    "  --stdio       Accepted for clients that pass it; stdio is the only transport\n"
    "  -v, --verbose Log every message handled\n"
    "  -h, --help    Show this help\n";

int eql_lsp_main(int argc, char **argv) {
  eql_lsp_options opts = {0};
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--stdio")) continue;
    if (!strcmp(argv[i], "--verbose") || !strcmp(argv[i], "-v")) {
      opts.verbose = 1;
    } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      fputs(server_usage, stdout);
      return 0;
    } else {
      fprintf(stderr, "eqlint: error: unknown option '%s'\nTry 'eqlint server --help' for "
                      "more information.\n", argv[i]);
      return 2;
    }
  }
  signal(SIGPIPE, SIG_IGN);
  return eql_lsp_serve(STDIN_FILENO, STDOUT_FILENO, &opts);
}
