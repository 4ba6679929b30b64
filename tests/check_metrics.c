/*
 * check_metrics.c - metric sums against values computed by hand.
 */
#include <check.h>
#include <math.h>

#include "metrics.h"

START_TEST(test_energy_metrics)
{
	struct mlip_metrics m;
	double v;
	ck_assert_int_eq(mlip_metrics_init(&m, 2, NULL), 0);
	long si = mlip_metrics_dataset(&m, "si");
	long li = mlip_metrics_dataset(&m, "li");
	ck_assert_int_eq(si, 0);
	ck_assert_int_eq(li, 1);
	ck_assert_int_eq(mlip_metrics_dataset(&m, "si"), 0);
	/* energies: errors +1 (4 atoms) and -3 (2 atoms); threshold 2 */
	double p1 = 11, t1 = 10, p2 = 5, t2 = 8;
	mlip_metrics_add_row(&m, 0, 0, &p1, &t1, 1, 4, 2.0);
	mlip_metrics_add_row(&m, 0, 0, &p2, &t2, 1, 2, 2.0);
	ck_assert(mlip_metrics_value(&m, 0, 0, MLIP_METRIC_MAE, &v));
	ck_assert_double_eq_tol(v, 2.0, 1e-15);
	ck_assert(mlip_metrics_value(&m, 0, 0, MLIP_METRIC_MSE, &v));
	ck_assert_double_eq_tol(v, 5.0, 1e-15);
	ck_assert(mlip_metrics_value(&m, 0, 0, MLIP_METRIC_RMSE, &v));
	ck_assert_double_eq_tol(v, sqrt(5.0), 1e-15);
	ck_assert(mlip_metrics_value(&m, 0, 0, MLIP_METRIC_PER_ATOM_MAE, &v));
	ck_assert_double_eq_tol(v, (0.25 + 1.5) / 2, 1e-15);
	ck_assert(mlip_metrics_value(&m, 0, 0, MLIP_METRIC_PER_ATOM_MSE, &v));
	ck_assert_double_eq_tol(v, (0.0625 + 2.25) / 2, 1e-15);
	ck_assert(mlip_metrics_value(&m, 0, 0, MLIP_METRIC_ENERGY_WITHIN_THRESHOLD, &v));
	ck_assert_double_eq_tol(v, 0.5, 1e-15);
	/* no entry: null, not a division by zero */
	ck_assert(!mlip_metrics_value(&m, 1, 0, MLIP_METRIC_MAE, &v));
	ck_assert(!mlip_metrics_value(&m, 0, 1, MLIP_METRIC_RMSE, &v));
	ck_assert_int_eq(mlip_metrics_reduce(&m, NULL), 0); /* world of one: sorts */
	ck_assert_str_eq(m.datasets[0], "li");
	ck_assert(mlip_metrics_value(&m, 1, 0, MLIP_METRIC_MAE, &v));
	ck_assert_double_eq_tol(v, 2.0, 1e-15);
	mlip_metrics_release(&m);
}
END_TEST

START_TEST(test_force_metrics)
{
	struct mlip_metrics m;
	double v;
	mlip_metrics_init(&m, 1, NULL);
	mlip_metrics_dataset(&m, "d");
	double p[3] = { 1, 0, 0 }, t[3] = { 0, 2, 0 };       /* orthogonal: cos 0, |Δ|mag 1 */
	double p2[3] = { 2, 2, 1 }, t2[3] = { 4, 4, 2 };     /* parallel: cos 1, mag 3 */
	mlip_metrics_add_row(&m, 0, 0, p, t, 3, 0, 0);
	mlip_metrics_add_row(&m, 0, 0, p2, t2, 3, 0, 0);
	ck_assert(mlip_metrics_value(&m, 0, 0, MLIP_METRIC_MAE, &v));
	ck_assert_double_eq_tol(v, (1 + 2 + 0 + 2 + 2 + 1) / 6.0, 1e-15);
	ck_assert(mlip_metrics_value(&m, 0, 0, MLIP_METRIC_RMSE, &v));
	ck_assert_double_eq_tol(v, sqrt((1 + 4 + 0 + 4 + 4 + 1) / 6.0), 1e-15);
	ck_assert(mlip_metrics_value(&m, 0, 0, MLIP_METRIC_COSINE_SIMILARITY, &v));
	ck_assert_double_eq_tol(v, 0.5, 1e-15);
	ck_assert(mlip_metrics_value(&m, 0, 0, MLIP_METRIC_MAGNITUDE_ERROR, &v));
	ck_assert_double_eq_tol(v, (1 + 3) / 2.0, 1e-15);
	ck_assert_int_eq(mlip_metric_parse("cosine_similarity"), MLIP_METRIC_COSINE_SIMILARITY);
	ck_assert_int_eq(mlip_metric_parse("nope"), -1);
	ck_assert_str_eq(mlip_metric_name(MLIP_METRIC_RMSE), "rmse");
	mlip_metrics_release(&m);
}
END_TEST

Suite *suite_metrics(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("metrics");
	tcase_add_test(tc, test_energy_metrics);
	tcase_add_test(tc, test_force_metrics);
	suite_add_tcase(s, tc);
	return s;
}
