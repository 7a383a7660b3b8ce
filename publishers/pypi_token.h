/* pypi_token.h - what a PyPI API token says about itself.
 *
 * A PyPI token is "pypi-" and a macaroon in pymacaroons' V2 binary form,
 * base64url (pypi/warehouse: warehouse/macaroons/services.py).  Its caveats
 * are compact JSON (warehouse/macaroons/caveats/_core.py, serialize()):
 * [1,["name",...]] limits it to projects by normalized name (ProjectName),
 * [2,[...]] by project id; tokens made before that format carry
 * {"version": 1, "permissions": {"projects": [...]}}.  A caveat is readable
 * to whoever holds the token and names projects only, so it may be shown;
 * the decoded bytes are wiped all the same.
 */
#ifndef AOS_PYPI_TOKEN_H
#define AOS_PYPI_TOKEN_H

#include <stddef.h>

#define PYPI_TOKEN_MAX 8192 /* bytes of a token looked at */

/* Writes the names of the projects token (len bytes, not NUL-terminated)
 * is limited to into out (outlen bytes), comma-separated: "a, b".  Returns
 * how many (0: no ProjectName caveat, e.g. an account-wide token or one
 * limited by project id), AOS_EPARSE if token is not a PyPI macaroon, or
 * AOS_ETOOBIG past PYPI_TOKEN_MAX.  out is "" unless names were found. */
int pypi_token_projects(const char *token, size_t len, char *out, size_t outlen);

#endif
