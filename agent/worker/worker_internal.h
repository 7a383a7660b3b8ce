/* worker_internal.h - what the files of worker/ share.  worker.c (the
 * tick, the public calls) calls worker_pipeline.c (a pipeline job's build
 * and targets) and worker_run.c (one run: its publish, heartbeat, end);
 * worker_pipeline.c calls worker_run.c; worker_drain.c keeps the drains
 * the queue holds (read from the tick); all call worker_write.c (the posts
 * to the queue_async and the fenced writes).  Where a run must reach back
 * (a pipeline's next target, a build to stop, the next tick), it goes
 * through r->pl_ops and w->kick, set by the file that calls it.
 *
 * Every queue call is a post to w->qa that goes on from its completion, on
 * the loop.  A completion that needs a run holds it (worker__run_hold):
 * the run may end meanwhile (canceled, fenced, the daemon stopping), so the
 * completion looks at r->gone first, and the memory goes with the last
 * hold (worker__run_drop). */
#ifndef AOS_WORKER_INTERNAL_H
#define AOS_WORKER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "common/backoff.h"
#include "publish/publish.h"
#include "queue/queue.h"
#include "queue/queue_async.h"
#include "worker/worker.h"

#define MAX_FILES PUBLISH_MAX_FILES /* files one run sends at most */

struct pl_run;
struct run;

/* A pipeline job's part of a run (worker_pipeline.c's, set with r->pl). */
struct run_pipeline_ops {
	/* A target's publish succeeded: goes on with the next target with
	 * files left (read from the queue), or settles the job succeeded
	 * when none is; settles and frees r itself when it ends. */
	void (*target_done)(struct run *r);
	/* Stops a running build (kills its process group); r is being freed. */
	void (*abort)(struct run *r);
};

struct run {
	struct worker *w;
	struct job job;
	struct publish_op *op;
	struct pl_run *pl; /* a pipeline job's build and targets, or NULL */
	const struct run_pipeline_ops *pl_ops; /* with pl */
	uv_timer_t heartbeat;
	char *files[MAX_FILES];	  /* spool paths of the files still to send */
	char *names[MAX_FILES];	  /* their upload keys (file name; TARGET/NAME) */
	char *sources[MAX_FILES]; /* the paths the client gave */
	char *records[MAX_FILES]; /* artifact records from the spool, or NULL */
	/* its name in the queue's database (PostgreSQL), NULL: names[i] */
	char *dbnames[MAX_FILES];
	bool probe[MAX_FILES];
	bool sent[MAX_FILES];	     /* marked SENDING in this run */
	unsigned sends[MAX_FILES];   /* sends started (metrics) */
	uint64_t send_ms[MAX_FILES]; /* loop time of the first send */
	char registry[128];	     /* of the publish running now */
	size_t nfiles;
	bool fenced;
	bool gone;    /* unlinked (worker__run_free): completions leave it alone */
	bool settled; /* its finish is posted: that completion kicks the worker */
	bool hb_out;  /* a heartbeat is out: at most one at a time */
	int refs;     /* the heartbeat handle until closed, and each hold */
	struct run *next;
};

/* What the worker needs from outside: the wall clock (the queue's times),
 * the random source of the backoff, and the publish a job runs.
 * worker_new() installs worker__default_io; the unit tests put their own in
 * w->io to move time and to play the registry's part. */
struct worker_io {
	int64_t (*now)(const struct worker *w); /* Unix ms (aos_wall_ms) */
	rand_fn rnd;				/* called with NULL */
	/* As publish_start(), publish_abort() and publish_send_ready()
	 * (publish.h). */
	int (*publish_start)(const struct publish_env *env,
			     const struct publish_request *r, struct publish_op **ret_op,
			     char *msg, size_t msglen);
	void (*publish_abort)(struct publish_op *op);
	void (*publish_send_ready)(struct publish_op *op, int rc);
};

extern const struct worker_io worker__default_io;

struct worker {
	const struct worker_io *io;
	/* worker_kick (worker_new sets it): a run that ended lets the next
	 * job start. */
	void (*kick)(struct worker *w);
	struct worker_env env;
	struct queue_async *qa; /* the daemon's write queue_async */
	uv_timer_t tick;
	char owner[128];
	bool started;  /* release_owner done: claims may start (worker_start) */
	bool draining; /* this process stops claiming (the daemon stops) */
	/* Drains (worker_drain.c): this host's name in them (owner's prefix);
	 * the drains the queue held at the last read, and whether one of them
	 * is the fleet's or this host's (drained); the marker of an older
	 * version's drain (<state_dir>/draining) while it is not yet moved into
	 * the queue (marker: no claims meanwhile, as before). */
	char host[QUEUE_HOST_MAX];
	struct queue_drain drains[QUEUE_DRAINS_MAX];
	size_t ndrains;
	bool drained;
	bool drains_out;   /* a read of the drains is out: one at a time */
	int64_t drains_at; /* when the last one was posted (worker__now) */
	bool marker;
	bool marker_out;    /* its drain_set is out */
	bool marker_warned; /* a failure to move it was logged */
	bool closing;
	bool claiming;	  /* a claim is out: one at a time */
	bool claim_again; /* a look was asked for meanwhile */
	size_t out;	  /* posts whose completion has not run */
	/* The fenced writes made and not done, in order (worker_write.c). */
	struct worker_write *writes;
	uv_timer_t later_timer; /* posts again what was refused -EBUSY */
	uint64_t later_ms;	/* between tries: WORKER_WRITE_RETRY_MS, or a test's */
	int handles;		/* tick and later_timer not closed yet */
	struct run *runs;
	size_t nruns;
	size_t ending; /* finishes posted whose completion has not run */
};

/* Tells the hooks that job id's log has new lines (a write that adds one
 * completed). */
static inline void worker__logged(const struct worker *w, int64_t id)
{
	if (w->env.hooks.logged != NULL)
		w->env.hooks.logged(w->env.hooks.data, id);
}

/* The daemon's current configuration (a reload replaces it). */
static inline const struct config *worker__cfg(const struct worker *w)
{
	return *w->env.pub.cfg;
}

/* The wall clock, in Unix milliseconds (w->io's). */
static inline int64_t worker__now(const struct worker *w)
{
	return w->io->now(w);
}

/* worker_run.c */
/* The heartbeat timer of a run ran out: renews the lease, or stops the run
 * whose lease was lost (canceled, or taken over). */
void worker__heartbeat(uv_timer_t *t);

/* A post whose completion needs only its job: `logged` is told when it
 * succeeded; what (static text, or NULL: nothing) is logged when it
 * failed ("cannot record WHAT").  worker__job_post() returns it, or NULL
 * (-ENOMEM); give it with worker__job_written as the completion. */
struct worker_job_post {
	struct worker *w;
	int64_t id;
	const char *what;
};
struct worker_job_post *worker__job_post(struct worker *w, int64_t id, const char *what);
void worker__job_written(struct queue_async_result *res, void *data);

/* A line in job id's log (posted; `logged` told from its completion). */
void worker__qlog(struct worker *w, int64_t id, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Ends r's job in state st (see queue finish()), with how it ended and
 * the message (OUT_NONE, NULL for a success). */
void worker__settle(struct run *r, enum job_state st, int64_t next_run,
		    enum pub_outcome out, const char *error);
/* A failed attempt: FAILED with backoff (at least retry_after_s), or DEAD
 * when out of attempts. */
void worker__settle_retry(struct run *r, long retry_after_s, enum pub_outcome out,
			  const char *error);
/* Unlinks r (after its job was settled, or lost) and lets it go: freed
 * once its last hold is dropped; kicks the worker unless its finish's
 * completion will. */
void worker__run_free(struct run *r);
/* A completion will need r: hold it until worker__run_drop(). */
void worker__run_hold(struct run *r);
void worker__run_drop(struct run *r);
/* The artifact record of a job's inputs entry for one file ("artifact":
 * the spool's digests and metadata), as text for publish_request.records;
 * NULL when it has none (the upload inspects the file).  Caller frees. */
char *worker__record_of(const cJSON *file);
/* Forgets r's file list. */
void worker__files_clear(struct run *r);
/* The npm dist-tag rule of a job (npm_tag_rule): tag named explicitly,
 * how it was named, a prerelease's default; each may be NULL. */
struct worker_tag_rule {
	const char *tag, *given_by, *prerelease;
};

/* worker_fetch.c: the files of r's publish job that are not in this
 * host's spool (another daemon queued it) are read from the queue's
 * database into <spool_dir>/taken-<id>/ (worker_taken_dir()), r->files
 * pointing there; then done(r, 0 or a code, a message) runs unless r is
 * gone.  Returns 0 (all here: done is not called), 1 (reading: done
 * follows) or -ENOMEM. */
/* worker_spool.c: path is a file directly in a folder directly under
 * spool_dir (what a spool writes); a path from the database is never
 * trusted to point elsewhere. */
bool worker__in_spool(const char *path, const char *spool_dir);

typedef void (*worker_fetched_fn)(struct run *r, int rc, const char *msg);
int worker__fetch_missing(struct run *r, worker_fetched_fn done);

/* worker_fetch.c: stores the n files at paths[i] in the queue's database
 * as dbnames[i], one at a time, under r's lease (file_put, fenced), then
 * done(r, 0 or a code, a message) unless r is gone.  Returns 0 (posted)
 * or a code (done is not called). */
int worker__files_put(struct run *r, char *const *paths, char *const *dbnames, size_t n,
		      worker_fetched_fn done);

/* Uploads r's files (r->files, names, sources, probe) to registry with its
 * token, npm files under the tag rule decides.  Returns 0 when the publish
 * started; otherwise the job has been settled and the caller frees r. */
int worker__publish(struct run *r, const char *registry,
		    const struct worker_tag_rule *rule, const char *version);

/* worker_drain.c */
/* At worker_new(): this host's name, and the marker of an older version's
 * drain (found: nothing is claimed until it is moved into the queue). */
void worker__drain_init(struct worker *w);
/* From the tick: reads the queue's drains (at most one read a second, one
 * out at a time) and, while the marker waits, moves it into the queue (a
 * host drain, then the file is removed).  worker_start() calls it first:
 * posted before the first claim, it is committed before it. */
void worker__drains_refresh(struct worker *w);

/* worker_write.c */
#define WORKER_WRITE_RETRY_MS 1000 /* between tries of a write refused busy */
#define WORKER_WRITE_TRIES 10	   /* tries of one write at most */

/* A post to w->qa was made (0 returned): counted until its completion
 * calls worker__completed(), last (w may be freed then). */
void worker__posted(struct worker *w);
void worker__completed(struct worker *w);
/* Frees w when it is closing and nothing of it is left (timers, posts). */
void worker__free_if_done(struct worker *w);

enum worker_write_op { WORKER_WRITE_FINISH, WORKER_WRITE_UPLOAD };

/* One of the worker's fenced writes (queue.h finish() or upload_set()). */
struct worker_write {
	enum worker_write_op op;
	struct job job;	 /* id and fence; for a finish, the job done() needs */
	struct run *run; /* the caller's, for done() (held by it), or NULL */
	size_t file;	 /* the caller's: an upload's index in run */
	bool once;	 /* not tried again after -EBUSY (a SENDING mark) */
	int64_t now_ms;
	enum job_state st; /* a finish's */
	int64_t next_run;
	char name[256]; /* an upload's */
	enum upload_state ust;
	enum pub_outcome out;
	bool has_text; /* text is the error or message; else NULL */
	char text[JOB_TEXT_MAX];
	/* The write was made (or given up: its last result, -EBUSY after
	 * WORKER_WRITE_TRIES); x is freed after it returns.  NULL: a failure
	 * is logged. */
	void (*done)(struct worker *w, struct worker_write *x, int rc);
	/* worker_write.c's */
	struct worker *w;
	unsigned tries;
	bool posted, wait;
	struct worker_write *next;
};

/* Posts a copy of x (x->job's inputs copied) once every write of its job
 * made before it is done; x->done(w, copy, rc) runs from its completion,
 * never before this returns.  -EBUSY (from the queue or the post) is
 * tried again from a timer, up to WORKER_WRITE_TRIES tries, unless
 * x->once.  Returns 0, or the post's refusal (-ENOMEM, -ESHUTDOWN):
 * nothing kept, done not called. */
int worker__write(struct worker *w, const struct worker_write *x);
/* The timer's callback: posts again what waited for it. */
void worker__write_later(uv_timer_t *t);
/* The worker is closing: what waits for the timer is posted once more,
 * now (a refusal is final). */
void worker__write_flush(struct worker *w);

/* worker_pipeline.c */
/* Runs a pipeline job: build (once) then each target in turn (r->pl,
 * r->pl_ops).  Settles and frees r itself on failure. */
void worker__pipeline_start(struct run *r);

#endif
