/* Unit tests for agent/base/http.c: the listener on a real libuv loop on
 * 127.0.0.1, driven by a blocking client in a second thread
 * (http_fixture.h).  Keep-alive, pipelining, limit and framing answers
 * followed by a (lingering) close, timeouts, the connection limit, handlers
 * that answer later, closing the server under a pending request; every test
 * ends with the loop closed cleanly.  The unauthenticated bytes' cap:
 * test_http_budget.c.
 */
#include "http_fixture.h"

/* ---- scenarios ---- */

static void sc_keep_alive(struct tsrv *t)
{
	struct client c;
	struct resp r;

	CHECK(t, cl_connect(&c, t->port), "connect: %s", strerror(errno));
	CHECK(t, cl_sends(&c, "GET /one HTTP/1.1\r\nHost: x\r\n\r\n"), "send");
	CHECK(t, cl_read(&c, &r), "no first answer");
	CHECK(t, r.status == 200, "status %d", r.status);
	CHECK(t, strstr(r.head, "Connection: keep-alive\r\n") != NULL, "head %s", r.head);
	CHECK(t, strstr(r.head, "Content-Type: application/json\r\n") != NULL, "no type");
	CHECK(t, strstr(r.head, "X-Test: 1\r\n") != NULL, "no extra header");
	CHECK(t, strstr(r.body, "\"url\":\"/one\"") != NULL, "body %s", r.body);
	CHECK(t, cl_sends(&c, "POST /two HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"),
	      "send");
	CHECK(t, cl_read(&c, &r), "no second answer on the same connection");
	CHECK(t, strstr(r.body, "\"url\":\"/two\",\"n\":2") != NULL, "body %s", r.body);
	/* The client says close: the answer says so and the server closes. */
	CHECK(t, cl_sends(&c, "GET /three HTTP/1.1\r\nConnection: close\r\n\r\n"),
	      "send");
	CHECK(t, cl_read(&c, &r), "no third answer");
	CHECK(t, strstr(r.head, "Connection: close\r\n") != NULL, "head %s", r.head);
	CHECK(t, cl_eof(&c), "not closed after Connection: close");
	cl_close(&c);
}

/* HTTP/1.0 without keep-alive: one answer, then the close. */
static void sc_http10(struct tsrv *t)
{
	struct client c;
	struct resp r;

	CHECK(t, cl_connect(&c, t->port), "connect");
	CHECK(t, cl_sends(&c, "GET /old HTTP/1.0\r\n\r\n"), "send");
	CHECK(t, cl_read(&c, &r), "no answer");
	CHECK(t, strstr(r.head, "Connection: close\r\n") != NULL, "head %s", r.head);
	CHECK(t, cl_eof(&c), "not closed");
	cl_close(&c);
}

/* An answer to HEAD has the headers of the GET answer and no body: the
 * next answer on the connection starts right after them. */
static void sc_head(struct tsrv *t)
{
	struct client c;
	struct resp r;

	CHECK(t, cl_connect(&c, t->port), "connect");
	CHECK(t, cl_sends(&c, "HEAD /h HTTP/1.1\r\n\r\nGET /g HTTP/1.1\r\n\r\n"), "send");
	CHECK(t, cl_read_answer(&c, &r, false), "no answer to HEAD");
	CHECK(t, r.status == 200, "status %d", r.status);
	CHECK(t, strstr(r.head, "Content-Length: ") != NULL, "head %s", r.head);
	CHECK(t, cl_read(&c, &r),
	      "the answer after HEAD is not an answer (a body was sent)");
	CHECK(t, strstr(r.body, "\"url\":\"/g\"") != NULL, "body %s", r.body);
	cl_close(&c);
}

/* "Expect: 100-continue" (curl sends it for bodies over 1 KiB): the client
 * waits for "100 Continue" before the body; without it, it would wait a
 * second. */
static void sc_expect(struct tsrv *t)
{
	struct client c;
	struct resp r;

	CHECK(t, cl_connect(&c, t->port), "connect");
	CHECK(t,
	      cl_sends(&c, "POST /e HTTP/1.1\r\nExpect: 100-continue\r\n"
			   "Content-Length: 2\r\n\r\n"),
	      "send");
	CHECK(t, cl_read_answer(&c, &r, false), "no 100 Continue before the body");
	CHECK(t, r.status == 100, "status %d before the body", r.status);
	CHECK(t, cl_sends(&c, "ok"), "send body");
	CHECK(t, cl_read(&c, &r), "no answer after the body");
	CHECK(t, r.status == 200 && strstr(r.body, "\"url\":\"/e\"") != NULL, "got %d %s",
	      r.status, r.body);
	cl_close(&c);
}

/* Three requests in one write, the first answered later: the answers come
 * in request order. */
static void sc_pipelined(struct tsrv *t)
{
	static const char three[] = "GET /slow HTTP/1.1\r\n\r\n"
				    "POST /fast HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc"
				    "GET /last HTTP/1.1\r\n\r\n";
	struct client c;
	struct resp r;

	CHECK(t, cl_connect(&c, t->port), "connect");
	CHECK(t, cl_sends(&c, three), "send");
	CHECK(t, cl_read(&c, &r), "no first answer");
	CHECK(t, strstr(r.body, "\"url\":\"/slow\"") != NULL, "first is %s", r.body);
	CHECK(t, cl_read(&c, &r), "no second answer");
	CHECK(t, strstr(r.body, "\"url\":\"/fast\"") != NULL, "second is %s", r.body);
	CHECK(t, cl_read(&c, &r), "no third answer");
	CHECK(t, strstr(r.body, "\"url\":\"/last\"") != NULL, "third is %s", r.body);
	cl_close(&c);
}

/* A request in many small writes. */
static void sc_trickle(struct tsrv *t)
{
	static const char req[] =
	    "POST /trickle HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello";
	struct client c;
	struct resp r;
	size_t i;

	CHECK(t, cl_connect(&c, t->port), "connect");
	for (i = 0; i < sizeof(req) - 1; i += 7) {
		CHECK(t,
		      cl_send(&c, req + i,
			      sizeof(req) - 1 - i < 7 ? sizeof(req) - 1 - i : 7),
		      "send");
		usleep(2000);
	}
	CHECK(t, cl_read(&c, &r), "no answer");
	CHECK(t, strstr(r.body, "/trickle") != NULL, "body %s", r.body);
	cl_close(&c);
}

/* ---- limits and framing: the answer, then the close ---- */

struct bad_case {
	const char *name;
	const char *head; /* sent first */
	size_t filler;	  /* then this many 'x' bytes (an oversized part) */
	const char *tail;
	int status;
};

static const struct bad_case bad_cases[] = {
    {"headers over max", "GET / HTTP/1.1\r\nX-Big: ", 2000, "\r\n\r\n", 431},
    {"url over max", "GET /", 2000, " HTTP/1.1\r\n\r\n", 431},
    /* The whole oversized body follows at once: the answer must still
     * arrive (the server drains instead of resetting). */
    {"content-length over max", "POST / HTTP/1.1\r\nContent-Length: 200000\r\n\r\n",
     200000, "", 413},
    {"chunked over max", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n",
     4096, "\r\n0\r\n\r\n", 413},
    {"bad request line", "GET / HTTP/1.1 extra\r\n\r\n", 0, "", 400},
    {"content-length and chunked",
     "POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 0,
     "3\r\nabc\r\n0\r\n\r\n", 400},
    {"two content-lengths",
     "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 2, "", 400},
};

static const struct bad_case *cur_bad;

static void sc_bad(struct tsrv *t)
{
	const struct bad_case *b = cur_bad;
	struct client c;
	struct resp r;
	char *fill = malloc(b->filler + 1);
	char want[32];

	CHECK(t, fill != NULL, "malloc");
	memset(fill, 'x', b->filler);
	CHECK(t, cl_connect(&c, t->port), "connect");
	/* A good request first: the error ends a kept-alive connection too. */
	CHECK(t, cl_sends(&c, "GET /ok HTTP/1.1\r\n\r\n"), "send");
	CHECK(t, cl_read(&c, &r) && r.status == 200, "%s: first request", b->name);
	CHECK(t, cl_sends(&c, b->head), "send");
	cl_send(&c, fill, b->filler); /* may fail once the server shut down */
	cl_sends(&c, b->tail);
	free(fill);
	CHECK(t, cl_read(&c, &r), "%s: no answer", b->name);
	snprintf(want, sizeof(want), "HTTP/1.1 %d ", b->status);
	CHECK(t, strncmp(r.head, want, strlen(want)) == 0, "%s: %s", b->name, r.head);
	CHECK(t, strstr(r.head, "Connection: close\r\n") != NULL, "%s: %s", b->name,
	      r.head);
	CHECK(t, strstr(r.body, "\"ok\":false") != NULL, "%s: body %s", b->name, r.body);
	CHECK(t, cl_eof(&c), "%s: not closed after the answer", b->name);
	cl_close(&c);
}

static void test_bad_requests(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		cur_bad = &bad_cases[i];
		run(sc_bad, NULL);
	}
}

/* ---- timeouts (all 200 ms here) ---- */

/* A request stalled in its headers, or in its body: 408, then the close;
 * the handler never sees it. */
static void sc_timeouts(struct tsrv *t)
{
	static const char *const reqs[2][2] = {
	    {"POST /webhook HTTP/1.1\r\nHost: slow", "headers not received in time"},
	    {"POST /webhook HTTP/1.1\r\nContent-Length: 10\r\n\r\nabc",
	     "body not received in time"},
	};
	struct client c;
	struct resp r;
	int i;

	for (i = 0; i < 2; i++) {
		CHECK(t, cl_connect(&c, t->port), "connect");
		CHECK(t, cl_sends(&c, reqs[i][0]), "send");
		CHECK(t, cl_read(&c, &r), "%s: no answer", reqs[i][1]);
		CHECK(t, r.status == 408, "%s: status %d", reqs[i][1], r.status);
		CHECK(t, strstr(r.body, reqs[i][1]) != NULL, "body %s", r.body);
		CHECK(t, cl_eof(&c), "%s: not closed", reqs[i][1]);
		cl_close(&c);
	}
	CHECK(t, atomic_load(&t->handled) == 0, "the handler saw a partial request");
}

/* No request at all, and no next request after one: closed, no answer. */
static void sc_idle(struct tsrv *t)
{
	struct client c;
	struct resp r;

	CHECK(t, cl_connect(&c, t->port), "connect");
	CHECK(t, cl_eof(&c), "an idle connection was not closed");
	cl_close(&c);
	CHECK(t, cl_connect(&c, t->port), "connect");
	CHECK(t, cl_sends(&c, "GET /a HTTP/1.1\r\n\r\n"), "send");
	CHECK(t, cl_read(&c, &r) && r.status == 200, "no answer");
	CHECK(t, cl_eof(&c), "an idle keep-alive connection was not closed");
	cl_close(&c);
}

/* ---- the connection limit ---- */

static void sc_max_connections(struct tsrv *t)
{
	struct client a, b, c, d;
	struct resp r;
	int tries;

	CHECK(t, cl_connect(&a, t->port) && cl_connect(&b, t->port), "connect");
	/* Both accepted and served (so counted) before the third comes. */
	CHECK(t, cl_sends(&a, "GET /a HTTP/1.1\r\n\r\n") && cl_read(&a, &r), "a");
	CHECK(t, cl_sends(&b, "GET /b HTTP/1.1\r\n\r\n") && cl_read(&b, &r), "b");
	CHECK(t, cl_connect(&c, t->port), "connect c");
	CHECK(t, cl_read(&c, &r), "no answer on the connection over the limit");
	CHECK(t, r.status == 503, "status %d", r.status);
	CHECK(t, strstr(r.head, "Retry-After: 1\r\n") != NULL, "head %s", r.head);
	CHECK(t, strstr(r.head, "Connection: close\r\n") != NULL, "head %s", r.head);
	CHECK(t, cl_eof(&c), "not closed");
	cl_close(&c);
	/* The first two still work; once one leaves, a new one is served. */
	CHECK(t,
	      cl_sends(&a, "GET /a2 HTTP/1.1\r\n\r\n") && cl_read(&a, &r) &&
		  r.status == 200,
	      "a again");
	cl_close(&b);
	/* Once the server has seen b leave (a moment: retry while it says 503). */
	for (tries = 0; tries < 50; tries++) {
		CHECK(t, cl_connect(&d, t->port), "connect d");
		CHECK(t, cl_sends(&d, "GET /d HTTP/1.1\r\n\r\n") && cl_read(&d, &r), "d");
		if (r.status != 503)
			break;
		cl_close(&d);
		usleep(20000);
	}
	CHECK(t, r.status == 200, "d: status %d", r.status);
	cl_close(&a);
	cl_close(&d);
}

/* ---- answers given later, and closing under them ---- */

/* The handler's own status and extra headers reach the client. */
static void sc_later(struct tsrv *t)
{
	struct client c;
	struct resp r;

	CHECK(t, cl_connect(&c, t->port), "connect");
	CHECK(t, cl_sends(&c, "GET /slow HTTP/1.1\r\n\r\n"), "send");
	CHECK(t, cl_read(&c, &r), "no answer");
	CHECK(t, r.status == 200 && strstr(r.body, "/slow") != NULL, "body %s", r.body);
	CHECK(t, cl_sends(&c, "GET /teapot HTTP/1.1\r\n\r\n"), "send");
	CHECK(t, cl_read(&c, &r), "no answer");
	CHECK(t, r.status == 503 && strstr(r.head, "Retry-After: 5\r\n") != NULL,
	      "head %s", r.head);
	CHECK(t, strstr(r.head, "Connection: keep-alive\r\n") != NULL, "head %s", r.head);
	cl_close(&c);
}

/* The client leaves while its request is held: the late answer is
 * dropped, and nothing leaks (the loop closes). */
static void sc_client_leaves(struct tsrv *t)
{
	struct client c;

	CHECK(t, cl_connect(&c, t->port), "connect");
	CHECK(t, cl_sends(&c, "GET /slow HTTP/1.1\r\n\r\n"), "send");
	CHECK(t, wait_for(&t->holding, 1), "the handler did not hold the request");
	cl_close(&c);
	/* Answered into the closed connection; the server closes next (done). */
	CHECK(t, wait_for(&t->holding, 0), "the held request was never answered");
}

/* The server closes while a request waits for its handler: the connection
 * ends without an answer once the handler replies; new connections are
 * refused. */
static void sc_close_pending(struct tsrv *t)
{
	struct client c, other;

	CHECK(t, cl_connect(&c, t->port), "connect");
	CHECK(t, cl_connect(&other, t->port), "connect");
	CHECK(t, cl_sends(&c, "GET /hold HTTP/1.1\r\n\r\n"), "send");
	CHECK(t, wait_for(&t->holding, 1), "the handler was not called");
	uv_async_send(&t->close_srv);
	CHECK(t, cl_eof(&other), "an idle connection stayed open after the close");
	CHECK(t, cl_eof(&c), "the held connection was not closed (or got an answer)");
	cl_close(&c);
	cl_close(&other);
	CHECK(t, !cl_connect(&c, t->port), "the server still accepts after the close");
	cl_close(&c);
}

/* An open of an address in use, or not an address, fails with a message
 * and frees what it made (the loop still closes). */
static void test_open_errors(void **state)
{
	static const struct http_hooks hooks = {.request = handler};
	uv_loop_t loop;
	struct http_server *a = NULL, *b = NULL;
	char err[256] = "";
	int port = free_port();

	(void)state;
	unsetenv("LISTEN_FDS");
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(http_server_open(&loop, "127.0.0.1", port, &default_limits,
					  &hooks, &a, err, sizeof(err)),
			 0);
	assert_int_equal(http_server_open(&loop, "127.0.0.1", port, &default_limits,
					  &hooks, &b, err, sizeof(err)),
			 UV_EADDRINUSE);
	assert_null(b);
	assert_non_null(strstr(err, "127.0.0.1"));
	assert_true(http_server_open(&loop, "not-an-ip", port, &default_limits, &hooks,
				     &b, err, sizeof(err)) < 0);
	assert_int_equal(http_server_connections(a), 0);
	assert_int_equal(http_server_requests(a), 0);
	http_server_close(a);
	http_server_close(NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    SCENARIO(sc_keep_alive, 0, 0),
	    SCENARIO(sc_http10, 0, 0),
	    SCENARIO(sc_head, 0, 0),
	    SCENARIO(sc_expect, 0, 0),
	    SCENARIO(sc_pipelined, 0, 0),
	    SCENARIO(sc_trickle, 0, 0),
	    cmocka_unit_test(test_bad_requests),
	    SCENARIO(sc_timeouts, 200, 0),
	    SCENARIO(sc_idle, 200, 0),
	    SCENARIO(sc_max_connections, 0, 2),
	    SCENARIO(sc_later, 0, 0),
	    SCENARIO(sc_client_leaves, 0, 0),
	    SCENARIO(sc_close_pending, 0, 0),
	    cmocka_unit_test(test_open_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
