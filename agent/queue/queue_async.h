/* queue_async.h - the queue on a database thread of its own.
 *
 * A queue_async owns a struct queue (either backend) and one thread that
 * alone uses it.  The loop posts requests: an operation, its arguments
 * (copied: the caller may free them once the post returns) and a
 * completion with a user pointer.  Requests wait in a bounded FIFO; the
 * thread runs them one at a time, in the order posted, and hands each back
 * with a uv_async_t whose callback runs the completions on the loop, in
 * the same order.  So a caller's writes reach the store in the order it
 * posted them (the fencing and the job log rely on it), and the loop never
 * waits for the disk, the network or another host's lock.
 *
 * Each post returns 0 (the completion will run, exactly once, on the
 * loop), or, the completion not called: -EBUSY when depth requests are out
 * already (back pressure: try later, or refuse the client), -ESHUTDOWN
 * after queue_async_close(), -EINVAL / AOS_ETOOBIG for a max or a count out
 * of its bounds (-EINVAL for a NULL completion too), -ENOMEM.  The async
 * handle is referenced only while a request is out (or the thread is
 * stopping), so an idle queue_async does not keep the loop alive and a
 * busy one does.
 *
 * queue_async_new_open() opens the connection itself, on the thread, as
 * it starts: a slow open delays the first request, not the loop.  An open
 * that fails fails the requests of the next few seconds at once (their rc
 * is the open's), then the next request opens again; each open that
 * failed, and the one that ends the failures, is told to the caller's
 * report hook on the loop (before the completions it precedes).
 *
 * A lost connection (the backend answers -ECONNRESET: the server stopped,
 * or ended the session) is closed on the thread and opened again at once,
 * then with the same backoff.  A request whose second run cannot apply
 * anything twice runs again once on the new connection: the reads (get,
 * list, uploads, counts, stats, log_read, drains, file_get: its descriptor
 * rewound to where the first run began and cut there, or, one that does
 * not seek, not run again), heartbeat, upload_set, finish, release_owner,
 * files_remove (its count is then the second run's) and drain_set (a
 * second drain or resume answers 0: nothing to change).  A finish whose
 * first run committed finds the job no longer running (AOS_EFENCED): that
 * answer of a second run is settled by reading the job: the same fence on
 * a job that is not RUNNING answers 0.  Only finish leaves RUNNING keeping
 * the fence (a claim, a lease's reclaim, cancel and release_owner move
 * it; retry keeps it but starts from an ended job), so that job was ended
 * by this finish's first run; another fence stays AOS_EFENCED (the job is
 * someone else's now, whatever the first run did), and so does a read
 * that fails.  The others answer -ECONNRESET and are not run again,
 * because the first run may have committed -- unless the loss was found
 * at their transaction's BEGIN (the backend answers -ENOTCONN: nothing of
 * the request ran; an idle connection that died, a server restarted
 * meanwhile), when any request runs again once: enqueue and enqueue_many (the
 * client retries with the same idempotency key, which answers AOS_EEXIST
 * if the first one landed, reading no file source), file_put (all or
 * nothing, but its source was read, and on a second run AOS_EEXIST could
 * not say whose file is there: the caller posts it again, rewinding its
 * source, and takes AOS_EEXIST as stored, since it puts a name once),
 * claim (a lease taken but not heard of runs out and the job is claimed
 * again), log, cancel, retry, set_artifacts, and prune (a second run
 * would delete the next batch; the caller's next pass finds what the
 * first left).
 *
 * queue_async_reopen() replaces the connection between two requests (new
 * credentials): the requests posted before it run on the old one, those
 * after it on the new one; if the new one cannot be opened the old one is
 * kept.
 *
 * Everything here is called on the loop thread.  Library code: nothing is
 * logged.  The handle is closed by queue_async_close() alone: a uv_walk
 * that closes every handle must pass it over (queue_async_owns()). */
#ifndef AOS_QUEUE_ASYNC_H
#define AOS_QUEUE_ASYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "queue/queue.h"

#define QUEUE_ASYNC_DEPTH 1024	   /* requests out at once, by default */
#define QUEUE_ASYNC_LIST_MAX 1000  /* jobs one list request reads at most */
#define QUEUE_ASYNC_BATCH_MAX 4096 /* jobs of one enqueue_many at most */
/* After a failed open, requests fail at once for this long, then the next
 * one opens again: not an open per request (a failing open may take the
 * busy timeout, and the reports would repeat it). */
#define QUEUE_ASYNC_OPEN_BACKOFF_MS 5000

struct queue_async;

/* What an operation answered, for its completion.  rc is the queue_ops
 * call's return (a count, 0 or a negative code), or -ECANCELED for a
 * request the shutdown took before it ran (nothing done).  The arrays
 * belong to the queue_async and are freed after the completion returns
 * (jobs job_clear()ed first); a completion keeps one by taking the pointer
 * and setting it to NULL (then it job_clear()s and free()s it). */
struct queue_async_result {
	int rc;
	size_t n; /* entries filled in the operation's array below */
	/* get (n 1 on success), list, claim, prune */
	struct job *jobs;
	/* log_read */
	struct job_log_entry *lines;
	/* uploads (queue_uploads_all()) */
	struct job_upload *uploads;
	/* enqueue: the job's id (rc 0 or AOS_EEXIST); enqueue_many: n ids
	 * and per-job codes when rc is 0 */
	int64_t id;
	int64_t *ids;
	int *rcs;
	int64_t counts[JOB_CANCELED + 1]; /* counts */
	struct queue_drain *drains;	  /* drains */
	struct queue_stats stats;	  /* stats */
	/* file_get, file_put: what the file is (rc 0) */
	struct queue_file_info file;
	/* file_get, file_put, enqueue, enqueue_many: the backend's message on
	 * a failure, naming the job and file ("" if it said nothing) */
	char error[256];
	/* How long the operation took on the thread (0: not run: canceled,
	 * or refused because the connection could not be opened). */
	double seconds;
};

/* A completion, on the loop thread; it may post again. */
/* Frees what res holds (its jobs job_clear()ed first): a result filled by
 * hand, or the arrays a completion kept in a struct of its own. */
void queue_async_result_clear(struct queue_async_result *res);

typedef void (*queue_async_cb)(struct queue_async_result *res, void *data);

/* Starts the database thread for q on loop, at most depth (1 to 65536; 0:
 * QUEUE_ASYNC_DEPTH) requests out at once.  On success q is the thread's
 * (closed by it at the shutdown) and *ret is set; on failure (-EINVAL,
 * -ENOMEM, a libuv error) the caller keeps q.  A q with a queue_observer
 * is refused (-EINVAL): the backend calls it on the thread that writes;
 * a caller tells its listeners from the completions, on the loop. */
int queue_async_new(uv_loop_t *loop, struct queue *q, size_t depth,
		    struct queue_async **ret);

/* Opens a queue connection for target (a path, a connection string), on
 * the database thread: 0 and *ret, or a negative code with errbuf set.
 * queue_sqlite_open_more() is one. */
typedef int (*queue_async_open_fn)(const char *target, struct queue **ret, char *errbuf,
				   size_t errlen);

/* What an open did, for the report hook: rc < 0, it failed (error says
 * why), or 0, it opened after failures.  refused: requests failed at once
 * since the last report, during the backoff. */
struct queue_async_open_event {
	int rc;
	const char *error;
	unsigned long refused;
	unsigned long lost; /* connections lost since the last report */
};

/* Opens a queue connection with what arg holds (a struct queue_pg_conn:
 * queue_pg_conn_open() reads its current settings and password at each
 * call), on the database thread: 0 and *ret, or a negative code with
 * errbuf set. */
typedef int (*queue_async_open_with_fn)(void *arg, struct queue **ret, char *errbuf,
					size_t errlen);

/* Exactly one of open (with target) and open_with (with open_arg). */
struct queue_async_open {
	queue_async_open_fn open;
	const char *target; /* copied */
	queue_async_open_with_fn open_with;
	void *open_arg; /* must outlive the queue_async; used on its thread */
	/* On the loop, may be NULL; event is valid during the call. */
	void (*report)(const struct queue_async_open_event *ev, void *data);
	void *data;
};

/* As queue_async_new(), but the thread opens its connection with
 * o->open(o->target), first as it starts, then (after a failure and its
 * backoff) with the next request.  Returns 0 and *ret, or -EINVAL,
 * -ENOMEM, a libuv error. */
int queue_async_new_open(uv_loop_t *loop, const struct queue_async_open *o, size_t depth,
			 struct queue_async **ret);

/* Opens a new connection on the thread after the requests posted before
 * (with the open function's current credentials), then closes the old
 * one; cb's rc is the open's (the old connection is kept on a failure).
 * -EINVAL for a queue_async made by queue_async_new(). */
int queue_async_reopen(struct queue_async *qa, queue_async_cb cb, void *data);

/* True when h is qa's own handle, which queue_async_close() alone closes
 * (a uv_walk closer passes it over).  qa may be NULL (false). */
bool queue_async_owns(const struct queue_async *qa, const uv_handle_t *h);

/* Stops intake (posts answer -ESHUTDOWN from now on), lets the thread
 * finish the request in flight, completes the ones still waiting with
 * -ECANCELED (in order, after it), closes the queue on the thread, joins
 * it and closes the handle; then qa is freed and closed(data) runs (may be
 * NULL), on the loop.  Returns 0, or -EALREADY when called before. */
int queue_async_close(struct queue_async *qa, void (*closed)(void *data), void *data);

/* Requests posted whose completion has not run yet. */
size_t queue_async_pending(const struct queue_async *qa);

/* The operations: the arguments of the queue_ops call of the same name
 * (queue.h says what each does and answers), copied; where the call fills
 * an array, max (at most the bound named) says how many entries it may
 * fill and the result holds them. */
int queue_async_get(struct queue_async *qa, int64_t id, queue_async_cb cb, void *data);
/* f may be NULL; max 1 to QUEUE_ASYNC_LIST_MAX. */
int queue_async_list(struct queue_async *qa, const struct job_filter *f, size_t max,
		     queue_async_cb cb, void *data);
/* Every upload of job id: queue_uploads_all(). */
int queue_async_uploads(struct queue_async *qa, int64_t id, queue_async_cb cb,
			void *data);
int queue_async_counts(struct queue_async *qa, queue_async_cb cb, void *data);
int queue_async_stats(struct queue_async *qa, int64_t now_ms, queue_async_cb cb,
		      void *data);
int queue_async_log(struct queue_async *qa, int64_t id, const char *text, int64_t now_ms,
		    queue_async_cb cb, void *data);
/* max 1 to QUEUE_LOG_MAX. */
int queue_async_log_read(struct queue_async *qa, int64_t id, int64_t after_id, size_t max,
			 queue_async_cb cb, void *data);
/* max 1 to QUEUE_CLAIM_MAX. */
int queue_async_claim(struct queue_async *qa, const char *owner, int64_t now_ms,
		      int64_t lease_ms, int per_registry_limit, size_t max,
		      queue_async_cb cb, void *data);
int queue_async_heartbeat(struct queue_async *qa, int64_t id, int64_t fence,
			  int64_t now_ms, int64_t lease_ms, queue_async_cb cb,
			  void *data);
int queue_async_upload_set(struct queue_async *qa, int64_t id, int64_t fence,
			   const char *filename, enum upload_state st,
			   enum pub_outcome out, const char *answer, int64_t now_ms,
			   queue_async_cb cb, void *data);
int queue_async_finish(struct queue_async *qa, int64_t id, int64_t fence,
		       enum job_state st, int64_t next_run_ms, enum pub_outcome out,
		       const char *error, int64_t now_ms, queue_async_cb cb, void *data);
int queue_async_set_artifacts(struct queue_async *qa, int64_t id, int64_t fence,
			      const char *inputs, const struct job_upload *ups, size_t n,
			      int64_t now_ms, queue_async_cb cb, void *data);
/* j->file_srcs are copied, not what their data points to, which must
 * stay valid until the completion has run; their read() runs on the
 * database thread.  j->errbuf is not used: the result's error is. */
int queue_async_enqueue(struct queue_async *qa, const struct job_new *j, int64_t now_ms,
			queue_async_cb cb, void *data);
/* n 1 to QUEUE_ASYNC_BATCH_MAX: one transaction, as enqueue_many(). */
int queue_async_enqueue_many(struct queue_async *qa, const struct job_new *js, size_t n,
			     int64_t now_ms, queue_async_cb cb, void *data);
int queue_async_cancel(struct queue_async *qa, int64_t id, const char *reason,
		       int64_t now_ms, queue_async_cb cb, void *data);
int queue_async_retry(struct queue_async *qa, int64_t id, int64_t now_ms,
		      queue_async_cb cb, void *data);
int queue_async_release_owner(struct queue_async *qa, const char *owner_prefix,
			      int64_t now_ms, queue_async_cb cb, void *data);
/* max 1 to QUEUE_PRUNE_MAX. */
int queue_async_prune(struct queue_async *qa, int64_t before_ms, int64_t after_id,
		      bool dry_run, size_t max, queue_async_cb cb, void *data);
/* host NULL: the fleet.  A drains posted after it reads what it left. */
int queue_async_drain_set(struct queue_async *qa, const char *host, bool on,
			  int64_t now_ms, queue_async_cb cb, void *data);
/* max 1 to QUEUE_DRAINS_MAX. */
int queue_async_drains(struct queue_async *qa, size_t max, queue_async_cb cb, void *data);

/* A job's files (queue.h; the PostgreSQL backend).  fd is the caller's
 * and must stay open until the completion has run: the thread reads or
 * writes it meanwhile (from its current offset).  file_get writes file
 * name of job id to fd (queue_file_fd_write; on a failure what fd got
 * must be thrown away); file_put stores it from fd to its end under the
 * lease fence (a pipeline's artifacts; 0 for a job never claimed);
 * files_remove removes a succeeded job's files.  res.file and res.error
 * as the result says. */
int queue_async_file_get(struct queue_async *qa, int64_t id, const char *name, int fd,
			 queue_async_cb cb, void *data);
int queue_async_file_put(struct queue_async *qa, int64_t id, int64_t fence,
			 const char *name, int fd, int64_t now_ms, queue_async_cb cb,
			 void *data);
int queue_async_files_remove(struct queue_async *qa, int64_t id, queue_async_cb cb,
			     void *data);

#endif
