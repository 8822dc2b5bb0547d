/* Fix-building helpers shared by the rules (rule_fix.h). Not a rule.
 *
 * The import a fix may need goes where a person would put it: after the module's leading
 * run of imports (past a docstring and `from __future__`), on its own line, with the file's
 * own line ending. Whether a name is free is judged over the whole file: a fix must never
 * make `eqx` mean two things. */
#include "rule_fix.h"

#include <string.h>

const char *eql_rf_text(eql_ctx *ctx, const eql_expr *e) {
  const eql_source *src = ctx->facts->src;
  if (!e || e->end > src->len || e->start > e->end) return "";
  return eql_arena_strndup(ctx->scratch, src->text + e->start, e->end - e->start);
}

bool eql_rf_in_file(const eql_ctx *ctx, const eql_expr *e) {
  if (!e || !e->stmt) return false;
  /* up through compound statements, function bodies and class bodies to the module */
  const eql_stmt *top = e->stmt;
  for (unsigned guard = 0; top && guard < 100000; guard++) {
    const eql_stmt *up = top->parent       ? top->parent
                         : top->scope      ? top->scope->stmt
                         : top->in_class   ? top->in_class->stmt
                                           : NULL;
    if (!up) break;
    top = up;
  }
  if (!top) return false;
  const eql_block *body = &ctx->facts->body;
  for (unsigned i = 0; i < body->n; i++)
    if (body->items[i] == top) return e->end <= ctx->facts->src->len;
  return false;
}

int eql_rf_kwarg(const eql_expr *call, const char *kw) {
  for (unsigned i = 0; call && i < call->nargs; i++)
    if (call->args[i].kw && !strcmp(call->args[i].kw, kw)) return (int)i;
  return -1;
}

/* Is `name` bound anywhere in the file (any scope, any kind)? */
static bool bound_anywhere(const eql_facts *f, const char *name) {
  for (unsigned i = 0; i < f->bindings.n; i++) {
    const eql_binding *b = f->bindings.items[i];
    if (b->name && !strcmp(b->name, name)) return true;
  }
  return false;
}

static const char *newline_of(const eql_source *src) {
  const char *nl = memchr(src->text, '\n', src->len);
  return nl && nl > src->text && nl[-1] == '\r' ? "\r\n" : "\n";
}

/* Byte offset of the end of the line holding `pos` (before its newline). */
static uint32_t line_end(const eql_source *src, uint32_t pos) {
  while (pos < src->len && src->text[pos] != '\n' && src->text[pos] != '\r') pos++;
  return pos;
}

static uint32_t line_start(const eql_source *src, uint32_t pos) {
  while (pos > 0 && src->text[pos - 1] != '\n' && src->text[pos - 1] != '\r') pos--;
  return pos;
}

/* Adds the edit importing equinox as `alias` ("eqx") or plainly (alias NULL). */
static int add_import(eql_ctx *ctx, eql_diag *d, const char *title, const char *alias) {
  const eql_facts *f = ctx->facts;
  const eql_source *src = f->src;
  const char *nl = newline_of(src);
  const char *line = alias ? eql_arena_printf(ctx->scratch, "import equinox as %s", alias)
                           : "import equinox";
  unsigned i = 0;
  const eql_stmt *last_import = NULL;
  if (i < f->body.n && f->body.items[i]->kind == EQL_S_EXPR && f->body.items[i]->value &&
      f->body.items[i]->value->kind == EQL_E_STR)
    i++; /* the docstring */
  const eql_stmt *docstring = i ? f->body.items[0] : NULL;
  for (; i < f->body.n && f->body.items[i]->kind == EQL_S_IMPORT; i++) last_import = f->body.items[i];
  if (last_import || (docstring && i == f->body.n)) {
    const eql_stmt *after = last_import ? last_import : docstring;
    uint32_t at = line_end(src, after->end);
    return eql_fix_edit(ctx, d, title, at, at, eql_arena_printf(ctx->scratch, "%s%s", nl, line));
  }
  if (i >= f->body.n) return -1;
  uint32_t at = line_start(src, f->body.items[i]->start);
  if (at != f->body.items[i]->start) return -1; /* `x = 1; y = 2` style: leave it */
  return eql_fix_edit(ctx, d, title, at, at, eql_arena_printf(ctx->scratch, "%s%s", line, nl));
}

const char *eql_rf_equinox(eql_ctx *ctx, eql_diag *d, const char *title, const eql_expr *at,
                           const char *attr) {
  const eql_facts *f = ctx->facts;
  const char *member = eql_arena_printf(ctx->scratch, "equinox.%s", attr);
  /* the file's own spelling, as long as it still means equinox where the fix goes */
  const char *by_member = NULL;
  for (unsigned i = 0; i < f->bindings.n; i++) {
    const eql_binding *b = f->bindings.items[i];
    if (b->kind != EQL_B_IMPORT || !b->canon || !b->name) continue;
    bool module = !strcmp(b->canon, "equinox"), named = !strcmp(b->canon, member);
    if (!module && !named) continue;
    if (eql_facts_lookup(f, b->name, at->scope, at->start) != b) continue;
    if (module) return eql_arena_printf(ctx->scratch, "%s.%s", b->name, attr);
    if (!by_member) by_member = b->name;
  }
  if (by_member) return by_member;
  const char *alias = !bound_anywhere(f, "eqx") ? "eqx" : !bound_anywhere(f, "equinox") ? NULL : "";
  if (alias && !*alias) return NULL;
  if (add_import(ctx, d, title, alias) < 0) return NULL;
  return eql_arena_printf(ctx->scratch, "%s.%s", alias ? alias : "equinox", attr);
}

/* After the last argument: skip blanks and one comma (a trailing comma). */
static uint32_t past_trailing_comma(const eql_source *src, uint32_t pos) {
  uint32_t p = pos;
  while (p < src->len && (src->text[p] == ' ' || src->text[p] == '\t' || src->text[p] == '\n' ||
                          src->text[p] == '\r'))
    p++;
  return p < src->len && src->text[p] == ',' ? p + 1 : pos;
}

int eql_rf_drop_args(eql_ctx *ctx, eql_diag *d, const char *title, const eql_expr *call,
                     const bool *drop) {
  const eql_source *src = ctx->facts->src;
  unsigned n = call->nargs;
  for (unsigned i = 0; i < n;) {
    if (!drop[i]) {
      i++;
      continue;
    }
    unsigned j = i;
    while (j < n && drop[j]) j++; /* a run [i, j) of dropped arguments */
    const eql_arg *first = &call->args[i], *last = &call->args[j - 1];
    uint32_t start, end;
    if (i > 0) { /* ", a, b" after the kept argument before the run */
      start = call->args[i - 1].end;
      end = last->end;
    } else if (j < n) { /* "a, b, " before the kept argument after it */
      start = first->start;
      end = call->args[j].start;
    } else { /* every argument: also a trailing comma */
      start = first->start;
      end = past_trailing_comma(src, last->end);
    }
    if (eql_fix_edit(ctx, d, title, start, end, "") < 0) return -1;
    i = j;
  }
  return 0;
}

static const eql_rf_twin_spec twin_specs[] = {
    {"jax.jit", "filter_jit", {NULL}, 0},
    {"jax.grad", "filter_grad", {"has_aux", NULL}, 0},
    {"jax.value_and_grad", "filter_value_and_grad", {"has_aux", NULL}, 0},
    {"jax.vmap", "filter_vmap", {"in_axes", "out_axes", "axis_name", "axis_size", NULL}, 1},
    {"jax.pmap", "filter_pmap", {"in_axes", "out_axes", "axis_name", "axis_size", NULL}, 1},
    {"jax.hessian", "filter_hessian", {"has_aux", NULL}, 0},
    {"jax.jacfwd", "filter_jacfwd", {"has_aux", NULL}, 0},
    {"jax.jacrev", "filter_jacrev", {"has_aux", NULL}, 0},
    {"jax.checkpoint", "filter_checkpoint", {"prevent_cse", "policy", NULL}, 0},
    {"jax.remat", "filter_checkpoint", {"prevent_cse", "policy", NULL}, 0},
};

const eql_rf_twin_spec *eql_rf_twin_of(const char *transform) {
  for (size_t i = 0; transform && i < sizeof twin_specs / sizeof *twin_specs; i++)
    if (!strcmp(twin_specs[i].transform, transform)) return &twin_specs[i];
  return NULL;
}

int eql_rf_twin(eql_ctx *ctx, eql_diag *d, const char *transform, const eql_expr *name,
                const eql_expr *config, unsigned first_kw) {
  const eql_rf_twin_spec *sp = eql_rf_twin_of(transform);
  if (!d || !sp || !name) return -1;
  bool drop[64] = {false}, unsafe = false, all_dropped = true;
  if (config && config->nargs > 64) return -1;
  for (unsigned i = first_kw; config && i < config->nargs; i++) {
    const eql_arg *a = &config->args[i];
    if (a->star) return -1;
    if (!a->kw) { /* positional: only vmap/pmap's in_axes, out_axes */
      if (!sp->axes || i > first_kw + 1 || name != config->a) return -1;
      unsafe = true;
      all_dropped = false;
      continue;
    }
    bool keep = false;
    for (int k = 0; sp->keeps[k]; k++) keep = keep || !strcmp(sp->keeps[k], a->kw);
    if (keep) {
      if (sp->axes && (!strcmp(a->kw, "in_axes") || !strcmp(a->kw, "out_axes"))) unsafe = true;
      all_dropped = false;
    } else if (!strcmp(a->kw, "static_argnums") || !strcmp(a->kw, "static_argnames") ||
               (!strcmp(a->kw, "donate_argnums") && !strcmp(sp->twin, "filter_jit"))) {
      drop[i] = true;
      unsafe = true;
    } else if (!strcmp(a->kw, "argnums") && a->value && a->value->kind == EQL_E_INT &&
               !strcmp(a->value->name, "0")) {
      drop[i] = true;
    } else {
      return -1; /* a keyword the twin does not take, with meaning: no fix */
    }
  }
  const char *title = eql_arena_printf(ctx->scratch, "Replace `%s` with `eqx.%s`",
                                       eql_rf_text(ctx, name), sp->twin);
  const char *twin_name = eql_rf_equinox(ctx, d, title, name, sp->twin);
  int rc = twin_name ? 0 : -1;
  if (rc == 0 && config && name != config->a && all_dropped) {
    /* partial(jax.jit, static_argnums=1) with nothing left to bind: just the twin */
    rc = eql_fix_edit(ctx, d, title, config->start, config->end, twin_name);
  } else if (rc == 0) {
    rc = eql_fix_edit(ctx, d, title, name->start, name->end, twin_name);
    if (rc == 0 && config) rc = eql_rf_drop_args(ctx, d, title, config, drop);
  }
  if (rc == 0 && unsafe) eql_diag_fix_unsafe(d);
  return rc;
}

