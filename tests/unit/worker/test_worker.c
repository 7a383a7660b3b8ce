/* Unit tests for agent/worker/worker.c: claim -> publish -> settle, driven
 * through the worker's clock, random source and publish seam
 * (worker_fixture.h) on a real SQLite queue behind a real queue_async.
 * Time moves only when a test moves it; the registry's answers are the
 * test's; the loop runs until the completions ran. */
#include "worker_fixture.h"

#define TOK(n) "tok-" n

static const char *const two[] = {"pkg-1.0.0-py3-none-any.whl", "pkg-1.0.0.tar.gz"};
static const char *const one[] = {"pkg-1.0.0.tar.gz"};

/* A job of one file to registry a, claimed and its publish started. */
static int64_t running_job(struct wfx *f, int max_attempts)
{
	int64_t id = wfx_enqueue(f, "pkg", "a", one, 1, max_attempts);

	wfx_tick(f);
	assert_true(f->pub.running);
	assert_int_equal(wfx_job(f, id).state, JOB_RUNNING);
	return id;
}

static bool exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* Two files published: each upload is SENDING before its first byte and
 * DONE after; the client sees its own paths; the job succeeds and its
 * spool copies go.  The hooks report in order: the event, each upload,
 * then the job's change. */
static void test_publish_succeeds(void **state)
{
	struct wfx *f = wfx_new();
	int64_t id = wfx_enqueue(f, "pkg", "a", two, 2, 3);
	char want[4][200], spool[300];
	const char *heard[5];
	struct job j;
	cJSON *ev, *answer;

	(void)state;
	snprintf(spool, sizeof(spool), "%s/spool/pkg", f->dir);
	wfx_tick(f);
	assert_int_equal(f->pub.starts, 1);
	assert_string_equal(f->pub.registry, "a");
	assert_string_equal(f->pub.version, "1.0.0");
	assert_int_equal(f->pub.nfiles, 2);
	assert_non_null(strstr(f->pub.files[0], "/spool/pkg/pkg-1.0.0-py3-none-any.whl"));
	assert_false(f->pub.probe[0]);
	j = wfx_job(f, id);
	assert_int_equal(j.state, JOB_RUNNING);
	assert_int_equal(j.attempts, 1);
	assert_int_equal(j.lease_expires_ms, T0 + LEASE_MS);
	assert_int_equal(worker_running(f->w), 1);

	/* an event names the spooled copy: the client hears its own path */
	ev = cJSON_CreateObject();
	cJSON_AddStringToObject(ev, "event", "progress");
	cJSON_AddStringToObject(ev, "file", f->pub.files[0]);
	f->pub.hooks.event(f->pub.hooks.data, ev);
	cJSON_Delete(ev);

	f->now += 100;
	assert_int_equal(pub_send(f, 0), 0);
	assert_int_equal(wfx_upload(f, id, two[0]).state, UPLOAD_SENDING);
	assert_int_equal(wfx_upload(f, id, two[1]).state, UPLOAD_PENDING);
	pub_file(f, 0, OUT_PUBLISHED, "published pkg-1.0.0-py3-none-any.whl (10 bytes)");
	assert_int_equal(wfx_upload(f, id, two[0]).state, UPLOAD_DONE);
	/* the outcome's word is not repeated in the message */
	assert_string_equal(wfx_upload(f, id, two[0]).answer,
			    "pkg-1.0.0-py3-none-any.whl (10 bytes)");
	assert_int_equal(pub_send(f, 1), 0);
	pub_file(f, 1, OUT_EXISTS, "exists pkg-1.0.0.tar.gz, identical");
	assert_int_equal(wfx_upload(f, id, two[1]).outcome, OUT_EXISTS);
	assert_true(exists(spool));
	pub_finish(f, OUT_PUBLISHED, NULL, -1);

	j = wfx_job(f, id);
	assert_int_equal(j.state, JOB_SUCCEEDED);
	assert_int_equal(worker_running(f->w), 0);
	assert_false(exists(spool)); /* the copies and their folder */
	snprintf(want[0], sizeof(want[0]), "event %lld progress /home/dev/dist/%s",
		 (long long)id, two[0]);
	snprintf(want[1], sizeof(want[1]), "upload a published sends=1 bytes=10");
	snprintf(want[2], sizeof(want[2]), "upload a exists sends=1 bytes=0");
	snprintf(want[3], sizeof(want[3]), "changed %lld", (long long)id);
	heard[0] = want[0], heard[1] = want[1], heard[2] = want[2], heard[3] = want[3];
	heard[4] = NULL;
	wfx_assert_heard(f, heard);

	answer = wfx_answer(f, id);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(answer, "ok")));
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(answer, "outcome")),
			    "published");
	cJSON_Delete(answer);
	/* nothing more to do */
	wfx_tick(f);
	assert_int_equal(f->pub.starts, 1);
	wfx_free(f);
}

/* A registry outage: FAILED with next_run from the injected clock and the
 * backoff (1 s, then drawn from [1 s, 2 s]: 1 s + 700 ms with the random
 * source at 700), or the registry's longer Retry-After; not claimed a
 * millisecond early; a send whose outcome is unknown is probed first next
 * time; dead when out of attempts. */
static void test_retry_backoff_dead(void **state)
{
	struct wfx *f = wfx_new();
	int64_t id = running_job(f, 3), t;
	struct job j;

	(void)state;
	f->rnd = 700;
	assert_int_equal(pub_send(f, 0), 0);
	pub_file(f, 0, OUT_UNAVAILABLE, "no answer from the registry");
	t = f->now;
	pub_finish(f, OUT_UNAVAILABLE, "registry answered 503", -1);
	j = wfx_job(f, id);
	assert_int_equal(j.state, JOB_FAILED);
	assert_int_equal(j.outcome, OUT_UNAVAILABLE);
	assert_int_equal(j.next_run_ms, t + BACKOFF_MIN);
	assert_non_null(
	    strstr(j.last_error, "registry answered 503 (next try in 1.0 s)"));
	assert_int_equal(wfx_upload(f, id, one[0]).state, UPLOAD_SENDING);

	f->now = j.next_run_ms - 1;
	wfx_tick(f);
	assert_int_equal(f->pub.starts, 1);
	f->now = j.next_run_ms;
	wfx_tick(f);
	assert_int_equal(f->pub.starts, 2);
	assert_true(f->pub.probe[0]); /* sent before, outcome unknown */
	assert_int_equal(wfx_job(f, id).attempts, 2);
	t = f->now;
	pub_finish(f, OUT_ERROR, "registry answered 500", -1);
	j = wfx_job(f, id);
	assert_int_equal(j.state, JOB_FAILED);
	assert_int_equal(j.next_run_ms, t + 1700);

	/* the third failure of three attempts */
	f->now = j.next_run_ms;
	wfx_tick(f);
	assert_int_equal(f->pub.starts, 3);
	assert_int_equal(wfx_job(f, id).attempts, 3);
	pub_finish(f, OUT_UNAVAILABLE, "rate limited", 60);
	j = wfx_job(f, id);
	assert_int_equal(j.state, JOB_DEAD);
	assert_non_null(strstr(j.last_error, "rate limited (out of attempts: 3)"));
	assert_int_equal(j.outcome, OUT_UNAVAILABLE);
	wfx_free(f);
}

/* Retry-After longer than the backoff sets next_run. */
static void test_retry_after(void **state)
{
	struct wfx *f = wfx_new();
	int64_t id = running_job(f, 3);

	(void)state;
	pub_finish(f, OUT_UNAVAILABLE, "429 Too Many Requests", 60);
	assert_int_equal(wfx_job(f, id).next_run_ms, T0 + 60000);
	assert_int_equal(wfx_upload(f, id, one[0]).state,
			 UPLOAD_PENDING); /* never sent */
	wfx_free(f);
}

/* A permanent refusal: DEAD at once, the file FAILED, the spool kept for
 * `job retry`. */
static void test_conflict_is_dead(void **state)
{
	struct wfx *f = wfx_new();
	int64_t id = running_job(f, 3);
	struct job j;

	(void)state;
	assert_int_equal(pub_send(f, 0), 0);
	pub_file(f, 0, OUT_CONFLICT, "conflict: another file holds pkg 1.0.0");
	pub_finish(f, OUT_CONFLICT, "another file holds pkg 1.0.0", -1);
	j = wfx_job(f, id);
	assert_int_equal(j.state, JOB_DEAD);
	assert_int_equal(j.attempts, 1);
	assert_int_equal(j.outcome, OUT_CONFLICT);
	assert_int_equal(wfx_upload(f, id, one[0]).state, UPLOAD_FAILED);
	assert_true(exists(f->pub.files[0]));
	wfx_free(f);
}

/* The lease ran out and another worker claimed the job: this worker's
 * write is refused, it stops without settling, and the job stays with its
 * new owner. */
static void test_fenced_write_refused(void **state)
{
	struct wfx *f = wfx_new();
	int64_t id = running_job(f, 3);
	struct job other[1], j;
	size_t before;

	(void)state;
	f->now += LEASE_MS + 1;
	assert_int_equal(
	    f->q->ops->claim(f->q, "elsewhere:1", f->now, LEASE_MS, 0, other, 1), 1);
	job_clear(&other[0]);
	before = f->nheard;
	assert_int_equal(pub_send(f, 0), AOS_EFENCED);
	assert_int_equal(wfx_upload(f, id, one[0]).state, UPLOAD_PENDING);
	pub_finish(f, OUT_UNAVAILABLE, "the send was stopped", -1);
	j = wfx_job(f, id);
	assert_int_equal(j.state, JOB_RUNNING);
	assert_string_equal(j.lease_owner, "elsewhere:1");
	assert_int_equal(j.fence, other[0].fence);
	assert_int_equal(j.attempts, 2);
	assert_int_equal(f->nheard, before); /* no job_changed: nothing recorded */
	assert_int_equal(worker_running(f->w), 0);
	wfx_free(f);
}

/* Heartbeats renew the lease from the injected clock; a canceled job's
 * next heartbeat stops its publish. */
static void test_heartbeat(void **state)
{
	struct wfx *f = wfx_new();
	int64_t id = running_job(f, 3);

	(void)state;
	assert_true(uv_is_active((uv_handle_t *)&f->w->runs->heartbeat));
	f->now += LEASE_MS / 3;
	worker__heartbeat(&f->w->runs->heartbeat);
	wfx_settle(f);
	assert_int_equal(wfx_job(f, id).lease_expires_ms, f->now + LEASE_MS);
	assert_int_equal(f->q->ops->cancel(f->q, id, "by the test", f->now), 0);
	worker__heartbeat(&f->w->runs->heartbeat);
	assert_int_equal(f->pub.aborts, 0); /* the answer comes on the loop */
	wfx_settle(f);
	assert_int_equal(f->pub.aborts, 1);
	assert_false(f->pub.running);
	assert_int_equal(worker_running(f->w), 0);
	assert_int_equal(wfx_job(f, id).state, JOB_CANCELED);
	wfx_free(f);
}

/* Whether the worker's status names host as drained ("" the fleet). */
static bool status_drained(struct worker *w, const char *host)
{
	cJSON *st = worker_status_json(w);
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(st, "drained"), *h;
	bool found = false;

	if (host[0] == '\0') {
		found = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "fleet"));
	} else {
		cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(d, "hosts"))
		    found = found || strcmp(cJSON_GetStringValue(h), host) == 0;
	}
	cJSON_Delete(st);
	return found;
}

/* Stopping (the daemon's stop) keeps this process from claiming, and
 * starting again lets it claim; an older version's drain (the marker
 * <state_dir>/draining) is moved into the queue as this host's drain at
 * the next start, before its first claim, and the file removed. */
static void test_drain_resume(void **state)
{
	struct wfx *f = wfx_new();
	struct queue_drain d[4];
	struct worker_env env;
	struct worker *w2 = NULL;
	char marker[128];
	int64_t id;

	(void)state;
	snprintf(marker, sizeof(marker), "%s/draining", f->dir);
	worker_set_draining(f->w, true);
	id = wfx_enqueue(f, "pkg", "a", one, 1, 3);
	wfx_tick(f);
	assert_true(worker_draining(f->w));
	assert_int_equal(f->pub.starts, 0);
	assert_int_equal(wfx_job(f, id).state, JOB_QUEUED);
	assert_false(exists(marker));
	worker_set_draining(f->w, false);
	wfx_run(f);
	assert_int_equal(f->pub.starts, 1);
	pub_finish(f, OUT_PUBLISHED, NULL, -1);

	wfx_write(marker, "");
	env = f->w->env;
	assert_int_equal(worker_new(&env, f->qa, &w2), 0);
	assert_true(worker_draining(w2)); /* before it is moved: as before */
	worker_start(w2);
	wfx_settle(f);
	assert_false(exists(marker));
	assert_int_equal(f->q->ops->drains(f->q, d, 4), 1);
	assert_string_equal(d[0].host, worker_host(w2));
	assert_true(worker_draining(w2));
	assert_true(status_drained(w2, worker_host(w2)));
	worker_close(w2);
	wfx_settle(f);
	wfx_free(f);
}

/* The drains kept in the queue: this host's or the fleet's stop its
 * claims (the queue refuses them) and show in its status within a second;
 * another host's does not; a resume lets the job start. */
static void test_queue_drains(void **state)
{
	struct wfx *f = wfx_new();
	const char *host = worker_host(f->w);
	int64_t id;

	(void)state;
	assert_true(host[0] != '\0');
	assert_int_equal(f->q->ops->drain_set(f->q, host, true, f->now), 1);
	id = wfx_enqueue(f, "pkg", "a", one, 1, 3);
	f->now += 1000;
	wfx_tick(f);
	assert_int_equal(wfx_job(f, id).state, JOB_QUEUED);
	assert_int_equal(f->pub.starts, 0);
	assert_true(worker_draining(f->w));
	assert_true(status_drained(f->w, host));

	/* the fleet's too, once this host's ends */
	assert_int_equal(f->q->ops->drain_set(f->q, NULL, true, f->now), 1);
	assert_int_equal(f->q->ops->drain_set(f->q, host, false, f->now), 1);
	f->now += 1000;
	wfx_tick(f);
	assert_int_equal(wfx_job(f, id).state, JOB_QUEUED);
	assert_true(worker_draining(f->w));
	assert_true(status_drained(f->w, ""));
	assert_false(status_drained(f->w, host));

	/* another host's drain leaves this one claiming */
	assert_int_equal(f->q->ops->drain_set(f->q, "another-host", true, f->now), 1);
	assert_int_equal(f->q->ops->drain_set(f->q, NULL, false, f->now), 1);
	f->now += 1000;
	wfx_tick(f);
	wfx_tick(f); /* the resumed worker looks again at once */
	assert_int_equal(f->pub.starts, 1);
	assert_false(worker_draining(f->w));
	assert_true(status_drained(f->w, "another-host"));
	pub_finish(f, OUT_PUBLISHED, NULL, -1);
	wfx_free(f);
}

/* No claim before the secret was read; a token missing from a secret that
 * was read is a dead job (an operator must add it); Vault failing leaves
 * the job queued without spending the attempt. */
static void test_tokens(void **state)
{
	struct wfx *f = wfx_new();
	int64_t id;
	struct job j;

	(void)state;
	f->s->loaded = false;
	id = wfx_enqueue(f, "pkg", "a", one, 1, 3);
	wfx_tick(f);
	assert_int_equal(wfx_job(f, id).state, JOB_QUEUED);
	assert_int_equal(wfx_job(f, id).attempts, 0);

	/* Vault unreachable after a first read: wait 5 s, attempt not spent */
	wfx_tokens(f, NULL, TOK("b"));
	f->s->failures = 1;
	snprintf(f->s->last_error, sizeof(f->s->last_error), "connection refused");
	wfx_tick(f);
	j = wfx_job(f, id);
	assert_int_equal(j.state, JOB_QUEUED);
	assert_int_equal(j.attempts, 0);
	assert_int_equal(j.next_run_ms, T0 + 5000);
	assert_non_null(strstr(j.wait_reason, "waiting for a token"));
	assert_int_equal(f->pub.starts, 0);

	/* Vault answers, the key is not in the secret */
	f->s->failures = 0;
	f->now = j.next_run_ms;
	wfx_tick(f);
	j = wfx_job(f, id);
	assert_int_equal(j.state, JOB_DEAD);
	assert_int_equal(j.outcome, OUT_AUTH);
	assert_non_null(strstr(j.last_error, "key PYPI_A is not in the Vault secret"));
	assert_int_equal(f->pub.starts, 0);
	wfx_free(f);
}

/* A publish that cannot start is a failed attempt. */
static void test_publish_start_fails(void **state)
{
	struct wfx *f = wfx_new();
	int64_t id;
	struct job j;

	(void)state;
	f->pub.start_rc = -EIO;
	id = wfx_enqueue(f, "pkg", "a", one, 1, 3);
	wfx_tick(f);
	j = wfx_job(f, id);
	assert_int_equal(j.state, JOB_FAILED);
	assert_int_equal(j.next_run_ms, T0 + BACKOFF_MIN);
	assert_non_null(strstr(j.last_error, "fake publish refused to start"));
	assert_int_equal(worker_running(f->w), 0);
	wfx_free(f);
}

/* Stopping: every running job goes back to the queue without counting the
 * attempt; what was being sent stays SENDING (probed at the next run). */
static void test_abort_all(void **state)
{
	struct wfx *f = wfx_new();
	int64_t id = running_job(f, 3);
	struct job j;

	(void)state;
	assert_int_equal(pub_send(f, 0), 0);
	worker_set_draining(f->w, true); /* as a stop does: not claimed again */
	worker_abort_all(f->w, "daemon stopping");
	assert_int_equal(f->pub.aborts, 1);
	assert_int_equal(worker_running(f->w), 1); /* until its end is recorded */
	wfx_settle(f);
	assert_int_equal(worker_running(f->w), 0);
	j = wfx_job(f, id);
	assert_int_equal(j.state, JOB_QUEUED);
	assert_int_equal(j.attempts, 0);
	assert_int_equal(wfx_upload(f, id, one[0]).state, UPLOAD_SENDING);
	wfx_free(f);
}

/* A job whose files were all sent before succeeds without a publish. */
static void test_all_done_before(void **state)
{
	struct wfx *f = wfx_new();
	int64_t id = running_job(f, 3);

	(void)state;
	assert_int_equal(pub_send(f, 0), 0);
	pub_file(f, 0, OUT_PUBLISHED, "published pkg-1.0.0.tar.gz");
	worker_abort_all(f->w, "daemon stopping"); /* the crash before the end */
	wfx_run(f);
	wfx_tick(f);
	assert_int_equal(f->pub.starts, 1);
	assert_int_equal(wfx_job(f, id).state, JOB_SUCCEEDED);
	wfx_free(f);
}

/* ---- the queue's answers: busy, held, fenced ---- */

/* A fixture whose thread's connection answers busy as asked, the worker
 * retrying every millisecond (loop time). */
static struct wfx *busy_new(void)
{
	struct wfx *f = wfx_new();

	f->w->later_ms = 1;
	return f;
}

/* Runs the loop until the writes made are done or given up. */
static void run_until_written(struct wfx *f)
{
	while (f->w->writes != NULL)
		uv_run(&f->loop, UV_RUN_ONCE);
}

/* A finish refused busy twice is kept and made on the third try: the job
 * succeeds, its spool goes, and the hook hears of it only then. */
static void test_busy_finish_retried(void **state)
{
	struct wfx *f = busy_new();
	int64_t id = running_job(f, 3);
	char spool[300];

	(void)state;
	snprintf(spool, sizeof(spool), "%s/spool/pkg", f->dir);
	assert_int_equal(pub_send(f, 0), 0);
	pub_file(f, 0, OUT_PUBLISHED, "published pkg-1.0.0.tar.gz (10 bytes)");
	fake.finish = 2;
	fake_mark();
	pub_finish(f, OUT_PUBLISHED, NULL, -1);
	assert_int_equal(wfx_job(f, id).state, JOB_RUNNING); /* not yet */
	assert_int_equal(f->nheard, 1);			     /* the upload only */
	run_until_written(f);
	assert_string_equal(fake.calls, "fff");
	assert_int_equal(wfx_job(f, id).state, JOB_SUCCEEDED);
	assert_false(exists(spool));
	assert_int_equal(f->nheard, 2);
	assert_string_equal(f->heard[1], "changed 1");
	wfx_free(f);
}

/* An upload's state refused busy is kept, and the finish after it waits
 * behind it: the upload is DONE before the job is recorded as ended. */
static void test_busy_writes_in_order(void **state)
{
	struct wfx *f = busy_new();
	int64_t id = running_job(f, 3);

	(void)state;
	assert_int_equal(pub_send(f, 0), 0);
	fake.upload = 1;
	fake_mark();
	f->w->later_ms = 60000; /* tried again when the test says */
	pub_file(f, 0, OUT_PUBLISHED, "published pkg-1.0.0.tar.gz (10 bytes)");
	pub_finish(f, OUT_PUBLISHED, NULL, -1);
	assert_string_equal(fake.calls, "u");	   /* the finish waits its turn */
	assert_int_equal(worker_running(f->w), 1); /* its end is not recorded */
	assert_int_equal(wfx_job(f, id).state, JOB_RUNNING);
	uv_timer_start(&f->w->later_timer, worker__write_later, 0, 0);
	run_until_written(f);
	assert_string_equal(fake.calls, "uuf");
	assert_int_equal(wfx_upload(f, id, one[0]).state, UPLOAD_DONE);
	assert_int_equal(wfx_job(f, id).state, JOB_SUCCEEDED);
	wfx_free(f);
}

/* Tries are bounded: a finish busy every time is given up after
 * WORKER_WRITE_TRIES (logged as before; the job stays running for the
 * next start's release_owner). */
static void test_busy_finish_bounded(void **state)
{
	struct wfx *f = busy_new();
	int64_t id = running_job(f, 3);

	(void)state;
	fake.finish = 1000;
	fake_mark();
	pub_finish(f, OUT_UNAVAILABLE, "registry answered 503", -1);
	run_until_written(f);
	assert_int_equal(fake.ncalls, WORKER_WRITE_TRIES);
	assert_int_equal(wfx_job(f, id).state, JOB_RUNNING);
	wfx_free(f);
}

/* A heartbeat refused busy is tried again soon, not a whole period later. */
static void test_busy_heartbeat_retried(void **state)
{
	struct wfx *f = busy_new();
	int64_t id = running_job(f, 3);
	uv_timer_t *hb = &f->w->runs->heartbeat;

	(void)state;
	fake.heartbeat = 1;
	fake_mark();
	f->now += LEASE_MS / 3;
	worker__heartbeat(hb);
	wfx_settle(f);
	assert_int_equal(wfx_job(f, id).lease_expires_ms, T0 + LEASE_MS); /* not yet */
	assert_true(uv_timer_get_due_in(hb) <= 1);
	assert_int_equal(uv_timer_get_repeat(hb), LEASE_MS / 3);
	while (fake.ncalls < 2 || queue_async_pending(f->qa) > 0)
		uv_run(&f->loop, UV_RUN_ONCE);
	assert_int_equal(wfx_job(f, id).lease_expires_ms, f->now + LEASE_MS);
	wfx_free(f);
}

/* ---- completions: fencing, order, the loop never waits ---- */

/* The lease ran out and another worker took the job over: the heartbeat's
 * answer, AOS_EFENCED through its completion, stops the publish and the
 * run; nothing is recorded for the job. */
static void test_heartbeat_fenced(void **state)
{
	struct wfx *f = wfx_new();
	int64_t id = running_job(f, 3);
	struct job other[1];
	size_t before = f->nheard;

	(void)state;
	f->now += LEASE_MS + 1;
	assert_int_equal(
	    f->q->ops->claim(f->q, "elsewhere:1", f->now, LEASE_MS, 0, other, 1), 1);
	job_clear(&other[0]);
	worker__heartbeat(&f->w->runs->heartbeat);
	assert_true(f->pub.running); /* the answer is not back yet */
	wfx_settle(f);
	assert_false(f->pub.running);
	assert_int_equal(f->pub.aborts, 1);
	assert_int_equal(worker_running(f->w), 0);
	assert_string_equal(wfx_job(f, id).lease_owner, "elsewhere:1");
	assert_int_equal(f->nheard, before);
	wfx_free(f);
}

/* The finish itself is refused AOS_EFENCED (taken over between the last
 * upload and the end): nothing heard of the job, its spool kept for its
 * new owner, and the worker no longer counts it. */
static void test_finish_fenced(void **state)
{
	struct wfx *f = wfx_new();
	int64_t id = running_job(f, 3);
	struct job other[1];
	char spool[300];
	size_t before;

	(void)state;
	snprintf(spool, sizeof(spool), "%s/spool/pkg", f->dir);
	assert_int_equal(pub_send(f, 0), 0);
	pub_file(f, 0, OUT_PUBLISHED, "published pkg-1.0.0.tar.gz (10 bytes)");
	before = f->nheard;
	f->now += LEASE_MS + 1;
	assert_int_equal(
	    f->q->ops->claim(f->q, "elsewhere:1", f->now, LEASE_MS, 0, other, 1), 1);
	job_clear(&other[0]);
	fake_mark();
	pub_finish(f, OUT_PUBLISHED, NULL, -1);
	assert_string_equal(fake.calls, "f");
	assert_int_equal(wfx_job(f, id).state, JOB_RUNNING);
	assert_string_equal(wfx_job(f, id).lease_owner, "elsewhere:1");
	assert_int_equal(f->nheard, before); /* no job_changed */
	assert_true(exists(spool));
	assert_int_equal(worker_running(f->w), 0);
	wfx_free(f);
}

static int64_t ready_id;
static enum upload_state state_at_ready;

static void note_state(struct wfx *f, size_t i, int rc)
{
	(void)i;
	(void)rc;
	state_at_ready = wfx_upload(f, ready_id, one[0]).state;
}

static void count_turn(uv_idle_t *h)
{
	(*(unsigned *)h->data)++;
}

/* Runs the loop for a few turns (an idle handle counts them: the loop does
 * not wait for anything), however long the queue's thread is held. */
static void run_turns(struct wfx *f, unsigned n)
{
	uv_idle_t idle;
	unsigned turns = 0;

	assert_int_equal(uv_idle_init(&f->loop, &idle), 0);
	idle.data = &turns;
	assert_int_equal(uv_idle_start(&idle, count_turn), 0);
	while (turns < n)
		uv_run(&f->loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&idle, NULL);
	uv_run(&f->loop, UV_RUN_NOWAIT);
}

/* The first byte waits for the SENDING mark: while its write is held on
 * the database thread the loop runs and the publish is not told to send;
 * once the write completes it is, and the mark is in the store by then. */
static void test_sending_committed_first(void **state)
{
	struct wfx *f = wfx_new();

	(void)state;
	ready_id = running_job(f, 3);
	state_at_ready = UPLOAD_PENDING;
	f->on_ready = note_state;
	wfx_hold('u');
	f->pub.ready_rc[0] = 1;
	assert_int_equal(f->pub.hooks.sending(f->pub.hooks.data, 0), PUBLISH_SEND_LATER);
	wfx_wait_held();
	run_turns(f, 3);
	assert_int_equal(f->pub.readies, 0); /* not a byte yet */
	assert_int_equal(wfx_upload(f, ready_id, one[0]).state, UPLOAD_PENDING);
	wfx_release();
	wfx_settle(f);
	assert_int_equal(f->pub.readies, 1);
	assert_int_equal(f->pub.ready_rc[0], 0);
	assert_int_equal(state_at_ready, UPLOAD_SENDING);
	wfx_free(f);
}

/* publish retries a file whose first transfer failed after its SENDING
 * mark was committed and bytes went out; the retry's mark is refused
 * (busy: not tried again).  The file then ends without an answer: its
 * upload must stay SENDING (the registry is asked before the next send),
 * not go back to PENDING, which would resend without asking (found by
 * review: sent[] was overwritten by the second mark's refusal). */
static void test_second_mark_refused_stays_sending(void **state)
{
	struct wfx *f = wfx_new();
	int64_t id;

	(void)state;
	id = running_job(f, 3);
	f->pub.ready_rc[0] = 1;
	assert_int_equal(f->pub.hooks.sending(f->pub.hooks.data, 0), PUBLISH_SEND_LATER);
	wfx_settle(f);
	assert_int_equal(f->pub.ready_rc[0], 0); /* sent */
	assert_int_equal(wfx_upload(f, id, one[0]).state, UPLOAD_SENDING);
	fake.upload = 1; /* the retry's mark: -EBUSY once */
	f->pub.ready_rc[0] = 1;
	assert_int_equal(f->pub.hooks.sending(f->pub.hooks.data, 0), PUBLISH_SEND_LATER);
	wfx_settle(f);
	assert_true(f->pub.ready_rc[0] < 0); /* not sent this time */
	f->pub.hooks.file_done(f->pub.hooks.data, 0, OUT_ERROR, "connection reset");
	wfx_settle(f);
	assert_int_equal(wfx_upload(f, id, one[0]).state, UPLOAD_SENDING);
	wfx_free(f);
}

/* A claim while a write is held on the database thread: the tick posts it
 * and returns, the loop goes on turning; the claim runs after the held
 * finish (FIFO), so the next job starts only once the first one's end is
 * recorded. */
static void test_claim_while_write_held(void **state)
{
	struct wfx *f = wfx_new();
	int64_t id = running_job(f, 3), id2;
	const char *heard[2];
	char changed[64];

	(void)state;
	wfx_hold('f');
	f->pub.running = false;
	f->pub.hooks.finished(f->pub.hooks.data, OUT_PUBLISHED, NULL, -1, NULL);
	wfx_wait_held();
	id2 = wfx_enqueue(f, "pkg2", "a", one, 1, 3);
	worker_kick(f->w);
	run_turns(f, 3);
	assert_true(f->w->claiming); /* posted, behind the finish */
	assert_int_equal(worker_running(f->w), 1);
	assert_int_equal(wfx_job(f, id).state, JOB_RUNNING);
	assert_int_equal(wfx_job(f, id2).state, JOB_QUEUED);
	assert_int_equal(f->pub.starts, 1);
	assert_int_equal(f->nheard, 0);
	wfx_release();
	wfx_settle(f);
	assert_int_equal(wfx_job(f, id).state, JOB_SUCCEEDED);
	assert_int_equal(wfx_job(f, id2).state, JOB_RUNNING);
	assert_int_equal(f->pub.starts, 2);
	snprintf(changed, sizeof(changed), "changed %lld", (long long)id);
	heard[0] = changed;
	heard[1] = NULL;
	wfx_assert_heard(f, heard);
	wfx_free(f);
}

/* New log lines are told from the completions of the writes that add them
 * (the claim, a line, the finish), on the loop (hook_logged asserts the
 * thread), after the commit. */
static void test_logged_from_completions(void **state)
{
	struct wfx *f = wfx_new();
	const char *want[6] = {"logged 1",  "upload a published sends=1 bytes=10",
			       "logged 1",  "logged 1",
			       "changed 1", NULL};

	(void)state;
	f->hear_logged = true;
	assert_int_equal(running_job(f, 3), 1);
	assert_int_equal(pub_send(f, 0), 0);
	pub_file(f, 0, OUT_PUBLISHED, "published pkg-1.0.0.tar.gz (10 bytes)");
	pub_finish(f, OUT_PUBLISHED, NULL, -1);
	wfx_assert_heard(f, want);
	wfx_free(f);
}

/* At its start the worker returns what this host's previous process left
 * running (release_owner of "<hostname>:"), and only then claims: the job
 * is taken at once, not after its lease runs out, its attempt not
 * counted twice. */
static void test_release_at_start(void **state)
{
	struct wfx *f = wfx_new();
	struct worker_env env = f->w->env;
	char old[sizeof(f->w->owner) + 8];
	struct job got[1], j;
	int64_t id;

	(void)state;
	snprintf(old, sizeof(old), "%.*s1",
		 (int)(strchr(f->w->owner, ':') - f->w->owner) + 1, f->w->owner);
	worker_close(f->w);
	wfx_settle(f);
	id = wfx_enqueue(f, "pkg", "a", one, 1, 3);
	assert_int_equal(f->q->ops->claim(f->q, old, f->now, LEASE_MS, 0, got, 1), 1);
	job_clear(&got[0]);
	assert_int_equal(worker_new(&env, f->qa, &f->w), 0);
	f->w->io = &f->io;
	worker_start(f->w);
	wfx_settle(f);
	wfx_run(f);
	j = wfx_job(f, id);
	assert_int_equal(j.state, JOB_RUNNING);
	assert_string_equal(j.lease_owner, f->w->owner);
	assert_int_equal(j.attempts, 1);
	assert_int_equal(f->pub.starts, 1);
	wfx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_publish_succeeds),
	    cmocka_unit_test(test_retry_backoff_dead),
	    cmocka_unit_test(test_retry_after),
	    cmocka_unit_test(test_conflict_is_dead),
	    cmocka_unit_test(test_fenced_write_refused),
	    cmocka_unit_test(test_heartbeat),
	    cmocka_unit_test(test_drain_resume),
	    cmocka_unit_test(test_queue_drains),
	    cmocka_unit_test(test_tokens),
	    cmocka_unit_test(test_publish_start_fails),
	    cmocka_unit_test(test_abort_all),
	    cmocka_unit_test(test_all_done_before),
	    cmocka_unit_test(test_busy_finish_retried),
	    cmocka_unit_test(test_busy_writes_in_order),
	    cmocka_unit_test(test_busy_finish_bounded),
	    cmocka_unit_test(test_busy_heartbeat_retried),
	    cmocka_unit_test(test_heartbeat_fenced),
	    cmocka_unit_test(test_finish_fenced),
	    cmocka_unit_test(test_sending_committed_first),
	    cmocka_unit_test(test_second_mark_refused_stays_sending),
	    cmocka_unit_test(test_claim_while_write_held),
	    cmocka_unit_test(test_logged_from_completions),
	    cmocka_unit_test(test_release_at_start),
	};

	return cmocka_run_group_tests(tests, wfx_setup, NULL);
}
