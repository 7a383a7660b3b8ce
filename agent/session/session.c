/* session.c - the Vault session state machine.
 *
 * Work is a set of bits (AUTH, RENEW, CHECK).  kick() starts the most urgent
 * piece when no request is in flight and no backoff is running.  A piece of
 * work is a chain of steps, one Vault request each; a failed step keeps its
 * work bit and arms the backoff timer, so the same work is retried later.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "common/backoff.h"
#include "common/err.h"
#include "session/session.h"
#include "vault/vault.h"
#include "session_internal.h"

#define WORK_AUTH 1u
#define WORK_RENEW 2u
#define WORK_CHECK 4u

static void kick(struct vault_session *s);
static void start_step(struct vault_session *s, enum step step);

static const char *step_name(enum step st)
{
	static const char *const names[] = {
	    [STEP_IDLE] = "idle",	    [STEP_WRAP_LOOKUP] = "wrapping lookup",
	    [STEP_UNWRAP] = "unwrap",	    [STEP_LOGIN] = "AppRole login",
	    [STEP_LOOKUP] = "token lookup", [STEP_RENEW] = "token renewal",
	    [STEP_META] = "metadata read",  [STEP_DATA] = "secret read",
	    [STEP_PROBE] = "token check",
	};
	return names[st];
}

static void answer_waiters(struct session_waiter **list, int result, const char *err)
{
	while (*list != NULL) {
		struct session_waiter *w = *list;

		*list = w->next;
		w->next = NULL;
		w->linked = false;
		w->cb(w, result, err);
	}
}

static void notify(struct vault_session *s, bool first)
{
	if (s->event_cb != NULL)
		s->event_cb(s, first, s->event_data);
}

static void set_conn(struct vault_session *s)
{
	const struct vault_cfg *v = &s->cfg->vault;

	s->conn.address = v->address;
	s->conn.namespace = v->namespace;
	s->conn.ca_file = v->ca_file;
	s->conn.ca_path = v->ca_path;
	snprintf(s->kv_meta_path, sizeof(s->kv_meta_path), "%s/metadata/%s", v->kv_mount,
		 v->kv_path);
	snprintf(s->kv_name, sizeof(s->kv_name), "%s/%s", v->kv_mount, v->kv_path);
}

int session_new(uv_loop_t *loop, struct transport *tp, const struct config *cfg,
		session_event_cb cb, void *cb_data, struct vault_session **ret)
{
	struct vault_session *s = calloc(1, sizeof(*s));
	int i, r;

	if (s == NULL)
		return -ENOMEM;
	r = store_new((const char *const *)cfg->secret_keys, cfg->nsecret_keys,
		      &s->store);
	if (r < 0) {
		free(s);
		return r;
	}
	s->io = &session_uv_io;
	s->fire = session__fire;
	s->done = session__done;
	s->loop = loop;
	s->tp = tp;
	s->cfg = cfg;
	s->event_cb = cb;
	s->event_data = cb_data;
	s->rnd = aos_rand_u64;
	buf_init(&s->body, 64 * 1024);
	set_conn(s);
	for (i = 0; i < SESSION_NTIMERS; i++) {
		uv_timer_init(loop, &s->timers[i]);
		s->timers[i].data = s;
	}
	*ret = s;
	return 0;
}

/* ---- outcomes ---------------------------------------------------------- */

static void succeeded(struct vault_session *s)
{
	if (s->failures > 0)
		log_notice("Vault session healthy again after %u failed attempt%s",
			   s->failures, s->failures == 1 ? "" : "s");
	s->failures = 0;
	s->last_error[0] = '\0';
	s->last_success_ms = s->io->now(s);
}

/* A step failed: remember why, tell the waiters, and retry later. */
static void failed(struct vault_session *s, int err, bool retry)
{
	uint64_t delay;

	s->step = STEP_IDLE;
	s->failures++;
	answer_waiters(&s->waiters_current, err, s->last_error);
	answer_waiters(&s->waiters_pending, err, s->last_error);
	if (!retry) {
		log_err(
		    "%s; not retrying until the configuration is reloaded "
		    "(systemctl reload aos-publishd) or `aos-publishctl secrets refresh`",
		    s->last_error);
		s->creds_bad = true;
		notify(s, false);
		return;
	}
	delay = backoff_delay_ms(s->failures - 1, (uint64_t)s->cfg->vault.backoff_min_ms,
				 (uint64_t)s->cfg->vault.backoff_max_ms, s->rnd, NULL);
	log_warn("%s; retrying in %.1f s (attempt %u)", s->last_error,
		 (double)delay / 1000.0, s->failures);
	s->in_backoff = true;
	s->next_attempt_ms = s->io->now(s) + delay;
	s->io->arm(s, SESSION_RETRY, delay);
	notify(s, false);
}

__attribute__((format(printf, 3, 4))) static void fail_msg(struct vault_session *s,
							   int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->last_error, sizeof(s->last_error), fmt, ap);
	va_end(ap);
	failed(s, err, err != AOS_EAUTH && err != AOS_EWRAP);
}

/* ---- timers for renewal and polling ------------------------------------ */

void session__fire(struct vault_session *s, enum session_timer t)
{
	switch (t) {
	case SESSION_RETRY: s->in_backoff = false; break;
	case SESSION_POLL: s->work |= WORK_CHECK; break;
	case SESSION_RENEW: s->work |= WORK_RENEW; break;
	case SESSION_NTIMERS: return;
	}
	kick(s);
}

/* Renew at about 2/3 of the TTL: a uniform draw from 60 % to 70 %. */
static void schedule_renew(struct vault_session *s)
{
	uint64_t ttl_ms = (uint64_t)s->token_ttl_s * 1000, delay;

	s->io->stop(s, SESSION_RENEW);
	if (s->token_ttl_s <= 0)
		return; /* a token that never expires */
	delay = uniform_ms(ttl_ms * 6 / 10, ttl_ms * 7 / 10, s->rnd, NULL);
	if (delay < 500)
		delay = 500;
	s->renew_due_ms = s->io->now(s) + delay;
	s->io->arm(s, SESSION_RENEW, delay);
}

static void schedule_poll(struct vault_session *s)
{
	uint64_t delay =
	    jitter_ms((uint64_t)s->cfg->vault.poll_interval_s * 1000, 10, s->rnd, NULL);

	s->next_poll_ms = s->io->now(s) + delay;
	s->io->arm(s, SESSION_POLL, delay);
}

/* ---- answers of each step ---------------------------------------------- */

static void drop_token(struct vault_session *s)
{
	secret_unref(s->token);
	s->token = NULL;
	s->token_ttl_s = 0;
	s->io->stop(s, SESSION_RENEW);
}

static void token_ready(struct vault_session *s, const struct vault_token_info *ti)
{
	s->token_ttl_s = ti->ttl_s;
	s->token_renewable = ti->renewable;
	if (ti->creation_ttl_s > 0)
		s->token_creation_ttl_s = ti->creation_ttl_s;
	s->token_at_ms = s->io->now(s);
	s->relogin_due = false;
	s->work &= ~WORK_AUTH;
	schedule_renew(s);
}

static void apply_data(struct vault_session *s, const char *body, size_t len)
{
	size_t n = store_size(s->store), i;
	struct vault_kv_value vals[64];
	struct secret *values[64];
	const char *keys[64];
	struct store_change changes[64];
	char err[256];
	int64_t version = 0;
	int nch, r;

	if (n > 64)
		n = 64;
	for (i = 0; i < n; i++) {
		keys[i] = store_entry_at(s->store, i)->key;
		vals[i].key = keys[i];
	}
	r = vault_parse_kv_data(body, len, vals, n, &version, err, sizeof(err));
	if (r < 0) {
		fail_msg(s, r, "reading %s: %s", s->kv_name, err);
		return;
	}
	for (i = 0; i < n; i++)
		values[i] = vals[i].value;
	nch = store_update(s->store, version, s->meta_created, keys, values, n, changes,
			   64);
	for (i = 0; i < n; i++)
		secret_unref(vals[i].value);
	for (i = 0; i < (size_t)nch; i++) {
		const struct store_change *c = &changes[i];

		if (c->old_version == 0 && c->new_version != 0)
			log_notice("secret %s loaded: version %" PRId64
				   ", fingerprint %s",
				   c->key, c->new_version, c->new_fpr);
		else if (c->new_version == 0)
			log_warn("secret %s removed from %s at version %" PRId64, c->key,
				 s->kv_name, version);
		else
			log_notice("secret %s changed: version %" PRId64 " -> %" PRId64
				   ", fingerprint %s -> %s",
				   c->key, c->old_version, c->new_version, c->old_fpr,
				   c->new_fpr);
	}
	s->missing[0] = '\0';
	for (i = 0; i < n; i++) {
		if (vals[i].value != NULL)
			continue;
		log_warn("key %s %s in %s (version %" PRId64 "): add it with "
			 "rotate_secret.sh or fix the registry's token_key",
			 keys[i], vals[i].not_string ? "is not a string" : "is missing",
			 s->kv_name, version);
		snprintf(s->missing + strlen(s->missing),
			 sizeof(s->missing) - strlen(s->missing), "%s%s",
			 s->missing[0] ? ", " : "", keys[i]);
	}
	s->force_data = false;
	s->checked_version = version;
}

static void check_done(struct vault_session *s)
{
	bool first = !s->loaded;

	s->step = STEP_IDLE;
	s->work &= ~WORK_CHECK;
	if (s->waiters_pending != NULL)
		s->work |= WORK_CHECK; /* they asked after this check began */
	s->loaded = true;
	succeeded(s);
	schedule_poll(s);
	answer_waiters(&s->waiters_current, 0, NULL);
	notify(s, first);
	kick(s);
}

static void on_meta(struct vault_session *s, const char *body, size_t len)
{
	struct vault_kv_meta meta;
	char err[256];
	int r;

	r = vault_parse_kv_meta(body, len, &meta, err, sizeof(err));
	if (r < 0) {
		fail_msg(s, r, "reading metadata of %s: %s", s->kv_name, err);
		return;
	}
	if (meta.deleted) {
		fail_msg(s, AOS_ENOTFOUND,
			 "current version %" PRId64 " of %s is deleted; "
			 "keeping the previous values (write a new version)",
			 meta.current_version, s->kv_name);
		return;
	}
	log_debug("%s: current_version %" PRId64 " (held %" PRId64 ")", s->kv_name,
		  meta.current_version, s->checked_version);
	if (meta.current_version == s->checked_version && !s->force_data) {
		check_done(s);
		return;
	}
	s->meta_version = meta.current_version;
	memcpy(s->meta_created, meta.created_time, sizeof(s->meta_created));
	start_step(s, STEP_DATA);
}

/* A 403 on a read: a dead token, or a policy that does not allow it? */
static void on_denied(struct vault_session *s, enum step st)
{
	s->denied_step = st;
	snprintf(s->denied_error, sizeof(s->denied_error), "%s", s->last_error);
	start_step(s, STEP_PROBE);
}

static void on_success(struct vault_session *s, enum step st, const char *body,
		       size_t len)
{
	struct vault_token_info ti = {0};
	char err[256], path[256];
	int r;

	switch (st) {
	case STEP_WRAP_LOOKUP:
		r = vault_parse_wrap_lookup(body, len, path, sizeof(path), err,
					    sizeof(err));
		if (r == 0 &&
		    vault_check_creation_path(path, s->cfg->vault.wrap_creation_path,
					      s->cfg->vault.mount) < 0) {
			fail_msg(
			    s, AOS_EWRAP,
			    "wrapped secret_id refused: its creation path "
			    "is \"%s\", expected %s (it may have been intercepted and "
			    "re-wrapped; issue a new one)",
			    path,
			    s->cfg->vault.wrap_creation_path
				? s->cfg->vault.wrap_creation_path
				: "auth/<mount>/role/<role>/secret-id");
			return;
		}
		if (r < 0) {
			fail_msg(s, r, "wrapping lookup: %s", err);
			return;
		}
		start_step(s, STEP_UNWRAP);
		return;
	case STEP_UNWRAP:
		secret_unref(s->wrapping_token);
		s->wrapping_token = NULL;
		r = vault_parse_unwrap_secret_id(body, len, &s->secret_id, err,
						 sizeof(err));
		if (r < 0) {
			fail_msg(s, r, "unwrapping the secret_id: %s", err);
			return;
		}
		log_info("unwrapped the AppRole secret_id (creation path checked)");
		start_step(s, STEP_LOGIN);
		return;
	case STEP_LOGIN:
		r = vault_parse_auth(body, len, true, &ti, err, sizeof(err));
		if (r < 0) {
			fail_msg(s, r, "AppRole login: %s", err);
			return;
		}
		drop_token(s);
		s->token = ti.token;
		s->token_creation_ttl_s = ti.ttl_s;
		s->logins++;
		log_notice("logged in to Vault at %s with AppRole (token TTL %" PRId64
			   " s, %s)",
			   s->conn.address, ti.ttl_s,
			   ti.renewable ? "renewable" : "not renewable");
		start_step(s, STEP_LOOKUP);
		return;
	case STEP_LOOKUP:
		r = vault_parse_lookup(body, len, &ti, err, sizeof(err));
		if (r < 0) {
			fail_msg(s, r, "token lookup: %s", err);
			return;
		}
		log_info("Vault token valid: TTL %" PRId64 " s%s", ti.ttl_s,
			 ti.ttl_s == 0 ? " (no expiry)" : "");
		token_ready(s, &ti);
		s->step = STEP_IDLE;
		if (!s->loaded)
			s->work |= WORK_CHECK;
		succeeded(s);
		notify(s, false);
		kick(s);
		return;
	case STEP_RENEW: {
		int64_t before = s->token_ttl_s;

		r = vault_parse_auth(body, len, false, &ti, err, sizeof(err));
		if (r < 0) {
			fail_msg(s, r, "token renewal: %s", err);
			return;
		}
		s->work &= ~WORK_RENEW;
		s->renewals++;
		s->token_ttl_s = ti.ttl_s;
		s->token_renewable = ti.renewable;
		s->token_at_ms = s->io->now(s);
		/* The TTL stopped growing: the max TTL is near, so log in again
		 * before the token dies.  (Vault rounds a capped TTL up to whole
		 * seconds, so even one second short of the creation TTL counts.) */
		if (s->cfg->vault.method == AUTH_APPROLE &&
		    (!ti.renewable || ti.ttl_s < s->token_creation_ttl_s)) {
			s->relogin_due = true;
			log_info("Vault token renewed: TTL %" PRId64
				 " s (capped, was %" PRId64
				 " s); logging in again before it expires",
				 ti.ttl_s, before);
		} else {
			log_info("Vault token renewed: TTL %" PRId64 " s", ti.ttl_s);
		}
		schedule_renew(s);
		s->step = STEP_IDLE;
		succeeded(s);
		kick(s);
		return;
	}
	case STEP_META: on_meta(s, body, len); return;
	case STEP_DATA:
		apply_data(s, body, len);
		if (s->step == STEP_DATA)
			check_done(s);
		return;
	case STEP_PROBE:
		/* The token is alive: the 403 was the policy's answer. */
		snprintf(s->last_error, sizeof(s->last_error),
			 "permission denied on %s of %s: the token's policy must allow "
			 "\"read\" on %s/data/%s and %s/metadata/%s (%s)",
			 step_name(s->denied_step), s->kv_name, s->cfg->vault.kv_mount,
			 s->cfg->vault.kv_path, s->cfg->vault.kv_mount,
			 s->cfg->vault.kv_path, s->denied_error);
		failed(s, AOS_EDENIED, true);
		return;
	case STEP_IDLE: return;
	}
}

static void on_error(struct vault_session *s, enum step st, int r)
{
	char vmsg[sizeof(s->last_error)];

	/* Vault's own words; fail_msg() rewrites last_error. */
	snprintf(vmsg, sizeof(vmsg), "%s", s->last_error);
	switch (st) {
	case STEP_LOGIN:
		if (r == AOS_EAUTH) {
			/* 400 "invalid role or secret ID": retrying cannot help. */
			secret_unref(s->secret_id);
			s->secret_id = NULL;
			fail_msg(
			    s, AOS_EAUTH, "AppRole login at %s rejected: %s (%s)",
			    s->conn.address, vmsg,
			    s->cfg->vault.secret_id_wrapped
				? "the unwrapped secret_id expired or was revoked, or the "
				  "role_id is wrong: put a fresh wrapping token in the "
				  "secret_id file, then restart or reload"
				: "check the role_id and secret_id files");
			return;
		}
		if (r == AOS_EDENIED) {
			/* Read a plain secret_id again next time; an unwrapped one
			 * cannot be read again (its wrapping token is used). */
			if (!s->cfg->vault.secret_id_wrapped) {
				secret_unref(s->secret_id);
				s->secret_id = NULL;
			}
			fail_msg(s, r,
				 "AppRole login at %s denied: %s (is the AppRole auth "
				 "method enabled at auth/%s?)",
				 s->conn.address, vmsg, s->cfg->vault.mount);
			return;
		}
		break;
	case STEP_WRAP_LOOKUP:
	case STEP_UNWRAP:
		if (r == AOS_EDENIED || r == AOS_ESERVER) {
			secret_unref(s->wrapping_token);
			s->wrapping_token = NULL;
			fail_msg(s, AOS_EWRAP,
				 "wrapped secret_id refused by Vault: %s "
				 "(a wrapping token works once; issue a new one)",
				 vmsg);
			return;
		}
		break;
	case STEP_LOOKUP:
		if (r == AOS_EDENIED) {
			drop_token(s);
			s->work |= WORK_AUTH;
			fail_msg(s, AOS_ETOKEN,
				 "Vault token rejected by lookup-self (%s)%s", vmsg,
				 s->cfg->vault.method == AUTH_TOKEN
				     ? ": put a valid token in the token file"
				     : "");
			return;
		}
		break;
	case STEP_RENEW:
	case STEP_PROBE:
		/* "past the max TTL, cannot renew" (a 500) and the like: with
		 * AppRole, the next attempt is a fresh login. */
		if (st == STEP_RENEW && s->cfg->vault.method == AUTH_APPROLE)
			s->relogin_due = true;
		if (r == AOS_EDENIED) {
			/* Dead token: log in again at once. */
			log_warn("Vault token no longer valid (%s); authenticating again",
				 vmsg);
			drop_token(s);
			s->work |= WORK_AUTH;
			s->work &= ~WORK_RENEW;
			s->step = STEP_IDLE;
			kick(s);
			return;
		}
		break;
	case STEP_META:
	case STEP_DATA:
		if (r == AOS_EDENIED) {
			on_denied(s, st);
			return;
		}
		if (r == AOS_ENOTFOUND) {
			fail_msg(s, r,
				 "%s not found in Vault (%s): check vault.kv_mount and "
				 "vault.kv_path, or create it with rotate_secret.sh",
				 s->kv_name, vmsg);
			return;
		}
		break;
	default: break;
	}
	fail_msg(s, r, "Vault %s failed: %s", step_name(st), vmsg);
}

void session__done(struct transport_req *req, int result, void *data)
{
	struct vault_session *s = data;
	enum step st = s->step;
	int r;

	if (result == 0 && vault_is_redirect(req->status)) {
		r = session__follow_redirect(req, &s->conn, &s->redirects, step_name(st),
					     session__done, s, s->last_error,
					     sizeof(s->last_error));
		if (r == 0)
			return; /* same request, same headers and body: still in flight */
		if (r != AOS_EREDIRECT)
			snprintf(s->last_error, sizeof(s->last_error),
				 "following a redirect: %s", aos_strerror(r));
		result = r;
	}
	vault_headers_free(s->hdrs);
	s->hdrs = NULL;
	buf_reset(&s->body);
	s->req = NULL; /* freed below; a next step makes a new one */
	if (result == AOS_ECANCELED) {
		s->step = STEP_IDLE;
		transport_req_free(req);
		if (!s->closing)
			kick(s);
		return;
	}
	if (result < 0) {
		if (result == AOS_EREDIRECT || result == -ENOMEM) {
			char why[sizeof(s->last_error)];

			snprintf(why, sizeof(why), "%s", s->last_error);
			fail_msg(s, result, "Vault %s: %s", step_name(st), why);
		} else if (result == AOS_ETOOBIG)
			fail_msg(s, result,
				 "Vault %s: answer too large (over %ld bytes, "
				 "vault.max_response_bytes)",
				 step_name(st), s->cfg->vault.max_response_bytes);
		else
			fail_msg(s, result, "Vault %s: cannot reach %s: %s",
				 step_name(st), s->conn.address, req->error);
		transport_req_free(req);
		return;
	}
	r = vault_check_status(req->status, req->body.data, req->body.len, s->last_error,
			       sizeof(s->last_error));
	log_debug("Vault %s: HTTP %ld", step_name(st), req->status);
	if (r < 0) {
		if (r == AOS_ESEALED || r == AOS_ESTANDBY) {
			char msg[sizeof(s->last_error)];

			snprintf(msg, sizeof(msg), "%s", s->last_error);
			fail_msg(s, r, "Vault %s: %s (%s)", step_name(st),
				 r == AOS_ESEALED
				     ? "Vault is sealed or unavailable"
				     : "Vault answered 429 (standby or rate limit)",
				 msg);
		} else {
			on_error(s, st, r);
		}
	} else {
		on_success(s, st, req->body.data, req->body.len);
	}
	transport_req_free(req);
}

/* ---- starting steps ----------------------------------------------------- */

static void start_step(struct vault_session *s, enum step step)
{
	const struct secret *tok = s->token;
	const char *method = "GET", *body = NULL;
	char path[1100];
	int r = 0;

	buf_reset(&s->body);
	switch (step) {
	case STEP_WRAP_LOOKUP:
		snprintf(path, sizeof(path), "sys/wrapping/lookup");
		method = "POST";
		tok = NULL;
		r = vault_token_body(s->wrapping_token, &s->body);
		body = s->body.data;
		break;
	case STEP_UNWRAP:
		snprintf(path, sizeof(path), "sys/wrapping/unwrap");
		method = "POST";
		tok = s->wrapping_token;
		break;
	case STEP_LOGIN:
		snprintf(path, sizeof(path), "auth/%s/login", s->cfg->vault.mount);
		method = "POST";
		tok = NULL;
		r = vault_login_body(s->role_id, s->secret_id, &s->body);
		body = s->body.data;
		break;
	case STEP_LOOKUP:
	case STEP_PROBE: snprintf(path, sizeof(path), "auth/token/lookup-self"); break;
	case STEP_RENEW:
		snprintf(path, sizeof(path), "auth/token/renew-self");
		method = "POST";
		body = "{}";
		break;
	case STEP_META:
		snprintf(path, sizeof(path), "%s", s->kv_meta_path);
		answer_waiters(&s->waiters_current, 0, NULL); /* none should be left */
		s->waiters_current = s->waiters_pending;
		s->waiters_pending = NULL;
		break;
	case STEP_DATA:
		snprintf(path, sizeof(path), "%s/data/%s?version=%" PRId64,
			 s->cfg->vault.kv_mount, s->cfg->vault.kv_path, s->meta_version);
		break;
	case STEP_IDLE: return;
	}
	if (r < 0) {
		fail_msg(s, r, "building the %s request", step_name(step));
		return;
	}
	s->step = step;
	s->redirects = 0;
	r = s->io->request(s, method, path, body, tok, &s->req);
	if (r < 0) {
		fail_msg(s, r, "starting the Vault %s request", step_name(step));
		return;
	}
	s->requests++;
}

/* Reads the credential file into *into; when that fails, the session fails
 * with the reason.  Returns 0 or the negative error. */
static int read_credential(struct vault_session *s, const char *file,
			   struct secret **into)
{
	char err[512];
	int r = vault_read_credential(file, getenv("CREDENTIALS_DIRECTORY"), s->cfg->dir,
				      into, err, sizeof(err));

	if (r < 0)
		fail_msg(s, r, "%s", err);
	return r;
}

/* Reads the credentials and starts the first step of authentication. */
static void start_auth(struct vault_session *s)
{
	const struct vault_cfg *v = &s->cfg->vault;

	if (v->method == AUTH_TOKEN) {
		drop_token(s);
		if (read_credential(s, v->token_file, &s->token) == 0)
			start_step(s, STEP_LOOKUP);
		return;
	}
	if (s->role_id == NULL && read_credential(s, v->role_id_file, &s->role_id) < 0)
		return;
	if (s->secret_id != NULL) {
		start_step(s, STEP_LOGIN);
		return;
	}
	if (v->secret_id_wrapped) {
		secret_unref(s->wrapping_token);
		s->wrapping_token = NULL;
		if (read_credential(s, v->secret_id_file, &s->wrapping_token) == 0)
			start_step(s, STEP_WRAP_LOOKUP);
		return;
	}
	if (read_credential(s, v->secret_id_file, &s->secret_id) == 0)
		start_step(s, STEP_LOGIN);
}

static void kick(struct vault_session *s)
{
	if (s->closing || s->step != STEP_IDLE || s->in_backoff || s->creds_bad)
		return;
	if (s->token == NULL)
		s->work |= WORK_AUTH;
	if ((s->work & WORK_RENEW) && s->cfg->vault.method == AUTH_APPROLE &&
	    (s->relogin_due || !s->token_renewable)) {
		s->work &= ~WORK_RENEW;
		s->work |= WORK_AUTH;
		if (s->cfg->vault.secret_id_wrapped) {
			/* The wrapping token worked once: the unwrapped
			 * secret_id, kept in the secure heap, logs in again. */
			log_info("logging in again with the unwrapped secret_id kept "
				 "in locked memory");
		} else {
			secret_unref(
			    s->secret_id); /* read it again: it may have changed */
			s->secret_id = NULL;
		}
	}
	if (s->work & WORK_AUTH) {
		start_auth(s);
	} else if (s->work & WORK_RENEW) {
		if (!s->token_renewable) {
			s->work &= ~WORK_RENEW;
			kick(s);
			return;
		}
		start_step(s, STEP_RENEW);
	} else if (s->work & WORK_CHECK) {
		start_step(s, STEP_META);
	}
}

/* ---- public ------------------------------------------------------------- */

void session_start(struct vault_session *s)
{
	s->work |= WORK_AUTH | WORK_CHECK;
	kick(s);
}

void session_refresh(struct vault_session *s, struct session_waiter *w)
{
	if (w != NULL && !w->linked) {
		w->next = s->waiters_pending;
		w->linked = true;
		s->waiters_pending = w;
	}
	s->work |= WORK_CHECK;
	if (s->creds_bad) {
		s->creds_bad = false;
		secret_unref(s->secret_id);
		s->secret_id = NULL;
		secret_unref(s->role_id);
		s->role_id = NULL;
	}
	if (s->in_backoff) {
		s->io->stop(s, SESSION_RETRY);
		s->in_backoff = false;
	}
	kick(s);
}

static bool str_differs(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a != b;
	return strcmp(a, b) != 0;
}

int session_reconfigure(struct vault_session *s, const struct config *cfg)
{
	const struct vault_cfg *o = &s->cfg->vault, *n = &cfg->vault;
	struct secret_store *st = NULL;
	bool keys_changed = cfg->nsecret_keys != store_size(s->store);
	bool auth_changed;
	size_t i;
	int r;

	for (i = 0; !keys_changed && i < cfg->nsecret_keys; i++)
		keys_changed =
		    strcmp(cfg->secret_keys[i], store_entry_at(s->store, i)->key) != 0;
	auth_changed = str_differs(o->address, n->address) ||
		       str_differs(o->namespace, n->namespace) ||
		       o->method != n->method ||
		       str_differs(o->token_file, n->token_file) ||
		       str_differs(o->role_id_file, n->role_id_file) ||
		       str_differs(o->secret_id_file, n->secret_id_file) ||
		       str_differs(o->mount, n->mount) ||
		       o->secret_id_wrapped != n->secret_id_wrapped;
	if (keys_changed) {
		r = store_new((const char *const *)cfg->secret_keys, cfg->nsecret_keys,
			      &st);
		if (r < 0)
			return r;
		store_migrate(st, s->store);
		store_free(s->store);
		s->store = st;
		s->force_data = true;
	}
	if (str_differs(o->kv_mount, n->kv_mount) ||
	    str_differs(o->kv_path, n->kv_path)) {
		s->force_data = true;
		s->checked_version = 0;
	}
	s->cfg = cfg;
	set_conn(s);
	if (auth_changed) {
		drop_token(s);
		secret_unref(s->role_id);
		s->role_id = NULL;
		/* An unwrapped secret_id cannot be read again: keep it while
		 * it still belongs to the configured role and file. */
		if (!n->secret_id_wrapped || !o->secret_id_wrapped ||
		    str_differs(o->role_id_file, n->role_id_file) ||
		    str_differs(o->secret_id_file, n->secret_id_file) ||
		    str_differs(o->mount, n->mount)) {
			secret_unref(s->secret_id);
			s->secret_id = NULL;
		}
		s->work |= WORK_AUTH;
		if (s->step != STEP_IDLE)
			s->io->cancel(s); /* kicks the session again */
	}
	session_refresh(s, NULL);
	return 0;
}

void session_cancel_waiter(struct vault_session *s, struct session_waiter *w)
{
	struct session_waiter **lists[] = {&s->waiters_pending, &s->waiters_current};
	size_t i;

	if (!w->linked)
		return;
	for (i = 0; i < 2; i++) {
		struct session_waiter **p;

		for (p = lists[i]; *p != NULL; p = &(*p)->next) {
			if (*p == w) {
				*p = w->next;
				w->next = NULL;
				w->linked = false;
				return;
			}
		}
	}
}

static void timer_closed(uv_handle_t *h)
{
	struct vault_session *s = h->data;

	if (--s->open_handles > 0)
		return;
	store_free(s->store);
	free(s);
}

void session_close(struct vault_session *s)
{
	int i;

	if (s == NULL || s->closing)
		return;
	s->closing = true;
	answer_waiters(&s->waiters_current, AOS_ECANCELED, "daemon stopping");
	answer_waiters(&s->waiters_pending, AOS_ECANCELED, "daemon stopping");
	if (s->step != STEP_IDLE)
		s->io->cancel(s);
	transport_req_free(s->req);
	s->req = NULL;
	vault_headers_free(s->hdrs);
	s->hdrs = NULL;
	buf_free(&s->body);
	drop_token(s);
	secret_unref(s->role_id);
	secret_unref(s->secret_id);
	secret_unref(s->wrapping_token);
	s->role_id = s->secret_id = s->wrapping_token = NULL;
	s->open_handles = SESSION_NTIMERS;
	for (i = 0; i < SESSION_NTIMERS; i++)
		uv_close((uv_handle_t *)&s->timers[i], timer_closed);
}
