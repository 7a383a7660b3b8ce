/* httpreq.c - http-parser callbacks filling a bounded request. */
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "base/httpreq.h"
#include "common/err.h"

#define container_of(p, t, m) ((t *)((char *)(p)-offsetof(t, m)))

static int fail(struct httpreq *hr, int status, const char *why)
{
	if (hr->state != HTTPREQ_ERROR) {
		hr->state = HTTPREQ_ERROR;
		hr->status = status;
		hr->error = why;
	}
	return -1;
}

static int on_message_begin(http_parser *p)
{
	struct httpreq *hr = container_of(p, struct httpreq, parser);

	hr->state = HTTPREQ_HEADERS;
	return 0;
}

int httpreq_budget_take(struct httpreq_budget *b, size_t n)
{
	/* used may be above a cap lowered by a reload */
	if (b->used > b->cap || n > b->cap - b->used)
		return AOS_ETOOBIG;
	b->used += n;
	return 0;
}

void httpreq_budget_give(struct httpreq_budget *b, size_t n)
{
	b->used -= n < b->used ? n : b->used;
}

/* Before n more bytes go into b (a buffer of an untrusted request under a
 * budget): its growth, doubling up to its limit, is charged first and made.
 * Past the limit nothing happens here: the append refuses them. */
static int room(struct httpreq *hr, struct buf *b, size_t n)
{
	size_t need, cap;

	if (hr->budget == NULL || hr->trusted || n > b->limit - b->len)
		return 0;
	need = b->len + n + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap != 0 ? 2 * b->cap : 256;
	if (cap < need)
		cap = need;
	if (cap > b->limit + 1)
		cap = b->limit + 1;
	if (httpreq_budget_take(hr->budget, cap - b->cap) < 0) {
		fail(hr, 503,
		     "the listener holds as many bytes of unauthenticated requests as "
		     "listen.max_unauthenticated_bytes allows; retry shortly");
		return AOS_ETOOBIG;
	}
	hr->held += cap - b->cap;
	if (buf_grow(b, cap - 1) < 0) {
		fail(hr, 503, "out of memory");
		return -ENOMEM;
	}
	return 0;
}

/* Header bytes count against the limit before they are stored. */
static int head_add(struct httpreq *hr, const char *at, size_t len)
{
	hr->header_bytes += len;
	if (hr->header_bytes > hr->max_header_bytes)
		return fail(hr, 431, "request headers too large");
	if (room(hr, &hr->head, len) < 0)
		return -1;
	if (buf_append(&hr->head, at, len) < 0)
		return fail(hr, 431, "request headers too large");
	return 0;
}

/* Ends the string being collected (url, name or value). */
static int head_end(struct httpreq *hr)
{
	if (room(hr, &hr->head, 1) < 0)
		return -1;
	return buf_append(&hr->head, "", 1) < 0
		   ? fail(hr, 431, "request headers too large")
		   : 0;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct httpreq *hr = container_of(p, struct httpreq, parser);

	hr->state = HTTPREQ_HEADERS;
	if (hr->last == 0) {
		hr->url_off = hr->head.len;
		hr->last = 1;
	}
	return head_add(hr, at, len);
}

/* Trailer fields after a chunked body: counted against the header limit but
 * not kept (the request's header pointers are handed out already and must
 * not move). */
static int trailer_add(struct httpreq *hr, size_t len)
{
	hr->header_bytes += len;
	if (hr->header_bytes > hr->max_header_bytes)
		return fail(hr, 431, "request headers too large");
	return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t len)
{
	struct httpreq *hr = container_of(p, struct httpreq, parser);

	if (hr->state == HTTPREQ_BODY)
		return trailer_add(hr, len);
	if (hr->last != 2) {
		if (hr->last != 0 && head_end(hr) < 0)
			return -1;
		if (hr->req.nheaders == HTTPREQ_MAX_HEADERS)
			return fail(hr, 431, "too many request headers");
		hr->name_off[hr->req.nheaders] = hr->head.len;
		hr->last = 2;
	}
	return head_add(hr, at, len);
}

static int on_header_value(http_parser *p, const char *at, size_t len)
{
	struct httpreq *hr = container_of(p, struct httpreq, parser);

	if (hr->state == HTTPREQ_BODY)
		return trailer_add(hr, len);
	if (hr->last != 3) {
		if (head_end(hr) < 0)
			return -1;
		hr->value_off[hr->req.nheaders++] = hr->head.len;
		hr->last = 3;
	}
	return head_add(hr, at, len);
}

static int on_headers_complete(http_parser *p)
{
	struct httpreq *hr = container_of(p, struct httpreq, parser);
	size_t i;

	if (hr->last == 2) /* a name without a value cannot get here; be safe */
		hr->value_off[hr->req.nheaders++] = hr->head.len;
	if (head_end(hr) < 0)
		return -1;
	hr->req.url = hr->head.data + hr->url_off;
	for (i = 0; i < hr->req.nheaders; i++) {
		hr->req.names[i] = hr->head.data + hr->name_off[i];
		hr->req.values[i] = hr->head.data + hr->value_off[i];
	}
	hr->req.method = (enum http_method)p->method;
	{
		const char *e = httpreq_header(&hr->req, "Expect", NULL);

		hr->req.expect_continue =
		    e != NULL && strcasecmp(e, "100-continue") == 0 && p->http_minor >= 1;
	}
	if ((p->flags & F_CONTENTLENGTH) && p->content_length > hr->max_body_bytes)
		return fail(hr, 413, "request body too large");
	hr->headers_done = true;
	if (hr->budget != NULL) {
		/* Stop before the body: the caller admits it or answers. */
		hr->state = HTTPREQ_ADMIT;
		http_parser_pause(p, 1);
		return 0;
	}
	hr->state = HTTPREQ_BODY;
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct httpreq *hr = container_of(p, struct httpreq, parser);

	if (room(hr, &hr->body, len) < 0)
		return -1;
	if (buf_append(&hr->body, at, len) < 0)
		return fail(hr, 413, "request body too large");
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct httpreq *hr = container_of(p, struct httpreq, parser);

	hr->req.body = hr->body.data != NULL ? hr->body.data : "";
	hr->req.body_len = hr->body.len;
	hr->req.keep_alive = http_should_keep_alive(p) != 0;
	hr->state = HTTPREQ_DONE;
	http_parser_pause(p, 1); /* one request at a time */
	return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

void httpreq_init(struct httpreq *hr, size_t max_header_bytes, size_t max_body_bytes)
{
	memset(hr, 0, sizeof(*hr));
	http_parser_init(&hr->parser, HTTP_REQUEST);
	hr->max_header_bytes = max_header_bytes;
	hr->max_body_bytes = max_body_bytes;
	/* Room for the terminators of every string on top of the bytes. */
	buf_init(&hr->head, max_header_bytes + 2 * HTTPREQ_MAX_HEADERS + 2);
	buf_init(&hr->body, max_body_bytes);
	hr->state = HTTPREQ_IDLE;
}

size_t httpreq_feed(struct httpreq *hr, const char *data, size_t len)
{
	enum http_errno e;
	size_t n;

	if (hr->state == HTTPREQ_ERROR || hr->state == HTTPREQ_DONE ||
	    hr->state == HTTPREQ_ADMIT || len == 0)
		return 0;
	n = http_parser_execute(&hr->parser, &settings, data, len);
	if (hr->state == HTTPREQ_ERROR)
		return n;
	e = HTTP_PARSER_ERRNO(&hr->parser);
	if (hr->state == HTTPREQ_DONE || hr->state == HTTPREQ_ADMIT)
		return n; /* paused there */
	if (e == HPE_HEADER_OVERFLOW)
		fail(hr, 431, "request headers too large");
	else if (e == HPE_UNEXPECTED_CONTENT_LENGTH || e == HPE_INVALID_CONTENT_LENGTH)
		fail(hr, 400,
		     "conflicting or invalid Content-Length / Transfer-Encoding");
	else if (e == HPE_INVALID_TRANSFER_ENCODING)
		fail(hr, 400, "unsupported Transfer-Encoding");
	else if (e != HPE_OK)
		fail(hr, 400, http_errno_description(e));
	return n;
}

void httpreq_set_budget(struct httpreq *hr, struct httpreq_budget *b)
{
	hr->budget = b;
}

/* The request's bytes go back to the budget; later ones are not charged. */
static void give_back(struct httpreq *hr)
{
	if (hr->budget != NULL)
		httpreq_budget_give(hr->budget, hr->held);
	hr->held = 0;
}

int httpreq_admit(struct httpreq *hr, bool trusted)
{
	http_parser *p = &hr->parser;
	int r;

	if (hr->state != HTTPREQ_ADMIT)
		return -EINVAL;
	hr->state = HTTPREQ_BODY;
	http_parser_pause(p, 0);
	if (trusted) {
		give_back(hr);
		hr->trusted = true;
		return 0;
	}
	if ((p->flags & F_CONTENTLENGTH) && p->content_length > 0) {
		r = room(hr, &hr->body, (size_t)p->content_length);
		if (r < 0)
			return r;
	}
	return 0;
}

void httpreq_release(struct httpreq *hr)
{
	buf_free(&hr->head);
	buf_free(&hr->body);
	give_back(hr);
	hr->req.url = NULL;
	hr->req.body = NULL;
	hr->req.body_len = 0;
	hr->req.nheaders = 0;
}

/* Buffers are freed, not kept for the next request: an idle keep-alive
 * connection holds no body. */
void httpreq_next(struct httpreq *hr)
{
	httpreq_release(hr);
	hr->state = HTTPREQ_IDLE;
	hr->status = 0;
	hr->error = NULL;
	hr->headers_done = false;
	hr->trusted = false;
	hr->header_bytes = 0;
	hr->last = 0;
	hr->url_off = 0;
	memset(&hr->req, 0, sizeof(hr->req));
	http_parser_pause(&hr->parser, 0);
}

void httpreq_free(struct httpreq *hr)
{
	if (hr == NULL)
		return;
	httpreq_release(hr);
}

const char *httpreq_header(const struct http_request *r, const char *name,
			   size_t *ret_count)
{
	const char *v = NULL;
	size_t i, n = 0;

	for (i = 0; i < r->nheaders; i++) {
		if (strcasecmp(r->names[i], name) != 0)
			continue;
		if (n++ == 0)
			v = r->values[i];
	}
	if (ret_count != NULL)
		*ret_count = n;
	return v;
}
