/* secret_process.c - the secure heap and the process settings secrets need,
 * set up at start and torn down at exit (secret.h).  Apart from secret.c
 * because the teardown also drops the fingerprint key (fingerprint.c),
 * which itself is a secret: so secret.c stays a leaf. */
#include <errno.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <openssl/crypto.h>

#include "common/err.h"
#include "common/secret.h"

int secret_init_process(size_t size)
{
	struct rlimit rl = {0, 0};

	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		return -errno;
	if (setrlimit(RLIMIT_CORE, &rl) < 0)
		return -errno;
	if (CRYPTO_secure_malloc_initialized())
		return 0;
	/* 1 means the heap is locked; 2 means it exists but mlock failed. */
	if (CRYPTO_secure_malloc_init(size, 32) != 1) {
		CRYPTO_secure_malloc_done();
		return AOS_ESECMEM;
	}
	return 0;
}

size_t secret_done_process(void)
{
	size_t live;

	secret_fingerprint_key_set(NULL);
	live = secret_live_count();
	if (live == 0 && CRYPTO_secure_malloc_initialized())
		CRYPTO_secure_malloc_done();
	return live;
}
