/* writer.c - commits on libuv's thread pool, one at a time, with a queue
 * connection of the writer's own.  See writer.h.
 *
 * Batches wait in a list; its head is the one on the pool.  The connection
 * (w->q) and w->err are touched on the pool only while a work item runs,
 * and on the loop only when none does (uv_queue_work orders the two), so
 * they need no lock. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "daemon/writer.h"
#include "queue/queue.h"

#define container_of(p, t, m) ((t *)((char *)(p)-offsetof(t, m)))

struct writer {
	uv_loop_t *loop;
	writer_open_fn open;
	char *target;
	struct queue *q; /* NULL until opened (retried by each batch) */
	struct writer_batch *head, *tail;
	struct writer_batch opener; /* n 0: opens the connection at once */
	char err[512];		    /* the open's failure, logged on the loop */
};

static void commit_work(uv_work_t *work)
{
	struct writer_batch *b = container_of(work, struct writer_batch, work);
	struct writer *w = b->w;
	uint64_t t0;

	b->result = 0;
	b->seconds = 0;
	if (w->q == NULL)
		b->result = w->open(w->target, &w->q, w->err, sizeof(w->err));
	if (b->result < 0 || b->n == 0)
		return;
	t0 = uv_hrtime();
	b->result = w->q->ops->enqueue_many(w->q, b->jobs, b->n, b->now_ms, b->ret_ids,
					    b->ret_rcs);
	b->seconds = (double)(uv_hrtime() - t0) / 1e9;
}

static void after_commit(uv_work_t *work, int status);

static void start(struct writer *w)
{
	/* Fails only for a NULL callback. */
	(void)uv_queue_work(w->loop, &w->head->work, commit_work, after_commit);
}

static void after_commit(uv_work_t *work, int status)
{
	struct writer_batch *b = container_of(work, struct writer_batch, work);
	struct writer *w = b->w;

	if (status < 0 && b->result == 0)
		b->result = status;
	if (w->err[0] != '\0') {
		log_err("the queue's writer cannot open its connection: %s; new jobs "
			"are refused until it can (each commit tries again)",
			w->err);
		w->err[0] = '\0';
	}
	w->head = b->next;
	b->next = NULL;
	if (w->head != NULL)
		start(w);
	else
		w->tail = NULL;
	if (b->done != NULL)
		b->done(b); /* may submit again */
}

static void enqueue(struct writer *w, struct writer_batch *b)
{
	b->w = w;
	b->next = NULL;
	if (w->tail != NULL) {
		w->tail->next = b;
		w->tail = b;
		return;
	}
	w->head = w->tail = b;
	start(w);
}

int writer_new(uv_loop_t *loop, writer_open_fn open, const char *target,
	       struct writer **ret)
{
	struct writer *w = calloc(1, sizeof(*w));

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
	enqueue(w, &w->opener);
	*ret = w;
	return 0;
}

int writer_submit(struct writer *w, struct writer_batch *b)
{
	if (b->n == 0)
		return -EINVAL;
	enqueue(w, b);
	return 0;
}

/* A batch of one job (writer_commit_one). */
struct one {
	struct writer_batch wb;
	int64_t id;
	int rc;
	void (*done)(void *op, int result, int64_t id);
	void *op;
};

static void one_done(struct writer_batch *wb)
{
	struct one *o = wb->data;

	o->done(o->op, wb->result < 0 ? wb->result : o->rc, o->id);
	free(o);
}

int writer_commit_one(struct writer *w, const struct job_new *jn, int64_t now_ms,
		      void (*done)(void *op, int result, int64_t id), void *op)
{
	struct one *o = calloc(1, sizeof(*o));

	if (o == NULL)
		return -ENOMEM;
	o->done = done;
	o->op = op;
	o->wb = (struct writer_batch){.jobs = jn,
				      .n = 1,
				      .now_ms = now_ms,
				      .ret_ids = &o->id,
				      .ret_rcs = &o->rc,
				      .done = one_done,
				      .data = o};
	enqueue(w, &o->wb);
	return 0;
}

bool writer_busy(const struct writer *w)
{
	return w->head != NULL;
}

int writer_free(struct writer *w)
{
	if (w == NULL)
		return 0;
	if (w->head != NULL)
		return -EBUSY;
	if (w->q != NULL)
		w->q->ops->close(w->q);
	free(w->target);
	free(w);
	return 0;
}
