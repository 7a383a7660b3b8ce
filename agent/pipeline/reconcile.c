/* reconcile.c - the scan behind `aos-publishctl reconcile PIPELINE` (see
 * reconcile.h): the repository's tags
 * that match the pipeline (git ls-remote), each target registry's index
 * (one request per target), and a pipeline job for every tag whose version
 * is missing on a target.  Forges send no webhook when more than three tags
 * are pushed at once; this catches those and any missed delivery.
 */
#include <errno.h>
#include <limits.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/child.h"
#include "base/log.h"
#include "common/backoff.h"
#include "common/err.h"
#include "common/url.h"
#include "pipeline/pipeline.h"
#include "pipeline/pipeline_steps.h"
#include "pipeline/reconcile.h"
#include "publishers/answer.h"
#include "publishers/npm.h"
#include "publishers/pypi.h"
#include "publishers/pypi_name.h"
#include "publishers/registry.h"
#include "sandbox/sandbox.h"
#include "session/session.h"

#define MAX_TAGS 2000
#define MAX_TARGETS 16
#define INDEX_MAX (32 * 1024 * 1024)

static const struct reconcile_io default_io = {
    .spawn = child_start,
    .send = transport_start,
};

struct rtag {
	char tag[WEBHOOK_NAME_MAX];
	char version[128];
	char commit[72];
	bool peeled; /* commit came from a "^{}" line */
	bool have[MAX_TARGETS];
};

struct reconcile_op {
	struct reconcile_env env;
	struct reconcile_hooks hooks;
	bool heard; /* a listener still wants the hooks */
	char pipeline[128];
	bool dry_run;
	struct rtag *tags;
	size_t ntags, skipped;
	size_t target;
	char *targets[MAX_TARGETS];
	size_t ntargets;
	char package[256];
	struct transport_req *req;
	struct curl_slist *hdrs;
	char url[ANSWER_URL_MAX]; /* the index being read */
	unsigned hops;		  /* same-origin redirects followed to reach it */
	char last_line[512];
	/* The jobs of the missing tags (ntags + 1 entries each), n of them
	 * filled; kept until the commit returns. */
	struct pipeline_job *jobs;
	struct job_new *jn;
	int64_t *ids;
	int *rcs;
	size_t *which; /* jobs[k] is for tags[which[k]] */
	size_t n;
};

static void rec_free(struct reconcile_op *r)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		pipeline_job_clear(&r->jobs[i]);
	free(r->jobs);
	free(r->jn);
	free(r->ids);
	free(r->rcs);
	free(r->which);
	for (i = 0; i < r->ntargets; i++)
		free(r->targets[i]);
	transport_req_free(r->req);
	registry_headers_free(r->hdrs);
	free(r->tags);
	free(r);
}

static void rec_fail(struct reconcile_op *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void rec_fail(struct reconcile_op *r, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_warn("reconcile %s: %s", r->pipeline, msg);
	if (r->heard)
		r->hooks.failed(r->hooks.data, msg);
	rec_free(r);
}

void reconcile_forget(struct reconcile_op *r)
{
	r->heard = false; /* carry on: what it queues is still wanted */
}

/* ---- the answer ---------------------------------------------------------- */

/* The answer, once the jobs are committed (result: enqueue_many()'s), and
 * the end of r. */
static void committed(void *op, int result)
{
	struct reconcile_op *r = op;
	size_t i, t, k, queued = 0;
	cJSON *o, *arr;

	if (result == -EBUSY) { /* the daemon's write queue is full */
		rec_fail(r, "the daemon is busy: too many queue writes are waiting; "
			    "nothing was queued (retry in a moment)");
		return;
	}
	if (result < 0) {
		rec_fail(r, "cannot write the jobs to the queue: %s",
			 aos_strerror(result));
		return;
	}
	o = cJSON_CreateObject();
	cJSON_AddTrueToObject(o, "ok");
	cJSON_AddStringToObject(o, "pipeline", r->pipeline);
	cJSON_AddBoolToObject(o, "dry_run", r->dry_run);
	arr = cJSON_AddArrayToObject(o, "tags");
	for (i = 0; i < r->ntags; i++) {
		cJSON *e = cJSON_CreateObject(), *pres, *miss;
		const char *action = "published";

		cJSON_AddStringToObject(e, "tag", r->tags[i].tag);
		cJSON_AddStringToObject(e, "version", r->tags[i].version);
		cJSON_AddStringToObject(e, "commit", r->tags[i].commit);
		pres = cJSON_AddArrayToObject(e, "present");
		miss = cJSON_AddArrayToObject(e, "missing");
		for (t = 0; t < r->ntargets; t++)
			cJSON_AddItemToArray(r->tags[i].have[t] ? pres : miss,
					     cJSON_CreateString(r->targets[t]));
		if (cJSON_GetArraySize(miss) > 0)
			action = "would-queue";
		for (k = 0; k < r->n; k++) {
			if (r->which[k] != i)
				continue;
			action = r->rcs[k] == 0		   ? "queued"
				 : r->rcs[k] == AOS_EEXIST ? "existing"
							   : "error";
			if (r->rcs[k] == 0 || r->rcs[k] == AOS_EEXIST)
				cJSON_AddNumberToObject(e, "job_id", (double)r->ids[k]);
			if (r->rcs[k] == 0) {
				queued++;
				log_notice("job %" PRId64
					   " queued by reconcile: pipeline %s, tag %s, "
					   "commit %.12s",
					   r->ids[k], r->pipeline, r->tags[i].tag,
					   r->tags[i].commit);
			}
		}
		cJSON_AddStringToObject(e, "action", action);
		cJSON_AddItemToArray(arr, e);
	}
	cJSON_AddNumberToObject(o, "queued", (double)queued);
	cJSON_AddNumberToObject(o, "skipped", (double)r->skipped);
	log_info("reconcile %s: %zu tag(s), %zu queued%s", r->pipeline, r->ntags, queued,
		 r->dry_run ? " (dry run)" : "");
	if (queued > 0 && r->env.queued != NULL)
		r->env.queued(r->env.queued_data);
	if (r->heard)
		r->hooks.finished(r->hooks.data, o);
	cJSON_Delete(o);
	rec_free(r);
}

/* The jobs of the tags missing on a target (none for a dry run) into
 * r->jobs.  Returns 0, or -ENOMEM / AOS_ENOTFOUND (the pipeline left the
 * configuration). */
static int jobs_make(struct reconcile_op *r)
{
	const struct config *cfg = *r->env.cfg;
	const struct pipeline_cfg *p = config_pipeline(cfg, r->pipeline);
	size_t i, t, cap = r->ntags + 1;

	if (p == NULL)
		return AOS_ENOTFOUND;
	r->jobs = calloc(cap, sizeof(*r->jobs));
	r->jn = calloc(cap, sizeof(*r->jn));
	r->ids = calloc(cap, sizeof(*r->ids));
	r->rcs = calloc(cap, sizeof(*r->rcs));
	r->which = calloc(cap, sizeof(*r->which));
	if (r->jobs == NULL || r->jn == NULL || r->ids == NULL || r->rcs == NULL ||
	    r->which == NULL)
		return -ENOMEM;
	for (i = 0; i < r->ntags && !r->dry_run; i++) {
		bool missing = false;

		for (t = 0; t < r->ntargets; t++)
			missing |= !r->tags[i].have[t];
		if (!missing)
			continue;
		if (pipeline_job_init(&r->jobs[r->n], p, r->tags[i].tag,
				      r->tags[i].version, r->tags[i].commit, "reconcile",
				      "", (int)cfg->queue.max_attempts, NULL) < 0) {
			pipeline_job_clear(&r->jobs[r->n]);
			return -ENOMEM;
		}
		r->jn[r->n] = r->jobs[r->n].jn;
		/* Not into the configuration: a reload during the commit may
		 * free it. */
		r->jn[r->n].package = r->package;
		r->which[r->n++] = i;
	}
	return 0;
}

/* The scan is done: the jobs are committed (off the loop when the daemon
 * gives a committer), then committed() answers. */
static void finish(struct reconcile_op *r)
{
	int rc = jobs_make(r);

	if (rc < 0) {
		rec_fail(r, rc == AOS_ENOTFOUND ? "the pipeline left the configuration"
						: "out of memory");
		return;
	}
	if (r->n == 0) {
		committed(r, 0);
		return;
	}
	if (r->env.commit == NULL) {
		committed(r,
			  r->env.queue->ops->enqueue_many(r->env.queue, r->jn, r->n,
							  aos_wall_ms(), r->ids, r->rcs));
		return;
	}
	rc = r->env.commit(r->env.commit_data, r->jn, r->n, aos_wall_ms(), r->ids, r->rcs,
			   committed, r);
	if (rc < 0)
		committed(r, rc);
}

/* ---- registry indexes -------------------------------------------------------- */

static void pypi_mark_file(struct reconcile_op *r, const char *fn)
{
	struct pypi_wheel_name wn;
	char err[256];
	size_t i;

	for (i = 0; i < r->ntags; i++) {
		if (pypi_wheel_name_parse(fn, &wn) == 0) {
			if (pypi_name_equal(wn.name, r->package) &&
			    pypi_version_equal(wn.version, r->tags[i].version))
				r->tags[i].have[r->target] = true;
		} else if (pypi_sdist_name_check(fn, r->package, r->tags[i].version, err,
						 sizeof(err)) == 0) {
			r->tags[i].have[r->target] = true;
		}
	}
}

/* Marks the versions a PyPI simple page lists: a PEP 691 JSON document
 * ("files": [{"filename"}]) or PEP 503 HTML anchors. */
static void pypi_mark(struct reconcile_op *r, const char *body, size_t len)
{
	const char *p = body, *end = body + len;
	char fn[512];

	if (len > 0 && body[0] == '{') {
		cJSON *doc = cJSON_ParseWithLength(body, len), *f;

		cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(doc, "files"))
		{
			const char *name = cJSON_GetStringValue(
			    cJSON_GetObjectItemCaseSensitive(f, "filename"));

			if (name != NULL)
				pypi_mark_file(r, name);
		}
		cJSON_Delete(doc);
		return;
	}
	while (p < end && (p = strstr(p, "<a ")) != NULL) {
		const char *s = strchr(p, '>'), *e = s != NULL ? strstr(s, "</a>") : NULL;

		if (e == NULL)
			break;
		s++;
		p = e;
		if ((size_t)(e - s) < sizeof(fn)) {
			snprintf(fn, sizeof(fn), "%.*s", (int)(e - s), s);
			pypi_mark_file(r, fn);
		}
	}
}

static void next_target(struct reconcile_op *r);
static void index_get(struct reconcile_op *r, const struct registry_cfg *reg,
		      const char *url, unsigned hops);

static void index_done(struct transport_req *req, int result, void *data)
{
	struct reconcile_op *r = data;
	const struct registry_cfg *reg =
	    config_registry(*r->env.cfg, r->targets[r->target]);
	struct answer_input in = {0};
	struct index_answer ia;
	size_t i;

	if (reg == NULL) {
		rec_fail(r, "cannot read the index of %s: no longer configured",
			 r->targets[r->target]);
		return;
	}
	if (result == 0)
		answer_input_from_curl(req->easy, &in);
	answer_index_classify(
	    r->url, result < 0 ? 0 : req->status, req->reason, in.location,
	    req->error[0] ? req->error : aos_strerror(result), r->hops, &ia);
	if (ia.kind == INDEX_FOLLOW) {
		index_get(r, reg, ia.location, r->hops + 1);
		return;
	}
	if (ia.kind == INDEX_FOUND) {
		if (reg->type == REGISTRY_NPM) {
			for (i = 0; i < r->ntags; i++) {
				struct answer_packument pk;

				if (answer_npm_packument(req->body.data, req->body.len,
							 r->tags[i].version, &pk) == 0 &&
				    pk.has_version)
					r->tags[i].have[r->target] = true;
			}
		} else {
			log_info("reconcile %s: read %s as %s", r->pipeline, r->url,
				 answer_pypi_page_format_name(
				     answer_pypi_page_format(in.content_type)));
			pypi_mark(r, req->body.data != NULL ? req->body.data : "",
				  req->body.len);
		}
	} else if (ia.kind != INDEX_ABSENT) {
		/* INDEX_ABSENT: the package is not there; every tag is missing. */
		rec_fail(r, "cannot read the index of %s: %s", reg->name, ia.said);
		return;
	}
	r->target++;
	next_target(r);
}

/* GET url, the index page or packument of r->package on reg, hops
 * same-origin redirects after the first request. */
static void index_get(struct reconcile_op *r, const struct registry_cfg *reg,
		      const char *url, unsigned hops)
{
	struct secret *tok = store_get(session_store(r->env.session), reg->token_key);
	char err[512];
	int rc;

	transport_req_free(r->req);
	r->req = NULL;
	registry_headers_free(r->hdrs);
	r->hdrs = NULL;
	rc = strlen(url) < sizeof(r->url) ? 0 : AOS_ETOOBIG;
	if (rc == 0) {
		memmove(r->url, url, strlen(url) + 1);
		r->hops = hops;
		rc = transport_req_new(r->env.tp, INDEX_MAX, &r->req);
	}
	if (rc == 0 && reg->type == REGISTRY_NPM) {
		rc = npm_packument_setup(r->req->easy, reg->url, r->package, tok,
					 &r->hdrs, err, sizeof(err));
		if (rc == 0) /* the packument's URL, or where a redirect pointed */
			rc = registry_easy_setup(r->req->easy, url, err, sizeof(err));
	} else if (rc == 0) {
		rc = registry_easy_setup(r->req->easy, url, err, sizeof(err));
		/* PEP 691 JSON where offered, else the PEP 503 page. */
		if (rc == 0)
			rc = registry_header(&r->hdrs, PYPI_SIMPLE_ACCEPT);
		/* The upload's credentials go to the index only on the upload
		 * URL's own origin, as for uploads (publish_check.c). */
		if (rc == 0 && tok != NULL && url_same_origin(url, reg->url))
			rc = registry_auth_basic(&r->hdrs, reg->username, tok);
		if (rc == 0)
			curl_easy_setopt(r->req->easy, CURLOPT_HTTPHEADER, r->hdrs);
	}
	secret_unref(tok);
	if (rc == 0)
		rc = r->env.io->send(r->req, index_done, r);
	if (rc < 0)
		rec_fail(r, "cannot query %s: %s", reg->name, aos_strerror(rc));
}

static void next_target(struct reconcile_op *r)
{
	const struct registry_cfg *reg;
	char *url;

	if (r->target == r->ntargets || r->ntags == 0) {
		transport_req_free(r->req);
		r->req = NULL;
		finish(r);
		return;
	}
	reg = config_registry(*r->env.cfg, r->targets[r->target]);
	if (reg == NULL) {
		rec_fail(r, "target %s is no longer configured", r->targets[r->target]);
		return;
	}
	url = reg->type == REGISTRY_NPM ? npm_package_url(reg->url, r->package)
					: pypi_simple_url(reg->index_url, r->package);
	if (url == NULL) {
		rec_fail(r, "cannot query %s: %s", reg->name, aos_strerror(-ENOMEM));
		return;
	}
	index_get(r, reg, url, 0);
	free(url);
}

/* ---- git ls-remote ----------------------------------------------------------- */

/* "<id>\trefs/tags/<name>[^{}]" */
static void ls_line(void *data, const char *line, size_t len)
{
	struct reconcile_op *r = data;
	const struct pipeline_cfg *p = config_pipeline(*r->env.cfg, r->pipeline);
	const char *tab = memchr(line, '\t', len);
	char name[WEBHOOK_NAME_MAX + 4], version[128];
	bool peeled = false;
	size_t nl, i;
	struct rtag *t;

	snprintf(r->last_line, sizeof(r->last_line), "%.*s", (int)len, line);
	pipeline_mask_url(r->last_line); /* git may quote the URL */
	if (p == NULL || tab == NULL || (size_t)(tab - line) >= sizeof(t->commit) ||
	    strncmp(tab + 1, "refs/tags/", 10) != 0)
		return;
	nl = len - (size_t)(tab + 11 - line);
	if (nl >= sizeof(name))
		return;
	snprintf(name, sizeof(name), "%.*s", (int)nl, tab + 11);
	if (nl > 3 && strcmp(name + nl - 3, "^{}") == 0) {
		name[nl - 3] = '\0';
		peeled = true;
	}
	if (!pipeline_tag_version(p->tag_pattern, name, version, sizeof(version)) ||
	    !pipeline_tag_ok(name)) {
		r->skipped++;
		return;
	}
	for (i = 0; i < r->ntags && strcmp(r->tags[i].tag, name) != 0; i++)
		;
	if (i == r->ntags) {
		if (r->ntags == MAX_TAGS)
			return;
		r->ntags++;
		memset(&r->tags[i], 0, sizeof(r->tags[i]));
		snprintf(r->tags[i].tag, sizeof(r->tags[i].tag), "%s", name);
		snprintf(r->tags[i].version, sizeof(r->tags[i].version), "%s", version);
	}
	t = &r->tags[i];
	if (peeled || !t->peeled) {
		/* An annotated tag's "^{}" line names the commit it points to. */
		snprintf(t->commit, sizeof(t->commit), "%.*s", (int)(tab - line), line);
		t->peeled = peeled;
	}
}

static void ls_done(void *data, const struct child_result *res)
{
	struct reconcile_op *r = data;

	if (res->exit_status != 0 || res->term_signal != 0 || res->timed_out) {
		rec_fail(
		    r, "git ls-remote of the pipeline's repository failed (%s %lld): %s",
		    res->timed_out ? "timed out" : "exit status",
		    (long long)res->exit_status, r->last_line);
		return;
	}
	if (r->ntags == 0)
		log_info("reconcile %s: no tag matches", r->pipeline);
	next_target(r);
}

/* Starts `git ls-remote --tags REPOSITORY PATTERN` for p in its own folder
 * under work_dir, under the pipeline's sandbox.  Returns 0, or a negative
 * code with msg. */
static int ls_remote_start(struct reconcile_op *r, const struct pipeline_cfg *p,
			   const char *pattern, char *msg, size_t msglen)
{
	const struct config *cfg = *r->env.cfg;
	struct sandbox_argv argv = {0};
	struct child_opts co = {0};
	struct child *child;
	struct pl_env env;
	char dir[PATH_MAX], real[PATH_MAX], desc[800];
	char *git = pl_system_tool("git");
	int rc;

	if (mkdir(cfg->work_dir, 0700) < 0 && errno != EEXIST)
		log_warn("reconcile: cannot create %s: %s", cfg->work_dir,
			 strerror(errno));
	snprintf(dir, sizeof(dir), "%s/reconcile",
		 realpath(cfg->work_dir, real) ? real : cfg->work_dir);
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		log_warn("reconcile: cannot create %s: %s", dir, strerror(errno));
	rc = git == NULL ? -ENOMEM : pl_env_init(&env, p, dir, NULL);
	if (rc < 0) {
		free(git);
		snprintf(msg, msglen, "out of memory");
		return rc;
	}
	rc = pl_sandbox_prefix(cfg, r->env.sandbox, p, dir, &argv, desc, sizeof(desc),
			       msg, msglen);
	if (rc == 0)
		rc = sandbox_argv_add(&argv, git);
	if (rc == 0)
		rc = sandbox_argv_add(&argv, "ls-remote");
	if (rc == 0)
		rc = sandbox_argv_add(&argv, "--tags");
	if (rc == 0)
		rc = sandbox_argv_add(&argv, p->repository);
	if (rc == 0)
		rc = sandbox_argv_add(&argv, pattern);
	if (rc == 0) {
		co.argv = (const char *const *)argv.v;
		co.env = (const char *const *)env.v; /* copied by the spawn */
		co.cwd = dir;
		co.timeout_ms = 120 * 1000;
		co.max_output = 8 * 1024 * 1024;
		co.line = ls_line;
		co.done = ls_done;
		co.data = r;
		rc = r->env.io->spawn(r->env.loop, &co, &child);
		if (rc < 0)
			snprintf(msg, msglen, "cannot run git ls-remote: %s",
				 uv_strerror(rc));
	} else if (rc == -ENOMEM) {
		snprintf(msg, msglen, "out of memory");
	}
	sandbox_argv_free(&argv);
	pl_env_free(&env);
	free(git);
	return rc;
}

int reconcile_start(const struct reconcile_env *env, const char *pipeline, bool dry_run,
		    const struct reconcile_hooks *hooks, struct reconcile_op **ret_op,
		    char *msg, size_t msglen)
{
	const struct pipeline_cfg *p = config_pipeline(*env->cfg, pipeline);
	struct reconcile_op *r;
	char pattern[WEBHOOK_NAME_MAX + 16];
	size_t i;
	int rc;

	if (p == NULL) {
		snprintf(msg, msglen, "no such pipeline in the configuration");
		return AOS_ENOTFOUND;
	}
	r = calloc(1, sizeof(*r));
	if (r == NULL || (r->tags = calloc(MAX_TAGS, sizeof(*r->tags))) == NULL) {
		free(r);
		snprintf(msg, msglen, "out of memory");
		return -ENOMEM;
	}
	r->env = *env;
	if (r->env.io == NULL)
		r->env.io = &default_io;
	r->hooks = *hooks;
	r->dry_run = dry_run;
	snprintf(r->pipeline, sizeof(r->pipeline), "%s", p->name);
	snprintf(r->package, sizeof(r->package), "%s", p->package);
	for (i = 0; i < p->ntargets && i < MAX_TARGETS; i++) {
		r->targets[i] = strdup(p->targets[i]);
		if (r->targets[r->ntargets++] == NULL) {
			rec_free(r);
			snprintf(msg, msglen, "out of memory");
			return -ENOMEM;
		}
	}
	snprintf(pattern, sizeof(pattern), "refs/tags/%s", p->tag_pattern);
	/* Exactly a build's checkout environment, git and sandbox: the
	 * pipeline's variables (say GIT_SSH_COMMAND) apply, nothing of the
	 * daemon's; git talks to the remote from inside the build sandbox. */
	r->heard = true;
	rc = ls_remote_start(r, p, pattern, msg, msglen);
	if (rc < 0) {
		rec_free(r); /* no hook called */
		return rc;
	}
	*ret_op = r;
	return 0;
}
