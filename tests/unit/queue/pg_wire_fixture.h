/* pg_wire_fixture.h - what the tests of the PostgreSQL connection share
 * (test_queue_pgwire.c, test_queue_listen.c, test_queue_pgtls.c): the
 * superuser's SQL on the server of tests/peers/pg_run.sh (ending the
 * sessions under test, stopping and starting the server), login roles
 * made with a password drawn now, the connection settings of
 * queue_pg_conn.h for them, and a LISTEN connection on a loop of its own.
 * Header-only; include after queue_fixture.h. */
#ifndef AOS_TEST_PG_WIRE_FIXTURE_H
#define AOS_TEST_PG_WIRE_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include <uv.h>

#include "common/secret.h"
#include "queue/queue_async.h"
#include "queue/queue_listen.h"
#include "queue/queue_pg_conn.h"

static inline void wire_quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* The superuser on the server's socket (AOS_TEST_PG_SUPER), one
 * connection per call: a test may stop and start the server. */
static inline PGresult *wire_super(const char *sql, ExecStatusType want)
{
	const char *ci = getenv("AOS_TEST_PG_SUPER");
	PGconn *c;
	PGresult *r;

	if (ci == NULL)
		fail_msg("AOS_TEST_PG_SUPER is not set: run with tests/peers/pg_run.sh");
	c = PQconnectdb(ci);
	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("superuser connect: %s", PQerrorMessage(c));
	PQsetNoticeProcessor(c, wire_quiet, NULL); /* DROP ... IF EXISTS */
	r = PQexec(c, sql);
	if (PQresultStatus(r) != want)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	PQfinish(c);
	return r;
}

static inline void wire_super_sql(const char *sql)
{
	PQclear(wire_super(sql, PGRES_COMMAND_OK));
}

/* The first value of a query's one row, as text into buf ("" for none). */
static inline void wire_super_text(const char *sql, char *buf, size_t len)
{
	PGresult *r = wire_super(sql, PGRES_TUPLES_OK);

	snprintf(buf, len, "%s", PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
	PQclear(r);
}

static inline long wire_super_int(const char *sql)
{
	char v[64];

	wire_super_text(sql, v, sizeof(v));
	return strtol(v, NULL, 10);
}

/* A password of 48 hex digits from /dev/urandom, in the secure heap. */
static inline struct secret *wire_password(void)
{
	unsigned char raw[24];
	char hex[49];
	struct secret *s = NULL;
	FILE *f = fopen("/dev/urandom", "rb");
	size_t i;

	assert_non_null(f);
	assert_int_equal(fread(raw, 1, sizeof(raw), f), sizeof(raw));
	fclose(f);
	for (i = 0; i < sizeof(raw); i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	assert_int_equal(secret_new(hex, strlen(hex), &s), 0);
	memset(hex, 0, sizeof(hex));
	return s;
}

/* Makes login role name (dropped first if a run left it) with password
 * pw, a member of "aos" so that it uses the test's tables. */
static inline void wire_role(const char *name, const struct secret *pw)
{
	char sql[512];

	snprintf(sql, sizeof(sql),
		 "DROP ROLE IF EXISTS %s; CREATE ROLE %s LOGIN PASSWORD '%s' IN ROLE aos",
		 name, name, secret_value(pw));
	wire_super_sql(sql);
	memset(sql, 0, sizeof(sql));
}

static inline void wire_role_drop(const char *name)
{
	char sql[256];

	/* in the select list: run for the rows the WHERE kept, only */
	snprintf(sql, sizeof(sql),
		 "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity "
		 "WHERE usename = '%s'",
		 name);
	PQclear(wire_super(sql, PGRES_TUPLES_OK));
	snprintf(sql, sizeof(sql), "DROP ROLE IF EXISTS %s", name);
	wire_super_sql(sql);
}

/* The settings of AOS_TEST_PG (host, port, database) for schema, named
 * app in pg_stat_activity; the strings live in w. */
struct wire_settings {
	struct queue_pg_settings s;
	char host[256], database[64], options[200], app[64];
};

static inline void wire_settings(struct wire_settings *w, const char *schema,
				 const char *app)
{
	PQconninfoOption *opts = PQconninfoParse(getenv("AOS_TEST_PG"), NULL), *o;

	assert_non_null(opts);
	memset(w, 0, sizeof(*w));
	for (o = opts; o->keyword != NULL; o++) {
		if (o->val == NULL)
			continue;
		if (strcmp(o->keyword, "host") == 0)
			snprintf(w->host, sizeof(w->host), "%s", o->val);
		else if (strcmp(o->keyword, "port") == 0)
			w->s.port = atoi(o->val);
		else if (strcmp(o->keyword, "dbname") == 0)
			snprintf(w->database, sizeof(w->database), "%s", o->val);
	}
	PQconninfoFree(opts);
	snprintf(w->options, sizeof(w->options),
		 "-csearch_path=%s -cclient_min_messages=warning", schema);
	snprintf(w->app, sizeof(w->app), "%s", app);
	w->s.host = w->host;
	w->s.database = w->database;
	w->s.options = w->options;
	w->s.application_name = w->app;
	w->s.sslmode = "disable";
	w->s.connect_timeout_s = 10;
}

/* The application_name of the connections under test. */
static char wire_app[64];

static inline void wire_app_name(const char *prefix)
{
	snprintf(wire_app, sizeof(wire_app), "%s-%ld", prefix, (long)getpid());
}

/* The backends of the connections under test. */
static inline long wire_app_backends(void)
{
	char sql[256];

	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM pg_stat_activity WHERE application_name = '%s'",
		 wire_app);
	return wire_super_int(sql);
}

/* Ends the sessions under test and waits until they are gone. */
static inline void wire_app_terminate(void)
{
	char sql[256];
	PGresult *r;

	/* in the select list, so that it runs for the rows the WHERE kept
	 * only (an AND may be evaluated first) */
	snprintf(sql, sizeof(sql),
		 "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity "
		 "WHERE application_name = '%s'",
		 wire_app);
	r = wire_super(sql, PGRES_TUPLES_OK);
	assert_int_equal(PQntuples(r), 1);
	assert_string_equal(PQgetvalue(r, 0, 0), "t");
	PQclear(r);
	assert_int_equal(wire_app_backends(), 0);
}

/* AOS_TEST_PG_CTL stop|start */
static inline void wire_pg_ctl(const char *what)
{
	const char *ctl = getenv("AOS_TEST_PG_CTL");
	char cmd[512];

	assert_non_null(ctl);
	snprintf(cmd, sizeof(cmd), "%s %s >/dev/null", ctl, what);
	if (system(cmd) != 0)
		fail_msg("%s failed", cmd);
}

/* ---- a queue_async on a loop of its own ---------------------------------- */

/* Starts a queue_async opening with o on loop (initialized here). */
static inline void wire_qa_start(uv_loop_t *loop, const struct queue_async_open *o,
				 struct queue_async **ret)
{
	assert_int_equal(uv_loop_init(loop), 0);
	assert_int_equal(queue_async_new_open(loop, o, 0, ret), 0);
}

/* Closes qa; the loop must then end and close clean. */
static inline void wire_qa_stop(uv_loop_t *loop, struct queue_async *qa)
{
	assert_int_equal(queue_async_close(qa, NULL, NULL), 0);
	assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(loop), 0);
}

/* Runs loop until the request just posted (posted: its post's answer)
 * completed, which the completion counts in *completions. */
static inline void wire_qa_wait(uv_loop_t *loop, int posted, const int *completions)
{
	int before = *completions;

	assert_int_equal(posted, 0);
	assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(*completions, before + 1);
}

/* ---- a LISTEN connection on a loop of its own ----------------------------- */

#define WIRE_GUARD_MS 60000 /* a listener that hangs fails after this */

struct wire_listen {
	uv_loop_t loop;
	uv_timer_t guard;
	bool guard_fired;
	struct wire_settings ws;
	struct queue_pg_conn *conn;
	struct queue_listen *l;
	struct secret *pw;
	char role[64];
};

static inline void wire_guard_cb(uv_timer_t *t)
{
	struct wire_listen *wl = t->data;

	wl->guard_fired = true;
	uv_stop(t->loop);
}

/* Starts a listener as a login role made now, on fx's schema, with o
 * (its conn set here); tune (may be NULL) changes the settings first. */
static inline void wire_listen_start(struct wire_listen *wl, const struct fx *fx,
				     void (*tune)(struct queue_pg_settings *s),
				     struct queue_listen_opts *o)
{
	memset(wl, 0, sizeof(*wl));
	wire_app_name("aos-listen");
	snprintf(wl->role, sizeof(wl->role), "aos_listen_%ld", (long)getpid());
	wl->pw = wire_password();
	wire_role(wl->role, wl->pw);
	wire_settings(&wl->ws, fx->schema, wire_app);
	if (tune != NULL)
		tune(&wl->ws.s);
	assert_int_equal(queue_pg_conn_new(&wl->ws.s, &wl->conn), 0);
	assert_int_equal(queue_pg_conn_set_credentials(wl->conn, wl->role, wl->pw), 0);
	o->conn = wl->conn;
	assert_int_equal(uv_loop_init(&wl->loop), 0);
	assert_int_equal(uv_timer_init(&wl->loop, &wl->guard), 0);
	wl->guard.data = wl;
	uv_timer_start(&wl->guard, wire_guard_cb, WIRE_GUARD_MS, 0);
	uv_unref((uv_handle_t *)&wl->guard);
	assert_int_equal(queue_listen_start(&wl->loop, o, &wl->l), 0);
}

/* Runs the loop until the listener is closed (by a wake), or fails the
 * test when the guard fires first. */
static inline void wire_listen_run(struct wire_listen *wl)
{
	(void)uv_run(&wl->loop, UV_RUN_DEFAULT);
	if (wl->guard_fired)
		fail_msg("the listener did not finish: %s", queue_listen_error(wl->l));
}

/* After the listener closed: the guard, the loop (it must close clean),
 * the settings and the role. */
static inline void wire_listen_end(struct wire_listen *wl)
{
	uv_close((uv_handle_t *)&wl->guard, NULL);
	assert_int_equal(uv_run(&wl->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&wl->loop), 0);
	queue_pg_conn_free(wl->conn);
	secret_unref(wl->pw);
	wire_role_drop(wl->role);
}

#endif
