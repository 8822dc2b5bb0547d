/* The C front end: libclang -> facts, for model code written against libeqx (runtime/).
 *
 * Compiler flags come, per file, from a compile_commands.json (the directory given with
 * eql_cfront_set_compdb_dir, or the nearest DIR/ or DIR/build/ one found walking up from the
 * file, as clangd looks), otherwise
 * from defaults: -std=gnu11, -I the file's directory, -I the nearest runtime/include that
 * holds eqx.h. Flags added with eql_cfront_add_flag (the command line's -I and -D) are
 * appended in both cases. The configuration is process-wide: set it before any file is
 * parsed (parsing runs on several threads and only reads it). */
#ifndef EQLINT_CFRONT_H
#define EQLINT_CFRONT_H
#include <stdbool.h>

#include "eqlint/facts.h"

/* Is this a path the C front end handles (.c or .h)? */
bool eql_cfront_is_c_path(const char *path);

/* Appends one compiler flag ("-Idir", "-DNAME=1"); the string is copied. 0, or -1 (OOM). */
int eql_cfront_add_flag(const char *flag);
/* Uses DIR/compile_commands.json for every file (NULL: search upward from each file). 0, or
 * -1 when out of memory. */
int eql_cfront_set_compdb_dir(const char *dir);
/* Forgets every flag and the compile-commands directory (tests). */
void eql_cfront_reset(void);

/* Parses C source into facts. Compiler errors give facts with has_error set (EQX999) and
 * every part that parsed converted. Returns NULL when libclang cannot process the file at
 * all (*err: a static or thread-local message) or when out of memory (*err = "out of
 * memory"). Caller owns the result (eql_facts_free). */
eql_facts *eql_c_facts(const eql_source *src, const char **err);

#endif
