/*
 * geometry.h - test structures for the Check suites and the benchmarks:
 * supercells of cubic lattices (simple cubic, fcc, diamond), primitive fcc
 * and diamond cells, random triclinic cells (optionally sheared into very
 * skewed but equivalent cells), thin cells and random atoms in them.
 * Everything is deterministic from a seed (testutil.h's splitmix64).
 * Functions that fill a structure return mlip_structure_alloc's status.
 */
#ifndef MLIP_TEST_GEOMETRY_H
#define MLIP_TEST_GEOMETRY_H

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "structure.h"
#include "testutil.h"

/* Fractional basis of the conventional cubic cells. */
static const double test_basis_sc[1][3] = { { 0, 0, 0 } };
static const double test_basis_fcc[4][3] = {
	{ 0, 0, 0 }, { 0, 0.5, 0.5 }, { 0.5, 0, 0.5 }, { 0.5, 0.5, 0 },
};
static const double test_basis_diamond[8][3] = {
	{ 0, 0, 0 }, { 0, 0.5, 0.5 }, { 0.5, 0, 0.5 }, { 0.5, 0.5, 0 },
	{ 0.25, 0.25, 0.25 }, { 0.25, 0.75, 0.75 }, { 0.75, 0.25, 0.75 }, { 0.75, 0.75, 0.25 },
};

/* Uniform in [lo, hi). */
static inline double test_rand_range(uint64_t *rng, double lo, double hi)
{
	return lo + (hi - lo) * test_rand_unif(rng);
}

/* Perpendicular width of a cell along axis k: volume / |other two rows' cross|. */
static inline double test_cell_width(const double cell[9], int k)
{
	const double *u = cell + 3 * ((k + 1) % 3), *v = cell + 3 * ((k + 2) % 3);
	double cx = u[1] * v[2] - u[2] * v[1];
	double cy = u[2] * v[0] - u[0] * v[2];
	double cz = u[0] * v[1] - u[1] * v[0];
	return mlip_cell_volume(cell) / sqrt(cx * cx + cy * cy + cz * cz);
}

/* Cartesian position of fractional coordinates f in cell (rows a, b, c). */
static inline void test_frac_to_cart(double r[3], const double f[3], const double cell[9])
{
	for (int x = 0; x < 3; x++)
		r[x] = f[0] * cell[x] + f[1] * cell[3 + x] + f[2] * cell[6 + x];
}

/*
 * An nx×ny×nz supercell of a cubic cell of edge a holding nbasis atoms of
 * atomic number z, periodic along all axes. Each coordinate is moved by a
 * uniform random amount in [−jitter, jitter) Å (jitter 0: the ideal lattice,
 * seed unused). Atoms are ordered cell by cell (x slowest), basis fastest.
 */
static inline int test_cubic_supercell(struct mlip_structure *s, const double (*basis)[3],
				       int nbasis, int nx, int ny, int nz, double a, int z,
				       double jitter, uint64_t seed)
{
	int rc = mlip_structure_alloc(s, (size_t)nbasis * nx * ny * nz, NULL);
	if (rc)
		return rc;
	memset(s->cell, 0, sizeof(s->cell));
	s->cell[0] = nx * a;
	s->cell[4] = ny * a;
	s->cell[8] = nz * a;
	s->pbc[0] = s->pbc[1] = s->pbc[2] = 1;
	size_t at = 0;
	for (int ix = 0; ix < nx; ix++)
		for (int iy = 0; iy < ny; iy++)
			for (int iz = 0; iz < nz; iz++)
				for (int b = 0; b < nbasis; b++, at++) {
					double *r = s->positions + 3 * at;
					r[0] = (ix + basis[b][0]) * a;
					r[1] = (iy + basis[b][1]) * a;
					r[2] = (iz + basis[b][2]) * a;
					for (int x = 0; jitter > 0 && x < 3; x++)
						r[x] += test_rand_range(&seed, -jitter, jitter);
					s->numbers[at] = z;
				}
	return MLIP_OK;
}

/* Diamond silicon-like supercell (8 atoms per conventional cell, Z = 14). */
static inline int test_diamond(struct mlip_structure *s, int nx, int ny, int nz, double a,
			       double jitter, uint64_t seed)
{
	return test_cubic_supercell(s, test_basis_diamond, 8, nx, ny, nz, a, 14, jitter, seed);
}

/* fcc supercell (4 atoms per conventional cell, Z = 29). */
static inline int test_fcc(struct mlip_structure *s, int nx, int ny, int nz, double a,
			   double jitter, uint64_t seed)
{
	return test_cubic_supercell(s, test_basis_fcc, 4, nx, ny, nz, a, 29, jitter, seed);
}

/* Simple cubic supercell (1 atom per cell, Z = 84). */
static inline int test_sc(struct mlip_structure *s, int nx, int ny, int nz, double a)
{
	return test_cubic_supercell(s, test_basis_sc, 1, nx, ny, nz, a, 84, 0, 0);
}

/*
 * The primitive fcc cell (a/2)·{(0,1,1), (1,0,1), (1,1,0)} with one atom
 * (diamond = 0: fcc, Z = 29) or two atoms at 0 and (a/4)(1,1,1) (diamond = 1,
 * Z = 14). Perpendicular width a/√3: thinner than most cutoffs.
 */
static inline int test_primitive(struct mlip_structure *s, double a, int diamond)
{
	int rc = mlip_structure_alloc(s, diamond ? 2 : 1, NULL);
	if (rc)
		return rc;
	const double h = a / 2, cell[9] = { 0, h, h, h, 0, h, h, h, 0 };
	memcpy(s->cell, cell, sizeof(cell));
	s->pbc[0] = s->pbc[1] = s->pbc[2] = 1;
	s->numbers[0] = diamond ? 14 : 29;
	if (diamond) {
		s->numbers[1] = 14;
		s->positions[3] = s->positions[4] = s->positions[5] = a / 4;
	}
	return MLIP_OK;
}

/*
 * A random triclinic cell with rows of length about len: each row is len·(e_k
 * + a random vector in [−0.3, 0.3)³), then, if shear > 0, b += i·a, c += j·a
 * + k·b with random integers |i|, |j|, |k| <= shear. The shear keeps the
 * lattice (same volume, same neighbours) but makes the cell arbitrarily skewed.
 */
static inline void test_random_cell(double cell[9], uint64_t *rng, double len, int shear)
{
	for (int k = 0; k < 3; k++)
		for (int x = 0; x < 3; x++)
			cell[3 * k + x] = len * ((k == x) + test_rand_range(rng, -0.3, 0.3));
	if (shear <= 0)
		return;
	int span = 2 * shear + 1;
	int i = (int)(test_rand_u64(rng) % span) - shear;
	int j = (int)(test_rand_u64(rng) % span) - shear;
	int k = (int)(test_rand_u64(rng) % span) - shear;
	for (int x = 0; x < 3; x++) {
		cell[3 + x] += i * cell[x];
		cell[6 + x] += j * cell[x] + k * cell[3 + x];
	}
}

/*
 * Scale row `axis` of cell so that its perpendicular width becomes width
 * (scaling one row scales the volume, not the other two rows' cross product).
 */
static inline void test_make_thin(double cell[9], int axis, double width)
{
	double f = width / test_cell_width(cell, axis);
	for (int x = 0; x < 3; x++)
		cell[3 * axis + x] *= f;
}

/*
 * natoms atoms with random fractional coordinates in [lo, hi)³ of cell
 * (lo = 0, hi = 1: inside the home cell; a wider range puts atoms outside it),
 * Z = 14, the given pbc. For a cluster pass a cell that spans the box wanted
 * and pbc all zero, then zero s->cell if no cell is wanted.
 */
static inline int test_random_atoms(struct mlip_structure *s, const double cell[9],
				    const uint8_t pbc[3], size_t natoms, uint64_t *rng, double lo,
				    double hi)
{
	int rc = mlip_structure_alloc(s, natoms, NULL);
	if (rc)
		return rc;
	memcpy(s->cell, cell, sizeof(s->cell));
	memcpy(s->pbc, pbc, sizeof(s->pbc));
	for (size_t i = 0; i < natoms; i++) {
		double f[3];
		for (int k = 0; k < 3; k++)
			f[k] = test_rand_range(rng, lo, hi);
		test_frac_to_cart(s->positions + 3 * i, f, cell);
		s->numbers[i] = 14;
	}
	return MLIP_OK;
}

#endif
