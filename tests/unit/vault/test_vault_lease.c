/* Unit tests for the dynamic secrets of vault/parse.c: the database secrets
 * engine's credentials (GET <mount>/creds/<role>), a lease's renewal
 * (PUT sys/leases/renew) and its request body.  The answers are shaped as
 * OpenBao 2.7 writes them; every value is an obviously fake string. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "common/buf.h"
#include "common/err.h"
#include "common/secret.h"
#include "vault/vault.h"

#define LEN(s) strlen(s)

static int setup(void **state)
{
	(void)state;
	return secret_init_process(64 * 1024) == 0 ? 0 : -1;
}

static const char creds_answer[] =
    "{\"request_id\":\"0d1e2f30-1111-2222-3333-444455556666\","
    "\"lease_id\":\"database/creds/aos/test-lease-1\",\"renewable\":true,"
    "\"lease_duration\":6,\"data\":{\"password\":\"test-db-password\","
    "\"username\":\"v-token-aos-test-1700000000\"},\"wrap_info\":null,"
    "\"warnings\":null,\"auth\":null}\n";

static const char renew_answer[] =
    "{\"request_id\":\"a2\",\"lease_id\":\"database/creds/aos/test-lease-1\","
    "\"renewable\":true,\"lease_duration\":3,\"data\":null,\"wrap_info\":null,"
    "\"warnings\":[\"TTL of \\\"6s\\\" exceeded the effective max_ttl of "
    "\\\"3s\\\"; TTL value is capped accordingly\"],\"auth\":null}";

static void test_db_creds(void **state)
{
	struct vault_db_creds c = {0};
	size_t live = secret_live_count();
	char err[256];

	(void)state;
	assert_int_equal(
	    vault_parse_db_creds(creds_answer, LEN(creds_answer), &c, err, sizeof(err)),
	    0);
	assert_string_equal(c.username, "v-token-aos-test-1700000000");
	assert_non_null(c.password);
	assert_string_equal(secret_value(c.password), "test-db-password");
	assert_string_equal(c.lease.id, "database/creds/aos/test-lease-1");
	assert_int_equal(c.lease.duration_s, 6);
	assert_true(c.lease.renewable);
	assert_int_equal(secret_live_count(), live + 1);
	secret_unref(c.password);
	assert_int_equal(secret_live_count(), live);
}

/* Every missing or unusable field is refused by name, and no password is
 * left allocated. */
static void test_db_creds_errors(void **state)
{
	static const struct {
		const char *body, *error;
	} cases[] = {
	    {"[]", "not a JSON object"},
	    {"{\"lease_id\":\"l\",\"lease_duration\":6}", "no \"data\" object"},
	    {"{\"lease_id\":\"l\",\"lease_duration\":6,\"data\":{\"password\":\"p\"}}",
	     "data.username"},
	    {"{\"lease_id\":\"l\",\"lease_duration\":6,\"data\":{\"username\":\"u\"}}",
	     "data.password"},
	    {"{\"lease_id\":\"l\",\"lease_duration\":6,\"data\":{\"username\":\"u\","
	     "\"password\":\"\"}}",
	     "data.password"},
	    {"{\"lease_id\":\"l\",\"lease_duration\":6,\"data\":{\"username\":\"u v\","
	     "\"password\":\"p\"}}",
	     "data.username"},
	    {"{\"lease_id\":\"\",\"lease_duration\":6,\"data\":{\"username\":\"u\","
	     "\"password\":\"p\"}}",
	     "lease_id"},
	    {"{\"lease_id\":\"l\",\"lease_duration\":0,\"data\":{\"username\":\"u\","
	     "\"password\":\"p\"}}",
	     "lease_duration"},
	    {"{\"lease_id\":\"l\",\"lease_duration\":\"6\",\"data\":{\"username\":\"u\","
	     "\"password\":\"p\"}}",
	     "lease_duration"},
	};
	size_t live = secret_live_count(), i;
	char err[256];

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct vault_db_creds c = {0};

		err[0] = '\0';
		assert_int_equal(vault_parse_db_creds(cases[i].body, LEN(cases[i].body),
						      &c, err, sizeof(err)),
				 AOS_EPARSE);
		assert_non_null(strstr(err, cases[i].error));
		assert_null(c.password);
		assert_int_equal(secret_live_count(), live);
	}
}

/* A username or lease id longer than its buffer is refused, not cut. */
static void test_db_creds_bounds(void **state)
{
	struct vault_db_creds c = {0};
	char body[2048], name[VAULT_DB_USER_MAX + 1], err[256];

	(void)state;
	memset(name, 'u', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	snprintf(body, sizeof(body),
		 "{\"lease_id\":\"l\",\"lease_duration\":6,\"data\":{\"username\":\"%s\","
		 "\"password\":\"p\"}}",
		 name);
	assert_int_equal(vault_parse_db_creds(body, LEN(body), &c, err, sizeof(err)),
			 AOS_EPARSE);
	name[VAULT_DB_USER_MAX - 1] = '\0'; /* the longest that fits */
	snprintf(body, sizeof(body),
		 "{\"lease_id\":\"l\",\"lease_duration\":6,\"data\":{\"username\":\"%s\","
		 "\"password\":\"p\"}}",
		 name);
	assert_int_equal(vault_parse_db_creds(body, LEN(body), &c, err, sizeof(err)), 0);
	assert_int_equal(strlen(c.username), VAULT_DB_USER_MAX - 1);
	secret_unref(c.password);
}

static void test_lease_renew(void **state)
{
	struct vault_lease l = {0};
	char err[256];

	(void)state;
	assert_int_equal(vault_parse_lease_renew(renew_answer, LEN(renew_answer), &l, err,
						 sizeof(err)),
			 0);
	assert_string_equal(l.id, "database/creds/aos/test-lease-1");
	assert_int_equal(l.duration_s, 3);
	assert_true(l.renewable);
	assert_int_equal(
	    vault_parse_lease_renew("{\"lease_id\":\"x\"}", 16, &l, err, sizeof(err)),
	    AOS_EPARSE);
	assert_non_null(strstr(err, "lease_duration"));
}

static void test_lease_renew_body(void **state)
{
	struct buf out;

	(void)state;
	buf_init(&out, 1024);
	assert_int_equal(buf_puts(&out, "stale"), 0);
	assert_int_equal(vault_lease_renew_body("database/creds/aos/\"x\"", 6, &out), 0);
	assert_string_equal(
	    out.data, "{\"lease_id\":\"database/creds/aos/\\\"x\\\"\",\"increment\":6}");
	buf_free(&out);
	buf_init(&out, 16);
	assert_int_equal(vault_lease_renew_body("database/creds/aos/1", 6, &out),
			 AOS_ETOOBIG);
	buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_db_creds),
	    cmocka_unit_test(test_db_creds_errors),
	    cmocka_unit_test(test_db_creds_bounds),
	    cmocka_unit_test(test_lease_renew),
	    cmocka_unit_test(test_lease_renew_body),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
