/* artifact_read.c - one front-to-back pass over an archive with libarchive.
 *
 * libarchive reads through our callback only (no seek or skip callback), so
 * every byte of the file passes through the digests exactly once and in
 * order; whatever the format reader leaves (a zip's central directory, tar
 * padding) is drained afterwards.  Zip files are read with the streamable
 * reader, which does not see the central directory: the end of central
 * directory record is looked for in the file's last bytes instead, which
 * catches a zip cut short between members.
 *
 * npm tarballs follow npm's own reading: npm unpacks a tarball with node-tar
 * and "strip: 1" (npm/pacote lib/fetcher.js, #tarxOptions; isaacs/node-tar
 * src/unpack.ts, [CHECKPATH]), dropping the first path component of every
 * entry whatever it is, and reads <that folder>/package.json.  So any single
 * top folder is accepted ("package/" by npm pack, "mypkg/", even "./"), and
 * package.json must be directly inside it.  Where npm would quietly make
 * something else of the archive, it is refused instead: entries under two
 * different top folders (npm would merge them), a file outside any top
 * folder (npm drops it), and, as for every kind, absolute paths and ".."
 * (node-tar strips the root or skips the entry with a warning).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "common/err.h"
#include "publishers/pub_err.h"
#include "publishers/pub_util.h"
#include "artifact_internal.h"

#define READ_BLOCK (256 * 1024)	  /* large reads: the spool's copy goes through here */
#define SPLIT_AFTER (1024 * 1024) /* digests on two threads past this many bytes */
#define ZIP_EOCD_LEN 22
#define ZIP_TAIL (ZIP_EOCD_LEN + 65535) /* the record plus its longest comment */

struct walk {
	const struct artifact_source *src;
	struct artifact_digests *dg;
	uint64_t nread;
	bool eof;
	int err;	 /* -errno of a failed read, or of the digests */
	bool digest_err; /* err is the digests' */
	bool zip;
	size_t taillen;
	unsigned char tail[ZIP_TAIL];
	/* Two blocks: the source fills one while the digests' helper thread
	 * (artifact__digests_split) may still hash the other. */
	unsigned cur; /* the block the next fill reads into */
	unsigned char block[2][READ_BLOCK];
};

/* A zeroed walk mapped for this pass alone (its blocks are 0.5 MiB): given
 * back to the kernel at the end, not kept in the calling thread's malloc
 * arena.  Returns it or NULL. */
static struct walk *walk_new(void)
{
	void *p = mmap(NULL, sizeof(struct walk), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p != MAP_FAILED ? p : NULL;
}

static void walk_free(struct walk *w)
{
	if (w != NULL)
		munmap(w, sizeof(*w));
}

/* Keeps the file's last ZIP_TAIL bytes, the k just read at p included. */
static void keep_tail(struct walk *w, const unsigned char *p, size_t k)
{
	if (k >= ZIP_TAIL) {
		memcpy(w->tail, p + k - ZIP_TAIL, ZIP_TAIL);
		w->taillen = ZIP_TAIL;
		return;
	}
	if (w->taillen + k > ZIP_TAIL) {
		size_t drop = w->taillen + k - ZIP_TAIL;

		memmove(w->tail, w->tail + drop, w->taillen - drop);
		w->taillen -= drop;
	}
	memcpy(w->tail + w->taillen, p, k);
	w->taillen += k;
}

/* Reads the next block into w->block[w->cur] and feeds it to the digests;
 * *ret_p is the block.  Returns its length, 0 at the end, -1 with w->err. */
static ssize_t fill(struct walk *w, const unsigned char **ret_p)
{
	unsigned char *p = w->block[w->cur];
	ssize_t n;

	*ret_p = p;
	if (w->nread >= SPLIT_AFTER)
		(void)artifact__digests_split(w->dg); /* failed: one thread */
	n = w->src->read(w->src->data, p, READ_BLOCK);
	if (n < 0) {
		w->err = (int)n;
		return -1;
	}
	if (n == 0) {
		w->eof = true;
		return 0;
	}
	w->nread += (uint64_t)n;
	if (artifact__digests_update(w->dg, p, (size_t)n) < 0) {
		w->err = -EIO;
		w->digest_err = true;
		return -1;
	}
	w->cur ^= 1; /* p is the helper's until the next update returns */
	if (w->zip)
		keep_tail(w, p, (size_t)n);
	return n;
}

static la_ssize_t read_cb(struct archive *a, void *data, const void **buf)
{
	struct walk *w = data;
	const unsigned char *p;
	ssize_t n = fill(w, &p);

	*buf = p;
	if (n < 0) {
		archive_set_error(a, -w->err, "read failed");
		return ARCHIVE_FATAL;
	}
	return n;
}

/* True if the tail holds a zip end of central directory record that ends
 * the file (its comment length accounting for the remaining bytes). */
static bool zip_has_eocd(const struct walk *w)
{
	size_t pos, clen;

	if (w->taillen < ZIP_EOCD_LEN)
		return false;
	for (pos = w->taillen - ZIP_EOCD_LEN + 1; pos-- > 0;) {
		if (memcmp(w->tail + pos, "PK\x05\x06", 4) != 0)
			continue;
		clen = (size_t)w->tail[pos + 20] | (size_t)w->tail[pos + 21] << 8;
		if (pos + ZIP_EOCD_LEN + clen == w->taillen)
			return true;
	}
	return false;
}

bool artifact__path_escapes(const char *path)
{
	const char *p = path, *e;

	if (path[0] == '/' || path[0] == '\\')
		return true;
	if (((path[0] >= 'A' && path[0] <= 'Z') || (path[0] >= 'a' && path[0] <= 'z')) &&
	    path[1] == ':')
		return true; /* a drive letter */
	for (;;) {
		e = p + strcspn(p, "/\\");
		if (e - p == 2 && p[0] == '.' && p[1] == '.')
			return true;
		if (*e == '\0')
			return false;
		p = e + 1;
	}
}

/* Strips "./" prefixes that some tar writers add.  Not for npm, which
 * takes "." as the top folder like any other (see the top of the file). */
static const char *member_name(enum artifact_kind kind, const char *path)
{
	while (kind != ARTIFACT_NPM && path[0] == '.' && path[1] == '/')
		path += 2;
	return path;
}

/* npm: checks that member (of type filetype) lies in the archive's single
 * top folder, which the first member names (top[0] == '\0' until then).
 * Returns 0, or PUB_EPATH with errbuf set. */
static int npm_top_folder(const char *member, unsigned filetype, char *top, size_t toplen,
			  const char *what, const char *qm, char *errbuf, size_t errlen)
{
	size_t n = strcspn(member, "/");
	char q[PUB_QUOTE_MAX];

	if (member[n] == '\0' && filetype != AE_IFDIR) {
		pub__errf(
		    errbuf, errlen,
		    "%s: member %s is not inside a top folder (npm "
		    "drops it on install): an npm tarball holds one top folder, such as "
		    "package/",
		    what, qm);
		return PUB_EPATH;
	}
	if (top[0] == '\0') {
		if (n >= toplen) {
			pub__errf(errbuf, errlen,
				  "%s: top folder of member %s is longer "
				  "than %zu bytes",
				  what, qm, toplen - 1);
			return PUB_EPATH;
		}
		memcpy(top, member, n);
		top[n] = '\0';
		return 0;
	}
	if (strlen(top) != n || memcmp(top, member, n) != 0) {
		pub__errf(
		    errbuf, errlen,
		    "%s: member %s is not in the top folder %s/ of "
		    "the others (npm would merge the two on install): an npm tarball "
		    "holds one top folder",
		    what, qm, pub__quote(top, strlen(top), q, sizeof(q)));
		return PUB_EPATH;
	}
	return 0;
}

/* True if member is the metadata file of kind. */
static bool is_metadata(enum artifact_kind kind, const char *member)
{
	const char *slash = strchr(member, '/');

	if (slash == NULL || strchr(slash + 1, '/') != NULL || slash == member)
		return false;
	switch (kind) {
	case ARTIFACT_WHEEL:
		return strcmp(slash + 1, "METADATA") == 0 && slash - member > 10 &&
		       memcmp(slash - 10, ".dist-info", 10) == 0;
	case ARTIFACT_SDIST: return strcmp(slash + 1, "PKG-INFO") == 0;
	case ARTIFACT_NPM: return strcmp(slash + 1, "package.json") == 0;
	}
	return false;
}

static const char *metadata_pattern(enum artifact_kind kind)
{
	switch (kind) {
	case ARTIFACT_WHEEL: return "*.dist-info/METADATA";
	case ARTIFACT_SDIST: return "<top>/PKG-INFO";
	case ARTIFACT_NPM: return "<top>/package.json, e.g. package/package.json";
	}
	return "?";
}

/* Reads the current member's data into f, at most limit bytes. */
static int read_member(struct archive *a, struct archive_entry *e, size_t limit,
		       struct artifact__found *f, const char *what, const char *qm,
		       char *errbuf, size_t errlen)
{
	size_t cap = 0;
	la_ssize_t n;
	char *p;

	if (archive_entry_size_is_set(e) && archive_entry_size(e) > (la_int64_t)limit)
		goto toobig;
	for (;;) {
		if (cap - f->len < 16384) {
			if (cap > limit)
				goto toobig;
			cap = cap ? cap * 2 : 16384;
			p = realloc(f->data, cap + 1);
			if (p == NULL)
				return -ENOMEM;
			f->data = p;
		}
		n = archive_read_data(a, f->data + f->len, cap - f->len);
		if (n < 0)
			return 1; /* libarchive's error, classified by the caller */
		if (n == 0)
			break;
		f->len += (size_t)n;
		if (f->len > limit)
			goto toobig;
	}
	f->data[f->len] = '\0';
	return 0;
toobig:
	pub__errf(errbuf, errlen, "%s: %s is larger than %zu bytes", what, qm, limit);
	return PUB_EOVERSIZE;
}

/* Names w->err (a read's or the digests') in errbuf. */
static void read_failure(const struct walk *w, const char *what, char *errbuf,
			 size_t errlen)
{
	if (w->digest_err)
		pub__errf(errbuf, errlen, "%s: computing its digests failed", what);
	else
		pub__errf(errbuf, errlen, "%s: read failed: %s", what, strerror(-w->err));
}

/* Classifies a libarchive failure and fills errbuf. */
static int archive_failure(struct archive *a, const struct walk *w, uint64_t members,
			   const char *what, const char *fmt, char *errbuf, size_t errlen)
{
	const char *msg = archive_error_string(a);
	char q[PUB_QUOTE_MAX];

	if (w->err < 0) {
		read_failure(w, what, errbuf, errlen);
		return w->err;
	}
	if (msg == NULL)
		msg = w->eof ? "unexpected end of file" : "unknown error";
	pub__quote(msg, strlen(msg), q, sizeof(q));
	if (members == 0 && (w->nread == 0 || strstr(msg, "Unrecognized") != NULL ||
			     archive_errno(a) == EILSEQ)) {
		pub__errf(errbuf, errlen, "%s: not a %s archive (%s)", what, fmt, q);
		return PUB_ENOTARCHIVE;
	}
	if (w->eof) {
		pub__errf(errbuf, errlen, "%s: archive truncated (%s)", what, q);
		return PUB_ETRUNCATED;
	}
	pub__errf(errbuf, errlen, "%s: archive corrupt (%s)", what, q);
	return PUB_ECORRUPT;
}

int artifact__walk(const char *what, const struct artifact_source *src,
		   enum artifact_kind kind, bool zip, const struct artifact_options *opts,
		   struct artifact_digests *dg, struct artifact__found *found,
		   uint64_t *ret_bytes, char *errbuf, size_t errlen)
{
	const char *fmt = zip			 ? "zip"
			  : kind == ARTIFACT_NPM ? "gzip'ed tar (.tgz)"
						 : "gzip'ed tar";
	struct archive *a = NULL;
	struct archive_entry *e;
	struct walk *w;
	uint64_t members = 0;
	char qm[PUB_QUOTE_MAX], q2[PUB_QUOTE_MAX], top[256] = "";
	const char *name, *link;
	int r, ar;

	memset(found, 0, sizeof(*found));
	w = walk_new();
	a = archive_read_new();
	if (w == NULL || a == NULL) {
		r = -ENOMEM;
		goto out;
	}
	w->src = src;
	w->dg = dg;
	w->zip = zip;
	if (zip) {
		archive_read_support_format_zip_streamable(a);
	} else {
		archive_read_support_filter_gzip(a);
		archive_read_support_format_tar(a);
	}
	if (archive_read_open(a, w, NULL, read_cb, NULL) != ARCHIVE_OK) {
		r = archive_failure(a, w, 0, what, fmt, errbuf, errlen);
		goto out;
	}
	for (;;) {
		ar = archive_read_next_header(a, &e);
		if (ar == ARCHIVE_EOF)
			break;
		if (ar < ARCHIVE_WARN) {
			r = archive_failure(a, w, members, what, fmt, errbuf, errlen);
			goto out;
		}
		if (++members > opts->max_members) {
			pub__errf(errbuf, errlen, "%s: more than %llu members", what,
				  (unsigned long long)opts->max_members);
			r = PUB_EOVERSIZE;
			goto out;
		}
		name = archive_entry_pathname_utf8(e);
		if (name == NULL)
			name = archive_entry_pathname(e);
		if (name == NULL || name[0] == '\0') {
			pub__errf(errbuf, errlen, "%s: member %llu has no usable name",
				  what, (unsigned long long)members);
			r = PUB_ECORRUPT;
			goto out;
		}
		pub__quote(name, strlen(name), qm, sizeof(qm));
		if (artifact__path_escapes(name)) {
			pub__errf(errbuf, errlen,
				  "%s: member path %s escapes the archive", what, qm);
			r = PUB_EPATH;
			goto out;
		}
		link = archive_entry_symlink(e);
		if (link == NULL)
			link = archive_entry_hardlink(e);
		if (link != NULL && artifact__path_escapes(link)) {
			pub__errf(errbuf, errlen,
				  "%s: member %s links to %s, outside the archive", what,
				  qm, pub__quote(link, strlen(link), q2, sizeof(q2)));
			r = PUB_EPATH;
			goto out;
		}
		name = member_name(kind, name);
		if (kind == ARTIFACT_NPM &&
		    (r = npm_top_folder(name, archive_entry_filetype(e), top, sizeof(top),
					what, qm, errbuf, errlen)) < 0)
			goto out;
		if (is_metadata(kind, name)) {
			if (found->member != NULL) {
				pub__errf(errbuf, errlen,
					  "%s: two metadata files, %s and %s", what,
					  pub__quote(found->member, strlen(found->member),
						     q2, sizeof(q2)),
					  qm);
				r = PUB_EDUPMETA;
				goto out;
			}
			if (archive_entry_filetype(e) != AE_IFREG || link != NULL) {
				pub__errf(errbuf, errlen,
					  "%s: metadata member %s is not a regular file",
					  what, qm);
				r = PUB_EMETADATA;
				goto out;
			}
			found->member = strdup(name);
			if (found->member == NULL) {
				r = -ENOMEM;
				goto out;
			}
			r = read_member(a, e, opts->max_metadata, found, what, qm, errbuf,
					errlen);
			if (r > 0) {
				r = archive_failure(a, w, members, what, fmt, errbuf,
						    errlen);
				goto out;
			}
			if (r < 0)
				goto out;
		} else if (archive_read_data_skip(a) < ARCHIVE_WARN) {
			r = archive_failure(a, w, members, what, fmt, errbuf, errlen);
			goto out;
		}
		if ((uint64_t)archive_filter_bytes(a, 0) > opts->max_unpacked) {
			pub__errf(errbuf, errlen, "%s: unpacks to more than %llu bytes",
				  what, (unsigned long long)opts->max_unpacked);
			r = PUB_EOVERSIZE;
			goto out;
		}
	}
	/* Drain what the format reader left so the digests cover the file. */
	while (!w->eof) {
		const unsigned char *p;

		if (fill(w, &p) < 0) {
			read_failure(w, what, errbuf, errlen);
			r = w->err;
			goto out;
		}
	}
	if (zip && !zip_has_eocd(w)) {
		pub__errf(
		    errbuf, errlen,
		    "%s: archive truncated (no zip end of central directory record)",
		    what);
		r = PUB_ETRUNCATED;
		goto out;
	}
	if (found->member == NULL && kind == ARTIFACT_NPM && top[0] != '\0') {
		pub__errf(errbuf, errlen,
			  "%s: no metadata file in the archive: npm reads "
			  "package.json in the top folder, %s/package.json",
			  what, pub__quote(top, strlen(top), q2, sizeof(q2)));
		r = PUB_ENOMETA;
		goto out;
	}
	if (found->member == NULL) {
		pub__errf(errbuf, errlen, "%s: no metadata file (%s) in the archive",
			  what, metadata_pattern(kind));
		r = PUB_ENOMETA;
		goto out;
	}
	*ret_bytes = w->nread;
	r = 0;
out:
	if (r < 0) {
		free(found->member);
		free(found->data);
		memset(found, 0, sizeof(*found));
	}
	if (a != NULL)
		archive_read_free(a);
	if (w != NULL)
		(void)artifact__digests_wait(dg); /* the helper is done with w's blocks;
						     its error shows at the final */
	walk_free(w);
	return r;
}
