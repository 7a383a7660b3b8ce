/* session_fixture.h - a Vault session with its clock, timers and transport
 * replaced (struct session_io): the test moves time with fx_advance() and
 * answers each request with fx_reply(), so the state machine runs without
 * a server and without waiting.  Credentials are files in a temporary
 * folder, read as the daemon reads them. */
#ifndef AOS_TEST_SESSION_FIXTURE_H
#define AOS_TEST_SESSION_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/log.h"
#include "common/err.h"
#include "common/secret.h"
#include "session/session_internal.h"

struct fx {
	uv_loop_t loop;
	struct config cfg;
	char *keys[2];
	char dir[64];
	struct vault_session *s;
	/* the clock and the timers */
	uint64_t now;
	bool armed[SESSION_NTIMERS];
	uint64_t due[SESSION_NTIMERS];
	uint64_t delay[SESSION_NTIMERS]; /* of the last arm() */
	/* the request in flight, as the session asked for it */
	struct transport_req *req;
	char method[8];
	char path[256];
	char body[512];
	char token[256]; /* X-Vault-Token, "" for none */
	unsigned nrequests;
	/* events */
	unsigned events;
	unsigned first_ready;
};

/* The random source: a constant the test chooses. */
static uint64_t fx_rnd_value;

static uint64_t fx_rnd(void *ctx)
{
	(void)ctx;
	return fx_rnd_value;
}

static struct fx *fx_of(const struct vault_session *s)
{
	return s->event_data;
}

static uint64_t fx_now(const struct vault_session *s)
{
	return fx_of(s)->now;
}

static void fx_arm(struct vault_session *s, enum session_timer t, uint64_t ms)
{
	struct fx *f = fx_of(s);

	f->armed[t] = true;
	f->due[t] = f->now + ms;
	f->delay[t] = ms;
}

static void fx_stop(struct vault_session *s, enum session_timer t)
{
	fx_of(s)->armed[t] = false;
}

static void fx_copy(char *dst, size_t size, const char *src)
{
	assert_true(strlen(src) < size);
	snprintf(dst, size, "%s", src);
}

static int fx_request(struct vault_session *s, const char *method, const char *path,
		      const char *body, const struct secret *tok,
		      struct transport_req **ret)
{
	struct fx *f = fx_of(s);
	struct transport_req *req;

	assert_null(f->req); /* one request in flight at a time */
	req = calloc(1, sizeof(*req));
	assert_non_null(req);
	buf_init(&req->body, (size_t)s->cfg->vault.max_response_bytes);
	fx_copy(f->method, sizeof(f->method), method);
	fx_copy(f->path, sizeof(f->path), path);
	fx_copy(f->body, sizeof(f->body), body != NULL ? body : "");
	fx_copy(f->token, sizeof(f->token), tok != NULL ? secret_value(tok) : "");
	f->req = req;
	f->nrequests++;
	*ret = req;
	return 0;
}

static void fx_cancel(struct vault_session *s)
{
	struct fx *f = fx_of(s);
	struct transport_req *req = f->req;

	f->req = NULL;
	session__done(req, AOS_ECANCELED, s);
}

static const struct session_io fx_io = {
    .now = fx_now,
    .arm = fx_arm,
    .stop = fx_stop,
    .request = fx_request,
    .cancel = fx_cancel,
};

static void fx_event(struct vault_session *s, bool first_ready, void *data)
{
	struct fx *f = data;

	(void)s;
	f->events++;
	f->first_ready += first_ready;
}

static void fx_write(struct fx *f, const char *name, const char *value)
{
	char path[128];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_true(fputs(value, fp) >= 0);
	assert_int_equal(fclose(fp), 0);
}

/* A session with AppRole credentials (plain or wrapped secret_id), keys
 * PYPI and NPM in kv/aos, backoff 1 s to 8 s, polling every 60 s. */
static struct fx *fx_new(bool wrapped)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct vault_cfg *v;

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/aos-session-test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	fx_write(f, "role_id", "ROLE-1");
	fx_write(f, "secret_id", wrapped ? "WRAP-1" : "SID-1");
	unsetenv("CREDENTIALS_DIRECTORY");
	f->keys[0] = "PYPI";
	f->keys[1] = "NPM";
	f->cfg.dir = f->dir;
	f->cfg.request_timeout_s = 30;
	f->cfg.secret_keys = f->keys;
	f->cfg.nsecret_keys = 2;
	v = &f->cfg.vault;
	v->address = "http://127.0.0.1:1";
	v->method = AUTH_APPROLE;
	v->mount = "approle";
	v->role_id_file = "role_id";
	v->secret_id_file = "secret_id";
	v->secret_id_wrapped = wrapped;
	v->kv_mount = "kv";
	v->kv_path = "aos";
	v->poll_interval_s = 60;
	v->max_response_bytes = 64 * 1024;
	v->backoff_min_ms = 1000;
	v->backoff_max_ms = 8000;
	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(session_new(&f->loop, NULL, &f->cfg, fx_event, f, &f->s), 0);
	f->s->io = &fx_io;
	f->s->rnd = fx_rnd;
	fx_rnd_value = 0;
	return f;
}

/* Closes the session, runs the loop until its handles are closed, removes
 * the credential files. */
static void fx_free(struct fx *f)
{
	static const char *const names[] = {"role_id", "secret_id"};
	char path[128];
	size_t i;

	session_close(f->s);
	assert_null(f->req);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	for (i = 0; i < 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", f->dir, names[i]);
		unlink(path);
	}
	assert_int_equal(rmdir(f->dir), 0);
	free(f);
}

/* Asserts the request in flight is method path (the path up to any query). */
static void fx_expect(struct fx *f, const char *method, const char *path)
{
	assert_non_null(f->req);
	assert_string_equal(f->method, method);
	assert_string_equal(f->path, path);
}

/* Answers the request in flight (asserting it is method path) with an HTTP
 * status and body. */
static void fx_reply(struct fx *f, const char *method, const char *path, long status,
		     const char *body)
{
	struct transport_req *req;

	fx_expect(f, method, path);
	req = f->req;
	f->req = NULL;
	req->status = status;
	assert_int_equal(buf_puts(&req->body, body), 0);
	session__done(req, 0, f->s);
}

/* Fails the request in flight at the transport (no HTTP answer). */
static void fx_fail(struct fx *f, int result)
{
	struct transport_req *req = f->req;

	assert_non_null(req);
	f->req = NULL;
	snprintf(req->error, sizeof(req->error), "Connection refused");
	session__done(req, result, f->s);
}

/* Moves the clock by ms, firing every timer that runs out on the way, in
 * order of their due times. */
static void fx_advance(struct fx *f, uint64_t ms)
{
	uint64_t end = f->now + ms;

	for (;;) {
		int next = -1, t;

		for (t = 0; t < SESSION_NTIMERS; t++)
			if (f->armed[t] && f->due[t] <= end &&
			    (next < 0 || f->due[t] < f->due[next]))
				next = t;
		if (next < 0)
			break;
		f->now = f->due[next];
		f->armed[next] = false;
		session__fire(f->s, (enum session_timer)next);
	}
	f->now = end;
}

/* Moves the clock to timer t's due time (asserting it is armed). */
static void fx_run_timer(struct fx *f, enum session_timer t)
{
	assert_true(f->armed[t]);
	fx_advance(f, f->due[t] - f->now);
}

#define FX_AUTH(tok, ttl, renewable)                                                     \
	"{\"auth\":{\"client_token\":\"" tok "\",\"lease_duration\":" #ttl               \
	",\"renewable\":" #renewable "}}"
#define FX_RENEWED(ttl) "{\"auth\":{\"lease_duration\":" #ttl ",\"renewable\":true}}"
#define FX_LOOKUP(ttl)                                                                   \
	"{\"data\":{\"ttl\":" #ttl ",\"creation_ttl\":" #ttl ",\"renewable\":true}}"
#define FX_META(v)                                                                       \
	"{\"data\":{\"current_version\":" #v ",\"versions\":{\"" #v                      \
	"\":{\"created_time\":\"2026-01-01T00:00:00Z\"}}}}"
#define FX_DATA(v, pypi, npm)                                                            \
	"{\"data\":{\"data\":{\"PYPI\":\"" pypi "\",\"NPM\":\"" npm                      \
	"\"},\"metadata\":{\"version\":" #v "}}}"
#define FX_ERROR(text) "{\"errors\":[\"" text "\"]}"

/* The AppRole login (its body holding role_id ROLE-1 and secret_id) and the
 * token lookup after it: token TOK-1, TTL 3600 s. */
static void fx_login(struct fx *f, const char *secret_id)
{
	fx_expect(f, "POST", "auth/approle/login");
	assert_string_equal(f->token, "");
	assert_non_null(strstr(f->body, "\"role_id\":\"ROLE-1\""));
	assert_non_null(strstr(f->body, secret_id));
	fx_reply(f, "POST", "auth/approle/login", 200, FX_AUTH("TOK-1", 3600, true));
	fx_expect(f, "GET", "auth/token/lookup-self");
	assert_string_equal(f->token, "TOK-1");
	fx_reply(f, "GET", "auth/token/lookup-self", 200, FX_LOOKUP(3600));
}

/* fx_login(), then the first read of the secret: version 1. */
static void fx_load(struct fx *f, const char *secret_id)
{
	fx_login(f, secret_id);
	fx_expect(f, "GET", "kv/metadata/aos");
	assert_string_equal(f->token, "TOK-1");
	fx_reply(f, "GET", "kv/metadata/aos", 200, FX_META(1));
	fx_reply(f, "GET", "kv/data/aos?version=1", 200, FX_DATA(1, "pypi-1", "npm-1"));
	assert_true(session_loaded(f->s));
	assert_true(session_healthy(f->s));
	assert_null(f->req);
}

static int fx_setup(void **state)
{
	static const unsigned char key[SECRET_FPR_KEY_LEN] = {7};
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

#endif
