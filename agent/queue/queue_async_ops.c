/* queue_async_ops.c - the posts of queue_async.h: each checks its bounds,
 * is admitted by the queue_async (or refused -EBUSY / -ESHUTDOWN), copies
 * its arguments into a new request (queue_async_req.c) and queues it. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "queue/queue_async.h"
#include "queue_async_internal.h"

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
	case QA_DRAINS: return QUEUE_DRAINS_MAX;
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

	if (cb == NULL || (bound > 0 && max == 0))
		*rc = -EINVAL;
	else if (max > bound)
		*rc = op == QA_ENQUEUE_MANY ? AOS_ETOOBIG : -EINVAL;
	else
		*rc = qa__admit(qa, op);
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
	return end(qa, r, qa__copy_str(text, &r->s));
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
	return end(qa, r, qa__copy_str(owner, &r->s));
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
	rc = qa__copy_str(filename, &r->s);
	if (rc == 0)
		rc = qa__copy_str(answer, &r->s2);
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
	return end(qa, r, qa__copy_str(error, &r->s));
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
	rc = qa__copy_str(inputs, &r->s);
	if (rc == 0)
		rc = qa__copy_uploads(ups, n, &r->ups);
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
	return end(qa, r, qa__copy_news(r, j, 1));
}

int queue_async_enqueue_many(struct queue_async *qa, const struct job_new *js, size_t n,
			     int64_t now_ms, queue_async_cb cb, void *data)
{
	int rc;
	struct qa_req *r = begin(qa, QA_ENQUEUE_MANY, n, cb, data, &rc);
	if (r == NULL)
		return rc;
	r->now_ms = now_ms;
	return end(qa, r, qa__copy_news(r, js, n));
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
	return end(qa, r, qa__copy_str(reason, &r->s));
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
	return end(qa, r, qa__copy_str(owner_prefix, &r->s));
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

int queue_async_drain_set(struct queue_async *qa, const char *host, bool on,
			  int64_t now_ms, queue_async_cb cb, void *data)
{
	int rc;
	struct qa_req *r = begin(qa, QA_DRAIN_SET, 0, cb, data, &rc);

	if (r == NULL)
		return rc;
	r->state = on;
	r->now_ms = now_ms;
	return end(qa, r, qa__copy_str(host, &r->s));
}

int queue_async_drains(struct queue_async *qa, size_t max, queue_async_cb cb, void *data)
{
	int rc;
	struct qa_req *r = begin(qa, QA_DRAINS, max, cb, data, &rc);

	if (r == NULL)
		return rc;
	return end(qa, r, 0);
}

int queue_async_file_get(struct queue_async *qa, int64_t id, const char *name, int fd,
			 queue_async_cb cb, void *data)
{
	int rc;
	struct qa_req *r = begin(qa, QA_FILE_GET, 0, cb, data, &rc);

	if (r == NULL)
		return rc;
	r->id = id;
	r->fd = fd;
	return end(qa, r, qa__copy_str(name, &r->s));
}

int queue_async_file_put(struct queue_async *qa, int64_t id, int64_t fence,
			 const char *name, int fd, int64_t now_ms, queue_async_cb cb,
			 void *data)
{
	int rc;
	struct qa_req *r = begin(qa, QA_FILE_PUT, 0, cb, data, &rc);

	if (r == NULL)
		return rc;
	r->id = id;
	r->fence = fence;
	r->fd = fd;
	r->now_ms = now_ms;
	return end(qa, r, qa__copy_str(name, &r->s));
}

int queue_async_files_remove(struct queue_async *qa, int64_t id, queue_async_cb cb,
			     void *data)
{
	int rc;
	struct qa_req *r = begin(qa, QA_FILES_REMOVE, 0, cb, data, &rc);

	if (r == NULL)
		return rc;
	r->id = id;
	return end(qa, r, 0);
}

int queue_async_reopen(struct queue_async *qa, queue_async_cb cb, void *data)
{
	int rc;
	struct qa_req *r = begin(qa, QA_REOPEN, 0, cb, data, &rc);

	if (r == NULL)
		return rc;
	return end(qa, r, 0);
}
