/* Discovery of the files to check.
 *
 * Design: each directory is read completely, closed, sorted, and only then descended into,
 * so the walk holds one directory handle at a time whatever the depth, and its order does
 * not depend on the file system's readdir order. Symbolic links are followed (projects
 * link shared code in), which makes two things necessary: the device+inode of every
 * directory on the current path is kept on a stack, and a directory already on it is not
 * entered again (a loop); and every listed file's device+inode goes into a hash set, so a
 * file reached under two names is checked once. Paths are built as users type them ("."
 * contributes nothing, "src/" gives "src/a.py") because they end up in diagnostics. */
#include "eqlint/walk.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
  dev_t dev;
  ino_t ino;
} devino;

typedef struct {
  eql_walk_files *out;
  eql_walk_error_fn on_error;
  void *ud;
  long nerrors;
  int oom;
  devino *stack; /* directories open on the current path */
  size_t depth, stack_cap;
  devino *seen;  /* open-addressing hash set of listed files; ino 0 never occurs for files */
  size_t nseen, seen_cap;
  unsigned char *seen_used;
} walker;

void eql_walk_files_init(eql_walk_files *f) { memset(f, 0, sizeof *f); }

void eql_walk_files_free(eql_walk_files *f) {
  for (size_t i = 0; i < f->n; i++) free(f->paths[i]);
  free(f->paths);
  eql_walk_files_init(f);
}

static void report(walker *w, const char *path, const char *reason) {
  w->nerrors++;
  if (w->on_error) w->on_error(w->ud, path, reason);
}

static size_t devino_hash(devino k) {
  uint64_t h = (uint64_t)k.ino * 0x9E3779B97F4A7C15ull ^ (uint64_t)k.dev * 0xC2B2AE3D27D4EB4Full;
  return (size_t)(h ^ (h >> 29));
}

static int seen_grow(walker *w) {
  size_t cap = w->seen_cap ? w->seen_cap * 2 : 256;
  devino *keys = calloc(cap, sizeof *keys);
  unsigned char *used = calloc(cap, 1);
  if (!keys || !used) {
    free(keys);
    free(used);
    return -1;
  }
  for (size_t i = 0; i < w->seen_cap; i++) {
    if (!w->seen_used[i]) continue;
    size_t j = devino_hash(w->seen[i]) & (cap - 1);
    while (used[j]) j = (j + 1) & (cap - 1);
    keys[j] = w->seen[i];
    used[j] = 1;
  }
  free(w->seen);
  free(w->seen_used);
  w->seen = keys;
  w->seen_used = used;
  w->seen_cap = cap;
  return 0;
}

/* Inserts k; returns 1 when it was new, 0 when already present, -1 when out of memory. */
static int seen_insert(walker *w, devino k) {
  if ((w->nseen + 1) * 2 > w->seen_cap && seen_grow(w) < 0) return -1;
  size_t j = devino_hash(k) & (w->seen_cap - 1);
  while (w->seen_used[j]) {
    if (w->seen[j].dev == k.dev && w->seen[j].ino == k.ino) return 0;
    j = (j + 1) & (w->seen_cap - 1);
  }
  w->seen[j] = k;
  w->seen_used[j] = 1;
  w->nseen++;
  return 1;
}

static void add_file(walker *w, const char *path, const struct stat *st) {
  int fresh = seen_insert(w, (devino){st->st_dev, st->st_ino});
  if (fresh <= 0) {
    if (fresh < 0) w->oom = 1;
    return;
  }
  eql_walk_files *f = w->out;
  if (f->n == f->cap) {
    size_t cap = f->cap ? f->cap * 2 : 64;
    char **p = realloc(f->paths, cap * sizeof *p);
    if (!p) {
      w->oom = 1;
      return;
    }
    f->paths = p;
    f->cap = cap;
  }
  char *copy = strdup(path);
  if (!copy) {
    w->oom = 1;
    return;
  }
  f->paths[f->n++] = copy;
}

/* "dir" + "/" + name, where the directory "" stands for "." and contributes nothing. */
static char *join(const char *dir, const char *name) {
  size_t a = strlen(dir), b = strlen(name);
  char *s = malloc(a + b + 2);
  if (!s) return NULL;
  size_t k = 0;
  if (a) {
    memcpy(s, dir, a);
    k = a;
    if (s[k - 1] != '/') s[k++] = '/';
  }
  memcpy(s + k, name, b + 1);
  return s;
}

bool eql_walk_is_python(const char *name) {
  size_t n = strlen(name);
  return (n > 3 && strcmp(name + n - 3, ".py") == 0) ||
         (n > 6 && strcmp(name + n - 6, ".ipynb") == 0); /* notebooks: their code cells */
}

bool eql_walk_skip_dir(const char *dir_path, const char *name) {
  /* Hidden directories hold tool state (.git, .venv, .tox, .mypy_cache), never sources. */
  if (name[0] == '.') return true;
  static const char *const skip[] = {"__pycache__", "node_modules", "site-packages",
                                     "__pypackages__"};
  for (size_t i = 0; i < sizeof skip / sizeof *skip; i++)
    if (strcmp(name, skip[i]) == 0) return true;
  /* A virtual environment is recognised by its marker, not its name: `env/` or `build/`
   * may well be a source package. */
  char *sub = join(dir_path && *dir_path ? dir_path : ".", name);
  if (!sub) return false;
  char *cfg = join(sub, "pyvenv.cfg");
  free(sub);
  if (!cfg) return false;
  struct stat st;
  bool venv = stat(cfg, &st) == 0;
  free(cfg);
  return venv;
}

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void walk_dir(walker *w, const char *path, const struct stat *st);

/* Reads all entry names of a directory (without . and ..), sorted. NULL + *n = 0 with a
 * reported error when it cannot be read. */
static char **read_names(walker *w, const char *path, size_t *n) {
  *n = 0;
  DIR *d = opendir(*path ? path : ".");
  if (!d) {
    report(w, *path ? path : ".", strerror(errno));
    return NULL;
  }
  char **names = NULL;
  size_t cap = 0;
  for (;;) {
    errno = 0;
    struct dirent *e = readdir(d);
    if (!e) {
      if (errno) report(w, *path ? path : ".", strerror(errno));
      break;
    }
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    if (*n == cap) {
      size_t ncap = cap ? cap * 2 : 32;
      char **nn = realloc(names, ncap * sizeof *nn);
      if (!nn) {
        w->oom = 1;
        break;
      }
      names = nn;
      cap = ncap;
    }
    if (!(names[*n] = strdup(e->d_name))) {
      w->oom = 1;
      break;
    }
    (*n)++;
  }
  closedir(d);
  if (*n > 1) qsort(names, *n, sizeof *names, cmp_names);
  return names;
}

static void visit_entry(walker *w, const char *dir, const char *name) {
  char *path = join(dir, name);
  if (!path) {
    w->oom = 1;
    return;
  }
  struct stat st;
  if (stat(path, &st) != 0) {
    int e = errno;
    struct stat lst;
    /* A dangling link (an editor's lock file, a removed target) is not a file to check. */
    bool dangling = e == ENOENT && lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode);
    if (!dangling && eql_walk_is_python(name)) report(w, path, strerror(e));
    free(path);
    return;
  }
  if (S_ISDIR(st.st_mode)) {
    if (!eql_walk_skip_dir(dir, name)) walk_dir(w, path, &st);
  } else if (S_ISREG(st.st_mode) && eql_walk_is_python(name)) {
    add_file(w, path, &st);
  }
  free(path);
}

static void walk_dir(walker *w, const char *path, const struct stat *st) {
  for (size_t i = 0; i < w->depth; i++)
    if (w->stack[i].dev == st->st_dev && w->stack[i].ino == st->st_ino) return; /* a loop */
  if (w->depth == w->stack_cap) {
    size_t cap = w->stack_cap ? w->stack_cap * 2 : 16;
    devino *s = realloc(w->stack, cap * sizeof *s);
    if (!s) {
      w->oom = 1;
      return;
    }
    w->stack = s;
    w->stack_cap = cap;
  }
  w->stack[w->depth++] = (devino){st->st_dev, st->st_ino};
  size_t n;
  char **names = read_names(w, path, &n);
  for (size_t i = 0; i < n; i++) {
    if (!w->oom) visit_entry(w, path, names[i]);
    free(names[i]);
  }
  free(names);
  w->depth--;
}

/* The display prefix of a root directory: "." and "./" contribute nothing; trailing
 * slashes go ("src//" -> "src") except for "/" itself. Malloc'd. */
static char *root_prefix(const char *root) {
  size_t n = strlen(root);
  while (n > 1 && root[n - 1] == '/') n--;
  if (n == 1 && root[0] == '.') n = 0;
  char *s = malloc(n + 1);
  if (!s) return NULL;
  memcpy(s, root, n);
  s[n] = 0;
  return s;
}

long eql_walk(const char *const *roots, size_t nroots, eql_walk_files *out,
              eql_walk_error_fn on_error, void *ud) {
  static const char *const dot[] = {"."};
  if (nroots == 0) {
    roots = dot;
    nroots = 1;
  }
  walker w;
  memset(&w, 0, sizeof w);
  w.out = out;
  w.on_error = on_error;
  w.ud = ud;
  for (size_t i = 0; i < nroots && !w.oom; i++) {
    const char *root = roots[i];
    struct stat st;
    if (!*root) {
      report(&w, root, strerror(ENOENT));
      continue;
    }
    if (stat(root, &st) != 0) {
      report(&w, root, strerror(errno));
      continue;
    }
    if (S_ISDIR(st.st_mode)) {
      /* A directory named on the command line is walked even if it would be skipped when
       * found inside another: the user asked for it. */
      char *prefix = root_prefix(root);
      if (!prefix) {
        w.oom = 1;
        break;
      }
      walk_dir(&w, prefix, &st);
      free(prefix);
    } else {
      add_file(&w, root, &st);
    }
  }
  free(w.stack);
  free(w.seen);
  free(w.seen_used);
  return w.oom ? -1 : w.nerrors;
}
