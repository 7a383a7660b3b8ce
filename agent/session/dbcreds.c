/* dbcreds.c - the database credentials' state machine (dbcreds.h).
 *
 * As in the session (session.c), work is a set of bits (FETCH, RENEW) and
 * kick() starts the most urgent piece when no request is in flight and no
 * backoff is running; a failed request keeps its bit and arms the one
 * backoff timer.  A renewal that is not possible any more (the lease
 * stopped growing, is not renewable, or ran out while Vault could not be
 * reached) turns into a fetch of new credentials.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "base/log.h"
#include "common/backoff.h"
#include "common/err.h"
#include "session/dbcreds.h"
#include "vault/vault.h"
#include "dbcreds_internal.h"
#include "session_internal.h"

#define WORK_FETCH 1u
#define WORK_RENEW 2u

static void kick(struct dbcreds *d);

static const char *step_name(enum dbc_step st)
{
	static const char *const names[] = {
	    [DBC_IDLE] = "idle",
	    [DBC_FETCH] = "database credentials read",
	    [DBC_RENEW] = "database lease renewal",
	};
	return names[st];
}

void dbcreds_reconfigure(struct dbcreds *d, const struct config *cfg)
{
	d->cfg = cfg;
	d->conn.address = cfg->vault.address;
	d->conn.namespace = cfg->vault.namespace;
	d->conn.ca_file = cfg->vault.ca_file;
	d->conn.ca_path = cfg->vault.ca_path;
}

int dbcreds_new(uv_loop_t *loop, struct transport *tp, const struct config *cfg,
		const struct dbcreds_hooks *hooks, struct dbcreds **ret)
{
	const struct pg_credentials_cfg *pc = &cfg->queue.pg_credentials;
	struct dbcreds *d;
	int i, n;

	if (pc->source != PG_CRED_DATABASE || hooks->token == NULL ||
	    hooks->issued == NULL)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return -ENOMEM;
	n = snprintf(d->creds_path, sizeof(d->creds_path), "%s/creds/%s", pc->mount,
		     pc->database_role);
	if (n < 0 || (size_t)n >= sizeof(d->creds_path)) {
		free(d);
		return -EINVAL;
	}
	d->io = &dbcreds_uv_io;
	d->fire = dbcreds__fire;
	d->done = dbcreds__done;
	d->loop = loop;
	d->tp = tp;
	d->cfg = cfg;
	d->hooks = *hooks;
	d->rnd = aos_rand_u64;
	dbcreds_reconfigure(d, cfg);
	buf_init(&d->body, 2 * VAULT_LEASE_ID_MAX);
	for (i = 0; i < DBC_NTIMERS; i++) {
		uv_timer_init(loop, &d->timers[i]);
		d->timers[i].data = d;
	}
	*ret = d;
	return 0;
}

static struct dbcreds_set current_set(const struct dbcreds *d)
{
	struct dbcreds_set set = {
	    .username = d->username,
	    .password = d->password,
	    .expires_ms = d->expires_ms,
	    .serial = d->serial,
	};
	return set;
}

/* ---- outcomes ---------------------------------------------------------- */

static void succeeded(struct dbcreds *d)
{
	if (d->failures > 0)
		log_notice("database credentials from Vault (%s) again after %u failed "
			   "attempt%s",
			   d->creds_path, d->failures, d->failures == 1 ? "" : "s");
	d->failures = 0;
	d->last_error[0] = '\0';
}

static void tell_failed(struct dbcreds *d, int err)
{
	if (d->hooks.failed != NULL)
		d->hooks.failed(d, err, d->last_error, d->hooks.data);
}

/* A request failed: retry the same work after the backoff. */
__attribute__((format(printf, 3, 4))) static void fail_msg(struct dbcreds *d, int err,
							   const char *fmt, ...)
{
	uint64_t delay;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->last_error, sizeof(d->last_error), fmt, ap);
	va_end(ap);
	d->step = DBC_IDLE;
	d->failures++;
	delay = backoff_delay_ms(d->failures - 1, (uint64_t)d->cfg->vault.backoff_min_ms,
				 (uint64_t)d->cfg->vault.backoff_max_ms, d->rnd, NULL);
	log_warn("%s; retrying in %.1f s (attempt %u)", d->last_error,
		 (double)delay / 1000.0, d->failures);
	d->in_backoff = true;
	d->io->arm(d, DBC_RETRY, delay);
	tell_failed(d, err);
}

/* ---- timers ------------------------------------------------------------- */

void dbcreds__fire(struct dbcreds *d, enum dbc_timer t)
{
	switch (t) {
	case DBC_RETRY: d->in_backoff = false; break;
	case DBC_DUE: d->work |= WORK_RENEW; break;
	case DBC_NTIMERS: return;
	}
	kick(d);
}

/* The next renewal (or replacement) at about 2/3 of the lease granted now:
 * a uniform draw from 60 % to 70 %, as the session's token renewal. */
static void schedule_due(struct dbcreds *d, int64_t granted_s)
{
	uint64_t ms = (uint64_t)granted_s * 1000, delay;

	d->io->stop(d, DBC_DUE);
	delay = uniform_ms(ms * 6 / 10, ms * 7 / 10, d->rnd, NULL);
	if (delay < 500)
		delay = 500;
	d->due_ms = d->io->now(d) + delay;
	d->io->arm(d, DBC_DUE, delay);
}

/* ---- answers ------------------------------------------------------------ */

/* New credentials: they become the current set, with their own lease. */
static void on_creds(struct dbcreds *d, const char *body, size_t len)
{
	struct vault_db_creds c = {0};
	struct dbcreds_set set;
	char err[256], fpr[SECRET_FPR_LEN + 1];
	int r;

	r = vault_parse_db_creds(body, len, &c, err, sizeof(err));
	if (r < 0) {
		fail_msg(d, r, "reading %s: %s", d->creds_path, err);
		return;
	}
	/* Our reference to the previous set only: the owner keeps its own
	 * until its connections have moved to the new set. */
	secret_unref(d->password);
	d->password = c.password;
	c.password = NULL; /* transferred */
	memcpy(d->username, c.username, sizeof(d->username));
	memcpy(d->lease_id, c.lease.id, sizeof(d->lease_id));
	d->lease_s = c.lease.duration_s;
	d->renewable = c.lease.renewable;
	OPENSSL_cleanse(&c, sizeof(c));
	d->replace_due = false;
	d->expires_ms = d->io->now(d) + (uint64_t)d->lease_s * 1000;
	d->step = DBC_IDLE;
	d->work &= ~(WORK_FETCH | WORK_RENEW);
	d->serial++;
	schedule_due(d, d->lease_s);
	succeeded(d);
	secret_fingerprint(d->password, fpr);
	log_notice("database credentials %lu from %s: user %s, password fingerprint %s, "
		   "lease %" PRId64 " s%s",
		   d->serial, d->creds_path, d->username, fpr, d->lease_s,
		   d->renewable ? "" : " (not renewable: replaced at 2/3 of it)");
	set = current_set(d);
	d->hooks.issued(d, &set, d->hooks.data);
}

/* A renewal: granted less than asked (Vault caps at the role's max TTL) or
 * no longer renewable means the lease will end soon: replace it now, while
 * the current set is still valid for what was granted. */
static void on_renewed(struct dbcreds *d, const char *body, size_t len)
{
	struct vault_lease l = {0};
	struct dbcreds_set set;
	char err[256];
	int r;

	r = vault_parse_lease_renew(body, len, &l, err, sizeof(err));
	if (r < 0) {
		fail_msg(d, r, "renewing the lease of %s: %s", d->creds_path, err);
		return;
	}
	d->step = DBC_IDLE;
	d->work &= ~WORK_RENEW;
	d->renewals++;
	d->renewable = l.renewable;
	d->expires_ms = d->io->now(d) + (uint64_t)l.duration_s * 1000;
	succeeded(d);
	if (!l.renewable || l.duration_s < d->lease_s) {
		d->replace_due = true;
		d->work |= WORK_FETCH;
		d->io->stop(d, DBC_DUE);
		log_info("lease of database user %s renewed for %" PRId64
			 " s (asked %" PRId64
			 " s): its max TTL is near, fetching new credentials",
			 d->username, l.duration_s, d->lease_s);
	} else {
		schedule_due(d, l.duration_s);
		log_info("lease of database user %s renewed for %" PRId64 " s",
			 d->username, l.duration_s);
	}
	set = current_set(d);
	if (d->hooks.renewed != NULL)
		d->hooks.renewed(d, &set, d->hooks.data);
	kick(d);
}

static void on_error(struct dbcreds *d, enum dbc_step st, int r, long status)
{
	char vmsg[sizeof(d->last_error)];

	snprintf(vmsg, sizeof(vmsg), "%s", d->last_error); /* Vault's own words */
	if (st == DBC_RENEW && status >= 400 && status < 500 && r != AOS_ESTANDBY) {
		/* The lease ended, was revoked, or may not be renewed: retrying
		 * cannot help, new credentials can.  (Not a tight loop: the next
		 * renewal comes at 2/3 of the new lease.) */
		snprintf(d->last_error, sizeof(d->last_error),
			 "renewing the lease of database user %s refused (%s); fetching "
			 "new credentials",
			 d->username, vmsg);
		log_warn("%s", d->last_error);
		d->step = DBC_IDLE;
		d->work &= ~WORK_RENEW;
		d->work |= WORK_FETCH;
		tell_failed(d, r);
		kick(d);
		return;
	}
	if (st == DBC_FETCH && r == AOS_EDENIED)
		fail_msg(d, r,
			 "reading %s denied (%s): the Vault token's policy must allow "
			 "\"read\" on %s and \"update\" on sys/leases/renew",
			 d->creds_path, vmsg, d->creds_path);
	else if (st == DBC_FETCH && (r == AOS_ENOTFOUND || status == 400))
		fail_msg(
		    d, r,
		    "reading %s: %s (check queue.postgresql.credentials.database_role "
		    "and mount, and that the role exists in Vault)",
		    d->creds_path, vmsg);
	else
		fail_msg(d, r, "Vault %s failed: %s", step_name(st), vmsg);
}

/* A redirect not followed: d->last_error says why (another origin, too
 * many, no Location). */
static void redirect_failed(struct dbcreds *d, enum dbc_step st, int r)
{
	char why[sizeof(d->last_error)];

	snprintf(why, sizeof(why), "%s", d->last_error);
	fail_msg(d, r, "Vault %s: %s", step_name(st), why);
}

void dbcreds__done(struct transport_req *req, int result, void *data)
{
	struct dbcreds *d = data;
	enum dbc_step st = d->step;
	int r;

	if (result == 0 && vault_is_redirect(req->status)) {
		/* a standby sends the request to the active node: the same
		 * request, within the configured origin only */
		r = session__follow_redirect(req, &d->conn, &d->redirects, step_name(st),
					     d->done, d, d->last_error,
					     sizeof(d->last_error));
		if (r == 0)
			return; /* still in flight */
		if (r != AOS_EREDIRECT)
			snprintf(d->last_error, sizeof(d->last_error),
				 "following a redirect: %s", aos_strerror(r));
		result = r;
	}
	vault_headers_free(d->hdrs);
	d->hdrs = NULL;
	buf_reset(&d->body);
	d->req = NULL; /* freed below */
	if (result == AOS_ECANCELED) {
		d->step = DBC_IDLE;
		transport_req_free(req);
		if (!d->closing)
			kick(d);
		return;
	}
	if (result == AOS_ETOOBIG)
		fail_msg(d, result,
			 "Vault %s: answer too large (over %ld bytes, "
			 "vault.max_response_bytes)",
			 step_name(st), d->cfg->vault.max_response_bytes);
	else if (result == AOS_EREDIRECT ||
		 (result < 0 && vault_is_redirect(req->status)))
		redirect_failed(d, st, result);
	else if (result < 0)
		fail_msg(d, result, "Vault %s: cannot reach %s: %s", step_name(st),
			 d->conn.address, req->error);
	else if ((r = vault_check_status(req->status, req->body.data, req->body.len,
					 d->last_error, sizeof(d->last_error))) < 0)
		on_error(d, st, r, req->status);
	else if (st == DBC_FETCH)
		on_creds(d, req->body.data, req->body.len);
	else
		on_renewed(d, req->body.data, req->body.len);
	transport_req_free(req); /* wipes the answer, which held the password */
}

/* ---- requests ----------------------------------------------------------- */

static void start_step(struct dbcreds *d, enum dbc_step st)
{
	const struct secret *tok = d->hooks.token(d->hooks.data);
	const char *method = "GET", *path = d->creds_path, *body = NULL;
	int r;

	if (tok == NULL) {
		fail_msg(d, AOS_ETOKEN,
			 "no Vault token to read %s with yet (the Vault session has not "
			 "logged in)",
			 d->creds_path);
		return;
	}
	buf_reset(&d->body);
	if (st == DBC_RENEW) {
		method = "PUT";
		path = "sys/leases/renew";
		r = vault_lease_renew_body(d->lease_id, d->lease_s, &d->body);
		if (r < 0) {
			fail_msg(d, r, "building the lease renewal: %s", aos_strerror(r));
			return;
		}
		body = d->body.data;
	}
	d->step = st;
	d->redirects = 0;
	r = d->io->request(d, method, path, body, tok, &d->req);
	if (r < 0) {
		fail_msg(d, r, "starting the Vault %s request: %s", step_name(st),
			 aos_strerror(r));
		return;
	}
	d->requests++;
}

static void kick(struct dbcreds *d)
{
	if (d->closing || d->step != DBC_IDLE || d->in_backoff)
		return;
	/* A lease that cannot be renewed (any more) is replaced instead. */
	if ((d->work & WORK_RENEW) &&
	    (d->replace_due || !d->renewable || d->password == NULL ||
	     d->io->now(d) >= d->expires_ms)) {
		d->work &= ~WORK_RENEW;
		d->work |= WORK_FETCH;
	}
	if (d->work & WORK_FETCH)
		start_step(d, DBC_FETCH);
	else if (d->work & WORK_RENEW)
		start_step(d, DBC_RENEW);
}

/* ---- public ------------------------------------------------------------- */

void dbcreds_start(struct dbcreds *d)
{
	d->work |= WORK_FETCH;
	kick(d);
}

const char *dbcreds_last_error(const struct dbcreds *d)
{
	return d->failures > 0 && d->last_error[0] != '\0' ? d->last_error : NULL;
}

static void timer_closed(uv_handle_t *h)
{
	struct dbcreds *d = h->data;

	if (--d->open_handles > 0)
		return;
	free(d);
}

void dbcreds_close(struct dbcreds *d)
{
	int i;

	if (d == NULL || d->closing)
		return;
	d->closing = true;
	if (d->step != DBC_IDLE)
		d->io->cancel(d);
	transport_req_free(d->req);
	d->req = NULL;
	vault_headers_free(d->hdrs);
	d->hdrs = NULL;
	buf_free(&d->body);
	secret_unref(d->password); /* wiped unless the owner holds it */
	d->password = NULL;
	OPENSSL_cleanse(d->username, sizeof(d->username));
	OPENSSL_cleanse(d->lease_id, sizeof(d->lease_id));
	d->open_handles = DBC_NTIMERS;
	for (i = 0; i < DBC_NTIMERS; i++)
		uv_close((uv_handle_t *)&d->timers[i], timer_closed);
}
