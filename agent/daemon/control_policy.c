/* control_policy.c - the control socket's commands, their roles and the
 * checks of their arguments; a peer's role.  See control_policy.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "common/secret.h"
#include "daemon/control_policy.h"
#include "queue/queue.h"

#define ID_MAX 9007199254740992.0 /* 2^53: exact in a JSON number */
#define STR_MAX 200		  /* registry, pipeline, tag, version names */

/* ---- argument checks ------------------------------------------------------ */

static const cJSON *item(const cJSON *req, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, key);

	return cJSON_IsNull(v) ? NULL : v;
}

static int fail(char *msg, size_t msglen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *msg, size_t msglen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, msglen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* Returns -EINVAL with msg formatted from fmt (what the request needs) when
 * bad, else 0. */
static int need(bool bad, char *msg, size_t msglen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int need(bool bad, char *msg, size_t msglen, const char *fmt, ...)
{
	va_list ap;

	if (!bad)
		return 0;
	va_start(ap, fmt);
	vsnprintf(msg, msglen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* key absent, null, or a string of 1 to max bytes (required: not absent). */
static int check_str(const cJSON *req, const char *key, size_t max, bool required,
		     char *msg, size_t msglen)
{
	const cJSON *v = item(req, key);

	if (v == NULL && !required)
		return 0;
	if (!cJSON_IsString(v) || v->valuestring[0] == '\0' ||
	    strlen(v->valuestring) > max)
		return fail(msg, msglen, "\"%s\" must be a string of 1 to %zu bytes", key,
			    max);
	return 0;
}

static int check_bool(const cJSON *req, const char *key, char *msg, size_t msglen)
{
	const cJSON *v = item(req, key);

	if (v != NULL && !cJSON_IsBool(v))
		return fail(msg, msglen, "\"%s\" must be true or false", key);
	return 0;
}

static int check_id(const cJSON *req, size_t nfds, char *msg, size_t msglen)
{
	const cJSON *id = item(req, "id");

	(void)nfds;
	if (!cJSON_IsNumber(id) || !(id->valuedouble >= 1 && id->valuedouble <= ID_MAX) ||
	    (double)(int64_t)id->valuedouble != id->valuedouble)
		return fail(msg, msglen,
			    "this request needs \"id\": a job id (a positive "
			    "whole number)");
	return 0;
}

static int check_log(const cJSON *req, size_t nfds, char *msg, size_t msglen)
{
	int r = check_id(req, nfds, msg, msglen);

	return r < 0 ? r : check_bool(req, "follow", msg, msglen);
}

static int check_jobs(const cJSON *req, size_t nfds, char *msg, size_t msglen)
{
	const cJSON *st = item(req, "state"), *lim = item(req, "limit");

	(void)nfds;
	if (st != NULL && (!cJSON_IsString(st) || job_state_parse(st->valuestring) == 0))
		return fail(msg, msglen,
			    "unknown state (queued, running, succeeded, failed, "
			    "dead, canceled)");
	if (lim != NULL &&
	    (!cJSON_IsNumber(lim) || !(lim->valuedouble >= 1 && lim->valuedouble <= 1e9)))
		return fail(msg, msglen,
			    "\"limit\" must be a number from 1 (at most 1000 "
			    "jobs are listed)");
	return 0;
}

static int check_value(const cJSON *req, size_t nfds, char *msg, size_t msglen)
{
	(void)nfds;
	return need(check_str(req, "value", SECRET_VALUE_MAX, true, msg, msglen) < 0, msg,
		    msglen,
		    "secrets.fingerprint needs \"value\": a string of 1 to %d bytes (the "
		    "value whose fingerprint to show)",
		    SECRET_VALUE_MAX);
}

static int check_candidate(const cJSON *req, size_t nfds, char *msg, size_t msglen)
{
	(void)nfds;
	return need(check_str(req, "key", STR_MAX, true, msg, msglen) < 0 ||
			check_str(req, "value", SECRET_VALUE_MAX, true, msg, msglen) < 0,
		    msg, msglen,
		    "secrets.check needs \"key\" (the Vault key, e.g. NPM_TOKEN) and "
		    "\"value\": a string of 1 to %d bytes (the value to check before it "
		    "is written)",
		    SECRET_VALUE_MAX);
}

static int check_reconcile(const cJSON *req, size_t nfds, char *msg, size_t msglen)
{
	(void)nfds;
	if (need(check_str(req, "pipeline", STR_MAX, true, msg, msglen) < 0, msg, msglen,
		 "reconcile needs \"pipeline\": the name of a configured pipeline") < 0)
		return -EINVAL;
	return check_bool(req, "dry_run", msg, msglen);
}

static int check_prune(const cJSON *req, size_t nfds, char *msg, size_t msglen)
{
	(void)nfds;
	return check_bool(req, "dry_run", msg, msglen);
}

int control_check_file_name(const char *name, char *msg, size_t msglen)
{
	size_t i, n = strlen(name);

	if (memchr(name, '/', n) != NULL)
		return fail(
		    msg, msglen,
		    "\"files\" holds file names, not paths (\"%.200s\"): "
		    "the daemon never opens a client's path; send each file as an "
		    "open descriptor with the request (SCM_RIGHTS), as `aos-publishctl "
		    "publish` does",
		    name);
	if (n == 0 || n > PUBLISH_NAME_MAX || name[0] == '.')
		return fail(msg, msglen,
			    "file name \"%.200s\": expected 1 to %d bytes, not "
			    "starting with \".\"",
			    name, PUBLISH_NAME_MAX);
	for (i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return fail(msg, msglen,
				    "file name \"%.200s\" holds a control "
				    "character",
				    name);
	return 0;
}

static int check_publish(const cJSON *req, size_t nfds, char *msg, size_t msglen)
{
	const cJSON *files = item(req, "files"), *f;
	size_t n = 0;

	if (check_str(req, "registry", STR_MAX, true, msg, msglen) < 0 ||
	    !cJSON_IsArray(files))
		return fail(msg, msglen,
			    "publish needs \"registry\" (a string) and \"files\" "
			    "(an array of file names, one descriptor sent with each)");
	cJSON_ArrayForEach(f, files)
	{
		if (!cJSON_IsString(f) || ++n > CONTROL_FDS_MAX)
			return fail(msg, msglen, "\"files\" must hold 1 to %d file names",
				    CONTROL_FDS_MAX);
		if (control_check_file_name(f->valuestring, msg, msglen) < 0)
			return -EINVAL;
	}
	if (n == 0)
		return fail(msg, msglen, "\"files\" must hold 1 to %d file names",
			    CONTROL_FDS_MAX);
	if (nfds != n)
		return fail(
		    msg, msglen,
		    "publish names %zu file%s but %zu descriptor%s came "
		    "with it: each file is sent as an open descriptor (SCM_RIGHTS) in "
		    "the same message as the request line, and the daemon never opens "
		    "a client's path; use `aos-publishctl publish`",
		    n, n == 1 ? "" : "s", nfds, nfds == 1 ? "" : "s");
	if (check_str(req, "tag", STR_MAX, false, msg, msglen) < 0 ||
	    check_str(req, "version", STR_MAX, false, msg, msglen) < 0 ||
	    check_str(req, "idempotency_key", JOB_KEY_MAX - 1, false, msg, msglen) < 0 ||
	    check_bool(req, "dry_run", msg, msglen) < 0 ||
	    check_bool(req, "wait", msg, msglen) < 0)
		return -EINVAL;
	return 0;
}

/* ---- the table: every command, its role, its checks ----------------------- */

static const struct control_command commands[] = {
    {"ping", CMD_PING, CONTROL_ROLE_READ, NULL},
    {"status", CMD_STATUS, CONTROL_ROLE_READ, NULL},
    {"secrets", CMD_SECRETS, CONTROL_ROLE_READ, NULL},
    {"jobs", CMD_JOBS, CONTROL_ROLE_READ, check_jobs},
    {"job.show", CMD_JOB_SHOW, CONTROL_ROLE_READ, check_id},
    {"job.log", CMD_JOB_LOG, CONTROL_ROLE_READ, check_log},
    {"job.wait", CMD_JOB_WAIT, CONTROL_ROLE_READ, check_id},
    {"secrets.refresh", CMD_SECRETS_REFRESH, CONTROL_ROLE_OPERATE, NULL},
    /* Each request tests one guess against the fingerprints shown. */
    {"secrets.fingerprint", CMD_SECRETS_FINGERPRINT, CONTROL_ROLE_OPERATE, check_value},
    {"secrets.check", CMD_SECRETS_CHECK, CONTROL_ROLE_OPERATE, check_candidate},
    {"publish", CMD_PUBLISH, CONTROL_ROLE_OPERATE, check_publish},
    {"job.retry", CMD_JOB_RETRY, CONTROL_ROLE_OPERATE, check_id},
    {"job.cancel", CMD_JOB_CANCEL, CONTROL_ROLE_OPERATE, check_id},
    {"drain", CMD_DRAIN, CONTROL_ROLE_OPERATE, NULL},
    {"resume", CMD_RESUME, CONTROL_ROLE_OPERATE, NULL},
    {"reconcile", CMD_RECONCILE, CONTROL_ROLE_OPERATE, check_reconcile},
    /* A dry run too: it reads every prunable job and stats its files. */
    {"prune", CMD_PRUNE, CONTROL_ROLE_OPERATE, check_prune},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

/* ---- roles ------------------------------------------------------------------ */

const char *control_role_name(enum control_role r)
{
	return r == CONTROL_ROLE_OPERATE ? "operate"
	       : r == CONTROL_ROLE_READ	 ? "read"
					 : "no";
}

static bool listed(const struct control_principal *list, size_t n,
		   const struct control_peer *p)
{
	size_t i, g;

	for (i = 0; i < n; i++) {
		if (!list[i].group && list[i].id == (unsigned)p->uid)
			return true;
		for (g = 0; list[i].group && g < p->ngroups; g++)
			if (list[i].id == (unsigned)p->groups[g])
				return true;
	}
	return false;
}

enum control_role control_role_of(const struct config *cfg, const struct control_peer *p)
{
	const struct control_cfg *cc = &cfg->control;

	if (!p->identified || p->sandboxed)
		return CONTROL_ROLE_NONE;
	if (listed(cc->operators, cc->noperators, p))
		return CONTROL_ROLE_OPERATE;
	if (listed(cc->readers, cc->nreaders, p))
		return CONTROL_ROLE_READ;
	return CONTROL_ROLE_NONE;
}

/* "...; uid N (NAME) is ...: add ... to control.KEY in FILE" */
static void explain(const struct config *cfg, const struct control_peer *p,
		    enum control_role have, enum control_role need, char *msg,
		    size_t msglen)
{
	size_t n = strlen(msg);
	bool named = strncmp(p->name, "uid ", 4) != 0;

	snprintf(msg + n, msglen - n,
		 "; uid %u (%s) is %s: to allow it, add %s%s%s%s to "
		 "control.%s in %s",
		 (unsigned)p->uid, p->name,
		 have == CONTROL_ROLE_READ
		     ? "a reader only (control.readers)"
		     : "in neither control.readers nor control.operators",
		 named ? "\"" : "", named ? p->name : "", named ? "\" or " : "",
		 "\"@GROUP\"", need == CONTROL_ROLE_OPERATE ? "operators" : "readers",
		 cfg->path);
}

bool control_admit(const struct config *cfg, const struct control_peer *p, char *msg,
		   size_t msglen)
{
	if (!p->identified) {
		snprintf(msg, msglen,
			 "the peer could not be identified, so it is refused: %s",
			 p->why);
		return false;
	}
	if (p->sandboxed) {
		snprintf(
		    msg, msglen,
		    "uid %u (%s) pid %d runs as the daemon's own user with "
		    "no_new_privs set, as build steps do: the control socket does not "
		    "serve sandboxed processes of that user (docs/security.md)",
		    (unsigned)p->uid, p->name, (int)p->pid);
		return false;
	}
	if (control_role_of(cfg, p) != CONTROL_ROLE_NONE)
		return true;
	snprintf(msg, msglen, "the control socket needs the read role");
	explain(cfg, p, CONTROL_ROLE_NONE, CONTROL_ROLE_READ, msg, msglen);
	return false;
}

/* ---- requests --------------------------------------------------------------- */

static void unknown(const char *cmd, char *msg, size_t msglen)
{
	size_t i, n;

	snprintf(msg, msglen, "unknown command \"%.60s\" (known:", cmd);
	for (i = 0; i < NCOMMANDS; i++) {
		n = strlen(msg);
		snprintf(msg + n, msglen - n, "%s %s", i ? "," : "", commands[i].name);
	}
	n = strlen(msg);
	snprintf(msg + n, msglen - n, ")");
}

const struct control_command *control_request_check(const struct config *cfg,
						    const struct control_peer *p,
						    const cJSON *req, size_t nfds,
						    char *msg, size_t msglen,
						    bool *ret_denied)
{
	const char *cmd =
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "cmd"));
	const struct control_command *c = NULL;
	enum control_role have;
	size_t i;

	*ret_denied = false;
	for (i = 0; cmd != NULL && i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, cmd) == 0)
			c = &commands[i];
	if (c == NULL) {
		unknown(cmd != NULL ? cmd : "", msg, msglen);
		return NULL;
	}
	have = control_role_of(cfg, p);
	if (have < c->role) {
		*ret_denied = true;
		snprintf(msg, msglen, "\"%s\" needs the %s role", c->name,
			 control_role_name(c->role));
		explain(cfg, p, have, c->role, msg, msglen);
		return NULL;
	}
	if (nfds > 0 && c->id != CMD_PUBLISH) {
		snprintf(msg, msglen,
			 "\"%s\" takes no descriptors (%zu came with it and "
			 "were closed)",
			 c->name, nfds);
		return NULL;
	}
	if (c->check != NULL && c->check(req, nfds, msg, msglen) < 0)
		return NULL;
	return c;
}
