/* fuzz_control.c - libFuzzer target for control-socket requests: one
 * request line -> control_request_parse (JSON, "cmd", no NUL) ->
 * control_request_check (known command, the peer's role, the arguments and
 * the descriptors that came with it), as the daemon does for every line
 * (agent/base/control.c, agent/daemon/commands.c), without a socket.
 *
 * Input layout:
 *   byte 0   the peer.  Bits 0-1: uid 0 (root, an operator by name), uid
 *            1001 (a reader by name), uid 3003 in group 2002 (an operator
 *            through a supplementary group), or uid 65534 (no role).
 *            Bit 2: sandboxed (the daemon's uid with no_new_privs); bit 3:
 *            not identified.
 *   byte 1   the number of descriptors that came with the line (mod 70).
 *   byte 2.. the request line (up to its first newline).
 *
 * Besides ASan and UBSan, the harness aborts when what must hold does not:
 * an accepted request's command is the one named, the peer has its role
 * (and was admitted at all), descriptors come only with publish and match
 * its file names one to one, every name is a plain base name, a job id is
 * a positive whole number, and every refusal has a message.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/control.h"
#include "config/config.h"
#include "daemon/control_policy.h"

static const char config_text[] =
    "{\"state_dir\":\"/nonexistent/aos-fuzz\",\"runtime_dir\":\"/nonexistent/aos-fuzz\","
    "\"vault\":{\"address\":\"https://vault.example.test:8200\","
    "\"auth\":{\"method\":\"token\",\"token_file\":\"token\"}},"
    "\"registries\":{\"pypi\":{\"type\":\"pypi\",\"url\":\"https://pypi.example.test/legacy/\"}},"
    "\"control\":{\"operators\":[],\"readers\":[]}}";

/* Fixed ids, so the harness does not depend on the host's user database. */
static struct control_principal operators[] = {
    {false, 0, "root"},
    {true, 2002, "@release"},
};
static struct control_principal readers[] = {{false, 1001, "alice"}};

static struct config *cfg;

static void die(const char *what, const char *line)
{
	fprintf(stderr, "fuzz_control: %s (request %.200s)\n", what, line);
	abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[512];

	(void)argc;
	(void)argv;
	if (config_parse(config_text, strlen(config_text), "fuzz.json", &cfg, err,
			 sizeof(err)) != 0) {
		fprintf(stderr, "%s\n", err);
		die("the harness's configuration does not parse", "");
	}
	/* The configured lists are empty (nothing to free); the harness's own
	 * replace them. */
	cfg->control.operators = operators;
	cfg->control.noperators = 2;
	cfg->control.readers = readers;
	cfg->control.nreaders = 1;
	return 0;
}

static struct control_peer make_peer(uint8_t b)
{
	static const unsigned uids[] = {0, 1001, 3003, 65534};
	struct control_peer p = {.identified = !(b & 8),
				 .sandboxed = (b & 4) != 0,
				 .uid = uids[b & 3],
				 .pid = 77,
				 .ngroups = 1};

	p.gid = p.uid;
	p.groups[0] = p.gid;
	if ((b & 3) == 2)
		p.groups[p.ngroups++] = 2002;
	snprintf(p.name, sizeof(p.name), "uid %u", (unsigned)p.uid);
	return p;
}

/* The accepted publish's names: base names matching the descriptors. */
static void check_publish(const cJSON *req, size_t nfds, const char *line)
{
	const cJSON *f;
	size_t n = 0;

	cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(req, "files"))
	{
		const char *s = cJSON_GetStringValue(f);
		size_t i;

		if (s == NULL || s[0] == '\0' || s[0] == '.' ||
		    strlen(s) > PUBLISH_NAME_MAX)
			die("an accepted publish names a bad file", line);
		for (i = 0; s[i] != '\0'; i++)
			if (s[i] == '/' || (unsigned char)s[i] < 0x20 || s[i] == 0x7f)
				die("an accepted file name holds '/' or a control character",
				    line);
		n++;
	}
	if (n == 0 || n != nfds)
		die("an accepted publish's names and descriptors differ", line);
	if (!cJSON_IsString(cJSON_GetObjectItemCaseSensitive(req, "registry")))
		die("an accepted publish has no registry", line);
}

static void check_accepted(const struct control_command *c, const struct control_peer *p,
			   const cJSON *req, size_t nfds, const char *line)
{
	const char *name =
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(req, "cmd"));
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(req, "id");
	char msg[1200];

	if (name == NULL || strcmp(name, c->name) != 0)
		die("the accepted command is not the one named", line);
	if (!p->identified || p->sandboxed || control_role_of(cfg, p) < c->role)
		die("a peer without the role was let through", line);
	if (!control_admit(cfg, p, msg, sizeof(msg)))
		die("a request of a peer that is not admitted was let through", line);
	if (c->id == CMD_PUBLISH)
		check_publish(req, nfds, line);
	else if (nfds != 0)
		die("descriptors were let through with a command other than publish",
		    line);
	if (c->id == CMD_JOB_SHOW || c->id == CMD_JOB_LOG || c->id == CMD_JOB_WAIT ||
	    c->id == CMD_JOB_RETRY || c->id == CMD_JOB_CANCEL) {
		if (!cJSON_IsNumber(id) || id->valuedouble < 1 ||
		    id->valuedouble > 9007199254740992.0 ||
		    (double)(int64_t)id->valuedouble != id->valuedouble)
			die("a job request was let through without a valid id", line);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct control_command *c;
	struct control_peer p;
	char line[CONTROL_LINE_MAX + 1], msg[1200];
	const char *nl;
	size_t nfds, len;
	bool denied = true;
	cJSON *req;

	if (size < 2)
		return 0;
	p = make_peer(data[0]);
	nfds = data[1] % 70;
	len = size - 2;
	nl = memchr(data + 2, '\n', len);
	if (nl != NULL)
		len = (size_t)(nl - (const char *)data - 2);
	if (len > CONTROL_LINE_MAX)
		return 0; /* the socket refuses such a line before parsing */
	memcpy(line, data + 2, len);
	line[len] = '\0';
	msg[0] = '\0';
	req = control_request_parse(line, len, msg, sizeof(msg));
	if (req == NULL) {
		if (msg[0] == '\0')
			die("a line was refused without a message", line);
		return 0;
	}
	c = control_request_check(cfg, &p, req, nfds, msg, sizeof(msg), &denied);
	if (c == NULL && msg[0] == '\0')
		die("a request was refused without a message", line);
	if (c == NULL && denied && strstr(msg, " role") == NULL)
		die("a refusal for the role does not name the role", line);
	if (c != NULL && denied)
		die("an accepted request is marked denied", line);
	if (c != NULL)
		check_accepted(c, &p, req, nfds, line);
	cJSON_Delete(req);
	return 0;
}
