/* test_queue_prune.c - retention (queue_ops.prune): which jobs go, in
 * batches with a cursor, with their uploads and log, and what a dry run
 * shows without deleting. */
#include <errno.h>

#include "queue_fixture.h"

#define DAY (24LL * 3600 * 1000)

/* Claims job id (the only due one) and ends it in state st at now. */
static void end_as(struct queue *q, int64_t id, enum job_state st, int64_t now)
{
	struct job j = claim_one(q, "w", now);

	assert_int_equal(j.id, id);
	assert_int_equal(q->ops->finish(q, id, j.fence, st, now + DAY, OUT_ERROR,
					st == JOB_SUCCEEDED ? NULL : "broken", now),
			 0);
}

static int prune(struct queue *q, int64_t before, int64_t after, bool dry, int64_t *ids,
		 size_t max)
{
	struct job js[QUEUE_PRUNE_MAX];
	int n, i;

	n = q->ops->prune(q, before, after, dry, js, max);
	for (i = 0; i < n; i++) {
		ids[i] = js[i].id;
		assert_non_null(js[i].inputs); /* names the spool files */
		job_clear(&js[i]);
	}
	return n;
}

static bool exists(struct queue *q, int64_t id)
{
	struct job j = {0};
	int r = q->ops->get(q, id, &j);

	job_clear(&j);
	assert_true(r == 0 || r == AOS_ENOTFOUND);
	return r == 0;
}

/* Succeeded, dead and canceled jobs go; failed (it runs again), queued and
 * running jobs stay; uploads, log lines and the state counts follow. */
static void test_prune_ended_only(void **state)
{
	struct fx *fx = *state;
	struct queue *q = fx->q;
	struct job_upload ups[2];
	struct job_log_entry log[4];
	int64_t ok, dead, canc, failed, queued, running, ids[8];
	int64_t counts[JOB_CANCELED + 1];
	struct job j;

	ok = enqueue(q, "ok", T0);
	end_as(q, ok, JOB_SUCCEEDED, T0);
	dead = enqueue(q, "dead", T0);
	end_as(q, dead, JOB_DEAD, T0);
	failed = enqueue(q, "failed", T0);
	end_as(q, failed, JOB_FAILED, T0);
	canc = enqueue(q, "canc", T0);
	assert_int_equal(q->ops->cancel(q, canc, "no", T0), 0);
	running = enqueue(q, "running", T0);
	j = claim_one(q, "w", T0);
	assert_int_equal(j.id, running);
	queued = enqueue(q, "queued", T0);

	assert_int_equal(prune(q, T0 + 1, 0, false, ids, 8), 3);
	assert_int_equal(ids[0], ok);
	assert_int_equal(ids[1], dead);
	assert_int_equal(ids[2], canc);
	assert_false(exists(q, ok));
	assert_false(exists(q, dead));
	assert_false(exists(q, canc));
	assert_true(exists(q, failed));
	assert_true(exists(q, running));
	assert_true(exists(q, queued));
	assert_int_equal(q->ops->uploads(q, ok, ups, 2), AOS_ENOTFOUND);
	assert_int_equal(q->ops->log_read(q, dead, 0, log, 4), AOS_ENOTFOUND);
	assert_int_equal(q->ops->uploads(q, failed, ups, 2), 2);
	assert_int_equal(q->ops->counts(q, counts), 0);
	assert_int_equal(counts[JOB_SUCCEEDED], 0);
	assert_int_equal(counts[JOB_DEAD], 0);
	assert_int_equal(counts[JOB_CANCELED], 0);
	assert_int_equal(counts[JOB_FAILED], 1);
	assert_int_equal(counts[JOB_QUEUED], 1);
	assert_int_equal(counts[JOB_RUNNING], 1);
	assert_int_equal(prune(q, T0 + 1, 0, false, ids, 8), 0);
}

/* The age is the job's last change (when it ended), not its creation. */
static void test_prune_by_age(void **state)
{
	struct queue *q = ((struct fx *)*state)->q;
	int64_t old, young, ids[4];

	old = enqueue(q, "old", T0);
	end_as(q, old, JOB_SUCCEEDED, T0);
	young = enqueue(q, "young", T0);
	end_as(q, young, JOB_SUCCEEDED, T0 + 3 * DAY);

	assert_int_equal(prune(q, T0, 0, false, ids, 4), 0); /* strictly before */
	assert_int_equal(prune(q, T0 + DAY, 0, false, ids, 4), 1);
	assert_int_equal(ids[0], old);
	assert_true(exists(q, young));
}

/* Batches of max jobs, the cursor going on from the last id; each batch is
 * committed on its own (what a batch took is gone before the next). */
static void test_prune_batches(void **state)
{
	struct queue *q = ((struct fx *)*state)->q;
	int64_t id[7], ids[3], after = 0;
	char key[16];
	int i, n, total = 0, batches = 0;

	for (i = 0; i < 7; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		id[i] = enqueue(q, key, T0);
		end_as(q, id[i], JOB_SUCCEEDED, T0);
	}
	do {
		n = prune(q, T0 + 1, after, false, ids, 3);
		assert_true(n >= 0 && n <= 3);
		if (n > 0) {
			assert_true(ids[0] > after);
			after = ids[n - 1];
			assert_false(exists(q, after));
		}
		if (batches == 0)
			assert_true(exists(q, id[3]));
		total += n;
		batches++;
	} while (n == 3);
	assert_int_equal(total, 7);
	assert_int_equal(batches, 3);
}

/* A dry run pages through the same jobs and deletes nothing. */
static void test_prune_dry_run(void **state)
{
	struct queue *q = ((struct fx *)*state)->q;
	int64_t a, b, c, ids[2];

	a = enqueue(q, "a", T0);
	end_as(q, a, JOB_SUCCEEDED, T0);
	b = enqueue(q, "b", T0);
	end_as(q, b, JOB_DEAD, T0);
	c = enqueue(q, "c", T0);
	assert_int_equal(q->ops->cancel(q, c, NULL, T0), 0);

	assert_int_equal(prune(q, T0 + 1, 0, true, ids, 2), 2);
	assert_int_equal(ids[0], a);
	assert_int_equal(ids[1], b);
	assert_int_equal(prune(q, T0 + 1, b, true, ids, 2), 1);
	assert_int_equal(ids[0], c);
	assert_true(exists(q, a) && exists(q, b) && exists(q, c));
}

/* A pruned job's idempotency key makes a new job. */
static void test_prune_key_reused(void **state)
{
	struct queue *q = ((struct fx *)*state)->q;
	int64_t a, again, ids[1];

	a = enqueue(q, "same", T0);
	end_as(q, a, JOB_SUCCEEDED, T0);
	assert_int_equal(prune(q, T0 + 1, 0, false, ids, 1), 1);
	again = enqueue(q, "same", T0 + 2);
	assert_true(again > a);
	assert_int_equal(state_of(q, again), JOB_QUEUED);
}

static void test_prune_bounds(void **state)
{
	struct queue *q = ((struct fx *)*state)->q;
	struct job js[1];

	assert_int_equal(q->ops->prune(q, T0, 0, false, js, 0), -EINVAL);
	assert_int_equal(q->ops->prune(q, T0, 0, false, js, QUEUE_PRUNE_MAX + 1),
			 -EINVAL);
	assert_int_equal(q->ops->prune(q, T0, -1, true, js, 1), -EINVAL);
	assert_int_equal(q->ops->prune(q, T0, 0, true, NULL, 1), -EINVAL);
}

#define QTEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    QTEST(test_prune_ended_only), QTEST(test_prune_by_age),
	    QTEST(test_prune_batches),	  QTEST(test_prune_dry_run),
	    QTEST(test_prune_key_reused), QTEST(test_prune_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
