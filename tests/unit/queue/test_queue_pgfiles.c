/* A job's files through queue_async (queue_async_file_get, _file_put,
 * _files_remove, an enqueue with file sources), and the second run of a
 * request whose connection was lost, against the real server of
 * tests/peers/pg_run.sh (ctest unit.test_queue_pgfiles):
 *
 * - files go in with the enqueue and come back through descriptors; the
 *   backend's message (a file it has not, bytes that are not the upload's)
 *   reaches the completion;
 * - a pipeline's file under its lease, fenced; a succeeded job's files
 *   removed;
 * - a get after pg_terminate_backend() of the thread's connection runs on
 *   a new one; a get whose session ends after its first chunk went out
 *   runs again from where it began, the descriptor cut there;
 * - a finish whose COMMIT landed and whose session then ended answers 0
 *   (its second run finds the job ended under its own fence), and still
 *   AOS_EFENCED when the job was claimed again meanwhile.
 * The session is ended by a hook of the backend (queue_pg.test_hook) set
 * by this test's open function: at a chosen point, deterministically. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>

#include <uv.h>

#include "queue_fixture.h"
#include "files_fixture.h"
#include "pg_wire_fixture.h"
#include "queue/queue_async.h"
#include "queue/queue_pg_internal.h"

static struct queue_async_result last;
static int completions;

/* Keeps what the tests read of a result (its arrays are none of theirs). */
static void done(struct queue_async_result *res, void *data)
{
	(void)data;
	completions++;
	memcpy(last.error, res->error, sizeof(last.error));
	last.file = res->file;
	last.id = res->id;
	last.rc = res->rc;
}

/* A queue_async on the fixture's schema whose connections carry the
 * hook; one chosen point ends the session, once. */
struct t {
	uv_loop_t loop;
	struct queue_async *qa;
	char conninfo[700];
	enum qp_test_at kill_at; /* 0: none */
	bool fired;
	struct queue *other; /* another host, used by then() on the thread */
	int64_t job;	     /* the job then() acts on */
	int (*then)(struct t *t);
	int then_rc;
};

static int hook(struct queue_pg *q, enum qp_test_at at, void *arg)
{
	struct t *t = arg;

	if (at != t->kill_at || t->fired)
		return 0;
	t->fired = true;
	if (t->then != NULL)
		t->then_rc = t->then(t);
	/* the session ends itself: what comes next on it is lost */
	return qp__exec(q, "SELECT pg_terminate_backend(pg_backend_pid())", NULL, NULL);
}

static int open_hooked(void *arg, struct queue **ret, char *errbuf, size_t errlen)
{
	struct t *t = arg;
	int rc = queue_pg_open(t->conninfo, ret, errbuf, errlen);

	if (rc == 0) {
		((struct queue_pg *)*ret)->test_hook = hook;
		((struct queue_pg *)*ret)->test_arg = t;
	}
	return rc;
}

static void t_start(struct t *t, const struct fx *fx)
{
	struct queue_async_open o = {.open_with = open_hooked, .open_arg = t};

	memset(t, 0, sizeof(*t));
	wire_app_name("aos-pgfiles");
	snprintf(t->conninfo, sizeof(t->conninfo), "%s application_name=%s", fx->path,
		 wire_app);
	wire_qa_start(&t->loop, &o, &t->qa);
}

static void t_stop(struct t *t)
{
	wire_qa_stop(&t->loop, t->qa);
	if (t->other != NULL)
		t->other->ops->close(t->other);
}

/* Runs the loop until the request just posted completed; its rc. */
static int wait_rc(struct t *t, int posted)
{
	wire_qa_wait(&t->loop, posted, &completions);
	return last.rc;
}

/* A temporary file in fx's directory holding the generator's first size
 * bytes, open at offset 0 (unlinked: closing it is enough). */
static int file_of(const struct fx *fx, int64_t size)
{
	char path[300];
	int fd;

	snprintf(path, sizeof(path), "%s/f.XXXXXX", fx->dir);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	gen_to_fd(fd, size);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

/* fd from offset `from` to its end is exactly the generator's first size
 * bytes. */
static void assert_fd_holds(int fd, off_t from, int64_t size)
{
	struct gen g = gen_new(size, 0);
	char buf[65536];
	struct stat st;
	size_t n;

	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, from + size);
	assert_int_equal(lseek(fd, from, SEEK_SET), from);
	for (;;) {
		assert_int_equal(queue_file_fd_read(&fd, buf, sizeof(buf), &n), 0);
		if (n == 0)
			break;
		assert_int_equal(gen_check(&g, buf, n), 0);
	}
	assert_int_equal(g.off, size);
}

static int empty_file(const struct fx *fx)
{
	return file_of(fx, 0);
}

/* A job of package key with one upload "a.whl" read from fd; its digest
 * is the generator's first size bytes' unless bad. */
static int enqueue_with(struct t *t, const char *key, int *fd, int64_t size, bool bad)
{
	struct queue_file_src src = {queue_file_fd_read, fd};
	struct job_upload up = {0};
	struct job_new j = {.kind = JOB_PUBLISH,
			    .idem_key = key,
			    .registry = "pypi",
			    .package = key,
			    .max_attempts = 3,
			    .uploads = &up,
			    .nuploads = 1,
			    .file_srcs = &src};

	snprintf(up.filename, sizeof(up.filename), "a.whl");
	gen_sha256(size, up.sha256);
	if (bad)
		snprintf(up.sha256, sizeof(up.sha256), SHA_B);
	return wait_rc(t, queue_async_enqueue(t->qa, &j, T0, done, NULL));
}

/* In with the enqueue, out through a descriptor; the backend's messages
 * reach the completion. */
static void test_pgfiles_enqueue_get(void **state)
{
	struct fx *fx = *state;
	int64_t size = 2 * (int64_t)CHUNK + 3, id;
	int in = file_of(fx, size), out = empty_file(fx);
	char want[65];
	struct t t;

	t_start(&t, fx);
	assert_int_equal(enqueue_with(&t, "a", &in, size, false), 0);
	id = last.id;
	assert_int_equal(
	    wait_rc(&t, queue_async_file_get(t.qa, id, "a.whl", out, done, NULL)), 0);
	gen_sha256(size, want);
	assert_int_equal(last.file.size, size);
	assert_string_equal(last.file.sha256, want);
	assert_fd_holds(out, 0, size);

	assert_int_equal(
	    wait_rc(&t, queue_async_file_get(t.qa, id, "b.whl", out, done, NULL)),
	    AOS_ENOTFOUND);
	assert_contains(last.error, "file b.whl: not stored");
	assert_int_equal(lseek(in, 0, SEEK_SET), 0);
	assert_int_equal(enqueue_with(&t, "b", &in, size, true), AOS_ECORRUPT);
	assert_contains(last.error, "file a.whl of the new job: not enqueued");
	assert_int_equal(fx_pg_count(fx->path, "SELECT count(*) FROM aos_jobs"), 1);
	t_stop(&t);
	close(in);
	close(out);
}

/* A running job's file under its lease (fenced), and a succeeded job's
 * files removed. */
static void test_pgfiles_put_remove(void **state)
{
	struct fx *fx = *state;
	int64_t id = enqueue(fx->q, "a", T0);
	int in = file_of(fx, CHUNK + 1), out = empty_file(fx);
	struct job j = claim_one(fx->q, "w", T0);
	struct t t;

	t_start(&t, fx);
	assert_int_equal(wait_rc(&t, queue_async_file_put(t.qa, id, j.fence + 1, "b.whl",
							  in, T0, done, NULL)),
			 AOS_EFENCED);
	assert_contains(last.error, "not running under this lease");
	assert_int_equal(lseek(in, 0, SEEK_SET), 0);
	assert_int_equal(wait_rc(&t, queue_async_file_put(t.qa, id, j.fence, "b.whl", in,
							  T0, done, NULL)),
			 0);
	assert_int_equal(last.file.size, CHUNK + 1);
	assert_int_equal(wait_rc(&t, queue_async_files_remove(t.qa, id, done, NULL)),
			 -EINVAL); /* running: it may need them */
	assert_int_equal(fx->q->ops->finish(fx->q, id, j.fence, JOB_SUCCEEDED, 0,
					    OUT_NONE, NULL, T0 + 1),
			 0);
	assert_int_equal(wait_rc(&t, queue_async_files_remove(t.qa, id, done, NULL)), 1);
	assert_int_equal(
	    wait_rc(&t, queue_async_file_get(t.qa, id, "b.whl", out, done, NULL)),
	    AOS_ENOTFOUND);
	job_clear(&j);
	t_stop(&t);
	close(in);
	close(out);
}

/* The thread's session ended between two requests: the get runs on a new
 * connection. */
static void test_pgfiles_get_after_terminate(void **state)
{
	struct fx *fx = *state;
	int64_t size = CHUNK / 2, id;
	int in = file_of(fx, size), out = empty_file(fx);
	struct t t;

	t_start(&t, fx);
	assert_int_equal(enqueue_with(&t, "a", &in, size, false), 0);
	id = last.id;
	assert_int_equal(wire_app_backends(), 1);
	wire_app_terminate();
	assert_int_equal(
	    wait_rc(&t, queue_async_file_get(t.qa, id, "a.whl", out, done, NULL)), 0);
	assert_fd_holds(out, 0, size);
	assert_int_equal(wire_app_backends(), 1);
	t_stop(&t);
	close(in);
	close(out);
}

/* The session ends after the first of three chunks went to the
 * descriptor: the get runs again from the offset where it began (after
 * "HEAD", which stays), and the descriptor holds the file once. */
static void test_pgfiles_get_killed_midway(void **state)
{
	struct fx *fx = *state;
	int64_t size = 3 * (int64_t)CHUNK, id;
	int in = file_of(fx, size), out = empty_file(fx);
	struct t t;
	char head[4];

	t_start(&t, fx);
	assert_int_equal(enqueue_with(&t, "a", &in, size, false), 0);
	id = last.id;
	assert_int_equal(write(out, "HEAD", 4), 4);
	t.kill_at = QP_TEST_CHUNK_OUT;
	assert_int_equal(
	    wait_rc(&t, queue_async_file_get(t.qa, id, "a.whl", out, done, NULL)), 0);
	assert_true(t.fired);
	assert_fd_holds(out, 4, size);
	assert_int_equal(pread(out, head, 4, 0), 4);
	assert_memory_equal(head, "HEAD", 4);
	t_stop(&t);
	close(in);
	close(out);
}

/* Another host retries the job the finish failed and claims it again. */
static int retry_and_claim(struct t *t)
{
	struct job j;
	int rc = t->other->ops->retry(t->other, t->job, T0 + 2);

	if (rc == 0)
		rc = t->other->ops->claim(t->other, "host-b", T0 + 3, LEASE, 0, &j, 1);
	if (rc == 1)
		job_clear(&j);
	return rc == 1 ? 0 : -EIO;
}

/* The finish's COMMIT lands and the session ends before its answer is
 * read: the second run finds the job ended under the worker's fence and
 * answers 0.  Once the job was retried and claimed by another host before
 * the second run, it answers AOS_EFENCED (the lease is gone). */
static void test_pgfiles_finish_committed_then_lost(void **state)
{
	struct fx *fx = *state;
	struct t t;
	struct job j;
	int64_t id = enqueue(fx->q, "a", T0);

	j = claim_one(fx->q, "w", T0);
	t_start(&t, fx);
	t.kill_at = QP_TEST_FINISHED;
	assert_int_equal(
	    wait_rc(&t, queue_async_finish(t.qa, id, j.fence, JOB_FAILED, T0 + 5000,
					   OUT_UNAVAILABLE, "later", T0 + 1, done, NULL)),
	    0);
	assert_true(t.fired);
	assert_int_equal(state_of(fx->q, id), JOB_FAILED);
	job_clear(&j);

	/* the job claimed by another host between the two runs */
	assert_int_equal(fx->q->ops->retry(fx->q, id, T0 + 2), 0);
	j = claim_one(fx->q, "w", T0 + 2);
	t.other = open_ok(fx->path);
	t.then = retry_and_claim;
	t.job = id;
	t.fired = false;
	assert_int_equal(
	    wait_rc(&t, queue_async_finish(t.qa, id, j.fence, JOB_FAILED, T0 + 5000,
					   OUT_UNAVAILABLE, "later", T0 + 1, done, NULL)),
	    AOS_EFENCED);
	assert_true(t.fired);
	assert_int_equal(t.then_rc, 0);
	job_clear(&j);
	j = get(fx->q, id);
	assert_int_equal(j.state, JOB_RUNNING);
	assert_string_equal(j.lease_owner, "host-b");
	job_clear(&j);
	t_stop(&t);
}

#define QTEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    QTEST(test_pgfiles_enqueue_get),
	    QTEST(test_pgfiles_put_remove),
	    QTEST(test_pgfiles_get_after_terminate),
	    QTEST(test_pgfiles_get_killed_midway),
	    QTEST(test_pgfiles_finish_committed_then_lost),
	};

	if (fx_pg() == NULL || getenv("AOS_TEST_PG_SUPER") == NULL) {
		fprintf(stderr, "test_queue_pgfiles: AOS_TEST_PG is not set; run it with "
				"tests/peers/pg_run.sh (ctest does)\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
