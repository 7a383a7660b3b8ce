/* Unit tests for agent/daemon/metrics.c: what the hooks feed comes out as
 * the samples documented in operations.md, label values stay bounded (the
 * 64th new registry name and those after it count as "other"), and a
 * rotation is picked up once per new version. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "daemon/metrics.h"

/* The rendered value of one sample line "series value", or -1. */
static double value_of(struct metrics *m, const char *series)
{
	struct buf b;
	const char *p;
	double v = -1;
	size_t n = strlen(series);

	buf_init(&b, METRICS_TEXT_MAX);
	assert_int_equal(metrics_render(m, NULL, NULL, 0, &b), 0);
	for (p = b.data; p != NULL; p = strchr(p, '\n'), p = p != NULL ? p + 1 : NULL) {
		if (strncmp(p, series, n) == 0 && p[n] == ' ') {
			v = strtod(p + n + 1, NULL);
			break;
		}
	}
	buf_free(&b);
	return v;
}

static void test_jobs(void **state)
{
	struct metrics *m;
	struct job j = {.kind = JOB_PIPELINE, .created_ms = 1000, .updated_ms = 31000};

	(void)state;
	assert_int_equal(metrics_new(&m), 0);
	j.state = JOB_FAILED;
	metrics_job_changed(m, &j);
	metrics_job_changed(m, &j);
	j.state = JOB_QUEUED; /* released waiting for a token: nothing */
	metrics_job_changed(m, &j);
	j.state = JOB_DEAD;
	metrics_job_changed(m, &j);
	assert_true(value_of(m, "aos_job_retries_total{kind=\"pipeline\"}") == 2);
	assert_true(value_of(m, "aos_job_retries_total{kind=\"publish\"}") == 0);
	assert_true(value_of(m, "aos_job_duration_seconds_count{kind=\"pipeline\","
				"outcome=\"dead\"}") == 1);
	assert_true(value_of(m, "aos_job_duration_seconds_sum{kind=\"pipeline\","
				"outcome=\"dead\"}") == 30);
	assert_true(value_of(m, "aos_job_duration_seconds_bucket{kind=\"pipeline\","
				"outcome=\"dead\",le=\"15\"}") == 0);
	assert_true(value_of(m, "aos_job_duration_seconds_bucket{kind=\"pipeline\","
				"outcome=\"dead\",le=\"60\"}") == 1);
	metrics_free(m);
}

static void test_uploads_and_steps(void **state)
{
	struct metrics *m;
	struct worker_upload_stat u = {.registry = "pypi",
				       .outcome = OUT_PUBLISHED,
				       .bytes = 1234,
				       .seconds = 0.7,
				       .sends = 3};

	(void)state;
	assert_int_equal(metrics_new(&m), 0);
	metrics_upload(m, &u);
	u = (struct worker_upload_stat){.registry = "pypi",
					.outcome = OUT_EXISTS,
					.seconds = -1}; /* found, never sent */
	metrics_upload(m, &u);
	assert_true(value_of(m, "aos_uploaded_bytes_total{registry=\"pypi\"}") == 1234);
	assert_true(value_of(m, "aos_upload_retries_total{registry=\"pypi\"}") == 2);
	assert_true(value_of(m, "aos_upload_duration_seconds_count{registry=\"pypi\"}") ==
		    1);
	assert_true(value_of(m, "aos_registry_answers_total{registry=\"pypi\","
				"outcome=\"exists\"}") == 1);
	assert_true(value_of(m, "aos_registry_answers_total{registry=\"pypi\","
				"outcome=\"conflict\"}") == 0);

	metrics_step(m, "py", "checkout", "ok", 1.5);
	metrics_step(m, "py", "build", "timeout", 600);
	metrics_step(m, "py", "build", "no-such-result", 1); /* not counted */
	assert_true(value_of(m, "aos_build_steps_total{pipeline=\"py\",step=\"build\","
				"result=\"timeout\"}") == 1);
	assert_true(value_of(m, "aos_build_step_duration_seconds_count{pipeline=\"py\","
				"step=\"build\"}") == 1);
	assert_true(value_of(m, "aos_build_step_duration_seconds_sum{pipeline=\"py\","
				"step=\"checkout\"}") == 1.5);
	metrics_free(m);
}

static void test_names_bounded(void **state)
{
	struct metrics *m;
	struct worker_upload_stat u = {
	    .outcome = OUT_PUBLISHED, .bytes = 1, .seconds = 1};
	char name[32];
	int i;

	(void)state;
	assert_int_equal(metrics_new(&m), 0);
	for (i = 0; i < METRICS_NAMES_MAX + 10; i++) {
		snprintf(name, sizeof(name), "reg%d", i);
		u.registry = name;
		metrics_upload(m, &u);
	}
	u.registry = "reg0"; /* a name already known keeps its own series */
	metrics_upload(m, &u);
	assert_true(value_of(m, "aos_uploaded_bytes_total{registry=\"reg0\"}") == 2);
	assert_true(value_of(m, "aos_uploaded_bytes_total{registry=\"reg62\"}") == 1);
	assert_true(value_of(m, "aos_uploaded_bytes_total{registry=\"reg63\"}") == -1);
	assert_true(value_of(m, "aos_uploaded_bytes_total{registry=\"other\"}") == 11);
	metrics_free(m);
}

static void test_deliveries_and_pickup(void **state)
{
	struct metrics *m;

	(void)state;
	assert_int_equal(metrics_new(&m), 0);
	metrics_delivery(m, FORGE_GITLAB, MD_ACCEPTED);
	metrics_delivery(m, FORGE__COUNT, MD_REJECTED);
	metrics_delivery(m, FORGE__COUNT + 1, MD_REJECTED); /* out of range: ignored */
	assert_true(value_of(m, "aos_webhook_deliveries_total{forge=\"gitlab\","
				"outcome=\"accepted\"}") == 1);
	assert_true(value_of(m, "aos_webhook_deliveries_total{forge=\"unknown\","
				"outcome=\"rejected\"}") == 1);
	metrics_commit(m, 0.003);
	assert_true(
	    value_of(m, "aos_queue_commit_duration_seconds_bucket{le=\"0.005\"}") == 1);

	/* No sample before the secret was loaded. */
	assert_true(value_of(m, "aos_secrets_pickup_timestamp_seconds") == -1);
	metrics_secrets(m, 3, 1700000000000);
	metrics_secrets(m, 3, 1700000099000); /* the same version: no pick-up */
	assert_true(value_of(m, "aos_secrets_pickup_timestamp_seconds") == 1700000000);
	metrics_secrets(m, 4, 1700000100000);
	assert_true(value_of(m, "aos_secrets_pickup_timestamp_seconds") == 1700000100);
	metrics_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_jobs),
	    cmocka_unit_test(test_uploads_and_steps),
	    cmocka_unit_test(test_names_bounded),
	    cmocka_unit_test(test_deliveries_and_pickup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
