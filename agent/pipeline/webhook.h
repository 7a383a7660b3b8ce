/* webhook.h - forge webhooks: which forge sent a request, whether its
 * signature is right, and what the payload says.  No I/O, no logging.
 *
 * GitHub: X-Hub-Signature-256 "sha256=<hex HMAC-SHA256 of the raw body>",
 * X-GitHub-Event push | ping, X-GitHub-Delivery.  GitLab: X-Gitlab-Token
 * (the shared secret itself), X-Gitlab-Event "Tag Push Hook".
 * Gitea/Forgejo: X-Gitea-Signature / X-Forgejo-Signature (bare hex HMAC),
 * X-Gitea-Event / X-Forgejo-Event, X-Gitea-Delivery / X-Forgejo-Delivery.
 */
#ifndef AOS_WEBHOOK_H
#define AOS_WEBHOOK_H

#include <stdbool.h>
#include <stddef.h>

#include "base/httpreq.h"
#include "common/secret.h"
#include "config/config.h" /* enum forge */

#define WEBHOOK_NAME_MAX 256

struct webhook_event {
	enum forge forge;
	char event[64];	    /* the event header's value */
	char delivery[128]; /* delivery id, "" if none */
	bool ping;
	bool push;		     /* a push / tag push event */
	char repo[WEBHOOK_NAME_MAX]; /* owner/name */
	char ref[WEBHOOK_NAME_MAX];  /* refs/tags/..., refs/heads/... */
	char commit[72];	     /* hex object id ("" if deleted) */
	bool deleted;
};

/* The forge whose event header r carries.  Returns 0 and *ret, or
 * AOS_ENOTFOUND when r has none of them. */
int webhook_detect(const struct http_request *r, enum forge *ret);

/* What the headers alone tell of r's signature: present once and
 * well-formed; for GitLab, whose header is the token itself, whether it is
 * secret (in constant time).  Returns 0 (GitLab: verified; the others: the
 * body's HMAC is still to be checked), AOS_ENOTFOUND (no signature header)
 * or AOS_EAUTH; msg names the header, never the expected value. */
int webhook_verify_head(enum forge f, const struct http_request *r,
			const struct secret *secret, char *msg, size_t msglen);

/* Checks r's signature (or GitLab token) against secret, over the raw body,
 * in constant time.  Returns 0, AOS_ENOTFOUND (no signature header) or
 * AOS_EAUTH (wrong); msg names the header, never the expected value. */
int webhook_verify(enum forge f, const struct http_request *r,
		   const struct secret *secret, char *msg, size_t msglen);

/* Reads the event of an already verified request into *ret.  Returns 0, or
 * -EINVAL with msg naming what is malformed or missing. */
int webhook_parse(enum forge f, const struct http_request *r, struct webhook_event *ret,
		  char *msg, size_t msglen);

#endif
