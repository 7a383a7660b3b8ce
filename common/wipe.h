/* wipe.h - allocation functions that wipe a block when it is freed or
 * moved.
 *
 * libcurl (its request and receive buffers), OpenSSL (TLS records, HMAC
 * contexts) and cJSON (parsed Vault answers) get these in agent/daemon/main.c, so
 * that what a block held, a token included, does not stay readable in the
 * free heap.  The size wiped is malloc_usable_size(), the whole block.
 * Secrets themselves live in the secure heap (secret.h); these cover the
 * libraries' transient copies.
 */
#ifndef AOS_WIPE_H
#define AOS_WIPE_H

#include <stddef.h>

/* malloc, calloc and strdup: plain allocations, to be freed by wipe_free()
 * (or free(); wiping is what the callers of these promise). */
void *wipe_malloc(size_t n);
void *wipe_calloc(size_t nmemb, size_t size);
char *wipe_strdup(const char *s);

/* Wipes the whole block, then frees it.  Accepts NULL. */
void wipe_free(void *p);

/* realloc that never leaves the old bytes behind: a new block, a copy,
 * the old block wiped and freed.  NULL p is malloc; n == 0 frees p and
 * returns NULL.  On failure returns NULL and p is untouched. */
void *wipe_realloc(void *p, size_t n);

/* Overwrites the whole block (its usable size) with zeros, keeping it. */
void wipe_block(void *p);

/* Routes OpenSSL's allocations through these (CRYPTO_set_mem_functions).
 * Must run before OpenSSL allocates anything.  Returns 0, or -EBUSY when
 * OpenSSL has allocated already. */
int wipe_install_openssl(void);

#endif
