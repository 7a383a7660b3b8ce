/* ingest.c - routes, webhook answers and the group commit.
 *
 * A verified tag push that matches a pipeline is not answered at once: it
 * joins the batch, which is handed to the write queue_async
 * (daemon_queue.h: a thread with a queue connection of its own, one
 * enqueue_many, one transaction, one fsync) right after the loop has
 * read what is ready (a uv_idle handle, run before the next poll), so one
 * fsync covers every delivery that arrived meanwhile.  While that commit
 * waits for the disk, the loop goes on answering (refusals, /healthz,
 * /readyz, the control socket) and new deliveries fill the next batch,
 * handed over when the commit returns: the slower the disk, the larger
 * the group.  Each delivery is answered after its commit, from the loop:
 * 202 with its job id, 200 for a job that existed, 503 if the store
 * failed (or, with BATCH_MAX waiting behind a commit, at once).
 *
 * Before a webhook's body is read, its headers are decided on
 * (pipeline_decide_head): a delivery that cannot pass is answered at once,
 * and a GitLab token that matches makes the sender trusted, so its body is
 * not charged to listen.max_unauthenticated_bytes.
 *
 * A delivery for a pipeline with npm targets first has its dist-tags
 * decided (dist_tag.h: each npm target's latest read once, with a short
 * timeout): a refusal is answered 422 and no job is made; the decisions go
 * into the job's inputs and the 202 answer.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/http.h"
#include "base/log.h"
#include "base/tls.h"
#include "common/backoff.h"
#include "common/err.h"
#include "daemon/agent.h"
#include "daemon/ingest.h"
#include "daemon/metrics.h"
#include "daemon/daemon_queue.h"
#include "pipeline/pipeline.h"
#include "pipeline/webhook.h"
#include "publish/dist_tag.h"
#include "queue/queue.h"
#include "worker/worker.h"

#define BATCH_MAX 512	/* deliveries per commit */
#define QUEUE_RETRY_S 5 /* Retry-After when the queue fails */
#define DISK_RETRY_S 60 /* Retry-After when the disk is full */

struct pending {
	struct http_conn *conn;
	struct pipeline_job job; /* job.jn.package points to package below */
	char package[256];	 /* not into the configuration: a reload may free it */
	char pipeline[128];
	char tag[WEBHOOK_NAME_MAX];
	char version[128];
	char commit[72];
	char forge[16];
	enum forge forge_id;
	char delivery[128];
	cJSON *dist_tags; /* the decisions made before queueing, or NULL */
};

/* A matched delivery whose npm dist-tags are being decided. */
struct precheck {
	struct ingest *in;
	struct http_conn *conn;
	struct hook_decision d; /* d.pipeline is looked up again once decided */
	char pipeline[128];
	struct dist_tag_check *check;
	struct precheck *next, *prev;
};

/* The batch on the write queue's thread. */
struct commit {
	int result;	   /* enqueue_many()'s, or the post's refusal */
	struct pending *p; /* one of ingest.bufs */
	size_t n;
	struct job_new jn[BATCH_MAX];
	int64_t ids[BATCH_MAX];
	int rcs[BATCH_MAX];
};

struct ingest {
	struct agent *a;
	struct http_server *srv;
	uv_idle_t idle; /* active while a batch waits and none is in flight */
	struct pending bufs[2][BATCH_MAX];
	struct pending *batch; /* the one filling: bufs[0] or bufs[1] */
	size_t nbatch;
	struct commit flight;
	bool in_flight;	  /* flight is on the write queue's thread */
	bool closing;	  /* ingest_close() ran: freed once idle is closed */
	bool idle_closed; /* and nothing is in flight */
	unsigned long answered[MD__COUNT]; /* deliveries by outcome (status) */
	/* A few log lines a second per kind (log.h), so a flood (or a burst
	 * of releases) cannot fill the journal. */
	struct log_rate rl_reject, rl_ignore, rl_accept, rl_budget;
	/* Per forge: the secret last seen in the store, and the one before it
	 * (accepted until prev_until, so the forge can be updated after a
	 * rotation without losing deliveries). */
	struct secret *seen[FORGE__COUNT];
	struct secret *prev[FORGE__COUNT];
	uint64_t prev_until[FORGE__COUNT];
	char address[128];
	struct precheck *prechecks;
	time_t tls_not_after; /* 0: plain HTTP */
};

static struct http_limits limits_of(const struct listen_cfg *l)
{
	return (struct http_limits){
	    .max_header_bytes = (size_t)l->max_header_bytes,
	    .max_body_bytes = (size_t)l->max_body_bytes,
	    .header_timeout_ms = (uint64_t)l->header_timeout_ms,
	    .body_timeout_ms = (uint64_t)l->body_timeout_ms,
	    .idle_timeout_ms = (uint64_t)l->idle_timeout_ms,
	    .max_connections = (size_t)l->max_connections,
	    .max_unauthenticated_bytes = (size_t)l->max_unauthenticated_bytes,
	};
}

/* A delivery answered: in the status and the metrics. */
static void tally(struct ingest *in, enum forge f, enum metrics_delivery out)
{
	in->answered[out]++;
	metrics_delivery(in->a->metrics, f, out);
}

static bool ratelog_ok(struct ingest *in, struct log_rate *rl,
		       unsigned long *ret_suppressed)
{
	return log_rate_ok(rl, uv_now(&in->a->loop), ret_suppressed);
}

/* A literal JSON body. */
#define REPLY_LIT(c, status, extra, lit)                                                 \
	http_reply((c), (status), (extra), (lit), sizeof(lit) - 1)

static void reply_json(struct http_conn *c, int status, cJSON *o, const char *extra)
{
	char *text = cJSON_PrintUnformatted(o);

	cJSON_Delete(o);
	if (text == NULL) {
		REPLY_LIT(c, 500, NULL, "{\"ok\":false,\"error\":\"out of memory\"}");
		return;
	}
	http_reply(c, status, extra, text, strlen(text));
	free(text);
}

static void reply_error(struct http_conn *c, int status, const char *error,
			long retry_after)
{
	cJSON *o = cJSON_CreateObject();
	char extra[64] = "";

	cJSON_AddFalseToObject(o, "ok");
	cJSON_AddStringToObject(o, "error", error);
	if (retry_after >= 0)
		snprintf(extra, sizeof(extra), "Retry-After: %ld\r\n", retry_after);
	reply_json(c, status, o, extra[0] ? extra : NULL);
}

/* ---- the batch -------------------------------------------------------------- */

static void maybe_free(struct ingest *in)
{
	if (in->closing && in->idle_closed && !in->in_flight)
		free(in);
}

/* Answers each delivery of the commit that returned. */
static void answer(struct ingest *in, const struct commit *cm)
{
	size_t i, n = cm->n;
	int r = cm->result;

	if (r < 0)
		log_err_r(r,
			  "%zu webhook deliver%s not queued: the queue database failed",
			  n, n == 1 ? "y" : "ies");
	for (i = 0; i < n; i++) {
		struct pending *p = &cm->p[i];
		int rc = r < 0 ? r : cm->rcs[i];
		int64_t id = cm->ids[i];
		struct log_fields lf;
		cJSON *o;

		if (rc < 0 && rc != AOS_EEXIST) {
			tally(in, p->forge_id, MD_UNAVAILABLE);
			if (rc == -ENOSPC)
				reply_error(
				    p->conn, 503,
				    "the daemon's disk is full: the "
				    "delivery was not accepted (retry it once space "
				    "is freed)",
				    DISK_RETRY_S);
			else
				reply_error(p->conn, 503,
					    "the queue cannot take the job now; "
					    "the delivery was not accepted (retry it)",
					    QUEUE_RETRY_S);
			pipeline_job_clear(&p->job);
			cJSON_Delete(p->dist_tags);
			p->dist_tags = NULL;
			continue;
		}
		lf = (struct log_fields){
		    .job_id = id, .pipeline = p->pipeline, .delivery = p->delivery};
		o = cJSON_CreateObject();
		cJSON_AddTrueToObject(o, "ok");
		cJSON_AddNumberToObject(o, "job_id", (double)id);
		if (rc == AOS_EEXIST)
			cJSON_AddTrueToObject(o, "existing");
		cJSON_AddStringToObject(o, "pipeline", p->pipeline);
		cJSON_AddStringToObject(o, "tag", p->tag);
		cJSON_AddStringToObject(o, "version", p->version);
		cJSON_AddStringToObject(o, "commit", p->commit);
		if (p->dist_tags != NULL) {
			cJSON_AddItemToObject(o, "dist_tags", p->dist_tags);
			p->dist_tags = NULL; /* transferred */
		}
		if (rc == AOS_EEXIST) {
			tally(in, p->forge_id, MD_DUPLICATE);
			log_msg_f(LOG_LVL_INFO, &lf,
				  "%s delivery %s for %s: job %" PRId64
				  " exists for this tag and commit (nothing new)",
				  p->forge, p->delivery, p->tag, id);
		} else {
			unsigned long more = 0;

			tally(in, p->forge_id, MD_ACCEPTED);
			/* Every job's own log has this; the journal gets a burst
			 * of them and then a count. */
			if (ratelog_ok(in, &in->rl_accept, &more))
				log_msg_f(
				    LOG_LVL_NOTICE, &lf,
				    "job %" PRId64 " queued: pipeline "
				    "%s, tag %s, commit %.12s (%s delivery %s; %lu more "
				    "queued since the last such line)",
				    id, p->pipeline, p->tag, p->commit, p->forge,
				    p->delivery[0] ? p->delivery : "-", more);
		}
		reply_json(p->conn, rc == AOS_EEXIST ? 200 : 202, o, NULL);
		pipeline_job_clear(&p->job);
	}
}

static void flush(struct ingest *in);
static void idle_cb(uv_idle_t *h);

/* The commit returned (on the loop), or its post was refused: the
 * answers, then the next batch, which filled meanwhile. */
static void committed(void *op, int result)
{
	struct ingest *in = op;
	struct agent *a = in->a;

	in->in_flight = false;
	in->flight.result = result;
	answer(in, &in->flight);
	if (a->worker != NULL)
		worker_kick(a->worker);
	/* The next batch goes after the worker's look for due jobs (timers run
	 * before idle handles), which waits while a commit is in flight. */
	if (in->closing)
		flush(in);
	else if (in->nbatch > 0)
		uv_idle_start(&in->idle, idle_cb);
	maybe_free(in);
}

/* Hands the batch to the write queue, unless a commit is in flight: its
 * end flushes again. */
static void flush(struct ingest *in)
{
	struct commit *cm = &in->flight;
	size_t i;
	int r;

	uv_idle_stop(&in->idle);
	if (in->nbatch == 0 || in->in_flight)
		return;
	cm->p = in->batch;
	cm->n = in->nbatch;
	in->batch = in->batch == in->bufs[0] ? in->bufs[1] : in->bufs[0];
	in->nbatch = 0;
	for (i = 0; i < cm->n; i++)
		cm->jn[i] = cm->p[i].job.jn;
	in->in_flight = true;
	r = daemon_commit_many(in->a, cm->jn, cm->n, aos_wall_ms(), cm->ids, cm->rcs,
			       committed, in);
	if (r < 0) { /* -EBUSY, -ESHUTDOWN, -ENOMEM: each answered 503 */
		in->in_flight = false;
		cm->result = r;
		answer(in, cm);
	}
}

/* Runs before the loop polls again: the batch holds every delivery read
 * since the last one (and the loop does not block while it waits). */
static void idle_cb(uv_idle_t *h)
{
	flush(h->data);
}

/* Joins the batch; dist_tags (the decisions, or NULL) is taken. */
static void enqueue(struct ingest *in, struct http_conn *c, const struct hook_decision *d,
		    cJSON *dist_tags)
{
	struct pending *p = &in->batch[in->nbatch];
	const char *forge = forge_name(d->ev.forge);

	if (in->nbatch == BATCH_MAX) { /* and a commit in flight */
		tally(in, d->ev.forge, MD_UNAVAILABLE);
		cJSON_Delete(dist_tags);
		reply_error(c, 503,
			    "the queue's commits are behind (the disk is slow): the "
			    "delivery was not accepted (retry it)",
			    QUEUE_RETRY_S);
		return;
	}
	if (pipeline_job_init(&p->job, d->pipeline, d->tag, d->version, d->ev.commit,
			      forge, d->ev.delivery, (int)in->a->cfg->queue.max_attempts,
			      dist_tags) < 0) {
		pipeline_job_clear(&p->job);
		cJSON_Delete(dist_tags);
		reply_error(c, 503, "out of memory", QUEUE_RETRY_S);
		return;
	}
	p->dist_tags = dist_tags; /* transferred */
	p->conn = c;
	snprintf(p->package, sizeof(p->package), "%s", d->pipeline->package);
	p->job.jn.package = p->package;
	snprintf(p->pipeline, sizeof(p->pipeline), "%s", d->pipeline->name);
	snprintf(p->tag, sizeof(p->tag), "%s", d->tag);
	snprintf(p->version, sizeof(p->version), "%s", d->version);
	snprintf(p->commit, sizeof(p->commit), "%s", d->ev.commit);
	snprintf(p->forge, sizeof(p->forge), "%s", forge);
	p->forge_id = d->ev.forge;
	snprintf(p->delivery, sizeof(p->delivery), "%s", d->ev.delivery);
	if (in->nbatch++ == 0 && !in->in_flight)
		uv_idle_start(&in->idle, idle_cb);
	if (in->nbatch == BATCH_MAX)
		flush(in);
}

/* ---- npm dist-tags before queueing -------------------------------------------- */

static void precheck_unlink(struct precheck *pc)
{
	if (pc->prev != NULL)
		pc->prev->next = pc->next;
	else
		pc->in->prechecks = pc->next;
	if (pc->next != NULL)
		pc->next->prev = pc->prev;
}

static void precheck_free(struct precheck *pc)
{
	dist_tag_check_free(pc->check);
	free(pc);
}

/* 422: the delivery's version cannot go to an npm target as configured. */
static void refuse_tag(struct ingest *in, struct precheck *pc,
		       const struct dist_tag_item *bad)
{
	cJSON *o = cJSON_CreateObject();
	char why[1024];
	unsigned long more;

	tally(in, pc->d.ev.forge, MD_REJECTED);
	snprintf(why, sizeof(why),
		 "pipeline %s, tag %s, target %s: %s; no job was queued", pc->pipeline,
		 pc->d.tag, bad->registry, bad->error);
	if (ratelog_ok(in, &in->rl_reject, &more))
		log_warn(
		    "webhook from %s refused (422): %s (%lu more refusal(s) since the "
		    "last line)",
		    http_conn_peer(pc->conn), why, more);
	cJSON_AddFalseToObject(o, "ok");
	cJSON_AddStringToObject(o, "error", why);
	cJSON_AddStringToObject(o, "pipeline", pc->pipeline);
	cJSON_AddStringToObject(o, "tag", pc->d.tag);
	cJSON_AddStringToObject(o, "version", pc->d.version);
	cJSON_AddStringToObject(o, "registry", bad->registry);
	if (bad->has_latest)
		cJSON_AddStringToObject(o, "latest", bad->latest);
	reply_json(pc->conn, 422, o, NULL);
}

static void tags_decided(struct dist_tag_check *check, void *data)
{
	struct precheck *pc = data;
	struct ingest *in = pc->in;
	const struct dist_tag_item *bad = dist_tag_check_refused(check);
	size_t i;

	precheck_unlink(pc);
	/* A reload may have replaced the configuration meanwhile. */
	pc->d.pipeline = config_pipeline(in->a->cfg, pc->pipeline);
	if (pc->d.pipeline == NULL) {
		tally(in, pc->d.ev.forge, MD_UNAVAILABLE);
		reply_error(pc->conn, 503,
			    "the pipeline left the configuration while the "
			    "delivery was checked; nothing was queued",
			    QUEUE_RETRY_S);
	} else if (bad != NULL) {
		refuse_tag(in, pc, bad);
	} else {
		for (i = 0; i < dist_tag_check_count(check); i++) {
			const struct dist_tag_item *it = dist_tag_check_item(check, i);

			if (it->unread[0] != '\0')
				log_warn(
				    "pipeline %s, tag %s: %s; dist-tag %s decided without "
				    "its latest, checked again before the upload",
				    pc->pipeline, pc->d.tag, it->unread, it->tag.name);
		}
		enqueue(in, pc->conn, &pc->d, dist_tag_check_json(check));
	}
	precheck_free(pc);
}

/* Decides the npm dist-tags of a matched delivery before its job exists,
 * or enqueues it at once when the pipeline has no npm target. */
static void decide_tags(struct ingest *in, struct http_conn *c,
			const struct hook_decision *d)
{
	const struct pipeline_cfg *p = d->pipeline;
	struct precheck *pc = calloc(1, sizeof(*pc));
	char by[200];
	size_t i;
	int r = -ENOMEM;

	snprintf(by, sizeof(by), "dist_tag of pipeline %s", p->name);
	if (pc != NULL)
		r = dist_tag_check_new(&in->a->penv, p->dist_tag, by,
				       p->prerelease_dist_tag, &pc->check);
	for (i = 0; r == 0 && i < p->ntargets; i++) {
		const struct registry_cfg *reg =
		    config_registry(in->a->cfg, p->targets[i]);

		if (reg != NULL && reg->type == REGISTRY_NPM)
			r = dist_tag_check_add(pc->check, reg, p->package, d->version,
					       NULL);
	}
	if (r == 0 && dist_tag_check_count(pc->check) == 0) {
		precheck_free(pc);
		enqueue(in, c, d, NULL);
		return;
	}
	if (r == 0) {
		pc->in = in;
		pc->conn = c;
		pc->d = *d;
		snprintf(pc->pipeline, sizeof(pc->pipeline), "%s", p->name);
		r = dist_tag_check_start(pc->check, tags_decided, pc);
	}
	if (r < 0) {
		if (pc != NULL)
			precheck_free(pc);
		tally(in, d->ev.forge, MD_UNAVAILABLE);
		reply_error(c, 503,
			    "cannot read the npm targets' dist-tags now; nothing was "
			    "queued (retry the delivery)",
			    QUEUE_RETRY_S);
		return;
	}
	pc->next = in->prechecks;
	if (pc->next != NULL)
		pc->next->prev = pc;
	in->prechecks = pc;
}

/* ---- rotation grace ------------------------------------------------------------ */

/* The previous secret's grace ends (or was set to 0 by a reload). */
static void expire_previous(struct ingest *in)
{
	const struct config *cfg = in->a->cfg;
	uint64_t now = uv_now(&in->a->loop);
	int f;

	for (f = 0; f < FORGE__COUNT; f++) {
		if (in->prev[f] != NULL &&
		    (now >= in->prev_until[f] || cfg->webhook_grace_s[f] == 0)) {
			secret_unref(in->prev[f]);
			in->prev[f] = NULL;
		}
	}
}

void ingest_secrets_changed(struct ingest *in)
{
	const struct config *cfg;
	uint64_t now;
	int f;

	if (in == NULL)
		return;
	cfg = in->a->cfg;
	now = uv_now(&in->a->loop);
	expire_previous(in);
	for (f = 0; f < FORGE__COUNT; f++) {
		struct secret *cur =
		    cfg->webhook_keys[f] != NULL
			? store_get(session_store(in->a->session), cfg->webhook_keys[f])
			: NULL;

		if (cur != NULL && in->seen[f] != NULL &&
		    !secret_equal(cur, in->seen[f]) && cfg->webhook_grace_s[f] > 0) {
			secret_unref(in->prev[f]);
			in->prev[f] = in->seen[f]; /* transferred */
			in->seen[f] = NULL;
			in->prev_until[f] =
			    now + (uint64_t)cfg->webhook_grace_s[f] * 1000;
			log_notice(
			    "%s webhook secret rotated: the previous one is accepted for "
			    "%ld s more",
			    forge_name((enum forge)f), cfg->webhook_grace_s[f]);
		}
		secret_unref(in->seen[f]);
		in->seen[f] = cur; /* transferred */
	}
}

static void drop_secrets(struct ingest *in)
{
	int f;

	for (f = 0; f < FORGE__COUNT; f++) {
		secret_unref(in->seen[f]);
		secret_unref(in->prev[f]);
		in->seen[f] = in->prev[f] = NULL;
	}
}

/* ---- routes ------------------------------------------------------------------ */

static bool path_is(const char *url, const char *path)
{
	size_t n = strlen(path);

	return strncmp(url, path, n) == 0 && (url[n] == '\0' || url[n] == '?');
}

/* The forge whose headers r carries, FORGE__COUNT for none (metrics). */
static enum forge forge_of(const struct http_request *r)
{
	enum forge f;

	return webhook_detect(r, &f) < 0 ? FORGE__COUNT : f;
}

/* A delivery refused (4xx, 5xx): counted, logged at most once a second. */
static void refuse(struct ingest *in, struct http_conn *c, const struct http_request *r,
		   const struct hook_decision *d)
{
	unsigned long more;

	tally(in, forge_of(r), d->status == 503 ? MD_UNAVAILABLE : MD_REJECTED);
	if (ratelog_ok(in, &in->rl_reject, &more))
		log_warn(
		    "webhook from %s refused (%d): %s (%lu more refusal(s) since the "
		    "last line)",
		    http_conn_peer(c), d->status, d->text, more);
	reply_error(c, d->status, d->text, d->retry_after);
}

/* The headers of a request: a webhook that cannot pass is answered before
 * its body is read; GitLab's matching token makes the sender trusted. */
static enum http_admit head(struct http_conn *c, const struct http_request *r, void *data)
{
	struct ingest *in = data;
	struct agent *a = in->a;
	struct hook_decision d;

	if (r->method != HTTP_POST || !path_is(r->url, "/webhook") || a->stopping ||
	    a->wq == NULL)
		return HTTP_ADMIT_UNTRUSTED; /* answered once it is read */
	expire_previous(in);
	pipeline_decide_head(a->cfg, session_store(a->session), in->prev, r, &d);
	if (d.status != 0) {
		refuse(in, c, r, &d);
		return HTTP_ADMIT_ANSWERED;
	}
	return d.trusted ? HTTP_ADMIT_TRUSTED : HTTP_ADMIT_UNTRUSTED;
}

/* A request refused, or a connection closed, for the unauthenticated total. */
static void over_budget(struct http_conn *c, bool answered, const char *why, void *data)
{
	struct ingest *in = data;
	unsigned long more;

	if (answered)
		tally(in, FORGE__COUNT, MD_UNAVAILABLE);
	if (ratelog_ok(in, &in->rl_budget, &more))
		log_warn(
		    "webhook listener: %s %s: unauthenticated requests hold %zu of %zu "
		    "bytes (listen.max_unauthenticated_bytes): %s (%lu more since the last "
		    "line)",
		    answered ? "503 to" : "closed the connection of", http_conn_peer(c),
		    http_server_unauthenticated_bytes(in->srv),
		    (size_t)in->a->cfg->listen.max_unauthenticated_bytes, why, more);
}

static void webhook(struct ingest *in, struct http_conn *c, const struct http_request *r)
{
	struct agent *a = in->a;
	struct hook_decision d;
	unsigned long more;
	cJSON *o;

	char full[300];

	if (a->stopping || a->wq == NULL) {
		tally(in, forge_of(r), MD_UNAVAILABLE);
		reply_error(c, 503, "the daemon is stopping", QUEUE_RETRY_S);
		return;
	}
	if (disk_short(a, full, sizeof(full))) {
		tally(in, forge_of(r), MD_UNAVAILABLE);
		reply_error(c, 503, full, DISK_RETRY_S);
		return;
	}
	expire_previous(in);
	pipeline_decide_prev(a->cfg, session_store(a->session), in->prev, r, &d);
	if (d.previous_secret && ratelog_ok(in, &in->rl_ignore, &more))
		log_warn(
		    "%s delivery signed with the previous webhook secret: update the "
		    "secret in the forge",
		    forge_name(d.ev.forge));
	if (d.status == 0) {
		decide_tags(in, c, &d);
		return;
	}
	if (d.status >= 400) {
		refuse(in, c, r, &d);
		return;
	}
	o = cJSON_CreateObject();
	cJSON_AddTrueToObject(o, "ok");
	if (d.ping) {
		tally(in, d.ev.forge, MD_PING);
		cJSON_AddStringToObject(o, "event", "ping");
		log_info("%s ping from %s", forge_name(d.ev.forge), http_conn_peer(c));
	} else {
		tally(in, d.ev.forge, MD_IGNORED);
		cJSON_AddStringToObject(o, "ignored", d.text);
		if (ratelog_ok(in, &in->rl_ignore, &more))
			log_info("%s event ignored: %s", forge_name(d.ev.forge), d.text);
	}
	reply_json(c, 200, o, NULL);
}

static void readyz(struct ingest *in, struct http_conn *c)
{
	struct agent *a = in->a;
	const char *why = NULL;
	cJSON *o;

	if (a->stopping || a->stop_requests > 0)
		why = "stopping";
	else if (a->wq == NULL)
		why = "the queue is not open";
	else if (!session_loaded(a->session))
		why = "secrets not loaded from Vault yet";
	if (why != NULL) {
		o = cJSON_CreateObject();
		cJSON_AddFalseToObject(o, "ok");
		cJSON_AddFalseToObject(o, "ready");
		cJSON_AddStringToObject(o, "reason", why);
		reply_json(c, 503, o, "Retry-After: 1\r\n");
		return;
	}
	o = cJSON_CreateObject();
	cJSON_AddTrueToObject(o, "ok");
	cJSON_AddTrueToObject(o, "ready");
	cJSON_AddStringToObject(o, "state", agent_state(a));
	reply_json(c, 200, o, NULL);
}

static void handle(struct http_conn *c, const struct http_request *r, void *data)
{
	struct ingest *in = data;
	bool get = r->method == HTTP_GET || r->method == HTTP_HEAD;

	if (path_is(r->url, "/webhook")) {
		if (r->method == HTTP_POST)
			webhook(in, c, r);
		else
			REPLY_LIT(c, 405, "Allow: POST\r\n",
				  "{\"ok\":false,\"error\":\"use POST\"}");
	} else if (path_is(r->url, "/healthz") || path_is(r->url, "/readyz")) {
		if (!get)
			REPLY_LIT(c, 405, "Allow: GET, HEAD\r\n",
				  "{\"ok\":false,\"error\":\"use GET\"}");
		else if (path_is(r->url, "/readyz"))
			readyz(in, c);
		else
			REPLY_LIT(c, 200, NULL, "{\"ok\":true,\"status\":\"alive\"}");
	} else if (!metrics_route(in->a, c, r)) {
		REPLY_LIT(c, 404, NULL,
			  "{\"ok\":false,\"error\":\"no such path (POST /webhook, "
			  "GET /healthz, GET /readyz, GET /metrics)\"}");
	}
}

/* ---- life -------------------------------------------------------------------- */

/* listen.tls's context (NULL when TLS is off): at the start a failure
 * stops the daemon, at a reload it keeps the certificate in use. */
static int tls_load(const struct ingest *in, bool reload, struct tls_ctx **ret,
		    time_t *until)
{
	const struct listen_tls_cfg *t = &in->a->cfg->listen.tls;
	char err[768];
	int r;

	*ret = NULL;
	if (t->cert_file == NULL)
		return 0;
	r = tls_ctx_load(t->cert_file, t->key_file, ret, until, err, sizeof(err));
	if (r < 0)
		log_err("listen.tls in %s: %s%s", in->a->cfg->path, err,
			reload ? "; the certificate in use is kept" : "");
	return r;
}

/* Connections accepted from now on use ctx (NULL: plain HTTP). */
static void tls_apply(struct ingest *in, struct tls_ctx *ctx, time_t until, bool reload)
{
	char when[32];
	struct tm tm;

	http_server_set_tls(in->srv, ctx);
	tls_ctx_unref(ctx);
	if (ctx == NULL && in->tls_not_after != 0)
		log_notice("listen.tls removed: new connections are plain HTTP");
	in->tls_not_after = ctx != NULL ? until : 0;
	if (ctx == NULL)
		return;
	gmtime_r(&until, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
	log_notice("TLS on the webhook listener%s: certificate %s, valid until %s",
		   reload ? " reloaded" : "", in->a->cfg->listen.tls.cert_file, when);
}

int ingest_open(struct agent *a, struct ingest **ret)
{
	const struct listen_cfg *l = &a->cfg->listen;
	struct http_limits lim = limits_of(l);
	struct http_hooks hooks = {
	    .request = handle, .head = head, .over_budget = over_budget};
	struct tls_ctx *tls = NULL;
	struct ingest *in;
	time_t until = 0;
	char err[512];
	int r;

	*ret = NULL;
	if (l->address == NULL)
		return 0;
	in = calloc(1, sizeof(*in));
	if (in == NULL)
		return UV_ENOMEM;
	in->a = a;
	in->batch = in->bufs[0];
	in->rl_reject.burst = 1;
	in->rl_ignore.burst = 1;
	in->rl_accept.burst = 20;
	in->rl_budget.burst = 1;
	snprintf(in->address, sizeof(in->address), "%s", l->address);
	hooks.data = in;
	r = tls_load(in, false, &tls, &until); /* before the port is taken */
	if (r < 0) {
		free(in);
		return r;
	}
	r = http_server_open(&a->loop, l->host, l->port, &lim, &hooks, &in->srv, err,
			     sizeof(err));
	if (r < 0) {
		log_err("%s (listen.address in %s)", err, a->cfg->path);
		tls_ctx_unref(tls);
		free(in);
		return r;
	}
	tls_apply(in, tls, until, false);
	uv_idle_init(&a->loop, &in->idle);
	in->idle.data = in;
	ingest_secrets_changed(in);
	log_notice("listening for webhooks on %s (%s port %d, %s; POST /webhook, "
		   "GET /healthz, GET /readyz)",
		   l->address, l->host, l->port,
		   in->tls_not_after != 0 ? "HTTPS" : "plain HTTP");
	*ret = in;
	return 0;
}

void ingest_reconfigure(struct ingest *in)
{
	struct tls_ctx *tls = NULL;
	struct http_limits lim;
	time_t until = 0;

	if (in == NULL)
		return;
	lim = limits_of(&in->a->cfg->listen);
	http_server_set_limits(in->srv, &lim);
	if (tls_load(in, true, &tls, &until) == 0)
		tls_apply(in, tls, until, true);
	if (in->a->cfg->listen.address == NULL ||
	    strcmp(in->a->cfg->listen.address, in->address) != 0)
		log_warn("listen.address changed: takes effect at the next restart");
}

static void idle_closed(uv_handle_t *h)
{
	struct ingest *in = h->data;

	in->idle_closed = true;
	maybe_free(in);
}

void ingest_close(struct ingest *in)
{
	if (in == NULL)
		return;
	/* Committed jobs are kept (the loop runs until every write posted is
	 * done);
	 * their answers may be dropped. */
	in->closing = true;
	flush(in);
	while (in->prechecks != NULL) {
		struct precheck *pc = in->prechecks;

		precheck_unlink(pc);
		reply_error(pc->conn, 503, "the daemon is stopping; nothing was queued",
			    QUEUE_RETRY_S);
		precheck_free(pc);
	}
	drop_secrets(in);
	http_server_close(in->srv);
	uv_close((uv_handle_t *)&in->idle, idle_closed);
}

cJSON *ingest_status_json(const struct ingest *in)
{
	cJSON *o;

	if (in == NULL)
		return NULL;
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "address", in->address);
	cJSON_AddNumberToObject(o, "connections",
				(double)http_server_connections(in->srv));
	cJSON_AddNumberToObject(o, "requests", (double)http_server_requests(in->srv));
	cJSON_AddNumberToObject(o, "accepted", (double)in->answered[MD_ACCEPTED]);
	cJSON_AddNumberToObject(o, "duplicates", (double)in->answered[MD_DUPLICATE]);
	cJSON_AddNumberToObject(o, "ignored", (double)in->answered[MD_IGNORED]);
	cJSON_AddNumberToObject(o, "rejected", (double)in->answered[MD_REJECTED]);
	cJSON_AddNumberToObject(o, "unavailable", (double)in->answered[MD_UNAVAILABLE]);
	cJSON_AddNumberToObject(o, "unauthenticated_bytes",
				(double)http_server_unauthenticated_bytes(in->srv));
	cJSON_AddNumberToObject(o, "unauthenticated_bytes_max",
				(double)in->a->cfg->listen.max_unauthenticated_bytes);
	cJSON_AddBoolToObject(o, "tls", in->tls_not_after != 0);
	if (in->tls_not_after != 0)
		cJSON_AddNumberToObject(o, "tls_not_after", (double)in->tls_not_after);
	return o;
}
