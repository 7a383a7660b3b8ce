/* enospc-shim.c - an LD_PRELOAD library for the disk-full tests: once the
 * file AOS_ENOSPC_TRIGGER exists, write(2) and its kin (AOS_ENOSPC_OPS has
 * "write") and fsync(2)/fdatasync(2) (it has "fsync") fail with ENOSPC on
 * descriptors of files under the folder AOS_ENOSPC_DIR; everything else
 * goes through.  Removing the trigger file lets writes succeed again.
 * Never installed; built for tests/integration/test_disk_full.py. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

/* Whether op ("write", "fsync") on fd is to fail now. */
static int fails(const char *op, int fd)
{
	const char *dir = getenv("AOS_ENOSPC_DIR"), *trig = getenv("AOS_ENOSPC_TRIGGER");
	const char *ops = getenv("AOS_ENOSPC_OPS");
	char link[64], path[4096];
	size_t n;
	ssize_t len;
	int saved = errno;

	if (dir == NULL || trig == NULL || ops == NULL || strstr(ops, op) == NULL)
		return 0;
	if (access(trig, F_OK) != 0) {
		errno = saved;
		return 0;
	}
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	len = readlink(link, path, sizeof(path) - 1);
	errno = saved;
	if (len <= 0)
		return 0;
	path[len] = '\0';
	n = strlen(dir);
	return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

#define NEXT(ret, name, ...)                                                             \
	static ret (*next)(__VA_ARGS__);                                                 \
	if (next == NULL)                                                                \
	next = (ret(*)(__VA_ARGS__))dlsym(RTLD_NEXT, name)

#define FAIL_IF(op, fd)                                                                  \
	do {                                                                             \
		if (fails(op, fd)) {                                                     \
			errno = ENOSPC;                                                  \
			return -1;                                                       \
		}                                                                        \
	} while (0)

ssize_t write(int fd, const void *buf, size_t count)
{
	NEXT(ssize_t, "write", int, const void *, size_t);
	FAIL_IF("write", fd);
	return next(fd, buf, count);
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t off)
{
	NEXT(ssize_t, "pwrite", int, const void *, size_t, off_t);
	FAIL_IF("write", fd);
	return next(fd, buf, count, off);
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off_t off)
{
	NEXT(ssize_t, "pwrite64", int, const void *, size_t, off_t);
	FAIL_IF("write", fd);
	return next(fd, buf, count, off);
}

ssize_t writev(int fd, const struct iovec *iov, int n)
{
	NEXT(ssize_t, "writev", int, const struct iovec *, int);
	FAIL_IF("write", fd);
	return next(fd, iov, n);
}

ssize_t pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
	NEXT(ssize_t, "pwritev", int, const struct iovec *, int, off_t);
	FAIL_IF("write", fd);
	return next(fd, iov, n, off);
}

int fsync(int fd)
{
	NEXT(int, "fsync", int);
	FAIL_IF("fsync", fd);
	return next(fd);
}

int fdatasync(int fd)
{
	NEXT(int, "fdatasync", int);
	FAIL_IF("fsync", fd);
	return next(fd);
}
