/* Unit tests for publishers/npm: URLs, the streamed publish document (read
 * back through the read callback, parsed, the tarball decoded and
 * compared), the configured PUT and packument GET. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/evp.h>

#include "common/buf.h"
#include "common/secret.h"
#include "publishers/answer.h"
#include "publishers/artifact.h"
#include "publishers/npm.h"
#include "publishers/npm_pubcfg.h"
#include "publishers/pub_err.h"
#include "publishers/registry.h"
#include "pub_fixture.h"

#define TGZ "agenticverz-aos-sdk-0.1.0.tgz"
#define NAME "@agenticverz/aos-sdk"
#define REG "http://127.0.0.1:4873/"

static const char pkg_json[] =
    "{\"name\": \"@agenticverz/aos-sdk\", \"version\": \"0.1.0\",\n"
    " \"description\": \"AOS SDK \\u00e9 \xe2\x9c\x93\", \"main\": "
    "\"./dist/index.cjs\",\n"
    " \"exports\": {\".\": {\"require\": \"./dist/index.cjs\", \"import\": "
    "\"./dist/index.mjs\"}},\n"
    " \"_id\": \"stale\", \"dist\": {\"tarball\": \"stale\"}, \"keywords\": [\"aos\", 1, "
    "null]}";

static struct artifact *make_tgz(const char *json, size_t payload, unsigned seed)
{
	char *data = malloc(payload + 1);
	const struct fx_member m[] = {
	    {"package/package.json", json, 0, 0, NULL},
	    {"package/dist/index.cjs", "module.exports = {VERSION: '0.1.0'};\n", 0, 0,
	     NULL},
	    {"package/dist/blob.bin", data, payload, 0, NULL},
	};
	struct artifact_options o = {.any_npm_filename = true};
	struct artifact *a = NULL;
	char err[256];

	assert_non_null(data);
	fx_fill(data, payload, seed);
	fx_write_archive(TGZ, FX_TGZ, m, payload > 0 ? 3 : 2);
	free(data);
	if (artifact_inspect(fx_path(TGZ), &o, &a, err, sizeof(err)) != 0)
		fail_msg("inspect: %s", err);
	return a;
}

/* Reads a whole document through the curl read callback, chunk bytes at a
 * time. */
static char *read_all(struct npm_body *b, size_t chunk, size_t *ret_len)
{
	size_t cap = (size_t)npm_body_length(b) + chunk + 1, len = 0, n;
	char *p = malloc(cap);

	assert_non_null(p);
	for (;;) {
		assert_true(len + chunk < cap);
		n = npm_body_read(p + len, 1, chunk, b);
		assert_int_not_equal(n, CURL_READFUNC_ABORT);
		assert_true(n <= chunk);
		if (n == 0)
			break;
		len += n;
	}
	p[len] = '\0';
	*ret_len = len;
	return p;
}

static void check_attachment(const cJSON *att, const struct artifact *a)
{
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(att, "data");
	size_t n, flen, pad = 0;
	unsigned char *raw;
	char *file;
	int k;

	assert_string_equal(
	    cJSON_GetObjectItemCaseSensitive(att, "content_type")->valuestring,
	    "application/octet-stream");
	assert_int_equal(
	    (uint64_t)cJSON_GetObjectItemCaseSensitive(att, "length")->valuedouble,
	    a->size);
	assert_true(cJSON_IsString(data));
	n = strlen(data->valuestring);
	assert_int_equal(n % 4, 0);
	assert_null(strpbrk(data->valuestring, "\r\n "));
	raw = malloc(n);
	assert_non_null(raw);
	k = EVP_DecodeBlock(raw, (const unsigned char *)data->valuestring, (int)n);
	assert_true(k >= 0);
	pad = n >= 2 && data->valuestring[n - 2] == '='
		  ? 2
		  : n >= 1 && data->valuestring[n - 1] == '=';
	file = fx_read_file(TGZ, &flen);
	assert_int_equal((size_t)k - pad, flen);
	assert_memory_equal(raw, file, flen);
	free(file);
	free(raw);
}

/* Parses a document and checks every part of it against a. */
static void check_doc(const char *doc, size_t len, const struct artifact *a,
		      const char *tag, const char *access)
{
	cJSON *root = cJSON_ParseWithLength(doc, len);
	const cJSON *tags, *versions, *v, *dist, *atts, *acc;
	char *tarball;

	assert_non_null(root);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(root, "_id")->valuestring,
			    NAME);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(root, "name")->valuestring,
			    NAME);
	assert_string_equal(
	    cJSON_GetObjectItemCaseSensitive(root, "description")->valuestring,
	    "AOS SDK \xc3\xa9 \xe2\x9c\x93");
	tags = cJSON_GetObjectItemCaseSensitive(root, "dist-tags");
	assert_int_equal(cJSON_GetArraySize(tags), 1);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(tags, tag)->valuestring,
			    "0.1.0");
	versions = cJSON_GetObjectItemCaseSensitive(root, "versions");
	assert_int_equal(cJSON_GetArraySize(versions), 1);
	v = cJSON_GetObjectItemCaseSensitive(versions, "0.1.0");
	assert_true(cJSON_IsObject(v));
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(v, "name")->valuestring,
			    NAME);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(v, "main")->valuestring,
			    "./dist/index.cjs");
	assert_non_null(cJSON_GetObjectItemCaseSensitive(v, "exports"));
	assert_int_equal(
	    cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(v, "keywords")), 3);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(v, "_id")->valuestring,
			    NAME "@0.1.0");
	dist = cJSON_GetObjectItemCaseSensitive(v, "dist");
	assert_string_equal(
	    cJSON_GetObjectItemCaseSensitive(dist, "integrity")->valuestring,
	    a->sha512_sri);
	assert_string_equal(cJSON_GetObjectItemCaseSensitive(dist, "shasum")->valuestring,
			    a->sha1);
	tarball = npm_tarball_url(REG, NAME, "0.1.0");
	assert_string_equal(
	    cJSON_GetObjectItemCaseSensitive(dist, "tarball")->valuestring, tarball);
	free(tarball);
	assert_null(strstr(doc, "stale"));
	acc = cJSON_GetObjectItemCaseSensitive(root, "access");
	if (access == NULL)
		assert_true(cJSON_IsNull(acc));
	else
		assert_string_equal(acc->valuestring, access);
	atts = cJSON_GetObjectItemCaseSensitive(root, "_attachments");
	assert_int_equal(cJSON_GetArraySize(atts), 1);
	check_attachment(cJSON_GetObjectItemCaseSensitive(atts, NAME "-0.1.0.tgz"), a);
	cJSON_Delete(root);
}

static void test_urls(void **state)
{
	char *u;

	u = npm_package_url(REG, NAME);
	assert_string_equal(u, "http://127.0.0.1:4873/@agenticverz%2faos-sdk");
	free(u);
	u = npm_package_url("https://h.invalid/npm", "left-pad");
	assert_string_equal(u, "https://h.invalid/npm/left-pad");
	free(u);
	u = npm_tarball_url("https://h.invalid/npm/", NAME, "1.2.3");
	assert_string_equal(u,
			    "https://h.invalid/npm/@agenticverz/aos-sdk/-/@agenticverz/"
			    "aos-sdk-1.2.3.tgz");
	free(u);
}

/* Documents of tarballs of every size modulo 3 (base64 padding), read with
 * chunks of every kind of size, decode back to the tarball. */
static void test_body_roundtrip(void **state)
{
	static const size_t chunks[] = {1, 4, 5, 7, 4096, 65536, 200000, 262144};
	struct npm_publish_opts o = {
	    .registry = REG, .tag = "latest", .access = "public"};
	bool residue[3] = {false, false, false};
	struct npm_body *b;
	struct artifact *a;
	char err[256], *doc, *first = NULL;
	size_t len, i, seed;

	for (seed = 1; seed <= 6; seed++) {
		a = make_tgz(pkg_json, 70000 + seed * 1001, (unsigned)seed);
		residue[a->size % 3] = true;
		if (npm_body_new(a, &o, &b, err, sizeof(err)) != 0)
			fail_msg("body: %s", err);
		for (i = 0; i < sizeof(chunks) / sizeof(chunks[0]); i++) {
			if (i > 0)
				assert_int_equal(npm_body_seek(b, 0, SEEK_SET),
						 CURL_SEEKFUNC_OK);
			doc = read_all(b, chunks[i], &len);
			assert_int_equal(len, npm_body_length(b));
			assert_int_equal(npm_body_produced(b), len);
			if (i == 0) {
				check_doc(doc, len, a, "latest", "public");
				first = doc;
				continue;
			}
			assert_memory_equal(doc, first, len);
			free(doc);
		}
		free(first);
		assert_string_equal(npm_body_error(b), "");
		npm_body_free(b);
		artifact_free(a);
	}
	assert_true(residue[0] && residue[1] && residue[2]);
}

static void test_body_options(void **state)
{
	struct npm_publish_opts o = {.registry = REG, .tag = "next"};
	struct artifact *a = make_tgz(pkg_json, 0, 1), *u;
	struct timespec ts[2] = {{0, 0}, {12345, 0}};
	struct npm_body *b = NULL;
	char err[256], *doc, buf[16];
	size_t len;

	assert_int_equal(npm_body_new(a, &o, &b, err, sizeof(err)), 0);
	doc = read_all(b, 100, &len);
	check_doc(doc, len, a, "next", NULL);
	free(doc);
	/* Only a rewind to the start is possible. */
	assert_int_equal(npm_body_seek(b, 5, SEEK_SET), CURL_SEEKFUNC_CANTSEEK);
	npm_body_free(b);

	o.access = "restricted";
	assert_int_equal(npm_body_new(a, &o, &b, err, sizeof(err)), 0);
	npm_body_free(b);
	o.access = "secret";
	assert_int_equal(npm_body_new(a, &o, &b, err, sizeof(err)), -EINVAL);

	u = make_tgz("{\"name\":\"x\",\"version\":\"1.0.0\"}", 0, 1);
	o.access = "restricted";
	assert_int_equal(npm_body_new(u, &o, &b, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "unscoped"));
	artifact_free(u);
	u = make_tgz("{\"name\":\"@a/b\",\"version\":\"1.0.0\",\"private\":true}", 0, 1);
	o.access = NULL;
	assert_int_equal(npm_body_new(u, &o, &b, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "private"));
	artifact_free(u);

	/* Touched after inspection: refused up front; touched while streaming:
	 * the read aborts before the suffix. */
	artifact_free(a);
	a = make_tgz(pkg_json, 100000, 9);
	assert_int_equal(npm_body_new(a, &o, &b, err, sizeof(err)), 0);
	assert_true(npm_body_read(buf, 1, sizeof(buf), b) == sizeof(buf));
	assert_int_equal(utimensat(AT_FDCWD, fx_path(TGZ), ts, 0), 0);
	for (;;) {
		size_t n = npm_body_read(buf, 1, sizeof(buf), b);

		if (n == CURL_READFUNC_ABORT)
			break;
		assert_int_not_equal(n, 0);
	}
	assert_non_null(strstr(npm_body_error(b), "changed since it was inspected"));
	npm_body_free(b);
	assert_int_equal(npm_body_new(a, &o, &b, err, sizeof(err)), PUB_ECHANGED);
	artifact_free(a);
}

static size_t collect(char *p, size_t size, size_t n, void *userdata)
{
	return buf_append(userdata, p, size * n) == 0 ? size * n : 0;
}

static void test_publish_request(void **state)
{
	struct npm_publish_opts o = {
	    .registry = NULL, .tag = "latest", .access = "public"};
	struct artifact *a =
	    make_tgz(pkg_json, 1500000, 4); /* over 1 MiB: curl would send Expect */
	struct answer_input in = {0};
	struct npm_publish *p = NULL;
	struct npm_body *b = NULL;
	struct fx_server srv;
	struct answer ans;
	cJSON *root;
	struct secret *tok;
	struct buf body;
	static const char forbidden[] = "{\"error\":\"You cannot publish over the "
					"previously published versions: 0.1.0.\"}";
	char reg[128], err[256] = "", *doc, want[64], resp[512];
	size_t len;
	CURL *h = curl_easy_init();

	assert_int_equal(secret_new("npm_testtoken", 13, &tok), 0);
	buf_init(&body, 65536);
	fx_server_start(&srv, "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\n"
			      "Content-Length: 11\r\n\r\n{\"ok\":true}");
	snprintf(reg, sizeof(reg), "http://127.0.0.1:%d/", srv.port);
	o.registry = reg;
	o.token = tok;
	if (npm_publish_setup(h, a, &o, &p, err, sizeof(err)) != 0)
		fail_msg("setup: %s", err);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
	assert_int_equal(curl_easy_perform(h), CURLE_OK);
	assert_string_equal(body.data, "{\"ok\":true}");
	buf_reset(&body);
	fx_server_wait(&srv);
	assert_true(
	    strncmp(srv.request, "PUT /@agenticverz%2faos-sdk HTTP/1.1\r\n", 38) == 0);
	assert_non_null(strstr(srv.request, "\r\nContent-Type: application/json\r\n"));
	assert_null(strcasestr(srv.request, "\r\nExpect:")); /* no 100-continue stall */
	assert_non_null(
	    strstr(srv.request, "\r\nAuthorization: Bearer npm_testtoken\r\n"));
	assert_non_null(
	    strstr(srv.request, "\r\nUser-Agent: aos-publishd/" AOS_VERSION "\r\n"));
	snprintf(want, sizeof(want), "\r\nContent-Length: %llu\r\n",
		 (unsigned long long)npm_body_length(npm_publish_body(p)));
	assert_non_null(strstr(srv.request, want));
	assert_int_equal(srv.request_len - srv.header_len,
			 npm_body_length(npm_publish_body(p)));
	/* The bytes sent are the document, which decodes to the tarball. */
	assert_int_equal(npm_body_new(a, &o, &b, err, sizeof(err)), 0);
	doc = read_all(b, 65536, &len);
	assert_int_equal(len, srv.request_len - srv.header_len);
	assert_memory_equal(doc, srv.request + srv.header_len, len);
	root = cJSON_Parse(doc);
	check_attachment(cJSON_GetObjectItemCaseSensitive(
			     cJSON_GetObjectItemCaseSensitive(root, "_attachments"),
			     NAME "-0.1.0.tgz"),
			 a);
	cJSON_Delete(root);
	free(doc);
	npm_body_free(b);
	fx_server_free(&srv);
	npm_publish_free(p);

	/* An "already published" answer, classified from the live transfer. */
	curl_easy_reset(h);
	snprintf(resp, sizeof(resp),
		 "HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\n"
		 "Content-Length: %zu\r\n\r\n%s",
		 strlen(forbidden), forbidden);
	fx_server_start(&srv, resp);
	snprintf(reg, sizeof(reg), "http://127.0.0.1:%d/", srv.port);
	assert_int_equal(npm_publish_setup(h, a, &o, &p, err, sizeof(err)), 0);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
	assert_int_equal(curl_easy_perform(h), CURLE_OK);
	fx_server_wait(&srv);
	assert_int_equal(answer_input_from_curl(h, &in), 0);
	in.body = body.data;
	in.body_len = body.len;
	answer_classify(REGISTRY_NPM, &in, &ans);
	assert_int_equal(ans.kind, ANSWER_EXISTS);
	assert_string_equal(
	    ans.reason,
	    "You cannot publish over the previously published versions: 0.1.0.");
	assert_string_equal(in.content_type, "application/json");
	buf_free(&body);
	fx_server_free(&srv);
	npm_publish_free(p);
	curl_easy_cleanup(h);
	secret_unref(tok);
	artifact_free(a);
}

static void test_packument_request(void **state)
{
	struct artifact *a = make_tgz(pkg_json, 10, 2);
	struct curl_slist *headers = NULL;
	struct answer_packument pk;
	struct fx_server srv;
	struct secret *tok;
	struct buf body;
	char reg[128], err[256] = "", resp[1024], msg[512];
	CURL *h = curl_easy_init();
	int n;

	n = snprintf(resp + 200, sizeof(resp) - 200,
		     "{\"name\":\"" NAME
		     "\",\"dist-tags\":{\"latest\":\"0.1.0\"},\"versions\":"
		     "{\"0.1.0\":{\"dist\":{\"integrity\":\"%s\",\"shasum\":\"%s\"}}}}",
		     a->sha512_sri, a->sha1);
	snprintf(resp, 200, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", n);
	memmove(resp + strlen(resp), resp + 200, (size_t)n + 1);
	assert_int_equal(secret_new("npm_tok", 7, &tok), 0);
	buf_init(&body, 65536);
	fx_server_start(&srv, resp);
	snprintf(reg, sizeof(reg), "http://127.0.0.1:%d", srv.port);
	assert_int_equal(
	    npm_packument_setup(h, reg, NAME, tok, &headers, err, sizeof(err)), 0);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
	assert_int_equal(curl_easy_perform(h), CURLE_OK);
	fx_server_wait(&srv);
	assert_true(
	    strncmp(srv.request, "GET /@agenticverz%2faos-sdk HTTP/1.1\r\n", 38) == 0);
	assert_non_null(strstr(srv.request, "application/vnd.npm.install-v1+json"));
	assert_non_null(strstr(srv.request, "\r\nAuthorization: Bearer npm_tok\r\n"));
	assert_int_equal(answer_npm_packument(body.data, body.len, "0.1.0", &pk), 0);
	assert_true(pk.has_version);
	assert_string_equal(pk.latest, "0.1.0");
	assert_int_equal(answer_npm_identity(NAME "@0.1.0", a->sha512_sri, a->sha1, &pk,
					     msg, sizeof(msg)),
			 ANSWER_OK);
	registry_headers_free(headers);
	buf_free(&body);
	fx_server_free(&srv);
	curl_easy_cleanup(h);
	secret_unref(tok);
	artifact_free(a);
}

/* A tarball whose package.json has this publishConfig (JSON text). */
static struct artifact *with_pubcfg(const char *name, const char *pubcfg)
{
	char json[512];

	snprintf(json, sizeof(json), "{\"name\": \"%s\", \"version\": \"0.1.0\"%s%s}",
		 name, pubcfg != NULL ? ", \"publishConfig\": " : "",
		 pubcfg != NULL ? pubcfg : "");
	return make_tgz(json, 0, 1);
}

/* publishConfig as npm applies it (npm/cli lib/commands/publish.js
 * #getManifest; libnpmpublish lib/publish.js): access over the registry's
 * setting, null without either; a registry other than ours refused. */
static void test_pubcfg_access(void **state)
{
	static const struct {
		const char *name, *pubcfg, *cfg, *want;
		int rc;
	} c[] = {
	    {NAME, NULL, NULL, NULL, 0},
	    {NAME, NULL, "public", "public", 0},
	    {NAME, "{\"access\": \"restricted\"}", "public", "restricted", 0},
	    {NAME, "{\"access\": \"public\"}", "restricted", "public", 0},
	    {NAME, "{\"access\": \"restricted\"}", NULL, "restricted", 0},
	    {NAME, "{\"access\": null}", "public", "public", 0},
	    {NAME, "{\"tag\": \"next\"}", NULL, NULL, 0},
	    {NAME, "{\"access\": \"secret\"}", NULL, NULL, -EINVAL},
	    {NAME, "{\"access\": 1}", NULL, NULL, -EINVAL},
	    {"aos-sdk", "{\"access\": \"restricted\"}", NULL, NULL, -EINVAL},
	    {"aos-sdk", NULL, "restricted", NULL, -EINVAL},
	    {NAME, "{\"registry\": \"http://127.0.0.1:4873\"}", NULL, NULL, 0},
	    {NAME, "{\"registry\": \"HTTP://127.0.0.1:4873//\"}", NULL, NULL, 0},
	    {NAME, "{\"registry\": \"http://127.0.0.1:4874/\"}", NULL, NULL, PUB_EURL},
	    {NAME, "{\"registry\": \"http://127.0.0.1:4873/npm/\"}", NULL, NULL,
	     PUB_EURL},
	    {NAME, "{\"registry\": 5}", NULL, NULL, PUB_EURL},
	    /* pickRegistry: the scope's registry first. */
	    {NAME,
	     "{\"@agenticverz:registry\": \"http://other/\", \"registry\": "
	     "\"http://127.0.0.1:4873/\"}",
	     NULL, NULL, PUB_EURL},
	    {NAME,
	     "{\"@agenticverz:registry\": \"http://127.0.0.1:4873/\", "
	     "\"registry\": \"http://other/\"}",
	     NULL, NULL, 0},
	    {"aos-sdk", "{\"@agenticverz:registry\": \"http://other/\"}", NULL, NULL, 0},
	};
	char err[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		struct artifact *a = with_pubcfg(c[i].name, c[i].pubcfg);
		const char *got = "unset";
		int r;

		err[0] = '\0';
		r = npm_pubcfg_access(a, REG, c[i].cfg, &got, err, sizeof(err));
		if (r != c[i].rc)
			fail_msg("case %zu (%s): got %d, want %d: %s", i,
				 c[i].pubcfg ? c[i].pubcfg : "-", r, c[i].rc, err);
		if (r == 0 &&
		    (c[i].want == NULL ? got != NULL
				       : got == NULL || strcmp(got, c[i].want) != 0))
			fail_msg("case %zu: access %s, want %s", i, got ? got : "null",
				 c[i].want ? c[i].want : "null");
		if (r < 0)
			assert_non_null(strstr(err, TGZ));
		if (r == PUB_EURL)
			assert_non_null(strstr(err, "another registry"));
		artifact_free(a);
	}
}

/* The dry run's document is the one sent, with a placeholder for the data. */
static void test_body_shown(void **state)
{
	struct artifact *a = make_tgz(pkg_json, 1000, 7);
	struct npm_publish_opts o = {
	    .registry = REG, .tag = "next", .access = "restricted"};
	struct npm_body *b = NULL;
	char err[256], *shown, *sent;
	size_t len, cut;

	(void)state;
	assert_int_equal(npm_body_new(a, &o, &b, err, sizeof(err)), 0);
	shown = npm_body_shown(b, "PLACEHOLDER");
	assert_non_null(shown);
	sent = read_all(b, 4096, &len);
	cut = (size_t)(strstr(shown, "PLACEHOLDER") - shown);
	/* Same bytes up to the data, same end. */
	assert_memory_equal(shown, sent, cut);
	assert_string_equal(shown + cut + strlen("PLACEHOLDER"), sent + len - 4);
	assert_non_null(strstr(shown, "\"access\":\"restricted\""));
	assert_non_null(strstr(shown, "\"dist-tags\":{\"next\":\"0.1.0\"}"));
	free(shown);
	free(sent);
	npm_body_free(b);
	artifact_free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_urls),
	    cmocka_unit_test(test_body_roundtrip),
	    cmocka_unit_test(test_body_options),
	    cmocka_unit_test(test_publish_request),
	    cmocka_unit_test(test_packument_request),
	    cmocka_unit_test(test_pubcfg_access),
	    cmocka_unit_test(test_body_shown),
	};
	int r;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	r = cmocka_run_group_tests(tests, fx_setup, fx_teardown);
	curl_global_cleanup();
	return r;
}
