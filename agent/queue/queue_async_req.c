/* queue_async_req.c - a request of queue_async.h from its post to its
 * end: the copies of its arguments, its result arrays (allocated on the
 * loop, so that a post that cannot get them fails at once), the call on
 * the database thread, and what is freed after its completion. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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
	free(o->file_srcs);
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
	if (src->file_srcs != NULL && src->nuploads > 0) {
		o->file_srcs = malloc(src->nuploads * sizeof(*o->file_srcs));
		if (o->file_srcs == NULL)
			return -ENOMEM;
		memcpy(o->file_srcs, src->file_srcs,
		       src->nuploads * sizeof(*o->file_srcs));
	}
	dst->idem_key = o->idem_key;
	dst->registry = o->registry;
	dst->package = o->package;
	dst->inputs = o->inputs;
	dst->uploads = o->uploads;
	dst->file_srcs = o->file_srcs;
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
	for (i = 0; i < n; i++) {
		if (new_copy(&r->js[i], &r->own[i], &js[i]) < 0)
			return -ENOMEM;
		/* a file's failure is said in the result (one for the batch:
		 * it fails the whole of it) */
		r->js[i].errbuf = r->res.error;
		r->js[i].errlen = sizeof(r->res.error);
	}
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

/* file_get into r's descriptor, noting first where it starts (a run
 * again after a lost connection starts there: qa__rerun_ready()). */
static int file_get(struct queue *q, struct qa_req *r)
{
	struct queue_file_sink dst = {queue_file_fd_write, &r->fd};
	off_t at;

	if (!r->fd_seekable) {
		at = lseek(r->fd, 0, SEEK_CUR);
		r->fd_seekable = at >= 0;
		r->fd_start = at;
	}
	return q->ops->file_get(q, r->id, r->s, &dst, &r->res.file, r->res.error,
				sizeof(r->res.error));
}

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
	case QA_FILE_GET: return file_get(q, r);
	case QA_FILE_PUT: {
		struct queue_file_src src = {queue_file_fd_read, &r->fd};

		return ops->file_put(q, r->id, r->fence, r->s, &src, r->now_ms,
				     &res->file, res->error, sizeof(res->error));
	}
	case QA_FILES_REMOVE: return ops->files_remove(q, r->id);
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
	case QA_DRAINS:
	/* a read (its descriptor rewound first: qa__rerun_ready()) */
	case QA_FILE_GET:
	/* a second run removes what the first left (its count, then) */
	case QA_FILES_REMOVE: return true;
	/* all or nothing, so a second run would not store it twice, but its
	 * source was read and its AOS_EEXIST would not tell whether the first
	 * run stored it or someone had before: the caller posts it again and
	 * reads AOS_EEXIST as stored (it puts each name once under a lease) */
	case QA_FILE_PUT:
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

bool qa__rerun_ready(struct qa_req *r)
{
	if (r->op != QA_FILE_GET)
		return true;
	if (!r->fd_seekable || lseek(r->fd, (off_t)r->fd_start, SEEK_SET) < 0)
		return false;
	/* a file cut where the first run began; anything else that seeks
	 * (a block device) is written over */
	return ftruncate(r->fd, (off_t)r->fd_start) == 0 || errno == EINVAL;
}

int qa__rerun_settle(struct queue *q, struct qa_req *r)
{
	struct job j;
	int rc;

	if (r->op != QA_FINISH || r->res.rc != AOS_EFENCED)
		return 0;
	/* Only finish leaves RUNNING keeping the fence; a claim (also after
	 * a lease ran out), cancel and release_owner move it, retry keeps it
	 * but starts from an ended job.  So the same fence on a job no longer
	 * running is this finish's first run, committed (later retried and
	 * queued, maybe); another fence leaves AOS_EFENCED: the job is (or
	 * was) someone else's, whatever the first run did. */
	rc = q->ops->get(q, r->id, &j);
	if (rc < 0)
		return rc;
	if (j.fence == r->fence && j.state != JOB_RUNNING)
		r->res.rc = 0;
	job_clear(&j);
	return 0;
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
