/* tls_fixture.h - a throwaway EC P-256 certificate and key for the TLS
 * tests (header only; used by test_tls.c and tests/fuzz/fuzz_tls.c).
 * tls_fixture_write() makes them and writes PEM files into dir. */
#ifndef AOS_TLS_FIXTURE_H
#define AOS_TLS_FIXTURE_H

#include <stdbool.h>
#include <stdio.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

static bool tls_fixture_pem(const char *path, EVP_PKEY *k, X509 *x)
{
	FILE *f = fopen(path, "w");
	bool ok = f != NULL;

	if (ok && k != NULL)
		ok = PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1;
	if (ok && x != NULL)
		ok = PEM_write_X509(f, x) == 1;
	if (f != NULL && fclose(f) != 0)
		ok = false;
	return ok;
}

/* A self-signed certificate for CN=name valid from now + from_s to now +
 * to_s, its key in key_path and itself in crt_path.  *ret_key (if not NULL)
 * gets the key (EVP_PKEY_free it).  Returns false on any failure. */
__attribute__((unused)) static bool tls_fixture_write(const char *crt_path,
						      const char *key_path,
						      const char *name, long from_s,
						      long to_s, EVP_PKEY **ret_key)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	X509_NAME *n;
	bool ok = false;

	if (k == NULL || x == NULL)
		goto out;
	ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
	X509_gmtime_adj(X509_getm_notBefore(x), from_s);
	X509_gmtime_adj(X509_getm_notAfter(x), to_s);
	X509_set_pubkey(x, k);
	n = X509_get_subject_name(x);
	X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)name, -1,
				   -1, 0);
	X509_set_issuer_name(x, n);
	ok = X509_sign(x, k, EVP_sha256()) != 0 && tls_fixture_pem(crt_path, NULL, x) &&
	     tls_fixture_pem(key_path, k, NULL);
out:
	X509_free(x);
	if (ok && ret_key != NULL)
		*ret_key = k;
	else
		EVP_PKEY_free(k);
	return ok;
}

#endif
