/* Unit tests for agent/publish/spool.c: a client's files taken by
 * descriptor, copied and inspected on the thread pool, then committed as a
 * job to a real SQLite queue in a temporary folder (or refused, or shown
 * as a dry run).  The test runs the loop until the request's hook has
 * spoken; a PyPI registry without index_url needs no server at all.
 * Wheels are written at test time (pub_fixture.h). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "base/log.h"
#include "base/transport.h"
#include "common/err.h"
#include "common/hex.h"
#include "config/config.h"
#include "publish/spool.h"
#include "queue/queue.h"
#include "session/session.h"
#include "tests/unit/publishers/pub_fixture.h"

#define WHEEL "aos_sdk-0.1.0-py3-none-any.whl"
#define WHEEL_META "Metadata-Version: 2.1\nName: aos-sdk\nVersion: 0.1.0\n"

static const struct fx_member wheel[] = {
    {"aos_sdk/__init__.py", "VERSION = '0.1.0'\n", 0, 0, NULL},
    {"aos_sdk-0.1.0.dist-info/METADATA", WHEEL_META, 0, 0, NULL},
    {"aos_sdk-0.1.0.dist-info/WHEEL", "Wheel-Version: 1.0\n", 0, 0, NULL},
    {"aos_sdk-0.1.0.dist-info/RECORD", "", 0, 0, NULL},
};

/* A queue whose writes fail, around the real one. */
struct failing_queue {
	struct queue q;
	struct queue_ops ops;
	struct queue *real;
};

struct sfx {
	uv_loop_t loop;
	char *cfg_text;
	struct config *cfg;
	struct queue *q;
	struct transport *tp;
	struct vault_session *s;
	struct failing_queue fq;
	bool stopping;
	char spool[128];
	/* what the hooks heard, in order */
	char heard[8][1600];
	size_t nheard;
	int result;
	int64_t id;
	struct job job; /* read from the queue when committed was called */
	enum pub_outcome refused_out, dry_out;
	struct publish_op *dry_op;
};

static void heard(struct sfx *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void heard(struct sfx *f, const char *fmt, ...)
{
	va_list ap;

	assert_true(f->nheard < 8);
	va_start(ap, fmt);
	vsnprintf(f->heard[f->nheard++], sizeof(f->heard[0]), fmt, ap);
	va_end(ap);
}

static void on_committed(void *data, int result, int64_t id, const char *key)
{
	struct sfx *f = data;

	f->result = result;
	f->id = id;
	/* the job is in the queue before its id is handed out */
	assert_int_equal(f->q->ops->get(f->q, id, &f->job), 0);
	heard(f, "committed %d %s", result, key);
}

static void on_refused(void *data, enum pub_outcome out, const char *error)
{
	struct sfx *f = data;

	f->refused_out = out;
	heard(f, "refused %s", error);
}

static void on_dry_run_started(void *data, struct publish_op *op)
{
	struct sfx *f = data;

	f->dry_op = op;
	heard(f, "dry-run started");
}

static void on_dry_finished(void *data, enum pub_outcome out, const char *error,
			    long retry_after_s, const cJSON *answer)
{
	struct sfx *f = data;

	(void)error, (void)retry_after_s, (void)answer;
	f->dry_out = out;
	heard(f, "dry-run finished");
}

static void on_kick(void *data)
{
	heard(data, "kick");
}

static int fail_enqueue(struct queue *q, const struct job_new *j, int64_t now_ms,
			int64_t *ret_id)
{
	(void)q, (void)j, (void)now_ms, (void)ret_id;
	return -EIO;
}

static struct sfx *sfx_new(void)
{
	struct sfx *f = calloc(1, sizeof(*f));
	struct transport_opts topts = {.connect_timeout_ms = 5000, .stall_timeout_s = 5};
	char path[200], err[512];

	assert_non_null(f);
	assert_true(asprintf(&f->cfg_text,
			     "{\"state_dir\":\"%s\",\"runtime_dir\":\"%s\","
			     "\"vault\":{\"address\":\"http://127.0.0.1:1\",\"auth\":{"
			     "\"method\":\"token\",\"token_file\":\"token\"}},"
			     "\"publish\":{\"max_file_bytes\":4096},"
			     "\"registries\":{\"a\":{\"type\":\"pypi\",\"url\":"
			     "\"http://127.0.0.1:1/a/\",\"token_key\":\"PYPI\"}}}",
			     fx_dir, fx_dir) > 0);
	if (config_parse(f->cfg_text, strlen(f->cfg_text), "/etc/aos-test/config.json",
			 &f->cfg, err, sizeof(err)) != 0)
		fail_msg("config_parse: %s", err);
	snprintf(f->spool, sizeof(f->spool), "%s/spool", fx_dir);
	snprintf(path, sizeof(path), "%s/queue.db", fx_dir);
	if (queue_sqlite_open(path, &f->q, err, sizeof(err)) != 0)
		fail_msg("queue_sqlite_open: %s", err);
	f->fq.real = f->q;
	f->fq.ops = *f->q->ops;
	f->fq.ops.enqueue = fail_enqueue;
	f->fq.q.ops = &f->fq.ops;
	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(transport_new(&f->loop, &topts, &f->tp), 0);
	assert_int_equal(session_new(&f->loop, NULL, f->cfg, NULL, NULL, &f->s), 0);
	fx_write_archive(WHEEL, FX_ZIP, wheel, 4);
	return f;
}

static void sfx_free(struct sfx *f)
{
	transport_close(f->tp);
	session_close(f->s);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	f->q->ops->close(f->q);
	config_free(f->cfg);
	free(f->cfg_text);
	job_clear(&f->job);
	free(f);
}

/* Empties the scratch folder before each test (a failed test leaves its
 * files). */
static int sfx_clean(void **state)
{
	char cmd[200];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'/*", fx_dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* The hooks every request gets; dry runs report to this fixture too. */
static struct spool_hooks hooks_of(struct sfx *f)
{
	struct spool_hooks h = {.committed = on_committed,
				.refused = on_refused,
				.dry_run_started = on_dry_run_started,
				.data = f};

	h.dry_run.finished = on_dry_finished;
	h.dry_run.data = f;
	return h;
}

/* What the spool uses: this fixture's loop, transport, session and
 * configuration, queue q, and the worker's kick. */
static struct spool_env env_of(struct sfx *f, struct queue *q)
{
	struct spool_env env = {.queue = q,
				.stopping = &f->stopping,
				.committed = on_kick,
				.committed_data = f};

	env.pub = (struct publish_env){
	    .loop = &f->loop, .tp = f->tp, .session = f->s, .cfg = &f->cfg};
	return env;
}

/* Spools the files names (in the scratch folder, opened with flags) for
 * registry a; runs the loop until everything the request started ended.
 * Returns what spool_enqueue returned. */
static int spool(struct sfx *f, struct queue *q, const char *idem_key, bool dry_run,
		 const char *version, const char *const *names, size_t n, int flags)
{
	struct spool_hooks h = hooks_of(f);
	struct spool_env env = env_of(f, q);
	struct spool_request r = {.registry = "a",
				  .version = version,
				  .idem_key = idem_key,
				  .dry_run = dry_run,
				  .names = names,
				  .nfiles = n,
				  .uid = 1000,
				  .pid = 42,
				  .hooks = &h};
	struct spool_op *op = NULL;
	int fds[4], rc;
	char msg[512];
	size_t i;

	for (i = 0; i < n; i++) {
		fds[i] = open(fx_path(names[i]), flags | O_CLOEXEC);
		assert_true(fds[i] >= 0);
	}
	r.fds = fds;
	rc = spool_enqueue(&env, &r, &op, msg, sizeof(msg));
	if (rc < 0) {
		heard(f, "error %s", msg);
		for (i = 0; i < n; i++) /* closed by the spool */
			assert_true(fcntl(fds[i], F_GETFD) < 0 && errno == EBADF);
		return rc;
	}
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	return rc;
}

static int spool_one(struct sfx *f, const char *name)
{
	const char *names[] = {name};

	return spool(f, f->q, NULL, false, NULL, names, 1, O_RDONLY);
}

/* Entries of the spool folder (0 when it does not exist). */
static int spool_entries(struct sfx *f)
{
	DIR *d = opendir(f->spool);
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return 0;
	while ((e = readdir(d)) != NULL)
		n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
	closedir(d);
	return n;
}

static int64_t jobs(struct sfx *f)
{
	int64_t c[JOB_CANCELED + 1], n = 0;
	int s;

	assert_int_equal(f->q->ops->counts(f->q, c), 0);
	for (s = JOB_QUEUED; s <= JOB_CANCELED; s++)
		n += c[s];
	return n;
}

static void sha256_file(const char *name, char hex[65])
{
	unsigned char md[32];
	size_t len;
	char *data = fx_read_file(name, &len);

	assert_int_equal(EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL), 1);
	aos_hex(md, 32, hex);
	free(data);
}

/* Asserts the request was refused (as out) with a message holding want
 * and left nothing behind: no job, nothing in the spool. */
static void assert_refused(struct sfx *f, enum pub_outcome out, const char *want)
{
	assert_int_equal(f->nheard, 1);
	assert_int_equal(strncmp(f->heard[0], "refused ", 8), 0);
	if (strstr(f->heard[0], want) == NULL)
		fail_msg("\"%s\" lacks \"%s\"", f->heard[0], want);
	assert_null(
	    strstr(f->heard[0], f->spool)); /* the client's name, not the copy's */
	assert_int_equal(f->refused_out, out);
	assert_int_equal(jobs(f), 0);
	assert_int_equal(spool_entries(f), 0);
}

/* The file is copied, hashed and committed; the id comes after the commit,
 * the worker's kick after the listener heard. */
static void test_committed(void **state)
{
	struct sfx *f = sfx_new();
	const char *names[] = {WHEEL};
	char sha[65], key[128];
	struct job_upload up;
	cJSON *in, *file;
	const char *copy;
	size_t a, b;
	char *x, *y;

	(void)state;
	assert_int_equal(spool(f, f->q, NULL, false, "0.1.0", names, 1, O_RDONLY), 0);
	assert_int_equal(f->nheard, 2);
	assert_int_equal(f->result, 0);
	assert_true(f->id > 0);
	snprintf(key, sizeof(key), "committed 0 %s", f->job.idem_key);
	assert_string_equal(f->heard[0], key);
	assert_int_equal(strncmp(f->job.idem_key, "publish:", 8), 0);
	assert_string_equal(f->heard[1], "kick");
	assert_int_equal(f->job.state, JOB_QUEUED);
	assert_int_equal(f->job.kind, JOB_PUBLISH);
	assert_string_equal(f->job.registry, "a");
	assert_string_equal(f->job.package, "aos-sdk");

	in = cJSON_Parse(f->job.inputs);
	file = cJSON_GetArrayItem(cJSON_GetObjectItem(in, "files"), 0);
	copy = cJSON_GetStringValue(cJSON_GetObjectItem(file, "path"));
	assert_non_null(copy);
	assert_int_equal(strncmp(copy, f->spool, strlen(f->spool)), 0);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(file, "source")),
			    WHEEL);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(in, "version")),
			    "0.1.0");
	assert_int_equal(cJSON_GetNumberValue(cJSON_GetObjectItem(
			     cJSON_GetObjectItem(in, "submitted_by"), "uid")),
			 1000);
	/* the copy is the file, and its digest is recorded */
	x = fx_read_file(WHEEL, &a);
	y = fx_read_file(copy + strlen(fx_dir) + 1, &b);
	assert_int_equal(a, b);
	assert_memory_equal(x, y, a);
	free(x);
	free(y);
	sha256_file(WHEEL, sha);
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(file, "sha256")),
			    sha);
	assert_int_equal(f->q->ops->uploads(f->q, f->id, &up, 1), 1);
	assert_string_equal(up.sha256, sha);
	assert_string_equal(up.filename, WHEEL);
	assert_int_equal(spool_entries(f), 1); /* the job's folder, no .incoming-* */
	cJSON_Delete(in);
	sfx_free(f);
}

/* env.commit: a committer that holds the job until the test commits it
 * (as the daemon's writer does on its thread). */
static struct held {
	const struct job_new *jn;
	void (*done)(void *op, int result, int64_t id);
	void *op;
	int fail; /* returned instead of holding */
} held;

static int hold_commit(void *data, const struct job_new *jn, int64_t now_ms,
		       void (*done)(void *op, int result, int64_t id), void *op)
{
	(void)data;
	(void)now_ms;
	if (held.fail < 0)
		return held.fail;
	held = (struct held){.jn = jn, .done = done, .op = op};
	return 0;
}

/* Spools WHEEL with hold_commit as env.commit; runs the loop until the
 * request waits for its commit.  forget: the listener leaves first. */
static void spool_held(struct sfx *f, bool forget)
{
	const char *names[] = {WHEEL};
	struct spool_hooks h = hooks_of(f);
	struct spool_env env = env_of(f, f->q);
	struct spool_request r = {
	    .registry = "a", .names = names, .nfiles = 1, .hooks = &h};
	struct spool_op *op = NULL;
	char msg[256];
	int fd = open(fx_path(WHEEL), O_RDONLY | O_CLOEXEC);

	env.commit = hold_commit;
	r.fds = &fd;
	assert_int_equal(spool_enqueue(&env, &r, &op, msg, sizeof(msg)), 0);
	if (forget)
		spool_forget(op);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
}

/* Committed elsewhere: nothing is heard until the commit returns (no id
 * before the commit), the job it was handed is whole until then, and
 * after it the listener hears the id, then the worker's kick. */
static void test_committed_elsewhere(void **state)
{
	struct sfx *f = sfx_new();
	char key[128];
	int64_t id = 0;
	int r;

	(void)state;
	memset(&held, 0, sizeof(held));
	spool_held(f, false);
	assert_non_null(held.jn);
	assert_int_equal(f->nheard, 0);
	assert_int_equal(jobs(f), 0);
	r = f->q->ops->enqueue(f->q, held.jn, 1000, &id);
	assert_int_equal(r, 0);
	held.done(held.op, r, id);
	assert_int_equal(f->nheard, 2);
	snprintf(key, sizeof(key), "committed 0 %s", f->job.idem_key);
	assert_string_equal(f->heard[0], key);
	assert_string_equal(f->heard[1], "kick");
	assert_int_equal(f->id, id);
	assert_string_equal(f->job.package, "aos-sdk");

	/* the listener left while the commit was held: the job still counts */
	f->nheard = 0;
	memset(&held, 0, sizeof(held));
	spool_held(f, true);
	assert_int_equal(f->nheard, 0);
	held.done(held.op, -EIO, 0); /* the commit failed: nobody to tell */
	assert_int_equal(f->nheard, 0);
	sfx_free(f);
}

/* The committer cannot take the job: refused, the copies removed. */
static void test_committer_refuses(void **state)
{
	struct sfx *f = sfx_new();

	(void)state;
	memset(&held, 0, sizeof(held));
	held.fail = -ENOMEM;
	spool_held(f, false);
	assert_refused(f, OUT_ERROR, "cannot write the job to the queue database");
	sfx_free(f);

	/* Busy (the daemon's write queue full): unavailable, retry. */
	f = sfx_new();
	held.fail = -EBUSY;
	spool_held(f, false);
	assert_refused(f, OUT_UNAVAILABLE, "the daemon is busy");
	assert_refused(f, OUT_UNAVAILABLE, "retry in a moment");
	held.fail = 0;
	sfx_free(f);
}

/* The same idempotency key again: the job of the first request, one
 * folder in the spool. */
static void test_idempotency_key(void **state)
{
	struct sfx *f = sfx_new();
	const char *names[] = {WHEEL};
	char want[64];
	int64_t first;

	(void)state;
	assert_int_equal(spool(f, f->q, "release-0.1.0", false, NULL, names, 1, O_RDONLY),
			 0);
	first = f->id;
	assert_int_equal(f->result, 0);
	job_clear(&f->job);
	f->nheard = 0;
	assert_int_equal(spool(f, f->q, "release-0.1.0", false, NULL, names, 1, O_RDONLY),
			 0);
	assert_int_equal(f->result, AOS_EEXIST);
	assert_int_equal(f->id, first);
	snprintf(want, sizeof(want), "committed %d release-0.1.0", AOS_EEXIST);
	assert_string_equal(f->heard[0], want);
	assert_int_equal(jobs(f), 1);
	assert_int_equal(spool_entries(f), 1);
	/* without a key each request is its own job */
	job_clear(&f->job);
	assert_int_equal(spool_one(f, WHEEL), 0);
	assert_int_equal(jobs(f), 2);
	sfx_free(f);
}

/* Refused before a hook: an unknown registry, no files; the descriptors
 * are closed all the same. */
static void test_refused_at_once(void **state)
{
	struct sfx *f = sfx_new();
	const char *names[] = {WHEEL};
	struct spool_hooks h = hooks_of(f);
	struct spool_env env = env_of(f, f->q);
	struct spool_request r = {
	    .registry = "nope", .names = names, .nfiles = 1, .hooks = &h};
	struct spool_op *op = NULL;
	char msg[256];
	int fd = open(fx_path(WHEEL), O_RDONLY | O_CLOEXEC);

	(void)state;
	r.fds = &fd;
	assert_int_equal(spool_enqueue(&env, &r, &op, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "no registry named \"nope\""));
	assert_true(fcntl(fd, F_GETFD) < 0 && errno == EBADF);
	assert_int_equal(spool(f, f->q, NULL, false, NULL, names, 0, O_RDONLY), -EINVAL);
	assert_non_null(strstr(f->heard[0], "expected 1 to 64 files"));
	assert_int_equal(jobs(f), 0);
	assert_int_equal(spool_entries(f), 0);
	sfx_free(f);
}

/* Files at fault: nothing queued, nothing left in the spool, the message
 * names the client's file. */
static void test_refused_files(void **state)
{
	struct sfx *f = sfx_new();
	const char *names[] = {WHEEL, WHEEL};
	char big[5000];

	(void)state;
	assert_int_equal(spool(f, f->q, NULL, false, "9.9.9", names, 1, O_RDONLY), 0);
	assert_refused(f, OUT_INVALID, "9.9.9");
	f->nheard = 0;
	assert_int_equal(spool(f, f->q, NULL, false, NULL, names, 2, O_RDONLY), 0);
	assert_refused(f, OUT_INVALID, WHEEL ": two files of the same name");
	f->nheard = 0;
	fx_write_file("pkg-1.0-py3-none-any.whl", "not a zip", 9);
	assert_int_equal(spool_one(f, "pkg-1.0-py3-none-any.whl"), 0);
	assert_refused(f, OUT_INVALID, "pkg-1.0-py3-none-any.whl");
	f->nheard = 0;
	memset(big, 'x', sizeof(big));
	fx_write_file("big-1.0.tar.gz", big, sizeof(big));
	assert_int_equal(spool_one(f, "big-1.0.tar.gz"), 0);
	assert_refused(f, OUT_INVALID, "over publish.max_file_bytes (4096 bytes)");
	f->nheard = 0;
	assert_int_equal(mkdir(fx_path("dir-1.0.tar.gz"), 0700), 0);
	assert_int_equal(spool_one(f, "dir-1.0.tar.gz"), 0);
	assert_refused(f, OUT_INVALID, "is a directory, not a regular file");
	sfx_free(f);
}

/* A descriptor that cannot be read is a copy error: refused, cleaned up. */
static void test_unreadable_fd(void **state)
{
	struct sfx *f = sfx_new();
	const char *names[] = {WHEEL};

	(void)state;
	assert_int_equal(spool(f, f->q, NULL, false, NULL, names, 1, O_WRONLY), 0);
	assert_refused(f, OUT_INVALID, WHEEL ": read error");
	sfx_free(f);
}

/* The queue refusing the write: an error of the daemon's, and the copies
 * that were spooled for the job are removed. */
static void test_queue_write_fails(void **state)
{
	struct sfx *f = sfx_new();
	const char *names[] = {WHEEL};

	(void)state;
	assert_int_equal(spool(f, &f->fq.q, NULL, false, NULL, names, 1, O_RDONLY), 0);
	assert_refused(f, OUT_ERROR, "cannot write the job to the queue database");
	sfx_free(f);
}

/* A listener gone: no hook, but the job is committed and the worker
 * kicked. */
static void test_forgotten(void **state)
{
	struct sfx *f = sfx_new();
	const char *names[] = {WHEEL};
	struct spool_hooks h = hooks_of(f);
	struct spool_env env = env_of(f, f->q);
	struct spool_request r = {
	    .registry = "a", .names = names, .nfiles = 1, .hooks = &h};
	struct spool_op *op = NULL;
	char msg[256];
	int fd = open(fx_path(WHEEL), O_RDONLY | O_CLOEXEC);

	(void)state;
	r.fds = &fd;
	assert_int_equal(spool_enqueue(&env, &r, &op, msg, sizeof(msg)), 0);
	spool_forget(op);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(f->nheard, 1);
	assert_string_equal(f->heard[0], "kick");
	assert_int_equal(jobs(f), 1);

	/* a dry run whose client left is not started; its copies go */
	fd = open(fx_path(WHEEL), O_RDONLY | O_CLOEXEC);
	r.fds = &fd;
	r.dry_run = true;
	f->nheard = 0;
	assert_int_equal(spool_enqueue(&env, &r, &op, msg, sizeof(msg)), 0);
	spool_forget(op);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(f->nheard, 0);
	assert_int_equal(spool_entries(f), 1); /* the job's folder alone */
	sfx_free(f);
}

/* A dry run: its publish starts (and reports through the dry-run hooks),
 * nothing is queued, its copies are gone when it ends.  (Its look at the
 * registry's index finds a closed port on 127.0.0.1: answered at once.) */
static void test_dry_run(void **state)
{
	struct sfx *f = sfx_new();
	const char *names[] = {WHEEL};

	(void)state;
	assert_int_equal(spool(f, f->q, NULL, true, NULL, names, 1, O_RDONLY), 0);
	assert_int_equal(f->nheard, 2);
	assert_string_equal(f->heard[0], "dry-run started");
	assert_string_equal(f->heard[1], "dry-run finished");
	assert_non_null(f->dry_op);
	assert_int_equal(f->dry_out, OUT_DRY_RUN);
	assert_int_equal(jobs(f), 0);
	assert_int_equal(spool_entries(f), 0);
	sfx_free(f);
}

/* spool_take_fd: a file that reads shorter than its size (it shrank while
 * it was copied; a sysfs file does so every time) is refused as the
 * client's fault, like one that grows, before its inspection says
 * anything of the bytes it got. */
static void test_copy_short_file(void **state)
{
	const char *src = "/sys/devices/system/cpu/online";
	struct artifact *art = NULL;
	struct stat st;
	char msg[256], dst[200];
	bool theirs = false;
	int fd, rc;

	(void)state;
	fd = open(src, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size <= 64) {
		if (fd >= 0)
			close(fd);
		skip(); /* no sysfs here: reported as skipped, never as passed */
	}
	snprintf(dst, sizeof(dst), "%s/short-1.0-py3-none-any.whl", fx_dir);
	rc = spool_take_fd(fd, "online", dst, 1 << 20, NULL, &art, &theirs, msg,
			   sizeof(msg));
	close(fd);
	unlink(dst);
	assert_int_equal(rc, -EINVAL);
	assert_null(art);
	assert_true(theirs);
	assert_non_null(strstr(msg, "online changed while it was copied"));
}

static int group_setup(void **state)
{
	log_init(LOG_LVL_ERR);
	return fx_setup(state);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup(test_committed, sfx_clean),
	    cmocka_unit_test_setup(test_committed_elsewhere, sfx_clean),
	    cmocka_unit_test_setup(test_committer_refuses, sfx_clean),
	    cmocka_unit_test_setup(test_idempotency_key, sfx_clean),
	    cmocka_unit_test_setup(test_refused_at_once, sfx_clean),
	    cmocka_unit_test_setup(test_refused_files, sfx_clean),
	    cmocka_unit_test_setup(test_unreadable_fd, sfx_clean),
	    cmocka_unit_test_setup(test_queue_write_fails, sfx_clean),
	    cmocka_unit_test_setup(test_forgotten, sfx_clean),
	    cmocka_unit_test_setup(test_dry_run, sfx_clean),
	    cmocka_unit_test_setup(test_copy_short_file, sfx_clean),
	};

	return cmocka_run_group_tests(tests, group_setup, fx_teardown);
}
