/* worker_internal.h - what the files of worker/ share.  worker.c (the
 * tick, the public calls) calls worker_pipeline.c (a pipeline job's build
 * and targets) and worker_run.c (one run: its publish, heartbeat, end);
 * worker_pipeline.c calls worker_run.c.  Where a run must reach back (a
 * pipeline's next target, a build to stop, the next tick), it goes through
 * r->pl_ops and w->kick, set by the file that calls it. */
#ifndef AOS_WORKER_INTERNAL_H
#define AOS_WORKER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "common/backoff.h"
#include "publish/publish.h"
#include "queue/queue.h"
#include "worker/worker.h"

#define MAX_FILES PUBLISH_MAX_FILES /* files one run sends at most */

struct pl_run;
struct run;

/* A pipeline job's part of a run (worker_pipeline.c's, set with r->pl). */
struct run_pipeline_ops {
	/* A target's publish succeeded: starts the next target and returns
	 * true (or, failing to, settles and frees r and returns true); false
	 * when no target is left. */
	bool (*target_done)(struct run *r);
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
	bool probe[MAX_FILES];
	bool sent[MAX_FILES];	     /* marked SENDING in this run */
	unsigned sends[MAX_FILES];   /* sends started (metrics) */
	uint64_t send_ms[MAX_FILES]; /* loop time of the first send */
	char registry[128];	     /* of the publish running now */
	size_t nfiles;
	bool fenced;
	struct run *next;
};

/* What the worker needs from outside: the wall clock (the queue's times),
 * the random source of the backoff, and the publish a job runs.
 * worker_new() installs worker__default_io; the unit tests put their own in
 * w->io to move time and to play the registry's part. */
struct worker_io {
	int64_t (*now)(const struct worker *w); /* Unix ms (aos_wall_ms) */
	rand_fn rnd;				/* called with NULL */
	/* As publish_start() and publish_abort() (publish.h). */
	int (*publish_start)(const struct publish_env *env,
			     const struct publish_request *r, struct publish_op **ret_op,
			     char *msg, size_t msglen);
	void (*publish_abort)(struct publish_op *op);
};

extern const struct worker_io worker__default_io;

struct worker {
	const struct worker_io *io;
	/* worker_kick (worker_new sets it): a run that ended lets the next
	 * job start. */
	void (*kick)(struct worker *w);
	struct worker_env env;
	struct queue *q;
	uv_timer_t tick;
	char owner[128];
	bool draining;
	bool closing;
	bool held_last; /* the last look was skipped for claims_held */
	/* Writes refused with -EBUSY, tried again in order (worker_write.c). */
	uv_timer_t later_timer;
	uint64_t later_ms; /* between tries: WORKER_WRITE_RETRY_MS, or a test's */
	struct worker_write *later, *later_tail;
	int handles; /* tick and later_timer not closed yet */
	struct run *runs;
	size_t nruns;
};

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

/* A line in job id's log. */
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
/* Unlinks and frees r (after its job was settled, or lost); kicks the
 * worker. */
void worker__run_free(struct run *r);
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

/* Uploads r's files (r->files, names, sources, probe) to registry with its
 * token, npm files under the tag rule decides.  Returns 0 when the publish
 * started; otherwise the job has been settled and the caller frees r. */
int worker__publish(struct run *r, const char *registry,
		    const struct worker_tag_rule *rule, const char *version);

/* worker_write.c */
#define WORKER_WRITE_RETRY_MS 1000 /* between tries of a write refused busy */
#define WORKER_WRITE_TRIES 10	   /* tries of one write at most */
#define WORKER_WRITE_LATER 1	   /* worker__write(): kept, done() will run */

enum worker_write_op { WORKER_WRITE_FINISH, WORKER_WRITE_UPLOAD };

/* One of the worker's fenced writes (queue.h finish() or upload_set()). */
struct worker_write {
	enum worker_write_op op;
	struct job job; /* id and fence; for a finish, the job done() needs */
	int64_t now_ms;
	enum job_state st; /* a finish's */
	int64_t next_run;
	char name[256]; /* an upload's */
	enum upload_state ust;
	enum pub_outcome out;
	bool has_text; /* text is the error or message; else NULL */
	char text[JOB_TEXT_MAX];
	/* A kept write was made (or given up: its last result, -EBUSY after
	 * WORKER_WRITE_TRIES); x is freed after it returns.  May be NULL. */
	void (*done)(struct worker *w, struct worker_write *x, int rc);
	unsigned tries;
	struct worker_write *next;
};

/* Makes x now, unless writes kept before it wait (order is kept), and
 * returns its result; or, when the queue answered -EBUSY or writes wait,
 * keeps a copy (x->job's inputs copied) to try again from a timer and
 * returns WORKER_WRITE_LATER (x->done runs then).  -ENOMEM: not kept. */
int worker__write(struct worker *w, const struct worker_write *x);
/* The worker is closing: each kept write is tried once more, now. */
void worker__write_flush(struct worker *w);

/* worker_pipeline.c */
/* Runs a pipeline job: build (once) then each target in turn (r->pl,
 * r->pl_ops).  Settles and frees r itself on failure. */
void worker__pipeline_start(struct run *r);

#endif
