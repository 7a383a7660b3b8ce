/* session_internal.h - the session's state, for session.c, its status
 * output and the unit tests. */
#ifndef AOS_SESSION_INTERNAL_H
#define AOS_SESSION_INTERNAL_H

#include <stdint.h>

#include "backoff.h"
#include "session/session.h"
#include "vault.h"

enum step {
	STEP_IDLE,
	STEP_WRAP_LOOKUP,
	STEP_UNWRAP,
	STEP_LOGIN,
	STEP_LOOKUP,
	STEP_RENEW,
	STEP_META,
	STEP_DATA,
	STEP_PROBE, /* lookup-self after a 403: dead token or policy? */
};

struct vault_session {
	uv_loop_t *loop;
	struct transport *tp;
	const struct config *cfg;
	struct vault_conn conn;
	char kv_meta_path[600];
	char kv_name[600]; /* "<mount>/<path>" for messages */
	struct secret_store *store;
	session_event_cb event_cb;
	void *event_data;
	rand_fn rnd;

	/* the request in flight */
	enum step step;
	struct transport_req *req;
	struct curl_slist *hdrs;
	struct buf body; /* request body (may hold secret_id): wiped */
	unsigned redirects; /* followed for the request in flight */

	unsigned work;
	bool in_backoff;
	bool creds_bad;    /* credentials refused: wait for the operator */
	bool loaded;       /* the secret was read at least once */
	bool force_data;   /* read data even if the version is unchanged */
	bool closing;
	int open_handles;
	uv_timer_t retry_timer;
	uv_timer_t poll_timer;
	uv_timer_t renew_timer;

	/* credentials and token */
	struct secret *role_id;
	struct secret *secret_id;
	struct secret *wrapping_token;
	struct secret *token;
	int64_t token_ttl_s;
	int64_t token_creation_ttl_s;
	bool token_renewable;
	bool relogin_due;
	uint64_t token_at_ms;
	uint64_t renew_due_ms;

	/* the KV secret */
	int64_t meta_version;   /* current_version from the last metadata read */
	char meta_created[40];
	int64_t checked_version; /* version whose data the store holds */
	char missing[512];       /* keys missing at checked_version */

	/* health */
	unsigned failures;
	char last_error[1024];
	uint64_t last_success_ms;
	uint64_t next_attempt_ms;
	uint64_t next_poll_ms;
	enum step denied_step;
	char denied_error[256];
	unsigned long requests;
	unsigned long logins;
	unsigned long renewals;

	struct session_waiter *waiters_pending; /* for the next check */
	struct session_waiter *waiters_current; /* for the check in flight */
};

#endif
