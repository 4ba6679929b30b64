/*
 * batch.c - batches of structures (collation, validation, merging) and the
 * .mlb batch stream (writer, reader, CRC-32).
 *
 * Conventions. In memory a batch is one array per quantity (see batch.h);
 * system k owns atoms [atom_start[k], atom_start[k+1]) and edges
 * [edge_start[k], edge_start[k+1]), and edge atom indices are batch-global.
 * On disk every integer and float is little-endian, written through the
 * put_* / get_* helpers below (a plain memcpy on little-endian hosts, byte
 * shifts elsewhere). Messages about a stream read "PATH: record N: what is
 * wrong", with N the 1-based number of the record in the file; messages
 * about a batch name the 1-based system ("system 3: ..."), and atom indices
 * inside edges are the stored 0-based batch-global ones.
 *
 * Byte layout of a .mlb stream, version 1 (also man 5 mlip-batch). Offsets
 * in bytes; f64 is IEEE 754 binary64; B systems, N atoms, E edges.
 *
 *  1. Header, 64 bytes.
 *     1.1  offset  0: 8 bytes   magic "MLIPBAT\n" (4d 4c 49 50 42 41 54 0a)
 *     1.2  offset  8: u32       version, 1
 *     1.3  offset 12: u32       header_bytes, 64 (a reader skips bytes past 64,
 *                               up to MLIP_BATCH_MAX_HEADER)
 *     1.4  offset 16: f64       cutoff in Å of every neighbour list, > 0
 *     1.5  offset 24: u64       flags, 0 (a reader refuses bits it does not know)
 *     1.6  offset 32: 4 × u64   reserved, written as 0, ignored on reading
 *
 *  2. Records, back to back after the header until the end record.
 *     2.1  offset  0: u32       kind: 1 = batch, 2 = end of stream
 *     2.2  offset  4: u32       CRC-32 (IEEE, as zlib) of the payload bytes
 *     2.3  offset  8: u64       payload_bytes (at most MLIP_BATCH_MAX_RECORD)
 *     2.4  offset 16:           payload
 *
 *  3. Batch payload (kind 1), arrays back to back in this order:
 *     3.1  u64 B (≥ 1)   3.2 u64 N   3.3 u64 E   3.4 u64 S (string bytes)
 *     3.5  f64 cutoff, equal to the header's (which no checksum covers)
 *     3.6  f64 cell[B][9]          rows a, b, c
 *     3.7  f64 energy[B]           eV; 0 where the label is absent
 *     3.8  f64 stress[B][9]        eV/Å³, ASE sign; 0 where absent
 *     3.9  f64 positions[N][3]     Å
 *     3.10 f64 forces[N][3]        eV/Å; 0 where absent
 *     3.11 u32 natoms[B]           ≥ 1, summing to N
 *     3.12 u32 nedges[B]           summing to E
 *     3.13 u32 has[B]              label bits: 1 energy, 2 forces, 4 stress
 *     3.14 u32 dataset_len[B]      1 .. MLIP_BATCH_MAX_STRING
 *     3.15 u32 id_len[B]           0 .. MLIP_BATCH_MAX_STRING
 *     3.16 i32 numbers[N]          atomic numbers 1..118
 *     3.17 i32 edge_i[E]           batch-global central atom
 *     3.18 i32 edge_j[E]           batch-global neighbour atom
 *     3.19 i32 edge_shift[E][3]    image of j in cell vectors
 *     3.20 u8  pbc[B][3]           0 or 1
 *     3.21 u8  fixed[N]            0 or 1
 *     3.22 strings, S bytes: for each system its dataset name then its id,
 *          without terminators, no NUL bytes
 *     3.23 zero padding to a multiple of 8 bytes
 *     So payload_bytes = pad8(40 + 8·(19B + 6N) + 4·(5B + N + 5E) + 3B + N + S),
 *     and every f64 array stays 8-byte aligned in the file.
 *
 *  4. End payload (kind 2), 8 bytes: u64 number of batch records in the stream.
 *
 *  5. What a reader checks, in order: the magic, the version, header_bytes,
 *     the cutoff and flags; per record the kind, the length against the kind
 *     and MLIP_BATCH_MAX_RECORD (before allocating anything), that the whole
 *     payload arrives, its CRC; then that the counts match payload_bytes,
 *     the per-system counts sum to N and E, the strings are within bounds and
 *     free of NUL bytes, the padding and absent labels are zero, and finally
 *     the cutoff equals the header's, and mlip_batch_validate. End of file
 *     before the end record is an error.
 */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "batch.h"
#include "le.h"
#include "outfile.h"
#include "elements.h"
#include "nlist.h"
#include "banned.h"

#define HAS_ALL (MLIP_HAS_ENERGY | MLIP_HAS_FORCES | MLIP_HAS_STRESS)
#define RECORD_HEADER_BYTES 16u
#define BATCH_COUNTS_BYTES 40u

int mlip_batch_portable_io;

/* ---- little-endian encoding ------------------------------------------- */

#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__) && \
	__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HOST_LITTLE_ENDIAN 1
#else
#define HOST_LITTLE_ENDIAN 0
#endif

static int fast_io(void)
{
	return HOST_LITTLE_ENDIAN && !mlip_batch_portable_io;
}

static unsigned char *put_f64s(unsigned char *p, const double *x, size_t n)
{
	if (n && fast_io())
		memcpy(p, x, 8 * n);
	else
		for (size_t k = 0; k < n; k++)
			mlip_put_f64(p + 8 * k, x[k]);
	return p + 8 * n;
}

static unsigned char *put_u32s(unsigned char *p, const uint32_t *x, size_t n)
{
	if (n && fast_io())
		memcpy(p, x, 4 * n);
	else
		for (size_t k = 0; k < n; k++)
			mlip_put_u32(p + 4 * k, x[k]);
	return p + 4 * n;
}

/* int32_t is two's complement and may be accessed as uint32_t (C11 6.5p7): same bytes. */
static unsigned char *put_i32s(unsigned char *p, const int32_t *x, size_t n)
{
	return put_u32s(p, (const uint32_t *)x, n);
}

static unsigned char *put_u8s(unsigned char *p, const uint8_t *x, size_t n)
{
	if (n)
		memcpy(p, x, n);
	return p + n;
}

static const unsigned char *get_f64s(double *x, const unsigned char *p, size_t n)
{
	if (n && fast_io())
		memcpy(x, p, 8 * n);
	else
		for (size_t k = 0; k < n; k++)
			x[k] = mlip_get_f64(p + 8 * k);
	return p + 8 * n;
}

static const unsigned char *get_u32s(uint32_t *x, const unsigned char *p, size_t n)
{
	if (n && fast_io())
		memcpy(x, p, 4 * n);
	else
		for (size_t k = 0; k < n; k++)
			x[k] = mlip_get_u32(p + 4 * k);
	return p + 4 * n;
}

static const unsigned char *get_i32s(int32_t *x, const unsigned char *p, size_t n)
{
	return get_u32s((uint32_t *)x, p, n);
}

static const unsigned char *get_u8s(uint8_t *x, const unsigned char *p, size_t n)
{
	if (n)
		memcpy(x, p, n);
	return p + n;
}

/* ---- CRC-32 (IEEE 802.3, reflected, polynomial 0xedb88320) ------------- */

/*
 * Slicing-by-8: table t maps a byte to the CRC contribution it has when it
 * is followed by t zero bytes, so eight table look-ups consume eight bytes.
 */
static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
	for (uint32_t n = 0; n < 256; n++) {
		uint32_t c = n;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? 0xedb88320u ^ (c >> 1) : c >> 1;
		crc_table[0][n] = c;
	}
	for (uint32_t n = 0; n < 256; n++)
		for (int t = 1; t < 8; t++) {
			uint32_t c = crc_table[t - 1][n];
			crc_table[t][n] = (c >> 8) ^ crc_table[0][c & 0xff];
		}
}

uint32_t mlip_crc32(uint32_t crc, const void *data, size_t n)
{
	const unsigned char *p = data;
	uint32_t c = ~crc;
	pthread_once(&crc_once, crc_init);
	while (n >= 8) {
		uint32_t a = c ^ mlip_get_u32(p), b = mlip_get_u32(p + 4);
		c = crc_table[7][a & 0xff] ^ crc_table[6][(a >> 8) & 0xff] ^
		    crc_table[5][(a >> 16) & 0xff] ^ crc_table[4][a >> 24] ^
		    crc_table[3][b & 0xff] ^ crc_table[2][(b >> 8) & 0xff] ^
		    crc_table[1][(b >> 16) & 0xff] ^ crc_table[0][b >> 24];
		p += 8;
		n -= 8;
	}
	while (n--)
		c = crc_table[0][(c ^ *p++) & 0xff] ^ (c >> 8);
	return ~c;
}

/* ---- the in-memory batch ---------------------------------------------- */

void mlip_batch_init(struct mlip_batch *b)
{
	memset(b, 0, sizeof(*b));
}

void mlip_batch_release(struct mlip_batch *b)
{
	for (size_t k = 0; k < b->n_systems; k++) {
		if (b->dataset)
			free(b->dataset[k]);
		if (b->id)
			free(b->id[k]);
	}
	free(b->natoms);
	free(b->nedges);
	free(b->atom_start);
	free(b->edge_start);
	free(b->has);
	free(b->pbc);
	free(b->cell);
	free(b->energy);
	free(b->stress);
	free(b->numbers);
	free(b->positions);
	free(b->forces);
	free(b->fixed);
	free(b->edge_i);
	free(b->edge_j);
	free(b->edge_shift);
	free(b->dataset);
	free(b->id);
	mlip_batch_init(b);
}

/* calloc that never returns NULL for a zero count, so NULL always means failure */
static void *zalloc(size_t n, size_t size)
{
	return calloc(n ? n : 1, size);
}

int mlip_batch_alloc(struct mlip_batch *b, size_t B, size_t N, size_t E, struct mlip_err *err)
{
	mlip_batch_release(b);
	if (B > SIZE_MAX / 16 || N > SIZE_MAX / 32 || E > SIZE_MAX / 16)
		return mlip_err_set(err, MLIP_ENOMEM, "batch of %zu systems, %zu atoms and %zu edges is too large",
				    B, N, E);
	b->natoms = zalloc(B, sizeof(*b->natoms));
	b->nedges = zalloc(B, sizeof(*b->nedges));
	b->atom_start = zalloc(B + 1, sizeof(*b->atom_start));
	b->edge_start = zalloc(B + 1, sizeof(*b->edge_start));
	b->has = zalloc(B, sizeof(*b->has));
	b->pbc = zalloc(3 * B, sizeof(*b->pbc));
	b->cell = zalloc(9 * B, sizeof(*b->cell));
	b->energy = zalloc(B, sizeof(*b->energy));
	b->stress = zalloc(9 * B, sizeof(*b->stress));
	b->numbers = zalloc(N, sizeof(*b->numbers));
	b->positions = zalloc(3 * N, sizeof(*b->positions));
	b->forces = zalloc(3 * N, sizeof(*b->forces));
	b->fixed = zalloc(N, sizeof(*b->fixed));
	b->edge_i = zalloc(E, sizeof(*b->edge_i));
	b->edge_j = zalloc(E, sizeof(*b->edge_j));
	b->edge_shift = zalloc(3 * E, sizeof(*b->edge_shift));
	b->dataset = zalloc(B, sizeof(*b->dataset));
	b->id = zalloc(B, sizeof(*b->id));
	b->n_systems = B;
	b->n_atoms = N;
	b->n_edges = E;
	if (!b->natoms || !b->nedges || !b->atom_start || !b->edge_start || !b->has || !b->pbc ||
	    !b->cell || !b->energy || !b->stress || !b->numbers || !b->positions || !b->forces ||
	    !b->fixed || !b->edge_i || !b->edge_j || !b->edge_shift || !b->dataset || !b->id) {
		mlip_batch_release(b);
		return mlip_err_set(err, MLIP_ENOMEM,
				    "out of memory for a batch of %zu systems, %zu atoms and %zu edges",
				    B, N, E);
	}
	return MLIP_OK;
}

void mlip_batch_index(struct mlip_batch *b)
{
	b->atom_start[0] = 0;
	b->edge_start[0] = 0;
	for (size_t k = 0; k < b->n_systems; k++) {
		b->atom_start[k + 1] = b->atom_start[k] + b->natoms[k];
		b->edge_start[k + 1] = b->edge_start[k] + b->nedges[k];
	}
}

static int all_finite(const double *x, size_t n, size_t *bad)
{
	for (size_t k = 0; k < n; k++)
		if (!isfinite(x[k])) {
			*bad = k;
			return 0;
		}
	return 1;
}

static int validate_strings(const struct mlip_batch *b, size_t k, struct mlip_err *err)
{
	const char *d = b->dataset[k], *id = b->id[k];
	if (!d || !*d)
		return mlip_err_set(err, MLIP_EDATA, "system %zu: dataset name is empty", k + 1);
	if (!id)
		return mlip_err_set(err, MLIP_EDATA, "system %zu: id is missing", k + 1);
	if (strlen(d) > MLIP_BATCH_MAX_STRING)
		return mlip_err_set(err, MLIP_EDATA,
				    "system %zu: dataset name of %zu bytes is longer than the limit of %u",
				    k + 1, strlen(d), MLIP_BATCH_MAX_STRING);
	if (strlen(id) > MLIP_BATCH_MAX_STRING)
		return mlip_err_set(err, MLIP_EDATA,
				    "system %zu: id of %zu bytes is longer than the limit of %u",
				    k + 1, strlen(id), MLIP_BATCH_MAX_STRING);
	return MLIP_OK;
}

static int validate_system(const struct mlip_batch *b, size_t k, struct mlip_err *err)
{
	size_t a0 = b->atom_start[k], a1 = b->atom_start[k + 1], bad;
	const uint8_t *pbc = b->pbc + 3 * k;
	int rc;
	if (b->natoms[k] == 0)
		return mlip_err_set(err, MLIP_EDATA, "system %zu has no atoms", k + 1);
	if (b->natoms[k] > MLIP_MAX_ATOMS) /* the structure readers' limit, for streams made elsewhere */
		return mlip_err_set(err, MLIP_EDATA, "system %zu has %u atoms, over the limit of %u "
				    "atoms per structure", k + 1, (unsigned)b->natoms[k], MLIP_MAX_ATOMS);
	if (b->has[k] & ~(uint32_t)HAS_ALL)
		return mlip_err_set(err, MLIP_EDATA, "system %zu: unknown label bits 0x%x", k + 1,
				    (unsigned)(b->has[k] & ~(uint32_t)HAS_ALL));
	for (int x = 0; x < 3; x++)
		if (pbc[x] > 1)
			return mlip_err_set(err, MLIP_EDATA, "system %zu: pbc flag %d is %u, not 0 or 1",
					    k + 1, x + 1, (unsigned)pbc[x]);
	if (!all_finite(b->cell + 9 * k, 9, &bad))
		return mlip_err_set(err, MLIP_EDATA, "system %zu: cell is not finite", k + 1);
	if (pbc[0] || pbc[1] || pbc[2]) {
		double inv[9];
		if (mlip_mat3_inverse(inv, b->cell + 9 * k))
			return mlip_err_set(err, MLIP_EDATA,
					    "system %zu: cell is singular but the system is periodic", k + 1);
	}
	for (size_t i = a0; i < a1; i++) {
		if (!mlip_element_symbol(b->numbers[i]))
			return mlip_err_set(err, MLIP_EDATA, "system %zu: atom %zu: atomic number %d is not an element",
					    k + 1, i - a0 + 1, (int)b->numbers[i]);
		if (b->fixed[i] > 1)
			return mlip_err_set(err, MLIP_EDATA, "system %zu: atom %zu: fixed flag is %u, not 0 or 1",
					    k + 1, i - a0 + 1, (unsigned)b->fixed[i]);
	}
	if (!all_finite(b->positions + 3 * a0, 3 * (a1 - a0), &bad))
		return mlip_err_set(err, MLIP_EDATA, "system %zu: atom %zu: position is not finite",
				    k + 1, bad / 3 + 1);
	if ((b->has[k] & MLIP_HAS_ENERGY) && !isfinite(b->energy[k]))
		return mlip_err_set(err, MLIP_EDATA, "system %zu: energy is not finite", k + 1);
	if ((b->has[k] & MLIP_HAS_FORCES) && !all_finite(b->forces + 3 * a0, 3 * (a1 - a0), &bad))
		return mlip_err_set(err, MLIP_EDATA, "system %zu: atom %zu: force is not finite",
				    k + 1, bad / 3 + 1);
	if ((b->has[k] & MLIP_HAS_STRESS) && !all_finite(b->stress + 9 * k, 9, &bad))
		return mlip_err_set(err, MLIP_EDATA, "system %zu: stress component %zu is not finite",
				    k + 1, bad + 1);
	/* Edges may come from another neighbour-list implementation with its own
	 * rounding, hence the slack on the cutoff. */
	const double *h = b->cell + 9 * k, *r = b->positions;
	double reach = b->cutoff * (1 + 1e-9);
	for (size_t e = b->edge_start[k]; e < b->edge_start[k + 1]; e++) {
		int32_t ij[2] = { b->edge_i[e], b->edge_j[e] };
		const int32_t *n = b->edge_shift + 3 * e;
		for (int t = 0; t < 2; t++)
			if (ij[t] < 0 || (size_t)ij[t] < a0 || (size_t)ij[t] >= a1)
				return mlip_err_set(err, MLIP_EDATA,
						    "system %zu: edge %zu: atom index %ld is outside the system's atoms %zu..%zu",
						    k + 1, e - b->edge_start[k] + 1, (long)ij[t], a0, a1 - 1);
		for (int x = 0; x < 3; x++)
			if (n[x] && !pbc[x])
				return mlip_err_set(err, MLIP_EDATA,
						    "system %zu: edge %zu: shift along non-periodic axis %d is %ld",
						    k + 1, e - b->edge_start[k] + 1, x + 1, (long)n[x]);
		if (ij[0] == ij[1] && !n[0] && !n[1] && !n[2])
			return mlip_err_set(err, MLIP_EDATA,
					    "system %zu: edge %zu joins atom %ld to itself in the home cell",
					    k + 1, e - b->edge_start[k] + 1, (long)ij[0]);
		double d2 = 0;
		for (int x = 0; x < 3; x++) {
			double d = r[3 * ij[1] + x] - r[3 * ij[0] + x] + n[0] * h[x] + n[1] * h[3 + x] +
				   n[2] * h[6 + x];
			d2 += d * d;
		}
		if (!(d2 < reach * reach))
			return mlip_err_set(err, MLIP_EDATA,
					    "system %zu: edge %zu is %g Å long, beyond the cutoff of %g Å",
					    k + 1, e - b->edge_start[k] + 1, sqrt(d2), b->cutoff);
	}
	if ((rc = validate_strings(b, k, err)))
		return rc;
	return MLIP_OK;
}

int mlip_batch_validate(const struct mlip_batch *b, struct mlip_err *err)
{
	int rc;
	if (b->n_systems == 0)
		return mlip_err_set(err, MLIP_EDATA, "batch has no systems");
	if (!(b->cutoff > 0) || !isfinite(b->cutoff))
		return mlip_err_set(err, MLIP_EDATA, "cutoff %g is not a positive number", b->cutoff);
	if (b->n_atoms > INT32_MAX)
		return mlip_err_set(err, MLIP_EDATA, "%zu atoms do not fit the 32-bit edge indices",
				    b->n_atoms);
	uint64_t na = 0, ne = 0;
	for (size_t k = 0; k < b->n_systems; k++) {
		if (b->atom_start[k] != na || b->edge_start[k] != ne)
			return mlip_err_set(err, MLIP_EDATA,
					    "system %zu: atom_start/edge_start do not match the counts", k + 1);
		na += b->natoms[k];
		ne += b->nedges[k];
	}
	if (na != b->n_atoms)
		return mlip_err_set(err, MLIP_EDATA, "atoms per system sum to %llu but the batch has %zu atoms",
				    (unsigned long long)na, b->n_atoms);
	if (ne != b->n_edges)
		return mlip_err_set(err, MLIP_EDATA, "edges per system sum to %llu but the batch has %zu edges",
				    (unsigned long long)ne, b->n_edges);
	if (b->atom_start[b->n_systems] != na || b->edge_start[b->n_systems] != ne)
		return mlip_err_set(err, MLIP_EDATA, "atom_start/edge_start do not match the counts");
	for (size_t k = 0; k < b->n_systems; k++)
		if ((rc = validate_system(b, k, err)))
			return rc;
	return MLIP_OK;
}

static void copy_n(void *dst, const void *src, size_t bytes)
{
	if (bytes)
		memcpy(dst, src, bytes);
}

static int structure_context(struct mlip_err *err, int rc, const struct mlip_structure *s, size_t k)
{
	if (s->id && *s->id)
		return mlip_err_prefix(err, rc, "%s: ", s->id);
	return mlip_err_prefix(err, rc, "structure %zu: ", k + 1);
}

int mlip_batch_collate(struct mlip_batch *b, const struct mlip_structure *const *s, size_t n,
		       double cutoff, unsigned exclude, const char *default_dataset,
		       struct mlip_err *err)
{
	const char *dflt = default_dataset ? default_dataset : "default";
	struct mlip_nlist *nl = NULL;
	size_t N = 0, E = 0, k;
	int rc = MLIP_OK;

	mlip_batch_release(b);
	if (!(cutoff > 0) || !isfinite(cutoff))
		return mlip_err_set(err, MLIP_EINVAL, "cutoff must be a positive number, not %g", cutoff);
	if (n == 0)
		return mlip_err_set(err, MLIP_EINVAL, "no structures to collate");
	if (!*dflt || strlen(dflt) > MLIP_BATCH_MAX_STRING)
		return mlip_err_set(err, MLIP_EINVAL, "default dataset name must have 1 to %u bytes",
				    MLIP_BATCH_MAX_STRING);
	if (!(nl = calloc(n, sizeof(*nl))))
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	for (k = 0; k < n; k++)
		mlip_nlist_init(&nl[k]);
	for (k = 0; k < n; k++) {
		const struct mlip_structure *st = s[k];
		if ((rc = mlip_structure_validate(st, err)) ||
		    (rc = mlip_nlist_build(&nl[k], st, cutoff, err))) {
			structure_context(err, rc, st, k);
			goto out;
		}
		if (st->dataset && (!*st->dataset || strlen(st->dataset) > MLIP_BATCH_MAX_STRING))
			rc = mlip_err_set(err, MLIP_EDATA, "dataset name must have 1 to %u bytes",
					  MLIP_BATCH_MAX_STRING);
		else if (st->id && strlen(st->id) > MLIP_BATCH_MAX_STRING)
			rc = mlip_err_set(err, MLIP_EDATA, "id is longer than %u bytes", MLIP_BATCH_MAX_STRING);
		else if (st->natoms > INT32_MAX - N)
			rc = mlip_err_set(err, MLIP_EDATA,
					  "batch would exceed %d atoms (the 32-bit edge index limit)", INT32_MAX);
		else if (nl[k].n_edges > UINT32_MAX)
			rc = mlip_err_set(err, MLIP_EDATA, "%zu edges exceed the per-system limit of %u",
					  nl[k].n_edges, UINT32_MAX);
		if (rc) {
			structure_context(err, rc, st, k);
			goto out;
		}
		N += st->natoms;
		E += nl[k].n_edges;
	}
	if ((rc = mlip_batch_alloc(b, n, N, E, err)))
		goto out;
	b->cutoff = cutoff;
	size_t a0 = 0, e0 = 0;
	for (size_t q = 0; q < n; q++) {
		const struct mlip_structure *st = s[q];
		size_t na = st->natoms, ne = nl[q].n_edges;
		unsigned has = st->has & HAS_ALL & ~exclude;
		b->natoms[q] = (uint32_t)na;
		b->nedges[q] = (uint32_t)ne;
		b->has[q] = has;
		for (int x = 0; x < 3; x++)
			b->pbc[3 * q + x] = !!st->pbc[x];
		memcpy(b->cell + 9 * q, st->cell, sizeof(st->cell));
		if (has & MLIP_HAS_ENERGY)
			b->energy[q] = st->energy;
		if (has & MLIP_HAS_STRESS)
			memcpy(b->stress + 9 * q, st->stress, sizeof(st->stress));
		copy_n(b->numbers + a0, st->numbers, na * sizeof(int32_t));
		copy_n(b->positions + 3 * a0, st->positions, 3 * na * sizeof(double));
		if (has & MLIP_HAS_FORCES)
			copy_n(b->forces + 3 * a0, st->forces, 3 * na * sizeof(double));
		for (size_t i = 0; i < na; i++)
			b->fixed[a0 + i] = !!st->fixed[i];
		for (size_t e = 0; e < ne; e++) {
			b->edge_i[e0 + e] = nl[q].i[e] + (int32_t)a0;
			b->edge_j[e0 + e] = nl[q].j[e] + (int32_t)a0;
		}
		copy_n(b->edge_shift + 3 * e0, nl[q].shift, 3 * ne * sizeof(int32_t));
		b->dataset[q] = strdup(st->dataset ? st->dataset : dflt);
		b->id[q] = strdup(st->id ? st->id : "");
		if (!b->dataset[q] || !b->id[q]) {
			rc = mlip_err_set(err, MLIP_ENOMEM, "out of memory");
			mlip_batch_release(b);
			goto out;
		}
		a0 += na;
		e0 += ne;
	}
	mlip_batch_index(b);
out:
	for (size_t q = 0; q < n; q++)
		mlip_nlist_release(&nl[q]);
	free(nl);
	return rc;
}

int mlip_batch_get_structure(const struct mlip_batch *b, size_t k, struct mlip_structure *s,
			     struct mlip_err *err)
{
	int rc;
	mlip_structure_release(s);
	if (k >= b->n_systems)
		return mlip_err_set(err, MLIP_EINVAL, "system %zu is not in a batch of %zu", k + 1,
				    b->n_systems);
	size_t a0 = b->atom_start[k], na = b->natoms[k];
	if ((rc = mlip_structure_alloc(s, na, err)))
		return rc;
	copy_n(s->numbers, b->numbers + a0, na * sizeof(int32_t));
	copy_n(s->positions, b->positions + 3 * a0, 3 * na * sizeof(double));
	copy_n(s->forces, b->forces + 3 * a0, 3 * na * sizeof(double));
	copy_n(s->fixed, b->fixed + a0, na);
	memcpy(s->cell, b->cell + 9 * k, sizeof(s->cell));
	memcpy(s->pbc, b->pbc + 3 * k, sizeof(s->pbc));
	memcpy(s->stress, b->stress + 9 * k, sizeof(s->stress));
	s->has = b->has[k];
	s->energy = b->energy[k];
	if ((rc = mlip_structure_set_dataset(s, b->dataset[k], err)) ||
	    (rc = mlip_structure_set_id(s, b->id[k] && *b->id[k] ? b->id[k] : NULL, err))) {
		mlip_structure_release(s);
		return rc;
	}
	return MLIP_OK;
}

int mlip_batch_append(struct mlip_batch *dst, const struct mlip_batch *src, struct mlip_err *err)
{
	struct mlip_batch nb;
	size_t B0 = dst->n_systems, N0 = dst->n_atoms, E0 = dst->n_edges;
	size_t B1 = src->n_systems, N1 = src->n_atoms, E1 = src->n_edges;
	int rc;

	if (B0 && src->cutoff != dst->cutoff)
		return mlip_err_set(err, MLIP_EINVAL,
				    "cannot merge batches built with cutoffs %g and %g Å",
				    dst->cutoff, src->cutoff);
	if (N0 + N1 > INT32_MAX)
		return mlip_err_set(err, MLIP_EINVAL,
				    "merged batch would exceed %d atoms (the 32-bit edge index limit)",
				    INT32_MAX);
	mlip_batch_init(&nb);
	if ((rc = mlip_batch_alloc(&nb, B0 + B1, N0 + N1, E0 + E1, err)))
		return rc;
	for (size_t k = 0; k < B1; k++) {
		nb.dataset[B0 + k] = strdup(src->dataset[k] ? src->dataset[k] : "");
		nb.id[B0 + k] = strdup(src->id[k] ? src->id[k] : "");
		if (!nb.dataset[B0 + k] || !nb.id[B0 + k]) {
			mlip_batch_release(&nb);
			return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
		}
	}
	nb.cutoff = B0 ? dst->cutoff : src->cutoff;
#define JOIN(field, per, type) do { \
		copy_n(nb.field, dst->field, (per) * B0 * sizeof(type)); \
		copy_n(nb.field + (per) * B0, src->field, (per) * B1 * sizeof(type)); \
	} while (0)
	JOIN(natoms, 1, uint32_t);
	JOIN(nedges, 1, uint32_t);
	JOIN(has, 1, uint32_t);
	JOIN(pbc, 3, uint8_t);
	JOIN(cell, 9, double);
	JOIN(energy, 1, double);
	JOIN(stress, 9, double);
#undef JOIN
#define JOIN(field, per, type, n0, n1) do { \
		copy_n(nb.field, dst->field, (per) * (n0) * sizeof(type)); \
		copy_n(nb.field + (per) * (n0), src->field, (per) * (n1) * sizeof(type)); \
	} while (0)
	JOIN(numbers, 1, int32_t, N0, N1);
	JOIN(positions, 3, double, N0, N1);
	JOIN(forces, 3, double, N0, N1);
	JOIN(fixed, 1, uint8_t, N0, N1);
	JOIN(edge_shift, 3, int32_t, E0, E1);
#undef JOIN
	copy_n(nb.edge_i, dst->edge_i, E0 * sizeof(int32_t));
	copy_n(nb.edge_j, dst->edge_j, E0 * sizeof(int32_t));
	for (size_t e = 0; e < E1; e++) {
		nb.edge_i[E0 + e] = src->edge_i[e] + (int32_t)N0;
		nb.edge_j[E0 + e] = src->edge_j[e] + (int32_t)N0;
	}
	for (size_t k = 0; k < B0; k++) {
		nb.dataset[k] = dst->dataset[k];
		nb.id[k] = dst->id[k];
		dst->dataset[k] = dst->id[k] = NULL;
	}
	mlip_batch_index(&nb);
	mlip_batch_release(dst);
	*dst = nb;
	return MLIP_OK;
}

/* ---- payload layout ---------------------------------------------------- */

struct layout {
	uint64_t cell, energy, stress, positions, forces;
	uint64_t natoms, nedges, has, dataset_len, id_len;
	uint64_t numbers, edge_i, edge_j, edge_shift, pbc, fixed, strings, pad, total;
};

/* Offsets of §3 for the given counts; each count must be below 2^40 (no overflow). */
static void layout_of(struct layout *L, uint64_t B, uint64_t N, uint64_t E, uint64_t S)
{
	uint64_t o = BATCH_COUNTS_BYTES;
	L->cell = o; o += 8 * 9 * B;
	L->energy = o; o += 8 * B;
	L->stress = o; o += 8 * 9 * B;
	L->positions = o; o += 8 * 3 * N;
	L->forces = o; o += 8 * 3 * N;
	L->natoms = o; o += 4 * B;
	L->nedges = o; o += 4 * B;
	L->has = o; o += 4 * B;
	L->dataset_len = o; o += 4 * B;
	L->id_len = o; o += 4 * B;
	L->numbers = o; o += 4 * N;
	L->edge_i = o; o += 4 * E;
	L->edge_j = o; o += 4 * E;
	L->edge_shift = o; o += 4 * 3 * E;
	L->pbc = o; o += 3 * B;
	L->fixed = o; o += N;
	L->strings = o; o += S;
	L->pad = o;
	L->total = (o + 7) & ~(uint64_t)7;
}

static int grow(unsigned char **buf, size_t *cap, size_t need)
{
	if (need <= *cap)
		return 0;
	size_t c = *cap ? *cap : 4096;
	while (c < need)
		c = c > SIZE_MAX / 2 ? need : 2 * c;
	unsigned char *p = realloc(*buf, c);
	if (!p)
		return -1;
	*buf = p;
	*cap = c;
	return 0;
}

/* ---- writer ------------------------------------------------------------ */

static const char *name_of(const char *path)
{
	return path ? path : "<stream>";
}

static int write_error(const struct mlip_batch_writer *w, struct mlip_err *err)
{
	int e = errno;
	return mlip_err_set(err, MLIP_EIO, "%s: write error: %s", name_of(w->path),
			    e ? strerror(e) : "short write");
}

static int write_bytes(struct mlip_batch_writer *w, const void *p, size_t n, struct mlip_err *err)
{
	errno = 0;
	if (n && fwrite(p, 1, n, w->f) != n)
		return write_error(w, err);
	return MLIP_OK;
}

static int write_record(struct mlip_batch_writer *w, uint32_t kind, const unsigned char *payload,
			size_t n, struct mlip_err *err)
{
	unsigned char h[RECORD_HEADER_BYTES];
	int rc;
	mlip_put_u32(h, kind);
	mlip_put_u32(h + 4, mlip_crc32(0, payload, n));
	mlip_put_u64(h + 8, n);
	if ((rc = write_bytes(w, h, sizeof(h), err)) || (rc = write_bytes(w, payload, n, err)))
		return rc;
	return MLIP_OK;
}

int mlip_batch_writer_open(struct mlip_batch_writer *w, FILE *f, const char *path,
			   double cutoff, struct mlip_err *err)
{
	unsigned char h[MLIP_BATCH_HEADER_BYTES] = { 0 };
	memset(w, 0, sizeof(*w));
	w->f = f;
	w->path = path;
	w->cutoff = cutoff;
	if (!(cutoff > 0) || !isfinite(cutoff))
		return mlip_err_set(err, MLIP_EINVAL, "cutoff must be a positive number, not %g", cutoff);
	memcpy(h, MLIP_BATCH_MAGIC, 8);
	mlip_put_u32(h + 8, MLIP_BATCH_VERSION);
	mlip_put_u32(h + 12, MLIP_BATCH_HEADER_BYTES);
	mlip_put_f64(h + 16, cutoff);
	/* flags (24) and reserved (32..63) stay zero */
	return write_bytes(w, h, sizeof(h), err);
}

/* Encode b as a §3 payload into w->buf; *n receives its length. */
static int encode(struct mlip_batch_writer *w, const struct mlip_batch *b, size_t *n,
		  struct mlip_err *err)
{
	size_t B = b->n_systems, N = b->n_atoms, E = b->n_edges, S = 0;
	struct layout L;
	for (size_t k = 0; k < B; k++)
		S += strlen(b->dataset[k]) + strlen(b->id[k]);
	layout_of(&L, B, N, E, S);
	if (L.total > MLIP_BATCH_MAX_RECORD)
		return mlip_err_set(err, MLIP_EINVAL,
				    "%s: batch of %llu bytes exceeds the record limit of %llu bytes; use smaller batches",
				    name_of(w->path), (unsigned long long)L.total,
				    (unsigned long long)MLIP_BATCH_MAX_RECORD);
	if (grow(&w->buf, &w->cap, L.total))
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory for a %llu-byte record",
				    (unsigned long long)L.total);
	unsigned char *p = w->buf;
	mlip_put_u64(p, B);
	mlip_put_u64(p + 8, N);
	mlip_put_u64(p + 16, E);
	mlip_put_u64(p + 24, S);
	mlip_put_f64(p + 32, b->cutoff);
	put_f64s(p + L.cell, b->cell, 9 * B);
	put_f64s(p + L.energy, b->energy, B);
	put_f64s(p + L.stress, b->stress, 9 * B);
	put_f64s(p + L.positions, b->positions, 3 * N);
	put_f64s(p + L.forces, b->forces, 3 * N);
	/* An absent label is written as zero whatever the array holds. */
	for (size_t k = 0; k < B; k++) {
		if (!(b->has[k] & MLIP_HAS_ENERGY))
			mlip_put_f64(p + L.energy + 8 * k, 0.0);
		if (!(b->has[k] & MLIP_HAS_STRESS))
			memset(p + L.stress + 72 * k, 0, 72);
		if (!(b->has[k] & MLIP_HAS_FORCES))
			memset(p + L.forces + 24 * b->atom_start[k], 0, 24 * (size_t)b->natoms[k]);
	}
	put_u32s(p + L.natoms, b->natoms, B);
	put_u32s(p + L.nedges, b->nedges, B);
	put_u32s(p + L.has, b->has, B);
	for (size_t k = 0; k < B; k++) {
		mlip_put_u32(p + L.dataset_len + 4 * k, (uint32_t)strlen(b->dataset[k]));
		mlip_put_u32(p + L.id_len + 4 * k, (uint32_t)strlen(b->id[k]));
	}
	put_i32s(p + L.numbers, b->numbers, N);
	put_i32s(p + L.edge_i, b->edge_i, E);
	put_i32s(p + L.edge_j, b->edge_j, E);
	put_i32s(p + L.edge_shift, b->edge_shift, 3 * E);
	put_u8s(p + L.pbc, b->pbc, 3 * B);
	put_u8s(p + L.fixed, b->fixed, N);
	unsigned char *q = p + L.strings;
	for (size_t k = 0; k < B; k++) {
		size_t ld = strlen(b->dataset[k]), li = strlen(b->id[k]);
		q = put_u8s(q, (const uint8_t *)b->dataset[k], ld);
		q = put_u8s(q, (const uint8_t *)b->id[k], li);
	}
	memset(p + L.pad, 0, L.total - L.pad);
	*n = L.total;
	return MLIP_OK;
}

int mlip_batch_write(struct mlip_batch_writer *w, const struct mlip_batch *b,
		     struct mlip_err *err)
{
	size_t n = 0;
	int rc;
	if (b->cutoff != w->cutoff)
		return mlip_err_set(err, MLIP_EINVAL,
				    "%s: batch built with cutoff %g Å cannot go into a stream with cutoff %g Å",
				    name_of(w->path), b->cutoff, w->cutoff);
	if ((rc = mlip_batch_validate(b, err)))
		return mlip_err_prefix(err, rc, "%s: batch %llu: ", name_of(w->path),
				       (unsigned long long)w->n_records + 1);
	if ((rc = encode(w, b, &n, err)) ||
	    (rc = write_record(w, MLIP_BATCH_RECORD_BATCH, w->buf, n, err)))
		return rc;
	w->n_records++;
	return MLIP_OK;
}

int mlip_batch_writer_close(struct mlip_batch_writer *w, struct mlip_err *err)
{
	unsigned char p[8];
	int rc;
	mlip_put_u64(p, w->n_records);
	rc = write_record(w, MLIP_BATCH_RECORD_END, p, sizeof(p), err);
	errno = 0;
	if (!rc && (fflush(w->f) || ferror(w->f)))
		rc = write_error(w, err);
	mlip_batch_writer_release(w);
	return rc;
}

void mlip_batch_writer_release(struct mlip_batch_writer *w)
{
	free(w->buf);
	w->buf = NULL;
	w->cap = 0;
}

/* ---- reader ------------------------------------------------------------ */

static int rfail(const struct mlip_batch_reader *r, struct mlip_err *err, int code,
		 const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int rfail(const struct mlip_batch_reader *r, struct mlip_err *err, int code,
		 const char *fmt, ...)
{
	char msg[MLIP_ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return mlip_err_set(err, code, "%s: %s", name_of(r->path), msg);
}

static int read_error(const struct mlip_batch_reader *r, struct mlip_err *err)
{
	int e = errno;
	return rfail(r, err, MLIP_EIO, "read error: %s", e ? strerror(e) : "unknown");
}

/* Read up to n bytes into p; *got < n only at end of file. */
static int read_bytes(const struct mlip_batch_reader *r, void *p, size_t n, size_t *got,
		      struct mlip_err *err)
{
	errno = 0;
	*got = fread(p, 1, n, r->f);
	if (*got < n && ferror(r->f))
		return read_error(r, err);
	return MLIP_OK;
}

/* Read and check a header; where says where it starts ("" or "after record N: "). */
static int read_header(struct mlip_batch_reader *r, const char *where, struct mlip_err *err)
{
	unsigned char h[MLIP_BATCH_HEADER_BYTES];
	size_t got;
	int rc;
	if ((rc = read_bytes(r, h, 8, &got, err)))
		return rc;
	if (got == 0)
		return rfail(r, err, MLIP_EDATA,
			     "%sempty input, not an mlip batch stream; run mlip-collate first", where);
	if (memcmp(h, MLIP_BATCH_MAGIC, got)) {
		const char *hint = h[0] == '{' || h[0] == '[' ? " (it looks like JSON)" :
				   (h[0] >= '0' && h[0] <= '9') || h[0] == ' ' ? " (it looks like text, perhaps extxyz)" :
				   "";
		return rfail(r, err, MLIP_EDATA,
			     "%snot an mlip batch stream%s; convert structures with mlip-collate first",
			     where, hint);
	}
	if (got == 8 && (rc = read_bytes(r, h + 8, sizeof(h) - 8, &got, err)) == MLIP_OK)
		got += 8;
	if (rc)
		return rc;
	if (got < sizeof(h))
		return rfail(r, err, MLIP_EDATA, "%struncated header (%zu of %u bytes)", where, got,
			     MLIP_BATCH_HEADER_BYTES);
	uint32_t version = mlip_get_u32(h + 8), hbytes = mlip_get_u32(h + 12);
	double cutoff = mlip_get_f64(h + 16);
	uint64_t flags = mlip_get_u64(h + 24);
	if (version > MLIP_BATCH_VERSION)
		return rfail(r, err, MLIP_EDATA,
			     "%swritten by a newer mlip (version %u); this mlip reads version %u; upgrade mlip",
			     where, (unsigned)version, MLIP_BATCH_VERSION);
	if (version != MLIP_BATCH_VERSION)
		return rfail(r, err, MLIP_EDATA, "%sunsupported batch stream version %u; this mlip reads version %u",
			     where, (unsigned)version, MLIP_BATCH_VERSION);
	if (hbytes < MLIP_BATCH_HEADER_BYTES || hbytes > MLIP_BATCH_MAX_HEADER)
		return rfail(r, err, MLIP_EDATA, "%sheader size %u is not between %u and %u bytes",
			     where, (unsigned)hbytes, MLIP_BATCH_HEADER_BYTES, MLIP_BATCH_MAX_HEADER);
	if (flags)
		return rfail(r, err, MLIP_EDATA,
			     "%sheader flags 0x%llx are not understood by this mlip (version %u)", where,
			     (unsigned long long)flags, MLIP_BATCH_VERSION);
	if (!(cutoff > 0) || !isfinite(cutoff))
		return rfail(r, err, MLIP_EDATA, "%sheader cutoff %g is not a positive number", where,
			     cutoff);
	for (uint32_t skip = hbytes - MLIP_BATCH_HEADER_BYTES; skip;) {
		size_t n = skip < sizeof(h) ? skip : sizeof(h);
		if ((rc = read_bytes(r, h, n, &got, err)))
			return rc;
		if (got < n)
			return rfail(r, err, MLIP_EDATA, "%struncated header (%u bytes announced)", where,
				     (unsigned)hbytes);
		skip -= (uint32_t)n;
	}
	r->version = version;
	r->cutoff = cutoff;
	r->ended = 0;
	r->n_batches = 0;
	return MLIP_OK;
}

int mlip_batch_reader_open(struct mlip_batch_reader *r, FILE *f, const char *path,
			   struct mlip_err *err)
{
	memset(r, 0, sizeof(*r));
	r->f = f;
	r->path = path;
	return read_header(r, "", err);
}

int mlip_batch_reader_next_stream(struct mlip_batch_reader *r, struct mlip_err *err)
{
	char where[64];
	double cutoff = r->cutoff;
	int c, rc;
	if (!r->ended)
		return rfail(r, err, MLIP_EINVAL, "record %llu: the stream has not ended",
			     (unsigned long long)r->record);
	errno = 0;
	if ((c = getc(r->f)) == EOF)
		return ferror(r->f) ? read_error(r, err) : 0;
	ungetc(c, r->f);
	snprintf(where, sizeof(where), "after record %llu: ", (unsigned long long)r->record);
	if ((rc = read_header(r, where, err)))
		return rc;
	if (r->cutoff != cutoff)
		return rfail(r, err, MLIP_EDATA,
			     "%sconcatenated stream has cutoff %g Å, the first one %g Å", where,
			     r->cutoff, cutoff);
	return 1;
}

/*
 * Check the counts at the start of a §3 payload of len bytes (the first
 * BATCH_COUNTS_BYTES of it at p) against len; messages without the record prefix.
 */
static int check_counts(const unsigned char *p, uint64_t len, struct mlip_err *err)
{
	uint64_t B = mlip_get_u64(p), N = mlip_get_u64(p + 8), E = mlip_get_u64(p + 16), S = mlip_get_u64(p + 24);
	struct layout L;
	if (B == 0)
		return mlip_err_set(err, MLIP_EDATA, "batch has no systems");
	/* Every count needs at least one payload byte per item, which bounds them
	 * far below overflow in layout_of. */
	if (B > len || N > len || E > len || S > len)
		return mlip_err_set(err, MLIP_EDATA,
				    "counts (%llu systems, %llu atoms, %llu edges, %llu string bytes) do not fit in %llu payload bytes",
				    (unsigned long long)B, (unsigned long long)N, (unsigned long long)E,
				    (unsigned long long)S, (unsigned long long)len);
	layout_of(&L, B, N, E, S);
	if (L.total != len)
		return mlip_err_set(err, MLIP_EDATA,
				    "counts (%llu systems, %llu atoms, %llu edges, %llu string bytes) need %llu payload bytes but the record has %llu",
				    (unsigned long long)B, (unsigned long long)N, (unsigned long long)E,
				    (unsigned long long)S, (unsigned long long)L.total,
				    (unsigned long long)len);
	if (N > INT32_MAX)
		return mlip_err_set(err, MLIP_EDATA, "%llu atoms do not fit the 32-bit edge indices",
				    (unsigned long long)N);
	return MLIP_OK;
}

/* Decode a §3 payload into b (allocated here); messages without the record prefix. */
static int decode(struct mlip_batch *b, const unsigned char *p, uint64_t len, double cutoff,
		  struct mlip_err *err)
{
	uint64_t B = mlip_get_u64(p), N = mlip_get_u64(p + 8), E = mlip_get_u64(p + 16), S = mlip_get_u64(p + 24);
	struct layout L;
	int rc;
	if ((rc = check_counts(p, len, err)))
		return rc;
	layout_of(&L, B, N, E, S);
	if (mlip_get_f64(p + 32) != cutoff)
		return mlip_err_set(err, MLIP_EDATA, "batch cutoff %.17g Å differs from the header's %.17g Å",
				    mlip_get_f64(p + 32), cutoff);
	for (uint64_t o = L.pad; o < L.total; o++)
		if (p[o])
			return mlip_err_set(err, MLIP_EDATA, "padding byte %llu is not zero",
					    (unsigned long long)o);
	if ((rc = mlip_batch_alloc(b, B, N, E, err)))
		return rc;
	b->cutoff = cutoff;
	get_f64s(b->cell, p + L.cell, 9 * B);
	get_f64s(b->energy, p + L.energy, B);
	get_f64s(b->stress, p + L.stress, 9 * B);
	get_f64s(b->positions, p + L.positions, 3 * N);
	get_f64s(b->forces, p + L.forces, 3 * N);
	get_u32s(b->natoms, p + L.natoms, B);
	get_u32s(b->nedges, p + L.nedges, B);
	get_u32s(b->has, p + L.has, B);
	get_i32s(b->numbers, p + L.numbers, N);
	get_i32s(b->edge_i, p + L.edge_i, E);
	get_i32s(b->edge_j, p + L.edge_j, E);
	get_i32s(b->edge_shift, p + L.edge_shift, 3 * E);
	get_u8s(b->pbc, p + L.pbc, 3 * B);
	get_u8s(b->fixed, p + L.fixed, N);

	uint64_t na = 0, ne = 0, ns = 0;
	for (size_t k = 0; k < B; k++) {
		na += b->natoms[k];
		ne += b->nedges[k];
	}
	if (na != N)
		return mlip_err_set(err, MLIP_EDATA, "atoms per system sum to %llu but the record has %llu atoms",
				    (unsigned long long)na, (unsigned long long)N);
	if (ne != E)
		return mlip_err_set(err, MLIP_EDATA, "edges per system sum to %llu but the record has %llu edges",
				    (unsigned long long)ne, (unsigned long long)E);
	mlip_batch_index(b);

	const unsigned char *q = p + L.strings;
	for (size_t k = 0; k < B; k++) {
		uint32_t ld = mlip_get_u32(p + L.dataset_len + 4 * k), li = mlip_get_u32(p + L.id_len + 4 * k);
		if (ld > MLIP_BATCH_MAX_STRING || li > MLIP_BATCH_MAX_STRING)
			return mlip_err_set(err, MLIP_EDATA,
					    "system %zu: %s of %u bytes is longer than the limit of %u",
					    k + 1, ld > MLIP_BATCH_MAX_STRING ? "dataset name" : "id",
					    (unsigned)(ld > MLIP_BATCH_MAX_STRING ? ld : li),
					    MLIP_BATCH_MAX_STRING);
		if (ns + ld + li > S)
			return mlip_err_set(err, MLIP_EDATA,
					    "system %zu: strings run past the %llu string bytes of the record",
					    k + 1, (unsigned long long)S);
		for (int t = 0; t < 2; t++) {
			uint32_t l = t ? li : ld;
			char *str = malloc((size_t)l + 1);
			if (!str)
				return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
			memcpy(str, q, l);
			str[l] = '\0';
			(t ? b->id : b->dataset)[k] = str;
			if (memchr(q, 0, l))
				return mlip_err_set(err, MLIP_EDATA, "system %zu: %s contains a NUL byte",
						    k + 1, t ? "id" : "dataset name");
			q += l;
		}
		ns += ld + li;
	}
	if (ns != S)
		return mlip_err_set(err, MLIP_EDATA,
				    "string lengths sum to %llu but the record has %llu string bytes",
				    (unsigned long long)ns, (unsigned long long)S);

	/* Canonical zeros for absent labels catch corruption behind a valid CRC. */
	for (size_t k = 0; k < B; k++) {
		static const double zero9[9];
		const char *what = NULL;
		if (!(b->has[k] & MLIP_HAS_ENERGY) && memcmp(&b->energy[k], zero9, sizeof(double)))
			what = "energy";
		else if (!(b->has[k] & MLIP_HAS_STRESS) && memcmp(b->stress + 9 * k, zero9, sizeof(zero9)))
			what = "stress";
		else if (!(b->has[k] & MLIP_HAS_FORCES))
			for (size_t i = b->atom_start[k]; i < b->atom_start[k + 1] && !what; i++)
				if (memcmp(b->forces + 3 * i, zero9, 3 * sizeof(double)))
					what = "forces";
		if (what)
			return mlip_err_set(err, MLIP_EDATA, "system %zu: %s is absent but not stored as zero",
					    k + 1, what);
	}
	return mlip_batch_validate(b, err);
}

/* Read a payload of len bytes into r->buf, growing it only as data arrives. */
static int read_payload(struct mlip_batch_reader *r, uint64_t len, uint64_t rec,
			struct mlip_err *err)
{
	size_t have = 0, got;
	int rc;
	while (have < len) {
		size_t want = (size_t)len;
		if (want > r->cap) {
			size_t step = have < ((size_t)1 << 20) ? ((size_t)1 << 20) : 2 * have;
			want = step < len ? step : (size_t)len;
		}
		if (grow(&r->buf, &r->cap, want))
			return rfail(r, err, MLIP_ENOMEM, "record %llu: out of memory for %llu bytes",
				     (unsigned long long)rec, (unsigned long long)len);
		if ((rc = read_bytes(r, r->buf + have, want - have, &got, err)))
			return rc;
		have += got;
		if (have < want)
			return rfail(r, err, MLIP_EDATA,
				     "record %llu: truncated (payload has %zu of %llu bytes)",
				     (unsigned long long)rec, have, (unsigned long long)len);
	}
	return MLIP_OK;
}

/*
 * Read and check the header of record rec: its kind, checksum and payload
 * length. A clean end of file here means the end-of-stream record is missing.
 */
static int record_header(struct mlip_batch_reader *r, unsigned long long rec, uint32_t *kind,
			 uint32_t *crc, uint64_t *len, struct mlip_err *err)
{
	unsigned char h[RECORD_HEADER_BYTES];
	size_t got;
	int rc;
	if ((rc = read_bytes(r, h, sizeof(h), &got, err)))
		return rc;
	if (got == 0)
		return rfail(r, err, MLIP_EDATA,
			     "truncated after record %llu: the end-of-stream record is missing (was the writer interrupted?)",
			     rec - 1);
	if (got < sizeof(h))
		return rfail(r, err, MLIP_EDATA, "record %llu: truncated record header (%zu of %u bytes)",
			     rec, got, RECORD_HEADER_BYTES);
	*kind = mlip_get_u32(h);
	*crc = mlip_get_u32(h + 4);
	*len = mlip_get_u64(h + 8);
	if (*kind == MLIP_BATCH_RECORD_END) {
		if (*len != 8)
			return rfail(r, err, MLIP_EDATA,
				     "record %llu: end record has %llu payload bytes instead of 8", rec,
				     (unsigned long long)*len);
	} else if (*kind == MLIP_BATCH_RECORD_BATCH) {
		if (*len > MLIP_BATCH_MAX_RECORD)
			return rfail(r, err, MLIP_EDATA,
				     "record %llu: payload length %llu exceeds the limit of %llu bytes (corrupted stream?)",
				     rec, (unsigned long long)*len, (unsigned long long)MLIP_BATCH_MAX_RECORD);
		if (*len < BATCH_COUNTS_BYTES)
			return rfail(r, err, MLIP_EDATA,
				     "record %llu: payload of %llu bytes is too short for a batch", rec,
				     (unsigned long long)*len);
	} else {
		return rfail(r, err, MLIP_EDATA,
			     "record %llu: unknown record kind %u (corrupted, or written by a newer mlip)",
			     rec, (unsigned)*kind);
	}
	return MLIP_OK;
}

/* The end record in r->buf (checksum checked): its batch count must be the stream's. */
static int end_record(struct mlip_batch_reader *r, unsigned long long rec, struct mlip_err *err)
{
	uint64_t count = mlip_get_u64(r->buf);
	if (count != r->n_batches)
		return rfail(r, err, MLIP_EDATA,
			     "record %llu: end record counts %llu batches but the stream has %llu",
			     rec, (unsigned long long)count, (unsigned long long)r->n_batches);
	r->ended = 1;
	return 0;
}

int mlip_batch_read_next(struct mlip_batch_reader *r, struct mlip_batch *b,
			 struct mlip_err *err)
{
	unsigned long long rec = r->record + 1;
	uint32_t kind, crc;
	uint64_t len;
	int rc;

	mlip_batch_release(b);
	if (r->ended)
		return 0;
	if ((rc = record_header(r, rec, &kind, &crc, &len, err)))
		return rc;
	if ((rc = read_payload(r, len, rec, err)))
		return rc;
	uint32_t sum = mlip_crc32(0, r->buf, (size_t)len);
	if (sum != crc)
		return rfail(r, err, MLIP_EDATA,
			     "record %llu: checksum mismatch (stored %08x, computed %08x); the stream is corrupted",
			     rec, (unsigned)crc, (unsigned)sum);
	r->record = rec;
	if (kind == MLIP_BATCH_RECORD_END)
		return end_record(r, rec, err);
	if ((rc = decode(b, r->buf, len, r->cutoff, err))) {
		mlip_batch_release(b);
		return mlip_err_prefix(err, rc, "%s: record %llu: ", name_of(r->path), rec);
	}
	r->n_batches++;
	return 1;
}

int mlip_batch_reader_skim(struct mlip_batch_reader *r, struct mlip_batch_extent *x,
			   struct mlip_err *err)
{
	unsigned long long rec = r->record + 1;
	uint32_t kind, crc;
	uint64_t len;
	size_t got;
	struct stat st;
	int rc;

	if (r->ended)
		return 0;
	if ((rc = record_header(r, rec, &kind, &crc, &len, err)))
		return rc;
	if (kind == MLIP_BATCH_RECORD_END) {
		if ((rc = read_payload(r, len, rec, err)))
			return rc;
		if (mlip_crc32(0, r->buf, (size_t)len) != crc)
			return rfail(r, err, MLIP_EDATA,
				     "record %llu: checksum mismatch in the end record; the stream is corrupted",
				     rec);
		r->record = rec;
		return end_record(r, rec, err);
	}
	errno = 0;
	off_t at = ftello(r->f);
	if (at < 0 || fstat(fileno(r->f), &st) || !S_ISREG(st.st_mode))
		return rfail(r, err, MLIP_EINVAL, "cannot seek in it (%s); read it whole instead",
			     at < 0 && errno ? strerror(errno) : "not a regular file");
	if ((uint64_t)at > (uint64_t)st.st_size || len > (uint64_t)st.st_size - (uint64_t)at)
		return rfail(r, err, MLIP_EDATA,
			     "record %llu: truncated (payload has %llu of %llu bytes)", rec,
			     (unsigned long long)((uint64_t)st.st_size - (uint64_t)at),
			     (unsigned long long)len);
	unsigned char c[BATCH_COUNTS_BYTES];
	if ((rc = read_bytes(r, c, sizeof(c), &got, err)))
		return rc;
	if (got < sizeof(c))
		return rfail(r, err, MLIP_EDATA, "record %llu: truncated", rec);
	if ((rc = check_counts(c, len, err)))
		return mlip_err_prefix(err, rc, "%s: record %llu: ", name_of(r->path), rec);
	if (fseeko(r->f, at + (off_t)len, SEEK_SET))
		return read_error(r, err);
	x->offset = (uint64_t)at;
	x->bytes = len;
	x->crc = crc;
	x->record = rec;
	x->n_systems = mlip_get_u64(c);
	x->n_atoms = mlip_get_u64(c + 8);
	x->n_edges = mlip_get_u64(c + 16);
	r->record = rec;
	r->n_batches++;
	return 1;
}

int mlip_batch_read_extent(struct mlip_batch_reader *r, const struct mlip_batch_extent *x,
			   struct mlip_batch *b, struct mlip_err *err)
{
	int rc;
	mlip_batch_release(b);
	if (fseeko(r->f, (off_t)x->offset, SEEK_SET))
		return read_error(r, err);
	if ((rc = read_payload(r, x->bytes, x->record, err)))
		return rc;
	uint32_t sum = mlip_crc32(0, r->buf, (size_t)x->bytes);
	if (sum != x->crc)
		return rfail(r, err, MLIP_EDATA,
			     "record %llu: checksum mismatch (stored %08x, computed %08x); the stream "
			     "is corrupted or changed while it was read", (unsigned long long)x->record,
			     (unsigned)x->crc, (unsigned)sum);
	if ((rc = decode(b, r->buf, x->bytes, r->cutoff, err))) {
		mlip_batch_release(b);
		return mlip_err_prefix(err, rc, "%s: record %llu: ", name_of(r->path),
				       (unsigned long long)x->record);
	}
	return MLIP_OK;
}

void mlip_batch_reader_release(struct mlip_batch_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->cap = 0;
}

/* ---- lists of batches -------------------------------------------------- */

void mlip_batch_list_init(struct mlip_batch_list *l)
{
	memset(l, 0, sizeof(*l));
}

void mlip_batch_list_release(struct mlip_batch_list *l)
{
	for (size_t k = 0; k < l->n; k++)
		mlip_batch_release(&l->items[k]);
	free(l->items);
	mlip_batch_list_init(l);
}

int mlip_batch_list_take(struct mlip_batch_list *l, struct mlip_batch *b, struct mlip_err *err)
{
	if (l->cutoff != 0 && b->cutoff != l->cutoff)
		return mlip_err_set(err, MLIP_EINVAL, "batch cutoff %g Å differs from the list's %g Å",
				    b->cutoff, l->cutoff);
	if (l->n == l->alloc) {
		size_t alloc = l->alloc ? 2 * l->alloc : 16;
		struct mlip_batch *items = realloc(l->items, alloc * sizeof(*items));
		if (!items)
			return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
		l->items = items;
		l->alloc = alloc;
	}
	l->cutoff = b->cutoff;
	l->items[l->n++] = *b;
	mlip_batch_init(b);
	return MLIP_OK;
}

int mlip_batch_list_read(struct mlip_batch_list *l, FILE *f, const char *path,
			 struct mlip_err *err)
{
	struct mlip_batch_reader r;
	struct mlip_batch b;
	int rc;
	mlip_batch_init(&b);
	if ((rc = mlip_batch_reader_open(&r, f, path, err)))
		goto out;
	if (l->cutoff != 0 && r.cutoff != l->cutoff) {
		rc = rfail(&r, err, MLIP_EDATA, "cutoff %g Å differs from the %g Å of the batches read before",
			   r.cutoff, l->cutoff);
		goto out;
	}
	l->cutoff = r.cutoff;
	for (;;) {
		rc = mlip_batch_read_next(&r, &b, err);
		if (rc == 1)
			rc = mlip_batch_list_take(l, &b, err);
		else if (rc == 0 && (rc = mlip_batch_reader_next_stream(&r, err)) == 1)
			rc = MLIP_OK;
		else
			break;
		if (rc)
			break;
	}
out:
	mlip_batch_release(&b);
	mlip_batch_reader_release(&r);
	return rc;
}

int mlip_batch_list_load(struct mlip_batch_list *l, const char *path, struct mlip_err *err)
{
	if (!strcmp(path, "-"))
		return mlip_batch_list_read(l, stdin, "<stdin>", err);
	FILE *f = fopen(path, "rb");
	if (!f)
		return mlip_err_set(err, MLIP_EIO, "cannot open '%s': %s", path, strerror(errno));
	int rc = mlip_batch_list_read(l, f, path, err);
	fclose(f);
	return rc;
}

int mlip_batch_list_write(const struct mlip_batch_list *l, FILE *f, const char *path,
			  struct mlip_err *err)
{
	struct mlip_batch_writer w;
	int rc;
	if ((rc = mlip_batch_writer_open(&w, f, path, l->cutoff, err)))
		return rc;
	for (size_t k = 0; k < l->n; k++)
		if ((rc = mlip_batch_write(&w, &l->items[k], err))) {
			mlip_batch_writer_release(&w);
			return rc;
		}
	return mlip_batch_writer_close(&w, err);
}

int mlip_batch_list_save(const struct mlip_batch_list *l, const char *path, struct mlip_err *err)
{
	struct mlip_outfile out;
	int rc = mlip_outfile_open(&out, path, err);
	if (rc)
		return rc;
	if ((rc = mlip_batch_list_write(l, out.f, strcmp(path, "-") ? path : "<stdout>", err))) {
		mlip_outfile_abort(&out);
		return rc;
	}
	return mlip_outfile_commit(&out, err);
}
