/* Unit tests of the PostgreSQL queue's connection handling, against the
 * real server of tests/peers/pg_run.sh (ctest unit.test_queue_pgwire):
 *
 * - queue_async over queue_pg_conn_open() survives pg_terminate_backend()
 *   of its connection between requests: the next read succeeds on a new
 *   connection, and the loss is reported;
 * - an enqueue whose connection is killed while it runs (held on the
 *   package's advisory lock) answers -ECONNRESET, is not run again, and
 *   the client's retry with the same key leaves one job;
 * - it survives the server stopped and started again (pg_ctl);
 * - queue_async_reopen() with a second role's password (made now) moves
 *   the connection to that role; a reopen whose password is refused keeps
 *   the old connection.
 * queue_listen's own tests are test_queue_listen.c. */
#include <errno.h>
#include <stdint.h>

#include <uv.h>

#include "queue_fixture.h"
#include "pg_wire_fixture.h"
#include "queue/queue_async.h"
#include "queue/queue_async_internal.h"

/* ---- queue_async: one request at a time ----------------------------------- */

static struct queue_async_result last;
static int completions;

static void done(struct queue_async_result *res, void *data)
{
	(void)data;
	last.rc = res->rc;
	last.id = res->id;
	completions++;
}

static struct {
	int n;
	int rc[8];
	unsigned long lost[8];
} reports;

static void report(const struct queue_async_open_event *ev, void *data)
{
	(void)data;
	assert_true(reports.n < 8);
	reports.rc[reports.n] = ev->rc;
	reports.lost[reports.n++] = ev->lost;
}

struct wire {
	uv_loop_t loop;
	struct wire_settings ws;
	struct queue_pg_conn *conn;
	struct queue_async *qa;
	struct secret *pw1;
	char r1[64], r2[64];
};

/* A queue_async opening as role r1 (made now) on the test's schema. */
static void wire_start(struct wire *w, const struct fx *fx)
{
	struct queue_async_open o = {.open_with = queue_pg_conn_open, .report = report};

	memset(&reports, 0, sizeof(reports));
	wire_app_name("aos-wire");
	snprintf(w->r1, sizeof(w->r1), "aos_wire_a_%ld", (long)getpid());
	snprintf(w->r2, sizeof(w->r2), "aos_wire_b_%ld", (long)getpid());
	w->pw1 = wire_password();
	wire_role(w->r1, w->pw1);
	wire_settings(&w->ws, fx->schema, wire_app);
	assert_int_equal(queue_pg_conn_new(&w->ws.s, &w->conn), 0);
	assert_int_equal(queue_pg_conn_set_credentials(w->conn, w->r1, w->pw1), 0);
	o.open_arg = w->conn;
	wire_qa_start(&w->loop, &o, &w->qa);
}

static void wire_stop(struct wire *w)
{
	wire_qa_stop(&w->loop, w->qa);
	queue_pg_conn_free(w->conn);
	secret_unref(w->pw1);
	wire_role_drop(w->r1);
	wire_role_drop(w->r2);
}

/* Runs the loop until the request just posted completed; its rc. */
static int wait_rc(struct wire *w, int posted)
{
	wire_qa_wait(&w->loop, posted, &completions);
	return last.rc;
}

static int counts(struct wire *w)
{
	return wait_rc(w, queue_async_counts(w->qa, done, NULL));
}

/* A read after its connection was ended by the server runs on a new one. */
static void test_terminated_between_requests(void **state)
{
	struct wire w;

	wire_start(&w, *state);
	assert_int_equal(counts(&w), 0);
	assert_int_equal(wire_app_backends(), 1);
	wire_app_terminate();
	assert_int_equal(counts(&w), 0); /* run again on a new connection */
	assert_int_equal(wire_app_backends(), 1);
	assert_int_equal(reports.n, 1); /* the reopen, after one loss */
	assert_int_equal(reports.rc[0], 0);
	assert_int_equal(reports.lost[0], 1);
	wire_stop(&w);
}

static void job_new_fill(struct job_new *j, const char *key)
{
	memset(j, 0, sizeof(*j));
	j->kind = JOB_PUBLISH;
	j->idem_key = key;
	j->registry = "pypi";
	j->package = "wire-pkg";
	j->max_attempts = 3;
}

/* An enqueue killed while it waits for the package's lock (inside its
 * transaction) answers -ECONNRESET and is not run again; the retry with
 * the same key makes the one job. */
static void test_enqueue_killed_not_replayed(void **state)
{
	struct fx *fx = *state;
	const char *ci = getenv("AOS_TEST_PG_SUPER");
	struct job_new j;
	char sql[256];
	PGconn *holder;
	PGresult *r;
	struct wire w;
	int i;

	wire_start(&w, fx);
	assert_int_equal(counts(&w), 0); /* connected */
	/* another session holds the package's lock (queue_pg_sql.c) */
	holder = PQconnectdb(ci);
	assert_int_equal(PQstatus(holder), CONNECTION_OK);
	r = PQexec(holder, "BEGIN; SELECT pg_advisory_xact_lock(hashtextextended("
			   "'aos-queue-package:' || 'wire-pkg', 0))");
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	PQclear(r);

	job_new_fill(&j, "wire-key");
	assert_int_equal(queue_async_enqueue(w.qa, &j, T0, done, NULL), 0);
	/* the enqueue's session waits on the lock: end it there */
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM pg_stat_activity WHERE application_name = '%s' "
		 "AND wait_event_type = 'Lock'",
		 wire_app);
	for (i = 0; i < 1000 && wire_super_int(sql) == 0; i++)
		usleep(10000);
	assert_int_equal(wire_super_int(sql), 1);
	wire_app_terminate();
	PQclear(PQexec(holder, "COMMIT"));
	PQfinish(holder);

	assert_int_equal(uv_run(&w.loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(last.rc, -ECONNRESET); /* answered, not run again */
	assert_int_equal(fx_pg_count(fx->path, "SELECT count(*) FROM aos_jobs"), 0);
	/* the client's retry with its key */
	job_new_fill(&j, "wire-key");
	assert_int_equal(wait_rc(&w, queue_async_enqueue(w.qa, &j, T0, done, NULL)), 0);
	job_new_fill(&j, "wire-key");
	assert_int_equal(wait_rc(&w, queue_async_enqueue(w.qa, &j, T0, done, NULL)),
			 AOS_EEXIST);
	assert_int_equal(fx_pg_count(fx->path, "SELECT count(*) FROM aos_jobs WHERE "
					       "idem_key = 'wire-key'"),
			 1);
	wire_stop(&w);
}

/* An enqueue whose idle connection was ended by the server finds it lost
 * at its BEGIN (-ENOTCONN: nothing of it ran) and runs on a new one: the
 * client gets its job, not an error to retry. */
static void test_enqueue_after_idle_loss_runs(void **state)
{
	struct fx *fx = *state;
	struct job_new j;
	struct wire w;

	wire_start(&w, fx);
	assert_int_equal(counts(&w), 0); /* connected */
	wire_app_terminate();
	job_new_fill(&j, "idle-key");
	assert_int_equal(wait_rc(&w, queue_async_enqueue(w.qa, &j, T0, done, NULL)), 0);
	assert_true(last.id > 0);
	assert_int_equal(fx_pg_count(fx->path, "SELECT count(*) FROM aos_jobs WHERE "
					       "idem_key = 'idle-key'"),
			 1);
	assert_int_equal(reports.n, 1); /* the reopen, after one loss */
	assert_int_equal(reports.lost[0], 1);
	wire_stop(&w);
}

/* The server stopped: requests fail (no tight loop: the backoff is the
 * test's 0 here, so each one tries); started again: the next one works. */
static void test_server_restarted(void **state)
{
	struct fx *fx = *state;
	struct wire w;

	wire_start(&w, fx);
	fx_close(fx); /* the fixture's connections would be lost too */
	fx_pg_disconnect();
	qa__set_backoff(w.qa, 0);
	assert_int_equal(counts(&w), 0);
	wire_pg_ctl("stop");
	assert_int_equal(counts(&w), -ECONNRESET); /* lost; the reopen failed */
	assert_int_equal(counts(&w), -ECONNREFUSED);
	wire_pg_ctl("start");
	assert_int_equal(counts(&w), 0);
	assert_int_equal(wire_app_backends(), 1);
	/* failed (lost 1), failed again, opened */
	assert_int_equal(reports.n, 3);
	assert_int_equal(reports.lost[0], 1);
	assert_true(reports.rc[0] < 0 && reports.rc[1] < 0);
	assert_int_equal(reports.rc[2], 0);
	wire_stop(&w);
}

static void reopen_done(struct queue_async_result *res, void *data)
{
	(void)data;
	last.rc = res->rc;
	completions++;
}

/* The session user of the connection under test. */
static void app_user(char *buf, size_t len)
{
	char sql[256];

	snprintf(sql, sizeof(sql),
		 "SELECT usename FROM pg_stat_activity WHERE application_name = '%s'",
		 wire_app);
	wire_super_text(sql, buf, len);
}

/* New credentials: the connection moves to the second role between two
 * requests; a refused password keeps the connection there is. */
static void test_reopen_moves_role(void **state)
{
	struct secret *pw2 = wire_password(), *bad = wire_password();
	char user[64];
	struct wire w;

	wire_start(&w, *state);
	wire_role(w.r2, pw2);
	assert_int_equal(counts(&w), 0);
	app_user(user, sizeof(user));
	assert_string_equal(user, w.r1);

	assert_int_equal(queue_pg_conn_set_credentials(w.conn, w.r2, pw2), 0);
	assert_int_equal(queue_async_counts(w.qa, done, NULL), 0);
	assert_int_equal(queue_async_reopen(w.qa, reopen_done, NULL), 0);
	assert_int_equal(queue_async_counts(w.qa, done, NULL), 0);
	assert_int_equal(uv_run(&w.loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(last.rc, 0);
	app_user(user, sizeof(user));
	assert_string_equal(user, w.r2);
	assert_int_equal(wire_app_backends(), 1); /* the old one closed */

	/* a password the server refuses: reported, the r2 connection kept */
	assert_int_equal(queue_pg_conn_set_credentials(w.conn, w.r1, bad), 0);
	assert_int_equal(wait_rc(&w, queue_async_reopen(w.qa, reopen_done, NULL)),
			 -ECONNREFUSED);
	assert_int_equal(counts(&w), 0);
	app_user(user, sizeof(user));
	assert_string_equal(user, w.r2);
	assert_int_equal(reports.n, 1);
	assert_true(reports.rc[0] == -ECONNREFUSED);

	secret_unref(pw2);
	secret_unref(bad);
	wire_stop(&w);
}

/* ---- the arrays ------------------------------------------------------------ */

static const char *param(const struct queue_pg_params *p, const char *key)
{
	size_t i;

	for (i = 0; p->keys[i] != NULL; i++)
		if (strcmp(p->keys[i], key) == 0)
			return p->values[i];
	return NULL;
}

/* The password is a value of its own pointing into the secret (no string
 * of settings holds it); without one, no "password" key at all. */
static void test_params(void **state)
{
	struct queue_pg_settings s = {.host = "/run/pg",
				      .database = "q",
				      .user = "u",
				      .port = 6432,
				      .sslmode = "disable"};
	struct secret *pw = wire_password();
	struct queue_pg_params p;
	struct queue_pg_conn *c;

	(void)state;
	assert_int_equal(queue_pg_conn_new(&s, &c), 0);
	assert_int_equal(queue_pg_conn_params(c, &p), 0);
	assert_null(param(&p, "password"));
	assert_string_equal(param(&p, "user"), "u");
	assert_string_equal(param(&p, "port"), "6432");
	assert_string_equal(param(&p, "application_name"), "aos-publishd");
	/* sslmode's checks are never replaced by GSSAPI encryption */
	assert_string_equal(param(&p, "gssencmode"), "disable");
	/* a silent peer (half-open TCP) is noticed in about a minute */
	assert_string_equal(param(&p, "keepalives"), "1");
	assert_string_equal(param(&p, "keepalives_idle"), "30");
	queue_pg_params_clear(&p);

	assert_int_equal(queue_pg_conn_set_credentials(c, "v", pw), 0);
	assert_int_equal(secret_refs(pw), 2);
	assert_int_equal(queue_pg_conn_params(c, &p), 0);
	assert_ptr_equal(param(&p, "password"), secret_value(pw));
	assert_string_equal(param(&p, "user"), "v");
	assert_int_equal(secret_refs(pw), 3);
	queue_pg_params_clear(&p);
	assert_int_equal(secret_refs(pw), 2);
	queue_pg_conn_free(c);
	assert_int_equal(secret_refs(pw), 1);
	secret_unref(pw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_params),
	    cmocka_unit_test_setup_teardown(test_terminated_between_requests, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_enqueue_killed_not_replayed, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_enqueue_after_idle_loss_runs, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_reopen_moves_role, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_server_restarted, setup, teardown),
	};

	if (fx_pg() == NULL || getenv("AOS_TEST_PG_CTL") == NULL) {
		fprintf(stderr, "test_queue_pgwire: AOS_TEST_PG is not set; run it with "
				"tests/peers/pg_run.sh (ctest does)\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
