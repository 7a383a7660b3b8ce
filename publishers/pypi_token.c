/* pypi_token.c - the projects a PyPI macaroon is limited to. */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "err.h"
#include "pypi_token.h"

#define PREFIX "pypi-"

/* base64url (padding optional) of in[0..n) into out; returns the number of
 * bytes decoded, or -1. */
static int b64url_decode(const char *in, size_t n, unsigned char *out, char *scratch)
{
	size_t i;
	int r;

	for (i = 0; i < n; i++) {
		char c = in[i];

		if (c == '-')
			c = '+';
		else if (c == '_')
			c = '/';
		else if (c == '=' || !((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
				       (c >= '0' && c <= '9')))
			break;
		scratch[i] = c;
	}
	if (i != n && in[i] != '=')
		return -1;
	n = i;
	while (n % 4 != 0)
		scratch[n++] = '=';
	r = EVP_DecodeBlock(out, (const unsigned char *)scratch, (int)n);
	return r;
}

/* Reads a JSON array of plain strings at p (after '['), appending each to
 * out; returns how many, or -1 if it is not one. */
static int names_at(const unsigned char *p, const unsigned char *end, char *out,
		    size_t outlen)
{
	size_t o = strlen(out);
	int count = 0;

	while (p < end) {
		const unsigned char *s;

		while (p < end && (*p == ' ' || *p == ','))
			p++;
		if (p < end && *p == ']')
			return count;
		if (p >= end || *p != '"')
			return -1;
		for (s = ++p; p < end && *p != '"'; p++) {
			if (*p < 0x21 || *p > 0x7e || *p == '\\')
				return -1;
		}
		if (p >= end)
			return -1;
		if (o + (size_t)(p - s) + 3 < outlen) {
			o +=
			    (size_t)snprintf(out + o, outlen - o, "%s%.*s", o ? ", " : "",
					     (int)(p - s), (const char *)s);
		}
		count++;
		p++;
	}
	return -1;
}

/* The first occurrence of needle in h[0..n), or NULL. */
static const unsigned char *find(const unsigned char *h, size_t n, const char *needle)
{
	size_t k = strlen(needle);

	return k <= n ? memmem(h, n, needle, k) : NULL;
}

int pypi_token_projects(const char *token, size_t len, char *out, size_t outlen)
{
	static const char *const openers[] = {"[1,[", "\"projects\": [",
					      "\"projects\":["};
	unsigned char raw[PYPI_TOKEN_MAX];
	char scratch[PYPI_TOKEN_MAX + 4];
	const unsigned char *p;
	int n, count = 0;
	size_t i;

	if (outlen > 0)
		out[0] = '\0';
	if (len < sizeof(PREFIX) || memcmp(token, PREFIX, sizeof(PREFIX) - 1) != 0)
		return AOS_EPARSE;
	if (len - (sizeof(PREFIX) - 1) > PYPI_TOKEN_MAX)
		return AOS_ETOOBIG;
	n = b64url_decode(token + sizeof(PREFIX) - 1, len - (sizeof(PREFIX) - 1), raw,
			  scratch);
	/* V2: a version byte of 2, then the fields. */
	if (n < 2 || raw[0] != 2) {
		count = AOS_EPARSE;
		goto out;
	}
	for (i = 0; i < sizeof(openers) / sizeof(openers[0]) && count == 0; i++) {
		p = find(raw, (size_t)n, openers[i]);
		if (p != NULL && outlen > 0) {
			count = names_at(p + strlen(openers[i]), raw + n, out, outlen);
			if (count < 0) {
				count = 0;
				out[0] = '\0';
			}
		}
	}
out:
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(scratch, sizeof(scratch));
	return count;
}
