/* Unit tests for the SQLite queue backend (agent/queue_sqlite*.c):
 * durability across reopen, refusing files that are not a
 * queue database, a newer schema or a corrupt database, and a small stress
 * run (10,000 durable enqueues, timed and printed).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "common/err.h"
#include "queue/queue.h"
#include "queue/queue_sqlite_internal.h"
#include "tests/unit/queue/queue_fixture.h"

/* ---- durability and the database file ---- */

static void test_reopen(void **state)
{
	struct fx *fx = *state;
	struct job_upload u[2];
	struct job_log_entry e[8];
	struct job w, got;
	struct stat st;
	mode_t old;
	int64_t a, b, counts[JOB_CANCELED + 1];

	/* Created 0600 whatever the umask. */
	fx_close(fx);
	fx_paths_remove(fx);
	old = umask(0);
	fx->q = open_ok(fx->path);
	umask(old);
	assert_int_equal(stat(fx->path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);

	a = enqueue(fx->q, "a", T0);
	b = enqueue(fx->q, "b", T0 + 1);
	w = claim_one(fx->q, "w1", T0 + 2);
	assert_int_equal(fx->q->ops->upload_set(fx->q, a, w.fence, "a.whl", UPLOAD_DONE,
						OUT_NONE, "published", T0 + 3),
			 0);
	assert_int_equal(fx->q->ops->log(fx->q, b, "note", T0 + 4), 0);
	fx_close(fx);
	fx->q = open_ok(fx->path);

	got = get(fx->q, a);
	assert_int_equal(got.state, JOB_RUNNING);
	assert_int_equal(got.fence, w.fence);
	assert_string_equal(got.lease_owner, "w1");
	assert_int_equal(fx->q->ops->uploads(fx->q, a, u, 2), 2);
	assert_int_equal(u[0].state, UPLOAD_DONE);
	assert_string_equal(u[0].answer, "published");
	assert_int_equal(fx->q->ops->log_read(fx->q, b, 0, e, 8), 2);
	assert_string_equal(e[1].text, "note");
	assert_int_equal(fx->q->ops->counts(fx->q, counts), 0);
	assert_int_equal(counts[JOB_QUEUED], 1);
	assert_int_equal(counts[JOB_RUNNING], 1);
	/* The lease survives the restart, and so does its fence. */
	assert_int_equal(fx->q->ops->heartbeat(fx->q, a, w.fence, T0 + 5, LEASE), 0);
	assert_int_equal(fx->q->ops->enqueue(fx->q,
					     &(struct job_new){.kind = JOB_PUBLISH,
							       .idem_key = "a",
							       .registry = "r",
							       .package = "p",
							       .max_attempts = 1},
					     T0, &b),
			 AOS_EEXIST);
}

/* The full check of path fails, naming needle. */
static void expect_check_fails(const char *path, const char *needle)
{
	char err[512];

	assert_int_equal(queue_sqlite_check(path, err, sizeof(err)), AOS_ECORRUPT);
	assert_int_equal(strncmp(err, path, strlen(path)), 0);
	assert_contains(err, needle);
	print_message("check: %s\n", err);
}

/* Opens path expecting failure want with a message containing each of the
 * NULL-terminated strings. */
static void expect_refused(const char *path, int want, ...)
{
	struct queue *q = NULL;
	char err[512];
	const char *s;
	va_list ap;
	int r;

	r = queue_sqlite_open(path, &q, err, sizeof(err));
	if (r != want)
		fail_msg("open %s: want %d, got %d (%s)", path, want, r, err);
	assert_null(q);
	assert_int_equal(strncmp(err, path, strlen(path)), 0);
	va_start(ap, want);
	while ((s = va_arg(ap, const char *)) != NULL)
		assert_contains(err, s);
	va_end(ap);
	print_message("refused: %s\n", err);
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void sql(const char *path, const char *text)
{
	sqlite3 *db = NULL;
	char *msg = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, text, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", text, msg);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

/* What another process does to the queue database: opens it, writes a
 * row, closes it (`test_queue_sqlite --touch PATH`, run by exec so that
 * none of this process's SQLite state is shared with it). */
static int touch_main(const char *path)
{
	sqlite3 *db = NULL;
	int ok = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK &&
		 sqlite3_exec(db, "UPDATE jobs SET updated_ms = updated_ms + 1", NULL,
			      NULL, NULL) == SQLITE_OK;

	sqlite3_close(db);
	return ok ? 0 : 1;
}

/* A second connection in the same process (the daemon's writer) must not
 * drop the first one's locks: opening and closing the file to create it
 * did, and then another process closing its own connection took itself
 * for the last one and deleted the WAL (and the -shm) under the daemon,
 * whose commits went on into a deleted file (test_disk_retention.py saw
 * pruned rows still in the file). */
static void test_second_connection_keeps_the_wal(void **state)
{
	struct fx *fx = *state;
	char wal[1100], err[256];
	struct queue *q2 = NULL;
	pid_t pid;
	int st;

	snprintf(wal, sizeof(wal), "%s-wal", fx->path);
	enqueue(fx->q, "a", T0);
	assert_int_equal(queue_sqlite_open(fx->path, &q2, err, sizeof(err)), 0);
	assert_int_equal(access(wal, F_OK), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execl("/proc/self/exe", "test_queue_sqlite", "--touch", fx->path,
		      (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	if (access(wal, F_OK) != 0)
		fail_msg(
		    "the WAL of an open queue was deleted by another process's close");
	enqueue(fx->q, "c", T0 + 2);
	q2->ops->close(q2);
}

static void test_refuse_random_bytes(void **state)
{
	struct fx *fx = *state;
	unsigned char data[16384], after[sizeof(data)];
	uint32_t x = 12345;
	size_t i;
	FILE *f;

	fx_close(fx);
	fx_paths_remove(fx);
	for (i = 0; i < sizeof(data); i++) {
		x = x * 1103515245 + 12345;
		data[i] = (unsigned char)(x >> 16);
	}
	write_file(fx->path, data, sizeof(data));
	expect_refused(fx->path, AOS_ECORRUPT,
		       "not an aos-publishd queue database (file is not a database)",
		       "move it away", NULL);
	/* Left as it was. */
	f = fopen(fx->path, "rb");
	assert_non_null(f);
	assert_int_equal(fread(after, 1, sizeof(after) + 1, f), sizeof(after));
	fclose(f);
	assert_memory_equal(data, after, sizeof(data));
}

static void test_refuse_foreign(void **state)
{
	struct fx *fx = *state;
	char path[300];
	sqlite3 *db;
	sqlite3_stmt *s;

	snprintf(path, sizeof(path), "%s/foreign.db", fx->dir);
	sql(path, "CREATE TABLE foo (x INTEGER); INSERT INTO foo VALUES (1)");
	expect_refused(path, AOS_ECORRUPT, "not an aos-publishd queue database",
		       "with a table \"foo\"", NULL);
	/* Nothing written: still in rollback-journal mode, no id. */
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(s, 0), "delete");
	sqlite3_finalize(s);
	sqlite3_close(db);
	unlink(path);

	sql(path, "PRAGMA application_id = 42");
	expect_refused(path, AOS_ECORRUPT, "application_id 0x0000002a", NULL);
	unlink(path);
	sql(path, "PRAGMA user_version = 3");
	expect_refused(path, AOS_ECORRUPT, "user_version 3", NULL);
	unlink(path);

	/* A directory is no database either. */
	expect_refused(fx->dir, -EISDIR, "cannot open", NULL);
}

static void test_refuse_newer_schema(void **state)
{
	struct fx *fx = *state;
	char want[128];

	enqueue(fx->q, "a", T0);
	fx_close(fx);
	sql(fx->path, "PRAGMA user_version = 99");
	snprintf(want, sizeof(want),
		 "written by a newer aos-publishd (schema 99, this program knows %d); "
		 "upgrade or restore",
		 queue_sqlite__schema_version());
	expect_refused(fx->path, AOS_ESCHEMA, want, NULL);
	/* The current version opens. */
	snprintf(want, sizeof(want), "PRAGMA user_version = %d",
		 queue_sqlite__schema_version());
	sql(fx->path, want);
	fx->q = open_ok(fx->path);
	assert_int_equal(state_of(fx->q, 1), JOB_QUEUED);
}

/* Closes fx's queue, open on path (a database beside the fixture's),
 * removes that database and opens the fixture's again. */
static void side_db_done(struct fx *fx, const char *path)
{
	char file[320];

	fx_close(fx);
	snprintf(file, sizeof(file), "%s-wal", path);
	unlink(file);
	snprintf(file, sizeof(file), "%s-shm", path);
	unlink(file);
	unlink(path);
	fx->q = open_ok(fx->path);
}

/* A database of schema 1 (outcomes inside the text, "conflict: ...")
 * opens: migration 4 moves each known word to the outcome column and
 * keeps the message; other text stays a message without an outcome. */
static void test_migrate_outcomes(void **state)
{
	struct fx *fx = *state;
	struct job_upload u[5];
	struct job got;
	char path[300], text[256];

	snprintf(path, sizeof(path), "%s/v1.db", fx->dir);
	sql(path, queue_sqlite__migration(1));
	snprintf(text, sizeof(text),
		 "PRAGMA application_id = %d; PRAGMA user_version = 1",
		 QUEUE_SQLITE_APP_ID);
	sql(path, text);
	sql(path,
	    "INSERT INTO jobs (kind, state, idem_key, registry, package, "
	    "max_attempts, next_run_ms, created_ms, updated_ms, last_error) VALUES "
	    "(1, 5, 'k1', 'r', 'p', 3, 0, 0, 0, 'conflict: a different file holds 1.0'),"
	    "(1, 4, 'k2', 'r', 'q', 3, 0, 0, 0, 'HTTP 503: try later');"
	    "INSERT INTO uploads (job_id, filename, registry, sha256, state, answer, "
	    "updated_ms) VALUES (1, 'a.whl', 'r', '" SHA_A "', 3, 'published: sent, "
	    "201', 0), (1, 'b.whl', 'r', '" SHA_A "', 3, 'exists:same file', 0),"
	    "(1, 'c.whl', 'r', '" SHA_A "', 4, 'boom: no word', 0),"
	    "(1, 'd.whl', 'r', '" SHA_A "', 1, '', 0),"
	    "(1, 'e.whl', 'r', '" SHA_A "', 4, 'error: error: said twice', 0)");

	fx_close(fx);
	fx->q = open_ok(path);
	got = get(fx->q, 1);
	assert_int_equal(got.outcome, OUT_CONFLICT);
	assert_string_equal(got.last_error, "a different file holds 1.0");
	got = get(fx->q, 2);
	assert_int_equal(got.outcome, OUT_NONE);
	assert_string_equal(got.last_error, "HTTP 503: try later");
	assert_int_equal(fx->q->ops->uploads(fx->q, 1, u, 5), 5);
	assert_int_equal(u[0].outcome, OUT_PUBLISHED);
	assert_string_equal(u[0].answer, "sent, 201");
	assert_int_equal(u[1].outcome, OUT_EXISTS);
	assert_string_equal(u[1].answer, "same file");
	assert_int_equal(u[2].outcome, OUT_NONE);
	assert_string_equal(u[2].answer, "boom: no word");
	assert_int_equal(u[3].outcome, OUT_NONE);
	assert_string_equal(u[3].answer, "");
	assert_int_equal(u[4].outcome, OUT_ERROR);
	assert_string_equal(u[4].answer, "error: said twice");
	/* Migrated once: opened again, the texts are not split twice. */
	fx_close(fx);
	fx->q = open_ok(path);
	assert_int_equal(fx->q->ops->uploads(fx->q, 1, u, 5), 5);
	assert_int_equal(u[4].outcome, OUT_ERROR);
	assert_string_equal(u[4].answer, "error: said twice");
	side_db_done(fx, path);
}

/* A database of the previous schema (5: before drains) with a job running
 * and one queued keeps working once migrated: the running job's lease and
 * fence hold, drains are empty, set and checked by claims. */
static void test_migrate_drains(void **state)
{
	struct fx *fx = *state;
	struct queue_drain d[4];
	struct job got[2];
	char path[300], text[256];
	int i;

	snprintf(path, sizeof(path), "%s/v5.db", fx->dir);
	for (i = 1; i <= 5; i++)
		sql(path, queue_sqlite__migration(i));
	snprintf(text, sizeof(text),
		 "PRAGMA application_id = %d; PRAGMA user_version = 5",
		 QUEUE_SQLITE_APP_ID);
	sql(path, text);
	sql(path,
	    "INSERT INTO jobs (kind, state, idem_key, registry, package, "
	    "max_attempts, attempts, next_run_ms, created_ms, updated_ms, head, "
	    "lease_owner, lease_expires_ms, fence) VALUES "
	    "(1, 2, 'run', 'pypi', 'p1', 3, 1, 0, 0, 0, 1, 'old:1', "
	    "1700000060000, 4), "
	    "(1, 1, 'queued', 'pypi', 'p2', 3, 0, 1700000000000, 0, 0, 1, '', 0, 0)");
	fx_close(fx);
	fx->q = open_ok(path);
	assert_int_equal(fx->q->ops->drains(fx->q, d, 4), 0);
	assert_int_equal(fx->q->ops->drain_set(fx->q, "new", true, T0), 1);
	assert_int_equal(claim(fx->q, "new:2", T0 + 1, 0, got, 2), 0);
	assert_int_equal(fx->q->ops->heartbeat(fx->q, 1, 4, T0 + 1, LEASE), 0);
	assert_int_equal(
	    fx->q->ops->finish(fx->q, 1, 4, JOB_SUCCEEDED, 0, OUT_NONE, NULL, T0 + 2), 0);
	assert_int_equal(fx->q->ops->drain_set(fx->q, "new", false, T0 + 3), 1);
	assert_int_equal(claim_one(fx->q, "new:2", T0 + 4).id, 2);
	fx_check_counts(fx->q, path);
	fx_close(fx);
	fx->q = open_ok(path); /* migrated once: opens again */
	side_db_done(fx, path);
}

static void test_refuse_missing_table(void **state)
{
	struct fx *fx = *state;

	fx_close(fx);
	sql(fx->path, "DROP TABLE job_log");
	expect_refused(fx->path, AOS_ECORRUPT, "lacks some of its tables", NULL);
}

/* Fills the queue of fx (300 jobs, more than 20 pages), closes it cleanly
 * (or, with unclean, as if its process had died) and overwrites a page in
 * the middle of the file: a page quick_check reads, which the open itself
 * does not. */
static void fill_and_corrupt(struct fx *fx, bool unclean)
{
	char key[16], inputs[400];
	unsigned char junk[4096];
	struct job_new n = {.kind = JOB_PUBLISH,
			    .registry = "pypi",
			    .package = "p",
			    .inputs = inputs,
			    .max_attempts = 1};
	struct stat st;
	int64_t id;
	long pages;
	int i, fd;

	memset(inputs, 'i', sizeof(inputs) - 1);
	inputs[sizeof(inputs) - 1] = '\0';
	n.idem_key = key;
	for (i = 0; i < 300; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		assert_int_equal(fx->q->ops->enqueue(fx->q, &n, T0, &id), 0);
	}
	fx_close(fx); /* checkpoints: everything is in the main file */
	if (unclean)
		sql(fx->path, "UPDATE meta SET value = 0 WHERE key = 'clean_stop'");
	assert_int_equal(stat(fx->path, &st), 0);
	pages = (long)(st.st_size / 4096);
	assert_true(pages > 20);

	/* Every page past the first belongs to a b-tree (nothing was
	 * deleted): overwrite one in the middle. */
	memset(junk, 0x5a, sizeof(junk));
	fd = open(fx->path, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, junk, sizeof(junk), (off_t)(pages / 2) * 4096),
			 (ssize_t)sizeof(junk));
	close(fd);
}

static void test_refuse_corrupt(void **state)
{
	struct fx *fx = *state;

	/* As if the last process had died: the open checks (quick_check). */
	fill_and_corrupt(fx, true);
	expect_refused(fx->path, AOS_ECORRUPT, "restore it from a backup", NULL);
	expect_check_fails(fx->path, "restore it from a backup");
}

/* A further connection of the process (the daemon's writer) checks,
 * migrates and marks nothing: the first connection's open did.  Proved by
 * a corrupt page the first open skipped (the last stop was clean): a
 * second queue_sqlite_open() sees the database in use and refuses it
 * after its quick_check; queue_sqlite_open_more() does not look.  Its
 * close leaves the marker to the first connection's. */
static void test_open_more(void **state)
{
	struct fx *fx = *state;
	struct queue *q2 = NULL;
	char err[512];
	int r;

	fill_and_corrupt(fx, false);
	fx->q = open_ok(fx->path);
	assert_int_equal(queue_sqlite_open_check(fx->q), QUEUE_CHECK_SKIPPED);
	expect_refused(fx->path, AOS_ECORRUPT, "restore it from a backup", NULL);
	r = queue_sqlite_open_more(fx->path, &q2, err, sizeof(err));
	if (r != 0)
		fail_msg("the second connection checked the database again: %d: %s", r,
			 err);
	assert_int_equal(queue_sqlite_open_check(q2), QUEUE_CHECK_BY_FIRST);
	q2->ops->close(q2);
	/* Still in use (the first connection is open): the next process
	 * would check. */
	r = queue_sqlite_open(fx->path, &q2, err, sizeof(err));
	assert_int_equal(r, AOS_ECORRUPT);
	fx_close(fx);
	fx->q = open_ok(fx->path);
	assert_int_equal(queue_sqlite_open_check(fx->q), QUEUE_CHECK_SKIPPED);
}

/* queue_sqlite_open_more() on a database no first connection set up: a
 * missing file, an empty one (not migrated). */
static void test_open_more_refused(void **state)
{
	struct fx *fx = *state;
	struct queue *q2 = NULL;
	char path[1100], err[512];

	snprintf(path, sizeof(path), "%s/missing.db", fx->dir);
	assert_true(queue_sqlite_open_more(path, &q2, err, sizeof(err)) < 0);
	assert_null(q2);
	assert_int_equal(strncmp(err, path, strlen(path)), 0);
	assert_contains(err, "first connection");
	print_message("refused: %s\n", err);
	assert_int_equal(access(path, F_OK), -1); /* not created */
	snprintf(path, sizeof(path), "%s/empty.db", fx->dir);
	write_file(path, "", 0);
	assert_int_equal(queue_sqlite_open_more(path, &q2, err, sizeof(err)),
			 AOS_ESCHEMA);
	assert_null(q2);
	assert_contains(err, "first connection");
	print_message("refused: %s\n", err);
	unlink(path);
}

/* A database SQLite reads without error but whose index does not match its
 * table: only the full PRAGMA integrity_check sees it, which the start does
 * not run (aos-publishd --check-queue does). */
static void test_refuse_integrity(void **state)
{
	struct fx *fx = *state;
	char err[512];

	enqueue(fx->q, "a", T0);
	enqueue(fx->q, "b", T0);
	fx_close(fx);
	assert_int_equal(queue_sqlite_check(fx->path, err, sizeof(err)), 0);
	sql(fx->path, "PRAGMA writable_schema = ON; UPDATE sqlite_master SET sql = "
		      "'CREATE INDEX job_log_job ON job_log (at_ms, id)' "
		      "WHERE name = 'job_log_job'");
	expect_check_fails(fx->path, "job_log_job");
}

/* Which check the open made: none on a new file or after a clean close, quick_check after
 * a process that died with the queue open (a child that exits without closing), or on a
 * database of schema 1 (before the marker). */
static void test_open_check(void **state)
{
	struct fx *fx = *state;
	pid_t pid;
	int status;

	assert_int_equal(queue_sqlite_open_check(fx->q), QUEUE_CHECK_NEW);
	fx_close(fx);
	fx->q = open_ok(fx->path);
	assert_int_equal(queue_sqlite_open_check(fx->q), QUEUE_CHECK_SKIPPED);
	fx_close(fx);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct queue *q = open_ok(fx->path);

		_exit(queue_sqlite_open_check(q) == QUEUE_CHECK_SKIPPED ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	fx->q = open_ok(fx->path);
	assert_int_equal(queue_sqlite_open_check(fx->q), QUEUE_CHECK_QUICK);
}

/* Migration 2 on a database of schema 1 with jobs in it: the counters start
 * from the jobs there, the marker says "not cleanly stopped". */
static void test_migrate_counts(void **state)
{
	struct fx *fx = *state;
	struct job j[4];
	int n;

	enqueue(fx->q, "a", T0);
	enqueue(fx->q, "b", T0);
	enqueue(fx->q, "c", T0);
	n = claim(fx->q, "w:1", T0, 1, j, 4);
	assert_int_equal(n, 1);
	job_clear(&j[0]);
	fx_close(fx);
	sql(fx->path,
	    "DROP TRIGGER jobs_count_insert; DROP TRIGGER jobs_count_delete; "
	    "DROP TRIGGER jobs_count_update; DROP TABLE job_counts; "
	    "DROP TABLE meta; DROP INDEX jobs_kind_state; DROP INDEX jobs_ended; "
	    "DROP TABLE drains; "
	    "ALTER TABLE uploads DROP COLUMN outcome; "
	    "ALTER TABLE jobs DROP COLUMN outcome; "
	    "PRAGMA user_version = 1");
	fx->q = open_ok(fx->path);
	assert_int_equal(queue_sqlite_open_check(fx->q), QUEUE_CHECK_QUICK);
	fx_check_counts(fx->q, fx->path);
	enqueue(fx->q, "d", T0);
	fx_check_counts(fx->q, fx->path);
}

static void test_refuse_missing_dir(void **state)
{
	struct fx *fx = *state;
	char path[300];

	snprintf(path, sizeof(path), "%s/nope/queue.db", fx->dir);
	expect_refused(path, -ENOENT, "directory does not exist", NULL);
}

/* ---- a small stress run ---- */

static double elapsed_s(const struct timespec *a)
{
	struct timespec b;

	clock_gettime(CLOCK_MONOTONIC, &b);
	return (double)(b.tv_sec - a->tv_sec) + (double)(b.tv_nsec - a->tv_nsec) / 1e9;
}

static void test_stress_enqueue(void **state)
{
	struct fx *fx = *state;
	struct queue *q = fx->q;
	enum { N = 10000 };
	struct timespec t;
	struct job j[16];
	char key[32], pkg[32];
	int64_t counts[JOB_CANCELED + 1];
	double s;
	int i, n;

	clock_gettime(CLOCK_MONOTONIC, &t);
	for (i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "stress-%d", i);
		snprintf(pkg, sizeof(pkg), "pkg%d", i % 500);
		enqueue_in(q, key, i % 2 ? "pypi" : "npm", pkg, T0 + i);
	}
	s = elapsed_s(&t);
	print_message("%d durable enqueues (2 uploads each): %.2f s, %.0f jobs/s, "
		      "%.3f ms each\n",
		      N, s, N / s, s * 1000 / N);
	assert_int_equal(q->ops->counts(q, counts), 0);
	assert_int_equal(counts[JOB_QUEUED], N);

	clock_gettime(CLOCK_MONOTONIC, &t);
	n = claim(q, "w1", T0 + N, 2, j, 16);
	s = elapsed_s(&t);
	print_message("claim among %d queued jobs: %d claimed in %.2f ms\n", N, n,
		      s * 1000);
	assert_int_equal(n, 4);
	for (i = 0; i < n; i++)
		job_clear(&j[i]);

	/* Opening checks integrity: what a start costs with this backlog. */
	fx_close(fx);
	clock_gettime(CLOCK_MONOTONIC, &t);
	fx->q = open_ok(fx->path);
	s = elapsed_s(&t);
	print_message("open (integrity check) with %d jobs: %.1f ms\n", N, s * 1000);
	assert_int_equal(fx->q->ops->counts(fx->q, counts), 0);
	assert_int_equal(counts[JOB_QUEUED], N - 4);
	assert_int_equal(counts[JOB_RUNNING], 4);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_second_connection_keeps_the_wal, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_refuse_random_bytes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuse_foreign, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuse_newer_schema, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_migrate_outcomes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_migrate_drains, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuse_missing_table, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuse_corrupt, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_more, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_more_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuse_integrity, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refuse_missing_dir, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_open_check, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_migrate_counts, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stress_enqueue, setup, teardown),
	};

	if (argc == 3 && strcmp(argv[1], "--touch") == 0)
		return touch_main(argv[2]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
