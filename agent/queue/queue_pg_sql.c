/* queue_pg_sql.c - the helpers every operation of the PostgreSQL backend
 * uses (queue_pg_internal.h): parameters, statements and their results,
 * transactions, the job log, the package lock and the package's head.
 * queue_pg.c (the connection, enqueue) and the operations' files
 * (queue_pg_claim.c, queue_pg_lease.c, queue_pg_read.c) call it; it calls
 * none of them. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "queue/queue_pg.h"
#include "queue_internal.h"
#include "queue_pg_internal.h"

void qp__int(struct qp_args *a, int64_t v)
{
	snprintf(a->num[a->n], sizeof(a->num[a->n]), "%" PRId64, v);
	a->v[a->n] = a->num[a->n];
	a->len[a->n] = 0;
	a->fmt[a->n++] = 0;
}

void qp__text(struct qp_args *a, const char *s, size_t max)
{
	if (s == NULL)
		s = "";
	a->v[a->n] = s;
	/* binary format: text's bytes as they are, no terminator needed */
	a->len[a->n] = (int)queue__text_len(s, max);
	a->fmt[a->n++] = 1;
}

void qp__null(struct qp_args *a)
{
	a->v[a->n] = NULL;
	a->len[a->n] = 0;
	a->fmt[a->n++] = 0;
}

int qp__err(struct queue_pg *q, PGresult *r)
{
	const char *code = r != NULL ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

	/* the connection is gone (PQstatus), or the server ends the session:
	 * 57P01 admin shutdown (pg_terminate_backend, a fast stop), 57P02
	 * crash shutdown, 57P03 cannot connect now, class 08 */
	if (PQstatus(q->conn) != CONNECTION_OK ||
	    (code != NULL &&
	     (strncmp(code, "57P0", 4) == 0 || strncmp(code, "08", 2) == 0)))
		return -ECONNRESET;
	if (code == NULL)
		return -EIO;
	if (strncmp(code, "22", 2) == 0 || strncmp(code, "23", 2) == 0)
		return -EINVAL; /* bad data, a constraint */
	if (strncmp(code, "40", 2) == 0 || strcmp(code, "55P03") == 0 ||
	    strcmp(code, "57014") == 0)
		return -EBUSY; /* deadlock, serialization, lock or statement timeout */
	if (strcmp(code, "53100") == 0)
		return -ENOSPC;
	if (strcmp(code, "53200") == 0)
		return -ENOMEM;
	if (strncmp(code, "XX", 2) == 0)
		return AOS_ECORRUPT;
	return -EIO;
}

void qp__bytes(struct qp_args *a, const void *p, size_t len)
{
	a->v[a->n] = p;
	a->len[a->n] = (int)len;
	a->fmt[a->n++] = 1;
}

/* Runs sql, its answer as text (binary false) or binary. */
static int exec_as(struct queue_pg *q, const char *sql, const struct qp_args *a,
		   bool binary, PGresult **ret)
{
	static const struct qp_args none;
	PGresult *r;
	ExecStatusType st;
	int result;

	if (a == NULL)
		a = &none;
	r = PQexecParams(q->conn, sql, a->n, NULL, a->v, a->len, a->fmt, binary ? 1 : 0);
	st = PQresultStatus(r);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		result = qp__err(q, r);
		PQclear(r);
		return result;
	}
	return qp__keep(r, ret);
}

int qp__keep(PGresult *r, PGresult **ret)
{
	if (ret != NULL)
		*ret = r;
	else
		PQclear(r);
	return 0;
}

int qp__exec(struct queue_pg *q, const char *sql, const struct qp_args *a, PGresult **ret)
{
	return exec_as(q, sql, a, false, ret);
}

int qp__exec_binary(struct queue_pg *q, const char *sql, const struct qp_args *a,
		    PGresult **ret)
{
	return exec_as(q, sql, a, true, ret);
}

int qp__row(struct queue_pg *q, const char *sql, const struct qp_args *a, PGresult **ret)
{
	PGresult *r = NULL;
	int result = qp__exec(q, sql, a, &r);

	if (result < 0)
		return result;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return AOS_ENOTFOUND;
	}
	*ret = r;
	return 0;
}

int64_t qp__changes(PGresult *r)
{
	return strtoll(PQcmdTuples(r), NULL, 10);
}

int64_t qp__int64(PGresult *r, int row, int col)
{
	return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

void qp__col_text(PGresult *r, int row, int col, char *dst, size_t n)
{
	size_t len = (size_t)PQgetlength(r, row, col);

	if (n == 0)
		return;
	if (len > n - 1)
		len = n - 1;
	memcpy(dst, PQgetvalue(r, row, col), len);
	dst[len] = '\0';
}

int qp__begin(struct queue_pg *q)
{
	int r = qp__exec(q, "BEGIN", NULL, NULL);

	/* Every request that writes starts with this BEGIN: a connection
	 * found lost here ran nothing of it (an idle connection that died,
	 * a server restarted meanwhile), so any request may run again */
	return r == -ECONNRESET ? -ENOTCONN : r;
}

int qp__end(struct queue_pg *q, int result)
{
	if (result >= 0) {
		result = qp__exec(q, "COMMIT", NULL, NULL);
		if (result == 0)
			return 0;
	}
	if (PQtransactionStatus(q->conn) != PQTRANS_IDLE)
		qp__exec(q, "ROLLBACK", NULL, NULL);
	return result;
}

int qp__log_add(struct queue_pg *q, int64_t id, int64_t now_ms, const char *fmt, ...)
{
	char text[JOB_TEXT_MAX + 1]; /* one more: the cut sees where it was cut */
	struct qp_args a = {0};
	va_list ap;
	int result;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	qp__int(&a, id);
	qp__int(&a, now_ms);
	qp__text(&a, text, JOB_TEXT_MAX);
	result = qp__exec(q,
			  "INSERT INTO aos_job_log (job_id, at_ms, text) "
			  "VALUES ($1, $2, $3::text)",
			  &a, NULL);
	if (result < 0)
		return result;
	if (q->base.observer.logged != NULL)
		q->base.observer.logged(q->base.observer.data, id);
	a.n = 1;
	qp__int(&a, QUEUE_LOG_MAX);
	return qp__exec(q,
			"DELETE FROM aos_job_log WHERE job_id = $1 AND id <= (SELECT id "
			"FROM aos_job_log WHERE job_id = $1 ORDER BY id DESC LIMIT 1 "
			"OFFSET $2)",
			&a, NULL);
}

int qp__lock_package(struct queue_pg *q, const char *package)
{
	struct qp_args a = {0};

	qp__text(&a, package, sizeof(((struct job *)0)->package));
	return qp__exec(q,
			"SELECT pg_advisory_xact_lock(hashtextextended("
			"'aos-queue-package:' || $1::text, 0))",
			&a, NULL);
}

int qp__head_refresh(struct queue_pg *q, int64_t id)
{
	struct qp_args a = {0};

	qp__int(&a, id);
	return qp__exec(
	    q,
	    "WITH p AS (SELECT package FROM aos_jobs WHERE id = $1), "
	    "h AS (SELECT min(id) AS id FROM aos_jobs WHERE state IN (1, 2, 4) "
	    "AND package = (SELECT package FROM p)) "
	    "UPDATE aos_jobs SET head = (id IS NOT DISTINCT FROM (SELECT id FROM h)) "
	    "WHERE package = (SELECT package FROM p) "
	    "AND (head OR id = (SELECT id FROM h))",
	    &a, NULL);
}
