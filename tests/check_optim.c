/*
 * check_optim.c - AdamW, the schedule, clipping and EMA against updates
 * worked out by hand.
 */
#include <check.h>
#include <math.h>

#include "optim.h"

START_TEST(test_adamw_first_steps)
{
	/* Step 1: m = 0.1 g, v = 0.001 g², m̂ = g, v̂ = g²: θ −= lr·g/(|g| + eps). */
	struct mlip_adamw a;
	mlip_adamw_defaults(&a);
	a.lr = 0.1;
	a.weight_decay = 0.5;
	double p[3] = { 1.0, -2.0, 3.0 }, g[3] = { 0.5, -4.0, 0.0 }, m[3] = { 0 }, v[3] = { 0 };
	uint8_t decay[3] = { 1, 0, 1 };
	mlip_adamw_step(p, g, m, v, decay, 3, &a, 1.0, 1);
	/* decayed entry: θ(1 − 0.1·0.5) first */
	ck_assert_double_eq_tol(p[0], 1.0 * 0.95 - 0.1 * 0.5 / (0.5 + 1e-8), 1e-15);
	ck_assert_double_eq_tol(p[1], -2.0 + 0.1 * 4.0 / (4.0 + 1e-8), 1e-15);
	ck_assert_double_eq_tol(p[2], 3.0 * 0.95, 1e-15); /* zero gradient: only decay */
	ck_assert_double_eq_tol(m[0], 0.05, 1e-16);
	ck_assert_double_eq_tol(v[1], 0.001 * 16, 1e-16);

	/* Step 2 with the schedule factor 0.5, by the formula in full. */
	double g2[3] = { -1.0, 2.0, 1.0 };
	double m0 = m[0], v0 = v[0], p0 = p[0];
	mlip_adamw_step(p, g2, m, v, decay, 3, &a, 0.5, 2);
	double lr = 0.05;
	double mm = 0.9 * m0 + 0.1 * -1.0, vv = 0.999 * v0 + 0.001 * 1.0;
	double want = p0 * (1 - lr * 0.5) - lr * (mm / (1 - 0.81)) / (sqrt(vv / (1 - 0.999 * 0.999)) + 1e-8);
	ck_assert_double_eq_tol(p[0], want, 1e-14);
	ck_assert_double_eq_tol(m[0], mm, 1e-16);
	ck_assert_double_eq_tol(v[0], vv, 1e-18);
}
END_TEST

START_TEST(test_adamw_null_mask_decays_all)
{
	struct mlip_adamw a;
	mlip_adamw_defaults(&a);
	a.weight_decay = 0.1;
	double p[2] = { 1, 1 }, g[2] = { 0, 0 }, m[2] = { 0 }, v[2] = { 0 };
	mlip_adamw_step(p, g, m, v, NULL, 2, &a, 1.0, 1);
	ck_assert_double_eq_tol(p[0], 1 - 1e-3 * 0.1, 1e-16);
	ck_assert_double_eq_tol(p[1], 1 - 1e-3 * 0.1, 1e-16);
}
END_TEST

START_TEST(test_schedule)
{
	struct mlip_schedule s = { .warmup_factor = 0.2, .warmup_steps = 10, .total_steps = 100,
				   .lr_min_factor = 0.01 };
	ck_assert_double_eq_tol(mlip_schedule_factor(&s, 0), 0.2, 1e-15);
	ck_assert_double_eq_tol(mlip_schedule_factor(&s, 5), 0.2 * 0.5 + 0.5, 1e-15);
	ck_assert_double_eq_tol(mlip_schedule_factor(&s, 10), 1.0, 1e-15);
	/* fairchem's cosine runs over s/T, not (s − Wu)/(T − Wu) */
	ck_assert_double_eq_tol(mlip_schedule_factor(&s, 11),
				0.01 + 0.5 * 0.99 * (1 + cos(M_PI * 0.11)), 1e-15);
	ck_assert_double_eq_tol(mlip_schedule_factor(&s, 50), 0.01 + 0.5 * 0.99, 1e-15);
	ck_assert_double_eq_tol(mlip_schedule_factor(&s, 99),
				0.01 + 0.5 * 0.99 * (1 + cos(M_PI * 0.99)), 1e-15);
	ck_assert_double_eq(mlip_schedule_factor(&s, 100), 0.01);
	ck_assert_double_eq(mlip_schedule_factor(&s, 1000), 0.01);
	ck_assert_uint_eq(mlip_schedule_warmup_from_epochs(0.5, 7), 3);
	ck_assert_uint_eq(mlip_schedule_warmup_from_epochs(0.01, 7), 1);
	ck_assert_uint_eq(mlip_schedule_warmup_from_epochs(0, 7), 1);
}
END_TEST

START_TEST(test_clip)
{
	double g[4] = { 3, 4, 0, 0 };
	double norm = sqrt(mlip_sum_squares(g, 4));
	ck_assert_double_eq(norm, 5);
	double f = mlip_clip_factor(norm, 1.0);
	ck_assert_double_eq_tol(f, 1.0 / (5 + 1e-6), 1e-16);
	mlip_scale(g, 4, f);
	ck_assert_double_eq_tol(sqrt(mlip_sum_squares(g, 4)), 1.0, 1e-6);
	ck_assert_double_eq(mlip_clip_factor(0.5, 1.0), 1.0);
	ck_assert_double_eq(mlip_clip_factor(1e9, 0), 1.0); /* off */
}
END_TEST

START_TEST(test_ema)
{
	double e[2] = { 0, 0 }, p[2] = { 1, 2 };
	mlip_ema_update(e, p, 2, 0.9, 1);
	ck_assert_double_eq(e[0], 1);
	ck_assert_double_eq(e[1], 2);
	p[0] = 3;
	mlip_ema_update(e, p, 2, 0.9, 0);
	ck_assert_double_eq_tol(e[0], 0.9 * 1 + 0.1 * 3, 1e-15);
	ck_assert_double_eq_tol(e[1], 2, 1e-15);
}
END_TEST

Suite *suite_optim(void)
{
	Suite *s = suite_create("optim");
	TCase *tc = tcase_create("adamw");
	tcase_add_test(tc, test_adamw_first_steps);
	tcase_add_test(tc, test_adamw_null_mask_decays_all);
	suite_add_tcase(s, tc);
	tc = tcase_create("schedule");
	tcase_add_test(tc, test_schedule);
	suite_add_tcase(s, tc);
	tc = tcase_create("clip_ema");
	tcase_add_test(tc, test_clip);
	tcase_add_test(tc, test_ema);
	suite_add_tcase(s, tc);
	return s;
}
