/* Unit tests for agent/daemon/writer.c, by the order of events: while a
 * commit is held on the writer's thread (a fake queue whose enqueue_many
 * waits to be released), the loop runs; done() comes after the commit, on
 * the loop; batches are committed one at a time in the order submitted;
 * a commit completes while libuv's thread pool is full of work that waits
 * for it; a failed open fails the batches of its backoff at once and the
 * next one after it opens again; the writer is freed only when idle and
 * the loop closes cleanly. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "daemon/writer.h"
#include "daemon/writer_internal.h"
#include "queue/queue.h"

#define EVENTS_MAX 32
#define HOLD_MAX_S 30

/* A queue whose enqueue_many waits on a pool thread until released. */
static struct fake {
	struct queue base;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int entered;  /* enqueue_many calls begun */
	int released; /* calls allowed to return */
	size_t sizes[8];
	int64_t next_id;
	int opens, fail_opens, closes;
} fake = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* What happened on the loop thread, in order. */
static const char *events[EVENTS_MAX];
static int nevents;

static void event(const char *what)
{
	assert_true(nevents < EVENTS_MAX);
	events[nevents++] = what;
}

static int fake_enqueue_many(struct queue *q, const struct job_new *js, size_t n,
			     int64_t now_ms, int64_t *ret_ids, int *ret_rcs)
{
	struct timespec until;
	size_t i;
	int call;

	(void)q;
	(void)js;
	(void)now_ms;
	pthread_mutex_lock(&fake.mu);
	call = fake.entered++;
	fake.sizes[call] = n;
	pthread_cond_broadcast(&fake.cv);
	/* Held on the loop thread (no writer thread), it would wait forever:
	 * fail instead after HOLD_MAX_S (the loop never ran meanwhile, which
	 * the tests' order of events shows). */
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += HOLD_MAX_S;
	while (fake.released <= call)
		if (pthread_cond_timedwait(&fake.cv, &fake.mu, &until) == ETIMEDOUT) {
			pthread_mutex_unlock(&fake.mu);
			return -ETIMEDOUT;
		}
	for (i = 0; i < n; i++) {
		ret_ids[i] = ++fake.next_id;
		ret_rcs[i] = 0;
	}
	pthread_mutex_unlock(&fake.mu);
	return 0;
}

static void fake_close(struct queue *q)
{
	(void)q;
	fake.closes++;
}

static const struct queue_ops fake_ops = {.enqueue_many = fake_enqueue_many,
					  .close = fake_close};

static int fake_open(const char *target, struct queue **ret, char *errbuf, size_t errlen)
{
	fake.opens++;
	if (fake.fail_opens > 0) {
		fake.fail_opens--;
		snprintf(errbuf, errlen, "%s: cannot open it (test)", target);
		return -EIO;
	}
	fake.base.ops = &fake_ops;
	*ret = &fake.base;
	return 0;
}

static int entered(void)
{
	int n;

	pthread_mutex_lock(&fake.mu);
	n = fake.entered;
	pthread_mutex_unlock(&fake.mu);
	return n;
}

static void release_one(void)
{
	pthread_mutex_lock(&fake.mu);
	fake.released++;
	pthread_cond_broadcast(&fake.cv);
	pthread_mutex_unlock(&fake.mu);
}

static int setup(void **state)
{
	(void)state;
	memset(&fake.base, 0, sizeof(fake.base));
	fake.entered = fake.released = 0;
	fake.next_id = 0;
	fake.opens = fake.fail_opens = fake.closes = 0;
	nevents = 0;
	return 0;
}

struct batch {
	struct writer_batch wb;
	struct job_new jobs[3];
	int64_t ids[3];
	int rcs[3];
	const char *name;
};

static void done(struct writer_batch *wb)
{
	struct batch *b = wb->data;

	event(b->name);
}

static void batch_init(struct batch *b, size_t n, const char *name)
{
	memset(b, 0, sizeof(*b));
	b->name = name;
	b->wb = (struct writer_batch){.jobs = b->jobs,
				      .n = n,
				      .now_ms = 1000,
				      .ret_ids = b->ids,
				      .ret_rcs = b->rcs,
				      .done = done,
				      .data = b};
}

/* A timer on the loop: notes that the loop ran while commit number
 * `held` was held on the pool, then releases it. */
struct watch {
	uv_timer_t t;
	int held;
	int polls;
};

static void watch_cb(uv_timer_t *t)
{
	struct watch *w = t->data;

	w->polls++;
	if (entered() <= w->held)
		return; /* not on the pool yet */
	event("loop ran while held");
	release_one();
	if (++w->held == 2)
		uv_timer_stop(t);
}

/* Runs what is left, closes the writer's handle, and asserts the loop
 * closes with nothing left open. */
static void run_and_close(uv_loop_t *loop, struct writer *w)
{
	assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(writer_close(w), 0);
	assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(loop), 0);
}

static void test_commit_off_the_loop(void **state)
{
	uv_loop_t loop;
	struct writer *w;
	struct batch b1, b2;
	struct watch wt = {0};

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(writer_new(&loop, fake_open, "db", &w), 0);
	batch_init(&b1, 2, "b1 done");
	batch_init(&b2, 3, "b2 done");
	assert_int_equal(writer_submit(w, &b1.wb), 0);
	assert_int_equal(writer_submit(w, &b2.wb), 0); /* waits behind b1 */
	assert_true(writer_busy(w));
	assert_int_equal(writer_free(w), -EBUSY); /* batches queued: not freed */
	assert_int_equal(writer_close(w), -EBUSY);
	uv_timer_init(&loop, &wt.t);
	wt.t.data = &wt;
	uv_timer_start(&wt.t, watch_cb, 1, 1);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&wt.t, NULL);
	run_and_close(&loop, w);

	/* Each commit was held while the loop ran, and answered after. */
	assert_int_equal(nevents, 4);
	assert_string_equal(events[0], "loop ran while held");
	assert_string_equal(events[1], "b1 done");
	assert_string_equal(events[2], "loop ran while held");
	assert_string_equal(events[3], "b2 done");
	assert_int_equal(fake.sizes[0], 2);
	assert_int_equal(fake.sizes[1], 3);
	assert_int_equal(b1.wb.result, 0);
	assert_int_equal(b1.ids[0], 1);
	assert_int_equal(b1.ids[1], 2);
	assert_int_equal(b2.ids[2], 5);
	assert_int_equal(fake.opens, 1);
	assert_false(writer_busy(w));
	assert_int_equal(writer_free(w), 0);
	assert_int_equal(fake.closes, 1);
}

/* A failed open fails the batches of its backoff at once, without
 * opening again; after it the next batch
 * opens again. */
static void test_open_failure_then_retry(void **state)
{
	uv_loop_t loop;
	struct writer *w;
	struct batch b1, b2;

	(void)state;
	fake.fail_opens = 1; /* the thread's own open at start */
	fake.released = 10;  /* nothing held */
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(writer_new(&loop, fake_open, "db", &w), 0);
	writer__set_backoff(w, 3600 * 1000);
	batch_init(&b1, 1, "b1 done");
	assert_int_equal(writer_submit(w, &b1.wb), 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(b1.wb.result, -EIO); /* nothing committed */
	assert_int_equal(entered(), 0);
	assert_int_equal(fake.opens, 1); /* backing off: not opened again */
	writer__set_backoff(w, 0);
	batch_init(&b2, 1, "b2 done");
	assert_int_equal(writer_submit(w, &b2.wb), 0);
	run_and_close(&loop, w);
	assert_int_equal(b2.wb.result, 0);
	assert_int_equal(b2.ids[0], 1);
	assert_int_equal(fake.opens, 2);
	assert_int_equal(nevents, 2);
	assert_int_equal(writer_free(w), 0);
	assert_int_equal(fake.closes, 1);
}

static int one_result = 1;
static int64_t one_id;

static void one_done(void *op, int result, int64_t id)
{
	event(op);
	one_result = result;
	one_id = id;
}

/* writer_commit_one: a batch of one, enqueue()'s result and id in done;
 * a failed open is the result. */
static void test_commit_one(void **state)
{
	uv_loop_t loop;
	struct writer *w;
	struct job_new jn = {0};

	(void)state;
	fake.released = 10; /* nothing held */
	fake.fail_opens = 2;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(writer_new(&loop, fake_open, "db", &w), 0);
	writer__set_backoff(w, 0); /* each batch opens again */
	assert_int_equal(writer_commit_one(w, &jn, 1000, one_done, "first"), 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(one_result, -EIO);
	assert_int_equal(writer_commit_one(w, &jn, 1000, one_done, "second"), 0);
	run_and_close(&loop, w);
	assert_int_equal(one_result, 0);
	assert_int_equal(one_id, 1);
	assert_int_equal(fake.sizes[0], 1);
	assert_int_equal(nevents, 2);
	assert_string_equal(events[0], "first");
	assert_string_equal(events[1], "second");
	assert_int_equal(writer_free(w), 0);
}

/* libuv's shared pool, filled with work that waits for the commit (as 4
 * large publishes' spool copies and inspections would): the commit must
 * not queue behind them.  Had it been queued on that pool, the blockers
 * would give up after HOLD_MAX_S and end first. */
#define POOL_SIZE 4

static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool committed;
	int timed_out;
} pool = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static void blocker_work(uv_work_t *req)
{
	struct timespec until;

	(void)req;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += HOLD_MAX_S;
	pthread_mutex_lock(&pool.mu);
	while (!pool.committed)
		if (pthread_cond_timedwait(&pool.cv, &pool.mu, &until) == ETIMEDOUT) {
			pool.timed_out++;
			break;
		}
	pthread_mutex_unlock(&pool.mu);
}

static void blocker_done(uv_work_t *req, int status)
{
	(void)req;
	assert_int_equal(status, 0);
	event("blocker done");
}

static void pool_commit_done(struct writer_batch *wb)
{
	done(wb);
	pthread_mutex_lock(&pool.mu);
	pool.committed = true;
	pthread_cond_broadcast(&pool.cv);
	pthread_mutex_unlock(&pool.mu);
}

static void test_commit_beside_a_full_pool(void **state)
{
	uv_loop_t loop;
	uv_work_t blockers[POOL_SIZE];
	struct writer *w;
	struct batch b;
	int i;

	(void)state;
	fake.released = 10; /* nothing held in enqueue_many */
	assert_int_equal(uv_loop_init(&loop), 0);
	for (i = 0; i < POOL_SIZE; i++)
		assert_int_equal(
		    uv_queue_work(&loop, &blockers[i], blocker_work, blocker_done), 0);
	assert_int_equal(writer_new(&loop, fake_open, "db", &w), 0);
	batch_init(&b, 1, "commit done");
	b.wb.done = pool_commit_done;
	assert_int_equal(writer_submit(w, &b.wb), 0);
	run_and_close(&loop, w);
	assert_int_equal(pool.timed_out, 0);
	assert_int_equal(nevents, 1 + POOL_SIZE);
	assert_string_equal(events[0], "commit done");
	for (i = 1; i <= POOL_SIZE; i++)
		assert_string_equal(events[i], "blocker done");
	assert_int_equal(b.wb.result, 0);
	assert_int_equal(writer_free(w), 0);
}

static void test_empty_batch_refused(void **state)
{
	uv_loop_t loop;
	struct writer *w;
	struct batch b;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(writer_new(&loop, fake_open, "db", &w), 0);
	batch_init(&b, 0, "never");
	assert_int_equal(writer_submit(w, &b.wb), -EINVAL);
	run_and_close(&loop, w);
	assert_int_equal(nevents, 0);
	assert_int_equal(writer_free(w), 0);
	assert_int_equal(writer_free(NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_commit_off_the_loop, setup),
	    cmocka_unit_test_setup(test_open_failure_then_retry, setup),
	    cmocka_unit_test_setup(test_commit_one, setup),
	    cmocka_unit_test_setup(test_commit_beside_a_full_pool, setup),
	    cmocka_unit_test_setup(test_empty_batch_refused, setup),
	};

	/* The pool the blockers fill: libuv's default size, whatever the
	 * environment says (read when the pool first starts). */
	setenv("UV_THREADPOOL_SIZE", "4", 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
