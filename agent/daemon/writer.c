/* writer.c - commits on a thread of the writer's own, one at a time, with
 * a queue connection of its own.  See writer.h.
 *
 * The loop appends batches to `todo` under the mutex and signals the
 * condition; the thread takes them one at a time, commits, appends each to
 * `done` and wakes the loop with the async handle, whose callback runs the
 * done() callbacks in order.  The connection (w->q) and the open's backoff
 * are the thread's alone; w->err passes the open's failure to the loop
 * under the mutex.  The async handle is referenced only while a batch is
 * out (`pending`), so an idle writer does not keep the loop alive and a
 * busy one does. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "daemon/writer.h"
#include "writer_internal.h"
#include "queue/queue.h"

#define container_of(p, t, m) ((t *)((char *)(p)-offsetof(t, m)))

/* After a failed open, batches fail at once for this long, then the next
 * one opens again (not once per batch: a failing open may take the busy
 * timeout, and the log would repeat it). */
#define OPEN_BACKOFF_MS 5000
/* The open's failure is logged at once, then at most this often. */
#define OPEN_LOG_EVERY_MS 60000

struct writer {
	uv_loop_t *loop;
	writer_open_fn open;
	char *target;
	uv_async_t async; /* the thread's "done" to the loop */
	uv_thread_t thread;
	uv_mutex_t mu;
	uv_cond_t cv;

	/* Under mu. */
	struct writer_batch *todo, *todo_tail; /* for the thread, in order */
	struct writer_batch *done, *done_tail; /* for the loop, in order */
	bool stop;
	char err[512];	       /* the last open's failure, not yet logged */
	unsigned long refused; /* batches failed by the backoff since logged */
	bool reopened;	       /* opened after a failure, not yet logged */
	uint64_t backoff_ns;   /* OPEN_BACKOFF_MS, or a test's */

	/* The thread's only (after start, until joined). */
	struct queue *q;    /* NULL until opened */
	uint64_t failed_ns; /* uv_hrtime of the last failed open */
	int open_rc;	    /* its result; 0: none failed */

	/* The loop's only. */
	size_t pending;	    /* batches submitted, done() not yet run */
	uint64_t logged_ms; /* uv_now of the open's last log line */
	bool logged_once;
	bool closed; /* writer_close() ran */
};

/* Appends b to the list head..tail (under w->mu). */
static void append(struct writer_batch **head, struct writer_batch **tail,
		   struct writer_batch *b)
{
	b->next = NULL;
	if (*tail != NULL)
		(*tail)->next = b;
	else
		*head = b;
	*tail = b;
}

/* ---- on the writer's thread -------------------------------------------- */

/* 0 with w->q open, or the open's failure (at once during the backoff). */
static int ensure_open(struct writer *w)
{
	char err[sizeof(w->err)] = "";
	bool wait;
	int r;

	if (w->q != NULL)
		return 0;
	if (w->open_rc < 0) {
		uv_mutex_lock(&w->mu);
		wait = uv_hrtime() - w->failed_ns < w->backoff_ns;
		if (wait)
			w->refused++;
		uv_mutex_unlock(&w->mu);
		if (wait)
			return w->open_rc;
	}
	r = w->open(w->target, &w->q, err, sizeof(err));
	if (r == 0 && w->open_rc < 0) {
		uv_mutex_lock(&w->mu);
		w->err[0] = '\0'; /* a failure not logged yet is over */
		w->reopened = true;
		uv_mutex_unlock(&w->mu);
	}
	w->open_rc = r < 0 ? r : 0;
	if (r < 0) {
		w->q = NULL;
		w->failed_ns = uv_hrtime();
		uv_mutex_lock(&w->mu);
		memcpy(w->err, err, sizeof(w->err));
		if (w->err[0] == '\0')
			snprintf(w->err, sizeof(w->err), "error %d", r);
		uv_mutex_unlock(&w->mu);
	}
	return r < 0 ? r : 0;
}

static void commit(struct writer *w, struct writer_batch *b)
{
	uint64_t t0;

	b->seconds = 0;
	b->result = ensure_open(w);
	if (b->result < 0)
		return;
	t0 = uv_hrtime();
	b->result = w->q->ops->enqueue_many(w->q, b->jobs, b->n, b->now_ms, b->ret_ids,
					    b->ret_rcs);
	b->seconds = (double)(uv_hrtime() - t0) / 1e9;
}

static void thread_main(void *arg)
{
	struct writer *w = arg;
	struct writer_batch *b;
	bool notify;

	/* Open at once: the first commit need not wait for the open. */
	(void)ensure_open(w);
	uv_mutex_lock(&w->mu);
	notify = w->err[0] != '\0';
	uv_mutex_unlock(&w->mu);
	if (notify)
		uv_async_send(&w->async);
	for (;;) {
		uv_mutex_lock(&w->mu);
		while (w->todo == NULL && !w->stop)
			uv_cond_wait(&w->cv, &w->mu);
		b = w->todo;
		if (b == NULL) { /* stop, nothing left */
			uv_mutex_unlock(&w->mu);
			return;
		}
		w->todo = b->next;
		if (w->todo == NULL)
			w->todo_tail = NULL;
		uv_mutex_unlock(&w->mu);

		b->next = NULL;
		commit(w, b);

		uv_mutex_lock(&w->mu);
		append(&w->done, &w->done_tail, b);
		uv_mutex_unlock(&w->mu);
		uv_async_send(&w->async);
	}
}

/* ---- on the loop ------------------------------------------------------- */

/* Logs the open's failure: the first at once, then at most once a minute
 * with the number of batches refused meanwhile; and the open that ends
 * the failures. */
static void log_open(struct writer *w)
{
	char err[sizeof(w->err)];
	unsigned long refused;
	uint64_t now = uv_now(w->loop);
	bool reopened;

	uv_mutex_lock(&w->mu);
	memcpy(err, w->err, sizeof(err));
	refused = w->refused;
	reopened = w->reopened;
	w->reopened = false;
	if (err[0] != '\0' &&
	    (!w->logged_once || now - w->logged_ms >= OPEN_LOG_EVERY_MS)) {
		w->err[0] = '\0';
		w->refused = 0;
	} else {
		err[0] = '\0';
	}
	uv_mutex_unlock(&w->mu);
	if (reopened && w->logged_once)
		log_notice("the queue's writer opened its connection: new jobs are "
			   "accepted again");
	if (reopened)
		w->logged_once = false;
	if (err[0] == '\0')
		return;
	w->logged_ms = now;
	if (!w->logged_once)
		log_err("the queue's writer cannot open its connection: %s; new jobs "
			"are refused until it can (it tries again %d s after a failure)",
			err, OPEN_BACKOFF_MS / 1000);
	else
		log_err("the queue's writer still cannot open its connection: %s; "
			"%lu commit(s) refused since the last such line",
			err, refused);
	w->logged_once = true;
}

static void async_cb(uv_async_t *h)
{
	struct writer *w = container_of(h, struct writer, async);
	struct writer_batch *b, *next;

	log_open(w);
	uv_mutex_lock(&w->mu);
	b = w->done;
	w->done = w->done_tail = NULL;
	uv_mutex_unlock(&w->mu);
	for (; b != NULL; b = next) {
		next = b->next;
		b->next = NULL;
		if (--w->pending == 0)
			uv_unref((uv_handle_t *)&w->async);
		if (b->done != NULL)
			b->done(b); /* may submit again */
	}
}

static void free_writer(struct writer *w)
{
	uv_cond_destroy(&w->cv);
	uv_mutex_destroy(&w->mu);
	free(w->target);
	free(w);
}

/* The handle of a writer whose thread could not start. */
static void unstarted_closed(uv_handle_t *h)
{
	free_writer(container_of(h, struct writer, async));
}

static void enqueue(struct writer *w, struct writer_batch *b)
{
	b->w = w;
	b->next = NULL;
	if (w->pending++ == 0)
		uv_ref((uv_handle_t *)&w->async);
	uv_mutex_lock(&w->mu);
	append(&w->todo, &w->todo_tail, b);
	uv_cond_signal(&w->cv);
	uv_mutex_unlock(&w->mu);
}

int writer_new(uv_loop_t *loop, writer_open_fn open, const char *target,
	       struct writer **ret)
{
	struct writer *w = calloc(1, sizeof(*w));
	int r;

	*ret = NULL;
	if (w == NULL)
		return -ENOMEM;
	w->target = strdup(target);
	if (w->target == NULL) {
		free(w);
		return -ENOMEM;
	}
	w->loop = loop;
	w->open = open;
	w->backoff_ns = (uint64_t)OPEN_BACKOFF_MS * 1000000;
	r = uv_mutex_init(&w->mu);
	if (r < 0)
		goto fail;
	r = uv_cond_init(&w->cv);
	if (r < 0)
		goto fail_mu;
	r = uv_async_init(loop, &w->async, async_cb);
	if (r < 0)
		goto fail_cv;
	uv_unref((uv_handle_t *)&w->async);
	r = uv_thread_create(&w->thread, thread_main, w);
	if (r < 0) {
		uv_close((uv_handle_t *)&w->async, unstarted_closed);
		return r;
	}
	*ret = w;
	return 0;
fail_cv:
	uv_cond_destroy(&w->cv);
fail_mu:
	uv_mutex_destroy(&w->mu);
fail:
	free(w->target);
	free(w);
	return r;
}

int writer_submit(struct writer *w, struct writer_batch *b)
{
	if (b->n == 0)
		return -EINVAL;
	enqueue(w, b);
	return 0;
}

/* A batch the writer allocates (writer_commit_one, writer_commit_many):
 * exactly one of one and many is set. */
struct owned {
	struct writer_batch wb;
	int64_t id; /* a batch of one's results */
	int rc;
	void (*one)(void *op, int result, int64_t id);
	void (*many)(void *op, int result);
	void *op;
};

static void owned_done(struct writer_batch *wb)
{
	struct owned *o = wb->data;

	if (o->one != NULL)
		o->one(o->op, wb->result < 0 ? wb->result : o->rc, o->id);
	else
		o->many(o->op, wb->result);
	free(o);
}

/* Queues an owned batch of n jobs; o's callbacks and op are set. */
static int owned_submit(struct writer *w, struct owned *o, const struct job_new *jobs,
			size_t n, int64_t now_ms, int64_t *ret_ids, int *ret_rcs)
{
	o->wb = (struct writer_batch){.jobs = jobs,
				      .n = n,
				      .now_ms = now_ms,
				      .ret_ids = ret_ids != NULL ? ret_ids : &o->id,
				      .ret_rcs = ret_rcs != NULL ? ret_rcs : &o->rc,
				      .done = owned_done,
				      .data = o};
	enqueue(w, &o->wb);
	return 0;
}

int writer_commit_one(struct writer *w, const struct job_new *jn, int64_t now_ms,
		      void (*done)(void *op, int result, int64_t id), void *op)
{
	struct owned *o = calloc(1, sizeof(*o));

	if (o == NULL)
		return -ENOMEM;
	o->one = done;
	o->op = op;
	return owned_submit(w, o, jn, 1, now_ms, NULL, NULL);
}

int writer_commit_many(struct writer *w, const struct job_new *jobs, size_t n,
		       int64_t now_ms, int64_t *ret_ids, int *ret_rcs,
		       void (*done)(void *op, int result), void *op)
{
	struct owned *o;

	if (n == 0)
		return -EINVAL;
	o = calloc(1, sizeof(*o));
	if (o == NULL)
		return -ENOMEM;
	o->many = done;
	o->op = op;
	return owned_submit(w, o, jobs, n, now_ms, ret_ids, ret_rcs);
}

bool writer_busy(const struct writer *w)
{
	return w->pending > 0;
}

int writer_close(struct writer *w)
{
	if (w == NULL || w->closed)
		return 0;
	if (w->pending > 0)
		return -EBUSY;
	w->closed = true;
	if (!uv_is_closing((uv_handle_t *)&w->async))
		uv_close((uv_handle_t *)&w->async, NULL);
	return 0;
}

int writer_free(struct writer *w)
{
	if (w == NULL)
		return 0;
	if (w->pending > 0)
		return -EBUSY;
	uv_mutex_lock(&w->mu);
	w->stop = true;
	uv_cond_signal(&w->cv);
	uv_mutex_unlock(&w->mu);
	uv_thread_join(&w->thread);
	/* Joined: the connection is this thread's now. */
	if (w->q != NULL)
		w->q->ops->close(w->q);
	free_writer(w);
	return 0;
}

void writer__set_backoff(struct writer *w, uint64_t ms)
{
	uv_mutex_lock(&w->mu);
	w->backoff_ns = ms * 1000000;
	uv_mutex_unlock(&w->mu);
}
