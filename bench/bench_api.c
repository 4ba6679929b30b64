/*
 * bench_api.c - what the public API (mlip.h) costs against the model's own
 * kernel, on the 8 000-atom Si diamond supercell of bench_model (a = 5.431
 * Å, displacements up to 0.05 Å, default descriptors, 24-24 tanh, cutoff
 * 5.5 Å), one thread, energy + forces + stress (virial):
 *
 *   kernel      mlip_model_forward on the collated batch: mlip-eval's
 *               model throughput
 *   compute     mlip_compute: the whole structure, neighbour list included
 *               (an ASE calculator's call)
 *   neighbors   mlip_compute_neighbors on the ghost-atom form an MD code
 *               hands over (every image within the cutoff a ghost, full
 *               lists): LAMMPS and KIM's path, neighbour list excluded as
 *               the MD code builds it
 *
 * The model file is written with random weights (speed does not depend on
 * them). Best wall time of the repeats; prints "name value unit" lines.
 * With a third argument "mtp" the model is share/configs/mtp.yaml's instead:
 * the moment tensor basis of level 16 with n_pair 8 (63 functions, trained radial
 * coefficients) under the same 24-24 network; its lines start "api_mtp".
 * Usage: bench_api [n_cells (10)] [repeats (5)] [mtp]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "benchtime.h"
#include "mlip.h"
#include "batch.h"
#include "config.h"
#include "potential.h"
#include "../tests/geometry.h"
#include "../tests/ghosts.h"

static void die(const char *what, const char *msg)
{
	fprintf(stderr, "bench_api: %s: %s\n", what, msg);
	exit(1);
}

static const char *config_text =
	"data: {train: x.mlb}\n"
	"model: {cutoff: 5.5, elements: [Si], hidden: [24, 24]%s}\n"
	"tasks:\n"
	"  - {name: energy, property: energy, datasets: [si], loss: mse, normalizer: rmsd,\n"
	"     element_references: fit}\n"
	"  - {name: forces, property: forces, datasets: [si], loss: mse}\n"
	"optim: {lr: 0.001}\n"
	"schedule: {epochs: 1}\n";

/* Write a model for s's element to path (scaling and references fitted on s). */
static void write_model(const char *path, struct mlip_structure *s, struct mlip_batch *b, int mtp)
{
	char text[1024];
	snprintf(text, sizeof(text), config_text, mtp ? ", descriptor: {type: mtp, level: 16, "
		 "r_min: 1.5, train_radial: true, n_pair: 8}" : "");
	struct mlip_err err = { 0 };
	struct mlip_plugins reg;
	struct mlip_config cfg;
	struct mlip_potential pot;
	mlip_plugins_init(&reg);
	if (mlip_plugins_add_dir(&reg, "lib/plugins", &err) ||
	    mlip_config_load_string(text, strlen(text), "bench.yaml", NULL, 0, &cfg, &err) ||
	    mlip_potential_create(&pot, &cfg, &reg, &err))
		die("model", err.msg);
	const struct mlip_batch *bp = b;
	double *raw = malloc(pot.model->n_params * sizeof(double));
	if (mlip_model_fit_scaling(pot.model, &bp, 1, &err) || mlip_tasks_fit(&pot.tasks, &bp, 1, &err))
		die("fit", err.msg);
	for (size_t k = 0; k < pot.model->n_params; k++)
		raw[k] = (double)pot.model->params[k];
	if (mlip_potential_save(&pot, path, raw, NULL, 0, &err))
		die("save", err.msg);
	free(raw);
	mlip_potential_release(&pot);
	mlip_plugins_release(&reg);
	(void)s;
}

int main(int argc, char **argv)
{
	int cells = argc > 1 ? atoi(argv[1]) : 10, reps = argc > 2 ? atoi(argv[2]) : 5;
	int mtp = argc > 3 && !strcmp(argv[3], "mtp");
	const char *tag = mtp ? "api_mtp" : "api";
	struct mlip_err err = { 0 };
	struct mlip_structure s;
	struct mlip_batch b;
	struct ghosts g;
	mlip_structure_init(&s);
	mlip_batch_init(&b);
	if (test_diamond(&s, cells, cells, cells, 5.431, 0.05, 1))
		die("structure", "out of memory");
	size_t n = s.natoms;
	s.has = MLIP_HAS_ENERGY | MLIP_HAS_FORCES;
	s.energy = -5.4 * (double)n;
	for (size_t k = 0; k < 3 * n; k++) /* labels to fit the normalizer on */
		s.forces[k] = 0.1 * sin((double)k);
	mlip_structure_set_dataset(&s, "si", NULL);
	const struct mlip_structure *sp = &s;
	if (mlip_batch_collate(&b, &sp, 1, 5.5, 0, NULL, &err))
		die("collate", err.msg);
	char path[] = "/tmp/mlip-bench-api.XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		die("model file", "mkstemp failed");
	close(fd);
	write_model(path, &s, &b, mtp);

	mlip_calculator *c;
	char msg[512];
	if (mlip_open(path, &c, msg, sizeof(msg)))
		die("mlip_open", msg);
	unlink(path);
	mlip_set_threads(c, 1);
	if (ghosts_build(&g, &s, 5.5))
		die("ghosts", "neighbour list failed");
	int *z = malloc(n * sizeof(int)), pbc[3] = { 1, 1, 1 };
	for (size_t i = 0; i < n; i++)
		z[i] = s.numbers[i];
	double e, st[9], vir[9], *f = malloc(3 * n * sizeof(double));
	double *fg = malloc(3 * g.n_all * sizeof(double));

	/* the kernel: a model of the same file, on the collated batch */
	struct mlip_model *m;
	struct mlip_head_map heads[MLIP_MAX_HEADS];
	struct mlip_model_out out;
	char path2[] = "/tmp/mlip-bench-api.XXXXXX";
	if ((fd = mkstemp(path2)) < 0)
		die("model file", "mkstemp failed");
	close(fd);
	write_model(path2, &s, &b, mtp);
	if (mlip_modelfile_load(path2, &m, heads, &err))
		die("load", err.msg);
	unlink(path2);
	m->desc.n_threads = 1;
	double best[3] = { 1e30, 1e30, 1e30 };
	for (int r = 0; r < reps; r++) {
		double t0 = now();
		if (mlip_model_forward(m, &b, MLIP_MODEL_FORCES | MLIP_MODEL_STRESS, &out, &err))
			die("forward", err.msg);
		double t1 = now();
		if (mlip_compute(c, n, z, s.positions, s.cell, pbc, &e, f, st, NULL, NULL))
			die("mlip_compute", mlip_errmsg(c));
		double t2 = now();
		if (mlip_compute_neighbors(c, g.n_all, g.numbers, g.pos, g.contributing,
					   (const int *const *)g.nbr, g.n_nbr, &e, fg, vir, NULL, NULL))
			die("mlip_compute_neighbors", mlip_errmsg(c));
		double t3 = now();
		best[0] = fmin(best[0], t1 - t0);
		best[1] = fmin(best[1], t2 - t1);
		best[2] = fmin(best[2], t3 - t2);
	}
	printf("%s_atoms %zu (ghost form: %zu particles)\n", tag, n, g.n_all);
	printf("%s_kernel_atoms_per_s %.0f atoms/s (mlip_model_forward, forces + stress)\n", tag, n / best[0]);
	printf("%s_compute_atoms_per_s %.0f atoms/s (mlip_compute, neighbour list included; %.1f %% of the kernel)\n",
	       tag, n / best[1], 100 * best[0] / best[1]);
	printf("%s_neighbors_atoms_per_s %.0f atoms/s (mlip_compute_neighbors, ghosts; %.1f %% of the kernel)\n", tag,
	       n / best[2], 100 * best[0] / best[2]);
	mlip_model_free(m);
	mlip_close(c);
	ghosts_free(&g);
	free(z);
	free(f);
	free(fg);
	mlip_batch_release(&b);
	mlip_structure_release(&s);
	return 0;
}
