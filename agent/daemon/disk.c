/* disk.c - what the daemon's files take, the free space under them, and
 * the refusal of new work when it runs short.  See disk.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "base/prom.h"
#include "common/file.h"
#include "daemon/agent.h"
#include "daemon/disk.h"

#define MEASURE_FRESH_MS 5000 /* a measurement younger than this is reused */
#define MIB (1024.0 * 1024.0)

enum { P_DB, P_WAL, P_SPOOL, P_WORK };

static void measure_work(uv_work_t *w)
{
	struct disk *d = w->data;
	uint64_t v[4] = {0};
	int i;

	for (i = 0; i < 4; i++)
		if (d->paths[i] != NULL && aos_tree_bytes(d->paths[i], &v[i]) < 0)
			v[i] = 0; /* missing: takes nothing */
	d->next = (struct disk_use){
	    .queue = v[P_DB] + v[P_WAL], .spool = v[P_SPOOL], .work = v[P_WORK]};
}

static void free_paths(struct disk *d)
{
	int i;

	for (i = 0; i < 4; i++) {
		free(d->paths[i]);
		d->paths[i] = NULL;
	}
}

static void measure_done(uv_work_t *w, int status)
{
	struct disk *d = w->data;

	d->measuring = false;
	free_paths(d);
	if (status < 0 || d->closed)
		return;
	d->use = d->next;
	d->measured_ms = uv_now(&d->a->loop);
	if (d->measured_ms == 0)
		d->measured_ms = 1;
}

void disk_measure(struct agent *a)
{
	struct disk *d = &a->disk;
	const struct config *cfg = a->cfg;
	char wal[4200];

	if (d->measuring || d->closed ||
	    (d->measured_ms != 0 && uv_now(&a->loop) - d->measured_ms < MEASURE_FRESH_MS))
		return;
	/* The -shm file is memory mapped and sparse: the WAL and the file. */
	snprintf(wal, sizeof(wal), "%s-wal", cfg->queue.path);
	d->paths[P_DB] = strdup(cfg->queue.path);
	d->paths[P_WAL] = strdup(wal);
	d->paths[P_SPOOL] = strdup(cfg->queue.spool_dir);
	d->paths[P_WORK] = strdup(cfg->work_dir);
	d->work.data = d;
	if (d->paths[P_DB] == NULL || d->paths[P_WAL] == NULL ||
	    d->paths[P_SPOOL] == NULL || d->paths[P_WORK] == NULL ||
	    uv_queue_work(&a->loop, &d->work, measure_work, measure_done) < 0) {
		free_paths(d);
		return;
	}
	d->measuring = true;
}

void disk_init(struct agent *a)
{
	a->disk.a = a;
	disk__prune_start_timer(a);
	disk_measure(a);
}

void disk_close(struct agent *a)
{
	if (a->disk.a == NULL || a->disk.closed)
		return; /* never started */
	a->disk.closed = true;
	disk__prune_close(a);
}

/* The free bytes for the daemon on the file system of path; -1 unknown. */
static double free_bytes(const char *path)
{
	struct statvfs sv;

	if (statvfs(path, &sv) < 0)
		return -1;
	return (double)sv.f_bavail * (double)sv.f_frsize;
}

/* The folder of the queue database (its file may not exist yet). */
static void queue_dir(const struct config *cfg, char *buf, size_t len)
{
	const char *slash = strrchr(cfg->queue.path, '/');

	if (slash == NULL)
		snprintf(buf, len, ".");
	else
		snprintf(buf, len, "%.*s",
			 (int)(slash - cfg->queue.path + (slash == cfg->queue.path)),
			 cfg->queue.path);
}

/* The least free space of the queue's and the spool's file systems. */
static double least_free(const struct config *cfg)
{
	char dir[4200];
	double q, s;

	queue_dir(cfg, dir, sizeof(dir));
	q = free_bytes(dir);
	s = free_bytes(cfg->queue.spool_dir);
	if (s < 0)
		s = free_bytes(cfg->state_dir);
	return q < 0 ? s : s < 0 ? q : q < s ? q : s;
}

bool disk_short(const struct agent *a, char *msg, size_t msglen)
{
	const struct config *cfg = a->cfg;
	double avail;

	if (cfg->queue.min_free_mb <= 0)
		return false;
	avail = least_free(cfg);
	if (avail < 0 || avail >= (double)cfg->queue.min_free_mb * MIB)
		return false;
	snprintf(
	    msg, msglen,
	    "the daemon's disk is full: %.1f MiB free for the queue and "
	    "the spool, under queue.min_free_mb (%ld MiB); nothing was queued: retry "
	    "once space is freed (aos-publishctl prune, or a larger file system)",
	    avail / MIB, cfg->queue.min_free_mb);
	return true;
}

cJSON *disk_status_json(struct agent *a)
{
	const struct disk *d = &a->disk;
	cJSON *o = cJSON_CreateObject();
	double avail = least_free(a->cfg);

	disk_measure(a);
	if (d->measured_ms != 0) {
		cJSON_AddNumberToObject(o, "queue_bytes", (double)d->use.queue);
		cJSON_AddNumberToObject(o, "spool_bytes", (double)d->use.spool);
		cJSON_AddNumberToObject(o, "work_bytes", (double)d->use.work);
		cJSON_AddNumberToObject(
		    o, "measured_s_ago",
		    (double)((uv_now(&a->loop) - d->measured_ms) / 1000));
	}
	if (avail >= 0)
		cJSON_AddNumberToObject(o, "free_bytes", avail);
	cJSON_AddNumberToObject(o, "min_free_bytes",
				(double)a->cfg->queue.min_free_mb * MIB);
	cJSON_AddBoolToObject(o, "full",
			      a->cfg->queue.min_free_mb > 0 && avail >= 0 &&
				  avail < (double)a->cfg->queue.min_free_mb * MIB);
	cJSON_AddNumberToObject(o, "retention_days",
				(double)a->cfg->queue.retention_days);
	cJSON_AddItemToObject(o, "prune", disk__prune_status_json(a));
	return o;
}

int disk_render(struct agent *a, struct buf *b)
{
	static const char *const what[] = {"queue", "spool", "work"};
	const struct disk *d = &a->disk;
	const uint64_t v[] = {d->use.queue, d->use.spool, d->use.work};
	char l[PROM_LABELS_MAX];
	int r, i;

	disk_measure(a);
	if (d->measured_ms == 0)
		return 0; /* no sample rather than a wrong one */
	r = prom_family(
	    b, "aos_disk_bytes", "gauge",
	    "Disk space taken by the queue database (with its WAL), the spool "
	    "and the work folders.");
	for (i = 0; r == 0 && i < 3; i++) {
		prom_labels(l, sizeof(l), "what", what[i], NULL);
		r = prom_sample(b, "aos_disk_bytes", l, (double)v[i]);
	}
	return r;
}
