/*
 * le.h - little-endian encoding of integers and doubles, byte by byte, so
 * the on-disk formats (mlip-batch(5), mlip-ckpt(5)) read the same on any host.
 */
#ifndef MLIP_LE_H
#define MLIP_LE_H

#include <stdint.h>
#include <string.h>

static inline void mlip_put_u32(unsigned char *p, uint32_t v)
{
	for (int k = 0; k < 4; k++)
		p[k] = (unsigned char)(v >> (8 * k));
}

static inline void mlip_put_u64(unsigned char *p, uint64_t v)
{
	for (int k = 0; k < 8; k++)
		p[k] = (unsigned char)(v >> (8 * k));
}

static inline void mlip_put_f64(unsigned char *p, double x)
{
	uint64_t u;
	memcpy(&u, &x, sizeof(u));
	mlip_put_u64(p, u);
}

static inline uint32_t mlip_get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t mlip_get_u64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int k = 7; k >= 0; k--)
		v = v << 8 | p[k];
	return v;
}

static inline double mlip_get_f64(const unsigned char *p)
{
	uint64_t u = mlip_get_u64(p);
	double x;
	memcpy(&x, &u, sizeof(x));
	return x;
}

#endif
