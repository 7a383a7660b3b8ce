/* pg_wire_fixture.h - what the tests of the PostgreSQL connection share
 * (test_queue_pgwire.c, test_queue_pgtls.c): the superuser's SQL on the
 * server of tests/peers/pg_run.sh, login roles made with a password drawn
 * now, and the connection settings of queue_pg_conn.h for them.
 * Header-only; include after queue_fixture.h. */
#ifndef AOS_TEST_PG_WIRE_FIXTURE_H
#define AOS_TEST_PG_WIRE_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "common/secret.h"
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

#endif
