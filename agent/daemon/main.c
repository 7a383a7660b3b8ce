/* main.c - aos-publishd: command line and process set-up. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/crypto.h>

#include "base/log.h"
#include "base/tls.h"
#include "common/err.h"
#include "common/secret.h"
#include "common/wipe.h"
#include "daemon/agent.h"
#include "queue/queue.h"
#include "sandbox/sandbox.h"

#define EXIT_USAGE 2
#define EXIT_CONFIG 78 /* EX_CONFIG: systemd's RestartPreventExitStatus */
#define SECURE_HEAP_BYTES (256 * 1024)

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "Usage: aos-publishd [-c FILE]\n"
	    "       aos-publishd --check-config FILE\n"
	    "       aos-publishd --check-queue [-c FILE]\n"
	    "\n"
	    "Publishes releases to PyPI and npm registries with tokens held from\n"
	    "Vault/OpenBao, following their rotation without a restart.  With\n"
	    "\"listen\" and \"pipelines\" configured it also receives signed tag-push\n"
	    "webhooks (GitHub, GitLab, Gitea/Forgejo) on POST /webhook and runs the\n"
	    "matching release pipeline: checkout, build, verify, upload in order.\n"
	    "GET /metrics answers Prometheus there, or on \"metrics.address\".\n"
	    "\n"
	    "  -c, --config FILE        configuration (default /etc/aos-publishd/config.json)\n"
	    "      --check-config FILE  validate FILE, print what is wrong (every value still\n"
	    "                           holding a placeholder of the example, such as\n"
	    "                           <pypi-upload-host>, by its key), and exit\n"
	    "      --check-queue        run SQLite's full integrity check on the queue\n"
	    "                           database of the configuration (read-only, safe\n"
	    "                           while the daemon runs) and exit: 0 sound,\n"
	    "                           1 damaged or unreadable\n"
	    "  -h, --help               show this help\n"
	    "  -V, --version            show the version\n"
	    "\n"
	    "Signals: SIGTERM/SIGINT stop, SIGHUP reloads the configuration and\n"
	    "refreshes the secrets (an invalid new file is refused, the old kept).\n"
	    "Exit status: 0 clean stop, 1 runtime failure, 2 usage, 78 bad configuration.\n"
	    "The start checks the queue database only after an unclean stop\n"
	    "(quick_check); --check-queue runs the full check on demand.\n"
	    "Control it with aos-publishctl; see aos-publishd(8), aos-publishd.json(5)\n"
	    "and /usr/share/doc/aos-publishd (docs/ in the source tree).\n");
}

/* libcurl's request and receive buffers, OpenSSL's records and cJSON's
 * parsed answers may hold secrets: all three allocate through wipe.h, which
 * wipes every block freed or moved.  OpenSSL's must be set before its first
 * allocation, libcurl's before curl_global_init. */
static int install_wiping_allocators(void)
{
	static cJSON_Hooks hooks = {.malloc_fn = wipe_malloc, .free_fn = wipe_free};

	cJSON_InitHooks(&hooks);
	if (wipe_install_openssl() < 0)
		return -EBUSY;
	if (curl_global_init_mem(CURL_GLOBAL_DEFAULT, wipe_malloc, wipe_free,
				 wipe_realloc, wipe_strdup, wipe_calloc) != CURLE_OK)
		return -ENOMEM;
	return 0;
}

/* Lazy binding runs the dynamic linker's resolver at the first call of each
 * library function, and the resolver saves the vector registers on the
 * stack, where they stay: after start the scan found 40 bytes of a Vault
 * answer there (tests/integration/test_memory_scan.py).  So every symbol
 * is bound at start: the binary is linked with -z now, and the libraries
 * get LD_BIND_NOW, set here by executing this program once more. */
static void bind_now(char **argv)
{
	const char *v = getenv("LD_BIND_NOW");

	if (v != NULL && v[0] != '\0')
		return;
	if (setenv("LD_BIND_NOW", "1", 1) == 0)
		execv("/proc/self/exe", argv);
	fprintf(stderr,
		"aos-publishd: warning: cannot re-execute with LD_BIND_NOW=1 (%s); "
		"symbols are bound lazily\n",
		strerror(errno));
}

/* --check-config: listen.tls's files load, match, and are valid now. */
static int check_tls(const struct config *cfg)
{
	const struct listen_tls_cfg *t = &cfg->listen.tls;
	struct tls_ctx *ctx = NULL;
	char err[768];
	int r;

	if (t->cert_file == NULL)
		return 0;
	r = tls_ctx_load(t->cert_file, t->key_file, &ctx, NULL, err, sizeof(err));
	if (r < 0)
		fprintf(stderr, "aos-publishd: %s: listen.tls: %s\n", cfg->path, err);
	tls_ctx_unref(ctx);
	return r;
}

/* --check-queue: the full integrity check, printed on stdout. */
static int run_check_queue(struct config *cfg)
{
	char err[1024];
	int r;

	if (cfg->queue.backend == QUEUE_BACKEND_POSTGRESQL) {
		fprintf(stderr,
			"aos-publishd: --check-queue checks a SQLite queue; this "
			"configuration's queue is on PostgreSQL (check it with the "
			"server's own tools, e.g. amcheck)\n");
		config_free(cfg);
		return EXIT_USAGE;
	}
	r = queue_sqlite_check(cfg->queue.path, err, sizeof(err));
	if (r < 0)
		fprintf(stderr, "aos-publishd: %s\n", err);
	else
		printf("%s: integrity check ok\n", cfg->queue.path);
	config_free(cfg);
	return r < 0 ? 1 : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"check-config", required_argument, NULL, 'C'},
	    {"check-queue", no_argument, NULL, 'Q'},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    /* Not in --help: for tests/integration/test_config_reference.py. */
	    {"dump-config-schema", no_argument, NULL, 'S'},
	    {NULL, 0, NULL, 0},
	};
	const char *path = "/etc/aos-publishd/config.json", *check = NULL;
	bool check_queue = false;
	struct config *cfg = NULL;
	char err[1024];
	size_t live;
	int c, r;

	/* A build step being started: confine it and exec (sandbox.h). */
	if (argc > 1 && strcmp(argv[1], "--run-step") == 0)
		return sandbox_run_step(argc, argv);
	bind_now(argv);
	while ((c = getopt_long(argc, argv, "c:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c': path = optarg; break;
		case 'C': check = optarg; break;
		case 'Q': check_queue = true; break;
		case 'h': usage(stdout); return 0;
		case 'V': printf("aos-publishd %s\n", AOS_VERSION); return 0;
		case 'S': return config_dump_schema(stdout) < 0 ? 1 : 0;
		default: usage(stderr); return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "aos-publishd: unexpected argument \"%s\"\n",
			argv[optind]);
		usage(stderr);
		return EXIT_USAGE;
	}
	log_init(LOG_LVL_INFO);
	/* libcurl would write every TLS session key (Vault, registries) to
	 * this file; clear it before curl_global_init() reads it. */
	if (getenv("SSLKEYLOGFILE") != NULL) {
		unsetenv("SSLKEYLOGFILE");
		log_warn("SSLKEYLOGFILE is set in the environment: ignored (TLS keys of "
			 "Vault and registry connections are never written out)");
	}
	if (install_wiping_allocators() < 0) {
		log_err("cannot install the wiping allocators for libcurl and OpenSSL");
		return 1;
	}
	if (check != NULL) {
		r = config_load(check, &cfg, err, sizeof(err));
		if (r < 0) {
			fprintf(stderr, "aos-publishd: %s\n", err);
			return EXIT_CONFIG;
		}
		if (check_tls(cfg) < 0) {
			config_free(cfg);
			return EXIT_CONFIG;
		}
		printf("%s: configuration OK (%zu registr%s, %zu secret key%s)\n", check,
		       cfg->nregistries, cfg->nregistries == 1 ? "y" : "ies",
		       cfg->nsecret_keys, cfg->nsecret_keys == 1 ? "" : "s");
		config_free(cfg);
		return 0;
	}
	r = config_load(path, &cfg, err, sizeof(err));
	if (r < 0) {
		log_err("%s", err);
		return EXIT_CONFIG;
	}
	if (check_queue)
		return run_check_queue(cfg); /* takes cfg */
	log_set_level(cfg->log_level);
	r = secret_init_process(SECURE_HEAP_BYTES);
	if (r < 0) {
		log_err_r(r,
			  "cannot lock memory for secrets (raise LimitMEMLOCK= to at "
			  "least %d KiB)",
			  SECURE_HEAP_BYTES / 1024 * 2);
		config_free(cfg);
		return 1;
	}
	r = agent_run(cfg); /* takes cfg */
	curl_global_cleanup();
	live = secret_done_process();
	if (live != 0)
		log_warn("%zu secret(s) still allocated at exit", live);
	return r;
}
