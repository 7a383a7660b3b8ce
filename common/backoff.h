/* backoff.h - jittered delays for retries and timers. */
#ifndef AOS_BACKOFF_H
#define AOS_BACKOFF_H

#include <stdint.h>

/* A random source: returns 64 uniformly random bits. */
typedef uint64_t (*rand_fn)(void *ctx);

/* The default random source (seeded from getrandom(2)); ctx is ignored. */
uint64_t aos_rand_u64(void *ctx);

/* Full-jitter exponential backoff with a floor: a delay drawn uniformly from
 * [min_ms, min(max_ms, min_ms * 2^attempt)], attempt counting from 0. */
uint64_t backoff_delay_ms(unsigned attempt, uint64_t min_ms, uint64_t max_ms, rand_fn rnd,
			  void *ctx);

/* base_ms scaled by a uniform factor in [1 - pct/100, 1 + pct/100]. */
uint64_t jitter_ms(uint64_t base_ms, unsigned pct, rand_fn rnd, void *ctx);

/* A uniform draw from [lo_ms, hi_ms] (hi_ms < lo_ms returns lo_ms). */
uint64_t uniform_ms(uint64_t lo_ms, uint64_t hi_ms, rand_fn rnd, void *ctx);

/* The wall clock in Unix milliseconds (queue times are stored in these). */
int64_t aos_wall_ms(void);

#endif
