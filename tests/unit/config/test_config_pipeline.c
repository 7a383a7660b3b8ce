/* Unit tests for agent/config/config_pipeline.c: the "listen", "webhooks" and
 * "pipelines" sections, their defaults, and an error naming the key path
 * for every bad key. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "config/config.h"
#include "config_fixture.h"

/* ---- defaults ---- */

static void test_defaults(void **state)
{
	struct config *cfg = parse_ok("");
	int f;

	(void)state;
	assert_null(cfg->listen.address);
	assert_null(cfg->listen.host);
	for (f = 0; f < FORGE__COUNT; f++)
		assert_null(cfg->webhook_keys[f]);
	assert_int_equal(cfg->npipelines, 0);
	assert_null(config_pipeline(cfg, "py"));
	assert_string_equal(cfg->work_dir, "/var/lib/aos-t/work");
	assert_int_equal(cfg->build_isolation, ISOLATION_NAMESPACES);
	config_free(cfg);

	assert_string_equal(forge_name(FORGE_GITHUB), "github");
	assert_string_equal(forge_name(FORGE_GITLAB), "gitlab");
	assert_string_equal(forge_name(FORGE_GITEA), "gitea");
	assert_string_equal(forge_name(FORGE__COUNT), "unknown");
}

/* The listen section as given, and with every default. */
static void test_listen(void **state)
{
	static const struct {
		const char *sections;
		struct listen_cfg want; /* address, host, port, then the limits */
	} cases[] = {
	    {"\"listen\":{\"address\":\"127.0.0.1:8080\"}",
	     {"127.0.0.1:8080",
	      "127.0.0.1",
	      8080,
	      16384,
	      1048576,
	      10000,
	      30000,
	      60000,
	      512,
	      16777216,
	      {NULL, NULL}}},
	    {"\"listen\":{\"address\":\"[::1]:9443\",\"max_header_bytes\":1024,"
	     "\"max_body_bytes\":26214400,\"header_timeout_ms\":100,"
	     "\"body_timeout_ms\":600000,\"idle_timeout_ms\":3600000,"
	     "\"max_connections\":65536}",
	     /* The default cap grows to one request of the largest size. */
	     {"[::1]:9443",
	      "::1",
	      9443,
	      1024,
	      26214400,
	      100,
	      600000,
	      3600000,
	      65536,
	      26216448,
	      {NULL, NULL}}},
	    {"\"listen\":{\"address\":\"127.0.0.1:1\",\"max_unauthenticated_bytes\":1081344}",
	     {"127.0.0.1:1",
	      "127.0.0.1",
	      1,
	      16384,
	      1048576,
	      10000,
	      30000,
	      60000,
	      512,
	      1081344,
	      {NULL, NULL}}},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct listen_cfg *w = &cases[i].want;
		struct config *cfg = parse_ok(cases[i].sections);
		const struct listen_cfg *l = &cfg->listen;

		assert_string_equal(l->address, w->address);
		assert_string_equal(l->host, w->host);
		assert_int_equal(l->port, w->port);
		assert_memory_equal(&l->max_header_bytes, &w->max_header_bytes,
				    sizeof(*l) -
					offsetof(struct listen_cfg, max_header_bytes));
		config_free(cfg);
	}
}

/* Addresses taken, as "address host port" triples. */
static const char *const good_addresses[][3] = {
    {"127.0.0.1:8080", "127.0.0.1", "8080"},
    {"0.0.0.0:1", "0.0.0.0", "1"},
    {"10.1.2.3:65535", "10.1.2.3", "65535"},
    {"[::1]:8080", "::1", "8080"},
    {"[::]:443", "::", "443"},
    {"[fe80::1:2]:1", "fe80::1:2", "1"},
};

/* Refused, with what the message says: no or a bad port (0 included: a
 * forge needs a fixed port), bad brackets, a name that does not resolve,
 * a name in brackets. */
static const char *const bad_addresses[][2] = {
    {"127.0.0.1", "port from 1 to 65535"},
    {"127.0.0.1:", "port from 1 to 65535"},
    {"127.0.0.1:0", "port from 1 to 65535"},
    {"[::1]:0", "port from 1 to 65535"},
    {"localhost:0", "port from 1 to 65535"},
    {"127.0.0.1:65536", "port from 1"},
    {"127.0.0.1:-1", "port from 1"},
    {"127.0.0.1:80x", "port from 1"},
    {":8080", "HOST:PORT"},
    {"[::1]", "HOST:PORT"},
    {"[::1]8080", "HOST:PORT"},
    {"[::1]:", "HOST:PORT"},
    {"[]:80", "HOST:PORT"},
    {"[::1:80", "HOST:PORT"},
    {"::1:8080", "HOST:PORT"},
    {"127.0.0.1: 80", "HOST:PORT"},
    {"127.0.0.1:+80", "HOST:PORT"},
    {"1.2.3.4:80:90", "HOST:PORT"},
    {"local host:80", "HOST:PORT"},
    {"host/x:80", "HOST:PORT"},
    {"[::g]:80", "\"::g\" is not an IPv6 address"},
    {"[127.0.0.1]:80", "is not an IPv6 address"},
    {"[localhost]:80", "is not an IPv6 address"},
    {"no-such-host.invalid:80", "host \"no-such-host.invalid\" does not resolve"},
    {"1.2.3.4.5:80", "host \"1.2.3.4.5\" does not resolve"},
    {"256.1.1.1:80", "does not resolve"},
};

static int parse_address(const char *address, struct config **cfg, char *err,
			 size_t errlen)
{
	char sections[256];

	snprintf(sections, sizeof(sections), "\"listen\":{\"address\":\"%s\"}", address);
	return parse(sections, cfg, err, errlen);
}

static void test_listen_address(void **state)
{
	char err[512] = "";
	struct config *cfg;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good_addresses) / sizeof(good_addresses[0]); i++) {
		if (parse_address(good_addresses[i][0], &cfg, err, sizeof(err)) != 0)
			fail_msg("%s refused: %s", good_addresses[i][0], err);
		assert_string_equal(cfg->listen.address, good_addresses[i][0]);
		assert_string_equal(cfg->listen.host, good_addresses[i][1]);
		assert_int_equal(cfg->listen.port, atoi(good_addresses[i][2]));
		config_free(cfg);
	}
	for (i = 0; i < sizeof(bad_addresses) / sizeof(bad_addresses[0]); i++) {
		int r = parse_address(bad_addresses[i][0], &cfg, err, sizeof(err));

		if (r != AOS_ECONFIG ||
		    strstr(err, CFG_PATH ": listen.address: ") != err ||
		    strstr(err, bad_addresses[i][1]) == NULL)
			fail_msg("%s: %d \"%s\", want a listen.address error "
				 "saying \"%s\"",
				 bad_addresses[i][0], r, err, bad_addresses[i][1]);
	}
}

/* A host name is resolved once, at load, to an address the listener binds:
 * "localhost" to the loopback address the hosts file gives first. */
static void test_listen_host_name(void **state)
{
	static const char *const names[] = {"localhost:8080", "LOCALHOST:8080"};
	char err[512] = "";
	struct config *cfg;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (parse_address(names[i], &cfg, err, sizeof(err)) != 0)
			fail_msg("%s refused: %s", names[i], err);
		assert_string_equal(cfg->listen.address, names[i]);
		if (strcmp(cfg->listen.host, "127.0.0.1") != 0 &&
		    strcmp(cfg->listen.host, "::1") != 0)
			fail_msg("%s resolved to \"%s\", not a loopback address",
				 names[i], cfg->listen.host);
		assert_int_equal(cfg->listen.port, 8080);
		config_free(cfg);
	}
}

/* ---- webhooks ---- */

static void test_webhooks(void **state)
{
	struct config *cfg = parse_ok(
	    "\"webhooks\":{\"github\":{\"secret_key\":\"GITHUB_WEBHOOK_SECRET\"},"
	    "\"gitlab\":{\"secret_key\":\"GITLAB_WEBHOOK_TOKEN\"},"
	    "\"gitea\":{\"secret_key\":\"GITHUB_WEBHOOK_SECRET\"}}");

	(void)state;
	assert_string_equal(cfg->webhook_keys[FORGE_GITHUB], "GITHUB_WEBHOOK_SECRET");
	assert_string_equal(cfg->webhook_keys[FORGE_GITLAB], "GITLAB_WEBHOOK_TOKEN");
	assert_string_equal(cfg->webhook_keys[FORGE_GITEA], "GITHUB_WEBHOOK_SECRET");
	/* Registry tokens first, then the webhook keys, each once. */
	assert_int_equal(cfg->nsecret_keys, 5);
	assert_string_equal(cfg->secret_keys[0], "TEST_PYPI_API_TOKEN");
	assert_string_equal(cfg->secret_keys[1], "PYPI_API_TOKEN");
	assert_string_equal(cfg->secret_keys[2], "NPM_TOKEN");
	assert_string_equal(cfg->secret_keys[3], "GITHUB_WEBHOOK_SECRET");
	assert_string_equal(cfg->secret_keys[4], "GITLAB_WEBHOOK_TOKEN");
	config_free(cfg);
}

/* A webhook key shared with a registry token is not listed twice; one forge
 * alone leaves the others refused. */
static void test_webhook_key_shared(void **state)
{
	struct config *cfg =
	    parse_ok("\"webhooks\":{\"gitlab\":{\"secret_key\":\"NPM_TOKEN\"}}");

	(void)state;
	assert_null(cfg->webhook_keys[FORGE_GITHUB]);
	assert_string_equal(cfg->webhook_keys[FORGE_GITLAB], "NPM_TOKEN");
	assert_null(cfg->webhook_keys[FORGE_GITEA]);
	assert_int_equal(cfg->nsecret_keys, 3);
	config_free(cfg);
}

/* ---- pipelines ---- */

static void test_pipeline_defaults(void **state)
{
	struct config *cfg = parse_ok("\"pipelines\":{\"py\":{" PIPE_KEYS "}}");
	const struct pipeline_cfg *p;

	(void)state;
	assert_int_equal(cfg->npipelines, 1);
	p = config_pipeline(cfg, "py");
	assert_non_null(p);
	assert_ptr_equal(p, &cfg->pipelines[0]);
	assert_null(config_pipeline(cfg, "js"));
	{
		const char *const got[] = {
		    p->name,	    p->repository, p->repository_name,
		    p->tag_pattern, p->package,	   p->directory};
		const char *const want[] = {"py",
					    "https://forge.example/agenticverz/aos.git",
					    "agenticverz/aos",
					    "python-sdk-v*",
					    "aos-sdk",
					    "."};
		size_t i;

		for (i = 0; i < sizeof(got) / sizeof(got[0]); i++)
			assert_string_equal(got[i], want[i]);
	}
	assert_int_equal(p->nbuild, 1);
	assert_int_equal(p->nverify, 0);
	assert_int_equal(p->nartifacts, 1);
	assert_string_equal(p->artifacts[0], "dist/*.whl");
	assert_int_equal(p->ntargets, 2);
	assert_string_equal(p->targets[0], "testpypi");
	assert_string_equal(p->targets[1], "pypi");
	assert_int_equal(p->nenv, 0);
	assert_int_equal(p->timeout_s, 1800);
	assert_null(p->dist_tag);
	assert_null(p->prerelease_dist_tag);
	/* the sandbox: nothing more to read or write, the network */
	assert_int_equal(p->nreadable, 0);
	assert_int_equal(p->nwritable, 0);
	assert_true(p->network);
	config_free(cfg);
}

static void test_pipeline_full(void **state)
{
	struct config *cfg = parse_ok(
	    "\"pipelines\":{\"py\":{" PIPE_KEYS ",\"repository_name\":\"mirror/aos\","
	    "\"directory\":\"sdk/python\",\"verify\":[[\"twine\",\"check\",\"dist/*\"],\"ls\"],"
	    "\"env\":{\"PATH\":\"/opt/py/bin:/usr/bin\",\"PIP_NO_INDEX\":\"1\"},"
	    "\"timeout_s\":900,\"dist_tag\":\"next\",\"prerelease_dist_tag\":\"pre\",\"readable\":[\"/opt/py\",\"/srv/wheels\"],"
	    "\"writable\":[\"/var/cache/pip\"],\"network\":false},"
	    "\"js\":{\"repository\":\"git@forge.example:agenticverz/js.git\","
	    "\"tag_pattern\":\"v*\",\"package\":\"@a/js\",\"build\":[[\"npm\",\"pack\"]],"
	    "\"artifacts\":[\"*.tgz\"],\"targets\":[\"npm\"]}}");
	const struct pipeline_cfg *p = config_pipeline(cfg, "py"), *js;

	(void)state;
	assert_non_null(p);
	assert_string_equal(p->repository_name, "mirror/aos");
	assert_string_equal(p->directory, "sdk/python");
	/* A string step runs under /bin/sh -c; an array is the argv. */
	assert_int_equal(p->build[0].argc, 3);
	assert_string_equal(p->build[0].argv[0], "/bin/sh");
	assert_string_equal(p->build[0].argv[1], "-c");
	assert_string_equal(p->build[0].argv[2], "python3 -m build");
	assert_null(p->build[0].argv[3]);
	assert_string_equal(p->build[0].display, "python3 -m build");
	assert_int_equal(p->nverify, 2);
	assert_int_equal(p->verify[0].argc, 3);
	assert_string_equal(p->verify[0].argv[0], "twine");
	assert_string_equal(p->verify[0].argv[2], "dist/*");
	assert_null(p->verify[0].argv[3]);
	assert_string_equal(p->verify[0].display, "twine check dist/*");
	assert_string_equal(p->verify[1].argv[2], "ls");
	assert_int_equal(p->nenv, 2);
	assert_string_equal(p->env[0], "PATH=/opt/py/bin:/usr/bin");
	assert_string_equal(p->env[1], "PIP_NO_INDEX=1");
	assert_null(p->env[2]);
	assert_int_equal(p->timeout_s, 900);
	assert_string_equal(p->dist_tag, "next");
	assert_string_equal(p->prerelease_dist_tag, "pre");
	assert_int_equal(p->nreadable, 2);
	assert_string_equal(p->readable[0], "/opt/py");
	assert_string_equal(p->readable[1], "/srv/wheels");
	assert_int_equal(p->nwritable, 1);
	assert_string_equal(p->writable[0], "/var/cache/pip");
	assert_false(p->network);
	js = config_pipeline(cfg, "js");
	assert_non_null(js);
	assert_string_equal(js->repository_name, "agenticverz/js");
	assert_string_equal(js->build[0].display, "npm pack");
	assert_true(js->network);
	assert_int_equal(cfg->npipelines, 2);
	config_free(cfg);
}

/* The keys of a small valid pipeline "py", as JSON values. */
static const char *const pipe_base[][2] = {
    {"repository", "\"https://f.example/o/r.git\""},
    {"tag_pattern", "\"v*\""},
    {"package", "\"p\""},
    {"build", "[\"make\"]"},
    {"artifacts", "[\"x\"]"},
    {"targets", "[\"pypi\"]"},
};

/* The sections for "py" with key's value replaced (or added) by value, or
 * key left out when value is NULL. */
static void pipe_with(char *out, size_t len, const char *key, const char *value)
{
	size_t i, n = (size_t)snprintf(out, len, "\"pipelines\":{\"py\":{");
	bool found = false;

	for (i = 0; i < sizeof(pipe_base) / sizeof(pipe_base[0]); i++) {
		const char *v = pipe_base[i][1];

		if (strcmp(pipe_base[i][0], key) == 0) {
			found = true;
			v = value;
		}
		if (v != NULL)
			n += (size_t)snprintf(out + n, len - n, "\"%s\":%s,",
					      pipe_base[i][0], v);
	}
	if (!found && value != NULL)
		n += (size_t)snprintf(out + n, len - n, "\"%s\":%s,", key, value);
	snprintf(out + n - 1, len - n + 1, "}}"); /* over the last comma */
}

/* repository_name defaults to the last two parts of the repository. */
static void test_repository_name_default(void **state)
{
	static const char *const cases[][2] = {
	    {"https://forge.example/agenticverz/aos.git", "agenticverz/aos"},
	    {"https://forge.example/agenticverz/aos", "agenticverz/aos"},
	    {"https://forge.example/agenticverz/aos.git/", "agenticverz/aos"},
	    {"ssh://git@forge.example:2222/group/sub/proj.git", "sub/proj"},
	    {"git@forge.example:agenticverz/aos.git", "agenticverz/aos"},
	    {"file:///srv/git/team/repo.git", "team/repo"},
	    {"/srv/git/team/repo", "team/repo"},
	};
	char sections[1024], value[256];
	struct config *cfg;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(value, sizeof(value), "\"%s\"", cases[i][0]);
		pipe_with(sections, sizeof(sections), "repository", value);
		cfg = parse_ok(sections);
		assert_string_equal(cfg->pipelines[0].repository_name, cases[i][1]);
		config_free(cfg);
	}
}

/* ---- errors: each names its key path ---- */

struct err_case {
	const char *sections;
	const char *keypath;
	const char *want;
};

static const struct err_case err_cases[] = {
    /* listen */
    {"\"listen\":\"127.0.0.1:80\"", "listen", "expected an object"},
    {"\"listen\":{}", "listen.address", "missing"},
    {"\"listen\":{\"address\":80}", "listen.address", "expected a non-empty string"},
    {"\"listen\":{\"address\":\"127.0.0.1:80\",\"port\":80}", "listen.port",
     "unknown key"},
    {"\"listen\":{\"address\":\"127.0.0.1:80\",\"max_header_bytes\":1023}",
     "listen.max_header_bytes", "from 1024 to 1048576"},
    {"\"listen\":{\"address\":\"127.0.0.1:80\",\"max_header_bytes\":1048577}",
     "listen.max_header_bytes", "from 1024 to 1048576"},
    {"\"listen\":{\"address\":\"127.0.0.1:80\",\"max_body_bytes\":26214401}",
     "listen.max_body_bytes", "from 1024 to 26214400"},
    {"\"listen\":{\"address\":\"127.0.0.1:80\",\"max_body_bytes\":\"1M\"}",
     "listen.max_body_bytes", "got \"1M\""},
    {"\"listen\":{\"address\":\"127.0.0.1:80\",\"header_timeout_ms\":99}",
     "listen.header_timeout_ms", "from 100"},
    {"\"listen\":{\"address\":\"127.0.0.1:80\",\"body_timeout_ms\":1.5}",
     "listen.body_timeout_ms", "integer"},
    {"\"listen\":{\"address\":\"127.0.0.1:80\",\"idle_timeout_ms\":3600001}",
     "listen.idle_timeout_ms", "integer"},
    {"\"listen\":{\"address\":\"127.0.0.1:80\",\"max_connections\":0}",
     "listen.max_connections", "from 1 to 65536"},
    {"\"listen\":{\"address\":\"127.0.0.1:80\",\"max_unauthenticated_bytes\":1081343}",
     "listen.max_unauthenticated_bytes",
     "max_body_bytes + 2 x max_header_bytes = 1081344"},
    {"\"listen\":{\"address\":\"127.0.0.1:80\",\"max_unauthenticated_bytes\":0}",
     "listen.max_unauthenticated_bytes", "from 3072 to 4294967296"},
    {"\"listen\":{\"address\":\"127.0.0.1:80\",\"address\":\"127.0.0.1:81\"}",
     "listen.address", "duplicate key"},
    /* webhooks */
    {"\"webhooks\":[]", "webhooks", "expected an object"},
    {"\"webhooks\":{\"bitbucket\":{\"secret_key\":\"K\"}}", "webhooks.bitbucket",
     "unknown key"},
    {"\"webhooks\":{\"forgejo\":{\"secret_key\":\"K\"}}", "webhooks.forgejo",
     "unknown key"},
    {"\"webhooks\":{\"github\":\"K\"}", "webhooks.github", "expected an object"},
    {"\"webhooks\":{\"github\":{}}", "webhooks.github.secret_key", "missing"},
    {"\"webhooks\":{\"gitlab\":{\"secret_key\":\"\"}}", "webhooks.gitlab.secret_key",
     "an empty string"},
    {"\"webhooks\":{\"gitea\":{\"secret_key\":7}}", "webhooks.gitea.secret_key",
     "a number"},
    {"\"webhooks\":{\"github\":{\"secret_key\":\"K\",\"secret\":\"x\"}}",
     "webhooks.github.secret", "unknown key"},
    {"\"webhooks\":{\"github\":{\"secret_key\":\"K\"},\"github\":{\"secret_key\":\"L\"}}",
     "webhooks.github", "duplicate key"},
    /* pipelines */
    {"\"pipelines\":[]", "pipelines", "expected an object"},
    {"\"pipelines\":{\"py\":[]}", "pipelines.py", "expected an object"},
    {"\"pipelines\":{\"a:b\":{" PIPE_KEYS "}}", "pipelines.a:b", "no ':'"},
    /* two pipelines of one repository whose patterns can match one tag */
    {"\"pipelines\":{\"a\":{" PIPE_KEYS "},\"b\":{" PIPE_KEYS "}}",
     "pipelines.b.tag_pattern", "can match the same tag"},
    {"\"pipelines\":{\"a/b\":{" PIPE_KEYS "}}", "pipelines.a/b", "no ':'"},
    {"\"pipelines\":{\"py\":{" PIPE_KEYS "},\"py\":{" PIPE_KEYS "}}", "pipelines.py",
     "duplicate key"},
};

/* listen.tls: both files, or no TLS; nothing else in it.  The files
 * themselves are checked by tls_ctx_load() (test_tls.c). */
static void test_listen_tls(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = parse_ok(
	    "\"listen\":{\"address\":\"127.0.0.1:8443\",\"tls\":{"
	    "\"cert_file\":\"/etc/x/cert.pem\",\"key_file\":\"/etc/x/key.pem\"}}");
	assert_string_equal(cfg->listen.tls.cert_file, "/etc/x/cert.pem");
	assert_string_equal(cfg->listen.tls.key_file, "/etc/x/key.pem");
	config_free(cfg);
	cfg = parse_ok("\"listen\":{\"address\":\"127.0.0.1:8080\"}");
	assert_null(cfg->listen.tls.cert_file);
	config_free(cfg);
	expect_error(
	    "\"listen\":{\"address\":\"127.0.0.1:1\",\"tls\":{\"cert_file\":\"/c\"}}",
	    "listen.tls.key_file", "missing");
	expect_error(
	    "\"listen\":{\"address\":\"127.0.0.1:1\",\"tls\":{\"cert_file\":\"/c\","
	    "\"key_file\":\"/k\",\"ciphers\":\"RC4\"}}",
	    "listen.tls.ciphers", "unknown key");
	expect_error("\"listen\":{\"address\":\"127.0.0.1:1\",\"tls\":true}",
		     "listen.tls", "object");
}

static void test_errors(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++)
		if (err_cases[i].sections != NULL)
			expect_error(err_cases[i].sections, err_cases[i].keypath,
				     err_cases[i].want);
}

/* The most paths a pipeline's readable or writable list takes, and one more. */
#define SIXTEEN_PATHS                                                                       \
	"\"/p1\",\"/p2\",\"/p3\",\"/p4\",\"/p5\",\"/p6\",\"/p7\",\"/p8\",\"/p9\",\"/p10\"," \
	"\"/p11\",\"/p12\",\"/p13\",\"/p14\",\"/p15\",\"/p16\""
#define SEVENTEEN_PATHS SIXTEEN_PATHS ",\"/p17\""

/* The refusal of a git transport: what is allowed, and git's own limit. */
#define TRANSPORTS                                                                       \
	"only https://, ssh://, file://, user@host:path and absolute paths are allowed " \
	"(git runs with GIT_ALLOW_PROTOCOL=https:ssh:file)"

/* One key of "py" changed (NULL: left out): the error names its path. */
static const struct {
	const char *key, *value, *keypath, *want;
} key_cases[] = {
    {"bild", "[]", "pipelines.py.bild", "unknown key"},
    {"repository", NULL, "pipelines.py.repository", "missing"},
    {"repository", "\"--upload-pack=x/o/r\"", "pipelines.py", "must not start with '-'"},
    {"repository", "\"repo\"", "pipelines.py", "set repository_name"},
    {"repository_name", "[]", "pipelines.py.repository_name", "an array"},
    {"tag_pattern", NULL, "pipelines.py.tag_pattern", "missing"},
    {"tag_pattern", "\"v1.0\"", "pipelines.py", "exactly one '*'"},
    {"tag_pattern", "\"v**\"", "pipelines.py", "exactly one '*'"},
    {"tag_pattern", "\"*-*\"", "pipelines.py", "exactly one '*'"},
    {"tag_pattern", "\"v?*\"", "pipelines.py", "no '?' or '['"},
    {"tag_pattern", "\"v[0-9]*\"", "pipelines.py", "no '?' or '['"},
    {"package", NULL, "pipelines.py.package", "missing"},
    {"directory", "\"/abs\"", "pipelines.py", "directory must be relative"},
    {"directory", "\"a/../../b\"", "pipelines.py", "directory must be relative"},
    {"directory", "\"\"", "pipelines.py.directory", "an empty string"},
    /* steps: strings (for /bin/sh -c) or argv arrays of non-empty strings */
    {"build", NULL, "pipelines.py.build", "non-empty array of commands"},
    {"build", "[]", "pipelines.py.build", "non-empty array of commands"},
    {"build", "\"make\"", "pipelines.py.build", "array of commands"},
    {"build", "{}", "pipelines.py.build", "array of commands"},
    {"build", "[7]", "pipelines.py.build[0]", "got a number"},
    {"build", "[\"\"]", "pipelines.py.build[0]", "expected a command string"},
    {"build", "[\"make\",null]", "pipelines.py.build[1]", "got null"},
    {"build", "[[]]", "pipelines.py.build[0]", "non-empty array of strings"},
    {"build", "[[\"make\",1]]", "pipelines.py.build[0]", "item 1"},
    {"build", "[[\"make\",\"\"]]", "pipelines.py.build[0]", "item 1"},
    {"build", "[\"make\",[\"a\",[\"b\"]]]", "pipelines.py.build[1]", "item 1"},
    {"verify", "\"make check\"", "pipelines.py.verify", "array of commands"},
    {"verify", "[\"\"]", "pipelines.py.verify[0]", "expected a command string"},
    {"artifacts", NULL, "pipelines.py.artifacts", "missing"},
    {"artifacts", "[]", "pipelines.py.artifacts", "non-empty array"},
    {"artifacts", "[\"/etc/*\"]", "pipelines.py.artifacts", "relative to directory"},
    {"artifacts", "[\"../*.whl\"]", "pipelines.py.artifacts", "relative to directory"},
    {"artifacts", "[\"x\",3]", "pipelines.py.artifacts", "item 1"},
    /* targets must be registries */
    {"targets", NULL, "pipelines.py.targets", "missing"},
    {"targets", "[]", "pipelines.py.targets", "non-empty array"},
    {"targets", "[\"pypi\",\"crates\"]", "pipelines.py.targets",
     "\"crates\" is not a registry"},
    {"targets", "\"pypi\"", "pipelines.py.targets", "got a string"},
    {"env", "[\"A=1\"]", "pipelines.py.env", "expected an object"},
    {"env", "{\"HOME\":\"/root\"}", "pipelines.py.env", "HOME cannot be set"},
    {"env", "{\"A=B\":\"1\"}", "pipelines.py.env", "\"A=B\""},
    {"env", "{\"\":\"1\"}", "pipelines.py.env", "expected NAME"},
    {"env", "{\"N\":1}", "pipelines.py.env", "\"N\": expected NAME"},
    {"env", "{\"N\":\"1\",\"N\":\"2\"}", "pipelines.py.env.N", "duplicate key"},
    {"timeout_s", "0", "pipelines.py.timeout_s", "from 1 to 86400"},
    {"timeout_s", "86401", "pipelines.py.timeout_s", "from 1 to 86400"},
    {"dist_tag", "\"\"", "pipelines.py.dist_tag", "an empty string"},
    {"dist_tag", "true", "pipelines.py.dist_tag", "a boolean"},
    /* npm's rules for a dist-tag: nothing that reads as a version or range */
    {"dist_tag", "\"v1\"", "pipelines.py.dist_tag", "\"v1\" is not an npm dist-tag"},
    {"dist_tag", "\"a b\"", "pipelines.py.dist_tag", "is not an npm dist-tag"},
    {"prerelease_dist_tag", "\"\"", "pipelines.py.prerelease_dist_tag",
     "an empty string"},
    {"prerelease_dist_tag", "\"1.x\"", "pipelines.py.prerelease_dist_tag",
     "is not an npm dist-tag"},
    {"prerelease_dist_tag", "\"latest\"", "pipelines.py.prerelease_dist_tag",
     "prereleases never go to \"latest\""},
    /* the sandbox's paths: absolute, no "..", at most 16 */
    {"readable", "\"/opt\"", "pipelines.py.readable", "expected an array of strings"},
    {"readable", "[\"opt/sdk\"]", "pipelines.py.readable",
     "\"opt/sdk\": expected an absolute path without \"..\""},
    {"readable", "[\"/opt/../etc\"]", "pipelines.py.readable",
     "\"/opt/../etc\": expected an absolute path without \"..\""},
    {"readable", "[\"/opt\",\"\"]", "pipelines.py.readable", "item 1"},
    {"readable", "[" SEVENTEEN_PATHS "]", "pipelines.py.readable", "at most 16 paths"},
    {"writable", "[\"cache\"]", "pipelines.py.writable",
     "\"cache\": expected an absolute path without \"..\""},
    {"writable", "[\"/var/cache/..\"]", "pipelines.py.writable",
     "expected an absolute path without \"..\""},
    {"writable", "[" SEVENTEEN_PATHS "]", "pipelines.py.writable", "at most 16 paths"},
    {"network", "\"no\"", "pipelines.py.network", "expected true or false, got a string"},
    {"network", "0", "pipelines.py.network", "expected true or false, got a number"},
    /* git transports: no helpers (ext::, fd::), no git:// or http:// */
    {"repository", "\"ext::sh -c touch% /tmp/pwned\"", "pipelines.py", TRANSPORTS},
    {"repository", "\"fd::17\"", "pipelines.py", TRANSPORTS},
    {"repository", "\"file::/srv/git/r\"", "pipelines.py", TRANSPORTS},
    {"repository", "\"git://forge.example/o/r.git\"", "pipelines.py", TRANSPORTS},
    {"repository", "\"http://forge.example/o/r.git\"", "pipelines.py", TRANSPORTS},
    {"repository", "\"ftp://forge.example/o/r.git\"", "pipelines.py", TRANSPORTS},
    {"repository", "\"/srv/git/x::y\"", "pipelines.py", TRANSPORTS},
    {"repository", "\"relative/o/r\"", "pipelines.py", TRANSPORTS},
};

static void test_pipeline_errors(void **state)
{
	char sections[2048];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(key_cases) / sizeof(key_cases[0]); i++) {
		pipe_with(sections, sizeof(sections), key_cases[i].key,
			  key_cases[i].value);
		expect_error(sections, key_cases[i].keypath, key_cases[i].want);
	}
}

/* The transports a release needs are taken (repository_name defaults
 * are in test_repository_name_default). */
static void test_repository_transports(void **state)
{
	static const char *const good[] = {
	    "https://forge.example/o/r.git",
	    "ssh://git@forge.example:2222/o/r.git",
	    "git+ssh://git@forge.example/o/r.git",
	    "file:///srv/git/o/r.git",
	    "/srv/git/o/r",
	    "/srv/git/o:r",
	    "git@forge.example:o/r.git",
	    "forge.example:o/r.git",
	};
	char sections[1024], value[256];
	struct config *cfg;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(value, sizeof(value), "\"%s\"", good[i]);
		pipe_with(sections, sizeof(sections), "repository", value);
		cfg = parse_ok(sections);
		assert_string_equal(cfg->pipelines[0].repository, good[i]);
		config_free(cfg);
	}
	/* 16 paths is the most taken */
	pipe_with(sections, sizeof(sections), "readable", "[" SIXTEEN_PATHS "]");
	cfg = parse_ok(sections);
	assert_int_equal(cfg->pipelines[0].nreadable, 16);
	assert_string_equal(cfg->pipelines[0].readable[15], "/p16");
	config_free(cfg);
}

/* build_isolation: the three modes; the old words refused with a hint. */
static void test_build_isolation(void **state)
{
	static const struct {
		const char *value;
		enum isolation want;
	} good[] = {
	    {"\"namespaces\"", ISOLATION_NAMESPACES},
	    {"\"landlock\"", ISOLATION_LANDLOCK},
	    {"\"off\"", ISOLATION_OFF},
	};
	static const char *const expected =
	    "expected \"namespaces\" (bubblewrap, the default), \"landlock\" (the fallback) or "
	    "\"off\", got ";
	static const char *const hint =
	    "(\"auto\" and \"required\" were replaced, see docs/configuration.md)";
	char sections[256], want[512];
	struct config *cfg;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(sections, sizeof(sections), "\"build_isolation\":%s",
			 good[i].value);
		cfg = parse_ok(sections);
		assert_int_equal(cfg->build_isolation, good[i].want);
		config_free(cfg);
	}
	snprintf(want, sizeof(want), "%s\"auto\" %s", expected, hint);
	expect_error("\"build_isolation\":\"auto\"", "build_isolation", want);
	snprintf(want, sizeof(want), "%s\"required\" %s", expected, hint);
	expect_error("\"build_isolation\":\"required\"", "build_isolation", want);
	snprintf(want, sizeof(want), "%s\"Namespaces\"", expected);
	expect_error("\"build_isolation\":\"Namespaces\"", "build_isolation", want);
	expect_error("\"build_isolation\":\"bwrap\"", "build_isolation", "got \"bwrap\"");
	expect_error("\"build_isolation\":true", "build_isolation",
		     "expected a non-empty string");
	expect_error("\"build_isolation\":\"\"", "build_isolation", "an empty string");
}

/* Patterns with one '*' anywhere are taken. */
static void test_tag_pattern(void **state)
{
	static const char *const good[] = {"\"v*\"",	  "\"*\"",   "\"python-sdk-v*\"",
					   "\"*-final\"", "\"a*b\"", NULL};
	const char *const *p;
	char sections[1024];
	struct config *cfg;

	(void)state;
	for (p = good; *p != NULL; p++) {
		pipe_with(sections, sizeof(sections), "tag_pattern", *p);
		cfg = parse_ok(sections);
		assert_int_equal(
		    strncmp(cfg->pipelines[0].tag_pattern, *p + 1, strlen(*p) - 2), 0);
		config_free(cfg);
	}
}

/* The longest names taken, and one byte more. */
static void test_name_lengths(void **state)
{
	static const struct {
		const char *before, *after; /* the sections around the name */
		size_t max;
		const char *want;
	} cases[] = {
	    {"\"webhooks\":{\"github\":{\"secret_key\":\"", "\"}}", 127,
	     CFG_PATH ": webhooks.github.secret_key: too long (at most 127 bytes)"},
	    {"\"pipelines\":{\"", "\":{" PIPE_KEYS "}}", 100, "at most 100 bytes"},
	};
	char name[200], sections[1024], err[512];
	struct config *cfg;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(name, 'n', cases[i].max + 1);
		name[cases[i].max] = '\0';
		snprintf(sections, sizeof(sections), "%s%s%s", cases[i].before, name,
			 cases[i].after);
		cfg = parse_ok(sections);
		config_free(cfg);
		name[cases[i].max] = 'n';
		name[cases[i].max + 1] = '\0';
		snprintf(sections, sizeof(sections), "%s%s%s", cases[i].before, name,
			 cases[i].after);
		assert_int_equal(parse(sections, &cfg, err, sizeof(err)), AOS_ECONFIG);
		if (strstr(err, cases[i].want) == NULL)
			fail_msg("\"%s\" lacks \"%s\"", err, cases[i].want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_listen),
	    cmocka_unit_test(test_listen_tls),
	    cmocka_unit_test(test_listen_address),
	    cmocka_unit_test(test_listen_host_name),
	    cmocka_unit_test(test_webhooks),
	    cmocka_unit_test(test_webhook_key_shared),
	    cmocka_unit_test(test_pipeline_defaults),
	    cmocka_unit_test(test_pipeline_full),
	    cmocka_unit_test(test_repository_name_default),
	    cmocka_unit_test(test_errors),
	    cmocka_unit_test(test_repository_transports),
	    cmocka_unit_test(test_build_isolation),
	    cmocka_unit_test(test_tag_pattern),
	    cmocka_unit_test(test_pipeline_errors),
	    cmocka_unit_test(test_name_lengths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
