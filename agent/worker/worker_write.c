/* worker_write.c - what the worker has out on its queue_async (w->qa): every
 * post is counted until its completion ran (worker_close() frees w only
 * then), and its fenced writes (a job's finish, an upload's state) are
 * posted in order per job: a write waits while an earlier one of its job
 * is out or kept, so they reach the store in the order they were made
 * even when one is tried again.  The queue's thread can still answer
 * -EBUSY (another process holding SQLite's write lock past the busy
 * timeout, a PostgreSQL deadlock or serialization failure), and a post
 * can be refused -EBUSY (the queue_async's depth): such a write is kept
 * and posted again from a timer, a bounded number of times; its done
 * callback then gets the result.  A leaf of worker/: the file that makes a
 * write says through x->done what follows it. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "common/err.h"
#include "queue/queue.h"
#include "queue/queue_async.h"
#include "worker_internal.h"

void worker__posted(struct worker *w)
{
	w->out++;
}

void worker__free_if_done(struct worker *w)
{
	if (w->closing && w->handles == 0 && w->out == 0 && w->writes == NULL)
		free(w);
}

void worker__completed(struct worker *w)
{
	w->out--;
	worker__free_if_done(w);
}

static void written(struct queue_async_result *res, void *data);

/* Posts x: 0, or the post's refusal. */
static int post(struct worker *w, struct worker_write *x)
{
	const char *text = x->has_text ? x->text : NULL;
	int rc;

	if (x->op == WORKER_WRITE_FINISH)
		rc = queue_async_finish(w->qa, x->job.id, x->job.fence, x->st,
					x->next_run, x->out, text, x->now_ms, written, x);
	else
		rc = queue_async_upload_set(w->qa, x->job.id, x->job.fence, x->name,
					    x->ust, x->out, text, x->now_ms, written, x);
	if (rc == 0) {
		x->posted = true;
		worker__posted(w);
	}
	return rc;
}

/* x was refused rc: true when it is kept to be posted again from the
 * timer (-EBUSY, tries left, not closing). */
static bool kept_for_later(struct worker *w, struct worker_write *x, int rc)
{
	if (rc != -EBUSY || x->once || w->closing || ++x->tries >= WORKER_WRITE_TRIES)
		return false;
	x->wait = true;
	if (!uv_is_active((uv_handle_t *)&w->later_timer))
		uv_timer_start(&w->later_timer, worker__write_later, w->later_ms, 0);
	return true;
}

static void unlink_write(struct worker *w, struct worker_write *x)
{
	struct worker_write **p;

	for (p = &w->writes; *p != x; p = &(*p)->next)
		;
	*p = x->next;
}

/* Takes x out of the list and tells its done callback rc. */
static void settle(struct worker *w, struct worker_write *x, int rc)
{
	unlink_write(w, x);
	if (x->done != NULL)
		x->done(w, x, rc);
	else if (rc < 0 && x->op == WORKER_WRITE_FINISH)
		log_warn("job %" PRId64 ": cannot record its end: %s", x->job.id,
			 aos_strerror(rc));
	else if (rc < 0)
		log_warn("job %" PRId64 ": cannot record %s's state: %s", x->job.id,
			 x->name, aos_strerror(rc));
	job_clear(&x->job);
	free(x);
}

/* True when a write of x's job was made before x and is not done. */
static bool waits_for_earlier(const struct worker *w, const struct worker_write *x)
{
	const struct worker_write *e;

	for (e = w->writes; e != x; e = e->next)
		if (e->job.id == x->job.id)
			return true;
	return false;
}

/* Posts every kept write whose turn it is: not out, not waiting for the
 * timer, no earlier write of its job left. */
static void pump(struct worker *w)
{
	struct worker_write *x;
	int rc;

again:
	for (x = w->writes; x != NULL; x = x->next) {
		if (x->posted || x->wait || waits_for_earlier(w, x))
			continue;
		rc = post(w, x);
		if (rc == 0 || kept_for_later(w, x, rc))
			continue;
		settle(w, x, rc); /* its done may write again: look anew */
		goto again;
	}
}

static void written(struct queue_async_result *res, void *data)
{
	struct worker_write *x = data;
	struct worker *w = x->w;

	x->posted = false;
	if (!kept_for_later(w, x, res->rc))
		settle(w, x, res->rc);
	pump(w);
	worker__completed(w);
}

void worker__write_later(uv_timer_t *t)
{
	struct worker *w = t->data;
	struct worker_write *x;

	for (x = w->writes; x != NULL; x = x->next)
		x->wait = false;
	pump(w);
}

int worker__write(struct worker *w, const struct worker_write *x)
{
	struct worker_write *copy = malloc(sizeof(*copy)), **tail;
	int rc;

	if (copy == NULL)
		return -ENOMEM;
	*copy = *x;
	copy->w = w;
	copy->job.inputs = NULL;
	if (x->job.inputs != NULL && (copy->job.inputs = strdup(x->job.inputs)) == NULL) {
		free(copy);
		return -ENOMEM;
	}
	copy->tries = 0;
	copy->posted = copy->wait = false;
	copy->next = NULL;
	for (tail = &w->writes; *tail != NULL; tail = &(*tail)->next)
		;
	*tail = copy;
	if (waits_for_earlier(w, copy))
		return 0;
	rc = post(w, copy);
	if (rc == 0 || kept_for_later(w, copy, rc))
		return 0;
	unlink_write(w, copy); /* not kept: the caller hears rc, not done */
	job_clear(&copy->job);
	free(copy);
	return rc;
}

void worker__write_flush(struct worker *w)
{
	uv_timer_stop(&w->later_timer);
	worker__write_later(&w->later_timer);
}
