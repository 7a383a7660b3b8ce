/* worker.c - running queued publish jobs.
 *
 * A tick claims due jobs up to the limits and starts one publish per job.
 * While a job runs, a heartbeat timer extends its lease; an upload is
 * marked SENDING before its first byte and DONE once the registry holds
 * it, so a crash leaves either "not sent" (PENDING), "sent, outcome
 * unknown" (SENDING: the registry is asked before any resend) or DONE
 * (never repeated).  Every write is fenced by the lease: a worker that lost
 * its job stops.  A run's publish, heartbeat and end are in worker_run.c,
 * a pipeline job's build and targets in worker_pipeline.c.
 */
#include <errno.h>
#include <fcntl.h>
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
};

/* ---- starting a run ---------------------------------------------------------- */

/* Reads the job's inputs: the spooled files still to send, tag, version. */
static int load_inputs(struct run *r, const char **tag, const char **version,
		       cJSON **ret_doc, char *msg, size_t msglen)
{
	struct job_upload *ups;
	cJSON *doc, *files, *f;
	int n, i;

	doc = cJSON_Parse(r->job.inputs);
	files = cJSON_GetObjectItemCaseSensitive(doc, "files");
	if (!cJSON_IsArray(files)) {
		snprintf(msg, msglen, "job inputs are not valid");
		cJSON_Delete(doc);
		return -EINVAL;
	}
	n = queue_uploads_all(r->w->q, r->job.id, &ups);
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
	free(ups);
	*tag = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "tag"));
	*version = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(doc, "version"));
	*ret_doc = doc;
	return 0;
}

static void start_run(struct worker *w, struct job *job)
{
	struct run *r = calloc(1, sizeof(*r));
	const char *tag = NULL, *version = NULL;
	cJSON *doc = NULL;
	char msg[1024];
	int rc;

	if (r == NULL) {
		w->q->ops->finish(w->q, job->id, job->fence, JOB_QUEUED,
				  worker__now(w) + 1000, OUT_NONE, "out of memory",
				  worker__now(w));
		job_clear(job);
		return;
	}
	r->w = w;
	r->job = *job; /* takes job->inputs */
	job->inputs = NULL;
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
		goto out;
	}
	rc = load_inputs(r, &tag, &version, &doc, msg, sizeof(msg));
	if (rc < 0) {
		if (rc == -EINVAL)
			worker__settle(r, JOB_DEAD, 0, OUT_NONE, msg);
		else
			worker__settle_retry(r, -1, OUT_ERROR, msg);
		goto out;
	}
	if (r->nfiles == 0) {
		worker__settle(r, JOB_SUCCEEDED, 0, OUT_NONE, NULL);
		goto out;
	}
	{
		struct worker_tag_rule rule = {.tag = tag, .given_by = "--tag"};

		if (worker__publish(r, r->job.registry, &rule, version) < 0)
			goto out;
	}
	cJSON_Delete(doc);
	return;
out:
	cJSON_Delete(doc);
	worker__run_free(r);
}

static void tick_cb(uv_timer_t *t)
{
	struct worker *w = t->data;
	const struct queue_cfg *qc = &worker__cfg(w)->queue;
	struct job jobs[16];
	size_t room;
	int n, i;

	if (w->draining || w->closing || w->nruns >= (size_t)qc->max_running ||
	    !session_loaded(w->env.pub.session))
		return; /* no token yet: jobs wait (job show says why) */
	if (w->env.sandbox != NULL && !w->env.sandbox->probed)
		return; /* the start's sandbox probe is still running */
	/* Skipped while another connection commits (kicked when the commit
	 * ends), but never twice in a row: a steady stream of commits must
	 * not starve the claims.  The claim may then wait for one commit. */
	if (!w->held_last && w->env.hooks.claims_held != NULL &&
	    w->env.hooks.claims_held(w->env.hooks.data)) {
		w->held_last = true;
		return;
	}
	w->held_last = false;
	room = (size_t)qc->max_running - w->nruns;
	if (room > 16)
		room = 16;
	n = w->q->ops->claim(w->q, w->owner, worker__now(w), qc->lease_s * 1000,
			     (int)qc->per_registry_limit, jobs, room);
	if (n < 0) {
		log_warn_r(n, "cannot claim jobs from the queue");
		return;
	}
	for (i = 0; i < n; i++)
		start_run(w, &jobs[i]);
}

/* ---- public -------------------------------------------------------------- */

static void drain_marker(const struct worker *w, char *path, size_t len)
{
	snprintf(path, len, "%s/draining", worker__cfg(w)->state_dir);
}

int worker_new(const struct worker_env *env, struct queue *q, struct worker **ret)
{
	struct worker *w = calloc(1, sizeof(*w));
	char host[64] = "localhost", path[4200];

	if (w == NULL)
		return -ENOMEM;
	w->io = &worker__default_io;
	w->kick = worker_kick;
	w->env = *env;
	w->q = q;
	gethostname(host, sizeof(host) - 1);
	snprintf(w->owner, sizeof(w->owner), "%s:%d", host, (int)getpid());
	uv_timer_init(env->pub.loop, &w->tick);
	w->tick.data = w;
	uv_timer_init(env->pub.loop, &w->later_timer);
	w->later_timer.data = w;
	w->later_ms = WORKER_WRITE_RETRY_MS;
	w->handles = 2;
	drain_marker(w, path, sizeof(path));
	if (access(path, F_OK) == 0) {
		log_notice(
		    "the queue was drained before this start (%s): no job starts until "
		    "`aos-publishctl resume`",
		    path);
		w->draining = true;
	}
	uv_timer_start(&w->tick, tick_cb, 0, TICK_MS);
	*ret = w;
	return 0;
}

void worker_kick(struct worker *w)
{
	if (!w->closing && !w->draining)
		uv_timer_start(&w->tick, tick_cb, 0, TICK_MS);
}

void worker_set_draining(struct worker *w, bool drain)
{
	if (w->draining != drain)
		log_notice("queue %s", drain ? "draining: no new jobs start" : "resumed");
	w->draining = drain;
	if (!drain)
		worker_kick(w);
}

void worker_operator_drain(struct worker *w, bool drain)
{
	char path[4200];
	int fd;

	drain_marker(w, path, sizeof(path));
	if (drain) {
		fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			log_warn("cannot write %s: the drain ends at a restart", path);
		else
			close(fd);
	} else if (unlink(path) < 0 && errno != ENOENT) {
		log_warn("cannot remove %s: a restart would drain again", path);
	}
	worker_set_draining(w, drain);
}

bool worker_draining(const struct worker *w)
{
	return w->draining;
}

size_t worker_running(const struct worker *w)
{
	return w->nruns;
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

	if (--w->handles == 0)
		free(w);
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

	cJSON_AddBoolToObject(o, "draining", w->draining);
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

cJSON *worker_job_answer(struct worker *w, int64_t id)
{
	struct job_upload *ups;
	struct job job = {0};
	cJSON *o, *arr, *doc, *files;
	const char *outcome;
	char error[JOB_TEXT_MAX];
	bool all_exist = true;
	int n, i;

	if (w->q->ops->get(w->q, id, &job) < 0)
		return NULL;
	n = queue_uploads_all(w->q, id, &ups);
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
	cJSON_AddNumberToObject(o, "job_id", (double)id);
	cJSON_AddStringToObject(o, "state", job_state_name(job.state));
	cJSON_AddStringToObject(o, "registry", job.registry);
	cJSON_AddNumberToObject(o, "attempts", job.attempts);
	if (job.state != JOB_SUCCEEDED && job.last_error[0] != '\0')
		cJSON_AddStringToObject(
		    o, "error",
		    outcome_text(job.outcome, job.last_error, error, sizeof(error)));
	cJSON_AddItemToObject(o, "results", arr);
	free(ups);
	cJSON_Delete(doc);
	job_clear(&job);
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
