/* Unit tests for agent/base/http.c's cap on the bytes held by unauthenticated
 * requests (max_unauthenticated_bytes), on the harness of http_fixture.h
 * (max_header_bytes 1024, max_body_bytes 2048).
 *
 * What a request is charged, by allocation: its header buffer grows 256,
 * 512, 1024, 1227 bytes; a declared body of 2048 bytes is reserved whole,
 * 2049 with the terminator.  So "POST /a" declaring 2048 bytes holds
 * 256 + 2049 = 2305 bytes until it is answered.
 */
#include "http_fixture.h"

#define HELD_ONE 2305 /* one POST declaring 2048 bytes, see above */

static const char post_a[] = "POST /a HTTP/1.1\r\nContent-Length: 2048\r\n\r\n";

/* 2048 bytes of body. */
static bool send_body(struct client *c)
{
	char body[2048];

	memset(body, 'x', sizeof(body));
	return cl_send(c, body, sizeof(body));
}

/* "held":N of an answer of the harness's handler. */
static long held_of(const struct resp *r)
{
	const char *h = strstr(r->body, "\"held\":");

	return h != NULL ? strtol(h + 7, NULL, 10) : -1;
}

/* The cap 4096 holds one 2 KiB body (2305) but not two (4610). */
static void sc_second_body_refused(struct tsrv *t)
{
	struct client a, b, c, d;
	struct resp r;

	CHECK(t, cl_connect(&a, t->port), "connect");
	CHECK(t, cl_sends(&a, post_a), "send a");
	CHECK(t, wait_for(&t->heads, 1), "the head hook never saw a's request");
	/* Over the cap: 503 with Retry-After at once, no 100 Continue, closed. */
	CHECK(t, cl_connect(&b, t->port), "connect");
	CHECK(t,
	      cl_sends(&b, "POST /b HTTP/1.1\r\nExpect: 100-continue\r\n"
			   "Content-Length: 2048\r\n\r\n"),
	      "send b");
	CHECK(t, cl_read(&b, &r), "b: no answer");
	CHECK(t, r.status == 503, "b: status %d, wanted 503 before the body", r.status);
	CHECK(t, strstr(r.head, "Retry-After: 1\r\n") != NULL, "b: %s", r.head);
	CHECK(t, strstr(r.head, "Connection: close\r\n") != NULL, "b: %s", r.head);
	CHECK(t, strstr(r.body, "max_unauthenticated_bytes") != NULL, "b: %s", r.body);
	CHECK(t, cl_eof(&b), "b: not closed");
	cl_close(&b);
	CHECK(t, atomic_load(&t->over_answered) == 1, "over_budget not reported");
	/* A trusted sender is not charged: taken though the cap is full. */
	CHECK(t, cl_connect(&c, t->port), "connect");
	CHECK(t,
	      cl_sends(&c, "POST /trusted HTTP/1.1\r\nContent-Length: 2048\r\n\r\n") &&
		  send_body(&c),
	      "send trusted");
	CHECK(t, cl_read(&c, &r) && r.status == 200, "trusted: no 200");
	CHECK(t, held_of(&r) == HELD_ONE, "trusted: held %ld, only a's %d", held_of(&r),
	      HELD_ONE);
	cl_close(&c);
	/* a's body: answered, its bytes given back; on the same connection
	 * the next request holds only its own header buffer. */
	CHECK(t, send_body(&a), "a's body");
	CHECK(t, cl_read(&a, &r) && r.status == 200, "a: no 200");
	CHECK(t, held_of(&r) == HELD_ONE, "a: held %ld", held_of(&r));
	CHECK(t, cl_sends(&a, "GET /g HTTP/1.1\r\n\r\n") && cl_read(&a, &r), "a: GET");
	CHECK(t, held_of(&r) == 256, "after an answer: held %ld, wanted 256",
	      held_of(&r));
	/* And another 2 KiB body fits again. */
	CHECK(t, cl_connect(&d, t->port), "connect");
	CHECK(t,
	      cl_sends(&d, "POST /d HTTP/1.1\r\nContent-Length: 2048\r\n\r\n") &&
		  send_body(&d),
	      "send d");
	CHECK(t, cl_read(&d, &r) && r.status == 200, "d: status %d", r.status);
	cl_close(&a);
	cl_close(&d);
}

/* Headers that would pass the cap before they are complete: the connection
 * is closed without an answer (there is no request to answer yet). */
static void sc_headers_closed(struct tsrv *t)
{
	struct client a, b;
	struct resp r;
	char pad[700];

	CHECK(t, cl_connect(&a, t->port), "connect");
	CHECK(t, cl_sends(&a, post_a), "send a");
	CHECK(t, wait_for(&t->heads, 1), "the head hook never saw a's request");
	memset(pad, 'p', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	CHECK(t, cl_connect(&b, t->port), "connect");
	CHECK(t, cl_sends(&b, "POST /b HTTP/1.1\r\nX-Pad: ") && cl_sends(&b, pad),
	      "send b");
	CHECK(t, !cl_read(&b, &r), "b: answered %d with incomplete headers", r.status);
	CHECK(t, b.len == 0, "b: %zu bytes came back", b.len);
	cl_close(&b);
	CHECK(t, atomic_load(&t->over) == 1 && atomic_load(&t->over_answered) == 0,
	      "over_budget: %d, answered %d", atomic_load(&t->over),
	      atomic_load(&t->over_answered));
	CHECK(t, send_body(&a) && cl_read(&a, &r) && r.status == 200, "a: no 200");
	cl_close(&a);
}

/* The head hook answers before the body: the body is never waited for,
 * and the request's bytes go back with the answer, not when the lingering
 * close ends. */
static void sc_refused_at_headers(struct tsrv *t)
{
	struct client c, g;
	struct resp r;

	CHECK(t, cl_connect(&c, t->port), "connect");
	CHECK(t, cl_sends(&c, "POST /refuse HTTP/1.1\r\nContent-Length: 2048\r\n\r\n"),
	      "send");
	CHECK(t, cl_read(&c, &r), "no answer before the body");
	CHECK(t, r.status == 401, "status %d", r.status);
	CHECK(t, strstr(r.head, "Connection: close\r\n") != NULL, "%s", r.head);
	CHECK(t, cl_connect(&g, t->port), "connect");
	CHECK(t, cl_sends(&g, "GET /g HTTP/1.1\r\n\r\n") && cl_read(&g, &r), "GET");
	CHECK(t, held_of(&r) == 256, "held %ld while the refused connection lingers",
	      held_of(&r));
	cl_close(&g);
	CHECK(t, cl_eof(&c), "not closed");
	cl_close(&c);
	CHECK(t, atomic_load(&t->handled) == 1, "the handler saw the refused request");
}

/* A connection that leaves mid-body gives its bytes back. */
static void sc_released_on_close(struct tsrv *t)
{
	struct client a, b;
	struct resp r;
	int tries;

	CHECK(t, cl_connect(&a, t->port), "connect");
	CHECK(t, cl_sends(&a, post_a) && cl_send(&a, "xyz", 3), "send a");
	CHECK(t, wait_for(&t->heads, 1), "the head hook never saw a's request");
	cl_close(&a);
	for (tries = 0; tries < 50; tries++) {
		CHECK(t, cl_connect(&b, t->port), "connect");
		CHECK(t, cl_sends(&b, "POST /b HTTP/1.1\r\nContent-Length: 2048\r\n\r\n"),
		      "b");
		(void)send_body(&b); /* fails when refused: the answer says */
		CHECK(t, cl_read(&b, &r), "b: no answer");
		cl_close(&b);
		if (r.status != 503)
			break;
		usleep(20000);
	}
	CHECK(t, r.status == 200, "b: status %d after a left", r.status);
	CHECK(t, held_of(&r) == HELD_ONE, "b: held %ld", held_of(&r));
}

/* Bytes pipelined behind a request are charged: when they do not fit, the
 * answer closes the connection and the next request is not read. */
static void sc_pipelined_over(struct tsrv *t)
{
	static const char slow[] = "GET /slow HTTP/1.1\r\n\r\n";
	char two[1024];
	struct client c;
	struct resp r;
	size_t pad;

	for (pad = 300; pad <= 700; pad += 400) {
		int n = snprintf(two, sizeof(two),
				 "%sGET /next HTTP/1.1\r\nX-Pad: %0*d\r\n\r\n", slow,
				 (int)pad, 0);

		CHECK(t, n > 0 && (size_t)n < sizeof(two), "request");
		CHECK(t, cl_connect(&c, t->port), "connect");
		CHECK(t, cl_sends(&c, two), "send");
		CHECK(t, cl_read(&c, &r) && r.status == 200, "pad %zu: /slow", pad);
		if (pad == 300) { /* 256 + 330 <= 800: both answered */
			CHECK(t, cl_read(&c, &r) && strstr(r.body, "/next") != NULL,
			      "pad 300: no answer to the pipelined request");
		} else { /* 256 + 730 > 800: closed after /slow */
			CHECK(t, strstr(r.head, "Connection: close\r\n") != NULL, "%s",
			      r.head);
			CHECK(t, cl_eof(&c), "pad 700: not closed");
		}
		cl_close(&c);
	}
}

/* A chunked body is charged as its buffer grows, by allocation. */
static void sc_chunked(struct tsrv *t)
{
	char chunk[1500];
	struct client c;
	struct resp r;
	long held;

	memset(chunk, 'x', sizeof(chunk));
	CHECK(t, cl_connect(&c, t->port), "connect");
	CHECK(t,
	      cl_sends(&c,
		       "POST /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5dc\r\n") &&
		  cl_send(&c, chunk, sizeof(chunk)) && cl_sends(&c, "\r\n0\r\n\r\n"),
	      "send");
	CHECK(t, cl_read(&c, &r) && r.status == 200, "no 200");
	held = held_of(&r);
	CHECK(t, held >= 256 + 1501 && held <= 256 + 2049,
	      "held %ld for a 1500-byte body", held);
	cl_close(&c);
}

#define BUDGET(f, bytes)                                                                 \
	{                                                                                \
		.name = #f, .test_func = test_scenario,                                  \
		.initial_state = &(struct sc_case)                                       \
		{                                                                        \
			f, 0, 0, bytes                                                   \
		}                                                                        \
	}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    BUDGET(sc_second_body_refused, 4096), BUDGET(sc_headers_closed, 2305 + 600),
	    BUDGET(sc_refused_at_headers, 4096),  BUDGET(sc_released_on_close, 4096),
	    BUDGET(sc_pipelined_over, 800),	  BUDGET(sc_chunked, 4096),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
