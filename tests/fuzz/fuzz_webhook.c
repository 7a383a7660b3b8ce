/* fuzz_webhook.c - libFuzzer target for the inbound request path: bytes ->
 * httpreq (request assembly, limits) -> pipeline_decide (forge detection,
 * signature check, payload parsing, pipeline match) -> pipeline_job_init.
 *
 * Input layout:
 *   byte 0   flags.  Odd: before deciding, the harness signs each parsed
 *            request correctly: it computes the signature (GitHub
 *            "sha256=<hex>", Gitea/Forgejo bare hex) or takes the token
 *            (GitLab) for the parsed body with the harness's secret of the
 *            detected forge, drops every signature header of that forge and
 *            adds one with the right value.  Without this the fuzzer would
 *            never get past the HMAC check to the payload parser and the
 *            pipeline match.  Even: the request is decided as sent.
 *            Bit 1: decided with pipeline_decide_prev() and the harness's
 *            previous secrets (a rotation in progress); bit 2 (with bit 0):
 *            signed with the previous secret instead of the current one.
 *   byte 1   seed of the chunk sizes: the rest is fed to httpreq in pieces
 *            of 1 to 64 bytes drawn from a small LCG, the way a socket
 *            might deliver them.
 *   byte 2.. the bytes of one or more (pipelined) HTTP/1.1 requests.
 *
 * Each complete request is decided; keep-alive requests are followed by the
 * next one, like the listener does.  Besides the sanitizers, the harness
 * checks (and aborts on) what must always hold: a decision's text never
 * holds a secret or the signature the daemon expects, an accepted delivery
 * names a pipeline, a version that its tag_pattern gives and a valid tag,
 * and its job has a key shorter than JOB_KEY_MAX.
 *
 * The secrets are fixed test strings ("fuzz-not-a-secret-..."), not tokens.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#include "base/httpreq.h"
#include "config/config.h"
#include "pipeline/pipeline.h"
#include "pipeline/webhook.h"
#include "vault/store.h"

#define MAX_HEAD 16384
#define MAX_BODY 65536

static const char *const hook_keys[FORGE__COUNT] = {
    "GITHUB_WEBHOOK_SECRET", "GITLAB_WEBHOOK_TOKEN", "GITEA_WEBHOOK_SECRET"};
static const char *const hook_secrets[FORGE__COUNT] = {
    "fuzz-not-a-secret-github", "fuzz-not-a-secret-gitlab", "fuzz-not-a-secret-gitea"};
/* The secrets "before a rotation", for pipeline_decide_prev(). */
static const char *const old_secrets[FORGE__COUNT] = {"fuzz-not-a-secret-github-old",
						      "fuzz-not-a-secret-gitlab-old",
						      "fuzz-not-a-secret-gitea-old"};

static const char config_text[] =
    "{\"state_dir\":\"/nonexistent/aos-fuzz\",\"runtime_dir\":\"/nonexistent/aos-fuzz\","
    "\"vault\":{\"address\":\"https://vault.example.test:8200\","
    "\"auth\":{\"method\":\"token\",\"token_file\":\"token\"}},"
    "\"registries\":{\"testpypi\":{\"type\":\"pypi\",\"url\":\"https://test.pypi.org/legacy/\","
    "\"token_key\":\"TEST_PYPI_API_TOKEN\"},"
    "\"npm\":{\"type\":\"npm\",\"url\":\"https://registry.npmjs.org/\"}},"
    "\"webhooks\":{\"github\":{\"secret_key\":\"GITHUB_WEBHOOK_SECRET\"},"
    "\"gitlab\":{\"secret_key\":\"GITLAB_WEBHOOK_TOKEN\"},"
    "\"gitea\":{\"secret_key\":\"GITEA_WEBHOOK_SECRET\"}},"
    "\"pipelines\":{"
    "\"python-sdk\":{\"repository\":\"https://forge.example/agenticverz/aos.git\","
    "\"tag_pattern\":\"python-sdk-v*\",\"package\":\"aos-sdk\",\"build\":[\"make\"],"
    "\"artifacts\":[\"dist/*\"],\"targets\":[\"testpypi\"]},"
    "\"js-sdk\":{\"repository\":\"https://forge.example/agenticverz/aos.git\","
    "\"tag_pattern\":\"js-sdk-*-final\",\"package\":\"@agenticverz/aos-sdk\","
    "\"build\":[[\"npm\",\"pack\"]],\"artifacts\":[\"*.tgz\"],\"targets\":[\"npm\"]}}}";

static struct config *cfg;
static struct secret_store *store;
static struct secret *old[FORGE__COUNT];

static void die(const char *what)
{
	fprintf(stderr, "fuzz_webhook: %s\n", what);
	abort();
}

static void setup(void)
{
	struct secret *vals[FORGE__COUNT];
	struct store_change ch[8];
	char err[512];
	int f;

	if (config_parse(config_text, strlen(config_text), "fuzz.json", &cfg, err,
			 sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		die("the harness's configuration does not parse");
	}
	if (store_new((const char *const *)cfg->secret_keys, cfg->nsecret_keys, &store) !=
	    0)
		die("store_new");
	for (f = 0; f < FORGE__COUNT; f++)
		if (secret_new(hook_secrets[f], strlen(hook_secrets[f]), &vals[f]) != 0)
			die("secret_new");
	if (store_update(store, 1, "2026-01-01T00:00:00Z", hook_keys, vals, FORGE__COUNT,
			 ch, 8) < 0)
		die("store_update");
	for (f = 0; f < FORGE__COUNT; f++) {
		secret_unref(vals[f]);
		if (secret_new(old_secrets[f], strlen(old_secrets[f]), &old[f]) != 0)
			die("secret_new");
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	setup();
	return 0;
}

static void hmac_hex(const char *key, const char *body, size_t len, char out[65])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[32];
	size_t mdlen = 0, i;

	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, strlen(key),
		      (const unsigned char *)body, len, md, sizeof(md), &mdlen) == NULL ||
	    mdlen != 32)
		die("HMAC");
	for (i = 0; i < 32; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 15];
	}
	out[64] = '\0';
}

/* The signature header webhook.c reads for forge f in r, and its right
 * value for r's body. */
static const char *signature_of(enum forge f, const struct http_request *r, bool use_old,
				char *value, size_t len)
{
	const char *key = use_old ? old_secrets[f] : hook_secrets[f];
	char hex[65];

	if (f == FORGE_GITLAB) {
		snprintf(value, len, "%s", key);
		return "X-Gitlab-Token";
	}
	hmac_hex(key, r->body, r->body_len, hex);
	if (f == FORGE_GITHUB) {
		snprintf(value, len, "sha256=%s", hex);
		return "X-Hub-Signature-256";
	}
	snprintf(value, len, "%s", hex);
	return httpreq_header(r, "X-Gitea-Event", NULL) != NULL ? "X-Gitea-Signature"
								: "X-Forgejo-Signature";
}

/* *out = *r with exactly one, right, signature header.  Returns false when
 * r is no webhook or a header had to go to make room. */
static bool sign(const struct http_request *r, struct http_request *out, bool use_old,
		 char *value, size_t len)
{
	const char *name;
	enum forge f;
	size_t i;

	*out = *r;
	if (webhook_detect(r, &f) < 0)
		return false;
	name = signature_of(f, r, use_old, value, len);
	out->nheaders = 0;
	for (i = 0; i < r->nheaders; i++) {
		if (strcasecmp(r->names[i], name) == 0)
			continue;
		out->names[out->nheaders] = r->names[i];
		out->values[out->nheaders++] = r->values[i];
	}
	if (out->nheaders == HTTPREQ_MAX_HEADERS)
		return false; /* no room: decided as sent */
	out->names[out->nheaders] = name;
	out->values[out->nheaders++] = value;
	return true;
}

/* True if s is in what the client sent: r's body or a header value. */
static bool sent(const struct http_request *r, const char *s)
{
	size_t i;

	if (memmem(r->body, r->body_len, s, strlen(s)) != NULL)
		return true;
	for (i = 0; i < r->nheaders; i++)
		if (strstr(r->values[i], s) != NULL || strstr(r->names[i], s) != NULL)
			return true;
	return strstr(r->url, s) != NULL;
}

/* sent is the request as received, r as decided (maybe signed). */
static void check(const struct hook_decision *d, const struct http_request *sent_req,
		  const struct http_request *r)
{
	char want[80], ver[128];
	enum forge f;
	int i;

	/* The payload's own text is echoed (a commit, a tag): a secret there
	 * came from the client. */
	for (i = 0; i < FORGE__COUNT; i++)
		if ((strstr(d->text, hook_secrets[i]) != NULL &&
		     !sent(sent_req, hook_secrets[i])) ||
		    (strstr(d->text, old_secrets[i]) != NULL &&
		     !sent(sent_req, old_secrets[i])))
			die("a decision's text holds a webhook secret");
	if (webhook_detect(r, &f) == 0) {
		signature_of(f, r, false, want, sizeof(want));
		if (f != FORGE_GITLAB && d->status == 401 &&
		    strstr(d->text, want) != NULL && !sent(sent_req, want))
			die("a refusal echoes the expected signature");
	}
	if (d->status == 503 && d->retry_after < 0)
		die("503 without Retry-After");
	if (d->status != 0)
		return;
	if (d->pipeline == NULL || d->tag[0] == '\0' || d->version[0] == '\0')
		die("accepted without a pipeline, tag or version");
	if (!pipeline_tag_version(d->pipeline->tag_pattern, d->tag, ver, sizeof(ver)) ||
	    strcmp(ver, d->version) != 0)
		die("the version is not what the tag pattern gives");
	if (!pipeline_tag_ok(d->tag))
		die("accepted a tag pipelines refuse");
}

static void decide(const struct http_request *r, uint8_t flags)
{
	const struct http_request *received = r;
	struct http_request signed_req;
	struct hook_decision d;
	struct pipeline_job job;
	char value[80];
	bool is_signed = false;
	size_t count;

	(void)httpreq_header(r, "Content-Type", &count);
	if (flags & 1) {
		is_signed = sign(r, &signed_req, (flags & 4) != 0, value, sizeof(value));
		r = &signed_req;
	}
	if (flags & 2)
		pipeline_decide_prev(cfg, store, old, r, &d);
	else
		pipeline_decide(cfg, store, r, &d);
	check(&d, received, r);
	if (d.previous_secret && !(flags & 2))
		die("the previous secret was used without being given");
	if ((flags & 7) == 7 && is_signed && d.status == 401)
		die("a delivery signed with the previous secret was refused");
	if (d.status != 0)
		return;
	if (pipeline_job_init(&job, d.pipeline, d.tag, d.version, d.ev.commit,
			      forge_name(d.ev.forge), d.ev.delivery, 3, NULL) != 0)
		die("pipeline_job_init");
	if (strlen(job.idem_key) >= JOB_KEY_MAX ||
	    strncmp(job.idem_key, "pipeline:", 9) != 0)
		die("bad idempotency key");
	pipeline_job_clear(&job);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data + 2;
	struct httpreq hr;
	uint8_t flags;
	uint32_t seed;
	size_t left;

	if (size < 2)
		return 0;
	flags = data[0];
	seed = data[1];
	left = size - 2;
	httpreq_init(&hr, MAX_HEAD, MAX_BODY);
	while (left > 0) {
		size_t chunk, n;

		seed = seed * 1103515245u + 12345u;
		chunk = 1 + (seed >> 16) % 64;
		if (chunk > left)
			chunk = left;
		/* A chunk may hold the end of one request and the start of
		 * the next: feed it until it is used up. */
		while (chunk > 0) {
			n = httpreq_feed(&hr, p, chunk);
			p += n;
			left -= n;
			chunk -= n;
			if (hr.state == HTTPREQ_ERROR)
				goto out;
			if (hr.state == HTTPREQ_DONE) {
				decide(&hr.req, flags);
				if (!hr.req.keep_alive)
					goto out;
				httpreq_next(&hr);
			} else if (n == 0) {
				goto out; /* no progress: the listener would wait */
			}
		}
	}
out:
	httpreq_free(&hr);
	return 0;
}
