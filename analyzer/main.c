/* eqlint: the command line. Only option parsing and calls into the library live here;
 * discovery is walk.c, checking is check.c, output is emit/.
 *
 * Exit status (like Ruff's): 0 no diagnostics, 1 diagnostics reported, 2 usage error,
 * internal failure, or nothing could be checked at all. A path that cannot be read among
 * others that can is reported on stderr and the others are checked; the exit status then
 * follows their diagnostics, so one stale path in a CI script does not hide real findings. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eqlint/cfront.h"
#include "eqlint/check.h"
#include "eqlint/config.h"
#include "eqlint/emit.h"
#include "eqlint/fix.h"
#include "eqlint/fixio.h"
#include "eqlint/lsp.h"
#include "eqlint/rules.h"
#include "eqlint/walk.h"

#ifndef EQL_VERSION
#define EQL_VERSION "unknown"
#endif

enum { EXIT_CLEAN = 0, EXIT_FOUND = 1, EXIT_TROUBLE = 2 };

static const char main_usage[] =
    "eqlint: a static analyzer for JAX and Equinox pitfalls\n"
    "\n"
    "Usage: eqlint <COMMAND> [OPTIONS]\n"
    "\n"
    "Commands:\n"
    "  check [PATH...]   Check Python, notebook and C files and directories (default: .)\n"
    "  rule CODE         Explain a rule; `eqlint rule --all` lists every rule\n"
    "  server            Run the language server for editors (LSP on stdin/stdout)\n"
    "  help [COMMAND]    Show this help, or a command's help\n"
    "  version           Show the version\n"
    "\n"
    "Options:\n"
    "  -h, --help        Show this help\n"
    "  -V, --version     Show the version\n"
    "\n"
    "Exit status: 0 no diagnostics, 1 diagnostics reported, 2 usage error or failure.\n";

static const char check_usage[] =
    "Check Python files, Jupyter notebooks and C files (libeqx) for JAX/Equinox pitfalls\n"
    "\n"
    "Usage: eqlint check [OPTIONS] [PATH...]\n"
    "\n"
    "Files are checked whatever their extension; directories are searched for *.py, *.ipynb,\n"
    "*.c and *.h files (what .gitignore ignores is skipped),\n"
    "skipping hidden directories, __pycache__, node_modules, site-packages and virtual\n"
    "environments (directories holding a pyvenv.cfg). Without PATH, checks `.`. All files\n"
    "of one run are checked together, so a model defined in one file is known in another.\n"
    "\n"
    "Options:\n"
    "  --format FORMAT     Output format: `full` (default: the message with a code frame,\n"
    "                      help and a summary), `concise` (one `path:line:col: CODE\n"
    "                      message` line per diagnostic), `json`, `json-lines`, `sarif`\n"
    "                      (GitHub code scanning), `github` (Actions annotations),\n"
    "                      `gitlab` (Code Quality), `junit` or `pylint`\n"
    "  -o, --output-file PATH\n"
    "                      Write the report to PATH instead of stdout; the file is replaced\n"
    "                      only once complete, and missing directories are created\n"
    "  --color WHEN        Colour the output: `auto` (default: when stdout is a terminal and\n"
    "                      NO_COLOR is not set), `always` or `never`\n"
    "  --select CODES      Run only these rules: a comma-separated list of codes, prefixes\n"
    "                      (`EQX0`) or `ALL`; may be repeated\n"
    "  --ignore CODES      Do not run these rules (same syntax); applied after --select\n"
    "  --extend-select CODES  Run these rules too, on top of the configured selection\n"
    "  --config PATH       Use this configuration file (eqlint.toml, or a pyproject.toml with\n"
    "                      [tool.eqlint]) for every path instead of the closest one\n"
    "  --isolated          Ignore every configuration file\n"
    "  --force-exclude     Apply exclude, extend-exclude and .gitignore to the paths given\n"
    "                      on the command line too\n"
    "  --no-summary        Full format: omit the closing summary line\n"
    "  -q, --quiet         Print the diagnostics and nothing else (no summary, no warnings)\n"
    "  --statistics        Print how many diagnostics each rule reported instead of the\n"
    "                      diagnostics (a JSON array with --format json)\n"
    "  -e, --exit-zero     Exit with 0 even when diagnostics are reported\n"
    "  -p DIR              C files: use DIR/compile_commands.json (default: the nearest\n"
    "                      one above each file, else -std=gnu11 -I<its dir> -I<runtime/include>)\n"
    "  -I DIR, -D NAME[=V] C files: extra include directory or macro\n"
    "  -j, --jobs N        Check files on N threads (default: one per core); output order\n"
    "                      never depends on N\n"
    "  --no-prefilter      Also parse files that mention none of jax, equinox, optax, eqx\n"
    "                      (by default such files are parsed only when another file imports them)\n"
    "  --max-file-size MIB Skip (and report) files larger than this (default 16; 0: no limit)\n"
    "  --parse-timeout MS  Skip (and report) a file whose parse takes longer (default 20000)\n"
    "  --stdin-filename NAME\n"
    "                      Read a file from standard input and report it as NAME (also\n"
    "                      its module name for cross-file imports); `-` as a PATH alone\n"
    "                      reads it as `-`\n"
    "  --fix               Apply the safe fixes and write the files (atomically; a file\n"
    "                      changed meanwhile is left alone), then report what remains\n"
    "  --unsafe-fixes      Also apply (with --fix) and count unsafe fixes, which may change\n"
    "                      behaviour the code relied on (see each rule's `Fix safety`)\n"
    "  --diff              Print a unified diff of what --fix would change and write nothing;\n"
    "                      exit 1 when there would be changes\n"
    "  --fix-only          Apply fixes like --fix but report nothing about what remains\n"
    "                      (exit 0 unless a file could not be written)\n"
    "  --no-fix, --no-unsafe-fixes  Undo --fix / --unsafe-fixes given earlier\n"
    "  --show-files        List the files that would be checked, then exit\n"
    "  --show-settings     Print the effective settings and rule selection, then exit\n"
    "  -h, --help          Show this help\n"
    "\n"
    "PATH `-` reads a file from standard input.\n"
    "\n"
    "Exit status: 0 no diagnostics (or --exit-zero), 1 diagnostics reported, 2 usage error,\n"
    "failure, or no given path could be read.\n";

static const char rule_usage[] =
    "Explain a rule\n"
    "\n"
    "Usage: eqlint rule CODE\n"
    "       eqlint rule --all\n"
    "\n"
    "CODE is a rule code (EQX001) or name (optimizer-init-unfiltered).\n"
    "\n"
    "Options:\n"
    "  --all            List every rule: code, name, severity and summary\n"
    "  --format FORMAT  `text` (default) or `json`: one object {code, name, severity,\n"
    "                   fixable, summary, url, explanation}, an array of them with --all\n"
    "  -h, --help       Show this help\n";

/* Prints "eqlint: error: ..." and a pointer to the relevant help; returns exit status 2. */
static int usage_error(const char *command, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int usage_error(const char *command, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("eqlint: error: ", stderr);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nTry 'eqlint %s%s--help' for more information.\n", command ? command : "",
          command ? " " : "");
  return EXIT_TROUBLE;
}

/* The unknown option getopt_long stopped on, as the user typed it. */
static const char *bad_option(char **argv) {
  /* An unknown short option is in optopt (argv[optind - 1] may be a cluster like -hx); an
   * unknown long option leaves optopt 0 and is argv[optind - 1] itself. */
  static char shortopt[3];
  if (optopt && optopt != '?') {
    shortopt[0] = '-';
    shortopt[1] = (char)optopt;
    shortopt[2] = 0;
    return shortopt;
  }
  return argv[optind - 1];
}

static void print_read_error(void *ud, const char *path, const char *reason) {
  (void)ud;
  fputs("eqlint: error: cannot read ", stderr);
  eql_emit_escaped(stderr, path);
  fprintf(stderr, ": %s\n", reason);
}

/* A configuration problem stops the run (exit 2), pointing at its place as compilers do:
 * `file:line:col: error: message`. Command-line selectors have no file: usage errors. */
static int config_error(const eql_config_error *e) {
  if (!e->path[0]) return usage_error("check", "%s", e->message);
  eql_emit_escaped(stderr, e->path);
  if (e->line) fprintf(stderr, ":%u:%u", e->line, e->col);
  fputs(": error: ", stderr);
  eql_emit_escaped(stderr, e->message);
  fputc('\n', stderr);
  return EXIT_TROUBLE;
}

static bool want_color(const char *when) {
  if (strcmp(when, "always") == 0) return true;
  if (strcmp(when, "never") == 0) return false;
  /* auto: https://no-color.org — a set, non-empty NO_COLOR turns colour off. */
  const char *no_color = getenv("NO_COLOR");
  if (no_color && *no_color) return false;
  const char *term = getenv("TERM");
  if (term && strcmp(term, "dumb") == 0) return false;
  return isatty(STDOUT_FILENO) == 1;
}

/* Reads all of standard input into a malloc'd buffer (for `-` as a path). */
static char *read_stdin(size_t *len) {
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    size_t got = fread(buf + n, 1, cap - n, stdin);
    n += got;
    if (got == 0) break;
    if (n == cap) {
      char *nb = cap < ((size_t)1 << 32) ? realloc(buf, cap * 2) : NULL;
      if (!nb) {
        free(buf);
        return NULL;
      }
      buf = nb;
      cap *= 2;
    }
  }
  if (buf && ferror(stdin)) {
    free(buf);
    return NULL;
  }
  *len = n;
  return buf;
}

/* Drops from `files` the on-disk copy of the file read from standard input: an editor sends
 * its unsaved buffer as `--stdin-filename src/train.py - src/`, and the walk of src/ finds
 * the saved train.py too. Checking both would report every finding twice and give the
 * module two definitions. Same file = same inode when NAME exists, else the same path. */
static void drop_stdin_twin(eql_walk_files *files, const char *stdin_name) {
  struct stat named;
  bool exists = stat(stdin_name, &named) == 0;
  size_t w = 0;
  for (size_t i = 0; i < files->n; i++) {
    struct stat st;
    const char *p = files->paths[i];
    while (p[0] == '.' && p[1] == '/') p += 2; /* "./a.py" names a.py */
    const char *q = stdin_name;
    while (q[0] == '.' && q[1] == '/') q += 2;
    bool twin = exists ? stat(files->paths[i], &st) == 0 && st.st_dev == named.st_dev &&
                             st.st_ino == named.st_ino
                       : strcmp(p, q) == 0;
    if (twin) free(files->paths[i]);
    else files->paths[w++] = files->paths[i];
  }
  files->n = w;
}

/* --show-settings: what this run would do, after every option has been applied. */
static void show_settings(int format, const char *output_file, const char *color,
                          bool summary, bool quiet, bool statistics, bool exit_zero,
                          int jobs, bool prefilter, bool fix, bool unsafe_fixes,
                          const char *stdin_name, char **paths, size_t npaths,
                          const char *config_file, const eql_ruleset *rules) {
  /* The configuration file that applies to the working directory ("." below); files
   * elsewhere may have their own, as `eqlint check --show-files` walks them. */
  fputs("config          = ", stdout);
  eql_emit_escaped(stdout, config_file);
  printf("\nformat          = %s\n", eql_emit_format_name((eql_emit_format)format));
  fputs("output-file     = ", stdout);
  eql_emit_escaped(stdout, output_file ? output_file : "- (standard output)");
  printf("\ncolor           = %s\n", color);
  printf("summary         = %s\n", summary && !quiet ? "true" : "false");
  printf("quiet           = %s\n", quiet ? "true" : "false");
  printf("statistics      = %s\n", statistics ? "true" : "false");
  printf("exit-zero       = %s\n", exit_zero ? "true" : "false");
  if (jobs > 0) printf("jobs            = %d\n", jobs);
  else fputs("jobs            = auto (one per core)\n", stdout);
  printf("prefilter       = %s\n", prefilter ? "true" : "false");
  printf("fix             = %s\n", fix ? "true" : "false");
  printf("unsafe-fixes    = %s\n", unsafe_fixes ? "true" : "false");
  /* stdin_name is NULL when standard input is not read. */
  fputs("stdin           = ", stdout);
  if (stdin_name) {
    fputs("true (as ", stdout);
    eql_emit_escaped(stdout, stdin_name);
    fputs(")", stdout);
  } else {
    fputs("false", stdout);
  }
  fputs("\npaths           = [", stdout);
  for (size_t i = 0; i < npaths; i++) {
    if (i) fputs(", ", stdout);
    eql_emit_escaped(stdout, paths[i]);
  }
  if (npaths == 0 && !stdin_name) fputs(".", stdout);
  int on = 0;
  for (int r = 0; r < EQL_RULE_COUNT; r++) on += rules->on[r];
  printf("]\nrules           = %d of %d selected\n", on, EQL_RULE_COUNT);
  for (int r = 0; r < EQL_RULE_COUNT; r++)
    printf("  %s %-3s %-28s %s\n", eql_rules[r].code, rules->on[r] ? "on" : "off",
           eql_rules[r].name, eql_severity_name(eql_rules[r].severity));
}

/* A file over the per-file budget: said on stderr, not an error (the run goes on). */
static void warn_skipped(const char *path, const char *reason, void *ud) {
  (void)ud;
  fputs("eqlint: warning: ", stderr);
  eql_emit_escaped(stderr, path);
  fprintf(stderr, ": %s\n", reason);
}

/* Reports a file that could not be read and counts it; the run goes on. */
static void count_read_error(const char *path, const char *reason, void *ud) {
  print_read_error(NULL, path, reason);
  (*(size_t *)ud)++;
}

/* What eql_fix_project calls to check the project again: the same selection, suppressions
 * and per-file ignores as a plain run. */
typedef struct checker {
  eql_config_store *store;
  const char **asked;
  size_t nasked;
  eql_ruleset *rules;
  eql_project *project;
  eql_config_error *cerr;
} checker;

static int run_checks(void *ud, eql_diag_list *out) {
  checker *c = ud;
  if (eql_config_store_union(c->store, c->asked, c->nasked, c->rules, c->cerr) != 0 ||
      eql_project_run(c->project, c->rules, out) != 0 ||
      eql_config_store_filter(c->store, c->asked, c->nasked, out, c->cerr) != 0)
    return -1;
  return 0;
}

/* A fix that would have broken the file is eqlint's bug, not the user's: say so, and where. */
static void report_dropped_fixes(const eql_fix_report *rep) {
  for (size_t i = 0; i < rep->dropped.n; i++) {
    const eql_diag *d = &rep->dropped.items[i];
    fputs("eqlint: error: ", stderr);
    eql_emit_escaped(stderr, d->path);
    fprintf(stderr, ":%u:%u: the fix for %s would leave a syntax error, so it was not applied. "
                    "This is a bug in eqlint; please report it with the file.\n",
            (unsigned)d->span.line, (unsigned)d->span.col, eql_rules[d->rule].code);
  }
}

/* --diff: what --fix would write, as a unified diff; exit 1 when anything would change. */
static int print_diffs(const eql_fix_report *rep, bool quiet) {
  for (size_t i = 0; i < rep->nfiles; i++) {
    const eql_fixed_file *f = &rep->files[i];
    if (eql_udiff(stdout, f->path, f->before, f->before_len, f->after, f->after_len) != 0) {
      fprintf(stderr, "eqlint: error: cannot write the diff: %s\n", strerror(errno));
      return EXIT_TROUBLE;
    }
  }
  if (fflush(stdout) != 0) return EXIT_TROUBLE;
  if (!quiet) {
    if (rep->total)
      fprintf(stderr, "Would fix %zu diagnostic%s in %zu file%s.\n", rep->total,
              rep->total == 1 ? "" : "s", rep->nfiles, rep->nfiles == 1 ? "" : "s");
    else
      fputs("No fixes available.\n", stderr);
  }
  return rep->nfiles ? EXIT_FOUND : EXIT_CLEAN;
}

/* --fix: writes every fixed file (the one read from standard input goes to standard output,
 * whole, as editors expect). Returns how many could not be written. */
static size_t write_fixes(const eql_fix_report *rep, const eql_project *p,
                          const char *stdin_path) {
  size_t failed = 0;
  bool stdin_fixed = false;
  for (size_t i = 0; i < rep->nfiles; i++) {
    const eql_fixed_file *f = &rep->files[i];
    if (stdin_path && strcmp(f->path, stdin_path) == 0) {
      stdin_fixed = true;
      if (fwrite(f->after, 1, f->after_len, stdout) != f->after_len || fflush(stdout) != 0) failed++;
      continue;
    }
    char err[512];
    eql_write_status ws = eql_write_atomic(f->path, f->after, f->after_len, f->before,
                                           f->before_len, err, sizeof err);
    if (ws == EQL_WRITE_OK) continue;
    failed++;
    fputs("eqlint: error: ", stderr);
    eql_emit_escaped(stderr, f->path);
    if (ws == EQL_WRITE_CHANGED)
      fputs(": the file changed on disk while eqlint was fixing it; it was left as it is. "
            "Run eqlint again.\n", stderr);
    else {
      fputs(": the fixes could not be written: ", stderr);
      eql_emit_escaped(stderr, err);
      fputs(" (the file is unchanged)\n", stderr);
    }
  }
  /* nothing to fix in it: the text comes back unchanged, or the editor would lose it */
  const eql_source *src = stdin_path && !stdin_fixed ? eql_project_source(p, stdin_path) : NULL;
  if (src && (fwrite(src->text, 1, src->len, stdout) != src->len || fflush(stdout) != 0)) failed++;
  return failed;
}

static int cmd_check(int argc, char **argv) {
  static const struct option longopts[] = {
      {"format", required_argument, NULL, 'f'},
      {"output-format", required_argument, NULL, 'f'},
      {"color", required_argument, NULL, 'c'},
      {"select", required_argument, NULL, 's'},
      {"ignore", required_argument, NULL, 'i'},
      {"extend-select", required_argument, NULL, 'X'},
      {"config", required_argument, NULL, 'C'},
      {"isolated", no_argument, NULL, 'Y'},
      {"force-exclude", no_argument, NULL, 'F'},
      {"no-summary", no_argument, NULL, 'S'},
      {"output-file", required_argument, NULL, 'o'},
      {"quiet", no_argument, NULL, 'q'},
      {"statistics", no_argument, NULL, 'T'},
      {"exit-zero", no_argument, NULL, 'e'},
      {"jobs", required_argument, NULL, 'j'},
      {"no-prefilter", no_argument, NULL, 'P'},
      {"max-file-size", required_argument, NULL, 'M'},
      {"parse-timeout", required_argument, NULL, 'O'},
      {"stdin-filename", required_argument, NULL, 'N'},
      {"show-files", no_argument, NULL, 'L'},
      {"fix", no_argument, NULL, 'x'},
      {"no-fix", no_argument, NULL, 'K'},
      {"unsafe-fixes", no_argument, NULL, 'U'},
      {"no-unsafe-fixes", no_argument, NULL, 'W'},
      {"diff", no_argument, NULL, 'd'},
      {"fix-only", no_argument, NULL, 'y'},
      {"show-settings", no_argument, NULL, 'G'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  int format = EQL_EMIT_FULL;
  const char *color = "auto";
  bool summary = true;
  const char *output_file = NULL, *stdin_name = NULL;
  bool quiet = false, statistics = false, exit_zero = false, show_files = false,
       show_config = false, use_stdin = false;
  char *stdin_data = NULL;
  int jobs = 0; /* 0: one thread per core */
  bool prefilter = true;
  /* -1: not given, so the configuration decides (`fix`, `unsafe-fixes`); last flag wins */
  int cli_fix = -1, cli_unsafe = -1;
  bool fix = false, unsafe_fixes = false, diff = false, fix_only = false, hide_unsafe = false;
  double max_mib = 16;       /* per-file budget */
  unsigned timeout_ms = 20000;
  eql_emit_file report = {0};
  char root[4096];
  /* No list can hold more entries than there are arguments. */
  char **selects = calloc((size_t)argc + 1, sizeof *selects);
  char **ignores = calloc((size_t)argc + 1, sizeof *ignores);
  char **extends = calloc((size_t)argc + 1, sizeof *extends);
  size_t nextend = 0;
  const char *config_path = NULL;
  bool isolated = false, force_exclude = false;
  eql_config_store *store = NULL;
  eql_walk_files index_files; /* parsed for the index (config `src`), never reported on */
  eql_walk_files_init(&index_files);
  char **paths = calloc((size_t)argc + 1, sizeof *paths);
  size_t nselect = 0, nignore = 0, npaths = 0;
  int status = EXIT_TROUBLE;
  eql_walk_files files;
  eql_walk_files_init(&files);
  eql_project *project = NULL;
  eql_diag_list diags;
  eql_diag_list_init(&diags);
  eql_fix_report fixrep;
  memset(&fixrep, 0, sizeof fixrep);
  const char **asked = NULL;
  size_t nasked = 0;
  bool write_failed = false;
  eql_config_error cerr;
  if (!selects || !ignores || !paths || !extends) {
    fputs("eqlint: error: out of memory\n", stderr);
    goto done;
  }

  /* "-" first: paths come back in order as code 1, so options may follow paths even when
   * POSIXLY_CORRECT turns off getopt's reordering; ":" next: missing values are told apart. */
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv, "-:hqeo:j:p:I:D:", longopts, NULL)) != -1;) {
    switch (c) {
      case 1:
        /* "-" is standard input, not a file to walk. */
        if (strcmp(optarg, "-") == 0) use_stdin = true;
        else paths[npaths++] = optarg;
        break;
      case 'f':
        format = eql_emit_format_from_name(optarg);
        if (format < 0) {
          status = usage_error("check", "--format: unknown format '%s' (expected one of: %s)",
                               optarg, eql_emit_format_list);
          goto done;
        }
        break;
      case 'c':
        if (strcmp(optarg, "auto") && strcmp(optarg, "always") && strcmp(optarg, "never")) {
          status = usage_error("check", "--color: unknown value '%s' (expected auto, always or "
                                        "never)", optarg);
          goto done;
        }
        color = optarg;
        break;
      case 's': selects[nselect++] = optarg; break;
      case 'i': ignores[nignore++] = optarg; break;
      case 'X': extends[nextend++] = optarg; break;
      case 'C': config_path = optarg; break;
      case 'Y': isolated = true; break; /* not 'I': -I is an include directory */
      case 'F': force_exclude = true; break;
      case 'S': summary = false; break;
      case 'o': output_file = optarg; break;
      case 'q': quiet = true; break;
      case 'T': statistics = true; break;
      case 'e': exit_zero = true; break;
      case 'p': /* C files: compile_commands.json directory, include paths, macros */
      case 'I':
      case 'D': {
        char flag[4096];
        snprintf(flag, sizeof flag, "-%c%s", c, optarg);
        if ((c == 'p' ? eql_cfront_set_compdb_dir(optarg) : eql_cfront_add_flag(flag)) != 0) {
          fputs("eqlint: error: out of memory\n", stderr);
          goto done;
        }
        break;
      }
      case 'j': {
        char *end = NULL;
        long j = strtol(optarg, &end, 10);
        if (!end || *end || j < 1 || j > 64) {
          fprintf(stderr, "eqlint: error: --jobs takes a number from 1 to 64, not '%s'\n", optarg);
          goto done;
        }
        jobs = (int)j;
        break;
      }
      case 'P': prefilter = false; break;
      case 'M':
      case 'O': {
        char *end = NULL;
        double v = strtod(optarg, &end);
        if (!end || *end || v < 0 || v > 1e9) {
          fprintf(stderr, "eqlint: error: --%s takes a non-negative number, not '%s'\n",
                  c == 'M' ? "max-file-size" : "parse-timeout", optarg);
          goto done;
        }
        if (c == 'M') max_mib = v;
        else timeout_ms = (unsigned)v;
        break;
      }
      case 'N': stdin_name = optarg; break;
      case 'L': show_files = true; break;
      case 'x': cli_fix = 1; break;
      case 'K': cli_fix = 0; break;
      case 'U': cli_unsafe = 1; break;
      case 'W': cli_unsafe = 0; break;
      case 'd': diff = true; break;
      case 'y': fix_only = true; break;
      case 'G': show_config = true; break;
      case 'h':
        fputs(check_usage, stdout);
        status = EXIT_CLEAN;
        goto done;
      case ':':
        status = usage_error("check", "option '%s' needs a value", argv[optind - 1]);
        goto done;
      default:
        status = usage_error("check", "unknown option '%s'", bad_option(argv));
        goto done;
    }
  }

  while (optind < argc) paths[npaths++] = argv[optind++]; /* after "--" */
  /* Naming the stdin file means there is one: `--stdin-filename NAME` alone reads standard
   * input (Ruff's convention), and with paths it is checked together with them. */
  if (stdin_name) use_stdin = true;
  if (output_file && !*output_file) {
    status = usage_error("check", "--output-file: the file name is empty");
    goto done;
  }

  /* Configuration files (eqlint.toml, [tool.eqlint]) with the command line on top. */
  eql_config_options copt = {
      .config_path = config_path,
      .isolated = isolated,
      .force_exclude = force_exclude,
      .cli = {(const char *const *)selects, nselect, (const char *const *)extends, nextend,
              (const char *const *)ignores, nignore}};
  eql_ruleset rules;
  if (eql_config_store_new(&copt, &store, &cerr) != EQL_CONFIG_OK ||
      eql_config_store_dir_ruleset(store, ".", &rules, &cerr) != 0) {
    status = config_error(&cerr);
    goto done;
  }
  /* `fix` and `unsafe-fixes` come from the configuration of the working directory, as
   * Ruff reads them from the project's; the command line overrides both. */
  const eql_config *cfg = NULL;
  if (!isolated && eql_config_store_find(store, ".", &cfg, &cerr) != 0) {
    status = config_error(&cerr);
    goto done;
  }
  fix = cli_fix >= 0 ? cli_fix == 1 : eql_config_fix(cfg) == 1;
  unsafe_fixes = cli_unsafe >= 0 ? cli_unsafe == 1 : eql_config_unsafe_fixes(cfg) == 1;
  /* an explicit "no" to unsafe fixes also silences the hint about them (Ruff) */
  hide_unsafe = cli_unsafe >= 0 ? cli_unsafe == 0 : eql_config_unsafe_fixes(cfg) == 0;
  if (show_config) {
    show_settings(format, output_file, color, summary, quiet, statistics, exit_zero, jobs,
                  prefilter, fix, unsafe_fixes,
                  use_stdin ? (stdin_name ? stdin_name : "-") : NULL, paths, npaths,
                  isolated ? "(none: --isolated)" : cfg ? eql_config_path(cfg) : "(none found)",
                  &rules);
    status = fflush(stdout) == 0 ? EXIT_CLEAN : EXIT_TROUBLE;
    goto done;
  }

  /* Only standard input: walking "." as well would check files nobody asked for; the
   * buffer's configuration may still name `src` directories for the index. */
  const char *stdin_path = stdin_name ? stdin_name : "-";
  long walk_errors = use_stdin && npaths == 0
                         ? eql_config_store_src(store, &stdin_path, 1, &index_files, &cerr)
                         : eql_config_store_walk(store, (const char *const *)paths, npaths,
                                                 &files, &index_files, print_read_error, NULL,
                                                 &cerr);
  if (walk_errors == -2) {
    status = config_error(&cerr);
    goto done;
  }
  if (walk_errors < 0) {
    fputs("eqlint: error: out of memory while looking for files\n", stderr);
    goto done;
  }
  if (use_stdin && stdin_name) drop_stdin_twin(&files, stdin_name);
  if (use_stdin && stdin_name) drop_stdin_twin(&index_files, stdin_name);
  if (show_files) {
    for (size_t i = 0; i < files.n; i++) {
      eql_emit_escaped(stdout, files.paths[i]);
      putchar('\n');
    }
    if (use_stdin) {
      eql_emit_escaped(stdout, stdin_name ? stdin_name : "-");
      putchar('\n');
    }
    status = fflush(stdout) != 0 || (walk_errors > 0 && files.n == 0 && !use_stdin)
                 ? EXIT_TROUBLE
                 : EXIT_CLEAN;
    goto done;
  }
  /* Opened before checking so a report that cannot be written fails fast. */
  if (output_file) {
    const char *err = NULL;
    if (eql_emit_file_open(&report, output_file, &err) != 0) {
      fputs("eqlint: error: cannot write ", stderr);
      eql_emit_escaped(stderr, output_file);
      fprintf(stderr, ": %s\n", err);
      goto done;
    }
  }
  project = eql_project_new();
  if (!project) {
    fputs("eqlint: error: out of memory\n", stderr);
    goto done;
  }
  size_t read_errors = 0;
  eql_project_prefilter(project, prefilter);
  eql_project_set_budget(project, (size_t)(max_mib * 1048576.0), timeout_ms, warn_skipped, NULL);
  eql_project_set_jobs(project, jobs > 0 ? jobs : -1);
  if (eql_project_add_files(project, (const char *const *)files.paths, files.n, jobs,
                            count_read_error, &read_errors) < 0) {
    fputs("eqlint: error: out of memory\n", stderr);
    goto done;
  }
  if (index_files.n &&
      eql_project_add_files(project, (const char *const *)index_files.paths, index_files.n,
                            jobs, NULL, NULL) < 0) {
    fputs("eqlint: error: out of memory\n", stderr);
    goto done;
  }
  if (use_stdin) {
    size_t len = 0;
    stdin_data = read_stdin(&len);
    if (!stdin_data) {
      fprintf(stderr, "eqlint: error: cannot read standard input: %s\n", strerror(errno));
      goto done;
    }
    if (eql_project_add_source(project, stdin_name ? stdin_name : "-", stdin_data, len) != 0) {
      fputs("eqlint: error: out of memory\n", stderr);
      goto done;
    }
  }
  if (eql_project_nfiles(project) == 0) {
    if (walk_errors > 0 || read_errors > 0) {
      fputs("eqlint: error: no file could be checked\n", stderr);
      goto done;
    }
    /* Still write an (empty) report: a CI step that uploads it must find one. */
    if (!quiet) fputs("eqlint: warning: no Python files found under the given paths\n", stderr);
  }

  /* Rules differ per file (nested configs, per-file-ignores): run their union once, then
   * keep what each file selects; files from `src` are not among those asked for (and are
   * never fixed). */
  asked = calloc(files.n + 1, sizeof *asked);
  if (!asked) {
    fputs("eqlint: error: out of memory\n", stderr);
    goto done;
  }
  for (size_t i = 0; i < files.n; i++) asked[nasked++] = files.paths[i];
  if (use_stdin) asked[nasked++] = stdin_name ? stdin_name : "-";
  checker ck = {store, asked, nasked, &rules, project, &cerr};
  bool fixing = fix || fix_only || diff;
  if (fixing) {
    if (eql_fix_project(project, run_checks, &ck, asked, nasked, unsafe_fixes, 20, &fixrep,
                        &diags) != 0) {
      fputs("eqlint: error: out of memory while fixing\n", stderr);
      goto done;
    }
    report_dropped_fixes(&fixrep);
    if (diff) {
      status = print_diffs(&fixrep, quiet);
      goto done;
    }
    size_t unwritten = write_fixes(&fixrep, project, use_stdin ? (stdin_name ? stdin_name : "-") : NULL);
    if (fix_only) {
      if (!quiet) {
        size_t n = fixrep.total;
        if (n) fprintf(stderr, "Fixed %zu diagnostic%s.\n", n, n == 1 ? "" : "s");
        else fputs("No fixes available.\n", stderr);
      }
      status = unwritten ? EXIT_TROUBLE : EXIT_CLEAN;
      goto done;
    }
    if (unwritten) write_failed = true;
  } else if (run_checks(&ck, &diags) != 0) {
    fputs("eqlint: error: out of memory while checking\n", stderr);
    goto done;
  }
  /* CI formats report paths relative to the checkout: the working directory. */
  eql_emit_options eo = {.color = output_file ? strcmp(color, "always") == 0 : want_color(color),
                         .summary = summary && !quiet,
                         .root = getcwd(root, sizeof root),
                         .unsafe_fixes = unsafe_fixes,
                         .hide_unsafe_hint = hide_unsafe,
                         .fix_mode = fixing,
                         .fixed = fixrep.total};
  /* `--fix -`: the fixed text went to standard output, so the report goes to stderr. */
  FILE *out = output_file ? report.fp : fixing && use_stdin ? stderr : stdout;
  int wrc = statistics ? eql_emit_statistics(out, &diags, format == EQL_EMIT_JSON, &eo)
                       : eql_emit(out, (eql_emit_format)format, &diags, eql_emit_project_source,
                                  project, &eo);
  const char *werr = NULL;
  if (wrc == 0 && output_file && eql_emit_file_commit(&report, &werr) != 0) wrc = -1;
  if (wrc != 0) {
    fprintf(stderr, "eqlint: error: cannot write the output: %s\n",
            werr ? werr : strerror(errno));
    goto done;
  }
  status = write_failed ? EXIT_TROUBLE : diags.n > 0 && !exit_zero ? EXIT_FOUND : EXIT_CLEAN;

done:
  eql_fix_report_free(&fixrep);
  free(asked);
  eql_emit_file_abort(&report); /* no-op once committed; else no half report is left */
  free(stdin_data);
  eql_diag_list_free(&diags);
  eql_project_free(project);
  eql_walk_files_free(&files);
  eql_walk_files_free(&index_files);
  eql_config_store_free(store);
  free(selects);
  free(ignores);
  free(extends);
  free(paths);
  return status;
}

static void list_rules(void) {
  int wcode = 4, wname = 4, wsev = 8;
  for (int i = 0; i < EQL_RULE_COUNT; i++) {
    int a = (int)strlen(eql_rules[i].code), b = (int)strlen(eql_rules[i].name),
        c = (int)strlen(eql_severity_name(eql_rules[i].severity));
    if (a > wcode) wcode = a;
    if (b > wname) wname = b;
    if (c > wsev) wsev = c;
  }
  printf("%-*s  %-*s  %-*s  %s\n", wcode, "code", wname, "name", wsev, "severity", "summary");
  for (int i = 0; i < EQL_RULE_COUNT; i++)
    printf("%-*s  %-*s  %-*s  %s\n", wcode, eql_rules[i].code, wname, eql_rules[i].name, wsev,
           eql_severity_name(eql_rules[i].severity), eql_rules[i].summary);
}

static int cmd_rule(int argc, char **argv) {
  static const struct option longopts[] = {
      {"all", no_argument, NULL, 'a'},
      {"format", required_argument, NULL, 'f'},
      {"output-format", required_argument, NULL, 'f'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  bool all = false, json = false;
  opterr = 0;
  for (int c; (c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1;) {
    switch (c) {
      case 'a': all = true; break;
      case 'f':
        if (strcmp(optarg, "json") && strcmp(optarg, "text"))
          return usage_error("rule", "--format: unknown format '%s' (expected text or json)",
                             optarg);
        json = strcmp(optarg, "json") == 0;
        break;
      case ':': return usage_error("rule", "option '%s' needs a value", argv[optind - 1]);
      case 'h': fputs(rule_usage, stdout); return EXIT_CLEAN;
            default: return usage_error("rule", "unknown option '%s'", bad_option(argv));
    }
  }
  int npos = argc - optind;
  if (all) {
    if (npos > 0) return usage_error("rule", "give either --all or one rule code, not both");
    if (json) return eql_emit_rules_json(stdout, -1) == 0 ? EXIT_CLEAN : EXIT_TROUBLE;
    list_rules();
    return EXIT_CLEAN;
  }
  if (npos == 0) return usage_error("rule", "which rule? Give a code such as EQX001, or --all");
  if (npos > 1) return usage_error("rule", "give one rule code at a time");
  int r = eql_rule_find(argv[optind]);
  if (r < 0) {
    fputs("eqlint: error: unknown rule '", stderr);
    eql_emit_escaped(stderr, argv[optind]);
    fputs("'\nRun 'eqlint rule --all' to list every rule.\n", stderr);
    return EXIT_TROUBLE;
  }
  if (json) return eql_emit_rules_json(stdout, r) == 0 ? EXIT_CLEAN : EXIT_TROUBLE;
  const eql_rule_info *ri = &eql_rules[r];
  /* The same page `make docs` writes to docs/rules/CODE.md. */
  printf("# %s %s\n\n*Severity: %s. Fixable: %s.* %s.\n", ri->code, ri->name,
         eql_severity_name(ri->severity), ri->fixable ? "yes" : "no", ri->summary);
  /* The doc is a comment's text: it may start with the blank or the space after the
   * opening marker, which would turn its first heading into a paragraph. */
  const char *doc = ri->doc ? ri->doc : "";
  while (*doc == ' ' || *doc == '\t' || *doc == '\n') doc++;
  if (*doc) printf("\n%s%s", doc, doc[strlen(doc) - 1] == '\n' ? "" : "\n");
  return fflush(stdout) == 0 ? EXIT_CLEAN : EXIT_TROUBLE;
}

static int print_version(void) {
  printf("eqlint %s\n", EQL_VERSION);
  return EXIT_CLEAN;
}

static bool is_path(const char *s) {
  struct stat st;
  return stat(s, &st) == 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(main_usage, stderr);
    return EXIT_TROUBLE;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "check") == 0) return cmd_check(argc - 1, argv + 1);
  if (strcmp(cmd, "rule") == 0) return cmd_rule(argc - 1, argv + 1);
  if (strcmp(cmd, "server") == 0) return eql_lsp_main(argc - 1, argv + 1);
  if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
    if (argc > 2) return usage_error(NULL, "'%s' takes no arguments", cmd);
    return print_version();
  }
  if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
    const char *topic = argc > 2 ? argv[2] : NULL;
    if (!topic) fputs(main_usage, stdout);
    else if (strcmp(topic, "check") == 0) fputs(check_usage, stdout);
    else if (strcmp(topic, "rule") == 0) fputs(rule_usage, stdout);
    else return usage_error(NULL, "no help for '%s': commands are check, rule, help, version",
                            topic);
    return EXIT_CLEAN;
  }
  if (cmd[0] == '-') return usage_error(NULL, "unknown option '%s'", cmd);
  if (is_path(cmd))
    return usage_error(NULL, "unknown command '%s' (to check it, run 'eqlint check %s')", cmd,
                       cmd);
  return usage_error(NULL, "unknown command '%s': commands are check, rule, help, version", cmd);
}
