/* commands_reconcile.c - the control request reconcile {"pipeline",
 * "dry_run"}: starts the scan (pipeline/reconcile.h), whose jobs the
 * write queue_async commits off the loop, and answers the client from its hooks; the
 * worker is kicked when it queued jobs. */
#include <stdlib.h>

#include "base/control.h"
#include "common/err.h"
#include "daemon/agent.h"
#include "daemon/daemon_queue.h"
#include "pipeline/reconcile.h"
#include "worker/worker.h"
#include "commands_internal.h"

static void jobs_queued(void *data)
{
	struct agent *a = data;

	if (a->worker != NULL) /* NULL once the daemon stops */
		worker_kick(a->worker);
}

static void client_gone(struct control_conn *c, void *arg)
{
	(void)c;
	reconcile_forget(arg);
}

static void on_finished(void *data, const cJSON *answer)
{
	struct control_conn *c = data;
	cJSON *copy = cJSON_Duplicate(answer, true);

	control_set_cancel(c, NULL, NULL);
	if (copy != NULL)
		control_reply(c, copy);
	else
		control_reply_error(c, "out of memory");
}

static void on_failed(void *data, const char *error)
{
	struct control_conn *c = data;

	control_set_cancel(c, NULL, NULL);
	control_reply_error(c, error);
}

void cmd_reconcile(struct agent *a, struct control_conn *c, const cJSON *req)
{
	const char *name =
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "pipeline"));
	struct reconcile_env env = {
	    .loop = &a->loop,
	    .tp = a->tp,
	    .session = a->session,
	    .cfg = &a->cfg,
	    .commit = daemon_commit_many, /* off the loop */
	    .commit_data = a,
	    .sandbox = &a->sandbox,
	    .queued = jobs_queued,
	    .queued_data = a,
	};
	struct reconcile_hooks hooks = {
	    .finished = on_finished, .failed = on_failed, .data = c};
	struct reconcile_op *op;
	char msg[1200];

	if (name == NULL) {
		control_reply_error(c, "reconcile needs \"pipeline\"");
		return;
	}
	/* Before the first probe ends a->sandbox is all zeroes: the scan's
	 * git step would be refused as if this host had no sandbox. */
	if (!a->sandbox.probed) {
		control_reply_error(c, "the daemon is starting (its build sandbox is "
				       "being checked): retry in a moment");
		return;
	}
	if (reconcile_start(
		&env, name,
		cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "dry_run")), &hooks,
		&op, msg, sizeof(msg)) < 0) {
		control_reply_error(c, msg);
		return;
	}
	control_set_cancel(c, client_gone, op);
}
