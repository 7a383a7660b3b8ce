/* Unit tests of TLS to the PostgreSQL queue (ctest unit.test_queue_pgtls):
 * tests/peers/pg_run.sh with PG_RUN_SSL=1 starts the server with a
 * certificate for 127.0.0.1 and localhost signed by a CA made for the run.
 * sslmode verify-full with that CA connects over TLS (the server says so
 * in pg_stat_ssl), for the address and for the name; with another CA the
 * open fails, saying the certificate could not be verified; and the LISTEN
 * connection (libpq's asynchronous connect) verifies it the same way. */
#include <errno.h>

#include <uv.h>

#include "queue_fixture.h"
#include "pg_wire_fixture.h"
#include "queue/queue_listen.h"

static char app[64], role[64];
static struct secret *pw;

static int tls_setup(void **state)
{
	setup(state);
	snprintf(app, sizeof(app), "aos-tls-%ld", (long)getpid());
	snprintf(role, sizeof(role), "aos_tls_%ld", (long)getpid());
	pw = wire_password();
	wire_role(role, pw);
	return 0;
}

static int tls_teardown(void **state)
{
	wire_role_drop(role);
	secret_unref(pw);
	return teardown(state);
}

/* Opens the queue with sslmode verify-full against ca for host; the
 * open's code, errbuf filled. */
static int open_tls(const struct fx *fx, const char *host, const char *ca, char *err,
		    size_t errlen)
{
	struct wire_settings ws;
	struct queue_pg_conn *c;
	struct queue *q = NULL;
	int r;

	wire_settings(&ws, fx->schema, app);
	ws.s.host = host;
	ws.s.sslmode = "verify-full";
	ws.s.sslrootcert = ca;
	assert_int_equal(queue_pg_conn_new(&ws.s, &c), 0);
	assert_int_equal(queue_pg_conn_set_credentials(c, role, pw), 0);
	r = queue_pg_conn_open(c, &q, err, errlen);
	if (r == 0) {
		char sql[256], ssl[8];

		snprintf(sql, sizeof(sql),
			 "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a "
			 "USING (pid) WHERE a.application_name = '%s'",
			 app);
		wire_super_text(sql, ssl, sizeof(ssl));
		assert_string_equal(ssl, "t"); /* the server sees TLS */
		assert_int_equal(q->ops->counts(q, (int64_t[JOB_CANCELED + 1]){0}), 0);
		q->ops->close(q);
	}
	queue_pg_conn_free(c);
	return r;
}

static void test_verify_full_right_ca(void **state)
{
	char err[512];

	assert_int_equal(
	    open_tls(*state, "127.0.0.1", getenv("AOS_TEST_PG_CA"), err, sizeof(err)), 0);
	assert_int_equal(
	    open_tls(*state, "localhost", getenv("AOS_TEST_PG_CA"), err, sizeof(err)), 0);
}

static void test_verify_full_wrong_ca(void **state)
{
	char err[512] = "";

	assert_int_equal(open_tls(*state, "127.0.0.1", getenv("AOS_TEST_PG_WRONG_CA"),
				  err, sizeof(err)),
			 -ECONNREFUSED);
	assert_non_null(strstr(err, "certificate verify failed"));
	assert_null(strstr(err, secret_value(pw)));
}

#define GUARD_MS 60000 /* a listener that never listens fails after this */

static int wakes;

static void guard_cb(uv_timer_t *t)
{
	uv_stop(t->loop);
}

static void wake(struct queue_listen *l, void *data)
{
	(void)data;
	wakes++;
	assert_int_equal(queue_listen_close(l, NULL, NULL), 0);
}

static void stop_cb(uv_timer_t *t)
{
	struct queue_listen *l = t->data;

	uv_close((uv_handle_t *)t, NULL);
	assert_int_equal(queue_listen_close(l, NULL, NULL), 0);
}

/* The asynchronous connect checks the certificate too: the right CA
 * listens (a wake), the wrong one never does and says why. */
static void test_listen_verify_full(void **state)
{
	struct fx *fx = *state;
	struct wire_settings ws;
	struct queue_pg_conn *c;
	struct queue_listen *l;
	struct queue_listen_opts o = {.wake = wake, .backoff_min_ms = 10000};
	uv_timer_t stop, guard;
	uv_loop_t loop;

	wire_settings(&ws, fx->schema, app);
	ws.s.sslmode = "verify-full";
	ws.s.sslrootcert = getenv("AOS_TEST_PG_CA");
	assert_int_equal(queue_pg_conn_new(&ws.s, &c), 0);
	assert_int_equal(queue_pg_conn_set_credentials(c, role, pw), 0);
	o.conn = c;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(uv_timer_init(&loop, &guard), 0);
	uv_timer_start(&guard, guard_cb, GUARD_MS, 0);
	uv_unref((uv_handle_t *)&guard);
	wakes = 0;
	assert_int_equal(queue_listen_start(&loop, &o, &l), 0);
	(void)uv_run(&loop, UV_RUN_DEFAULT);
	if (wakes != 1)
		fail_msg("no wake: %s", queue_listen_error(l));
	uv_close((uv_handle_t *)&guard, NULL);
	queue_pg_conn_free(c);

	/* the wrong CA: the first connect fails; stop while it backs off */
	ws.s.sslrootcert = getenv("AOS_TEST_PG_WRONG_CA");
	assert_int_equal(queue_pg_conn_new(&ws.s, &c), 0);
	assert_int_equal(queue_pg_conn_set_credentials(c, role, pw), 0);
	o.conn = c;
	assert_int_equal(queue_listen_start(&loop, &o, &l), 0);
	assert_int_equal(uv_timer_init(&loop, &stop), 0);
	stop.data = l;
	/* the failure is decided by the handshake: stop once it is told */
	while (strstr(queue_listen_error(l), "certificate verify failed") == NULL)
		assert_int_equal(uv_run(&loop, UV_RUN_ONCE), 1);
	uv_timer_start(&stop, stop_cb, 0, 0);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(wakes, 1);
	assert_int_equal(uv_loop_close(&loop), 0);
	queue_pg_conn_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_verify_full_right_ca, tls_setup,
					    tls_teardown),
	    cmocka_unit_test_setup_teardown(test_verify_full_wrong_ca, tls_setup,
					    tls_teardown),
	    cmocka_unit_test_setup_teardown(test_listen_verify_full, tls_setup,
					    tls_teardown),
	};

	if (fx_pg() == NULL || getenv("AOS_TEST_PG_CA") == NULL) {
		fprintf(stderr, "test_queue_pgtls: run it with PG_RUN_SSL=1 "
				"tests/peers/pg_run.sh (ctest does)\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
