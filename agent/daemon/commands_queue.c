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

void queue_command(struct agent *a, struct control_conn *c, enum control_cmd_id id,
		   const cJSON *req)
{
	int64_t qid;
	cJSON *o;

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
	case CMD_RESUME:
		if (a->worker == NULL) { /* NULL once the daemon stops */
			control_reply_error(c, "the daemon is stopping");
			break;
		}
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
