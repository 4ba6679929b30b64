/*
 * check_api.c - the public API (mlip.h) against the library's own
 * prediction path (mlip-eval's), against itself in an MD code's ghost-atom
 * form, and against finite differences of its energy (forces, virial,
 * stress); errors name what is wrong.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mlip.h"
#include "batch.h"
#include "config.h"
#include "nlist.h"
#include "potential.h"
#include "geometry.h"
#include "ghosts.h"
#include "testutil.h"

/* Two elements, cutoff 3 Å, a normalizer and fitted element references: every map in use. */
static const char *config_text =
	"data: {train: x.mlb}\n"
	"model: {cutoff: 3.0, elements: [Li, Si], hidden: [6, 5]}\n"
	"tasks:\n"
	"  - {name: e, property: energy, datasets: [a], loss: mse, normalizer: rmsd,\n"
	"     element_references: fit}\n"
	"  - {name: f, property: forces, datasets: [a], loss: mse}\n"
	"optim: {lr: 0.001}\n"
	"schedule: {epochs: 1}\n";

static struct mlip_plugins reg;
static struct mlip_potential pot;
static char model_path[64];
static mlip_calculator *calc;

/* A periodic Li-Si structure: a jittered diamond cell (a = 4.1 Å) with every third atom Li. */
static void li_si(struct mlip_structure *s, uint64_t seed)
{
	mlip_structure_init(s);
	ck_assert_int_eq(test_diamond(s, 1, 1, 1, 4.1, 0.25, seed), 0);
	for (size_t i = 0; i < s->natoms; i += 3)
		s->numbers[i] = 3;
	s->cell[1] = 0.3; /* triclinic */
	s->cell[6] = -0.4;
}

static void setup(void)
{
	struct mlip_err err = { 0 };
	struct mlip_config cfg;
	struct mlip_structure s[3];
	const struct mlip_structure *ptr[3];
	struct mlip_batch b;
	mlip_plugins_init(&reg);
	ck_assert_int_eq(mlip_plugins_add_dir(&reg, "lib/plugins", &err), 0);
	ck_assert_msg(mlip_config_load_string(config_text, strlen(config_text), "t.yaml", NULL, 0, &cfg,
					      &err) == 0, "%s", err.msg);
	ck_assert_msg(mlip_potential_create(&pot, &cfg, &reg, &err) == 0, "%s", err.msg);
	for (int k = 0; k < 3; k++) {
		li_si(&s[k], 5 + (uint64_t)k);
		s[k].has = MLIP_HAS_ENERGY | MLIP_HAS_FORCES;
		s[k].energy = -20.0 - 3 * k;
		for (size_t i = 0; i < 3 * s[k].natoms; i++)
			s[k].forces[i] = 0.1 * (double)((i * 7 + (size_t)k) % 5) - 0.2;
		mlip_structure_set_dataset(&s[k], "a", NULL);
		ptr[k] = &s[k];
	}
	s[2].numbers[1] = 3; /* a different composition, so the references are determined */
	mlip_batch_init(&b);
	ck_assert_int_eq(mlip_batch_collate(&b, ptr, 3, 3.0, 0, NULL, &err), 0);
	const struct mlip_batch *bp = &b;
	ck_assert_int_eq(mlip_model_fit_scaling(pot.model, &bp, 1, &err), 0);
	ck_assert_msg(mlip_tasks_fit(&pot.tasks, &bp, 1, &err) == 0, "%s", err.msg);
	/* biases start at 0; make them count */
	for (size_t t = 0; t < pot.model->tensors.n; t++) {
		const struct mlip_tensor *x = &pot.model->tensors.t[t];
		if (strstr(x->name, ".b"))
			for (size_t k = 0; k < x->count; k++)
				pot.model->params[x->offset + k] = 0.05 * sin((double)(x->offset + k));
	}
	snprintf(model_path, sizeof(model_path), "/tmp/mlip-check-api.XXXXXX");
	int fd = mkstemp(model_path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	double *raw = malloc(pot.model->n_params * sizeof(double));
	for (size_t k = 0; k < pot.model->n_params; k++)
		raw[k] = (double)pot.model->params[k];
	ck_assert_msg(mlip_potential_save(&pot, model_path, raw, NULL, 0, &err) == 0, "%s", err.msg);
	free(raw);
	char msg[512];
	ck_assert_msg(mlip_open(model_path, &calc, msg, sizeof(msg)) == MLIP_OK, "%s", msg);
	mlip_batch_release(&b);
	for (int k = 0; k < 3; k++)
		mlip_structure_release(&s[k]);
}

static void teardown(void)
{
	mlip_close(calc);
	calc = NULL;
	unlink(model_path);
	mlip_potential_release(&pot);
	mlip_plugins_release(&reg);
}

static double max_abs(const double *v, size_t n)
{
	double m = 0;
	for (size_t k = 0; k < n; k++)
		m = fmax(m, fabs(v[k]));
	return m;
}

static int as_int_pbc[3] = { 1, 1, 1 };

static int compute(const struct mlip_structure *s, double *e, double *f, double *st, double *vir,
		   double *ae)
{
	int *z = malloc(s->natoms * sizeof(int));
	for (size_t i = 0; i < s->natoms; i++)
		z[i] = s->numbers[i];
	int pbc[3] = { s->pbc[0], s->pbc[1], s->pbc[2] };
	int rc = mlip_compute(calc, s->natoms, z, s->positions, s->cell, pbc, e, f, st, vir, ae);
	free(z);
	return rc;
}

START_TEST(test_metadata)
{
	ck_assert_str_eq(mlip_version(), MLIP_VERSION);
	ck_assert_int_eq(mlip_api_version(), MLIP_API_VERSION);
	ck_assert(mlip_cutoff(calc) == 3.0);
	ck_assert_int_eq(mlip_n_elements(calc), 2);
	ck_assert_int_eq(mlip_element(calc, 0), 3);
	ck_assert_int_eq(mlip_element(calc, 1), 14);
	ck_assert_int_eq(mlip_element(calc, 2), 0);
	ck_assert_str_eq(mlip_symbol(14), "Si");
	ck_assert_str_eq(mlip_symbol(118), "Og");
	ck_assert_ptr_null(mlip_symbol(0));
	ck_assert_ptr_null(mlip_symbol(119));
	ck_assert_int_eq(mlip_n_heads(calc), 1);
	ck_assert_str_eq(mlip_head_name(calc, 0), "energy");
	ck_assert_ptr_null(mlip_head_name(calc, 1));
	ck_assert_int_eq(mlip_set_head(calc, "energy"), MLIP_OK);
	ck_assert_int_eq(mlip_set_head(calc, "dft"), MLIP_EINVAL);
	ck_assert_msg(strstr(mlip_errmsg(calc), "no head 'dft' (heads: energy)"), "%s", mlip_errmsg(calc));
	ck_assert(mlip_energy_shift(calc) == pot.tasks.heads[0].shift);
}
END_TEST

/* mlip_compute is mlip-eval's path: the same numbers, bit for bit. */
START_TEST(test_compute_equals_potential)
{
	struct mlip_err err = { 0 };
	struct mlip_structure s;
	struct mlip_batch b;
	li_si(&s, 99);
	mlip_structure_set_dataset(&s, "a", NULL);
	const struct mlip_structure *ptr = &s;
	mlip_batch_init(&b);
	ck_assert_int_eq(mlip_batch_collate(&b, &ptr, 1, 3.0, 0, NULL, &err), 0);
	size_t n = s.natoms;
	double e_ref, f_ref[3 * 8], s_ref[9], e, f[3 * 8], st[9], vir[9], ae[8];
	ck_assert_int_eq(mlip_potential_predict(&pot, &b, &e_ref, f_ref, s_ref, &err), 0);
	ck_assert_msg(compute(&s, &e, f, st, vir, ae) == 0, "%s", mlip_errmsg(calc));
	ck_assert_msg(e == e_ref, "energy %.17g, mlip-eval's %.17g", e, e_ref);
	for (size_t k = 0; k < 3 * n; k++)
		ck_assert_msg(f[k] == f_ref[k], "force %zu: %.17g vs %.17g", k, f[k], f_ref[k]);
	for (int k = 0; k < 9; k++)
		ck_assert_msg(st[k] == s_ref[k], "stress %d: %.17g vs %.17g", k, st[k], s_ref[k]);
	double sum = mlip_energy_shift(calc), V = mlip_cell_volume(s.cell);
	for (size_t i = 0; i < n; i++)
		sum += ae[i];
	ck_assert_msg(fabs(sum - e) < 1e-12 * fabs(e), "atomic energies sum to %.17g, energy %.17g", sum, e);
	for (int k = 0; k < 9; k++) /* W = −V σ */
		ck_assert_msg(fabs(vir[k] + V * st[k]) < 1e-12 * V * max_abs(st, 9),
			      "virial %d: %.17g, −Vσ %.17g", k, vir[k], -V * st[k]);
	/* only what is asked for; the rest NULL */
	double e2;
	ck_assert_int_eq(compute(&s, &e2, NULL, NULL, NULL, NULL), 0);
	ck_assert(e2 == e);
	mlip_batch_release(&b);
	mlip_structure_release(&s);
}
END_TEST

static int compute_ghosts(const struct ghosts *g, double *e, double *f, double *vir, double *ae,
			  double *av)
{
	return mlip_compute_neighbors(calc, g->n_all, g->numbers, g->pos, g->contributing,
				      (const int *const *)g->nbr, g->n_nbr, e, f, vir, ae, av);
}

START_TEST(test_neighbors_equal_compute)
{
	struct mlip_structure s;
	struct ghosts g;
	li_si(&s, 7);
	size_t n = s.natoms;
	double e, f[3 * 8], st[9], vir[9], ae[8];
	ck_assert_int_eq(compute(&s, &e, f, st, vir, ae), 0);
	ck_assert_int_eq(ghosts_build(&g, &s, 3.0), 0);
	ck_assert_uint_gt(g.n_all, 2 * n); /* images are really in play */
	size_t m = g.n_all;
	double eg, vg[9], *fg = malloc(3 * m * sizeof(double)), *aeg = malloc(m * sizeof(double));
	double *avg = malloc(9 * m * sizeof(double));
	ck_assert_msg(compute_ghosts(&g, &eg, fg, vg, aeg, avg) == 0, "%s", mlip_errmsg(calc));
	double shift = mlip_energy_shift(calc);
	ck_assert_msg(fabs(eg + shift - e) < 1e-12 * fabs(e), "energy %.17g, whole-structure %.17g",
		      eg + shift, e);
	/* ghost forces belong to their home atoms (an MD code's reverse communication) */
	double folded[3 * 8] = { 0 }, fmax = max_abs(f, 3 * n);
	for (size_t p = 0; p < m; p++)
		for (int x = 0; x < 3; x++)
			folded[3 * g.home[p] + x] += fg[3 * p + x];
	for (size_t k = 0; k < 3 * n; k++)
		ck_assert_msg(fabs(folded[k] - f[k]) < 1e-12 * fmax, "force %zu: %.17g vs %.17g", k,
			      folded[k], f[k]);
	double vmax = max_abs(vir, 9), avsum[9] = { 0 };
	for (int k = 0; k < 9; k++)
		ck_assert_msg(fabs(vg[k] - vir[k]) < 1e-12 * vmax, "virial %d: %.17g vs %.17g", k, vg[k],
			      vir[k]);
	for (size_t p = 0; p < m; p++) {
		if (g.contributing[p])
			ck_assert_msg(fabs(aeg[p] - ae[g.home[p]]) < 1e-12 * fabs(ae[g.home[p]]),
				      "atomic energy of atom %zu", g.home[p]);
		else
			ck_assert(aeg[p] == 0);
		for (int k = 0; k < 9; k++)
			avsum[k] += avg[9 * p + k];
	}
	for (int k = 0; k < 9; k++)
		ck_assert_msg(fabs(avsum[k] - vir[k]) < 1e-12 * vmax, "atomic virials sum %d", k);
	/* the same call again (buffers reused) and with threads: bit for bit */
	double e3, *f3 = malloc(3 * m * sizeof(double));
	ck_assert_int_eq(mlip_set_threads(calc, 2), 0);
	ck_assert_int_eq(compute_ghosts(&g, &e3, f3, NULL, NULL, NULL), 0);
	ck_assert(e3 == eg);
	ck_assert(memcmp(f3, fg, 3 * m * sizeof(double)) == 0);
	ck_assert_int_eq(mlip_set_threads(calc, -1), MLIP_EINVAL);
	free(f3);
	free(fg);
	free(aeg);
	free(avg);
	ghosts_free(&g);
	mlip_structure_release(&s);
}
END_TEST

/* A cluster with full lists: forces are −∂E/∂r (central differences), W = Σ r ⊗ F. */
START_TEST(test_neighbors_finite_differences)
{
	enum { N = 7 };
	int z[N], contrib[N], cnt[N], lists[N][N];
	const int *nbr[N];
	double x[3 * N], f[3 * N], vir[9], e;
	uint64_t rng = 3;
	for (int i = 0; i < N; i++) {
		z[i] = i % 3 ? 14 : 3;
		contrib[i] = 1;
		for (int c = 0; c < 3; c++)
			x[3 * i + c] = 1.6 * ((i >> c) & 1) + 0.5 * test_rand_unif(&rng) + 0.3 * i * (c == 2);
		cnt[i] = 0;
		for (int j = 0; j < N; j++)
			if (j != i)
				lists[i][cnt[i]++] = j;
		nbr[i] = lists[i];
	}
	ck_assert_int_eq(mlip_compute_neighbors(calc, N, z, x, contrib, nbr, cnt, &e, f, vir, NULL, NULL),
			 0);
	ck_assert(max_abs(f, 3 * N) > 1e-3); /* something to check */
	const double h = 1e-5;
	for (int k = 0; k < 3 * N; k++) {
		double ep, em, x0 = x[k];
		x[k] = x0 + h;
		mlip_compute_neighbors(calc, N, z, x, contrib, nbr, cnt, &ep, NULL, NULL, NULL, NULL);
		x[k] = x0 - h;
		mlip_compute_neighbors(calc, N, z, x, contrib, nbr, cnt, &em, NULL, NULL, NULL, NULL);
		x[k] = x0;
		double fd = -(ep - em) / (2 * h);
		ck_assert_msg(fabs(fd - f[k]) < 1e-7 * (1 + fabs(f[k])), "force %d: %.12g, fd %.12g", k,
			      f[k], fd);
	}
	for (int a = 0; a < 3; a++)
		for (int b = 0; b < 3; b++) {
			double w = 0;
			for (int i = 0; i < N; i++)
				w += x[3 * i + a] * f[3 * i + b];
			ck_assert_msg(fabs(w - vir[3 * a + b]) < 1e-10 * (1 + max_abs(vir, 9)),
				      "virial %d%d: %.15g, Σ r F %.15g", a, b, vir[3 * a + b], w);
		}
}
END_TEST

/* σ = (1/V) ∂E/∂ε under r -> r(1 + ε), cell too (ASE's sign), by central differences. */
START_TEST(test_stress_finite_differences)
{
	struct mlip_structure s, t;
	li_si(&s, 21);
	mlip_structure_init(&t);
	double e, st[9], V = mlip_cell_volume(s.cell);
	ck_assert_int_eq(compute(&s, &e, NULL, st, NULL, NULL), 0);
	ck_assert(max_abs(st, 9) > 1e-4);
	const double h = 1e-6;
	for (int a = 0; a < 3; a++)
		for (int b = 0; b < 3; b++) {
			double ev[2];
			for (int sgn = 0; sgn < 2; sgn++) {
				double eps = sgn ? -h : h;
				mlip_structure_copy(&t, &s, NULL);
				for (size_t i = 0; i < s.natoms; i++)
					t.positions[3 * i + b] += eps * s.positions[3 * i + a];
				for (int k = 0; k < 3; k++)
					t.cell[3 * k + b] += eps * s.cell[3 * k + a];
				ck_assert_int_eq(compute(&t, &ev[sgn], NULL, NULL, NULL, NULL), 0);
			}
			double fd = (ev[0] - ev[1]) / (2 * h) / V;
			ck_assert_msg(fabs(fd - st[3 * a + b]) < 1e-7 * (1e-3 + fabs(st[3 * a + b])),
				      "stress %d%d: %.12g, fd %.12g", a, b, st[3 * a + b], fd);
		}
	mlip_structure_release(&t);
	mlip_structure_release(&s);
}
END_TEST

START_TEST(test_errors)
{
	mlip_calculator *c = (mlip_calculator *)1;
	char msg[512];
	ck_assert_int_eq(mlip_open("/nonexistent/model.mlip", &c, msg, sizeof(msg)), MLIP_EIO);
	ck_assert_ptr_null(c);
	ck_assert_msg(strstr(msg, "/nonexistent/model.mlip"), "%s", msg);
	ck_assert_int_eq(mlip_open(NULL, &c, msg, sizeof(msg)), MLIP_EINVAL);
	char junk[] = "/tmp/mlip-check-junk.XXXXXX";
	int fd = mkstemp(junk);
	ck_assert(write(fd, "not a model at all\n", 19) == 19);
	close(fd);
	ck_assert_int_eq(mlip_open(junk, &c, msg, sizeof(msg)), MLIP_EDATA);
	ck_assert_msg(strstr(msg, junk), "%s", msg);
	ck_assert_int_eq(mlip_open(junk, &c, NULL, 0), MLIP_EDATA); /* no buffer: fine */
	unlink(junk);

	/* carbon is not in the model */
	struct mlip_structure s;
	li_si(&s, 1);
	s.numbers[4] = 6;
	double e;
	ck_assert_int_eq(compute(&s, &e, NULL, NULL, NULL, NULL), MLIP_EDATA);
	ck_assert_msg(strstr(mlip_errmsg(calc), "atom index 4: element 'C' (Z = 6) is not in the model "
			     "(its elements: Li, Si)"), "%s", mlip_errmsg(calc));
	s.numbers[4] = 14;
	s.positions[3] = s.positions[0]; /* two atoms on top of each other */
	s.positions[4] = s.positions[1];
	s.positions[5] = s.positions[2];
	ck_assert_int_eq(compute(&s, &e, NULL, NULL, NULL, NULL), MLIP_EDATA);
	ck_assert_msg(!strcmp(mlip_errmsg(calc), "atoms 1 and 2 are at the same position (atoms numbered "
			      "from 1)"), "%s", mlip_errmsg(calc));
	int pbc_bad[3] = { 1, 2, 1 }, z[1] = { 14 };
	double x[3] = { 0, 0, 0 };
	ck_assert_int_eq(mlip_compute(calc, 1, z, x, s.cell, pbc_bad, &e, NULL, NULL, NULL, NULL),
			 MLIP_EINVAL);
	ck_assert_msg(strstr(mlip_errmsg(calc), "pbc[1] is 2"), "%s", mlip_errmsg(calc));
	ck_assert_int_eq(mlip_compute(calc, 1, z, x, NULL, as_int_pbc, &e, NULL, NULL, NULL, NULL),
			 MLIP_EINVAL);
	/* a successful call clears the message */
	int pbc0[3] = { 0, 0, 0 };
	ck_assert_int_eq(mlip_compute(calc, 1, z, x, NULL, pbc0, &e, NULL, NULL, NULL, NULL), 0);
	ck_assert_str_eq(mlip_errmsg(calc), "");

	/* neighbour lists: an index out of range, an unknown element */
	int zz[2] = { 14, 14 }, con[2] = { 1, 0 }, cnt[2] = { 1, 0 }, bad[1] = { 5 };
	const int *nb[2] = { bad, NULL };
	double xx[6] = { 0, 0, 0, 1.5, 0, 0 };
	ck_assert_int_eq(mlip_compute_neighbors(calc, 2, zz, xx, con, nb, cnt, &e, NULL, NULL, NULL, NULL),
			 MLIP_EDATA);
	ck_assert_msg(strstr(mlip_errmsg(calc), "particle index 0: neighbour 5 is not one of the 2 particles"), "%s",
		      mlip_errmsg(calc));
	bad[0] = 1;
	zz[1] = 79;
	ck_assert_int_eq(mlip_compute_neighbors(calc, 2, zz, xx, con, nb, cnt, &e, NULL, NULL, NULL, NULL),
			 MLIP_EDATA);
	ck_assert_msg(strstr(mlip_errmsg(calc), "particle index 1: element 'Au' (Z = 79)"), "%s", mlip_errmsg(calc));
	mlip_structure_release(&s);
}
END_TEST

Suite *suite_api(void)
{
	Suite *s = suite_create("api");
	TCase *tc = tcase_create("api");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_metadata);
	tcase_add_test(tc, test_compute_equals_potential);
	tcase_add_test(tc, test_neighbors_equal_compute);
	tcase_add_test(tc, test_neighbors_finite_differences);
	tcase_add_test(tc, test_stress_finite_differences);
	tcase_add_test(tc, test_errors);
	suite_add_tcase(s, tc);
	return s;
}
