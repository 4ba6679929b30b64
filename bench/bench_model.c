/*
 * bench_model.c - speed and memory of the BPNN.
 *
 *   inference: energy + forces + stress of an 8 000-atom Si diamond supercell
 *              (a = 5.431 Å, 10×10×10 conventional cells, displacements of up to
 *              0.05 Å), default descriptors (32), 24-24 tanh, cutoff 5.5 Å, on 1
 *              and on 2 threads (the two must agree bit for bit); neighbour-list
 *              time reported apart, and the three descriptor passes alone.
 *   training:  forward + backward with energy, force and stress terms on a batch
 *              of 8 structures of 64 atoms (strained, displaced diamond cells),
 *              and on the first 8 structures of the mlearn Si training set
 *              ($MLIP_MLEARN_DIR/Si/training.json, default ../shared/data/mlearn),
 *              collated by mlip_batch_collate at 5.5 Å, with squared-error
 *              gradients against the DFT labels.
 * Times are wall-clock, best of the repeats (the machine is shared: compare
 * ratios within one run); the one-thread figures are also given in CPU time
 * (_cpu), steadier when other processes compete for the cores. Run with
 * OPENBLAS_NUM_THREADS=1. Prints "name value [unit or note]" lines.
 * Usage: bench_model [n_cells (10)] [repeats (5)]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "batch.h"
#include "mlearn.h"
#include "model.h"
#include "../tests/model_fixtures.h"

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static double cpu_now(void)
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

static struct mlip_model *si_model(void)
{
	struct mlip_model_config cfg;
	struct mlip_model *m;
	struct mlip_err err;
	mlip_model_config_init(&cfg);
	cfg.cutoff = 5.5;
	cfg.n_elements = 1;
	cfg.elements[0] = 14;
	if (mlip_model_new(&m, &cfg, &err))
		die("model", &err);
	return m;
}

/* Best wall (and CPU) time of reps inference passes (forces and stress) on threads threads. */
static double time_inference(struct mlip_model *m, const struct mlip_batch *b, int threads,
			     int reps, struct mlip_model_out *out, double *cpu)
{
	struct mlip_err err;
	double best = 1e30;
	m->desc.n_threads = threads;
	*cpu = 1e30;
	for (int r = 0; r < reps; r++) {
		double t0 = now(), c0 = cpu_now();
		if (mlip_model_forward(m, b, MLIP_MODEL_FORCES | MLIP_MODEL_STRESS, out, &err))
			die("forward", &err);
		double t = now() - t0, c = cpu_now() - c0;
		if (t < best)
			best = t;
		if (c < *cpu)
			*cpu = c;
	}
	return best;
}

/*
 * Best wall time of a training step (forward + backward) over reps rounds of
 * steps steps. With labels, the upstream gradients are those of squared errors
 * against b's energy, forces and stress; without, against zero.
 */
static double time_train(struct mlip_model *m, const struct mlip_batch *b, int threads,
			 int labels, int reps, int steps, double *cpu)
{
	struct mlip_err err;
	struct mlip_model_out out;
	size_t N = b->n_atoms, B = b->n_systems;
	double *dE = fx_calloc(B, sizeof(double)), *dF = fx_calloc(3 * N, sizeof(double));
	double *dS = fx_calloc(9 * B, sizeof(double)), best = 1e30;
	m->desc.n_threads = threads;
	*cpu = 1e30;
	for (int r = 0; r < reps; r++) {
		double t0 = now(), c0 = cpu_now();
		for (int q = 0; q < steps; q++) {
			if (mlip_model_forward(m, b, MLIP_MODEL_FORCES | MLIP_MODEL_STRESS |
						     MLIP_MODEL_TRAIN, &out, &err))
				die("forward", &err);
			for (size_t k = 0; k < B; k++)
				dE[k] = 2 * (out.energy[k] - (labels ? b->energy[k] : 0)) / (double)B;
			for (size_t k = 0; k < 3 * N; k++)
				dF[k] = 2 * (out.forces[k] - (labels ? b->forces[k] : 0)) / (double)(3 * N);
			for (size_t k = 0; k < 9 * B; k++)
				dS[k] = 2 * (out.stress[k] - (labels ? b->stress[k] : 0)) / (double)(9 * B);
			mlip_model_zero_grad(m);
			if (mlip_model_backward(m, b, dE, dF, dS, &err))
				die("backward", &err);
		}
		double t = (now() - t0) / steps, c = (cpu_now() - c0) / steps;
		if (t < best)
			best = t;
		if (c < *cpu)
			*cpu = c;
	}
	free(dE);
	free(dF);
	free(dS);
	return best;
}

static void report_train(const char *name, struct mlip_model *m, const struct mlip_batch *b,
			 int labels, int reps)
{
	size_t N = b->n_atoms;
	int steps = 10;
	double c1, c2;
	double t1 = time_train(m, b, 1, labels, reps, steps, &c1);
	double t2 = time_train(m, b, 2, labels, reps, steps, &c2);
	printf("%s_batch %zu structures, %zu atoms, %zu edges\n", name, b->n_systems, N,
	       b->n_edges);
	printf("%s_step_s %.5f\n", name, t1);
	printf("%s_atoms_per_s %.0f\n", name, (double)N / t1);
	printf("%s_atoms_per_s_cpu %.0f\n", name, (double)N / c1);
	printf("%s_step_s_2_threads %.5f\n", name, t2);
	printf("%s_atoms_per_s_2_threads %.0f\n", name, (double)N / t2);
	printf("%s_work_bytes_per_atom %.0f\n", name, (double)mlip_model_work_bytes(m) / (double)N);
}

int main(int argc, char **argv)
{
	int ncell = argc > 1 ? atoi(argv[1]) : 10, reps = argc > 2 ? atoi(argv[2]) : 5;
	struct mlip_err err;
	struct mlip_model_out out;
	uint64_t rng = 2024;
	struct mlip_model *m = si_model();
	printf("model bpnn Si %zu functions, 24-24 tanh, %zu parameters, %s\n", m->desc.dim[0],
	       m->n_params, MLIP_REAL_NAME);

	/* ---- inference ---- */
	struct mlip_structure s, *ps = &s;
	fx_diamond(&s, ncell, 5.431, 0.05, &rng);
	struct mlip_batch b;
	double t0 = now();
	fx_batch_build(&b, &ps, 1, 5.5);
	double t_nl = now() - t0;
	size_t N = b.n_atoms, H = 1;
	printf("inference_atoms %zu\n", N);
	printf("neighbour_list_s %.3f (%zu edges, %.1f per atom)\n", t_nl, b.n_edges,
	       (double)b.n_edges / (double)N);
	const struct mlip_batch *pb = &b;
	if (mlip_model_fit_scaling(m, &pb, 1, &err))
		die("scaling", &err);
	double c1, c2;
	double t1 = time_inference(m, &b, 1, reps, &out, &c1);
	double *ref = fx_calloc(1 + 3 * N + 9, sizeof(double));
	memcpy(ref, out.energy, H * sizeof(double));
	memcpy(ref + 1, out.forces, 3 * N * sizeof(double));
	memcpy(ref + 1 + 3 * N, out.stress, 9 * sizeof(double));
	double t2 = time_inference(m, &b, 2, reps, &out, &c2);
	int same = !memcmp(ref, out.energy, sizeof(double)) &&
		   !memcmp(ref + 1, out.forces, 3 * N * sizeof(double)) &&
		   !memcmp(ref + 1 + 3 * N, out.stress, 9 * sizeof(double));
	printf("inference_s %.4f (1 thread, best of %d)\n", t1, reps);
	printf("inference_atoms_per_s %.0f\n", (double)N / t1);
	printf("inference_atoms_per_s_cpu %.0f\n", (double)N / c1);
	printf("inference_s_2_threads %.4f (threads used: %d)\n", t2,
	       mlip_descriptor_threads(&m->desc, N));
	printf("inference_atoms_per_s_2_threads %.0f\n", (double)N / t2);
	printf("inference_threads_bitwise_equal %d\n", same);
	printf("inference_energy_eV %.6f\n", out.energy[0]);
	printf("inference_work_bytes_per_atom %.0f\n", (double)mlip_model_work_bytes(m) / (double)N);
	free(ref);
	/* Where the time goes: the descriptor passes alone, one thread. */
	{
		struct mlip_env env;
		mlip_env_init(&env);
		if (mlip_env_build(&env, &m->desc, &b, &err))
			die("env", &err);
		size_t D = m->desc.max_dim, *row = fx_calloc(N, sizeof(size_t));
		mlip_real *G = fx_calloc(N * D, sizeof(mlip_real));
		double *g = fx_calloc(3 * env.n_edges, sizeof(double)), tf = 1e30, tv = 1e30, tj = 1e30;
		for (size_t i = 0; i < N; i++)
			row[i] = i * D;
		m->desc.n_threads = 1;
		for (int r = 0; r < reps; r++) {
			double a = now();
			mlip_descriptor_forward(G, row, &m->desc, &env, &err);
			double bt = now();
			mlip_descriptor_vjp(g, G, row, &m->desc, &env, &err);
			double c = now();
			mlip_descriptor_jvp(G, row, g, &m->desc, &env, &err);
			double d = now();
			tf = bt - a < tf ? bt - a : tf;
			tv = c - bt < tv ? c - bt : tv;
			tj = d - c < tj ? d - c : tj;
		}
		printf("descriptor_forward_s %.4f\ndescriptor_vjp_s %.4f\ndescriptor_jvp_s %.4f\n", tf, tv,
		       tj);
		free(row);
		free(G);
		free(g);
		mlip_env_release(&env);
	}
	fx_batch_free(&b);
	mlip_structure_release(&s);
	mlip_model_free(m);

	/* ---- training on synthetic cells (a fresh model sized for this batch only) ---- */
	m = si_model();
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
	fx_batch_build(&tb, pts, NS, 5.5);
	const struct mlip_batch *ptb = &tb;
	if (mlip_model_fit_scaling(m, &ptb, 1, &err))
		die("scaling", &err);
	report_train("train", m, &tb, 0, reps);
	fx_batch_free(&tb);
	for (int k = 0; k < NS; k++)
		mlip_structure_release(&ts[k]);
	mlip_model_free(m);

	/* ---- training on mlearn Si, collated by the library ---- */
	const char *dir = getenv("MLIP_MLEARN_DIR");
	char path[4096];
	snprintf(path, sizeof(path), "%s/Si/training.json", dir ? dir : "../shared/data/mlearn");
	FILE *f = fopen(path, "r");
	if (!f) {
		printf("mlearn_train_skipped cannot open %s\n", path);
	} else {
		struct mlip_structure_list list;
		struct mlip_batch mb;
		mlip_structure_list_init(&list);
		mlip_batch_init(&mb);
		if (mlip_mlearn_read(f, path, &list, &err))
			die("mlearn", &err);
		fclose(f);
		const struct mlip_structure *first[NS];
		size_t n = list.n < NS ? list.n : NS;
		for (size_t k = 0; k < n; k++)
			first[k] = &list.items[k];
		if (mlip_batch_collate(&mb, first, n, 5.5, 0, "mlearn", &err))
			die("collate", &err);
		m = si_model();
		const struct mlip_batch *pmb = &mb;
		if (mlip_model_fit_scaling(m, &pmb, 1, &err))
			die("scaling", &err);
		report_train("mlearn_train", m, &mb, 1, reps);
		mlip_model_free(m);
		mlip_batch_release(&mb);
		mlip_structure_list_release(&list);
	}
	printf("peak_rss_MB %.1f\n", (double)peak_rss_kb() / 1024);
	return 0;
}
