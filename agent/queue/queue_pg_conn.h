/* queue_pg_conn.h - how to connect to the PostgreSQL queue: the settings
 * (host or socket folder, port, database, user, TLS) and the credentials
 * of now, as libpq's keyword/value arrays (PQconnectdbParams,
 * PQconnectStartParams).
 *
 * The password is never written into a connection string, argv or the
 * environment: it stays in its struct secret (OpenSSL's secure heap, wiped
 * when the last reference goes), and the values array points at it only
 * for the connect (queue_pg_params_clear() drops the reference right
 * after).  libpq keeps its own copy in the PGconn while it is open (wiped
 * in PQfinish()) and makes transient ones while it connects that it frees
 * without wiping (docs/security.md).
 *
 * The credentials change while connections live (Vault issues a new set):
 * queue_pg_conn_set_credentials() runs on the loop, queue_pg_conn_params()
 * on any thread (the database thread's reopen, the LISTEN connection on
 * the loop); a mutex keeps the pair whole.  Library code: nothing logged. */
#ifndef AOS_QUEUE_PG_CONN_H
#define AOS_QUEUE_PG_CONN_H

#include <stddef.h>

#include "common/secret.h"
#include "queue/queue.h"

/* The settings, copied by queue_pg_conn_new().  NULL strings: libpq's own
 * default (its environment, its passfile). */
struct queue_pg_settings {
	const char *host; /* a name or address, or an absolute socket folder */
	int port;	  /* 0: libpq's */
	const char *database;
	const char *user;	      /* until credentials name one */
	const char *sslmode;	      /* libpq's name: "verify-full" ... */
	const char *sslrootcert;      /* the CA file */
	int connect_timeout_s;	      /* 0: libpq's (none) */
	const char *options;	      /* libpq's options ("-c search_path=x") */
	const char *application_name; /* NULL: "aos-publishd" */
};

struct queue_pg_conn;

#define QUEUE_PG_HOST_MAX 255 /* bytes of a host (queue.postgresql.host's bound) */

/* A copy of s.  Returns 0 and *ret (queue_pg_conn_free()), -EINVAL (no
 * host or database, a host longer than QUEUE_PG_HOST_MAX) or -ENOMEM. */
int queue_pg_conn_new(const struct queue_pg_settings *s, struct queue_pg_conn **ret);
/* Frees c and drops its password.  Accepts NULL. */
void queue_pg_conn_free(struct queue_pg_conn *c);

/* The credentials of the next connects: user (NULL: the settings') and
 * password (a reference is taken, the previous one dropped; NULL: none,
 * libpq's passfile decides).  Open connections keep theirs.  Returns 0 or
 * -ENOMEM (the previous credentials stay). */
int queue_pg_conn_set_credentials(struct queue_pg_conn *c, const char *user,
				  struct secret *password);

#define QUEUE_PG_PARAMS_MAX 18

/* One connect's arrays, both NULL-terminated.  The values point into c's
 * settings (which must outlive the connect), this struct and the password,
 * whose reference is held until queue_pg_params_clear(). */
struct queue_pg_params {
	const char *keys[QUEUE_PG_PARAMS_MAX + 1];
	const char *values[QUEUE_PG_PARAMS_MAX + 1];
	char port[8], timeout[12];
	char *user;		 /* a copy of the current user */
	struct secret *password; /* a reference, or NULL */
};

/* Fills p for a connect with c's settings and the current credentials.
 * Returns 0 (clear p after the connect, whatever it did) or -ENOMEM. */
int queue_pg_conn_params(struct queue_pg_conn *c, struct queue_pg_params *p);
/* Appends key=value to p (value must outlive the connect).  0, or -ENOSPC
 * when p is full. */
int queue_pg_params_add(struct queue_pg_params *p, const char *key, const char *value);
/* Drops p's password reference and its copy of the user.  Accepts a p
 * filled or zeroed. */
void queue_pg_params_clear(struct queue_pg_params *p);

/* The settings' host (constant: no lock needed). */
const char *queue_pg_conn_host(const struct queue_pg_conn *c);

/* The user the next connect logs in as (a copy into buf, cut; "" when
 * libpq decides). */
void queue_pg_conn_user(struct queue_pg_conn *c, char *buf, size_t len);

/* Opens the queue (queue_pg_open_params()) with c's current settings and
 * credentials: the open callback of queue_async_new_open() (conn is the
 * struct queue_pg_conn), run on the database thread at each (re)open. */
int queue_pg_conn_open(void *conn, struct queue **ret, char *errbuf, size_t errlen);

#endif
