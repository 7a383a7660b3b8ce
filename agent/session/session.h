/* session.h - the daemon's Vault session: authentication, token renewal,
 * polling the KV v2 secret for rotation and holding the tokens in the
 * secret store.  Runs on the loop; one Vault request in flight at a time. */
#ifndef AOS_SESSION_H
#define AOS_SESSION_H

#include <stdbool.h>

#include <cjson/cJSON.h>
#include <uv.h>

#include "base/transport.h"
#include "config/config.h"
#include "vault/store.h"

struct vault_session;

/* Somebody waiting for a refresh: cb runs once with 0 or an error and a
 * one-line message.  Embed it in the waiter's own struct. */
struct session_waiter {
	void (*cb)(struct session_waiter *w, int result, const char *error);
	struct session_waiter *next;
	bool linked;
};

/* Called after every change of the session's health or data, so the owner
 * can update its status (first_ready is true exactly once). */
typedef void (*session_event_cb)(struct vault_session *s, bool first_ready, void *data);

/* Creates a session (not started).  cfg must outlive it or be replaced with
 * session_reconfigure().  Returns 0 and *ret, or -ENOMEM / -EINVAL. */
int session_new(uv_loop_t *loop, struct transport *tp, const struct config *cfg,
		session_event_cb cb, void *cb_data, struct vault_session **ret);

/* Logs in and loads the secret; then keeps renewing and polling. */
void session_start(struct vault_session *s);

/* Switches to a new configuration (after a reload) and refreshes at once. */
int session_reconfigure(struct vault_session *s, const struct config *cfg);

/* Checks Vault now (skipping any backoff wait).  w, if not NULL, is told
 * the outcome once a check that started after this call has finished. */
void session_refresh(struct vault_session *s, struct session_waiter *w);

/* Forgets a waiter that no longer wants its answer. */
void session_cancel_waiter(struct vault_session *s, struct session_waiter *w);

/* Stops everything; the session frees itself once its handles are closed. */
void session_close(struct vault_session *s);

/* The secret store (owned by the session). */
struct secret_store *session_store(struct vault_session *s);

/* The Vault token the session holds now, or NULL while it has none (valid
 * until the session's next step: take a reference to keep it).  What
 * dbcreds_hooks.token hands to the database credentials. */
const struct secret *session_token(const struct vault_session *s);

/* True once the secret has been read at least once. */
bool session_loaded(const struct vault_session *s);

/* True when the last Vault exchange succeeded and every key is present. */
bool session_healthy(const struct vault_session *s);

/* The last error, or NULL. */
const char *session_last_error(const struct vault_session *s);

/* Status objects for the control socket; the caller owns them. */
cJSON *session_vault_json(const struct vault_session *s);
cJSON *session_secrets_json(const struct vault_session *s);

#endif
