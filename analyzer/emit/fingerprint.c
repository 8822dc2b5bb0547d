/* Stable fingerprints for CI systems that track findings across commits (SARIF
 * partialFingerprints for GitHub code scanning, the GitLab Code Quality fingerprint).
 *
 * A fingerprint must survive unrelated edits: adding an import above a finding moves it
 * down a line but it is the same finding, and GitHub would otherwise close one alert and
 * open another. So the line number is deliberately left out. What goes in:
 *
 *   the rule code, the report path (eql_emit_report_path, so "./a.py" and "a.py" agree),
 *   the flagged source line with surrounding blanks trimmed and inner runs of blanks
 *   collapsed (re-indenting a block does not change it), and the occurrence index: how many
 *   earlier diagnostics of the same file carry the same (code, path, line text) triple.
 *
 * The index tells apart two findings on identical lines (`state = optim.init(model)`
 * written twice); it counts in output order (by line), so it only changes when a finding
 * with the very same text is added or removed above. Without a source the message stands
 * in for the line text. A notebook's cell number is left out too: inserting a cell above
 * must not renumber every finding below. The digest is SHA-256 (truncated to 128 bits, as hex): no new
 * dependency, and collisions are out of the question at any repository's scale. */
#include <stdlib.h>
#include <string.h>

#include "emit_internal.h"

/* ---- SHA-256 (FIPS 180-4), small and unrolled nowhere: fingerprints are not hot. ---- */

typedef struct {
  uint32_t h[8];
  unsigned char buf[64];
  uint64_t total;
  size_t nbuf;
} sha256_ctx;

static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

static uint32_t ror(uint32_t x, unsigned n) { return (x >> n) | (x << (32 - n)); }

static void sha256_block(sha256_ctx *c, const unsigned char *b) {
  uint32_t w[64];
  for (int i = 0; i < 16; i++)
    w[i] = (uint32_t)b[4 * i] << 24 | (uint32_t)b[4 * i + 1] << 16 |
           (uint32_t)b[4 * i + 2] << 8 | (uint32_t)b[4 * i + 3];
  for (int i = 16; i < 64; i++) {
    uint32_t s0 = ror(w[i - 15], 7) ^ ror(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = ror(w[i - 2], 17) ^ ror(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  uint32_t a = c->h[0], bb = c->h[1], cc = c->h[2], d = c->h[3], e = c->h[4], f = c->h[5],
           g = c->h[6], h = c->h[7];
  for (int i = 0; i < 64; i++) {
    uint32_t t1 = h + (ror(e, 6) ^ ror(e, 11) ^ ror(e, 25)) + ((e & f) ^ (~e & g)) +
                  sha256_k[i] + w[i];
    uint32_t t2 = (ror(a, 2) ^ ror(a, 13) ^ ror(a, 22)) + ((a & bb) ^ (a & cc) ^ (bb & cc));
    h = g;
    g = f;
    f = e;
    e = d + t1;
    d = cc;
    cc = bb;
    bb = a;
    a = t1 + t2;
  }
  c->h[0] += a;
  c->h[1] += bb;
  c->h[2] += cc;
  c->h[3] += d;
  c->h[4] += e;
  c->h[5] += f;
  c->h[6] += g;
  c->h[7] += h;
}

static void sha256_init(sha256_ctx *c) {
  static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  memcpy(c->h, h0, sizeof h0);
  c->total = 0;
  c->nbuf = 0;
}

static void sha256_update(sha256_ctx *c, const void *data, size_t len) {
  const unsigned char *p = data;
  c->total += len;
  while (len > 0) {
    size_t take = 64 - c->nbuf < len ? 64 - c->nbuf : len;
    memcpy(c->buf + c->nbuf, p, take);
    c->nbuf += take;
    p += take;
    len -= take;
    if (c->nbuf == 64) {
      sha256_block(c, c->buf);
      c->nbuf = 0;
    }
  }
}

static void sha256_final(sha256_ctx *c, unsigned char digest[32]) {
  uint64_t bits = c->total * 8;
  unsigned char pad = 0x80, zero = 0, len[8];
  sha256_update(c, &pad, 1);
  while (c->nbuf != 56) sha256_update(c, &zero, 1);
  for (int i = 0; i < 8; i++) len[i] = (unsigned char)(bits >> (56 - 8 * i));
  sha256_update(c, len, 8);
  for (int i = 0; i < 8; i++) {
    digest[4 * i] = (unsigned char)(c->h[i] >> 24);
    digest[4 * i + 1] = (unsigned char)(c->h[i] >> 16);
    digest[4 * i + 2] = (unsigned char)(c->h[i] >> 8);
    digest[4 * i + 3] = (unsigned char)c->h[i];
  }
}

void eql_emit_sha256(const void *data, size_t len, unsigned char digest[32]) {
  sha256_ctx c;
  sha256_init(&c);
  sha256_update(&c, data, len);
  sha256_final(&c, digest);
}

/* ---- fingerprints ---- */

/* A field of the hashed record: its length first, so ("ab", "c") and ("a", "bc") differ. */
static void put_field(sha256_ctx *c, const char *s, size_t n) {
  unsigned char len[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
                          (unsigned char)(n >> 8), (unsigned char)n};
  sha256_update(c, len, 4);
  sha256_update(c, s, n);
}

static bool is_blank(char ch) {
  return ch == ' ' || ch == '\t' || ch == '\f' || ch == '\v' || ch == '\r';
}

/* Hashes the line text with blanks trimmed and inner runs collapsed to one space. */
static void put_normalised(sha256_ctx *c, const char *s, size_t n) {
  /* Normalise into a bounded buffer in chunks: lines can be megabytes (minified code). */
  char buf[256];
  size_t used = 0, total = 0;
  bool pending_space = false;
  /* Length is not known before normalising, so this field is terminated instead of
   * length-prefixed; the terminator byte cannot occur in the collapsed text. */
  for (size_t i = 0; i < n; i++) {
    char ch = s[i];
    if (is_blank(ch) || ch == '\n') {
      pending_space = total > 0;
      continue;
    }
    if (pending_space) {
      buf[used++] = ' ';
      pending_space = false;
    }
    buf[used++] = ch == 0 ? (char)0x01 : ch;
    total++;
    if (used >= sizeof buf - 1) {
      sha256_update(c, buf, used);
      used = 0;
    }
  }
  buf[used++] = 0;
  sha256_update(c, buf, used);
}

typedef struct {
  unsigned char key[32]; /* digest of (code, path, line text) */
  size_t index;          /* position in the list */
} fp_key;

static int cmp_key(const void *a, const void *b) {
  const fp_key *x = a, *y = b;
  int c = memcmp(x->key, y->key, sizeof x->key);
  if (c) return c;
  return x->index < y->index ? -1 : x->index > y->index;
}

int eql_emit_fingerprints(const eql_diag_list *diags, eql_emit_source_fn source,
                          const void *ud, const char *root, eql_emit_fingerprint *fps) {
  if (diags->n == 0) return 0;
  fp_key *keys = malloc(diags->n * sizeof *keys);
  if (!keys) return -1;
  for (size_t i = 0; i < diags->n; i++) {
    const eql_diag *d = &diags->items[i];
    char *path = eql_emit_report_path(d->path, root);
    if (!path) {
      free(keys);
      return -1;
    }
    sha256_ctx c;
    sha256_init(&c);
    put_field(&c, "eqlint-fingerprint-v1", 21);
    const char *code = eql_emit_code_of(d);
    put_field(&c, code, strlen(code));
    put_field(&c, path, strlen(path));
    free(path);
    const eql_source *src = source && d->path ? source(ud, d->path) : NULL;
    const char *text = NULL;
    uint32_t len = 0;
    /* By byte offset: in notebooks span.line counts within the cell, not the source. */
    if (src && d->span.start <= src->len)
      text = eql_source_line(src, eql_source_line_of(src, d->span.start), &len);
    if (text) {
      put_field(&c, "line", 4);
      put_normalised(&c, text, len);
    } else {
      const char *m = d->message ? d->message : "";
      put_field(&c, "message", 7);
      put_normalised(&c, m, strlen(m));
    }
    sha256_final(&c, keys[i].key);
    keys[i].index = i;
  }
  /* Equal keys end up adjacent, in list order: the run position is the occurrence index. */
  qsort(keys, diags->n, sizeof *keys, cmp_key);
  size_t occurrence = 0;
  for (size_t k = 0; k < diags->n; k++) {
    occurrence = k > 0 && memcmp(keys[k].key, keys[k - 1].key, 32) == 0 ? occurrence + 1 : 0;
    unsigned char rec[40], digest[32];
    memcpy(rec, keys[k].key, 32);
    for (int b = 0; b < 8; b++) rec[32 + b] = (unsigned char)((uint64_t)occurrence >> (56 - 8 * b));
    eql_emit_sha256(rec, sizeof rec, digest);
    static const char hex[] = "0123456789abcdef";
    char *w = fps[keys[k].index];
    for (int b = 0; b < EQL_EMIT_FINGERPRINT_HEX / 2; b++) {
      w[2 * b] = hex[digest[b] >> 4];
      w[2 * b + 1] = hex[digest[b] & 15];
    }
    w[EQL_EMIT_FINGERPRINT_HEX] = 0;
  }
  free(keys);
  return 0;
}
