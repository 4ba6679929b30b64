/*
 * check_rng.c - the reproducible generator and shuffle.
 */
#include <check.h>
#include <stdlib.h>

#include "rng.h"

START_TEST(test_reproducible)
{
	struct mlip_rng a, b, c;
	mlip_rng_seed(&a, 42);
	mlip_rng_seed(&b, 42);
	mlip_rng_seed(&c, 43);
	int same_c = 0;
	for (int k = 0; k < 1000; k++) {
		uint64_t x = mlip_rng_u64(&a);
		ck_assert_uint_eq(x, mlip_rng_u64(&b));
		same_c += x == mlip_rng_u64(&c);
	}
	ck_assert_int_eq(same_c, 0);
	struct mlip_rng s1, s2;
	mlip_rng_seed2(&s1, 7, 1);
	mlip_rng_seed2(&s2, 7, 2);
	ck_assert_uint_ne(mlip_rng_u64(&s1), mlip_rng_u64(&s2));
}
END_TEST

START_TEST(test_uniform_and_below)
{
	struct mlip_rng r;
	mlip_rng_seed(&r, 1);
	double sum = 0;
	int counts[7] = { 0 };
	for (int k = 0; k < 70000; k++) {
		double u = mlip_rng_uniform(&r);
		ck_assert(u >= 0 && u < 1);
		sum += u;
		counts[mlip_rng_below(&r, 7)]++;
	}
	ck_assert_double_eq_tol(sum / 70000, 0.5, 0.01);
	for (int k = 0; k < 7; k++) {
		ck_assert_int_gt(counts[k], 9400);
		ck_assert_int_lt(counts[k], 10600);
	}
}
END_TEST

START_TEST(test_shuffle_is_permutation)
{
	struct mlip_rng r;
	size_t perm[100], seen[100] = { 0 }, moved = 0;
	mlip_rng_seed(&r, 3);
	for (size_t k = 0; k < 100; k++)
		perm[k] = k;
	mlip_rng_shuffle(&r, perm, 100);
	for (size_t k = 0; k < 100; k++) {
		seen[perm[k]]++;
		moved += perm[k] != k;
	}
	for (size_t k = 0; k < 100; k++)
		ck_assert_uint_eq(seen[k], 1);
	ck_assert_uint_gt(moved, 80);
}
END_TEST

Suite *suite_rng(void)
{
	Suite *s = suite_create("rng");
	TCase *tc = tcase_create("rng");
	tcase_add_test(tc, test_reproducible);
	tcase_add_test(tc, test_uniform_and_below);
	tcase_add_test(tc, test_shuffle_is_permutation);
	suite_add_tcase(s, tc);
	return s;
}
