/*
 * bench_lstsq.c - the exact solver of a linear model (lib/lstsq.h) on real
 * data: a linear moment tensor model (model.hidden: [], mtp level L, Si,
 * cutoff 5.0 Å, r_min 1.5 Å) fitted to silicon energies, forces and stresses
 * with the weights of share/configs/demo.yaml (energy per_atom_mse x100 with
 * the rmsd normalizer and fitted references, forces mse x1, stress mse x10),
 * then evaluated on the mlearn Si test set. Prints the basis size, the
 * time to fit the scaling and the tasks, to form the normal equations
 * (design rows + accumulation, all batches), to reduce and solve, and the
 * training and test errors: energy MAE per atom, force MAE, stress MAE.
 * Training data: share/demo/si-train.json (72 structures), or the file
 * given; test: share/demo/si-test.json. One thread unless OMP_NUM_THREADS.
 * Prints "name value unit" lines.
 * Usage: bench_lstsq [level (16)] [ridge (1e-8)] [train.json] [test.json]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "benchtime.h"
#include "config.h"
#include "lstsq.h"
#include "model.h"
#include "modelfile.h"
#include "structio.h"
#include "tasks.h"

#define STRUCTURES_PER_BATCH 8
#define CUTOFF 5.0

static void die(const char *what, const struct mlip_err *err)
{
	fprintf(stderr, "bench_lstsq: %s: %s\n", what, err->msg);
	exit(1);
}

/* Batches of STRUCTURES_PER_BATCH structures of path, dataset "si". */
static struct mlip_batch *read_batches(const char *path, size_t *n)
{
	struct mlip_structure_list l;
	struct mlip_err err;
	mlip_structure_list_init(&l);
	if (mlip_read_structures(path, MLIP_FORMAT_AUTO, &l, &err))
		die(path, &err);
	*n = (l.n + STRUCTURES_PER_BATCH - 1) / STRUCTURES_PER_BATCH;
	struct mlip_batch *b = calloc(*n, sizeof(*b));
	if (!b)
		exit(1);
	for (size_t k = 0; k < *n; k++) {
		const struct mlip_structure *ps[STRUCTURES_PER_BATCH];
		size_t m = 0;
		for (size_t q = k * STRUCTURES_PER_BATCH; q < l.n && m < STRUCTURES_PER_BATCH; q++)
			ps[m++] = &l.items[q];
		mlip_batch_init(&b[k]);
		if (mlip_batch_collate(&b[k], ps, m, CUTOFF, 0, "si", &err))
			die(path, &err);
	}
	mlip_structure_list_release(&l);
	return b;
}

struct errors {
	double energy, forces, stress; /* MAE: eV/atom, eV/Å, GPa */
};

static struct errors evaluate(struct mlip_model *m, const struct mlip_tasks *t,
			      const struct mlip_batch *b, size_t n)
{
	struct errors r = { 0 };
	double ne = 0, nf = 0, ns = 0;
	struct mlip_err err;
	for (size_t k = 0; k < n; k++) {
		struct mlip_model_out out;
		size_t N = b[k].n_atoms, B = b[k].n_systems;
		if (mlip_model_forward(m, &b[k], MLIP_MODEL_FORCES | MLIP_MODEL_STRESS, &out, &err))
			die("forward", &err);
		double *e = malloc(B * sizeof(double)), *f = malloc(3 * N * sizeof(double));
		double *s = malloc(9 * B * sizeof(double));
		if (!e || !f || !s)
			exit(1);
		mlip_tasks_physical(t, &b[k], out.energy, out.forces, out.stress, e, f, s);
		for (size_t q = 0; q < B; q++) {
			if (b[k].has[q] & MLIP_HAS_ENERGY) {
				r.energy += fabs(e[q] - b[k].energy[q]) / b[k].natoms[q];
				ne++;
			}
			if (b[k].has[q] & MLIP_HAS_STRESS)
				for (int c = 0; c < 9; c++, ns++)
					r.stress += fabs(s[9 * q + c] - b[k].stress[9 * q + c]) * 160.21766208;
			if (b[k].has[q] & MLIP_HAS_FORCES)
				for (size_t a = 3 * b[k].atom_start[q]; a < 3 * b[k].atom_start[q + 1]; a++, nf++)
					r.forces += fabs(f[a] - b[k].forces[a]);
		}
		free(e);
		free(f);
		free(s);
	}
	r.energy /= ne > 0 ? ne : 1;
	r.forces /= nf > 0 ? nf : 1;
	r.stress /= ns > 0 ? ns : 1;
	return r;
}

int main(int argc, char **argv)
{
	int level = argc > 1 ? atoi(argv[1]) : 16;
	double ridge = argc > 2 ? atof(argv[2]) : MLIP_CFG_DEFAULT_RIDGE;
	const char *train_path = argc > 3 ? argv[3] : "share/demo/si-train.json";
	const char *test_path = argc > 4 ? argv[4] : "share/demo/si-test.json";
	struct mlip_err err;
	char text[2048];
	snprintf(text, sizeof(text),
		 "data: {train: x.mlb}\n"
		 "model: {cutoff: %g, elements: [Si], hidden: [],\n"
		 "        descriptor: {type: mtp, level: %d, r_min: 1.5}}\n"
		 "tasks:\n"
		 "  - {name: energy, property: energy, datasets: [si], loss: {name: per_atom_mse,\n"
		 "     coefficient: 100}, normalizer: rmsd, element_references: fit}\n"
		 "  - {name: forces, property: forces, datasets: [si], loss: mse}\n"
		 "  - {name: stress, property: stress, datasets: [si], loss: {name: mse, coefficient: 10}}\n"
		 "optim: {name: lstsq, ridge: %.17g}\n"
		 "schedule: {epochs: 1}\n", CUTOFF, level, ridge);
	struct mlip_config cfg;
	struct mlip_plugins reg;
	struct mlip_tasks tasks;
	struct mlip_model_config mc;
	struct mlip_model *m;
	struct mlip_sf *sf;
	mlip_plugins_init(&reg);
	if (mlip_plugins_add_dir(&reg, "lib/plugins", &err) ||
	    mlip_config_load_string(text, strlen(text), "bench.yaml", NULL, 0, &cfg, &err) ||
	    mlip_tasks_init(&tasks, &cfg, &reg, &err) ||
	    mlip_potential_model_config(&cfg.model, &mc, &sf, &err) || mlip_model_new(&m, &mc, &err))
		die("setup", &err);
	free(sf);
	size_t n_train, n_test, atoms = 0;
	struct mlip_batch *train = read_batches(train_path, &n_train);
	struct mlip_batch *test = read_batches(test_path, &n_test);
	const struct mlip_batch **bp = malloc(n_train * sizeof(*bp));
	if (!bp)
		return 1;
	for (size_t k = 0; k < n_train; k++) {
		bp[k] = &train[k];
		atoms += train[k].n_atoms;
	}
	printf("lstsq_level %d\nlstsq_functions %zu\nlstsq_train_atoms %zu\nlstsq_ridge %g\n", level,
	       m->desc.dim[0], atoms, ridge);
	double t0 = now();
	if (mlip_model_fit_scaling(m, bp, n_train, &err) || mlip_tasks_fit(&tasks, bp, n_train, &err))
		die("fit", &err);
	double t1 = now();
	struct mlip_lstsq s;
	if (mlip_lstsq_init(&s, m, &tasks, ridge, &err))
		die("init", &err);
	for (size_t k = 0; k < n_train; k++)
		if (mlip_lstsq_add(&s, m, &tasks, bp[k], &err))
			die("add", &err);
	double t2 = now();
	if (mlip_lstsq_reduce(&s, &err) || mlip_lstsq_solve(&s, m, &err))
		die("solve", &err);
	double t3 = now();
	printf("lstsq_fit_scaling_and_tasks %.3f s\nlstsq_normal_equations %.3f s\n"
	       "lstsq_normal_equations_per_atom %.1f us\nlstsq_solve %.4f s\n",
	       t1 - t0, t2 - t1, 1e6 * (t2 - t1) / (double)atoms, t3 - t2);
	printf("lstsq_rank %zu of %zu\nlstsq_train_loss %.6g\n", s.rank[0], s.n_active[0],
	       s.task_loss[0] + s.task_loss[1] + s.task_loss[2]);
	struct errors tr = evaluate(m, &tasks, train, n_train), te = evaluate(m, &tasks, test, n_test);
	printf("lstsq_train_energy_mae %.2f meV/atom\nlstsq_train_forces_mae %.4f eV/A\n"
	       "lstsq_train_stress_mae %.3f GPa\n", 1e3 * tr.energy, tr.forces, tr.stress);
	printf("lstsq_test_energy_mae %.2f meV/atom\nlstsq_test_forces_mae %.4f eV/A\n"
	       "lstsq_test_stress_mae %.3f GPa\n", 1e3 * te.energy, te.forces, te.stress);
	mlip_lstsq_release(&s);
	for (size_t k = 0; k < n_train; k++)
		mlip_batch_release(&train[k]);
	for (size_t k = 0; k < n_test; k++)
		mlip_batch_release(&test[k]);
	free(train);
	free(test);
	free(bp);
	mlip_model_free(m);
	mlip_tasks_release(&tasks);
	mlip_config_release(&cfg);
	mlip_plugins_release(&reg);
	return 0;
}
