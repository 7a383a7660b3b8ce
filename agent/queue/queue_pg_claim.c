/* queue_pg_claim.c - claiming due jobs in the PostgreSQL queue.
 *
 * As in SQLite, only a package's head may run.  Claims from all hosts are
 * serialized by one transaction-level advisory lock, so a registry's count
 * of running jobs cannot change between reading it and claiming; the rows
 * themselves are picked with FOR UPDATE SKIP LOCKED, so a claim passes over
 * a job whose worker is finishing it (its row locked) instead of waiting.
 * Under that lock, the claim first reads the drains (queue_pg_drain.c): a
 * drain takes the same lock, so no claim that missed it commits after it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "queue_internal.h"
#include "queue_pg_internal.h"

static int picks_add(struct queue_picks *p, PGresult *r, int row)
{
	struct queue_pick *v = queue__picks_add(p);

	if (v == NULL)
		return -ENOMEM;
	v->id = qp__int64(r, row, 0);
	v->from = (enum job_state)qp__int64(r, row, 1);
	qp__col_text(r, row, 2, v->package, sizeof(v->package));
	qp__col_text(r, row, 3, v->old_owner, sizeof(v->old_owner));
	v->due_ms = qp__int64(r, row, 4);
	return 0;
}

/* Locks and adds up to take due heads of registry reg (row 'row' of regs). */
static int pick_registry(struct queue_pg *q, PGresult *regs, int row, int64_t now_ms,
			 int per_registry_limit, size_t max, struct queue_picks *p)
{
	struct qp_args a = {0};
	PGresult *r = NULL;
	int64_t take = (int64_t)max;
	int i, result;

	if (per_registry_limit > 0) {
		take = per_registry_limit - qp__int64(regs, row, 1);
		if (take <= 0)
			return 0;
		if ((size_t)take > max)
			take = (int64_t)max;
	}
	qp__int(&a, now_ms);
	a.v[a.n] = PQgetvalue(regs, row, 0);
	a.len[a.n] = PQgetlength(regs, row, 0);
	a.fmt[a.n++] = 0;
	qp__int(&a, take);
	/* a head waits while another job of its package runs under a valid
	 * lease (a head retried while a newer job of its package runs) */
	result = qp__exec(
	    q,
	    "SELECT id, state, package, lease_owner, " QP_DUE_EXPR
	    " FROM aos_jobs AS j WHERE head AND registry = $2::text AND " QP_DUE_EXPR
	    " <= $1 AND NOT EXISTS (SELECT 1 FROM aos_jobs AS o "
	    "WHERE o.package = j.package AND o.state = 2 AND o.id <> j.id "
	    "AND o.lease_expires_ms > $1) ORDER BY " QP_DUE_EXPR ", id "
	    "LIMIT $3 FOR UPDATE SKIP LOCKED",
	    &a, &r);
	for (i = 0; result == 0 && i < PQntuples(r); i++)
		result = picks_add(p, r, i);
	PQclear(r);
	return result;
}

/* Picks (and locks) the due jobs the limits allow, then keeps the max
 * oldest. */
static int claim_pick(struct queue_pg *q, int64_t now_ms, int per_registry_limit,
		      size_t max, struct queue_picks *p)
{
	struct qp_args a = {0};
	PGresult *regs = NULL;
	int i, result;

	qp__int(&a, now_ms);
	result = qp__exec(q,
			  "SELECT h.registry, (SELECT count(*) FROM aos_jobs AS r "
			  "WHERE r.registry = h.registry AND r.state = 2 "
			  "AND r.lease_expires_ms > $1) FROM (SELECT DISTINCT registry "
			  "FROM aos_jobs WHERE head) AS h ORDER BY h.registry",
			  &a, &regs);
	for (i = 0; result == 0 && i < PQntuples(regs); i++)
		result = pick_registry(q, regs, i, now_ms, per_registry_limit, max, p);
	PQclear(regs);
	queue__picks_keep(p, max);
	return result;
}

/* Claims one picked job into *ret and logs it. */
static int claim_set(struct queue_pg *q, const struct queue_pick *p, const char *owner,
		     int64_t now_ms, int64_t lease_ms, struct job *ret)
{
	struct qp_args a = {0};
	PGresult *r = NULL;
	int result;

	qp__int(&a, p->id);
	qp__text(&a, owner, sizeof(ret->lease_owner));
	qp__int(&a, now_ms + lease_ms);
	qp__int(&a, now_ms);
	result = qp__row(
	    q,
	    "UPDATE aos_jobs SET state = 2, attempts = attempts + 1, "
	    "lease_owner = $2::text, lease_expires_ms = $3, fence = fence + 1, "
	    "updated_ms = $4, wait_reason = '' WHERE id = $1 RETURNING " QP_JOB_COLS,
	    &a, &r);
	if (result < 0)
		return result == AOS_ENOTFOUND ? -EIO : result;
	result = qp__read_job(r, 0, ret);
	PQclear(r);
	if (result < 0)
		return result;
	if (p->from == JOB_RUNNING)
		result =
		    qp__log_add(q, p->id, now_ms,
				"running -> running (lease of %s ran out; claimed by "
				"%s, attempt %d)",
				p->old_owner, owner, ret->attempts);
	else
		result = qp__log_add(q, p->id, now_ms,
				     "%s -> running (claimed by %s, attempt %d)",
				     job_state_name(p->from), owner, ret->attempts);
	if (result < 0)
		job_clear(ret);
	return result;
}

int queue_pg__claim(struct queue *q_, const char *owner, int64_t now_ms, int64_t lease_ms,
		    int per_registry_limit, struct job *ret, size_t max)
{
	struct queue_pg *q = (struct queue_pg *)q_;
	struct queue_picks picks = {0};
	size_t nret = 0, i, k;
	bool drained = false;
	int result;

	result = queue__check_claim(owner, now_ms, lease_ms, ret, &max);
	if (result < 0 || max == 0)
		return result;
	result = qp__begin(q);
	if (result == 0)
		result = queue_pg__claims_lock(q);
	if (result == 0)
		result = queue_pg__drained(q, owner, &drained);
	if (result == 0 && !drained)
		result = claim_pick(q, now_ms, per_registry_limit, max, &picks);
	for (i = 0; result == 0 && i < picks.n; i++) {
		for (k = 0; k < i; k++) /* heads are unique per package */
			if (strcmp(picks.v[k].package, picks.v[i].package) == 0)
				break;
		if (k < i)
			continue;
		result = claim_set(q, &picks.v[i], owner, now_ms, lease_ms, &ret[nret]);
		if (result == 0)
			nret++;
	}
	free(picks.v);
	return queue__claimed(qp__end(q, result), ret, nret);
}
