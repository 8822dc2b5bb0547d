/* `--output-file`: write the report beside its target and rename it into place.
 *
 * rename(2) within one directory is atomic, so a reader (a CI upload step, an editor
 * watching the file) sees either the previous complete report or the new complete one,
 * never a prefix, and a run killed half-way leaves no truncated SARIF behind. Hence the
 * temporary file lives in the target's own directory (same file system), the data is
 * fsync'd before the rename, and the file gets the permissions a plain fopen would give
 * (0666 minus the umask) rather than mkstemp's 0600, since reports are meant to be read by
 * other users and tools. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eqlint/emit.h"
#include "eqlint/fixio.h"

static void release(eql_emit_file *f) {
  free(f->path);
  free(f->tmp);
  f->fp = NULL;
  f->path = f->tmp = NULL;
}

/* Creates the directories leading to path (like `mkdir -p`), so `--output-file
 * reports/eqlint.sarif` works in a fresh CI checkout, as it does in Ruff. */
static int make_parents(const char *path) {
  char *dir = strdup(path);
  if (!dir) return -1;
  for (char *p = dir + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
      free(dir);
      return -1;
    }
    *p = '/';
  }
  free(dir);
  return 0;
}

int eql_emit_file_open(eql_emit_file *f, const char *path, const char **err) {
  memset(f, 0, sizeof *f);
  if (!*path) {
    *err = "empty file name";
    return -1;
  }
  f->path = strdup(path);
  f->tmp = eql_tmp_beside(path); /* the same naming as --fix's atomic writes */
  if (!f->path || !f->tmp) {
    release(f);
    *err = "out of memory";
    return -1;
  }
  int fd = make_parents(path) == 0 ? mkstemp(f->tmp) : -1;
  if (fd < 0) {
    *err = strerror(errno);
    release(f);
    return -1;
  }
  /* Reading the umask means setting it; the CLI opens the report before any worker thread
   * starts, so nothing else creates files in between. */
  mode_t mask = umask(0);
  umask(mask);
  if (fchmod(fd, 0666 & ~mask) != 0 || !(f->fp = fdopen(fd, "w"))) {
    *err = strerror(errno);
    close(fd);
    unlink(f->tmp);
    release(f);
    return -1;
  }
  return 0;
}

int eql_emit_file_commit(eql_emit_file *f, const char **err) {
  int rc = 0;
  errno = 0; /* ferror() alone does not say why; a stale errno must not either */
  if (fflush(f->fp) != 0 || ferror(f->fp) || fsync(fileno(f->fp)) != 0) {
    *err = strerror(errno ? errno : EIO);
    rc = -1;
  }
  if (fclose(f->fp) != 0 && rc == 0) {
    *err = strerror(errno);
    rc = -1;
  }
  if (rc == 0 && rename(f->tmp, f->path) != 0) {
    *err = strerror(errno);
    rc = -1;
  }
  if (rc != 0) unlink(f->tmp);
  release(f);
  return rc;
}

void eql_emit_file_abort(eql_emit_file *f) {
  if (!f->fp && !f->tmp) return;
  if (f->fp) fclose(f->fp);
  unlink(f->tmp);
  release(f);
}
