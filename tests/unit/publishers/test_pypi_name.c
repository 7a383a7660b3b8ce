/* Unit tests for publishers/pypi_name: PEP 503 names, PEP 440 versions and
 * distribution file names. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/err.h"
#include "publishers/pub_err.h"
#include "publishers/pypi_name.h"

static void test_names(void **state)
{
	char out[PYPI_NAME_MAX];

	assert_int_equal(pypi_name_normalize("Aos_SDK", out, sizeof(out)), 0);
	assert_string_equal(out, "aos-sdk");
	assert_int_equal(pypi_name_normalize("a.-_b__c", out, sizeof(out)), 0);
	assert_string_equal(out, "a-b-c");
	assert_int_equal(pypi_name_normalize("-a", out, sizeof(out)), -EINVAL);
	assert_int_equal(pypi_name_normalize("a b", out, sizeof(out)), -EINVAL);
	assert_int_equal(pypi_name_normalize("", out, sizeof(out)), -EINVAL);
	assert_int_equal(pypi_name_normalize("abcdef", out, 4), AOS_ETOOBIG);
	assert_true(pypi_name_equal("aos-sdk", "AOS.sdk"));
	assert_false(pypi_name_equal("aos-sdk", "aossdk"));
	assert_true(pypi_name_valid("a"));
	assert_false(pypi_name_valid("a_"));
}

static void norm(const char *in, const char *want)
{
	char out[PYPI_NAME_MAX];
	int r = pypi_version_normalize(in, out, sizeof(out));

	if (r != 0 || strcmp(out, want) != 0) {
		print_error("%s: got %d \"%s\", want \"%s\"\n", in, r, r == 0 ? out : "",
			    want);
		fail();
	}
}

static void test_versions(void **state)
{
	char out[PYPI_NAME_MAX];

	norm("0.1.0", "0.1.0");
	norm("v1.0", "1.0");
	norm(" 1.0 ", "1.0");
	norm("0!1.0", "1.0");
	norm("02!01.002", "2!1.2");
	norm("1.0-RC.1", "1.0rc1");
	norm("1.0alpha2", "1.0a2");
	norm("1.0.b", "1.0b0");
	norm("1.0c1", "1.0rc1");
	norm("1.0preview3", "1.0rc3");
	norm("1.0-1", "1.0.post1");
	norm("1.0.r", "1.0.post0");
	norm("1.0-rev_4", "1.0.post4");
	norm("1.0.DEV", "1.0.dev0");
	norm("1.0a1.post2.dev3", "1.0a1.post2.dev3");
	norm("1.0a.", "1.0a0");
	norm("1.0+Ubuntu-1.007", "1.0+ubuntu.1.7");
	assert_int_equal(pypi_version_normalize("one", out, sizeof(out)), -EINVAL);
	assert_int_equal(pypi_version_normalize("1.0+", out, sizeof(out)), -EINVAL);
	assert_int_equal(pypi_version_normalize("1.0.", out, sizeof(out)), -EINVAL);
	assert_int_equal(pypi_version_normalize("1..0", out, sizeof(out)), -EINVAL);
	assert_int_equal(pypi_version_normalize("1.0 x", out, sizeof(out)), -EINVAL);
	assert_int_equal(pypi_version_normalize("1.0-", out, sizeof(out)), -EINVAL);
	assert_int_equal(pypi_version_normalize("1.0.0", out, 4), AOS_ETOOBIG);
	assert_true(pypi_version_equal("1.0", "1.0.0"));
	assert_true(pypi_version_equal("1.0-1", "1.0.post1"));
	assert_true(pypi_version_equal("1.0_rc_1", "1.0rc1"));
	assert_false(pypi_version_equal("1.0", "1.0.1"));
	assert_false(pypi_version_equal("1.0", "1.0+local"));
	assert_false(pypi_version_equal("x", "x"));
}

static void test_wheel_names(void **state)
{
	struct pypi_wheel_name w;

	assert_int_equal(pypi_wheel_name_parse("aos_sdk-0.1.0-py3-none-any.whl", &w), 0);
	assert_string_equal(w.name, "aos_sdk");
	assert_string_equal(w.version, "0.1.0");
	assert_string_equal(w.build, "");
	assert_string_equal(w.python, "py3");
	assert_string_equal(w.abi, "none");
	assert_string_equal(w.platform, "any");
	assert_int_equal(pypi_wheel_name_parse(
			     "x-1.0-2b-cp312.cp313-abi3-manylinux_2_17_x86_64.whl", &w),
			 0);
	assert_string_equal(w.build, "2b");
	assert_string_equal(w.python, "cp312.cp313");
	assert_int_equal(pypi_wheel_name_parse("x-1.0-b2-py3-none-any.whl", &w),
			 PUB_EFILENAME);
	assert_int_equal(pypi_wheel_name_parse("x-1.0-py3-none.whl", &w), PUB_EFILENAME);
	assert_int_equal(pypi_wheel_name_parse("x-1.0--py3-none-any.whl", &w),
			 PUB_EFILENAME);
	assert_int_equal(pypi_wheel_name_parse("x-1.0-py3-none-any-.whl", &w),
			 PUB_EFILENAME);
	assert_int_equal(pypi_wheel_name_parse("x-1.0-1-2-py3-none-any.whl", &w),
			 PUB_EFILENAME);
	assert_int_equal(pypi_wheel_name_parse("x-1.0-py3-none-any.zip", &w),
			 PUB_EFILENAME);
	/* Tags are letters, digits, "_" and "." (found by fuzz_artifact: the
	 * python tag went into the upload form's pyversion as sent). */
	assert_int_equal(pypi_wheel_name_parse("x-1.0-\xc9py3-none-any.whl", &w),
			 PUB_EFILENAME);
	assert_int_equal(pypi_wheel_name_parse("x-1.0-py3-none-an\r\ny.whl", &w),
			 PUB_EFILENAME);
	assert_int_equal(pypi_wheel_name_parse("x-1.0-py3-no ne-any.whl", &w),
			 PUB_EFILENAME);
	assert_int_equal(pypi_wheel_name_parse("x-1.0-1\"-py3-none-any.whl", &w),
			 PUB_EFILENAME);
}

static void test_sdist_names(void **state)
{
	char err[256];

	assert_int_equal(pypi_sdist_name_check("aos_sdk-0.1.0.tar.gz", "aos-sdk", "0.1.0",
					       err, sizeof(err)),
			 0);
	assert_int_equal(pypi_sdist_name_check("aos-sdk-0.1.tar.gz", "aos.sdk", "0.1.0",
					       err, sizeof(err)),
			 0);
	assert_int_equal(pypi_sdist_name_check("aos-sdk-1.0-1.zip", "aos-sdk",
					       "1.0.post1", err, sizeof(err)),
			 0);
	assert_int_equal(pypi_sdist_name_check("aos-sdk-0.2.tar.gz", "aos-sdk", "0.1",
					       err, sizeof(err)),
			 PUB_EVERSION);
	assert_non_null(strstr(err, "aos-sdk-0.2.tar.gz"));
	assert_int_equal(
	    pypi_sdist_name_check("other-0.1.tar.gz", "aos-sdk", "0.1", err, sizeof(err)),
	    PUB_ENAME);
	assert_int_equal(pypi_sdist_name_check("aos-sdk-0.1.tar.bz2", "aos-sdk", "0.1",
					       err, sizeof(err)),
			 PUB_EFILENAME);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_names),
	    cmocka_unit_test(test_versions),
	    cmocka_unit_test(test_wheel_names),
	    cmocka_unit_test(test_sdist_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
