#include <errno.h>
#include <string.h>

#include "publishers/semver.h"

struct semver {
	const char *num[3];
	size_t numlen[3];
	const char *pre; /* first prerelease identifier, or NULL */
	size_t prelen;	 /* length of the whole prerelease part */
};

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_ident_char(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       c == '-';
}

/* Parses a numeric identifier without leading zeros; returns the end or NULL. */
static const char *number(const char *p, const char **ret, size_t *ret_len)
{
	const char *s = p;

	while (is_digit(*p))
		p++;
	if (p == s || (p - s > 1 && *s == '0'))
		return NULL;
	*ret = s;
	*ret_len = (size_t)(p - s);
	return p;
}

/* Parses dot-separated identifiers; numeric ones must have no leading zeros
 * when strict.  Returns the end or NULL. */
static const char *idents(const char *p, bool strict)
{
	const char *s;
	bool numeric;

	for (;;) {
		s = p;
		numeric = true;
		while (is_ident_char(*p)) {
			if (!is_digit(*p))
				numeric = false;
			p++;
		}
		if (p == s)
			return NULL;
		if (strict && numeric && p - s > 1 && *s == '0')
			return NULL;
		if (*p != '.')
			return p;
		p++;
	}
}

static bool parse(const char *v, struct semver *ret)
{
	const char *p = v, *e;
	int i;

	if (strlen(v) >= SEMVER_MAX)
		return false;
	memset(ret, 0, sizeof(*ret));
	for (i = 0; i < 3; i++) {
		p = number(p, &ret->num[i], &ret->numlen[i]);
		if (p == NULL)
			return false;
		if (i < 2 && *p++ != '.')
			return false;
	}
	if (*p == '-') {
		e = idents(p + 1, true);
		if (e == NULL)
			return false;
		ret->pre = p + 1;
		ret->prelen = (size_t)(e - p - 1);
		p = e;
	}
	if (*p == '+') {
		p = idents(p + 1, false);
		if (p == NULL)
			return false;
	}
	return *p == '\0';
}

bool semver_valid(const char *v)
{
	struct semver s;

	return parse(v, &s);
}

bool semver_is_prerelease(const char *v)
{
	struct semver s;

	return parse(v, &s) && s.pre != NULL;
}

size_t semver_prerelease_first(const char *v, const char **ret)
{
	struct semver s;
	const char *dot;

	if (!parse(v, &s) || s.pre == NULL)
		return 0;
	dot = memchr(s.pre, '.', s.prelen);
	*ret = s.pre;
	return dot != NULL ? (size_t)(dot - s.pre) : s.prelen;
}

/* Compares digit strings without leading zeros. */
static int numcmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c;

	if (alen != blen)
		return alen < blen ? -1 : 1;
	c = memcmp(a, b, alen);
	return c < 0 ? -1 : c > 0;
}

static bool all_digits(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (!is_digit(p[i]))
			return false;
	}
	return true;
}

/* Compares two prerelease parts identifier by identifier. */
static int precmp(const char *a, size_t alen, const char *b, size_t blen)
{
	const char *ae = a + alen, *be = b + blen, *ad, *bd;
	size_t an, bn;
	bool anum, bnum;
	int c;

	while (a < ae && b < be) {
		ad = memchr(a, '.', (size_t)(ae - a));
		bd = memchr(b, '.', (size_t)(be - b));
		an = (size_t)((ad != NULL ? ad : ae) - a);
		bn = (size_t)((bd != NULL ? bd : be) - b);
		anum = all_digits(a, an);
		bnum = all_digits(b, bn);
		if (anum && bnum)
			c = numcmp(a, an, b, bn);
		else if (anum != bnum)
			c = anum ? -1 : 1; /* numeric identifiers sort first */
		else {
			c = memcmp(a, b, an < bn ? an : bn);
			if (c == 0)
				c = an < bn ? -1 : an > bn;
		}
		if (c != 0)
			return c < 0 ? -1 : 1;
		a += an + (ad != NULL);
		b += bn + (bd != NULL);
	}
	if (a < ae)
		return 1; /* more identifiers sort later */
	if (b < be)
		return -1;
	return 0;
}

int semver_compare(const char *a, const char *b, int *ret_cmp)
{
	struct semver sa, sb;
	int i, c;

	if (!parse(a, &sa) || !parse(b, &sb))
		return -EINVAL;
	for (i = 0; i < 3; i++) {
		c = numcmp(sa.num[i], sa.numlen[i], sb.num[i], sb.numlen[i]);
		if (c != 0) {
			*ret_cmp = c;
			return 0;
		}
	}
	if (sa.pre == NULL || sb.pre == NULL)
		c = (sa.pre == NULL) -
		    (sb.pre == NULL); /* a release sorts after its prereleases */
	else
		c = precmp(sa.pre, sa.prelen, sb.pre, sb.prelen);
	*ret_cmp = c;
	return 0;
}
