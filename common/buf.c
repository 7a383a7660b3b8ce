#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/wipe.h"

void buf_init(struct buf *b, size_t limit)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->limit = limit;
}

/* Moves the contents to an allocation of cap bytes (> len). */
static int buf_move(struct buf *b, size_t cap)
{
	char *p = wipe_realloc(b->data, cap); /* never leaves the old bytes behind */

	if (p == NULL)
		return -ENOMEM;
	if (b->data == NULL)
		p[0] = '\0';
	b->data = p;
	b->cap = cap;
	return 0;
}

static int buf_reserve(struct buf *b, size_t need)
{
	size_t cap;

	if (need > b->limit)
		return AOS_ETOOBIG;
	if (need + 1 <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < need + 1)
		cap *= 2;
	if (cap > b->limit + 1)
		cap = b->limit + 1;
	return buf_move(b, cap);
}

int buf_grow(struct buf *b, size_t n)
{
	if (n > b->limit)
		return AOS_ETOOBIG;
	return n + 1 <= b->cap ? 0 : buf_move(b, n + 1);
}

int buf_append(struct buf *b, const void *p, size_t n)
{
	int r;

	if (n > b->limit - b->len)
		return AOS_ETOOBIG;
	r = buf_reserve(b, b->len + n);
	if (r < 0)
		return r;
	if (n > 0)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return 0;
}

int buf_puts(struct buf *b, const char *s)
{
	return buf_append(b, s, strlen(s));
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n, r;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	r = buf_reserve(b, b->len + (size_t)n);
	if (r < 0)
		return r;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void buf_reset(struct buf *b)
{
	if (b->data != NULL) {
		OPENSSL_cleanse(b->data, b->cap);
		b->data[0] = '\0';
	}
	b->len = 0;
}

void buf_free(struct buf *b)
{
	wipe_free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}
