/* commands_internal.h - control requests split across files. */
#ifndef AOS_COMMANDS_INTERNAL_H
#define AOS_COMMANDS_INTERNAL_H

#include <stdbool.h>

#include <cjson/cJSON.h>

struct agent;
struct control_conn;
struct publish_request;

/* publish: a dry run runs at once; otherwise the files are enqueued. */
void cmd_queue_publish(struct agent *a, struct control_conn *c, const cJSON *req,
		       const struct publish_request *r);

/* Handles the queue requests; false if cmd is not one of them. */
bool queue_command(struct agent *a, struct control_conn *c, const char *cmd,
		   const cJSON *req);

/* reconcile {"pipeline", "dry_run"} (reconcile.c): answers once the
 * repository's tags and the targets' indexes have been compared. */
void cmd_reconcile(struct agent *a, struct control_conn *c, const cJSON *req);

/* The "queue" part of status. */
cJSON *queue_status_json(struct agent *a);

#endif
