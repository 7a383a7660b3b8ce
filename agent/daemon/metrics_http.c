/* metrics_http.c - GET /metrics: on the webhook listener (ingest.c routes
 * it here), or on its own listener at metrics.address.  The queue's stats
 * are read on the read queue (a->rq); the answer is written from that
 * read's completion, to every scrape that waited for it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/http.h"
#include "base/log.h"
#include "common/backoff.h"
#include "common/err.h"
#include "daemon/agent.h"
#include "daemon/metrics.h"
#include "queue/queue_async.h"

#define PROM_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define REPLY_LIT(c, status, extra, lit)                                                 \
	http_reply((c), (status), (extra), (lit), sizeof(lit) - 1)

/* A stats read out for scrapes: every connection waiting for it.  http.c
 * keeps a connection until it is answered, even when its client left or
 * the listener closed (the answer is then dropped), so each waiter is
 * answered exactly once, from the completion. */
struct scrape_waiter {
	struct http_conn *c;
	struct scrape_waiter *next;
};

struct metrics_scrape {
	struct agent *a;
	int64_t now_ms; /* when the stats were asked for */
	struct scrape_waiter *waiters;
};

static void reply_text(struct http_conn *c, int status, const char *extra,
		       const char *text)
{
	http_reply_typed(c, status, "text/plain; charset=utf-8", extra, text,
			 strlen(text));
}

/* Answers each waiter of sc with the exposition (or why there is none),
 * and frees sc. */
static void scrape_answer(struct metrics_scrape *sc, const struct queue_async_result *res)
{
	struct agent *a = sc->a;
	struct scrape_waiter *w;
	struct buf b;
	int rc = res->rc;

	buf_init(&b, METRICS_TEXT_MAX);
	if (rc >= 0 && !a->stopping)
		rc = metrics_render(a->metrics, a, &res->stats, sc->now_ms, &b);
	if (rc < 0 && !a->stopping)
		log_warn_r(rc, "GET /metrics: cannot render the metrics");
	while ((w = sc->waiters) != NULL) {
		sc->waiters = w->next;
		if (a->stopping)
			reply_text(w->c, 503, NULL, "the daemon is stopping\n");
		else if (rc < 0)
			REPLY_LIT(w->c, 500, NULL,
				  "{\"ok\":false,\"error\":\"cannot render the metrics; "
				  "see the daemon's log\"}");
		else
			http_reply_typed(w->c, 200, PROM_TYPE, NULL, b.data, b.len);
		free(w);
	}
	buf_free(&b);
	free(sc);
}

static void stats_done(struct queue_async_result *res, void *data)
{
	struct metrics_scrape *sc = data;

	sc->a->scrape = NULL;
	scrape_answer(sc, res);
}

/* Posts the stats read for a new scrape (a->scrape); 0 or the post's
 * refusal. */
static int scrape_start(struct agent *a)
{
	struct metrics_scrape *sc;
	int rc;

	if (a->stopping || a->rq == NULL)
		return -ESHUTDOWN;
	sc = calloc(1, sizeof(*sc));
	if (sc == NULL)
		return -ENOMEM;
	sc->a = a;
	sc->now_ms = aos_wall_ms();
	rc = queue_async_stats(a->rq, sc->now_ms, stats_done, sc);
	if (rc < 0) {
		free(sc);
		return rc;
	}
	a->scrape = sc;
	return 0;
}

void metrics_reply(struct agent *a, struct http_conn *c, const struct http_request *r)
{
	struct scrape_waiter *w;
	int rc = 0;

	if (r->method != HTTP_GET && r->method != HTTP_HEAD) {
		REPLY_LIT(c, 405, "Allow: GET, HEAD\r\n",
			  "{\"ok\":false,\"error\":\"use GET\"}");
		return;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL)
		rc = -ENOMEM;
	else if (a->scrape == NULL)
		rc = scrape_start(a); /* else: shares the read out */
	if (rc == -EBUSY) {
		reply_text(c, 503, "Retry-After: 1\r\n",
			   "the queue is busy: too many reads of it are waiting; "
			   "retry in a moment\n");
	} else if (rc == -ESHUTDOWN) {
		reply_text(c, 503, NULL, "the daemon is stopping\n");
	} else if (rc < 0) {
		log_warn_r(rc, "GET /metrics from %s: cannot read the queue",
			   http_conn_peer(c));
		reply_text(c, 503, NULL, "cannot read the queue; see the daemon's log\n");
	}
	if (rc < 0) {
		free(w);
		return;
	}
	w->c = c;
	w->next = a->scrape->waiters;
	a->scrape->waiters = w;
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
