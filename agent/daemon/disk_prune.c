/* disk_prune.c - retention: ended jobs past queue.retention_days pruned
 * with their spooled files, QUEUE_PRUNE_MAX jobs per transaction and a
 * pause between batches so that the workers, the webhooks and publish get
 * the write lock in between.  One run at a time: the periodic one, or an
 * operator's `aos-publishctl prune [--dry-run]`; a request that comes while
 * another runs waits for it.  Each batch is posted to the write queue
 * (daemon_queue.h); its spooled files go from its completion.  See disk.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "base/control.h"
#include "base/log.h"
#include "common/backoff.h"
#include "daemon/agent.h"
#include "daemon/disk.h"
#include "queue/queue.h"
#include "queue/queue_async.h"
#include "worker/worker.h"

#define PRUNE_FIRST_MS 5000    /* the first periodic run after the start */
#define PRUNE_EVERY_MS 3600000 /* then hourly */
#define PRUNE_PAUSE_MS 20      /* between two batches */
#define DAY_MS (24LL * 3600 * 1000)

struct prune_run {
	struct agent *a;
	struct control_conn *conn; /* NULL: the periodic run */
	bool dry_run;
	int64_t before_ms, after_id;
	int64_t jobs[JOB_CANCELED + 1];
	struct worker_spool_use spool;
	int batches;
	struct prune_run *next;
};

/* What the last periodic or requested run did, for status. */
static cJSON *totals_json(const struct prune_run *r)
{
	static const enum job_state states[] = {JOB_SUCCEEDED, JOB_DEAD, JOB_CANCELED};
	cJSON *o = cJSON_CreateObject(), *j;
	int64_t total = 0;
	size_t i;

	cJSON_AddBoolToObject(o, "dry_run", r->dry_run);
	cJSON_AddNumberToObject(o, "ended_before_ms", (double)r->before_ms);
	j = cJSON_AddObjectToObject(o, "jobs");
	for (i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		cJSON_AddNumberToObject(j, job_state_name(states[i]),
					(double)r->jobs[states[i]]);
		total += r->jobs[states[i]];
	}
	cJSON_AddNumberToObject(o, "total_jobs", (double)total);
	cJSON_AddNumberToObject(o, "spool_files", (double)r->spool.files);
	cJSON_AddNumberToObject(o, "spool_bytes", (double)r->spool.bytes);
	cJSON_AddNumberToObject(o, "batches", r->batches);
	return o;
}

cJSON *disk__prune_status_json(const struct agent *a)
{
	cJSON *o = a->disk.last_prune != NULL ? cJSON_Duplicate(a->disk.last_prune, true)
					      : cJSON_CreateObject();

	cJSON_AddBoolToObject(o, "running", a->disk.runs != NULL);
	return o;
}

static void run_next(struct agent *a);
static void batch_cb(uv_timer_t *t);

/* Ends the head run: answers its client, logs a periodic run's work. */
static void run_end(struct agent *a, int result)
{
	struct prune_run *r = a->disk.runs;
	cJSON *o = totals_json(r);
	int64_t n = (int64_t)cJSON_GetNumberValue(cJSON_GetObjectItem(o, "total_jobs"));

	a->disk.runs = r->next;
	if (result < 0)
		log_err_r(result, "pruning old jobs stopped after %" PRId64 " job(s)", n);
	else if (!r->dry_run && n > 0)
		log_notice("pruned %" PRId64
			   " job(s) that ended over %ld day(s) ago, and %" PRIu64
			   " spooled file(s) of %" PRIu64 " bytes",
			   n, a->cfg->queue.retention_days, r->spool.files,
			   r->spool.bytes);
	if (!r->dry_run) {
		cJSON_Delete(a->disk.last_prune);
		a->disk.last_prune = cJSON_Duplicate(o, true);
		if (a->disk.last_prune != NULL)
			cJSON_AddNumberToObject(a->disk.last_prune, "at_ms",
						(double)aos_wall_ms());
	}
	if (r->conn != NULL) {
		control_set_cancel(r->conn, NULL, NULL);
		if (result < 0) {
			cJSON_Delete(o);
			control_reply_error(r->conn,
					    "pruning failed: the queue database "
					    "could not be written; see the daemon's log");
		} else {
			cJSON_AddTrueToObject(o, "ok");
			control_reply(r->conn, o);
			o = NULL;
		}
	}
	cJSON_Delete(o);
	free(r);
	run_next(a);
}

/* A batch's completion: counts what went (or would go), removes its
 * spooled files, and pauses before the next batch. */
static void batch_done(struct queue_async_result *res, void *data)
{
	struct agent *a = data;
	struct prune_run *r = a->disk.runs;
	size_t i;

	if (a->disk.closed || r == NULL) /* stopping: the runs are gone */
		return;
	if (res->rc < 0) {
		run_end(a, res->rc);
		return;
	}
	r->batches++;
	for (i = 0; i < res->n; i++) {
		r->jobs[res->jobs[i].state]++;
		worker_spool_files(&res->jobs[i], a->cfg->queue.spool_dir, r->dry_run,
				   &r->spool);
		r->after_id = res->jobs[i].id;
	}
	if (res->n < QUEUE_PRUNE_MAX)
		run_end(a, 0);
	else
		uv_timer_start(&a->disk.prune_timer, batch_cb, PRUNE_PAUSE_MS, 0);
}

/* The periodic tick, or the head run's next batch, posted to the write
 * queue (a refused post ends the run with its error). */
static void batch_cb(uv_timer_t *t)
{
	struct agent *a = t->data;
	struct prune_run *r = a->disk.runs;
	struct queue_async *wq = a->wq;
	int rc;

	if (r == NULL) { /* the periodic tick */
		uv_timer_start(&a->disk.prune_timer, batch_cb, PRUNE_EVERY_MS, 0);
		if (a->cfg->queue.retention_days > 0)
			disk_prune_command(a, NULL, false);
		return;
	}
	rc = wq == NULL ? -ESHUTDOWN
			: queue_async_prune(wq, r->before_ms, r->after_id, r->dry_run,
					    QUEUE_PRUNE_MAX, batch_done, a);
	if (rc < 0) /* the timer waits for the completion */
		run_end(a, rc);
}

/* Starts the head run, or goes back to the periodic wait. */
static void run_next(struct agent *a)
{
	if (a->disk.closed)
		return;
	if (a->disk.runs != NULL)
		uv_timer_start(&a->disk.prune_timer, batch_cb, 0, 0);
	else
		uv_timer_start(&a->disk.prune_timer, batch_cb, PRUNE_EVERY_MS, 0);
}

/* The client of a waiting or running request left: it goes on unheard. */
static void request_gone(struct control_conn *c, void *arg)
{
	struct prune_run *r = arg;

	(void)c;
	r->conn = NULL;
}

void disk_prune_command(struct agent *a, struct control_conn *c, bool dry_run)
{
	struct prune_run *r, **p;

	if (a->cfg->queue.retention_days <= 0 && c != NULL) {
		control_reply_error(
		    c, "queue.retention_days is 0: jobs are kept forever and "
		       "nothing is pruned (set it to a number of days)");
		return;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL) {
		if (c != NULL)
			control_reply_error(c, "out of memory");
		return;
	}
	r->a = a;
	r->conn = c;
	r->dry_run = dry_run;
	r->before_ms = aos_wall_ms() - a->cfg->queue.retention_days * DAY_MS;
	for (p = &a->disk.runs; *p != NULL; p = &(*p)->next)
		;
	*p = r;
	if (c != NULL)
		control_set_cancel(c, request_gone, r);
	if (a->disk.runs == r)
		run_next(a);
}

void disk__prune_start_timer(struct agent *a)
{
	uv_timer_init(&a->loop, &a->disk.prune_timer);
	a->disk.prune_timer.data = a;
	uv_timer_start(&a->disk.prune_timer, batch_cb, PRUNE_FIRST_MS, 0);
}

void disk__prune_close(struct agent *a)
{
	struct prune_run *r;

	while ((r = a->disk.runs) != NULL) {
		a->disk.runs = r->next;
		if (r->conn != NULL) {
			control_set_cancel(r->conn, NULL, NULL);
			control_reply_error(r->conn,
					    "the daemon is stopping; pruning stopped");
		}
		free(r);
	}
	uv_timer_stop(&a->disk.prune_timer);
	uv_close((uv_handle_t *)&a->disk.prune_timer, NULL);
	cJSON_Delete(a->disk.last_prune);
	a->disk.last_prune = NULL;
}
