/* queue_internal.h - what every queue backend shares: the argument checks
 * of queue.h, cutting stored texts, the wording of the log lines that
 * more than one operation writes, the frame of the operations both run
 * alike (queue_frame.c) and the mapping of a row to a struct job.
 * Backends include it by bare name.
 */
#ifndef AOS_QUEUE_INTERNAL_H
#define AOS_QUEUE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "queue/queue.h"

/* A required string: 0, -EINVAL when NULL or empty, AOS_ETOOBIG when it
 * does not fit max bytes with its terminator. */
int queue__check_str(const char *s, size_t max);

/* Inputs JSON: 0, or AOS_ETOOBIG beyond JOB_INPUTS_MAX bytes (NULL is fine). */
int queue__check_inputs(const char *inputs);

/* n uploads as enqueue and set_artifacts take them: 0, -EINVAL (a missing
 * name, a bad digest, a name twice) or AOS_ETOOBIG. */
int queue__check_uploads(const struct job_upload *ups, size_t n);

/* A new job: 0, -EINVAL or AOS_ETOOBIG. */
int queue__check_new(const struct job_new *j);

/* How many jobs list answers: f's limit (0: QUEUE_LIST_DEFAULT), at most
 * max and INT_MAX. */
#define QUEUE_LIST_DEFAULT 100
size_t queue__list_limit(const struct job_filter *f, size_t max);

/* A claim's arguments (see queue_ops.claim): 0 with *max cut to
 * QUEUE_CLAIM_MAX, -EINVAL or AOS_ETOOBIG. */
int queue__check_claim(const char *owner, int64_t now_ms, int64_t lease_ms,
		       const struct job *ret, size_t *max);

/* upload_set's arguments: 0, -EINVAL or AOS_ETOOBIG. */
int queue__check_upload_set(const char *filename, enum upload_state st);

/* A job a claim picked (before it is claimed), and a growing list of them:
 * both backends pick per registry, then keep the oldest. */
struct queue_pick {
	int64_t id;
	int64_t due_ms;
	enum job_state from;
	char package[256];
	char old_owner[128];
};

struct queue_picks {
	struct queue_pick *v;
	size_t n, cap;
};

/* A new slot at the end of p (free p->v at the end), or NULL. */
struct queue_pick *queue__picks_add(struct queue_picks *p);
/* A claim's end: (int)nret when result (the transaction's end) is not
 * negative, else result with the nret jobs in ret cleared. */
int queue__claimed(int result, struct job *ret, size_t nret);
/* Sorts p by due time, then id, and keeps the max oldest. */
void queue__picks_keep(struct queue_picks *p, size_t max);

/* The length of s cut to fit a buffer of max bytes with its terminator,
 * without splitting a UTF-8 sequence. */
size_t queue__text_len(const char *s, size_t max);

/* The log line of a finish to st (see queue_ops.finish) into buf: the
 * outcome's word before the message (outcome_text()). */
void queue__finish_text(enum job_state st, int64_t next_run_ms, enum pub_outcome out,
			const char *message, char *buf, size_t len);

/* How an outcome is stored: its word, "" for OUT_NONE (outcome_parse()
 * reads both back).  A static string. */
const char *queue__outcome_word(enum pub_outcome out);

/* The log line of set_artifacts with n uploads (none: a build that
 * failed before any upload, e.g. in a verify_matrix cell). */
void queue__artifacts_text(size_t n, char *buf, size_t len);

/* The log line of a new job. */
void queue__enqueue_text(const struct job_new *j, char *buf, size_t len);

/* A backend's steps, for the frame of queue_frame.c (the backend's
 * queue_ops.tx).  Each returns 0 or a negative code; all but begin and end
 * run inside the transaction. */
struct queue_tx {
	int (*begin)(struct queue *q);
	/* commits when result >= 0, else rolls back; returns result or the
	 * commit's error */
	int (*end)(struct queue *q, int result);
	/* one job: 0 and *ret_id, or AOS_EEXIST (nothing written) with the
	 * existing job's id */
	int (*enqueue_one)(struct queue *q, const struct job_new *j, int64_t now_ms,
			   int64_t *ret_id);
	/* job id's state and lease owner (owner may be NULL) under the locks a
	 * change of its state needs; AOS_ENOTFOUND */
	int (*job_lock)(struct queue *q, int64_t id, enum job_state *ret_state,
			char *owner, size_t ownerlen);
	/* the job canceled (running: its fence moved too); retried */
	int (*cancel_set)(struct queue *q, int64_t id, bool running, int64_t now_ms);
	int (*retry_set)(struct queue *q, int64_t id, int64_t now_ms);
	/* recomputes the head of job id's package */
	int (*head_refresh)(struct queue *q, int64_t id);
	/* appends text to job id's log (bounded to QUEUE_LOG_MAX lines) */
	int (*log_add)(struct queue *q, int64_t id, int64_t now_ms, const char *text);
};

/* The operations of queue.h of the same names, run with the steps of
 * q->ops->tx: a backend's ops table points at these. */
int queue__enqueue(struct queue *q, const struct job_new *j, int64_t now_ms,
		   int64_t *ret_id);
int queue__enqueue_many(struct queue *q, const struct job_new *js, size_t n,
			int64_t now_ms, int64_t *ret_ids, int *ret_rcs);
int queue__cancel(struct queue *q, int64_t id, const char *reason, int64_t now_ms);
int queue__retry(struct queue *q, int64_t id, int64_t now_ms);

/* How a backend reads the columns of one row of QS_JOB_COLS / QP_JOB_COLS
 * (the same order in both). */
struct queue_row {
	int64_t (*int64)(void *row, int col);
	bool (*null)(void *row, int col);
	/* the column's text, terminated, and its length (*ret_len); NULL when
	 * it could not be read (out of memory) */
	const char *(*text)(void *row, int col, size_t *ret_len);
	void *row;
};

/* Reads the job of r into *j (j->inputs allocated).  Returns 0 or -ENOMEM
 * (j is then set and may be job_clear()ed). */
int queue__read_job(const struct queue_row *r, struct job *j);

#endif
