/* publish.c - one publish request: inspect, then upload file by file.
 *
 * Files are inspected together first, so an invalid file stops the request
 * before anything is sent.  Uploads then go one at a time, in order; the
 * first file that fails stops the rest.  Answers are settled as answer.h
 * classifies them: "exists" is checked against the registry's own digest,
 * "auth" refreshes the secret and retries once if a newer token arrived,
 * "retry" backs off (at least the registry's Retry-After).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/log.h"
#include "base/transport.h"
#include "common/backoff.h"
#include "common/err.h"
#include "config/config.h"
#include "publish/publish.h"
#include "publishers/answer.h"
#include "publishers/artifact.h"
#include "publishers/artifact_fit.h"
#include "publishers/npm.h"
#include "publishers/npm_pubcfg.h"
#include "publishers/pub_err.h"
#include "publishers/pypi.h"
#include "publishers/pypi_token.h"
#include "publishers/registry.h"
#include "publish_internal.h"

#define PROGRESS_EVERY_MS 200
#define UPLOAD_BUFFER (256 * 1024) /* curl's upload buffer: one read per fill */

const char *publish_outcome_name(enum pub_outcome out)
{
	return outcome_name(out);
}

static void start_file(struct publish_op *op);
static void finish_all(struct publish_op *op);
static void publish_timer_cb(uv_timer_t *t);
static void publish_upload(struct publish_op *op);
static void publish_retry(struct publish_op *op, long retry_after_s, const char *why);
static void publish_file_done(struct publish_op *op, enum pub_outcome out,
			      const char *msg);

/* How the reads and checks of the other files go on (publish_internal.h). */
static const struct publish_flow flow = {
    .upload = publish_upload,
    .retry = publish_retry,
    .file_done = publish_file_done,
};
static void file_done(struct publish_op *op, enum pub_outcome out, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- life of an op ------------------------------------------------------ */

/* The client went away (or the job's worker stops): stop what runs; free
 * once nothing refers to op. */
void publish_abort(struct publish_op *op)
{
	op->canceled = true;
	memset(&op->hooks, 0, sizeof(op->hooks));
	log_warn("publish to %s canceled", op->reg_name);
	if (op->phase == PH_INSPECT)
		return; /* after_inspect() destroys it */
	if (op->phase == PH_REFRESH)
		session_cancel_waiter(op->env.session, &op->waiter);
	uv_timer_stop(&op->timer);
	if (op->req != NULL && op->phase != PH_IDLE && op->phase != PH_SEND_WAIT) {
		transport_cancel(op->req); /* its callback destroys op */
		return;
	}
	publish_op_destroy(op);
}

/* ---- events, through the hooks ------------------------------------------- */

static cJSON *event(const char *name, const struct pub_file *f)
{
	cJSON *ev = cJSON_CreateObject();

	cJSON_AddStringToObject(ev, "event", name);
	if (f != NULL)
		cJSON_AddStringToObject(ev, "file", f->label);
	return ev;
}

/* Appends to out (a conflict's message) what the operator can do: remove
 * the other file where the registry allows it, or release a new version.
 * docs/operations.md ("A conflict") has the steps. */
static void conflict_advice(const struct publish_op *op, const struct artifact *art,
			    char *out, size_t outlen)
{
	size_t n = strlen(out);
	bool post = art != NULL && strstr(art->version, ".post") != NULL;

	if (art == NULL || n + 1 >= outlen)
		return;
	if (op->type == REGISTRY_NPM)
		snprintf(out + n, outlen - n,
			 ". What to do: on a registry that allows it (verdaccio), remove "
			 "that version (npm unpublish %s@%s --registry %s) and retry the "
			 "job (aos-publishctl job retry ID); npmjs never takes a version "
			 "twice: release a new patch version",
			 art->name, art->version, op->url);
	else
		snprintf(out + n, outlen - n,
			 ". What to do: on a registry that allows it, delete the file "
			 "there (pypiserver: %s from its package folder; devpi: devpi "
			 "remove --force %s==%s) and retry the job (aos-publishctl job "
			 "retry ID); PyPI never takes a file name twice: release a "
			 "post-release (%s%s%s)",
			 art->filename, art->name, art->version,
			 post ? "a higher N than " : "", art->version,
			 post ? "" : ".post1");
}

static void file_done(struct publish_op *op, enum pub_outcome out, const char *fmt, ...)
{
	struct pub_file *f = &op->files[op->cur];
	cJSON *ev;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(f->message, sizeof(f->message), fmt, ap);
	va_end(ap);
	if (out == OUT_CONFLICT)
		conflict_advice(op, f->art, f->message, sizeof(f->message));
	f->outcome = out;
	op->phase = PH_IDLE;
	secret_unref(op->token);
	op->token = NULL;
	log_msg_f(out == OUT_DRY_RUN			      ? LOG_LVL_INFO
		  : out == OUT_PUBLISHED || out == OUT_EXISTS ? LOG_LVL_NOTICE
							      : LOG_LVL_WARNING,
		  &(struct log_fields){.registry = op->reg_name}, "%s: %s", op->reg_name,
		  f->message);
	ev = event("result", f);
	cJSON_AddStringToObject(ev, "outcome", outcome_name(out));
	cJSON_AddStringToObject(ev, "message", f->message);
	publish_send_event(op, ev);
	if (op->hooks.file_done != NULL)
		op->hooks.file_done(op->hooks.data, op->cur, out, f->message);
	if (out != OUT_PUBLISHED && out != OUT_EXISTS && out != OUT_DRY_RUN) {
		finish_all(op);
		return;
	}
	op->cur++;
	op->attempt = 0;
	op->auth_retried = false;
	if (op->cur == op->nfiles)
		finish_all(op);
	else
		start_file(op);
}

static void publish_file_done(struct publish_op *op, enum pub_outcome out,
			      const char *msg)
{
	file_done(op, out, "%s", msg);
}

static void finish_all(struct publish_op *op)
{
	enum pub_outcome overall = op->dry_run ? OUT_DRY_RUN : OUT_EXISTS;
	cJSON *o, *arr;
	const char *error = NULL;
	size_t i;

	for (i = 0; i < op->nfiles; i++) {
		const struct pub_file *f = &op->files[i];

		if (f->outcome == OUT_PUBLISHED && overall == OUT_EXISTS)
			overall = OUT_PUBLISHED;
		if (f->outcome != OUT_PUBLISHED && f->outcome != OUT_EXISTS &&
		    f->outcome != OUT_NONE && f->outcome != OUT_DRY_RUN &&
		    error == NULL) {
			overall = f->outcome;
			error = f->message;
		}
	}
	o = cJSON_CreateObject();
	cJSON_AddBoolToObject(o, "ok", error == NULL);
	cJSON_AddStringToObject(o, "outcome", outcome_name(overall));
	cJSON_AddStringToObject(o, "registry", op->reg_name);
	if (error != NULL)
		cJSON_AddStringToObject(o, "error", error);
	arr = cJSON_AddArrayToObject(o, "results");
	for (i = 0; i < op->nfiles; i++) {
		const struct pub_file *f = &op->files[i];
		cJSON *r = cJSON_CreateObject();

		cJSON_AddStringToObject(r, "file", f->label);
		cJSON_AddStringToObject(
		    r, "outcome",
		    f->outcome == OUT_NONE ? "not-attempted" : outcome_name(f->outcome));
		cJSON_AddStringToObject(r, "message", f->message);
		if (f->art != NULL)
			cJSON_AddStringToObject(r, "sha256", f->art->sha256);
		cJSON_AddItemToArray(arr, r);
	}
	if (op->hooks.finished != NULL)
		op->hooks.finished(op->hooks.data, overall, error, op->retry_after_s, o);
	cJSON_Delete(o);
	publish_op_destroy(op);
}

/* ---- inspection, on the thread pool -------------------------------------- */

static void inspect_work(uv_work_t *w)
{
	struct publish_op *op = w->data;
	struct artifact_options opts = {.expected_version = op->expected_version};
	size_t i;

	for (i = 0; i < op->nfiles; i++) {
		struct pub_file *f = &op->files[i];

		f->rc = -ENOENT;
		if (f->record != NULL) /* the spool's digests: no byte read */
			f->rc = artifact_from_record(f->path, f->record, &opts, &f->art,
						     f->message, sizeof(f->message));
		if (f->rc == -ENOENT)
			f->rc = artifact_inspect(f->path, &opts, &f->art, f->message,
						 sizeof(f->message));
	}
}

static void after_inspect(uv_work_t *w, int status)
{
	struct publish_op *op = w->data;
	bool invalid = false;
	size_t i;

	(void)status;
	op->phase = PH_IDLE;
	if (op->canceled) {
		publish_op_destroy(op);
		return;
	}
	for (i = 0; i < op->nfiles; i++) {
		struct pub_file *f = &op->files[i];
		cJSON *ev;

		if (f->rc == 0)
			f->rc =
			    artifact_check_fits(f->art->kind, f->label, op->reg_name,
						op->type, f->message, sizeof(f->message));
		if (f->rc == 0 && f->art->kind == ARTIFACT_NPM)
			f->rc = npm_pubcfg_access(f->art, op->url, op->access, &f->access,
						  f->message, sizeof(f->message));
		if (f->rc < 0) {
			f->outcome = OUT_INVALID;
			invalid = true;
			log_warn("%s: refusing a file: %s", op->reg_name, f->message);
			ev = event("result", f);
			cJSON_AddStringToObject(ev, "outcome", "invalid");
			cJSON_AddStringToObject(ev, "message", f->message);
			publish_send_event(op, ev);
			continue;
		}
		ev = event("inspected", f);
		cJSON_AddStringToObject(ev, "kind", artifact_kind_name(f->art->kind));
		cJSON_AddStringToObject(ev, "name", f->art->name);
		cJSON_AddStringToObject(ev, "version", f->art->version);
		cJSON_AddNumberToObject(ev, "size", (double)f->art->size);
		cJSON_AddStringToObject(ev, "sha256", f->art->sha256);
		if (f->art->kind == ARTIFACT_NPM)
			cJSON_AddStringToObject(ev, "integrity", f->art->sha512_sri);
		publish_send_event(op, ev);
	}
	if (invalid) {
		finish_all(op);
		return;
	}
	op->cur = 0;
	start_file(op);
}

/* ---- transfers ----------------------------------------------------------- */

static int xferinfo(void *data, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		    curl_off_t ulnow)
{
	struct publish_op *op = data;
	uint64_t now;
	cJSON *ev;

	(void)dltotal;
	(void)dlnow;
	if (op->canceled)
		return 1;
	now = uv_now(op->env.loop);
	if (op->hooks.event == NULL || ultotal <= 0 ||
	    (now - op->last_progress_ms < PROGRESS_EVERY_MS && ulnow < ultotal) ||
	    (op->last_sent == ulnow) ||
	    (op->hooks.behind != NULL && op->hooks.behind(op->hooks.data)))
		return 0;
	op->last_progress_ms = now;
	op->last_sent = ulnow;
	ev = event("progress", &op->files[op->cur]);
	cJSON_AddNumberToObject(ev, "sent", (double)ulnow);
	cJSON_AddNumberToObject(ev, "total", (double)ultotal);
	publish_send_event(op, ev);
	return 0;
}

/* Back off and try the current file again, or give up. */
static void publish_retry(struct publish_op *op, long retry_after_s, const char *why)
{
	struct pub_file *f = &op->files[op->cur];
	const struct publish_cfg *pc = &(*op->env.cfg)->publish;
	uint64_t delay;
	cJSON *ev;

	op->attempt++;
	op->retry_after_s = retry_after_s;
	if (op->attempt >= (unsigned)op->max_attempts) {
		file_done(op, OUT_UNAVAILABLE,
			  "%s: registry %s unavailable after %u "
			  "attempt%s: %s",
			  f->art->filename, op->reg_name, op->attempt,
			  op->attempt == 1 ? "" : "s", why);
		return;
	}
	delay = backoff_delay_ms(op->attempt - 1, (uint64_t)pc->backoff_min_ms,
				 (uint64_t)pc->backoff_max_ms, aos_rand_u64, NULL);
	if (retry_after_s >= 0 && (uint64_t)retry_after_s * 1000 > delay)
		delay = (uint64_t)retry_after_s * 1000;
	log_warn("%s: %s: %s; retrying in %.1f s (attempt %u of %ld)", op->reg_name,
		 f->art->filename, why, (double)delay / 1000.0, op->attempt + 1,
		 (long)op->max_attempts);
	ev = event("retry", f);
	cJSON_AddStringToObject(ev, "reason", why);
	cJSON_AddNumberToObject(ev, "in_s", (double)delay / 1000.0);
	cJSON_AddNumberToObject(ev, "attempt", op->attempt + 1);
	publish_send_event(op, ev);
	op->phase = PH_WAIT;
	uv_timer_start(&op->timer, publish_timer_cb, delay, 0);
}

static void publish_timer_cb(uv_timer_t *t)
{
	struct publish_op *op = t->data;

	op->phase = PH_IDLE;
	start_file(op);
}

static void auth_failed(struct publish_op *op, const char *vault_error)
{
	struct pub_file *f = &op->files[op->cur];

	file_done(op, OUT_AUTH,
		  "%s: registry %s refused the token from %s (version %" PRId64
		  ")%s%s: %s; put a valid token in Vault (rotate_secret.sh "
		  "package-registry %s)",
		  f->art->filename, op->reg_name, op->token_key, publish_key_version(op),
		  vault_error != NULL ? "; Vault could not be "
					"read: "
				      : "",
		  vault_error != NULL ? vault_error : "", op->auth_reason, op->token_key);
}

static void refresh_done(struct session_waiter *w, int result, const char *error)
{
	struct publish_op *op =
	    (struct publish_op *)((char *)w - offsetof(struct publish_op, waiter));
	int64_t version = publish_key_version(op);

	op->phase = PH_IDLE;
	if (result == 0 && version > op->key_version_before) {
		log_notice("%s: token %s rotated to version %" PRId64
			   "; retrying %s once",
			   op->reg_name, op->token_key, version,
			   op->files[op->cur].art->filename);
		start_file(op);
		return;
	}
	auth_failed(op,
		    result < 0 ? (error != NULL ? error : aos_strerror(result)) : NULL);
}

/* A PyPI token refused as scoped to other projects: says in why (len
 * bytes) which projects its macaroon names, when it names them. */
static void scoped_token_note(const struct publish_op *op, char *why, size_t len)
{
	char names[256];
	size_t n = strlen(why);
	int k;

	if (op->token == NULL)
		return;
	k = pypi_token_projects(secret_value(op->token), secret_len(op->token), names,
				sizeof(names));
	if (k > 0)
		snprintf(why + n, len - n, "; the token is for project%s %s",
			 k > 1 ? "s" : "", names);
}

/* Settles a registry answer for the current file. */
static void settle(struct publish_op *op, const struct answer *ans)
{
	struct pub_file *f = &op->files[op->cur];
	char why[ANSWER_MESSAGE_MAX + ANSWER_REASON_MAX + 16];

	snprintf(why, sizeof(why), "%s%s%s", ans->message, ans->reason[0] ? ": " : "",
		 ans->reason);
	if (ans->scoped_token)
		scoped_token_note(op, why, sizeof(why));
	switch (ans->kind) {
	case ANSWER_OK:
		file_done(op, OUT_PUBLISHED, "published %s (%s %s, sha256 %s%s%s)",
			  f->art->filename, f->art->name, f->art->version, f->art->sha256,
			  op->dist_tag != NULL ? ", dist-tag " : "",
			  op->dist_tag != NULL ? op->dist_tag : "");
		return;
	case ANSWER_EXISTS: publish_verify_exists(op); return;
	case ANSWER_CONFLICT:
		file_done(op, OUT_CONFLICT, "%s: %s", f->art->filename, why);
		return;
	case ANSWER_AUTH:
		if (op->auth_retried) {
			snprintf(op->auth_reason, sizeof(op->auth_reason), "%s", why);
			auth_failed(op, NULL);
			return;
		}
		op->auth_retried = true;
		snprintf(op->auth_reason, sizeof(op->auth_reason), "%s", why);
		if (publish_key_version(op) > op->key_version_before) {
			/* Another upload's refresh already brought a newer token. */
			log_notice("%s: token %s refused, but a newer version is loaded; "
				   "retrying %s once",
				   op->reg_name, op->token_key, f->art->filename);
			start_file(op);
			return;
		}
		log_warn("%s: token %s refused (%s); refreshing secrets from Vault",
			 op->reg_name, op->token_key, why);
		op->phase = PH_REFRESH;
		op->waiter.cb = refresh_done;
		session_refresh(op->env.session, &op->waiter);
		return;
	case ANSWER_RETRY: publish_retry(op, ans->retry_after, why); return;
	case ANSWER_TOO_LARGE:
	case ANSWER_PERMANENT:
		file_done(op, OUT_REJECTED, "%s: registry %s refused it: %s",
			  f->art->filename, op->reg_name, why);
		return;
	}
}

static void upload_done(struct transport_req *req, int result, void *data)
{
	struct publish_op *op = data;
	struct pub_file *f = &op->files[op->cur];
	struct answer_input in = {0};
	struct answer ans;
	const char *stop;

	op->phase = PH_IDLE;
	if (result == AOS_ECANCELED || op->canceled) {
		publish_op_destroy(op);
		return;
	}
	stop = op->pu != NULL ? pypi_upload_error(op->pu)
			      : npm_body_error(npm_publish_body(op->np));
	if (stop != NULL && stop[0] != '\0') {
		file_done(op, OUT_INVALID, "%s: upload stopped: %s", f->art->filename,
			  stop);
		return;
	}
	if (result < 0) {
		char why[CURL_ERROR_SIZE + 32];

		snprintf(why, sizeof(why), "no answer: %s", req->error);
		publish_retry(op, -1, why);
		return;
	}
	answer_input_from_curl(req->easy, &in);
	in.status = req->status;
	in.reason_phrase = req->reason;
	in.body = req->body.data;
	in.body_len = req->body.len;
	answer_classify(op->type, &in, &ans);
	log_debug("%s: %s: HTTP %ld %s -> %s", op->reg_name, f->art->filename,
		  req->status, req->reason, answer_kind_name(ans.kind));
	settle(op, &ans);
}

/* SO_LINGER 0: if the upload stops half way (canceled, daemon stopped or
 * killed), the registry sees a reset, not a clean end of a short body that
 * some registries (pypiserver) would store under the real file name. */
static int reset_on_close(void *data, curl_socket_t fd, curlsocktype purpose)
{
	struct linger lg = {.l_onoff = 1, .l_linger = 0};

	(void)data;
	if (purpose == CURLSOCKTYPE_IPCXN)
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	return CURL_SOCKOPT_OK;
}

/* Sends the current file (its request set up), or, rc < 0 (the sending
 * hook's answer), ends it unsent. */
static void send_file(struct publish_op *op, int rc)
{
	struct pub_file *f = &op->files[op->cur];
	int r;

	if (rc < 0) {
		file_done(op, OUT_ERROR, "%s: not sent: the job's lease was lost",
			  f->art->filename);
		return;
	}
	op->phase = PH_UPLOAD;
	r = transport_start(op->req, upload_done, op);
	if (r < 0)
		file_done(op, OUT_ERROR, "%s: cannot start the upload: %s",
			  f->art->filename, aos_strerror(r));
}

static void publish_upload(struct publish_op *op)
{
	struct pub_file *f = &op->files[op->cur];
	char err[512];
	int r;

	r = publish_new_request(op);
	if (r < 0) {
		file_done(op, OUT_ERROR, "%s: out of memory", f->art->filename);
		return;
	}
	if (op->type == REGISTRY_PYPI) {
		struct pypi_upload_opts o = {
		    .url = op->url, .user = op->username, .token = op->token};

		r = pypi_upload_setup(op->req->easy, f->art, &o, &op->pu, err,
				      sizeof(err));
	} else {
		struct npm_publish_opts o = {.registry = op->url,
					     .tag = op->dist_tag,
					     .access = f->access,
					     .token = op->token};

		r = npm_publish_setup(op->req->easy, f->art, &o, &op->np, err,
				      sizeof(err));
	}
	if (r < 0) {
		file_done(op, r == PUB_ECHANGED ? OUT_INVALID : OUT_ERROR,
			  "%s: cannot prepare the upload: %s", f->art->filename, err);
		return;
	}
	curl_easy_setopt(op->req->easy, CURLOPT_SOCKOPTFUNCTION, reset_on_close);
	/* A fresh connection, so the option above applies to this upload. */
	curl_easy_setopt(op->req->easy, CURLOPT_FRESH_CONNECT, 1L);
	curl_easy_setopt(op->req->easy, CURLOPT_FORBID_REUSE, 1L);
	/* Large reads, straight into curl's buffer (pypi.c, npm_body.c). */
	curl_easy_setopt(op->req->easy, CURLOPT_UPLOAD_BUFFERSIZE, (long)UPLOAD_BUFFER);
	curl_easy_setopt(op->req->easy, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(op->req->easy, CURLOPT_XFERINFOFUNCTION, xferinfo);
	curl_easy_setopt(op->req->easy, CURLOPT_XFERINFODATA, op);
	op->last_progress_ms = 0;
	op->last_sent = -1;
	r = op->hooks.sending != NULL ? op->hooks.sending(op->hooks.data, op->cur) : 0;
	if (r == PUBLISH_SEND_LATER) {
		op->phase = PH_SEND_WAIT; /* nothing sent: publish_send_ready() */
		return;
	}
	send_file(op, r);
}

void publish_send_ready(struct publish_op *op, int rc)
{
	if (op->phase == PH_SEND_WAIT)
		send_file(op, rc);
}

static void start_file(struct publish_op *op)
{
	struct pub_file *f = &op->files[op->cur];

	if (op->canceled)
		return;
	if (op->dry_run) {
		/* No token; npm still reads the packument for the dist-tag rules. */
		if (op->type == REGISTRY_NPM)
			publish_npm_prepare(op);
		else
			publish_pypi_dry_run(op);
		return;
	}
	secret_unref(op->token);
	op->token = store_get(session_store(op->env.session), op->token_key);
	op->key_version_before = publish_key_version(op); /* the token sent */
	if (op->token == NULL) {
		const char *verr = session_last_error(op->env.session);

		file_done(op, OUT_AUTH,
			  "%s: no token for registry %s: key %s is not in "
			  "the Vault secret (%s); add it with rotate_secret.sh",
			  f->art->filename, op->reg_name, op->token_key,
			  verr != NULL ? verr : "Vault reachable");
		return;
	}
	if (op->type == REGISTRY_NPM) {
		publish_npm_prepare(op); /* reads the packument first anyway */
	} else if (f->probe) {
		/* An earlier send's outcome is unknown: ask before sending
		 * (f->probe stays set until the registry answered). */
		op->probing = true;
		publish_verify_exists(op);
	} else {
		publish_upload(op);
	}
}

/* ---- the request --------------------------------------------------------- */

static char *dup_or_null(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

/* Whether every copy publish_start() made succeeded: each string is set,
 * or its source was NULL. */
static bool op_copied(const struct publish_op *op, const struct registry_cfg *reg,
		      const struct publish_request *r)
{
	size_t i;

	if (op->reg_name == NULL || op->url == NULL || op->token_key == NULL ||
	    (r->remove_dir != NULL && op->remove_dir == NULL) ||
	    (reg->username != NULL && op->username == NULL) ||
	    (reg->index_url != NULL && op->index_url == NULL) ||
	    (reg->access != NULL && op->access == NULL) ||
	    (r->tag != NULL && op->tag == NULL) ||
	    (r->tag_given_by != NULL && op->tag_given_by == NULL) ||
	    (r->prerelease_tag != NULL && op->prerelease_tag == NULL) ||
	    (r->expected_version != NULL && op->expected_version == NULL))
		return false;
	for (i = 0; i < op->nfiles; i++)
		if (op->files[i].path == NULL || op->files[i].label == NULL ||
		    (r->records != NULL && r->records[i] != NULL &&
		     op->files[i].record == NULL))
			return false;
	return true;
}

int publish_start(const struct publish_env *env, const struct publish_request *r,
		  struct publish_op **ret_op, char *msg, size_t msglen)
{
	const struct config *cfg = *env->cfg;
	const struct registry_cfg *reg = config_registry(cfg, r->registry);
	struct publish_op *op;
	size_t i;

	if (reg == NULL) {
		snprintf(msg, msglen, "no registry named \"%.60s\" in %s", r->registry,
			 cfg->path);
		return -ENOENT;
	}
	if (r->nfiles == 0 || r->nfiles > PUBLISH_MAX_FILES) {
		snprintf(msg, msglen, "expected 1 to %d files", PUBLISH_MAX_FILES);
		return -EINVAL;
	}
	for (i = 0; i < r->nfiles; i++) {
		if (r->files[i][0] != '/') {
			snprintf(msg, msglen, "file paths must be absolute: \"%.200s\"",
				 r->files[i]);
			return -EINVAL;
		}
	}
	op = calloc(1, sizeof(*op));
	if (op == NULL)
		goto nomem;
	op->files = calloc(r->nfiles, sizeof(*op->files));
	if (op->files == NULL) {
		free(op);
		goto nomem;
	}
	op->env = *env;
	op->flow = &flow;
	op->type = reg->type;
	op->dry_run = r->dry_run;
	op->remove_dir = dup_or_null(r->remove_dir);
	op->nfiles = r->nfiles;
	op->reg_name = strdup(reg->name);
	op->url = strdup(reg->url);
	op->token_key = strdup(reg->token_key);
	op->username = dup_or_null(reg->username);
	op->index_url = dup_or_null(reg->index_url);
	op->access = dup_or_null(reg->access);
	op->tag = dup_or_null(r->tag);
	op->tag_given_by = dup_or_null(r->tag_given_by);
	op->prerelease_tag = dup_or_null(r->prerelease_tag);
	op->expected_version = dup_or_null(r->expected_version);
	for (i = 0; i < r->nfiles; i++) {
		op->files[i].path = strdup(r->files[i]);
		op->files[i].label =
		    strdup(r->labels != NULL ? r->labels[i] : r->files[i]);
		op->files[i].probe = r->probe_first != NULL && r->probe_first[i];
		op->files[i].record =
		    r->records != NULL ? dup_or_null(r->records[i]) : NULL;
	}
	op->max_attempts =
	    r->max_attempts > 0 ? r->max_attempts : (int)cfg->publish.max_attempts;
	op->retry_after_s = -1;
	if (r->hooks != NULL)
		op->hooks = *r->hooks;
	op->send_until = r->send_until;
	uv_timer_init(env->loop, &op->timer);
	op->timer.data = op;
	op->work.data = op;
	if (!op_copied(op, reg, r)) {
		publish_op_destroy(op);
		goto nomem;
	}
	op->phase = PH_INSPECT;
	log_info("publish to %s requested: %zu file%s%s", op->reg_name, op->nfiles,
		 op->nfiles == 1 ? "" : "s", op->dry_run ? " (dry run)" : "");
	if (uv_queue_work(env->loop, &op->work, inspect_work, after_inspect) < 0) {
		op->phase = PH_IDLE;
		publish_op_destroy(op);
		snprintf(msg, msglen, "cannot start inspecting the files");
		return -ENOMEM;
	}
	if (ret_op != NULL)
		*ret_op = op;
	return 0;
nomem:
	snprintf(msg, msglen, "out of memory");
	return -ENOMEM;
}
