/*
 * check_structure.c - structures, elements and cell maths.
 */
#include <check.h>
#include <math.h>
#include <string.h>

#include "elements.h"
#include "structure.h"

START_TEST(test_elements)
{
	ck_assert_int_eq(mlip_element_z("H"), 1);
	ck_assert_int_eq(mlip_element_z("Si"), 14);
	ck_assert_int_eq(mlip_element_z("Og"), 118);
	ck_assert_int_eq(mlip_element_z("si"), 0);
	ck_assert_int_eq(mlip_element_z("Xx"), 0);
	ck_assert_int_eq(mlip_element_z(""), 0);
	ck_assert_int_eq(mlip_element_zn("Lix", 2), 3);
	ck_assert_str_eq(mlip_element_symbol(3), "Li");
	ck_assert_ptr_null(mlip_element_symbol(0));
	ck_assert_ptr_null(mlip_element_symbol(119));
	for (int z = 1; z <= MLIP_MAX_Z; z++)
		ck_assert_int_eq(mlip_element_z(mlip_element_symbol(z)), z);
}
END_TEST

START_TEST(test_inverse)
{
	double m[9] = { 3, 0.2, 0.1, -0.4, 2.5, 0.3, 0.7, -0.2, 4.1 }, inv[9];
	ck_assert_int_eq(mlip_mat3_inverse(inv, m), 0);
	for (int r = 0; r < 3; r++)
		for (int c = 0; c < 3; c++) {
			double x = 0;
			for (int k = 0; k < 3; k++)
				x += m[3 * r + k] * inv[3 * k + c];
			ck_assert_double_eq_tol(x, r == c, 1e-14);
		}
	double sing[9] = { 1, 2, 3, 2, 4, 6, 0, 0, 1 };
	ck_assert_int_eq(mlip_mat3_inverse(inv, sing), MLIP_EDATA);
	double diag[9] = { 2, 0, 0, 0, 3, 0, 0, 0, 4 };
	ck_assert_double_eq_tol(mlip_cell_volume(diag), 24, 1e-14);
}
END_TEST

static void make_dimer(struct mlip_structure *s)
{
	mlip_structure_init(s);
	ck_assert_int_eq(mlip_structure_alloc(s, 2, NULL), 0);
	s->numbers[0] = 14;
	s->numbers[1] = 8;
	s->positions[3] = 1.5;
}

START_TEST(test_validate)
{
	struct mlip_structure s;
	struct mlip_err err;
	make_dimer(&s);
	ck_assert_int_eq(mlip_structure_validate(&s, &err), 0);

	s.numbers[1] = 0;
	ck_assert_int_eq(mlip_structure_validate(&s, &err), MLIP_EDATA);
	ck_assert_str_eq(err.msg, "atom 2: atomic number 0 is not an element");
	s.numbers[1] = 8;

	s.positions[4] = NAN;
	ck_assert_int_eq(mlip_structure_validate(&s, &err), MLIP_EDATA);
	ck_assert_str_eq(err.msg, "atom 2: position is not finite");
	s.positions[4] = 0;

	s.pbc[0] = 1;
	ck_assert_int_eq(mlip_structure_validate(&s, &err), MLIP_EDATA);
	ck_assert_ptr_nonnull(strstr(err.msg, "singular"));
	s.cell[0] = s.cell[4] = s.cell[8] = 10;
	ck_assert_int_eq(mlip_structure_validate(&s, &err), 0);

	s.has = MLIP_HAS_FORCES;
	s.forces[5] = INFINITY;
	ck_assert_int_eq(mlip_structure_validate(&s, &err), MLIP_EDATA);
	ck_assert_str_eq(err.msg, "atom 2: force is not finite");
	s.has = 0; /* an absent label is not checked */
	ck_assert_int_eq(mlip_structure_validate(&s, &err), 0);

	s.has = MLIP_HAS_ENERGY;
	s.energy = NAN;
	ck_assert_int_eq(mlip_structure_validate(&s, &err), MLIP_EDATA);
	ck_assert_str_eq(err.msg, "energy is not finite");
	mlip_structure_release(&s);
}
END_TEST

START_TEST(test_copy_and_list)
{
	struct mlip_structure s, c;
	struct mlip_structure_list l;
	make_dimer(&s);
	mlip_structure_init(&c);
	ck_assert_int_eq(mlip_structure_set_dataset(&s, "si", NULL), 0);
	s.has = MLIP_HAS_ENERGY;
	s.energy = -3.5;
	ck_assert_int_eq(mlip_structure_copy(&c, &s, NULL), 0);
	ck_assert_str_eq(c.dataset, "si");
	ck_assert_ptr_ne(c.dataset, s.dataset);
	ck_assert_double_eq(c.energy, -3.5);
	ck_assert_double_eq(c.positions[3], 1.5);
	ck_assert_ptr_null(c.id);

	mlip_structure_list_init(&l);
	for (int k = 0; k < 40; k++) {
		struct mlip_structure t;
		mlip_structure_init(&t);
		ck_assert_int_eq(mlip_structure_copy(&t, &s, NULL), 0);
		t.energy = k;
		ck_assert_int_eq(mlip_structure_list_take(&l, &t, NULL), 0);
		ck_assert_ptr_null(t.numbers);
	}
	ck_assert_uint_eq(l.n, 40);
	ck_assert_double_eq(l.items[39].energy, 39);
	mlip_structure_list_release(&l);
	mlip_structure_release(&s);
	mlip_structure_release(&c);
}
END_TEST

Suite *suite_structure(void)
{
	Suite *s = suite_create("structure");
	TCase *tc = tcase_create("elements");
	tcase_add_test(tc, test_elements);
	suite_add_tcase(s, tc);
	tc = tcase_create("cell");
	tcase_add_test(tc, test_inverse);
	suite_add_tcase(s, tc);
	tc = tcase_create("lifetime");
	tcase_add_test(tc, test_validate);
	tcase_add_test(tc, test_copy_and_list);
	suite_add_tcase(s, tc);
	return s;
}
