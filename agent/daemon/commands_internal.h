/* commands_internal.h - control requests split across files. */
#ifndef AOS_COMMANDS_INTERNAL_H
#define AOS_COMMANDS_INTERNAL_H

#include <stdbool.h>

#include <cjson/cJSON.h>

#include "daemon/control_policy.h"

struct agent;
struct control_conn;

/* Handles the queue requests: jobs, job.*, drain, resume (the request's
 * arguments are checked already). */
void queue_command(struct agent *a, struct control_conn *c, enum control_cmd_id id,
		   const cJSON *req);

/* publish {"registry", "files", ...} with one descriptor per file
 * (commands_publish.c): answers through the spool's hooks. */
void cmd_publish(struct agent *a, struct control_conn *c, const cJSON *req);

/* reconcile {"pipeline", "dry_run"} (commands_reconcile.c; the scan is
 * pipeline/reconcile.c): answers once the repository's tags and the
 * targets' indexes have been compared. */
void cmd_reconcile(struct agent *a, struct control_conn *c, const cJSON *req);

/* The "queue" part of status. */
cJSON *queue_status_json(struct agent *a);

#endif
