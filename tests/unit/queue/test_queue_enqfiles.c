/* test_queue_enqfiles.c - a job's files stored by its enqueue (struct
 * job_new's file_srcs), in the enqueue's own transaction.  On PostgreSQL
 * (unit.test_queue_enqfiles.postgresql): another host claims the job and
 * reads its files; a source that fails midway, or bytes that are not the
 * upload's digest, leave no job and no file; an idempotency key known
 * already reads no source; the heap holds a few chunks whatever the
 * file's size.  On SQLite (unit.test_queue_enqfiles): the sources are not
 * read (the spool keeps the files).
 */
#include <errno.h>
#include <stdbool.h>

#include "queue_fixture.h"
#include "files_fixture.h"

/* A job of package key with n uploads named names[i], of sizes[i] bytes
 * of the generator, their digests computed here (bad: file 1's is
 * SHA_A). */
struct enq {
	struct job_upload ups[2];
	struct gen g[2];
	struct queue_file_src srcs[2];
	struct job_new j;
	char err[512];
};

static void enq_fill(struct enq *e, const char *key, size_t n, const int64_t *sizes,
		     bool bad)
{
	static const char *const names[] = {"a.whl", "a.tar.gz"};
	size_t i;

	memset(e, 0, sizeof(*e));
	for (i = 0; i < n; i++) {
		snprintf(e->ups[i].filename, sizeof(e->ups[i].filename), "%s", names[i]);
		gen_sha256(sizes[i], e->ups[i].sha256);
		e->g[i] = gen_new(sizes[i], 300000);
		e->srcs[i] = (struct queue_file_src){gen_read, &e->g[i]};
	}
	if (bad)
		snprintf(e->ups[1].sha256, sizeof(e->ups[1].sha256), SHA_A);
	e->j = (struct job_new){
	    .kind = JOB_PUBLISH,
	    .idem_key = key,
	    .registry = "pypi",
	    .package = key,
	    .max_attempts = 3,
	    .uploads = e->ups,
	    .nuploads = n,
	    .file_srcs = e->srcs,
	    .errbuf = e->err,
	    .errlen = sizeof(e->err),
	};
}

static int64_t rows(struct fx *fx, const char *table)
{
	char sql[128];

	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s", table);
	return fx_pg_count(fx->path, sql);
}

/* Nothing of any job in the database. */
static void assert_nothing(struct fx *fx)
{
	assert_int_equal(rows(fx, "aos_jobs"), 0);
	assert_int_equal(rows(fx, "aos_uploads"), 0);
	assert_int_equal(rows(fx, "aos_job_files"), 0);
	assert_int_equal(rows(fx, "aos_file_chunks"), 0);
}

/* Job id's file name, read on q, is the generator's first size bytes. */
static void assert_file(struct queue *q, int64_t id, const char *name, int64_t size)
{
	struct gen g = gen_new(size, 0);
	struct queue_file_sink dst = {gen_check, &g};
	struct queue_file_info info;
	char err[512];

	if (q->ops->file_get(q, id, name, &dst, &info, err, sizeof(err)) != 0)
		fail_msg("file_get %s: %s", name, err);
	assert_int_equal(g.off, size);
	assert_int_equal(info.size, size);
}

/* Two files go in with the job; another host claims it and reads them. */
static void test_enqfiles_claimed_elsewhere(void **state)
{
	struct fx *fx = *state;
	const int64_t sizes[2] = {2 * (int64_t)CHUNK + 99, 10};
	struct queue *other;
	struct enq e;
	struct job j;
	int64_t id = 0;

	enq_fill(&e, "a", 2, sizes, false);
	assert_int_equal(fx->q->ops->enqueue(fx->q, &e.j, T0, &id), 0);
	assert_int_equal(e.g[0].off, sizes[0]);
	assert_int_equal(e.g[1].off, sizes[1]);
	assert_string_equal(e.err, "");

	other = open_ok(fx->path); /* another host */
	j = claim_one(other, "host-b", T0 + 1);
	assert_int_equal(j.id, id);
	assert_file(other, id, "a.whl", sizes[0]);
	assert_file(other, id, "a.tar.gz", sizes[1]);
	job_clear(&j);
	other->ops->close(other);
}

/* The second file's source fails after two chunks: the enqueue answers
 * its error, naming the file, and nothing of the job or its first file
 * is kept; in a batch, the whole batch goes. */
static void test_enqfiles_source_fails(void **state)
{
	struct fx *fx = *state;
	const int64_t sizes[2] = {CHUNK + 1, 4 * (int64_t)CHUNK};
	struct job_new batch[2];
	struct enq good, e;
	int64_t id = 0, ids[2];
	int rcs[2];

	enq_fill(&e, "a", 2, sizes, false);
	e.srcs[1].read = gen_read_failing;
	assert_int_equal(fx->q->ops->enqueue(fx->q, &e.j, T0, &id), -EIO);
	assert_contains(e.err, "file a.tar.gz of the new job: not enqueued");
	assert_nothing(fx);

	enq_fill(&good, "b", 1, sizes, false);
	enq_fill(&e, "a", 2, sizes, false);
	e.srcs[1].read = gen_read_failing;
	batch[0] = good.j;
	batch[1] = e.j;
	assert_int_equal(fx->q->ops->enqueue_many(fx->q, batch, 2, T0, ids, rcs), -EIO);
	assert_int_equal(good.g[0].off, sizes[0]); /* stored, then rolled back */
	assert_nothing(fx);
}

/* Bytes that are not what the upload names: AOS_ECORRUPT naming the file
 * and both digests; nothing committed. */
static void test_enqfiles_digest_mismatch(void **state)
{
	struct fx *fx = *state;
	const int64_t sizes[2] = {100, CHUNK + 5};
	char want[65];
	struct enq e;
	int64_t id = 0;

	enq_fill(&e, "a", 2, sizes, true);
	gen_sha256(sizes[1], want);
	assert_int_equal(fx->q->ops->enqueue(fx->q, &e.j, T0, &id), AOS_ECORRUPT);
	assert_contains(e.err, "file a.tar.gz of the new job: not enqueued: its bytes");
	assert_contains(e.err, want);
	assert_contains(e.err, SHA_A);
	assert_nothing(fx);
}

/* A known idempotency key answers AOS_EEXIST without reading a source. */
static int unread(void *data, void *buf, size_t len, size_t *ret_n)
{
	(void)data, (void)buf, (void)len, (void)ret_n;
	fail_msg("a source was read for an enqueue that answers AOS_EEXIST");
	return -EIO;
}

static void test_enqfiles_eexist_reads_nothing(void **state)
{
	struct fx *fx = *state;
	const int64_t sizes[2] = {10, 20};
	int64_t first = enqueue(fx->q, "a", T0), id = 0, ids[1];
	struct enq e;
	int rcs[1];

	enq_fill(&e, "a", 2, sizes, false);
	e.srcs[0].read = e.srcs[1].read = unread;
	assert_int_equal(fx->q->ops->enqueue(fx->q, &e.j, T0, &id), AOS_EEXIST);
	assert_int_equal(id, first);
	assert_int_equal(fx->q->ops->enqueue_many(fx->q, &e.j, 1, T0, ids, rcs), 0);
	assert_int_equal(rcs[0], AOS_EEXIST);
	assert_int_equal(ids[0], first);
	assert_int_equal(rows(fx, "aos_job_files"), 0);
}

/* Sixteen and a half chunks through the enqueue: the heap holds a few
 * chunks at the most, sampled at every call of the source. */
static void test_enqfiles_constant_memory(void **state)
{
	struct fx *fx = *state;
	const int64_t sizes[1] = {16 * (int64_t)CHUNK + 12345};
	struct enq e;
	int64_t id = 0;

	enq_fill(&e, "a", 1, sizes, false);
	e.g[0] = gen_new(sizes[0], CHUNK);
	assert_int_equal(fx->q->ops->enqueue(fx->q, &e.j, T0, &id), 0);
	assert_int_equal(e.g[0].off, sizes[0]);
	assert_true(e.g[0].biggest_ask <= CHUNK);
	if (e.g[0].heap_top - e.g[0].heap_base > 6 * (size_t)CHUNK)
		fail_msg("enqueue: the heap grew by %zu bytes for a file of %lld",
			 e.g[0].heap_top - e.g[0].heap_base, (long long)sizes[0]);
	assert_file(fx->q, id, "a.whl", sizes[0]);
}

/* SQLite: the job is enqueued and no source read (the spool keeps the
 * files). */
static void test_enqfiles_sqlite_ignored(void **state)
{
	struct fx *fx = *state;
	const int64_t sizes[2] = {10, 20};
	struct enq e;
	int64_t id = 0;

	enq_fill(&e, "a", 2, sizes, false);
	e.srcs[0].read = e.srcs[1].read = unread;
	assert_int_equal(fx->q->ops->enqueue(fx->q, &e.j, T0, &id), 0);
	assert_true(id > 0);
}

#define QTEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest pg[] = {
	    QTEST(test_enqfiles_claimed_elsewhere),
	    QTEST(test_enqfiles_source_fails),
	    QTEST(test_enqfiles_digest_mismatch),
	    QTEST(test_enqfiles_eexist_reads_nothing),
	    QTEST(test_enqfiles_constant_memory),
	};
	const struct CMUnitTest sqlite[] = {
	    QTEST(test_enqfiles_sqlite_ignored),
	};

	if (fx_pg() != NULL)
		return cmocka_run_group_tests_name("postgresql", pg, NULL, NULL);
	return cmocka_run_group_tests_name("sqlite", sqlite, NULL, NULL);
}
