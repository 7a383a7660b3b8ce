/* http.h - the inbound HTTP/1.1 listener on libuv: connections, limits,
 * timeouts, keep-alive.  Requests are parsed by httpreq.c and handed to one
 * handler, which answers each exactly once with http_reply(), at once or
 * later (after a commit).  A connection reads nothing more until then.
 *
 * Until a request is authenticated, what it buffers (headers, body, bytes
 * pipelined behind it) is charged to one total per listener,
 * max_unauthenticated_bytes: past it the request is answered 503 with
 * Retry-After before its body is read (or, when its headers are not
 * complete yet, the connection is closed).  A head hook sees each request's
 * headers before its body: it may answer at once, or vouch for the sender,
 * whose body is then not charged.  The bytes come back when the request is
 * answered or its connection closes. */
#ifndef AOS_HTTP_H
#define AOS_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "base/httpreq.h"

struct http_server;
struct http_conn;

struct http_limits {
	size_t max_header_bytes;	  /* 431 beyond */
	size_t max_body_bytes;		  /* 413 beyond */
	uint64_t header_timeout_ms;	  /* first byte to end of headers: 408 */
	uint64_t body_timeout_ms;	  /* end of headers to end of body: 408 */
	uint64_t idle_timeout_ms;	  /* between requests: closed */
	size_t max_connections;		  /* 503 beyond */
	size_t max_unauthenticated_bytes; /* 503 beyond; 0: no cap */
};

/* r stays valid until http_reply(c, ...). */
typedef void (*http_handler)(struct http_conn *c, const struct http_request *r,
			     void *data);

/* What the head hook decided about a request whose headers are complete. */
enum http_admit {
	HTTP_ADMIT_UNTRUSTED, /* read the body, charged to the unauthenticated total */
	HTTP_ADMIT_TRUSTED,   /* the headers authenticate the sender: read it uncharged */
	HTTP_ADMIT_ANSWERED,  /* the hook called http_reply(): the body is not read */
};

struct http_hooks {
	http_handler request; /* every complete request */
	/* The headers (r has no body yet); NULL: every request is UNTRUSTED. */
	enum http_admit (*head)(struct http_conn *c, const struct http_request *r,
				void *data);
	/* A request refused (answered: 503) or a connection closed (headers
	 * incomplete) because max_unauthenticated_bytes would be passed; may be
	 * NULL.  Called before the answer; why is static text. */
	void (*over_budget)(struct http_conn *c, bool answered, const char *why,
			    void *data);
	void *data;
};

/* Listens on host:port, or on the socket systemd passed (LISTEN_FDS, taken
 * first when present).  Returns 0 and *ret, or a libuv error with errbuf
 * naming the address. */
int http_server_open(uv_loop_t *loop, const char *host, int port,
		     const struct http_limits *lim, const struct http_hooks *hooks,
		     struct http_server **ret, char *errbuf, size_t errlen);

struct tls_ctx;
/* Serves TLS with tls (a reference is taken) on connections accepted from
 * now on; NULL: plain HTTP.  Connections open keep what they started with
 * (a certificate reload drops nothing in flight).  The handshake counts
 * against header_timeout_ms; over max_connections a TLS connection is
 * closed (no answer can be sent before a handshake). */
void http_server_set_tls(struct http_server *s, struct tls_ctx *tls);

/* New limits, for connections accepted from now on. */
void http_server_set_limits(struct http_server *s, const struct http_limits *lim);

/* Stops listening and closes every connection (pending requests are still
 * answered by their handler: those replies are dropped).  Frees s once its
 * handles are closed.  Accepts NULL. */
void http_server_close(struct http_server *s);

/* Open connections, and requests answered since the start. */
size_t http_server_connections(const struct http_server *s);
unsigned long http_server_requests(const struct http_server *s);

/* Bytes held by unauthenticated requests now (at most the cap). */
size_t http_server_unauthenticated_bytes(const struct http_server *s);

/* Answers c's current request: status, a JSON body (copied), extra header
 * lines ("Name: value\r\n" each, or NULL).  The connection then reads the
 * next request, or closes when the client asked for it. */
void http_reply(struct http_conn *c, int status, const char *extra_headers,
		const char *body, size_t len);

/* As http_reply(), with another Content-Type (a static string without CR
 * or LF, e.g. "text/plain; version=0.0.4"). */
void http_reply_typed(struct http_conn *c, int status, const char *content_type,
		      const char *extra_headers, const char *body, size_t len);

/* The peer's address as text ("127.0.0.1:43210"), for logs. */
const char *http_conn_peer(struct http_conn *c);

#endif
