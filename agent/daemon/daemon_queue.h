/* daemon_queue.h - the daemon's two queue_async (queue/queue_async.h),
 * each on a connection of its own opened on its thread
 * (queue_sqlite_open_more()).  The write one (a->wq) takes every write of
 * the daemon's own (webhook, publish and reconcile commits, cancel, retry,
 * prune) and the worker's calls (claims, heartbeats, fenced writes, its
 * log lines and reads, release_owner at start).  The read one (a->rq)
 * takes every read the loop makes (status, jobs, job show, job log and
 * its followers, metrics, the job_changed hook): WAL lets it read while
 * the write one waits for its fsync.  Their opens' failures are logged
 * here, at once then at most once a minute. */
#ifndef AOS_DAEMON_QUEUE_H
#define AOS_DAEMON_QUEUE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "queue/queue_async.h"

struct agent;
struct job_new;

/* Starts a->wq and a->rq on the queue's database: with open_with(a->pg)
 * (PostgreSQL: daemon_pg_open), or NULL for the SQLite file
 * cfg->queue.path.  Posts to them (NULL when stopped) answer from their
 * completions.  0, or -ENOMEM / a libuv error (logged). */
int daemon_queue_start(struct agent *a, queue_async_open_with_fn open_with);

/* Closes a->wq and a->rq once the loop has run every completion (call it
 * after the loop's first run ended); the loop's next run joins their
 * threads and frees them.  Accepts them NULL. */
void daemon_queue_stop(struct agent *a);

/* True for either queue_async's handle (a uv_walk closer passes them). */
bool daemon_queue_owns(const struct agent *a, const uv_handle_t *h);

/* The text a client is answered when a read's post was refused, or the
 * read failed, with rc (-EBUSY: busy, retry; -ESHUTDOWN: stopping;
 * AOS_ENOTFOUND: no such job; ...).  A static string. */
const char *daemon_queue_refusal(int rc);

/* Commits one job (jn copied): done(op, result, id) with enqueue()'s
 * result and id, on the loop.  Returns 0, or -EBUSY (too many writes out:
 * retry), -ESHUTDOWN, -ENOMEM (done not called).  spool_env.commit's
 * shape. */
int daemon_commit_one(void *agent, const struct job_new *jn, int64_t now_ms,
		      void (*done)(void *op, int result, int64_t id), void *op);

/* Commits n jobs in one transaction (jobs copied; ret_ids and ret_rcs kept
 * by the caller until done): done(op, result) with enqueue_many()'s
 * result, ret_ids and ret_rcs filled as it fills them.  Returns 0, or
 * -EBUSY, -ESHUTDOWN, -EINVAL / AOS_ETOOBIG (n), -ENOMEM (done not
 * called).  reconcile_env.commit's shape. */
int daemon_commit_many(void *agent, const struct job_new *jobs, size_t n, int64_t now_ms,
		       int64_t *ret_ids, int *ret_rcs, void (*done)(void *op, int result),
		       void *op);

#endif
