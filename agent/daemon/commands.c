/* commands.c - the control socket's requests. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/log.h"
#include "common/err.h"
#include "common/secret.h"
#include "daemon/agent.h"
#include "daemon/control_policy.h"
#include "daemon/daemon_queue.h"
#include "daemon/ingest.h"
#include "daemon/token_check.h"
#include "queue/queue_async.h"
#include "sandbox/sandbox.h"
#include "commands_internal.h"

struct refresh_wait {
	struct session_waiter w; /* first: recovered by cast */
	struct agent *a;
	struct control_conn *conn;
	int64_t before;
};

static cJSON *ok_object(void)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddTrueToObject(o, "ok");
	return o;
}

/* The configured registry and pipeline names (for shell completion). */
static void add_names(cJSON *o, const struct config *cfg)
{
	cJSON *regs = cJSON_AddArrayToObject(o, "registries");
	cJSON *pipes = cJSON_AddArrayToObject(o, "pipelines");
	size_t i;

	for (i = 0; i < cfg->nregistries; i++)
		cJSON_AddItemToArray(regs, cJSON_CreateString(cfg->registries[i].name));
	for (i = 0; i < cfg->npipelines; i++)
		cJSON_AddItemToArray(pipes, cJSON_CreateString(cfg->pipelines[i].name));
}

/* status's answer, once the job counts are read (counts NULL: they could
 * not be, error says why). */
static void status_reply(struct agent *a, struct control_conn *c, const int64_t *counts,
			 const char *error)
{
	cJSON *o = ok_object();

	cJSON_AddStringToObject(o, "version", AOS_VERSION);
	cJSON_AddNumberToObject(o, "pid", (double)getpid());
	cJSON_AddNumberToObject(o, "uptime_s",
				(double)((uv_now(&a->loop) - a->start_ms) / 1000));
	cJSON_AddStringToObject(o, "state", agent_state(a));
	cJSON_AddStringToObject(o, "config", a->cfg->path);
	add_names(o, a->cfg);
	cJSON_AddItemToObject(o, "vault", session_vault_json(a->session));
	cJSON_AddItemToObject(o, "secrets", session_secrets_json(a->session));
	cJSON_AddItemToObject(o, "queue", queue_status_json(a, counts, error));
	cJSON_AddItemToObject(o, "disk", disk_status_json(a));
	if (a->ingest != NULL)
		cJSON_AddItemToObject(o, "webhooks", ingest_status_json(a->ingest));
	cJSON_AddItemToObject(o, "tokens", token_checks_json(a->tokens));
	if (a->cfg->npipelines > 0)
		cJSON_AddItemToObject(
		    o, "build_isolation",
		    sandbox_status_json(a->cfg->build_isolation, &a->sandbox));
	control_reply(c, o);
}

static void status_counts_done(struct queue_async_result *res, void *data)
{
	struct ctl_read *r = data;

	if (!ctl_read_here(r))
		return;
	status_reply(r->a, r->conn, res->rc >= 0 ? res->counts : NULL,
		     daemon_queue_refusal(res->rc));
	ctl_read_free(r);
}

/* status: the job counts are read on a->rq, the answer made from its
 * completion (a refused post answers at once). */
static void cmd_status(struct agent *a, struct control_conn *c)
{
	struct ctl_read *r = ctl_read_new(a, c);
	int rc;

	if (r == NULL)
		return;
	rc =
	    a->rq != NULL ? queue_async_counts(a->rq, status_counts_done, r) : -ESHUTDOWN;
	(void)ctl_read_posted(r, rc);
}

static void cmd_secrets(struct agent *a, struct control_conn *c)
{
	cJSON *o = ok_object();

	cJSON_AddNumberToObject(o, "kv_version",
				(double)store_kv_version(session_store(a->session)));
	cJSON_AddItemToObject(o, "secrets", session_secrets_json(a->session));
	control_reply(c, o);
}

static void refresh_done(struct session_waiter *w, int result, const char *error)
{
	struct refresh_wait *rw = (struct refresh_wait *)w;
	struct secret_store *st = session_store(rw->a->session);
	cJSON *o, *changed;
	size_t i;

	if (result < 0) {
		char msg[1200];

		snprintf(msg, sizeof(msg), "refresh failed: %s",
			 error != NULL ? error : aos_strerror(result));
		control_reply_error(rw->conn, msg);
		goto out;
	}
	o = ok_object();
	cJSON_AddNumberToObject(o, "kv_version", (double)store_kv_version(st));
	changed = cJSON_AddArrayToObject(o, "changed");
	for (i = 0; i < store_size(st); i++) {
		const struct store_entry *e = store_entry_at(st, i);

		if (e->version > rw->before)
			cJSON_AddItemToArray(changed, cJSON_CreateString(e->key));
	}
	cJSON_AddItemToObject(o, "secrets", session_secrets_json(rw->a->session));
	control_reply(rw->conn, o);
out:
	free(rw);
}

static void refresh_cancel(struct control_conn *c, void *arg)
{
	struct refresh_wait *rw = arg;

	(void)c;
	session_cancel_waiter(rw->a->session, &rw->w);
	free(rw);
}

static void cmd_refresh(struct agent *a, struct control_conn *c)
{
	struct refresh_wait *rw = calloc(1, sizeof(*rw));

	if (rw == NULL) {
		control_reply_error(c, "out of memory");
		return;
	}
	rw->w.cb = refresh_done;
	rw->a = a;
	rw->conn = c;
	rw->before = store_kv_version(session_store(a->session));
	log_info("secrets refresh requested on the control socket");
	control_set_cancel(c, refresh_cancel, rw);
	session_refresh(a->session, &rw->w);
}

/* The fingerprint this installation shows for a value the operator holds
 * (rotate_secret.sh compares with it).  The value lives in the request,
 * which cJSON and the control buffer wipe, and briefly in the secure heap. */
static void cmd_fingerprint(struct control_conn *c, const cJSON *req)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, "value");
	char fpr[SECRET_FPR_LEN + 1];
	struct secret *s = NULL;
	cJSON *o;
	size_t len;

	len = cJSON_IsString(v) ? strlen(v->valuestring) : 0;
	if (len == 0 || len > SECRET_VALUE_MAX) {
		control_reply_error(
		    c, "secrets.fingerprint needs \"value\": a string of 1 "
		       "to 4096 bytes (the value whose fingerprint to show)");
		return;
	}
	if (secret_new(v->valuestring, len, &s) < 0) {
		control_reply_error(c, "out of secure memory");
		return;
	}
	secret_fingerprint(s, fpr);
	secret_unref(s);
	o = ok_object();
	cJSON_AddStringToObject(o, "fingerprint", fpr);
	control_reply(c, o);
}

/* secrets.check: the value checked as its key's next value with every
 * registry using the key, before rotate_secret.sh --verify writes it. */
static void candidate_done(cJSON *checks, void *data)
{
	struct control_conn *c = data;
	cJSON *o = ok_object();

	control_set_cancel(c, NULL, NULL);
	cJSON_AddItemToObject(o, "checks", checks);
	control_reply(c, o);
}

static void candidate_gone(struct control_conn *c, void *arg)
{
	(void)c;
	token_candidate_cancel(arg);
}

static void cmd_secrets_check(struct agent *a, struct control_conn *c, const cJSON *req)
{
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(req, "key");
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, "value");
	struct token_candidate *cand = NULL;
	struct secret *s = NULL;
	int r;

	if (secret_new(v->valuestring, strlen(v->valuestring), &s) < 0) {
		control_reply_error(c, "out of secure memory");
		return;
	}
	r = token_check_candidate(a->tokens, k->valuestring, s, candidate_done, c, &cand);
	secret_unref(s); /* the checks hold what they need */
	if (r < 0)
		control_reply_error(c, "out of memory");
	else if (cand != NULL)
		control_set_cancel(c, candidate_gone, cand);
}

bool agent_admit(const struct control_peer *peer, void *data, bool *ret_fds_ok, char *msg,
		 size_t msglen)
{
	struct agent *a = data;

	if (!control_admit(a->cfg, peer, msg, msglen))
		return false;
	*ret_fds_ok = control_role_of(a->cfg, peer) == CONTROL_ROLE_OPERATE;
	return true;
}

void agent_command(struct control_conn *c, const cJSON *req, void *data)
{
	struct agent *a = data;
	const struct control_command *cmd;
	char msg[1200];
	bool denied;

	cmd = control_request_check(a->cfg, control_peer(c), req, control_fds(c), msg,
				    sizeof(msg), &denied);
	if (cmd == NULL && denied) {
		control_refuse(
		    c, cJSON_GetObjectItemCaseSensitive(req, "cmd")->valuestring, msg);
		return;
	}
	if (cmd == NULL) {
		control_reply_error(c, msg);
		return;
	}
	switch (cmd->id) {
	case CMD_PING: control_reply(c, ok_object()); break;
	case CMD_STATUS: cmd_status(a, c); break;
	case CMD_SECRETS: cmd_secrets(a, c); break;
	case CMD_SECRETS_REFRESH: cmd_refresh(a, c); break;
	case CMD_SECRETS_FINGERPRINT: cmd_fingerprint(c, req); break;
	case CMD_SECRETS_CHECK: cmd_secrets_check(a, c, req); break;
	case CMD_PUBLISH: cmd_publish(a, c, req); break;
	case CMD_RECONCILE: cmd_reconcile(a, c, req); break;
	case CMD_PRUNE:
		disk_prune_command(
		    a, c, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "dry_run")));
		break;
	case CMD_JOBS:
	case CMD_JOB_SHOW:
	case CMD_JOB_LOG:
	case CMD_JOB_WAIT:
	case CMD_JOB_RETRY:
	case CMD_JOB_CANCEL:
	case CMD_DRAIN:
	case CMD_RESUME: queue_command(a, c, cmd->id, req); break;
	}
}
