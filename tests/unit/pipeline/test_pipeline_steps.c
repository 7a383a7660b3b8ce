/* Unit tests for the pure parts of a pipeline's build steps: the steps'
 * environment (pl_env_*), the system tools they run (pl_system_tool) and
 * the sandbox prefix built from the configuration (pl_sandbox_prefix,
 * pipeline_sandbox.c), checked as argv without running bwrap or a step.
 * The list of steps itself (plan() in pipeline_steps.c) has no API of its
 * own: the integration tests run it. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "pipeline/pipeline_steps.h"
#include "sandbox/sandbox.h"

static void test_env_init(void **state)
{
	char *penv[] = {"CI=1", "PATH=/opt/tools/bin", "LANG=de_DE.UTF-8"};
	struct pipeline_cfg p = {.env = penv, .nenv = 3};
	struct pl_env e;

	(void)state;
	assert_int_equal(pl_env_init(&e, &p, "/work/job", "/work/job/tmp"), 0);
	/* the fixed part in order, the pipeline's values replacing in place,
	 * its new names appended; nothing of the daemon's environment */
	assert_int_equal(e.n, 7);
	assert_string_equal(e.v[0], "PATH=/opt/tools/bin");
	assert_string_equal(e.v[1], "HOME=/work/job");
	assert_string_equal(e.v[2], "TMPDIR=/work/job/tmp");
	assert_string_equal(e.v[3], "LANG=de_DE.UTF-8");
	assert_string_equal(e.v[4], "GIT_TERMINAL_PROMPT=0");
	assert_string_equal(e.v[5], "GIT_ALLOW_PROTOCOL=" PL_GIT_PROTOCOLS);
	assert_string_equal(e.v[6], "CI=1");
	assert_null(e.v[7]);
	pl_env_free(&e);
	assert_int_equal(e.n, 0);
	assert_null(e.v[0]);

	/* no TMPDIR unless given */
	p.nenv = 0;
	assert_int_equal(pl_env_init(&e, &p, "/h", NULL), 0);
	assert_int_equal(e.n, 5);
	assert_string_equal(e.v[0], "PATH=/usr/local/bin:/usr/bin:/bin");
	assert_string_equal(e.v[1], "HOME=/h");
	assert_string_equal(e.v[2], "LANG=C.UTF-8");
	pl_env_free(&e);
}

static void test_env_set(void **state)
{
	struct pipeline_cfg p = {.nenv = 0};
	struct pl_env e;
	char kv[32];
	size_t i;

	(void)state;
	assert_int_equal(pl_env_init(&e, &p, "/h", NULL), 0);
	/* a name is the part before '=', whole: A does not replace AB */
	assert_int_equal(pl_env_set(&e, "AB=1"), 0);
	assert_int_equal(pl_env_set(&e, "A=2"), 0);
	assert_int_equal(pl_env_set(&e, "AB=3"), 0);
	assert_int_equal(pl_env_set(&e, "EMPTY="), 0);
	assert_int_equal(e.n, 8);
	assert_string_equal(e.v[5], "AB=3");
	assert_string_equal(e.v[6], "A=2");
	assert_string_equal(e.v[7], "EMPTY=");
	/* the bound: PL_ENV_MAX entries, then -E2BIG; replacing still works */
	for (i = e.n; i < PL_ENV_MAX; i++) {
		snprintf(kv, sizeof(kv), "V%zu=x", i);
		assert_int_equal(pl_env_set(&e, kv), 0);
	}
	assert_int_equal(e.n, PL_ENV_MAX);
	assert_int_equal(pl_env_set(&e, "ONE_MORE=1"), -E2BIG);
	assert_int_equal(e.n, PL_ENV_MAX);
	assert_null(e.v[PL_ENV_MAX]);
	assert_int_equal(pl_env_set(&e, "A=4"), 0);
	assert_string_equal(e.v[6], "A=4");
	pl_env_free(&e);

	/* a pipeline env past the bound fails pl_env_init, freeing e */
	{
		char *many[PL_ENV_MAX];
		char names[PL_ENV_MAX][16];

		for (i = 0; i < PL_ENV_MAX; i++) {
			snprintf(names[i], sizeof(names[i]), "N%zu=1", i);
			many[i] = names[i];
		}
		p.env = many;
		p.nenv = PL_ENV_MAX;
		assert_int_equal(pl_env_init(&e, &p, "/h", NULL), -E2BIG);
		assert_int_equal(e.n, 0);
		assert_null(e.v[0]);
	}
}

static void test_system_tool(void **state)
{
	char *p;

	(void)state;
	p = pl_system_tool("sh");
	assert_non_null(p);
	assert_true(p[0] == '/');
	assert_true(strcmp(p, "/usr/local/bin/sh") == 0 ||
		    strcmp(p, "/usr/bin/sh") == 0 || strcmp(p, "/bin/sh") == 0);
	assert_int_equal(access(p, X_OK), 0);
	free(p);
	/* not in the system folders: the name as it is */
	p = pl_system_tool("aos-no-such-tool");
	assert_string_equal(p, "aos-no-such-tool");
	free(p);
}

/* ---- the sandbox prefix ---------------------------------------------------- */

struct tree {
	char root[PATH_MAX];
	char state[PATH_MAX], run[PATH_MAX], spool[PATH_MAX], etc[PATH_MAX];
	char conf[PATH_MAX], role[PATH_MAX], secret[PATH_MAX], work[PATH_MAX];
	char out[PATH_MAX], repo[PATH_MAX];
	char sock[PATH_MAX], db[PATH_MAX], repo_url[PATH_MAX + 8], out_dotted[PATH_MAX];
	struct config cfg;
	struct pipeline_cfg p;
	char *writable[1], *readable[1];
	struct sandbox_caps caps;
};

static void path_of(char *ret, const char *root, const char *rel)
{
	assert_true((size_t)snprintf(ret, PATH_MAX, "%s/%s", root, rel) < PATH_MAX);
}

static void touch(const char *path)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fclose(f), 0);
}

static int tree_setup(void **state)
{
	struct tree *t = calloc(1, sizeof(*t));
	char tmpl[] = "/tmp/aos-plsbx-XXXXXX";

	if (t == NULL || mkdtemp(tmpl) == NULL || realpath(tmpl, t->root) == NULL)
		return -1;
	path_of(t->state, t->root, "state");
	path_of(t->run, t->root, "run");
	path_of(t->spool, t->root, "state/spool");
	path_of(t->etc, t->root, "etc");
	path_of(t->conf, t->root, "etc/aos.json");
	path_of(t->role, t->root, "etc/role_id");
	path_of(t->secret, t->root, "secret_id");
	path_of(t->work, t->root, "work");
	path_of(t->out, t->root, "out");
	path_of(t->repo, t->root, "repo");
	path_of(t->sock, t->root, "run/control.sock");
	path_of(t->db, t->root, "state/queue.db");
	path_of(t->out_dotted, t->root, "out/../out");
	snprintf(t->repo_url, sizeof(t->repo_url), "file://%s", t->repo);
	mkdir(t->state, 0700);
	mkdir(t->run, 0700);
	mkdir(t->spool, 0700);
	mkdir(t->etc, 0700);
	mkdir(t->work, 0700);
	mkdir(t->out, 0700);
	mkdir(t->repo, 0700);
	touch(t->conf);
	touch(t->role);
	touch(t->secret);
	unsetenv("CREDENTIALS_DIRECTORY");
	t->cfg.path = t->conf;
	t->cfg.dir = t->etc;
	t->cfg.state_dir = t->state;
	t->cfg.runtime_dir = t->run;
	t->cfg.control_socket = t->sock;
	t->cfg.queue.spool_dir = t->spool;
	t->cfg.queue.path = t->db;
	t->cfg.vault.token_file = "token"; /* missing: not named */
	t->cfg.vault.role_id_file = "role_id";
	t->cfg.vault.secret_id_file = t->secret;
	t->cfg.build_isolation = ISOLATION_LANDLOCK;
	t->writable[0] = t->out_dotted;
	t->readable[0] = t->out;
	t->p.writable = t->writable;
	t->p.nwritable = 1;
	t->p.readable = t->readable;
	t->p.nreadable = 1;
	t->p.repository = t->repo_url;
	t->p.network = true;
	t->caps.landlock_abi = 3;
	snprintf(t->caps.bwrap, sizeof(t->caps.bwrap), "/usr/bin/bwrap");
	t->caps.namespaces = true;
	snprintf(t->caps.detail, sizeof(t->caps.detail), "bubblewrap 0.0 (test)");
	*state = t;
	return 0;
}

static int tree_teardown(void **state)
{
	struct tree *t = *state;
	const char *const files[] = {t->conf, t->role, t->secret};
	const char *const dirs[] = {t->spool, t->state, t->run,	 t->etc,
				    t->work,  t->out,	t->repo, t->root};
	size_t i;

	for (i = 0; i < 3; i++)
		unlink(files[i]);
	for (i = 0; i < 8; i++)
		if (rmdir(dirs[i]) < 0)
			return -1;
	free(t);
	return 0;
}

/* How many times the pair "flag value" is in a. */
static size_t count_pair(const struct sandbox_argv *a, const char *flag,
			 const char *value)
{
	size_t i, n = 0;

	for (i = 0; i + 1 < a->n; i++)
		if (strcmp(a->v[i], flag) == 0 && strcmp(a->v[i + 1], value) == 0)
			n++;
	return n;
}

static size_t count_arg(const struct sandbox_argv *a, const char *s)
{
	size_t i, n = 0;

	for (i = 0; i < a->n; i++)
		n += strcmp(a->v[i], s) == 0;
	return n;
}

/* landlock: every path of the daemon's own is hidden, by its canonical
 * name; a credential by its folder-relative name; missing ones skipped. */
static void test_prefix_hidden(void **state)
{
	struct tree *t = *state;
	struct sandbox_argv a = {0};
	char desc[256], msg[256];

	assert_int_equal(pl_sandbox_prefix(&t->cfg, &t->caps, &t->p, t->work, &a, desc,
					   sizeof(desc), msg, sizeof(msg)),
			 0);
	assert_non_null(strstr(desc, "landlock"));
	assert_int_equal(count_pair(&a, "--hide", t->state),
			 2); /* itself, the db's folder */
	assert_int_equal(count_pair(&a, "--hide", t->run), 2); /* itself, the socket's */
	assert_int_equal(count_pair(&a, "--hide", t->spool), 1);
	assert_int_equal(count_pair(&a, "--hide", t->conf), 1);
	assert_int_equal(count_pair(&a, "--hide", t->role), 1);
	assert_int_equal(count_pair(&a, "--hide", t->secret), 1);
	assert_int_equal(count_arg(&a, "--hide"), 8);
	/* writable by its canonical name, the job's folder too */
	assert_int_equal(count_pair(&a, "--write", t->out), 1);
	assert_int_equal(count_pair(&a, "--write", t->work), 1);
	assert_int_equal(count_arg(&a, t->out_dotted), 0);
	assert_null(a.v[a.n]);
	sandbox_argv_free(&a);

	/* a missing state folder is not named; CREDENTIALS_DIRECTORY is */
	t->cfg.state_dir = "/nonexistent/aos-state";
	setenv("CREDENTIALS_DIRECTORY", t->etc, 1);
	assert_int_equal(pl_sandbox_prefix(&t->cfg, &t->caps, &t->p, t->work, &a, desc,
					   sizeof(desc), msg, sizeof(msg)),
			 0);
	unsetenv("CREDENTIALS_DIRECTORY");
	assert_int_equal(count_arg(&a, "/nonexistent/aos-state"), 0);
	assert_int_equal(count_pair(&a, "--hide", t->state), 1);
	assert_int_equal(count_pair(&a, "--hide", t->etc), 1);
	sandbox_argv_free(&a);
}

/* namespaces: readable paths and a local repository (file://) are bound
 * read-only, writable ones read-write; network true shares the network. */
static void test_prefix_namespaces(void **state)
{
	struct tree *t = *state;
	struct sandbox_argv a = {0};
	char desc[256], msg[256];
	size_t i, ro = 0;

	t->cfg.build_isolation = ISOLATION_NAMESPACES;
	assert_int_equal(pl_sandbox_prefix(&t->cfg, &t->caps, &t->p, t->work, &a, desc,
					   sizeof(desc), msg, sizeof(msg)),
			 0);
	assert_int_equal(count_arg(&a, "/usr/bin/bwrap"), 1);
	for (i = 0; i + 2 < a.n; i++)
		if (strcmp(a.v[i], "--ro-bind") == 0 &&
		    strcmp(a.v[i + 1], t->repo) == 0 && strcmp(a.v[i + 2], t->repo) == 0)
			ro++;
	assert_int_equal(ro, 1);
	assert_int_equal(count_pair(&a, "--bind", t->out), 1);
	assert_int_equal(count_arg(&a, "--unshare-net"), 0);
	sandbox_argv_free(&a);

	t->p.network = false;
	t->p.repository = "https://forge.invalid/x.git"; /* not a local path */
	assert_int_equal(pl_sandbox_prefix(&t->cfg, &t->caps, &t->p, t->work, &a, desc,
					   sizeof(desc), msg, sizeof(msg)),
			 0);
	assert_int_equal(count_arg(&a, "--unshare-net"), 1);
	assert_int_equal(count_arg(&a, t->repo), 0);
	sandbox_argv_free(&a);
}

/* An isolation the host lacks is refused with what to do, not weakened. */
static void test_prefix_unavailable(void **state)
{
	struct tree *t = *state;
	struct sandbox_argv a = {0};
	char desc[256], msg[512];

	t->caps.landlock_abi = -ENOSYS;
	assert_int_equal(pl_sandbox_prefix(&t->cfg, &t->caps, &t->p, t->work, &a, desc,
					   sizeof(desc), msg, sizeof(msg)),
			 -EOPNOTSUPP);
	assert_non_null(strstr(msg, "build_isolation \"landlock\" is not available"));
	assert_non_null(strstr(msg, "docs/security.md"));
	assert_int_equal(a.n, 0);
	t->cfg.build_isolation = ISOLATION_NAMESPACES;
	t->caps.namespaces = false;
	snprintf(t->caps.detail, sizeof(t->caps.detail), "bwrap not installed");
	assert_int_equal(pl_sandbox_prefix(&t->cfg, &t->caps, &t->p, t->work, &a, desc,
					   sizeof(desc), msg, sizeof(msg)),
			 -EOPNOTSUPP);
	assert_non_null(strstr(msg, "bwrap not installed"));
	assert_int_equal(a.n, 0);
}

/* Past the bound on paths the prefix is refused: never a path left out. */
static void test_prefix_too_many(void **state)
{
	struct tree *t = *state;
	struct sandbox_argv a = {0};
	char desc[256], msg[256];
	char *many[25];
	size_t i;

	for (i = 0; i < 25; i++)
		many[i] = t->out;
	t->p.writable = many;
	t->p.nwritable = 24;
	assert_int_equal(pl_sandbox_prefix(&t->cfg, &t->caps, &t->p, t->work, &a, desc,
					   sizeof(desc), msg, sizeof(msg)),
			 0);
	assert_int_equal(count_pair(&a, "--write", t->out), 24);
	sandbox_argv_free(&a);
	t->p.nwritable = 25;
	assert_int_equal(pl_sandbox_prefix(&t->cfg, &t->caps, &t->p, t->work, &a, desc,
					   sizeof(desc), msg, sizeof(msg)),
			 -E2BIG);
	assert_non_null(strstr(msg, "cannot prepare the build sandbox"));
	sandbox_argv_free(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_env_init),
	    cmocka_unit_test(test_env_set),
	    cmocka_unit_test(test_system_tool),
	    cmocka_unit_test_setup_teardown(test_prefix_hidden, tree_setup,
					    tree_teardown),
	    cmocka_unit_test_setup_teardown(test_prefix_namespaces, tree_setup,
					    tree_teardown),
	    cmocka_unit_test_setup_teardown(test_prefix_unavailable, tree_setup,
					    tree_teardown),
	    cmocka_unit_test_setup_teardown(test_prefix_too_many, tree_setup,
					    tree_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
