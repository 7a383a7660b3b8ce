/* queue_sqlite.c - the SQLite queue backend: opening, the cached statements,
 * and the writes (enqueue, the lease-fenced updates, operator actions),
 * and the answer to a job's files (none kept here: the spool keeps them).
 * Claims are in queue_sqlite_claim.c, retention in queue_sqlite_prune.c,
 * what every write uses (steps, transactions, the job log) in
 * queue_sqlite_tx.c, reads in queue_sqlite_read.c, the schema and the
 * checks at open in queue_sqlite_schema.c.
 *
 * Every write is one BEGIN IMMEDIATE transaction: the write lock is taken
 * first, so the checks made inside it (idempotency key, fence, per-registry
 * counts) still hold when it commits.  Job state transitions are written to
 * the job's log in the same transaction.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "queue/queue.h"
#include "queue_internal.h"
#include "queue_sqlite_internal.h"

/* The SQL below spells the states as numbers. */
_Static_assert(JOB_QUEUED == 1 && JOB_RUNNING == 2 && JOB_SUCCEEDED == 3 &&
		   JOB_FAILED == 4 && JOB_DEAD == 5 && JOB_CANCELED == 6,
	       "job states are stored by number");

static const char *const stmt_sql[QS__COUNT] = {
    [QS_BEGIN] = "BEGIN IMMEDIATE",
    [QS_COMMIT] = "COMMIT",
    [QS_ROLLBACK] = "ROLLBACK",
    [QS_JOB_GET] = "SELECT " QS_JOB_COLS " FROM jobs WHERE id = ?1",
    [QS_JOB_STATE] = "SELECT state, lease_owner FROM jobs WHERE id = ?1",
    [QS_JOB_BY_KEY] = "SELECT id FROM jobs WHERE idem_key = ?1",
    /* A new job is its package's head when the package has no other
     * unfinished job (a newer id never goes before an older one). */
    [QS_JOB_INSERT] = "INSERT INTO jobs (kind, state, idem_key, registry, package, "
		      "inputs, attempts, max_attempts, next_run_ms, created_ms, "
		      "updated_ms, head) VALUES (?1, 1, ?2, ?3, ?4, ?5, 0, ?6, ?7, ?7, "
		      "?7, NOT EXISTS (SELECT 1 FROM jobs WHERE package = ?4 "
		      "AND state IN (1, 2, 4)))",
    [QS_UPLOAD_INSERT] = "INSERT INTO uploads (job_id, filename, registry, sha256, "
			 "state, answer, updated_ms) VALUES (?1, ?2, ?3, ?4, 1, '', ?5)",
    /* The registries that have a head, one after the other. */
    [QS_NEXT_REGISTRY] = "SELECT registry FROM jobs WHERE head = 1 AND registry > ?1 "
			 "ORDER BY registry LIMIT 1",
    [QS_REG_RUNNING] = "SELECT count(*) FROM jobs WHERE registry = ?1 AND state = 2 "
		       "AND lease_expires_ms > ?2",
    /* A registry's due heads, oldest first, unless another job of the
     * package runs under a valid lease (a head retried while a newer job
     * of its package runs). */
    [QS_CLAIM_DUE] = "SELECT id, state, package, lease_owner, " QS_DUE_EXPR
		     " FROM jobs AS j WHERE head = 1 AND registry = ?2 AND " QS_DUE_EXPR
		     " <= ?1 AND NOT EXISTS (SELECT 1 FROM jobs AS o "
		     "WHERE o.package = j.package AND o.state = 2 "
		     "AND o.lease_expires_ms > ?1) ORDER BY " QS_DUE_EXPR ", id",
    /* After job ?1 finished, or was canceled or retried: the oldest
     * unfinished job of its package becomes the head. */
    [QS_HEAD_CLEAR] = "UPDATE jobs SET head = 0 WHERE head = 1 "
		      "AND package = (SELECT package FROM jobs WHERE id = ?1)",
    [QS_HEAD_SET] = "UPDATE jobs SET head = 1 WHERE id = (SELECT min(id) FROM jobs "
		    "WHERE state IN (1, 2, 4) "
		    "AND package = (SELECT package FROM jobs WHERE id = ?1))",
    [QS_CLAIM_SET] = "UPDATE jobs SET state = 2, attempts = attempts + 1, "
		     "lease_owner = ?2, lease_expires_ms = ?3, fence = fence + 1, "
		     "updated_ms = ?4, wait_reason = '' WHERE id = ?1",
    /* A lease that ran out is not revived: its registry slot or package
     * may have gone to another job meanwhile. */
    [QS_HEARTBEAT] = "UPDATE jobs SET lease_expires_ms = ?3, updated_ms = ?4 "
		     "WHERE id = ?1 AND fence = ?2 AND state = 2 "
		     "AND lease_expires_ms > ?4",
    [QS_FENCE_CHECK] = "SELECT 1 FROM jobs WHERE id = ?1 AND fence = ?2 AND state = 2",
    [QS_UPLOAD_SET] = "UPDATE uploads SET state = ?3, answer = ?4, updated_ms = ?5, "
		      "outcome = ?6 "
		      "WHERE job_id = ?1 AND filename = ?2",
    [QS_JOB_TOUCH] = "UPDATE jobs SET updated_ms = ?2 WHERE id = ?1",
    [QS_FINISH] =
	"UPDATE jobs SET state = ?3, next_run_ms = coalesce(?4, next_run_ms), "
	"last_error = coalesce(?5, last_error), "
	"outcome = CASE WHEN ?5 IS NULL THEN outcome ELSE ?9 END, wait_reason = ?6, "
	"attempts = max(attempts - ?7, 0), lease_owner = '', "
	"lease_expires_ms = 0, updated_ms = ?8 "
	"WHERE id = ?1 AND fence = ?2 AND state = 2",
    [QS_CANCEL] = "UPDATE jobs SET state = 6, fence = fence + ?2, lease_owner = '', "
		  "lease_expires_ms = 0, wait_reason = '', updated_ms = ?3 WHERE id = ?1",
    [QS_RETRY] = "UPDATE jobs SET state = 1, attempts = 0, next_run_ms = ?2, "
		 "wait_reason = '', updated_ms = ?2 WHERE id = ?1",
    [QS_OWNED] = "SELECT id, lease_owner FROM jobs WHERE state = 2 "
		 "AND substr(lease_owner, 1, length(?1)) = ?1 ORDER BY id",
    [QS_RELEASE] = "UPDATE jobs SET state = 1, attempts = max(attempts - 1, 0), "
		   "fence = fence + 1, lease_owner = '', lease_expires_ms = 0, "
		   "next_run_ms = ?2, updated_ms = ?2 WHERE id = ?1",
    [QS_LOG_INSERT] = "INSERT INTO job_log (job_id, at_ms, text) VALUES (?1, ?2, ?3)",
    [QS_LOG_TRIM] = "DELETE FROM job_log WHERE job_id = ?1 AND id <= (SELECT id "
		    "FROM job_log WHERE job_id = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
    [QS_LIST] = "SELECT " QS_LIST_COLS " FROM jobs WHERE id < ?2 "
		"ORDER BY id DESC LIMIT ?3",
    [QS_LIST_STATE] = "SELECT " QS_LIST_COLS " FROM jobs WHERE state = ?1 AND id < ?2 "
		      "ORDER BY id DESC LIMIT ?3",
    [QS_UPLOADS] = "SELECT job_id, filename, registry, sha256, state, answer, "
		   "updated_ms, outcome FROM uploads WHERE job_id = ?1 ORDER BY rowid",
    [QS_LOG_READ] = "SELECT id, job_id, at_ms, text FROM job_log "
		    "WHERE job_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
    [QS_COUNTS] = "SELECT state, n FROM job_counts", /* kept by triggers */
    /* On indexes: jobs_kind_state (covering), jobs_state. */
    [QS_KIND_COUNTS] = "SELECT kind, state, count(*) FROM jobs GROUP BY kind, state",
    [QS_OLDEST_DUE] = "SELECT min(next_run_ms) FROM jobs WHERE state IN (1, 4) "
		      "AND next_run_ms <= ?1",
    [QS_INPUTS_SET] = "UPDATE jobs SET inputs = ?2, updated_ms = ?3 WHERE id = ?1",
    /* On jobs_ended (migration 5): the ended jobs in id order. */
    [QS_PRUNE_PICK] = "SELECT " QS_JOB_COLS " FROM jobs INDEXED BY jobs_ended "
		      "WHERE state IN (3, 5, 6) "
		      "AND id > ?2 AND updated_ms < ?1 ORDER BY id LIMIT ?3",
    /* Its uploads and log go with it (ON DELETE CASCADE). */
    [QS_PRUNE_DELETE] = "DELETE FROM jobs WHERE id = ?1 AND state IN (3, 5, 6)",
    [QS_DRAINED] = "SELECT 1 FROM drains WHERE host IN ('', ?1) LIMIT 1",
    [QS_DRAIN_ADD] = "INSERT INTO drains (host, since_ms) SELECT ?1, ?2 "
		     "WHERE (SELECT count(*) FROM drains) < ?3 "
		     "ON CONFLICT (host) DO NOTHING",
    [QS_DRAIN_IS] = "SELECT 1 FROM drains WHERE host = ?1",
    [QS_DRAIN_DEL] = "DELETE FROM drains WHERE host = ?1",
    [QS_DRAINS] = "SELECT host, since_ms FROM drains ORDER BY host LIMIT ?1",
};

static struct queue_sqlite *qs(struct queue *q)
{
	return (struct queue_sqlite *)q;
}

/* Reads a job's state (and lease owner).  Returns 0 or AOS_ENOTFOUND. */
static int job_state(struct queue_sqlite *q, int64_t id, enum job_state *ret_state,
		     char *owner, size_t ownerlen)
{
	sqlite3_stmt *s = q->st[QS_JOB_STATE];
	int rc, result = 0;

	sqlite3_bind_int64(s, 1, id);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*ret_state = (enum job_state)sqlite3_column_int(s, 0);
		if (owner != NULL)
			queue_sqlite__col_text(s, 1, owner, ownerlen);
	} else {
		result = rc == SQLITE_DONE ? AOS_ENOTFOUND : queue_sqlite__err(rc);
	}
	queue_sqlite__done(s);
	return result;
}

/* One job inside the caller's transaction (checked by the frame). */
static int enqueue_one(struct queue_sqlite *q, const struct job_new *j, int64_t now_ms,
		       int64_t *ret_id)
{
	char text[JOB_TEXT_MAX + 1];
	sqlite3_stmt *s;
	int64_t id = 0;
	int rc, result;

	s = q->st[QS_JOB_BY_KEY];
	sqlite3_bind_text(s, 1, j->idem_key, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		*ret_id = sqlite3_column_int64(s, 0);
		queue_sqlite__done(s);
		return AOS_EEXIST;
	}
	queue_sqlite__done(s);
	if (rc != SQLITE_DONE)
		return queue_sqlite__err(rc);

	s = q->st[QS_JOB_INSERT];
	sqlite3_bind_int(s, 1, j->kind);
	sqlite3_bind_text(s, 2, j->idem_key, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 3, j->registry, -1, SQLITE_STATIC);
	sqlite3_bind_text(s, 4, j->package, -1, SQLITE_STATIC);
	if (j->inputs != NULL)
		sqlite3_bind_text(s, 5, j->inputs, -1, SQLITE_STATIC);
	sqlite3_bind_int(s, 6, j->max_attempts);
	sqlite3_bind_int64(s, 7, now_ms);
	result = queue_sqlite__step_done(s);
	if (result < 0)
		return result;
	id = sqlite3_last_insert_rowid(q->db);
	result = queue_sqlite__uploads_insert(q, id, j->registry, j->uploads, j->nuploads,
					      now_ms);
	if (result < 0)
		return result;
	queue__enqueue_text(j, text, sizeof(text));
	result = queue_sqlite__log_add(q, id, now_ms, "%s", text);
	if (result == 0)
		*ret_id = id;
	return result;
}

static int tx_cancel_set(struct queue *q_, int64_t id, bool running, int64_t now_ms)
{
	struct queue_sqlite *q = qs(q_);
	sqlite3_stmt *s = q->st[QS_CANCEL];

	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int(s, 2, running ? 1 : 0); /* fences the worker off */
	sqlite3_bind_int64(s, 3, now_ms);
	return queue_sqlite__step_done(s);
}

static int tx_retry_set(struct queue *q_, int64_t id, int64_t now_ms)
{
	struct queue_sqlite *q = qs(q_);
	sqlite3_stmt *s = q->st[QS_RETRY];

	sqlite3_bind_int64(s, 1, id);
	sqlite3_bind_int64(s, 2, now_ms);
	return queue_sqlite__step_done(s);
}

static int tx_begin(struct queue *q)
{
	return queue_sqlite__tx_begin(qs(q));
}

static int tx_end(struct queue *q, int result)
{
	return queue_sqlite__tx_end(qs(q), result);
}

static int tx_enqueue_one(struct queue *q, const struct job_new *j, int64_t now_ms,
			  int64_t *ret_id)
{
	return enqueue_one(qs(q), j, now_ms, ret_id);
}

static int tx_job_state(struct queue *q, int64_t id, enum job_state *ret_state,
			char *owner, size_t ownerlen)
{
	return job_state(qs(q), id, ret_state, owner, ownerlen);
}

static int tx_head_refresh(struct queue *q, int64_t id)
{
	return queue_sqlite__head_refresh(qs(q), id);
}

static int tx_log_add(struct queue *q, int64_t id, int64_t now_ms, const char *text)
{
	return queue_sqlite__log_add(qs(q), id, now_ms, "%s", text);
}

/* The steps of queue_frame.c's operations.  SQLite's write lock (BEGIN
 * IMMEDIATE) is all the locking a change of state needs. */
static const struct queue_tx sqlite_tx = {
    .begin = tx_begin,
    .end = tx_end,
    .enqueue_one = tx_enqueue_one,
    .job_lock = tx_job_state,
    .cancel_set = tx_cancel_set,
    .retry_set = tx_retry_set,
    .head_refresh = tx_head_refresh,
    .log_add = tx_log_add,
};

static int sq_log(struct queue *q_, int64_t id, const char *text, int64_t now_ms)
{
	struct queue_sqlite *q = qs(q_);
	enum job_state st = 0;
	int result;

	if (text == NULL)
		return -EINVAL;
	result = queue_sqlite__tx_begin(q);
	if (result < 0)
		return result;
	result = job_state(q, id, &st, NULL, 0);
	if (result == 0)
		result = queue_sqlite__log_add(q, id, now_ms, "%s", text);
	return queue_sqlite__tx_end(q, result);
}

struct owned {
	int64_t id;
	char owner[128];
};

static int sq_release_owner(struct queue *q_, const char *owner_prefix, int64_t now_ms)
{
	struct queue_sqlite *q = qs(q_);
	struct owned *jobs = NULL, *tmp;
	size_t n = 0, cap = 0, i;
	sqlite3_stmt *s;
	int rc, result;

	result = queue__check_str(owner_prefix, sizeof(jobs->owner));
	if (result < 0)
		return result;
	result = queue_sqlite__tx_begin(q);
	if (result < 0)
		return result;
	s = q->st[QS_OWNED];
	sqlite3_bind_text(s, 1, owner_prefix, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			tmp = realloc(jobs, cap * sizeof(*jobs));
			if (tmp == NULL) {
				result = -ENOMEM;
				break;
			}
			jobs = tmp;
		}
		jobs[n].id = sqlite3_column_int64(s, 0);
		queue_sqlite__col_text(s, 1, jobs[n].owner, sizeof(jobs[n].owner));
		n++;
	}
	if (result == 0 && rc != SQLITE_DONE)
		result = queue_sqlite__err(rc);
	queue_sqlite__done(s);

	for (i = 0; result == 0 && i < n; i++) {
		s = q->st[QS_RELEASE];
		sqlite3_bind_int64(s, 1, jobs[i].id);
		sqlite3_bind_int64(s, 2, now_ms);
		result = queue_sqlite__step_done(s);
		if (result == 0)
			result = queue_sqlite__log_add(
			    q, jobs[i].id, now_ms,
			    "running -> queued (released: the process %s is gone; "
			    "attempt not counted)",
			    jobs[i].owner);
	}
	result = queue_sqlite__tx_end(q, result);
	free(jobs);
	return result < 0 ? result : (int)n;
}

static void sq_close(struct queue *q_)
{
	struct queue_sqlite *q = qs(q_);
	int i;

	if (q == NULL)
		return;
	for (i = 0; i < QS__COUNT; i++)
		sqlite3_finalize(q->st[i]);
	/* Opened and every statement finalized: the next open may skip the
	 * integrity check.  A failed write only costs that check.  A further
	 * connection leaves the marker to the first one. */
	if (q->check != 0 && q->check != QUEUE_CHECK_BY_FIRST &&
	    sqlite3_get_autocommit(q->db))
		(void)queue_sqlite__set_clean_stop(q->db, true);
	sqlite3_close(q->db);
	free(q);
}

/* A job's files are not kept in the SQLite queue.  One host has the queue
 * and the spool on the same disk, so the spool keeps a job's files
 * (agent/publish/spool.c) and the queue names them in the job's inputs;
 * storing them again in the database would only double the writes.  Files
 * in the queue are for hosts sharing one queue (the PostgreSQL backend).
 * Each call answers -ENOTSUP. */
static int no_files(char *errbuf, size_t errlen)
{
	if (errbuf != NULL && errlen > 0)
		snprintf(errbuf, errlen,
			 "the SQLite queue keeps no files: a job's "
			 "files are in this host's spool");
	return -ENOTSUP;
}

static int sq_file_put(struct queue *q, int64_t id, int64_t fence, const char *name,
		       const struct queue_file_src *src, int64_t now_ms,
		       struct queue_file_info *ret, char *errbuf, size_t errlen)
{
	(void)q, (void)id, (void)fence, (void)name, (void)src, (void)now_ms, (void)ret;
	return no_files(errbuf, errlen);
}

static int sq_file_get(struct queue *q, int64_t id, const char *name,
		       const struct queue_file_sink *dst, struct queue_file_info *ret,
		       char *errbuf, size_t errlen)
{
	(void)q, (void)id, (void)name, (void)dst, (void)ret;
	return no_files(errbuf, errlen);
}

static int sq_files_remove(struct queue *q, int64_t id)
{
	(void)q, (void)id;
	return no_files(NULL, 0);
}

static const struct queue_ops sqlite_ops = {
    .enqueue = queue__enqueue,
    .enqueue_many = queue__enqueue_many,
    .set_artifacts = queue_sqlite__set_artifacts,
    .claim = queue_sqlite__claim,
    .heartbeat = queue_sqlite__heartbeat,
    .upload_set = queue_sqlite__upload_set,
    .finish = queue_sqlite__finish,
    .cancel = queue__cancel,
    .retry = queue__retry,
    .get = queue_sqlite__get,
    .list = queue_sqlite__list,
    .uploads = queue_sqlite__uploads,
    .log = sq_log,
    .log_read = queue_sqlite__log_read,
    .counts = queue_sqlite__counts,
    .stats = queue_sqlite__stats,
    .release_owner = sq_release_owner,
    .prune = queue_sqlite__prune,
    .file_put = sq_file_put,
    .file_get = sq_file_get,
    .files_remove = sq_files_remove,
    .drain_set = queue_sqlite__drain_set,
    .drains = queue_sqlite__drains,
    .close = sq_close,
    .tx = &sqlite_tx,
};

/* queue_sqlite_open() (more: false) or queue_sqlite_open_more(). */
static int open_queue(const char *path, bool more, struct queue **ret, char *errbuf,
		      size_t errlen)
{
	enum queue_check check = QUEUE_CHECK_BY_FIRST;
	struct queue_sqlite *q;
	int i, rc, result;

	if (errlen > 0)
		errbuf[0] = '\0';
	if (path == NULL || ret == NULL)
		return -EINVAL;
	q = calloc(1, sizeof(*q));
	if (q == NULL) {
		snprintf(errbuf, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	q->base.ops = &sqlite_ops;
	result = more ? queue_sqlite__open_more_db(path, &q->db, errbuf, errlen)
		      : queue_sqlite__open_db(path, &q->db, &check, errbuf, errlen);
	if (result < 0)
		goto out;
	for (i = 0; i < QS__COUNT; i++) {
		rc = sqlite3_prepare_v3(q->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
					&q->st[i], NULL);
		if (rc != SQLITE_OK) {
			result = queue_sqlite__err(rc);
			snprintf(errbuf, errlen,
				 "%s: cannot prepare the queue statements: %s", path,
				 sqlite3_errmsg(q->db));
			goto out;
		}
	}
	q->check = check;
	*ret = &q->base;
	q = NULL; /* transferred */
out:
	sq_close(q != NULL ? &q->base : NULL);
	return result;
}

int queue_sqlite_open(const char *path, struct queue **ret, char *errbuf, size_t errlen)
{
	return open_queue(path, false, ret, errbuf, errlen);
}

int queue_sqlite_open_more(const char *path, struct queue **ret, char *errbuf,
			   size_t errlen)
{
	return open_queue(path, true, ret, errbuf, errlen);
}

enum queue_check queue_sqlite_open_check(const struct queue *q)
{
	return ((const struct queue_sqlite *)q)->check;
}
