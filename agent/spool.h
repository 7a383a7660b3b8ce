/* spool.h - enqueuing a publish: the files are copied into the spool (so a
 * later change to dist/ cannot change the job), inspected there, and the
 * job is committed; the client gets the job id only after the commit. */
#ifndef AOS_SPOOL_H
#define AOS_SPOOL_H

#include <stdbool.h>
#include <stddef.h>

struct agent;
struct control_conn;
struct publish_request;

/* Starts enqueuing r for the client c; answers c when the job is committed
 * (or refused).  idem_key may be NULL (then the registry, the files'
 * digests and the tag make the key).  With wait, c gets a "queued" event
 * and then follows the job to its end (worker_follow).  Returns 0, or a
 * negative code with msg set (nothing started). */
int spool_enqueue(struct agent *a, struct control_conn *c,
		  const struct publish_request *r, const char *idem_key, bool wait,
		  char *msg, size_t msglen);

/* Copies src to dst (created 0640, must not exist), fsync'ed, with its
 * SHA-256 in sha (hex).  Returns 0 or -errno with msg naming the file. */
int spool_copy_file(const char *src, const char *dst, char sha[65], char *msg,
		    size_t msglen);

/* fsync()s a folder (after creating or renaming in it); errors ignored. */
void spool_fsync_dir(const char *path);

#endif
