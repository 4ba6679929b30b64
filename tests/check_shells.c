/*
 * check_shells.c - the radially resolved angular functions that
 * model.angular_shells adds to the default descriptor set: counts, the
 * shell rule, and that the library accepts the set it makes.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "descriptor.h"

START_TEST(test_shell_rule_one_element)
{
	struct mlip_err err;
	struct mlip_sf *sf = NULL;
	size_t n = 0;
	int z[1] = { 14 };
	const double rc = 5.5;
	ck_assert_int_eq(mlip_descriptor_default(&sf, &n, z, 1, rc, &err), MLIP_OK);
	ck_assert_uint_eq(n, 32);
	ck_assert_int_eq(mlip_descriptor_angular_shells(&sf, &n, z, 1, rc, 3, &err), MLIP_OK);
	ck_assert_uint_eq(n, 32 + 18);
	double d = 0.65 * rc / 3;
	for (size_t k = 0; k < 3; k++)
		for (size_t b = 0; b < 3; b++)
			for (size_t l = 0; l < 2; l++) {
				const struct mlip_sf *f = &sf[32 + k * 6 + b * 2 + l];
				ck_assert_int_eq(f->kind, MLIP_SF_G9);
				ck_assert_int_eq(f->z, 14);
				ck_assert_int_eq(f->z1, 14);
				ck_assert_int_eq(f->z2, 14);
				ck_assert_double_eq_tol(f->rs, 0.35 * rc + (k + 0.5) * d, 1e-12);
				ck_assert_double_eq_tol(f->eta, 1 / (2 * d * d), 1e-12);
				ck_assert_double_eq(f->zeta, (double)(1 << b));
				ck_assert_double_eq(f->lambda, l ? 1.0 : -1.0);
				ck_assert_double_eq(f->rc, rc);
			}
	/* the shells span [0.35 rc, rc]: the last centre is half a width inside */
	ck_assert_double_eq_tol(sf[32 + 12].rs + d / 2, rc, 1e-12);
	struct mlip_descriptor desc;
	ck_assert_int_eq(mlip_descriptor_init(&desc, z, 1, rc, sf, n, &err), MLIP_OK);
	ck_assert_uint_eq(desc.dim[0], 50);
	mlip_descriptor_release(&desc);
	free(sf);
}
END_TEST

START_TEST(test_shell_rule_two_elements)
{
	struct mlip_err err;
	struct mlip_sf *sf = NULL;
	size_t n = 0;
	int z[2] = { 3, 8 };
	ck_assert_int_eq(mlip_descriptor_default(&sf, &n, z, 2, 5.0, &err), MLIP_OK);
	size_t base = n;
	ck_assert_int_eq(mlip_descriptor_angular_shells(&sf, &n, z, 2, 5.0, 2, &err), MLIP_OK);
	/* 2 central elements x 3 neighbour pairs (LiLi, LiO, OO) x 2 shells x 6 */
	ck_assert_uint_eq(n - base, 2 * 3 * 2 * 6);
	size_t per_center[2] = { 0, 0 };
	for (size_t k = base; k < n; k++)
		per_center[sf[k].z == 3 ? 0 : 1]++;
	ck_assert_uint_eq(per_center[0], 36);
	ck_assert_uint_eq(per_center[1], 36);
	struct mlip_descriptor desc;
	ck_assert_int_eq(mlip_descriptor_init(&desc, z, 2, 5.0, sf, n, &err), MLIP_OK);
	ck_assert_uint_eq(desc.dim[0], 64 + 36);
	ck_assert_uint_eq(desc.dim[1], 64 + 36);
	mlip_descriptor_release(&desc);
	/* zero shells add nothing; bad inputs are refused and leave the list alone */
	size_t before = n;
	ck_assert_int_eq(mlip_descriptor_angular_shells(&sf, &n, z, 2, 5.0, 0, &err), MLIP_OK);
	ck_assert_uint_eq(n, before);
	ck_assert_int_eq(mlip_descriptor_angular_shells(&sf, &n, z, 2, -1.0, 2, &err), MLIP_EINVAL);
	int dup[2] = { 8, 8 };
	ck_assert_int_eq(mlip_descriptor_angular_shells(&sf, &n, dup, 2, 5.0, 2, &err), MLIP_EINVAL);
	ck_assert_uint_eq(n, before);
	free(sf);
}
END_TEST

Suite *suite_shells(void)
{
	Suite *s = suite_create("shells");
	TCase *tc = tcase_create("rule");
	tcase_add_test(tc, test_shell_rule_one_element);
	tcase_add_test(tc, test_shell_rule_two_elements);
	suite_add_tcase(s, tc);
	return s;
}
