/*
 * rng.h - a small, fast, reproducible random number generator (xoshiro256**
 * seeded through splitmix64). The same seed gives the same stream on every
 * platform, which is what makes shuffles, splits and initialisation
 * reproducible and resumable (the state is four integers to checkpoint).
 */
#ifndef MLIP_RNG_H
#define MLIP_RNG_H

#include <stddef.h>
#include <stdint.h>

struct mlip_rng {
	uint64_t s[4];
};

/* Seed from one integer; streams for (seed, a, b) are independent via mlip_rng_seed2. */
void mlip_rng_seed(struct mlip_rng *r, uint64_t seed);
void mlip_rng_seed2(struct mlip_rng *r, uint64_t seed, uint64_t stream);

uint64_t mlip_rng_u64(struct mlip_rng *r);

/* Uniform double in [0, 1) with 53 random bits. */
double mlip_rng_uniform(struct mlip_rng *r);

/* Uniform integer in [0, n) without modulo bias; n > 0. */
uint64_t mlip_rng_below(struct mlip_rng *r, uint64_t n);

/* Fisher-Yates shuffle of perm[0..n). */
void mlip_rng_shuffle(struct mlip_rng *r, size_t *perm, size_t n);

#endif
