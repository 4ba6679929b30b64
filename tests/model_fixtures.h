/*
 * model_fixtures.h - structures and batches for the descriptor, network and
 * model tests and the model benchmark.
 *
 * fx_batch_build fills a struct mlip_batch from structures with
 * mlip_nlist_build (test-only: the library's mlip_batch_collate does the same
 * job for the programs). The batch's arrays are owned by the fixture and
 * freed with fx_batch_free. Failures abort: these are fixtures, not code
 * under test. No dependency on Check, so the benchmark can include it.
 */
#ifndef MLIP_MODEL_FIXTURES_H
#define MLIP_MODEL_FIXTURES_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "nlist.h"
#include "structure.h"
#include "testutil.h"

#define FX_OK(call)                                                                   \
	do {                                                                          \
		struct mlip_err fx_err_ = { 0 };                                      \
		int fx_rc_ = (call);                                                  \
		(void)fx_err_;                                                        \
		if (fx_rc_) {                                                         \
			fprintf(stderr, "%s:%d: %s failed (%d)\n", __FILE__, __LINE__, \
				#call, fx_rc_);                                       \
			abort();                                                      \
		}                                                                     \
	} while (0)

static inline void *fx_calloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	if (!p)
		abort();
	return p;
}

/* Build b from n structures, neighbour lists at cutoff. */
static inline void fx_batch_build(struct mlip_batch *b, struct mlip_structure *const *s, size_t n,
				  double cutoff)
{
	struct mlip_nlist *nl = fx_calloc(n, sizeof(*nl));
	size_t N = 0, E = 0;
	memset(b, 0, sizeof(*b));
	for (size_t k = 0; k < n; k++) {
		struct mlip_err err;
		mlip_nlist_init(&nl[k]);
		if (mlip_nlist_build(&nl[k], s[k], cutoff, &err)) {
			fprintf(stderr, "fixture: %s\n", err.msg);
			abort();
		}
		N += s[k]->natoms;
		E += nl[k].n_edges;
	}
	b->n_systems = n;
	b->n_atoms = N;
	b->n_edges = E;
	b->cutoff = cutoff;
	b->natoms = fx_calloc(n, sizeof(uint32_t));
	b->nedges = fx_calloc(n, sizeof(uint32_t));
	b->atom_start = fx_calloc(n + 1, sizeof(size_t));
	b->edge_start = fx_calloc(n + 1, sizeof(size_t));
	b->has = fx_calloc(n, sizeof(uint32_t));
	b->pbc = fx_calloc(3 * n, 1);
	b->cell = fx_calloc(9 * n, sizeof(double));
	b->energy = fx_calloc(n, sizeof(double));
	b->stress = fx_calloc(9 * n, sizeof(double));
	b->numbers = fx_calloc(N, sizeof(int32_t));
	b->positions = fx_calloc(3 * N, sizeof(double));
	b->forces = fx_calloc(3 * N, sizeof(double));
	b->fixed = fx_calloc(N, 1);
	b->edge_i = fx_calloc(E, sizeof(int32_t));
	b->edge_j = fx_calloc(E, sizeof(int32_t));
	b->edge_shift = fx_calloc(3 * E, sizeof(int32_t));
	b->dataset = fx_calloc(n, sizeof(char *));
	b->id = fx_calloc(n, sizeof(char *));
	for (size_t k = 0; k < n; k++) {
		size_t a0 = b->atom_start[k], e0 = b->edge_start[k];
		b->natoms[k] = (uint32_t)s[k]->natoms;
		b->nedges[k] = (uint32_t)nl[k].n_edges;
		b->atom_start[k + 1] = a0 + s[k]->natoms;
		b->edge_start[k + 1] = e0 + nl[k].n_edges;
		memcpy(b->pbc + 3 * k, s[k]->pbc, 3);
		memcpy(b->cell + 9 * k, s[k]->cell, sizeof(s[k]->cell));
		memcpy(b->numbers + a0, s[k]->numbers, s[k]->natoms * sizeof(int32_t));
		memcpy(b->positions + 3 * a0, s[k]->positions, 3 * s[k]->natoms * sizeof(double));
		for (size_t e = 0; e < nl[k].n_edges; e++) {
			b->edge_i[e0 + e] = (int32_t)(a0 + (size_t)nl[k].i[e]);
			b->edge_j[e0 + e] = (int32_t)(a0 + (size_t)nl[k].j[e]);
			memcpy(b->edge_shift + 3 * (e0 + e), nl[k].shift + 3 * e, 3 * sizeof(int32_t));
		}
		b->dataset[k] = NULL;
		b->id[k] = NULL;
		mlip_nlist_release(&nl[k]);
	}
	free(nl);
}

static inline void fx_batch_free(struct mlip_batch *b)
{
	mlip_batch_release(b); /* the fixtures leave dataset[k] and id[k] NULL */
}

/*
 * Apply the homogeneous strain r -> r(1 + eps) (row vectors) to the
 * positions and the cell of system k of b; edges stay valid.
 */
static inline void fx_batch_strain(struct mlip_batch *b, size_t k, const double eps[9])
{
	double *rows[2] = { b->positions + 3 * b->atom_start[k], b->cell + 9 * k };
	size_t counts[2] = { b->atom_start[k + 1] - b->atom_start[k], 3 };
	for (int q = 0; q < 2; q++)
		for (size_t i = 0; i < counts[q]; i++) {
			double *r = rows[q] + 3 * i, o[3] = { r[0], r[1], r[2] };
			for (int c = 0; c < 3; c++)
				r[c] = o[c] + o[0] * eps[c] + o[1] * eps[3 + c] + o[2] * eps[6 + c];
		}
}

/*
 * A random structure: natoms atoms with species drawn from z[0..nz), in a
 * cell with rows cell (periodic along every axis where pbc says so), at
 * random fractional positions, rejecting atoms closer than dmin to another
 * (images included, with the cell's minimum-image over ±2 shifts).
 */
static inline void fx_random_structure(struct mlip_structure *s, const double cell[9],
				       const uint8_t pbc[3], size_t natoms, const int *z,
				       size_t nz, double dmin, uint64_t *rng)
{
	mlip_structure_init(s);
	FX_OK(mlip_structure_alloc(s, natoms, NULL));
	memcpy(s->cell, cell, 9 * sizeof(double));
	memcpy(s->pbc, pbc, 3);
	for (size_t i = 0; i < natoms; i++) {
		for (int tries = 0;; tries++) {
			double f[3], r[3];
			for (int x = 0; x < 3; x++)
				f[x] = test_rand_unif(rng);
			for (int x = 0; x < 3; x++)
				r[x] = f[0] * cell[x] + f[1] * cell[3 + x] + f[2] * cell[6 + x];
			int ok = 1;
			for (size_t j = 0; j < i && ok; j++)
				for (int a = -2; a <= 2 && ok; a++)
					for (int bb = -2; bb <= 2 && ok; bb++)
						for (int c = -2; c <= 2 && ok; c++) {
							int n[3] = { pbc[0] ? a : 0, pbc[1] ? bb : 0,
								     pbc[2] ? c : 0 };
							double d2 = 0;
							for (int x = 0; x < 3; x++) {
								double d = s->positions[3 * j + x] - r[x] +
									   n[0] * cell[x] + n[1] * cell[3 + x] +
									   n[2] * cell[6 + x];
								d2 += d * d;
							}
							ok = d2 > dmin * dmin;
						}
			if (ok || tries > 10000) {
				if (!ok)
					abort();
				memcpy(s->positions + 3 * i, r, sizeof(r));
				break;
			}
		}
		s->numbers[i] = z[test_rand_u64(rng) % nz];
	}
}

/*
 * Si diamond, n×n×n conventional cells of side a (8 atoms each), every
 * coordinate displaced uniformly in [−amp, amp].
 */
static inline void fx_diamond(struct mlip_structure *s, int n, double a, double amp, uint64_t *rng)
{
	static const double basis[8][3] = { { 0, 0, 0 },	  { 0, .5, .5 },    { .5, 0, .5 },
					    { .5, .5, 0 },	  { .25, .25, .25 }, { .25, .75, .75 },
					    { .75, .25, .75 }, { .75, .75, .25 } };
	size_t N = 8 * (size_t)n * n * n, m = 0;
	mlip_structure_init(s);
	FX_OK(mlip_structure_alloc(s, N, NULL));
	memset(s->cell, 0, sizeof(s->cell));
	s->cell[0] = s->cell[4] = s->cell[8] = n * a;
	s->pbc[0] = s->pbc[1] = s->pbc[2] = 1;
	for (int i = 0; i < n; i++)
		for (int j = 0; j < n; j++)
			for (int k = 0; k < n; k++)
				for (int q = 0; q < 8; q++) {
					double c[3] = { i + basis[q][0], j + basis[q][1], k + basis[q][2] };
					for (int x = 0; x < 3; x++)
						s->positions[3 * m + x] =
							c[x] * a + amp * (2 * test_rand_unif(rng) - 1);
					s->numbers[m++] = 14;
				}
}

#endif
