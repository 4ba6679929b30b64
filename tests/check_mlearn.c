/*
 * check_mlearn.c - the mlearn JSON reader: the real files, the stress
 * conversion, and broken inputs.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "mlearn.h"
#include "testutil.h"

START_TEST(test_stress_conversion)
{
	/* VASP order xx yy zz xy yz zx, kBar, positive = compressive. */
	double v[6] = { 160.21766208, 0, 0, 16.021766208, 0, -1602.1766208 }, s[9];
	mlip_mlearn_stress(s, v);
	ck_assert_double_eq_tol(s[0], -0.1, 1e-15);         /* xx */
	ck_assert_double_eq_tol(s[1], -0.01, 1e-15);        /* xy */
	ck_assert_double_eq_tol(s[3], -0.01, 1e-15);        /* yx */
	ck_assert_double_eq_tol(s[2], 1.0, 1e-15);          /* xz = zx */
	ck_assert_double_eq_tol(s[6], 1.0, 1e-15);
	ck_assert_double_eq(s[4], 0);
	ck_assert_double_eq(s[5], 0);
}
END_TEST

/*
 * The bundled files always; the whole mlearn Si and Li sets when
 * MLIP_MLEARN_DIR (default ../shared/data/mlearn) holds them, else they are
 * skipped with a message.
 */
START_TEST(test_real_files)
{
	static const struct { const char *file; size_t n, atoms; int bundled; } sets[] = {
		{ "share/demo/si-train.json", 72, 4437, 1 }, { "share/demo/si-test.json", 25, 1525, 1 },
		{ "share/demo/li-test.json", 29, 1320, 1 },
		{ "Si/training.json", 214, 13233, 0 }, { "Si/test.json", 25, 1525, 0 },
		{ "Li/training.json", 241, 11576, 0 }, { "Li/test.json", 29, 1320, 0 },
	};
	for (size_t k = 0; k < sizeof(sets) / sizeof(sets[0]); k++) {
		struct mlip_structure_list l;
		struct mlip_err err = { 0 };
		char path[1024];
		if (sets[k].bundled)
			snprintf(path, sizeof(path), "%s", sets[k].file);
		else
			snprintf(path, sizeof(path), "%s/%s", test_mlearn_dir(), sets[k].file);
		FILE *f = fopen(path, "rb");
		if (!f && !sets[k].bundled) {
			fprintf(stderr, "check_mlearn: skip: %s is not here (set MLIP_MLEARN_DIR to mlearn's "
				"data/ to read the whole sets)\n", path);
			continue;
		}
		ck_assert_msg(f != NULL, "cannot open %s", path);
		mlip_structure_list_init(&l);
		ck_assert_msg(mlip_mlearn_read(f, sets[k].file, &l, &err) == 0, "%s", err.msg);
		fclose(f);
		ck_assert_uint_eq(l.n, sets[k].n);
		size_t atoms = 0;
		for (size_t i = 0; i < l.n; i++) {
			const struct mlip_structure *s = &l.items[i];
			atoms += s->natoms;
			ck_assert_uint_eq(s->has, MLIP_HAS_ENERGY | MLIP_HAS_FORCES | MLIP_HAS_STRESS);
			ck_assert(s->pbc[0] && s->pbc[1] && s->pbc[2]);
			/* DFT forces of a cell sum to ~0 (SOURCE.md: about 1e-7) */
			for (int x = 0; x < 3; x++) {
				double sum = 0;
				for (size_t a = 0; a < s->natoms; a++)
					sum += s->forces[3 * a + x];
				ck_assert_double_le(fabs(sum), 1e-3);
			}
			/* per-atom energies in the range SOURCE.md states */
			double epa = s->energy / s->natoms;
			ck_assert(epa < -1.0 && epa > -6.0);
			ck_assert_double_eq(s->stress[1], s->stress[3]);
		}
		ck_assert_uint_eq(atoms, sets[k].atoms);
		char want[64];
		snprintf(want, sizeof(want), "%s:%zu", sets[k].file, l.n - 1);
		ck_assert_str_eq(l.items[l.n - 1].id, want);
		mlip_structure_list_release(&l);
	}
}
END_TEST

/* Si strained -10 % along x: xx = +169 kBar compressive, i.e. about -0.105 eV/Å³. */
START_TEST(test_first_si_values)
{
	struct mlip_structure_list l;
	FILE *f = fopen("share/demo/si-train.json", "rb"); /* its first structure is mlearn's */
	ck_assert_ptr_nonnull(f);
	mlip_structure_list_init(&l);
	ck_assert_int_eq(mlip_mlearn_read(f, "si", &l, NULL), 0);
	fclose(f);
	const struct mlip_structure *s = &l.items[0];
	ck_assert_uint_eq(s->natoms, 63);
	ck_assert_int_eq(s->numbers[0], 14);
	ck_assert_double_eq(s->cell[0], 14.22366);
	ck_assert_double_eq(s->cell[1], 5.591921);
	ck_assert_double_eq(s->positions[1], 9.033552194395998);
	mlip_structure_list_release(&l);
}
END_TEST

static int read_text(const char *text, struct mlip_err *err, size_t *n)
{
	struct mlip_structure_list l;
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	mlip_structure_list_init(&l);
	int rc = mlip_mlearn_read(f, "bad.json", &l, err);
	*n = l.n;
	fclose(f);
	mlip_structure_list_release(&l);
	return rc;
}

#define SITE(el, x) "{\"species\":[{\"element\":\"" el "\",\"occu\":1}],\"xyz\":[" x ",0,0]}"
#define CELL "\"lattice\":{\"matrix\":[[5,0,0],[0,5,0],[0,0,5]]}"

START_TEST(test_broken)
{
	static const struct { const char *text, *msg; } cases[] = {
		{ "[{\"structure\":{" CELL ",\"sites\":[" SITE("Si", "0") "]}", "bad.json:1:" },
		{ "{}", "expected a JSON array" },
		{ "[{\"structure\":{" CELL ",\"sites\":[" SITE("Qq", "0") "]}}]",
		  "bad.json: structure 0: site 1: unknown element 'Qq'" },
		{ "[{\"structure\":{\"lattice\":{\"matrix\":[[5,0,0],[0,5,0]]},\"sites\":[" SITE("Si", "0") "]}}]",
		  "\"lattice.matrix\" is not a 3x3 array" },
		{ "[{\"structure\":{" CELL ",\"sites\":[" SITE("Si", "0") "]},\"outputs\":{\"energy\":\"x\"}}]",
		  "\"outputs.energy\" is not a number" },
		{ "[{\"structure\":{" CELL ",\"sites\":[" SITE("Si", "0") "," SITE("Si", "1") "]},"
		  "\"outputs\":{\"forces\":[[0,0,0]]}}]", "\"outputs.forces\" has 1 rows for 2 sites" },
		{ "[{\"structure\":{" CELL ",\"sites\":[" SITE("Si", "0") "]},\"outputs\":{\"virial_stress\":[1,2,3]}}]",
		  "\"outputs.virial_stress\" is not 6 numbers" },
		{ "[{\"structure\":{\"lattice\":{\"matrix\":[[5,0,0],[10,0,0],[0,0,5]]},\"sites\":[" SITE("Si", "0") "]}}]",
		  "cell is singular" },
		{ "[{\"structure\":{" CELL ",\"sites\":[{\"species\":[{\"element\":\"Si\",\"occu\":0.5}],\"xyz\":[0,0,0]}]}}]",
		  "occupancy is not 1" },
		{ "[{\"structure\":{" CELL ",\"sites\":[" SITE("Si", "0") "]}},{\"structure\":{" CELL ",\"sites\":[]}}]",
		  "bad.json: structure 1: \"sites\" is missing or empty" },
	};
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct mlip_err err = { 0 };
		size_t n;
		ck_assert_int_eq(read_text(cases[k].text, &err, &n), MLIP_EDATA);
		ck_assert_msg(strstr(err.msg, cases[k].msg) != NULL, "case %zu: '%s' lacks '%s'", k,
			      err.msg, cases[k].msg);
	}
	/* NaN is not JSON: jansson refuses it with a position */
	struct mlip_err err = { 0 };
	size_t n;
	ck_assert_int_eq(read_text("[{\"structure\":{" CELL ",\"sites\":[" SITE("Si", "NaN") "]}}]", &err, &n),
			 MLIP_EDATA);
	ck_assert_ptr_nonnull(strstr(err.msg, "invalid JSON"));
}
END_TEST

Suite *suite_mlearn(void)
{
	Suite *s = suite_create("mlearn");
	TCase *tc = tcase_create("convert");
	tcase_add_test(tc, test_stress_conversion);
	suite_add_tcase(s, tc);
	tc = tcase_create("read");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_real_files);
	tcase_add_test(tc, test_first_si_values);
	tcase_add_test(tc, test_broken);
	suite_add_tcase(s, tc);
	return s;
}
