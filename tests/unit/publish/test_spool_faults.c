/* Unit tests for spool_take_fd() (agent/publish/spool.c): a failure that
 * is the daemon's own while a file is copied and hashed (a digest that
 * fails, no memory) is not blamed on the client's file.  It was: the
 * publish answered outcome "invalid" (do not retry, fix the file) for a
 * file that was fine.  Linked with -Wl,--wrap=EVP_DigestUpdate:
 * __wrap_EVP_DigestUpdate fails while fail_digest is set. */
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
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "base/log.h"
#include "publish/spool.h"
#include "publishers/artifact.h"
#include "tests/unit/publishers/pub_fixture.h"

#define WHEEL "aos_sdk-0.1.0-py3-none-any.whl"

static const struct fx_member wheel[] = {
    {"aos_sdk/__init__.py", "VERSION = '0.1.0'\n", 0, 0, NULL},
    {"aos_sdk-0.1.0.dist-info/METADATA",
     "Metadata-Version: 2.1\nName: aos-sdk\nVersion: 0.1.0\n", 0, 0, NULL},
    {"aos_sdk-0.1.0.dist-info/WHEEL", "Wheel-Version: 1.0\n", 0, 0, NULL},
    {"aos_sdk-0.1.0.dist-info/RECORD", "", 0, 0, NULL},
};

static bool fail_digest;
static int digest_calls;

int __real_EVP_DigestUpdate(EVP_MD_CTX *ctx, const void *d, size_t cnt);
int __wrap_EVP_DigestUpdate(EVP_MD_CTX *ctx, const void *d, size_t cnt);

int __wrap_EVP_DigestUpdate(EVP_MD_CTX *ctx, const void *d, size_t cnt)
{
	digest_calls++;
	if (fail_digest)
		return 0;
	return __real_EVP_DigestUpdate(ctx, d, cnt);
}

/* Copies the test wheel with spool_take_fd(); returns its rc. */
static int take(bool *theirs, char *msg, size_t msglen)
{
	struct artifact *art = NULL;
	char dst[300];
	int fd, rc;

	fd = open(fx_path(WHEEL), O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	snprintf(dst, sizeof(dst), "%s/copy/%s", fx_dir, WHEEL); /* same name */
	unlink(dst);
	*theirs = true;
	rc = spool_take_fd(fd, WHEEL, dst, 1 << 20, NULL, &art, theirs, msg, msglen);
	close(fd);
	unlink(dst);
	if (rc == 0)
		assert_non_null(art);
	else
		assert_null(art);
	artifact_free(art);
	return rc;
}

/* The same file is taken when the digests work: what fails below is the
 * digest, not the wheel. */
static void test_good_wheel_is_taken(void **state)
{
	char msg[512] = "";
	bool theirs;

	(void)state;
	fail_digest = false;
	digest_calls = 0;
	assert_int_equal(take(&theirs, msg, sizeof(msg)), 0);
	assert_true(digest_calls > 0); /* the wrap is in the path */
}

static void test_digest_failure_is_not_the_files_fault(void **state)
{
	char msg[512] = "";
	bool theirs;
	int rc;

	(void)state;
	fail_digest = true;
	rc = take(&theirs, msg, sizeof(msg));
	fail_digest = false;
	assert_true(rc < 0);
	assert_false(theirs);
	assert_true(msg[0] != '\0');
}

static int group_setup(void **state)
{
	log_init(LOG_LVL_ERR);
	if (fx_setup(state) < 0)
		return -1;
	fx_write_archive(WHEEL, FX_ZIP, wheel, 4);
	return mkdir(fx_path("copy"), 0700);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good_wheel_is_taken),
	    cmocka_unit_test(test_digest_failure_is_not_the_files_fault),
	};

	return cmocka_run_group_tests(tests, group_setup, fx_teardown);
}
