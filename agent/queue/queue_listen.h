/* queue_listen.h - wake-ups from the PostgreSQL queue: a connection of its
 * own, on the loop thread, that runs `LISTEN aos_queue` (the schema's
 * trigger sends NOTIFY aos_queue when a job is queued and when one ends:
 * queue_pg_schema.c) and calls wake() when notifications arrive, so the
 * daemon claims at once what another host queued or freed.
 *
 * libpq's asynchronous API only (PQconnectStartParams / PQconnectPoll,
 * PQsendQuery, PQconsumeInput, PQnotifies), driven by a uv_poll_t on
 * PQsocket(): no call here waits for the network.  A host NAME is looked
 * up first with uv_getaddrinfo() (libuv's thread pool), and libpq gets
 * its addresses as `hostaddr` (the name stays `host`, for the
 * certificate's check): libpq would otherwise call getaddrinfo() itself,
 * blocking, inside PQconnectPoll.
 *
 * The notifications read in one go are coalesced into one wake().  When
 * the connection is lost (the server stopped, the session ended, a read
 * failed, the lookup, the connect and the LISTEN took longer than
 * connect_timeout_ms),
 * it is closed and opened again after a full-jitter backoff (min_ms to
 * max_ms, doubling); once `LISTEN` answers on a new connection, wake() is
 * called once, since notifications sent meanwhile are lost (the first
 * connection too: what was queued before it was never heard of).
 *
 * Library code: nothing is logged; queue_listen_error() says what failed
 * last.  Everything is called on the loop thread. */
#ifndef AOS_QUEUE_LISTEN_H
#define AOS_QUEUE_LISTEN_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "queue/queue_pg_conn.h"

#define QUEUE_LISTEN_CHANNEL "aos_queue"

struct queue_listen;

struct queue_listen_opts {
	struct queue_pg_conn *conn; /* settings and credentials; must outlive it */
	/* On the loop: something changed in the queue, or may have. */
	void (*wake)(struct queue_listen *l, void *data);
	void *data;
	uint64_t backoff_min_ms;     /* 0: 1000 */
	uint64_t backoff_max_ms;     /* 0: 60000 */
	uint64_t connect_timeout_ms; /* connect and LISTEN; 0: 10000 */
};

/* Starts connecting at once.  Returns 0 and *ret, or -EINVAL (no conn or
 * wake), -ENOMEM, a libuv error. */
int queue_listen_start(uv_loop_t *loop, const struct queue_listen_opts *o,
		       struct queue_listen **ret);

/* Drops the connection and connects again now with the current
 * credentials (Vault issued a new set); wake() follows once it listens. */
void queue_listen_reopen(struct queue_listen *l);

/* Closes the connection and the handles; closed(data) runs on the loop once
 * l is freed (may be NULL).  Returns 0, or -EALREADY. */
int queue_listen_close(struct queue_listen *l, void (*closed)(void *data), void *data);

/* True while `LISTEN` is in effect. */
bool queue_listen_listening(const struct queue_listen *l);
/* The server's process id of the connection (PQbackendPID), 0 when none. */
int queue_listen_backend_pid(const struct queue_listen *l);
/* What failed last ("" when nothing did); one line, no secret. */
const char *queue_listen_error(const struct queue_listen *l);

#endif
