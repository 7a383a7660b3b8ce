/* publish_op.c - what every part of a publish uses (publish_internal.h):
 * the end of an op (its transfer released, its files and copies freed in
 * the timer's close callback), its events, a new request, the version of
 * its token key, and the reads of the registry (a GET with the right
 * headers, its answer classified, same-origin redirects followed).  It
 * calls no other file of publish/: where a read ends the current file, it
 * goes on through op->flow (publish.c's), so that publish.c,
 * publish_check.c and publish_plan.c call this file and not each other
 * back. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "base/transport.h"
#include "common/err.h"
#include "common/url.h"
#include "publishers/answer.h"
#include "publishers/artifact.h"
#include "publishers/npm.h"
#include "publishers/pypi.h"
#include "publishers/registry.h"
#include "publish_internal.h"

#define ANSWER_BODY_MAX (8u * 1024 * 1024) /* index pages, packuments */

static void op_closed(uv_handle_t *h)
{
	struct publish_op *op = h->data;
	size_t i;

	for (i = 0; i < op->nfiles; i++) {
		if (op->remove_dir != NULL && op->files[i].path != NULL)
			unlink(op->files[i].path);
		free(op->files[i].path);
		free(op->files[i].label);
		free(op->files[i].record);
		artifact_free(op->files[i].art);
	}
	if (op->remove_dir != NULL)
		rmdir(op->remove_dir);
	free(op->remove_dir);
	free(op->files);
	free(op->reg_name);
	free(op->url);
	free(op->token_key);
	free(op->username);
	free(op->index_url);
	free(op->access);
	free(op->tag);
	free(op->tag_given_by);
	free(op->prerelease_tag);
	free(op->expected_version);
	free(op);
}

static void release_transfer(struct publish_op *op)
{
	pypi_upload_free(op->pu);
	op->pu = NULL;
	npm_publish_free(op->np);
	op->np = NULL;
	registry_headers_free(op->hdrs);
	op->hdrs = NULL;
	transport_req_free(op->req);
	op->req = NULL;
}

void publish_op_destroy(struct publish_op *op)
{
	release_transfer(op);
	secret_unref(op->token); /* the upload lets go of its token */
	op->token = NULL;
	uv_close((uv_handle_t *)&op->timer, op_closed);
}

void publish_send_event(struct publish_op *op, cJSON *ev)
{
	if (op->hooks.event != NULL)
		op->hooks.event(op->hooks.data, ev);
	cJSON_Delete(ev);
}

int publish_new_request(struct publish_op *op)
{
	int r;

	release_transfer(op);
	r = transport_req_new(op->env.tp, ANSWER_BODY_MAX, &op->req);
	if (r == 0)
		op->req->send_until = op->send_until;
	return r;
}

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

void publish_read_start(struct publish_op *op, enum pub_phase phase, const char *url,
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
		op->flow->file_done(op, OUT_ERROR, msg);
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
	publish_read_start(op, op->read_phase, ia->location, op->read_npm,
			   op->read_hops + 1, op->read_cb);
	return true;
}

void publish_get(struct publish_op *op, const char *url, transport_cb cb)
{
	publish_read_start(op, PH_VERIFY, url, false, 0, cb);
}
