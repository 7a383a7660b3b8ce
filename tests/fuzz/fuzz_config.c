/* fuzz_config.c - libFuzzer target for the configuration: the input is a
 * configuration file's bytes, read by config_parse() (what config_load()
 * and a reload call once the file is read) twice: with no Vault variables
 * in the environment, and with BAO_ADDR, VAULT_NAMESPACE, BAO_CACERT and
 * VAULT_CAPATH set, which override the file.  An accepted configuration is
 * then looked up the way the daemon does (registries by a pipeline's
 * targets, pipelines by name, tag patterns against a tag).
 *
 * Besides the sanitizers, the harness aborts when: a refusal has no
 * AOS_ECONFIG code or no message naming the file; an accepted configuration
 * breaks what the rest of the daemon relies on: registry URLs that the
 * URL policy refuses, a PyPI registry without an index URL, a token key
 * missing from the Vault keys or the keys repeated, a pipeline whose target
 * is no registry, whose tag pattern has not exactly one '*', whose steps
 * have no argv or an argv not NULL-terminated, whose globs or folders leave
 * the checkout, a listener without host and port, a control socket path
 * too long for a Unix socket.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/err.h"
#include "config/config.h"
#include "pipeline/pipeline.h"
#include "tests/fuzz/fuzz_util.h"

#define TARGET "fuzz_config"
#define FILE_NAME "/etc/aos-publishd/fuzz.json"

static const char *const env_names[] = {
    "BAO_ADDR",		 "VAULT_ADDR",	   "BAO_NAMESPACE", "VAULT_NAMESPACE",
    "BAO_CACERT",	 "VAULT_CACERT",   "BAO_CAPATH",    "VAULT_CAPATH",
    "RUNTIME_DIRECTORY", "STATE_DIRECTORY"};

static void clear_env(void)
{
	size_t i;

	for (i = 0; i < sizeof(env_names) / sizeof(env_names[0]); i++)
		unsetenv(env_names[i]);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fz_init();
	clear_env();
	return 0;
}

static void die(const char *what)
{
	fz_die(TARGET, what);
}

static bool has_key(const struct config *c, const char *key)
{
	size_t i, n = 0;

	for (i = 0; i < c->nsecret_keys; i++)
		n += strcmp(c->secret_keys[i], key) == 0;
	return n == 1;
}

static void check_registries(const struct config *c)
{
	size_t i, k;

	for (i = 0; i < c->nsecret_keys; i++)
		for (k = i + 1; k < c->nsecret_keys; k++)
			if (strcmp(c->secret_keys[i], c->secret_keys[k]) == 0)
				die("a Vault key listed twice");
	for (i = 0; i < c->nregistries; i++) {
		const struct registry_cfg *r = &c->registries[i];

		if (r->name == NULL || r->url == NULL || !config_url_allowed(r->url) ||
		    (r->type != REGISTRY_PYPI && r->type != REGISTRY_NPM))
			die("a registry without a name, type or allowed URL");
		if (r->type == REGISTRY_PYPI &&
		    (r->index_url == NULL || !config_url_allowed(r->index_url)))
			die("a PyPI registry without an allowed index URL");
		if (r->token_key == NULL || !has_key(c, r->token_key) ||
		    r->username == NULL)
			die("a registry's token key is not among the Vault keys");
		if (config_registry(c, r->name) != r)
			die("two registries of one name");
	}
	for (i = 0; i < FORGE__COUNT; i++)
		if (c->webhook_keys[i] != NULL && !has_key(c, c->webhook_keys[i]))
			die("a webhook key is not among the Vault keys");
}

static void check_steps(const struct step_cfg *s, size_t n)
{
	size_t i, k;

	for (i = 0; i < n; i++) {
		if (s[i].argv == NULL || s[i].argc == 0 || s[i].argv[s[i].argc] != NULL ||
		    s[i].display == NULL)
			die("a step without argv, or argv not NULL-terminated");
		for (k = 0; k < s[i].argc; k++)
			if (s[i].argv[k] == NULL || s[i].argv[k][0] == '\0')
				die("an empty argv string");
	}
}

/* A tag the pattern gives version 1.2.3 for is decided with that version. */
static void check_pattern(const char *pattern)
{
	const char *star = strchr(pattern, '*');
	char tag[512], ver[128];

	if (star == NULL || strchr(star + 1, '*') != NULL)
		die("a tag pattern without exactly one '*'");
	if (strlen(pattern) > 400)
		return;
	snprintf(tag, sizeof(tag), "%.*s1.2.3%s", (int)(star - pattern), pattern,
		 star + 1);
	if (!pipeline_tag_version(pattern, tag, ver, sizeof(ver)) ||
	    strcmp(ver, "1.2.3") != 0)
		die("a pipeline's pattern does not give the version of its own tag");
}

static void check_pipelines(const struct config *c)
{
	size_t i, k;

	for (i = 0; i < c->npipelines; i++) {
		const struct pipeline_cfg *p = &c->pipelines[i];

		if (p->name == NULL || config_pipeline(c, p->name) != p)
			die("a pipeline without a name, or two of one name");
		if (p->repository == NULL || p->repository_name == NULL ||
		    p->tag_pattern == NULL || p->package == NULL ||
		    p->directory == NULL || p->nbuild == 0 || p->nartifacts == 0 ||
		    p->ntargets == 0)
			die("a pipeline without a required part");
		check_pattern(p->tag_pattern);
		check_steps(p->build, p->nbuild);
		check_steps(p->verify, p->nverify);
		if (p->directory[0] == '/' || strstr(p->directory, "..") != NULL)
			die("a pipeline folder outside the checkout");
		for (k = 0; k < p->nartifacts; k++)
			if (p->artifacts[k][0] == '/' ||
			    strstr(p->artifacts[k], "..") != NULL)
				die("an artifact glob outside the folder");
		for (k = 0; k < p->ntargets; k++)
			if (config_registry(c, p->targets[k]) == NULL)
				die("a target that is no registry");
		for (k = 0; k < p->nenv; k++)
			if (p->env[k] == NULL || strchr(p->env[k], '=') == NULL ||
			    strncmp(p->env[k], "HOME=", 5) == 0)
				die("an environment entry without '=', or HOME");
		for (k = 0; k < p->nwritable; k++)
			if (p->writable[k][0] != '/')
				die("a writable folder that is not absolute");
	}
}

static void check_accepted(const struct config *c)
{
	if (c->vault.address == NULL || !config_url_allowed(c->vault.address))
		die("a Vault address the URL policy refuses");
	if ((c->vault.method == AUTH_TOKEN && c->vault.token_file == NULL) ||
	    (c->vault.method == AUTH_APPROLE &&
	     (c->vault.role_id_file == NULL || c->vault.secret_id_file == NULL ||
	      c->vault.mount == NULL)))
		die("Vault credentials without their files");
	if (c->control_socket == NULL || strlen(c->control_socket) >= 100 ||
	    c->state_dir == NULL || c->runtime_dir == NULL || c->queue.path == NULL ||
	    c->queue.spool_dir == NULL || c->work_dir == NULL)
		die("a required path is missing, or the control socket path is too long");
	if (c->listen.address != NULL &&
	    (c->listen.host == NULL || c->listen.port < 0 || c->listen.port > 65535))
		die("a listener without host and port");
	if (c->vault.backoff_max_ms < c->vault.backoff_min_ms ||
	    c->queue.backoff_max_ms < c->queue.backoff_min_ms ||
	    c->publish.backoff_max_ms < c->publish.backoff_min_ms)
		die("a backoff whose maximum is below its minimum");
	check_registries(c);
	check_pipelines(c);
}

static void parse(const char *text, size_t len)
{
	struct config *c = NULL;
	char err[1024];
	int r;

	memset(err, 'X', sizeof(err));
	r = config_parse(text, len, FILE_NAME, &c, err, sizeof(err));
	if (fz_verbose)
		fprintf(stderr, "%s: %d %s\n", TARGET, r, r < 0 ? err : "accepted");
	if (r == 0) {
		check_accepted(c);
		config_free(c);
		return;
	}
	if (r != AOS_ECONFIG && r != -ENOMEM)
		die("a refusal without AOS_ECONFIG");
	if (memchr(err, '\0', sizeof(err)) == NULL ||
	    strncmp(err, FILE_NAME ": ", strlen(FILE_NAME) + 2) != 0)
		die("a refusal's message does not start with the file's name");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fz_copy(data, size);

	parse(text, size);
	setenv("BAO_ADDR", "http://127.0.0.1:8200", 1);
	setenv("VAULT_NAMESPACE", "fuzz", 1);
	setenv("BAO_CACERT", "/etc/ssl/fuzz.pem", 1);
	setenv("VAULT_CAPATH", "/etc/ssl/certs", 1);
	parse(text, size);
	clear_env();
	free(text);
	return 0;
}
