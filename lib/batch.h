/*
 * batch.h - batches of structures with neighbour lists, and the .mlb stream.
 *
 * A batch holds B systems flattened into atom and edge arrays (llm.c style:
 * one array per quantity, offsets derived from the per-system counts). Edge
 * atom indices are batch-global in memory and on disk.
 *
 * The .mlb stream (documented byte for byte in man/man5/mlip-batch.5) is
 *   header:  8-byte magic "MLIPBAT\n", u32 version, u32 header_bytes,
 *            f64 cutoff, u64 flags (0), 4 × u64 reserved (0)
 *   records: u32 kind, u32 crc32 (of the payload), u64 payload_bytes, payload
 *            kind 1 = batch, kind 2 = end of stream (payload: u64 n_batches)
 * All integers and floats little-endian. A reader needs no seeking, so streams
 * flow through pipes; a truncated or corrupted stream is detected and the
 * message names the file and the record number.
 */
#ifndef MLIP_BATCH_H
#define MLIP_BATCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "error.h"
#include "structure.h"

#define MLIP_BATCH_MAGIC "MLIPBAT\n"
#define MLIP_BATCH_VERSION 1u
#define MLIP_BATCH_HEADER_BYTES 64u
#define MLIP_BATCH_RECORD_BATCH 1u
#define MLIP_BATCH_RECORD_END 2u
/* Refuse records larger than this (a corrupted length must not allocate 2^63 bytes). */
#define MLIP_BATCH_MAX_RECORD ((uint64_t)1 << 36)
/* Longest dataset name or id, in bytes without the terminating NUL. */
#define MLIP_BATCH_MAX_STRING 65535u
/* Largest header_bytes a version-1 reader accepts (bytes past 64 are skipped). */
#define MLIP_BATCH_MAX_HEADER 4096u

struct mlip_batch {
	size_t n_systems, n_atoms, n_edges;
	double cutoff;            /* Å, the neighbour-list cutoff */
	uint32_t *natoms;         /* (B) atoms per system */
	uint32_t *nedges;         /* (B) edges per system */
	size_t *atom_start;       /* (B + 1) derived: first atom of each system */
	size_t *edge_start;       /* (B + 1) derived: first edge of each system */
	uint32_t *has;            /* (B) MLIP_HAS_* label bits */
	uint8_t *pbc;             /* (B, 3) */
	double *cell;             /* (B, 9) rows a, b, c */
	double *energy;           /* (B) eV; 0 where absent */
	double *stress;           /* (B, 9) eV/Å³ ASE sign; 0 where absent */
	int32_t *numbers;         /* (N) */
	double *positions;        /* (N, 3) Å */
	double *forces;           /* (N, 3) eV/Å; 0 where absent */
	uint8_t *fixed;           /* (N) 1 = fixed */
	int32_t *edge_i;          /* (E) batch-global central atom */
	int32_t *edge_j;          /* (E) batch-global neighbour atom */
	int32_t *edge_shift;      /* (E, 3) image of j in cell vectors */
	char **dataset;           /* (B) owned strings, never NULL */
	char **id;                /* (B) owned strings, never NULL ("" if unknown) */
};

void mlip_batch_init(struct mlip_batch *b);
void mlip_batch_release(struct mlip_batch *b);

/*
 * Allocate b (released first) for n_systems systems, n_atoms atoms and
 * n_edges edges: every array zero-filled, dataset and id arrays of NULL
 * pointers for the caller to fill with malloc'd strings. Call
 * mlip_batch_index once natoms and nedges are set. MLIP_ENOMEM.
 */
int mlip_batch_alloc(struct mlip_batch *b, size_t n_systems, size_t n_atoms, size_t n_edges,
		     struct mlip_err *err);

/* Recompute the derived atom_start and edge_start from natoms and nedges. */
void mlip_batch_index(struct mlip_batch *b);

/*
 * Append the systems of src to dst (edge indices shifted by dst's atom
 * count), as if both had been collated together. An empty dst (n_systems 0)
 * takes src's cutoff; otherwise the cutoffs must be equal (MLIP_EINVAL).
 * src is borrowed; MLIP_ENOMEM leaves dst unchanged.
 */
int mlip_batch_append(struct mlip_batch *dst, const struct mlip_batch *src,
		      struct mlip_err *err);

/*
 * Collate n structures into b (released first), building each neighbour list
 * at cutoff. Label bits in exclude (MLIP_HAS_*) are dropped. A structure
 * without a dataset gets default_dataset. Errors (duplicate atoms, bad
 * cutoff) are prefixed with the structure's id.
 */
int mlip_batch_collate(struct mlip_batch *b, const struct mlip_structure *const *s, size_t n,
		       double cutoff, unsigned exclude, const char *default_dataset,
		       struct mlip_err *err);

/*
 * Copy system k of b into s (released first); edges are not part of a
 * structure. An empty id ("") becomes NULL, so collate followed by
 * get_structure gives back the structure that went in (labels in exclude
 * aside). MLIP_EINVAL if k is out of range.
 */
int mlip_batch_get_structure(const struct mlip_batch *b, size_t k, struct mlip_structure *s,
			     struct mlip_err *err);

/*
 * Check internal consistency: at least one system, none empty, counts
 * summing to n_atoms / n_edges, derived starts matching, known label bits,
 * atomic numbers that are elements, finite geometry and present labels, a
 * non-singular cell along periodic axes, pbc and fixed flags 0 or 1, edge
 * atoms of system k inside system k, zero shifts along non-periodic axes, no
 * edge from an atom to itself in the home cell, no edge longer than the
 * cutoff (1e-9 relative slack for another neighbour list's rounding), a
 * positive cutoff, non-empty dataset names and strings no longer than
 * MLIP_BATCH_MAX_STRING. MLIP_EDATA with a message naming the system
 * ("system 3: edge 17: atom index 40 is outside the system's atoms 8..12";
 * systems and edges count from 1, edge atom indices are the stored ones).
 */
int mlip_batch_validate(const struct mlip_batch *b, struct mlip_err *err);

/* CRC-32 (IEEE 802.3, as zlib's crc32) of n bytes, continuing from crc (start with 0). */
uint32_t mlip_crc32(uint32_t crc, const void *data, size_t n);

struct mlip_batch_writer {
	FILE *f;            /* borrowed */
	const char *path;   /* for messages; borrowed */
	double cutoff;
	uint64_t n_records;
	unsigned char *buf; /* payload scratch (owned) */
	size_t cap;
};

/* Write the stream header to f (MLIP_EINVAL for a bad cutoff, MLIP_EIO). */
int mlip_batch_writer_open(struct mlip_batch_writer *w, FILE *f, const char *path,
			   double cutoff, struct mlip_err *err);
/*
 * Append one batch record; b->cutoff must equal the stream's (MLIP_EINVAL).
 * b is validated first (MLIP_EDATA, "PATH: batch N: system ..."), so a
 * writer never produces a stream its reader refuses. Absent labels are
 * written as zeros. Write failures are MLIP_EIO ("PATH: write error: ...").
 */
int mlip_batch_write(struct mlip_batch_writer *w, const struct mlip_batch *b,
		     struct mlip_err *err);
/* Write the end-of-stream record and flush (f stays open; the caller closes it). */
int mlip_batch_writer_close(struct mlip_batch_writer *w, struct mlip_err *err);
/* Free the scratch buffer without writing the end record (after an error). */
void mlip_batch_writer_release(struct mlip_batch_writer *w);

struct mlip_batch_reader {
	FILE *f;            /* borrowed */
	const char *path;   /* borrowed */
	uint32_t version;
	double cutoff;      /* from the header */
	uint64_t record;    /* 1-based number of the last record read */
	int ended;          /* the end record was seen */
	unsigned char *buf; /* (owned) */
	size_t cap;
	uint64_t n_batches; /* batch records read since the last header */
};

/*
 * Read and check the header (magic, version, header size). Errors are
 * MLIP_EDATA ("PATH: not an mlip batch stream; convert structures with
 * mlip-collate first", "PATH: written by a newer mlip (version 2); this mlip
 * reads version 1; upgrade mlip", "PATH: truncated header (40 of 64 bytes)")
 * or MLIP_EIO for a read error. r->buf is owned: call reader_release even
 * after an error.
 */
int mlip_batch_reader_open(struct mlip_batch_reader *r, FILE *f, const char *path,
			   struct mlip_err *err);
/*
 * After read_next returned 0: if f holds another stream (`cat a.mlb b.mlb`),
 * read its header and return 1; return 0 at a clean end of file. Record
 * numbers keep counting across the streams, so "record N" is the Nth record
 * of the file. MLIP_EDATA for trailing bytes that are not a stream header or
 * a cutoff different from the first stream's.
 */
int mlip_batch_reader_next_stream(struct mlip_batch_reader *r, struct mlip_err *err);
/*
 * Read the next batch into b (released first). Returns 1 for a batch, 0 at the
 * end record (and on every call after it), or MLIP_EDATA for a truncated
 * stream, a CRC mismatch, an unknown record kind or an inconsistent payload,
 * naming "PATH: record N" ("PATH: truncated after record N: ..." when the
 * file ends on a record boundary without the end record); MLIP_EIO for a
 * read error, MLIP_ENOMEM. Records are read in one pass without seeking,
 * and memory grows only as payload bytes actually arrive.
 * Example:
 *	while ((rc = mlip_batch_read_next(&r, &b, &err)) == 1)
 *		train_on(&b);
 *	if (rc < 0) ... err.msg ...
 */
int mlip_batch_read_next(struct mlip_batch_reader *r, struct mlip_batch *b,
			 struct mlip_err *err);
void mlip_batch_reader_release(struct mlip_batch_reader *r);

/* Where a batch record lies in a stream file, and its counts. */
struct mlip_batch_extent {
	uint64_t offset;    /* of the payload, in bytes from the start of the file */
	uint64_t bytes;     /* payload length */
	uint32_t crc;       /* the record's checksum */
	uint64_t record;    /* 1-based record number in the file, for messages */
	uint64_t n_systems, n_atoms, n_edges;
};

/*
 * Like read_next, but for a regular file: read the next record's header and
 * counts, check them against the payload length and the file's size, and
 * seek past the payload without reading it. Returns 1 with *x filled, 0 at
 * the end record (which is read and checked as read_next does), or the
 * errors of read_next; MLIP_EINVAL when the file cannot seek (a pipe). The
 * payload's checksum and contents are checked when it is read:
 *	while ((rc = mlip_batch_reader_skim(&r, &x, &err)) == 1)
 *		... remember x ...
 *	... later: mlip_batch_read_extent(&r, &x, &b, &err) ...
 */
int mlip_batch_reader_skim(struct mlip_batch_reader *r, struct mlip_batch_extent *x,
			   struct mlip_err *err);
/*
 * Read and decode the batch at extent x (from skim on the same file) into b
 * (released first): checksum, payload and mlip_batch_validate are checked as
 * read_next checks them, with the same messages ("PATH: record N: ..."). The
 * reader's position moves; it reads extents in any order, any number of times.
 */
int mlip_batch_read_extent(struct mlip_batch_reader *r, const struct mlip_batch_extent *x,
			   struct mlip_batch *b, struct mlip_err *err);

/*
 * A growable array of batches (owns its elements), with the cutoff they
 * share: the in-memory form of a whole .mlb file.
 */
struct mlip_batch_list {
	struct mlip_batch *items; /* (n) */
	size_t n, alloc;
	double cutoff;            /* Å; 0 until a batch or a stream header sets it */
};

void mlip_batch_list_init(struct mlip_batch_list *l);
void mlip_batch_list_release(struct mlip_batch_list *l);

/* Append b, taking over what it owns (b is re-initialised). Cutoffs must agree (MLIP_EINVAL). */
int mlip_batch_list_take(struct mlip_batch_list *l, struct mlip_batch *b, struct mlip_err *err);

/*
 * Read every batch from f (one stream, or several concatenated) and append
 * them to l. Example:
 *	struct mlip_batch_list l;
 *	mlip_batch_list_init(&l);
 *	if ((rc = mlip_batch_list_load(&l, "train.mlb", &err)))
 *		... err.msg is "train.mlb: record 7: checksum mismatch ..." ...
 * On error l keeps the batches read before the bad record.
 */
int mlip_batch_list_read(struct mlip_batch_list *l, FILE *f, const char *path,
			 struct mlip_err *err);
/* Open path ("-" is stdin) and mlip_batch_list_read it; MLIP_EIO if it cannot be opened. */
int mlip_batch_list_load(struct mlip_batch_list *l, const char *path, struct mlip_err *err);

/* Write l as one stream (header, one record per batch, end record) to f. */
int mlip_batch_list_write(const struct mlip_batch_list *l, FILE *f, const char *path,
			  struct mlip_err *err);
/*
 * Write l to path through path.tmp, fsync and rename, so a reader never sees
 * a half-written file ("-" writes to stdout, flushed but not closed).
 */
int mlip_batch_list_save(const struct mlip_batch_list *l, const char *path,
			 struct mlip_err *err);

/*
 * For the tests only: nonzero makes the encoder and decoder use the
 * byte-by-byte path of big-endian hosts even on a little-endian one.
 */
extern int mlip_batch_portable_io;

#endif
