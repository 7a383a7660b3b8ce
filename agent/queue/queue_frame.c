/* queue_frame.c - the frame of the queue operations both backends run
 * alike: the checks, the transaction, the backend's steps inside it, the
 * job's log line and what the call returns.  A backend supplies its steps
 * as a struct queue_tx (queue_internal.h), reached as q->ops->tx, and its
 * ops table points at these operations; what differs between SQLite and
 * PostgreSQL (statements, locks) stays in those steps.  And the one
 * mapping of a row to a struct job, through a backend's column readers.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "queue_internal.h"

int queue__enqueue(struct queue *q, const struct job_new *j, int64_t now_ms,
		   int64_t *ret_id)
{
	const struct queue_tx *tx = q->ops->tx;
	int64_t id = 0;
	int result, rc;

	result = queue__check_new(j);
	if (result < 0)
		return result;
	result = tx->begin(q);
	if (result < 0)
		return result;
	rc = tx->enqueue_one(q, j, now_ms, &id);
	/* AOS_EEXIST: nothing was written; the commit is empty */
	result = tx->end(q, rc == AOS_EEXIST ? 0 : rc);
	if (result < 0)
		return result;
	*ret_id = id;
	return rc;
}

int queue__enqueue_many(struct queue *q, const struct job_new *js, size_t n,
			int64_t now_ms, int64_t *ret_ids, int *ret_rcs)
{
	const struct queue_tx *tx = q->ops->tx;
	size_t i;
	int result;

	result = tx->begin(q);
	if (result < 0)
		return result;
	for (i = 0; i < n; i++) {
		ret_ids[i] = 0;
		/* An invalid job alone is refused: nothing of it is written. */
		ret_rcs[i] = queue__check_new(&js[i]);
		if (ret_rcs[i] < 0)
			continue;
		ret_rcs[i] = tx->enqueue_one(q, &js[i], now_ms, &ret_ids[i]);
		if (ret_rcs[i] < 0 && ret_rcs[i] != AOS_EEXIST) {
			/* The store failed (or a constraint): one statement
			 * may have half-written a job; nothing of the batch
			 * is committed. */
			result = ret_rcs[i];
			break;
		}
	}
	return tx->end(q, result);
}

/* BEGIN, then job id's state (and owner) under the locks its change
 * needs: 0 when the state is one of allowed (a bit per state), -EINVAL when
 * not, AOS_ENOTFOUND.  The caller ends the transaction in every case. */
static int begin_change(const struct queue_tx *tx, struct queue *q, int64_t id,
			unsigned allowed, enum job_state *ret_state, char *owner,
			size_t ownerlen)
{
	int result = tx->begin(q);

	if (result == 0)
		result = tx->job_lock(q, id, ret_state, owner, ownerlen);
	if (result == 0 && !(allowed & 1u << *ret_state))
		result = -EINVAL;
	return result;
}

int queue__cancel(struct queue *q, int64_t id, const char *reason, int64_t now_ms)
{
	const struct queue_tx *tx = q->ops->tx;
	const char *sep = reason != NULL ? ": " : "";
	char owner[128], text[JOB_TEXT_MAX + 1];
	enum job_state st = 0;
	int result;

	if (reason == NULL)
		reason = "";
	result = begin_change(tx, q, id,
			      1u << JOB_QUEUED | 1u << JOB_FAILED | 1u << JOB_RUNNING,
			      &st, owner, sizeof(owner));
	if (result == 0) /* a running job's fence moves: its worker is fenced off */
		result = tx->cancel_set(q, id, st == JOB_RUNNING, now_ms);
	if (result == 0)
		result = tx->head_refresh(q, id);
	if (result < 0)
		return tx->end(q, result);
	if (st == JOB_RUNNING)
		snprintf(text, sizeof(text),
			 "running -> canceled%s%s (lease of %s revoked)", sep, reason,
			 owner);
	else
		snprintf(text, sizeof(text), "%s -> canceled%s%s", job_state_name(st),
			 sep, reason);
	return tx->end(q, tx->log_add(q, id, now_ms, text));
}

int queue__retry(struct queue *q, int64_t id, int64_t now_ms)
{
	const struct queue_tx *tx = q->ops->tx;
	char text[JOB_TEXT_MAX + 1];
	enum job_state st = 0;
	int result;

	result = begin_change(tx, q, id,
			      1u << JOB_DEAD | 1u << JOB_FAILED | 1u << JOB_CANCELED, &st,
			      NULL, 0);
	if (result == 0)
		result = tx->retry_set(q, id, now_ms);
	if (result == 0)
		result = tx->head_refresh(q, id);
	if (result == 0) {
		snprintf(text, sizeof(text),
			 "%s -> queued (retry requested; attempts reset)",
			 job_state_name(st));
		result = tx->log_add(q, id, now_ms, text);
	}
	return tx->end(q, result);
}

/* Column col of r into dst (size n), cut, always terminated. */
static void col_text(const struct queue_row *r, int col, char *dst, size_t n)
{
	size_t len = 0;
	const char *t = r->text(r->row, col, &len);

	if (t == NULL)
		len = 0;
	if (len > n - 1)
		len = n - 1;
	memcpy(dst, t != NULL ? t : "", len);
	dst[len] = '\0';
}

int queue__read_job(const struct queue_row *r, struct job *j)
{
	const char *inputs;
	size_t len;

	memset(j, 0, sizeof(*j));
	j->id = r->int64(r->row, 0);
	j->kind = (enum job_kind)r->int64(r->row, 1);
	j->state = (enum job_state)r->int64(r->row, 2);
	col_text(r, 3, j->idem_key, sizeof(j->idem_key));
	col_text(r, 4, j->registry, sizeof(j->registry));
	col_text(r, 5, j->package, sizeof(j->package));
	j->attempts = (int)r->int64(r->row, 7);
	j->max_attempts = (int)r->int64(r->row, 8);
	j->next_run_ms = r->int64(r->row, 9);
	j->created_ms = r->int64(r->row, 10);
	j->updated_ms = r->int64(r->row, 11);
	col_text(r, 12, j->lease_owner, sizeof(j->lease_owner));
	j->lease_expires_ms = r->int64(r->row, 13);
	j->fence = r->int64(r->row, 14);
	col_text(r, 15, j->last_error, sizeof(j->last_error));
	j->outcome = outcome_parse(r->text(r->row, 17, &len));
	col_text(r, 16, j->wait_reason, sizeof(j->wait_reason));
	if (r->null(r->row, 6))
		return 0;
	inputs = r->text(r->row, 6, &len);
	if (inputs == NULL)
		return -ENOMEM;
	j->inputs = strdup(inputs);
	return j->inputs != NULL ? 0 : -ENOMEM;
}
