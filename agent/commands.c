/* commands.c - the control socket's requests. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "ingest.h"
#include "sandbox.h"
#include "err.h"
#include "log.h"
#include "commands_internal.h"
#include "publish.h"

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

static void cmd_status(struct agent *a, struct control_conn *c)
{
	cJSON *o = ok_object();

	cJSON_AddStringToObject(o, "version", AOS_VERSION);
	cJSON_AddNumberToObject(o, "pid", (double)getpid());
	cJSON_AddNumberToObject(o, "uptime_s",
				(double)((uv_now(&a->loop) - a->start_ms) / 1000));
	cJSON_AddStringToObject(o, "state", agent_state(a));
	cJSON_AddStringToObject(o, "config", a->cfg->path);
	cJSON_AddItemToObject(o, "vault", session_vault_json(a->session));
	cJSON_AddItemToObject(o, "secrets", session_secrets_json(a->session));
	cJSON_AddItemToObject(o, "queue", queue_status_json(a));
	if (a->ingest != NULL)
		cJSON_AddItemToObject(o, "webhooks", ingest_status_json(a->ingest));
	if (a->cfg->npipelines > 0)
		cJSON_AddItemToObject(o, "build_isolation",
				      sandbox_status_json(a->cfg->build_isolation, &a->sandbox));
	control_reply(c, o);
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

static void cmd_publish(struct agent *a, struct control_conn *c, const cJSON *req)
{
	const cJSON *reg = cJSON_GetObjectItemCaseSensitive(req, "registry");
	const cJSON *files = cJSON_GetObjectItemCaseSensitive(req, "files");
	const cJSON *tag = cJSON_GetObjectItemCaseSensitive(req, "tag");
	const cJSON *ver = cJSON_GetObjectItemCaseSensitive(req, "version");
	const char *paths[PUBLISH_MAX_FILES];
	struct publish_request r = { 0 };
	const cJSON *f;
	char msg[512];

	if (!cJSON_IsString(reg) || !cJSON_IsArray(files)) {
		control_reply_error(c, "publish needs \"registry\" (a string) and "
				    "\"files\" (an array of absolute paths)");
		return;
	}
	cJSON_ArrayForEach(f, files) {
		if (!cJSON_IsString(f) || r.nfiles == PUBLISH_MAX_FILES) {
			control_reply_error(c, "\"files\" must hold 1 to 64 path strings");
			return;
		}
		paths[r.nfiles++] = f->valuestring;
	}
	r.registry = reg->valuestring;
	r.files = paths;
	r.tag = cJSON_IsString(tag) ? tag->valuestring : NULL;
	r.expected_version = cJSON_IsString(ver) ? ver->valuestring : NULL;
	r.dry_run = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "dry_run"));
	(void)msg;
	cmd_queue_publish(a, c, req, &r);
}

void agent_command(struct control_conn *c, const cJSON *req, void *data)
{
	struct agent *a = data;
	const char *cmd = cJSON_GetObjectItemCaseSensitive(req, "cmd")->valuestring;

	if (strcmp(cmd, "status") == 0)
		cmd_status(a, c);
	else if (strcmp(cmd, "secrets") == 0)
		cmd_secrets(a, c);
	else if (strcmp(cmd, "secrets.refresh") == 0)
		cmd_refresh(a, c);
	else if (strcmp(cmd, "publish") == 0)
		cmd_publish(a, c, req);
	else if (strcmp(cmd, "ping") == 0)
		control_reply(c, ok_object());
	else if (queue_command(a, c, cmd, req))
		;
	else {
		char msg[200];

		snprintf(msg, sizeof(msg), "unknown command \"%.60s\" (known: status, "
			 "secrets, secrets.refresh, publish, jobs, job.show, job.log, "
			 "job.wait, job.retry, job.cancel, drain, resume, ping)", cmd);
		control_reply_error(c, msg);
	}
}
