/* queue_async_internal.h - between queue_async.c (the thread, the FIFO,
 * the completions), queue_async_open.c (the thread's connection: open,
 * backoff, reopen, loss), queue_async_req.c (a request: its copied
 * arguments, running it, its result) and queue_async_ops.c (the posts).
 * Calls go ops -> queue_async.c -> open, req and ops -> req, never back. */
#ifndef AOS_QUEUE_ASYNC_INTERNAL_H
#define AOS_QUEUE_ASYNC_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "queue/queue_async.h"

#define container_of(p, t, m) ((t *)((char *)(p)-offsetof(t, m)))

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
	QA_DRAIN_SET,
	QA_DRAINS,
	QA_FILE_GET,
	QA_FILE_PUT,
	QA_FILES_REMOVE,
	QA_REOPEN, /* queue_async_reopen(): run by queue_async.c itself */
};

/* A job_new and the copies it points to. */
struct qa_new {
	char *idem_key, *registry, *package, *inputs;
	struct job_upload *uploads;
	struct queue_file_src *file_srcs;
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
	int state; /* enum upload_state or enum job_state; drain_set's on */
	enum pub_outcome outcome;
	bool dry_run;
	size_t max;
	struct job_filter filter;
	bool has_filter;
	char *s;		/* owner, filename, text, error, reason, prefix, inputs, a
				 * file's name or a host */
	char *s2;		/* upload_set's answer */
	struct job_upload *ups; /* set_artifacts' */
	size_t nups;
	struct job_new *js; /* enqueue's one, enqueue_many's n (nnew) */
	struct qa_new *own; /* what js[i] points to */
	size_t nnew;
	int fd;		  /* file_get's and file_put's descriptor */
	int64_t fd_start; /* its offset when the first run began */
	bool fd_seekable; /* fd_start is known: a re-run can start there */

	struct queue_async_result res;
};

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
	unsigned long ev_lost;	  /* connections lost meanwhile */

	/* The open (queue_async_new_open()), set before the thread starts:
	 * open_with(open_arg), which is qa__open_target(qa) for a target. */
	queue_async_open_with_fn open_with; /* NULL: q was given */
	void *open_arg;
	queue_async_open_fn open; /* the target's, or NULL */
	char *target;
	/* The thread's only. */
	int open_rc;	    /* the last open's failure; 0: none */
	uint64_t failed_ns; /* uv_hrtime of that failure */
	bool after_loss;    /* the next open is reported even when it works */

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

/* After a failed open, requests fail at once for ms milliseconds (5000 by
 * default) before the next open.  For the tests. */
void qa__set_backoff(struct queue_async *qa, uint64_t ms);

/* 0 when qa takes a request for op now, else -EBUSY (depth out),
 * -ESHUTDOWN, or -EINVAL (a reopen without an open function). */
int qa__admit(const struct queue_async *qa, enum qa_op op);
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
/* Whether op may run again after its connection was lost mid-way: true
 * for reads and for writes whose second run changes nothing the first
 * did (queue_async.h says which). */
bool qa__retry_ok(enum qa_op op);
/* Before r runs again after a lost connection: file_get's descriptor
 * rewound to where the first run began writing and cut there.  false:
 * r cannot run again (a descriptor that does not seek). */
bool qa__rerun_ready(struct qa_req *r);
/* After r ran again after a lost connection: a finish answering
 * AOS_EFENCED is settled by reading the job (queue_async.h says the rule):
 * 0 when its first run committed.  Returns 0, or the read's failure
 * (r's answer left as it is). */
int qa__rerun_settle(struct queue *q, struct qa_req *r);

/* ---- the thread's connection (queue_async_open.c) ------------------------ */

/* The open_with of a target: qa->open(qa->target) (arg is qa). */
int qa__open_target(void *arg, struct queue **ret, char *errbuf, size_t errlen);
/* 0 with qa->q open, or the open's failure: at once during the backoff
 * (counted as refused), else after trying again. */
int qa__ensure_open(struct queue_async *qa);
/* Opens a new connection and, once it is open, closes the old one (kept
 * when the open fails).  Returns 0 or the open's code. */
int qa__reopen(struct queue_async *qa);
/* Closes qa->q, whose connection was lost; the next qa__ensure_open()
 * opens at once and reports the outcome. */
void qa__lost(struct queue_async *qa);

#endif
