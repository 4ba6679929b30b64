/*
 * bench_mtp.c - speed of the moment tensor basis (lib/mtp.h) on the
 * inference cell of bench_model.c: an 8 000-atom Si diamond supercell
 * (a = 5.431 Å, 10×10×10 conventional cells, displacements of up to
 * 0.05 Å), cutoff 5.5 Å, one thread, for levels 8 to 24. Per level: the
 * basis size, the time per atom of the forward pass, of forward + VJP (what
 * energies, forces and stress need from the descriptor), of the JVP and of
 * the radial-coefficient gradient (one tangent), forward + VJP in atoms per
 * second, and a training pass as mlip-train runs it with train_radial
 * (forward keeping the atoms' values, VJP, JVP, radial gradient). Level 16
 * runs again with n_pair 8 (the recipe's basis). Best of the repeats, wall clock;
 * forward + VJP also in CPU time (_cpu), steadier when other processes share
 * the cores.
 * Prints "name value unit" lines.
 * Usage: bench_mtp [n_cells (10)] [repeats (3)]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "benchtime.h"
#include "mtp.h"
#include "../tests/model_fixtures.h"

static void die(const char *what, const struct mlip_err *err)
{
	fprintf(stderr, "bench_mtp: %s: %s\n", what, err->msg);
	exit(1);
}

int main(int argc, char **argv)
{
	int ncell = argc > 1 ? atoi(argv[1]) : 10, reps = argc > 2 ? atoi(argv[2]) : 3;
	uint64_t rng = 2024;
	struct mlip_structure s, *ps = &s;
	struct mlip_batch b;
	struct mlip_err err;
	int z[1] = { 14 };
	fx_diamond(&s, ncell, 5.431, 0.05, &rng);
	fx_batch_build(&b, &ps, 1, 5.5);
	size_t N = b.n_atoms;
	printf("mtp_atoms %zu\n", N);
	/* the levels, then the recipe's basis (level 16, n_pair 8) */
	static const struct { int level; size_t n_pair; const char *name; } runs[] = {
		{ 8, 0, "mtp8" }, { 12, 0, "mtp12" }, { 16, 0, "mtp16" }, { 20, 0, "mtp20" },
		{ 24, 0, "mtp24" }, { 16, 8, "mtp16p8" },
	};
	for (size_t k = 0; k < sizeof(runs) / sizeof(runs[0]); k++) {
		struct mlip_mtp m;
		struct mlip_env env;
		struct mlip_mtp_options opt;
		const char *name = runs[k].name;
		int L = runs[k].level;
		mlip_mtp_options_init(&opt);
		opt.n_pair = runs[k].n_pair;
		if (mlip_mtp_init(&m, z, 1, 5.5, L, &opt, &err))
			die("init", &err);
		m.n_threads = 1;
		mlip_env_init(&env);
		if (mlip_mtp_env_build(&env, &m, &b, &err))
			die("env", &err);
		size_t D = m.n_basis, E = env.n_edges, *row = fx_calloc(N, sizeof(size_t));
		double *G = fx_calloc(N * D, sizeof(double)), *w = fx_calloc(N * D, sizeof(double));
		double *g = fx_calloc(3 * E, sizeof(double)), *t = fx_calloc(3 * E, sizeof(double));
		size_t nc = m.n_mu * m.n_radial, *row2 = fx_calloc(2 * N, sizeof(size_t));
		double *adj = fx_calloc(2 * N * D, sizeof(double)), *gc = fx_calloc(nc, sizeof(double));
		for (size_t i = 0; i < N; i++)
			row[i] = i * D;
		for (size_t i = 0; i < 2 * N; i++)
			row2[i] = i * D;
		for (size_t k = 0; k < 2 * N * D; k++)
			adj[k] = 2 * test_rand_unif(&rng) - 1;
		for (size_t k = 0; k < N * D; k++)
			w[k] = 2 * test_rand_unif(&rng) - 1;
		for (size_t k = 0; k < 3 * E; k++)
			t[k] = 2 * test_rand_unif(&rng) - 1;
		double tf = 1e30, tv = 1e30, tj = 1e30, tc = 1e30, tr = 1e30, tt = 1e30;
		for (int r = 0; r < reps; r++) {
			double a = now(), ca = cpu_now();
			if (mlip_mtp_forward(G, row, &m, &env, &err))
				die("forward", &err);
			double bt = now();
			if (mlip_mtp_vjp(g, w, row, &m, &env, &err))
				die("vjp", &err);
			double c = now();
			tc = fmin(tc, cpu_now() - ca);
			if (mlip_mtp_jvp(G, row, t, &m, &env, &err))
				die("jvp", &err);
			double d = now();
			if (mlip_mtp_radial_grad(gc, adj, row2, t, 1, &m, &env, &err))
				die("radial", &err);
			double e = now();
			tf = fmin(tf, bt - a);
			tv = fmin(tv, c - bt);
			tj = fmin(tj, d - c);
			tr = fmin(tr, e - d);
			/* the training pass: the forward keeps X, the JVP its tangents */
			mlip_mtp_keep(&m, &env, (size_t)1 << 31);
			if (mlip_mtp_forward(G, row, &m, &env, &err) ||
			    mlip_mtp_vjp(g, w, row, &m, &env, &err) ||
			    mlip_mtp_jvp(G, row, t, &m, &env, &err) ||
			    mlip_mtp_radial_grad(gc, adj, row2, t, 1, &m, &env, &err))
				die("training pass", &err);
			mlip_mtp_keep_drop(&m);
			tt = fmin(tt, now() - e);
		}
		printf("%s_basis_size %zu functions (n_mu %zu)\n", name, D, m.n_mu);
		printf("%s_forward_us_per_atom %.2f us\n", name, 1e6 * tf / (double)N);
		printf("%s_forward_vjp_us_per_atom %.2f us\n", name, 1e6 * (tf + tv) / (double)N);
		printf("%s_forward_vjp_atoms_per_s %.0f atoms/s\n", name, (double)N / (tf + tv));
		printf("%s_forward_vjp_atoms_per_s_cpu %.0f atoms/s\n", name, (double)N / tc);
		printf("%s_jvp_us_per_atom %.2f us\n", name, 1e6 * tj / (double)N);
		printf("%s_radial_grad_us_per_atom %.2f us\n", name, 1e6 * tr / (double)N);
		printf("%s_training_pass_us_per_atom %.2f us\n", name, 1e6 * tt / (double)N);
		free(row);
		free(row2);
		free(adj);
		free(gc);
		free(G);
		free(w);
		free(g);
		free(t);
		mlip_env_release(&env);
		mlip_mtp_release(&m);
	}
	fx_batch_free(&b);
	mlip_structure_release(&s);
	return 0;
}
