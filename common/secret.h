/* secret.h - secret values held in OpenSSL's secure heap.
 *
 * A struct secret is immutable and reference counted.  Its bytes live in the
 * secure heap (mlock'ed, excluded from core dumps by MADV_DONTDUMP) and are
 * wiped when the last reference is dropped.  Secrets are only ever shown as a
 * fingerprint: the first 8 hex digits of their HMAC-SHA256 under the
 * installation's fingerprint key (fingerprint.c), never as an unkeyed hash.
 */
#ifndef AOS_SECRET_H
#define AOS_SECRET_H

#include <stdbool.h>
#include <stddef.h>

struct secret;

#define SECRET_FPR_LEN 8		      /* hex digits in a fingerprint */
#define SECRET_VALUE_MAX 4096		      /* longest value asked for a fingerprint */
#define SECRET_FPR_KEY_LEN 32		      /* bytes of the fingerprint key */
#define SECRET_FPR_KEY_FILE "fingerprint.key" /* in the state directory */

/* Sets up the secure heap (size bytes) and makes the process non-dumpable
 * with core dumps off.  Returns 0, or AOS_ESECMEM if memory could not be
 * locked, or -errno from prctl/setrlimit. */
int secret_init_process(size_t size);

/* At exit: drops the fingerprint key, then releases the secure heap if
 * every secret is freed.  Returns the number of secrets still allocated
 * (0 after a clean stop; the heap is kept when there are any). */
size_t secret_done_process(void);

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
 * SECRET_FPR_LEN + 1 bytes): the start of HMAC-SHA256(key, value) in hex,
 * or all '?' while no fingerprint key is set. */
void secret_fingerprint(const struct secret *s, char *out);

/* Sets the process's fingerprint key (SECRET_FPR_KEY_LEN bytes; takes a
 * reference and drops the previous key; NULL only drops it).  Returns 0 or
 * -EINVAL for a key of another length. */
int secret_fingerprint_key_set(struct secret *key);

/* Reads the installation's key, DIR/fingerprint.key, creating it first when
 * it does not exist (32 random bytes, mode 0600, written to a temporary
 * file and linked into place, so never half written nor replaced), and
 * sets it.  Refused, with err naming the file and what to do: a symbolic
 * link or not a regular file, another owner than this uid, any group or
 * other permission bit, another size.  Returns 0 and *ret_created (may be
 * NULL), or -errno / AOS_ECORRUPT. */
int secret_fingerprint_key_load(const char *dir, bool *ret_created, char *err,
				size_t errlen);

/* Constant-time equality of two secrets' values (false for NULL). */
bool secret_equal(const struct secret *a, const struct secret *b);

/* References currently held on s (for the in-use count in status). */
int secret_refs(const struct secret *s);

/* Number of secrets currently allocated (for tests and status). */
size_t secret_live_count(void);

#endif
