/* hex.c - lower-case hexadecimal and the field hash.  See hex.h. */
#include <errno.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/hex.h"

void aos_hex(const unsigned char *p, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 0xf];
	}
	out[2 * n] = '\0';
}

static bool hex_digit(char c, bool lower_only)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	       (!lower_only && c >= 'A' && c <= 'F');
}

bool aos_is_hex(const char *s, size_t n, bool lower_only)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!hex_digit(s[i], lower_only))
			return false;
	return true;
}

int aos_sha256_fields(const char *const *fields, size_t n, char *out)
{
	unsigned char md[32];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int r = 0;
	size_t i;

	if (ctx == NULL)
		return -ENOMEM;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		r = -ENOMEM;
	for (i = 0; r == 0 && i < n; i++)
		if (EVP_DigestUpdate(ctx, fields[i], strlen(fields[i]) + 1) != 1)
			r = -ENOMEM;
	if (r == 0 && EVP_DigestFinal_ex(ctx, md, NULL) != 1)
		r = -ENOMEM;
	EVP_MD_CTX_free(ctx);
	if (r == 0)
		aos_hex(md, sizeof(md), out);
	return r;
}
