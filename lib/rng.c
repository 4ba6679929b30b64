/*
 * rng.c - xoshiro256** (Blackman & Vigna), seeded with splitmix64.
 */
#include "rng.h"
#include "banned.h"

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

void mlip_rng_seed(struct mlip_rng *r, uint64_t seed)
{
	for (int k = 0; k < 4; k++)
		r->s[k] = splitmix64(&seed);
}

void mlip_rng_seed2(struct mlip_rng *r, uint64_t seed, uint64_t stream)
{
	uint64_t x = seed;
	uint64_t mixed = splitmix64(&x) ^ (stream * 0xd1b54a32d192ed03ull + 0x8bb84b93962eacc9ull);
	mlip_rng_seed(r, mixed);
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t mlip_rng_u64(struct mlip_rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

double mlip_rng_uniform(struct mlip_rng *r)
{
	return (double)(mlip_rng_u64(r) >> 11) * 0x1.0p-53;
}

uint64_t mlip_rng_below(struct mlip_rng *r, uint64_t n)
{
	/* Rejection of the top partial range keeps every value equally likely. */
	uint64_t limit = UINT64_MAX - UINT64_MAX % n;
	uint64_t x;
	do
		x = mlip_rng_u64(r);
	while (x >= limit);
	return x % n;
}

void mlip_rng_shuffle(struct mlip_rng *r, size_t *perm, size_t n)
{
	for (size_t k = n; k > 1; k--) {
		size_t j = (size_t)mlip_rng_below(r, k);
		size_t t = perm[k - 1];
		perm[k - 1] = perm[j];
		perm[j] = t;
	}
}
