/* The fix engine (fix.h).
 *
 * Conflicts are settled the way Ruff settles them: fixes are taken in source order and a fix
 * whose edits touch the edits of one already taken waits for the next round, where it is
 * recomputed on the new text (or has disappeared because the earlier fix made it moot). A fix
 * is all or nothing: its edits go in together or not at all. Insertions at the very edge of a
 * replaced range are not conflicts; two different insertions at one point are (their order
 * would be arbitrary).
 *
 * Every round re-parses the fixed files before accepting them: a fix that leaves a syntax
 * error is a bug in eqlint, and the user's file must not pay for it. When a round's fixes
 * together break the parse, each is tried alone to find the culprits, which are dropped and
 * remembered (by file, rule and message) so later rounds do not offer them again. */
#include "eqlint/fix.h"

#include <stdlib.h>
#include <string.h>

#include "eqlint/facts.h"
#include "eqlint/source.h"

typedef struct kept_edit {
  const eql_edit *e;
  size_t order; /* acceptance order, for a stable sort */
} kept_edit;

static int edits_conflict(const eql_edit *a, const eql_edit *b) {
  uint32_t as = a->span.start, ae = a->span.end, bs = b->span.start, be = b->span.end;
  if (as == bs && ae == be && strcmp(a->text, b->text) == 0) return 0; /* shared */
  if (as == ae && bs == be) return as == bs;          /* two insertions at one point */
  if (as == ae) return bs < as && as < be;            /* insertion inside b */
  if (bs == be) return as < bs && bs < ae;            /* b inserted inside a */
  return as < be && bs < ae;                          /* ranges overlap */
}

static int same_edit(const eql_edit *a, const eql_edit *b) {
  return a->span.start == b->span.start && a->span.end == b->span.end &&
         strcmp(a->text, b->text) == 0;
}

static int cmp_kept(const void *pa, const void *pb) {
  const kept_edit *a = pa, *b = pb;
  if (a->e->span.start != b->e->span.start) return a->e->span.start < b->e->span.start ? -1 : 1;
  /* at one position, an insertion goes before the range that starts there */
  int ai = a->e->span.end == a->e->span.start, bi = b->e->span.end == b->e->span.start;
  if (ai != bi) return ai ? -1 : 1;
  return a->order < b->order ? -1 : a->order > b->order;
}

typedef struct cand {
  size_t i;        /* index into ds */
  uint32_t first;  /* where its first edit starts */
} cand;

static int cmp_cand(const void *pa, const void *pb) {
  const cand *a = pa, *b = pb;
  if (a->first != b->first) return a->first < b->first ? -1 : 1;
  return a->i < b->i ? -1 : a->i > b->i;
}

long eql_fix_apply(const char *text, size_t len, eql_diag *const *ds, size_t n, bool unsafe,
                   char **out, size_t *out_len, unsigned char *applied) {
  *out = NULL;
  *out_len = 0;
  if (applied) memset(applied, 0, n);
  cand *cs = malloc((n ? n : 1) * sizeof *cs);
  size_t nc = 0, nkept = 0, cap = 16;
  kept_edit *kept = malloc(cap * sizeof *kept);
  long nfixed = 0;
  if (!cs || !kept) goto oom;
  for (size_t i = 0; i < n; i++) {
    const eql_fix *f = ds[i]->fix;
    if (!eql_diag_fixable(ds[i], unsafe)) continue;
    /* an edit outside the text means the diagnostic is stale: never apply it */
    int inside = 1;
    for (unsigned k = 0; k < f->nedits; k++)
      if (f->edits[k].span.end > len || f->edits[k].span.start > f->edits[k].span.end) inside = 0;
    if (!inside) continue;
    cs[nc].i = i;
    cs[nc].first = f->edits[0].span.start;
    nc++;
  }
  qsort(cs, nc, sizeof *cs, cmp_cand);
  for (size_t c = 0; c < nc; c++) {
    const eql_fix *f = ds[cs[c].i]->fix;
    int ok = 1;
    for (unsigned k = 0; ok && k < f->nedits; k++)
      for (size_t j = 0; ok && j < nkept; j++)
        if (edits_conflict(&f->edits[k], kept[j].e)) ok = 0;
    if (!ok) continue;
    for (unsigned k = 0; k < f->nedits; k++) {
      int dup = 0;
      for (size_t j = 0; !dup && j < nkept; j++) dup = same_edit(&f->edits[k], kept[j].e);
      if (dup) continue;
      if (nkept == cap) {
        kept_edit *nk = realloc(kept, cap * 2 * sizeof *nk);
        if (!nk) goto oom;
        kept = nk;
        cap *= 2;
      }
      kept[nkept].e = &f->edits[k];
      kept[nkept].order = nkept;
      nkept++;
    }
    if (applied) applied[cs[c].i] = 1;
    nfixed++;
  }
  if (nfixed > 0) {
    qsort(kept, nkept, sizeof *kept, cmp_kept);
    size_t size = len + 1;
    for (size_t j = 0; j < nkept; j++) size += strlen(kept[j].e->text);
    char *buf = malloc(size);
    if (!buf) goto oom;
    size_t w = 0, at = 0;
    for (size_t j = 0; j < nkept; j++) {
      const eql_edit *e = kept[j].e;
      memcpy(buf + w, text + at, e->span.start - at);
      w += e->span.start - at;
      size_t tl = strlen(e->text);
      memcpy(buf + w, e->text, tl);
      w += tl;
      at = e->span.end;
    }
    memcpy(buf + w, text + at, len - at);
    w += len - at;
    buf[w] = 0;
    *out = buf;
    *out_len = w;
  }
  free(cs);
  free(kept);
  return nfixed;
oom:
  free(cs);
  free(kept);
  return -1;
}

void eql_fix_report_free(eql_fix_report *r) {
  for (size_t i = 0; i < r->nfiles; i++) {
    free(r->files[i].path);
    free(r->files[i].before);
    free(r->files[i].after);
  }
  free(r->files);
  eql_diag_list_free(&r->dropped);
  memset(r, 0, sizeof *r);
}

int eql_fix_parses(const char *path, const char *text, size_t len) {
  eql_source *src = eql_source_new(path, text, len);
  if (!src) return -1;
  eql_facts *f = eql_python_facts(src, NULL, false);
  int ok = f ? !f->has_error : -1;
  eql_facts_free(f);
  eql_source_free(src);
  return ok;
}

static int in_list(const char *path, const char *const *list, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(path, list[i]) == 0) return 1;
  return 0;
}

static int ends_with(const char *s, const char *suffix) {
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Was this fix dropped before (same file, rule and message)? */
static int was_dropped(const eql_fix_report *rep, const eql_diag *d) {
  for (size_t i = 0; i < rep->dropped.n; i++) {
    const eql_diag *x = &rep->dropped.items[i];
    if (x->rule == d->rule && !strcmp(x->path, d->path) && !strcmp(x->message, d->message))
      return 1;
  }
  return 0;
}

static int remember_dropped(eql_fix_report *rep, const eql_source *src, const eql_diag *d) {
  eql_diag *c = eql_diag_add(&rep->dropped, d->rule, src, d->span.start, d->span.end,
                             d->message, d->help);
  if (!c) return -1;
  c->fix = eql_fix_copy(d->fix);
  return d->fix && !c->fix ? -1 : 0;
}

static eql_fixed_file *fixed_file(eql_fix_report *rep, const eql_source *src) {
  for (size_t i = 0; i < rep->nfiles; i++)
    if (!strcmp(rep->files[i].path, src->path)) return &rep->files[i];
  eql_fixed_file *nf = realloc(rep->files, (rep->nfiles + 1) * sizeof *nf);
  if (!nf) return NULL;
  rep->files = nf;
  eql_fixed_file *f = &nf[rep->nfiles];
  memset(f, 0, sizeof *f);
  f->path = strdup(src->path);
  f->before = malloc((size_t)src->len + 1);
  if (!f->path || !f->before) {
    free(f->path);
    free(f->before);
    return NULL;
  }
  memcpy(f->before, src->text, src->len);
  f->before[src->len] = 0;
  f->before_len = src->len;
  rep->nfiles++;
  return f;
}

/* One round on one file: ds are its fixable diagnostics. Returns fixes applied (0 when none
 * could be), or -1 when out of memory. */
static long fix_file(eql_project *p, const eql_source *src, eql_diag **ds, size_t n, bool unsafe,
                     eql_fix_report *rep) {
  /* a file that does not parse now is not touched: its diagnostics may be built on a guess */
  int ok = eql_fix_parses(src->path, src->text, src->len);
  if (ok <= 0) return ok;
  unsigned char *applied = calloc(n, 1);
  char *text = NULL;
  size_t len = 0;
  long got = applied ? eql_fix_apply(src->text, src->len, ds, n, unsafe, &text, &len, applied) : -1;
  if (got > 0 && (ok = eql_fix_parses(src->path, text, len)) == 0) {
    /* find the fixes that break the parse alone, drop them, try the rest together */
    free(text);
    text = NULL;
    size_t keep = 0;
    for (size_t i = 0; i < n && ok >= 0; i++) {
      if (!applied[i]) continue;
      char *one = NULL;
      size_t one_len = 0;
      unsigned char mark = 0;
      if (eql_fix_apply(src->text, src->len, &ds[i], 1, unsafe, &one, &one_len, &mark) < 0) {
        ok = -1;
        break;
      }
      int good = one ? eql_fix_parses(src->path, one, one_len) : 1;
      free(one);
      if (good < 0) ok = -1;
      else if (!good && remember_dropped(rep, src, ds[i]) < 0) ok = -1;
      else if (good) ds[keep++] = ds[i];
    }
    if (ok < 0) got = -1;
    else {
      got = eql_fix_apply(src->text, src->len, ds, keep, unsafe, &text, &len, applied);
      n = keep;
      if (got > 0 && (ok = eql_fix_parses(src->path, text, len)) != 1) {
        /* fine alone, broken together: drop them all this time */
        for (size_t i = 0; ok == 0 && i < n; i++)
          if (applied[i] && remember_dropped(rep, src, ds[i]) < 0) ok = -1;
        got = ok < 0 ? -1 : 0;
      }
    }
  }
  if (got < 0 || ok < 0) {
    free(text);
    free(applied);
    return -1;
  }
  if (got > 0) {
    eql_fixed_file *ff = fixed_file(rep, src);
    if (!ff) got = -1;
    else {
      for (size_t i = 0; i < n; i++)
        if (applied[i] && ds[i]->rule >= 0 && ds[i]->rule < EQL_RULE_COUNT) rep->fixed[ds[i]->rule]++;
      rep->total += (size_t)got;
      ff->nfixed += (size_t)got;
      /* src is freed by set_source: nothing below may read it */
      if (eql_project_set_source(p, ff->path, text, len) < 0) got = -1;
    }
  }
  free(text);
  free(applied);
  return got;
}

int eql_fix_project(eql_project *p, eql_fix_check_fn check, void *ud,
                    const char *const *fixable, size_t nfixable, bool unsafe,
                    unsigned max_rounds, eql_fix_report *rep, eql_diag_list *remaining) {
  memset(rep, 0, sizeof *rep);
  eql_diag_list_init(&rep->dropped);
  eql_diag_list diags;
  eql_diag_list_init(&diags);
  eql_diag **group = NULL;
  int rc = 0;
  for (;;) {
    eql_diag_list_free(&diags);
    if (check(ud, &diags) < 0) {
      rc = -1;
      break;
    }
    if (rep->rounds >= max_rounds) break;
    free(group);
    group = malloc((diags.n ? diags.n : 1) * sizeof *group);
    if (!group) {
      rc = -1;
      break;
    }
    long changed = 0;
    /* diagnostics come sorted by path: each run of one path is one file */
    for (size_t i = 0; i < diags.n && rc == 0;) {
      size_t j = i;
      while (j < diags.n && !strcmp(diags.items[j].path, diags.items[i].path)) j++;
      const char *path = diags.items[i].path;
      size_t ng = 0;
      if (in_list(path, fixable, nfixable) && !ends_with(path, ".ipynb")) {
        for (size_t k = i; k < j; k++)
          if (eql_diag_fixable(&diags.items[k], unsafe) && !was_dropped(rep, &diags.items[k]))
            group[ng++] = &diags.items[k];
      }
      const eql_source *src = ng ? eql_project_source(p, path) : NULL;
      if (src) {
        long got = fix_file(p, src, group, ng, unsafe, rep);
        if (got < 0) rc = -1;
        else changed += got;
      }
      i = j;
    }
    if (rc != 0 || changed == 0) break;
    rep->rounds++;
  }
  free(group);
  if (rc == 0) {
    /* the files' final texts */
    for (size_t i = 0; i < rep->nfiles && rc == 0; i++) {
      const eql_source *s = eql_project_source(p, rep->files[i].path);
      rep->files[i].after = s ? malloc((size_t)s->len + 1) : NULL;
      if (!rep->files[i].after) {
        rc = -1;
        break;
      }
      memcpy(rep->files[i].after, s->text, s->len);
      rep->files[i].after[s->len] = 0;
      rep->files[i].after_len = s->len;
    }
    if (rc == 0 && eql_diag_list_take(remaining, &diags) < 0) rc = -1;
  }
  eql_diag_list_free(&diags);
  return rc;
}
