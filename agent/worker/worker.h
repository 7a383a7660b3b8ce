/* worker.h - the scheduler and workers of the publish queue: claims due
 * jobs (per-registry limits, one running job per package), runs each as a
 * publish with a lease kept alive by heartbeats, records every upload, and
 * settles the job: succeeded, failed with a retry time, or dead. */
#ifndef AOS_WORKER_H
#define AOS_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "publish/publish.h"

struct job;
struct job_upload;
struct queue_drain;
struct queue_async;
struct sandbox_caps;
struct worker;

/* One file's upload as metrics see it. */
struct worker_upload_stat {
	const char *registry; /* the configured name */
	enum pub_outcome outcome;
	uint64_t bytes; /* the file's size when published, else 0 */
	double seconds; /* from its first send to its outcome; < 0: not sent */
	unsigned sends; /* sends made (more than one: retried) */
};

/* How the worker reports on jobs (it never talks to a client); each hook
 * may be NULL. */
struct worker_hooks {
	/* An event of job id's publish (inspected, progress, result), its
	 * file named as the client gave it; ev stays the worker's. */
	void (*job_event)(void *data, int64_t id, const cJSON *ev);
	/* Job id's state was recorded: it may have ended. */
	void (*job_changed)(void *data, int64_t id);
	/* A file's upload ended (for metrics); u stays the worker's. */
	void (*upload_done)(void *data, const struct worker_upload_stat *u);
	/* A pipeline's build step ended: which ("checkout", "build",
	 * "verify"), how ("ok", "failed", "signal", "timeout", "error") and
	 * its seconds (for metrics). */
	void (*step_done)(void *data, const char *pipeline, const char *which,
			  const char *result, double seconds);
	/* Job id's log has new lines, committed (told from the write's
	 * completion, on the loop: never from inside the queue). */
	void (*logged)(void *data, int64_t id);
	void *data;
};

/* What the worker uses of the daemon: what a publish uses (its loop, the
 * configuration a reload replaces) and the sandbox's capabilities (probed
 * at start and reload; pipeline builds).  Copied by worker_new; what it
 * points to must outlive the worker. */
struct worker_env {
	struct publish_env pub;
	const struct sandbox_caps *sandbox;
	struct worker_hooks hooks;
};

/* Creates the worker on env's loop; every call it makes of the queue is
 * posted to qa (not owned: the daemon's write queue_async, which must stay
 * open until the worker is freed) and goes on from its completion.  The
 * lease owner is "<hostname>:<pid>".  It claims nothing before
 * worker_start().  Returns 0 and *ret or -ENOMEM. */
int worker_new(const struct worker_env *env, struct queue_async *qa, struct worker **ret);

/* Returns the jobs this host's previous process left running to the queue
 * (release_owner of "<hostname>:", logged), then, from that write's
 * completion, starts claiming (a failure is logged and claims start
 * anyway: those leases run out). */
void worker_start(struct worker *w);

/* Looks for due jobs now (after an enqueue, a finished job, a retry). */
void worker_kick(struct worker *w);

/* Stops this process claiming (the daemon stops) or lets it claim again
 * (worker_drain.c). */
void worker_set_draining(struct worker *w, bool drain);
/* True while no new job starts here: the process stops, or the last read
 * of the queue's drains named the fleet or this host (an operator's drain,
 * kept in the queue: every claim checks it). */
bool worker_draining(const struct worker *w);

/* This host as drains name it: the lease owner's part before the ':'. */
const char *worker_host(const struct worker *w);

/* The drains the queue holds (n of them, read after an operator's drain
 * or resume; the worker reads them itself every second): kept for status,
 * logged when this host's state changes, and a resumed host looks for jobs
 * at once. */
void worker_drains_seen(struct worker *w, const struct queue_drain *d, size_t n);

/* Whether the drains last read hold the fleet (else only hosts). */
bool worker_fleet_drained(const struct worker *w);

/* {"fleet": bool, "hosts": [names]}: the drains last read.  A new object. */
cJSON *worker_drains_json(const struct worker *w);

/* Jobs running now. */
size_t worker_running(const struct worker *w);

/* Stops every running job at once: each is released back to the queue
 * without counting the attempt.  Used on the second SIGTERM and at the end
 * of the grace period. */
void worker_abort_all(struct worker *w, const char *why);

/* Stops the worker: every running job is released (worker_abort_all()),
 * the writes kept for a retry are posted once more; w is freed once the
 * completions of everything it posted have run (the loop must run them
 * before qa closes).  Accepts NULL. */
void worker_close(struct worker *w);

/* {"draining":.., "drained": worker_drains_json(), "host", "owner",
 * "running":[{id, registry, package, attempt}],..} */
cJSON *worker_status_json(const struct worker *w);

/* Stops job id at once if it runs here (it was canceled). */
void worker_stop_job(struct worker *w, int64_t id);

/* One upload as every answer shows it: {"filename", "registry", "sha256",
 * "state"} (docs/control-protocol.md); job.show adds "answer", a job's
 * results "file", "outcome", "message".  Returns a new object. */
cJSON *worker_upload_json(const struct job_upload *u);

/* The answer describing job id: {"ok", "outcome", "job_id", "state",
 * "error", "results": [...]}, built from job and its n uploads.  Returns
 * a new object. */
cJSON *worker_job_answer_of(const struct job *job, const struct job_upload *ups,
			    size_t n);

/* What a job's spooled files take (worker_spool.c). */
struct worker_spool_use {
	uint64_t files; /* a pipeline job's folder counts as one */
	uint64_t bytes; /* allocated, as du counts them */
};

/* The folder of job id's files read from the queue's database on this
 * host (worker_fetch.c): <spool_dir>/taken-<id>. */
void worker_taken_dir(const char *spool_dir, int64_t id, char *buf, size_t len);

/* Job j's spooled files (a publish's, named by its inputs; a pipeline's
 * folder <spool_dir>/pipeline-ID): added to *use and, unless dry_run,
 * removed.  Paths outside spool_dir are never touched.  A job that
 * succeeded has none left (they go when it ends); a dead one keeps them
 * for `job retry` until retention prunes it. */
void worker_spool_files(const struct job *j, const char *spool_dir, bool dry_run,
			struct worker_spool_use *use);

#endif
