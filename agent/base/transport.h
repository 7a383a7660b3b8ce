/* transport.h - libcurl multi driven by the libuv loop.  Every outbound HTTP
 * request of the daemon goes through here. */
#ifndef AOS_TRANSPORT_H
#define AOS_TRANSPORT_H

#include <curl/curl.h>
#include <uv.h>

#include "common/buf.h"

struct transport;
struct transport_req;

/* Called once when a request ends.  result is 0 when an HTTP answer arrived
 * (any status), or AOS_EHTTP / AOS_ETOOBIG / AOS_ECANCELED. */
typedef void (*transport_cb)(struct transport_req *req, int result, void *data);

struct transport_opts {
	long connect_timeout_ms;
	long stall_timeout_s; /* abort below 1 byte/s for this long */
	const char *ca_file;  /* default CA for every request, or NULL */
	const char *ca_path;
};

struct transport_req {
	CURL *easy;		     /* configure it before transport_start() */
	struct buf body;	     /* the answer's body, bounded */
	long status;		     /* HTTP status once finished */
	char error[CURL_ERROR_SIZE]; /* transport error text */
	char reason[128];	     /* reason phrase of the last status line */
	/* NULL, or when (uv_now, ms; 0: no limit) the request must send no
	 * more: the caller's lease.  Checked before curl reads or writes
	 * (a socket's event, a timer): past it the request ends with
	 * AOS_EFENCED, its connection closed, whatever it was doing.  A
	 * process stopped (SIGSTOP) past it sends nothing more once it runs
	 * again; the value may move while the request runs. */
	const uint64_t *send_until;
	/* private */
	struct transport *t;
	transport_cb cb;
	void *data;
	struct transport_req *next, *prev;
	int result;
};

/* Creates a transport on loop.  Returns 0 and *ret, or -ENOMEM. */
int transport_new(uv_loop_t *loop, const struct transport_opts *opts,
		  struct transport **ret);

/* Updates the defaults applied to new requests. */
void transport_set_opts(struct transport *t, const struct transport_opts *opts);

/* Cancels every request (callbacks run with AOS_ECANCELED) and frees the
 * transport once its handles are closed.  Accepts NULL. */
void transport_close(struct transport *t);

/* A new request whose answer body may hold at most max_body bytes, with the
 * defaults applied (timeouts, CA, TLS verification, protocols).  Returns 0
 * and *ret (free with transport_req_free), or -ENOMEM. */
int transport_req_new(struct transport *t, size_t max_body, struct transport_req **ret);

/* Starts req; cb runs exactly once, from the loop.  Returns 0 or -ENOMEM. */
int transport_start(struct transport_req *req, transport_cb cb, void *data);

/* Cancels a running request (its callback runs with AOS_ECANCELED before
 * this returns).  A request not running is left alone. */
void transport_cancel(struct transport_req *req);

/* Frees a request that is not running (wiping its body).  Accepts NULL. */
void transport_req_free(struct transport_req *req);

/* Number of requests started since creation (for status). */
unsigned long transport_started(const struct transport *t);

#endif
