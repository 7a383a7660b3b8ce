/* semver.h - Semantic Versioning 2.0.0 validation and precedence.
 *
 * Versions are strict: "MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]" with no
 * leading "v" and no leading zeros in numeric identifiers, as npm stores
 * them.  Numbers may be of any length (compared as digit strings).
 */
#ifndef AOS_SEMVER_H
#define AOS_SEMVER_H

#include <stdbool.h>
#include <stddef.h>

#define SEMVER_MAX 256 /* bound on a version's length, with NUL */

/* True if v is a valid semantic version shorter than SEMVER_MAX. */
bool semver_valid(const char *v);

/* True if v is valid and has a prerelease part ("1.0.0-rc.1"). */
bool semver_is_prerelease(const char *v);

/* The first identifier of v's prerelease part ("beta" for "1.0.0-beta.1",
 * "0" for "1.0.0-0.3"): sets *ret to where it starts in v and returns its
 * length, or 0 if v is not valid or not a prerelease. */
size_t semver_prerelease_first(const char *v, const char **ret);

/* Compares a and b by semver 2.0 precedence (build metadata ignored,
 * "1.0.0-alpha" < "1.0.0-alpha.1" < "1.0.0-beta" < "1.0.0").  Returns 0 and
 * sets *ret_cmp to a negative, zero or positive number, or -EINVAL if a or b
 * is not valid. */
int semver_compare(const char *a, const char *b, int *ret_cmp);

#endif
