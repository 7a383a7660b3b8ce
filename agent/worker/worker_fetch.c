/* worker_fetch.c - a job's files between this host's spool and the
 * PostgreSQL queue's database.
 *
 * Reading: a publish job queued by another daemon sharing the queue, or a
 * pipeline built by one, has its files in that daemon's spool, not here,
 * so they are read from the queue's database (the enqueue stored a
 * publish's: job_new.file_srcs; a pipeline stored its artifacts before
 * recording them: worker__files_put) into <spool_dir>/taken-<id>/, one at
 * a time, before the publish starts.  The store checks each file's size
 * and SHA-256 as it reads; a file is written as NAME.part, fsynced and
 * renamed once whole, so a copy there is whole and is used again (the
 * next target, the next run).  The lease is renewed meanwhile.
 *
 * Storing: a pipeline's artifacts, under the lease (file_put, fenced).
 * See worker_internal.h. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "common/err.h"
#include "config/config.h"
#include "worker_internal.h"

struct fetch {
	struct run *r;
	worker_fetched_fn done;
	size_t i;   /* the file being read */
	int fd;	    /* its NAME.part, or -1 */
	size_t got; /* files read */
	char part[4400];
};

static void fetch_end(struct fetch *f, int rc, const char *msg)
{
	struct run *r = f->r;

	if (f->fd >= 0) {
		close(f->fd);
		(void)unlink(f->part);
	}
	if (!r->gone) {
		if (rc == 0 && f->got > 0)
			log_info("job %" PRId64 ": %zu file(s) read from the queue's "
				 "database (not in this host's spool: queued by another "
				 "daemon)",
				 r->job.id, f->got);
		f->done(r, rc, msg);
	}
	worker__run_drop(r);
	free(f);
}

static void next(struct fetch *f);

static const char *dbname(const struct run *r, size_t i)
{
	return r->dbnames[i] != NULL ? r->dbnames[i] : r->names[i];
}

/* The copy's name here: the file's own (a pipeline's upload key is
 * TARGET/NAME), which the publish sends it as. */
static const char *localname(const struct run *r, size_t i)
{
	const char *slash = strrchr(r->names[i], '/');

	return slash != NULL ? slash + 1 : r->names[i];
}

/* File i is in this daemon's spool (another daemon's spool on the same
 * machine is not read: its path came from the database), or was read
 * from the database before (an earlier target or run): r->files[i] then
 * points at that copy. */
static bool here(struct run *r, size_t i)
{
	const char *spool = worker__cfg(r->w)->queue.spool_dir, *name = localname(r, i);
	char path[4400];
	char *copy;
	size_t n;

	if (worker__in_spool(r->files[i], spool) && access(r->files[i], R_OK) == 0)
		return true;
	worker_taken_dir(spool, r->job.id, path, sizeof(path));
	n = strlen(path);
	snprintf(path + n, sizeof(path) - n, "/%s", name);
	if (strchr(name, '/') != NULL || access(path, R_OK) != 0 ||
	    (copy = strdup(path)) == NULL)
		return false;
	free(r->files[i]);
	r->files[i] = copy;
	return true;
}

static void got(struct queue_async_result *res, void *data)
{
	struct fetch *f = data;
	struct run *r = f->r;
	struct worker *w = r->w;
	char path[4400], msg[512];
	int rc = res->rc;

	if (rc == 0 && !r->gone && fsync(f->fd) < 0)
		rc = -errno;
	if (rc == 0 && !r->gone) {
		snprintf(path, sizeof(path), "%.*s", (int)(strlen(f->part) - 5), f->part);
		if (rename(f->part, path) < 0)
			rc = -errno;
	}
	if (rc == 0 && !r->gone) {
		close(f->fd);
		f->fd = -1;
		free(r->files[f->i]);
		r->files[f->i] = strdup(path);
		rc = r->files[f->i] != NULL ? 0 : -ENOMEM;
	}
	if (rc < 0 || r->gone) {
		snprintf(msg, sizeof(msg),
			 "cannot read file %s from the queue's database: %s",
			 dbname(r, f->i),
			 res->error[0] != '\0' ? res->error : aos_strerror(rc));
		fetch_end(f, rc < 0 ? rc : -ECANCELED, msg);
	} else {
		f->got++;
		f->i++;
		next(f);
	}
	worker__completed(w);
}

/* Posts the read of the next file missing here, or ends. */
static void next(struct fetch *f)
{
	struct run *r = f->r;
	struct worker *w = r->w;
	char dir[4200], msg[512];
	int rc;

	while (f->i < r->nfiles && here(r, f->i))
		f->i++;
	if (f->i == r->nfiles) {
		fetch_end(f, 0, NULL);
		return;
	}
	worker_taken_dir(worker__cfg(w)->queue.spool_dir, r->job.id, dir, sizeof(dir));
	snprintf(f->part, sizeof(f->part), "%s/%s.part", dir, localname(r, f->i));
	if (localname(r, f->i)[0] == '\0' || localname(r, f->i)[0] == '.')
		rc = -EINVAL; /* a spool file's name, never a path */
	else if ((mkdir(worker__cfg(w)->queue.spool_dir, 0750) < 0 && errno != EEXIST) ||
		 (mkdir(dir, 0750) < 0 && errno != EEXIST))
		rc = -errno;
	else if ((f->fd =
		      open(f->part, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
			   0640)) < 0)
		rc = -errno;
	else
		rc = queue_async_file_get(w->qa, r->job.id, dbname(r, f->i), f->fd, got,
					  f);
	if (rc < 0) {
		snprintf(msg, sizeof(msg),
			 "cannot read file %s from the queue's database into %s: %s",
			 dbname(r, f->i), dir, aos_strerror(rc));
		fetch_end(f, rc, msg);
		return;
	}
	worker__posted(w);
}

int worker__fetch_missing(struct run *r, worker_fetched_fn done)
{
	struct fetch *f;
	size_t i;

	/* SQLite: the spool is the only copy (a missing one fails the publish) */
	if (worker__cfg(r->w)->queue.backend != QUEUE_BACKEND_POSTGRESQL)
		return 0;
	for (i = 0; i < r->nfiles && here(r, i); i++)
		;
	if (i == r->nfiles)
		return 0;
	f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -ENOMEM;
	f->r = r;
	f->done = done;
	f->fd = -1;
	f->i = i;
	worker__run_hold(r);
	/* the lease is renewed while the files come in */
	if (!uv_is_active((uv_handle_t *)&r->heartbeat))
		uv_timer_start(&r->heartbeat, worker__heartbeat,
			       (uint64_t)worker__cfg(r->w)->queue.lease_s * 1000 / 3,
			       (uint64_t)worker__cfg(r->w)->queue.lease_s * 1000 / 3);
	next(f);
	return 1;
}

/* ---- storing a run's files ------------------------------------------------ */

struct putter {
	struct run *r;
	worker_fetched_fn done;
	char *const *paths, *const *names;
	size_t n, i;
	int fd;
};

static void put_next(struct putter *p);

static void put_end(struct putter *p, int rc, const char *msg)
{
	struct run *r = p->r;

	if (p->fd >= 0)
		close(p->fd);
	if (!r->gone)
		p->done(r, rc, msg);
	worker__run_drop(r);
	free(p);
}

static void put_done(struct queue_async_result *res, void *data)
{
	struct putter *p = data;
	struct worker *w = p->r->w;
	char msg[512];
	/* AOS_EEXIST: this lease's put of the name, posted again */
	int rc = res->rc == AOS_EEXIST ? 0 : res->rc;

	close(p->fd);
	p->fd = -1;
	if (rc < 0 || p->r->gone) {
		snprintf(msg, sizeof(msg), "cannot store %s in the queue's database: %s",
			 p->names[p->i],
			 res->error[0] != '\0' ? res->error : aos_strerror(rc));
		put_end(p, rc < 0 ? rc : -ECANCELED, msg);
	} else {
		p->i++;
		put_next(p);
	}
	worker__completed(w);
}

static void put_next(struct putter *p)
{
	struct run *r = p->r;
	struct worker *w = r->w;
	char msg[512];
	int rc;

	if (p->i == p->n) {
		put_end(p, 0, NULL);
		return;
	}
	p->fd = open(p->paths[p->i], O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	rc = p->fd < 0
		 ? -errno
		 : queue_async_file_put(w->qa, r->job.id, r->job.fence, p->names[p->i],
					p->fd, worker__now(w), put_done, p);
	if (rc < 0) {
		snprintf(msg, sizeof(msg), "cannot store %s in the queue's database: %s",
			 p->names[p->i], aos_strerror(rc));
		put_end(p, rc, msg);
		return;
	}
	worker__posted(w);
}

int worker__files_put(struct run *r, char *const *paths, char *const *dbnames, size_t n,
		      worker_fetched_fn done)
{
	struct putter *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return -ENOMEM;
	*p = (struct putter){
	    .r = r, .done = done, .paths = paths, .names = dbnames, .n = n, .fd = -1};
	worker__run_hold(r);
	put_next(p);
	return 0;
}
