/* file.c - file-system helpers.  See file.h. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/file.h"

int aos_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), r = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

int aos_rm_flat_dir(const char *path)
{
	int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW), r = 0;
	struct dirent *e;
	DIR *d;

	if (dfd < 0)
		return -errno;
	d = fdopendir(dfd);
	if (d == NULL) {
		r = -errno;
		close(dfd);
		return r;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (unlinkat(dfd, e->d_name, 0) < 0 && r == 0)
			r = -errno;
	}
	closedir(d);
	if (rmdir(path) < 0 && r == 0)
		r = -errno;
	return r;
}

#define TREE_DEPTH_MAX 64

/* Adds what the entries of the open folder dfd take (dfd is closed). */
static int tree_add(int dfd, dev_t dev, int depth, uint64_t *sum)
{
	struct dirent *e;
	struct stat st;
	DIR *d = fdopendir(dfd);
	int fd, r = 0;

	if (d == NULL) {
		close(dfd);
		return -errno;
	}
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue; /* removed meanwhile */
		*sum += (uint64_t)st.st_blocks * 512;
		if (!S_ISDIR(st.st_mode) || st.st_dev != dev || depth >= TREE_DEPTH_MAX)
			continue;
		fd = openat(dfd, e->d_name,
			    O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (fd >= 0)
			r = tree_add(fd, dev, depth + 1, sum);
		if (r == -ENOMEM)
			break;
		r = 0;
	}
	closedir(d);
	return r;
}

int aos_tree_bytes(const char *path, uint64_t *ret)
{
	uint64_t sum = 0;
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0)
		return -errno;
	sum = (uint64_t)st.st_blocks * 512;
	if (S_ISDIR(st.st_mode)) {
		fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			return -errno;
		r = tree_add(fd, st.st_dev, 1, &sum);
		if (r < 0)
			return r;
	}
	*ret = sum;
	return 0;
}
