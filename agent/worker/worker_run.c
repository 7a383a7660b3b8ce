/* worker_run.c - one run of a job, whatever its kind: its publish and the
 * publish's hooks (each upload's state recorded, fenced by the lease; a
 * file is sent only once its SENDING mark is committed), the lease's
 * heartbeat, the job's log lines, and its end (settled in the queue, with
 * backoff for a failed attempt; then freed).  Each queue call is a post
 * that goes on from its completion (worker_internal.h).  worker.c (the
 * tick) and worker_pipeline.c (a pipeline's build and targets) call this
 * file; it calls neither back by name: a pipeline's part goes through
 * r->pl_ops and the next tick through w->kick (worker_internal.h). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/log.h"
#include "common/backoff.h"
#include "common/err.h"
#include "config/config.h"
#include "publish/publish.h"
#include "queue/queue.h"
#include "queue/queue_async.h"
#include "session/session.h"
#include "worker/worker.h"
#include "worker_internal.h"

#define VAULT_WAIT_MS 5000 /* a job waiting for a token looks again after */

struct worker_job_post *worker__job_post(struct worker *w, int64_t id, const char *what)
{
	struct worker_job_post *p = malloc(sizeof(*p));

	if (p != NULL)
		*p = (struct worker_job_post){.w = w, .id = id, .what = what};
	return p;
}

void worker__job_written(struct queue_async_result *res, void *data)
{
	struct worker_job_post *p = data;
	struct worker *w = p->w;

	if (res->rc == 0)
		worker__logged(w, p->id); /* on the loop, after the commit */
	else if (p->what != NULL)
		log_warn("job %" PRId64 ": cannot record %s: %s", p->id, p->what,
			 aos_strerror(res->rc));
	free(p);
	worker__completed(w);
}

void worker__qlog(struct worker *w, int64_t id, const char *fmt, ...)
{
	struct worker_job_post *p = worker__job_post(w, id, NULL);
	char text[JOB_TEXT_MAX];
	va_list ap;

	if (p == NULL)
		return; /* a line lost, as a failing write loses it */
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (queue_async_log(w->qa, id, text, worker__now(w), worker__job_written, p) < 0)
		free(p);
	else
		worker__posted(w);
}

/* ---- ending a run -------------------------------------------------------- */

void worker__run_hold(struct run *r)
{
	r->refs++;
}

void worker__run_drop(struct run *r)
{
	if (--r->refs > 0)
		return;
	worker__files_clear(r);
	job_clear(&r->job);
	free(r);
}

static void run_closed(uv_handle_t *h)
{
	worker__run_drop(h->data);
}

void worker__run_free(struct run *r)
{
	struct worker *w = r->w;
	struct run **p;

	if (r->pl != NULL)
		r->pl_ops->abort(r);

	for (p = &w->runs; *p != NULL; p = &(*p)->next) {
		if (*p == r) {
			*p = r->next;
			w->nruns--;
			break;
		}
	}
	r->gone = true;
	uv_timer_stop(&r->heartbeat);
	uv_close((uv_handle_t *)&r->heartbeat, run_closed);
	if (!w->closing && !r->settled)
		w->kick(w); /* else the finish's completion kicks */
}

static void files_removed(struct queue_async_result *res, void *data)
{
	struct worker *w = data;

	if (res->rc < 0 && res->rc != AOS_ENOTFOUND)
		log_info("cannot remove the files of a succeeded job from the queue's "
			 "database (%s): they go when the job is pruned",
			 aos_strerror(res->rc));
	worker__completed(w);
}

/* A succeeded job's spool copies are no longer needed (a dead one keeps
 * them for `job retry`), nor, on PostgreSQL, its files in the database. */
static void remove_spool(struct worker *w, const struct job *job)
{
	struct worker_spool_use use = {0};

	worker_spool_files(job, worker__cfg(w)->queue.spool_dir, false, &use);
	if (worker__cfg(w)->queue.backend == QUEUE_BACKEND_POSTGRESQL &&
	    queue_async_files_remove(w->qa, job->id, files_removed, w) == 0)
		worker__posted(w);
}

/* The journal's fields of job j's lines: JOB_ID, and its registry (a
 * publish) or pipeline (the name in "pipeline:NAME"). */
static void job_log_fields(const struct job *j, struct log_fields *ret)
{
	*ret = (struct log_fields){.job_id = j->id};
	if (j->kind == JOB_PIPELINE && strncmp(j->registry, "pipeline:", 9) == 0)
		ret->pipeline = j->registry + 9;
	else if (j->kind == JOB_PUBLISH)
		ret->registry = j->registry;
}

/* What follows job's finish (rc its result): the log lines, the spool of
 * a success, the hook. */
static void end_recorded(struct worker *w, const struct job *job, enum job_state st,
			 enum pub_outcome out, const char *error, int rc)
{
	char text[JOB_TEXT_MAX];
	struct log_fields lf;

	job_log_fields(job, &lf);
	if (rc == AOS_EFENCED)
		log_msg_f(LOG_LVL_WARNING, &lf,
			  "job %" PRId64 ": lease lost before it could "
			  "be recorded as %s; its new owner decides",
			  job->id, job_state_name(st));
	else if (rc < 0)
		log_msg_f(LOG_LVL_ERR, &lf, "job %" PRId64 ": cannot record its end: %s",
			  job->id, aos_strerror(rc));
	else if (st == JOB_SUCCEEDED)
		log_msg_f(LOG_LVL_NOTICE, &lf, "job %" PRId64 " succeeded", job->id);
	if (rc == 0 && st == JOB_SUCCEEDED)
		remove_spool(w, job);
	else
		log_msg_f(LOG_LVL_WARNING, &lf, "job %" PRId64 " %s: %s", job->id,
			  job_state_name(st),
			  outcome_text(out, error, text, sizeof(text)));
	if (rc == 0)
		worker__logged(w, job->id);
	if (rc == 0 && w->env.hooks.job_changed != NULL)
		w->env.hooks.job_changed(w->env.hooks.data, job->id);
	if (!w->closing)
		w->kick(w); /* the finish is committed: the next job may start */
}

/* A finish was made (or given up). */
static void end_written(struct worker *w, struct worker_write *x, int rc)
{
	w->ending--;
	end_recorded(w, &x->job, x->st, x->out, x->has_text ? x->text : NULL, rc);
}

void worker__settle(struct run *r, enum job_state st, int64_t next_run,
		    enum pub_outcome out, const char *error)
{
	struct worker *w = r->w;
	struct worker_write x = {.op = WORKER_WRITE_FINISH,
				 .job = r->job,
				 .now_ms = worker__now(w),
				 .st = st,
				 .next_run = next_run,
				 .out = out,
				 .has_text = error != NULL,
				 .done = end_written};
	int rc;

	if (error != NULL)
		snprintf(x.text, sizeof(x.text), "%s", error);
	rc = worker__write(w, &x);
	if (rc < 0) {
		end_recorded(w, &r->job, st, out, error, rc);
		return;
	}
	w->ending++;
	r->settled = true;
}

/* A failed attempt: retry later with backoff, or dead when out of tries. */
void worker__settle_retry(struct run *r, long retry_after_s, enum pub_outcome out,
			  const char *error)
{
	const struct queue_cfg *qc = &worker__cfg(r->w)->queue;
	uint64_t delay;
	char msg[JOB_TEXT_MAX];

	if (r->job.attempts >= r->job.max_attempts) {
		snprintf(msg, sizeof(msg), "%s (out of attempts: %d)", error,
			 r->job.attempts);
		worker__settle(r, JOB_DEAD, 0, out, msg);
		return;
	}
	delay =
	    backoff_delay_ms((unsigned)(r->job.attempts > 0 ? r->job.attempts - 1 : 0),
			     (uint64_t)qc->backoff_min_ms, (uint64_t)qc->backoff_max_ms,
			     r->w->io->rnd, NULL);
	if (retry_after_s >= 0 && (uint64_t)retry_after_s * 1000 > delay)
		delay = (uint64_t)retry_after_s * 1000;
	snprintf(msg, sizeof(msg), "%s (next try in %.1f s)", error,
		 (double)delay / 1000.0);
	worker__settle(r, JOB_FAILED, worker__now(r->w) + (int64_t)delay, out, msg);
}

/* ---- publish hooks --------------------------------------------------------- */

static void sending_refused(struct run *r, size_t i, int rc)
{
	r->fenced = rc == AOS_EFENCED;
	log_warn("job %" PRId64 ": %s not sent: %s", r->job.id, r->names[i],
		 rc == AOS_EFENCED ? "the lease was lost" : aos_strerror(rc));
}

/* The SENDING mark of file x->file is committed (or refused): only now may
 * its first byte go. */
static void sending_written(struct worker *w, struct worker_write *x, int rc)
{
	struct run *r = x->run;

	if (!r->gone && r->op != NULL) {
		/* once a mark committed, the store says SENDING: a later
		 * refusal (a retry's mark) leaves it so */
		r->sent[x->file] = r->sent[x->file] || rc == 0;
		if (rc < 0)
			sending_refused(r, x->file, rc);
		w->io->publish_send_ready(r->op, rc);
	}
	worker__run_drop(r);
}

/* File i is about to be sent: its SENDING mark is posted, and the send
 * waits for its completion (an upload found SENDING after a crash is
 * asked about before any resend, so the mark must be in the store before
 * the first byte).  Not tried again after -EBUSY: refused, the file is not
 * sent in this attempt. */
static int hook_sending(void *data, size_t i)
{
	struct run *r = data;
	struct worker *w = r->w;
	struct worker_write x = {.op = WORKER_WRITE_UPLOAD,
				 .job = r->job,
				 .run = r,
				 .file = i,
				 .once = true,
				 .now_ms = worker__now(w),
				 .ust = UPLOAD_SENDING,
				 .out = OUT_NONE,
				 .done = sending_written};
	int rc;

	if (r->sends[i]++ == 0)
		r->send_ms[i] = uv_now(w->env.pub.loop);
	x.job.inputs = NULL;
	snprintf(x.name, sizeof(x.name), "%s", r->names[i]);
	rc = worker__write(w, &x);
	if (rc < 0) {
		r->sent[i] = false;
		sending_refused(r, i, rc);
		return rc;
	}
	worker__run_hold(r);
	return PUBLISH_SEND_LATER;
}

/* Tells the hooks how file i's upload went. */
static void report_upload(struct run *r, size_t i, enum pub_outcome out)
{
	const struct worker_hooks *h = &r->w->env.hooks;
	struct worker_upload_stat u = {
	    .registry = r->registry, .outcome = out, .sends = r->sends[i], .seconds = -1};
	struct stat st;

	if (h->upload_done == NULL)
		return;
	if (r->sends[i] > 0)
		u.seconds = (double)(uv_now(r->w->env.pub.loop) - r->send_ms[i]) / 1000.0;
	if (out == OUT_PUBLISHED && stat(r->files[i], &st) == 0)
		u.bytes = (uint64_t)st.st_size;
	h->upload_done(h->data, &u);
}

/* Records file i's upload state (in order with the job's finish, tried
 * again when the queue answers busy: worker__write); a failure is
 * logged. */
static void record_upload(struct run *r, size_t i, enum upload_state st,
			  enum pub_outcome out, const char *message)
{
	struct worker_write x = {.op = WORKER_WRITE_UPLOAD,
				 .job = r->job,
				 .now_ms = worker__now(r->w),
				 .ust = st,
				 .out = out,
				 .has_text = message != NULL};
	int rc;

	x.job.inputs = NULL; /* an upload's done() needs no more than id and fence */
	snprintf(x.name, sizeof(x.name), "%s", r->names[i]);
	if (message != NULL)
		snprintf(x.text, sizeof(x.text), "%s", message);
	rc = worker__write(r->w, &x);
	if (rc < 0)
		log_warn("job %" PRId64 ": cannot record %s's state: %s", r->job.id,
			 x.name, aos_strerror(rc));
}

static void hook_file_done(void *data, size_t i, enum pub_outcome out,
			   const char *message)
{
	struct run *r = data;
	struct worker *w = r->w;
	enum upload_state st;
	char answer[JOB_TEXT_MAX];

	switch (out) {
	case OUT_PUBLISHED:
	case OUT_EXISTS: st = UPLOAD_DONE; break;
	case OUT_CONFLICT:
	case OUT_INVALID:
	case OUT_REJECTED: st = UPLOAD_FAILED; break;
	default:
		/* Retried later.  A send without a usable answer stays SENDING:
		 * the registry is asked before the next send. */
		st = r->sent[i] || r->probe[i] ? UPLOAD_SENDING : UPLOAD_PENDING;
		break;
	}
	{
		/* "published: published X (...)" says it twice: once will do. */
		const char *name = outcome_name(out);
		size_t n = strlen(name);

		if (strncmp(message, name, n) == 0 && message[n] == ' ')
			message += n + 1;
	}
	record_upload(r, i, st, out, message);
	worker__qlog(w, r->job.id, "%s",
		     outcome_text(out, message, answer, sizeof(answer)));
	report_upload(r, i, out);
}

static void hook_finished(void *data, enum pub_outcome out, const char *error,
			  long retry_after_s, const cJSON *answer)
{
	struct run *r = data;

	(void)answer; /* the job's answer is built from the queue */

	r->op = NULL; /* freed by publish.c after this returns */
	/* The outcome goes beside the message: clients tell failures apart
	 * by it. */
	if (error == NULL)
		error = "failed";
	if (r->fenced) {
		log_warn("job %" PRId64 ": stopped: its lease was lost", r->job.id);
	} else {
		switch (out) {
		case OUT_PUBLISHED:
		case OUT_EXISTS:
			/* A pipeline goes on with its next target (and ends the
			 * run itself). */
			if (r->pl != NULL) {
				r->pl_ops->target_done(r);
				return;
			}
			worker__settle(r, JOB_SUCCEEDED, 0, OUT_NONE, NULL);
			break;
		case OUT_CONFLICT:
		case OUT_INVALID:
		case OUT_REJECTED:
		case OUT_AUTH:
			/* Permanent: retrying cannot help until an operator acts
			 * (a refused token was already refreshed from Vault once). */
			worker__settle(r, JOB_DEAD, 0, out, error);
			break;
		default: worker__settle_retry(r, retry_after_s, out, error); break;
		}
	}
	worker__run_free(r);
}

static void hook_event(void *data, const cJSON *ev)
{
	struct run *r = data;
	const struct worker_hooks *h = &r->w->env.hooks;
	const char *file =
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, "file"));
	cJSON *copy;
	size_t i;

	if (h->job_event == NULL)
		return;
	copy = cJSON_Duplicate(ev, true);
	if (copy == NULL)
		return;
	/* Show the client its own path, not the spool's copy. */
	for (i = 0; file != NULL && i < r->nfiles; i++)
		if (strcmp(file, r->files[i]) == 0)
			cJSON_ReplaceItemInObjectCaseSensitive(
			    copy, "file", cJSON_CreateString(r->sources[i]));
	h->job_event(h->data, r->job.id, copy);
	cJSON_Delete(copy);
}

static const struct publish_hooks hooks_template = {
    .sending = hook_sending,
    .file_done = hook_file_done,
    .finished = hook_finished,
    .event = hook_event,
};

/* The heartbeat's answer, r still running. */
static void beat_answered(struct run *r, int rc)
{
	struct worker *w = r->w;

	if (rc == 0)
		return;
	if (rc == -EBUSY && !w->closing) {
		/* Another process's or host's lock, or the queue_async is
		 * full: try again soon, then beat as before (the lease bounds
		 * the tries). */
		uv_timer_start(&r->heartbeat, worker__heartbeat, w->later_ms,
			       uv_timer_get_repeat(&r->heartbeat));
		return;
	}
	if (rc != AOS_EFENCED) {
		/* A failing database: try again at the next beat. */
		log_warn_r(rc, "job %" PRId64 ": cannot renew its lease", r->job.id);
		return;
	}
	/* Canceled by the operator, or the lease expired and another worker
	 * took the job: stop at once. */
	log_warn("job %" PRId64 ": lease lost (canceled or taken over); stopping it",
		 r->job.id);
	r->fenced = true;
	uv_timer_stop(&r->heartbeat);
	if (r->op != NULL) {
		w->io->publish_abort(r->op);
		r->op = NULL;
	}
	worker__run_free(r);
}

static void beat_done(struct queue_async_result *res, void *data)
{
	struct run *r = data;
	struct worker *w = r->w;

	r->hb_out = false;
	if (!r->gone)
		beat_answered(r, res->rc);
	worker__run_drop(r);
	worker__completed(w);
}

void worker__heartbeat(uv_timer_t *t)
{
	struct run *r = t->data;
	struct worker *w = r->w;
	int64_t lease = worker__cfg(w)->queue.lease_s * 1000;
	int rc;

	if (r->hb_out)
		return; /* one out at a time; the next beat follows its answer */
	rc = queue_async_heartbeat(w->qa, r->job.id, r->job.fence, worker__now(w), lease,
				   beat_done, r);
	if (rc < 0) {
		beat_answered(r, rc); /* -EBUSY: the queue_async is full */
		return;
	}
	r->hb_out = true;
	worker__run_hold(r);
	worker__posted(w);
}

char *worker__record_of(const cJSON *file)
{
	const cJSON *rec = cJSON_GetObjectItemCaseSensitive(file, "artifact");

	return cJSON_IsObject(rec) ? cJSON_PrintUnformatted(rec) : NULL;
}

void worker__files_clear(struct run *r)
{
	size_t i;

	for (i = 0; i < r->nfiles; i++) {
		free(r->files[i]);
		free(r->names[i]);
		free(r->sources[i]);
		free(r->records[i]);
		free(r->dbnames[i]);
		r->files[i] = r->names[i] = r->sources[i] = r->records[i] = NULL;
		r->dbnames[i] = NULL;
		r->probe[i] = r->sent[i] = false;
		r->sends[i] = 0;
	}
	r->nfiles = 0;
}

int worker__publish(struct run *r, const char *registry,
		    const struct worker_tag_rule *rule, const char *version)
{
	struct worker *w = r->w;
	const struct registry_cfg *reg = config_registry(worker__cfg(w), registry);
	struct publish_request req = {0};
	struct publish_hooks hooks = hooks_template;
	struct secret *tok;
	const char *verr;
	char msg[1024];

	if (reg == NULL) {
		snprintf(msg, sizeof(msg),
			 "registry %s is no longer in the configuration", registry);
		worker__settle(r, JOB_DEAD, 0, OUT_NONE, msg);
		return -ENOENT;
	}
	tok = store_get(session_store(w->env.pub.session), reg->token_key);
	verr = session_last_error(w->env.pub.session);
	if (tok == NULL && session_loaded(w->env.pub.session) && verr == NULL) {
		/* Vault answers, but the secret lacks the key. */
		snprintf(
		    msg, sizeof(msg),
		    "no token for registry %s: key %s is not in "
		    "the Vault secret; add it with rotate_secret.sh, then `aos-publishctl "
		    "job retry %" PRId64 "`",
		    reg->name, reg->token_key, r->job.id);
		worker__settle(r, JOB_DEAD, 0, OUT_AUTH, msg);
		return -ENOENT;
	}
	if (tok == NULL) {
		/* No usable token (Vault down at start, or the key missing):
		 * wait without spending an attempt. */
		snprintf(msg, sizeof(msg),
			 "waiting for a token: %s is not loaded from Vault%s%s",
			 reg->token_key, verr != NULL ? ": " : "",
			 verr != NULL ? verr : "");
		worker__settle(r, JOB_QUEUED, worker__now(w) + VAULT_WAIT_MS, OUT_NONE,
			       msg);
		return -EAGAIN;
	}
	secret_unref(tok);
	snprintf(r->registry, sizeof(r->registry), "%s", registry);
	req.registry = registry;
	req.tag = rule->tag;
	req.tag_given_by = rule->given_by;
	req.prerelease_tag = rule->prerelease;
	req.expected_version = version;
	req.files = (const char *const *)r->files;
	req.records = (const char *const *)r->records;
	req.probe_first = r->probe;
	req.nfiles = r->nfiles;
	req.max_attempts =
	    0; /* publish.max_attempts quick tries; then the queue's backoff */
	hooks.data = r;
	req.hooks = &hooks;
	if (w->io->publish_start(&w->env.pub, &req, &r->op, msg, sizeof(msg)) < 0) {
		worker__settle_retry(r, -1, OUT_NONE, msg);
		return -EIO;
	}
	if (!uv_is_active((uv_handle_t *)&r->heartbeat))
		uv_timer_start(&r->heartbeat, worker__heartbeat,
			       (uint64_t)worker__cfg(w)->queue.lease_s * 1000 / 3,
			       (uint64_t)worker__cfg(w)->queue.lease_s * 1000 / 3);
	return 0;
}
