/* queue_sqlite_claim.c - claiming due jobs in the SQLite queue backend.
 *
 * Nothing is claimed while the fleet or the claiming host is drained
 * (queue_sqlite_drain.c), checked first in the claim's transaction.
 * Only a package's head (its oldest unfinished job, see the schema) may run.
 * A claim walks the registries that have heads; for each registry below its
 * limit it takes its due heads oldest first, skipping a head whose package
 * has another job running under a valid lease.  The picks of all registries
 * are then sorted by due time and the oldest max are claimed: each index
 * lookup is a seek, so a claim costs about the same with 10 or 10,000
 * queued jobs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "queue/queue.h"
#include "queue_internal.h"
#include "queue_sqlite_internal.h"

/* Running jobs with a valid lease in registry reg. */
static int reg_running(struct queue_sqlite *q, const char *reg, int64_t now_ms, int *ret)
{
	sqlite3_stmt *s = q->st[QS_REG_RUNNING];
	int rc;

	*ret = 0;
	sqlite3_bind_text(s, 1, reg, -1, SQLITE_STATIC);
	sqlite3_bind_int64(s, 2, now_ms);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*ret = sqlite3_column_int(s, 0);
	queue_sqlite__done(s);
	return rc == SQLITE_ROW ? 0 : queue_sqlite__err(rc);
}

/* Adds up to take due heads of registry reg to p. */
static int pick_registry(struct queue_sqlite *q, const char *reg, int64_t now_ms,
			 size_t take, struct queue_picks *p)
{
	sqlite3_stmt *s = q->st[QS_CLAIM_DUE];
	struct queue_pick *c;
	int rc = SQLITE_DONE, result = 0;

	sqlite3_bind_int64(s, 1, now_ms);
	sqlite3_bind_text(s, 2, reg, -1, SQLITE_STATIC);
	while (take-- > 0 && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		c = queue__picks_add(p);
		if (c == NULL) {
			result = -ENOMEM;
			break;
		}
		c->id = sqlite3_column_int64(s, 0);
		c->from = (enum job_state)sqlite3_column_int(s, 1);
		queue_sqlite__col_text(s, 2, c->package, sizeof(c->package));
		queue_sqlite__col_text(s, 3, c->old_owner, sizeof(c->old_owner));
		c->due_ms = sqlite3_column_int64(s, 4);
	}
	if (result == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
		result = queue_sqlite__err(rc);
	queue_sqlite__done(s);
	return result;
}

/* Picks the due jobs the limits allow, registry by registry, then keeps
 * the max oldest (no write yet). */
static int claim_pick(struct queue_sqlite *q, int64_t now_ms, int per_registry_limit,
		      size_t max, struct queue_picks *p)
{
	sqlite3_stmt *s = q->st[QS_NEXT_REGISTRY];
	char reg[128] = "";
	size_t take;
	int rc, running, result = 0;

	for (;;) {
		sqlite3_bind_text(s, 1, reg, -1, SQLITE_TRANSIENT);
		rc = sqlite3_step(s);
		if (rc == SQLITE_ROW && (size_t)sqlite3_column_bytes(s, 0) >= sizeof(reg))
			rc = SQLITE_CORRUPT; /* enqueue bounds it: damaged by hand */
		if (rc == SQLITE_ROW)
			queue_sqlite__col_text(s, 0, reg, sizeof(reg));
		queue_sqlite__done(s);
		if (rc != SQLITE_ROW) {
			if (rc != SQLITE_DONE)
				result = queue_sqlite__err(rc);
			break;
		}
		take = max;
		if (per_registry_limit > 0) {
			result = reg_running(q, reg, now_ms, &running);
			if (result < 0)
				break;
			if (running >= per_registry_limit)
				continue;
			if ((size_t)(per_registry_limit - running) < take)
				take = (size_t)(per_registry_limit - running);
		}
		result = pick_registry(q, reg, now_ms, take, p);
		if (result < 0)
			break;
	}
	queue__picks_keep(p, max);
	return result;
}

int queue_sqlite__claim(struct queue *q_, const char *owner, int64_t now_ms,
			int64_t lease_ms, int per_registry_limit, struct job *ret,
			size_t max)
{
	struct queue_sqlite *q = (struct queue_sqlite *)q_;
	struct queue_picks picks = {0};
	size_t nret = 0, i, k;
	sqlite3_stmt *s;
	int result;
	bool drained = false;

	result = queue__check_claim(owner, now_ms, lease_ms, ret, &max);
	if (result < 0 || max == 0)
		return result;
	result = queue_sqlite__tx_begin(q);
	if (result < 0)
		return result;

	result = queue_sqlite__drained(q, owner, &drained);
	if (result == 0 && !drained)
		result = claim_pick(q, now_ms, per_registry_limit, max, &picks);
	for (i = 0; result == 0 && i < picks.n; i++) {
		const struct queue_pick *p = &picks.v[i];

		for (k = 0; k < i; k++) /* heads are unique per package */
			if (strcmp(picks.v[k].package, p->package) == 0)
				break;
		if (k < i)
			continue;
		s = q->st[QS_CLAIM_SET];
		sqlite3_bind_int64(s, 1, p->id);
		sqlite3_bind_text(s, 2, owner, -1, SQLITE_STATIC);
		sqlite3_bind_int64(s, 3, now_ms + lease_ms);
		sqlite3_bind_int64(s, 4, now_ms);
		result = queue_sqlite__step_done(s);
		if (result < 0)
			break;
		result = queue_sqlite__get(&q->base, p->id, &ret[nret]);
		if (result < 0)
			break;
		nret++;
		if (p->from == JOB_RUNNING)
			result = queue_sqlite__log_add(
			    q, p->id, now_ms,
			    "running -> running (lease of %s ran out; claimed by "
			    "%s, attempt %d)",
			    p->old_owner, owner, ret[nret - 1].attempts);
		else
			result = queue_sqlite__log_add(
			    q, p->id, now_ms, "%s -> running (claimed by %s, attempt %d)",
			    job_state_name(p->from), owner, ret[nret - 1].attempts);
	}
	free(picks.v);
	return queue__claimed(queue_sqlite__tx_end(q, result), ret, nret);
}
