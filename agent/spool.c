/* spool.c - copy, inspect, commit. */
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

#include "agent.h"
#include "artifact.h"
#include "backoff.h"
#include "err.h"
#include "log.h"
#include "pub_util.h"
#include "publish.h"
#include "queue.h"
#include "spool.h"
#include "worker.h"

struct enq {
	uv_work_t work;
	struct agent *a;
	struct control_conn *conn;
	char *registry, *tag, *version, *idem_key;
	char *spool_dir;
	char *files[PUBLISH_MAX_FILES];
	char names[PUBLISH_MAX_FILES][256];
	char sha256[PUBLISH_MAX_FILES][65];
	char package[256];
	size_t nfiles;
	int rc;
	bool invalid;   /* the files are at fault (else the spool is) */
	bool wait;
	enum registry_type type;
	uint64_t nonce;
	char dir[4096];
	char msg[1536];
};

/* Copies src to dst (created 0640), fsync'ed, computing the SHA-256. */
int spool_copy_file(const char *src, const char *dst, char sha[65], char *msg, size_t msglen)
{
	unsigned char buf[65536], md[32];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int in = -1, out = -1, r = 0;
	unsigned int mdlen = 0;
	ssize_t n;

	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		r = -errno;
		snprintf(msg, msglen, "%s: cannot read: %s", src, strerror(-r));
		goto out;
	}
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
	if (out < 0) {
		r = -errno;
		snprintf(msg, msglen, "cannot create %s in the spool: %s", dst, strerror(-r));
		goto out;
	}
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	while ((n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = -errno;
			snprintf(msg, msglen, "%s: read error: %s", src, strerror(-r));
			goto out;
		}
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		if (write(out, buf, (size_t)n) != n) {
			r = -EIO;
			snprintf(msg, msglen, "writing the spool copy of %s failed", src);
			goto out;
		}
	}
	if (fsync(out) < 0) {
		r = -errno;
		snprintf(msg, msglen, "fsync of the spool copy of %s failed", src);
		goto out;
	}
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	pub__hex(md, 32, sha);
out:
	EVP_MD_CTX_free(ctx);
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return r;
}

void spool_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

static void remove_tree(const char *dir, struct enq *e)
{
	char p[4400];
	size_t i;

	for (i = 0; i < e->nfiles; i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, e->names[i]);
		unlink(p);
	}
	rmdir(dir);
}

/* The default idempotency key: unique per request (a random nonce), with
 * the registry, tag and the files' digests. */
static void default_key(struct enq *e)
{
	unsigned char md[32];
	char keyhex[65];
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int len = 0;
	size_t i;

	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	/* Each request is its own job unless the client names a key. */
	EVP_DigestUpdate(ctx, &e->nonce, sizeof(e->nonce));
	EVP_DigestUpdate(ctx, e->registry, strlen(e->registry) + 1);
	EVP_DigestUpdate(ctx, e->tag ? e->tag : "", strlen(e->tag ? e->tag : "") + 1);
	for (i = 0; i < e->nfiles; i++) {
		EVP_DigestUpdate(ctx, e->names[i], strlen(e->names[i]) + 1);
		EVP_DigestUpdate(ctx, e->sha256[i], 65);
	}
	EVP_DigestFinal_ex(ctx, md, &len);
	EVP_MD_CTX_free(ctx);
	pub__hex(md, 32, keyhex);
	if (asprintf(&e->idem_key, "publish:%s", keyhex) < 0)
		e->idem_key = NULL;
}

static void spool_work(uv_work_t *w)
{
	struct enq *e = w->data;
	struct artifact_options opts = { .expected_version = e->version };
	char tmp[4096], dst[4400];
	size_t i;

	if (mkdir(e->spool_dir, 0750) < 0 && errno != EEXIST) {
		e->rc = -errno;
		snprintf(e->msg, sizeof(e->msg), "cannot create the spool %s: %s",
			 e->spool_dir, strerror(errno));
		return;
	}
	/* Unique per request: requests are spooled on several threads at once. */
	snprintf(tmp, sizeof(tmp), "%s/.incoming-%d-%016" PRIx64, e->spool_dir, (int)getpid(),
		 e->nonce);
	if (mkdir(tmp, 0750) < 0) {
		e->rc = -errno;
		snprintf(e->msg, sizeof(e->msg), "cannot create %s: %s", tmp, strerror(errno));
		return;
	}
	for (i = 0; i < e->nfiles; i++) {
		const char *base = strrchr(e->files[i], '/') + 1;
		struct artifact *art = NULL;

		snprintf(e->names[i], sizeof(e->names[i]), "%s", base);
		snprintf(dst, sizeof(dst), "%s/%s", tmp, base);
		e->rc = spool_copy_file(e->files[i], dst, e->sha256[i], e->msg, sizeof(e->msg));
		/* An unreadable file, or two of one name, is the request's fault. */
		e->invalid = e->rc == -EEXIST || strstr(e->msg, e->files[i]) == e->msg;
		if (e->rc == -EEXIST)
			snprintf(e->msg, sizeof(e->msg), "%s: two files of the same name", base);
		if (e->rc < 0)
			goto fail;
		/* Inspect the copy: that is what will be sent. */
		e->rc = artifact_inspect(dst, &opts, &art, e->msg, sizeof(e->msg));
		e->invalid = e->rc < 0;
		if (e->rc < 0) {
			/* Name the file as the client gave it. */
			char m[sizeof(e->msg)];
			const char *p = strstr(e->msg, base);

			snprintf(m, sizeof(m), "%s%s", e->files[i],
				 p != NULL ? p + strlen(base) : e->msg);
			snprintf(e->msg, sizeof(e->msg), "%s", m);
			goto fail;
		}
		if ((e->type == REGISTRY_NPM) != (art->kind == ARTIFACT_NPM)) {
			snprintf(e->msg, sizeof(e->msg), "%s: %s cannot go to registry %s, "
				 "which is of type %s", e->files[i],
				 art->kind == ARTIFACT_NPM ? "an npm tarball"
				 : art->kind == ARTIFACT_WHEEL ? "a wheel" : "an sdist",
				 e->registry, e->type == REGISTRY_NPM ? "npm" : "pypi");
			e->rc = -EINVAL;
			e->invalid = true;
			artifact_free(art);
			goto fail;
		}
		if (i == 0)
			snprintf(e->package, sizeof(e->package), "%s", art->name);
		artifact_free(art);
	}
	if (e->idem_key == NULL)
		default_key(e);
	if (e->idem_key == NULL) {
		e->rc = -ENOMEM;
		goto fail;
	}
	{
		unsigned char kmd[32];
		char khex[65];

		EVP_Digest(e->idem_key, strlen(e->idem_key), kmd, NULL, EVP_sha256(), NULL);
		pub__hex(kmd, 16, khex);
		snprintf(e->dir, sizeof(e->dir), "%s/%s", e->spool_dir, khex);
	}
	spool_fsync_dir(tmp);
	if (rename(tmp, e->dir) < 0) {
		/* The same key was spooled before: its files are the same. */
		remove_tree(tmp, e);
		if (access(e->dir, F_OK) != 0) {
			e->rc = -errno;
			snprintf(e->msg, sizeof(e->msg), "cannot move the spool into place");
		}
	}
	spool_fsync_dir(e->spool_dir);
	return;
fail:
	remove_tree(tmp, e);
}

static void enq_free(struct enq *e)
{
	size_t i;

	for (i = 0; i < e->nfiles; i++) {
		free(e->files[i]);
	}
	free(e->registry);
	free(e->tag);
	free(e->version);
	free(e->idem_key);
	free(e->spool_dir);
	free(e);
}

static void enq_cancel(struct control_conn *c, void *arg)
{
	struct enq *e = arg;

	(void)c;
	e->conn = NULL; /* the job is still committed: acknowledged or not */
}

static void after_spool(uv_work_t *w, int status)
{
	struct enq *e = w->data;
	struct agent *a = e->a;
	struct job_upload ups[PUBLISH_MAX_FILES];
	struct job_new jn = { 0 };
	cJSON *in = cJSON_CreateObject(), *files, *o;
	char *text = NULL;
	int64_t id = 0;
	size_t i;
	int r;

	(void)status;
	if (e->rc < 0) {
		if (e->conn != NULL) {
			o = cJSON_CreateObject();
			cJSON_AddFalseToObject(o, "ok");
			cJSON_AddStringToObject(o, "outcome", e->invalid ? "invalid" : "error");
			cJSON_AddStringToObject(o, "error", e->msg);
			control_reply(e->conn, o);
		}
		log_warn("publish to %s not queued: %s", e->registry, e->msg);
		goto out;
	}
	files = cJSON_AddArrayToObject(in, "files");
	memset(ups, 0, sizeof(ups));
	for (i = 0; i < e->nfiles; i++) {
		cJSON *f = cJSON_CreateObject();
		char path[4400];

		snprintf(path, sizeof(path), "%s/%s", e->dir, e->names[i]);
		cJSON_AddStringToObject(f, "path", path);
		cJSON_AddStringToObject(f, "filename", e->names[i]);
		cJSON_AddStringToObject(f, "sha256", e->sha256[i]);
		cJSON_AddStringToObject(f, "source", e->files[i]);
		cJSON_AddItemToArray(files, f);
		snprintf(ups[i].filename, sizeof(ups[i].filename), "%s", e->names[i]);
		snprintf(ups[i].registry, sizeof(ups[i].registry), "%s", e->registry);
		memcpy(ups[i].sha256, e->sha256[i], 65);
		ups[i].state = UPLOAD_PENDING;
	}
	if (e->tag != NULL)
		cJSON_AddStringToObject(in, "tag", e->tag);
	if (e->version != NULL)
		cJSON_AddStringToObject(in, "version", e->version);
	text = cJSON_PrintUnformatted(in);
	jn.kind = JOB_PUBLISH;
	jn.idem_key = e->idem_key;
	jn.registry = e->registry;
	jn.package = e->package;
	jn.inputs = text;
	jn.max_attempts = (int)a->cfg->queue.max_attempts;
	jn.uploads = ups;
	jn.nuploads = e->nfiles;
	r = a->queue->ops->enqueue(a->queue, &jn, aos_wall_ms(), &id);
	o = cJSON_CreateObject();
	if (r < 0 && r != AOS_EEXIST) {
		cJSON_AddFalseToObject(o, "ok");
		cJSON_AddStringToObject(o, "error", "cannot write the job to the queue database");
		log_err_r(r, "enqueue to %s failed", e->registry);
	} else {
		cJSON_AddTrueToObject(o, "ok");
		cJSON_AddNumberToObject(o, "job_id", (double)id);
		cJSON_AddBoolToObject(o, "existing", r == AOS_EEXIST);
		cJSON_AddStringToObject(o, "idempotency_key", e->idem_key);
		if (r == AOS_EEXIST)
			log_info("publish to %s: job %" PRId64 " exists for the same key", e->registry, id);
		else
			log_notice("job %" PRId64 " queued: %zu file%s of %s for %s", id,
				   e->nfiles, e->nfiles == 1 ? "" : "s", e->package, e->registry);
	}
	if (e->conn != NULL && e->wait && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok"))) {
		/* Follow it before the worker can start it: no event is missed. */
		cJSON_AddStringToObject(o, "event", "queued");
		control_send(e->conn, o);
		control_set_cancel(e->conn, NULL, NULL);
		if (worker_follow(a->worker, e->conn, id) < 0)
			control_reply_error(e->conn, "the job vanished from the queue");
	} else if (e->conn != NULL) {
		control_reply(e->conn, o);
	} else {
		cJSON_Delete(o);
	}
	worker_kick(a->worker);
out:
	cJSON_Delete(in);
	free(text);
	enq_free(e);
}

int spool_enqueue(struct agent *a, struct control_conn *c,
		  const struct publish_request *r, const char *idem_key, bool wait,
		  char *msg, size_t msglen)
{
	struct enq *e;
	size_t i;

	if (config_registry(a->cfg, r->registry) == NULL) {
		snprintf(msg, msglen, "no registry named \"%.60s\" in %s", r->registry,
			 a->cfg->path);
		return -ENOENT;
	}
	if (r->nfiles == 0 || r->nfiles > PUBLISH_MAX_FILES) {
		snprintf(msg, msglen, "expected 1 to %d files", PUBLISH_MAX_FILES);
		return -EINVAL;
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return -ENOMEM;
	for (i = 0; i < r->nfiles; i++) {
		if (r->files[i][0] != '/') {
			snprintf(msg, msglen, "file paths must be absolute: \"%.200s\"", r->files[i]);
			enq_free(e);
			return -EINVAL;
		}
		e->files[e->nfiles++] = strdup(r->files[i]);
	}
	e->a = a;
	e->conn = c;
	e->registry = strdup(r->registry);
	e->tag = r->tag ? strdup(r->tag) : NULL;
	e->version = r->expected_version ? strdup(r->expected_version) : NULL;
	e->idem_key = idem_key ? strdup(idem_key) : NULL;
	e->spool_dir = strdup(a->cfg->queue.spool_dir);
	e->wait = wait;
	e->type = config_registry(a->cfg, r->registry)->type;
	e->nonce = aos_rand_u64(NULL);
	e->work.data = e;
	control_set_cancel(c, enq_cancel, e);
	if (uv_queue_work(&a->loop, &e->work, spool_work, after_spool) < 0) {
		control_set_cancel(c, NULL, NULL);
		enq_free(e);
		snprintf(msg, msglen, "cannot start spooling");
		return -ENOMEM;
	}
	return 0;
}
