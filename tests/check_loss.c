/*
 * check_loss.c - the loss plugins and the host-side reductions (lib/loss.c).
 *
 * Every plugin's gradient is checked against central differences of its own
 * values, and every reduction's gradient against central differences of the
 * reduced loss; values and reductions against numbers worked out by hand in
 * the comments, with masked rows (NaN targets), no valid row at all, and a
 * structure with no valid atom. The template plugin in share/ (built to
 * tests/plugins/mlip-loss-example.so) is checked the same way.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "loss.h"
#include "testutil.h"

#define assert_has(msg, needle) \
	ck_assert_msg(strstr((msg), (needle)) != NULL, "message '%s' lacks '%s'", (msg), (needle))

static struct mlip_plugins reg;

static void setup(void)
{
	struct mlip_err err = { 0 };
	mlip_plugins_init(&reg);
	/* Explicit directories first, so that MLIP_PLUGIN_PATH cannot interfere. */
	ck_assert_int_eq(mlip_plugins_add_dir(&reg, "lib/plugins", &err), MLIP_OK);
	ck_assert_int_eq(mlip_plugins_add_dir(&reg, "tests/plugins", &err), MLIP_OK);
}

static void teardown(void)
{
	mlip_plugins_release(&reg);
}

static void make_loss(struct mlip_loss *l, const char *name, const char *params, double c,
		      enum mlip_reduction r)
{
	struct mlip_err err = { 0 };
	int rc = mlip_loss_init(l, &reg, name, params, c, r, &err);
	ck_assert_msg(rc == MLIP_OK, "%s: %s", name, err.msg);
}

/* The plugins under test, with parameters that exercise them. */
static const struct {
	const char *name, *params;
} losses[] = {
	{ "mae", NULL },
	{ "mse", NULL },
	{ "per_atom_mae", NULL },
	{ "per_atom_mse", NULL },
	{ "l2norm", NULL },
	{ "huber", "{delta: 0.7}" },
	{ "huber", NULL },
	{ "example", "scale: 0.5" },
};
#define N_LOSSES (int)(sizeof(losses) / sizeof(losses[0]))

/* ---- per-entry values ---- */

START_TEST(test_values_by_hand)
{
	/* Two rows of width 3, systems of 2 and 4 atoms. p - t:
	 * row 0: ( 0.5,  0.5, -2.0), row 1: (0, -1, -2). */
	const double pred[6] = { 1.0, -2.0, 0.5, 3.0, 0.0, -1.0 };
	const double target[6] = { 0.5, -2.5, 2.5, 3.0, 1.0, 1.0 };
	const size_t natoms[2] = { 2, 4 };
	static const struct {
		const char *name, *params;
		double want[6];
	} cases[] = {
		{ "mae", NULL, { 0.5, 0.5, 2.0, 0, 1, 2 } },
		{ "mse", NULL, { 0.25, 0.25, 4, 0, 1, 4 } },
		/* |x| / n */
		{ "per_atom_mae", NULL, { 0.25, 0.25, 1.0, 0, 0.25, 0.5 } },
		/* (x / n)^2 */
		{ "per_atom_mse", NULL, { 0.0625, 0.0625, 1.0, 0, 0.0625, 0.25 } },
		/* x^2/2 within 1, else |x| - 1/2 */
		{ "huber", NULL, { 0.125, 0.125, 1.5, 0, 0.5, 1.5 } },
		/* delta 0.4: 0.4 (|x| - 0.2) */
		{ "huber", "delta: 0.4", { 0.12, 0.12, 0.72, 0, 0.32, 0.72 } },
		/* sqrt(0.25 + 0.25 + 4), sqrt(0 + 1 + 4) */
		{ "l2norm", NULL, { 2.1213203435596424, 2.23606797749979 } },
	};
	struct mlip_err err = { 0 };
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct mlip_loss l;
		double ell[6];
		make_loss(&l, cases[c].name, cases[c].params, 1.0, MLIP_REDUCE_SUM);
		struct mlip_loss_batch b = {
			.n_rows = 2, .width = 3, .pred = pred, .target = target, .mask = NULL,
			.n_systems = 2, .natoms = natoms, .system = NULL,
		};
		size_t epr = mlip_loss_entries_per_row(&l, 3);
		ck_assert_uint_eq(epr, strcmp(cases[c].name, "l2norm") ? 3 : 1);
		ck_assert_int_eq(mlip_loss_entries(&l, &b, ell, NULL, &err), MLIP_OK);
		for (size_t j = 0; j < 2 * epr; j++)
			ck_assert_msg(fabs(ell[j] - cases[c].want[j]) < 1e-14, "%s %s entry %zu: %.17g != %.17g",
				      cases[c].name, cases[c].params ? cases[c].params : "", j, ell[j],
				      cases[c].want[j]);
		/* A masked row whose target is absent (NaN) gives 0, not NaN. */
		double t2[6];
		uint8_t mask[2] = { 0, 1 };
		memcpy(t2, target, sizeof(t2));
		t2[0] = t2[1] = t2[2] = NAN;
		b.target = t2;
		b.mask = mask;
		ck_assert_int_eq(mlip_loss_entries(&l, &b, ell, NULL, &err), MLIP_OK);
		for (size_t j = 0; j < epr; j++)
			ck_assert_double_eq(ell[j], 0);
		for (size_t j = epr; j < 2 * epr; j++)
			ck_assert_double_eq_tol(ell[j], cases[c].want[j], 1e-14);
		mlip_loss_release(&l);
	}

	/* The template's log-cosh: s^2 log cosh(x / s), against the direct formula. */
	struct mlip_loss l;
	double ell[6];
	make_loss(&l, "example", "scale: 0.5", 1.0, MLIP_REDUCE_SUM);
	struct mlip_loss_batch b = { .n_rows = 2, .width = 3, .pred = pred, .target = target,
				     .n_systems = 2, .natoms = natoms };
	ck_assert_int_eq(mlip_loss_entries(&l, &b, ell, NULL, &err), MLIP_OK);
	for (int j = 0; j < 6; j++)
		ck_assert_double_eq_tol(ell[j], 0.25 * log(cosh((pred[j] - target[j]) / 0.5)), 1e-14);
	mlip_loss_release(&l);
}
END_TEST

/* Random rows with |p - t| away from every kink: 0, and +-delta for huber. */
static void random_rows(double *pred, double *target, size_t n, uint64_t *rng)
{
	for (size_t j = 0; j < n; j++) {
		double x;
		do
			x = 4.0 * (test_rand_unif(rng) - 0.5);
		while (fabs(x) < 0.05 || fabs(fabs(x) - 0.7) < 0.05 || fabs(fabs(x) - 1.0) < 0.05);
		target[j] = 3.0 * (test_rand_unif(rng) - 0.5);
		pred[j] = target[j] + x;
	}
}

START_TEST(test_plugin_grad_fd)
{
	enum { N = 6, D = 3 };
	const char *name = losses[_i].name;
	double pred[N * D], target[N * D], dell[N * D], ell[N * D];
	size_t natoms[N];
	uint8_t mask[N] = { 1, 1, 0, 1, 1, 1 };
	uint64_t rng = 1234 + (uint64_t)_i;
	struct mlip_err err = { 0 };
	struct mlip_loss l;
	random_rows(pred, target, N * D, &rng);
	for (int i = 0; i < N; i++)
		natoms[i] = 1 + (size_t)(test_rand_unif(&rng) * 6);
	make_loss(&l, name, losses[_i].params, 1.0, MLIP_REDUCE_SUM);
	struct mlip_loss_batch b = { .n_rows = N, .width = D, .pred = pred, .target = target,
				     .mask = mask, .n_systems = N, .natoms = natoms };
	size_t n_ell = N * mlip_loss_entries_per_row(&l, D);
	ck_assert_int_eq(mlip_loss_entries(&l, &b, ell, dell, &err), MLIP_OK);

	/* Each pred component feeds one entry, so d(sum of entries)/dp_j = dell_j. */
	const double h = 1e-6;
	for (int j = 0; j < N * D; j++) {
		double keep = pred[j], up = 0, down = 0;
		pred[j] = keep + h;
		ck_assert_int_eq(mlip_loss_entries(&l, &b, ell, NULL, &err), MLIP_OK);
		for (size_t e = 0; e < n_ell; e++)
			up += ell[e];
		pred[j] = keep - h;
		ck_assert_int_eq(mlip_loss_entries(&l, &b, ell, NULL, &err), MLIP_OK);
		for (size_t e = 0; e < n_ell; e++)
			down += ell[e];
		pred[j] = keep;
		ck_assert_double_eq_tol(dell[j], (up - down) / (2 * h), 1e-7);
		if (j / D == 2)
			ck_assert_double_eq(dell[j], 0);
		else
			ck_assert(dell[j] != 0);
	}

	/* At p = t the gradient is 0 for every loss (kinks included). */
	memcpy(pred, target, sizeof(pred));
	ck_assert_int_eq(mlip_loss_entries(&l, &b, ell, dell, &err), MLIP_OK);
	for (int j = 0; j < N * D; j++)
		ck_assert_double_eq(dell[j], 0);
	for (size_t e = 0; e < n_ell; e++)
		ck_assert_double_eq(ell[e], 0);
	mlip_loss_release(&l);
}
END_TEST

/* ---- reductions ---- */

/*
 * A forces batch by hand: 3 structures of 2, 1 and 2 atoms (5 rows), rows 1
 * and 2 masked with absent (NaN) targets, so structure 1 has no valid atom.
 * p - t: row 0 (1, -1, 2), row 3 (0.5, 0, 0), row 4 (-1, 1, 1).
 * mae sums per row: 4, 0.5, 3 (total 7.5), over 9 valid components.
 */
static const double hp[15] = { 1, -1, 2, 9, 9, 9, 9, 9, 9, 0.5, 0, 0, -1, 1, 1 };
static const double ht[15] = { 0, 0, 0, NAN, NAN, NAN, NAN, NAN, NAN, 0, 0, 0, 0, 0, 0 };
static const uint8_t hmask[5] = { 1, 0, 0, 1, 1 };
static const size_t hnatoms[3] = { 2, 1, 2 };
static const size_t hsystem[5] = { 0, 0, 1, 2, 2 };

static struct mlip_loss_batch hand_batch(void)
{
	struct mlip_loss_batch b = { .n_rows = 5, .width = 3, .pred = hp, .target = ht,
				     .mask = hmask, .n_systems = 3, .natoms = hnatoms,
				     .system = hsystem };
	return b;
}

START_TEST(test_reductions_by_hand)
{
	struct mlip_loss_batch b = hand_batch();
	struct mlip_err err = { 0 };
	struct mlip_loss l;
	double L, g[15];
	size_t count;

	/* mean, coefficient 2: local G = 9, L = 2 * 7.5 / 9; with G = 18 over
	 * ranks, 2 * 7.5 / 18. Gradient 2 sign(x) / G on valid rows. */
	make_loss(&l, "mae", NULL, 2.0, MLIP_REDUCE_MEAN);
	ck_assert_int_eq(mlip_loss_count(&l, &b, &count, &err), MLIP_OK);
	ck_assert_uint_eq(count, 9);
	memset(g, 0, sizeof(g));
	ck_assert_int_eq(mlip_loss_forward(&l, &b, 9, &L, g, &err), MLIP_OK);
	ck_assert_double_eq_tol(L, 15.0 / 9, 1e-15);
	const double gmean[15] = { 2. / 9, -2. / 9, 2. / 9, 0, 0, 0, 0, 0, 0,
				   2. / 9, 0, 0, -2. / 9, 2. / 9, 2. / 9 };
	for (int j = 0; j < 15; j++)
		ck_assert_double_eq_tol(g[j], gmean[j], 1e-15);
	ck_assert_int_eq(mlip_loss_forward(&l, &b, 18, &L, NULL, &err), MLIP_OK);
	ck_assert_double_eq_tol(L, 15.0 / 18, 1e-15);
	/* A count of 0 is read as max(G, 1) = 1: never a division by zero. */
	ck_assert_int_eq(mlip_loss_forward(&l, &b, 0, &L, NULL, &err), MLIP_OK);
	ck_assert_double_eq_tol(L, 15.0, 1e-15);
	mlip_loss_release(&l);

	/* sum: 2 * 7.5; the gradient accumulates into what is there. */
	make_loss(&l, "mae", NULL, 2.0, MLIP_REDUCE_SUM);
	for (int j = 0; j < 15; j++)
		g[j] = 1.0;
	ck_assert_int_eq(mlip_loss_forward(&l, &b, 12345, &L, g, &err), MLIP_OK);
	ck_assert_double_eq_tol(L, 15.0, 1e-15);
	ck_assert_double_eq(g[0], 3.0);
	ck_assert_double_eq(g[1], -1.0);
	ck_assert_double_eq(g[3], 1.0);   /* masked: untouched */
	ck_assert_double_eq(g[10], 1.0);  /* x = 0: sign 0 */
	mlip_loss_release(&l);

	/* per_structure: structure 0 has 1 valid atom (4 / 1), structure 1 none
	 * (left out), structure 2 has 2 (3.5 / 2): L = 2 (4 + 1.75) / 2. */
	make_loss(&l, "mae", NULL, 2.0, MLIP_REDUCE_PER_STRUCTURE);
	ck_assert_int_eq(mlip_loss_count(&l, &b, &count, &err), MLIP_OK);
	ck_assert_uint_eq(count, 2);
	memset(g, 0, sizeof(g));
	ck_assert_int_eq(mlip_loss_forward(&l, &b, count, &L, g, &err), MLIP_OK);
	ck_assert_double_eq_tol(L, 5.75, 1e-15);
	/* d/dp: 2 sign(x) / (S a_s): row 0 a = 1, rows 3-4 a = 2. */
	const double gps[15] = { 1, -1, 1, 0, 0, 0, 0, 0, 0, 0.5, 0, 0, -0.5, 0.5, 0.5 };
	for (int j = 0; j < 15; j++)
		ck_assert_double_eq_tol(g[j], gps[j], 1e-15);
	mlip_loss_release(&l);

	/* l2norm counts rows: (sqrt 6 + 0.5 + sqrt 3) / 3. */
	make_loss(&l, "l2norm", NULL, 1.0, MLIP_REDUCE_MEAN);
	ck_assert_int_eq(mlip_loss_count(&l, &b, &count, &err), MLIP_OK);
	ck_assert_uint_eq(count, 3);
	ck_assert_int_eq(mlip_loss_forward(&l, &b, count, &L, NULL, &err), MLIP_OK);
	ck_assert_double_eq_tol(L, (sqrt(6) + 0.5 + sqrt(3)) / 3, 1e-15);
	mlip_loss_release(&l);
}
END_TEST

START_TEST(test_reductions_system_level)
{
	/* Energies of 3 systems of 2, 4 and 8 atoms; |p - t| = 1, 2, (masked). */
	const double p[3] = { 1, -2, 5 }, t[3] = { 0, 0, NAN };
	const uint8_t mask[3] = { 1, 1, 0 };
	const size_t natoms[3] = { 2, 4, 8 };
	struct mlip_loss_batch b = { .n_rows = 3, .width = 1, .pred = p, .target = t, .mask = mask,
				     .n_systems = 3, .natoms = natoms };
	struct mlip_err err = { 0 };
	struct mlip_loss l;
	double L, g[3] = { 0 };
	size_t count;

	/* per_atom_mae, mean over 2 systems: (1/2 + 2/4) / 2. */
	make_loss(&l, "per_atom_mae", NULL, 1.0, MLIP_REDUCE_MEAN);
	ck_assert_int_eq(mlip_loss_count(&l, &b, &count, &err), MLIP_OK);
	ck_assert_uint_eq(count, 2);
	ck_assert_int_eq(mlip_loss_forward(&l, &b, count, &L, g, &err), MLIP_OK);
	ck_assert_double_eq_tol(L, 0.5, 1e-15);
	ck_assert_double_eq_tol(g[0], 0.25, 1e-15);     /* 1 / (2 * 2) */
	ck_assert_double_eq_tol(g[1], -0.125, 1e-15);   /* -1 / (4 * 2) */
	ck_assert_double_eq(g[2], 0);
	mlip_loss_release(&l);

	/* mae with per_structure divides each system's loss by its atom count:
	 * (1/2 + 2/4) / 2 as well. */
	make_loss(&l, "mae", NULL, 1.0, MLIP_REDUCE_PER_STRUCTURE);
	ck_assert_int_eq(mlip_loss_count(&l, &b, &count, &err), MLIP_OK);
	ck_assert_uint_eq(count, 2);
	ck_assert_int_eq(mlip_loss_forward(&l, &b, count, &L, NULL, &err), MLIP_OK);
	ck_assert_double_eq_tol(L, 0.5, 1e-15);
	mlip_loss_release(&l);

	/* per_atom_mse summed: (1/2)^2 + (2/4)^2. */
	make_loss(&l, "per_atom_mse", NULL, 1.0, MLIP_REDUCE_SUM);
	ck_assert_int_eq(mlip_loss_forward(&l, &b, 0, &L, NULL, &err), MLIP_OK);
	ck_assert_double_eq_tol(L, 0.5, 1e-15);
	mlip_loss_release(&l);
}
END_TEST

START_TEST(test_no_valid_entries)
{
	/* Everything masked and every target absent: loss 0, gradient 0, count 0. */
	const double p[6] = { 1, 2, 3, 4, 5, 6 }, t[6] = { NAN, NAN, NAN, NAN, NAN, NAN };
	const uint8_t mask[2] = { 0, 0 };
	const size_t natoms[1] = { 2 }, system[2] = { 0, 0 };
	struct mlip_loss_batch b = { .n_rows = 2, .width = 3, .pred = p, .target = t, .mask = mask,
				     .n_systems = 1, .natoms = natoms, .system = system };
	struct mlip_err err = { 0 };
	for (int r = 0; r < 3; r++) {
		for (int k = 0; k < N_LOSSES; k++) {
			struct mlip_loss l;
			double L = -1, g[6] = { 0 };
			size_t count = 99;
			make_loss(&l, losses[k].name, losses[k].params, 1.0, (enum mlip_reduction)r);
			ck_assert_int_eq(mlip_loss_count(&l, &b, &count, &err), MLIP_OK);
			ck_assert_uint_eq(count, 0);
			ck_assert_int_eq(mlip_loss_forward(&l, &b, count, &L, g, &err), MLIP_OK);
			ck_assert_msg(L == 0.0, "%s %s: loss %g", losses[k].name, mlip_reduction_name(r), L);
			for (int j = 0; j < 6; j++)
				ck_assert_double_eq(g[j], 0);
			mlip_loss_release(&l);
		}
	}
	/* An empty batch too. */
	struct mlip_loss l;
	double L = -1;
	struct mlip_loss_batch e = { .n_rows = 0, .width = 3, .n_systems = 0 };
	make_loss(&l, "mse", NULL, 1.0, MLIP_REDUCE_PER_STRUCTURE);
	ck_assert_int_eq(mlip_loss_forward(&l, &e, 0, &L, NULL, &err), MLIP_OK);
	ck_assert_double_eq(L, 0);
	mlip_loss_release(&l);
}
END_TEST

/* Central differences of the reduced loss against its gradient. */
START_TEST(test_reduced_grad_fd)
{
	enum { NS = 4, NR = 11, D = 3 };
	const size_t natoms[NS] = { 3, 1, 5, 2 };
	const size_t system[NR] = { 0, 0, 0, 1, 2, 2, 2, 2, 2, 3, 3 };
	/* Structure 1 has no valid atom; structure 3 one of two. */
	const uint8_t mask[NR] = { 1, 1, 0, 0, 1, 1, 1, 0, 1, 1, 0 };
	double pred[NR * D], target[NR * D], g[NR * D];
	uint64_t rng = 77 + (uint64_t)_i;
	struct mlip_err err = { 0 };
	random_rows(pred, target, NR * D, &rng);
	struct mlip_loss_batch b = { .n_rows = NR, .width = D, .pred = pred, .target = target,
				     .mask = mask, .n_systems = NS, .natoms = natoms, .system = system };
	for (int r = 0; r < 3; r++) {
		struct mlip_loss l;
		size_t count;
		double L;
		make_loss(&l, losses[_i].name, losses[_i].params, 1.7, (enum mlip_reduction)r);
		ck_assert_int_eq(mlip_loss_count(&l, &b, &count, &err), MLIP_OK);
		count += 3;   /* as if other ranks held more */
		memset(g, 0, sizeof(g));
		ck_assert_int_eq(mlip_loss_forward(&l, &b, count, &L, g, &err), MLIP_OK);
		ck_assert(L > 0);
		const double h = 1e-6;
		for (int j = 0; j < NR * D; j++) {
			double keep = pred[j], up, down;
			pred[j] = keep + h;
			ck_assert_int_eq(mlip_loss_forward(&l, &b, count, &up, NULL, &err), MLIP_OK);
			pred[j] = keep - h;
			ck_assert_int_eq(mlip_loss_forward(&l, &b, count, &down, NULL, &err), MLIP_OK);
			pred[j] = keep;
			ck_assert_msg(fabs(g[j] - (up - down) / (2 * h)) < 1e-7,
				      "%s %s component %d: %.10g vs fd %.10g", losses[_i].name,
				      mlip_reduction_name(r), j, g[j], (up - down) / (2 * h));
			if (!mask[j / D])
				ck_assert_double_eq(g[j], 0);
		}
		mlip_loss_release(&l);
	}
}
END_TEST

/* ---- configuration and misuse ---- */

START_TEST(test_params_and_errors)
{
	struct mlip_err err = { 0 };
	struct mlip_loss l;
	enum mlip_reduction r;

	ck_assert_int_eq(mlip_reduction_parse("per_structure", &r, &err), MLIP_OK);
	ck_assert_int_eq(r, MLIP_REDUCE_PER_STRUCTURE);
	ck_assert_int_eq(mlip_reduction_parse("sum", &r, &err), MLIP_OK);
	ck_assert_int_eq(r, MLIP_REDUCE_SUM);
	ck_assert_str_eq(mlip_reduction_name(MLIP_REDUCE_MEAN), "mean");
	ck_assert_int_eq(mlip_reduction_parse("avg", &r, &err), MLIP_EINVAL);
	assert_has(err.msg, "unknown loss reduction 'avg'");

	static const char *const bad[][3] = {
		{ "huber", "delte: 1", "loss plugin 'huber': unknown parameter 'delte' (known: delta)" },
		{ "huber", "{delta: -1}", "loss plugin 'huber': delta must be positive" },
		{ "huber", "{\"delta\": \"big\"}", "parameter 'delta' must be a finite number, not 'big'" },
		{ "huber", "{delta: [1]}", "parameter 'delta' must be a scalar" },
		{ "mae", "{delta: 1}", "loss plugin 'mae': unknown parameter 'delta' (this plugin takes none)" },
		{ "l2norm", "x: 1", "loss plugin 'l2norm': unknown parameter 'x'" },
		{ "no_such_loss", NULL, "loss plugin 'no_such_loss' not found" },
		{ "rmsd", NULL, "loss plugin 'rmsd' not found" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(mlip_loss_init(&l, &reg, bad[i][0], bad[i][1], 1.0, MLIP_REDUCE_MEAN, &err),
				 MLIP_EPLUGIN);
		assert_has(err.msg, bad[i][2]);
		ck_assert_ptr_null(l.plugin);
	}
	ck_assert_int_eq(mlip_loss_init(&l, &reg, "mae", NULL, NAN, MLIP_REDUCE_MEAN, &err), MLIP_EINVAL);
	assert_has(err.msg, "coefficient must be finite");

	/* The same delta in JSON, YAML flow and YAML block form. */
	const double p = 3, t = 0;
	const size_t one = 1;
	struct mlip_loss_batch b = { .n_rows = 1, .width = 1, .pred = &p, .target = &t,
				     .n_systems = 1, .natoms = &one };
	static const char *const forms[] = { "{\"delta\": 2}", "{delta: 2}", "delta: 2\n" };
	for (int i = 0; i < 3; i++) {
		double L;
		make_loss(&l, "huber", forms[i], 1.0, MLIP_REDUCE_SUM);
		ck_assert_int_eq(mlip_loss_forward(&l, &b, 1, &L, NULL, &err), MLIP_OK);
		ck_assert_double_eq(L, 4.0);   /* 2 (3 - 1) */
		mlip_loss_release(&l);
		mlip_loss_release(&l);
	}

	/* Inconsistent batches are refused, not read out of bounds. */
	const double p5[5] = { 0 };
	const size_t sys_bad[5] = { 0, 0, 3, 1, 1 };
	const size_t nat[2] = { 2, 3 };
	struct mlip_loss_batch bb = { .n_rows = 5, .width = 1, .pred = p5, .target = p5,
				      .n_systems = 2, .natoms = nat, .system = sys_bad };
	double L, g[5];
	make_loss(&l, "mae", NULL, 1.0, MLIP_REDUCE_MEAN);
	ck_assert_int_eq(mlip_loss_forward(&l, &bb, 1, &L, g, &err), MLIP_EINVAL);
	assert_has(err.msg, "row 2 belongs to system 3 of 2");
	bb.system = NULL;
	ck_assert_int_eq(mlip_loss_forward(&l, &bb, 1, &L, g, &err), MLIP_EINVAL);
	assert_has(err.msg, "5 system-level rows for 2 systems");
	mlip_loss_release(&l);

	/* per_atom losses need atom counts. */
	b.natoms = NULL;
	make_loss(&l, "per_atom_mae", NULL, 1.0, MLIP_REDUCE_MEAN);
	ck_assert_int_eq(mlip_loss_forward(&l, &b, 1, &L, NULL, &err), MLIP_EPLUGIN);
	assert_has(err.msg, "loss plugin 'per_atom_mae': needs the atom count of every system");
	mlip_loss_release(&l);
}
END_TEST

START_TEST(test_no_grad_plugin)
{
	/* The shadow "mae" has no grad: usable for evaluation, refused for training. */
	struct mlip_plugins r2;
	struct mlip_err err = { 0 };
	struct mlip_loss l;
	const double p[2] = { 1, 2 }, t[2] = { 0, 0 };
	const size_t natoms[2] = { 1, 1 };
	struct mlip_loss_batch b = { .n_rows = 2, .width = 1, .pred = p, .target = t,
				     .n_systems = 2, .natoms = natoms };
	double L, g[2] = { 0 };
	mlip_plugins_init(&r2);
	mlip_plugins_add_dir(&r2, "tests/plugins/shadow", &err);
	ck_assert_int_eq(mlip_loss_init(&l, &r2, "mae", NULL, 1.0, MLIP_REDUCE_MEAN, &err), MLIP_OK);
	ck_assert_int_eq(mlip_loss_forward(&l, &b, 2, &L, NULL, &err), MLIP_OK);
	ck_assert_double_eq(L, 3.0);   /* its own 2 |p - t|, meaned */
	ck_assert_int_eq(mlip_loss_forward(&l, &b, 2, &L, g, &err), MLIP_EPLUGIN);
	assert_has(err.msg, "loss plugin 'mae' has no gradient");
	mlip_loss_release(&l);
	mlip_plugins_release(&r2);
}
END_TEST

Suite *suite_loss(void)
{
	Suite *s = suite_create("loss");
	TCase *tc = tcase_create("plugins");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_values_by_hand);
	tcase_add_loop_test(tc, test_plugin_grad_fd, 0, N_LOSSES);
	suite_add_tcase(s, tc);
	tc = tcase_create("reductions");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_reductions_by_hand);
	tcase_add_test(tc, test_reductions_system_level);
	tcase_add_test(tc, test_no_valid_entries);
	tcase_add_loop_test(tc, test_reduced_grad_fd, 0, N_LOSSES);
	suite_add_tcase(s, tc);
	tc = tcase_create("config");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_params_and_errors);
	tcase_add_test(tc, test_no_grad_plugin);
	suite_add_tcase(s, tc);
	return s;
}
