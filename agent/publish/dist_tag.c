/* dist_tag.c - npm dist-tags decided before a job exists (dist_tag.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/transport.h"
#include "common/err.h"
#include "config/config.h"
#include "publish/dist_tag.h"
#include "publish/publish.h"
#include "publishers/answer.h"
#include "publishers/registry.h"
#include "session/session.h"

#define PACKUMENT_MAX (8u * 1024 * 1024)

struct dist_tag_check {
	struct publish_env env;
	char *given, *given_by, *prerelease;
	struct dist_tag_item items[DIST_TAG_ITEMS_MAX];
	size_t n, pending;
	bool freeing;
	dist_tag_done done;
	void *data;
};

static char *dup_or_null(const char *s)
{
	return s != NULL && s[0] != '\0' ? strdup(s) : NULL;
}

int dist_tag_check_new(const struct publish_env *env, const char *given,
		       const char *given_by, const char *prerelease,
		       struct dist_tag_check **ret)
{
	struct dist_tag_check *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return -ENOMEM;
	c->env = *env;
	c->given = dup_or_null(given);
	c->given_by = dup_or_null(given_by);
	c->prerelease = dup_or_null(prerelease);
	if ((given != NULL && given[0] != '\0' && c->given == NULL) ||
	    (given_by != NULL && given_by[0] != '\0' && c->given_by == NULL) ||
	    (prerelease != NULL && prerelease[0] != '\0' && c->prerelease == NULL)) {
		dist_tag_check_free(c);
		return -ENOMEM;
	}
	*ret = c;
	return 0;
}

int dist_tag_check_add(struct dist_tag_check *c, const struct registry_cfg *reg,
		       const char *package, const char *version, const char *package_tag)
{
	struct dist_tag_item *it;

	if (c->n == DIST_TAG_ITEMS_MAX)
		return -E2BIG;
	it = &c->items[c->n++];
	memset(it, 0, sizeof(*it));
	it->check = c;
	snprintf(it->registry, sizeof(it->registry), "%s", reg->name);
	snprintf(it->package, sizeof(it->package), "%s", package);
	snprintf(it->version, sizeof(it->version), "%s", version);
	snprintf(it->package_tag, sizeof(it->package_tag), "%s",
		 package_tag != NULL ? package_tag : "");
	return 0;
}

size_t dist_tag_check_count(const struct dist_tag_check *c)
{
	return c->n;
}

const struct dist_tag_item *dist_tag_check_item(const struct dist_tag_check *c, size_t i)
{
	return &c->items[i];
}

/* npm_dist_tag for it, with the registry's latest when it was read (and
 * the version is not there yet: then the upload settles "exists"). */
static void decide(struct dist_tag_check *c, struct dist_tag_item *it)
{
	struct npm_tag_rule rule = {
	    .version = it->version,
	    .given = c->given,
	    .given_by = c->given_by,
	    .package = it->package_tag,
	    .prerelease = c->prerelease,
	    .latest = it->has_latest && !it->exists ? it->latest : NULL,
	};

	it->rc = npm_dist_tag(&rule, &it->tag, it->error, sizeof(it->error));
}

static void answered(struct dist_tag_item *it, struct transport_req *req, int result)
{
	struct answer_packument p = {0};

	if (result < 0) {
		snprintf(it->unread, sizeof(it->unread),
			 "registry %s could not be read: %s", it->registry,
			 result == AOS_ECANCELED ? "canceled (stopping)" : req->error);
	} else if (req->status == 404) {
		/* a new package: no latest yet */
	} else if (req->status != 200) {
		snprintf(it->unread, sizeof(it->unread),
			 "registry %s answered HTTP %ld %s for %s's package document",
			 it->registry, req->status, req->reason, it->package);
	} else if (answer_npm_packument(req->body.data, req->body.len, it->version, &p) <
		   0) {
		snprintf(
		    it->unread, sizeof(it->unread),
		    "registry %s sent a package document for %s that is not valid JSON",
		    it->registry, it->package);
	} else {
		it->exists = p.has_version;
		it->has_latest = p.has_latest;
		snprintf(it->latest, sizeof(it->latest), "%s", p.latest);
	}
}

static void read_done(struct transport_req *req, int result, void *data)
{
	struct dist_tag_item *it = data;
	struct dist_tag_check *c = it->check;

	if (c->freeing)
		return;
	answered(it, req, result);
	if (--c->pending == 0) {
		size_t i;

		for (i = 0; i < c->n; i++)
			decide(c, &c->items[i]);
		c->done(c, c->data);
	}
}

static int start_item(struct dist_tag_check *c, struct dist_tag_item *it)
{
	const struct registry_cfg *reg = config_registry(*c->env.cfg, it->registry);
	struct secret *token;
	char err[512];
	int r;

	if (reg == NULL)
		return -ENOENT;
	r = transport_req_new(c->env.tp, PACKUMENT_MAX, &it->req);
	if (r < 0)
		return r;
	token = store_get(session_store(c->env.session), reg->token_key);
	r = npm_packument_setup(it->req->easy, reg->url, it->package, token, &it->hdrs,
				err, sizeof(err));
	secret_unref(token);
	if (r == 0 && curl_easy_setopt(it->req->easy, CURLOPT_TIMEOUT_MS,
				       (long)DIST_TAG_READ_TIMEOUT_MS) != CURLE_OK)
		r = AOS_EHTTP;
	if (r == 0)
		r = transport_start(it->req, read_done, it);
	if (r == 0)
		c->pending++;
	return r;
}

int dist_tag_check_start(struct dist_tag_check *c, dist_tag_done done, void *data)
{
	size_t i;
	int r = 0;

	c->done = done;
	c->data = data;
	for (i = 0; i < c->n && r == 0; i++)
		r = start_item(c, &c->items[i]);
	if (r == 0 && c->pending == 0)
		r = -EINVAL; /* nothing to read */
	if (r < 0) {
		/* Stop what started: done must not run. */
		c->freeing = true;
		for (i = 0; i < c->n; i++)
			if (c->items[i].req != NULL)
				transport_cancel(c->items[i].req);
		c->freeing = false;
		c->pending = 0;
	}
	return r;
}

const struct dist_tag_item *dist_tag_check_refused(const struct dist_tag_check *c)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (c->items[i].rc < 0)
			return &c->items[i];
	return NULL;
}

cJSON *dist_tag_check_json(const struct dist_tag_check *c)
{
	cJSON *arr = cJSON_CreateArray();
	size_t i;

	for (i = 0; arr != NULL && i < c->n; i++) {
		const struct dist_tag_item *it = &c->items[i];
		cJSON *o = cJSON_CreateObject();

		cJSON_AddItemToArray(arr, o);
		cJSON_AddStringToObject(o, "registry", it->registry);
		if (it->rc == 0) {
			cJSON_AddStringToObject(o, "dist_tag", it->tag.name);
			cJSON_AddStringToObject(o, "from",
						npm_tag_from_name(it->tag.from));
		}
		if (it->has_latest)
			cJSON_AddStringToObject(o, "latest", it->latest);
		cJSON_AddBoolToObject(o, "checked", it->unread[0] == '\0');
		if (it->unread[0] != '\0') {
			char note[600];

			snprintf(
			    note, sizeof(note),
			    "%s; the upload reads it again and applies the same rule "
			    "before anything is sent",
			    it->unread);
			cJSON_AddStringToObject(o, "note", note);
		} else if (it->exists) {
			cJSON_AddStringToObject(o, "note",
						"the version is on the registry already");
		}
	}
	return arr;
}

const cJSON *dist_tag_json_find(const cJSON *decisions, const char *registry)
{
	const cJSON *o;

	cJSON_ArrayForEach(o, decisions)
	{
		const char *r =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, "registry"));

		if (r != NULL && strcmp(r, registry) == 0)
			return o;
	}
	return NULL;
}

void dist_tag_check_free(struct dist_tag_check *c)
{
	size_t i;

	if (c == NULL)
		return;
	c->freeing = true;
	for (i = 0; i < c->n; i++) {
		struct dist_tag_item *it = &c->items[i];

		if (it->req != NULL) {
			transport_cancel(it->req);
			transport_req_free(it->req);
		}
		registry_headers_free(it->hdrs);
	}
	free(c->given);
	free(c->given_by);
	free(c->prerelease);
	free(c);
}
