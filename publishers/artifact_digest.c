#include <errno.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>

#include "common/hex.h"
#include "publishers/crc32c.h"
#include "artifact_internal.h"

/* BLAKE2b-256 of the empty string, to check a candidate implementation. */
static const unsigned char blake2b_256_empty[32] = {
    0x0e, 0x57, 0x51, 0xc0, 0x26, 0xe5, 0x43, 0xb2, 0xe8, 0xab, 0x2e,
    0xb0, 0x60, 0x99, 0xda, 0xa1, 0xd1, 0xe5, 0xdf, 0x47, 0x77, 0x8f,
    0x77, 0x87, 0xfa, 0xab, 0x45, 0xcd, 0xf1, 0x2f, 0xe3, 0xa8,
};

/* Starts a BLAKE2b context with a 32-byte output: OpenSSL 3.2 and later
 * take a "size" parameter on BLAKE2B-512 (some builds name the digest
 * BLAKE2B-256).  BLAKE2B-512 cut to 32 bytes is a different function, and
 * OpenSSL 3.0 ignores the parameter, so each candidate must reproduce the
 * known digest of "" before it is used.  Returns a context or NULL. */
static EVP_MD_CTX *blake2b_256_new(void)
{
	static const char *const names[] = {"BLAKE2B-256", "BLAKE2B-512"};
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen;
	size_t size = 32;
	OSSL_PARAM params[2];
	EVP_MD_CTX *ctx, *probe;
	EVP_MD *alg;
	size_t i;
	bool ok;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		alg = EVP_MD_fetch(NULL, names[i], NULL);
		if (alg == NULL)
			continue;
		params[0] = OSSL_PARAM_construct_size_t("size", &size);
		params[1] = OSSL_PARAM_construct_end();
		ctx = EVP_MD_CTX_new();
		probe = EVP_MD_CTX_new();
		mdlen = 0;
		ok = ctx != NULL && probe != NULL &&
		     EVP_DigestInit_ex2(probe, alg, i == 0 ? NULL : params) == 1 &&
		     EVP_DigestFinal_ex(probe, md, &mdlen) == 1 && mdlen == 32 &&
		     memcmp(md, blake2b_256_empty, 32) == 0 &&
		     EVP_DigestInit_ex2(ctx, alg, i == 0 ? NULL : params) == 1;
		EVP_MD_CTX_free(probe);
		EVP_MD_free(alg);
		if (ok)
			return ctx;
		EVP_MD_CTX_free(ctx);
	}
	ERR_clear_error(); /* failed fetches leave errors queued */
	return NULL;
}

bool artifact_blake2b_256_available(void)
{
	EVP_MD_CTX *ctx = blake2b_256_new();

	EVP_MD_CTX_free(ctx);
	return ctx != NULL;
}

static EVP_MD_CTX *plain_new(const EVP_MD *md)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (ctx != NULL && EVP_DigestInit_ex(ctx, md, NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

/* The digest a split pass moves to its helper thread: the heaviest of the
 * kind (docs/benchmarks.md, "Digests on two threads"); a PyPI kind without
 * BLAKE2b-256 (OpenSSL 3.0, 3.1) moves its SHA-256, leaving the caller the
 * CRC-32C, the copy and libarchive. */
static unsigned split_of(const struct artifact_digests *d, enum artifact_kind kind)
{
	if (kind == ARTIFACT_NPM)
		return 1u << DG_SHA512;
	return d->ctx[DG_BLAKE2] != NULL ? 1u << DG_BLAKE2 : 1u << DG_SHA256;
}

int artifact__digests_init(struct artifact_digests *d, enum artifact_kind kind)
{
	memset(d, 0, sizeof(*d));
	d->md_update = EVP_DigestUpdate;
	d->ctx[DG_SHA256] = plain_new(EVP_sha256());
	if (d->ctx[DG_SHA256] == NULL)
		goto fail;
	if (kind == ARTIFACT_NPM) {
		d->ctx[DG_SHA512] = plain_new(EVP_sha512());
		d->ctx[DG_SHA1] = plain_new(EVP_sha1());
		if (d->ctx[DG_SHA512] == NULL || d->ctx[DG_SHA1] == NULL)
			goto fail;
	} else {
		d->ctx[DG_BLAKE2] = blake2b_256_new(); /* NULL: not offered */
	}
	d->split = split_of(d, kind);
	return 0;
fail:
	artifact__digests_free(d);
	return -ENOMEM;
}

int artifact__digests_split(struct artifact_digests *d)
{
	int r;

	if (d->helper != NULL || d->split == 0)
		return 0;
	r = artifact__helper_start(d, &d->helper);
	if (r < 0)
		d->split = 0; /* one thread from now on, and not tried again */
	return r;
}

int artifact__digests_wait(struct artifact_digests *d)
{
	return d->helper != NULL ? artifact__helper_wait(d->helper) : 0;
}

int artifact__digests_update(struct artifact_digests *d, const void *p, size_t n)
{
	unsigned theirs = 0;
	int i;

	if (d->helper != NULL) {
		if (artifact__helper_wait(d->helper) < 0)
			return -EIO;
		artifact__helper_post(d->helper, p, n);
		theirs = d->split;
	}
	d->crc32c = crc32c_update(d->crc32c, p, n);
	for (i = 0; i < DG_COUNT; i++) {
		if (d->ctx[i] != NULL && (theirs & (1u << i)) == 0 &&
		    d->md_update(d->ctx[i], p, n) != 1)
			return -EIO;
	}
	return 0;
}

int artifact__digests_final(struct artifact_digests *d, struct artifact *a)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int n;
	int i;

	if (artifact__digests_wait(d) < 0)
		return -EIO;
	artifact__helper_stop(d->helper); /* its contexts are the caller's again */
	d->helper = NULL;
	a->sha256[0] = a->blake2_256[0] = a->sha1[0] = a->sha512_sri[0] = '\0';
	a->crc32c = d->crc32c;
	for (i = 0; i < DG_COUNT; i++) {
		if (d->ctx[i] == NULL)
			continue;
		n = 0;
		if (EVP_DigestFinal_ex(d->ctx[i], md, &n) != 1)
			return -EIO;
		switch (i) {
		case DG_SHA256: aos_hex(md, 32, a->sha256); break;
		case DG_BLAKE2: aos_hex(md, 32, a->blake2_256); break;
		case DG_SHA1: aos_hex(md, 20, a->sha1); break;
		case DG_SHA512:
			memcpy(a->sha512_sri, "sha512-", 7);
			EVP_EncodeBlock((unsigned char *)a->sha512_sri + 7, md, 64);
			break;
		}
	}
	return 0;
}

void artifact__digests_free(struct artifact_digests *d)
{
	int i;

	artifact__helper_stop(d->helper);
	d->helper = NULL;
	for (i = 0; i < DG_COUNT; i++) {
		EVP_MD_CTX_free(d->ctx[i]);
		d->ctx[i] = NULL;
	}
}
