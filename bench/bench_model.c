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
 *   float32:   the same three in model.precision float32 (mixed precision: the
 *              network in float, everything else double) on the same weights,
 *              lines prefixed f32_, with the difference from float64, and the
 *              network alone in both precisions (the part float32 speeds up).
 * Times are wall-clock, best of the repeats (the machine is shared: compare
 * ratios within one run); the one-thread figures are also given in CPU time
 * (_cpu), steadier when other processes compete for the cores. Run with
 * OPENBLAS_NUM_THREADS=1. Prints "name value [unit or note]" lines.
 * Usage: bench_model [n_cells (10)] [repeats (5)]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "benchtime.h"
#include "batch.h"
#include "mlearn.h"
#include "model.h"
#include "../tests/model_fixtures.h"

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

static struct mlip_model *si_model(enum mlip_precision precision)
{
	struct mlip_model_config cfg;
	struct mlip_model *m;
	struct mlip_err err;
	mlip_model_config_init(&cfg);
	cfg.cutoff = 5.5;
	cfg.n_elements = 1;
	cfg.elements[0] = 14;
	cfg.precision = precision;
	if (mlip_model_new(&m, &cfg, &err))
		die("model", &err);
	return m;
}

/* A float32 model with m's weights (a fresh one, so its buffers are its own). */
static struct mlip_model *f32_twin(const struct mlip_model *m)
{
	struct mlip_model *t = si_model(MLIP_FLOAT32);
	memcpy(t->params, m->params, m->n_params * sizeof(double));
	return t;
}

/* ‖a − b‖ / ‖b‖ */
static double rel_diff(const double *a, const double *b, size_t n)
{
	double d = 0, s = 0;
	for (size_t k = 0; k < n; k++) {
		d += (a[k] - b[k]) * (a[k] - b[k]);
		s += b[k] * b[k];
	}
	return s > 0 ? sqrt(d / s) : 0;
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

/*
 * Inference lines (prefix "" or "f32_"): 1 and 2 threads (bitwise equal),
 * work bytes. Returns the one-thread time; res (1 + 3N + 9) gets the energy,
 * forces and stress of the one-thread run.
 */
static double report_inference(const char *pre, struct mlip_model *m, const struct mlip_batch *b,
			       int reps, double *res)
{
	struct mlip_model_out out;
	size_t N = b->n_atoms;
	double c1, c2;
	double t1 = time_inference(m, b, 1, reps, &out, &c1);
	memcpy(res, out.energy, sizeof(double));
	memcpy(res + 1, out.forces, 3 * N * sizeof(double));
	memcpy(res + 1 + 3 * N, out.stress, 9 * sizeof(double));
	double t2 = time_inference(m, b, 2, reps, &out, &c2);
	int same = !memcmp(res, out.energy, sizeof(double)) &&
		   !memcmp(res + 1, out.forces, 3 * N * sizeof(double)) &&
		   !memcmp(res + 1 + 3 * N, out.stress, 9 * sizeof(double));
	printf("%sinference_s %.4f (1 thread, best of %d)\n", pre, t1, reps);
	printf("%sinference_atoms_per_s %.0f\n", pre, (double)N / t1);
	printf("%sinference_atoms_per_s_cpu %.0f\n", pre, (double)N / c1);
	printf("%sinference_s_2_threads %.4f (threads used: %d)\n", pre, t2,
	       mlip_descriptor_threads(&m->desc, N));
	printf("%sinference_atoms_per_s_2_threads %.0f\n", pre, (double)N / t2);
	printf("%sinference_threads_bitwise_equal %d\n", pre, same);
	printf("%sinference_energy_eV %.6f\n", pre, out.energy[0]);
	printf("%sinference_work_bytes_per_atom %.0f\n", pre,
	       (double)mlip_model_work_bytes(m) / (double)N);
	return t1;
}

/*
 * The network alone on n rows of m's element 0, one thread, best of reps:
 * forward + input_grad (inference), or forward + input_grad + tangent +
 * backward with one tangent (a training step). Once per type.
 */
#define NET_TIME(T, S)                                                                           \
	static double net_time##S(struct mlip_model *m, size_t n, int train, int reps)           \
	{                                                                                        \
		struct mlip_mlp net = m->net[0];                                                 \
		size_t D = net.width[0], L = net.n_hidden, St = train ? 2 : 1, np = 0;           \
		struct mlip_mlp_params##S p, g;                                                  \
		struct mlip_mlp_cache##S c;                                                      \
		uint64_t rng = 5;                                                                \
		size_t head[1] = { 0 };                                                          \
		for (size_t l = 0; l <= L; l++)                                                  \
			np += net.width[l + 1] * (net.width[l] + 1);                             \
		T *pb = fx_calloc(np, sizeof(T)), *gb = fx_calloc(np, sizeof(T));                \
		T *x = fx_calloc(St * n * D, sizeof(T)), *dx = fx_calloc(n * D, sizeof(T));      \
		T *cb = fx_calloc(mlip_mlp_cache_count(&net, n, St), sizeof(T));                 \
		T *scr = fx_calloc(mlip_mlp_scratch_count(&net, n, St), sizeof(T));              \
		T *dout = fx_calloc(n, sizeof(T));                                               \
		for (size_t k = 0, o = 0; k <= L; k++) {                                         \
			p.w[k] = pb + o, g.w[k] = gb + o;                                        \
			o += net.width[k + 1] * net.width[k];                                    \
			p.b[k] = pb + o, g.b[k] = gb + o;                                        \
			o += net.width[k + 1];                                                   \
		}                                                                                \
		for (size_t k = 0; k < np; k++)                                                  \
			pb[k] = (T)(0.3 * (2 * test_rand_unif(&rng) - 1));                       \
		for (size_t k = 0; k < St * n * D; k++)                                          \
			x[k] = (T)(2 * test_rand_unif(&rng) - 1);                                \
		for (size_t k = 0; k < n; k++)                                                   \
			dout[k] = 1;                                                             \
		mlip_mlp_cache_carve##S(&c, &net, cb, n, St, x);                                 \
		net.n_threads = 1;                                                               \
		double best = 1e30;                                                              \
		for (int r = 0; r < reps; r++) {                                                 \
			double t0 = now();                                                       \
			mlip_mlp_forward##S(&c, &net, &p);                                       \
			mlip_mlp_input_grad##S(dx, scr, &c, &net, &p);                           \
			if (train) {                                                             \
				mlip_mlp_tangent##S(&c, &net, &p, 1);                            \
				mlip_mlp_backward##S(&g, scr, dout, head, 1, &c, &net, &p);      \
			}                                                                        \
			double t = now() - t0;                                                   \
			best = t < best ? t : best;                                              \
		}                                                                                \
		free(pb), free(gb), free(x), free(dx), free(cb), free(scr), free(dout);          \
		return best;                                                                     \
	}
NET_TIME(double, _f64)
NET_TIME(float, _f32)

int main(int argc, char **argv)
{
	int ncell = argc > 1 ? atoi(argv[1]) : 10, reps = argc > 2 ? atoi(argv[2]) : 5;
	struct mlip_err err;
	uint64_t rng = 2024;
	struct mlip_model *m = si_model(MLIP_FLOAT64), *m32;
	printf("model bpnn Si %zu functions, 24-24 tanh, %zu parameters (float64 master weights); "
	       "float64, then float32 (f32_)\n", m->desc.dim[0], m->n_params);

	/* ---- inference ---- */
	struct mlip_structure s, *ps = &s;
	fx_diamond(&s, ncell, 5.431, 0.05, &rng);
	struct mlip_batch b;
	double t0 = now();
	fx_batch_build(&b, &ps, 1, 5.5);
	double t_nl = now() - t0;
	size_t N = b.n_atoms;
	printf("inference_atoms %zu\n", N);
	printf("neighbour_list_s %.3f (%zu edges, %.1f per atom)\n", t_nl, b.n_edges,
	       (double)b.n_edges / (double)N);
	const struct mlip_batch *pb = &b;
	if (mlip_model_fit_scaling(m, &pb, 1, &err))
		die("scaling", &err);
	double *r64 = fx_calloc(1 + 3 * N + 9, sizeof(double));
	double *r32 = fx_calloc(1 + 3 * N + 9, sizeof(double));
	double t64 = report_inference("", m, &b, reps, r64);
	m32 = f32_twin(m);
	double t32 = report_inference("f32_", m32, &b, reps, r32);
	printf("f32_inference_energy_rel_diff %.2g (from float64, same weights)\n",
	       fabs(r32[0] - r64[0]) / fabs(r64[0]));
	printf("f32_inference_forces_rel_diff %.2g (norm of the difference / norm)\n",
	       rel_diff(r32 + 1, r64 + 1, 3 * N));
	printf("f32_inference_stress_rel_diff %.2g\n", rel_diff(r32 + 1 + 3 * N, r64 + 1 + 3 * N, 9));
	mlip_model_free(m32);
	free(r64);
	free(r32);
	/* Where the time goes: the descriptor passes alone (double in both precisions;
	 * without the edge cache of a model forward, so their sum can exceed it), and
	 * the network alone; one thread. */
	{
		struct mlip_env env;
		mlip_env_init(&env);
		if (mlip_env_build(&env, &m->desc, &b, &err))
			die("env", &err);
		size_t D = m->desc.max_dim, *row = fx_calloc(N, sizeof(size_t));
		double *G = fx_calloc(N * D, sizeof(double));
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
		/* the network alone, on the same 8000 rows: what float32 can speed up */
		double n64 = net_time_f64(m, N, 0, reps), n32 = net_time_f32(m, N, 0, reps);
		double tn64 = net_time_f64(m, N, 1, reps), tn32 = net_time_f32(m, N, 1, reps);
		printf("network_inference_s %.4f (forward + input gradient, %zu rows; %.0f%% of "
		       "inference_s)\n", n64, N, 100 * n64 / t64);
		printf("f32_network_inference_s %.4f (%.2fx; %.0f%% of f32_inference_s)\n", n32,
		       n64 / n32, 100 * n32 / t32);
		printf("network_train_s %.4f (+ tangent + backward)\n", tn64);
		printf("f32_network_train_s %.4f (%.2fx)\n", tn32, tn64 / tn32);
		free(row);
		free(G);
		free(g);
		mlip_env_release(&env);
	}
	fx_batch_free(&b);
	mlip_structure_release(&s);
	mlip_model_free(m);

	/* ---- training on synthetic cells (a fresh model sized for this batch only) ---- */
	m = si_model(MLIP_FLOAT64);
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
	m32 = f32_twin(m);
	report_train("f32_train", m32, &tb, 0, reps);
	mlip_model_free(m32);
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
		m = si_model(MLIP_FLOAT64);
		const struct mlip_batch *pmb = &mb;
		if (mlip_model_fit_scaling(m, &pmb, 1, &err))
			die("scaling", &err);
		report_train("mlearn_train", m, &mb, 1, reps);
		m32 = f32_twin(m);
		report_train("f32_mlearn_train", m32, &mb, 1, reps);
		mlip_model_free(m32);
		mlip_model_free(m);
		mlip_batch_release(&mb);
		mlip_structure_list_release(&list);
	}
	printf("peak_rss_MB %.1f\n", (double)peak_rss_kb() / 1024);
	return 0;
}
