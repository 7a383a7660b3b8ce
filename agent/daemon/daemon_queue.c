/* daemon_queue.c - the daemon's write and read queue_async: their start
 * on connections of their own, the log of their opens' failures, the
 * commit hooks of spool, reconcile and ingest, and their stop.  See
 * daemon_queue.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "common/err.h"
#include "daemon/agent.h"
#include "daemon/daemon_queue.h"
#include "daemon/metrics.h"
#include "queue/queue.h"
#include "queue/queue_async.h"

/* The open's failure is logged at once, then at most this often. */
#define OPEN_LOG_EVERY_MS 60000

/* What one queue_async's log lines say it is and what its failure stops. */
struct dq_role {
	const char *name;    /* "writer", "reader" */
	const char *refused; /* what is refused while it cannot open */
	const char *again;   /* what works again once it opens */
};

static const struct dq_role writer_role = {.name = "writer",
					   .refused = "new jobs are refused",
					   .again = "new jobs are accepted"};
static const struct dq_role reader_role = {
    .name = "reader",
    .refused = "status, jobs, job show, job log and metrics are refused",
    .again = "reads of the queue answer"};

struct daemon_queue {
	struct agent *a;
	struct queue_async *qa;
	const struct dq_role *role;
	uint64_t logged_ms;    /* uv_now of the open's last log line */
	bool logged_once;      /* a failure was logged, no open since */
	unsigned long refused; /* requests refused since that line */
};

/* The report hook: the first failure at once, then at most once a minute
 * with the number of writes refused meanwhile; and the open that ends
 * them. */
static void open_report(const struct queue_async_open_event *ev, void *data)
{
	struct daemon_queue *dq = data;
	uint64_t now = uv_now(&dq->a->loop);

	dq->refused += ev->refused;
	if (ev->rc == -EAGAIN) { /* daemon_pg_open(): no credentials yet */
		log_info("the queue's %s is %s", dq->role->name, ev->error);
		dq->refused = 0;
		return;
	}
	if (ev->rc == 0) {
		if (dq->logged_once)
			log_notice("the queue's %s opened its connection: %s again",
				   dq->role->name, dq->role->again);
		dq->logged_once = false;
		dq->refused = 0;
		return;
	}
	if (dq->logged_once && now - dq->logged_ms < OPEN_LOG_EVERY_MS)
		return;
	if (!dq->logged_once)
		log_err("the queue's %s cannot open its connection: %s; %s until it "
			"can (it tries again %d s after a failure)",
			dq->role->name, ev->error, dq->role->refused,
			QUEUE_ASYNC_OPEN_BACKOFF_MS / 1000);
	else
		log_err("the queue's %s still cannot open its connection: %s; "
			"%lu request(s) refused since the last such line",
			dq->role->name, ev->error, dq->refused);
	dq->logged_ms = now;
	dq->logged_once = true;
	dq->refused = 0;
}

/* Starts one queue_async on a further connection to the queue's database:
 * *ret and *ret_state. */
static int start_one(struct agent *a, const struct dq_role *role,
		     queue_async_open_with_fn open_with, struct queue_async **ret,
		     struct daemon_queue **ret_state)
{
	struct daemon_queue *dq = calloc(1, sizeof(*dq));
	struct queue_async_open o;
	int r;

	if (dq == NULL) {
		log_err("cannot start the queue's %s: out of memory", role->name);
		return -ENOMEM;
	}
	dq->a = a;
	dq->role = role;
	/* PostgreSQL: each (re)open with the credentials of now (daemon_pg.c);
	 * SQLite: the file the loop's open checked and marked */
	if (open_with != NULL)
		o = (struct queue_async_open){.open_with = open_with,
					      .open_arg = a->pg,
					      .report = open_report,
					      .data = dq};
	else
		o = (struct queue_async_open){.open = queue_sqlite_open_more,
					      .target = a->cfg->queue.path,
					      .report = open_report,
					      .data = dq};
	r = queue_async_new_open(&a->loop, &o, 0, &dq->qa);
	if (r < 0) {
		log_err_r(r, "cannot start the queue's %s", role->name);
		free(dq);
		return r;
	}
	*ret = dq->qa;
	*ret_state = dq;
	return 0;
}

int daemon_queue_start(struct agent *a, queue_async_open_with_fn open_with)
{
	int r = start_one(a, &writer_role, open_with, &a->wq, &a->wq_state);

	return r < 0 ? r : start_one(a, &reader_role, open_with, &a->rq, &a->rq_state);
}

static void closed(void *data)
{
	struct daemon_queue *dq = data;

	if (dq->role == &writer_role) {
		dq->a->wq = NULL;
		dq->a->wq_state = NULL;
	} else {
		dq->a->rq = NULL;
		dq->a->rq_state = NULL;
	}
	free(dq);
}

void daemon_queue_stop(struct agent *a)
{
	if (a->wq != NULL)
		(void)queue_async_close(a->wq, closed, a->wq_state);
	if (a->rq != NULL)
		(void)queue_async_close(a->rq, closed, a->rq_state);
}

bool daemon_queue_owns(const struct agent *a, const uv_handle_t *h)
{
	return queue_async_owns(a->wq, h) || queue_async_owns(a->rq, h);
}

const char *daemon_queue_refusal(int rc)
{
	switch (rc) {
	case -EBUSY:
		return "the queue is busy: too many reads of it are waiting; nothing "
		       "was read (retry in a moment)";
	case -ESHUTDOWN: return "the daemon is stopping; nothing was read";
	case -ENOMEM: return "out of memory";
	case AOS_ENOTFOUND: return "no such job";
	default: return "the queue database could not be read; see the daemon's log";
	}
}

/* ---- the commit hooks ------------------------------------------------------ */

/* A commit's caller: exactly one of one and many is set. */
struct commit_op {
	struct agent *a;
	void (*one)(void *op, int result, int64_t id);
	void (*many)(void *op, int result);
	void *op;
	int64_t *ret_ids;
	int *ret_rcs;
};

static void commit_done(struct queue_async_result *res, void *data)
{
	struct commit_op *c = data;

	if (res->rc >= 0 || res->seconds > 0)
		metrics_commit(c->a->metrics, res->seconds);
	if (res->rc < 0 && res->error[0] != '\0') /* a job's file, named */
		log_warn("the queue refused a job: %s", res->error);
	if (c->one != NULL) {
		c->one(c->op, res->rc, res->id);
	} else {
		if (res->rc == 0) {
			memcpy(c->ret_ids, res->ids, res->n * sizeof(*res->ids));
			memcpy(c->ret_rcs, res->rcs, res->n * sizeof(*res->rcs));
		}
		c->many(c->op, res->rc);
	}
	free(c);
}

/* A commit_op for a's queue, or NULL with *rc. */
static struct commit_op *commit_op_new(struct agent *a, void *op, int *rc)
{
	struct commit_op *c;

	*rc = a->wq != NULL ? 0 : -ESHUTDOWN;
	if (*rc < 0)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (c == NULL) {
		*rc = -ENOMEM;
		return NULL;
	}
	c->a = a;
	c->op = op;
	return c;
}

int daemon_commit_one(void *agent, const struct job_new *jn, int64_t now_ms,
		      void (*done)(void *op, int result, int64_t id), void *op)
{
	struct agent *a = agent;
	int rc;
	struct commit_op *c = commit_op_new(a, op, &rc);

	if (c == NULL)
		return rc;
	c->one = done;
	rc = queue_async_enqueue(a->wq, jn, now_ms, commit_done, c);
	if (rc < 0)
		free(c);
	return rc;
}

int daemon_commit_many(void *agent, const struct job_new *jobs, size_t n, int64_t now_ms,
		       int64_t *ret_ids, int *ret_rcs, void (*done)(void *op, int result),
		       void *op)
{
	struct agent *a = agent;
	int rc;
	struct commit_op *c = commit_op_new(a, op, &rc);

	if (c == NULL)
		return rc;
	c->many = done;
	c->ret_ids = ret_ids;
	c->ret_rcs = ret_rcs;
	rc = queue_async_enqueue_many(a->wq, jobs, n, now_ms, commit_done, c);
	if (rc < 0)
		free(c);
	return rc;
}
