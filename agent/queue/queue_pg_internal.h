/* queue_pg_internal.h - the PostgreSQL queue backend's state, shared by
 * queue_pg.c (connection, enqueue), queue_pg_sql.c (the statements'
 * helpers every operation uses), queue_pg_lease.c (the fenced writes,
 * operator actions), queue_pg_claim.c, queue_pg_read.c, queue_pg_prune.c,
 * queue_pg_files.c (a job's files) and queue_pg_schema.c (migrations).
 * queue_pg.c calls the others, all of them call queue_pg_sql.c, and none
 * calls queue_pg.c back.  Tests include it for the schema.
 */
#ifndef AOS_QUEUE_PG_INTERNAL_H
#define AOS_QUEUE_PG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#include "queue/queue.h"

/* Where queue_pg.test_hook runs. */
enum qp_test_at {
	QP_TEST_FINISHED = 1, /* finish's COMMIT succeeded; its answer is the hook's */
	QP_TEST_CHUNK_OUT,    /* file_get handed a chunk to its sink */
};

struct queue_pg {
	struct queue base; /* first: (struct queue *) casts both ways */
	PGconn *conn;
	/* For the tests alone (NULL otherwise): run at the points of enum
	 * qp_test_at; a failure it returns becomes the operation's (a test
	 * ends the session there). */
	int (*test_hook)(struct queue_pg *q, enum qp_test_at at, void *arg);
	void *test_arg;
};

/* The parameters of one statement: text (sent with their length, so a cut
 * text needs no copy) or numbers (formatted here). */
#define QP_ARGS_MAX 10
struct qp_args {
	int n;
	const char *v[QP_ARGS_MAX];
	int len[QP_ARGS_MAX];
	int fmt[QP_ARGS_MAX];
	char num[QP_ARGS_MAX][24];
};

void qp__int(struct qp_args *a, int64_t v);
/* s (NULL: "") cut to max bytes with a terminator on a UTF-8 boundary. */
void qp__text(struct qp_args *a, const char *s, size_t max);
void qp__null(struct qp_args *a);
/* len bytes at p (bytea, binary), not copied: p must outlive the call. */
void qp__bytes(struct qp_args *a, const void *p, size_t len);

/* Runs sql with a's parameters.  Returns 0 and *ret (PQclear it; pass NULL
 * to drop it), or a negative code for the error. */
int qp__exec(struct queue_pg *q, const char *sql, const struct qp_args *a,
	     PGresult **ret);
/* As qp__exec, the answer in binary (bytea as its bytes). */
int qp__exec_binary(struct queue_pg *q, const char *sql, const struct qp_args *a,
		    PGresult **ret);
/* Hands a result that succeeded to *ret, or clears it when ret is NULL;
 * returns 0. */
int qp__keep(PGresult *r, PGresult **ret);
/* Runs sql answering one row; returns 0 and *ret, AOS_ENOTFOUND for no row. */
int qp__row(struct queue_pg *q, const char *sql, const struct qp_args *a, PGresult **ret);
/* Rows changed by the statement that made r. */
int64_t qp__changes(PGresult *r);
int64_t qp__int64(PGresult *r, int row, int col);
/* Copies the value into dst (size n), cut, always terminated. */
void qp__col_text(PGresult *r, int row, int col, char *dst, size_t n);

/* BEGIN; and COMMIT when result >= 0, else ROLLBACK (returns result or the
 * commit's error). */
int qp__begin(struct queue_pg *q);
int qp__end(struct queue_pg *q, int result);

/* Maps a failed result (or NULL: the connection) to a negative code. */
int qp__err(struct queue_pg *q, PGresult *r);

/* Appends a line to job id's log, dropping the oldest beyond QUEUE_LOG_MAX;
 * inside a transaction that holds the job's row lock.  Tells the observer
 * (lines written through this handle only: other hosts' lines need the
 * LISTEN connection of the daemon wiring). */
__attribute__((format(printf, 4, 5))) int
qp__log_add(struct queue_pg *q, int64_t id, int64_t now_ms, const char *fmt, ...);

/* Takes the transaction's lock on a package's head (enqueue, finish,
 * cancel and retry change which job of the package is its head). */
int qp__lock_package(struct queue_pg *q, const char *package);

/* Recomputes the head of job id's package. */
int qp__head_refresh(struct queue_pg *q, int64_t id);

/* The columns of a job, in the order qp__read_job() expects. */
#define QP_COLS_HEAD "id, kind, state, idem_key, registry, package, "
#define QP_COLS_TAIL                                                                     \
	"attempts, max_attempts, next_run_ms, created_ms, updated_ms, lease_owner, "     \
	"lease_expires_ms, fence, last_error, wait_reason, outcome"
#define QP_JOB_COLS QP_COLS_HEAD "inputs, " QP_COLS_TAIL
/* A listing's columns: the same, inputs always NULL (up to JOB_INPUTS_MAX
 * a job, and no listing shows them: `job show` reads them with get). */
#define QP_LIST_COLS QP_COLS_HEAD "NULL, " QP_COLS_TAIL
int qp__read_job(PGresult *r, int row, struct job *j);
/* Reads every row of r into ret[] and PQclear()s r: returns the count, or
 * -ENOMEM with nothing left to job_clear(). */
int qp__read_jobs(PGresult *r, struct job *ret);

/* When an unfinished job is due: its next run, or when its lease runs out. */
#define QP_DUE_EXPR "(CASE WHEN state = 2 THEN lease_expires_ms ELSE next_run_ms END)"

/* Migrations (queue_pg_schema.c). */
int queue_pg__schema_version(void);
/* Applies the migrations up to version upto (tests make old databases). */
int queue_pg__migrate(PGconn *conn, int upto, char *errbuf, size_t errlen);

/* The operations of the other files. */
int queue_pg__claim(struct queue *q, const char *owner, int64_t now_ms, int64_t lease_ms,
		    int per_registry_limit, struct job *ret, size_t max);
int queue_pg__heartbeat(struct queue *q, int64_t id, int64_t fence, int64_t now_ms,
			int64_t lease_ms);
int queue_pg__upload_set(struct queue *q, int64_t id, int64_t fence, const char *filename,
			 enum upload_state st, enum pub_outcome out, const char *answer,
			 int64_t now_ms);
int queue_pg__finish(struct queue *q, int64_t id, int64_t fence, enum job_state st,
		     int64_t next_run_ms, enum pub_outcome out, const char *error,
		     int64_t now_ms);
/* Takes the package lock of job id (before any row lock: see queue_pg.c)
 * and reads its state and lease owner (owner may be NULL) under the row
 * lock.  Returns 0 or AOS_ENOTFOUND. */
int queue_pg__job_lock(struct queue *q, int64_t id, enum job_state *ret_state,
		       char *owner, size_t ownerlen);
/* The updates of cancel and retry (queue_frame.c runs the rest). */
int queue_pg__cancel_set(struct queue *q, int64_t id, bool running, int64_t now_ms);
int queue_pg__retry_set(struct queue *q, int64_t id, int64_t now_ms);
int queue_pg__log(struct queue *q, int64_t id, const char *text, int64_t now_ms);
int queue_pg__release_owner(struct queue *q, const char *owner_prefix, int64_t now_ms);
/* Runs sql, a row for job $1 with fence $2: 0 when it answers one,
 * AOS_EFENCED when none.  fence_lock: the running job's, under its row
 * lock. */
int queue_pg__fence_row(struct queue_pg *q, const char *sql, int64_t id, int64_t fence);
int queue_pg__fence_lock(struct queue_pg *q, int64_t id, int64_t fence);
/* Begins a transaction in which (id, fence) holds the running job's lease,
 * locked as fence_lock does.  Returns 0 inside it, else the error
 * (AOS_EFENCED when the lease is not held) with no transaction left open. */
int queue_pg__fenced_begin(struct queue_pg *q, int64_t id, int64_t fence);
int queue_pg__get(struct queue *q, int64_t id, struct job *ret);
int queue_pg__list(struct queue *q, const struct job_filter *f, struct job *ret,
		   size_t max);
int queue_pg__uploads(struct queue *q, int64_t id, struct job_upload *ret, size_t max);
int queue_pg__log_read(struct queue *q, int64_t id, int64_t after_id,
		       struct job_log_entry *ret, size_t max);
int queue_pg__counts(struct queue *q, int64_t ret[JOB_CANCELED + 1]);
int queue_pg__stats(struct queue *q, int64_t now_ms, struct queue_stats *ret);
int queue_pg__file_put(struct queue *q, int64_t id, int64_t fence, const char *name,
		       const struct queue_file_src *src, int64_t now_ms,
		       struct queue_file_info *ret, char *errbuf, size_t errlen);
int queue_pg__file_get(struct queue *q, int64_t id, const char *name,
		       const struct queue_file_sink *dst, struct queue_file_info *ret,
		       char *errbuf, size_t errlen);
int queue_pg__files_remove(struct queue *q, int64_t id);
/* Stores the files of new job id from j->file_srcs (NULL: none), inside
 * the enqueue's transaction (see struct job_new); 0 or the first file's
 * failure, said in j->errbuf. */
int queue_pg__enqueue_files(struct queue_pg *q, int64_t id, const struct job_new *j,
			    int64_t now_ms);
int queue_pg__prune(struct queue *q, int64_t before_ms, int64_t after_id, bool dry_run,
		    struct job *ret, size_t max);
/* Drains (queue_pg_drain.c): queue_ops' drain_set and drains; inside a
 * claim's transaction, the claims' lock taken and whether the host of
 * owner is drained (*ret). */
int queue_pg__drain_set(struct queue *q, const char *host, bool on, int64_t now_ms);
int queue_pg__drains(struct queue *q, struct queue_drain *ret, size_t max);
int queue_pg__claims_lock(struct queue_pg *q);
int queue_pg__drained(struct queue_pg *q, const char *owner, bool *ret);

#endif
