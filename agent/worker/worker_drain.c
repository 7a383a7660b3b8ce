/* worker_drain.c - drains as the worker sees them.  A drain is kept in the
 * queue (queue.h drain_set): the fleet's or one host's, and every claim
 * checks it in its own transaction, so this file decides nothing about
 * claims.  It keeps what the last read of the drains said, for status,
 * metrics and a job's wait reason, and moves the drain of an older version
 * (the marker file <state_dir>/draining) into the queue as this host's.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "common/err.h"
#include "config/config.h"
#include "queue/queue.h"
#include "queue/queue_async.h"
#include "worker/worker.h"
#include "worker_internal.h"

#define DRAINS_READ_MS 1000 /* the drains are read at most this often */

static void marker_path(const struct worker *w, char *path, size_t len)
{
	snprintf(path, len, "%s/draining", worker__cfg(w)->state_dir);
}

void worker__drain_init(struct worker *w)
{
	char path[4200];

	if (queue_owner_host(w->owner, w->host, sizeof(w->host)) < 0)
		w->host[0] = '\0'; /* no drain can name it; the fleet's holds */
	marker_path(w, path, sizeof(path));
	if (access(path, F_OK) == 0) {
		log_notice("the queue was drained before this start (%s): no job starts "
			   "until the drain is moved into the queue as this host's (%s)",
			   path, w->host);
		w->marker = true;
	}
}

static void marker_moved(struct queue_async_result *res, void *data)
{
	struct worker *w = data;
	char path[4200];

	w->marker_out = false;
	marker_path(w, path, sizeof(path));
	if (res->rc >= 0) {
		if (unlink(path) < 0 && errno != ENOENT)
			log_warn("cannot remove %s: the next start moves it again", path);
		log_notice("the drain of this host is kept in the queue now: "
			   "`aos-publishctl resume --host %s` ends it",
			   w->host);
		w->marker = false;
		w->drains_at = 0; /* read them again at once */
		w->kick(w);	  /* worker_kick: worker.c calls this file */
	} else if (res->rc != -ECANCELED && !w->marker_warned) {
		log_err_r(res->rc,
			  "cannot record the drain of %s in the queue (tried again every "
			  "second); no job starts here meanwhile",
			  path);
		w->marker_warned = true;
	}
	worker__completed(w);
}

static void drains_read(struct queue_async_result *res, void *data)
{
	struct worker *w = data;

	w->drains_out = false;
	if (res->rc >= 0 && !w->closing)
		worker_drains_seen(w, res->drains, res->n);
	worker__completed(w);
}

/* Whether the drains are to be read again: none is out, and the last
 * read is a second old (or the clock went back). */
static bool drains_due(const struct worker *w, int64_t now)
{
	return !w->drains_out && (w->drains_at == 0 || now < w->drains_at ||
				  now - w->drains_at >= DRAINS_READ_MS);
}

void worker__drains_refresh(struct worker *w)
{
	int64_t now = worker__now(w);

	if (w->closing)
		return;
	if (w->marker && !w->marker_out && w->host[0] != '\0') {
		if (queue_async_drain_set(w->qa, w->host, true, now, marker_moved, w) ==
		    0) {
			w->marker_out = true;
			worker__posted(w);
		}
	}
	if (!drains_due(w, now))
		return;
	if (queue_async_drains(w->qa, QUEUE_DRAINS_MAX, drains_read, w) == 0) {
		w->drains_out = true;
		w->drains_at = now;
		worker__posted(w);
	}
}

void worker_drains_seen(struct worker *w, const struct queue_drain *d, size_t n)
{
	bool was = w->drained;
	size_t i;

	if (n > QUEUE_DRAINS_MAX)
		n = QUEUE_DRAINS_MAX;
	memcpy(w->drains, d, n * sizeof(*d));
	w->ndrains = n;
	w->drained = false;
	for (i = 0; i < n; i++)
		if (d[i].host[0] == '\0' || strcmp(d[i].host, w->host) == 0)
			w->drained = true;
	if (was != w->drained)
		log_notice("queue %s", w->drained
					   ? "drained: no new jobs start on this host"
					   : "resumed on this host");
	if (was && !w->drained)
		w->kick(w); /* worker_kick: worker.c calls this file */
}

const char *worker_host(const struct worker *w)
{
	return w->host;
}

bool worker_fleet_drained(const struct worker *w)
{
	size_t i;

	for (i = 0; i < w->ndrains; i++)
		if (w->drains[i].host[0] == '\0')
			return true;
	return false;
}

cJSON *worker_drains_json(const struct worker *w)
{
	cJSON *o = cJSON_CreateObject(), *hosts;
	size_t i;

	hosts = cJSON_CreateArray();
	for (i = 0; i < w->ndrains; i++)
		if (w->drains[i].host[0] != '\0')
			cJSON_AddItemToArray(hosts,
					     cJSON_CreateString(w->drains[i].host));
	cJSON_AddBoolToObject(o, "fleet", worker_fleet_drained(w));
	cJSON_AddItemToObject(o, "hosts", hosts);
	return o;
}

void worker_set_draining(struct worker *w, bool drain)
{
	if (w->draining != drain)
		log_notice("queue %s", drain ? "draining: no new jobs start" : "resumed");
	w->draining = drain;
	if (!drain)
		w->kick(w); /* worker_kick: worker.c calls this file */
}

bool worker_draining(const struct worker *w)
{
	return w->draining || w->marker || w->drained;
}
