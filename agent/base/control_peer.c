/* control_peer.c - who is at the other end of a control connection.
 *
 * The kernel's SO_PEERCRED gives the uid, gid and pid the peer had when it
 * connected.  The groups are the uid's group list from the user database
 * (what a login of that user gets), plus the gid it runs with.
 *
 * A peer running as the daemon's own uid may be a build step: the steps run
 * as that user (under the "landlock" isolation they can connect() to the
 * socket's path: Landlock does not cover connecting to pathname sockets).
 * Every build step runs with no_new_privs set (the daemon sets it on itself
 * at start, bwrap sets it, Landlock requires it) and no process can clear
 * it, so a same-uid peer whose /proc/PID/status says "NoNewPrivs: 1" is a
 * sandboxed process and is refused.  The pid could have been reused between
 * connect() and our read of /proc; with SO_PEERPIDFD (Linux 6.5) the read
 * is confirmed afterwards by checking that the pidfd still names a live
 * process.  Whatever cannot be read is a refusal (fail closed).
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/control.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77 /* Linux 6.5; older headers lack it */
#endif

/* 1 if /proc/PID/status says NoNewPrivs: 1, 0 if 0, or -errno. */
static int read_no_new_privs(pid_t pid)
{
	char path[64], buf[4096];
	const char *at;
	ssize_t n;
	int fd;

	if (pid <= 0)
		return -ESRCH;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	at = strstr(buf, "\nNoNewPrivs:");
	if (at == NULL)
		return -ENODATA;
	at += strlen("\nNoNewPrivs:");
	at += strspn(at, " \t");
	if (*at != '0' && *at != '1')
		return -ENODATA;
	return *at == '1';
}

/* The uid's group list (and p->gid), and the user's name. */
static void peer_groups(struct control_peer *p)
{
	struct passwd pw, *pwp = NULL;
	char buf[4096];
	int n = CONTROL_PEER_GROUPS - 1;

	p->groups[0] = p->gid;
	p->ngroups = 1;
	snprintf(p->name, sizeof(p->name), "uid %u", (unsigned)p->uid);
	if (getpwuid_r(p->uid, &pw, buf, sizeof(buf), &pwp) != 0 || pwp == NULL)
		return; /* no entry: the uid and the gid it runs with only */
	snprintf(p->name, sizeof(p->name), "%s", pw.pw_name);
	/* Too many groups: the first ones only, which can only grant less. */
	if (getgrouplist(pw.pw_name, pw.pw_gid, p->groups + 1, &n) < 0)
		n = CONTROL_PEER_GROUPS - 1;
	p->ngroups = 1 + (size_t)n;
}

/* A pidfd for the peer, -ENOPROTOOPT if the kernel has none, or -errno. */
static int peer_pidfd(int fd)
{
	socklen_t len = sizeof(int);
	int pidfd = -1;

	if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0)
		return errno == EINVAL ? -ENOPROTOOPT : -errno;
	return pidfd;
}

/* A peer of the daemon's own uid: refused when sandboxed or unknowable. */
static void check_same_user(int fd, struct control_peer *p)
{
	int pidfd = peer_pidfd(fd), nnp;

	if (pidfd < 0 && pidfd != -ENOPROTOOPT) {
		snprintf(p->why, sizeof(p->why),
			 "the peer process (pid %d) cannot be "
			 "pinned: %s",
			 (int)p->pid, strerror(-pidfd));
		return;
	}
	nnp = read_no_new_privs(p->pid);
	/* The pid read above is still the peer's only if it is still alive. */
	if (pidfd >= 0 && syscall(SYS_pidfd_send_signal, pidfd, 0, NULL, 0) < 0) {
		snprintf(p->why, sizeof(p->why),
			 "the peer process (pid %d) exited while "
			 "it was being identified",
			 (int)p->pid);
		goto out;
	}
	if (nnp < 0) {
		snprintf(p->why, sizeof(p->why),
			 "cannot read /proc/%d/status of a peer "
			 "running as the daemon's own user: %s",
			 (int)p->pid, strerror(-nnp));
		goto out;
	}
	p->sandboxed = nnp == 1;
	p->identified = true;
out:
	if (pidfd >= 0)
		close(pidfd);
}

void control_peer_identify(int fd, struct control_peer *p)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	memset(p, 0, sizeof(*p));
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
	    len != sizeof(cred)) {
		snprintf(p->why, sizeof(p->why), "SO_PEERCRED failed: %s",
			 strerror(errno));
		return;
	}
	p->uid = cred.uid;
	p->gid = cred.gid;
	p->pid = cred.pid;
	peer_groups(p);
	if (p->uid == geteuid())
		check_same_user(fd, p);
	else
		p->identified = true;
}
