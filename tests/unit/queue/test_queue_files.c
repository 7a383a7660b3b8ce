/* test_queue_files.c - a job's files in the queue (queue_ops.file_put,
 * file_get, files_remove).  On PostgreSQL (unit.test_queue_files.postgresql):
 * files of several chunks round-trip through callbacks and descriptors, the
 * heap stays within a few chunks whatever the file's size, a damaged chunk
 * is found, the fence holds, and the files go with their job.  On SQLite
 * (unit.test_queue_files): every call answers -ENOTSUP.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>

#include "queue_fixture.h"
#include "files_fixture.h"

static int put(struct queue *q, int64_t id, int64_t fence, const char *name,
	       struct gen *g, struct queue_file_info *info, char *err, size_t errlen)
{
	struct queue_file_src src = {gen_read, g};

	return q->ops->file_put(q, id, fence, name, &src, T0, info, err, errlen);
}

static int get_into(struct queue *q, int64_t id, const char *name, struct gen *g,
		    struct queue_file_info *info, char *err, size_t errlen)
{
	struct queue_file_sink dst = {gen_check, g};

	return q->ops->file_get(q, id, name, &dst, info, err, errlen);
}

/* Stores a file of size bytes (pieces of 300000) for a queued job. */
static void put_ok(struct queue *q, int64_t id, const char *name, int64_t size)
{
	struct gen g = gen_new(size, 300000);
	char err[512];

	if (put(q, id, 0, name, &g, NULL, err, sizeof(err)) != 0)
		fail_msg("file_put: %s", err);
	assert_int_equal(g.off, size);
}

static int64_t chunks_stored(struct fx *fx)
{
	return fx_pg_count(fx->path, "SELECT count(*) FROM aos_file_chunks");
}

/* Five and a half chunks, read in pieces that straddle chunks: what comes
 * back is the same bytes, with the size and digest computed here. */
static void test_files_round_trip(void **state)
{
	struct fx *fx = *state;
	int64_t size = 5 * (int64_t)CHUNK + CHUNK / 2, id = enqueue(fx->q, "a", T0);
	struct queue_file_info in, out;
	struct gen g = gen_new(size, 300000);
	char want[65], err[512];

	gen_sha256(size, want);
	assert_int_equal(put(fx->q, id, 0, "a.whl", &g, &in, err, sizeof(err)), 0);
	assert_int_equal(in.size, size);
	assert_string_equal(in.sha256, want);
	assert_int_equal(chunks_stored(fx), 6);

	g = gen_new(size, 0);
	assert_int_equal(get_into(fx->q, id, "a.whl", &g, &out, err, sizeof(err)), 0);
	assert_int_equal(g.off, size);
	assert_int_equal(out.size, size);
	assert_string_equal(out.sha256, want);

	/* an empty file is a file too; a name is taken once per job */
	put_ok(fx->q, id, "empty.txt", 0);
	g = gen_new(0, 0);
	assert_int_equal(get_into(fx->q, id, "empty.txt", &g, &out, err, sizeof(err)), 0);
	assert_int_equal(out.size, 0);
	g = gen_new(10, 10);
	assert_int_equal(put(fx->q, id, 0, "a.whl", &g, NULL, err, sizeof(err)),
			 AOS_EEXIST);
	assert_contains(err, "job 1 file a.whl: not stored: the job has a file");
	assert_int_equal(get_into(fx->q, id, "b.whl", &g, NULL, err, sizeof(err)),
			 AOS_ENOTFOUND);
	assert_contains(err, "file b.whl: not stored");
	assert_int_equal(put(fx->q, id, 0, "../x", &g, NULL, err, sizeof(err)), -EINVAL);
	assert_int_equal(put(fx->q, id, 0, "", &g, NULL, err, sizeof(err)), -EINVAL);
}

/* Both ways the heap holds a few chunks at the most, whatever the file's
 * size (sixteen and a half chunks here): the chunk, libpq's buffer and the
 * result of one statement (about three; a copy of the file would be
 * sixteen), sampled at every call of the source and the sink; and every
 * piece asked for or handed over is at most a chunk. */
static void test_files_constant_memory(void **state)
{
	struct fx *fx = *state;
	int64_t size = 16 * (int64_t)CHUNK + 12345, id = enqueue(fx->q, "a", T0);
	struct gen g = gen_new(size, CHUNK);
	char err[512];

	assert_int_equal(put(fx->q, id, 0, "big.tar.gz", &g, NULL, err, sizeof(err)), 0);
	assert_int_equal(g.off, size);
	assert_true(g.biggest_ask <= CHUNK);
	if (g.heap_top - g.heap_base > 6 * (size_t)CHUNK)
		fail_msg("file_put: the heap grew by %zu bytes for a file of %lld",
			 g.heap_top - g.heap_base, (long long)size);

	g = gen_new(size, 0);
	assert_int_equal(get_into(fx->q, id, "big.tar.gz", &g, NULL, err, sizeof(err)),
			 0);
	assert_int_equal(g.off, size);
	assert_true(g.biggest_ask <= CHUNK);
	if (g.heap_top - g.heap_base > 6 * (size_t)CHUNK)
		fail_msg("file_get: the heap grew by %zu bytes for a file of %lld",
			 g.heap_top - g.heap_base, (long long)size);
}

/* From a descriptor into the queue, and out of it into another. */
static void test_files_descriptors(void **state)
{
	struct fx *fx = *state;
	int64_t size = 2 * (int64_t)CHUNK + 7, id = enqueue(fx->q, "a", T0);
	struct gen g;
	unsigned char buf[65536];
	char in_path[300], out_path[300], err[512];
	struct queue_file_info info;
	struct queue_file_src src;
	struct queue_file_sink dst;
	int fd, out;
	size_t n;

	snprintf(in_path, sizeof(in_path), "%s/in", fx->dir);
	snprintf(out_path, sizeof(out_path), "%s/out", fx->dir);
	fd = open(in_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	gen_to_fd(fd, size);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	src = (struct queue_file_src){queue_file_fd_read, &fd};
	assert_int_equal(fx->q->ops->file_put(fx->q, id, 0, "a.tgz", &src, T0, &info, err,
					      sizeof(err)),
			 0);
	close(fd);
	assert_int_equal(info.size, size);

	out = open(out_path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(out >= 0);
	dst = (struct queue_file_sink){queue_file_fd_write, &out};
	assert_int_equal(
	    fx->q->ops->file_get(fx->q, id, "a.tgz", &dst, NULL, err, sizeof(err)), 0);
	assert_int_equal(lseek(out, 0, SEEK_SET), 0);
	g = gen_new(size, 0);
	for (;;) {
		assert_int_equal(queue_file_fd_read(&out, buf, sizeof(buf), &n), 0);
		if (n == 0)
			break;
		assert_int_equal(gen_check(&g, buf, n), 0);
	}
	assert_int_equal(g.off, size);
	close(out);
	unlink(in_path);
	unlink(out_path);
}

/* Reads file name of job id to /dev/null: a sink that does not look, so
 * that only file_get's own check can find what is wrong. */
static int get_blind(struct queue *q, int64_t id, const char *name, char *err,
		     size_t errlen)
{
	int fd = open("/dev/null", O_WRONLY), result;
	struct queue_file_sink dst = {queue_file_fd_write, &fd};

	assert_true(fd >= 0);
	result = q->ops->file_get(q, id, name, &dst, NULL, err, errlen);
	close(fd);
	return result;
}

/* A byte changed in a chunk, a chunk gone, a chunk too long: each read
 * fails naming the job and file (the bytes before it went out: the
 * caller throws them away). */
static void test_files_corrupt_chunk(void **state)
{
	struct fx *fx = *state;
	int64_t size = 3 * (int64_t)CHUNK, id = enqueue(fx->q, "a", T0);
	char err[512];

	put_ok(fx->q, id, "a.whl", size);
	put_ok(fx->q, id, "b.whl", size);
	put_ok(fx->q, id, "c.whl", CHUNK);
	assert_int_equal(get_blind(fx->q, id, "a.whl", err, sizeof(err)), 0);
	fx_pg_sql(fx->path, "UPDATE aos_file_chunks SET data = set_byte(data, 999, "
			    "255 - get_byte(data, 999)) WHERE seq = 1 AND file_id = "
			    "(SELECT id FROM aos_job_files WHERE name = 'a.whl')");
	assert_int_equal(get_blind(fx->q, id, "a.whl", err, sizeof(err)), AOS_ECORRUPT);
	assert_contains(err, "job 1 file a.whl: the stored bytes");
	assert_contains(err, "damaged; do not upload it");

	fx_pg_sql(fx->path, "DELETE FROM aos_file_chunks WHERE seq = 1 AND file_id = "
			    "(SELECT id FROM aos_job_files WHERE name = 'b.whl')");
	assert_int_equal(get_blind(fx->q, id, "b.whl", err, sizeof(err)), AOS_ECORRUPT);
	assert_contains(err, "job 1 file b.whl: chunk 2 of 3 is missing");

	fx_pg_sql(fx->path, "UPDATE aos_file_chunks SET data = data || '\\x00'::bytea "
			    "WHERE file_id = (SELECT id FROM aos_job_files "
			    "WHERE name = 'c.whl')");
	assert_int_equal(get_blind(fx->q, id, "c.whl", err, sizeof(err)), AOS_ECORRUPT);
	assert_contains(err, "job 1 file c.whl: chunk 1 of 1 is longer than a chunk");
}

/* fence 0 is for a job never claimed; a running job's file goes in under
 * its lease only; a cancel while the chunks go in fences the put off and
 * nothing of the file is kept. */
struct cancel_src {
	struct gen g;
	const char *conninfo;
	int64_t id;
	bool canceled;
};

static int cancel_read(void *data, void *buf, size_t len, size_t *ret_n)
{
	struct cancel_src *c = data;
	struct queue *other;

	if (!c->canceled && c->g.off >= (int64_t)CHUNK) {
		other = open_ok(c->conninfo); /* another host's operator */
		assert_int_equal(other->ops->cancel(other, c->id, "stop", T0 + 2), 0);
		other->ops->close(other);
		c->canceled = true;
	}
	return gen_read(&c->g, buf, len, ret_n);
}

static void test_files_fenced(void **state)
{
	struct fx *fx = *state;
	int64_t id = enqueue(fx->q, "a", T0);
	struct cancel_src c = {.conninfo = fx->path, .id = id};
	struct queue_file_src src = {cancel_read, &c};
	struct job j;
	struct gen g;
	char err[512];

	j = claim_one(fx->q, "w", T0 + 1);
	g = gen_new(10, 10);
	assert_int_equal(put(fx->q, id, 0, "a.whl", &g, NULL, err, sizeof(err)),
			 AOS_EFENCED);
	assert_contains(err, "not stored: the job is not queued and unclaimed");
	g = gen_new(10, 10);
	assert_int_equal(put(fx->q, id, j.fence + 1, "a.whl", &g, NULL, err, sizeof(err)),
			 AOS_EFENCED);
	assert_int_equal(put(fx->q, 999, 0, "a.whl", &g, NULL, err, sizeof(err)),
			 AOS_EFENCED);
	g = gen_new(CHUNK + 1, CHUNK);
	assert_int_equal(put(fx->q, id, j.fence, "a.whl", &g, NULL, err, sizeof(err)), 0);

	c.g = gen_new(3 * (int64_t)CHUNK, CHUNK);
	assert_int_equal(fx->q->ops->file_put(fx->q, id, j.fence, "b.whl", &src, T0 + 3,
					      NULL, err, sizeof(err)),
			 AOS_EFENCED);
	assert_true(c.canceled);
	assert_int_equal(c.g.off, 3 * (int64_t)CHUNK); /* read to the end */
	assert_int_equal(
	    fx_pg_count(fx->path,
			"SELECT count(*) FROM aos_job_files WHERE name = 'b.whl'"),
	    0);
	assert_int_equal(chunks_stored(fx), 2); /* a.whl's */
}

/* A source's error ends the put with nothing kept, and the error is the
 * source's. */

static void test_files_source_fails(void **state)
{
	struct fx *fx = *state;
	int64_t id = enqueue(fx->q, "a", T0);
	struct gen g = gen_new(5 * (int64_t)CHUNK, CHUNK);
	struct queue_file_src src = {gen_read_failing, &g};
	char err[512];

	assert_int_equal(
	    fx->q->ops->file_put(fx->q, id, 0, "a.whl", &src, T0, NULL, err, sizeof(err)),
	    -EIO);
	assert_contains(err, "job 1 file a.whl: not stored");
	assert_int_equal(fx_pg_count(fx->path, "SELECT count(*) FROM aos_job_files"), 0);
	assert_int_equal(chunks_stored(fx), 0);
}

/* The files go with their job: files_remove at success (refused before:
 * the job may run again), prune with the job. */
static void test_files_removed_with_job(void **state)
{
	struct fx *fx = *state;
	struct queue *q = fx->q;
	int64_t a = enqueue(q, "a", T0), b = enqueue(q, "b", T0);
	struct job ja, jb, pruned[2];

	put_ok(q, a, "a.whl", 2 * (int64_t)CHUNK + 1);
	put_ok(q, a, "a.tar.gz", 10);
	put_ok(q, b, "b.whl", 2 * (int64_t)CHUNK);
	assert_int_equal(chunks_stored(fx), 6);
	assert_int_equal(q->ops->files_remove(q, a), -EINVAL); /* queued */
	assert_int_equal(q->ops->files_remove(q, 999), AOS_ENOTFOUND);

	ja = claim_one(q, "w", T0);
	jb = claim_one(q, "w", T0);
	assert_int_equal(
	    q->ops->finish(q, ja.id, ja.fence, JOB_SUCCEEDED, 0, OUT_NONE, NULL, T0 + 1),
	    0);
	assert_int_equal(
	    q->ops->finish(q, jb.id, jb.fence, JOB_DEAD, 0, OUT_REJECTED, "no", T0 + 1),
	    0);
	assert_int_equal(q->ops->files_remove(q, b), -EINVAL); /* dead: may be retried */
	assert_int_equal(q->ops->files_remove(q, a), 2);
	assert_int_equal(chunks_stored(fx), 2);
	assert_int_equal(q->ops->files_remove(q, a), 0);

	assert_int_equal(q->ops->prune(q, T0 + 2, 0, false, pruned, 2), 2);
	job_clear(&pruned[0]);
	job_clear(&pruned[1]);
	assert_int_equal(chunks_stored(fx), 0);
	assert_int_equal(fx_pg_count(fx->path, "SELECT count(*) FROM aos_job_files"), 0);
}

/* SQLite keeps no files (the spool does): each call says so. */
static void test_files_sqlite_unsupported(void **state)
{
	struct fx *fx = *state;
	int64_t id = enqueue(fx->q, "a", T0);
	struct gen g = gen_new(10, 10);
	char err[512];

	assert_int_equal(put(fx->q, id, 0, "a.whl", &g, NULL, err, sizeof(err)),
			 -ENOTSUP);
	assert_contains(err, "spool");
	assert_int_equal(get_into(fx->q, id, "a.whl", &g, NULL, err, sizeof(err)),
			 -ENOTSUP);
	assert_int_equal(fx->q->ops->files_remove(fx->q, id), -ENOTSUP);
	assert_int_equal(g.off, 0);
}

#define QTEST(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest pg[] = {
	    QTEST(test_files_round_trip),	QTEST(test_files_constant_memory),
	    QTEST(test_files_descriptors),	QTEST(test_files_corrupt_chunk),
	    QTEST(test_files_fenced),		QTEST(test_files_source_fails),
	    QTEST(test_files_removed_with_job),
	};
	const struct CMUnitTest sqlite[] = {
	    QTEST(test_files_sqlite_unsupported),
	};

	if (fx_pg() != NULL)
		return cmocka_run_group_tests_name("postgresql", pg, NULL, NULL);
	return cmocka_run_group_tests_name("sqlite", sqlite, NULL, NULL);
}
