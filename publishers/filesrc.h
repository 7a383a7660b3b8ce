/* filesrc.h - an inspected artifact's bytes, read again for upload.
 *
 * A filesrc re-opens the file an artifact was inspected from and checks at
 * open and again at its end that it is still that file (device, inode,
 * size, modification time), so a file rebuilt or replaced between
 * inspection and upload stops the upload instead of sending bytes whose
 * digests were never computed.  And it checks the bytes themselves: the
 * CRC-32C of what was read, from the start to the end in order, must be
 * the artifact's (computed when it was inspected, or when the spool copied
 * it), so a spooled file damaged on disk stops the upload at its last
 * block, before that block is sent.  Reads are positional, so rewinding
 * for a resent request is free (the check starts again).
 */
#ifndef AOS_FILESRC_H
#define AOS_FILESRC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct artifact;
struct filesrc;

/* Opens a's file.  Returns 0 and sets *ret (free with filesrc_free), or
 * PUB_ECHANGED or -errno with errbuf naming the file.  The filesrc keeps its
 * own copy of what it needs: a may be freed first. */
int filesrc_open(const struct artifact *a, struct filesrc **ret, char *errbuf,
		 size_t errlen);

/* Reads up to n bytes at the current offset, filling buf unless the end is
 * reached.  Returns the byte count (0 at the end), or PUB_ECHANGED,
 * PUB_ECORRUPT (the bytes read are not the ones inspected) or -errno;
 * filesrc_error() then says what happened. */
ssize_t filesrc_read(struct filesrc *f, void *buf, size_t n);

/* Moves the offset (whence SEEK_SET, SEEK_CUR or SEEK_END).  Returns 0 or
 * -EINVAL for an offset outside the file. */
int filesrc_seek(struct filesrc *f, int64_t offset, int whence);

/* The file's size, the current offset, and the last error message ("" if
 * none); the strings belong to f. */
uint64_t filesrc_size(const struct filesrc *f);
uint64_t filesrc_offset(const struct filesrc *f);
const char *filesrc_error(const struct filesrc *f);

/* Closes and frees f; accepts NULL. */
void filesrc_free(struct filesrc *f);

#endif
