/* sandbox.c - Landlock confinement of build steps and --run-step.
 *
 * Landlock rules only ever allow, beneath a folder.  To make a few paths
 * (the state directory, the runtime directory, the systemd credentials)
 * unreachable while everything else stays readable, the tree is carved:
 * starting at "/", every entry that is neither hidden nor above a hidden
 * path gets a read rule; an entry above one is descended into instead.
 * Write rules go on the job's work folder and the temporary folders.
 *
 * Entries are looked at with lstat() and opened with O_NOFOLLOW: a rule is
 * never put through a symbolic link (/var/run -> /run once put a read rule
 * on all of /run).  A link needs no rule of its own: what it names is
 * reached through its target's rules.  Hidden paths are also matched by
 * device and inode, and every mount point showing a hidden folder or file
 * a second time (a bind mount) is hidden too.
 *
 * Landlock holds a rule on an inode, not on a path: a read rule on a second
 * mount of /run (or of the root filesystem) is a read rule on /run itself,
 * hidden folders included.  So the folders above a hidden path are known
 * by device and inode as well: a mount point showing one adds the hidden
 * path beneath it, and wherever one shows up again it is descended into,
 * never given a rule.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <linux/landlock.h>

#include "sandbox/sandbox.h"

/* Newer rights than Debian 12's kernel headers know; their values are ABI. */
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif

#define FS_READ                                                                          \
	(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE |                     \
	 LANDLOCK_ACCESS_FS_READ_DIR)
#define FS_FILE                                                                          \
	(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_READ_FILE |                     \
	 LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_TRUNCATE)
#define FS_WRITE                                                                         \
	(LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |                 \
	 LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_MAKE_CHAR |                 \
	 LANDLOCK_ACCESS_FS_MAKE_DIR | LANDLOCK_ACCESS_FS_MAKE_REG |                     \
	 LANDLOCK_ACCESS_FS_MAKE_SOCK | LANDLOCK_ACCESS_FS_MAKE_FIFO |                   \
	 LANDLOCK_ACCESS_FS_MAKE_BLOCK | LANDLOCK_ACCESS_FS_MAKE_SYM |                   \
	 LANDLOCK_ACCESS_FS_REFER | LANDLOCK_ACCESS_FS_TRUNCATE)

#define MAX_HIDDEN 64
#define MAX_ABOVE 1024

/* A folder above hidden path number hidden; that path's rest is hidden + len. */
struct above {
	dev_t dev;
	ino_t ino;
	size_t hidden, len;
};

struct carve {
	int ruleset;
	uint64_t handled;
	char *hidden[MAX_HIDDEN]; /* given, and found again by hide_mounts() */
	size_t nhidden;
	dev_t dev[MAX_HIDDEN];
	ino_t ino[MAX_HIDDEN];
	struct above above[MAX_ABOVE];
	size_t nabove;
	int depth;
};

int sandbox_abi(void)
{
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
			   LANDLOCK_CREATE_RULESET_VERSION);

	return abi < 0 ? -errno : (int)abi;
}

static int add_rule(struct carve *c, const char *path, uint64_t access)
{
	struct landlock_path_beneath_attr pb = {0};
	struct stat st;
	int fd, r = 0;

	fd = open(path, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == EACCES || errno == ELOOP ? 0 : -errno;
	if (fstat(fd, &st) < 0 || S_ISLNK(st.st_mode)) {
		close(fd); /* never a rule through a link */
		return 0;
	}
	if (!S_ISDIR(st.st_mode))
		access &= FS_FILE; /* rules on files take file rights only */
	pb.allowed_access = access & c->handled;
	pb.parent_fd = fd;
	if (pb.allowed_access != 0 && syscall(SYS_landlock_add_rule, c->ruleset,
					      LANDLOCK_RULE_PATH_BENEATH, &pb, 0) < 0)
		r = -errno;
	close(fd);
	return r;
}

static bool is_hidden_inode(const struct carve *c, const struct stat *st)
{
	size_t i;

	for (i = 0; i < c->nhidden; i++)
		if (c->dev[i] == st->st_dev && c->ino[i] == st->st_ino)
			return true;
	return false;
}

/* True if st is a folder above a hidden path. */
static bool is_above_inode(const struct carve *c, const struct stat *st)
{
	size_t i;

	for (i = 0; i < c->nabove; i++)
		if (c->above[i].dev == st->st_dev && c->above[i].ino == st->st_ino)
			return true;
	return false;
}

/* 1 if path is a hidden one, 2 if one lies beneath it, else 0. */
static int relation(const struct carve *c, const char *path, const struct stat *st)
{
	size_t i, n = strlen(path);
	int rel = 0;

	for (i = 0; i < c->nhidden; i++) {
		const char *h = c->hidden[i];

		if (strcmp(h, path) == 0)
			return 1;
		if ((n == 1 && path[0] == '/') ||
		    (strncmp(h, path, n) == 0 && h[n] == '/'))
			rel = 2;
	}
	if (rel == 0 && st != NULL && is_hidden_inode(c, st))
		return 1;
	if (rel == 0 && st != NULL && S_ISDIR(st->st_mode) && is_above_inode(c, st))
		return 2; /* seen again through a second mount of a folder above it */
	return rel;
}

static int carve(struct carve *c, const char *dir)
{
	DIR *d;
	struct dirent *e;
	char path[PATH_MAX];
	int r = 0;

	if (++c->depth > 32)
		return -ELOOP;
	d = opendir(dir);
	if (d == NULL) {
		c->depth--;
		return 0; /* unreadable for this user anyway */
	}
	while (r == 0 && (e = readdir(d)) != NULL) {
		struct stat st;
		bool have;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s%s%s", dir, strcmp(dir, "/") ? "/" : "",
			 e->d_name);
		have = lstat(path, &st) == 0;
		if (have && S_ISLNK(st.st_mode))
			continue;
		switch (relation(c, path, have ? &st : NULL)) {
		case 1: continue;
		case 2:
			if (have && S_ISDIR(st.st_mode)) {
				r = carve(c, path);
				continue;
			}
			break;
		default: break;
		}
		r = add_rule(c, path, FS_READ);
	}
	closedir(d);
	c->depth--;
	return r;
}

/* Records every folder above hidden path i ("/" too) by device and inode.
 * Returns 0 or -E2BIG. */
static int note_above(struct carve *c, size_t i)
{
	char p[PATH_MAX];
	size_t n;

	snprintf(p, sizeof(p), "%s", c->hidden[i]);
	n = strlen(p);
	while (n > 0) {
		struct stat st;

		do
			n--;
		while (n > 0 && p[n] != '/');
		p[n > 0 ? n : 1] = '\0';
		if (lstat(p, &st) < 0 || !S_ISDIR(st.st_mode))
			continue;
		if (c->nabove == MAX_ABOVE)
			return -E2BIG;
		c->above[c->nabove++] = (struct above){st.st_dev, st.st_ino, i, n};
	}
	return 0;
}

/* Adds path (canonical; device and inode from st) to the hidden ones, if
 * it is not one already.  Returns 0, -E2BIG or -ENOMEM. */
static int add_hidden(struct carve *c, const char *path, const struct stat *st)
{
	size_t i;

	for (i = 0; i < c->nhidden; i++)
		if (strcmp(c->hidden[i], path) == 0)
			return 0;
	if (c->nhidden == MAX_HIDDEN)
		return -E2BIG;
	if ((c->hidden[c->nhidden] = strdup(path)) == NULL)
		return -ENOMEM;
	c->dev[c->nhidden] = st->st_dev;
	c->ino[c->nhidden] = st->st_ino;
	c->nhidden++;
	return note_above(c, c->nhidden - 1);
}

/* The mount point point shows a hidden folder or file again (then it is
 * hidden), or a folder above one (then the hidden path beneath it is).
 * Returns 0 or a negative errno. */
static int hide_at(struct carve *c, const char *point)
{
	char path[PATH_MAX];
	struct stat st, hs;
	size_t i, n = c->nabove;
	int r = 0;

	if (lstat(point, &st) < 0)
		return 0;
	if (is_hidden_inode(c, &st))
		return add_hidden(c, point, &st);
	for (i = 0; r == 0 && i < n; i++) {
		const struct above *a = &c->above[i];

		if (a->dev != st.st_dev || a->ino != st.st_ino ||
		    (size_t)snprintf(path, sizeof(path), "%s%s",
				     strcmp(point, "/") ? point : "",
				     c->hidden[a->hidden] + a->len) >= sizeof(path) ||
		    lstat(path, &hs) < 0)
			continue;
		r = add_hidden(c, path, &hs);
	}
	return r;
}

/* Hides what every mount point of /proc/self/mountinfo shows again (see
 * hide_at; a copy of a mount made with its parent has a line of its own).
 * Returns 0 or a negative errno. */
static int hide_mounts(struct carve *c)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[4096], point[PATH_MAX];
	int r = 0;

	if (f == NULL)
		return 0;
	while (r == 0 && fgets(line, sizeof(line), f) != NULL) {
		size_t o = 0;
		char *p;

		/* "id parent major:minor root mount-point ...": field 5, octal escapes */
		if (sscanf(line, "%*s %*s %*s %*s %4095s", point) != 1)
			continue;
		for (p = point; *p != '\0'; p++) {
			if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' && p[2] && p[3]) {
				point[o++] = (char)((p[1] - '0') * 64 + (p[2] - '0') * 8 +
						    (p[3] - '0'));
				p += 3;
			} else {
				point[o++] = *p;
			}
		}
		point[o] = '\0';
		r = hide_at(c, point);
	}
	fclose(f);
	return r;
}

int sandbox_apply(const char *const *hidden, size_t nhidden, const char *const *writable,
		  size_t nwritable, char *msg, size_t msglen)
{
	struct landlock_ruleset_attr attr = {0};
	struct carve c = {.nhidden = 0};
	int abi = sandbox_abi(), r;
	size_t i;

	if (abi < 1) {
		snprintf(msg, msglen, "the kernel offers no Landlock (%s)",
			 strerror(-abi));
		return -EOPNOTSUPP;
	}
	for (i = 0, r = 0; r == 0 && i < nhidden; i++) {
		struct stat st;

		if (lstat(hidden[i], &st) == 0) /* else nothing to hide */
			r = add_hidden(&c, hidden[i], &st);
	}
	if (r == 0)
		r = hide_mounts(&c);
	if (r < 0) {
		snprintf(msg, msglen, "cannot list the paths to hide: %s", strerror(-r));
		goto out;
	}
	c.handled = FS_READ | FS_WRITE;
	if (abi < 2)
		c.handled &= ~LANDLOCK_ACCESS_FS_REFER;
	if (abi < 3)
		c.handled &= ~LANDLOCK_ACCESS_FS_TRUNCATE;
	attr.handled_access_fs = c.handled;
	c.ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, sizeof(attr), 0);
	if (c.ruleset < 0) {
		r = -errno;
		snprintf(msg, msglen, "cannot create a Landlock ruleset: %s",
			 strerror(-r));
		goto out;
	}
	r = carve(&c, "/");
	for (i = 0; r == 0 && i < nwritable; i++)
		r = add_rule(&c, writable[i], FS_READ | FS_WRITE);
	if (r == 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		r = -errno;
	if (r == 0 && syscall(SYS_landlock_restrict_self, c.ruleset, 0) < 0)
		r = -errno;
	if (r < 0)
		snprintf(msg, msglen, "cannot apply the Landlock rules: %s",
			 strerror(-r));
	close(c.ruleset);
out:
	for (i = 0; i < c.nhidden; i++)
		free(c.hidden[i]);
	return r;
}
