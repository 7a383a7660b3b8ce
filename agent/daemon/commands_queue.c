/* commands_queue.c - the control requests about the queue: jobs,
 * job.show, job.log, job.wait, job.retry, job.cancel, drain, resume. */
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

#define LIST_MAX 1000

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

static cJSON *job_json(struct agent *a, const struct job *j)
{
	cJSON *o = cJSON_CreateObject();
	char why[1200], error[JOB_TEXT_MAX];

	cJSON_AddNumberToObject(o, "id", (double)j->id);
	cJSON_AddStringToObject(o, "kind",
				j->kind == JOB_PUBLISH ? "publish" : "pipeline");
	cJSON_AddStringToObject(o, "state", job_state_name(j->state));
	cJSON_AddStringToObject(o, "registry", j->registry);
	cJSON_AddStringToObject(o, "package", j->package);
	cJSON_AddNumberToObject(o, "attempts", j->attempts);
	cJSON_AddNumberToObject(o, "max_attempts", j->max_attempts);
	cJSON_AddNumberToObject(o, "created_ms", (double)j->created_ms);
	cJSON_AddNumberToObject(o, "updated_ms", (double)j->updated_ms);
	cJSON_AddNumberToObject(o, "next_run_ms", (double)j->next_run_ms);
	cJSON_AddStringToObject(o, "idempotency_key", j->idem_key);
	if (j->lease_owner[0] != '\0' && j->state == JOB_RUNNING) {
		cJSON_AddStringToObject(o, "lease_owner", j->lease_owner);
		cJSON_AddNumberToObject(o, "lease_expires_ms",
					(double)j->lease_expires_ms);
	}
	if (j->last_error[0] != '\0')
		cJSON_AddStringToObject(
		    o, "last_error",
		    outcome_text(j->outcome, j->last_error, error, sizeof(error)));
	if ((j->state == JOB_QUEUED || j->state == JOB_FAILED) &&
	    !session_loaded(a->session)) {
		/* Nothing starts before the tokens are loaded. */
		snprintf(why, sizeof(why),
			 "waiting for a token: none is loaded from Vault yet%s%s",
			 session_last_error(a->session) ? ": " : "",
			 session_last_error(a->session) ? session_last_error(a->session)
							: "");
		cJSON_AddStringToObject(o, "wait_reason", why);
	} else if ((j->state == JOB_QUEUED || j->state == JOB_FAILED) &&
		   worker_draining(a->worker)) {
		cJSON_AddStringToObject(o, "wait_reason",
					"the queue is draining "
					"(aos-publishctl resume)");
	} else if (j->wait_reason[0] != '\0' && j->state == JOB_QUEUED) {
		cJSON_AddStringToObject(o, "wait_reason", j->wait_reason);
	}
	return o;
}

static void cmd_jobs(struct agent *a, struct control_conn *c, const cJSON *req)
{
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(req, "state");
	const cJSON *lim = cJSON_GetObjectItemCaseSensitive(req, "limit");
	struct job_filter f = {0};
	struct job *jobs;
	cJSON *o, *arr;
	int n, i;

	if (cJSON_IsString(st)) {
		f.state = job_state_parse(st->valuestring);
		if (f.state == 0) {
			control_reply_error(c,
					    "unknown state (queued, running, succeeded, "
					    "failed, dead, canceled)");
			return;
		}
	}
	f.limit =
	    cJSON_IsNumber(lim) && lim->valuedouble >= 1 ? (size_t)lim->valuedouble : 50;
	if (f.limit > LIST_MAX)
		f.limit = LIST_MAX;
	jobs = calloc(f.limit, sizeof(*jobs));
	if (jobs == NULL) {
		control_reply_error(c, "out of memory");
		return;
	}
	n = a->queue->ops->list(a->queue, &f, jobs, f.limit);
	o = cJSON_CreateObject();
	cJSON_AddTrueToObject(o, "ok");
	arr = cJSON_AddArrayToObject(o, "jobs");
	for (i = 0; i < n; i++) {
		cJSON_AddItemToArray(arr, job_json(a, &jobs[i]));
		job_clear(&jobs[i]);
	}
	free(jobs);
	control_reply(c, o);
}

static void cmd_job_show(struct agent *a, struct control_conn *c, const cJSON *req)
{
	struct job_upload *ups;
	struct job j = {0};
	cJSON *o, *arr;
	int64_t id;
	int n, i;

	if (!get_id(c, req, &id))
		return;
	if (a->queue->ops->get(a->queue, id, &j) < 0) {
		control_reply_error(c, "no such job");
		return;
	}
	o = cJSON_CreateObject();
	cJSON_AddTrueToObject(o, "ok");
	cJSON_AddItemToObject(o, "job", job_json(a, &j));
	cJSON_AddItemToObject(o, "inputs", cJSON_Parse(j.inputs));
	arr = cJSON_AddArrayToObject(o, "uploads");
	n = queue_uploads_all(a->queue, id, &ups);
	for (i = 0; i < n; i++) {
		cJSON *u = worker_upload_json(&ups[i]);
		char text[JOB_TEXT_MAX];

		cJSON_AddStringToObject(
		    u, "answer",
		    outcome_text(ups[i].outcome, ups[i].answer, text, sizeof(text)));
		cJSON_AddItemToArray(arr, u);
	}
	free(ups);
	job_clear(&j);
	control_reply(c, o);
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

cJSON *queue_status_json(struct agent *a)
{
	int64_t counts[JOB_CANCELED + 1] = {0};
	cJSON *o = worker_status_json(a->worker), *d;
	int s;

	a->queue->ops->counts(a->queue, counts);
	d = cJSON_AddObjectToObject(o, "depth");
	for (s = JOB_QUEUED; s <= JOB_CANCELED; s++)
		cJSON_AddNumberToObject(d, job_state_name((enum job_state)s),
					(double)counts[s]);
	cJSON_AddStringToObject(o, "database", a->cfg->queue.path);
	return o;
}

void queue_command(struct agent *a, struct control_conn *c, enum control_cmd_id id,
		   const cJSON *req)
{
	int64_t qid;
	cJSON *o;
	int r;

	switch (id) {
	case CMD_JOBS: cmd_jobs(a, c, req); break;
	case CMD_JOB_SHOW: cmd_job_show(a, c, req); break;
	case CMD_JOB_LOG:
		if (!get_id(c, req, &qid))
			break;
		r = follow_log(
		    a, c, qid,
		    cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "follow")));
		if (r < 0)
			control_reply_error(c, r == AOS_ENOTFOUND ? "no such job"
								  : "out of memory");
		break;
	case CMD_JOB_WAIT:
		if (get_id(c, req, &qid) && follow_start(a, c, qid) < 0)
			control_reply_error(c, "no such job");
		break;
	case CMD_JOB_RETRY:
	case CMD_JOB_CANCEL: cmd_job_action(a, c, req, id == CMD_JOB_CANCEL); break;
	case CMD_DRAIN:
	case CMD_RESUME:
		worker_operator_drain(a->worker, id == CMD_DRAIN);
		o = cJSON_CreateObject();
		cJSON_AddTrueToObject(o, "ok");
		cJSON_AddBoolToObject(o, "draining", worker_draining(a->worker));
		cJSON_AddNumberToObject(o, "running", (double)worker_running(a->worker));
		control_reply(c, o);
		break;
	default: control_reply_error(c, "not a queue request"); break;
	}
}
