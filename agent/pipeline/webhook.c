/* webhook.c - forge detection, signature checks and payload reading. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/err.h"
#include "pipeline/webhook.h"

struct forge_headers {
	const char *event, *delivery, *signature;
};

/* Gitea and Forgejo send the same payloads under two header prefixes. */
static const struct forge_headers gh = {"X-GitHub-Event", "X-GitHub-Delivery",
					"X-Hub-Signature-256"};
static const struct forge_headers gl = {"X-Gitlab-Event", "X-Gitlab-Event-UUID",
					"X-Gitlab-Token"};
static const struct forge_headers gt = {"X-Gitea-Event", "X-Gitea-Delivery",
					"X-Gitea-Signature"};
static const struct forge_headers fj = {"X-Forgejo-Event", "X-Forgejo-Delivery",
					"X-Forgejo-Signature"};

static const struct forge_headers *headers_of(enum forge f, const struct http_request *r)
{
	if (f == FORGE_GITHUB)
		return &gh;
	if (f == FORGE_GITLAB)
		return &gl;
	return httpreq_header(r, gt.event, NULL) != NULL ? &gt : &fj;
}

/* Gitea and Forgejo also send GitHub's (and Gogs') headers, signed with
 * their own secret: their own event header decides first. */
int webhook_detect(const struct http_request *r, enum forge *ret)
{
	if (httpreq_header(r, gt.event, NULL) != NULL ||
	    httpreq_header(r, fj.event, NULL) != NULL)
		*ret = FORGE_GITEA;
	else if (httpreq_header(r, gl.event, NULL) != NULL)
		*ret = FORGE_GITLAB;
	else if (httpreq_header(r, gh.event, NULL) != NULL)
		*ret = FORGE_GITHUB;
	else
		return AOS_ENOTFOUND;
	return 0;
}

static int unhex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Exactly 64 hex digits into 32 bytes. */
static int hex32(const char *s, unsigned char out[32])
{
	size_t i;

	if (strlen(s) != 64)
		return -EINVAL;
	for (i = 0; i < 32; i++) {
		int hi = unhex(s[2 * i]), lo = unhex(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (unsigned char)(hi << 4 | lo);
	}
	return 0;
}

static int hmac_sha256(const struct secret *key, const char *data, size_t len,
		       unsigned char out[32])
{
	size_t outlen = 0;

	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, secret_value(key),
		      secret_len(key), (const unsigned char *)data, len, out, 32,
		      &outlen) == NULL ||
	    outlen != 32)
		return -ENOMEM;
	return 0;
}

/* The signature header's value, once, in its forge's form; for an HMAC its
 * 32 bytes go to got.  Returns it, or NULL with *ret_rc and msg. */
static const char *signature(enum forge f, const struct http_request *r,
			     unsigned char got[32], int *ret_rc, char *msg, size_t msglen)
{
	const struct forge_headers *h = headers_of(f, r);
	const char *sig;
	size_t count = 0;

	*ret_rc = AOS_EAUTH;
	sig = httpreq_header(r, h->signature, &count);
	if (sig == NULL) {
		snprintf(msg, msglen,
			 "no %s header: the request is not signed (set the "
			 "webhook's secret in the forge)",
			 h->signature);
		*ret_rc = AOS_ENOTFOUND;
		return NULL;
	}
	if (count > 1) {
		snprintf(msg, msglen, "%s given %zu times", h->signature, count);
		return NULL;
	}
	if (f == FORGE_GITLAB)
		return sig;
	if (f == FORGE_GITHUB) {
		if (strncmp(sig, "sha256=", 7) != 0) {
			snprintf(msg, msglen, "%s is not \"sha256=<hex>\"", h->signature);
			return NULL;
		}
		sig += 7;
	}
	if (hex32(sig, got) < 0) {
		snprintf(msg, msglen, "%s is not 64 hex digits", h->signature);
		return NULL;
	}
	return sig;
}

/* GitLab's token itself: compared as digests so that neither its length
 * nor its bytes leak through timing. */
static bool token_matches(const char *token, const struct secret *secret)
{
	unsigned char want[32], got[32];
	bool same;

	EVP_Digest(token, strlen(token), got, NULL, EVP_sha256(), NULL);
	EVP_Digest(secret_value(secret), secret_len(secret), want, NULL, EVP_sha256(),
		   NULL);
	same = CRYPTO_memcmp(want, got, 32) == 0;
	OPENSSL_cleanse(want, sizeof(want));
	return same;
}

static int mismatch(enum forge f, const struct http_request *r, char *msg, size_t msglen)
{
	snprintf(msg, msglen,
		 "%s does not match: the request was not signed with this "
		 "daemon's webhook secret",
		 headers_of(f, r)->signature);
	return AOS_EAUTH;
}

int webhook_verify_head(enum forge f, const struct http_request *r,
			const struct secret *secret, char *msg, size_t msglen)
{
	unsigned char got[32];
	const char *sig;
	int rc;

	sig = signature(f, r, got, &rc, msg, msglen);
	if (sig == NULL)
		return rc;
	if (f == FORGE_GITLAB && !token_matches(sig, secret))
		return mismatch(f, r, msg, msglen);
	return 0;
}

int webhook_verify(enum forge f, const struct http_request *r,
		   const struct secret *secret, char *msg, size_t msglen)
{
	unsigned char want[32], got[32];
	int result;

	result = webhook_verify_head(f, r, secret, msg, msglen);
	if (result < 0 || f == FORGE_GITLAB)
		return result;
	signature(f, r, got, &result, msg, msglen);
	if (hmac_sha256(secret, r->body, r->body_len, want) < 0) {
		snprintf(msg, msglen, "cannot compute the HMAC");
		result = -ENOMEM;
	} else if (CRYPTO_memcmp(want, got, 32) != 0) {
		result = mismatch(f, r, msg, msglen);
	} else {
		result = 0;
	}
	OPENSSL_cleanse(want, sizeof(want));
	return result;
}

/* ---- payloads ------------------------------------------------------------- */

static const char *str_at(const cJSON *o, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);

	if (b != NULL)
		v = cJSON_GetObjectItemCaseSensitive(v, b);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int copy_field(char *dst, size_t dstlen, const char *src, const char *what,
		      char *msg, size_t msglen)
{
	if (src == NULL) {
		snprintf(msg, msglen, "payload has no %s (a string)", what);
		return -EINVAL;
	}
	if (strlen(src) >= dstlen) {
		snprintf(msg, msglen, "payload's %s is too long (at most %zu bytes)",
			 what, dstlen - 1);
		return -EINVAL;
	}
	memcpy(dst, src, strlen(src) + 1);
	return 0;
}

static bool all_zero(const char *s)
{
	if (s == NULL || *s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (*s != '0')
			return false;
	return true;
}

static int parse_push(enum forge f, const cJSON *doc, struct webhook_event *ev, char *msg,
		      size_t msglen)
{
	const char *repo, *commit, *after;
	const cJSON *deleted;

	if (copy_field(ev->ref, sizeof(ev->ref), str_at(doc, "ref", NULL), "ref", msg,
		       msglen) < 0)
		return -EINVAL;
	if (f == FORGE_GITLAB) {
		repo = str_at(doc, "project", "path_with_namespace");
		if (copy_field(ev->repo, sizeof(ev->repo), repo,
			       "project.path_with_namespace", msg, msglen) < 0)
			return -EINVAL;
		commit = str_at(doc, "checkout_sha", NULL);
		after = str_at(doc, "after", NULL);
		ev->deleted = commit == NULL || all_zero(after);
	} else {
		repo = str_at(doc, "repository", "full_name");
		if (copy_field(ev->repo, sizeof(ev->repo), repo, "repository.full_name",
			       msg, msglen) < 0)
			return -EINVAL;
		/* `after` is the tag object for an annotated tag: prefer the
		 * commit; the checkout peels either. */
		commit = str_at(doc, "head_commit", "id");
		after = str_at(doc, "after", NULL);
		if (commit == NULL)
			commit = after;
		deleted = cJSON_GetObjectItemCaseSensitive(doc, "deleted");
		ev->deleted = cJSON_IsTrue(deleted) || all_zero(after);
	}
	if (ev->deleted)
		return 0;
	if (copy_field(ev->commit, sizeof(ev->commit), commit,
		       f == FORGE_GITLAB ? "checkout_sha" : "head_commit.id", msg,
		       msglen) < 0)
		return -EINVAL;
	return 0;
}

int webhook_parse(enum forge f, const struct http_request *r, struct webhook_event *ret,
		  char *msg, size_t msglen)
{
	const struct forge_headers *h = headers_of(f, r);
	struct webhook_event ev = {.forge = f};
	const char *event = httpreq_header(r, h->event, NULL);
	const char *delivery = httpreq_header(r, h->delivery, NULL);
	cJSON *doc = NULL;
	int result = -EINVAL;

	if (f == FORGE_GITLAB && delivery == NULL)
		delivery = httpreq_header(r, "Idempotency-Key", NULL);
	if (copy_field(ev.event, sizeof(ev.event), event, h->event, msg, msglen) < 0)
		return -EINVAL;
	if (delivery != NULL && copy_field(ev.delivery, sizeof(ev.delivery), delivery,
					   h->delivery, msg, msglen) < 0)
		return -EINVAL;
	doc = cJSON_ParseWithLength(r->body, r->body_len);
	if (!cJSON_IsObject(doc)) {
		snprintf(msg, msglen, "the body is not a JSON object");
		goto out;
	}
	if (f == FORGE_GITHUB && strcmp(ev.event, "ping") == 0) {
		ev.ping = true;
	} else if ((f == FORGE_GITLAB && strcmp(ev.event, "Tag Push Hook") == 0) ||
		   (f != FORGE_GITLAB && strcmp(ev.event, "push") == 0)) {
		ev.push = true;
		if (parse_push(f, doc, &ev, msg, msglen) < 0)
			goto out;
	}
	*ret = ev;
	result = 0;
out:
	cJSON_Delete(doc);
	return result;
}
