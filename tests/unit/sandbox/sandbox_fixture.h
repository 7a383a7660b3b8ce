/* sandbox_fixture.h - shared helpers of the sandbox unit tests: a scratch
 * tree under /tmp, and a forked child whose output and exit status are
 * collected.
 *
 * The child never uses cmocka (an assertion there would carry on with the
 * rest of the suite in the child): it prints what it found and exits with a
 * status, and the test asserts on both in the parent.  Header-only (static
 * inline functions) so each test stays one executable.
 */
#ifndef AOS_TEST_SANDBOX_FIXTURE_H
#define AOS_TEST_SANDBOX_FIXTURE_H

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/filter.h>
#include <linux/seccomp.h>

#define SBX_OUT 16384 /* output kept of one child */

/* A fresh folder /tmp/aos-sbt-XXXXXX by its canonical name. */
static inline void sbx_tmpdir(char *ret, size_t len)
{
	char tmpl[] = "/tmp/aos-sbt-XXXXXX";

	assert_non_null(mkdtemp(tmpl));
	assert_non_null(realpath(tmpl, ret));
	assert_true(strlen(ret) < len);
}

/* dir/rel, which must fit. */
static inline void sbx_path(char *ret, size_t len, const char *dir, const char *rel)
{
	assert_true((size_t)snprintf(ret, len, "%s/%s", dir, rel) < len);
}

/* Creates the folder dir/rel. */
static inline void sbx_mkdir(const char *dir, const char *rel)
{
	char p[PATH_MAX];

	sbx_path(p, sizeof(p), dir, rel);
	if (mkdir(p, 0755) < 0)
		fail_msg("mkdir %s: %s", p, strerror(errno));
}

/* Creates the file dir/rel holding text. */
static inline void sbx_write(const char *dir, const char *rel, const char *text)
{
	char p[PATH_MAX];
	FILE *f;

	sbx_path(p, sizeof(p), dir, rel);
	f = fopen(p, "we");
	if (f == NULL)
		fail_msg("create %s: %s", p, strerror(errno));
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

static inline int sbx__rm(const char *path, const struct stat *st, int type,
			  struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	return type == FTW_DP ? rmdir(path) : unlink(path);
}

/* Removes the tree at dir (links are removed, not followed). */
static inline void sbx_rmtree(const char *dir)
{
	nftw(dir, sbx__rm, 16, FTW_DEPTH | FTW_PHYS);
}

/* Forks; the child runs fn(arg) with stdout and stderr into a pipe and
 * _exits with what it returns (no atexit handlers, no leak check of the
 * parent's heap).  *ret_fd gets the pipe's reading end.  Returns the pid. */
static inline pid_t sbx_spawn(int (*fn)(void *), void *arg, int *ret_fd)
{
	int p[2];
	pid_t pid;

	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	fflush(NULL); /* or the child would write the parent's buffered output */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int r;

		dup2(p[1], 1);
		dup2(p[1], 2);
		r = fn(arg);
		fflush(NULL);
		_exit(r);
	}
	close(p[1]);
	*ret_fd = p[0];
	return pid;
}

/* Reads the child's output into out (at most SBX_OUT - 1 bytes kept, the
 * rest read and dropped) until every writer is gone, then reaps it.
 * Returns its wait status. */
static inline int sbx_collect(pid_t pid, int fd, char out[SBX_OUT])
{
	size_t got = 0;
	char drop[512];
	ssize_t n;
	int status;

	for (;;) {
		if (got + 1 < SBX_OUT)
			n = read(fd, out + got, SBX_OUT - 1 - got);
		else
			n = read(fd, drop, sizeof(drop));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (got + 1 < SBX_OUT)
			got += (size_t)n;
	}
	out[got] = '\0';
	close(fd);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	return status;
}

/* sbx_spawn() and sbx_collect(): fn(arg) in a child; returns its status. */
static inline int sbx_run(int (*fn)(void *), void *arg, char out[SBX_OUT])
{
	int fd;
	pid_t pid = sbx_spawn(fn, arg, &fd);

	return sbx_collect(pid, fd, out);
}

/* The exit code of status; fails the test when the child did not exit. */
static inline int sbx_exit_code(int status, const char *out)
{
	if (!WIFEXITED(status))
		fail_msg("the child was killed by signal %d; it said:\n%s",
			 WIFSIGNALED(status) ? WTERMSIG(status) : -1, out);
	return WEXITSTATUS(status);
}

/* The number in the file path, waiting up to 10 s for it to be written;
 * fails the test otherwise. */
static inline pid_t sbx_read_pid(const char *path)
{
	struct timespec tick = {0, 10 * 1000 * 1000};
	int i;

	for (i = 0; i < 1000; i++) {
		FILE *f = fopen(path, "re");
		long pid = 0;

		if (f != NULL) {
			int ok = fscanf(f, "%ld", &pid);

			fclose(f);
			if (ok == 1 && pid > 1)
				return (pid_t)pid;
		}
		nanosleep(&tick, NULL);
	}
	fail_msg("%s was not written within 10 s", path);
	return -1;
}

/* True while pid exists and is not a zombie (/proc/PID/stat state 'Z'). */
static inline bool sbx_alive(pid_t pid)
{
	char path[64], buf[512], *rpar, st = '?';
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	f = fopen(path, "re");
	if (f == NULL)
		return false;
	if (fgets(buf, sizeof(buf), f) != NULL && (rpar = strrchr(buf, ')')) != NULL)
		sscanf(rpar + 1, " %c", &st);
	fclose(f);
	return st != 'Z' && st != 'X';
}

/* In a child: makes landlock_create_ruleset() fail with ENOSYS from now
 * on, as on a kernel without Landlock or under a container runtime's
 * seccomp filter.  Returns 0 or -errno. */
static inline int sbx_deny_landlock(void)
{
	struct sock_filter f[] = {
	    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
	    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_landlock_create_ruleset, 0, 1),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
	    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = {.len = sizeof(f) / sizeof(f[0]), .filter = f};

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) < 0)
		return -errno;
	return 0;
}

#endif
