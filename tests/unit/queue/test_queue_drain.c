/* test_queue_drain.c - drains kept in the queue (queue_ops.drain_set,
 * drains): the fleet's and each host's, checked by every claim of any
 * handle (another host's, another process's), on both backends
 * (unit.test_queue_drain and unit.test_queue_drain.postgresql). */
#include <errno.h>

#include "queue_fixture.h"

static int drains(struct queue *q, struct queue_drain *ret)
{
	int n = q->ops->drains(q, ret, QUEUE_DRAINS_MAX);

	assert_true(n >= 0);
	return n;
}

/* A fleet drain stops every host's claims, running jobs go on; resume
 * lets them claim again. */
static void test_fleet_drain(void **state)
{
	struct fx *fx = *state;
	struct queue *q = fx->q;
	struct queue_drain d[QUEUE_DRAINS_MAX];
	struct job j[4], run;
	int64_t a, b;

	a = enqueue_in(q, "a", "pypi", "pa", T0);
	b = enqueue_in(q, "b", "pypi", "pb", T0);
	run = claim_one(q, "host1:1", T0 + 1);
	assert_int_equal(run.id, a);

	assert_int_equal(drains(q, d), 0);
	assert_int_equal(q->ops->drain_set(q, NULL, true, T0 + 2), 1);
	assert_int_equal(q->ops->drain_set(q, NULL, true, T0 + 3), 0); /* kept */
	assert_int_equal(drains(q, d), 1);
	assert_string_equal(d[0].host, "");
	assert_int_equal(d[0].since_ms, T0 + 2);

	assert_int_equal(claim(q, "host1:1", T0 + 4, 0, j, 4), 0);
	assert_int_equal(claim(q, "host2:9", T0 + 4, 0, j, 4), 0);
	assert_int_equal(claim(q, "nocolon", T0 + 4, 0, j, 4), 0);
	assert_int_equal(state_of(q, b), JOB_QUEUED);
	/* the running job finishes under its lease */
	assert_int_equal(q->ops->heartbeat(q, a, run.fence, T0 + 5, LEASE), 0);
	assert_int_equal(
	    q->ops->finish(q, a, run.fence, JOB_SUCCEEDED, 0, OUT_NONE, NULL, T0 + 6), 0);
	/* a lease that ran out is not taken over while drained either */
	assert_int_equal(claim(q, "host2:9", T0 + 2 * LEASE, 0, j, 4), 0);

	assert_int_equal(q->ops->drain_set(q, NULL, false, T0 + 7), 1);
	assert_int_equal(q->ops->drain_set(q, NULL, false, T0 + 8), 0);
	assert_int_equal(drains(q, d), 0);
	assert_int_equal(claim_one(q, "host2:9", T0 + 9).id, b);
}

/* A host's drain stops the claims of that host's processes only. */
static void test_host_drain(void **state)
{
	struct fx *fx = *state;
	struct queue *q = fx->q;
	struct queue_drain d[QUEUE_DRAINS_MAX];
	struct job j[4];
	int64_t a, b;

	a = enqueue_in(q, "a", "pypi", "pa", T0);
	b = enqueue_in(q, "b", "pypi", "pb", T0 + 1);
	assert_int_equal(q->ops->drain_set(q, "host1", true, T0 + 2), 1);
	assert_int_equal(q->ops->drain_set(q, "host3", true, T0 + 3), 1);
	assert_int_equal(drains(q, d), 2);
	assert_string_equal(d[0].host, "host1");
	assert_string_equal(d[1].host, "host3");

	assert_int_equal(claim(q, "host1:100", T0 + 4, 0, j, 4), 0);
	assert_int_equal(claim(q, "host1:200", T0 + 4, 0, j, 4), 0); /* a restart */
	/* a name that starts with a drained one is another host */
	assert_int_equal(claim_one(q, "host10:1", T0 + 4).id, a);
	assert_int_equal(claim_one(q, "host2:1", T0 + 4).id, b);

	/* host and fleet drains are separate marks */
	assert_int_equal(q->ops->drain_set(q, NULL, true, T0 + 5), 1);
	assert_int_equal(drains(q, d), 3);
	assert_string_equal(d[0].host, "");
	assert_int_equal(q->ops->drain_set(q, NULL, false, T0 + 6), 1);
	assert_int_equal(drains(q, d), 2);
	assert_int_equal(q->ops->drain_set(q, "host1", false, T0 + 7), 1);
	assert_int_equal(q->ops->drain_set(q, "host1", false, T0 + 7), 0);
	assert_int_equal(drains(q, d), 1);
	assert_string_equal(d[0].host, "host3");
	assert_int_equal(q->ops->drains(q, d, 0), 0);
}

/* Host names are checked; drains are bounded. */
static void test_drain_invalid(void **state)
{
	struct fx *fx = *state;
	struct queue *q = fx->q;
	struct queue_drain d[QUEUE_DRAINS_MAX];
	char host[QUEUE_HOST_MAX + 1];
	int i;

	assert_int_equal(q->ops->drain_set(q, "", true, T0), -EINVAL);
	assert_int_equal(q->ops->drain_set(q, "a:1", true, T0), -EINVAL);
	assert_int_equal(q->ops->drain_set(q, "-a", true, T0), -EINVAL);
	assert_int_equal(q->ops->drain_set(q, "a b", true, T0), -EINVAL);
	assert_int_equal(q->ops->drain_set(q, "a'b", false, T0), -EINVAL);
	memset(host, 'h', QUEUE_HOST_MAX);
	host[QUEUE_HOST_MAX] = '\0';
	assert_int_equal(q->ops->drain_set(q, host, true, T0), AOS_ETOOBIG);
	host[QUEUE_HOST_MAX - 1] = '\0'; /* the longest name */
	assert_int_equal(q->ops->drain_set(q, host, true, T0), 1);
	assert_int_equal(drains(q, d), 1);
	assert_string_equal(d[0].host, host);

	for (i = 1; i < QUEUE_DRAINS_MAX; i++) {
		snprintf(host, sizeof(host), "h%d", i);
		assert_int_equal(q->ops->drain_set(q, host, true, T0), 1);
	}
	assert_int_equal(q->ops->drain_set(q, "one-more", true, T0), AOS_ETOOBIG);
	assert_int_equal(q->ops->drain_set(q, NULL, true, T0), AOS_ETOOBIG);
	assert_int_equal(q->ops->drain_set(q, "h1", true, T0), 0); /* there already */
	assert_int_equal(drains(q, d), QUEUE_DRAINS_MAX);
	assert_int_equal(q->ops->drain_set(q, "h1", false, T0), 1);
	assert_int_equal(q->ops->drain_set(q, NULL, true, T0), 1);
	assert_int_equal(q->ops->drains(q, d, 1), 1);
	assert_string_equal(d[0].host, "");
}

/* A drain written through one handle (another host, the CLI) is seen by
 * the next claim of another handle; and a resume too. */
static void test_drain_other_handle(void **state)
{
	struct fx *fx = *state;
	struct queue *q2 = open_ok(fx->path);
	struct job j[4];
	int64_t a;

	a = enqueue(fx->q, "a", T0);
	assert_int_equal(q2->ops->drain_set(q2, "w1", true, T0 + 1), 1);
	assert_int_equal(claim(fx->q, "w1:5", T0 + 2, 0, j, 4), 0);
	assert_int_equal(q2->ops->drain_set(q2, "w1", false, T0 + 3), 1);
	assert_int_equal(claim_one(fx->q, "w1:5", T0 + 4).id, a);
	q2->ops->close(q2);
}

static void test_owner_host(void **state)
{
	char h[QUEUE_HOST_MAX];

	(void)state;
	assert_int_equal(queue_owner_host("build-1.example:42", h, sizeof(h)), 0);
	assert_string_equal(h, "build-1.example");
	assert_int_equal(queue_owner_host("plain", h, sizeof(h)), 0);
	assert_string_equal(h, "plain");
	assert_int_equal(queue_owner_host("abc:1", h, 3), AOS_ETOOBIG);
	assert_int_equal(queue_host_check("build-1.example"), 0);
	assert_int_equal(queue_host_check(NULL), -EINVAL);
	assert_int_equal(queue_host_check(".a"), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_owner_host),
	    cmocka_unit_test_setup_teardown(test_fleet_drain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_host_drain, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_drain_invalid, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_drain_other_handle, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
