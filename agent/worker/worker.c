/* worker.c - running queued publish jobs.
 *
 * A tick claims due jobs up to the limits and starts one publish per job.
 * While a job runs, a heartbeat timer extends its lease; an upload is
 * marked SENDING before its first byte and DONE once the registry holds
 * it, so a crash leaves either "not sent" (PENDING), "sent, outcome
 * unknown" (SENDING: the registry is asked before any resend) or DONE
 * (never repeated).  Every write is fenced by the lease: a worker that lost
 * its job stops.
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

#include "backoff.h"
#include "err.h"
#include "base/log.h"
#include "config/config.h"
#include "publish/publish.h"
#include "queue/queue.h"
#include "session/session.h"
#include "worker/worker.h"
#include "worker_internal.h"

#define TICK_MS 1000	   /* look for due jobs at least this often */
#define VAULT_WAIT_MS 5000 /* a job waiting for a token looks again after */

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

void worker__qlog(struct worker *w, int64_t id, const char *fmt, ...)
{
	char text[JOB_TEXT_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	w->q->ops->log(w->q, id, text, worker__now(w));
}

/* ---- ending a run -------------------------------------------------------- */

static void run_closed(uv_handle_t *h)
{
	struct run *r = h->data;

	worker__files_clear(r);
	job_clear(&r->job);
	free(r);
}

void worker__run_free(struct run *r)
{
	struct worker *w = r->w;
	struct run **p;

	if (r->pl != NULL)
		worker__pipeline_abort(r);

	for (p = &w->runs; *p != NULL; p = &(*p)->next) {
		if (*p == r) {
			*p = r->next;
			w->nruns--;
			break;
		}
	}
	uv_timer_stop(&r->heartbeat);
	uv_close((uv_handle_t *)&r->heartbeat, run_closed);
	if (!w->closing)
		worker_kick(w);
}

/* A succeeded job's spool copies are no longer needed (a dead one keeps
 * them for `job retry`). */
static void remove_spool(struct run *r)
{
	struct worker_spool_use use = {0};

	worker_spool_files(&r->job, (*r->w->env.pub.cfg)->queue.spool_dir, false, &use);
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

void worker__settle(struct run *r, enum job_state st, int64_t next_run,
		    enum pub_outcome out, const char *error)
{
	struct worker *w = r->w;
	char text[JOB_TEXT_MAX];
	struct log_fields lf;
	int rc;

	job_log_fields(&r->job, &lf);
	rc = w->q->ops->finish(w->q, r->job.id, r->job.fence, st, next_run, out, error,
			       worker__now(w));
	if (rc == AOS_EFENCED)
		log_msg_f(LOG_LVL_WARNING, &lf,
			  "job %" PRId64 ": lease lost before it could "
			  "be recorded as %s; its new owner decides",
			  r->job.id, job_state_name(st));
	else if (rc < 0)
		log_msg_f(LOG_LVL_ERR, &lf, "job %" PRId64 ": cannot record its end: %s",
			  r->job.id, aos_strerror(rc));
	else if (st == JOB_SUCCEEDED)
		log_msg_f(LOG_LVL_NOTICE, &lf, "job %" PRId64 " succeeded", r->job.id);
	if (rc == 0 && st == JOB_SUCCEEDED)
		remove_spool(r);
	else
		log_msg_f(LOG_LVL_WARNING, &lf, "job %" PRId64 " %s: %s", r->job.id,
			  job_state_name(st),
			  outcome_text(out, error, text, sizeof(text)));
	if (rc == 0 && w->env.hooks.job_changed != NULL)
		w->env.hooks.job_changed(w->env.hooks.data, r->job.id);
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

static int hook_sending(void *data, size_t i)
{
	struct run *r = data;
	struct worker *w = r->w;
	int rc;

	if (r->sends[i]++ == 0)
		r->send_ms[i] = uv_now(w->env.pub.loop);
	rc = w->q->ops->upload_set(w->q, r->job.id, r->job.fence, r->names[i],
				   UPLOAD_SENDING, OUT_NONE, NULL, worker__now(w));
	r->sent[i] = rc == 0;
	if (rc < 0) {
		r->fenced = rc == AOS_EFENCED;
		log_warn("job %" PRId64 ": %s not sent: %s", r->job.id, r->names[i],
			 rc == AOS_EFENCED ? "the lease was lost" : aos_strerror(rc));
		return rc;
	}
	return 0;
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
	if (w->q->ops->upload_set(w->q, r->job.id, r->job.fence, r->names[i], st, out,
				  message, worker__now(w)) == AOS_EFENCED)
		r->fenced = true;
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
			/* A pipeline goes on with its next target. */
			if (r->pl != NULL && worker__pipeline_continue(r))
				return;
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

/* ---- starting a run ---------------------------------------------------------- */

void worker__heartbeat(uv_timer_t *t)
{
	struct run *r = t->data;
	struct worker *w = r->w;
	int64_t lease = worker__cfg(w)->queue.lease_s * 1000;

	int rc =
	    w->q->ops->heartbeat(w->q, r->job.id, r->job.fence, worker__now(w), lease);

	if (rc == 0)
		return;
	if (rc != AOS_EFENCED) {
		/* A busy or failing database: try again at the next beat. */
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
		r->files[i] = r->names[i] = r->sources[i] = r->records[i] = NULL;
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
	if (w->env.hooks.claims_held != NULL &&
	    w->env.hooks.claims_held(w->env.hooks.data))
		return; /* kicked when the commit ends */
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
	w->env = *env;
	w->q = q;
	gethostname(host, sizeof(host) - 1);
	snprintf(w->owner, sizeof(w->owner), "%s:%d", host, (int)getpid());
	uv_timer_init(env->pub.loop, &w->tick);
	w->tick.data = w;
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

static void tick_closed(uv_handle_t *h)
{
	free(h->data);
}

void worker_close(struct worker *w)
{
	if (w == NULL)
		return;
	w->closing = true;
	worker_abort_all(w, "daemon stopping");
	uv_timer_stop(&w->tick);
	uv_close((uv_handle_t *)&w->tick, tick_closed);
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
