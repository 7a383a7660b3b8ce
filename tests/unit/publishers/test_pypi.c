/* Unit tests for publishers/pypi (the upload form, its multipart encoding,
 * the configured upload request) and publishers/filesrc. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "common/secret.h"
#include "publishers/answer.h"
#include "publishers/artifact.h"
#include "publishers/filesrc.h"
#include "publishers/pub_err.h"
#include "publishers/pypi.h"
#include "pub_fixture.h"

#define WHEEL "aos_sdk-0.1.0-py3-none-any.whl"
#define SDIST "aos_sdk-0.1.0.tar.gz"

static const char metadata[] = "Metadata-Version: 2.4\n"
			       "Name: aos-sdk\n"
			       "Version: 0.1.0\n"
			       "Summary: AOS SDK for Python\n"
			       "Author-email: AOS <aos@example.invalid>\n"
			       "License-Expression: MIT\n"
			       "License-File: LICENSE\n"
			       "License-File: NOTICE\n"
			       "Classifier: Programming Language :: Python :: 3\n"
			       "Classifier: Operating System :: OS Independent\n"
			       "Requires-Dist: httpx>=0.27\n"
			       "Requires-Dist: pytest; extra == \"test\"\n"
			       "Requires-Python: >=3.9\n"
			       "Project-URL: Homepage, https://example.invalid/aos\n"
			       "Provides-Extra: test\n"
			       "X-Unknown-Field: skipped\n"
			       "Description-Content-Type: text/markdown\n"
			       "\n"
			       "# AOS SDK\n\nUnicode: \xc3\xa9\xe2\x9c\x93\n";

static struct artifact *make_wheel(size_t payload)
{
	char *data = malloc(payload + 1);
	const struct fx_member m[] = {
	    {"aos_sdk/__init__.py", "VERSION = '0.1.0'\n", 0, 0, NULL},
	    {"aos_sdk/blob.bin", data, payload, 0, NULL},
	    {"aos_sdk-0.1.0.dist-info/METADATA", metadata, 0, 0, NULL},
	};
	struct artifact *a = NULL;
	char err[256];

	assert_non_null(data);
	fx_fill(data, payload, 3);
	fx_write_archive(WHEEL, FX_ZIP, m, 3);
	free(data);
	if (artifact_inspect(fx_path(WHEEL), NULL, &a, err, sizeof(err)) != 0)
		fail_msg("inspect: %s", err);
	return a;
}

static void test_form_fields(void **state)
{
	static const struct pypi_field want[] = {
	    {":action", "file_upload"},
	    {"protocol_version", "1"},
	    {"metadata_version", "2.4"},
	    {"name", "aos-sdk"},
	    {"version", "0.1.0"},
	    {"filetype", "bdist_wheel"},
	    {"pyversion", "py3"},
	    {"sha256_digest", NULL}, /* checked apart */
	    {"summary", "AOS SDK for Python"},
	    {"author_email", "AOS <aos@example.invalid>"},
	    {"license_expression", "MIT"},
	    {"license_file", "LICENSE"},
	    {"license_file", "NOTICE"},
	    {"classifiers", "Programming Language :: Python :: 3"},
	    {"classifiers", "Operating System :: OS Independent"},
	    {"requires_dist", "httpx>=0.27"},
	    {"requires_dist", "pytest; extra == \"test\""},
	    {"requires_python", ">=3.9"},
	    {"project_urls", "Homepage, https://example.invalid/aos"},
	    {"provides_extra", "test"},
	    {"description_content_type", "text/markdown"},
	    {"description", "# AOS SDK\n\nUnicode: \xc3\xa9\xe2\x9c\x93\n"},
	};
	struct artifact *a = make_wheel(100);
	struct pypi_form *f = NULL;
	const struct pypi_field *fld;
	size_t i, j = 0, pos = 0;

	assert_int_equal(pypi_form_new(a, &f), 0);
	for (i = 0; i < pypi_form_count(f); i++) {
		fld = pypi_form_field(f, i);
		if (strcmp(fld->name, "blake2_256_digest") == 0) {
			assert_true(artifact_blake2b_256_available());
			assert_string_equal(fld->value, a->blake2_256);
			continue;
		}
		assert_true(j < sizeof(want) / sizeof(want[0]));
		assert_string_equal(fld->name, want[j].name);
		if (want[j].value != NULL)
			assert_string_equal(fld->value, want[j].value);
		j++;
	}
	assert_int_equal(j, sizeof(want) / sizeof(want[0]));
	assert_null(pypi_form_field(f, i));
	assert_string_equal(pypi_form_get(f, "sha256_digest"), a->sha256);
	assert_string_equal(pypi_form_next(f, "classifiers", &pos),
			    "Programming Language :: Python :: 3");
	assert_string_equal(pypi_form_next(f, "classifiers", &pos),
			    "Operating System :: OS Independent");
	assert_null(pypi_form_next(f, "classifiers", &pos));
	assert_null(pypi_form_get(f, "x_unknown_field"));
	pypi_form_free(f);
	artifact_free(a);
}

static void test_form_sdist(void **state)
{
	const struct fx_member m[] = {
	    {"aos_sdk-0.1.0/PKG-INFO",
	     "Metadata-Version: 1.0\nName: aos_sdk\nVersion: 0.1.0\n"
	     "Description: one\n        two\nPlatform: any\n",
	     0, 0, NULL},
	};
	const struct fx_member n[] = {{"package/package.json",
				       "{\"name\":\"x\",\"version\":\"1.0.0\"}", 0, 0,
				       NULL}};
	struct pypi_form *f = NULL;
	struct artifact *a = NULL;
	char err[256];

	fx_write_archive(SDIST, FX_TGZ, m, 1);
	assert_int_equal(artifact_inspect(fx_path(SDIST), NULL, &a, err, sizeof(err)), 0);
	assert_int_equal(pypi_form_new(a, &f), 0);
	assert_string_equal(pypi_form_get(f, "filetype"), "sdist");
	assert_string_equal(pypi_form_get(f, "pyversion"), "source");
	assert_string_equal(pypi_form_get(f, "metadata_version"), "1.0");
	assert_string_equal(pypi_form_get(f, "description"), "one\ntwo");
	assert_string_equal(pypi_form_get(f, "platform"), "any");
	pypi_form_free(f);
	artifact_free(a);

	fx_write_archive("x-1.0.0.tgz", FX_TGZ, n, 1);
	assert_int_equal(
	    artifact_inspect(fx_path("x-1.0.0.tgz"), NULL, &a, err, sizeof(err)), 0);
	f = NULL;
	assert_int_equal(pypi_form_new(a, &f), -EINVAL);
	assert_null(f);
	artifact_free(a);
}

struct part {
	char name[64];
	char filename[128];
	char type[64];
	const char *data;
	size_t len;
};

/* Splits a multipart/form-data body on boundary into parts. */
static size_t parse_multipart(const char *body, size_t len, const char *boundary,
			      struct part *parts, size_t max)
{
	char delim[160];
	const char *p, *end = body + len, *hend, *next;
	size_t n = 0, dl;

	snprintf(delim, sizeof(delim), "--%s", boundary);
	dl = strlen(delim);
	p = memmem(body, len, delim, dl);
	assert_non_null(p);
	for (;;) {
		p += dl;
		if (p + 2 <= end && memcmp(p, "--", 2) == 0)
			break; /* closing delimiter */
		assert_memory_equal(p, "\r\n", 2);
		p += 2;
		hend = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
		assert_non_null(hend);
		assert_true(n < max);
		memset(&parts[n], 0, sizeof(parts[n]));
		{
			char hdr[1024];
			const char *q;

			snprintf(hdr, sizeof(hdr), "%.*s", (int)(hend - p), p);
			q = strstr(hdr, " name=\"");
			assert_non_null(q);
			sscanf(q + 7, "%63[^\"]", parts[n].name);
			if ((q = strstr(hdr, "filename=\"")) != NULL)
				sscanf(q + 10, "%127[^\"]", parts[n].filename);
			if ((q = strstr(hdr, "Content-Type: ")) != NULL)
				sscanf(q + 14, "%63[^\r]", parts[n].type);
		}
		parts[n].data = hend + 4;
		next = memmem(hend + 4, (size_t)(end - hend - 4), delim, dl);
		assert_non_null(next);
		parts[n].len = (size_t)(next - 2 - parts[n].data); /* minus CRLF */
		n++;
		p = next;
	}
	return n;
}

static void test_upload_request(void **state)
{
	struct artifact *a = make_wheel(1200000); /* over 1 MiB: curl would send Expect */
	struct pypi_upload_opts o = {0};
	struct pypi_upload *u = NULL;
	struct fx_server srv;
	struct part parts[64];
	struct secret *tok;
	char url[128], err[256] = "", boundary[128];
	const struct pypi_form *form;
	const char *ct;
	size_t n, i, flen;
	char *file;
	long status = 0;
	CURL *h = curl_easy_init();

	assert_int_equal(secret_new("pypi-test-token", 15, &tok), 0);
	fx_server_start(&srv, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/legacy/", srv.port);
	o.url = url;
	o.token = tok;
	if (pypi_upload_setup(h, a, &o, &u, err, sizeof(err)) != 0)
		fail_msg("setup: %s", err);
	assert_int_equal(curl_easy_perform(h), CURLE_OK);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	assert_int_equal(status, 200);
	assert_int_equal(pypi_upload_file_offset(u), a->size);
	assert_string_equal(pypi_upload_error(u), "");
	fx_server_wait(&srv);

	/* The request line and headers. */
	assert_true(strncmp(srv.request, "POST /legacy/ HTTP/1.1\r\n", 24) == 0);
	assert_non_null(
	    strstr(srv.request, "\r\nUser-Agent: aos-publishd/" AOS_VERSION "\r\n"));
	/* base64("__token__:pypi-test-token") */
	assert_non_null(
	    strstr(srv.request,
		   "\r\nAuthorization: Basic X190b2tlbl9fOnB5cGktdGVzdC10b2tlbg==\r\n"));
	ct = strstr(srv.request, "\r\nContent-Type: multipart/form-data; boundary=");
	assert_non_null(ct);
	assert_int_equal(sscanf(ct + 46, "%127[^\r]", boundary), 1);
	assert_int_equal(srv.request_len - srv.header_len,
			 fx_content_length(srv.request));
	/* No 100-continue round trip: pypiserver never answers one, which
	 * stalled every large upload by a second. */
	assert_null(strcasestr(srv.request, "\r\nExpect:"));

	/* Every field as a part, in order, then the file. */
	n = parse_multipart(srv.request + srv.header_len,
			    srv.request_len - srv.header_len, boundary, parts, 64);
	form = pypi_upload_form(u);
	assert_int_equal(n, pypi_form_count(form) + 1);
	for (i = 0; i + 1 < n; i++) {
		assert_string_equal(parts[i].name, pypi_form_field(form, i)->name);
		assert_int_equal(parts[i].len, strlen(pypi_form_field(form, i)->value));
		assert_memory_equal(parts[i].data, pypi_form_field(form, i)->value,
				    parts[i].len);
		assert_string_equal(parts[i].filename, "");
	}
	assert_string_equal(parts[n - 1].name, "content");
	assert_string_equal(parts[n - 1].filename, WHEEL);
	assert_string_equal(parts[n - 1].type, "application/octet-stream");
	file = fx_read_file(WHEEL, &flen);
	assert_int_equal(parts[n - 1].len, flen);
	assert_memory_equal(parts[n - 1].data, file, flen);
	free(file);

	fx_server_free(&srv);
	pypi_upload_free(u);
	curl_easy_cleanup(h);
	secret_unref(tok);
	artifact_free(a);
}

/* A custom user (devpi), and no credentials at all. */
static void test_upload_user(void **state)
{
	struct artifact *a = make_wheel(10);
	struct pypi_upload_opts o = {0};
	struct pypi_upload *u = NULL;
	struct fx_server srv;
	struct secret *tok;
	char url[128], err[256] = "";
	CURL *h = curl_easy_init();

	assert_int_equal(secret_new("pw", 2, &tok), 0);
	fx_server_start(&srv, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/root/dev/", srv.port);
	o.url = url;
	o.user = "alice";
	o.token = tok;
	assert_int_equal(pypi_upload_setup(h, a, &o, &u, err, sizeof(err)), 0);
	assert_int_equal(curl_easy_perform(h), CURLE_OK);
	fx_server_wait(&srv);
	assert_true(strncmp(srv.request, "POST /root/dev/ ", 16) == 0);
	assert_non_null(strstr(srv.request, "\r\nAuthorization: Basic YWxpY2U6cHc=\r\n"));
	fx_server_free(&srv);
	pypi_upload_free(u);

	curl_easy_reset(h);
	fx_server_start(&srv, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/", srv.port);
	o.token = NULL;
	assert_int_equal(pypi_upload_setup(h, a, &o, &u, err, sizeof(err)), 0);
	assert_int_equal(curl_easy_perform(h), CURLE_OK);
	fx_server_wait(&srv);
	assert_null(strstr(srv.request, "Authorization:"));
	fx_server_free(&srv);
	pypi_upload_free(u);
	curl_easy_cleanup(h);
	secret_unref(tok);
	artifact_free(a);
}

/* A redirect is not followed; it classifies as a permanent failure. */
static void test_upload_redirect(void **state)
{
	struct artifact *a = make_wheel(10);
	struct pypi_upload_opts o = {0};
	struct answer_input in = {0};
	struct pypi_upload *u = NULL;
	struct fx_server srv;
	struct answer ans;
	char url[128], err[256] = "";
	CURL *h = curl_easy_init();

	fx_server_start(
	    &srv, "HTTP/1.1 301 Moved Permanently\r\n"
		  "Location: http://127.0.0.1:1/legacy/\r\nContent-Length: 0\r\n\r\n");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/legacy", srv.port);
	o.url = url;
	assert_int_equal(pypi_upload_setup(h, a, &o, &u, err, sizeof(err)), 0);
	assert_int_equal(curl_easy_perform(h), CURLE_OK);
	fx_server_wait(&srv);
	assert_int_equal(answer_input_from_curl(h, &in), 0);
	assert_int_equal(in.status, 301);
	answer_classify(REGISTRY_PYPI, &in, &ans);
	assert_int_equal(ans.kind, ANSWER_PERMANENT);
	assert_non_null(strstr(ans.message, "http://127.0.0.1:1/legacy/"));
	assert_non_null(strstr(ans.message, "not followed"));
	fx_server_free(&srv);
	pypi_upload_free(u);
	curl_easy_cleanup(h);
	artifact_free(a);
}

static void test_upload_refused(void **state)
{
	struct artifact *a = make_wheel(10);
	struct pypi_upload_opts o = {.url = "http://pypi.example.invalid/legacy/"};
	struct pypi_upload *u = NULL;
	char err[256] = "";
	CURL *h = curl_easy_init();
	struct timespec ts[2] = {{0, 0}, {12345, 0}};

	assert_int_equal(pypi_upload_setup(h, a, &o, &u, err, sizeof(err)), PUB_EURL);
	assert_null(u);
	assert_non_null(strstr(err, "must be https"));
	/* The file was touched after inspection. */
	o.url = "https://pypi.example.invalid/legacy/";
	assert_int_equal(utimensat(AT_FDCWD, fx_path(WHEEL), ts, 0), 0);
	assert_int_equal(pypi_upload_setup(h, a, &o, &u, err, sizeof(err)), PUB_ECHANGED);
	assert_non_null(strstr(err, WHEEL));
	assert_non_null(strstr(err, "changed since it was inspected"));
	curl_easy_cleanup(h);
	artifact_free(a);
}

static void test_filesrc(void **state)
{
	struct artifact *a = make_wheel(200000);
	struct timespec ts[2] = {{0, 0}, {12345, 0}};
	struct filesrc *f = NULL;
	char buf[4096], err[256];
	size_t flen, total = 0;
	char *file = fx_read_file(WHEEL, &flen);
	ssize_t n;

	assert_int_equal(filesrc_open(a, &f, err, sizeof(err)), 0);
	assert_int_equal(filesrc_size(f), flen);
	while ((n = filesrc_read(f, buf, sizeof(buf))) > 0) {
		assert_memory_equal(buf, file + total, (size_t)n);
		total += (size_t)n;
	}
	assert_int_equal(n, 0);
	assert_int_equal(total, flen);
	assert_int_equal(filesrc_seek(f, 10, SEEK_SET), 0);
	assert_int_equal(filesrc_read(f, buf, 5), 5);
	assert_memory_equal(buf, file + 10, 5);
	assert_int_equal(filesrc_seek(f, -5, SEEK_END), 0);
	assert_int_equal(filesrc_offset(f), flen - 5);
	assert_int_equal(filesrc_seek(f, 1, SEEK_END), -EINVAL);
	assert_int_equal(filesrc_seek(f, -1, SEEK_SET), -EINVAL);
	/* Touched mid-read: the end of the file is refused. */
	assert_int_equal(filesrc_seek(f, 0, SEEK_SET), 0);
	assert_int_equal(filesrc_read(f, buf, sizeof(buf)), (ssize_t)sizeof(buf));
	assert_int_equal(utimensat(AT_FDCWD, fx_path(WHEEL), ts, 0), 0);
	while ((n = filesrc_read(f, buf, sizeof(buf))) > 0)
		;
	assert_int_equal(n, PUB_ECHANGED);
	assert_non_null(strstr(filesrc_error(f), "changed since it was inspected"));
	filesrc_free(f);
	filesrc_free(NULL);
	free(file);
	artifact_free(a);
}

static void test_simple_url(void **state)
{
	char *u = pypi_simple_url("http://127.0.0.1:8080/simple", "Aos_SDK");

	assert_string_equal(u, "http://127.0.0.1:8080/simple/aos-sdk/");
	free(u);
	assert_null(pypi_simple_url("http://h/simple/", "bad name"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_form_fields),	    cmocka_unit_test(test_form_sdist),
	    cmocka_unit_test(test_upload_request),  cmocka_unit_test(test_upload_user),
	    cmocka_unit_test(test_upload_redirect), cmocka_unit_test(test_upload_refused),
	    cmocka_unit_test(test_filesrc),	    cmocka_unit_test(test_simple_url),
	};
	int r;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	r = cmocka_run_group_tests(tests, fx_setup, fx_teardown);
	curl_global_cleanup();
	return r;
}
