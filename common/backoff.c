#include <stdbool.h>
#include <sys/random.h>
#include <sys/time.h>
#include <time.h>

#include "common/backoff.h"

/* splitmix64: enough for jitter, which only needs to spread clients out. */
uint64_t aos_rand_u64(void *ctx)
{
	static uint64_t state;
	static bool seeded;
	uint64_t z;

	(void)ctx;
	if (!seeded) {
		if (getrandom(&state, sizeof(state), GRND_NONBLOCK) != sizeof(state))
			state = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&state;
		seeded = true;
	}
	z = (state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

uint64_t uniform_ms(uint64_t lo_ms, uint64_t hi_ms, rand_fn rnd, void *ctx)
{
	if (hi_ms <= lo_ms)
		return lo_ms;
	return lo_ms + rnd(ctx) % (hi_ms - lo_ms + 1);
}

uint64_t backoff_delay_ms(unsigned attempt, uint64_t min_ms, uint64_t max_ms, rand_fn rnd,
			  void *ctx)
{
	uint64_t ceil = min_ms;
	unsigned i;

	if (max_ms < min_ms)
		max_ms = min_ms;
	for (i = 0; i < attempt && ceil < max_ms; i++)
		ceil *= 2;
	if (ceil > max_ms || ceil < min_ms)
		ceil = max_ms;
	return uniform_ms(min_ms, ceil, rnd, ctx);
}

uint64_t jitter_ms(uint64_t base_ms, unsigned pct, rand_fn rnd, void *ctx)
{
	uint64_t spread = base_ms * pct / 100;

	return uniform_ms(base_ms - spread, base_ms + spread, rnd, ctx);
}

int64_t aos_wall_ms(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}
