/* sandbox_step.c - `aos-publishd --run-step`: the first code a build step
 * runs.  It closes every inherited descriptor above 2, applies Landlock when
 * asked, and then either execs the step (inside bubblewrap, whose PID
 * namespace ends every process the step leaves behind) or, with --reap,
 * stays as the step's parent: a child subreaper, so a process that
 * double-forks is re-parented to it, not to PID 1, and every such process
 * is killed when the step's first process exits or a signal stops it. */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/sandbox.h"

/* Every descriptor above 2 closed: nothing of the daemon's (a Vault or
 * registry connection, the queue database) reaches the step. */
static int close_inherited(void)
{
	DIR *d;
	struct dirent *e;

	if (syscall(SYS_close_range, 3U, ~0U, 0U) == 0)
		return 0;
	d = opendir("/proc/self/fd"); /* kernels before 5.9 */
	if (d == NULL)
		return -errno;
	while ((e = readdir(d)) != NULL) {
		int fd = atoi(e->d_name);

		if (fd > 2 && fd != dirfd(d))
			close(fd);
	}
	closedir(d);
	return 0;
}

/* SIGKILL to every child of this process; returns how many were found. */
static int kill_children(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t self = getpid();
	int n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL) {
		char path[64], buf[512], *rpar;
		long ppid;
		FILE *f;

		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		f = fopen(path, "re");
		if (f == NULL)
			continue;
		if (fgets(buf, sizeof(buf), f) != NULL &&
		    (rpar = strrchr(buf, ')')) != NULL &&
		    sscanf(rpar + 1, " %*c %ld", &ppid) == 1 && (pid_t)ppid == self) {
			kill((pid_t)atol(e->d_name), SIGKILL);
			n++;
		}
		fclose(f);
	}
	closedir(d);
	return n;
}

/* Kills and reaps everything below this subreaper until nothing is left:
 * a killed process's children are re-parented here and found next turn. */
static void kill_tree(void)
{
	for (;;) {
		int found = kill_children();

		while (waitpid(-1, NULL, __WALL | WNOHANG) > 0)
			;
		if (found == 0 && waitpid(-1, NULL, __WALL | WNOHANG) < 0 &&
		    errno == ECHILD)
			return;
		usleep(1000);
	}
}

/* Runs argv as a child and waits: the step's exit status, or 128 + the
 * signal that ended it or this process. */
static int run_reaped(char **argv)
{
	sigset_t set, old;
	int status = 0, sig, rc = -1;
	pid_t pid, w;

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0 ||
	    sigprocmask(SIG_BLOCK, &set, &old) < 0)
		return -errno;
	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid == 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		execvp(argv[0], argv);
		fprintf(stderr, "aos-publishd: cannot run %s: %s\n", argv[0],
			strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	while (rc < 0) {
		sig = sigwaitinfo(&set, NULL);
		if (sig == SIGCHLD) {
			while ((w = waitpid(-1, &status, __WALL | WNOHANG)) > 0)
				if (w == pid)
					rc = WIFEXITED(status) ? WEXITSTATUS(status)
							       : 128 + WTERMSIG(status);
		} else if (sig > 0) {
			rc = 128 + sig; /* stopped: the step and all it started go */
			kill(pid, SIGKILL);
		}
	}
	kill_tree();
	return rc;
}

/* aos-publishd --run-step [--landlock [--optional]] [--reap] [--hide P]...
 * [--write P]... -- ARGV...  The environment is the one given to the step. */
int sandbox_run_step(int argc, char **argv)
{
	const char *hidden[32], *writable[32];
	size_t nh = 0, nw = 0;
	bool landlock = false, optional = false, reap = false;
	char msg[512];
	int i, r;

	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "--hide") == 0 && i + 1 < argc && nh < 32)
			hidden[nh++] = argv[++i];
		else if (strcmp(argv[i], "--write") == 0 && i + 1 < argc && nw < 32)
			writable[nw++] = argv[++i];
		else if (strcmp(argv[i], "--landlock") == 0)
			landlock = true;
		else if (strcmp(argv[i], "--optional") == 0)
			optional = true;
		else if (strcmp(argv[i], "--reap") == 0)
			reap = true;
		else if (strcmp(argv[i], "--run-step") != 0)
			break;
	}
	if (i + 1 >= argc || strcmp(argv[i], "--") != 0) {
		fprintf(stderr,
			"aos-publishd --run-step: usage: [--landlock [--optional]] "
			"[--reap] [--hide P]... [--write P]... -- ARGV...\n");
		return 2;
	}
	if (close_inherited() < 0) {
		fprintf(stderr,
			"aos-publishd: build step not started: cannot close the "
			"inherited descriptors: %s\n",
			strerror(errno));
		return 126;
	}
	/* No step may gain privileges (setuid programs); the control socket
	 * also knows a step by it: no_new_privs cannot be cleared. */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		fprintf(stderr,
			"aos-publishd: build step not started: no_new_privs: %s\n",
			strerror(errno));
		return 126;
	}
	if (landlock) {
		r = sandbox_apply(hidden, nh, writable, nw, msg, sizeof(msg));
		if (r < 0 && !optional) {
			fprintf(stderr,
				"aos-publishd: build step not started: %s "
				"(build_isolation is \"landlock\")\n",
				msg);
			return 126;
		}
		if (r < 0)
			fprintf(stderr,
				"aos-publishd: warning: no Landlock layer inside the "
				"namespaces: %s\n",
				msg);
	}
	if (reap) {
		r = run_reaped(argv + i + 1);
		if (r >= 0)
			return r;
		fprintf(stderr, "aos-publishd: build step not started: %s\n",
			strerror(-r));
		return 126;
	}
	execvp(argv[i + 1], argv + i + 1);
	fprintf(stderr, "aos-publishd: cannot run %s: %s\n", argv[i + 1],
		strerror(errno));
	return errno == ENOENT ? 127 : 126;
}
