/* Unit tests for agent/queue/queue_async.c: the queue on a database thread.
 *
 * On the backend of the fixture (SQLite, or PostgreSQL with AOS_TEST_PG):
 * every operation posted at once, with arguments overwritten as soon as
 * each post returns, completes in the order posted and answers exactly
 * what the same direct call answers on a twin database given the same
 * history.  With a fake queue whose calls wait on a condition the test
 * releases: the loop runs while a call is held; a full FIFO answers
 * -EBUSY at once; the shutdown finishes the call in flight, completes what
 * waits with -ECANCELED, closes the queue once and frees everything (the
 * ASan build checks the leaks); arguments out of bounds are refused. */
#include <errno.h>
#include <pthread.h>
#include <time.h>

#include <uv.h>

#include "queue_fixture.h"
#include "queue/queue_async.h"
#include "queue/queue_async_internal.h"

#define HOLD_MAX_S 30
#define EVENTS_MAX 64

/* What completed on the loop, in order. */
static int events[EVENTS_MAX];
static int nevents;

static void event(int what)
{
	assert_true(nevents < EVENTS_MAX);
	events[nevents++] = what;
}

/* ---- the same history on a twin database, direct and posted ------------- */

#define NOW (T0 + 1000)

/* The operations in order; each posted (async) and called (sync) alike. */
enum step {
	S_ENQ_A,
	S_ENQ_B,
	S_ENQ_MANY,
	S_ENQ_DUP,
	S_CLAIM,
	S_HEARTBEAT,
	S_HEARTBEAT_STALE,
	S_HEARTBEAT_LATE,
	S_UPLOAD_SET,
	S_UPLOAD_UNKNOWN,
	S_FINISH_OK,
	S_SET_ARTIFACTS,
	S_FINISH_FAILED,
	S_CANCEL,
	S_RETRY,
	S_LOG,
	S_LOG_READ,
	S_UPLOADS,
	S_UPLOADS_SET,
	S_GET,
	S_GET_MISSING,
	S_LIST,
	S_COUNTS,
	S_STATS,
	S_RELEASE,
	S_PRUNE_DRY,
	S_PRUNE,
	S_DRAIN_SET,
	S_DRAINS,
	S_COUNT
};

/* A job of kind in a scratch struct the caller overwrites after use. */
struct scratch {
	char key[64], package[64], inputs[128], text[128];
	struct job_upload ups[2];
	struct job_new jn[2];
};

static void scratch_fill(struct scratch *s, const char *key, enum job_kind kind)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->key, sizeof(s->key), "%s", key);
	snprintf(s->package, sizeof(s->package), "pkg-%s", key);
	snprintf(s->inputs, sizeof(s->inputs), "{\"key\":\"%s\"}", key);
	snprintf(s->ups[0].filename, sizeof(s->ups[0].filename), "%s.whl", key);
	snprintf(s->ups[0].sha256, sizeof(s->ups[0].sha256), SHA_A);
	snprintf(s->ups[1].filename, sizeof(s->ups[1].filename), "%s.tar.gz", key);
	snprintf(s->ups[1].sha256, sizeof(s->ups[1].sha256), SHA_B);
	snprintf(s->ups[0].registry, sizeof(s->ups[0].registry), "pypi");
	snprintf(s->ups[1].registry, sizeof(s->ups[1].registry), "pypi");
	s->jn[0] = (struct job_new){.kind = kind,
				    .idem_key = s->key,
				    .registry = "pypi",
				    .package = s->package,
				    .inputs = s->inputs,
				    .max_attempts = 3,
				    .uploads = s->ups,
				    .nuploads = kind == JOB_PUBLISH ? 2 : 0};
	s->jn[1] = s->jn[0];
	s->jn[1].idem_key = "second";
	s->jn[1].package = "pkg-second";
}

/* What a step leaves behind for the posted copy to be checked against: a
 * post must not read the caller's memory once it returned. */
static void scratch_spoil(struct scratch *s)
{
	memset(s, 'x', sizeof(*s));
}

static struct job_filter filter = {.limit = 10};

/* The direct call of step st on q, into res (arrays as queue_async's). */
static void sync_step(struct queue *q, enum step st, struct queue_async_result *res)
{
	const struct queue_ops *ops = q->ops;
	struct scratch s;

	memset(res, 0, sizeof(*res));
	res->jobs = calloc(10, sizeof(*res->jobs));
	res->lines = calloc(50, sizeof(*res->lines));
	res->ids = calloc(2, sizeof(*res->ids));
	res->rcs = calloc(2, sizeof(*res->rcs));
	res->drains = calloc(4, sizeof(*res->drains));
	assert_true(res->jobs && res->lines && res->ids && res->rcs && res->drains);
	switch (st) {
	case S_ENQ_A:
	case S_ENQ_DUP:
		scratch_fill(&s, "a", JOB_PUBLISH);
		res->rc = ops->enqueue(q, &s.jn[0], NOW, &res->id);
		break;
	case S_ENQ_B:
		scratch_fill(&s, "b", JOB_PUBLISH);
		res->rc = ops->enqueue(q, &s.jn[0], NOW, &res->id);
		break;
	case S_ENQ_MANY:
		scratch_fill(&s, "pipe", JOB_PIPELINE);
		res->rc = ops->enqueue_many(q, s.jn, 2, NOW, res->ids, res->rcs);
		break;
	case S_CLAIM:
		res->rc = ops->claim(q, "host-1", NOW, LEASE, 0, res->jobs, 10);
		break;
	case S_HEARTBEAT: res->rc = ops->heartbeat(q, 2, 1, NOW + 10, LEASE); break;
	case S_HEARTBEAT_STALE: res->rc = ops->heartbeat(q, 2, 7, NOW + 10, LEASE); break;
	case S_HEARTBEAT_LATE:
		res->rc = ops->heartbeat(q, 3, 1, NOW + 3 * LEASE, LEASE);
		break;
	case S_UPLOAD_SET:
		res->rc = ops->upload_set(q, 2, 1, "b.whl", UPLOAD_DONE, OUT_PUBLISHED,
					  "stored", NOW + 20);
		break;
	case S_UPLOAD_UNKNOWN:
		res->rc = ops->upload_set(q, 2, 1, "nope.whl", UPLOAD_DONE, OUT_PUBLISHED,
					  NULL, NOW + 20);
		break;
	case S_FINISH_OK:
		res->rc =
		    ops->finish(q, 2, 1, JOB_SUCCEEDED, 0, OUT_NONE, NULL, NOW + 30);
		break;
	case S_SET_ARTIFACTS:
		scratch_fill(&s, "built", JOB_PIPELINE);
		res->rc = ops->set_artifacts(q, 3, 1, s.inputs, s.ups, 2, NOW + 40);
		break;
	case S_FINISH_FAILED:
		res->rc = ops->finish(q, 1, 1, JOB_FAILED, NOW + 5000, OUT_UNAVAILABLE,
				      "registry down", NOW + 50);
		break;
	case S_CANCEL: res->rc = ops->cancel(q, 4, "by test", NOW + 60); break;
	case S_RETRY: res->rc = ops->retry(q, 4, NOW + 70); break;
	case S_LOG: res->rc = ops->log(q, 3, "a note", NOW + 80); break;
	case S_LOG_READ: res->rc = ops->log_read(q, 2, 0, res->lines, 50); break;
	case S_UPLOADS:
	case S_UPLOADS_SET:
		free(res->jobs); /* queue_uploads_all allocates its own */
		res->jobs = NULL;
		res->rc = queue_uploads_all(q, st == S_UPLOADS ? 3 : 2, &res->uploads);
		break;
	case S_GET: res->rc = ops->get(q, 1, res->jobs); break;
	case S_GET_MISSING: res->rc = ops->get(q, 999, res->jobs); break;
	case S_LIST: res->rc = ops->list(q, &filter, res->jobs, 10); break;
	case S_COUNTS: res->rc = ops->counts(q, res->counts); break;
	case S_STATS: res->rc = ops->stats(q, NOW + 9000, &res->stats); break;
	case S_RELEASE: res->rc = ops->release_owner(q, "host-", NOW + 90); break;
	case S_PRUNE_DRY:
		res->rc = ops->prune(q, NOW + 100000, 0, true, res->jobs, 10);
		break;
	case S_PRUNE:
		res->rc = ops->prune(q, NOW + 100000, 0, false, res->jobs, 10);
		break;
	case S_DRAIN_SET: res->rc = ops->drain_set(q, "host-1", true, NOW + 110); break;
	case S_DRAINS: res->rc = ops->drains(q, res->drains, 4); break;
	case S_COUNT: fail();
	}
	if (st == S_GET || st == S_GET_MISSING)
		res->n = res->rc == 0 ? 1 : 0;
	else if (st == S_ENQ_MANY)
		res->n = res->rc == 0 ? 2 : 0;
	else if (st == S_LOG_READ || st == S_UPLOADS || st == S_UPLOADS_SET ||
		 st == S_CLAIM || st == S_LIST || st == S_PRUNE_DRY || st == S_PRUNE ||
		 st == S_DRAINS)
		res->n = res->rc > 0 ? (size_t)res->rc : 0;
}

/* The posted twin of sync_step(). */
static int async_step(struct queue_async *qa, enum step st, queue_async_cb cb, void *d)
{
	struct scratch s;
	int r = -1;

	switch (st) {
	case S_ENQ_A:
	case S_ENQ_DUP:
		scratch_fill(&s, "a", JOB_PUBLISH);
		r = queue_async_enqueue(qa, &s.jn[0], NOW, cb, d);
		break;
	case S_ENQ_B:
		scratch_fill(&s, "b", JOB_PUBLISH);
		r = queue_async_enqueue(qa, &s.jn[0], NOW, cb, d);
		break;
	case S_ENQ_MANY:
		scratch_fill(&s, "pipe", JOB_PIPELINE);
		r = queue_async_enqueue_many(qa, s.jn, 2, NOW, cb, d);
		break;
	case S_CLAIM:
		snprintf(s.text, sizeof(s.text), "host-1");
		r = queue_async_claim(qa, s.text, NOW, LEASE, 0, 10, cb, d);
		break;
	case S_HEARTBEAT:
		r = queue_async_heartbeat(qa, 2, 1, NOW + 10, LEASE, cb, d);
		break;
	case S_HEARTBEAT_STALE:
		r = queue_async_heartbeat(qa, 2, 7, NOW + 10, LEASE, cb, d);
		break;
	case S_HEARTBEAT_LATE:
		r = queue_async_heartbeat(qa, 3, 1, NOW + 3 * LEASE, LEASE, cb, d);
		break;
	case S_UPLOAD_SET:
		snprintf(s.key, sizeof(s.key), "b.whl");
		snprintf(s.text, sizeof(s.text), "stored");
		r = queue_async_upload_set(qa, 2, 1, s.key, UPLOAD_DONE, OUT_PUBLISHED,
					   s.text, NOW + 20, cb, d);
		break;
	case S_UPLOAD_UNKNOWN:
		r = queue_async_upload_set(qa, 2, 1, "nope.whl", UPLOAD_DONE,
					   OUT_PUBLISHED, NULL, NOW + 20, cb, d);
		break;
	case S_FINISH_OK:
		r = queue_async_finish(qa, 2, 1, JOB_SUCCEEDED, 0, OUT_NONE, NULL,
				       NOW + 30, cb, d);
		break;
	case S_SET_ARTIFACTS:
		scratch_fill(&s, "built", JOB_PIPELINE);
		r = queue_async_set_artifacts(qa, 3, 1, s.inputs, s.ups, 2, NOW + 40, cb,
					      d);
		break;
	case S_FINISH_FAILED:
		snprintf(s.text, sizeof(s.text), "registry down");
		r = queue_async_finish(qa, 1, 1, JOB_FAILED, NOW + 5000, OUT_UNAVAILABLE,
				       s.text, NOW + 50, cb, d);
		break;
	case S_CANCEL:
		snprintf(s.text, sizeof(s.text), "by test");
		r = queue_async_cancel(qa, 4, s.text, NOW + 60, cb, d);
		break;
	case S_RETRY: r = queue_async_retry(qa, 4, NOW + 70, cb, d); break;
	case S_LOG:
		snprintf(s.text, sizeof(s.text), "a note");
		r = queue_async_log(qa, 3, s.text, NOW + 80, cb, d);
		break;
	case S_LOG_READ: r = queue_async_log_read(qa, 2, 0, 50, cb, d); break;
	case S_UPLOADS: r = queue_async_uploads(qa, 3, cb, d); break;
	case S_UPLOADS_SET: r = queue_async_uploads(qa, 2, cb, d); break;
	case S_GET: r = queue_async_get(qa, 1, cb, d); break;
	case S_GET_MISSING: r = queue_async_get(qa, 999, cb, d); break;
	case S_LIST: r = queue_async_list(qa, &filter, 10, cb, d); break;
	case S_COUNTS: r = queue_async_counts(qa, cb, d); break;
	case S_STATS: r = queue_async_stats(qa, NOW + 9000, cb, d); break;
	case S_RELEASE:
		snprintf(s.text, sizeof(s.text), "host-");
		r = queue_async_release_owner(qa, s.text, NOW + 90, cb, d);
		break;
	case S_PRUNE_DRY:
		r = queue_async_prune(qa, NOW + 100000, 0, true, 10, cb, d);
		break;
	case S_PRUNE: r = queue_async_prune(qa, NOW + 100000, 0, false, 10, cb, d); break;
	case S_DRAIN_SET:
		snprintf(s.text, sizeof(s.text), "host-1");
		r = queue_async_drain_set(qa, s.text, true, NOW + 110, cb, d);
		break;
	case S_DRAINS: r = queue_async_drains(qa, 4, cb, d); break;
	case S_COUNT: fail();
	}
	scratch_spoil(&s);
	return r;
}

static void assert_str_or_null(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		assert_ptr_equal(a, b);
	else
		assert_string_equal(a, b);
}

static void assert_job_same(const struct job *a, const struct job *b)
{
	assert_int_equal(a->id, b->id);
	assert_int_equal(a->kind, b->kind);
	assert_int_equal(a->state, b->state);
	assert_string_equal(a->idem_key, b->idem_key);
	assert_string_equal(a->registry, b->registry);
	assert_string_equal(a->package, b->package);
	assert_str_or_null(a->inputs, b->inputs);
	assert_int_equal(a->attempts, b->attempts);
	assert_int_equal(a->max_attempts, b->max_attempts);
	assert_int_equal(a->next_run_ms, b->next_run_ms);
	assert_int_equal(a->created_ms, b->created_ms);
	assert_int_equal(a->updated_ms, b->updated_ms);
	assert_string_equal(a->lease_owner, b->lease_owner);
	assert_int_equal(a->lease_expires_ms, b->lease_expires_ms);
	assert_int_equal(a->fence, b->fence);
	assert_int_equal(a->outcome, b->outcome);
	assert_string_equal(a->last_error, b->last_error);
	assert_string_equal(a->wait_reason, b->wait_reason);
}

static void assert_upload_same(const struct job_upload *a, const struct job_upload *b)
{
	assert_int_equal(a->job_id, b->job_id);
	assert_string_equal(a->filename, b->filename);
	assert_string_equal(a->registry, b->registry);
	assert_string_equal(a->sha256, b->sha256);
	assert_int_equal(a->state, b->state);
	assert_int_equal(a->outcome, b->outcome);
	assert_string_equal(a->answer, b->answer);
	assert_int_equal(a->updated_ms, b->updated_ms);
}

/* The posted step's result equals the direct one's, field by field. */
static void assert_same(enum step st, const struct queue_async_result *a,
			const struct queue_async_result *s)
{
	size_t i;

	if (a->rc != s->rc || a->n != s->n)
		fail_msg("step %d: rc %d n %zu, directly rc %d n %zu", st, a->rc, a->n,
			 s->rc, s->n);
	for (i = 0; i < a->n; i++) {
		if (st == S_LOG_READ) {
			assert_int_equal(a->lines[i].id, s->lines[i].id);
			assert_int_equal(a->lines[i].job_id, s->lines[i].job_id);
			assert_int_equal(a->lines[i].at_ms, s->lines[i].at_ms);
			assert_string_equal(a->lines[i].text, s->lines[i].text);
		} else if (st == S_UPLOADS || st == S_UPLOADS_SET) {
			assert_upload_same(&a->uploads[i], &s->uploads[i]);
		} else if (st == S_DRAINS) {
			assert_string_equal(a->drains[i].host, s->drains[i].host);
			assert_int_equal(a->drains[i].since_ms, s->drains[i].since_ms);
		} else if (st == S_ENQ_MANY) {
			assert_int_equal(a->ids[i], s->ids[i]);
			assert_int_equal(a->rcs[i], s->rcs[i]);
		} else {
			assert_job_same(&a->jobs[i], &s->jobs[i]);
		}
	}
	assert_int_equal(a->id, s->id);
	assert_memory_equal(a->counts, s->counts, sizeof(a->counts));
	assert_memory_equal(&a->stats, &s->stats, sizeof(a->stats));
}

/* Each posted step's result, kept by its completion. */
static struct queue_async_result kept[S_COUNT];

static void keep(struct queue_async_result *res, void *data)
{
	int st = (int)(intptr_t)data;

	event(st);
	kept[st] = *res;
	/* Take the arrays: they are compared after the loop ran. */
	res->jobs = NULL;
	res->lines = NULL;
	res->uploads = NULL;
	res->ids = NULL;
	res->rcs = NULL;
	res->drains = NULL;
}

/* A second empty database beside the fixture's. */
static struct queue *twin_open(struct fx *fx, struct fx *twin)
{
	*twin = *fx;
	if (fx_pg() != NULL) {
		snprintf(twin->schema, sizeof(twin->schema), "%s_twin", fx->schema);
		snprintf(twin->path, sizeof(twin->path),
			 "%s options='-csearch_path=%s -cclient_min_messages=warning'",
			 fx_pg(), twin->schema);
		fx_pg_wipe(twin, true);
	} else {
		snprintf(twin->path, sizeof(twin->path), "%s/twin.db", fx->dir);
	}
	return open_ok(twin->path);
}

static void test_same_as_direct_calls_in_order(void **state)
{
	struct fx *fx = *state, twin;
	struct queue_async_result direct;
	struct queue_async *qa;
	uv_loop_t loop;
	int st;

	nevents = 0;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(queue_async_new(&loop, twin_open(fx, &twin), 0, &qa), 0);
	for (st = 0; st < S_COUNT; st++)
		if (async_step(qa, st, keep, (void *)(intptr_t)st) != 0)
			fail_msg("post of step %d refused", st);
	assert_int_equal(queue_async_pending(qa), S_COUNT);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(queue_async_pending(qa), 0);
	assert_int_equal(nevents, S_COUNT);
	for (st = 0; st < S_COUNT; st++)
		assert_int_equal(events[st], st);

	/* The history did what it meant to (not only the same twice). */
	assert_int_equal(kept[S_CLAIM].rc, 4);
	assert_int_equal(kept[S_ENQ_DUP].rc, AOS_EEXIST);
	assert_int_equal(kept[S_HEARTBEAT_STALE].rc, AOS_EFENCED);
	assert_int_equal(kept[S_UPLOAD_UNKNOWN].rc, AOS_ENOTFOUND);
	assert_int_equal(kept[S_GET_MISSING].rc, AOS_ENOTFOUND);
	assert_int_equal(kept[S_UPLOADS].rc, 2);
	assert_string_equal(kept[S_UPLOADS_SET].uploads[0].answer, "stored");
	assert_int_equal(kept[S_PRUNE].rc, 1); /* job 2 succeeded */
	assert_int_equal(kept[S_HEARTBEAT].rc, 0);
	assert_int_equal(kept[S_HEARTBEAT_LATE].rc, AOS_EFENCED);
	assert_int_equal(kept[S_GET].jobs[0].state, JOB_FAILED);
	assert_int_equal(kept[S_DRAIN_SET].rc, 1);
	assert_int_equal(kept[S_DRAINS].rc, 1);
	assert_string_equal(kept[S_DRAINS].drains[0].host, "host-1");
	assert_int_equal(kept[S_DRAINS].drains[0].since_ms, NOW + 110);

	for (st = 0; st < S_COUNT; st++) {
		sync_step(fx->q, st, &direct);
		assert_same(st, &kept[st], &direct);
		queue_async_result_clear(&direct);
		queue_async_result_clear(&kept[st]);
	}
	assert_int_equal(queue_async_close(qa, NULL, NULL), 0);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&loop), 0);
	if (fx_pg() != NULL)
		fx_pg_wipe(&twin, false);
	else
		fx_paths_remove(&twin);
}

/* ---- a fake queue whose calls wait to be released ------------------------ */

static struct fake {
	struct queue base;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int entered;  /* calls begun */
	int released; /* calls allowed to return */
	int closes;
	int others;	       /* calls of the other operations (never held) */
	int opens, fail_opens; /* fake_open's calls, and how many fail */
	int prunes;	       /* fake_prune's calls: each a lost connection */
	bool hold_open;	       /* fake_open waits to be released */
	pthread_t open_thread;
} fake = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* Waits (on the database thread) until this call is released: 0, or
 * -ETIMEDOUT.  Were it called on the loop thread, it would wait forever:
 * it gives up instead, and the order of events shows it. */
static int hold(void)
{
	struct timespec until;
	int call, r = 0;

	pthread_mutex_lock(&fake.mu);
	call = fake.entered++;
	pthread_cond_broadcast(&fake.cv);
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += HOLD_MAX_S;
	while (fake.released <= call && r == 0)
		if (pthread_cond_timedwait(&fake.cv, &fake.mu, &until) == ETIMEDOUT)
			r = -ETIMEDOUT;
	pthread_mutex_unlock(&fake.mu);
	return r;
}

/* Waits until released; then "reads" job id as its id. */
static int fake_get(struct queue *q, int64_t id, struct job *ret)
{
	int r = hold();

	(void)q;
	if (r < 0)
		return r;
	memset(ret, 0, sizeof(*ret));
	ret->id = id;
	return 0;
}

static void fake_close(struct queue *q)
{
	(void)q;
	fake.closes++;
}

/* The other operations a test posts: counted, answering -ENOSYS. */
static int fake_enqueue_many(struct queue *q, const struct job_new *js, size_t n,
			     int64_t now_ms, int64_t *ret_ids, int *ret_rcs)
{
	(void)q, (void)js, (void)n, (void)now_ms, (void)ret_ids, (void)ret_rcs;
	fake.others++;
	return -ENOSYS;
}

static int fake_claim(struct queue *q, const char *owner, int64_t now_ms,
		      int64_t lease_ms, int limit, struct job *ret, size_t max)
{
	(void)q, (void)owner, (void)now_ms, (void)lease_ms, (void)limit, (void)ret,
	    (void)max;
	fake.others++;
	return -ENOSYS;
}

static int fake_list(struct queue *q, const struct job_filter *f, struct job *ret,
		     size_t max)
{
	(void)q, (void)f, (void)ret, (void)max;
	fake.others++;
	return -ENOSYS;
}

static int fake_finish(struct queue *q, int64_t id, int64_t fence, enum job_state st,
		       int64_t next_run_ms, enum pub_outcome out, const char *error,
		       int64_t now_ms)
{
	(void)q, (void)id, (void)fence, (void)st, (void)next_run_ms, (void)out,
	    (void)error, (void)now_ms;
	fake.others++;
	return -ENOSYS;
}

static int fake_set_artifacts(struct queue *q, int64_t id, int64_t fence,
			      const char *inputs, const struct job_upload *ups, size_t n,
			      int64_t now_ms)
{
	(void)q, (void)id, (void)fence, (void)inputs, (void)ups, (void)n, (void)now_ms;
	fake.others++;
	return -ENOSYS;
}

/* A prune whose connection is lost under it (it may have deleted a
 * batch already): -ECONNRESET. */
static int fake_prune(struct queue *q, int64_t before_ms, int64_t after_id, bool dry_run,
		      struct job *ret, size_t max)
{
	(void)q, (void)before_ms, (void)after_id, (void)dry_run, (void)ret, (void)max;
	fake.prunes++;
	return -ECONNRESET;
}

static const struct queue_ops fake_ops = {.get = fake_get,
					  .prune = fake_prune,
					  .enqueue_many = fake_enqueue_many,
					  .claim = fake_claim,
					  .list = fake_list,
					  .finish = fake_finish,
					  .set_artifacts = fake_set_artifacts,
					  .close = fake_close};

/* queue_async_open_fn: the fake, or (fail_opens) -EIO. */
static int fake_open(const char *target, struct queue **ret, char *errbuf, size_t errlen)
{
	fake.open_thread = pthread_self();
	fake.opens++;
	if (fake.hold_open && hold() < 0)
		return -ETIMEDOUT;
	if (fake.fail_opens > 0) {
		fake.fail_opens--;
		snprintf(errbuf, errlen, "%s: cannot open it (test)", target);
		return -EIO;
	}
	*ret = &fake.base;
	return 0;
}

static int fake_setup(void **state)
{
	(void)state;
	fake.base.ops = &fake_ops;
	fake.entered = fake.released = fake.closes = fake.others = 0;
	fake.opens = fake.fail_opens = fake.prunes = 0;
	fake.hold_open = false;
	nevents = 0;
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

static void release(int n)
{
	pthread_mutex_lock(&fake.mu);
	fake.released += n;
	pthread_cond_broadcast(&fake.cv);
	pthread_mutex_unlock(&fake.mu);
}

/* Waits (off the loop) until n calls have begun on the thread. */
static void wait_entered(int n)
{
	pthread_mutex_lock(&fake.mu);
	while (fake.entered < n)
		pthread_cond_wait(&fake.cv, &fake.mu);
	pthread_mutex_unlock(&fake.mu);
}

enum { EV_LOOP_RAN = 1000, EV_CLOSED, EV_REPORT };

static struct queue_async *cur_qa; /* where a completion posts again */
static int repost_rc;

/* A get's completion: its rc, or the job id it read, as the event.  With
 * data, it posts a get of job (intptr_t)data (repost_rc: how that went). */
static void got(struct queue_async_result *res, void *data)
{
	event(res->rc < 0 ? res->rc : (int)res->jobs[0].id);
	if (data != NULL)
		repost_rc = queue_async_get(cur_qa, (intptr_t)data, got, NULL);
}

/* An idle handle: the loop ran while the get was held on the thread. */
static void idle_cb(uv_idle_t *h)
{
	if (entered() < 1)
		return; /* not on the thread yet */
	event(EV_LOOP_RAN);
	release(1);
	uv_idle_stop(h);
}

static void close_and_end(uv_loop_t *loop, struct queue_async *qa)
{
	assert_int_equal(queue_async_close(qa, NULL, NULL), 0);
	assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(loop), 0);
	assert_int_equal(fake.closes, 1);
}

/* Posts a get of job 41 (completion cb, data 0), runs the loop with an
 * idle handle (icb: it releases what is held once it sees the thread
 * entered), ends it, and asserts the loop ran before the get completed. */
static void get_41_while_held(uv_loop_t *loop, struct queue_async *qa, queue_async_cb cb,
			      uv_idle_cb icb)
{
	uv_idle_t idle;

	assert_int_equal(queue_async_get(qa, 41, cb, NULL), 0);
	uv_idle_init(loop, &idle);
	uv_idle_start(&idle, icb);
	assert_int_equal(uv_run(loop, UV_RUN_DEFAULT), 0);
	uv_close((uv_handle_t *)&idle, NULL);
	close_and_end(loop, qa);
	assert_int_equal(nevents, 2);
	assert_int_equal(events[0], EV_LOOP_RAN);
	assert_int_equal(events[1], 41);
}

static void test_slow_call_does_not_block_the_loop(void **state)
{
	struct queue_async *qa;
	uv_loop_t loop;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(queue_async_new(&loop, &fake.base, 0, &qa), 0);
	get_41_while_held(&loop, qa, got, idle_cb);
}

static void test_full_fifo_answers_busy(void **state)
{
	struct queue_async *qa;
	uv_loop_t loop;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(queue_async_new(&loop, &fake.base, 2, &qa), 0);
	cur_qa = qa;
	/* The first one's completion posts job 5: a completion frees its room
	 * before it runs, so the post is taken, after job 2. */
	assert_int_equal(queue_async_get(qa, 1, got, (void *)(intptr_t)5), 0);
	assert_int_equal(queue_async_get(qa, 2, got, NULL), 0);
	assert_int_equal(queue_async_get(qa, 3, got, NULL), -EBUSY);
	assert_int_equal(queue_async_counts(qa, got, NULL), -EBUSY);
	assert_int_equal(queue_async_pending(qa), 2);
	release(3);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(repost_rc, 0);
	assert_int_equal(nevents, 3); /* the refused ones never complete */
	assert_int_equal(events[0], 1);
	assert_int_equal(events[1], 2);
	assert_int_equal(events[2], 5);
	release(1);
	assert_int_equal(queue_async_get(qa, 4, got, NULL), 0); /* room again */
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(events[3], 4);
	close_and_end(&loop, qa);
}

static void closed_cb(void *data)
{
	(void)data;
	event(EV_CLOSED);
}

/* Any completion: its rc as the event. */
static void rc_of(struct queue_async_result *res, void *data)
{
	(void)data;
	event(res->rc);
}

static void test_shutdown_cancels_what_waits(void **state)
{
	struct queue_async *qa;
	struct scratch s;
	uv_loop_t loop;
	int i;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(queue_async_new(&loop, &fake.base, 0, &qa), 0);
	cur_qa = qa;
	repost_rc = 0;
	/* Its completion posts again: refused, the shutdown began. */
	assert_int_equal(queue_async_get(qa, 7, got, (void *)(intptr_t)9), 0);
	/* Waiting behind it, with copies and result arrays to free. */
	scratch_fill(&s, "a", JOB_PUBLISH);
	assert_int_equal(queue_async_enqueue_many(qa, s.jn, 2, NOW, rc_of, NULL), 0);
	assert_int_equal(queue_async_claim(qa, "host-1", NOW, LEASE, 0, 8, rc_of, NULL),
			 0);
	assert_int_equal(queue_async_list(qa, NULL, 5, rc_of, NULL), 0);
	assert_int_equal(queue_async_finish(qa, 1, 1, JOB_FAILED, NOW, OUT_ERROR, "e",
					    NOW, rc_of, NULL),
			 0);
	assert_int_equal(
	    queue_async_set_artifacts(qa, 1, 1, "{}", s.ups, 2, NOW, rc_of, NULL), 0);
	wait_entered(1); /* the get is in flight */
	assert_int_equal(queue_async_close(qa, closed_cb, NULL), 0);
	assert_int_equal(queue_async_close(qa, closed_cb, NULL), -EALREADY);
	assert_int_equal(queue_async_get(qa, 8, got, NULL), -ESHUTDOWN);
	release(1);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&loop), 0);
	assert_int_equal(nevents, 7);
	assert_int_equal(events[0], 7); /* finished, not canceled */
	for (i = 1; i <= 5; i++)
		assert_int_equal(events[i], -ECANCELED);
	assert_int_equal(events[6], EV_CLOSED);
	assert_int_equal(repost_rc, -ESHUTDOWN);
	assert_int_equal(entered(), 1); /* nothing else ran */
	assert_int_equal(fake.others, 0);
	assert_int_equal(fake.closes, 1);
}

/* ---- the open on the thread ------------------------------------------- */

static double seconds_seen[4];

/* A get's completion that also keeps how long it took on the thread. */
static void got_timed(struct queue_async_result *res, void *data)
{
	seconds_seen[(intptr_t)data] = res->seconds;
	got(res, NULL);
}

/* The loop ran while the open was held on the thread: releases it and
 * the get behind it. */
static void idle_release_both(uv_idle_t *h)
{
	if (entered() < 1)
		return;
	event(EV_LOOP_RAN);
	release(2);
	uv_idle_stop(h);
}

/* The open runs on the thread as it starts: the loop runs while it is
 * held, and the first request runs after it. */
static void test_open_on_the_thread(void **state)
{
	struct queue_async_open o = {.open = fake_open, .target = "db"};
	struct queue_async *qa;
	uv_loop_t loop;

	(void)state;
	fake.hold_open = true;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(queue_async_new_open(&loop, &o, 0, &qa), 0);
	get_41_while_held(&loop, qa, got_timed, idle_release_both);
	assert_int_equal(fake.opens, 1);
	assert_int_equal(entered(), 2); /* the open, then the get */
	assert_false(pthread_equal(fake.open_thread, pthread_self()));
	assert_true(seconds_seen[0] > 0); /* it ran, and said how long */
}

static struct {
	int n;
	int rc[4];
	char error[4][128];
	unsigned long refused[4];
} reports;

static void report(const struct queue_async_open_event *ev, void *data)
{
	(void)data;
	assert_true(reports.n < 4);
	reports.rc[reports.n] = ev->rc;
	snprintf(reports.error[reports.n], sizeof(reports.error[0]), "%s",
		 ev->error != NULL ? ev->error : "");
	reports.refused[reports.n++] = ev->refused;
	event(EV_REPORT);
}

/* A failed open fails the requests of its backoff at once, without
 * opening again, and is reported once, with their number; after the
 * backoff the next request opens again, which is reported too. */
static void test_open_failure_backs_off(void **state)
{
	struct queue_async_open o = {.open = fake_open, .target = "db", .report = report};
	struct queue_async *qa;
	uv_loop_t loop;

	(void)state;
	memset(&reports, 0, sizeof(reports));
	fake.fail_opens = 1; /* the thread's own open as it starts */
	fake.released = 10;  /* nothing held */
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(queue_async_new_open(&loop, &o, 0, &qa), 0);
	qa__set_backoff(qa, 3600 * 1000);
	assert_int_equal(queue_async_get(qa, 1, got_timed, (void *)(intptr_t)1), 0);
	assert_int_equal(queue_async_get(qa, 2, got, NULL), 0);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(fake.opens, 1); /* backing off: not opened again */
	assert_int_equal(entered(), 0);	 /* nothing ran */
	assert_int_equal(nevents, 3);
	assert_int_equal(events[0], EV_REPORT); /* before the completions */
	assert_int_equal(events[1], -EIO);
	assert_int_equal(events[2], -EIO);
	assert_true(seconds_seen[1] == 0);
	assert_int_equal(reports.rc[0], -EIO);
	assert_string_equal(reports.error[0], "db: cannot open it (test)");

	qa__set_backoff(qa, 0);
	assert_int_equal(queue_async_get(qa, 3, got, NULL), 0);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(fake.opens, 2);
	assert_int_equal(nevents, 5);
	assert_int_equal(events[3], EV_REPORT);
	assert_int_equal(events[4], 3);
	assert_int_equal(reports.n, 2);
	assert_int_equal(reports.rc[1], 0); /* opened again */
	/* Both requests were refused by the backoff, told with one report or
	 * the next (the start's report may be read before they are refused). */
	assert_int_equal(reports.refused[0] + reports.refused[1], 2);
	close_and_end(&loop, qa);
}

static void pruned(struct queue_async_result *res, void *data)
{
	(void)data;
	event(res->rc);
}

/* A prune whose connection was lost is not run again on the new one: it
 * deletes the ended jobs it reads, so a second run would delete the next
 * batch while its caller removes the first batch's spool files (found by
 * review: prune was among the requests run again). */
static void test_prune_not_rerun_after_loss(void **state)
{
	struct queue_async_open o = {.open = fake_open, .target = "db"};
	struct queue_async *qa;
	uv_loop_t loop;

	(void)state;
	fake.released = 10; /* nothing held */
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(queue_async_new_open(&loop, &o, 0, &qa), 0);
	assert_int_equal(queue_async_prune(qa, NOW, 0, false, 10, pruned, NULL), 0);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(fake.prunes, 1);
	assert_int_equal(nevents, 1);
	assert_int_equal(events[0], -ECONNRESET);
	close_and_end(&loop, qa);
}

static int walked, passed_over;

static void walk_close(uv_handle_t *h, void *arg)
{
	walked++;
	if (queue_async_owns(arg, h))
		passed_over++;
	else if (!uv_is_closing(h))
		uv_close(h, NULL);
}

/* A daemon's closer walks every handle: it knows queue_async's and leaves
 * it to queue_async_close(); the loop then closes cleanly. */
static void test_walk_passes_over(void **state)
{
	struct queue_async *qa;
	uv_loop_t loop;
	uv_idle_t idle;

	(void)state;
	walked = passed_over = 0;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(queue_async_new(&loop, &fake.base, 0, &qa), 0);
	uv_idle_init(&loop, &idle);
	assert_false(queue_async_owns(qa, (uv_handle_t *)&idle));
	assert_false(queue_async_owns(NULL, (uv_handle_t *)&idle));
	uv_walk(&loop, walk_close, qa);
	assert_int_equal(walked, 2);
	assert_int_equal(passed_over, 1);
	close_and_end(&loop, qa);
}

static void never(struct queue_async_result *res, void *data)
{
	(void)res;
	(void)data;
	fail_msg("a refused post completed");
}

static void observed(void *data, int64_t id)
{
	(void)data;
	(void)id;
	fail_msg("an observer was called");
}

static void test_bounds_refused(void **state)
{
	struct queue_async *qa;
	struct scratch s;
	uv_loop_t loop;

	(void)state;
	scratch_fill(&s, "a", JOB_PUBLISH);
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(queue_async_new(&loop, &fake.base, 65537, &qa), -EINVAL);
	assert_null(qa);
	/* An observer would be called on the database thread: refused. */
	fake.base.observer = (struct queue_observer){.logged = observed};
	assert_int_equal(queue_async_new(&loop, &fake.base, 0, &qa), -EINVAL);
	assert_null(qa);
	fake.base.observer = (struct queue_observer){0};
	assert_int_equal(queue_async_new(&loop, &fake.base, 0, &qa), 0);
	assert_int_equal(queue_async_list(qa, NULL, 0, never, NULL), -EINVAL);
	assert_int_equal(queue_async_get(qa, 1, NULL, NULL), -EINVAL);
	assert_int_equal(
	    queue_async_list(qa, NULL, QUEUE_ASYNC_LIST_MAX + 1, never, NULL), -EINVAL);
	assert_int_equal(
	    queue_async_claim(qa, "h", NOW, LEASE, 0, QUEUE_CLAIM_MAX + 1, never, NULL),
	    -EINVAL);
	assert_int_equal(queue_async_log_read(qa, 1, 0, QUEUE_LOG_MAX + 1, never, NULL),
			 -EINVAL);
	assert_int_equal(queue_async_prune(qa, NOW, 0, true, 0, never, NULL), -EINVAL);
	assert_int_equal(queue_async_drains(qa, 0, never, NULL), -EINVAL);
	assert_int_equal(queue_async_drains(qa, QUEUE_DRAINS_MAX + 1, never, NULL),
			 -EINVAL);
	assert_int_equal(queue_async_enqueue_many(qa, s.jn, 0, NOW, never, NULL),
			 -EINVAL);
	assert_int_equal(queue_async_enqueue_many(qa, s.jn, QUEUE_ASYNC_BATCH_MAX + 1,
						  NOW, never, NULL),
			 AOS_ETOOBIG);
	assert_int_equal(queue_async_pending(qa), 0);
	/* Idle: the loop is not kept alive. */
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	close_and_end(&loop, qa);
	assert_int_equal(entered(), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_same_as_direct_calls_in_order, setup,
					    teardown),
	    cmocka_unit_test_setup(test_slow_call_does_not_block_the_loop, fake_setup),
	    cmocka_unit_test_setup(test_full_fifo_answers_busy, fake_setup),
	    cmocka_unit_test_setup(test_shutdown_cancels_what_waits, fake_setup),
	    cmocka_unit_test_setup(test_bounds_refused, fake_setup),
	    cmocka_unit_test_setup(test_open_on_the_thread, fake_setup),
	    cmocka_unit_test_setup(test_open_failure_backs_off, fake_setup),
	    cmocka_unit_test_setup(test_prune_not_rerun_after_loss, fake_setup),
	    cmocka_unit_test_setup(test_walk_passes_over, fake_setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
