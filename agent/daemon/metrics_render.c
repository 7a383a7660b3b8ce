/* metrics_render.c - the metrics read from the daemon at each scrape: the
 * daemon's and the Vault session's state, jobs per kind and state and the
 * oldest due job (queue stats, on indexes, read on the read queue by
 * metrics_http.c), the secrets' versions and ages
 * (from the session's status: never a value), the state filesystem. */
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "base/prom.h"
#include "common/backoff.h"
#include "daemon/agent.h"
#include "daemon/metrics.h"
#include "worker/worker.h"

/* Here rather than in metrics.c, which calls this file: both label by it. */
const char *const metrics__kinds[JOB_PIPELINE + 1] = {
    [JOB_PUBLISH] = "publish", [JOB_PIPELINE] = "pipeline"};

/* One-hot: name{label="w"} 1 for the current word, 0 for the others. */
static int one_hot(struct buf *b, const char *name, const char *label,
		   const char *const *words, const char *cur, const char *help)
{
	char l[PROM_LABELS_MAX];
	int r = prom_family(b, name, "gauge", help);

	for (; r == 0 && *words != NULL; words++) {
		prom_labels(l, sizeof(l), label, *words, NULL);
		r = prom_sample(b, name, l, strcmp(*words, cur) == 0 ? 1 : 0);
	}
	return r;
}

/* A gauge or counter with one unlabelled sample. */
static int single(struct buf *b, const char *name, const char *type, const char *help,
		  double v)
{
	int r = prom_family(b, name, type, help);

	return r < 0 ? r : prom_sample(b, name, NULL, v);
}

/* The queue's stats, read at now. */
static int render_stats(const struct queue_stats *st, int64_t now, struct buf *b)
{
	static const char *const states[] = {NULL,     "queued", "running", "succeeded",
					     "failed", "dead",	 "canceled"};
	char l[PROM_LABELS_MAX];
	int r, k, s;

	r = prom_family(b, "aos_jobs", "gauge", "Jobs in the queue by kind and state.");
	for (k = JOB_PUBLISH; r == 0 && k <= JOB_PIPELINE; k++) {
		for (s = JOB_QUEUED; r == 0 && s <= JOB_CANCELED; s++) {
			prom_labels(l, sizeof(l), "kind", metrics__kinds[k], "state",
				    states[s], NULL);
			r = prom_sample(b, "aos_jobs", l, (double)st->jobs[k][s]);
		}
	}
	if (r == 0)
		r = single(b, "aos_queue_oldest_due_seconds", "gauge",
			   "How long the oldest due job (queued or failed, its next run "
			   "come) has waited; 0 when none waits.",
			   st->oldest_due_ms > 0
			       ? (double)(now - st->oldest_due_ms) / 1000.0
			       : 0);
	return r;
}

static int render_queue(struct agent *a, const struct queue_stats *st, int64_t now,
			struct buf *b)
{
	int r = st != NULL ? render_stats(st, now, b) : 0;

	if (r == 0 && a->worker != NULL)
		r = single(b, "aos_jobs_running_here", "gauge",
			   "Jobs this process runs now.",
			   (double)worker_running(a->worker));
	if (r == 0 && a->worker != NULL)
		r = single(b, "aos_worker_draining", "gauge",
			   "1 while no new job starts (drain, stop).",
			   worker_draining(a->worker) ? 1 : 0);
	return r;
}

static double num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static bool flag(const cJSON *o, const char *key)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, key));
}

/* Series read from the session's status (session_vault_json's keys). */
static const struct {
	const char *name, *type, *help, *key;
} vault_series[] = {
    {"aos_vault_logins_total", "counter", "Vault logins.", "logins"},
    {"aos_vault_renewals_total", "counter", "Vault token renewals.", "renewals"},
    {"aos_vault_requests_total", "counter", "Requests to Vault.", "requests"},
    {"aos_vault_consecutive_failures", "gauge", "Vault exchanges failed in a row.",
     "consecutive_failures"},
    {"aos_secrets_kv_version", "gauge", "Version of the Vault secret the daemon holds.",
     "kv_version"},
};

static int render_vault(struct agent *a, struct buf *b)
{
	static const char *const states[] = {"starting", "ready", "degraded",
					     "waiting_for_operator", NULL};
	cJSON *v = session_vault_json(a->session);
	const char *cur;
	size_t i;
	int r;

	if (v == NULL)
		return -ENOMEM;
	cur = !session_loaded(a->session)	? "starting"
	      : flag(v, "waiting_for_operator") ? "waiting_for_operator"
	      : session_healthy(a->session)	? "ready"
						: "degraded";
	r = one_hot(b, "aos_vault_session_state", "state", states, cur,
		    "The Vault session: starting (secret never read), ready, degraded "
		    "(Vault failing or a key missing; tokens last read are used), "
		    "waiting_for_operator (credentials refused).");
	if (r == 0 && flag(v, "authenticated") && num(v, "token_ttl_s") > 0)
		r = single(b, "aos_vault_token_ttl_seconds", "gauge",
			   "Seconds the daemon's Vault token has left (absent when it "
			   "does not expire).",
			   num(v, "token_ttl_s"));
	for (i = 0; r == 0 && i < sizeof(vault_series) / sizeof(vault_series[0]); i++)
		r = single(b, vault_series[i].name, vault_series[i].type,
			   vault_series[i].help, num(v, vault_series[i].key));
	cJSON_Delete(v);
	return r;
}

/* Vault's created_time ("2026-01-02T03:04:05.123Z") in Unix seconds, or -1. */
static double vault_time(const char *t)
{
	struct tm tm = {0};
	const char *rest = t != NULL ? strptime(t, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;

	if (rest == NULL)
		return -1;
	return (double)timegm(&tm);
}

static int render_secrets(struct agent *a, struct buf *b)
{
	cJSON *arr = session_secrets_json(a->session), *e;
	double now = (double)aos_wall_ms() / 1000.0;
	char l[PROM_LABELS_MAX];
	int r;

	if (arr == NULL)
		return -ENOMEM;
	r = prom_family(b, "aos_secret_present", "gauge",
			"1 when the Vault secret holds the configured key.");
	cJSON_ArrayForEach(e, arr)
	{
		if (r == 0 && prom_labels(l, sizeof(l), "key",
					  cJSON_GetStringValue(
					      cJSON_GetObjectItemCaseSensitive(e, "key")),
					  NULL) == 0)
			r = prom_sample(b, "aos_secret_present", l,
					flag(e, "present") ? 1 : 0);
	}
	if (r == 0)
		r = prom_family(b, "aos_secret_version", "gauge",
				"KV version in which each key's value was last written.");
	if (r == 0)
		r = prom_family(b, "aos_secret_age_seconds", "gauge",
				"Seconds since that version was written (a key's age).");
	cJSON_ArrayForEach(e, arr)
	{
		double created = vault_time(cJSON_GetStringValue(
		    cJSON_GetObjectItemCaseSensitive(e, "created_time")));

		if (r < 0 || !flag(e, "present") ||
		    prom_labels(
			l, sizeof(l), "key",
			cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "key")),
			NULL) < 0)
			continue;
		r = prom_sample(b, "aos_secret_version", l, num(e, "version"));
		if (r == 0 && created >= 0)
			r = prom_sample(b, "aos_secret_age_seconds", l,
					now > created ? now - created : 0);
	}
	cJSON_Delete(arr);
	return r;
}

static int render_disk(struct agent *a, struct buf *b)
{
	struct statvfs sv;
	int r;

	if (statvfs(a->cfg->state_dir, &sv) < 0)
		return 0; /* no sample rather than a wrong one */
	r = single(b, "aos_state_filesystem_avail_bytes", "gauge",
		   "Bytes free for the daemon on the filesystem of state_dir.",
		   (double)sv.f_bavail * (double)sv.f_frsize);
	if (r == 0)
		r = single(b, "aos_state_filesystem_size_bytes", "gauge",
			   "Size of the filesystem of state_dir.",
			   (double)sv.f_blocks * (double)sv.f_frsize);
	return r;
}

int metrics__render_daemon(struct agent *a, const struct queue_stats *st, int64_t now_ms,
			   struct buf *b)
{
	static const char *const states[] = {"starting", "ready", "degraded", "stopping",
					     NULL};
	int r;

	r = one_hot(b, "aos_daemon_state", "state", states, agent_state(a),
		    "The daemon's state (as in `aos-publishctl status`).");
	if (r == 0)
		r = single(b, "aos_daemon_start_time_seconds", "gauge",
			   "When the daemon started (Unix seconds).",
			   (double)a->start_wall_ms / 1000.0);
	if (r == 0)
		r = render_queue(a, st, now_ms, b);
	if (r == 0)
		r = render_vault(a, b);
	if (r == 0)
		r = render_secrets(a, b);
	if (r == 0)
		r = render_disk(a, b);
	if (r == 0)
		r = disk_render(a, b);
	return r;
}
