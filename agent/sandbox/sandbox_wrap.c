/* sandbox_wrap.c - the --run-step prefix of a build step, and the probe of
 * what this host offers (bubblewrap, user namespaces, Landlock). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "sandbox/sandbox.h"

/* Folders of the root that merged-/usr systems make links into /usr. */
static const char *const root_dirs[] = {"/bin",	  "/sbin",  "/lib",
					"/lib32", "/lib64", "/libx32"};

int sandbox_argv_add(struct sandbox_argv *a, const char *s)
{
	if (a->n + 2 > a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 64;
		char **v = realloc(a->v, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		a->v = v;
		a->cap = cap;
	}
	if ((a->v[a->n] = strdup(s)) == NULL)
		return -ENOMEM;
	a->v[++a->n] = NULL;
	return 0;
}

void sandbox_argv_free(struct sandbox_argv *a)
{
	size_t i;

	for (i = 0; i < a->n; i++)
		free(a->v[i]);
	free(a->v);
	memset(a, 0, sizeof(*a));
}

static int add2(struct sandbox_argv *a, const char *x, const char *y)
{
	int r = sandbox_argv_add(a, x);

	return r < 0 ? r : sandbox_argv_add(a, y);
}

static int add3(struct sandbox_argv *a, const char *x, const char *y, const char *z)
{
	int r = add2(a, x, y);

	return r < 0 ? r : sandbox_argv_add(a, z);
}

/* The namespaces every step gets; network too when net is false. */
static int add_namespaces(struct sandbox_argv *a, bool net)
{
	static const char *const flags[] = {
	    "--unshare-user",	    "--unshare-pid",	 "--unshare-ipc", "--unshare-uts",
	    "--unshare-cgroup-try", "--die-with-parent", "--new-session",
	};
	size_t i;
	int r = 0;

	for (i = 0; r == 0 && i < sizeof(flags) / sizeof(flags[0]); i++)
		r = sandbox_argv_add(a, flags[i]);
	if (r == 0 && !net)
		r = sandbox_argv_add(a, "--unshare-net");
	if (r == 0) /* bwrap run by root would otherwise keep its capabilities */
		r = add2(a, "--cap-drop", "ALL");
	return r;
}

/* /usr and /etc read-only; the root's links into /usr as links; fresh
 * /proc, /dev, /tmp, /var/tmp and /run. */
static int add_system(struct sandbox_argv *a)
{
	char target[PATH_MAX], real[PATH_MAX];
	size_t i;
	ssize_t n;
	int r = add3(a, "--ro-bind", "/usr", "/usr");

	for (i = 0; r == 0 && i < sizeof(root_dirs) / sizeof(root_dirs[0]); i++) {
		struct stat st;

		if (lstat(root_dirs[i], &st) < 0)
			continue;
		if (S_ISLNK(st.st_mode) &&
		    (n = readlink(root_dirs[i], target, sizeof(target) - 1)) > 0) {
			target[n] = '\0';
			r = add3(a, "--symlink", target, root_dirs[i]);
		} else if (S_ISDIR(st.st_mode)) {
			r = add3(a, "--ro-bind", root_dirs[i], root_dirs[i]);
		}
	}
	if (r == 0)
		r = add3(a, "--ro-bind", "/etc", "/etc");
	if (r == 0)
		r = add2(a, "--proc", "/proc");
	if (r == 0)
		r = add2(a, "--dev", "/dev");
	if (r == 0)
		r = add2(a, "--tmpfs", "/dev/shm");
	if (r == 0)
		r = add2(a, "--tmpfs", "/tmp");
	if (r == 0)
		r = add2(a, "--tmpfs", "/var/tmp");
	if (r == 0)
		r = add2(a, "--tmpfs", "/run");
	/* resolv.conf may be a link into /run (systemd-resolved): bound after
	 * the private /run and /tmp, which would cover it */
	if (r == 0 && realpath("/etc/resolv.conf", real) != NULL &&
	    strncmp(real, "/etc/", 5) != 0 && strncmp(real, "/usr/", 5) != 0)
		r = add3(a, "--ro-bind-try", real, real);
	return r;
}

static bool beneath(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(path, dir, n) == 0 &&
	       (path[n] == '/' || path[n] == '\0' || (n == 1 && dir[0] == '/'));
}

/* A hidden path that a bound folder would show is covered: an empty
 * read-only tmpfs over a folder, /dev/null over a file. */
/* True if path is at or beneath a folder bound into the namespaces. */
static bool shown(const struct sandbox_spec *s, const char *path)
{
	size_t i;

	if (beneath(path, "/usr") || beneath(path, "/etc") || beneath(path, s->workdir))
		return true;
	for (i = 0; i < s->nreadable; i++)
		if (beneath(path, s->readable[i]))
			return true;
	for (i = 0; i < s->nwritable; i++)
		if (beneath(path, s->writable[i]))
			return true;
	return false;
}

static int add_masks(const struct sandbox_spec *s, struct sandbox_argv *a)
{
	size_t i;
	int r = 0;

	for (i = 0; r == 0 && i < s->nhidden; i++) {
		struct stat st;

		if (!shown(s, s->hidden[i]) || lstat(s->hidden[i], &st) < 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			r = add2(a, "--tmpfs", s->hidden[i]);
			if (r == 0)
				r = add2(a, "--remount-ro", s->hidden[i]);
		} else {
			r = add3(a, "--ro-bind", "/dev/null", s->hidden[i]);
		}
	}
	return r;
}

/* The writable paths of the Landlock layer; with namespaces also the
 * private temporary folders and /dev (null, tty, shm). */
static int add_writes(const struct sandbox_spec *s, struct sandbox_argv *a, bool ns)
{
	static const char *const ns_dirs[] = {"/tmp", "/var/tmp", "/dev"};
	size_t i;
	int r = add2(a, "--write", s->workdir);

	for (i = 0; r == 0 && i < s->nwritable; i++)
		r = add2(a, "--write", s->writable[i]);
	for (i = 0; r == 0 && ns && i < 3; i++)
		r = add2(a, "--write", ns_dirs[i]);
	if (r == 0 && !ns)
		r = add2(a, "--write", "/dev/null");
	if (r == 0 && !ns)
		r = add2(a, "--write", "/dev/shm");
	return r;
}

static int wrap_namespaces(const struct sandbox_spec *s, struct sandbox_argv *a)
{
	size_t i;
	int r;

	if (!s->caps->namespaces)
		return -EOPNOTSUPP;
	r = sandbox_argv_add(a, s->caps->bwrap);
	if (r == 0)
		r = add_namespaces(a, s->network);
	if (r == 0)
		r = add_system(a);
	for (i = 0; r == 0 && i < s->nreadable; i++)
		r = add3(a, "--ro-bind", s->readable[i], s->readable[i]);
	if (r == 0)
		r = add3(a, "--bind", s->workdir, s->workdir);
	for (i = 0; r == 0 && i < s->nwritable; i++)
		r = add3(a, "--bind", s->writable[i], s->writable[i]);
	if (r == 0)
		r = add_masks(s, a);
	if (r == 0)
		r = add3(a, "--ro-bind", s->self, SANDBOX_SELF);
	if (r == 0)
		r = add3(a, "--", SANDBOX_SELF, "--run-step");
	if (r == 0)
		r = add2(a, "--landlock", "--optional");
	if (r == 0)
		r = add_writes(s, a, true);
	return r;
}

int sandbox_wrap(const struct sandbox_spec *s, struct sandbox_argv *a)
{
	size_t i;
	int r = add2(a, "/proc/self/exe",
		     "--run-step"); /* this binary, even after an upgrade */

	if (r == 0 && s->mode == ISOLATION_NAMESPACES) {
		r = sandbox_argv_add(a, "--");
		if (r == 0)
			r = wrap_namespaces(s, a);
	} else if (r == 0) { /* no PID namespace: a subreaper ends what is left */
		r = sandbox_argv_add(a, "--reap");
	}
	if (r == 0 && s->mode == ISOLATION_LANDLOCK) {
		r = sandbox_argv_add(a, "--landlock");
		for (i = 0; r == 0 && i < s->nhidden; i++)
			r = add2(a, "--hide", s->hidden[i]);
		if (r == 0)
			r = add_writes(s, a, false);
	}
	if (r == 0)
		r = sandbox_argv_add(a, "--");
	return r;
}

/* ---- the probe ------------------------------------------------------------ */

/* Runs argv with stdout and stderr into out (bounded), waits.  Returns the
 * exit status, or -errno. */
static int run_capture(char *const *argv, char *out, size_t outlen)
{
	int pipefd[2], status;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	out[0] = '\0';
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		close(pipefd[0]);
		close(pipefd[1]);
		return -errno;
	}
	if (pid == 0) {
		static char *const env[] = {"PATH=/usr/bin:/bin", NULL};
		int devnull = open("/dev/null", O_RDONLY);

		dup2(devnull, 0);
		dup2(pipefd[1], 1);
		dup2(pipefd[1], 2);
		syscall(SYS_close_range, 3U, ~0U, 0U);
		execve(argv[0], argv, env);
		_exit(127);
	}
	close(pipefd[1]);
	while ((n = read(pipefd[0], out + got, outlen - 1 - got)) > 0 && got + 1 < outlen)
		got += (size_t)n;
	out[got] = '\0';
	if (got > 0 && out[got - 1] == '\n')
		out[--got] = '\0';
	close(pipefd[0]);
	if (waitpid(pid, &status, 0) < 0)
		return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void sandbox_probe(struct sandbox_caps *ret)
{
	static const char *const dirs[] = {"/usr/bin", "/bin", "/usr/local/bin"};
	struct sandbox_argv a = {0};
	char version[128], out[400];
	size_t i;
	int r;

	memset(ret, 0, sizeof(*ret));
	ret->probed = true;
	ret->landlock_abi = sandbox_abi();
	for (i = 0; i < 3 && ret->bwrap[0] == '\0'; i++) {
		snprintf(ret->bwrap, sizeof(ret->bwrap), "%s/bwrap", dirs[i]);
		if (access(ret->bwrap, X_OK) < 0)
			ret->bwrap[0] = '\0';
	}
	if (ret->bwrap[0] == '\0') {
		snprintf(ret->detail, sizeof(ret->detail),
			 "bubblewrap (bwrap) is not "
			 "installed; install Debian's bubblewrap package");
		return;
	}
	{
		char *vargv[] = {ret->bwrap, "--version", NULL};

		if (run_capture(vargv, version, sizeof(version)) != 0)
			snprintf(version, sizeof(version), "bwrap");
	}
	r = sandbox_argv_add(&a, ret->bwrap);
	if (r == 0)
		r = add_namespaces(&a, false);
	if (r == 0)
		r = add_system(&a);
	if (r == 0)
		r = add2(&a, "--", "/usr/bin/true");
	if (r < 0) {
		snprintf(ret->detail, sizeof(ret->detail), "out of memory");
	} else if ((r = run_capture(a.v, out, sizeof(out))) != 0) {
		snprintf(
		    ret->detail, sizeof(ret->detail),
		    "%s cannot create the namespaces "
		    "(exit %d: %s); unprivileged user namespaces may be disabled "
		    "(sysctl kernel.unprivileged_userns_clone, user.max_user_namespaces) or "
		    "refused by a seccomp filter",
		    version, r, out[0] ? out : "no message");
	} else {
		ret->namespaces = true;
		snprintf(ret->detail, sizeof(ret->detail), "%s", version);
	}
	sandbox_argv_free(&a);
}

bool sandbox_describe(enum isolation mode, const struct sandbox_caps *caps, char *buf,
		      size_t len)
{
	char ll[120];

	if (caps->landlock_abi > 0)
		snprintf(ll, sizeof(ll), "Landlock ABI %d", caps->landlock_abi);
	else
		snprintf(ll, sizeof(ll), "no Landlock (%s)",
			 strerror(-caps->landlock_abi));
	switch (mode) {
	case ISOLATION_NAMESPACES:
		if (!caps->namespaces) {
			snprintf(buf, len, "namespaces unavailable: %s", caps->detail);
			return false;
		}
		snprintf(buf, len,
			 "namespaces (%s: user, mount, pid, ipc, uts, cgroup) + %s",
			 caps->detail, ll);
		return true;
	case ISOLATION_LANDLOCK:
		snprintf(buf, len, "landlock (%s; no namespaces: the fallback)", ll);
		return caps->landlock_abi > 0;
	default:
		snprintf(buf, len,
			 "off: build steps are NOT confined (build_isolation \"off\")");
		return true;
	}
}

const char *sandbox_mode_name(enum isolation mode)
{
	return mode == ISOLATION_NAMESPACES ? "namespaces"
	       : mode == ISOLATION_LANDLOCK ? "landlock"
					    : "off";
}

struct cJSON *sandbox_status_json(enum isolation mode, const struct sandbox_caps *caps)
{
	cJSON *o = cJSON_CreateObject();
	char text[800];
	bool ok = sandbox_describe(mode, caps, text, sizeof(text));

	cJSON_AddStringToObject(o, "mode", sandbox_mode_name(mode));
	cJSON_AddBoolToObject(o, "available", ok);
	cJSON_AddStringToObject(o, "description", text);
	cJSON_AddBoolToObject(o, "namespaces", caps->namespaces);
	cJSON_AddNumberToObject(o, "landlock_abi",
				caps->landlock_abi > 0 ? caps->landlock_abi : 0);
	return o;
}
