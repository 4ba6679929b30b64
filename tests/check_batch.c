/*
 * check_batch.c - batches and the .mlb stream: CRC-32, collation against
 * per-structure neighbour lists, exclude keys, get_structure and append
 * round trips, bit-exact write/read through memory, temporary files and a
 * pipe, and every kind of broken stream (built here from a good stream by
 * truncating, flipping bytes, or rewriting a payload and re-computing its CRC).
 *
 * The corruption tests locate fields with their own copy of the payload
 * layout of mlip-batch(5), so a change of the format that the man page does
 * not follow makes them fail.
 */
#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "batchstore.h"
#include "nlist.h"
#include "structure.h"
#include "testutil.h"

#define CUTOFF 4.0

/* ---- helpers ------------------------------------------------------------ */

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static uint64_t rd64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int k = 7; k >= 0; k--)
		v = v << 8 | p[k];
	return v;
}

static uint32_t rd32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void wr32(unsigned char *p, uint32_t v)
{
	for (int k = 0; k < 4; k++)
		p[k] = (unsigned char)(v >> (8 * k));
}

static void wr64(unsigned char *p, uint64_t v)
{
	for (int k = 0; k < 8; k++)
		p[k] = (unsigned char)(v >> (8 * k));
}

/* The bit-at-a-time CRC-32 of the definition, to check the table-driven one. */
static uint32_t crc32_bitwise(uint32_t crc, const unsigned char *p, size_t n)
{
	crc = ~crc;
	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1)));
	}
	return ~crc;
}

/*
 * A random structure: n atoms inside the cell (or a 6 Å box when there is
 * none), random labels, every third atom fixed.
 */
static void make_structure(struct mlip_structure *s, uint64_t *rng, size_t n, const double cell[9],
			   const uint8_t pbc[3], unsigned has, const char *dataset, const char *id)
{
	static const int32_t z[] = { 3, 8, 14, 26, 79 };
	mlip_structure_init(s);
	ck_assert_int_eq(mlip_structure_alloc(s, n, NULL), 0);
	int boxed = cell && cell[0] != 0;
	if (cell)
		memcpy(s->cell, cell, sizeof(s->cell));
	memcpy(s->pbc, pbc, 3);
	for (size_t i = 0; i < n; i++) {
		double f[3] = { test_rand_unif(rng), test_rand_unif(rng), test_rand_unif(rng) };
		for (int x = 0; x < 3; x++) {
			s->positions[3 * i + x] = boxed ? f[0] * s->cell[x] + f[1] * s->cell[3 + x] +
								f[2] * s->cell[6 + x]
						       : 6 * f[x];
			s->forces[3 * i + x] = test_rand_unif(rng) - 0.5;
		}
		s->numbers[i] = z[test_rand_u64(rng) % 5];
		s->fixed[i] = i % 3 == 0;
	}
	s->energy = -100 * test_rand_unif(rng);
	for (int k = 0; k < 9; k++)
		s->stress[k] = 0.01 * (test_rand_unif(rng) - 0.5);
	s->has = has;
	ck_assert_int_eq(mlip_structure_set_dataset(s, dataset, NULL), 0);
	ck_assert_int_eq(mlip_structure_set_id(s, id, NULL), 0);
}

#define N_SET 5
/*
 * Five structures covering the cases: a periodic cubic cell with every label,
 * a molecule (no cell, energy only, no dataset, no id), a triclinic slab
 * periodic along a and b with forces only, a cell thinner than the cutoff
 * (an atom sees its own images) with no labels, and a periodic cell with
 * energy and stress.
 */
static void make_set(struct mlip_structure s[N_SET], uint64_t seed)
{
	uint64_t rng = seed;
	const double cubic[9] = { 5.4, 0, 0, 0, 5.4, 0, 0, 0, 5.4 };
	const double tric[9] = { 6.0, 0, 0, 1.2, 5.5, 0, 0.4, -0.3, 12.0 };
	const double thin[9] = { 2.5, 0, 0, 0, 3.1, 0, 0.2, 0, 2.9 };
	const uint8_t all[3] = { 1, 1, 1 }, none[3] = { 0, 0, 0 }, ab[3] = { 1, 1, 0 };
	make_structure(&s[0], &rng, 8, cubic, all, MLIP_HAS_ENERGY | MLIP_HAS_FORCES | MLIP_HAS_STRESS,
		       "si", "si.xyz:1");
	make_structure(&s[1], &rng, 5, NULL, none, MLIP_HAS_ENERGY, NULL, NULL);
	make_structure(&s[2], &rng, 7, tric, ab, MLIP_HAS_FORCES, "slab", "slab.json:3");
	make_structure(&s[3], &rng, 2, thin, all, 0, "thin", "thin.xyz:2");
	make_structure(&s[4], &rng, 6, cubic, all, MLIP_HAS_ENERGY | MLIP_HAS_STRESS, "si", "si.xyz:9");
}

static void release_set(struct mlip_structure *s, size_t n)
{
	for (size_t k = 0; k < n; k++)
		mlip_structure_release(&s[k]);
}

/* Collate s[from..from+n) into b. */
static void collate_range(struct mlip_batch *b, struct mlip_structure *s, size_t from, size_t n,
			  unsigned exclude)
{
	const struct mlip_structure *p[N_SET];
	struct mlip_err err;
	for (size_t k = 0; k < n; k++)
		p[k] = &s[from + k];
	mlip_batch_init(b);
	int rc = mlip_batch_collate(b, p, n, CUTOFF, exclude, "mlearn", &err);
	ck_assert_msg(rc == 0, "collate: %s", err.msg);
}

#define N_BATCHES 3
/* Three batches of the set: {0, 1}, {2}, {3, 4}. */
static void make_batches(struct mlip_batch b[N_BATCHES], uint64_t seed)
{
	struct mlip_structure s[N_SET];
	make_set(s, seed);
	collate_range(&b[0], s, 0, 2, 0);
	collate_range(&b[1], s, 2, 1, 0);
	collate_range(&b[2], s, 3, 2, 0);
	release_set(s, N_SET);
}

/* Compare every array bit for bit; returns NULL or the name of the first difference. */
static const char *batch_diff(const struct mlip_batch *a, const struct mlip_batch *b)
{
	size_t B = a->n_systems, N = a->n_atoms, E = a->n_edges;
	if (B != b->n_systems || N != b->n_atoms || E != b->n_edges)
		return "counts";
	if (memcmp(&a->cutoff, &b->cutoff, sizeof(double)))
		return "cutoff";
#define SAME(f, n) if (memcmp(a->f, b->f, (n) * sizeof(*a->f))) return #f
	SAME(natoms, B);
	SAME(nedges, B);
	SAME(atom_start, B + 1);
	SAME(edge_start, B + 1);
	SAME(has, B);
	SAME(pbc, 3 * B);
	SAME(cell, 9 * B);
	SAME(energy, B);
	SAME(stress, 9 * B);
	SAME(numbers, N);
	SAME(positions, 3 * N);
	SAME(forces, 3 * N);
	SAME(fixed, N);
	SAME(edge_i, E);
	SAME(edge_j, E);
	SAME(edge_shift, 3 * E);
#undef SAME
	for (size_t k = 0; k < B; k++) {
		if (strcmp(a->dataset[k], b->dataset[k]))
			return "dataset";
		if (strcmp(a->id[k], b->id[k]))
			return "id";
	}
	return NULL;
}

static void release_batches(struct mlip_batch *b, size_t n)
{
	for (size_t k = 0; k < n; k++)
		mlip_batch_release(&b[k]);
}

/* Write batches as one stream into a malloc'd buffer. */
static unsigned char *write_stream(const struct mlip_batch *b, size_t n, size_t *len)
{
	char *buf = NULL;
	size_t size = 0;
	struct mlip_batch_writer w;
	struct mlip_err err;
	FILE *f = open_memstream(&buf, &size);
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(mlip_batch_writer_open(&w, f, "mem", n ? b[0].cutoff : CUTOFF, &err), 0);
	for (size_t k = 0; k < n; k++) {
		int rc = mlip_batch_write(&w, &b[k], &err);
		ck_assert_msg(rc == 0, "write: %s", err.msg);
	}
	ck_assert_int_eq(mlip_batch_writer_close(&w, &err), 0);
	ck_assert_int_eq(fclose(f), 0);
	*len = size;
	return (unsigned char *)buf;
}

static FILE *file_of(const unsigned char *bytes, size_t len)
{
	if (len) /* read-only, so the cast away from const is harmless */
		return fmemopen((void *)bytes, len, "rb");
	FILE *f = tmpfile();
	ck_assert_ptr_nonnull(f);
	if (len)
		ck_assert_uint_eq(fwrite(bytes, 1, len, f), len);
	rewind(f);
	return f;
}

/*
 * Read every record of bytes as "bad.mlb"; returns the first error (0 when
 * the stream is good) with the message in err, and the number of batches
 * read before it in *n_read.
 */
static int read_all(const unsigned char *bytes, size_t len, struct mlip_err *err, size_t *n_read)
{
	struct mlip_batch_reader r;
	struct mlip_batch b;
	FILE *f = file_of(bytes, len);
	int rc;
	mlip_batch_init(&b);
	mlip_err_clear(err);
	*n_read = 0;
	if ((rc = mlip_batch_reader_open(&r, f, "bad.mlb", err)) == 0) {
		while ((rc = mlip_batch_read_next(&r, &b, err)) == 1)
			(*n_read)++;
	}
	mlip_batch_release(&b);
	mlip_batch_reader_release(&r);
	fclose(f);
	return rc;
}

static void expect_error(const unsigned char *bytes, size_t len, int code, const char *msg)
{
	struct mlip_err err;
	size_t n;
	int rc = read_all(bytes, len, &err, &n);
	ck_assert_msg(rc == code, "expected code %d, got %d (%s) for '%s'", code, rc, err.msg, msg);
	ck_assert_str_eq(err.msg, msg);
}

/* Offsets of records in a stream: start of each record header. */
static size_t record_offsets(const unsigned char *bytes, size_t len, size_t *off, size_t max)
{
	size_t n = 0, o = MLIP_BATCH_HEADER_BYTES;
	while (o + 16 <= len && n < max) {
		off[n++] = o;
		o += 16 + (size_t)rd64(bytes + o + 8);
	}
	return n;
}

static void recrc(unsigned char *rec)
{
	size_t len = (size_t)rd64(rec + 8);
	wr32(rec + 4, crc32_bitwise(0, rec + 16, len));
}

/* The documented payload layout (mlip-batch(5) section 3), computed independently. */
struct lay {
	size_t cell, energy, stress, positions, forces, natoms, nedges, has, dlen, ilen;
	size_t numbers, edge_i, edge_j, edge_shift, pbc, fixed, strings, end, total;
};

static struct lay lay_of(const unsigned char *payload)
{
	size_t B = (size_t)rd64(payload), N = (size_t)rd64(payload + 8);
	size_t E = (size_t)rd64(payload + 16), S = (size_t)rd64(payload + 24);
	struct lay L;
	L.cell = 40;
	L.energy = L.cell + 72 * B;
	L.stress = L.energy + 8 * B;
	L.positions = L.stress + 72 * B;
	L.forces = L.positions + 24 * N;
	L.natoms = L.forces + 24 * N;
	L.nedges = L.natoms + 4 * B;
	L.has = L.nedges + 4 * B;
	L.dlen = L.has + 4 * B;
	L.ilen = L.dlen + 4 * B;
	L.numbers = L.ilen + 4 * B;
	L.edge_i = L.numbers + 4 * N;
	L.edge_j = L.edge_i + 4 * E;
	L.edge_shift = L.edge_j + 4 * E;
	L.pbc = L.edge_shift + 12 * E;
	L.fixed = L.pbc + 3 * B;
	L.strings = L.fixed + N;
	L.end = L.strings + S;
	L.total = (L.end + 7) / 8 * 8;
	return L;
}

/* ---- CRC ---------------------------------------------------------------- */

START_TEST(test_crc32)
{
	ck_assert_uint_eq(mlip_crc32(0, "123456789", 9), 0xCBF43926u);
	ck_assert_uint_eq(mlip_crc32(0, "", 0), 0);
	ck_assert_uint_eq(mlip_crc32(0, "a", 1), 0xE8B7BE43u);
	ck_assert_uint_eq(mlip_crc32(0, "The quick brown fox jumps over the lazy dog", 43), 0x414FA339u);

	uint64_t rng = 7;
	enum { MAX = 1000 };
	unsigned char buf[MAX + 16];
	for (size_t k = 0; k < sizeof(buf); k++)
		buf[k] = (unsigned char)test_rand_u64(&rng);
	for (int t = 0; t < 500; t++) {
		size_t off = test_rand_u64(&rng) % 16, n = test_rand_u64(&rng) % MAX;
		size_t cut = n ? test_rand_u64(&rng) % n : 0;
		uint32_t ref = crc32_bitwise(0, buf + off, n);
		ck_assert_uint_eq(mlip_crc32(0, buf + off, n), ref);
		/* continuing from a partial CRC gives the CRC of the concatenation */
		ck_assert_uint_eq(mlip_crc32(mlip_crc32(0, buf + off, cut), buf + off + cut, n - cut), ref);
	}

	size_t big = (size_t)32 << 20;
	unsigned char *p = malloc(big);
	ck_assert_ptr_nonnull(p);
	for (size_t k = 0; k < big; k++)
		p[k] = (unsigned char)(k * 2654435761u >> 13);
	double t0 = now();
	uint32_t c = mlip_crc32(0, p, big);
	double dt = now() - t0;
	ck_assert_uint_eq(c, mlip_crc32(crc32_bitwise(0, p, 1 << 20), p + (1 << 20), big - (1 << 20)));
	fprintf(stderr, "batch: crc32 slicing-by-8: %.0f MB/s\n", big / 1e6 / dt);
	free(p);
}
END_TEST

/* ---- collation ------------------------------------------------------------ */

START_TEST(test_collate_edges)
{
	struct mlip_structure s[N_SET];
	struct mlip_batch b;
	struct mlip_nlist nl;
	struct mlip_err err;
	make_set(s, 11);
	collate_range(&b, s, 0, N_SET, 0);
	ck_assert_int_eq(mlip_batch_validate(&b, &err), 0);
	ck_assert_uint_eq(b.n_systems, N_SET);
	ck_assert(b.cutoff == CUTOFF);
	mlip_nlist_init(&nl);
	size_t a0 = 0, e0 = 0;
	for (size_t k = 0; k < N_SET; k++) {
		ck_assert_int_eq(mlip_nlist_build(&nl, &s[k], CUTOFF, NULL), 0);
		ck_assert_uint_gt(nl.n_edges, 0);
		ck_assert_uint_eq(b.atom_start[k], a0);
		ck_assert_uint_eq(b.edge_start[k], e0);
		ck_assert_uint_eq(b.natoms[k], s[k].natoms);
		ck_assert_uint_eq(b.nedges[k], nl.n_edges);
		for (size_t e = 0; e < nl.n_edges; e++) {
			ck_assert_int_eq(b.edge_i[e0 + e], nl.i[e] + (int32_t)a0);
			ck_assert_int_eq(b.edge_j[e0 + e], nl.j[e] + (int32_t)a0);
			for (int x = 0; x < 3; x++)
				ck_assert_int_eq(b.edge_shift[3 * (e0 + e) + x], nl.shift[3 * e + x]);
		}
		ck_assert(memcmp(b.positions + 3 * a0, s[k].positions, 24 * s[k].natoms) == 0);
		ck_assert(memcmp(b.numbers + a0, s[k].numbers, 4 * s[k].natoms) == 0);
		ck_assert(memcmp(b.fixed + a0, s[k].fixed, s[k].natoms) == 0);
		ck_assert(memcmp(b.cell + 9 * k, s[k].cell, 72) == 0);
		ck_assert(memcmp(b.pbc + 3 * k, s[k].pbc, 3) == 0);
		ck_assert_uint_eq(b.has[k], s[k].has);
		a0 += s[k].natoms;
		e0 += nl.n_edges;
	}
	ck_assert_uint_eq(b.n_atoms, a0);
	ck_assert_uint_eq(b.n_edges, e0);
	ck_assert_uint_eq(b.atom_start[N_SET], a0);
	ck_assert_uint_eq(b.edge_start[N_SET], e0);
	/* the thin cell sees images of its own atoms */
	int self_image = 0;
	for (size_t e = b.edge_start[3]; e < b.edge_start[4]; e++)
		self_image |= b.edge_i[e] == b.edge_j[e];
	ck_assert(self_image);
	/* labels, dataset default and empty id */
	ck_assert(b.energy[0] == s[0].energy);
	ck_assert(b.energy[2] == 0);
	ck_assert(memcmp(b.forces + 3 * b.atom_start[2], s[2].forces, 24 * s[2].natoms) == 0);
	ck_assert(b.forces[3 * b.atom_start[1]] == 0);
	ck_assert(memcmp(b.stress + 9 * 4, s[4].stress, 72) == 0);
	ck_assert_str_eq(b.dataset[0], "si");
	ck_assert_str_eq(b.dataset[1], "mlearn");
	ck_assert_str_eq(b.id[1], "");
	ck_assert_str_eq(b.id[2], "slab.json:3");
	mlip_batch_release(&b);

	/* without a default dataset name the structure gets "default" */
	const struct mlip_structure *one = &s[1];
	mlip_batch_init(&b);
	ck_assert_int_eq(mlip_batch_collate(&b, &one, 1, CUTOFF, 0, NULL, &err), 0);
	ck_assert_str_eq(b.dataset[0], "default");
	mlip_batch_release(&b);
	mlip_nlist_release(&nl);
	release_set(s, N_SET);
}
END_TEST

START_TEST(test_collate_exclude)
{
	struct mlip_structure s[N_SET], t;
	struct mlip_batch b;
	struct mlip_err err;
	make_set(s, 12);
	collate_range(&b, s, 0, N_SET, MLIP_HAS_FORCES | MLIP_HAS_STRESS);
	mlip_structure_init(&t);
	for (size_t k = 0; k < N_SET; k++) {
		ck_assert_uint_eq(b.has[k], s[k].has & MLIP_HAS_ENERGY);
		for (int c = 0; c < 9; c++)
			ck_assert(b.stress[9 * k + c] == 0);
		ck_assert_int_eq(mlip_batch_get_structure(&b, k, &t, &err), 0);
		ck_assert_uint_eq(t.has, s[k].has & MLIP_HAS_ENERGY);
		if (s[k].has & MLIP_HAS_ENERGY)
			ck_assert(t.energy == s[k].energy);
	}
	for (size_t i = 0; i < 3 * b.n_atoms; i++)
		ck_assert(b.forces[i] == 0);
	mlip_batch_release(&b);
	collate_range(&b, s, 0, N_SET, MLIP_HAS_ENERGY);
	for (size_t k = 0; k < N_SET; k++) {
		ck_assert_uint_eq(b.has[k], s[k].has & ~(unsigned)MLIP_HAS_ENERGY);
		ck_assert(b.energy[k] == 0);
	}
	ck_assert(memcmp(b.forces, s[0].forces, 24 * s[0].natoms) == 0);
	mlip_batch_release(&b);
	mlip_structure_release(&t);
	release_set(s, N_SET);
}
END_TEST

START_TEST(test_collate_errors)
{
	struct mlip_structure s[N_SET];
	struct mlip_batch b;
	struct mlip_err err;
	const struct mlip_structure *p[N_SET];
	make_set(s, 13);
	for (size_t k = 0; k < N_SET; k++)
		p[k] = &s[k];
	mlip_batch_init(&b);

	/* duplicate atoms, named by the structure's id */
	mlip_structure_set_id(&s[2], "si.xyz:3", NULL);
	memcpy(s[2].positions + 3, s[2].positions, 24);
	ck_assert_int_eq(mlip_batch_collate(&b, p, N_SET, CUTOFF, 0, NULL, &err), MLIP_EDATA);
	ck_assert_str_eq(err.msg, "si.xyz:3: atoms 1 and 2 are at the same position");
	ck_assert_uint_eq(b.n_systems, 0);
	/* without an id, by its place in the input */
	mlip_structure_set_id(&s[2], NULL, NULL);
	ck_assert_int_eq(mlip_batch_collate(&b, p, N_SET, CUTOFF, 0, NULL, &err), MLIP_EDATA);
	ck_assert_str_eq(err.msg, "structure 3: atoms 1 and 2 are at the same position");
	s[2].positions[3] += 1.0;

	s[4].numbers[1] = 0;
	ck_assert_int_eq(mlip_batch_collate(&b, p, N_SET, CUTOFF, 0, NULL, &err), MLIP_EDATA);
	ck_assert_str_eq(err.msg, "si.xyz:9: atom 2: atomic number 0 is not an element");
	s[4].numbers[1] = 14;

	ck_assert_int_eq(mlip_batch_collate(&b, p, N_SET, 0.0, 0, NULL, &err), MLIP_EINVAL);
	ck_assert_int_eq(mlip_batch_collate(&b, p, N_SET, NAN, 0, NULL, &err), MLIP_EINVAL);
	ck_assert_int_eq(mlip_batch_collate(&b, p, 0, CUTOFF, 0, NULL, &err), MLIP_EINVAL);
	ck_assert_int_eq(mlip_batch_collate(&b, p, N_SET, CUTOFF, 0, NULL, &err), 0);
	ck_assert_uint_eq(b.n_systems, N_SET);
	mlip_batch_release(&b);
	release_set(s, N_SET);
}
END_TEST

START_TEST(test_get_structure)
{
	struct mlip_structure s[N_SET], t;
	struct mlip_batch b;
	struct mlip_err err;
	make_set(s, 14);
	mlip_structure_set_dataset(&s[1], "mlearn", NULL); /* what collate will fill in */
	collate_range(&b, s, 0, N_SET, 0);
	mlip_structure_init(&t);
	for (size_t k = 0; k < N_SET; k++) {
		const struct mlip_structure *a = &s[k];
		ck_assert_int_eq(mlip_batch_get_structure(&b, k, &t, &err), 0);
		ck_assert_uint_eq(t.natoms, a->natoms);
		ck_assert(memcmp(t.numbers, a->numbers, 4 * a->natoms) == 0);
		ck_assert(memcmp(t.positions, a->positions, 24 * a->natoms) == 0);
		ck_assert(memcmp(t.fixed, a->fixed, a->natoms) == 0);
		ck_assert(memcmp(t.cell, a->cell, 72) == 0);
		ck_assert(memcmp(t.pbc, a->pbc, 3) == 0);
		ck_assert_uint_eq(t.has, a->has);
		if (a->has & MLIP_HAS_ENERGY)
			ck_assert(t.energy == a->energy);
		if (a->has & MLIP_HAS_FORCES)
			ck_assert(memcmp(t.forces, a->forces, 24 * a->natoms) == 0);
		if (a->has & MLIP_HAS_STRESS)
			ck_assert(memcmp(t.stress, a->stress, 72) == 0);
		ck_assert_str_eq(t.dataset, a->dataset);
		if (a->id)
			ck_assert_str_eq(t.id, a->id);
		else
			ck_assert_ptr_null(t.id);
	}
	ck_assert_int_eq(mlip_batch_get_structure(&b, N_SET, &t, &err), MLIP_EINVAL);
	mlip_structure_release(&t);

	/* collating the extracted structures again gives the same batch */
	struct mlip_structure u[N_SET];
	struct mlip_batch c;
	for (size_t k = 0; k < N_SET; k++) {
		mlip_structure_init(&u[k]);
		ck_assert_int_eq(mlip_batch_get_structure(&b, k, &u[k], &err), 0);
	}
	collate_range(&c, u, 0, N_SET, 0);
	ck_assert_ptr_null(batch_diff(&b, &c));
	mlip_batch_release(&c);
	release_set(u, N_SET);
	mlip_batch_release(&b);
	release_set(s, N_SET);
}
END_TEST

START_TEST(test_append)
{
	struct mlip_structure s[N_SET];
	struct mlip_batch all, a, c, empty;
	struct mlip_err err;
	make_set(s, 15);
	collate_range(&all, s, 0, N_SET, 0);
	collate_range(&a, s, 0, 2, 0);
	collate_range(&c, s, 2, 3, 0);
	mlip_batch_init(&empty);
	ck_assert_int_eq(mlip_batch_append(&empty, &a, &err), 0);
	ck_assert_ptr_null(batch_diff(&empty, &a));
	ck_assert_int_eq(mlip_batch_append(&a, &c, &err), 0);
	const char *d = batch_diff(&a, &all);
	ck_assert_msg(d == NULL, "append differs from collate in %s", d);
	ck_assert_int_eq(mlip_batch_validate(&a, &err), 0);
	c.cutoff = 5.0;
	ck_assert_int_eq(mlip_batch_append(&a, &c, &err), MLIP_EINVAL);
	ck_assert_ptr_null(batch_diff(&a, &all)); /* unchanged */
	release_batches(&all, 1);
	release_batches(&a, 1);
	release_batches(&c, 1);
	release_batches(&empty, 1);
	release_set(s, N_SET);
}
END_TEST

START_TEST(test_validate)
{
	struct mlip_batch b[N_BATCHES];
	struct mlip_err err;
	make_batches(b, 16);
	struct mlip_batch *x = &b[0];
	ck_assert_int_eq(mlip_batch_validate(x, &err), 0);
	size_t e = x->edge_start[1]; /* first edge of system 2 */
	int32_t keep = x->edge_j[e];
	x->edge_j[e] = 0;
	ck_assert_int_eq(mlip_batch_validate(x, &err), MLIP_EDATA);
	ck_assert_str_eq(err.msg, "system 2: edge 1: atom index 0 is outside the system's atoms 8..12");
	x->edge_j[e] = keep;
	x->edge_shift[3 * e] = 1; /* system 2 is a molecule */
	ck_assert_int_eq(mlip_batch_validate(x, &err), MLIP_EDATA);
	ck_assert_str_eq(err.msg, "system 2: edge 1: shift along non-periodic axis 1 is 1");
	x->edge_shift[3 * e] = 0;
	double keep_pos = x->positions[3 * 9 + 2];
	x->positions[3 * 9 + 2] = INFINITY;
	ck_assert_int_eq(mlip_batch_validate(x, &err), MLIP_EDATA);
	ck_assert_str_eq(err.msg, "system 2: atom 2: position is not finite");
	x->positions[3 * 9 + 2] = keep_pos;
	x->has[0] |= 8;
	ck_assert_int_eq(mlip_batch_validate(x, &err), MLIP_EDATA);
	ck_assert_str_eq(err.msg, "system 1: unknown label bits 0x8");
	x->has[0] &= 7;
	x->natoms[0]++;
	ck_assert_int_eq(mlip_batch_validate(x, &err), MLIP_EDATA);
	x->natoms[0]--;
	free(x->dataset[1]);
	x->dataset[1] = strdup("");
	ck_assert_int_eq(mlip_batch_validate(x, &err), MLIP_EDATA);
	ck_assert_str_eq(err.msg, "system 2: dataset name is empty");
	release_batches(b, N_BATCHES);
}
END_TEST

/* ---- the stream: round trips -------------------------------------------- */

static void check_read_back(FILE *f, const struct mlip_batch *want, size_t n)
{
	struct mlip_batch_reader r;
	struct mlip_batch got;
	struct mlip_err err;
	int rc;
	mlip_batch_init(&got);
	rc = mlip_batch_reader_open(&r, f, "rt.mlb", &err);
	ck_assert_msg(rc == 0, "%s", err.msg);
	ck_assert(r.cutoff == CUTOFF);
	ck_assert_uint_eq(r.version, 1);
	for (size_t k = 0; k < n; k++) {
		rc = mlip_batch_read_next(&r, &got, &err);
		ck_assert_msg(rc == 1, "batch %zu: %d %s", k, rc, err.msg);
		const char *d = batch_diff(&want[k], &got);
		ck_assert_msg(d == NULL, "batch %zu differs in %s", k, d);
	}
	ck_assert_int_eq(mlip_batch_read_next(&r, &got, &err), 0);
	ck_assert_int_eq(r.ended, 1);
	ck_assert_uint_eq(r.record, n + 1);
	ck_assert_int_eq(mlip_batch_read_next(&r, &got, &err), 0);
	mlip_batch_release(&got);
	mlip_batch_reader_release(&r);
}

START_TEST(test_roundtrip_memory)
{
	struct mlip_batch b[N_BATCHES];
	size_t len, len2;
	make_batches(b, 21);
	unsigned char *bytes = write_stream(b, N_BATCHES, &len);

	/* the header, byte for byte */
	ck_assert(memcmp(bytes, "MLIPBAT\n", 8) == 0);
	ck_assert_uint_eq(rd32(bytes + 8), 1);
	ck_assert_uint_eq(rd32(bytes + 12), 64);
	double c;
	uint64_t cu = rd64(bytes + 16);
	memcpy(&c, &cu, 8);
	ck_assert(c == CUTOFF);
	for (int k = 24; k < 64; k++)
		ck_assert_uint_eq(bytes[k], 0);
	size_t off[8];
	ck_assert_uint_eq(record_offsets(bytes, len, off, 8), N_BATCHES + 1);
	for (size_t k = 0; k < N_BATCHES; k++) {
		unsigned char *p = bytes + off[k] + 16;
		struct lay L = lay_of(p);
		ck_assert_uint_eq(rd32(bytes + off[k]), 1);
		ck_assert_uint_eq(rd64(bytes + off[k] + 8), L.total);
		ck_assert_uint_eq(rd64(p), b[k].n_systems);
		ck_assert_uint_eq(rd64(p + 8), b[k].n_atoms);
		ck_assert_uint_eq(rd64(p + 16), b[k].n_edges);
		ck_assert_uint_eq(rd32(bytes + off[k] + 4), crc32_bitwise(0, p, L.total));
		ck_assert_uint_eq(rd32(p + L.numbers), (uint32_t)b[k].numbers[0]);
		ck_assert_uint_eq(rd32(p + L.edge_j + 4), (uint32_t)b[k].edge_j[1]);
		ck_assert(memcmp(p + L.strings, b[k].dataset[0], strlen(b[k].dataset[0])) == 0);
	}
	ck_assert_uint_eq(rd32(bytes + off[N_BATCHES]), 2);
	ck_assert_uint_eq(rd64(bytes + off[N_BATCHES] + 16), N_BATCHES);
	ck_assert_uint_eq(off[N_BATCHES] + 24, len);

	/* through fmemopen */
	FILE *f = fmemopen(bytes, len, "rb");
	ck_assert_ptr_nonnull(f);
	check_read_back(f, b, N_BATCHES);
	fclose(f);
	/* through a temporary file */
	f = file_of(bytes, len);
	check_read_back(f, b, N_BATCHES);
	fclose(f);

	/* the byte-by-byte path of big-endian hosts writes and reads the same bytes */
	mlip_batch_portable_io = 1;
	unsigned char *bytes2 = write_stream(b, N_BATCHES, &len2);
	ck_assert_uint_eq(len2, len);
	ck_assert(memcmp(bytes, bytes2, len) == 0);
	f = fmemopen(bytes, len, "rb");
	check_read_back(f, b, N_BATCHES);
	fclose(f);
	mlip_batch_portable_io = 0;

	/* an empty stream is valid */
	free(bytes2);
	bytes2 = write_stream(b, 0, &len2);
	ck_assert_uint_eq(len2, 64 + 24);
	f = fmemopen(bytes2, len2, "rb");
	check_read_back(f, b, 0);
	fclose(f);

	free(bytes2);
	free(bytes);
	release_batches(b, N_BATCHES);
}
END_TEST

/*
 * A large random batch built directly (no neighbour search), for volume:
 * atoms in a 1 Å cubic cell, so that any edge to a neighbouring image stays
 * within the cutoff.
 */
static void make_big_batch(struct mlip_batch *b, uint64_t *rng, size_t B, size_t atoms, size_t edges)
{
	mlip_batch_init(b);
	ck_assert_int_eq(mlip_batch_alloc(b, B, B * atoms, B * edges, NULL), 0);
	b->cutoff = CUTOFF;
	for (size_t k = 0; k < B; k++) {
		b->natoms[k] = (uint32_t)atoms;
		b->nedges[k] = (uint32_t)edges;
		b->has[k] = (unsigned)(test_rand_u64(rng) % 8);
		for (int x = 0; x < 3; x++) {
			b->pbc[3 * k + x] = 1;
			b->cell[9 * k + 4 * x] = 1;
		}
		if (b->has[k] & MLIP_HAS_ENERGY)
			b->energy[k] = test_rand_unif(rng);
		if (b->has[k] & MLIP_HAS_STRESS)
			for (int c = 0; c < 9; c++)
				b->stress[9 * k + c] = test_rand_unif(rng);
		char name[32];
		snprintf(name, sizeof(name), "big:%zu", k);
		b->dataset[k] = strdup(k % 2 ? "odd" : "even");
		b->id[k] = strdup(name);
	}
	mlip_batch_index(b);
	for (size_t k = 0; k < B; k++) {
		size_t a0 = b->atom_start[k];
		for (size_t i = a0; i < a0 + atoms; i++) {
			b->numbers[i] = 1 + (int32_t)(test_rand_u64(rng) % 100);
			b->fixed[i] = test_rand_u64(rng) % 7 == 0;
			for (int x = 0; x < 3; x++) {
				b->positions[3 * i + x] = test_rand_unif(rng);
				if (b->has[k] & MLIP_HAS_FORCES)
					b->forces[3 * i + x] = test_rand_unif(rng) - 0.5;
			}
		}
		for (size_t e = b->edge_start[k]; e < b->edge_start[k + 1]; e++) {
			uint64_t u = test_rand_u64(rng);
			b->edge_i[e] = (int32_t)(a0 + u % atoms);
			b->edge_j[e] = (int32_t)(a0 + (u % atoms + 1 + (u >> 32) % (atoms - 1)) % atoms);
			for (int x = 0; x < 3; x++)
				b->edge_shift[3 * e + x] = (int32_t)((u >> (8 * x + 40)) % 3) - 1;
		}
	}
}

START_TEST(test_roundtrip_pipe)
{
	/* Batches well beyond the 64 KiB pipe buffer, so reads come in pieces. */
	enum { NB = 6 };
	struct mlip_batch b[NB];
	uint64_t rng = 99;
	for (int k = 0; k < 3; k++)
		make_big_batch(&b[k], &rng, 2 + k, 500, 6000);
	make_batches(b + 3, 22);

	int fd[2];
	ck_assert_int_eq(pipe(fd), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct mlip_batch_writer w;
		struct mlip_err err;
		close(fd[0]);
		FILE *out = fdopen(fd[1], "wb");
		int rc = !out || mlip_batch_writer_open(&w, out, "pipe", CUTOFF, &err);
		for (int k = 0; k < NB && !rc; k++)
			rc = mlip_batch_write(&w, &b[k], &err);
		rc = rc || mlip_batch_writer_close(&w, &err);
		rc = rc || fclose(out);
		_exit(rc ? 1 : 0);
	}
	close(fd[1]);
	FILE *in = fdopen(fd[0], "rb");
	ck_assert_ptr_nonnull(in);
	/* a pipe cannot seek, so the reader cannot have relied on it */
	ck_assert_int_eq(fseek(in, 0, SEEK_SET), -1);
	ck_assert_int_eq(errno, ESPIPE);
	check_read_back(in, b, NB);
	fclose(in);
	int status;
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	release_batches(b, NB);
}
END_TEST

START_TEST(test_concatenated_and_list)
{
	struct mlip_batch b[N_BATCHES];
	struct mlip_batch_list l;
	struct mlip_err err;
	size_t len;
	make_batches(b, 23);
	unsigned char *one = write_stream(b, N_BATCHES, &len);
	unsigned char *two = malloc(2 * len);
	memcpy(two, one, len);
	memcpy(two + len, one, len);

	/* `cat a.mlb a.mlb` reads as both streams, records numbered through the file */
	mlip_batch_list_init(&l);
	FILE *f = file_of(two, 2 * len);
	ck_assert_int_eq(mlip_batch_list_read(&l, f, "two.mlb", &err), 0);
	fclose(f);
	ck_assert_uint_eq(l.n, 2 * N_BATCHES);
	ck_assert(l.cutoff == CUTOFF);
	for (size_t k = 0; k < 2 * N_BATCHES; k++)
		ck_assert_ptr_null(batch_diff(&l.items[k], &b[k % N_BATCHES]));
	/* a flipped byte in the second stream names the file's record number */
	size_t off[8];
	record_offsets(one, len, off, 8);
	two[len + off[1] + 40] ^= 0x10;
	f = file_of(two, 2 * len);
	mlip_batch_list_release(&l);
	ck_assert_int_eq(mlip_batch_list_read(&l, f, "two.mlb", &err), MLIP_EDATA);
	fclose(f);
	ck_assert_msg(strncmp(err.msg, "two.mlb: record 6: checksum mismatch", 36) == 0, "%s", err.msg);
	ck_assert_uint_eq(l.n, N_BATCHES + 1);
	/* trailing garbage after the end record */
	memcpy(two + len, "garbage!", 8);
	f = file_of(two, len + 8);
	mlip_batch_list_release(&l);
	ck_assert_int_eq(mlip_batch_list_read(&l, f, "two.mlb", &err), MLIP_EDATA);
	fclose(f);
	ck_assert_str_eq(err.msg, "two.mlb: after record 4: not an mlip batch stream; convert structures with mlip-collate first");

	/* save and load through the file system */
	char dir[] = "/tmp/mlip-batch-XXXXXX", path[64], tmp[80];
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/b.mlb", dir);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	mlip_batch_list_release(&l);
	for (size_t k = 0; k < N_BATCHES; k++) {
		struct mlip_batch c;
		mlip_batch_init(&c);
		ck_assert_int_eq(mlip_batch_append(&c, &b[k], &err), 0);
		ck_assert_int_eq(mlip_batch_list_take(&l, &c, &err), 0);
		ck_assert_uint_eq(c.n_systems, 0);
	}
	ck_assert_int_eq(mlip_batch_list_save(&l, path, &err), 0);
	ck_assert_int_eq(access(tmp, F_OK), -1);
	struct mlip_batch_list m;
	mlip_batch_list_init(&m);
	ck_assert_int_eq(mlip_batch_list_load(&m, path, &err), 0);
	ck_assert_uint_eq(m.n, N_BATCHES);
	for (size_t k = 0; k < N_BATCHES; k++)
		ck_assert_ptr_null(batch_diff(&m.items[k], &b[k]));
	/* the saved file is exactly what the writer produces */
	f = fopen(path, "rb");
	unsigned char *disk = malloc(len + 1);
	ck_assert_uint_eq(fread(disk, 1, len + 1, f), len);
	ck_assert(memcmp(disk, one, len) == 0);
	fclose(f);
	free(disk);
	/* a list refuses a stream with another cutoff */
	l.items[0].cutoff = 5.0;
	ck_assert_int_eq(mlip_batch_list_take(&m, &l.items[0], &err), MLIP_EINVAL);
	unlink(path);
	ck_assert_int_eq(mlip_batch_list_load(&m, path, &err), MLIP_EIO);
	rmdir(dir);

	mlip_batch_list_release(&m);
	mlip_batch_list_release(&l);
	free(two);
	free(one);
	release_batches(b, N_BATCHES);
}
END_TEST

START_TEST(test_writer_errors)
{
	struct mlip_batch b[N_BATCHES];
	struct mlip_batch_writer w;
	struct mlip_err err;
	make_batches(b, 24);

	/* a full disk: the error surfaces at the latest when the stream is closed */
	FILE *f = fopen("/dev/full", "wb");
	ck_assert_ptr_nonnull(f);
	int rc = mlip_batch_writer_open(&w, f, "full.mlb", CUTOFF, &err);
	for (int k = 0; k < N_BATCHES && !rc; k++)
		rc = mlip_batch_write(&w, &b[k], &err);
	if (!rc)
		rc = mlip_batch_writer_close(&w, &err);
	else
		mlip_batch_writer_release(&w);
	ck_assert_int_eq(rc, MLIP_EIO);
	ck_assert_str_eq(err.msg, "full.mlb: write error: No space left on device");
	fclose(f);

	/* a stream not open for writing fails at once */
	f = fopen("/dev/null", "rb");
	ck_assert_int_eq(mlip_batch_writer_open(&w, f, "ro.mlb", CUTOFF, &err), MLIP_EIO);
	ck_assert_msg(strncmp(err.msg, "ro.mlb: write error: ", 21) == 0, "%s", err.msg);
	mlip_batch_writer_release(&w);
	fclose(f);

	/* a reader on a write-only stream gets an i/o error, not "bad data" */
	struct mlip_batch_reader r;
	f = fopen("/dev/null", "wb");
	ck_assert_int_eq(mlip_batch_reader_open(&r, f, "wo.mlb", &err), MLIP_EIO);
	ck_assert_msg(strncmp(err.msg, "wo.mlb: read error: ", 20) == 0, "%s", err.msg);
	mlip_batch_reader_release(&r);
	fclose(f);

	/* wrong cutoff, invalid batch */
	f = tmpfile();
	ck_assert_int_eq(mlip_batch_writer_open(&w, f, "x.mlb", 5.0, &err), 0);
	ck_assert_int_eq(mlip_batch_write(&w, &b[0], &err), MLIP_EINVAL);
	mlip_batch_writer_release(&w);
	rewind(f);
	ck_assert_int_eq(mlip_batch_writer_open(&w, f, "x.mlb", CUTOFF, &err), 0);
	ck_assert_int_eq(mlip_batch_write(&w, &b[0], &err), 0);
	b[1].numbers[0] = 200;
	ck_assert_int_eq(mlip_batch_write(&w, &b[1], &err), MLIP_EDATA);
	ck_assert_str_eq(err.msg, "x.mlb: batch 2: system 1: atom 1: atomic number 200 is not an element");
	mlip_batch_writer_release(&w);
	ck_assert_int_eq(mlip_batch_writer_open(&w, f, "x.mlb", -1.0, &err), MLIP_EINVAL);
	mlip_batch_writer_release(&w);
	fclose(f);
	release_batches(b, N_BATCHES);
}
END_TEST

/* ---- the stream: broken inputs ------------------------------------------- */

START_TEST(test_broken_header)
{
	struct mlip_batch b[N_BATCHES];
	size_t len;
	make_batches(b, 31);
	unsigned char *good = write_stream(b, N_BATCHES, &len);
	unsigned char *x = malloc(len + 64);

	expect_error(good, 0, MLIP_EDATA,
		     "bad.mlb: empty input, not an mlip batch stream; run mlip-collate first");
	memcpy(x, good, len);
	x[0] = 'X';
	expect_error(x, len, MLIP_EDATA,
		     "bad.mlb: not an mlip batch stream; convert structures with mlip-collate first");
	expect_error((const unsigned char *)"{\"a\": 1}\n", 9, MLIP_EDATA,
		     "bad.mlb: not an mlip batch stream (it looks like JSON); convert structures with mlip-collate first");
	expect_error((const unsigned char *)"2\nProperties=species:S:1\n", 26, MLIP_EDATA,
		     "bad.mlb: not an mlip batch stream (it looks like text, perhaps extxyz); convert structures with mlip-collate first");
	expect_error(good, 5, MLIP_EDATA, "bad.mlb: truncated header (5 of 64 bytes)");
	expect_error(good, 40, MLIP_EDATA, "bad.mlb: truncated header (40 of 64 bytes)");

	memcpy(x, good, len);
	wr32(x + 8, 2);
	expect_error(x, len, MLIP_EDATA,
		     "bad.mlb: written by a newer mlip (version 2); this mlip reads version 1; upgrade mlip");
	wr32(x + 8, 0);
	expect_error(x, len, MLIP_EDATA,
		     "bad.mlb: unsupported batch stream version 0; this mlip reads version 1");
	memcpy(x, good, len);
	wr32(x + 12, 32);
	expect_error(x, len, MLIP_EDATA, "bad.mlb: header size 32 is not between 64 and 4096 bytes");
	wr32(x + 12, 1u << 20);
	expect_error(x, len, MLIP_EDATA, "bad.mlb: header size 1048576 is not between 64 and 4096 bytes");
	memcpy(x, good, len);
	wr64(x + 24, 4);
	expect_error(x, len, MLIP_EDATA,
		     "bad.mlb: header flags 0x4 are not understood by this mlip (version 1)");
	memcpy(x, good, len);
	wr64(x + 16, 0);
	expect_error(x, len, MLIP_EDATA, "bad.mlb: header cutoff 0 is not a positive number");
	/* reserved slots are ignored, so a later minor revision can use them */
	memcpy(x, good, len);
	memset(x + 32, 0xab, 32);
	expect_error(x, len, MLIP_OK, "");

	/* a longer header (as a future writer might produce) is skipped */
	memcpy(x, good, 64);
	memset(x + 64, 0xee, 24);
	memcpy(x + 88, good + 64, len - 64);
	wr32(x + 12, 88);
	size_t n;
	struct mlip_err err;
	ck_assert_int_eq(read_all(x, len + 24, &err, &n), 0);
	ck_assert_uint_eq(n, N_BATCHES);
	expect_error(x, 80, MLIP_EDATA, "bad.mlb: truncated header (88 bytes announced)");

	free(x);
	free(good);
	release_batches(b, N_BATCHES);
}
END_TEST

START_TEST(test_broken_records)
{
	struct mlip_batch b[N_BATCHES];
	size_t len, off[8], n;
	struct mlip_err err;
	char msg[256];
	make_batches(b, 32);
	unsigned char *good = write_stream(b, N_BATCHES, &len);
	unsigned char *x = malloc(len);
	ck_assert_uint_eq(record_offsets(good, len, off, 8), N_BATCHES + 1);
	size_t len2 = (size_t)rd64(good + off[1] + 8);

	/* truncated inside a payload, inside a record header, at a boundary */
	snprintf(msg, sizeof(msg), "bad.mlb: record 2: truncated (payload has 100 of %zu bytes)", len2);
	expect_error(good, off[1] + 16 + 100, MLIP_EDATA, msg);
	expect_error(good, off[1] + 7, MLIP_EDATA,
		     "bad.mlb: record 2: truncated record header (7 of 16 bytes)");
	expect_error(good, off[N_BATCHES], MLIP_EDATA,
		     "bad.mlb: truncated after record 3: the end-of-stream record is missing (was the writer interrupted?)");
	ck_assert_int_eq(read_all(good, off[N_BATCHES], &err, &n), MLIP_EDATA);
	ck_assert_uint_eq(n, N_BATCHES); /* every complete batch was delivered */
	expect_error(good, 64, MLIP_EDATA,
		     "bad.mlb: truncated after record 0: the end-of-stream record is missing (was the writer interrupted?)");

	/* a flipped payload byte */
	memcpy(x, good, len);
	x[off[1] + 16 + 200] ^= 0x04;
	ck_assert_int_eq(read_all(x, len, &err, &n), MLIP_EDATA);
	ck_assert_uint_eq(n, 1);
	snprintf(msg, sizeof(msg), "bad.mlb: record 2: checksum mismatch (stored %08x, computed %08x); the stream is corrupted",
		 rd32(x + off[1] + 4), crc32_bitwise(0, x + off[1] + 16, len2));
	ck_assert_str_eq(err.msg, msg);

	/* absurd lengths are refused before any allocation */
	memcpy(x, good, len);
	wr64(x + off[0] + 8, (uint64_t)1 << 62);
	expect_error(x, len, MLIP_EDATA,
		     "bad.mlb: record 1: payload length 4611686018427387904 exceeds the limit of 68719476736 bytes (corrupted stream?)");
	/*
	 * Large but within the limit: the reader must not allocate it up front.
	 * With the address space capped at 2 GiB above what the process uses
	 * now, allocating 32 GiB would fail with MLIP_ENOMEM instead of
	 * reporting the truncation.
	 */
	struct rlimit old, cap;
	unsigned long vm_pages = 0;
	FILE *statm = fopen("/proc/self/statm", "r");
	ck_assert_ptr_nonnull(statm);
	ck_assert_int_eq(fscanf(statm, "%lu", &vm_pages), 1);
	fclose(statm);
	rlim_t limit = (rlim_t)vm_pages * (rlim_t)sysconf(_SC_PAGESIZE) + ((rlim_t)2 << 30);
	ck_assert_int_eq(getrlimit(RLIMIT_AS, &old), 0);
	cap = old;
	if (cap.rlim_cur == RLIM_INFINITY || cap.rlim_cur > limit)
		cap.rlim_cur = limit;
	ck_assert_int_eq(setrlimit(RLIMIT_AS, &cap), 0);
	wr64(x + off[0] + 8, (uint64_t)1 << 35);
	snprintf(msg, sizeof(msg), "bad.mlb: record 1: truncated (payload has %zu of 34359738368 bytes)",
		 len - off[0] - 16);
	expect_error(x, len, MLIP_EDATA, msg);
	ck_assert_int_eq(setrlimit(RLIMIT_AS, &old), 0);
	wr64(x + off[0] + 8, 8);
	expect_error(x, len, MLIP_EDATA, "bad.mlb: record 1: payload of 8 bytes is too short for a batch");

	/* unknown kind, a bad end record */
	memcpy(x, good, len);
	wr32(x + off[2], 7);
	expect_error(x, len, MLIP_EDATA,
		     "bad.mlb: record 3: unknown record kind 7 (corrupted, or written by a newer mlip)");
	memcpy(x, good, len);
	wr64(x + off[3] + 16, 5);
	recrc(x + off[3]);
	expect_error(x, len, MLIP_EDATA, "bad.mlb: record 4: end record counts 5 batches but the stream has 3");
	memcpy(x, good, len);
	wr32(x + off[1], 2);
	snprintf(msg, sizeof(msg), "bad.mlb: record 2: end record has %zu payload bytes instead of 8", len2);
	expect_error(x, len, MLIP_EDATA, msg);

	free(x);
	free(good);
	release_batches(b, N_BATCHES);
}
END_TEST

/*
 * Payloads that are wrong but carry a correct CRC (a buggy writer, or
 * corruption before checksumming): the consistency checks must catch them.
 */
START_TEST(test_broken_payloads)
{
	struct mlip_batch b[N_BATCHES];
	size_t len, off[8];
	char msg[256];
	make_batches(b, 33);
	unsigned char *good = write_stream(b, N_BATCHES, &len);
	unsigned char *x = malloc(len);
	ck_assert_uint_eq(record_offsets(good, len, off, 8), N_BATCHES + 1);
	/* record 1 holds systems 0 (periodic, all labels) and 1 (molecule, energy only) */
	unsigned char *rec = x + off[0], *p = rec + 16;
	struct lay L = lay_of(good + off[0] + 16);
	const struct mlip_batch *b0 = &b[0];
	size_t plen = L.total;
	ck_assert_uint_eq(b0->n_systems, 2);

#define RESET() memcpy(x, good, len)
#define EXPECT(text) do { recrc(rec); expect_error(x, len, MLIP_EDATA, text); } while (0)
	RESET();
	wr64(p + 8, b0->n_atoms + 1);
	snprintf(msg, sizeof(msg),
		 "bad.mlb: record 1: counts (2 systems, %zu atoms, %zu edges, %llu string bytes) need %zu payload bytes but the record has %zu",
		 b0->n_atoms + 1, b0->n_edges, (unsigned long long)rd64(p + 24),
		 (L.end + 53 + 7) / 8 * 8, plen);
	EXPECT(msg);

	RESET();
	wr64(p, 0);
	EXPECT("bad.mlb: record 1: batch has no systems");

	RESET();
	wr64(p + 16, (uint64_t)1 << 40);
	snprintf(msg, sizeof(msg),
		 "bad.mlb: record 1: counts (2 systems, %zu atoms, 1099511627776 edges, %llu string bytes) do not fit in %zu payload bytes",
		 b0->n_atoms, (unsigned long long)rd64(p + 24), plen);
	EXPECT(msg);

	RESET();
	wr32(p + L.natoms, b0->natoms[0] + 1);
	snprintf(msg, sizeof(msg), "bad.mlb: record 1: atoms per system sum to %zu but the record has %zu atoms",
		 b0->n_atoms + 1, b0->n_atoms);
	EXPECT(msg);

	RESET();
	wr32(p + L.nedges + 4, b0->nedges[1] + 2);
	snprintf(msg, sizeof(msg), "bad.mlb: record 1: edges per system sum to %zu but the record has %zu edges",
		 b0->n_edges + 2, b0->n_edges);
	EXPECT(msg);

	/* edge counts that sum up but put system 2's first edge into system 1 */
	RESET();
	wr32(p + L.nedges, b0->nedges[0] + 1);
	wr32(p + L.nedges + 4, b0->nedges[1] - 1);
	snprintf(msg, sizeof(msg),
		 "bad.mlb: record 1: system 1: edge %u: atom index %d is outside the system's atoms 0..%u",
		 b0->nedges[0] + 1, b0->edge_i[b0->edge_start[1]], b0->natoms[0] - 1);
	EXPECT(msg);

	/* an atom index beyond the batch */
	RESET();
	wr32(p + L.edge_j, (uint32_t)b0->n_atoms + 5);
	snprintf(msg, sizeof(msg),
		 "bad.mlb: record 1: system 1: edge 1: atom index %zu is outside the system's atoms 0..%u",
		 b0->n_atoms + 5, b0->natoms[0] - 1);
	EXPECT(msg);
	RESET();
	wr32(p + L.edge_i + 4, (uint32_t)-3);
	EXPECT("bad.mlb: record 1: system 1: edge 2: atom index -3 is outside the system's atoms 0..7");

	/* strings */
	RESET();
	wr32(p + L.dlen, 70000);
	EXPECT("bad.mlb: record 1: system 1: dataset name of 70000 bytes is longer than the limit of 65535");
	RESET();
	wr32(p + L.ilen + 4, 1000);
	snprintf(msg, sizeof(msg),
		 "bad.mlb: record 1: system 2: strings run past the %llu string bytes of the record",
		 (unsigned long long)rd64(p + 24));
	EXPECT(msg);
	RESET();
	p[L.strings + 1] = 0;
	EXPECT("bad.mlb: record 1: system 1: dataset name contains a NUL byte");
	RESET();
	wr32(p + L.dlen, rd32(p + L.dlen) - 1);
	wr32(p + L.ilen, rd32(p + L.ilen) + 1); /* "s" + "isi.xyz:1": consistent sum, other strings */
	ck_assert_int_eq(read_all(x, len, &(struct mlip_err){ 0 }, &(size_t){ 0 }), MLIP_EDATA); /* CRC */
	recrc(rec);
	{
		struct mlip_batch_reader r;
		struct mlip_batch got;
		struct mlip_err err;
		FILE *f = file_of(x, len);
		mlip_batch_init(&got);
		ck_assert_int_eq(mlip_batch_reader_open(&r, f, "bad.mlb", &err), 0);
		ck_assert_int_eq(mlip_batch_read_next(&r, &got, &err), 1);
		ck_assert_str_eq(got.dataset[0], "s");
		ck_assert_str_eq(got.id[0], "isi.xyz:1");
		mlip_batch_release(&got);
		mlip_batch_reader_release(&r);
		fclose(f);
	}

	/* absent labels must be stored as zero; present ones must be finite */
	RESET();
	p[L.energy + 8 + 3] = 1; /* system 2 has an energy: fine */
	p[L.stress + 72 + 3] = 1; /* system 2 has no stress */
	EXPECT("bad.mlb: record 1: system 2: stress is absent but not stored as zero");
	RESET();
	p[L.forces + 24 * b0->natoms[0] + 7] = 0x80; /* -0.0 is not +0.0 */
	EXPECT("bad.mlb: record 1: system 2: forces is absent but not stored as zero");
	RESET();
	wr64(p + L.energy, 0x7ff8000000000000ull);
	EXPECT("bad.mlb: record 1: system 1: energy is not finite");

	/* per-item values */
	RESET();
	wr32(p + L.numbers, 0);
	EXPECT("bad.mlb: record 1: system 1: atom 1: atomic number 0 is not an element");
	RESET();
	wr32(p + L.natoms + 4, 0);
	wr32(p + L.natoms, b0->n_atoms);
	EXPECT("bad.mlb: record 1: system 2 has no atoms");
	RESET();
	wr32(p + L.has + 4, rd32(p + L.has + 4) | 0x10);
	EXPECT("bad.mlb: record 1: system 2: unknown label bits 0x10");
	RESET();
	p[L.pbc + 4] = 2;
	EXPECT("bad.mlb: record 1: system 2: pbc flag 2 is 2, not 0 or 1");
	RESET();
	p[L.fixed + 1] = 7;
	EXPECT("bad.mlb: record 1: system 1: atom 2: fixed flag is 7, not 0 or 1");
	RESET();
	memset(p + L.cell, 0, 72);
	EXPECT("bad.mlb: record 1: system 1: cell is singular but the system is periodic");
	RESET();
	p[L.pbc + 3] = 1; /* the molecule becomes periodic along a: no cell */
	EXPECT("bad.mlb: record 1: system 2: cell is singular but the system is periodic");
	if (L.end < L.total) {
		RESET();
		p[L.total - 1] = 1;
		snprintf(msg, sizeof(msg), "bad.mlb: record 1: padding byte %zu is not zero", L.total - 1);
		EXPECT(msg);
	}
	/* a self-edge in the home cell */
	RESET();
	wr32(p + L.edge_j, rd32(p + L.edge_i));
	memset(p + L.edge_shift, 0, 12);
	snprintf(msg, sizeof(msg), "bad.mlb: record 1: system 1: edge 1 joins atom %d to itself in the home cell",
		 b0->edge_i[0]);
	EXPECT(msg);
#undef EXPECT
#undef RESET
	free(x);
	free(good);
	release_batches(b, N_BATCHES);
}
END_TEST

/*
 * Every single-bit flip outside the reserved header slots, and every
 * truncation, of a small stream is reported as bad data (never accepted,
 * never a crash).
 */
START_TEST(test_every_flip_and_cut)
{
	struct mlip_batch b[N_BATCHES];
	struct mlip_err err;
	size_t len, n;
	make_batches(b, 34);
	unsigned char *good = write_stream(b, 2, &len);
	unsigned char *x = malloc(len);
	uint64_t rng = 5;
	for (size_t pos = 0; pos < len; pos++) {
		if (pos >= 32 && pos < 64)
			continue;
		memcpy(x, good, len);
		x[pos] ^= (unsigned char)(1u << (test_rand_u64(&rng) % 8));
		int rc = read_all(x, len, &err, &n);
		ck_assert_msg(rc == MLIP_EDATA, "flip at byte %zu accepted (rc %d)", pos, rc);
		ck_assert_msg(strncmp(err.msg, "bad.mlb: ", 9) == 0, "%s", err.msg);
	}
	for (size_t cut = 0; cut < len; cut++) {
		int rc = read_all(good, cut, &err, &n);
		ck_assert_msg(rc == MLIP_EDATA, "cut at %zu accepted (rc %d)", cut, rc);
	}
	ck_assert_int_eq(read_all(good, len, &err, &n), 0);
	ck_assert_uint_eq(n, 2);
	free(x);
	free(good);
	release_batches(b, N_BATCHES);
}
END_TEST

/* ---- the store: batches read on demand from indexed files ---------------- */

/* Write bytes to a new file in dir; returns its path (static buffer). */
static const char *put_file(const char *dir, const unsigned char *bytes, size_t len)
{
	static char path[96];
	snprintf(path, sizeof(path), "%s/bad.mlb", dir);
	FILE *f = fopen(path, "wb");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(bytes, 1, len, f), len);
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

/* Open path as a store and read every batch; the first error, 0 if all is well. */
static int store_read_all(const char *path, struct mlip_err *err, size_t *n)
{
	struct mlip_batch_store s;
	struct mlip_batch scratch;
	char *paths[1] = { (char *)path };
	int rc;
	mlip_batch_store_init(&s);
	mlip_batch_init(&scratch);
	mlip_err_clear(err);
	rc = mlip_batch_store_open(&s, paths, 1, 1, err);
	*n = s.n;
	for (size_t k = 0; !rc && k < s.n; k++)
		if (!mlip_batch_store_get(&s, k, &scratch, err))
			rc = err->code;
	mlip_batch_release(&scratch);
	mlip_batch_store_release(&s);
	return rc;
}

START_TEST(test_store)
{
	struct mlip_batch b[N_BATCHES], scratch;
	struct mlip_batch_store s;
	struct mlip_err err;
	size_t len;
	make_batches(b, 41);
	unsigned char *one = write_stream(b, N_BATCHES, &len);
	unsigned char *two = malloc(2 * len);
	memcpy(two, one, len);
	memcpy(two + len, one, len);
	char dir[] = "/tmp/mlip-store-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	char a[96], c[96];
	snprintf(a, sizeof(a), "%s/a.mlb", dir);
	snprintf(c, sizeof(c), "%s/c.mlb", dir);
	rename(put_file(dir, two, 2 * len), a); /* `cat x.mlb x.mlb`: two streams in one file */
	rename(put_file(dir, one, len), c);
	char *paths[2] = { a, c };

	/* indexed: batches in file order, equal to what the reader decodes, in any order */
	mlip_batch_store_init(&s);
	mlip_batch_init(&scratch);
	ck_assert_int_eq(mlip_batch_store_open(&s, paths, 2, 1, &err), 0);
	ck_assert_uint_eq(s.n, 3 * N_BATCHES);
	ck_assert(s.cutoff == CUTOFF);
	ck_assert_uint_eq(s.decoded, 0);
	size_t atoms = 0, systems = 0, max_atoms = 0;
	for (size_t k = 0; k < N_BATCHES; k++) {
		atoms += 3 * b[k].n_atoms;
		systems += 3 * b[k].n_systems;
		if (b[k].n_atoms > max_atoms)
			max_atoms = b[k].n_atoms;
	}
	ck_assert_uint_eq(s.total_atoms, atoms);
	ck_assert_uint_eq(s.total_systems, systems);
	ck_assert_uint_eq(s.max_atoms, max_atoms);
	for (size_t i = 0; i < 2 * s.n; i++) {
		size_t k = (7 * i + 3) % s.n;
		const struct mlip_batch *got = mlip_batch_store_get(&s, k, &scratch, &err);
		ck_assert_msg(got == &scratch, "batch %zu: %s", k, got ? "not decoded" : err.msg);
		ck_assert_msg(!batch_diff(got, &b[k % N_BATCHES]), "batch %zu: %s", k,
			      batch_diff(got, &b[k % N_BATCHES]));
		ck_assert_uint_eq(mlip_batch_store_atoms(&s, k), b[k % N_BATCHES].n_atoms);
		ck_assert_uint_eq(mlip_batch_store_systems(&s, k), b[k % N_BATCHES].n_systems);
	}
	ck_assert_uint_eq(s.decoded, 2 * s.n);
	ck_assert_ptr_null(mlip_batch_store_get(&s, s.n, &scratch, &err));
	ck_assert_int_eq(err.code, MLIP_EINVAL);
	mlip_batch_store_release(&s);

	/* read whole (seek 0, as for a pipe): the same batches, none decoded on demand */
	ck_assert_int_eq(mlip_batch_store_open(&s, paths, 2, 0, &err), 0);
	ck_assert_uint_eq(s.n, 3 * N_BATCHES);
	for (size_t k = 0; k < s.n; k++) {
		const struct mlip_batch *got = mlip_batch_store_get(&s, k, &scratch, &err);
		ck_assert_ptr_nonnull(got);
		ck_assert(got != &scratch);
		ck_assert_ptr_null(batch_diff(got, &b[k % N_BATCHES]));
	}
	ck_assert_uint_eq(s.decoded, 0);
	mlip_batch_store_release(&s);

	/* a payload changed after indexing is caught when read, naming file and record */
	ck_assert_int_eq(mlip_batch_store_open(&s, paths, 2, 1, &err), 0);
	size_t off[8];
	record_offsets(one, len, off, 8);
	FILE *f = fopen(c, "r+b");
	fseek(f, (long)(off[1] + 16 + 50), SEEK_SET);
	fputc(one[off[1] + 16 + 50] ^ 4, f);
	fclose(f);
	ck_assert_ptr_nonnull(mlip_batch_store_get(&s, 2 * N_BATCHES, &scratch, &err));
	ck_assert_ptr_null(mlip_batch_store_get(&s, 2 * N_BATCHES + 1, &scratch, &err));
	ck_assert_int_eq(err.code, MLIP_EDATA);
	char want[160];
	snprintf(want, sizeof(want), "%s: record 2: checksum mismatch", c);
	ck_assert_msg(strncmp(err.msg, want, strlen(want)) == 0, "%s", err.msg);
	mlip_batch_store_release(&s);

	/* a file gone after indexing: reading from it says so */
	ck_assert_int_eq(mlip_batch_store_open(&s, paths, 2, 1, &err), 0);
	ck_assert_ptr_nonnull(mlip_batch_store_get(&s, 0, &scratch, &err));
	unlink(c);
	ck_assert_ptr_null(mlip_batch_store_get(&s, 2 * N_BATCHES, &scratch, &err));
	ck_assert_int_eq(err.code, MLIP_EIO);
	snprintf(want, sizeof(want), "cannot open '%s' again: ", c);
	ck_assert_msg(strncmp(err.msg, want, strlen(want)) == 0, "%s", err.msg);
	mlip_batch_store_release(&s);

	/* skimming needs a file that seeks: a pipe is refused */
	int fds[2];
	ck_assert_int_eq(pipe(fds), 0);
	ck_assert_int_eq(write(fds[1], one, MLIP_BATCH_HEADER_BYTES + 64), (ssize_t)(MLIP_BATCH_HEADER_BYTES + 64));
	close(fds[1]);
	FILE *pf = fdopen(fds[0], "rb");
	struct mlip_batch_reader pr;
	struct mlip_batch_extent x;
	ck_assert_int_eq(mlip_batch_reader_open(&pr, pf, "pipe", &err), 0);
	ck_assert_int_eq(mlip_batch_reader_skim(&pr, &x, &err), MLIP_EINVAL);
	ck_assert_msg(strstr(err.msg, "pipe: cannot seek in it") != NULL, "%s", err.msg);
	mlip_batch_reader_release(&pr);
	fclose(pf);

	/* streams of different cutoffs do not mix */
	for (size_t k = 0; k < N_BATCHES; k++)
		b[k].cutoff = 2 * CUTOFF;
	unsigned char *other = write_stream(b, N_BATCHES, &len);
	rename(put_file(dir, other, len), c);
	ck_assert_int_eq(mlip_batch_store_open(&s, paths, 2, 1, &err), MLIP_EDATA);
	ck_assert_msg(strstr(err.msg, "cutoff") != NULL, "%s", err.msg);
	mlip_batch_store_release(&s);

	unlink(a);
	unlink(c);
	rmdir(dir);
	mlip_batch_release(&scratch);
	free(other);
	free(two);
	free(one);
	release_batches(b, N_BATCHES);
}
END_TEST

/* A set of more files than the process may have open at once: one file is open at a time. */
START_TEST(test_store_many_files)
{
	struct mlip_batch b[N_BATCHES], scratch;
	struct mlip_batch_store s;
	struct mlip_err err;
	struct rlimit old, low;
	enum { FILES = 48 };
	char dir[] = "/tmp/mlip-store-XXXXXX", *paths[FILES];
	size_t len;
	make_batches(b, 43);
	ck_assert_ptr_nonnull(mkdtemp(dir));
	for (size_t k = 0; k < FILES; k++) {
		unsigned char *one = write_stream(&b[k % N_BATCHES], 1, &len);
		paths[k] = malloc(96);
		snprintf(paths[k], 96, "%s/f%zu.mlb", dir, k);
		rename(put_file(dir, one, len), paths[k]);
		free(one);
	}
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = 24; /* fewer than the files */
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	mlip_batch_store_init(&s);
	mlip_batch_init(&scratch);
	int rc = mlip_batch_store_open(&s, paths, FILES, 1, &err);
	ck_assert_msg(rc == 0, "%s", err.msg);
	ck_assert_uint_eq(s.n, FILES);
	for (size_t i = 0; i < 2 * FILES; i++) {
		size_t k = (5 * i + 1) % FILES;
		const struct mlip_batch *got = mlip_batch_store_get(&s, k, &scratch, &err);
		ck_assert_msg(got != NULL, "batch %zu: %s", k, err.msg);
		ck_assert_ptr_null(batch_diff(got, &b[k % N_BATCHES]));
	}
	mlip_batch_store_release(&s);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	for (size_t k = 0; k < FILES; k++) {
		unlink(paths[k]);
		free(paths[k]);
	}
	rmdir(dir);
	mlip_batch_release(&scratch);
	release_batches(b, N_BATCHES);
}
END_TEST

/* The store refuses every flipped bit and every cut the reader refuses (when opened or read). */
START_TEST(test_store_every_flip_and_cut)
{
	struct mlip_batch b[N_BATCHES];
	struct mlip_err err;
	size_t len, n;
	make_batches(b, 34);
	unsigned char *good = write_stream(b, 2, &len);
	unsigned char *x = malloc(len);
	uint64_t rng = 5;
	char dir[] = "/tmp/mlip-store-XXXXXX";
	ck_assert_ptr_nonnull(mkdtemp(dir));
	const char *path = NULL;
	for (size_t pos = 0; pos < len; pos++) {
		if (pos >= 32 && pos < 64)
			continue;
		memcpy(x, good, len);
		x[pos] ^= (unsigned char)(1u << (test_rand_u64(&rng) % 8));
		path = put_file(dir, x, len);
		int rc = store_read_all(path, &err, &n);
		ck_assert_msg(rc == MLIP_EDATA, "flip at byte %zu accepted (rc %d)", pos, rc);
		ck_assert_msg(strncmp(err.msg, path, strlen(path)) == 0, "%s", err.msg);
	}
	for (size_t cut = 0; cut < len; cut++) {
		path = put_file(dir, good, cut);
		int rc = store_read_all(path, &err, &n);
		ck_assert_msg(rc == MLIP_EDATA, "cut at %zu accepted (rc %d: %s)", cut, rc, err.msg);
	}
	path = put_file(dir, good, len);
	ck_assert_int_eq(store_read_all(path, &err, &n), 0);
	ck_assert_uint_eq(n, 2);
	unlink(path);
	rmdir(dir);
	free(x);
	free(good);
	release_batches(b, N_BATCHES);
}
END_TEST

/* ---- throughput ----------------------------------------------------------- */

START_TEST(test_throughput)
{
	enum { NB = 8 };
	struct mlip_batch b[NB];
	uint64_t rng = 77;
	for (int k = 0; k < NB; k++)
		make_big_batch(&b[k], &rng, 16, 2000, 40000); /* ~16 MB per record */
	struct mlip_batch_writer w;
	struct mlip_batch_reader r;
	struct mlip_batch got;
	struct mlip_err err;

	/* a temporary file (page cache), not open_memstream, whose growth dominates */
	FILE *f = tmpfile();
	ck_assert_ptr_nonnull(f);
	double t0 = now();
	ck_assert_int_eq(mlip_batch_writer_open(&w, f, "big", CUTOFF, &err), 0);
	for (int k = 0; k < NB; k++)
		ck_assert_int_eq(mlip_batch_write(&w, &b[k], &err), 0);
	ck_assert_int_eq(mlip_batch_writer_close(&w, &err), 0);
	double tw = now() - t0;
	long size = ftell(f);
	rewind(f);
	mlip_batch_init(&got);
	t0 = now();
	ck_assert_int_eq(mlip_batch_reader_open(&r, f, "big", &err), 0);
	double tr = 0;
	for (int k = 0; k < NB; k++) {
		double t1 = now();
		ck_assert_int_eq(mlip_batch_read_next(&r, &got, &err), 1);
		tr += now() - t1;
		ck_assert_ptr_null(batch_diff(&got, &b[k]));
	}
	ck_assert_int_eq(mlip_batch_read_next(&r, &got, &err), 0);
	fclose(f);
	fprintf(stderr, "batch: %.0f MB stream: write %.0f MB/s, read (crc + checks) %.0f MB/s\n",
		size / 1e6, size / 1e6 / tw, size / 1e6 / tr);
	mlip_batch_release(&got);
	mlip_batch_reader_release(&r);
	release_batches(b, NB);
}
END_TEST

Suite *suite_batch(void)
{
	Suite *s = suite_create("batch");
	TCase *tc = tcase_create("crc");
	tcase_add_test(tc, test_crc32);
	suite_add_tcase(s, tc);

	tc = tcase_create("collate");
	tcase_add_test(tc, test_collate_edges);
	tcase_add_test(tc, test_collate_exclude);
	tcase_add_test(tc, test_collate_errors);
	tcase_add_test(tc, test_get_structure);
	tcase_add_test(tc, test_append);
	tcase_add_test(tc, test_validate);
	suite_add_tcase(s, tc);

	tc = tcase_create("stream");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_roundtrip_memory);
	tcase_add_test(tc, test_roundtrip_pipe);
	tcase_add_test(tc, test_concatenated_and_list);
	tcase_add_test(tc, test_store);
	tcase_add_test(tc, test_store_many_files);
	tcase_add_test(tc, test_writer_errors);
	tcase_add_test(tc, test_throughput);
	suite_add_tcase(s, tc);

	tc = tcase_create("broken");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_broken_header);
	tcase_add_test(tc, test_broken_records);
	tcase_add_test(tc, test_broken_payloads);
	tcase_add_test(tc, test_every_flip_and_cut);
	tcase_add_test(tc, test_store_every_flip_and_cut);
	suite_add_tcase(s, tc);
	return s;
}
