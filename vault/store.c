#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vault/store.h"

struct secret_store {
	struct store_entry *entries;
	size_t n;
	int64_t kv_version;
};

int store_new(const char *const *keys, size_t nkeys, struct secret_store **ret)
{
	struct secret_store *st;
	size_t i, j;

	st = calloc(1, sizeof(*st));
	if (st == NULL)
		return -ENOMEM;
	st->entries = calloc(nkeys ? nkeys : 1, sizeof(*st->entries));
	if (st->entries == NULL) {
		free(st);
		return -ENOMEM;
	}
	for (i = 0; i < nkeys; i++) {
		bool dup = false;

		if (strlen(keys[i]) == 0 || strlen(keys[i]) >= STORE_KEY_MAX) {
			store_free(st);
			return -EINVAL;
		}
		for (j = 0; j < st->n; j++)
			dup |= strcmp(st->entries[j].key, keys[i]) == 0;
		if (!dup)
			strcpy(st->entries[st->n++].key, keys[i]);
	}
	*ret = st;
	return 0;
}

void store_free(struct secret_store *st)
{
	size_t i;

	if (st == NULL)
		return;
	for (i = 0; i < st->n; i++)
		secret_unref(st->entries[i].value);
	free(st->entries);
	free(st);
}

size_t store_size(const struct secret_store *st)
{
	return st->n;
}

const struct store_entry *store_entry_at(const struct secret_store *st, size_t i)
{
	return i < st->n ? &st->entries[i] : NULL;
}

int64_t store_kv_version(const struct secret_store *st)
{
	return st->kv_version;
}

static struct store_entry *find(const struct secret_store *st, const char *key)
{
	size_t i;

	for (i = 0; i < st->n; i++)
		if (strcmp(st->entries[i].key, key) == 0)
			return &st->entries[i];
	return NULL;
}

int store_update(struct secret_store *st, int64_t version, const char *created_time,
		 const char *const *keys, struct secret *const *values, size_t n,
		 struct store_change *changes, size_t maxchanges)
{
	size_t i, nch = 0;

	for (i = 0; i < n; i++) {
		struct store_entry *e = find(st, keys[i]);
		struct store_change ch = {0};

		if (e == NULL)
			continue;
		if (values[i] == NULL && e->value == NULL)
			continue;
		if (values[i] != NULL && secret_equal(values[i], e->value))
			continue;
		ch.key = e->key;
		ch.old_version = e->value != NULL ? e->version : 0;
		memcpy(ch.old_fpr, e->value != NULL ? e->fingerprint : "-",
		       e->value != NULL ? sizeof(ch.old_fpr) : 2);
		secret_unref(e->value);
		e->value = secret_ref(values[i]);
		if (e->value != NULL) {
			e->version = version;
			snprintf(e->created_time, sizeof(e->created_time), "%s",
				 created_time != NULL ? created_time : "");
			secret_fingerprint(e->value, e->fingerprint);
			ch.new_version = version;
			memcpy(ch.new_fpr, e->fingerprint, sizeof(ch.new_fpr));
		} else {
			e->version = 0;
			e->created_time[0] = '\0';
			strcpy(e->fingerprint, "");
			strcpy(ch.new_fpr, "-");
		}
		if (nch < maxchanges)
			changes[nch] = ch;
		nch++;
	}
	st->kv_version = version;
	return (int)(nch < maxchanges ? nch : maxchanges);
}

struct secret *store_get(const struct secret_store *st, const char *key)
{
	struct store_entry *e = find(st, key);

	return e != NULL ? secret_ref(e->value) : NULL;
}

size_t store_missing(const struct secret_store *st)
{
	size_t i, n = 0;

	for (i = 0; i < st->n; i++)
		n += st->entries[i].value == NULL;
	return n;
}

void store_migrate(struct secret_store *to, struct secret_store *from)
{
	size_t i;

	for (i = 0; i < from->n; i++) {
		struct store_entry *src = &from->entries[i];
		struct store_entry *dst = find(to, src->key);

		if (dst != NULL && dst->value == NULL) {
			*dst = *src;
			src->value = NULL; /* transferred */
		}
		secret_unref(src->value);
		src->value = NULL;
	}
	if (to->kv_version == 0)
		to->kv_version = from->kv_version;
}
