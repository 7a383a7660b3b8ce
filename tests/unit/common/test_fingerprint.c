/* Unit tests for common/fingerprint.c: keyed fingerprints and the
 * installation's key file. */
#include <dirent.h>
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

#include "common/err.h"
#include "common/secret.h"

static int setup(void **state)
{
	(void)state;
	return secret_init_process(64 * 1024) == 0 ? 0 : -1;
}

static struct secret *mk(const void *v, size_t n)
{
	struct secret *s = NULL;

	assert_int_equal(secret_new(v, n, &s), 0);
	return s;
}

static void fpr_of(const char *v, char *out)
{
	struct secret *s = mk(v, strlen(v));

	secret_fingerprint(s, out);
	secret_unref(s);
}

static void set_key(const unsigned char *key, size_t n)
{
	struct secret *k = mk(key, n);

	assert_int_equal(secret_fingerprint_key_set(k), 0);
	secret_unref(k); /* the setter took its own reference */
}

static void test_keyed_hmac(void **state)
{
	unsigned char key[SECRET_FPR_KEY_LEN];
	char fpr[SECRET_FPR_LEN + 1];
	struct secret *shortkey;
	size_t i;

	(void)state;
	/* No key: no fingerprint at all, never an unkeyed hash. */
	assert_int_equal(secret_fingerprint_key_set(NULL), 0);
	fpr_of("abc", fpr);
	assert_string_equal(fpr, "????????");

	/* HMAC-SHA256(key = 00 01 .. 1f, "abc") = f0133729...  (Python:
	 * hmac.new(bytes(range(32)), b"abc", "sha256").hexdigest()) */
	for (i = 0; i < sizeof(key); i++)
		key[i] = (unsigned char)i;
	set_key(key, sizeof(key));
	fpr_of("abc", fpr);
	assert_string_equal(fpr, "f0133729");
	assert_string_not_equal(fpr, "ba7816bf"); /* SHA-256("abc"): the old form */

	/* Another installation's key (01 .. 20): another fingerprint. */
	for (i = 0; i < sizeof(key); i++)
		key[i] = (unsigned char)(i + 1);
	set_key(key, sizeof(key));
	fpr_of("abc", fpr);
	assert_string_equal(fpr, "a21b1f5d");

	/* A key of another length is refused; the current one stays. */
	shortkey = mk(key, 16);
	assert_int_equal(secret_fingerprint_key_set(shortkey), -EINVAL);
	secret_unref(shortkey);
	fpr_of("abc", fpr);
	assert_string_equal(fpr, "a21b1f5d");
	assert_int_equal(secret_fingerprint_key_set(NULL), 0);
}

/* A fresh folder under $TMPDIR (or /tmp). */
static void temp_dir(char *dir, size_t n)
{
	const char *t = getenv("TMPDIR");

	snprintf(dir, n, "%s/aos-fpr-XXXXXX", t != NULL && t[0] != '\0' ? t : "/tmp");
	assert_non_null(mkdtemp(dir));
}

static void key_path(const char *dir, char *path, size_t n)
{
	snprintf(path, n, "%s/%s", dir, SECRET_FPR_KEY_FILE);
}

static void remove_dir(const char *dir)
{
	char path[512];

	key_path(dir, path, sizeof(path));
	unlink(path);
	rmdir(path); /* when a test made it a folder */
	rmdir(dir);
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n;
}

static void test_key_file_made_once_and_kept(void **state)
{
	char dir[256], dir2[256], path[512], err[512], a[SECRET_FPR_LEN + 1],
	    b[SECRET_FPR_LEN + 1], c[SECRET_FPR_LEN + 1];
	bool created = false;
	struct stat st;

	(void)state;
	temp_dir(dir, sizeof(dir));
	temp_dir(dir2, sizeof(dir2));
	key_path(dir, path, sizeof(path));

	assert_int_equal(secret_fingerprint_key_load(dir, &created, err, sizeof(err)), 0);
	assert_true(created);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, SECRET_FPR_KEY_LEN);
	fpr_of("hunter2", a);

	/* A restart reads the same key: the same fingerprint. */
	assert_int_equal(secret_fingerprint_key_load(dir, &created, err, sizeof(err)), 0);
	assert_false(created);
	fpr_of("hunter2", b);
	assert_string_equal(a, b);

	/* Another installation makes its own key: another fingerprint. */
	assert_int_equal(secret_fingerprint_key_load(dir2, &created, err, sizeof(err)),
			 0);
	assert_true(created);
	fpr_of("hunter2", c);
	assert_string_not_equal(a, c);

	/* Nothing but the key is left in the folder (no temporary file). */
	assert_int_equal(count_entries(dir), 1);
	assert_int_equal(secret_fingerprint_key_set(NULL), 0);
	remove_dir(dir);
	remove_dir(dir2);
}

static void write_file(const char *path, const void *data, size_t n, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void expect_refused(const char *dir, int want, const char *words)
{
	char err[512] = "";
	bool created = true;

	assert_int_equal(secret_fingerprint_key_load(dir, &created, err, sizeof(err)),
			 want);
	assert_non_null(strstr(err, SECRET_FPR_KEY_FILE));
	assert_non_null(strstr(err, words));
	assert_true(created); /* untouched on failure */
}

static void test_bad_key_files_refused(void **state)
{
	static const unsigned char key[SECRET_FPR_KEY_LEN + 1] = {7};
	char dir[256], path[512], target[600];

	(void)state;
	temp_dir(dir, sizeof(dir));
	key_path(dir, path, sizeof(path));

	write_file(path, key, SECRET_FPR_KEY_LEN, 0640); /* group may read it */
	expect_refused(dir, -EPERM, "chmod 600");
	chmod(path, 0604);
	expect_refused(dir, -EPERM, "chmod 600");
	chmod(path, 0620); /* group may write: could plant a key */
	expect_refused(dir, -EPERM, "chmod 600");

	write_file(path, key, SECRET_FPR_KEY_LEN - 1, 0600);
	expect_refused(dir, AOS_ECORRUPT, "has 31 bytes, not 32");
	write_file(path, key, SECRET_FPR_KEY_LEN + 1, 0600);
	expect_refused(dir, AOS_ECORRUPT, "has 33 bytes");
	write_file(path, key, 0, 0600);
	expect_refused(dir, AOS_ECORRUPT, "has 0 bytes");

	/* A symbolic link (to a good key elsewhere) is not followed. */
	snprintf(target, sizeof(target), "%s/elsewhere", dir);
	write_file(target, key, SECRET_FPR_KEY_LEN, 0600);
	unlink(path);
	assert_int_equal(symlink(target, path), 0);
	expect_refused(dir, -ELOOP, "symbolic link");
	unlink(path);
	unlink(target);

	assert_int_equal(mkdir(path, 0700), 0);
	expect_refused(dir, AOS_ECORRUPT, "not a regular file");

	remove_dir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_keyed_hmac),
	    cmocka_unit_test(test_key_file_made_once_and_kept),
	    cmocka_unit_test(test_bad_key_files_refused),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
