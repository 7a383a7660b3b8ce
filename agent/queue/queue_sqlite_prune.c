/* queue_sqlite_prune.c - retention: the ended jobs past their time are read
 * and deleted (their uploads and log lines with them, ON DELETE CASCADE) in
 * small batches, each one short BEGIN IMMEDIATE transaction, so that the
 * write lock is never held for long; the caller spaces the batches out.
 */
#include <errno.h>
#include <stdbool.h>

#include "queue/queue.h"
#include "queue_sqlite_internal.h"

/* Reads the next batch of prunable jobs into ret[]; returns the count. */
static int prune_pick(struct queue_sqlite *q, int64_t before_ms, int64_t after_id,
		      struct job *ret, size_t max)
{
	sqlite3_stmt *s = q->st[QS_PRUNE_PICK];
	size_t n = 0;
	int rc, result = 0;

	sqlite3_bind_int64(s, 1, before_ms);
	sqlite3_bind_int64(s, 2, after_id);
	sqlite3_bind_int64(s, 3, (sqlite3_int64)max);
	while (n < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		result = queue_sqlite__read_job(s, &ret[n]);
		if (result < 0)
			break;
		n++;
	}
	if (result == 0 && n < max && rc != SQLITE_DONE)
		result = queue_sqlite__err(rc);
	queue_sqlite__done(s);
	if (result < 0) {
		while (n > 0)
			job_clear(&ret[--n]);
		return result;
	}
	return (int)n;
}

static int prune_delete(struct queue_sqlite *q, const struct job *js, size_t n)
{
	sqlite3_stmt *s = q->st[QS_PRUNE_DELETE];
	size_t i;
	int result = 0;

	for (i = 0; result == 0 && i < n; i++) {
		sqlite3_bind_int64(s, 1, js[i].id);
		result = queue_sqlite__step_done(s);
	}
	return result;
}

int queue_sqlite__prune(struct queue *q_, int64_t before_ms, int64_t after_id,
			bool dry_run, struct job *ret, size_t max)
{
	struct queue_sqlite *q = (struct queue_sqlite *)q_;
	int n, result;

	if (ret == NULL || max == 0 || max > QUEUE_PRUNE_MAX || after_id < 0)
		return -EINVAL;
	if (dry_run) /* one statement: one snapshot, no lock */
		return prune_pick(q, before_ms, after_id, ret, max);
	result = queue_sqlite__tx_begin(q);
	if (result < 0)
		return result;
	n = prune_pick(q, before_ms, after_id, ret, max);
	result = n < 0 ? n : prune_delete(q, ret, (size_t)n);
	result = queue_sqlite__tx_end(q, result);
	if (result < 0) {
		while (n > 0)
			job_clear(&ret[--n]);
		return result;
	}
	return n;
}
