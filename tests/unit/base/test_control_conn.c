/* Unit tests for the generic control socket (agent/base/control.c and
 * control_conn.c): request framing over partial reads, the line bound, the
 * descriptors that come with a request and their bound, the connection
 * bound.  A client socket in this process talks to the server on a loop
 * run a turn at a time (UV_RUN_NOWAIT) until the awaited thing happened;
 * nothing waits on the clock. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/control_internal.h"

#define TURNS 200000 /* loop turns before a test gives up on a condition */

struct cfx {
	uv_loop_t loop;
	struct control *ctl;
	char dir[40];
	char path[80];
	bool fds_ok;
	unsigned nreq;
	char cmds[8][32];
	size_t nfds[8]; /* control_fds() in each request */
	size_t take;	/* descriptors the hook takes */
	int taken[CONTROL_FDS_MAX];
	size_t ntaken;
	char in[CONTROL_LINE_MAX * 2]; /* what a client read, not yet consumed */
	size_t inlen;
};

static bool admit(const struct control_peer *peer, void *data, bool *ret_fds_ok,
		  char *msg, size_t msglen)
{
	struct cfx *f = data;

	(void)msg;
	(void)msglen;
	assert_true(peer->identified);
	*ret_fds_ok = f->fds_ok;
	return true;
}

/* Answers every request at once: {"ok":true,"cmd":CMD}. */
static void request(struct control_conn *c, const cJSON *req, void *data)
{
	struct cfx *f = data;
	cJSON *o = cJSON_CreateObject();
	const char *cmd = cJSON_GetObjectItem(req, "cmd")->valuestring;

	assert_true(f->nreq < 8);
	snprintf(f->cmds[f->nreq], sizeof(f->cmds[0]), "%s", cmd);
	f->nfds[f->nreq] = control_fds(c);
	f->nreq++;
	f->ntaken += control_take_fds(c, f->taken + f->ntaken, f->take);
	cJSON_AddTrueToObject(o, "ok");
	cJSON_AddStringToObject(o, "cmd", cmd);
	control_reply(c, o);
}

static int cfx_setup(void **state)
{
	static const struct control_hooks hooks0 = {.admit = admit, .request = request};
	struct control_hooks hooks = hooks0;
	struct cfx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/aos-ctl-test.XXXXXX");
	if (mkdtemp(f->dir) == NULL || uv_loop_init(&f->loop) != 0)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/control.sock", f->dir);
	hooks.data = f;
	if (control_open(&f->loop, f->path, &hooks, 4, &f->ctl) != 0)
		return -1;
	*state = f;
	return 0;
}

static int cfx_teardown(void **state)
{
	struct cfx *f = *state;
	size_t i;

	control_close(f->ctl);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	for (i = 0; i < f->ntaken; i++)
		close(f->taken[i]);
	assert_int_equal(access(f->path, F_OK), -1); /* the socket file is gone */
	assert_int_equal(rmdir(f->dir), 0);
	free(f);
	return 0;
}

static int client(struct cfx *f)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", f->path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Sends all of s, running the loop when the socket is full. */
static void send_all(struct cfx *f, int fd, const char *s, size_t len)
{
	unsigned turns = 0;

	while (len > 0) {
		ssize_t w = send(fd, s, len, MSG_NOSIGNAL);

		if (w < 0) {
			assert_true(errno == EAGAIN && turns++ < TURNS);
			uv_run(&f->loop, UV_RUN_NOWAIT);
			continue;
		}
		s += w;
		len -= (size_t)w;
	}
}

static void send_str(struct cfx *f, int fd, const char *s)
{
	send_all(f, fd, s, strlen(s));
}

/* Sends s with the descriptors fds in one message. */
static void send_fds(int fd, const char *s, const int *fds, size_t n)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 100)];
		struct cmsghdr align;
	} cm;
	struct iovec iov = {(void *)s, strlen(s)};
	struct msghdr m = {.msg_iov = &iov,
			   .msg_iovlen = 1,
			   .msg_control = cm.buf,
			   .msg_controllen = CMSG_SPACE(sizeof(int) * n)};
	struct cmsghdr *h = CMSG_FIRSTHDR(&m);

	assert_true(n <= 100);
	memset(cm.buf, 0, sizeof(cm.buf));
	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	h->cmsg_len = CMSG_LEN(sizeof(int) * n);
	memcpy(CMSG_DATA(h), fds, sizeof(int) * n);
	assert_int_equal(sendmsg(fd, &m, MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* Reads the next line the server wrote to fd into line (without its
 * newline); returns false once the server closed the connection. */
static bool read_line(struct cfx *f, int fd, char *line, size_t size)
{
	unsigned turns;

	for (turns = 0; turns < TURNS; turns++) {
		char *nl = memchr(f->in, '\n', f->inlen);
		ssize_t n;

		if (nl != NULL) {
			size_t len = (size_t)(nl - f->in);

			assert_true(len < size);
			memcpy(line, f->in, len);
			line[len] = '\0';
			memmove(f->in, nl + 1, f->inlen - len - 1);
			f->inlen -= len + 1;
			return true;
		}
		n = recv(fd, f->in + f->inlen, sizeof(f->in) - f->inlen, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return false; /* reset: closed with our bytes unread */
		if (n > 0)
			f->inlen += (size_t)n;
		else
			uv_run(&f->loop, UV_RUN_NOWAIT);
	}
	fail_msg("no answer from the control socket");
	return false;
}

/* The connection the server keeps for the only client (after it accepted). */
static struct control_conn *server_conn(struct cfx *f)
{
	unsigned i;

	for (i = 0; i < TURNS && f->ctl->conns == NULL; i++)
		uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_non_null(f->ctl->conns);
	return f->ctl->conns;
}

/* Runs the loop until the server has read n bytes from the connection. */
static void until_received(struct cfx *f, struct control_conn *c, uint64_t n)
{
	unsigned i;

	for (i = 0; i < TURNS && c->received < n; i++)
		uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(c->received, n);
}

/* A request cut anywhere is handled once its newline arrives; two in one
 * read are both handled, in order. */
static void test_partial_lines(void **state)
{
	struct cfx *f = *state;
	int fd = client(f);
	struct control_conn *c = server_conn(f);
	char line[256];

	send_str(f, fd, "{\"cmd\":\"fir");
	until_received(f, c, 11);
	send_str(f, fd, "st\"}");
	until_received(f, c, 15);
	assert_int_equal(f->nreq, 0);
	send_str(f, fd, "\n{\"cmd\":\"second\"}\n{\"cmd\":\"third\"}\n{\"cmd\"");
	assert_true(read_line(f, fd, line, sizeof(line)));
	assert_string_equal(line, "{\"ok\":true,\"cmd\":\"first\"}");
	assert_true(read_line(f, fd, line, sizeof(line)));
	assert_string_equal(line, "{\"ok\":true,\"cmd\":\"second\"}");
	assert_true(read_line(f, fd, line, sizeof(line)));
	assert_string_equal(line, "{\"ok\":true,\"cmd\":\"third\"}");
	assert_int_equal(f->nreq, 3);
	/* the unfinished fourth is kept, not handled */
	assert_int_equal(c->in.len, 6);
	send_str(f, fd, ":\"x\"}\nnot json\n");
	assert_true(read_line(f, fd, line, sizeof(line)));
	assert_string_equal(line, "{\"ok\":true,\"cmd\":\"x\"}");
	assert_true(read_line(f, fd, line, sizeof(line)));
	assert_non_null(strstr(line, "\"ok\":false"));
	assert_non_null(strstr(line, "JSON object with a \\\"cmd\\\" string"));
	assert_int_equal(f->nreq, 4);
	close(fd);
}

/* A line of CONTROL_LINE_MAX bytes is a request; one byte more is refused
 * with a message, and the connection closed. */
static void test_line_bound(void **state)
{
	struct cfx *f = *state;
	char *big = malloc(CONTROL_LINE_MAX + 2);
	char line[512];
	int fd = client(f);
	size_t pre = strlen("{\"cmd\":\"big\",\"pad\":\"");

	assert_non_null(big);
	memcpy(big, "{\"cmd\":\"big\",\"pad\":\"", pre);
	memset(big + pre, 'a', CONTROL_LINE_MAX - pre - 2);
	memcpy(big + CONTROL_LINE_MAX - 2, "\"}\n", 3);
	send_all(f, fd, big, CONTROL_LINE_MAX + 1);
	assert_true(read_line(f, fd, line, sizeof(line)));
	assert_string_equal(line, "{\"ok\":true,\"cmd\":\"big\"}");

	/* One byte more than the bound, and the client waits for the answer:
	 * it comes without a further byte. */
	memset(big + pre, 'a', CONTROL_LINE_MAX + 1 - pre);
	send_all(f, fd, big, CONTROL_LINE_MAX + 1);
	assert_true(read_line(f, fd, line, sizeof(line)));
	assert_non_null(strstr(line, "\"ok\":false"));
	assert_non_null(strstr(line, "request line over 65536 bytes"));
	assert_false(read_line(f, fd, line, sizeof(line))); /* closed */
	assert_int_equal(f->nreq, 1);
	close(fd);

	/* Far over the bound, newline and all: the same. */
	fd = client(f);
	memset(big, 'a', CONTROL_LINE_MAX + 1);
	send_all(f, fd, big, CONTROL_LINE_MAX + 1);
	send_str(f, fd, "aaaa\n{\"cmd\":\"never\"}\n");
	assert_true(read_line(f, fd, line, sizeof(line)));
	assert_non_null(strstr(line, "request line over 65536 bytes"));
	assert_false(read_line(f, fd, line, sizeof(line)));
	assert_int_equal(f->nreq, 1);
	close(fd);
	free(big);
}

/* True once the write end of the pipe whose read end is rfd is closed
 * everywhere (the read end sees end of file). */
static bool pipe_closed(int rfd)
{
	char ch;

	return read(rfd, &ch, 1) == 0;
}

static void make_pipes(int (*p)[2], size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		assert_int_equal(pipe2(p[i], O_CLOEXEC | O_NONBLOCK), 0);
	}
}

/* Descriptors arrive with the request they were sent with; the hook takes
 * some, the others are closed when it returns; the next request has none. */
static void test_fds(void **state)
{
	struct cfx *f = *state;
	int p[3][2], w[3], fd;
	char line[256];
	size_t i;

	f->fds_ok = true;
	f->take = 1;
	fd = client(f);
	make_pipes(p, 3);
	for (i = 0; i < 3; i++)
		w[i] = p[i][1];
	send_fds(fd, "{\"cmd\":\"with\"}\n", w, 3);
	for (i = 0; i < 3; i++)
		close(p[i][1]); /* the server holds the only write ends now */
	send_str(f, fd, "{\"cmd\":\"without\"}\n");
	assert_true(read_line(f, fd, line, sizeof(line)));
	assert_true(read_line(f, fd, line, sizeof(line)));
	assert_int_equal(f->nreq, 2);
	assert_int_equal(f->nfds[0], 3);
	assert_int_equal(f->nfds[1], 0);
	assert_int_equal(f->ntaken, 1);
	/* the taken one is the first sent, and open; the others closed */
	assert_int_equal(write(f->taken[0], "x", 1), 1);
	assert_int_equal(read(p[0][0], line, 1), 1);
	assert_true(pipe_closed(p[1][0]));
	assert_true(pipe_closed(p[2][0]));
	for (i = 0; i < 3; i++)
		close(p[i][0]);
	close(fd);
}

/* A peer that may not send descriptors: they are closed as they arrive and
 * the request goes on without them. */
static void test_fds_not_allowed(void **state)
{
	struct cfx *f = *state;
	int p[1][2], fd;
	char line[256];

	f->fds_ok = false;
	f->take = 1;
	fd = client(f);
	make_pipes(p, 1);
	send_fds(fd, "{\"cmd\":\"with\"}\n", &p[0][1], 1);
	close(p[0][1]);
	assert_true(read_line(f, fd, line, sizeof(line)));
	assert_string_equal(line, "{\"ok\":true,\"cmd\":\"with\"}");
	assert_int_equal(f->nfds[0], 0);
	assert_int_equal(f->ntaken, 0);
	assert_true(pipe_closed(p[0][0]));
	close(p[0][0]);
	close(fd);
}

/* More than CONTROL_FDS_MAX with one request: refused, all closed; the
 * connection serves the next request. */
static void test_fds_over_bound(void **state)
{
	enum { N = CONTROL_FDS_MAX + 1 };
	struct cfx *f = *state;
	int p[N][2], w[N], fd;
	char line[256];
	size_t i;

	f->fds_ok = true;
	f->take = N;
	fd = client(f);
	make_pipes(p, N);
	for (i = 0; i < N; i++)
		w[i] = p[i][1];
	send_fds(fd, "{\"cmd\":\"many\"}\n", w, N);
	for (i = 0; i < N; i++)
		close(p[i][1]);
	assert_true(read_line(f, fd, line, sizeof(line)));
	assert_non_null(strstr(line, "\"ok\":false"));
	assert_non_null(strstr(line, "more than 64 descriptors"));
	assert_int_equal(f->nreq, 0); /* the hook never saw it */
	for (i = 0; i < N; i++) {
		assert_true(pipe_closed(p[i][0]));
		close(p[i][0]);
	}
	send_str(f, fd, "{\"cmd\":\"after\"}\n");
	assert_true(read_line(f, fd, line, sizeof(line)));
	assert_string_equal(line, "{\"ok\":true,\"cmd\":\"after\"}");
	close(fd);
}

/* Beyond max_connections a new connection gets one line and is closed. */
static void test_max_connections(void **state)
{
	struct cfx *f = *state;
	char line[256];
	int a, b;

	control_set_max_connections(f->ctl, 1);
	a = client(f);
	server_conn(f);
	b = client(f);
	assert_true(read_line(f, b, line, sizeof(line)));
	assert_non_null(strstr(line, "too many control connections"));
	assert_false(read_line(f, b, line, sizeof(line)));
	assert_int_equal(f->ctl->nconns, 1);
	send_str(f, a, "{\"cmd\":\"still\"}\n");
	assert_true(read_line(f, a, line, sizeof(line)));
	assert_string_equal(line, "{\"ok\":true,\"cmd\":\"still\"}");
	close(a);
	close(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_partial_lines, cfx_setup, cfx_teardown),
	    cmocka_unit_test_setup_teardown(test_line_bound, cfx_setup, cfx_teardown),
	    cmocka_unit_test_setup_teardown(test_fds, cfx_setup, cfx_teardown),
	    cmocka_unit_test_setup_teardown(test_fds_not_allowed, cfx_setup,
					    cfx_teardown),
	    cmocka_unit_test_setup_teardown(test_fds_over_bound, cfx_setup, cfx_teardown),
	    cmocka_unit_test_setup_teardown(test_max_connections, cfx_setup,
					    cfx_teardown),
	};

	log_init(LOG_LVL_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
