/* ctl.c - aos-publishctl, the operator's command line. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "ctl/ctl.h"

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: aos-publishctl [OPTIONS] COMMAND\n"
	    "\n"
	    "Commands:\n"
	    "  status             daemon state, Vault health and secret versions\n"
	    "  secrets            the secret keys: version, time written, fingerprint\n"
	    "  secrets refresh    check Vault now and wait for the result\n"
	    "  secrets fingerprint  the fingerprint of the value on standard input\n"
	    "                     (compare with `secrets`; never an argument)\n"
	    "  secrets check KEY  check the value on standard input with every registry\n"
	    "                     using KEY before it is written to Vault (exit 7 if\n"
	    "                     one refuses it; rotate_secret.sh --verify uses it)\n"
	    "  publish --registry NAME [--wait] [--dry-run] FILE...\n"
	    "                     queue an upload of wheels/sdists or npm tarballs\n"
	    "                     (see `aos-publishctl publish --help`)\n"
	    "  jobs [--state S] [--limit N]   list jobs, newest first\n"
	    "  job show|log|retry|cancel ID   one job (log takes --follow)\n"
	    "                     job commands take --escape or --raw: build output's\n"
	    "                     control characters are shown escaped on a terminal\n"
	    "                     (--escape: always, --raw: never; see `job --help`)\n"
	    "  job wait ID        follow a job until it ends (exit 1 unless it succeeded),\n"
	    "                     with the upload's progress as publish --wait shows it\n"
	    "  drain | resume [--host NAME | --this-host]\n"
	    "                     stop / restart starting new jobs: on every host\n"
	    "                     sharing the queue, or on one (see `drain --help`)\n"
	    "  reconcile PIPELINE [--dry-run]\n"
	    "                     queue the tags whose version a target registry lacks\n"
	    "  prune [--dry-run]  remove the jobs that ended over queue.retention_days\n"
	    "                     ago, with their logs and spooled files (the daemon\n"
	    "                     also does it hourly); --dry-run shows what would go\n"
	    "\n"
	    "Options:\n"
	    "  -s, --socket PATH  control socket (default $AOS_PUBLISHCTL_SOCKET or\n"
	    "                     /run/aos-publishd/control.sock)\n"
	    "  -j, --json         print the daemon's JSON answer\n"
	    "  -t, --timeout SEC  give up after SEC seconds (default 30)\n"
	    "  -h, --help         show this help\n"
	    "  -V, --version      show the version\n"
	    "\n"
	    "The daemon identifies you (your uid and groups) and answers by role:\n"
	    "read (status, secrets, jobs, job show/log/wait) or operate (everything\n"
	    "else); see control.operators and control.readers in the daemon's\n"
	    "configuration.  A refusal says which role is needed and what to change.\n"
	    "\n"
	    "Exit status: 0 success, 1 the daemon reported an error, 2 usage,\n"
	    "3 daemon not reachable, 4 timed out; publish adds 5 to 10 (see its\n"
	    "--help; 10 also when the daemon's disk is full).  Secret values are never shown.  See aos-publishctl(1).\n");
}

static void print_secrets(const cJSON *arr)
{
	const cJSON *e;

	printf("%-24s %-8s %-12s %-8s %s\n", "KEY", "VERSION", "FINGERPRINT", "IN USE",
	       "WRITTEN");
	cJSON_ArrayForEach(e, arr)
	{
		if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "present"))) {
			printf("%-24s %-8s\n", ctl_str(e, "key", "?"), "missing");
			continue;
		}
		printf("%-24s %-8.0f %-12s %-8.0f %s\n", ctl_str(e, "key", "?"),
		       ctl_num(e, "version"), ctl_str(e, "fingerprint", "?"),
		       ctl_num(e, "in_use"), ctl_str(e, "created_time", ""));
	}
}

/* Each registry's token check (the daemon's token_check.c), one line each,
 * its warnings on the next. */
static void print_tokens(const cJSON *arr)
{
	const cJSON *t;

	cJSON_ArrayForEach(t, arr)
	{
		const cJSON *acct = cJSON_GetObjectItemCaseSensitive(t, "account");
		const cJSON *w = cJSON_GetObjectItemCaseSensitive(t, "warnings");

		printf("Token:      %s %s v%.0f: %s%s%s\n", ctl_str(t, "registry", "?"),
		       ctl_str(t, "key", "?"), ctl_num(t, "version"),
		       ctl_str(t, "state", "?"), cJSON_IsString(acct) ? ", account " : "",
		       cJSON_IsString(acct) ? acct->valuestring : "");
		if (cJSON_IsString(w))
			printf("            warning: %s\n", w->valuestring);
	}
}

static void print_queue(const cJSON *q)
{
	const cJSON *d = cJSON_GetObjectItemCaseSensitive(q, "depth");
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(q, "depth_error");

	if (cJSON_IsString(e))
		printf("Queue:      cannot be read: %s\n", e->valuestring);
	if (d == NULL)
		return;
	printf("Queue:      %.0f queued, %.0f running, %.0f failed (retrying), "
	       "%.0f dead, %.0f succeeded, %.0f canceled%s\n",
	       ctl_num(d, "queued"), ctl_num(d, "running"), ctl_num(d, "failed"),
	       ctl_num(d, "dead"), ctl_num(d, "succeeded"), ctl_num(d, "canceled"),
	       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(q, "draining"))
		   ? "; draining"
		   : "");
	if (cJSON_GetObjectItemCaseSensitive(q, "drained") != NULL)
		ctl_print_drains(cJSON_GetObjectItemCaseSensitive(q, "drained"));
}

/* The queue's database: the SQLite file, or the PostgreSQL server with
 * the user and credentials of now. */
static void print_queue_db(const cJSON *q)
{
	const char *backend = ctl_str(q, "backend", "sqlite");

	if (strcmp(backend, "postgresql") != 0) {
		printf("Database:   SQLite %s; this daemon is %s\n",
		       ctl_str(q, "database", "?"), ctl_str(q, "host_name", "?"));
		return;
	}
	printf("Database:   PostgreSQL %s, database %s, user %s (%s%s%s), LISTEN %s; "
	       "this daemon is %s\n",
	       ctl_str(q, "server", "?"), ctl_str(q, "database", "?"),
	       ctl_str(q, "user", "?"), ctl_str(q, "credentials", "?"),
	       cJSON_GetObjectItemCaseSensitive(q, "password_fingerprint") != NULL
		   ? ", password fingerprint "
		   : "",
	       ctl_str(q, "password_fingerprint", ""),
	       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(q, "listening")) ? "on"
									      : "off",
	       ctl_str(q, "host_name", "?"));
}

static void print_webhooks(const cJSON *w)
{
	if (w == NULL)
		return;
	printf("Webhooks:   %s, %.0f connection(s); %.0f accepted, %.0f duplicate, "
	       "%.0f ignored, %.0f refused, %.0f unavailable\n",
	       ctl_str(w, "address", "?"), ctl_num(w, "connections"),
	       ctl_num(w, "accepted"), ctl_num(w, "duplicates"), ctl_num(w, "ignored"),
	       ctl_num(w, "rejected"), ctl_num(w, "unavailable"));
}

static void print_builds(const cJSON *b)
{
	if (b == NULL)
		return;
	printf("Builds:     %s%s\n",
	       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "available"))
		   ? ""
		   : "UNAVAILABLE: ",
	       ctl_str(b, "description", "?"));
}

static void print_status(const cJSON *o)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "vault");
	const cJSON *next = cJSON_GetObjectItemCaseSensitive(v, "next_attempt_in_s");

	printf("aos-publishd %s (pid %.0f), up %.0f s: %s\n", ctl_str(o, "version", "?"),
	       ctl_num(o, "pid"), ctl_num(o, "uptime_s"), ctl_str(o, "state", "?"));
	printf("Vault:      %s (%s), %s, token TTL %.0f s%s\n",
	       ctl_str(v, "address", "?"), ctl_str(v, "auth_method", "?"),
	       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "healthy"))
		   ? "healthy"
		   : "NOT healthy",
	       ctl_num(v, "token_ttl_s"),
	       cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(v, "token_renewable"))
		   ? ", renewable"
		   : "");
	printf("Secret:     %s version %.0f", ctl_str(v, "kv", "?"),
	       ctl_num(v, "kv_version"));
	if (cJSON_IsNumber(next))
		printf(", next check in %.0f s", next->valuedouble);
	printf(
	    "\nRequests:   %.0f (logins %.0f, renewals %.0f, failures in a row %.0f)\n",
	    ctl_num(v, "requests"), ctl_num(v, "logins"), ctl_num(v, "renewals"),
	    ctl_num(v, "consecutive_failures"));
	if (strcmp(ctl_str(o, "state", ""), "starting") == 0)
		printf("Waiting:    %s\n",
		       ctl_str(v, "last_error", "for Vault's first answer"));
	else if (ctl_str(v, "last_error", NULL) != NULL)
		printf("Last error: %s\n", ctl_str(v, "last_error", ""));
	if (ctl_str(v, "missing_keys", NULL) != NULL)
		printf("Missing:    %s\n", ctl_str(v, "missing_keys", ""));
	print_queue(cJSON_GetObjectItemCaseSensitive(o, "queue"));
	print_queue_db(cJSON_GetObjectItemCaseSensitive(o, "queue"));
	print_webhooks(cJSON_GetObjectItemCaseSensitive(o, "webhooks"));
	print_builds(cJSON_GetObjectItemCaseSensitive(o, "build_isolation"));
	ctl_print_disk(cJSON_GetObjectItemCaseSensitive(o, "disk"));
	print_tokens(cJSON_GetObjectItemCaseSensitive(o, "tokens"));
	printf("\n");
	print_secrets(cJSON_GetObjectItemCaseSensitive(o, "secrets"));
}

/* status and secrets: answered here, not by a command module. */
static bool simple_command(const char *cmd)
{
	return strcmp(cmd, "status") == 0 || strcmp(cmd, "secrets") == 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, 's'},  {"json", no_argument, NULL, 'j'},
	    {"timeout", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},       {NULL, 0, NULL, 0},
	};
	const char *sock = getenv("AOS_PUBLISHCTL_SOCKET");
	const char *cmd;
	bool timeout_set = false;
	char *answer = NULL, *end;
	bool json = false;
	int timeout_s = 30, c, rc;
	cJSON *o;

	if (sock == NULL || sock[0] == '\0')
		sock = "/run/aos-publishd/control.sock";
	while ((c = getopt_long(argc, argv, "+s:jt:hV", opts, NULL)) != -1) {
		switch (c) {
		case 's': sock = optarg; break;
		case 'j': json = true; break;
		case 't':
			timeout_s = (int)strtol(optarg, &end, 10);
			timeout_set = true;
			if (*end != '\0' || timeout_s <= 0 || timeout_s > 86400) {
				fprintf(stderr,
					"aos-publishctl: --timeout: expected seconds "
					"from 1 to 86400, got \"%s\"\n",
					optarg);
				return EXIT_USAGE;
			}
			break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("aos-publishctl %s\n", AOS_VERSION); return 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[optind], "publish") == 0)
		return ctl_publish(sock, json, timeout_set ? timeout_s : 900,
				   argc - optind, argv + optind);
	if (strcmp(argv[optind], "jobs") == 0 || strcmp(argv[optind], "job") == 0 ||
	    strcmp(argv[optind], "drain") == 0 || strcmp(argv[optind], "resume") == 0 ||
	    strcmp(argv[optind], "reconcile") == 0)
		return ctl_jobs(sock, json, timeout_set ? timeout_s : 3600, argc - optind,
				argv + optind);
	if (strcmp(argv[optind], "prune") == 0)
		return ctl_prune(sock, json, timeout_set ? timeout_s : 600, argc - optind,
				 argv + optind);
	if (simple_command(argv[optind]) && ctl_has_help(argc - optind, argv + optind)) {
		usage(stdout); /* the one help of status and secrets */
		return 0;
	}
	if (strcmp(argv[optind], "secrets") == 0 && argc - optind == 2 &&
	    strcmp(argv[optind + 1], "fingerprint") == 0)
		return ctl_fingerprint(sock, json, timeout_s, NULL);
	if (strcmp(argv[optind], "secrets") == 0 && argc - optind == 3 &&
	    strcmp(argv[optind + 1], "check") == 0)
		return ctl_fingerprint(sock, json, timeout_s, argv[optind + 2]);
	if (strcmp(argv[optind], "status") == 0 && argc - optind == 1)
		cmd = "{\"cmd\":\"status\"}";
	else if (strcmp(argv[optind], "secrets") == 0 && argc - optind == 1)
		cmd = "{\"cmd\":\"secrets\"}";
	else if (strcmp(argv[optind], "secrets") == 0 && argc - optind == 2 &&
		 strcmp(argv[optind + 1], "refresh") == 0)
		cmd = "{\"cmd\":\"secrets.refresh\"}";
	else if (simple_command(argv[optind])) {
		fprintf(stderr, "aos-publishctl %s: unexpected \"%s\" (see --help)\n",
			argv[optind], argv[optind + 1]);
		return EXIT_USAGE;
	} else {
		fprintf(stderr, "aos-publishctl: unknown command \"%s\" (see --help)\n",
			argv[optind]);
		return EXIT_USAGE;
	}
	rc = ctl_exchange(sock, cmd, timeout_s, &answer);
	if (rc != 0)
		return rc;
	o = cJSON_Parse(answer);
	if (!cJSON_IsObject(o)) {
		fprintf(stderr, "aos-publishctl: the daemon's answer is not JSON\n");
		rc = EXIT_FAIL;
		goto out;
	}
	rc = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "ok")) ? 0 : EXIT_FAIL;
	if (json) {
		printf("%s\n", answer);
	} else if (rc != 0) {
		fprintf(stderr, "aos-publishctl: %s\n",
			ctl_str(o, "error", "unknown error"));
	} else if (strstr(cmd, "status") != NULL) {
		print_status(o);
	} else {
		const cJSON *ch = cJSON_GetObjectItemCaseSensitive(o, "changed");

		printf("Secret version %.0f", ctl_num(o, "kv_version"));
		if (cJSON_IsArray(ch)) {
			const cJSON *k;

			printf(", changed:");
			if (cJSON_GetArraySize(ch) == 0)
				printf(" nothing");
			cJSON_ArrayForEach(k, ch)
			    printf(" %s", cJSON_IsString(k) ? k->valuestring : "?");
		}
		printf("\n\n");
		print_secrets(cJSON_GetObjectItemCaseSensitive(o, "secrets"));
	}
	if (json && rc != 0)
		fprintf(stderr, "aos-publishctl: %s\n",
			ctl_str(o, "error", "unknown error"));
out:
	cJSON_Delete(o);
	free(answer);
	return rc;
}
