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
		op->flow->retry(op, -1, ia->said);
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
			op->flow->file_done(op, OUT_ERROR, msg);
			return;
		}
	} else if (ia.kind != INDEX_ABSENT) {
		/* INDEX_ABSENT: a new package, nothing published yet. */
		snprintf(msg, sizeof(msg),
			 "%s: cannot read %s's package document from "
			 "registry %s: %s",
			 f->art->filename, f->art->name, op->reg_name, ia.said);
		op->flow->file_done(op, ia.kind == INDEX_AUTH ? OUT_AUTH : OUT_REJECTED,
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
			op->flow->file_done(
			    op, k == ANSWER_OK ? OUT_EXISTS : OUT_CONFLICT, msg);
		return;
	}
	if (publish_decide_tag(op, f, p.has_latest ? p.latest : NULL, err, sizeof(err)) <
	    0) {
		snprintf(msg, sizeof(msg), "%s: %s", f->art->filename, err);
		op->flow->file_done(op, OUT_INVALID, msg);
		return;
	}
	if (op->dry_run) {
		publish_dry_run_done(op, PLAN_PUBLISH, NULL);
		return;
	}
	op->flow->upload(op);
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

	publish_read_start(op, PH_PACKUMENT, url, true, 0, packument_done);
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
	op->flow->upload(op);
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
		op->flow->file_done(op, ia.kind == INDEX_AUTH ? OUT_AUTH : OUT_ERROR,
				    msg);
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
			op->flow->file_done(op, OUT_CONFLICT, msg);
			return;
		}
		k = answer_npm_identity(spec, f->art->sha512_sri, f->art->sha1, &p, msg,
					sizeof(msg));
		op->flow->file_done(op, k == ANSWER_OK ? OUT_EXISTS : OUT_CONFLICT, msg);
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
		op->flow->file_done(op, OUT_CONFLICT, msg);
		return;
	}
	k = answer_pypi_identity(f->art->filename, f->art->sha256, theirs, msg,
				 sizeof(msg));
	op->flow->file_done(op, k == ANSWER_OK ? OUT_EXISTS : OUT_CONFLICT, msg);
}

void publish_verify_exists(struct publish_op *op)
{
	struct pub_file *f = &op->files[op->cur];
	char *url;

	if (op->type == REGISTRY_NPM)
		url = npm_package_url(op->url, f->art->name);
	else
		url = pypi_simple_url(op->index_url, f->art->name);
	publish_read_start(op, PH_VERIFY, url, op->type == REGISTRY_NPM, 0, verify_done);
	free(url);
}
