/* artifact.h - inspection of release artifacts before upload.
 *
 * artifact_inspect() reads a wheel (.whl), an sdist (.tar.gz or .zip) or an
 * npm tarball (.tgz) once, front to back, through libarchive: it finds and
 * parses the metadata file (*.dist-info/METADATA, <top>/PKG-INFO,
 * <top>/package.json), computes the digests the registries want while the
 * bytes pass, checks every member path and every bound, and checks that the
 * file name and the expected version agree with the metadata.  Memory use
 * does not grow with the archive's size.  Nothing is logged: errors come
 * back as PUB_E* codes with a message naming the file and the problem.
 */
#ifndef AOS_ARTIFACT_H
#define AOS_ARTIFACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

struct pypi_meta;

enum artifact_kind {
	ARTIFACT_WHEEL = 1, /* PyPI bdist_wheel */
	ARTIFACT_SDIST,	    /* PyPI sdist, .tar.gz or .zip */
	ARTIFACT_NPM,	    /* npm tarball */
};

#define ARTIFACT_MAX_METADATA (1024 * 1024) /* default bound on the metadata file */
#define ARTIFACT_MAX_MEMBERS 100000	    /* default bound on archive members */
#define ARTIFACT_MAX_UNPACKED (8ULL << 30)  /* default bound on bytes unpacked */
#define ARTIFACT_SRI_LEN (7 + 88)	    /* "sha512-" + base64 of 64 bytes */

struct artifact_options {
	const char *expected_version; /* e.g. the tag's version, compared by PEP 440
					 for PyPI kinds, exactly for npm; NULL: none */
	bool any_npm_filename;	      /* accept an npm tarball whatever its name */
	size_t max_metadata;	      /* 0: ARTIFACT_MAX_METADATA */
	uint64_t max_members;	      /* 0: ARTIFACT_MAX_MEMBERS */
	uint64_t max_unpacked;	      /* 0: ARTIFACT_MAX_UNPACKED */
};

/* An inspected artifact.  All fields are read-only for callers. */
struct artifact {
	enum artifact_kind kind;
	char *path;	/* as given */
	char *filename; /* base name of path */
	char *name;	/* project or package name, as in the metadata */
	char *version;	/* version, as in the metadata */
	uint64_t size;	/* bytes */

	char sha256[65];     /* hex; every kind */
	char blake2_256[65]; /* hex; PyPI kinds, "" when OpenSSL lacks it */
	char sha1[41];	     /* hex; npm only */
	char sha512_sri[ARTIFACT_SRI_LEN + 1]; /* "sha512-<base64>"; npm only */
	uint32_t crc32c; /* every kind: what an upload checks the bytes sent with */

	char *member;	/* the metadata member's path in the archive */
	char *metadata; /* PyPI: the metadata file's bytes, NUL-terminated */
	size_t metadata_len;
	char *pyversion;	/* PyPI: "source" for an sdist, the wheel's python tag */
	struct pypi_meta *meta; /* PyPI: parsed core metadata */
	char *package_json;	/* npm: <top>/package.json, NUL-terminated */
	size_t package_json_len;

	/* The file's identity when inspected; uploads check it again. */
	dev_t dev;
	ino_t ino;
	struct timespec mtime;
};

/* Inspects the file at path.  opts may be NULL.  Returns 0 and sets *ret
 * (free it with artifact_free), or a negative code with errbuf naming the
 * file and the problem: PUB_EFILENAME, PUB_ENOTARCHIVE, PUB_ETRUNCATED,
 * PUB_ECORRUPT, PUB_ENOMETA, PUB_EDUPMETA, PUB_EOVERSIZE, PUB_EPATH,
 * PUB_EUTF8, PUB_EJSON, PUB_EMETADATA, PUB_ENAME, PUB_EVERSION,
 * PUB_ECHANGED, -errno (open, read) or -ENOMEM. */
int artifact_inspect(const char *path, const struct artifact_options *opts,
		     struct artifact **ret, char *errbuf, size_t errlen);

/* Where artifact_inspect_source() reads a file's bytes, front to back:
 * read() fills up to n bytes of buf and returns the count, 0 at the end,
 * or a negative code (-errno), which the inspection returns. */
struct artifact_source {
	ssize_t (*read)(void *data, void *buf, size_t n);
	void *data;
};

/* As artifact_inspect(), but the bytes come from src (the spool's copy
 * loop: each block read is written to the copy and hashed in the same
 * pass) and path only names the file (its kind, the messages).  size is
 * the number of bytes src gave; the identity fields (dev, ino, mtime) are
 * zero: artifact_check_unchanged() does not apply. */
int artifact_inspect_source(const char *path, const struct artifact_source *src,
			    const struct artifact_options *opts, struct artifact **ret,
			    char *errbuf, size_t errlen);

/* The record of an inspected artifact: what an upload needs of it without
 * reading the file again (JSON text: kind, size, every digest, the metadata
 * member and its bytes).  with_metadata false leaves the metadata out (a
 * record too large to keep); artifact_from_record() then refuses it.
 * Returns a malloc'ed string or NULL (out of memory). */
char *artifact_record(const struct artifact *a, bool with_metadata);

/* Rebuilds the artifact at path from its record without reading the
 * file's bytes: the metadata is checked again as inspection checks it
 * (names, versions, opts->expected_version), the digests are taken as
 * recorded, and the file must be a regular file of the recorded size (its
 * identity, from fstat, is then checked again by the upload).  Returns 0
 * and *ret, -ENOENT when the record has no metadata (inspect the file
 * instead), PUB_EJSON for a record that does not parse, PUB_ECHANGED when
 * the size differs, -errno, or inspection's metadata errors, with errbuf
 * set. */
int artifact_from_record(const char *path, const char *record,
			 const struct artifact_options *opts, struct artifact **ret,
			 char *errbuf, size_t errlen);

/* Frees a; accepts NULL. */
void artifact_free(struct artifact *a);

/* "wheel", "sdist" or "npm". */
const char *artifact_kind_name(enum artifact_kind kind);

/* The kind a file name implies from its extension, or 0 if none. */
enum artifact_kind artifact_kind_from_name(const char *filename);

/* True if this OpenSSL computes BLAKE2b-256 (OpenSSL 3.2 and later), so
 * artifacts carry blake2_256. */
bool artifact_blake2b_256_available(void);

/* Checks that fd (opened on a->path) is still the file inspected: same
 * device, inode, size and modification time.  Returns 0, PUB_ECHANGED or
 * -errno from fstat; errbuf says what changed. */
int artifact_check_unchanged(const struct artifact *a, int fd, char *errbuf,
			     size_t errlen);

#endif
