/*
 * batchstore.h - the batches of one or more .mlb files, read on demand.
 *
 * Opening a store reads each file's record headers and counts only, seeking
 * over the payloads (one pass of small reads), so that a rank of a training
 * decodes just the batches it works on: W ranks together decode each batch
 * once per pass instead of W times, and a rank holds one batch at a time
 * rather than the whole set. Streams that cannot seek (standard input, a
 * pipe) are read whole when opened, as mlip_batch_list_load reads them.
 *
 * Batches are numbered 0 .. n−1 in file order (the order of
 * mlip_batch_list_load over the same paths).
 *
 *	struct mlip_batch_store s;
 *	struct mlip_batch scratch;
 *	mlip_batch_store_open(&s, paths, n_paths, 1, &err);
 *	const struct mlip_batch *b = mlip_batch_store_get(&s, k, &scratch, &err);
 *	if (!b) ... err.msg is "train.mlb: record 7: checksum mismatch ..." ...
 */
#ifndef MLIP_BATCHSTORE_H
#define MLIP_BATCHSTORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "batch.h"
#include "error.h"

struct mlip_batch_store_file {
	char *path;                        /* owned copy */
	FILE *f;                           /* open while get reads it (one file at a time), else NULL */
	struct mlip_batch_reader r;        /* positioned anywhere; owns the payload buffer */
};

struct mlip_batch_store {
	size_t n;                          /* batches */
	double cutoff;                     /* Å, shared by every stream; 0 until a file sets it */
	struct mlip_batch_extent *ext;     /* (n) where each batch lies (unused if in memory) */
	uint32_t *file;                    /* (n) its file */
	size_t *slot;                      /* (n) its place in whole, or SIZE_MAX if on disk */
	struct mlip_batch_list whole;      /* the batches of the files read whole */
	struct mlip_batch_store_file *files; /* (n_files) */
	size_t n_files;
	size_t max_systems, max_atoms;     /* of one batch */
	uint64_t total_systems, total_atoms;
	uint64_t decoded;                  /* batches decoded by get (not counting files read whole) */
	size_t open;                       /* 1 + the file get has open; 0: none */
};

void mlip_batch_store_init(struct mlip_batch_store *s);
void mlip_batch_store_release(struct mlip_batch_store *s);

/*
 * Add the batches of the files paths[0 .. n−1] ("-" is standard input), in
 * that order. With seek nonzero, regular files are indexed and decoded on
 * demand; otherwise (and for pipes) each file is read whole. Errors are
 * those of the batch reader (MLIP_EDATA naming file and record, MLIP_EIO
 * when a file cannot be opened) and MLIP_EDATA for streams of different
 * cutoffs.
 */
int mlip_batch_store_open(struct mlip_batch_store *s, char *const *paths, size_t n, int seek,
			  struct mlip_err *err);

/*
 * Batch k: the batch itself if its file was read whole, else decoded into
 * scratch (released first; the caller releases it), which is returned.
 * NULL on error (checksum, payload, read error; MLIP_EINVAL for k >= n).
 */
const struct mlip_batch *mlip_batch_store_get(struct mlip_batch_store *s, size_t k,
					      struct mlip_batch *scratch, struct mlip_err *err);

/* Batch k's counts without reading it. */
size_t mlip_batch_store_systems(const struct mlip_batch_store *s, size_t k);
size_t mlip_batch_store_atoms(const struct mlip_batch_store *s, size_t k);

#endif
