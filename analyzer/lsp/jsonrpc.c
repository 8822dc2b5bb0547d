/* JSON-RPC framing for the language server: `Content-Length: N\r\n\r\n` then N bytes.
 *
 * The reader does its own buffering over a raw descriptor (not stdio) so the server can
 * ask whether more input is already waiting (eql_lsp_reader_ready) and coalesce a burst of
 * edits or honour a $/cancelRequest that arrived behind its request.
 *
 * It never trusts the peer: header lines are capped, a body larger than max_message is
 * discarded as it streams past instead of being allocated, and after garbage it
 * resynchronises on the next `Content-Length:` it sees — even one glued to the tail of a
 * body whose declared length was too short — so one bad message costs at most itself and
 * its neighbour, never the session. A run of garbage is reported once, not once per line. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "lsp_internal.h"

#define READ_CHUNK 65536
#define MAX_HEADER_LINE 4096

void eql_lsp_reader_init(eql_lsp_reader *r, int fd, size_t max_message) {
  memset(r, 0, sizeof *r);
  r->fd = fd;
  r->max_message = max_message;
}

void eql_lsp_reader_free(eql_lsp_reader *r) {
  free(r->stash_body);
  r->stash_body = NULL;
  r->has_stash = false;
  free(r->buf);
  r->buf = NULL;
  r->pos = r->len = r->cap = 0;
}

/* Reads more bytes into the buffer. Returns the number read; 0 at end of input. */
static size_t fill(eql_lsp_reader *r) {
  if (r->eof) return 0;
  if (r->pos > 0 && r->pos == r->len) r->pos = r->len = 0;
  if (r->cap - r->len < READ_CHUNK) {
    if (r->pos > 0) { /* slide the unconsumed tail down before growing */
      memmove(r->buf, r->buf + r->pos, r->len - r->pos);
      r->len -= r->pos;
      r->pos = 0;
    }
    if (r->cap - r->len < READ_CHUNK) {
      size_t cap = r->cap ? r->cap * 2 : 2 * READ_CHUNK;
      while (cap - r->len < READ_CHUNK) cap *= 2;
      char *nb = realloc(r->buf, cap);
      if (!nb) { /* treat as end of input: the loop ends cleanly rather than spin */
        r->eof = true;
        return 0;
      }
      r->buf = nb;
      r->cap = cap;
    }
  }
  for (;;) {
    ssize_t got = read(r->fd, r->buf + r->len, r->cap - r->len);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      r->eof = true;
      return 0;
    }
    r->len += (size_t)got;
    return (size_t)got;
  }
}

/* The next line (without its \n or \r\n) in line, its length in n, consumed. A line longer than
 * MAX_HEADER_LINE is returned truncated (its rest is consumed as well) and *too_long set.
 * Returns false at end of input. */
static bool next_line(eql_lsp_reader *r, char *line, size_t *n, bool *too_long) {
  size_t got = 0;
  *too_long = false;
  for (;;) {
    char *start = r->buf ? r->buf + r->pos : NULL;
    char *nl = start ? memchr(start, '\n', r->len - r->pos) : NULL;
    size_t avail = nl ? (size_t)(nl - start) : r->len - r->pos;
    size_t take = avail;
    if (got + take > MAX_HEADER_LINE) {
      take = MAX_HEADER_LINE - got;
      *too_long = true;
    }
    if (take) memcpy(line + got, start, take);
    got += take;
    r->pos += nl ? avail + 1 : avail; /* a too-long line's excess is dropped, not kept */
    if (nl) break;
    if (fill(r) == 0) {
      if (got == 0 && !*too_long) return false;
      break; /* a last line without newline: still a line (it will be garbage) */
    }
  }
  if (got > 0 && line[got - 1] == '\r') got--;
  line[got] = 0;
  *n = got;
  return true;
}

/* Parses a Content-Length value: digits only, no overflow. */
static bool parse_length(const char *s, size_t *out) {
  while (*s == ' ' || *s == '\t') s++;
  if (!isdigit((unsigned char)*s)) return false;
  size_t v = 0;
  for (; isdigit((unsigned char)*s); s++) {
    size_t d = (size_t)(*s - '0');
    if (v > (SIZE_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  while (*s == ' ' || *s == '\t') s++;
  if (*s) return false;
  *out = v;
  return true;
}

/* A header name is an HTTP token; anything else on a header line means garbage. */
static bool is_header_line(const char *line, const char **value) {
  const char *colon = strchr(line, ':');
  if (!colon || colon == line) return false;
  for (const char *p = line; p < colon; p++)
    if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_') return false;
  *value = colon + 1;
  return true;
}

static const char *find_content_length(const char *line) {
  for (const char *p = line; *p; p++)
    if ((*p == 'C' || *p == 'c') && strncasecmp(p, "Content-Length:", 15) == 0) return p;
  return NULL;
}

/* Discards n bytes of input as they arrive. Returns false at end of input. */
static bool skip_bytes(eql_lsp_reader *r, size_t n) {
  while (n > 0) {
    if (r->pos == r->len && fill(r) == 0) return false;
    size_t take = r->len - r->pos < n ? r->len - r->pos : n;
    r->pos += take;
    n -= take;
  }
  return true;
}

/* Marks the start of a garbage run; only its first bad line is reported. Returns true when
 * this line must be reported. */
static bool garbage(eql_lsp_reader *r, char *why, size_t whylen, const char *what) {
  bool first = !r->in_garbage;
  if (first) snprintf(why, whylen, "%s", what);
  r->in_garbage = true;
  return first;
}

eql_lsp_read_status eql_lsp_read(eql_lsp_reader *r, char **body, size_t *len, char *why,
                                 size_t whylen) {
  char line[MAX_HEADER_LINE + 1];
  *body = NULL;
  *len = 0;
  if (whylen) why[0] = 0;
  if (r->has_stash) { /* the message that followed a reported garbage run */
    r->has_stash = false;
    *body = r->stash_body;
    *len = r->stash_len;
    r->stash_body = NULL;
    return EQL_LSP_READ_MESSAGE;
  }
  bool have_length = false, any_header = false, glued = false;
  size_t length = 0;
  for (;;) {
    size_t n;
    bool too_long;
    if (!next_line(r, line, &n, &too_long)) return EQL_LSP_READ_EOF;
    if (n == 0 && !too_long) {
      if (!any_header) continue; /* stray blank lines between messages */
      if (have_length) break;
      any_header = false;
      if (garbage(r, why, whylen, "header block without Content-Length skipped"))
        return EQL_LSP_READ_BAD_HEADER;
      continue;
    }
    const char *cl = find_content_length(line);
    if (cl && cl != line) {
      /* the tail of a body whose Content-Length was too short, glued to the next header:
       * keep the header, report the tail once the message it precedes is read */
      if (garbage(r, why, whylen, "bytes before a Content-Length header were skipped"))
        glued = true;
      memmove(line, cl, strlen(cl) + 1);
      have_length = any_header = false;
    }
    const char *value;
    if (too_long || !is_header_line(line, &value)) {
      have_length = any_header = false;
      if (garbage(r, why, whylen, "malformed header line skipped")) return EQL_LSP_READ_BAD_HEADER;
      continue;
    }
    any_header = true;
    if (cl) {
      if (!parse_length(value, &length)) {
        have_length = any_header = false;
        if (garbage(r, why, whylen, "invalid Content-Length value skipped"))
          return EQL_LSP_READ_BAD_HEADER;
        continue;
      }
      have_length = true;
    }
    /* Content-Type and unknown headers are allowed and ignored */
  }
  r->in_garbage = false;
  eql_lsp_read_status st = EQL_LSP_READ_MESSAGE;
  char *b = NULL;
  char big[160];
  big[0] = 0;
  if (length > r->max_message) {
    snprintf(big, sizeof big, "message body of %zu bytes exceeds the limit of %zu bytes; skipped",
             length, r->max_message);
    st = EQL_LSP_READ_TOO_LARGE;
  } else if (!(b = malloc(length + 1))) {
    snprintf(big, sizeof big, "out of memory for a message of %zu bytes; skipped", length);
    st = EQL_LSP_READ_TOO_LARGE;
  }
  if (st == EQL_LSP_READ_TOO_LARGE) {
    if (!skip_bytes(r, length)) return EQL_LSP_READ_EOF;
    if (!glued) snprintf(why, whylen, "%s", big);
    /* with a glued garbage report pending, the size problem is only logged by the caller
     * through the garbage report; the skipped body needs no second answer */
    return glued ? EQL_LSP_READ_BAD_HEADER : st;
  }
  size_t got = 0;
  while (got < length) {
    if (r->pos == r->len && fill(r) == 0) {
      free(b);
      return EQL_LSP_READ_EOF;
    }
    size_t take = r->len - r->pos < length - got ? r->len - r->pos : length - got;
    memcpy(b + got, r->buf + r->pos, take);
    r->pos += take;
    got += take;
  }
  b[length] = 0;
  if (glued) { /* answer the garbage first, then hand out this message */
    r->has_stash = true;
    r->stash_body = b;
    r->stash_len = length;
    return EQL_LSP_READ_BAD_HEADER;
  }
  *body = b;
  *len = length;
  return EQL_LSP_READ_MESSAGE;
}

/* Would eql_lsp_read return at once on the buffered bytes alone? True for a complete
 * frame, a body too large to keep (it is skipped as it arrives), or a bad header line that
 * starts a new garbage run (reported at once). False for an incomplete frame and for more
 * of a garbage run already reported: reading those could wait for input that a client
 * waiting for our answer will never send. */
static bool frame_buffered(const eql_lsp_reader *r) {
  const char *p = r->buf + r->pos, *end = r->buf + r->len;
  bool have_length = false, any = false;
  size_t length = 0;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    if (!nl) return false;
    size_t n = (size_t)(nl - p);
    if (n > 0 && p[n - 1] == '\r') n--;
    if (n > MAX_HEADER_LINE) return !r->in_garbage;
    char line[MAX_HEADER_LINE + 1];
    memcpy(line, p, n);
    line[n] = 0;
    p = nl + 1;
    if (n == 0) {
      if (!any) continue;
      if (!have_length) return !r->in_garbage;
      return length > r->max_message || (size_t)(end - p) >= length;
    }
    const char *cl = find_content_length(line), *value;
    if (cl && cl != line) return true; /* reported with the message it precedes */
    if (strlen(line) != n || !is_header_line(line, &value)) return !r->in_garbage;
    any = true;
    if (cl) {
      if (!parse_length(value, &length)) return !r->in_garbage;
      have_length = true;
    }
  }
  return false;
}

bool eql_lsp_reader_ready(eql_lsp_reader *r) {
  for (;;) {
    if (r->has_stash || r->eof) return true; /* eof: a read returns at once */
    if (r->buf && frame_buffered(r)) return true;
    struct pollfd pfd = {.fd = r->fd, .events = POLLIN};
    int n;
    do n = poll(&pfd, 1, 0);
    while (n < 0 && errno == EINTR);
    if (n <= 0) return false;
    fill(r); /* readable: this read does not block */
  }
}

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

int eql_lsp_write(int fd, const char *body, size_t len) {
  char head[64];
  int h = snprintf(head, sizeof head, "Content-Length: %zu\r\n\r\n", len);
  /* one buffer, one write where possible: a reader never sees a header without its body */
  char *msg = malloc((size_t)h + len);
  if (!msg) return write_all(fd, head, (size_t)h) || write_all(fd, body, len) ? -1 : 0;
  memcpy(msg, head, (size_t)h);
  memcpy(msg + h, body, len);
  int rc = write_all(fd, msg, (size_t)h + len);
  free(msg);
  return rc;
}
