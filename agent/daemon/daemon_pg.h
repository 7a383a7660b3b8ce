/* daemon_pg.h - the daemon on the PostgreSQL queue (queue.backend
 * "postgresql"): the connection's settings and credentials, the LISTEN
 * connection that wakes the worker, and the hand-over of new credentials.
 *
 * Credentials (queue.postgresql.credentials): libpq's own (a passfile:
 * the queue opens at once), a key of the Vault secret (handed over when
 * the secrets load and at each rotation that changes it), or Vault's
 * database engine (dbcreds: started once the session has a token; each
 * new set handed over before the old lease ends).  Until the first
 * credentials arrive the queue's connections wait (their open answers
 * -EAGAIN, "waiting for ..."), and the worker is not started: it starts
 * right after the first hand-over, whose reopen comes first on the write
 * queue.  A hand-over sets the credentials, then reopens the write and the
 * read queue_async (each between two requests: no transaction spans two
 * connections) and the LISTEN connection.
 *
 * Everything here runs on the loop thread but daemon_pg_open(), which
 * the queue_async threads call. */
#ifndef AOS_DAEMON_PG_H
#define AOS_DAEMON_PG_H

#include <stdbool.h>
#include <stddef.h>

#include <cjson/cJSON.h>

struct agent;
struct config;
struct queue;

/* Sets a->pg up for a's configuration (its backend must be postgresql):
 * the connection's settings, and dbcreds for a database role.  Logs what
 * fails.  Returns 0, -EINVAL or -ENOMEM. */
int daemon_pg_new(struct agent *a);

/* The queue_async open function (queue_async_open.open_with) and its
 * argument a->pg: the current credentials, or -EAGAIN before any. */
int daemon_pg_open(void *pg, struct queue **ret, char *errbuf, size_t errlen);

/* Starts what needs no Vault: with libpq's own credentials, the LISTEN
 * connection and the worker.  Call once both queue_async and the worker
 * exist. */
void daemon_pg_start(struct agent *a);

/* The session loaded or rotated its secrets, or got a token: hands a
 * changed kv_key password over; starts dbcreds once there is a token. */
void daemon_pg_session_event(struct agent *a);

/* A reload's new configuration (a->cfg is already it): dbcreds follows
 * the vault section; what changed in queue.postgresql is logged as
 * taking effect at the next restart (old is the running one's). */
void daemon_pg_reconfigure(struct agent *a, const struct config *old);

/* The status's "queue" object: the backend, the server, the user of
 * now, the credentials' source, lease and fingerprint, LISTEN's state. */
void daemon_pg_status(const struct agent *a, cJSON *o);

/* Stops dbcreds and the LISTEN connection (the loop still runs). */
void daemon_pg_stop(struct agent *a);

/* Frees a->pg once the queue_async threads are joined (after the loop's
 * last run).  Accepts a->pg NULL. */
void daemon_pg_free(struct agent *a);

#endif
