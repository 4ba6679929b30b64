/*
 * bench_model.c - speed and memory of the BPNN.
 *
 *   inference: energy + forces + stress of an 8 000-atom Si diamond supercell
 *              (a = 5.431 Å, 10×10×10 conventional cells, displacements of up to
 *              0.05 Å), default descriptors (32), 24-24 tanh, cutoff 5.5 Å;
 *              neighbour-list time reported apart.
 *   training:  forward + backward with energy, force and stress terms on batches
 *              of 8 structures of 64 atoms (strained, displaced diamond cells).
 * Prints "name value unit" lines. Run with OPENBLAS_NUM_THREADS=1 for one core.
 * Usage: bench_model [n_cells (10)] [repeats (3)]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "model.h"
#include "../tests/model_fixtures.h"

/* CPU time of this process: on a shared machine it is steadier than wall time, and
 * with OPENBLAS_NUM_THREADS=1 it is the one-core figure asked for. */
static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static long peak_rss_kb(void)
{
	struct rusage u;
	getrusage(RUSAGE_SELF, &u);
	return u.ru_maxrss;
}

static void die(const char *what, const struct mlip_err *err)
{
	fprintf(stderr, "bench_model: %s: %s\n", what, err->msg);
	exit(1);
}

int main(int argc, char **argv)
{
	int ncell = argc > 1 ? atoi(argv[1]) : 10, reps = argc > 2 ? atoi(argv[2]) : 3;
	struct mlip_err err;
	struct mlip_model_config cfg;
	struct mlip_model *m;
	struct mlip_model_out out;
	uint64_t rng = 2024;

	mlip_model_config_init(&cfg);
	cfg.cutoff = 5.5;
	cfg.n_elements = 1;
	cfg.elements[0] = 14;
	if (mlip_model_new(&m, &cfg, &err))
		die("model", &err);
	printf("model bpnn Si %zu functions, 24-24 tanh, %zu parameters, %s\n", m->desc.dim[0],
	       m->n_params, MLIP_REAL_NAME);

	/* ---- inference ---- */
	struct mlip_structure s, *ps = &s;
	fx_diamond(&s, ncell, 5.431, 0.05, &rng);
	struct mlip_batch b;
	double t0 = now();
	fx_batch_build(&b, &ps, 1, cfg.cutoff);
	double t_nl = now() - t0;
	size_t N = b.n_atoms;
	printf("inference_atoms %zu\n", N);
	printf("neighbour_list_s %.3f (%zu edges, %.1f per atom)\n", t_nl, b.n_edges,
	       (double)b.n_edges / (double)N);
	const struct mlip_batch *pb = &b;
	if (mlip_model_fit_scaling(m, &pb, 1, &err))
		die("scaling", &err);
	double best = 1e30;
	for (int r = 0; r < reps; r++) {
		t0 = now();
		if (mlip_model_forward(m, &b, MLIP_MODEL_FORCES | MLIP_MODEL_STRESS, &out, &err))
			die("forward", &err);
		double t = now() - t0;
		if (t < best)
			best = t;
	}
	printf("inference_s %.4f (best of %d)\n", best, reps);
	printf("inference_atoms_per_s %.0f\n", (double)N / best);
	printf("inference_energy_eV %.6f\n", out.energy[0]);
	printf("inference_work_bytes_per_atom %.0f\n", (double)mlip_model_work_bytes(m) / (double)N);
	/* Where the time goes: the descriptor passes alone. */
	{
		struct mlip_env env;
		mlip_env_init(&env);
		if (mlip_env_build(&env, &m->desc, &b, &err))
			die("env", &err);
		size_t D = m->desc.max_dim, *row = malloc(N * sizeof(size_t));
		mlip_real *G = calloc(N * D, sizeof(mlip_real));
		double *g = calloc(3 * env.n_edges, sizeof(double));
		for (size_t i = 0; i < N; i++)
			row[i] = i * D;
		t0 = now();
		mlip_descriptor_forward(G, row, &m->desc, &env, &err);
		double tf = now() - t0;
		t0 = now();
		mlip_descriptor_vjp(g, G, row, &m->desc, &env, &err);
		double tv = now() - t0;
		t0 = now();
		mlip_descriptor_jvp(G, row, g, &m->desc, &env, &err);
		double tj = now() - t0;
		printf("descriptor_forward_s %.4f\ndescriptor_vjp_s %.4f\ndescriptor_jvp_s %.4f\n", tf, tv,
		       tj);
		free(row);
		free(G);
		free(g);
		mlip_env_release(&env);
	}
	printf("peak_rss_MB %.1f\n", (double)peak_rss_kb() / 1024);
	fx_batch_free(&b);
	mlip_structure_release(&s);

	/* ---- training (a fresh model, so that its buffers fit this batch only) ---- */
	mlip_model_free(m);
	if (mlip_model_new(&m, &cfg, &err))
		die("model", &err);
	enum { NS = 8 };
	struct mlip_structure ts[NS], *pts[NS];
	for (int k = 0; k < NS; k++) {
		double eps[9] = { 0 };
		fx_diamond(&ts[k], 2, 5.431, 0.1, &rng);
		for (int q = 0; q < 9; q++)
			eps[q] = 0.02 * (2 * test_rand_unif(&rng) - 1);
		struct mlip_batch tmp; /* strain positions and cell via a one-system batch view */
		memset(&tmp, 0, sizeof(tmp));
		size_t as[2] = { 0, ts[k].natoms };
		tmp.atom_start = as;
		tmp.positions = ts[k].positions;
		tmp.cell = ts[k].cell;
		fx_batch_strain(&tmp, 0, eps);
		pts[k] = &ts[k];
	}
	struct mlip_batch tb;
	fx_batch_build(&tb, pts, NS, cfg.cutoff);
	size_t TN = tb.n_atoms, TB = tb.n_systems;
	const struct mlip_batch *ptb = &tb;
	if (mlip_model_fit_scaling(m, &ptb, 1, &err))
		die("scaling", &err);
	double *dE = calloc(TB, sizeof(double)), *dF = calloc(3 * TN, sizeof(double));
	double *dS = calloc(9 * TB, sizeof(double));
	for (size_t k = 0; k < TB; k++)
		dE[k] = 1.0 / (double)TB;
	int steps = 20 * reps;
	t0 = now();
	for (int r = 0; r < steps; r++) {
		if (mlip_model_forward(m, &tb, MLIP_MODEL_FORCES | MLIP_MODEL_STRESS | MLIP_MODEL_TRAIN,
				       &out, &err))
			die("forward", &err);
		for (size_t k = 0; k < 3 * TN; k++) /* mse on forces against zero */
			dF[k] = 2 * out.forces[k] / (double)(3 * TN);
		for (size_t k = 0; k < 9 * TB; k++)
			dS[k] = 2 * out.stress[k] / (double)(9 * TB);
		mlip_model_zero_grad(m);
		if (mlip_model_backward(m, &tb, dE, dF, dS, &err))
			die("backward", &err);
	}
	double tt = (now() - t0) / steps;
	printf("train_batch %zu structures, %zu atoms, %zu edges\n", TB, TN, tb.n_edges);
	printf("train_step_s %.5f\n", tt);
	printf("train_atoms_per_s %.0f\n", (double)TN / tt);
	printf("train_work_bytes_per_atom %.0f\n", (double)mlip_model_work_bytes(m) / (double)TN);
	printf("peak_rss_MB %.1f\n", (double)peak_rss_kb() / 1024);
	free(dE);
	free(dF);
	free(dS);
	fx_batch_free(&tb);
	for (int k = 0; k < NS; k++)
		mlip_structure_release(&ts[k]);
	mlip_model_free(m);
	return 0;
}
