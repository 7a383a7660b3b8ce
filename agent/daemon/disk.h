/* disk.h - the daemon's disk: what the queue database, the spool and the
 * work folders take (measured on the thread pool, never on the loop), the
 * free space of the file systems that hold them, the refusal of new work
 * when that space is short (queue.min_free_mb), and retention: ended jobs
 * past queue.retention_days pruned in small batches (disk_prune.c). */
#ifndef AOS_DISK_H
#define AOS_DISK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>
#include <uv.h>

struct agent;
struct buf;
struct control_conn;
struct prune_run;

/* Bytes each part takes, as du counts them. */
struct disk_use {
	uint64_t queue; /* queue.db with its -wal and -shm */
	uint64_t spool;
	uint64_t work;
};

/* Held in struct agent; disk_init() before use, disk_close() at stop. */
struct disk {
	struct agent *a;
	uv_work_t work;	      /* a measurement on the thread pool */
	char *paths[4];	      /* what the thread measures (copied) */
	struct disk_use next; /* the thread's result */
	struct disk_use use;  /* the last measurement */
	uint64_t measured_ms; /* loop time of it; 0: none yet */
	bool measuring;
	uv_timer_t prune_timer; /* the periodic run, then its batches */
	struct prune_run *runs; /* the one running first, then those waiting */
	cJSON *last_prune;	/* what the last run (not a dry run) did */
	bool closed;
};

void disk_init(struct agent *a);
/* Stops the timers (a measurement still running finishes on its own). */
void disk_close(struct agent *a);

/* Starts a measurement unless one runs or the last is recent. */
void disk_measure(struct agent *a);

/* Whether new work is refused: the free space on the file system of the
 * queue database or of the spool is under queue.min_free_mb.  Returns true
 * with msg saying so and what to do. */
bool disk_short(const struct agent *a, char *msg, size_t msglen);

/* The "disk" part of status: the bytes of each part (when measured), the
 * free bytes, retention's settings and its last run. */
cJSON *disk_status_json(struct agent *a);

/* aos_disk_bytes{what="queue|spool|work"} for GET /metrics. */
int disk_render(struct agent *a, struct buf *b);

/* prune {"dry_run"}: answers with what went (or would go): jobs per state,
 * spooled files and their bytes (disk_prune.c). */
void disk_prune_command(struct agent *a, struct control_conn *c, bool dry_run);

/* The periodic run: first a few seconds after the start, then hourly. */
void disk__prune_start_timer(struct agent *a);
void disk__prune_close(struct agent *a);
cJSON *disk__prune_status_json(const struct agent *a);

#endif
