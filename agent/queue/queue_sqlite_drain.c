/* queue_sqlite_drain.c - drains in the SQLite queue: the table drains
 * (host '' the fleet's), set and read by the operator's requests and
 * checked by every claim inside its own transaction (queue_sqlite_claim.c).
 * With one writer at a time (BEGIN IMMEDIATE), a drain that committed is
 * seen by every claim that begins after it.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "common/err.h"
#include "queue/queue.h"
#include "queue_sqlite_internal.h"

int queue_sqlite__drained(struct queue_sqlite *q, const char *owner, bool *ret)
{
	sqlite3_stmt *s = q->st[QS_DRAINED];
	char host[QUEUE_HOST_MAX];
	int rc;

	*ret = false;
	/* an owner whose host is too long for a drain's name: no host drain
	 * can name it, the fleet's still holds */
	if (queue_owner_host(owner, host, sizeof(host)) < 0)
		host[0] = '\0';
	sqlite3_bind_text(s, 1, host, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	*ret = rc == SQLITE_ROW;
	queue_sqlite__done(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : queue_sqlite__err(rc);
}

/* Whether host has a drain (*ret), inside the caller's transaction. */
static int drain_is(struct queue_sqlite *q, const char *host, bool *ret)
{
	sqlite3_stmt *s = q->st[QS_DRAIN_IS];
	int rc;

	sqlite3_bind_text(s, 1, host, -1, SQLITE_STATIC);
	rc = sqlite3_step(s);
	*ret = rc == SQLITE_ROW;
	queue_sqlite__done(s);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : queue_sqlite__err(rc);
}

int queue_sqlite__drain_set(struct queue *q_, const char *host, bool on, int64_t now_ms)
{
	struct queue_sqlite *q = (struct queue_sqlite *)q_;
	sqlite3_stmt *s;
	bool there = false;
	int result, rc;

	if (host != NULL && (result = queue_host_check(host)) < 0)
		return result;
	if (host == NULL)
		host = "";
	result = queue_sqlite__tx_begin(q);
	if (result < 0)
		return result;
	s = q->st[on ? QS_DRAIN_ADD : QS_DRAIN_DEL];
	sqlite3_bind_text(s, 1, host, -1, SQLITE_STATIC);
	if (on) {
		sqlite3_bind_int64(s, 2, now_ms);
		sqlite3_bind_int(s, 3, QUEUE_DRAINS_MAX);
	}
	result = queue_sqlite__step_done(s);
	if (result == 0)
		result = sqlite3_changes(q->db) > 0 ? 1 : 0;
	if (result == 0 && on) { /* there already, or no room for it */
		result = drain_is(q, host, &there);
		if (result == 0 && !there)
			result = AOS_ETOOBIG;
	}
	rc = queue_sqlite__tx_end(q, result); /* 0 once committed */
	return rc < 0 ? rc : result;
}

int queue_sqlite__drains(struct queue *q_, struct queue_drain *ret, size_t max)
{
	struct queue_sqlite *q = (struct queue_sqlite *)q_;
	sqlite3_stmt *s = q->st[QS_DRAINS];
	size_t n = 0;
	int rc = SQLITE_DONE;

	if (ret == NULL && max > 0)
		return -EINVAL;
	sqlite3_bind_int64(s, 1,
			   (int64_t)(max < QUEUE_DRAINS_MAX ? max : QUEUE_DRAINS_MAX));
	while (n < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		queue_sqlite__col_text(s, 0, ret[n].host, sizeof(ret[n].host));
		ret[n].since_ms = sqlite3_column_int64(s, 1);
		n++;
	}
	queue_sqlite__done(s);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return queue_sqlite__err(rc);
	return (int)n;
}
