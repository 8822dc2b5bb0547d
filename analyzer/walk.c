/* Discovery of the files to check.
 *
 * Design: each directory is read completely, closed, sorted, and only then descended into,
 * so the walk holds one directory handle at a time whatever the depth, and its order does
 * not depend on the file system's readdir order. Symbolic links are followed (projects
 * link shared code in), which makes two things necessary: the device+inode of every
 * directory on the current path is kept on a stack, and a directory already on it is not
 * entered again (a loop); and every listed file's device+inode goes into a hash set, so a
 * file reached under two names is checked once. Paths are built as users type them ("."
 * contributes nothing, "src/" gives "src/a.py") because they end up in diagnostics.
 *
 * Git's ignore rules come from libgit2 rather than from our own reading of .gitignore:
 * their semantics (negation, anchoring, directory-only patterns, nested files, info/exclude,
 * core.excludesFile) are subtle, and an approximation would silently check or skip the
 * wrong files. libgit2 wants paths relative to the repository's work tree, so each
 * directory on the walk carries its path inside the repository that holds it, built name by
 * name as the walk descends (a directory holding `.git` starts a new repository: nested
 * repositories and submodules have their own rules). Ignored directories are pruned before
 * they are read. */
#include "eqlint/walk.h"

#include <dirent.h>
#include <errno.h>
#include <git2.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
  dev_t dev;
  ino_t ino;
} devino;

/* Where a directory lies for git: the repository holding it (NULL: none, or ignore rules
 * are off there) and its path relative to the work tree, "" or ending in '/'. */
typedef struct {
  git_repository *repo;
  char *rel;
} gitpos;

typedef struct {
  const eql_walk_options *opt;
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
         (n > 6 && strcmp(name + n - 6, ".ipynb") == 0) || /* notebooks: their code cells */
         (n > 2 && name[n - 2] == '.' && (name[n - 1] == 'c' || name[n - 1] == 'h')); /* C */
}

static bool is_venv(const char *dir_path, const char *name);

bool eql_walk_skip_dir(const char *dir_path, const char *name) {
  /* Hidden directories hold tool state (.git, .venv, .tox, .mypy_cache), never sources. */
  if (name[0] == '.') return true;
  static const char *const skip[] = {"__pycache__", "node_modules", "site-packages",
                                     "__pypackages__"};
  for (size_t i = 0; i < sizeof skip / sizeof *skip; i++)
    if (strcmp(name, skip[i]) == 0) return true;
  return is_venv(dir_path, name);
}

static bool is_venv(const char *dir_path, const char *name) {
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

static void walk_dir(walker *w, const char *path, const struct stat *st, const gitpos *g);

/* True when git ignores `name` inside the directory at `g`. A failure to evaluate the rules
 * (an unreadable .gitignore) counts as not ignored: checking a file too many is better than
 * silently skipping one. */
static bool git_ignored(walker *w, const gitpos *g, const char *name) {
  if (!g->repo) return false;
  char *rel = join(g->rel, name);
  if (!rel) {
    w->oom = 1;
    return false;
  }
  int ignored = 0;
  if (git_ignore_path_is_ignored(&ignored, g->repo, rel) < 0) ignored = 0;
  free(rel);
  return ignored == 1;
}

static bool has_git_dir(const char *dir) {
  char *dotgit = join(*dir ? dir : ".", ".git");
  if (!dotgit) return false;
  struct stat st;
  /* `.git` is a directory in a repository, a file (gitdir: ...) in a submodule/worktree. */
  bool found = lstat(dotgit, &st) == 0;
  free(dotgit);
  return found;
}

/* The git position of the subdirectory `name` of the directory at `g` whose displayed path
 * is `path`. The child owns what it holds only when it opened a new repository. */
static int git_descend(walker *w, const gitpos *g, const char *path, const char *name,
                       gitpos *child, bool *owns_repo) {
  *owns_repo = false;
  child->repo = g->repo;
  child->rel = NULL;
  if (!w->opt->gitignore) return 0;
  if (has_git_dir(path)) {
    git_repository *repo = NULL;
    if (git_repository_open_ext(&repo, *path ? path : ".", GIT_REPOSITORY_OPEN_NO_SEARCH,
                                NULL) == 0 &&
        git_repository_workdir(repo)) {
      child->repo = repo;
      *owns_repo = true;
      child->rel = strdup("");
    } else {
      git_repository_free(repo);
      child->repo = NULL;
      return 0;
    }
  } else if (g->repo) {
    size_t a = strlen(g->rel), b = strlen(name);
    child->rel = malloc(a + b + 2);
    if (child->rel) {
      memcpy(child->rel, g->rel, a);
      memcpy(child->rel + a, name, b);
      child->rel[a + b] = '/';
      child->rel[a + b + 1] = 0;
    }
  } else {
    return 0;
  }
  if (!child->rel) {
    if (*owns_repo) git_repository_free(child->repo);
    *owns_repo = false;
    child->repo = NULL;
    w->oom = 1;
    return -1;
  }
  return 0;
}

/* The git position of a path given by the caller (a directory, or for a file the
 * directory holding it), found by searching upwards for a repository. The position of the
 * path itself is rel + basename. Leaves g->repo NULL outside any repository. */
static void git_locate(walker *w, const char *dir, gitpos *g) {
  g->repo = NULL;
  g->rel = NULL;
  git_repository *repo = NULL;
  if (git_repository_open_ext(&repo, *dir ? dir : ".", 0, NULL) != 0) return;
  const char *workdir = git_repository_workdir(repo);
  char real_dir[PATH_MAX], real_work[PATH_MAX];
  if (!workdir || !realpath(*dir ? dir : ".", real_dir) || !realpath(workdir, real_work)) {
    git_repository_free(repo);
    return;
  }
  size_t n = strlen(real_work);
  while (n > 1 && real_work[n - 1] == '/') real_work[--n] = 0;
  const char *rest;
  if (strcmp(real_dir, real_work) == 0) {
    rest = "";
  } else if (strncmp(real_dir, real_work, n) == 0 && (real_dir[n] == '/' || n == 1)) {
    rest = real_dir + (n == 1 ? 1 : n + 1);
  } else {
    git_repository_free(repo); /* reached through a link from outside: no sane position */
    return;
  }
  size_t r = strlen(rest);
  g->rel = malloc(r + 2);
  if (!g->rel) {
    w->oom = 1;
    git_repository_free(repo);
    return;
  }
  memcpy(g->rel, rest, r);
  if (r) g->rel[r++] = '/';
  g->rel[r] = 0;
  g->repo = repo;
}

static void gitpos_free(gitpos *g, bool owns_repo) {
  if (owns_repo) git_repository_free(g->repo);
  free(g->rel);
  g->repo = NULL;
  g->rel = NULL;
}

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

static void visit_entry(walker *w, const char *dir, const char *name, const gitpos *g) {
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
  const eql_walk_options *o = w->opt;
  if (S_ISDIR(st.st_mode)) {
    bool skip = strcmp(name, ".git") == 0 || is_venv(dir, name) ||
                (o->exclude ? o->exclude(o->exclude_ud, path, true, false)
                            : eql_walk_skip_dir(dir, name)) ||
                git_ignored(w, g, name);
    if (!skip) {
      gitpos child;
      bool owns;
      if (git_descend(w, g, path, name, &child, &owns) == 0) {
        walk_dir(w, path, &st, &child);
        gitpos_free(&child, owns);
      }
    }
  } else if (S_ISREG(st.st_mode) && eql_walk_is_python(name)) {
    if (!(o->exclude && o->exclude(o->exclude_ud, path, false, false)) &&
        !git_ignored(w, g, name))
      add_file(w, path, &st);
  }
  free(path);
}

static void walk_dir(walker *w, const char *path, const struct stat *st, const gitpos *g) {
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
    if (!w->oom) visit_entry(w, path, names[i], g);
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

/* Splits a given file path into its directory ("" for the working directory) and name. */
static char *dir_of(const char *path, const char **name) {
  const char *slash = strrchr(path, '/');
  *name = slash ? slash + 1 : path;
  if (!slash) return strdup("");
  size_t n = (size_t)(slash - path);
  if (n == 0) n = 1; /* "/a.py": the directory is "/" */
  char *d = malloc(n + 1);
  if (!d) return NULL;
  memcpy(d, path, n);
  d[n] = 0;
  return d;
}

/* True when git ignores the given path itself (a root), through any of its directories. */
static bool git_ignores_root(walker *w, const char *dir, const char *name) {
  gitpos g;
  git_locate(w, dir, &g);
  bool ignored = false;
  if (g.repo && *name) ignored = git_ignored(w, &g, name);
  gitpos_free(&g, true);
  return ignored;
}

static void walk_root(walker *w, const char *root) {
  const eql_walk_options *o = w->opt;
  struct stat st;
  if (!*root) {
    report(w, root, strerror(ENOENT));
    return;
  }
  if (stat(root, &st) != 0) {
    report(w, root, strerror(errno));
    return;
  }
  if (!S_ISDIR(st.st_mode)) {
    if (o->force_exclude) {
      if (o->exclude && o->exclude(o->exclude_ud, root, false, true)) return;
      if (o->gitignore) {
        const char *name;
        char *dir = dir_of(root, &name);
        if (!dir) {
          w->oom = 1;
          return;
        }
        bool ignored = git_ignores_root(w, dir, name);
        free(dir);
        if (ignored) return;
      }
    }
    add_file(w, root, &st);
    return;
  }
  /* A directory named on the command line is walked even if it would be skipped when
   * found inside another: the user asked for it. */
  char *prefix = root_prefix(root);
  if (!prefix) {
    w->oom = 1;
    return;
  }
  if (o->force_exclude && o->exclude && o->exclude(o->exclude_ud, prefix, true, true)) {
    free(prefix);
    return;
  }
  gitpos g = {NULL, NULL};
  if (o->gitignore) {
    git_locate(w, prefix, &g);
    size_t r = g.rel ? strlen(g.rel) : 0;
    if (g.repo && r > 0) {
      /* Asking about "sub" rather than "sub/" lets directory-only patterns match: libgit2
       * looks at the file system to learn it is a directory. */
      g.rel[r - 1] = 0;
      int ignored = 0;
      if (git_ignore_path_is_ignored(&ignored, g.repo, g.rel) < 0) ignored = 0;
      g.rel[r - 1] = '/';
      if (ignored == 1) {
        /* Everything below an ignored directory is ignored too, so honouring the rules
         * here would make the explicit request empty; with force-exclude, skip it. */
        gitpos_free(&g, true);
        if (o->force_exclude) {
          free(prefix);
          return;
        }
      }
    }
  }
  walk_dir(w, prefix, &st, &g);
  gitpos_free(&g, true);
  free(prefix);
}

long eql_walk_ex(const char *const *roots, size_t nroots, const eql_walk_options *opt,
                 eql_walk_files *out, eql_walk_error_fn on_error, void *ud) {
  static const char *const dot[] = {"."};
  static const eql_walk_options defaults = {.gitignore = true};
  if (nroots == 0) {
    roots = dot;
    nroots = 1;
  }
  walker w;
  memset(&w, 0, sizeof w);
  w.opt = opt ? opt : &defaults;
  w.out = out;
  w.on_error = on_error;
  w.ud = ud;
  /* libgit2 keeps a reference count of its users; each walk takes and drops one. */
  bool git = w.opt->gitignore && git_libgit2_init() >= 0;
  eql_walk_options local;
  if (w.opt->gitignore && !git) {
    local = *w.opt;
    local.gitignore = false;
    w.opt = &local;
  }
  for (size_t i = 0; i < nroots && !w.oom; i++) walk_root(&w, roots[i]);
  if (git) git_libgit2_shutdown();
  free(w.stack);
  free(w.seen);
  free(w.seen_used);
  return w.oom ? -1 : w.nerrors;
}

long eql_walk(const char *const *roots, size_t nroots, eql_walk_files *out,
              eql_walk_error_fn on_error, void *ud) {
  return eql_walk_ex(roots, nroots, NULL, out, on_error, ud);
}
