/* Unit tests for agent/config/config.c: parsing, defaults, the environment and
 * error messages that name the key path. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/err.h"
#include "config/config.h"

#define CFG_PATH "/etc/aos-publishd/config.json"

static const char *const env_names[] = {
    "BAO_ADDR",	    "VAULT_ADDR", "BAO_NAMESPACE", "VAULT_NAMESPACE",	"BAO_CACERT",
    "VAULT_CACERT", "BAO_CAPATH", "VAULT_CAPATH",  "RUNTIME_DIRECTORY", "STATE_DIRECTORY",
    NULL,
};

static void clear_env(void)
{
	const char *const *n;

	for (n = env_names; *n != NULL; n++)
		unsetenv(*n);
}

/* Every test starts from an environment without the variables config reads. */
static int setup_test(void **state)
{
	(void)state;
	clear_env();
	return 0;
}

static int teardown_test(void **state)
{
	(void)state;
	clear_env();
	return 0;
}

static int parse(const char *text, struct config **ret, char *err, size_t errlen)
{
	return config_parse(text, strlen(text), CFG_PATH, ret, err, errlen);
}

/* Parses text expecting failure; checks the message starts with the file and
 * key path and contains want. */
static void expect_error(const char *text, const char *keypath, const char *want)
{
	struct config *cfg = NULL;
	char err[512], prefix[256];
	int r;

	r = parse(text, &cfg, err, sizeof(err));
	if (r != AOS_ECONFIG || cfg != NULL)
		fail_msg("expected AOS_ECONFIG for %s, got %d", keypath, r);
	snprintf(prefix, sizeof(prefix), CFG_PATH ": %s: ", keypath);
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		fail_msg("message \"%s\" does not start with \"%s\"", err, prefix);
	if (want != NULL && strstr(err, want) == NULL)
		fail_msg("message \"%s\" does not contain \"%s\"", err, want);
}

#define TOKEN_AUTH "\"auth\":{\"method\":\"token\",\"token_file\":\"token\"}"
#define MIN_VAULT                                                                        \
	"\"vault\":{\"address\":\"https://vault.example.test:8200\"," TOKEN_AUTH "}"

static const char full_config[] =
    "{\n"
    "  \"log_level\": \"debug\",\n"
    "  \"runtime_dir\": \"/run/aos-test\",\n"
    "  \"state_dir\": \"/var/lib/aos-test\",\n"
    "  \"control_socket\": \"/run/aos-test/ctl.sock\",\n"
    "  \"http\": {\"connect_timeout_ms\": 2000, \"stall_timeout_s\": 10,\n"
    "           \"request_timeout_s\": 20, \"ca_file\": \"/etc/ssl/reg.pem\",\n"
    "           \"ca_path\": \"/etc/ssl/certs\"},\n"
    "  \"vault\": {\n"
    "    \"address\": \"https://vault.example.test:8200\",\n"
    "    \"namespace\": \"team-a\",\n"
    "    \"ca_file\": \"/etc/aos-publishd/vault-ca.pem\",\n"
    "    \"ca_path\": \"/etc/aos-publishd/vault-ca.d\",\n"
    "    \"auth\": {\"method\": \"approle\", \"mount\": \"ci-approle\",\n"
    "             \"role_id_file\": \"/etc/aos-publishd/role_id\",\n"
    "             \"secret_id_file\": \"secret_id.wrapped\",\n"
    "             \"secret_id_wrapped\": true,\n"
    "             \"wrap_creation_path\": \"auth/ci-approle/role/pub/secret-id\"},\n"
    "    \"kv_mount\": \"kv\", \"kv_path\": \"ci/registry\",\n"
    "    \"poll_interval_s\": 60, \"max_response_bytes\": 65536,\n"
    "    \"backoff_min_ms\": 500, \"backoff_max_ms\": 60000\n"
    "  },\n"
    "  \"registries\": {\n"
    "    \"pypi\": {\"type\": \"pypi\", \"url\": \"https://upload.pypi.org/legacy/\"},\n"
    "    \"testpypi\": {\"type\": \"pypi\", \"url\": \"https://test.pypi.org/legacy/\",\n"
    "                 \"token_key\": \"TEST_PYPI_TOKEN\", \"username\": \"ci-user\"},\n"
    "    \"npmjs\": {\"type\": \"npm\", \"url\": \"https://registry.npmjs.org/\"},\n"
    "    \"local\": {\"type\": \"npm\", \"url\": \"http://127.0.0.1:4873/\",\n"
    "              \"token_key\": \"NPM_TOKEN\"}\n"
    "  }\n"
    "}\n";

static void test_full(void **state)
{
	struct config *cfg = NULL;
	char err[512];
	const struct registry_cfg *r;

	(void)state;
	assert_int_equal(parse(full_config, &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg->path, CFG_PATH);
	assert_string_equal(cfg->dir, "/etc/aos-publishd");
	assert_int_equal(cfg->log_level, LOG_LVL_DEBUG);
	assert_string_equal(cfg->runtime_dir, "/run/aos-test");
	assert_string_equal(cfg->state_dir, "/var/lib/aos-test");
	assert_string_equal(cfg->control_socket, "/run/aos-test/ctl.sock");
	assert_int_equal(cfg->connect_timeout_ms, 2000);
	assert_int_equal(cfg->stall_timeout_s, 10);
	assert_int_equal(cfg->request_timeout_s, 20);
	assert_string_equal(cfg->ca_file, "/etc/ssl/reg.pem");
	assert_string_equal(cfg->ca_path, "/etc/ssl/certs");

	assert_string_equal(cfg->vault.address, "https://vault.example.test:8200");
	assert_string_equal(cfg->vault.namespace, "team-a");
	assert_string_equal(cfg->vault.ca_file, "/etc/aos-publishd/vault-ca.pem");
	assert_string_equal(cfg->vault.ca_path, "/etc/aos-publishd/vault-ca.d");
	assert_int_equal(cfg->vault.method, AUTH_APPROLE);
	assert_null(cfg->vault.token_file);
	assert_string_equal(cfg->vault.mount, "ci-approle");
	assert_string_equal(cfg->vault.role_id_file, "/etc/aos-publishd/role_id");
	assert_string_equal(cfg->vault.secret_id_file, "secret_id.wrapped");
	assert_true(cfg->vault.secret_id_wrapped);
	assert_string_equal(cfg->vault.wrap_creation_path,
			    "auth/ci-approle/role/pub/secret-id");
	assert_string_equal(cfg->vault.kv_mount, "kv");
	assert_string_equal(cfg->vault.kv_path, "ci/registry");
	assert_int_equal(cfg->vault.poll_interval_s, 60);
	assert_int_equal(cfg->vault.max_response_bytes, 65536);
	assert_int_equal(cfg->vault.backoff_min_ms, 500);
	assert_int_equal(cfg->vault.backoff_max_ms, 60000);

	assert_int_equal(cfg->nregistries, 4);
	r = &cfg->registries[0];
	assert_string_equal(r->name, "pypi");
	assert_int_equal(r->type, REGISTRY_PYPI);
	assert_string_equal(r->url, "https://upload.pypi.org/legacy/");
	assert_string_equal(r->token_key, "PYPI_API_TOKEN");
	assert_string_equal(r->username, "__token__");
	r = &cfg->registries[1];
	assert_string_equal(r->name, "testpypi");
	assert_string_equal(r->token_key, "TEST_PYPI_TOKEN");
	assert_string_equal(r->username, "ci-user");
	r = &cfg->registries[2];
	assert_string_equal(r->name, "npmjs");
	assert_int_equal(r->type, REGISTRY_NPM);
	assert_string_equal(r->token_key, "NPM_TOKEN");
	r = &cfg->registries[3];
	assert_string_equal(r->url, "http://127.0.0.1:4873/");
	/* NPM_TOKEN is used twice and listed once. */
	assert_int_equal(cfg->nsecret_keys, 3);
	assert_string_equal(cfg->secret_keys[0], "PYPI_API_TOKEN");
	assert_string_equal(cfg->secret_keys[1], "TEST_PYPI_TOKEN");
	assert_string_equal(cfg->secret_keys[2], "NPM_TOKEN");
	config_free(cfg);
	config_free(NULL);
}

static void test_defaults(void **state)
{
	struct config *cfg = NULL;
	char err[512];

	(void)state;
	assert_int_equal(parse("{" MIN_VAULT "}", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg->log_level, LOG_LVL_INFO);
	assert_string_equal(cfg->runtime_dir, "/run/aos-publishd");
	assert_string_equal(cfg->state_dir, "/var/lib/aos-publishd");
	assert_string_equal(cfg->control_socket, "/run/aos-publishd/control.sock");
	assert_int_equal(cfg->connect_timeout_ms, 5000);
	assert_int_equal(cfg->stall_timeout_s, 30);
	assert_int_equal(cfg->request_timeout_s, 60);
	assert_null(cfg->ca_file);
	assert_null(cfg->ca_path);
	assert_null(cfg->vault.namespace);
	assert_null(cfg->vault.ca_file);
	assert_null(cfg->vault.ca_path);
	assert_int_equal(cfg->vault.method, AUTH_TOKEN);
	assert_string_equal(cfg->vault.token_file, "token");
	assert_string_equal(cfg->vault.kv_mount, "secret");
	assert_string_equal(cfg->vault.kv_path, "agenticverz/package-registry");
	assert_int_equal(cfg->vault.poll_interval_s, 30);
	assert_int_equal(cfg->vault.max_response_bytes, 1048576);
	assert_int_equal(cfg->vault.backoff_min_ms, 1000);
	assert_int_equal(cfg->vault.backoff_max_ms, 300000);
	assert_int_equal(cfg->nregistries, 0);
	assert_int_equal(cfg->nsecret_keys, 0);
	config_free(cfg);

	/* systemd's RuntimeDirectory=/StateDirectory= fill in the folders. */
	setenv("RUNTIME_DIRECTORY", "/run/aos-unit", 1);
	setenv("STATE_DIRECTORY", "/var/lib/aos-unit", 1);
	cfg = NULL;
	assert_int_equal(parse("{" MIN_VAULT ",\"http\":{}}", &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg->runtime_dir, "/run/aos-unit");
	assert_string_equal(cfg->state_dir, "/var/lib/aos-unit");
	assert_string_equal(cfg->control_socket, "/run/aos-unit/control.sock");
	assert_int_equal(cfg->connect_timeout_ms, 5000);
	config_free(cfg);

	/* AppRole defaults; a relative config path has "." as its folder. */
	cfg = NULL;
	assert_int_equal(
	    config_parse("{\"vault\":{\"address\":\"https://v.example.test\","
			 "\"auth\":{\"method\":\"approle\"}}}",
			 strlen("{\"vault\":{\"address\":\"https://v.example.test\","
				"\"auth\":{\"method\":\"approle\"}}}"),
			 "config.json", &cfg, err, sizeof(err)),
	    0);
	assert_string_equal(cfg->dir, ".");
	assert_int_equal(cfg->vault.method, AUTH_APPROLE);
	assert_string_equal(cfg->vault.mount, "approle");
	assert_string_equal(cfg->vault.role_id_file, "role_id");
	assert_string_equal(cfg->vault.secret_id_file, "secret_id");
	assert_false(cfg->vault.secret_id_wrapped);
	assert_null(cfg->vault.wrap_creation_path);
	assert_null(cfg->vault.token_file);
	config_free(cfg);
}

static void test_registry_defaults(void **state)
{
	struct config *cfg = NULL;
	char err[512];

	(void)state;
	assert_int_equal(
	    parse("{" MIN_VAULT ",\"registries\":{"
		  "\"a\":{\"type\":\"npm\",\"url\":\"https://npm.example.test/\"},"
		  "\"b\":{\"type\":\"pypi\",\"url\":\"https://pypi.example.test/\"},"
		  "\"c\":{\"type\":\"pypi\",\"url\":\"https://p2.example.test/\"},"
		  "\"d\":{\"type\":\"npm\",\"url\":\"https://n2.example.test/\","
		  "\"token_key\":\"PYPI_API_TOKEN\"}}}",
		  &cfg, err, sizeof(err)),
	    0);
	assert_int_equal(cfg->nregistries, 4);
	assert_string_equal(cfg->registries[0].token_key, "NPM_TOKEN");
	assert_string_equal(cfg->registries[1].token_key, "PYPI_API_TOKEN");
	assert_string_equal(cfg->registries[2].token_key, "PYPI_API_TOKEN");
	assert_string_equal(cfg->registries[3].token_key, "PYPI_API_TOKEN");
	assert_int_equal(cfg->nsecret_keys, 2);
	assert_string_equal(cfg->secret_keys[0], "NPM_TOKEN");
	assert_string_equal(cfg->secret_keys[1], "PYPI_API_TOKEN");
	config_free(cfg);
}

/* The default index_url of a PyPI registry, with and without trailing
 * slashes ("http://127.0.0.1:8080" gave "http://127.0.0.1:8080simple/";
 * found by fuzz_config). */
static void test_default_index_url(void **state)
{
	static const char *const urls[][2] = {
	    {"https://p.example.test/legacy/", "https://p.example.test/simple/"},
	    {"https://p.example.test/legacy", "https://p.example.test/simple/"},
	    {"http://127.0.0.1:8080/", "http://127.0.0.1:8080/simple/"},
	    {"http://127.0.0.1:8080", "http://127.0.0.1:8080/simple/"},
	    {"https://p.example.test", "https://p.example.test/simple/"},
	    {"https://p.example.test/root/pypi//",
	     "https://p.example.test/root/pypi/simple/"},
	};
	struct config *cfg = NULL;
	char text[512], err[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
		snprintf(text, sizeof(text),
			 "{" MIN_VAULT
			 ",\"registries\":{\"p\":{\"type\":\"pypi\",\"url\":\"%s\"}}}",
			 urls[i][0]);
		assert_int_equal(parse(text, &cfg, err, sizeof(err)), 0);
		assert_string_equal(cfg->registries[0].index_url, urls[i][1]);
		config_free(cfg);
	}
}

static void test_errors_unknown_keys(void **state)
{
	(void)state;
	expect_error("{\"vualt\":{}," MIN_VAULT "}", "vualt", "unknown key");
	expect_error("{\"http\":{\"connect_timeout\":5}," MIN_VAULT "}",
		     "http.connect_timeout", "unknown key");
	expect_error("{\"vault\":{\"address\":\"https://"
		     "v.example.test\",\"adress\":\"x\"," TOKEN_AUTH "}}",
		     "vault.adress", "unknown key");
	expect_error("{\"vault\":{\"address\":\"https://v.example.test\",\"auth\":{"
		     "\"method\":\"token\",\"token_flie\":\"t\"}}}",
		     "vault.auth.token_flie", "unknown key");
	/* AppRole keys are unknown under the token method. */
	expect_error("{\"vault\":{\"address\":\"https://v.example.test\",\"auth\":{"
		     "\"method\":\"token\",\"token_file\":\"t\",\"mount\":\"approle\"}}}",
		     "vault.auth.mount", "unknown key");
	expect_error("{" MIN_VAULT ",\"registries\":{\"pypi\":{\"type\":\"pypi\","
		     "\"url\":\"https://pypi.example.test/\",\"tokenkey\":\"X\"}}}",
		     "registries.pypi.tokenkey", "unknown key");
	/* JSON allows repeated names; the configuration does not. */
	expect_error("{" MIN_VAULT "," MIN_VAULT "}", "vault", "duplicate key");
	expect_error("{" MIN_VAULT ",\"registries\":{\"pypi\":{\"type\":\"pypi\","
		     "\"url\":\"https://pypi.example.test/\"},\"pypi\":{\"type\":\"npm\","
		     "\"url\":\"https://npm.example.test/\"}}}",
		     "registries.pypi", "duplicate key");
}

static void test_errors_types_and_ranges(void **state)
{
	(void)state;
	expect_error(
	    "{\"vault\":{\"address\":\"https://v.example.test\",\"poll_interval_s\":"
	    "\"fast\"," TOKEN_AUTH "}}",
	    "vault.poll_interval_s", "expected an integer from 1 to 86400, got \"fast\"");
	expect_error(
	    "{\"vault\":{\"address\":\"https://v.example.test\",\"poll_interval_s\":"
	    "0," TOKEN_AUTH "}}",
	    "vault.poll_interval_s", "got 0");
	expect_error(
	    "{\"vault\":{\"address\":\"https://v.example.test\",\"poll_interval_s\":"
	    "90000," TOKEN_AUTH "}}",
	    "vault.poll_interval_s", "got 90000");
	expect_error(
	    "{\"vault\":{\"address\":\"https://v.example.test\",\"poll_interval_s\":"
	    "1.5," TOKEN_AUTH "}}",
	    "vault.poll_interval_s", "got 1.5");
	expect_error(
	    "{\"vault\":{\"address\":\"https://v.example.test\",\"poll_interval_s\":"
	    "1e300," TOKEN_AUTH "}}",
	    "vault.poll_interval_s", "got 1e+300");
	expect_error(
	    "{\"vault\":{\"address\":\"https://v.example.test\",\"poll_interval_s\":"
	    "-1e300," TOKEN_AUTH "}}",
	    "vault.poll_interval_s", "expected an integer");
	expect_error(
	    "{\"vault\":{\"address\":\"https://v.example.test\",\"poll_interval_s\":"
	    "true," TOKEN_AUTH "}}",
	    "vault.poll_interval_s", "got a boolean");
	expect_error(
	    "{\"vault\":{\"address\":\"https://v.example.test\",\"max_response_bytes\":"
	    "100," TOKEN_AUTH "}}",
	    "vault.max_response_bytes", "from 4096 to 67108864, got 100");
	expect_error("{\"http\":{\"connect_timeout_ms\":null}," MIN_VAULT "}",
		     "http.connect_timeout_ms", "got null");
	expect_error(
	    "{\"vault\":{\"address\":\"https://v.example.test\",\"backoff_min_ms\":"
	    "5000,\"backoff_max_ms\":1000," TOKEN_AUTH "}}",
	    "vault.backoff_max_ms", "at least vault.backoff_min_ms");
	expect_error("{\"vault\":{\"address\":\"https://"
		     "v.example.test\",\"kv_mount\":5," TOKEN_AUTH "}}",
		     "vault.kv_mount", "expected a non-empty string, got a number");
	expect_error("{\"vault\":{\"address\":\"https://"
		     "v.example.test\",\"kv_path\":\"\"," TOKEN_AUTH "}}",
		     "vault.kv_path", "got an empty string");
	expect_error("{\"vault\":{\"address\":\"https://v.example.test\",\"auth\":{"
		     "\"method\":\"approle\",\"secret_id_wrapped\":\"yes\"}}}",
		     "vault.auth.secret_id_wrapped",
		     "expected true or false, got a string");
	expect_error("{\"log_level\":\"verbose\"," MIN_VAULT "}", "log_level",
		     "got \"verbose\"");
	expect_error("{\"http\":[]," MIN_VAULT "}", "http",
		     "expected an object, got an array");
	expect_error("[1,2]", "(top level)", "expected a JSON object, got an array");
	expect_error(
	    "{\"control_socket\":\"/run/aos-publishd/a-very-long-socket-name-that-"
	    "will-not-fit-into-sun-path-of-a-unix-domain-socket-address.sock\"," MIN_VAULT
	    "}",
	    "control_socket", "too long");
}

static void test_errors_vault(void **state)
{
	(void)state;
	expect_error("{}", "vault", "missing; expected an object");
	expect_error("{\"vault\":\"https://v.example.test\"}", "vault",
		     "expected an object, got a string");
	expect_error("{\"vault\":{" TOKEN_AUTH "}}", "vault.address",
		     "BAO_ADDR/VAULT_ADDR");
	expect_error("{\"vault\":{\"address\":\"https://v.example.test\"}}", "vault.auth",
		     "missing; expected an object");
	expect_error("{\"vault\":{\"address\":\"https://v.example.test\",\"auth\":{}}}",
		     "vault.auth.method", "missing");
	expect_error("{\"vault\":{\"address\":\"https://v.example.test\",\"auth\":{"
		     "\"method\":\"userpass\"}}}",
		     "vault.auth.method",
		     "expected \"token\" or \"approle\", got \"userpass\"");
	expect_error("{\"vault\":{\"address\":\"https://v.example.test\",\"auth\":{"
		     "\"method\":\"token\"}}}",
		     "vault.auth.token_file", "missing");
	expect_error(
	    "{\"vault\":{\"address\":\"http://vault.example.test:8200\"," TOKEN_AUTH "}}",
	    "vault.address", "got \"http://vault.example.test:8200\"");
	expect_error("{\"vault\":{\"address\":\"vault.example.test:8200\"," TOKEN_AUTH
		     "}}",
		     "vault.address", "expected an https:// URL");
}

static void test_vault_address_schemes(void **state)
{
	static const char *const ok[] = {
	    "https://vault.example.test:8200",
	    "http://127.0.0.1:8200",
	    "http://localhost:8200",
	    "http://[::1]:8200/",
	};
	struct config *cfg = NULL;
	char text[512], err[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		snprintf(text, sizeof(text),
			 "{\"vault\":{\"address\":\"%s\"," TOKEN_AUTH "}}", ok[i]);
		cfg = NULL;
		if (parse(text, &cfg, err, sizeof(err)) != 0)
			fail_msg("%s refused: %s", ok[i], err);
		assert_string_equal(cfg->vault.address, ok[i]);
		config_free(cfg);
	}
}

static void test_errors_registries(void **state)
{
	(void)state;
	expect_error("{" MIN_VAULT ",\"registries\":[]}", "registries",
		     "expected an object, got an array");
	expect_error("{" MIN_VAULT ",\"registries\":{\"pypi\":\"https://x\"}}",
		     "registries.pypi", "expected an object, got a string");
	expect_error("{" MIN_VAULT ",\"registries\":{\"pypi\":{\"url\":\"https://x\"}}}",
		     "registries.pypi.type", "missing");
	expect_error("{" MIN_VAULT ",\"registries\":{\"pypi\":{\"type\":\"pip\","
		     "\"url\":\"https://x\"}}}",
		     "registries.pypi.type", "expected \"pypi\" or \"npm\", got \"pip\"");
	expect_error("{" MIN_VAULT ",\"registries\":{\"npm\":{\"type\":\"npm\"}}}",
		     "registries.npm.url", "missing");
	expect_error("{" MIN_VAULT ",\"registries\":{\"npm\":{\"type\":\"npm\","
		     "\"url\":\"http://registry.example.test/\"}}}",
		     "registries.npm.url", "expected an https:// URL");
	expect_error(
	    "{" MIN_VAULT ",\"registries\":{\"npm\":{\"type\":\"npm\","
	    "\"url\":\"https://r.example.test/\",\"token_key\":\"KKKKKKKKKKKKKKKKKKKKKKKK"
	    "KKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKK"
	    "KKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKKK\"}}}",
	    "registries.npm.token_key", "too long");
	expect_error("{" MIN_VAULT ",\"registries\":{\"npm\":{\"type\":\"npm\","
		     "\"url\":\"https://r.example.test/\",\"username\":false}}}",
		     "registries.npm.username", "got a boolean");
}

static void test_invalid_json_line(void **state)
{
	struct config *cfg = NULL;
	char err[512];
	const char *text = "{\n"
			   "  \"vault\": {\n"
			   "    \"address\": \"https://v.example.test\",,\n"
			   "    \"auth\": {}\n"
			   "  }\n"
			   "}\n";

	(void)state;
	assert_int_equal(parse(text, &cfg, err, sizeof(err)), AOS_ECONFIG);
	assert_null(cfg);
	assert_string_equal(err, CFG_PATH ": (file): not valid JSON (near line 3)");
	assert_int_equal(parse("", &cfg, err, sizeof(err)), AOS_ECONFIG);
	assert_non_null(strstr(err, "not valid JSON (near line 1)"));
	assert_int_equal(parse("{\n\n\n\"a\": tru }", &cfg, err, sizeof(err)),
			 AOS_ECONFIG);
	assert_non_null(strstr(err, "near line 4"));
}

static void test_too_large(void **state)
{
	struct config *cfg = NULL;
	size_t len = 1024 * 1024 + 1;
	char *text = malloc(len);
	char err[512];

	(void)state;
	assert_non_null(text);
	memset(text, ' ', len);
	text[0] = '{';
	text[len - 1] = '}';
	assert_int_equal(config_parse(text, len, CFG_PATH, &cfg, err, sizeof(err)),
			 AOS_ECONFIG);
	assert_non_null(strstr(err, "larger than"));
	free(text);
}

static void test_env_override(void **state)
{
	static const char text[] =
	    "{\"vault\":{\"address\":\"https://file.example.test\","
	    "\"namespace\":\"file-ns\"," TOKEN_AUTH "}}";
	struct config *cfg = NULL;
	char err[512];

	(void)state;
	/* The environment wins over the file, BAO_ over VAULT_. */
	setenv("VAULT_ADDR", "https://vault-env.example.test", 1);
	assert_int_equal(parse(text, &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg->vault.address, "https://vault-env.example.test");
	config_free(cfg);

	setenv("BAO_ADDR", "https://bao-env.example.test", 1);
	cfg = NULL;
	assert_int_equal(parse(text, &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg->vault.address, "https://bao-env.example.test");
	config_free(cfg);

	/* An empty variable counts as unset. */
	setenv("BAO_ADDR", "", 1);
	cfg = NULL;
	assert_int_equal(parse(text, &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg->vault.address, "https://vault-env.example.test");
	config_free(cfg);
	unsetenv("BAO_ADDR");
	unsetenv("VAULT_ADDR");

	/* Namespace and CA follow the same rule. */
	setenv("VAULT_NAMESPACE", "vault-ns", 1);
	setenv("BAO_CACERT", "/etc/bao-ca.pem", 1);
	setenv("VAULT_CAPATH", "/etc/vault-ca.d", 1);
	cfg = NULL;
	assert_int_equal(parse(text, &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg->vault.address, "https://file.example.test");
	assert_string_equal(cfg->vault.namespace, "vault-ns");
	assert_string_equal(cfg->vault.ca_file, "/etc/bao-ca.pem");
	assert_string_equal(cfg->vault.ca_path, "/etc/vault-ca.d");
	config_free(cfg);
}

static void test_env_address(void **state)
{
	static const char text[] = "{\"vault\":{" TOKEN_AUTH "}}";
	struct config *cfg = NULL;
	char err[512];

	(void)state;
	/* A missing vault.address is satisfied by either variable. */
	setenv("VAULT_ADDR", "http://127.0.0.1:8200", 1);
	assert_int_equal(parse(text, &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg->vault.address, "http://127.0.0.1:8200");
	config_free(cfg);
	unsetenv("VAULT_ADDR");

	setenv("BAO_ADDR", "https://bao.example.test:8200", 1);
	cfg = NULL;
	assert_int_equal(parse(text, &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg->vault.address, "https://bao.example.test:8200");
	config_free(cfg);

	/* The environment's value is checked like the file's. */
	setenv("BAO_ADDR", "http://bao.example.test:8200", 1);
	expect_error(text, "vault.address", "got \"http://bao.example.test:8200\"");
	unsetenv("BAO_ADDR");
}

static void test_url_allowed(void **state)
{
	static const char *const ok[] = {
	    "https://vault.example.test",
	    "HTTPS://vault.example.test:8200/",
	    "https://127.0.0.1.example.test",
	    "http://127.0.0.1",
	    "http://127.0.0.1/",
	    "http://127.0.0.1:8200",
	    "http://127.0.0.1:8200/v1",
	    "http://127.1.2.3:80/",
	    "http://127.255.255.254",
	    "http://localhost",
	    "http://LOCALHOST:8200",
	    "http://localhost:8200/",
	    "http://localhost/path",
	    "http://[::1]",
	    "http://[::1]:8200",
	    "http://[::1]/x",
	};
	static const char *const bad[] = {
	    "",
	    "https://",
	    "https:///path",
	    "ftp://127.0.0.1/",
	    "127.0.0.1:8200",
	    "http://",
	    "http://vault.example.test",
	    "http://10.0.0.1:8200",
	    "http://128.0.0.1",
	    /* Names that merely start like a loopback host. */
	    "http://127.0.0.1.evil.example",
	    "http://127.0.0.1.nip.io:8200/",
	    "http://127.evil.example",
	    "http://127.",
	    "http://127.0.0",
	    "http://127.0.0.256",
	    "http://127.0.0.1evil.example",
	    "http://localhost.evil.example",
	    "http://localhostevil.example",
	    "http://[::1].evil.example",
	    "http://[::1]evil",
	    /* Userinfo: the real host is after the '@'. */
	    "http://127.0.0.1@evil.example",
	    "http://localhost@evil.example",
	    "http://127.0.0.1:8200@evil.example",
	    "http://localhost:x@evil.example/",
	    "http://[::1]:8200@evil.example",
	    "http://localhost:",
	    "http://localhost:8200x",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		if (!config_url_allowed(ok[i]))
			fail_msg("refused %s", ok[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (config_url_allowed(bad[i]))
			fail_msg("accepted %s", bad[i]);
}

static void test_load(void **state)
{
	struct config *cfg = NULL;
	char path[] = "/tmp/aos-config-XXXXXX";
	char err[512], want[600];
	int fd;

	(void)state;
	assert_int_equal(
	    config_load("/nonexistent/aos/config.json", &cfg, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/aos/config.json"));
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, full_config, strlen(full_config)),
			 (ssize_t)strlen(full_config));
	close(fd);
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg->path, path);
	assert_string_equal(cfg->dir, "/tmp");
	assert_int_equal(cfg->nregistries, 4);
	config_free(cfg);
	/* Errors name the file. */
	fd = open(path, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "{}", 2), 2);
	close(fd);
	cfg = NULL;
	assert_int_equal(config_load(path, &cfg, err, sizeof(err)), AOS_ECONFIG);
	snprintf(want, sizeof(want), "%s: vault: missing", path);
	assert_non_null(strstr(err, want));
	unlink(path);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_full, setup_test, teardown_test),
	    cmocka_unit_test_setup_teardown(test_defaults, setup_test, teardown_test),
	    cmocka_unit_test_setup_teardown(test_registry_defaults, setup_test,
					    teardown_test),
	    cmocka_unit_test_setup_teardown(test_default_index_url, setup_test,
					    teardown_test),
	    cmocka_unit_test_setup_teardown(test_errors_unknown_keys, setup_test,
					    teardown_test),
	    cmocka_unit_test_setup_teardown(test_errors_types_and_ranges, setup_test,
					    teardown_test),
	    cmocka_unit_test_setup_teardown(test_errors_vault, setup_test, teardown_test),
	    cmocka_unit_test_setup_teardown(test_vault_address_schemes, setup_test,
					    teardown_test),
	    cmocka_unit_test_setup_teardown(test_errors_registries, setup_test,
					    teardown_test),
	    cmocka_unit_test_setup_teardown(test_invalid_json_line, setup_test,
					    teardown_test),
	    cmocka_unit_test_setup_teardown(test_too_large, setup_test, teardown_test),
	    cmocka_unit_test_setup_teardown(test_env_override, setup_test, teardown_test),
	    cmocka_unit_test_setup_teardown(test_env_address, setup_test, teardown_test),
	    cmocka_unit_test_setup_teardown(test_url_allowed, setup_test, teardown_test),
	    cmocka_unit_test_setup_teardown(test_load, setup_test, teardown_test),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
