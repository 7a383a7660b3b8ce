/* pypi_name.h - Python package names, versions and distribution file names.
 *
 * Names are compared in their PEP 503 normalized form (lower case, runs of
 * "-", "_" and "." folded into one "-"), versions by PEP 440 (so "1.0" and
 * "1.0.0" or "1.0-1" and "1.0.post1" are equal).  Wheel file names follow
 * the binary distribution format (PEP 427/491), sdist names PEP 625 or the
 * older "<name>-<version>" forms.  No function allocates.
 */
#ifndef AOS_PYPI_NAME_H
#define AOS_PYPI_NAME_H

#include <stdbool.h>
#include <stddef.h>

#define PYPI_NAME_MAX 256 /* bound on names, versions and tags, with NUL */

/* True if name is a valid distribution name (PEP 508: ASCII letters and
 * digits, with ".", "-" or "_" inside) shorter than PYPI_NAME_MAX. */
bool pypi_name_valid(const char *name);

/* Writes the PEP 503 normalized name into out (outlen bytes).  Returns 0,
 * -EINVAL if name is not valid, or AOS_ETOOBIG if out is too small. */
int pypi_name_normalize(const char *name, char *out, size_t outlen);

/* True if a and b are valid names with the same normalized form. */
bool pypi_name_equal(const char *a, const char *b);

/* Writes the PEP 440 normalized form of version ("1.0.0-RC.1" becomes
 * "1.0.0rc1") into out.  Returns 0, -EINVAL if version is not PEP 440, or
 * AOS_ETOOBIG if out is too small. */
int pypi_version_normalize(const char *version, char *out, size_t outlen);

/* True if a and b are both PEP 440 versions and equal (trailing zero
 * release components do not count). */
bool pypi_version_equal(const char *a, const char *b);

/* The parts of a wheel file name, each NUL-terminated. */
struct pypi_wheel_name {
	char name[PYPI_NAME_MAX];
	char version[PYPI_NAME_MAX];
	char build[PYPI_NAME_MAX];  /* "" when absent */
	char python[PYPI_NAME_MAX]; /* python tag, e.g. "py3" or "cp312.cp313" */
	char abi[PYPI_NAME_MAX];
	char platform[PYPI_NAME_MAX];
};

/* Splits a wheel file name (a basename ending in ".whl") into its parts.
 * Returns 0 and fills *ret, or PUB_EFILENAME if it has not the
 * "name-version(-build)?-python-abi-platform.whl" form. */
int pypi_wheel_name_parse(const char *filename, struct pypi_wheel_name *ret);

/* Checks a "<name>-<version>" stem of n bytes (an sdist's file name, a
 * wheel's .dist-info folder) against name and version, trying every dash:
 * names may hold dashes there (old sdists; not every tool escapes).
 * Returns 0, PUB_ENAME (no split gives the name, or the stem is longer than
 * a name and a version can be) or PUB_EVERSION. */
int pypi_stem_check(const char *stem, size_t n, const char *name, const char *version);

/* Checks that an sdist file name ("<name>-<version>.tar.gz" or ".zip")
 * agrees with name and version.  Returns 0, PUB_EFILENAME (not an sdist
 * name), PUB_ENAME or PUB_EVERSION; errbuf says which and why. */
int pypi_sdist_name_check(const char *filename, const char *name, const char *version,
			  char *errbuf, size_t errlen);

#endif
