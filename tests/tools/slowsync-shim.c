/* slowsync-shim.c - an LD_PRELOAD library that makes fsync(2) and
 * fdatasync(2) slow on the files whose path starts with AOS_SLOWSYNC_PATH
 * (the queue database: queue.db, queue.db-wal, ...); other calls go
 * through.  Three modes, any or all:
 *
 *   AOS_SLOWSYNC_GATE=FILE, AOS_SLOWSYNC_MARKER=FILE: while FILE (the gate)
 *     exists, such a call first appends a line to the marker file (the
 *     test's sign that a sync is held), then waits until the gate is
 *     removed, then syncs.  tests/integration/test_slow_disk.py.
 *   AOS_SLOW_FSYNC_MS=N: each such call sleeps N ms, then syncs (a slow
 *     disk, for tests/bench/bench_slow_fsync.py).
 *   AOS_SLOWREAD_GATE=FILE, AOS_SLOWREAD_MARKER=FILE: the same hold for
 *     pread(2)/pread64(2) of those files (SQLite reads its pages with
 *     pread64), on whichever thread reads: a read of the queue held on
 *     the read queue's thread, or on the loop's if it read there.
 *     tests/integration/test_slow_reads.py.
 *
 * Never installed. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define GATE_POLL_MS 5

static void sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Whether fd is a file under AOS_SLOWSYNC_PATH. */
static int watched(int fd)
{
	const char *prefix = getenv("AOS_SLOWSYNC_PATH");
	char link[64], path[4096];
	ssize_t len;

	if (prefix == NULL || prefix[0] == '\0')
		return 0;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	len = readlink(link, path, sizeof(path) - 1);
	if (len <= 0)
		return 0;
	path[len] = '\0';
	return strncmp(path, prefix, strlen(prefix)) == 0;
}

static void mark(const char *marker)
{
	static const char line[] = "blocked\n";
	int fd;

	fd = open(marker, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (write(fd, line, sizeof(line) - 1) < 0) {
		/* the test then waits in vain and says so */
	}
	close(fd);
}

/* While gate exists: a line to marker, then wait until it is removed. */
static void gate_wait(const char *gate, const char *marker)
{
	if (gate != NULL && marker != NULL && access(gate, F_OK) == 0) {
		mark(marker);
		while (access(gate, F_OK) == 0)
			sleep_ms(GATE_POLL_MS);
	}
}

/* Holds the calling thread as the environment says, before a sync of fd. */
static void hold(int fd)
{
	const char *ms = getenv("AOS_SLOW_FSYNC_MS");
	int saved = errno;

	if (!watched(fd)) {
		errno = saved;
		return;
	}
	if (ms != NULL && atol(ms) > 0)
		sleep_ms(atol(ms));
	gate_wait(getenv("AOS_SLOWSYNC_GATE"), getenv("AOS_SLOWSYNC_MARKER"));
	errno = saved;
}

/* Holds the calling thread before a read of fd while AOS_SLOWREAD_GATE
 * exists. */
static void hold_read(int fd)
{
	const char *gate = getenv("AOS_SLOWREAD_GATE");
	int saved = errno;

	if (gate != NULL && watched(fd))
		gate_wait(gate, getenv("AOS_SLOWREAD_MARKER"));
	errno = saved;
}

#define NEXT(ret, name, ...)                                                             \
	static ret (*next)(__VA_ARGS__);                                                 \
	if (next == NULL)                                                                \
	next = (ret(*)(__VA_ARGS__))dlsym(RTLD_NEXT, name)

int fsync(int fd)
{
	NEXT(int, "fsync", int);
	hold(fd);
	return next(fd);
}

int fdatasync(int fd)
{
	NEXT(int, "fdatasync", int);
	hold(fd);
	return next(fd);
}

ssize_t pread(int fd, void *buf, size_t count, off_t offset)
{
	NEXT(ssize_t, "pread", int, void *, size_t, off_t);
	hold_read(fd);
	return next(fd, buf, count, offset);
}

ssize_t pread64(int fd, void *buf, size_t count, off64_t offset)
{
	NEXT(ssize_t, "pread64", int, void *, size_t, off64_t);
	hold_read(fd);
	return next(fd, buf, count, offset);
}
