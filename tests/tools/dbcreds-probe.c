/* dbcreds-probe CONFIG HOST PORT DBNAME SETS - agent/session/dbcreds.c
 * against a real Vault (OpenBao) and a real PostgreSQL, for
 * tests/integration/test_vault_dbcreds.py.
 *
 * The Vault session logs in as CONFIG says; dbcreds reads the credentials
 * of queue.postgresql.credentials and hands each set over here, where libpq
 * connects with it (user and password as connection parameters: never in
 * argv or the environment) and checks `SELECT current_user`.  A new set
 * replaces the open connection only after its own connection works, and
 * the previous connection must still answer then (nothing was revoked); a
 * renewal opens one more connection with the current set (its lease, and
 * the role's VALID UNTIL, were extended).  One line per event on stdout:
 *
 *   issued SERIAL USER connected [previous USER still answers]
 *   renewed SERIAL USER connected
 *   failed MESSAGE
 *   done
 *
 * Exits 0 once SETS sets were connected, 1 when a connection failed.  The
 * calls to libpq block the loop: a test tool, not the daemon's way. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>
#include <uv.h>

#include "base/log.h"
#include "base/transport.h"
#include "common/secret.h"
#include "config/config.h"
#include "session/dbcreds.h"
#include "session/session.h"

struct probe {
	uv_loop_t loop;
	struct config *cfg;
	struct transport *tp;
	struct vault_session *session;
	struct dbcreds *creds;
	const char *host, *port, *dbname;
	unsigned long sets; /* to connect before stopping */
	PGconn *conn;	    /* with the newest set */
	char user[128];	    /* of conn */
	int status;
	bool started;
	bool stopping;
};

static void stop(struct probe *p, int status)
{
	if (p->stopping)
		return;
	p->stopping = true;
	p->status = status;
	dbcreds_close(p->creds);
	session_close(p->session);
	transport_close(p->tp);
}

/* Connects as set's user and checks who the server says that is. */
static PGconn *connect_as(struct probe *p, const struct dbcreds_set *set)
{
	const char *keys[] = {"host",	  "port",    "dbname",		"user",
			      "password", "sslmode", "connect_timeout", NULL};
	const char *vals[] = {
	    p->host,   p->port, p->dbname, set->username, secret_value(set->password),
	    "disable", "10",	NULL};
	PGconn *c = PQconnectdbParams(keys, vals, 0);
	PGresult *res;
	bool ok;

	if (PQstatus(c) != CONNECTION_OK) {
		printf("error connecting as %s: %s", set->username, PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	res = PQexec(c, "SELECT current_user");
	ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 &&
	     strcmp(PQgetvalue(res, 0, 0), set->username) == 0;
	PQclear(res);
	if (!ok) {
		printf("error: SELECT current_user as %s failed\n", set->username);
		PQfinish(c);
		return NULL;
	}
	return c;
}

static bool still_answers(PGconn *c)
{
	PGresult *res = PQexec(c, "SELECT 1");
	bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;

	PQclear(res);
	return ok;
}

/* connect_as(), or NULL once the probe is stopping with status 1. */
static PGconn *connect_or_stop(struct probe *p, const struct dbcreds_set *set)
{
	PGconn *c = connect_as(p, set);

	if (c == NULL)
		stop(p, 1);
	return c;
}

static const struct secret *hook_token(void *data)
{
	struct probe *p = data;

	return session_token(p->session);
}

static void hook_issued(struct dbcreds *d, const struct dbcreds_set *set, void *data)
{
	struct probe *p = data;
	PGconn *c = connect_or_stop(p, set);

	(void)d;
	if (c == NULL)
		return;
	printf("issued %lu %s connected", set->serial, set->username);
	if (p->conn != NULL) {
		printf(" previous %s %s", p->user,
		       still_answers(p->conn) ? "still answers" : "does NOT answer");
		PQfinish(p->conn); /* the swap: the old connection goes last */
	}
	printf("\n");
	fflush(stdout);
	p->conn = c;
	snprintf(p->user, sizeof(p->user), "%s", set->username);
	if (set->serial >= p->sets) {
		printf("done\n");
		fflush(stdout);
		stop(p, 0);
	}
}

static void hook_renewed(struct dbcreds *d, const struct dbcreds_set *set, void *data)
{
	PGconn *c = connect_or_stop(data, set);

	(void)d;
	if (c == NULL)
		return;
	PQfinish(c);
	printf("renewed %lu %s connected\n", set->serial, set->username);
	fflush(stdout);
}

static void hook_failed(struct dbcreds *d, int err, const char *msg, void *data)
{
	(void)d;
	(void)err;
	(void)data;
	printf("failed %s\n", msg);
	fflush(stdout);
}

/* The credentials start once the session holds a token, as the daemon's
 * wiring will do. */
static void session_event(struct vault_session *s, bool first_ready, void *data)
{
	struct probe *p = data;

	(void)first_ready;
	if (!p->started && !p->stopping && session_token(s) != NULL) {
		p->started = true;
		dbcreds_start(p->creds);
	}
}

static int run(struct probe *p, const char *config)
{
	struct dbcreds_hooks hooks = {hook_token, hook_issued, hook_renewed, hook_failed,
				      p};
	char err[1024];
	int r;

	r = config_load(config, &p->cfg, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "dbcreds-probe: %s\n", err);
		return r;
	}
	/* fingerprints in the log as the daemon shows them */
	r = secret_fingerprint_key_load(p->cfg->state_dir, NULL, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "dbcreds-probe: %s\n", err);
		return r;
	}
	r = transport_new(
	    &p->loop,
	    &(struct transport_opts){.connect_timeout_ms = 5000, .stall_timeout_s = 30},
	    &p->tp);
	if (r == 0)
		r = session_new(&p->loop, p->tp, p->cfg, session_event, p, &p->session);
	if (r == 0)
		r = dbcreds_new(&p->loop, p->tp, p->cfg, &hooks, &p->creds);
	if (r < 0) {
		fprintf(stderr, "dbcreds-probe: setting up: %s\n", strerror(-r));
		return r;
	}
	session_start(p->session);
	uv_run(&p->loop, UV_RUN_DEFAULT);
	return 0;
}

int main(int argc, char **argv)
{
	struct probe p = {.status = 1};
	int r;

	if (argc != 6) {
		fprintf(stderr, "usage: dbcreds-probe CONFIG HOST PORT DBNAME SETS\n");
		return 2;
	}
	p.host = argv[2];
	p.port = argv[3];
	p.dbname = argv[4];
	p.sets = strtoul(argv[5], NULL, 10);
	log_init(LOG_LVL_INFO);
	if (secret_init_process(256 * 1024) < 0 || uv_loop_init(&p.loop) < 0)
		return 2;
	r = run(&p, argv[1]);
	PQfinish(p.conn);
	if (r < 0)
		stop(&p, 2);
	uv_run(&p.loop, UV_RUN_DEFAULT); /* the handles' close callbacks */
	if (uv_loop_close(&p.loop) != 0) {
		fprintf(stderr, "dbcreds-probe: handles left open on the loop\n");
		return 2;
	}
	config_free(p.cfg);
	if (secret_done_process() != 0) {
		fprintf(stderr, "dbcreds-probe: secrets left allocated\n");
		return 2;
	}
	return p.status;
}
