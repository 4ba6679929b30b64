/*
 * check_nlist.c - neighbour lists: the cell-list build against the brute
 * force (identical arrays) on random triclinic, skewed, thin, tiny, mixed-pbc,
 * non-periodic and unwrapped structures; lattice coordination numbers; the
 * brute force's image range against a much wider independent loop; symmetry;
 * duplicate atoms and bad input.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "geometry.h"
#include "nlist.h"

/* ---- helpers ---- */

/* A check for hot loops: a passing ck_assert costs Check a write(2). */
#define REQUIRE(cond)                                                   \
	do {                                                            \
		if (!(cond))                                            \
			ck_abort_msg("assertion '%s' failed", #cond);   \
	} while (0)

static void assert_same(const struct mlip_nlist *a, const struct mlip_nlist *b)
{
	ck_assert_uint_eq(a->n_edges, b->n_edges);
	ck_assert_uint_eq(a->natoms, b->natoms);
	size_t n = a->n_edges;
	ck_assert(n == 0 || memcmp(a->i, b->i, n * sizeof(int32_t)) == 0);
	ck_assert(n == 0 || memcmp(a->j, b->j, n * sizeof(int32_t)) == 0);
	ck_assert(n == 0 || memcmp(a->shift, b->shift, 3 * n * sizeof(int32_t)) == 0);
	ck_assert(memcmp(a->first, b->first, (a->natoms + 1) * sizeof(size_t)) == 0);
}

static double edge_r2(const struct mlip_structure *s, int32_t i, int32_t j, const int32_t *n)
{
	const double *h = s->cell, *p = s->positions;
	double r2 = 0;
	for (int x = 0; x < 3; x++) {
		double d = p[3 * j + x] - p[3 * i + x] + n[0] * h[x] + n[1] * h[3 + x]
			 + n[2] * h[6 + x];
		r2 += d * d;
	}
	return r2;
}

/* -1, 0, 1 as edge a sorts before, with, after (i, j, n) = b. */
static int edge_cmp5(const int32_t a[5], const int32_t b[5])
{
	for (int k = 0; k < 5; k++)
		if (a[k] != b[k])
			return a[k] < b[k] ? -1 : 1;
	return 0;
}

static void edge_get(int32_t out[5], const struct mlip_nlist *nl, size_t e)
{
	out[0] = nl->i[e];
	out[1] = nl->j[e];
	memcpy(out + 2, nl->shift + 3 * e, 3 * sizeof(int32_t));
}

static int has_edge(const struct mlip_nlist *nl, const int32_t key[5])
{
	size_t lo = 0, hi = nl->n_edges;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int32_t e[5];
		edge_get(e, nl, mid);
		int c = edge_cmp5(e, key);
		if (c == 0)
			return 1;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

/*
 * Properties any correct list has, checked without the brute force: strictly
 * sorted, every distance in (0, cutoff), zero shifts along non-periodic axes,
 * first[] consistent, and (j, i, −n) present for every (i, j, n).
 */
static void check_list(const struct mlip_structure *s, double cutoff, const struct mlip_nlist *nl)
{
	ck_assert_uint_eq(nl->natoms, s->natoms);
	ck_assert_uint_eq(nl->first[0], 0);
	ck_assert_uint_eq(nl->first[s->natoms], nl->n_edges);
	for (size_t e = 0; e < nl->n_edges; e++) {
		int32_t a[5], b[5], rev[5];
		edge_get(a, nl, e);
		REQUIRE(a[0] >= 0 && (size_t)a[0] < s->natoms);
		REQUIRE(a[1] >= 0 && (size_t)a[1] < s->natoms);
		REQUIRE(nl->first[a[0]] <= e && e < nl->first[a[0] + 1]);
		if (e + 1 < nl->n_edges) {
			edge_get(b, nl, e + 1);
			REQUIRE(edge_cmp5(a, b) < 0);
		}
		for (int k = 0; k < 3; k++)
			REQUIRE(s->pbc[k] || a[2 + k] == 0);
		double r2 = edge_r2(s, a[0], a[1], a + 2);
		REQUIRE(r2 > 0 && r2 < cutoff * cutoff);
		rev[0] = a[1];
		rev[1] = a[0];
		for (int k = 0; k < 3; k++)
			rev[2 + k] = -a[2 + k];
		if (!has_edge(nl, rev))
			ck_abort_msg("edge (%d, %d, %d %d %d) has no reverse", a[0], a[1], a[2],
				     a[3], a[4]);
	}
}

/* Both builds, identical arrays, the list properties; returns the edge count. */
static size_t compare_with_brute(const struct mlip_structure *s, double cutoff)
{
	struct mlip_nlist fast, brute;
	struct mlip_err err;
	mlip_nlist_init(&fast);
	mlip_nlist_init(&brute);
	int rc = mlip_nlist_build(&fast, s, cutoff, &err);
	ck_assert_msg(rc == 0, "build: %s", err.msg);
	rc = mlip_nlist_build_brute(&brute, s, cutoff, &err);
	ck_assert_msg(rc == 0, "brute: %s", err.msg);
	assert_same(&fast, &brute);
	check_list(s, cutoff, &fast);
	size_t n = fast.n_edges;
	mlip_nlist_release(&fast);
	mlip_nlist_release(&brute);
	return n;
}

/* An independent loop over every image with |n_k| <= range[k], in edge order. */
static void wide_loop(struct mlip_nlist *out, const struct mlip_structure *s, double cutoff,
		      const int range[3])
{
	size_t cap = 1024;
	out->n_edges = 0;
	out->i = malloc(cap * sizeof(int32_t));
	out->j = malloc(cap * sizeof(int32_t));
	out->shift = malloc(3 * cap * sizeof(int32_t));
	out->natoms = s->natoms;
	out->first = calloc(s->natoms + 1, sizeof(size_t));
	for (size_t i = 0; i < s->natoms; i++) {
		for (size_t j = 0; j < s->natoms; j++) {
			int32_t n[3];
			for (n[0] = -range[0]; n[0] <= range[0]; n[0]++)
			for (n[1] = -range[1]; n[1] <= range[1]; n[1]++)
			for (n[2] = -range[2]; n[2] <= range[2]; n[2]++) {
				double r2 = edge_r2(s, (int32_t)i, (int32_t)j, n);
				if (!(r2 > 0 && r2 < cutoff * cutoff))
					continue;
				if (out->n_edges == cap) {
					cap *= 2;
					out->i = realloc(out->i, cap * sizeof(int32_t));
					out->j = realloc(out->j, cap * sizeof(int32_t));
					out->shift = realloc(out->shift, 3 * cap * sizeof(int32_t));
					REQUIRE(out->i && out->j && out->shift);
				}
				out->i[out->n_edges] = (int32_t)i;
				out->j[out->n_edges] = (int32_t)j;
				memcpy(out->shift + 3 * out->n_edges, n, sizeof(n));
				out->n_edges++;
			}
		}
		out->first[i + 1] = out->n_edges;
	}
}

static void structure_free(struct mlip_structure *s)
{
	mlip_structure_release(s);
}

/* ---- hand-checked lattices ---- */

/*
 * Simple cubic a = 2: 6 faces at 2, 12 edges at 2√2 = 2.83, 8 corners at
 * 2√3 = 3.46, so 6 neighbours at cutoff 2.5, 18 at 3.0 and 26 at 3.5.
 */
START_TEST(test_simple_cubic)
{
	struct mlip_structure s;
	struct mlip_nlist nl;
	mlip_structure_init(&s);
	mlip_nlist_init(&nl);
	ck_assert_int_eq(test_sc(&s, 1, 1, 1, 2.0), 0);
	ck_assert_int_eq(mlip_nlist_build(&nl, &s, 2.5, NULL), 0);
	ck_assert_uint_eq(nl.n_edges, 6);
	ck_assert_int_eq(mlip_nlist_build(&nl, &s, 3.0, NULL), 0);
	ck_assert_uint_eq(nl.n_edges, 18);
	int faces = 0, edges = 0;
	for (size_t e = 0; e < nl.n_edges; e++) {
		const int32_t *n = nl.shift + 3 * e;
		int n2 = n[0] * n[0] + n[1] * n[1] + n[2] * n[2];
		ck_assert_int_eq(nl.i[e], 0);
		ck_assert_int_eq(nl.j[e], 0);
		faces += n2 == 1;
		edges += n2 == 2 && abs(n[0]) <= 1 && abs(n[1]) <= 1 && abs(n[2]) <= 1;
	}
	ck_assert_int_eq(faces, 6);
	ck_assert_int_eq(edges, 12);
	/* the first edge in order is n = (-1, -1, 0), the last (1, 1, 0) */
	ck_assert_int_eq(nl.shift[0], -1);
	ck_assert_int_eq(nl.shift[1], -1);
	ck_assert_int_eq(nl.shift[2], 0);
	ck_assert_int_eq(nl.shift[3 * 17 + 0], 1);
	ck_assert_int_eq(nl.shift[3 * 17 + 1], 1);
	ck_assert_int_eq(nl.shift[3 * 17 + 2], 0);
	/* 3.5 adds the 8 corners */
	ck_assert_int_eq(mlip_nlist_build(&nl, &s, 3.5, NULL), 0);
	ck_assert_uint_eq(nl.n_edges, 26);

	/* a 2×2×2 supercell: the same 18 per atom, now mostly other atoms */
	ck_assert_int_eq(test_sc(&s, 2, 2, 2, 2.0), 0);
	ck_assert_int_eq(mlip_nlist_build(&nl, &s, 3.0, NULL), 0);
	ck_assert_uint_eq(nl.n_edges, 8 * 18);
	for (size_t i = 0; i < 8; i++)
		ck_assert_uint_eq(nl.first[i + 1] - nl.first[i], 18);
	check_list(&s, 3.0, &nl);
	ck_assert_uint_eq(compare_with_brute(&s, 3.0), 8 * 18);
	ck_assert_uint_eq(compare_with_brute(&s, 2.5), 8 * 6);
	mlip_nlist_release(&nl);
	structure_free(&s);
}
END_TEST

/* Every atom of s has exactly `expect` neighbours at cutoff. */
static void assert_coordination(const struct mlip_structure *s, double cutoff, size_t expect)
{
	struct mlip_nlist nl;
	mlip_nlist_init(&nl);
	ck_assert_int_eq(mlip_nlist_build(&nl, s, cutoff, NULL), 0);
	for (size_t i = 0; i < s->natoms; i++)
		if (nl.first[i + 1] - nl.first[i] != expect)
			ck_abort_msg("%zu atoms, cutoff %g: atom %zu has %zu neighbours, not %zu",
				     s->natoms, cutoff, i + 1, nl.first[i + 1] - nl.first[i], expect);
	check_list(s, cutoff, &nl);
	mlip_nlist_release(&nl);
}

/*
 * Shell counts. fcc (a = 3.6): 12 at a/√2, 6 at a, 24 at a√1.5, 12 at a√2.
 * Diamond (a = 5.431): 4 at a√3/4, 12 at a/√2, 12 at a√11/4, 6 at a,
 * 12 at a√19/4. The same on the conventional cell (8 Si atoms, width 5.431 Å,
 * thinner than the largest cutoff), supercells and the primitive cells (1 or 2
 * atoms, width a/√3: many images of each atom, itself included).
 */
START_TEST(test_coordination)
{
	static const double fcc_cut[] = { 3.0, 4.0, 4.8, 5.3 };
	static const size_t fcc_cn[] = { 12, 18, 42, 54 };
	static const double dia_cut[] = { 3.0, 4.2, 5.0, 5.7, 6.3 };
	static const size_t dia_cn[] = { 4, 16, 28, 34, 46 };
	struct mlip_structure s;
	mlip_structure_init(&s);
	for (int form = 0; form < 3; form++) {
		if (form == 2)
			ck_assert_int_eq(test_primitive(&s, 3.6, 0), 0);
		else
			ck_assert_int_eq(test_fcc(&s, form + 1, form + 1, form + 1, 3.6, 0, 0), 0);
		for (int c = 0; c < 4; c++)
			assert_coordination(&s, fcc_cut[c], fcc_cn[c]);
		if (form == 2)
			ck_assert_int_eq(test_primitive(&s, 5.431, 1), 0);
		else
			ck_assert_int_eq(test_diamond(&s, form + 1, form + 1, form + 1, 5.431, 0, 0), 0);
		for (int c = 0; c < 5; c++)
			assert_coordination(&s, dia_cut[c], dia_cn[c]);
	}
	/* the diamond conventional cell against the brute force too */
	ck_assert_int_eq(test_diamond(&s, 1, 1, 1, 5.431, 0, 0), 0);
	ck_assert_uint_eq(compare_with_brute(&s, 6.3), 8 * 46);
	structure_free(&s);
}
END_TEST

/* ---- against the brute force ---- */

/* Random pbc, random cell (zeroed along non-periodic axes now and then). */
static void random_case(struct mlip_structure *s, uint64_t *rng, size_t natoms, double len,
			int shear, double lo, double hi)
{
	double cell[9];
	uint8_t pbc[3];
	test_random_cell(cell, rng, len, shear);
	unsigned bits = (unsigned)(test_rand_u64(rng) % 8);
	for (int k = 0; k < 3; k++)
		pbc[k] = (bits >> k) & 1;
	ck_assert_int_eq(test_random_atoms(s, cell, pbc, natoms, rng, lo, hi), 0);
	if (test_rand_unif(rng) < 0.3)
		for (int k = 0; k < 3; k++)
			if (!pbc[k])
				memset(s->cell + 3 * k, 0, 3 * sizeof(double));
}

START_TEST(test_random_triclinic)
{
	struct mlip_structure s;
	mlip_structure_init(&s);
	uint64_t rng = 1000;
	size_t total = 0;
	for (int seed = 0; seed < 160; seed++) {
		size_t natoms = 1 + test_rand_u64(&rng) % 24;
		double len = test_rand_range(&rng, 2.5, 6);
		int shear = seed % 4 == 3 ? 2 : 0;
		random_case(&s, &rng, natoms, len, shear, 0, 1);
		double cutoff = test_rand_range(&rng, 0.3, shear ? 1.2 : 1.6) * len;
		total += compare_with_brute(&s, cutoff);
	}
	ck_assert_uint_gt(total, 10000);
	structure_free(&s);
}
END_TEST

/* Strongly skewed cells of the same lattice: same edges, other shifts. */
START_TEST(test_skewed_cells)
{
	struct mlip_structure s;
	mlip_structure_init(&s);
	uint64_t rng = 77;
	for (int seed = 0; seed < 12; seed++) {
		double cell[9];
		uint8_t pbc[3] = { 1, 1, 1 };
		test_random_cell(cell, &rng, 3.0, 0);
		ck_assert_int_eq(test_random_atoms(&s, cell, pbc, 4, &rng, 0, 1), 0);
		double cutoff = test_rand_range(&rng, 2, 5);
		size_t ref = compare_with_brute(&s, cutoff);
		/* b += i·a, c += j·a + k·b with |i|, |j|, |k| up to 3: the lattice and
		 * so the number of edges stay, the widths shrink up to tenfold */
		int i = seed % 7 - 3, j = (seed * 5) % 7 - 3, k = (seed * 3) % 7 - 3;
		for (int x = 0; x < 3; x++) {
			s.cell[3 + x] += i * s.cell[x];
			s.cell[6 + x] += j * s.cell[x] + k * s.cell[3 + x];
		}
		ck_assert_uint_eq(compare_with_brute(&s, cutoff), ref);
	}
	structure_free(&s);
}
END_TEST

/* Cells thinner than half the cutoff along one, two or three axes. */
START_TEST(test_thin_cells)
{
	struct mlip_structure s;
	mlip_structure_init(&s);
	uint64_t rng = 4242;
	for (int seed = 0; seed < 40; seed++) {
		double cell[9], cutoff = test_rand_range(&rng, 3, 6);
		uint8_t pbc[3] = { 1, 1, 1 };
		test_random_cell(cell, &rng, 5, 0);
		int nthin = 1 + seed % 3;
		for (int k = 0; k < nthin; k++)
			test_make_thin(cell, (seed + k) % 3, test_rand_range(&rng, 0.2, 0.49) * cutoff);
		for (int k = 0; k < nthin; k++)
			ck_assert(test_cell_width(cell, (seed + k) % 3) < cutoff / 2);
		if (seed % 5 == 4)
			pbc[seed % 3] = 0; /* thin along a periodic axis, open along another */
		ck_assert_int_eq(test_random_atoms(&s, cell, pbc, 1 + seed % 5, &rng, 0, 1), 0);
		compare_with_brute(&s, cutoff);
	}
	/* mlearn-like: a 2.4 Å-wide cell with 2 atoms at a 6 Å cutoff (~70 edges) */
	double cell[9] = { 2.4, 0, 0, 0, 4.1, 0, 0.7, 0.3, 5.2 };
	uint8_t pbc[3] = { 1, 1, 1 };
	ck_assert_int_eq(test_random_atoms(&s, cell, pbc, 2, &rng, 0, 1), 0);
	ck_assert_uint_gt(compare_with_brute(&s, 6.0), 40);
	structure_free(&s);
}
END_TEST

/* 1- and 2-atom cells up to cutoffs several times the cell size. */
START_TEST(test_tiny_cells)
{
	struct mlip_structure s;
	mlip_structure_init(&s);
	uint64_t rng = 99;
	for (int seed = 0; seed < 60; seed++) {
		double len = test_rand_range(&rng, 1.5, 4);
		random_case(&s, &rng, 1 + seed % 2, len, seed % 3 == 2 ? 1 : 0, 0, 1);
		double cutoff = test_rand_range(&rng, 0.5, seed % 2 ? 2.5 : 4) * len;
		compare_with_brute(&s, cutoff);
	}
	structure_free(&s);
}
END_TEST

/* Large cutoffs: many images and hundreds of neighbours per atom. */
START_TEST(test_large_cutoff)
{
	struct mlip_structure s;
	mlip_structure_init(&s);
	uint64_t rng = 5;
	for (int seed = 0; seed < 4; seed++) {
		double cell[9];
		uint8_t pbc[3] = { 1, 1, 1 };
		test_random_cell(cell, &rng, 3.5, 0);
		ck_assert_int_eq(test_random_atoms(&s, cell, pbc, 3, &rng, 0, 1), 0);
		double cutoff = 12 + 2 * seed;
		double vol = mlip_cell_volume(cell), sphere = 4.0 / 3 * M_PI * pow(cutoff, 3);
		size_t n = compare_with_brute(&s, cutoff);
		/* about 3 · 3 · sphere / volume edges */
		ck_assert_double_eq_tol(n / (9 * sphere / vol), 1, 0.1);
	}
	structure_free(&s);
}
END_TEST

/* Clusters: no cell, atoms anywhere (also far from the origin, flat, on a line). */
START_TEST(test_clusters)
{
	struct mlip_structure s;
	mlip_structure_init(&s);
	uint64_t rng = 31337;
	const double box[9] = { 12, 0, 0, 0, 9, 0, 0, 0, 15 };
	const uint8_t open[3] = { 0, 0, 0 };
	for (int seed = 0; seed < 12; seed++) {
		ck_assert_int_eq(test_random_atoms(&s, box, open, 20 + 30 * seed, &rng, -0.5, 1), 0);
		memset(s.cell, 0, sizeof(s.cell));
		for (size_t i = 0; i < s.natoms; i++) {
			double *r = s.positions + 3 * i;
			if (seed % 4 == 1)
				r[2] = 1.5; /* flat */
			if (seed % 4 == 2)
				r[0] = r[1] = -2; /* a line */
			if (seed % 4 == 3)
				r[0] += 1e4, r[1] -= 3e3; /* far away */
		}
		compare_with_brute(&s, test_rand_range(&rng, 1, 6));
	}
	/* a single atom, two atoms, a cutoff far beyond the cluster */
	ck_assert_int_eq(test_random_atoms(&s, box, open, 1, &rng, 0, 1), 0);
	ck_assert_uint_eq(compare_with_brute(&s, 5), 0);
	ck_assert_int_eq(test_random_atoms(&s, box, open, 2, &rng, 0, 1), 0);
	ck_assert_uint_eq(compare_with_brute(&s, 100), 2);
	ck_assert_int_eq(test_random_atoms(&s, box, open, 40, &rng, 0, 1), 0);
	ck_assert_uint_eq(compare_with_brute(&s, 100), 40 * 39);
	structure_free(&s);
}
END_TEST

/* One and two periodic axes; atoms spread well beyond the cell along the others. */
START_TEST(test_mixed_pbc)
{
	struct mlip_structure s;
	mlip_structure_init(&s);
	uint64_t rng = 8080;
	for (int seed = 0; seed < 48; seed++) {
		double cell[9];
		uint8_t pbc[3] = { 0, 0, 0 };
		int np = 1 + seed % 2, k0 = (seed / 2) % 3;
		for (int k = 0; k < np; k++)
			pbc[(k0 + k) % 3] = 1;
		test_random_cell(cell, &rng, test_rand_range(&rng, 2, 5), seed % 3 == 0 ? 1 : 0);
		ck_assert_int_eq(test_random_atoms(&s, cell, pbc, 1 + seed % 12, &rng, 0, 1), 0);
		for (size_t i = 0; i < s.natoms; i++)
			for (int k = 0; k < 3; k++)
				if (!pbc[k]) /* spread along the open axes */
					for (int x = 0; x < 3; x++)
						s.positions[3 * i + x] +=
							test_rand_range(&rng, -3, 4) * cell[3 * k + x] / 3;
		if (seed % 4 < 2) /* the cell along open axes is not used */
			for (int k = 0; k < 3; k++)
				if (!pbc[k])
					memset(s.cell + 3 * k, 0, 3 * sizeof(double));
		compare_with_brute(&s, test_rand_range(&rng, 1, 7));
	}
	structure_free(&s);
}
END_TEST

/* Atoms outside the home cell: the brute force still agrees. */
START_TEST(test_unwrapped_brute)
{
	struct mlip_structure s;
	mlip_structure_init(&s);
	uint64_t rng = 123;
	for (int seed = 0; seed < 30; seed++) {
		random_case(&s, &rng, 1 + seed % 10, test_rand_range(&rng, 2.5, 5), seed % 5 == 4, -2.5,
			    3.5);
		compare_with_brute(&s, test_rand_range(&rng, 1, 6));
	}
	structure_free(&s);
}
END_TEST

/*
 * Moving atom i by t_i cell vectors maps edge (i, j, n) to (i, j, n + t_i −
 * t_j): checked for moves of up to 10^4 cells, far beyond what the brute force
 * can cover, and for a whole cluster moved 10^4 Å along a non-periodic axis.
 */
START_TEST(test_unwrapped_far)
{
	struct mlip_structure s, t;
	struct mlip_nlist a, b;
	mlip_structure_init(&s);
	mlip_structure_init(&t);
	mlip_nlist_init(&a);
	mlip_nlist_init(&b);
	uint64_t rng = 2024;
	for (int seed = 0; seed < 20; seed++) {
		random_case(&s, &rng, 2 + seed % 30, test_rand_range(&rng, 2, 6), seed % 3 == 2, 0, 1);
		double cutoff = test_rand_range(&rng, 2, 6);
		ck_assert_int_eq(mlip_structure_copy(&t, &s, NULL), 0);
		int32_t *moved = calloc(3 * s.natoms, sizeof(int32_t));
		ck_assert_ptr_nonnull(moved);
		double far = seed % 2 ? 1e4 : 7;
		double offset = test_rand_range(&rng, -1e4, 1e4);
		for (size_t i = 0; i < s.natoms; i++)
			for (int k = 0; k < 3; k++) {
				double *r = t.positions + 3 * i;
				if (!s.pbc[k]) {
					r[k] += offset; /* the whole structure, Cartesian */
					continue;
				}
				int32_t m = (int32_t)test_rand_range(&rng, -far, far);
				moved[3 * i + k] = m;
				for (int x = 0; x < 3; x++)
					r[x] += m * s.cell[3 * k + x];
			}
		ck_assert_int_eq(mlip_nlist_build(&a, &s, cutoff, NULL), 0);
		ck_assert_int_eq(mlip_nlist_build(&b, &t, cutoff, NULL), 0);
		ck_assert_uint_eq(a.n_edges, b.n_edges);
		/* same (i, j) order; within one (i, j), n + t_i − t_j keeps the order */
		for (size_t e = 0; e < a.n_edges; e++) {
			REQUIRE(a.i[e] == b.i[e]);
			REQUIRE(a.j[e] == b.j[e]);
			for (int k = 0; k < 3; k++)
				REQUIRE(a.shift[3 * e + k] == b.shift[3 * e + k] - moved[3 * a.i[e] + k]
								 + moved[3 * a.j[e] + k]);
		}
		check_list(&t, cutoff * (1 + 1e-9), &b);
		free(moved);
	}
	mlip_nlist_release(&a);
	mlip_nlist_release(&b);
	structure_free(&s);
	structure_free(&t);
}
END_TEST

/* Hundreds of atoms: jittered diamond and a shuffled cluster. */
START_TEST(test_larger)
{
	struct mlip_structure s;
	mlip_structure_init(&s);
	ck_assert_int_eq(test_diamond(&s, 3, 3, 3, 5.431, 0.1, 7), 0);
	ck_assert_uint_gt(compare_with_brute(&s, 5.5), 216 * 30);
	/* reverse the atom order: bins no longer follow it */
	for (size_t i = 0; i < s.natoms / 2; i++)
		for (int x = 0; x < 3; x++) {
			double *p = s.positions, tmp = p[3 * i + x];
			p[3 * i + x] = p[3 * (s.natoms - 1 - i) + x];
			p[3 * (s.natoms - 1 - i) + x] = tmp;
		}
	compare_with_brute(&s, 4.0);
	s.pbc[1] = 0; /* a slab */
	compare_with_brute(&s, 5.0);
	s.pbc[0] = s.pbc[2] = 0; /* a cube-shaped cluster */
	memset(s.cell, 0, sizeof(s.cell));
	compare_with_brute(&s, 5.0);
	structure_free(&s);
}
END_TEST

/* ---- the brute force's image range ---- */

/*
 * Cells with extreme angles (a and b 0.5° apart; c tilted 89° off the normal):
 * widths a fraction of the vector lengths. The brute force with its reach must
 * equal an independent loop over a far wider range; the naive range
 * ceil(cutoff / |a_k|) + 1 would miss edges (shown, so the test can fail).
 */
START_TEST(test_reach_skewed)
{
	struct mlip_structure s;
	struct mlip_nlist brute, wide, naive;
	mlip_structure_init(&s);
	mlip_nlist_init(&brute);
	uint64_t rng = 17;
	const double deg = M_PI / 180;
	for (int c = 0; c < 3; c++) {
		double cell[9] = { 3, 0, 0, 3 * cos(0.5 * deg), 3 * sin(0.5 * deg), 0, 0, 0, 3 };
		if (c == 1) { /* c almost in the a-b plane */
			cell[6] = 3 * sin(89 * deg);
			cell[8] = 3 * cos(89 * deg);
		}
		if (c == 2) /* a rhombohedral needle */
			for (int x = 0; x < 9; x++)
				cell[x] = (x % 4 == 0 ? 3.0 : 2.9);
		uint8_t pbc[3] = { 1, 1, 1 };
		ck_assert_int_eq(test_random_atoms(&s, cell, pbc, 2, &rng, -0.5, 1.5), 0);
		double cutoff = 1.0;
		int reach[3], range[3], nrange[3];
		mlip_nlist_reach(reach, &s, cutoff);
		for (int k = 0; k < 3; k++) {
			double w = test_cell_width(cell, k), len = sqrt(cell[3 * k] * cell[3 * k]
				+ cell[3 * k + 1] * cell[3 * k + 1] + cell[3 * k + 2] * cell[3 * k + 2]);
			ck_assert_int_ge(reach[k], (int)floor(cutoff / w));
			range[k] = 3 * reach[k] + 5;
			nrange[k] = (int)ceil(cutoff / len) + 1;
		}
		ck_assert_int_gt(reach[0] + reach[1] + reach[2], 30);
		ck_assert_int_eq(mlip_nlist_build_brute(&brute, &s, cutoff, NULL), 0);
		wide_loop(&wide, &s, cutoff, range);
		assert_same(&brute, &wide);
		ck_assert_uint_gt(brute.n_edges, 0);
		compare_with_brute(&s, cutoff);
		wide_loop(&naive, &s, cutoff, nrange);
		ck_assert_uint_lt(naive.n_edges, brute.n_edges);
		mlip_nlist_release(&wide);
		mlip_nlist_release(&naive);
	}
	mlip_nlist_release(&brute);
	structure_free(&s);
}
END_TEST

/* The reach covers unwrapped atoms: it grows with their spread. */
START_TEST(test_reach_spread)
{
	struct mlip_structure s;
	struct mlip_nlist brute, wide;
	mlip_structure_init(&s);
	mlip_nlist_init(&brute);
	double cell[9] = { 3, 0, 0, 1, 3, 0, 0.5, 0.5, 3 };
	uint8_t pbc[3] = { 1, 1, 0 };
	uint64_t rng = 3;
	int reach[3], range[3];
	ck_assert_int_eq(test_random_atoms(&s, cell, pbc, 3, &rng, 0, 1), 0);
	mlip_nlist_reach(reach, &s, 2.0);
	ck_assert_int_le(reach[0], 3);
	ck_assert_int_eq(reach[2], 0);
	for (int x = 0; x < 3; x++)
		s.positions[3 + x] += 6 * cell[x] - 4 * cell[3 + x];
	mlip_nlist_reach(reach, &s, 2.0);
	ck_assert_int_ge(reach[0], 7);
	ck_assert_int_ge(reach[1], 5);
	ck_assert_int_eq(reach[2], 0);
	for (int k = 0; k < 3; k++)
		range[k] = pbc[k] ? 2 * reach[k] + 3 : 0;
	ck_assert_int_eq(mlip_nlist_build_brute(&brute, &s, 2.0, NULL), 0);
	wide_loop(&wide, &s, 2.0, range);
	assert_same(&brute, &wide);
	compare_with_brute(&s, 2.0);
	mlip_nlist_release(&wide);
	mlip_nlist_release(&brute);
	structure_free(&s);
}
END_TEST

/* ---- errors ---- */

/* Both builds fail alike; nl is left empty. */
static void assert_both_fail(const struct mlip_structure *s, double cutoff, int code,
			     const char *msg)
{
	struct mlip_nlist nl;
	struct mlip_err err;
	mlip_nlist_init(&nl);
	for (int brute = 0; brute < 2; brute++) {
		memset(&err, 0, sizeof(err));
		int rc = brute ? mlip_nlist_build_brute(&nl, s, cutoff, &err)
			       : mlip_nlist_build(&nl, s, cutoff, &err);
		ck_assert_int_eq(rc, code);
		ck_assert_int_eq(err.code, code);
		ck_assert_msg(strcmp(err.msg, msg) == 0, "%s: \"%s\", expected \"%s\"",
			      brute ? "brute" : "build", err.msg, msg);
		ck_assert_uint_eq(nl.n_edges, 0);
		ck_assert(nl.first == NULL || nl.first[nl.natoms] == 0);
		ck_assert_int_eq(rc, brute ? mlip_nlist_build_brute(&nl, s, cutoff, NULL)
					   : mlip_nlist_build(&nl, s, cutoff, NULL));
	}
	mlip_nlist_release(&nl);
}

START_TEST(test_duplicates)
{
	struct mlip_structure s;
	mlip_structure_init(&s);
	uint64_t rng = 55;
	double cell[9] = { 4, 0, 0, 0.5, 4.5, 0, 0.3, -0.2, 5 };
	uint8_t pbc[3] = { 1, 1, 1 };
	ck_assert_int_eq(test_random_atoms(&s, cell, pbc, 8, &rng, 0, 1), 0);
	compare_with_brute(&s, 4);

	/* atoms 3 and 6 at the same place, and 5 and 8: the first pair is named */
	memcpy(s.positions + 3 * 5, s.positions + 3 * 2, 3 * sizeof(double));
	memcpy(s.positions + 3 * 7, s.positions + 3 * 4, 3 * sizeof(double));
	s.positions[3 * 7] += 0.9e-6;
	assert_both_fail(&s, 4, MLIP_EDATA, "atoms 3 and 6 are at the same position");
	s.positions[3 * 5 + 1] += 2e-6; /* now far enough apart */
	assert_both_fail(&s, 4, MLIP_EDATA, "atoms 5 and 8 are at the same position");
	s.positions[3 * 7] += 1.2e-6;
	ck_assert_uint_gt(compare_with_brute(&s, 4), 0);

	/* atom 7 on an image of atom 2 (unwrapped by −a + 2b) */
	for (int x = 0; x < 3; x++)
		s.positions[3 * 6 + x] = s.positions[3 + x] - cell[x] + 2 * cell[3 + x];
	assert_both_fail(&s, 4, MLIP_EDATA,
			 "atoms 2 and 7 are at the same position (image (1, -2, 0) of atom 7)");
	/* a tiny cutoff still finds it */
	assert_both_fail(&s, 1e-8, MLIP_EDATA,
			 "atoms 2 and 7 are at the same position (image (1, -2, 0) of atom 7)");
	structure_free(&s);

	/* atom 1 on both atom 5 (same bin) and an image of atom 3 (across the
	 * cell face, so in another bin, met later): the smallest j is named */
	double cube[9] = { 4, 0, 0, 0, 4, 0, 0, 0, 4 };
	ck_assert_int_eq(test_random_atoms(&s, cube, pbc, 6, &rng, 0, 1), 0);
	for (int at = 0; at < 5; at += 2) {
		s.positions[3 * at + 1] = 1;
		s.positions[3 * at + 2] = 2;
	}
	s.positions[0] = 4 - 2e-7;
	s.positions[3 * 2] = 2e-7;
	s.positions[3 * 4] = 4 - 3e-7;
	assert_both_fail(&s, 3, MLIP_EDATA,
			 "atoms 1 and 3 are at the same position (image (1, 0, 0) of atom 3)");
	structure_free(&s);

	/* an atom on its own image: a lattice vector below the duplicate distance */
	double tiny[9] = { 7e-7, 0, 0, 0, 0, 0, 0, 0, 0 };
	uint8_t chain[3] = { 1, 0, 0 };
	ck_assert_int_eq(test_random_atoms(&s, tiny, chain, 1, &rng, 0, 1), 0);
	assert_both_fail(&s, 1e-5, MLIP_EDATA,
			 "atom 1 and its image (-1, 0, 0) are at the same position");
	structure_free(&s);
}
END_TEST

START_TEST(test_bad_input)
{
	struct mlip_structure s;
	mlip_structure_init(&s);
	uint64_t rng = 66;
	double cell[9] = { 3, 0, 0, 0, 3, 0, 0, 0, 3 };
	uint8_t pbc[3] = { 1, 1, 1 };
	ck_assert_int_eq(test_random_atoms(&s, cell, pbc, 3, &rng, 0, 1), 0);
	assert_both_fail(&s, 0, MLIP_EINVAL, "cutoff must be a positive number, not 0");
	assert_both_fail(&s, -2, MLIP_EINVAL, "cutoff must be a positive number, not -2");
	assert_both_fail(&s, NAN, MLIP_EINVAL, "cutoff must be a positive number, not nan");
	assert_both_fail(&s, INFINITY, MLIP_EINVAL, "cutoff must be a positive number, not inf");

	s.positions[4] = NAN;
	assert_both_fail(&s, 2, MLIP_EDATA, "atom 2: position is not finite");
	s.positions[4] = 1;
	s.cell[5] = INFINITY;
	assert_both_fail(&s, 2, MLIP_EDATA, "cell vector 2 is not finite");
	s.cell[5] = 0;

	/* b parallel to a: singular along periodic axes, fine once b is open */
	s.cell[3] = 6;
	s.cell[4] = 0;
	assert_both_fail(&s, 2, MLIP_EDATA, "cell is singular along its periodic axes (volume 0 Å³)");
	s.pbc[1] = 0;
	compare_with_brute(&s, 2);
	s.cell[0] = 0; /* a zero vector along a periodic axis */
	assert_both_fail(&s, 2, MLIP_EDATA, "cell is singular along its periodic axes (volume 0 Å³)");
	memset(s.cell, 0, sizeof(s.cell));
	s.pbc[0] = s.pbc[1] = s.pbc[2] = 0;
	compare_with_brute(&s, 2);
	structure_free(&s);

	/* a cell so thin that the images needed are absurd: refused, not hung */
	double needle[9] = { 1e-3, 0, 0, 0, 1e-3, 0, 0, 0, 3 };
	ck_assert_int_eq(test_random_atoms(&s, needle, pbc, 1, &rng, 0, 1), 0);
	struct mlip_nlist nl;
	struct mlip_err err;
	mlip_nlist_init(&nl);
	ck_assert_int_eq(mlip_nlist_build(&nl, &s, 10, &err), MLIP_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "too thin"));
	mlip_nlist_release(&nl);
	structure_free(&s);
}
END_TEST

/* Reusing a list across structures of different sizes, and an empty one. */
START_TEST(test_reuse)
{
	struct mlip_structure s;
	struct mlip_nlist nl;
	mlip_structure_init(&s);
	mlip_nlist_init(&nl);
	ck_assert_int_eq(test_diamond(&s, 2, 2, 2, 5.431, 0, 0), 0);
	ck_assert_int_eq(mlip_nlist_build(&nl, &s, 3.0, NULL), 0);
	ck_assert_uint_eq(nl.n_edges, 64 * 4);
	ck_assert_int_eq(test_primitive(&s, 5.431, 1), 0);
	ck_assert_int_eq(mlip_nlist_build(&nl, &s, 3.0, NULL), 0);
	ck_assert_uint_eq(nl.n_edges, 2 * 4);
	ck_assert_uint_eq(nl.natoms, 2);
	check_list(&s, 3.0, &nl);
	ck_assert_int_eq(mlip_structure_alloc(&s, 0, NULL), 0);
	ck_assert_int_eq(mlip_nlist_build(&nl, &s, 3.0, NULL), 0);
	ck_assert_uint_eq(nl.n_edges, 0);
	ck_assert_uint_eq(nl.natoms, 0);
	ck_assert_uint_eq(nl.first[0], 0);
	ck_assert_int_eq(mlip_nlist_build_brute(&nl, &s, 3.0, NULL), 0);
	ck_assert_uint_eq(nl.n_edges, 0);
	mlip_nlist_release(&nl);
	ck_assert_ptr_null(nl.first);
	structure_free(&s);
}
END_TEST

Suite *suite_nlist(void)
{
	Suite *s = suite_create("nlist");
	TCase *tc = tcase_create("lattices");
	tcase_add_test(tc, test_simple_cubic);
	tcase_add_test(tc, test_coordination);
	suite_add_tcase(s, tc);

	tc = tcase_create("brute");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_random_triclinic);
	tcase_add_test(tc, test_skewed_cells);
	tcase_add_test(tc, test_thin_cells);
	tcase_add_test(tc, test_tiny_cells);
	tcase_add_test(tc, test_large_cutoff);
	tcase_add_test(tc, test_clusters);
	tcase_add_test(tc, test_mixed_pbc);
	tcase_add_test(tc, test_unwrapped_brute);
	tcase_add_test(tc, test_unwrapped_far);
	tcase_add_test(tc, test_larger);
	suite_add_tcase(s, tc);

	tc = tcase_create("reach");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_reach_skewed);
	tcase_add_test(tc, test_reach_spread);
	suite_add_tcase(s, tc);

	tc = tcase_create("errors");
	tcase_add_test(tc, test_duplicates);
	tcase_add_test(tc, test_bad_input);
	tcase_add_test(tc, test_reuse);
	suite_add_tcase(s, tc);
	return s;
}
