/* token_check.c - checking each registry's token when its value changes
 * (see token_check.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "base/transport.h"
#include "common/err.h"
#include "common/secret.h"
#include "daemon/agent.h"
#include "daemon/token_check.h"
#include "publishers/npm_whoami.h"
#include "publishers/pypi_token.h"
#include "publishers/registry.h"
#include "vault/store.h"

#define WHOAMI_MAX_BODY 4096

enum tc_state {
	TC_NONE,
	TC_CHECKING,
	TC_VALID,
	TC_REFUSED,
	TC_EXPIRED,
	TC_NOT_YET,
	TC_CLAIMS,
	TC_UNCHECKABLE,
	TC_UNKNOWN,
};

static const char *const state_names[] = {
    [TC_NONE] = "none",		 [TC_CHECKING] = "checking",
    [TC_VALID] = "valid",	 [TC_REFUSED] = "refused",
    [TC_EXPIRED] = "expired",	 [TC_NOT_YET] = "not_yet_valid",
    [TC_CLAIMS] = "claims_read", [TC_UNCHECKABLE] = "not_checkable",
    [TC_UNKNOWN] = "unknown",
};

struct token_check {
	struct token_checks *owner;
	const struct registry_cfg *reg; /* in owner->cfg */
	int64_t version;		/* of the value checked */
	char fpr[SECRET_FPR_LEN + 1];
	enum tc_state state;
	char account[128];
	struct pypi_token_info claims;
	bool has_claims;
	char message[320];
	char warnings[512];
	struct transport_req *req;
	struct curl_slist *headers;
	struct token_candidate *cand; /* a candidate's check, or NULL */
};

/* A value checked before it is written to Vault (secrets.check). */
struct token_candidate {
	struct token_check *v;
	size_t n, pending;
	token_candidate_cb cb;
	void *data;
};

static void candidate_step(struct token_candidate *c);

struct token_checks {
	struct agent *a;
	const struct config *cfg; /* the one reg pointers belong to */
	struct token_check *v;
	size_t n;
};

/* The store's entry of key, or NULL. */
static const struct store_entry *entry_of(const struct agent *a, const char *key)
{
	const struct secret_store *st = session_store(a->session);
	size_t i;

	for (i = 0; i < store_size(st); i++)
		if (strcmp(store_entry_at(st, i)->key, key) == 0)
			return store_entry_at(st, i);
	return NULL;
}

static void add_warning(struct token_check *t, const char *text)
{
	size_t n = strlen(t->warnings);

	snprintf(t->warnings + n, sizeof(t->warnings) - n, "%s%s", n > 0 ? "; " : "",
		 text);
}

/* A PyPI token's claims against the pipelines that publish to its
 * registry, and its expiry against now. */
static void judge_claims(struct token_check *t, time_t now)
{
	const struct config *cfg = t->owner->a->cfg;
	const struct pypi_token_info *c = &t->claims;
	char w[256];
	bool used = false;
	size_t i, k;

	for (i = 0; i < cfg->npipelines; i++) {
		const struct pipeline_cfg *p = &cfg->pipelines[i];

		for (k = 0; k < p->ntargets; k++) {
			if (strcmp(p->targets[k], t->reg->name) != 0)
				continue;
			if (pypi_token_allows(c, p->package)) {
				used = true;
				continue;
			}
			snprintf(w, sizeof(w),
				 "pipeline %s publishes %s, which this token "
				 "does not allow",
				 p->name, p->package);
			add_warning(t, w);
		}
	}
	if (c->nprojects > 0 && !used && cfg->npipelines > 0)
		add_warning(t, "restricted to projects that no pipeline publishes here");
	if (c->expires != 0 && c->expires - now < TOKEN_EXPIRY_WARN_S &&
	    c->expires > now) {
		snprintf(w, sizeof(w), "expires in %lld day(s)",
			 (long long)((c->expires - now) / 86400));
		add_warning(t, w);
	}
	if (c->expires != 0 && c->expires <= now)
		t->state = TC_EXPIRED;
	else if (c->not_before > now)
		t->state = TC_NOT_YET;
	else
		t->state = TC_CLAIMS;
}

static void check_pypi(struct token_check *t, const struct secret *value)
{
	char err[200];
	int r;

	r = pypi_token_inspect(secret_value(value), secret_len(value), &t->claims, err,
			       sizeof(err));
	if (r == -EINVAL) {
		t->state = TC_UNCHECKABLE;
		snprintf(t->message, sizeof(t->message),
			 "not a PyPI API token (a password "
			 "for this registry?): nothing to read, and no endpoint to ask");
		return;
	}
	if (r < 0) {
		t->state = TC_UNCHECKABLE;
		snprintf(t->message, sizeof(t->message),
			 "a \"pypi-\" token that cannot be "
			 "read: %s",
			 err);
		return;
	}
	t->has_claims = true;
	judge_claims(t, time(NULL));
	snprintf(t->message, sizeof(t->message),
		 "caveats read (%zu); PyPI has no endpoint "
		 "to check a token before an upload",
		 t->claims.ncaveats);
}

static void report(const struct token_check *t, const char *key)
{
	const char *s = state_names[t->state];

	if (t->cand != NULL) { /* not the token in use: info, and no advice */
		log_info("registry %s: a candidate value for %s %s: %s", t->reg->name,
			 key, s, t->message);
		candidate_step(t->cand);
		return;
	}
	if (t->state == TC_REFUSED || t->state == TC_EXPIRED || t->state == TC_NOT_YET)
		log_warn("registry %s: token %s (version %lld) %s: %s; rotate it "
			 "(docs/operations.md, \"Rotating a registry token\")",
			 t->reg->name, key, (long long)t->version, s, t->message);
	else
		log_info("registry %s: token %s (version %lld) %s: %s", t->reg->name, key,
			 (long long)t->version, s, t->message);
	if (t->warnings[0] != '\0')
		log_warn("registry %s: token %s: %s", t->reg->name, key, t->warnings);
}

static void whoami_done(struct transport_req *req, int result, void *data)
{
	struct token_check *t = data;
	int r;

	registry_headers_free(t->headers);
	t->headers = NULL;
	t->req = NULL;
	if (result == AOS_ECANCELED) {
		transport_req_free(req);
		return;
	}
	if (result < 0) {
		t->state = TC_UNKNOWN;
		snprintf(t->message, sizeof(t->message),
			 "no answer from GET -/whoami: %s",
			 req->error[0] != '\0' ? req->error : "transport error");
	} else {
		r = npm_whoami_answer(req->status, req->body.data, req->body.len,
				      t->account, sizeof(t->account), t->message,
				      sizeof(t->message));
		t->state = r == 0 ? TC_VALID : r == -EACCES ? TC_REFUSED : TC_UNKNOWN;
	}
	transport_req_free(req);
	report(t, t->reg->token_key);
}

static void check_npm(struct token_check *t, const struct secret *value)
{
	struct transport_req *req = NULL;
	char err[256];
	int r;

	r = transport_req_new(t->owner->a->tp, WHOAMI_MAX_BODY, &req);
	if (r == 0)
		r = npm_whoami_setup(req->easy, t->reg->url, value, &t->headers, err,
				     sizeof(err));
	else
		snprintf(err, sizeof(err), "out of memory");
	if (r == 0)
		r = transport_start(req, whoami_done, t);
	if (r < 0) {
		registry_headers_free(t->headers);
		t->headers = NULL;
		transport_req_free(req);
		t->state = TC_UNKNOWN;
		snprintf(t->message, sizeof(t->message), "cannot ask: %s", err);
		return;
	}
	t->req = req;
	t->state = TC_CHECKING;
	snprintf(t->message, sizeof(t->message), "GET -/whoami sent");
}

/* Checks value for t's registry; the result is reported (now, or when
 * the registry answers). */
static void check_value(struct token_check *t, const struct secret *value)
{
	t->account[0] = t->warnings[0] = '\0';
	t->has_claims = false;
	if (t->reg->type == REGISTRY_NPM)
		check_npm(t, value);
	else
		check_pypi(t, value);
	if (t->state != TC_CHECKING)
		report(t, t->reg->token_key);
}

static void check_one(struct token_check *t, const struct store_entry *e)
{
	struct secret *value = store_get(session_store(t->owner->a->session), e->key);

	if (t->req != NULL)
		transport_cancel(t->req);
	t->version = e->version;
	snprintf(t->fpr, sizeof(t->fpr), "%s", e->fingerprint);
	if (value == NULL)
		return;
	check_value(t, value);
	secret_unref(value);
}

static void clear(struct token_checks *tc)
{
	size_t i;

	for (i = 0; i < tc->n; i++)
		if (tc->v[i].req != NULL)
			transport_cancel(tc->v[i].req);
	free(tc->v);
	tc->v = NULL;
	tc->n = 0;
}

/* One entry per registry of the current configuration. */
static int rebuild(struct token_checks *tc)
{
	const struct config *cfg = tc->a->cfg;
	size_t i;

	clear(tc);
	tc->cfg = cfg;
	if (cfg->nregistries == 0)
		return 0;
	tc->v = calloc(cfg->nregistries, sizeof(*tc->v));
	if (tc->v == NULL)
		return -ENOMEM;
	tc->n = cfg->nregistries;
	for (i = 0; i < tc->n; i++) {
		tc->v[i].owner = tc;
		tc->v[i].reg = &cfg->registries[i];
	}
	return 0;
}

int token_checks_new(struct agent *a, struct token_checks **ret)
{
	struct token_checks *tc = calloc(1, sizeof(*tc));

	*ret = NULL;
	if (tc == NULL)
		return -ENOMEM;
	tc->a = a;
	*ret = tc;
	return 0;
}

void token_checks_update(struct token_checks *tc)
{
	size_t i;

	if (tc == NULL || (tc->cfg != tc->a->cfg && rebuild(tc) < 0))
		return;
	for (i = 0; i < tc->n; i++) {
		struct token_check *t = &tc->v[i];
		const struct store_entry *e = entry_of(tc->a, t->reg->token_key);

		if (e == NULL || e->value == NULL) {
			t->state = TC_NONE;
			t->version = 0;
			continue;
		}
		if (t->state != TC_NONE && t->version == e->version &&
		    strcmp(t->fpr, e->fingerprint) == 0)
			continue; /* this value was checked */
		check_one(t, e);
	}
}

static void claims_json(cJSON *o, const struct pypi_token_info *c)
{
	cJSON *arr;
	size_t i;

	if (c->nprojects > 0) {
		arr = cJSON_AddArrayToObject(o, "projects");
		for (i = 0; arr != NULL && i < c->nprojects; i++)
			cJSON_AddItemToArray(arr, cJSON_CreateString(c->projects[i]));
	} else if (!c->by_project_id) {
		cJSON_AddStringToObject(o, "scope", "every project of the account");
	}
	if (c->by_project_id)
		cJSON_AddStringToObject(o, "scope", "projects by id");
	if (c->expires != 0)
		cJSON_AddNumberToObject(o, "expires", (double)c->expires);
	if (c->not_before != 0)
		cJSON_AddNumberToObject(o, "not_before", (double)c->not_before);
	if (c->user_bound)
		cJSON_AddBoolToObject(o, "user_bound", true);
}

static cJSON *checks_json(const struct token_check *v, size_t n)
{
	cJSON *arr = cJSON_CreateArray();
	size_t i;

	for (i = 0; arr != NULL && i < n; i++) {
		const struct token_check *t = &v[i];
		cJSON *o = cJSON_CreateObject();

		if (o == NULL)
			break;
		cJSON_AddStringToObject(o, "registry", t->reg->name);
		cJSON_AddStringToObject(o, "key", t->reg->token_key);
		cJSON_AddNumberToObject(o, "version", (double)t->version);
		cJSON_AddStringToObject(o, "state", state_names[t->state]);
		if (t->account[0] != '\0')
			cJSON_AddStringToObject(o, "account", t->account);
		if (t->has_claims)
			claims_json(o, &t->claims);
		cJSON_AddStringToObject(o, "message", t->message);
		if (t->warnings[0] != '\0')
			cJSON_AddStringToObject(o, "warnings", t->warnings);
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}

cJSON *token_checks_json(const struct token_checks *tc)
{
	return tc != NULL ? checks_json(tc->v, tc->n) : cJSON_CreateArray();
}

/* ---- a candidate value (secrets.check) ----------------------------------- */

static void candidate_free(struct token_candidate *c)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		c->v[i].cand = NULL; /* a cancel's callback must not step */
		if (c->v[i].req != NULL)
			transport_cancel(c->v[i].req);
	}
	free(c->v);
	free(c);
}

static void candidate_step(struct token_candidate *c)
{
	cJSON *checks;

	if (c->pending == 0 || --c->pending > 0)
		return;
	checks = checks_json(c->v, c->n);
	c->cb(checks, c->data);
	candidate_free(c);
}

int token_check_candidate(struct token_checks *tc, const char *key,
			  const struct secret *value, token_candidate_cb cb, void *data,
			  struct token_candidate **ret)
{
	const struct config *cfg = tc->a->cfg;
	struct token_candidate *c = calloc(1, sizeof(*c));
	size_t i, n = 0;

	*ret = NULL;
	if (c == NULL || (cfg->nregistries > 0 &&
			  (c->v = calloc(cfg->nregistries, sizeof(*c->v))) == NULL)) {
		free(c);
		return -ENOMEM;
	}
	c->cb = cb;
	c->data = data;
	for (i = 0; i < cfg->nregistries; i++)
		if (strcmp(cfg->registries[i].token_key, key) == 0) {
			c->v[n].owner = tc;
			c->v[n].reg = &cfg->registries[i];
			c->v[n].cand = c;
			n++;
		}
	c->n = n;
	c->pending = n + 1; /* one for this call, so no answer comes before it returns */
	for (i = 0; i < n; i++)
		check_value(&c->v[i], value);
	*ret = c;
	if (c->pending == 1) { /* every check ended at once: answer now */
		candidate_step(c);
		*ret = NULL;
		return 0;
	}
	c->pending--;
	return 0;
}

void token_candidate_cancel(struct token_candidate *c)
{
	if (c != NULL)
		candidate_free(c);
}

void token_checks_free(struct token_checks *tc)
{
	if (tc == NULL)
		return;
	clear(tc);
	free(tc);
}
