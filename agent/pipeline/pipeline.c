/* pipeline.c - webhook decisions and pipeline jobs. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "common/err.h"
#include "common/hex.h"
#include "pipeline/pipeline.h"

#define SECRET_WAIT_S 5

bool pipeline_tag_ok(const char *tag)
{
	const char *p;

	if (tag[0] == '\0' || tag[0] == '-' || tag[0] == '/' || tag[0] == '.' ||
	    strlen(tag) >= 200 || strstr(tag, "..") != NULL || strstr(tag, "//") != NULL)
		return false;
	for (p = tag; *p != '\0'; p++)
		if (strchr(
			"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-/",
			*p) == NULL)
			return false;
	p = tag + strlen(tag) - 1;
	return *p != '/' && *p != '.';
}

bool pipeline_tag_version(const char *pattern, const char *tag, char *ver, size_t verlen)
{
	const char *star = strchr(pattern, '*');
	size_t pre, post, tl = strlen(tag), vl, i;

	if (star == NULL)
		return false;
	pre = (size_t)(star - pattern);
	post = strlen(star + 1);
	if (tl < pre + post + 1 || strncmp(tag, pattern, pre) != 0 ||
	    strcmp(tag + tl - post, star + 1) != 0)
		return false;
	vl = tl - pre - post;
	if (vl >= verlen || tag[pre] < '0' || tag[pre] > '9')
		return false;
	for (i = 0; i < vl; i++)
		if (strchr(
			"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.+!_-",
			tag[pre + i]) == NULL)
			return false;
	memcpy(ver, tag + pre, vl);
	ver[vl] = '\0';
	return true;
}

static bool commit_ok(const char *c)
{
	size_t n = strlen(c);

	return (n == 40 || n == 64) && aos_is_hex(c, n, true);
}

static void answer(struct hook_decision *d, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void answer(struct hook_decision *d, int status, const char *fmt, ...)
{
	va_list ap;

	d->status = status;
	va_start(ap, fmt);
	vsnprintf(d->text, sizeof(d->text), fmt, ap);
	va_end(ap);
}

/* Finds the pipeline for a verified tag push (or says why none). */
static void match(const struct config *cfg, struct hook_decision *d)
{
	const struct webhook_event *ev = &d->ev;
	bool repo_known = false;
	size_t i;

	if (strncmp(ev->ref, "refs/tags/", 10) != 0) {
		answer(d, 200, "not a tag push (%.200s): only tags start pipelines",
		       ev->ref);
		return;
	}
	snprintf(d->tag, sizeof(d->tag), "%s", ev->ref + 10);
	if (ev->deleted) {
		answer(d, 200, "tag %.200s was deleted: nothing to release", d->tag);
		return;
	}
	for (i = 0; i < cfg->npipelines; i++) {
		const struct pipeline_cfg *p = &cfg->pipelines[i];

		if (strcmp(p->repository_name, ev->repo) != 0)
			continue;
		repo_known = true;
		if (!pipeline_tag_version(p->tag_pattern, d->tag, d->version,
					  sizeof(d->version)))
			continue;
		if (!pipeline_tag_ok(d->tag)) {
			answer(d, 400,
			       "tag name \"%.200s\" has characters pipelines do not "
			       "accept (letters, digits, . _ + - / only)",
			       d->tag);
			return;
		}
		if (!commit_ok(ev->commit)) {
			answer(d, 400,
			       "the payload's commit \"%.80s\" is not a hex object id",
			       ev->commit);
			return;
		}
		d->pipeline = p;
		d->status = 0;
		return;
	}
	if (!repo_known)
		answer(d, 200, "no pipeline for repository %.200s", ev->repo);
	else
		answer(d, 200, "tag %.200s matches no pipeline of %.200s", d->tag,
		       ev->repo);
}

void pipeline_decide(const struct config *cfg, struct secret_store *st,
		     const struct http_request *r, struct hook_decision *d)
{
	pipeline_decide_prev(cfg, st, NULL, r, d);
}

typedef int (*verify_fn)(enum forge f, const struct http_request *r,
			 const struct secret *secret, char *msg, size_t msglen);

/* Checks r with the current secret, then the previous one (when given). */
static int check(verify_fn verify, enum forge f, const struct http_request *r,
		 const struct secret *cur, const struct secret *prev,
		 struct hook_decision *d)
{
	char msg[400], m2[400];
	int rc;

	rc = verify(f, r, cur, msg, sizeof(msg));
	/* The forge may not have the new secret yet. */
	if (rc == AOS_EAUTH && prev != NULL && verify(f, r, prev, m2, sizeof(m2)) == 0) {
		rc = 0;
		d->previous_secret = true;
	}
	if (rc < 0)
		answer(d, rc == -ENOMEM ? 503 : 401, "%s", msg);
	return rc;
}

/* What the headers decide: the forge, its secret, the signature header (and
 * GitLab's token).  Returns the secret (the caller's reference) with
 * d->status 0, or NULL with d's answer. */
static struct secret *decide_head(const struct config *cfg, struct secret_store *st,
				  struct secret *const prev[FORGE__COUNT],
				  const struct http_request *r, struct hook_decision *d,
				  enum forge *ret_forge)
{
	struct secret *secret;
	enum forge f;

	memset(d, 0, sizeof(*d));
	d->retry_after = -1;
	if (webhook_detect(r, &f) < 0) {
		answer(d, 400,
		       "not a webhook: no X-GitHub-Event, X-Gitlab-Event, "
		       "X-Gitea-Event or X-Forgejo-Event header");
		return NULL;
	}
	d->ev.forge = f;
	if (cfg->webhook_keys[f] == NULL) {
		answer(d, 401,
		       "webhooks from %s are not accepted here (no webhooks.%s in "
		       "the configuration)",
		       forge_name(f), forge_name(f));
		return NULL;
	}
	secret = st != NULL ? store_get(st, cfg->webhook_keys[f]) : NULL;
	if (secret == NULL) {
		answer(d, 503, "the %s webhook secret (%s) is not loaded from Vault yet",
		       forge_name(f), cfg->webhook_keys[f]);
		d->retry_after = SECRET_WAIT_S;
		return NULL;
	}
	if (check(webhook_verify_head, f, r, secret, prev != NULL ? prev[f] : NULL, d) <
	    0) {
		secret_unref(secret);
		return NULL;
	}
	d->trusted = f == FORGE_GITLAB;
	*ret_forge = f;
	return secret;
}

void pipeline_decide_head(const struct config *cfg, struct secret_store *st,
			  struct secret *const prev[FORGE__COUNT],
			  const struct http_request *r, struct hook_decision *d)
{
	enum forge f;

	secret_unref(decide_head(cfg, st, prev, r, d, &f));
}

void pipeline_decide_prev(const struct config *cfg, struct secret_store *st,
			  struct secret *const prev[FORGE__COUNT],
			  const struct http_request *r, struct hook_decision *d)
{
	struct secret *secret;
	enum forge f;
	char msg[400];
	int rc = 0;

	secret = decide_head(cfg, st, prev, r, d, &f);
	if (secret == NULL)
		return;
	if (f != FORGE_GITLAB) /* GitLab's token was the whole check */
		rc =
		    check(webhook_verify, f, r, secret, prev != NULL ? prev[f] : NULL, d);
	secret_unref(secret);
	if (rc < 0)
		return;
	if (webhook_parse(f, r, &d->ev, msg, sizeof(msg)) < 0) {
		answer(d, 400, "malformed %s payload: %s", forge_name(f), msg);
		return;
	}
	if (d->ev.ping) {
		d->ping = true;
		answer(d, 200, "pong");
		return;
	}
	if (!d->ev.push) {
		answer(d, 200, "%s event \"%.60s\" is not handled (only tag pushes)",
		       forge_name(f), d->ev.event);
		return;
	}
	match(cfg, d);
}

void pipeline_mask_url(char *s)
{
	char *scheme = strstr(s, "://"), *at, *slash;

	if (scheme == NULL)
		return;
	scheme += 3;
	at = strchr(scheme, '@');
	slash = strchr(scheme, '/');
	if (at == NULL || (slash != NULL && slash < at))
		return;
	if (at - scheme < 3) {
		/* Too short to become "***" in place: each byte a '*'. */
		memset(scheme, '*', (size_t)(at - scheme));
		return;
	}
	memmove(scheme + 3, at, strlen(at) + 1);
	memcpy(scheme, "***", 3);
}

int pipeline_job_init(struct pipeline_job *j, const struct pipeline_cfg *p,
		      const char *tag, const char *version, const char *commit,
		      const char *forge, const char *delivery, int max_attempts,
		      const cJSON *dist_tags)
{
	cJSON *in;
	int n;

	memset(j, 0, sizeof(*j));
	n = snprintf(j->idem_key, sizeof(j->idem_key), "pipeline:%s:%s@%s", p->name, tag,
		     commit);
	if (n < 0 || (size_t)n >= sizeof(j->idem_key)) {
		const char *fields[] = {p->name, tag, commit};
		char hex[AOS_SHA256_HEX_LEN + 1];

		if (aos_sha256_fields(fields, 3, hex) < 0)
			return -ENOMEM;
		snprintf(j->idem_key, sizeof(j->idem_key), "pipeline:%s", hex);
	}
	snprintf(j->registry, sizeof(j->registry), "pipeline:%s", p->name);
	in = cJSON_CreateObject();
	if (in == NULL)
		return -ENOMEM;
	cJSON_AddStringToObject(in, "pipeline", p->name);
	cJSON_AddStringToObject(in, "tag", tag);
	cJSON_AddStringToObject(in, "version", version);
	cJSON_AddStringToObject(in, "commit", commit);
	cJSON_AddStringToObject(in, "forge", forge);
	cJSON_AddStringToObject(in, "delivery", delivery);
	if (p->dist_tag != NULL)
		cJSON_AddStringToObject(in, "dist_tag", p->dist_tag);
	if (p->prerelease_dist_tag != NULL)
		cJSON_AddStringToObject(in, "prerelease_dist_tag",
					p->prerelease_dist_tag);
	if (dist_tags != NULL)
		cJSON_AddItemToObject(in, "dist_tags", cJSON_Duplicate(dist_tags, true));
	{
		/* Stored and shown: never a credential the URL may carry. */
		char *url = strdup(p->repository);

		if (url == NULL) {
			cJSON_Delete(in);
			return -ENOMEM;
		}
		pipeline_mask_url(url);
		cJSON_AddStringToObject(in, "repository", url);
		free(url);
	}
	j->inputs = cJSON_PrintUnformatted(in);
	cJSON_Delete(in);
	if (j->inputs == NULL)
		return -ENOMEM;
	j->jn.kind = JOB_PIPELINE;
	j->jn.idem_key = j->idem_key;
	j->jn.registry = j->registry;
	j->jn.package = p->package;
	j->jn.inputs = j->inputs;
	j->jn.max_attempts = max_attempts;
	return 0;
}

void pipeline_job_clear(struct pipeline_job *j)
{
	if (j == NULL)
		return;
	free(j->inputs);
	j->inputs = NULL;
}
