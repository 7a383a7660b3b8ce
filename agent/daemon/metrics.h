/* metrics.h - the daemon's metrics for Prometheus (docs/operations.md,
 * "Metrics"): counters and histograms fed by the worker's hooks, the
 * webhook listener and the Vault session's events, plus gauges read at
 * each scrape (queue stats on indexes, the session's status, the state
 * filesystem).  Labels are bounded: enum words, and registry, pipeline and
 * secret key names from the configuration (at most METRICS_NAMES_MAX of
 * each; more share the name "other").  Never ids, tags or file names, and
 * never a secret. */
#ifndef AOS_METRICS_H
#define AOS_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "config/config.h"
#include "queue/queue.h"
#include "worker/worker.h"

#define METRICS_NAMES_MAX 64
#define METRICS_TEXT_MAX (1024 * 1024) /* bytes of one scrape's answer */

struct agent;
struct metrics;

/* What became of a webhook delivery. */
enum metrics_delivery {
	MD_ACCEPTED,	/* 202: a job was queued */
	MD_DUPLICATE,	/* 200: its job existed */
	MD_IGNORED,	/* 200: not a release */
	MD_PING,	/* 200: the forge's test delivery */
	MD_REJECTED,	/* 4xx */
	MD_UNAVAILABLE, /* 503 */
	MD__COUNT
};

/* Returns 0 and *ret, or -ENOMEM. */
int metrics_new(struct metrics **ret);
/* Accepts NULL. */
void metrics_free(struct metrics *m);

/* Job j's state was recorded (worker_hooks.job_changed): an attempt that
 * failed counts as a retry, an end as a job duration (created to ended). */
void metrics_job_changed(struct metrics *m, const struct job *j);
/* worker_hooks.upload_done */
void metrics_upload(struct metrics *m, const struct worker_upload_stat *u);
/* worker_hooks.step_done */
void metrics_step(struct metrics *m, const char *pipeline, const char *which,
		  const char *result, double seconds);
/* A webhook delivery's answer; forge FORGE__COUNT: not a forge's request. */
void metrics_delivery(struct metrics *m, enum forge forge, enum metrics_delivery out);
/* A commit of new jobs (a webhook batch, a publish, a reconcile) took
 * seconds on the write queue's thread. */
void metrics_commit(struct metrics *m, double seconds);
/* The session loaded the secret at kv_version (a session event): a new
 * version is a rotation picked up at now_ms (Unix ms). */
void metrics_secrets(struct metrics *m, int64_t kv_version, int64_t now_ms);

/* The whole exposition for a scrape, into out (limit METRICS_TEXT_MAX),
 * with the queue's stats st read at now_ms (NULL: no queue samples); a
 * NULL a: only what the hooks fed (the unit tests).  Returns 0 or a
 * negative code (out is then incomplete). */
int metrics_render(const struct metrics *m, struct agent *a, const struct queue_stats *st,
		   int64_t now_ms, struct buf *out);

/* metrics_http.c */
struct http_conn;
struct http_request;
/* Answers GET (or HEAD) /metrics on c with the exposition, from the
 * completion of the queue's stats read (a->rq); a scrape that comes while
 * one is out shares its result.  A read refused is answered 503 at once. */
void metrics_reply(struct agent *a, struct http_conn *c, const struct http_request *r);
/* For the webhook listener: answers r and returns true when it is for
 * /metrics and no listener of its own (metrics.address at the start)
 * serves it; else false. */
bool metrics_route(struct agent *a, struct http_conn *c, const struct http_request *r);
/* Listens on metrics.address when configured (a->metrics_srv).  Returns 0
 * or a libuv error (logged). */
int metrics_listen(struct agent *a);

/* The kind label's values, by enum job_kind (metrics_render.c). */
extern const char *const metrics__kinds[JOB_PIPELINE + 1];

/* metrics_render.c: the parts read from the daemon at each scrape (the
 * queue, the worker, the session, the state filesystem). */
int metrics__render_daemon(struct agent *a, const struct queue_stats *st, int64_t now_ms,
			   struct buf *out);

#endif
