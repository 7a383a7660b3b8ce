/* fuzz_tls.c - libFuzzer harness for the listener's TLS sessions
 * (agent/base/tls.c): the input is what a client sends, fed in pieces whose
 * sizes the first byte picks, so partial records and records split across
 * reads are exercised.  Seeds in corpus_tls/ are real ClientHellos (TLS 1.2
 * and 1.3 offers, with and without ALPN).  Invariants: no crash or leak, the
 * plaintext never exceeds the buffer, an error is final, and the output
 * taken is bounded.  The certificate is made at start (EC P-256, self-signed).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/tls.h"
#include "tests/fuzz/fuzz_util.h"
#include "tests/unit/base/tls_fixture.h"

#define TARGET "fuzz_tls"

static struct tls_ctx *ctx;
static char plain[65536 + TLS_RECORD_MAX];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char dir[] = "/tmp/aos-fuzz-tls-XXXXXX", crt[64], key[64], err[512];

	(void)argc;
	(void)argv;
	fz_init();
	if (mkdtemp(dir) == NULL)
		fz_die(TARGET, "mkdtemp");
	snprintf(crt, sizeof(crt), "%s/c.pem", dir);
	snprintf(key, sizeof(key), "%s/k.pem", dir);
	if (!tls_fixture_write(crt, key, "fuzz", -60, 86400, NULL))
		fz_die(TARGET, "cannot make the test certificate");
	if (tls_ctx_load(crt, key, &ctx, NULL, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		fz_die(TARGET, "cannot load the test certificate");
	}
	unlink(crt);
	unlink(key);
	rmdir(dir);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tls_conn *t = tls_conn_new(ctx);
	size_t piece, off;
	bool ended = false;
	char *out;
	long r;

	if (t == NULL)
		fz_die(TARGET, "tls_conn_new");
	if (size == 0)
		goto done;
	piece = (size_t)data[0] % 64 + 1;
	if (data[0] >= 192)
		piece = SIZE_MAX; /* all at once */
	for (off = 1; off < size && !ended; off += piece) {
		size_t n = size - off < piece ? size - off : piece;
		char *in = fz_copy(data + off, n);

		r = tls_conn_feed(t, in, n, plain, sizeof(plain));
		free(in);
		if (r > (long)sizeof(plain) || r == -ENOBUFS)
			fz_die(TARGET, "plaintext past the buffer");
		ended = r < 0;
		r = tls_conn_take_out(t, &out);
		if (r < 0 || (r > 0 && out == NULL) || r > 1L << 20)
			fz_die(TARGET, "tls_conn_take_out");
		free(out);
		if (piece == SIZE_MAX)
			break;
	}
	if (!ended && tls_conn_established(t)) {
		if (tls_conn_write(t, "HTTP/1.1 200 OK\r\n\r\n", 19) < 0)
			fz_die(TARGET, "cannot write on an established session");
		tls_conn_shutdown(t);
	}
done:
	r = tls_conn_take_out(t, &out);
	free(out);
	tls_conn_free(t);
	return 0;
}
