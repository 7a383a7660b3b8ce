/* Unit tests for agent/pipeline/pipeline.c's webhook decision over a parsed
 * configuration and a secret store: the whole decision (pipeline_decide,
 * pipeline_decide_prev) and the part the headers decide before the body is
 * read (pipeline_decide_head). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>
#include <openssl/evp.h>

#include "common/err.h"
#include "pipeline/pipeline.h"
#include "tests/unit/pipeline/hook_fixture.h"

/* ---- decisions ---- */

#define GH_KEY "GITHUB_WEBHOOK_SECRET"
#define GL_KEY "GITLAB_WEBHOOK_TOKEN"
#define GT_KEY "GITEA_WEBHOOK_SECRET"
#define GH_SECRET "github-test-not-a-secret"
#define GL_SECRET "gitlab-test-not-a-secret"
#define GT_SECRET "gitea-test-not-a-secret"

#define CFG_HEAD                                                                            \
	"{\"vault\":{\"address\":\"https://vault.example.test:8200\","                      \
	"\"auth\":{\"method\":\"token\",\"token_file\":\"token\"}},"                        \
	"\"registries\":{\"testpypi\":{\"type\":\"pypi\","                                  \
	"\"url\":\"https://test.pypi.org/legacy/\",\"token_key\":\"TEST_PYPI_API_TOKEN\"}," \
	"\"pypi\":{\"type\":\"pypi\",\"url\":\"https://upload.pypi.org/legacy/\"},"         \
	"\"npm\":{\"type\":\"npm\",\"url\":\"https://registry.npmjs.org/\"}},"

#define CFG_PIPELINES                                                                    \
	"\"pipelines\":{"                                                                \
	"\"python-sdk\":{\"repository\":\"https://forge.example/agenticverz/aos.git\","  \
	"\"tag_pattern\":\"python-sdk-v*\",\"package\":\"aos-sdk\","                     \
	"\"directory\":\"sdk/python\",\"build\":[\"python3 -m build\"],"                 \
	"\"artifacts\":[\"dist/*.whl\"],\"targets\":[\"testpypi\",\"pypi\"]},"           \
	"\"js-sdk\":{\"repository\":\"https://forge.example/agenticverz/aos.git\","      \
	"\"tag_pattern\":\"js-sdk-v*\",\"package\":\"@agenticverz/aos-sdk\","            \
	"\"build\":[[\"npm\",\"pack\"]],\"artifacts\":[\"*.tgz\"],\"targets\":[\"npm\"]}}}"

static const char cfg_all[] =
    CFG_HEAD "\"webhooks\":{\"github\":{\"secret_key\":\"" GH_KEY "\"},"
	     "\"gitlab\":{\"secret_key\":\"" GL_KEY "\"},"
	     "\"gitea\":{\"secret_key\":\"" GT_KEY "\"}}," CFG_PIPELINES;

static const char cfg_github_only[] =
    CFG_HEAD "\"webhooks\":{\"github\":{\"secret_key\":\"" GH_KEY "\"}}," CFG_PIPELINES;

struct dfx {
	struct config *cfg, *cfg_gh;
	struct secret_store *st;      /* every webhook secret */
	struct secret_store *partial; /* the GitHub one only */
};

static struct config *parse_cfg(const char *text)
{
	struct config *cfg = NULL;
	char err[512];

	if (config_parse(text, strlen(text), "/etc/aos-publishd/config.json", &cfg, err,
			 sizeof(err)) != 0)
		fail_msg("config_parse: %s", err);
	return cfg;
}

static struct secret_store *mkstore(const struct config *cfg, size_t nvalues)
{
	static const char *const keys[] = {GH_KEY, GL_KEY, GT_KEY};
	static const char *const values[] = {GH_SECRET, GL_SECRET, GT_SECRET};
	struct secret *vals[3] = {NULL};
	struct secret_store *st = NULL;
	struct store_change ch[8];
	size_t i;

	assert_int_equal(
	    store_new((const char *const *)cfg->secret_keys, cfg->nsecret_keys, &st), 0);
	for (i = 0; i < nvalues; i++)
		assert_int_equal(secret_new(values[i], strlen(values[i]), &vals[i]), 0);
	assert_true(store_update(st, 1, "2026-01-01T00:00:00Z", keys, vals, 3, ch, 8) >=
		    0);
	for (i = 0; i < 3; i++)
		secret_unref(vals[i]);
	return st;
}

static int dsetup(void **state)
{
	struct dfx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->cfg = parse_cfg(cfg_all);
	f->cfg_gh = parse_cfg(cfg_github_only);
	f->st = mkstore(f->cfg, 3);
	f->partial = mkstore(f->cfg, 1);
	*state = f;
	return 0;
}

static int dteardown(void **state)
{
	struct dfx *f = *state;

	store_free(f->st);
	store_free(f->partial);
	config_free(f->cfg);
	config_free(f->cfg_gh);
	free(f);
	return 0;
}

enum hook_forge { HF_GITHUB, HF_GITLAB, HF_GITEA, HF_FORGEJO };

/* One delivery: forge, event, body, and how it is signed. */
struct delivery {
	enum hook_forge forge;
	const char *event; /* NULL: the forge's tag push event */
	char body[2048];
	bool bad_sig; /* signed with another secret */
	bool unsigned_;
	const char *hdrs[12];
	char sig[80];
	struct http_request r;
};

static void sign(struct delivery *d)
{
	static const char *const ev_hdr[] = {"X-GitHub-Event", "X-Gitlab-Event",
					     "X-Gitea-Event", "X-Forgejo-Event"};
	static const char *const sig_hdr[] = {"X-Hub-Signature-256", "X-Gitlab-Token",
					      "X-Gitea-Signature", "X-Forgejo-Signature"};
	static const char *const secrets[] = {GH_SECRET, GL_SECRET, GT_SECRET, GT_SECRET};
	static const char *const push_ev[] = {"push", "Tag Push Hook", "push", "push"};
	const char *key = d->bad_sig ? "another-not-a-secret" : secrets[d->forge];
	char hex[65];
	size_t n = 0;

	d->hdrs[n++] = ev_hdr[d->forge];
	d->hdrs[n++] = d->event != NULL ? d->event : push_ev[d->forge];
	if (d->forge == HF_GITLAB) {
		snprintf(d->sig, sizeof(d->sig), "%s", key);
	} else {
		fx_hmac_hex(key, d->body, strlen(d->body), hex);
		snprintf(d->sig, sizeof(d->sig), "%s%s",
			 d->forge == HF_GITHUB ? "sha256=" : "", hex);
	}
	if (!d->unsigned_) {
		d->hdrs[n++] = sig_hdr[d->forge];
		d->hdrs[n++] = d->sig;
	}
	d->hdrs[n++] = "Content-Type";
	d->hdrs[n++] = "application/json";
	d->hdrs[n] = NULL;
	fx_req(&d->r, d->hdrs, d->body);
}

/* A tag push of the forge for ref in repo at commit. */
static void tag_push(struct delivery *d, enum hook_forge forge, const char *ref,
		     const char *repo, const char *commit)
{
	memset(d, 0, sizeof(*d));
	d->forge = forge;
	if (forge == HF_GITLAB)
		fx_gitlab_json(d->body, sizeof(d->body), ref, repo, commit, commit);
	else
		fx_push_json(d->body, sizeof(d->body), ref, repo, commit, commit, false);
}

static void decide(const struct config *cfg, struct secret_store *st, struct delivery *d,
		   struct hook_decision *out)
{
	sign(d);
	memset(out, 0x5a, sizeof(*out));
	pipeline_decide(cfg, st, &d->r, out);
}

/* What the headers decided (with the body withheld) agrees with the whole
 * decision full: a refusal is the same answer; a pass is trusted only for
 * GitLab, whose token is the whole check. */
static void check_head(const struct config *cfg, struct secret_store *st,
		       struct secret *const prev[FORGE__COUNT], const struct delivery *d,
		       const struct hook_decision *full)
{
	struct http_request r = d->r;
	struct hook_decision h;

	r.body = NULL;
	r.body_len = 0;
	memset(&h, 0x5a, sizeof(h));
	pipeline_decide_head(cfg, st, prev, &r, &h);
	if (h.status != 0) {
		if (h.status != full->status || strcmp(h.text, full->text) != 0 ||
		    h.retry_after != full->retry_after)
			fail_msg("head: %d \"%s\", whole: %d \"%s\"", h.status, h.text,
				 full->status, full->text);
		return;
	}
	assert_int_equal(h.trusted, d->forge == HF_GITLAB);
	assert_int_equal(h.retry_after, -1);
}

static void test_decide_accepted(void **state)
{
	struct dfx *f = *state;
	static const enum hook_forge forges[] = {HF_GITHUB, HF_GITLAB, HF_GITEA,
						 HF_FORGEJO};
	static const enum forge want[] = {FORGE_GITHUB, FORGE_GITLAB, FORGE_GITEA,
					  FORGE_GITEA};
	size_t i;

	for (i = 0; i < 4; i++) {
		struct delivery d;
		struct hook_decision h;

		tag_push(&d, forges[i], "refs/tags/python-sdk-v0.1.0", "agenticverz/aos",
			 FX_COMMIT);
		decide(f->cfg, f->st, &d, &h);
		if (h.status != 0)
			fail_msg("forge %zu: status %d: %s", i, h.status, h.text);
		assert_non_null(h.pipeline);
		assert_string_equal(h.pipeline->name, "python-sdk");
		assert_string_equal(h.tag, "python-sdk-v0.1.0");
		assert_string_equal(h.version, "0.1.0");
		assert_string_equal(h.ev.commit, FX_COMMIT);
		assert_int_equal(h.ev.forge, want[i]);
		assert_int_equal(h.retry_after, -1);
		assert_false(h.ping);
	}
}

/* The second pipeline of the same repository is found by its pattern. */
static void test_decide_second_pipeline(void **state)
{
	struct dfx *f = *state;
	struct delivery d;
	struct hook_decision h;

	tag_push(&d, HF_GITHUB, "refs/tags/js-sdk-v2.0.0-rc.1", "agenticverz/aos",
		 FX_COMMIT);
	decide(f->cfg, f->st, &d, &h);
	assert_int_equal(h.status, 0);
	assert_string_equal(h.pipeline->name, "js-sdk");
	assert_string_equal(h.version, "2.0.0-rc.1");
}

struct dcase {
	const char *name;
	enum hook_forge forge;
	const char *event;
	const char *ref, *repo, *commit;
	bool bad_sig, unsigned_, github_only_cfg, partial_store, no_store, deleted;
	const char *raw_body; /* instead of a push payload */
	int status;
	const char *text_has;
};

static const struct dcase dcases[] = {
    {"gitlab not configured", HF_GITLAB, NULL, "refs/tags/python-sdk-v1",
     "agenticverz/aos", FX_COMMIT, .github_only_cfg = true, .status = 401,
     .text_has = "webhooks.gitlab"},
    {"gitea not configured", HF_GITEA, NULL, "refs/tags/python-sdk-v1", "agenticverz/aos",
     FX_COMMIT, .github_only_cfg = true, .status = 401, .text_has = "gitea"},
    {"secret not loaded", HF_GITLAB, NULL, "refs/tags/python-sdk-v1", "agenticverz/aos",
     FX_COMMIT, .partial_store = true, .status = 503, .text_has = GL_KEY},
    {"no store", HF_GITHUB, NULL, "refs/tags/python-sdk-v1", "agenticverz/aos", FX_COMMIT,
     .no_store = true, .status = 503, .text_has = "not loaded"},
    {"github bad signature", HF_GITHUB, NULL, "refs/tags/python-sdk-v1",
     "agenticverz/aos", FX_COMMIT, .bad_sig = true, .status = 401,
     .text_has = "does not match"},
    {"gitlab bad token", HF_GITLAB, NULL, "refs/tags/python-sdk-v1", "agenticverz/aos",
     FX_COMMIT, .bad_sig = true, .status = 401, .text_has = "X-Gitlab-Token"},
    {"gitea bad signature", HF_GITEA, NULL, "refs/tags/python-sdk-v1", "agenticverz/aos",
     FX_COMMIT, .bad_sig = true, .status = 401, .text_has = "X-Gitea-Signature"},
    {"forgejo bad signature", HF_FORGEJO, NULL, "refs/tags/python-sdk-v1",
     "agenticverz/aos", FX_COMMIT, .bad_sig = true, .status = 401,
     .text_has = "X-Forgejo-Signature"},
    {"github unsigned", HF_GITHUB, NULL, "refs/tags/python-sdk-v1", "agenticverz/aos",
     FX_COMMIT, .unsigned_ = true, .status = 401, .text_has = "not signed"},
    {"branch push", HF_GITHUB, NULL, "refs/heads/main", "agenticverz/aos", FX_COMMIT,
     .status = 200, .text_has = "not a tag push"},
    {"deleted tag", HF_GITHUB, NULL, "refs/tags/python-sdk-v1", "agenticverz/aos",
     FX_ZERO, .deleted = true, .status = 200, .text_has = "deleted"},
    {"gitlab deleted tag", HF_GITLAB, NULL, "refs/tags/python-sdk-v1", "agenticverz/aos",
     NULL, .deleted = true, .status = 200, .text_has = "deleted"},
    {"unknown repository", HF_GITHUB, NULL, "refs/tags/python-sdk-v1", "someone/else",
     FX_COMMIT, .status = 200, .text_has = "no pipeline for repository someone/else"},
    {"unknown tag", HF_GITEA, NULL, "refs/tags/go-sdk-v1.0", "agenticverz/aos", FX_COMMIT,
     .status = 200, .text_has = "matches no pipeline"},
    {"tag without a version", HF_GITHUB, NULL, "refs/tags/python-sdk-vnext",
     "agenticverz/aos", FX_COMMIT, .status = 200, .text_has = "matches no pipeline"},
    {"bad commit", HF_GITHUB, NULL, "refs/tags/python-sdk-v1", "agenticverz/aos",
     "not-a-commit", .status = 400, .text_has = "not a hex object id"},
    {"uppercase commit", HF_GITHUB, NULL, "refs/tags/python-sdk-v1", "agenticverz/aos",
     "0123456789ABCDEF0123456789ABCDEF01234567", .status = 400, .text_has = "hex"},
    {"short commit", HF_GITLAB, NULL, "refs/tags/python-sdk-v1", "agenticverz/aos",
     "0123456", .status = 400, .text_has = "hex"},
    {"bad tag name", HF_GITHUB, NULL, "refs/tags/python-sdk-v1..2", "agenticverz/aos",
     FX_COMMIT, .status = 400, .text_has = "characters"},
    {"ping", HF_GITHUB, "ping", NULL, NULL, NULL, .raw_body = "{\"zen\":\"hi\"}",
     .status = 200, .text_has = "pong"},
    {"other event", HF_GITHUB, "issues", NULL, NULL, NULL, .raw_body = "{}",
     .status = 200, .text_has = "not handled"},
    {"gitlab branch push hook", HF_GITLAB, "Push Hook", NULL, NULL, NULL,
     .raw_body = "{\"ref\":\"refs/heads/main\"}", .status = 200,
     .text_has = "not handled"},
    {"not json", HF_GITHUB, NULL, NULL, NULL, NULL, .raw_body = "ref=refs/tags/v1",
     .status = 400, .text_has = "malformed github payload"},
    {"missing fields", HF_GITEA, NULL, NULL, NULL, NULL, .raw_body = "{\"ref\":1}",
     .status = 400, .text_has = "malformed gitea payload"},
};

static void test_decide_cases(void **state)
{
	struct dfx *f = *state;
	size_t i;

	for (i = 0; i < sizeof(dcases) / sizeof(dcases[0]); i++) {
		const struct dcase *c = &dcases[i];
		struct secret_store *st = c->no_store	     ? NULL
					  : c->partial_store ? f->partial
							     : f->st;
		struct delivery d;
		struct hook_decision h;

		memset(&d, 0, sizeof(d));
		d.forge = c->forge;
		if (c->raw_body != NULL)
			snprintf(d.body, sizeof(d.body), "%s", c->raw_body);
		else if (c->forge == HF_GITLAB)
			fx_gitlab_json(d.body, sizeof(d.body), c->ref, c->repo,
				       c->deleted ? FX_ZERO : c->commit, c->commit);
		else
			fx_push_json(d.body, sizeof(d.body), c->ref, c->repo, c->commit,
				     c->deleted ? NULL : c->commit, c->deleted);
		d.event = c->event;
		d.bad_sig = c->bad_sig;
		d.unsigned_ = c->unsigned_;
		decide(c->github_only_cfg ? f->cfg_gh : f->cfg, st, &d, &h);
		if (h.status != c->status || strstr(h.text, c->text_has) == NULL)
			fail_msg("%s: %d \"%s\", want %d with \"%s\"", c->name, h.status,
				 h.text, c->status, c->text_has);
		check_head(c->github_only_cfg ? f->cfg_gh : f->cfg, st, NULL, &d, &h);
		if (h.status == 503)
			assert_int_equal(h.retry_after, 5);
		else
			assert_int_equal(h.retry_after, -1);
		assert_int_equal(h.ping, strcmp(c->name, "ping") == 0);
	}
}

/* A refused signature's answer names the header, never the value the
 * daemon expected (nor the secret). */
static void test_decide_no_echo(void **state)
{
	struct dfx *f = *state;
	static const enum hook_forge forges[] = {HF_GITHUB, HF_GITLAB, HF_GITEA,
						 HF_FORGEJO};
	static const char *const secrets[] = {GH_SECRET, GL_SECRET, GT_SECRET, GT_SECRET};
	size_t i;

	for (i = 0; i < 4; i++) {
		struct delivery d;
		struct hook_decision h;
		char want[65];

		tag_push(&d, forges[i], "refs/tags/python-sdk-v1", "agenticverz/aos",
			 FX_COMMIT);
		d.bad_sig = true;
		decide(f->cfg, f->st, &d, &h);
		assert_int_equal(h.status, 401);
		fx_hmac_hex(secrets[i], d.body, strlen(d.body), want);
		assert_null(strstr(h.text, want));
		assert_null(strstr(h.text, secrets[i]));
		assert_null(strstr(h.text, d.sig)); /* nor the one sent */
	}
}

/* After a rotation the forge may still sign with the previous secret:
 * pipeline_decide_prev() takes it, and says so; without a previous secret,
 * or with a wrong one, the delivery is refused. */
static void test_decide_previous_secret(void **state)
{
	struct dfx *f = *state;
	static const enum hook_forge forges[] = {HF_GITHUB, HF_GITLAB, HF_GITEA,
						 HF_FORGEJO};
	struct secret *prev[FORGE__COUNT] = {NULL}, *none[FORGE__COUNT] = {NULL};
	size_t i;

	/* "another-not-a-secret" is what a bad_sig delivery is signed with. */
	assert_int_equal(secret_new("another-not-a-secret", 20, &prev[FORGE_GITHUB]), 0);
	prev[FORGE_GITLAB] = secret_ref(prev[FORGE_GITHUB]);
	prev[FORGE_GITEA] = secret_ref(prev[FORGE_GITHUB]);
	for (i = 0; i < 4; i++) {
		struct delivery d;
		struct hook_decision h;

		tag_push(&d, forges[i], "refs/tags/python-sdk-v1.0", "agenticverz/aos",
			 FX_COMMIT);
		d.bad_sig = true;
		sign(&d);
		pipeline_decide_prev(f->cfg, f->st, prev, &d.r, &h);
		if (h.status != 0 || !h.previous_secret)
			fail_msg("forge %zu: %d %d %s", i, h.status, h.previous_secret,
				 h.text);
		pipeline_decide_prev(f->cfg, f->st, none, &d.r, &h);
		assert_int_equal(h.status, 401);
		pipeline_decide(f->cfg, f->st, &d.r, &h);
		assert_int_equal(h.status, 401);
		/* The current secret still works, and is not called previous. */
		d.bad_sig = false;
		sign(&d);
		pipeline_decide_prev(f->cfg, f->st, prev, &d.r, &h);
		assert_int_equal(h.status, 0);
		assert_false(h.previous_secret);
		/* Unsigned stays unsigned: the previous secret is not tried. */
		d.unsigned_ = true;
		sign(&d);
		pipeline_decide_prev(f->cfg, f->st, prev, &d.r, &h);
		assert_int_equal(h.status, 401);
		assert_non_null(strstr(h.text, "not signed"));
	}
	for (i = 0; i < FORGE__COUNT; i++)
		secret_unref(prev[i]);
}

/* Before the body: GitLab's token is decided (current, previous, wrong);
 * for the HMAC forges only a missing or malformed signature header is. */
static void test_decide_head(void **state)
{
	struct dfx *f = *state;
	static const enum hook_forge forges[] = {HF_GITHUB, HF_GITLAB, HF_GITEA,
						 HF_FORGEJO};
	struct secret *prev[FORGE__COUNT] = {NULL};
	size_t i;

	assert_int_equal(secret_new("another-not-a-secret", 20, &prev[FORGE_GITLAB]), 0);
	for (i = 0; i < 4; i++) {
		struct delivery d;
		struct hook_decision h, full;
		struct http_request r;

		tag_push(&d, forges[i], "refs/tags/python-sdk-v1.0", "agenticverz/aos",
			 FX_COMMIT);
		d.bad_sig = true;
		sign(&d);
		r = d.r;
		r.body = NULL;
		r.body_len = 0;
		pipeline_decide_head(f->cfg, f->st, NULL, &r, &h);
		pipeline_decide(f->cfg, f->st, &d.r, &full);
		assert_int_equal(full.status, 401);
		if (forges[i] == HF_GITLAB) { /* refused at the headers */
			assert_int_equal(h.status, 401);
			assert_non_null(strstr(h.text, "X-Gitlab-Token does not match"));
			/* and taken with the previous token during the grace */
			pipeline_decide_head(f->cfg, f->st, prev, &r, &h);
			assert_int_equal(h.status, 0);
			assert_true(h.trusted);
			assert_true(h.previous_secret);
		} else { /* only the body can tell */
			assert_int_equal(h.status, 0);
			assert_false(h.trusted);
		}
		check_head(f->cfg, f->st, prev, &d, &full);
	}
	secret_unref(prev[FORGE_GITLAB]);
}

/* Gitea also sends GitHub's headers, signed with the Gitea secret: the
 * headers are decided as Gitea's (its own signature header must be there). */
static void test_decide_head_gitea_as_github(void **state)
{
	struct dfx *f = *state;
	char body[2048], hex[65], gh[80];
	const char *hdrs[] = {"X-Gitea-Event",
			      "push",
			      "X-GitHub-Event",
			      "push",
			      "X-Hub-Signature-256",
			      gh,
			      "X-Gitea-Signature",
			      hex,
			      NULL};
	struct http_request r;
	struct hook_decision h;

	fx_push_json(body, sizeof(body), "refs/tags/python-sdk-v1.0", "agenticverz/aos",
		     FX_COMMIT, FX_COMMIT, false);
	fx_hmac_hex(GT_SECRET, body, strlen(body), hex);
	snprintf(gh, sizeof(gh), "sha256=%s", hex);
	fx_req(&r, hdrs, body);
	pipeline_decide_head(f->cfg, f->st, NULL, &r, &h);
	assert_int_equal(h.status, 0);
	assert_false(h.trusted);
	pipeline_decide(f->cfg, f->st, &r, &h);
	assert_int_equal(h.status, 0);
	assert_int_equal(h.ev.forge, FORGE_GITEA);
	/* Without X-Gitea-Signature, GitHub's header does not stand in for it. */
	hdrs[6] = NULL;
	fx_req(&r, hdrs, body);
	pipeline_decide_head(f->cfg, f->st, NULL, &r, &h);
	assert_int_equal(h.status, 401);
	assert_non_null(strstr(h.text, "no X-Gitea-Signature"));
}

static void test_decide_not_a_webhook(void **state)
{
	struct dfx *f = *state;
	const char *hdrs[] = {"Content-Type", "application/json", NULL};
	struct http_request r;
	struct hook_decision h;

	fx_req(&r, hdrs, "{}");
	pipeline_decide(f->cfg, f->st, &r, &h);
	assert_int_equal(h.status, 400);
	assert_non_null(strstr(h.text, "not a webhook"));
}

/* Each test with the parsed configurations and stores of dsetup(). */
#define DTEST(f) cmocka_unit_test_setup_teardown(f, dsetup, dteardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    DTEST(test_decide_accepted),
	    DTEST(test_decide_second_pipeline),
	    DTEST(test_decide_cases),
	    DTEST(test_decide_no_echo),
	    DTEST(test_decide_previous_secret),
	    DTEST(test_decide_not_a_webhook),
	    DTEST(test_decide_head),
	    DTEST(test_decide_head_gitea_as_github),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
