/* worker_pipeline.c - running a pipeline job.
 *
 * Build phase (once per job): check out the commit into a fresh work
 * folder, run the build and verify steps, collect the artifacts by glob,
 * copy them into the spool and inspect the copies (name == the pipeline's
 * package, version == the tag's), then record them and their uploads (one
 * per target and file) in the queue in one transaction.  A later attempt
 * (a crash, a registry outage) finds the uploads recorded and goes straight
 * to the upload phase: the same spooled files are sent, never rebuilt.
 *
 * Upload phase: the targets in their recorded order, each a publish of
 * the files not yet DONE for it; the next target starts only once the one
 * before succeeded.
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/openat2.h>

#include <cjson/cJSON.h>

#include "base/child.h"
#include "base/log.h"
#include "common/backoff.h"
#include "common/file.h"
#include "config/config.h"
#include "pipeline/pipeline_steps.h"
#include "publish/dist_tag.h"
#include "publish/spool.h"
#include "publishers/artifact.h"
#include "publishers/artifact_fit.h"
#include "publishers/pypi_name.h"
#include "queue/queue_async.h"
#include "sandbox/sandbox.h"
#include "worker_internal.h"

struct pl_art {
	char *path;	/* in the spool */
	char name[256]; /* file name */
	char sha256[65];
	enum artifact_kind kind;
	char *record; /* artifact_record(), or NULL */
};

struct pl_run {
	struct run *r; /* NULL once the run is gone (work still in flight) */
	struct pl_build *build;
	uv_work_t work;
	bool work_busy;
	char pipeline[128], tag[256], version[128], commit[72], head[72];
	char stepdir[4200], spooldir[4200], workdir[4200];
	uint64_t max_file_bytes; /* publish.max_file_bytes, read at start */
	char *globs[MAX_FILES];
	size_t nglobs;
	char package[256];
	struct pl_art arts[MAX_FILES];
	size_t narts;
	int work_rc;
	bool work_permanent;
	char work_msg[1024];
	char **targets; /* recorded order */
	size_t ntargets, target;
	/* the npm dist-tag rule recorded with the job, and the decisions made
	 * before it was queued (NULL: none) */
	char *dist_tag, *prerelease_dist_tag;
	char given_by[200];
	cJSON *dist_tags;
	cJSON *cells;	 /* verify_matrix results, for the inputs (job show) */
	char *recording; /* the inputs set_artifacts is recording, or NULL */
	/* PostgreSQL: the artifacts are stored in the queue's database before
	 * they are recorded, as "<fence>-<name>" (files_fence in the inputs:
	 * the lease that built them), so that a host taking the job over
	 * uploads those bytes; what set_artifacts posts meanwhile */
	int64_t files_fence;
	char *put_paths[MAX_FILES], *put_names[MAX_FILES];
	struct job_upload *rec_ups;
	size_t rec_n;
};

static void pl_free(struct pl_run *pl)
{
	size_t i;

	for (i = 0; i < pl->narts; i++) {
		free(pl->arts[i].path);
		free(pl->arts[i].record);
	}
	for (i = 0; i < pl->nglobs; i++)
		free(pl->globs[i]);
	for (i = 0; i < pl->ntargets; i++)
		free(pl->targets[i]);
	free(pl->targets);
	free(pl->dist_tag);
	free(pl->prerelease_dist_tag);
	cJSON_Delete(pl->dist_tags);
	cJSON_Delete(pl->cells);
	free(pl->recording);
	for (i = 0; i < pl->narts; i++)
		free(pl->put_names[i]);
	free(pl->rec_ups);
	free(pl);
}

static void pipeline_abort(struct run *r)
{
	struct pl_run *pl = r->pl;

	r->pl = NULL;
	if (pl->build != NULL) {
		/* Stopped mid-build (canceled, lease lost, daemon stopping). */
		pl_build_abort(pl->build);
		pl->build = NULL;
	}
	if (pl->workdir[0] != '\0' && pl->narts == 0 && !pl->work_busy)
		pl_build_cleanup(r->w->env.pub.loop, pl->workdir);
	if (pl->work_busy)
		pl->r = NULL; /* the work's end frees it */
	else
		pl_free(pl);
}

static const char *jstr(const cJSON *o, const char *k)
{
	return cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, k));
}

/* ---- the upload phase ------------------------------------------------------- */

/* Loads target pl->target's files not yet DONE (of the job's n uploads
 * ups) into r.  Returns their count (>= 0) or a negative error. */
static int load_target(struct run *r, const struct job_upload *ups, size_t n)
{
	struct pl_run *pl = r->pl;
	const char *t = pl->targets[pl->target];
	size_t tl = strlen(t), i, k;
	int rc = 0;

	worker__files_clear(r);
	for (i = 0; i < n && r->nfiles < MAX_FILES; i++) {
		const char *fname = ups[i].filename + tl + 1;

		if (strcmp(ups[i].registry, t) != 0 || ups[i].state == UPLOAD_DONE ||
		    strncmp(ups[i].filename, t, tl) != 0 || ups[i].filename[tl] != '/')
			continue;
		for (k = 0; k < pl->narts && strcmp(pl->arts[k].name, fname) != 0; k++)
			;
		if (k == pl->narts) {
			rc = -ENOENT;
			break;
		}
		r->files[r->nfiles] = strdup(pl->arts[k].path);
		r->names[r->nfiles] = strdup(ups[i].filename);
		r->sources[r->nfiles] = strdup(pl->arts[k].path);
		r->records[r->nfiles] =
		    pl->arts[k].record != NULL ? strdup(pl->arts[k].record) : NULL;
		r->probe[r->nfiles] = ups[i].state == UPLOAD_SENDING;
		if (pl->files_fence > 0 &&
		    asprintf(&r->dbnames[r->nfiles], "%" PRId64 "-%s", pl->files_fence,
			     fname) < 0)
			r->dbnames[r->nfiles] = NULL;
		r->nfiles++;
		if (r->files[r->nfiles - 1] == NULL || r->names[r->nfiles - 1] == NULL ||
		    r->sources[r->nfiles - 1] == NULL ||
		    (pl->files_fence > 0 && r->dbnames[r->nfiles - 1] == NULL)) {
			rc = -ENOMEM;
			break;
		}
	}
	return rc < 0 ? rc : (int)r->nfiles;
}

/* The job log: the current target's dist-tag as decided before queueing
 * (the upload decides again with the registry's latest and the package's
 * publishConfig.tag, and its result line names the tag it sent). */
static void log_decided_tag(struct run *r)
{
	struct pl_run *pl = r->pl;
	const cJSON *d = dist_tag_json_find(pl->dist_tags, pl->targets[pl->target]);
	const char *tag =
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "dist_tag"));
	const char *from =
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(d, "from"));

	if (tag == NULL)
		return;
	worker__qlog(r->w, r->job.id,
		     "%s: dist-tag %s (%s), decided before the build from "
		     "version %s%s",
		     pl->targets[pl->target], tag, from != NULL ? from : "?", pl->version,
		     cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "checked"))
			 ? ""
			 : " without the registry's latest; checked again now");
}

/* The current target's files are all here (read from the queue's
 * database when another host built them): its publish starts. */
static void target_fetched(struct run *r, int rc, const char *msg)
{
	struct pl_run *pl = r->pl;
	struct worker_tag_rule rule = {.tag = pl->dist_tag,
				       .given_by = pl->given_by,
				       .prerelease = pl->prerelease_dist_tag};

	if (rc < 0) {
		worker__settle_retry(r, -1, OUT_ERROR, msg);
		worker__run_free(r);
	} else if (worker__publish(r, pl->targets[pl->target], &rule, pl->version) < 0) {
		worker__run_free(r);
	}
}

/* The job's uploads are read (n, or rc < 0): starts the first target
 * (from pl->target on) with files left, or, every target done, settles
 * the job succeeded. */
static void targets_read(struct run *r, const struct job_upload *ups, size_t n, int rc)
{
	struct pl_run *pl = r->pl;
	char msg[512];
	int nt;

	for (; pl->target < pl->ntargets; pl->target++) {
		nt = rc < 0 ? rc : load_target(r, ups, n);
		if (nt < 0) {
			snprintf(msg, sizeof(msg),
				 "cannot read the job's uploads for %s: %s",
				 pl->targets[pl->target], aos_strerror(nt));
			worker__settle_retry(r, -1, OUT_NONE, msg);
			worker__run_free(r);
			return;
		}
		if (nt == 0)
			continue;
		worker__qlog(r->w, r->job.id, "target %zu of %zu: %s (%d file%s)",
			     pl->target + 1, pl->ntargets, pl->targets[pl->target], nt,
			     nt == 1 ? "" : "s");
		log_decided_tag(r);
		nt = worker__fetch_missing(r, target_fetched);
		if (nt == 0)
			target_fetched(r, 0, NULL);
		else if (nt < 0)
			target_fetched(r, nt, "out of memory");
		return;
	}
	worker__settle(r, JOB_SUCCEEDED, 0, OUT_NONE, NULL);
	worker__run_free(r);
}

static void uploads_read(struct queue_async_result *res, void *data)
{
	struct run *r = data;
	struct worker *w = r->w;

	if (!r->gone)
		targets_read(r, res->uploads, res->n, res->rc < 0 ? res->rc : 0);
	worker__run_drop(r);
	worker__completed(w);
}

/* Reads the job's uploads (after every write posted before: the ones the
 * last target recorded DONE), then targets_read(). */
static void start_target(struct run *r)
{
	int rc = queue_async_uploads(r->w->qa, r->job.id, uploads_read, r);

	if (rc < 0) {
		targets_read(r, NULL, 0, rc);
		return;
	}
	worker__run_hold(r);
	worker__posted(r->w);
}

static void pipeline_target_done(struct run *r)
{
	r->pl->target++;
	start_target(r);
}

/* Reads the recorded artifacts and targets from the job's inputs. */
static int load_recorded(struct pl_run *pl, const cJSON *doc)
{
	const cJSON *f, *t;
	size_t n = 0;

	cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(doc, "files"))
	{
		const char *path = jstr(f, "path"), *name = jstr(f, "filename");

		if (path == NULL || name == NULL || pl->narts == MAX_FILES)
			return -EINVAL;
		pl->arts[pl->narts].path = strdup(path);
		pl->arts[pl->narts].record = worker__record_of(f);
		snprintf(pl->arts[pl->narts].name, sizeof(pl->arts[0].name), "%s", name);
		pl->narts++;
	}
	f = cJSON_GetObjectItemCaseSensitive(doc, "files_fence");
	pl->files_fence = cJSON_IsNumber(f) ? (int64_t)f->valuedouble : 0;
	t = cJSON_GetObjectItemCaseSensitive(doc, "targets");
	pl->targets = calloc((size_t)cJSON_GetArraySize(t) + 1, sizeof(char *));
	if (pl->targets == NULL)
		return -ENOMEM;
	cJSON_ArrayForEach(f, t)
	{
		if (!cJSON_IsString(f))
			return -EINVAL;
		pl->targets[n++] = strdup(f->valuestring);
	}
	pl->ntargets = n;
	return n > 0 && pl->narts > 0 ? 0 : -EINVAL;
}

/* The npm dist-tag rule recorded with the job (pipeline_job_init) and the
 * decisions made before it was queued.  Returns 0 or -ENOMEM. */
static int load_tag_rule(struct pl_run *pl, const cJSON *doc)
{
	const char *tag = jstr(doc, "dist_tag"), *pre = jstr(doc, "prerelease_dist_tag");
	const cJSON *decided = cJSON_GetObjectItemCaseSensitive(doc, "dist_tags");

	snprintf(pl->given_by, sizeof(pl->given_by), "dist_tag of pipeline %s",
		 pl->pipeline);
	pl->dist_tag = tag != NULL ? strdup(tag) : NULL;
	pl->prerelease_dist_tag = pre != NULL ? strdup(pre) : NULL;
	pl->dist_tags = decided != NULL ? cJSON_Duplicate(decided, true) : NULL;
	if ((tag != NULL && pl->dist_tag == NULL) ||
	    (pre != NULL && pl->prerelease_dist_tag == NULL) ||
	    (decided != NULL && pl->dist_tags == NULL))
		return -ENOMEM;
	return 0;
}

/* ---- recording the artifacts ----------------------------------------------- */

/* doc's "verify_matrix": this build's cells (none: removed, an earlier
 * attempt's results are not this one's).  pl->cells is transferred. */
static void put_cells(struct pl_run *pl, cJSON *doc)
{
	cJSON_DeleteItemFromObjectCaseSensitive(doc, "verify_matrix");
	if (pl->cells != NULL && cJSON_AddItemToObject(doc, "verify_matrix", pl->cells))
		pl->cells = NULL; /* transferred */
}

/* A build that failed in a verify_matrix cell: the cells' results go into
 * the job's inputs (job show), with no upload; posted before the job's
 * finish, so recorded under its lease. */
static void record_cells(struct run *r)
{
	struct worker *w = r->w;
	cJSON *doc = cJSON_Parse(r->job.inputs);
	struct worker_job_post *p =
	    worker__job_post(w, r->job.id, "the verify_matrix results");
	char *text = NULL;
	int rc;

	if (doc == NULL || r->pl->cells == NULL || p == NULL) {
		cJSON_Delete(doc);
		free(p);
		return;
	}
	put_cells(r->pl, doc);
	text = cJSON_PrintUnformatted(doc);
	rc = text == NULL
		 ? -ENOMEM
		 : queue_async_set_artifacts(w->qa, r->job.id, r->job.fence, text, NULL,
					     0, aos_wall_ms(), worker__job_written, p);
	if (rc < 0) {
		log_warn("job %" PRId64 ": cannot record the verify_matrix results: %s",
			 r->job.id, aos_strerror(rc));
		free(p);
	} else {
		worker__posted(w);
	}
	cJSON_Delete(doc);
	free(text);
}

/* Which target gets which artifact: every artifact goes to each target of
 * its kind; each target must get one and each artifact must go somewhere. */
static int plan_uploads(struct run *r, struct job_upload *ups, size_t *ret_n, char *msg,
			size_t msglen)
{
	struct pl_run *pl = r->pl;
	const struct config *cfg = worker__cfg(r->w);
	size_t t, i, n = 0;
	bool used[MAX_FILES] = {false};

	for (t = 0; t < pl->ntargets; t++) {
		const struct registry_cfg *reg = config_registry(cfg, pl->targets[t]);
		size_t got = 0;

		if (reg == NULL) {
			snprintf(msg, msglen, "target %s is not a configured registry",
				 pl->targets[t]);
			return -EINVAL;
		}
		for (i = 0; i < pl->narts; i++) {
			struct job_upload *u = &ups[n];

			if (!artifact_fits(pl->arts[i].kind, reg->type))
				continue;
			if ((size_t)snprintf(u->filename, sizeof(u->filename), "%s/%s",
					     reg->name,
					     pl->arts[i].name) >= sizeof(u->filename)) {
				snprintf(msg, msglen, "artifact name too long: %s",
					 pl->arts[i].name);
				return -EINVAL;
			}
			snprintf(u->registry, sizeof(u->registry), "%s", reg->name);
			memcpy(u->sha256, pl->arts[i].sha256, 65);
			u->state = UPLOAD_PENDING;
			used[i] = true;
			got++;
			n++;
		}
		if (got == 0) {
			snprintf(msg, msglen,
				 "target %s (%s) gets no artifact: the build made "
				 "none of that kind",
				 reg->name, registry_type_name(reg->type));
			return -EINVAL;
		}
	}
	for (i = 0; i < pl->narts; i++) {
		if (!used[i]) {
			snprintf(msg, msglen, "artifact %s fits none of the targets",
				 pl->arts[i].name);
			return -EINVAL;
		}
	}
	*ret_n = n;
	return 0;
}

/* Recording the artifacts failed (rc): settles r's job, unless its lease
 * was lost (its new owner decides). */
static void artifacts_refused(struct run *r, int rc)
{
	char msg[256];

	if (rc == AOS_EFENCED) {
		log_warn("job %" PRId64 ": lease lost before its artifacts were recorded",
			 r->job.id);
		return;
	}
	snprintf(msg, sizeof(msg), "cannot record the artifacts: %s", aos_strerror(rc));
	worker__settle_retry(r, -1, OUT_ERROR, msg);
}

/* The artifacts are recorded (res->rc 0) in the job's inputs and uploads:
 * the work folder goes, the targets start. */
static void artifacts_recorded(struct run *r, int rc)
{
	struct pl_run *pl = r->pl;

	if (rc < 0) {
		artifacts_refused(r, rc);
		worker__run_free(r);
		return;
	}
	worker__logged(r->w, r->job.id);
	free(r->job.inputs);
	r->job.inputs = pl->recording; /* transferred */
	pl->recording = NULL;
	pl_build_cleanup(r->w->env.pub.loop, pl->workdir);
	pl->target = 0;
	start_target(r);
}

static void recorded(struct queue_async_result *res, void *data)
{
	struct run *r = data;
	struct worker *w = r->w;

	if (!r->gone)
		artifacts_recorded(r, res->rc);
	worker__run_drop(r);
	worker__completed(w);
}

/* The artifacts are in the queue's database (PostgreSQL), or need not be:
 * posts what records them. */
static void stored(struct run *r, int rc, const char *msg)
{
	struct pl_run *pl = r->pl;
	struct worker *w = r->w;

	if (rc == 0)
		rc = queue_async_set_artifacts(w->qa, r->job.id, r->job.fence,
					       pl->recording, pl->rec_ups, pl->rec_n,
					       worker__now(w), recorded, r);
	free(pl->rec_ups);
	pl->rec_ups = NULL;
	if (rc == AOS_EFENCED) {
		artifacts_refused(r, rc);
	} else if (rc < 0) {
		log_warn("job %" PRId64 ": %s", r->job.id,
			 msg != NULL ? msg : aos_strerror(rc));
		artifacts_refused(r, rc);
	} else {
		worker__run_hold(r);
		worker__posted(w);
		return;
	}
	worker__run_free(r);
}

static void record(struct run *r)
{
	struct pl_run *pl = r->pl;
	struct worker *w = r->w;
	struct job_upload *ups = calloc(QUEUE_UPLOADS_MAX, sizeof(*ups));
	cJSON *doc = cJSON_Parse(r->job.inputs), *files, *targets;
	char msg[1024], *text = NULL;
	size_t n = 0, i;
	int rc;

	if (ups == NULL || doc == NULL) {
		worker__settle_retry(r, -1, OUT_ERROR, "out of memory");
		goto fail;
	}
	if (pl->ntargets * pl->narts > QUEUE_UPLOADS_MAX) {
		snprintf(msg, sizeof(msg),
			 "%zu artifacts to %zu targets are %zu uploads, more "
			 "than the %d one job holds: make fewer artifacts or split the "
			 "targets over pipelines",
			 pl->narts, pl->ntargets, pl->narts * pl->ntargets,
			 QUEUE_UPLOADS_MAX);
		worker__settle(r, JOB_DEAD, 0, OUT_INVALID, msg);
		goto fail;
	}
	if (plan_uploads(r, ups, &n, msg, sizeof(msg)) < 0) {
		worker__settle(r, JOB_DEAD, 0, OUT_INVALID, msg);
		goto fail;
	}
	files = cJSON_AddArrayToObject(doc, "files");
	for (i = 0; i < pl->narts; i++) {
		cJSON *f = cJSON_CreateObject();

		cJSON_AddStringToObject(f, "path", pl->arts[i].path);
		cJSON_AddStringToObject(f, "filename", pl->arts[i].name);
		cJSON_AddStringToObject(f, "sha256", pl->arts[i].sha256);
		cJSON_AddStringToObject(f, "source", pl->arts[i].name);
		spool_add_record(f, pl->arts[i].record);
		cJSON_AddItemToArray(files, f);
	}
	targets = cJSON_AddArrayToObject(doc, "targets");
	for (i = 0; i < pl->ntargets; i++)
		cJSON_AddItemToArray(targets, cJSON_CreateString(pl->targets[i]));
	cJSON_AddStringToObject(doc, "built_commit", pl->head);
	if (worker__cfg(w)->queue.backend == QUEUE_BACKEND_POSTGRESQL)
		cJSON_AddNumberToObject(doc, "files_fence", (double)r->job.fence);
	put_cells(pl, doc);
	text = cJSON_PrintUnformatted(doc);
	if (text != NULL && strlen(text) > JOB_INPUTS_MAX) {
		free(text);
		spool_trim_records(files); /* those uploads inspect again */
		text = cJSON_PrintUnformatted(doc);
	}
	if (text == NULL) {
		artifacts_refused(r, -ENOMEM);
		goto fail;
	}
	pl->recording = text; /* transferred */
	pl->rec_ups = ups;
	pl->rec_n = n;
	cJSON_Delete(doc);
	if (worker__cfg(w)->queue.backend != QUEUE_BACKEND_POSTGRESQL) {
		stored(r, 0, NULL);
		return;
	}
	for (i = 0; i < pl->narts; i++) {
		pl->put_paths[i] = pl->arts[i].path;
		if (asprintf(&pl->put_names[i], "%" PRId64 "-%s", r->job.fence,
			     pl->arts[i].name) < 0)
			pl->put_names[i] = NULL;
		if (pl->put_names[i] == NULL) {
			stored(r, -ENOMEM, "out of memory");
			return;
		}
	}
	rc = worker__files_put(r, pl->put_paths, pl->put_names, pl->narts, stored);
	if (rc < 0)
		stored(r, rc, "out of memory");
	return;
fail:
	free(ups);
	free(text);
	cJSON_Delete(doc);
	worker__run_free(r);
}

/* ---- collecting the artifacts (thread pool) ------------------------------- */

/* The folder part of a glob, with glob's special characters escaped. */
static void glob_escape(const char *in, char *out, size_t outlen)
{
	size_t o = 0;

	for (; *in != '\0' && o + 2 < outlen; in++) {
		if (strchr("*?[]\\", *in) != NULL)
			out[o++] = '\\';
		out[o++] = *in;
	}
	out[o] = '\0';
}

/* Opens the artifact at src, a path beneath the job's work folder (what
 * the glob found), for reading: never through a symbolic link anywhere
 * below the work folder (a step could make dist/ a link to the daemon's
 * own files), never blocking on a FIFO.  Returns the descriptor or a
 * negative errno (-ELOOP: a link on the way, -EXDEV: not beneath). */
static int open_artifact(const struct pl_run *pl, const char *src)
{
	struct open_how how = {.flags = O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC,
			       .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
					  RESOLVE_NO_MAGICLINKS};
	size_t n = strlen(pl->workdir);
	int dir, fd;

	if (strncmp(src, pl->workdir, n) != 0 || src[n] != '/')
		return -EXDEV;
	dir = open(pl->workdir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return -errno;
	fd = (int)syscall(SYS_openat2, dir, src + n + 1, &how, sizeof(how));
	if (fd < 0)
		fd = -errno;
	close(dir);
	return fd;
}

static int collect_one(struct pl_run *pl, const char *src, char *msg, size_t msglen)
{
	struct artifact_options opts = {.expected_version = pl->version};
	struct pl_art *a = &pl->arts[pl->narts];
	struct artifact *art = NULL;
	const char *base = strrchr(src, '/') + 1;
	char dst[4500];
	bool theirs = false;
	int rc, in;

	snprintf(a->name, sizeof(a->name), "%s", base);
	snprintf(dst, sizeof(dst), "%s/%s", pl->spooldir, base);
	unlink(dst); /* a copy of an earlier attempt that was not recorded */
	in = open_artifact(pl, src);
	if (in < 0) {
		snprintf(msg, msglen, "%s: cannot read: %s",
			 src + strlen(pl->workdir) + 1,
			 in == -ELOOP
			     ? "a symbolic link in its path (artifacts are taken only "
			       "as regular files beneath the work folder)"
			     : strerror(-in));
		pl->work_permanent = true;
		return in;
	}
	rc = spool_take_fd(in, base, dst, pl->max_file_bytes, &opts, &art, &theirs, msg,
			   msglen);
	close(in);
	if (rc < 0) {
		pl->work_permanent = theirs;
		return rc;
	}
	a->path = strdup(dst);
	a->record = artifact_record(art, true);
	memcpy(a->sha256, art->sha256, sizeof(a->sha256));
	pl->narts++;
	a->kind = art->kind;
	if (art->kind == ARTIFACT_NPM ? strcmp(art->name, pl->package) != 0
				      : !pypi_name_equal(art->name, pl->package)) {
		snprintf(msg, msglen, "%s is package %s, but the pipeline publishes %s",
			 base, art->name, pl->package);
		pl->work_permanent = true;
		rc = -EINVAL;
	}
	artifact_free(art);
	return rc;
}

static void collect_work(uv_work_t *wk)
{
	struct pl_run *pl = wk->data;
	char pat[8600], dir[4400];
	size_t g, i, k;

	pl->work_rc = 0;
	snprintf(dir, sizeof(dir), "%s", pl->spooldir);
	*strrchr(dir, '/') = '\0';
	if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
		pl->work_rc = -errno;
		snprintf(pl->work_msg, sizeof(pl->work_msg),
			 "cannot create the spool %s: %s", dir, strerror(errno));
		return;
	}
	if (mkdir(pl->spooldir, 0750) < 0 && errno != EEXIST) {
		pl->work_rc = -errno;
		snprintf(pl->work_msg, sizeof(pl->work_msg), "cannot create %s: %s",
			 pl->spooldir, strerror(errno));
		return;
	}
	glob_escape(pl->stepdir, dir, sizeof(dir));
	for (g = 0; g < pl->nglobs && pl->work_rc == 0; g++) {
		glob_t gl;
		size_t found = 0;

		snprintf(pat, sizeof(pat), "%s/%s", dir, pl->globs[g]);
		if (glob(pat, 0, NULL, &gl) != 0)
			gl.gl_pathc = 0;
		for (i = 0; i < gl.gl_pathc && pl->work_rc == 0; i++) {
			struct stat st;
			bool dup = false;

			if (stat(gl.gl_pathv[i], &st) < 0 || !S_ISREG(st.st_mode))
				continue;
			found++;
			for (k = 0; k < pl->narts; k++)
				dup |= strcmp(pl->arts[k].name,
					      strrchr(gl.gl_pathv[i], '/') + 1) == 0;
			if (dup)
				continue;
			if (pl->narts == MAX_FILES) {
				snprintf(pl->work_msg, sizeof(pl->work_msg),
					 "more than %d artifacts", MAX_FILES);
				pl->work_rc = -E2BIG;
				pl->work_permanent = true;
				break;
			}
			pl->work_rc = collect_one(pl, gl.gl_pathv[i], pl->work_msg,
						  sizeof(pl->work_msg));
		}
		if (gl.gl_pathc > 0)
			globfree(&gl);
		if (pl->work_rc == 0 && found == 0) {
			snprintf(pl->work_msg, sizeof(pl->work_msg),
				 "artifact glob \"%s\" matched "
				 "no file in %s after the build",
				 pl->globs[g], pl->stepdir);
			pl->work_rc = -ENOENT;
			pl->work_permanent = true;
		}
	}
	(void)aos_fsync_dir(pl->spooldir);
}

static void collect_done(uv_work_t *wk, int status)
{
	struct pl_run *pl = wk->data;
	struct run *r = pl->r;

	(void)status;
	pl->work_busy = false;
	if (r == NULL) {
		pl_free(pl); /* the run was stopped meanwhile */
		return;
	}
	if (pl->work_rc < 0) {
		worker__qlog(r->w, r->job.id, "artifacts: %s", pl->work_msg);
		if (pl->work_permanent) {
			record_cells(r);
			worker__settle(r, JOB_DEAD, 0, OUT_INVALID, pl->work_msg);
		} else {
			worker__settle_retry(r, -1, OUT_ERROR, pl->work_msg);
		}
		worker__run_free(r);
		return;
	}
	worker__qlog(r->w, r->job.id, "built %zu artifact%s of %s %s from %.12s",
		     pl->narts, pl->narts == 1 ? "" : "s", pl->package, pl->version,
		     pl->head);
	record(r);
}

/* ---- the build phase ------------------------------------------------------- */

static void build_done(void *data, int rc, bool permanent, const char *head,
		       const char *error)
{
	struct run *r = data;
	struct pl_run *pl = r->pl;

	pl->build = NULL;
	if (rc < 0) {
		if (permanent) {
			record_cells(r);
			worker__settle(r, JOB_DEAD, 0, OUT_INVALID, error);
		} else {
			worker__settle_retry(r, -1, OUT_ERROR, error);
		}
		worker__run_free(r);
		return;
	}
	snprintf(pl->head, sizeof(pl->head), "%s", head);
	pl->work.data = pl;
	pl->work_busy = true;
	if (uv_queue_work(r->w->env.pub.loop, &pl->work, collect_work, collect_done) <
	    0) {
		pl->work_busy = false;
		worker__settle_retry(r, -1, OUT_ERROR,
				     "cannot start collecting the artifacts");
		worker__run_free(r);
	}
}

static void build_log(void *data, const char *text)
{
	struct run *r = data;

	worker__qlog(r->w, r->job.id, "%s", text);
}

static void build_step(void *data, const char *which, const char *result, double seconds)
{
	struct run *r = data;
	const struct worker_hooks *h = &r->w->env.hooks;

	if (h->step_done != NULL)
		h->step_done(h->data, r->pl->pipeline, which, result, seconds);
}

/* A verify_matrix cell's result, kept for the job's inputs (put_cells). */
static void build_cell(void *data, const char *name, const char *result, double seconds)
{
	struct pl_run *pl = ((struct run *)data)->pl;
	cJSON *c = cJSON_CreateObject();

	if (pl->cells == NULL)
		pl->cells = cJSON_CreateArray();
	if (c == NULL || !cJSON_AddStringToObject(c, "name", name) ||
	    !cJSON_AddStringToObject(c, "result", result) ||
	    !cJSON_AddNumberToObject(c, "seconds",
				     (double)(long)(seconds * 10 + 0.5) / 10) ||
	    !cJSON_AddItemToArray(pl->cells, c))
		cJSON_Delete(c);
}

static const struct run_pipeline_ops pl_ops = {
    .target_done = pipeline_target_done,
    .abort = pipeline_abort,
};

void worker__pipeline_start(struct run *r)
{
	struct worker *w = r->w;
	const struct config *cfg = worker__cfg(w);
	const struct pipeline_cfg *p;
	struct pl_run *pl = calloc(1, sizeof(*pl));
	struct pl_build_opts bo = {0};
	cJSON *doc = cJSON_Parse(r->job.inputs);
	char msg[1024];
	size_t i;
	int rc;

	if (pl == NULL) {
		worker__settle(r, JOB_QUEUED, worker__now(w) + 1000, OUT_NONE,
			       "out of memory");
		goto fail;
	}
	pl->r = r;
	r->pl = pl;
	r->pl_ops = &pl_ops;
	if (jstr(doc, "pipeline") == NULL || jstr(doc, "tag") == NULL ||
	    jstr(doc, "version") == NULL || jstr(doc, "commit") == NULL) {
		worker__settle(r, JOB_DEAD, 0, OUT_INVALID,
			       "the job's inputs are not a pipeline's");
		goto fail;
	}
	snprintf(pl->pipeline, sizeof(pl->pipeline), "%s", jstr(doc, "pipeline"));
	snprintf(pl->tag, sizeof(pl->tag), "%s", jstr(doc, "tag"));
	snprintf(pl->version, sizeof(pl->version), "%s", jstr(doc, "version"));
	snprintf(pl->commit, sizeof(pl->commit), "%s", jstr(doc, "commit"));
	snprintf(pl->package, sizeof(pl->package), "%s", r->job.package);
	snprintf(pl->spooldir, sizeof(pl->spooldir), "%s/pipeline-%" PRId64,
		 cfg->queue.spool_dir, r->job.id);
	snprintf(pl->workdir, sizeof(pl->workdir), "%s/job-%" PRId64, cfg->work_dir,
		 r->job.id);
	pl->max_file_bytes = (uint64_t)cfg->publish.max_file_bytes;
	p = config_pipeline(cfg, pl->pipeline);
	if (load_tag_rule(pl, doc) < 0) {
		worker__settle(r, JOB_QUEUED, worker__now(w) + 1000, OUT_NONE,
			       "out of memory");
		goto fail;
	}
	if (cJSON_GetObjectItemCaseSensitive(doc, "files") != NULL) {
		/* Built in an earlier attempt: upload what was recorded. */
		rc = load_recorded(pl, doc);
		cJSON_Delete(doc);
		doc = NULL;
		if (rc < 0) {
			worker__settle(r, JOB_DEAD, 0, OUT_INVALID,
				       "the recorded artifacts are unreadable");
			goto fail;
		}
		worker__qlog(w, r->job.id,
			     "artifacts were built in an earlier attempt: "
			     "uploading those (%zu file%s)",
			     pl->narts, pl->narts == 1 ? "" : "s");
		start_target(r);
		return;
	}
	if (p == NULL) {
		snprintf(msg, sizeof(msg),
			 "pipeline %s is no longer in the configuration", pl->pipeline);
		worker__settle(r, JOB_DEAD, 0, OUT_INVALID, msg);
		goto fail;
	}
	pl->targets = calloc(p->ntargets + 1, sizeof(char *));
	for (i = 0; pl->targets != NULL && i < p->ntargets; i++)
		pl->targets[pl->ntargets++] = strdup(p->targets[i]);
	for (i = 0; i < p->nartifacts && i < MAX_FILES; i++)
		pl->globs[pl->nglobs++] = strdup(p->artifacts[i]);
	snprintf(pl->stepdir, sizeof(pl->stepdir), "%s/src/%s", pl->workdir,
		 p->directory);
	bo.pipeline = p;
	bo.cfg = cfg;
	bo.caps = w->env.sandbox;
	bo.workdir = pl->workdir;
	bo.commit = pl->commit;
	bo.log = build_log;
	bo.done = build_done;
	bo.step = build_step;
	bo.cell = build_cell;
	bo.data = r;
	rc = pl_build_start(w->env.pub.loop, &bo, &pl->build, msg, sizeof(msg));
	cJSON_Delete(doc);
	doc = NULL;
	if (rc == -EOPNOTSUPP) { /* never a silent downgrade of the isolation */
		worker__qlog(w, r->job.id, "%s", msg);
		worker__settle(r, JOB_DEAD, 0, OUT_NONE, msg);
		goto fail;
	}
	if (rc < 0) {
		worker__settle_retry(r, -1, OUT_NONE, msg);
		goto fail;
	}
	worker__qlog(w, r->job.id, "pipeline %s: %s (version %s) at %.12s", pl->pipeline,
		     pl->tag, pl->version, pl->commit);
	return;
fail:
	cJSON_Delete(doc);
	worker__run_free(r);
}
