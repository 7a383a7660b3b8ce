/* artifact_internal.h - pieces of artifact inspection shared between
 * artifact.c, artifact_read.c and artifact_digest.c (internal).
 */
#ifndef AOS_ARTIFACT_INTERNAL_H
#define AOS_ARTIFACT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "publishers/artifact.h"

enum { DG_SHA256, DG_BLAKE2, DG_SHA512, DG_SHA1, DG_COUNT };

/* The running digests of one artifact; a NULL context is not computed. */
struct artifact_digests {
	EVP_MD_CTX *ctx[DG_COUNT];
	uint32_t crc32c; /* always computed (crc32c.h) */
};

/* Starts the digests kind needs (PyPI: SHA-256 and BLAKE2b-256 where
 * available; npm: SHA-256, SHA-512, SHA-1).  Returns 0 or -ENOMEM. */
int artifact__digests_init(struct artifact_digests *d, enum artifact_kind kind);

/* Feeds n bytes to every running digest.  Returns 0 or -EIO. */
int artifact__digests_update(struct artifact_digests *d, const void *p, size_t n);

/* Finishes the digests into a's digest fields.  Returns 0 or -EIO. */
int artifact__digests_final(struct artifact_digests *d, struct artifact *a);

/* Frees the contexts; accepts a zeroed struct. */
void artifact__digests_free(struct artifact_digests *d);

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
