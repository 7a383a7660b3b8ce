/* dbcreds_internal.h - the database credentials' state, for dbcreds.c, its
 * loop seam (dbcreds_io.c) and the unit tests, which bring their own seam
 * as the session's do (session_internal.h). */
#ifndef AOS_DBCREDS_INTERNAL_H
#define AOS_DBCREDS_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "common/backoff.h"
#include "common/buf.h"
#include "session/dbcreds.h"
#include "vault/vault.h"

enum dbc_step { DBC_IDLE, DBC_FETCH, DBC_RENEW };

/* RETRY: the backoff after a failure; DUE: the renewal (or replacement) */
enum dbc_timer { DBC_RETRY, DBC_DUE, DBC_NTIMERS };

/* The clock, two one-shot timers and the requests to Vault: dbcreds_uv_io
 * (the loop and the transport) in production, the test's own in the unit
 * tests.  Same contract as struct session_io. */
struct dbcreds_io {
	uint64_t (*now)(const struct dbcreds *d);
	/* Arms timer t (again) to call d->fire(d, t) once, ms from now. */
	void (*arm)(struct dbcreds *d, enum dbc_timer t, uint64_t ms);
	void (*stop)(struct dbcreds *d, enum dbc_timer t);
	/* Starts one request; its answer goes to d->done(req, result, d)
	 * exactly once, from the loop.  Returns 0 and *ret, or an error. */
	int (*request)(struct dbcreds *d, const char *method, const char *path,
		       const char *body, const struct secret *tok,
		       struct transport_req **ret);
	/* Cancels d->req: d->done() runs with AOS_ECANCELED before it returns. */
	void (*cancel)(struct dbcreds *d);
};

extern const struct dbcreds_io dbcreds_uv_io;

void dbcreds__fire(struct dbcreds *d, enum dbc_timer t);
/* A request ended (a transport_cb; data is d).  Frees req. */
void dbcreds__done(struct transport_req *req, int result, void *data);

struct dbcreds {
	const struct dbcreds_io *io;
	void (*fire)(struct dbcreds *d, enum dbc_timer t);
	transport_cb done;
	uv_loop_t *loop;
	struct transport *tp;
	const struct config *cfg;
	struct vault_conn conn;
	struct dbcreds_hooks hooks;
	rand_fn rnd;
	char creds_path[300]; /* <mount>/creds/<role> */

	/* the request in flight */
	enum dbc_step step;
	struct transport_req *req;
	struct curl_slist *hdrs;
	struct buf body;    /* the renewal's body */
	unsigned redirects; /* followed for the request in flight */

	unsigned work; /* DBC_WORK_* bits */
	bool in_backoff;
	bool closing;
	unsigned failures;
	char last_error[1024];

	/* the current set and its lease */
	char username[VAULT_DB_USER_MAX];
	struct secret *password;
	char lease_id[VAULT_LEASE_ID_MAX];
	int64_t lease_s; /* granted when issued: the increment each renewal asks */
	bool renewable;
	bool replace_due; /* the lease stopped growing: replace, do not renew */
	uint64_t expires_ms;
	uint64_t due_ms; /* of the DUE timer */
	unsigned long serial;
	unsigned long renewals;
	unsigned long requests;

	int open_handles;
	uv_timer_t timers[DBC_NTIMERS]; /* used by dbcreds_uv_io only */
};

#endif
