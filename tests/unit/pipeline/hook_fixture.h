/* hook_fixture.h - shared helpers of the webhook and pipeline unit tests:
 * a request built from header pairs and a body (no parsing), HMAC
 * signatures as the forges compute them, and payloads of each forge.
 *
 * Header-only (static inline functions) so each test stays one executable.
 * The secrets are test strings, not tokens.
 */
#ifndef AOS_TEST_HOOK_FIXTURE_H
#define AOS_TEST_HOOK_FIXTURE_H

#include <stdio.h>
#include <string.h>

#include <openssl/evp.h>

#include "base/httpreq.h"

#define FX_COMMIT "0123456789abcdef0123456789abcdef01234567"
#define FX_TAGOBJ "89abcdef0123456789abcdef0123456789abcdef"
#define FX_ZERO "0000000000000000000000000000000000000000"

/* r gets the headers of hdrs (name, value, ..., NULL) and body (strings
 * owned by the caller; at most HTTPREQ_MAX_HEADERS pairs). */
static inline void fx_req(struct http_request *r, const char *const *hdrs,
			  const char *body)
{
	size_t n = 0;

	memset(r, 0, sizeof(*r));
	r->method = HTTP_POST;
	r->url = "/webhook";
	r->keep_alive = true;
	for (; hdrs != NULL && hdrs[0] != NULL && n < HTTPREQ_MAX_HEADERS; hdrs += 2) {
		r->names[n] = hdrs[0];
		r->values[n] = hdrs[1];
		n++;
	}
	r->nheaders = n;
	r->body = body;
	r->body_len = strlen(body);
}

/* The lowercase hex HMAC-SHA256 of body under key. */
static inline void fx_hmac_hex(const char *key, const char *body, size_t len,
			       char out[65])
{
	static const char digits[] = "0123456789abcdef";
	unsigned char md[32];
	size_t mdlen = 0, i;

	if (EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, strlen(key),
		      (const unsigned char *)body, len, md, sizeof(md), &mdlen) == NULL ||
	    mdlen != 32) {
		out[0] = '\0';
		return;
	}
	for (i = 0; i < 32; i++) {
		out[2 * i] = digits[md[i] >> 4];
		out[2 * i + 1] = digits[md[i] & 15];
	}
	out[64] = '\0';
}

/* GitHub and Gitea push payloads (the fields read, and a few others). */
static inline void fx_push_json(char *buf, size_t len, const char *ref, const char *repo,
				const char *after, const char *head_commit, bool deleted)
{
	char head[128];

	if (head_commit != NULL)
		snprintf(head, sizeof(head), "{\"id\":\"%s\",\"message\":\"release\"}",
			 head_commit);
	else
		snprintf(head, sizeof(head), "null");
	snprintf(buf, len,
		 "{\"ref\":\"%s\",\"before\":\"%s\",\"after\":\"%s\",\"created\":%s,"
		 "\"deleted\":%s,\"head_commit\":%s,"
		 "\"repository\":{\"full_name\":\"%s\",\"clone_url\":"
		 "\"https://evil.example/x.git\"},\"pusher\":{\"name\":\"dev\"}}",
		 ref, FX_ZERO, after, deleted ? "false" : "true",
		 deleted ? "true" : "false", head, repo);
}

/* A GitLab "Tag Push Hook" payload; checkout_sha NULL writes null. */
static inline void fx_gitlab_json(char *buf, size_t len, const char *ref,
				  const char *repo, const char *after,
				  const char *checkout_sha)
{
	char sha[96];

	if (checkout_sha != NULL)
		snprintf(sha, sizeof(sha), "\"%s\"", checkout_sha);
	else
		snprintf(sha, sizeof(sha), "null");
	snprintf(buf, len,
		 "{\"object_kind\":\"tag_push\",\"ref\":\"%s\",\"before\":\"%s\","
		 "\"after\":\"%s\",\"checkout_sha\":%s,"
		 "\"project\":{\"path_with_namespace\":\"%s\",\"git_http_url\":"
		 "\"https://evil.example/x.git\"}}",
		 ref, FX_ZERO, after, sha, repo);
}

#endif
