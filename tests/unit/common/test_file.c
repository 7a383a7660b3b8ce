/* Unit tests for common/file.c: fsync of a folder, removal of a flat one. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/file.h"

static void touch(const char *dir, const char *name)
{
	char p[4200];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "x", 1), 1);
	close(fd);
}

static void test_fsync_dir(void **state)
{
	char dir[] = "/tmp/aos-test-file-XXXXXX", file[4200];

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(aos_fsync_dir(dir), 0);
	touch(dir, "f");
	snprintf(file, sizeof(file), "%s/f", dir);
	assert_int_equal(aos_fsync_dir(file), -ENOTDIR);
	assert_int_equal(aos_rm_flat_dir(dir), 0);
	assert_int_equal(aos_fsync_dir(dir), -ENOENT);
}

static void test_rm_flat_dir_removes_files_and_folder(void **state)
{
	char dir[] = "/tmp/aos-test-file-XXXXXX";
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	touch(dir, "a.whl");
	touch(dir, ".hidden");
	assert_int_equal(aos_rm_flat_dir(dir), 0);
	assert_int_equal(stat(dir, &st), -1);
	assert_int_equal(errno, ENOENT);
	assert_int_equal(aos_rm_flat_dir(dir), -ENOENT);
}

static void test_rm_flat_dir_leaves_a_subfolder(void **state)
{
	char dir[] = "/tmp/aos-test-file-XXXXXX", sub[4200];
	struct stat st;

	(void)state;
	assert_non_null(mkdtemp(dir));
	touch(dir, "a.tgz");
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	assert_true(aos_rm_flat_dir(dir) < 0); /* the subfolder is not ours to remove */
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(rmdir(sub), 0);
	assert_int_equal(aos_rm_flat_dir(dir), 0); /* a.tgz went the first time */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fsync_dir),
	    cmocka_unit_test(test_rm_flat_dir_removes_files_and_folder),
	    cmocka_unit_test(test_rm_flat_dir_leaves_a_subfolder),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
