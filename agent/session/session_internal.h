/* session_internal.h - the session's state, for session.c, its status
 * output and the unit tests. */
#ifndef AOS_SESSION_INTERNAL_H
#define AOS_SESSION_INTERNAL_H

#include <stdint.h>

#include "common/backoff.h"
#include "session/session.h"
#include "vault/vault.h"

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

enum session_timer { SESSION_RETRY, SESSION_POLL, SESSION_RENEW, SESSION_NTIMERS };

/* What the session needs from outside: the clock, three one-shot timers and
 * the requests to Vault.  session_new() installs session_uv_io (the loop and
 * the transport, session_io.c); the unit tests put their own in s->io to
 * drive time and script Vault's answers. */
struct session_io {
	/* The clock, in milliseconds (the loop's time in production). */
	uint64_t (*now)(const struct vault_session *s);
	/* Arms timer t (again) to call s->fire(s, t) once, ms from now;
	 * stop disarms it (a timer not armed is left alone). */
	void (*arm)(struct vault_session *s, enum session_timer t, uint64_t ms);
	void (*stop)(struct vault_session *s, enum session_timer t);
	/* Starts one Vault request (tok: the X-Vault-Token, or NULL); its answer
	 * goes to s->done(req, result, s) exactly once, from the loop.
	 * Returns 0 and *ret (running), or a negative error. */
	int (*request)(struct vault_session *s, const char *method, const char *path,
		       const char *body, const struct secret *tok,
		       struct transport_req **ret);
	/* Cancels the running s->req: s->done() runs with AOS_ECANCELED
	 * before this returns. */
	void (*cancel)(struct vault_session *s);
};

extern const struct session_io session_uv_io;

/* Starts METHOD <vault>/v1/<path> on tp with cfg's timeout and answer bound
 * (the session's and the database credentials' requests); *hdrs holds the
 * headers until the caller frees them with vault_headers_free() after the
 * answer.  Returns 0 and *ret (cb(req, result, data) runs once, from the
 * loop), or a negative error with nothing left allocated. */
int session__vault_request(struct transport *tp, const struct config *cfg,
			   const struct vault_conn *conn, const char *method,
			   const char *path, const char *body, const struct secret *tok,
			   struct curl_slist **hdrs, transport_cb cb, void *data,
			   struct transport_req **ret);

/* req's answer was a redirect: starts the same request (method, headers,
 * body) again where it leads, if vault_redirect_next() allows it (the
 * configured origin only, at most VAULT_MAX_REDIRECTS: *redirects counts
 * them for the request in flight).  what names the request in the debug
 * log.  Returns 0 when it runs again (cb gets its answer), or AOS_EREDIRECT
 * with errbuf saying why not, or another negative code. */
int session__follow_redirect(struct transport_req *req, const struct vault_conn *conn,
			     unsigned *redirects, const char *what, transport_cb cb,
			     void *data, char *errbuf, size_t errlen);

/* A timer of the session ran out. */
void session__fire(struct vault_session *s, enum session_timer t);

/* A request of the session ended (a transport_cb; data is the session).
 * Frees req. */
void session__done(struct transport_req *req, int result, void *data);

struct vault_session {
	const struct session_io *io;
	/* Where the io reports, session__fire and session__done (session_new
	 * sets them): session_io.c calls them through here, so it does not call
	 * back into session.c, which calls it. */
	void (*fire)(struct vault_session *s, enum session_timer t);
	transport_cb done;
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
	struct buf body;    /* request body (may hold secret_id): wiped */
	unsigned redirects; /* followed for the request in flight */

	unsigned work;
	bool in_backoff;
	bool creds_bad;	 /* credentials refused: wait for the operator */
	bool loaded;	 /* the secret was read at least once */
	bool force_data; /* read data even if the version is unchanged */
	bool closing;
	int open_handles;
	uv_timer_t timers[SESSION_NTIMERS]; /* used by session_uv_io only */

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
	int64_t meta_version; /* current_version from the last metadata read */
	char meta_created[40];
	int64_t checked_version; /* version whose data the store holds */
	char missing[512];	 /* keys missing at checked_version */

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
