/* token_check.h - each registry's token checked when it is loaded or
 * rotated, before a release needs it: npm with the registry (GET
 * -/whoami), PyPI API tokens by reading their caveats (project restriction,
 * expiry: publishers/pypi_token.h), anything else "not checkable".  Results
 * go to the log (a refusal, an expiry within 14 days, a project
 * restriction that does not fit the pipelines are warnings) and to status. */
#ifndef AOS_TOKEN_CHECK_H
#define AOS_TOKEN_CHECK_H

#include <cjson/cJSON.h>

struct agent;
struct token_checks;

/* Warn this long before a token's expiry. */
#define TOKEN_EXPIRY_WARN_S (14 * 86400)

/* Returns 0 and *ret, or -ENOMEM. */
int token_checks_new(struct agent *a, struct token_checks **ret);

/* After the secrets or the configuration changed: checks every registry
 * whose token value is new (a new version, or another key) since the last
 * check. */
void token_checks_update(struct token_checks *tc);

/* [{registry, key, version, state, account?, projects?, expires?,
 * not_before?, message, warnings?}] for status; state is one of checking,
 * valid, refused, expired, not_yet_valid, claims_read (a PyPI token's
 * caveats: PyPI has no endpoint to ask), not_checkable, unknown (no answer). */
cJSON *token_checks_json(const struct token_checks *tc);

/* A value about to be written to Vault as key (secrets.check), checked for
 * every registry whose token_key is key, as the token in use would be:
 * cb(checks, data) runs once with the array token_checks_json() would show
 * (the caller owns it; empty when no registry uses key), now or when the
 * registries answer.  *ret is the running check (NULL once answered), to
 * cancel if the client leaves.  The value is not kept.  Returns 0 or
 * -ENOMEM (cb not called). */
struct secret;
struct token_candidate;
typedef void (*token_candidate_cb)(cJSON *checks, void *data);
int token_check_candidate(struct token_checks *tc, const char *key,
			  const struct secret *value, token_candidate_cb cb, void *data,
			  struct token_candidate **ret);
void token_candidate_cancel(struct token_candidate *c); /* cb not called */

/* Cancels running checks and frees tc (before the transport closes).
 * Accepts NULL. */
void token_checks_free(struct token_checks *tc);

#endif
