#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "artifact.h"
#include "err.h"
#include "npm.h"
#include "pub_err.h"
#include "pub_util.h"
#include "registry.h"
#include "semver.h"

#define NPM_TAG_MAX 128

struct npm_publish {
	struct npm_body *body;
	struct curl_slist *headers;
};

char *npm_package_url(const char *registry, const char *name)
{
	char *escaped, *url;
	const char *slash = strchr(name, '/');
	size_t n = strlen(name);

	escaped = malloc(n + 3);
	if (escaped == NULL)
		return NULL;
	if (name[0] == '@' && slash != NULL) {
		memcpy(escaped, name, (size_t)(slash - name));
		memcpy(escaped + (slash - name), "%2f", 3);
		memcpy(escaped + (slash - name) + 3, slash + 1,
		       n - (size_t)(slash - name));
	} else {
		memcpy(escaped, name, n + 1);
	}
	url = registry_join(registry, escaped);
	free(escaped);
	return url;
}

char *npm_tarball_url(const char *registry, const char *name, const char *version)
{
	size_t n = 2 * strlen(name) + strlen(version) + 16;
	char *seg = malloc(n), *url;

	if (seg == NULL)
		return NULL;
	snprintf(seg, n, "%s/-/%s-%s.tgz", name, name, version);
	url = registry_join(registry, seg);
	free(seg);
	return url;
}

/* A dist-tag is URL-safe and does not look like a version or a range
 * ("1.2", "v2", "x"): npm refuses those because "npm install pkg@<tag>"
 * would read them as versions. */
static bool tag_valid(const char *tag)
{
	const char *p = tag;
	size_t n = strlen(tag);

	if (n == 0 || n > NPM_TAG_MAX)
		return false;
	if (strspn(
		tag,
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._~-") !=
	    n)
		return false;
	if (*p == 'v' || *p == 'V' || *p == '=')
		p++;
	if (*p >= '0' && *p <= '9')
		return false;
	return strcmp(tag, "x") != 0 && strcmp(tag, "X") != 0;
}

int npm_dist_tag(const char *version, const char *tag, const char *current_latest,
		 const char **ret_tag, char *errbuf, size_t errlen)
{
	char q[PUB_QUOTE_MAX];
	bool implicit = tag == NULL || tag[0] == '\0';
	int cmp;

	if (!semver_valid(version)) {
		pub__errf(errbuf, errlen, "version %s is not a semantic version",
			  pub__quote(version, strlen(version), q, sizeof(q)));
		return PUB_ETAG;
	}
	if (!implicit && !tag_valid(tag)) {
		pub__errf(errbuf, errlen,
			  "dist-tag \"%s\" refused: use letters, digits, \".\", \"_\", "
			  "\"~\", \"-\", "
			  "not starting like a version",
			  pub__quote(tag, strlen(tag), q, sizeof(q)));
		return PUB_ETAG;
	}
	if (implicit && semver_is_prerelease(version)) {
		pub__errf(
		    errbuf, errlen,
		    "%s is a prerelease: it needs an explicit dist-tag (e.g. \"next\")",
		    version);
		return PUB_ETAG;
	}
	if (implicit)
		tag = "latest";
	if (strcmp(tag, "latest") == 0 && current_latest != NULL &&
	    semver_compare(version, current_latest, &cmp) == 0 && cmp < 0) {
		pub__errf(
		    errbuf, errlen,
		    "cannot move \"latest\" from %s down to %s: give another dist-tag",
		    pub__quote(current_latest, strlen(current_latest), q, sizeof(q)),
		    version);
		return PUB_ETAG;
	}
	*ret_tag = tag;
	return 0;
}

int npm_publish_setup(CURL *h, const struct artifact *a, const struct npm_publish_opts *o,
		      struct npm_publish **ret, char *errbuf, size_t errlen)
{
	struct npm_publish *p;
	char *url = NULL;
	int r;

	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return -ENOMEM;
	r = registry_check_url(o->registry, NULL, errbuf, errlen);
	if (r < 0)
		goto fail;
	r = npm_body_new(a, o, &p->body, errbuf, errlen);
	if (r < 0)
		goto fail;
	url = npm_package_url(o->registry, a->name);
	r = -ENOMEM;
	if (url == NULL ||
	    registry_header(&p->headers, "Content-Type: application/json") < 0 ||
	    registry_header(&p->headers, "Accept: application/json") < 0 ||
	    /* as npm: no 100-continue round trip before the body */
	    registry_header(&p->headers, "Expect:") < 0 ||
	    (o->token != NULL && registry_auth_bearer(&p->headers, o->token) < 0)) {
		pub__errf(errbuf, errlen, "%s: out of memory", a->filename);
		goto fail;
	}
	r = registry_easy_setup(h, url, errbuf, errlen);
	if (r < 0)
		goto fail;
	if (curl_easy_setopt(h, CURLOPT_UPLOAD, 1L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE,
			     (curl_off_t)npm_body_length(p->body)) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_READFUNCTION, npm_body_read) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_READDATA, p->body) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, npm_body_seek) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_SEEKDATA, p->body) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_HTTPHEADER, p->headers) != CURLE_OK) {
		pub__errf(errbuf, errlen, "%s: curl refused the publish options",
			  a->filename);
		r = AOS_EHTTP;
		goto fail;
	}
	free(url);
	*ret = p;
	return 0;
fail:
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h, CURLOPT_READDATA, NULL);
	curl_easy_setopt(h, CURLOPT_SEEKDATA, NULL);
	free(url);
	npm_publish_free(p);
	return r;
}

struct npm_body *npm_publish_body(struct npm_publish *p)
{
	return p->body;
}

void npm_publish_free(struct npm_publish *p)
{
	if (p == NULL)
		return;
	npm_body_free(p->body);
	registry_headers_free(p->headers);
	free(p);
}

int npm_packument_setup(CURL *h, const char *registry, const char *name,
			const struct secret *token, struct curl_slist **ret_headers,
			char *errbuf, size_t errlen)
{
	struct curl_slist *headers = NULL;
	char *url;
	int r;

	url = npm_package_url(registry, name);
	if (url == NULL)
		return -ENOMEM;
	r = registry_easy_setup(h, url, errbuf, errlen);
	free(url);
	if (r < 0)
		return r;
	/* The abbreviated document has dist-tags and every version's dist. */
	r = registry_header(&headers,
			    "Accept: application/vnd.npm.install-v1+json; q=1.0, "
			    "application/json; q=0.8, */*");
	if (r == 0 && token != NULL)
		r = registry_auth_bearer(&headers, token);
	if (r < 0) {
		registry_headers_free(headers);
		return r;
	}
	if (curl_easy_setopt(h, CURLOPT_HTTPGET, 1L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers) != CURLE_OK) {
		curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
		registry_headers_free(headers);
		pub__errf(errbuf, errlen, "curl refused the packument request options");
		return AOS_EHTTP;
	}
	*ret_headers = headers;
	return 0;
}
