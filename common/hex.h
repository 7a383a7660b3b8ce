/* hex.h - lower-case hexadecimal, and SHA-256 over a list of fields.
 *
 * One encoder for every digest the project prints (artifact digests,
 * idempotency keys, spool folder names, fingerprints), one test of "is this
 * hex", and the field hash behind the idempotency keys that are too long to
 * be spelt out.  No I/O, no logging.
 */
#ifndef AOS_HEX_H
#define AOS_HEX_H

#include <stdbool.h>
#include <stddef.h>

#define AOS_SHA256_HEX_LEN 64 /* hex digits of a SHA-256 digest */

/* Writes the lower-case hex of p[0..n) into out, which must hold 2n + 1
 * bytes; out is NUL-terminated. */
void aos_hex(const unsigned char *p, size_t n, char *out);

/* Returns whether s[0..n) are all hex digits: 0-9 and a-f, and A-F too
 * unless lower_only.  s need not be NUL-terminated; n == 0 is true. */
bool aos_is_hex(const char *s, size_t n, bool lower_only);

/* SHA-256 over fields[0..n), each taken with its terminating NUL, so that
 * ("ab", "c") and ("a", "bc") differ.  Writes the lower-case hex digest
 * into out (AOS_SHA256_HEX_LEN + 1 bytes).  Returns 0, or -ENOMEM if
 * OpenSSL could not make a context (out is then untouched). */
int aos_sha256_fields(const char *const *fields, size_t n, char *out);

#endif
