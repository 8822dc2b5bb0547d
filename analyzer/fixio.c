/* Diffs and atomic writes for `check --diff` and `check --fix`.
 *
 * Design, diff: users read these diffs next to `diff -u`, `git diff` and Ruff's `--diff`, and
 * feed them to `patch`, so the output copies diff -u's conventions exactly (hunk ranges,
 * empty-range numbering, the no-newline marker) rather than inventing a near variant. Lines
 * are first mapped to small integers (equal bytes, equal number), so the Myers search
 * compares integers. The search is the linear-space form with forward and backward passes
 * meeting in the middle (as in GNU diff's diffseq.h, without its speed heuristics): memory
 * stays O(N+M) however different the files are, which a stored-trace Myers could not
 * promise. The only shortcut is a cost bound: past it, the remaining middle becomes one
 * deletion and one insertion, still a correct patch.
 *
 * Design, write: --fix must never leave a half-written or lost file, even when the disk
 * fills or the process dies, and must not overwrite an edit made while it was running. So
 * the new text goes to a temporary next to the real file (same directory: same file system,
 * so rename() is atomic), is made durable before the rename, and the file is re-read and
 * compared with what the fixes were computed from just before the rename. The remaining
 * window (an edit between that comparison and the rename) is as small as it can be without
 * locks that editors do not take. */
#define _GNU_SOURCE /* mkostemp */
#include "eqlint/fixio.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---------------------------------------------------------------- unified diff */

enum {
  CONTEXT = 3,          /* lines of context around a change, as diff -u */
  MAX_EDITS = 10000,    /* beyond this many inserted+deleted lines, stop minimising */
};

typedef struct {
  const char *p;
  size_t len; /* including the '\n', when there is one */
} text_line;

typedef struct {
  text_line *lines;
  long n;
  long *id;              /* per line: its class (lines with equal bytes share one) */
  /* Per line: deleted (side a) or inserted (side b). changed[-1] and changed[n] exist and
   * stay 0, as stops for the scans of slide_changes. */
  unsigned char *changed;
} side;

static void side_free(side *s) {
  free(s->lines);
  free(s->id);
  if (s->changed) free(s->changed - 1);
}

/* Splits t[0..len) into lines; the last one may lack its '\n'. 0, or -1 out of memory. */
static int side_init(side *s, const char *t, size_t len) {
  memset(s, 0, sizeof *s);
  size_t n = 0;
  for (size_t i = 0; i < len; i++)
    if (t[i] == '\n') n++;
  if (len && t[len - 1] != '\n') n++;
  if (n > (size_t)LONG_MAX / 2) return -1;
  s->lines = malloc(sizeof *s->lines * (n ? n : 1));
  s->id = malloc(sizeof *s->id * (n ? n : 1));
  unsigned char *chg = calloc(n + 2, 1);
  if (chg) s->changed = chg + 1;
  if (!s->lines || !s->id || !s->changed) return -1;
  size_t start = 0, k = 0;
  for (size_t i = 0; i < len; i++)
    if (t[i] == '\n') {
      s->lines[k++] = (text_line){t + start, i + 1 - start};
      start = i + 1;
    }
  if (start < len) s->lines[k++] = (text_line){t + start, len - start};
  s->n = (long)n;
  return 0;
}

static uint64_t hash_bytes(const char *p, size_t n) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
  return h;
}

/* Gives every line of a and b its class number. 0, or -1 out of memory. */
static int classify(side *a, side *b) {
  typedef struct {
    uint64_t h;
    const text_line *l; /* NULL: empty slot */
    long id;
  } slot;
  size_t total = (size_t)a->n + (size_t)b->n, cap = 16;
  while (cap < 2 * total) {
    if (cap > SIZE_MAX / 4 / sizeof(slot)) return -1;
    cap <<= 1;
  }
  slot *t = calloc(cap, sizeof *t);
  if (!t) return -1;
  long next = 0;
  side *sides[2] = {a, b};
  for (int s = 0; s < 2; s++)
    for (long i = 0; i < sides[s]->n; i++) {
      const text_line *l = &sides[s]->lines[i];
      uint64_t h = hash_bytes(l->p, l->len);
      size_t k = (size_t)h & (cap - 1);
      while (t[k].l && !(t[k].h == h && t[k].l->len == l->len &&
                         memcmp(t[k].l->p, l->p, l->len) == 0))
        k = (k + 1) & (cap - 1);
      if (!t[k].l) t[k] = (slot){h, l, next++};
      sides[s]->id[i] = t[k].id;
    }
  free(t);
  return 0;
}

typedef struct {
  const long *xv, *yv;          /* line classes of a and b */
  unsigned char *xchg, *ychg;   /* the result: lines deleted from a, inserted into b */
  long *fd, *bd;                /* furthest x per diagonal (x - y), forward and backward */
} myers;

/* Finds where an optimal path from (xoff,yoff) to (xlim,ylim) crosses its middle, as the
 * forward and backward searches meet (Myers 1986, section 4b; the loop is GNU diff's).
 * Both ranges are non-empty and their first and last lines differ. False when the edit
 * cost exceeds MAX_EDITS. */
static bool find_middle(myers *m, long xoff, long xlim, long yoff, long ylim, long *xmid,
                        long *ymid) {
  const long *xv = m->xv, *yv = m->yv;
  long *fd = m->fd, *bd = m->bd;
  const long dmin = xoff - ylim, dmax = xlim - yoff;
  const long fmid = xoff - yoff, bmid = xlim - ylim;
  long fmin = fmid, fmax = fmid, bmin = bmid, bmax = bmid;
  const bool odd = (fmid - bmid) & 1;
  fd[fmid] = xoff;
  bd[bmid] = xlim;
  for (long c = 1; c <= MAX_EDITS / 2; c++) {
    /* One more edit forward, on every diagonal it can reach. */
    if (fmin > dmin)
      fd[--fmin - 1] = -1;
    else
      ++fmin;
    if (fmax < dmax)
      fd[++fmax + 1] = -1;
    else
      --fmax;
    for (long d = fmax; d >= fmin; d -= 2) {
      long tlo = fd[d - 1], thi = fd[d + 1];
      long x = tlo < thi ? thi : tlo + 1, y = x - d;
      while (x < xlim && y < ylim && xv[x] == yv[y]) x++, y++;
      fd[d] = x;
      if (odd && bmin <= d && d <= bmax && bd[d] <= x) {
        *xmid = x;
        *ymid = y;
        return true;
      }
    }
    /* And one more backward. */
    if (bmin > dmin)
      bd[--bmin - 1] = LONG_MAX;
    else
      ++bmin;
    if (bmax < dmax)
      bd[++bmax + 1] = LONG_MAX;
    else
      --bmax;
    for (long d = bmax; d >= bmin; d -= 2) {
      long tlo = bd[d - 1], thi = bd[d + 1];
      long x = tlo < thi ? tlo : thi - 1, y = x - d;
      while (xoff < x && yoff < y && xv[x - 1] == yv[y - 1]) x--, y--;
      bd[d] = x;
      if (!odd && fmin <= d && d <= fmax && x <= fd[d]) {
        *xmid = x;
        *ymid = y;
        return true;
      }
    }
  }
  return false;
}

/* Marks the lines of a[xoff..xlim) and b[yoff..ylim) outside a longest common subsequence.
 * Recursion depth is about log2 of the edit cost: each half costs about half. */
static void compare_seq(myers *m, long xoff, long xlim, long yoff, long ylim) {
  while (xoff < xlim && yoff < ylim && m->xv[xoff] == m->yv[yoff]) xoff++, yoff++;
  while (xoff < xlim && yoff < ylim && m->xv[xlim - 1] == m->yv[ylim - 1]) xlim--, ylim--;
  if (xoff == xlim) {
    memset(m->ychg + yoff, 1, (size_t)(ylim - yoff));
  } else if (yoff == ylim) {
    memset(m->xchg + xoff, 1, (size_t)(xlim - xoff));
  } else {
    long xmid, ymid;
    if (!find_middle(m, xoff, xlim, yoff, ylim, &xmid, &ymid)) {
      memset(m->xchg + xoff, 1, (size_t)(xlim - xoff));
      memset(m->ychg + yoff, 1, (size_t)(ylim - yoff));
      return;
    }
    compare_seq(m, xoff, xmid, yoff, ymid);
    compare_seq(m, xmid, xlim, ymid, ylim);
  }
}

/* Among equally short diffs, picks the one diff -u shows: a run of changes that could sit
 * higher or lower among identical lines ("x\nx\n" losing one "x") is moved down as far as
 * it goes, merging with the runs it meets, then back up to end where a run of changes in
 * the other file ends, if it passed one. This is GNU diff's shift_boundaries, so that
 * tie-breaking agrees with the diff users know; s's changed lines are moved, o's are read. */
static void slide_changes(side *s, const side *o) {
  unsigned char *changed = s->changed;
  const unsigned char *other = o->changed;
  const long *equivs = s->id;
  long i = 0, j = 0, i_end = s->n;
  for (;;) {
    /* The start of the next run, and the matching point in the other file. */
    while (i < i_end && !changed[i]) {
      while (other[j++]) continue;
      i++;
    }
    if (i == i_end) break;
    long start = i, runlength, corresponding;
    while (changed[++i]) continue;
    while (other[j]) j++;
    do {
      runlength = i - start;
      /* Up, while the line above equals the run's last: merges with runs above. */
      while (start && equivs[start - 1] == equivs[i - 1]) {
        changed[--start] = 1;
        changed[--i] = 0;
        while (changed[start - 1]) start--;
        while (other[--j]) continue;
      }
      /* Where the run last ended beside a run of the other file (i_end: nowhere). */
      corresponding = other[j - 1] ? i : i_end;
      /* Down, while the run's first line equals the line below: merges with runs below. */
      while (i != i_end && equivs[start] == equivs[i]) {
        changed[start++] = 0;
        changed[i++] = 1;
        while (changed[i]) i++;
        while (other[++j]) corresponding = i;
      }
    } while (runlength != i - start);
    /* Back up to the run of the other file, when one was passed. */
    while (corresponding < i) {
      changed[--start] = 1;
      changed[--i] = 0;
      while (other[--j]) continue;
    }
  }
}

/* One run of deleted and/or inserted lines: a[a..a+na) became b[b..b+nb). */
typedef struct {
  long a, na, b, nb;
} change;

/* A hunk range as diff -u prints it: "l,n", "l" when n is 1, and for an empty range the
 * number of the line before it with ",0". start is 0-based. */
static void print_range(FILE *out, long start, long count) {
  if (count == 0)
    fprintf(out, "%ld,0", start);
  else if (count == 1)
    fprintf(out, "%ld", start + 1);
  else
    fprintf(out, "%ld,%ld", start + 1, count);
}

static void print_line(FILE *out, char mark, const text_line *l) {
  putc(mark, out);
  fwrite(l->p, 1, l->len, out);
  if (l->len == 0 || l->p[l->len - 1] != '\n') fputs("\n\\ No newline at end of file\n", out);
}

static void print_hunks(FILE *out, const char *path, const side *a, const side *b,
                        const change *ch, size_t nch) {
  fprintf(out, "--- %s\n+++ %s\n", path, path);
  for (size_t h = 0; h < nch;) {
    size_t e = h; /* the hunk's last change: merge while the contexts touch */
    while (e + 1 < nch && ch[e + 1].a - (ch[e].a + ch[e].na) <= 2 * CONTEXT) e++;
    long astart = ch[h].a > CONTEXT ? ch[h].a - CONTEXT : 0;
    long bstart = ch[h].b - (ch[h].a - astart);
    long after = a->n - (ch[e].a + ch[e].na);
    if (after > CONTEXT) after = CONTEXT;
    long aend = ch[e].a + ch[e].na + after, bend = ch[e].b + ch[e].nb + after;
    fputs("@@ -", out);
    print_range(out, astart, aend - astart);
    fputs(" +", out);
    print_range(out, bstart, bend - bstart);
    fputs(" @@\n", out);
    long i = astart;
    for (size_t k = h; k <= e; k++) {
      for (; i < ch[k].a; i++) print_line(out, ' ', &a->lines[i]);
      for (long j = 0; j < ch[k].na; j++) print_line(out, '-', &a->lines[ch[k].a + j]);
      for (long j = 0; j < ch[k].nb; j++) print_line(out, '+', &b->lines[ch[k].b + j]);
      i = ch[k].a + ch[k].na;
    }
    for (; i < aend; i++) print_line(out, ' ', &a->lines[i]);
    h = e + 1;
  }
}

int eql_udiff(FILE *out, const char *path, const char *a, size_t alen, const char *b,
              size_t blen) {
  if (alen == blen && (alen == 0 || memcmp(a, b, alen) == 0)) return 0;
  side sa = {0}, sb = {0};
  myers m = {0};
  change *ch = NULL;
  int rc = -1;
  if (side_init(&sa, a, alen) != 0 || side_init(&sb, b, blen) != 0 || classify(&sa, &sb) != 0)
    goto done;
  /* Diagonals run from -(M+1) to N+1, sentinels included. */
  size_t ndiag = (size_t)sa.n + (size_t)sb.n + 3;
  m.fd = malloc(sizeof *m.fd * ndiag);
  m.bd = malloc(sizeof *m.bd * ndiag);
  /* Runs of changes are separated by common lines: at most min(N, M) + 1 of them. */
  ch = malloc(sizeof *ch * (size_t)((sa.n < sb.n ? sa.n : sb.n) + 1));
  if (!m.fd || !m.bd || !ch) goto done;
  m.xv = sa.id;
  m.yv = sb.id;
  m.xchg = sa.changed;
  m.ychg = sb.changed;
  long *fd0 = m.fd, *bd0 = m.bd;
  m.fd += sb.n + 1;
  m.bd += sb.n + 1;
  compare_seq(&m, 0, sa.n, 0, sb.n);
  m.fd = fd0;
  m.bd = bd0;
  slide_changes(&sa, &sb);
  slide_changes(&sb, &sa);

  /* Common lines pair up in order, so walking both sides at once finds the runs. */
  size_t nch = 0;
  for (long i = 0, j = 0; i < sa.n || j < sb.n;) {
    if ((i < sa.n && sa.changed[i]) || (j < sb.n && sb.changed[j])) {
      change c = {i, 0, j, 0};
      while (i < sa.n && sa.changed[i]) i++;
      while (j < sb.n && sb.changed[j]) j++;
      c.na = i - c.a;
      c.nb = j - c.b;
      ch[nch++] = c;
    } else {
      i++;
      j++;
    }
  }
  if (nch) print_hunks(out, path ? path : "-", &sa, &sb, ch, nch);
  rc = (fflush(out) != 0 || ferror(out)) ? -1 : 0;
done:
  free(ch);
  free(m.fd);
  free(m.bd);
  side_free(&sa);
  side_free(&sb);
  return rc;
}

/* ---------------------------------------------------------------- atomic write */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...) {
  if (!err || !errlen) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
}

/* Length of p's directory part, its last '/' included ("src/a.py" -> 4, "a.py" -> 0). */
static size_t dir_len(const char *p) {
  const char *slash = strrchr(p, '/');
  return slash ? (size_t)(slash - p) + 1 : 0;
}

/* Follows the symbolic links at the end of `path` (a relative target is relative to the
 * link's directory). Returns the final path (malloc'd, caller frees) with *st its lstat, or
 * NULL with *errnum set. Directories along the way are left as they are: the temporary only
 * needs to land in the same directory, under whatever name it is reached. */
char *eql_tmp_beside(const char *path) {
  size_t dl = dir_len(path);
  const char *base = path + dl;
  size_t blen = strlen(base);
  if (blen > 200) blen = 200; /* the name of the temporary must fit NAME_MAX too */
  char *tmp = malloc(dl + blen + sizeof ".eqlint-XXXXXX" + 1);
  if (!tmp) return NULL;
  memcpy(tmp, path, dl);
  tmp[dl] = '.';
  memcpy(tmp + dl + 1, base, blen);
  strcpy(tmp + dl + 1 + blen, ".eqlint-XXXXXX");
  return tmp;
}

static char *resolve_links(const char *path, struct stat *st, int *errnum) {
  char *cur = strdup(path);
  for (int hops = 0; cur; hops++) {
    if (lstat(cur, st) != 0) {
      *errnum = errno;
      free(cur);
      return NULL;
    }
    if (!S_ISLNK(st->st_mode)) return cur;
    char target[PATH_MAX];
    ssize_t n = hops < 40 ? readlink(cur, target, sizeof target) : -1;
    if (n < 0 || (size_t)n >= sizeof target) {
      *errnum = hops >= 40 ? ELOOP : n < 0 ? errno : ENAMETOOLONG;
      free(cur);
      return NULL;
    }
    size_t dl = target[0] == '/' ? 0 : dir_len(cur);
    char *next = malloc(dl + (size_t)n + 1);
    if (next) {
      memcpy(next, cur, dl);
      memcpy(next + dl, target, (size_t)n);
      next[dl + (size_t)n] = 0;
    }
    free(cur);
    cur = next;
  }
  *errnum = ENOMEM;
  return NULL;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      if (w == 0) errno = ENOSPC;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* 1 when the file at `path` holds exactly expect[0..n), 0 when not, -1 (errno set) when it
 * cannot be read. Streams: the file is never held in memory. */
static int same_contents(const char *path, const char *expect, size_t n) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[65536];
  size_t off = 0;
  int same = 1;
  for (;;) {
    ssize_t r = read(fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) {
      int e = errno;
      close(fd);
      errno = e;
      return -1;
    }
    if (r == 0) break;
    if ((size_t)r > n - off || memcmp(buf, expect + off, (size_t)r) != 0) {
      same = 0;
      break;
    }
    off += (size_t)r;
  }
  close(fd);
  return same && off == n;
}

eql_write_status eql_write_atomic(const char *path, const char *data, size_t len,
                                  const char *expect, size_t expect_len, char *err,
                                  size_t errlen) {
  set_err(err, errlen, "%s", "");
  struct stat st;
  int e = 0;
  char *real = resolve_links(path, &st, &e);
  if (!real) {
    set_err(err, errlen, "cannot read %s: %s", path, strerror(e));
    return EQL_WRITE_ERROR;
  }
  eql_write_status rc = EQL_WRITE_ERROR;
  char *dir = NULL, *tmp = NULL;
  int fd = -1;
  if (!S_ISREG(st.st_mode)) {
    set_err(err, errlen, "cannot write %s: not a regular file", path);
    goto done;
  }
  /* A file we may not write is refused, as a plain write would be: replacing it by rename
   * would only need the directory to be writable. */
  if (faccessat(AT_FDCWD, real, W_OK, AT_EACCESS) != 0) {
    set_err(err, errlen, "cannot write %s: %s", path, strerror(errno));
    goto done;
  }
  size_t dl = dir_len(real);
  dir = malloc(dl + 3);
  tmp = eql_tmp_beside(real);
  if (!dir || !tmp) {
    set_err(err, errlen, "out of memory");
    goto done;
  }
  memcpy(dir, real, dl);
  strcpy(dir + dl, dl ? "" : "./"); /* as displayed; "./" also opens as a directory */

  fd = mkostemp(tmp, O_CLOEXEC);
  if (fd < 0) {
    free(tmp);
    tmp = NULL; /* nothing to remove */
    set_err(err, errlen, "cannot create a temporary file in %s: %s", dir, strerror(errno));
    goto done;
  }
  if (write_all(fd, data, len) != 0) {
    set_err(err, errlen, "cannot write a temporary file in %s: %s", dir, strerror(errno));
    goto done;
  }
  /* Owner first: a chown may clear set-user-ID bits that the chmod then restores. When we
   * may not give the file away, keeping at least the group is still worth a try. */
  if (fchown(fd, st.st_uid, st.st_gid) != 0 && fchown(fd, (uid_t)-1, st.st_gid) != 0)
    errno = 0; /* the new file stays ours: documented in fixio.h */
  if (fchmod(fd, st.st_mode & 07777) != 0) {
    set_err(err, errlen, "cannot set the permissions of a temporary file in %s: %s", dir,
            strerror(errno));
    goto done;
  }
  if (fsync(fd) != 0) {
    set_err(err, errlen, "cannot write a temporary file in %s: %s", dir, strerror(errno));
    goto done;
  }
  int closed = close(fd);
  fd = -1;
  if (closed != 0) {
    set_err(err, errlen, "cannot write a temporary file in %s: %s", dir, strerror(errno));
    goto done;
  }
  int same = same_contents(real, expect, expect_len);
  if (same < 0) {
    set_err(err, errlen, "cannot read %s: %s", path, strerror(errno));
    goto done;
  }
  if (!same) {
    set_err(err, errlen, "%s changed on disk since it was read; not written", path);
    rc = EQL_WRITE_CHANGED;
    goto done;
  }
  if (rename(tmp, real) != 0) {
    set_err(err, errlen, "cannot replace %s: %s", path, strerror(errno));
    goto done;
  }
  free(tmp);
  tmp = NULL; /* it is the file now */
  rc = EQL_WRITE_OK;
  /* Make the rename itself durable. */
  int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    if (fsync(dfd) != 0) errno = 0; /* not reported: see fixio.h */
    close(dfd);
  }
done:
  if (fd >= 0) close(fd);
  if (tmp) unlink(tmp);
  free(tmp);
  free(dir);
  free(real);
  return rc;
}
