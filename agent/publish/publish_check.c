/* publish_check.c - reading the registry around an upload: the npm
 * packument before a publish (existing version, dist-tags), the registry's
 * own digest after an "already exists" answer.  Dry-run plans are in
 * publish_plan.c. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "common/err.h"
#include "common/url.h"
#include "publishers/artifact.h"
#include "publishers/npm.h"
#include "publishers/pypi.h"
#include "publishers/registry.h"
#include "publish_internal.h"

int64_t publish_key_version(struct publish_op *op)
{
	struct secret_store *st = session_store(op->env.session);
	size_t i;

	for (i = 0; i < store_size(st); i++) {
		const struct store_entry *e = store_entry_at(st, i);

		if (strcmp(e->key, op->token_key) == 0)
			return e->value != NULL ? e->version : 0;
	}
	return 0;
}

/* The headers of a read of a PyPI index page: PEP 691 JSON preferred, the
 * PEP 503 HTML page accepted; the upload's credentials only on the upload
 * URL's own origin (pypiserver, devpi), a token is never sent elsewhere. */
static int index_headers(struct publish_op *op, const char *url, char *err, size_t errlen)
{
	int r = registry_header(&op->hdrs, PYPI_SIMPLE_ACCEPT);

	if (r == 0 && op->token != NULL && url_same_origin(url, op->url))
		r = registry_auth_basic(&op->hdrs, op->username, op->token);
	if (r < 0) {
		snprintf(err, errlen, "out of memory");
		return r;
	}
	curl_easy_setopt(op->req->easy, CURLOPT_HTTPHEADER, op->hdrs);
	return 0;
}

enum pypi_page_format publish_page_format(struct publish_op *op,
					  struct transport_req *req)
{
	struct answer_input in = {0};
	enum pypi_page_format fmt;

	if (answer_input_from_curl(req->easy, &in) < 0)
		return PYPI_PAGE_UNKNOWN;
	fmt = answer_pypi_page_format(in.content_type);
	log_info("%s: read %s as %s", op->reg_name, op->read_url,
		 answer_pypi_page_format_name(fmt));
	return fmt;
}

/* Common start of a GET of url (an index page, or the npm packument when
 * npm_doc) on the registry; cb settles the answer.  hops counts the
 * same-origin redirects followed to reach url. */
static void start_get(struct publish_op *op, enum pub_phase phase, const char *url,
		      bool npm_doc, unsigned hops, transport_cb cb)
{
	struct pub_file *f = &op->files[op->cur];
	char err[512], msg[1024];
	int r = 0;

	if (url == NULL || strlen(url) >= sizeof(op->read_url)) {
		snprintf(err, sizeof(err), "%s",
			 url == NULL ? "out of memory" : "the URL to read is too long");
		r = -ENOMEM;
	} else {
		memmove(op->read_url, url, strlen(url) + 1);
		op->read_hops = hops;
		op->read_phase = phase;
		op->read_npm = npm_doc;
		op->read_cb = cb;
		r = publish_new_request(op);
	}
	if (r == 0 && npm_doc)
		r = npm_packument_setup(op->req->easy, op->url, f->art->name, op->token,
					&op->hdrs, err, sizeof(err));
	/* The packument's own URL, or where a same-origin redirect pointed. */
	if (r == 0)
		r = registry_easy_setup(op->req->easy, url, err, sizeof(err));
	if (r == 0 && !npm_doc)
		r = index_headers(op, url, err, sizeof(err));
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

bool publish_get_answer(struct publish_op *op, struct transport_req *req, int result,
			struct index_answer *ia)
{
	struct answer_input in = {0};

	if (result == 0)
		answer_input_from_curl(req->easy, &in);
	answer_index_classify(op->read_url, result < 0 ? 0 : req->status, req->reason,
			      in.location, req->error, op->read_hops, ia);
	if (ia->kind != INDEX_FOLLOW)
		return false;
	log_info("%s: %s", op->reg_name, ia->said);
	start_get(op, op->read_phase, ia->location, op->read_npm, op->read_hops + 1,
		  op->read_cb);
	return true;
}

/* As publish_get_answer(), and true also if the caller must stop because op
 * was canceled or the answer was handed to the retry logic. */
static bool read_answer(struct publish_op *op, struct transport_req *req, int result,
			struct index_answer *ia)
{
	op->phase = PH_IDLE;
	if (result == AOS_ECANCELED || op->canceled) {
		publish_op_destroy(op);
		return true;
	}
	if (publish_get_answer(op, req, result, ia))
		return true;
	if (ia->kind == INDEX_RETRY) {
		publish_retry(op, -1, ia->said);
		return true;
	}
	return false;
}

static void packument_done(struct transport_req *req, int result, void *data)
{
	struct publish_op *op = data;
	struct pub_file *f = &op->files[op->cur];
	struct answer_packument p = {0};
	struct index_answer ia;
	char msg[1536], err[512];

	if (read_answer(op, req, result, &ia))
		return;
	if (ia.kind == INDEX_FOUND) {
		if (answer_npm_packument(req->body.data, req->body.len, f->art->version,
					 &p) < 0) {
			snprintf(msg, sizeof(msg),
				 "%s: registry %s: %s: the package document is not "
				 "valid JSON",
				 f->art->filename, op->reg_name, ia.said);
			publish_file_done(op, OUT_ERROR, msg);
			return;
		}
	} else if (ia.kind != INDEX_ABSENT) {
		/* INDEX_ABSENT: a new package, nothing published yet. */
		snprintf(msg, sizeof(msg),
			 "%s: cannot read %s's package document from "
			 "registry %s: %s",
			 f->art->filename, f->art->name, op->reg_name, ia.said);
		publish_file_done(op, ia.kind == INDEX_AUTH ? OUT_AUTH : OUT_REJECTED,
				  msg);
		return;
	}
	if (p.has_version) {
		char spec[600];
		enum answer_kind k;

		snprintf(spec, sizeof(spec), "%s@%s", f->art->name, f->art->version);
		k = answer_npm_identity(spec, f->art->sha512_sri, f->art->sha1, &p, msg,
					sizeof(msg));
		if (op->dry_run)
			publish_dry_run_done(
			    op, k == ANSWER_OK ? PLAN_NOOP : PLAN_CONFLICT, msg);
		else
			publish_file_done(op, k == ANSWER_OK ? OUT_EXISTS : OUT_CONFLICT,
					  msg);
		return;
	}
	if (publish_decide_tag(op, f, p.has_latest ? p.latest : NULL, err, sizeof(err)) <
	    0) {
		snprintf(msg, sizeof(msg), "%s: %s", f->art->filename, err);
		publish_file_done(op, OUT_INVALID, msg);
		return;
	}
	if (op->dry_run) {
		publish_dry_run_done(op, PLAN_PUBLISH, NULL);
		return;
	}
	publish_upload(op);
}

void publish_get(struct publish_op *op, const char *url, transport_cb cb)
{
	start_get(op, PH_VERIFY, url, false, 0, cb);
}

int publish_decide_tag(struct publish_op *op, struct pub_file *f, const char *latest,
		       char *err, size_t errlen)
{
	char pkg[NPM_TAG_MAX + 1] = "";
	struct npm_tag_rule rule = {.version = f->art->version,
				    .given = op->tag,
				    .given_by = op->tag_given_by,
				    .package = pkg,
				    .prerelease = op->prerelease_tag,
				    .latest = latest};
	int r = npm_package_tag(f->art, pkg, sizeof(pkg), err, errlen);

	if (r >= 0)
		r = npm_dist_tag(&rule, &op->decided, err, errlen);
	op->dist_tag = r == 0 ? op->decided.name : NULL;
	return r;
}

void publish_npm_prepare(struct publish_op *op)
{
	char *url = npm_package_url(op->url, op->files[op->cur].art->name);

	start_get(op, PH_PACKUMENT, url, true, 0, packument_done);
	free(url);
}

/* The probe before a send got its answer: the file is not there. */
static void send_after_probe(struct publish_op *op, const char *said)
{
	struct pub_file *f = &op->files[op->cur];

	op->probing = false;
	f->probe = false;
	log_info("%s: %s is not on the registry (%s); sending it", op->reg_name,
		 f->art->filename, said);
	publish_upload(op);
}

static void verify_done(struct transport_req *req, int result, void *data)
{
	struct publish_op *op = data;
	struct pub_file *f = &op->files[op->cur];
	struct index_answer ia;
	char msg[1536], theirs[65], why[128];
	enum answer_kind k;
	int r;

	if (read_answer(op, req, result, &ia))
		return;
	/* Why the registry was read: the messages say it as it was. */
	if (op->probing)
		snprintf(why, sizeof(why), "asking whether an interrupted send arrived");
	else
		snprintf(why, sizeof(why),
			 "it answered that the file exists; reading "
			 "its digest");
	if (op->probing && ia.kind == INDEX_ABSENT) {
		send_after_probe(op, ia.said);
		return;
	}
	if (ia.kind != INDEX_FOUND) {
		/* Not there although the registry said it exists: an index that
		 * lags behind (a CDN) is asked again later. */
		snprintf(msg, sizeof(msg), "%s: registry %s: %s: %s", f->art->filename,
			 op->reg_name, why, ia.said);
		publish_file_done(op, ia.kind == INDEX_AUTH ? OUT_AUTH : OUT_ERROR, msg);
		return;
	}
	if (op->type == REGISTRY_NPM) {
		struct answer_packument p = {0};
		char spec[600];

		snprintf(spec, sizeof(spec), "%s@%s", f->art->name, f->art->version);
		if (answer_npm_packument(req->body.data, req->body.len, f->art->version,
					 &p) < 0 ||
		    !p.has_version) {
			snprintf(msg, sizeof(msg),
				 "%s: registry %s refused %s as existing, "
				 "but its package document (%s) does not list it",
				 f->art->filename, op->reg_name, spec, ia.said);
			publish_file_done(op, OUT_CONFLICT, msg);
			return;
		}
		k = answer_npm_identity(spec, f->art->sha512_sri, f->art->sha1, &p, msg,
					sizeof(msg));
		publish_file_done(op, k == ANSWER_OK ? OUT_EXISTS : OUT_CONFLICT, msg);
		return;
	}
	publish_page_format(op, req);
	r = answer_pypi_file_sha256(req->body.data, req->body.len, f->art->filename,
				    theirs);
	if (op->probing && r == AOS_ENOTFOUND) {
		/* The project is there, this file is not: the send did not arrive. */
		send_after_probe(op, ia.said);
		return;
	}
	op->probing = false;
	f->probe = false;
	if (r < 0) {
		snprintf(msg, sizeof(msg),
			 "%s: registry %s: %s: %s: the page does not show its sha256 "
			 "(%s); a different file may hold the name (ours: sha256 %s)",
			 f->art->filename, op->reg_name, why, ia.said, aos_strerror(r),
			 f->art->sha256);
		publish_file_done(op, OUT_CONFLICT, msg);
		return;
	}
	k = answer_pypi_identity(f->art->filename, f->art->sha256, theirs, msg,
				 sizeof(msg));
	publish_file_done(op, k == ANSWER_OK ? OUT_EXISTS : OUT_CONFLICT, msg);
}

void publish_verify_exists(struct publish_op *op)
{
	struct pub_file *f = &op->files[op->cur];
	char *url;

	if (op->type == REGISTRY_NPM)
		url = npm_package_url(op->url, f->art->name);
	else
		url = pypi_simple_url(op->index_url, f->art->name);
	start_get(op, PH_VERIFY, url, op->type == REGISTRY_NPM, 0, verify_done);
	free(url);
}
