/*
 * dist_test.c - run under `mpiexec -n 2` (tests/cli/t0900-mpi-dist.sh): the
 * reduced flat gradient equals the serial sum, shards cover the buffer,
 * reduce-scatter + all-gather equals an all-reduce, and a failure on one
 * rank reaches every rank without a hang. Prints "ok" on rank 0.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"

/* The gradient contribution of "rank r" for element k: what a serial run sums. */
static double contribution(int r, size_t k)
{
	return sin(0.37 * (double)k + 1.3 * r) * (1.0 + r) + 1e-3 * (double)k;
}

#define FAIL(...) do { fprintf(stderr, "rank %d: ", rank); fprintf(stderr, __VA_ARGS__); \
	fputc('\n', stderr); mlip_dist_abort(1); } while (0)

int main(int argc, char **argv)
{
	struct mlip_err err = { 0 };
	if (mlip_dist_init(&argc, &argv, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	int rank = mlip_dist_rank(), w = mlip_dist_size();
	size_t n = 100003;
	double *g = malloc(n * sizeof(double)), *h = malloc(n * sizeof(double));
	for (size_t k = 0; k < n; k++)
		g[k] = h[k] = contribution(rank, k);

	if (mlip_dist_sum_double(g, n, &err))
		FAIL("%s", err.msg);
	for (size_t k = 0; k < n; k++) {
		double want = 0;
		for (int r = 0; r < w; r++)
			want += contribution(r, k);
		if (fabs(g[k] - want) > 1e-12 * fmax(1, fabs(want)))
			FAIL("allreduce element %zu: %.17g != %.17g", k, g[k], want);
	}

	/* shards cover [0, n) exactly once */
	size_t covered = 0;
	for (int r = 0; r < w; r++) {
		size_t s, c;
		mlip_dist_shard(n, w, r, &s, &c);
		if (s != covered)
			FAIL("shard %d starts at %zu, expected %zu", r, s, covered);
		covered += c;
	}
	if (covered != n)
		FAIL("shards cover %zu of %zu", covered, n);

	if (mlip_dist_reduce_scatter_sum(h, n, &err) || mlip_dist_allgather_shards(h, n, &err))
		FAIL("%s", err.msg);
	if (memcmp(g, h, n * sizeof(double)) != 0)
		FAIL("reduce-scatter + all-gather differs from all-reduce");

	/* one rank fails: every rank learns it, with the rank named */
	int status = rank == w - 1 ? MLIP_EDATA : MLIP_OK;
	struct mlip_err e2 = { 0 };
	int agreed = mlip_dist_agree(status, &e2);
	if (agreed != MLIP_EDATA)
		FAIL("agree returned %d", agreed);
	if (rank != w - 1 && w > 1 && !strstr(e2.msg, "failed"))
		FAIL("agree message '%s'", e2.msg);

	uint64_t cnt[2] = { 1, (uint64_t)rank };
	if (mlip_dist_sum_u64(cnt, 2, &err))
		FAIL("%s", err.msg);
	if (cnt[0] != (uint64_t)w || cnt[1] != (uint64_t)(w * (w - 1) / 2))
		FAIL("u64 sum");

	if (rank == 0)
		printf("ok %d ranks\n", w);
	free(g);
	free(h);
	mlip_dist_finalize();
	return 0;
}
