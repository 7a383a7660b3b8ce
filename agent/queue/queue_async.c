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
 * queue itself, at start and, after a failure and its backoff, before the
 * next request; a request that finds no connection (during the backoff, or
 * the open failing again) completes with the open's code.  What the opens
 * did waits under the mutex (`ev_*`) for the loop, whose callback tells the
 * report hook before running the completions. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "queue/queue_async.h"
#include "queue_async_internal.h"

#define container_of(p, t, m) ((t *)((char *)(p)-offsetof(t, m)))

#define DEPTH_MAX 65536
#define OPEN_ERR_MAX 512 /* an open's message, at most */

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
	uint64_t backoff_ns;		 /* the open's backoff, or a test's */
	bool ev_new;			 /* an open to report: ev_rc, ev_err */
	int ev_rc;
	char ev_err[OPEN_ERR_MAX];
	unsigned long ev_refused; /* requests failed by the backoff meanwhile */

	/* The thread's only: the open (queue_async_new_open()). */
	queue_async_open_fn open; /* NULL: q was given */
	char *target;
	int open_rc;	    /* the last open's failure; 0: none */
	uint64_t failed_ns; /* uv_hrtime of that failure */

	/* The loop's only. */
	size_t depth;
	size_t pending; /* posted, completion not run yet */
	bool closing;	/* queue_async_close() ran */
	bool joined;
	void (*closed)(void *data);
	void *closed_data;
	void (*report)(const struct queue_async_open_event *ev, void *data);
	void *report_data;
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

/* Notes an open's outcome for the loop's report (under qa->mu). */
static void note_open(struct queue_async *qa, int rc, const char *err)
{
	qa->ev_new = true;
	qa->ev_rc = rc;
	if (rc < 0 && err[0] != '\0')
		snprintf(qa->ev_err, sizeof(qa->ev_err), "%s", err);
	else if (rc < 0)
		snprintf(qa->ev_err, sizeof(qa->ev_err), "error %d", rc);
	else
		qa->ev_err[0] = '\0';
}

/* 0 with qa->q open, or the open's failure: at once during the backoff
 * (counted as refused), else after trying again. */
static int ensure_open(struct queue_async *qa)
{
	char err[OPEN_ERR_MAX] = "";
	bool wait;
	int r;

	if (qa->q != NULL)
		return 0;
	if (qa->open_rc < 0) {
		uv_mutex_lock(&qa->mu);
		wait = uv_hrtime() - qa->failed_ns < qa->backoff_ns;
		if (wait)
			qa->ev_refused++;
		uv_mutex_unlock(&qa->mu);
		if (wait)
			return qa->open_rc;
	}
	r = qa->open(qa->target, &qa->q, err, sizeof(err));
	if (r < 0)
		qa->q = NULL;
	if (r < 0 || qa->open_rc < 0) { /* a failure, or the end of them */
		uv_mutex_lock(&qa->mu);
		note_open(qa, r < 0 ? r : 0, err);
		uv_mutex_unlock(&qa->mu);
	}
	qa->open_rc = r < 0 ? r : 0;
	if (r < 0)
		qa->failed_ns = uv_hrtime();
	return qa->open_rc;
}

/* Runs r, once the queue is open. */
static void run(struct queue_async *qa, struct qa_req *r)
{
	uint64_t t0;

	r->res.rc = qa->open != NULL ? ensure_open(qa) : 0;
	if (r->res.rc < 0)
		return;
	t0 = uv_hrtime();
	qa__run(qa->q, r);
	r->res.seconds = (double)(uv_hrtime() - t0) / 1e9;
}

static void thread_main(void *arg)
{
	struct queue_async *qa = arg;
	struct qa_req *r;
	bool told;

	if (qa->open != NULL) { /* at once: the first request need not wait */
		(void)ensure_open(qa);
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
		memcpy(err, qa->ev_err, sizeof(err));
		qa->ev_new = false;
		qa->ev_refused = 0;
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
		qa->report = o->report;
		qa->report_data = o->data;
		qa->target = strdup(o->target != NULL ? o->target : "");
		if (qa->target == NULL) {
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
	if (o == NULL || o->open == NULL) {
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

void qa__set_backoff(struct queue_async *qa, uint64_t ms)
{
	uv_mutex_lock(&qa->mu);
	qa->backoff_ns = ms * 1000000;
	uv_mutex_unlock(&qa->mu);
}
