#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "publishers/artifact.h"
#include "publishers/crc32c.h"
#include "publishers/filesrc.h"
#include "publishers/pub_err.h"
#include "publishers/pub_util.h"

struct filesrc {
	int fd;
	uint64_t off;
	struct artifact ident; /* identity fields only (path, size, dev, ino, mtime,
				  crc32c) */
	uint32_t crc;	       /* CRC-32C of the bytes read from offset 0 on */
	uint64_t checked;      /* bytes fed to it, in order */
	char error[256];
};

/* Compares the CRC-32C of every byte read with the one the file was
 * inspected (or spooled) with.  Returns 0 or PUB_ECORRUPT. */
static int verify(struct filesrc *f)
{
	if (f->checked != f->ident.size || f->crc == f->ident.crc32c)
		return 0; /* (read out of order after a seek: nothing to compare) */
	snprintf(f->error, sizeof(f->error),
		 "the bytes read have CRC-32C %08x, not the %08x recorded when the file "
		 "was inspected: the file is corrupt",
		 (unsigned)f->crc, (unsigned)f->ident.crc32c);
	return PUB_ECORRUPT;
}

int filesrc_open(const struct artifact *a, struct filesrc **ret, char *errbuf,
		 size_t errlen)
{
	struct filesrc *f;
	char q[PUB_QUOTE_MAX];
	int r;

	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -ENOMEM;
	f->ident.path = strdup(a->path);
	if (f->ident.path == NULL) {
		free(f);
		return -ENOMEM;
	}
	f->ident.size = a->size;
	f->ident.dev = a->dev;
	f->ident.ino = a->ino;
	f->ident.mtime = a->mtime;
	f->ident.crc32c = a->crc32c;
	f->fd = open(a->path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (f->fd < 0) {
		r = -errno;
		pub__errf(errbuf, errlen, "%s: %s",
			  pub__quote(a->path, strlen(a->path), q, sizeof(q)),
			  strerror(-r));
		filesrc_free(f);
		return r;
	}
	r = artifact_check_unchanged(&f->ident, f->fd, errbuf, errlen);
	if (r < 0) {
		filesrc_free(f);
		return r;
	}
	(void)posix_fadvise(f->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	*ret = f;
	return 0;
}

ssize_t filesrc_read(struct filesrc *f, void *buf, size_t n)
{
	char *p = buf;
	size_t got = 0;
	ssize_t k;
	int r;

	if (n > f->ident.size - f->off)
		n = (size_t)(f->ident.size - f->off);
	while (got < n) {
		k = pread(f->fd, p + got, n - got, (off_t)(f->off + got));
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			r = -errno;
			snprintf(f->error, sizeof(f->error), "read failed: %s",
				 strerror(-r));
			return r;
		}
		if (k == 0) {
			snprintf(f->error, sizeof(f->error),
				 "file shrank since it was inspected");
			return PUB_ECHANGED;
		}
		got += (size_t)k;
	}
	if (f->checked == f->off) {
		f->crc = crc32c_update(f->crc, p, got);
		f->checked += got;
	}
	f->off += got;
	if (f->off == f->ident.size && got > 0) {
		r = artifact_check_unchanged(&f->ident, f->fd, f->error,
					     sizeof(f->error));
		if (r == 0)
			r = verify(f);
		if (r < 0)
			return r;
	}
	return (ssize_t)got;
}

int filesrc_seek(struct filesrc *f, int64_t offset, int whence)
{
	int64_t base = whence == SEEK_SET   ? 0
		       : whence == SEEK_CUR ? (int64_t)f->off
		       : whence == SEEK_END ? (int64_t)f->ident.size
					    : -1;

	if (base < 0 || base + offset < 0 || (uint64_t)(base + offset) > f->ident.size)
		return -EINVAL;
	f->off = (uint64_t)(base + offset);
	if (f->off == 0) { /* a rewind: check from the start again */
		f->crc = 0;
		f->checked = 0;
	}
	return 0;
}

uint64_t filesrc_size(const struct filesrc *f)
{
	return f->ident.size;
}

uint64_t filesrc_offset(const struct filesrc *f)
{
	return f->off;
}

const char *filesrc_error(const struct filesrc *f)
{
	return f->error;
}

void filesrc_free(struct filesrc *f)
{
	if (f == NULL)
		return;
	if (f->fd >= 0)
		close(f->fd);
	free(f->ident.path);
	free(f);
}
