/* queue_async_req.c - a request of queue_async.h from its post to its
 * end: the copies of its arguments, its result arrays (allocated on the
 * loop, so that a post that cannot get them fails at once), the call on
 * the database thread, and what is freed after its completion. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "queue/queue_async.h"
#include "queue_async_internal.h"

/* ---- copies --------------------------------------------------------------- */

/* *ret = a copy of s (NULL stays NULL).  0 or -ENOMEM. */
int qa__copy_str(const char *s, char **ret)
{
	*ret = NULL;
	if (s == NULL)
		return 0;
	*ret = strdup(s);
	return *ret != NULL ? 0 : -ENOMEM;
}

/* *ret = a copy of the n uploads at ups (NULL when n is 0). */
int qa__copy_uploads(const struct job_upload *ups, size_t n, struct job_upload **ret)
{
	*ret = NULL;
	if (n == 0)
		return 0;
	*ret = malloc(n * sizeof(*ups));
	if (*ret == NULL)
		return -ENOMEM;
	memcpy(*ret, ups, n * sizeof(*ups));
	return 0;
}

static void new_clear(struct qa_new *o)
{
	free(o->idem_key);
	free(o->registry);
	free(o->package);
	free(o->inputs);
	free(o->uploads);
}

/* dst = src with everything it points to copied into o. */
static int new_copy(struct job_new *dst, struct qa_new *o, const struct job_new *src)
{
	*dst = *src;
	if (qa__copy_str(src->idem_key, &o->idem_key) < 0 ||
	    qa__copy_str(src->registry, &o->registry) < 0 ||
	    qa__copy_str(src->package, &o->package) < 0 ||
	    qa__copy_str(src->inputs, &o->inputs) < 0 ||
	    qa__copy_uploads(src->uploads, src->nuploads, &o->uploads) < 0)
		return -ENOMEM;
	dst->idem_key = o->idem_key;
	dst->registry = o->registry;
	dst->package = o->package;
	dst->inputs = o->inputs;
	dst->uploads = o->uploads;
	return 0;
}

/* Copies the n jobs at js into r (js, own). */
int qa__copy_news(struct qa_req *r, const struct job_new *js, size_t n)
{
	size_t i;

	r->js = calloc(n, sizeof(*r->js));
	r->own = calloc(n, sizeof(*r->own));
	if (r->js == NULL || r->own == NULL)
		return -ENOMEM;
	r->nnew = n;
	for (i = 0; i < n; i++)
		if (new_copy(&r->js[i], &r->own[i], &js[i]) < 0)
			return -ENOMEM;
	return 0;
}

/* ---- requests ------------------------------------------------------------- */

/* The result array op fills, max entries of it. */
static int res_alloc(struct queue_async_result *res, enum qa_op op, size_t max)
{
	switch (op) {
	case QA_GET:
	case QA_LIST:
	case QA_CLAIM:
	case QA_PRUNE:
		res->jobs = calloc(max, sizeof(*res->jobs));
		return res->jobs != NULL ? 0 : -ENOMEM;
	case QA_LOG_READ:
		res->lines = calloc(max, sizeof(*res->lines));
		return res->lines != NULL ? 0 : -ENOMEM;
	case QA_DRAINS:
		res->drains = calloc(max, sizeof(*res->drains));
		return res->drains != NULL ? 0 : -ENOMEM;
	case QA_ENQUEUE_MANY:
		res->ids = calloc(max, sizeof(*res->ids));
		res->rcs = calloc(max, sizeof(*res->rcs));
		return res->ids != NULL && res->rcs != NULL ? 0 : -ENOMEM;
	default: return 0;
	}
}

void queue_async_result_clear(struct queue_async_result *res)
{
	size_t i;

	if (res->jobs != NULL)
		for (i = 0; i < res->n; i++)
			job_clear(&res->jobs[i]);
	free(res->jobs);
	free(res->lines);
	free(res->drains);
	free(res->uploads);
	free(res->ids);
	free(res->rcs);
}

void qa__req_free(struct qa_req *r)
{
	size_t i;

	if (r == NULL)
		return;
	queue_async_result_clear(&r->res);
	free(r->s);
	free(r->s2);
	free(r->ups);
	for (i = 0; i < r->nnew; i++)
		new_clear(&r->own[i]);
	free(r->own);
	free(r->js);
	free(r);
}

struct qa_req *qa__req_new(enum qa_op op, size_t max, queue_async_cb cb, void *data)
{
	struct qa_req *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->op = op;
	r->max = max;
	r->cb = cb;
	r->data = data;
	if (res_alloc(&r->res, op, max) < 0) {
		qa__req_free(r);
		return NULL;
	}
	return r;
}

/* ---- on the database thread ------------------------------------------- */

/* The call itself: its return. */
static int call(struct queue *q, struct qa_req *r)
{
	const struct queue_ops *ops = q->ops;
	struct queue_async_result *res = &r->res;

	switch (r->op) {
	case QA_GET: return ops->get(q, r->id, res->jobs);
	case QA_LIST:
		return ops->list(q, r->has_filter ? &r->filter : NULL, res->jobs, r->max);
	case QA_UPLOADS: return queue_uploads_all(q, r->id, &res->uploads);
	case QA_COUNTS: return ops->counts(q, res->counts);
	case QA_STATS: return ops->stats(q, r->now_ms, &res->stats);
	case QA_LOG: return ops->log(q, r->id, r->s, r->now_ms);
	case QA_LOG_READ: return ops->log_read(q, r->id, r->t, res->lines, r->max);
	case QA_CLAIM:
		return ops->claim(q, r->s, r->now_ms, r->t, r->limit, res->jobs, r->max);
	case QA_HEARTBEAT: return ops->heartbeat(q, r->id, r->fence, r->now_ms, r->t);
	case QA_UPLOAD_SET:
		return ops->upload_set(q, r->id, r->fence, r->s,
				       (enum upload_state)r->state, r->outcome, r->s2,
				       r->now_ms);
	case QA_FINISH:
		return ops->finish(q, r->id, r->fence, (enum job_state)r->state, r->t,
				   r->outcome, r->s, r->now_ms);
	case QA_SET_ARTIFACTS:
		return ops->set_artifacts(q, r->id, r->fence, r->s, r->ups, r->nups,
					  r->now_ms);
	case QA_ENQUEUE: return ops->enqueue(q, &r->js[0], r->now_ms, &res->id);
	case QA_ENQUEUE_MANY:
		return ops->enqueue_many(q, r->js, r->nnew, r->now_ms, res->ids,
					 res->rcs);
	case QA_CANCEL: return ops->cancel(q, r->id, r->s, r->now_ms);
	case QA_RETRY: return ops->retry(q, r->id, r->now_ms);
	case QA_RELEASE_OWNER: return ops->release_owner(q, r->s, r->now_ms);
	case QA_PRUNE: return ops->prune(q, r->t, r->id, r->dry_run, res->jobs, r->max);
	case QA_DRAIN_SET: return ops->drain_set(q, r->s, r->state != 0, r->now_ms);
	case QA_DRAINS: return ops->drains(q, res->drains, r->max);
	case QA_REOPEN: break; /* queue_async.c runs it */
	}
	return -EINVAL;
}

bool qa__retry_ok(enum qa_op op)
{
	switch (op) {
	case QA_GET:
	case QA_LIST:
	case QA_UPLOADS:
	case QA_COUNTS:
	case QA_STATS:
	case QA_LOG_READ:
	case QA_HEARTBEAT:
	case QA_UPLOAD_SET:
	case QA_FINISH:
	case QA_RELEASE_OWNER:
	case QA_DRAIN_SET: /* a second run finds it done: answers 0 */
	case QA_DRAINS: return true;
	/* may have committed: a second run would apply them twice (prune
	 * would delete the next batch, its caller removing the first's
	 * spool files) */
	case QA_PRUNE:
	case QA_ENQUEUE:
	case QA_ENQUEUE_MANY:
	case QA_CLAIM:
	case QA_LOG:
	case QA_CANCEL:
	case QA_RETRY:
	case QA_SET_ARTIFACTS:
	case QA_REOPEN: return false;
	}
	return false;
}

void qa__run(struct queue *q, struct qa_req *r)
{
	struct queue_async_result *res = &r->res;

	res->rc = call(q, r);
	switch (r->op) {
	case QA_GET: res->n = res->rc == 0 ? 1 : 0; break;
	case QA_ENQUEUE_MANY: res->n = res->rc == 0 ? r->nnew : 0; break;
	case QA_LIST:
	case QA_UPLOADS:
	case QA_LOG_READ:
	case QA_CLAIM:
	case QA_PRUNE:
	case QA_DRAINS: res->n = res->rc > 0 ? (size_t)res->rc : 0; break;
	default: break;
	}
}
