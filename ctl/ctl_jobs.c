/* ctl_jobs.c - aos-publishctl jobs, job show|log|retry|cancel, drain, resume.
 *
 * What these commands print comes from job logs and errors, which hold what
 * build steps printed: shown escaped on a terminal (ctl_text.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "ctl/ctl.h"
#include "ctl/ctl_progress.h"
#include "ctl/ctl_text.h"

static const char *when(double ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0)
		return "-";
	gmtime_r(&t, &tm);
	strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return buf;
}

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: aos-publishctl [--socket PATH] [--json] jobs [--state S] [--limit N]\n"
	    "       aos-publishctl job show ID\n"
	    "       aos-publishctl job log ID [--follow] [--escape | --raw]\n"
	    "       aos-publishctl job wait ID      (until it succeeds, dies or is canceled;\n"
	    "                                        exit 1 unless it succeeded)\n"
	    "       aos-publishctl job retry ID     (a dead, failed or canceled job)\n"
	    "       aos-publishctl job cancel ID    (a queued, failed or running job)\n"
	    "       aos-publishctl drain [--host NAME | --this-host]\n"
	    "                       no new jobs start (running ones finish): on every\n"
	    "                       host sharing the queue, or on host NAME only\n"
	    "                       (--this-host: the host of the daemon asked)\n"
	    "       aos-publishctl resume [--host NAME | --this-host]\n"
	    "                       end the fleet's drain, or host NAME's (the two are\n"
	    "                       separate: a host drained by name stays drained)\n"
	    "       aos-publishctl reconcile PIPELINE [--dry-run]\n"
	    "                       queue the repository's tags whose version is missing\n"
	    "                       on a target registry (git ls-remote, then each index)\n"
	    "States: queued, running, succeeded, failed (waiting to retry), dead,\n"
	    "canceled.\n"
	    "Logs hold what build steps printed.  On a terminal, control characters\n"
	    "are shown escaped (\\x1b, \\u009b; bytes that are not UTF-8 as \\xNN);\n"
	    "into a pipe or file, as stored.  --escape: escaped anywhere; --raw: as\n"
	    "stored anywhere (the job commands take either).  --json output always\n"
	    "has them as JSON escapes and is valid UTF-8, unless --raw.\n");
}

/* The daemon's error in o, on stderr. */
static void print_error(const cJSON *o, enum ctl_escape esc)
{
	fputs("aos-publishctl: ", stderr);
	ctl_put_text(stderr, ctl_str(o, "error", "failed"), esc);
	fputc('\n', stderr);
}

/* o's strings escaped when they go to a terminal (see ctl_text.h). */
static int escape_for_stdout(cJSON *o, enum ctl_escape esc)
{
	if (!ctl_escaping(esc, stdout) || ctl_escape_tree(o) == 0)
		return 0;
	fprintf(stderr, "aos-publishctl: out of memory\n");
	return EXIT_FAIL;
}

/* One request, one answer; prints it with show() or as JSON. */
static int simple(const char *sock, bool json, enum ctl_escape esc, int timeout_s,
		  cJSON *req, void (*show)(const cJSON *ans))
{
	char *text = cJSON_PrintUnformatted(req), *line = NULL;
	cJSON *ans = NULL;
	int rc;

	rc = ctl_exchange(sock, text, timeout_s, &line);
	if (rc == 0) {
		ans = cJSON_Parse(line);
		if (json)
			ctl_put_json(stdout, line, esc);
		if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ans, "ok"))) {
			print_error(ans, esc);
			rc = EXIT_FAIL;
		} else if (!json && show != NULL) {
			rc = escape_for_stdout(ans, esc);
			if (rc == 0)
				show(ans);
		}
	}
	cJSON_Delete(ans);
	free(line);
	free(text);
	return rc;
}

static void show_jobs(const cJSON *ans)
{
	const cJSON *j;
	char t[32];

	printf("%-7s %-10s %-20s %-22s %-8s %-20s %s\n", "ID", "STATE", "REGISTRY",
	       "PACKAGE", "TRIES", "UPDATED", "LAST ERROR");
	cJSON_ArrayForEach(j, cJSON_GetObjectItemCaseSensitive(ans, "jobs"))
	{
		printf("%-7.0f %-10s %-20s %-22s %.0f/%-6.0f %-20s %.80s\n",
		       ctl_num(j, "id"), ctl_str(j, "state", "?"),
		       ctl_str(j, "registry", "?"), ctl_str(j, "package", "?"),
		       ctl_num(j, "attempts"), ctl_num(j, "max_attempts"),
		       when(ctl_num(j, "updated_ms"), t, sizeof(t)),
		       ctl_str(j, "last_error", ""));
	}
}

static void show_job(const cJSON *ans)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(ans, "job"), *u;
	char t[32];

	printf("Job %.0f: %s (%s to %s, package %s)\n", ctl_num(j, "id"),
	       ctl_str(j, "state", "?"), ctl_str(j, "kind", "?"),
	       ctl_str(j, "registry", "?"), ctl_str(j, "package", "?"));
	printf("Attempts:   %.0f of %.0f\n", ctl_num(j, "attempts"),
	       ctl_num(j, "max_attempts"));
	printf("Created:    %s\n", when(ctl_num(j, "created_ms"), t, sizeof(t)));
	printf("Updated:    %s\n", when(ctl_num(j, "updated_ms"), t, sizeof(t)));
	if (strcmp(ctl_str(j, "state", ""), "failed") == 0 ||
	    strcmp(ctl_str(j, "state", ""), "queued") == 0)
		printf("Next run:   %s\n", when(ctl_num(j, "next_run_ms"), t, sizeof(t)));
	if (ctl_str(j, "lease_owner", NULL) != NULL)
		printf("Lease:      %s until %s\n", ctl_str(j, "lease_owner", ""),
		       when(ctl_num(j, "lease_expires_ms"), t, sizeof(t)));
	printf("Key:        %s\n", ctl_str(j, "idempotency_key", ""));
	if (ctl_str(j, "last_error", NULL) != NULL)
		printf("Last error: %s\n", ctl_str(j, "last_error", ""));
	if (ctl_str(j, "wait_reason", NULL) != NULL)
		printf("Waiting:    %s\n", ctl_str(j, "wait_reason", ""));
	/* npm dist-tags decided before the job was queued */
	cJSON_ArrayForEach(
	    u, cJSON_GetObjectItemCaseSensitive(
		   cJSON_GetObjectItemCaseSensitive(ans, "inputs"), "dist_tags"))
	    printf("Dist-tag:   %s: %s (%s)%s%s\n", ctl_str(u, "registry", "?"),
		   ctl_str(u, "dist_tag", "?"), ctl_str(u, "from", "?"),
		   ctl_str(u, "note", NULL) != NULL ? "; " : "", ctl_str(u, "note", ""));
	/* verify_matrix: each cell that ran, how it ended, its seconds */
	cJSON_ArrayForEach(
	    u, cJSON_GetObjectItemCaseSensitive(
		   cJSON_GetObjectItemCaseSensitive(ans, "inputs"), "verify_matrix"))
	    printf("Verify:     cell %s: %s (%.1f s)\n", ctl_str(u, "name", "?"),
		   ctl_str(u, "result", "?"), ctl_num(u, "seconds"));
	printf("\n%-48s %-8s %s\n", "FILE", "UPLOAD", "ANSWER");
	cJSON_ArrayForEach(u, cJSON_GetObjectItemCaseSensitive(ans, "uploads"))
	    printf("%-48s %-8s %.120s\n", ctl_str(u, "filename", "?"),
		   ctl_str(u, "state", "?"), ctl_str(u, "answer", ""));
}

static void print_line(const cJSON *l)
{
	char t[32];

	printf("%s %s\n", when(ctl_num(l, "at_ms"), t, sizeof(t)),
	       ctl_str(l, "text", ""));
}

static void show_log(const cJSON *ans)
{
	const cJSON *l;

	cJSON_ArrayForEach(l, cJSON_GetObjectItemCaseSensitive(ans, "lines"))
	    print_line(l);
}

static void show_ok(const cJSON *ans)
{
	printf("job %.0f: done\n", ctl_num(ans, "id"));
}

void ctl_print_drains(const cJSON *d)
{
	const cJSON *h;
	bool fleet = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(d, "fleet"));
	int n = 0;

	printf("Drained:    %s", fleet ? "the fleet (every host)" : "");
	cJSON_ArrayForEach(h, cJSON_GetObjectItemCaseSensitive(d, "hosts"))
	{
		printf("%s%s%s", fleet || n > 0 ? ", " : "", n == 0 ? "host " : "",
		       cJSON_IsString(h) ? h->valuestring : "?");
		n++;
	}
	printf("%s\n", fleet || n > 0 ? "" : "nothing");
}

/* A drain's or resume's answer: what it did, what is drained now, and this
 * daemon's host. */
static void show_drain(const cJSON *ans, bool drain)
{
	const cJSON *host = cJSON_GetObjectItemCaseSensitive(ans, "host");
	bool changed = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ans, "changed"));
	const char *was = changed ? "" : " (it was already)";

	if (cJSON_IsString(host))
		printf("host %s %s%s\n", host->valuestring,
		       drain ? "drained: no new jobs start there (running ones finish)"
			     : "resumed",
		       was);
	else
		printf(
		    "the fleet %s%s\n",
		    drain ? "drained: no new jobs start on any host (running ones finish)"
			  : "resumed (a host drained by name stays drained)",
		    was);
	ctl_print_drains(cJSON_GetObjectItemCaseSensitive(ans, "drained"));
	printf("this host (%s): %s; %.0f job(s) running here\n",
	       ctl_str(ans, "this_host", "?"),
	       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ans, "draining"))
		   ? "draining: no new jobs start"
		   : "starting jobs",
	       ctl_num(ans, "running"));
}

static void show_drained(const cJSON *ans)
{
	show_drain(ans, true);
}

static void show_resumed(const cJSON *ans)
{
	show_drain(ans, false);
}

/* drain|resume [--host NAME | --this-host] into req. */
static bool drain_request(cJSON *req, const char *cmd, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"host", required_argument, NULL, 'H'},
	    {"this-host", no_argument, NULL, 'T'},
	    {NULL, 0, NULL, 0},
	};
	const char *host = NULL;
	bool this_host = false;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		if (c == 'H' && host == NULL)
			host = optarg;
		else if (c == 'T')
			this_host = true;
		else
			return false;
	}
	if (optind != argc || (host != NULL && this_host))
		return false;
	cJSON_AddStringToObject(req, "cmd", cmd);
	if (host != NULL)
		cJSON_AddStringToObject(req, "host", host);
	if (this_host)
		cJSON_AddTrueToObject(req, "this_host");
	return true;
}

static void show_reconcile(const cJSON *ans)
{
	const cJSON *t, *m;

	printf("%-32s %-14s %-12s %-12s %-7s %s\n", "TAG", "VERSION", "COMMIT", "ACTION",
	       "JOB", "MISSING ON");
	cJSON_ArrayForEach(t, cJSON_GetObjectItemCaseSensitive(ans, "tags"))
	{
		char job[24] = "-";

		if (cJSON_GetObjectItemCaseSensitive(t, "job_id") != NULL)
			snprintf(job, sizeof(job), "%.0f", ctl_num(t, "job_id"));
		printf("%-32s %-14s %-12.12s %-12s %-7s", ctl_str(t, "tag", "?"),
		       ctl_str(t, "version", "?"), ctl_str(t, "commit", "?"),
		       ctl_str(t, "action", "?"), job);
		cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(t, "missing"))
		    printf(" %s", cJSON_IsString(m) ? m->valuestring : "?");
		printf("\n");
	}
	printf("\n%.0f job(s) queued%s\n", ctl_num(ans, "queued"),
	       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ans, "dry_run"))
		   ? " (dry run: none)"
		   : "");
}

/* job log --follow: lines stream until the job ends. */
static int follow(const char *sock, bool json, enum ctl_escape esc, int timeout_s,
		  cJSON *req)
{
	struct ctl_conn conn = {.fd = -1};
	char *text = cJSON_PrintUnformatted(req), *line;
	struct ctl_progress prog;
	int rc;

	ctl_progress_init(&prog, isatty(STDOUT_FILENO) && !json);
	rc = ctl_open(&conn, sock);
	if (rc == 0)
		rc = ctl_send(&conn, text);
	while (rc == 0 && (rc = ctl_read_line(&conn, timeout_s, &line)) == 0) {
		cJSON *l = cJSON_Parse(line);
		bool final = cJSON_GetObjectItemCaseSensitive(l, "event") == NULL;

		if (!json && strcmp(ctl_str(l, "event", ""), "progress") == 0) {
			ctl_progress_show(&prog, l); /* job.wait's upload events */
			cJSON_Delete(l);
			continue;
		}
		if (!json)
			ctl_progress_end(&prog);
		if (json)
			ctl_put_json(stdout, line, esc);
		else if ((rc = escape_for_stdout(l, esc)) != 0)
			final = true;
		else if (!final && ctl_str(l, "text", NULL) != NULL)
			print_line(l);
		else if (!final && ctl_str(l, "message", NULL) != NULL)
			printf("%s\n", ctl_str(l, "message", "")); /* a file's result */
		else if (final && cJSON_GetObjectItemCaseSensitive(l, "job_id") != NULL)
			printf("job %.0f: %s (%s)%s%s\n", ctl_num(l, "job_id"),
			       ctl_str(l, "state", "?"), ctl_str(l, "outcome", "?"),
			       ctl_str(l, "error", NULL) ? ": " : "",
			       ctl_str(l, "error", ""));
		fflush(stdout);
		if (final && !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(l, "ok"))) {
			print_error(l, esc);
			rc = EXIT_FAIL;
		}
		cJSON_Delete(l);
		if (final)
			break;
	}
	free(text);
	ctl_close(&conn);
	return rc;
}

static bool parse_id(const char *s, double *ret)
{
	char *end;
	long long v = strtoll(s, &end, 10);

	if (*end != '\0' || v < 1) {
		fprintf(stderr, "aos-publishctl: \"%s\" is not a job id\n", s);
		return false;
	}
	*ret = (double)v;
	return true;
}

/* Takes --escape and --raw out of argv (anywhere after the command).
 * Returns false (after saying why) when both are given. */
static bool escape_flags(int *argc, char **argv, enum ctl_escape *ret)
{
	int i, n = 1;

	*ret = CTL_ESCAPE_AUTO;
	for (i = 1; i < *argc; i++) {
		enum ctl_escape e = strcmp(argv[i], "--escape") == 0 ? CTL_ESCAPE_ON
				    : strcmp(argv[i], "--raw") == 0  ? CTL_ESCAPE_OFF
								     : CTL_ESCAPE_AUTO;

		if (e == CTL_ESCAPE_AUTO) {
			argv[n++] = argv[i];
			continue;
		}
		if (*ret != CTL_ESCAPE_AUTO && *ret != e) {
			fprintf(
			    stderr,
			    "aos-publishctl: --escape and --raw exclude each other\n");
			return false;
		}
		*ret = e;
	}
	*argc = n;
	argv[n] = NULL;
	return true;
}

int ctl_jobs(const char *sock, bool json, int timeout_s, int argc, char **argv)
{
	cJSON *req = cJSON_CreateObject();
	const char *cmd = argv[0];
	enum ctl_escape esc;
	double id = 0;
	int rc = EXIT_USAGE;

	if (ctl_has_help(argc, argv)) {
		usage(stdout);
		cJSON_Delete(req);
		return 0;
	}
	if (!escape_flags(&argc, argv, &esc))
		goto usage;

	if (strcmp(cmd, "drain") == 0 || strcmp(cmd, "resume") == 0) {
		if (!drain_request(req, cmd, argc, argv))
			goto usage;
		rc = simple(sock, json, esc, timeout_s, req,
			    strcmp(cmd, "drain") == 0 ? show_drained : show_resumed);
	} else if (strcmp(cmd, "reconcile") == 0) {
		bool dry = argc == 3 && strcmp(argv[2], "--dry-run") == 0;

		if (argc < 2 || argc > 3 || (argc == 3 && !dry) || argv[1][0] == '-')
			goto usage;
		cJSON_AddStringToObject(req, "cmd", "reconcile");
		cJSON_AddStringToObject(req, "pipeline", argv[1]);
		cJSON_AddBoolToObject(req, "dry_run", dry);
		rc = simple(sock, json, esc, timeout_s, req, show_reconcile);
	} else if (strcmp(cmd, "jobs") == 0) {
		static const struct option opts[] = {
		    {"state", required_argument, NULL, 's'},
		    {"limit", required_argument, NULL, 'l'},
		    {NULL, 0, NULL, 0},
		};
		int c;

		cJSON_AddStringToObject(req, "cmd", "jobs");
		optind = 1;
		while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
			if (c == 's')
				cJSON_AddStringToObject(req, "state", optarg);
			else if (c == 'l' && parse_id(optarg, &id))
				cJSON_AddNumberToObject(req, "limit", id);
			else
				goto usage;
		}
		if (optind != argc)
			goto usage;
		rc = simple(sock, json, esc, timeout_s, req, show_jobs);
	} else if (strcmp(cmd, "job") == 0 && argc >= 3 && parse_id(argv[2], &id)) {
		const char *sub = argv[1];
		bool follow_log = argc == 4 && strcmp(argv[3], "--follow") == 0;

		cJSON_AddNumberToObject(req, "id", id);
		if (strcmp(sub, "wait") == 0 && argc == 3) {
			cJSON_AddStringToObject(req, "cmd", "job.wait");
			rc = follow(sock, json, esc, timeout_s, req);
		} else if (strcmp(sub, "log") == 0 && (argc == 3 || follow_log)) {
			cJSON_AddStringToObject(req, "cmd", "job.log");
			if (follow_log) {
				cJSON_AddTrueToObject(req, "follow");
				rc = follow(sock, json, esc, timeout_s, req);
			} else {
				rc = simple(sock, json, esc, timeout_s, req, show_log);
			}
		} else if (argc == 3 &&
			   (strcmp(sub, "show") == 0 || strcmp(sub, "retry") == 0 ||
			    strcmp(sub, "cancel") == 0)) {
			char name[16];

			snprintf(name, sizeof(name), "job.%s", sub);
			cJSON_AddStringToObject(req, "cmd", name);
			rc = simple(sock, json, esc, timeout_s, req,
				    strcmp(sub, "show") == 0 ? show_job : show_ok);
		} else {
			goto usage;
		}
	} else {
		goto usage;
	}
	cJSON_Delete(req);
	return rc;
usage:
	usage(stderr);
	cJSON_Delete(req);
	return EXIT_USAGE;
}
