/* worker_write.c - the worker's writes that the queue could not make at
 * once.  The loop's connection waits for SQLite's write lock up to its
 * busy timeout; behind a slow commit of the writer's connection
 * (daemon/writer.h) a finish or an upload's state can still come back
 * -EBUSY.  Such a write is kept, in order with every write after it, and
 * tried again from a timer, a bounded number of times; its done callback
 * then gets the result.  A leaf of worker/: the file that defers a write
 * says through x->done what follows it. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "common/err.h"
#include "queue/queue.h"
#include "worker_internal.h"

static int write_now(struct worker *w, const struct worker_write *x)
{
	const char *text = x->has_text ? x->text : NULL;

	if (x->op == WORKER_WRITE_FINISH)
		return w->q->ops->finish(w->q, x->job.id, x->job.fence, x->st,
					 x->next_run, x->out, text, x->now_ms);
	return w->q->ops->upload_set(w->q, x->job.id, x->job.fence, x->name, x->ust,
				     x->out, text, x->now_ms);
}

/* Pops the first kept write and tells its done callback rc. */
static void settle_first(struct worker *w, int rc)
{
	struct worker_write *x = w->later;

	w->later = x->next;
	if (w->later == NULL)
		w->later_tail = NULL;
	if (x->done != NULL)
		x->done(w, x, rc);
	else if (rc < 0)
		log_warn("job %" PRId64 ": cannot record %s's state: %s", x->job.id,
			 x->name, aos_strerror(rc));
	job_clear(&x->job);
	free(x);
}

static void later_cb(uv_timer_t *t)
{
	struct worker *w = t->data;
	int rc;

	while (w->later != NULL) {
		rc = write_now(w, w->later);
		if (rc == -EBUSY && ++w->later->tries < WORKER_WRITE_TRIES) {
			uv_timer_start(&w->later_timer, later_cb, w->later_ms, 0);
			return;
		}
		settle_first(w, rc);
	}
}

int worker__write(struct worker *w, const struct worker_write *x)
{
	struct worker_write *copy;
	int rc = 0;

	if (w->later == NULL) {
		rc = write_now(w, x);
		if (rc != -EBUSY || w->closing)
			return rc;
	}
	copy = malloc(sizeof(*copy));
	if (copy == NULL)
		return -ENOMEM;
	*copy = *x;
	copy->job.inputs = NULL;
	if (x->job.inputs != NULL && (copy->job.inputs = strdup(x->job.inputs)) == NULL) {
		free(copy);
		return -ENOMEM;
	}
	copy->tries = rc == -EBUSY ? 1 : 0;
	copy->next = NULL;
	if (w->later_tail != NULL)
		w->later_tail->next = copy;
	else
		w->later = copy;
	w->later_tail = copy;
	if (!uv_is_active((uv_handle_t *)&w->later_timer))
		uv_timer_start(&w->later_timer, later_cb, w->later_ms, 0);
	return WORKER_WRITE_LATER;
}

void worker__write_flush(struct worker *w)
{
	uv_timer_stop(&w->later_timer);
	while (w->later != NULL)
		settle_first(w, write_now(w, w->later));
}
