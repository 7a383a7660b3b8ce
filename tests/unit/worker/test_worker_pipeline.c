/* Unit tests for agent/worker/worker_pipeline.c's upload phase: a pipeline
 * job whose artifacts were recorded publishes to its targets in their
 * recorded order, each target only after the one before succeeded, and a
 * later attempt starts at the first target with files left.  Through the
 * worker's seam (worker_fixture.h); the build phase runs in the
 * integration tests (it needs git and the sandbox). */
#include "worker_fixture.h"

#define WHEEL "aos_sdk-1.0.0-py3-none-any.whl"

/* A pipeline job of package aos-sdk, tag v1.0.0, built already: one wheel
 * recorded for targets a then b. */
static int64_t enqueue_built(struct wfx *f)
{
	struct job_upload ups[2];
	struct job_new jn = {.kind = JOB_PIPELINE,
			     .idem_key = "pipeline:py:v1.0.0",
			     .registry = "pipeline:py",
			     .package = "aos-sdk",
			     .max_attempts = 3,
			     .uploads = ups,
			     .nuploads = 2};
	char *inputs;
	int64_t id = 0;
	int i;

	memset(ups, 0, sizeof(ups));
	for (i = 0; i < 2; i++) {
		snprintf(ups[i].filename, sizeof(ups[i].filename), "%s/" WHEEL,
			 i == 0 ? "a" : "b");
		snprintf(ups[i].registry, sizeof(ups[i].registry), "%s",
			 i == 0 ? "a" : "b");
		memset(ups[i].sha256, 'c', 64);
	}
	assert_true(
	    asprintf(&inputs,
		     "{\"pipeline\":\"py\",\"tag\":\"v1.0.0\",\"version\":\"1.0.0\","
		     "\"commit\":\"0123456789abcdef0123456789abcdef01234567\","
		     "\"files\":[{\"path\":\"%s\",\"filename\":\"" WHEEL "\"}],"
		     "\"targets\":[\"a\",\"b\"]}",
		     wfx_spooled(f, "pipeline-1", WHEEL, "wheel bytes")) > 0);
	jn.inputs = inputs;
	assert_int_equal(f->q->ops->enqueue(f->q, &jn, f->now, &id), 0);
	free(inputs);
	return id;
}

/* Sends file 0 of the running publish and ends it published. */
static void publish_ok(struct wfx *f)
{
	assert_int_equal(pub_send(f, 0), 0);
	pub_file(f, 0, OUT_PUBLISHED, "published " WHEEL);
	pub_finish(f, OUT_PUBLISHED, NULL, -1);
}

/* Target a, then b; the job succeeds only after b. */
static void test_targets_in_order(void **state)
{
	struct wfx *f = wfx_new();
	int64_t id = enqueue_built(f);
	const char *want[4];
	char changed[64];

	(void)state;
	wfx_tick(f);
	assert_int_equal(f->pub.starts, 1);
	assert_string_equal(f->pub.registry, "a");
	assert_string_equal(f->pub.version, "1.0.0");
	assert_int_equal(f->pub.nfiles, 1);
	assert_non_null(strstr(f->pub.files[0], "/spool/pipeline-1/" WHEEL));
	publish_ok(f);
	/* a succeeded: b starts at once, the job still runs */
	assert_int_equal(f->pub.starts, 2);
	assert_true(f->pub.running);
	assert_string_equal(f->pub.registry, "b");
	assert_int_equal(wfx_job(f, id).state, JOB_RUNNING);
	assert_int_equal(wfx_upload(f, id, "a/" WHEEL).state, UPLOAD_DONE);
	assert_int_equal(wfx_upload(f, id, "b/" WHEEL).state, UPLOAD_PENDING);
	publish_ok(f);
	assert_int_equal(wfx_job(f, id).state, JOB_SUCCEEDED);
	assert_int_equal(wfx_upload(f, id, "b/" WHEEL).state, UPLOAD_DONE);
	snprintf(changed, sizeof(changed), "changed %lld", (long long)id);
	want[0] = "upload a published sends=1 bytes=11";
	want[1] = "upload b published sends=1 bytes=11";
	want[2] = changed;
	want[3] = NULL;
	wfx_assert_heard(f, want);
	wfx_free(f);
}

/* b fails: the job retries, and the next attempt goes straight to b (a
 * holds the file already). */
static void test_retry_resumes_at_next_target(void **state)
{
	struct wfx *f = wfx_new();
	int64_t id = enqueue_built(f);
	struct job j;

	(void)state;
	wfx_tick(f);
	publish_ok(f);
	assert_string_equal(f->pub.registry, "b");
	pub_finish(f, OUT_UNAVAILABLE, "b answered 503", -1);
	j = wfx_job(f, id);
	assert_int_equal(j.state, JOB_FAILED);
	assert_int_equal(j.next_run_ms, f->now + BACKOFF_MIN);
	f->now = j.next_run_ms;
	wfx_tick(f);
	assert_int_equal(f->pub.starts, 3);
	assert_string_equal(f->pub.registry, "b");
	publish_ok(f);
	assert_int_equal(wfx_job(f, id).state, JOB_SUCCEEDED);
	assert_int_equal(f->pub.starts, 3);
	wfx_free(f);
}

/* A target that left the configuration ends the job: it cannot be sent. */
static void test_target_gone(void **state)
{
	struct wfx *f = wfx_new();
	int64_t id = enqueue_built(f);
	struct job j;

	(void)state;
	wfx_tick(f);
	assert_string_equal(f->cfg->registries[1].name, "b");
	free(f->cfg->registries[1].name); /* b is renamed by a reload */
	f->cfg->registries[1].name = strdup("c");
	assert_non_null(f->cfg->registries[1].name);
	publish_ok(f);
	j = wfx_job(f, id);
	assert_int_equal(j.state, JOB_DEAD);
	assert_non_null(
	    strstr(j.last_error, "registry b is no longer in the configuration"));
	assert_int_equal(f->pub.starts, 1);
	wfx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_targets_in_order),
	    cmocka_unit_test(test_retry_resumes_at_next_target),
	    cmocka_unit_test(test_target_gone),
	};

	return cmocka_run_group_tests(tests, wfx_setup, NULL);
}
