/* spool.c - a client's files: check, copy, inspect, decide the npm
 * dist-tags (dist_tag.h), then commit the job (or show a dry run).  See
 * spool.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "base/log.h"
#include "common/backoff.h"
#include "common/err.h"
#include "common/file.h"
#include "common/hex.h"
#include "config/config.h"
#include "publish/dist_tag.h"
#include "publish/publish.h"
#include "publish/spool.h"
#include "publishers/artifact.h"
#include "publishers/artifact_fit.h"
#include "publishers/npm_pubcfg.h"
#include "publishers/pub_err.h"
#include "queue/queue.h"

#define SPOOL_FILES_MAX PUBLISH_MAX_FILES

/* One request (struct spool_op to the daemon). */
struct spool_op {
	uv_work_t work;
	struct spool_env env;
	struct spool_hooks hooks;
	bool heard; /* a listener still wants the hooks */
	char *registry, *tag, *version, *idem_key;
	char *reg_url, *reg_access; /* the registry's, for publishConfig */
	char *spool_dir;
	int fds[SPOOL_FILES_MAX];
	char names[SPOOL_FILES_MAX][PUBLISH_NAME_MAX + 1];
	char sha256[SPOOL_FILES_MAX][65];
	char *record[SPOOL_FILES_MAX]; /* artifact_record() of each file */
	/* The job being committed (its arrays kept until the commit returns). */
	struct job_new jn;
	/* PostgreSQL: the spooled copies read by the enqueue, which stores
	 * them with the job (another host may take it over); nq open */
	int qfds[SPOOL_FILES_MAX];
	struct queue_file_src qsrc[SPOOL_FILES_MAX];
	size_t nq;
	struct job_upload *ups; /* nfiles */
	char *inputs;
	char package[256];
	/* npm: each file's package, version and publishConfig.tag */
	char pkg[SPOOL_FILES_MAX][256];
	char version_of[SPOOL_FILES_MAX][SEMVER_MAX];
	char pkgtag[SPOOL_FILES_MAX][NPM_TAG_MAX + 1];
	cJSON *dist_tags; /* the decisions, for the job's inputs */
	bool fresh;	  /* e->dir was made by this request */
	size_t nfiles;
	uint64_t max_bytes;
	uid_t uid;
	pid_t pid;
	int rc;
	bool invalid; /* the files are at fault (else the spool is) */
	bool dry_run;
	enum registry_type type;
	uint64_t nonce;
	char tmp[4096]; /* the request's own folder while it is taken */
	char dir[4096]; /* its folder in the spool once complete */
	char msg[1536];
};

static const char *file_type(mode_t m)
{
	return S_ISFIFO(m)   ? "a FIFO"
	       : S_ISDIR(m)  ? "a directory"
	       : S_ISCHR(m)  ? "a character device"
	       : S_ISBLK(m)  ? "a block device"
	       : S_ISSOCK(m) ? "a socket"
	       : S_ISLNK(m)  ? "a symbolic link"
			     : "not a file";
}

/* Writes all of buf (a short write goes on where it stopped, so a full
 * disk answers ENOSPC).  Returns 0 or -errno. */
static int write_all(int fd, const unsigned char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* How a failure of the spool or the queue is answered: a full file system
 * is OUT_UNAVAILABLE (retry when space is freed), anything else OUT_ERROR. */
static enum pub_outcome store_outcome(int rc)
{
	return rc == -ENOSPC || rc == -EBUSY ? OUT_UNAVAILABLE : OUT_ERROR;
}

/* The spool's copy loop, as the inspection's source: each block read from
 * the client's file (from offset 0, never past the size fstat gave) is
 * written to the copy before the inspection hashes and parses it. */
#define WRITEBACK_EVERY (8u << 20) /* start writing the copy out every 8 MiB */

struct tee {
	int in, out;
	uint64_t off, size;
	uint64_t written_back; /* bytes whose writeback was started */
	const char *label;
	bool failed, theirs; /* the copy failed, and whose fault it was */
	int err;	     /* its error */
	char msg[512];
};

static ssize_t tee_read(void *data, void *buf, size_t n)
{
	struct tee *t = data;
	ssize_t k;
	int r;

	do {
		k = pread(t->in, buf, n, (off_t)t->off);
	} while (k < 0 && errno == EINTR);
	t->theirs = true;
	if (k < 0) {
		r = -errno;
		snprintf(t->msg, sizeof(t->msg), "%s: read error: %s", t->label,
			 strerror(-r));
		goto fail;
	}
	t->off += (uint64_t)k;
	if (k == 0 && t->off < t->size) {
		/* It shrank meanwhile (or it is a sysfs-like file). */
		r = -EINVAL;
		snprintf(t->msg, sizeof(t->msg),
			 "%s changed while it was copied (%" PRIu64 " of its %" PRIu64
			 " bytes)",
			 t->label, t->off, t->size);
		goto fail;
	}
	if (t->off > t->size) {
		r = -EINVAL;
		snprintf(t->msg, sizeof(t->msg),
			 "%s changed while it was copied (more than "
			 "its %" PRIu64 " bytes)",
			 t->label, t->size);
		goto fail;
	}
	t->theirs = false;
	r = k > 0 ? write_all(t->out, buf, (size_t)k) : 0;
	if (r < 0) { /* ENOSPC on a full disk: the caller answers "retry" */
		snprintf(t->msg, sizeof(t->msg),
			 "writing the spool copy of %s failed: %s", t->label,
			 strerror(-r));
		goto fail;
	}
	/* The disk works while the digests do: the fsync at the end then
	 * waits for the last few MiB only (errors show there). */
	if (t->off - t->written_back >= WRITEBACK_EVERY) {
		(void)sync_file_range(t->out, (off64_t)t->written_back,
				      (off64_t)(t->off - t->written_back),
				      SYNC_FILE_RANGE_WRITE);
		t->written_back = t->off;
	}
	return k;
fail:
	t->failed = true;
	t->err = r;
	return r;
}

/* Reads what the inspection left of the file (it stopped at an error),
 * so that a file shorter than its size is told apart from a bad one. */
static void tee_drain(struct tee *t)
{
	char buf[65536];

	while (tee_read(t, buf, sizeof(buf)) > 0)
		;
}

int spool_take_fd(int in, const char *label, const char *dst, uint64_t max,
		  const struct artifact_options *opts, struct artifact **ret_art,
		  bool *ret_theirs, char *msg, size_t msglen)
{
	struct tee t = {.in = in, .out = -1, .label = label};
	struct artifact_source src = {.read = tee_read, .data = &t};
	struct artifact *art = NULL;
	struct stat st;
	int r;

	*ret_theirs = true;
	if (fstat(in, &st) < 0) {
		r = -errno;
		snprintf(msg, msglen, "%s: cannot stat: %s", label, strerror(-r));
		return r;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(msg, msglen,
			 "%s is %s, not a regular file: only regular files are "
			 "published",
			 label, file_type(st.st_mode));
		return -EINVAL;
	}
	if ((uint64_t)st.st_size > max) {
		snprintf(msg, msglen,
			 "%s: %jd bytes, over publish.max_file_bytes (%" PRIu64 " bytes)",
			 label, (intmax_t)st.st_size, max);
		return -EFBIG;
	}
	*ret_theirs = false;
	t.size = (uint64_t)st.st_size;
	t.out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (t.out < 0) {
		r = -errno;
		snprintf(msg, msglen, "cannot create %s in the spool: %s", dst,
			 strerror(-r));
		return r;
	}
	/* One pass: copied, hashed (every digest its registry needs) and
	 * inspected (the copy's path names it) as the bytes go by. */
	r = artifact_inspect_source(dst, &src, opts, &art, msg, msglen);
	if (r < 0 && !t.failed)
		tee_drain(&t); /* a short file says so, not the archive it cut */
	if (t.failed) {
		*ret_theirs = t.theirs;
		snprintf(msg, msglen, "%s", t.msg);
		r = t.err;
	} else if (r < 0) {
		/* a PUB_E* code: the file is not a valid artifact; anything
		 * else (a digest that failed, no memory) is the daemon's */
		*ret_theirs = r <= PUB_ENOTARCHIVE && r > PUB_ELAST;
	} else if (t.off != t.size) {
		r = -EINVAL;
		*ret_theirs = true;
		snprintf(msg, msglen,
			 "%s changed while it was copied (%" PRIu64 " of its %" PRIu64
			 " bytes)",
			 label, t.off, t.size);
	} else if (fsync(t.out) < 0) {
		r = -errno;
		snprintf(msg, msglen, "fsync of the spool copy of %s failed: %s", label,
			 strerror(-r));
	}
	close(t.out);
	if (r < 0) {
		artifact_free(art);
		return r;
	}
	*ret_art = art;
	return 0;
}

void spool_add_record(cJSON *file, const char *record)
{
	cJSON *rec = record != NULL ? cJSON_Parse(record) : NULL;

	if (rec != NULL && !cJSON_AddItemToObject(file, "artifact", rec))
		cJSON_Delete(rec);
}

void spool_trim_records(cJSON *files)
{
	cJSON *f;

	cJSON_ArrayForEach(f, files)
	{
		cJSON *rec = cJSON_GetObjectItemCaseSensitive(f, "artifact");

		cJSON_DeleteItemFromObjectCaseSensitive(rec, "metadata");
		cJSON_DeleteItemFromObjectCaseSensitive(rec, "member");
	}
}

/* The default idempotency key: unique per request (a random nonce), with
 * the registry, tag and the files' digests. */
static void default_key(struct spool_op *e)
{
	const char *fields[3 + 2 * SPOOL_FILES_MAX];
	char nonce[17], keyhex[AOS_SHA256_HEX_LEN + 1];
	size_t i, n = 0;

	/* Each request is its own job unless the client names a key. */
	snprintf(nonce, sizeof(nonce), "%016" PRIx64, e->nonce);
	fields[n++] = nonce;
	fields[n++] = e->registry;
	fields[n++] = e->tag != NULL ? e->tag : "";
	for (i = 0; i < e->nfiles; i++) {
		fields[n++] = e->names[i];
		fields[n++] = e->sha256[i];
	}
	if (aos_sha256_fields(fields, n, keyhex) < 0 ||
	    asprintf(&e->idem_key, "publish:%s", keyhex) < 0)
		e->idem_key = NULL;
}

/* Names the client's file by the name it sent, not the spool's copy. */
static void unspool_message(struct spool_op *e)
{
	size_t skip = strlen(e->tmp) + 1;
	char *at;

	while ((at = strstr(e->msg, e->tmp)) != NULL && at[skip - 1] == '/')
		memmove(at, at + skip, strlen(at + skip) + 1);
}

/* Copies and inspects file i in e->tmp, in one pass. */
static int take_file(struct spool_op *e, size_t i)
{
	struct artifact_options opts = {.expected_version = e->version};
	struct artifact *art = NULL;
	char dst[4400];
	int rc;

	snprintf(dst, sizeof(dst), "%s/%s", e->tmp, e->names[i]);
	rc = spool_take_fd(e->fds[i], e->names[i], dst, e->max_bytes, &opts, &art,
			   &e->invalid, e->msg, sizeof(e->msg));
	close(e->fds[i]);
	e->fds[i] = -1;
	if (rc == -EEXIST) {
		e->invalid = true;
		snprintf(e->msg, sizeof(e->msg), "%s: two files of the same name",
			 e->names[i]);
	}
	if (rc < 0)
		goto out;
	memcpy(e->sha256[i], art->sha256, sizeof(e->sha256[i]));
	e->record[i] = artifact_record(art, true);
	if (e->record[i] == NULL) {
		rc = -ENOMEM;
		snprintf(e->msg, sizeof(e->msg), "out of memory recording %s",
			 e->names[i]);
		goto out;
	}
	rc = artifact_check_fits(art->kind, e->names[i], e->registry, e->type, e->msg,
				 sizeof(e->msg));
	e->invalid = rc < 0;
	if (rc == 0 && art->kind == ARTIFACT_NPM) {
		const char *access;

		rc = npm_pubcfg_access(art, e->reg_url, e->reg_access, &access, e->msg,
				       sizeof(e->msg));
		e->invalid = rc < 0;
	}
	if (rc == 0 && i == 0)
		snprintf(e->package, sizeof(e->package), "%s", art->name);
	if (rc == 0 && art->kind == ARTIFACT_NPM) {
		snprintf(e->pkg[i], sizeof(e->pkg[i]), "%s", art->name);
		snprintf(e->version_of[i], sizeof(e->version_of[i]), "%s", art->version);
		rc = npm_package_tag(art, e->pkgtag[i], sizeof(e->pkgtag[i]), e->msg,
				     sizeof(e->msg));
		e->invalid = rc < 0;
		rc = rc < 0 ? rc : 0;
	}
out:
	artifact_free(art);
	unspool_message(e);
	return rc;
}

/* Moves the complete folder to its place, named by the idempotency key. */
static void settle(struct spool_op *e)
{
	unsigned char kmd[32];
	char khex[65];

	if (e->idem_key == NULL)
		default_key(e);
	if (e->idem_key == NULL) {
		e->rc = -ENOMEM;
		(void)aos_rm_flat_dir(e->tmp);
		return;
	}
	EVP_Digest(e->idem_key, strlen(e->idem_key), kmd, NULL, EVP_sha256(), NULL);
	aos_hex(kmd, 16, khex);
	snprintf(e->dir, sizeof(e->dir), "%s/%s", e->spool_dir, khex);
	(void)aos_fsync_dir(e->tmp);
	e->fresh = rename(e->tmp, e->dir) == 0;
	if (!e->fresh) {
		/* The same key was spooled before: its files are the same. */
		(void)aos_rm_flat_dir(e->tmp);
		if (access(e->dir, F_OK) != 0) {
			e->rc = -errno;
			snprintf(e->msg, sizeof(e->msg),
				 "cannot move the spool into place");
		}
	}
	(void)aos_fsync_dir(e->spool_dir);
}

static void spool_work(uv_work_t *w)
{
	struct spool_op *e = w->data;
	size_t i;

	if (mkdir(e->spool_dir, 0750) < 0 && errno != EEXIST) {
		e->rc = -errno;
		snprintf(e->msg, sizeof(e->msg), "cannot create the spool %s: %s",
			 e->spool_dir, strerror(errno));
		return;
	}
	/* Unique per request: requests are spooled on several threads at once.
	 * A crash leaves it behind; the next start removes it. */
	snprintf(e->tmp, sizeof(e->tmp), "%s/.incoming-%s%d-%016" PRIx64, e->spool_dir,
		 e->dry_run ? "dry-run-" : "", (int)getpid(), e->nonce);
	if (mkdir(e->tmp, 0750) < 0) {
		e->rc = -errno;
		snprintf(e->msg, sizeof(e->msg), "cannot create %s: %s", e->tmp,
			 strerror(errno));
		return;
	}
	for (i = 0; i < e->nfiles && e->rc == 0; i++)
		e->rc = take_file(e, i);
	if (e->rc < 0)
		(void)aos_rm_flat_dir(e->tmp);
	else if (!e->dry_run)
		settle(e);
}

static void enq_free(struct spool_op *e)
{
	size_t i;

	for (i = 0; i < e->nfiles; i++) {
		if (e->fds[i] >= 0)
			close(e->fds[i]);
		free(e->record[i]);
	}
	for (i = 0; i < e->nq; i++)
		close(e->qfds[i]);
	free(e->registry);
	free(e->reg_url);
	free(e->reg_access);
	free(e->tag);
	free(e->version);
	free(e->idem_key);
	free(e->spool_dir);
	free(e->inputs);
	free(e->ups);
	cJSON_Delete(e->dist_tags);
	free(e);
}

void spool_forget(struct spool_op *e)
{
	e->heard = false; /* the job is still committed: acknowledged or not */
}

/* A dry run: the publish shows the copies' plan, then removes them. */
static void start_dry_run(struct spool_op *e)
{
	const char *paths[SPOOL_FILES_MAX], *labels[SPOOL_FILES_MAX];
	char store[SPOOL_FILES_MAX][4400];
	struct publish_request r = {
	    .registry = e->registry,
	    .tag = e->tag,
	    .tag_given_by = "--tag",
	    .expected_version = e->version,
	    .dry_run = true,
	    .files = paths,
	    .labels = labels,
	    .nfiles = e->nfiles,
	    .remove_dir = e->tmp,
	};
	struct publish_op *op;
	char msg[512];
	size_t i;

	for (i = 0; i < e->nfiles; i++) {
		snprintf(store[i], sizeof(store[i]), "%s/%s", e->tmp, e->names[i]);
		paths[i] = store[i];
		labels[i] = e->names[i];
	}
	r.hooks = &e->hooks.dry_run;
	if (publish_start(&e->env.pub, &r, &op, msg, sizeof(msg)) < 0) {
		(void)aos_rm_flat_dir(e->tmp);
		e->hooks.refused(e->hooks.data, OUT_ERROR, msg);
		return;
	}
	e->hooks.dry_run_started(e->hooks.data, op);
}

/* The job's inputs: the spooled files, the tag and version, who asked. */
static char *job_inputs(struct spool_op *e)
{
	cJSON *in = cJSON_CreateObject(), *files = cJSON_AddArrayToObject(in, "files");
	cJSON *by = cJSON_AddObjectToObject(in, "submitted_by");
	char path[4400], *text;
	size_t i;

	for (i = 0; i < e->nfiles; i++) {
		cJSON *f = cJSON_CreateObject();

		snprintf(path, sizeof(path), "%s/%s", e->dir, e->names[i]);
		cJSON_AddStringToObject(f, "path", path);
		cJSON_AddStringToObject(f, "filename", e->names[i]);
		cJSON_AddStringToObject(f, "sha256", e->sha256[i]);
		cJSON_AddStringToObject(f, "source", e->names[i]);
		spool_add_record(f, e->record[i]);
		cJSON_AddItemToArray(files, f);
	}
	if (e->tag != NULL)
		cJSON_AddStringToObject(in, "tag", e->tag);
	if (e->version != NULL)
		cJSON_AddStringToObject(in, "version", e->version);
	if (e->dist_tags != NULL)
		cJSON_AddItemToObject(in, "dist_tags",
				      cJSON_Duplicate(e->dist_tags, true));
	cJSON_AddNumberToObject(by, "uid", (double)e->uid);
	cJSON_AddNumberToObject(by, "pid", (double)e->pid);
	text = cJSON_PrintUnformatted(in);
	if (text != NULL && strlen(text) > JOB_INPUTS_MAX) {
		/* Records without their metadata: the upload inspects again. */
		free(text);
		spool_trim_records(files);
		text = cJSON_PrintUnformatted(in);
	}
	cJSON_Delete(in);
	return text;
}

static void refuse(struct spool_op *e, enum pub_outcome out, const char *error);

/* The job's commit returned (on the loop): reports it and frees e. */
static void committed(void *op, int r, int64_t id)
{
	struct spool_op *e = op;

	if (r < 0 && r != AOS_EEXIST) {
		char msg[200];

		if (r == -EBUSY) /* the daemon's write queue is full */
			snprintf(msg, sizeof(msg),
				 "the daemon is busy: too many queue writes are waiting; "
				 "nothing was queued (retry in a moment)");
		else
			snprintf(msg, sizeof(msg),
				 "cannot write the job to the queue database: %s",
				 aos_strerror(r));
		refuse(e, store_outcome(r), msg); /* its spooled copies go */
		enq_free(e);
		return;
	}
	if (r == AOS_EEXIST)
		log_info("publish to %s: job %" PRId64 " exists for the same key",
			 e->registry, id);
	else
		log_notice("job %" PRId64
			   " queued: %zu file%s of %s for %s (uid %u pid %d)",
			   id, e->nfiles, e->nfiles == 1 ? "" : "s", e->package,
			   e->registry, (unsigned)e->uid, (int)e->pid);
	/* Before the worker is kicked: a listener that follows the job from
	 * here misses no event. */
	if (e->heard)
		e->hooks.committed(e->hooks.data, r, id, e->idem_key);
	if (e->env.committed != NULL)
		e->env.committed(e->env.committed_data);
	enq_free(e);
}

/* The queue keeps the job's files too (queue.backend "postgresql": any
 * daemon sharing it may run the job): each spooled copy opened for the
 * enqueue, which reads it on the database thread.  0 or -errno. */
static int db_sources(struct spool_op *e)
{
	char path[4400];
	size_t i;

	for (i = 0; i < e->nfiles; i++) {
		snprintf(path, sizeof(path), "%s/%s", e->dir, e->names[i]);
		e->qfds[i] = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (e->qfds[i] < 0)
			return -errno;
		e->nq++;
		e->qsrc[i] = (struct queue_file_src){queue_file_fd_read, &e->qfds[i]};
	}
	e->jn.file_srcs = e->qsrc;
	return 0;
}

/* Commits e's job through env.commit (off the loop), else on the loop;
 * e is freed once it is reported. */
static void commit(struct spool_op *e)
{
	const struct config *cfg = *e->env.pub.cfg;
	struct queue *q = e->env.queue;
	int64_t id = 0;
	size_t i;
	int r;

	e->ups = calloc(e->nfiles, sizeof(*e->ups));
	for (i = 0; e->ups != NULL && i < e->nfiles; i++) {
		struct job_upload *u = &e->ups[i];

		snprintf(u->filename, sizeof(u->filename), "%s", e->names[i]);
		snprintf(u->registry, sizeof(u->registry), "%s", e->registry);
		memcpy(u->sha256, e->sha256[i], 65);
		u->state = UPLOAD_PENDING;
	}
	e->inputs = job_inputs(e);
	e->jn = (struct job_new){.kind = JOB_PUBLISH,
				 .idem_key = e->idem_key,
				 .registry = e->registry,
				 .package = e->package,
				 .inputs = e->inputs,
				 .max_attempts = (int)cfg->queue.max_attempts,
				 .uploads = e->ups,
				 .nuploads = e->nfiles};
	if (e->inputs == NULL || e->ups == NULL)
		r = -ENOMEM;
	else if (cfg->queue.backend == QUEUE_BACKEND_POSTGRESQL &&
		 (r = db_sources(e)) < 0)
		log_err_r(r, "publish to %s: cannot read the spooled copies in %s",
			  e->registry, e->dir);
	else if (e->env.commit != NULL)
		r = e->env.commit(e->env.commit_data, &e->jn, aos_wall_ms(), committed,
				  e);
	else
		r = q->ops->enqueue(q, &e->jn, aos_wall_ms(), &id);
	if (r < 0 || e->env.commit == NULL)
		committed(e, r, id); /* else committed() comes from env.commit */
}

/* Answers a request refused before queueing (when its client is still
 * there) and removes its spooled copies. */
static void refuse(struct spool_op *e, enum pub_outcome out, const char *error)
{
	if (e->heard)
		e->hooks.refused(e->hooks.data, out, error);
	log_warn("publish to %s not %s: %s", e->registry,
		 e->dry_run ? "inspected" : "queued", error);
	if (e->fresh)
		(void)aos_rm_flat_dir(e->dir);
}

static void tags_checked(struct dist_tag_check *check, void *data)
{
	struct spool_op *e = data;
	const struct dist_tag_item *bad = dist_tag_check_refused(check);
	char msg[1200];
	size_t i;

	if (*e->env.stopping) {
		refuse(e, OUT_ERROR, "the daemon is stopping; nothing was queued");
	} else if (bad != NULL) {
		i = (size_t)(bad - dist_tag_check_item(check, 0));
		snprintf(msg, sizeof(msg), "%s: %s; nothing was queued", e->names[i],
			 bad->error);
		refuse(e, OUT_INVALID, msg);
	} else {
		for (i = 0; i < dist_tag_check_count(check); i++)
			if (dist_tag_check_item(check, i)->unread[0] != '\0')
				log_warn(
				    "publish to %s: %s; the dist-tag is checked again before "
				    "the upload",
				    e->registry, dist_tag_check_item(check, i)->unread);
		e->dist_tags = dist_tag_check_json(check);
		dist_tag_check_free(check);
		commit(e); /* frees e once reported */
		return;
	}
	dist_tag_check_free(check);
	enq_free(e);
}

/* npm: decides the files' dist-tags with the registry's latest before the
 * job exists.  Returns 0 when tags_checked() will commit (and free e), or
 * a negative error (the upload still checks before sending). */
static int check_tags(struct spool_op *e)
{
	const struct registry_cfg *reg = config_registry(*e->env.pub.cfg, e->registry);
	struct dist_tag_check *check = NULL;
	size_t i;
	int r;

	if (reg == NULL || reg->type != REGISTRY_NPM)
		return -ENOENT;
	r = dist_tag_check_new(&e->env.pub, e->tag, "--tag", NULL, &check);
	for (i = 0; r == 0 && i < e->nfiles; i++)
		r = dist_tag_check_add(check, reg, e->pkg[i], e->version_of[i],
				       e->pkgtag[i]);
	if (r == 0)
		r = dist_tag_check_start(check, tags_checked, e);
	if (r < 0) {
		log_warn_r(r,
			   "publish to %s: the dist-tags were not read before queueing; "
			   "the upload checks them",
			   e->registry);
		dist_tag_check_free(check);
	}
	return r;
}

static void after_spool(uv_work_t *w, int status)
{
	struct spool_op *e = w->data;

	(void)status;
	if (e->rc < 0) {
		refuse(e, e->invalid ? OUT_INVALID : store_outcome(e->rc), e->msg);
	} else if (e->dry_run && !e->heard) {
		(void)aos_rm_flat_dir(e->tmp); /* the client left */
	} else if (e->dry_run) {
		start_dry_run(e);
	} else if (e->type == REGISTRY_NPM && check_tags(e) == 0) {
		return; /* tags_checked() goes on */
	} else {
		commit(e); /* frees e once reported */
		return;
	}
	enq_free(e);
}

int spool_enqueue(const struct spool_env *env, const struct spool_request *r,
		  struct spool_op **ret_op, char *msg, size_t msglen)
{
	const struct config *cfg = *env->pub.cfg;
	const struct registry_cfg *reg = config_registry(cfg, r->registry);
	struct spool_op *e = NULL;
	int rc = -EINVAL;
	size_t i;

	if (reg == NULL) {
		snprintf(msg, msglen, "no registry named \"%.60s\" in %s", r->registry,
			 cfg->path);
		goto fail;
	}
	if (r->nfiles == 0 || r->nfiles > SPOOL_FILES_MAX) {
		snprintf(msg, msglen, "expected 1 to %d files", SPOOL_FILES_MAX);
		goto fail;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL) {
		rc = -ENOMEM;
		snprintf(msg, msglen, "out of memory");
		goto fail;
	}
	for (i = 0; i < r->nfiles; i++) {
		e->fds[i] = r->fds[i];
		snprintf(e->names[i], sizeof(e->names[i]), "%s", r->names[i]);
	}
	e->nfiles = r->nfiles;
	e->env = *env;
	e->hooks = *r->hooks;
	e->heard = true;
	e->registry = strdup(r->registry);
	e->reg_url = strdup(reg->url);
	e->reg_access = reg->access ? strdup(reg->access) : NULL;
	e->tag = r->tag ? strdup(r->tag) : NULL;
	e->version = r->version ? strdup(r->version) : NULL;
	e->idem_key = r->idem_key ? strdup(r->idem_key) : NULL;
	e->spool_dir = strdup(cfg->queue.spool_dir);
	if (e->registry == NULL || e->reg_url == NULL || e->spool_dir == NULL ||
	    (reg->access != NULL && e->reg_access == NULL) ||
	    (r->tag != NULL && e->tag == NULL) ||
	    (r->version != NULL && e->version == NULL) ||
	    (r->idem_key != NULL && e->idem_key == NULL)) {
		enq_free(e);
		snprintf(msg, msglen, "out of memory");
		return -ENOMEM;
	}
	e->max_bytes = (uint64_t)cfg->publish.max_file_bytes;
	e->uid = r->uid;
	e->pid = r->pid;
	e->dry_run = r->dry_run;
	e->type = reg->type;
	e->nonce = aos_rand_u64(NULL);
	e->work.data = e;
	if (uv_queue_work(env->pub.loop, &e->work, spool_work, after_spool) < 0) {
		enq_free(e);
		snprintf(msg, msglen, "cannot start spooling");
		return -ENOMEM;
	}
	*ret_op = e;
	return 0;
fail:
	for (i = 0; i < r->nfiles; i++)
		close(r->fds[i]);
	return rc;
}
