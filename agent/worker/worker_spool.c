/* worker_spool.c - a job's spooled files: what they take, and their removal
 * when the job no longer needs them (it succeeded, or retention pruned it).
 * See worker.h. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "common/file.h"
#include "queue/queue.h"
#include "worker/worker.h"
#include "worker_internal.h"

/* Whether path is a file directly in a folder directly under spool_dir
 * (what the spool writes): a path from the database is never trusted to
 * point elsewhere. */
bool worker__in_spool(const char *path, const char *spool_dir)
{
	size_t n = strlen(spool_dir);
	const char *rest = path + n + 1, *slash;

	if (strncmp(path, spool_dir, n) != 0 || path[n] != '/' ||
	    strstr(path, "/..") != NULL)
		return false;
	slash = strchr(rest, '/');
	return slash != NULL && slash > rest && slash[1] != '\0' &&
	       strchr(slash + 1, '/') == NULL;
}

static void count_file(const char *path, bool dry_run, struct worker_spool_use *use)
{
	struct stat st;

	if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode))
		return;
	use->files++;
	use->bytes += (uint64_t)st.st_blocks * 512;
	if (!dry_run)
		(void)unlink(path);
}

/* A publish job: the files its inputs name, then their folder. */
static void publish_files(const struct job *j, const char *spool_dir, bool dry_run,
			  struct worker_spool_use *use)
{
	cJSON *doc = cJSON_Parse(j->inputs), *f;
	char dir[4096] = "";

	cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(doc, "files"))
	{
		const char *path =
		    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(f, "path"));

		if (path == NULL || !worker__in_spool(path, spool_dir))
			continue;
		count_file(path, dry_run, use);
		snprintf(dir, sizeof(dir), "%.*s", (int)(strrchr(path, '/') - path),
			 path);
	}
	if (dir[0] != '\0' && !dry_run)
		(void)rmdir(dir); /* only once empty */
	cJSON_Delete(doc);
}

void worker_taken_dir(const char *spool_dir, int64_t id, char *buf, size_t len)
{
	snprintf(buf, len, "%s/taken-%" PRId64, spool_dir, id);
}

void worker_spool_files(const struct job *j, const char *spool_dir, bool dry_run,
			struct worker_spool_use *use)
{
	char dir[4200];
	uint64_t bytes = 0;

	if (j->kind == JOB_PUBLISH)
		publish_files(j, spool_dir, dry_run, use);
	else
		snprintf(dir, sizeof(dir), "%s/pipeline-%" PRId64, spool_dir, j->id);
	if (j->kind != JOB_PUBLISH && aos_tree_bytes(dir, &bytes) == 0) {
		use->bytes += bytes;
		use->files++;
		if (!dry_run)
			(void)aos_rm_flat_dir(dir);
	}
	/* and what was read from the queue's database (worker_fetch.c) */
	worker_taken_dir(spool_dir, j->id, dir, sizeof(dir));
	bytes = 0;
	if (aos_tree_bytes(dir, &bytes) < 0)
		return;
	use->bytes += bytes;
	use->files++;
	if (!dry_run)
		(void)aos_rm_flat_dir(dir);
}
