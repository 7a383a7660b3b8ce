/* queue_pg_read.c - the PostgreSQL queue's reads: get, list, uploads, the
 * log and counts.  Each read is one statement: one consistent snapshot. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "queue_internal.h"
#include "queue_pg_internal.h"

/* One row of a result, for queue__read_job(). */
struct pg_row {
	PGresult *r;
	int i;
};

static int64_t pgrow_int64(void *row, int col)
{
	struct pg_row *p = row;

	return qp__int64(p->r, p->i, col);
}

static bool pgrow_null(void *row, int col)
{
	struct pg_row *p = row;

	return PQgetisnull(p->r, p->i, col);
}

static const char *pgrow_text(void *row, int col, size_t *ret_len)
{
	struct pg_row *p = row;

	*ret_len = (size_t)PQgetlength(p->r, p->i, col);
	return PQgetvalue(p->r, p->i, col);
}

int qp__read_job(PGresult *r, int row, struct job *j)
{
	struct pg_row p = {r, row};
	const struct queue_row qr = {pgrow_int64, pgrow_null, pgrow_text, &p};

	return queue__read_job(&qr, j);
}

int qp__read_jobs(PGresult *r, struct job *ret)
{
	int i, n = PQntuples(r), result = 0;

	for (i = 0; result == 0 && i < n; i++)
		result = qp__read_job(r, i, &ret[i]);
	PQclear(r);
	if (result < 0) {
		while (i-- > 0)
			job_clear(&ret[i]);
		return result;
	}
	return n;
}

/* 0 when job id exists, else AOS_ENOTFOUND. */
static int job_exists(struct queue_pg *q, int64_t id)
{
	struct qp_args a = {0};
	PGresult *r = NULL;
	int result;

	qp__int(&a, id);
	result = qp__row(q, "SELECT 1 FROM aos_jobs WHERE id = $1", &a, &r);
	PQclear(r);
	return result;
}

int queue_pg__get(struct queue *q_, int64_t id, struct job *ret)
{
	struct queue_pg *q = (struct queue_pg *)q_;
	struct qp_args a = {0};
	PGresult *r = NULL;
	struct job j;
	int result;

	qp__int(&a, id);
	result =
	    qp__exec(q, "SELECT " QP_JOB_COLS " FROM aos_jobs WHERE id = $1", &a, &r);
	if (result < 0)
		return result;
	result = qp__read_jobs(r, &j); /* the one row, or none */
	if (result < 0)
		return result;
	if (result == 0)
		return AOS_ENOTFOUND;
	*ret = j;
	return 0;
}

int queue_pg__list(struct queue *q_, const struct job_filter *f, struct job *ret,
		   size_t max)
{
	struct queue_pg *q = (struct queue_pg *)q_;
	size_t limit = queue__list_limit(f, max);
	struct qp_args a = {0};
	PGresult *r = NULL;
	int result;

	if (limit == 0)
		return 0;
	qp__int(&a, f != NULL ? (int)f->state : 0);
	qp__int(&a, f != NULL && f->before_id > 0 ? f->before_id : INT64_MAX);
	qp__int(&a, (int64_t)limit);
	result =
	    qp__exec(q,
		     "SELECT " QP_LIST_COLS " FROM aos_jobs WHERE ($1 = 0 OR state = $1) "
		     "AND id < $2 ORDER BY id DESC LIMIT $3",
		     &a, &r);
	if (result < 0)
		return result;
	return qp__read_jobs(r, ret);
}

/* The rows of job id that sql answers, its last parameter the limit max
 * (added to a here, cut to INT_MAX).  Returns the count and *ret (PQclear
 * it), AOS_ENOTFOUND when there are none and no job id, or an error. */
static int job_rows(struct queue_pg *q, const char *sql, struct qp_args *a, int64_t id,
		    size_t max, PGresult **ret)
{
	PGresult *r = NULL;
	int n, result;

	qp__int(a, (int64_t)(max > INT_MAX ? INT_MAX : max));
	result = qp__exec(q, sql, a, &r);
	if (result < 0)
		return result;
	n = PQntuples(r);
	if (n == 0 && (result = job_exists(q, id)) < 0) {
		PQclear(r);
		return result;
	}
	*ret = r;
	return n;
}

int queue_pg__uploads(struct queue *q_, int64_t id, struct job_upload *ret, size_t max)
{
	struct qp_args a = {0};
	PGresult *r = NULL;
	int i, n;

	qp__int(&a, id);
	n = job_rows(
	    (struct queue_pg *)q_,
	    "SELECT job_id, filename, registry, sha256, state, answer, "
	    "updated_ms, outcome FROM aos_uploads WHERE job_id = $1 ORDER BY seq "
	    "LIMIT $2",
	    &a, id, max, &r);
	if (n < 0)
		return n;
	for (i = 0; i < n; i++) {
		struct job_upload *u = &ret[i];

		memset(u, 0, sizeof(*u));
		u->job_id = qp__int64(r, i, 0);
		qp__col_text(r, i, 1, u->filename, sizeof(u->filename));
		qp__col_text(r, i, 2, u->registry, sizeof(u->registry));
		qp__col_text(r, i, 3, u->sha256, sizeof(u->sha256));
		u->state = (enum upload_state)qp__int64(r, i, 4);
		qp__col_text(r, i, 5, u->answer, sizeof(u->answer));
		u->updated_ms = qp__int64(r, i, 6);
		u->outcome = outcome_parse(PQgetvalue(r, i, 7));
	}
	PQclear(r);
	return n;
}

int queue_pg__log_read(struct queue *q_, int64_t id, int64_t after_id,
		       struct job_log_entry *ret, size_t max)
{
	struct qp_args a = {0};
	PGresult *r = NULL;
	int i, n;

	qp__int(&a, id);
	qp__int(&a, after_id);
	n = job_rows((struct queue_pg *)q_,
		     "SELECT id, job_id, at_ms, text FROM aos_job_log "
		     "WHERE job_id = $1 AND id > $2 ORDER BY id LIMIT $3",
		     &a, id, max, &r);
	if (n < 0)
		return n;
	for (i = 0; i < n; i++) {
		ret[i].id = qp__int64(r, i, 0);
		ret[i].job_id = qp__int64(r, i, 1);
		ret[i].at_ms = qp__int64(r, i, 2);
		qp__col_text(r, i, 3, ret[i].text, sizeof(ret[i].text));
	}
	PQclear(r);
	return n;
}

int queue_pg__counts(struct queue *q_, int64_t ret[JOB_CANCELED + 1])
{
	struct queue_pg *q = (struct queue_pg *)q_;
	int64_t counts[JOB_CANCELED + 1] = {0};
	PGresult *r = NULL;
	int i, st, result;

	result =
	    qp__exec(q, "SELECT state, count(*) FROM aos_jobs GROUP BY state", NULL, &r);
	if (result < 0)
		return result;
	for (i = 0; i < PQntuples(r); i++) {
		st = (int)qp__int64(r, i, 0);
		if (st >= JOB_QUEUED && st <= JOB_CANCELED)
			counts[st] = qp__int64(r, i, 1);
	}
	PQclear(r);
	memcpy(ret, counts, sizeof(counts));
	return 0;
}

/* On indexes: aos_jobs_kind_state (index-only when the visibility map
 * allows), aos_jobs_due (its first entry).  One statement: one snapshot. */
int queue_pg__stats(struct queue *q_, int64_t now_ms, struct queue_stats *ret)
{
	struct queue_pg *q = (struct queue_pg *)q_;
	struct queue_stats st = {0};
	struct qp_args a = {0};
	PGresult *r = NULL;
	int i, kind, state, result;

	qp__int(&a, now_ms);
	result = qp__exec(q,
			  "SELECT kind, state, count(*), NULL FROM aos_jobs "
			  "GROUP BY kind, state UNION ALL SELECT 0, 0, 0, "
			  "coalesce(min(next_run_ms), 0) FROM aos_jobs "
			  "WHERE state IN (1, 4) AND next_run_ms <= $1",
			  &a, &r);
	if (result < 0)
		return result;
	for (i = 0; i < PQntuples(r); i++) {
		kind = (int)qp__int64(r, i, 0);
		state = (int)qp__int64(r, i, 1);
		if (kind == 0)
			st.oldest_due_ms = qp__int64(r, i, 3);
		else if (kind >= JOB_PUBLISH && kind <= JOB_PIPELINE &&
			 state >= JOB_QUEUED && state <= JOB_CANCELED)
			st.jobs[kind][state] = qp__int64(r, i, 2);
	}
	PQclear(r);
	*ret = st;
	return 0;
}
