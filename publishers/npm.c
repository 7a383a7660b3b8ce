#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "publishers/artifact.h"
#include "publishers/npm.h"
#include "publishers/pub_err.h"
#include "publishers/pub_util.h"
#include "publishers/registry.h"

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
	char *url = npm_package_url(registry, name);
	int r;

	if (url == NULL)
		return -ENOMEM;
	/* The abbreviated document has dist-tags and every version's dist. */
	r = registry_get_setup(h, url,
			       "Accept: application/vnd.npm.install-v1+json; q=1.0, "
			       "application/json; q=0.8, */*",
			       token, "packument", ret_headers, errbuf, errlen);
	free(url);
	return r;
}
