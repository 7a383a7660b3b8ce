/* commands_internal.h - control requests split across files. */
#ifndef AOS_COMMANDS_INTERNAL_H
#define AOS_COMMANDS_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "daemon/control_policy.h"

struct agent;
struct control_conn;
struct job;

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

/* A control request waiting for a read of the queue (a->rq): conn is
 * NULL once the client left (the connection's cancel hook), and the
 * completion, which frees the record, then answers nobody. */
struct ctl_read {
	struct agent *a;
	struct control_conn *conn;
	int64_t id;	 /* job.show: the job's id */
	struct job *job; /* job.show: the job, between its two reads */
	size_t rows;	 /* jobs: the rows its list read holds (a->list_rows) */
};

/* A record for c's request, or NULL (c answered "out of memory"). */
struct ctl_read *ctl_read_new(struct agent *a, struct control_conn *c);

/* After a post for r returned rc: 0, true (the completion answers); a
 * refusal, false (r->conn answered daemon_queue_refusal(rc), r freed). */
bool ctl_read_posted(struct ctl_read *r, int rc);

/* At the completion: true when the client is still there (its cancel hook
 * cleared: the caller answers it and frees r with ctl_read_free()); false
 * when it left (r freed). */
bool ctl_read_here(struct ctl_read *r);

/* ctl_read_here(), and then false too when the read failed (rc < 0: the
 * client answered daemon_queue_refusal(rc), r freed). */
bool ctl_read_ok(struct ctl_read *r, int rc);

/* Frees r (and r->job).  Accepts NULL. */
void ctl_read_free(struct ctl_read *r);

/* jobs {"state", "limit"} and job.show {"id"} (commands_read.c): answered
 * from a->rq's completions. */
void cmd_jobs(struct agent *a, struct control_conn *c, const cJSON *req);
void cmd_job_show(struct agent *a, struct control_conn *c, int64_t id);

/* The "queue" part of status, with the job counts read (NULL: they could
 * not be read, error says why). */
cJSON *queue_status_json(struct agent *a, const int64_t *counts, const char *error);

#endif
