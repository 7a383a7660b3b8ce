/* Unit tests for agent/sandbox/sandbox_wrap.c: the --run-step prefix
 * sandbox_wrap() builds for each build_isolation, the texts of
 * sandbox_describe() and sandbox_status_json(), and the namespaces prefix
 * run for real (bubblewrap) around a shell that reports what it sees.
 *
 * main() also serves `--run-step`: the namespaces prefix runs the daemon's
 * binary again inside bubblewrap, and this binary stands in for it.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "sandbox/sandbox.h"
#include "sandbox_fixture.h"

#define BWRAP "/usr/bin/bwrap"
#define SELF "/usr/sbin/aos-publishd"

/* A scratch tree and a namespaces spec over it:
 *   state/work/job   the job's folder, beneath the hidden state folder
 *                    (which holds queue.db)
 *   ro/              readable; ro/secret/ and ro/token hidden beneath it
 *   ro-sib/          hidden; "ro" is a prefix of its name, not its parent
 *   rw/              writable; rw/run/ hidden beneath it
 *   gone             hidden, does not exist
 *   /etc/passwd      hidden, beneath the /etc every sandbox gets */
struct wrapfx {
	char root[PATH_MAX], work[PATH_MAX], ro[PATH_MAX], rw[PATH_MAX];
	char state[PATH_MAX], secret[PATH_MAX], token[PATH_MAX], sib[PATH_MAX];
	char rwrun[PATH_MAX], gone[PATH_MAX];
	const char *readable[1], *writable[1], *hidden[7];
	struct sandbox_caps caps;
	struct sandbox_spec spec;
};

static int wrap_setup(void **state)
{
	struct wrapfx *fx = calloc(1, sizeof(*fx));
	const char *const mkdirs[] = {"state", "state/work", "state/work/job",
				      "ro",    "ro/secret",  "ro-sib",
				      "rw",    "rw/run"};
	size_t i;

	assert_non_null(fx);
	sbx_tmpdir(fx->root, sizeof(fx->root));
	for (i = 0; i < sizeof(mkdirs) / sizeof(mkdirs[0]); i++)
		sbx_mkdir(fx->root, mkdirs[i]);
	sbx_write(fx->root, "ro/secret/s", "secret\n");
	sbx_write(fx->root, "ro/token", "token\n");
	sbx_write(fx->root, "state/queue.db", "queue\n");
	sbx_write(fx->root, "ro/visible", "visible\n");
	sbx_path(fx->work, sizeof(fx->work), fx->root, "state/work/job");
	sbx_path(fx->ro, sizeof(fx->ro), fx->root, "ro");
	sbx_path(fx->rw, sizeof(fx->rw), fx->root, "rw");
	sbx_path(fx->state, sizeof(fx->state), fx->root, "state");
	sbx_path(fx->secret, sizeof(fx->secret), fx->root, "ro/secret");
	sbx_path(fx->token, sizeof(fx->token), fx->root, "ro/token");
	sbx_path(fx->sib, sizeof(fx->sib), fx->root, "ro-sib");
	sbx_path(fx->rwrun, sizeof(fx->rwrun), fx->root, "rw/run");
	sbx_path(fx->gone, sizeof(fx->gone), fx->root, "gone");
	fx->readable[0] = fx->ro;
	fx->writable[0] = fx->rw;
	fx->hidden[0] = fx->state;
	fx->hidden[1] = fx->secret;
	fx->hidden[2] = fx->token;
	fx->hidden[3] = fx->sib;
	fx->hidden[4] = fx->rwrun;
	fx->hidden[5] = fx->gone;
	fx->hidden[6] = "/etc/passwd";
	fx->caps.landlock_abi = 6;
	snprintf(fx->caps.bwrap, sizeof(fx->caps.bwrap), BWRAP);
	fx->caps.namespaces = true;
	snprintf(fx->caps.detail, sizeof(fx->caps.detail), "bubblewrap 0.8.0");
	fx->spec = (struct sandbox_spec){
	    .mode = ISOLATION_NAMESPACES,
	    .caps = &fx->caps,
	    .self = SELF,
	    .workdir = fx->work,
	    .readable = fx->readable,
	    .nreadable = 1,
	    .writable = fx->writable,
	    .nwritable = 1,
	    .hidden = fx->hidden,
	    .nhidden = 7,
	    .network = true,
	};
	*state = fx;
	return 0;
}

static int wrap_teardown(void **state)
{
	struct wrapfx *fx = *state;

	sbx_rmtree(fx->root);
	free(fx);
	return 0;
}

/* Where the strings of seq (NULL-terminated) follow each other in
 * a->v[from..to), or -1. */
static long find_seq(const struct sandbox_argv *a, size_t from, size_t to,
		     const char *const *seq)
{
	size_t i, k;

	for (i = from; i < to; i++) {
		for (k = 0;
		     seq[k] != NULL && i + k < to && strcmp(a->v[i + k], seq[k]) == 0;
		     k++)
			;
		if (seq[k] == NULL)
			return (long)i;
	}
	return -1;
}

#define FIND(a, from, to, ...)                                                           \
	find_seq(a, from, to, (const char *const[]){__VA_ARGS__, NULL})

static size_t count(const struct sandbox_argv *a, size_t from, size_t to, const char *s)
{
	size_t i, n = 0;

	for (i = from; i < to; i++)
		n += strcmp(a->v[i], s) == 0;
	return n;
}

/* a is exactly want (NULL-terminated), and NULL-terminated itself. */
static void expect_argv(const struct sandbox_argv *a, const char *const *want)
{
	size_t i;

	for (i = 0; want[i] != NULL && i < a->n; i++)
		if (strcmp(a->v[i], want[i]) != 0)
			fail_msg("argv[%zu] is \"%s\", want \"%s\"", i, a->v[i], want[i]);
	if (want[i] != NULL || i != a->n)
		fail_msg("argv has %zu strings, want %zu", a->n, i + (want[i] != NULL));
	assert_null(a->v[a->n]);
}

/* The bwrap part of a namespaces prefix: [4, where the inner --run-step
 * starts); *ret_inner gets the latter. */
static size_t bwrap_part(const struct sandbox_argv *a, const struct wrapfx *fx,
			 size_t *ret_inner)
{
	long inner;

	assert_true(a->n > 4);
	/* The outer --run-step only closes descriptors, then execs bwrap. */
	assert_string_equal(a->v[0], "/proc/self/exe");
	assert_string_equal(a->v[1], "--run-step");
	assert_string_equal(a->v[2], "--");
	assert_string_equal(a->v[3], fx->caps.bwrap);
	inner = FIND(a, 4, a->n, "--", SANDBOX_SELF, "--run-step");
	assert_true(inner > 4);
	*ret_inner = (size_t)inner;
	return 4;
}

/* The destination of the bwrap mount at a->v[i] ("--tmpfs /run" ...), or
 * NULL if there is none there. */
static const char *mount_dest(const struct sandbox_argv *a, size_t i, size_t to)
{
	static const char *const two[] = {"--bind",	   "--ro-bind",	 "--bind-try",
					  "--ro-bind-try", "--dev-bind", "--symlink"};
	static const char *const one[] = {"--tmpfs", "--proc", "--dev", "--dir",
					  "--mqueue"};
	size_t k;

	for (k = 0; k < sizeof(two) / sizeof(two[0]); k++)
		if (strcmp(a->v[i], two[k]) == 0 && i + 2 < to)
			return a->v[i + 2];
	for (k = 0; k < sizeof(one) / sizeof(one[0]); k++)
		if (strcmp(a->v[i], one[k]) == 0 && i + 1 < to)
			return a->v[i + 1];
	return NULL;
}

/* bwrap mounts in order: a mount whose destination lies strictly beneath
 * a later one's is covered by it, gone inside.  Prints each such pair of
 * a->v[from..to); returns how many there are. */
static int covered_mounts(const struct sandbox_argv *a, size_t from, size_t to)
{
	size_t i, j, n;
	int bad = 0;

	for (i = from; i < to; i++) {
		const char *d = mount_dest(a, i, to), *e;

		for (j = i + 1; d != NULL && j < to; j++) {
			if ((e = mount_dest(a, j, to)) == NULL)
				continue;
			n = strlen(e);
			if (strncmp(d, e, n) == 0 &&
			    (d[n] == '/' || (n == 1 && d[1] != '\0'))) {
				printf("%s %s is covered by the later %s %s\n", a->v[i],
				       d, a->v[j], e);
				bad++;
			}
		}
	}
	return bad;
}

static void test_wrap_namespaces(void **state)
{
	static const char *const once[] = {
	    "--unshare-user",	    "--unshare-pid",	 "--unshare-ipc", "--unshare-uts",
	    "--unshare-cgroup-try", "--die-with-parent", "--new-session",
	};
	struct wrapfx *fx = *state;
	struct sandbox_argv a = {0};
	size_t i, bw, in;
	long ro, rw, etc, m;

	assert_int_equal(sandbox_wrap(&fx->spec, &a), 0);
	bw = bwrap_part(&a, fx, &in);
	for (i = 0; i < sizeof(once) / sizeof(once[0]); i++)
		if (count(&a, bw, in, once[i]) != 1)
			fail_msg("%s: %zu times in the bwrap arguments, want once",
				 once[i], count(&a, bw, in, once[i]));
	assert_int_equal(count(&a, bw, in, "--unshare-net"), 0); /* network: true */
	assert_true(FIND(&a, bw, in, "--cap-drop", "ALL") >= 0);
	assert_true(FIND(&a, bw, in, "--ro-bind", "/usr", "/usr") >= 0);
	assert_true((etc = FIND(&a, bw, in, "--ro-bind", "/etc", "/etc")) >= 0);
	assert_true((ro = FIND(&a, bw, in, "--ro-bind", fx->ro, fx->ro)) >= 0);
	assert_true((rw = FIND(&a, bw, in, "--bind", fx->rw, fx->rw)) >= 0);
	assert_true(FIND(&a, bw, in, "--bind", fx->work, fx->work) >= 0);
	assert_true(FIND(&a, bw, in, "--ro-bind", SELF, SANDBOX_SELF) >= 0);
	assert_true(FIND(&a, bw, in, "--proc", "/proc") >= 0);
	assert_true(FIND(&a, bw, in, "--dev", "/dev") >= 0);
	assert_true(FIND(&a, bw, in, "--tmpfs", "/tmp") >= 0);
	assert_true(FIND(&a, bw, in, "--tmpfs", "/run") >= 0);
	/* nothing of the system read-write, and never the whole root */
	assert_int_equal(FIND(&a, bw, in, "--bind", "/usr"), -1);
	assert_int_equal(FIND(&a, bw, in, "--bind", "/etc"), -1);
	assert_int_equal(FIND(&a, bw, in, "--bind", "/"), -1);
	assert_int_equal(FIND(&a, bw, in, "--ro-bind", "/"), -1);
	assert_int_equal(FIND(&a, bw, in, "--dev-bind", "/"), -1);

	/* Hidden beneath a bound folder: masked after that bind (bwrap mounts
	 * in order): a read-only empty tmpfs over a folder, /dev/null over a
	 * file. */
	m = FIND(&a, bw, in, "--tmpfs", fx->secret, "--remount-ro", fx->secret);
	assert_true(m > ro);
	m = FIND(&a, bw, in, "--ro-bind", "/dev/null", fx->token);
	assert_true(m > ro);
	m = FIND(&a, bw, in, "--tmpfs", fx->rwrun, "--remount-ro", fx->rwrun);
	assert_true(m > rw);
	m = FIND(&a, bw, in, "--ro-bind", "/dev/null", "/etc/passwd");
	assert_true(m > etc);
	/* Not beneath one (not bound at all), or missing: not named anywhere. */
	assert_int_equal(count(&a, 0, a.n, fx->state), 0);
	assert_int_equal(count(&a, 0, a.n, fx->sib), 0);
	assert_int_equal(count(&a, 0, a.n, fx->gone), 0);

	/* Inside: --run-step again with Landlock if the kernel has it; writes to
	 * the job's, the writable and the private temporary folders. */
	expect_argv(&(struct sandbox_argv){.v = a.v + in, .n = a.n - in},
		    (const char *const[]){"--", SANDBOX_SELF, "--run-step", "--landlock",
					  "--optional", "--write", fx->work, "--write",
					  fx->rw, "--write", "/tmp", "--write",
					  "/var/tmp", "--write", "/dev", "--", NULL});
	assert_int_equal(count(&a, 0, a.n, "--hide"), 0);
	assert_int_equal(covered_mounts(&a, bw, in), 0);
	sandbox_argv_free(&a);
	assert_null(a.v);
	assert_int_equal(a.n, 0);
}

/* pipelines.X.network false: an own network namespace, and only then. */
static void test_wrap_network(void **state)
{
	struct wrapfx *fx = *state;
	struct sandbox_argv a = {0};
	size_t bw, in;

	fx->spec.network = false;
	assert_int_equal(sandbox_wrap(&fx->spec, &a), 0);
	bw = bwrap_part(&a, fx, &in);
	assert_int_equal(count(&a, bw, in, "--unshare-net"), 1);
	assert_int_equal(count(&a, 0, a.n, "--share-net"), 0);
	sandbox_argv_free(&a);
}

/* Without namespaces on this host the mode is refused, not weakened. */
static void test_wrap_no_namespaces(void **state)
{
	struct wrapfx *fx = *state;
	struct sandbox_argv a = {0};

	fx->caps.namespaces = false;
	fx->caps.bwrap[0] = '\0';
	assert_int_equal(sandbox_wrap(&fx->spec, &a), -EOPNOTSUPP);
	assert_int_equal(count(&a, 0, a.n, BWRAP), 0);
	sandbox_argv_free(&a);
	/* landlock and off need no namespaces */
	fx->spec.mode = ISOLATION_LANDLOCK;
	assert_int_equal(sandbox_wrap(&fx->spec, &a), 0);
	sandbox_argv_free(&a);
	fx->spec.mode = ISOLATION_OFF;
	assert_int_equal(sandbox_wrap(&fx->spec, &a), 0);
	sandbox_argv_free(&a);
}

/* landlock: a subreaper (no PID namespace), every hidden path, writes to
 * the job's and the writable folders, /dev/null and /dev/shm. */
static void test_wrap_landlock(void **state)
{
	struct wrapfx *fx = *state;
	struct sandbox_argv a = {0};
	const char *const *h = fx->hidden;

	fx->spec.mode = ISOLATION_LANDLOCK;
	assert_int_equal(sandbox_wrap(&fx->spec, &a), 0);
	expect_argv(&a, (const char *const[]){
			    "/proc/self/exe", "--run-step", "--reap",  "--landlock",
			    "--hide",	      h[0],	    "--hide",  h[1],
			    "--hide",	      h[2],	    "--hide",  h[3],
			    "--hide",	      h[4],	    "--hide",  h[5],
			    "--hide",	      h[6],	    "--write", fx->work,
			    "--write",	      fx->rw,	    "--write", "/dev/null",
			    "--write",	      "/dev/shm",   "--",      NULL});
	sandbox_argv_free(&a);
}

/* off: no confinement, but still the descriptors closed and a subreaper. */
static void test_wrap_off(void **state)
{
	struct wrapfx *fx = *state;
	struct sandbox_argv a = {0};

	fx->spec.mode = ISOLATION_OFF;
	assert_int_equal(sandbox_wrap(&fx->spec, &a), 0);
	expect_argv(&a, (const char *const[]){"/proc/self/exe", "--run-step", "--reap",
					      "--", NULL});
	sandbox_argv_free(&a);
}

/* The vector grows past its first allocation and stays NULL-terminated. */
static void test_argv_grows(void **state)
{
	struct sandbox_argv a = {0};
	char s[16];
	int i;

	(void)state;
	for (i = 0; i < 300; i++) {
		snprintf(s, sizeof(s), "a%d", i);
		assert_int_equal(sandbox_argv_add(&a, s), 0);
		assert_null(a.v[a.n]);
	}
	assert_int_equal(a.n, 300);
	assert_string_equal(a.v[0], "a0");
	assert_string_equal(a.v[299], "a299");
	sandbox_argv_free(&a);
	sandbox_argv_free(&a); /* a freed vector is empty */
}

/* ---- sandbox_describe() and status ---- */

static const struct {
	enum isolation mode;
	int abi;
	bool namespaces;
	const char *detail;
	bool want_ok;
	const char *want;
} describe_cases[] = {
    {ISOLATION_NAMESPACES, 6, true, "bubblewrap 0.8.0", true,
     "namespaces (bubblewrap 0.8.0: user, mount, pid, ipc, uts, cgroup) + Landlock ABI 6"},
    {ISOLATION_NAMESPACES, -EOPNOTSUPP, true, "bubblewrap 0.8.0", true,
     "namespaces (bubblewrap 0.8.0: user, mount, pid, ipc, uts, cgroup) + no Landlock "
     "(Operation not supported)"},
    {ISOLATION_NAMESPACES, 6, false, "bubblewrap (bwrap) is not installed", false,
     "namespaces unavailable: bubblewrap (bwrap) is not installed"},
    {ISOLATION_LANDLOCK, 3, false, "", true,
     "landlock (Landlock ABI 3; no namespaces: the fallback)"},
    {ISOLATION_LANDLOCK, -ENOSYS, true, "bubblewrap 0.8.0", false,
     "landlock (no Landlock (Function not implemented); no namespaces: the fallback)"},
    {ISOLATION_OFF, -ENOSYS, false, "", true,
     "off: build steps are NOT confined (build_isolation \"off\")"},
    {ISOLATION_OFF, 6, true, "bubblewrap 0.8.0", true,
     "off: build steps are NOT confined (build_isolation \"off\")"},
};

static void case_caps(size_t i, struct sandbox_caps *caps)
{
	memset(caps, 0, sizeof(*caps));
	caps->landlock_abi = describe_cases[i].abi;
	caps->namespaces = describe_cases[i].namespaces;
	if (caps->namespaces)
		snprintf(caps->bwrap, sizeof(caps->bwrap), BWRAP);
	snprintf(caps->detail, sizeof(caps->detail), "%s", describe_cases[i].detail);
}

static void test_describe(void **state)
{
	struct sandbox_caps caps;
	char buf[800], small[12];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(describe_cases) / sizeof(describe_cases[0]); i++) {
		case_caps(i, &caps);
		if (sandbox_describe(describe_cases[i].mode, &caps, buf, sizeof(buf)) !=
		    describe_cases[i].want_ok)
			fail_msg("case %zu: \"%s\" returned %d", i, buf,
				 !describe_cases[i].want_ok);
		assert_string_equal(buf, describe_cases[i].want);
		/* a short buffer: cut, terminated, the same answer */
		memset(small, 'x', sizeof(small));
		assert_int_equal(
		    sandbox_describe(describe_cases[i].mode, &caps, small, sizeof(small)),
		    describe_cases[i].want_ok);
		assert_int_equal(strlen(small), sizeof(small) - 1);
		assert_memory_equal(small, describe_cases[i].want, sizeof(small) - 1);
	}
	assert_string_equal(sandbox_mode_name(ISOLATION_NAMESPACES), "namespaces");
	assert_string_equal(sandbox_mode_name(ISOLATION_LANDLOCK), "landlock");
	assert_string_equal(sandbox_mode_name(ISOLATION_OFF), "off");
}

static void test_status_json(void **state)
{
	static const char *const names[] = {"namespaces", "landlock", "off"};
	struct sandbox_caps caps;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(describe_cases) / sizeof(describe_cases[0]); i++) {
		cJSON *o;
		const cJSON *v;
		int abi = describe_cases[i].abi;

		case_caps(i, &caps);
		o = sandbox_status_json(describe_cases[i].mode, &caps);
		assert_non_null(o);
		assert_int_equal(cJSON_GetArraySize(o), 5);
		v = cJSON_GetObjectItemCaseSensitive(o, "mode");
		assert_true(cJSON_IsString(v));
		assert_string_equal(v->valuestring, names[describe_cases[i].mode]);
		v = cJSON_GetObjectItemCaseSensitive(o, "available");
		assert_true(cJSON_IsBool(v));
		assert_int_equal(cJSON_IsTrue(v), describe_cases[i].want_ok);
		v = cJSON_GetObjectItemCaseSensitive(o, "description");
		assert_true(cJSON_IsString(v));
		assert_string_equal(v->valuestring, describe_cases[i].want);
		v = cJSON_GetObjectItemCaseSensitive(o, "namespaces");
		assert_true(cJSON_IsBool(v));
		assert_int_equal(cJSON_IsTrue(v), describe_cases[i].namespaces);
		v = cJSON_GetObjectItemCaseSensitive(o, "landlock_abi");
		assert_true(cJSON_IsNumber(v));
		assert_int_equal(v->valueint, abi > 0 ? abi : 0);
		cJSON_Delete(o);
	}
}

/* ---- the namespaces prefix run for real ---- */

struct step_run {
	char **argv;
	int argc;
};

static int run_step_child(void *arg)
{
	struct step_run *s = arg;

	return sandbox_run_step(s->argc, s->argv);
}

/* The prefix with this binary as the daemon, around a shell that reports
 * what it sees; needs bubblewrap and user namespaces (sandbox_probe). */
static void test_wrap_runs(void **state)
{
	struct wrapfx *fx = *state;
	struct sandbox_argv a = {0};
	struct sandbox_caps caps;
	struct step_run s;
	char self[PATH_MAX], script[4096], out[SBX_OUT];
	int code;

	sandbox_probe(&caps);
	if (!caps.namespaces) {
		print_message("skipped: no namespaces on this host: %s\n", caps.detail);
		skip();
	}
	assert_non_null(realpath("/proc/self/exe", self));
	fx->spec.caps = &caps;
	fx->spec.self = self;
	fx->spec.network = false;
	snprintf(script, sizeof(script),
		 "[ -z \"$(cat %s)\" ] && echo TOKEN-EMPTY; "
		 "[ -z \"$(ls -A %s)\" ] && echo SECRET-EMPTY; "
		 "[ -z \"$(cat /etc/passwd)\" ] && echo PASSWD-EMPTY; "
		 "[ -e %s/queue.db ] || echo STATE-GONE; "
		 "[ -e %s ] || echo SIB-GONE; "
		 "grep -q visible %s/visible && echo VISIBLE; "
		 "echo w > %s/f && echo WORK-WRITTEN; "
		 "(echo w > %s/x) 2>/dev/null || echo RO-REFUSED; "
		 "[ \"$(grep -c : /proc/net/dev)\" = 1 ] && echo ONLY-LO; "
		 "echo done",
		 fx->token, fx->secret, fx->state, fx->sib, fx->ro, fx->work, fx->ro);
	assert_int_equal(sandbox_wrap(&fx->spec, &a), 0);
	assert_int_equal(sandbox_argv_add(&a, "/bin/sh"), 0);
	assert_int_equal(sandbox_argv_add(&a, "-c"), 0);
	assert_int_equal(sandbox_argv_add(&a, script), 0);
	s.argv = a.v;
	s.argc = (int)a.n;
	code = sbx_exit_code(sbx_run(run_step_child, &s, out), out);
	sandbox_argv_free(&a);
	if (code != 0 || strstr(out, "done") == NULL)
		fail_msg("exit %d:\n%s", code, out);
	{
		static const char *const want[] = {
		    "TOKEN-EMPTY",  "SECRET-EMPTY", "PASSWD-EMPTY",
		    "STATE-GONE",   "SIB-GONE",	    "VISIBLE",
		    "WORK-WRITTEN", "RO-REFUSED",   "ONLY-LO"};
		size_t i;

		for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
			if (strstr(out, want[i]) == NULL)
				fail_msg("no %s in:\n%s", want[i], out);
	}
}

/* A host whose /etc/resolv.conf is a link out of /etc and /usr (as
 * systemd-resolved's to /run/systemd/resolve/stub-resolv.conf): the file it
 * names is bound, and not covered by a later mount (the private /run or
 * /tmp), so a step with the network can resolve names.  The child gets an
 * /etc of its own holding only that link, in a mount namespace of its own. */
static int resolv_child(void *arg)
{
	struct wrapfx *fx = arg;
	struct sandbox_argv a = {0};
	char etc[PATH_MAX], stub[PATH_MAX], link[PATH_MAX];
	int bad;

	sbx_path(etc, sizeof(etc), fx->root, "etc");
	sbx_path(stub, sizeof(stub), fx->root, "resolve/stub-resolv.conf");
	sbx_path(link, sizeof(link), etc, "resolv.conf");
	if (mkdir(etc, 0755) < 0 || symlink(stub, link) < 0 || unshare(CLONE_NEWNS) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount(etc, "/etc", NULL, MS_BIND, NULL) < 0) {
		printf("setup: an /etc of its own: %s\n", strerror(errno));
		return 100;
	}
	if (sandbox_wrap(&fx->spec, &a) < 0 ||
	    FIND(&a, 0, a.n, "--ro-bind-try", stub, stub) < 0) {
		printf("%s is not bound\n", stub);
		return 101;
	}
	bad = covered_mounts(&a, 0, a.n);
	if (bad > 0 || fx->spec.caps->bwrap[0] == '\0')
		return bad;
	/* and for real: this binary serves --run-step */
	if (sandbox_argv_add(&a, "/bin/cat") < 0 ||
	    sandbox_argv_add(&a, "/etc/resolv.conf") < 0)
		return 102;
	fflush(NULL);
	return sandbox_run_step((int)a.n, a.v);
}

static void test_wrap_resolv_link(void **state)
{
	struct wrapfx *fx = *state;
	struct sandbox_caps caps;
	char self[PATH_MAX], out[SBX_OUT];
	int code;

	if (geteuid() != 0) {
		print_message("skipped: the /etc of its own needs root\n");
		skip();
	}
	sbx_mkdir(fx->root, "resolve");
	sbx_write(fx->root, "resolve/stub-resolv.conf", "nameserver 192.0.2.53\n");
	sandbox_probe(&caps);
	if (!caps.namespaces) { /* the arguments only */
		print_message("no namespaces on this host (%s): the arguments only\n",
			      caps.detail);
		fx->caps.bwrap[0] = '\0';
	} else {
		fx->spec.caps = &caps;
	}
	assert_non_null(realpath("/proc/self/exe", self));
	fx->spec.self = self;
	code = sbx_exit_code(sbx_run(resolv_child, fx, out), out);
	if (code != 0 || (caps.namespaces && strcmp(out, "nameserver 192.0.2.53\n") != 0))
		fail_msg("exit %d:\n%s", code, out);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_wrap_namespaces, wrap_setup,
					    wrap_teardown),
	    cmocka_unit_test_setup_teardown(test_wrap_network, wrap_setup, wrap_teardown),
	    cmocka_unit_test_setup_teardown(test_wrap_no_namespaces, wrap_setup,
					    wrap_teardown),
	    cmocka_unit_test_setup_teardown(test_wrap_landlock, wrap_setup,
					    wrap_teardown),
	    cmocka_unit_test_setup_teardown(test_wrap_off, wrap_setup, wrap_teardown),
	    cmocka_unit_test(test_argv_grows),
	    cmocka_unit_test(test_describe),
	    cmocka_unit_test(test_status_json),
	    cmocka_unit_test_setup_teardown(test_wrap_runs, wrap_setup, wrap_teardown),
	    cmocka_unit_test_setup_teardown(test_wrap_resolv_link, wrap_setup,
					    wrap_teardown),
	};

	/* the namespaces prefix runs this binary again inside bubblewrap */
	if (argc > 1 && strcmp(argv[1], "--run-step") == 0)
		return sandbox_run_step(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
