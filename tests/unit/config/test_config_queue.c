/* Unit tests for agent/config/config_queue.c: queue.backend, the
 * connection settings of queue.postgresql (sslmode's default by the kind
 * of host, the rules between the keys) and queue.postgresql.credentials, a
 * key of the Vault secret or a role of Vault's database secrets engine,
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

#define PGQ "\"queue\":{\"backend\":\"postgresql\",\"postgresql\":"
/* A socket's settings: no TLS keys needed. */
#define SOCK "\"host\":\"/run/postgresql\",\"database\":\"aos\""

/* The PostgreSQL backend on a socket with credentials {CREDS}, and a user
 * unless they name a database_role (Vault names the user then). */
static void with(char *out, size_t len, const char *creds)
{
	snprintf(out, len, PGQ "{" SOCK "%s,\"credentials\":{%s}}}",
		 strstr(creds, "database_role") == NULL ? ",\"user\":\"aos\"" : "",
		 creds);
}

/* The PostgreSQL backend with the settings KEYS. */
static void pg_with(char *out, size_t len, const char *keys)
{
	snprintf(out, len, PGQ "{%s}}", keys);
}

static bool has_secret_key(const struct config *cfg, const char *key)
{
	size_t i;

	for (i = 0; i < cfg->nsecret_keys; i++)
		if (strcmp(cfg->secret_keys[i], key) == 0)
			return true;
	return false;
}

/* Without the section, SQLite; without credentials: libpq's own. */
static void test_none(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = parse_ok("");
	assert_int_equal(cfg->queue.backend, QUEUE_BACKEND_SQLITE);
	assert_int_equal(cfg->queue.pg_credentials.source, PG_CRED_NONE);
	assert_null(cfg->queue.pg_credentials.mount);
	assert_null(cfg->queue.pg.host);
	config_free(cfg);
	cfg = parse_ok(PGQ "{" SOCK ",\"user\":\"aos\"}}");
	assert_int_equal(cfg->queue.backend, QUEUE_BACKEND_POSTGRESQL);
	assert_int_equal(cfg->queue.pg_credentials.source, PG_CRED_NONE);
	config_free(cfg);
}

/* sslmode as written: require anywhere, plain TCP on loopback only. */
static void test_sslmodes(void)
{
	static const struct {
		const char *host, *mode;
		int want;
	} cases[] = {
	    {"10.0.0.5", "require", PG_SSL_REQUIRE},
	    {"127.0.0.1", "disable", PG_SSL_DISABLE},
	    {"127.9.9.9", "disable", PG_SSL_DISABLE},
	    {"::1", "disable", PG_SSL_DISABLE},
	    {"localhost", "disable", PG_SSL_DISABLE},
	};
	struct config *cfg;
	char s[1024];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(s, sizeof(s),
			 PGQ "{\"host\":\"%s\",\"database\":\"q\",\"user\":\"u\","
			     "\"sslmode\":\"%s\"}}",
			 cases[i].host, cases[i].mode);
		cfg = parse_ok(s);
		assert_int_equal(cfg->queue.pg.sslmode, cases[i].want);
		config_free(cfg);
	}
}

/* Each key as written; sslmode's default follows the host: a socket has
 * no TLS, a host gets verify-full. */
static void test_settings(void **state)
{
	struct config *cfg;
	char s[1024];

	(void)state;
	cfg = parse_ok(PGQ "{" SOCK ",\"user\":\"aos\"}}");
	assert_string_equal(cfg->queue.pg.host, "/run/postgresql");
	assert_string_equal(cfg->queue.pg.database, "aos");
	assert_string_equal(cfg->queue.pg.user, "aos");
	assert_int_equal(cfg->queue.pg.port, 5432);
	assert_int_equal(cfg->queue.pg.sslmode, PG_SSL_DISABLE);
	assert_null(cfg->queue.pg.sslrootcert);
	assert_int_equal(cfg->queue.pg.connect_timeout_s, 10);
	config_free(cfg);

	pg_with(s, sizeof(s),
		"\"host\":\"db.example.test\",\"port\":6432,\"database\":\"q\","
		"\"user\":\"u\",\"sslrootcert\":\"/etc/aos/pg-ca.pem\","
		"\"connect_timeout_s\":3");
	cfg = parse_ok(s);
	assert_string_equal(cfg->queue.pg.host, "db.example.test");
	assert_int_equal(cfg->queue.pg.port, 6432);
	assert_int_equal(cfg->queue.pg.sslmode, PG_SSL_VERIFY_FULL);
	assert_string_equal(pg_sslmode_name(cfg->queue.pg.sslmode), "verify-full");
	assert_string_equal(cfg->queue.pg.sslrootcert, "/etc/aos/pg-ca.pem");
	assert_int_equal(cfg->queue.pg.connect_timeout_s, 3);
	config_free(cfg);

	test_sslmodes();
}

/* The connection's rules, each refused naming the key and the fix. */
static void test_settings_errors(void **state)
{
	static const struct {
		const char *keys, *path, *want;
	} cases[] = {
	    {"\"host\":\"db\",\"database\":\"q\",\"user\":\"u\",\"sslmode\":\"prefer\"",
	     "queue.postgresql.sslmode",
	     "expected \"disable\", \"require\", \"verify-ca\" or \"verify-full\""},
	    {"\"host\":\"db\",\"database\":\"q\",\"user\":\"u\"",
	     "queue.postgresql.sslrootcert", "missing: sslmode \"verify-full\""},
	    {"\"host\":\"db\",\"database\":\"q\",\"user\":\"u\",\"sslmode\":\"verify-ca\"",
	     "queue.postgresql.sslrootcert", "missing: sslmode \"verify-ca\""},
	    {"\"host\":\"db.example.test\",\"database\":\"q\",\"user\":\"u\","
	     "\"sslmode\":\"disable\"",
	     "queue.postgresql.sslmode", "in clear"},
	    {"\"host\":\"128.0.0.1\",\"database\":\"q\",\"user\":\"u\","
	     "\"sslmode\":\"disable\"",
	     "queue.postgresql.sslmode", "loopback address or a Unix socket only"},
	    {SOCK ",\"user\":\"u\",\"sslmode\":\"require\"", "queue.postgresql.sslmode",
	     "no TLS on a socket"},
	    {SOCK ",\"user\":\"u\",\"sslrootcert\":\"/ca.pem\"",
	     "queue.postgresql.sslrootcert", "only with TLS"},
	    {"\"host\":\"db\",\"database\":\"q\",\"user\":\"u\",\"sslrootcert\":\"ca.pem\"",
	     "queue.postgresql.sslrootcert", "expected an absolute path"},
	    {"\"host\":\"/run/../tmp\",\"database\":\"q\",\"user\":\"u\"",
	     "queue.postgresql.host", "without \"..\""},
	    {SOCK, "queue.postgresql.user", "missing; give the database user"},
	    {SOCK ",\"user\":\"u\",\"credentials\":{\"database_role\":\"r\"}",
	     "queue.postgresql.user", "not with credentials.database_role"},
	    {"\"database\":\"q\",\"user\":\"u\"", "queue.postgresql.host", "missing"},
	    {"\"host\":\"/s\",\"user\":\"u\"", "queue.postgresql.database", "missing"},
	    {SOCK ",\"user\":\"u\",\"port\":0", "queue.postgresql.port", "1 to 65535"},
	    {SOCK ",\"user\":\"u\",\"connect_timeout_s\":0",
	     "queue.postgresql.connect_timeout_s", "1 to 300"},
	};
	char s[1024];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		pg_with(s, sizeof(s), cases[i].keys);
		expect_error(s, cases[i].path, cases[i].want);
	}
	/* the backend and the section go together */
	expect_error("\"queue\":{\"postgresql\":{" SOCK ",\"user\":\"u\"}}",
		     "queue.postgresql", "queue.backend is \"sqlite\"");
	expect_error("\"queue\":{\"backend\":\"sqlite\",\"postgresql\":{}}",
		     "queue.postgresql", "set queue.backend to \"postgresql\"");
	expect_error("\"queue\":{\"backend\":\"postgresql\"}", "queue.postgresql",
		     "missing: queue.backend \"postgresql\" needs");
	expect_error("\"queue\":{\"backend\":\"mysql\"}", "queue.backend",
		     "expected \"sqlite\" or \"postgresql\", got \"mysql\"");
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
	expect_error(PGQ "[]}", "queue.postgresql", "expected an object, got an array");
	expect_error(PGQ "{" SOCK ",\"user\":\"u\",\"credentials\":\"x\"}}", CRED,
		     "expected an object, got a string");
	expect_error(PGQ "{" SOCK ",\"user\":\"u\",\"options\":\"-c x=1\"}}",
		     "queue.postgresql.options", "unknown key");
}

/* The longest role name fits; one byte more is refused. */
static void test_bounds(void **state)
{
	char role[130], cr[200], s[512];
	struct config *cfg;

	(void)state;
	memset(role, 'r', 127);
	role[127] = '\0';
	snprintf(cr, sizeof(cr), "\"database_role\":\"%s\"", role);
	with(s, sizeof(s), cr);
	cfg = parse_ok(s);
	assert_int_equal(strlen(cfg->queue.pg_credentials.database_role), 127);
	config_free(cfg);
	role[127] = 'r';
	role[128] = '\0';
	snprintf(cr, sizeof(cr), "\"database_role\":\"%s\"", role);
	with(s, sizeof(s), cr);
	expect_error(s, CRED ".database_role", "too long (at most 127 bytes)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_none),
	    cmocka_unit_test(test_kv_key),
	    cmocka_unit_test(test_database_role),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_bounds),
	    cmocka_unit_test(test_settings),
	    cmocka_unit_test(test_settings_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
