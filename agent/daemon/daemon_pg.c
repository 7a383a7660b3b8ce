/* daemon_pg.c - the daemon on the PostgreSQL queue: settings, credentials
 * handed over to both queue_async and the LISTEN connection, the worker
 * woken by NOTIFY.  See daemon_pg.h. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "common/secret.h"
#include "daemon/agent.h"
#include "daemon/daemon_pg.h"
#include "daemon/follow.h"
#include "queue/queue_async.h"
#include "queue/queue_listen.h"
#include "queue/queue_pg_conn.h"
#include "session/dbcreds.h"
#include "vault/store.h"
#include "worker/worker.h"

struct daemon_pg {
	struct agent *a;
	enum pg_cred_source source; /* at the start: a restart changes it */
	struct queue_pg_conn *conn;
	struct queue_listen *listen; /* NULL before the first credentials */
	struct dbcreds *creds;	     /* database_role only */
	atomic_bool have_creds;	     /* read by the queue_async threads */
	struct secret *kv_pw;	     /* kv_key: the password handed over */
	bool kv_missing_logged;
	bool creds_started, worker_started, stopping;
	char user[128]; /* the user of the last hand-over ("": settings') */
	char fpr[SECRET_FPR_LEN + 1];
	uint64_t expires_ms; /* database_role: the set's lease end (uv_now) */
	unsigned long serial;
};

int daemon_pg_open(void *pg, struct queue **ret, char *errbuf, size_t errlen)
{
	struct daemon_pg *dp = pg;

	if (!atomic_load(&dp->have_creds)) {
		snprintf(errbuf, errlen,
			 "waiting for the database credentials from Vault "
			 "(queue.postgresql.credentials)");
		return -EAGAIN;
	}
	return queue_pg_conn_open(dp->conn, ret, errbuf, errlen);
}

/* ---- LISTEN -------------------------------------------------------------- */

/* Another host queued or ended a job (or the LISTEN connection came back
 * and missed what was sent meanwhile): claim, and let followers read. */
static void wake(struct queue_listen *l, void *data)
{
	struct daemon_pg *dp = data;

	(void)l;
	if (dp->a->worker != NULL)
		worker_kick(dp->a->worker);
	follow_queue_changed(dp->a);
}

static void listen_start(struct daemon_pg *dp)
{
	const struct config *cfg = dp->a->cfg;
	int r;

	if (dp->listen != NULL) {
		queue_listen_reopen(dp->listen);
		return;
	}
	r = queue_listen_start(
	    &dp->a->loop,
	    &(struct queue_listen_opts){
		.conn = dp->conn,
		.wake = wake,
		.data = dp,
		.connect_timeout_ms = (uint64_t)cfg->queue.pg.connect_timeout_s * 1000},
	    &dp->listen);
	if (r < 0) {
		dp->listen = NULL;
		log_err_r(r,
			  "cannot start the queue's LISTEN connection: jobs other hosts "
			  "queue are claimed at the worker's next tick only");
	}
}

/* ---- hand-over ----------------------------------------------------------- */

static void reopened(struct queue_async_result *res, void *data)
{
	const char *role = data;

	/* a failure is logged by the open's report (daemon_queue.c) */
	if (res->rc == 0)
		log_info("the queue's %s connected with the new database credentials",
			 role);
}

/* The credentials of the next connects: reopens both queue_async (the
 * write queue's reopen comes before the worker's first claim) and LISTEN,
 * and starts the worker the first time. */
static void hand_over(struct daemon_pg *dp, const char *user, struct secret *pw)
{
	struct agent *a = dp->a;
	int r = queue_pg_conn_set_credentials(dp->conn, user, pw);

	if (r < 0) {
		log_err_r(r, "cannot take the new database credentials; the queue keeps "
			     "its connections");
		return;
	}
	snprintf(dp->user, sizeof(dp->user), "%s", user != NULL ? user : "");
	secret_fingerprint(pw, dp->fpr);
	atomic_store(&dp->have_creds, true);
	if (a->wq != NULL && queue_async_reopen(a->wq, reopened, "writer") < 0)
		log_warn("the queue's writer cannot reconnect now: it uses the new "
			 "credentials at its next connect");
	if (a->rq != NULL && queue_async_reopen(a->rq, reopened, "reader") < 0)
		log_warn("the queue's reader cannot reconnect now: it uses the new "
			 "credentials at its next connect");
	listen_start(dp);
	if (!dp->worker_started && a->worker != NULL) {
		dp->worker_started = true;
		worker_start(a->worker);
	}
}

/* kv_key: the password in the Vault secret, handed over when it changes. */
static void kv_changed(struct daemon_pg *dp)
{
	struct agent *a = dp->a;
	const char *key = a->cfg->queue.pg_credentials.kv_key;
	struct secret *pw =
	    key != NULL ? store_get(session_store(a->session), key) : NULL;

	if (pw == NULL) {
		if (!dp->kv_missing_logged && session_loaded(a->session))
			log_err("the Vault secret has no key %s "
				"(queue.postgresql.credentials.kv_key): the queue %s; "
				"add the database password under that key",
				key != NULL ? key : "?",
				dp->kv_pw != NULL ? "keeps its connections"
						  : "cannot connect");
		dp->kv_missing_logged = session_loaded(a->session);
		return;
	}
	dp->kv_missing_logged = false;
	if (dp->kv_pw != NULL && secret_equal(pw, dp->kv_pw)) {
		secret_unref(pw);
		return;
	}
	hand_over(dp, NULL, pw);
	log_notice("database password from the Vault secret's key %s (fingerprint "
		   "%s): the queue %s",
		   key, dp->fpr, dp->kv_pw != NULL ? "reconnects with it" : "connects");
	secret_unref(dp->kv_pw);
	dp->kv_pw = pw;
}

static const struct secret *creds_token(void *data)
{
	struct daemon_pg *dp = data;

	return session_token(dp->a->session);
}

static void creds_issued(struct dbcreds *d, const struct dbcreds_set *set, void *data)
{
	struct daemon_pg *dp = data;

	(void)d;
	if (dp->stopping)
		return;
	dp->expires_ms = set->expires_ms;
	dp->serial = set->serial;
	hand_over(dp, set->username, set->password);
}

static void creds_renewed(struct dbcreds *d, const struct dbcreds_set *set, void *data)
{
	struct daemon_pg *dp = data;

	(void)d;
	dp->expires_ms = set->expires_ms;
}

/* ---- life ---------------------------------------------------------------- */

int daemon_pg_new(struct agent *a)
{
	const struct config *cfg = a->cfg;
	const struct pg_cfg *pg = &cfg->queue.pg;
	struct daemon_pg *dp = calloc(1, sizeof(*dp));
	/* No transaction of this daemon outlives its lease: a host stopped
	 * (SIGSTOP, a frozen VM) between two statements of one would hold
	 * its package and claim locks, and every other host's enqueue,
	 * claim and takeover would wait behind them for as long as it is
	 * stopped.  The server ends such a session; its locks go, the jobs'
	 * leases run out and are taken over, and the stopped host, woken,
	 * finds its connection gone and its fenced writes refused
	 * (integration.test_fleet stalled without it). */
	char options[64];
	int r;

	if (dp == NULL)
		return -ENOMEM;
	snprintf(options, sizeof(options), "-c idle_in_transaction_session_timeout=%ld",
		 cfg->queue.lease_s * 1000);
	dp->a = a;
	dp->source = cfg->queue.pg_credentials.source;
	atomic_init(&dp->have_creds, dp->source == PG_CRED_NONE);
	r = queue_pg_conn_new(
	    &(struct queue_pg_settings){.host = pg->host,
					.port = (int)pg->port,
					.database = pg->database,
					.user = pg->user,
					.sslmode = pg_sslmode_name(pg->sslmode),
					.sslrootcert = pg->sslrootcert,
					.options = options,
					.connect_timeout_s = (int)pg->connect_timeout_s},
	    &dp->conn);
	if (r == 0 && dp->source == PG_CRED_DATABASE)
		r = dbcreds_new(&a->loop, a->tp, cfg,
				&(struct dbcreds_hooks){.token = creds_token,
							.issued = creds_issued,
							.renewed = creds_renewed,
							.data = dp},
				&dp->creds);
	if (r < 0) {
		log_err_r(r, "cannot set up the PostgreSQL queue's connection");
		queue_pg_conn_free(dp->conn);
		free(dp);
		return r;
	}
	a->pg = dp;
	return 0;
}

void daemon_pg_start(struct agent *a)
{
	struct daemon_pg *dp = a->pg;

	if (dp->source != PG_CRED_NONE)
		return; /* the first hand-over starts them */
	listen_start(dp);
	dp->worker_started = true;
	worker_start(a->worker);
}

void daemon_pg_session_event(struct agent *a)
{
	struct daemon_pg *dp = a->pg;

	if (dp == NULL || dp->stopping)
		return;
	if (dp->source == PG_CRED_KV) {
		kv_changed(dp);
	} else if (dp->source == PG_CRED_DATABASE && !dp->creds_started &&
		   session_token(a->session) != NULL) {
		dp->creds_started = true;
		dbcreds_start(dp->creds);
	}
}

static bool differs(const char *x, const char *y)
{
	return (x == NULL) != (y == NULL) || (x != NULL && strcmp(x, y) != 0);
}

void daemon_pg_reconfigure(struct agent *a, const struct config *old)
{
	const struct pg_cfg *n = &a->cfg->queue.pg, *o = &old->queue.pg;
	const struct pg_credentials_cfg *nc = &a->cfg->queue.pg_credentials,
					*oc = &old->queue.pg_credentials;

	if (a->pg == NULL)
		return;
	if (a->pg->creds != NULL)
		dbcreds_reconfigure(a->pg->creds, a->cfg);
	if (differs(n->host, o->host) || n->port != o->port ||
	    differs(n->database, o->database) || differs(n->user, o->user) ||
	    n->sslmode != o->sslmode || differs(n->sslrootcert, o->sslrootcert) ||
	    n->connect_timeout_s != o->connect_timeout_s || nc->source != oc->source ||
	    differs(nc->database_role, oc->database_role) ||
	    differs(nc->mount, oc->mount))
		log_warn("queue.postgresql changed: takes effect at the next restart "
			 "(a changed credentials.kv_key at the next secrets refresh)");
}

void daemon_pg_status(const struct agent *a, cJSON *o)
{
	const struct daemon_pg *dp = a->pg;
	const struct config *cfg = a->cfg;
	uint64_t now = uv_now(&a->loop);
	char user[128];

	cJSON_AddStringToObject(o, "backend", dp != NULL ? "postgresql" : "sqlite");
	cJSON_AddStringToObject(o, "host_name", cfg->queue.host_name);
	if (dp == NULL)
		return;
	cJSON_AddStringToObject(o, "server", queue_pg_conn_host(dp->conn));
	cJSON_AddStringToObject(o, "database", cfg->queue.pg.database);
	queue_pg_conn_user(dp->conn, user, sizeof(user));
	cJSON_AddStringToObject(o, "user", user);
	cJSON_AddStringToObject(o, "credentials",
				dp->source == PG_CRED_KV	 ? "vault_kv_key"
				: dp->source == PG_CRED_DATABASE ? "vault_database_role"
								 : "libpq");
	if (dp->source != PG_CRED_NONE)
		cJSON_AddStringToObject(o, "password_fingerprint",
					atomic_load(&dp->have_creds) ? dp->fpr : "");
	if (dp->source == PG_CRED_DATABASE && dp->serial > 0) {
		cJSON_AddNumberToObject(o, "credentials_serial", (double)dp->serial);
		cJSON_AddNumberToObject(
		    o, "lease_left_s",
		    dp->expires_ms > now ? (double)((dp->expires_ms - now) / 1000) : 0);
	}
	cJSON_AddBoolToObject(o, "listening",
			      dp->listen != NULL && queue_listen_listening(dp->listen));
}

void daemon_pg_stop(struct agent *a)
{
	struct daemon_pg *dp = a->pg;

	if (dp == NULL || dp->stopping)
		return;
	dp->stopping = true;
	dbcreds_close(dp->creds);
	dp->creds = NULL;
	if (dp->listen != NULL)
		(void)queue_listen_close(dp->listen, NULL, NULL);
	dp->listen = NULL;
}

void daemon_pg_free(struct agent *a)
{
	struct daemon_pg *dp = a->pg;

	if (dp == NULL)
		return;
	queue_pg_conn_free(dp->conn);
	secret_unref(dp->kv_pw);
	free(dp);
	a->pg = NULL;
}
