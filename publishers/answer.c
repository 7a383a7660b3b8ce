/* answer.c - classification of registry answers. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "common/err.h"
#include "publishers/answer.h"
#include "publishers/pub_util.h"

#define SCAN_MAX (64 * 1024) /* bytes of a body looked at */
#define TEXT_MAX 4096	     /* bytes of text extracted from a body */

const char *answer_kind_name(enum answer_kind kind)
{
	switch (kind) {
	case ANSWER_OK: return "ok";
	case ANSWER_EXISTS: return "exists";
	case ANSWER_CONFLICT: return "conflict";
	case ANSWER_AUTH: return "auth";
	case ANSWER_RETRY: return "retry";
	case ANSWER_TOO_LARGE: return "too-large";
	case ANSWER_PERMANENT: return "permanent";
	}
	return "unknown";
}

long answer_retry_after(const char *value, time_t now)
{
	const char *p = value;
	long secs = 0;
	time_t t;

	while (*p == ' ' || *p == '\t')
		p++;
	if (*p >= '0' && *p <= '9') {
		for (; *p >= '0' && *p <= '9'; p++) {
			if (secs < ANSWER_RETRY_MAX)
				secs = secs * 10 + (*p - '0');
		}
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != '\0')
			return -1;
		return secs > ANSWER_RETRY_MAX ? ANSWER_RETRY_MAX : secs;
	}
	t = curl_getdate(p, NULL);
	if (t == -1)
		return -1;
	if (t <= now)
		return 0;
	return t - now > ANSWER_RETRY_MAX ? ANSWER_RETRY_MAX : (long)(t - now);
}

int answer_status_line(const char *line, size_t len, long *ret_status, char *out,
		       size_t outlen)
{
	const char *p = line, *end = line + len;
	long status = 0;
	int i;

	if (len < 12 || strncasecmp(line, "HTTP/", 5) != 0)
		return -EINVAL;
	while (p < end && *p != ' ')
		p++;
	while (p < end && *p == ' ')
		p++;
	for (i = 0; i < 3; i++, p++) {
		if (p >= end || *p < '0' || *p > '9')
			return -EINVAL;
		status = status * 10 + (*p - '0');
	}
	if (p < end && *p != ' ' && *p != '\r' && *p != '\n')
		return -EINVAL;
	while (p < end && *p == ' ')
		p++;
	while (end > p && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
		end--;
	pub__quote(p, (size_t)(end - p), out, outlen);
	*ret_status = status;
	return 0;
}

int answer_input_from_curl(CURL *h, struct answer_input *in)
{
	static const char *const names[] = {"Retry-After", "WWW-Authenticate", "Location",
					    "Content-Type"};
	const char **slots[] = {&in->retry_after, &in->www_authenticate, &in->location,
				&in->content_type};
	struct curl_header *hdr;
	long status = 0;
	size_t i;

	if (curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status) != CURLE_OK)
		return AOS_EHTTP;
	in->status = status;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		*slots[i] = NULL;
		if (curl_easy_header(h, names[i], 0, CURLH_HEADER, -1, &hdr) == CURLHE_OK)
			*slots[i] = hdr->value;
	}
	return 0;
}

/* Standard reason phrases carry no information of their own. */
static bool phrase_is_standard(const char *phrase)
{
	static const char *const std[] = {
	    "OK",
	    "Created",
	    "Accepted",
	    "No Content",
	    "Moved Permanently",
	    "Found",
	    "See Other",
	    "Temporary Redirect",
	    "Permanent Redirect",
	    "Bad Request",
	    "Unauthorized",
	    "Payment Required",
	    "Forbidden",
	    "Not Found",
	    "Method Not Allowed",
	    "Request Timeout",
	    "Conflict",
	    "Gone",
	    "Payload Too Large",
	    "Content Too Large",
	    "Request Entity Too Large",
	    "Unsupported Media Type",
	    "Unprocessable Entity",
	    "Unprocessable Content",
	    "Too Many Requests",
	    "Internal Server Error",
	    "Not Implemented",
	    "Bad Gateway",
	    "Service Unavailable",
	    "Gateway Timeout",
	};
	size_t i;

	for (i = 0; i < sizeof(std) / sizeof(std[0]); i++) {
		if (strcasecmp(phrase, std[i]) == 0)
			return true;
	}
	return phrase[0] == '\0';
}

/* Appends HTML text from s[0..n) to out (bounded), dropping tags and the
 * contents of <style> and <script>, decoding the common entities. */
static size_t html_text(const char *s, size_t n, char *out, size_t o, size_t cap)
{
	const char *p = s, *end = s + n, *gt, *semi;
	unsigned long code;

	while (p < end && o + 1 < cap) {
		if (*p == '<') {
			const char *close = NULL;
			bool skip = false;

			if ((size_t)(end - p) >= 6 && strncasecmp(p, "<style", 6) == 0) {
				skip = true;
				close = pub__memcasemem(p, (size_t)(end - p), "</style");
			} else if ((size_t)(end - p) >= 7 &&
				   strncasecmp(p, "<script", 7) == 0) {
				skip = true;
				close = pub__memcasemem(p, (size_t)(end - p), "</script");
			}
			if (skip)
				p = close != NULL ? close : end;
			gt = memchr(p, '>', (size_t)(end - p));
			p = gt != NULL ? gt + 1 : end;
			out[o++] = ' ';
			continue;
		}
		if (*p == '&' &&
		    (semi = memchr(p, ';',
				   (size_t)(end - p) < 10 ? (size_t)(end - p) : 10))) {
			char c = 0;

			if (strncmp(p, "&amp;", 5) == 0)
				c = '&';
			else if (strncmp(p, "&lt;", 4) == 0)
				c = '<';
			else if (strncmp(p, "&gt;", 4) == 0)
				c = '>';
			else if (strncmp(p, "&quot;", 6) == 0)
				c = '"';
			else if (strncmp(p, "&apos;", 6) == 0)
				c = '\'';
			else if (p[1] == '#') {
				code = p[2] == 'x' || p[2] == 'X'
					   ? strtoul(p + 3, NULL, 16)
					   : strtoul(p + 2, NULL, 10);
				c = code >= 0x20 && code < 0x7f ? (char)code : '?';
			}
			if (c != 0) {
				out[o++] = c;
				p = semi + 1;
				continue;
			}
		}
		out[o++] = *p++;
	}
	out[o] = '\0';
	return o;
}

/* The text of the first <tag>...</tag> in s, or NULL. */
static const char *element(const char *s, size_t n, const char *open, const char *close,
			   size_t *ret_len)
{
	const char *p = pub__memcasemem(s, n, open), *gt, *e;

	if (p == NULL)
		return NULL;
	gt = memchr(p, '>', (size_t)(s + n - p));
	if (gt == NULL)
		return NULL;
	gt++;
	e = pub__memcasemem(gt, (size_t)(s + n - gt), close);
	*ret_len = (size_t)((e != NULL ? e : s + n) - gt);
	return gt;
}

/* The server's message in a body: a JSON error field, the <pre> or <title>
 * of an HTML page, or the text itself. */
static void body_reason(const struct answer_input *in, char *out, size_t outlen)
{
	static const char *const keys[] = {"error", "message", "reason", "detail"};
	size_t n = in->body_len < SCAN_MAX ? in->body_len : SCAN_MAX, len = 0, i;
	const char *p = in->body, *t;
	char text[TEXT_MAX];
	cJSON *root, *item;

	out[0] = '\0';
	if (p == NULL || n == 0)
		return;
	while (n > 0 && isspace((unsigned char)*p)) {
		p++;
		n--;
	}
	if (n > 0 && *p == '{') {
		root = cJSON_ParseWithLength(p, n);
		for (i = 0; root != NULL && i < sizeof(keys) / sizeof(keys[0]); i++) {
			item = cJSON_GetObjectItemCaseSensitive(root, keys[i]);
			if (cJSON_IsString(item) && item->valuestring[0] != '\0') {
				pub__quote(item->valuestring, strlen(item->valuestring),
					   out, outlen);
				break;
			}
		}
		cJSON_Delete(root);
		if (out[0] != '\0')
			return;
	}
	if (pub__memcasemem(p, n, "<html") != NULL ||
	    pub__memcasemem(p, n, "<!doctype") != NULL) {
		if ((t = element(p, n, "<pre", "</pre", &len)) == NULL)
			t = element(p, n, "<title", "</title", &len);
		if (t == NULL) {
			t = p;
			len = n;
		}
		html_text(t, len, text, 0, sizeof(text));
		pub__quote(text, strlen(text), out, outlen);
		return;
	}
	pub__quote(p, n, out, outlen);
}

/* True if needle appears in the reason phrase or the body's first bytes. */
static bool says(const struct answer_input *in, const char *needle)
{
	size_t n = in->body_len < SCAN_MAX ? in->body_len : SCAN_MAX;

	if (in->reason_phrase != NULL &&
	    pub__memcasemem(in->reason_phrase, strlen(in->reason_phrase), needle) != NULL)
		return true;
	return in->body != NULL && pub__memcasemem(in->body, n, needle) != NULL;
}

static void set(struct answer *a, enum answer_kind kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set(struct answer *a, enum answer_kind kind, const char *fmt, ...)
{
	va_list ap;

	a->kind = kind;
	va_start(ap, fmt);
	vsnprintf(a->message, sizeof(a->message), fmt, ap);
	va_end(ap);
}

/* Outcomes both registry types share: success, redirects, throttling and
 * server errors.  Returns true if it classified the answer. */
static bool classify_common(const struct answer_input *in, struct answer *a)
{
	char q[PUB_QUOTE_MAX];
	long s = in->status;

	if (s >= 200 && s < 300) {
		set(a, ANSWER_OK, "published (%ld)", s);
		return true;
	}
	if (s >= 300 && s < 400) {
		set(a, ANSWER_PERMANENT,
		    "the registry redirected (%ld) to %s; redirects are not followed: "
		    "fix the registry URL (a missing trailing slash?)",
		    s,
		    in->location != NULL
			? pub__quote(in->location, strlen(in->location), q, sizeof(q))
			: "an unnamed place");
		return true;
	}
	if (s == 0 || s < 100 || s == 408 || s == 429 || (s >= 500 && s < 600) ||
	    s >= 600) {
		const char *what = s == 429   ? " (too many requests: rate-limited)"
				   : s == 503 ? " (unavailable: maintenance or overload)"
					      : "";

		if (a->retry_after >= 0)
			set(a, ANSWER_RETRY,
			    "the registry answered %ld%s; retry after %ld s", s, what,
			    a->retry_after);
		else if (s == 0)
			set(a, ANSWER_RETRY,
			    "no answer from the registry; retry with backoff");
		else
			set(a, ANSWER_RETRY,
			    "the registry answered %ld%s; retry with backoff", s, what);
		return true;
	}
	return false;
}

/* PyPI's answers are Warehouse's (pypi/warehouse, warehouse/forklift/
 * legacy.py: file_upload(); warehouse/forklift/decorators.py for the 403 on
 * bad credentials; warehouse/macaroons/caveats/__init__.py for a token
 * scoped to other projects), which puts its message in the status line
 * (forklift/utils.py: _exc_with_message).  pypiserver answers 409 for a
 * file it has, devpi 409 for a different file and 200 for an identical one
 * ("Upload of identical file to non volatile index."). */
static void classify_pypi(const struct answer_input *in, struct answer *a)
{
	long s = in->status;

	/* devpi's 200 for a file it had: said as "exists" once digests agree. */
	if (s == 200 && says(in, "upload of identical file")) {
		set(a, ANSWER_EXISTS,
		    "the registry already had this file (200, identical); compare "
		    "digests");
		return;
	}
	if (classify_common(in, a))
		return;
	if (s == 409 || (s == 400 && says(in, "already exists")))
		set(a, ANSWER_EXISTS,
		    "the registry already has this file (%ld); compare digests", s);
	else if (s == 400 && (says(in, "filename was previously used") ||
			      says(in, "filename has already been used") ||
			      says(in, "filename has been previously used")))
		set(a, ANSWER_CONFLICT,
		    "the registry refuses this file name for good (used before, then "
		    "deleted; PyPI never allows it again): release a post-release "
		    "(VERSION.post1) or a new version");
	else if (s == 403 && (says(in, "token is not valid for project") ||
			      says(in, "token isn't allowed to upload to project"))) {
		a->scoped_token = true;
		set(a, ANSWER_AUTH,
		    "the token is scoped to other projects (403): put a token scoped "
		    "to this project (or the account) in Vault");
	} else if (s == 401 || s == 403)
		set(a, ANSWER_AUTH,
		    "the registry refused the credentials (%ld): the token is wrong, "
		    "expired or revoked",
		    s);
	else if (s == 413)
		set(a, ANSWER_TOO_LARGE,
		    "the file is larger than the registry accepts (413): raise its limit "
		    "(devpi-server: --max-request-body-size, 1 GiB by default; a "
		    "proxy in front: its body size limit) or publish a smaller file");
	else if (s == 400)
		set(a, ANSWER_PERMANENT,
		    "the registry refused the upload (400): fix what its message names "
		    "(metadata, file name or contents) and build a new version");
	else
		set(a, ANSWER_PERMANENT, "the registry refused the upload (%ld)", s);
}

/* True if the WWW-Authenticate header lists scheme (as npm-registry-fetch's
 * check-response.js reads it: comma-separated, case-insensitive). */
static bool www_auth_lists(const struct answer_input *in, const char *scheme)
{
	const char *p = in->www_authenticate;
	size_t n = strlen(scheme), k;

	while (p != NULL && *p != '\0') {
		p += strspn(p, ", \t");
		k = strcspn(p, ",");
		while (k > 0 && (p[k - 1] == ' ' || p[k - 1] == '\t'))
			k--;
		if (k == n && strncasecmp(p, scheme, n) == 0)
			return true;
		p += strcspn(p, ",");
	}
	return false;
}

/* npm's answers: the registry's JSON {"error"} (npmjs) or verdaccio's.
 * The one-time-password and IP-address cases are read as npm itself does
 * (npm/cli: node_modules/npm-registry-fetch/lib/check-response.js: a 401
 * whose WWW-Authenticate lists "otp" or "ipaddress", or whose body says
 * "one-time pass"); lib/utils/error-message.js for EOTP, E404 (no such
 * package, or no permission on it) and EPUBLISHCONFLICT (403 "cannot
 * publish over the previously published versions").  A 409 is verdaccio's
 * "already present", or npmjs' CouchDB "Document update conflict" when
 * two writes of the packument raced: that one is tried again. */
static void classify_npm(const struct answer_input *in, struct answer *a)
{
	bool otp = www_auth_lists(in, "otp") || says(in, "one-time pass");
	long s = in->status;

	if (classify_common(in, a))
		return;
	if (s == 409 && says(in, "update conflict"))
		set(a, ANSWER_RETRY,
		    "the registry's package document changed under this publish "
		    "(409, E409): retry with backoff");
	else if (s == 409 ||
		 (s == 403 && (says(in, "cannot publish over") ||
			       says(in, "cannot modify pre-existing version"))))
		set(a, ANSWER_EXISTS,
		    "the registry already has this version (%ld); compare dist.integrity",
		    s);
	else if ((s == 401 || s == 403) && (otp || says(in, "two-factor")))
		set(a, ANSWER_PERMANENT,
		    "the registry asks for a one-time password (EOTP), which this daemon "
		    "never prompts for: put a granular access token allowed to bypass "
		    "2FA (or an automation token) in Vault");
	else if (s == 401 && www_auth_lists(in, "ipaddress"))
		set(a, ANSWER_PERMANENT,
		    "the token may not be used from this address (401, IP allowlist): "
		    "add the build host's address to the token's allowed ranges");
	else if (s == 401 || s == 403)
		set(a, ANSWER_AUTH, "the registry refused the token (%ld)", s);
	else if (s == 402)
		set(a, ANSWER_PERMANENT,
		    "payment required (402): a scoped package is private unless "
		    "access is \"public\"; set \"access\": \"public\" on the registry "
		    "in the configuration, or use a paid plan for private packages");
	else if (s == 404)
		set(a, ANSWER_PERMANENT,
		    "not found (404) on publish: the token may not publish this package "
		    "or scope (E404): check the scope exists and the token may write to "
		    "it");
	else if (s == 413)
		set(a, ANSWER_TOO_LARGE,
		    "the document is larger than the registry accepts (413; verdaccio's "
		    "max_body_size defaults to 10mb)");
	else
		set(a, ANSWER_PERMANENT, "the registry refused the publish (%ld)", s);
}

void answer_classify(enum registry_type type, const struct answer_input *in,
		     struct answer *ret)
{
	time_t now = in->now != 0 ? in->now : time(NULL);

	memset(ret, 0, sizeof(*ret));
	ret->status = in->status;
	ret->retry_after =
	    in->retry_after != NULL ? answer_retry_after(in->retry_after, now) : -1;
	if (in->reason_phrase != NULL && !phrase_is_standard(in->reason_phrase))
		pub__quote(in->reason_phrase, strlen(in->reason_phrase), ret->reason,
			   sizeof(ret->reason));
	else
		body_reason(in, ret->reason, sizeof(ret->reason));
	if (ret->reason[0] == '\0' && in->reason_phrase != NULL)
		pub__quote(in->reason_phrase, strlen(in->reason_phrase), ret->reason,
			   sizeof(ret->reason));
	if (type == REGISTRY_NPM)
		classify_npm(in, ret);
	else
		classify_pypi(in, ret);
}
