/* Unit tests for publishers/answer: classification of canned registry
 * answers, Retry-After, status lines, and the documents that settle an
 * "already exists" answer. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/err.h"
#include "publishers/answer.h"
#include "publishers/pub_err.h"

#define SHA_A "a3f1c2d4e5b6a7980123456789abcdef0123456789abcdef0123456789abcdef"
#define SHA_B "0000000000000000000000000000000000000000000000000000000000000001"

struct canned {
	long status;
	const char *phrase, *retry_after, *www_auth, *location, *body;
};

static struct answer classify(enum registry_type type, const struct canned *c)
{
	struct answer_input in = {
	    .status = c->status,
	    .reason_phrase = c->phrase,
	    .retry_after = c->retry_after,
	    .www_authenticate = c->www_auth,
	    .location = c->location,
	    .body = c->body,
	    .body_len = c->body != NULL ? strlen(c->body) : 0,
	    .now = 1445412480, /* Wed, 21 Oct 2015 07:28:00 GMT */
	};
	struct answer a;

	answer_classify(type, &in, &a);
	assert_int_equal(a.status, c->status);
	return a;
}

static void expect(enum registry_type type, const struct canned *c, enum answer_kind kind,
		   const char *reason, const char *message)
{
	struct answer a = classify(type, c);

	if (a.kind != kind)
		fail_msg("status %ld: got %s (%s), want %s", c->status,
			 answer_kind_name(a.kind), a.message, answer_kind_name(kind));
	if (reason != NULL && strcmp(a.reason, reason) != 0)
		fail_msg("status %ld: reason \"%s\", want \"%s\"", c->status, a.reason,
			 reason);
	if (message != NULL && strstr(a.message, message) == NULL)
		fail_msg("status %ld: message \"%s\" lacks \"%s\"", c->status, a.message,
			 message);
}

static void test_pypi(void **state)
{
	/* PyPI (warehouse) puts its reason in the status line. */
	const struct canned exists = {
	    400,
	    "File already exists ('aos_sdk-0.1.0.tar.gz', with blake2_256 hash "
	    "'abc'). See https://pypi.org/help/#file-name-reuse for more information.",
	    NULL,
	    NULL,
	    NULL,
	    "<html>\n <head>\n  <title>400 File already exists</title>\n </head></html>"};
	const struct canned reused = {
	    400,
	    "This filename has already been used, use a different version. See "
	    "https://pypi.org/help/#file-name-reuse for more information.",
	    NULL,
	    NULL,
	    NULL,
	    NULL};
	/* pypiserver answers with bottle's HTML error page. */
	const struct canned pypiserver = {
	    409,
	    "Conflict",
	    NULL,
	    NULL,
	    NULL,
	    "<!DOCTYPE HTML PUBLIC \"-//IETF//DTD HTML "
	    "2.0//EN\">\n<html><head><title>Error: 409 "
	    "Conflict</title><style type=\"text/css\">"
	    "html {background-color: #eee;}</style>"
	    "</head><body><h1>Error: 409 Conflict</h1><p>Sorry, the requested URL "
	    "<tt>&#039;http://127.0.0.1/&#039;</tt> caused an error:</p><pre>Package "
	    "&#039;aos_sdk-0.1.0.tar.gz&#039; already exists!\n  You may start "
	    "server with `--overwrite` option. </pre></body></html>"};
	const struct canned c200 = {200, "OK", NULL, NULL, NULL, ""};
	const struct canned c403 = {
	    403,
	    "Invalid or non-existent authentication information. "
	    "See https://pypi.org/help/#invalid-auth for more information.",
	    NULL,
	    NULL,
	    NULL,
	    NULL};
	const struct canned c401 = {401,  "Unauthorized", NULL, "Basic realm=\"pypi\"",
				    NULL, "Unauthorized"};
	const struct canned c429 = {429, "Too Many Requests", "30", NULL, NULL, NULL};
	const struct canned c503 = {
	    503,  "Service Unavailable", "Wed, 21 Oct 2015 07:30:00 GMT", NULL,
	    NULL, "upstream down"};
	const struct canned c500 = {500, "Internal Server Error", NULL, NULL, NULL, NULL};
	const struct canned c400 = {400,
				    "Invalid value for classifiers. Error: Classifier "
				    "'Foo :: Bar' is not a valid classifier.",
				    NULL,
				    NULL,
				    NULL,
				    NULL};
	const struct canned c301 = {301,
				    "Moved Permanently",
				    NULL,
				    NULL,
				    "https://upload.example.invalid/legacy/",
				    NULL};
	const struct canned c413 = {
	    413,
	    "Request Entity Too Large",
	    NULL,
	    NULL,
	    NULL,
	    "<html><head><title>413 Request Entity Too Large</title></head>"
	    "<body><center><h1>413 Request Entity Too Large</h1></center>"
	    "</body></html>"};
	const struct canned none = {0, NULL, NULL, NULL, NULL, NULL};
	const struct canned c404 = {404, "Not Found", NULL, NULL, NULL, "Not Found\n"};
	struct answer a;

	expect(REGISTRY_PYPI, &c200, ANSWER_OK, "OK", "published");
	expect(REGISTRY_PYPI, &exists, ANSWER_EXISTS, NULL, "compare digests");
	a = classify(REGISTRY_PYPI, &exists);
	assert_true(
	    strncmp(a.reason, "File already exists ('aos_sdk-0.1.0.tar.gz'", 43) == 0);
	expect(REGISTRY_PYPI, &reused, ANSWER_CONFLICT, NULL, "new version");
	expect(REGISTRY_PYPI, &pypiserver, ANSWER_EXISTS,
	       "Package 'aos_sdk-0.1.0.tar.gz' already exists! You may start server with "
	       "`--overwrite` option.",
	       NULL);
	expect(REGISTRY_PYPI, &c403, ANSWER_AUTH, NULL, "credentials");
	expect(REGISTRY_PYPI, &c401, ANSWER_AUTH, "Unauthorized", NULL);
	expect(REGISTRY_PYPI, &c429, ANSWER_RETRY, NULL, "retry after 30 s");
	assert_int_equal(classify(REGISTRY_PYPI, &c429).retry_after, 30);
	expect(REGISTRY_PYPI, &c503, ANSWER_RETRY, "upstream down", "retry after 120 s");
	expect(REGISTRY_PYPI, &c500, ANSWER_RETRY, "Internal Server Error", "backoff");
	assert_int_equal(classify(REGISTRY_PYPI, &c500).retry_after, -1);
	expect(REGISTRY_PYPI, &c400, ANSWER_PERMANENT,
	       "Invalid value for classifiers. Error: Classifier 'Foo :: Bar' is "
	       "not a valid classifier.",
	       "refused the upload (400)");
	expect(REGISTRY_PYPI, &c301, ANSWER_PERMANENT, NULL,
	       "https://upload.example.invalid/legacy/");
	expect(REGISTRY_PYPI, &c413, ANSWER_TOO_LARGE, "413 Request Entity Too Large",
	       NULL);
	expect(REGISTRY_PYPI, &none, ANSWER_RETRY, "", "no answer");
	expect(REGISTRY_PYPI, &c404, ANSWER_PERMANENT, "Not Found", NULL);
}

static void test_npm(void **state)
{
	const struct canned over = {
	    403,
	    "Forbidden",
	    NULL,
	    NULL,
	    NULL,
	    "{\"error\":\"You cannot publish over the previously published "
	    "versions: 0.1.0.\"}"};
	const struct canned verdaccio = {
	    409,  "Conflict", NULL,
	    NULL, NULL,	      "{\"error\":\"this package is already present\"}"};
	const struct canned otp = {
	    401,  "Unauthorized",
	    NULL, "OTP",
	    NULL, "{\"error\":\"This operation requires a one-time password.\"}"};
	const struct canned c401 = {
	    401,  "Unauthorized",
	    NULL, "Bearer",
	    NULL, "{\"error\":\"bad username/password, access denied\"}"};
	const struct canned c403 = {
	    403,
	    "Forbidden",
	    NULL,
	    NULL,
	    NULL,
	    "{\"error\":\"user ci is not allowed to publish package "
	    "@agenticverz/aos-sdk\"}"};
	const struct canned c404 = {404,  "Not Found", NULL,
				    NULL, NULL,	       "{\"error\":\"Not found\"}"};
	const struct canned c413 = {413,  "Payload Too Large",
				    NULL, NULL,
				    NULL, "{\"error\":\"request entity too large\"}"};
	const struct canned c201 = {201,  "Created", NULL,
				    NULL, NULL,	     "{\"ok\":\"created\"}"};
	const struct canned c503 = {
	    503,  "Service Unavailable",
	    "5",  NULL,
	    NULL, "{\"error\":\"one of the uplinks is down, refuse to publish\"}"};
	const struct canned c402 = {
	    402,  "Payment Required",
	    NULL, NULL,
	    NULL, "{\"message\":\"You must sign up for private packages\"}"};
	const struct canned c422 = {422,  NULL, NULL,
				    NULL, NULL, "plain words\n\n\tand more"};

	expect(REGISTRY_NPM, &c201, ANSWER_OK, NULL, NULL);
	expect(REGISTRY_NPM, &over, ANSWER_EXISTS,
	       "You cannot publish over the previously published versions: 0.1.0.",
	       "integrity");
	expect(REGISTRY_NPM, &verdaccio, ANSWER_EXISTS, "this package is already present",
	       NULL);
	expect(REGISTRY_NPM, &otp, ANSWER_PERMANENT, NULL, "EOTP");
	expect(REGISTRY_NPM, &c401, ANSWER_AUTH, "bad username/password, access denied",
	       NULL);
	expect(REGISTRY_NPM, &c403, ANSWER_AUTH, NULL, "refused the token (403)");
	expect(REGISTRY_NPM, &c404, ANSWER_PERMANENT, "Not found", "scope");
	expect(REGISTRY_NPM, &c413, ANSWER_TOO_LARGE, "request entity too large",
	       "max_body_size");
	expect(REGISTRY_NPM, &c503, ANSWER_RETRY,
	       "one of the uplinks is down, refuse to publish", "retry after 5 s");
	expect(REGISTRY_NPM, &c402, ANSWER_PERMANENT,
	       "You must sign up for private packages", "\"public\"");
	expect(REGISTRY_NPM, &c422, ANSWER_PERMANENT, "plain words and more", "(422)");
}

/* Warehouse's answers as its sources write them (pypi/warehouse:
 * warehouse/forklift/legacy.py, forklift/decorators.py, macaroons/caveats/
 * __init__.py; the message is the status line's reason phrase). */
static void test_warehouse(void **state)
{
	const struct canned reused = {
	    400,
	    "This filename was previously used by a file that has since been deleted. "
	    "Use a different version. See https://pypi.example/help/#file-name-reuse for "
	    "more information.",
	    NULL,
	    NULL,
	    NULL,
	    NULL};
	const struct canned scoped = {
	    403,  "project-scoped token is not valid for project: 'aos-sdk'",
	    NULL, NULL,
	    NULL, NULL};
	const struct canned scoped_user = {
	    403,
	    "The given token isn't allowed to upload to project 'aos-sdk'. See "
	    "https://pypi.example/help/#project-name for more information.",
	    NULL,
	    NULL,
	    NULL,
	    NULL};
	const struct canned metadata = {
	    400,
	    "'1.0-what' is an invalid value for Version. Error: Start and end with a "
	    "letter or numeral containing only ASCII numeric and '.', '_' and '-'. See "
	    "https://packaging.python.org/specifications/core-metadata for more "
	    "information.",
	    NULL,
	    NULL,
	    NULL,
	    NULL};
	const struct canned c429 = {
	    429, "Too many new projects created", NULL, NULL, NULL, NULL};
	const struct canned c503 = {
	    503,   "Service Unavailable",
	    "600", NULL,
	    NULL,  "<html><title>PyPI is in maintenance</title></html>"};
	struct answer a;

	expect(REGISTRY_PYPI, &reused, ANSWER_CONFLICT, NULL, "post-release");
	expect(REGISTRY_PYPI, &scoped, ANSWER_AUTH,
	       "project-scoped token is not valid for project: 'aos-sdk'",
	       "scoped to other projects");
	expect(REGISTRY_PYPI, &scoped_user, ANSWER_AUTH, NULL,
	       "scoped to other projects");
	a = classify(REGISTRY_PYPI, &metadata);
	assert_int_equal(a.kind, ANSWER_PERMANENT);
	assert_non_null(strstr(a.reason, "is an invalid value for Version"));
	assert_non_null(strstr(a.message, "fix what its message names"));
	expect(REGISTRY_PYPI, &c429, ANSWER_RETRY, "Too many new projects created",
	       "rate-limited");
	assert_int_equal(classify(REGISTRY_PYPI, &c429).retry_after, -1);
	expect(REGISTRY_PYPI, &c503, ANSWER_RETRY, "PyPI is in maintenance",
	       "maintenance");
	assert_int_equal(classify(REGISTRY_PYPI, &c503).retry_after, 600);
}

/* devpi-server 6 (devpi_server/views.py): a different file under a taken
 * name on a non-volatile index, and a user without upload rights. */
static void test_devpi(void **state)
{
	const struct canned taken = {
	    409,
	    "Conflict",
	    NULL,
	    NULL,
	    NULL,
	    "<html>\n <head>\n  <title>409 aos_sdk-0.1.0.tar.gz already exists in "
	    "non-volatile index</title>\n </head></html>"};
	const struct canned denied = {
	    403,
	    "Forbidden",
	    NULL,
	    NULL,
	    NULL,
	    "<html>\n <head>\n  <title>403 no permission to submit</title>\n "
	    "</head></html>"};
	const struct canned same = {
	    200,
	    "OK",
	    NULL,
	    NULL,
	    NULL,
	    "<html><title>200 Upload of identical file to non volatile index."
	    "</title></html>"};
	/* waitress (devpi's server) over --max-request-body-size: waitress/
	 * parser.py, RequestEntityTooLarge; utilities.py, Error.to_response. */
	const struct canned big = {
	    413,
	    "Request Entity Too Large",
	    NULL,
	    NULL,
	    NULL,
	    "Request Entity Too Large\r\n\r\nexceeds max_body of 1048576\r\n\r\n"
	    "(generated by waitress)"};

	expect(REGISTRY_PYPI, &taken, ANSWER_EXISTS,
	       "409 aos_sdk-0.1.0.tar.gz already exists in non-volatile index", NULL);
	expect(REGISTRY_PYPI, &denied, ANSWER_AUTH, "403 no permission to submit", NULL);
	expect(REGISTRY_PYPI, &same, ANSWER_EXISTS,
	       "200 Upload of identical file to non volatile index.", "identical");
	expect(REGISTRY_PYPI, &big, ANSWER_TOO_LARGE, NULL, "--max-request-body-size");
}

/* npm's answers as npm reads them (npm/cli: node_modules/npm-registry-fetch/
 * lib/check-response.js, lib/utils/error-message.js). */
static void test_npm_cli(void **state)
{
	const struct canned race = {409,  "Conflict",
				    NULL, NULL,
				    NULL, "{\"error\":\"Document update conflict.\"}"};
	const struct canned ip = {401,	"Unauthorized",
				  NULL, "Bearer, IPAddress",
				  NULL, "{\"error\":\"IP address is not allowed\"}"};
	const struct canned otp_list = {
	    401, "Unauthorized", NULL, "Bearer realm=\"npm\", OTP", NULL, "{}"};
	const struct canned otp_body = {
	    401,
	    "Unauthorized",
	    NULL,
	    NULL,
	    NULL,
	    "{\"error\":\"You must provide a one-time pass. Upgrade your client.\"}"};
	const struct canned realm = {401,  "Unauthorized",
				     NULL, "Basic realm=\"hotpot\"",
				     NULL, "{\"error\":\"unauthorized\"}"};
	const struct canned c429 = {429,  "Too Many Requests",		 "7", NULL,
				    NULL, "{\"error\":\"rate limited\"}"};
	const struct canned scope = {
	    404, "Not Found", NULL, NULL, NULL, "{\"error\":\"Scope not found\"}"};

	expect(REGISTRY_NPM, &race, ANSWER_RETRY, "Document update conflict.", "E409");
	expect(REGISTRY_NPM, &ip, ANSWER_PERMANENT, NULL, "allowed ranges");
	expect(REGISTRY_NPM, &otp_list, ANSWER_PERMANENT, NULL, "bypass 2FA");
	expect(REGISTRY_NPM, &otp_body, ANSWER_PERMANENT, NULL, "never prompts");
	expect(REGISTRY_NPM, &realm, ANSWER_AUTH, "unauthorized", NULL);
	expect(REGISTRY_NPM, &c429, ANSWER_RETRY, "rate limited", "retry after 7 s");
	expect(REGISTRY_NPM, &scope, ANSWER_PERMANENT, "Scope not found", "E404");
}

static void test_page_format(void **state)
{
	(void)state;
	assert_int_equal(answer_pypi_page_format("application/vnd.pypi.simple.v1+json"),
			 PYPI_PAGE_JSON);
	assert_int_equal(answer_pypi_page_format(" Application/Vnd.PyPI.Simple.V1+JSON;"
						 " charset=utf-8"),
			 PYPI_PAGE_JSON);
	assert_int_equal(answer_pypi_page_format("text/html; charset=UTF-8"),
			 PYPI_PAGE_HTML);
	assert_int_equal(answer_pypi_page_format("application/vnd.pypi.simple.v1+html"),
			 PYPI_PAGE_HTML);
	assert_int_equal(answer_pypi_page_format("application/json"), PYPI_PAGE_JSON_API);
	assert_int_equal(answer_pypi_page_format("application/vnd.pypi.simple.v1+jsonx"),
			 PYPI_PAGE_UNKNOWN);
	assert_int_equal(answer_pypi_page_format("text/plain"), PYPI_PAGE_UNKNOWN);
	assert_int_equal(answer_pypi_page_format(NULL), PYPI_PAGE_UNKNOWN);
	assert_string_equal(answer_pypi_page_format_name(PYPI_PAGE_JSON), "PEP 691 JSON");
	assert_string_equal(answer_pypi_page_format_name(PYPI_PAGE_HTML), "PEP 503 HTML");
}

/* The server's words are sanitized and bounded. */
static void test_reason_bounds(void **state)
{
	char body[4000];
	struct canned c = {400, "Bad Request", NULL, NULL, NULL, body};
	struct answer a;

	memset(body, 'x', sizeof(body) - 1);
	body[sizeof(body) - 1] = '\0';
	body[10] = '\033';
	body[11] = '\n';
	body[20] = (char)0xff;
	a = classify(REGISTRY_PYPI, &c);
	assert_int_equal(a.kind, ANSWER_PERMANENT);
	assert_true(strlen(a.reason) < ANSWER_REASON_MAX);
	assert_true(strlen(a.reason) > ANSWER_REASON_MAX - 10);
	assert_non_null(strstr(a.reason, "..."));
	assert_null(strchr(a.reason, '\033'));
	assert_null(strchr(a.reason, '\n'));
	assert_true(strncmp(a.reason, "xxxxxxxxxx xxxxxxxx?x", 21) == 0);
}

static void test_retry_after(void **state)
{
	time_t now = 1445412480; /* Wed, 21 Oct 2015 07:28:00 GMT */

	assert_int_equal(answer_retry_after("120", now), 120);
	assert_int_equal(answer_retry_after(" 5 ", now), 5);
	assert_int_equal(answer_retry_after("0", now), 0);
	assert_int_equal(answer_retry_after("99999999999999999999", now),
			 ANSWER_RETRY_MAX);
	assert_int_equal(answer_retry_after("12abc", now), -1);
	assert_int_equal(answer_retry_after("soon", now), -1);
	assert_int_equal(answer_retry_after("Wed, 21 Oct 2015 07:29:00 GMT", now), 60);
	assert_int_equal(answer_retry_after("Wednesday, 21-Oct-15 07:29:30 GMT", now),
			 90);
	assert_int_equal(answer_retry_after("Wed Oct 21 07:28:10 2015", now), 10);
	assert_int_equal(answer_retry_after("Tue, 20 Oct 2015 07:28:00 GMT", now), 0);
	assert_int_equal(answer_retry_after("Wed, 21 Oct 2099 07:28:00 GMT", now),
			 ANSWER_RETRY_MAX);
}

static void test_status_line(void **state)
{
	static const char l1[] = "HTTP/1.1 400 File already exists.\r\n";
	static const char l2[] = "HTTP/2 201 \r\n";
	static const char l3[] = "Content-Type: text/html\r\n";
	static const char l4[] = "HTTP/1.1 2000 X\r\n";
	char out[64];
	long status = 0;

	assert_int_equal(
	    answer_status_line(l1, sizeof(l1) - 1, &status, out, sizeof(out)), 0);
	assert_int_equal(status, 400);
	assert_string_equal(out, "File already exists.");
	assert_int_equal(
	    answer_status_line(l2, sizeof(l2) - 1, &status, out, sizeof(out)), 0);
	assert_int_equal(status, 201);
	assert_string_equal(out, "");
	assert_int_equal(
	    answer_status_line(l3, sizeof(l3) - 1, &status, out, sizeof(out)), -EINVAL);
	assert_int_equal(
	    answer_status_line(l4, sizeof(l4) - 1, &status, out, sizeof(out)), -EINVAL);
}

static void test_pypi_sha256(void **state)
{
	static const char json_api[] =
	    "{\"info\": {\"name\": \"aos-sdk\"}, \"urls\": ["
	    "{\"filename\": \"aos_sdk-0.1.0-py3-none-any.whl\", \"digests\": "
	    "{\"blake2b_256\": \"x\", \"md5\": \"y\", \"sha256\": \"" SHA_B "\"}},"
	    "{\"filename\": \"aos_sdk-0.1.0.tar.gz\", \"digests\": {\"sha256\": \"" SHA_A
	    "\"}}]}";
	static const char pep691[] =
	    "{\"meta\": {\"api-version\": \"1.1\"}, \"name\": \"aos-sdk\", \"files\": ["
	    "{\"filename\": \"aos_sdk-0.1.0.tar.gz\", \"url\": \"x\", \"hashes\": "
	    "{\"sha256\": \"A3F1C2D4E5B6A7980123456789ABCDEF"
	    "0123456789ABCDEF0123456789ABCDEF\"}},"
	    "{\"filename\": \"aos_sdk-0.0.9.tar.gz\", \"url\": \"x\", \"hashes\": {}}]}";
	static const char html[] =
	    "<!DOCTYPE html>\n<html><head><title>Links for aos-sdk</title></head><body>\n"
	    "<h1>Links for aos-sdk</h1>\n"
	    "<a href=\"../../packages/aos_sdk-0.0.9.tar.gz#md5=abcdef\">"
	    "aos_sdk-0.0.9.tar.gz</a><br>\n"
	    "<a href=\"../../packages/aos_sdk-0.1.0.tar.gz#sha256=" SHA_A
	    "\">aos_sdk-0.1.0.tar.gz</a><br>\n"
	    "<A HREF='/files/aos_sdk-0.1.0%2Blocal-py3-none-any.whl#sha256=" SHA_B
	    "' data-requires-python=\"&gt;=3.9\">"
	    "  aos_sdk-0.1.0+local-py3-none-any.whl </a>\n"
	    "</body></html>\n";
	char sha[65];

	assert_int_equal(answer_pypi_file_sha256(json_api, sizeof(json_api) - 1,
						 "aos_sdk-0.1.0.tar.gz", sha),
			 0);
	assert_string_equal(sha, SHA_A);
	assert_int_equal(answer_pypi_file_sha256(json_api, sizeof(json_api) - 1,
						 "aos_sdk-0.1.0-py3-none-any.whl", sha),
			 0);
	assert_string_equal(sha, SHA_B);
	assert_int_equal(
	    answer_pypi_file_sha256(json_api, sizeof(json_api) - 1, "other.whl", sha),
	    AOS_ENOTFOUND);
	assert_int_equal(answer_pypi_file_sha256(pep691, sizeof(pep691) - 1,
						 "aos_sdk-0.1.0.tar.gz", sha),
			 0);
	assert_string_equal(sha, SHA_A);
	assert_int_equal(answer_pypi_file_sha256(pep691, sizeof(pep691) - 1,
						 "aos_sdk-0.0.9.tar.gz", sha),
			 PUB_ENODIGEST);
	assert_int_equal(
	    answer_pypi_file_sha256(html, sizeof(html) - 1, "aos_sdk-0.1.0.tar.gz", sha),
	    0);
	assert_string_equal(sha, SHA_A);
	assert_int_equal(answer_pypi_file_sha256(html, sizeof(html) - 1,
						 "aos_sdk-0.1.0+local-py3-none-any.whl",
						 sha),
			 0);
	assert_string_equal(sha, SHA_B);
	assert_int_equal(
	    answer_pypi_file_sha256(html, sizeof(html) - 1, "aos_sdk-0.0.9.tar.gz", sha),
	    PUB_ENODIGEST);
	assert_int_equal(
	    answer_pypi_file_sha256(html, sizeof(html) - 1, "aos_sdk-0.2.0.tar.gz", sha),
	    AOS_ENOTFOUND);
	assert_int_equal(answer_pypi_file_sha256("{not json", 9, "x", sha), AOS_EPARSE);
	assert_int_equal(answer_pypi_file_sha256("just text", 9, "x", sha), AOS_EPARSE);
	assert_int_equal(answer_pypi_file_sha256(NULL, 0, "x", sha), AOS_EPARSE);
}

/* A page is read in time linear in its length: anchors without "</a>",
 * or "<a" without '>', made every anchor scan to the end of the page (a
 * registry's 8 MiB page held the daemon's loop for hours).  Found while
 * fuzzing the registry answers (fuzz_answer). */
static void test_pypi_html_linear(void **state)
{
	static const char *const units[] = {"<a href=\"x\">", "<a "};
	static const char tail[] =
	    "href=\"x\"><a href=\"p/aos_sdk-0.1.0.tar.gz#sha256=" SHA_A
	    "\">aos_sdk-0.1.0.tar.gz</a>";
	size_t k, i, n = 512 * 1024, len;
	char sha[65], *page;
	clock_t t0;

	for (k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
		size_t ul = strlen(units[k]);

		page = malloc(n + sizeof(tail));
		assert_non_null(page);
		for (len = 0, i = 0; i < n / ul; i++, len += ul)
			memcpy(page + len, units[k], ul);
		memcpy(page + len, tail, sizeof(tail) - 1);
		len += sizeof(tail) - 1;
		t0 = clock();
		assert_int_equal(
		    answer_pypi_file_sha256(page, len, "aos_sdk-0.1.0.tar.gz", sha), 0);
		assert_string_equal(sha, SHA_A);
		assert_true((double)(clock() - t0) / CLOCKS_PER_SEC < 2.0);
		free(page);
	}
}

/* A page ending right before an unreadable page, without a terminator, as
 * the API allows: a %XX escape in an href was decoded with sscanf, which
 * read on to the next NUL. */
static void test_pypi_html_unterminated(void **state)
{
	static const char body[] =
	    "<a href=\"p/aos%5Fsdk-0.1.0.tar.gz#sha256=" SHA_A "\">x";
	long pagesize = sysconf(_SC_PAGESIZE);
	size_t len = sizeof(body) - 1;
	char sha[65], *map;

	map = mmap(NULL, 2 * (size_t)pagesize, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(map != MAP_FAILED);
	assert_int_equal(mprotect(map + pagesize, (size_t)pagesize, PROT_NONE), 0);
	memcpy(map + pagesize - len, body, len);
	assert_int_equal(answer_pypi_file_sha256(map + pagesize - len, len,
						 "aos_sdk-0.1.0.tar.gz", sha),
			 0);
	assert_string_equal(sha, SHA_A);
	munmap(map, 2 * (size_t)pagesize);
}

static void test_packument(void **state)
{
	static const char full[] =
	    "{\"_id\":\"@agenticverz/aos-sdk\",\"name\":\"@agenticverz/aos-sdk\","
	    "\"dist-tags\":{\"latest\":\"0.1.0\",\"next\":\"0.2.0-rc.1\"},\"versions\":{"
	    "\"0.1.0\":{\"name\":\"@agenticverz/aos-sdk\",\"dist\":{\"integrity\":"
	    "\"sha1-AAAA "
	    "sha512-OURS==\",\"shasum\":\"da39a3ee5e6b4b0d3255bfef95601890afd80709\"}},"
	    "\"0.0.1\":{\"dist\":{\"shasum\":"
	    "\"da39a3ee5e6b4b0d3255bfef95601890afd80709\"}}}}";
	struct answer_packument p;
	char msg[512];

	assert_int_equal(answer_npm_packument(full, sizeof(full) - 1, "0.1.0", &p), 0);
	assert_true(p.has_latest);
	assert_string_equal(p.latest, "0.1.0");
	assert_true(p.has_version);
	assert_string_equal(p.integrity, "sha1-AAAA sha512-OURS==");
	assert_int_equal(
	    answer_npm_identity("x@0.1.0", "sha512-OURS==", "ffff", &p, msg, sizeof(msg)),
	    ANSWER_OK);
	assert_int_equal(answer_npm_identity("x@0.1.0", "sha512-THEIRS==", "ffff", &p,
					     msg, sizeof(msg)),
			 ANSWER_CONFLICT);
	assert_non_null(strstr(msg, "sha512-THEIRS=="));
	assert_non_null(strstr(msg, "sha1-AAAA sha512-OURS=="));
	assert_int_equal(answer_npm_packument(full, sizeof(full) - 1, "0.0.1", &p), 0);
	assert_string_equal(p.integrity, "");
	assert_int_equal(answer_npm_identity("x@0.0.1", "sha512-X",
					     "DA39A3EE5E6B4B0D3255BFEF95601890AFD80709",
					     &p, msg, sizeof(msg)),
			 ANSWER_OK);
	assert_int_equal(
	    answer_npm_identity("x@0.0.1", "sha512-X", "0000", &p, msg, sizeof(msg)),
	    ANSWER_CONFLICT);
	assert_int_equal(answer_npm_packument(full, sizeof(full) - 1, "9.9.9", &p), 0);
	assert_false(p.has_version);
	assert_int_equal(
	    answer_npm_identity("x@9.9.9", "sha512-X", "0", &p, msg, sizeof(msg)),
	    ANSWER_CONFLICT);
	assert_int_equal(answer_npm_packument("{\"name\":\"x\"}", 12, NULL, &p), 0);
	assert_false(p.has_latest);
	assert_int_equal(answer_npm_packument("[]", 2, NULL, &p), AOS_EPARSE);
	assert_int_equal(answer_npm_packument("{", 1, NULL, &p), AOS_EPARSE);
}

static void test_pypi_identity(void **state)
{
	char msg[512];

	assert_int_equal(answer_pypi_identity("a.whl", SHA_A,
					      "A3F1C2D4E5B6A7980123456789ABCDEF"
					      "0123456789ABCDEF0123456789ABCDEF",
					      msg, sizeof(msg)),
			 ANSWER_OK);
	assert_int_equal(answer_pypi_identity("a.whl", SHA_A, SHA_B, msg, sizeof(msg)),
			 ANSWER_CONFLICT);
	assert_non_null(strstr(msg, "a.whl"));
	assert_non_null(strstr(msg, SHA_A));
	assert_non_null(strstr(msg, SHA_B));
}

/* "Is it there?": what a GET of an index page or packument answered. */
static void test_index_classify(void **state)
{
	const char *url = "http://127.0.0.1:8080/simple/aos-new/";
	struct index_answer ia;

	(void)state;
	/* pypiserver's fallback: 303 to its upstream, another origin. */
	answer_index_classify(url, 303, "See Other",
			      "https://upstream.invalid/simple/aos-new/", NULL, 0, &ia);
	assert_int_equal(ia.kind, INDEX_ABSENT);
	assert_non_null(strstr(ia.said, "GET http://127.0.0.1:8080/simple/aos-new/: "
					"HTTP 303 See Other"));
	assert_non_null(strstr(ia.said, "https://upstream.invalid/simple/aos-new/"));
	assert_null(strstr(ia.said, "exists"));
	/* The same host on another port is another origin. */
	answer_index_classify(url, 302, NULL, "http://127.0.0.1:8081/simple/aos-new/",
			      NULL, 0, &ia);
	assert_int_equal(ia.kind, INDEX_ABSENT);

	answer_index_classify(url, 404, "Not Found", NULL, NULL, 0, &ia);
	assert_int_equal(ia.kind, INDEX_ABSENT);
	assert_non_null(strstr(ia.said, url));
	assert_non_null(strstr(ia.said, "404"));
	answer_index_classify(url, 410, NULL, NULL, NULL, 0, &ia);
	assert_int_equal(ia.kind, INDEX_ABSENT);

	/* Same origin, relative Location: followed, resolved against url. */
	answer_index_classify("http://127.0.0.1:8080/simple/Aos_New/", 301,
			      "Moved Permanently", "../aos-new/", NULL, 0, &ia);
	assert_int_equal(ia.kind, INDEX_FOLLOW);
	assert_string_equal(ia.location, url);
	/* ... at most ANSWER_INDEX_HOPS times. */
	answer_index_classify(url, 307, NULL, "/simple/aos-new/", NULL, ANSWER_INDEX_HOPS,
			      &ia);
	assert_int_equal(ia.kind, INDEX_FAILED);
	assert_non_null(strstr(ia.said, "redirects"));
	answer_index_classify(url, 302, NULL, NULL, NULL, 0, &ia);
	assert_int_equal(ia.kind, INDEX_FAILED);
	assert_non_null(strstr(ia.said, "without a Location"));
	answer_index_classify(url, 302, NULL, "http://[::1", NULL, 0, &ia);
	assert_int_equal(ia.kind, INDEX_FAILED);

	answer_index_classify(url, 200, "OK", NULL, NULL, 0, &ia);
	assert_int_equal(ia.kind, INDEX_FOUND);
	answer_index_classify(url, 401, NULL, NULL, NULL, 0, &ia);
	assert_int_equal(ia.kind, INDEX_AUTH);
	answer_index_classify(url, 403, NULL, NULL, NULL, 0, &ia);
	assert_int_equal(ia.kind, INDEX_AUTH);
	answer_index_classify(url, 503, NULL, NULL, NULL, 0, &ia);
	assert_int_equal(ia.kind, INDEX_RETRY);
	answer_index_classify(url, 429, NULL, NULL, NULL, 0, &ia);
	assert_int_equal(ia.kind, INDEX_RETRY);
	answer_index_classify(url, 0, NULL, NULL, "Connection refused", 0, &ia);
	assert_int_equal(ia.kind, INDEX_RETRY);
	assert_non_null(strstr(ia.said, "no answer: Connection refused"));
	assert_non_null(strstr(ia.said, url));
	answer_index_classify(url, 400, "Bad Request", NULL, NULL, 0, &ia);
	assert_int_equal(ia.kind, INDEX_FAILED);
	assert_non_null(strstr(ia.said, "HTTP 400 Bad Request"));
	answer_index_classify(url, 304, NULL, NULL, NULL, 0, &ia);
	assert_int_equal(ia.kind, INDEX_FAILED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_pypi),
	    cmocka_unit_test(test_npm),
	    cmocka_unit_test(test_reason_bounds),
	    cmocka_unit_test(test_retry_after),
	    cmocka_unit_test(test_status_line),
	    cmocka_unit_test(test_pypi_sha256),
	    cmocka_unit_test(test_packument),
	    cmocka_unit_test(test_pypi_identity),
	    cmocka_unit_test(test_pypi_html_linear),
	    cmocka_unit_test(test_pypi_html_unterminated),
	    cmocka_unit_test(test_index_classify),
	    cmocka_unit_test(test_warehouse),
	    cmocka_unit_test(test_devpi),
	    cmocka_unit_test(test_npm_cli),
	    cmocka_unit_test(test_page_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
