/* Unit tests of what only the PostgreSQL queue backend does: several hosts
 * (here: several handles, each its own connection, on threads) sharing one
 * queue, and the schema's migrations.  Run by tests/peers/pg_run.sh, which
 * starts a PostgreSQL of its own and sets AOS_TEST_PG; the interface's own
 * suite (test_queue.c) runs against the same server.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "common/err.h"
#include "queue/queue.h"
#include "queue/queue_pg.h"
#include "queue/queue_pg_internal.h"
#include "tests/unit/queue/queue_fixture.h"

/* ---- several hosts claiming at once ---- */

#define HOSTS 3
#define PACKAGES 12
#define PER_PACKAGE 4
#define REG_LIMIT 3

struct race {
	const char *conninfo;
	pthread_barrier_t start;
	pthread_mutex_t mu;
	int running_pkg[PACKAGES]; /* jobs of the package held right now */
	int running_reg[2];	   /* jobs of the registry held right now */
	int claimed[PACKAGES * PER_PACKAGE + 1];
	int64_t last_id[PACKAGES]; /* package order: ids only grow */
	int violations;
	int done;
	int errors;
};

static int pkg_index(const char *package)
{
	return atoi(package + 1); /* "p7" */
}

/* One host: claims, checks what every host holds together, finishes. */
static void *host_main(void *arg)
{
	struct race *r = arg;
	struct queue *q = NULL;
	char err[512], owner[16];
	struct job j[4];
	int n, i, p, g, rc, idle = 0;

	if (queue_pg_open(r->conninfo, &q, err, sizeof(err)) != 0) {
		__atomic_add_fetch(&r->errors, 1, __ATOMIC_SEQ_CST);
		pthread_barrier_wait(&r->start);
		return NULL;
	}
	snprintf(owner, sizeof(owner), "host-%p", (void *)&owner);
	pthread_barrier_wait(&r->start);
	while (idle < 200 &&
	       __atomic_load_n(&r->done, __ATOMIC_SEQ_CST) < PACKAGES * PER_PACKAGE) {
		n = q->ops->claim(q, owner, T0, 3600000, REG_LIMIT, j, 4);
		if (n < 0) {
			__atomic_add_fetch(&r->errors, 1, __ATOMIC_SEQ_CST);
			break;
		}
		idle = n == 0 ? idle + 1 : 0;
		pthread_mutex_lock(&r->mu);
		for (i = 0; i < n; i++) {
			p = pkg_index(j[i].package);
			g = strcmp(j[i].registry, "pypi") == 0 ? 0 : 1;
			if (r->running_pkg[p]++ > 0 || ++r->running_reg[g] > REG_LIMIT ||
			    j[i].id < r->last_id[p] || r->claimed[j[i].id]++ > 0)
				r->violations++;
			r->last_id[p] = j[i].id;
		}
		pthread_mutex_unlock(&r->mu);
		for (i = 0; i < n; i++) {
			pthread_mutex_lock(&r->mu); /* released before the commit */
			r->running_pkg[pkg_index(j[i].package)]--;
			r->running_reg[strcmp(j[i].registry, "pypi") == 0 ? 0 : 1]--;
			pthread_mutex_unlock(&r->mu);
			rc = q->ops->finish(q, j[i].id, j[i].fence, JOB_SUCCEEDED, 0,
					    OUT_NONE, NULL, T0);
			if (rc != 0)
				__atomic_add_fetch(&r->errors, 1, __ATOMIC_SEQ_CST);
			else
				__atomic_add_fetch(&r->done, 1, __ATOMIC_SEQ_CST);
			job_clear(&j[i]);
		}
	}
	q->ops->close(q);
	return NULL;
}

/* Hosts claiming at once never hold two jobs of one package, never pass a
 * registry's limit together, and run each package's jobs in order. */
static void test_hosts_claim_at_once(void **state)
{
	struct fx *fx = *state;
	struct race r = {.conninfo = fx->path};
	pthread_t t[HOSTS];
	int64_t counts[JOB_CANCELED + 1];
	char key[32], pkg[16];
	int i, k;

	/* jobs interleaved by package, in two registries */
	for (k = 0; k < PER_PACKAGE; k++)
		for (i = 0; i < PACKAGES; i++) {
			snprintf(key, sizeof(key), "k%d-%d", i, k);
			snprintf(pkg, sizeof(pkg), "p%d", i);
			assert_int_equal(
			    enqueue_in(fx->q, key, i % 2 ? "npm" : "pypi", pkg, T0),
			    k * PACKAGES + i + 1);
		}
	pthread_barrier_init(&r.start, NULL, HOSTS);
	pthread_mutex_init(&r.mu, NULL);
	for (i = 0; i < HOSTS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, host_main, &r), 0);
	for (i = 0; i < HOSTS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&r.start);
	pthread_mutex_destroy(&r.mu);

	assert_int_equal(r.errors, 0);
	assert_int_equal(r.violations, 0);
	assert_int_equal(r.done, PACKAGES * PER_PACKAGE);
	assert_int_equal(fx->q->ops->counts(fx->q, counts), 0);
	assert_int_equal(counts[JOB_SUCCEEDED], PACKAGES * PER_PACKAGE);
}

/* ---- fencing across hosts ---- */

/* A host whose lease ran out and was taken over by another is refused on
 * every write, and the job stays the new owner's. */
static void test_fenced_after_takeover(void **state)
{
	struct fx *fx = *state;
	struct queue *b = open_ok(fx->path);
	struct job_upload ups[2], extra = {.filename = "late.whl", .sha256 = SHA_A};
	struct job old, new;
	int64_t id;

	id = enqueue(fx->q, "demo", T0);
	old = claim_one(fx->q, "host-a", T0);
	new = claim_one(b, "host-b", T0 + LEASE + 1);
	assert_int_equal(new.id, id);
	assert_int_equal(new.fence, old.fence + 1);
	assert_log_has(b, id, "lease of host-a ran out; claimed by host-b");

	assert_int_equal(
	    fx->q->ops->heartbeat(fx->q, id, old.fence, T0 + LEASE + 2, LEASE),
	    AOS_EFENCED);
	assert_int_equal(fx->q->ops->upload_set(fx->q, id, old.fence, "a.whl",
						UPLOAD_DONE, OUT_PUBLISHED, "by a",
						T0 + LEASE + 2),
			 AOS_EFENCED);
	assert_int_equal(fx->q->ops->set_artifacts(fx->q, id, old.fence, "{}", &extra, 1,
						   T0 + LEASE + 2),
			 AOS_EFENCED);
	assert_int_equal(fx->q->ops->finish(fx->q, id, old.fence, JOB_SUCCEEDED, 0,
					    OUT_NONE, NULL, T0 + LEASE + 2),
			 AOS_EFENCED);

	old = get(b, id);
	assert_int_equal(old.state, JOB_RUNNING);
	assert_string_equal(old.lease_owner, "host-b");
	assert_int_equal(b->ops->uploads(b, id, ups, 2), 2);
	assert_int_equal(ups[0].state, UPLOAD_PENDING);
	assert_int_equal(b->ops->heartbeat(b, id, new.fence, T0 + LEASE + 3, LEASE), 0);
	assert_int_equal(b->ops->finish(b, id, new.fence, JOB_SUCCEEDED, 0, OUT_NONE,
					NULL, T0 + LEASE + 4),
			 0);
	assert_int_equal(state_of(fx->q, id), JOB_SUCCEEDED);
	b->ops->close(b);
}

/* ---- the schema ---- */

static PGconn *connect_ok(const char *conninfo)
{
	PGconn *c = PQconnectdb(conninfo);

	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("connect: %s", PQerrorMessage(c));
	return c;
}

static void exec_ok(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	PQclear(r);
}

static int64_t query_int(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	int64_t v;

	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		fail_msg("%s: %s", sql, PQerrorMessage(c));
	v = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return v;
}

/* Waits (up to 10 s) for a notification on channel; true when it came. */
static bool notified(PGconn *c, const char *channel, int timeout_ms)
{
	struct pollfd p = {.fd = PQsocket(c), .events = POLLIN};
	PGnotify *n;
	bool got = false;

	for (;;) {
		assert_int_equal(PQconsumeInput(c), 1);
		while ((n = PQnotifies(c)) != NULL) {
			got = got || strcmp(n->relname, channel) == 0;
			PQfreemem(n);
		}
		if (got || poll(&p, 1, timeout_ms) <= 0)
			return got;
	}
}

/* A database made with schema 1 (only the first migration) is migrated at
 * open: its jobs kept, the version recorded, migration 2's wake-ups on. */
static void test_migrate_from_schema_1(void **state)
{
	struct fx *fx = *state;
	PGconn *c;
	char err[512];
	struct job j;
	int64_t id;

	fx_close(fx);
	fx_pg_wipe(fx, true);
	c = connect_ok(fx->path);
	assert_int_equal(queue_pg__migrate(c, 1, err, sizeof(err)), 0);
	assert_int_equal(query_int(c, "SELECT version FROM aos_queue_meta"), 1);
	exec_ok(c, "INSERT INTO aos_jobs (kind, state, idem_key, registry, package, "
		   "max_attempts, next_run_ms, created_ms, updated_ms, head) VALUES "
		   "(1, 1, 'old', 'pypi', 'demo', 3, 1700000000000, 1700000000000, "
		   "1700000000000, true)");
	exec_ok(c, "LISTEN aos_queue");
	exec_ok(c, "UPDATE aos_jobs SET updated_ms = updated_ms"); /* a statement */
	assert_false(notified(c, "aos_queue", 0)); /* schema 1: no wake-ups */

	fx->q = open_ok(fx->path);
	assert_int_equal(query_int(c, "SELECT version FROM aos_queue_meta"),
			 queue_pg__schema_version());
	assert_int_equal(query_int(c, "SELECT count(*) FROM aos_queue_meta"), 1);
	j = claim_one(fx->q, "w", T0);
	assert_string_equal(j.idem_key, "old");
	id = enqueue(fx->q, "new", T0 + 1);
	assert_true(id > j.id);
	assert_true(notified(c, "aos_queue", 10000));
	PQfinish(c);
}

/* A file in memory: read by a source, compared by a sink. */
struct mem_file {
	const char *bytes;
	size_t len, off;
};

static int mem_read(void *data, void *buf, size_t len, size_t *ret_n)
{
	struct mem_file *m = data;
	size_t n = m->len - m->off < len ? m->len - m->off : len;

	memcpy(buf, m->bytes + m->off, n);
	m->off += n;
	*ret_n = n;
	return 0;
}

static int mem_compare(void *data, const void *buf, size_t len)
{
	struct mem_file *m = data;

	if (len > m->len - m->off || memcmp(buf, m->bytes + m->off, len) != 0)
		return -EILSEQ;
	m->off += len;
	return 0;
}

/* A file stored for job id under fence reads back the same. */
static void file_round_trip(struct queue *q, int64_t id, int64_t fence)
{
	static const char text[] = "the bytes of a.whl";
	struct mem_file in = {text, sizeof(text) - 1, 0}, out = in;
	struct queue_file_src src = {mem_read, &in};
	struct queue_file_sink dst = {mem_compare, &out};
	char err[512];

	if (q->ops->file_put(q, id, fence, "a.whl", &src, T0, NULL, err, sizeof(err)) !=
	    0)
		fail_msg("file_put: %s", err);
	if (q->ops->file_get(q, id, "a.whl", &dst, NULL, err, sizeof(err)) != 0)
		fail_msg("file_get: %s", err);
	assert_int_equal(out.off, out.len);
}

/* A database of schema from (each version before this program's; 1 and 2
 * are those before outcomes) with a job of each kind of row migrated at open to outcome
 * columns: what was there reads back without an outcome, messages untouched, and the
 * migrated jobs take outcomes, show in stats and are pruned (on the index of migration
 * 4). */
static void migrate_outcomes_from(struct fx *fx, int from)
{
	struct job pruned[4];
	struct queue_stats st;
	struct job_upload u[2];
	struct job j;
	PGconn *c;
	char err[512];

	fx_close(fx);
	fx_pg_wipe(fx, true);
	c = connect_ok(fx->path);
	assert_int_equal(queue_pg__migrate(c, from, err, sizeof(err)), 0);
	exec_ok(c,
		"INSERT INTO aos_jobs (kind, state, idem_key, registry, package, "
		"max_attempts, next_run_ms, created_ms, updated_ms, head, "
		"last_error) VALUES (1, 1, 'old', 'pypi', 'demo', 3, 1700000000000, "
		"1700000000000, 1700000000000, true, ''), (2, 5, 'dead', 'npm', "
		"'other', 3, 0, 0, 0, false, 'HTTP 503: try later');"
		"INSERT INTO aos_uploads (job_id, filename, registry, sha256, state, "
		"answer, updated_ms) SELECT id, 'a.whl', 'pypi', '" SHA_A "', 1, '', 0 "
		"FROM aos_jobs WHERE idem_key = 'old'");
	fx->q = open_ok(fx->path);
	assert_int_equal(query_int(c, "SELECT version FROM aos_queue_meta"),
			 queue_pg__schema_version());
	PQfinish(c);

	j = get(fx->q, 2);
	assert_int_equal(j.outcome, OUT_NONE);
	assert_string_equal(j.last_error, "HTTP 503: try later");
	assert_int_equal(fx->q->ops->uploads(fx->q, 1, u, 2), 1);
	assert_int_equal(u[0].outcome, OUT_NONE);
	j = claim_one(fx->q, "w", T0);
	assert_string_equal(j.idem_key, "old");
	file_round_trip(fx->q, j.id, j.fence); /* migration 5's tables */
	assert_int_equal(fx->q->ops->upload_set(fx->q, j.id, j.fence, "a.whl",
						UPLOAD_FAILED, OUT_REJECTED, "no",
						T0 + 1),
			 0);
	assert_int_equal(fx->q->ops->finish(fx->q, j.id, j.fence, JOB_DEAD, 0,
					    OUT_REJECTED, "refused", T0 + 2),
			 0);
	assert_int_equal(fx->q->ops->uploads(fx->q, j.id, u, 2), 1);
	assert_int_equal(u[0].outcome, OUT_REJECTED);
	assert_int_equal(get(fx->q, j.id).outcome, OUT_REJECTED);
	assert_int_equal(fx->q->ops->stats(fx->q, T0, &st), 0);
	assert_int_equal(st.jobs[JOB_PUBLISH][JOB_DEAD], 1);
	assert_int_equal(st.jobs[JOB_PIPELINE][JOB_DEAD], 1);
	assert_int_equal(st.oldest_due_ms, 0);
	/* both ended jobs go, the one that ended before the migration too */
	assert_int_equal(fx->q->ops->prune(fx->q, T0 + 3, 0, false, pruned, 4), 2);
	assert_int_equal(pruned[0].id, 1);
	assert_int_equal(pruned[1].id, 2);
	job_clear(&pruned[0]);
	job_clear(&pruned[1]);
	assert_int_equal(fx_pg_count(fx->path, "SELECT count(*) FROM aos_file_chunks"),
			 0);
}

/* A database of the previous schema (5: before drains) with a job running
 * and one queued keeps working once migrated: the running job's lease and
 * fence hold, drains are empty, set and checked by claims. */
static void test_migrate_drains(void **state)
{
	struct fx *fx = *state;
	struct queue_drain d[4];
	struct job j, got[2];
	PGconn *c;
	char err[512];
	int64_t run, queued;

	fx_close(fx);
	fx_pg_wipe(fx, true);
	c = connect_ok(fx->path);
	assert_int_equal(queue_pg__migrate(c, 5, err, sizeof(err)), 0);
	exec_ok(
	    c,
	    "INSERT INTO aos_jobs (kind, state, idem_key, registry, package, "
	    "max_attempts, attempts, next_run_ms, created_ms, updated_ms, head, "
	    "lease_owner, lease_expires_ms, fence) VALUES "
	    "(1, 2, 'run', 'pypi', 'p1', 3, 1, 0, 0, 0, true, 'old:1', "
	    "1700000060000, 4), "
	    "(1, 1, 'queued', 'pypi', 'p2', 3, 0, 1700000000000, 0, 0, true, '', 0, 0)");
	fx->q = open_ok(fx->path);
	assert_int_equal(query_int(c, "SELECT version FROM aos_queue_meta"),
			 queue_pg__schema_version());
	PQfinish(c);
	run = 1;
	queued = 2;
	assert_int_equal(fx->q->ops->drains(fx->q, d, 4), 0);
	assert_int_equal(fx->q->ops->drain_set(fx->q, "new", true, T0), 1);
	assert_int_equal(claim(fx->q, "new:2", T0 + 1, 0, got, 2), 0);
	assert_int_equal(fx->q->ops->heartbeat(fx->q, run, 4, T0 + 1, LEASE), 0);
	assert_int_equal(
	    fx->q->ops->finish(fx->q, run, 4, JOB_SUCCEEDED, 0, OUT_NONE, NULL, T0 + 2),
	    0);
	assert_int_equal(fx->q->ops->drain_set(fx->q, "new", false, T0 + 3), 1);
	j = claim_one(fx->q, "new:2", T0 + 4);
	assert_int_equal(j.id, queued);
}

/* A drain on its own connection, on a thread. */
struct drainer {
	struct queue *q;
	int rc;
	bool done; /* under mu */
	pthread_mutex_t mu;
};

static void *drainer_main(void *arg)
{
	struct drainer *d = arg;
	int rc = d->q->ops->drain_set(d->q, NULL, true, T0);

	pthread_mutex_lock(&d->mu);
	d->rc = rc;
	d->done = true;
	pthread_mutex_unlock(&d->mu);
	return NULL;
}

/* A drain waits for the claims under way (it takes their lock), so no
 * claim that read the drains before it commits after it: another host
 * holds the claims' lock (a claim in its transaction), the drain waits on
 * it, and is written once that claim committed; it wakes the other hosts
 * (NOTIFY aos_queue), so that a resume starts their jobs at once. */
static void test_drain_waits_for_claims(void **state)
{
	struct fx *fx = *state;
	struct drainer d = {.mu = PTHREAD_MUTEX_INITIALIZER};
	PGconn *c = connect_ok(fx->path);
	pthread_t t;
	bool done;
	int i;

	exec_ok(c, "LISTEN aos_queue");
	exec_ok(c, "BEGIN; SELECT pg_advisory_xact_lock(hashtextextended("
		   "'aos-queue-claim:' || current_schema(), 0))");
	d.q = open_ok(fx->path);
	assert_int_equal(pthread_create(&t, NULL, drainer_main, &d), 0);
	/* until the drain's session waits on an advisory lock (its state, not
	 * a time: at most 20 s of polls) */
	for (i = 0; i < 2000; i++) {
		if (query_int(c, "SELECT count(*) FROM pg_locks WHERE locktype = "
				 "'advisory' AND NOT granted") > 0)
			break;
		usleep(10000);
	}
	assert_true(i < 2000);
	pthread_mutex_lock(&d.mu);
	done = d.done;
	pthread_mutex_unlock(&d.mu);
	assert_false(done);
	assert_int_equal(query_int(c, "SELECT count(*) FROM aos_drains"), 0);
	exec_ok(c, "COMMIT");
	pthread_join(t, NULL);
	assert_int_equal(d.rc, 1);
	assert_int_equal(query_int(c, "SELECT count(*) FROM aos_drains WHERE host = ''"),
			 1);
	assert_true(notified(c, "aos_queue", 10000));
	assert_int_equal(d.q->ops->drain_set(d.q, NULL, false, T0 + 1), 1);
	assert_true(notified(c, "aos_queue", 10000));
	d.q->ops->close(d.q);
	PQfinish(c);
}

static void test_migrate_outcomes(void **state)
{
	int from;

	for (from = 1; from < queue_pg__schema_version(); from++)
		migrate_outcomes_from(*state, from);
}

static int open_err(const char *conninfo, char *err, size_t len)
{
	struct queue *q = NULL;
	int r = queue_pg_open(conninfo, &q, err, len);

	if (q != NULL)
		q->ops->close(q);
	return r;
}

static void test_refuse_newer_schema(void **state)
{
	struct fx *fx = *state;
	PGconn *c = connect_ok(fx->path);
	char err[512];

	enqueue(fx->q, "a", T0);
	exec_ok(c, "UPDATE aos_queue_meta SET version = 99");
	assert_int_equal(open_err(fx->path, err, sizeof(err)), AOS_ESCHEMA);
	assert_contains(err, "newer aos-publishd (schema 99, this program knows");
	assert_int_equal(query_int(c, "SELECT version FROM aos_queue_meta"), 99);
	assert_int_equal(query_int(c, "SELECT count(*) FROM aos_jobs"), 1);
	PQfinish(c);
}

static void test_refuse_foreign_tables(void **state)
{
	struct fx *fx = *state;
	PGconn *c;
	char err[512];

	fx_close(fx);
	fx_pg_wipe(fx, true);
	c = connect_ok(fx->path);
	exec_ok(c, "CREATE TABLE aos_jobs (id integer)");
	assert_int_equal(open_err(fx->path, err, sizeof(err)), AOS_ECORRUPT);
	assert_contains(err, "has a table aos_jobs but no aos_queue_meta version");
	assert_int_equal(
	    query_int(c, "SELECT count(*) FROM pg_tables WHERE tablename "
			 "= 'aos_queue_meta' AND schemaname = current_schema()"),
	    0);
	PQfinish(c);
}

/* Connection failures name the cause, not the connection string. */
static void test_refuse_bad_password(void **state)
{
	char conninfo[1200], err[512];

	(void)state;
	snprintf(conninfo, sizeof(conninfo),
		 "%s password=wrong-Zq81x passfile=/nonexistent", fx_pg());
	assert_int_equal(open_err(conninfo, err, sizeof(err)), -ECONNREFUSED);
	assert_contains(err, "PostgreSQL queue: cannot connect");
	assert_contains(err, "password authentication failed");
	assert_null(strstr(err, "wrong-Zq81x"));
}

struct opener {
	const char *conninfo;
	pthread_barrier_t *start;
	int result;
	char err[512];
};

static void *open_main(void *arg)
{
	struct opener *o = arg;

	pthread_barrier_wait(o->start);
	o->result = open_err(o->conninfo, o->err, sizeof(o->err));
	return NULL;
}

/* Hosts starting at once on an empty schema: one migrates, the others wait
 * on the advisory lock and find the work done. */
static void test_open_at_once(void **state)
{
	struct fx *fx = *state;
	struct opener o[HOSTS];
	pthread_barrier_t start;
	pthread_t t[HOSTS];
	PGconn *c;
	int i;

	fx_close(fx);
	fx_pg_wipe(fx, true);
	pthread_barrier_init(&start, NULL, HOSTS);
	for (i = 0; i < HOSTS; i++) {
		o[i] = (struct opener){.conninfo = fx->path, .start = &start};
		assert_int_equal(pthread_create(&t[i], NULL, open_main, &o[i]), 0);
	}
	for (i = 0; i < HOSTS; i++)
		pthread_join(t[i], NULL);
	pthread_barrier_destroy(&start);
	for (i = 0; i < HOSTS; i++)
		if (o[i].result != 0)
			fail_msg("open %d: %d: %s", i, o[i].result, o[i].err);
	c = connect_ok(fx->path);
	assert_int_equal(query_int(c, "SELECT version FROM aos_queue_meta"),
			 queue_pg__schema_version());
	assert_int_equal(query_int(c, "SELECT count(*) FROM aos_queue_meta"), 1);
	PQfinish(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_hosts_claim_at_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fenced_after_takeover, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_migrate_from_schema_1, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_migrate_outcomes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_migrate_drains, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_drain_waits_for_claims, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuse_newer_schema, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuse_foreign_tables, setup, teardown),
	    cmocka_unit_test(test_refuse_bad_password),
	    cmocka_unit_test_setup_teardown(test_open_at_once, setup, teardown),
	};

	if (fx_pg() == NULL) {
		fprintf(stderr, "test_queue_pg: AOS_TEST_PG is not set; run it with "
				"tests/peers/pg_run.sh (ctest does)\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
