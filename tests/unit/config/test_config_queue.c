/* Unit tests for agent/config/config_queue.c: queue.postgresql.credentials,
 * a key of the Vault secret or a role of Vault's database secrets engine,
 * parsed as written, and every bad form refused naming its key path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config_fixture.h"

#define CRED "queue.postgresql.credentials"

/* "queue":{"postgresql":{"credentials":{CREDS}}} */
static void with(char *out, size_t len, const char *creds)
{
	snprintf(out, len, "\"queue\":{\"postgresql\":{\"credentials\":{%s}}}", creds);
}

static bool has_secret_key(const struct config *cfg, const char *key)
{
	size_t i;

	for (i = 0; i < cfg->nsecret_keys; i++)
		if (strcmp(cfg->secret_keys[i], key) == 0)
			return true;
	return false;
}

/* Without the section, or without credentials: libpq's own. */
static void test_none(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = parse_ok("");
	assert_int_equal(cfg->queue.pg_credentials.source, PG_CRED_NONE);
	assert_null(cfg->queue.pg_credentials.mount);
	config_free(cfg);
	cfg = parse_ok("\"queue\":{\"postgresql\":{}}");
	assert_int_equal(cfg->queue.pg_credentials.source, PG_CRED_NONE);
	config_free(cfg);
}

/* kv_key: the password is a key of the Vault secret, loaded with the
 * registries' tokens. */
static void test_kv_key(void **state)
{
	struct config *cfg;
	char s[512];

	(void)state;
	with(s, sizeof(s), "\"kv_key\":\"PG_PASSWORD\"");
	cfg = parse_ok(s);
	assert_int_equal(cfg->queue.pg_credentials.source, PG_CRED_KV);
	assert_string_equal(cfg->queue.pg_credentials.kv_key, "PG_PASSWORD");
	assert_null(cfg->queue.pg_credentials.database_role);
	assert_true(has_secret_key(cfg, "PG_PASSWORD"));
	assert_true(has_secret_key(cfg, "NPM_TOKEN"));
	config_free(cfg);
}

static void test_database_role(void **state)
{
	struct config *cfg;
	char s[512];

	(void)state;
	with(s, sizeof(s), "\"database_role\":\"aos-queue\"");
	cfg = parse_ok(s);
	assert_int_equal(cfg->queue.pg_credentials.source, PG_CRED_DATABASE);
	assert_string_equal(cfg->queue.pg_credentials.database_role, "aos-queue");
	assert_string_equal(cfg->queue.pg_credentials.mount, "database");
	assert_null(cfg->queue.pg_credentials.kv_key);
	assert_false(has_secret_key(cfg, "aos-queue"));
	config_free(cfg);

	with(s, sizeof(s), "\"database_role\":\"r.1_x\",\"mount\":\"team/db.prod\"");
	cfg = parse_ok(s);
	assert_string_equal(cfg->queue.pg_credentials.database_role, "r.1_x");
	assert_string_equal(cfg->queue.pg_credentials.mount, "team/db.prod");
	config_free(cfg);
}

static void test_errors(void **state)
{
	static const struct {
		const char *creds, *path, *want;
	} cases[] = {
	    {"", CRED, "missing; expected kv_key"},
	    {"\"kv_key\":\"K\",\"database_role\":\"r\"", CRED, "not both"},
	    {"\"kv_key\":\"K\",\"mount\":\"database\"", CRED ".mount",
	     "only with database_role"},
	    {"\"database_role\":\"r\",\"ttl\":5", CRED ".ttl", "unknown key"},
	    {"\"kv_key\":\"\"", CRED ".kv_key", "expected a non-empty string"},
	    {"\"kv_key\":7", CRED ".kv_key", "expected a non-empty string, got a number"},
	    {"\"database_role\":\"../sys/policy/x\"", CRED ".database_role",
	     "a letter or digit first"},
	    {"\"database_role\":\"a/b\"", CRED ".database_role", "got \"a/b\""},
	    {"\"database_role\":\"a b\"", CRED ".database_role", "got \"a b\""},
	    {"\"database_role\":\"r\",\"mount\":\"/database\"", CRED ".mount",
	     "no \"/\" at either end"},
	    {"\"database_role\":\"r\",\"mount\":\"database/\"", CRED ".mount",
	     "got \"database/\""},
	    {"\"database_role\":\"r\",\"mount\":\"a//b\"", CRED ".mount", "got \"a//b\""},
	    {"\"database_role\":\"r\",\"mount\":\"a/../sys\"", CRED ".mount",
	     "got \"a/../sys\""},
	    {"\"database_role\":\"r\",\"mount\":\"a?b\"", CRED ".mount", "got \"a?b\""},
	};
	char s[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		with(s, sizeof(s), cases[i].creds);
		expect_error(s, cases[i].path, cases[i].want);
	}
	expect_error("\"queue\":{\"postgresql\":[]}", "queue.postgresql",
		     "expected an object, got an array");
	expect_error("\"queue\":{\"postgresql\":{\"credentials\":\"x\"}}", CRED,
		     "expected an object, got a string");
	expect_error("\"queue\":{\"postgresql\":{\"host\":\"db\"}}",
		     "queue.postgresql.host", "unknown key");
}

/* The longest role name fits; one byte more is refused. */
static void test_bounds(void **state)
{
	char role[130], s[512];
	struct config *cfg;

	(void)state;
	memset(role, 'r', 127);
	role[127] = '\0';
	snprintf(s, sizeof(s),
		 "\"queue\":{\"postgresql\":{\"credentials\":"
		 "{\"database_role\":\"%s\"}}}",
		 role);
	cfg = parse_ok(s);
	assert_int_equal(strlen(cfg->queue.pg_credentials.database_role), 127);
	config_free(cfg);
	role[127] = 'r';
	role[128] = '\0';
	snprintf(s, sizeof(s),
		 "\"queue\":{\"postgresql\":{\"credentials\":"
		 "{\"database_role\":\"%s\"}}}",
		 role);
	expect_error(s, CRED ".database_role", "too long (at most 127 bytes)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_none),	  cmocka_unit_test(test_kv_key),
	    cmocka_unit_test(test_database_role), cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
