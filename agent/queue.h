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
 * and somebody else claimed the job) fails with AOS_EFENCED and changes
 * nothing.
 *
 * Times are Unix milliseconds passed in by the caller (an injectable clock
 * for tests).  Calls are synchronous; library code does not log.
 */
#ifndef AOS_QUEUE_H
#define AOS_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AOS_EFENCED (-(10000 + 40))   /* lease lost: another owner holds the job */
#define AOS_ESCHEMA (-(10000 + 41))   /* database schema newer than this program */
#define AOS_ECORRUPT (-(10000 + 42))  /* integrity check failed / not our database */
#define AOS_EEXIST (-(10000 + 43))    /* idempotency key already used (see enqueue) */

enum job_state {
	JOB_QUEUED = 1,  /* waiting for its next_run time */
	JOB_RUNNING,     /* claimed, lease held */
	JOB_SUCCEEDED,
	JOB_FAILED,      /* waiting to retry (attempts left) */
	JOB_DEAD,        /* out of attempts, or a permanent error */
	JOB_CANCELED,
};

enum job_kind {
	JOB_PUBLISH = 1, /* direct publish of spooled files */
	JOB_PIPELINE,    /* a webhook-triggered pipeline run (later) */
};

enum upload_state {
	UPLOAD_PENDING = 1, /* not started */
	UPLOAD_SENDING,     /* started: after a crash the outcome is unknown */
	UPLOAD_DONE,        /* the registry holds it (published or identical) */
	UPLOAD_FAILED,      /* permanent failure for this file */
};

#define JOB_KEY_MAX 200
#define JOB_TEXT_MAX 2048

struct job {
	int64_t id;
	enum job_kind kind;
	enum job_state state;
	char idem_key[JOB_KEY_MAX];
	char registry[128];     /* target registry name (concurrency limits) */
	char package[256];      /* package name (one running job per package) */
	char *inputs;           /* JSON text, owned by the struct */
	int attempts;
	int max_attempts;
	int64_t next_run_ms;
	int64_t created_ms;
	int64_t updated_ms;
	char lease_owner[128];
	int64_t lease_expires_ms;
	int64_t fence;          /* fencing token of the current lease */
	char last_error[JOB_TEXT_MAX];
	char wait_reason[256];  /* why a queued job is not running, if known */
};

struct job_upload {
	int64_t job_id;
	char filename[256];
	char registry[128];
	char sha256[65];
	enum upload_state state;
	char answer[JOB_TEXT_MAX]; /* the registry's answer / our outcome text */
	int64_t updated_ms;
};

struct job_log_entry {
	int64_t id;
	int64_t job_id;
	int64_t at_ms;
	char text[JOB_TEXT_MAX];
};

/* A new job to enqueue. */
struct job_new {
	enum job_kind kind;
	const char *idem_key;
	const char *registry;
	const char *package;
	const char *inputs;   /* JSON text */
	int max_attempts;
	const struct job_upload *uploads; /* one per file (state PENDING) */
	size_t nuploads;
};

/* Filter for listing. */
struct job_filter {
	enum job_state state; /* 0: any */
	size_t limit;         /* 0: 100 */
	int64_t before_id;    /* 0: newest first from the top */
};

struct queue;

struct queue_ops {
	/* Enqueues j, committed before returning.  Returns 0 and *ret_id; if
	 * the idempotency key exists already, returns AOS_EEXIST and the
	 * existing job's id in *ret_id, changing nothing. */
	int (*enqueue)(struct queue *q, const struct job_new *j, int64_t now_ms,
		       int64_t *ret_id);
	/* Claims up to max due jobs (state QUEUED or FAILED with next_run <=
	 * now, or RUNNING with an expired lease), oldest next_run first,
	 * skipping registries at their limit (running counts per registry
	 * from `limits`) and packages that have a running job.  Each claimed
	 * job becomes RUNNING, attempts+1, with owner and a new fence.
	 * Returns the number claimed (>= 0) filled into ret[]. */
	int (*claim)(struct queue *q, const char *owner, int64_t now_ms,
		     int64_t lease_ms, int per_registry_limit, struct job *ret,
		     size_t max);
	/* Extends the lease.  Returns 0 or AOS_EFENCED. */
	int (*heartbeat)(struct queue *q, int64_t id, int64_t fence, int64_t now_ms,
			 int64_t lease_ms);
	/* Records an upload's new state and answer under the lease.
	 * Returns 0 or AOS_EFENCED. */
	int (*upload_set)(struct queue *q, int64_t id, int64_t fence,
			  const char *filename, enum upload_state st,
			  const char *answer, int64_t now_ms);
	/* Ends the lease with a new state: SUCCEEDED, FAILED (retry at
	 * next_run_ms), DEAD, or QUEUED (released without counting the attempt,
	 * e.g. waiting for Vault: attempts-1).  error may be NULL.
	 * Returns 0 or AOS_EFENCED. */
	int (*finish)(struct queue *q, int64_t id, int64_t fence, enum job_state st,
		      int64_t next_run_ms, const char *error, int64_t now_ms);
	/* Operator actions: cancel (queued/failed/running -> CANCELED; a running
	 * job's lease is revoked so its worker is fenced off), retry (dead,
	 * failed or canceled -> QUEUED now, attempts reset to 0).  Return 0,
	 * AOS_ENOTFOUND, or -EINVAL when the state does not allow it. */
	int (*cancel)(struct queue *q, int64_t id, const char *reason, int64_t now_ms);
	int (*retry)(struct queue *q, int64_t id, int64_t now_ms);
	/* Reads a job (caller frees inputs with job_clear()). */
	int (*get)(struct queue *q, int64_t id, struct job *ret);
	/* Lists jobs newest first; returns the count filled (>= 0). */
	int (*list)(struct queue *q, const struct job_filter *f, struct job *ret,
		    size_t max);
	/* The uploads of a job; returns the count filled (>= 0). */
	int (*uploads)(struct queue *q, int64_t id, struct job_upload *ret, size_t max);
	/* Appends to the job's log (bounded: the oldest lines beyond
	 * QUEUE_LOG_MAX per job are dropped).  Returns 0. */
	int (*log)(struct queue *q, int64_t id, const char *text, int64_t now_ms);
	/* Log lines with id > after_id, oldest first; returns the count. */
	int (*log_read)(struct queue *q, int64_t id, int64_t after_id,
			struct job_log_entry *ret, size_t max);
	/* Number of jobs per state (index by enum job_state, 0 unused). */
	int (*counts)(struct queue *q, int64_t ret[JOB_CANCELED + 1]);
	/* Returns RUNNING jobs whose lease owner is `owner` to QUEUED without
	 * counting the attempt (used at start after a crash of this host's
	 * previous process).  Returns the number released. */
	int (*release_owner)(struct queue *q, const char *owner_prefix, int64_t now_ms);
	void (*close)(struct queue *q);
};

struct queue {
	const struct queue_ops *ops;
};

#define QUEUE_LOG_MAX 500

/* Opens (creating if needed) the SQLite queue at path: WAL,
 * synchronous=FULL, busy timeout, migrations applied, integrity checked.
 * Returns 0 and *ret, or AOS_ESCHEMA / AOS_ECORRUPT / -errno with errbuf
 * saying what is wrong and what to do. */
int queue_sqlite_open(const char *path, struct queue **ret, char *errbuf, size_t errlen);

/* Frees what a struct job owns (inputs). */
void job_clear(struct job *j);

const char *job_state_name(enum job_state s);
/* Parses a state name; returns 0 for an unknown one. */
enum job_state job_state_parse(const char *s);
const char *upload_state_name(enum upload_state s);

#endif
