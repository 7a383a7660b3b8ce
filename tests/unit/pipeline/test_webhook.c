/* Unit tests for agent/pipeline/webhook.c: which forge sent a request, signature and
 * token checks (GitHub's published test vector included), and the payloads
 * of GitHub, GitLab and Gitea/Forgejo tag pushes. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "pipeline/webhook.h"
#include "tests/unit/pipeline/hook_fixture.h"

/* docs.github.com, "Validating webhook deliveries". */
#define GH_VECTOR_SECRET "It's a Secret to Everybody"
#define GH_VECTOR_BODY "Hello, World!"
#define GH_VECTOR_SIG "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"

#define SECRET "webhook-test-not-a-secret"

static struct secret *mksecret(const char *v)
{
	struct secret *s = NULL;

	assert_int_equal(secret_new(v, strlen(v), &s), 0);
	return s;
}

/* ---- detection ---- */

struct detect_case {
	const char *hdrs[6];
	int rc;
	enum forge forge;
};

static const struct detect_case detect_cases[] = {
    {{"X-GitHub-Event", "push", NULL}, 0, FORGE_GITHUB},
    {{"x-github-event", "ping", NULL}, 0, FORGE_GITHUB},
    {{"X-Gitlab-Event", "Tag Push Hook", NULL}, 0, FORGE_GITLAB},
    {{"X-Gitea-Event", "push", NULL}, 0, FORGE_GITEA},
    {{"X-Forgejo-Event", "push", NULL}, 0, FORGE_GITEA},
    {{"X-Forgejo-Event", "push", "X-Gitea-Event", "push", NULL}, 0, FORGE_GITEA},
    /* Gitea and Forgejo send GitHub's headers too (signed with their own
     * secret): their own header wins, then GitLab's, GitHub's last. */
    {{"X-GitHub-Event", "push", "X-Gitea-Event", "push", NULL}, 0, FORGE_GITEA},
    {{"X-GitHub-Event", "push", "X-Forgejo-Event", "push", NULL}, 0, FORGE_GITEA},
    {{"X-Gitlab-Event", "x", "X-GitHub-Event", "push", NULL}, 0, FORGE_GITLAB},
    {{"X-Hub-Signature-256", "sha256=00", NULL}, AOS_ENOTFOUND, 0},
    {{"Content-Type", "application/json", NULL}, AOS_ENOTFOUND, 0},
    {{NULL}, AOS_ENOTFOUND, 0},
};

static void test_detect(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(detect_cases) / sizeof(detect_cases[0]); i++) {
		const struct detect_case *d = &detect_cases[i];
		struct http_request r;
		enum forge f = FORGE__COUNT;
		int rc;

		fx_req(&r, d->hdrs, "{}");
		rc = webhook_detect(&r, &f);
		if (rc != d->rc || (rc == 0 && f != d->forge))
			fail_msg("case %zu: rc %d forge %d, want %d %d", i, rc, f, d->rc,
				 d->forge);
	}
}

/* ---- signatures ---- */

static void test_github_vector(void **state)
{
	const char *hdrs[] = {"X-GitHub-Event", "push", "X-Hub-Signature-256",
			      "sha256=" GH_VECTOR_SIG, NULL};
	struct secret *s = mksecret(GH_VECTOR_SECRET);
	struct http_request r;
	char msg[256] = "", hex[65];

	(void)state;
	fx_hmac_hex(GH_VECTOR_SECRET, GH_VECTOR_BODY, strlen(GH_VECTOR_BODY), hex);
	assert_string_equal(hex, GH_VECTOR_SIG); /* the fixture agrees */
	fx_req(&r, hdrs, GH_VECTOR_BODY);
	assert_int_equal(webhook_verify(FORGE_GITHUB, &r, s, msg, sizeof(msg)), 0);
	secret_unref(s);
}

enum sig_kind {
	SIG_RIGHT,	 /* the right value for the forge */
	SIG_RIGHT_UPPER, /* right, hex in capitals */
	SIG_LITERAL,	 /* value as written in the case */
};

struct sig_case {
	const char *name;
	enum forge forge;
	const char *event_hdr; /* which event header the request carries */
	const char *sig_hdr;   /* NULL: no signature header */
	enum sig_kind kind;
	const char *literal; /* SIG_LITERAL: the value; else a prefix ("sha256=") */
	int copies;	     /* how many times the header is given */
	int rc;
	const char *msg_has;
};

#define BAD64 "0000000000000000000000000000000000000000000000000000000000000000"

static const struct sig_case sig_cases[] = {
    {"github right", FORGE_GITHUB, "X-GitHub-Event", "X-Hub-Signature-256", SIG_RIGHT,
     "sha256=", 1, 0, NULL},
    {"github capitals", FORGE_GITHUB, "X-GitHub-Event", "X-Hub-Signature-256",
     SIG_RIGHT_UPPER, "sha256=", 1, 0, NULL},
    {"github wrong", FORGE_GITHUB, "X-GitHub-Event", "X-Hub-Signature-256", SIG_LITERAL,
     "sha256=" BAD64, 1, AOS_EAUTH, "does not match"},
    {"github missing", FORGE_GITHUB, "X-GitHub-Event", NULL, SIG_RIGHT, "", 0,
     AOS_ENOTFOUND, "no X-Hub-Signature-256 header"},
    {"github sha1 header only", FORGE_GITHUB, "X-GitHub-Event", "X-Hub-Signature",
     SIG_RIGHT, "sha1=", 1, AOS_ENOTFOUND, "X-Hub-Signature-256"},
    {"github duplicated", FORGE_GITHUB, "X-GitHub-Event", "X-Hub-Signature-256",
     SIG_RIGHT, "sha256=", 2, AOS_EAUTH, "given 2 times"},
    {"github no prefix", FORGE_GITHUB, "X-GitHub-Event", "X-Hub-Signature-256", SIG_RIGHT,
     "", 1, AOS_EAUTH, "sha256=<hex>"},
    {"github sha1 prefix", FORGE_GITHUB, "X-GitHub-Event", "X-Hub-Signature-256",
     SIG_RIGHT, "sha1=", 1, AOS_EAUTH, "sha256=<hex>"},
    {"github short", FORGE_GITHUB, "X-GitHub-Event", "X-Hub-Signature-256", SIG_LITERAL,
     "sha256="
     "000000000000000000000000000000000000000000000000000000000000000",
     1, AOS_EAUTH, "64 hex digits"},
    {"github long", FORGE_GITHUB, "X-GitHub-Event", "X-Hub-Signature-256", SIG_LITERAL,
     "sha256=" BAD64 "0", 1, AOS_EAUTH, "64 hex digits"},
    {"github not hex", FORGE_GITHUB, "X-GitHub-Event", "X-Hub-Signature-256", SIG_LITERAL,
     "sha256="
     "g000000000000000000000000000000000000000000000000000000000000000",
     1, AOS_EAUTH, "64 hex digits"},
    {"github empty", FORGE_GITHUB, "X-GitHub-Event", "X-Hub-Signature-256", SIG_LITERAL,
     "", 1, AOS_EAUTH, NULL},
    {"gitlab right", FORGE_GITLAB, "X-Gitlab-Event", "X-Gitlab-Token", SIG_LITERAL,
     SECRET, 1, 0, NULL},
    {"gitlab wrong same length", FORGE_GITLAB, "X-Gitlab-Event", "X-Gitlab-Token",
     SIG_LITERAL, "webhook-test-not-a-secreT", 1, AOS_EAUTH, "does not match"},
    {"gitlab prefix", FORGE_GITLAB, "X-Gitlab-Event", "X-Gitlab-Token", SIG_LITERAL,
     "webhook-test", 1, AOS_EAUTH, "does not match"},
    {"gitlab longer", FORGE_GITLAB, "X-Gitlab-Event", "X-Gitlab-Token", SIG_LITERAL,
     SECRET "x", 1, AOS_EAUTH, "does not match"},
    {"gitlab empty", FORGE_GITLAB, "X-Gitlab-Event", "X-Gitlab-Token", SIG_LITERAL, "", 1,
     AOS_EAUTH, NULL},
    {"gitlab missing", FORGE_GITLAB, "X-Gitlab-Event", NULL, SIG_LITERAL, "", 0,
     AOS_ENOTFOUND, "X-Gitlab-Token"},
    {"gitlab duplicated", FORGE_GITLAB, "X-Gitlab-Event", "X-Gitlab-Token", SIG_LITERAL,
     SECRET, 2, AOS_EAUTH, "given 2 times"},
    {"gitea right", FORGE_GITEA, "X-Gitea-Event", "X-Gitea-Signature", SIG_RIGHT, "", 1,
     0, NULL},
    {"gitea with sha256= prefix", FORGE_GITEA, "X-Gitea-Event", "X-Gitea-Signature",
     SIG_RIGHT, "sha256=", 1, AOS_EAUTH, "64 hex digits"},
    {"gitea wrong", FORGE_GITEA, "X-Gitea-Event", "X-Gitea-Signature", SIG_LITERAL, BAD64,
     1, AOS_EAUTH, "does not match"},
    {"gitea missing", FORGE_GITEA, "X-Gitea-Event", NULL, SIG_RIGHT, "", 0, AOS_ENOTFOUND,
     "X-Gitea-Signature"},
    /* A Gitea event is checked against the Gitea header, not Forgejo's. */
    {"gitea event, forgejo signature", FORGE_GITEA, "X-Gitea-Event",
     "X-Forgejo-Signature", SIG_RIGHT, "", 1, AOS_ENOTFOUND, "X-Gitea-Signature"},
    {"forgejo right", FORGE_GITEA, "X-Forgejo-Event", "X-Forgejo-Signature", SIG_RIGHT,
     "", 1, 0, NULL},
    {"forgejo wrong", FORGE_GITEA, "X-Forgejo-Event", "X-Forgejo-Signature", SIG_LITERAL,
     BAD64, 1, AOS_EAUTH, "X-Forgejo-Signature does not match"},
    {"forgejo duplicated", FORGE_GITEA, "X-Forgejo-Event", "X-Forgejo-Signature",
     SIG_RIGHT, "", 2, AOS_EAUTH, "given 2 times"},
};

static void test_signatures(void **state)
{
	static const char body[] = "{\"ref\":\"refs/tags/v1.0.0\"}";
	struct secret *s = mksecret(SECRET);
	char hex[65];
	size_t i, k;

	(void)state;
	fx_hmac_hex(SECRET, body, strlen(body), hex);
	for (i = 0; i < sizeof(sig_cases) / sizeof(sig_cases[0]); i++) {
		const struct sig_case *c = &sig_cases[i];
		const char *hdrs[10] = {c->event_hdr, "push"};
		char value[200], msg[256] = "";
		struct http_request r;
		size_t n = 2;
		int rc, head_rc, want_head;

		if (c->kind == SIG_LITERAL) {
			snprintf(value, sizeof(value), "%s", c->literal);
		} else {
			snprintf(value, sizeof(value), "%s%s", c->literal, hex);
			for (k = strlen(c->literal);
			     c->kind == SIG_RIGHT_UPPER && value[k]; k++)
				if (value[k] >= 'a' && value[k] <= 'f')
					value[k] = (char)(value[k] - 'a' + 'A');
		}
		for (k = 0; c->sig_hdr != NULL && k < (size_t)c->copies; k++) {
			hdrs[n++] = c->sig_hdr;
			hdrs[n++] = value;
		}
		hdrs[n] = NULL;
		fx_req(&r, hdrs, body);
		rc = webhook_verify(c->forge, &r, s, msg, sizeof(msg));
		if (rc != c->rc)
			fail_msg("%s: rc %d, want %d (%s)", c->name, rc, c->rc, msg);
		if (c->msg_has != NULL && strstr(msg, c->msg_has) == NULL)
			fail_msg("%s: message \"%s\" lacks \"%s\"", c->name, msg,
				 c->msg_has);
		/* The expected value is never in the message. */
		if (strstr(msg, hex) != NULL || strstr(msg, SECRET) != NULL)
			fail_msg("%s: message \"%s\" gives the expected value away",
				 c->name, msg);
		/* The headers alone (no body): the same, except that only the
		 * body shows an HMAC wrong. */
		r.body = NULL;
		r.body_len = 0;
		head_rc = webhook_verify_head(c->forge, &r, s, msg, sizeof(msg));
		if (c->forge != FORGE_GITLAB && c->rc == AOS_EAUTH &&
		    strstr(c->msg_has ? c->msg_has : "", "does not match") != NULL)
			want_head = 0;
		else
			want_head = c->rc;
		if (head_rc != want_head)
			fail_msg("%s: head rc %d, want %d (%s)", c->name, head_rc,
				 want_head, msg);
	}
	secret_unref(s);
}

/* The signature covers the body: the same signature over another body, or
 * under another secret, fails. */
static void test_signature_binds_body_and_secret(void **state)
{
	struct secret *s = mksecret(SECRET), *other = mksecret(SECRET "2");
	char hex[65], sig[80], msg[256];
	const char *hdrs[] = {"X-GitHub-Event", "push", "X-Hub-Signature-256", sig, NULL};
	struct http_request r;

	(void)state;
	fx_hmac_hex(SECRET, "{\"a\":1}", 7, hex);
	snprintf(sig, sizeof(sig), "sha256=%s", hex);
	fx_req(&r, hdrs, "{\"a\":1}");
	assert_int_equal(webhook_verify(FORGE_GITHUB, &r, s, msg, sizeof(msg)), 0);
	assert_int_equal(webhook_verify(FORGE_GITHUB, &r, other, msg, sizeof(msg)),
			 AOS_EAUTH);
	fx_req(&r, hdrs, "{\"a\":2}");
	assert_int_equal(webhook_verify(FORGE_GITHUB, &r, s, msg, sizeof(msg)),
			 AOS_EAUTH);
	/* A body with a NUL inside: every byte counts. */
	r.body = "{\"a\":1}\0x";
	r.body_len = 9;
	assert_int_equal(webhook_verify(FORGE_GITHUB, &r, s, msg, sizeof(msg)),
			 AOS_EAUTH);
	secret_unref(s);
	secret_unref(other);
}

/* ---- payloads ---- */

static int parse(enum forge f, const char *const *hdrs, const char *body,
		 struct webhook_event *ev, char *msg, size_t msglen)
{
	struct http_request r;

	fx_req(&r, hdrs, body);
	memset(ev, 0x55, sizeof(*ev));
	msg[0] = '\0';
	return webhook_parse(f, &r, ev, msg, msglen);
}

/* Tag pushes of each forge: what the payload says. */
struct push_case {
	const char *name;
	enum forge forge;
	const char *hdrs[6];
	bool gitlab_body;		       /* fx_gitlab_json, else fx_push_json */
	const char *ref, *repo, *after, *head; /* head: head_commit.id / checkout_sha */
	bool deleted_flag;		       /* the payload's "deleted" */
	/* expected */
	bool deleted;
	const char *commit, *delivery;
};

static const struct push_case push_cases[] = {
    {"github push",
     FORGE_GITHUB,
     {"X-GitHub-Event", "push", "X-GitHub-Delivery", "d-1"},
     false,
     "refs/tags/v1.0.0",
     "agenticverz/aos",
     FX_COMMIT,
     FX_COMMIT,
     false,
     false,
     FX_COMMIT,
     "d-1"},
    /* An annotated tag: `after` is the tag object, head_commit.id the
     * commit; without head_commit, `after` is taken (the checkout peels it). */
    {"github annotated tag",
     FORGE_GITHUB,
     {"X-GitHub-Event", "push"},
     false,
     "refs/tags/v2",
     "o/r",
     FX_TAGOBJ,
     FX_COMMIT,
     false,
     false,
     FX_COMMIT,
     ""},
    {"github annotated, no head_commit",
     FORGE_GITHUB,
     {"X-GitHub-Event", "push"},
     false,
     "refs/tags/v2",
     "o/r",
     FX_TAGOBJ,
     NULL,
     false,
     false,
     FX_TAGOBJ,
     ""},
    {"github deleted",
     FORGE_GITHUB,
     {"X-GitHub-Event", "push"},
     false,
     "refs/tags/v1",
     "o/r",
     FX_ZERO,
     NULL,
     true,
     true,
     "",
     ""},
    /* An all-zero `after` alone says deleted too. */
    {"github zero after",
     FORGE_GITHUB,
     {"X-GitHub-Event", "push"},
     false,
     "refs/tags/v1",
     "o/r",
     FX_ZERO,
     NULL,
     false,
     true,
     "",
     ""},
    /* GitLab: checkout_sha, not after; the delivery from the UUID header or
     * Idempotency-Key. */
    {"gitlab tag push",
     FORGE_GITLAB,
     {"X-Gitlab-Event", "Tag Push Hook", "X-Gitlab-Event-UUID", "u-1"},
     true,
     "refs/tags/v1.2",
     "group/sub/proj",
     FX_TAGOBJ,
     FX_COMMIT,
     false,
     false,
     FX_COMMIT,
     "u-1"},
    {"gitlab idempotency key",
     FORGE_GITLAB,
     {"X-Gitlab-Event", "Tag Push Hook", "Idempotency-Key", "k-9"},
     true,
     "refs/tags/v1.2",
     "group/proj",
     FX_COMMIT,
     FX_COMMIT,
     false,
     false,
     FX_COMMIT,
     "k-9"},
    /* Deleted: checkout_sha null, after all zeros. */
    {"gitlab deleted",
     FORGE_GITLAB,
     {"X-Gitlab-Event", "Tag Push Hook"},
     true,
     "refs/tags/v1.2",
     "group/proj",
     FX_ZERO,
     NULL,
     false,
     true,
     "",
     ""},
    {"gitea push",
     FORGE_GITEA,
     {"X-Gitea-Event", "push", "X-Gitea-Delivery", "g-1"},
     false,
     "refs/tags/v3",
     "org/repo",
     FX_COMMIT,
     FX_COMMIT,
     false,
     false,
     FX_COMMIT,
     "g-1"},
    {"forgejo push",
     FORGE_GITEA,
     {"X-Forgejo-Event", "push", "X-Forgejo-Delivery", "f-1"},
     false,
     "refs/tags/v3",
     "org/repo",
     FX_COMMIT,
     FX_COMMIT,
     false,
     false,
     FX_COMMIT,
     "f-1"},
};

static void test_pushes(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(push_cases) / sizeof(push_cases[0]); i++) {
		const struct push_case *c = &push_cases[i];
		struct webhook_event ev;
		char body[1024], msg[256];

		if (c->gitlab_body)
			fx_gitlab_json(body, sizeof(body), c->ref, c->repo, c->after,
				       c->head);
		else
			fx_push_json(body, sizeof(body), c->ref, c->repo, c->after,
				     c->head, c->deleted_flag);
		if (parse(c->forge, c->hdrs, body, &ev, msg, sizeof(msg)) != 0)
			fail_msg("%s: %s", c->name, msg);
		if (ev.forge != c->forge || !ev.push || ev.ping ||
		    ev.deleted != c->deleted || strcmp(ev.ref, c->ref) != 0 ||
		    strcmp(ev.repo, c->repo) != 0 || strcmp(ev.commit, c->commit) != 0 ||
		    strcmp(ev.delivery, c->delivery) != 0 ||
		    strcmp(ev.event, c->hdrs[1]) != 0)
			fail_msg(
			    "%s: forge %d push %d ping %d deleted %d ref %s repo %s commit %s "
			    "delivery %s",
			    c->name, ev.forge, ev.push, ev.ping, ev.deleted, ev.ref,
			    ev.repo, ev.commit, ev.delivery);
	}
}

static void test_github_ping(void **state)
{
	const char *hdrs[] = {"X-GitHub-Event", "ping", "X-GitHub-Delivery", "p", NULL};
	struct webhook_event ev;
	char msg[256];

	(void)state;
	assert_int_equal(parse(FORGE_GITHUB, hdrs,
			       "{\"zen\":\"Keep it simple.\",\"hook_id\":1}", &ev, msg,
			       sizeof(msg)),
			 0);
	assert_true(ev.ping);
	assert_false(ev.push);
	assert_string_equal(ev.event, "ping");
}

/* Events other than pushes (and GitHub's ping) parse but are not pushes. */
static void test_other_events(void **state)
{
	const char *gh[] = {"X-GitHub-Event", "issues", NULL};
	const char *gl[] = {"X-Gitlab-Event", "Push Hook", NULL};
	const char *gt[] = {"X-Gitea-Event", "ping", NULL};
	struct webhook_event ev;
	char msg[256];

	(void)state;
	assert_int_equal(parse(FORGE_GITHUB, gh, "{}", &ev, msg, sizeof(msg)), 0);
	assert_false(ev.push);
	assert_false(ev.ping);
	assert_string_equal(ev.event, "issues");
	assert_int_equal(parse(FORGE_GITLAB, gl, "{\"ref\":\"refs/heads/main\"}", &ev,
			       msg, sizeof(msg)),
			 0);
	assert_false(ev.push);
	assert_int_equal(parse(FORGE_GITEA, gt, "{}", &ev, msg, sizeof(msg)), 0);
	assert_false(ev.push);
	assert_false(ev.ping); /* only GitHub's ping is one */
}

struct bad_case {
	const char *name;
	enum forge forge;
	const char *event;
	const char *body; /* NULL: built (over-long fields) */
	const char *msg_has;
};

static const struct bad_case bad_cases[] = {
    {"not json", FORGE_GITHUB, "push", "{\"ref\":", "not a JSON object"},
    {"empty body", FORGE_GITHUB, "push", "", "not a JSON object"},
    {"array", FORGE_GITHUB, "push", "[1,2]", "not a JSON object"},
    {"string", FORGE_GITEA, "push", "\"x\"", "not a JSON object"},
    {"ping not json", FORGE_GITHUB, "ping", "zen", "not a JSON object"},
    {"no ref", FORGE_GITHUB, "push", "{\"repository\":{\"full_name\":\"o/r\"}}", "ref"},
    {"ref a number", FORGE_GITHUB, "push", "{\"ref\":7}", "ref"},
    {"no repository", FORGE_GITHUB, "push", "{\"ref\":\"refs/tags/v1\"}",
     "repository.full_name"},
    {"repository a string", FORGE_GITEA, "push",
     "{\"ref\":\"refs/tags/v1\",\"repository\":\"o/r\"}", "repository.full_name"},
    {"no commit", FORGE_GITHUB, "push",
     "{\"ref\":\"refs/tags/v1\",\"repository\":{\"full_name\":\"o/r\"}}",
     "head_commit.id"},
    {"gitlab no project", FORGE_GITLAB, "Tag Push Hook",
     "{\"ref\":\"refs/tags/v1\",\"checkout_sha\":\"" FX_COMMIT "\"}",
     "project.path_with_namespace"},
    {"ref too long", FORGE_GITHUB, "push", NULL, "ref is too long"},
    {"repository too long", FORGE_GITHUB, "push", NULL,
     "repository.full_name is too long"},
    {"commit too long", FORGE_GITHUB, "push", NULL, "head_commit.id is too long"},
    {"gitlab commit too long", FORGE_GITLAB, "Tag Push Hook", NULL,
     "checkout_sha is too long"},
};

static void build_long(const struct bad_case *c, char *body, size_t len)
{
	char big[400];

	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	if (strcmp(c->name, "ref too long") == 0)
		fx_push_json(body, len, big, "o/r", FX_COMMIT, FX_COMMIT, false);
	else if (strcmp(c->name, "repository too long") == 0)
		fx_push_json(body, len, "refs/tags/v1", big, FX_COMMIT, FX_COMMIT, false);
	else if (strcmp(c->name, "commit too long") == 0)
		fx_push_json(body, len, "refs/tags/v1", "o/r", FX_COMMIT,
			     FX_COMMIT FX_COMMIT, false);
	else
		fx_gitlab_json(body, len, "refs/tags/v1", "o/r", FX_COMMIT,
			       FX_COMMIT FX_COMMIT);
}

static void test_bad_payloads(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		const char *ev_hdr = c->forge == FORGE_GITHUB	? "X-GitHub-Event"
				     : c->forge == FORGE_GITLAB ? "X-Gitlab-Event"
								: "X-Gitea-Event";
		const char *hdrs[] = {ev_hdr, c->event, NULL};
		struct webhook_event ev;
		char body[2048], msg[256];
		int rc;

		if (c->body == NULL)
			build_long(c, body, sizeof(body));
		else
			snprintf(body, sizeof(body), "%s", c->body);
		rc = parse(c->forge, hdrs, body, &ev, msg, sizeof(msg));
		if (rc != -EINVAL || strstr(msg, c->msg_has) == NULL)
			fail_msg("%s: rc %d message \"%s\", want -EINVAL and \"%s\"",
				 c->name, rc, msg, c->msg_has);
	}
}

/* The longest accepted values fit; one byte more does not. */
static void test_field_bounds(void **state)
{
	char event[80], delivery[200], ref[WEBHOOK_NAME_MAX + 8], body[2048], msg[256];
	const char *hdrs[] = {"X-GitHub-Event", event, "X-GitHub-Delivery", delivery,
			      NULL};
	struct webhook_event ev;

	(void)state;
	snprintf(event, sizeof(event), "push");
	memset(delivery, 'd', 127);
	delivery[127] = '\0';
	memcpy(ref, "refs/tags/", 10);
	memset(ref + 10, 'v', WEBHOOK_NAME_MAX - 11);
	ref[WEBHOOK_NAME_MAX - 1] = '\0';
	fx_push_json(body, sizeof(body), ref, "o/r", FX_COMMIT, FX_COMMIT, false);
	assert_int_equal(parse(FORGE_GITHUB, hdrs, body, &ev, msg, sizeof(msg)), 0);
	assert_int_equal(strlen(ev.ref), WEBHOOK_NAME_MAX - 1);
	assert_int_equal(strlen(ev.delivery), 127);

	delivery[127] = 'd';
	delivery[128] = '\0';
	assert_int_equal(parse(FORGE_GITHUB, hdrs, body, &ev, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "X-GitHub-Delivery"));
	delivery[10] = '\0';
	memset(event, 'e', 64);
	event[64] = '\0';
	assert_int_equal(parse(FORGE_GITHUB, hdrs, body, &ev, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "X-GitHub-Event"));
	snprintf(event, sizeof(event), "push");
	ref[WEBHOOK_NAME_MAX - 1] = 'v';
	ref[WEBHOOK_NAME_MAX] = '\0';
	fx_push_json(body, sizeof(body), ref, "o/r", FX_COMMIT, FX_COMMIT, false);
	assert_int_equal(parse(FORGE_GITHUB, hdrs, body, &ev, msg, sizeof(msg)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_detect),
	    cmocka_unit_test(test_github_vector),
	    cmocka_unit_test(test_signatures),
	    cmocka_unit_test(test_signature_binds_body_and_secret),
	    cmocka_unit_test(test_pushes),
	    cmocka_unit_test(test_github_ping),
	    cmocka_unit_test(test_other_events),
	    cmocka_unit_test(test_bad_payloads),
	    cmocka_unit_test(test_field_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
