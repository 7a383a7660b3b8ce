/* dbcreds.h - database credentials from Vault's database secrets engine.
 *
 * Reads GET <mount>/creds/<role> (queue.postgresql.credentials), renews
 * the lease (PUT sys/leases/renew) at about 2/3 of its duration, and when
 * the lease cannot be renewed any more (its max TTL is near: a renewal
 * granted less than asked, or a lease that is not renewable) fetches NEW
 * credentials and hands them to the owner.  Nothing is ever revoked: a set
 * handed out stays valid until its lease ends, so the owner opens a
 * connection with the new set and then lets the old one go.  Failures back
 * off as the Vault session's do (vault.backoff_min_ms to backoff_max_ms).
 * Runs on the loop; one request in flight.  The password lives in the
 * secure heap and is wiped when the last reference goes; it is logged only
 * as a fingerprint. */
#ifndef AOS_DBCREDS_H
#define AOS_DBCREDS_H

#include <stdint.h>

#include <uv.h>

#include "base/transport.h"
#include "common/secret.h"
#include "config/config.h"

struct dbcreds;

/* One set of credentials.  Valid during the callback; take a reference on
 * password (secret_ref) and copy username to keep them. */
struct dbcreds_set {
	const char *username;
	struct secret *password;
	uint64_t expires_ms;  /* when its lease ends, on the loop's clock (uv_now) */
	unsigned long serial; /* 1 for the first set, one more for each new one */
};

/* What the owner gives and is told.  Only token and issued are required. */
struct dbcreds_hooks {
	/* The Vault token to use now (the session's), or NULL while there is
	 * none: the request fails and is retried after the backoff. */
	const struct secret *(*token)(void *data);
	/* A new set (the first, or one replacing a lease near its end): connect
	 * with it; the previous set stays valid until its own expires_ms. */
	void (*issued)(struct dbcreds *d, const struct dbcreds_set *set, void *data);
	/* The current set's lease was renewed: now valid until set->expires_ms. */
	void (*renewed)(struct dbcreds *d, const struct dbcreds_set *set, void *data);
	/* A request failed (msg: one line, no secret); it is retried after the
	 * backoff, or a refused renewal is replaced by new credentials at once. */
	void (*failed)(struct dbcreds *d, int err, const char *msg, void *data);
	void *data;
};

/* Creates the credentials' state machine (not started) for cfg's vault
 * section and queue.postgresql.credentials, which must be a database_role.
 * cfg and tp must outlive it.  Returns 0 and *ret, or -EINVAL (another
 * source, or a hook missing) / -ENOMEM. */
int dbcreds_new(uv_loop_t *loop, struct transport *tp, const struct config *cfg,
		const struct dbcreds_hooks *hooks, struct dbcreds **ret);

/* A reload's new configuration (which must outlive d; the old one may be
 * freed after the call): the vault section's address, namespace, CA and
 * backoff from the next request on.  The role and mount stay those of
 * dbcreds_new() (a restart changes them). */
void dbcreds_reconfigure(struct dbcreds *d, const struct config *cfg);

/* Fetches the first set; then keeps renewing and replacing. */
void dbcreds_start(struct dbcreds *d);

/* Stops: cancels the request in flight, wipes the password held (sets the
 * owner holds references to stay until it drops them), and frees itself
 * once its timers are closed.  Accepts NULL. */
void dbcreds_close(struct dbcreds *d);

/* The last error while failing, else NULL. */
const char *dbcreds_last_error(const struct dbcreds *d);

#endif
