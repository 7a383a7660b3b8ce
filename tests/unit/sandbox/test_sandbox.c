/* Unit tests for agent/sandbox/sandbox.c: sandbox_apply() carves the filesystem with
 * Landlock.  That cannot be undone, so it runs in a forked child, in a mount
 * namespace of its own (the bind mounts stay there; they need root, which
 * the tests have here and in CI).  The tree, T a fresh folder in /tmp:
 *
 *   T/var/lib/state/     hidden (the daemon's state), holds queue.db
 *   T/var/lib/other/     a sibling: readable, not writable
 *   T/var/run -> ../run  a link in a carved folder, as /var/run -> /run
 *   T/run/daemon/        hidden (the runtime folder), holds secret
 *   T/run/other/         a sibling
 *   T/run/hardlink       a second name of T/etc/token (the same inode)
 *   T/etc/token          a hidden file (a credential)
 *   T/etc/config         a sibling
 *   T/view/dir/          T/run/daemon mounted a second time (bind)
 *   T/view/token         T/etc/token mounted a second time
 *   T/view/ok/           a sibling
 *   T/again/up/          T/run mounted a second time: shows daemon/ again
 *   T/again/root/        / mounted a second time; /etc/passwd hidden
 *   T/work/              writable
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandbox/sandbox.h"
#include "sandbox_fixture.h"

enum op { OP_READ, OP_LIST, OP_CREATE, OP_WRITE, OP_MKDIR };

static const char *const op_names[] = {"read", "list", "create", "write", "mkdir"};

/* What the child tries after sandbox_apply(); "before" is checked before
 * it too (reads only), so a broken tree fails rather than passes. */
static const struct access_case {
	const char *path; /* relative to T, or absolute */
	enum op op;
	int want; /* 0 or -errno */
} cases[] = {
    /* hidden: by their paths, through the link, by the second mounts */
    {"run/daemon/secret", OP_READ, -EACCES},
    {"run/daemon", OP_LIST, -EACCES},
    {"var/run/daemon/secret", OP_READ, -EACCES},
    {"var/run/daemon", OP_LIST, -EACCES},
    {"var/lib/state/queue.db", OP_READ, -EACCES},
    {"var/lib/state", OP_LIST, -EACCES},
    {"etc/token", OP_READ, -EACCES},
    {"run/hardlink", OP_READ, -EACCES},
    {"view/dir/secret", OP_READ, -EACCES},
    {"view/dir", OP_LIST, -EACCES},
    {"view/token", OP_READ, -EACCES},
    {"again/up/daemon/secret", OP_READ, -EACCES},
    {"/etc/passwd", OP_READ, -EACCES},
    {"again/root/etc/passwd", OP_READ, -EACCES},
    /* their siblings, also through the link; the system */
    {"run/other/file", OP_READ, 0},
    {"run/other", OP_LIST, 0},
    {"var/run/other/file", OP_READ, 0},
    {"var/lib/other/file", OP_READ, 0},
    {"etc/config", OP_READ, 0},
    {"view/ok/file", OP_READ, 0},
    {"again/up/other/file", OP_READ, 0},
    {"/etc/group", OP_READ, 0},
    {"again/root/etc/group", OP_READ, 0},
    {"/usr/bin", OP_LIST, 0},
    /* writes: the work folder only */
    {"work/new", OP_CREATE, 0},
    {"work/new", OP_WRITE, 0},
    {"work/sub", OP_MKDIR, 0},
    {"run/other/new", OP_CREATE, -EACCES},
    {"run/other/file", OP_WRITE, -EACCES},
    {"var/lib/other/sub", OP_MKDIR, -EACCES},
    {"etc/config", OP_WRITE, -EACCES},
    {"new", OP_CREATE, -EACCES},
};

/* 0 or -errno of op on path. */
static int try_op(const char *path, enum op op)
{
	int fd;

	switch (op) {
	case OP_READ: fd = open(path, O_RDONLY | O_CLOEXEC); break;
	case OP_LIST: fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC); break;
	case OP_CREATE:
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		break;
	case OP_WRITE: fd = open(path, O_WRONLY | O_CLOEXEC); break;
	default: return mkdir(path, 0700) < 0 ? -errno : 0;
	}
	if (fd < 0)
		return -errno;
	close(fd);
	return 0;
}

/* Tries every case (only the reads with reads_only), wanting each allowed
 * (before) or its want (after); prints each mismatch.  Returns how many
 * there were. */
static int run_cases(const char *root, bool reads_only, bool before)
{
	char path[PATH_MAX];
	size_t i;
	int bad = 0;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int want = before ? 0 : cases[i].want, got;

		if (reads_only && cases[i].op != OP_READ && cases[i].op != OP_LIST)
			continue;
		if (cases[i].path[0] == '/')
			snprintf(path, sizeof(path), "%s", cases[i].path);
		else
			snprintf(path, sizeof(path), "%s/%s", root, cases[i].path);
		got = try_op(path, cases[i].op);
		if (got != want) {
			printf("%s %s %s: %s, want %s\n", before ? "before" : "after",
			       op_names[cases[i].op], path,
			       got ? strerror(-got) : "allowed",
			       want ? strerror(-want) : "allowed");
			bad++;
		}
	}
	return bad;
}

static int bind_again(const char *root, const char *from, const char *to)
{
	char f[PATH_MAX], t[PATH_MAX];

	snprintf(f, sizeof(f), "%s%s%s", from[0] == '/' ? "" : root,
		 from[0] == '/' ? "" : "/", from);
	snprintf(t, sizeof(t), "%s/%s", root, to);
	if (mount(f, t, NULL, MS_BIND, NULL) == 0)
		return 0;
	printf("setup: mount --bind %s %s: %s\n", f, t, strerror(errno));
	return -1;
}

/* The child: mounts, checks the tree, applies, checks again.  Exits 0 when
 * everything went as wanted, 100 + a step when the setup failed. */
static int apply_child(void *arg)
{
	const char *root = arg;
	char state[PATH_MAX], daemon[PATH_MAX], token[PATH_MAX], missing[PATH_MAX];
	char work[PATH_MAX], nowork[PATH_MAX], msg[512] = "";
	const char *hidden[5], *writable[2];
	int r, bad;

	if (unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
		printf("setup: a private mount namespace: %s\n", strerror(errno));
		return 101;
	}
	if (bind_again(root, "run/daemon", "view/dir") < 0 ||
	    bind_again(root, "etc/token", "view/token") < 0 ||
	    bind_again(root, "run", "again/up") < 0 ||
	    bind_again(root, "/", "again/root") < 0)
		return 102;
	bad = run_cases(root, true, true);
	if (bad > 0)
		return 103;
	snprintf(state, sizeof(state), "%s/var/lib/state", root);
	snprintf(daemon, sizeof(daemon), "%s/run/daemon", root);
	snprintf(token, sizeof(token), "%s/etc/token", root);
	snprintf(missing, sizeof(missing), "%s/missing", root);
	snprintf(work, sizeof(work), "%s/work", root);
	snprintf(nowork, sizeof(nowork), "%s/nowork", root);
	hidden[0] = state;
	hidden[1] = daemon;
	hidden[2] = token;
	hidden[3] = missing; /* nothing to hide: not an error */
	hidden[4] = "/etc/passwd";
	writable[0] = work;
	writable[1] = nowork;
	r = sandbox_apply(hidden, 5, writable, 2, msg, sizeof(msg));
	if (r < 0) {
		printf("sandbox_apply: %s (%d)\n", msg, r);
		return 104;
	}
	return run_cases(root, false, false) > 0 ? 1 : 0;
}

static void make_tree(char *root, size_t len)
{
	static const char *const dirs[] = {
	    "var",	  "var/lib",   "var/lib/state", "var/lib/other", "run",
	    "run/daemon", "run/other", "etc",		"view",		 "view/dir",
	    "view/ok",	  "again",     "again/up",	"again/root",	 "work"};
	char target[PATH_MAX], name[PATH_MAX];
	size_t i;

	sbx_tmpdir(root, len);
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		sbx_mkdir(root, dirs[i]);
	sbx_write(root, "var/lib/state/queue.db", "queue\n");
	sbx_write(root, "var/lib/other/file", "other\n");
	sbx_write(root, "run/daemon/secret", "secret\n");
	sbx_write(root, "run/other/file", "other\n");
	sbx_write(root, "etc/token", "token\n");
	sbx_write(root, "etc/config", "config\n");
	sbx_write(root, "view/token", "");
	sbx_write(root, "view/ok/file", "ok\n");
	sbx_path(name, sizeof(name), root, "var/run");
	assert_int_equal(symlink("../run", name), 0);
	sbx_path(target, sizeof(target), root, "etc/token");
	sbx_path(name, sizeof(name), root, "run/hardlink");
	assert_int_equal(link(target, name), 0);
}

static void test_apply(void **state)
{
	char root[PATH_MAX], out[SBX_OUT];
	int code;

	(void)state;
	if (sandbox_abi() < 1) {
		print_message("skipped: this kernel offers no Landlock (%d)\n",
			      sandbox_abi());
		skip();
	}
	if (geteuid() != 0) {
		print_message("skipped: the bind mounts of this test need root\n");
		skip();
	}
	make_tree(root, sizeof(root));
	code = sbx_exit_code(sbx_run(apply_child, root, out), out);
	sbx_rmtree(root);
	if (code != 0) {
		print_message("%s", out);
		fail_msg("the child exited %d", code);
	}
}

/* More hidden paths than sandbox_apply() keeps: refused, not some of them
 * left visible. */
static int too_many_child(void *arg)
{
	const char *hidden[70];
	char msg[512] = "";
	int r, i;

	(void)arg;
	for (i = 0; i < 70; i++)
		hidden[i] = "/etc/passwd"; /* the same one: kept once */
	r = sandbox_apply(hidden, 70, NULL, 0, msg, sizeof(msg));
	if (r < 0) {
		printf("same: %d %s\n", r, msg);
		return 1;
	}
	return 0;
}

static int too_many_paths_child(void *arg)
{
	const char *root = arg;
	char paths[70][PATH_MAX];
	const char *hidden[70];
	char msg[512] = "";
	int r, i;

	for (i = 0; i < 70; i++) {
		snprintf(paths[i], sizeof(paths[i]), "%s/f%d", root, i);
		hidden[i] = paths[i];
	}
	r = sandbox_apply(hidden, 70, NULL, 0, msg, sizeof(msg));
	printf("%d %s\n", r, msg);
	return 0;
}

static void test_apply_too_many(void **state)
{
	char root[PATH_MAX], out[SBX_OUT], want[256], name[16];
	int i;

	(void)state;
	if (sandbox_abi() < 1) {
		print_message("skipped: this kernel offers no Landlock (%d)\n",
			      sandbox_abi());
		skip();
	}
	/* one path 70 times is one path (sandbox_apply() returns 0 in the child) */
	if (sbx_exit_code(sbx_run(too_many_child, NULL, out), out) != 0)
		fail_msg("%s", out);
	sbx_tmpdir(root, sizeof(root));
	for (i = 0; i < 70; i++) {
		snprintf(name, sizeof(name), "f%d", i);
		sbx_write(root, name, "");
	}
	assert_int_equal(sbx_exit_code(sbx_run(too_many_paths_child, root, out), out), 0);
	sbx_rmtree(root);
	snprintf(want, sizeof(want), "%d cannot list the paths to hide: %s\n", -E2BIG,
		 strerror(E2BIG));
	assert_string_equal(out, want);
}

/* Without Landlock (a seccomp filter refuses it here) sandbox_apply()
 * refuses and says why; nothing is confined. */
static int no_landlock_child(void *arg)
{
	const char *hidden[] = {"/etc/passwd"};
	struct sandbox_caps caps;
	char msg[512] = "";
	int r;

	(void)arg;
	if (sbx_deny_landlock() < 0) {
		printf("setup: seccomp: %s\n", strerror(errno));
		return 100;
	}
	r = sandbox_apply(hidden, 1, NULL, 0, msg, sizeof(msg));
	sandbox_probe(&caps);
	printf("abi %d apply %d probe %d msg %s\n", sandbox_abi(), r, caps.landlock_abi,
	       msg);
	printf("passwd %d\n", try_op("/etc/passwd", OP_READ));
	return 0;
}

static void test_apply_no_landlock(void **state)
{
	char out[SBX_OUT], want[256];
	int code;

	(void)state;
	code = sbx_exit_code(sbx_run(no_landlock_child, NULL, out), out);
	if (code != 0)
		fail_msg("the child exited %d:\n%s", code, out);
	snprintf(
	    want, sizeof(want),
	    "abi %d apply %d probe %d msg the kernel offers no Landlock (%s)\npasswd 0\n",
	    -ENOSYS, -EOPNOTSUPP, -ENOSYS, strerror(ENOSYS));
	assert_string_equal(out, want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_apply),
	    cmocka_unit_test(test_apply_too_many),
	    cmocka_unit_test(test_apply_no_landlock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
