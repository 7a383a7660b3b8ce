/* commands_read.c - the control requests that read the queue (jobs,
 * job.show, status's counts) through the read queue_async (a->rq): each is
 * answered from its read's completion, and a client that leaves while its
 * read is out is forgotten (struct ctl_read). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/control.h"
#include "daemon/agent.h"
#include "daemon/daemon_pg.h"
#include "daemon/daemon_queue.h"
#include "queue/queue.h"
#include "queue/queue_async.h"
#include "worker/worker.h"
#include "commands_internal.h"

/* ---- a request waiting for its read ------------------------------------------ */

static void read_gone(struct control_conn *c, void *arg)
{
	struct ctl_read *r = arg;

	(void)c;
	r->conn = NULL;
}

struct ctl_read *ctl_read_new(struct agent *a, struct control_conn *c)
{
	struct ctl_read *r = calloc(1, sizeof(*r));

	if (r == NULL) {
		control_reply_error(c, "out of memory");
		return NULL;
	}
	r->a = a;
	r->conn = c;
	return r;
}

void ctl_read_free(struct ctl_read *r)
{
	if (r == NULL)
		return;
	if (r->job != NULL)
		job_clear(r->job);
	free(r->job);
	free(r);
}

bool ctl_read_posted(struct ctl_read *r, int rc)
{
	if (rc < 0) {
		control_reply_error(r->conn, daemon_queue_refusal(rc));
		ctl_read_free(r);
		return false;
	}
	control_set_cancel(r->conn, read_gone, r);
	return true;
}

bool ctl_read_here(struct ctl_read *r)
{
	if (r->conn == NULL) {
		ctl_read_free(r);
		return false;
	}
	control_set_cancel(r->conn, NULL, NULL);
	return true;
}

bool ctl_read_ok(struct ctl_read *r, int rc)
{
	if (!ctl_read_here(r))
		return false;
	if (rc >= 0)
		return true;
	control_reply_error(r->conn, daemon_queue_refusal(rc));
	ctl_read_free(r);
	return false;
}

/* The read queue, or NULL once it closed (posts then answer -ESHUTDOWN). */
static int post_check(const struct agent *a)
{
	return a->rq != NULL ? 0 : -ESHUTDOWN;
}

/* ---- jobs and job.show ------------------------------------------------------- */

#define LIST_DEFAULT 50
/* Rows all the `jobs` reads out may hold: each list read's result array
 * is allocated at its post (about 3 KiB a row), so without a bound every
 * control connection could hold QUEUE_ASYNC_LIST_MAX rows at once.  Past
 * it a `jobs` is answered busy. */
#define LIST_ROWS_OUT_MAX (4 * QUEUE_ASYNC_LIST_MAX)

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
		   a->worker != NULL && worker_draining(a->worker)) {
		/* the fleet's drain holds it everywhere; a host's only here */
		if (worker_fleet_drained(a->worker))
			snprintf(why, sizeof(why),
				 "the queue is draining (aos-publishctl resume)");
		else
			snprintf(why, sizeof(why),
				 "this host (%s) is draining: another host may run it "
				 "(aos-publishctl resume --host %s)",
				 worker_host(a->worker), worker_host(a->worker));
		cJSON_AddStringToObject(o, "wait_reason", why);
	} else if (j->wait_reason[0] != '\0' && j->state == JOB_QUEUED) {
		cJSON_AddStringToObject(o, "wait_reason", j->wait_reason);
	}
	return o;
}

static cJSON *ok_answer(void)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddTrueToObject(o, "ok");
	return o;
}

/* Answers r's client with o (consumed) and frees r. */
static void reply(struct ctl_read *r, cJSON *o)
{
	control_reply(r->conn, o);
	ctl_read_free(r);
}

/* jobs's answer from the list read. */
static cJSON *jobs_json(struct agent *a, const struct queue_async_result *res)
{
	cJSON *o = ok_answer();
	cJSON *arr = cJSON_AddArrayToObject(o, "jobs");
	size_t i;

	for (i = 0; i < res->n; i++)
		cJSON_AddItemToArray(arr, job_json(a, &res->jobs[i]));
	return o;
}

static void jobs_done(struct queue_async_result *res, void *data)
{
	struct ctl_read *r = data;

	r->a->list_rows -= r->rows;

	if (ctl_read_ok(r, res->rc))
		reply(r, jobs_json(r->a, res));
}

void cmd_jobs(struct agent *a, struct control_conn *c, const cJSON *req)
{
	const cJSON *st = cJSON_GetObjectItemCaseSensitive(req, "state");
	const cJSON *lim = cJSON_GetObjectItemCaseSensitive(req, "limit");
	struct job_filter f = {0};
	struct ctl_read *r;
	int rc;

	if (cJSON_IsString(st)) {
		f.state = job_state_parse(st->valuestring);
		if (f.state == 0) {
			control_reply_error(c,
					    "unknown state (queued, running, succeeded, "
					    "failed, dead, canceled)");
			return;
		}
	}
	f.limit = cJSON_IsNumber(lim) && lim->valuedouble >= 1 ? (size_t)lim->valuedouble
							       : LIST_DEFAULT;
	if (f.limit > QUEUE_ASYNC_LIST_MAX)
		f.limit = QUEUE_ASYNC_LIST_MAX;
	r = ctl_read_new(a, c);
	if (r == NULL)
		return;
	rc = post_check(a);
	if (rc == 0 && a->list_rows + f.limit > LIST_ROWS_OUT_MAX)
		rc = -EBUSY;
	if (rc == 0)
		rc = queue_async_list(a->rq, &f, f.limit, jobs_done, r);
	if (rc == 0) {
		r->rows = f.limit;
		a->list_rows += f.limit;
	}
	(void)ctl_read_posted(r, rc);
}

/* job.show's answer: the job read first, its uploads read after it. */
static cJSON *show_json(struct agent *a, const struct job *j,
			const struct queue_async_result *res)
{
	cJSON *o = ok_answer();
	cJSON *arr;
	size_t i;

	cJSON_AddItemToObject(o, "job", job_json(a, j));
	cJSON_AddItemToObject(o, "inputs", cJSON_Parse(j->inputs));
	arr = cJSON_AddArrayToObject(o, "uploads");
	for (i = 0; i < res->n; i++) {
		cJSON *u = worker_upload_json(&res->uploads[i]);
		char text[JOB_TEXT_MAX];

		cJSON_AddStringToObject(u, "answer",
					outcome_text(res->uploads[i].outcome,
						     res->uploads[i].answer, text,
						     sizeof(text)));
		cJSON_AddItemToArray(arr, u);
	}
	return o;
}

static void show_uploads_done(struct queue_async_result *res, void *data)
{
	struct ctl_read *r = data;

	if (ctl_read_ok(r, res->rc))
		reply(r, show_json(r->a, r->job, res));
}

/* The job came: its uploads are read next (the same request record). */
static void show_job_done(struct queue_async_result *res, void *data)
{
	struct ctl_read *r = data;
	int rc;

	if (!ctl_read_ok(r, res->rc))
		return;
	r->job = res->jobs; /* taken: the one job read */
	res->jobs = NULL;
	rc = post_check(r->a);
	if (rc == 0)
		rc = queue_async_uploads(r->a->rq, r->id, show_uploads_done, r);
	(void)ctl_read_posted(r, rc);
}

void cmd_job_show(struct agent *a, struct control_conn *c, int64_t id)
{
	struct ctl_read *r = ctl_read_new(a, c);
	int rc;

	if (r == NULL)
		return;
	r->id = id;
	rc = post_check(a);
	if (rc == 0)
		rc = queue_async_get(a->rq, id, show_job_done, r);
	(void)ctl_read_posted(r, rc);
}

/* ---- status's queue part ---------------------------------------------------- */

cJSON *queue_status_json(struct agent *a, const int64_t *counts, const char *error)
{
	cJSON *o =
	    a->worker != NULL ? worker_status_json(a->worker) : cJSON_CreateObject();
	cJSON *d;
	int s;

	if (counts != NULL) {
		d = cJSON_AddObjectToObject(o, "depth");
		for (s = JOB_QUEUED; s <= JOB_CANCELED; s++)
			cJSON_AddNumberToObject(d, job_state_name((enum job_state)s),
						(double)counts[s]);
	} else {
		cJSON_AddStringToObject(o, "depth_error", error);
	}
	if (a->pg == NULL)
		cJSON_AddStringToObject(o, "database", a->cfg->queue.path);
	daemon_pg_status(a, o); /* the backend, and PostgreSQL's connection */
	return o;
}
