/* queue.h - the durable publish queue: jobs, their uploads and their log.
 *
 * The queue is an interface (struct queue_ops) so that a PostgreSQL backend
 * can later let several hosts share one queue; the SQLite backend
 * (queue_sqlite.c) is the one used today.  Every write is one transaction
 * that is durable (fsync'ed) when the call returns: a job id handed to a
 * client has been committed.
 *
 * Claims take a lease: the claimer becomes the job's owner until
 * lease_expires_ms and gets a fencing token.  Completing, failing,
 * heartbeating or recording an upload with a stale token (the lease expired
 * and somebody else claimed the job, or an operator canceled it) fails with
 * AOS_EFENCED and changes nothing.
 *
 * Times are Unix milliseconds passed in by the caller (an injectable clock
 * for tests).  Calls are synchronous; library code does not log.  A queue is
 * used by one thread at a time (the daemon's loop thread).
 *
 * Errors common to every call: -EINVAL / AOS_ETOOBIG for an invalid or
 * oversized argument, and for a store failure -EIO, -EBUSY (locked past the
 * busy timeout), -ENOSPC, -ENOMEM or AOS_ECORRUPT; a database server's
 * backend (PostgreSQL) answers -ECONNRESET when its connection is lost
 * (the server went away, or ended this session): the call's transaction
 * may or may not have committed, and the connection must be opened again
 * (queue_async does); -ENOTCONN when the loss was found at the BEGIN of
 * the call's first transaction: nothing of it ran.  AOS_ENOTFOUND is in common/err.h.
 * Texts stored (errors, answers, log lines) are cut to JOB_TEXT_MAX - 1 bytes on a UTF-8
 * character boundary.
 *
 * Every job state transition is written to the job's log, in the same
 * transaction, with its reason ("queued -> running (claimed by OWNER,
 * attempt 2)", "running -> failed: ERROR; next try at TIME").
 */
#ifndef AOS_QUEUE_H
#define AOS_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h" /* AOS_EFENCED, AOS_ESCHEMA, AOS_ECORRUPT, AOS_EEXIST */
#include "common/outcome.h"

enum job_state {
	JOB_QUEUED = 1, /* waiting for its next_run time */
	JOB_RUNNING,	/* claimed, lease held */
	JOB_SUCCEEDED,
	JOB_FAILED, /* waiting to retry (attempts left) */
	JOB_DEAD,   /* out of attempts, or a permanent error */
	JOB_CANCELED,
};

enum job_kind {
	JOB_PUBLISH = 1, /* direct publish of spooled files */
	JOB_PIPELINE,	 /* a webhook-triggered pipeline run (later) */
};

enum upload_state {
	UPLOAD_PENDING = 1, /* not started */
	UPLOAD_SENDING,	    /* started: after a crash the outcome is unknown */
	UPLOAD_DONE,	    /* the registry holds it (published or identical) */
	UPLOAD_FAILED,	    /* permanent failure for this file */
};

#define JOB_KEY_MAX 200
#define JOB_TEXT_MAX 2048
#define JOB_INPUTS_MAX (1024 * 1024) /* bytes of a job's inputs JSON */

struct job {
	int64_t id;
	enum job_kind kind;
	enum job_state state;
	char idem_key[JOB_KEY_MAX];
	char registry[128]; /* target registry name (concurrency limits) */
	char package[256];  /* package name (one running job per package) */
	char *inputs;	    /* JSON text or NULL, owned by the struct */
	int attempts;
	int max_attempts;
	int64_t next_run_ms;
	int64_t created_ms;
	int64_t updated_ms;
	char lease_owner[128];
	int64_t lease_expires_ms;
	int64_t fence; /* fencing token of the current lease */
	/* How the last FAILED or DEAD finish ended, and its message
	 * (outcome_text() shows them as one text). */
	enum pub_outcome outcome;
	char last_error[JOB_TEXT_MAX];
	char wait_reason[256]; /* why a queued job is not running, if known */
};

struct job_upload {
	int64_t job_id;
	char filename[256];
	char registry[128];
	char sha256[65];
	enum upload_state state;
	enum pub_outcome outcome;  /* how its last try ended (OUT_NONE: untried) */
	char answer[JOB_TEXT_MAX]; /* the message beside it */
	int64_t updated_ms;
};

struct job_log_entry {
	int64_t id;
	int64_t job_id;
	int64_t at_ms;
	char text[JOB_TEXT_MAX];
};

/* A new job to enqueue.  idem_key, registry and package are required
 * (non-empty, shorter than their struct job fields). */
struct job_new {
	enum job_kind kind;
	const char *idem_key;
	const char *registry;
	const char *package;
	const char *inputs; /* JSON text, at most JOB_INPUTS_MAX bytes, or NULL */
	int max_attempts;   /* >= 1 */
	/* One per file, in upload order: filename (unique in the job), sha256
	 * (64 lowercase hex digits), registry ("" = the job's).  state and
	 * answer are ignored: uploads start PENDING. */
	const struct job_upload *uploads;
	size_t nuploads;
	/* NULL, or one per upload, in the same order: where uploads[i]'s
	 * bytes are read (struct queue_file_src below).  The PostgreSQL
	 * backend stores each as file_put would, in the enqueue's own
	 * transaction (no host can claim the job before its files are in),
	 * and checks each stored SHA-256 against uploads[i].sha256: a
	 * mismatch is AOS_ECORRUPT, a source's error is its own, and either
	 * fails the enqueue (enqueue_many: the whole batch) with nothing
	 * committed.  An enqueue answering AOS_EEXIST reads no source.  The
	 * SQLite backend ignores them: its host's spool keeps the files. */
	const struct queue_file_src *file_srcs;
	/* Where a file's failure is said, naming the file (may be NULL). */
	char *errbuf;
	size_t errlen;
};

/* Filter for listing. */
struct job_filter {
	enum job_state state; /* 0: any */
	size_t limit;	      /* 0: 100 */
	int64_t before_id;    /* 0: newest first from the top */
};

/* What metrics read from the queue (queue_ops.stats). */
struct queue_stats {
	int64_t jobs[JOB_PIPELINE + 1][JOB_CANCELED + 1]; /* [kind][state]; 0 unused */
	int64_t oldest_due_ms; /* next_run of the oldest due job; 0: none */
};

/* A job's files in the queue (the PostgreSQL backend: whichever host takes
 * a job over reads them from the database).  They go both ways in pieces
 * of at most QUEUE_FILE_CHUNK bytes, one chunk in memory at a time.  A
 * publish job's go in with its enqueue (job_new.file_srcs), a pipeline's
 * artifacts with file_put under the lease. */
#define QUEUE_FILE_CHUNK (1024 * 1024) /* bytes of a stored chunk */
#define QUEUE_FILE_MAX (1LL << 40)     /* bytes of a file (publish.max_file_bytes' top) */

/* Where file_put reads: read() fills up to len bytes of buf and returns 0
 * with *ret_n (0: the end of the file), or a negative code. */
struct queue_file_src {
	int (*read)(void *data, void *buf, size_t len, size_t *ret_n);
	void *data;
};

/* Where file_get writes: write() takes all len bytes, returns 0 or a
 * negative code. */
struct queue_file_sink {
	int (*write)(void *data, const void *buf, size_t len);
	void *data;
};

/* What a stored file is: its size and SHA-256 (lowercase hex). */
struct queue_file_info {
	int64_t size;
	char sha256[65];
};

/* A source reading, and a sink writing, the descriptor *(int *)data
 * (EINTR retried; -errno). */
int queue_file_fd_read(void *data, void *buf, size_t len, size_t *ret_n);
int queue_file_fd_write(void *data, const void *buf, size_t len);

/* A drain (queue_ops.drain_set): the fleet's (host "") or one host's. */
#define QUEUE_HOST_MAX 64    /* bytes of a host name, its terminator included */
#define QUEUE_DRAINS_MAX 256 /* drains kept at most: drain_set refuses more */
struct queue_drain {
	char host[QUEUE_HOST_MAX];
	int64_t since_ms;
};

struct queue;
struct queue_tx;

struct queue_ops {
	/* Enqueues j, committed before returning.  Returns 0 and *ret_id; if
	 * the idempotency key exists already, returns AOS_EEXIST and the
	 * existing job's id in *ret_id, changing nothing. */
	int (*enqueue)(struct queue *q, const struct job_new *j, int64_t now_ms,
		       int64_t *ret_id);
	/* Group commit: enqueues n jobs in one transaction (one fsync).
	 * ret_rcs[i] is what enqueue() would return for js[i] (0 or
	 * AOS_EEXIST with ret_ids[i], or -EINVAL / AOS_ETOOBIG for that job
	 * alone).  A store failure fails the call: returns it, nothing of the
	 * batch committed.  Returns 0 when the batch is committed. */
	int (*enqueue_many)(struct queue *q, const struct job_new *js, size_t n,
			    int64_t now_ms, int64_t *ret_ids, int *ret_rcs);
	/* Records a pipeline job's built artifacts under its lease, in one
	 * transaction: inputs replaced, the uploads added (PENDING; each
	 * names its registry).  n may be 0: the inputs alone (a build that
	 * failed records its verify_matrix results).  Returns 0,
	 * AOS_EFENCED, or -EINVAL (an upload name the job has already). */
	int (*set_artifacts)(struct queue *q, int64_t id, int64_t fence,
			     const char *inputs, const struct job_upload *ups, size_t n,
			     int64_t now_ms);
	/* Claims up to max (at most QUEUE_CLAIM_MAX) due jobs (state QUEUED
	 * or FAILED with next_run <= now, or RUNNING with a lease that ran
	 * out), oldest first (next_run, or the lease's expiry), in one
	 * transaction:
	 *  - a registry with per_registry_limit jobs running under a valid
	 *    lease (this call's claims included) is skipped; <= 0: no limit;
	 *  - a package has one running job at a time, and its jobs run in id
	 *    order: a job waits while an older job of the same package name
	 *    is QUEUED, RUNNING or FAILED.
	 * Each claimed job becomes RUNNING, attempts+1, with owner, a lease
	 * until now + lease_ms, a new fence (fence+1) and no wait_reason.
	 * Returns the number claimed (>= 0) filled into ret[]; the caller
	 * job_clear()s each. */
	int (*claim)(struct queue *q, const char *owner, int64_t now_ms, int64_t lease_ms,
		     int per_registry_limit, struct job *ret, size_t max);
	/* The fenced calls (heartbeat, upload_set, finish) succeed while the
	 * job is RUNNING with this fence; otherwise (unknown id too) they
	 * return AOS_EFENCED and change nothing.  upload_set and finish go by
	 * the fence alone (a lease that ran out but was not claimed again still
	 * records what was done); heartbeat also needs the lease to be running
	 * (now < lease_expires_ms). */
	/* Extends the lease to now + lease_ms.  Returns 0, or AOS_EFENCED when
	 * the lease is lost or ran out: stop working on the job, it may already
	 * have been replaced in its registry's or package's slot. */
	int (*heartbeat)(struct queue *q, int64_t id, int64_t fence, int64_t now_ms,
			 int64_t lease_ms);
	/* Records an upload's new state, outcome and message (answer; NULL:
	 * "") under the lease.  Returns 0, AOS_EFENCED, or AOS_ENOTFOUND for
	 * a filename the job does not have. */
	int (*upload_set)(struct queue *q, int64_t id, int64_t fence,
			  const char *filename, enum upload_state st,
			  enum pub_outcome out, const char *answer, int64_t now_ms);
	/* Ends the lease with a new state: SUCCEEDED, FAILED (retry at
	 * next_run_ms), DEAD, or QUEUED (released without counting the attempt,
	 * e.g. waiting for Vault: attempts-1, run again at next_run_ms).
	 * error (may be NULL) becomes last_error for FAILED and DEAD, with
	 * out as the job's outcome, the wait_reason for QUEUED, and goes into
	 * the log line (after out's word).  Returns 0, AOS_EFENCED, or
	 * -EINVAL for another state. */
	int (*finish)(struct queue *q, int64_t id, int64_t fence, enum job_state st,
		      int64_t next_run_ms, enum pub_outcome out, const char *error,
		      int64_t now_ms);
	/* Operator actions: cancel (queued/failed/running -> CANCELED; a running
	 * job's lease is revoked (fence+1) so its worker is fenced off; reason
	 * may be NULL), retry (dead, failed or canceled -> QUEUED now, attempts
	 * reset to 0).  Return 0, AOS_ENOTFOUND, or -EINVAL when the state does
	 * not allow it. */
	int (*cancel)(struct queue *q, int64_t id, const char *reason, int64_t now_ms);
	int (*retry)(struct queue *q, int64_t id, int64_t now_ms);
	/* Reads a job into *ret (set only on success; the caller job_clear()s
	 * it).  Returns 0 or AOS_ENOTFOUND. */
	int (*get)(struct queue *q, int64_t id, struct job *ret);
	/* Lists jobs newest first (f may be NULL); returns the count filled
	 * (>= 0), at most min(max, limit); the caller job_clear()s each.
	 * Their inputs are left NULL (up to JOB_INPUTS_MAX each: get reads
	 * them). */
	int (*list)(struct queue *q, const struct job_filter *f, struct job *ret,
		    size_t max);
	/* The uploads of a job, in enqueue order; returns the count filled
	 * (>= 0) or AOS_ENOTFOUND. */
	int (*uploads)(struct queue *q, int64_t id, struct job_upload *ret, size_t max);
	/* Appends to the job's log (bounded: the oldest lines beyond
	 * QUEUE_LOG_MAX per job are dropped; transitions count too).
	 * Returns 0 or AOS_ENOTFOUND. */
	int (*log)(struct queue *q, int64_t id, const char *text, int64_t now_ms);
	/* Log lines with id > after_id, oldest first; returns the count
	 * (>= 0) or AOS_ENOTFOUND. */
	int (*log_read)(struct queue *q, int64_t id, int64_t after_id,
			struct job_log_entry *ret, size_t max);
	/* Number of jobs per state (index by enum job_state, 0 unused).
	 * Returns 0. */
	int (*counts)(struct queue *q, int64_t ret[JOB_CANCELED + 1]);
	/* Jobs per kind and state, and when the oldest due job (QUEUED or
	 * FAILED with next_run <= now_ms) became due, for metrics: two
	 * indexed queries, no scan of the jobs' rows.  Returns 0 and *ret. */
	int (*stats)(struct queue *q, int64_t now_ms, struct queue_stats *ret);
	/* Returns RUNNING jobs whose lease owner starts with owner_prefix
	 * (non-empty), valid lease or not, to QUEUED now without counting the
	 * attempt (attempts-1), revoking the lease (fence+1).  Used at start
	 * after a crash of this host's previous process: call it before this
	 * process claims anything under the same prefix.  Returns the number
	 * released (>= 0). */
	int (*release_owner)(struct queue *q, const char *owner_prefix, int64_t now_ms);
	/* Retention: the ended jobs (SUCCEEDED, DEAD, CANCELED; a FAILED job
	 * runs again and is never pruned) last changed before before_ms, with
	 * id > after_id, lowest id first, at most max (1 to QUEUE_PRUNE_MAX):
	 * each is read into ret[] (the caller job_clear()s them; their inputs
	 * name the spool files to remove) and, unless dry_run, deleted with
	 * its uploads, log and stored files (file_put), all in one short
	 * transaction.  A pruned job's
	 * idempotency key may be used again.  Call it again with after_id =
	 * the last id returned until it returns less than max.  Returns the
	 * count (>= 0). */
	int (*prune)(struct queue *q, int64_t before_ms, int64_t after_id, bool dry_run,
		     struct job *ret, size_t max);
	/* A job's files (see QUEUE_FILE_CHUNK).  The SQLite backend answers
	 * -ENOTSUP to all three: its host keeps a job's files in the spool.
	 * errbuf (may be NULL) says what went wrong, naming the job and file.
	 *
	 * file_put stores file name (1 to 255 bytes, no '/'; unique in the
	 * job) of job id, read from src to its end, in one transaction: all
	 * of it or nothing.  fence is the running job's lease, checked at the
	 * start and again under the row lock before the commit (a cancel
	 * meanwhile fences the put off), or 0 for a job never claimed (QUEUED,
	 * fence 0).  Returns 0 and *ret (NULL: not wanted) with the stored
	 * size and SHA-256, AOS_EFENCED, AOS_EEXIST (the job has the name),
	 * AOS_ETOOBIG (past QUEUE_FILE_MAX), -EINVAL or AOS_ETOOBIG for the
	 * name, or src's error. */
	int (*file_put)(struct queue *q, int64_t id, int64_t fence, const char *name,
			const struct queue_file_src *src, int64_t now_ms,
			struct queue_file_info *ret, char *errbuf, size_t errlen);
	/* file_get writes file name of job id to dst chunk by chunk, from one
	 * snapshot, and checks what it read against the stored size and
	 * SHA-256.  Returns 0 and *ret (may be NULL), AOS_ENOTFOUND (no such
	 * job or file), AOS_ECORRUPT (a chunk missing or too long, or the size
	 * or digest differ: what dst got must be thrown away), or dst's
	 * error. */
	int (*file_get)(struct queue *q, int64_t id, const char *name,
			const struct queue_file_sink *dst, struct queue_file_info *ret,
			char *errbuf, size_t errlen);
	/* files_remove removes the files of a SUCCEEDED job (what the spool
	 * does at success; prune removes them with the job).  Returns the
	 * number removed (>= 0), AOS_ENOTFOUND, or -EINVAL for a job in
	 * another state (it may run again and need them). */
	int (*files_remove)(struct queue *q, int64_t id);
	/* Drains (docs/operations.md): while the fleet or the claiming host
	 * is drained, claim returns 0 and claims nothing (checked in the
	 * claim's own transaction; a drain committed before a claim begins
	 * is seen by it, and on PostgreSQL drain_set waits for the claims
	 * under way, so none claims after it returns).  Running jobs go on.
	 * A claim's host is its owner up to the first ':' ("<host>:<pid>").
	 *
	 * drain_set drains (on) or resumes (!on) host, or the fleet when
	 * host is NULL; host and fleet drains are separate marks: resuming
	 * the fleet leaves a drained host drained, and the reverse.  A drain
	 * already set keeps its time.  Returns 1 (changed), 0 (it was so
	 * already), -EINVAL or AOS_ETOOBIG for a host that is not a name
	 * (queue_host_check()), AOS_ETOOBIG for a new drain when
	 * QUEUE_DRAINS_MAX are set. */
	int (*drain_set)(struct queue *q, const char *host, bool on, int64_t now_ms);
	/* The drains, the fleet's first (host ""), then the hosts by name,
	 * at most max.  Returns the count (>= 0). */
	int (*drains)(struct queue *q, struct queue_drain *ret, size_t max);
	/* Finalizes and closes; q is freed. */
	void (*close)(struct queue *q);
	/* The backend's steps (queue_internal.h) for the operations that
	 * queue_frame.c runs alike for both backends (enqueue, enqueue_many,
	 * cancel, retry point there); NULL in a fake that has its own. */
	const struct queue_tx *tx;
};

/* Who is told of new log lines (a queue reports, it never calls its
 * owner otherwise).  logged() runs inside the write that added a line to
 * job id's log, possibly before it commits: it must not call the queue;
 * it notes the id and reads the lines later (they may be gone again if
 * the write was rolled back). */
struct queue_observer {
	void (*logged)(void *data, int64_t id);
	void *data;
};

struct queue {
	const struct queue_ops *ops;
	struct queue_observer observer; /* zero when nobody listens */
};

#define QUEUE_LOG_MAX 500
#define QUEUE_CLAIM_MAX 1024 /* jobs one claim call hands out at most */
/* Jobs one prune call takes at most: with up to QUEUE_LOG_MAX log lines
 * each, its transaction stays short. */
#define QUEUE_PRUNE_MAX 200
/* Uploads one job holds at most: enqueue and set_artifacts refuse more
 * (AOS_ETOOBIG) rather than keep part of them. */
#define QUEUE_UPLOADS_MAX 256

/* Every upload of job id, in enqueue order, in a new array (free() it,
 * also when empty): returns the count (0 to QUEUE_UPLOADS_MAX) and *ret, or
 * AOS_ENOTFOUND or -ENOMEM (*ret NULL). */
int queue_uploads_all(struct queue *q, int64_t id, struct job_upload **ret);

/* Opens (creating if needed, mode 0600; its directory must exist) the
 * SQLite queue at path: WAL, synchronous=FULL, busy timeout, checked
 * (queue_sqlite_open_check()), migrations applied.  Returns 0 and *ret (closed with
 * (*ret)->ops->close), or AOS_ESCHEMA (newer schema), AOS_ECORRUPT (not a
 * database, another program's database, failed integrity check) or -errno,
 * with errbuf (always set on failure) saying what is wrong and what to do,
 * starting with the path. */
int queue_sqlite_open(const char *path, struct queue **ret, char *errbuf, size_t errlen);

/* A further connection to the queue at path, which this process has open
 * already with queue_sqlite_open() (the daemon's writer): the pragmas and
 * busy timeout of every connection, but no integrity check, no migration
 * and no clean-stop marker, neither at open nor at close (the first
 * connection's open did them; its close marks the clean stop, so close it
 * last or first, either way).  The file is neither created nor opened
 * outside SQLite (see create_file() in queue_sqlite_schema.c: POSIX
 * locks).  Returns as queue_sqlite_open(), AOS_ESCHEMA when the database
 * is not at this program's schema (no first open set it up). */
int queue_sqlite_open_more(const char *path, struct queue **ret, char *errbuf,
			   size_t errlen);

/* What queue_sqlite_open() checked: nothing after a clean close by the last
 * process (its close marks the file), PRAGMA quick_check otherwise (a crash,
 * a kill, a power cut, or a database from before the marker). */
enum queue_check {
	QUEUE_CHECK_SKIPPED = 1,
	QUEUE_CHECK_QUICK,
	QUEUE_CHECK_NEW,      /* created by this open: nothing to check */
	QUEUE_CHECK_BY_FIRST, /* queue_sqlite_open_more(): the first one checked */
};
enum queue_check queue_sqlite_open_check(const struct queue *q);

/* The full PRAGMA integrity_check of the queue at path, read-only (safe
 * while the daemon runs): 0 if it is sound, else AOS_ECORRUPT / -errno with
 * errbuf naming the first problems and what to do. */
int queue_sqlite_check(const char *path, char *errbuf, size_t errlen);

/* A host's name as drains take it: 1 to QUEUE_HOST_MAX - 1 letters,
 * digits, '.', '_' or '-', a letter or digit first (queue.host_name's
 * rule; never a ':', which ends a lease owner's host).  Returns 0, -EINVAL
 * or AOS_ETOOBIG. */
int queue_host_check(const char *host);

/* The host of a lease owner "<host>:<pid>" (all of it without a ':') into
 * buf; returns 0, or AOS_ETOOBIG when it does not fit len bytes. */
int queue_owner_host(const char *owner, char *buf, size_t len);

/* Frees what a struct job owns (inputs, set to NULL).  Accepts NULL. */
void job_clear(struct job *j);

/* True for the states a job never leaves: succeeded, dead, canceled. */
bool job_state_ended(enum job_state s);

/* "queued", "running", ...; "unknown" for a value out of range. */
const char *job_state_name(enum job_state s);
/* Parses a state name (as job_state_name() spells it); returns 0 for an
 * unknown one or NULL. */
enum job_state job_state_parse(const char *s);
/* "pending", "sending", "done", "failed"; "unknown" out of range. */
const char *upload_state_name(enum upload_state s);

#endif
