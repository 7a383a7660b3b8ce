/* publish_plan.c - dry runs: the plan of what would be sent for a file,
 * exactly (the npm publish document with a placeholder for the tarball's
 * base64, the PyPI form fields and file part), and what sending it would
 * do: publish, nothing (the identical file is there: a no-op), or a
 * conflict (a different file holds the name and version).  Nothing is
 * sent; the registry is only read (a PyPI index with the token if the
 * daemon has one, on the upload URL's origin only). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "publishers/answer.h"
#include "publishers/artifact.h"
#include "publishers/npm.h"
#include "publishers/pypi.h"
#include "publishers/registry.h"
#include "publish_internal.h"

static const char *const effect_names[] = {
    [PLAN_PUBLISH] = "publish", [PLAN_NOOP] = "no-op", [PLAN_CONFLICT] = "conflict"};

/* The npm document as it would be PUT, the tarball's base64 replaced by a
 * placeholder naming its length and digest. */
static void add_npm_document(cJSON *ev, struct publish_op *op, struct pub_file *f,
			     const char *tag)
{
	struct npm_publish_opts o = {
	    .registry = op->url, .tag = tag, .access = f->access};
	struct npm_body *body = NULL;
	char err[512], ph[256], *text = NULL;
	cJSON *doc;

	if (npm_body_new(f->art, &o, &body, err, sizeof(err)) < 0) {
		cJSON_AddStringToObject(ev, "problem", err);
		return;
	}
	cJSON_AddNumberToObject(ev, "content_length", (double)npm_body_length(body));
	snprintf(ph, sizeof(ph), "<base64 of the %" PRIu64 " bytes of %s, %s: not shown>",
		 f->art->size, f->art->filename, f->art->sha512_sri);
	text = npm_body_shown(body, ph);
	doc = text != NULL ? cJSON_Parse(text) : NULL;
	if (doc != NULL)
		cJSON_AddItemToObject(ev, "document", doc);
	else
		cJSON_AddStringToObject(ev, "problem", "out of memory");
	free(text);
	npm_body_free(body);
}

/* The multipart form fields, in order and whole, and the file part. */
static void add_pypi_form(cJSON *ev, struct pub_file *f)
{
	cJSON *fields = cJSON_AddArrayToObject(ev, "fields"), *part;
	struct pypi_form *form = NULL;
	size_t i;

	if (pypi_form_new(f->art, &form) == 0) {
		for (i = 0; i < pypi_form_count(form); i++) {
			const struct pypi_field *fl = pypi_form_field(form, i);
			cJSON *pair = cJSON_CreateArray();

			cJSON_AddItemToArray(pair, cJSON_CreateString(fl->name));
			cJSON_AddItemToArray(pair, cJSON_CreateString(fl->value));
			cJSON_AddItemToArray(fields, pair);
		}
	}
	pypi_form_free(form);
	part = cJSON_AddObjectToObject(ev, "file_part");
	cJSON_AddStringToObject(part, "name", "content");
	cJSON_AddStringToObject(part, "filename", f->art->filename);
	cJSON_AddStringToObject(part, "content_type", "application/octet-stream");
	cJSON_AddNumberToObject(part, "length", (double)f->art->size);
	cJSON_AddStringToObject(ev, "content", f->art->filename);
}

cJSON *publish_plan(struct publish_op *op, struct pub_file *f, enum plan_effect would)
{
	cJSON *ev = cJSON_CreateObject();
	const char *tag;
	char *url;

	cJSON_AddStringToObject(ev, "event", "plan");
	cJSON_AddStringToObject(ev, "file", f->label);
	cJSON_AddStringToObject(ev, "registry", op->reg_name);
	cJSON_AddStringToObject(ev, "token_key", op->token_key);
	cJSON_AddStringToObject(ev, "would", effect_names[would]);
	if (op->type == REGISTRY_PYPI) {
		cJSON_AddStringToObject(ev, "method", "POST");
		cJSON_AddStringToObject(ev, "url", op->url);
		cJSON_AddStringToObject(ev, "auth",
					"Basic, user from the configuration, "
					"password the token (not shown)");
		add_pypi_form(ev, f);
		return ev;
	}
	tag = op->dist_tag ? op->dist_tag : op->tag ? op->tag : "latest";
	url = npm_package_url(op->url, f->art->name);
	cJSON_AddStringToObject(ev, "method", "PUT");
	cJSON_AddStringToObject(ev, "url", url != NULL ? url : "?");
	free(url);
	cJSON_AddStringToObject(ev, "auth", "Bearer token (not shown)");
	cJSON_AddStringToObject(ev, "tag", tag);
	if (f->access != NULL)
		cJSON_AddStringToObject(ev, "access", f->access);
	else
		cJSON_AddNullToObject(ev, "access");
	add_npm_document(ev, op, f, tag);
	cJSON_AddStringToObject(ev, "integrity", f->art->sha512_sri);
	return ev;
}

/* Ends the dry run of the current file with outcome out and the message
 * fmt formats. */
static void dry_run_end(struct publish_op *op, enum pub_outcome out, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void dry_run_end(struct publish_op *op, enum pub_outcome out, const char *fmt, ...)
{
	char msg[1536];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	op->flow->file_done(op, out, msg);
}

void publish_dry_run_done(struct publish_op *op, enum plan_effect would, const char *why)
{
	struct pub_file *f = &op->files[op->cur];
	cJSON *plan = publish_plan(op, f, would);

	publish_send_event(op, plan); /* dry runs never run as jobs */
	switch (would) {
	case PLAN_PUBLISH:
		if (op->type == REGISTRY_NPM)
			dry_run_end(op, OUT_DRY_RUN,
				    "%s: valid; would be tagged %s%s%s; "
				    "nothing sent (dry run)",
				    f->art->filename,
				    op->dist_tag ? op->dist_tag : "latest",
				    why ? "; " : "", why ? why : "");
		else
			dry_run_end(op, OUT_DRY_RUN,
				    "%s: valid; would be published%s%s; "
				    "nothing sent (dry run)",
				    f->art->filename, why ? "; " : "", why ? why : "");
		return;
	case PLAN_NOOP:
		dry_run_end(
		    op, OUT_DRY_RUN,
		    "%s: %s: publishing it would be a no-op; nothing sent (dry run)",
		    f->art->filename, why);
		return;
	case PLAN_CONFLICT:
		dry_run_end(op, OUT_CONFLICT,
			    "%s: %s: publishing it would be refused as a conflict; "
			    "nothing sent (dry run)",
			    f->art->filename, why);
		return;
	}
}

static void index_done(struct transport_req *req, int result, void *data)
{
	struct publish_op *op = data;
	struct pub_file *f = &op->files[op->cur];
	struct index_answer ia;
	char theirs[65], why[ANSWER_SAID_MAX + 300];
	enum answer_kind k;

	op->phase = PH_IDLE;
	if (result == AOS_ECANCELED || op->canceled) {
		publish_op_destroy(op);
		return;
	}
	if (publish_get_answer(op, req, result, &ia))
		return;
	if (ia.kind != INDEX_FOUND) {
		/* 404, or pypiserver's redirect upstream: the project is not here. */
		if (ia.kind == INDEX_ABSENT)
			snprintf(why, sizeof(why), "%s is not on the index (%s)",
				 f->art->name, ia.said);
		else
			snprintf(why, sizeof(why),
				 "whether the file is there is not "
				 "known (%s)",
				 ia.said);
		publish_dry_run_done(op, PLAN_PUBLISH, why);
		return;
	}
	publish_page_format(op, req);
	if (answer_pypi_file_sha256(req->body.data, req->body.len, f->art->filename,
				    theirs) < 0) {
		publish_dry_run_done(op, PLAN_PUBLISH, NULL);
		return;
	}
	k = answer_pypi_identity(f->art->filename, f->art->sha256, theirs, why,
				 sizeof(why));
	publish_dry_run_done(op, k == ANSWER_OK ? PLAN_NOOP : PLAN_CONFLICT, why);
}

void publish_pypi_dry_run(struct publish_op *op)
{
	struct pub_file *f = &op->files[op->cur];
	char *url;

	if (op->index_url == NULL) {
		publish_dry_run_done(op, PLAN_PUBLISH,
				     "no index_url is configured to tell "
				     "whether the file is there already");
		return;
	}
	/* An index that needs it (pypiserver) is read with the token, as the
	 * probe after a crash does; only ever on the upload URL's origin. */
	secret_unref(op->token);
	op->token = store_get(session_store(op->env.session), op->token_key);
	url = pypi_simple_url(op->index_url, f->art->name);
	if (url == NULL) {
		op->flow->file_done(op, OUT_ERROR, "cannot build the simple index URL");
		return;
	}
	publish_get(op, url, index_done);
	free(url);
}
