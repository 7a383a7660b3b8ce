/* Unit tests for publishers/artifact: archives are written at test time with
 * libarchive's writer into a temporary directory. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <openssl/evp.h>

#include "publishers/artifact.h"
#include "publishers/artifact_internal.h"
#include "publishers/pub_err.h"
#include "publishers/pub_util.h"
#include "publishers/pypi_meta.h"
#include "pub_fixture.h"

static char errbuf[512];

#define WHEEL_META                                                                       \
	"Metadata-Version: 2.4\nName: aos-sdk\nVersion: 0.1.0\nSummary: AOS SDK\n"       \
	"Classifier: A\nClassifier: B\n\n# AOS SDK\n"
#define PKG_INFO "Metadata-Version: 2.1\nName: aos_sdk\nVersion: 0.1.0\n"
#define PACKAGE_JSON                                                                     \
	"{\"name\": \"@agenticverz/aos-sdk\", \"version\": \"0.1.0\", \"main\": "        \
	"\"index.js\"}"

static void copy_truncated(const char *from, const char *to, off_t len)
{
	int in = open(fx_path(from), O_RDONLY), out;
	char *buf = malloc((size_t)len + 1);

	assert_true(in >= 0);
	assert_non_null(buf);
	assert_int_equal(read(in, buf, (size_t)len), len);
	close(in);
	out = open(fx_path(to), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(out >= 0);
	assert_int_equal(write(out, buf, (size_t)len), len);
	close(out);
	free(buf);
}

static off_t file_size(const char *name)
{
	struct stat st;

	assert_int_equal(stat(fx_path(name), &st), 0);
	return st.st_size;
}

/* One-shot digest of a whole file, hex or base64. */
static void file_digest(const char *name, const EVP_MD *md, char *out, bool b64)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char d[EVP_MAX_MD_SIZE], buf[4096];
	unsigned int n = 0, i;
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	FILE *f = fopen(fx_path(name), "rb");
	size_t k;

	assert_non_null(f);
	assert_int_equal(EVP_DigestInit_ex(c, md, NULL), 1);
	while ((k = fread(buf, 1, sizeof(buf), f)) > 0)
		EVP_DigestUpdate(c, buf, k);
	fclose(f);
	EVP_DigestFinal_ex(c, d, &n);
	EVP_MD_CTX_free(c);
	if (b64) {
		EVP_EncodeBlock((unsigned char *)out, d, (int)n);
		return;
	}
	for (i = 0; i < n; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[2 * n] = '\0';
}

/* Inspects name and expects failure code, with the file and needle named. */
static void expect_fail(const char *name, const struct artifact_options *o, int code,
			const char *needle)
{
	struct artifact *a = NULL;
	int r;

	errbuf[0] = '\0';
	r = artifact_inspect(fx_path(name), o, &a, errbuf, sizeof(errbuf));
	if (r != code)
		print_error("%s: got %d (%s), want %d: %s\n", name, r,
			    publishers_strerror(r), code, errbuf);
	if (getenv("TEST_VERBOSE") != NULL)
		print_message("%s\n", errbuf);
	assert_int_equal(r, code);
	assert_null(a);
	assert_non_null(strstr(errbuf, name));
	/* Messages reach logs and clients: whatever the archive holds, they are
	 * valid UTF-8 without control characters. */
	assert_true(pub__utf8_valid(errbuf, strlen(errbuf), NULL));
	for (const char *c = errbuf; *c != '\0'; c++)
		assert_true((unsigned char)*c >= 0x20 && *c != 0x7f);
	if (needle != NULL && strstr(errbuf, needle) == NULL) {
		print_error("message \"%s\" lacks \"%s\"\n", errbuf, needle);
		fail();
	}
}

static struct artifact *expect_ok(const char *name, const struct artifact_options *o)
{
	struct artifact *a = NULL;
	int r;

	errbuf[0] = '\0';
	r = artifact_inspect(fx_path(name), o, &a, errbuf, sizeof(errbuf));
	if (r != 0)
		print_error("%s: %d %s\n", name, r, errbuf);
	assert_int_equal(r, 0);
	assert_non_null(a);
	return a;
}

static const struct fx_member good_wheel[] = {
    {"aos_sdk/__init__.py", "VERSION = '0.1.0'\n", 0, 0, NULL},
    {"aos_sdk-0.1.0.dist-info/METADATA", WHEEL_META, 0, 0, NULL},
    {"aos_sdk-0.1.0.dist-info/WHEEL", "Wheel-Version: 1.0\n", 0, 0, NULL},
    {"aos_sdk-0.1.0.dist-info/RECORD", "", 0, 0, NULL},
};

static void test_wheel_ok(void **state)
{
	char want[256];
	struct artifact *a;

	fx_write_archive("aos_sdk-0.1.0-py3-none-any.whl", FX_ZIP, good_wheel, 4);
	a = expect_ok("aos_sdk-0.1.0-py3-none-any.whl", NULL);
	assert_int_equal(a->kind, ARTIFACT_WHEEL);
	assert_string_equal(a->name, "aos-sdk");
	assert_string_equal(a->version, "0.1.0");
	assert_string_equal(a->pyversion, "py3");
	assert_string_equal(a->filename, "aos_sdk-0.1.0-py3-none-any.whl");
	assert_int_equal(a->size, file_size("aos_sdk-0.1.0-py3-none-any.whl"));
	file_digest(a->filename, EVP_sha256(), want, false);
	assert_string_equal(a->sha256, want);
	if (artifact_blake2b_256_available())
		assert_int_equal(strlen(a->blake2_256), 64);
	else
		assert_string_equal(a->blake2_256, "");
	assert_string_equal(a->sha1, "");
	assert_string_equal(a->sha512_sri, "");
	assert_non_null(a->meta);
	assert_string_equal(pypi_meta_get(a->meta, "Summary"), "AOS SDK");
	assert_string_equal(pypi_meta_description(a->meta), "# AOS SDK\n");
	assert_null(a->package_json);
	artifact_free(a);
}

static void test_sdist_ok(void **state)
{
	const struct fx_member m[] = {
	    {"aos_sdk-0.1.0", NULL, 0, 'd', NULL},
	    {"aos_sdk-0.1.0/PKG-INFO", PKG_INFO, 0, 0, NULL},
	    {"aos_sdk-0.1.0/src/aos_sdk.egg-info/PKG-INFO", PKG_INFO, 0, 0, NULL},
	    {"aos_sdk-0.1.0/pyproject.toml", "[project]\n", 0, 0, NULL},
	};
	struct artifact_options o = {.expected_version = "0.1"};
	struct artifact *a;

	fx_write_archive("aos_sdk-0.1.0.tar.gz", FX_TGZ, m, 4);
	a = expect_ok("aos_sdk-0.1.0.tar.gz", &o);
	assert_int_equal(a->kind, ARTIFACT_SDIST);
	assert_string_equal(a->name, "aos_sdk");
	assert_string_equal(a->pyversion, "source");
	artifact_free(a);

	fx_write_archive("aos-sdk-0.1.0.zip", FX_ZIP, m, 4);
	a = expect_ok("aos-sdk-0.1.0.zip", &o);
	assert_int_equal(a->kind, ARTIFACT_SDIST);
	assert_string_equal(a->version, "0.1.0");
	artifact_free(a);
}

static void test_npm_ok(void **state)
{
	const struct fx_member m[] = {
	    {"package/package.json", PACKAGE_JSON, 0, 0, NULL},
	    {"package/index.js", "module.exports = {VERSION: '0.1.0'};\n", 0, 0, NULL},
	    {"package/node_modules/x/package.json", "{}", 0, 0, NULL},
	};
	struct artifact_options o = {.expected_version = "0.1.0"};
	char want[256];
	struct artifact *a;

	fx_write_archive("agenticverz-aos-sdk-0.1.0.tgz", FX_TGZ, m, 3);
	a = expect_ok("agenticverz-aos-sdk-0.1.0.tgz", &o);
	assert_int_equal(a->kind, ARTIFACT_NPM);
	assert_string_equal(a->name, "@agenticverz/aos-sdk");
	assert_string_equal(a->version, "0.1.0");
	assert_string_equal(a->package_json, PACKAGE_JSON);
	assert_int_equal(a->package_json_len, strlen(PACKAGE_JSON));
	file_digest(a->filename, EVP_sha1(), want, false);
	assert_string_equal(a->sha1, want);
	file_digest(a->filename, EVP_sha256(), want, false);
	assert_string_equal(a->sha256, want);
	memcpy(want, "sha512-", 7);
	file_digest(a->filename, EVP_sha512(), want + 7, true);
	assert_string_equal(a->sha512_sri, want);
	assert_null(a->meta);
	artifact_free(a);

	/* Renamed tarballs are accepted only on request. */
	fx_write_archive("renamed.tgz", FX_TGZ, m, 3);
	expect_fail("renamed.tgz", NULL, PUB_ENAME, "agenticverz-aos-sdk-0.1.0.tgz");
	o.any_npm_filename = true;
	a = expect_ok("renamed.tgz", &o);
	artifact_free(a);
}

/* A big member spans many read blocks: the digests still cover it all. */
static void test_large_member(void **state)
{
	size_t len = 3 * 1024 * 1024 + 17;
	char *big = malloc(len), want[256];
	struct fx_member m[] = {
	    {"package/package.json", PACKAGE_JSON, 0, 0, NULL},
	    {"package/big.bin", big, len, 0, NULL},
	};
	struct artifact *a;

	assert_non_null(big);
	fx_fill(big, len, 1);
	fx_write_archive("agenticverz-aos-sdk-0.1.0.tgz", FX_TGZ, m, 2);
	a = expect_ok("agenticverz-aos-sdk-0.1.0.tgz", NULL);
	file_digest(a->filename, EVP_sha256(), want, false);
	assert_string_equal(a->sha256, want);
	artifact_free(a);
	m[0].path = "aos_sdk-0.1.0.dist-info/METADATA";
	m[0].data = WHEEL_META;
	fx_write_archive("aos_sdk-0.1.0-py3-none-any.whl", FX_ZIP, m, 2);
	a = expect_ok("aos_sdk-0.1.0-py3-none-any.whl", NULL);
	file_digest(a->filename, EVP_sha256(), want, false);
	assert_string_equal(a->sha256, want);
	artifact_free(a);
	free(big);
}

static void test_not_archive(void **state)
{
	fx_write_file("aos_sdk-0.1.0-py3-none-any.whl", "hello, world\n", 13);
	expect_fail("aos_sdk-0.1.0-py3-none-any.whl", NULL, PUB_ENOTARCHIVE,
		    "not a zip archive");
	fx_write_file("aos_sdk-0.1.0.tar.gz", "", 0);
	expect_fail("aos_sdk-0.1.0.tar.gz", NULL, PUB_ENOTARCHIVE, "not a");
	/* A zip where a tgz is expected, and the other way round. */
	fx_write_archive("agenticverz-aos-sdk-0.1.0.tgz", FX_ZIP, good_wheel, 4);
	expect_fail("agenticverz-aos-sdk-0.1.0.tgz", NULL, PUB_ENOTARCHIVE, "not a");
	fx_write_archive("aos_sdk-0.1.0-py3-none-any.whl", FX_TGZ, good_wheel, 4);
	expect_fail("aos_sdk-0.1.0-py3-none-any.whl", NULL, PUB_ENOTARCHIVE, "not a zip");
}

static void test_truncated(void **state)
{
	static const char *const names[] = {"aos_sdk-0.1.0-py3-none-any.whl",
					    "aos_sdk-0.1.0.tar.gz"};
	char body[20000];
	struct fx_member m[] = {
	    {"aos_sdk-0.1.0.dist-info/METADATA", WHEEL_META, 0, 0, NULL},
	    {"aos_sdk/data.txt", body, sizeof(body), 0, NULL},
	    {"aos_sdk/more.txt", "more", 0, 0, NULL},
	};
	const struct fx_member s[] = {
	    {"aos_sdk-0.1.0/PKG-INFO", PKG_INFO, 0, 0, NULL},
	    {"aos_sdk-0.1.0/data.txt", body, sizeof(body), 0, NULL},
	    {"aos_sdk-0.1.0/more.txt", "more", 0, 0, NULL},
	};
	off_t size, at;
	int i, k;

	fx_fill(body, sizeof(body), 7);
	fx_write_archive(names[0], FX_ZIP, m, 3);
	fx_write_archive(names[1], FX_TGZ, s, 3);
	for (i = 0; i < 2; i++) {
		size = file_size(names[i]);
		for (k = 1; k <= 9; k++) {
			at = k < 9 ? size * k / 9 : size - 1;
			copy_truncated(names[i], "cut.tmp", at);
			rename(fx_path("cut.tmp"),
			       fx_path(i == 0 ? "c/aos_sdk-0.1.0-py3-none-any.whl"
					      : "c/aos_sdk-0.1.0.tar.gz"));
			expect_fail(i == 0 ? "c/aos_sdk-0.1.0-py3-none-any.whl"
					   : "c/aos_sdk-0.1.0.tar.gz",
				    NULL, PUB_ETRUNCATED, "truncated");
		}
	}
}

static void test_no_metadata(void **state)
{
	const struct fx_member w[] = {
	    {"aos_sdk/__init__.py", "", 0, 0, NULL},
	    {"aos_sdk-0.1.0.dist-info/WHEEL", "Wheel-Version: 1.0\n", 0, 0, NULL},
	    {"METADATA", WHEEL_META, 0, 0, NULL},
	    {"x/y.dist-info/METADATA", WHEEL_META, 0, 0, NULL},
	};
	const struct fx_member n[] = {
	    {"package/lib/package.json", PACKAGE_JSON, 0, 0, NULL},
	};
	const struct fx_member s[] = {
	    {"pkg/package.json", PACKAGE_JSON, 0, 0, NULL},
	};

	fx_write_archive("aos_sdk-0.1.0-py3-none-any.whl", FX_ZIP, w, 4);
	expect_fail("aos_sdk-0.1.0-py3-none-any.whl", NULL, PUB_ENOMETA,
		    "*.dist-info/METADATA");
	fx_write_archive("agenticverz-aos-sdk-0.1.0.tgz", FX_TGZ, n, 1);
	expect_fail("agenticverz-aos-sdk-0.1.0.tgz", NULL, PUB_ENOMETA,
		    "package/package.json");
	fx_write_archive("aos_sdk-0.1.0.tar.gz", FX_TGZ, s, 1);
	expect_fail("aos_sdk-0.1.0.tar.gz", NULL, PUB_ENOMETA, "PKG-INFO");
}

static void test_two_metadata(void **state)
{
	const struct fx_member w[] = {
	    {"aos_sdk-0.1.0.dist-info/METADATA", WHEEL_META, 0, 0, NULL},
	    {"other-1.0.dist-info/METADATA", WHEEL_META, 0, 0, NULL},
	};
	const struct fx_member n[] = {
	    {"package/package.json", PACKAGE_JSON, 0, 0, NULL},
	    {"package/package.json", PACKAGE_JSON, 0, 0, NULL},
	};
	const struct fx_member s[] = {
	    {"aos_sdk-0.1.0/PKG-INFO", PKG_INFO, 0, 0, NULL},
	    {"other-0.1.0/PKG-INFO", PKG_INFO, 0, 0, NULL},
	};

	fx_write_archive("aos_sdk-0.1.0-py3-none-any.whl", FX_ZIP, w, 2);
	expect_fail("aos_sdk-0.1.0-py3-none-any.whl", NULL, PUB_EDUPMETA,
		    "other-1.0.dist-info");
	fx_write_archive("agenticverz-aos-sdk-0.1.0.tgz", FX_TGZ, n, 2);
	expect_fail("agenticverz-aos-sdk-0.1.0.tgz", NULL, PUB_EDUPMETA,
		    "two metadata files");
	fx_write_archive("aos_sdk-0.1.0.tar.gz", FX_TGZ, s, 2);
	expect_fail("aos_sdk-0.1.0.tar.gz", NULL, PUB_EDUPMETA, "two metadata files");
}

static void test_oversized(void **state)
{
	size_t len = ARTIFACT_MAX_METADATA + 1;
	char *big = malloc(len + 1);
	struct fx_member w[] = {{"aos_sdk-0.1.0.dist-info/METADATA", big, len, 0, NULL}};
	struct fx_member n[] = {{"package/package.json", PACKAGE_JSON, 0, 0, NULL},
				{"package/a", "a", 0, 0, NULL},
				{"package/b", "b", 0, 0, NULL}};
	struct artifact_options o = {.max_metadata = 16};

	assert_non_null(big);
	memset(big, 'x', len);
	memcpy(big, WHEEL_META, strlen(WHEEL_META));
	fx_write_archive("aos_sdk-0.1.0-py3-none-any.whl", FX_ZIP, w, 1);
	expect_fail("aos_sdk-0.1.0-py3-none-any.whl", NULL, PUB_EOVERSIZE,
		    "larger than 1048576");
	fx_write_archive("agenticverz-aos-sdk-0.1.0.tgz", FX_TGZ, n, 3);
	expect_fail("agenticverz-aos-sdk-0.1.0.tgz", &o, PUB_EOVERSIZE,
		    "package/package.json");
	o.max_metadata = 0;
	o.max_members = 2;
	expect_fail("agenticverz-aos-sdk-0.1.0.tgz", &o, PUB_EOVERSIZE,
		    "more than 2 members");
	free(big);
}

static void test_escaping_paths(void **state)
{
	static const char *const bad[] = {"../evil", "/etc/passwd", "package/../../x",
					  "package\\..\\..\\x", "C:/x"};
	struct fx_member n[] = {
	    {"package/package.json", PACKAGE_JSON, 0, 0, NULL},
	    {NULL, "x", 0, 0, NULL},
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		n[1].path = bad[i];
		fx_write_archive("agenticverz-aos-sdk-0.1.0.tgz", FX_TGZ, n, 2);
		expect_fail("agenticverz-aos-sdk-0.1.0.tgz", NULL, PUB_EPATH,
			    "escapes the archive");
		fx_write_archive("aos_sdk-0.1.0-py3-none-any.whl", FX_ZIP, n, 2);
		expect_fail("aos_sdk-0.1.0-py3-none-any.whl", NULL, PUB_EPATH,
			    "escapes the archive");
	}
	n[1].path = "package/link";
	n[1].type = 'l';
	n[1].link = "../../etc/shadow";
	fx_write_archive("agenticverz-aos-sdk-0.1.0.tgz", FX_TGZ, n, 2);
	expect_fail("agenticverz-aos-sdk-0.1.0.tgz", NULL, PUB_EPATH,
		    "outside the archive");
	n[1].type = 'h';
	n[1].link = "/etc/shadow";
	fx_write_archive("agenticverz-aos-sdk-0.1.0.tgz", FX_TGZ, n, 2);
	expect_fail("agenticverz-aos-sdk-0.1.0.tgz", NULL, PUB_EPATH,
		    "outside the archive");
	/* A symlink inside the tree is fine; a metadata symlink is not. */
	n[1].type = 'l';
	n[1].link = "index.js";
	fx_write_archive("agenticverz-aos-sdk-0.1.0.tgz", FX_TGZ, n, 2);
	artifact_free(expect_ok("agenticverz-aos-sdk-0.1.0.tgz", NULL));
	n[0].path = "package/real.json";
	n[1].path = "package/package.json";
	n[1].link = "real.json";
	fx_write_archive("agenticverz-aos-sdk-0.1.0.tgz", FX_TGZ, n, 2);
	expect_fail("agenticverz-aos-sdk-0.1.0.tgz", NULL, PUB_EMETADATA,
		    "not a regular file");
}

static void test_bad_text(void **state)
{
	struct fx_member w[] = {
	    {"aos_sdk-0.1.0.dist-info/METADATA",
	     "Metadata-Version: 2.1\nName: aos-sdk\nVersion: 0.1.0\nSummary: \xff\xfe\n",
	     0, 0, NULL}};
	struct fx_member n[] = {
	    {"package/package.json", "{\"name\": \"a\xc0\xaf\"}", 0, 0, NULL}};

	fx_write_archive("aos_sdk-0.1.0-py3-none-any.whl", FX_ZIP, w, 1);
	expect_fail("aos_sdk-0.1.0-py3-none-any.whl", NULL, PUB_EUTF8,
		    "invalid UTF-8 at byte");
	fx_write_archive("agenticverz-aos-sdk-0.1.0.tgz", FX_TGZ, n, 1);
	expect_fail("agenticverz-aos-sdk-0.1.0.tgz", NULL, PUB_EUTF8,
		    "package/package.json");
	/* The member path is the archive's: a top folder with a control
	 * character and a broken UTF-8 sequence is quoted in the message (found
	 * by fuzz_artifact). */
	n[0].path = "p\x11\xe1kg/package.json";
	fx_write_archive("agenticverz-aos-sdk-0.1.0.tgz", FX_TGZ, n, 1);
	expect_fail("agenticverz-aos-sdk-0.1.0.tgz", NULL, PUB_EUTF8, "kg/package.json");
	n[0].path = "package/package.json";
	n[0].data = "{\"name\": \"@agenticverz/aos-sdk\", \"version\": \"0.1.0\",}";
	fx_write_archive("agenticverz-aos-sdk-0.1.0.tgz", FX_TGZ, n, 1);
	expect_fail("agenticverz-aos-sdk-0.1.0.tgz", NULL, PUB_EJSON, "invalid JSON");
	n[0].data =
	    "{\"name\": \"@agenticverz/aos-sdk\", \"version\": \"0.1.0\"} trailing";
	fx_write_archive("agenticverz-aos-sdk-0.1.0.tgz", FX_TGZ, n, 1);
	expect_fail("agenticverz-aos-sdk-0.1.0.tgz", NULL, PUB_EJSON, "invalid JSON");
	n[0].data = "[1, 2]";
	fx_write_archive("agenticverz-aos-sdk-0.1.0.tgz", FX_TGZ, n, 1);
	expect_fail("agenticverz-aos-sdk-0.1.0.tgz", NULL, PUB_EMETADATA,
		    "string \"name\"");
	n[0].data = "{\"name\": \"x\", \"name\": \"@agenticverz/aos-sdk\", \"version\": "
		    "\"0.1.0\"}";
	fx_write_archive("agenticverz-aos-sdk-0.1.0.tgz", FX_TGZ, n, 1);
	expect_fail("agenticverz-aos-sdk-0.1.0.tgz", NULL, PUB_EMETADATA, "twice");
	n[0].data = "{\"name\": \"@agenticverz/aos-sdk\", \"version\": \"v0.1.0\"}";
	fx_write_archive("agenticverz-aos-sdk-0.1.0.tgz", FX_TGZ, n, 1);
	expect_fail("agenticverz-aos-sdk-0.1.0.tgz", NULL, PUB_EMETADATA,
		    "not a semantic version");
	n[0].data = "{\"name\": \"@AgenticVerz/aos-sdk\", \"version\": \"0.1.0\"}";
	fx_write_archive("agenticverz-aos-sdk-0.1.0.tgz", FX_TGZ, n, 1);
	expect_fail("agenticverz-aos-sdk-0.1.0.tgz", NULL, PUB_EMETADATA,
		    "invalid package name");
	w[0].data = "Metadata-Version: 2.1\nVersion: 0.1.0\n";
	fx_write_archive("aos_sdk-0.1.0-py3-none-any.whl", FX_ZIP, w, 1);
	expect_fail("aos_sdk-0.1.0-py3-none-any.whl", NULL, PUB_EMETADATA,
		    "Name missing");
}

static void test_mismatch(void **state)
{
	const struct fx_member s[] = {{"aos_sdk-0.1.0/PKG-INFO", PKG_INFO, 0, 0, NULL}};
	const struct fx_member n[] = {{"package/package.json", PACKAGE_JSON, 0, 0, NULL}};
	const struct fx_member w[] = {
	    {"aos_sdk-0.2.0.dist-info/METADATA", WHEEL_META, 0, 0, NULL}};
	const struct fx_member u[] = {
	    {"aos-sdk-0.1.dist-info/METADATA", WHEEL_META, 0, 0, NULL}};
	const struct fx_member x[] = {
	    {"other-0.1.0.dist-info/METADATA", WHEEL_META, 0, 0, NULL}};
	struct artifact_options o = {.expected_version = "0.2.0"};

	fx_write_archive("other_sdk-0.1.0-py3-none-any.whl", FX_ZIP, good_wheel, 4);
	expect_fail("other_sdk-0.1.0-py3-none-any.whl", NULL, PUB_ENAME,
		    "does not match metadata Name");
	fx_write_archive("aos_sdk-0.1.1-py3-none-any.whl", FX_ZIP, good_wheel, 4);
	expect_fail("aos_sdk-0.1.1-py3-none-any.whl", NULL, PUB_EVERSION, "0.1.1");
	fx_write_archive("aos_sdk-0.1.0-py3-none-any.whl", FX_ZIP, w, 1);
	expect_fail("aos_sdk-0.1.0-py3-none-any.whl", NULL, PUB_EVERSION, "directory");
	fx_write_archive("aos_sdk-0.1.0-py3-none-any.whl", FX_ZIP, u, 1);
	artifact_free(expect_ok("aos_sdk-0.1.0-py3-none-any.whl", NULL));
	fx_write_archive("aos_sdk-0.1.0-py3-none-any.whl", FX_ZIP, x, 1);
	expect_fail("aos_sdk-0.1.0-py3-none-any.whl", NULL, PUB_ENAME, "directory");
	fx_write_archive("aos_sdk-0.1.0-py3-none-any.whl", FX_ZIP, good_wheel, 4);
	expect_fail("aos_sdk-0.1.0-py3-none-any.whl", &o, PUB_EVERSION,
		    "not the expected 0.2.0");
	fx_write_archive("aos_sdx-0.1.0.tar.gz", FX_TGZ, s, 1);
	expect_fail("aos_sdx-0.1.0.tar.gz", NULL, PUB_ENAME, "Name aos_sdk");
	fx_write_archive("aos_sdk-0.1.2.tar.gz", FX_TGZ, s, 1);
	expect_fail("aos_sdk-0.1.2.tar.gz", NULL, PUB_EVERSION, "Version 0.1.0");
	fx_write_archive("agenticverz-aos-sdk-0.1.1.tgz", FX_TGZ, n, 1);
	expect_fail("agenticverz-aos-sdk-0.1.1.tgz", NULL, PUB_EVERSION, "expected");
	fx_write_archive("agenticverz-aos-sdk-0.1.0.tgz", FX_TGZ, n, 1);
	expect_fail("agenticverz-aos-sdk-0.1.0.tgz", &o, PUB_EVERSION,
		    "not the expected");
	fx_write_file("notes.txt", "x", 1);
	expect_fail("notes.txt", NULL, PUB_EFILENAME, "file name");
	fx_write_archive("aos_sdk.whl", FX_ZIP, good_wheel, 4);
	expect_fail("aos_sdk.whl", NULL, PUB_EFILENAME, "wheel file name");
}

/* npm unpacks with node-tar and strip: 1 (npm/pacote lib/fetcher.js,
 * #tarxOptions; isaacs/node-tar src/unpack.ts, [CHECKPATH]): the first path
 * component of every entry goes, whatever it is, and package.json is read
 * from the folder that results. */
static void test_npm_top_folder_any_name(void **state)
{
	static const char *const tops[] = {"mypkg", "package", "aos-sdk-0.1.0", "."};
	char pj[64], js[64], dir[64];
	struct fx_member m[] = {
	    {dir, NULL, 0, 'd', NULL},
	    {js, "module.exports = 1;\n", 0, 0, NULL},
	    {pj, PACKAGE_JSON, 0, 0, NULL},
	};
	struct artifact *a;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(tops) / sizeof(tops[0]); i++) {
		snprintf(dir, sizeof(dir), "%s/", tops[i]);
		snprintf(js, sizeof(js), "%s/lib/index.js", tops[i]);
		snprintf(pj, sizeof(pj), "%s/package.json", tops[i]);
		fx_write_archive("agenticverz-aos-sdk-0.1.0.tgz", FX_TGZ, m, 3);
		a = expect_ok("agenticverz-aos-sdk-0.1.0.tgz", NULL);
		assert_string_equal(a->name, "@agenticverz/aos-sdk");
		assert_string_equal(a->package_json, PACKAGE_JSON);
		artifact_free(a);
	}
	/* The top folder's own entry may come without the slash. */
	snprintf(dir, sizeof(dir), "mypkg");
	snprintf(js, sizeof(js), "mypkg/index.js");
	snprintf(pj, sizeof(pj), "mypkg/package.json");
	fx_write_archive("agenticverz-aos-sdk-0.1.0.tgz", FX_TGZ, m, 3);
	artifact_free(expect_ok("agenticverz-aos-sdk-0.1.0.tgz", NULL));
}

/* What npm would make something else of is refused. */
static void test_npm_top_folder_refused(void **state)
{
	struct fx_member m[] = {
	    {"mypkg/package.json", PACKAGE_JSON, 0, 0, NULL},
	    {NULL, "x", 0, 0, NULL},
	};
	const struct fx_member dot[] = {
	    {"./package/package.json", PACKAGE_JSON, 0, 0, NULL},
	};
	const struct fx_member deep[] = {
	    {"mypkg/", NULL, 0, 'd', NULL},
	    {"mypkg/sub/package.json", PACKAGE_JSON, 0, 0, NULL},
	};

	(void)state;
	/* Two top folders: npm would merge them. */
	m[1].path = "package/index.js";
	fx_write_archive("agenticverz-aos-sdk-0.1.0.tgz", FX_TGZ, m, 2);
	expect_fail("agenticverz-aos-sdk-0.1.0.tgz", NULL, PUB_EPATH,
		    "not in the top folder mypkg/");
	/* A file outside any folder: npm drops it. */
	m[1].path = "index.js";
	fx_write_archive("agenticverz-aos-sdk-0.1.0.tgz", FX_TGZ, m, 2);
	expect_fail("agenticverz-aos-sdk-0.1.0.tgz", NULL, PUB_EPATH,
		    "not inside a top folder");
	m[0].path = "package.json";
	fx_write_archive("agenticverz-aos-sdk-0.1.0.tgz", FX_TGZ, m, 1);
	expect_fail("agenticverz-aos-sdk-0.1.0.tgz", NULL, PUB_EPATH,
		    "not inside a top folder");
	/* "./package/package.json": "." is the top folder for npm, so the
	 * manifest would land in package/, not at the package's root. */
	fx_write_archive("agenticverz-aos-sdk-0.1.0.tgz", FX_TGZ, dot, 1);
	expect_fail("agenticverz-aos-sdk-0.1.0.tgz", NULL, PUB_ENOMETA, "./package.json");
	/* package.json deeper than the top folder. */
	fx_write_archive("agenticverz-aos-sdk-0.1.0.tgz", FX_TGZ, deep, 2);
	expect_fail("agenticverz-aos-sdk-0.1.0.tgz", NULL, PUB_ENOMETA,
		    "mypkg/package.json");
	/* ".." and absolute paths: node-tar skips or re-roots them; refused. */
	m[0].path = "mypkg/package.json";
	m[1].path = "mypkg/../other/x";
	fx_write_archive("agenticverz-aos-sdk-0.1.0.tgz", FX_TGZ, m, 2);
	expect_fail("agenticverz-aos-sdk-0.1.0.tgz", NULL, PUB_EPATH,
		    "escapes the archive");
	m[1].path = "/mypkg/x";
	fx_write_archive("agenticverz-aos-sdk-0.1.0.tgz", FX_TGZ, m, 2);
	expect_fail("agenticverz-aos-sdk-0.1.0.tgz", NULL, PUB_EPATH,
		    "escapes the archive");
}

/* Sdists keep their own rule: "./" prefixes are dropped. */
static void test_sdist_dot_prefix(void **state)
{
	const struct fx_member s[] = {
	    {"./aos_sdk-0.1.0/PKG-INFO", PKG_INFO, 0, 0, NULL},
	};

	(void)state;
	fx_write_archive("aos_sdk-0.1.0.tar.gz", FX_TGZ, s, 1);
	artifact_free(expect_ok("aos_sdk-0.1.0.tar.gz", NULL));
}

static void test_missing_file(void **state)
{
	expect_fail("absent-1.0.tgz", NULL, -ENOENT, "No such file");
}

static void test_path_escapes(void **state)
{
	assert_false(artifact__path_escapes("a/b/c"));
	assert_false(artifact__path_escapes("a/..b/c.."));
	assert_false(artifact__path_escapes("./a"));
	assert_true(artifact__path_escapes(".."));
	assert_true(artifact__path_escapes("a/.."));
	assert_true(artifact__path_escapes("\\a"));
	assert_true(artifact__path_escapes("d:x"));
}

static int setup(void **state)
{
	if (fx_setup(state) < 0)
		return -1;
	return mkdir(fx_path("c"), 0755);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_wheel_ok),
	    cmocka_unit_test(test_sdist_ok),
	    cmocka_unit_test(test_npm_ok),
	    cmocka_unit_test(test_large_member),
	    cmocka_unit_test(test_not_archive),
	    cmocka_unit_test(test_truncated),
	    cmocka_unit_test(test_no_metadata),
	    cmocka_unit_test(test_two_metadata),
	    cmocka_unit_test(test_oversized),
	    cmocka_unit_test(test_escaping_paths),
	    cmocka_unit_test(test_bad_text),
	    cmocka_unit_test(test_mismatch),
	    cmocka_unit_test(test_missing_file),
	    cmocka_unit_test(test_path_escapes),
	    cmocka_unit_test(test_npm_top_folder_any_name),
	    cmocka_unit_test(test_npm_top_folder_refused),
	    cmocka_unit_test(test_sdist_dot_prefix),
	};

	return cmocka_run_group_tests(tests, setup, fx_teardown);
}
