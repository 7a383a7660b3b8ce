/* reconcile.h - the scan behind `aos-publishctl reconcile PIPELINE`: the
 * repository's tags that match the pipeline (git ls-remote, in the build
 * sandbox), each target registry's index (one request per target), and a
 * pipeline job queued for every tag whose version is missing on a target.
 * Forges send no webhook when more than three tags are pushed at once;
 * this catches those and any missed delivery.  An engine: it reports only
 * through its hooks and never talks to a client. */
#ifndef AOS_RECONCILE_H
#define AOS_RECONCILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <uv.h>

struct child;
struct child_opts;
struct config;
struct job_new;
struct queue;
struct reconcile_op;
struct sandbox_caps;
struct transport;
struct transport_req;
struct vault_session;

/* The scan's ways out of the process, replaceable by unit tests (they list
 * the tags and answer the index requests themselves). */
struct reconcile_io {
	/* Runs git ls-remote: as child_start() (base/child.h). */
	int (*spawn)(uv_loop_t *loop, const struct child_opts *o, struct child **ret);
	/* Sends an index request: as transport_start() (base/transport.h). */
	int (*send)(struct transport_req *req,
		    void (*cb)(struct transport_req *req, int result, void *data),
		    void *data);
};

/* What the scan uses of the daemon, copied by reconcile_start(); what it
 * points to must outlive the scan. */
struct reconcile_env {
	uv_loop_t *loop;
	struct transport *tp;
	struct vault_session *session; /* the registries' tokens */
	struct config *const *cfg;     /* the current configuration */
	struct queue *queue;	       /* where missing tags are queued */
	/* Commits the jobs off the loop (the daemon's writer), or NULL: on the
	 * loop with queue->ops->enqueue_many.  It keeps jn, ret_ids and
	 * ret_rcs (valid until done) and calls done(op, result) later, on the
	 * loop, with enqueue_many()'s result, ret_ids and ret_rcs; it returns
	 * 0, or a negative code without calling done. */
	int (*commit)(void *data, const struct job_new *jn, size_t n, int64_t now_ms,
		      int64_t *ret_ids, int *ret_rcs, void (*done)(void *op, int result),
		      void *op);
	void *commit_data;
	const struct sandbox_caps *sandbox;
	/* Jobs were queued (called whether or not anyone listens); may be NULL. */
	void (*queued)(void *data);
	void *queued_data;
	const struct reconcile_io *io; /* NULL: child_start and transport_start */
};

/* How one scan reports (exactly one hook, once, unless reconcile_forget()
 * came first). */
struct reconcile_hooks {
	/* The scan ended: {"ok": true, "pipeline", "dry_run", "tags": [{"tag",
	 * "version", "commit", "present", "missing", "action", "job_id"}],
	 * "queued", "skipped"} (docs/control-protocol.md); stays the scan's. */
	void (*finished)(void *data, const cJSON *answer);
	/* The scan failed (git, a registry's index, the queue): why. */
	void (*failed)(void *data, const char *error);
	void *data;
};

/* Starts the scan of pipeline (a name under "pipelines"); with dry_run
 * nothing is queued.  Returns 0 and *ret_op (valid until a hook is
 * called), or AOS_ENOTFOUND (no such pipeline), -ENOMEM or a libuv code
 * with msg set (no hook called). */
int reconcile_start(const struct reconcile_env *env, const char *pipeline, bool dry_run,
		    const struct reconcile_hooks *hooks, struct reconcile_op **ret_op,
		    char *msg, size_t msglen);

/* The listener of op went away: no hook is called any more; the scan goes
 * on (what it queues is still wanted). */
void reconcile_forget(struct reconcile_op *op);

#endif
