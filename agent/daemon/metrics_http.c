/* metrics_http.c - GET /metrics: on the webhook listener (ingest.c routes
 * it here), or on its own listener at metrics.address. */
#include <stdio.h>
#include <string.h>

#include "base/http.h"
#include "base/log.h"
#include "common/err.h"
#include "daemon/agent.h"
#include "daemon/metrics.h"

#define PROM_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define REPLY_LIT(c, status, extra, lit)                                                 \
	http_reply((c), (status), (extra), (lit), sizeof(lit) - 1)

void metrics_reply(struct agent *a, struct http_conn *c, const struct http_request *r)
{
	struct buf b;
	int rc;

	if (r->method != HTTP_GET && r->method != HTTP_HEAD) {
		REPLY_LIT(c, 405, "Allow: GET, HEAD\r\n",
			  "{\"ok\":false,\"error\":\"use GET\"}");
		return;
	}
	buf_init(&b, METRICS_TEXT_MAX);
	rc = metrics_render(a->metrics, a, &b);
	if (rc < 0) {
		log_warn_r(rc, "GET /metrics from %s: cannot render the metrics",
			   http_conn_peer(c));
		REPLY_LIT(c, 500, NULL,
			  "{\"ok\":false,\"error\":\"cannot render the metrics; "
			  "see the daemon's log\"}");
	} else {
		http_reply_typed(c, 200, PROM_TYPE, NULL, b.data, b.len);
	}
	buf_free(&b);
}

static bool is_metrics(const char *url)
{
	return strncmp(url, "/metrics", 8) == 0 && (url[8] == '\0' || url[8] == '?');
}

bool metrics_route(struct agent *a, struct http_conn *c, const struct http_request *r)
{
	if (!is_metrics(r->url) || a->metrics_srv != NULL) /* served there */
		return false;
	metrics_reply(a, c, r);
	return true;
}

static void handle(struct http_conn *c, const struct http_request *r, void *data)
{
	struct agent *a = data;

	if (is_metrics(r->url))
		metrics_reply(a, c, r);
	else
		REPLY_LIT(c, 404, NULL,
			  "{\"ok\":false,\"error\":\"no such path (GET /metrics)\"}");
}

int metrics_listen(struct agent *a)
{
	const struct metrics_cfg *m = &a->cfg->metrics;
	/* The webhook listener's limits; a scrape is a small GET. */
	struct http_limits lim = {
	    .max_header_bytes = 16384,
	    .max_body_bytes = 1024,
	    .header_timeout_ms = 10000,
	    .body_timeout_ms = 10000,
	    .idle_timeout_ms = 60000,
	    .max_connections = 16,
	    .max_unauthenticated_bytes = 0,
	};
	char err[512];
	int r;

	if (m->address == NULL)
		return 0;
	r = http_server_open(&a->loop, m->host, m->port, &lim,
			     &(struct http_hooks){.request = handle, .data = a},
			     &a->metrics_srv, err, sizeof(err));
	if (r < 0) {
		log_err("%s (metrics.address in %s)", err, a->cfg->path);
		a->metrics_srv = NULL;
		return r;
	}
	log_notice("serving metrics on %s (%s port %d; GET /metrics)", m->address,
		   m->host, m->port);
	return 0;
}
