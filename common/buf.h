/* buf.h - growable byte buffer with a hard size limit.
 *
 * A buf never grows past its limit: appends that would return AOS_ETOOBIG and
 * leave the contents unchanged.  The data is always NUL-terminated so that
 * text answers can be handed to parsers directly.  buf_free() wipes the bytes
 * before releasing them, since answers may hold tokens.
 */
#ifndef AOS_BUF_H
#define AOS_BUF_H

#include <stddef.h>

struct buf {
	char *data;   /* NUL-terminated; NULL until the first append */
	size_t len;   /* bytes used, excluding the terminator */
	size_t cap;   /* bytes allocated */
	size_t limit; /* maximum len */
};

/* Initialises an empty buffer that may hold at most limit bytes. */
void buf_init(struct buf *b, size_t limit);

/* Appends n bytes.  Returns 0, -ENOMEM, or AOS_ETOOBIG past the limit. */
int buf_append(struct buf *b, const void *p, size_t n);

/* Appends a NUL-terminated string; same returns as buf_append(). */
int buf_puts(struct buf *b, const char *s);

/* Appends printf-formatted text; same returns as buf_append(). */
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Makes the allocation hold exactly n bytes (plus the terminator) when it
 * is smaller, so that appends up to n bytes allocate nothing more.  Returns
 * 0, -ENOMEM, or AOS_ETOOBIG when n is past the limit. */
int buf_grow(struct buf *b, size_t n);

/* Empties the buffer (wiping it) but keeps the allocation and limit. */
void buf_reset(struct buf *b);

/* Wipes and frees the contents; the buffer is empty afterwards. */
void buf_free(struct buf *b);

#endif
