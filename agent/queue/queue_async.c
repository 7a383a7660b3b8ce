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
 * whose close callback frees qa.  The same shape as daemon/writer.c. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

#include "queue/queue_async.h"
#include "queue_async_internal.h"

#define container_of(p, t, m) ((t *)((char *)(p)-offsetof(t, m)))

#define DEPTH_MAX 65536

struct queue_async {
	uv_loop_t *loop;
	uv_async_t async; /* the thread's "done" to the loop */
	uv_thread_t thread;
	uv_mutex_t mu;
	uv_cond_t cv;
	struct queue *q; /* the thread's (after start) */

	/* Under mu. */
	struct qa_req *todo, *todo_tail; /* for the thread, in order */
	struct qa_req *done, *done_tail; /* for the loop, in order */
	bool stop;			 /* queue_async_close() ran */
	bool exited;			 /* the thread returns: join it */

	/* The loop's only. */
	size_t depth;
	size_t pending; /* posted, completion not run yet */
	bool closing;	/* queue_async_close() ran */
	bool joined;
	void (*closed)(void *data);
	void *closed_data;
};

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

static void thread_main(void *arg)
{
	struct queue_async *qa = arg;
	struct qa_req *r;

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

		qa__run(qa->q, r);

		uv_mutex_lock(&qa->mu);
		append(&qa->done, &qa->done_tail, r);
		uv_mutex_unlock(&qa->mu);
		uv_async_send(&qa->async);
	}
	cancel_todo(qa);
	uv_mutex_unlock(&qa->mu);
	uv_async_send(&qa->async); /* the canceled ones need not wait for the close */
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
	struct qa_req *r;
	bool exited;

	uv_mutex_lock(&qa->mu);
	r = qa->done;
	qa->done = qa->done_tail = NULL;
	exited = qa->exited;
	uv_mutex_unlock(&qa->mu);
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

int queue_async_new(uv_loop_t *loop, struct queue *q, size_t depth,
		    struct queue_async **ret)
{
	struct queue_async *qa;
	int r;

	*ret = NULL;
	if (q == NULL || depth > DEPTH_MAX)
		return -EINVAL;
	qa = calloc(1, sizeof(*qa));
	if (qa == NULL)
		return -ENOMEM;
	qa->loop = loop;
	qa->q = q;
	qa->depth = depth > 0 ? depth : QUEUE_ASYNC_DEPTH;
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
	free(qa);
	return r;
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

int qa__admit(const struct queue_async *qa)
{
	if (qa->closing)
		return -ESHUTDOWN;
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
