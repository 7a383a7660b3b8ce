/* writer_internal.h - what the unit tests of writer.c reach beyond
 * writer.h. */
#ifndef AOS_WRITER_INTERNAL_H
#define AOS_WRITER_INTERNAL_H

#include <stdint.h>

struct writer;

/* After a failed open, batches fail at once for ms milliseconds (5000 by
 * default) before the next open. */
void writer__set_backoff(struct writer *w, uint64_t ms);

#endif
