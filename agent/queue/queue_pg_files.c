/* queue_pg_files.c - a job's files in the PostgreSQL queue (migration 5):
 * chunks of QUEUE_FILE_CHUNK bytes (bytea rows of aos_file_chunks, seq
 * from 0) under one aos_job_files row that records the size and SHA-256.
 * Both ways one chunk is in memory at a time; every read checks the digest.
 *
 * Across hosts: a put's file row references the job, which takes the job's
 * KEY SHARE row lock until the commit, so claims (FOR UPDATE SKIP LOCKED)
 * pass over a job whose file is being stored.  An operator's cancel does
 * not wait for it: the put checks its fence again under the job's row lock
 * before it commits and is fenced off, nothing of the file kept.
 *
 * An enqueue with file sources (struct job_new's file_srcs) stores them
 * here too, inside its own transaction, the same way as a put.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/err.h"
#include "common/hex.h"
#include "queue_internal.h"
#include "queue_pg_internal.h"

/* The file an operation is about, and where its message goes. */
struct file_ref {
	int64_t job;
	const char *name;
	char *errbuf; /* may be NULL */
	size_t errlen;
	bool fresh; /* a file of a job being enqueued (its id is not yet one) */
};

/* "job ID file NAME: " and the message into f's errbuf. */
__attribute__((format(printf, 2, 3))) static void say(const struct file_ref *f,
						      const char *fmt, ...)
{
	va_list ap;
	int n;

	if (f->errbuf == NULL || f->errlen == 0)
		return;
	if (f->fresh)
		n = snprintf(f->errbuf, f->errlen, "file %s of the new job: ", f->name);
	else
		n = snprintf(f->errbuf, f->errlen,
			     "job %lld file %s: ", (long long)f->job, f->name);
	if (n < 0 || (size_t)n >= f->errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(f->errbuf + n, f->errlen - (size_t)n, fmt, ap);
	va_end(ap);
}

/* What put and get do first: f's message cleared, the name and the
 * callback (has_cb) checked, a SHA-256 context made (*ret_md, freed by
 * the caller whatever this returns). */
static int start(const struct file_ref *f, bool has_cb, EVP_MD_CTX **ret_md)
{
	int result =
	    queue__check_str(f->name, sizeof(((struct job_upload *)0)->filename));

	if (f->errbuf != NULL && f->errlen > 0)
		f->errbuf[0] = '\0';
	if (result == 0 && (strchr(f->name, '/') != NULL || !has_cb))
		result = -EINVAL;
	if (result < 0)
		return result;
	*ret_md = EVP_MD_CTX_new();
	if (*ret_md == NULL || EVP_DigestInit_ex(*ret_md, EVP_sha256(), NULL) != 1)
		return -ENOMEM;
	return 0;
}

/* 0 when fence holds job id: its running lease, or 0 for a job never
 * claimed; else AOS_EFENCED.  lock: under the row lock, to the commit. */
static int fence_check(struct queue_pg *q, int64_t id, int64_t fence, bool lock)
{
	return queue_pg__fence_row(
	    q,
	    lock ? "SELECT 1 FROM aos_jobs WHERE id = $1 AND fence = $2 AND "
		   "state = CASE WHEN $2 = 0 THEN 1 ELSE 2 END FOR NO KEY UPDATE"
		 : "SELECT 1 FROM aos_jobs WHERE id = $1 AND fence = $2 AND "
		   "state = CASE WHEN $2 = 0 THEN 1 ELSE 2 END",
	    id, fence);
}

/* Fills buf with up to QUEUE_FILE_CHUNK bytes of src: returns the count
 * (less than a chunk only at the end), or a negative code. */
static int fill(const struct queue_file_src *src, unsigned char *buf)
{
	size_t have = 0, n;
	int result;

	while (have < QUEUE_FILE_CHUNK) {
		n = 0;
		result = src->read(src->data, buf + have, QUEUE_FILE_CHUNK - have, &n);
		if (result < 0)
			return result;
		if (n > QUEUE_FILE_CHUNK - have)
			return -EINVAL; /* a source that says it wrote past len */
		if (n == 0)
			break;
		have += n;
	}
	return (int)have;
}

/* Stores src's chunks under file row fid; *info gets the size, *ret_chunks
 * the count. */
static int put_chunks(struct queue_pg *q, int64_t fid, const struct queue_file_src *src,
		      EVP_MD_CTX *md, struct queue_file_info *info, int *ret_chunks)
{
	unsigned char *buf = malloc(QUEUE_FILE_CHUNK);
	struct qp_args a;
	int n, seq = 0, result = 0;

	if (buf == NULL)
		return -ENOMEM;
	do {
		n = fill(src, buf);
		if (n <= 0) {
			result = n;
			break;
		}
		if (info->size + n > QUEUE_FILE_MAX) {
			result = AOS_ETOOBIG;
			break;
		}
		if (EVP_DigestUpdate(md, buf, (size_t)n) != 1) {
			result = -ENOMEM;
			break;
		}
		a.n = 0;
		qp__int(&a, fid);
		qp__int(&a, seq);
		qp__bytes(&a, buf, (size_t)n);
		result = qp__exec(q,
				  "INSERT INTO aos_file_chunks (file_id, seq, data) "
				  "VALUES ($1, $2, $3)",
				  &a, NULL);
		info->size += n;
		seq++;
	} while (result == 0 && n == QUEUE_FILE_CHUNK);
	free(buf);
	*ret_chunks = seq;
	return result;
}

/* The file's row, empty until file_done(); AOS_EEXIST when the job has the
 * name (another host's put of it waits for that one to end). */
static int file_row(struct queue_pg *q, const struct file_ref *f, int64_t now_ms,
		    int64_t *ret_fid)
{
	struct qp_args a = {0};
	PGresult *r = NULL;
	int result;

	qp__int(&a, f->job);
	qp__text(&a, f->name, sizeof(((struct job_upload *)0)->filename));
	qp__int(&a, now_ms);
	result = qp__row(q,
			 "INSERT INTO aos_job_files (job_id, name, created_ms) VALUES "
			 "($1, $2::text, $3) ON CONFLICT (job_id, name) DO NOTHING "
			 "RETURNING id",
			 &a, &r);
	if (result < 0)
		return result == AOS_ENOTFOUND ? AOS_EEXIST : result;
	*ret_fid = qp__int64(r, 0, 0);
	PQclear(r);
	return 0;
}

/* Records the size, chunk count and digest (into info too). */
static int file_done(struct queue_pg *q, int64_t fid, EVP_MD_CTX *md, int chunks,
		     struct queue_file_info *info)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;
	struct qp_args a = {0};

	if (EVP_DigestFinal_ex(md, d, &dlen) != 1 || dlen != 32)
		return -ENOMEM;
	aos_hex(d, dlen, info->sha256);
	qp__int(&a, fid);
	qp__int(&a, info->size);
	qp__int(&a, chunks);
	qp__text(&a, info->sha256, sizeof(info->sha256));
	return qp__exec(
	    q,
	    "UPDATE aos_job_files SET size = $2, chunks = $3, sha256 = $4::text "
	    "WHERE id = $1",
	    &a, NULL);
}

/* Stores f's file from src inside the caller's transaction: its row, its
 * chunks, then its size and digest (into *info); md as start() made it. */
static int store(struct queue_pg *q, const struct file_ref *f,
		 const struct queue_file_src *src, EVP_MD_CTX *md, int64_t now_ms,
		 struct queue_file_info *info)
{
	int64_t fid = 0;
	int chunks = 0;
	int result = file_row(q, f, now_ms, &fid);

	if (result == 0)
		result = put_chunks(q, fid, src, md, info, &chunks);
	if (result == 0)
		result = file_done(q, fid, md, chunks, info);
	return result;
}

static void put_error(const struct file_ref *f, int64_t fence, int result)
{
	if (result == AOS_EFENCED)
		say(f, "not stored: the job is not %s (fence %lld)",
		    fence == 0 ? "queued and unclaimed" : "running under this lease",
		    (long long)fence);
	else if (result == AOS_EEXIST)
		say(f, "not stored: the job has a file of that name already");
	else if (result == AOS_ETOOBIG)
		say(f, "not stored: larger than %lld bytes", (long long)QUEUE_FILE_MAX);
	else
		say(f, "not stored: %s", aos_strerror(result));
}

int queue_pg__file_put(struct queue *q_, int64_t id, int64_t fence, const char *name,
		       const struct queue_file_src *src, int64_t now_ms,
		       struct queue_file_info *ret, char *errbuf, size_t errlen)
{
	struct queue_pg *q = (struct queue_pg *)q_;
	struct file_ref f = {id, name != NULL ? name : "", errbuf, errlen, false};
	struct queue_file_info info = {0};
	EVP_MD_CTX *md = NULL;
	int result;

	result = start(&f, src != NULL && src->read != NULL, &md);
	if (result == 0)
		result = qp__begin(q);
	if (result < 0)
		goto out;
	result = fence_check(q, id, fence, false);
	if (result == 0)
		result = store(q, &f, src, md, now_ms, &info);
	if (result == 0) /* a cancel while the chunks went in moved the fence */
		result = fence_check(q, id, fence, true);
	result = qp__end(q, result);
out:
	EVP_MD_CTX_free(md);
	if (result < 0) {
		put_error(&f, fence, result);
		return result;
	}
	if (ret != NULL)
		*ret = info;
	return 0;
}

/* Stores upload i of job j (new job id) from its source and checks it
 * against the digest the upload names. */
static int enqueue_file(struct queue_pg *q, int64_t id, const struct job_new *j, size_t i,
			int64_t now_ms)
{
	const struct job_upload *u = &j->uploads[i];
	struct file_ref f = {id, u->filename, j->errbuf, j->errlen, true};
	struct queue_file_info info = {0};
	EVP_MD_CTX *md = NULL;
	int result;

	result = start(&f, j->file_srcs[i].read != NULL, &md);
	if (result == 0)
		result = store(q, &f, &j->file_srcs[i], md, now_ms, &info);
	EVP_MD_CTX_free(md);
	if (result == 0 && strcmp(info.sha256, u->sha256) != 0) {
		say(&f,
		    "not enqueued: its bytes (SHA-256 %s) are not the upload's "
		    "(SHA-256 %s)",
		    info.sha256, u->sha256);
		return AOS_ECORRUPT;
	}
	if (result < 0)
		say(&f, "not enqueued: %s",
		    result == AOS_ETOOBIG ? "larger than the queue stores"
					  : aos_strerror(result));
	return result;
}

int queue_pg__enqueue_files(struct queue_pg *q, int64_t id, const struct job_new *j,
			    int64_t now_ms)
{
	size_t i;
	int result = 0;

	if (j->errbuf != NULL && j->errlen > 0)
		j->errbuf[0] = '\0';
	for (i = 0; j->file_srcs != NULL && result == 0 && i < j->nuploads; i++)
		result = enqueue_file(q, id, j, i, now_ms);
	return result;
}

/* Writes the chunks of file row fid to dst; *info gets what was read. */
static int get_chunks(struct queue_pg *q, const struct file_ref *f, int64_t fid,
		      int chunks, const struct queue_file_sink *dst, EVP_MD_CTX *md,
		      int64_t *ret_size)
{
	struct qp_args a;
	PGresult *r = NULL;
	int seq, len, result = 0;

	*ret_size = 0;
	for (seq = 0; result == 0 && seq < chunks; seq++) {
		a.n = 0;
		qp__int(&a, fid);
		qp__int(&a, seq);
		result = qp__exec_binary(q,
					 "SELECT data FROM aos_file_chunks WHERE "
					 "file_id = $1 AND seq = $2",
					 &a, &r);
		if (result < 0)
			break;
		len = PQntuples(r) == 1 ? PQgetlength(r, 0, 0) : -1;
		if (len < 0 || len > QUEUE_FILE_CHUNK) {
			say(f,
			    "chunk %d of %d is %s: the stored copy is damaged; do not "
			    "upload it, store the file again",
			    seq + 1, chunks, len < 0 ? "missing" : "longer than a chunk");
			result = AOS_ECORRUPT;
		} else if (EVP_DigestUpdate(md, PQgetvalue(r, 0, 0), (size_t)len) != 1) {
			result = -ENOMEM;
		} else {
			result = dst->write(dst->data, PQgetvalue(r, 0, 0), (size_t)len);
			*ret_size += len;
			if (result == 0 && q->test_hook != NULL)
				result = q->test_hook(q, QP_TEST_CHUNK_OUT, q->test_arg);
		}
		PQclear(r);
	}
	return result;
}

/* What was read against what was recorded. */
static int get_check(const struct file_ref *f, EVP_MD_CTX *md,
		     const struct queue_file_info *want, struct queue_file_info *got)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;

	if (EVP_DigestFinal_ex(md, d, &dlen) != 1 || dlen != 32)
		return -ENOMEM;
	aos_hex(d, dlen, got->sha256);
	if (got->size == want->size && strcmp(got->sha256, want->sha256) == 0)
		return 0;
	say(f,
	    "the stored bytes (%lld, SHA-256 %s) are not those recorded (%lld, "
	    "SHA-256 %s): the stored copy is damaged; do not upload it, store the "
	    "file again",
	    (long long)got->size, got->sha256, (long long)want->size, want->sha256);
	return AOS_ECORRUPT;
}

/* The file row of (job, name) in one snapshot with its chunks. */
static int file_find(struct queue_pg *q, const struct file_ref *f, int64_t *ret_fid,
		     int *ret_chunks, struct queue_file_info *ret)
{
	struct qp_args a = {0};
	PGresult *r = NULL;
	int result;

	qp__int(&a, f->job);
	qp__text(&a, f->name, sizeof(((struct job_upload *)0)->filename));
	result = qp__row(q,
			 "SELECT id, size, chunks, sha256 FROM aos_job_files "
			 "WHERE job_id = $1 AND name = $2::text",
			 &a, &r);
	if (result == AOS_ENOTFOUND)
		say(f, "not stored (no such job, or no such file of the job)");
	if (result < 0)
		return result;
	*ret_fid = qp__int64(r, 0, 0);
	ret->size = qp__int64(r, 0, 1);
	*ret_chunks = (int)qp__int64(r, 0, 2);
	qp__col_text(r, 0, 3, ret->sha256, sizeof(ret->sha256));
	PQclear(r);
	return 0;
}

int queue_pg__file_get(struct queue *q_, int64_t id, const char *name,
		       const struct queue_file_sink *dst, struct queue_file_info *ret,
		       char *errbuf, size_t errlen)
{
	struct queue_pg *q = (struct queue_pg *)q_;
	struct file_ref f = {id, name != NULL ? name : "", errbuf, errlen, false};
	struct queue_file_info want = {0}, got = {0};
	EVP_MD_CTX *md = NULL;
	int64_t fid = 0;
	int chunks = 0, result;

	result = start(&f, dst != NULL && dst->write != NULL, &md);
	if (result == 0) /* one snapshot: a prune meanwhile takes all or none */
		result = qp__exec(q, "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
				  NULL, NULL);
	if (result < 0)
		goto out;
	result = file_find(q, &f, &fid, &chunks, &want);
	if (result == 0)
		result = get_chunks(q, &f, fid, chunks, dst, md, &got.size);
	result = qp__end(q, result);
	if (result == 0)
		result = get_check(&f, md, &want, &got);
out:
	EVP_MD_CTX_free(md);
	if (result < 0 && errbuf != NULL && errlen > 0 && errbuf[0] == '\0')
		say(&f, "not read: %s", aos_strerror(result));
	if (result == 0 && ret != NULL)
		*ret = got;
	return result;
}

int queue_pg__files_remove(struct queue *q_, int64_t id)
{
	struct queue_pg *q = (struct queue_pg *)q_;
	struct qp_args a = {0};
	PGresult *r = NULL;
	int result;

	qp__int(&a, id);
	/* a succeeded job never changes again (only prune deletes it): no
	 * lock needed between reading its state and deleting */
	result = qp__exec(q,
			  "WITH j AS (SELECT state FROM aos_jobs WHERE id = $1), "
			  "d AS (DELETE FROM aos_job_files WHERE job_id = $1 AND "
			  "(SELECT state FROM j) = 3 RETURNING 1) "
			  "SELECT (SELECT state FROM j), (SELECT count(*) FROM d)",
			  &a, &r);
	if (result < 0)
		return result;
	if (PQgetisnull(r, 0, 0))
		result = AOS_ENOTFOUND;
	else if (qp__int64(r, 0, 0) != JOB_SUCCEEDED)
		result = -EINVAL;
	else
		result = (int)qp__int64(r, 0, 1);
	PQclear(r);
	return result;
}
