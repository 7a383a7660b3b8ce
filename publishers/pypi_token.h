/* pypi_token.h - what a PyPI API token says about itself.  PyPI's tokens
 * are "pypi-" and a macaroon (binary format 2, base64url without padding)
 * whose caveats restrict them: Warehouse's warehouse/macaroons/caveats/
 * (tags 0 Expiration [0, expires_at, not_before], 1 ProjectName [1,
 * [names]], 2 ProjectID [2, [ids]], 3 RequestUser [3, user_id], 4
 * OIDCProvider [4, id]) and the legacy mappings of caveats/_legacy.py
 * ({"version": 1, "permissions": "user" | {"projects": [...]}}, {"exp",
 * "nbf"}, {"project_ids"}).  The signature cannot be checked without PyPI's
 * key: this reads the claims, it does not prove the token valid. */
#ifndef AOS_PYPI_TOKEN_H
#define AOS_PYPI_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PYPI_TOKEN_MAX 8192 /* characters after "pypi-" looked at */
#define PYPI_TOKEN_PROJECTS 16
#define PYPI_TOKEN_NAME 128

struct pypi_token_info {
	/* Project restrictions (all must hold, so the projects allowed are
	 * those in every list; names are PEP 503-normalized). */
	size_t nprojects;
	char projects[PYPI_TOKEN_PROJECTS][PYPI_TOKEN_NAME];
	bool by_project_id; /* a ProjectID caveat: ids, not names */
	int64_t not_before; /* Unix time, 0 if none */
	int64_t expires;    /* Unix time, 0 if none */
	bool user_bound;    /* RequestUser: usable by one user's session only */
	bool oidc;	    /* OIDCProvider: a trusted-publisher token */
	size_t ncaveats;
	size_t unknown; /* caveats this reader does not know */
};

/* Reads token[0..len) (the value as stored, without a trailing newline).
 * Returns 0 and *out, or -EINVAL (no "pypi-" prefix: not a PyPI API token)
 * or -EBADMSG (not a readable macaroon), with errbuf saying which part; the
 * message never quotes the token. */
int pypi_token_inspect(const char *token, size_t len, struct pypi_token_info *out,
		       char *errbuf, size_t errlen);

/* Whether the token's project restriction allows project (a name as
 * written; true when the token has no name restriction). */
bool pypi_token_allows(const struct pypi_token_info *t, const char *project);

/* Writes the names of the projects token (len bytes) is limited to into out
 * (outlen bytes), comma-separated: "a, b"; a name past out's room is
 * counted, not cut.  Returns how many (0: no name restriction, e.g. an
 * account-wide token or one limited by project id), AOS_EPARSE if token is
 * not a PyPI macaroon, AOS_ETOOBIG past PYPI_TOKEN_MAX.  A caveat names
 * projects only, so the result may be shown (a refusal names them). */
int pypi_token_projects(const char *token, size_t len, char *out, size_t outlen);

#endif
