/* vault.h - the Vault/OpenBao HTTP protocol: building requests and reading
 * answers.  No I/O happens here: callers run the configured easy handles
 * (agent/transport) and pass the answers back in.  Nothing here logs.
 */
#ifndef AOS_VAULT_H
#define AOS_VAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "common/buf.h"
#include "common/secret.h"

struct vault_conn {
	const char *address;   /* base URL, e.g. https://vault:8200 */
	const char *namespace; /* X-Vault-Namespace, or NULL */
	const char *ca_file;   /* or NULL */
	const char *ca_path;   /* or NULL */
};

/* What the token endpoints tell about a token. */
struct vault_token_info {
	struct secret *token;	/* login only: the client token (caller owns) */
	int64_t ttl_s;		/* remaining (lookup) or granted (login/renew) */
	int64_t creation_ttl_s; /* lookup only: TTL the token was created with */
	bool renewable;
};

/* KV v2 metadata of one path. */
struct vault_kv_meta {
	int64_t current_version;
	char created_time[40]; /* of current_version, as Vault wrote it */
	bool deleted;	       /* current version deleted or destroyed */
};

/* One requested key of a KV v2 read. */
struct vault_kv_value {
	const char *key;      /* in: the key name */
	struct secret *value; /* out: NULL when the key is absent (caller owns) */
	bool not_string;      /* out: present but not a string */
};

/* Configures h for METHOD <address>/v1/<path>, redirects not followed (see
 * vault_redirect_next).  body (JSON, or NULL) must stay valid until the
 * transfer ends; token may be NULL.  Returns 0 and sets
 * *ret_headers, which the caller frees with vault_headers_free() after the
 * transfer; or -ENOMEM / -EINVAL. */
int vault_request_setup(CURL *h, const struct vault_conn *c, const char *method,
			const char *path, const char *body, const struct secret *token,
			struct curl_slist **ret_headers);

/* Redirects are not followed by libcurl, which would forward X-Vault-Token
 * and request bodies (AppRole login, wrapping token) to any host a Location
 * names.  The caller follows them itself, at most VAULT_MAX_REDIRECTS per
 * request, and only within the configured Vault origin (scheme, host, port):
 * a standby behind the same address may redirect to another path, a node
 * that names another host is refused. */
#define VAULT_MAX_REDIRECTS 3

/* The longest request URL (address, /v1/ and path). */
#define VAULT_URL_MAX 2048

/* True for the statuses that redirect a request (301, 302, 303, 307, 308). */
bool vault_is_redirect(long status);

/* Decides on a redirect answer to the request sent to url.  location is the
 * answer's Location (absolute, or relative to url; NULL when there was
 * none) and hops the redirects already followed for this request.  Returns
 * 0 and writes into next the URL to send the same request (method,
 * headers, body) to; or AOS_EREDIRECT with errbuf naming both origins and
 * what to do (another origin, no Location, more than VAULT_MAX_REDIRECTS).
 * Never follows to an origin other than c->address's. */
int vault_redirect_next(const struct vault_conn *c, const char *url, const char *location,
			unsigned hops, char *next, size_t nextlen, char *errbuf,
			size_t errlen);

/* Wipes (they may hold a token) and frees headers from vault_request_setup. */
void vault_headers_free(struct curl_slist *headers);

/* Maps an HTTP status to 0 (2xx) or an AOS_E* code, and writes Vault's
 * "errors" (or a description of the status) into errbuf.
 * 400 with "invalid role or secret ID" -> AOS_EAUTH, 403 -> AOS_EDENIED,
 * 404 -> AOS_ENOTFOUND, 429 -> AOS_ESTANDBY, 503 -> AOS_ESEALED, else
 * AOS_ESERVER. */
int vault_check_status(long status, const char *body, size_t len, char *errbuf,
		       size_t errlen);

/* Login and renew-self answers (auth.client_token, lease_duration,
 * renewable).  For renew, ret->token may stay NULL.  Returns 0,
 * AOS_EPARSE with errbuf set, or -ENOMEM. */
int vault_parse_auth(const char *body, size_t len, bool want_token,
		     struct vault_token_info *ret, char *errbuf, size_t errlen);

/* lookup-self answer (data.ttl, data.creation_ttl, data.renewable). */
int vault_parse_lookup(const char *body, size_t len, struct vault_token_info *ret,
		       char *errbuf, size_t errlen);

/* KV v2 metadata answer. */
int vault_parse_kv_meta(const char *body, size_t len, struct vault_kv_meta *ret,
			char *errbuf, size_t errlen);

/* KV v2 data answer: fills vals[i].value for each requested key and sets
 * *ret_version from data.metadata.version.  Returns 0, AOS_EPARSE, or
 * -ENOMEM; on error no value is left allocated. */
int vault_parse_kv_data(const char *body, size_t len, struct vault_kv_value *vals,
			size_t nvals, int64_t *ret_version, char *errbuf, size_t errlen);

/* sys/wrapping/lookup answer: copies data.creation_path into path. */
int vault_parse_wrap_lookup(const char *body, size_t len, char *path, size_t pathlen,
			    char *errbuf, size_t errlen);

/* sys/wrapping/unwrap answer of a wrapped secret_id: data.secret_id. */
int vault_parse_unwrap_secret_id(const char *body, size_t len, struct secret **ret,
				 char *errbuf, size_t errlen);

/* Checks a wrapping token's creation path.  expected may be NULL, meaning
 * "auth/<mount>/role/<name>/secret-id" for any role name.  Returns 0 or
 * AOS_EWRAP. */
int vault_check_creation_path(const char *path, const char *expected, const char *mount);

/* Builds the AppRole login body {"role_id":..,"secret_id":..} into out
 * (a buf, wiped when freed).  Returns 0, -ENOMEM or AOS_ETOOBIG. */
int vault_login_body(const struct secret *role_id, const struct secret *secret_id,
		     struct buf *out);

/* Builds {"token": "<token>"} for sys/wrapping/lookup. */
int vault_token_body(const struct secret *token, struct buf *out);

/* Dynamic secrets (the database secrets engine).  A lease id names a lease,
 * it grants nothing by itself; a username is not a secret either. */
#define VAULT_LEASE_ID_MAX 512 /* bytes of a lease id, NUL included */
#define VAULT_DB_USER_MAX 128  /* bytes of a database username, NUL included */

/* A lease, as <mount>/creds/<role> and sys/leases/renew answer it. */
struct vault_lease {
	char id[VAULT_LEASE_ID_MAX];
	int64_t duration_s; /* granted from now; always > 0 */
	bool renewable;
};

/* Credentials of the database secrets engine (GET <mount>/creds/<role>). */
struct vault_db_creds {
	char username[VAULT_DB_USER_MAX];
	struct secret *password; /* caller owns */
	struct vault_lease lease;
};

/* The answer of GET <mount>/creds/<role>: data.username, data.password,
 * lease_id, lease_duration (> 0), renewable.  Returns 0 and *ret (the
 * caller owns ret->password), AOS_EPARSE with errbuf naming what is
 * missing or too long, or -ENOMEM; on error nothing is left allocated. */
int vault_parse_db_creds(const char *body, size_t len, struct vault_db_creds *ret,
			 char *errbuf, size_t errlen);

/* The answer of PUT sys/leases/renew: lease_id, lease_duration (> 0),
 * renewable.  Returns 0, AOS_EPARSE or -ENOMEM. */
int vault_parse_lease_renew(const char *body, size_t len, struct vault_lease *ret,
			    char *errbuf, size_t errlen);

/* Builds {"lease_id": id, "increment": increment_s} for sys/leases/renew
 * into out.  Returns 0, -ENOMEM or AOS_ETOOBIG. */
int vault_lease_renew_body(const char *lease_id, int64_t increment_s, struct buf *out);

/* What the unit's SetCredential= passes when the file its LoadCredential=
 * names is missing (systemd/aos-publishd.service.in): read as "missing". */
#define VAULT_CREDENTIAL_MISSING "aos-publishd-credential-missing"

/* Reads a credential file into a new secret: trailing whitespace removed,
 * at most 4 KiB, not empty.  A relative name is looked up in creds_dir
 * (may be NULL) and then in base_dir (may be NULL).  Returns 0 and *ret, or
 * -errno / AOS_ETOOBIG / AOS_EPARSE (empty, or VAULT_CREDENTIAL_MISSING from
 * creds_dir); errbuf names the file tried, and for a missing one the file
 * to create. */
int vault_read_credential(const char *name, const char *creds_dir, const char *base_dir,
			  struct secret **ret, char *errbuf, size_t errlen);

#endif
