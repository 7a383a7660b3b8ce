#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/err.h"
#include "common/secret.h"
#include "publishers/pub_err.h"
#include "publishers/pub_util.h"
#include "publishers/registry.h"

static bool host_is_loopback(const char *host)
{
	struct in6_addr a6;
	struct in_addr a4;
	char buf[64];
	size_t n;

	if (strcasecmp(host, "localhost") == 0)
		return true;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	n = strlen(host);
	if (n < 3 || n >= sizeof(buf) + 2 || host[0] != '[' || host[n - 1] != ']')
		return false;
	memcpy(buf, host + 1, n - 2);
	buf[n - 2] = '\0';
	if (inet_pton(AF_INET6, buf, &a6) != 1)
		return false;
	if (IN6_IS_ADDR_LOOPBACK(&a6))
		return true;
	return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
}

int registry_check_url(const char *url, bool *ret_loopback, char *errbuf, size_t errlen)
{
	char *scheme = NULL, *host = NULL, *user = NULL, q[PUB_QUOTE_MAX];
	CURLU *u = curl_url();
	bool loopback = false;
	int r = PUB_EURL;

	pub__quote(url, strlen(url), q, sizeof(q));
	if (u == NULL)
		return -ENOMEM;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK) {
		pub__errf(errbuf, errlen, "registry URL %s: not an absolute URL", q);
		goto out;
	}
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK) {
		pub__errf(errbuf, errlen,
			  "registry URL %s: user info in the URL is refused (tokens "
			  "come from the secret store)",
			  q);
		goto out;
	}
	loopback = host_is_loopback(host);
	if (strcmp(scheme, "https") != 0 && !(strcmp(scheme, "http") == 0 && loopback)) {
		pub__errf(errbuf, errlen,
			  "registry URL %s: must be https (http only to a loopback host)",
			  q);
		goto out;
	}
	if (ret_loopback != NULL)
		*ret_loopback = loopback;
	r = 0;
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_url_cleanup(u);
	return r;
}

int registry_easy_setup(CURL *h, const char *url, char *errbuf, size_t errlen)
{
	const char *protos;
	bool loopback = false;
	int r;

	r = registry_check_url(url, &loopback, errbuf, errlen);
	if (r < 0)
		return r;
	protos = strncasecmp(url, "http:", 5) == 0 ? "http" : "https";
	if (curl_easy_setopt(h, CURLOPT_URL, url) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, protos) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, protos) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 0L) != CURLE_OK ||
	    curl_easy_setopt(h, CURLOPT_USERAGENT, REGISTRY_USER_AGENT) != CURLE_OK) {
		pub__errf(errbuf, errlen, "curl refused the registry request options");
		return AOS_EHTTP;
	}
	return 0;
}

/* Appends "Authorization: <scheme> <cred>" where cred is clen bytes, built
 * in the secure heap. */
static int auth_header(struct curl_slist **list, const char *scheme, const char *cred,
		       size_t clen)
{
	size_t n = strlen("Authorization: ") + strlen(scheme) + 1 + clen + 1;
	struct curl_slist *l;
	char *line;

	line = OPENSSL_secure_malloc(n);
	if (line == NULL)
		return -ENOMEM;
	memcpy(line, "Authorization: ", 15);
	memcpy(line + 15, scheme, strlen(scheme));
	line[15 + strlen(scheme)] = ' ';
	memcpy(line + 16 + strlen(scheme), cred, clen);
	line[n - 1] = '\0';
	l = curl_slist_append(*list, line);
	OPENSSL_secure_clear_free(line, n);
	if (l == NULL)
		return -ENOMEM;
	*list = l;
	return 0;
}

int registry_auth_basic(struct curl_slist **list, const char *user,
			const struct secret *token)
{
	size_t ulen = strlen(user), tlen = secret_len(token);
	size_t plain_len = ulen + 1 + tlen, b64_len = 4 * ((plain_len + 2) / 3) + 1;
	char *plain, *b64;
	int r = -ENOMEM;

	plain = OPENSSL_secure_malloc(plain_len);
	b64 = OPENSSL_secure_malloc(b64_len);
	if (plain == NULL || b64 == NULL)
		goto out;
	memcpy(plain, user, ulen);
	plain[ulen] = ':';
	memcpy(plain + ulen + 1, secret_value(token), tlen);
	EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)plain,
			(int)plain_len);
	r = auth_header(list, "Basic", b64, b64_len - 1);
out:
	if (plain != NULL)
		OPENSSL_secure_clear_free(plain, plain_len);
	if (b64 != NULL)
		OPENSSL_secure_clear_free(b64, b64_len);
	return r;
}

int registry_auth_bearer(struct curl_slist **list, const struct secret *token)
{
	return auth_header(list, "Bearer", secret_value(token), secret_len(token));
}

int registry_header(struct curl_slist **list, const char *line)
{
	struct curl_slist *l = curl_slist_append(*list, line);

	if (l == NULL)
		return -ENOMEM;
	*list = l;
	return 0;
}

void registry_headers_free(struct curl_slist *list)
{
	struct curl_slist *l;

	for (l = list; l != NULL; l = l->next) {
		if (l->data != NULL)
			OPENSSL_cleanse(l->data, strlen(l->data));
	}
	curl_slist_free_all(list);
}

int registry_get_setup(CURL *h, const char *url, const char *accept,
		       const struct secret *token, const char *what,
		       struct curl_slist **ret_headers, char *errbuf, size_t errlen)
{
	struct curl_slist *headers = NULL;
	int r = registry_easy_setup(h, url, errbuf, errlen);

	if (r < 0)
		return r;
	r = registry_header(&headers, accept);
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
		pub__errf(errbuf, errlen, "curl refused the %s request options", what);
		return AOS_EHTTP;
	}
	*ret_headers = headers;
	return 0;
}

char *registry_join(const char *base, const char *segment)
{
	size_t bl = strlen(base), sl;
	char *p;

	while (bl > 0 && base[bl - 1] == '/')
		bl--;
	while (*segment == '/')
		segment++;
	sl = strlen(segment);
	p = malloc(bl + 1 + sl + 1);
	if (p == NULL)
		return NULL;
	memcpy(p, base, bl);
	p[bl] = '/';
	memcpy(p + bl + 1, segment, sl);
	p[bl + 1 + sl] = '\0';
	return p;
}
