/* queue_sqlite_read.c - the SQLite queue backend's reads (get, list,
 * uploads, log, counts) and the helpers shared with the writes.
 *
 * Reads run outside an explicit transaction: each statement sees one
 * consistent snapshot of the WAL.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "queue/queue.h"
#include "queue_internal.h"
#include "queue_sqlite_internal.h"

int queue_sqlite__err(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE: return 0;
	case SQLITE_NOMEM: return -ENOMEM;
	case SQLITE_BUSY:
	case SQLITE_LOCKED: return -EBUSY;
	case SQLITE_FULL: return -ENOSPC;
	case SQLITE_READONLY: return -EROFS;
	case SQLITE_PERM:
	case SQLITE_AUTH: return -EACCES;
	case SQLITE_CONSTRAINT:
	case SQLITE_MISMATCH:
	case SQLITE_RANGE: return -EINVAL;
	case SQLITE_TOOBIG: return AOS_ETOOBIG;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB: return AOS_ECORRUPT;
	case SQLITE_INTERRUPT: return AOS_ECANCELED;
	default: return -EIO; /* IOERR, CANTOPEN, PROTOCOL, ERROR, ... */
	}
}

void queue_sqlite__done(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

void queue_sqlite__col_text(sqlite3_stmt *s, int col, char *dst, size_t n)
{
	const unsigned char *t = sqlite3_column_text(s, col);
	size_t len = (size_t)sqlite3_column_bytes(s, col);

	if (n == 0)
		return;
	if (t == NULL)
		len = 0;
	if (len > n - 1)
		len = n - 1;
	memcpy(dst, t != NULL ? (const char *)t : "", len);
	dst[len] = '\0';
}

static int64_t sq_int64(void *row, int col)
{
	return sqlite3_column_int64(row, col);
}

static bool sq_null(void *row, int col)
{
	return sqlite3_column_type(row, col) == SQLITE_NULL;
}

static const char *sq_text(void *row, int col, size_t *ret_len)
{
	const unsigned char *t = sqlite3_column_text(row, col);

	*ret_len = (size_t)sqlite3_column_bytes(row, col);
	return (const char *)t;
}

int queue_sqlite__read_job(sqlite3_stmt *s, struct job *j)
{
	const struct queue_row r = {sq_int64, sq_null, sq_text, s};

	return queue__read_job(&r, j);
}

/* 0 when job id exists, else AOS_ENOTFOUND. */
static int job_exists(struct queue_sqlite *q, int64_t id)
{
	sqlite3_stmt *s = q->st[QS_JOB_STATE];
	int rc;

	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	queue_sqlite__done(s);
	if (rc == SQLITE_ROW)
		return 0;
	return rc == SQLITE_DONE ? AOS_ENOTFOUND : queue_sqlite__err(rc);
}

int queue_sqlite__get(struct queue *q_, int64_t id, struct job *ret)
{
	struct queue_sqlite *q = (struct queue_sqlite *)q_;
	sqlite3_stmt *s = q->st[QS_JOB_GET];
	struct job j;
	int rc, result;

	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		result = queue_sqlite__read_job(s, &j);
	else
		result = rc == SQLITE_DONE ? AOS_ENOTFOUND : queue_sqlite__err(rc);
	queue_sqlite__done(s);
	if (result < 0) {
		if (rc == SQLITE_ROW)
			job_clear(&j);
		return result;
	}
	*ret = j;
	return 0;
}

int queue_sqlite__list(struct queue *q_, const struct job_filter *f, struct job *ret,
		       size_t max)
{
	struct queue_sqlite *q = (struct queue_sqlite *)q_;
	sqlite3_stmt *s = q->st[f != NULL && f->state != 0 ? QS_LIST_STATE : QS_LIST];
	size_t limit = queue__list_limit(f, max);
	size_t n = 0, i;
	int rc = SQLITE_DONE, result = 0;

	if (limit == 0)
		return 0;
	sqlite3_bind_int(s, 1, f != NULL ? (int)f->state : 0);
	sqlite3_bind_int64(s, 2,
			   f != NULL && f->before_id > 0 ? f->before_id : INT64_MAX);
	sqlite3_bind_int64(s, 3, (int64_t)limit);
	while (n < limit && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		result = queue_sqlite__read_job(s, &ret[n++]);
		if (result < 0)
			break;
	}
	if (result == 0 && n < limit && rc != SQLITE_DONE)
		result = queue_sqlite__err(rc);
	queue_sqlite__done(s);
	if (result < 0) {
		for (i = 0; i < n; i++)
			job_clear(&ret[i]);
		return result;
	}
	return (int)n;
}

/* Begins the read of at most *max rows of job id by statement which (the id
 * its first parameter); cuts *max to what an int counts.  Returns the
 * statement. */
static sqlite3_stmt *rows_begin(struct queue_sqlite *q, enum qs_stmt which, int64_t id,
				size_t *max)
{
	if (*max > INT_MAX)
		*max = INT_MAX;
	sqlite3_bind_int64(q->st[which], 1, id);
	return q->st[which];
}

/* Ends the read of job id's rows by s, whose last step gave rc: resets s.
 * Returns n, the rows read, or the step's error, or AOS_ENOTFOUND when no
 * row came and there is no job id. */
static int rows_end(struct queue_sqlite *q, sqlite3_stmt *s, int rc, size_t n, size_t max,
		    int64_t id)
{
	int result = 0;

	if (n < max && rc != SQLITE_DONE)
		result = queue_sqlite__err(rc);
	queue_sqlite__done(s);
	if (result == 0 && n == 0)
		result = job_exists(q, id);
	return result < 0 ? result : (int)n;
}

int queue_sqlite__uploads(struct queue *q_, int64_t id, struct job_upload *ret,
			  size_t max)
{
	struct queue_sqlite *q = (struct queue_sqlite *)q_;
	sqlite3_stmt *s = rows_begin(q, QS_UPLOADS, id, &max);
	size_t n = 0;
	int rc = SQLITE_DONE;

	while (n < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct job_upload *u = &ret[n++];

		memset(u, 0, sizeof(*u));
		u->job_id = sqlite3_column_int64(s, 0);
		queue_sqlite__col_text(s, 1, u->filename, sizeof(u->filename));
		queue_sqlite__col_text(s, 2, u->registry, sizeof(u->registry));
		queue_sqlite__col_text(s, 3, u->sha256, sizeof(u->sha256));
		u->state = (enum upload_state)sqlite3_column_int(s, 4);
		queue_sqlite__col_text(s, 5, u->answer, sizeof(u->answer));
		u->updated_ms = sqlite3_column_int64(s, 6);
		u->outcome = outcome_parse((const char *)sqlite3_column_text(s, 7));
	}
	return rows_end(q, s, rc, n, max, id);
}

int queue_sqlite__log_read(struct queue *q_, int64_t id, int64_t after_id,
			   struct job_log_entry *ret, size_t max)
{
	struct queue_sqlite *q = (struct queue_sqlite *)q_;
	sqlite3_stmt *s = rows_begin(q, QS_LOG_READ, id, &max);
	size_t n = 0;
	int rc = SQLITE_DONE;

	sqlite3_bind_int64(s, 2, after_id);
	sqlite3_bind_int64(s, 3, (int64_t)max);
	while (n < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct job_log_entry *e = &ret[n++];

		e->id = sqlite3_column_int64(s, 0);
		e->job_id = sqlite3_column_int64(s, 1);
		e->at_ms = sqlite3_column_int64(s, 2);
		queue_sqlite__col_text(s, 3, e->text, sizeof(e->text));
	}
	return rows_end(q, s, rc, n, max, id);
}

int queue_sqlite__counts(struct queue *q_, int64_t ret[JOB_CANCELED + 1])
{
	struct queue_sqlite *q = (struct queue_sqlite *)q_;
	sqlite3_stmt *s = q->st[QS_COUNTS];
	int64_t counts[JOB_CANCELED + 1] = {0};
	int rc, st;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		st = sqlite3_column_int(s, 0);
		if (st >= JOB_QUEUED && st <= JOB_CANCELED)
			counts[st] = sqlite3_column_int64(s, 1);
	}
	queue_sqlite__done(s);
	if (rc != SQLITE_DONE)
		return queue_sqlite__err(rc);
	memcpy(ret, counts, sizeof(counts));
	return 0;
}

int queue_sqlite__stats(struct queue *q_, int64_t now_ms, struct queue_stats *ret)
{
	struct queue_sqlite *q = (struct queue_sqlite *)q_;
	sqlite3_stmt *s = q->st[QS_KIND_COUNTS];
	struct queue_stats st = {0};
	int rc, kind, state;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		kind = sqlite3_column_int(s, 0);
		state = sqlite3_column_int(s, 1);
		if (kind >= JOB_PUBLISH && kind <= JOB_PIPELINE && state >= JOB_QUEUED &&
		    state <= JOB_CANCELED)
			st.jobs[kind][state] = sqlite3_column_int64(s, 2);
	}
	queue_sqlite__done(s);
	if (rc != SQLITE_DONE)
		return queue_sqlite__err(rc);
	s = q->st[QS_OLDEST_DUE];
	sqlite3_bind_int64(s, 1, now_ms);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		st.oldest_due_ms = sqlite3_column_int64(s, 0); /* NULL reads as 0 */
	queue_sqlite__done(s);
	if (rc != SQLITE_ROW)
		return queue_sqlite__err(rc);
	*ret = st;
	return 0;
}
