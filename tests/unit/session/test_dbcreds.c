/* Unit tests for agent/session/dbcreds.c: database credentials from Vault's
 * database secrets engine, driven through the clock, timer and transport
 * seam (struct dbcreds_io) as the session's tests drive the session: every
 * Vault answer is scripted, time moves only when a test moves it. */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/crypto.h>

#include "base/log.h"
#include "common/err.h"
#include "common/secret.h"
#include "session/dbcreds_internal.h"

#define CREDS_PATH "database/creds/aos"
#define RENEW_PATH "sys/leases/renew"

struct tf {
	uv_loop_t loop;
	struct config cfg;
	struct dbcreds *d;
	struct secret *token; /* NULL: the session has not logged in */
	/* the clock and the timers */
	uint64_t now;
	bool armed[DBC_NTIMERS];
	uint64_t due[DBC_NTIMERS];
	uint64_t delay[DBC_NTIMERS];
	/* the request in flight */
	struct transport_req *req;
	char method[8];
	char path[256];
	char body[1100];
	char tok[64];
	/* what the owner was told, in order: "issued 1 v-1", "renewed 1",
	 * "failed" */
	char events[16][64];
	unsigned nevents;
	struct secret *held[8]; /* the sets the owner kept */
	unsigned nheld;
	int last_err;
};

static uint64_t tf_rnd_value;

static uint64_t tf_rnd(void *ctx)
{
	(void)ctx;
	return tf_rnd_value;
}

static struct tf *tf_of(const struct dbcreds *d)
{
	return d->hooks.data;
}

static uint64_t tf_now(const struct dbcreds *d)
{
	return tf_of(d)->now;
}

static void tf_arm(struct dbcreds *d, enum dbc_timer t, uint64_t ms)
{
	struct tf *f = tf_of(d);

	f->armed[t] = true;
	f->due[t] = f->now + ms;
	f->delay[t] = ms;
}

static void tf_stop(struct dbcreds *d, enum dbc_timer t)
{
	tf_of(d)->armed[t] = false;
}

static int tf_request(struct dbcreds *d, const char *method, const char *path,
		      const char *body, const struct secret *tok,
		      struct transport_req **ret)
{
	struct tf *f = tf_of(d);
	struct transport_req *req = calloc(1, sizeof(*req));

	assert_null(f->req); /* one request in flight */
	assert_non_null(req);
	buf_init(&req->body, 64 * 1024);
	snprintf(f->method, sizeof(f->method), "%s", method);
	snprintf(f->path, sizeof(f->path), "%s", path);
	snprintf(f->body, sizeof(f->body), "%s", body != NULL ? body : "");
	snprintf(f->tok, sizeof(f->tok), "%s", secret_value(tok));
	f->req = req;
	*ret = req;
	return 0;
}

static void tf_cancel(struct dbcreds *d)
{
	struct tf *f = tf_of(d);
	struct transport_req *req = f->req;

	f->req = NULL;
	dbcreds__done(req, AOS_ECANCELED, d);
}

static const struct dbcreds_io tf_io = {
    .now = tf_now,
    .arm = tf_arm,
    .stop = tf_stop,
    .request = tf_request,
    .cancel = tf_cancel,
};

__attribute__((format(printf, 2, 3))) static void tf_event(struct tf *f, const char *fmt,
							   ...)
{
	va_list ap;

	assert_true(f->nevents < 16);
	va_start(ap, fmt);
	vsnprintf(f->events[f->nevents++], sizeof(f->events[0]), fmt, ap);
	va_end(ap);
}

static const struct secret *hook_token(void *data)
{
	return ((struct tf *)data)->token;
}

/* The owner keeps every set it is handed (as a queue keeps its old
 * connection until the new one is up). */
static void hook_issued(struct dbcreds *d, const struct dbcreds_set *set, void *data)
{
	struct tf *f = data;

	(void)d;
	assert_true(f->nheld < 8);
	f->held[f->nheld++] = secret_ref(set->password);
	tf_event(f, "issued %lu %s %s %" PRIu64, set->serial, set->username,
		 secret_value(set->password), set->expires_ms);
}

static void hook_renewed(struct dbcreds *d, const struct dbcreds_set *set, void *data)
{
	(void)d;
	tf_event(data, "renewed %lu %" PRIu64, set->serial, set->expires_ms);
}

static void hook_failed(struct dbcreds *d, int err, const char *msg, void *data)
{
	struct tf *f = data;

	(void)d;
	(void)msg;
	f->last_err = err;
	tf_event(f, "failed");
}

/* Role "aos" at "database", backoff 1 s to 8 s, a token there. */
static struct tf *tf_new(void)
{
	struct tf *f = calloc(1, sizeof(*f));
	struct dbcreds_hooks hooks = {hook_token, hook_issued, hook_renewed, hook_failed,
				      NULL};

	assert_non_null(f);
	hooks.data = f;
	f->cfg.request_timeout_s = 30;
	f->cfg.vault.address = "http://127.0.0.1:1";
	f->cfg.vault.max_response_bytes = 64 * 1024;
	f->cfg.vault.backoff_min_ms = 1000;
	f->cfg.vault.backoff_max_ms = 8000;
	f->cfg.queue.pg_credentials.source = PG_CRED_DATABASE;
	f->cfg.queue.pg_credentials.database_role = "aos";
	f->cfg.queue.pg_credentials.mount = "database";
	assert_int_equal(secret_new("TOK-1", 5, &f->token), 0);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(dbcreds_new(&f->loop, NULL, &f->cfg, &hooks, &f->d), 0);
	f->d->io = &tf_io;
	f->d->rnd = tf_rnd;
	tf_rnd_value = 0; /* uniform draws give their lower bound */
	return f;
}

static void tf_free(struct tf *f)
{
	unsigned i;

	dbcreds_close(f->d);
	assert_null(f->req);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	for (i = 0; i < f->nheld; i++)
		secret_unref(f->held[i]);
	secret_unref(f->token);
	free(f);
}

static void tf_reply(struct tf *f, const char *method, const char *path, long status,
		     const char *body)
{
	struct transport_req *req = f->req;

	assert_non_null(req);
	assert_string_equal(f->method, method);
	assert_string_equal(f->path, path);
	assert_string_equal(f->tok, "TOK-1");
	f->req = NULL;
	req->status = status;
	assert_int_equal(buf_puts(&req->body, body), 0);
	dbcreds__done(req, 0, f->d);
}

/* Moves the clock by ms, firing the timers that run out on the way. */
static void tf_advance(struct tf *f, uint64_t ms)
{
	uint64_t end = f->now + ms;
	int t;

	for (;;) {
		int next = -1;

		for (t = 0; t < DBC_NTIMERS; t++)
			if (f->armed[t] && f->due[t] <= end &&
			    (next < 0 || f->due[t] < f->due[next]))
				next = t;
		if (next < 0)
			break;
		f->now = f->due[next];
		f->armed[next] = false;
		dbcreds__fire(f->d, (enum dbc_timer)next);
	}
	f->now = end;
}

#define CREDS(n, ttl, renewable)                                                         \
	"{\"lease_id\":\"database/creds/aos/L" #n "\",\"renewable\":" #renewable         \
	",\"lease_duration\":" #ttl ",\"data\":{\"username\":\"v-" #n                    \
	"\",\"password\":\"pw-" #n "\"}}"
#define RENEWED(n, ttl)                                                                  \
	"{\"lease_id\":\"database/creds/aos/L" #n "\",\"renewable\":true,"               \
	"\"lease_duration\":" #ttl "}"
#define ERROR(text) "{\"errors\":[\"" text "\"]}"

static void expect_events(struct tf *f, const char *const *want, unsigned n)
{
	unsigned i;

	assert_int_equal(f->nevents, n);
	for (i = 0; i < n; i++)
		assert_string_equal(f->events[i], want[i]);
}

/* The first set at once; renewals at 2/3 of the lease (the draw's lower
 * bound is 60 %), each asking for the lease's own duration again. */
static void test_renew_at_two_thirds(void **state)
{
	static const char *const want[] = {"issued 1 v-1 pw-1 6000", "renewed 1 9600",
					   "renewed 1 13800"};
	struct tf *f = tf_new();

	(void)state;
	dbcreds_start(f->d);
	tf_reply(f, "GET", CREDS_PATH, 200, CREDS(1, 6, true));
	assert_null(f->req);
	assert_true(f->armed[DBC_DUE]);
	assert_int_equal(f->delay[DBC_DUE], 3600); /* 60 % of 6 s */
	tf_advance(f, 3599);
	assert_null(f->req); /* not before its time */
	tf_advance(f, 1);
	assert_string_equal(f->body,
			    "{\"lease_id\":\"database/creds/aos/L1\",\"increment\":6}");
	tf_rnd_value = 600; /* the draw's upper bound: 70 % */
	tf_reply(f, "PUT", RENEW_PATH, 200, RENEWED(1, 6));
	assert_int_equal(f->d->renewals, 1);
	assert_int_equal(f->delay[DBC_DUE], 4200);
	tf_advance(f, 4200);
	tf_reply(f, "PUT", RENEW_PATH, 200, RENEWED(1, 6));
	assert_null(f->req);
	expect_events(f, want, 3);
	assert_int_equal(f->d->serial, 1);
	tf_free(f);
}

/* A renewal granted less than asked: the role's max TTL is near, so new
 * credentials are fetched at once while the old ones are still valid; the
 * old set is not revoked, and the owner still holds it. */
static void test_replace_before_max_ttl(void **state)
{
	static const char *const want[] = {"issued 1 v-1 pw-1 6000", "renewed 1 9600",
					   "renewed 1 10200", "issued 2 v-2 pw-2 13200"};
	struct tf *f = tf_new();

	(void)state;
	dbcreds_start(f->d);
	tf_reply(f, "GET", CREDS_PATH, 200, CREDS(1, 6, true));
	tf_advance(f, 3600);
	tf_reply(f, "PUT", RENEW_PATH, 200, RENEWED(1, 6));
	tf_advance(f, 3600);
	tf_reply(f, "PUT", RENEW_PATH, 200, RENEWED(1, 3)); /* capped */
	assert_false(f->armed[DBC_DUE]);
	assert_non_null(f->req); /* the replacement, at once */
	tf_reply(f, "GET", CREDS_PATH, 200, CREDS(2, 6, true));
	expect_events(f, want, 4);
	assert_string_equal(secret_value(f->held[0]), "pw-1"); /* still the owner's */
	assert_int_equal(secret_refs(f->held[0]), 1);
	assert_int_equal(secret_refs(f->held[1]), 2); /* the owner's and the current */
	/* The new lease is renewed as the first was. */
	tf_advance(f, 3600);
	tf_reply(f, "PUT", RENEW_PATH, 200, RENEWED(2, 6));
	assert_string_equal(f->events[4], "renewed 2 16800");
	tf_free(f);
}

/* A lease that is not renewable is replaced at 2/3 of it, never renewed. */
static void test_not_renewable(void **state)
{
	static const char *const want[] = {"issued 1 v-1 pw-1 9000",
					   "issued 2 v-2 pw-2 14400"};
	struct tf *f = tf_new();

	(void)state;
	dbcreds_start(f->d);
	tf_reply(f, "GET", CREDS_PATH, 200, CREDS(1, 9, false));
	assert_int_equal(f->delay[DBC_DUE], 5400);
	tf_advance(f, 5400);
	tf_reply(f, "GET", CREDS_PATH, 200, CREDS(2, 9, false));
	expect_events(f, want, 2);
	/* A renewal that answers "not renewable any more" also replaces. */
	f->d->renewable = true;
	tf_advance(f, 5400);
	tf_reply(f, "PUT", RENEW_PATH, 200,
		 "{\"lease_id\":\"database/creds/aos/L2\",\"renewable\":false,"
		 "\"lease_duration\":9}");
	tf_reply(f, "GET", CREDS_PATH, 200, CREDS(3, 9, true));
	assert_string_equal(f->events[3], "issued 3 v-3 pw-3 19800");
	tf_free(f);
}

/* Failures back off as the session's do: a delay up to min * 2^attempt,
 * capped at the maximum, the same work retried, the minimum again after a
 * success.  No token yet is such a failure too. */
static void test_errors_and_backoff(void **state)
{
	static const uint64_t ceil_ms[] = {1000, 2000, 4000, 8000, 8000};
	struct tf *f = tf_new();
	struct secret *tok = f->token;
	size_t i;

	(void)state;
	f->token = NULL;
	tf_rnd_value = UINT64_MAX - 1; /* a draw inside each range */
	dbcreds_start(f->d);
	assert_null(f->req);
	assert_int_equal(f->last_err, AOS_ETOKEN);
	assert_non_null(strstr(dbcreds_last_error(f->d), "no Vault token"));
	f->token = tok;
	for (i = 0; i < sizeof(ceil_ms) / sizeof(ceil_ms[0]); i++) {
		assert_true(f->armed[DBC_RETRY]);
		assert_in_range(f->delay[DBC_RETRY], 1000, ceil_ms[i]);
		assert_int_equal(f->delay[DBC_RETRY],
				 uniform_ms(1000, ceil_ms[i], tf_rnd, NULL));
		tf_advance(f, f->delay[DBC_RETRY] - 1);
		assert_null(f->req); /* not before its time */
		tf_advance(f, 1);
		if (i == 1)
			tf_reply(f, "GET", CREDS_PATH, 403, ERROR("permission denied"));
		else
			tf_reply(f, "GET", CREDS_PATH, 503, ERROR("Vault is sealed"));
		if (i == 1)
			assert_non_null(
			    strstr(dbcreds_last_error(f->d),
				   "policy must allow \"read\" on " CREDS_PATH));
	}
	assert_int_equal(f->d->failures, 6); /* the token, then 5 answers */
	tf_advance(f, f->delay[DBC_RETRY]);
	tf_reply(f, "GET", CREDS_PATH, 200, CREDS(1, 6, true));
	assert_null(dbcreds_last_error(f->d));
	assert_false(f->armed[DBC_RETRY]);

	/* A renewal Vault cannot answer is retried after the minimum... */
	tf_advance(f, 4200);
	dbcreds__done(f->req, AOS_EHTTP, f->d); /* no answer at all */
	f->req = NULL;
	assert_int_equal(f->delay[DBC_RETRY], 1000);
	assert_non_null(strstr(dbcreds_last_error(f->d), "cannot reach"));
	tf_advance(f, 1000);
	assert_string_equal(f->path, RENEW_PATH);
	/* ...again while the lease lasts, and once it ran out meanwhile, new
	 * credentials it is. */
	while (strcmp(f->path, RENEW_PATH) == 0) {
		tf_reply(f, "PUT", RENEW_PATH, 500, ERROR("internal error"));
		tf_advance(f, f->delay[DBC_RETRY]);
	}
	assert_true(f->now >= f->d->expires_ms);
	tf_reply(f, "GET", CREDS_PATH, 200, CREDS(2, 6, true));
	assert_int_equal(f->d->serial, 2);

	/* A refused renewal (the lease was revoked) is replaced at once. */
	tf_advance(f, f->delay[DBC_DUE]);
	tf_reply(f, "PUT", RENEW_PATH, 400, ERROR("lease not found"));
	assert_false(f->armed[DBC_RETRY]);
	tf_reply(f, "GET", CREDS_PATH, 200, CREDS(3, 6, true));
	assert_int_equal(f->d->serial, 3);
	/* An unknown role is named with the keys to check. */
	tf_advance(f, f->delay[DBC_DUE]);
	tf_reply(f, "PUT", RENEW_PATH, 200, RENEWED(3, 1));
	tf_reply(f, "GET", CREDS_PATH, 400, ERROR("unknown role: aos"));
	assert_non_null(strstr(dbcreds_last_error(f->d), "database_role"));
	assert_non_null(strstr(dbcreds_last_error(f->d), "unknown role: aos"));
	tf_free(f);
}

/* An answer without a password is a failure, not a set. */
static void test_bad_answer(void **state)
{
	struct tf *f = tf_new();

	(void)state;
	dbcreds_start(f->d);
	tf_reply(
	    f, "GET", CREDS_PATH, 200,
	    "{\"lease_id\":\"l\",\"lease_duration\":6,\"data\":{\"username\":\"u\"}}");
	assert_int_equal(f->nevents, 1);
	assert_string_equal(f->events[0], "failed");
	assert_int_equal(f->last_err, AOS_EPARSE);
	assert_non_null(strstr(dbcreds_last_error(f->d), "data.password"));
	assert_true(f->armed[DBC_RETRY]);
	tf_free(f);
}

/* The password lives in the secure heap, is never logged (only its
 * fingerprint, at every level), and close wipes it: only the sets the
 * owner still holds stay allocated, until it drops them. */
static void test_password_wiped_and_not_logged(void **state)
{
	char path[] = "/tmp/aos-dbcreds-log.XXXXXX", text[8192], fpr[SECRET_FPR_LEN + 1];
	size_t live = secret_live_count();
	int fd = mkstemp(path), saved = dup(2);
	ssize_t n;
	struct tf *f;

	(void)state;
	assert_true(fd >= 0 && saved >= 0);
	assert_int_equal(dup2(fd, 2), 2);
	log_set_level(LOG_LVL_DEBUG);
	f = tf_new();
	dbcreds_start(f->d);
	tf_reply(f, "GET", CREDS_PATH, 200, CREDS(1, 6, true));
	tf_advance(f, 3600);
	tf_reply(f, "PUT", RENEW_PATH, 200, RENEWED(1, 2));
	tf_reply(f, "GET", CREDS_PATH, 200, CREDS(2, 6, true));
	assert_true(CRYPTO_secure_allocated(f->d->password));
	secret_fingerprint(f->d->password, fpr);
	/* the token, the owner's two sets, and the current one's reference */
	assert_int_equal(secret_live_count(), live + 3);
	secret_unref(f->held[0]); /* the owner moved to the new set */
	f->held[0] = NULL;
	assert_int_equal(secret_live_count(), live + 2);
	dbcreds_close(f->d);
	assert_null(f->d->password);
	assert_int_equal(secret_refs(f->held[1]), 1); /* the owner's only */
	secret_unref(f->held[1]);
	f->held[1] = NULL;
	assert_int_equal(secret_live_count(), live + 1); /* the token */
	f->d = NULL;
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	secret_unref(f->token);
	free(f);
	assert_int_equal(secret_live_count(), live);
	log_set_level(LOG_LVL_ERR);
	assert_int_equal(dup2(saved, 2), 2);
	close(saved);
	n = pread(fd, text, sizeof(text) - 1, 0);
	close(fd);
	unlink(path);
	assert_true(n > 0);
	text[n] = '\0';
	assert_non_null(strstr(text, "database credentials 2 from " CREDS_PATH
				     ": user v-2, password fingerprint"));
	assert_non_null(strstr(text, fpr));
	assert_null(strstr(text, "pw-1"));
	assert_null(strstr(text, "pw-2"));
}

/* Closing with a request in flight cancels it; no event follows. */
static void test_close_cancels(void **state)
{
	struct tf *f = tf_new();

	(void)state;
	dbcreds_start(f->d);
	assert_non_null(f->req);
	tf_free(f);
}

/* Only a database_role configuration makes a dbcreds. */
static void test_new_refuses(void **state)
{
	struct dbcreds_hooks hooks = {hook_token, hook_issued, NULL, NULL, NULL};
	struct config cfg = {0};
	struct dbcreds *d = NULL;
	uv_loop_t loop;

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	cfg.queue.pg_credentials.source = PG_CRED_KV;
	assert_int_equal(dbcreds_new(&loop, NULL, &cfg, &hooks, &d), -EINVAL);
	cfg.queue.pg_credentials.source = PG_CRED_DATABASE;
	cfg.queue.pg_credentials.database_role = "aos";
	cfg.queue.pg_credentials.mount = "database";
	hooks.issued = NULL;
	assert_int_equal(dbcreds_new(&loop, NULL, &cfg, &hooks, &d), -EINVAL);
	assert_null(d);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static int setup(void **state)
{
	static const unsigned char key[SECRET_FPR_KEY_LEN] = {9};
	struct secret *k = NULL;
	int r;

	(void)state;
	log_init(LOG_LVL_ERR);
	if (secret_init_process(64 * 1024) != 0 || secret_new(key, sizeof(key), &k) != 0)
		return -1;
	r = secret_fingerprint_key_set(k);
	secret_unref(k);
	return r;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_renew_at_two_thirds),
	    cmocka_unit_test(test_replace_before_max_ttl),
	    cmocka_unit_test(test_not_renewable),
	    cmocka_unit_test(test_errors_and_backoff),
	    cmocka_unit_test(test_bad_answer),
	    cmocka_unit_test(test_password_wiped_and_not_logged),
	    cmocka_unit_test(test_close_cancels),
	    cmocka_unit_test(test_new_refuses),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
