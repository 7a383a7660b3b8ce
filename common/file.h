/* file.h - small file-system helpers that the daemon's rooms share.
 *
 * They do not log: they return -errno and the caller decides.
 */
#ifndef AOS_FILE_H
#define AOS_FILE_H

#include <stddef.h>
#include <stdint.h>

/* Opens the folder path and fsyncs it, so that the entries just created,
 * renamed or linked in it are durable.  Returns 0 or -errno. */
int aos_fsync_dir(const char *path);

/* Removes the folder path and the files in it (one level: a subfolder is
 * left, and then so is path).  Best effort: goes on past an entry it cannot
 * remove.  Returns 0, or the -errno of the first failure (-ENOENT if path
 * does not exist). */
int aos_rm_flat_dir(const char *path);

/* The disk space path takes (blocks allocated, as du counts them): a file,
 * or a folder and everything in it, symbolic links not followed, other
 * file systems mounted inside not entered, at most 64 levels deep.
 * Entries that vanish meanwhile are skipped.  Returns 0 and *ret, or
 * -errno (-ENOENT: path does not exist). */
int aos_tree_bytes(const char *path, uint64_t *ret);

/* Writes all len bytes of buf to fd (short writes continued, EINTR
 * retried).  Returns 0 or -errno (-ENOSPC: the disk is full). */
int aos_write_all(int fd, const void *buf, size_t len);

#endif
