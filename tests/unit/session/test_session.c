/* Unit tests for agent/session/session.c: the Vault session state machine,
 * driven through its clock, timer and transport seam (session_fixture.h).
 * Every Vault answer is scripted; time moves only when a test moves it. */
#include "session_fixture.h"

#define TTL_MS 3600000u
#define DAY_S 86400

struct waiter {
	struct session_waiter w;
	unsigned calls;
	int result;
	char error[256];
};

static void waiter_cb(struct session_waiter *sw, int result, const char *error)
{
	struct waiter *w = (struct waiter *)sw;

	w->calls++;
	w->result = result;
	snprintf(w->error, sizeof(w->error), "%s", error != NULL ? error : "");
}

static const char *value_of(struct fx *f, const char *key)
{
	struct secret *v = store_get(session_store(f->s), key);

	return v != NULL ? secret_value(v) : NULL;
}

/* A session logged in with the plain secret_id and loaded (polling a day
 * apart, out of the way), moved to its first renewal: the renew-self
 * request is in flight.  rnd: the random source's constant. */
static struct fx *at_first_renewal(uint64_t rnd)
{
	struct fx *f = fx_new(false);

	f->cfg.vault.poll_interval_s = DAY_S;
	fx_rnd_value = rnd;
	session_start(f->s);
	fx_load(f, "SID-1");
	fx_run_timer(f, SESSION_RENEW);
	fx_expect(f, "POST", "auth/token/renew-self");
	return f;
}

static void test_start_loads(void **state)
{
	struct fx *f = fx_new(false);

	(void)state;
	session_start(f->s);
	fx_load(f, "\"secret_id\":\"SID-1\"");
	assert_int_equal(f->first_ready, 1);
	assert_string_equal(value_of(f, "PYPI"), "pypi-1");
	assert_string_equal(value_of(f, "NPM"), "npm-1");
	assert_int_equal(f->s->logins, 1);
	assert_true(f->armed[SESSION_POLL]);
	assert_int_equal(f->delay[SESSION_POLL], 54000); /* 60 s - 10 % */
	assert_false(f->armed[SESSION_RETRY]);
	fx_free(f);
}

/* Renewal is drawn from 60 % to 70 % of the TTL, and renews the token. */
static void test_renew_at_two_thirds(void **state)
{
	struct fx *f = at_first_renewal(UINT64_MAX);

	(void)state;
	/* the delay the renewal timer was armed with at login */
	assert_in_range(f->delay[SESSION_RENEW], TTL_MS * 6 / 10, TTL_MS * 7 / 10);
	assert_int_equal(f->delay[SESSION_RENEW],
			 uniform_ms(TTL_MS * 6 / 10, TTL_MS * 7 / 10, fx_rnd, NULL));
	assert_int_equal(f->now, f->delay[SESSION_RENEW]);
	assert_string_equal(f->token, "TOK-1");
	assert_string_equal(f->body, "{}");
	fx_reply(f, "POST", "auth/token/renew-self", 200, FX_RENEWED(3600));
	assert_null(f->req); /* TTL not capped: no login */
	assert_false(f->s->relogin_due);
	assert_int_equal(f->s->renewals, 1);
	assert_true(f->armed[SESSION_RENEW]);
	assert_in_range(f->delay[SESSION_RENEW], TTL_MS * 6 / 10, TTL_MS * 7 / 10);
	fx_free(f);
}

/* A renewal that comes back shorter than the creation TTL means the max
 * TTL is near: the next renewal is a fresh login, reading the plain
 * secret_id file again. */
static void test_relogin_at_max_ttl(void **state)
{
	struct fx *f = at_first_renewal(0);

	(void)state;
	fx_reply(f, "POST", "auth/token/renew-self", 200, FX_RENEWED(1000));
	assert_true(f->s->relogin_due);
	assert_int_equal(f->delay[SESSION_RENEW], 600000); /* 60 % of 1000 s */
	fx_write(f, "secret_id", "SID-2");
	fx_run_timer(f, SESSION_RENEW);
	fx_expect(f, "POST", "auth/approle/login");
	assert_non_null(strstr(f->body, "\"secret_id\":\"SID-2\""));
	fx_reply(f, "POST", "auth/approle/login", 200, FX_AUTH("TOK-2", 3600, true));
	fx_expect(f, "GET", "auth/token/lookup-self");
	assert_string_equal(f->token, "TOK-2");
	fx_reply(f, "GET", "auth/token/lookup-self", 200, FX_LOOKUP(3600));
	assert_null(f->req);
	assert_false(f->s->relogin_due);
	assert_int_equal(f->s->logins, 2);
	assert_true(session_healthy(f->s));
	fx_free(f);
}

/* The wrapping token is looked up (creation path checked), unwrapped, and
 * the secret_id it held logs in. */
static void unwrap(struct fx *f, const char *wrapping_token)
{
	fx_expect(f, "POST", "sys/wrapping/lookup");
	assert_string_equal(f->token, "");
	assert_non_null(strstr(f->body, wrapping_token));
	fx_reply(f, "POST", "sys/wrapping/lookup", 200,
		 "{\"data\":{\"creation_path\":\"auth/approle/role/aos/secret-id\"}}");
	fx_expect(f, "POST", "sys/wrapping/unwrap");
	assert_string_equal(f->token, wrapping_token);
	fx_reply(f, "POST", "sys/wrapping/unwrap", 200,
		 "{\"data\":{\"secret_id\":\"SID-UNWRAPPED\"}}");
	assert_null(f->s->wrapping_token);
}

/* The wrapped secret_id: unwrapped once at start, kept in locked memory,
 * and used again for the login at max TTL (the wrapping token is spent, so
 * the file is not read again).  When that login is refused, the session
 * waits for the operator, and a refresh reads a new wrapping token. */
static void test_wrapped_relogin_at_max_ttl(void **state)
{
	struct fx *f = fx_new(true);
	unsigned before;

	(void)state;
	f->cfg.vault.poll_interval_s = DAY_S;
	session_start(f->s);
	unwrap(f, "WRAP-1");
	fx_load(f, "\"secret_id\":\"SID-UNWRAPPED\"");
	fx_write(f, "secret_id", "WRAP-SPENT");
	fx_run_timer(f, SESSION_RENEW);
	fx_reply(f, "POST", "auth/token/renew-self", 200, FX_RENEWED(1000));
	assert_true(f->s->relogin_due);
	fx_run_timer(f, SESSION_RENEW);
	fx_expect(f, "POST", "auth/approle/login"); /* no wrapping lookup */
	assert_non_null(strstr(f->body, "\"secret_id\":\"SID-UNWRAPPED\""));
	assert_null(strstr(f->body, "WRAP-"));
	fx_reply(f, "POST", "auth/approle/login", 200, FX_AUTH("TOK-2", 3600, true));
	fx_reply(f, "GET", "auth/token/lookup-self", 200, FX_LOOKUP(3600));
	assert_int_equal(f->s->logins, 2);
	assert_true(session_healthy(f->s));

	/* The next login at max TTL is refused: no retry, a clear message. */
	fx_run_timer(f, SESSION_RENEW);
	fx_reply(f, "POST", "auth/token/renew-self", 200, FX_RENEWED(900));
	fx_run_timer(f, SESSION_RENEW);
	fx_reply(f, "POST", "auth/approle/login", 400,
		 FX_ERROR("invalid role or secret ID"));
	assert_null(f->req);
	assert_false(f->armed[SESSION_RETRY]);
	assert_false(session_healthy(f->s));
	assert_non_null(strstr(session_last_error(f->s), "put a fresh wrapping token"));
	before = f->nrequests;
	fx_advance(f, 3 * TTL_MS);
	assert_int_equal(f->nrequests, before); /* waits for the operator */

	/* The operator puts a new wrapping token and asks for a refresh. */
	fx_write(f, "secret_id", "WRAP-2");
	session_refresh(f->s, NULL);
	unwrap(f, "WRAP-2");
	fx_login(f, "SID-UNWRAPPED");
	fx_reply(f, "GET", "kv/metadata/aos", 200, FX_META(1));
	assert_null(f->req);
	assert_true(session_healthy(f->s));
	fx_free(f);
}

/* A wrapping token created elsewhere is refused before it is unwrapped. */
static void test_wrap_creation_path(void **state)
{
	struct fx *f = fx_new(true);

	(void)state;
	session_start(f->s);
	fx_reply(f, "POST", "sys/wrapping/lookup", 200,
		 "{\"data\":{\"creation_path\":\"sys/wrapping/wrap\"}}");
	assert_null(f->req); /* never unwrapped */
	assert_false(f->armed[SESSION_RETRY]);
	assert_non_null(strstr(session_last_error(f->s), "creation path"));
	assert_non_null(strstr(session_last_error(f->s), "sys/wrapping/wrap"));
	assert_false(session_loaded(f->s));
	fx_free(f);
}

/* Retry delays: drawn up to min * 2^attempt, capped at the maximum, and
 * back to the minimum after a success. */
static void test_backoff(void **state)
{
	static const uint64_t ceil_ms[] = {1000, 2000, 4000, 8000, 8000, 8000};
	struct fx *f = fx_new(false);
	size_t i;

	(void)state;
	fx_rnd_value = UINT64_MAX;
	session_start(f->s);
	for (i = 0; i < sizeof(ceil_ms) / sizeof(ceil_ms[0]); i++) {
		fx_reply(f, "POST", "auth/approle/login", 500,
			 FX_ERROR("internal error"));
		assert_null(f->req);
		assert_true(f->armed[SESSION_RETRY]);
		assert_in_range(f->delay[SESSION_RETRY], 1000, ceil_ms[i]);
		assert_int_equal(f->delay[SESSION_RETRY],
				 uniform_ms(1000, ceil_ms[i], fx_rnd, NULL));
		assert_int_equal(f->s->failures, i + 1);
		assert_non_null(strstr(session_last_error(f->s), "HTTP 500"));
		fx_advance(f, f->delay[SESSION_RETRY] - 1);
		assert_null(f->req); /* not before its time */
		fx_advance(f, 1);
	}
	fx_load(f, "SID-1");
	assert_int_equal(f->s->failures, 0);
	assert_null(session_last_error(f->s));

	fx_run_timer(f, SESSION_POLL);
	fx_fail(f, AOS_EHTTP);
	assert_int_equal(f->delay[SESSION_RETRY], 1000); /* reset */
	assert_non_null(strstr(session_last_error(f->s), "cannot reach"));
	/* A refresh skips the wait. */
	session_refresh(f->s, NULL);
	assert_false(f->armed[SESSION_RETRY]);
	fx_reply(f, "GET", "kv/metadata/aos", 200, FX_META(1));
	assert_true(session_healthy(f->s));
	fx_free(f);
}

/* Waiters are told once, by a check that began after they asked; a
 * canceled waiter is never called. */
static void test_refresh_waiters(void **state)
{
	struct waiter w[5] = {0};
	struct fx *f = fx_new(false);
	size_t i;

	(void)state;
	for (i = 0; i < 5; i++)
		w[i].w.cb = waiter_cb;
	session_start(f->s);
	fx_load(f, "SID-1");
	session_refresh(f->s, &w[0].w); /* starts a check at once */
	fx_expect(f, "GET", "kv/metadata/aos");
	session_refresh(f->s, &w[1].w); /* during it: waits for the next one */
	session_refresh(f->s, &w[2].w);
	session_refresh(f->s, &w[2].w); /* already waiting: once */
	session_cancel_waiter(f->s, &w[1].w);
	fx_reply(f, "GET", "kv/metadata/aos", 200, FX_META(1));
	assert_int_equal(w[0].calls, 1);
	assert_int_equal(w[0].result, 0);
	assert_int_equal(w[2].calls, 0);
	fx_reply(f, "GET", "kv/metadata/aos", 200, FX_META(1));
	assert_null(f->req);
	assert_int_equal(w[0].calls, 1);
	assert_int_equal(w[1].calls, 0);
	assert_int_equal(w[2].calls, 1);
	assert_int_equal(w[2].result, 0);

	/* A waiter canceled while its check runs; a failed check. */
	session_refresh(f->s, &w[3].w);
	session_cancel_waiter(f->s, &w[3].w);
	session_refresh(f->s, &w[4].w);
	fx_reply(f, "GET", "kv/metadata/aos", 500, FX_ERROR("boom"));
	assert_int_equal(w[3].calls, 0);
	assert_int_equal(w[4].calls, 1);
	assert_int_equal(w[4].result, AOS_ESERVER);
	assert_non_null(strstr(w[4].error, "boom"));
	assert_int_equal(w[2].calls, 1);
	fx_free(f);
}

/* A rotation: a new current_version is read and replaces the values; an
 * unchanged version costs one metadata read. */
static void test_rotation(void **state)
{
	struct fx *f = fx_new(false);
	const struct store_entry *e;
	unsigned before;

	(void)state;
	session_start(f->s);
	fx_load(f, "SID-1");
	fx_run_timer(f, SESSION_POLL);
	fx_reply(f, "GET", "kv/metadata/aos", 200, FX_META(2));
	fx_reply(f, "GET", "kv/data/aos?version=2", 200, FX_DATA(2, "pypi-2", "npm-1"));
	assert_string_equal(value_of(f, "PYPI"), "pypi-2");
	assert_string_equal(value_of(f, "NPM"), "npm-1");
	e = store_entry_at(session_store(f->s), 0);
	assert_string_equal(e->key, "PYPI");
	assert_int_equal(e->version, 2);
	assert_int_equal(f->s->checked_version, 2);
	assert_int_equal(f->first_ready, 1);

	before = f->nrequests;
	fx_run_timer(f, SESSION_POLL);
	fx_reply(f, "GET", "kv/metadata/aos", 200, FX_META(2));
	assert_null(f->req);
	assert_int_equal(f->nrequests, before + 1);

	/* Version 3 drops a key: kept out of the store, reported missing. */
	fx_run_timer(f, SESSION_POLL);
	fx_reply(f, "GET", "kv/metadata/aos", 200, FX_META(3));
	fx_reply(
	    f, "GET", "kv/data/aos?version=3", 200,
	    "{\"data\":{\"data\":{\"PYPI\":\"pypi-3\"},\"metadata\":{\"version\":3}}}");
	assert_string_equal(value_of(f, "PYPI"), "pypi-3");
	assert_null(value_of(f, "NPM"));
	assert_string_equal(f->s->missing, "NPM");
	assert_false(session_healthy(f->s));
	fx_free(f);
}

/* A token that died (403 on renewal) is replaced by a login at once. */
static void test_dead_token_relogin(void **state)
{
	struct fx *f = at_first_renewal(0);

	(void)state;
	fx_reply(f, "POST", "auth/token/renew-self", 403, FX_ERROR("permission denied"));
	assert_false(f->armed[SESSION_RETRY]);
	fx_reply(f, "POST", "auth/approle/login", 200, FX_AUTH("TOK-2", 3600, true));
	fx_expect(f, "GET", "auth/token/lookup-self");
	assert_string_equal(f->token, "TOK-2");
	fx_reply(f, "GET", "auth/token/lookup-self", 200, FX_LOOKUP(3600));
	assert_null(f->req);
	assert_int_equal(f->s->logins, 2);
	fx_free(f);
}

/* Closing with a request in flight cancels it and answers the waiters. */
static void test_close_cancels(void **state)
{
	struct waiter w = {.w.cb = waiter_cb};
	struct fx *f = fx_new(false);

	(void)state;
	session_start(f->s);
	fx_load(f, "SID-1");
	session_refresh(f->s, &w.w);
	fx_expect(f, "GET", "kv/metadata/aos");
	fx_free(f);
	assert_int_equal(w.calls, 1);
	assert_int_equal(w.result, AOS_ECANCELED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_start_loads),
	    cmocka_unit_test(test_renew_at_two_thirds),
	    cmocka_unit_test(test_relogin_at_max_ttl),
	    cmocka_unit_test(test_wrapped_relogin_at_max_ttl),
	    cmocka_unit_test(test_wrap_creation_path),
	    cmocka_unit_test(test_backoff),
	    cmocka_unit_test(test_refresh_waiters),
	    cmocka_unit_test(test_rotation),
	    cmocka_unit_test(test_dead_token_relogin),
	    cmocka_unit_test(test_close_cancels),
	};

	return cmocka_run_group_tests(tests, fx_setup, NULL);
}
