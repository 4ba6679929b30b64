/*
 * dist.h - the MPI (MPICH) layer. A program that never calls mlip_dist_init,
 * or runs without mpiexec, is a world of size 1 and every collective is the
 * identity, so lib/ code calls these unconditionally.
 *
 * Error discipline (LAMMPS all/one): any status that may differ between
 * ranks goes through mlip_dist_agree before the next collective, so a rank
 * that failed never leaves the others waiting.
 */
#ifndef MLIP_DIST_H
#define MLIP_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

/* Initialise MPI (safe without mpiexec); idempotent. */
int mlip_dist_init(int *argc, char ***argv, struct mlip_err *err);
/* Finalise MPI if mlip_dist_init initialised it. */
void mlip_dist_finalize(void);

int mlip_dist_rank(void);
int mlip_dist_size(void);

/*
 * Combine a status over ranks: returns the most severe (most negative) code
 * of any rank, so every rank takes the same branch. When another rank failed
 * and this one did not, err (if given) says which rank failed.
 */
int mlip_dist_agree(int status, struct mlip_err *err);

/* In-place sum over ranks of n doubles (chunked: n may exceed INT_MAX). */
int mlip_dist_sum_double(double *buf, size_t n, struct mlip_err *err);
/* In-place sum of n uint64 counters. */
int mlip_dist_sum_u64(uint64_t *buf, size_t n, struct mlip_err *err);
/* In-place max of n doubles. */
int mlip_dist_max_double(double *buf, size_t n, struct mlip_err *err);

/* Broadcast bytes from root. */
int mlip_dist_bcast(void *buf, size_t bytes, int root, struct mlip_err *err);

/*
 * The shard of an n-element buffer owned by rank r of w: [start, start+count).
 * Shards are contiguous, sizes differ by at most one, lower ranks larger.
 */
void mlip_dist_shard(size_t n, int w, int r, size_t *start, size_t *count);

/*
 * Sum buf over ranks, leaving each rank's own shard (mlip_dist_shard) summed
 * in place (reduce-scatter). Other entries are unspecified afterwards.
 */
int mlip_dist_reduce_scatter_sum(double *buf, size_t n, struct mlip_err *err);

/* Gather every rank's shard of buf into all ranks (all-gather in place). */
int mlip_dist_allgather_shards(double *buf, size_t n, struct mlip_err *err);

/*
 * Every rank's n bytes at mine, on every rank: *all (malloc'd; free it)
 * holds rank 0's bytes, then rank 1's, and so on; sizes (mlip_dist_size()
 * entries, the caller's) their lengths. MLIP_ENOMEM, or the errors of the other collectives.
 */
int mlip_dist_allgather_bytes(const void *mine, size_t n, unsigned char **all, uint64_t *sizes,
			      struct mlip_err *err);

void mlip_dist_barrier(void);

/* Stop every rank (MPI_Abort) or abort() when not under MPI. */
void mlip_dist_abort(int code) __attribute__((noreturn));

#endif
