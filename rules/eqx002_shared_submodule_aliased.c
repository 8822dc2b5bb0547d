/* ## What it does
 * Checks for one Module object stored in two places of a model: one name assigned to two
 * `self.` fields, passed to two child constructors, repeated in a list (`[block, block]`,
 * `[block] * n`, `[block for _ in range(n)]`), or appended inside a loop although it was
 * built outside it.
 *
 * ## Why is this bad
 * Equinox models are pytrees, and pytrees have no sharing: after flattening (every
 * `filter_jit`, `filter_grad`, optimiser update or serialisation), the two places hold two
 * independent copies. They receive different gradients and drift apart, so the "tied"
 * weights silently stop being tied — the Equinox FAQ calls this out explicitly.
 *
 * ## Example
 * ```python
 * class Model(eqx.Module):
 *     encoder: Encoder
 *     decoder: Decoder
 *
 *     def __init__(self, key):
 *         embedding = eqx.nn.Embedding(1000, 64, key=key)
 *         self.encoder = Encoder(embedding)
 *         self.decoder = Decoder(embedding)
 * ```
 *
 * ## Use instead
 * Tie the weights with `eqx.nn.Shared`, which stores them once and re-inserts them on each
 * call, or build separate layers when sharing was not intended:
 * ```python
 * blocks = [Block(k) for k in jax.random.split(key, n)]
 * ```
 *
 * ## Fix safety
 * No automatic fix: whether the weights should be tied or separate is the author's choice.
 *
 * ## Known limits
 * Only names whose value is known to be a Module instance are tracked (constructor calls,
 * annotated parameters), within one function or module body. Placements in exclusive
 * `if`/`else` arms are not counted twice. Aliasing through attributes (`self.a = self.b`),
 * containers built in other functions, or `tree_at` is not followed.
 */
#include <stdlib.h>
#include <string.h>

#include "eqlint/ctx.h"
#include "eqlint/value.h"

typedef struct placement {
  const void *key;       /* identity of the object: the binding or the expression making it */
  const eql_expr *e;     /* where it is stored */
  const char *where;     /* "field `encoder`", "an argument of `Decoder`", ... */
  int repeated;          /* this single placement stores it several times */
  const char *why_repeated;
  const char *list;      /* appends: the list appended to; pairs only with the same list */
} placement;

typedef struct state {
  eql_ctx *ctx;
  eql_eval ev;
  placement *items;
  size_t n, cap;
  const char *list;      /* set while placing the argument of `xs.append(...)` */
} state;

/* The statement owning an expression, and whether it sits inside a loop that does not
 * contain `origin_stmt` (so the placement runs again with the same object). */
static const eql_stmt *loop_around(const eql_stmt *s, const eql_stmt *origin_stmt) {
  for (const eql_stmt *p = s; p; p = p->parent) {
    if (p->kind != EQL_S_FOR && p->kind != EQL_S_WHILE) continue;
    if (p == s) continue; /* the `for` header itself */
    int inside = 0;
    for (const eql_stmt *q = origin_stmt; q; q = q->parent)
      if (q == p) inside = 1;
    if (!inside) return p;
    return NULL;
  }
  return NULL;
}

/* Identity of a name's object: follow plain aliases (`a = b`) to the binding that made it. */
static const void *identity(state *st, const eql_expr *e, const eql_stmt **origin_stmt) {
  const eql_facts *f = st->ctx->facts;
  for (int depth = 0; e && e->kind == EQL_E_NAME && depth < 8; depth++) {
    const eql_binding *b = eql_facts_lookup(f, e->name, e->scope, e->start);
    if (!b) return NULL;
    if (b->kind == EQL_B_ASSIGN && b->unpack < 0 && b->value && b->value->kind == EQL_E_NAME) {
      e = b->value;
      continue;
    }
    if (b->kind != EQL_B_ASSIGN && b->kind != EQL_B_PARAM && b->kind != EQL_B_FOR) return NULL;
    *origin_stmt = b->stmt;
    return b;
  }
  return NULL;
}

static void add(state *st, const void *key, const eql_expr *e, const char *where, int repeated,
                const char *why) {
  if (st->n == st->cap) {
    size_t cap = st->cap ? st->cap * 2 : 32;
    placement *p = realloc(st->items, cap * sizeof *p);
    if (!p) return;
    st->items = p;
    st->cap = cap;
  }
  st->items[st->n++] = (placement){key, e, where, repeated, why, st->list};
}

static int is_module_value(state *st, const eql_expr *e) {
  eql_value v = eql_eval_expr(&st->ev, e);
  return v.kind == EQL_V_MODULE;
}

/* Records the Module objects that storing expression `e` puts into a tree. */
static void place(state *st, const eql_expr *e, const char *where) {
  if (!e) return;
  switch (e->kind) {
    case EQL_E_NAME: {
      const eql_stmt *origin = NULL;
      const void *key = identity(st, e, &origin);
      if (!key || !is_module_value(st, e)) return;
      const eql_stmt *loop = e->stmt ? loop_around(e->stmt, origin) : NULL;
      if (loop && origin)
        add(st, key, e, where, 1, "on every iteration of the enclosing loop, although it was built before the loop");
      else
        add(st, key, e, where, 0, NULL);
      return;
    }
    case EQL_E_LIST:
    case EQL_E_TUPLE:
      for (unsigned i = 0; i < e->nargs; i++)
        if (!e->args[i].star) place(st, e->args[i].value, where);
      return;
    default:
      return;
  }
}

/* `[block] * n` and `[block for _ in range(n)]`, wherever they appear: the list itself
 * holds one object n times. */
static void repeated_expr(const eql_expr *e, void *ud) {
  state *st = ud;
  const eql_facts *f = st->ctx->facts;
  if (e->kind == EQL_E_BINOP && e->name && !strcmp(e->name, "*")) {
    const eql_expr *seq = (e->a && (e->a->kind == EQL_E_LIST || e->a->kind == EQL_E_TUPLE)) ? e->a
                        : (e->b && (e->b->kind == EQL_E_LIST || e->b->kind == EQL_E_TUPLE)) ? e->b
                                                                                            : NULL;
    const eql_expr *count = seq == e->a ? e->b : e->a;
    if (!seq || (count && count->kind == EQL_E_INT && !strcmp(count->name, "1"))) return;
    for (unsigned i = 0; i < seq->nargs; i++) {
      const eql_expr *el = seq->args[i].value;
      if (!el || seq->args[i].star || !is_module_value(st, el)) continue;
      add(st, el, e, eql_arena_printf(st->ctx->scratch, "`%s`", eql_expr_snippet(f, e, 40)), 1,
          eql_arena_printf(st->ctx->scratch, "%s times", eql_expr_snippet(f, count, 20)));
      return;
    }
  } else if (e->kind == EQL_E_COMP && e->a && e->a->kind == EQL_E_NAME) {
    const eql_expr *el = e->a;
    const eql_binding *b = eql_facts_lookup(f, el->name, el->scope, el->start);
    if (!b || b->kind == EQL_B_FOR || !is_module_value(st, el)) return;
    if (b->pos >= e->start && b->pos <= e->end) return; /* bound by the comprehension */
    add(st, b, e, eql_arena_printf(st->ctx->scratch, "`%s`", eql_expr_snippet(f, e, 40)), 1,
        "once per iteration");
  }
}

static void visit_block(state *st, const eql_block *b);

static void visit_stmt(state *st, const eql_stmt *s) {
  if (s->kind == EQL_S_ASSIGN && s->value) {
    for (unsigned t = 0; t < s->ntargets; t++) {
      const eql_expr *tg = s->targets[t];
      if (tg->kind == EQL_E_ATTR && tg->a && tg->a->kind == EQL_E_NAME && s->scope &&
          s->scope->cls && s->scope->nparams && s->scope->params[0].name &&
          !strcmp(tg->a->name, s->scope->params[0].name))
        place(st, s->value, eql_arena_printf(st->ctx->scratch, "field `%s`", tg->name));
    }
  }
  visit_block(st, &s->body);
  visit_block(st, &s->orelse);
  visit_block(st, &s->finalbody);
  for (unsigned h = 0; h < s->nhandlers; h++) visit_block(st, &s->handlers[h]);
  if (s->kind == EQL_S_DEF && s->func) visit_block(st, &s->func->body);
  if (s->kind == EQL_S_CLASS && s->cls) visit_block(st, &s->cls->body);
}

static void visit_block(state *st, const eql_block *b) {
  for (unsigned i = 0; i < b->n; i++) visit_stmt(st, b->items[i]);
}

static void visit_calls(state *st) {
  const eql_facts *f = st->ctx->facts;
  for (unsigned i = 0; i < f->calls.n; i++) {
    const eql_expr *call = f->calls.items[i];
    const eql_expr *callee = call->a;
    if (!callee) continue;
    if (callee->kind == EQL_E_ATTR && callee->name &&
        (!strcmp(callee->name, "append") || !strcmp(callee->name, "extend") ||
         !strcmp(callee->name, "insert"))) {
      const eql_expr *arg = eql_call_arg(call, !strcmp(callee->name, "insert") ? 1 : 0, NULL);
      /* a plain list may or may not end up in the same model as the object's other places:
       * appends pair only with appends to the same list (and loops, see place) */
      st->list = eql_expr_snippet(f, callee->a, 80);
      place(st, arg, eql_arena_printf(st->ctx->scratch, "`%s`", eql_expr_snippet(f, callee->a, 40)));
      st->list = NULL;
      continue;
    }
    eql_value cv = eql_eval_expr(&st->ev, callee);
    if (cv.kind != EQL_V_CLASS || eql_index_is_module(st->ctx->index, &cv.cls) != EQL_YES) continue;
    if (cv.cls.layer && !strcmp(cv.cls.layer->name, "Shared")) continue; /* the right way */
    const char *where = eql_arena_printf(st->ctx->scratch, "an argument of `%s`", eql_expr_text(f, callee));
    for (unsigned k = 0; k < call->nargs; k++)
      if (!call->args[k].star) place(st, call->args[k].value, where);
  }
}

/* 1 if the two statements lie in different arms of one if/else (never both run). */
static int exclusive(const eql_stmt *a, const eql_stmt *b) {
  for (const eql_stmt *p = a ? a->parent : NULL; p; p = p->parent) {
    if (p->kind != EQL_S_IF && p->kind != EQL_S_TRY) continue;
    int in_b = 0;
    for (const eql_stmt *q = b; q; q = q->parent)
      if (q->parent == p) in_b = 1;
    if (!in_b) continue;
    /* both under p: which arm? */
    uint32_t body_end = p->body.n ? p->body.items[p->body.n - 1]->end : p->start;
    int arm_a = a->start <= body_end ? 0 : 1;
    int arm_b = b->start <= body_end ? 0 : 1;
    return arm_a != arm_b;
  }
  return 0;
}

static int cmp_place(const void *pa, const void *pb) {
  const placement *a = pa, *b = pb;
  return a->e->start < b->e->start ? -1 : a->e->start > b->e->start;
}

void eql_check_EQX002(eql_ctx *ctx) {
  state st = {.ctx = ctx, .ev = {.idx = ctx->index, .f = ctx->facts}};
  visit_block(&st, &ctx->facts->body);
  visit_calls(&st);
  eql_facts_visit_exprs(ctx->facts, repeated_expr, &st);
  if (st.n > 1) qsort(st.items, st.n, sizeof *st.items, cmp_place);
  const eql_facts *f = ctx->facts;
  const char *help = ctx->facts->is_c
                         ? "to share weights, use `eqx_shared`; otherwise build a separate layer "
                           "for each place"
                         : "to share weights, use `eqx.nn.Shared`; otherwise build a separate "
                           "layer for each place";
  for (size_t i = 0; i < st.n; i++) {
    placement *p = &st.items[i];
    if (p->repeated) {
      const eql_expr *obj = p->e->kind == EQL_E_COMP ? p->e->a
                          : p->e->kind == EQL_E_BINOP ? (const eql_expr *)p->key : p->e;
      eql_report(ctx, p->e->start, p->e->end, help,
                 "`%s` is stored in %s %s; a pytree cannot share it, so each place becomes an "
                 "independent copy", eql_expr_snippet(f, obj, 40), p->where, p->why_repeated);
      continue;
    }
    for (size_t j = 0; j < i; j++) {
      placement *q = &st.items[j];
      if (q->key != p->key || q->repeated) continue;
      if ((q->list || p->list) && (!q->list || !p->list || strcmp(q->list, p->list))) continue;
      if (q->e->stmt && p->e->stmt && exclusive(q->e->stmt, p->e->stmt)) continue;
      eql_diag *d =
          strcmp(q->where, p->where)
              ? eql_report(ctx, p->e->start, p->e->end, help,
                           "`%s` is stored twice in one model: in %s and in %s; after "
                           "flattening they become two independent copies",
                           eql_expr_snippet(f, p->e, 40), q->where, p->where)
              : eql_report(ctx, p->e->start, p->e->end, help,
                           "`%s` is stored twice in %s%s; after flattening the two places are "
                           "two independent copies",
                           eql_expr_snippet(f, p->e, 40),
                           strncmp(p->where, "an argument of ", 15) ? "" : "the arguments of ",
                           strncmp(p->where, "an argument of ", 15) ? p->where : p->where + 15);
      if (d)
        eql_diag_set_related(d, f->src, q->e->start, q->e->end,
                             eql_arena_printf(ctx->scratch, "first stored here, in %s", q->where));
      break;
    }
  }
  free(st.items);
}
