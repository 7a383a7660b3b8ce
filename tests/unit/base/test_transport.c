/* Unit tests for agent/base/transport.c: curl multi on a libuv loop, against a
 * small libuv HTTP server on 127.0.0.1 in the same loop. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <uv.h>

#include "base/transport.h"
#include "common/err.h"

#define MAX_CONNS 8

/* ---- a canned-answer HTTP server ---- */

struct server;

struct conn {
	uv_tcp_t tcp; /* first: the handle's address is the conn's */
	uv_write_t wr;
	struct server *srv;
	char req[8192];
	size_t len;
	int slot;
};

struct server {
	uv_tcp_t tcp;
	int port;
	const char *answer; /* NULL: read requests but never answer */
	bool close_after;   /* close the connection after answering */
	struct conn *conns[MAX_CONNS];
	int accepted;
	int answered;
	bool closed;
};

static void conn_closed(uv_handle_t *h)
{
	struct conn *c = (struct conn *)h;

	if (c->slot >= 0)
		c->srv->conns[c->slot] = NULL;
	free(c);
}

static void conn_close(struct conn *c)
{
	if (!uv_is_closing((uv_handle_t *)&c->tcp))
		uv_close((uv_handle_t *)&c->tcp, conn_closed);
}

static void conn_alloc(uv_handle_t *h, size_t hint, uv_buf_t *b)
{
	static char scratch[4096];
	struct conn *c = (struct conn *)h;

	size_t room = sizeof(c->req) - 1 - c->len;

	(void)hint;
	if (room > 0)
		*b = uv_buf_init(c->req + c->len, (unsigned)room);
	else
		*b = uv_buf_init(scratch, sizeof(scratch)); /* overflow: dropped */
}

static void conn_written(uv_write_t *w, int status)
{
	struct conn *c = w->data;

	(void)status;
	if (c->srv->close_after)
		conn_close(c);
}

static void conn_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
	struct conn *c = (struct conn *)s;
	struct server *srv = c->srv;
	uv_buf_t out;

	if (nread < 0) {
		conn_close(c);
		return;
	}
	if (b->base != c->req + c->len)
		return;
	c->len += (size_t)nread;
	c->req[c->len] = '\0';
	if (strstr(c->req, "\r\n\r\n") == NULL || srv->answer == NULL)
		return;
	/* GET requests only: one header block, one answer. */
	c->len = 0;
	srv->answered++;
	out = uv_buf_init((char *)srv->answer, (unsigned)strlen(srv->answer));
	c->wr.data = c;
	assert_int_equal(uv_write(&c->wr, s, &out, 1, conn_written), 0);
}

static void server_conn(uv_stream_t *l, int status)
{
	struct server *srv = (struct server *)l;
	struct conn *c;
	int i;

	assert_int_equal(status, 0);
	c = calloc(1, sizeof(*c));
	assert_non_null(c);
	c->srv = srv;
	c->slot = -1;
	assert_int_equal(uv_tcp_init(l->loop, &c->tcp), 0);
	assert_int_equal(uv_accept(l, (uv_stream_t *)&c->tcp), 0);
	for (i = 0; i < MAX_CONNS; i++)
		if (srv->conns[i] == NULL) {
			srv->conns[i] = c;
			c->slot = i;
			break;
		}
	srv->accepted++;
	assert_int_equal(uv_read_start((uv_stream_t *)&c->tcp, conn_alloc, conn_read), 0);
}

static void server_start(uv_loop_t *loop, struct server *srv, const char *answer,
			 bool close_after)
{
	struct sockaddr_in sa;
	struct sockaddr_storage ss;
	int sl = sizeof(ss);

	memset(srv, 0, sizeof(*srv));
	srv->answer = answer;
	srv->close_after = close_after;
	assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &sa), 0);
	assert_int_equal(uv_tcp_init(loop, &srv->tcp), 0);
	assert_int_equal(uv_tcp_bind(&srv->tcp, (struct sockaddr *)&sa, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&srv->tcp, 8, server_conn), 0);
	assert_int_equal(uv_tcp_getsockname(&srv->tcp, (struct sockaddr *)&ss, &sl), 0);
	srv->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

static void server_close(struct server *srv)
{
	int i;

	if (srv->closed)
		return;
	srv->closed = true;
	uv_close((uv_handle_t *)&srv->tcp, NULL);
	for (i = 0; i < MAX_CONNS; i++)
		if (srv->conns[i] != NULL)
			conn_close(srv->conns[i]);
}

/* ---- the fixture: a loop, a transport, a watchdog ---- */

struct fx {
	uv_loop_t loop;
	uv_timer_t watchdog;
	uv_timer_t action;
	struct transport *t;
	struct transport_req *req;
	struct server srv;
	bool have_srv;
	int calls;
	int result;
	long status;
	char body[4096];
	int restart; /* run the request this many more times */
};

static void watchdog_cb(uv_timer_t *t)
{
	(void)t;
	fail_msg("test took longer than 20 s");
}

static int fx_setup(void **state)
{
	struct transport_opts o = {.connect_timeout_ms = 5000, .stall_timeout_s = 10};
	struct fx *f = calloc(1, sizeof(*f));

	if (f == NULL || uv_loop_init(&f->loop) != 0)
		return -1;
	uv_timer_init(&f->loop, &f->watchdog);
	uv_timer_start(&f->watchdog, watchdog_cb, 20000, 0);
	uv_unref((uv_handle_t *)&f->watchdog);
	uv_timer_init(&f->loop, &f->action);
	if (transport_new(&f->loop, &o, &f->t) != 0)
		return -1;
	*state = f;
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	transport_req_free(f->req);
	transport_close(f->t);
	if (f->have_srv)
		server_close(&f->srv);
	uv_close((uv_handle_t *)&f->watchdog, NULL);
	uv_close((uv_handle_t *)&f->action, NULL);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	free(f);
	return 0;
}

static void done_cb(struct transport_req *req, int result, void *data)
{
	struct fx *f = data;

	assert_ptr_equal(req, f->req);
	f->calls++;
	f->result = result;
	f->status = req->status;
	snprintf(f->body, sizeof(f->body), "%s",
		 req->body.data != NULL ? req->body.data : "");
	if (f->restart > 0) {
		f->restart--;
		assert_int_equal(transport_start(req, done_cb, f), 0);
		return;
	}
	if (f->have_srv)
		server_close(&f->srv);
}

static void start_get(struct fx *f, const char *path, size_t max_body)
{
	char url[128];

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", f->srv.port, path);
	assert_int_equal(transport_req_new(f->t, max_body, &f->req), 0);
	curl_easy_setopt(f->req->easy, CURLOPT_URL, url);
	assert_int_equal(transport_start(f->req, done_cb, f), 0);
}

static void test_get(void **state)
{
	struct fx *f = *state;

	server_start(&f->loop, &f->srv,
		     "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n"
		     "Connection: close\r\n\r\nhello world",
		     true);
	f->have_srv = true;
	start_get(f, "/v1/sys/health", 1024);
	assert_int_equal(transport_started(f->t), 1);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(f->calls, 1);
	assert_int_equal(f->result, 0);
	assert_int_equal(f->status, 200);
	assert_string_equal(f->body, "hello world");
	assert_int_equal(f->req->body.len, 11);
	assert_string_equal(f->req->error, "");
}

/* Sockets of this process that a child would inherit. */
static int inheritable_sockets(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		int fd = atoi(e->d_name), fl;
		struct stat st;

		if (e->d_name[0] == '.' || fd == dirfd(d))
			continue;
		fl = fcntl(fd, F_GETFD);
		if (fl >= 0 && !(fl & FD_CLOEXEC) && fstat(fd, &st) == 0 &&
		    S_ISSOCK(st.st_mode))
			n++;
	}
	closedir(d);
	return n;
}

static int sockopt_cb(void *data, curl_socket_t fd, curlsocktype purpose)
{
	int *flags = data;

	(void)purpose;
	*flags = fcntl(fd, F_GETFD);
	return CURL_SOCKOPT_OK;
}

/* Connections (kept alive after the answer) and the multi handle's own
 * socket pair are close-on-exec: no child inherits them. */
static void test_sockets_close_on_exec(void **state)
{
	struct fx *f = *state;
	char url[128];
	int flags = -1;

	server_start(&f->loop, &f->srv, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		     false);
	f->have_srv = true;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", f->srv.port);
	assert_int_equal(transport_req_new(f->t, 1024, &f->req), 0);
	curl_easy_setopt(f->req->easy, CURLOPT_URL, url);
	curl_easy_setopt(f->req->easy, CURLOPT_SOCKOPTFUNCTION, sockopt_cb);
	curl_easy_setopt(f->req->easy, CURLOPT_SOCKOPTDATA, &flags);
	assert_int_equal(transport_start(f->req, done_cb, f), 0);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(f->status, 200);
	assert_true(flags >= 0);
	assert_true(flags & FD_CLOEXEC);
	assert_int_equal(inheritable_sockets(), 0);
}

static void test_error_status_is_an_answer(void **state)
{
	struct fx *f = *state;
	static const char answer[] =
	    "HTTP/1.1 503 Service Unavailable\r\n"
	    "Content-Type: application/json\r\nContent-Length: 30\r\n"
	    "Connection: close\r\n\r\n{\"errors\":[\"Vault is sealed\"]}";

	server_start(&f->loop, &f->srv, answer, true);
	f->have_srv = true;
	start_get(f, "/v1/secret/data/x", 1024);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(f->calls, 1);
	assert_int_equal(f->result, 0);
	assert_int_equal(f->status, 503);
	assert_string_equal(f->body, "{\"errors\":[\"Vault is sealed\"]}");
}

static void test_keepalive_reuse(void **state)
{
	struct fx *f = *state;

	/* No Connection: close: curl keeps the connection for the next run
	 * and closes it when the transport goes. */
	server_start(&f->loop, &f->srv, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		     false);
	f->have_srv = true;
	f->restart = 2;
	start_get(f, "/", 1024);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(f->calls, 3);
	assert_int_equal(f->result, 0);
	assert_string_equal(f->body, "ok");
	assert_int_equal(f->srv.answered, 3);
	assert_int_equal(f->srv.accepted, 1);
	assert_int_equal(transport_started(f->t), 3);
}

static void test_body_at_limit(void **state)
{
	struct fx *f = *state;

	server_start(&f->loop, &f->srv,
		     "HTTP/1.1 200 OK\r\nContent-Length: 16\r\n"
		     "Connection: close\r\n\r\n0123456789abcdef",
		     true);
	f->have_srv = true;
	start_get(f, "/", 16);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(f->result, 0);
	assert_string_equal(f->body, "0123456789abcdef");
}

static void test_body_too_big(void **state)
{
	struct fx *f = *state;

	/* The whole body arrives in one piece, larger than the limit. */
	server_start(&f->loop, &f->srv,
		     "HTTP/1.1 200 OK\r\nContent-Length: 40\r\n"
		     "Connection: close\r\n\r\n"
		     "0123456789012345678901234567890123456789",
		     true);
	f->have_srv = true;
	start_get(f, "/", 16);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(f->calls, 1);
	assert_int_equal(f->result, AOS_ETOOBIG);
	assert_string_equal(f->req->error, "answer larger than 16 bytes");
}

static void test_refused(void **state)
{
	struct fx *f = *state;

	/* Take a free port, then let it go: nothing listens there. */
	server_start(&f->loop, &f->srv, NULL, true);
	server_close(&f->srv);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	start_get(f, "/", 1024);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(f->calls, 1);
	assert_int_equal(f->result, AOS_EHTTP);
	assert_int_equal(f->status, 0);
	assert_true(f->req->error[0] != '\0');
}

static void cancel_cb(uv_timer_t *t)
{
	struct fx *f = t->data;

	assert_int_equal(f->srv.accepted, 1);
	transport_cancel(f->req);
	assert_int_equal(f->calls, 1); /* ran before transport_cancel returned */
	transport_cancel(f->req);      /* not running: left alone */
	assert_int_equal(f->calls, 1);
}

static void test_cancel(void **state)
{
	struct fx *f = *state;

	server_start(&f->loop, &f->srv, NULL, false);
	f->have_srv = true;
	start_get(f, "/", 1024);
	f->action.data = f;
	uv_timer_start(&f->action, cancel_cb, 200, 0);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(f->calls, 1);
	assert_int_equal(f->result, AOS_ECANCELED);
}

static void close_cb(uv_timer_t *t)
{
	struct fx *f = t->data;

	transport_close(f->t);
	assert_int_equal(f->calls, 1);
	assert_int_equal(f->result, AOS_ECANCELED);
	/* A closing transport refuses new work. */
	assert_int_equal(transport_start(f->req, done_cb, f), AOS_ECANCELED);
	f->t = NULL;
}

static void test_close_cancels(void **state)
{
	struct fx *f = *state;

	server_start(&f->loop, &f->srv, NULL, false);
	f->have_srv = true;
	start_get(f, "/", 1024);
	f->action.data = f;
	uv_timer_start(&f->action, close_cb, 200, 0);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(f->calls, 1);
	assert_null(f->t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_get, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_error_status_is_an_answer, fx_setup,
					    fx_teardown),
	    cmocka_unit_test_setup_teardown(test_keepalive_reuse, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_body_at_limit, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_body_too_big, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_refused, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_cancel, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_close_cancels, fx_setup, fx_teardown),
	    cmocka_unit_test_setup_teardown(test_sockets_close_on_exec, fx_setup,
					    fx_teardown),
	};
	int r;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	r = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return r;
}
