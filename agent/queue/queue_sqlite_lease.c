/* queue_sqlite_lease.c - the SQLite backend's lease-fenced writes: a
 * worker's heartbeat, an upload's state, the job's finish and a pipeline
 * job's recorded artifacts.  Each is one BEGIN IMMEDIATE transaction that
 * first checks that (id, fence) still holds the running job's lease: a
 * worker whose lease ran out and was taken over gets AOS_EFENCED and
 * changes nothing. */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/err.h"
#include "queue/queue.h"
#include "queue_internal.h"
#include "queue_sqlite_internal.h"

static struct queue_sqlite *qs(struct queue *q)
{
	return (struct queue_sqlite *)q;
}

/* An outcome is kept as its word ("" for none: outcome_parse() reads it). */
static void bind_outcome(sqlite3_stmt *st, int idx, enum pub_outcome out)
{
	sqlite3_bind_text(st, idx, queue__outcome_word(out), -1, SQLITE_STATIC);
}

/* Binds the lease (id, fence) as s's first two parameters. */
static void bind_lease(sqlite3_stmt *s, int64_t id, int64_t fence)
{
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, fence);
}

/* Steps s, a write that returns no row; returns none when it changed no
 * row, else 0 or the step's error. */
static int step_changed(struct queue_sqlite *q, sqlite3_stmt *s, int none)
{
	int result = queue_sqlite__step_done(s);

	return result == 0 && sqlite3_changes(q->db) == 0 ? none : result;
}

/* After job id left or entered the unfinished states: recompute its
 * package's head. */
int queue_sqlite__head_refresh(struct queue_sqlite *q, int64_t id)
{
	int result;

	sqlite3_bind_int64(q->st[QS_HEAD_CLEAR], 1, id);
	result = queue_sqlite__step_done(q->st[QS_HEAD_CLEAR]);
	if (result < 0)
		return result;
	sqlite3_bind_int64(q->st[QS_HEAD_SET], 1, id);
	return queue_sqlite__step_done(q->st[QS_HEAD_SET]);
}

int queue_sqlite__heartbeat(struct queue *q_, int64_t id, int64_t fence, int64_t now_ms,
			    int64_t lease_ms)
{
	struct queue_sqlite *q = qs(q_);
	sqlite3_stmt *s = q->st[QS_HEARTBEAT];
	int result;

	if (now_ms < 0 || lease_ms <= 0 || lease_ms > INT64_MAX - now_ms)
		return -EINVAL;
	result = queue_sqlite__tx_begin(q);
	if (result < 0)
		return result;
	bind_lease(s, id, fence);
	sqlite3_bind_int64(s, 3, now_ms + lease_ms);
	sqlite3_bind_int64(s, 4, now_ms);
	result = step_changed(q, s, AOS_EFENCED);
	return queue_sqlite__tx_end(q, result);
}

/* Returns 0 when (id, fence) holds the running job's lease, else
 * AOS_EFENCED. */
static int fence_check(struct queue_sqlite *q, int64_t id, int64_t fence)
{
	sqlite3_stmt *s = q->st[QS_FENCE_CHECK];
	int rc;

	bind_lease(s, id, fence);
	rc = sqlite3_step(s);
	queue_sqlite__done(s);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? AOS_EFENCED : queue_sqlite__err(rc);
}

/* Begins a write transaction in which (id, fence) holds the running job's
 * lease.  Returns 0 inside it, else the error (AOS_EFENCED when the lease is
 * not held) with no transaction left open. */
static int fenced_begin(struct queue_sqlite *q, int64_t id, int64_t fence)
{
	int result = queue_sqlite__tx_begin(q);

	if (result < 0)
		return result;
	result = fence_check(q, id, fence);
	return result < 0 ? queue_sqlite__tx_end(q, result) : 0;
}

int queue_sqlite__upload_set(struct queue *q_, int64_t id, int64_t fence,
			     const char *filename, enum upload_state st,
			     enum pub_outcome out, const char *answer, int64_t now_ms)
{
	struct queue_sqlite *q = qs(q_);
	sqlite3_stmt *s;
	int result;

	if ((result = queue__check_upload_set(filename, st)) < 0 ||
	    (result = fenced_begin(q, id, fence)) < 0)
		return result;
	s = q->st[QS_UPLOAD_SET];
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, filename, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 3, st);
	bind_text(s, 4, answer, JOB_TEXT_MAX);
	sqlite3_bind_int64(s, 5, now_ms);
	bind_outcome(s, 6, out);
	result = step_changed(q, s, AOS_ENOTFOUND);
	if (result < 0)
		goto out;
	s = q->st[QS_JOB_TOUCH];
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, now_ms);
	result = queue_sqlite__step_done(s);
out:
	return queue_sqlite__tx_end(q, result);
}

static int finish_log(struct queue_sqlite *q, int64_t id, enum job_state st,
		      int64_t next_run_ms, enum pub_outcome out, const char *message,
		      int64_t now_ms)
{
	char text[JOB_TEXT_MAX + 1];

	queue__finish_text(st, next_run_ms, out, message, text, sizeof(text));
	return queue_sqlite__log_add(q, id, now_ms, "%s", text);
}

int queue_sqlite__finish(struct queue *q_, int64_t id, int64_t fence, enum job_state st,
			 int64_t next_run_ms, enum pub_outcome out, const char *error,
			 int64_t now_ms)
{
	struct queue_sqlite *q = qs(q_);
	sqlite3_stmt *s = q->st[QS_FINISH];
	bool retries = st == JOB_FAILED || st == JOB_QUEUED;
	int result;

	if (st != JOB_SUCCEEDED && st != JOB_FAILED && st != JOB_DEAD && st != JOB_QUEUED)
		return -EINVAL;
	result = queue_sqlite__tx_begin(q);
	if (result < 0)
		return result;
	bind_lease(s, id, fence);
	sqlite3_bind_int(s, 3, st);
	if (retries)
		sqlite3_bind_int64(s, 4, next_run_ms);
	if ((st == JOB_FAILED || st == JOB_DEAD) && error != NULL)
		bind_text(s, 5, error, JOB_TEXT_MAX);
	bind_text(s, 6, st == JOB_QUEUED ? error : NULL,
		  sizeof(((struct job *)0)->wait_reason));
	sqlite3_bind_int(s, 7, st == JOB_QUEUED ? 1 : 0);
	sqlite3_bind_int64(s, 8, now_ms);
	bind_outcome(s, 9, out);
	result = step_changed(q, s, AOS_EFENCED);
	if (result == 0 && !retries)
		result = queue_sqlite__head_refresh(q, id);
	if (result == 0)
		result = finish_log(q, id, st, next_run_ms, out, error, now_ms);
	return queue_sqlite__tx_end(q, result);
}

int queue_sqlite__set_artifacts(struct queue *q_, int64_t id, int64_t fence,
				const char *inputs, const struct job_upload *ups,
				size_t n, int64_t now_ms)
{
	struct queue_sqlite *q = qs(q_);
	char line[64];
	sqlite3_stmt *s;
	int result;

	if ((result = queue__check_inputs(inputs)) < 0 ||
	    (result = queue__check_uploads(ups, n)) < 0 ||
	    (result = fenced_begin(q, id, fence)) < 0)
		return result;
	s = q->st[QS_INPUTS_SET];
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_text(s, 2, inputs, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 3, now_ms);
	result = queue_sqlite__step_done(s);
	if (result == 0)
		result = queue_sqlite__uploads_insert(q, id, "", ups, n, now_ms);
	if (result == 0) {
		queue__artifacts_text(n, line, sizeof(line));
		result = queue_sqlite__log_add(q, id, now_ms, "%s", line);
	}
	return queue_sqlite__tx_end(q, result);
}
