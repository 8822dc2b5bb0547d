/* Pieces the machine-readable emitters share (json, sarif, gitlab, github, junit, pylint).
 * Private to analyzer/emit/ and its tests; the public interface is eqlint/emit.h.
 *
 * Every emitter takes text from users' files (paths, messages quoting code) and must keep
 * its own output well formed whatever those bytes are: JSON needs valid UTF-8, XML 1.0
 * forbids most control characters even as references, GitHub's workflow commands give
 * `%`, CR, LF (and `:` `,` in properties) a meaning. The helpers below are the one place
 * each of those rules is applied. */
#ifndef EQLINT_EMIT_INTERNAL_H
#define EQLINT_EMIT_INTERNAL_H
#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "eqlint/emit.h"
#include "eqlint/rules.h"

/* Decodes one UTF-8 sequence at p (p < end). Returns the bytes it spans (>= 1); *cp is the
 * code point, or -1 for bytes that are not valid UTF-8 (stray continuation bytes, truncated
 * or overlong sequences, surrogates, values above U+10FFFF). Same segmentation as full.c. */
uint32_t eql_emit_utf8_next(const unsigned char *p, const unsigned char *end, int32_t *cp);

/* A malloc'd copy of s in which every invalid UTF-8 sequence is replaced by U+FFFD; NULL
 * when out of memory. s NULL gives "". */
char *eql_emit_utf8_dup(const char *s);

/* A JSON string holding s made valid UTF-8 (see above); NULL when out of memory. */
json_t *eql_emit_json_text(const char *s);

/* The rule a diagnostic carries, or NULL for an id outside the table (never produced by
 * the checker, tolerated so a corrupt list cannot make an emitter read out of bounds). */
const eql_rule_info *eql_emit_rule_of(const eql_diag *d);
/* The rule's code, or "EQX???" for an unknown rule. */
const char *eql_emit_code_of(const eql_diag *d);

/* The path as reports for CI systems show it, malloc'd (NULL when out of memory): an
 * absolute path below `root` (when root is not NULL) becomes relative to it, and "./"
 * prefixes and doubled slashes are dropped, so "./src//a.py" and "$PWD/src/a.py" both give
 * "src/a.py". Anything else is kept as given. */
char *eql_emit_report_path(const char *path, const char *root);

/* Writes s as the message of a GitHub workflow command: `%`, CR and LF percent-encoded (and
 * `:` and `,` too when `property`, for values such as file=...), every other control or
 * invisible character and every invalid byte escaped as eql_emit_escaped does. */
void eql_emit_workflow_escaped(FILE *out, const char *s, bool property);

/* Writes s as XML 1.0 character data (`attribute`: an attribute value in double quotes):
 * & < > " ' as entities; LF kept in text, written &#10; in attributes; characters XML
 * cannot carry at all (C0 controls, U+FFFE, U+FFFF) and invalid bytes escaped as text
 * (\x1b, \xff) like the terminal emitters do. */
void eql_emit_xml_escaped(FILE *out, const char *s, bool attribute);

/* Dumps `json` (stolen: always released) followed by a newline. Returns 0, or -1 when json
 * is NULL (an allocation failed while building it) or writing failed. */
int eql_emit_json_dump(FILE *out, json_t *json, size_t flags);

/* Stable fingerprints, one per diagnostic: EQL_EMIT_FINGERPRINT_HEX lowercase hex digits
 * plus a NUL. */
enum { EQL_EMIT_FINGERPRINT_HEX = 32 };
typedef char eql_emit_fingerprint[EQL_EMIT_FINGERPRINT_HEX + 1];

/* Computes fps[i] for every diags->items[i] (see fingerprint.c for the scheme). Sources come
 * from `source` (may be NULL: the message stands in for the source line). Returns 0, or -1
 * when out of memory. */
int eql_emit_fingerprints(const eql_diag_list *diags, eql_emit_source_fn source,
                          const void *ud, const char *root, eql_emit_fingerprint *fps);

/* SHA-256 of `len` bytes (exposed for the test vectors). */
void eql_emit_sha256(const void *data, size_t len, unsigned char digest[32]);

#endif
