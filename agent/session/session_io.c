/* session_io.c - the session's clock, timers and Vault requests on the loop
 * and the transport (session_uv_io; the unit tests bring their own), and
 * the Vault requests' own (the session's and the database credentials'):
 * their start, and a redirect followed within the configured origin. */
#include <errno.h>

#include "base/log.h"
#include "base/transport.h"
#include "session_internal.h"

static uint64_t uv_io_now(const struct vault_session *s)
{
	return uv_now(s->loop);
}

static void timer_cb(uv_timer_t *t)
{
	struct vault_session *s = t->data;

	s->fire(s, (enum session_timer)(t - s->timers));
}

static void uv_io_arm(struct vault_session *s, enum session_timer t, uint64_t ms)
{
	uv_timer_start(&s->timers[t], timer_cb, ms, 0);
}

static void uv_io_stop(struct vault_session *s, enum session_timer t)
{
	uv_timer_stop(&s->timers[t]);
}

int session__vault_request(struct transport *tp, const struct config *cfg,
			   const struct vault_conn *conn, const char *method,
			   const char *path, const char *body, const struct secret *tok,
			   struct curl_slist **hdrs, transport_cb cb, void *data,
			   struct transport_req **ret)
{
	struct transport_req *req = NULL;
	int r;

	r = transport_req_new(tp, (size_t)cfg->vault.max_response_bytes, &req);
	if (r < 0)
		return r;
	r = vault_request_setup(req->easy, conn, method, path, body, tok, hdrs);
	if (r == 0) {
		curl_easy_setopt(req->easy, CURLOPT_TIMEOUT, cfg->request_timeout_s);
		r = transport_start(req, cb, data);
	}
	if (r < 0) {
		vault_headers_free(*hdrs);
		*hdrs = NULL;
		transport_req_free(req);
		return r;
	}
	*ret = req;
	return 0;
}

int session__follow_redirect(struct transport_req *req, const struct vault_conn *conn,
			     unsigned *redirects, const char *what, transport_cb cb,
			     void *data, char *errbuf, size_t errlen)
{
	char next[VAULT_URL_MAX];
	const char *url = NULL, *location = NULL;
	int r;

	curl_easy_getinfo(req->easy, CURLINFO_EFFECTIVE_URL, &url);
	/* curl resolves Location here even though it does not follow it. */
	curl_easy_getinfo(req->easy, CURLINFO_REDIRECT_URL, &location);
	r = vault_redirect_next(conn, url != NULL ? url : conn->address, location,
				*redirects, next, sizeof(next), errbuf, errlen);
	if (r < 0)
		return r;
	if (curl_easy_setopt(req->easy, CURLOPT_URL, next) != CURLE_OK)
		return -ENOMEM;
	(*redirects)++;
	log_debug("Vault %s: HTTP %ld, following the redirect to %s", what, req->status,
		  next);
	return transport_start(req, cb, data);
}

static int uv_io_request(struct vault_session *s, const char *method, const char *path,
			 const char *body, const struct secret *tok,
			 struct transport_req **ret)
{
	return session__vault_request(s->tp, s->cfg, &s->conn, method, path, body, tok,
				      &s->hdrs, s->done, s, ret);
}

static void uv_io_cancel(struct vault_session *s)
{
	transport_cancel(s->req);
}

const struct session_io session_uv_io = {
    .now = uv_io_now,
    .arm = uv_io_arm,
    .stop = uv_io_stop,
    .request = uv_io_request,
    .cancel = uv_io_cancel,
};
