/* slowexec-shim.c - an LD_PRELOAD library that holds execve(2) of one
 * program while a gate file exists, to catch the daemon in the moment
 * between its start and the end of the build sandbox's probe (which runs
 * `bwrap --version` and a trial sandbox).
 *
 *   AOS_SLOWEXEC_NAME=NAME     the program, by the last part of its path
 *   AOS_SLOWEXEC_GATE=FILE     while FILE exists, such an execve first
 *   AOS_SLOWEXEC_MARKER=FILE   appends a line to the marker (the test's
 *                              sign that the exec is held), then waits
 *                              (at most 60 s) until the gate is removed
 *
 * The settings and the real execve are looked up once, when the library is
 * loaded: the forked child that calls execve only uses async-signal-safe
 * calls (open, write, access, nanosleep).
 * tests/integration/test_reconcile_starting.py.  Never installed. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define POLL_MS 5
#define HOLD_MAX_MS 60000

typedef int (*execve_fn)(const char *, char *const[], char *const[]);

static char name[256], gate[4096], marker[4096];
static execve_fn real_execve;

static void copy_env(char *dst, size_t len, const char *key)
{
	const char *v = getenv(key);

	if (v != NULL && strlen(v) < len)
		memcpy(dst, v, strlen(v) + 1);
}

__attribute__((constructor)) static void load_settings(void)
{
	copy_env(name, sizeof(name), "AOS_SLOWEXEC_NAME");
	copy_env(gate, sizeof(gate), "AOS_SLOWEXEC_GATE");
	copy_env(marker, sizeof(marker), "AOS_SLOWEXEC_MARKER");
	real_execve = (execve_fn)dlsym(RTLD_NEXT, "execve");
}

static int is_held(const char *path)
{
	const char *base;

	if (name[0] == '\0' || gate[0] == '\0' || path == NULL)
		return 0;
	base = strrchr(path, '/');
	base = base != NULL ? base + 1 : path;
	return strcmp(base, name) == 0 && access(gate, F_OK) == 0;
}

static void hold(void)
{
	struct timespec ts = {.tv_sec = 0, .tv_nsec = POLL_MS * 1000000L};
	int waited = 0, fd;

	if (marker[0] != '\0') {
		fd = open(marker, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (fd >= 0) {
			(void)!write(fd, "held\n", 5);
			close(fd);
		}
	}
	while (access(gate, F_OK) == 0 && waited < HOLD_MAX_MS) {
		nanosleep(&ts, NULL);
		waited += POLL_MS;
	}
}

int execve(const char *path, char *const argv[], char *const envp[])
{
	if (is_held(path))
		hold();
	return real_execve(path, argv, envp);
}
