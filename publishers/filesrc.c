#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "artifact.h"
#include "filesrc.h"
#include "hex.h"
#include "pub_err.h"
#include "pub_util.h"

struct filesrc {
	int fd;
	uint64_t off;
	struct artifact ident; /* identity fields only (path, size, dev, ino, mtime,
				  sha256) */
	EVP_MD_CTX *check;     /* SHA-256 of the bytes read from offset 0 on */
	uint64_t checked;      /* bytes fed to it, in order */
	char error[256];
};

/* Compares the SHA-256 of every byte read with the digest the file was
 * inspected (or spooled) with.  Returns 0 or PUB_ECORRUPT. */
static int verify(struct filesrc *f)
{
	unsigned char md[32];
	unsigned int n = 0;
	char hex[65];

	if (f->checked != f->ident.size)
		return 0; /* read out of order after a seek: nothing to compare */
	if (EVP_DigestFinal_ex(f->check, md, &n) != 1 || n != 32)
		return -EIO;
	f->checked = UINT64_MAX; /* finished: no more updates until a rewind */
	aos_hex(md, 32, hex);
	if (strcmp(hex, f->ident.sha256) == 0)
		return 0;
	snprintf(
	    f->error, sizeof(f->error),
	    "the bytes read have sha256 %.12s..., not the %.12s... recorded when the "
	    "file was inspected: the file is corrupt",
	    hex, f->ident.sha256);
	return PUB_ECORRUPT;
}

static int check_restart(struct filesrc *f)
{
	f->checked = 0;
	return EVP_DigestInit_ex(f->check, EVP_sha256(), NULL) == 1 ? 0 : -ENOMEM;
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
	memcpy(f->ident.sha256, a->sha256, sizeof(f->ident.sha256));
	f->check = EVP_MD_CTX_new();
	if (f->check == NULL || check_restart(f) < 0) {
		f->fd = -1;
		filesrc_free(f);
		return -ENOMEM;
	}
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
	if (f->checked == f->off && EVP_DigestUpdate(f->check, p, got) == 1)
		f->checked += got;
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
	return f->off == 0 ? check_restart(f) : 0;
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
	EVP_MD_CTX_free(f->check);
	free(f->ident.path);
	free(f);
}
