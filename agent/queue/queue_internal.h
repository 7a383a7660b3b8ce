/* queue_internal.h - what every queue backend shares: the argument checks
 * of queue.h, cutting stored texts, and the wording of the log lines that
 * more than one operation writes.  Backends include it by bare name.
 */
#ifndef AOS_QUEUE_INTERNAL_H
#define AOS_QUEUE_INTERNAL_H

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

/* The log line of a new job. */
void queue__enqueue_text(const struct job_new *j, char *buf, size_t len);

#endif
