/* ctl_disk.c - `aos-publishctl prune [--dry-run]` and the disk lines of
 * `status`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "ctl/ctl.h"

/* "12.3 MiB" */
static void human(double bytes, char *buf, size_t len)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	int u = 0;

	while (bytes >= 1024 && u < 4) {
		bytes /= 1024;
		u++;
	}
	snprintf(buf, len, u == 0 ? "%.0f %s" : "%.1f %s", bytes, units[u]);
}

/* "2026-11-03 10:00 UTC" */
static void when(double ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%d %H:%M UTC", &tm) == 0)
		snprintf(buf, len, "?");
}

/* One run's totals: "12 jobs (10 succeeded, 1 dead, 1 canceled), 3
 * spooled files of 1.2 MiB". */
static void print_totals(const cJSON *t)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(t, "jobs");
	char b[32];

	human(ctl_num(t, "spool_bytes"), b, sizeof(b));
	printf(
	    "%.0f job(s) (%.0f succeeded, %.0f dead, %.0f canceled) with their logs and "
	    "uploads, %.0f spooled file(s) of %s",
	    ctl_num(t, "total_jobs"), ctl_num(j, "succeeded"), ctl_num(j, "dead"),
	    ctl_num(j, "canceled"), ctl_num(t, "spool_files"), b);
}

void ctl_print_disk(const cJSON *d)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(d, "prune");
	char q[32], s[32], w[32], f[32], at[40];

	if (d == NULL)
		return;
	human(ctl_num(d, "free_bytes"), f, sizeof(f));
	if (cJSON_GetObjectItemCaseSensitive(d, "queue_bytes") != NULL) {
		human(ctl_num(d, "queue_bytes"), q, sizeof(q));
		human(ctl_num(d, "spool_bytes"), s, sizeof(s));
		human(ctl_num(d, "work_bytes"), w, sizeof(w));
		printf("Disk:       queue %s, spool %s, work %s; %s free%s\n", q, s, w, f,
		       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "full"))
			   ? " (FULL: new work refused)"
			   : "");
	} else {
		printf("Disk:       %s free (use not measured yet)%s\n", f,
		       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "full"))
			   ? " (FULL: new work refused)"
			   : "");
	}
	if (ctl_num(d, "retention_days") <= 0) {
		printf("Retention:  forever (queue.retention_days 0)\n");
		return;
	}
	printf("Retention:  %.0f days", ctl_num(d, "retention_days"));
	if (cJSON_GetObjectItemCaseSensitive(p, "at_ms") != NULL) {
		when(ctl_num(p, "at_ms"), at, sizeof(at));
		printf("; last prune %s: ", at);
		print_totals(p);
	}
	printf("\n");
}

int ctl_prune(const char *sock, bool json, int timeout_s, int argc, char **argv)
{
	bool dry = false;
	char *answer = NULL, at[40];
	cJSON *o;
	int rc;

	if (ctl_has_help(argc, argv)) {
		printf(
		    "Usage: aos-publishctl prune [--dry-run]\n"
		    "Removes the jobs that ended more than queue.retention_days ago\n"
		    "(succeeded, dead, canceled), with their logs, uploads and spooled\n"
		    "files; --dry-run shows what would go.  The daemon also prunes by\n"
		    "itself every hour.  Needs the operate role.\n");
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "--dry-run") == 0) {
		dry = true;
	} else if (argc != 1) {
		fprintf(stderr, "aos-publishctl: usage: prune [--dry-run]\n");
		return EXIT_USAGE;
	}
	rc = ctl_exchange(
	    sock, dry ? "{\"cmd\":\"prune\",\"dry_run\":true}" : "{\"cmd\":\"prune\"}",
	    timeout_s, &answer);
	if (rc != 0)
		return rc;
	o = cJSON_Parse(answer);
	rc = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok")) ? 0 : EXIT_FAIL;
	if (json) {
		printf("%s\n", answer);
	} else if (rc == 0) {
		when(ctl_num(o, "ended_before_ms"), at, sizeof(at));
		printf(dry ? "Would prune " : "Pruned ");
		print_totals(o);
		printf(", ended before %s.\n", at);
	}
	if (rc != 0)
		fprintf(stderr, "aos-publishctl: %s\n",
			ctl_str(o, "error", "unknown error"));
	cJSON_Delete(o);
	free(answer);
	return rc;
}
