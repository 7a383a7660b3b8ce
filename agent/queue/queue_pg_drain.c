/* queue_pg_drain.c - drains in the PostgreSQL queue: the table aos_drains
 * (host '' the fleet's), shared by every host.  A claim takes the claims'
 * advisory lock, then reads the drains (queue_pg_claim.c); drain_set takes
 * the same lock before it writes, so it waits for the claims under way
 * and every claim after its commit sees it: once it returns, no job starts
 * on a drained host.  A change wakes the other hosts (NOTIFY aos_queue),
 * so that a resume starts jobs without waiting for their next tick.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "common/err.h"
#include "queue/queue.h"
#include "queue_internal.h"
#include "queue_pg_internal.h"

int queue_pg__claims_lock(struct queue_pg *q)
{
	return qp__exec(q,
			"SELECT pg_advisory_xact_lock(hashtextextended("
			"'aos-queue-claim:' || current_schema(), 0))",
			NULL, NULL);
}

int queue_pg__drained(struct queue_pg *q, const char *owner, bool *ret)
{
	char host[QUEUE_HOST_MAX];
	struct qp_args a = {0};
	PGresult *r = NULL;
	int result;

	*ret = false;
	/* an owner whose host is too long for a drain's name: no host drain
	 * can name it, the fleet's still holds */
	if (queue_owner_host(owner, host, sizeof(host)) < 0)
		host[0] = '\0';
	qp__text(&a, host, sizeof(host));
	result = qp__exec(
	    q, "SELECT 1 FROM aos_drains WHERE host IN ('', $1::text) LIMIT 1", &a, &r);
	if (result == 0)
		*ret = PQntuples(r) > 0;
	PQclear(r);
	return result;
}

/* The write of drain_set inside its transaction: 1 changed, 0 not. */
static int drain_write(struct queue_pg *q, const char *host, bool on, int64_t now_ms)
{
	struct qp_args a = {0};
	PGresult *r = NULL;
	int result;

	qp__text(&a, host, QUEUE_HOST_MAX);
	if (on) {
		qp__int(&a, now_ms);
		qp__int(&a, QUEUE_DRAINS_MAX);
	}
	result =
	    qp__exec(q,
		     on ? "INSERT INTO aos_drains (host, since_ms) SELECT $1::text, $2 "
			  "WHERE (SELECT count(*) FROM aos_drains) < $3 "
			  "ON CONFLICT (host) DO NOTHING"
			: "DELETE FROM aos_drains WHERE host = $1::text",
		     &a, &r);
	if (result < 0)
		return result;
	result = qp__changes(r) > 0 ? 1 : 0;
	PQclear(r);
	if (result == 0 && on) { /* there already, or no room for it */
		a.n = 1;
		result =
		    qp__row(q, "SELECT 1 FROM aos_drains WHERE host = $1::text", &a, &r);
		if (result == 0)
			PQclear(r);
		else if (result == AOS_ENOTFOUND)
			result = AOS_ETOOBIG;
	}
	if (result == 1) {
		result = qp__exec(q, "SELECT pg_notify('aos_queue', '')", NULL, NULL);
		if (result == 0)
			result = 1;
	}
	return result;
}

int queue_pg__drain_set(struct queue *q_, const char *host, bool on, int64_t now_ms)
{
	struct queue_pg *q = (struct queue_pg *)q_;
	int result, rc;

	if (host != NULL && (result = queue_host_check(host)) < 0)
		return result;
	result = qp__begin(q);
	if (result < 0)
		return result;
	result = queue_pg__claims_lock(q);
	if (result == 0)
		result = drain_write(q, host != NULL ? host : "", on, now_ms);
	rc = qp__end(q, result); /* 0 once committed */
	return rc < 0 ? rc : result;
}

int queue_pg__drains(struct queue *q_, struct queue_drain *ret, size_t max)
{
	struct queue_pg *q = (struct queue_pg *)q_;
	struct qp_args a = {0};
	PGresult *r = NULL;
	int i, n, result;

	if (ret == NULL && max > 0)
		return -EINVAL;
	qp__int(&a, (int64_t)(max < QUEUE_DRAINS_MAX ? max : QUEUE_DRAINS_MAX));
	result =
	    qp__exec(q,
		     "SELECT host, since_ms FROM aos_drains ORDER BY host COLLATE \"C\" "
		     "LIMIT $1",
		     &a, &r);
	if (result < 0)
		return result;
	n = PQntuples(r);
	for (i = 0; i < n; i++) {
		qp__col_text(r, i, 0, ret[i].host, sizeof(ret[i].host));
		ret[i].since_ms = qp__int64(r, i, 1);
	}
	PQclear(r);
	return n;
}
