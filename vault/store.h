/* store.h - the locked secret store: the registry tokens by key name.
 *
 * For each configured key the store holds the current value (a struct
 * secret in the secure heap), the KV version in which that value last
 * changed, that version's created_time and a fingerprint.  Replacing a value
 * drops the store's reference; a caller still holding one (an upload in
 * progress) keeps the old value alive until it lets go, then it is wiped.
 */
#ifndef AOS_STORE_H
#define AOS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/secret.h"

#define STORE_KEY_MAX 128

struct secret_store;

struct store_entry {
	char key[STORE_KEY_MAX];
	struct secret *value; /* NULL when missing; the store's reference */
	int64_t version;      /* KV version where this value appeared; 0 if none */
	char created_time[40];
	char fingerprint[SECRET_FPR_LEN + 1];
};

/* A change made by store_update(), for the log. */
struct store_change {
	const char *key;     /* points into the store */
	int64_t old_version; /* 0 if the key had no value */
	int64_t new_version; /* 0 if the key disappeared */
	char old_fpr[SECRET_FPR_LEN + 1];
	char new_fpr[SECRET_FPR_LEN + 1];
};

/* Creates a store for the given key names (duplicates are ignored).
 * Returns 0 and *ret, -ENOMEM, or -EINVAL for a name over STORE_KEY_MAX. */
int store_new(const char *const *keys, size_t nkeys, struct secret_store **ret);

/* Wipes and frees every value the store holds.  Accepts NULL. */
void store_free(struct secret_store *st);

/* Number of keys, and the i-th entry (read-only view, valid until the next
 * update). */
size_t store_size(const struct secret_store *st);
const struct store_entry *store_entry_at(const struct secret_store *st, size_t i);

/* The KV version of the last successful update (0 before any). */
int64_t store_kv_version(const struct secret_store *st);

/* Applies values read at KV version `version`: values[i] belongs to keys[i]
 * (NULL = key absent).  Takes a reference on each value it keeps.  Entries
 * whose value changed get the new version and created_time.  Writes up to
 * maxchanges changes and returns their count (>= 0). */
int store_update(struct secret_store *st, int64_t version, const char *created_time,
		 const char *const *keys, struct secret *const *values, size_t n,
		 struct store_change *changes, size_t maxchanges);

/* A new reference on key's current value, or NULL (missing / unknown key).
 * The caller drops it with secret_unref(). */
struct secret *store_get(const struct secret_store *st, const char *key);

/* Number of configured keys without a value. */
size_t store_missing(const struct secret_store *st);

/* Moves values of keys present in both from `from` into `to` (used on
 * reload when the set of keys changes).  `from` is left empty. */
void store_migrate(struct secret_store *to, struct secret_store *from);

#endif
