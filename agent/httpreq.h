/* httpreq.h - one inbound HTTP/1.1 request assembled from bytes, with hard
 * limits, on http-parser.  No sockets: the listener (http.c) feeds what it
 * reads, and the fuzz target feeds arbitrary bytes.
 *
 * A parse stops after each complete request (the remaining bytes are the
 * next request's, for keep-alive and pipelining): handle it, then
 * httpreq_next() and feed the rest.
 */
#ifndef AOS_HTTPREQ_H
#define AOS_HTTPREQ_H

#include <stdbool.h>
#include <stddef.h>

#include <http_parser.h>

#include "buf.h"

#define HTTPREQ_MAX_HEADERS 100

enum httpreq_state {
	HTTPREQ_IDLE,     /* no byte of a request yet */
	HTTPREQ_HEADERS,  /* inside the request line or headers */
	HTTPREQ_BODY,     /* headers done, reading the body */
	HTTPREQ_DONE,     /* a complete request: see req */
	HTTPREQ_ERROR,    /* malformed or over a limit: see status, error */
};

struct http_request {
	enum http_method method;
	const char *url;          /* NUL-terminated, into the header buffer */
	const char *body;         /* NUL-terminated (not counted in body_len) */
	size_t body_len;
	bool keep_alive;          /* the client allows another request */
	bool expect_continue;     /* "Expect: 100-continue": it waits for 100 */
	size_t nheaders;
	const char *names[HTTPREQ_MAX_HEADERS];
	const char *values[HTTPREQ_MAX_HEADERS];
};

struct httpreq {
	http_parser parser;
	enum httpreq_state state;
	int status;               /* for HTTPREQ_ERROR: 400, 413 or 431 */
	const char *error;        /* for HTTPREQ_ERROR: a static reason */
	struct http_request req;  /* valid in HTTPREQ_DONE */
	/* private */
	size_t max_header_bytes, max_body_bytes;
	size_t header_bytes;
	struct buf head;          /* "url\0name\0value\0..." */
	struct buf body;
	size_t url_off;
	size_t name_off[HTTPREQ_MAX_HEADERS], value_off[HTTPREQ_MAX_HEADERS];
	int last;                 /* 0 none, 1 url, 2 field, 3 value */
};

/* Prepares hr for a first request.  Never fails; free with httpreq_free(). */
void httpreq_init(struct httpreq *hr, size_t max_header_bytes, size_t max_body_bytes);

/* Feeds up to len bytes; returns how many were consumed.  Stops early when a
 * request is complete (state DONE) or on an error (state ERROR, nothing
 * more may be fed). */
size_t httpreq_feed(struct httpreq *hr, const char *data, size_t len);

/* After DONE: forgets that request and waits for the next one. */
void httpreq_next(struct httpreq *hr);

/* Wipes and frees what hr holds.  Accepts NULL. */
void httpreq_free(struct httpreq *hr);

/* The value of header name (case-insensitive), or NULL; with several, the
 * first.  *ret_count (may be NULL) is the number of headers of that name. */
const char *httpreq_header(const struct http_request *r, const char *name,
			   size_t *ret_count);

#endif
