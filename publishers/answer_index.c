/* answer_index.c - reading the documents that settle "already exists":
 * what a GET of an index or packument answered, PyPI's JSON API and simple
 * index pages, npm packuments. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "common/err.h"
#include "common/hex.h"
#include "common/url.h"
#include "publishers/answer.h"
#include "publishers/pub_err.h"
#include "publishers/pub_util.h"

static bool is_redirect(long status)
{
	return status == 301 || status == 302 || status == 303 || status == 307 ||
	       status == 308;
}

/* "GET URL: HTTP 303 See Other" into ret->said; returns its length. */
static size_t said_status(struct index_answer *ret, const char *url, long status,
			  const char *reason)
{
	char qu[ANSWER_URL_MAX], qr[PUB_QUOTE_MAX];
	int n;

	pub__quote(url, strlen(url), qu, sizeof(qu));
	if (reason != NULL && reason[0] != '\0')
		pub__quote(reason, strlen(reason), qr, sizeof(qr));
	else
		qr[0] = '\0';
	n = snprintf(ret->said, sizeof(ret->said), "GET %s: HTTP %ld%s%s", qu, status,
		     qr[0] != '\0' ? " " : "", qr);
	if (n < 0)
		return 0;
	return (size_t)n < sizeof(ret->said) ? (size_t)n : sizeof(ret->said) - 1;
}

static void said_more(struct index_answer *ret, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void said_more(struct index_answer *ret, size_t at, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(ret->said + at, sizeof(ret->said) - at, fmt, ap);
	va_end(ap);
}

/* A 3xx: where it points decides. */
static void index_redirect(const char *url, const char *location, unsigned hops,
			   size_t at, struct index_answer *ret)
{
	char where[ANSWER_URL_MAX], q[ANSWER_URL_MAX];

	ret->kind = INDEX_FAILED;
	if (location == NULL || location[0] == '\0') {
		said_more(ret, at, " without a Location header");
		return;
	}
	if (url_resolve(url, location, where, sizeof(where)) < 0) {
		said_more(ret, at, " to \"%s\", which is not a usable URL",
			  pub__quote(location, strlen(location), q, sizeof(q)));
		return;
	}
	pub__quote(where, strlen(where), q, sizeof(q));
	if (!url_same_origin(url, where)) {
		ret->kind = INDEX_ABSENT;
		said_more(ret, at,
			  " to %s, another origin (an upstream fallback): not on "
			  "this registry",
			  q);
		return;
	}
	if (hops >= ANSWER_INDEX_HOPS) {
		said_more(ret, at, " to %s: more than %d redirects, not followed", q,
			  ANSWER_INDEX_HOPS);
		return;
	}
	ret->kind = INDEX_FOLLOW;
	memcpy(ret->location, where, strlen(where) + 1);
	said_more(ret, at, " to %s (same origin: followed)", q);
}

void answer_index_classify(const char *url, long status, const char *reason,
			   const char *location, const char *error, unsigned hops,
			   struct index_answer *ret)
{
	char qu[ANSWER_URL_MAX], qe[PUB_QUOTE_MAX];
	size_t at;

	memset(ret, 0, sizeof(*ret));
	if (status == 0) {
		ret->kind = INDEX_RETRY;
		if (error != NULL)
			pub__quote(error, strlen(error), qe, sizeof(qe));
		else
			qe[0] = '\0';
		snprintf(ret->said, sizeof(ret->said), "GET %s: no answer%s%s",
			 pub__quote(url, strlen(url), qu, sizeof(qu)), qe[0] ? ": " : "",
			 qe);
		return;
	}
	at = said_status(ret, url, status, reason);
	if (status == 200)
		ret->kind = INDEX_FOUND;
	else if (status == 404 || status == 410) {
		ret->kind = INDEX_ABSENT;
		said_more(ret, at, " (not on this registry)");
	} else if (is_redirect(status))
		index_redirect(url, location, hops, at, ret);
	else if (status == 401 || status == 403)
		ret->kind = INDEX_AUTH;
	else if (status == 408 || status == 429 || status >= 500 || status < 100)
		ret->kind = INDEX_RETRY;
	else
		ret->kind = INDEX_FAILED;
}

static bool is_hex64(const char *s, size_t n)
{
	return n == AOS_SHA256_HEX_LEN && aos_is_hex(s, n, false);
}

static void copy_lower(char *out, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	out[n] = '\0';
}

/* Looks for filename in a JSON array of file objects. */
static int json_files(const cJSON *files, const char *name_key, const char *hash_key,
		      const char *filename, char *ret)
{
	const cJSON *f, *name, *hashes, *sha;

	cJSON_ArrayForEach(f, files)
	{
		name = cJSON_GetObjectItemCaseSensitive(f, name_key);
		if (!cJSON_IsString(name) || strcmp(name->valuestring, filename) != 0)
			continue;
		hashes = cJSON_GetObjectItemCaseSensitive(f, hash_key);
		sha = cJSON_GetObjectItemCaseSensitive(hashes, "sha256");
		if (!cJSON_IsString(sha) ||
		    !is_hex64(sha->valuestring, strlen(sha->valuestring)))
			return PUB_ENODIGEST;
		copy_lower(ret, sha->valuestring, 64);
		return 0;
	}
	return AOS_ENOTFOUND;
}

static int from_json(const char *body, size_t len, const char *filename, char *ret)
{
	cJSON *root = cJSON_ParseWithLength(body, len);
	const cJSON *files;
	int r = AOS_EPARSE;

	if (!cJSON_IsObject(root))
		goto out;
	if (cJSON_IsArray(files = cJSON_GetObjectItemCaseSensitive(root, "urls")))
		r = json_files(files, "filename", "digests", filename, ret);
	else if (cJSON_IsArray(files = cJSON_GetObjectItemCaseSensitive(root, "files")))
		r = json_files(files, "filename", "hashes", filename, ret);
out:
	cJSON_Delete(root);
	return r;
}

static int hex_value(char c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* Decodes %XX escapes of s[0..n) into out (outlen bytes); false if too long.
 * Reads only s[0..n): the page is not NUL-terminated (sscanf was, and read
 * on to the next NUL). */
static bool url_decode(const char *s, size_t n, char *out, size_t outlen)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		if (o + 1 >= outlen)
			return false;
		if (s[i] == '%' && i + 2 < n && isxdigit((unsigned char)s[i + 1]) &&
		    isxdigit((unsigned char)s[i + 2])) {
			out[o++] = (char)(hex_value(s[i + 1]) << 4 | hex_value(s[i + 2]));
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	return true;
}

/* Scans a PEP 503 page's anchors for one whose text or href file name is
 * filename, and reads "#sha256=..." from its href.  Every search starts
 * where the previous one of its kind ended, or reuses its result, so a page
 * is read in time linear in its length whatever it holds: a tag's '>' and
 * the next "</a>" serve every anchor before them, and an "<a" inside
 * another's tag makes the outer one no anchor. */
static int from_html(const char *body, size_t len, const char *filename, char *ret)
{
	const char *p = body, *end = body + len, *a, *href, *q, *frag, *base, *t;
	const char *gt = NULL, *close = NULL;
	char name[512];
	size_t hlen, flen = strlen(filename), tlen;
	bool seen_anchor = false, close_searched = false;

	while ((a = pub__memcasemem(p, (size_t)(end - p), "<a")) != NULL) {
		p = a + 2;
		if (gt == NULL || gt < p) {
			gt = memchr(p, '>', (size_t)(end - p));
			if (gt == NULL)
				break;
		}
		if ((q = pub__memcasemem(p, (size_t)(gt - p), "<a")) != NULL) {
			p = q;
			continue;
		}
		seen_anchor = true;
		href = pub__memcasemem(p, (size_t)(gt - p), "href=");
		if (href == NULL || href + 6 > gt || (href[5] != '"' && href[5] != '\''))
			continue;
		q = memchr(href + 6, href[5], (size_t)(gt - href - 6));
		if (q == NULL)
			continue;
		href += 6;
		hlen = (size_t)(q - href);
		if (!close_searched || (close != NULL && close < gt)) {
			close = pub__memcasemem(gt, (size_t)(end - gt), "</a>");
			close_searched = true;
		}
		tlen = close != NULL ? (size_t)(close - gt - 1) : 0;
		/* The anchor text, trimmed, or the href's last path segment. */
		t = gt + 1;
		while (tlen > 0 && isspace((unsigned char)*t)) {
			t++;
			tlen--;
		}
		while (tlen > 0 && isspace((unsigned char)t[tlen - 1]))
			tlen--;
		frag = memchr(href, '#', hlen);
		base = href;
		for (q = href; q < (frag != NULL ? frag : href + hlen) && *q != '?';
		     q++) {
			if (*q == '/')
				base = q + 1;
		}
		if (!(tlen == flen && memcmp(t, filename, flen) == 0) &&
		    !(url_decode(base, (size_t)(q - base), name, sizeof(name)) &&
		      strcmp(name, filename) == 0))
			continue;
		if (frag == NULL || href + hlen - frag < 8 ||
		    strncmp(frag, "#sha256=", 8) != 0 ||
		    !is_hex64(frag + 8, (size_t)(href + hlen - frag - 8)))
			return PUB_ENODIGEST;
		copy_lower(ret, frag + 8, 64);
		return 0;
	}
	return seen_anchor || pub__memcasemem(body, len, "<html") != NULL ? AOS_ENOTFOUND
									  : AOS_EPARSE;
}

enum pypi_page_format answer_pypi_page_format(const char *content_type)
{
	static const struct {
		const char *type;
		enum pypi_page_format format;
	} forms[] = {
	    {"application/vnd.pypi.simple.v1+json", PYPI_PAGE_JSON},
	    {"application/vnd.pypi.simple.v1+html", PYPI_PAGE_HTML},
	    {"text/html", PYPI_PAGE_HTML},
	    {"application/json", PYPI_PAGE_JSON_API},
	};
	size_t i, n;

	if (content_type == NULL)
		return PYPI_PAGE_UNKNOWN;
	while (*content_type == ' ' || *content_type == '\t')
		content_type++;
	n = strcspn(content_type, "; \t");
	for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		if (strlen(forms[i].type) == n &&
		    strncasecmp(content_type, forms[i].type, n) == 0)
			return forms[i].format;
	}
	return PYPI_PAGE_UNKNOWN;
}

const char *answer_pypi_page_format_name(enum pypi_page_format format)
{
	switch (format) {
	case PYPI_PAGE_JSON: return "PEP 691 JSON";
	case PYPI_PAGE_HTML: return "PEP 503 HTML";
	case PYPI_PAGE_JSON_API: return "JSON API";
	case PYPI_PAGE_UNKNOWN: break;
	}
	return "unknown form";
}

int answer_pypi_file_sha256(const char *body, size_t len, const char *filename,
			    char ret_sha256[65])
{
	size_t i = 0;

	if (body == NULL)
		return AOS_EPARSE;
	while (i < len && isspace((unsigned char)body[i]))
		i++;
	if (i < len && body[i] == '{')
		return from_json(body + i, len - i, filename, ret_sha256);
	return from_html(body, len, filename, ret_sha256);
}

static void copy_string(char *out, size_t outlen, const cJSON *item)
{
	size_t n;

	out[0] = '\0';
	if (!cJSON_IsString(item))
		return;
	n = strlen(item->valuestring);
	if (n >= outlen)
		return; /* over its bound: treated as absent */
	memcpy(out, item->valuestring, n + 1);
}

int answer_npm_packument(const char *body, size_t len, const char *version,
			 struct answer_packument *ret)
{
	const cJSON *tags, *versions, *v, *dist;
	cJSON *root;

	memset(ret, 0, sizeof(*ret));
	if (body == NULL)
		return AOS_EPARSE;
	root = cJSON_ParseWithLength(body, len);
	if (!cJSON_IsObject(root)) {
		cJSON_Delete(root);
		return AOS_EPARSE;
	}
	tags = cJSON_GetObjectItemCaseSensitive(root, "dist-tags");
	copy_string(ret->latest, sizeof(ret->latest),
		    cJSON_GetObjectItemCaseSensitive(tags, "latest"));
	ret->has_latest = ret->latest[0] != '\0';
	versions = cJSON_GetObjectItemCaseSensitive(root, "versions");
	v = version != NULL ? cJSON_GetObjectItemCaseSensitive(versions, version) : NULL;
	if (cJSON_IsObject(v)) {
		ret->has_version = true;
		dist = cJSON_GetObjectItemCaseSensitive(v, "dist");
		copy_string(ret->integrity, sizeof(ret->integrity),
			    cJSON_GetObjectItemCaseSensitive(dist, "integrity"));
		copy_string(ret->shasum, sizeof(ret->shasum),
			    cJSON_GetObjectItemCaseSensitive(dist, "shasum"));
	}
	cJSON_Delete(root);
	return 0;
}

enum answer_kind answer_pypi_identity(const char *filename, const char *ours,
				      const char *theirs, char *msg, size_t msglen)
{
	char q[PUB_QUOTE_MAX], qt[PUB_QUOTE_MAX];

	pub__quote(filename, strlen(filename), q, sizeof(q));
	if (strlen(ours) == 64 && strcasecmp(ours, theirs) == 0) {
		pub__errf(msg, msglen, "%s is already published with the same sha256 %s",
			  q, ours);
		return ANSWER_OK;
	}
	pub__errf(
	    msg, msglen,
	    "%s is already published with different content: registry sha256 %s, ours %s",
	    q, pub__quote(theirs, strlen(theirs), qt, sizeof(qt)), ours);
	return ANSWER_CONFLICT;
}

/* True if the space-separated SRI list has an entry equal to sri. */
static bool sri_listed(const char *list, const char *sri)
{
	size_t n = strlen(sri);
	const char *p = list;

	while (*p != '\0') {
		size_t k = strcspn(p, " \t\n");

		if (k >= n && strncmp(p, sri, n) == 0 && (k == n || p[n] == '?'))
			return true;
		p += k;
		p += strspn(p, " \t\n");
	}
	return false;
}

enum answer_kind answer_npm_identity(const char *spec, const char *our_sri,
				     const char *our_sha1,
				     const struct answer_packument *p, char *msg,
				     size_t msglen)
{
	char q[PUB_QUOTE_MAX], qt[PUB_QUOTE_MAX];

	pub__quote(spec, strlen(spec), q, sizeof(q));
	if (!p->has_version) {
		pub__errf(msg, msglen,
			  "%s: the registry says it exists but its packument lacks it",
			  q);
		return ANSWER_CONFLICT;
	}
	if (p->integrity[0] != '\0' && strstr(p->integrity, "sha512-") != NULL) {
		if (sri_listed(p->integrity, our_sri)) {
			pub__errf(msg, msglen,
				  "%s is already published with the same integrity", q);
			return ANSWER_OK;
		}
		pub__errf(msg, msglen,
			  "%s is already published with different content: registry %s, "
			  "ours %s",
			  q,
			  pub__quote(p->integrity, strlen(p->integrity), qt, sizeof(qt)),
			  our_sri);
		return ANSWER_CONFLICT;
	}
	if (p->shasum[0] != '\0' && strcasecmp(p->shasum, our_sha1) == 0) {
		pub__errf(msg, msglen, "%s is already published with the same shasum", q);
		return ANSWER_OK;
	}
	pub__errf(
	    msg, msglen,
	    "%s is already published with different content: registry shasum %s, ours %s",
	    q,
	    p->shasum[0] != '\0'
		? pub__quote(p->shasum, strlen(p->shasum), qt, sizeof(qt))
		: "(none)",
	    our_sha1);
	return ANSWER_CONFLICT;
}
