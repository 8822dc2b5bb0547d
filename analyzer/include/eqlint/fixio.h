/* What `eqlint check --fix` and `--diff` do with a fixed text: show it as a unified diff, or
 * put it on disk. Both work on whole files held in memory (eql_fix_report in fix.h); neither
 * prints anything of its own nor exits. */
#ifndef EQLINT_FIXIO_H
#define EQLINT_FIXIO_H
#include <stddef.h>
#include <stdio.h>

/* Writes a unified diff of a -> b (whole files in memory) to out, in the shape of `diff -u`
 * and Ruff's `--diff`: "--- PATH\n+++ PATH\n" then hunks "@@ -l,n +l,n @@" with 3 lines of
 * context, hunks merged when their context touches; "\ No newline at end of file" where
 * a side's last line lacks one; nothing at all when a and b are equal. Lines keep their
 * own endings (CRLF stays CRLF). Returns 0, or -1 when writing failed or memory ran out.
 *
 * Lines end at '\n' only and are compared byte for byte, ending included. The diff is
 * minimal (Myers) unless the two texts differ by more than about 10000 lines; then the part
 * that differs is shown as one deletion followed by one insertion: still a correct patch,
 * found in bounded time. `out` is flushed at the end, so a failed write is reported here.
 * Nothing is allocated that outlives the call. */
int eql_udiff(FILE *out, const char *path, const char *a, size_t alen, const char *b, size_t blen);

typedef enum { EQL_WRITE_OK = 0, EQL_WRITE_CHANGED = 1, EQL_WRITE_ERROR = 2 } eql_write_status;

/* Replaces the contents of the existing file `path` with data[0..len), atomically: a
 * temporary file in the same directory as the real file (a symlink is resolved first, so the
 * link stays a link and its target gets the new text), written, fsync'd, given the original
 * file's permission bits (and owner/group when possible), then rename()d over the file, and
 * the directory fsync'd. Before renaming it re-reads the file and compares it with
 * expect[0..expect_len) (the bytes the caller read and fixed): if they differ (someone edited
 * the file meanwhile) nothing is written, the temporary is removed and EQL_WRITE_CHANGED is
 * returned. On any failure (read-only directory, disk full, ...) the temporary is removed, the
 * original is untouched, and EQL_WRITE_ERROR is returned with `err` (a buffer of errlen
 * bytes) holding a message like "cannot create a temporary file in src/: Permission denied".
 *
 * Details: `err` (may be NULL when errlen is 0) also explains EQL_WRITE_CHANGED, and is set
 * to "" on EQL_WRITE_OK. Paths in messages are the caller's `path`, or for the directory
 * the one the temporary goes into (".../" as the link resolution found it). The temporary
 * is a hidden file ".NAME.eqlint-XXXXXX" next to the real one. A file we may not write
 * (mode 0444, say) is refused as a plain write would be, although the rename would only
 * need the directory to be writable. As with any write by rename:
 * the file gets a new inode, so other hard links to it keep the old text, and ACLs and
 * extended attributes are not carried over; the owner is kept only when we may chown (as
 * root, or when it is us). A failed fsync of the directory, after the rename, is not
 * reported: the new text is in place by then, and "original untouched" would be false. */
eql_write_status eql_write_atomic(const char *path, const char *data, size_t len,
                                  const char *expect, size_t expect_len, char *err, size_t errlen);

/* A mkstemp template for a temporary file beside `path`, in the same directory (so a later
 * rename over `path` is atomic): "<dir>/.<name>.eqlint-XXXXXX", hidden and clearly ours, the
 * name cut to 200 bytes so the result still fits NAME_MAX. Malloc'd (caller frees); NULL when
 * out of memory. Shared by eql_write_atomic and `--output-file` (emit.h). */
char *eql_tmp_beside(const char *path);

#endif
