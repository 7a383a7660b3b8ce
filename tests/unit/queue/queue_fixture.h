/* queue_fixture.h - shared helpers of the queue unit tests: a fresh queue
 * per test, and short ways to enqueue, claim and read jobs.
 *
 * The backend is chosen by the environment: with AOS_TEST_PG (a libpq
 * connection string, set by tests/peers/pg_run.sh) each test gets an empty
 * PostgreSQL schema of its own (fx->path is then a connection string whose
 * search_path names it); without it, a SQLite file in a scratch directory.
 * The same test functions run against both (ctest unit.test_queue and
 * unit.test_queue_pg).
 *
 * Header-only (static inline functions) so each test stays one executable.
 */
#ifndef AOS_TEST_QUEUE_FIXTURE_H
#define AOS_TEST_QUEUE_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "common/err.h"
#include "queue/queue.h"
#include "queue/queue_pg.h"

#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define LEASE 30000
#define T0 1700000000000LL

struct fx {
	char dir[200];
	char path[1024]; /* the SQLite file, or the PostgreSQL connection string */
	char schema[64]; /* PostgreSQL: this test's schema */
	struct queue *q;
};

/* The PostgreSQL server to test against, or NULL for SQLite. */
static inline const char *fx_pg(void)
{
	const char *pg = getenv("AOS_TEST_PG");

	return pg != NULL && pg[0] != '\0' ? pg : NULL;
}

/* The checks' own connection to the test's database (PostgreSQL), kept
 * from one check to the next: a random test checks after each of its
 * thousands of steps, and a new connection (a backend started, SCRAM) per
 * check made the run mostly connection set-up.  Reopened when conninfo
 * changes; fx_pg_disconnect() (teardown) closes it.  Autocommit, no session
 * state: each check sees what is committed, as a fresh connection would. */
struct fx_pg_checker {
	PGconn *c;
	char conninfo[1024];
};

static inline struct fx_pg_checker *fx_pg_checker(void)
{
	static struct fx_pg_checker k;

	return &k;
}

static inline void fx_pg_disconnect(void)
{
	struct fx_pg_checker *k = fx_pg_checker();

	PQfinish(k->c); /* accepts NULL */
	k->c = NULL;
	k->conninfo[0] = '\0';
}

static inline PGconn *fx_pg_conn(const char *conninfo)
{
	struct fx_pg_checker *k = fx_pg_checker();

	if (k->c != NULL && strcmp(k->conninfo, conninfo) == 0 &&
	    PQstatus(k->c) == CONNECTION_OK)
		return k->c;
	fx_pg_disconnect();
	if (strlen(conninfo) >= sizeof(k->conninfo))
		fail_msg("conninfo of %zu bytes: longer than %zu", strlen(conninfo),
			 sizeof(k->conninfo) - 1);
	k->c = PQconnectdb(conninfo);
	if (PQstatus(k->c) != CONNECTION_OK)
		fail_msg("connect: %s", PQerrorMessage(k->c));
	snprintf(k->conninfo, sizeof(k->conninfo), "%s", conninfo);
	return k->c;
}

/* Runs sql on the test's database (PostgreSQL), failing the test on error. */
static inline void fx_pg_sql(const char *conninfo, const char *sql)
{
	PGconn *c = fx_pg_conn(conninfo);
	PGresult *r;

	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
}

/* Runs a query answering one number on the test's database (PostgreSQL). */
static inline int64_t fx_pg_count(const char *conninfo, const char *sql)
{
	PGconn *c = fx_pg_conn(conninfo);
	PGresult *r;
	int64_t v;

	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return v;
}

/* PostgreSQL: drops the test's schema (and makes it anew when again). */
static inline void fx_pg_wipe(struct fx *fx, bool again)
{
	char sql[200];

	snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE%s%s", fx->schema,
		 again ? "; CREATE SCHEMA " : "", again ? fx->schema : "");
	fx_pg_sql(fx->path, sql);
}

static inline void fx_paths_remove(struct fx *fx)
{
	char p[300];

	if (fx_pg() != NULL) {
		fx_pg_wipe(fx, true);
		return;
	}

	snprintf(p, sizeof(p), "%s-wal", fx->path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", fx->path);
	unlink(p);
	unlink(fx->path);
}

static inline struct queue *open_ok(const char *path)
{
	struct queue *q = NULL;
	char err[512];
	int r;

	if (fx_pg() != NULL)
		r = queue_pg_open(path, &q, err, sizeof(err));
	else
		r = queue_sqlite_open(path, &q, err, sizeof(err));
	if (r != 0)
		fail_msg("queue open: %d: %s", r, err);
	return q;
}

static inline int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	const char *tmp = getenv("TMPDIR");

	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "%s/test_queue.XXXXXX",
		 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->path, sizeof(fx->path), "%s/queue.db", fx->dir);
	if (fx_pg() != NULL) {
		/* one schema per process: ctest may run suites side by side */
		snprintf(fx->schema, sizeof(fx->schema), "aos_test_%ld", (long)getpid());
		snprintf(fx->path, sizeof(fx->path),
			 "%s options='-csearch_path=%s -cclient_min_messages=warning'",
			 fx_pg(), fx->schema);
		fx_pg_wipe(fx, true);
	}
	fx->q = open_ok(fx->path);
	*state = fx;
	return 0;
}

static inline int teardown(void **state)
{
	struct fx *fx = *state;

	if (fx->q != NULL)
		fx->q->ops->close(fx->q);
	if (fx_pg() != NULL) {
		fx_pg_wipe(fx, false);
		fx_pg_disconnect();
	} else {
		fx_paths_remove(fx);
	}
	rmdir(fx->dir);
	free(fx);
	return 0;
}

/* Closes the queue and starts over with an empty database. */
static inline void fx_reset(struct fx *fx)
{
	fx->q->ops->close(fx->q);
	fx_paths_remove(fx);
	fx->q = open_ok(fx->path);
}

static inline void fx_close(struct fx *fx)
{
	fx->q->ops->close(fx->q);
	fx->q = NULL;
}

static inline int64_t enqueue_in(struct queue *q, const char *key, const char *registry,
				 const char *package, int64_t now)
{
	struct job_upload ups[2] = {0};
	struct job_new j = {
	    .kind = JOB_PUBLISH,
	    .idem_key = key,
	    .registry = registry,
	    .package = package,
	    .inputs = "{\"files\":[\"a.whl\",\"a.tar.gz\"]}",
	    .max_attempts = 3,
	    .uploads = ups,
	    .nuploads = 2,
	};
	int64_t id = 0;
	int r;

	snprintf(ups[0].filename, sizeof(ups[0].filename), "a.whl");
	snprintf(ups[0].sha256, sizeof(ups[0].sha256), SHA_A);
	snprintf(ups[1].filename, sizeof(ups[1].filename), "a.tar.gz");
	snprintf(ups[1].sha256, sizeof(ups[1].sha256), SHA_B);
	r = q->ops->enqueue(q, &j, now, &id);
	if (r != 0)
		fail_msg("enqueue %s: %d", key, r);
	assert_true(id > 0);
	return id;
}

/* One job per package unless the key says otherwise. */
static inline int64_t enqueue(struct queue *q, const char *key, int64_t now)
{
	return enqueue_in(q, key, "pypi", key, now);
}

static inline int claim(struct queue *q, const char *owner, int64_t now, int limit,
			struct job *ret, size_t max)
{
	return q->ops->claim(q, owner, now, LEASE, limit, ret, max);
}

/* Claims exactly one job and returns it (inputs freed). */
static inline struct job claim_one(struct queue *q, const char *owner, int64_t now)
{
	struct job j[1];
	int n;

	n = claim(q, owner, now, 0, j, 1);
	assert_int_equal(n, 1);
	job_clear(&j[0]);
	return j[0];
}

static inline struct job get(struct queue *q, int64_t id)
{
	struct job j;

	assert_int_equal(q->ops->get(q, id, &j), 0);
	job_clear(&j);
	return j;
}

static inline enum job_state state_of(struct queue *q, int64_t id)
{
	return get(q, id).state;
}

/* The newest log line of a job. */
static inline void last_log(struct queue *q, int64_t id, char *buf, size_t len)
{
	static struct job_log_entry e[QUEUE_LOG_MAX];
	int n;

	n = q->ops->log_read(q, id, 0, e, QUEUE_LOG_MAX);
	assert_true(n > 0);
	snprintf(buf, len, "%s", e[n - 1].text);
}

static inline void assert_log_has(struct queue *q, int64_t id, const char *want)
{
	char line[JOB_TEXT_MAX];

	last_log(q, id, line, sizeof(line));
	if (strstr(line, want) == NULL)
		fail_msg("log line \"%s\" lacks \"%s\"", line, want);
}

/* What counts() answers (SQLite: counters kept by triggers) equals a count
 * of the jobs in each state, read from the database behind the queue. */
static inline void fx_check_counts(struct queue *q, const char *path)
{
	int64_t kept[JOB_CANCELED + 1];
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	char sql[400];
	int st;

	assert_int_equal(q->ops->counts(q, kept), 0);
	if (fx_pg() != NULL) { /* one query: a connection per check is slow */
		snprintf(sql, sizeof(sql),
			 "SELECT count(*) FROM (VALUES (1, %lld), (2, %lld), (3, %lld), "
			 "(4, %lld), (5, %lld), (6, %lld)) AS k (st, n) WHERE n <> "
			 "(SELECT count(*) FROM aos_jobs WHERE state = k.st)",
			 (long long)kept[1], (long long)kept[2], (long long)kept[3],
			 (long long)kept[4], (long long)kept[5], (long long)kept[6]);
		assert_int_equal(fx_pg_count(path, sql), 0);
		return;
	}
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT count(*) FROM jobs WHERE state = ?1",
					    -1, &s, NULL),
			 SQLITE_OK);
	for (st = JOB_QUEUED; st <= JOB_CANCELED; st++) {
		sqlite3_reset(s);
		sqlite3_bind_int(s, 1, st);
		assert_int_equal(sqlite3_step(s), SQLITE_ROW);
		if (sqlite3_column_int64(s, 0) != kept[st])
			fail_msg("state %d: %lld jobs, counts() says %lld", st,
				 (long long)sqlite3_column_int64(s, 0),
				 (long long)kept[st]);
	}
	sqlite3_finalize(s);
	sqlite3_close(db);
}

static inline void assert_contains(const char *s, const char *want)
{
	if (strstr(s, want) == NULL)
		fail_msg("\"%s\" lacks \"%s\"", s, want);
}

#endif
