/* Unit tests for the queue interface (agent/queue/queue.h), run against
 * both backends (queue_fixture.h: SQLite, or PostgreSQL with AOS_TEST_PG):
 * the job state machine, idempotent enqueue, claim order and limits, leases
 * and fencing, operator actions, uploads and outcomes, the bounded log and
 * its observer, listing, counts and stats.  Every test gets its own
 * temporary database; times are passed in (an injected clock).  The
 * backends' own matters (files, schemas, durability, several hosts) are in
 * test_queue_sqlite.c and test_queue_pg.c.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "queue/queue.h"
#include "tests/unit/queue/queue_fixture.h"

/* ---- names ---- */

static void test_names(void **state)
{
	int s;

	(void)state;
	for (s = JOB_QUEUED; s <= JOB_CANCELED; s++)
		assert_int_equal(job_state_parse(job_state_name((enum job_state)s)), s);
	assert_string_equal(job_state_name(JOB_FAILED), "failed");
	assert_string_equal(job_state_name((enum job_state)0), "unknown");
	assert_string_equal(job_state_name((enum job_state)99), "unknown");
	assert_int_equal(job_state_parse("Queued"), 0);
	assert_int_equal(job_state_parse(""), 0);
	assert_int_equal(job_state_parse(NULL), 0);
	assert_string_equal(upload_state_name(UPLOAD_PENDING), "pending");
	assert_string_equal(upload_state_name(UPLOAD_SENDING), "sending");
	assert_string_equal(upload_state_name(UPLOAD_DONE), "done");
	assert_string_equal(upload_state_name(UPLOAD_FAILED), "failed");
	assert_string_equal(upload_state_name((enum upload_state)7), "unknown");
	job_clear(NULL);
}

/* ---- enqueue ---- */

static void test_enqueue_get(void **state)
{
	struct fx *fx = *state;
	struct queue *q = fx->q;
	struct job_upload ups[4];
	struct job j;
	int64_t id;

	id = enqueue_in(q, "key-1", "pypi", "demo", T0);
	assert_int_equal(q->ops->get(q, id, &j), 0);
	assert_int_equal(j.id, id);
	assert_int_equal(j.kind, JOB_PUBLISH);
	assert_int_equal(j.state, JOB_QUEUED);
	assert_string_equal(j.idem_key, "key-1");
	assert_string_equal(j.registry, "pypi");
	assert_string_equal(j.package, "demo");
	assert_string_equal(j.inputs, "{\"files\":[\"a.whl\",\"a.tar.gz\"]}");
	assert_int_equal(j.attempts, 0);
	assert_int_equal(j.max_attempts, 3);
	assert_int_equal(j.next_run_ms, T0);
	assert_int_equal(j.created_ms, T0);
	assert_int_equal(j.updated_ms, T0);
	assert_string_equal(j.lease_owner, "");
	assert_int_equal(j.fence, 0);
	assert_string_equal(j.last_error, "");
	job_clear(&j);
	assert_null(j.inputs);

	assert_int_equal(q->ops->uploads(q, id, ups, 4), 2);
	assert_string_equal(ups[0].filename, "a.whl"); /* enqueue order */
	assert_string_equal(ups[0].registry, "pypi");  /* defaulted to the job's */
	assert_string_equal(ups[0].sha256, SHA_A);
	assert_int_equal(ups[0].state, UPLOAD_PENDING);
	assert_string_equal(ups[1].filename, "a.tar.gz");
	assert_int_equal(ups[1].job_id, id);
	assert_int_equal(q->ops->uploads(q, id, ups, 1), 1);
	assert_log_has(q, id, "queued (enqueued: publish to pypi, package demo, 2 files");
}

static void test_enqueue_idempotent(void **state)
{
	struct fx *fx = *state;
	struct queue *q = fx->q;
	struct job_new j = {.kind = JOB_PIPELINE,
			    .idem_key = "key-1",
			    .registry = "npm",
			    .package = "other",
			    .max_attempts = 9};
	int64_t counts[JOB_CANCELED + 1], id, id2 = 0;
	struct job got;

	id = enqueue(q, "key-1", T0);
	assert_int_equal(q->ops->enqueue(q, &j, T0 + 5, &id2), AOS_EEXIST);
	assert_int_equal(id2, id);
	got = get(q, id);
	assert_string_equal(got.registry, "pypi");
	assert_int_equal(got.max_attempts, 3);
	assert_int_equal(got.updated_ms, T0);
	assert_int_equal(q->ops->counts(q, counts), 0);
	assert_int_equal(counts[JOB_QUEUED], 1);

	j.idem_key = "key-2";
	assert_int_equal(q->ops->enqueue(q, &j, T0 + 5, &id2), 0);
	assert_true(id2 > id);
	got = get(q, id2);
	assert_int_equal(got.kind, JOB_PIPELINE);
	assert_null(got.inputs);
}

static void test_enqueue_invalid(void **state)
{
	struct fx *fx = *state;
	struct queue *q = fx->q;
	struct job_upload ups[2] = {0};
	struct job_new j = {.kind = JOB_PUBLISH,
			    .idem_key = "k",
			    .registry = "pypi",
			    .package = "p",
			    .max_attempts = 1,
			    .uploads = ups,
			    .nuploads = 2};
	char longkey[JOB_KEY_MAX + 1];
	int64_t counts[JOB_CANCELED + 1], id = -1;

	snprintf(ups[0].filename, sizeof(ups[0].filename), "x.whl");
	snprintf(ups[0].sha256, sizeof(ups[0].sha256), SHA_A);
	snprintf(ups[1].filename, sizeof(ups[1].filename), "x.whl"); /* twice */
	snprintf(ups[1].sha256, sizeof(ups[1].sha256), SHA_B);
	assert_int_equal(q->ops->enqueue(q, &j, T0, &id), -EINVAL);
	assert_int_equal(id, -1);
	assert_int_equal(q->ops->counts(q, counts), 0);
	assert_int_equal(counts[JOB_QUEUED], 0); /* rolled back */

	snprintf(ups[1].filename, sizeof(ups[1].filename), "x.tar.gz");
	snprintf(ups[1].sha256, sizeof(ups[1].sha256), "ABC");
	assert_int_equal(q->ops->enqueue(q, &j, T0, &id), -EINVAL);
	snprintf(ups[1].sha256, sizeof(ups[1].sha256), SHA_B);

	memset(longkey, 'k', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	j.idem_key = longkey;
	assert_int_equal(q->ops->enqueue(q, &j, T0, &id), AOS_ETOOBIG);
	j.idem_key = "";
	assert_int_equal(q->ops->enqueue(q, &j, T0, &id), -EINVAL);
	j.idem_key = "k";
	j.max_attempts = 0;
	assert_int_equal(q->ops->enqueue(q, &j, T0, &id), -EINVAL);
	j.max_attempts = 1;
	j.kind = (enum job_kind)7;
	assert_int_equal(q->ops->enqueue(q, &j, T0, &id), -EINVAL);
	j.kind = JOB_PUBLISH;
	/* The key was never taken by the failed attempts. */
	assert_int_equal(q->ops->enqueue(q, &j, T0, &id), 0);
}

/* ---- the state machine ---- */

/* Brings a new job into state st (one job per database); returns its id and
 * its last fence. */
static int64_t job_in_state(struct fx *fx, enum job_state st, int64_t *ret_fence)
{
	struct queue *q = fx->q;
	int64_t id = enqueue(q, "j", T0);
	struct job j;

	*ret_fence = 0;
	if (st == JOB_QUEUED)
		return id;
	if (st == JOB_CANCELED) {
		assert_int_equal(q->ops->cancel(q, id, "test", T0), 0);
		return id;
	}
	j = claim_one(q, "w1", T0);
	assert_int_equal(j.id, id);
	*ret_fence = j.fence;
	if (st != JOB_RUNNING)
		assert_int_equal(
		    q->ops->finish(q, id, j.fence, st, T0 + 1000, OUT_NONE, "boom", T0),
		    0);
	assert_int_equal(state_of(q, id), st);
	return id;
}

static void test_state_machine(void **state)
{
	struct fx *fx = *state;
	static const enum job_state all[] = {JOB_QUEUED, JOB_RUNNING, JOB_SUCCEEDED,
					     JOB_FAILED, JOB_DEAD,    JOB_CANCELED};
	static const enum job_state finish_to[] = {JOB_SUCCEEDED, JOB_FAILED, JOB_DEAD,
						   JOB_QUEUED};
	size_t i, k;
	int64_t id, fence;
	int r;

	for (i = 0; i < 6; i++) {
		enum job_state from = all[i];
		bool cancel_ok =
		    from == JOB_QUEUED || from == JOB_FAILED || from == JOB_RUNNING;
		bool retry_ok =
		    from == JOB_DEAD || from == JOB_FAILED || from == JOB_CANCELED;

		/* cancel */
		fx_reset(fx);
		id = job_in_state(fx, from, &fence);
		r = fx->q->ops->cancel(fx->q, id, NULL, T0 + 10);
		assert_int_equal(r, cancel_ok ? 0 : -EINVAL);
		assert_int_equal(state_of(fx->q, id), cancel_ok ? JOB_CANCELED : from);

		/* retry */
		fx_reset(fx);
		id = job_in_state(fx, from, &fence);
		r = fx->q->ops->retry(fx->q, id, T0 + 10);
		assert_int_equal(r, retry_ok ? 0 : -EINVAL);
		assert_int_equal(state_of(fx->q, id), retry_ok ? JOB_QUEUED : from);
		if (retry_ok) {
			assert_int_equal(get(fx->q, id).attempts, 0);
			assert_int_equal(get(fx->q, id).next_run_ms, T0 + 10);
			assert_log_has(fx->q, id, "-> queued (retry requested");
		}

		/* finish, to each state a worker may set: only from RUNNING */
		for (k = 0; k < 4; k++) {
			fx_reset(fx);
			id = job_in_state(fx, from, &fence);
			r = fx->q->ops->finish(fx->q, id, fence, finish_to[k], T0 + 500,
					       OUT_NONE, "e", T0 + 10);
			assert_int_equal(r, from == JOB_RUNNING ? 0 : AOS_EFENCED);
			assert_int_equal(state_of(fx->q, id),
					 from == JOB_RUNNING ? finish_to[k] : from);
		}
		/* finish to a state workers may not set */
		fx_reset(fx);
		id = job_in_state(fx, from, &fence);
		assert_int_equal(fx->q->ops->finish(fx->q, id, fence, JOB_RUNNING, 0,
						    OUT_NONE, NULL, T0),
				 -EINVAL);
		assert_int_equal(fx->q->ops->finish(fx->q, id, fence, JOB_CANCELED, 0,
						    OUT_NONE, NULL, T0),
				 -EINVAL);
		assert_int_equal(state_of(fx->q, id), from);
	}
}

static void test_finish_effects(void **state)
{
	struct fx *fx = *state;
	struct queue *q = fx->q;
	struct job j, got;
	int64_t id;

	id = enqueue(q, "p", T0);
	j = claim_one(q, "w1", T0);
	assert_int_equal(j.state, JOB_RUNNING);
	assert_int_equal(j.attempts, 1);
	assert_int_equal(j.fence, 1);
	assert_string_equal(j.lease_owner, "w1");
	assert_int_equal(j.lease_expires_ms, T0 + LEASE);
	assert_log_has(q, id, "queued -> running (claimed by w1, attempt 1)");

	/* FAILED: waits for next_run, keeps the error */
	assert_int_equal(q->ops->finish(q, id, j.fence, JOB_FAILED, T0 + 60000, OUT_NONE,
					"HTTP 503 from the registry", T0 + 100),
			 0);
	got = get(q, id);
	assert_int_equal(got.state, JOB_FAILED);
	assert_int_equal(got.next_run_ms, T0 + 60000);
	assert_string_equal(got.last_error, "HTTP 503 from the registry");
	assert_string_equal(got.lease_owner, "");
	assert_log_has(q, id,
		       "running -> failed: HTTP 503 from the registry; next try at "
		       "2023-11-14T22:14:20.000Z");
	assert_int_equal(claim(q, "w1", T0 + 59999, 0, &j, 1), 0);
	j = claim_one(q, "w1", T0 + 60000);
	assert_int_equal(j.attempts, 2);
	assert_int_equal(j.fence, 2);
	assert_log_has(q, id, "failed -> running (claimed by w1, attempt 2)");

	/* QUEUED: the attempt does not count, the reason is kept */
	assert_int_equal(q->ops->finish(q, id, j.fence, JOB_QUEUED, T0 + 70000, OUT_NONE,
					"Vault is sealed", T0 + 60100),
			 0);
	got = get(q, id);
	assert_int_equal(got.state, JOB_QUEUED);
	assert_int_equal(got.attempts, 1);
	assert_string_equal(got.wait_reason, "Vault is sealed");
	assert_string_equal(got.last_error, "HTTP 503 from the registry");
	assert_log_has(q, id, "released without counting the attempt: Vault is sealed");
	j = claim_one(q, "w1", T0 + 70000);
	assert_int_equal(j.attempts, 2);
	assert_string_equal(j.wait_reason, "");

	/* DEAD */
	assert_int_equal(q->ops->finish(q, id, j.fence, JOB_DEAD, 0, OUT_NONE,
					"version exists", T0 + 70100),
			 0);
	got = get(q, id);
	assert_int_equal(got.state, JOB_DEAD);
	assert_string_equal(got.last_error, "version exists");
	assert_log_has(q, id, "running -> dead: version exists");
	assert_int_equal(claim(q, "w1", T0 + 999999, 0, &j, 1), 0);

	/* SUCCEEDED after a retry */
	assert_int_equal(q->ops->retry(q, id, T0 + 80000), 0);
	j = claim_one(q, "w1", T0 + 80000);
	assert_int_equal(j.attempts, 1);
	assert_int_equal(
	    q->ops->finish(q, id, j.fence, JOB_SUCCEEDED, 0, OUT_NONE, NULL, T0 + 80001),
	    0);
	assert_int_equal(state_of(q, id), JOB_SUCCEEDED);
	assert_log_has(q, id, "running -> succeeded");
}

static void test_unknown_id(void **state)
{
	struct fx *fx = *state;
	struct queue *q = fx->q;
	struct job_log_entry e;
	struct job_upload u;
	struct job j;

	enqueue(q, "p", T0);
	assert_int_equal(q->ops->get(q, 999, &j), AOS_ENOTFOUND);
	assert_int_equal(q->ops->cancel(q, 999, NULL, T0), AOS_ENOTFOUND);
	assert_int_equal(q->ops->retry(q, 999, T0), AOS_ENOTFOUND);
	assert_int_equal(q->ops->log(q, 999, "x", T0), AOS_ENOTFOUND);
	assert_int_equal(q->ops->log_read(q, 999, 0, &e, 1), AOS_ENOTFOUND);
	assert_int_equal(q->ops->uploads(q, 999, &u, 1), AOS_ENOTFOUND);
	assert_int_equal(q->ops->heartbeat(q, 999, 1, T0, LEASE), AOS_EFENCED);
	assert_int_equal(q->ops->finish(q, 999, 1, JOB_SUCCEEDED, 0, OUT_NONE, NULL, T0),
			 AOS_EFENCED);
	assert_int_equal(
	    q->ops->upload_set(q, 999, 1, "a.whl", UPLOAD_DONE, OUT_NONE, NULL, T0),
	    AOS_EFENCED);
}

/* ---- claims ---- */

static void test_claim_order(void **state)
{
	struct fx *fx = *state;
	struct queue *q = fx->q;
	int64_t a, b, c, d;
	struct job j[4];
	int n, i;

	c = enqueue(q, "c", T0 + 300);
	a = enqueue(q, "a", T0 + 100);
	b = enqueue(q, "b", T0 + 200);
	d = enqueue(q, "d", T0 + 5000); /* not due yet */

	n = claim(q, "w1", T0 + 1000, 0, j, 2);
	assert_int_equal(n, 2);
	assert_int_equal(j[0].id, a); /* oldest next_run first, not id order */
	assert_int_equal(j[1].id, b);
	assert_non_null(j[0].inputs);
	for (i = 0; i < n; i++)
		job_clear(&j[i]);
	n = claim(q, "w1", T0 + 1000, 0, j, 4);
	assert_int_equal(n, 1);
	assert_int_equal(j[0].id, c);
	job_clear(&j[0]);
	assert_int_equal(claim(q, "w1", T0 + 1000, 0, j, 4), 0);
	assert_int_equal(claim(q, "w1", T0 + 1000, 0, j, 0), 0);
	assert_int_equal(claim_one(q, "w1", T0 + 5000).id, d);
	assert_int_equal(claim(q, "", T0, 0, j, 1), -EINVAL);
	assert_int_equal(q->ops->claim(q, "w1", T0, 0, 0, j, 1), -EINVAL);
}

static void test_claim_registry_limit(void **state)
{
	struct fx *fx = *state;
	struct queue *q = fx->q;
	char key[16];
	struct job j[16];
	int64_t first_pypi = 0;
	int n, i, pypi = 0, npm = 0;

	for (i = 0; i < 5; i++) {
		snprintf(key, sizeof(key), "py%d", i);
		if (i == 0)
			first_pypi = enqueue_in(q, key, "pypi", key, T0 + i);
		else
			enqueue_in(q, key, "pypi", key, T0 + i);
	}
	for (i = 0; i < 3; i++) {
		snprintf(key, sizeof(key), "js%d", i);
		enqueue_in(q, key, "npm", key, T0 + 10 + i);
	}
	/* The limit counts this call's own claims. */
	n = claim(q, "w1", T0 + 100, 2, j, 16);
	assert_int_equal(n, 4);
	for (i = 0; i < n; i++) {
		pypi += strcmp(j[i].registry, "pypi") == 0;
		npm += strcmp(j[i].registry, "npm") == 0;
		job_clear(&j[i]);
	}
	assert_int_equal(pypi, 2);
	assert_int_equal(npm, 2);
	/* ... and the running jobs of earlier calls. */
	assert_int_equal(claim(q, "w2", T0 + 200, 2, j, 16), 0);
	/* A job that ends frees its slot. */
	assert_int_equal(
	    q->ops->finish(q, first_pypi, 1, JOB_SUCCEEDED, 0, OUT_NONE, NULL, T0 + 300),
	    0);
	n = claim(q, "w2", T0 + 300, 2, j, 16);
	assert_int_equal(n, 1);
	assert_string_equal(j[0].registry, "pypi");
	job_clear(&j[0]);
	/* Without a limit the rest go. */
	n = claim(q, "w2", T0 + 300, 0, j, 16);
	assert_int_equal(n, 3);
	for (i = 0; i < n; i++)
		job_clear(&j[i]);
}

/* Jobs of one package: one running at a time, in id order. */
static void test_claim_package_order(void **state)
{
	struct fx *fx = *state;
	struct queue *q = fx->q;
	int64_t p1, p2, p3, other;
	struct job j[8], one;
	int n;

	p1 = enqueue_in(q, "p1", "pypi", "foo", T0 + 10);
	p2 = enqueue_in(q, "p2", "npm", "foo", T0); /* due earlier, but later id */
	p3 = enqueue_in(q, "p3", "pypi", "foo", T0);
	other = enqueue_in(q, "o1", "pypi", "bar", T0 + 20);

	n = claim(q, "w1", T0 + 100, 0, j, 8);
	assert_int_equal(n, 2);
	assert_int_equal(j[0].id, p1);
	assert_int_equal(j[1].id, other);
	job_clear(&j[0]);
	job_clear(&j[1]);

	/* p1 failed and waits: the later jobs of foo wait behind it. */
	assert_int_equal(
	    q->ops->finish(q, p1, 1, JOB_FAILED, T0 + 5000, OUT_NONE, "503", T0 + 200),
	    0);
	assert_int_equal(claim(q, "w1", T0 + 300, 0, j, 8), 0);
	one = claim_one(q, "w1", T0 + 5000);
	assert_int_equal(one.id, p1);
	assert_int_equal(
	    q->ops->finish(q, p1, one.fence, JOB_SUCCEEDED, 0, OUT_NONE, NULL, T0 + 5001),
	    0);
	/* p1 done: p2 (the next id), then p3 once p2 is terminal. */
	one = claim_one(q, "w1", T0 + 5002);
	assert_int_equal(one.id, p2);
	assert_int_equal(claim(q, "w1", T0 + 5003, 0, j, 8), 0);
	assert_int_equal(q->ops->finish(q, p2, one.fence, JOB_DEAD, 0, OUT_NONE,
					"conflict", T0 + 5004),
			 0);
	one = claim_one(q, "w1", T0 + 5005);
	assert_int_equal(one.id, p3);

	/* Retrying p2 while p3 runs: p2 waits for p3 (one per package), then
	 * goes before p3 if p3 fails (id order). */
	assert_int_equal(q->ops->retry(q, p2, T0 + 5006), 0);
	assert_int_equal(claim(q, "w1", T0 + 5007, 0, j, 8), 0);
	assert_int_equal(q->ops->finish(q, p3, one.fence, JOB_FAILED, T0 + 5008, OUT_NONE,
					"503", T0 + 5008),
			 0);
	n = claim(q, "w1", T0 + 9000, 0, j, 8);
	assert_int_equal(n, 1);
	assert_int_equal(j[0].id, p2);
	job_clear(&j[0]);
	/* A canceled earlier job does not hold the later ones. */
	assert_int_equal(q->ops->cancel(q, p2, "operator", T0 + 9001), 0);
	assert_int_equal(claim_one(q, "w1", T0 + 9002).id, p3);
}

static void test_lease_expiry_reclaim(void **state)
{
	struct fx *fx = *state;
	struct queue *q = fx->q;
	struct job j, w2, got[4];
	int64_t id, id2;

	id = enqueue(q, "p", T0);
	j = claim_one(q, "w1", T0);
	assert_int_equal(claim(q, "w2", T0 + LEASE - 1, 0, got, 1), 0);
	/* A heartbeat extends the lease. */
	assert_int_equal(q->ops->heartbeat(q, id, j.fence, T0 + 20000, LEASE), 0);
	assert_int_equal(get(q, id).lease_expires_ms, T0 + 20000 + LEASE);
	assert_int_equal(claim(q, "w2", T0 + LEASE, 0, got, 1), 0);
	/* Ran out: another worker takes it, with a new fence and attempt. */
	w2 = claim_one(q, "w2", T0 + 20000 + LEASE);
	assert_int_equal(w2.id, id);
	assert_int_equal(w2.attempts, 2);
	assert_int_equal(w2.fence, j.fence + 1);
	assert_string_equal(w2.lease_owner, "w2");
	assert_log_has(q, id,
		       "running -> running (lease of w1 ran out; claimed by w2, "
		       "attempt 2)");
	/* The registry limit counts w2's valid lease... */
	id2 = enqueue(q, "p2", T0);
	assert_int_equal(claim(q, "w3", T0 + 20000 + LEASE, 1, got, 4), 0);
	/* ... but not a lease that ran out: p2 (due first) takes the slot. */
	assert_int_equal(claim(q, "w3", T0 + 20000 + 2 * LEASE, 1, got, 4), 1);
	assert_int_equal(got[0].id, id2);
	job_clear(&got[0]);
	assert_int_equal(q->ops->heartbeat(q, id, j.fence, T0 + 90000, LEASE),
			 AOS_EFENCED);
}

static void test_fencing(void **state)
{
	struct fx *fx = *state;
	struct queue *q = fx->q;
	struct job_upload ups[2], ups_after[2];
	struct job w1, w2, before, after;
	int64_t id, late = T0 + 3 * LEASE;

	id = enqueue(q, "p", T0);
	w1 = claim_one(q, "w1", T0);
	assert_int_equal(q->ops->heartbeat(q, id, w1.fence, T0 + LEASE - 1, LEASE), 0);
	/* Ran out, nobody else claimed it: the fence still records uploads,
	 * but the lease is not revived. */
	assert_int_equal(q->ops->upload_set(q, id, w1.fence, "a.whl", UPLOAD_SENDING,
					    OUT_NONE, NULL, T0 + 2 * LEASE + 6),
			 0);
	assert_int_equal(q->ops->heartbeat(q, id, w1.fence, T0 + 2 * LEASE + 7, LEASE),
			 AOS_EFENCED);
	assert_int_equal(get(q, id).lease_expires_ms, T0 + 2 * LEASE - 1);

	w2 = claim_one(q, "w2", late);
	assert_int_equal(q->ops->upload_set(q, id, w2.fence, "a.whl", UPLOAD_DONE,
					    OUT_NONE, "201", late + 1),
			 0);
	assert_int_equal(q->ops->get(q, id, &before), 0);
	assert_int_equal(q->ops->uploads(q, id, ups, 2), 2);

	/* w1 lost its lease: every fenced call fails and changes nothing. */
	assert_int_equal(q->ops->heartbeat(q, id, w1.fence, late + 2, LEASE),
			 AOS_EFENCED);
	assert_int_equal(q->ops->upload_set(q, id, w1.fence, "a.whl", UPLOAD_FAILED,
					    OUT_NONE, "stale", late + 3),
			 AOS_EFENCED);
	assert_int_equal(q->ops->upload_set(q, id, w1.fence, "a.tar.gz", UPLOAD_DONE,
					    OUT_NONE, "stale", late + 3),
			 AOS_EFENCED);
	assert_int_equal(
	    q->ops->finish(q, id, w1.fence, JOB_SUCCEEDED, 0, OUT_NONE, NULL, late + 4),
	    AOS_EFENCED);
	assert_int_equal(
	    q->ops->finish(q, id, w1.fence, JOB_FAILED, late, OUT_NONE, "x", late + 4),
	    AOS_EFENCED);
	assert_int_equal(q->ops->get(q, id, &after), 0);
	assert_int_equal(q->ops->uploads(q, id, ups_after, 2), 2);
	assert_int_equal(after.state, JOB_RUNNING);
	assert_int_equal(after.fence, before.fence);
	assert_int_equal(after.attempts, before.attempts);
	assert_int_equal(after.updated_ms, before.updated_ms);
	assert_int_equal(after.lease_expires_ms, before.lease_expires_ms);
	assert_string_equal(after.lease_owner, "w2");
	assert_memory_equal(ups, ups_after, sizeof(ups));
	assert_int_equal(ups_after[0].state, UPLOAD_DONE);
	assert_string_equal(ups_after[0].answer, "201");
	job_clear(&before);
	job_clear(&after);

	/* w2 holds it. */
	assert_int_equal(
	    q->ops->finish(q, id, w2.fence, JOB_SUCCEEDED, 0, OUT_NONE, NULL, late + 5),
	    0);
	/* A fence from the future is no better. */
	assert_int_equal(q->ops->heartbeat(q, id, w2.fence + 1, late + 6, LEASE),
			 AOS_EFENCED);
}

static void test_cancel_fences_running(void **state)
{
	struct fx *fx = *state;
	struct queue *q = fx->q;
	struct job j, got;
	int64_t id;

	id = enqueue(q, "p", T0);
	j = claim_one(q, "w1", T0);
	assert_int_equal(q->ops->cancel(q, id, "stop it", T0 + 10), 0);
	got = get(q, id);
	assert_int_equal(got.state, JOB_CANCELED);
	assert_int_equal(got.fence, j.fence + 1);
	assert_string_equal(got.lease_owner, "");
	assert_log_has(q, id, "running -> canceled: stop it (lease of w1 revoked)");
	assert_int_equal(q->ops->heartbeat(q, id, j.fence, T0 + 11, LEASE), AOS_EFENCED);
	assert_int_equal(q->ops->upload_set(q, id, j.fence, "a.whl", UPLOAD_DONE,
					    OUT_NONE, NULL, T0 + 12),
			 AOS_EFENCED);
	assert_int_equal(
	    q->ops->finish(q, id, j.fence, JOB_SUCCEEDED, 0, OUT_NONE, NULL, T0 + 13),
	    AOS_EFENCED);
	assert_int_equal(state_of(q, id), JOB_CANCELED);
	assert_int_equal(q->ops->cancel(q, id, NULL, T0 + 14), -EINVAL);
	assert_int_equal(claim(q, "w2", T0 + 10 * LEASE, 0, &got, 1), 0);
}

static void test_retry(void **state)
{
	struct fx *fx = *state;
	struct queue *q = fx->q;
	struct job j, got;
	int64_t id;
	int i;

	id = enqueue(q, "p", T0);
	for (i = 0; i < 3; i++) {
		j = claim_one(q, "w1", T0 + i * 1000);
		assert_int_equal(q->ops->finish(q, id, j.fence,
						i < 2 ? JOB_FAILED : JOB_DEAD,
						T0 + (i + 1) * 1000, OUT_NONE, "503",
						T0 + i * 1000 + 1),
				 0);
	}
	got = get(q, id);
	assert_int_equal(got.state, JOB_DEAD);
	assert_int_equal(got.attempts, 3);
	assert_int_equal(q->ops->retry(q, id, T0 + 50000), 0);
	got = get(q, id);
	assert_int_equal(got.state, JOB_QUEUED);
	assert_int_equal(got.attempts, 0);
	assert_int_equal(got.next_run_ms, T0 + 50000);
	assert_log_has(q, id, "dead -> queued (retry requested; attempts reset)");
	assert_int_equal(q->ops->retry(q, id, T0 + 50001), -EINVAL);
	j = claim_one(q, "w1", T0 + 50000);
	assert_int_equal(j.attempts, 1);
	assert_int_equal(j.fence, 4);
}

static void test_release_owner(void **state)
{
	struct fx *fx = *state;
	struct queue *q = fx->q;
	struct job a, b, c, got;
	int64_t ida, idb, idc;

	ida = enqueue(q, "a", T0);
	idb = enqueue(q, "b", T0 + 1);
	idc = enqueue(q, "c", T0 + 2);
	a = claim_one(q, "host1:100", T0 + 5);
	b = claim_one(q, "host2:7", T0 + 5);
	c = claim_one(q, "host1:100", T0 + 5);
	assert_int_equal(a.id, ida);
	assert_int_equal(b.id, idb);
	assert_int_equal(
	    q->ops->finish(q, idc, c.fence, JOB_SUCCEEDED, 0, OUT_NONE, NULL, T0 + 1), 0);

	assert_int_equal(q->ops->release_owner(q, "", T0 + 5), -EINVAL);
	assert_int_equal(q->ops->release_owner(q, "host3:", T0 + 5), 0);
	assert_int_equal(q->ops->release_owner(q, "host1:", T0 + 5), 1);
	got = get(q, ida);
	assert_int_equal(got.state, JOB_QUEUED);
	assert_int_equal(got.attempts, 0);
	assert_int_equal(got.next_run_ms, T0 + 5);
	assert_int_equal(got.fence, a.fence + 1);
	assert_string_equal(got.lease_owner, "");
	assert_log_has(q, ida,
		       "running -> queued (released: the process host1:100 is gone");
	assert_int_equal(state_of(q, idb), JOB_RUNNING);
	assert_int_equal(state_of(q, idc), JOB_SUCCEEDED);
	/* The old process's token is dead. */
	assert_int_equal(q->ops->heartbeat(q, ida, a.fence, T0 + 6, LEASE), AOS_EFENCED);
	a = claim_one(q, "host1:200", T0 + 6);
	assert_int_equal(a.id, ida);
	assert_int_equal(a.attempts, 1);
}

/* ---- uploads, log, listing ---- */

static void test_upload_set(void **state)
{
	struct fx *fx = *state;
	struct queue *q = fx->q;
	char answer[JOB_TEXT_MAX + 100];
	struct job_upload u[2];
	struct job j;
	int64_t id;

	id = enqueue(q, "p", T0);
	j = claim_one(q, "w1", T0);
	assert_int_equal(q->ops->upload_set(q, id, j.fence, "a.whl", UPLOAD_SENDING,
					    OUT_NONE, NULL, T0 + 1),
			 0);
	assert_int_equal(q->ops->uploads(q, id, u, 2), 2);
	assert_int_equal(u[0].state, UPLOAD_SENDING);
	assert_int_equal(u[0].updated_ms, T0 + 1);
	assert_int_equal(u[1].state, UPLOAD_PENDING);

	memset(answer, 'x', sizeof(answer) - 1);
	answer[sizeof(answer) - 1] = '\0';
	assert_int_equal(q->ops->upload_set(q, id, j.fence, "a.whl", UPLOAD_DONE,
					    OUT_NONE, answer, T0 + 2),
			 0);
	assert_int_equal(q->ops->uploads(q, id, u, 2), 2);
	assert_int_equal(u[0].state, UPLOAD_DONE);
	assert_int_equal(strlen(u[0].answer), JOB_TEXT_MAX - 1);
	assert_int_equal(get(q, id).updated_ms, T0 + 2);

	assert_int_equal(q->ops->upload_set(q, id, j.fence, "nope.whl", UPLOAD_DONE,
					    OUT_NONE, NULL, T0 + 3),
			 AOS_ENOTFOUND);
	assert_int_equal(q->ops->upload_set(q, id, j.fence, "a.whl", (enum upload_state)9,
					    OUT_NONE, NULL, T0 + 3),
			 -EINVAL);
}

static void test_log_bounded(void **state)
{
	struct fx *fx = *state;
	struct queue *q = fx->q;
	static struct job_log_entry e[QUEUE_LOG_MAX + 10];
	char text[3100], want[32];
	int64_t id;
	int i, n;

	id = enqueue(q, "p", T0);
	for (i = 0; i < QUEUE_LOG_MAX + 50; i++) {
		snprintf(text, sizeof(text), "line %d", i);
		assert_int_equal(q->ops->log(q, id, text, T0 + i), 0);
	}
	n = q->ops->log_read(q, id, 0, e, QUEUE_LOG_MAX + 10);
	assert_int_equal(n, QUEUE_LOG_MAX);
	/* The enqueue line and lines 0..49 were dropped, oldest first. */
	assert_string_equal(e[0].text, "line 50");
	assert_int_equal(e[0].at_ms, T0 + 50);
	assert_int_equal(e[0].job_id, id);
	snprintf(want, sizeof(want), "line %d", QUEUE_LOG_MAX + 49);
	assert_string_equal(e[n - 1].text, want);
	for (i = 1; i < n; i++)
		assert_true(e[i].id > e[i - 1].id);

	/* Paging with after_id. */
	n = q->ops->log_read(q, id, e[QUEUE_LOG_MAX - 3].id, e, 10);
	assert_int_equal(n, 2);
	n = q->ops->log_read(q, id, 0, e, 3);
	assert_int_equal(n, 3);
	assert_string_equal(e[2].text, "line 52");

	/* Another job's log is its own. */
	assert_int_equal(q->ops->log_read(q, enqueue(q, "other", T0), 0, e, 10), 1);

	/* A long line is cut on a character boundary: 2-byte characters. */
	for (i = 0; i < 1500; i++)
		memcpy(text + 2 * i, "\xc3\xa9", 2);
	text[3000] = '\0';
	assert_int_equal(q->ops->log(q, id, text, T0 + 9999), 0);
	n = q->ops->log_read(q, id, 0, e, QUEUE_LOG_MAX + 10);
	assert_int_equal(n, QUEUE_LOG_MAX);
	assert_int_equal(strlen(e[n - 1].text), JOB_TEXT_MAX - 2);
	assert_memory_equal(e[n - 1].text, text, JOB_TEXT_MAX - 2);
	assert_int_equal(q->ops->log(q, id, NULL, T0), -EINVAL);
}

static void test_list_counts(void **state)
{
	struct fx *fx = *state;
	struct queue *q = fx->q;
	int64_t ids[6], counts[JOB_CANCELED + 1];
	struct job_filter f = {0};
	struct job j[8], w;
	char key[8];
	int i, n;

	for (i = 0; i < 6; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		ids[i] = enqueue(q, key, T0 + i);
	}
	w = claim_one(q, "w1", T0 + 10); /* ids[0] */
	assert_int_equal(
	    q->ops->finish(q, ids[0], w.fence, JOB_SUCCEEDED, 0, OUT_NONE, NULL, T0 + 11),
	    0);
	w = claim_one(q, "w1", T0 + 10); /* ids[1] */
	assert_int_equal(q->ops->cancel(q, ids[2], NULL, T0 + 12), 0);

	assert_int_equal(q->ops->counts(q, counts), 0);
	assert_int_equal(counts[JOB_QUEUED], 3);
	assert_int_equal(counts[JOB_RUNNING], 1);
	assert_int_equal(counts[JOB_SUCCEEDED], 1);
	assert_int_equal(counts[JOB_CANCELED], 1);
	assert_int_equal(counts[JOB_FAILED] + counts[JOB_DEAD], 0);

	n = q->ops->list(q, NULL, j, 8);
	assert_int_equal(n, 6);
	for (i = 0; i < n; i++) {
		assert_int_equal(j[i].id, ids[5 - i]);
		/* a listing carries no inputs (up to 1 MiB a job; a reader's
		 * `jobs` held up to 1000 of them per read: found by review) */
		assert_null(j[i].inputs);
		job_clear(&j[i]);
	}
	assert_int_equal(q->ops->get(q, ids[5], &w), 0); /* get does */
	assert_non_null(w.inputs);
	job_clear(&w);
	f.state = JOB_QUEUED;
	f.limit = 2;
	n = q->ops->list(q, &f, j, 8);
	assert_int_equal(n, 2);
	assert_int_equal(j[0].id, ids[5]);
	assert_int_equal(j[1].id, ids[4]);
	job_clear(&j[0]);
	job_clear(&j[1]);
	f.before_id = ids[4];
	n = q->ops->list(q, &f, j, 8);
	assert_int_equal(n, 1);
	assert_int_equal(j[0].id, ids[3]);
	job_clear(&j[0]);
	f.state = JOB_RUNNING;
	f.before_id = 0;
	f.limit = 0;
	n = q->ops->list(q, &f, j, 1);
	assert_int_equal(n, 1);
	assert_int_equal(j[0].id, ids[1]);
	job_clear(&j[0]);
}

/* Metrics read jobs per kind and state, and the oldest due job's due time:
 * only QUEUED or FAILED jobs whose next run has come count. */
static void test_stats(void **state)
{
	struct fx *fx = *state;
	struct queue *q = fx->q;
	struct job_new pj = {.kind = JOB_PIPELINE,
			     .idem_key = "p1",
			     .registry = "npm",
			     .package = "pkg",
			     .max_attempts = 2};
	struct queue_stats st;
	int64_t ids[3], pid;
	struct job w;

	assert_int_equal(q->ops->stats(q, T0, &st), 0);
	assert_int_equal(st.oldest_due_ms, 0);
	assert_int_equal(st.jobs[JOB_PUBLISH][JOB_QUEUED], 0);
	ids[0] = enqueue(q, "a", T0);
	ids[1] = enqueue(q, "b", T0 + 1);
	ids[2] = enqueue(q, "c", T0 + 2);
	assert_int_equal(q->ops->enqueue(q, &pj, T0 + 3, &pid), 0);
	/* Not due yet before its next run. */
	assert_int_equal(q->ops->stats(q, T0 - 1, &st), 0);
	assert_int_equal(st.oldest_due_ms, 0);
	assert_int_equal(q->ops->stats(q, T0 + 5, &st), 0);
	assert_int_equal(st.jobs[JOB_PUBLISH][JOB_QUEUED], 3);
	assert_int_equal(st.jobs[JOB_PIPELINE][JOB_QUEUED], 1);
	assert_int_equal(st.oldest_due_ms, T0);

	/* The oldest runs, then fails with a retry later: the next oldest. */
	w = claim_one(q, "w1", T0 + 10);
	assert_int_equal(w.id, ids[0]);
	assert_int_equal(q->ops->stats(q, T0 + 11, &st), 0);
	assert_int_equal(st.jobs[JOB_PUBLISH][JOB_RUNNING], 1);
	assert_int_equal(st.oldest_due_ms, T0 + 1);
	assert_int_equal(q->ops->finish(q, w.id, w.fence, JOB_FAILED, T0 + 100,
					OUT_UNAVAILABLE, "x", T0 + 12),
			 0);
	assert_int_equal(q->ops->stats(q, T0 + 50, &st), 0);
	assert_int_equal(st.jobs[JOB_PUBLISH][JOB_FAILED], 1);
	assert_int_equal(st.jobs[JOB_PUBLISH][JOB_QUEUED], 2);
	assert_int_equal(st.oldest_due_ms, T0 + 1);
	/* Ended jobs are not due. */
	assert_int_equal(q->ops->cancel(q, ids[1], NULL, T0 + 60), 0);
	assert_int_equal(q->ops->cancel(q, ids[2], NULL, T0 + 60), 0);
	assert_int_equal(q->ops->cancel(q, pid, NULL, T0 + 60), 0);
	assert_int_equal(q->ops->stats(q, T0 + 70, &st), 0);
	assert_int_equal(st.oldest_due_ms, 0);
	assert_int_equal(st.jobs[JOB_PUBLISH][JOB_CANCELED], 2);
	assert_int_equal(st.jobs[JOB_PIPELINE][JOB_CANCELED], 1);
	assert_int_equal(q->ops->stats(q, T0 + 100, &st), 0);
	assert_int_equal(st.oldest_due_ms, T0 + 100);
}

/* An outcome is recorded beside its message and read back as the enum
 * (get, list, uploads); the log line shows them as one text.  A finish
 * without a message keeps the job's outcome with its last error. */
static void test_outcome_round_trip(void **state)
{
	struct fx *fx = *state;
	struct queue *q = fx->q;
	struct job_log_entry e[8];
	struct job_upload u[2];
	struct job w, got, listed[1];
	int64_t id;
	int n;

	id = enqueue(q, "a", T0);
	w = claim_one(q, "w1", T0 + 1);
	assert_int_equal(q->ops->upload_set(q, id, w.fence, "a.whl", UPLOAD_FAILED,
					    OUT_CONFLICT, "another file holds it",
					    T0 + 2),
			 0);
	assert_int_equal(q->ops->upload_set(q, id, w.fence, "a.tar.gz", UPLOAD_DONE,
					    OUT_EXISTS, NULL, T0 + 2),
			 0);
	assert_int_equal(q->ops->finish(q, id, w.fence, JOB_DEAD, 0, OUT_AUTH,
					"token refused", T0 + 3),
			 0);
	got = get(q, id);
	assert_int_equal(got.outcome, OUT_AUTH);
	assert_string_equal(got.last_error, "token refused");
	assert_int_equal(q->ops->list(q, &(struct job_filter){.limit = 1}, listed, 1), 1);
	assert_int_equal(listed[0].outcome, OUT_AUTH);
	job_clear(&listed[0]);
	assert_int_equal(q->ops->uploads(q, id, u, 2), 2);
	assert_int_equal(u[0].outcome, OUT_CONFLICT);
	assert_string_equal(u[0].answer, "another file holds it");
	assert_int_equal(u[1].outcome, OUT_EXISTS);
	assert_string_equal(u[1].answer, "");
	n = q->ops->log_read(q, id, 0, e, 8);
	assert_true(n >= 1);
	assert_string_equal(e[n - 1].text, "running -> dead: auth: token refused");

	/* Released while waiting (a wait reason, no error): the outcome of
	 * the last failure stays; an upload set again loses its old one. */
	assert_int_equal(q->ops->retry(q, id, T0 + 4), 0);
	w = claim_one(q, "w1", T0 + 5);
	assert_int_equal(q->ops->upload_set(q, id, w.fence, "a.whl", UPLOAD_SENDING,
					    OUT_NONE, NULL, T0 + 6),
			 0);
	assert_int_equal(q->ops->finish(q, id, w.fence, JOB_QUEUED, T0 + 9,
					OUT_UNAVAILABLE, "vault sealed", T0 + 7),
			 0);
	got = get(q, id);
	assert_int_equal(got.outcome, OUT_AUTH);
	assert_string_equal(got.last_error, "token refused");
	assert_string_equal(got.wait_reason, "vault sealed");
	assert_int_equal(q->ops->uploads(q, id, u, 2), 2);
	assert_int_equal(u[0].outcome, OUT_NONE);
	assert_log_has(q, id, "attempt: unavailable: vault sealed; next try at");
}

/* ---- the log's observer ---- */

struct seen {
	int n;
	int64_t last_id;
};

static void seen_logged(void *data, int64_t id)
{
	struct seen *s = data;

	s->n++;
	s->last_id = id;
}

/* Every line written through the handle is reported with its job's id:
 * those of enqueue, claim, finish, operator actions and log. */
static void test_observer(void **state)
{
	struct fx *fx = *state;
	struct queue *q = fx->q;
	struct seen seen = {0};
	struct job w;
	int64_t a, b;
	int before;

	q->observer = (struct queue_observer){.logged = seen_logged, .data = &seen};
	a = enqueue(q, "a", T0);
	assert_true(seen.n >= 1);
	assert_int_equal(seen.last_id, a);
	b = enqueue(q, "b", T0 + 1);
	assert_int_equal(seen.last_id, b);
	before = seen.n;
	assert_int_equal(q->ops->log(q, a, "note", T0 + 2), 0);
	assert_int_equal(seen.n, before + 1);
	assert_int_equal(seen.last_id, a);
	w = claim_one(q, "w1", T0 + 3);
	assert_int_equal(w.id, a);
	before = seen.n;
	assert_int_equal(
	    q->ops->finish(q, a, w.fence, JOB_SUCCEEDED, 0, OUT_PUBLISHED, NULL, T0 + 4),
	    0);
	assert_true(seen.n > before);
	assert_int_equal(seen.last_id, a);
	before = seen.n;
	assert_int_equal(q->ops->cancel(q, b, NULL, T0 + 5), 0);
	assert_true(seen.n > before);
	assert_int_equal(seen.last_id, b);
	/* A refused write adds no line. */
	before = seen.n;
	assert_int_equal(q->ops->log(q, 999, "nobody", T0 + 6), AOS_ENOTFOUND);
	assert_int_equal(seen.n, before);
	q->observer = (struct queue_observer){0};
}

/* Two handles on one file (two processes, or the CLI and the daemon). */
static void test_two_handles(void **state)
{
	struct fx *fx = *state;
	struct queue *q2 = open_ok(fx->path);
	struct job_new n = {.kind = JOB_PUBLISH,
			    .idem_key = "a",
			    .registry = "pypi",
			    .package = "x",
			    .max_attempts = 1};
	struct job j[4];
	int64_t a, b, id;

	a = enqueue(fx->q, "a", T0);
	b = enqueue(q2, "b", T0 + 1);
	assert_int_equal(q2->ops->enqueue(q2, &n, T0, &id), AOS_EEXIST);
	assert_int_equal(id, a);
	assert_int_equal(claim_one(q2, "w2", T0 + 5).id, a);
	assert_int_equal(claim_one(fx->q, "w1", T0 + 5).id, b);
	assert_int_equal(claim(fx->q, "w1", T0 + 5, 0, j, 4), 0);
	q2->ops->close(q2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),
	    cmocka_unit_test_setup_teardown(test_enqueue_get, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_enqueue_idempotent, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_enqueue_invalid, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_state_machine, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_finish_effects, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_unknown_id, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_claim_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_claim_registry_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_claim_package_order, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_lease_expiry_reclaim, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fencing, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel_fences_running, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_retry, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_release_owner, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_upload_set, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_log_bounded, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_list_counts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stats, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_outcome_round_trip, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_observer, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_two_handles, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
