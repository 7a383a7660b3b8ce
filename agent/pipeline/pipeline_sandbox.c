/* pipeline_sandbox.c - what a pipeline's steps (and reconcile's git) run
 * under: the daemon's own paths to hide, the pipeline's readable and
 * writable paths, a local repository, turned into a --run-step prefix by
 * sandbox_wrap(). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pipeline/pipeline_steps.h"
#include "sandbox/sandbox.h"

#define MAX_PATHS 24 /* hidden, readable or writable paths of one pipeline */

struct paths {
	char *hidden[MAX_PATHS], *readable[MAX_PATHS], *writable[MAX_PATHS];
	size_t nhidden, nreadable, nwritable;
};

/* Adds path (canonical; skipped when it does not exist) to list.  Returns
 * 0, -ENOMEM, or -E2BIG when the list is full (never a path left out). */
static int list_add(char **list, size_t *n, const char *path, bool parent)
{
	char buf[PATH_MAX], real[PATH_MAX];

	if (path == NULL || path[0] == '\0')
		return 0;
	if (*n == MAX_PATHS)
		return -E2BIG;
	snprintf(buf, sizeof(buf), "%s", path);
	if (parent && strrchr(buf, '/') != NULL && strrchr(buf, '/') != buf)
		*strrchr(buf, '/') = '\0';
	if (realpath(buf, real) == NULL || strcmp(real, "/") == 0)
		return 0;
	if ((list[*n] = strdup(real)) == NULL)
		return -ENOMEM;
	(*n)++;
	return 0;
}

/* A credential file named in vault.auth: absolute, or in the folder of the
 * configuration (systemd's credentials folder is hidden as a whole). */
static int hide_cred(struct paths *ps, const struct config *cfg, const char *name)
{
	char path[PATH_MAX];

	if (name == NULL)
		return 0;
	snprintf(path, sizeof(path), "%s%s%s", name[0] == '/' ? "" : cfg->dir,
		 name[0] == '/' ? "" : "/", name);
	return list_add(ps->hidden, &ps->nhidden, path, false);
}

/* Everything of the daemon's own: state, queue, spool, runtime folder and
 * control socket, configuration file, credentials. */
static int collect_hidden(struct paths *ps, const struct config *cfg)
{
	const char *const dirs[] = {cfg->state_dir, cfg->runtime_dir,
				    cfg->queue.spool_dir, getenv("CREDENTIALS_DIRECTORY"),
				    cfg->path};
	size_t i;
	int rc = 0;

	for (i = 0; rc == 0 && i < sizeof(dirs) / sizeof(dirs[0]); i++)
		rc = list_add(ps->hidden, &ps->nhidden, dirs[i], false);
	if (rc == 0)
		rc = list_add(ps->hidden, &ps->nhidden, cfg->control_socket, true);
	if (rc == 0)
		rc = list_add(ps->hidden, &ps->nhidden, cfg->queue.path, true);
	if (rc == 0)
		rc = hide_cred(ps, cfg, cfg->vault.token_file);
	if (rc == 0)
		rc = hide_cred(ps, cfg, cfg->vault.role_id_file);
	if (rc == 0)
		rc = hide_cred(ps, cfg, cfg->vault.secret_id_file);
	return rc;
}

static void paths_free(struct paths *ps)
{
	size_t i;

	for (i = 0; i < ps->nhidden; i++)
		free(ps->hidden[i]);
	for (i = 0; i < ps->nreadable; i++)
		free(ps->readable[i]);
	for (i = 0; i < ps->nwritable; i++)
		free(ps->writable[i]);
}

int pl_sandbox_prefix(const struct config *cfg, const struct sandbox_caps *caps,
		      const struct pipeline_cfg *p, const char *workdir,
		      struct sandbox_argv *ret, char *desc, size_t desclen, char *msg,
		      size_t msglen)
{
	struct sandbox_spec spec = {.mode = cfg->build_isolation, .caps = caps};
	struct paths ps = {.nhidden = 0};
	const char *repo = p->repository;
	char self[PATH_MAX];
	size_t i;
	int rc;

	if (!sandbox_describe(spec.mode, caps, desc, desclen)) {
		snprintf(msg, msglen,
			 "build_isolation \"%s\" is not available on this host: %s; "
			 "fix that or choose another build_isolation (docs/security.md)",
			 sandbox_mode_name(spec.mode), desc);
		return -EOPNOTSUPP;
	}
	if (realpath("/proc/self/exe", self) == NULL)
		return -errno;
	rc = collect_hidden(&ps, cfg);
	for (i = 0; rc == 0 && i < p->nreadable; i++)
		rc = list_add(ps.readable, &ps.nreadable, p->readable[i], false);
	for (i = 0; rc == 0 && i < p->nwritable; i++)
		rc = list_add(ps.writable, &ps.nwritable, p->writable[i], false);
	/* A local repository (a path or file:// URL) is read by git inside. */
	if (repo != NULL && strncmp(repo, "file://", 7) == 0)
		repo += 7;
	if (rc == 0 && repo != NULL && repo[0] == '/')
		rc = list_add(ps.readable, &ps.nreadable, repo, false);
	if (rc == 0) {
		spec.self = self;
		spec.workdir = workdir;
		spec.readable = (const char *const *)ps.readable;
		spec.nreadable = ps.nreadable;
		spec.writable = (const char *const *)ps.writable;
		spec.nwritable = ps.nwritable;
		spec.hidden = (const char *const *)ps.hidden;
		spec.nhidden = ps.nhidden;
		spec.network = p->network;
		rc = sandbox_wrap(&spec, ret);
	}
	paths_free(&ps);
	if (rc < 0 && rc != -EOPNOTSUPP)
		snprintf(msg, msglen, "cannot prepare the build sandbox: %s",
			 strerror(-rc));
	return rc;
}
