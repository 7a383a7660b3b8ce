/* queue_async.c - the database thread, its FIFO and the completions on the
 * loop.  See queue_async.h.
 *
 * The loop appends requests to `todo` under the mutex and signals the
 * condition; the thread takes them one at a time, runs each on its queue,
 * appends it to `done` and wakes the loop with the async handle, whose
 * callback runs the completions in order and frees the requests.  The
 * queue (qa->q) is the thread's alone.  At the shutdown the thread, once
 * the request in flight is done, moves what is left in `todo` to `done`
 * marked -ECANCELED, closes the queue, sets `exited` and wakes the loop a
 * last time; the loop joins it (it is returning) and closes the handle,
 * whose close callback frees qa.
 *
 * With an open function (queue_async_new_open()) the thread opens the
 * queue itself (queue_async_open.c), at start and, after a failure and its
 * backoff, before the next request; a request that finds no connection
 * (during the backoff, or the open failing again) completes with the
 * open's code.  A request that loses the connection (-ECONNRESET) closes
 * it; an idempotent one runs again once on a new connection.  What the
 * opens did waits under the mutex (`ev_*`) for the loop, whose callback
 * tells the report hook before running the completions. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue/queue_async.h"
#include "queue_async_internal.h"

#define DEPTH_MAX 65536

static void append(struct qa_req **head, struct qa_req **tail, struct qa_req *r)
{
	r->next = NULL;
	if (*tail != NULL)
		(*tail)->next = r;
	else
		*head = r;
	*tail = r;
}

/* ---- on the database thread ------------------------------------------- */

/* Hands what is still waiting back to the loop, canceled (under qa->mu). */
static void cancel_todo(struct queue_async *qa)
{
	struct qa_req *r, *next;

	for (r = qa->todo; r != NULL; r = next) {
		next = r->next;
		r->res.rc = -ECANCELED;
		append(&qa->done, &qa->done_tail, r);
	}
	qa->todo = qa->todo_tail = NULL;
}

/* Runs r, once the queue is open.  A connection lost on the way is closed;
 * an idempotent request is run again once on a new one (qa__retry_ok(),
 * made ready by qa__rerun_ready(), its answer settled by
 * qa__rerun_settle()), any other answers -ECONNRESET and the next request
 * opens again. */
static void run(struct queue_async *qa, struct qa_req *r)
{
	uint64_t t0;

	if (r->op == QA_REOPEN) {
		r->res.rc = qa__reopen(qa);
		return;
	}
	r->res.rc = qa->open_with != NULL ? qa__ensure_open(qa) : 0;
	if (r->res.rc < 0)
		return;
	t0 = uv_hrtime();
	qa__run(qa->q, r);
	if ((r->res.rc == -ECONNRESET || r->res.rc == -ENOTCONN) &&
	    qa->open_with != NULL) {
		/* -ENOTCONN: lost at the BEGIN, nothing ran: any request again */
		bool again = r->res.rc == -ENOTCONN || qa__retry_ok(r->op);

		qa__lost(qa);
		if (again && qa__rerun_ready(r) && qa__ensure_open(qa) == 0) {
			r->res.n = 0;
			qa__run(qa->q, r);
			if (qa__rerun_settle(qa->q, r) == -ECONNRESET)
				qa__lost(qa);
		}
		if (!again || r->res.rc == -ENOTCONN)
			r->res.rc = -ECONNRESET;
	}
	r->res.seconds = (double)(uv_hrtime() - t0) / 1e9;
}

static void thread_main(void *arg)
{
	struct queue_async *qa = arg;
	struct qa_req *r;
	bool told;

	if (qa->open_with != NULL) { /* at once: the first request need not wait */
		(void)qa__ensure_open(qa);
		uv_mutex_lock(&qa->mu);
		told = qa->ev_new;
		uv_mutex_unlock(&qa->mu);
		if (told)
			uv_async_send(&qa->async);
	}
	for (;;) {
		uv_mutex_lock(&qa->mu);
		while (qa->todo == NULL && !qa->stop)
			uv_cond_wait(&qa->cv, &qa->mu);
		if (qa->stop)
			break; /* with mu held */
		r = qa->todo;
		qa->todo = r->next;
		if (qa->todo == NULL)
			qa->todo_tail = NULL;
		uv_mutex_unlock(&qa->mu);

		run(qa, r);

		uv_mutex_lock(&qa->mu);
		append(&qa->done, &qa->done_tail, r);
		uv_mutex_unlock(&qa->mu);
		uv_async_send(&qa->async);
	}
	cancel_todo(qa);
	uv_mutex_unlock(&qa->mu);
	uv_async_send(&qa->async); /* the canceled ones need not wait for the close */
	if (qa->q != NULL)
		qa->q->ops->close(qa->q);
	qa->q = NULL;
	uv_mutex_lock(&qa->mu);
	qa->exited = true;
	uv_mutex_unlock(&qa->mu);
	uv_async_send(&qa->async);
}

/* ---- on the loop ------------------------------------------------------- */

static void free_qa(struct queue_async *qa)
{
	uv_cond_destroy(&qa->cv);
	uv_mutex_destroy(&qa->mu);
	free(qa->target);
	free(qa);
}

static void handle_closed(uv_handle_t *h)
{
	struct queue_async *qa = container_of(h, struct queue_async, async);
	void (*closed)(void *data) = qa->closed;
	void *data = qa->closed_data;

	free_qa(qa);
	if (closed != NULL)
		closed(data);
}

/* Runs the completions handed back, in order. */
static void complete(struct queue_async *qa, struct qa_req *r)
{
	struct qa_req *next;

	for (; r != NULL; r = next) {
		next = r->next;
		r->next = NULL;
		if (--qa->pending == 0 && !qa->closing)
			uv_unref((uv_handle_t *)&qa->async);
		r->cb(&r->res, r->data); /* may post again */
		qa__req_free(r);
	}
}

static void async_cb(uv_async_t *h)
{
	struct queue_async *qa = container_of(h, struct queue_async, async);
	char err[OPEN_ERR_MAX];
	struct queue_async_open_event ev = {.error = err};
	struct qa_req *r;
	bool exited, told;

	uv_mutex_lock(&qa->mu);
	r = qa->done;
	qa->done = qa->done_tail = NULL;
	exited = qa->exited;
	told = qa->ev_new;
	if (told) {
		ev.rc = qa->ev_rc;
		ev.refused = qa->ev_refused;
		ev.lost = qa->ev_lost;
		memcpy(err, qa->ev_err, sizeof(err));
		qa->ev_new = false;
		qa->ev_refused = 0;
		qa->ev_lost = 0;
	}
	uv_mutex_unlock(&qa->mu);
	if (told && qa->report != NULL)
		qa->report(&ev, qa->report_data);
	complete(qa, r);
	if (!exited || qa->joined)
		return;
	/* Everything was handed back before `exited`: nothing is out. */
	uv_thread_join(&qa->thread);
	qa->joined = true;
	uv_close((uv_handle_t *)&qa->async, handle_closed);
}

/* The handle of a queue_async whose thread could not start. */
static void unstarted_closed(uv_handle_t *h)
{
	free_qa(container_of(h, struct queue_async, async));
}

/* A queue_async on loop; its thread starts on q, or opening o's. */
static int start(uv_loop_t *loop, struct queue *q, const struct queue_async_open *o,
		 size_t depth, struct queue_async **ret)
{
	struct queue_async *qa;
	int r;

	*ret = NULL;
	if (depth > DEPTH_MAX)
		return -EINVAL;
	qa = calloc(1, sizeof(*qa));
	if (qa == NULL)
		return -ENOMEM;
	qa->loop = loop;
	qa->q = q;
	qa->depth = depth > 0 ? depth : QUEUE_ASYNC_DEPTH;
	qa->backoff_ns = (uint64_t)QUEUE_ASYNC_OPEN_BACKOFF_MS * 1000000;
	if (o != NULL) {
		qa->open = o->open;
		qa->open_with = o->open_with != NULL ? o->open_with : qa__open_target;
		qa->open_arg = o->open_with != NULL ? o->open_arg : qa;
		qa->report = o->report;
		qa->report_data = o->data;
		qa->target =
		    o->open != NULL ? strdup(o->target != NULL ? o->target : "") : NULL;
		if (o->open != NULL && qa->target == NULL) {
			free(qa);
			return -ENOMEM;
		}
	}
	r = uv_mutex_init(&qa->mu);
	if (r < 0)
		goto fail;
	r = uv_cond_init(&qa->cv);
	if (r < 0)
		goto fail_mu;
	r = uv_async_init(loop, &qa->async, async_cb);
	if (r < 0)
		goto fail_cv;
	uv_unref((uv_handle_t *)&qa->async);
	r = uv_thread_create(&qa->thread, thread_main, qa);
	if (r < 0) {
		uv_close((uv_handle_t *)&qa->async, unstarted_closed);
		return r;
	}
	*ret = qa;
	return 0;
fail_cv:
	uv_cond_destroy(&qa->cv);
fail_mu:
	uv_mutex_destroy(&qa->mu);
fail:
	free(qa->target);
	free(qa);
	return r;
}

int queue_async_new(uv_loop_t *loop, struct queue *q, size_t depth,
		    struct queue_async **ret)
{
	/* Its observer would run on the thread: the caller tells its own
	 * listeners from the completions instead. */
	if (q == NULL || q->observer.logged != NULL) {
		*ret = NULL;
		return -EINVAL;
	}
	return start(loop, q, NULL, depth, ret);
}

int queue_async_new_open(uv_loop_t *loop, const struct queue_async_open *o, size_t depth,
			 struct queue_async **ret)
{
	if (o == NULL || (o->open == NULL) == (o->open_with == NULL)) {
		*ret = NULL;
		return -EINVAL;
	}
	return start(loop, NULL, o, depth, ret);
}

bool queue_async_owns(const struct queue_async *qa, const uv_handle_t *h)
{
	return qa != NULL && h == (const uv_handle_t *)&qa->async;
}

int queue_async_close(struct queue_async *qa, void (*closed)(void *data), void *data)
{
	if (qa->closing)
		return -EALREADY;
	qa->closing = true;
	qa->closed = closed;
	qa->closed_data = data;
	uv_ref((uv_handle_t *)&qa->async); /* until the thread is joined */
	uv_mutex_lock(&qa->mu);
	qa->stop = true;
	uv_cond_signal(&qa->cv);
	uv_mutex_unlock(&qa->mu);
	return 0;
}

size_t queue_async_pending(const struct queue_async *qa)
{
	return qa->pending;
}

int qa__admit(const struct queue_async *qa, enum qa_op op)
{
	if (qa->closing)
		return -ESHUTDOWN;
	if (op == QA_REOPEN && qa->open_with == NULL)
		return -EINVAL; /* nothing to open again with */
	return qa->pending >= qa->depth ? -EBUSY : 0;
}

void qa__post(struct queue_async *qa, struct qa_req *r)
{
	if (qa->pending++ == 0)
		uv_ref((uv_handle_t *)&qa->async);
	uv_mutex_lock(&qa->mu);
	append(&qa->todo, &qa->todo_tail, r);
	uv_cond_signal(&qa->cv);
	uv_mutex_unlock(&qa->mu);
}

void qa__set_backoff(struct queue_async *qa, uint64_t ms)
{
	uv_mutex_lock(&qa->mu);
	qa->backoff_ns = ms * 1000000;
	uv_mutex_unlock(&qa->mu);
}
