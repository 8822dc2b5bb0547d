/* Editor latency of `eqlint server`: the time from a one-character didChange to the
 * publishDiagnostics for that version, on a generated 5,000-line module, next to a full
 * re-check of the same file by the command line.
 *
 *   cc -O2 -o lsp_latency bench/lsp_latency.c && ./lsp_latency build/eqlint [EDITS [FILES]]
 *
 * FILES (default 0) adds that many other modules (about 100 lines each) to the workspace
 * folder, to see what the project index costs per keystroke in a larger project.
 *
 * The server runs as a child process on pipes, exactly as an editor starts it, so the
 * figure includes framing, JSON and the pipe round trip. Each edit waits for its own
 * publish before the next is sent (no coalescing). Edits alternate between typing and
 * deleting one character in a comment in the middle of the file, so every re-parse is a
 * real incremental one and the diagnostics (the file holds one EQX001) stay the same.
 *
 * Self-contained on purpose (no Jansson, no eqlint headers): `make bench` can build it
 * with one compiler call. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LINES_PER_BLOCK 25
#define BLOCKS 200 /* 200 * 25 = 5,000 lines */

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

/* The module: Module classes, losses and train steps, one real pitfall at the end. Its
 * middle comment line is where the edits go; *edit_line receives its 0-based index. */
static char *generate(size_t *len, int *edit_line, int *nlines) {
  size_t cap = 1 << 20, n = 0;
  char *s = malloc(cap);
  int line = 0;
#define EMIT(...)                                                        \
  do {                                                                   \
    int k = snprintf(s + n, cap - n, __VA_ARGS__);                       \
    n += (size_t)k;                                                      \
    for (const char *c = s + n - k; c < s + n; c++) line += *c == '\n';  \
  } while (0)
  EMIT("from typing import Callable\n\nimport equinox as eqx\nimport jax\nimport jax.numpy as "
       "jnp\nimport optax\n\noptim = optax.adam(1e-3)\n\n\n");
  for (int i = 0; i < BLOCKS; i++) {
    if (i == BLOCKS / 2) *edit_line = line;
    EMIT("# block %d: a layer, its loss and its train step\n", i);
    EMIT("class Block%d(eqx.Module):\n    linear: eqx.nn.Linear\n    act: Callable\n\n", i);
    EMIT("    def __init__(self, key):\n        self.linear = eqx.nn.Linear(8, 8, key=key)\n"
         "        self.act = jax.nn.relu\n\n");
    EMIT("    def __call__(self, x):\n        \"\"\"One layer and its activation.\"\"\"\n"
         "        h = self.linear(x)\n        return self.act(h)\n\n\n");
    EMIT("def loss_%d(model, x, y):\n    pred = jax.vmap(model)(x)\n"
         "    return jnp.mean((pred - y) ** 2)\n\n\n", i);
    EMIT("@eqx.filter_jit\ndef step_%d(model, opt_state, x, y):\n"
         "    loss, grads = eqx.filter_value_and_grad(loss_%d)(model, x, y)\n"
         "    updates, opt_state = optim.update(grads, opt_state, eqx.filter(model, "
         "eqx.is_array))\n", i, i);
    EMIT("    return eqx.apply_updates(model, updates), opt_state, loss\n");
  }
  EMIT("model = Block0(jax.random.PRNGKey(0))\nopt_state = optim.init(model)\n");
#undef EMIT
  *len = n;
  *nlines = line;
  return s;
}

typedef struct server {
  pid_t pid;
  int in, out; /* we write to in, read from out */
  char *buf;
  size_t len, cap;
} server;

static void write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      perror("lsp_latency: write to the server");
      exit(1);
    }
    p += w;
    n -= (size_t)w;
  }
}

static void send_msg(server *s, const char *body) {
  char head[64];
  int h = snprintf(head, sizeof head, "Content-Length: %zu\r\n\r\n", strlen(body));
  write_all(s->in, head, (size_t)h);
  write_all(s->in, body, strlen(body));
}

/* The next message body (malloc'd). Exits when the server goes away. */
static char *recv_msg(server *s) {
  for (;;) {
    char *end = s->len ? memmem(s->buf, s->len, "\r\n\r\n", 4) : NULL;
    if (end) {
      size_t body_len = strtoul(s->buf + strlen("Content-Length: "), NULL, 10);
      size_t head = (size_t)(end - s->buf) + 4;
      if (s->len >= head + body_len) {
        char *b = malloc(body_len + 1);
        memcpy(b, s->buf + head, body_len);
        b[body_len] = 0;
        memmove(s->buf, s->buf + head + body_len, s->len - head - body_len);
        s->len -= head + body_len;
        return b;
      }
    }
    if (s->cap - s->len < 65536) {
      s->cap = s->cap ? s->cap * 2 : 1 << 20;
      s->buf = realloc(s->buf, s->cap);
    }
    ssize_t r = read(s->out, s->buf + s->len, s->cap - s->len);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      fprintf(stderr, "lsp_latency: the server closed its output\n");
      exit(1);
    }
    s->len += (size_t)r;
  }
}

/* Waits for the publishDiagnostics of `version`; returns how many diagnostics it held. */
static int wait_publish(server *s, int version) {
  char want[48];
  snprintf(want, sizeof want, "\"version\":%d,", version);
  for (;;) {
    char *m = recv_msg(s);
    if (strstr(m, "publishDiagnostics") && strstr(m, want)) {
      int n = 0;
      for (const char *p = m; (p = strstr(p, "\"source\":\"eqlint\"")); p++) n++;
      free(m);
      return n;
    }
    free(m);
  }
}

static server start(const char *eqlint) {
  int to[2], from[2];
  if (pipe(to) || pipe(from)) {
    perror("pipe");
    exit(1);
  }
  server s = {0};
  s.pid = fork();
  if (s.pid == 0) {
    dup2(to[0], 0);
    dup2(from[1], 1);
    close(to[1]);
    close(from[0]);
    execl(eqlint, eqlint, "server", (char *)NULL);
    perror("exec");
    _exit(127);
  }
  close(to[0]);
  close(from[1]);
  s.in = to[1];
  s.out = from[0];
  return s;
}

/* CPU time (user + system) a live process has used so far, in ms, from /proc: on a shared
 * machine wall-clock latency includes waiting for a core, CPU time does not. -1 if unknown. */
static double proc_cpu_ms(pid_t pid) {
  char p[64], buf[1024];
  snprintf(p, sizeof p, "/proc/%d/stat", (int)pid);
  FILE *f = fopen(p, "r");
  if (!f) return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  const char *q = strrchr(buf, ')'); /* the command name may hold spaces */
  unsigned long ut, st;
  if (!q || sscanf(q + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
    return -1;
  return (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* The p-th percentile (0..100) of sorted values, nearest rank. */
static double percentile(const double *v, int n, double p) {
  int k = (int)((p / 100.0) * n + 0.999999) - 1;
  if (k < 0) k = 0;
  if (k >= n) k = n - 1;
  return v[k];
}

/* JSON string escaping for the generated text (quotes, backslashes, newlines only). */
static char *json_escape(const char *s, size_t n) {
  char *o = malloc(2 * n + 1), *p = o;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '"' || s[i] == '\\') *p++ = '\\', *p++ = s[i];
    else if (s[i] == '\n') *p++ = '\\', *p++ = 'n';
    else *p++ = s[i];
  }
  *p = 0;
  return o;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s path/to/eqlint [EDITS]\n", argv[0]);
    return 2;
  }
  const char *eqlint = argv[1];
  int edits = argc > 2 ? atoi(argv[2]) : 200;
  if (edits < 1) edits = 1;
  int extra = argc > 3 ? atoi(argv[3]) : 0;
  signal(SIGPIPE, SIG_IGN);

  size_t len;
  int edit_line = 0, nlines = 0;
  char *text = generate(&len, &edit_line, &nlines);
  char dir[] = "/tmp/eqlint-lsp-bench-XXXXXX", path[64];
  if (!mkdtemp(dir)) {
    perror("lsp_latency: temporary directory");
    return 1;
  }
  snprintf(path, sizeof path, "%s/bench_module.py", dir);
  FILE *f = fopen(path, "w");
  if (!f || fwrite(text, 1, len, f) != len || fclose(f) != 0) {
    perror("lsp_latency: temporary file");
    return 1;
  }
  /* the other modules of the workspace: four blocks each, so ~100 lines */
  for (int i = 0; i < extra; i++) {
    char other[96];
    snprintf(other, sizeof other, "%s/other_%04d.py", dir, i);
    FILE *o = fopen(other, "w");
    const char *block = strstr(text, "# block 0:");
    const char *end = strstr(text, "# block 4:");
    if (!o || !block || !end) return 1;
    fputs("from typing import Callable\n\nimport equinox as eqx\nimport jax\n"
          "import jax.numpy as jnp\nimport optax\n\noptim = optax.adam(1e-3)\n\n\n", o);
    fwrite(block, 1, (size_t)(end - block), o);
    fclose(o);
  }

  server s = start(eqlint);
  char init[256];
  snprintf(init, sizeof init, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\","
                              "\"params\":{\"capabilities\":{},\"rootUri\":\"file://%s\"}}", dir);
  send_msg(&s, init);
  free(recv_msg(&s));
  send_msg(&s, "{\"jsonrpc\":\"2.0\",\"method\":\"initialized\",\"params\":{}}");
  char *esc = json_escape(text, len);
  size_t mcap = strlen(esc) + 512;
  char *msg = malloc(mcap);
  snprintf(msg, mcap,
           "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didOpen\",\"params\":{\"textDocument\":"
           "{\"uri\":\"file://%s\",\"languageId\":\"python\",\"version\":1,\"text\":\"%s\"}}}",
           path, esc);
  double t0 = now_ms();
  send_msg(&s, msg);
  int ndiag = wait_publish(&s, 1);
  double open_ms = now_ms() - t0;
  free(esc);

  double *lat = malloc(sizeof *lat * (size_t)edits);
  double cpu0 = proc_cpu_ms(s.pid);
  /* the edit point: the end of "# block 100: ..." (column 0 + its length) */
  const char *p = text;
  for (int l = 0; l < edit_line; l++) p = strchr(p, '\n') + 1;
  int col = (int)(strchr(p, '\n') - p);
  for (int i = 0; i < edits; i++) {
    int version = i + 2;
    if (i % 2 == 0)
      snprintf(msg, mcap,
               "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didChange\",\"params\":{"
               "\"textDocument\":{\"uri\":\"file://%s\",\"version\":%d},\"contentChanges\":[{"
               "\"range\":{\"start\":{\"line\":%d,\"character\":%d},\"end\":{\"line\":%d,"
               "\"character\":%d}},\"text\":\"x\"}]}}",
               path, version, edit_line, col, edit_line, col);
    else
      snprintf(msg, mcap,
               "{\"jsonrpc\":\"2.0\",\"method\":\"textDocument/didChange\",\"params\":{"
               "\"textDocument\":{\"uri\":\"file://%s\",\"version\":%d},\"contentChanges\":[{"
               "\"range\":{\"start\":{\"line\":%d,\"character\":%d},\"end\":{\"line\":%d,"
               "\"character\":%d}},\"text\":\"\"}]}}",
               path, version, edit_line, col, edit_line, col + 1);
    double a = now_ms();
    send_msg(&s, msg);
    int nd = wait_publish(&s, version);
    lat[i] = now_ms() - a;
    if (nd != ndiag) {
      fprintf(stderr, "lsp_latency: edit %d changed the diagnostics (%d -> %d)\n", i, ndiag, nd);
      return 1;
    }
  }
  double cpu1 = proc_cpu_ms(s.pid);
  send_msg(&s, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"shutdown\"}");
  free(recv_msg(&s));
  send_msg(&s, "{\"jsonrpc\":\"2.0\",\"method\":\"exit\"}");
  int st;
  waitpid(s.pid, &st, 0);
  close(s.in);
  close(s.out);

  /* the command line on the same file, process start-up included, as a user runs it */
  enum { RUNS = 20 };
  double cli[RUNS], cli_cpu[RUNS];
  for (int i = 0; i < RUNS; i++) {
    double a = now_ms();
    pid_t pid = fork();
    if (pid == 0) {
      int devnull = open("/dev/null", O_WRONLY);
      dup2(devnull, 1);
      execl(eqlint, eqlint, "check", "--format", "concise", path, (char *)NULL);
      _exit(127);
    }
    struct rusage ru;
    wait4(pid, &st, 0, &ru);
    cli[i] = now_ms() - a;
    cli_cpu[i] = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
                 (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 1) {
      fprintf(stderr, "lsp_latency: eqlint check exited with %d (expected 1: one finding)\n",
              WIFEXITED(st) ? WEXITSTATUS(st) : -1);
      return 1;
    }
  }
  qsort(lat, (size_t)edits, sizeof *lat, cmp_double);
  qsort(cli, RUNS, sizeof *cli, cmp_double);
  qsort(cli_cpu, RUNS, sizeof *cli_cpu, cmp_double);
  printf("lsp_latency: %d-line module (%zu bytes), %d diagnostic(s), %d other workspace "
         "file%s\n", nlines, len, ndiag, extra, extra == 1 ? "" : "s");
  printf("  didOpen -> publishDiagnostics:              %8.2f ms\n", open_ms);
  printf("  didChange (1 char) -> publishDiagnostics:   median %6.2f ms   p99 %6.2f ms   "
         "max %6.2f ms   (%d edits)\n",
         percentile(lat, edits, 50), percentile(lat, edits, 99), lat[edits - 1], edits);
  printf("  eqlint check (full re-check, new process):  median %6.2f ms   p99 %6.2f ms   "
         "(%d runs)\n", percentile(cli, RUNS, 50), percentile(cli, RUNS, 99), RUNS);
  if (cpu0 >= 0 && cpu1 >= 0)
    printf("  CPU time: server %.2f ms per edit (mean); eqlint check %.2f ms per run (median)\n",
           (cpu1 - cpu0) / edits, percentile(cli_cpu, RUNS, 50));
  unlink(path);
  for (int i = 0; i < extra; i++) {
    char other[96];
    snprintf(other, sizeof other, "%s/other_%04d.py", dir, i);
    unlink(other);
  }
  rmdir(dir);
  free(lat);
  free(msg);
  free(text);
  free(s.buf);
  return 0;
}
