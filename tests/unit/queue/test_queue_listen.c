/* Unit tests for agent/queue/queue_listen.c against the real server of
 * tests/peers/pg_run.sh (ctest unit.test_queue_listen): the LISTEN
 * connection wakes for an enqueue made on another connection, comes back
 * with a wake on a new session after pg_terminate_backend(), and the loop
 * keeps running (a 10 ms timer ticks) while the server is stopped and the
 * reconnects fail; it listens again once the server is started.  A host
 * name is looked up on libuv's thread pool, not by libpq on the loop: one
 * that does not resolve fails with our message, not libpq's. */
#include <errno.h>

#include <uv.h>

#include "queue_fixture.h"
#include "pg_wire_fixture.h"
#include "queue/queue_listen.h"

static struct {
	struct fx *fx;
	int wakes;
	int pids[4];
	int ticks;    /* of the timer, while the server is stopped */
	bool stopped; /* the server is stopped */
} ls;

/* Each wake: 1 listening (enqueue elsewhere), 2 the NOTIFY (end the
 * session), 3 back after the loss: done. */
static void wake_terminate(struct queue_listen *l, void *data)
{
	(void)data;
	ls.pids[ls.wakes++] = queue_listen_backend_pid(l);
	if (ls.wakes == 1)
		enqueue(ls.fx->q, "listen-a", T0); /* another connection */
	else if (ls.wakes == 2)
		wire_app_terminate();
	else
		assert_int_equal(queue_listen_close(l, NULL, NULL), 0);
}

static void test_wakes_and_comes_back(void **state)
{
	struct queue_listen_opts o = {
	    .wake = wake_terminate, .backoff_min_ms = 10, .backoff_max_ms = 50};
	struct wire_listen wl;

	memset(&ls, 0, sizeof(ls));
	ls.fx = *state;
	wire_listen_start(&wl, ls.fx, NULL, &o);
	wire_listen_run(&wl);
	assert_int_equal(ls.wakes, 3);
	assert_true(ls.pids[0] > 0 && ls.pids[0] == ls.pids[1]);
	assert_true(ls.pids[2] > 0 && ls.pids[2] != ls.pids[1]); /* a new session */
	wire_listen_end(&wl);
}

static void tick_cb(uv_timer_t *t)
{
	struct queue_listen *l = t->data;

	if (!ls.stopped)
		return;
	ls.ticks++;
	/* the loop ran through failed reconnects: start the server again */
	if (ls.ticks == 30) {
		assert_false(queue_listen_listening(l));
		assert_non_null(strstr(queue_listen_error(l), "cannot connect"));
		wire_pg_ctl("start");
		ls.stopped = false;
	}
}

/* 1: listening: stop the server; 2: back after the start: done. */
static void wake_stop(struct queue_listen *l, void *data)
{
	(void)data;
	ls.wakes++;
	if (ls.wakes == 1) {
		wire_pg_ctl("stop");
		ls.stopped = true;
	} else {
		assert_int_equal(ls.ticks, 30);
		assert_int_equal(queue_listen_close(l, NULL, NULL), 0);
	}
}

static void test_loop_runs_while_server_stopped(void **state)
{
	struct queue_listen_opts o = {
	    .wake = wake_stop, .backoff_min_ms = 10, .backoff_max_ms = 40};
	struct fx *fx = *state;
	struct wire_listen wl;
	uv_timer_t tick;

	memset(&ls, 0, sizeof(ls));
	fx_close(fx); /* the fixture's connections would be lost too */
	fx_pg_disconnect();
	wire_listen_start(&wl, fx, NULL, &o);
	assert_int_equal(uv_timer_init(&wl.loop, &tick), 0);
	tick.data = wl.l;
	uv_timer_start(&tick, tick_cb, 10, 10);
	uv_unref((uv_handle_t *)&tick);
	wire_listen_run(&wl);
	assert_int_equal(ls.wakes, 2);
	uv_close((uv_handle_t *)&tick, NULL);
	wire_listen_end(&wl);
}

static void wake_never(struct queue_listen *l, void *data)
{
	(void)l;
	(void)data;
	fail_msg("a wake without a server");
}

static void no_such_host(struct queue_pg_settings *s)
{
	s->host = "no-such-host.invalid"; /* RFC 6761: never resolves */
}

static void test_name_looked_up_off_the_loop(void **state)
{
	struct queue_listen_opts o = {.wake = wake_never, .backoff_min_ms = 10000};
	struct wire_listen wl;

	wire_listen_start(&wl, *state, no_such_host, &o);
	while (queue_listen_error(wl.l)[0] == '\0' && !wl.guard_fired)
		(void)uv_run(&wl.loop, UV_RUN_ONCE);
	assert_false(wl.guard_fired);
	assert_non_null(
	    strstr(queue_listen_error(wl.l), "cannot resolve \"no-such-host.invalid\""));
	assert_int_equal(queue_listen_close(wl.l, NULL, NULL), 0);
	wire_listen_run(&wl);
	wire_listen_end(&wl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_wakes_and_comes_back, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_loop_runs_while_server_stopped, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_name_looked_up_off_the_loop, setup,
					    teardown),
	};

	if (fx_pg() == NULL || getenv("AOS_TEST_PG_CTL") == NULL) {
		fprintf(stderr, "test_queue_listen: AOS_TEST_PG is not set; run it with "
				"tests/peers/pg_run.sh (ctest does)\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
