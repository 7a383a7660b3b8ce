/* queue_async_internal.h - between queue_async.c (the thread, the FIFO,
 * the completions), queue_async_req.c (a request: its copied arguments,
 * running it, its result) and queue_async_ops.c (the posts).  Calls go
 * ops -> queue_async.c -> req and ops -> req, never back. */
#ifndef AOS_QUEUE_ASYNC_INTERNAL_H
#define AOS_QUEUE_ASYNC_INTERNAL_H

#include "queue/queue_async.h"

enum qa_op {
	QA_GET = 1,
	QA_LIST,
	QA_UPLOADS,
	QA_COUNTS,
	QA_STATS,
	QA_LOG,
	QA_LOG_READ,
	QA_CLAIM,
	QA_HEARTBEAT,
	QA_UPLOAD_SET,
	QA_FINISH,
	QA_SET_ARTIFACTS,
	QA_ENQUEUE,
	QA_ENQUEUE_MANY,
	QA_CANCEL,
	QA_RETRY,
	QA_RELEASE_OWNER,
	QA_PRUNE,
};

/* A job_new and the copies it points to. */
struct qa_new {
	char *idem_key, *registry, *package, *inputs;
	struct job_upload *uploads;
};

/* One request: allocated on the loop, run on the thread, completed and
 * freed on the loop.  Which arguments an operation uses is in
 * queue_async_ops.c's run(). */
struct qa_req {
	struct qa_req *next;
	enum qa_op op;
	queue_async_cb cb;
	void *data;

	int64_t id, fence, now_ms;
	int64_t t; /* lease_ms, next_run_ms, after_id or before_ms */
	int limit; /* per_registry_limit */
	int state; /* enum upload_state or enum job_state */
	enum pub_outcome outcome;
	bool dry_run;
	size_t max;
	struct job_filter filter;
	bool has_filter;
	char *s;  /* owner, filename, text, error, reason, prefix or inputs */
	char *s2; /* upload_set's answer */
	struct job_upload *ups; /* set_artifacts' */
	size_t nups;
	struct job_new *js; /* enqueue's one, enqueue_many's n (nnew) */
	struct qa_new *own; /* what js[i] points to */
	size_t nnew;

	struct queue_async_result res;
};

/* After a failed open, requests fail at once for ms milliseconds (5000 by
 * default) before the next open.  For the tests. */
void qa__set_backoff(struct queue_async *qa, uint64_t ms);

/* 0 when qa takes a request now, else -EBUSY (depth out) or -ESHUTDOWN. */
int qa__admit(const struct queue_async *qa);
/* Queues r (admitted just before) for the thread; qa owns it now. */
void qa__post(struct queue_async *qa, struct qa_req *r);

/* Copies, 0 or -ENOMEM (r's copies are freed with r): *ret = a copy of s
 * (NULL stays NULL); of the n uploads at ups (NULL when n is 0); the n
 * jobs at js into r->js and r->own (what they point to). */
int qa__copy_str(const char *s, char **ret);
int qa__copy_uploads(const struct job_upload *ups, size_t n, struct job_upload **ret);
int qa__copy_news(struct qa_req *r, const struct job_new *js, size_t n);

/* A request for op with its result arrays of max entries; NULL: -ENOMEM. */
struct qa_req *qa__req_new(enum qa_op op, size_t max, queue_async_cb cb, void *data);
/* Frees r, its copies and what its completion left of its result. */
void qa__req_free(struct qa_req *r);
/* On the thread: runs r on q, setting r->res. */
void qa__run(struct queue *q, struct qa_req *r);

#endif
