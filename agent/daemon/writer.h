/* writer.h - committing jobs off the loop thread.
 *
 * A writer has a queue connection of its own (a second struct queue on the
 * same database, opened by the caller's open function; SQLite's WAL lets
 * the loop's connection keep reading meanwhile) and a thread of its own
 * that alone uses it, through queue_ops: the SQLite backend today, another
 * backend with its own connection the same way.  Not libuv's shared thread
 * pool: spool copies, publish inspection and pipeline collection queued
 * there cannot delay a commit.  Batches are committed one at a time, in the
 * order submitted (enqueue_many: one transaction, one fsync each); each
 * batch's done callback runs on the loop thread after its commit (handed
 * back with a uv_async_t).  While a commit waits for the disk, the loop
 * answers everything else.
 *
 * The loop stays alive while a batch is submitted and its done() has not
 * run (the async handle is referenced only then), so a daemon that stops
 * waits for every submitted commit before its loop ends.  The thread opens
 * the connection as it starts: a slow open delays the first commit, not
 * the loop.  A failed open fails the
 * batches of the next few seconds at once, then the next batch opens
 * again; the failure is logged at once, then at most once a minute. */
#ifndef AOS_WRITER_H
#define AOS_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

struct job_new;
struct queue;
struct writer;

/* Opens a queue connection for target (a path, a connection string) on
 * the writer's thread: 0 and *ret, or a negative code with errbuf set.
 * queue_sqlite_open_more() is the daemon's. */
typedef int (*writer_open_fn)(const char *target, struct queue **ret, char *errbuf,
			      size_t errlen);

/* One group commit.  The caller fills the first part and keeps the struct
 * and what it points to unchanged until done() runs. */
struct writer_batch {
	const struct job_new *jobs; /* n jobs, as enqueue_many() takes them */
	size_t n;		    /* >= 1 */
	int64_t now_ms;		    /* the jobs' creation time */
	int64_t *ret_ids;	    /* n entries: enqueue_many()'s ret_ids */
	int *ret_rcs;		    /* n entries: enqueue_many()'s ret_rcs */
	/* On the loop thread, after the commit (or its failure): result is
	 * enqueue_many()'s (or the open's failure: nothing committed),
	 * seconds how long the commit took on the writer's thread. */
	void (*done)(struct writer_batch *b);
	void *data;

	/* Set by the writer. */
	int result;
	double seconds;
	struct writer *w;
	struct writer_batch *next;
};

/* A writer on loop whose connection is open(target) (target copied); its
 * thread starts now.  Returns 0 and *ret, or -ENOMEM / a libuv error. */
int writer_new(uv_loop_t *loop, writer_open_fn open, const char *target,
	       struct writer **ret);

/* Queues b (n >= 1); its done() runs after that of every batch submitted
 * before it.  Returns 0 (done() will run) or -EINVAL (n is 0). */
int writer_submit(struct writer *w, struct writer_batch *b);

/* Commits one job (jn kept by the caller until done): a batch of one whose
 * done(op, result, id) gets enqueue()'s result and id (0 or AOS_EEXIST with
 * the id, or the failure).  Returns 0 or -ENOMEM (done not called).  The
 * shape of spool_env.commit. */
int writer_commit_one(struct writer *w, const struct job_new *jn, int64_t now_ms,
		      void (*done)(void *op, int result, int64_t id), void *op);

/* Commits n jobs in one transaction (jobs, ret_ids and ret_rcs kept by
 * the caller until done): a batch whose done(op, result) gets
 * enqueue_many()'s result, ret_ids and ret_rcs filled as it fills them.
 * Returns 0, or -EINVAL (n is 0) / -ENOMEM (done not called).  The shape
 * of reconcile_env.commit. */
int writer_commit_many(struct writer *w, const struct job_new *jobs, size_t n,
		       int64_t now_ms, int64_t *ret_ids, int *ret_rcs,
		       void (*done)(void *op, int result), void *op);

/* True while a batch is queued or being committed, or its done() has not
 * run yet. */
bool writer_busy(const struct writer *w);

/* Closes w's loop handle (uv_walk closing every handle does the same):
 * call it once nothing is submitted any more and every done() ran.
 * Returns 0, or -EBUSY (a batch is out; nothing done).  Accepts NULL. */
int writer_close(struct writer *w);

/* Stops and joins the thread, closes the connection and frees w.  Call it
 * after the loop ran the handle's close (writer_close(), or uv_walk, then
 * uv_run); a batch still out then is an error (-EBUSY, nothing freed).
 * Accepts NULL (returns 0). */
int writer_free(struct writer *w);

#endif
