/* pub_util.h - helpers shared by the publishers' source files (internal).
 *
 * Not part of the public API: the functions carry the pub__ prefix and are
 * used only inside publishers/ and by its unit tests.
 */
#ifndef AOS_PUB_UTIL_H
#define AOS_PUB_UTIL_H

#include <stdbool.h>
#include <stddef.h>

/* Bound on a quoted piece of untrusted text inside an error message. */
#define PUB_QUOTE_MAX 160

/* Formats an error message into errbuf (if errbuf is not NULL and errlen is
 * not 0), truncating as needed.  Returns nothing: the message is advisory. */
void pub__errf(char *errbuf, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* True if s[0..len) is well-formed UTF-8 (no overlong forms, surrogates or
 * code points past U+10FFFF).  On false, *ret_off (if not NULL) is set to the
 * offset of the first bad byte. */
bool pub__utf8_valid(const char *s, size_t len, size_t *ret_off);

/* Copies untrusted text into out (outlen bytes, always NUL-terminated) for
 * display: control characters and runs of white space become one space,
 * invalid UTF-8 becomes '?', and text past outlen - 4 is cut on a character
 * boundary and ends in "...".  Returns out. */
char *pub__quote(const char *in, size_t inlen, char *out, size_t outlen);

/* Returns a malloc'ed NUL-terminated copy of s[0..n), or NULL. */
char *pub__strndup(const char *s, size_t n);

/* Prefix and suffix tests (the _nocase one ignores ASCII case). */
bool pub__endswith(const char *s, const char *suffix);
bool pub__endswith_nocase(const char *s, const char *suffix);

/* Finds needle in hay[0..len) ignoring ASCII case; NULL if absent. */
const char *pub__memcasemem(const char *hay, size_t len, const char *needle);

#endif
