/* queue_sqlite_tx.c - what every write of the SQLite backend uses
 * (queue_sqlite_internal.h): a statement stepped, a write transaction
 * begun and ended, a line added to a job's log, a job's upload rows
 * inserted, a package's head recomputed.  queue_sqlite.c and the
 * operations' files (queue_sqlite_claim.c, queue_sqlite_lease.c,
 * queue_sqlite_prune.c) call it; it calls none of them. */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "queue/queue.h"
#include "queue_internal.h"
#include "queue_sqlite_internal.h"

/* Steps a statement that returns no row; resets it. */
int queue_sqlite__step_done(sqlite3_stmt *s)
{
	int rc = sqlite3_step(s);

	queue_sqlite__done(s);
	return rc == SQLITE_DONE ? 0 : queue_sqlite__err(rc);
}

int queue_sqlite__tx_begin(struct queue_sqlite *q)
{
	return queue_sqlite__step_done(q->st[QS_BEGIN]);
}

/* Whether f's last failed call (a write or sync) failed for want of space.
 * The errno stays until another call fails: a later failure that sets none
 * would still read it, which only changes the message. */
static bool file_full(sqlite3_file *f)
{
	int e = 0;

	return f != NULL && f->pMethods != NULL &&
	       f->pMethods->xFileControl(f, SQLITE_FCNTL_LAST_ERRNO, &e) == SQLITE_OK &&
	       (e == ENOSPC || e == EDQUOT);
}

/* Whether a failed commit failed for want of space: an fsync of the WAL
 * that did is SQLITE_IOERR_FSYNC, and the connection's errno is gone by
 * then; the WAL's (or the main file's) own last errno says so. */
static bool commit_full(sqlite3 *db)
{
	sqlite3_file *wal = NULL, *main_db = NULL;

	if (sqlite3_file_control(db, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal) !=
	    SQLITE_OK)
		wal = NULL;
	if (sqlite3_file_control(db, "main", SQLITE_FCNTL_FILE_POINTER, &main_db) !=
	    SQLITE_OK)
		main_db = NULL;
	return file_full(wal) || file_full(main_db);
}

/* Commits when result is 0, else rolls back; returns result or the commit's
 * error. */
int queue_sqlite__tx_end(struct queue_sqlite *q, int result)
{
	if (result >= 0) {
		result = queue_sqlite__step_done(q->st[QS_COMMIT]);
		if (result == 0)
			return 0;
		if (result == -EIO && commit_full(q->db))
			result = -ENOSPC;
	}
	if (!sqlite3_get_autocommit(q->db))
		queue_sqlite__step_done(q->st[QS_ROLLBACK]);
	return result;
}

/* Appends a line to job id's log and drops the oldest beyond QUEUE_LOG_MAX.
 * Called inside a write transaction. */
int queue_sqlite__log_add(struct queue_sqlite *q, int64_t id, int64_t now_ms,
			  const char *fmt, ...)
{
	char text[JOB_TEXT_MAX +
		  1]; /* one more: queue__text_len() sees where it was cut */
	sqlite3_stmt *s;
	va_list ap;
	int result;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);

	s = q->st[QS_LOG_INSERT];
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, now_ms);
	bind_text(s, 3, text, JOB_TEXT_MAX);
	result = queue_sqlite__step_done(s);
	if (result < 0)
		return result;
	if (q->base.observer.logged != NULL)
		q->base.observer.logged(q->base.observer.data, id);
	s = q->st[QS_LOG_TRIM];
	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int(s, 2, QUEUE_LOG_MAX);
	return queue_sqlite__step_done(s);
}

/* Upload rows of job id; registry "" takes each upload's own. */
int queue_sqlite__uploads_insert(struct queue_sqlite *q, int64_t id, const char *registry,
				 const struct job_upload *ups, size_t n, int64_t now_ms)
{
	sqlite3_stmt *s;
	size_t i;
	int result;

	for (i = 0; i < n; i++) {
		const struct job_upload *u = &ups[i];

		s = q->st[QS_UPLOAD_INSERT];
		sqlite3_bind_int64(s, 1, id);
		sqlite3_bind_text(s, 2, u->filename, -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 3, u->registry[0] != '\0' ? u->registry : registry,
				  -1, SQLITE_STATIC);
		sqlite3_bind_text(s, 4, u->sha256, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 5, now_ms);
		/* -EINVAL (a constraint): the same filename twice */
		result = queue_sqlite__step_done(s);
		if (result < 0)
			return result;
	}
	return 0;
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
