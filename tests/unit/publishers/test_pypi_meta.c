/* Unit tests for publishers/pypi_meta: the core metadata parser. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "publishers/pub_err.h"
#include "publishers/pypi_meta.h"

static char errbuf[256];

static struct pypi_meta *parse_ok(const char *text)
{
	struct pypi_meta *m = NULL;
	int r =
	    pypi_meta_parse(text, strlen(text), "METADATA", &m, errbuf, sizeof(errbuf));

	if (r != 0)
		print_error("parse: %d %s\n", r, errbuf);
	assert_int_equal(r, 0);
	assert_non_null(m);
	return m;
}

static void parse_fail(const char *text, size_t len, int code, const char *needle)
{
	struct pypi_meta *m = NULL;
	int r;

	errbuf[0] = '\0';
	r = pypi_meta_parse(text, len, "x.whl: METADATA", &m, errbuf, sizeof(errbuf));
	assert_int_equal(r, code);
	assert_null(m);
	assert_non_null(strstr(errbuf, "x.whl: METADATA"));
	if (strstr(errbuf, needle) == NULL) {
		print_error("\"%s\" lacks \"%s\"\n", errbuf, needle);
		fail();
	}
}

/* Metadata 1.0 (PEP 241): the description is a folded header field. */
static void test_v1_0(void **state)
{
	struct pypi_meta *m = parse_ok("Metadata-Version: 1.0\n"
				       "Name: aos-sdk\n"
				       "Version: 0.1.0\n"
				       "Summary: A short\n"
				       "   summary on two lines\n"
				       "Description: First line\n"
				       "        \n"
				       "        indented:\n"
				       "            code\n"
				       "       |kept pipe form\n"
				       "Platform: UNKNOWN\n");

	assert_string_equal(pypi_meta_metadata_version(m), "1.0");
	assert_string_equal(pypi_meta_name(m), "aos-sdk");
	assert_string_equal(pypi_meta_version(m), "0.1.0");
	assert_string_equal(pypi_meta_get(m, "summary"), "A short summary on two lines");
	assert_string_equal(pypi_meta_description(m),
			    "First line\n\nindented:\n    code\nkept pipe form");
	assert_null(pypi_meta_body(m));
	assert_string_equal(pypi_meta_get(m, "PLATFORM"), "UNKNOWN");
	assert_int_equal(pypi_meta_count(m), 6);
	pypi_meta_free(m);
}

/* Metadata 2.4: repeated fields, CRLF line ends, the body as description. */
static void test_v2_4(void **state)
{
	struct pypi_meta *m =
	    parse_ok("Metadata-Version: 2.4\r\n"
		     "Name: aos_sdk\r\n"
		     "Version: 0.1.0rc1\r\n"
		     "License-Expression: MIT\r\n"
		     "License-File: LICENSE\r\n"
		     "License-File: NOTICE\r\n"
		     "Classifier: Programming Language :: Python\r\n"
		     "Classifier: License :: OSI Approved\r\n"
		     "Requires-Dist: httpx>=0.27\r\n"
		     "Requires-Dist: pytest; extra == \"test\"\r\n"
		     "Provides-Extra: test\r\n"
		     "Project-URL: Homepage, https://example.invalid/\r\n"
		     "Dynamic: license-file\r\n"
		     "Description-Content-Type: text/markdown\r\n"
		     "\r\n"
		     "# AOS SDK\r\n\r\nBody text.\r\n");
	const char *name, *value;
	size_t pos = 0;

	assert_string_equal(pypi_meta_metadata_version(m), "2.4");
	assert_string_equal(pypi_meta_next(m, "License-File", &pos), "LICENSE");
	assert_string_equal(pypi_meta_next(m, "license-file", &pos), "NOTICE");
	assert_null(pypi_meta_next(m, "License-File", &pos));
	pos = 0;
	assert_string_equal(pypi_meta_next(m, "Requires-Dist", &pos), "httpx>=0.27");
	assert_string_equal(pypi_meta_next(m, "Requires-Dist", &pos),
			    "pytest; extra == \"test\"");
	assert_string_equal(pypi_meta_body(m), "# AOS SDK\r\n\r\nBody text.\r\n");
	assert_string_equal(pypi_meta_description(m), pypi_meta_body(m));
	assert_int_equal(pypi_meta_field(m, 1, &name, &value), 0);
	assert_string_equal(name, "Name");
	assert_string_equal(value, "aos_sdk");
	assert_int_equal(pypi_meta_field(m, 99, &name, &value), -ERANGE);
	pypi_meta_free(m);
}

/* Metadata 2.5 (what hatchling >= 1.28 writes): Import-Name may be repeated,
 * and empty (the distribution has no import name). */
static void test_v2_5(void **state)
{
	struct pypi_meta *m =
	    parse_ok("Metadata-Version: 2.5\nName: aos-sdk\nVersion: 0.1.0\n"
		     "Import-Name: aos_sdk\nImport-Name: aos_sdk.cli\n"
		     "Import-Namespace: aos\n\nbody\n");
	bool multiple = false;
	size_t pos = 0;

	assert_string_equal(pypi_meta_metadata_version(m), "2.5");
	assert_string_equal(pypi_meta_next(m, "Import-Name", &pos), "aos_sdk");
	assert_string_equal(pypi_meta_next(m, "import-name", &pos), "aos_sdk.cli");
	assert_string_equal(pypi_meta_get(m, "Import-Namespace"), "aos");
	assert_string_equal(pypi_meta_form_name("Import-Name", &multiple),
			    "import_names");
	assert_true(multiple);
	assert_string_equal(pypi_meta_form_name("import-namespace", &multiple),
			    "import_namespaces");
	pypi_meta_free(m);
	m = parse_ok("Metadata-Version: 2.5\nName: a\nVersion: 1\nImport-Name:\n");
	assert_string_equal(pypi_meta_get(m, "Import-Name"), "");
	pypi_meta_free(m);
}

/* Blank bodies do not count; a body wins over a Description field. */
static void test_body(void **state)
{
	struct pypi_meta *m;

	m = parse_ok("Metadata-Version: 2.1\nName: a\nVersion: 1\n\n \n\t\n");
	assert_null(pypi_meta_body(m));
	assert_null(pypi_meta_description(m));
	pypi_meta_free(m);
	m = parse_ok(
	    "Metadata-Version: 2.1\nName: a\nVersion: 1\nDescription: header\n\nbody\n");
	assert_string_equal(pypi_meta_description(m), "body\n");
	pypi_meta_free(m);
	m = parse_ok(
	    "Metadata-Version: 1.1\nName: a\nVersion: 1\nDescription:\n        first\n"
	    "        second\n");
	assert_string_equal(pypi_meta_description(m), "first\nsecond");
	pypi_meta_free(m);
	m = parse_ok("Metadata-Version: 1.2\nName: a\nVersion: 1\nKeywords: a,b\n   ,c");
	assert_string_equal(pypi_meta_get(m, "Keywords"), "a,b ,c");
	assert_null(pypi_meta_get(m, "Author"));
	pypi_meta_free(m);
}

static void test_errors(void **state)
{
	static const char nul[] = "Metadata-Version: 2.1\nName: a\0b\nVersion: 1\n";

	parse_fail(" folded first\n", 14, PUB_EMETADATA,
		   "continuation line before any field");
	parse_fail("Metadata-Version: 2.1\nno colon here\n", 36, PUB_EMETADATA,
		   "line 2: not a \"Field: value\" line");
	parse_fail("Metadata-Version: 2.1\nBad Name: x\n", 34, PUB_EMETADATA, "line 2");
	parse_fail("Metadata-Version: 3.0\nName: a\nVersion: 1\n", 41, PUB_EMETADATA,
		   "unsupported Metadata-Version \"3.0\"");
	parse_fail("Metadata-Version: 2.0\nName: a\nVersion: 1\n", 41, PUB_EMETADATA,
		   "unsupported Metadata-Version");
	parse_fail("Metadata-Version: 2.1\nVersion: 1\n", 33, PUB_EMETADATA,
		   "Name missing");
	parse_fail("Name: a\nVersion: 1\n", 19, PUB_EMETADATA,
		   "Metadata-Version missing");
	parse_fail("Metadata-Version: 2.1\nName: a\nName: b\nVersion: 1\n", 49,
		   PUB_EMETADATA, "Name appears more than once");
	parse_fail("Metadata-Version: 2.1\nName: -a-\nVersion: 1\n", 43, PUB_EMETADATA,
		   "invalid Name \"-a-\"");
	parse_fail("Metadata-Version: 2.1\nName: a\nVersion: one\n", 43, PUB_EMETADATA,
		   "not a PEP 440 version");
	parse_fail("Metadata-Version: 2.1\nName: a\nVersion: 1\nSummary: \xe2\x82\n", 55,
		   PUB_EUTF8, "invalid UTF-8 at byte 50");
	parse_fail("Metadata-Version: 2.1\nName: a\nVersion: 1\nSummary: \xed\xa0\x80\n",
		   56, PUB_EUTF8, "invalid UTF-8");
	parse_fail("Metadata-Version: 2.1\nName: a\nVersion: 1\nSummary: \xc0\xaf\n", 55,
		   PUB_EUTF8, "invalid UTF-8");
	parse_fail(nul, sizeof(nul) - 1, PUB_EMETADATA, "NUL");
}

static void test_form_names(void **state)
{
	bool multiple = true;

	assert_string_equal(pypi_meta_form_name("Classifier", &multiple), "classifiers");
	assert_true(multiple);
	assert_string_equal(pypi_meta_form_name("home-page", &multiple), "home_page");
	assert_false(multiple);
	assert_string_equal(pypi_meta_form_name("Project-URL", NULL), "project_urls");
	assert_string_equal(pypi_meta_form_name("License-File", &multiple),
			    "license_file");
	assert_true(multiple);
	assert_null(pypi_meta_form_name("X-Custom", NULL));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_v1_0),   cmocka_unit_test(test_v2_4),
	    cmocka_unit_test(test_v2_5),   cmocka_unit_test(test_body),
	    cmocka_unit_test(test_errors), cmocka_unit_test(test_form_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
