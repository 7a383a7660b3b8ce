/* worker_fixture.h - a worker on a real uv loop and a real SQLite queue in
 * a temporary folder, with its clock, random source and publish replaced
 * (struct worker_io): the test moves time with wfx->now, and plays the
 * registry's part through the publish hooks the worker gave (pub_send,
 * pub_file, pub_finish), so every path runs without a server and without
 * waiting.  The Vault session is a real one, never started, whose store the
 * test fills.
 *
 * As in the daemon, the worker posts every queue call to a real
 * queue_async whose thread opens a second connection to the database
 * (queue_sqlite_open_more()); the test reads and writes through the first
 * (wfx->q), and runs the loop until the completions ran (wfx_settle(): the
 * helpers below do).  The thread's connection goes through `fake`: each
 * finish, upload_set and heartbeat is noted, and answers -EBUSY or is held
 * on the thread until released, as the test asks.
 *
 * Header-only (static functions) so each test stays one executable.
 */
#ifndef AOS_TEST_WORKER_FIXTURE_H
#define AOS_TEST_WORKER_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "base/log.h"
#include "common/err.h"
#include "common/secret.h"
#include "config/config.h"
#include "queue/queue_async.h"
#include "session/session_internal.h"
#include "tests/unit/room_fixture.h"
#include "worker/worker_internal.h"

#define T0 1700000000000LL /* the injected clock's start, Unix ms */
#define LEASE_MS 30000
#define BACKOFF_MIN 1000
#define BACKOFF_MAX 8000
#define MAX_HEARD 32

/* The publish the worker started last, as it asked for it. */
struct fake_pub {
	bool running;
	unsigned starts, aborts;
	int start_rc; /* < 0: publish_start fails with it */
	struct publish_hooks hooks;
	char registry[128];
	char version[64];
	size_t nfiles;
	char files[PUBLISH_MAX_FILES][512];
	bool probe[PUBLISH_MAX_FILES];
	/* publish_send_ready(): how often, and its rc per file (1: none) */
	unsigned readies;
	int ready_rc[PUBLISH_MAX_FILES];
};

struct wfx {
	uv_loop_t loop;
	char dir[64];
	char *cfg_text;
	struct config *cfg;
	struct vault_session *s;
	struct queue *q; /* the test's connection, on the loop */
	struct queue_async *qa;
	struct worker *w;
	struct worker_io io;
	int64_t now;
	uint64_t rnd;
	struct fake_pub pub;
	/* what the worker's hooks reported, in order */
	char heard[MAX_HEARD][200];
	size_t nheard;
	bool hear_logged;	 /* the logged hook is heard too */
	uv_thread_t loop_thread; /* the hooks run on it, never the queue's */
	/* called by the fake publish_send_ready, before it notes rc */
	void (*on_ready)(struct wfx *f, size_t i, int rc);
};

/* The queue_async thread's connection: the real operations, with finish,
 * upload_set and heartbeat noted in `calls` ('f', 'u', 'h') and answering
 * -EBUSY as many times as asked; a call whose letter is `hold` waits on
 * the thread until wfx_release().  The test sets the counts while nothing
 * is out (the queue_async's own lock orders them with the thread). */
static struct {
	const struct queue_ops *real;
	struct queue_ops ops;
	int finish, upload, heartbeat; /* -EBUSY answers left */
	char calls[64];
	size_t ncalls;
	uv_mutex_t mu; /* hold, held */
	uv_cond_t cv;
	char hold; /* the letter to hold, 0: none */
	bool held; /* a call waits now */
} fake;

static struct wfx *wfx_cur; /* the fake publish's way back to its fixture */

static inline int64_t wfx_now(const struct worker *w)
{
	(void)w;
	return wfx_cur->now;
}

static inline uint64_t wfx_rnd(void *ctx)
{
	(void)ctx;
	return wfx_cur->rnd;
}

static inline int wfx_publish_start(const struct publish_env *env,
				    const struct publish_request *r,
				    struct publish_op **ret_op, char *msg, size_t msglen)
{
	struct fake_pub *p = &wfx_cur->pub;
	size_t i;

	assert_ptr_equal(env, &wfx_cur->w->env.pub);
	assert_false(p->running); /* one job at a time in these tests */
	p->starts++;
	if (p->start_rc < 0) {
		snprintf(msg, msglen, "fake publish refused to start");
		return p->start_rc;
	}
	assert_true(r->nfiles > 0 && r->nfiles <= PUBLISH_MAX_FILES);
	p->running = true;
	p->hooks = *r->hooks;
	snprintf(p->registry, sizeof(p->registry), "%s", r->registry);
	snprintf(p->version, sizeof(p->version), "%s",
		 r->expected_version != NULL ? r->expected_version : "");
	p->nfiles = r->nfiles;
	for (i = 0; i < r->nfiles; i++) {
		snprintf(p->files[i], sizeof(p->files[i]), "%s", r->files[i]);
		p->probe[i] = r->probe_first != NULL && r->probe_first[i];
	}
	*ret_op = (struct publish_op *)p; /* an opaque handle */
	return 0;
}

static inline void wfx_publish_send_ready(struct publish_op *op, int rc)
{
	struct fake_pub *p = &wfx_cur->pub;
	size_t i;

	assert_ptr_equal(op, p);
	assert_true(p->running);
	for (i = 0; i < p->nfiles && p->ready_rc[i] != 1; i++)
		;
	assert_true(i < p->nfiles); /* a send was asked for and not answered */
	if (wfx_cur->on_ready != NULL)
		wfx_cur->on_ready(wfx_cur, i, rc);
	p->ready_rc[i] = rc;
	p->readies++;
}

static inline void wfx_publish_abort(struct publish_op *op)
{
	struct fake_pub *p = &wfx_cur->pub;

	assert_ptr_equal(op, p);
	assert_true(p->running);
	p->running = false;
	p->aborts++;
}

static inline void wfx_heard(struct wfx *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline void wfx_heard(struct wfx *f, const char *fmt, ...)
{
	va_list ap;

	assert_true(f->nheard < MAX_HEARD);
	va_start(ap, fmt);
	vsnprintf(f->heard[f->nheard++], sizeof(f->heard[0]), fmt, ap);
	va_end(ap);
}

static inline void hook_job_event(void *data, int64_t id, const cJSON *ev)
{
	const char *type =
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, "event"));
	const char *file =
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(ev, "file"));

	wfx_heard(data, "event %lld %s %s", (long long)id, type ? type : "?",
		  file ? file : "-");
}

static inline void hook_job_changed(void *data, int64_t id)
{
	wfx_heard(data, "changed %lld", (long long)id);
}

static inline void hook_logged(void *data, int64_t id)
{
	struct wfx *f = data;
	uv_thread_t self = uv_thread_self();

	/* From the write's completion: on the loop, not the database thread. */
	assert_true(uv_thread_equal(&self, &f->loop_thread));
	if (f->hear_logged)
		wfx_heard(f, "logged %lld", (long long)id);
}

static inline void hook_upload_done(void *data, const struct worker_upload_stat *u)
{
	wfx_heard(data, "upload %s %s sends=%u bytes=%llu%s", u->registry,
		  outcome_name(u->outcome), u->sends, (unsigned long long)u->bytes,
		  u->seconds < 0 ? " unsent" : "");
}

/* Writes path (mode 0600) holding text; the folders must exist. */
static inline void wfx_write(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	assert_true(fputs(text, fp) >= 0);
	assert_int_equal(fclose(fp), 0);
}

/* Two PyPI registries, a and b (tokens PYPI_A, PYPI_B), on a closed port:
 * nothing is ever sent to them. */
#define WFX_REGISTRIES                                                                   \
	"\"registries\":{\"a\":{\"type\":\"pypi\",\"url\":\"http://127.0.0.1:1/a/\","    \
	"\"token_key\":\"PYPI_A\"},\"b\":{\"type\":\"pypi\",\"url\":"                    \
	"\"http://127.0.0.1:1/b/\",\"token_key\":\"PYPI_B\"}}"

static inline void wfx_config(struct wfx *f)
{
	char err[512];

	assert_true(
	    asprintf(&f->cfg_text,
		     "{\"state_dir\":\"%s\",\"runtime_dir\":\"%s\","
		     "\"vault\":{\"address\":\"http://127.0.0.1:1\",\"auth\":{"
		     "\"method\":\"token\",\"token_file\":\"token\"}}," WFX_REGISTRIES
		     ",\"queue\":{\"max_attempts\":3,\"backoff_min_ms\":%d,"
		     "\"backoff_max_ms\":%d,\"lease_s\":%d,\"max_running\":4}}",
		     f->dir, f->dir, BACKOFF_MIN, BACKOFF_MAX, LEASE_MS / 1000) > 0);
	if (config_parse(f->cfg_text, strlen(f->cfg_text), "/etc/aos-test/config.json",
			 &f->cfg, err, sizeof(err)) != 0)
		fail_msg("config_parse: %s", err);
}

/* Puts tokens into the session's store (NULL: the key has none) and marks
 * the secret read, as a successful Vault read would. */
static inline void wfx_tokens(struct wfx *f, const char *a, const char *b)
{
	const char *const keys[] = {"PYPI_A", "PYPI_B"};
	const char *vals[] = {a, b};
	struct secret *s[2] = {NULL, NULL};
	struct store_change ch[2];
	int i;

	for (i = 0; i < 2; i++)
		if (vals[i] != NULL)
			assert_int_equal(secret_new(vals[i], strlen(vals[i]), &s[i]), 0);
	assert_true(store_update(session_store(f->s), 1, "", keys, s, 2, ch, 2) >= 0);
	for (i = 0; i < 2; i++)
		secret_unref(s[i]);
	f->s->loaded = true;
}

static const struct worker_hooks wfx_hooks = {
    .job_event = hook_job_event,
    .job_changed = hook_job_changed,
    .upload_done = hook_upload_done,
    .logged = hook_logged,
};

/* ---- the thread's connection ---- */

static inline void fake_note(char c)
{
	uv_mutex_lock(&fake.mu);
	if (fake.ncalls < sizeof(fake.calls) - 1)
		fake.calls[fake.ncalls++] = c;
	if (fake.hold == c) {
		fake.held = true;
		uv_cond_broadcast(&fake.cv);
		while (fake.hold == c)
			uv_cond_wait(&fake.cv, &fake.mu);
		fake.held = false;
	}
	uv_mutex_unlock(&fake.mu);
}

static inline int fake_finish(struct queue *q, int64_t id, int64_t fence,
			      enum job_state st, int64_t next_run, enum pub_outcome out,
			      const char *error, int64_t now)
{
	fake_note('f');
	if (fake.finish > 0 && fake.finish--)
		return -EBUSY;
	return fake.real->finish(q, id, fence, st, next_run, out, error, now);
}

static inline int fake_upload_set(struct queue *q, int64_t id, int64_t fence,
				  const char *filename, enum upload_state st,
				  enum pub_outcome out, const char *answer, int64_t now)
{
	fake_note('u');
	if (fake.upload > 0 && fake.upload--)
		return -EBUSY;
	return fake.real->upload_set(q, id, fence, filename, st, out, answer, now);
}

static inline int fake_heartbeat(struct queue *q, int64_t id, int64_t fence, int64_t now,
				 int64_t lease_ms)
{
	fake_note('h');
	if (fake.heartbeat > 0 && fake.heartbeat--)
		return -EBUSY;
	return fake.real->heartbeat(q, id, fence, now, lease_ms);
}

/* queue_async's open, on its thread: a further connection, through fake. */
static inline int wfx_open_more(const char *path, struct queue **ret, char *err,
				size_t errlen)
{
	int rc = queue_sqlite_open_more(path, ret, err, errlen);

	if (rc == 0) {
		fake.real = (*ret)->ops;
		fake.ops = *fake.real;
		fake.ops.finish = fake_finish;
		fake.ops.upload_set = fake_upload_set;
		fake.ops.heartbeat = fake_heartbeat;
		(*ret)->ops = &fake.ops;
	}
	return rc;
}

/* Forgets the calls noted so far (nothing out). */
static inline void fake_mark(void)
{
	uv_mutex_lock(&fake.mu);
	memset(fake.calls, 0, sizeof(fake.calls));
	fake.ncalls = 0;
	uv_mutex_unlock(&fake.mu);
}

/* The next call noted c waits on the thread until wfx_release(). */
static inline void wfx_hold(char c)
{
	uv_mutex_lock(&fake.mu);
	fake.hold = c;
	uv_mutex_unlock(&fake.mu);
}

/* Waits until the held call has reached the thread. */
static inline void wfx_wait_held(void)
{
	uv_mutex_lock(&fake.mu);
	while (!fake.held)
		uv_cond_wait(&fake.cv, &fake.mu);
	uv_mutex_unlock(&fake.mu);
}

static inline void wfx_release(void)
{
	uv_mutex_lock(&fake.mu);
	fake.hold = 0;
	uv_cond_broadcast(&fake.cv);
	uv_mutex_unlock(&fake.mu);
}

/* Runs the loop until every request the worker posted has completed (and
 * what the completions posted). */
static inline void wfx_settle(struct wfx *f)
{
	while (queue_async_pending(f->qa) > 0)
		uv_run(&f->loop, UV_RUN_ONCE);
}

/* A fresh fixture with tokens for both registries and its worker (which
 * has not looked for jobs yet: the loop has not run). */
static inline struct wfx *wfx_new(void)
{
	struct wfx *f = calloc(1, sizeof(*f));
	struct worker_env env = {0};
	char path[128], err[512];

	assert_non_null(f);
	wfx_cur = f;
	f->loop_thread = uv_thread_self();
	snprintf(f->dir, sizeof(f->dir), "/tmp/aos-worker-test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	wfx_config(f);
	snprintf(path, sizeof(path), "%s/queue.db", f->dir);
	if (queue_sqlite_open(path, &f->q, err, sizeof(err)) != 0)
		fail_msg("queue_sqlite_open: %s", err);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	memset(&fake, 0, sizeof(fake));
	assert_int_equal(uv_mutex_init(&fake.mu), 0);
	assert_int_equal(uv_cond_init(&fake.cv), 0);
	assert_int_equal(queue_async_new_open(&f->loop,
					      &(struct queue_async_open){
						  .open = wfx_open_more, .target = path},
					      0, &f->qa),
			 0);
	assert_int_equal(session_new(&f->loop, NULL, f->cfg, NULL, NULL, &f->s), 0);
	wfx_tokens(f, "tok-a", "tok-b");
	f->now = T0;
	f->io = (struct worker_io){.now = wfx_now,
				   .rnd = wfx_rnd,
				   .publish_start = wfx_publish_start,
				   .publish_abort = wfx_publish_abort,
				   .publish_send_ready = wfx_publish_send_ready};
	env.pub.loop = &f->loop;
	env.pub.session = f->s;
	env.pub.cfg = &f->cfg;
	env.hooks = wfx_hooks;
	env.hooks.data = f;
	assert_int_equal(worker_new(&env, f->qa, &f->w), 0);
	f->w->io = &f->io;
	worker_start(f->w); /* release_owner, then claims */
	wfx_settle(f);
	return f;
}

/* Closes the worker (releasing what still runs), lets its last writes
 * complete, closes the queue_async (its thread joined), the session and the
 * queue; the loop must end with every handle closed. */
static inline void wfx_free(struct wfx *f)
{
	worker_close(f->w);
	wfx_settle(f);
	assert_int_equal(queue_async_close(f->qa, NULL, NULL), 0);
	room_fx_close(&f->loop, f->s, f->q, f->cfg, f->cfg_text, f->dir);
	uv_cond_destroy(&fake.cv);
	uv_mutex_destroy(&fake.mu);
	wfx_cur = NULL;
	free(f);
}

/* Runs what the loop has ready (a kick's look for jobs, close callbacks of
 * finished runs), then until the completions ran. */
static inline void wfx_run(struct wfx *f)
{
	uv_run(&f->loop, UV_RUN_NOWAIT);
	wfx_settle(f);
}

/* Lets the worker look for due jobs at the injected time. */
static inline void wfx_tick(struct wfx *f)
{
	worker_kick(f->w);
	wfx_run(f);
}

/* The answer of job id, as a follower gets it (follow.c reads the job
 * and its uploads, then worker_job_answer_of()). */
static inline cJSON *wfx_answer(struct wfx *f, int64_t id)
{
	struct job_upload ups[8];
	struct job j;
	int n;
	cJSON *answer;

	wfx_settle(f);
	assert_int_equal(f->q->ops->get(f->q, id, &j), 0);
	n = f->q->ops->uploads(f->q, id, ups, 8);
	assert_true(n >= 0);
	answer = worker_job_answer_of(&j, ups, (size_t)n);
	job_clear(&j);
	return answer;
}

/* A spooled copy: <dir>/spool/<job key>/<name>, holding text. */
static inline const char *wfx_spooled(struct wfx *f, const char *key, const char *name,
				      const char *text)
{
	static char path[4][256];
	static int k;

	k = (k + 1) % 4;
	snprintf(path[k], sizeof(path[k]), "%s/spool", f->dir);
	(void)mkdir(path[k], 0750);
	snprintf(path[k], sizeof(path[k]), "%s/spool/%s", f->dir, key);
	(void)mkdir(path[k], 0750);
	snprintf(path[k], sizeof(path[k]), "%s/spool/%s/%s", f->dir, key, name);
	wfx_write(path[k], text);
	return path[k];
}

/* Enqueues a publish job (key, registry, package key) of n spooled files
 * named names, given by the client as /home/dev/dist/NAME. */
static inline int64_t wfx_enqueue(struct wfx *f, const char *key, const char *registry,
				  const char *const *names, size_t n, int max_attempts)
{
	struct job_upload ups[4];
	struct job_new jn = {.kind = JOB_PUBLISH,
			     .idem_key = key,
			     .registry = registry,
			     .package = key,
			     .max_attempts = max_attempts,
			     .uploads = ups,
			     .nuploads = n};
	cJSON *in = cJSON_CreateObject(), *files = cJSON_AddArrayToObject(in, "files");
	char src[300], *text;
	int64_t id = 0;
	size_t i;

	assert_true(n <= 4);
	memset(ups, 0, sizeof(ups));
	for (i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();

		snprintf(src, sizeof(src), "/home/dev/dist/%s", names[i]);
		cJSON_AddStringToObject(o, "path",
					wfx_spooled(f, key, names[i], "0123456789"));
		cJSON_AddStringToObject(o, "filename", names[i]);
		cJSON_AddStringToObject(o, "source", src);
		cJSON_AddItemToArray(files, o);
		snprintf(ups[i].filename, sizeof(ups[i].filename), "%s", names[i]);
		memset(ups[i].sha256, 'a', 64);
	}
	cJSON_AddStringToObject(in, "version", "1.0.0");
	text = cJSON_PrintUnformatted(in);
	jn.inputs = text;
	assert_int_equal(f->q->ops->enqueue(f->q, &jn, f->now, &id), 0);
	cJSON_Delete(in);
	free(text);
	return id;
}

static inline struct job wfx_job(struct wfx *f, int64_t id)
{
	struct job j;

	assert_int_equal(f->q->ops->get(f->q, id, &j), 0);
	job_clear(&j);
	return j;
}

/* Upload name of job id (asserting it exists). */
static inline struct job_upload wfx_upload(struct wfx *f, int64_t id, const char *name)
{
	struct job_upload ups[8];
	int n = f->q->ops->uploads(f->q, id, ups, 8), i;

	for (i = 0; i < n; i++)
		if (strcmp(ups[i].filename, name) == 0)
			return ups[i];
	fail_msg("job %lld has no upload %s", (long long)id, name);
	return ups[0];
}

/* ---- playing the registry: the hooks of the publish that runs ---- */

/* File i is about to be sent: the worker's answer, once its SENDING mark
 * is written (0: send it). */
static inline int pub_send(struct wfx *f, size_t i)
{
	int rc;

	assert_true(f->pub.running);
	f->pub.ready_rc[i] = 1;
	rc = f->pub.hooks.sending(f->pub.hooks.data, i);
	if (rc != PUBLISH_SEND_LATER)
		return rc;
	wfx_settle(f);
	assert_int_not_equal(f->pub.ready_rc[i], 1);
	return f->pub.ready_rc[i];
}

static inline void pub_file(struct wfx *f, size_t i, enum pub_outcome out,
			    const char *message)
{
	assert_true(f->pub.running);
	f->pub.hooks.file_done(f->pub.hooks.data, i, out, message);
	wfx_settle(f);
}

/* The publish ends; the worker settles the job and frees the run (its
 * timer is closed by the next loop run). */
static inline void pub_finish(struct wfx *f, enum pub_outcome out, const char *error,
			      long retry_after_s)
{
	assert_true(f->pub.running);
	f->pub.running = false;
	f->pub.hooks.finished(f->pub.hooks.data, out, error, retry_after_s, NULL);
	wfx_settle(f);
}

/* Asserts the hooks reported exactly want (NULL-terminated), in order. */
static inline void wfx_assert_heard(struct wfx *f, const char *const *want)
{
	size_t i;

	for (i = 0; want[i] != NULL; i++) {
		if (i >= f->nheard)
			fail_msg("hook %zu: none, wanted \"%s\"", i, want[i]);
		if (strcmp(f->heard[i], want[i]) != 0)
			fail_msg("hook %zu: \"%s\", wanted \"%s\"", i, f->heard[i],
				 want[i]);
	}
	if (f->nheard != i)
		fail_msg("hook %zu: \"%s\" not wanted", i, f->heard[i]);
}

static inline int wfx_setup(void **state)
{
	(void)state;
	log_init(LOG_LVL_ERR);
	return secret_init_process(64 * 1024);
}

#endif
