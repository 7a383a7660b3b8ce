/* Unit tests for agent/sandbox/sandbox_step.c: `aos-publishd --run-step`, the first
 * code of every build step, run in a forked child (sandbox_run_step() is
 * main(): it execs the step, or with --reap stays as its subreaper).
 * Inherited descriptors are closed in the step, no_new_privs is set, exit
 * statuses pass through, --reap ends what the step leaves behind (also
 * double-forked, also when the reaper is stopped by SIGTERM), Landlock is
 * applied or, without it, the step refused or warned about. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "sandbox/sandbox.h"
#include "sandbox_fixture.h"

/* What a child runs: argv through sandbox_run_step(), or (direct) exec'd
 * as is, the control that shows what the step would see without it. */
struct step {
	const char *const *argv;
	bool direct;
	bool deny_landlock; /* a seccomp filter refusing Landlock first */
};

static int step_child(void *arg)
{
	const struct step *s = arg;
	int argc = 0;

	if (s->deny_landlock && sbx_deny_landlock() < 0) {
		printf("setup: seccomp: %s\n", strerror(errno));
		return 100;
	}
	if (s->direct) {
		execv(s->argv[0], (char *const *)s->argv);
		printf("setup: exec %s: %s\n", s->argv[0], strerror(errno));
		return 100;
	}
	while (s->argv[argc] != NULL)
		argc++;
	return sandbox_run_step(argc, (char **)s->argv);
}

/* Runs argv (see struct step); out gets its output.  Returns the status. */
static int run(const char *const *argv, bool direct, char out[SBX_OUT])
{
	struct step s = {argv, direct, false};

	return sbx_run(step_child, &s, out);
}

#define RUN_STEP(out, ...)                                                               \
	run((const char *const[]){"aos-publishd", "--run-step", __VA_ARGS__, NULL},      \
	    false, out)
#define RUN_DIRECT(out, ...) run((const char *const[]){__VA_ARGS__, NULL}, true, out)

/* A scratch folder, for the steps' files. */
static int tmp_setup(void **state)
{
	char *root = malloc(PATH_MAX);

	assert_non_null(root);
	sbx_tmpdir(root, PATH_MAX);
	*state = root;
	return 0;
}

static int tmp_teardown(void **state)
{
	sbx_rmtree(*state);
	free(*state);
	return 0;
}

/* Descriptors the daemon left open without O_CLOEXEC (a low and a high
 * one) are gone in the step, with and without --reap; 0, 1, 2 stay. */
static void test_closes_inherited(void **state)
{
	const char *root = *state;
	const char *ls = "ls -l /proc/self/fd/";
	char marker[PATH_MAX], out[SBX_OUT];
	int fd, high;

	sbx_write(root, "inherited-marker", "x\n");
	sbx_path(marker, sizeof(marker), root, "inherited-marker");
	fd = open(marker, O_RDONLY); /* no O_CLOEXEC, on purpose */
	assert_true(fd > 2);
	high = dup2(fd, 1000);
	assert_int_equal(high, 1000);

	assert_int_equal(sbx_exit_code(RUN_DIRECT(out, "/bin/sh", "-c", ls), out), 0);
	if (strstr(out, "inherited-marker") == NULL) /* the control: ls sees them */
		fail_msg("the control did not see the inherited descriptors:\n%s", out);

	assert_int_equal(sbx_exit_code(RUN_STEP(out, "--", "/bin/sh", "-c", ls), out), 0);
	if (strstr(out, "inherited-marker") != NULL || strstr(out, " 1 -> ") == NULL)
		fail_msg("the step's descriptors:\n%s", out);
	assert_int_equal(
	    sbx_exit_code(RUN_STEP(out, "--reap", "--", "/bin/sh", "-c", ls), out), 0);
	if (strstr(out, "inherited-marker") != NULL || strstr(out, " 2 -> ") == NULL)
		fail_msg("the step's descriptors under --reap:\n%s", out);
	close(high);
	close(fd);
}

/* no_new_privs is set for every step (the control socket knows a step by
 * it; setuid programs gain nothing). */
static void test_no_new_privs(void **state)
{
	const char *grep = "grep NoNewPrivs /proc/self/status";
	char out[SBX_OUT];

	(void)state;
	assert_int_equal(sbx_exit_code(RUN_DIRECT(out, "/bin/sh", "-c", grep), out), 0);
	if (strcmp(out, "NoNewPrivs:\t0\n") != 0) {
		print_message("skipped: the tests already run with no_new_privs: %s",
			      out);
		skip();
	}
	assert_int_equal(sbx_exit_code(RUN_STEP(out, "--", "/bin/sh", "-c", grep), out),
			 0);
	assert_string_equal(out, "NoNewPrivs:\t1\n");
	assert_int_equal(
	    sbx_exit_code(RUN_STEP(out, "--reap", "--", "/bin/sh", "-c", grep), out), 0);
	assert_string_equal(out, "NoNewPrivs:\t1\n");
}

/* The step's exit status, directly and through the reaper; a signal as
 * 128 + its number from the reaper; 127 and 126 when it cannot run. */
static void test_exit_status(void **state)
{
	const char *root = *state;
	char plain[PATH_MAX], out[SBX_OUT];
	int status;

	sbx_write(root, "plain", "#!/bin/sh\necho not executable\n"); /* mode 0644 */
	sbx_path(plain, sizeof(plain), root, "plain");

	assert_int_equal(
	    sbx_exit_code(RUN_STEP(out, "--", "/bin/sh", "-c", "exit 7"), out), 7);
	assert_int_equal(
	    sbx_exit_code(RUN_STEP(out, "--reap", "--", "/bin/sh", "-c", "exit 7"), out),
	    7);
	assert_int_equal(
	    sbx_exit_code(RUN_STEP(out, "--reap", "--", "/bin/sh", "-c", "kill -TERM $$"),
			  out),
	    128 + SIGTERM);
	status = RUN_STEP(out, "--", "/bin/sh", "-c", "kill -TERM $$");
	assert_true(WIFSIGNALED(status) &&
		    WTERMSIG(status) == SIGTERM); /* exec'd: itself */

	assert_int_equal(sbx_exit_code(RUN_STEP(out, "--", "/nonexistent/step"), out),
			 127);
	assert_non_null(strstr(out, "cannot run /nonexistent/step"));
	assert_int_equal(
	    sbx_exit_code(RUN_STEP(out, "--reap", "--", "/nonexistent/step"), out), 127);
	assert_non_null(strstr(out, "cannot run /nonexistent/step"));
	assert_int_equal(sbx_exit_code(RUN_STEP(out, "--", plain), out), 126);
	assert_int_equal(sbx_exit_code(RUN_STEP(out, "--reap", "--", plain), out), 126);
	assert_null(strstr(out, "not executable"));
}

/* Bad arguments: exit 2 with the usage, nothing run. */
static void test_usage(void **state)
{
	static const char *const cases[][4] = {
	    {NULL},	{"--"},	     {"--bogus", "--", "/bin/echo", NULL},
	    {"--hide"}, {"--write"}, {"--landlock", "/bin/echo"},
	};
	const char *argv[8];
	char out[SBX_OUT];
	size_t i, k;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		argv[0] = "aos-publishd";
		argv[1] = "--run-step";
		for (k = 0; k < 4 && cases[i][k] != NULL; k++)
			argv[2 + k] = cases[i][k];
		argv[2 + k] = NULL;
		if (sbx_exit_code(run(argv, false, out), out) != 2 ||
		    strstr(out, "usage:") == NULL)
			fail_msg("case %zu: not refused with the usage: %s", i, out);
	}
}

/* More --hide paths than the helper holds: refused with the usage, never
 * run with some of them left visible. */
static void test_too_many_hidden(void **state)
{
	const char *argv[80];
	char out[SBX_OUT];
	size_t n = 0, i;

	(void)state;
	argv[n++] = "aos-publishd";
	argv[n++] = "--run-step";
	for (i = 0; i < 33; i++) {
		argv[n++] = "--hide";
		argv[n++] = "/nonexistent";
	}
	argv[n++] = "--";
	argv[n++] = "/bin/true";
	argv[n] = NULL;
	assert_int_equal(sbx_exit_code(run(argv, false, out), out), 2);
	assert_non_null(strstr(out, "usage:"));
}

/* In the folder %s, the step leaves a double-forked process in a session
 * of its own and a plain background one, and exits 7; P1 and P2 get their
 * pids. */
#define LEAVE_BEHIND                                                                     \
	"cd %s && "                                                                      \
	"(setsid sh -c 'echo $$ > P1; exec sleep 300' </dev/null >/dev/null 2>&1 &); "   \
	"sleep 300 </dev/null >/dev/null 2>&1 & echo $! > P2; "                          \
	"while [ ! -s P1 ]; do sleep 0.01; done; exit 7"

/* Kills (SIGKILL) the processes left[0..1]; returns how many were running. */
static int kill_left(const pid_t left[2])
{
	int i, n = 0;

	for (i = 0; i < 2; i++) {
		n += sbx_alive(left[i]);
		kill(left[i], SIGKILL);
	}
	return n;
}

static void pid_files(const char *root, char p1[PATH_MAX], char p2[PATH_MAX])
{
	sbx_path(p1, PATH_MAX, root, "P1");
	sbx_path(p2, PATH_MAX, root, "P2");
	unlink(p1);
	unlink(p2);
}

/* Without --reap (the control) both are left running; with it, both are
 * gone when the step's exit status (7) comes back. */
static void test_reap_leftovers(void **state)
{
	const char *root = *state;
	char p1[PATH_MAX], p2[PATH_MAX], script[PATH_MAX + 300], out[SBX_OUT];
	pid_t left[2];

	snprintf(script, sizeof(script), LEAVE_BEHIND, root);
	pid_files(root, p1, p2);
	assert_int_equal(sbx_exit_code(RUN_STEP(out, "--", "/bin/sh", "-c", script), out),
			 7);
	left[0] = sbx_read_pid(p1);
	left[1] = sbx_read_pid(p2);
	if (kill_left(left) != 2)
		fail_msg("the control: the step's processes were not left running");

	pid_files(root, p1, p2);
	assert_int_equal(
	    sbx_exit_code(RUN_STEP(out, "--reap", "--", "/bin/sh", "-c", script), out),
	    7);
	left[0] = sbx_read_pid(p1);
	left[1] = sbx_read_pid(p2);
	if (kill_left(left) != 0)
		fail_msg("processes %d or %d of the step outlived it under --reap",
			 (int)left[0], (int)left[1]);
}

/* SIGTERM to the reaper (the daemon stopping a job) ends the step and all
 * it started, and the reaper exits 128 + SIGTERM. */
static void test_reap_sigterm(void **state)
{
	const char *root = *state;
	char p1[PATH_MAX], p2[PATH_MAX], script[PATH_MAX + 300], out[SBX_OUT];
	const char *const argv[] = {"aos-publishd", "--run-step", "--reap", "--",
				    "/bin/sh",	    "-c",	  script,   NULL};
	struct step s = {argv, false, false};
	pid_t reaper, left[2];
	int fd, status;

	snprintf(
	    script, sizeof(script),
	    "cd %s && "
	    "(setsid sh -c 'echo $$ > P1; exec sleep 300' </dev/null >/dev/null 2>&1 &); "
	    "echo $$ > P2; exec sleep 300 >/dev/null 2>&1",
	    root);
	pid_files(root, p1, p2);
	reaper = sbx_spawn(step_child, &s, &fd);
	left[0] = sbx_read_pid(p1);
	left[1] = sbx_read_pid(p2);
	assert_true(sbx_alive(left[0]) && sbx_alive(left[1]));
	assert_int_equal(kill(reaper, SIGTERM), 0);
	status = sbx_collect(reaper, fd, out);
	if (kill_left(left) != 0)
		fail_msg("processes %d or %d outlived the reaper's SIGTERM", (int)left[0],
			 (int)left[1]);
	assert_int_equal(sbx_exit_code(status, out), 128 + SIGTERM);
}

/* --landlock with --hide and --write: the hidden folder unreadable, the
 * writable one writable, nothing else; the control without it can. */
static void test_landlock(void **state)
{
	const char *root = *state;
	char hide[PATH_MAX], wdir[PATH_MAX], script[2048], out[SBX_OUT];

	if (sandbox_abi() < 1) {
		print_message("skipped: this kernel offers no Landlock (%d)\n",
			      sandbox_abi());
		skip();
	}
	sbx_mkdir(root, "h");
	sbx_mkdir(root, "w");
	sbx_mkdir(root, "o");
	sbx_write(root, "h/secret", "secret\n");
	sbx_path(hide, sizeof(hide), root, "h");
	sbx_path(wdir, sizeof(wdir), root, "w");
	snprintf(script, sizeof(script),
		 "cat %s/h/secret >/dev/null 2>&1 && echo READ; "
		 "(echo x > %s/w/f) 2>/dev/null && echo WROTE; "
		 "(echo y > %s/o/f) 2>/dev/null && echo OUTSIDE; echo end",
		 root, root, root);
	assert_int_equal(sbx_exit_code(RUN_STEP(out, "--", "/bin/sh", "-c", script), out),
			 0);
	assert_string_equal(out, "READ\nWROTE\nOUTSIDE\nend\n"); /* the control */
	assert_int_equal(
	    sbx_exit_code(RUN_STEP(out, "--landlock", "--hide", hide, "--write", wdir,
				   "--write", "/dev/null", "--", "/bin/sh", "-c", script),
			  out),
	    0);
	assert_string_equal(out, "WROTE\nend\n");
}

/* Without Landlock (a seccomp filter refuses it): --landlock refuses to
 * start the step and says why; with --optional (inside the namespaces) it
 * runs with a warning. */
static void test_no_landlock(void **state)
{
	const char *const strict[] = {"aos-publishd", "--run-step", "--landlock", "--",
				      "/bin/echo",    "RAN",	    NULL};
	const char *const optional[] = {"aos-publishd", "--run-step", "--landlock",
					"--optional",	"--",	      "/bin/echo",
					"RAN",		NULL};
	struct step s = {strict, false, true};
	char out[SBX_OUT];

	(void)state;
	assert_int_equal(sbx_exit_code(sbx_run(step_child, &s, out), out), 126);
	assert_null(strstr(out, "RAN"));
	if (strstr(out, "build step not started: the kernel offers no Landlock") ==
		NULL ||
	    strstr(out, "(build_isolation is \"landlock\")") == NULL)
		fail_msg("the refusal: %s", out);
	s.argv = optional;
	assert_int_equal(sbx_exit_code(sbx_run(step_child, &s, out), out), 0);
	if (strstr(out, "RAN\n") == NULL ||
	    strstr(out,
		   "warning: no Landlock layer inside the namespaces: the kernel offers "
		   "no Landlock") == NULL)
		fail_msg("the warning: %s", out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_closes_inherited, tmp_setup,
					    tmp_teardown),
	    cmocka_unit_test(test_no_new_privs),
	    cmocka_unit_test_setup_teardown(test_exit_status, tmp_setup, tmp_teardown),
	    cmocka_unit_test(test_usage),
	    cmocka_unit_test(test_too_many_hidden),
	    cmocka_unit_test_setup_teardown(test_reap_leftovers, tmp_setup, tmp_teardown),
	    cmocka_unit_test_setup_teardown(test_reap_sigterm, tmp_setup, tmp_teardown),
	    cmocka_unit_test_setup_teardown(test_landlock, tmp_setup, tmp_teardown),
	    cmocka_unit_test(test_no_landlock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
