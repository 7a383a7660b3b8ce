/* queue_listen.c - the LISTEN connection on the loop.  See queue_listen.h.
 *
 * States: DOWN (no connection; the timer waits out the backoff), RESOLVING
 * (a host name looked up on libuv's thread pool: libpq would call
 * getaddrinfo() itself, blocking, inside PQconnectPoll), CONNECTING
 * (PQconnectPoll says which way to poll the socket next), SENT (`LISTEN`
 * sent, its answer awaited), LISTENING (reads notifications).  The timer
 * bounds CONNECTING and SENT by connect_timeout_ms and waits the backoff
 * in DOWN.  libpq may change its socket while it connects (another
 * address, TLS refused then plain), so the uv_poll_t is allocated per
 * socket and freed in its close callback; l is freed when its timer and
 * every poll handle it closed are gone.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "common/backoff.h"
#include "queue/queue_listen.h"

#define ERR_MAX 256
#define ADDRS_MAX 4 /* addresses of a host name tried, in the resolver's order */

enum state { DOWN, RESOLVING, CONNECTING, SENT, LISTENING };

struct queue_listen {
	uv_loop_t *loop;
	struct queue_listen_opts o;
	uv_timer_t timer;
	uv_getaddrinfo_t gai; /* in flight while gai_busy */
	bool gai_busy;
	/* what it found: libpq's hostaddr and host lists */
	char addrs[ADDRS_MAX * (INET6_ADDRSTRLEN + 1)];
	char names[ADDRS_MAX * (QUEUE_PG_HOST_MAX + 1)];
	uv_poll_t *poll; /* on fd, or NULL */
	int fd;
	PGconn *conn;
	enum state st;
	unsigned attempt; /* failures in a row, for the backoff */
	unsigned handles; /* the timer, the polls being closed, a lookup */
	bool closing;
	void (*closed)(void *data);
	void *closed_data;
	char err[ERR_MAX];
};

static void connect_now(struct queue_listen *l);
static void poll_cb(uv_poll_t *p, int status, int events);

static void maybe_free(struct queue_listen *l)
{
	void (*closed)(void *data) = l->closed;
	void *data = l->closed_data;

	if (--l->handles > 0)
		return;
	free(l);
	if (closed != NULL)
		closed(data);
}

static void poll_closed(uv_handle_t *h)
{
	struct queue_listen *l = h->data;

	free(h);
	maybe_free(l);
}

static void timer_closed(uv_handle_t *h)
{
	maybe_free(h->data);
}

static void poll_drop(struct queue_listen *l)
{
	if (l->poll == NULL)
		return;
	uv_close((uv_handle_t *)l->poll, poll_closed); /* stops it too */
	l->poll = NULL;
	l->fd = -1;
}

/* Polls libpq's socket for events (UV_READABLE / UV_WRITABLE), on a new
 * handle when the socket changed.  0 or a negative code. */
static int poll_on(struct queue_listen *l, int events)
{
	int fd = PQsocket(l->conn);
	int r;

	if (fd < 0)
		return -EBADF;
	if (l->poll != NULL && l->fd != fd)
		poll_drop(l);
	if (l->poll == NULL) {
		l->poll = malloc(sizeof(*l->poll));
		if (l->poll == NULL)
			return -ENOMEM;
		r = uv_poll_init(l->loop, l->poll, fd);
		if (r < 0) {
			free(l->poll);
			l->poll = NULL;
			return r;
		}
		l->handles++;
		l->poll->data = l;
		l->fd = fd;
	}
	return uv_poll_start(l->poll, events, poll_cb);
}

/* One line of libpq's message, after what. */
static void set_err(struct queue_listen *l, const char *what)
{
	const char *m = l->conn != NULL ? PQerrorMessage(l->conn) : "";

	snprintf(l->err, sizeof(l->err), "%s%s%s", what, m[0] != '\0' ? ": " : "", m);
	l->err[strcspn(l->err, "\n")] = '\0';
}

static void timer_cb(uv_timer_t *t);

static void ignore_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* The connection failed or was lost: close it, connect again after the
 * backoff. */
static void down(struct queue_listen *l, const char *what)
{
	uint64_t ms;

	if (what != NULL) /* NULL: l->err says it already */
		set_err(l, what);
	poll_drop(l);
	PQfinish(l->conn); /* accepts NULL; wipes libpq's copy of the password */
	l->conn = NULL;
	l->st = DOWN;
	ms = backoff_delay_ms(l->attempt, l->o.backoff_min_ms, l->o.backoff_max_ms,
			      aos_rand_u64, NULL);
	if (l->attempt < 30)
		l->attempt++;
	uv_timer_start(&l->timer, timer_cb, ms, 0);
}

static void timer_cb(uv_timer_t *t)
{
	struct queue_listen *l = t->data;

	if (l->st == DOWN)
		connect_now(l);
	else if (l->st != LISTENING)
		down(l, l->st == RESOLVING    ? "the host name's lookup timed out"
			: l->st == CONNECTING ? "connect timed out"
					      : "LISTEN timed out");
}

/* Sends `LISTEN` on the connection just made. */
static void send_listen(struct queue_listen *l)
{
	int f;

	if (PQsetnonblocking(l->conn, 1) != 0 ||
	    PQsendQuery(l->conn, "LISTEN " QUEUE_LISTEN_CHANNEL) != 1) {
		down(l, "cannot send LISTEN");
		return;
	}
	l->st = SENT;
	/* 1: more to send, wait until writable; 0: all sent */
	f = PQflush(l->conn);
	if (f < 0 || poll_on(l, UV_READABLE | (f == 1 ? UV_WRITABLE : 0)) < 0)
		down(l, "cannot send LISTEN");
}

/* One step of the connect, as PQconnectPoll says. */
static void connect_step(struct queue_listen *l)
{
	switch (PQconnectPoll(l->conn)) {
	case PGRES_POLLING_READING:
		if (poll_on(l, UV_READABLE) < 0)
			down(l, "cannot poll the connection");
		return;
	case PGRES_POLLING_WRITING:
		if (poll_on(l, UV_WRITABLE) < 0)
			down(l, "cannot poll the connection");
		return;
	case PGRES_POLLING_OK: send_listen(l); return;
	default: down(l, "cannot connect"); return;
	}
}

/* Starts the connect; to the addresses of l->addrs when the name was
 * looked up here (the name stays, for the certificate's check and the
 * passfile). */
static void connect_start(struct queue_listen *l, bool looked_up)
{
	struct queue_pg_params p;

	if (queue_pg_conn_params(l->o.conn, &p) < 0) {
		down(l, "out of memory");
		return;
	}
	/* a later "host" replaces the settings' one */
	if (looked_up && (queue_pg_params_add(&p, "hostaddr", l->addrs) < 0 ||
			  queue_pg_params_add(&p, "host", l->names) < 0)) {
		queue_pg_params_clear(&p);
		down(l, "too many connection settings");
		return;
	}
	/* expand_dbname 0: the database name is a name */
	l->conn = PQconnectStartParams(p.keys, p.values, 0);
	queue_pg_params_clear(&p); /* libpq copied what it needs */
	if (l->conn == NULL || PQstatus(l->conn) == CONNECTION_BAD) {
		down(l, "cannot connect");
		return;
	}
	/* library code does not log: no NOTICE or FATAL text on stderr */
	PQsetNoticeProcessor(l->conn, ignore_notice, NULL);
	l->st = CONNECTING;
	connect_step(l);
}

/* The addresses of res (ADDRS_MAX at most) as libpq's lists: hostaddr
 * "a1,a2", host "name,name" (one name per address: libpq pairs them, and
 * checks the certificate against the name).  The number of addresses. */
static int addr_lists(const struct addrinfo *res, const char *name, char *addrs,
		      size_t alen, char *names, size_t nlen)
{
	char one[INET6_ADDRSTRLEN];
	size_t at = 0, nat = 0;
	int n = 0;

	addrs[0] = names[0] = '\0';
	for (; res != NULL && n < ADDRS_MAX; res = res->ai_next) {
		const void *a =
		    res->ai_family == AF_INET
			? (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr
		    : res->ai_family == AF_INET6
			? (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr
			: NULL;

		if (a == NULL || inet_ntop(res->ai_family, a, one, sizeof(one)) == NULL)
			continue;
		at += (size_t)snprintf(addrs + at, alen - at, "%s%s", n > 0 ? "," : "",
				       one);
		nat += (size_t)snprintf(names + nat, nlen - nat, "%s%s", n > 0 ? "," : "",
					name);
		n++;
	}
	return n;
}

static void gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct queue_listen *l = req->data;
	const char *host = queue_pg_conn_host(l->o.conn);
	int n;

	l->gai_busy = false;
	n = status == 0 ? addr_lists(res, host, l->addrs, sizeof(l->addrs), l->names,
				     sizeof(l->names))
			: 0;
	uv_freeaddrinfo(res);
	if (l->closing) {
		maybe_free(l);
		return;
	}
	l->handles--;		/* not the last: the timer is open */
	if (l->st != RESOLVING) /* timed out, or reopened meanwhile */
		return;
	if (n == 0) {
		snprintf(l->err, sizeof(l->err), "cannot resolve \"%.100s\": %s", host,
			 status < 0 ? uv_strerror(status) : "no address");
		down(l, NULL);
		return;
	}
	connect_start(l, true);
}

/* A name (not an address, not a socket folder) is looked up on the thread
 * pool first; then the connect.  The timer bounds both. */
static void connect_now(struct queue_listen *l)
{
	const char *host = queue_pg_conn_host(l->o.conn);
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM};
	unsigned char buf[16];
	int r;

	uv_timer_start(&l->timer, timer_cb, l->o.connect_timeout_ms, 0);
	l->st = RESOLVING;
	if (l->gai_busy) /* a lookup is out still (a reopen): its answer will do */
		return;
	if (host == NULL || host[0] == '/' || inet_pton(AF_INET, host, buf) == 1 ||
	    inet_pton(AF_INET6, host, buf) == 1) {
		connect_start(l, false); /* nothing to look up */
		return;
	}
	l->gai.data = l;
	r = uv_getaddrinfo(l->loop, &l->gai, gai_cb, host, NULL, &hints);
	if (r < 0) {
		snprintf(l->err, sizeof(l->err), "cannot resolve \"%.100s\": %s", host,
			 uv_strerror(r));
		down(l, NULL);
		return;
	}
	l->gai_busy = true;
	l->handles++;
}

/* Reads what arrived: `LISTEN`'s answer (SENT) or notifications.  Returns
 * how many notifications, or -1 when the connection is lost. */
static int read_input(struct queue_listen *l)
{
	PGnotify *n;
	PGresult *r;
	int count = 0;

	if (PQconsumeInput(l->conn) != 1)
		return -1;
	while (!PQisBusy(l->conn) && (r = PQgetResult(l->conn)) != NULL) {
		ExecStatusType st = PQresultStatus(r);

		PQclear(r);
		if (l->st != SENT || st != PGRES_COMMAND_OK)
			return -1; /* a FATAL from the server, or LISTEN refused */
		l->st = LISTENING;
	}
	if (PQstatus(l->conn) != CONNECTION_OK)
		return -1;
	while ((n = PQnotifies(l->conn)) != NULL) {
		count++;
		PQfreemem(n);
	}
	return count;
}

static void poll_cb(uv_poll_t *p, int status, int events)
{
	struct queue_listen *l = p->data;
	bool was_sent = l->st == SENT;
	int n;

	if (status < 0) {
		down(l, "the connection failed");
		return;
	}
	if (l->st == CONNECTING) {
		connect_step(l);
		return;
	}
	if (events & UV_WRITABLE) {
		int f = PQflush(l->conn); /* 0 sent, 1 more to send, -1 failed */

		if (f < 0 || (f == 0 && poll_on(l, UV_READABLE) < 0)) {
			down(l, "cannot send LISTEN");
			return;
		}
	}
	if (!(events & UV_READABLE))
		return;
	n = read_input(l);
	if (n < 0) {
		down(l, was_sent ? "LISTEN failed" : "the connection was lost");
		return;
	}
	if (was_sent && l->st == LISTENING) {
		uv_timer_stop(&l->timer);
		l->attempt = 0;
		l->err[0] = '\0';
		l->o.wake(l, l->o.data); /* what was sent while away is lost */
	} else if (n > 0) {
		l->o.wake(l, l->o.data);
	}
}

int queue_listen_start(uv_loop_t *loop, const struct queue_listen_opts *o,
		       struct queue_listen **ret)
{
	struct queue_listen *l;
	int r;

	*ret = NULL;
	if (o == NULL || o->conn == NULL || o->wake == NULL)
		return -EINVAL;
	l = calloc(1, sizeof(*l));
	if (l == NULL)
		return -ENOMEM;
	l->loop = loop;
	l->o = *o;
	if (l->o.backoff_min_ms == 0)
		l->o.backoff_min_ms = 1000;
	if (l->o.backoff_max_ms < l->o.backoff_min_ms)
		l->o.backoff_max_ms =
		    l->o.backoff_min_ms > 60000 ? l->o.backoff_min_ms : 60000;
	if (l->o.connect_timeout_ms == 0)
		l->o.connect_timeout_ms = 10000;
	l->fd = -1;
	r = uv_timer_init(loop, &l->timer);
	if (r < 0) {
		free(l);
		return r;
	}
	l->timer.data = l;
	l->handles = 1;
	connect_now(l);
	*ret = l;
	return 0;
}

void queue_listen_reopen(struct queue_listen *l)
{
	if (l->closing)
		return;
	poll_drop(l);
	PQfinish(l->conn);
	l->conn = NULL;
	l->attempt = 0;
	uv_timer_stop(&l->timer);
	connect_now(l);
}

int queue_listen_close(struct queue_listen *l, void (*closed)(void *data), void *data)
{
	if (l->closing)
		return -EALREADY;
	l->closing = true;
	l->closed = closed;
	l->closed_data = data;
	poll_drop(l);
	PQfinish(l->conn);
	l->conn = NULL;
	l->st = DOWN;
	if (l->gai_busy)
		uv_cancel((uv_req_t *)&l->gai); /* gai_cb runs, ECANCELED or not */
	uv_close((uv_handle_t *)&l->timer, timer_closed);
	return 0;
}

bool queue_listen_listening(const struct queue_listen *l)
{
	return l->st == LISTENING;
}

int queue_listen_backend_pid(const struct queue_listen *l)
{
	return l->conn != NULL && PQstatus(l->conn) == CONNECTION_OK
		   ? PQbackendPID(l->conn)
		   : 0;
}

const char *queue_listen_error(const struct queue_listen *l)
{
	return l->err;
}
