/* commands_publish.c - the control request publish: the spool takes the
 * files and reports through its hooks (spool.h); this file answers the
 * client: the job's id, a refusal, a dry run's events and result, or, with
 * "wait", the job followed to its end (follow.c). */
#include <stdlib.h>
#include <unistd.h>

#include "base/control.h"
#include "common/err.h"
#include "daemon/agent.h"
#include "daemon/follow.h"
#include "daemon/daemon_queue.h"
#include "publish/spool.h"
#include "worker/worker.h"
#include "commands_internal.h"

_Static_assert(CONTROL_FDS_MAX <= PUBLISH_MAX_FILES, "a request's files fit a publish");

/* One client's publish request, from the spool's start to its answer (or
 * to the end of its dry run). */
struct pub_client {
	struct agent *a;
	struct control_conn *conn;
	struct spool_op *spool; /* until a spool hook is called */
	struct publish_op *dry; /* a dry run's publish, until it finishes */
	bool wait;
};

static void kick_worker(void *data)
{
	struct agent *a = data;

	if (a->worker != NULL) /* NULL once the daemon stops */
		worker_kick(a->worker);
}

static void client_done(struct pub_client *pc)
{
	control_set_cancel(pc->conn, NULL, NULL);
	free(pc);
}

static void client_gone(struct control_conn *c, void *arg)
{
	struct pub_client *pc = arg;

	(void)c;
	if (pc->spool != NULL)
		spool_forget(pc->spool);
	if (pc->dry != NULL)
		publish_abort(pc->dry);
	free(pc);
}

static void on_committed(void *data, int result, int64_t id, const char *idem_key)
{
	struct pub_client *pc = data;
	struct control_conn *c = pc->conn;
	struct agent *a = pc->a;
	cJSON *o = cJSON_CreateObject();

	cJSON_AddTrueToObject(o, "ok");
	cJSON_AddNumberToObject(o, "job_id", (double)id);
	cJSON_AddBoolToObject(o, "existing", result == AOS_EEXIST);
	cJSON_AddStringToObject(o, "idempotency_key", idem_key);
	if (!pc->wait) {
		client_done(pc);
		control_reply(c, o);
		return;
	}
	/* Followed before the worker can start it: no event is missed. */
	cJSON_AddStringToObject(o, "event", "queued");
	control_send(c, o);
	client_done(pc);
	follow_start(a, c, id); /* read after the commit: it sees the job */
}

static void reply_refused(struct control_conn *c, enum pub_outcome out, const char *error)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddFalseToObject(o, "ok");
	cJSON_AddStringToObject(o, "outcome", publish_outcome_name(out));
	cJSON_AddStringToObject(o, "error", error);
	control_reply(c, o);
}

/* The disk is short: "unavailable" (aos-publishctl exits 10), nothing queued. */
static void refuse_unavailable(struct control_conn *c, const char *error)
{
	reply_refused(c, OUT_UNAVAILABLE, error);
}

static void on_refused(void *data, enum pub_outcome out, const char *error)
{
	struct pub_client *pc = data;
	struct control_conn *c = pc->conn;

	client_done(pc);
	reply_refused(c, out, error);
}

static void on_dry_run_started(void *data, struct publish_op *op)
{
	struct pub_client *pc = data;

	pc->spool = NULL;
	pc->dry = op;
}

/* A dry run's publish reports to the client: its events as they come,
 * its answer at the end. */
static void dry_event(void *data, const cJSON *ev)
{
	struct pub_client *pc = data;
	cJSON *copy = cJSON_Duplicate(ev, true);

	if (copy != NULL)
		control_send(pc->conn, copy);
}

static void dry_finished(void *data, enum pub_outcome out, const char *error,
			 long retry_after_s, const cJSON *answer)
{
	struct pub_client *pc = data;
	struct control_conn *c = pc->conn;
	cJSON *copy = cJSON_Duplicate(answer, true);

	(void)out;
	(void)error;
	(void)retry_after_s;
	client_done(pc);
	if (copy != NULL)
		control_reply(c, copy);
	else
		control_reply_error(c, "out of memory");
}

static bool dry_behind(void *data)
{
	struct pub_client *pc = data;

	return control_pending_bytes(pc->conn) > 65536;
}

/* publish: the files came as descriptors with the request (checked by
 * control_request_check: one per name). */
void cmd_publish(struct agent *a, struct control_conn *c, const cJSON *req)
{
	const cJSON *files = cJSON_GetObjectItemCaseSensitive(req, "files"), *f;
	const char *names[CONTROL_FDS_MAX];
	int fds[CONTROL_FDS_MAX];
	struct pub_client *pc = calloc(1, sizeof(*pc));
	struct spool_hooks hooks = {
	    .committed = on_committed,
	    .refused = on_refused,
	    .dry_run_started = on_dry_run_started,
	    .dry_run = {.event = dry_event,
			.finished = dry_finished,
			.behind = dry_behind,
			.data = pc},
	    .data = pc,
	};
	struct spool_request r = {
	    .registry =
		cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "registry")),
	    .tag = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "tag")),
	    .version =
		cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "version")),
	    .idem_key = cJSON_GetStringValue(
		cJSON_GetObjectItemCaseSensitive(req, "idempotency_key")),
	    .dry_run = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "dry_run")),
	    .names = names,
	    .fds = fds,
	    .uid = control_peer(c)->uid,
	    .pid = control_peer(c)->pid,
	    .hooks = &hooks,
	};
	struct spool_env env = {.pub = a->penv,
				.stopping = &a->stopping,
				.committed = kick_worker,
				.committed_data = a,
				.commit = daemon_commit_one, /* off the loop */
				.commit_data = a};
	char msg[512];
	size_t nfds;

	cJSON_ArrayForEach(f, files) names[r.nfiles++] = f->valuestring;
	nfds = control_take_fds(c, fds, CONTROL_FDS_MAX);
	if (nfds != r.nfiles || pc == NULL) { /* control_request_check() matched them */
		while (nfds > 0)
			close(fds[--nfds]);
		control_reply_error(
		    c, pc == NULL ? "out of memory"
				  : "internal error: descriptors and names do not match");
		free(pc);
		return;
	}
	if (!r.dry_run && disk_short(a, msg, sizeof(msg))) {
		while (nfds > 0)
			close(fds[--nfds]);
		free(pc);
		pc = NULL;
		refuse_unavailable(c, msg);
		return;
	}
	pc->a = a;
	pc->conn = c;
	pc->wait = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "wait"));
	if (spool_enqueue(&env, &r, &pc->spool, msg, sizeof(msg)) < 0) {
		free(pc);
		control_reply_error(c, msg);
		return;
	}
	control_set_cancel(c, client_gone, pc);
}
