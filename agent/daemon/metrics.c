/* metrics.c - the counters and histograms of the daemon's metrics, fed by
 * hooks, and their exposition (metrics.h). */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/prom.h"
#include "daemon/metrics.h"

/* Seconds: uploads and build steps take seconds to many minutes; jobs up
 * to the queue's days of retries; a commit is an fsync. */
static const double upload_bounds[] = {0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900};
static const double job_bounds[] = {1, 5, 15, 60, 300, 900, 3600, 14400, 86400};
static const double step_bounds[] = {1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600};
static const double commit_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025,
				       0.05,  0.1,    0.25,  0.5,  1};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static const char *const ends[] = {"succeeded", "dead"};
static const char *const deliveries[MD__COUNT] = {
    [MD_ACCEPTED] = "accepted", [MD_DUPLICATE] = "duplicate",
    [MD_IGNORED] = "ignored",	[MD_PING] = "ping",
    [MD_REJECTED] = "rejected", [MD_UNAVAILABLE] = "unavailable",
};
static const char *const step_kinds[] = {"checkout", "build", "verify"};
static const char *const step_results[] = {"ok", "failed", "signal", "timeout", "error"};

#define NOUT (OUT_DRY_RUN + 1)
#define NSTEP N(step_kinds)
#define NRES N(step_results)

struct reg_stats {
	char name[128];
	struct prom_hist upload;
	uint64_t bytes;
	uint64_t retries;
	uint64_t answers[NOUT];
};

struct pl_stats {
	char name[128];
	struct prom_hist step[NSTEP];
	uint64_t results[NSTEP][NRES];
};

/* slot() finds an entry by the name it starts with. */
_Static_assert(offsetof(struct reg_stats, name) == 0, "name first");
_Static_assert(offsetof(struct pl_stats, name) == 0, "name first");

struct metrics {
	struct prom_hist job[JOB_PIPELINE + 1][N(ends)];
	uint64_t retries[JOB_PIPELINE + 1];
	struct reg_stats regs[METRICS_NAMES_MAX];
	size_t nregs;
	struct pl_stats pls[METRICS_NAMES_MAX];
	size_t npls;
	uint64_t deliveries[FORGE__COUNT + 1][MD__COUNT];
	struct prom_hist commit;
	int64_t kv_version;
	int64_t pickup_ms;
};

int metrics_new(struct metrics **ret)
{
	struct metrics *m = calloc(1, sizeof(*m));
	size_t k, e;

	if (m == NULL)
		return -ENOMEM;
	for (k = JOB_PUBLISH; k <= JOB_PIPELINE; k++)
		for (e = 0; e < N(ends); e++)
			prom_hist_init(&m->job[k][e], job_bounds, N(job_bounds));
	prom_hist_init(&m->commit, commit_bounds, N(commit_bounds));
	*ret = m;
	return 0;
}

void metrics_free(struct metrics *m)
{
	free(m);
}

/* The slot of name in a table of n entries of stride bytes, each starting
 * with its name (128 bytes); a new one is added, named "other" when only
 * the last slot is left, which then takes every further name. */
static size_t slot(char *names, size_t stride, size_t *n, const char *name, bool *ret_new)
{
	size_t i;

	*ret_new = false;
	for (i = 0; i < *n; i++)
		if (strcmp(names + i * stride, name) == 0)
			return i;
	if (*n == METRICS_NAMES_MAX)
		return METRICS_NAMES_MAX - 1;
	snprintf(names + *n * stride, 128, "%s",
		 *n == METRICS_NAMES_MAX - 1 ? "other" : name);
	*ret_new = true;
	return (*n)++;
}

static struct reg_stats *reg_of(struct metrics *m, const char *name)
{
	bool fresh;
	size_t i = slot(m->regs[0].name, sizeof(m->regs[0]), &m->nregs, name, &fresh);

	if (fresh)
		prom_hist_init(&m->regs[i].upload, upload_bounds, N(upload_bounds));
	return &m->regs[i];
}

static struct pl_stats *pl_of(struct metrics *m, const char *name)
{
	bool fresh;
	size_t i = slot(m->pls[0].name, sizeof(m->pls[0]), &m->npls, name, &fresh), s;

	for (s = 0; fresh && s < NSTEP; s++)
		prom_hist_init(&m->pls[i].step[s], step_bounds, N(step_bounds));
	return &m->pls[i];
}

static size_t word_index(const char *const *words, size_t n, const char *w)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(words[i], w) == 0)
			return i;
	return n;
}

void metrics_job_changed(struct metrics *m, const struct job *j)
{
	double secs = (double)(j->updated_ms - j->created_ms) / 1000.0;

	if (j->kind < JOB_PUBLISH || j->kind > JOB_PIPELINE)
		return;
	if (j->state == JOB_FAILED)
		m->retries[j->kind]++;
	else if (j->state == JOB_SUCCEEDED)
		prom_hist_observe(&m->job[j->kind][0], secs);
	else if (j->state == JOB_DEAD)
		prom_hist_observe(&m->job[j->kind][1], secs);
}

void metrics_upload(struct metrics *m, const struct worker_upload_stat *u)
{
	struct reg_stats *r = reg_of(m, u->registry);

	if (u->outcome < NOUT)
		r->answers[u->outcome]++;
	r->bytes += u->bytes;
	if (u->sends > 1)
		r->retries += u->sends - 1;
	if (u->seconds >= 0)
		prom_hist_observe(&r->upload, u->seconds);
}

void metrics_step(struct metrics *m, const char *pipeline, const char *which,
		  const char *result, double seconds)
{
	struct pl_stats *p = pl_of(m, pipeline);
	size_t s = word_index(step_kinds, NSTEP, which);
	size_t r = word_index(step_results, NRES, result);

	if (s == NSTEP || r == NRES)
		return;
	p->results[s][r]++;
	prom_hist_observe(&p->step[s], seconds);
}

void metrics_delivery(struct metrics *m, enum forge forge, enum metrics_delivery out)
{
	if ((unsigned)forge > FORGE__COUNT || (unsigned)out >= MD__COUNT)
		return;
	m->deliveries[forge][out]++;
}

void metrics_commit(struct metrics *m, double seconds)
{
	prom_hist_observe(&m->commit, seconds);
}

void metrics_secrets(struct metrics *m, int64_t kv_version, int64_t now_ms)
{
	if (kv_version <= 0 || kv_version == m->kv_version)
		return;
	m->kv_version = kv_version;
	m->pickup_ms = now_ms;
}

/* ---- exposition ------------------------------------------------------------ */

static int render_jobs(const struct metrics *m, struct buf *b)
{
	char l[PROM_LABELS_MAX];
	size_t k, e;
	int r;

	r = prom_family(b, "aos_job_duration_seconds", "histogram",
			"Seconds from a job's creation to its end, by kind and outcome.");
	for (k = JOB_PUBLISH; r == 0 && k <= JOB_PIPELINE; k++) {
		for (e = 0; r == 0 && e < N(ends); e++) {
			prom_labels(l, sizeof(l), "kind", metrics__kinds[k], "outcome",
				    ends[e], NULL);
			r = prom_hist_write(b, "aos_job_duration_seconds", l,
					    &m->job[k][e]);
		}
	}
	if (r == 0)
		r = prom_family(b, "aos_job_retries_total", "counter",
				"Job attempts that failed and were scheduled again.");
	for (k = JOB_PUBLISH; r == 0 && k <= JOB_PIPELINE; k++) {
		prom_labels(l, sizeof(l), "kind", metrics__kinds[k], NULL);
		r = prom_sample(b, "aos_job_retries_total", l, (double)m->retries[k]);
	}
	return r;
}

/* A counter per registry: the uint64_t at off in each reg_stats. */
static int per_registry(const struct metrics *m, struct buf *b, const char *name,
			const char *help, size_t off)
{
	char l[PROM_LABELS_MAX];
	size_t i;
	int r = prom_family(b, name, "counter", help);

	for (i = 0; r == 0 && i < m->nregs; i++) {
		prom_labels(l, sizeof(l), "registry", m->regs[i].name, NULL);
		r = prom_sample(
		    b, name, l,
		    (double)*(const uint64_t *)((const char *)&m->regs[i] + off));
	}
	return r;
}

static int render_uploads(const struct metrics *m, struct buf *b)
{
	char l[PROM_LABELS_MAX];
	size_t i, o;
	int r;

	r = prom_family(
	    b, "aos_upload_duration_seconds", "histogram",
	    "Seconds from a file's first send to its registry's final answer.");
	for (i = 0; r == 0 && i < m->nregs; i++) {
		prom_labels(l, sizeof(l), "registry", m->regs[i].name, NULL);
		r = prom_hist_write(b, "aos_upload_duration_seconds", l,
				    &m->regs[i].upload);
	}
	if (r == 0)
		r = per_registry(m, b, "aos_uploaded_bytes_total",
				 "Bytes of files published.",
				 offsetof(struct reg_stats, bytes));
	if (r == 0)
		r = per_registry(m, b, "aos_upload_retries_total",
				 "Sends of a file after its first (the registry did not "
				 "answer usably).",
				 offsetof(struct reg_stats, retries));
	if (r == 0)
		r = prom_family(b, "aos_registry_answers_total", "counter",
				"Files' final outcomes with a registry, by class.");
	for (i = 0; r == 0 && i < m->nregs; i++) {
		for (o = OUT_PUBLISHED; r == 0 && o < OUT_DRY_RUN; o++) {
			prom_labels(l, sizeof(l), "registry", m->regs[i].name, "outcome",
				    publish_outcome_name((enum pub_outcome)o), NULL);
			r = prom_sample(b, "aos_registry_answers_total", l,
					(double)m->regs[i].answers[o]);
		}
	}
	return r;
}

static int render_steps(const struct metrics *m, struct buf *b)
{
	char l[PROM_LABELS_MAX];
	size_t i, s, x;
	int r;

	r = prom_family(
	    b, "aos_build_step_duration_seconds", "histogram",
	    "Seconds a pipeline's build steps ran, by pipeline and step kind.");
	for (i = 0; r == 0 && i < m->npls; i++) {
		for (s = 0; r == 0 && s < NSTEP; s++) {
			prom_labels(l, sizeof(l), "pipeline", m->pls[i].name, "step",
				    step_kinds[s], NULL);
			r = prom_hist_write(b, "aos_build_step_duration_seconds", l,
					    &m->pls[i].step[s]);
		}
	}
	if (r == 0)
		r = prom_family(b, "aos_build_steps_total", "counter",
				"Build steps ended, by pipeline, step kind and result.");
	for (i = 0; r == 0 && i < m->npls; i++) {
		for (s = 0; r == 0 && s < NSTEP; s++) {
			for (x = 0; r == 0 && x < NRES; x++) {
				prom_labels(l, sizeof(l), "pipeline", m->pls[i].name,
					    "step", step_kinds[s], "result",
					    step_results[x], NULL);
				r = prom_sample(b, "aos_build_steps_total", l,
						(double)m->pls[i].results[s][x]);
			}
		}
	}
	return r;
}

static int render_webhooks(const struct metrics *m, struct buf *b)
{
	char l[PROM_LABELS_MAX];
	size_t f, o;
	int r;

	r = prom_family(b, "aos_webhook_deliveries_total", "counter",
			"Webhook requests answered, by forge and outcome.");
	for (f = 0; r == 0 && f <= FORGE__COUNT; f++) {
		for (o = 0; r == 0 && o < MD__COUNT; o++) {
			prom_labels(l, sizeof(l), "forge",
				    f < FORGE__COUNT ? forge_name((enum forge)f)
						     : "unknown",
				    "outcome", deliveries[o], NULL);
			r = prom_sample(b, "aos_webhook_deliveries_total", l,
					(double)m->deliveries[f][o]);
		}
	}
	if (r == 0)
		r = prom_family(b, "aos_queue_commit_duration_seconds", "histogram",
				"Seconds one commit of new jobs took (a webhook batch, a "
				"publish, a reconcile; fsync included).");
	if (r == 0)
		r = prom_hist_write(b, "aos_queue_commit_duration_seconds", NULL,
				    &m->commit);
	if (r == 0 && m->pickup_ms > 0)
		r = prom_family(b, "aos_secrets_pickup_timestamp_seconds", "gauge",
				"When the daemon last loaded a new version of the Vault "
				"secret (a rotation picked up).");
	if (r == 0 && m->pickup_ms > 0)
		r = prom_sample(b, "aos_secrets_pickup_timestamp_seconds", NULL,
				(double)m->pickup_ms / 1000.0);
	return r;
}

int metrics_render(const struct metrics *m, struct agent *a, const struct queue_stats *st,
		   int64_t now_ms, struct buf *out)
{
	int r = a != NULL ? metrics__render_daemon(a, st, now_ms, out) : 0;

	if (r == 0)
		r = render_jobs(m, out);
	if (r == 0)
		r = render_uploads(m, out);
	if (r == 0)
		r = render_steps(m, out);
	if (r == 0)
		r = render_webhooks(m, out);
	return r;
}
