/* Unit tests for publishers/artifact_fit.c: which registries an artifact
 * fits, and the message when it does not. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "publishers/artifact_fit.h"

static void test_fits(void **state)
{
	(void)state;
	assert_true(artifact_fits(ARTIFACT_WHEEL, REGISTRY_PYPI));
	assert_true(artifact_fits(ARTIFACT_SDIST, REGISTRY_PYPI));
	assert_true(artifact_fits(ARTIFACT_NPM, REGISTRY_NPM));
	assert_false(artifact_fits(ARTIFACT_NPM, REGISTRY_PYPI));
	assert_false(artifact_fits(ARTIFACT_WHEEL, REGISTRY_NPM));
	assert_false(artifact_fits(ARTIFACT_SDIST, REGISTRY_NPM));
}

static void test_check_fits_message(void **state)
{
	char msg[256];

	(void)state;
	memset(msg, 0, sizeof(msg));
	assert_int_equal(artifact_check_fits(ARTIFACT_NPM, "x.tgz", "npmreg",
					     REGISTRY_NPM, msg, sizeof(msg)),
			 0);
	assert_string_equal(msg, ""); /* untouched when it fits */
	assert_int_equal(artifact_check_fits(ARTIFACT_WHEEL, "a-1.0-py3-none-any.whl",
					     "npmreg", REGISTRY_NPM, msg, sizeof(msg)),
			 -EINVAL);
	assert_string_equal(msg, "a-1.0-py3-none-any.whl: a wheel cannot go to registry "
				 "npmreg, which is of type npm");
	assert_int_equal(artifact_check_fits(ARTIFACT_NPM, "p-1.0.0.tgz", "pyreg",
					     REGISTRY_PYPI, msg, sizeof(msg)),
			 -EINVAL);
	assert_string_equal(msg,
			    "p-1.0.0.tgz: an npm tarball cannot go to registry pyreg, "
			    "which is of type pypi");
	assert_int_equal(artifact_check_fits(ARTIFACT_SDIST, "a-1.0.tar.gz", "n",
					     REGISTRY_NPM, msg, sizeof(msg)),
			 -EINVAL);
	assert_string_equal(msg,
			    "a-1.0.tar.gz: an sdist cannot go to registry n, which is "
			    "of type npm");
}

static void test_type_name(void **state)
{
	(void)state;
	assert_string_equal(registry_type_name(REGISTRY_NPM), "npm");
	assert_string_equal(registry_type_name(REGISTRY_PYPI), "pypi");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fits),
	    cmocka_unit_test(test_check_fits_message),
	    cmocka_unit_test(test_type_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
