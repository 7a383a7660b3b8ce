#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "common/err.h"
#include "publishers/artifact.h"
#include "publishers/pub_err.h"
#include "publishers/pub_util.h"
#include "publishers/pypi_meta.h"
#include "publishers/pypi_name.h"
#include "publishers/semver.h"
#include "artifact_internal.h"

#define NPM_NAME_MAX 214

const char *artifact_kind_name(enum artifact_kind kind)
{
	switch (kind) {
	case ARTIFACT_WHEEL: return "wheel";
	case ARTIFACT_SDIST: return "sdist";
	case ARTIFACT_NPM: return "npm";
	}
	return "unknown";
}

enum artifact_kind artifact_kind_from_name(const char *filename)
{
	if (pub__endswith_nocase(filename, ".whl"))
		return ARTIFACT_WHEEL;
	if (pub__endswith_nocase(filename, ".tar.gz") ||
	    pub__endswith_nocase(filename, ".zip"))
		return ARTIFACT_SDIST;
	if (pub__endswith_nocase(filename, ".tgz"))
		return ARTIFACT_NPM;
	return 0;
}

void artifact_free(struct artifact *a)
{
	if (a == NULL)
		return;
	free(a->path);
	free(a->filename);
	free(a->name);
	free(a->version);
	free(a->member);
	free(a->metadata);
	free(a->pyversion);
	pypi_meta_free(a->meta);
	free(a->package_json);
	free(a);
}

int artifact_check_unchanged(const struct artifact *a, int fd, char *errbuf,
			     size_t errlen)
{
	char q[PUB_QUOTE_MAX];
	struct stat st;

	if (fstat(fd, &st) < 0) {
		int r = -errno;

		pub__errf(errbuf, errlen, "%s: %s",
			  pub__quote(a->path, strlen(a->path), q, sizeof(q)),
			  strerror(-r));
		return r;
	}
	if (st.st_dev != a->dev || st.st_ino != a->ino ||
	    (uint64_t)st.st_size != a->size || st.st_mtim.tv_sec != a->mtime.tv_sec ||
	    st.st_mtim.tv_nsec != a->mtime.tv_nsec) {
		pub__errf(errbuf, errlen, "%s: file changed since it was inspected (%s)",
			  pub__quote(a->path, strlen(a->path), q, sizeof(q)),
			  (uint64_t)st.st_size != a->size ? "size differs"
			  : st.st_ino != a->ino		  ? "replaced"
							  : "modified");
		return PUB_ECHANGED;
	}
	return 0;
}

/* npm names: lower case, URL-safe, at most 214 bytes, optionally scoped as
 * "@scope/name", not starting with "." or "_" (validate-npm-package-name's
 * rules for new packages). */
static bool npm_name_valid(const char *name)
{
	const char *p = name, *slash = NULL;
	size_t n = strlen(name);

	if (n == 0 || n > NPM_NAME_MAX || name[0] == '.' || name[0] == '_')
		return false;
	if (*p == '@') {
		slash = strchr(p, '/');
		if (slash == NULL || slash == p + 1 || slash[1] == '\0' ||
		    slash[1] == '.' || slash[1] == '_')
			return false;
		p++;
	}
	for (; *p != '\0'; p++) {
		if (p == slash)
			continue;
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
		      *p == '.' || *p == '_'))
			return false;
	}
	return strcmp(name, "node_modules") != 0 && strcmp(name, "favicon.ico") != 0;
}

/* True if obj has key more than once (cJSON keeps duplicates; JavaScript
 * keeps the last, we refuse the ambiguity). */
static bool dup_key(const cJSON *obj, const char *key)
{
	const cJSON *c;
	int n = 0;

	cJSON_ArrayForEach(c, obj)
	{
		if (c->string != NULL && strcmp(c->string, key) == 0)
			n++;
	}
	return n > 1;
}

static int check_npm(struct artifact *a, const struct artifact_options *o,
		     const char *what, const char *member, char *errbuf, size_t errlen)
{
	const char *text = a->package_json, *end = NULL;
	size_t len = a->package_json_len, off;
	const cJSON *name, *version;
	char q[PUB_QUOTE_MAX], want[NPM_NAME_MAX + SEMVER_MAX + 8];
	cJSON *root;
	int r;

	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) {
		text += 3; /* byte order mark */
		len -= 3;
	}
	if (!pub__utf8_valid(text, len, &off)) {
		pub__errf(errbuf, errlen, "%s: %s: invalid UTF-8 at byte %zu", what,
			  member, off);
		return PUB_EUTF8;
	}
	root = cJSON_ParseWithLengthOpts(text, len, &end, false);
	if (root == NULL || end == NULL || end[strspn(end, " \t\r\n")] != '\0' ||
	    (size_t)(end - text) > len) {
		off = end != NULL && end >= text ? (size_t)(end - text) : 0;
		pub__errf(errbuf, errlen, "%s: %s: invalid JSON near byte %zu", what,
			  member, off);
		r = PUB_EJSON;
		goto out;
	}
	name = cJSON_GetObjectItemCaseSensitive(root, "name");
	version = cJSON_GetObjectItemCaseSensitive(root, "version");
	if (!cJSON_IsObject(root) || !cJSON_IsString(name) || !cJSON_IsString(version)) {
		pub__errf(errbuf, errlen,
			  "%s: %s: not an object with string \"name\" and \"version\"",
			  what, member);
		r = PUB_EMETADATA;
		goto out;
	}
	if (dup_key(root, "name") || dup_key(root, "version")) {
		pub__errf(errbuf, errlen, "%s: %s: \"name\" or \"version\" given twice",
			  what, member);
		r = PUB_EMETADATA;
		goto out;
	}
	if (!npm_name_valid(name->valuestring)) {
		pub__errf(errbuf, errlen, "%s: %s: invalid package name \"%s\"", what,
			  member,
			  pub__quote(name->valuestring, strlen(name->valuestring), q,
				     sizeof(q)));
		r = PUB_EMETADATA;
		goto out;
	}
	if (!semver_valid(version->valuestring)) {
		pub__errf(errbuf, errlen,
			  "%s: %s: version \"%s\" is not a semantic version", what,
			  member,
			  pub__quote(version->valuestring, strlen(version->valuestring),
				     q, sizeof(q)));
		r = PUB_EMETADATA;
		goto out;
	}
	a->name = strdup(name->valuestring);
	a->version = strdup(version->valuestring);
	if (a->name == NULL || a->version == NULL) {
		r = -ENOMEM;
		goto out;
	}
	/* npm pack names a tarball "<name>-<version>.tgz", "@scope/x" as "scope-x". */
	snprintf(want, sizeof(want), "%s-%s.tgz",
		 a->name[0] == '@' ? a->name + 1 : a->name, a->version);
	if (a->name[0] == '@')
		*strchr(want, '/') = '-';
	if (!o->any_npm_filename && strcmp(a->filename, want) != 0) {
		r = strncmp(a->filename, want, strlen(want) - strlen(a->version) - 4) == 0
			? PUB_EVERSION
			: PUB_ENAME;
		pub__errf(
		    errbuf, errlen,
		    "%s: file name does not match the package's %s: %s@%s (expected %s)",
		    what, r == PUB_EVERSION ? "version" : "name", a->name, a->version,
		    want);
		goto out;
	}
	r = 0;
out:
	cJSON_Delete(root);
	return r;
}

static int check_python(struct artifact *a, const char *what, const char *member,
			const char *text, size_t len, char *errbuf, size_t errlen)
{
	struct pypi_wheel_name w;
	char where[2 * PUB_QUOTE_MAX + 4], q[PUB_QUOTE_MAX];
	char q1[PUB_QUOTE_MAX], q2[PUB_QUOTE_MAX];
	size_t n;
	int r;

	snprintf(where, sizeof(where), "%s: %s", what,
		 pub__quote(member, strlen(member), q, sizeof(q)));
	r = pypi_meta_parse(text, len, where, &a->meta, errbuf, errlen);
	if (r < 0)
		return r;
	a->name = strdup(pypi_meta_name(a->meta));
	a->version = strdup(pypi_meta_version(a->meta));
	if (a->name == NULL || a->version == NULL)
		return -ENOMEM;
	if (a->kind == ARTIFACT_SDIST) {
		a->pyversion = strdup("source");
		if (a->pyversion == NULL)
			return -ENOMEM;
		return pypi_sdist_name_check(a->filename, a->name, a->version, errbuf,
					     errlen);
	}
	if (pypi_wheel_name_parse(a->filename, &w) < 0)
		return PUB_EFILENAME; /* checked before reading */
	if (!pypi_name_equal(w.name, a->name)) {
		pub__errf(errbuf, errlen,
			  "%s: file name project %s does not match metadata Name %s",
			  what, pub__quote(w.name, strlen(w.name), q1, sizeof(q1)),
			  pub__quote(a->name, strlen(a->name), q2, sizeof(q2)));
		return PUB_ENAME;
	}
	if (!pypi_version_equal(w.version, a->version)) {
		pub__errf(errbuf, errlen,
			  "%s: file name version %s does not match metadata Version %s",
			  what, pub__quote(w.version, strlen(w.version), q1, sizeof(q1)),
			  pub__quote(a->version, strlen(a->version), q2, sizeof(q2)));
		return PUB_EVERSION;
	}
	/* The .dist-info directory is "<name>-<version>.dist-info". */
	n = strlen(member) - strlen(".dist-info/METADATA");
	r = pypi_stem_check(member, n, a->name, a->version);
	if (r == PUB_ENAME)
		pub__errf(errbuf, errlen,
			  "%s: directory of %s does not match metadata Name %s", what, q,
			  a->name);
	else if (r == PUB_EVERSION)
		pub__errf(errbuf, errlen,
			  "%s: directory of %s does not match metadata Version %s", what,
			  q, a->version);
	if (r < 0)
		return r;
	a->pyversion = strdup(w.python);
	return a->pyversion != NULL ? 0 : -ENOMEM;
}

/* Starts the artifact of path: its names and kind, from the file name.
 * Returns 0 and *ret, or PUB_EFILENAME / -ENOMEM with errbuf set. */
static int artifact_begin(const char *path, const char *what, struct artifact **ret,
			  char *errbuf, size_t errlen)
{
	struct pypi_wheel_name wn;
	const char *slash = strrchr(path, '/');
	struct artifact *a = calloc(1, sizeof(*a));
	int r = -ENOMEM;

	if (a == NULL)
		return -ENOMEM;
	a->path = strdup(path);
	a->filename = strdup(slash != NULL ? slash + 1 : path);
	if (a->path == NULL || a->filename == NULL)
		goto fail;
	a->kind = artifact_kind_from_name(a->filename);
	r = PUB_EFILENAME;
	if (a->kind == 0) {
		pub__errf(errbuf, errlen,
			  "%s: not a .whl, .tar.gz, .zip or .tgz file name", what);
		goto fail;
	}
	if (a->kind == ARTIFACT_WHEEL && pypi_wheel_name_parse(a->filename, &wn) < 0) {
		pub__errf(errbuf, errlen,
			  "%s: not a wheel file name "
			  "(<name>-<version>-<python>-<abi>-<platform>.whl)",
			  what);
		goto fail;
	}
	*ret = a;
	return 0;
fail:
	artifact_free(a);
	return r;
}

/* The options with their defaults filled in. */
static struct artifact_options options_of(const struct artifact_options *opts)
{
	struct artifact_options o = {0};

	if (opts != NULL)
		o = *opts;
	if (o.max_metadata == 0)
		o.max_metadata = ARTIFACT_MAX_METADATA;
	if (o.max_members == 0)
		o.max_members = ARTIFACT_MAX_MEMBERS;
	if (o.max_unpacked == 0)
		o.max_unpacked = ARTIFACT_MAX_UNPACKED;
	return o;
}

int artifact__check_metadata(struct artifact *a, const struct artifact_options *o,
			     const char *what, struct artifact__found *found,
			     char *errbuf, size_t errlen)
{
	char q[PUB_QUOTE_MAX], qmember[PUB_QUOTE_MAX];
	bool expected_ok;
	int r;

	a->member = found->member;
	found->member = NULL; /* transferred */
	if (a->kind == ARTIFACT_NPM) {
		a->package_json = found->data;
		a->package_json_len = found->len;
		found->data = NULL; /* transferred */
		/* The member path comes from the archive: quoted for messages. */
		r = check_npm(
		    a, o, what,
		    pub__quote(a->member, strlen(a->member), qmember, sizeof(qmember)),
		    errbuf, errlen);
	} else {
		a->metadata = found->data;
		a->metadata_len = found->len;
		found->data = NULL; /* transferred */
		r = check_python(a, what, a->member, a->metadata, a->metadata_len, errbuf,
				 errlen);
	}
	if (r < 0 || o->expected_version == NULL)
		return r;
	expected_ok = a->kind == ARTIFACT_NPM
			  ? strcmp(o->expected_version, a->version) == 0
			  : pypi_version_equal(o->expected_version, a->version);
	if (!expected_ok) {
		pub__errf(errbuf, errlen, "%s: version %s is not the expected %s", what,
			  a->version,
			  pub__quote(o->expected_version, strlen(o->expected_version), q,
				     sizeof(q)));
		return PUB_EVERSION;
	}
	return 0;
}

/* Reads the archive from src through the digests and checks it; a is
 * artifact_begin()'s.  Sets *ret_bytes to the bytes read. */
static int inspect_bytes(struct artifact *a, const struct artifact_source *src,
			 const struct artifact_options *o, const char *what,
			 uint64_t *ret_bytes, char *errbuf, size_t errlen)
{
	struct artifact_digests dg = {.crc32c = 0};
	struct artifact__found found = {NULL, NULL, 0};
	int r;

	r = artifact__digests_init(&dg, a->kind);
	if (r < 0)
		goto out;
	r = artifact__walk(what, src, a->kind,
			   pub__endswith_nocase(a->filename, ".whl") ||
			       pub__endswith_nocase(a->filename, ".zip"),
			   o, &dg, &found, ret_bytes, errbuf, errlen);
	if (r == 0 && (r = artifact__digests_final(&dg, a)) < 0)
		pub__errf(errbuf, errlen, "%s: computing its digests failed", what);
	if (r == 0)
		r = artifact__check_metadata(a, o, what, &found, errbuf, errlen);
out:
	artifact__digests_free(&dg);
	free(found.member);
	free(found.data);
	return r;
}

struct fd_source {
	int fd;
};

static ssize_t fd_read(void *data, void *buf, size_t n)
{
	struct fd_source *s = data;
	ssize_t k;

	do {
		k = read(s->fd, buf, n);
	} while (k < 0 && errno == EINTR);
	return k < 0 ? -errno : k;
}

int artifact_inspect(const char *path, const struct artifact_options *opts,
		     struct artifact **ret, char *errbuf, size_t errlen)
{
	struct artifact_options o = options_of(opts);
	struct fd_source fs = {.fd = -1};
	struct artifact_source src = {.read = fd_read, .data = &fs};
	struct artifact *a = NULL;
	char what[PUB_QUOTE_MAX];
	uint64_t bytes = 0;
	struct stat st;
	int r;

	pub__quote(path, strlen(path), what, sizeof(what));
	r = artifact_begin(path, what, &a, errbuf, errlen);
	if (r < 0)
		return r;
	fs.fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fs.fd < 0 || fstat(fs.fd, &st) < 0) {
		r = -errno;
		pub__errf(errbuf, errlen, "%s: %s", what, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		pub__errf(errbuf, errlen, "%s: not a regular file", what);
		r = -EINVAL;
		goto out;
	}
	a->size = (uint64_t)st.st_size;
	a->dev = st.st_dev;
	a->ino = st.st_ino;
	a->mtime = st.st_mtim;
	r = inspect_bytes(a, &src, &o, what, &bytes, errbuf, errlen);
	if (r < 0)
		goto out;
	if (bytes != a->size) {
		pub__errf(errbuf, errlen, "%s: file changed while it was read", what);
		r = PUB_ECHANGED;
		goto out;
	}
	r = artifact_check_unchanged(a, fs.fd, errbuf, errlen);
	if (r < 0)
		goto out;
	*ret = a;
	a = NULL; /* transferred */
out:
	if (fs.fd >= 0)
		close(fs.fd);
	artifact_free(a);
	return r;
}

int artifact_inspect_source(const char *path, const struct artifact_source *src,
			    const struct artifact_options *opts, struct artifact **ret,
			    char *errbuf, size_t errlen)
{
	struct artifact_options o = options_of(opts);
	struct artifact *a = NULL;
	char what[PUB_QUOTE_MAX];
	int r;

	pub__quote(path, strlen(path), what, sizeof(what));
	r = artifact_begin(path, what, &a, errbuf, errlen);
	if (r == 0)
		r = inspect_bytes(a, src, &o, what, &a->size, errbuf, errlen);
	if (r < 0) {
		artifact_free(a);
		return r;
	}
	*ret = a;
	return 0;
}

int artifact__begin_record(const char *path, const struct artifact_options *opts,
			   struct artifact **ret, struct artifact_options *ret_opts,
			   char *what, char *errbuf, size_t errlen)
{
	pub__quote(path, strlen(path), what, PUB_QUOTE_MAX);
	*ret_opts = options_of(opts);
	return artifact_begin(path, what, ret, errbuf, errlen);
}
