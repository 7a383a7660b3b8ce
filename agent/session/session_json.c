/* session_json.c - the session's state as JSON for the control socket.
 * Secrets appear only as fingerprints. */
#include <stdio.h>

#include "session/session.h"
#include "session_internal.h"

struct secret_store *session_store(struct vault_session *s)
{
	return s->store;
}

const struct secret *session_token(const struct vault_session *s)
{
	return s->token;
}

bool session_loaded(const struct vault_session *s)
{
	return s->loaded;
}

bool session_healthy(const struct vault_session *s)
{
	return s->loaded && s->failures == 0 && !s->creds_bad &&
	       store_missing(s->store) == 0;
}

const char *session_last_error(const struct vault_session *s)
{
	if (s->last_error[0] != '\0' && (s->failures > 0 || s->creds_bad))
		return s->last_error;
	return NULL;
}

static double age_s(const struct vault_session *s, uint64_t then_ms)
{
	uint64_t now = s->io->now(s);

	return then_ms > now ? 0 : (double)(now - then_ms) / 1000.0;
}

static double until_s(const struct vault_session *s, uint64_t due_ms)
{
	uint64_t now = s->io->now(s);

	return due_ms > now ? (double)(due_ms - now) / 1000.0 : 0;
}

cJSON *session_vault_json(const struct vault_session *s)
{
	cJSON *o = cJSON_CreateObject();
	const char *err = session_last_error(s);
	int64_t ttl = 0;

	if (o == NULL)
		return NULL;
	if (s->token != NULL && s->token_ttl_s > 0) {
		ttl = s->token_ttl_s - (int64_t)(age_s(s, s->token_at_ms));
		if (ttl < 0)
			ttl = 0;
	}
	cJSON_AddStringToObject(o, "address", s->conn.address);
	cJSON_AddStringToObject(
	    o, "auth_method", s->cfg->vault.method == AUTH_APPROLE ? "approle" : "token");
	cJSON_AddBoolToObject(o, "healthy",
			      s->loaded && s->failures == 0 && !s->creds_bad);
	cJSON_AddBoolToObject(o, "authenticated", s->token != NULL);
	cJSON_AddStringToObject(o, "kv", s->kv_name);
	cJSON_AddNumberToObject(o, "kv_version", (double)s->checked_version);
	cJSON_AddNumberToObject(o, "token_ttl_s", (double)ttl);
	cJSON_AddBoolToObject(o, "token_renewable", s->token_renewable);
	cJSON_AddNumberToObject(o, "consecutive_failures", s->failures);
	if (err != NULL)
		cJSON_AddStringToObject(o, "last_error", err);
	else
		cJSON_AddNullToObject(o, "last_error");
	if (s->last_success_ms > 0)
		cJSON_AddNumberToObject(o, "last_success_age_s",
					(double)(int64_t)age_s(s, s->last_success_ms));
	else
		cJSON_AddNullToObject(o, "last_success_age_s");
	if (s->in_backoff)
		cJSON_AddNumberToObject(o, "next_attempt_in_s",
					until_s(s, s->next_attempt_ms));
	else if (s->loaded)
		cJSON_AddNumberToObject(o, "next_attempt_in_s",
					until_s(s, s->next_poll_ms));
	cJSON_AddBoolToObject(o, "waiting_for_operator", s->creds_bad);
	cJSON_AddNumberToObject(o, "requests", (double)s->requests);
	cJSON_AddNumberToObject(o, "logins", (double)s->logins);
	cJSON_AddNumberToObject(o, "renewals", (double)s->renewals);
	if (s->missing[0] != '\0')
		cJSON_AddStringToObject(o, "missing_keys", s->missing);
	return o;
}

cJSON *session_secrets_json(const struct vault_session *s)
{
	cJSON *arr = cJSON_CreateArray();
	size_t i;

	if (arr == NULL)
		return NULL;
	for (i = 0; i < store_size(s->store); i++) {
		const struct store_entry *e = store_entry_at(s->store, i);
		cJSON *o = cJSON_CreateObject();

		if (o == NULL)
			break;
		cJSON_AddStringToObject(o, "key", e->key);
		cJSON_AddBoolToObject(o, "present", e->value != NULL);
		if (e->value != NULL) {
			cJSON_AddNumberToObject(o, "version", (double)e->version);
			cJSON_AddStringToObject(o, "created_time", e->created_time);
			cJSON_AddStringToObject(o, "fingerprint", e->fingerprint);
			/* References beyond the store's own are uploads using it. */
			cJSON_AddNumberToObject(o, "in_use", secret_refs(e->value) - 1);
		}
		cJSON_AddItemToArray(arr, o);
	}
	return arr;
}
