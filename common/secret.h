/* secret.h - secret values held in OpenSSL's secure heap.
 *
 * A struct secret is immutable and reference counted.  Its bytes live in the
 * secure heap (mlock'ed, excluded from core dumps by MADV_DONTDUMP) and are
 * wiped when the last reference is dropped.  Secrets are only ever shown as a
 * fingerprint: the first 8 hex digits of their SHA-256.
 */
#ifndef AOS_SECRET_H
#define AOS_SECRET_H

#include <stdbool.h>
#include <stddef.h>

struct secret;

#define SECRET_FPR_LEN 8 /* hex digits in a fingerprint */

/* Sets up the secure heap (size bytes) and makes the process non-dumpable
 * with core dumps off.  Returns 0, or AOS_ESECMEM if memory could not be
 * locked, or -errno from prctl/setrlimit. */
int secret_init_process(size_t size);

/* Releases the secure heap at exit (after all secrets are freed). */
void secret_done_process(void);

/* Copies len bytes of value into a new secret with one reference.  Returns 0
 * and sets *ret, or -ENOMEM.  The caller should wipe its own copy. */
int secret_new(const void *value, size_t len, struct secret **ret);

/* Takes another reference; returns s (NULL stays NULL). */
struct secret *secret_ref(struct secret *s);

/* Drops a reference; the last one wipes and frees.  Accepts NULL. */
void secret_unref(struct secret *s);

/* The value, NUL-terminated, valid while a reference is held. */
const char *secret_value(const struct secret *s);
size_t secret_len(const struct secret *s);

/* The fingerprint as SECRET_FPR_LEN hex digits plus NUL (the buffer must hold
 * SECRET_FPR_LEN + 1 bytes). */
void secret_fingerprint(const struct secret *s, char *out);

/* Constant-time equality of two secrets' values (false for NULL). */
bool secret_equal(const struct secret *a, const struct secret *b);

/* References currently held on s (for the in-use count in status). */
int secret_refs(const struct secret *s);

/* Number of secrets currently allocated (for tests and status). */
size_t secret_live_count(void);

#endif
