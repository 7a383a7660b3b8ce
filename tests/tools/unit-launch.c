/* unit-launch.c - run a command inside the sandbox of a systemd unit, as far
 * as the tests need it (a test helper; never installed).
 *
 *   unit-launch [OPTION]... -- COMMAND [ARG]...
 *
 * It builds the seccomp filters the way systemd 252 does for the unit
 * (src/shared/seccomp-util.c, one filter per setting, the system call
 * filter loaded last), sets NoNewPrivileges, and then executes COMMAND:
 *
 *   --syscalls FILE    SystemCallFilter= as an allow list: the system call
 *                      names in FILE, one a line ('#' starts a comment),
 *                      groups already expanded (tests/integration/
 *                      unit_filter.py does that with `systemd-analyze
 *                      syscall-filter`).  Every other call fails with
 *                      --errno.  Names this architecture does not have are
 *                      ignored, as systemd does.  Only the native ABI is
 *                      allowed (SystemCallArchitectures=native): a call of
 *                      another ABI kills the process.
 *   --errno NAME       SystemCallErrorNumber= (EPERM, EACCES, ENOSYS or a
 *                      number; default EPERM).
 *   --namespaces LIST  RestrictNamespaces=: "yes" (none) or the kinds kept
 *                      (cgroup ipc net mnt pid user uts time, space or comma
 *                      separated).  clone, unshare and setns asking for any
 *                      other kind fail with EPERM; clone3, whose flags a
 *                      filter cannot read, fails with ENOSYS (libc then falls
 *                      back to clone).
 *   --families LIST    RestrictAddressFamilies= (an allow list, or "none"):
 *                      socket() of any other family fails with EAFNOSUPPORT.
 *   --private-users    PrivateUsers=yes: a new user namespace in which only
 *                      root and the --user ids are mapped (to themselves).
 *   --no-caps          CapabilityBoundingSet= and AmbientCapabilities= empty.
 *   --user UID:GID     User=/Group=: switch to these ids (no supplementary
 *                      groups).
 *   -v                 say what was loaded, on standard error.
 *
 * Exit status: that of COMMAND; 2 for a usage error, 1 when the sandbox
 * cannot be set up, 127 when COMMAND cannot be executed.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/capability.h>
#include <seccomp.h>

#ifndef CLONE_NEWTIME
#define CLONE_NEWTIME 0x00000080
#endif

#define MAX_NAMES 2048 /* lines of a --syscalls file */

struct opts {
	const char *syscalls;
	int err;
	bool namespaces_set;
	unsigned long ns_keep;
	bool families_set;
	bool family[AF_MAX];
	bool private_users;
	bool no_caps;
	bool user_set;
	uid_t uid;
	gid_t gid;
	bool verbose;
};

static const struct {
	const char *name;
	unsigned long flag;
} ns_kinds[] = {
    {"cgroup", CLONE_NEWCGROUP}, {"ipc", CLONE_NEWIPC},	  {"net", CLONE_NEWNET},
    {"mnt", CLONE_NEWNS},	 {"pid", CLONE_NEWPID},	  {"user", CLONE_NEWUSER},
    {"uts", CLONE_NEWUTS},	 {"time", CLONE_NEWTIME},
};
#define NS_ALL                                                                           \
	(CLONE_NEWCGROUP | CLONE_NEWIPC | CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWPID |    \
	 CLONE_NEWUSER | CLONE_NEWUTS | CLONE_NEWTIME)

static const struct {
	const char *name;
	int af;
} af_names[] = {
    {"AF_UNIX", AF_UNIX},	{"AF_INET", AF_INET},	  {"AF_INET6", AF_INET6},
    {"AF_NETLINK", AF_NETLINK}, {"AF_PACKET", AF_PACKET},
};

/* Prints why (and what, if not NULL) with the usage; returns -1. */
static int usage(const char *why, const char *what)
{
	fprintf(
	    stderr,
	    "unit-launch: %s%s%s\n"
	    "usage: unit-launch [--syscalls FILE] [--errno NAME] [--namespaces LIST]\n"
	    "                   [--families LIST] [--private-users] [--no-caps]\n"
	    "                   [--user UID:GID] [-v] -- COMMAND [ARG]...\n",
	    why, what ? ": " : "", what ? what : "");
	return -1;
}

/* Calls fn(word, arg) for each word of list (separated by spaces or commas);
 * returns the first negative result, else 0. */
static int each_word(const char *list, int (*fn)(const char *, void *), void *arg)
{
	char buf[512], *w, *save = NULL;
	int r;

	if (strlen(list) >= sizeof(buf))
		return usage("list too long", list);
	strcpy(buf, list);
	for (w = strtok_r(buf, " ,", &save); w != NULL; w = strtok_r(NULL, " ,", &save))
		if ((r = fn(w, arg)) < 0)
			return r;
	return 0;
}

static int ns_word(const char *w, void *arg)
{
	unsigned long *keep = arg;
	size_t i;

	for (i = 0; i < sizeof(ns_kinds) / sizeof(ns_kinds[0]); i++)
		if (strcmp(w, ns_kinds[i].name) == 0) {
			*keep |= ns_kinds[i].flag;
			return 0;
		}
	fprintf(stderr,
		"unit-launch: unknown namespace kind \"%s\" (expected cgroup, "
		"ipc, net, mnt, pid, user, uts or time)\n",
		w);
	return -EINVAL;
}

static int af_word(const char *w, void *arg)
{
	bool *family = arg;
	size_t i;

	if (strcmp(w, "none") == 0)
		return 0;
	for (i = 0; i < sizeof(af_names) / sizeof(af_names[0]); i++)
		if (strcmp(w, af_names[i].name) == 0) {
			family[af_names[i].af] = true;
			return 0;
		}
	fprintf(stderr, "unit-launch: unknown address family \"%s\"\n", w);
	return -EINVAL;
}

static int parse_errno(const char *s)
{
	char *end;
	long n;

	if (strcmp(s, "EPERM") == 0)
		return EPERM;
	if (strcmp(s, "EACCES") == 0)
		return EACCES;
	if (strcmp(s, "ENOSYS") == 0)
		return ENOSYS;
	n = strtol(s, &end, 10);
	return *end == '\0' && n > 0 && n < 4096 ? (int)n : -EINVAL;
}

/* An option with a value: 1 if it was understood, 0 if it is not one of
 * these, -1 after a message. */
static int parse_value(const char *a, const char *v, struct opts *o)
{
	unsigned u, g;
	char c;

	if (strcmp(a, "--syscalls") == 0) {
		o->syscalls = v;
	} else if (strcmp(a, "--errno") == 0) {
		if ((o->err = parse_errno(v)) < 0)
			return usage("--errno: expected EPERM, EACCES, ENOSYS or 1-4095",
				     v);
	} else if (strcmp(a, "--namespaces") == 0) {
		o->namespaces_set = true;
		if (strcmp(v, "yes") != 0 && each_word(v, ns_word, &o->ns_keep) < 0)
			return -1;
	} else if (strcmp(a, "--families") == 0) {
		o->families_set = true;
		if (each_word(v, af_word, o->family) < 0)
			return -1;
	} else if (strcmp(a, "--user") == 0) {
		if (sscanf(v, "%u:%u%c", &u, &g, &c) != 2)
			return usage("--user: expected UID:GID (numbers)", v);
		o->user_set = true;
		o->uid = (uid_t)u;
		o->gid = (gid_t)g;
	} else {
		return 0;
	}
	return 1;
}

/* Returns the index of "--" (the command follows it), or -1 after a message. */
static int parse(int argc, char **argv, struct opts *o)
{
	int i, r;

	o->err = EPERM;
	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--private-users") == 0)
			o->private_users = true;
		else if (strcmp(a, "--no-caps") == 0)
			o->no_caps = true;
		else if (strcmp(a, "-v") == 0)
			o->verbose = true;
		else if (i + 1 >= argc)
			return usage("unknown option, or one without its value", a);
		else if ((r = parse_value(a, argv[i + 1], o)) < 0)
			return -1;
		else if (r == 0)
			return usage("unknown option", a);
		else
			i++;
	}
	if (i + 1 >= argc)
		return usage("no command after --", NULL);
	return i;
}

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), r = 0;
	size_t n = strlen(text);

	if (fd < 0)
		return -errno;
	if (write(fd, text, n) != (ssize_t)n)
		r = -errno;
	close(fd);
	return r;
}

/* PrivateUsers=yes as systemd sets it up (setup_private_users()): a helper
 * left in the parent namespace writes the maps of the new one, in which
 * root and the service's ids map to themselves and nothing else exists. */
static int private_users(const struct opts *o)
{
	char map[128], path[64];
	int p[2], status, r = 0;
	pid_t parent = getpid(), pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	pid = fork();
	if (pid < 0) {
		r = -errno;
		goto out;
	}
	if (pid == 0) {
		char c;

		close(p[1]);
		if (read(p[0], &c, 1) != 1)
			_exit(1);
		snprintf(map, sizeof(map), "0 0 1\n%u %u 1\n", (unsigned)o->uid,
			 (unsigned)o->uid);
		snprintf(path, sizeof(path), "/proc/%d/uid_map", (int)parent);
		if (write_file(path, o->uid == 0 ? "0 0 1\n" : map) < 0)
			_exit(1);
		snprintf(map, sizeof(map), "0 0 1\n%u %u 1\n", (unsigned)o->gid,
			 (unsigned)o->gid);
		snprintf(path, sizeof(path), "/proc/%d/gid_map", (int)parent);
		_exit(write_file(path, o->gid == 0 ? "0 0 1\n" : map) < 0);
	}
	if (unshare(CLONE_NEWUSER) < 0)
		r = -errno;
	if (write(p[1], "x", 1) != 1 && r == 0)
		r = -errno;
	close(p[1]);
	p[1] = -1;
	if (waitpid(pid, &status, 0) < 0 && r == 0)
		r = -errno;
	else if (r == 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
		r = -EPERM;
out:
	close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	return r;
}

/* Empty bounding, inheritable and ambient sets: after execve() nothing is
 * left, not even for uid 0.  A process without CAP_SETPCAP cannot shrink
 * its bounding set; that is fine when it has no capability to lose. */
static int drop_caps(void)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	int cap;

	if (syscall(SYS_capget, &h, d) < 0)
		return -errno;
	for (cap = 0; prctl(PR_CAPBSET_READ, cap, 0, 0, 0) >= 0; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0 &&
		    (errno != EPERM || d[0].permitted != 0 || d[1].permitted != 0))
			return -errno;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		return -errno;
	d[0].inheritable = d[1].inheritable = 0;
	return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

static int become(const struct opts *o)
{
	if (setgroups(0, NULL) < 0 || setresgid(o->gid, o->gid, o->gid) < 0 ||
	    setresuid(o->uid, o->uid, o->uid) < 0)
		return -errno;
	return 0;
}

/* One argument comparison of a rule; libseccomp's SCMP_A0()...
 * leave datum_b out, which clang's -Wmissing-field-initializers refuses. */
static struct scmp_arg_cmp arg_cmp(unsigned int arg, enum scmp_compare op, scmp_datum_t a,
				   scmp_datum_t b)
{
	struct scmp_arg_cmp c = {.arg = arg, .op = op, .datum_a = a, .datum_b = b};

	return c;
}

/* RestrictNamespaces= (seccomp_restrict_namespaces()). */
static int load_namespaces(unsigned long keep)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	uint32_t deny = SCMP_ACT_ERRNO(EPERM);
	size_t i;
	int r;

	if (ctx == NULL)
		return -ENOMEM;
	r = seccomp_rule_add_exact(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (r == 0 && keep == 0)
		r = seccomp_rule_add_exact(ctx, deny, SCMP_SYS(setns), 0);
	else if (r == 0)
		r = seccomp_rule_add_exact(ctx, deny, SCMP_SYS(setns), 1,
					   arg_cmp(1, SCMP_CMP_EQ, 0, 0));
	for (i = 0; r == 0 && i < sizeof(ns_kinds) / sizeof(ns_kinds[0]); i++) {
		unsigned long f = ns_kinds[i].flag;

		if (keep & f)
			continue;
		r = seccomp_rule_add_exact(ctx, deny, SCMP_SYS(unshare), 1,
					   arg_cmp(0, SCMP_CMP_MASKED_EQ, f, f));
		if (r == 0)
			r = seccomp_rule_add_exact(ctx, deny, SCMP_SYS(clone), 1,
						   arg_cmp(0, SCMP_CMP_MASKED_EQ, f, f));
		if (r == 0 && keep != 0)
			r = seccomp_rule_add_exact(ctx, deny, SCMP_SYS(setns), 1,
						   arg_cmp(1, SCMP_CMP_MASKED_EQ, f, f));
	}
	if (r == 0)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	return r;
}

/* RestrictAddressFamilies= as an allow list
 * (seccomp_restrict_address_families()). */
static int load_families(const bool *family)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	uint32_t deny = SCMP_ACT_ERRNO(EAFNOSUPPORT);
	int af, first = 0, last = 0, r = 0;

	if (ctx == NULL)
		return -ENOMEM;
	for (af = 1; af < AF_MAX; af++)
		if (family[af]) {
			first = first ? first : af;
			last = af;
		}
	if (first == 0) {
		r = seccomp_rule_add_exact(ctx, deny, SCMP_SYS(socket), 0);
	} else {
		r = seccomp_rule_add_exact(ctx, deny, SCMP_SYS(socket), 1,
					   arg_cmp(0, SCMP_CMP_LT, first, 0));
		if (r == 0)
			r = seccomp_rule_add_exact(ctx, deny, SCMP_SYS(socket), 1,
						   arg_cmp(0, SCMP_CMP_GT, last, 0));
		for (af = first + 1; r == 0 && af < last; af++)
			if (!family[af])
				r = seccomp_rule_add_exact(
				    ctx, deny, SCMP_SYS(socket), 1,
				    arg_cmp(0, SCMP_CMP_EQ, af, 0));
	}
	if (r == 0)
		r = seccomp_load(ctx);
	seccomp_release(ctx);
	return r;
}

/* SystemCallFilter= (an allow list), SystemCallErrorNumber= and
 * SystemCallArchitectures=native. */
static int load_syscalls(const struct opts *o)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO((uint32_t)o->err));
	char line[128];
	unsigned n = 0, allowed = 0, unknown = 0;
	FILE *f = NULL;
	int r;

	if (ctx == NULL)
		return -ENOMEM;
	r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS);
	if (r == 0 && (f = fopen(o->syscalls, "re")) == NULL)
		r = -errno;
	while (r == 0 && fgets(line, sizeof(line), f) != NULL) {
		char *name = line + strspn(line, " \t");
		int nr;

		name[strcspn(name, " \t\r\n#")] = '\0';
		if (name[0] == '\0')
			continue;
		if (++n > MAX_NAMES) {
			fprintf(stderr, "unit-launch: %s: more than %d names\n",
				o->syscalls, MAX_NAMES);
			r = -E2BIG;
		} else if ((nr = seccomp_syscall_resolve_name(name)) == __NR_SCMP_ERROR) {
			unknown++;
			if (o->verbose)
				fprintf(stderr, "unit-launch: %s unknown here, ignored\n",
					name);
		} else if (seccomp_rule_add(ctx, SCMP_ACT_ALLOW, nr, 0) == 0) {
			allowed++;
		}
	}
	if (r == 0 && f != NULL && ferror(f))
		r = -EIO;
	if (r == 0)
		r = seccomp_load(ctx);
	if (r == 0 && o->verbose)
		fprintf(stderr,
			"unit-launch: %u system calls allowed, %u names unknown, "
			"errno %d for the rest\n",
			allowed, unknown, o->err);
	if (f != NULL)
		fclose(f);
	seccomp_release(ctx);
	return r;
}

static int fail(const char *what, int r)
{
	fprintf(stderr, "unit-launch: %s: %s\n", what, strerror(-r));
	return 1;
}

int main(int argc, char **argv)
{
	struct opts o = {0};
	int cmd, r;

	if ((cmd = parse(argc, argv, &o)) < 0)
		return 2;
	if (o.private_users && (r = private_users(&o)) < 0)
		return fail("PrivateUsers: cannot set up the user namespace", r);
	if (o.no_caps && (r = drop_caps()) < 0)
		return fail("CapabilityBoundingSet: cannot drop capabilities", r);
	if (o.user_set && (r = become(&o)) < 0)
		return fail("User: cannot switch ids", r);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return fail("NoNewPrivileges", -errno);
	if (o.families_set && (r = load_families(o.family)) < 0)
		return fail("RestrictAddressFamilies: cannot load the filter", r);
	if (o.namespaces_set && (o.ns_keep & NS_ALL) != NS_ALL &&
	    (r = load_namespaces(o.ns_keep)) < 0)
		return fail("RestrictNamespaces: cannot load the filter", r);
	if (o.syscalls != NULL && (r = load_syscalls(&o)) < 0)
		return fail(o.syscalls, r);
	execvp(argv[cmd + 1], argv + cmd + 1);
	fprintf(stderr, "unit-launch: cannot run %s: %s\n", argv[cmd + 1],
		strerror(errno));
	return 127;
}
