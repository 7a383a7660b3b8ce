/* credential.c - reading credential files (token, role_id, secret_id). */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/err.h"
#include "vault/vault.h"

#define CREDENTIAL_MAX 4096

static int read_bounded(const char *path, char *data, size_t cap, size_t *ret_len)
{
	size_t len = 0;
	ssize_t n;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	for (;;) {
		n = read(fd, data + len, cap - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len == cap) {
			r = AOS_ETOOBIG;
			break;
		}
	}
	close(fd);
	if (r == 0)
		*ret_len = len;
	return r;
}

int vault_read_credential(const char *name, const char *creds_dir, const char *base_dir,
			  struct secret **ret, char *errbuf, size_t errlen)
{
	char path[4096];
	char data[CREDENTIAL_MAX + 1];
	size_t len = 0;
	bool from_creds = false;
	int r;

	path[0] = '\0';
	if (name[0] == '/') {
		snprintf(path, sizeof(path), "%s", name);
	} else {
		if (creds_dir != NULL && creds_dir[0] != '\0') {
			snprintf(path, sizeof(path), "%s/%s", creds_dir, name);
			if (access(path, F_OK) != 0)
				path[0] = '\0';
			from_creds = path[0] != '\0';
		}
		if (path[0] == '\0')
			snprintf(path, sizeof(path), "%s/%s",
				 base_dir != NULL ? base_dir : ".", name);
	}
	r = read_bounded(path, data, sizeof(data), &len);
	if (r == -ENOENT) {
		snprintf(errbuf, errlen,
			 "Vault credential file %s is missing: create it "
			 "(docs/operations.md, \"Configure\")",
			 path);
		goto out;
	}
	if (r < 0) {
		snprintf(errbuf, errlen, "cannot read credential file %s: %s", path,
			 aos_strerror(r));
		goto out;
	}
	while (len > 0 && (data[len - 1] == '\n' || data[len - 1] == '\r' ||
			   data[len - 1] == ' ' || data[len - 1] == '\t'))
		len--;
	if (from_creds && base_dir != NULL && len == strlen(VAULT_CREDENTIAL_MISSING) &&
	    memcmp(data, VAULT_CREDENTIAL_MISSING, len) == 0) {
		/* The unit's SetCredential= default: LoadCredential= found no file. */
		snprintf(errbuf, errlen,
			 "Vault credential %s/%s is missing (systemd passed "
			 "no %s): create it, then restart (docs/operations.md, "
			 "\"Configure\")",
			 base_dir, name, name);
		r = AOS_EPARSE;
		goto out;
	}
	if (len == 0) {
		snprintf(errbuf, errlen, "credential file %s is empty", path);
		r = AOS_EPARSE;
		goto out;
	}
	for (size_t i = 0; i < len; i++) {
		if ((unsigned char)data[i] < 0x20 || data[i] == 0x7f) {
			snprintf(errbuf, errlen,
				 "credential file %s holds a control "
				 "character (a credential is one line)",
				 path);
			r = AOS_EPARSE;
			goto out;
		}
	}
	r = secret_new(data, len, ret);
	if (r < 0)
		snprintf(errbuf, errlen, "out of secure memory reading %s", path);
out:
	OPENSSL_cleanse(data, sizeof(data));
	return r;
}
