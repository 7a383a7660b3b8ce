/* Unit tests for common/file.c: fsync of a folder, removal of a flat one,
 * the disk space of a tree. */
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
#include <sys/wait.h>
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

/* Writes n bytes to dir/name; returns the blocks it takes (lstat). */
static uint64_t put(const char *dir, const char *name, size_t n)
{
	static char data[65536];
	char p[4200];
	struct stat st;
	size_t k;
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	for (; n > 0; n -= k) {
		k = n < sizeof(data) ? n : sizeof(data);
		assert_int_equal(write(fd, data, k), (ssize_t)k);
	}
	assert_int_equal(fsync(fd), 0);
	close(fd);
	assert_int_equal(lstat(p, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

static uint64_t blocks_of(const char *p)
{
	struct stat st;

	assert_int_equal(lstat(p, &st), 0);
	return (uint64_t)st.st_blocks * 512;
}

/* Files and folders at every level count, as du counts them; a symbolic
 * link counts as itself, not as what it points to. */
static void test_tree_bytes(void **state)
{
	char dir[] = "/tmp/test_file.XXXXXX", sub[64], out[] = "/tmp/test_file.XXXXXX";
	char link[128], big[128];
	uint64_t want, got = 0, single = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_non_null(mkdtemp(out));
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	want =
	    put(dir, "a.whl", 300000) + put(sub, "b.tgz", 70000) + put(dir, "empty", 0);
	snprintf(big, sizeof(big), "%s/big", out);
	(void)put(out, "big", 1 << 20);
	snprintf(link, sizeof(link), "%s/to-big", dir);
	assert_int_equal(symlink(big, link), 0);
	want += blocks_of(link) + blocks_of(sub) + blocks_of(dir);
	assert_true(want >= 370000);

	assert_int_equal(aos_tree_bytes(dir, &got), 0);
	assert_int_equal(got, want);
	snprintf(big, sizeof(big), "%s/a.whl", dir);
	assert_int_equal(aos_tree_bytes(big, &single), 0); /* a file alone */
	assert_int_equal(single, blocks_of(big));
	snprintf(big, sizeof(big), "%s/none", dir);
	assert_int_equal(aos_tree_bytes(big, &got), -ENOENT);

	assert_int_equal(unlink(link), 0);
	assert_int_equal(aos_rm_flat_dir(sub), 0);
	assert_int_equal(aos_rm_flat_dir(dir), 0);
	assert_int_equal(aos_rm_flat_dir(out), 0);
}

/* All of a buffer larger than a pipe holds goes through, in several
 * writes; a full disk is named. */
static void test_write_all(void **state)
{
	static char big[256 * 1024], back[sizeof(big)];
	int p[2], full;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	(void)state;
	memset(big, 'x', sizeof(big));
	big[sizeof(big) - 1] = 'y';
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		_exit(aos_write_all(p[1], big, sizeof(big)) == 0 ? 0 : 1);
	}
	close(p[1]);
	while ((n = read(p[0], back + got, sizeof(back) - got)) > 0)
		got += (size_t)n;
	close(p[0]);
	assert_int_equal(got, sizeof(big));
	assert_memory_equal(back, big, sizeof(big));
	assert_int_equal(waitpid(pid, &full, 0), pid);
	assert_true(WIFEXITED(full) && WEXITSTATUS(full) == 0);

	full = open("/dev/full", O_WRONLY);
	assert_true(full >= 0);
	assert_int_equal(aos_write_all(full, big, 10), -ENOSPC);
	close(full);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_fsync_dir),
	    cmocka_unit_test(test_rm_flat_dir_removes_files_and_folder),
	    cmocka_unit_test(test_rm_flat_dir_leaves_a_subfolder),
	    cmocka_unit_test(test_tree_bytes),
	    cmocka_unit_test(test_write_all),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
