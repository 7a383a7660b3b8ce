/* http_fixture.h - the harness of the listener's unit tests (test_http.c,
 * test_http_budget.c): a real libuv loop on 127.0.0.1 with agent/base/http.c,
 * driven by a blocking client in a second thread.
 *
 * The server's handler answers {"url": ..., "n": <requests handled>,
 * "held": <unauthenticated bytes held when answering>}; /slow 100 ms later,
 * /hold when the client asks the server to close, /teapot 503.  Its head
 * hook trusts /trusted and answers /refuse 401 before the body; every
 * other request is untrusted.
 *
 * The client thread never calls cmocka: it records the first failed check
 * in t->err, and the main thread fails the test with it after joining.
 * Header-only (static inline) so each test stays one executable.
 */
#ifndef AOS_TEST_HTTP_FIXTURE_H
#define AOS_TEST_HTTP_FIXTURE_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "base/http.h"

struct tsrv;
typedef void (*scenario)(struct tsrv *t);

struct tsrv {
	uv_loop_t loop;
	struct http_server *srv;
	struct http_limits lim;
	int port;
	uv_async_t done;      /* the client finished */
	uv_async_t close_srv; /* the client asks for http_server_close() */
	uv_timer_t later;     /* answers a held request */
	struct http_conn *held;
	char held_url[256];
	atomic_int handled;	  /* handler calls */
	atomic_int holding;	  /* a request waits for its answer */
	atomic_int heads;	  /* head hook calls */
	atomic_int over;	  /* over_budget calls */
	atomic_int over_answered; /* ... of which answered 503 */
	unsigned long requests_at_end;
	scenario run;
	pthread_t thread;
	char err[512]; /* first failed check of the client */
};

/* ---- the server side (loop thread) ---- */

static inline void reply_url(struct tsrv *t, struct http_conn *c, const char *url, int n)
{
	char body[400];
	int len = snprintf(
	    body, sizeof(body), "{\"url\":\"%.300s\",\"n\":%d,\"held\":%zu}", url, n,
	    t->srv != NULL ? http_server_unauthenticated_bytes(t->srv) : 0);

	http_reply(c, 200, "X-Test: 1\r\n", body, (size_t)len);
}

static inline void later_cb(uv_timer_t *h)
{
	struct tsrv *t = h->data;
	struct http_conn *c = t->held;

	t->held = NULL;
	if (c != NULL)
		reply_url(t, c, t->held_url, atomic_load(&t->handled));
	atomic_store(&t->holding, 0); /* answered: the reply is handed over */
}

/* /slow: answered 100 ms later; /hold: answered when the client asks the
 * server to close (then 50 ms later); anything else: at once. */
static inline void handler(struct http_conn *c, const struct http_request *r, void *data)
{
	struct tsrv *t = data;
	int n = atomic_fetch_add(&t->handled, 1) + 1;

	if (strcmp(r->url, "/slow") == 0 || strcmp(r->url, "/hold") == 0) {
		t->held = c;
		snprintf(t->held_url, sizeof(t->held_url), "%s", r->url);
		atomic_store(&t->holding, 1);
		if (strcmp(r->url, "/slow") == 0)
			uv_timer_start(&t->later, later_cb, 100, 0);
		return;
	}
	if (strcmp(r->url, "/teapot") == 0) {
		http_reply(c, 503, "Retry-After: 5\r\n", "{}", 2);
		return;
	}
	reply_url(t, c, r->url, n);
}

/* /trusted: the sender counts as authenticated; /refuse: 401 before the
 * body; anything else: untrusted. */
static inline enum http_admit head_hook(struct http_conn *c, const struct http_request *r,
					void *data)
{
	struct tsrv *t = data;

	atomic_fetch_add(&t->heads, 1);
	if (strcmp(r->url, "/trusted") == 0)
		return HTTP_ADMIT_TRUSTED;
	if (strcmp(r->url, "/refuse") == 0) {
		http_reply(c, 401, NULL, "{\"ok\":false}", 12);
		return HTTP_ADMIT_ANSWERED;
	}
	return HTTP_ADMIT_UNTRUSTED;
}

static inline void over_budget_hook(struct http_conn *c, bool answered, const char *why,
				    void *data)
{
	struct tsrv *t = data;

	(void)c;
	(void)why;
	atomic_fetch_add(&t->over, 1);
	if (answered)
		atomic_fetch_add(&t->over_answered, 1);
}

static inline void close_srv_cb(uv_async_t *h)
{
	struct tsrv *t = h->data;

	if (t->srv != NULL) {
		t->requests_at_end = http_server_requests(t->srv);
		http_server_close(t->srv);
		t->srv = NULL;
	}
	if (t->held != NULL)
		uv_timer_start(&t->later, later_cb, 50, 0);
}

static inline void done_cb(uv_async_t *h)
{
	struct tsrv *t = h->data;

	close_srv_cb(&t->close_srv);
	uv_close((uv_handle_t *)&t->done, NULL);
	uv_close((uv_handle_t *)&t->close_srv, NULL);
	uv_close((uv_handle_t *)&t->later, NULL);
}

static inline void *client_main(void *arg)
{
	struct tsrv *t = arg;

	t->run(t);
	uv_async_send(&t->done);
	return NULL;
}

/* A port nobody listens on now (bound and released). */
static inline int free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	assert_true(fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

static const struct http_limits default_limits = {
    .max_header_bytes = 1024,
    .max_body_bytes = 2048,
    .header_timeout_ms = 3000,
    .body_timeout_ms = 3000,
    .idle_timeout_ms = 3000,
    .max_connections = 8,
};

/* Runs scenario s against a fresh server with limits lim (NULL: the
 * defaults); fails the test with the client's first failed check. */
static inline void run(scenario s, const struct http_limits *lim)
{
	struct tsrv *t = calloc(1, sizeof(*t));
	struct http_hooks hooks = {handler, head_hook, over_budget_hook, NULL};
	char err[256];
	int r, tries;

	assert_non_null(t);
	hooks.data = t;
	unsetenv("LISTEN_FDS");
	t->lim = lim != NULL ? *lim : default_limits;
	t->run = s;
	assert_int_equal(uv_loop_init(&t->loop), 0);
	for (tries = 0; tries < 5; tries++) {
		t->port = free_port();
		r = http_server_open(&t->loop, "127.0.0.1", t->port, &t->lim, &hooks,
				     &t->srv, err, sizeof(err));
		if (r != UV_EADDRINUSE)
			break;
	}
	if (r != 0)
		fail_msg("http_server_open: %s", err);
	uv_async_init(&t->loop, &t->done, done_cb);
	uv_async_init(&t->loop, &t->close_srv, close_srv_cb);
	uv_timer_init(&t->loop, &t->later);
	t->done.data = t->close_srv.data = t->later.data = t;
	assert_int_equal(pthread_create(&t->thread, NULL, client_main, t), 0);
	uv_run(&t->loop, UV_RUN_DEFAULT);
	assert_int_equal(pthread_join(t->thread, NULL), 0);
	assert_int_equal(uv_loop_close(&t->loop), 0);
	if (t->err[0] != '\0')
		fail_msg("%s", t->err);
	free(t);
}

/* ---- the client side (its own thread, blocking sockets) ---- */

#define CHECK(t, cond, ...)                                                              \
	do {                                                                             \
		if (!(cond)) {                                                           \
			if ((t)->err[0] == '\0') {                                       \
				int n_ = snprintf((t)->err, sizeof((t)->err),            \
						  "line %d: ", __LINE__);                \
				snprintf((t)->err + n_, sizeof((t)->err) - (size_t)n_,   \
					 __VA_ARGS__);                                   \
			}                                                                \
			return;                                                          \
		}                                                                        \
	} while (0)

struct client {
	int fd;
	char buf[16384];
	size_t len;
};

struct resp {
	int status;
	char head[2048];
	char body[2048];
};

static inline bool cl_connect(struct client *c, int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	struct timeval tv = {.tv_sec = 5};

	memset(c, 0, sizeof(*c));
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (c->fd < 0)
		return false;
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return connect(c->fd, (struct sockaddr *)&a, sizeof(a)) == 0;
}

static inline bool cl_send(struct client *c, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);

		if (n <= 0)
			return false;
		data += n;
		len -= (size_t)n;
	}
	return true;
}

static inline bool cl_sends(struct client *c, const char *s)
{
	return cl_send(c, s, strlen(s));
}

/* Reads one answer: headers, then Content-Length bytes unless it answers a
 * HEAD (with_body false).  Returns false on EOF, a reset or a timeout
 * before a whole answer. */
static inline bool cl_read_answer(struct client *c, struct resp *r, bool with_body)
{
	char *end;
	size_t hlen, clen = 0;

	memset(r, 0, sizeof(*r));
	for (;;) {
		ssize_t n;

		c->buf[c->len] = '\0';
		end = strstr(c->buf, "\r\n\r\n");
		if (end != NULL) {
			const char *cl;

			hlen = (size_t)(end - c->buf) + 4;
			snprintf(r->head, sizeof(r->head), "%.*s", (int)hlen, c->buf);
			cl = strstr(r->head, "Content-Length: ");
			clen = cl != NULL && with_body ? strtoul(cl + 16, NULL, 10) : 0;
			if (c->len >= hlen + clen)
				break;
		}
		if (c->len + 1 >= sizeof(c->buf))
			return false;
		n = recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, 0);
		if (n <= 0)
			return false;
		c->len += (size_t)n;
	}
	if (sscanf(r->head, "HTTP/1.1 %d ", &r->status) != 1)
		return false;
	snprintf(r->body, sizeof(r->body), "%.*s", (int)clen, c->buf + hlen);
	memmove(c->buf, c->buf + hlen + clen, c->len - hlen - clen);
	c->len -= hlen + clen;
	return true;
}

static inline bool cl_read(struct client *c, struct resp *r)
{
	return cl_read_answer(c, r, true);
}

/* True when the server closed the connection in order (FIN, no reset). */
static inline bool cl_eof(struct client *c)
{
	char b[4096];
	ssize_t n;

	if (c->len > 0)
		return false;
	while ((n = recv(c->fd, b, sizeof(b), 0)) > 0)
		;
	return n == 0;
}

static inline void cl_close(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* Waits up to 5 s for *v == want; false if it never came. */
static inline bool wait_for(atomic_int *v, int want)
{
	int i;

	for (i = 0; i < 500 && atomic_load(v) != want; i++)
		usleep(10000);
	return atomic_load(v) == want;
}

/* One scenario against a fresh server (initial state: a struct sc_case). */
struct sc_case {
	scenario fn;
	uint64_t timeout_ms;	/* every timeout (0: the default) */
	size_t max_connections; /* 0: the default */
	size_t budget;		/* max_unauthenticated_bytes (0: none) */
};

static inline void test_scenario(void **state)
{
	const struct sc_case *c = *state;
	struct http_limits lim = default_limits;

	if (c->timeout_ms > 0)
		lim.header_timeout_ms = lim.body_timeout_ms = lim.idle_timeout_ms =
		    c->timeout_ms;
	if (c->max_connections > 0)
		lim.max_connections = c->max_connections;
	lim.max_unauthenticated_bytes = c->budget;
	run(c->fn, &lim);
}

#define SCENARIO(f, ms, conns)                                                           \
	{                                                                                \
		.name = #f, .test_func = test_scenario,                                  \
		.initial_state = &(struct sc_case)                                       \
		{                                                                        \
			f, ms, conns, 0                                                  \
		}                                                                        \
	}

#endif
