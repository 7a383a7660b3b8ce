/* queue_async_ops.c - the requests of queue_async.h: the posts copy their
 * arguments into a struct qa_req (with the result arrays, allocated on the
 * loop so that a post that cannot get them fails at once), run() calls the
 * queue_ops function on the database thread, and the request is freed
 * after its completion. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "queue/queue_async.h"
#include "queue_async_internal.h"

/* ---- copies --------------------------------------------------------------- */

/* *ret = a copy of s (NULL stays NULL).  0 or -ENOMEM. */
static int copy_str(const char *s, char **ret)
{
	*ret = NULL;
	if (s == NULL)
		return 0;
	*ret = strdup(s);
	return *ret != NULL ? 0 : -ENOMEM;
}

/* *ret = a copy of the n uploads at ups (NULL when n is 0). */
static int dup_uploads(const struct job_upload *ups, size_t n, struct job_upload **ret)
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
	if (copy_str(src->idem_key, &o->idem_key) < 0 ||
	    copy_str(src->registry, &o->registry) < 0 ||
	    copy_str(src->package, &o->package) < 0 ||
	    copy_str(src->inputs, &o->inputs) < 0 ||
	    dup_uploads(src->uploads, src->nuploads, &o->uploads) < 0)
		return -ENOMEM;
	dst->idem_key = o->idem_key;
	dst->registry = o->registry;
	dst->package = o->package;
	dst->inputs = o->inputs;
	dst->uploads = o->uploads;
	return 0;
}

/* Copies the n jobs at js into r (js, own). */
static int news_copy(struct qa_req *r, const struct job_new *js, size_t n)
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
	case QA_ENQUEUE_MANY:
		res->ids = calloc(max, sizeof(*res->ids));
		res->rcs = calloc(max, sizeof(*res->rcs));
		return res->ids != NULL && res->rcs != NULL ? 0 : -ENOMEM;
	default: return 0;
	}
}

static void res_free(struct queue_async_result *res)
{
	size_t i;

	if (res->jobs != NULL)
		for (i = 0; i < res->n; i++)
			job_clear(&res->jobs[i]);
	free(res->jobs);
	free(res->lines);
	free(res->uploads);
	free(res->ids);
	free(res->rcs);
}

void qa__req_free(struct qa_req *r)
{
	size_t i;

	if (r == NULL)
		return;
	res_free(&r->res);
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
	}
	return -EINVAL;
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
	case QA_PRUNE: res->n = res->rc > 0 ? (size_t)res->rc : 0; break;
	default: break;
	}
}

/* ---- the posts ------------------------------------------------------------ */

/* How many entries op's max may ask for; 0: op takes no max. */
static size_t max_bound(enum qa_op op)
{
	switch (op) {
	case QA_GET: return 1;
	case QA_LIST: return QUEUE_ASYNC_LIST_MAX;
	case QA_LOG_READ: return QUEUE_LOG_MAX;
	case QA_CLAIM: return QUEUE_CLAIM_MAX;
	case QA_PRUNE: return QUEUE_PRUNE_MAX;
	case QA_ENQUEUE_MANY: return QUEUE_ASYNC_BATCH_MAX;
	default: return 0;
	}
}

/* A new request for op, its max checked and admitted by qa, or NULL with
 * *rc. */
static struct qa_req *begin(struct queue_async *qa, enum qa_op op, size_t max,
			    queue_async_cb cb, void *data, int *rc)
{
	size_t bound = max_bound(op);
	struct qa_req *r;

	if (bound > 0 && max == 0)
		*rc = -EINVAL;
	else if (max > bound)
		*rc = op == QA_ENQUEUE_MANY ? AOS_ETOOBIG : -EINVAL;
	else
		*rc = qa__admit(qa);
	if (*rc < 0)
		return NULL;
	r = qa__req_new(op, max, cb, data);
	if (r == NULL)
		*rc = -ENOMEM;
	return r;
}

/* Posts r, unless copying its arguments failed (copied < 0): then frees
 * it and returns -ENOMEM. */
static int end(struct queue_async *qa, struct qa_req *r, int copied)
{
	if (copied < 0) {
		qa__req_free(r);
		return -ENOMEM;
	}
	qa__post(qa, r);
	return 0;
}

int queue_async_get(struct queue_async *qa, int64_t id, queue_async_cb cb, void *data)
{
	int rc;
	struct qa_req *r = begin(qa, QA_GET, 1, cb, data, &rc);

	if (r == NULL)
		return rc;
	r->id = id;
	return end(qa, r, 0);
}

int queue_async_list(struct queue_async *qa, const struct job_filter *f, size_t max,
		     queue_async_cb cb, void *data)
{
	int rc;
	struct qa_req *r = begin(qa, QA_LIST, max, cb, data, &rc);

	if (r == NULL)
		return rc;
	if (f != NULL) {
		r->filter = *f;
		r->has_filter = true;
	}
	return end(qa, r, 0);
}

int queue_async_uploads(struct queue_async *qa, int64_t id, queue_async_cb cb, void *data)
{
	int rc;
	struct qa_req *r = begin(qa, QA_UPLOADS, 0, cb, data, &rc);

	if (r == NULL)
		return rc;
	r->id = id;
	return end(qa, r, 0);
}

int queue_async_counts(struct queue_async *qa, queue_async_cb cb, void *data)
{
	int rc;
	struct qa_req *r = begin(qa, QA_COUNTS, 0, cb, data, &rc);

	if (r == NULL)
		return rc;
	return end(qa, r, 0);
}

int queue_async_stats(struct queue_async *qa, int64_t now_ms, queue_async_cb cb,
		      void *data)
{
	int rc;
	struct qa_req *r = begin(qa, QA_STATS, 0, cb, data, &rc);

	if (r == NULL)
		return rc;
	r->now_ms = now_ms;
	return end(qa, r, 0);
}

int queue_async_log(struct queue_async *qa, int64_t id, const char *text, int64_t now_ms,
		    queue_async_cb cb, void *data)
{
	int rc;
	struct qa_req *r = begin(qa, QA_LOG, 0, cb, data, &rc);

	if (r == NULL)
		return rc;
	r->id = id;
	r->now_ms = now_ms;
	return end(qa, r, copy_str(text, &r->s));
}

int queue_async_log_read(struct queue_async *qa, int64_t id, int64_t after_id, size_t max,
			 queue_async_cb cb, void *data)
{
	int rc;
	struct qa_req *r = begin(qa, QA_LOG_READ, max, cb, data, &rc);

	if (r == NULL)
		return rc;
	r->id = id;
	r->t = after_id;
	return end(qa, r, 0);
}

int queue_async_claim(struct queue_async *qa, const char *owner, int64_t now_ms,
		      int64_t lease_ms, int per_registry_limit, size_t max,
		      queue_async_cb cb, void *data)
{
	int rc;
	struct qa_req *r = begin(qa, QA_CLAIM, max, cb, data, &rc);
	if (r == NULL)
		return rc;
	r->now_ms = now_ms;
	r->t = lease_ms;
	r->limit = per_registry_limit;
	return end(qa, r, copy_str(owner, &r->s));
}

int queue_async_heartbeat(struct queue_async *qa, int64_t id, int64_t fence,
			  int64_t now_ms, int64_t lease_ms, queue_async_cb cb, void *data)
{
	int rc;
	struct qa_req *r = begin(qa, QA_HEARTBEAT, 0, cb, data, &rc);

	if (r == NULL)
		return rc;
	r->id = id;
	r->fence = fence;
	r->now_ms = now_ms;
	r->t = lease_ms;
	return end(qa, r, 0);
}

int queue_async_upload_set(struct queue_async *qa, int64_t id, int64_t fence,
			   const char *filename, enum upload_state st,
			   enum pub_outcome out, const char *answer, int64_t now_ms,
			   queue_async_cb cb, void *data)
{
	int rc;
	struct qa_req *r = begin(qa, QA_UPLOAD_SET, 0, cb, data, &rc);

	if (r == NULL)
		return rc;
	r->id = id;
	r->fence = fence;
	r->state = (int)st;
	r->outcome = out;
	r->now_ms = now_ms;
	rc = copy_str(filename, &r->s);
	if (rc == 0)
		rc = copy_str(answer, &r->s2);
	return end(qa, r, rc);
}

int queue_async_finish(struct queue_async *qa, int64_t id, int64_t fence,
		       enum job_state st, int64_t next_run_ms, enum pub_outcome out,
		       const char *error, int64_t now_ms, queue_async_cb cb, void *data)
{
	int rc;
	struct qa_req *r = begin(qa, QA_FINISH, 0, cb, data, &rc);

	if (r == NULL)
		return rc;
	r->id = id;
	r->fence = fence;
	r->state = (int)st;
	r->t = next_run_ms;
	r->outcome = out;
	r->now_ms = now_ms;
	return end(qa, r, copy_str(error, &r->s));
}

int queue_async_set_artifacts(struct queue_async *qa, int64_t id, int64_t fence,
			      const char *inputs, const struct job_upload *ups, size_t n,
			      int64_t now_ms, queue_async_cb cb, void *data)
{
	int rc;
	struct qa_req *r = begin(qa, QA_SET_ARTIFACTS, 0, cb, data, &rc);

	if (r == NULL)
		return rc;
	r->id = id;
	r->fence = fence;
	r->now_ms = now_ms;
	r->nups = n;
	rc = copy_str(inputs, &r->s);
	if (rc == 0)
		rc = dup_uploads(ups, n, &r->ups);
	return end(qa, r, rc);
}

int queue_async_enqueue(struct queue_async *qa, const struct job_new *j, int64_t now_ms,
			queue_async_cb cb, void *data)
{
	int rc;
	struct qa_req *r = begin(qa, QA_ENQUEUE, 0, cb, data, &rc);

	if (r == NULL)
		return rc;
	r->now_ms = now_ms;
	return end(qa, r, news_copy(r, j, 1));
}

int queue_async_enqueue_many(struct queue_async *qa, const struct job_new *js, size_t n,
			     int64_t now_ms, queue_async_cb cb, void *data)
{
	int rc;
	struct qa_req *r = begin(qa, QA_ENQUEUE_MANY, n, cb, data, &rc);
	if (r == NULL)
		return rc;
	r->now_ms = now_ms;
	return end(qa, r, news_copy(r, js, n));
}

int queue_async_cancel(struct queue_async *qa, int64_t id, const char *reason,
		       int64_t now_ms, queue_async_cb cb, void *data)
{
	int rc;
	struct qa_req *r = begin(qa, QA_CANCEL, 0, cb, data, &rc);

	if (r == NULL)
		return rc;
	r->id = id;
	r->now_ms = now_ms;
	return end(qa, r, copy_str(reason, &r->s));
}

int queue_async_retry(struct queue_async *qa, int64_t id, int64_t now_ms,
		      queue_async_cb cb, void *data)
{
	int rc;
	struct qa_req *r = begin(qa, QA_RETRY, 0, cb, data, &rc);

	if (r == NULL)
		return rc;
	r->id = id;
	r->now_ms = now_ms;
	return end(qa, r, 0);
}

int queue_async_release_owner(struct queue_async *qa, const char *owner_prefix,
			      int64_t now_ms, queue_async_cb cb, void *data)
{
	int rc;
	struct qa_req *r = begin(qa, QA_RELEASE_OWNER, 0, cb, data, &rc);

	if (r == NULL)
		return rc;
	r->now_ms = now_ms;
	return end(qa, r, copy_str(owner_prefix, &r->s));
}

int queue_async_prune(struct queue_async *qa, int64_t before_ms, int64_t after_id,
		      bool dry_run, size_t max, queue_async_cb cb, void *data)
{
	int rc;
	struct qa_req *r = begin(qa, QA_PRUNE, max, cb, data, &rc);

	if (r == NULL)
		return rc;
	r->t = before_ms;
	r->id = after_id;
	r->dry_run = dry_run;
	return end(qa, r, 0);
}
