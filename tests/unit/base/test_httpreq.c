/* Unit tests for agent/base/httpreq.c: one inbound request assembled from bytes
 * however they are split, pipelining, keep-alive, and every limit and
 * framing error with the status the listener answers; with a budget, the
 * stop after the headers and what is charged. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/httpreq.h"
#include "common/err.h"

#define MAX_HEAD 4096
#define MAX_BODY 1024

static const char post_req[] = "POST /webhook?x=1 HTTP/1.1\r\n"
			       "Host: 127.0.0.1\r\n"
			       "X-GitHub-Event: push\r\n"
			       "Content-Type: application/json\r\n"
			       "Content-Length: 13\r\n"
			       "\r\n"
			       "{\"ref\":\"a\"}\r\n";

/* Feeds all of text; returns the bytes consumed (stops at DONE / ERROR). */
static size_t feed_all(struct httpreq *hr, const char *text, size_t len)
{
	size_t used = 0, n;

	while (used < len) {
		n = httpreq_feed(hr, text + used, len - used);
		used += n;
		if (hr->state == HTTPREQ_DONE || hr->state == HTTPREQ_ERROR || n == 0)
			break;
	}
	return used;
}

static void check_post(const struct httpreq *hr)
{
	const struct http_request *r = &hr->req;

	assert_int_equal(hr->state, HTTPREQ_DONE);
	assert_int_equal(r->method, HTTP_POST);
	assert_string_equal(r->url, "/webhook?x=1");
	assert_int_equal(r->body_len, 13);
	assert_memory_equal(r->body, "{\"ref\":\"a\"}\r\n", 13);
	assert_int_equal(r->body[13], '\0');
	assert_true(r->keep_alive);
	assert_int_equal(r->nheaders, 4);
	assert_string_equal(r->names[1], "X-GitHub-Event");
	assert_string_equal(r->values[1], "push");
	assert_string_equal(httpreq_header(r, "host", NULL), "127.0.0.1");
}

static void test_complete(void **state)
{
	struct httpreq hr;

	(void)state;
	httpreq_init(&hr, MAX_HEAD, MAX_BODY);
	assert_int_equal(hr.state, HTTPREQ_IDLE);
	assert_int_equal(feed_all(&hr, post_req, strlen(post_req)), strlen(post_req));
	check_post(&hr);
	/* Nothing more is taken until httpreq_next(). */
	assert_int_equal(httpreq_feed(&hr, "GET", 3), 0);
	httpreq_free(&hr);
	httpreq_free(NULL);
}

/* A GET without a body: body is "" with length 0. */
static void test_no_body(void **state)
{
	static const char req[] = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
	struct httpreq hr;

	(void)state;
	httpreq_init(&hr, MAX_HEAD, MAX_BODY);
	assert_int_equal(feed_all(&hr, req, strlen(req)), strlen(req));
	assert_int_equal(hr.state, HTTPREQ_DONE);
	assert_int_equal(hr.req.method, HTTP_GET);
	assert_string_equal(hr.req.url, "/healthz");
	assert_string_equal(hr.req.body, "");
	assert_int_equal(hr.req.body_len, 0);
	httpreq_free(&hr);
}

/* The same request split in two at every byte, and one byte at a time. */
static void test_split_everywhere(void **state)
{
	size_t len = strlen(post_req), cut, i;
	struct httpreq hr;

	(void)state;
	for (cut = 1; cut < len; cut++) {
		httpreq_init(&hr, MAX_HEAD, MAX_BODY);
		assert_int_equal(httpreq_feed(&hr, post_req, cut), cut);
		assert_int_not_equal(hr.state, HTTPREQ_ERROR);
		assert_int_not_equal(hr.state, HTTPREQ_DONE);
		assert_int_equal(httpreq_feed(&hr, post_req + cut, len - cut), len - cut);
		check_post(&hr);
		httpreq_free(&hr);
	}
	httpreq_init(&hr, MAX_HEAD, MAX_BODY);
	for (i = 0; i < len; i++)
		assert_int_equal(httpreq_feed(&hr, post_req + i, 1), 1);
	check_post(&hr);
	httpreq_free(&hr);
}

/* Two requests in one read: the first stops where the second starts. */
static void test_pipelined(void **state)
{
	static const char two[] = "POST /webhook HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
				  "GET /readyz HTTP/1.1\r\nX-A: 1\r\nX-A: 2\r\n\r\n";
	size_t first = strlen("POST /webhook HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc");
	struct httpreq hr;
	size_t n, count = 0;

	(void)state;
	httpreq_init(&hr, MAX_HEAD, MAX_BODY);
	n = httpreq_feed(&hr, two, strlen(two));
	assert_int_equal(n, first);
	assert_int_equal(hr.state, HTTPREQ_DONE);
	assert_string_equal(hr.req.url, "/webhook");
	assert_string_equal(hr.req.body, "abc");
	httpreq_next(&hr);
	assert_int_equal(hr.state, HTTPREQ_IDLE);
	assert_int_equal(hr.req.nheaders, 0);
	assert_int_equal(httpreq_feed(&hr, two + n, strlen(two) - n), strlen(two) - n);
	assert_int_equal(hr.state, HTTPREQ_DONE);
	assert_int_equal(hr.req.method, HTTP_GET);
	assert_string_equal(hr.req.url, "/readyz");
	assert_int_equal(hr.req.body_len, 0);
	assert_string_equal(httpreq_header(&hr.req, "x-a", &count), "1");
	assert_int_equal(count, 2);
	/* A third, after a reset, in a fresh buffer. */
	httpreq_next(&hr);
	assert_int_equal(feed_all(&hr, post_req, strlen(post_req)), strlen(post_req));
	check_post(&hr);
	httpreq_free(&hr);
}

/* ---- keep-alive ---- */

struct ka_case {
	const char *req;
	bool keep_alive;
};

static const struct ka_case ka_cases[] = {
    {"GET / HTTP/1.1\r\n\r\n", true},
    {"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false},
    {"GET / HTTP/1.1\r\nconnection: CLOSE\r\n\r\n", false},
    {"GET / HTTP/1.0\r\n\r\n", false},
    {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
    {"POST / HTTP/1.1\r\nConnection: keep-alive\r\nContent-Length: 1\r\n\r\nx", true},
};

static void test_keep_alive(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ka_cases) / sizeof(ka_cases[0]); i++) {
		const struct ka_case *k = &ka_cases[i];
		struct httpreq hr;

		httpreq_init(&hr, MAX_HEAD, MAX_BODY);
		feed_all(&hr, k->req, strlen(k->req));
		if (hr.state != HTTPREQ_DONE || hr.req.keep_alive != k->keep_alive)
			fail_msg("case %zu: state %d keep_alive %d, want %d", i, hr.state,
				 hr.req.keep_alive, k->keep_alive);
		httpreq_free(&hr);
	}
}

/* ---- limits and framing errors ---- */

struct err_case {
	const char *name;
	const char *req; /* NULL: built by the test */
	int status;	 /* 400, 413 or 431 */
};

static const struct err_case err_cases[] = {
    /* Content-Length over the limit: refused on the headers alone (no body
     * byte is sent). */
    {"content-length over max", "POST /webhook HTTP/1.1\r\nContent-Length: 1025\r\n\r\n",
     413},
    {"chunked body over max", NULL, 413},
    {"header bytes over max", NULL, 431},
    {"url over max", NULL, 431},
    {"too many headers", NULL, 431},
    {"content-length and transfer-encoding",
     "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
     "3\r\nabc\r\n0\r\n\r\n",
     400},
    {"transfer-encoding and content-length",
     "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n"
     "3\r\nabc\r\n0\r\n\r\n",
     400},
    {"two different content-lengths",
     "POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400},
    {"content-length not a number", "POST / HTTP/1.1\r\nContent-Length: 3x\r\n\r\nabc",
     400},
    {"transfer-encoding not chunked",
     "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nabc", 400},
    {"transfer-encoding chunked then gzip",
     "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\nabc", 400},
    {"bad chunk size",
     "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n", 400},
    {"no url", "GET HTTP/1.1\r\n\r\n", 400},
    {"lowercase method", "get / HTTP/1.1\r\n\r\n", 400},
    {"unknown method", "FROB / HTTP/1.1\r\n\r\n", 400},
    {"space in the url", "GET /a b HTTP/1.1\r\n\r\n", 400},
    {"bad version", "GET / HTTP/x.1\r\n\r\n", 400},
    {"garbage", "\x01\x02\x03\x04", 400},
    {"header without a colon", "GET / HTTP/1.1\r\nNoColon\r\n\r\n", 400},
    {"control byte in a header value", "GET / HTTP/1.1\r\nX-A: a\x01b\r\n\r\n", 400},
    {"response instead of a request", "HTTP/1.1 200 OK\r\n\r\n", 400},
};

/* Builds the requests too long to write out. */
static char *build_req(const char *name)
{
	size_t cap = 64 * 1024, len = 0, i;
	char *s = malloc(cap);

	assert_non_null(s);
	if (strcmp(name, "chunked body over max") == 0) {
		len += (size_t)snprintf(s + len, cap - len,
					"POST / HTTP/1.1\r\n"
					"Transfer-Encoding: chunked\r\n\r\n");
		for (i = 0; i < 3; i++) { /* 3 x 400 bytes > 1024 */
			len += (size_t)snprintf(s + len, cap - len, "190\r\n");
			memset(s + len, 'a', 400);
			len += 400;
			len += (size_t)snprintf(s + len, cap - len, "\r\n");
		}
		snprintf(s + len, cap - len, "0\r\n\r\n");
	} else if (strcmp(name, "header bytes over max") == 0) {
		len += (size_t)snprintf(s + len, cap - len, "GET / HTTP/1.1\r\nX-Big: ");
		memset(s + len, 'v', MAX_HEAD);
		len += MAX_HEAD;
		snprintf(s + len, cap - len, "\r\n\r\n");
	} else if (strcmp(name, "url over max") == 0) {
		len += (size_t)snprintf(s + len, cap - len, "GET /");
		memset(s + len, 'u', MAX_HEAD);
		len += MAX_HEAD;
		snprintf(s + len, cap - len, " HTTP/1.1\r\n\r\n");
	} else { /* too many headers: small ones, well under the byte limit */
		len += (size_t)snprintf(s + len, cap - len, "GET / HTTP/1.1\r\n");
		for (i = 0; i <= HTTPREQ_MAX_HEADERS; i++)
			len += (size_t)snprintf(s + len, cap - len, "H%zu: v\r\n", i);
		snprintf(s + len, cap - len, "\r\n");
	}
	return s;
}

static void test_errors(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
		const struct err_case *e = &err_cases[i];
		char *built = e->req == NULL ? build_req(e->name) : NULL;
		const char *req = built != NULL ? built : e->req;
		struct httpreq hr;

		httpreq_init(&hr, MAX_HEAD, MAX_BODY);
		feed_all(&hr, req, strlen(req));
		if (hr.state != HTTPREQ_ERROR || hr.status != e->status)
			fail_msg("%s: state %d status %d, want ERROR %d", e->name,
				 hr.state, hr.status, e->status);
		assert_non_null(hr.error);
		assert_true(hr.error[0] != '\0');
		/* Nothing more is taken after an error. */
		assert_int_equal(httpreq_feed(&hr, "GET / HTTP/1.1\r\n\r\n", 18), 0);
		assert_int_equal(hr.state, HTTPREQ_ERROR);
		httpreq_free(&hr);
		free(built);
	}
}

/* Content-Length exactly at the limit, and headers exactly at it, pass. */
static void test_at_limits(void **state)
{
	static const char head[] = "POST / HTTP/1.1\r\nContent-Length: 1024\r\n\r\n";
	char *req = malloc(sizeof(head) + MAX_BODY);
	struct httpreq hr;

	(void)state;
	assert_non_null(req);
	memcpy(req, head, sizeof(head) - 1);
	memset(req + sizeof(head) - 1, 'b', MAX_BODY);
	req[sizeof(head) - 1 + MAX_BODY] = '\0';
	httpreq_init(&hr, MAX_HEAD, MAX_BODY);
	assert_int_equal(feed_all(&hr, req, strlen(req)), strlen(req));
	assert_int_equal(hr.state, HTTPREQ_DONE);
	assert_int_equal(hr.req.body_len, MAX_BODY);
	httpreq_free(&hr);

	/* The header limit counts the url, the names and the values: "/" +
	 * "Content-Length" + "1024" = 19 bytes. */
	httpreq_init(&hr, 19, MAX_BODY);
	assert_int_equal(feed_all(&hr, req, strlen(req)), strlen(req));
	assert_int_equal(hr.state, HTTPREQ_DONE);
	httpreq_free(&hr);
	httpreq_init(&hr, 18, MAX_BODY);
	feed_all(&hr, req, strlen(req));
	assert_int_equal(hr.state, HTTPREQ_ERROR);
	assert_int_equal(hr.status, 431);
	httpreq_free(&hr);
	free(req);
}

/* Exactly HTTPREQ_MAX_HEADERS headers pass; each is found. */
static void test_max_headers(void **state)
{
	char req[8192], name[16];
	size_t len = 0, i, count;
	struct httpreq hr;

	(void)state;
	len += (size_t)snprintf(req + len, sizeof(req) - len, "GET / HTTP/1.1\r\n");
	for (i = 0; i < HTTPREQ_MAX_HEADERS; i++)
		len += (size_t)snprintf(req + len, sizeof(req) - len, "H%zu: v%zu\r\n", i,
					i);
	snprintf(req + len, sizeof(req) - len, "\r\n");
	httpreq_init(&hr, MAX_HEAD, MAX_BODY);
	feed_all(&hr, req, strlen(req));
	assert_int_equal(hr.state, HTTPREQ_DONE);
	assert_int_equal(hr.req.nheaders, HTTPREQ_MAX_HEADERS);
	for (i = 0; i < HTTPREQ_MAX_HEADERS; i++) {
		char want[16];

		snprintf(name, sizeof(name), "h%zu", i);
		snprintf(want, sizeof(want), "v%zu", i);
		assert_string_equal(httpreq_header(&hr.req, name, &count), want);
		assert_int_equal(count, 1);
	}
	httpreq_free(&hr);
}

/* A chunked body is assembled; the chunk framing is not part of it. */
static void test_chunked(void **state)
{
	static const char req[] = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
				  "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n";
	struct httpreq hr;

	(void)state;
	httpreq_init(&hr, MAX_HEAD, MAX_BODY);
	assert_int_equal(feed_all(&hr, req, strlen(req)), strlen(req));
	assert_int_equal(hr.state, HTTPREQ_DONE);
	assert_string_equal(hr.req.body, "abcde");
	assert_int_equal(hr.req.body_len, 5);
	httpreq_free(&hr);
}

/* Trailer fields after a chunked body must not disturb the headers already
 * handed out (the header buffer must not move under them), and every
 * header the request reports must have a name and a value. */
static void test_chunked_trailers(void **state)
{
	char req[8192];
	size_t len = 0, i;
	struct httpreq hr;

	(void)state;
	len += (size_t)snprintf(req + len, sizeof(req) - len,
				"POST /webhook HTTP/1.1\r\nX-GitHub-Event: push\r\n"
				"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n");
	/* Enough trailer bytes to make the buffer grow. */
	for (i = 0; i < 20; i++)
		len += (size_t)snprintf(req + len, sizeof(req) - len,
					"X-Trailer-%zu: %0100zu\r\n", i, i);
	snprintf(req + len, sizeof(req) - len, "\r\n");
	httpreq_init(&hr, MAX_HEAD, MAX_BODY);
	assert_int_equal(feed_all(&hr, req, strlen(req)), strlen(req));
	assert_int_equal(hr.state, HTTPREQ_DONE);
	assert_string_equal(hr.req.url, "/webhook");
	assert_string_equal(hr.req.body, "abc");
	for (i = 0; i < hr.req.nheaders; i++) {
		assert_non_null(hr.req.names[i]);
		assert_non_null(hr.req.values[i]);
	}
	assert_string_equal(httpreq_header(&hr.req, "X-GitHub-Event", NULL), "push");
	assert_null(httpreq_header(&hr.req, "X-Missing", NULL));
	httpreq_free(&hr);
}

static void test_header_lookup(void **state)
{
	static const char req[] = "GET / HTTP/1.1\r\n"
				  "X-Hub-Signature-256: sha256=one\r\n"
				  "x-hub-signature-256: sha256=two\r\n"
				  "X-Empty:\r\n"
				  "X-Spaces:   padded  \r\n"
				  "X-Folded: a\r\n"
				  "\r\n";
	struct httpreq hr;
	size_t count = 99;

	(void)state;
	httpreq_init(&hr, MAX_HEAD, MAX_BODY);
	feed_all(&hr, req, strlen(req));
	assert_int_equal(hr.state, HTTPREQ_DONE);
	assert_string_equal(httpreq_header(&hr.req, "X-HUB-SIGNATURE-256", &count),
			    "sha256=one");
	assert_int_equal(count, 2);
	assert_null(httpreq_header(&hr.req, "X-Hub-Signature", &count));
	assert_int_equal(count, 0);
	assert_null(httpreq_header(&hr.req, "X-Hub-Signature-2567", NULL));
	assert_string_equal(httpreq_header(&hr.req, "x-empty", &count), "");
	assert_int_equal(count, 1);
	/* Leading white space is not part of the value. */
	assert_int_equal(strncmp(httpreq_header(&hr.req, "X-Spaces", NULL), "padded", 6),
			 0);
	httpreq_free(&hr);
}

/* httpreq_next() forgets the first request's headers and body. */
static void test_next_forgets(void **state)
{
	static const char a[] =
	    "POST /a HTTP/1.1\r\nX-One: 1\r\nContent-Length: 2\r\n\r\nhi";
	static const char b[] = "GET /b HTTP/1.1\r\nX-Two: 2\r\n\r\n";
	struct httpreq hr;

	(void)state;
	httpreq_init(&hr, MAX_HEAD, MAX_BODY);
	feed_all(&hr, a, strlen(a));
	assert_int_equal(hr.state, HTTPREQ_DONE);
	httpreq_next(&hr);
	feed_all(&hr, b, strlen(b));
	assert_int_equal(hr.state, HTTPREQ_DONE);
	assert_string_equal(hr.req.url, "/b");
	assert_int_equal(hr.req.nheaders, 1);
	assert_null(httpreq_header(&hr.req, "X-One", NULL));
	assert_string_equal(hr.req.body, "");
	assert_int_equal(hr.req.body_len, 0);
	httpreq_free(&hr);
}

/* The state moves IDLE -> HEADERS -> BODY -> DONE as bytes come. */
static void test_states(void **state)
{
	struct httpreq hr;

	(void)state;
	httpreq_init(&hr, MAX_HEAD, MAX_BODY);
	httpreq_feed(&hr, "\r\n", 2); /* empty lines before a request are skipped */
	assert_int_equal(hr.state, HTTPREQ_IDLE);
	httpreq_feed(&hr, "POST /", 6);
	assert_int_equal(hr.state, HTTPREQ_HEADERS);
	httpreq_feed(&hr, " HTTP/1.1\r\nContent-Length: 2\r\n\r\n", 32);
	assert_int_equal(hr.state, HTTPREQ_BODY);
	httpreq_feed(&hr, "o", 1);
	assert_int_equal(hr.state, HTTPREQ_BODY);
	httpreq_feed(&hr, "k", 1);
	assert_int_equal(hr.state, HTTPREQ_DONE);
	assert_string_equal(hr.req.body, "ok");
	httpreq_free(&hr);
}

/* ---- with a budget -------------------------------------------------------- */

/* Feeds all of text, admitting the body (untrusted) where the parse stops
 * after the headers; returns the bytes consumed. */
static size_t feed_admit(struct httpreq *hr, const char *text, size_t len)
{
	size_t used = 0, n;

	while (used < len) {
		n = httpreq_feed(hr, text + used, len - used);
		used += n;
		if (hr->state == HTTPREQ_ADMIT) {
			assert_true(hr->headers_done);
			assert_int_equal(httpreq_admit(hr, false), 0);
			continue; /* even when nothing was consumed */
		}
		if (hr->state == HTTPREQ_DONE || hr->state == HTTPREQ_ERROR || n == 0)
			break;
	}
	return used;
}

/* hr under budget b, fed post_req: stopped after the headers, which are
 * readable and charged (256 bytes); returns the bytes consumed. */
static size_t admit_post(struct httpreq *hr, struct httpreq_budget *b)
{
	size_t n;

	httpreq_init(hr, MAX_HEAD, MAX_BODY);
	httpreq_set_budget(hr, b);
	n = httpreq_feed(hr, post_req, strlen(post_req));
	assert_int_equal(hr->state, HTTPREQ_ADMIT);
	assert_true(hr->headers_done);
	assert_true(n < strlen(post_req) - 13); /* the body is not read */
	assert_string_equal(hr->req.url, "/webhook?x=1");
	assert_string_equal(httpreq_header(&hr->req, "X-GitHub-Event", NULL), "push");
	assert_int_equal(b->used, 256);
	return n;
}

/* The parse stops in ADMIT with the headers readable and no body; what the
 * buffers allocate is charged (256 for the headers, 256 for a 13-byte
 * body), and given back by httpreq_release(). */
static void test_budget_admit(void **state)
{
	struct httpreq_budget b = {.cap = 10000};
	struct httpreq hr;
	size_t n;

	(void)state;
	n = admit_post(&hr, &b);
	assert_int_equal(httpreq_feed(&hr, post_req + n, strlen(post_req) - n), 0);
	assert_int_equal(httpreq_admit(&hr, false), 0);
	assert_int_equal(b.used, 512);
	assert_int_equal(httpreq_feed(&hr, post_req + n, strlen(post_req) - n),
			 strlen(post_req) - n);
	check_post(&hr);
	assert_int_equal(b.used, 512);
	httpreq_release(&hr);
	assert_int_equal(b.used, 0);
	assert_int_equal(hr.state, HTTPREQ_DONE);
	assert_int_equal(httpreq_admit(&hr, false), -EINVAL);
	httpreq_next(&hr);
	assert_int_equal(hr.state, HTTPREQ_IDLE);
	assert_false(hr.headers_done);
	httpreq_free(&hr);
	assert_int_equal(b.used, 0);
}

/* Split at every byte (among them just before the headers' last LF): the
 * same request, the same charge. */
static void test_budget_split_everywhere(void **state)
{
	size_t len = strlen(post_req), cut;
	struct httpreq_budget b = {.cap = 10000};
	struct httpreq hr;

	(void)state;
	for (cut = 1; cut < len; cut++) {
		httpreq_init(&hr, MAX_HEAD, MAX_BODY);
		httpreq_set_budget(&hr, &b);
		assert_int_equal(feed_admit(&hr, post_req, cut), cut);
		assert_int_equal(feed_admit(&hr, post_req + cut, len - cut), len - cut);
		check_post(&hr);
		assert_int_equal(b.used, 512);
		httpreq_free(&hr);
		assert_int_equal(b.used, 0);
	}
}

/* A trusted request gives its bytes back and its body is not charged. */
static void test_budget_trusted(void **state)
{
	struct httpreq_budget b = {.cap = 300};
	struct httpreq hr;
	size_t n;

	(void)state;
	n = admit_post(&hr, &b);
	assert_int_equal(httpreq_admit(&hr, true), 0);
	assert_int_equal(b.used, 0);
	httpreq_feed(&hr, post_req + n, strlen(post_req) - n);
	check_post(&hr);
	assert_int_equal(b.used, 0);
	/* The next request on the connection is charged again. */
	httpreq_next(&hr);
	assert_int_equal(feed_admit(&hr, post_req, 40), 40);
	assert_int_equal(b.used, 256);
	httpreq_free(&hr);
	assert_int_equal(b.used, 0);
}

/* Over the cap: in the headers (nothing to answer: headers_done false), at
 * admission (a declared body: refused whole, before a byte of it), and in
 * a chunked body as it grows; always 503. */
static void test_budget_over(void **state)
{
	static const char chunked[] =
	    "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "200\r\n";
	struct httpreq_budget b = {.cap = 200};
	struct httpreq hr, other;
	char big[512];
	size_t n;

	(void)state;
	httpreq_init(&hr, MAX_HEAD, MAX_BODY);
	httpreq_set_budget(&hr, &b);
	httpreq_feed(&hr, post_req, 10);
	assert_int_equal(hr.state, HTTPREQ_ERROR);
	assert_int_equal(hr.status, 503);
	assert_false(hr.headers_done);
	assert_int_equal(b.used, 0);
	httpreq_free(&hr);

	b.cap = 300;
	admit_post(&hr, &b);
	assert_int_equal(httpreq_admit(&hr, false), AOS_ETOOBIG);
	assert_int_equal(hr.state, HTTPREQ_ERROR);
	assert_int_equal(hr.status, 503);
	assert_true(hr.headers_done);
	assert_non_null(strstr(hr.error, "max_unauthenticated_bytes"));
	assert_int_equal(b.used, 256);
	/* Another request of the same listener finds the room taken. */
	httpreq_init(&other, MAX_HEAD, MAX_BODY);
	httpreq_set_budget(&other, &b);
	httpreq_feed(&other, post_req, 10);
	assert_int_equal(other.state, HTTPREQ_ERROR);
	httpreq_free(&other);
	httpreq_free(&hr);
	assert_int_equal(b.used, 0);

	b.cap = 256 + 512;
	memset(big, 'x', sizeof(big));
	httpreq_init(&hr, MAX_HEAD, MAX_BODY);
	httpreq_set_budget(&hr, &b);
	n = feed_admit(&hr, chunked, strlen(chunked));
	assert_int_equal(n, strlen(chunked));
	assert_int_equal(hr.state, HTTPREQ_BODY);
	httpreq_feed(&hr, big, 300); /* the body buffer: 301 bytes, fits */
	assert_int_equal(hr.state, HTTPREQ_BODY);
	assert_int_equal(b.used, 256 + 301);
	httpreq_feed(&hr, big, 212); /* doubling to 602 would pass 768 */
	assert_int_equal(hr.state, HTTPREQ_ERROR);
	assert_int_equal(hr.status, 503);
	httpreq_free(&hr);
	assert_int_equal(b.used, 0);

	/* A cap lowered (a reload) below what is held takes nothing more. */
	b.used = b.cap + 100;
	assert_int_equal(httpreq_budget_take(&b, 1), AOS_ETOOBIG);
	httpreq_budget_give(&b, b.cap + 200);
	assert_int_equal(b.used, 0);
	assert_int_equal(httpreq_budget_take(&b, b.cap), 0);
	assert_int_equal(httpreq_budget_take(&b, 1), AOS_ETOOBIG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_complete),
	    cmocka_unit_test(test_no_body),
	    cmocka_unit_test(test_split_everywhere),
	    cmocka_unit_test(test_pipelined),
	    cmocka_unit_test(test_keep_alive),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_at_limits),
	    cmocka_unit_test(test_max_headers),
	    cmocka_unit_test(test_chunked),
	    cmocka_unit_test(test_chunked_trailers),
	    cmocka_unit_test(test_header_lookup),
	    cmocka_unit_test(test_next_forgets),
	    cmocka_unit_test(test_states),
	    cmocka_unit_test(test_budget_admit),
	    cmocka_unit_test(test_budget_split_everywhere),
	    cmocka_unit_test(test_budget_trusted),
	    cmocka_unit_test(test_budget_over),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
