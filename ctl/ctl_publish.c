/* ctl_publish.c - `aos-publishctl publish`: sends the files to the daemon,
 * which uploads them with its own token, and shows its progress. */
#include <errno.h>
#include <getopt.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "ctl/ctl.h"
#include "ctl/ctl_progress.h"

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: aos-publishctl [--socket PATH] [--json] [--timeout SEC] publish\n"
	    "           --registry NAME [--tag TAG] [--version V] [--dry-run] FILE...\n"
	    "\n"
	    "Queues a job for aos-publishd to upload FILEs (wheels and sdists to a\n"
	    "PyPI-style registry, npm tarballs to an npm registry) with the registry's\n"
	    "token from Vault; the token never leaves the daemon.  This command opens\n"
	    "the files and passes the open descriptors to the daemon, which never\n"
	    "opens a path of yours: it reads only what you can read, and only regular\n"
	    "files (at most publish.max_file_bytes each, 64 per request).  They are\n"
	    "copied into the daemon's spool and inspected; if one is invalid (or breaks\n"
	    "a dist-tag rule) nothing is queued.  The job id is printed once the job\n"
	    "is on disk.  The job uploads the files one at a time, in order, and is\n"
	    "retried with backoff after transient failures; a file the registry\n"
	    "already holds is never sent again.\n"
	    "\n"
	    "  -r, --registry NAME  a registry named in the daemon's configuration\n"
	    "      --tag TAG        npm dist-tag, given explicitly.  Without it:\n"
	    "                       publishConfig.tag from package.json if set, else\n"
	    "                       \"latest\" for a release and the prerelease's own\n"
	    "                       tag for a prerelease (\"beta\" for 1.0.0-beta.1,\n"
	    "                       \"rc\" for 1.0.0-rc.2, else \"next\").  \"latest\" is\n"
	    "                       refused for a prerelease, and for a release lower\n"
	    "                       than the registry's latest unless given here.\n"
	    "                       Checked before the job is queued (exit 8).\n"
	    "      --version V      refuse files whose version is not V\n"
	    "  -n, --dry-run        inspect, read the registry and show the plan: the\n"
	    "                       npm document or PyPI form fields exactly as they\n"
	    "                       would be sent (the tarball's base64 replaced by\n"
	    "                       its length and digest), and whether sending would\n"
	    "                       publish, be a no-op or a conflict; nothing sent\n"
	    "  -w, --wait           follow the job until it ends; the exit status tells\n"
	    "                       the outcome (without it: exit 0 once queued).  On a\n"
	    "                       terminal a bar per file: bytes sent, rate, time\n"
	    "                       left; otherwise a line at each quarter\n"
	    "  -k, --idempotency-key KEY  enqueuing the same KEY again returns the\n"
	    "                       existing job instead of a new one\n"
	    "  -h, --help           show this help\n"
	    "\n"
	    "--timeout is the longest wait for any word from the daemon (default 900 s).\n"
	    "--json prints the daemon's event lines as they come.\n"
	    "\n"
	    "Exit status (with --wait or --dry-run; otherwise 0 once queued):\n"
	    "   0  published (every file is on the registry, at least one sent now)\n"
	    "   5  already published: every file was there, identical\n"
	    "   6  conflict: a different file holds that name and version\n"
	    "   7  authentication: the token was refused or is missing from Vault\n"
	    "   8  invalid: a bad artifact, a version mismatch, a dist-tag rule\n"
	    "   9  rejected: the registry refused for good (e.g. body too large)\n"
	    "  10  unavailable: the registry did not answer usably after retries, or\n"
	    "      the daemon's disk is full (nothing was queued: retry later)\n"
	    "  11  canceled by an operator\n"
	    "   1  other errors, 2 usage, 3 daemon not reachable, 4 timed out\n");
}

static const char *base(const char *path)
{
	const char *s = strrchr(path, '/');

	return s != NULL ? s + 1 : path;
}

#define PLAN_VALUE_MAX 160

/* One form field: long or multi-line values (a description) cut, with
 * their length; --json shows them whole. */
static void show_field(const char *name, const char *value)
{
	size_t n = strlen(value), cut = strcspn(value, "\r\n");

	if (cut > PLAN_VALUE_MAX)
		cut = PLAN_VALUE_MAX;
	if (cut == n)
		printf("      %-24s %s\n", name, value);
	else
		printf("      %-24s %.*s... (%zu bytes)\n", name, (int)cut, value, n);
}

/* The document, indented under the plan. */
static void show_document(const cJSON *doc)
{
	char *text = cJSON_Print(doc), *line, *save = NULL;

	if (text == NULL)
		return;
	for (line = strtok_r(text, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save))
		printf("      %s\n", line);
	free(text);
}

static void show_plan(const cJSON *ev)
{
	const cJSON *fields = cJSON_GetObjectItemCaseSensitive(ev, "fields"), *p;
	const cJSON *doc = cJSON_GetObjectItemCaseSensitive(ev, "document");
	const cJSON *part = cJSON_GetObjectItemCaseSensitive(ev, "file_part");
	const cJSON *access = cJSON_GetObjectItemCaseSensitive(ev, "access");

	printf("%s: would %s %s (%s)\n", base(ctl_str(ev, "file", "?")),
	       ctl_str(ev, "method", "?"), ctl_str(ev, "url", "?"),
	       ctl_str(ev, "auth", ""));
	printf("    effect   %s\n", ctl_str(ev, "would", "?"));
	if (cJSON_GetObjectItemCaseSensitive(ev, "problem") != NULL)
		printf("    problem  %s\n", ctl_str(ev, "problem", ""));
	if (fields != NULL)
		printf("    form fields:\n");
	cJSON_ArrayForEach(p, fields)
	{
		const cJSON *n = cJSON_GetArrayItem(p, 0),
			    *val = cJSON_GetArrayItem(p, 1);

		if (cJSON_IsString(n) && cJSON_IsString(val))
			show_field(n->valuestring, val->valuestring);
	}
	if (part != NULL)
		printf("    file part \"%s\": %s (%s, %.0f bytes)\n",
		       ctl_str(part, "name", "?"), ctl_str(part, "filename", "?"),
		       ctl_str(part, "content_type", "?"), ctl_num(part, "length"));
	if (doc == NULL)
		return;
	printf("    dist-tag %s\n    access   %s\n", ctl_str(ev, "tag", "?"),
	       cJSON_IsString(access) ? access->valuestring : "null");
	printf("    document (%.0f bytes with the tarball, %s):\n",
	       ctl_num(ev, "content_length"), ctl_str(ev, "integrity", ""));
	show_document(doc);
}

static void show_event(struct ctl_progress *v, const cJSON *ev)
{
	const char *e = ctl_str(ev, "event", "");
	const char *file = base(ctl_str(ev, "file", "?"));

	if (strcmp(e, "progress") == 0) {
		ctl_progress_show(v, ev);
		return;
	}
	ctl_progress_end(v);
	if (strcmp(e, "inspected") == 0) {
		printf("%s: %s %s (%s, %.0f bytes, sha256 %s)\n", file,
		       ctl_str(ev, "name", "?"), ctl_str(ev, "version", "?"),
		       ctl_str(ev, "kind", "?"), ctl_num(ev, "size"),
		       ctl_str(ev, "sha256", "?"));
	} else if (strcmp(e, "retry") == 0) {
		printf("%s: retrying in %.1f s (attempt %.0f): %s\n", file,
		       ctl_num(ev, "in_s"), ctl_num(ev, "attempt"),
		       ctl_str(ev, "reason", ""));
	} else if (strcmp(e, "result") == 0) {
		/* The message names the file itself. */
		printf("%s\n", ctl_str(ev, "message", ""));
	} else if (strcmp(e, "plan") == 0) {
		show_plan(ev);
	} else if (strcmp(e, "queued") == 0) {
		printf("%s job %.0f; following it\n",
		       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ev, "existing"))
			   ? "already queued as"
			   : "queued as",
		       ctl_num(ev, "job_id"));
	}
}

static int exit_code(const char *outcome)
{
	static const struct {
		const char *name;
		int code;
	} map[] = {
	    {"published", 0},
	    {"dry-run", 0},
	    {"exists", EXIT_EXISTS},
	    {"conflict", EXIT_CONFLICT},
	    {"auth", EXIT_AUTH},
	    {"invalid", EXIT_INVALID},
	    {"rejected", EXIT_REJECTED},
	    {"unavailable", EXIT_UNAVAILABLE},
	    {"canceled", EXIT_CANCELED},
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(map[i].name, outcome) == 0)
			return map[i].code;
	return EXIT_FAIL;
}

/* Opens each file (never blocking: a FIFO is refused, not waited on) and
 * names it in the request; the daemon gets the descriptors, never a path,
 * so it reads only what this user could open. */
static int open_files(cJSON *req, int argc, char **argv, int *fds, size_t *nfds)
{
	cJSON *files = cJSON_AddArrayToObject(req, "files");
	struct stat st;
	int i;

	if (argc > CTL_FDS_MAX) {
		fprintf(stderr, "aos-publishctl: at most %d files per publish\n",
			CTL_FDS_MAX);
		return EXIT_USAGE;
	}
	for (i = 0; i < argc; i++) {
		int fd = open(argv[i], O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);

		if (fd < 0) {
			fprintf(stderr, "aos-publishctl: %s: %s\n", argv[i],
				strerror(errno));
			return EXIT_INVALID;
		}
		fds[(*nfds)++] = fd;
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
			fprintf(stderr, "aos-publishctl: %s: not a regular file\n",
				argv[i]);
			return EXIT_INVALID;
		}
		cJSON_AddItemToArray(files, cJSON_CreateString(base(argv[i])));
	}
	return 0;
}

int ctl_publish(const char *sock, bool json, int timeout_s, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"registry", required_argument, NULL, 'r'},
	    {"tag", required_argument, NULL, 'T'},
	    {"version", required_argument, NULL, 'v'},
	    {"dry-run", no_argument, NULL, 'n'},
	    {"wait", no_argument, NULL, 'w'},
	    {"idempotency-key", required_argument, NULL, 'k'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct ctl_progress v;
	const char *registry = NULL;
	struct ctl_conn conn = {.fd = -1};
	cJSON *req = cJSON_CreateObject(), *ans = NULL;
	char *text = NULL, *line;
	int fds[CTL_FDS_MAX];
	size_t nfds = 0, i;
	int c, rc;

	ctl_progress_init(&v, isatty(STDOUT_FILENO) && !json);
	optind = 1;
	while ((c = getopt_long(argc, argv, "r:nwk:h", opts, NULL)) != -1) {
		switch (c) {
		case 'r': registry = optarg; break;
		case 'T': cJSON_AddStringToObject(req, "tag", optarg); break;
		case 'v': cJSON_AddStringToObject(req, "version", optarg); break;
		case 'n': cJSON_AddTrueToObject(req, "dry_run"); break;
		case 'w': cJSON_AddTrueToObject(req, "wait"); break;
		case 'k': cJSON_AddStringToObject(req, "idempotency_key", optarg); break;
		case 'h':
			usage(stdout);
			rc = 0;
			goto out;
		default:
			usage(stderr);
			rc = EXIT_USAGE;
			goto out;
		}
	}
	if (registry == NULL || optind >= argc) {
		fprintf(stderr,
			"aos-publishctl publish: needs --registry NAME and at least "
			"one FILE (see --help)\n");
		rc = EXIT_USAGE;
		goto out;
	}
	cJSON_AddStringToObject(req, "cmd", "publish");
	cJSON_AddStringToObject(req, "registry", registry);
	rc = open_files(req, argc - optind, argv + optind, fds, &nfds);
	if (rc != 0)
		goto out;
	text = cJSON_PrintUnformatted(req);
	rc = ctl_open(&conn, sock);
	if (rc == 0)
		rc = ctl_send_fds(&conn, text, fds, nfds);
	for (i = 0; i < nfds; i++)
		close(fds[i]); /* the daemon has its own now */
	nfds = 0;
	while (rc == 0) {
		rc = ctl_read_line(&conn, timeout_s, &line);
		if (rc != 0)
			break;
		if (json) {
			printf("%s\n", line);
			fflush(stdout);
		}
		cJSON_Delete(ans);
		ans = cJSON_Parse(line);
		if (!cJSON_IsObject(ans)) {
			fprintf(stderr,
				"aos-publishctl: the daemon's answer is not JSON\n");
			rc = EXIT_FAIL;
			break;
		}
		if (cJSON_GetObjectItemCaseSensitive(ans, "event") != NULL) {
			if (!json)
				show_event(&v, ans);
			continue;
		}
		/* Queued, without --wait: done. */
		if (cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(ans, "job_id")) &&
		    cJSON_GetObjectItemCaseSensitive(ans, "outcome") == NULL) {
			if (!json)
				printf("%s job %.0f\n",
				       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
					   ans, "existing"))
					   ? "already queued as"
					   : "queued as",
				       ctl_num(ans, "job_id"));
			rc = 0;
			break;
		}
		/* The final answer. */
		ctl_progress_end(&v);
		if (cJSON_GetObjectItemCaseSensitive(ans, "outcome") == NULL) {
			fprintf(stderr, "aos-publishctl: %s\n",
				ctl_str(ans, "error", "unknown error"));
			rc = EXIT_FAIL;
			break;
		}
		rc = exit_code(ctl_str(ans, "outcome", ""));
		if (!json && rc == 0)
			printf("%s: %s\n", registry,
			       strcmp(ctl_str(ans, "outcome", ""), "dry-run") == 0
				   ? "dry run: every file is valid, nothing was sent"
				   : "published");
		else if (!json && rc == EXIT_EXISTS)
			ctl_progress_exists_line(&v, registry);
		else if (rc != 0)
			fprintf(stderr, "aos-publishctl: %s\n",
				ctl_str(ans, "error", "publish failed"));
		break;
	}
out:
	for (i = 0; i < nfds; i++)
		close(fds[i]);
	ctl_close(&conn);
	cJSON_Delete(ans);
	cJSON_Delete(req);
	free(text);
	return rc;
}
