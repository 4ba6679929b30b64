/*
 * bench_nlist.c - neighbour-list timings on jittered diamond Si supercells
 * (a = 5.431 Å, jitter ±0.05 Å, cutoff 5.5 Å): the cell-list build at 4 096
 * and 32 768 atoms (linear scaling puts t(32k)/t(4k) near 8) and the brute
 * force at 512 atoms for contrast. Each figure is the best of a few runs.
 * Plain lines on stdout; exit 1 if a build fails.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "benchtime.h"
#include "nlist.h"
#include "../tests/geometry.h"

#define A_SI 5.431
#define CUTOFF 5.5
#define JITTER 0.05

typedef int (*build_fn)(struct mlip_nlist *, const struct mlip_structure *, double,
			struct mlip_err *);

/* Best time of reps builds of an n×n×n diamond supercell; edges in *pairs. */
static double bench(build_fn build, int n, int reps, size_t *natoms, size_t *pairs)
{
	struct mlip_structure s;
	struct mlip_nlist nl;
	struct mlip_err err;
	double best = 1e30;
	mlip_structure_init(&s);
	mlip_nlist_init(&nl);
	if (test_diamond(&s, n, n, n, A_SI, JITTER, 42)) {
		fprintf(stderr, "bench_nlist: out of memory\n");
		exit(1);
	}
	for (int r = 0; r < reps; r++) {
		double t0 = now();
		if (build(&nl, &s, CUTOFF, &err)) {
			fprintf(stderr, "bench_nlist: %s\n", err.msg);
			exit(1);
		}
		double t = now() - t0;
		best = t < best ? t : best;
	}
	*natoms = s.natoms;
	*pairs = nl.n_edges;
	mlip_nlist_release(&nl);
	mlip_structure_release(&s);
	return best;
}

int main(void)
{
	size_t n4, p4, n32, p32, nb, pb;
	double t4 = bench(mlip_nlist_build, 8, 5, &n4, &p4);
	double t32 = bench(mlip_nlist_build, 16, 3, &n32, &p32);
	double tb = bench(mlip_nlist_build_brute, 4, 1, &nb, &pb);
	printf("nlist: diamond Si a=%.3f A, jitter %.2f A, cutoff %.1f A (edges listed both ways)\n",
	       A_SI, JITTER, CUTOFF);
	printf("nlist cells N=%zu: %.4f s, %zu edges, %.3g edges/s\n", n4, t4, p4, p4 / t4);
	printf("nlist cells N=%zu: %.4f s, %zu edges, %.3g edges/s\n", n32, t32, p32, p32 / t32);
	printf("nlist cells t(%zu)/t(%zu) = %.2f (8 for linear scaling)\n", n32, n4, t32 / t4);
	printf("nlist brute N=%zu: %.4f s, %zu edges, %.3g edges/s\n", nb, tb, pb, pb / tb);
	return 0;
}
