/* crc32c.h - CRC-32C (Castagnoli), the cheap check of a spooled file's
 * bytes as they are sent (filesrc.c): SSE4.2's crc32 instruction where the
 * CPU has it (about 8 bytes per 3 cycles), a table otherwise.  It detects
 * damage (every burst of up to 32 bits, all but 1 in 2^32 other changes),
 * not a deliberate change: the digests a registry checks stay SHA-2. */
#ifndef AOS_CRC32C_H
#define AOS_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* The CRC of p[0..n) continued from crc (0 to start).  Returns it. */
uint32_t crc32c_update(uint32_t crc, const void *p, size_t n);

#endif
