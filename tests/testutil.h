/*
 * testutil.h - small helpers shared by the Check suites.
 */
#ifndef MLIP_TESTUTIL_H
#define MLIP_TESTUTIL_H

#include <stdint.h>
#include <stdlib.h>

/* Where the tests find the shared mlearn data (set by the Makefile or env). */
static inline const char *test_mlearn_dir(void)
{
	const char *d = getenv("MLIP_MLEARN_DIR");
	return d ? d : "../shared/data/mlearn";
}

/* A small deterministic generator for random geometries (splitmix64). */
static inline uint64_t test_rand_u64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static inline double test_rand_unif(uint64_t *state)
{
	return (double)(test_rand_u64(state) >> 11) * (1.0 / 9007199254740992.0);
}

#endif
