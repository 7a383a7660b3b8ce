#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/err.h"
#include "common/secret.h"

struct secret {
	atomic_int refs;
	size_t len;
	char value[]; /* len bytes plus NUL */
};

static atomic_size_t live_count;

int secret_new(const void *value, size_t len, struct secret **ret)
{
	struct secret *s;

	s = OPENSSL_secure_malloc(sizeof(*s) + len + 1);
	if (s == NULL)
		return -ENOMEM;
	atomic_init(&s->refs, 1);
	s->len = len;
	memcpy(s->value, value, len);
	s->value[len] = '\0';
	atomic_fetch_add(&live_count, 1);
	*ret = s;
	return 0;
}

struct secret *secret_ref(struct secret *s)
{
	if (s != NULL)
		atomic_fetch_add(&s->refs, 1);
	return s;
}

void secret_unref(struct secret *s)
{
	if (s == NULL)
		return;
	if (atomic_fetch_sub(&s->refs, 1) != 1)
		return;
	atomic_fetch_sub(&live_count, 1);
	OPENSSL_secure_clear_free(s, sizeof(*s) + s->len + 1);
}

const char *secret_value(const struct secret *s)
{
	return s->value;
}

size_t secret_len(const struct secret *s)
{
	return s->len;
}

bool secret_equal(const struct secret *a, const struct secret *b)
{
	if (a == NULL || b == NULL || a->len != b->len)
		return false;
	return CRYPTO_memcmp(a->value, b->value, a->len) == 0;
}

int secret_refs(const struct secret *s)
{
	return atomic_load(&((struct secret *)s)->refs);
}

size_t secret_live_count(void)
{
	return atomic_load(&live_count);
}
