/*
 * check_extxyz.c - the extended XYZ reader and writer.
 *
 * Round trips are compared bit for bit (memcmp of the doubles, so -0.0 and
 * the last ulp count). Files made by ASE 3.22 (tests/data/extxyz/ase, written
 * by tests/ase/ase_check.py write) are compared with the values ASE itself
 * reads back (reference.json). Every file in tests/data/broken/extxyz must
 * fail as its line in EXPECTED says. Paths are relative to the top of the
 * tree, where the tests run.
 */
#include <check.h>
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "extxyz.h"
#include "elements.h"
#include "testutil.h"

#define DATA_DIR "tests/data/extxyz"
#define BROKEN_DIR "tests/data/broken/extxyz"

static int same_bits(double a, double b)
{
	return memcmp(&a, &b, sizeof(a)) == 0;
}

static void assert_bits(const double *a, const double *b, size_t n, const char *what)
{
	for (size_t k = 0; k < n; k++)
		ck_assert_msg(same_bits(a[k], b[k]), "%s[%zu]: %.17g != %.17g", what, k, a[k], b[k]);
}

/* Everything but the id, bit for bit. */
static void assert_same(const struct mlip_structure *a, const struct mlip_structure *b)
{
	ck_assert_uint_eq(a->natoms, b->natoms);
	size_t n = a->natoms;
	ck_assert_int_eq(memcmp(a->numbers, b->numbers, n * sizeof(*a->numbers)), 0);
	assert_bits(a->positions, b->positions, 3 * n, "positions");
	assert_bits(a->cell, b->cell, 9, "cell");
	ck_assert_int_eq(memcmp(a->pbc, b->pbc, 3), 0);
	ck_assert_uint_eq(a->has, b->has);
	if (a->has & MLIP_HAS_ENERGY)
		assert_bits(&a->energy, &b->energy, 1, "energy");
	if (a->has & MLIP_HAS_FORCES)
		assert_bits(a->forces, b->forces, 3 * n, "forces");
	if (a->has & MLIP_HAS_STRESS)
		assert_bits(a->stress, b->stress, 9, "stress");
	ck_assert_int_eq(memcmp(a->fixed, b->fixed, n), 0);
	if (a->dataset || b->dataset) {
		ck_assert_ptr_nonnull(a->dataset);
		ck_assert_ptr_nonnull(b->dataset);
		ck_assert_str_eq(a->dataset, b->dataset);
	}
}

/* A value with a random exponent and all 53 bits of mantissa in use. */
static double rand_full(uint64_t *rng, int emin, int emax)
{
	double m = 1 + test_rand_unif(rng);
	int e = emin + (int)(test_rand_unif(rng) * (emax - emin + 1));
	return (test_rand_unif(rng) < 0.5 ? -1 : 1) * ldexp(m, e);
}

static void random_structure(struct mlip_structure *s, uint64_t *rng, size_t n, unsigned has)
{
	mlip_structure_init(s);
	ck_assert_int_eq(mlip_structure_alloc(s, n, NULL), 0);
	for (size_t i = 0; i < n; i++) {
		s->numbers[i] = 1 + (int)(test_rand_unif(rng) * MLIP_MAX_Z);
		for (int k = 0; k < 3; k++) {
			s->positions[3 * i + k] = 10 * test_rand_unif(rng) - 1;
			s->forces[3 * i + k] = rand_full(rng, -20, 4);
		}
	}
	s->has = has;
	s->energy = rand_full(rng, -5, 12);
	for (int k = 0; k < 9; k++)
		s->stress[k] = rand_full(rng, -30, 2); /* deliberately not symmetric */
}

static void triclinic_cell(struct mlip_structure *s, uint64_t *rng)
{
	for (int k = 0; k < 9; k++)
		s->cell[k] = (k % 4 == 0 ? 6.0 : 0.0) + 0.7 * (test_rand_unif(rng) - 0.5);
}

/* Write frames into memory, with the ref of each frame when given. */
static char *write_all(struct mlip_structure *s, struct mlip_structure **ref, size_t n,
		       size_t *len)
{
	char *text = NULL;
	FILE *f = open_memstream(&text, len);
	ck_assert_ptr_nonnull(f);
	for (size_t k = 0; k < n; k++) {
		struct mlip_err err;
		int rc = mlip_extxyz_write(f, &s[k], ref ? ref[k] : NULL, &err);
		ck_assert_msg(rc == 0, "write %zu: %s", k, err.msg);
	}
	ck_assert_int_eq(fclose(f), 0);
	return text;
}

static FILE *read_mem(const char *text, size_t len)
{
	FILE *f = fmemopen((void *)text, len, "r");
	ck_assert_ptr_nonnull(f);
	return f;
}

START_TEST(test_roundtrip)
{
	enum { N = 8 };
	struct mlip_structure s[N], t;
	uint64_t rng = 42;
	struct mlip_err err;

	/* 0: a molecule, no cell, energy and forces */
	random_structure(&s[0], &rng, 7, MLIP_HAS_ENERGY | MLIP_HAS_FORCES);
	/* 1: periodic triclinic cell, every label, a dataset */
	random_structure(&s[1], &rng, 16, MLIP_HAS_ENERGY | MLIP_HAS_FORCES | MLIP_HAS_STRESS);
	triclinic_cell(&s[1], &rng);
	s[1].pbc[0] = s[1].pbc[1] = s[1].pbc[2] = 1;
	ck_assert_int_eq(mlip_structure_set_dataset(&s[1], "si bulk", NULL), 0);
	/* 2: mixed pbc, fixed atoms, no labels */
	random_structure(&s[2], &rng, 9, 0);
	triclinic_cell(&s[2], &rng);
	s[2].pbc[0] = s[2].pbc[2] = 1;
	s[2].fixed[0] = s[2].fixed[4] = s[2].fixed[8] = 1;
	/* 3: a box that is not periodic, stress only */
	random_structure(&s[3], &rng, 3, MLIP_HAS_STRESS);
	triclinic_cell(&s[3], &rng);
	/* 4: awkward values and a dataset name that needs escaping */
	random_structure(&s[4], &rng, 4, MLIP_HAS_ENERGY | MLIP_HAS_FORCES | MLIP_HAS_STRESS);
	s[4].positions[0] = -0.0;
	s[4].positions[1] = 5e-324;
	s[4].positions[2] = 1e300;
	s[4].positions[3] = -2.2250738585072014e-308;
	s[4].positions[4] = 3.0;
	s[4].positions[5] = 0.1;
	s[4].energy = -0.0;
	s[4].forces[0] = 1e17;
	s[4].forces[1] = -123456789012345678.0;
	s[4].stress[0] = 4.9406564584124654e-324;
	ck_assert_int_eq(mlip_structure_set_dataset(&s[4], "a \"quoted\" {set} [x] 'y' a=b\\c", NULL), 0);
	/* 5: an empty dataset name, every atom fixed */
	random_structure(&s[5], &rng, 2, MLIP_HAS_ENERGY);
	memset(s[5].fixed, 1, 2);
	ck_assert_int_eq(mlip_structure_set_dataset(&s[5], "", NULL), 0);
	/* 6: integral energy (ASE would read "-3" as an int) */
	random_structure(&s[6], &rng, 1, MLIP_HAS_ENERGY);
	s[6].energy = -3;
	/* 7: one periodic axis */
	random_structure(&s[7], &rng, 5, MLIP_HAS_FORCES);
	triclinic_cell(&s[7], &rng);
	s[7].pbc[1] = 1;

	size_t len;
	char *text = write_all(s, NULL, N, &len);
	FILE *f = read_mem(text, len);
	struct mlip_extxyz_reader r;
	mlip_extxyz_reader_init(&r, f, "mem.xyz");
	mlip_structure_init(&t);
	for (size_t k = 0; k < N; k++) {
		int rc = mlip_extxyz_read_next(&r, &t, &err);
		ck_assert_msg(rc == 1, "frame %zu: %d %s", k, rc, rc < 0 ? err.msg : "");
		assert_same(&s[k], &t);
		char id[32];
		snprintf(id, sizeof(id), "mem.xyz:%zu", k);
		ck_assert_str_eq(t.id, id);
	}
	ck_assert_int_eq(mlip_extxyz_read_next(&r, &t, &err), 0);
	ck_assert_int_eq(mlip_extxyz_read_next(&r, &t, &err), 0);
	mlip_extxyz_reader_release(&r);
	fclose(f);

	/* What is written depends on what is present. */
	char *f0 = text, *f1 = strstr(text, "\n16\n");
	ck_assert_ptr_nonnull(f1);
	ck_assert(strstr(f0, "Lattice") > f1);
	ck_assert(strstr(f0, "stress=") > f1);
	ck_assert(strstr(f0, "move_mask") > f1);
	ck_assert_ptr_nonnull(strstr(f0, "pbc=\"F F F\""));
	ck_assert(strstr(f0, "pbc=\"F F F\"") < f1);
	ck_assert_ptr_nonnull(strstr(text, "pbc=\"T F T\""));
	ck_assert_ptr_nonnull(strstr(text, "energy=-3.0 "));
	ck_assert_ptr_nonnull(strstr(text, "energy=-0.0 "));

	/* Writing what was read gives the same text. */
	size_t len2;
	struct mlip_structure back[N];
	f = read_mem(text, len);
	mlip_extxyz_reader_init(&r, f, "mem.xyz");
	for (size_t k = 0; k < N; k++) {
		mlip_structure_init(&back[k]);
		ck_assert_int_eq(mlip_extxyz_read_next(&r, &back[k], &err), 1);
	}
	mlip_extxyz_reader_release(&r);
	fclose(f);
	char *text2 = write_all(back, NULL, N, &len2);
	ck_assert_uint_eq(len, len2);
	ck_assert_int_eq(memcmp(text, text2, len), 0);

	for (size_t k = 0; k < N; k++) {
		mlip_structure_release(&s[k]);
		mlip_structure_release(&back[k]);
	}
	mlip_structure_release(&t);
	free(text);
	free(text2);
}
END_TEST

/* Replace every "ref_" by nothing, in place. */
static size_t strip_ref(char *text, size_t len)
{
	size_t w = 0;
	for (size_t k = 0; k < len; k++) {
		if (k + 4 <= len && !memcmp(text + k, "ref_", 4)) {
			k += 3;
			continue;
		}
		text[w++] = text[k];
	}
	text[w] = '\0';
	return w;
}

/* Labels under other names (--energy-key and friends), and the ones left unread. */
START_TEST(test_label_keys)
{
	static const char text[] =
		"2\n"
		"Lattice=\"4 0 0 0 5 0 0 0 2\" REF_energy=-7.5 energy_sigma=0.001 virial=\"8 0 0 0 4 0 0 0 -2\" "
		"Properties=species:S:1:pos:R:3:REF_forces:R:3:force_weight:R:3\n"
		"Si 0 0 0 1 2 3 1 1 1\n"
		"Si 1 1 1 -1 -2 -3 1 1 1\n";
	struct mlip_extxyz_reader r;
	struct mlip_structure t;
	struct mlip_err err;
	mlip_structure_init(&t);
	/* without keys: no label read; REF_energy, virial, REF_forces noted, the weights not */
	FILE *f = read_mem(text, sizeof(text) - 1);
	mlip_extxyz_reader_init(&r, f, "k.xyz");
	ck_assert_int_eq(mlip_extxyz_read_next(&r, &t, &err), 1);
	ck_assert_uint_eq(t.has, 0);
	ck_assert_uint_eq(r.unused.n, 3);
	ck_assert_str_eq(r.unused.item[0].name, "REF_energy");
	ck_assert_str_eq(r.unused.item[1].name, "virial");
	ck_assert_str_eq(r.unused.item[2].name, "REF_forces");
	ck_assert_int_eq(r.unused.item[2].column, 1);
	ck_assert_uint_eq(r.unused.item[0].frames, 1);
	mlip_extxyz_reader_release(&r);
	fclose(f);
	/* with them: energy, forces, and stress = -virial / volume (V = 40) */
	struct mlip_label_keys keys = { .energy = "REF_energy", .forces = "REF_forces", .virial = "virial" };
	f = read_mem(text, sizeof(text) - 1);
	mlip_extxyz_reader_init(&r, f, "k.xyz");
	mlip_extxyz_reader_set_keys(&r, &keys);
	ck_assert_msg(mlip_extxyz_read_next(&r, &t, &err) == 1, "%s", err.msg);
	ck_assert_uint_eq(t.has, MLIP_HAS_ENERGY | MLIP_HAS_FORCES | MLIP_HAS_STRESS);
	ck_assert_double_eq(t.energy, -7.5);
	ck_assert_double_eq(t.forces[5], -3);
	ck_assert_double_eq(t.stress[0], -0.2);
	ck_assert_double_eq(t.stress[4], -0.1);
	ck_assert_double_eq(t.stress[8], 0.05);
	ck_assert_uint_eq(r.unused.n, 0);
	mlip_extxyz_reader_release(&r);
	fclose(f);
	mlip_structure_release(&t);
}
END_TEST

START_TEST(test_ref_labels)
{
	struct mlip_structure s[2], ref[2], t;
	struct mlip_structure *refs[2] = { &ref[0], &ref[1] };
	struct mlip_err err;
	uint64_t rng = 7;
	/* Frame 0: predictions without labels of their own; frame 1 with. */
	random_structure(&s[0], &rng, 6, 0);
	triclinic_cell(&s[0], &rng);
	memset(s[0].pbc, 1, 3);
	random_structure(&s[1], &rng, 3, MLIP_HAS_ENERGY | MLIP_HAS_FORCES | MLIP_HAS_STRESS);
	for (int k = 0; k < 2; k++) {
		mlip_structure_init(&ref[k]);
		ck_assert_int_eq(mlip_structure_copy(&ref[k], &s[k], NULL), 0);
		ref[k].has = MLIP_HAS_ENERGY | MLIP_HAS_FORCES | MLIP_HAS_STRESS;
		ref[k].energy = rand_full(&rng, -3, 8);
		for (size_t i = 0; i < 3 * s[k].natoms; i++)
			ref[k].forces[i] = rand_full(&rng, -10, 3);
		for (int c = 0; c < 9; c++)
			ref[k].stress[c] = rand_full(&rng, -10, 0);
	}
	size_t len;
	char *text = write_all(s, refs, 2, &len);
	ck_assert_ptr_nonnull(strstr(text, "ref_energy="));
	ck_assert_ptr_nonnull(strstr(text, "ref_stress=\""));
	ck_assert_ptr_nonnull(strstr(text, ":ref_forces:R:3"));

	/* Our reader ignores the ref_ keys and column. */
	struct mlip_extxyz_reader r;
	FILE *f = read_mem(text, len);
	mlip_extxyz_reader_init(&r, f, "p.xyz");
	mlip_structure_init(&t);
	for (int k = 0; k < 2; k++) {
		ck_assert_int_eq(mlip_extxyz_read_next(&r, &t, &err), 1);
		assert_same(&s[k], &t);
	}
	mlip_extxyz_reader_release(&r);
	fclose(f);

	/* Frame 0 with "ref_" removed reads as the reference labels, exactly. */
	char *end0 = strstr(text, "\n3\n");
	ck_assert_ptr_nonnull(end0);
	len = strip_ref(text, (size_t)(end0 + 1 - text));
	f = read_mem(text, len);
	mlip_extxyz_reader_init(&r, f, "p.xyz");
	ck_assert_int_eq(mlip_extxyz_read_next(&r, &t, &err), 1);
	assert_same(&ref[0], &t);
	mlip_extxyz_reader_release(&r);
	fclose(f);

	/* The reference must have the same atoms. */
	FILE *null = fopen("/dev/null", "w");
	ck_assert_int_eq(mlip_extxyz_write(null, &s[0], &ref[1], &err), MLIP_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "reference has 3 atoms"));
	fclose(null);

	free(text);
	for (int k = 0; k < 2; k++) {
		mlip_structure_release(&s[k]);
		mlip_structure_release(&ref[k]);
	}
	mlip_structure_release(&t);
}
END_TEST

START_TEST(test_writer_errors)
{
	struct mlip_structure s;
	struct mlip_err err;
	uint64_t rng = 3;
	random_structure(&s, &rng, 2, 0);
	FILE *null = fopen("/dev/null", "w");
	s.numbers[1] = 0;
	ck_assert_int_eq(mlip_extxyz_write(null, &s, NULL, &err), MLIP_EINVAL);
	ck_assert_str_eq(err.msg, "atom 2: atomic number 0 is not an element");
	s.numbers[1] = 1;
	ck_assert_int_eq(mlip_structure_set_dataset(&s, "two\nlines", NULL), 0);
	ck_assert_int_eq(mlip_extxyz_write(null, &s, NULL, &err), MLIP_EINVAL);
	ck_assert_str_eq(err.msg, "dataset name contains a line break");
	fclose(null);
	ck_assert_int_eq(mlip_structure_set_dataset(&s, NULL, NULL), 0);
	FILE *ro = fopen("/dev/null", "r"); /* writes fail at once */
	ck_assert_int_eq(mlip_extxyz_write(ro, &s, NULL, &err), MLIP_EIO);
	fclose(ro);
	mlip_structure_release(&s);
}
END_TEST

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	char *text = NULL;
	size_t cap = 0, n = 0, got;
	do {
		if (cap - n < 4096) {
			cap = cap ? 2 * cap : 8192;
			text = realloc(text, cap);
			ck_assert_ptr_nonnull(text);
		}
		got = fread(text + n, 1, cap - n - 1, f);
		n += got;
	} while (got);
	fclose(f);
	text[n] = '\0';
	*len = n;
	return text;
}

static void read_frames(FILE *f, const char *path, struct mlip_structure *out, size_t n)
{
	struct mlip_extxyz_reader r;
	struct mlip_err err;
	mlip_extxyz_reader_init(&r, f, path);
	for (size_t k = 0; k < n; k++) {
		mlip_structure_init(&out[k]);
		int rc = mlip_extxyz_read_next(&r, &out[k], &err);
		ck_assert_msg(rc == 1, "%s frame %zu: %d %s", path, k, rc, rc < 0 ? err.msg : "");
	}
	struct mlip_structure extra;
	mlip_structure_init(&extra);
	ck_assert_int_eq(mlip_extxyz_read_next(&r, &extra, &err), 0);
	mlip_extxyz_reader_release(&r);
}

static void assert_vec(const double *got, const double *want, size_t n)
{
	for (size_t k = 0; k < n; k++)
		ck_assert_msg(same_bits(got[k], want[k]), "[%zu]: %.17g != %.17g", k, got[k], want[k]);
}

START_TEST(test_handwritten)
{
	enum { N = 5 };
	struct mlip_structure s[N], c[N];
	const char *path = DATA_DIR "/hand.xyz";
	FILE *f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	read_frames(f, path, s, N);
	fclose(f);

	/* 0: plain XYZ with a free-text comment */
	ck_assert_uint_eq(s[0].natoms, 3);
	ck_assert_int_eq(s[0].numbers[0], 8);
	ck_assert_int_eq(s[0].numbers[2], 1);
	assert_vec(s[0].positions + 3, (double[]){ 0.0, 0.763239, -0.477047 }, 3);
	for (int k = 0; k < 9; k++)
		ck_assert(s[0].cell[k] == 0);
	ck_assert(!s[0].pbc[0] && !s[0].pbc[1] && !s[0].pbc[2]);
	ck_assert_uint_eq(s[0].has, 0);
	ck_assert_ptr_null(s[0].dataset);
	ck_assert_str_eq(s[0].id, DATA_DIR "/hand.xyz:0");

	/* 1: Lattice without pbc, lower/upper case symbols, Voigt stress,
	 * extra columns of every type (one holds nan), extra keys */
	ck_assert_int_eq(s[1].numbers[0], 14);
	ck_assert_int_eq(s[1].numbers[1], 14);
	ck_assert(s[1].pbc[0] && s[1].pbc[1] && s[1].pbc[2]);
	assert_vec(s[1].cell, (double[]){ 5.43, 0, 0, 0, 5.43, 0, 0, 0, 5.43 }, 9);
	assert_vec(s[1].positions + 3, (double[]){ 1.3575, 1.3575, 1.3575 }, 3);
	ck_assert_uint_eq(s[1].has, MLIP_HAS_ENERGY | MLIP_HAS_STRESS);
	ck_assert(s[1].energy == -10.5);
	assert_vec(s[1].stress, (double[]){ 1, 6, 5, 6, 2, 4, 5, 4, 3 }, 9);

	/* 2: spaces around '=', {...}, pbc T F T, free_energy, 9 stress values
	 * column-major as ASE, an old-style force column, a fixed column,
	 * escapes in the dataset, tab separators, trailing blanks */
	ck_assert_uint_eq(s[2].natoms, 4);
	ck_assert(s[2].pbc[0] && !s[2].pbc[1] && s[2].pbc[2]);
	assert_vec(s[2].cell, (double[]){ 4, 0, 0, 0.5, 5, 0, 0.1, 0.2, 6 }, 9);
	ck_assert_uint_eq(s[2].has, MLIP_HAS_ENERGY | MLIP_HAS_FORCES | MLIP_HAS_STRESS);
	ck_assert(s[2].energy == -7.25);
	assert_vec(s[2].stress, (double[]){ 1, 4, 7, 2, 5, 8, 3, 6, 9 }, 9);
	assert_vec(s[2].forces, (double[]){ 0.1, 0.2, 0.3, -0.1, -0.2, -0.3 }, 6);
	assert_vec(s[2].positions + 6, (double[]){ 2, 2, 2, 3, 3, 3 }, 6);
	ck_assert_int_eq(memcmp(s[2].fixed, "\1\0\1\0", 4), 0);
	ck_assert_str_eq(s[2].dataset, "my \"quoted\" set\\1");

	/* 3: commas in Lattice, move_mask (F = fixed), energy wins over
	 * free_energy, forces wins over force, extra fields at the end */
	ck_assert_int_eq(s[3].numbers[0], 29);
	ck_assert(s[3].energy == -2.5);
	ck_assert_uint_eq(s[3].has, MLIP_HAS_ENERGY | MLIP_HAS_FORCES);
	assert_vec(s[3].forces, (double[]){ 0.5, 0.25, 0.125, -0.5, -0.25, -0.125 }, 6);
	ck_assert_int_eq(memcmp(s[3].fixed, "\1\0", 2), 0);
	assert_vec(s[3].cell, (double[]){ 3, 0, 0, 0, 3, 0, 0, 0, 3 }, 9);

	/* 4: a Z column instead of species, pbc=F, then blank lines to the end */
	ck_assert_int_eq(s[4].numbers[0], 8);
	ck_assert_int_eq(s[4].numbers[1], 1);
	ck_assert(!s[4].pbc[0] && !s[4].pbc[1] && !s[4].pbc[2]);
	ck_assert_str_eq(s[4].id, DATA_DIR "/hand.xyz:4");

	/* The same file with CRLF line ends reads the same. */
	size_t len;
	char *text = slurp(path, &len);
	char *crlf = malloc(2 * len + 1);
	size_t w = 0;
	for (size_t k = 0; k < len; k++) {
		if (text[k] == '\n')
			crlf[w++] = '\r';
		crlf[w++] = text[k];
	}
	f = read_mem(crlf, w);
	read_frames(f, "crlf.xyz", c, N);
	fclose(f);
	/* All at once, into a list. */
	struct mlip_structure_list l;
	struct mlip_err err;
	mlip_structure_list_init(&l);
	f = read_mem(text, len);
	ck_assert_int_eq(mlip_extxyz_read(f, "all.xyz", &l, &err), 0);
	fclose(f);
	ck_assert_uint_eq(l.n, N);
	ck_assert_str_eq(l.items[3].id, "all.xyz:3");

	for (int k = 0; k < N; k++) {
		assert_same(&s[k], &c[k]);
		assert_same(&s[k], &l.items[k]);
		mlip_structure_release(&s[k]);
		mlip_structure_release(&c[k]);
	}
	mlip_structure_list_release(&l);
	free(text);
	free(crlf);

	/* An error keeps the frames before it. */
	path = BROKEN_DIR "/truncated_second.xyz";
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(mlip_extxyz_read(f, path, &l, &err), MLIP_EDATA);
	fclose(f);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_ptr_nonnull(strstr(err.msg, "truncated_second.xyz:5: truncated frame"));
	mlip_structure_list_release(&l);
}
END_TEST

START_TEST(test_empty_input)
{
	static const char *inputs[] = { "", "\n", "  \n\t\n\r\n", "\r\n\r\n" };
	for (size_t k = 0; k < sizeof(inputs) / sizeof(*inputs); k++) {
		struct mlip_extxyz_reader r;
		struct mlip_structure s;
		struct mlip_err err;
		size_t n = strlen(inputs[k]);
		FILE *f = n ? fmemopen((void *)inputs[k], n, "r") : fopen("/dev/null", "r");
		mlip_extxyz_reader_init(&r, f, "e.xyz");
		mlip_structure_init(&s);
		ck_assert_int_eq(mlip_extxyz_read_next(&r, &s, &err), 0);
		mlip_extxyz_reader_release(&r);
		fclose(f);
	}
}
END_TEST

static const double *json_doubles(json_t *arr, double *out, size_t n)
{
	ck_assert(json_is_array(arr));
	ck_assert_uint_eq(json_array_size(arr), n);
	for (size_t k = 0; k < n; k++)
		out[k] = json_number_value(json_array_get(arr, k));
	return out;
}

static void json_matrix(json_t *arr, double *out, size_t rows)
{
	ck_assert_uint_eq(json_array_size(arr), rows);
	for (size_t i = 0; i < rows; i++)
		json_doubles(json_array_get(arr, i), out + 3 * i, 3);
}

/* Frames written by ASE read as ASE reads them, bit for bit, and survive
 * our own write and read unchanged. */
START_TEST(test_ase_samples)
{
	json_error_t jerr;
	json_t *root = json_load_file(DATA_DIR "/ase/reference.json", 0, &jerr);
	ck_assert_msg(root != NULL, "reference.json: %s", jerr.text);
	json_t *frames = json_object_get(root, "frames");
	ck_assert_uint_ge(json_array_size(frames), 6);
	int saw_fixed = 0, saw_stress = 0, saw_dataset = 0, saw_molecule = 0;

	for (size_t fr = 0; fr < json_array_size(frames); fr++) {
		json_t *want = json_array_get(frames, fr);
		char path[256];
		snprintf(path, sizeof(path), DATA_DIR "/ase/%s",
			 json_string_value(json_object_get(want, "file")));
		size_t index = (size_t)json_integer_value(json_object_get(want, "index"));

		struct mlip_extxyz_reader r;
		struct mlip_structure s, t;
		struct mlip_err err;
		FILE *f = fopen(path, "r");
		ck_assert_msg(f != NULL, "%s", path);
		mlip_extxyz_reader_init(&r, f, path);
		mlip_structure_init(&s);
		for (size_t k = 0; k <= index; k++) {
			int rc = mlip_extxyz_read_next(&r, &s, &err);
			ck_assert_msg(rc == 1, "%s: %d %s", path, rc, rc < 0 ? err.msg : "");
		}
		mlip_extxyz_reader_release(&r);
		fclose(f);

		json_t *numbers = json_object_get(want, "numbers");
		size_t n = json_array_size(numbers);
		ck_assert_uint_eq(s.natoms, n);
		for (size_t i = 0; i < n; i++)
			ck_assert_int_eq(s.numbers[i], json_integer_value(json_array_get(numbers, i)));
		double *buf = malloc(3 * n * sizeof(double)), m[9], v[6];
		json_matrix(json_object_get(want, "positions"), buf, n);
		assert_bits(s.positions, buf, 3 * n, "positions");
		json_matrix(json_object_get(want, "cell"), m, 3);
		assert_bits(s.cell, m, 9, "cell");
		json_t *pbc = json_object_get(want, "pbc");
		for (int k = 0; k < 3; k++)
			ck_assert_int_eq(s.pbc[k], json_is_true(json_array_get(pbc, k)));

		json_t *e = json_object_get(want, "energy");
		ck_assert_int_eq(!!(s.has & MLIP_HAS_ENERGY), !json_is_null(e));
		if (!json_is_null(e))
			assert_bits(&s.energy, (double[]){ json_number_value(e) }, 1, "energy");
		json_t *fo = json_object_get(want, "forces");
		ck_assert_int_eq(!!(s.has & MLIP_HAS_FORCES), !json_is_null(fo));
		if (!json_is_null(fo)) {
			json_matrix(fo, buf, n);
			assert_bits(s.forces, buf, 3 * n, "forces");
		}
		json_t *st = json_object_get(want, "stress");
		ck_assert_int_eq(!!(s.has & MLIP_HAS_STRESS), !json_is_null(st));
		if (!json_is_null(st)) {
			/* ASE's Voigt xx yy zz yz xz xy */
			json_doubles(st, v, 6);
			double full[9] = { v[0], v[5], v[4], v[5], v[1], v[3], v[4], v[3], v[2] };
			assert_bits(s.stress, full, 9, "stress");
			saw_stress = 1;
		}
		json_t *fixed = json_object_get(want, "fixed");
		size_t nfixed = 0;
		for (size_t i = 0; i < n; i++)
			nfixed += s.fixed[i];
		ck_assert_uint_eq(nfixed, json_array_size(fixed));
		for (size_t k = 0; k < json_array_size(fixed); k++)
			ck_assert(s.fixed[json_integer_value(json_array_get(fixed, k))]);
		saw_fixed |= nfixed > 0;
		json_t *ds = json_object_get(want, "dataset");
		if (json_is_null(ds)) {
			ck_assert_ptr_null(s.dataset);
		} else {
			ck_assert_str_eq(s.dataset, json_string_value(ds));
			saw_dataset = 1;
		}
		saw_molecule |= !s.pbc[0] && !s.pbc[1] && !s.pbc[2];

		/* ours -> ours */
		size_t len;
		char *text = write_all(&s, NULL, 1, &len);
		f = read_mem(text, len);
		mlip_structure_init(&t);
		read_frames(f, "again.xyz", &t, 1);
		fclose(f);
		assert_same(&s, &t);
		free(text);
		free(buf);
		mlip_structure_release(&s);
		mlip_structure_release(&t);
	}
	ck_assert(saw_fixed && saw_stress && saw_dataset && saw_molecule);
	json_decref(root);
}
END_TEST

static int exit_status(int rc)
{
	switch (rc) {
	case MLIP_EINVAL: return 2;
	case MLIP_EDATA: return 3;
	case MLIP_EIO:
	case MLIP_ENOMEM: return 4;
	case MLIP_EPLUGIN: return 5;
	case MLIP_ERUN: return 1;
	}
	return rc == 0 ? 0 : -1;
}

START_TEST(test_broken)
{
	FILE *ex = fopen(BROKEN_DIR "/EXPECTED", "r");
	ck_assert_msg(ex != NULL, "cannot open " BROKEN_DIR "/EXPECTED (run from the top of the tree)");
	char line[1024];
	char listed[256][64];
	size_t nlisted = 0, lineno = 0;
	while (fgets(line, sizeof(line), ex)) {
		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if (!line[0])
			continue;
		char *name = line, *tab1 = strchr(line, '\t');
		ck_assert_msg(tab1 != NULL, "EXPECTED:%zu: no tab", lineno);
		*tab1 = '\0';
		char *status = tab1 + 1, *tab2 = strchr(status, '\t');
		ck_assert_msg(tab2 != NULL, "EXPECTED:%zu: no second tab", lineno);
		*tab2 = '\0';
		const char *want = tab2 + 1;
		ck_assert_uint_lt(nlisted, 256);
		ck_assert_msg(strlen(name) < sizeof(listed[0]), "EXPECTED:%zu: long name", lineno);
		memcpy(listed[nlisted++], name, strlen(name) + 1);

		char path[1100];
		snprintf(path, sizeof(path), BROKEN_DIR "/%s", name);
		FILE *f = fopen(path, "r");
		ck_assert_msg(f != NULL, "cannot open %s", path);
		struct mlip_extxyz_reader r;
		struct mlip_structure s;
		struct mlip_err err;
		mlip_extxyz_reader_init(&r, f, path);
		mlip_structure_init(&s);
		int rc;
		size_t frames = 0;
		while ((rc = mlip_extxyz_read_next(&r, &s, &err)) == 1)
			frames++;
		mlip_extxyz_reader_release(&r);
		mlip_structure_release(&s);
		fclose(f);
		ck_assert_msg(rc < 0, "%s: read %zu frames without an error", name, frames);
		ck_assert_msg(exit_status(rc) == atoi(status), "%s: status %d (%s), expected exit %s",
			      name, rc, err.msg, status);
		ck_assert_msg(strstr(err.msg, want) != NULL, "%s: message '%s' lacks '%s'", name,
			      err.msg, want);
		/* "PATH:LINE: what" */
		size_t plen = strlen(path);
		ck_assert_msg(strncmp(err.msg, path, plen) == 0 && err.msg[plen] == ':',
			      "%s: message '%s' does not start with the path", name, err.msg);
		const char *p = err.msg + plen + 1;
		ck_assert_msg(*p >= '1' && *p <= '9', "%s: no line number in '%s'", name, err.msg);
		while (*p >= '0' && *p <= '9')
			p++;
		ck_assert_msg(p[0] == ':' && p[1] == ' ', "%s: '%s' is not PATH:LINE: ...", name, err.msg);
		ck_assert_msg(!strchr(err.msg, '\r') && !strchr(err.msg, '\n'), "%s: line end in message",
			      name);
	}
	fclose(ex);
	ck_assert_uint_ge(nlisted, 30);

	/* Every file in the directory has its line in EXPECTED. */
	DIR *d = opendir(BROKEN_DIR);
	ck_assert_ptr_nonnull(d);
	struct dirent *de;
	size_t nfiles = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || !strcmp(de->d_name, "EXPECTED"))
			continue;
		int found = 0;
		for (size_t k = 0; k < nlisted; k++)
			found |= !strcmp(listed[k], de->d_name);
		ck_assert_msg(found, "%s/%s is not in EXPECTED", BROKEN_DIR, de->d_name);
		nfiles++;
	}
	closedir(d);
	ck_assert_uint_eq(nfiles, nlisted);
}
END_TEST

/* Errors that need no file: reading stops at the first one, and the message
 * carries the line of the frame where it is, however many frames precede. */
START_TEST(test_error_lines)
{
	size_t len;
	char *text = NULL;
	FILE *f = open_memstream(&text, &len);
	for (int k = 0; k < 50; k++)
		fputs("2\nProperties=species:S:1:pos:R:3\nH 0 0 0\nH 0.7 0 0\n", f);
	fputs("1\nenergy=1e999\nH 0 0 0\n", f);
	fclose(f);
	f = read_mem(text, len);
	struct mlip_extxyz_reader r;
	struct mlip_structure s;
	struct mlip_err err;
	mlip_extxyz_reader_init(&r, f, "many.xyz");
	mlip_structure_init(&s);
	int rc, n = 0;
	while ((rc = mlip_extxyz_read_next(&r, &s, &err)) == 1)
		n++;
	ck_assert_int_eq(n, 50);
	ck_assert_int_eq(rc, MLIP_EDATA);
	ck_assert_str_eq(err.msg, "many.xyz:202: malformed energy: value 1 is not finite");
	mlip_extxyz_reader_release(&r);
	fclose(f);
	free(text);
}
END_TEST

Suite *suite_extxyz(void)
{
	Suite *s = suite_create("extxyz");
	TCase *tc = tcase_create("roundtrip");
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_ref_labels);
	tcase_add_test(tc, test_label_keys);
	tcase_add_test(tc, test_writer_errors);
	suite_add_tcase(s, tc);
	tc = tcase_create("read");
	tcase_add_test(tc, test_handwritten);
	tcase_add_test(tc, test_empty_input);
	tcase_add_test(tc, test_ase_samples);
	suite_add_tcase(s, tc);
	tc = tcase_create("errors");
	tcase_add_test(tc, test_broken);
	tcase_add_test(tc, test_error_lines);
	suite_add_tcase(s, tc);
	return s;
}
