/*
 * mlip_step.c - training-step throughput of mlip's library, for
 * bench/peers/bench_torch.sh: the CPU time of the step alone, which
 * mlip-train's log does not give.
 *
 * The step of lib/train.c (training forward with forces and stress, the
 * tasks' raw losses and gradients, mlip_model_backward, a gradient sum over
 * MPI ranks, AdamW on the model's float64 parameters) in the precision the
 * config's model.precision names (float32: the network in float, mixed
 * precision, model.h). No schedule, clipping, EMA, logging or checkpoints:
 * only what every step costs.
 *
 * Usage: [mpiexec -n R] mlip_step CONFIG.yaml [WARMUP [STEPS]]
 * The config is an ordinary mlip-train config (data.train streams, model,
 * tasks, optim.lr). Prints one JSON line (rank 0): atoms per second summed
 * over the ranks for STEPS steps after WARMUP steps; batches come from one
 * shuffled epoch order, rank r taking position step·R + r, as mlip-train does.
 * Also the CPU time of the timed steps summed over ranks (atoms_per_cpu_s):
 * steadier than wall time on a shared machine.
 * Data loading, scaling and task fitting are not timed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batch.h"
#include "config.h"
#include "dist.h"
#include "model.h"
#include "optim.h"
#include "plugin.h"
#include "potential.h"
#include "rng.h"
#include "tasks.h"

static void die(const char *what, const struct mlip_err *err)
{
	fprintf(stderr, "mlip_step: %s: %s\n", what, err->msg);
	exit(1);
}

static double clock_s(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	struct mlip_err err = { 0 };
	struct mlip_plugins reg;
	struct mlip_config cfg;
	struct mlip_potential p;
	struct mlip_batch_list train;

	if (mlip_dist_init(&argc, &argv, &err))
		die("mpi", &err);
	if (argc < 2) {
		fputs("usage: mlip_step CONFIG.yaml [WARMUP [STEPS]]\n", stderr);
		return 2;
	}
	long warm = argc > 2 ? atol(argv[2]) : 3, steps = argc > 3 ? atol(argv[3]) : 10;
	int rank = mlip_dist_rank(), world = mlip_dist_size();
	mlip_plugins_init(&reg);
	mlip_config_init(&cfg);
	if (mlip_config_load(argv[1], NULL, 0, &cfg, &err))
		die("config", &err);
	uint64_t seed = cfg.seed;
	double lr = cfg.optim.lr, wd = cfg.optim.weight_decay;
	mlip_batch_list_init(&train);
	for (size_t k = 0; k < cfg.data.n_train; k++)
		if (mlip_batch_list_load(&train, cfg.data.train[k], &err))
			die("data", &err);
	if (mlip_potential_create(&p, &cfg, &reg, &err))
		die("model", &err);
	struct mlip_model *m = p.model;
	struct mlip_tasks *tasks = &p.tasks;
	const struct mlip_batch **bp = malloc(train.n * sizeof(*bp));
	size_t maxN = 0, maxB = 0;
	for (size_t k = 0; k < train.n; k++) {
		bp[k] = &train.items[k];
		if (train.items[k].n_atoms > maxN)
			maxN = train.items[k].n_atoms;
		if (train.items[k].n_systems > maxB)
			maxB = train.items[k].n_systems;
	}
	if (mlip_model_fit_scaling(m, bp, train.n, &err) || mlip_tasks_fit(tasks, bp, train.n, &err))
		die("fit", &err);
	free(bp);

	size_t n = m->n_params, H = tasks->n_heads, T = tasks->n_tasks;
	uint8_t *decay = calloc(n + 1, 1);
	double *adam_m = calloc(n + 1, sizeof(double)), *adam_v = calloc(n + 1, sizeof(double));
	double *dE = malloc(maxB * H * sizeof(double)), *dF = malloc(3 * maxN * H * sizeof(double));
	double *dS = malloc(9 * maxB * H * sizeof(double)), *tl = malloc(T * sizeof(double));
	uint64_t *counts = malloc(T * sizeof(uint64_t));
	size_t *perm = malloc(train.n * sizeof(size_t));
	if (!decay || !adam_m || !adam_v || !dE || !dF || !dS || !tl || !counts || !perm) {
		fputs("mlip_step: out of memory\n", stderr);
		return 1;
	}
	for (size_t k = 0; k < m->tensors.n; k++)
		if (!(m->tensors.t[k].flags & (MLIP_TENSOR_NO_DECAY | MLIP_TENSOR_FROZEN)))
			memset(decay + m->tensors.t[k].offset, 1, m->tensors.t[k].count);
	struct mlip_adamw adam;
	mlip_adamw_defaults(&adam);
	adam.lr = lr;
	adam.weight_decay = wd;
	unsigned needs = mlip_tasks_needs(tasks, 1);
	unsigned flags = MLIP_MODEL_TRAIN | ((needs & MLIP_HAS_FORCES) ? MLIP_MODEL_FORCES : 0) |
			 ((needs & MLIP_HAS_STRESS) ? MLIP_MODEL_STRESS : 0);
	for (size_t k = 0; k < train.n; k++)
		perm[k] = k;
	struct mlip_rng r;
	mlip_rng_seed2(&r, seed, 0);
	mlip_rng_shuffle(&r, perm, train.n);

	double t0 = 0, c0 = 0, loss = 0;
	uint64_t atoms = 0;
	for (long s = 0; s < warm + steps; s++) {
		if (s == warm) {
			mlip_dist_barrier();
			t0 = clock_s(CLOCK_MONOTONIC);
			c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
		}
		const struct mlip_batch *b = &train.items[perm[((size_t)s * (size_t)world + (size_t)rank) % train.n]];
		struct mlip_model_out out;
		mlip_model_zero_grad(m);
		if (mlip_model_forward(m, b, flags, &out, &err) ||
		    mlip_tasks_loss_counts(tasks, b, counts, &err) ||
		    mlip_dist_sum_u64(counts, T, &err))
			die("forward", &err);
		memset(dE, 0, b->n_systems * H * sizeof(double));
		memset(dF, 0, 3 * b->n_atoms * H * sizeof(double));
		memset(dS, 0, 9 * b->n_systems * H * sizeof(double));
		if (mlip_tasks_loss(tasks, b, out.energy, out.forces, out.stress, counts, tl, dE,
				    out.forces ? dF : NULL, out.stress ? dS : NULL, &err) ||
		    mlip_model_backward(m, b, dE, out.forces ? dF : NULL, out.stress ? dS : NULL, &err))
			die("backward", &err);
		if (mlip_dist_sum_double(m->grads, n, &err) || mlip_dist_sum_double(tl, T, &err))
			die("allreduce", &err);
		mlip_adamw_step(m->params, m->grads, adam_m, adam_v, decay, n, &adam, 1.0,
				(uint64_t)s + 1);
		loss = 0;
		for (size_t k = 0; k < T; k++)
			loss += tl[k];
		if (s >= warm)
			atoms += b->n_atoms;
	}
	double cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
	mlip_dist_barrier();
	double dt = clock_s(CLOCK_MONOTONIC) - t0;
	if (mlip_dist_sum_u64(&atoms, 1, &err) || mlip_dist_sum_double(&cpu, 1, &err))
		die("allreduce", &err);
	if (rank == 0)
		printf("{\"peer\":\"mlip_step\",\"precision\":\"%s\",\"ranks\":%d,\"steps\":%ld,"
		       "\"atoms\":%llu,\"seconds\":%.6g,\"atoms_per_s\":%.6g,\"cpu_seconds\":%.6g,"
		       "\"atoms_per_cpu_s\":%.6g,\"loss\":%.9g,\"params\":%zu}\n",
		       mlip_precision_name(m->precision), world, steps, (unsigned long long)atoms, dt, (double)atoms / dt,
		       cpu, (double)atoms / cpu, loss, n);
	free(decay);
	free(adam_m);
	free(adam_v);
	free(dE);
	free(dF);
	free(dS);
	free(tl);
	free(counts);
	free(perm);
	mlip_potential_release(&p);
	mlip_batch_list_release(&train);
	mlip_plugins_release(&reg);
	mlip_dist_finalize();
	return 0;
}
