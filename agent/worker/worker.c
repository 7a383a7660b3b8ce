/* worker.c - running queued publish jobs.
 *
 * A tick claims due jobs up to the limits and starts one publish per job.
 * While a job runs, a heartbeat timer extends its lease; an upload is
 * marked SENDING before its first byte and DONE once the registry holds
 * it, so a crash leaves either "not sent" (PENDING), "sent, outcome
 * unknown" (SENDING: the registry is asked before any resend) or DONE
 * (never repeated).  Every write is fenced by the lease: a worker that lost
 * its job stops.  A run's publish, heartbeat and end are in worker_run.c,
 * a pipeline job's build and targets in worker_pipeline.c.  Every queue
 * call is posted to the daemon's write queue_async and goes on from its
 * completion: one claim out at a time, whose completion reads each job's
 * uploads and starts its run.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/log.h"
#include "common/backoff.h"
#include "common/err.h"
#include "config/config.h"
#include "publish/publish.h"
#include "queue/queue.h"
#include "queue/queue_async.h"
#include "sandbox/sandbox.h"
#include "session/session.h"
#include "worker/worker.h"
#include "worker_internal.h"

#define TICK_MS 1000 /* look for due jobs at least this often */

static int64_t wall_now(const struct worker *w)
{
	(void)w;
	return aos_wall_ms();
}

const struct worker_io worker__default_io = {
    .now = wall_now,
    .rnd = aos_rand_u64,
    .publish_start = publish_start,
    .publish_abort = publish_abort,
    .publish_send_ready = publish_send_ready,
};

/* ---- starting a run ---------------------------------------------------------- */

/* Reads the job's inputs: the spooled files still to send (ups: its n
 * uploads as read, or n a read's error).  Its tag and version are read
 * when the publish starts (publish_now()). */
static int load_inputs(struct run *r, const struct job_upload *ups, int n, char *msg,
		       size_t msglen)
{
	cJSON *doc, *files, *f;
	int i;

	doc = cJSON_Parse(r->job.inputs);
	files = cJSON_GetObjectItemCaseSensitive(doc, "files");
	if (!cJSON_IsArray(files)) {
		snprintf(msg, msglen, "job inputs are not valid");
		cJSON_Delete(doc);
		return -EINVAL;
	}
	if (n < 0) {
		snprintf(msg, msglen, "cannot read the job's uploads: %s",
			 aos_strerror(n));
		cJSON_Delete(doc);
		return n;
	}
	cJSON_ArrayForEach(f, files)
	{
		const char *path =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "path"));
		const char *name =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "filename"));
		const char *source =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "source"));
		bool done = false, probe = false;

		if (path == NULL || name == NULL || r->nfiles == MAX_FILES)
			continue;
		for (i = 0; i < n; i++) {
			if (strcmp(ups[i].filename, name) != 0)
				continue;
			done = ups[i].state == UPLOAD_DONE;
			probe = ups[i].state == UPLOAD_SENDING;
		}
		if (done)
			continue; /* never repeated */
		r->files[r->nfiles] = strdup(path);
		r->names[r->nfiles] = strdup(name);
		r->sources[r->nfiles] = strdup(source != NULL ? source : path);
		r->records[r->nfiles] = worker__record_of(f);
		r->probe[r->nfiles] = probe;
		r->nfiles++;
	}
	cJSON_Delete(doc);
	return 0;
}

/* A claimed job that cannot run here goes back to the queue without
 * spending the attempt (its finish posted; a failure is logged). */
static void release_claimed(struct worker *w, const struct job *job, int64_t next_run,
			    const char *why)
{
	struct worker_write x = {.op = WORKER_WRITE_FINISH,
				 .job = *job,
				 .now_ms = worker__now(w),
				 .st = JOB_QUEUED,
				 .next_run = next_run,
				 .out = OUT_NONE,
				 .has_text = true};
	int rc;

	x.job.inputs = NULL;
	snprintf(x.text, sizeof(x.text), "%s", why);
	rc = worker__write(w, &x);
	if (rc < 0)
		log_warn("job %" PRId64 ": cannot release it: %s", job->id,
			 aos_strerror(rc));
}

/* Starts the publish of r's files (all in this host's spool now), with
 * the tag and version of its inputs; frees r when it cannot. */
static void publish_now(struct run *r)
{
	cJSON *doc = cJSON_Parse(r->job.inputs);
	struct worker_tag_rule rule = {
	    .tag = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "tag")),
	    .given_by = "--tag"};
	const char *version =
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "version"));

	if (worker__publish(r, r->job.registry, &rule, version) < 0)
		worker__run_free(r);
	cJSON_Delete(doc);
}

/* The files missing here were read from the queue's database (or not). */
static void fetched(struct run *r, int rc, const char *msg)
{
	if (rc == 0) {
		publish_now(r);
		return;
	}
	/* not there (a job of a daemon that kept its files on its own disk,
	 * or of a spool lost here): no run can send them */
	if (rc == AOS_ENOTFOUND)
		worker__settle(r, JOB_DEAD, 0, OUT_NONE, msg);
	else
		worker__settle_retry(r, -1, OUT_ERROR, msg);
	worker__run_free(r);
}

/* The uploads of r's publish job are read: its files still to send, read
 * first from the queue's database when they are not here. */
static void start_publish(struct run *r, const struct queue_async_result *res)
{
	char msg[1024];
	int rc;

	rc = load_inputs(r, res->uploads, res->rc < 0 ? res->rc : (int)res->n, msg,
			 sizeof(msg));
	if (rc < 0) {
		if (rc == -EINVAL)
			worker__settle(r, JOB_DEAD, 0, OUT_NONE, msg);
		else
			worker__settle_retry(r, -1, OUT_ERROR, msg);
		worker__run_free(r);
		return;
	}
	if (r->nfiles == 0) {
		worker__settle(r, JOB_SUCCEEDED, 0, OUT_NONE, NULL);
		worker__run_free(r);
		return;
	}
	rc = worker__fetch_missing(r, fetched);
	if (rc == 0)
		publish_now(r);
	else if (rc < 0)
		fetched(r, rc,
			"cannot read the job's files from the queue's database: out "
			"of memory");
}

static void uploads_read(struct queue_async_result *res, void *data)
{
	struct run *r = data;
	struct worker *w = r->w;

	if (!r->gone)
		start_publish(r, res);
	worker__run_drop(r);
	worker__completed(w);
}

static void start_run(struct worker *w, struct job *job)
{
	struct run *r = calloc(1, sizeof(*r));
	char msg[256];
	int rc;

	if (r == NULL) {
		release_claimed(w, job, worker__now(w) + 1000, "out of memory");
		return;
	}
	r->w = w;
	r->job = *job; /* takes job->inputs */
	job->inputs = NULL;
	r->refs = 1; /* the heartbeat handle's, dropped when it is closed */
	r->lease_until = worker__lease_until(w, w->claim_posted_ms);
	uv_timer_init(w->env.pub.loop, &r->heartbeat);
	r->heartbeat.data = r;
	r->next = w->runs;
	w->runs = r;
	w->nruns++;
	log_info("job %" PRId64 ": running (attempt %d of %d) for %s, package %s",
		 r->job.id, r->job.attempts, r->job.max_attempts, r->job.registry,
		 r->job.package);
	if (r->job.kind == JOB_PIPELINE) {
		uv_timer_start(&r->heartbeat, worker__heartbeat,
			       (uint64_t)worker__cfg(w)->queue.lease_s * 1000 / 3,
			       (uint64_t)worker__cfg(w)->queue.lease_s * 1000 / 3);
		worker__pipeline_start(r);
		return;
	}
	if (config_registry(worker__cfg(w), r->job.registry) == NULL) {
		worker__settle(r, JOB_DEAD, 0, OUT_NONE,
			       "its registry is no longer in the configuration");
		worker__run_free(r);
		return;
	}
	/* Posted after the claim: it sees the job as claimed. */
	rc = queue_async_uploads(w->qa, r->job.id, uploads_read, r);
	if (rc < 0) {
		snprintf(msg, sizeof(msg), "cannot read the job's uploads: %s",
			 aos_strerror(rc));
		worker__settle_retry(r, -1, OUT_ERROR, msg);
		worker__run_free(r);
		return;
	}
	worker__run_hold(r);
	worker__posted(w);
}

static void claimed(struct queue_async_result *res, void *data)
{
	struct worker *w = data;
	size_t i;

	w->claiming = false;
	if (res->rc < 0 && res->rc != -ECANCELED)
		log_warn_r(res->rc, "cannot claim jobs from the queue");
	for (i = 0; i < res->n; i++) {
		worker__logged(w, res->jobs[i].id); /* "claimed by" */
		if (w->closing)
			release_claimed(w, &res->jobs[i], worker__now(w),
					"daemon stopping");
		else
			start_run(w, &res->jobs[i]);
	}
	if (w->claim_again) {
		w->claim_again = false;
		worker_kick(w);
	}
	worker__completed(w);
}

static void tick_cb(uv_timer_t *t)
{
	struct worker *w = t->data;
	const struct queue_cfg *qc = &worker__cfg(w)->queue;
	size_t busy = worker_running(w), room;
	int rc;

	worker__drains_refresh(w); /* claims check the drains themselves */
	if (w->draining || w->marker || w->closing || busy >= (size_t)qc->max_running ||
	    !session_loaded(w->env.pub.session))
		return; /* no token yet: jobs wait (job show says why) */
	if (w->env.sandbox != NULL && !w->env.sandbox->probed)
		return; /* the start's sandbox probe is still running */
	if (w->claiming) {
		w->claim_again = true; /* one claim out at a time */
		return;
	}
	room = (size_t)qc->max_running - busy;
	if (room > 16)
		room = 16;
	rc = queue_async_claim(w->qa, w->owner, worker__now(w), qc->lease_s * 1000,
			       (int)qc->per_registry_limit, room, claimed, w);
	if (rc < 0) {
		if (rc != -EBUSY) /* -EBUSY: the queue_async is full; next tick */
			log_warn_r(rc, "cannot claim jobs from the queue");
		return;
	}
	w->claiming = true;
	w->claim_posted_ms = uv_now(w->env.pub.loop); /* the leases start no sooner */
	worker__posted(w);
}

/* ---- public -------------------------------------------------------------- */

int worker_new(const struct worker_env *env, struct queue_async *qa, struct worker **ret)
{
	struct worker *w = calloc(1, sizeof(*w));

	if (w == NULL)
		return -ENOMEM;
	w->io = &worker__default_io;
	w->kick = worker_kick;
	w->env = *env;
	w->qa = qa;
	/* queue.host_name (default: the host's name) tells the daemons that
	 * share a queue apart: worker_start() releases "<host_name>:" */
	snprintf(w->owner, sizeof(w->owner), "%s:%d", (*env->pub.cfg)->queue.host_name,
		 (int)getpid());
	uv_timer_init(env->pub.loop, &w->tick);
	w->tick.data = w;
	uv_timer_init(env->pub.loop, &w->later_timer);
	w->later_timer.data = w;
	w->later_ms = WORKER_WRITE_RETRY_MS;
	w->handles = 2;
	worker__drain_init(w);
	*ret = w;
	return 0;
}

static void released(struct queue_async_result *res, void *data)
{
	struct worker *w = data;

	if (res->rc > 0)
		log_notice("%d job(s) left running by the previous process went back to "
			   "the queue",
			   res->rc);
	else if (res->rc < 0)
		log_err_r(res->rc,
			  "cannot return the jobs the previous process left running to "
			  "the queue (they run again once their leases run out)");
	w->started = true;
	worker_kick(w);
	worker__completed(w);
}

void worker_start(struct worker *w)
{
	char prefix[sizeof(w->owner)];
	const char *colon = strchr(w->owner, ':');
	int rc;

	/* "<host_name>:": every process of this daemon that held a job. */
	snprintf(prefix, sizeof(prefix), "%.*s",
		 colon != NULL ? (int)(colon - w->owner) + 1 : (int)strlen(w->owner),
		 w->owner);
	worker__drains_refresh(w); /* an older version's drain: before any claim */
	rc = queue_async_release_owner(w->qa, prefix, worker__now(w), released, w);
	if (rc == 0) {
		worker__posted(w);
		return;
	}
	log_err_r(rc, "cannot return the jobs the previous process left running to the "
		      "queue (they run again once their leases run out)");
	w->started = true;
	worker_kick(w);
}

void worker_kick(struct worker *w)
{
	if (!w->closing && !w->draining && w->started)
		uv_timer_start(&w->tick, tick_cb, 0, TICK_MS);
}

size_t worker_running(const struct worker *w)
{
	return w->nruns + w->ending; /* a job runs until its end is recorded */
}

void worker_abort_all(struct worker *w, const char *why)
{
	while (w->runs != NULL) {
		struct run *r = w->runs;

		if (r->op != NULL) {
			w->io->publish_abort(r->op);
			r->op = NULL;
		}
		/* Back to the queue without spending the attempt; an upload
		 * that was sending stays SENDING and is checked first. */
		worker__settle(r, JOB_QUEUED, worker__now(w), OUT_NONE, why);
		worker__run_free(r);
	}
}

static void timer_closed(uv_handle_t *h)
{
	struct worker *w = h->data;

	w->handles--;
	worker__free_if_done(w);
}

void worker_close(struct worker *w)
{
	if (w == NULL)
		return;
	w->closing = true;
	worker_abort_all(w, "daemon stopping");
	worker__write_flush(w);
	uv_timer_stop(&w->tick);
	uv_close((uv_handle_t *)&w->tick, timer_closed);
	uv_close((uv_handle_t *)&w->later_timer, timer_closed);
}

cJSON *worker_status_json(const struct worker *w)
{
	cJSON *o = cJSON_CreateObject(), *arr;
	const struct run *r;

	cJSON_AddBoolToObject(o, "draining", worker_draining(w));
	cJSON_AddItemToObject(o, "drained", worker_drains_json(w));
	cJSON_AddStringToObject(o, "host", w->host);
	cJSON_AddStringToObject(o, "owner", w->owner);
	arr = cJSON_AddArrayToObject(o, "running");
	for (r = w->runs; r != NULL; r = r->next) {
		cJSON *j = cJSON_CreateObject();

		cJSON_AddNumberToObject(j, "id", (double)r->job.id);
		cJSON_AddStringToObject(j, "registry", r->job.registry);
		cJSON_AddStringToObject(j, "package", r->job.package);
		cJSON_AddNumberToObject(j, "attempt", r->job.attempts);
		cJSON_AddItemToArray(arr, j);
	}
	return o;
}

/* ---- a job's answer ---------------------------------------------------------- */

cJSON *worker_upload_json(const struct job_upload *u)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "filename", u->filename);
	cJSON_AddStringToObject(o, "registry", u->registry);
	cJSON_AddStringToObject(o, "sha256", u->sha256);
	cJSON_AddStringToObject(o, "state", upload_state_name(u->state));
	return o;
}

cJSON *worker_job_answer_of(const struct job *jp, const struct job_upload *ups, size_t n)
{
	const struct job job = *jp;
	cJSON *o, *arr, *doc, *files;
	const char *outcome;
	char error[JOB_TEXT_MAX];
	bool all_exist = true;
	size_t i;

	doc = cJSON_Parse(job.inputs);
	files = cJSON_GetObjectItemCaseSensitive(doc, "files");
	o = cJSON_CreateObject();
	arr = cJSON_CreateArray();
	for (i = 0; i < n; i++) {
		cJSON *r = worker_upload_json(&ups[i]), *f;
		const char *source = ups[i].filename;

		cJSON_ArrayForEach(f, files)
		{
			const char *fn = cJSON_GetStringValue(
			    cJSON_GetObjectItemCaseSensitive(f, "filename"));
			const char *src = cJSON_GetStringValue(
			    cJSON_GetObjectItemCaseSensitive(f, "source"));

			if (fn != NULL && src != NULL && strcmp(fn, ups[i].filename) == 0)
				source = src;
		}
		/* Untried, or recorded without a word (a message alone was
		 * an error). */
		outcome = ups[i].outcome != OUT_NONE ? outcome_name(ups[i].outcome)
			  : ups[i].answer[0] != '\0' ? outcome_name(OUT_ERROR)
						     : "not-attempted";
		all_exist &= ups[i].outcome == OUT_EXISTS;
		cJSON_AddStringToObject(r, "file", source);
		cJSON_AddStringToObject(r, "outcome", outcome);
		cJSON_AddStringToObject(r, "message", ups[i].answer);
		/* the old name of "state", kept for one release */
		cJSON_AddStringToObject(r, "upload_state",
					upload_state_name(ups[i].state));
		cJSON_AddItemToArray(arr, r);
	}
	if (job.state == JOB_SUCCEEDED)
		outcome = outcome_name(all_exist && n > 0 ? OUT_EXISTS : OUT_PUBLISHED);
	else if (job.state == JOB_DEAD)
		outcome = outcome_name(job.outcome != OUT_NONE ? job.outcome : OUT_ERROR);
	else
		outcome = job_state_name(job.state);
	cJSON_AddBoolToObject(o, "ok", job.state == JOB_SUCCEEDED);
	cJSON_AddStringToObject(o, "outcome", outcome);
	cJSON_AddNumberToObject(o, "job_id", (double)job.id);
	cJSON_AddStringToObject(o, "state", job_state_name(job.state));
	cJSON_AddStringToObject(o, "registry", job.registry);
	cJSON_AddNumberToObject(o, "attempts", job.attempts);
	if (job.state != JOB_SUCCEEDED && job.last_error[0] != '\0')
		cJSON_AddStringToObject(
		    o, "error",
		    outcome_text(job.outcome, job.last_error, error, sizeof(error)));
	cJSON_AddItemToObject(o, "results", arr);
	cJSON_Delete(doc);
	return o;
}

void worker_stop_job(struct worker *w, int64_t id)
{
	struct run *r;

	for (r = w->runs; r != NULL; r = r->next) {
		if (r->job.id != id)
			continue;
		log_notice("job %" PRId64 ": stopping its upload (canceled)", id);
		r->fenced = true;
		if (r->op != NULL) {
			w->io->publish_abort(r->op);
			r->op = NULL;
		}
		worker__run_free(r);
		return;
	}
}
