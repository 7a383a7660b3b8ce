/* httpreq.c - http-parser callbacks filling a bounded request. */
#include <string.h>
#include <strings.h>

#include "err.h"
#include "httpreq.h"

#define container_of(p, t, m) ((t *)((char *)(p) - offsetof(t, m)))

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

/* Header bytes count against the limit before they are stored. */
static int head_add(struct httpreq *hr, const char *at, size_t len)
{
	hr->header_bytes += len;
	if (hr->header_bytes > hr->max_header_bytes)
		return fail(hr, 431, "request headers too large");
	if (buf_append(&hr->head, at, len) < 0)
		return fail(hr, 431, "request headers too large");
	return 0;
}

/* Ends the string being collected (url, name or value). */
static int head_end(struct httpreq *hr)
{
	return buf_append(&hr->head, "", 1) < 0 ? fail(hr, 431, "request headers too large")
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

		hr->req.expect_continue = e != NULL && strcasecmp(e, "100-continue") == 0 &&
					  p->http_minor >= 1;
	}
	if ((p->flags & F_CONTENTLENGTH) && p->content_length > hr->max_body_bytes)
		return fail(hr, 413, "request body too large");
	hr->state = HTTPREQ_BODY;
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t len)
{
	struct httpreq *hr = container_of(p, struct httpreq, parser);

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

	if (hr->state == HTTPREQ_ERROR || hr->state == HTTPREQ_DONE || len == 0)
		return 0;
	n = http_parser_execute(&hr->parser, &settings, data, len);
	if (hr->state == HTTPREQ_ERROR)
		return n;
	e = HTTP_PARSER_ERRNO(&hr->parser);
	if (hr->state == HTTPREQ_DONE)
		return n;
	if (e == HPE_HEADER_OVERFLOW)
		fail(hr, 431, "request headers too large");
	else if (e == HPE_UNEXPECTED_CONTENT_LENGTH || e == HPE_INVALID_CONTENT_LENGTH)
		fail(hr, 400, "conflicting or invalid Content-Length / Transfer-Encoding");
	else if (e == HPE_INVALID_TRANSFER_ENCODING)
		fail(hr, 400, "unsupported Transfer-Encoding");
	else if (e != HPE_OK)
		fail(hr, 400, http_errno_description(e));
	return n;
}

void httpreq_next(struct httpreq *hr)
{
	struct buf head = hr->head, body = hr->body;

	buf_reset(&head);
	buf_reset(&body);
	hr->state = HTTPREQ_IDLE;
	hr->header_bytes = 0;
	hr->last = 0;
	hr->url_off = 0;
	memset(&hr->req, 0, sizeof(hr->req));
	hr->head = head;
	hr->body = body;
	http_parser_pause(&hr->parser, 0);
}

void httpreq_free(struct httpreq *hr)
{
	if (hr == NULL)
		return;
	buf_free(&hr->head);
	buf_free(&hr->body);
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
