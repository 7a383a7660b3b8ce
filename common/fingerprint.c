/* fingerprint.c - keyed fingerprints of secrets and the installation's key.
 *
 * A fingerprint is the first SECRET_FPR_LEN hex digits of HMAC-SHA256 over
 * the value, keyed with 32 random bytes made once per installation and kept
 * in the state directory.  An unkeyed hash of a human-chosen secret (a
 * GitLab webhook token) could be found from its fingerprint by trying a
 * dictionary; without the key it cannot.  The key is the process's one
 * piece of state here: set once at start, before any fingerprint is made,
 * and read-only afterwards.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/err.h"
#include "common/file.h"
#include "common/hex.h"
#include "common/secret.h"

static struct secret *fpr_key;

int secret_fingerprint_key_set(struct secret *key)
{
	if (key != NULL && secret_len(key) != SECRET_FPR_KEY_LEN)
		return -EINVAL;
	secret_ref(key);
	secret_unref(fpr_key);
	fpr_key = key;
	return 0;
}

void secret_fingerprint(const struct secret *s, char *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	size_t mdlen = 0;

	memset(out, '?', SECRET_FPR_LEN);
	out[SECRET_FPR_LEN] = '\0';
	if (fpr_key == NULL ||
	    EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, secret_value(fpr_key),
		      secret_len(fpr_key), (const unsigned char *)secret_value(s),
		      secret_len(s), md, sizeof(md), &mdlen) == NULL ||
	    mdlen < SECRET_FPR_LEN / 2)
		return;
	aos_hex(md, SECRET_FPR_LEN / 2, out);
	OPENSSL_cleanse(md, sizeof(md));
}

/* Writes a new key to path without ever replacing one: a temporary file in
 * the same folder, fsync'ed, then link()ed to its name.  Returns 0, or
 * -EEXIST when another process made one first (the caller reads that). */
static int create_key(const char *dir, const char *path)
{
	unsigned char key[SECRET_FPR_KEY_LEN];
	char tmp[4200];
	int fd, r = 0, n;

	n = snprintf(tmp, sizeof(tmp), "%s/.%s.XXXXXX", dir, SECRET_FPR_KEY_FILE);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -ENAMETOOLONG;
	if (RAND_priv_bytes(key, sizeof(key)) != 1)
		return -EIO;
	fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600 */
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	errno = EIO; /* a short write sets none */
	if (fchmod(fd, 0600) < 0 || write(fd, key, sizeof(key)) != (ssize_t)sizeof(key) ||
	    fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r == 0 && link(tmp, path) < 0)
		r = -errno;
	unlink(tmp);
	(void)aos_fsync_dir(dir);
out:
	OPENSSL_cleanse(key, sizeof(key));
	return r;
}

/* Checks the open key file and reads it into a new secret. */
static int read_key(int fd, const char *path, struct secret **ret, char *err,
		    size_t errlen)
{
	unsigned char key[SECRET_FPR_KEY_LEN + 1];
	struct stat st;
	ssize_t n;
	int r;

	if (fstat(fd, &st) < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot stat fingerprint key %s: %s", path,
			 aos_strerror(r));
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen,
			 "fingerprint key %s is not a regular file: move it "
			 "away and aos-publishd makes a new key",
			 path);
		return AOS_ECORRUPT;
	}
	if (st.st_uid != geteuid()) {
		snprintf(
		    err, errlen,
		    "fingerprint key %s belongs to uid %u, not to "
		    "aos-publishd's uid %u: chown it (or move it away for a new key)",
		    path, (unsigned)st.st_uid, (unsigned)geteuid());
		return -EPERM;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(err, errlen,
			 "fingerprint key %s is open to group or others "
			 "(mode %04o): run chmod 600 %s; anyone who read it can test "
			 "guesses against the fingerprints, so consider a new key (move "
			 "it away; the fingerprints shown then change)",
			 path, (unsigned)(st.st_mode & 07777), path);
		return -EPERM;
	}
	if (st.st_size != SECRET_FPR_KEY_LEN) {
		snprintf(
		    err, errlen,
		    "fingerprint key %s has %lld bytes, not %d: it is "
		    "not a key aos-publishd wrote; move it away and a new key is made "
		    "(the fingerprints shown then change)",
		    path, (long long)st.st_size, SECRET_FPR_KEY_LEN);
		return AOS_ECORRUPT;
	}
	n = pread(fd, key, sizeof(key), 0);
	if (n != SECRET_FPR_KEY_LEN) {
		r = n < 0 ? -errno : AOS_ECORRUPT;
		snprintf(err, errlen, "cannot read fingerprint key %s: %s", path,
			 n < 0 ? aos_strerror(r) : "it changed size while read");
		goto out;
	}
	r = secret_new(key, SECRET_FPR_KEY_LEN, ret);
	if (r < 0)
		snprintf(err, errlen, "out of secure memory reading %s", path);
out:
	OPENSSL_cleanse(key, sizeof(key));
	return r;
}

int secret_fingerprint_key_load(const char *dir, bool *ret_created, char *err,
				size_t errlen)
{
	struct secret *key = NULL;
	bool created = false;
	char path[4200];
	int fd, n, r;

	n = snprintf(path, sizeof(path), "%s/%s", dir, SECRET_FPR_KEY_FILE);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		snprintf(err, errlen, "state_dir too long for the fingerprint key");
		return -ENAMETOOLONG;
	}
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT) {
		r = create_key(dir, path);
		if (r < 0 && r != -EEXIST) {
			snprintf(err, errlen, "cannot create fingerprint key %s: %s",
				 path, aos_strerror(r));
			return r;
		}
		created = r == 0;
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC);
	}
	if (fd < 0) {
		r = -errno;
		snprintf(err, errlen, "cannot open fingerprint key %s: %s%s", path,
			 aos_strerror(r),
			 r == -ELOOP ? " (a symbolic link is refused)" : "");
		return r;
	}
	r = read_key(fd, path, &key, err, errlen);
	close(fd);
	if (r < 0)
		return r;
	r = secret_fingerprint_key_set(key);
	secret_unref(key);
	if (r == 0 && ret_created != NULL)
		*ret_created = created;
	return r;
}
