/* Unit tests for agent/pipeline/reconcile.c, the scan behind `reconcile`:
 * which tags are queued given what each target registry holds.  git
 * ls-remote and the index requests go through the scan's seam (struct
 * reconcile_io): the test hands it the tag lines and answers each request
 * (PyPI simple page as PEP 691 JSON or PEP 503 HTML, npm packument); the
 * jobs go to a real SQLite queue in a temporary folder. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/child.h"
#include "base/log.h"
#include "base/transport.h"
#include "common/err.h"
#include "config/config.h"
#include "pipeline/reconcile.h"
#include "queue/queue.h"
#include "sandbox/sandbox.h"
#include "session/session.h"
#include "tests/unit/room_fixture.h"

#define C1 "1111111111111111111111111111111111111111"
#define C2 "2222222222222222222222222222222222222222"
#define C3 "3333333333333333333333333333333333333333"
#define TAGOBJ "9999999999999999999999999999999999999999"

#define PYPI_JSON                                                                        \
	"{\"meta\":{\"api-version\":\"1.1\"},\"name\":\"aos-sdk\",\"files\":["           \
	"{\"filename\":\"aos_sdk-1.0.0-py3-none-any.whl\"},"                             \
	"{\"filename\":\"aos_sdk-1.1.0.tar.gz\"},"                                       \
	"{\"filename\":\"other_pkg-1.2.0-py3-none-any.whl\"}]}"
#define PYPI_HTML                                                                        \
	"<!DOCTYPE html><html><body><h1>Links for aos-sdk</h1>\n"                        \
	"<a href=\"../../f/aos_sdk-1.0.0-py3-none-any.whl#sha256=00\">"                  \
	"aos_sdk-1.0.0-py3-none-any.whl</a><br/>\n"                                      \
	"<a href=\"../../f/aos_sdk-1.1.0.tar.gz#sha256=00\">aos_sdk-1.1.0.tar.gz</a>\n"  \
	"</body></html>"
#define NPM_PACKUMENT                                                                    \
	"{\"name\":\"aos-sdk\",\"dist-tags\":{\"latest\":\"1.0.0\"},"                    \
	"\"versions\":{\"1.0.0\":{\"dist\":{\"shasum\":\"00\"}}}}"

struct rfx {
	uv_loop_t loop;
	char dir[64];
	char *cfg_text;
	struct config *cfg;
	struct transport *tp;
	struct vault_session *s;
	struct queue *q;
	struct sandbox_caps caps;
	struct reconcile_io io;
	struct reconcile_op *op;
	/* git ls-remote, as the scan asked for it */
	struct child_opts child;
	char argv[16][256];
	size_t argc;
	unsigned spawns;
	/* the index request in flight */
	struct transport_req *req;
	void (*cb)(struct transport_req *req, int result, void *data);
	void *cb_data;
	char url[512];
	unsigned requests;
	/* the hooks */
	cJSON *answer;
	char error[1024];
	unsigned finished, failed, queued;
	/* env.commit, when the test gives it: the batch it holds */
	struct {
		const struct job_new *jn;
		size_t n;
		int64_t *ids;
		int *rcs;
		void (*done)(void *op, int result);
		void *op;
		unsigned calls;
		int refuse; /* < 0: returned at once, done not called */
	} held;
};

static struct rfx *rfx_cur;

static int fake_spawn(uv_loop_t *loop, const struct child_opts *o, struct child **ret)
{
	struct rfx *f = rfx_cur;

	assert_ptr_equal(loop, &f->loop);
	f->spawns++;
	f->child = *o;
	for (f->argc = 0; o->argv[f->argc] != NULL && f->argc < 16; f->argc++)
		snprintf(f->argv[f->argc], sizeof(f->argv[0]), "%s", o->argv[f->argc]);
	*ret = NULL; /* the scan keeps no handle */
	return 0;
}

static int fake_send(struct transport_req *req,
		     void (*cb)(struct transport_req *req, int result, void *data),
		     void *data)
{
	struct rfx *f = rfx_cur;
	char *url = NULL;

	assert_null(f->req); /* one request at a time */
	f->req = req;
	f->cb = cb;
	f->cb_data = data;
	f->requests++;
	assert_int_equal(curl_easy_getinfo(req->easy, CURLINFO_EFFECTIVE_URL, &url),
			 CURLE_OK);
	snprintf(f->url, sizeof(f->url), "%s", url != NULL ? url : "");
	return 0;
}

static void hook_finished(void *data, const cJSON *answer)
{
	struct rfx *f = data;

	f->finished++;
	f->answer = cJSON_Duplicate(answer, true);
}

static void hook_failed(void *data, const char *error)
{
	struct rfx *f = data;

	f->failed++;
	snprintf(f->error, sizeof(f->error), "%s", error);
}

static void env_queued(void *data)
{
	((struct rfx *)data)->queued++;
}

static const struct reconcile_hooks rfx_hooks = {
    .finished = hook_finished,
    .failed = hook_failed,
};

/* Pipeline py: tags v*, package aos-sdk, targets a (PyPI) then b (npm). */
static struct rfx *rfx_new(void)
{
	struct rfx *f = calloc(1, sizeof(*f));
	struct transport_opts topts = {.connect_timeout_ms = 1000, .stall_timeout_s = 5};
	char path[128], err[512];

	assert_non_null(f);
	rfx_cur = f;
	snprintf(f->dir, sizeof(f->dir), "/tmp/aos-reconcile-test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_true(
	    asprintf(
		&f->cfg_text,
		"{\"state_dir\":\"%s\",\"runtime_dir\":\"%s\",\"build_isolation\":"
		"\"off\","
		"\"vault\":{\"address\":\"http://127.0.0.1:1\",\"auth\":{"
		"\"method\":\"token\",\"token_file\":\"token\"}},"
		"\"registries\":{\"a\":{\"type\":\"pypi\",\"url\":\"http://127.0.0.1:1/a/"
		"\","
		"\"index_url\":\"http://127.0.0.1:1/simple/\",\"token_key\":\"PYPI\"},"
		"\"b\":{\"type\":\"npm\",\"url\":\"http://127.0.0.1:2/\","
		"\"token_key\":\"NPM\"}},"
		"\"pipelines\":{\"py\":{\"repository\":\"https://forge.example.test/"
		"aos.git\","
		"\"tag_pattern\":\"v*\",\"package\":\"aos-sdk\",\"build\":[\"true\"],"
		"\"artifacts\":[\"dist/*\"],\"targets\":[\"a\",\"b\"]}}}",
		f->dir, f->dir) > 0);
	if (config_parse(f->cfg_text, strlen(f->cfg_text), "/etc/aos-test/config.json",
			 &f->cfg, err, sizeof(err)) != 0)
		fail_msg("config_parse: %s", err);
	snprintf(path, sizeof(path), "%s/queue.db", f->dir);
	if (queue_sqlite_open(path, &f->q, err, sizeof(err)) != 0)
		fail_msg("queue_sqlite_open: %s", err);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	assert_int_equal(transport_new(&f->loop, &topts, &f->tp), 0);
	assert_int_equal(session_new(&f->loop, NULL, f->cfg, NULL, NULL, &f->s), 0);
	f->caps.landlock_abi = -ENOSYS;
	f->io = (struct reconcile_io){.spawn = fake_spawn, .send = fake_send};
	return f;
}

static void rfx_free(struct rfx *f)
{
	assert_null(f->req);
	transport_close(f->tp);
	room_fx_close(&f->loop, f->s, f->q, f->cfg, f->cfg_text, f->dir);
	cJSON_Delete(f->answer);
	rfx_cur = NULL;
	free(f);
}

/* What the scan uses: this fixture's loop, transport, session,
 * configuration, queue, sandbox capabilities and seam. */
static struct reconcile_env env_of(struct rfx *f)
{
	struct reconcile_env env = {.loop = &f->loop,
				    .tp = f->tp,
				    .session = f->s,
				    .cfg = &f->cfg,
				    .queue = f->q,
				    .sandbox = &f->caps,
				    .queued = env_queued,
				    .queued_data = f,
				    .io = &f->io};

	return env;
}

/* Starts the scan of py. */
static void rfx_start(struct rfx *f, bool dry_run)
{
	struct reconcile_env env = env_of(f);
	struct reconcile_hooks hooks = rfx_hooks;
	char msg[512];

	hooks.data = f;
	assert_int_equal(
	    reconcile_start(&env, "py", dry_run, &hooks, &f->op, msg, sizeof(msg)), 0);
	assert_int_equal(f->spawns, 1);
}

/* git prints a line. */
static void git_line(struct rfx *f, const char *line)
{
	f->child.line(f->child.data, line, strlen(line));
}

static void git_exit(struct rfx *f, int status)
{
	struct child_result res = {.exit_status = status};

	f->child.done(f->child.data, &res);
}

/* The tags of the repository: v1.0.0, v1.1.0 (annotated: its "^{}" line
 * names the commit), v1.2.0, and vnext (no version: skipped). */
static void git_tags(struct rfx *f)
{
	git_line(f, C1 "\trefs/tags/v1.0.0");
	git_line(f, TAGOBJ "\trefs/tags/v1.1.0");
	git_line(f, C2 "\trefs/tags/v1.1.0^{}");
	git_line(f, C3 "\trefs/tags/v1.2.0");
	git_line(f, C3 "\trefs/tags/vnext");
	git_exit(f, 0);
}

/* Answers the request in flight (asserting its URL) with status and body. */
static void answer(struct rfx *f, const char *url, long status, const char *body)
{
	struct transport_req *req = f->req;

	assert_non_null(req);
	assert_string_equal(f->url, url);
	f->req = NULL;
	req->status = status;
	assert_int_equal(buf_puts(&req->body, body), 0);
	f->cb(req, 0, f->cb_data);
}

#define URL_A "http://127.0.0.1:1/simple/aos-sdk/"
#define URL_B "http://127.0.0.1:2/aos-sdk"

/* The answer's entry for tag. */
static const cJSON *tag_entry(struct rfx *f, const char *tag)
{
	const cJSON *e;

	assert_non_null(f->answer);
	cJSON_ArrayForEach(
	    e,
	    cJSON_GetObjectItem(
		f->answer,
		"tags")) if (strcmp(cJSON_GetStringValue(cJSON_GetObjectItem(e, "tag")),
				    tag) == 0) return e;
	fail_msg("no tag %s in the answer", tag);
	return NULL;
}

/* "a,b": the names in the entry's list key. */
static const char *names(const cJSON *e, const char *key)
{
	static char buf[4][64];
	static int k;
	const cJSON *n;

	k = (k + 1) % 4;
	buf[k][0] = '\0';
	cJSON_ArrayForEach(n, cJSON_GetObjectItem(e, key))
	    snprintf(buf[k] + strlen(buf[k]), sizeof(buf[k]) - strlen(buf[k]), "%s%s",
		     buf[k][0] ? "," : "", n->valuestring);
	return buf[k];
}

static const char *action(struct rfx *f, const char *tag)
{
	return cJSON_GetStringValue(cJSON_GetObjectItem(tag_entry(f, tag), "action"));
}

static int64_t counted(struct rfx *f, enum job_state st)
{
	int64_t c[JOB_CANCELED + 1];

	assert_int_equal(f->q->ops->counts(f->q, c), 0);
	return c[st];
}

/* Runs a scan to its end with the tags and the two indexes answered. */
static void scan(struct rfx *f, bool dry_run, const char *pypi_page)
{
	rfx_start(f, dry_run);
	git_tags(f);
	answer(f, URL_A, 200, pypi_page);
	answer(f, URL_B, 200, NPM_PACKUMENT);
	assert_int_equal(f->finished, 1);
	assert_int_equal(f->failed, 0);
}

/* git asked for the pipeline's repository and pattern; the PyPI JSON page
 * holds 1.0.0 and 1.1.0, npm 1.0.0: v1.1.0 and v1.2.0 are queued, at the
 * commit a tag points to. */
static void test_queues_missing(void **state)
{
	struct rfx *f = rfx_new();
	const cJSON *e;
	struct job j;
	int64_t id;

	(void)state;
	scan(f, false, PYPI_JSON);
	assert_string_equal(f->argv[f->argc - 4], "ls-remote");
	assert_string_equal(f->argv[f->argc - 3], "--tags");
	assert_string_equal(f->argv[f->argc - 2], "https://forge.example.test/aos.git");
	assert_string_equal(f->argv[f->argc - 1], "refs/tags/v*");

	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(f->answer, "dry_run")));
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(f->answer, "tags")), 3);
	assert_int_equal(cJSON_GetNumberValue(cJSON_GetObjectItem(f->answer, "skipped")),
			 1);
	assert_int_equal(cJSON_GetNumberValue(cJSON_GetObjectItem(f->answer, "queued")),
			 2);
	e = tag_entry(f, "v1.0.0");
	assert_string_equal(names(e, "present"), "a,b");
	assert_string_equal(names(e, "missing"), "");
	assert_string_equal(action(f, "v1.0.0"), "published");
	e = tag_entry(f, "v1.1.0");
	assert_string_equal(names(e, "present"), "a");
	assert_string_equal(names(e, "missing"), "b");
	assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(e, "commit")), C2);
	assert_string_equal(action(f, "v1.1.0"), "queued");
	e = tag_entry(f, "v1.2.0");
	assert_string_equal(names(e, "missing"), "a,b");
	assert_string_equal(action(f, "v1.2.0"), "queued");
	assert_int_equal(f->queued, 1);
	assert_int_equal(counted(f, JOB_QUEUED), 2);

	id = (int64_t)cJSON_GetNumberValue(
	    cJSON_GetObjectItem(tag_entry(f, "v1.1.0"), "job_id"));
	assert_int_equal(f->q->ops->get(f->q, id, &j), 0);
	assert_int_equal(j.kind, JOB_PIPELINE);
	assert_string_equal(j.registry, "pipeline:py");
	assert_string_equal(j.package, "aos-sdk");
	assert_non_null(strstr(j.inputs, "\"tag\":\"v1.1.0\""));
	assert_non_null(strstr(j.inputs, C2));
	job_clear(&j);

	/* a second scan finds the same jobs */
	cJSON_Delete(f->answer);
	f->answer = NULL;
	f->finished = f->spawns = 0;
	scan(f, false, PYPI_JSON);
	assert_string_equal(action(f, "v1.1.0"), "existing");
	assert_int_equal(
	    cJSON_GetNumberValue(cJSON_GetObjectItem(tag_entry(f, "v1.1.0"), "job_id")),
	    id);
	assert_int_equal(cJSON_GetNumberValue(cJSON_GetObjectItem(f->answer, "queued")),
			 0);
	assert_int_equal(counted(f, JOB_QUEUED), 2);
	assert_int_equal(f->queued, 1);
	rfx_free(f);
}

/* The PEP 503 HTML page is read as well as the JSON one. */
static void test_pypi_html(void **state)
{
	struct rfx *f = rfx_new();

	(void)state;
	scan(f, true, PYPI_HTML);
	assert_string_equal(names(tag_entry(f, "v1.0.0"), "present"), "a,b");
	assert_string_equal(names(tag_entry(f, "v1.1.0"), "present"), "a");
	assert_string_equal(names(tag_entry(f, "v1.2.0"), "present"), "");
	rfx_free(f);
}

/* A dry run says what it would queue and queues nothing. */
static void test_dry_run(void **state)
{
	struct rfx *f = rfx_new();

	(void)state;
	scan(f, true, PYPI_JSON);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(f->answer, "dry_run")));
	assert_string_equal(action(f, "v1.0.0"), "published");
	assert_string_equal(action(f, "v1.1.0"), "would-queue");
	assert_string_equal(action(f, "v1.2.0"), "would-queue");
	assert_null(cJSON_GetObjectItem(tag_entry(f, "v1.2.0"), "job_id"));
	assert_int_equal(cJSON_GetNumberValue(cJSON_GetObjectItem(f->answer, "queued")),
			 0);
	assert_int_equal(counted(f, JOB_QUEUED), 0);
	assert_int_equal(f->queued, 0);
	rfx_free(f);
}

/* A package a registry does not have (404): every tag is missing there. */
static void test_absent_package(void **state)
{
	struct rfx *f = rfx_new();

	(void)state;
	rfx_start(f, true);
	git_tags(f);
	answer(f, URL_A, 200, PYPI_JSON);
	answer(f, URL_B, 404, "{\"error\":\"not found\"}");
	assert_int_equal(f->finished, 1);
	assert_string_equal(names(tag_entry(f, "v1.0.0"), "missing"), "b");
	assert_string_equal(names(tag_entry(f, "v1.2.0"), "missing"), "a,b");
	rfx_free(f);
}

/* An index that cannot be read fails the scan, naming the registry;
 * nothing is queued. */
static void test_registry_errors(void **state)
{
	struct rfx *f = rfx_new();
	struct transport_req *req;

	(void)state;
	rfx_start(f, false);
	git_tags(f);
	answer(f, URL_A, 200, PYPI_JSON);
	answer(f, URL_B, 503, "busy");
	assert_int_equal(f->failed, 1);
	assert_int_equal(f->finished, 0);
	assert_non_null(strstr(f->error, "cannot read the index of b"));
	assert_non_null(strstr(f->error, "503"));
	assert_int_equal(counted(f, JOB_QUEUED), 0);

	/* no answer at all from the first registry */
	f->failed = f->spawns = 0;
	rfx_start(f, false);
	git_tags(f);
	req = f->req;
	f->req = NULL;
	snprintf(req->error, sizeof(req->error), "Connection refused");
	f->cb(req, AOS_EHTTP, f->cb_data);
	assert_int_equal(f->failed, 1);
	assert_non_null(strstr(f->error, "cannot read the index of a"));
	assert_non_null(strstr(f->error, "Connection refused"));
	assert_int_equal(f->requests, 3); /* b was not asked */

	/* a token refused */
	f->failed = f->spawns = 0;
	rfx_start(f, false);
	git_tags(f);
	answer(f, URL_A, 401, "Unauthorized");
	assert_int_equal(f->failed, 1);
	assert_non_null(strstr(f->error, "cannot read the index of a"));
	assert_int_equal(counted(f, JOB_QUEUED), 0);
	assert_int_equal(f->queued, 0);
	rfx_free(f);
}

/* git failing fails the scan with its last line; no index is read. */
static void test_git_fails(void **state)
{
	struct rfx *f = rfx_new();

	(void)state;
	rfx_start(f, false);
	git_line(f, "fatal: repository 'https://forge.example.test/aos.git/' not found");
	git_exit(f, 128);
	assert_int_equal(f->failed, 1);
	assert_non_null(strstr(f->error, "git ls-remote"));
	assert_non_null(strstr(f->error, "exit status 128"));
	assert_non_null(strstr(f->error, "not found"));
	assert_int_equal(f->requests, 0);
	rfx_free(f);
}

/* No tag matches: the scan ends without asking any registry. */
static void test_no_tags(void **state)
{
	struct rfx *f = rfx_new();

	(void)state;
	rfx_start(f, false);
	git_exit(f, 0);
	assert_int_equal(f->finished, 1);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(f->answer, "tags")), 0);
	assert_int_equal(f->requests, 0);
	rfx_free(f);
}

/* A listener that went away hears nothing; what the scan queues is still
 * queued. */
static void test_forget(void **state)
{
	struct rfx *f = rfx_new();

	(void)state;
	rfx_start(f, false);
	reconcile_forget(f->op);
	git_tags(f);
	answer(f, URL_A, 200, PYPI_JSON);
	answer(f, URL_B, 200, NPM_PACKUMENT);
	assert_int_equal(f->finished + f->failed, 0);
	assert_int_equal(counted(f, JOB_QUEUED), 2);
	assert_int_equal(f->queued, 1);
	rfx_free(f);
}

/* reconcile_env.commit as the daemon's writer: keeps the batch for the
 * test to commit later. */
static int held_commit(void *data, const struct job_new *jn, size_t n, int64_t now_ms,
		       int64_t *ret_ids, int *ret_rcs, void (*done)(void *op, int result),
		       void *op)
{
	struct rfx *f = data;

	(void)now_ms;
	f->held.calls++;
	if (f->held.refuse < 0)
		return f->held.refuse;
	f->held.jn = jn;
	f->held.n = n;
	f->held.ids = ret_ids;
	f->held.rcs = ret_rcs;
	f->held.done = done;
	f->held.op = op;
	return 0;
}

/* Starts the scan of py with held_commit and runs it to the commit. */
static void scan_to_commit(struct rfx *f)
{
	struct reconcile_env env = env_of(f);
	struct reconcile_hooks hooks = rfx_hooks;
	char msg[512];

	env.commit = held_commit;
	env.commit_data = f;
	hooks.data = f;
	assert_int_equal(
	    reconcile_start(&env, "py", false, &hooks, &f->op, msg, sizeof(msg)), 0);
	git_tags(f);
	answer(f, URL_A, 200, PYPI_JSON);
	answer(f, URL_B, 200, NPM_PACKUMENT);
}

/* With a committer (the daemon's writer) the jobs are handed to it and the
 * scan answers only when its commit returns: nothing is heard, queued or
 * kicked before.  The jobs it holds point into the scan, not into the
 * configuration (a reload meanwhile may free that). */
static void test_commit_elsewhere(void **state)
{
	struct rfx *f = rfx_new();
	const struct pipeline_cfg *p = config_pipeline(f->cfg, "py");
	size_t i;

	(void)state;
	scan_to_commit(f);
	assert_int_equal(f->held.calls, 1);
	assert_int_equal(f->held.n, 2);
	assert_int_equal(f->finished + f->failed + f->queued, 0);
	assert_int_equal(counted(f, JOB_QUEUED), 0);
	for (i = 0; i < f->held.n; i++) {
		assert_string_equal(f->held.jn[i].package, "aos-sdk");
		assert_ptr_not_equal(f->held.jn[i].package, p->package);
	}
	f->held.done(f->held.op, f->q->ops->enqueue_many(f->q, f->held.jn, f->held.n,
							 1000, f->held.ids, f->held.rcs));
	assert_int_equal(f->finished, 1);
	assert_int_equal(f->failed, 0);
	assert_int_equal(f->queued, 1);
	assert_string_equal(action(f, "v1.1.0"), "queued");
	assert_string_equal(action(f, "v1.2.0"), "queued");
	assert_int_equal(counted(f, JOB_QUEUED), 2);
	rfx_free(f);
}

/* A commit that fails (its result, or the committer's refusal) is the
 * scan's failure, saying so. */
static void test_commit_fails(void **state)
{
	struct rfx *f = rfx_new();

	(void)state;
	scan_to_commit(f);
	f->held.done(f->held.op, -EIO);
	assert_int_equal(f->finished + f->queued, 0);
	assert_int_equal(f->failed, 1);
	assert_non_null(strstr(f->error, "cannot write the jobs to the queue"));
	rfx_free(f);

	f = rfx_new();
	f->held.refuse = -ENOMEM;
	scan_to_commit(f);
	assert_int_equal(f->held.calls, 1);
	assert_int_equal(f->finished + f->queued, 0);
	assert_int_equal(f->failed, 1);
	assert_non_null(strstr(f->error, "cannot write the jobs to the queue"));
	assert_int_equal(counted(f, JOB_QUEUED), 0);
	rfx_free(f);

	/* The daemon's write queue is full: says so, and to retry. */
	f = rfx_new();
	f->held.refuse = -EBUSY;
	scan_to_commit(f);
	assert_int_equal(f->failed, 1);
	assert_non_null(strstr(f->error, "the daemon is busy"));
	assert_non_null(strstr(f->error, "retry"));
	assert_int_equal(counted(f, JOB_QUEUED), 0);
	rfx_free(f);
}

/* An unknown pipeline is refused at once, no hook called. */
static void test_unknown_pipeline(void **state)
{
	struct rfx *f = rfx_new();
	struct reconcile_env env = env_of(f);
	struct reconcile_hooks hooks = rfx_hooks;
	char msg[256];

	(void)state;
	hooks.data = f;
	assert_int_equal(
	    reconcile_start(&env, "nope", false, &hooks, &f->op, msg, sizeof(msg)),
	    AOS_ENOTFOUND);
	assert_non_null(strstr(msg, "no such pipeline"));
	assert_int_equal(f->spawns, 0);
	rfx_free(f);
}

static int group_setup(void **state)
{
	(void)state;
	log_init(LOG_LVL_ERR);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_queues_missing),
	    cmocka_unit_test(test_pypi_html),
	    cmocka_unit_test(test_dry_run),
	    cmocka_unit_test(test_absent_package),
	    cmocka_unit_test(test_registry_errors),
	    cmocka_unit_test(test_git_fails),
	    cmocka_unit_test(test_no_tags),
	    cmocka_unit_test(test_forget),
	    cmocka_unit_test(test_commit_elsewhere),
	    cmocka_unit_test(test_commit_fails),
	    cmocka_unit_test(test_unknown_pipeline),
	};

	return cmocka_run_group_tests(tests, group_setup, NULL);
}
