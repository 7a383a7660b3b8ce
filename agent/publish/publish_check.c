/* publish_check.c - reading the registry around an upload: the npm
 * packument before a publish (existing version, dist-tags), the registry's
 * own digest after an "already exists" answer, and dry-run plans. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/agent.h"
#include "artifact.h"
#include "err.h"
#include "base/log.h"
#include "npm.h"
#include "publish_internal.h"
#include "pypi.h"
#include "registry.h"
#include "url.h"

int64_t publish_key_version(struct publish_op *op)
{
	struct secret_store *st = session_store(op->a->session);
	size_t i;

	for (i = 0; i < store_size(st); i++) {
		const struct store_entry *e = store_entry_at(st, i);

		if (strcmp(e->key, op->token_key) == 0)
			return e->value != NULL ? e->version : 0;
	}
	return 0;
}

/* Common start of a GET to the registry; cb settles the answer. */
static void start_get(struct publish_op *op, enum pub_phase phase, const char *url,
		      bool npm_doc, transport_cb cb)
{
	struct pub_file *f = &op->files[op->cur];
	char err[512], msg[1024];
	int r;

	r = publish_new_request(op);
	if (r == 0 && npm_doc)
		r = npm_packument_setup(op->req->easy, op->url, f->art->name, op->token,
					&op->hdrs, err, sizeof(err));
	else if (r == 0)
		r = registry_easy_setup(op->req->easy, url, err, sizeof(err));
	/* The index is asked with the upload's credentials only on the upload
	 * URL's own origin (pypiserver, devpi); a token is never sent elsewhere. */
	if (r == 0 && !npm_doc && op->token != NULL && url_same_origin(url, op->url)) {
		r = registry_auth_basic(&op->hdrs, op->username, op->token);
		if (r == 0)
			curl_easy_setopt(op->req->easy, CURLOPT_HTTPHEADER, op->hdrs);
		else
			snprintf(err, sizeof(err), "out of memory");
	}
	if (r == 0) {
		op->phase = phase;
		r = transport_start(op->req, cb, op);
		if (r < 0)
			snprintf(err, sizeof(err), "%s", aos_strerror(r));
	}
	if (r < 0) {
		op->phase = PH_IDLE;
		snprintf(msg, sizeof(msg), "%s: cannot query registry %s: %s",
			 f->art->filename, op->reg_name, err);
		publish_file_done(op, OUT_ERROR, msg);
	}
}

/* True if the caller must stop: canceled, or a transport failure already
 * handed to the retry logic. */
static bool get_failed(struct publish_op *op, struct transport_req *req, int result)
{
	char why[CURL_ERROR_SIZE + 64];

	op->phase = PH_IDLE;
	if (result == AOS_ECANCELED || op->canceled) {
		publish_op_destroy(op);
		return true;
	}
	if (result < 0 || req->status == 0 || req->status == 429 || req->status >= 500) {
		if (result < 0)
			snprintf(why, sizeof(why), "no answer: %s", req->error);
		else
			snprintf(why, sizeof(why), "HTTP %ld %s", req->status, req->reason);
		publish_retry(op, -1, why);
		return true;
	}
	return false;
}

static void packument_done(struct transport_req *req, int result, void *data)
{
	struct publish_op *op = data;
	struct pub_file *f = &op->files[op->cur];
	struct answer_packument p = { 0 };
	char msg[1536], err[512];

	if (get_failed(op, req, result))
		return;
	if (req->status == 200) {
		if (answer_npm_packument(req->body.data, req->body.len, f->art->version, &p) < 0) {
			snprintf(msg, sizeof(msg), "%s: registry %s sent a package document "
				 "that is not valid JSON", f->art->filename, op->reg_name);
			publish_file_done(op, OUT_ERROR, msg);
			return;
		}
	} else if (req->status != 404) {
		snprintf(msg, sizeof(msg), "%s: cannot read %s's package document from "
			 "registry %s: HTTP %ld %s", f->art->filename, f->art->name,
			 op->reg_name, req->status, req->reason);
		publish_file_done(op, req->status == 401 || req->status == 403 ? OUT_AUTH
									     : OUT_REJECTED, msg);
		return;
	}
	if (p.has_version) {
		char spec[600];
		enum answer_kind k;

		snprintf(spec, sizeof(spec), "%s@%s", f->art->name, f->art->version);
		k = answer_npm_identity(spec, f->art->sha512_sri, f->art->sha1, &p, msg,
					sizeof(msg));
		publish_file_done(op, k == ANSWER_OK ? OUT_EXISTS : OUT_CONFLICT, msg);
		return;
	}
	if (npm_dist_tag(f->art->version, op->tag, p.has_latest ? p.latest : NULL,
			 &op->dist_tag, err, sizeof(err)) < 0) {
		snprintf(msg, sizeof(msg), "%s: %s", f->art->filename, err);
		publish_file_done(op, OUT_INVALID, msg);
		return;
	}
	if (op->dry_run) {
		cJSON *plan = publish_plan(op, f);

		if (op->conn != NULL)
			control_send(op->conn, plan); /* dry runs never run as jobs */
		else
			cJSON_Delete(plan);
		snprintf(msg, sizeof(msg), "%s: valid; would be tagged %s; nothing sent "
			 "(dry run)", f->art->filename, op->dist_tag);
		publish_file_done(op, OUT_DRY_RUN, msg);
		return;
	}
	publish_upload(op);
}

void publish_npm_prepare(struct publish_op *op)
{
	start_get(op, PH_PACKUMENT, NULL, true, packument_done);
}

static void verify_done(struct transport_req *req, int result, void *data)
{
	struct publish_op *op = data;
	struct pub_file *f = &op->files[op->cur];
	char msg[1536], theirs[65];
	enum answer_kind k;
	int r;

	if (get_failed(op, req, result))
		return;
	if (op->probing && req->status == 404) {
		op->probing = false;
		publish_upload(op);
		return;
	}
	if (req->status != 200) {
		snprintf(msg, sizeof(msg), "%s: registry %s says the file exists, but "
			 "reading %s to compare digests failed: HTTP %ld %s",
			 f->art->filename, op->reg_name,
			 op->type == REGISTRY_NPM ? "the package document" : op->index_url,
			 req->status, req->reason);
		publish_file_done(op, req->status == 401 || req->status == 403 ? OUT_AUTH
									     : OUT_ERROR, msg);
		return;
	}
	if (op->type == REGISTRY_NPM) {
		struct answer_packument p = { 0 };
		char spec[600];

		snprintf(spec, sizeof(spec), "%s@%s", f->art->name, f->art->version);
		if (answer_npm_packument(req->body.data, req->body.len, f->art->version,
					 &p) < 0 || !p.has_version) {
			snprintf(msg, sizeof(msg), "%s: registry %s refused %s as existing, "
				 "but its package document does not list it",
				 f->art->filename, op->reg_name, spec);
			publish_file_done(op, OUT_CONFLICT, msg);
			return;
		}
		k = answer_npm_identity(spec, f->art->sha512_sri, f->art->sha1, &p, msg,
					sizeof(msg));
		publish_file_done(op, k == ANSWER_OK ? OUT_EXISTS : OUT_CONFLICT, msg);
		return;
	}
	r = answer_pypi_file_sha256(req->body.data, req->body.len, f->art->filename, theirs);
	if (op->probing && r == AOS_ENOTFOUND) {
		/* Not on the registry: the earlier send did not arrive. */
		op->probing = false;
		log_info("%s: %s is not on the registry yet; sending it", op->reg_name,
			 f->art->filename);
		publish_upload(op);
		return;
	}
	op->probing = false;
	if (r < 0) {
		snprintf(msg, sizeof(msg), "%s: registry %s says the file exists, but its "
			 "index %s does not show its sha256 (%s); a different file may hold "
			 "the name (ours: sha256 %s)", f->art->filename, op->reg_name,
			 op->index_url, aos_strerror(r), f->art->sha256);
		publish_file_done(op, OUT_CONFLICT, msg);
		return;
	}
	k = answer_pypi_identity(f->art->filename, f->art->sha256, theirs, msg, sizeof(msg));
	publish_file_done(op, k == ANSWER_OK ? OUT_EXISTS : OUT_CONFLICT, msg);
}

void publish_verify_exists(struct publish_op *op)
{
	struct pub_file *f = &op->files[op->cur];
	char *url;

	if (op->type == REGISTRY_NPM) {
		start_get(op, PH_VERIFY, NULL, true, verify_done);
		return;
	}
	url = pypi_simple_url(op->index_url, f->art->name);
	if (url == NULL) {
		publish_file_done(op, OUT_ERROR, "cannot build the simple index URL");
		return;
	}
	start_get(op, PH_VERIFY, url, false, verify_done);
	free(url);
}

cJSON *publish_plan(struct publish_op *op, struct pub_file *f)
{
	cJSON *ev = cJSON_CreateObject(), *fields;
	char err[512];

	cJSON_AddStringToObject(ev, "event", "plan");
	cJSON_AddStringToObject(ev, "file", f->label);
	cJSON_AddStringToObject(ev, "registry", op->reg_name);
	cJSON_AddStringToObject(ev, "token_key", op->token_key);
	if (op->type == REGISTRY_PYPI) {
		struct pypi_form *form = NULL;
		size_t i;

		cJSON_AddStringToObject(ev, "method", "POST");
		cJSON_AddStringToObject(ev, "url", op->url);
		cJSON_AddStringToObject(ev, "auth", "Basic, user from the configuration, "
					"password the token (not shown)");
		fields = cJSON_AddArrayToObject(ev, "fields");
		if (pypi_form_new(f->art, &form) == 0) {
			for (i = 0; i < pypi_form_count(form); i++) {
				const struct pypi_field *fl = pypi_form_field(form, i);
				cJSON *pair = cJSON_CreateArray();
				char val[201];

				snprintf(val, sizeof(val), "%s", fl->value);
				cJSON_AddItemToArray(pair, cJSON_CreateString(fl->name));
				cJSON_AddItemToArray(pair, cJSON_CreateString(val));
				cJSON_AddItemToArray(fields, pair);
			}
		}
		pypi_form_free(form);
		cJSON_AddStringToObject(ev, "content", f->art->filename);
	} else {
		struct npm_publish_opts o = { .registry = op->url,
					      .tag = op->dist_tag ? op->dist_tag
						     : op->tag ? op->tag : "latest",
					      .access = op->access };
		struct npm_body *body = NULL;
		char *url = npm_package_url(op->url, f->art->name);

		cJSON_AddStringToObject(ev, "method", "PUT");
		cJSON_AddStringToObject(ev, "url", url != NULL ? url : "?");
		free(url);
		cJSON_AddStringToObject(ev, "auth", "Bearer token (not shown)");
		cJSON_AddStringToObject(ev, "tag", op->dist_tag ? op->dist_tag
					: op->tag ? op->tag : "latest");
		if (npm_body_new(f->art, &o, &body, err, sizeof(err)) == 0)
			cJSON_AddNumberToObject(ev, "content_length",
						(double)npm_body_length(body));
		else
			cJSON_AddStringToObject(ev, "problem", err);
		npm_body_free(body);
		cJSON_AddStringToObject(ev, "integrity", f->art->sha512_sri);
	}
	return ev;
}
