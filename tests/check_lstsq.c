/*
 * check_lstsq.c - the linear model's exact solver (lib/lstsq.h), on both
 * descriptors (symmetry functions and the moment tensor basis, one loop
 * index each): the design columns are the model's outputs at unit
 * parameter vectors; labels made by a linear model are reproduced and its
 * parameters recovered; on noisy labels the training loss's gradient
 * (mlip_tasks_loss + mlip_model_backward, as the trainer computes it)
 * vanishes at the solution up to the ridge, and the reported task losses are
 * the trainer's; singular systems fall back to the minimum-norm solution;
 * split accumulation (as over ranks) sums to the whole; non-linear models
 * and non-quadratic losses are refused.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "lstsq.h"
#include "model.h"
#include "modelfile.h"
#include "tasks.h"
#include "model_fixtures.h"

#define N_BATCHES 2
#define SYSTEMS_PER_BATCH 3

/*
 * The model section of each descriptor (loop index). The default symmetry
 * functions (64 per element here) are collinear on a few small systems, so
 * the first model has a short list of its own, with no radial function
 * shared by the Li-Si and Si-Li pairs: summed over a system, a Li-centred G2
 * of Si neighbours equals the Si-centred G2 of Li neighbours with the same
 * parameters, and the model could not tell their weights apart.
 */
static const char *const descriptors[] = {
	"model: {cutoff: 3.6, elements: [Li, Si], hidden: [], heads: [energy, other],\n"
	"        descriptors: [{kind: g2, elements: [Li], eta: 0.5}, {kind: g2, elements: [Li], eta: 1, rs: 3},\n"
	"                      {kind: g2, elements: [Si], eta: 2, rs: 2.4},\n"
	"                      {kind: g2, elements: [Si], eta: 0.3, rs: 1},\n"
	"                      {kind: g9, elements: [Si, Si], eta: 0.1, lambda: 1, zeta: 1},\n"
	"                      {kind: g9, elements: [Li, Si], eta: 0.1, lambda: -1, zeta: 2}]}\n",
	"model: {cutoff: 3.6, elements: [Li, Si], hidden: [], heads: [energy, other],\n"
	"        descriptor: {type: mtp, level: 8}}\n",
};

/* Energy, forces and stress on the first head with every weighting there is: a
 * reference-fitted, normalised head, per-atom energies, per-structure forces on
 * free atoms, summed stresses, and a second head with its own energy task. */
static const char *const tasks_text =
	"data: {train: x.mlb}\n"
	"tasks:\n"
	"  - {name: e, property: energy, datasets: [a, b], loss: {name: per_atom_mse, coefficient: 2},\n"
	"     normalizer: rmsd, element_references: fit}\n"
	"  - {name: f, property: forces, datasets: [a], loss: {name: mse, reduction: per_structure,\n"
	"     coefficient: 3}}\n"
	"  - {name: s, property: stress, datasets: [b], loss: {name: mse, reduction: sum,\n"
	"     coefficient: 0.5}}\n"
	"  - {name: e2, property: energy, head: other, datasets: [a, b], loss: mse}\n"
	"  - {name: f2, property: forces, head: other, datasets: [b], loss: mse}\n"
	"optim: {name: lstsq}\n"
	"schedule: {epochs: 1}\n";

struct fixture {
	struct mlip_plugins reg;
	struct mlip_config cfg;
	struct mlip_tasks tasks;
	struct mlip_model *m;
	struct mlip_batch b[N_BATCHES];
	const struct mlip_batch *bp[N_BATCHES];
};

static char *join_text(const char *a, const char *b)
{
	char *t = fx_calloc(strlen(a) + strlen(b) + 1, 1);
	strcpy(t, a);
	strcat(t, b);
	return t;
}

/* Random periodic Li-Si systems with random labels; datasets a and b alternate, and
 * every system's first atom is fixed. */
static void make_batches(struct fixture *fx, uint64_t seed)
{
	static const int z[2] = { 3, 14 };
	static const uint8_t pbc[3] = { 1, 1, 1 };
	uint64_t rng = seed;
	for (size_t k = 0; k < N_BATCHES; k++) {
		struct mlip_structure s[SYSTEMS_PER_BATCH];
		const struct mlip_structure *ps[SYSTEMS_PER_BATCH];
		for (size_t q = 0; q < SYSTEMS_PER_BATCH; q++) {
			double side = 5.2 + 0.6 * test_rand_unif(&rng);
			double cell[9] = { side, 0, 0, 0.3, side, 0, 0, -0.2, side };
			size_t n = 6 + (size_t)(test_rand_u64(&rng) % 5);
			fx_random_structure(&s[q], cell, pbc, n, z, 2, 1.9, &rng);
			s[q].has = MLIP_HAS_ENERGY | MLIP_HAS_FORCES | MLIP_HAS_STRESS;
			s[q].energy = -3.0 * (double)n + test_rand_unif(&rng);
			for (size_t c = 0; c < 3 * n; c++)
				s[q].forces[c] = 2 * test_rand_unif(&rng) - 1;
			for (int c = 0; c < 9; c++)
				s[q].stress[c] = 0.02 * (2 * test_rand_unif(&rng) - 1);
			s[q].fixed[0] = 1;
			mlip_structure_set_dataset(&s[q], (k + q) % 2 ? "b" : "a", NULL);
			ps[q] = &s[q];
		}
		mlip_batch_init(&fx->b[k]);
		FX_OK(mlip_batch_collate(&fx->b[k], ps, SYSTEMS_PER_BATCH, 3.6, 0, NULL, NULL));
		for (size_t q = 0; q < SYSTEMS_PER_BATCH; q++)
			mlip_structure_release(&s[q]);
		fx->bp[k] = &fx->b[k];
	}
}

/* Config, plugins, tasks, model and batches; scaling and tasks fitted. */
static void setup(struct fixture *fx, const char *model_text, const char *tasks_yaml,
		  uint64_t seed)
{
	struct mlip_err err = { 0 };
	struct mlip_model_config mc;
	struct mlip_sf *sf;
	char *text = join_text(model_text, tasks_yaml);
	memset(fx, 0, sizeof(*fx));
	mlip_plugins_init(&fx->reg);
	ck_assert_int_eq(mlip_plugins_add_dir(&fx->reg, "lib/plugins", &err), 0);
	ck_assert_msg(mlip_config_load_string(text, strlen(text), "t.yaml", NULL, 0, &fx->cfg, &err) == 0,
		      "%s", err.msg);
	free(text);
	ck_assert_msg(mlip_tasks_init(&fx->tasks, &fx->cfg, &fx->reg, &err) == 0, "%s", err.msg);
	ck_assert_msg(mlip_potential_model_config(&fx->cfg.model, &mc, &sf, &err) == 0, "%s", err.msg);
	ck_assert_msg(mlip_model_new(&fx->m, &mc, &err) == 0, "%s", err.msg);
	free(sf);
	make_batches(fx, seed);
	ck_assert_msg(mlip_model_fit_scaling(fx->m, fx->bp, N_BATCHES, &err) == 0, "%s", err.msg);
	ck_assert_msg(mlip_tasks_fit(&fx->tasks, fx->bp, N_BATCHES, &err) == 0, "%s", err.msg);
}

static void teardown(struct fixture *fx)
{
	for (size_t k = 0; k < N_BATCHES; k++)
		mlip_batch_release(&fx->b[k]);
	mlip_model_free(fx->m);
	mlip_tasks_release(&fx->tasks);
	mlip_config_release(&fx->cfg);
	mlip_plugins_release(&fx->reg);
}

/* Element e's w_out (H, D) and b_out (H) in m->params. */
static double *w_out(struct mlip_model *m, size_t e)
{
	return m->params + m->tensors.t[m->tensor0[e] + 2].offset;
}

static double *b_out(struct mlip_model *m, size_t e)
{
	return m->params + m->tensors.t[m->tensor0[e] + 3].offset;
}

/* Parameter of column p of head h. */
static double *column_param(struct mlip_model *m, const struct mlip_lstsq *s, size_t h, size_t p)
{
	for (size_t e = 0; e < s->n_elements; e++)
		if (p >= s->col0[e] && p <= s->col0[e] + s->dim[e])
			return p == s->col0[e] + s->dim[e] ? b_out(m, e) + h
							   : w_out(m, e) + h * s->dim[e] + (p - s->col0[e]);
	ck_abort_msg("column %zu out of range", p);
	return NULL;
}

static void set_linear_params(struct mlip_model *m, const struct mlip_lstsq *s, uint64_t seed)
{
	uint64_t rng = seed;
	for (size_t h = 0; h < s->n_heads; h++)
		for (size_t p = 0; p < s->n_cols; p++)
			*column_param(m, s, h, p) = 2 * test_rand_unif(&rng) - 1;
}

static void run_solver(struct fixture *fx, struct mlip_lstsq *s, double ridge)
{
	struct mlip_err err = { 0 };
	ck_assert_msg(mlip_lstsq_init(s, fx->m, &fx->tasks, ridge, &err) == 0, "%s", err.msg);
	for (size_t k = 0; k < N_BATCHES; k++)
		ck_assert_msg(mlip_lstsq_add(s, fx->m, &fx->tasks, fx->bp[k], &err) == 0, "%s", err.msg);
	ck_assert_msg(mlip_lstsq_reduce(s, &err) == 0, "%s", err.msg);
	ck_assert_msg(mlip_lstsq_solve(s, fx->m, &err) == 0, "%s", err.msg);
}

static double max_abs(const double *x, size_t n)
{
	double r = 0;
	for (size_t k = 0; k < n; k++)
		r = fabs(x[k]) > r ? fabs(x[k]) : r;
	return r;
}

/* ---- design columns -------------------------------------------------------------------- */

/* Column p of head h is the model's raw output with that parameter 1 and all others 0. */
START_TEST(test_design_columns)
{
	struct fixture fx;
	struct mlip_lstsq s;
	struct mlip_err err = { 0 };
	setup(&fx, descriptors[_i], tasks_text, 11);
	ck_assert_msg(mlip_lstsq_init(&s, fx.m, &fx.tasks, 0, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(s.needs, MLIP_HAS_FORCES | MLIP_HAS_STRESS);
	ck_assert_uint_eq(s.n_cols, fx.m->desc.dim[0] + fx.m->desc.dim[1] + 2);
	const struct mlip_batch *b = fx.bp[0];
	size_t P = s.n_cols, N = b->n_atoms, B = b->n_systems, H = 2;
	ck_assert_msg(mlip_lstsq_design(&s, fx.m, b, &err) == 0, "%s", err.msg);
	double worst = 0, scale = 0;
	for (size_t p = 0; p < P; p++) {
		size_t h = p % H; /* both heads, alternately */
		for (size_t q = 0; q < P; q++)
			for (size_t g = 0; g < H; g++)
				*column_param(fx.m, &s, g, q) = 0;
		*column_param(fx.m, &s, h, p) = 1;
		struct mlip_model_out out;
		ck_assert_msg(mlip_model_forward(fx.m, b, MLIP_MODEL_FORCES | MLIP_MODEL_STRESS, &out,
						 &err) == 0, "%s", err.msg);
		for (size_t r = 0; r < B; r++) {
			worst = fmax(worst, fabs(out.energy[r * H + h] - s.design.energy[r * P + p]));
			ck_assert(out.energy[r * H + (1 - h)] == 0);
			scale = fmax(scale, fabs(out.energy[r * H + h]));
		}
		for (size_t r = 0; r < 3 * N; r++) {
			worst = fmax(worst, fabs(out.forces[r * H + h] - s.design.forces[r * P + p]));
			scale = fmax(scale, fabs(out.forces[r * H + h]));
		}
		for (size_t r = 0; r < 9 * B; r++)
			worst = fmax(worst, fabs(out.stress[r * H + h] - s.design.stress[r * P + p]));
	}
	ck_assert_msg(scale > 0.1, "outputs of unit parameters should not vanish (%g)", scale);
	ck_assert_msg(worst <= 1e-12 * scale, "design columns differ from the model by %g (scale %g)",
		      worst, scale);
	mlip_lstsq_release(&s);
	teardown(&fx);
}
END_TEST

/* ---- exact recovery ----------------------------------------------------------------------- */

/*
 * Labels made by the model itself at random parameters (in physical units,
 * through the fitted normalizer and references): the solver recovers head 0's
 * parameters and reproduces the labels, and every task's loss is ~0.
 */
START_TEST(test_recovers_linear_model)
{
	struct fixture fx;
	struct mlip_lstsq s;
	struct mlip_err err = { 0 };
	setup(&fx, descriptors[_i], tasks_text, 23);
	ck_assert_msg(mlip_lstsq_init(&s, fx.m, &fx.tasks, 0, &err) == 0, "%s", err.msg);
	set_linear_params(fx.m, &s, 99);
	double *truth = fx_calloc(fx.m->n_params, sizeof(double));
	memcpy(truth, fx.m->params, fx.m->n_params * sizeof(double));
	size_t H = 2;
	for (size_t k = 0; k < N_BATCHES; k++) {
		struct mlip_batch *b = &fx.b[k];
		struct mlip_model_out out;
		size_t N = b->n_atoms, B = b->n_systems;
		ck_assert_msg(mlip_model_forward(fx.m, b, MLIP_MODEL_FORCES | MLIP_MODEL_STRESS, &out,
						 &err) == 0, "%s", err.msg);
		double *e = fx_calloc(B * H, sizeof(double)), *f = fx_calloc(3 * N * H, sizeof(double));
		double *st = fx_calloc(9 * B * H, sizeof(double));
		mlip_tasks_physical(&fx.tasks, b, out.energy, out.forces, out.stress, e, f, st);
		/* head 0's labels. Head 1 reads them too: with both heads' shifts 0 (rmsd's mean
		 * is 0 on energy heads) its raw targets, s₀·raw₀ + Σ (ref₀ − ref₁)[Z], are
		 * again a linear model's, so every task can be fitted exactly */
		for (size_t r = 0; r < B; r++)
			b->energy[r] = e[r * H];
		for (size_t r = 0; r < 3 * N; r++)
			b->forces[r] = f[r * H];
		for (size_t r = 0; r < 9 * B; r++)
			b->stress[r] = st[r * H];
		free(e);
		free(f);
		free(st);
	}
	/* start far away */
	for (size_t e = 0; e < 2; e++) {
		memset(w_out(fx.m, e), 0, 2 * fx.m->desc.dim[e] * sizeof(double));
		memset(b_out(fx.m, e), 0, 2 * sizeof(double));
	}
	for (size_t k = 0; k < N_BATCHES; k++)
		ck_assert_msg(mlip_lstsq_add(&s, fx.m, &fx.tasks, fx.bp[k], &err) == 0, "%s", err.msg);
	ck_assert_int_eq(mlip_lstsq_reduce(&s, &err), 0);
	ck_assert_msg(mlip_lstsq_solve(&s, fx.m, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(s.rank[0], s.n_active[0]);
	ck_assert_uint_eq(s.n_active[0], s.n_cols);
	double dmax = 0, tmax = 0;
	for (size_t p = 0; p < s.n_cols; p++) {
		double got = *column_param(fx.m, &s, 0, p);
		size_t off = (size_t)(column_param(fx.m, &s, 0, p) - fx.m->params);
		dmax = fmax(dmax, fabs(got - truth[off]));
		tmax = fmax(tmax, fabs(truth[off]));
	}
	ck_assert_msg(dmax <= 1e-6 * tmax, "parameters off by %g (largest %g)", dmax, tmax);
	/* the labels are reproduced */
	for (size_t k = 0; k < N_BATCHES; k++) {
		const struct mlip_batch *b = fx.bp[k];
		struct mlip_model_out out;
		size_t N = b->n_atoms, B = b->n_systems;
		ck_assert_int_eq(mlip_model_forward(fx.m, b, MLIP_MODEL_FORCES | MLIP_MODEL_STRESS, &out,
						    &err), 0);
		double *e = fx_calloc(B * H, sizeof(double)), *f = fx_calloc(3 * N * H, sizeof(double));
		double *st = fx_calloc(9 * B * H, sizeof(double));
		mlip_tasks_physical(&fx.tasks, b, out.energy, out.forces, out.stress, e, f, st);
		for (size_t r = 0; r < B; r++)
			ck_assert_double_eq_tol(e[r * H], b->energy[r], 1e-8 * fabs(b->energy[r]));
		double fs = max_abs(b->forces, 3 * N), ss = max_abs(b->stress, 9 * B);
		for (size_t r = 0; r < 3 * N; r++)
			ck_assert_double_eq_tol(f[r * H], b->forces[r], 1e-8 * fs);
		for (size_t r = 0; r < 9 * B; r++)
			ck_assert_double_eq_tol(st[r * H], b->stress[r], 1e-8 * ss);
		free(e);
		free(f);
		free(st);
	}
	for (size_t k = 0; k < fx.tasks.n_tasks; k++)
		ck_assert_msg(fabs(s.task_loss[k]) < 1e-12, "task %zu loss %g", k, s.task_loss[k]);
	free(truth);
	mlip_lstsq_release(&s);
	teardown(&fx);
}
END_TEST

/* ---- the training loss is minimised ------------------------------------------------------- */

/*
 * The training loss and its gradient, as lib/train.c's full objective: counts
 * summed over the batches, mlip_tasks_loss per batch, mlip_model_backward.
 * task_loss (n_tasks) and m->grads are overwritten.
 */
static void training_gradient(struct fixture *fx, double *task_loss)
{
	struct mlip_err err = { 0 };
	size_t T = fx->tasks.n_tasks, H = fx->tasks.n_heads;
	uint64_t counts[16] = { 0 }, c[16];
	for (size_t k = 0; k < N_BATCHES; k++) {
		ck_assert_int_eq(mlip_tasks_loss_counts(&fx->tasks, fx->bp[k], c, &err), 0);
		for (size_t t = 0; t < T; t++)
			counts[t] += c[t];
	}
	mlip_model_zero_grad(fx->m);
	memset(task_loss, 0, T * sizeof(double));
	for (size_t k = 0; k < N_BATCHES; k++) {
		const struct mlip_batch *b = fx->bp[k];
		struct mlip_model_out out;
		size_t N = b->n_atoms, B = b->n_systems;
		double *dE = fx_calloc(B * H, sizeof(double)), *dF = fx_calloc(3 * N * H, sizeof(double));
		double *dS = fx_calloc(9 * B * H, sizeof(double)), tl[16];
		ck_assert_int_eq(mlip_model_forward(fx->m, b, MLIP_MODEL_FORCES | MLIP_MODEL_STRESS |
						    MLIP_MODEL_TRAIN, &out, &err), 0);
		ck_assert_msg(mlip_tasks_loss(&fx->tasks, b, out.energy, out.forces, out.stress, counts, tl,
					      dE, dF, dS, &err) == 0, "%s", err.msg);
		ck_assert_msg(mlip_model_backward(fx->m, b, dE, dF, dS, &err) == 0, "%s", err.msg);
		for (size_t t = 0; t < T; t++)
			task_loss[t] += tl[t];
		free(dE);
		free(dF);
		free(dS);
	}
}

/*
 * Noisy labels: at the solution the gradient of the training loss is the
 * ridge's, −2λθ on the weights and 0 on the biases, to 1e-8 of the gradient at
 * θ = 0; the solver's task losses are the trainer's.
 */
START_TEST(test_gradient_vanishes)
{
	struct fixture fx;
	struct mlip_lstsq s;
	setup(&fx, descriptors[_i], tasks_text, 37);
	size_t T = fx.tasks.n_tasks;
	double loss[16];
	for (int pass = 0; pass < 2; pass++) {
		double ridge = pass ? 1e-3 : 0;
		struct mlip_err err = { 0 };
		ck_assert_msg(mlip_lstsq_init(&s, fx.m, &fx.tasks, ridge, &err) == 0, "%s", err.msg);
		/* the gradient at θ = 0 sets the scale */
		for (size_t h = 0; h < 2; h++)
			for (size_t p = 0; p < s.n_cols; p++)
				*column_param(fx.m, &s, h, p) = 0;
		training_gradient(&fx, loss);
		double g0 = 0;
		for (size_t h = 0; h < 2; h++)
			for (size_t p = 0; p < s.n_cols; p++) {
				double *th = column_param(fx.m, &s, h, p);
				g0 = fmax(g0, fabs(fx.m->grads[th - fx.m->params]));
			}
		ck_assert(g0 > 0);
		for (size_t k = 0; k < N_BATCHES; k++)
			ck_assert_msg(mlip_lstsq_add(&s, fx.m, &fx.tasks, fx.bp[k], &err) == 0, "%s",
				      err.msg);
		ck_assert_int_eq(mlip_lstsq_reduce(&s, &err), 0);
		ck_assert_msg(mlip_lstsq_solve(&s, fx.m, &err) == 0, "%s", err.msg);
		ck_assert(pass ? s.lambda[0] > 0 && s.lambda[1] > 0 : s.lambda[0] == 0);
		training_gradient(&fx, loss);
		double worst = 0;
		for (size_t h = 0; h < 2; h++) {
			ck_assert_uint_eq(s.rank[h], s.n_active[h]);
			for (size_t p = 0; p < s.n_cols; p++) {
				double *th = column_param(fx.m, &s, h, p);
				int bias = 0;
				for (size_t e = 0; e < 2; e++)
					bias |= p == s.col0[e] + s.dim[e];
				double g = fx.m->grads[th - fx.m->params] + (bias ? 0 : 2 * s.lambda[h] * *th);
				worst = fmax(worst, fabs(g));
			}
		}
		ck_assert_msg(worst <= 1e-8 * g0, "ridge %g: gradient %g at the solution (%g at 0)",
			      ridge, worst, g0);
		for (size_t t = 0; t < T; t++)
			ck_assert_msg(fabs(s.task_loss[t] - loss[t]) <= 1e-8 * fabs(loss[t]) + 1e-14,
				      "task %zu: lstsq loss %.17g, trainer %.17g", t, s.task_loss[t],
				      loss[t]);
		mlip_lstsq_release(&s);
	}
	teardown(&fx);
}
END_TEST

/*
 * Energies only, on fewer systems than columns: the normal equations are
 * singular (ridge 0), the eigen-decomposition gives the minimum-norm
 * solution, and the gradient still vanishes. Element Be, absent from the
 * data, touches no row: its parameters are 0.
 */
START_TEST(test_singular)
{
	static const char *const model_be[] = {
		"model: {cutoff: 3.6, elements: [Li, Si, Be], hidden: [], heads: [energy, other]}\n",
		"model: {cutoff: 3.6, elements: [Li, Si, Be], hidden: [], heads: [energy, other],\n"
		"        descriptor: {type: mtp, level: 8}}\n",
	};
	const char *energy_only =
		"data: {train: x.mlb}\n"
		"tasks:\n"
		"  - {name: e, property: energy, datasets: [a, b], loss: mse}\n"
		"optim: {name: lstsq, ridge: 0}\n"
		"schedule: {epochs: 1}\n";
	struct fixture fx;
	struct mlip_lstsq s;
	setup(&fx, model_be[_i], energy_only, 5);
	for (size_t e = 0; e < 3; e++)
		for (size_t k = 0; k < 2 * fx.m->desc.dim[e]; k++)
			w_out(fx.m, e)[k] = 7; /* overwritten, Be's too */
	run_solver(&fx, &s, 0);
	ck_assert_uint_eq(s.needs, 0);
	ck_assert_ptr_null(s.design.forces);
	ck_assert_uint_le(s.rank[0], N_BATCHES * SYSTEMS_PER_BATCH);
	ck_assert_uint_lt(s.rank[0], s.n_active[0]);
	/* Be's columns, and any function of Li or Si that needs a Be neighbour */
	ck_assert_uint_le(s.n_active[0], s.n_cols - fx.m->desc.dim[2] - 1);
	ck_assert_uint_eq(s.n_active[1], 0); /* no task reads head 1 */
	for (size_t k = 0; k < fx.m->desc.dim[2]; k++)
		ck_assert(w_out(fx.m, 2)[k] == 0);
	ck_assert(w_out(fx.m, 2)[fx.m->desc.dim[2]] == 7); /* head 1: left alone */
	double loss[16];
	training_gradient(&fx, loss);
	ck_assert_msg(loss[0] < 1e-16, "6 energies, %zu free columns: loss %g", s.rank[0], loss[0]);
	ck_assert_msg(max_abs(fx.m->grads, fx.m->n_params) < 1e-10, "gradient %g",
		      max_abs(fx.m->grads, fx.m->n_params));
	mlip_lstsq_release(&s);
	teardown(&fx);
}
END_TEST

/* ---- accumulation as over ranks ------------------------------------------------------------ */

/* Batches added to two accumulators (two ranks' shares) and summed give the
 * accumulators of all batches in one, to rounding. */
START_TEST(test_split_sums)
{
	struct fixture fx;
	struct mlip_lstsq all, part[2];
	struct mlip_err err = { 0 };
	setup(&fx, descriptors[_i], tasks_text, 41);
	ck_assert_int_eq(mlip_lstsq_init(&all, fx.m, &fx.tasks, 0, &err), 0);
	for (int r = 0; r < 2; r++)
		ck_assert_int_eq(mlip_lstsq_init(&part[r], fx.m, &fx.tasks, 0, &err), 0);
	for (size_t k = 0; k < N_BATCHES; k++) {
		ck_assert_int_eq(mlip_lstsq_add(&all, fx.m, &fx.tasks, fx.bp[k], &err), 0);
		ck_assert_int_eq(mlip_lstsq_add(&part[k % 2], fx.m, &fx.tasks, fx.bp[k], &err), 0);
	}
	size_t n = all.n_tasks * all.stride;
	double scale = max_abs(all.acc, n);
	ck_assert(scale > 0);
	for (size_t k = 0; k < n; k++)
		ck_assert_double_eq_tol(part[0].acc[k] + part[1].acc[k], all.acc[k], 1e-13 * scale);
	/* the counts of the reductions are those of the tasks */
	uint64_t c[16], total[16] = { 0 };
	for (size_t k = 0; k < N_BATCHES; k++) {
		ck_assert_int_eq(mlip_tasks_loss_counts(&fx.tasks, fx.bp[k], c, &err), 0);
		for (size_t t = 0; t < all.n_tasks; t++)
			total[t] += c[t];
	}
	for (size_t t = 0; t < all.n_tasks; t++)
		ck_assert(all.acc[t * all.stride + all.stride - 1] == (double)total[t]);
	/* rows after the reduction, a second reduction and a solve before one are refused */
	ck_assert_int_eq(mlip_lstsq_solve(&all, fx.m, &err), MLIP_EINVAL);
	ck_assert_int_eq(mlip_lstsq_reduce(&all, &err), 0);
	ck_assert_int_eq(mlip_lstsq_reduce(&all, &err), MLIP_EINVAL);
	ck_assert_int_eq(mlip_lstsq_add(&all, fx.m, &fx.tasks, fx.bp[0], &err), MLIP_EINVAL);
	/* a failed add fails the reduction */
	ck_assert_int_eq(mlip_lstsq_add(&part[0], fx.m, &fx.tasks, fx.bp[0], &err), 0);
	part[0].status = MLIP_EDATA;
	ck_assert_int_eq(mlip_lstsq_reduce(&part[0], &err), MLIP_EDATA);
	mlip_lstsq_release(&all);
	for (int r = 0; r < 2; r++)
		mlip_lstsq_release(&part[r]);
	teardown(&fx);
}
END_TEST

/* ---- refusals ------------------------------------------------------------------------------ */

static int init_with(const char *model_text, const char *tasks_yaml, struct mlip_err *err)
{
	struct fixture fx;
	struct mlip_lstsq s;
	setup(&fx, model_text, tasks_yaml, 3);
	int rc = mlip_lstsq_init(&s, fx.m, &fx.tasks, 0, err);
	if (!rc)
		mlip_lstsq_release(&s);
	teardown(&fx);
	return rc;
}

START_TEST(test_refusals)
{
	struct mlip_err err = { 0 };
	const char *hidden = "model: {cutoff: 3.6, elements: [Li, Si], hidden: [4], heads: [energy, other]}\n";
	ck_assert_int_eq(init_with(hidden, tasks_text, &err), MLIP_EINVAL);
	ck_assert_str_eq(err.msg, "lstsq solves linear models only: model.hidden must be [], not 1 "
			 "hidden layer");
	static const char *const losses[] = { "mae", "huber", "l2norm", "per_atom_mae" };
	for (size_t k = 0; k < 4; k++) {
		char text[512], want[256];
		snprintf(text, sizeof(text),
			 "data: {train: x.mlb}\n"
			 "tasks:\n"
			 "  - {name: e, property: energy, datasets: [a], loss: mse}\n"
			 "  - {name: frc, property: forces, datasets: [a], loss: %s}\n"
			 "optim: {name: lstsq}\nschedule: {epochs: 1}\n", losses[k]);
		ck_assert_int_eq(init_with(descriptors[0], text, &err), MLIP_EINVAL);
		snprintf(want, sizeof(want), "task 'frc': lstsq minimises quadratic losses only (mse, "
			 "per_atom_mse), not '%s'", losses[k]);
		ck_assert_str_eq(err.msg, want);
	}
	/* an inference-only task has no loss and adds no rows */
	ck_assert_int_eq(init_with(descriptors[0],
				   "data: {train: x.mlb}\n"
				   "tasks:\n"
				   "  - {name: e, property: energy, datasets: [a], loss: mse}\n"
				   "  - {name: f, property: forces, inference_only: true}\n"
				   "optim: {name: lstsq}\nschedule: {epochs: 1}\n", &err), 0);
	struct fixture fx;
	struct mlip_lstsq s;
	setup(&fx, descriptors[0], tasks_text, 3);
	ck_assert_int_eq(mlip_lstsq_init(&s, fx.m, &fx.tasks, -1, &err), MLIP_EINVAL);
	ck_assert_int_eq(mlip_lstsq_init(&s, fx.m, &fx.tasks, NAN, &err), MLIP_EINVAL);
	teardown(&fx);
}
END_TEST

Suite *suite_lstsq(void)
{
	Suite *s = suite_create("lstsq");
	TCase *tc = tcase_create("solver");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_design_columns, 0, 2);
	tcase_add_loop_test(tc, test_recovers_linear_model, 0, 2);
	tcase_add_loop_test(tc, test_gradient_vanishes, 0, 2);
	tcase_add_loop_test(tc, test_singular, 0, 2);
	tcase_add_loop_test(tc, test_split_sums, 0, 2);
	suite_add_tcase(s, tc);
	tc = tcase_create("refusals");
	tcase_add_test(tc, test_refusals);
	suite_add_tcase(s, tc);
	return s;
}
