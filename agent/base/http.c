/* http.c - connections of the inbound listener.
 *
 * Each connection has one timer, armed for the phase it is in: waiting for
 * a request (idle), inside the headers, inside the body.  A complete
 * request stops reading until the handler replies; bytes that came with it
 * (a pipelined next request) wait in `pending`.  An answer that ends the
 * connection is followed by a lingering close: FIN, then whatever the
 * client still sends is read and dropped for a moment, so the client sees
 * the answer instead of a reset.
 *
 * Every connection's parser charges the listener's budget (httpreq.h) for
 * what an unauthenticated request buffers; `pending` is charged too.  A
 * request's buffers are freed, and its bytes given back, as soon as it is
 * answered, not when the answer is written.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <systemd/sd-daemon.h>

#include "base/http.h"
#include "base/tls.h"
#include "common/wipe.h"

#define READ_BUF 65536
#define LINGER_MS 2000

enum phase { PH_IDLE, PH_HEADERS, PH_BODY, PH_BUSY, PH_LINGER };

struct http_server {
	uv_tcp_t tcp;
	uv_loop_t *loop;
	struct http_limits lim;
	struct http_hooks hooks;
	struct httpreq_budget budget;
	struct http_conn *conns;
	size_t nconns;
	size_t live; /* connection structs not yet freed */
	bool tcp_closed;
	unsigned long requests;
	bool closing;
	char rbuf[READ_BUF];
	bool rbuf_used;
	struct tls_ctx *tls;		      /* NULL: plain HTTP */
	char pbuf[READ_BUF + TLS_RECORD_MAX]; /* plaintext of one read */
};

struct http_conn {
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_write_t wr;
	uv_write_t wr100; /* "100 Continue" for a client that waits for it */
	bool sent100;
	uv_shutdown_t shut;
	struct http_server *s;
	struct httpreq hr;
	enum phase phase;
	char *pending; /* bytes read after a complete request (charged) */
	size_t pending_len;
	char *out;	  /* the answer being written */
	bool close_after; /* close once the answer is written */
	bool gone;	  /* the peer left while the handler worked */
	bool writing;
	bool closed;
	int open_handles;
	struct tls_conn *tls; /* NULL: plain HTTP */
	char peer[64];
	struct http_conn *next, **pprev;
};

static void process(struct http_conn *c, const char *data, size_t len);
static void server_closed(uv_handle_t *h);

/* Frees the bytes kept after a complete request, and gives them back. */
static void drop_pending(struct http_conn *c)
{
	if (c->pending == NULL)
		return;
	wipe_free(c->pending);
	httpreq_budget_give(&c->s->budget, c->pending_len);
	c->pending = NULL;
	c->pending_len = 0;
}

/* The server is freed last: after its handle and every connection. */
static void server_maybe_free(struct http_server *s)
{
	if (s->closing && s->tcp_closed && s->live == 0) {
		tls_ctx_unref(s->tls);
		free(s);
	}
}

static void conn_handle_closed(uv_handle_t *h)
{
	struct http_conn *c = h->data;
	struct http_server *s = c->s;

	if (--c->open_handles > 0)
		return;
	httpreq_free(&c->hr);
	drop_pending(c);
	free(c->out);
	tls_conn_free(c->tls);
	free(c);
	s->live--;
	server_maybe_free(s);
}

static void conn_close(struct http_conn *c)
{
	if (c->closed)
		return;
	c->closed = true;
	if (c->pprev != NULL) {
		*c->pprev = c->next;
		if (c->next != NULL)
			c->next->pprev = c->pprev;
		c->pprev = NULL;
		c->s->nconns--;
	}
	httpreq_release(&c->hr);
	drop_pending(c);
	uv_timer_stop(&c->timer);
	uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
	uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
}

static void arm(struct http_conn *c, enum phase ph, uint64_t ms);

#define REPLY_LIT(c, status, lit) http_reply((c), (status), NULL, (lit), sizeof(lit) - 1)

static void timer_cb(uv_timer_t *t)
{
	struct http_conn *c = t->data;

	switch (c->phase) {
	case PH_HEADERS:
		REPLY_LIT(c, 408,
			  "{\"ok\":false,\"error\":\"request headers not received "
			  "in time\"}");
		break;
	case PH_BODY:
		REPLY_LIT(c, 408,
			  "{\"ok\":false,\"error\":\"request body not received "
			  "in time\"}");
		break;
	default: /* idle keep-alive, or the end of a lingering close */
		conn_close(c);
		break;
	}
}

static void arm(struct http_conn *c, enum phase ph, uint64_t ms)
{
	c->phase = ph;
	if (ms == 0)
		uv_timer_stop(&c->timer);
	else
		uv_timer_start(&c->timer, timer_cb, ms, 0);
}

/* ---- the wire: plain, or through the connection's TLS session ---- */

/* A write of ciphertext: its buffer, and the caller's request to complete
 * (NULL for what OpenSSL sends on its own: handshake, alerts). */
struct tls_write {
	uv_write_t req;
	uv_write_t *orig;
	uv_write_cb cb;
	char *data;
};

static void tls_written(uv_write_t *req, int status)
{
	struct tls_write *w = req->data;

	if (w->cb != NULL)
		w->cb(w->orig, status);
	free(w->data);
	free(w);
}

/* Sends what the TLS session has for the peer; when it is done, orig and cb
 * (if not NULL) complete as if orig had been written.  Returns 0, or < 0
 * (nothing queued, cb not called). */
static int tls_flush(struct http_conn *c, uv_write_t *orig, uv_write_cb cb)
{
	struct tls_write *w;
	uv_buf_t b;
	char *data;
	long n;

	n = tls_conn_take_out(c->tls, &data);
	if (n < 0)
		return (int)n;
	if (n == 0 && cb == NULL)
		return 0;
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		free(data);
		return UV_ENOMEM;
	}
	w->orig = orig;
	w->cb = cb;
	w->data = data;
	w->req.data = w;
	b = uv_buf_init(data != NULL ? data : "", (unsigned)n);
	if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, tls_written) < 0) {
		free(data);
		free(w);
		return UV_EPIPE;
	}
	return 0;
}

/* Writes data[0..len) (kept by the caller until cb) as request wr. */
static int conn_send(struct http_conn *c, uv_write_t *wr, uv_write_cb cb, char *data,
		     size_t len)
{
	uv_buf_t b = uv_buf_init(data, (unsigned)len);

	if (c->tls == NULL)
		return uv_write(wr, (uv_stream_t *)&c->tcp, &b, 1, cb);
	if (tls_conn_write(c->tls, data, len) < 0)
		return UV_EPROTO;
	return tls_flush(c, wr, cb);
}

static void alloc_cb(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct http_conn *c = h->data;

	(void)hint;
	/* One read at a time on the loop: a shared buffer, consumed (or
	 * copied) before the callback returns. */
	buf->base = c->s->rbuf;
	buf->len = sizeof(c->s->rbuf);
}

/* Ciphertext in: the handshake's answers go out, the plaintext to the
 * parser in one piece (so a request that completes inside it keeps what
 * follows as pending, as for plain reads).  A TLS error (its alert sent)
 * or the peer's close_notify ends the connection. */
static void tls_read(struct http_conn *c, const char *data, size_t len)
{
	char *plain = c->s->pbuf;
	long n = tls_conn_feed(c->tls, data, len, plain, sizeof(c->s->pbuf));

	(void)tls_flush(c, NULL, NULL);
	if (n < 0) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		if (c->phase == PH_BUSY || c->writing)
			c->gone = true;
		else
			conn_close(c); /* queued alert writes are canceled with it */
		return;
	}
	if (n > 0 && c->phase != PH_LINGER)
		process(c, plain, (size_t)n);
	OPENSSL_cleanse(plain, (size_t)n);
}

static void read_cb(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
	struct http_conn *c = st->data;

	if (nread == 0)
		return;
	if (nread < 0) {
		uv_read_stop(st);
		if (c->phase == PH_BUSY || c->writing)
			c->gone = true; /* closed once the handler replied */
		else
			conn_close(c);
		return;
	}
	if (c->tls != NULL)
		tls_read(c, buf->base, (size_t)nread);
	else if (c->phase != PH_LINGER) /* else dropped */
		process(c, buf->base, (size_t)nread);
	/* The shared buffer held request bytes, a GitLab token maybe. */
	OPENSSL_cleanse(buf->base, (size_t)nread);
}

static void continue_written(uv_write_t *wr, int status)
{
	(void)wr;
	(void)status; /* a failed write shows in the next read or write */
}

/* The client sent "Expect: 100-continue" and waits before the body; its
 * size is within the limit (else 413 came already). */
static void send_continue(struct http_conn *c)
{
	static char line[] = "HTTP/1.1 100 Continue\r\n\r\n";
	uv_buf_t b = uv_buf_init(line, sizeof(line) - 1);

	if (c->sent100)
		return;
	c->sent100 = true;
	if (conn_send(c, &c->wr100, continue_written, b.base, b.len) < 0)
		c->close_after = true;
}

static void over_budget(struct http_conn *c, bool answered, const char *why)
{
	struct http_server *s = c->s;

	if (s->hooks.over_budget != NULL)
		s->hooks.over_budget(c, answered, why, s->hooks.data);
}

/* The bytes that came after a complete request belong to the next one: kept,
 * and charged, until the answer is written.  When they do not fit, the
 * connection closes after the answer instead. */
static void keep_pending(struct http_conn *c, const char *data, size_t len)
{
	char *p;

	if (len == 0)
		return;
	if (httpreq_budget_take(&c->s->budget, len) < 0) {
		over_budget(c, false, "bytes pipelined after a request");
		c->close_after = true;
		return;
	}
	p = malloc(len);
	if (p == NULL) {
		httpreq_budget_give(&c->s->budget, len);
		c->close_after = true;
		return;
	}
	memcpy(p, data, len);
	drop_pending(c);
	c->pending = p;
	c->pending_len = len;
}

/* The request cannot go on (state ERROR): its error is answered and the
 * connection closed; over the budget before its headers were complete,
 * there is nothing to answer: only closed. */
static void refuse(struct http_conn *c)
{
	bool budget = c->hr.status == 503;
	char body[256];

	if (budget)
		over_budget(c, c->hr.headers_done, c->hr.error);
	if (budget && !c->hr.headers_done) {
		conn_close(c);
		return;
	}
	snprintf(body, sizeof(body), "{\"ok\":false,\"error\":\"%s\"}", c->hr.error);
	c->phase = PH_BUSY;
	c->close_after = true;
	http_reply(c, c->hr.status, budget ? "Retry-After: 1\r\n" : NULL, body,
		   strlen(body));
}

/* The headers are complete: the head hook answers at once, or says whether
 * the sender is authenticated; then the body is admitted under the budget.
 * Returns false when the request was answered or refused. */
static bool admit(struct http_conn *c)
{
	struct http_server *s = c->s;
	enum http_admit a = HTTP_ADMIT_UNTRUSTED;

	if (s->hooks.head != NULL)
		a = s->hooks.head(c, &c->hr.req, s->hooks.data);
	if (a == HTTP_ADMIT_ANSWERED)
		return false;
	if (httpreq_admit(&c->hr, a == HTTP_ADMIT_TRUSTED) < 0) {
		refuse(c);
		return false;
	}
	arm(c, PH_BODY, s->lim.body_timeout_ms);
	if (c->hr.req.expect_continue)
		send_continue(c);
	return true;
}

static void process(struct http_conn *c, const char *data, size_t len)
{
	const struct http_limits *l = &c->s->lim;

	while (len > 0 && !c->closed && c->phase != PH_BUSY && c->phase != PH_LINGER) {
		enum httpreq_state before = c->hr.state;
		size_t n = httpreq_feed(&c->hr, data, len);

		data += n;
		len -= n;
		switch (c->hr.state) {
		case HTTPREQ_ERROR: refuse(c); return;
		case HTTPREQ_DONE:
			arm(c, PH_BUSY, 0);
			uv_read_stop((uv_stream_t *)&c->tcp);
			keep_pending(c, data, len);
			c->s->hooks.request(c, &c->hr.req, c->s->hooks.data);
			return;
		case HTTPREQ_ADMIT:
			/* The parse stopped before the headers' last byte (even
			 * with nothing consumed): go on feeding. */
			if (!admit(c))
				return;
			continue;
		case HTTPREQ_HEADERS:
			if (before == HTTPREQ_IDLE)
				arm(c, PH_HEADERS, l->header_timeout_ms);
			break;
		default: break;
		}
		if (n == 0)
			break; /* nothing consumed: a parser quirk; wait for more */
	}
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
	struct http_conn *c = req->data;

	(void)status;
	if (c->gone)
		conn_close(c);
}

static void write_cb(uv_write_t *wr, int status)
{
	struct http_conn *c = wr->data;
	char *pending;
	size_t plen;

	c->writing = false;
	free(c->out);
	c->out = NULL;
	if (c->closed)
		return;
	if (status < 0 || c->gone || c->s->closing) {
		conn_close(c);
		return;
	}
	if (c->close_after) {
		/* Lingering close: FIN now, drop what still comes, then close.
		 * Over TLS our close_notify goes first. */
		arm(c, PH_LINGER, LINGER_MS);
		if (c->tls != NULL) {
			tls_conn_shutdown(c->tls);
			(void)tls_flush(c, NULL, NULL);
		}
		c->shut.data = c;
		if (uv_shutdown(&c->shut, (uv_stream_t *)&c->tcp, shutdown_cb) < 0)
			conn_close(c);
		else
			uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
		return;
	}
	httpreq_next(&c->hr);
	c->sent100 = false;
	arm(c, PH_IDLE, c->s->lim.idle_timeout_ms);
	/* The parser charges what it keeps of them: given back first. */
	pending = c->pending;
	plen = c->pending_len;
	c->pending = NULL;
	c->pending_len = 0;
	httpreq_budget_give(&c->s->budget, plen);
	if (pending != NULL)
		process(c, pending, plen);
	wipe_free(pending);
	if (!c->closed && c->phase != PH_BUSY && c->phase != PH_LINGER)
		uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
}

void http_reply(struct http_conn *c, int status, const char *extra_headers,
		const char *body, size_t len)
{
	http_reply_typed(c, status, "application/json", extra_headers, body, len);
}

void http_reply_typed(struct http_conn *c, int status, const char *content_type,
		      const char *extra_headers, const char *body, size_t len)
{
	int n;

	c->s->requests++;
	if (c->closed)
		return;
	if (c->gone || c->s->closing) {
		conn_close(c);
		return;
	}
	if (!c->hr.req.keep_alive || c->hr.state != HTTPREQ_DONE)
		c->close_after = true;
	uv_timer_stop(&c->timer);
	c->phase = PH_BUSY;
	c->out = malloc(len + 512 + strlen(content_type) +
			(extra_headers ? strlen(extra_headers) : 0));
	if (c->out == NULL) {
		conn_close(c);
		return;
	}
	n = sprintf(c->out,
		    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n"
		    "Content-Length: %zu\r\n%sConnection: %s\r\n\r\n",
		    status, http_status_str((enum http_status)status), content_type, len,
		    extra_headers ? extra_headers : "",
		    c->close_after ? "close" : "keep-alive");
	/* An answer to HEAD: the headers alone (Content-Length that of the
	 * GET), else the next answer on the connection would start inside it. */
	if (c->hr.state == HTTPREQ_DONE && c->hr.req.method == HTTP_HEAD)
		len = 0;
	memcpy(c->out + n, body, len);
	httpreq_release(&c->hr); /* answered: its buffers go now */
	c->wr.data = c;
	c->writing = true;
	if (conn_send(c, &c->wr, write_cb, c->out, (size_t)n + len) < 0) {
		c->writing = false;
		conn_close(c);
	}
}

/* Only log lines need it: looked up on first use, not per connection. */
const char *http_conn_peer(struct http_conn *c)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	char ip[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (c->peer[0] != '\0')
		return c->peer;
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &len) == 0) {
		if (ss.ss_family == AF_INET) {
			uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof(ip));
			port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof(ip));
			port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
		}
	}
	snprintf(c->peer, sizeof(c->peer), "%s:%d", ip, port);
	return c->peer;
}

static void connection_cb(uv_stream_t *ls, int status)
{
	struct http_server *s = ls->data;
	struct http_conn *c;

	if (status < 0 || s->closing)
		return;
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return;
	c->s = s;
	s->live++;
	uv_tcp_init(s->loop, &c->tcp);
	uv_timer_init(s->loop, &c->timer);
	c->tcp.data = c->timer.data = c;
	c->open_handles = 2;
	c->closed = false;
	httpreq_init(&c->hr, s->lim.max_header_bytes, s->lim.max_body_bytes);
	httpreq_set_budget(&c->hr, &s->budget);
	if (uv_accept(ls, (uv_stream_t *)&c->tcp) < 0) {
		c->closed = true;
		uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
		uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	if (s->tls != NULL) {
		c->tls = tls_conn_new(s->tls);
		if (c->tls == NULL) {
			c->closed = true;
			uv_close((uv_handle_t *)&c->timer, conn_handle_closed);
			uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
			return;
		}
	}
	c->next = s->conns;
	if (s->conns != NULL)
		s->conns->pprev = &c->next;
	s->conns = c;
	c->pprev = &s->conns;
	s->nconns++;
	if (s->nconns > s->lim.max_connections) {
		static const char busy[] =
		    "{\"ok\":false,\"error\":\"too many connections; "
		    "try again shortly\"}";

		if (c->tls != NULL) { /* nothing can be said before a handshake */
			conn_close(c);
			return;
		}
		c->hr.state = HTTPREQ_ERROR; /* no request to keep alive */
		http_reply(c, 503, "Retry-After: 1\r\n", busy, sizeof(busy) - 1);
		return;
	}
	arm(c, PH_IDLE, s->lim.header_timeout_ms);
	c->phase = PH_IDLE;
	uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
}

/* The budget's cap from the limits (0: none). */
static void set_cap(struct http_server *s)
{
	s->budget.cap = s->lim.max_unauthenticated_bytes != 0
			    ? s->lim.max_unauthenticated_bytes
			    : SIZE_MAX;
}

int http_server_open(uv_loop_t *loop, const char *host, int port,
		     const struct http_limits *lim, const struct http_hooks *hooks,
		     struct http_server **ret, char *errbuf, size_t errlen)
{
	struct http_server *s = calloc(1, sizeof(*s));
	struct sockaddr_storage addr;
	int r, nfds;

	if (s == NULL)
		return UV_ENOMEM;
	s->loop = loop;
	s->lim = *lim;
	s->hooks = *hooks;
	set_cap(s);
	uv_tcp_init(loop, &s->tcp);
	s->tcp.data = s;
	nfds = sd_listen_fds(1);
	if (nfds > 0) {
		r = uv_tcp_open(&s->tcp, SD_LISTEN_FDS_START);
		if (r < 0)
			snprintf(errbuf, errlen,
				 "cannot use the socket systemd passed: %s",
				 uv_strerror(r));
	} else {
		if (strchr(host, ':') != NULL)
			r = uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr);
		else
			r = uv_ip4_addr(host, port, (struct sockaddr_in *)&addr);
		if (r == 0)
			r = uv_tcp_bind(&s->tcp, (struct sockaddr *)&addr, 0);
		if (r < 0)
			snprintf(errbuf, errlen, "cannot listen on %s port %d: %s", host,
				 port, uv_strerror(r));
	}
	if (r == 0) {
		r = uv_listen((uv_stream_t *)&s->tcp, 1024, connection_cb);
		if (r < 0)
			snprintf(errbuf, errlen, "cannot listen on %s port %d: %s", host,
				 port, uv_strerror(r));
	}
	if (r < 0) {
		s->closing = true;
		uv_close((uv_handle_t *)&s->tcp, server_closed);
		return r;
	}
	*ret = s;
	return 0;
}

void http_server_set_limits(struct http_server *s, const struct http_limits *lim)
{
	s->lim = *lim;
	set_cap(s); /* bytes held already stay; new ones meet the new cap */
}

void http_server_set_tls(struct http_server *s, struct tls_ctx *tls)
{
	tls_ctx_unref(s->tls); /* open sessions keep the old one alive */
	s->tls = tls != NULL ? tls_ctx_ref(tls) : NULL;
}

static void server_closed(uv_handle_t *h)
{
	struct http_server *s = h->data;

	s->tcp_closed = true;
	server_maybe_free(s);
}

void http_server_close(struct http_server *s)
{
	if (s == NULL)
		return;
	s->closing = true;
	while (s->conns != NULL) {
		struct http_conn *c = s->conns;

		if (c->phase == PH_BUSY && !c->writing) {
			/* Its handler still answers: unlink it, close then. */
			*c->pprev = c->next;
			if (c->next != NULL)
				c->next->pprev = c->pprev;
			c->pprev = NULL;
			s->nconns--;
			c->gone = true;
			continue;
		}
		conn_close(c);
	}
	uv_close((uv_handle_t *)&s->tcp, server_closed);
}

size_t http_server_connections(const struct http_server *s)
{
	return s->nconns;
}

unsigned long http_server_requests(const struct http_server *s)
{
	return s->requests;
}

size_t http_server_unauthenticated_bytes(const struct http_server *s)
{
	return s->budget.used;
}
