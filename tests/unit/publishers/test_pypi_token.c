/* Unit tests for publishers/pypi_token: the projects a PyPI macaroon is
 * limited to, read from tokens built here in pymacaroons' V2 form with
 * Warehouse's caveats (warehouse/macaroons/caveats/_core.py). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "common/err.h"
#include "publishers/pypi_token.h"

/* Appends one V2 field: type, varint length (short here), bytes. */
static size_t field(unsigned char *b, size_t o, unsigned type, const char *v, size_t n)
{
	b[o++] = (unsigned char)type;
	b[o++] = (unsigned char)n;
	memcpy(b + o, v, n);
	return o + n;
}

/* "pypi-" + base64url (no padding) of a V2 macaroon with these caveats. */
static void make_token(char *out, const char *const *caveats, size_t ncav)
{
	unsigned char b[2048], enc[3000];
	size_t o = 0, i;
	int n;

	b[o++] = 2;
	o = field(b, o, 1, "pypi.example", 12);
	o = field(b, o, 2, "id-0123456789", 13);
	b[o++] = 0;
	for (i = 0; i < ncav; i++) {
		o = field(b, o, 2, caveats[i], strlen(caveats[i]));
		b[o++] = 0;
	}
	b[o++] = 0;
	b[o++] = 6;
	b[o++] = 32;
	memset(b + o, 0xa5, 32);
	o += 32;
	n = EVP_EncodeBlock(enc, b, (int)o);
	while (n > 0 && enc[n - 1] == '=')
		n--;
	for (i = 0; i < (size_t)n; i++)
		enc[i] = enc[i] == '+' ? '-' : enc[i] == '/' ? '_' : enc[i];
	snprintf(out, 3100, "pypi-%.*s", n, (const char *)enc);
}

static int projects(const char *tok, char *out, size_t outlen)
{
	return pypi_token_projects(tok, strlen(tok), out, outlen);
}

static void test_scoped(void **state)
{
	const char *one[] = {"[0,1893456000,1700000000]", "[1,[\"aos-sdk\"]]"};
	const char *two[] = {"[1,[\"aos-sdk\",\"aos-cli\"]]"};
	const char *legacy[] = {
	    "{\"permissions\": {\"projects\": [\"aos-sdk\", \"other\"]}, "
	    "\"version\": 1}"};
	const char *by_id[] = {"[2,[\"7f1c-uuid\"]]"};
	char tok[3100], out[128];

	(void)state;
	make_token(tok, one, 2);
	assert_int_equal(projects(tok, out, sizeof(out)), 1);
	assert_string_equal(out, "aos-sdk");
	make_token(tok, two, 1);
	assert_int_equal(projects(tok, out, sizeof(out)), 2);
	assert_string_equal(out, "aos-sdk, aos-cli");
	make_token(tok, legacy, 1);
	assert_int_equal(projects(tok, out, sizeof(out)), 2);
	assert_string_equal(out, "aos-sdk, other");
	make_token(tok, by_id, 1);
	assert_int_equal(projects(tok, out, sizeof(out)), 0);
	assert_string_equal(out, "");
	make_token(tok, NULL, 0);
	assert_int_equal(projects(tok, out, sizeof(out)), 0);
}

static void test_not_a_macaroon(void **state)
{
	const char *bad[] = {"[1,[\"a\\\"b\"]]", "[1,[\"unterminated"};
	char tok[3100], big[PYPI_TOKEN_MAX + 16], out[64];
	size_t i;

	(void)state;
	assert_int_equal(projects("pypi-", out, sizeof(out)), AOS_EPARSE);
	assert_int_equal(projects("npm_abcdef", out, sizeof(out)), AOS_EPARSE);
	assert_int_equal(projects("pypi-!!!!", out, sizeof(out)), AOS_EPARSE);
	/* Valid base64, not a V2 macaroon (htpasswd passwords of the tests). */
	assert_int_equal(projects("pypi-QUJDREVGR0g", out, sizeof(out)), AOS_EPARSE);
	memset(big, 'A', sizeof(big) - 1);
	memcpy(big, "pypi-", 5);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(projects(big, out, sizeof(out)), AOS_ETOOBIG);
	for (i = 0; i < 2; i++) {
		make_token(tok, &bad[i], 1);
		assert_int_equal(projects(tok, out, sizeof(out)), 0);
		assert_string_equal(out, "");
	}
}

/* Names past out's room are counted, not cut in half. */
static void test_small_out(void **state)
{
	const char *two[] = {"[1,[\"aos-sdk\",\"a-very-long-project-name\"]]"};
	char tok[3100], out[16];

	(void)state;
	make_token(tok, two, 1);
	assert_int_equal(projects(tok, out, sizeof(out)), 2);
	assert_string_equal(out, "aos-sdk");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_scoped),
	    cmocka_unit_test(test_not_a_macaroon),
	    cmocka_unit_test(test_small_out),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
