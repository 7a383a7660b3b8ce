#include <ctype.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "common/err.h"
#include "publishers/pub_err.h"
#include "publishers/pub_util.h"
#include "publishers/pypi_name.h"

#define PEP440_MAX_RELEASE 32
#define PEP440_MAX_LOCAL 32

/* A digit or alphanumeric run inside the version string being parsed. */
struct span {
	const char *p;
	size_t n;
};

struct pep440 {
	struct span epoch;
	struct span release[PEP440_MAX_RELEASE];
	size_t nrelease;
	const char *pre_l; /* "a", "b", "rc" or NULL */
	struct span pre_n;
	bool post;
	struct span post_n;
	bool dev;
	struct span dev_n;
	struct span local[PEP440_MAX_LOCAL];
	size_t nlocal;
};

static bool is_alnum(char c)
{
	return isascii((unsigned char)c) && isalnum((unsigned char)c);
}

bool pypi_name_valid(const char *name)
{
	size_t n = strlen(name), i;

	if (n == 0 || n >= PYPI_NAME_MAX)
		return false;
	if (!is_alnum(name[0]) || !is_alnum(name[n - 1]))
		return false;
	for (i = 0; i < n; i++) {
		if (!is_alnum(name[i]) && name[i] != '.' && name[i] != '-' &&
		    name[i] != '_')
			return false;
	}
	return true;
}

int pypi_name_normalize(const char *name, char *out, size_t outlen)
{
	size_t o = 0;
	const char *p;

	if (!pypi_name_valid(name))
		return -EINVAL;
	for (p = name; *p != '\0'; p++) {
		if (o + 2 > outlen)
			return AOS_ETOOBIG;
		if (*p == '.' || *p == '-' || *p == '_') {
			if (o > 0 && out[o - 1] == '-')
				continue;
			out[o++] = '-';
		} else {
			out[o++] = (char)tolower((unsigned char)*p);
		}
	}
	out[o] = '\0';
	return 0;
}

bool pypi_name_equal(const char *a, const char *b)
{
	char na[PYPI_NAME_MAX], nb[PYPI_NAME_MAX];

	if (pypi_name_normalize(a, na, sizeof(na)) < 0 ||
	    pypi_name_normalize(b, nb, sizeof(nb)) < 0)
		return false;
	return strcmp(na, nb) == 0;
}

static const char *digits(const char *p, struct span *ret)
{
	const char *s = p;

	while (*p >= '0' && *p <= '9')
		p++;
	ret->p = s;
	ret->n = (size_t)(p - s);
	return p;
}

static const char *opt_sep(const char *p)
{
	return (*p == '-' || *p == '_' || *p == '.') ? p + 1 : p;
}

/* Matches the first of words (in order) at p, ignoring case. */
static const char *word(const char *p, const char *const *words, size_t *ret_i)
{
	size_t i;

	for (i = 0; words[i] != NULL; i++) {
		if (strncasecmp(p, words[i], strlen(words[i])) == 0) {
			*ret_i = i;
			return p + strlen(words[i]);
		}
	}
	return NULL;
}

/* Parses a PEP 440 version (the packaging VERSION_PATTERN, case-insensitive,
 * with surrounding white space).  Returns 0 or -EINVAL. */
static int pep440_parse(const char *s, struct pep440 *v)
{
	static const char *const pre_words[] = {"alpha", "a", "beta", "b", "preview",
						"pre",	 "c", "rc",   NULL};
	static const char *const pre_norm[] = {"a",  "a",  "b",	 "b",
					       "rc", "rc", "rc", "rc"};
	static const char *const post_words[] = {"post", "rev", "r", NULL};
	static const char *const dev_words[] = {"dev", NULL};
	const char *p = s, *q;
	struct span d;
	size_t i;

	memset(v, 0, sizeof(*v));
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	if (*p == 'v' || *p == 'V')
		p++;
	q = digits(p, &d);
	if (d.n == 0)
		return -EINVAL;
	if (*q == '!') {
		v->epoch = d;
		p = digits(q + 1, &d);
		if (d.n == 0)
			return -EINVAL;
	} else {
		p = q;
	}
	v->release[v->nrelease++] = d;
	while (*p == '.' && p[1] >= '0' && p[1] <= '9') {
		if (v->nrelease == PEP440_MAX_RELEASE)
			return -EINVAL;
		p = digits(p + 1, &v->release[v->nrelease++]);
	}
	q = word(opt_sep(p), pre_words, &i);
	if (q != NULL) {
		v->pre_l = pre_norm[i];
		p = digits(opt_sep(q), &v->pre_n);
	}
	if (*p == '-' && p[1] >= '0' && p[1] <= '9') {
		v->post = true;
		p = digits(p + 1, &v->post_n);
	} else if ((q = word(opt_sep(p), post_words, &i)) != NULL) {
		v->post = true;
		p = digits(opt_sep(q), &v->post_n);
	}
	if ((q = word(opt_sep(p), dev_words, &i)) != NULL) {
		v->dev = true;
		p = digits(opt_sep(q), &v->dev_n);
	}
	if (*p == '+') {
		do {
			p++;
			if (v->nlocal == PEP440_MAX_LOCAL)
				return -EINVAL;
			q = p;
			while (is_alnum(*p))
				p++;
			if (p == q)
				return -EINVAL;
			v->local[v->nlocal].p = q;
			v->local[v->nlocal++].n = (size_t)(p - q);
		} while (*p == '-' || *p == '_' || *p == '.');
	}
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return *p == '\0' ? 0 : -EINVAL;
}

struct out {
	char *p;
	size_t len, cap;
	bool full;
};

static void put(struct out *o, const char *s, size_t n)
{
	if (o->full || o->len + n + 1 > o->cap) {
		o->full = true;
		return;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
}

/* Writes a digit run without leading zeros ("" counts as "0"). */
static void put_int(struct out *o, struct span d)
{
	while (d.n > 1 && d.p[0] == '0') {
		d.p++;
		d.n--;
	}
	if (d.n == 0)
		put(o, "0", 1);
	else
		put(o, d.p, d.n);
}

static bool all_digits(struct span d)
{
	size_t i;

	for (i = 0; i < d.n; i++) {
		if (d.p[i] < '0' || d.p[i] > '9')
			return false;
	}
	return true;
}

static bool is_zero(struct span d)
{
	size_t i;

	for (i = 0; i < d.n; i++) {
		if (d.p[i] != '0')
			return false;
	}
	return true;
}

static int pep440_format(const struct pep440 *v, bool strip_zeros, char *out,
			 size_t outlen)
{
	struct out o = {out, 0, outlen, outlen == 0};
	size_t i, n = v->nrelease;
	char c;

	if (outlen > 0)
		out[0] = '\0';
	if (v->epoch.n > 0 && !is_zero(v->epoch)) {
		put_int(&o, v->epoch);
		put(&o, "!", 1);
	}
	while (strip_zeros && n > 1 && is_zero(v->release[n - 1]))
		n--;
	for (i = 0; i < n; i++) {
		if (i > 0)
			put(&o, ".", 1);
		put_int(&o, v->release[i]);
	}
	if (v->pre_l != NULL) {
		put(&o, v->pre_l, strlen(v->pre_l));
		put_int(&o, v->pre_n);
	}
	if (v->post) {
		put(&o, ".post", 5);
		put_int(&o, v->post_n);
	}
	if (v->dev) {
		put(&o, ".dev", 4);
		put_int(&o, v->dev_n);
	}
	for (i = 0; i < v->nlocal; i++) {
		put(&o, i == 0 ? "+" : ".", 1);
		if (all_digits(v->local[i])) {
			put_int(&o, v->local[i]);
			continue;
		}
		for (size_t k = 0; k < v->local[i].n; k++) {
			c = (char)tolower((unsigned char)v->local[i].p[k]);
			put(&o, &c, 1);
		}
	}
	return o.full ? AOS_ETOOBIG : 0;
}

int pypi_version_normalize(const char *version, char *out, size_t outlen)
{
	struct pep440 v;
	int r;

	r = pep440_parse(version, &v);
	if (r < 0)
		return r;
	return pep440_format(&v, false, out, outlen);
}

bool pypi_version_equal(const char *a, const char *b)
{
	char na[PYPI_NAME_MAX], nb[PYPI_NAME_MAX];
	struct pep440 va, vb;

	if (pep440_parse(a, &va) < 0 || pep440_parse(b, &vb) < 0)
		return false;
	if (pep440_format(&va, true, na, sizeof(na)) < 0 ||
	    pep440_format(&vb, true, nb, sizeof(nb)) < 0)
		return false;
	return strcmp(na, nb) == 0;
}

/* Copies the n bytes at s into a PYPI_NAME_MAX field; false if too long. */
static bool field(char *dst, const char *s, size_t n)
{
	if (n == 0 || n >= PYPI_NAME_MAX)
		return false;
	memcpy(dst, s, n);
	dst[n] = '\0';
	return true;
}

/* As field(), for a build or compatibility tag: letters, digits, "_" and
 * "." only (the binary distribution format's tags), so that a file name
 * cannot put other bytes into the upload's pyversion. */
static bool tag_field(char *dst, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!is_alnum(s[i]) && s[i] != '_' && s[i] != '.')
			return false;
	return field(dst, s, n);
}

int pypi_wheel_name_parse(const char *filename, struct pypi_wheel_name *ret)
{
	const char *parts[6], *p;
	size_t lens[6], n = 0, len;
	struct pypi_wheel_name w;

	memset(&w, 0, sizeof(w));
	if (!pub__endswith_nocase(filename, ".whl"))
		return PUB_EFILENAME;
	len = strlen(filename) - 4;
	p = filename;
	while (p < filename + len) {
		const char *dash = memchr(p, '-', (size_t)(filename + len - p));
		const char *end = dash != NULL ? dash : filename + len;

		if (n == 6)
			return PUB_EFILENAME;
		parts[n] = p;
		lens[n++] = (size_t)(end - p);
		p = dash != NULL ? dash + 1 : filename + len;
		if (dash != NULL && p == filename + len)
			return PUB_EFILENAME; /* trailing dash */
	}
	if (n != 5 && n != 6)
		return PUB_EFILENAME;
	if (!field(w.name, parts[0], lens[0]) || !field(w.version, parts[1], lens[1]))
		return PUB_EFILENAME;
	if (n == 6) {
		if (!tag_field(w.build, parts[2], lens[2]) || w.build[0] < '0' ||
		    w.build[0] > '9')
			return PUB_EFILENAME;
	}
	if (!tag_field(w.python, parts[n - 3], lens[n - 3]) ||
	    !tag_field(w.abi, parts[n - 2], lens[n - 2]) ||
	    !tag_field(w.platform, parts[n - 1], lens[n - 1]))
		return PUB_EFILENAME;
	*ret = w;
	return 0;
}

int pypi_stem_check(const char *stem, size_t n, const char *name, const char *version)
{
	char buf[PYPI_NAME_MAX * 2];
	bool name_seen = false;
	size_t i;

	if (n >= sizeof(buf))
		return PUB_ENAME;
	memcpy(buf, stem, n);
	buf[n] = '\0';
	for (i = 1; i + 1 < n; i++) {
		if (buf[i] != '-')
			continue;
		buf[i] = '\0';
		if (pypi_name_equal(buf, name)) {
			name_seen = true;
			if (pypi_version_equal(buf + i + 1, version))
				return 0;
		}
		buf[i] = '-';
	}
	return name_seen ? PUB_EVERSION : PUB_ENAME;
}

int pypi_sdist_name_check(const char *filename, const char *name, const char *version,
			  char *errbuf, size_t errlen)
{
	char q[PUB_QUOTE_MAX], qm[PUB_QUOTE_MAX];
	size_t len;
	int r;

	if (pub__endswith_nocase(filename, ".tar.gz"))
		len = strlen(filename) - 7;
	else if (pub__endswith_nocase(filename, ".zip"))
		len = strlen(filename) - 4;
	else
		len = PYPI_NAME_MAX * 2;
	if (len >= PYPI_NAME_MAX * 2) {
		pub__errf(errbuf, errlen,
			  "%s: not an sdist file name (<name>-<version>.tar.gz)",
			  pub__quote(filename, strlen(filename), q, sizeof(q)));
		return PUB_EFILENAME;
	}
	r = pypi_stem_check(filename, len, name, version);
	if (r == 0)
		return 0;
	pub__quote(filename, strlen(filename), q, sizeof(q));
	if (r == PUB_EVERSION) {
		pub__errf(errbuf, errlen,
			  "%s: file name version does not match metadata Version %s", q,
			  pub__quote(version, strlen(version), qm, sizeof(qm)));
		return PUB_EVERSION;
	}
	pub__errf(errbuf, errlen, "%s: file name does not start with metadata Name %s", q,
		  pub__quote(name, strlen(name), qm, sizeof(qm)));
	return PUB_ENAME;
}
