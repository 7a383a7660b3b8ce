/* request.c - configuring easy handles for Vault calls and reading status. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <openssl/crypto.h>

#include "common/err.h"
#include "common/url.h"
#include "vault/vault.h"

static int add_header(struct curl_slist **l, const char *h)
{
	struct curl_slist *n = curl_slist_append(*l, h);

	if (n == NULL)
		return -ENOMEM;
	*l = n;
	return 0;
}

void vault_headers_free(struct curl_slist *headers)
{
	struct curl_slist *p;

	for (p = headers; p != NULL; p = p->next)
		OPENSSL_cleanse(p->data, strlen(p->data));
	curl_slist_free_all(headers);
}

int vault_request_setup(CURL *h, const struct vault_conn *c, const char *method,
			const char *path, const char *body, const struct secret *token,
			struct curl_slist **ret_headers)
{
	struct curl_slist *hdrs = NULL;
	const char *custom = NULL;
	char url[VAULT_URL_MAX];
	char tokhdr[64 + 4096];
	size_t alen;
	int n, r;

	alen = strlen(c->address);
	while (alen > 0 && c->address[alen - 1] == '/')
		alen--;
	n = snprintf(url, sizeof(url), "%.*s/v1/%s", (int)alen, c->address, path);
	if (n < 0 || (size_t)n >= sizeof(url))
		return -EINVAL;

	r = add_header(&hdrs, "X-Vault-Request: true");
	if (r == 0 && c->namespace != NULL && c->namespace[0] != '\0') {
		char ns[512];

		n = snprintf(ns, sizeof(ns), "X-Vault-Namespace: %s", c->namespace);
		r = (n < 0 || (size_t)n >= sizeof(ns)) ? -EINVAL : add_header(&hdrs, ns);
	}
	if (r == 0 && body != NULL)
		r = add_header(&hdrs, "Content-Type: application/json");
	if (r == 0 && token != NULL) {
		n = snprintf(tokhdr, sizeof(tokhdr), "X-Vault-Token: %s",
			     secret_value(token));
		r = (n < 0 || (size_t)n >= sizeof(tokhdr)) ? -EINVAL
							   : add_header(&hdrs, tokhdr);
		OPENSSL_cleanse(tokhdr, sizeof(tokhdr));
	}
	/* Without this curl would add "Expect: 100-continue" to larger POSTs. */
	if (r == 0)
		r = add_header(&hdrs, "Expect:");
	if (r < 0)
		goto out;

	if (curl_easy_setopt(h, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs) != CURLE_OK) {
		r = -EINVAL;
		goto out;
	}
	if (strcmp(method, "GET") == 0) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	} else {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body != NULL ? body : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE,
				 (long)(body != NULL ? strlen(body) : 0));
	}
	/* Set or clear: a reused handle must not keep an earlier method. */
	if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
		custom = method;
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, custom);
	/* Standby nodes answer 307 to the active node: the caller decides
	 * (vault_redirect_next), never libcurl. */
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	if (c->ca_file != NULL)
		curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
	if (c->ca_path != NULL)
		curl_easy_setopt(h, CURLOPT_CAPATH, c->ca_path);
	*ret_headers = hdrs;
	hdrs = NULL; /* transferred */
	r = 0;
out:
	vault_headers_free(hdrs);
	return r;
}

bool vault_is_redirect(long status)
{
	return status == 301 || status == 302 || status == 303 || status == 307 ||
	       status == 308;
}

int vault_redirect_next(const struct vault_conn *c, const char *url, const char *location,
			unsigned hops, char *next, size_t nextlen, char *errbuf,
			size_t errlen)
{
	char want[URL_ORIGIN_MAX], got[URL_ORIGIN_MAX];

	if (url_origin(c->address, want, sizeof(want)) < 0)
		snprintf(want, sizeof(want), "%s", c->address);
	if (location == NULL || location[0] == '\0') {
		snprintf(errbuf, errlen,
			 "Vault at %s answered a redirect without a Location", want);
		return AOS_EREDIRECT;
	}
	if (hops >= VAULT_MAX_REDIRECTS) {
		snprintf(
		    errbuf, errlen,
		    "Vault at %s redirected more than %d times (a loop?); "
		    "set vault.address (or BAO_ADDR/VAULT_ADDR) to the active node's address",
		    want, VAULT_MAX_REDIRECTS);
		return AOS_EREDIRECT;
	}
	if (url_resolve(url, location, next, nextlen) < 0 ||
	    url_origin(next, got, sizeof(got)) < 0) {
		snprintf(errbuf, errlen,
			 "Vault at %s redirected to an invalid or too long "
			 "Location; not followed",
			 want);
		return AOS_EREDIRECT;
	}
	if (strcmp(got, want) != 0) {
		/* The request carries the token or the AppRole credentials. */
		snprintf(
		    errbuf, errlen,
		    "Vault at %s redirected to %s, another origin; not "
		    "followed, so that the Vault token and credentials go nowhere else: "
		    "if that is the active node, set vault.address (or BAO_ADDR/VAULT_ADDR) "
		    "to its address",
		    want, got);
		return AOS_EREDIRECT;
	}
	return 0;
}

/* Joins the "errors" array of a Vault answer into out. */
static void vault_errors_text(const char *body, size_t len, char *out, size_t outlen)
{
	cJSON *root, *errs, *e;
	size_t n = 0;

	out[0] = '\0';
	if (body == NULL || len == 0)
		return;
	root = cJSON_ParseWithLength(body, len);
	errs = cJSON_GetObjectItemCaseSensitive(root, "errors");
	cJSON_ArrayForEach(e, errs)
	{
		int w;

		if (!cJSON_IsString(e))
			continue;
		w = snprintf(out + n, outlen - n, "%s%s", n ? "; " : "", e->valuestring);
		if (w < 0 || (size_t)w >= outlen - n)
			break;
		n += (size_t)w;
	}
	cJSON_Delete(root);
}

int vault_check_status(long status, const char *body, size_t len, char *errbuf,
		       size_t errlen)
{
	char text[512];

	if (status >= 200 && status < 300)
		return 0;
	vault_errors_text(body, len, text, sizeof(text));
	if (text[0] == '\0')
		snprintf(text, sizeof(text), "no error text");
	snprintf(errbuf, errlen, "HTTP %ld: %s", status, text);
	switch (status) {
	case 400:
		if (strstr(text, "invalid role or secret ID") != NULL ||
		    strstr(text, "invalid secret id") != NULL ||
		    strstr(text, "invalid role ID") != NULL ||
		    strstr(text, "invalid role_id") != NULL)
			return AOS_EAUTH;
		return AOS_ESERVER;
	case 401:
	case 403: return AOS_EDENIED;
	case 404: return AOS_ENOTFOUND;
	case 412:
	case 429: return AOS_ESTANDBY;
	case 503: return AOS_ESEALED;
	default: return AOS_ESERVER;
	}
}
