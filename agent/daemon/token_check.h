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

/* Cancels running checks and frees tc (before the transport closes).
 * Accepts NULL. */
void token_checks_free(struct token_checks *tc);

#endif
