/* artifact_internal.h - pieces of artifact inspection shared between
 * artifact.c, artifact_read.c, artifact_digest.c and artifact_digest_par.c
 * (internal).
 */
#ifndef AOS_ARTIFACT_INTERNAL_H
#define AOS_ARTIFACT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "publishers/artifact.h"

enum { DG_SHA256, DG_BLAKE2, DG_SHA512, DG_SHA1, DG_COUNT };

/* A pass's digests may run on two threads (artifact_digest_par.c): once
 * split, the heaviest digest of the kind runs on a helper thread over the
 * same block while the caller runs the others and the CRC-32C. */
struct artifact__helper;

/* The running digests of one artifact; a NULL context is not computed. */
struct artifact_digests {
	EVP_MD_CTX *ctx[DG_COUNT];
	uint32_t crc32c;		 /* always computed (crc32c.h) */
	unsigned split;			 /* the digests (1 << DG_*) a helper runs */
	struct artifact__helper *helper; /* NULL: all on the caller's thread */
	/* EVP_DigestUpdate, but 0/1 (OpenSSL's); tests inject failures here. */
	int (*md_update)(EVP_MD_CTX *ctx, const void *p, size_t n);
};

/* Starts the digests kind needs (PyPI: SHA-256 and BLAKE2b-256 where
 * available; npm: SHA-256, SHA-512, SHA-1), all on the caller's thread.
 * Returns 0 or -ENOMEM. */
int artifact__digests_init(struct artifact_digests *d, enum artifact_kind kind);

/* Moves the heaviest digest of d's kind to a helper thread of its own from
 * the next block on (nothing to move: stays on one thread).  Returns 0, or
 * -errno (d then goes on, correct, on the caller's thread). */
int artifact__digests_split(struct artifact_digests *d);

/* Feeds n bytes to every running digest.  Split, the helper hashes p after
 * this returns: p must stay unchanged until the next update, wait, final or
 * free on d returns.  Returns 0 or -EIO (a digest failed, either thread). */
int artifact__digests_update(struct artifact_digests *d, const void *p, size_t n);

/* Waits until the helper (if any) is done with the last block given, which
 * the caller may then reuse.  Returns 0 or -EIO (the helper's digest
 * failed). */
int artifact__digests_wait(struct artifact_digests *d);

/* Finishes the digests into a's digest fields (stopping the helper).
 * Returns 0 or -EIO. */
int artifact__digests_final(struct artifact_digests *d, struct artifact *a);

/* Stops and joins the helper, frees the contexts; accepts a zeroed struct. */
void artifact__digests_free(struct artifact_digests *d);

/* The helper thread (artifact_digest_par.c), for artifact_digest.c only.
 * helper_start: a thread hashing d->split's digests of each block posted.
 * helper_post: hands it p (after helper_wait).  helper_wait: 0 once it is
 * done with the block, -EIO if a digest failed.  helper_stop: waits, ends
 * and joins it, frees h (accepts NULL). */
int artifact__helper_start(struct artifact_digests *d, struct artifact__helper **ret);
void artifact__helper_post(struct artifact__helper *h, const void *p, size_t n);
int artifact__helper_wait(struct artifact__helper *h);
void artifact__helper_stop(struct artifact__helper *h);

/* The metadata member found by the walk. */
struct artifact__found {
	char *member; /* its path inside the archive (malloc'ed) */
	char *data;   /* its bytes, NUL-terminated (malloc'ed) */
	size_t len;
};

/* Walks the archive read from src from its start to its last byte: checks
 * every member's path and the bounds, reads the one metadata member of kind
 * into *found, and feeds every byte of the file to dg.  Sets *ret_bytes to
 * the number of bytes read.  what names the file in messages.  Returns 0 or
 * a PUB_E* code, -errno or -ENOMEM with errbuf set; *found is then empty. */
int artifact__walk(const char *what, const struct artifact_source *src,
		   enum artifact_kind kind, bool zip, const struct artifact_options *opts,
		   struct artifact_digests *dg, struct artifact__found *found,
		   uint64_t *ret_bytes, char *errbuf, size_t errlen);

/* Checks the metadata found (taken from *found) as inspection does and
 * fills a's names, versions and metadata: the file name against the
 * metadata, o->expected_version.  what names the file.  Returns 0 or a
 * PUB_E* code / -ENOMEM with errbuf set. */
int artifact__check_metadata(struct artifact *a, const struct artifact_options *o,
			     const char *what, struct artifact__found *found,
			     char *errbuf, size_t errlen);

/* For artifact_from_record(): the artifact of path named from its file
 * name (no bytes read), opts with defaults into *ret_opts, the quoted path
 * into what (PUB_QUOTE_MAX bytes).  Returns 0, PUB_EFILENAME or -ENOMEM. */
int artifact__begin_record(const char *path, const struct artifact_options *opts,
			   struct artifact **ret, struct artifact_options *ret_opts,
			   char *what, char *errbuf, size_t errlen);

/* True if path (a member name or link target) is absolute or has a ".."
 * component, with "/" or "\" as separators. */
bool artifact__path_escapes(const char *path);

#endif
