/* Unit tests for the queue's group commit (enqueue_many: per-job results,
 * duplicates of stored jobs and within the batch, one transaction, all or
 * nothing on a store failure) and set_artifacts (fenced, uploads with their
 * own registry, inputs replaced), on the SQLite backend. */
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
#include <sqlite3.h>

#include "common/err.h"
#include "queue/queue.h"
#include "queue/queue_sqlite_internal.h"
#include "tests/unit/queue/queue_fixture.h"

static struct job_new pjob(const char *key, const char *package)
{
	struct job_new j = {
	    .kind = JOB_PIPELINE,
	    .idem_key = key,
	    .registry = "pipeline:py",
	    .package = package,
	    .inputs = "{\"tag\":\"v1\"}",
	    .max_attempts = 4,
	};

	return j;
}

static int count_commit(void *data)
{
	(*(int *)data)++;
	return 0; /* let it commit */
}

static int64_t total_jobs(struct queue *q)
{
	int64_t c[JOB_CANCELED + 1], n = 0;
	int s;

	assert_int_equal(q->ops->counts(q, c), 0);
	for (s = JOB_QUEUED; s <= JOB_CANCELED; s++)
		n += c[s];
	return n;
}

static void test_enqueue_many(void **state)
{
	struct fx *fx = *state;
	struct queue *q = fx->q;
	int64_t old = enqueue(q, "pipeline:py:v0@c0", T0), ids[6];
	struct job_new js[6];
	int rcs[6], commits = 0;
	char desc[512];
	struct job j;

	js[0] = pjob("pipeline:py:v1@c1", "aos-sdk");
	js[1] = pjob("pipeline:py:v0@c0", "aos-sdk"); /* stored already */
	js[2] = pjob("pipeline:py:v2@c2", "aos-sdk");
	js[3] = pjob("pipeline:py:v1@c1", "aos-sdk"); /* twice in the batch */
	js[4] = pjob("", "aos-sdk");		      /* invalid: that job alone */
	js[5] = pjob("pipeline:py:v3@c3", "other");
	sqlite3_commit_hook(((struct queue_sqlite *)q)->db, count_commit, &commits);
	assert_int_equal(q->ops->enqueue_many(q, js, 6, T0 + 5, ids, rcs), 0);
	sqlite3_commit_hook(((struct queue_sqlite *)q)->db, NULL, NULL);
	assert_int_equal(commits, 1); /* one transaction for the batch */

	assert_int_equal(rcs[0], 0);
	assert_int_equal(rcs[1], AOS_EEXIST);
	assert_int_equal(rcs[2], 0);
	assert_int_equal(rcs[3], AOS_EEXIST);
	assert_int_equal(rcs[4], -EINVAL);
	assert_int_equal(rcs[5], 0);
	assert_int_equal(ids[1], old);
	assert_int_equal(ids[3], ids[0]);
	assert_true(ids[0] > old);
	assert_true(ids[2] > ids[0]);
	assert_true(ids[5] > ids[2]);
	assert_int_equal(total_jobs(q), 4);

	assert_int_equal(q->ops->get(q, ids[2], &j), 0);
	snprintf(desc, sizeof(desc),
		 "kind %d state %s key %s registry %s package %s inputs %s "
		 "max %d created +%lld",
		 j.kind, job_state_name(j.state), j.idem_key, j.registry, j.package,
		 j.inputs, j.max_attempts, (long long)(j.created_ms - T0));
	assert_string_equal(
	    desc, "kind 2 state queued key pipeline:py:v2@c2 registry pipeline:py "
		  "package aos-sdk inputs {\"tag\":\"v1\"} max 4 created +5");
	job_clear(&j);
	assert_log_has(q, ids[0], "queued (enqueued: pipeline to pipeline:py");
	/* The stored job is untouched. */
	assert_string_equal(get(q, old).registry, "pypi");

	/* The same batch again: every valid job exists. */
	assert_int_equal(q->ops->enqueue_many(q, js, 6, T0 + 6, ids, rcs), 0);
	assert_int_equal(rcs[0], AOS_EEXIST);
	assert_int_equal(rcs[2], AOS_EEXIST);
	assert_int_equal(rcs[4], -EINVAL);
	assert_int_equal(rcs[5], AOS_EEXIST);
	assert_int_equal(total_jobs(q), 4);

	/* An empty batch commits nothing and succeeds. */
	assert_int_equal(q->ops->enqueue_many(q, js, 0, T0, ids, rcs), 0);
}

/* Per-job errors of every kind leave the rest of the batch alone. */
static void test_enqueue_many_invalid(void **state)
{
	struct fx *fx = *state;
	struct queue *q = fx->q;
	char long_key[JOB_KEY_MAX + 1];
	struct job_new js[5];
	int64_t ids[5];
	int rcs[5];

	memset(long_key, 'k', JOB_KEY_MAX);
	long_key[JOB_KEY_MAX] = '\0';
	js[0] = pjob(long_key, "p");
	js[1] = pjob("ok-1", "p");
	js[2] = pjob("bad-attempts", "p");
	js[2].max_attempts = 0;
	js[3] = pjob("no-package", "");
	js[4] = pjob("bad-kind", "p");
	js[4].kind = (enum job_kind)9;
	assert_int_equal(q->ops->enqueue_many(q, js, 5, T0, ids, rcs), 0);
	assert_int_equal(rcs[0], AOS_ETOOBIG);
	assert_int_equal(rcs[1], 0);
	assert_int_equal(rcs[2], -EINVAL);
	assert_int_equal(rcs[3], -EINVAL);
	assert_int_equal(rcs[4], -EINVAL);
	assert_true(ids[1] > 0);
	assert_int_equal(total_jobs(q), 1);
}

/* A job whose uploads name one file twice is refused as a whole: nothing
 * of it is stored (not the job row, not its first upload), and the rest of
 * the batch is committed. */
static void test_enqueue_many_duplicate_upload(void **state)
{
	struct fx *fx = *state;
	struct queue *q = fx->q;
	struct job_upload ups[2] = {0};
	struct job_new js[2];
	int64_t ids[2], id = 0;
	int rcs[2];

	snprintf(ups[0].filename, sizeof(ups[0].filename), "a.whl");
	snprintf(ups[0].sha256, sizeof(ups[0].sha256), SHA_A);
	snprintf(ups[1].filename, sizeof(ups[1].filename), "a.whl");
	snprintf(ups[1].sha256, sizeof(ups[1].sha256), SHA_B);
	js[0] = pjob("dup-files", "p");
	js[0].kind = JOB_PUBLISH;
	js[0].uploads = ups;
	js[0].nuploads = 2;
	js[1] = pjob("fine", "q");
	assert_int_equal(q->ops->enqueue_many(q, js, 2, T0, ids, rcs), 0);
	assert_int_equal(rcs[0], -EINVAL);
	assert_int_equal(rcs[1], 0);
	assert_int_equal(total_jobs(q), 1);
	/* Its key is free: enqueue() alone refuses it the same way. */
	assert_int_equal(q->ops->enqueue(q, &js[0], T0, &id), -EINVAL);
	js[0].nuploads = 1;
	assert_int_equal(q->ops->enqueue(q, &js[0], T0, &id), 0);
}

/* A store failure in the middle of a batch commits none of it. */
static void test_enqueue_many_store_failure(void **state)
{
	struct fx *fx = *state;
	struct queue *q = fx->q;
	sqlite3 *db = ((struct queue_sqlite *)q)->db;
	struct job_new js[3];
	int64_t ids[3];
	int rcs[3], r;

	/* abs() of the smallest integer is a run-time error (not a
	 * constraint): the insert of job "boom" fails as a store would. */
	assert_int_equal(
	    sqlite3_exec(db,
			 "CREATE TEMP TRIGGER boom BEFORE INSERT ON main.jobs "
			 "WHEN NEW.idem_key = 'boom' BEGIN "
			 "SELECT abs(-9223372036854775807 - 1); END;",
			 NULL, NULL, NULL),
	    SQLITE_OK);
	js[0] = pjob("first", "p");
	js[1] = pjob("boom", "p");
	js[2] = pjob("third", "p");
	r = q->ops->enqueue_many(q, js, 3, T0, ids, rcs);
	assert_true(r < 0);
	assert_int_not_equal(r, -EINVAL);
	assert_int_equal(total_jobs(q), 0);
	assert_int_equal(sqlite3_get_autocommit(db), 1); /* rolled back, not left open */

	assert_int_equal(sqlite3_exec(db, "DROP TRIGGER boom", NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(q->ops->enqueue_many(q, js, 3, T0, ids, rcs), 0);
	assert_int_equal(rcs[0], 0);
	assert_int_equal(rcs[1], 0);
	assert_int_equal(rcs[2], 0);
	assert_int_equal(total_jobs(q), 3);
}

/* ---- set_artifacts ---- */

static void mkupload(struct job_upload *u, const char *file, const char *registry,
		     const char *sha)
{
	memset(u, 0, sizeof(*u));
	snprintf(u->filename, sizeof(u->filename), "%s", file);
	snprintf(u->registry, sizeof(u->registry), "%s", registry);
	snprintf(u->sha256, sizeof(u->sha256), "%s", sha);
	u->state = UPLOAD_DONE; /* ignored: uploads start pending */
	snprintf(u->answer, sizeof(u->answer), "ignored");
}

static void test_set_artifacts(void **state)
{
	struct fx *fx = *state;
	struct queue *q = fx->q;
	struct job_new jn = pjob("pipeline:py:v1@c1", "aos-sdk");
	struct job_upload ups[3], got[4];
	struct job j, claimed;
	int64_t id = 0;

	assert_int_equal(q->ops->enqueue(q, &jn, T0, &id), 0);
	mkupload(&ups[0], "testpypi/aos_sdk-1-py3-none-any.whl", "testpypi", SHA_A);
	mkupload(&ups[1], "pypi/aos_sdk-1-py3-none-any.whl", "pypi", SHA_A);
	mkupload(&ups[2], "pypi/aos_sdk-1.tar.gz", "pypi", SHA_B);

	/* Not claimed: no lease, no fence. */
	assert_int_equal(q->ops->set_artifacts(q, id, 0, "{}", ups, 3, T0), AOS_EFENCED);
	claimed = claim_one(q, "host:1", T0 + 1);
	assert_int_equal(claimed.id, id);
	/* A wrong fence, or an unknown job, changes nothing. */
	assert_int_equal(
	    q->ops->set_artifacts(q, id, claimed.fence + 1, "{\"x\":1}", ups, 3, T0 + 2),
	    AOS_EFENCED);
	assert_int_equal(
	    q->ops->set_artifacts(q, id + 100, claimed.fence, "{}", ups, 3, T0),
	    AOS_EFENCED);
	assert_int_equal(q->ops->uploads(q, id, got, 4), 0);
	assert_int_equal(q->ops->get(q, id, &j), 0);
	assert_string_equal(j.inputs, "{\"tag\":\"v1\"}");
	job_clear(&j);

	assert_int_equal(q->ops->set_artifacts(q, id, claimed.fence,
					       "{\"tag\":\"v1\",\"artifacts\":3}", ups, 3,
					       T0 + 3),
			 0);
	assert_int_equal(q->ops->uploads(q, id, got, 4), 3);
	assert_string_equal(got[0].filename, "testpypi/aos_sdk-1-py3-none-any.whl");
	assert_string_equal(got[0].registry, "testpypi");
	assert_string_equal(got[1].registry, "pypi");
	assert_string_equal(got[2].filename, "pypi/aos_sdk-1.tar.gz");
	assert_string_equal(got[2].sha256, SHA_B);
	assert_int_equal(got[0].state, UPLOAD_PENDING);
	assert_string_equal(got[0].answer, "");
	assert_int_equal(q->ops->get(q, id, &j), 0);
	assert_string_equal(j.inputs, "{\"tag\":\"v1\",\"artifacts\":3}");
	assert_int_equal(j.state, JOB_RUNNING);
	assert_int_equal(j.fence, claimed.fence);
	job_clear(&j);
	assert_log_has(q, id, "artifacts recorded: 3 uploads");

	/* A file the job has already: refused as a whole. */
	assert_int_equal(q->ops->set_artifacts(q, id, claimed.fence, "{\"again\":1}",
					       &ups[2], 1, T0 + 4),
			 -EINVAL);
	assert_int_equal(q->ops->uploads(q, id, got, 4), 3);
	assert_int_equal(q->ops->get(q, id, &j), 0);
	assert_string_equal(j.inputs, "{\"tag\":\"v1\",\"artifacts\":3}");
	job_clear(&j);
}

static void test_set_artifacts_invalid(void **state)
{
	struct fx *fx = *state;
	struct queue *q = fx->q;
	struct job_new jn = pjob("k", "p");
	struct job_upload u, got[2];
	struct job claimed;
	int64_t id = 0;

	assert_int_equal(q->ops->enqueue(q, &jn, T0, &id), 0);
	claimed = claim_one(q, "host:1", T0);
	mkupload(&u, "a.whl", "pypi", "ABCDEF");
	assert_int_equal(q->ops->set_artifacts(q, id, claimed.fence, "{}", &u, 1, T0),
			 -EINVAL);
	mkupload(&u, "", "pypi", SHA_A);
	assert_int_equal(q->ops->set_artifacts(q, id, claimed.fence, "{}", &u, 1, T0),
			 -EINVAL);
	assert_int_equal(q->ops->set_artifacts(q, id, claimed.fence, "{}", NULL, 1, T0),
			 -EINVAL);
	assert_int_equal(q->ops->uploads(q, id, got, 2), 0);
	/* No uploads at all is a valid record (inputs only). */
	assert_int_equal(
	    q->ops->set_artifacts(q, id, claimed.fence, "{\"n\":0}", NULL, 0, T0), 0);
	assert_log_has(q, id, "build results recorded (no upload)");
}

/* Once the lease ran out and another worker claimed the job, the old
 * fence records nothing. */
static void test_set_artifacts_lease_lost(void **state)
{
	struct fx *fx = *state;
	struct queue *q = fx->q;
	struct job_new jn = pjob("k", "p");
	struct job_upload u, got[2];
	struct job first, second;
	int64_t id = 0;

	assert_int_equal(q->ops->enqueue(q, &jn, T0, &id), 0);
	first = claim_one(q, "host:1", T0);
	second = claim_one(q, "host:2", T0 + LEASE + 1);
	assert_int_equal(second.id, id);
	assert_true(second.fence > first.fence);
	mkupload(&u, "a.whl", "pypi", SHA_A);
	assert_int_equal(
	    q->ops->set_artifacts(q, id, first.fence, "{}", &u, 1, T0 + LEASE + 2),
	    AOS_EFENCED);
	assert_int_equal(q->ops->uploads(q, id, got, 2), 0);
	assert_int_equal(
	    q->ops->set_artifacts(q, id, second.fence, "{}", &u, 1, T0 + LEASE + 2), 0);
	assert_int_equal(q->ops->uploads(q, id, got, 2), 1);
}

/* A job holds up to QUEUE_UPLOADS_MAX uploads, every one read back by
 * queue_uploads_all; one more is refused whole (AOS_ETOOBIG), at enqueue
 * and at set_artifacts, rather than kept in part. */
static void test_uploads_bound(void **state)
{
	struct fx *fx = *state;
	struct queue *q = fx->q;
	struct job_new jn = pjob("pipeline:py:v2@c2", "aos-sdk");
	struct job_upload *ups = calloc(QUEUE_UPLOADS_MAX + 1, sizeof(*ups)), *got = NULL;
	struct job claimed;
	int64_t id = 0, other = 0;
	char name[64];
	int i;

	assert_non_null(ups);
	for (i = 0; i <= QUEUE_UPLOADS_MAX; i++) {
		snprintf(name, sizeof(name), "pypi/aos_sdk-2-%d-py3-none-any.whl", i);
		mkupload(&ups[i], name, "pypi", SHA_A);
	}
	jn.uploads = ups;
	jn.nuploads = QUEUE_UPLOADS_MAX + 1;
	assert_int_equal(q->ops->enqueue(q, &jn, T0, &other), AOS_ETOOBIG);
	assert_int_equal(total_jobs(q), 0);

	jn.uploads = NULL;
	jn.nuploads = 0;
	assert_int_equal(q->ops->enqueue(q, &jn, T0, &id), 0);
	claimed = claim_one(q, "host:1", T0 + 1);
	assert_int_equal(q->ops->set_artifacts(q, id, claimed.fence, "{\"n\":257}", ups,
					       QUEUE_UPLOADS_MAX + 1, T0 + 2),
			 AOS_ETOOBIG);
	assert_int_equal(queue_uploads_all(q, id, &got), 0);
	free(got);
	assert_int_equal(q->ops->set_artifacts(q, id, claimed.fence, "{\"n\":256}", ups,
					       QUEUE_UPLOADS_MAX, T0 + 3),
			 0);
	assert_int_equal(queue_uploads_all(q, id, &got), QUEUE_UPLOADS_MAX);
	assert_string_equal(got[0].filename, ups[0].filename);
	assert_string_equal(got[QUEUE_UPLOADS_MAX - 1].filename,
			    ups[QUEUE_UPLOADS_MAX - 1].filename);
	free(got);
	assert_int_equal(queue_uploads_all(q, id + 100, &got), AOS_ENOTFOUND);
	assert_null(got);
	free(ups);
}

/* Each test on a fresh queue (tests/unit/queue_fixture.h). */
#define QTEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	/* the tests of the interface, on the backend the fixture picks */
	const struct CMUnitTest tests[] = {
	    QTEST(test_enqueue_many_invalid),
	    QTEST(test_enqueue_many_duplicate_upload),
	    QTEST(test_set_artifacts),
	    QTEST(test_set_artifacts_invalid),
	    QTEST(test_set_artifacts_lease_lost),
	    QTEST(test_uploads_bound),
	};
	/* and those that look inside SQLite (its commit hook, a trigger) */
	const struct CMUnitTest sqlite_tests[] = {
	    QTEST(test_enqueue_many),
	    QTEST(test_enqueue_many_store_failure),
	};

	if (fx_pg() != NULL)
		return cmocka_run_group_tests_name("interface", tests, NULL, NULL);
	return cmocka_run_group_tests_name("interface", tests, NULL, NULL) +
	       cmocka_run_group_tests_name("sqlite", sqlite_tests, NULL, NULL);
}
