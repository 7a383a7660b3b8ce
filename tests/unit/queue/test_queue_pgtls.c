/* Unit tests of TLS to the PostgreSQL queue (ctest unit.test_queue_pgtls):
 * tests/peers/pg_run.sh with PG_RUN_SSL=1 starts the server with a
 * certificate for 127.0.0.1 and localhost signed by a CA made for the run.
 * sslmode verify-full with that CA connects over TLS (the server says so
 * in pg_stat_ssl), for the address and for the name; with another CA the
 * open fails, saying the certificate could not be verified; and the LISTEN
 * connection (libpq's asynchronous connect, to "localhost" looked up on
 * libuv's thread pool) verifies it the same way. */
#include <errno.h>

#include <uv.h>

#include "queue_fixture.h"
#include "pg_wire_fixture.h"
#include "queue/queue_listen.h"

static char role[64];
static struct secret *pw;

static int tls_setup(void **state)
{
	setup(state);
	wire_app_name("aos-tls");
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

	wire_settings(&ws, fx->schema, wire_app);
	ws.s.host = host;
	ws.s.sslmode = "verify-full";
	ws.s.sslrootcert = ca;
	assert_int_equal(queue_pg_conn_new(&ws.s, &c), 0);
	assert_int_equal(queue_pg_conn_set_credentials(c, role, pw), 0);
	r = queue_pg_conn_open(c, &q, err, errlen);
	if (r == 0) {
		int64_t counts[JOB_CANCELED + 1];
		char sql[256], ssl[8];

		snprintf(sql, sizeof(sql),
			 "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a "
			 "USING (pid) WHERE a.application_name = '%s'",
			 wire_app);
		wire_super_text(sql, ssl, sizeof(ssl));
		assert_string_equal(ssl, "t"); /* the server sees TLS */
		assert_int_equal(q->ops->counts(q, counts), 0);
		q->ops->close(q);
	}
	queue_pg_conn_free(c);
	return r;
}

static void test_verify_full_right_ca(void **state)
{
	const char *ca = getenv("AOS_TEST_PG_CA");
	char err[512];

	assert_int_equal(open_tls(*state, "127.0.0.1", ca, err, sizeof(err)), 0);
	assert_int_equal(open_tls(*state, "localhost", ca, err, sizeof(err)), 0);
}

static void test_verify_full_wrong_ca(void **state)
{
	const char *ca = getenv("AOS_TEST_PG_WRONG_CA");
	char err[512] = "";

	assert_int_equal(open_tls(*state, "127.0.0.1", ca, err, sizeof(err)),
			 -ECONNREFUSED);
	assert_non_null(strstr(err, "certificate verify failed"));
	assert_null(strstr(err, secret_value(pw)));
}

static int wakes;

static void wake(struct queue_listen *l, void *data)
{
	(void)data;
	wakes++;
	assert_int_equal(queue_listen_close(l, NULL, NULL), 0);
}

/* By name: looked up off the loop, then checked against the certificate. */
static void right_ca(struct queue_pg_settings *s)
{
	s->host = "localhost";
	s->sslmode = "verify-full";
	s->sslrootcert = getenv("AOS_TEST_PG_CA");
}

static void wrong_ca(struct queue_pg_settings *s)
{
	s->sslmode = "verify-full";
	s->sslrootcert = getenv("AOS_TEST_PG_WRONG_CA");
}

/* The asynchronous connect checks the certificate too: the right CA
 * listens (a wake), the wrong one never does and says why. */
static void test_listen_verify_full(void **state)
{
	struct queue_listen_opts o = {.wake = wake, .backoff_min_ms = 10000};
	struct wire_listen wl;

	wakes = 0;
	wire_listen_start(&wl, *state, right_ca, &o);
	wire_listen_run(&wl);
	assert_int_equal(wakes, 1);
	wire_listen_end(&wl);

	/* the wrong CA: the first connect fails; close while it backs off */
	wire_listen_start(&wl, *state, wrong_ca, &o);
	while (strstr(queue_listen_error(wl.l), "certificate verify failed") == NULL &&
	       !wl.guard_fired)
		(void)uv_run(&wl.loop, UV_RUN_ONCE);
	assert_false(wl.guard_fired);
	assert_int_equal(queue_listen_close(wl.l, NULL, NULL), 0);
	wire_listen_run(&wl);
	assert_int_equal(wakes, 1);
	wire_listen_end(&wl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_verify_full_right_ca, tls_setup,
					    tls_teardown),
	    cmocka_unit_test_setup_teardown(test_verify_full_wrong_ca, tls_setup,
					    tls_teardown),
	    cmocka_unit_test_setup_teardown(test_listen_verify_full, setup, teardown),
	};

	if (fx_pg() == NULL || getenv("AOS_TEST_PG_CA") == NULL) {
		fprintf(stderr, "test_queue_pgtls: run it with PG_RUN_SSL=1 "
				"tests/peers/pg_run.sh (ctest does)\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
