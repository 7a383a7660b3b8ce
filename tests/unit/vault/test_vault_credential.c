/* Unit tests for vault/credential.c: reading credential files. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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

#include "common/err.h"
#include "common/secret.h"
#include "vault/vault.h"

/* A scratch tree: <root>/creds (like $CREDENTIALS_DIRECTORY) and <root>/etc
 * (the config file's folder). */
struct tree {
	char root[PATH_MAX];
	char creds[PATH_MAX];
	char etc[PATH_MAX];
};

static void put(const char *dir, const char *name, const void *data, size_t len)
{
	char p[PATH_MAX];
	int fd;

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static void rm_in(const char *dir, const char *name)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/%s", dir, name);
	unlink(p);
}

static int setup(void **state)
{
	static struct tree t;
	const char *tmp = getenv("TMPDIR");

	if (secret_init_process(64 * 1024) != 0)
		return -1;
	snprintf(t.root, sizeof(t.root), "%s/aos-cred-XXXXXX",
		 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	if (mkdtemp(t.root) == NULL)
		return -1;
	snprintf(t.creds, sizeof(t.creds), "%s/creds", t.root);
	snprintf(t.etc, sizeof(t.etc), "%s/etc", t.root);
	if (mkdir(t.creds, 0700) < 0 || mkdir(t.etc, 0700) < 0)
		return -1;
	*state = &t;
	return 0;
}

static int teardown(void **state)
{
	static const char *const names[] = {"token", "role_id", "secret_id", "abs",
					    "ws",    "empty",	"blank",     "max",
					    "big",   "nul",	"only_base", NULL};
	struct tree *t = *state;
	const char *const *n;

	for (n = names; *n != NULL; n++) {
		rm_in(t->creds, *n);
		rm_in(t->etc, *n);
		rm_in(t->root, *n);
	}
	rmdir(t->creds);
	rmdir(t->etc);
	rmdir(t->root);
	return 0;
}

static void test_absolute_path(void **state)
{
	struct tree *t = *state;
	struct secret *s = NULL;
	char path[PATH_MAX], err[512];

	put(t->root, "abs", "test-token-value\n", 17);
	snprintf(path, sizeof(path), "%s/abs", t->root);
	/* The directories are not consulted for an absolute name. */
	assert_int_equal(
	    vault_read_credential(path, t->creds, t->etc, &s, err, sizeof(err)), 0);
	assert_string_equal(secret_value(s), "test-token-value");
	assert_int_equal(secret_len(s), 16);
	secret_unref(s);
}

static void test_relative_in_creds_dir(void **state)
{
	struct tree *t = *state;
	struct secret *s = NULL;
	char err[512];

	put(t->creds, "role_id", "test-role-from-creds", 20);
	put(t->etc, "role_id", "test-role-from-etc", 18);
	assert_int_equal(
	    vault_read_credential("role_id", t->creds, t->etc, &s, err, sizeof(err)), 0);
	assert_string_equal(secret_value(s), "test-role-from-creds");
	secret_unref(s);
	rm_in(t->creds, "role_id");
	rm_in(t->etc, "role_id");
}

static void test_relative_falls_back_to_base(void **state)
{
	struct tree *t = *state;
	struct secret *s = NULL;
	char err[512];

	put(t->etc, "only_base", "test-secret-id-value\n", 21);
	assert_int_equal(
	    vault_read_credential("only_base", t->creds, t->etc, &s, err, sizeof(err)),
	    0);
	assert_string_equal(secret_value(s), "test-secret-id-value");
	secret_unref(s);
	s = NULL;
	/* No creds_dir at all, or an empty one. */
	assert_int_equal(
	    vault_read_credential("only_base", NULL, t->etc, &s, err, sizeof(err)), 0);
	secret_unref(s);
	s = NULL;
	assert_int_equal(
	    vault_read_credential("only_base", "", t->etc, &s, err, sizeof(err)), 0);
	secret_unref(s);
}

static void test_relative_no_base_uses_cwd(void **state)
{
	struct tree *t = *state;
	struct secret *s = NULL;
	char cwd[PATH_MAX], err[512];

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	put(t->root, "token", "test-token-value", 16);
	assert_int_equal(chdir(t->root), 0);
	assert_int_equal(vault_read_credential("token", NULL, NULL, &s, err, sizeof(err)),
			 0);
	assert_int_equal(chdir(cwd), 0);
	assert_string_equal(secret_value(s), "test-token-value");
	secret_unref(s);
}

static void test_trailing_whitespace(void **state)
{
	struct tree *t = *state;
	struct secret *s = NULL;
	char err[512];

	put(t->etc, "ws", "  test token value \t\r\n\n \n",
	    strlen("  test token value \t\r\n\n \n"));
	assert_int_equal(vault_read_credential("ws", NULL, t->etc, &s, err, sizeof(err)),
			 0);
	/* Only trailing whitespace goes; inner and leading stay. */
	assert_string_equal(secret_value(s), "  test token value");
	secret_unref(s);
}

static void test_empty(void **state)
{
	struct tree *t = *state;
	struct secret *s = NULL;
	char err[512];

	put(t->etc, "empty", "", 0);
	assert_int_equal(
	    vault_read_credential("empty", NULL, t->etc, &s, err, sizeof(err)),
	    AOS_EPARSE);
	assert_non_null(strstr(err, "empty"));
	assert_non_null(strstr(err, t->etc));
	put(t->etc, "blank", " \n\r\n\t", 5);
	assert_int_equal(
	    vault_read_credential("blank", NULL, t->etc, &s, err, sizeof(err)),
	    AOS_EPARSE);
	assert_non_null(strstr(err, "is empty"));
	assert_null(s);
}

static void test_size_bound(void **state)
{
	struct tree *t = *state;
	struct secret *s = NULL;
	char data[8192], err[512];
	size_t live = secret_live_count();

	memset(data, 'k', sizeof(data));
	/* Exactly 4 KiB is accepted... */
	put(t->etc, "max", data, 4096);
	assert_int_equal(vault_read_credential("max", NULL, t->etc, &s, err, sizeof(err)),
			 0);
	assert_int_equal(secret_len(s), 4096);
	secret_unref(s);
	s = NULL;
	/* ...one byte more is not, nor much more. */
	put(t->etc, "big", data, 4097);
	assert_int_equal(vault_read_credential("big", NULL, t->etc, &s, err, sizeof(err)),
			 AOS_ETOOBIG);
	assert_non_null(strstr(err, "/big"));
	put(t->etc, "big", data, sizeof(data));
	assert_int_equal(vault_read_credential("big", NULL, t->etc, &s, err, sizeof(err)),
			 AOS_ETOOBIG);
	assert_null(s);
	assert_int_equal(secret_live_count(), live);
}

static void test_missing(void **state)
{
	struct tree *t = *state;
	struct secret *s = NULL;
	char path[PATH_MAX], err[512];

	/* Missing in both: the error names the base_dir path tried last. */
	assert_int_equal(
	    vault_read_credential("secret_id", t->creds, t->etc, &s, err, sizeof(err)),
	    -ENOENT);
	snprintf(path, sizeof(path), "%s/secret_id", t->etc);
	assert_non_null(strstr(err, path));
	snprintf(path, sizeof(path), "%s/nope/abs", t->root);
	assert_int_equal(vault_read_credential(path, NULL, NULL, &s, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, path));
	assert_null(s);
}

static void test_nul_byte(void **state)
{
	struct tree *t = *state;
	struct secret *s = NULL;
	char err[512];

	put(t->etc, "nul", "test-\0token\n", 12);
	assert_int_equal(vault_read_credential("nul", NULL, t->etc, &s, err, sizeof(err)),
			 AOS_EPARSE);
	assert_non_null(strstr(err, "control character"));
	/* A trailing NUL is not whitespace either. */
	put(t->etc, "nul", "test-token\0", 11);
	assert_int_equal(vault_read_credential("nul", NULL, t->etc, &s, err, sizeof(err)),
			 AOS_EPARSE);
	assert_null(s);
	/* A line break inside would end up inside the X-Vault-Token header. */
	put(t->etc, "nul", "test-token\nX-Injected: 1\n", 26);
	assert_int_equal(vault_read_credential("nul", NULL, t->etc, &s, err, sizeof(err)),
			 AOS_EPARSE);
	assert_non_null(strstr(err, "control character"));
	assert_null(s);
}

static void test_directory(void **state)
{
	struct tree *t = *state;
	struct secret *s = NULL;
	char err[512];

	/* A folder where a file was expected fails cleanly. */
	assert_int_equal(
	    vault_read_credential("etc", NULL, t->root, &s, err, sizeof(err)), -EISDIR);
	assert_null(s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_absolute_path),
	    cmocka_unit_test(test_relative_in_creds_dir),
	    cmocka_unit_test(test_relative_falls_back_to_base),
	    cmocka_unit_test(test_relative_no_base_uses_cwd),
	    cmocka_unit_test(test_trailing_whitespace),
	    cmocka_unit_test(test_empty),
	    cmocka_unit_test(test_size_bound),
	    cmocka_unit_test(test_missing),
	    cmocka_unit_test(test_nul_byte),
	    cmocka_unit_test(test_directory),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
