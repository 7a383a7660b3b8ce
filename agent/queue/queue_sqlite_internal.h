/* queue_sqlite_internal.h - the SQLite queue backend's state, shared by
 * queue_sqlite.c (writes: enqueue, lease-fenced updates, operator actions),
 * queue_sqlite_claim.c (claims), queue_sqlite_drain.c (drains),
 * queue_sqlite_prune.c (retention),
 * queue_sqlite_tx.c (what every write uses: steps, transactions, the job
 * log), queue_sqlite_read.c (reads) and queue_sqlite_schema.c (opening,
 * checks, migrations).  queue_sqlite.c calls the others; none calls it
 * back.  Tests include it for the schema constants.
 */
#ifndef AOS_QUEUE_SQLITE_INTERNAL_H
#define AOS_QUEUE_SQLITE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "queue/queue.h"
#include "queue_internal.h"

/* PRAGMA application_id of a queue database: "AOSQ".  A SQLite file with
 * another id is somebody else's and is refused. */
#define QUEUE_SQLITE_APP_ID 0x414f5351

#define QUEUE_SQLITE_BUSY_MS 5000

/* The cached statements (see stmt_sql[] in queue_sqlite.c). */
enum qs_stmt {
	QS_BEGIN,
	QS_COMMIT,
	QS_ROLLBACK,
	QS_JOB_GET,
	QS_JOB_STATE,
	QS_JOB_BY_KEY,
	QS_JOB_INSERT,
	QS_UPLOAD_INSERT,
	QS_NEXT_REGISTRY,
	QS_REG_RUNNING,
	QS_CLAIM_DUE,
	QS_HEAD_CLEAR,
	QS_HEAD_SET,
	QS_CLAIM_SET,
	QS_HEARTBEAT,
	QS_FENCE_CHECK,
	QS_UPLOAD_SET,
	QS_JOB_TOUCH,
	QS_FINISH,
	QS_CANCEL,
	QS_RETRY,
	QS_OWNED,
	QS_RELEASE,
	QS_LOG_INSERT,
	QS_LOG_TRIM,
	QS_LIST,
	QS_LIST_STATE,
	QS_UPLOADS,
	QS_LOG_READ,
	QS_COUNTS,
	QS_KIND_COUNTS,
	QS_OLDEST_DUE,
	QS_INPUTS_SET,
	QS_PRUNE_PICK,
	QS_PRUNE_DELETE,
	QS_DRAINED,
	QS_DRAIN_ADD,
	QS_DRAIN_IS,
	QS_DRAIN_DEL,
	QS_DRAINS,
	QS__COUNT
};

struct queue_sqlite {
	struct queue base; /* first: (struct queue *) casts both ways */
	sqlite3 *db;
	sqlite3_stmt *st[QS__COUNT];
	enum queue_check check; /* what the open checked */
};

/* When an unfinished job is due: its next run, or when its lease runs out.
 * The index jobs_heads is built on this very expression. */
#define QS_DUE_EXPR "(CASE WHEN state = 2 THEN lease_expires_ms ELSE next_run_ms END)"

/* The columns of a job, in the order queue_sqlite__read_job() expects. */
#define QS_COLS_HEAD "id, kind, state, idem_key, registry, package, "
#define QS_COLS_TAIL                                                                     \
	"attempts, max_attempts, next_run_ms, created_ms, updated_ms, lease_owner, "     \
	"lease_expires_ms, fence, last_error, wait_reason, outcome"
#define QS_JOB_COLS QS_COLS_HEAD "inputs, " QS_COLS_TAIL
/* A listing's columns: the same, inputs always NULL (up to JOB_INPUTS_MAX
 * a job, and no listing shows them: `job show` reads them with get). */
#define QS_LIST_COLS QS_COLS_HEAD "NULL, " QS_COLS_TAIL

/* The schema version this program writes (the number of migrations). */
int queue_sqlite__schema_version(void);

/* The SQL of migration n (1 to the schema version), for tests that build
 * an older database. */
const char *queue_sqlite__migration(int n);

/* Opens and checks the database file at path, creating it (mode 0600) if
 * missing, then applies the migrations and marks it in use (not cleanly
 * stopped).  Returns 0, *ret_db (the caller closes it) and *ret_check, or
 * AOS_ESCHEMA / AOS_ECORRUPT / -errno with errbuf set. */
int queue_sqlite__open_db(const char *path, sqlite3 **ret_db, enum queue_check *ret_check,
			  char *errbuf, size_t errlen);

/* Opens a further connection to the database at path, which a first
 * connection of this process has opened (queue_sqlite__open_db): the
 * pragmas only, after checking that the header says ours and current.
 * Returns 0 and *ret_db (the caller closes it), or AOS_ESCHEMA / -errno
 * with errbuf set; a missing file is not created. */
int queue_sqlite__open_more_db(const char *path, sqlite3 **ret_db, char *errbuf,
			       size_t errlen);

/* Sets meta.clean_stop: 1 at a clean close, 0 while in use.  Returns the
 * SQLite result. */
int queue_sqlite__set_clean_stop(sqlite3 *db, bool clean);

/* Maps a SQLite result code to 0 or a negative project code. */
int queue_sqlite__err(int rc);

/* Copies column col of s into dst (size n), truncated, always terminated. */
void queue_sqlite__col_text(sqlite3_stmt *s, int col, char *dst, size_t n);

/* Reads the QS_JOB_COLS row of s into *j (j->inputs is allocated).
 * Returns 0 or -ENOMEM. */
int queue_sqlite__read_job(sqlite3_stmt *s, struct job *j);

/* Resets s and clears its bindings (ready for the next use). */
void queue_sqlite__done(sqlite3_stmt *s);

/* Binds s (NULL: '') truncated to fit max bytes.  s must outlive the step.
 * (queue_sqlite.c's writes and the log, queue_sqlite_tx.c.) */
static inline void bind_text(sqlite3_stmt *st, int idx, const char *s, size_t max)
{
	if (s == NULL)
		s = "";
	sqlite3_bind_text(st, idx, s, (int)queue__text_len(s, max), SQLITE_STATIC);
}

/* queue_sqlite_tx.c: steps a statement that returns no row, then resets
 * it.  Returns 0 or a negative code. */
int queue_sqlite__step_done(sqlite3_stmt *s);

/* BEGIN IMMEDIATE; and commit when result >= 0, else roll back (returns
 * result, or the commit's error). */
int queue_sqlite__tx_begin(struct queue_sqlite *q);
int queue_sqlite__tx_end(struct queue_sqlite *q, int result);

/* Appends a line to job id's log, dropping the oldest beyond QUEUE_LOG_MAX;
 * inside a write transaction.  Returns 0 or a negative code. */
__attribute__((format(printf, 4, 5))) int queue_sqlite__log_add(struct queue_sqlite *q,
								int64_t id,
								int64_t now_ms,
								const char *fmt, ...);

/* Upload rows of job id, inside the caller's transaction; registry ""
 * takes each upload's own (queue_sqlite_tx.c). */
int queue_sqlite__uploads_insert(struct queue_sqlite *q, int64_t id, const char *registry,
				 const struct job_upload *ups, size_t n, int64_t now_ms);

/* After job id left or entered the unfinished states: recomputes its
 * package's head, inside the caller's transaction (queue_sqlite_tx.c). */
int queue_sqlite__head_refresh(struct queue_sqlite *q, int64_t id);

/* The lease-fenced writes (queue_sqlite_lease.c): queue_ops' heartbeat,
 * upload_set, finish and set_artifacts. */
int queue_sqlite__heartbeat(struct queue *q, int64_t id, int64_t fence, int64_t now_ms,
			    int64_t lease_ms);
int queue_sqlite__upload_set(struct queue *q, int64_t id, int64_t fence,
			     const char *filename, enum upload_state st,
			     enum pub_outcome out, const char *answer, int64_t now_ms);
int queue_sqlite__finish(struct queue *q, int64_t id, int64_t fence, enum job_state st,
			 int64_t next_run_ms, enum pub_outcome out, const char *error,
			 int64_t now_ms);
int queue_sqlite__set_artifacts(struct queue *q, int64_t id, int64_t fence,
				const char *inputs, const struct job_upload *ups,
				size_t n, int64_t now_ms);

/* The claim operation (queue_sqlite_claim.c). */
int queue_sqlite__claim(struct queue *q, const char *owner, int64_t now_ms,
			int64_t lease_ms, int per_registry_limit, struct job *ret,
			size_t max);

/* The read operations (queue_sqlite_read.c). */
int queue_sqlite__get(struct queue *q, int64_t id, struct job *ret);
int queue_sqlite__list(struct queue *q, const struct job_filter *f, struct job *ret,
		       size_t max);
int queue_sqlite__uploads(struct queue *q, int64_t id, struct job_upload *ret,
			  size_t max);
int queue_sqlite__log_read(struct queue *q, int64_t id, int64_t after_id,
			   struct job_log_entry *ret, size_t max);
int queue_sqlite__counts(struct queue *q, int64_t ret[JOB_CANCELED + 1]);
int queue_sqlite__stats(struct queue *q, int64_t now_ms, struct queue_stats *ret);

/* Drains (queue_sqlite_drain.c): queue_ops' drain_set and drains, and
 * whether the host of a claim's owner is drained (*ret), inside the
 * claim's transaction.  Returns 0 or a negative code. */
int queue_sqlite__drain_set(struct queue *q, const char *host, bool on, int64_t now_ms);
int queue_sqlite__drains(struct queue *q, struct queue_drain *ret, size_t max);
int queue_sqlite__drained(struct queue_sqlite *q, const char *owner, bool *ret);

/* The prune operation (queue_sqlite_prune.c). */
int queue_sqlite__prune(struct queue *q, int64_t before_ms, int64_t after_id,
			bool dry_run, struct job *ret, size_t max);

#endif
