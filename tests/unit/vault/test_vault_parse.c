/* Unit tests for vault/parse.c: reading Vault/OpenBao answers and building
 * request bodies.  The answers are shaped like OpenBao 2.x output; every
 * token-like value is an obviously fake string. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cjson/cJSON.h>
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

/* ---- login / renew ---- */

static const char login_answer[] =
    "{\"request_id\":\"5b1c0e36-8f0e-4d39-9a7a-0b7c1d2e3f40\",\"lease_id\":\"\","
    "\"renewable\":false,\"lease_duration\":0,\"data\":null,\"wrap_info\":null,"
    "\"warnings\":null,\"auth\":{\"client_token\":\"test-token-value\","
    "\"accessor\":\"test-accessor-value\",\"policies\":[\"default\",\"publisher\"],"
    "\"token_policies\":[\"default\",\"publisher\"],\"metadata\":{\"role_name\":"
    "\"publisher\"},\"lease_duration\":3600,\"renewable\":true,\"entity_id\":"
    "\"0f6f1c7e-1111-2222-3333-444455556666\",\"token_type\":\"service\","
    "\"orphan\":true,\"mfa_requirement\":null,\"num_uses\":0}}\n";

static const char renew_answer[] =
    "{\"request_id\":\"a1\",\"lease_id\":\"\",\"renewable\":false,\"lease_duration\":0,"
    "\"data\":null,\"wrap_info\":null,\"warnings\":[\"TTL of \\\"768h\\\" exceeded the "
    "effective max_ttl of \\\"2h\\\"; TTL value is capped accordingly\"],\"auth\":{"
    "\"client_token\":\"test-token-value\",\"accessor\":\"test-accessor-value\","
    "\"policies\":[\"default\"],\"token_policies\":[\"default\"],\"metadata\":null,"
    "\"lease_duration\":7200,\"renewable\":false,\"entity_id\":\"\","
    "\"token_type\":\"service\",\"orphan\":false,\"mfa_requirement\":null,"
    "\"num_uses\":0}}";

static void test_auth_login(void **state)
{
	struct vault_token_info info = {0};
	char err[256];
	size_t live = secret_live_count();

	(void)state;
	assert_int_equal(vault_parse_auth(login_answer, LEN(login_answer), true, &info,
					  err, sizeof(err)),
			 0);
	assert_non_null(info.token);
	assert_string_equal(secret_value(info.token), "test-token-value");
	assert_int_equal(info.ttl_s, 3600);
	assert_true(info.renewable);
	assert_int_equal(secret_live_count(), live + 1);
	secret_unref(info.token);
	assert_int_equal(secret_live_count(), live);
}

static void test_auth_renew(void **state)
{
	struct vault_token_info info = {0};
	char err[256];
	size_t live = secret_live_count();

	(void)state;
	assert_int_equal(vault_parse_auth(renew_answer, LEN(renew_answer), false, &info,
					  err, sizeof(err)),
			 0);
	assert_null(info.token);
	assert_int_equal(info.ttl_s, 7200);
	assert_false(info.renewable);
	assert_int_equal(secret_live_count(), live);
}

static void test_auth_errors(void **state)
{
	struct vault_token_info info = {.ttl_s = 99};
	char err[256];
	const char *b;

	(void)state;
	/* A lookup answer handed to the login parser: no "auth". */
	b = "{\"data\":{\"ttl\":5},\"auth\":null}";
	assert_int_equal(vault_parse_auth(b, LEN(b), true, &info, err, sizeof(err)),
			 AOS_EPARSE);
	assert_non_null(strstr(err, "\"auth\""));
	b = "{\"auth\":{\"client_token\":\"test-token-value\",\"renewable\":true}}";
	assert_int_equal(vault_parse_auth(b, LEN(b), true, &info, err, sizeof(err)),
			 AOS_EPARSE);
	assert_non_null(strstr(err, "lease_duration"));
	b = "{\"auth\":{\"client_token\":\"x\",\"lease_duration\":\"3600\"}}";
	assert_int_equal(vault_parse_auth(b, LEN(b), true, &info, err, sizeof(err)),
			 AOS_EPARSE);
	b = "{\"auth\":{\"client_token\":\"x\",\"lease_duration\":-1}}";
	assert_int_equal(vault_parse_auth(b, LEN(b), true, &info, err, sizeof(err)),
			 AOS_EPARSE);
	b = "{\"auth\":{\"lease_duration\":60}}";
	assert_int_equal(vault_parse_auth(b, LEN(b), true, &info, err, sizeof(err)),
			 AOS_EPARSE);
	assert_non_null(strstr(err, "client_token"));
	b = "{\"auth\":{\"client_token\":\"\",\"lease_duration\":60}}";
	assert_int_equal(vault_parse_auth(b, LEN(b), true, &info, err, sizeof(err)),
			 AOS_EPARSE);
	b = "{\"auth\":{\"client_token\":7,\"lease_duration\":60}}";
	assert_int_equal(vault_parse_auth(b, LEN(b), true, &info, err, sizeof(err)),
			 AOS_EPARSE);
	/* *ret is only written on success. */
	assert_int_equal(info.ttl_s, 99);
	assert_null(info.token);
}

/* ---- lookup-self ---- */

static void test_lookup(void **state)
{
	static const char b[] =
	    "{\"request_id\":\"r\",\"lease_id\":\"\",\"renewable\":false,"
	    "\"lease_duration\":0,\"data\":{\"accessor\":\"test-accessor-value\","
	    "\"creation_time\":1714557600,\"creation_ttl\":3600,\"display_name\":"
	    "\"approle\",\"entity_id\":\"e\",\"expire_time\":"
	    "\"2024-05-01T11:00:00.123456789Z\",\"explicit_max_ttl\":0,\"id\":"
	    "\"test-token-value\",\"issue_time\":\"2024-05-01T10:00:00.123456789Z\","
	    "\"meta\":{\"role_name\":\"publisher\"},\"num_uses\":0,\"orphan\":true,"
	    "\"path\":\"auth/approle/login\",\"policies\":[\"default\",\"publisher\"],"
	    "\"renewable\":true,\"ttl\":3542,\"type\":\"service\"},\"wrap_info\":null,"
	    "\"warnings\":null,\"auth\":null}";
	struct vault_token_info info = {0};
	char err[256];

	(void)state;
	assert_int_equal(vault_parse_lookup(b, LEN(b), &info, err, sizeof(err)), 0);
	assert_int_equal(info.ttl_s, 3542);
	assert_int_equal(info.creation_ttl_s, 3600);
	assert_true(info.renewable);
	assert_null(info.token);
}

static void test_lookup_root_and_missing(void **state)
{
	struct vault_token_info info = {0};
	char err[256];
	const char *b;

	(void)state;
	/* A root token: ttl 0, not renewable. */
	b = "{\"data\":{\"creation_ttl\":0,\"ttl\":0,\"renewable\":false,\"policies\":["
	    "\"root\"]}}";
	assert_int_equal(vault_parse_lookup(b, LEN(b), &info, err, sizeof(err)), 0);
	assert_int_equal(info.ttl_s, 0);
	assert_int_equal(info.creation_ttl_s, 0);
	assert_false(info.renewable);
	/* creation_ttl missing: falls back to ttl; renewable missing: false. */
	b = "{\"data\":{\"ttl\":120}}";
	assert_int_equal(vault_parse_lookup(b, LEN(b), &info, err, sizeof(err)), 0);
	assert_int_equal(info.ttl_s, 120);
	assert_int_equal(info.creation_ttl_s, 120);
	assert_false(info.renewable);
	/* ttl missing, data missing, data null. */
	b = "{\"data\":{\"creation_ttl\":120}}";
	assert_int_equal(vault_parse_lookup(b, LEN(b), &info, err, sizeof(err)),
			 AOS_EPARSE);
	assert_non_null(strstr(err, "data.ttl"));
	b = "{\"errors\":[]}";
	assert_int_equal(vault_parse_lookup(b, LEN(b), &info, err, sizeof(err)),
			 AOS_EPARSE);
	b = "{\"data\":null}";
	assert_int_equal(vault_parse_lookup(b, LEN(b), &info, err, sizeof(err)),
			 AOS_EPARSE);
}

/* ---- KV v2 metadata ---- */

static void test_kv_meta(void **state)
{
	static const char b[] =
	    "{\"request_id\":\"r\",\"lease_id\":\"\",\"renewable\":false,"
	    "\"lease_duration\":0,\"data\":{\"cas_required\":false,\"created_time\":"
	    "\"2024-05-01T10:00:00.000000001Z\",\"current_version\":3,"
	    "\"custom_metadata\":null,\"delete_version_after\":\"0s\",\"max_versions\":0,"
	    "\"oldest_version\":0,\"updated_time\":\"2024-05-03T10:00:00.000000003Z\","
	    "\"versions\":{\"1\":{\"created_time\":\"2024-05-01T10:00:00.000000001Z\","
	    "\"deletion_time\":\"\",\"destroyed\":false},\"2\":{\"created_time\":"
	    "\"2024-05-02T10:00:00.000000002Z\",\"deletion_time\":"
	    "\"2024-05-02T12:00:00Z\",\"destroyed\":false},\"3\":{\"created_time\":"
	    "\"2024-05-03T10:00:00.000000003Z\",\"deletion_time\":\"\","
	    "\"destroyed\":false}}},\"wrap_info\":null,\"warnings\":null,\"auth\":null}";
	struct vault_kv_meta m = {0};
	char err[256];

	(void)state;
	assert_int_equal(vault_parse_kv_meta(b, LEN(b), &m, err, sizeof(err)), 0);
	assert_int_equal(m.current_version, 3);
	assert_string_equal(m.created_time, "2024-05-03T10:00:00.000000003Z");
	assert_false(m.deleted);
}

static void test_kv_meta_deleted(void **state)
{
	struct vault_kv_meta m = {0};
	char err[256];
	const char *b;

	(void)state;
	b = "{\"data\":{\"current_version\":2,\"versions\":{\"1\":{\"created_time\":"
	    "\"t1\","
	    "\"deletion_time\":\"\",\"destroyed\":false},\"2\":{\"created_time\":\"t2\","
	    "\"deletion_time\":\"2024-05-02T12:00:00Z\",\"destroyed\":false}}}}";
	assert_int_equal(vault_parse_kv_meta(b, LEN(b), &m, err, sizeof(err)), 0);
	assert_int_equal(m.current_version, 2);
	assert_string_equal(m.created_time, "t2");
	assert_true(m.deleted);

	b = "{\"data\":{\"current_version\":2,\"versions\":{\"2\":{\"created_time\":"
	    "\"t2\","
	    "\"deletion_time\":\"\",\"destroyed\":true}}}}";
	assert_int_equal(vault_parse_kv_meta(b, LEN(b), &m, err, sizeof(err)), 0);
	assert_true(m.deleted);

	/* The current version's entry missing: no time, not known deleted. */
	b = "{\"data\":{\"current_version\":5,\"versions\":{\"4\":{\"created_time\":"
	    "\"t4\","
	    "\"deletion_time\":\"x\",\"destroyed\":true}}}}";
	assert_int_equal(vault_parse_kv_meta(b, LEN(b), &m, err, sizeof(err)), 0);
	assert_int_equal(m.current_version, 5);
	assert_string_equal(m.created_time, "");
	assert_false(m.deleted);
}

static void test_kv_meta_errors(void **state)
{
	struct vault_kv_meta m = {.current_version = 77};
	char err[256];
	const char *b;

	(void)state;
	b = "{\"data\":{\"versions\":{}}}";
	assert_int_equal(vault_parse_kv_meta(b, LEN(b), &m, err, sizeof(err)),
			 AOS_EPARSE);
	assert_non_null(strstr(err, "current_version"));
	b = "{\"data\":{\"current_version\":\"3\"}}";
	assert_int_equal(vault_parse_kv_meta(b, LEN(b), &m, err, sizeof(err)),
			 AOS_EPARSE);
	b = "{\"errors\":[]}";
	assert_int_equal(vault_parse_kv_meta(b, LEN(b), &m, err, sizeof(err)),
			 AOS_EPARSE);
	assert_int_equal(m.current_version, 77);
}

/* ---- KV v2 data ---- */

static const char kv_answer[] =
    "{\"request_id\":\"r\",\"lease_id\":\"\",\"renewable\":false,\"lease_duration\":0,"
    "\"data\":{\"data\":{\"PYPI_API_TOKEN\":\"test-pypi-value\",\"NPM_TOKEN\":"
    "\"test-npm-value\",\"RETRIES\":3,\"OBJ\":{\"a\":\"b\"},\"EMPTY\":\"\"},"
    "\"metadata\":{\"created_time\":\"2024-05-03T10:00:00.000000003Z\","
    "\"custom_metadata\":null,\"deletion_time\":\"\",\"destroyed\":false,"
    "\"version\":3}},\"wrap_info\":null,\"warnings\":null,\"auth\":null}";

static void unref_vals(struct vault_kv_value *v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		secret_unref(v[i].value);
		v[i].value = NULL;
	}
}

static void test_kv_data(void **state)
{
	struct vault_kv_value v[] = {
	    {.key = "PYPI_API_TOKEN"}, {.key = "NPM_TOKEN"}, {.key = "ABSENT"},
	    {.key = "RETRIES"},	       {.key = "OBJ"},	     {.key = "EMPTY"},
	    {.key = "pypi_api_token"},
	};
	size_t n = sizeof(v) / sizeof(v[0]), live = secret_live_count();
	int64_t version = 0;
	char err[256];

	(void)state;
	assert_int_equal(vault_parse_kv_data(kv_answer, LEN(kv_answer), v, n, &version,
					     err, sizeof(err)),
			 0);
	assert_int_equal(version, 3);
	assert_string_equal(secret_value(v[0].value), "test-pypi-value");
	assert_false(v[0].not_string);
	assert_string_equal(secret_value(v[1].value), "test-npm-value");
	assert_null(v[2].value);
	assert_false(v[2].not_string);
	assert_null(v[3].value);
	assert_true(v[3].not_string);
	assert_null(v[4].value);
	assert_true(v[4].not_string);
	/* An empty string is a (present, empty) value; callers decide. */
	assert_non_null(v[5].value);
	assert_int_equal(secret_len(v[5].value), 0);
	/* Keys are case-sensitive. */
	assert_null(v[6].value);
	assert_int_equal(secret_live_count(), live + 3);
	unref_vals(v, n);
	assert_int_equal(secret_live_count(), live);
}

static void test_kv_data_errors(void **state)
{
	struct vault_kv_value v[] = {{.key = "PYPI_API_TOKEN"}};
	size_t live = secret_live_count();
	int64_t version = 42;
	char err[256];
	const char *b;

	(void)state;
	/* A deleted version reads as 404 with data.data null. */
	b = "{\"data\":{\"data\":null,\"metadata\":{\"created_time\":\"t\","
	    "\"deletion_time\":\"2024-05-02T12:00:00Z\",\"destroyed\":false,\"version\":"
	    "2}}}";
	v[0].not_string = true;
	assert_int_equal(vault_parse_kv_data(b, LEN(b), v, 1, &version, err, sizeof(err)),
			 AOS_EPARSE);
	assert_non_null(strstr(err, "data.data"));
	assert_null(v[0].value);
	assert_false(v[0].not_string); /* outputs reset even on error */
	/* A KV v1 answer: the keys directly under data. */
	b = "{\"data\":{\"PYPI_API_TOKEN\":\"test-pypi-value\"}}";
	assert_int_equal(vault_parse_kv_data(b, LEN(b), v, 1, &version, err, sizeof(err)),
			 AOS_EPARSE);
	/* No version: nothing may stay allocated. */
	b = "{\"data\":{\"data\":{\"PYPI_API_TOKEN\":\"test-pypi-value\"},\"metadata\":{}"
	    "}}";
	assert_int_equal(vault_parse_kv_data(b, LEN(b), v, 1, &version, err, sizeof(err)),
			 AOS_EPARSE);
	assert_non_null(strstr(err, "version"));
	assert_null(v[0].value);
	assert_int_equal(secret_live_count(), live);
	assert_int_equal(version, 42);
	/* No keys requested is fine. */
	assert_int_equal(vault_parse_kv_data(kv_answer, LEN(kv_answer), NULL, 0, &version,
					     err, sizeof(err)),
			 0);
	assert_int_equal(version, 3);
}

/* ---- malformed answers, for every parser ---- */

static void test_malformed(void **state)
{
	static const char *const bad[] = {
	    "",
	    "not json",
	    "{\"data\":",
	    "[1,2,3]",
	    "\"a string\"",
	    "null",
	    "42",
	    "<html><body>502 Bad Gateway</body></html>",
	};
	struct vault_token_info info;
	struct vault_kv_meta m;
	struct vault_kv_value v[] = {{.key = "K"}};
	struct secret *s = NULL;
	int64_t version;
	char err[256], path[256];
	size_t i, live = secret_live_count();

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *b = bad[i];
		size_t n = strlen(b);

		err[0] = '\0';
		assert_int_equal(vault_parse_auth(b, n, true, &info, err, sizeof(err)),
				 AOS_EPARSE);
		assert_non_null(strstr(err, "not a JSON object"));
		assert_int_equal(vault_parse_lookup(b, n, &info, err, sizeof(err)),
				 AOS_EPARSE);
		assert_int_equal(vault_parse_kv_meta(b, n, &m, err, sizeof(err)),
				 AOS_EPARSE);
		assert_int_equal(
		    vault_parse_kv_data(b, n, v, 1, &version, err, sizeof(err)),
		    AOS_EPARSE);
		assert_int_equal(
		    vault_parse_wrap_lookup(b, n, path, sizeof(path), err, sizeof(err)),
		    AOS_EPARSE);
		assert_int_equal(vault_parse_unwrap_secret_id(b, n, &s, err, sizeof(err)),
				 AOS_EPARSE);
	}
	assert_int_equal(vault_parse_lookup(NULL, 0, &info, err, sizeof(err)),
			 AOS_EPARSE);
	/* The length bounds the parse: a valid prefix cut short is malformed. */
	assert_int_equal(
	    vault_parse_lookup("{\"data\":{\"ttl\":5}}", 10, &info, err, sizeof(err)),
	    AOS_EPARSE);
	assert_null(s);
	assert_int_equal(secret_live_count(), live);
}

/* ---- response wrapping ---- */

static void test_wrap_lookup(void **state)
{
	static const char b[] =
	    "{\"request_id\":\"r\",\"lease_id\":\"\",\"renewable\":false,"
	    "\"lease_duration\":0,\"data\":{\"creation_path\":"
	    "\"auth/approle/role/publisher/secret-id\",\"creation_time\":"
	    "\"2024-05-01T10:00:00.000000001Z\",\"creation_ttl\":300},"
	    "\"wrap_info\":null,\"warnings\":null,\"auth\":null}";
	char path[128], small[16], err[256];
	const char *nb;

	(void)state;
	assert_int_equal(
	    vault_parse_wrap_lookup(b, LEN(b), path, sizeof(path), err, sizeof(err)), 0);
	assert_string_equal(path, "auth/approle/role/publisher/secret-id");
	/* A path that does not fit is refused, not truncated. */
	assert_int_equal(
	    vault_parse_wrap_lookup(b, LEN(b), small, sizeof(small), err, sizeof(err)),
	    AOS_EPARSE);
	nb = "{\"data\":{\"creation_ttl\":300}}";
	assert_int_equal(
	    vault_parse_wrap_lookup(nb, LEN(nb), path, sizeof(path), err, sizeof(err)),
	    AOS_EPARSE);
	assert_non_null(strstr(err, "creation_path"));
	nb = "{\"data\":{\"creation_path\":null}}";
	assert_int_equal(
	    vault_parse_wrap_lookup(nb, LEN(nb), path, sizeof(path), err, sizeof(err)),
	    AOS_EPARSE);
}

static void test_unwrap_secret_id(void **state)
{
	static const char b[] =
	    "{\"request_id\":\"r\",\"lease_id\":\"\",\"renewable\":false,"
	    "\"lease_duration\":0,\"data\":{\"secret_id\":\"test-secret-id-value\","
	    "\"secret_id_accessor\":\"test-accessor-value\",\"secret_id_num_uses\":0,"
	    "\"secret_id_ttl\":0},\"wrap_info\":null,\"warnings\":null,\"auth\":null}";
	struct secret *s = NULL;
	char err[256];
	const char *nb;
	size_t live = secret_live_count();

	(void)state;
	assert_int_equal(vault_parse_unwrap_secret_id(b, LEN(b), &s, err, sizeof(err)),
			 0);
	assert_non_null(s);
	assert_string_equal(secret_value(s), "test-secret-id-value");
	secret_unref(s);
	s = NULL;
	nb = "{\"data\":{\"secret_id_accessor\":\"a\"}}";
	assert_int_equal(vault_parse_unwrap_secret_id(nb, LEN(nb), &s, err, sizeof(err)),
			 AOS_EPARSE);
	assert_non_null(strstr(err, "secret_id"));
	nb = "{\"data\":{\"secret_id\":\"\"}}";
	assert_int_equal(vault_parse_unwrap_secret_id(nb, LEN(nb), &s, err, sizeof(err)),
			 AOS_EPARSE);
	nb = "{\"data\":{\"secret_id\":12}}";
	assert_int_equal(vault_parse_unwrap_secret_id(nb, LEN(nb), &s, err, sizeof(err)),
			 AOS_EPARSE);
	assert_null(s);
	assert_int_equal(secret_live_count(), live);
}

static void test_check_creation_path(void **state)
{
	(void)state;
	/* An exact expected path. */
	assert_int_equal(vault_check_creation_path("auth/approle/role/pub/secret-id",
						   "auth/approle/role/pub/secret-id",
						   "approle"),
			 0);
	assert_int_equal(vault_check_creation_path("auth/approle/role/other/secret-id",
						   "auth/approle/role/pub/secret-id",
						   "approle"),
			 AOS_EWRAP);
	assert_int_equal(vault_check_creation_path("auth/approle/role/pub/secret-id/x",
						   "auth/approle/role/pub/secret-id",
						   "approle"),
			 AOS_EWRAP);
	/* An empty expected path means the default pattern. */
	assert_int_equal(
	    vault_check_creation_path("auth/approle/role/pub/secret-id", "", "approle"),
	    0);
	/* The default pattern, any role name. */
	assert_int_equal(
	    vault_check_creation_path("auth/approle/role/pub/secret-id", NULL, "approle"),
	    0);
	assert_int_equal(vault_check_creation_path("auth/ci-approle/role/r-1/secret-id",
						   NULL, "ci-approle"),
			 0);
	/* Wrong mount. */
	assert_int_equal(
	    vault_check_creation_path("auth/other/role/pub/secret-id", NULL, "approle"),
	    AOS_EWRAP);
	assert_int_equal(vault_check_creation_path("auth/approle2/role/pub/secret-id",
						   NULL, "approle"),
			 AOS_EWRAP);
	/* Something else wrapped: a KV read, a token create, a custom secret ID. */
	assert_int_equal(
	    vault_check_creation_path("secret/data/agenticverz/x", NULL, "approle"),
	    AOS_EWRAP);
	assert_int_equal(vault_check_creation_path("auth/token/create", NULL, "approle"),
			 AOS_EWRAP);
	assert_int_equal(vault_check_creation_path(
			     "auth/approle/role/pub/custom-secret-id", NULL, "approle"),
			 AOS_EWRAP);
	assert_int_equal(
	    vault_check_creation_path("auth/approle/role/pub/role-id", NULL, "approle"),
	    AOS_EWRAP);
	/* Extra path segments. */
	assert_int_equal(
	    vault_check_creation_path("auth/approle/role/a/b/secret-id", NULL, "approle"),
	    AOS_EWRAP);
	assert_int_equal(vault_check_creation_path("auth/approle/role/pub/secret-id/",
						   NULL, "approle"),
			 AOS_EWRAP);
	assert_int_equal(vault_check_creation_path("x/auth/approle/role/pub/secret-id",
						   NULL, "approle"),
			 AOS_EWRAP);
	/* Empty role name, or nothing after the role prefix. */
	assert_int_equal(
	    vault_check_creation_path("auth/approle/role//secret-id", NULL, "approle"),
	    AOS_EWRAP);
	assert_int_equal(vault_check_creation_path("auth/approle/role/", NULL, "approle"),
			 AOS_EWRAP);
	assert_int_equal(
	    vault_check_creation_path("auth/approle/role/secret-id", NULL, "approle"),
	    AOS_EWRAP);
	assert_int_equal(vault_check_creation_path("", NULL, "approle"), AOS_EWRAP);
}

/* ---- request bodies ---- */

static void test_login_body(void **state)
{
	struct secret *role = NULL, *sid = NULL;
	struct buf out;
	cJSON *o;

	(void)state;
	buf_init(&out, 8192);
	assert_int_equal(secret_new("test-role-id", 12, &role), 0);
	assert_int_equal(secret_new("test-secret-id", 14, &sid), 0);
	assert_int_equal(vault_login_body(role, sid, &out), 0);
	assert_string_equal(
	    out.data, "{\"role_id\":\"test-role-id\",\"secret_id\":\"test-secret-id\"}");
	secret_unref(role);
	secret_unref(sid);

	/* Quotes, backslashes and control characters are escaped. */
	assert_int_equal(secret_new("a\"b\\c", 5, &role), 0);
	assert_int_equal(secret_new("x\ny\tz\"}", 8, &sid), 0);
	assert_int_equal(vault_login_body(role, sid, &out), 0);
	assert_string_equal(
	    out.data, "{\"role_id\":\"a\\\"b\\\\c\",\"secret_id\":\"x\\ny\\tz\\\"}\"}");
	o = cJSON_Parse(out.data);
	assert_non_null(o);
	assert_int_equal(cJSON_GetArraySize(o), 2);
	assert_string_equal(cJSON_GetObjectItem(o, "role_id")->valuestring, "a\"b\\c");
	assert_string_equal(cJSON_GetObjectItem(o, "secret_id")->valuestring,
			    "x\ny\tz\"}");
	cJSON_Delete(o);
	secret_unref(role);
	secret_unref(sid);
	buf_free(&out);
}

static void test_token_body(void **state)
{
	struct secret *tok = NULL;
	struct buf out;

	(void)state;
	buf_init(&out, 8192);
	/* The buffer is replaced, not appended to. */
	assert_int_equal(buf_puts(&out, "stale"), 0);
	assert_int_equal(secret_new("test-wrap-\"token\\", 17, &tok), 0);
	assert_int_equal(vault_token_body(tok, &out), 0);
	assert_string_equal(out.data, "{\"token\":\"test-wrap-\\\"token\\\\\"}");
	secret_unref(tok);

	/* The buffer's limit holds. */
	buf_free(&out);
	buf_init(&out, 16);
	assert_int_equal(secret_new("test-token-value", 16, &tok), 0);
	assert_int_equal(vault_token_body(tok, &out), AOS_ETOOBIG);
	secret_unref(tok);
	buf_free(&out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_auth_login),
	    cmocka_unit_test(test_auth_renew),
	    cmocka_unit_test(test_auth_errors),
	    cmocka_unit_test(test_lookup),
	    cmocka_unit_test(test_lookup_root_and_missing),
	    cmocka_unit_test(test_kv_meta),
	    cmocka_unit_test(test_kv_meta_deleted),
	    cmocka_unit_test(test_kv_meta_errors),
	    cmocka_unit_test(test_kv_data),
	    cmocka_unit_test(test_kv_data_errors),
	    cmocka_unit_test(test_malformed),
	    cmocka_unit_test(test_wrap_lookup),
	    cmocka_unit_test(test_unwrap_secret_id),
	    cmocka_unit_test(test_check_creation_path),
	    cmocka_unit_test(test_login_body),
	    cmocka_unit_test(test_token_body),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
