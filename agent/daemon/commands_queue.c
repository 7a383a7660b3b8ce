/* commands_queue.c - the control requests about the queue: job.retry,
 * job.cancel, drain, resume, and the dispatch of jobs, job.show
 * (commands_read.c), job.log and job.wait (follow.c). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "base/log.h"
#include "common/backoff.h"
#include "common/err.h"
#include "daemon/agent.h"
#include "daemon/follow.h"
#include "queue/queue.h"
#include "queue/queue_async.h"
#include "worker/worker.h"
#include "commands_internal.h"

static bool get_id(struct control_conn *c, const cJSON *req, int64_t *ret)
{
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(req, "id");

	if (!cJSON_IsNumber(id) || id->valuedouble < 1) {
		control_reply_error(
		    c, "this request needs \"id\": a job id (a positive number)");
		return false;
	}
	*ret = (int64_t)id->valuedouble;
	return true;
}

/* A cancel or retry posted to the write queue, until its completion. */
struct job_action {
	struct agent *a;
	struct control_conn *conn; /* NULL once the client left */
	int64_t id;
	bool cancel;
};

static void action_gone(struct control_conn *c, void *arg)
{
	struct job_action *ja = arg;

	(void)c;
	ja->conn = NULL;
}

/* The write's answer; the job changed when it succeeded. */
static void action_reply(const struct job_action *ja, int r)
{
	char msg[256];
	cJSON *o;

	if (r == AOS_ENOTFOUND) {
		control_reply_error(ja->conn, "no such job");
	} else if (r == -EINVAL) {
		control_reply_error(
		    ja->conn, ja->cancel
				  ? "the job has ended already; nothing to cancel"
				  : "only dead, failed or canceled jobs can be retried");
	} else if (r < 0) {
		snprintf(msg, sizeof(msg),
			 "the queue database could not be written (%s); nothing "
			 "changed: retry the %s",
			 aos_strerror(r), ja->cancel ? "cancel" : "retry");
		control_reply_error(ja->conn, msg);
	} else {
		o = cJSON_CreateObject();
		cJSON_AddTrueToObject(o, "ok");
		cJSON_AddNumberToObject(o, "id", (double)ja->id);
		control_reply(ja->conn, o);
	}
}

static void action_done(struct queue_async_result *res, void *data)
{
	struct job_action *ja = data;
	struct agent *a = ja->a;

	if (res->rc == 0) {
		log_notice("job %" PRId64 " %s by the operator", ja->id,
			   ja->cancel ? "canceled" : "queued again");
		if (ja->cancel && a->worker != NULL)
			worker_stop_job(a->worker, ja->id);
		follow_job_changed(a, ja->id);
		if (a->worker != NULL)
			worker_kick(a->worker);
	}
	if (ja->conn != NULL) {
		control_set_cancel(ja->conn, NULL, NULL);
		action_reply(ja, res->rc);
	}
	free(ja);
}

/* Posts the cancel or retry to the write queue; answered from its
 * completion. */
static void cmd_job_action(struct agent *a, struct control_conn *c, const cJSON *req,
			   bool cancel)
{
	struct queue_async *wq = a->wq;
	struct job_action *ja;
	int64_t id;
	int r;

	if (!get_id(c, req, &id))
		return;
	ja = calloc(1, sizeof(*ja));
	if (ja == NULL) {
		control_reply_error(c, "out of memory");
		return;
	}
	*ja = (struct job_action){.a = a, .conn = c, .id = id, .cancel = cancel};
	if (wq == NULL)
		r = -ESHUTDOWN;
	else if (cancel)
		r = queue_async_cancel(wq, id, "canceled by the operator", aos_wall_ms(),
				       action_done, ja);
	else
		r = queue_async_retry(wq, id, aos_wall_ms(), action_done, ja);
	if (r == -EBUSY)
		control_reply_error(c, "the daemon is busy: too many queue writes are "
				       "waiting; nothing changed (retry in a moment)");
	else if (r < 0)
		action_reply(ja, r);
	if (r < 0) {
		free(ja);
		return;
	}
	control_set_cancel(c, action_gone, ja);
}

/* ---- drain and resume ------------------------------------------------------ */

/* A drain or resume, from its write (drain_set) to the read of the drains
 * that answers the client. */
struct drain_action {
	struct agent *a;
	struct control_conn *conn; /* NULL once the client left */
	bool on;
	bool fleet; /* else host */
	char host[QUEUE_HOST_MAX];
	int changed; /* drain_set's answer: 1 changed, 0 it was so already */
};

static void drain_gone(struct control_conn *c, void *arg)
{
	struct drain_action *da = arg;

	(void)c;
	da->conn = NULL;
}

static void drain_end(struct drain_action *da)
{
	if (da->conn != NULL)
		control_set_cancel(da->conn, NULL, NULL);
	free(da);
}

/* The answer: what was asked, and the drains now (what this daemon's
 * worker read last, after this write). */
static void drain_reply(struct drain_action *da)
{
	struct worker *w = da->a->worker;
	cJSON *o;

	if (da->conn == NULL)
		return;
	if (w == NULL) { /* the daemon stopped meanwhile */
		control_reply_error(da->conn, "the daemon is stopping");
		return;
	}
	o = cJSON_CreateObject();
	cJSON_AddTrueToObject(o, "ok");
	if (da->fleet)
		cJSON_AddNullToObject(o, "host");
	else
		cJSON_AddStringToObject(o, "host", da->host);
	cJSON_AddBoolToObject(o, "changed", da->changed > 0);
	cJSON_AddBoolToObject(o, "draining", worker_draining(w));
	cJSON_AddItemToObject(o, "drained", worker_drains_json(w));
	cJSON_AddStringToObject(o, "this_host", worker_host(w));
	cJSON_AddNumberToObject(o, "running", (double)worker_running(w));
	control_reply(da->conn, o);
}

static void drains_read(struct queue_async_result *res, void *data)
{
	struct drain_action *da = data;

	if (res->rc >= 0 && da->a->worker != NULL)
		worker_drains_seen(da->a->worker, res->drains, res->n);
	drain_reply(da); /* a failed read: the worker's last one */
	drain_end(da);
}

static void drain_written(struct queue_async_result *res, void *data)
{
	struct drain_action *da = data;
	char msg[256];
	int rc = res->rc;

	if (rc >= 0) {
		da->changed = rc;
		if (rc > 0)
			log_notice("%s %s by the operator",
				   da->fleet ? "the fleet" : da->host,
				   da->on ? "drained" : "resumed");
		rc = da->a->wq != NULL ? queue_async_drains(da->a->wq, QUEUE_DRAINS_MAX,
							    drains_read, da)
				       : -ESHUTDOWN;
		if (rc == 0)
			return;
		drain_reply(da); /* written: answered with the last read */
	} else if (da->conn != NULL) {
		snprintf(msg, sizeof(msg),
			 "the queue database could not be written (%s); nothing changed: "
			 "retry the %s",
			 aos_strerror(rc), da->on ? "drain" : "resume");
		control_reply_error(da->conn, msg);
	}
	drain_end(da);
}

/* drain or resume {"host": NAME} or {"this_host": true} (one host), or
 * neither (the fleet): written to the queue, answered once read back. */
static void cmd_drain(struct agent *a, struct control_conn *c, const cJSON *req, bool on)
{
	const cJSON *host = cJSON_GetObjectItemCaseSensitive(req, "host");
	bool this_host = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "this_host"));
	struct drain_action *da;
	char msg[256];
	int rc;

	if (a->worker == NULL || a->wq == NULL) { /* NULL once the daemon stops */
		control_reply_error(c, "the daemon is stopping");
		return;
	}
	if ((host != NULL && !cJSON_IsNull(host) && !cJSON_IsString(host)) ||
	    (cJSON_IsString(host) && this_host)) {
		control_reply_error(c, "\"host\" is a host's name (a string), or give "
				       "\"this_host\": true, not both");
		return;
	}
	if (cJSON_IsString(host) && queue_host_check(host->valuestring) < 0) {
		snprintf(msg, sizeof(msg),
			 "\"host\": \"%.64s\" is not a host's name: letters, digits, "
			 "\".\", \"_\" or \"-\", a letter or digit first, at most %d",
			 host->valuestring, QUEUE_HOST_MAX - 1);
		control_reply_error(c, msg);
		return;
	}
	da = calloc(1, sizeof(*da));
	if (da == NULL) {
		control_reply_error(c, "out of memory");
		return;
	}
	*da = (struct drain_action){.a = a, .conn = c, .on = on, .fleet = true};
	if (cJSON_IsString(host) || this_host) {
		da->fleet = false;
		snprintf(da->host, sizeof(da->host), "%s",
			 this_host ? worker_host(a->worker) : host->valuestring);
	}
	rc = queue_async_drain_set(a->wq, da->fleet ? NULL : da->host, on, aos_wall_ms(),
				   drain_written, da);
	if (rc < 0) {
		control_reply_error(
		    c, rc == -EBUSY ? "the daemon is busy: too many queue writes are "
				      "waiting; nothing changed (retry in a moment)"
				    : "the daemon is stopping");
		free(da);
		return;
	}
	control_set_cancel(c, drain_gone, da);
}

void queue_command(struct agent *a, struct control_conn *c, enum control_cmd_id id,
		   const cJSON *req)
{
	int64_t qid;

	switch (id) {
	case CMD_JOBS: cmd_jobs(a, c, req); break;
	case CMD_JOB_SHOW:
		if (get_id(c, req, &qid))
			cmd_job_show(a, c, qid);
		break;
	case CMD_JOB_LOG:
		if (get_id(c, req, &qid))
			follow_log(a, c, qid,
				   cJSON_IsTrue(
				       cJSON_GetObjectItemCaseSensitive(req, "follow")));
		break;
	case CMD_JOB_WAIT:
		if (get_id(c, req, &qid))
			follow_start(a, c, qid);
		break;
	case CMD_JOB_RETRY:
	case CMD_JOB_CANCEL: cmd_job_action(a, c, req, id == CMD_JOB_CANCEL); break;
	case CMD_DRAIN:
	case CMD_RESUME: cmd_drain(a, c, req, id == CMD_DRAIN); break;
	default: control_reply_error(c, "not a queue request"); break;
	}
}
