/* Unit tests for the control socket's policy (agent/daemon/control_policy.c), its
 * request parsing, the "control" configuration (agent/config/config_control.c) and
 * the identification of peers (agent/base/control_peer.c). */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "base/control.h"
#include "common/err.h"
#include "config/config.h"
#include "daemon/control_policy.h"

#define CFG_PATH "/etc/aos-publishd/config.json"
#define BASE                                                                             \
	"{\"state_dir\":\"/nonexistent\",\"runtime_dir\":\"/nonexistent\","              \
	"\"vault\":{\"address\":\"https://vault.example.test:8200\","                    \
	"\"auth\":{\"method\":\"token\",\"token_file\":\"token\"}},"                     \
	"\"registries\":{\"pypi\":{\"type\":\"pypi\",\"url\":\"https://x.test/legacy/\"}}"

static struct config *load(const char *control)
{
	char text[2048], err[512];
	struct config *cfg = NULL;

	snprintf(text, sizeof(text), "%s%s%s}", BASE, control ? ",\"control\":" : "",
		 control ? control : "");
	if (config_parse(text, strlen(text), CFG_PATH, &cfg, err, sizeof(err)) != 0)
		fail_msg("config: %s", err);
	return cfg;
}

static void expect_config_error(const char *control, const char *want)
{
	char text[2048], err[512];
	struct config *cfg = NULL;

	snprintf(text, sizeof(text), "%s,\"control\":%s}", BASE, control);
	assert_int_equal(
	    config_parse(text, strlen(text), CFG_PATH, &cfg, err, sizeof(err)),
	    AOS_ECONFIG);
	assert_null(cfg);
	if (strstr(err, want) == NULL)
		fail_msg("message \"%s\" does not contain \"%s\"", err, want);
}

static struct control_peer peer(uid_t uid, gid_t gid)
{
	struct control_peer p = {.identified = true,
				 .uid = uid,
				 .gid = gid,
				 .pid = 4242,
				 .groups = {gid},
				 .ngroups = 1};

	snprintf(p.name, sizeof(p.name), "user%u", (unsigned)uid);
	return p;
}

static const struct control_command *check(struct config *cfg,
					   const struct control_peer *p, const char *line,
					   size_t nfds, char *msg, bool *denied)
{
	cJSON *req = control_request_parse(line, strlen(line), msg, 1024);
	const struct control_command *c;

	if (req == NULL)
		fail_msg("%s: %s", line, msg);
	c = control_request_check(cfg, p, req, nfds, msg, 1024, denied);
	cJSON_Delete(req);
	return c;
}

/* ---- configuration -------------------------------------------------------- */

static void test_config_defaults(void **state)
{
	struct config *cfg = load(NULL);

	(void)state;
	assert_true(cfg->control.default_operators);
	assert_int_equal(cfg->control.max_connections, 64);
	assert_int_equal(cfg->control.noperators, 2);
	assert_false(cfg->control.operators[0].group);
	assert_int_equal(cfg->control.operators[0].id, 0);
	assert_true(cfg->control.operators[1].group);
	assert_int_equal(cfg->control.operators[1].id, getegid());
	assert_int_equal(cfg->control.nreaders, 0);
	assert_int_equal(cfg->publish.max_file_bytes, PUBLISH_MAX_FILE_BYTES);
	config_free(cfg);
}

static void test_config_names(void **state)
{
	struct config *cfg =
	    load("{\"operators\":[\"root\"],\"readers\":[\"@root\",\"nobody\"],"
		 "\"max_connections\":3}");

	(void)state;
	assert_false(cfg->control.default_operators);
	assert_int_equal(cfg->control.noperators, 1);
	assert_int_equal(cfg->control.nreaders, 2);
	assert_true(cfg->control.readers[0].group);
	assert_int_equal(cfg->control.readers[0].id, 0);
	assert_false(cfg->control.readers[1].group);
	assert_int_equal(cfg->control.readers[1].id, 65534);
	assert_int_equal(cfg->control.max_connections, 3);
	config_free(cfg);
}

static void test_config_errors(void **state)
{
	(void)state;
	expect_config_error("{\"operators\":[\"root\",\"no-such-user-aos\"]}", CFG_PATH
			    ": control.operators[1]: no user named \"no-such-user-aos\"");
	expect_config_error("{\"readers\":[\"@no-such-group-aos\"]}",
			    "control.readers[0]: no group named \"no-such-group-aos\"");
	expect_config_error("{\"readers\":\"root\"}",
			    "control.readers: expected an array");
	expect_config_error("{\"readers\":[\"@\"]}",
			    "control.readers[0]: expected a user name");
	expect_config_error("{\"readers\":[7]}",
			    "control.readers[0]: expected a user name");
	expect_config_error("{\"max_connections\":0}",
			    "control.max_connections: expected an integer");
	expect_config_error("{\"operator\":[]}", "control.operator: unknown key");
}

/* ---- roles ------------------------------------------------------------------ */

static void test_roles(void **state)
{
	struct config *cfg =
	    load("{\"operators\":[\"root\",\"@nogroup\"],\"readers\":[\"nobody\"]}");
	struct control_peer root = peer(0, 0), nobody = peer(65534, 1234);
	struct control_peer grouped = peer(4000, 4000), other = peer(4001, 4001);
	char msg[1024];

	(void)state;
	grouped.groups[grouped.ngroups++] = 65534; /* nogroup as a supplementary group */
	assert_int_equal(control_role_of(cfg, &root), CONTROL_ROLE_OPERATE);
	assert_int_equal(control_role_of(cfg, &nobody), CONTROL_ROLE_READ);
	assert_int_equal(control_role_of(cfg, &grouped), CONTROL_ROLE_OPERATE);
	assert_int_equal(control_role_of(cfg, &other), CONTROL_ROLE_NONE);
	assert_true(control_admit(cfg, &nobody, msg, sizeof(msg)));
	assert_false(control_admit(cfg, &other, msg, sizeof(msg)));
	assert_non_null(strstr(msg, "needs the read role"));
	assert_non_null(strstr(msg, "uid 4001"));
	assert_non_null(strstr(msg, "control.readers in " CFG_PATH));
	/* Not identified, or sandboxed: nothing, whatever the lists say. */
	root.sandboxed = true;
	assert_int_equal(control_role_of(cfg, &root), CONTROL_ROLE_NONE);
	assert_false(control_admit(cfg, &root, msg, sizeof(msg)));
	assert_non_null(strstr(msg, "no_new_privs"));
	root.sandboxed = false;
	root.identified = false;
	snprintf(root.why, sizeof(root.why), "SO_PEERCRED failed");
	assert_false(control_admit(cfg, &root, msg, sizeof(msg)));
	assert_non_null(strstr(msg, "SO_PEERCRED failed"));
	config_free(cfg);
}

static void test_commands_need_roles(void **state)
{
	static const char *const readers[] = {"status", "secrets", "jobs", "ping"};
	static const char *const operators[] = {"secrets.refresh", "drain", "resume"};
	struct config *cfg = load("{\"operators\":[\"root\"],\"readers\":[\"nobody\"]}");
	struct control_peer reader = peer(65534, 65534), op = peer(0, 0);
	char line[128], msg[1024];
	bool denied;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(readers) / sizeof(readers[0]); i++) {
		snprintf(line, sizeof(line), "{\"cmd\":\"%s\"}", readers[i]);
		assert_non_null(check(cfg, &reader, line, 0, msg, &denied));
	}
	for (i = 0; i < sizeof(operators) / sizeof(operators[0]); i++) {
		snprintf(line, sizeof(line), "{\"cmd\":\"%s\"}", operators[i]);
		assert_null(check(cfg, &reader, line, 0, msg, &denied));
		assert_true(denied);
		assert_non_null(strstr(msg, "needs the operate role"));
		assert_non_null(strstr(msg, "uid 65534"));
		assert_non_null(strstr(msg, "control.operators"));
		assert_non_null(check(cfg, &op, line, 0, msg, &denied));
	}
	assert_null(
	    check(cfg, &reader, "{\"cmd\":\"job.cancel\",\"id\":3}", 0, msg, &denied));
	assert_true(denied);
	/* reconcile is a known command that needs the operate role, not an
	 * unknown one (an answer that would hide a missing table entry). */
	assert_null(check(cfg, &reader, "{\"cmd\":\"reconcile\",\"pipeline\":\"p\"}", 0,
			  msg, &denied));
	assert_true(denied);
	assert_non_null(strstr(msg, "\"reconcile\" needs the operate role"));
	assert_non_null(check(cfg, &op, "{\"cmd\":\"reconcile\",\"pipeline\":\"p\"}", 0,
			      msg, &denied));
	/* A fingerprint tests a guess: operators only. */
	assert_null(check(cfg, &reader,
			  "{\"cmd\":\"secrets.fingerprint\",\"value\":\"x\"}", 0, msg,
			  &denied));
	assert_true(denied);
	assert_non_null(check(cfg, &op,
			      "{\"cmd\":\"secrets.fingerprint\",\"value\":\"x\"}", 0, msg,
			      &denied));
	assert_null(
	    check(cfg, &op, "{\"cmd\":\"secrets.fingerprint\"}", 0, msg, &denied));
	assert_non_null(strstr(msg, "needs \"value\""));
	assert_non_null(check(cfg, &reader,
			      "{\"cmd\":\"job.log\",\"id\":3,\"follow\":true}", 0, msg,
			      &denied));
	/* Unknown commands are refused whatever the role. */
	assert_null(check(cfg, &op, "{\"cmd\":\"shutdown\"}", 0, msg, &denied));
	assert_false(denied);
	assert_non_null(strstr(msg, "unknown command \"shutdown\""));
	assert_non_null(strstr(msg, "job.wait"));
	assert_non_null(strstr(msg, " reconcile")); /* every command in the known list */
	config_free(cfg);
}

static void test_arguments(void **state)
{
	static const char *const bad_ids[] = {
	    "{\"cmd\":\"job.show\"}",
	    "{\"cmd\":\"job.show\",\"id\":0}",
	    "{\"cmd\":\"job.show\",\"id\":-4}",
	    "{\"cmd\":\"job.show\",\"id\":1.5}",
	    "{\"cmd\":\"job.show\",\"id\":\"7\"}",
	    "{\"cmd\":\"job.show\",\"id\":1e300}",
	};
	struct config *cfg = load(NULL);
	struct control_peer op = peer(0, 0);
	char msg[1024];
	bool denied;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_ids) / sizeof(bad_ids[0]); i++) {
		assert_null(check(cfg, &op, bad_ids[i], 0, msg, &denied));
		assert_non_null(strstr(msg, "\"id\""));
	}
	assert_non_null(
	    check(cfg, &op, "{\"cmd\":\"job.show\",\"id\":17}", 0, msg, &denied));
	assert_null(
	    check(cfg, &op, "{\"cmd\":\"jobs\",\"state\":\"lost\"}", 0, msg, &denied));
	assert_null(
	    check(cfg, &op, "{\"cmd\":\"jobs\",\"limit\":1e300}", 0, msg, &denied));
	assert_null(check(cfg, &op, "{\"cmd\":\"job.log\",\"id\":2,\"follow\":1}", 0, msg,
			  &denied));
	assert_null(check(cfg, &op, "{\"cmd\":\"reconcile\"}", 0, msg, &denied));
	assert_non_null(strstr(msg, "\"pipeline\""));
	/* Descriptors only with publish. */
	assert_null(check(cfg, &op, "{\"cmd\":\"status\"}", 1, msg, &denied));
	assert_non_null(strstr(msg, "takes no descriptors"));
	config_free(cfg);
}

static void test_publish_arguments(void **state)
{
	/* The rest of a publish request after "registry"; descriptors sent;
	 * what the refusal must say (NULL: accepted). */
	static const struct {
		const char *rest;
		size_t nfds;
		const char *want;
	} cases[] = {
	    {"\"files\":[\"a-1.0-py3-none-any.whl\",\"a-1.0.tar.gz\"]", 2, NULL},
	    /* A path, with or without a descriptor: never opened. */
	    {"\"files\":[\"/etc/shadow\"]", 0, "not paths"},
	    {"\"files\":[\"/etc/shadow\"]", 1, "SCM_RIGHTS"},
	    {"\"files\":[\"../f.whl\"]", 1, "not paths"},
	    /* Names without descriptors, or a count that differs. */
	    {"\"files\":[\"f.whl\"]", 0, "1 file but 0 descriptors"},
	    {"\"files\":[\"f.whl\"]", 2, "1 file but 2 descriptors"},
	    {"\"files\":[]", 0, "1 to 64 file names"},
	    {"\"files\":[\".hidden.whl\"]", 1, "not starting with \".\""},
	    {"\"files\":[\"a\\u001b[31m.whl\"]", 1, "control character"},
	    {"\"files\":[\"f.whl\"],\"wait\":\"yes\"", 1,
	     "\"wait\" must be true or false"},
	    {"\"files\":[\"f.whl\"],\"tag\":7", 1, "\"tag\" must be a string"},
	};
	struct config *cfg = load(NULL);
	struct control_peer op = peer(0, 0);
	char line[512], msg[1024];
	bool denied;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct control_command *c;

		snprintf(line, sizeof(line),
			 "{\"cmd\":\"publish\",\"registry\":\"pypi\",%s}", cases[i].rest);
		c = check(cfg, &op, line, cases[i].nfds, msg, &denied);
		if (cases[i].want == NULL ? c == NULL : c != NULL)
			fail_msg("%s with %zu descriptors: %s", line, cases[i].nfds,
				 c == NULL ? msg : "accepted");
		if (cases[i].want != NULL && strstr(msg, cases[i].want) == NULL)
			fail_msg("%s: \"%s\" does not say \"%s\"", line, msg,
				 cases[i].want);
	}
	assert_null(check(cfg, &op, "{\"cmd\":\"publish\",\"files\":[\"f.whl\"]}", 1, msg,
			  &denied));
	assert_non_null(strstr(msg, "needs \"registry\""));
	config_free(cfg);
}

static void test_parse(void **state)
{
	char msg[256];
	cJSON *req;

	(void)state;
	assert_null(control_request_parse("[1]", 3, msg, sizeof(msg)));
	assert_non_null(strstr(msg, "\"cmd\" string"));
	assert_null(control_request_parse("{\"cmd\":1}", 9, msg, sizeof(msg)));
	assert_null(control_request_parse("{\"cmd\":\"st", 10, msg, sizeof(msg)));
	assert_null(
	    control_request_parse("{\"cmd\":\"status\\u0000x\"}", 23, msg, sizeof(msg)));
	assert_non_null(strstr(msg, "NUL"));
	assert_null(
	    control_request_parse("{\"cmd\":\"status\"}\0", 17, msg, sizeof(msg)));
	/* An escaped backslash followed by "u0000" is no NUL. */
	req = control_request_parse("{\"cmd\":\"a\\\\u0000\"}", 18, msg, sizeof(msg));
	assert_non_null(req);
	assert_string_equal(cJSON_GetObjectItem(req, "cmd")->valuestring, "a\\u0000");
	cJSON_Delete(req);
}

/* ---- identification of real peers ------------------------------------------ */

static int no_new_privs_now(void)
{
	return prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
}

/* A child connects to a listening socket (with no_new_privs first if asked,
 * exiting at once after connecting if asked); returns the accepted peer. */
static struct control_peer peer_of_child(bool nnp, bool exit_first)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct control_peer p;
	int lfd, cfd, sync[2];
	pid_t pid;
	char c;

	snprintf(sa.sun_path, sizeof(sa.sun_path), "/tmp/aos-test-ctl-%d.sock",
		 (int)getpid());
	unlink(sa.sun_path);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	assert_int_equal(pipe(sync), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);

		if (nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
			_exit(2);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			_exit(3);
		if (!exit_first)
			(void)read(sync[0], &c, 1); /* until the parent has looked */
		_exit(0);
	}
	cfd = accept(lfd, NULL, NULL);
	assert_true(cfd >= 0);
	if (exit_first)
		assert_int_equal(waitpid(pid, NULL, 0), pid); /* gone, and reaped */
	control_peer_identify(cfd, &p);
	assert_int_equal(write(sync[1], "x", 1), 1);
	if (!exit_first)
		assert_int_equal(waitpid(pid, NULL, 0), pid);
	close(cfd);
	close(lfd);
	close(sync[0]);
	close(sync[1]);
	unlink(sa.sun_path);
	return p;
}

static void test_identify(void **state)
{
	struct control_peer p;

	(void)state;
	if (no_new_privs_now() == 1)
		fail_msg("this test needs to start without no_new_privs");
	p = peer_of_child(false, false);
	assert_true(p.identified);
	assert_false(p.sandboxed);
	assert_int_equal(p.uid, geteuid());
	assert_int_equal(p.gid, getegid());
	assert_true(p.ngroups >= 1);
	assert_int_equal(p.groups[0], getegid());
	/* A child with no_new_privs, as every build step has. */
	p = peer_of_child(true, false);
	assert_true(p.identified);
	assert_true(p.sandboxed);
	/* A peer that is gone before it could be looked at: refused. */
	p = peer_of_child(false, true);
	assert_false(p.identified);
	assert_true(p.why[0] != '\0');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_config_defaults),
	    cmocka_unit_test(test_config_names),
	    cmocka_unit_test(test_config_errors),
	    cmocka_unit_test(test_roles),
	    cmocka_unit_test(test_commands_need_roles),
	    cmocka_unit_test(test_arguments),
	    cmocka_unit_test(test_publish_arguments),
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_identify),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
