/* queue_pg.c - the PostgreSQL queue backend: the connection and the
 * enqueue side.  The helpers every operation uses (parameters, results,
 * transactions, the job log, the package lock) are in queue_pg_sql.c, the
 * fenced writes and operator actions in queue_pg_lease.c, claims in
 * queue_pg_claim.c, reads in queue_pg_read.c, the schema in
 * queue_pg_schema.c.
 *
 * Locking across hosts (READ COMMITTED): a transaction that changes which
 * job of a package is its head (enqueue, finish, cancel, retry) first takes
 * the package's advisory lock, then row locks; claims take one advisory
 * lock (claims are serialized, so per-registry counts hold) and then lock
 * the rows they pick with FOR UPDATE SKIP LOCKED (never waiting for a row a
 * worker is finishing).  Row locks are never taken before a package lock,
 * so these waits cannot form a cycle.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "queue/queue_pg.h"
#include "queue_internal.h"
#include "queue_pg_internal.h"

/* The SQL spells the states as numbers. */
_Static_assert(JOB_QUEUED == 1 && JOB_RUNNING == 2 && JOB_SUCCEEDED == 3 &&
		   JOB_FAILED == 4 && JOB_DEAD == 5 && JOB_CANCELED == 6,
	       "job states are stored by number");

/* Upload rows of job id; registry "" takes each upload's own. */
static int uploads_insert(struct queue_pg *q, int64_t id, const char *registry,
			  const struct job_upload *ups, size_t n, int64_t now_ms)
{
	struct qp_args a;
	size_t i;
	int result;

	for (i = 0; i < n; i++) {
		const struct job_upload *u = &ups[i];

		a.n = 0;
		qp__int(&a, id);
		qp__text(&a, u->filename, sizeof(u->filename));
		qp__text(&a, u->registry[0] != '\0' ? u->registry : registry,
			 sizeof(u->registry));
		qp__text(&a, u->sha256, sizeof(u->sha256));
		qp__int(&a, now_ms);
		result =
		    qp__exec(q,
			     "INSERT INTO aos_uploads (job_id, filename, registry, "
			     "sha256, state, answer, updated_ms) VALUES ($1, $2::text, "
			     "$3::text, $4::text, 1, '', $5)",
			     &a, NULL);
		if (result < 0)
			return result;
	}
	return 0;
}

/* One job inside the caller's transaction.  AOS_EEXIST writes nothing. */
static int enqueue_one(struct queue_pg *q, const struct job_new *j, int64_t now_ms,
		       int64_t *ret_id)
{
	char text[JOB_TEXT_MAX + 1];
	struct qp_args a = {0};
	PGresult *r = NULL;
	int64_t id;
	int result;

	/* ids of one package are handed out in order under its lock */
	result = qp__lock_package(q, j->package);
	if (result < 0)
		return result;
	qp__int(&a, j->kind);
	qp__text(&a, j->idem_key, JOB_KEY_MAX);
	qp__text(&a, j->registry, sizeof(((struct job *)0)->registry));
	qp__text(&a, j->package, sizeof(((struct job *)0)->package));
	if (j->inputs != NULL)
		qp__text(&a, j->inputs, JOB_INPUTS_MAX + 1);
	else
		qp__null(&a);
	qp__int(&a, j->max_attempts);
	qp__int(&a, now_ms);
	result = qp__exec(
	    q,
	    "INSERT INTO aos_jobs (kind, state, idem_key, registry, package, inputs, "
	    "attempts, max_attempts, next_run_ms, created_ms, updated_ms, head) "
	    "VALUES ($1, 1, $2::text, $3::text, $4::text, $5::text, 0, $6, $7, $7, $7, "
	    "NOT EXISTS (SELECT 1 FROM aos_jobs WHERE package = $4::text "
	    "AND state IN (1, 2, 4))) ON CONFLICT (idem_key) DO NOTHING RETURNING id",
	    &a, &r);
	if (result < 0)
		return result;
	if (PQntuples(r) == 0) {
		PQclear(r);
		a.n = 0;
		qp__text(&a, j->idem_key, JOB_KEY_MAX);
		result = qp__row(q, "SELECT id FROM aos_jobs WHERE idem_key = $1::text",
				 &a, &r);
		if (result < 0)
			return result == AOS_ENOTFOUND ? -EIO : result;
		*ret_id = qp__int64(r, 0, 0);
		PQclear(r);
		return AOS_EEXIST;
	}
	id = qp__int64(r, 0, 0);
	PQclear(r);
	result = uploads_insert(q, id, j->registry, j->uploads, j->nuploads, now_ms);
	if (result == 0) /* before the commit: no claim finds the job without them */
		result = queue_pg__enqueue_files(q, id, j, now_ms);
	if (result < 0)
		return result;
	queue__enqueue_text(j, text, sizeof(text));
	result = qp__log_add(q, id, now_ms, "%s", text);
	if (result == 0)
		*ret_id = id;
	return result;
}

static int tx_begin(struct queue *q)
{
	return qp__begin((struct queue_pg *)q);
}

static int tx_end(struct queue *q, int result)
{
	return qp__end((struct queue_pg *)q, result);
}

static int tx_enqueue_one(struct queue *q, const struct job_new *j, int64_t now_ms,
			  int64_t *ret_id)
{
	return enqueue_one((struct queue_pg *)q, j, now_ms, ret_id);
}

static int tx_head_refresh(struct queue *q, int64_t id)
{
	return qp__head_refresh((struct queue_pg *)q, id);
}

static int tx_log_add(struct queue *q, int64_t id, int64_t now_ms, const char *text)
{
	return qp__log_add((struct queue_pg *)q, id, now_ms, "%s", text);
}

/* The steps of queue_frame.c's operations. */
static const struct queue_tx pg_tx = {
    .begin = tx_begin,
    .end = tx_end,
    .enqueue_one = tx_enqueue_one,
    .job_lock = queue_pg__job_lock,
    .cancel_set = queue_pg__cancel_set,
    .retry_set = queue_pg__retry_set,
    .head_refresh = tx_head_refresh,
    .log_add = tx_log_add,
};

static int pg_set_artifacts(struct queue *q_, int64_t id, int64_t fence,
			    const char *inputs, const struct job_upload *ups, size_t n,
			    int64_t now_ms)
{
	struct queue_pg *q = (struct queue_pg *)q_;
	struct qp_args a = {0};
	char line[64];
	int result;

	if ((result = queue__check_inputs(inputs)) < 0 ||
	    (result = queue__check_uploads(ups, n)) < 0 ||
	    (result = queue_pg__fenced_begin(q, id, fence)) < 0)
		return result;
	qp__int(&a, id);
	if (inputs != NULL)
		qp__text(&a, inputs, JOB_INPUTS_MAX + 1);
	else
		qp__null(&a);
	qp__int(&a, now_ms);
	result = qp__exec(q,
			  "UPDATE aos_jobs SET inputs = $2::text, updated_ms = $3 "
			  "WHERE id = $1",
			  &a, NULL);
	if (result == 0)
		result = uploads_insert(q, id, "", ups, n, now_ms);
	if (result == 0) {
		queue__artifacts_text(n, line, sizeof(line));
		result = qp__log_add(q, id, now_ms, "%s", line);
	}
	return qp__end(q, result);
}

static void pg_close(struct queue *q_)
{
	struct queue_pg *q = (struct queue_pg *)q_;

	if (q == NULL)
		return;
	PQfinish(q->conn);
	free(q);
}

static const struct queue_ops pg_ops = {
    .enqueue = queue__enqueue,
    .enqueue_many = queue__enqueue_many,
    .set_artifacts = pg_set_artifacts,
    .claim = queue_pg__claim,
    .heartbeat = queue_pg__heartbeat,
    .upload_set = queue_pg__upload_set,
    .finish = queue_pg__finish,
    .cancel = queue__cancel,
    .retry = queue__retry,
    .get = queue_pg__get,
    .list = queue_pg__list,
    .uploads = queue_pg__uploads,
    .log = queue_pg__log,
    .log_read = queue_pg__log_read,
    .counts = queue_pg__counts,
    .stats = queue_pg__stats,
    .release_owner = queue_pg__release_owner,
    .prune = queue_pg__prune,
    .file_put = queue_pg__file_put,
    .file_get = queue_pg__file_get,
    .files_remove = queue_pg__files_remove,
    .drain_set = queue_pg__drain_set,
    .drains = queue_pg__drains,
    .close = pg_close,
    .tx = &pg_tx,
};

static void ignore_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

/* Checks a connection libpq made (NULL: out of memory) and takes it; the
 * message names the server's complaint, never the connection's settings. */
static int connect_check(PGconn *conn, PGconn **ret, char *errbuf, size_t errlen)
{
	if (conn == NULL) {
		snprintf(errbuf, errlen, "PostgreSQL queue: out of memory");
		return -ENOMEM;
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		snprintf(errbuf, errlen,
			 "PostgreSQL queue: cannot connect: %s; check the queue's "
			 "connection settings and that the server is up",
			 PQerrorMessage(conn));
		errbuf[strcspn(errbuf, "\n")] = '\0';
		PQfinish(conn);
		return -ECONNREFUSED;
	}
	/* library code does not log: no NOTICE on stderr */
	PQsetNoticeProcessor(conn, ignore_notice, NULL);
	*ret = conn;
	return 0;
}

/* Opens the queue on conn (taken, whatever happens). */
static int open_on(PGconn *conn, struct queue **ret, char *errbuf, size_t errlen)
{
	struct queue_pg *q;
	int result;

	q = calloc(1, sizeof(*q));
	if (q == NULL) {
		PQfinish(conn);
		snprintf(errbuf, errlen, "PostgreSQL queue: out of memory");
		return -ENOMEM;
	}
	q->base.ops = &pg_ops;
	result = connect_check(conn, &q->conn, errbuf, errlen);
	if (result == 0)
		result = queue_pg__migrate(q->conn, queue_pg__schema_version(), errbuf,
					   errlen);
	if (result < 0)
		goto out;
	*ret = &q->base;
	q = NULL; /* transferred */
out:
	pg_close(q != NULL ? &q->base : NULL);
	return result;
}

int queue_pg_open(const char *conninfo, struct queue **ret, char *errbuf, size_t errlen)
{
	if (errlen > 0)
		errbuf[0] = '\0';
	if (conninfo == NULL || ret == NULL)
		return -EINVAL;
	return open_on(PQconnectdb(conninfo), ret, errbuf, errlen);
}

int queue_pg_open_params(const char *const *keys, const char *const *values,
			 struct queue **ret, char *errbuf, size_t errlen)
{
	if (errlen > 0)
		errbuf[0] = '\0';
	if (keys == NULL || values == NULL || ret == NULL)
		return -EINVAL;
	/* expand_dbname 0: a database name is a name, never settings */
	return open_on(PQconnectdbParams(keys, values, 0), ret, errbuf, errlen);
}
