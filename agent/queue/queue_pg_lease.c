/* queue_pg_lease.c - the PostgreSQL queue's lease-fenced writes (heartbeat,
 * upload_set, finish), the steps of the operator actions that
 * queue_frame.c runs (the job's locks, cancel's and retry's updates), log
 * and release_owner.
 *
 * A fenced write checks (id, fence, running) on the job's row under its row
 * lock, in the transaction that writes: a claim by another host either
 * committed before (the fence moved: AOS_EFENCED) or waits until after.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "queue_internal.h"
#include "queue_pg_internal.h"

int queue_pg__fence_row(struct queue_pg *q, const char *sql, int64_t id, int64_t fence)
{
	struct qp_args a = {0};
	PGresult *r = NULL;
	int result;

	qp__int(&a, id);
	qp__int(&a, fence);
	result = qp__row(q, sql, &a, &r);
	PQclear(r);
	return result == AOS_ENOTFOUND ? AOS_EFENCED : result;
}

int queue_pg__fence_lock(struct queue_pg *q, int64_t id, int64_t fence)
{
	return queue_pg__fence_row(q,
				   "SELECT 1 FROM aos_jobs WHERE id = $1 AND fence = $2 "
				   "AND state = 2 FOR NO KEY UPDATE",
				   id, fence);
}

int queue_pg__fenced_begin(struct queue_pg *q, int64_t id, int64_t fence)
{
	int result = qp__begin(q);

	if (result < 0)
		return result;
	result = queue_pg__fence_lock(q, id, fence);
	return result < 0 ? qp__end(q, result) : 0;
}

int queue_pg__job_lock(struct queue *q_, int64_t id, enum job_state *ret_state,
		       char *owner, size_t ownerlen)
{
	struct queue_pg *q = (struct queue_pg *)q_;
	struct qp_args a = {0};
	PGresult *r = NULL;
	char package[256];
	int result;

	qp__int(&a, id);
	result = qp__row(q, "SELECT package FROM aos_jobs WHERE id = $1", &a, &r);
	if (result < 0)
		return result;
	qp__col_text(r, 0, 0, package, sizeof(package));
	PQclear(r);
	result = qp__lock_package(q, package);
	if (result == 0)
		result = qp__row(q,
				 "SELECT state, lease_owner FROM aos_jobs WHERE id = $1 "
				 "FOR NO KEY UPDATE",
				 &a, &r);
	if (result < 0)
		return result;
	*ret_state = (enum job_state)qp__int64(r, 0, 0);
	if (owner != NULL)
		qp__col_text(r, 0, 1, owner, ownerlen);
	PQclear(r);
	return 0;
}

int queue_pg__heartbeat(struct queue *q_, int64_t id, int64_t fence, int64_t now_ms,
			int64_t lease_ms)
{
	struct queue_pg *q = (struct queue_pg *)q_;
	struct qp_args a = {0};
	PGresult *r = NULL;
	int result;

	if (now_ms < 0 || lease_ms <= 0 || lease_ms > INT64_MAX - now_ms)
		return -EINVAL;
	qp__int(&a, id);
	qp__int(&a, fence);
	qp__int(&a, now_ms + lease_ms);
	qp__int(&a, now_ms);
	/* A lease that ran out is not revived: its slots may have gone. */
	result = qp__exec(q,
			  "UPDATE aos_jobs SET lease_expires_ms = $3, updated_ms = $4 "
			  "WHERE id = $1 AND fence = $2 AND state = 2 "
			  "AND lease_expires_ms > $4",
			  &a, &r);
	if (result < 0)
		return result;
	result = qp__changes(r) == 0 ? AOS_EFENCED : 0;
	PQclear(r);
	return result;
}

int queue_pg__upload_set(struct queue *q_, int64_t id, int64_t fence,
			 const char *filename, enum upload_state st, enum pub_outcome out,
			 const char *answer, int64_t now_ms)
{
	struct queue_pg *q = (struct queue_pg *)q_;
	struct qp_args a = {0};
	PGresult *r = NULL;
	int result;

	if ((result = queue__check_upload_set(filename, st)) < 0 ||
	    (result = queue_pg__fenced_begin(q, id, fence)) < 0)
		return result;
	qp__int(&a, id);
	qp__text(&a, filename, sizeof(((struct job_upload *)0)->filename));
	qp__int(&a, st);
	qp__text(&a, answer, JOB_TEXT_MAX);
	qp__int(&a, now_ms);
	qp__text(&a, queue__outcome_word(out), SIZE_MAX);
	result =
	    qp__exec(q,
		     "WITH u AS (UPDATE aos_uploads SET state = $3, answer = $4::text, "
		     "updated_ms = $5, outcome = $6::text "
		     "WHERE job_id = $1 AND filename = $2::text "
		     "RETURNING 1) UPDATE aos_jobs SET updated_ms = $5 "
		     "WHERE id = $1 AND EXISTS (SELECT 1 FROM u)",
		     &a, &r);
	if (result == 0 && qp__changes(r) == 0)
		result = AOS_ENOTFOUND;
	PQclear(r);
	return qp__end(q, result);
}

int queue_pg__finish(struct queue *q_, int64_t id, int64_t fence, enum job_state st,
		     int64_t next_run_ms, enum pub_outcome out, const char *error,
		     int64_t now_ms)
{
	struct queue_pg *q = (struct queue_pg *)q_;
	bool retries = st == JOB_FAILED || st == JOB_QUEUED;
	char text[JOB_TEXT_MAX + 1];
	struct qp_args a = {0};
	enum job_state cur = 0;
	int result;

	if (st != JOB_SUCCEEDED && st != JOB_FAILED && st != JOB_DEAD && st != JOB_QUEUED)
		return -EINVAL;
	result = qp__begin(q);
	if (result < 0)
		return result;
	result = queue_pg__job_lock(q_, id, &cur, NULL, 0);
	if (result == 0)
		result = queue_pg__fence_lock(q, id, fence);
	if (result < 0) {
		result = result == AOS_ENOTFOUND ? AOS_EFENCED : result;
		goto out;
	}
	qp__int(&a, id);
	qp__int(&a, st);
	if (retries)
		qp__int(&a, next_run_ms);
	else
		qp__null(&a);
	if ((st == JOB_FAILED || st == JOB_DEAD) && error != NULL)
		qp__text(&a, error, JOB_TEXT_MAX);
	else
		qp__null(&a);
	qp__text(&a, st == JOB_QUEUED ? error : NULL,
		 sizeof(((struct job *)0)->wait_reason));
	qp__int(&a, st == JOB_QUEUED ? 1 : 0);
	qp__int(&a, now_ms);
	qp__text(&a, queue__outcome_word(out), SIZE_MAX);
	/* the outcome goes with last_error: kept when there is none */
	result =
	    qp__exec(q,
		     "UPDATE aos_jobs SET state = $2, next_run_ms = "
		     "coalesce($3::bigint, next_run_ms), last_error = "
		     "coalesce($4::text, last_error), outcome = CASE WHEN $4::text "
		     "IS NULL THEN outcome ELSE $8::text END, wait_reason = $5::text, "
		     "attempts = greatest(attempts - $6, 0), lease_owner = '', "
		     "lease_expires_ms = 0, updated_ms = $7 WHERE id = $1",
		     &a, NULL);
	if (result == 0 && !retries)
		result = qp__head_refresh(q, id);
	if (result == 0) {
		queue__finish_text(st, next_run_ms, out, error, text, sizeof(text));
		result = qp__log_add(q, id, now_ms, "%s", text);
	}
out:
	result = qp__end(q, result);
	if (result == 0 && q->test_hook != NULL)
		result = q->test_hook(q, QP_TEST_FINISHED, q->test_arg);
	return result;
}

int queue_pg__cancel_set(struct queue *q, int64_t id, bool running, int64_t now_ms)
{
	struct qp_args a = {0};

	qp__int(&a, id);
	qp__int(&a, running ? 1 : 0); /* fences the worker off */
	qp__int(&a, now_ms);
	return qp__exec((struct queue_pg *)q,
			"UPDATE aos_jobs SET state = 6, fence = fence + $2, "
			"lease_owner = '', lease_expires_ms = 0, wait_reason = '', "
			"updated_ms = $3 WHERE id = $1",
			&a, NULL);
}

int queue_pg__retry_set(struct queue *q, int64_t id, int64_t now_ms)
{
	struct qp_args a = {0};

	qp__int(&a, id);
	qp__int(&a, now_ms);
	return qp__exec((struct queue_pg *)q,
			"UPDATE aos_jobs SET state = 1, attempts = 0, next_run_ms = $2, "
			"wait_reason = '', updated_ms = $2 WHERE id = $1",
			&a, NULL);
}

int queue_pg__log(struct queue *q_, int64_t id, const char *text, int64_t now_ms)
{
	struct queue_pg *q = (struct queue_pg *)q_;
	struct qp_args a = {0};
	PGresult *r = NULL;
	int result;

	if (text == NULL)
		return -EINVAL;
	result = qp__begin(q);
	if (result < 0)
		return result;
	/* the row lock orders the job's log lines by id across hosts */
	qp__int(&a, id);
	result =
	    qp__row(q, "SELECT 1 FROM aos_jobs WHERE id = $1 FOR NO KEY UPDATE", &a, &r);
	PQclear(r);
	if (result == 0)
		result = qp__log_add(q, id, now_ms, "%s", text);
	return qp__end(q, result);
}

int queue_pg__release_owner(struct queue *q_, const char *owner_prefix, int64_t now_ms)
{
	struct queue_pg *q = (struct queue_pg *)q_;
	struct qp_args a = {0};
	PGresult *r = NULL;
	int i, n = 0, result;

	result = queue__check_str(owner_prefix, sizeof(((struct job *)0)->lease_owner));
	if (result < 0)
		return result;
	result = qp__begin(q);
	if (result < 0)
		return result;
	qp__text(&a, owner_prefix, sizeof(((struct job *)0)->lease_owner));
	qp__int(&a, now_ms);
	result = qp__exec(
	    q,
	    "WITH o AS (SELECT id, lease_owner FROM aos_jobs WHERE state = 2 "
	    "AND starts_with(lease_owner, $1::text) FOR NO KEY UPDATE) "
	    "UPDATE aos_jobs AS j SET state = 1, attempts = greatest(attempts - 1, 0), "
	    "fence = fence + 1, lease_owner = '', lease_expires_ms = 0, "
	    "next_run_ms = $2, updated_ms = $2 FROM o WHERE j.id = o.id "
	    "RETURNING j.id, o.lease_owner",
	    &a, &r);
	if (result == 0)
		n = PQntuples(r);
	for (i = 0; result == 0 && i < n; i++)
		result =
		    qp__log_add(q, qp__int64(r, i, 0), now_ms,
				"running -> queued (released: the process %s is gone; "
				"attempt not counted)",
				PQgetvalue(r, i, 1));
	PQclear(r);
	result = qp__end(q, result);
	return result < 0 ? result : n;
}
