/*
 * check_tasks.c - masks, element references, normalizers, losses in raw
 * space (with finite differences) and the raw <-> physical mapping.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "config.h"
#include "tasks.h"
#include "testutil.h"

static struct mlip_plugins reg;
static struct mlip_config cfg;
static struct mlip_tasks tasks;
static struct mlip_batch batch;

static const char *base_config =
	"data: {train: x.mlb}\n"
	"model: {cutoff: 3.0, elements: [Li, Si], hidden: [4]}\n"
	"tasks:\n"
	"  - {name: e, property: energy, datasets: [a], loss: mse, normalizer: rmsd,\n"
	"     element_references: fit, metrics: [mae, per_atom_mae]}\n"
	"  - {name: f, property: forces, datasets: [a, b], loss: {name: mse, reduction: per_structure},\n"
	"     metrics: [mae, cosine_similarity]}\n"
	"  - {name: s, property: stress, datasets: [a], loss: {name: huber, delta: 0.5, coefficient: 0.3}}\n"
	"optim: {lr: 0.001}\n"
	"schedule: {epochs: 1}\n";

/* Four systems: two in dataset a (all labels, one fixed atom), one in b
 * (forces only), one in c. Energies follow exact element references. */
static void make_batch(void)
{
	struct mlip_structure s[4];
	const struct mlip_structure *ptr[4];
	uint64_t rng = 5;
	static const char *ds[4] = { "a", "a", "b", "c" };
	static const int nat[4] = { 3, 4, 2, 3 };
	for (int k = 0; k < 4; k++) {
		mlip_structure_init(&s[k]);
		ck_assert_int_eq(mlip_structure_alloc(&s[k], (size_t)nat[k], NULL), 0);
		s[k].cell[0] = s[k].cell[4] = s[k].cell[8] = 6.0;
		s[k].pbc[0] = s[k].pbc[1] = s[k].pbc[2] = 1;
		int nli = 0, nsi = 0;
		for (int i = 0; i < nat[k]; i++) {
			s[k].numbers[i] = (i + k) % 3 == 0 ? 3 : 14;
			nli += s[k].numbers[i] == 3;
			nsi += s[k].numbers[i] == 14;
			for (int x = 0; x < 3; x++) {
				s[k].positions[3 * i + x] = 1.3 * i + 0.4 * x + 0.1 * k;
				s[k].forces[3 * i + x] = test_rand_unif(&rng) - 0.5;
			}
		}
		s[k].has = MLIP_HAS_FORCES;
		if (k != 2) {
			s[k].has |= MLIP_HAS_ENERGY | MLIP_HAS_STRESS;
			s[k].energy = -1.5 * nli - 5.25 * nsi;
			for (int c = 0; c < 9; c++)
				s[k].stress[c] = 0.01 * (c + 1) * (k + 1);
		}
		mlip_structure_set_dataset(&s[k], ds[k], NULL);
		ptr[k] = &s[k];
	}
	s[1].fixed[2] = 1;
	mlip_batch_init(&batch);
	ck_assert_int_eq(mlip_batch_collate(&batch, ptr, 4, 3.0, 0, NULL, NULL), 0);
	for (int k = 0; k < 4; k++)
		mlip_structure_release(&s[k]);
}

static void setup_with(const char *text)
{
	struct mlip_err err = { 0 };
	mlip_plugins_init(&reg);
	ck_assert_int_eq(mlip_plugins_add_dir(&reg, "lib/plugins", &err), 0);
	ck_assert_msg(mlip_config_load_string(text, strlen(text), "t.yaml", NULL, 0, &cfg, &err) == 0,
		      "%s", err.msg);
	ck_assert_msg(mlip_tasks_init(&tasks, &cfg, &reg, &err) == 0, "%s", err.msg);
	make_batch();
	const struct mlip_batch *bp = &batch;
	ck_assert_msg(mlip_tasks_fit(&tasks, &bp, 1, &err) == 0, "%s", err.msg);
}

static void teardown_all(void)
{
	mlip_tasks_release(&tasks);
	mlip_config_release(&cfg);
	mlip_batch_release(&batch);
	mlip_plugins_release(&reg);
}

START_TEST(test_masks)
{
	setup_with(base_config);
	uint8_t m[32];
	ck_assert_uint_eq(mlip_task_mask(&tasks.tasks[0], &batch, 0, m), 2);
	ck_assert(m[0] && m[1] && !m[2] && !m[3]);
	/* forces: datasets a and b (3 + 4 + 2 atoms), minus the fixed atom */
	ck_assert_uint_eq(mlip_task_mask(&tasks.tasks[1], &batch, 1, m), 8);
	ck_assert(!m[3 + 2]);
	ck_assert(!m[9] && !m[10] && !m[11]); /* dataset c */
	ck_assert_uint_eq(mlip_task_mask(&tasks.tasks[1], &batch, 0, m), 9);
	ck_assert_uint_eq(mlip_task_mask(&tasks.tasks[2], &batch, 0, m), 2);
	teardown_all();
}
END_TEST

START_TEST(test_fit)
{
	setup_with(base_config);
	const struct mlip_head *h = &tasks.heads[0];
	ck_assert(h->has_elref && h->has_norm);
	/* only two systems in dataset a: Li and Si counts (1,2) and (2,2) determine both */
	ck_assert_double_eq_tol(h->elref[3], -1.5, 1e-10);
	ck_assert_double_eq_tol(h->elref[14], -5.25, 1e-10);
	/* normalizer: rms of the valid force components (a forces task reads the head) */
	uint8_t m[32];
	mlip_task_mask(&tasks.tasks[1], &batch, 1, m);
	double sq = 0;
	size_t n = 0;
	for (size_t a = 0; a < batch.n_atoms; a++)
		if (m[a])
			for (int c = 0; c < 3; c++, n++)
				sq += batch.forces[3 * a + c] * batch.forces[3 * a + c];
	ck_assert_double_eq_tol(h->scale, sqrt(sq / n), 1e-14);
	ck_assert_double_eq(h->shift, 0);
	teardown_all();
}
END_TEST

static double total_loss(const double *re, const double *rf, const double *rs, double *dE,
			 double *dF, double *dS)
{
	uint64_t counts[3];
	double l[3];
	struct mlip_err err = { 0 };
	ck_assert_int_eq(mlip_tasks_loss_counts(&tasks, &batch, counts, &err), 0);
	ck_assert_msg(mlip_tasks_loss(&tasks, &batch, re, rf, rs, counts, l, dE, dF, dS, &err) == 0,
		      "%s", err.msg);
	return l[0] + l[1] + l[2];
}

START_TEST(test_loss_gradient)
{
	setup_with(base_config);
	size_t B = batch.n_systems, N = batch.n_atoms;
	double re[4], rf[64], rs[36], dE[4] = { 0 }, dF[64] = { 0 }, dS[36] = { 0 };
	double g1[4], g2[64], g3[36];
	uint64_t rng = 9;
	for (size_t k = 0; k < B; k++)
		re[k] = test_rand_unif(&rng) - 0.5;
	for (size_t k = 0; k < 3 * N; k++)
		rf[k] = test_rand_unif(&rng) - 0.5;
	for (size_t k = 0; k < 9 * B; k++)
		rs[k] = 2 * test_rand_unif(&rng) - 1;
	total_loss(re, rf, rs, dE, dF, dS);
	const double h = 1e-6;
	double *arrays[3] = { re, rf, rs }, *grads[3] = { dE, dF, dS };
	size_t sizes[3] = { B, 3 * N, 9 * B };
	int nonzero = 0;
	for (int a = 0; a < 3; a++)
		for (size_t k = 0; k < sizes[a]; k++) {
			double keep = arrays[a][k];
			arrays[a][k] = keep + h;
			double lp = total_loss(re, rf, rs, g1, g2, g3);
			arrays[a][k] = keep - h;
			double lm = total_loss(re, rf, rs, g1, g2, g3);
			arrays[a][k] = keep;
			double fd = (lp - lm) / (2 * h);
			ck_assert_msg(fabs(fd - grads[a][k]) < 1e-7 * fmax(1, fabs(fd)),
				      "output %d entry %zu: analytic %.12g, finite difference %.12g", a, k,
				      grads[a][k], fd);
			nonzero += grads[a][k] != 0;
		}
	ck_assert_int_gt(nonzero, 20);
	/* masked rows get no gradient: dataset c (system 3), the fixed atom 5 */
	ck_assert_double_eq(dE[3], 0);
	ck_assert_double_eq(dF[3 * 5], 0);
	ck_assert_double_eq(dF[3 * 9], 0);
	teardown_all();
}
END_TEST

START_TEST(test_physical_round_trip)
{
	setup_with(base_config);
	const struct mlip_head *h = &tasks.heads[0];
	size_t B = batch.n_systems, N = batch.n_atoms;
	double re[4], rf[64], rs[36], e[4], f[64], s[36];
	for (size_t k = 0; k < B; k++) {
		double ref = 0;
		for (size_t a = batch.atom_start[k]; a < batch.atom_start[k + 1]; a++)
			ref += h->elref[batch.numbers[a]];
		re[k] = (batch.energy[k] - ref - h->shift) / h->scale;
		for (int c = 0; c < 9; c++)
			rs[9 * k + c] = batch.stress[9 * k + c] / h->scale;
	}
	for (size_t k = 0; k < 3 * N; k++)
		rf[k] = batch.forces[k] / h->scale;
	mlip_tasks_physical(&tasks, &batch, re, rf, rs, e, f, s);
	for (size_t k = 0; k < B; k++)
		ck_assert_double_eq_tol(e[k], batch.energy[k], 1e-12);
	for (size_t k = 0; k < 3 * N; k++)
		ck_assert_double_eq_tol(f[k], batch.forces[k], 1e-14);
	/* perfect predictions: zero metrics */
	struct mlip_metrics m;
	double v;
	mlip_metrics_init(&m, tasks.n_tasks, NULL);
	ck_assert_int_eq(mlip_tasks_add_metrics(&tasks, &m, &batch, e, f, s, NULL), 0);
	long a = mlip_metrics_dataset(&m, "a");
	ck_assert(mlip_metrics_value(&m, (size_t)a, 0, MLIP_METRIC_MAE, &v));
	ck_assert_double_le(v, 1e-12);
	ck_assert(mlip_metrics_value(&m, (size_t)a, 1, MLIP_METRIC_COSINE_SIMILARITY, &v));
	ck_assert_double_eq_tol(v, 1.0, 1e-12);
	long c = mlip_metrics_dataset(&m, "c");
	ck_assert(!mlip_metrics_value(&m, (size_t)c, 0, MLIP_METRIC_MAE, &v)); /* null */
	mlip_metrics_release(&m);
	teardown_all();
}
END_TEST

START_TEST(test_state_json)
{
	setup_with(base_config);
	char *json = NULL;
	struct mlip_tasks t2;
	struct mlip_err err = { 0 };
	ck_assert_int_eq(mlip_tasks_state_to_json(&tasks, &json, &err), 0);
	ck_assert_int_eq(mlip_tasks_init(&t2, &cfg, &reg, &err), 0);
	ck_assert(!t2.fitted);
	ck_assert_msg(mlip_tasks_state_from_json(&t2, &reg, json, &err) == 0, "%s", err.msg);
	ck_assert_double_eq(t2.heads[0].scale, tasks.heads[0].scale);
	ck_assert_double_eq(t2.heads[0].elref[14], tasks.heads[0].elref[14]);
	ck_assert_double_eq(t2.heads[0].elref[3], tasks.heads[0].elref[3]);
	ck_assert_int_eq(mlip_tasks_state_from_json(&t2, &reg, "{\"heads\": []}", &err), MLIP_EDATA);
	free(json);
	mlip_tasks_release(&t2);
	teardown_all();
}
END_TEST

START_TEST(test_scale_conflict)
{
	const char *text =
		"data: {train: x.mlb}\n"
		"model: {cutoff: 3.0, elements: [Si], hidden: [4]}\n"
		"tasks:\n"
		"  - {name: e, property: energy, datasets: [a], loss: mse, normalizer: rmsd}\n"
		"  - {name: f, property: forces, datasets: [a], loss: mse, normalizer: {name: rmsd, rmsd: 2}}\n"
		"optim: {lr: 0.001}\nschedule: {epochs: 1}\n";
	struct mlip_err err = { 0 };
	mlip_plugins_init(&reg);
	mlip_plugins_add_dir(&reg, "lib/plugins", &err);
	ck_assert_int_eq(mlip_config_load_string(text, strlen(text), "t.yaml", NULL, 0, &cfg, &err), 0);
	ck_assert_int_eq(mlip_tasks_init(&tasks, &cfg, &reg, &err), MLIP_EINVAL);
	ck_assert_msg(strstr(err.msg, "task 'f': its normalizer conflicts with task 'e'") != NULL, "%s",
		      err.msg);
	mlip_config_release(&cfg);
	mlip_plugins_release(&reg);
}
END_TEST

Suite *suite_tasks(void)
{
	Suite *s = suite_create("tasks");
	TCase *tc = tcase_create("tasks");
	tcase_add_test(tc, test_masks);
	tcase_add_test(tc, test_fit);
	tcase_add_test(tc, test_loss_gradient);
	tcase_add_test(tc, test_physical_round_trip);
	tcase_add_test(tc, test_state_json);
	tcase_add_test(tc, test_scale_conflict);
	suite_add_tcase(s, tc);
	return s;
}
