/* Unit tests for agent/daemon/writer.c, by the order of events: while a
 * commit is held on the pool (a fake queue whose enqueue_many waits to be
 * released), the loop runs; done() comes after the commit, on the loop;
 * batches are committed one at a time in the order submitted; a failed
 * open fails that batch and the next one opens again; the writer is freed
 * only when idle and the loop closes cleanly. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "daemon/writer.h"
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
	 * fail instead after HOLD_MAX_S. */
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

static void run_and_close(uv_loop_t *loop)
{
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
	uv_timer_init(&loop, &wt.t);
	wt.t.data = &wt;
	uv_timer_start(&wt.t, watch_cb, 1, 1);
	uv_run(&loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&wt.t, NULL);
	run_and_close(&loop);

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

static void test_open_failure_then_retry(void **state)
{
	uv_loop_t loop;
	struct writer *w;
	struct batch b1, b2;

	(void)state;
	fake.fail_opens = 2; /* writer_new's own open, then b1's */
	fake.released = 10;  /* nothing held */
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(writer_new(&loop, fake_open, "db", &w), 0);
	batch_init(&b1, 1, "b1 done");
	assert_int_equal(writer_submit(w, &b1.wb), 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(b1.wb.result, -EIO); /* nothing committed */
	assert_int_equal(entered(), 0);
	batch_init(&b2, 1, "b2 done");
	assert_int_equal(writer_submit(w, &b2.wb), 0);
	run_and_close(&loop);
	assert_int_equal(b2.wb.result, 0);
	assert_int_equal(b2.ids[0], 1);
	assert_int_equal(fake.opens, 3);
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
	assert_int_equal(writer_commit_one(w, &jn, 1000, one_done, "first"), 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(one_result, -EIO);
	assert_int_equal(writer_commit_one(w, &jn, 1000, one_done, "second"), 0);
	run_and_close(&loop);
	assert_int_equal(one_result, 0);
	assert_int_equal(one_id, 1);
	assert_int_equal(fake.sizes[0], 1);
	assert_int_equal(nevents, 2);
	assert_string_equal(events[0], "first");
	assert_string_equal(events[1], "second");
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
	run_and_close(&loop);
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
	    cmocka_unit_test_setup(test_empty_batch_refused, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
