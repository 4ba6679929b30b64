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
 * Collate n structures into b (released first), building each neighbour list
 * at cutoff. Label bits in exclude (MLIP_HAS_*) are dropped. A structure
 * without a dataset gets default_dataset. Errors (duplicate atoms, bad
 * cutoff) are prefixed with the structure's id.
 */
int mlip_batch_collate(struct mlip_batch *b, const struct mlip_structure *const *s, size_t n,
		       double cutoff, unsigned exclude, const char *default_dataset,
		       struct mlip_err *err);

/* Copy system k of b into s (released first); edges are not part of a structure. */
int mlip_batch_get_structure(const struct mlip_batch *b, size_t k, struct mlip_structure *s,
			     struct mlip_err *err);

/* Check internal consistency (counts, indices in range, finite values). */
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

/* Write the stream header to f. */
int mlip_batch_writer_open(struct mlip_batch_writer *w, FILE *f, const char *path,
			   double cutoff, struct mlip_err *err);
/* Append one batch record; b->cutoff must equal the stream's. */
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
};

/* Read and check the header (magic, version, header size). */
int mlip_batch_reader_open(struct mlip_batch_reader *r, FILE *f, const char *path,
			   struct mlip_err *err);
/*
 * Read the next batch into b (released first). Returns 1 for a batch, 0 at the
 * end record, or MLIP_EDATA for a truncated stream, a CRC mismatch, an unknown
 * record kind or an inconsistent payload, naming "PATH: record N".
 */
int mlip_batch_read_next(struct mlip_batch_reader *r, struct mlip_batch *b,
			 struct mlip_err *err);
void mlip_batch_reader_release(struct mlip_batch_reader *r);

#endif
