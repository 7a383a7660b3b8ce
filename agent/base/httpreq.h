/* httpreq.h - one inbound HTTP/1.1 request assembled from bytes, with hard
 * limits, on http-parser.  No sockets: the listener (http.c) feeds what it
 * reads, and the fuzz target feeds arbitrary bytes.
 *
 * A parse stops after each complete request (the remaining bytes are the
 * next request's, for keep-alive and pipelining): handle it, then
 * httpreq_next() and feed the rest.
 *
 * With a budget (httpreq_set_budget), the buffers of requests whose sender
 * is not authenticated yet are charged to a total shared by a listener's
 * connections, and a parse also stops after each request's headers, so
 * that the caller can refuse it or vouch for it before its body is read.
 */
#ifndef AOS_HTTPREQ_H
#define AOS_HTTPREQ_H

#include <stdbool.h>
#include <stddef.h>

#include <http_parser.h>

#include "common/buf.h"

#define HTTPREQ_MAX_HEADERS 100

enum httpreq_state {
	HTTPREQ_IDLE,	 /* no byte of a request yet */
	HTTPREQ_HEADERS, /* inside the request line or headers */
	HTTPREQ_ADMIT,	 /* headers done (with a budget): see httpreq_admit() */
	HTTPREQ_BODY,	 /* headers done, reading the body */
	HTTPREQ_DONE,	 /* a complete request: see req */
	HTTPREQ_ERROR,	 /* malformed or over a limit: see status, error */
};

struct http_request {
	enum http_method method;
	const char *url;  /* NUL-terminated, into the header buffer */
	const char *body; /* NUL-terminated (not counted in body_len) */
	size_t body_len;
	bool keep_alive;      /* the client allows another request */
	bool expect_continue; /* "Expect: 100-continue": it waits for 100 */
	size_t nheaders;
	const char *names[HTTPREQ_MAX_HEADERS];
	const char *values[HTTPREQ_MAX_HEADERS];
};

/* Bytes held by the unauthenticated requests of one listener: the
 * allocations of their header and body buffers, against a cap.  One
 * thread only. */
struct httpreq_budget {
	size_t used;
	size_t cap;
};

/* Takes n bytes from b.  Returns 0, or AOS_ETOOBIG (nothing taken) when they
 * would pass its cap. */
int httpreq_budget_take(struct httpreq_budget *b, size_t n);

/* Gives back n bytes taken before. */
void httpreq_budget_give(struct httpreq_budget *b, size_t n);

struct httpreq {
	http_parser parser;
	enum httpreq_state state;
	int status;		 /* for HTTPREQ_ERROR: 400, 413, 431 or 503 */
	const char *error;	 /* for HTTPREQ_ERROR: a static reason */
	bool headers_done;	 /* the request's headers are complete (then an
				  * error can be answered; else only closed) */
	struct http_request req; /* valid in HTTPREQ_DONE; in HTTPREQ_ADMIT and
				  * later all but the body */
	/* private */
	struct httpreq_budget *budget;
	size_t held;  /* taken from budget for this request */
	bool trusted; /* its sender is authenticated: not charged */
	size_t max_header_bytes, max_body_bytes;
	size_t header_bytes;
	struct buf head; /* "url\0name\0value\0..." */
	struct buf body;
	size_t url_off;
	size_t name_off[HTTPREQ_MAX_HEADERS], value_off[HTTPREQ_MAX_HEADERS];
	int last; /* 0 none, 1 url, 2 field, 3 value */
};

/* Prepares hr for a first request.  Never fails; free with httpreq_free(). */
void httpreq_init(struct httpreq *hr, size_t max_header_bytes, size_t max_body_bytes);

/* Feeds up to len bytes; returns how many were consumed.  Stops early when a
 * request is complete (state DONE) or on an error (state ERROR, nothing
 * more may be fed). */
size_t httpreq_feed(struct httpreq *hr, const char *data, size_t len);

/* Charges what hr buffers for each request to b (shared, must outlive hr)
 * until the request is trusted or released, and stops each parse after the
 * headers in HTTPREQ_ADMIT.  Past b's cap the state is HTTPREQ_ERROR with
 * status 503, before the bytes are kept. */
void httpreq_set_budget(struct httpreq *hr, struct httpreq_budget *b);

/* In HTTPREQ_ADMIT: lets the body be read (state HTTPREQ_BODY).  trusted:
 * the headers authenticated the sender, so the request's bytes go back to
 * the budget and its body is not charged; otherwise a declared
 * Content-Length is charged at once, whole.  Returns 0, AOS_ETOOBIG (over
 * the budget) or -ENOMEM, both with state HTTPREQ_ERROR, status 503. */
int httpreq_admit(struct httpreq *hr, bool trusted);

/* The request is answered: wipes and frees its buffers and gives its bytes
 * back to the budget.  req's strings are gone; the state stays until
 * httpreq_next(). */
void httpreq_release(struct httpreq *hr);

/* After DONE (or an answer): forgets that request, releases it, and waits
 * for the next one. */
void httpreq_next(struct httpreq *hr);

/* Wipes and frees what hr holds.  Accepts NULL. */
void httpreq_free(struct httpreq *hr);

/* The value of header name (case-insensitive), or NULL; with several, the
 * first.  *ret_count (may be NULL) is the number of headers of that name. */
const char *httpreq_header(const struct http_request *r, const char *name,
			   size_t *ret_count);

#endif
