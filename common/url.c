/* url.c - origins of URLs, parsed with libcurl's URL API. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "common/err.h"
#include "common/url.h"

int url_origin(const char *url, char *out, size_t outlen)
{
	char *scheme = NULL, *host = NULL, *port = NULL, *p;
	CURLU *u = curl_url();
	int n, r = AOS_EPARSE;

	if (u == NULL)
		return -ENOMEM;
	if (url == NULL || curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK ||
	    host[0] == '\0')
		goto out;
	for (p = scheme; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	for (p = host; *p != '\0'; p++)
		*p = (char)tolower((unsigned char)*p);
	n = snprintf(out, outlen, "%s://%s:%s", scheme, host, port);
	r = (n < 0 || (size_t)n >= outlen) ? AOS_ETOOBIG : 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
	return r;
}

bool url_same_origin(const char *a, const char *b)
{
	char oa[URL_ORIGIN_MAX], ob[URL_ORIGIN_MAX];

	return url_origin(a, oa, sizeof(oa)) == 0 && url_origin(b, ob, sizeof(ob)) == 0 &&
	       strcmp(oa, ob) == 0;
}

int url_resolve(const char *base, const char *ref, char *out, size_t outlen)
{
	CURLU *u = curl_url();
	char *full = NULL;
	int r = AOS_EPARSE;

	if (u == NULL)
		return -ENOMEM;
	/* With a URL already in the handle, a relative ref is resolved
	 * against it (RFC 3986); an absolute one replaces it. */
	if (curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
	    curl_url_set(u, CURLUPART_URL, ref, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_URL, &full, 0) == CURLUE_OK) {
		r = strlen(full) < outlen ? 0 : AOS_ETOOBIG;
		if (r == 0)
			memcpy(out, full, strlen(full) + 1);
	}
	curl_free(full);
	curl_url_cleanup(u);
	return r;
}
