/* Unit tests for publishers/pypi_token.c: macaroons of binary format 2
 * built here field by field (as pymacaroons serializes Warehouse's tokens),
 * with the caveats of warehouse/macaroons/caveats/ in both the current
 * (tagged arrays) and the legacy (mappings) forms; and what is refused. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "common/err.h"
#include "publishers/pypi_token.h"

struct mac {
	unsigned char b[4096];
	size_t n;
};

static void put_varint(struct mac *m, uint64_t v)
{
	do {
		m->b[m->n++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v != 0);
}

static void put_field(struct mac *m, unsigned type, const char *data)
{
	size_t len = strlen(data);

	put_varint(m, type);
	put_varint(m, len);
	memcpy(m->b + m->n, data, len);
	m->n += len;
}

/* "pypi-" + base64url (no padding) of a macaroon with these caveats. */
static char *token_of(const char *const *caveats, size_t n)
{
	static char out[8192];
	struct mac m = {{0}, 0};
	char b64[6000];
	size_t i, len;

	m.b[m.n++] = 2;
	put_field(&m, 1, "pypi.org");
	put_field(&m, 2, "d3c5a0e7-0000-4000-8000-000000000001");
	m.b[m.n++] = 0;
	for (i = 0; i < n; i++) {
		put_field(&m, 2, caveats[i]);
		m.b[m.n++] = 0;
	}
	m.b[m.n++] = 0;
	put_field(&m, 6, "01234567890123456789012345678901");
	EVP_EncodeBlock((unsigned char *)b64, m.b, (int)m.n);
	len = strcspn(b64, "=");
	b64[len] = '\0';
	for (i = 0; i < len; i++)
		b64[i] = b64[i] == '+' ? '-' : b64[i] == '/' ? '_' : b64[i];
	snprintf(out, sizeof(out), "pypi-%s", b64);
	return out;
}

static struct pypi_token_info inspect_ok(const char *tok)
{
	struct pypi_token_info t;
	char err[256] = "";

	if (pypi_token_inspect(tok, strlen(tok), &t, err, sizeof(err)) != 0)
		fail_msg("refused: %s", err);
	return t;
}

static void test_current_caveats(void **state)
{
	static const char *const c[] = {
	    "[0,1893456000,1700000000]", /* expires 2030-01-01 */
	    "[1,[\"aos-sdk\",\"aos_helpers\"]]",
	};
	struct pypi_token_info t = inspect_ok(token_of(c, 2));

	(void)state;
	assert_int_equal(t.ncaveats, 2);
	assert_int_equal(t.unknown, 0);
	assert_int_equal(t.expires, 1893456000);
	assert_int_equal(t.not_before, 1700000000);
	assert_int_equal(t.nprojects, 2);
	assert_string_equal(t.projects[0], "aos-sdk");
	assert_string_equal(t.projects[1], "aos-helpers"); /* normalized */
	assert_true(pypi_token_allows(&t, "AOS_SDK"));
	assert_true(pypi_token_allows(&t, "aos.helpers"));
	assert_false(pypi_token_allows(&t, "other"));
}

/* Two name caveats: only what both allow; the earliest expiry wins. */
static void test_caveats_narrow(void **state)
{
	static const char *const c[] = {
	    "[1,[\"a\",\"b\"]]", "[1,[\"b\",\"c\"]]", "[0,2000000000,0]",
	    "[0,1900000000,0]",	 "[3,\"6f0c\"]",      "[9,\"new\"]",
	};
	struct pypi_token_info t = inspect_ok(token_of(c, 6));

	(void)state;
	assert_int_equal(t.nprojects, 1);
	assert_string_equal(t.projects[0], "b");
	assert_int_equal(t.expires, 1900000000);
	assert_true(t.user_bound);
	assert_int_equal(t.unknown, 1);
}

static void test_legacy_and_user_tokens(void **state)
{
	static const char *const legacy[] = {
	    "{\"version\":1,\"permissions\":{\"projects\":[\"Aos-SDK\"]}}",
	    "{\"exp\":1900000000,\"nbf\":1800000000}",
	};
	static const char *const user[] = {"{\"version\":1,\"permissions\":\"user\"}"};
	static const char *const ids[] = {"[2,[\"3f1d0b1a\"]]", "[4,\"oidc-1\"]"};
	struct pypi_token_info t = inspect_ok(token_of(legacy, 2));

	(void)state;
	assert_int_equal(t.nprojects, 1);
	assert_string_equal(t.projects[0], "aos-sdk");
	assert_int_equal(t.expires, 1900000000);
	assert_int_equal(t.not_before, 1800000000);
	t = inspect_ok(token_of(user, 1));
	assert_int_equal(t.nprojects, 0);
	assert_int_equal(t.unknown, 0);
	assert_true(pypi_token_allows(&t, "anything"));
	t = inspect_ok(token_of(NULL, 0));
	assert_int_equal(t.ncaveats, 0);
	t = inspect_ok(token_of(ids, 2));
	assert_true(t.by_project_id);
	assert_true(t.oidc);
}

static void test_disjoint_lists_allow_nothing(void **state)
{
	static const char *const c[] = {"[1,[\"a\"]]", "[1,[\"b\"]]"};
	struct pypi_token_info t = inspect_ok(token_of(c, 2));

	(void)state;
	assert_false(pypi_token_allows(&t, "a"));
	assert_false(pypi_token_allows(&t, "b"));
}

static void expect_refused(const char *tok, size_t len, int code, const char *want)
{
	struct pypi_token_info t;
	char err[256] = "";

	assert_int_equal(pypi_token_inspect(tok, len, &t, err, sizeof(err)), code);
	if (strstr(err, want) == NULL)
		fail_msg("\"%s\" lacks \"%s\"", err, want);
	assert_null(strstr(err, "AgEI")); /* never the token's text */
}

static void test_refused(void **state)
{
	char cut[512];
	const char *tok = token_of(NULL, 0);

	(void)state;
	expect_refused("npm_abcdef", 10, -EINVAL, "no \"pypi-\" prefix");
	expect_refused("pypi-AgEI+/==", 13, -EBADMSG, "not base64url");
	expect_refused("pypi-AQ", 7, -EBADMSG, "format 2"); /* version byte 1 */
	/* Cut inside the identifier's data: a field runs past the end. */
	snprintf(cut, sizeof(cut), "%.*s", 29, tok);
	expect_refused(cut, strlen(cut), -EBADMSG, "past the end");
}

static int projects(const char *tok, char *out, size_t outlen)
{
	return pypi_token_projects(tok, strlen(tok), out, outlen);
}

/* The names a refusal shows (issue 13): every name list, the legacy form,
 * none for a project-id restriction or an account-wide token. */
static void test_projects_named(void **state)
{
	const char *one[] = {"[0,1893456000,1700000000]", "[1,[\"aos-sdk\"]]"};
	const char *two[] = {"[1,[\"aos-sdk\",\"aos-cli\"]]"};
	const char *legacy[] = {
	    "{\"permissions\": {\"projects\": [\"aos-sdk\", \"other\"]}, "
	    "\"version\": 1}"};
	const char *by_id[] = {"[2,[\"7f1c-uuid\"]]"};
	char out[128];

	(void)state;
	assert_int_equal(projects(token_of(one, 2), out, sizeof(out)), 1);
	assert_string_equal(out, "aos-sdk");
	assert_int_equal(projects(token_of(two, 1), out, sizeof(out)), 2);
	assert_string_equal(out, "aos-sdk, aos-cli");
	assert_int_equal(projects(token_of(legacy, 1), out, sizeof(out)), 2);
	assert_string_equal(out, "aos-sdk, other");
	assert_int_equal(projects(token_of(by_id, 1), out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(projects(token_of(NULL, 0), out, sizeof(out)), 0);
}

/* Not a macaroon: AOS_EPARSE; too long: AOS_ETOOBIG; a name past out's room
 * is counted, not cut in half. */
static void test_projects_refused_and_small_out(void **state)
{
	const char *bad[] = {"[1,[\"a\\\"b\"]]", "[1,[\"unterminated"};
	const char *two[] = {"[1,[\"aos-sdk\",\"a-very-long-project-name\"]]"};
	static char big[PYPI_TOKEN_MAX + 16];
	char out[16];

	(void)state;
	assert_int_equal(projects("pypi-", out, sizeof(out)), AOS_EPARSE);
	assert_int_equal(projects("npm_abcdef", out, sizeof(out)), AOS_EPARSE);
	assert_int_equal(projects("pypi-!!!!", out, sizeof(out)), AOS_EPARSE);
	assert_int_equal(projects("pypi-QUJDREVGR0g", out, sizeof(out)), AOS_EPARSE);
	memset(big, 'A', sizeof(big) - 1);
	memcpy(big, "pypi-", 5);
	assert_int_equal(projects(big, out, sizeof(out)), AOS_ETOOBIG);
	/* A name list with no valid name allows nothing: said as "(none)"; a
	 * caveat that is not JSON is one this reader does not know. */
	assert_int_equal(projects(token_of(&bad[0], 1), out, sizeof(out)), 1);
	assert_string_equal(out, "(none)");
	assert_int_equal(projects(token_of(&bad[1], 1), out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(projects(token_of(two, 1), out, sizeof(out)), 2);
	assert_string_equal(out, "aos-sdk");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_current_caveats),
	    cmocka_unit_test(test_caveats_narrow),
	    cmocka_unit_test(test_legacy_and_user_tokens),
	    cmocka_unit_test(test_disjoint_lists_allow_nothing),
	    cmocka_unit_test(test_refused),
	    cmocka_unit_test(test_projects_named),
	    cmocka_unit_test(test_projects_refused_and_small_out),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
