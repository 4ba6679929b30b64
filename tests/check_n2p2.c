/*
 * check_n2p2.c - n2p2's input.data (reader, writer, format detection) and
 * the export of a potential to an n2p2 directory.
 *
 * input.data: round trips are compared bit for bit; every broken input is
 * refused with the message and line number given here. The export is
 * checked against the model it came from by reading the files back: each
 * symfunction_short line is matched to the model function with the same
 * parameters, and that function's scaling and first-layer weights must sit
 * at the line's position in scaling.data and weights.ZZZ.data; the lines
 * must be in n2p2's sort order; the deeper layers, biases, head row,
 * normalisation and element energies must be the model's, and the
 * refusals must name their reason. (That n2p2 computes the same energies
 * is tests/cli/t0720-n2p2.sh, with the independent tests/n2p2/nnp_eval.py.)
 */
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "config.h"
#include "elements.h"
#include "log.h"
#include "n2p2.h"
#include "n2p2data.h"
#include "potential.h"
#include "structio.h"
#include "testutil.h"

static int same_bits(double a, double b)
{
	return memcmp(&a, &b, sizeof(a)) == 0;
}

static void assert_bits(const double *a, const double *b, size_t n, const char *what)
{
	for (size_t k = 0; k < n; k++)
		ck_assert_msg(same_bits(a[k], b[k]), "%s[%zu]: %.17g != %.17g", what, k, a[k], b[k]);
}

/* A value with a random exponent and all 53 bits of mantissa in use. */
static double rand_full(uint64_t *rng, int emin, int emax)
{
	double m = 1 + test_rand_unif(rng);
	int e = emin + (int)(test_rand_unif(rng) * (emax - emin + 1));
	return (test_rand_unif(rng) < 0.5 ? -1 : 1) * ldexp(m, e);
}

static FILE *read_mem(const char *text)
{
	FILE *f = fmemopen((void *)text, strlen(text), "r");
	ck_assert_ptr_nonnull(f);
	return f;
}

/* ---- input.data ------------------------------------------------------------ */

static void random_structure(struct mlip_structure *s, uint64_t *rng, size_t n, int periodic,
			     unsigned has)
{
	mlip_structure_init(s);
	ck_assert_int_eq(mlip_structure_alloc(s, n, NULL), 0);
	for (size_t i = 0; i < n; i++) {
		s->numbers[i] = 1 + (int)(test_rand_unif(rng) * MLIP_MAX_Z);
		for (int k = 0; k < 3; k++) {
			s->positions[3 * i + k] = 4 * (double)i + k + test_rand_unif(rng) - 0.5;
			s->forces[3 * i + k] = rand_full(rng, -20, 4);
		}
	}
	if (periodic) {
		for (int k = 0; k < 9; k++)
			s->cell[k] = rand_full(rng, -3, 1);
		s->cell[0] = 4.0 * (double)n + 7 + test_rand_unif(rng);
		s->cell[4] = 9 + test_rand_unif(rng);
		s->cell[8] = 11 + test_rand_unif(rng);
		s->pbc[0] = s->pbc[1] = s->pbc[2] = 1;
	}
	s->has = has;
	s->energy = rand_full(rng, -5, 12);
}

START_TEST(test_roundtrip)
{
	uint64_t rng = 2024;
	struct mlip_structure s[6];
	static const unsigned has[6] = {
		MLIP_HAS_ENERGY | MLIP_HAS_FORCES, MLIP_HAS_FORCES, MLIP_HAS_ENERGY | MLIP_HAS_FORCES,
		MLIP_HAS_FORCES, MLIP_HAS_ENERGY | MLIP_HAS_FORCES, MLIP_HAS_ENERGY | MLIP_HAS_FORCES,
	};
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	for (int k = 0; k < 6; k++) {
		random_structure(&s[k], &rng, 1 + 3 * (size_t)k, k % 2 == 0, has[k]);
		if (k == 5) /* signed zeros and an integer-looking value survive */
			s[k].positions[0] = -0.0, s[k].forces[1] = 3;
		ck_assert_int_eq(mlip_n2p2data_write(f, &s[k], NULL), 0);
	}
	fclose(f);
	struct mlip_structure_list l;
	struct mlip_err err = { 0 };
	mlip_structure_list_init(&l);
	f = read_mem(text);
	ck_assert_msg(mlip_n2p2data_read(f, "rt.data", &l, &err) == 0, "%s", err.msg);
	fclose(f);
	ck_assert_uint_eq(l.n, 6);
	for (int k = 0; k < 6; k++) {
		const struct mlip_structure *a = &s[k], *b = &l.items[k];
		ck_assert_uint_eq(a->natoms, b->natoms);
		ck_assert_int_eq(memcmp(a->numbers, b->numbers, a->natoms * sizeof(*a->numbers)), 0);
		assert_bits(a->positions, b->positions, 3 * a->natoms, "positions");
		assert_bits(a->cell, b->cell, 9, "cell");
		ck_assert_int_eq(memcmp(a->pbc, b->pbc, 3), 0);
		ck_assert_uint_eq(a->has, b->has);
		if (a->has & MLIP_HAS_ENERGY)
			assert_bits(&a->energy, &b->energy, 1, "energy");
		assert_bits(a->forces, b->forces, 3 * a->natoms, "forces");
		char id[32];
		snprintf(id, sizeof(id), "rt.data:%d", k);
		ck_assert_str_eq(b->id, id);
		ck_assert_ptr_null(b->dataset);
		mlip_structure_release(&s[k]);
	}
	mlip_structure_list_release(&l);
	free(text);
}
END_TEST

/* What n2p2 itself writes (Structure::writeToFile), with blank lines and CRLF. */
START_TEST(test_n2p2_written)
{
	static const char text[] =
		"begin\n"
		"comment   a water molecule  \n"
		"atom   0.0000000000000000E+00   0.0000000000000000E+00   1.1000000000000000E-01  O "
		"-8.0000000000000000E-01   0.0000000000000000E+00   1.0E-01 -2.5E-01 0.0E+00\n"
		"atom 1.43 0 -0.99 H 0.4 0 -1e-01 0 1.25E-1\r\n"
		"atom -1.43 0 -0.99 H 0.4 0 0 0.25 -0.125\n"
		"energy  -7.6499999999999999E+01\n"
		"charge 0.0\n"
		"end\n"
		"\n"
		"begin\n"
		"lattice 5.43 0 0\nlattice 0 5.43 0\nlattice 0 0 5.43\n"
		"atom 0 0 0 Si 0 0 0 0 0\n"
		"atom 1.3575 1.3575 1.3575 Si 0 0 0 0 0\n"
		"end\n";
	struct mlip_structure_list l;
	struct mlip_err err = { 0 };
	mlip_structure_list_init(&l);
	FILE *f = read_mem(text);
	ck_assert_msg(mlip_n2p2data_read(f, "w.data", &l, &err) == 0, "%s", err.msg);
	fclose(f);
	ck_assert_uint_eq(l.n, 2);
	const struct mlip_structure *w = &l.items[0], *si = &l.items[1];
	ck_assert_uint_eq(w->natoms, 3);
	ck_assert_int_eq(w->numbers[0], 8);
	ck_assert_int_eq(w->numbers[2], 1);
	ck_assert_uint_eq(w->has, MLIP_HAS_ENERGY | MLIP_HAS_FORCES);
	ck_assert(w->energy == -76.5);
	ck_assert(w->positions[2] == 0.11 && w->forces[1] == -0.25 && w->forces[5] == 0.125);
	ck_assert(w->pbc[0] == 0 && w->pbc[1] == 0 && w->pbc[2] == 0);
	for (int k = 0; k < 9; k++)
		ck_assert(w->cell[k] == 0);
	ck_assert_uint_eq(si->has, MLIP_HAS_FORCES);
	ck_assert(si->pbc[0] && si->pbc[1] && si->pbc[2]);
	ck_assert(si->cell[0] == 5.43 && si->cell[4] == 5.43 && si->cell[8] == 5.43 && si->cell[1] == 0);
	mlip_structure_list_release(&l);
}
END_TEST

START_TEST(test_broken)
{
	static const struct {
		const char *text, *msg;
	} cases[] = {
		{ "atom 0 0 0 H 0 0 0 0 0\n", "b.data:1: expected 'begin', found 'atom'" },
		{ "begin\natom 0 0 0 H 0 0 0 0\nend\n",
		  "b.data:2: atom 1: expected 10 fields (atom x y z element charge energy fx fy fz), found 9" },
		{ "begin\natom 0 0 0 H 0 0 0 0 0\natom 0 0 1 H 0 0 0 0 0 7\nend\n",
		  "b.data:3: atom 2: expected 10 fields (atom x y z element charge energy fx fy fz), found 11" },
		{ "begin\natom 0 0 0 Xx 0 0 0 0 0\nend\n", "b.data:2: atom 1: unknown element 'Xx'" },
		{ "begin\natom 0 0 0 si 0 0 0 0 0\nend\n", "b.data:2: atom 1: unknown element 'si'" },
		{ "begin\n\natom 0 0 0x H 0 0 0 0 0\nend\n", "b.data:3: atom 1: z '0x' is not a finite number" },
		{ "begin\natom 0 0 0 H 0 0 0 nan 0\nend\n", "b.data:2: atom 1: fy 'nan' is not a finite number" },
		{ "begin\natom 0 0 0 H q 0 0 0 0\nend\n", "b.data:2: atom 1: charge 'q' is not a finite number" },
		{ "begin\nlattice 5 0 0\nlattice 0 5 0\natom 0 0 0 H 0 0 0 0 0\nend\n",
		  "b.data:5: structure has 2 lattice lines; input.data needs three (periodic) or none" },
		{ "begin\nlattice 5 0 0\natom 0 0 0 H 0 0 0 0 0\nend\n",
		  "b.data:4: structure has 1 lattice line; input.data needs three (periodic) or none" },
		{ "begin\nlattice 5 0 0\nlattice 0 5 0\nlattice 0 0 5\nlattice 1 1 1\nend\n",
		  "b.data:5: a fourth lattice line (a structure has three cell vectors)" },
		{ "begin\nlattice 5 0\nend\n", "b.data:2: 'lattice' takes 3 numbers, found 2 fields" },
		{ "begin\nlattice 5 0 1e999\nend\n", "b.data:2: lattice: '1e999' is not a finite number" },
		{ "begin\natom 0 0 0 H 0 0 0 0 0\nenergy 1\nenergy 2\nend\n",
		  "b.data:4: a second energy line (the first is on line 3)" },
		{ "begin\natom 0 0 0 H 0 0 0 0 0\nenergy\nend\n", "b.data:3: 'energy' takes 1 number, found 0 fields" },
		{ "begin\natom 0 0 0 H 0 0 0 0 0\ncharge 0 1\nend\n", "b.data:3: 'charge' takes 1 number, found 2 fields" },
		{ "begin\nend\n", "b.data:2: structure (begin on line 1) has no atoms" },
		{ "begin\natom 0 0 0 H 0 0 0 0 0\nforces 0 0 0\nend\n",
		  "b.data:3: unknown keyword 'forces' (begin, comment, lattice, atom, energy, charge, end)" },
		{ "begin\natom 0 0 0 H 0 0 0 0 0\nbegin\n",
		  "b.data:3: 'begin' inside a structure (the one begun on line 1 has no 'end')" },
		{ "begin\natom 0 0 0 H 0 0 0 0 0\nend\nbegin\natom 0 0 0 H 0 0 0 0 0\n",
		  "b.data:4: the file ends inside this structure (no 'end')" },
		{ "begin\natom 0 0 0 H 0 0 0 0 0\nend now\n", "b.data:3: 'end' takes no fields" },
		{ "begin\natom 0 0 0 H 0 0 0 0 0\nend\nBEGIN\n", "b.data:4: expected 'begin', found 'BEGIN'" },
		{ "begin\nlattice 5 0 0\nlattice 10 0 0\nlattice 0 0 5\natom 0 0 0 H 0 0 0 0 0\nend\n",
		  "b.data:1: " },
	};
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct mlip_structure_list l;
		struct mlip_err err = { 0 };
		mlip_structure_list_init(&l);
		FILE *f = read_mem(cases[c].text);
		int rc = mlip_n2p2data_read(f, "b.data", &l, &err);
		fclose(f);
		ck_assert_msg(rc == MLIP_EDATA, "case %zu: status %d (%s)", c, rc, err.msg);
		ck_assert_msg(strncmp(err.msg, cases[c].msg, strlen(cases[c].msg)) == 0,
			      "case %zu: '%s', expected '%s'", c, err.msg, cases[c].msg);
		if (c == 19) /* the structure before the bad one is kept */
			ck_assert_uint_eq(l.n, 1);
		mlip_structure_list_release(&l);
	}
}
END_TEST

START_TEST(test_writer_refuses)
{
	uint64_t rng = 5;
	struct mlip_structure s;
	struct mlip_err err = { 0 };
	char *text = NULL;
	size_t len = 0;
	random_structure(&s, &rng, 2, 1, MLIP_HAS_ENERGY | MLIP_HAS_FORCES);
	s.pbc[2] = 0;
	mlip_structure_set_id(&s, "slab:3", NULL);
	FILE *f = open_memstream(&text, &len);
	ck_assert_int_eq(mlip_n2p2data_write(f, &s, &err), MLIP_EDATA);
	fclose(f);
	ck_assert_uint_eq(len, 0);
	ck_assert_str_eq(err.msg, "slab:3: periodic along 2 axes (pbc T T F); input.data holds "
			 "only structures periodic along all three axes or none");
	mlip_structure_release(&s);
	free(text);
}
END_TEST

START_TEST(test_format_detection)
{
	ck_assert_int_eq(mlip_format_parse("n2p2"), MLIP_FORMAT_N2P2);
	ck_assert_int_eq(mlip_input_format("run/input.data", MLIP_FORMAT_AUTO), MLIP_FORMAT_N2P2);
	ck_assert_int_eq(mlip_input_format("x.data", MLIP_FORMAT_AUTO), MLIP_FORMAT_N2P2);
	ck_assert_int_eq(mlip_input_format("x.xyz", MLIP_FORMAT_AUTO), MLIP_FORMAT_EXTXYZ);
	ck_assert_int_eq(mlip_input_format("-", MLIP_FORMAT_N2P2), MLIP_FORMAT_N2P2);
	/* mlip_read_structures picks the reader by the name */
	char path[] = "/tmp/mlip-check-n2p2-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(path));
	char file[64];
	snprintf(file, sizeof(file), "%s/input.data", path);
	FILE *f = fopen(file, "w");
	fputs("begin\natom 0 0 0 He 0 0 1 2 3\nenergy -1\nend\n", f);
	fclose(f);
	struct mlip_structure_list l;
	struct mlip_err err = { 0 };
	mlip_structure_list_init(&l);
	ck_assert_msg(mlip_read_structures(file, MLIP_FORMAT_AUTO, &l, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(l.n, 1);
	ck_assert_int_eq(l.items[0].numbers[0], 2);
	ck_assert(l.items[0].forces[2] == 3 && l.items[0].energy == -1);
	mlip_structure_list_release(&l);
	unlink(file);
	rmdir(path);
}
END_TEST

/* ---- export ---------------------------------------------------------------- */

/* Model elements in the order Si, Li (n2p2's is Li, Si); every kind of function. */
static const char *export_config =
	"data: {train: x.mlb}\n"
	"model:\n"
	"  cutoff: 4.0\n"
	"  elements: [Si, Li]\n"
	"  hidden: [3, 2]\n"
	"  heads: [energy, other]\n"
	"  descriptors:\n"
	"    - {kind: g9, elements: [Si, Li], eta: 0.1, rs: 0.5, lambda: 1, zeta: 2}\n"
	"    - {kind: g2, elements: [Si], eta: 0.5, rs: 1.0}\n"
	"    - {kind: g2, elements: [Li], eta: 0.5, rs: 1.0}\n"
	"    - {kind: g3, elements: [Li, Li], eta: 0.05, lambda: -1, zeta: 1.5, cutoff: 3.5}\n"
	"    - {kind: g2, elements: [Si], eta: 0.7, cutoff: 3.0}\n"
	"    - {kind: g9, elements: [Li, Si], eta: 0.1, rs: 0.5, lambda: 1, zeta: 1}\n"
	"    - {kind: g9, elements: [Li, Li], eta: 0.3, lambda: 1, zeta: 4, cutoff: 3.0}\n"
	"    - {kind: g9, elements: [Li, Si], eta: 0.1, rs: 0.5, lambda: -1, zeta: 2}\n"
	"    - {kind: g9, elements: [Si, Si], eta: 0.0, lambda: 1, zeta: 1}\n"
	"tasks:\n"
	"  - {name: e, property: energy, datasets: [a], loss: mse, normalizer: rmsd,\n"
	"     element_references: fit, metrics: [mae]}\n"
	"  - {name: f, property: forces, datasets: [a], loss: mse, metrics: [mae]}\n"
	"  - {name: o, property: energy, head: other, datasets: [a], loss: mse, metrics: [mae]}\n"
	"optim: {lr: 0.001}\n"
	"schedule: {epochs: 1}\n";

static struct mlip_plugins reg;

static void setup(void)
{
	struct mlip_err err = { 0 };
	mlip_log_set_level(MLIP_LOG_ERROR);
	mlip_plugins_init(&reg);
	ck_assert_int_eq(mlip_plugins_add_dir(&reg, "lib/plugins", &err), 0);
}

static void teardown(void)
{
	mlip_plugins_release(&reg);
	mlip_log_set_level(MLIP_LOG_INFO);
}

/* Three Si/Li systems with energies and forces. */
static void make_batch(struct mlip_batch *b)
{
	struct mlip_structure s[3];
	const struct mlip_structure *ptr[3];
	uint64_t rng = 11;
	for (int k = 0; k < 3; k++) {
		size_t n = 4 + (size_t)k;
		mlip_structure_init(&s[k]);
		ck_assert_int_eq(mlip_structure_alloc(&s[k], n, NULL), 0);
		s[k].cell[0] = s[k].cell[4] = s[k].cell[8] = 5.0;
		s[k].pbc[0] = s[k].pbc[1] = s[k].pbc[2] = 1;
		for (size_t i = 0; i < n; i++) {
			s[k].numbers[i] = (i + (size_t)k) % 3 ? 14 : 3;
			for (int x = 0; x < 3; x++) {
				s[k].positions[3 * i + x] = 1.1 * (double)i + 0.6 * x + 0.4 * test_rand_unif(&rng);
				s[k].forces[3 * i + x] = test_rand_unif(&rng) - 0.5;
			}
		}
		s[k].has = MLIP_HAS_ENERGY | MLIP_HAS_FORCES;
		s[k].energy = -3.0 * (double)n + test_rand_unif(&rng) + k * k;
		ptr[k] = &s[k];
	}
	mlip_batch_init(b);
	ck_assert_int_eq(mlip_batch_collate(b, ptr, 3, 4.0, 0, "a", NULL), 0);
	for (int k = 0; k < 3; k++)
		mlip_structure_release(&s[k]);
}

/* A potential from text with random weights and scaling, tasks fitted on make_batch. */
static void make_potential(struct mlip_potential *p, const char *text, struct mlip_batch *b)
{
	struct mlip_config cfg;
	struct mlip_err err = { 0 };
	uint64_t rng = 77;
	ck_assert_msg(mlip_config_load_string(text, strlen(text), "n2p2.yaml", NULL, 0, &cfg, &err) == 0,
		      "%s", err.msg);
	ck_assert_msg(mlip_potential_create(p, &cfg, &reg, &err) == 0, "%s", err.msg);
	struct mlip_model *m = p->model;
	for (size_t k = 0; k < m->tensors.n; k++) {
		const struct mlip_tensor *t = &m->tensors.t[k];
		int is_std = strstr(t->name, ".sf_std") != NULL;
		for (size_t i = 0; i < t->count; i++)
			m->params[t->offset + i] = is_std ? 0.5 + test_rand_unif(&rng)
							  : test_rand_unif(&rng) - 0.5;
	}
	make_batch(b);
	const struct mlip_batch *bp = b;
	ck_assert_msg(mlip_tasks_fit(&p->tasks, &bp, 1, &err) == 0, "%s", err.msg);
}

static const double *param(const struct mlip_model *m, int z, const char *what)
{
	char name[64];
	snprintf(name, sizeof(name), "%s.%s", mlip_element_symbol(z), what);
	const struct mlip_tensor *t = mlip_tensors_find(&m->tensors, name);
	ck_assert_msg(t != NULL, "no tensor %s", name);
	return m->params + t->offset;
}

/* Data lines (not '#') of a file, each malloc'd; *n their count. */
static char **data_lines(const char *dir, const char *name, size_t *n)
{
	char path[256], *line = NULL;
	size_t cap = 0;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "r");
	ck_assert_msg(f != NULL, "no %s", path);
	char **out = NULL;
	*n = 0;
	while (getline(&line, &cap, f) > 0) {
		ck_assert_msg(line[0] != '\n', "%s: empty line", name);
		if (line[0] == '#')
			continue;
		out = realloc(out, (*n + 1) * sizeof(*out));
		out[(*n)++] = strdup(line);
	}
	free(line);
	fclose(f);
	return out;
}

static void free_lines(char **l, size_t n)
{
	for (size_t k = 0; k < n; k++)
		free(l[k]);
	free(l);
}

/* The value of keyword key in input.nn lines ("" if it has none), or NULL. */
static const char *keyword(char **l, size_t n, const char *key)
{
	size_t len = strlen(key);
	for (size_t k = 0; k < n; k++)
		if (strncmp(l[k], key, len) == 0 && (l[k][len] == ' ' || l[k][len] == '\n'))
			return l[k] + len + (l[k][len] == ' ');
	return NULL;
}

/* The model function of element e that a symfunction_short line describes. */
static size_t match_function(const struct mlip_model *m, size_t e, const char *line,
			     double key[8])
{
	char c[4], a[4], b[4] = "";
	int type;
	double eta, rs = 0, rc, lambda = 0, zeta = 0;
	ck_assert_int_eq(sscanf(line, "symfunction_short %3s %d", c, &type), 2);
	if (type == 2)
		ck_assert_int_eq(sscanf(line, "symfunction_short %*s %*d %3s %lf %lf %lf", a, &eta, &rs, &rc), 4);
	else
		ck_assert_int_eq(sscanf(line, "symfunction_short %*s %*d %3s %3s %lf %lf %lf %lf %lf", a, b,
					&eta, &lambda, &zeta, &rc, &rs), 7);
	ck_assert_int_eq(mlip_element_z(c), m->config.elements[e]);
	int z1 = mlip_element_z(a), z2 = type == 2 ? 0 : mlip_element_z(b);
	const struct mlip_descriptor *d = &m->desc;
	size_t found = SIZE_MAX;
	for (size_t k = 0; k < d->dim[e]; k++) {
		const struct mlip_sf *f = &d->sf[d->sf_start[e] + k];
		int same_el = type == 2 ? f->z1 == z1
					: ((f->z1 == z1 && f->z2 == z2) || (f->z1 == z2 && f->z2 == z1));
		if (f->kind == type && same_el && f->eta == eta && f->rs == rs && f->rc == rc &&
		    (type == 2 || (f->lambda == lambda && f->zeta == zeta))) {
			ck_assert_msg(found == SIZE_MAX, "two functions match '%s'", line);
			found = k;
		}
	}
	ck_assert_msg(found != SIZE_MAX, "no model function for '%s'", line);
	/* n2p2's sort key; element indices: Li (Z 3) = 0, Si = 1 */
	int i1 = z1 == 3 ? 0 : 1, i2 = type == 2 ? 0 : z2 == 3 ? 0 : 1;
	if (i1 > i2 && type != 2) {
		int t = i1;
		i1 = i2;
		i2 = t;
	}
	double k8[8] = { type, rc, eta, rs, zeta, lambda, i1, i2 };
	memcpy(key, k8, sizeof(k8));
	return found;
}

static int key_less_eq(const double *a, const double *b)
{
	for (int k = 0; k < 8; k++)
		if (a[k] != b[k])
			return a[k] < b[k];
	return 1;
}

START_TEST(test_export_files)
{
	struct mlip_potential p;
	struct mlip_batch b;
	struct mlip_err err = { 0 };
	struct mlip_n2p2_range rg;
	make_potential(&p, export_config, &b);
	const struct mlip_model *m = p.model;
	ck_assert_int_eq(mlip_n2p2_range_init(&rg, m, &err), 0);
	ck_assert_msg(mlip_n2p2_range_add(&rg, m, &b, &err) == 0, "%s", err.msg);
	char dir[] = "/tmp/mlip-check-n2p2-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	const size_t h = 1; /* the second head: its row of w_out, its scale */
	ck_assert_msg(mlip_n2p2_write(&p, h, dir, &rg, &err) == 0, "%s", err.msg);

	size_t nn, ns;
	char **in = data_lines(dir, "input.nn", &nn), **sc = data_lines(dir, "scaling.data", &ns);
	ck_assert_str_eq(keyword(in, nn, "number_of_elements"), "2\n");
	ck_assert_str_eq(keyword(in, nn, "elements"), "Li Si\n");
	ck_assert_str_eq(keyword(in, nn, "cutoff_type"), "1 0.0\n");
	ck_assert_ptr_nonnull(keyword(in, nn, "scale_symmetry_functions_sigma"));
	ck_assert_ptr_null(keyword(in, nn, "scale_symmetry_functions"));
	ck_assert_ptr_null(keyword(in, nn, "center_symmetry_functions"));
	ck_assert_str_eq(keyword(in, nn, "scale_min_short"), "0.0\n");
	ck_assert_str_eq(keyword(in, nn, "scale_max_short"), "1.0\n");
	ck_assert_str_eq(keyword(in, nn, "global_hidden_layers_short"), "2\n");
	ck_assert_str_eq(keyword(in, nn, "global_nodes_short"), "3 2\n");
	ck_assert_str_eq(keyword(in, nn, "global_activation_short"), "t t l\n");
	/* head 'other' has neither a normalizer nor element references */
	ck_assert_ptr_null(keyword(in, nn, "conv_energy"));
	ck_assert_ptr_null(keyword(in, nn, "atom_energy"));

	/* per element in n2p2's order (Li, Si): functions, scaling rows, weights */
	static const int zs[2] = { 3, 14 };
	size_t row = 0, line = 0;
	for (; line < nn && strncmp(in[line], "symfunction_short", 17) != 0; line++)
		;
	for (int k = 0; k < 2; k++) {
		int z = zs[k];
		size_t e = z == 14 ? 0 : 1, D = m->desc.dim[e];
		const double *mean = param(m, z, "sf_mean"), *sd = param(m, z, "sf_std");
		const double *w1 = param(m, z, "w1"), *b1 = param(m, z, "b1"), *w2 = param(m, z, "w2"),
			     *b2 = param(m, z, "b2"), *wo = param(m, z, "w_out"), *bo = param(m, z, "b_out");
		char wname[32];
		snprintf(wname, sizeof(wname), "weights.%03d.data", z);
		size_t nw;
		char **wl = data_lines(dir, wname, &nw);
		ck_assert_uint_eq(nw, D * 3 + 3 + 3 * 2 + 2 + 2 * 1 + 1);
		double *wv = malloc(nw * sizeof(double));
		for (size_t q = 0; q < nw; q++)
			wv[q] = strtod(wl[q], NULL);
		double prev[8] = { -1 };
		for (size_t j = 0; j < D; j++, line++, row++) {
			double key[8];
			size_t i = match_function(m, e, in[line], key);
			ck_assert_msg(key_less_eq(prev, key), "'%s' is out of n2p2's order", in[line]);
			memcpy(prev, key, sizeof(prev));
			size_t el, sf;
			double lo, hi, mu, sg;
			ck_assert_int_eq(sscanf(sc[row], "%zu %zu %lf %lf %lf %lf", &el, &sf, &lo, &hi, &mu, &sg), 6);
			ck_assert_uint_eq(el, (size_t)k + 1);
			ck_assert_uint_eq(sf, j + 1);
			ck_assert(same_bits(mu, mean[i]) && same_bits(sg, sd[i]));
			ck_assert(same_bits(lo, rg.min[m->desc.sf_start[e] + i]));
			ck_assert(same_bits(hi, rg.max[m->desc.sf_start[e] + i]));
			ck_assert(lo <= hi);
			/* input j feeds hidden neuron q through w1[q][i] */
			for (size_t q = 0; q < 3; q++)
				ck_assert(same_bits(wv[j * 3 + q], w1[q * D + i]));
		}
		size_t c = D * 3;
		for (size_t q = 0; q < 3; q++)
			ck_assert(same_bits(wv[c++], b1[q]));
		for (size_t j = 0; j < 3; j++)
			for (size_t q = 0; q < 2; q++)
				ck_assert(same_bits(wv[c++], w2[q * 3 + j]));
		for (size_t q = 0; q < 2; q++)
			ck_assert(same_bits(wv[c++], b2[q]));
		for (size_t j = 0; j < 2; j++)
			ck_assert(same_bits(wv[c++], wo[h * 2 + j]));
		ck_assert(same_bits(wv[c++], bo[h]));
		ck_assert_uint_eq(c, nw);
		free(wv);
		free_lines(wl, nw);
	}
	ck_assert_uint_eq(row, ns);
	ck_assert_uint_eq(line, nn);
	free_lines(in, nn);
	free_lines(sc, ns);

	/* head 0: normalisation and element energies */
	ck_assert_msg(mlip_n2p2_write(&p, 0, dir, NULL, &err) == 0, "%s", err.msg);
	in = data_lines(dir, "input.nn", &nn);
	double ce = strtod(keyword(in, nn, "conv_energy"), NULL);
	ck_assert(ce == 1 / p.tasks.heads[0].scale);
	ck_assert_str_eq(keyword(in, nn, "mean_energy"), "0\n");
	ck_assert_str_eq(keyword(in, nn, "conv_length"), "1\n");
	char want[128];
	snprintf(want, sizeof(want), "atom_energy Li %.17g\n", p.tasks.heads[0].elref[3]);
	ck_assert_str_eq(keyword(in, nn, "atom_energy") - strlen("atom_energy "), want);
	int seen_si = 0;
	for (size_t k = 0; k < nn; k++)
		if (strncmp(in[k], "atom_energy Si ", 15) == 0)
			seen_si = strtod(in[k] + 15, NULL) == p.tasks.heads[0].elref[14];
	ck_assert(seen_si);
	free_lines(in, nn);
	sc = data_lines(dir, "scaling.data", &ns);
	double lo, hi;
	ck_assert_int_eq(sscanf(sc[0], "%*u %*u %lf %lf", &lo, &hi), 2);
	ck_assert(lo == 0 && hi == DBL_MAX);
	free_lines(sc, ns);

	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -r '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
	mlip_n2p2_range_release(&rg);
	mlip_batch_release(&b);
	mlip_potential_release(&p);
}
END_TEST

/* Replace the first occurrence of from in text (static buffer). */
static const char *with(const char *text, const char *from, const char *to)
{
	static char buf[4096];
	const char *at = strstr(text, from);
	ck_assert_ptr_nonnull(at);
	snprintf(buf, sizeof(buf), "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
	return buf;
}

START_TEST(test_export_refusals)
{
	struct mlip_potential p;
	struct mlip_batch b;
	struct mlip_err err = { 0 };
	char dir[] = "/tmp/mlip-check-n2p2-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));

	make_potential(&p, with(export_config, "hidden: [3, 2]", "hidden: [3, 2]\n  activation: silu"), &b);
	ck_assert_int_eq(mlip_n2p2_write(&p, 0, dir, NULL, &err), MLIP_EDATA);
	ck_assert_msg(strstr(err.msg, "n2p2 has no 'silu' activation"), "%s", err.msg);
	mlip_batch_release(&b);
	mlip_potential_release(&p);

	make_potential(&p, with(export_config, "hidden: [3, 2]", "hidden: [3, 2]\n  activation: softplus"), &b);
	ck_assert_msg(mlip_n2p2_write(&p, 0, dir, NULL, &err) == 0, "%s", err.msg);
	size_t nn;
	char **in = data_lines(dir, "input.nn", &nn);
	ck_assert_str_eq(keyword(in, nn, "global_activation_short"), "p p l\n");
	free_lines(in, nn);
	/* a per-structure shift has no n2p2 counterpart */
	p.tasks.heads[0].shift = 0.25;
	ck_assert_int_eq(mlip_n2p2_check(&p, 0, &err), MLIP_EDATA);
	ck_assert_msg(strstr(err.msg, "head 'energy' adds 0.25 eV to every structure's energy"), "%s",
		      err.msg);
	p.tasks.heads[0].shift = 0;
	p.tasks.heads[0].scale = -1;
	ck_assert_int_eq(mlip_n2p2_check(&p, 0, &err), MLIP_EDATA);
	ck_assert_int_eq(mlip_n2p2_check(&p, 2, &err), MLIP_EINVAL);
	ck_assert_str_eq(err.msg, "head 2: the model has 2 heads");
	mlip_batch_release(&b);
	mlip_potential_release(&p);

	make_potential(&p, with(export_config, "hidden: [3, 2]", "hidden: []"), &b);
	ck_assert_int_eq(mlip_n2p2_check(&p, 0, &err), MLIP_EDATA);
	ck_assert_str_eq(err.msg, "the model has no hidden layer; n2p2 networks have at least one");
	mlip_batch_release(&b);
	mlip_potential_release(&p);

	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -r '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

Suite *suite_n2p2(void)
{
	Suite *s = suite_create("n2p2");
	TCase *tc = tcase_create("input.data");
	tcase_add_test(tc, test_roundtrip);
	tcase_add_test(tc, test_n2p2_written);
	tcase_add_test(tc, test_broken);
	tcase_add_test(tc, test_writer_refuses);
	tcase_add_test(tc, test_format_detection);
	suite_add_tcase(s, tc);
	tc = tcase_create("export");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_export_files);
	tcase_add_test(tc, test_export_refusals);
	suite_add_tcase(s, tc);
	return s;
}
