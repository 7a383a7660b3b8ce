/* queue_pg_prune.c - retention on PostgreSQL: the ended jobs past their
 * time are read and deleted (their uploads, log lines and stored files with
 * them, ON DELETE CASCADE) in small batches, each one statement on the
 * partial index aos_jobs_ended (migration 4), so that no transaction holds
 * many row locks for long; the caller spaces the batches out.
 *
 * Across hosts: the batch locks its rows (FOR UPDATE) before deleting them.
 * A job that an operator retries on another host meanwhile is either
 * retried first (it is no longer ended: passed over, the batch may then
 * answer fewer than max) or pruned first (the retry answers AOS_ENOTFOUND).
 */
#include <errno.h>
#include <stdbool.h>

#include "queue_pg_internal.h"

/* The ended jobs past their time after the cursor (on aos_jobs_ended). */
#define PRUNE_WHERE "state IN (3, 5, 6) AND id > $2 AND updated_ms < $1"

int queue_pg__prune(struct queue *q_, int64_t before_ms, int64_t after_id, bool dry_run,
		    struct job *ret, size_t max)
{
	struct queue_pg *q = (struct queue_pg *)q_;
	struct qp_args a = {0};
	PGresult *r = NULL;
	int result;

	if (ret == NULL || max == 0 || max > QUEUE_PRUNE_MAX || after_id < 0)
		return -EINVAL;
	qp__int(&a, before_ms);
	qp__int(&a, after_id);
	qp__int(&a, (int64_t)max);
	/* one statement either way: one snapshot, and for a deletion one
	 * transaction that returns exactly what it deleted */
	if (dry_run)
		result =
		    qp__exec(q,
			     "SELECT " QP_JOB_COLS " FROM aos_jobs WHERE " PRUNE_WHERE
			     " ORDER BY id LIMIT $3",
			     &a, &r);
	else /* the rows picked and locked once (MATERIALIZED: a pick
	      * run again inside the DELETE would pass over the rows this
	      * statement deleted and take more), checked again, deleted */
		result = qp__exec(
		    q,
		    "WITH p AS MATERIALIZED (SELECT id FROM aos_jobs WHERE " PRUNE_WHERE
		    " ORDER BY id LIMIT $3 FOR UPDATE), "
		    "d AS (DELETE FROM aos_jobs WHERE id IN (SELECT id FROM p) "
		    "AND " PRUNE_WHERE " RETURNING " QP_JOB_COLS ") "
		    "SELECT * FROM d ORDER BY id",
		    &a, &r);
	if (result < 0)
		return result;
	return qp__read_jobs(r, ret);
}
