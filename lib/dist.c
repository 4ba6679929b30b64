/*
 * dist.c - MPI wrappers. Large buffers are sent in chunks of at most
 * INT_MAX / 2 elements because MPI counts are int.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "dist.h"
#include "banned.h"

#define CHUNK ((size_t)INT_MAX / 2)

static int we_initialised;

static int active(void)
{
	int init = 0, fin = 0;
	MPI_Initialized(&init);
	MPI_Finalized(&fin);
	return init && !fin;
}

/*
 * A launcher of another MPI (Open MPI's mpiexec, which Debian makes the
 * plain `mpiexec` once Open MPI is installed; srun without a PMI plugin
 * MPICH speaks) starts K copies that each find a world of one: K runs that
 * write the same files. The launchers' variables tell: refuse then.
 */
static int check_launcher(struct mlip_err *err)
{
	static const char *const vars[] = { "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "SLURM_STEP_NUM_TASKS" };
	int world = 1;
	MPI_Comm_size(MPI_COMM_WORLD, &world);
	if (world != 1)
		return MLIP_OK;
	for (size_t k = 0; k < sizeof(vars) / sizeof(vars[0]); k++) {
		const char *v = getenv(vars[k]);
		long n = v ? strtol(v, NULL, 10) : 0;
		if (n > 1)
			return mlip_err_set(err, MLIP_EINVAL,
					    "started as one of %ld processes (%s=%s), but MPI sees a "
					    "world of one: the launcher belongs to another MPI than the "
					    "one mlip was built with (MPICH); use mpiexec.mpich -n %ld, or "
					    "srun --mpi=pmi2 under Slurm", n, vars[k], v, n);
	}
	return MLIP_OK;
}

int mlip_dist_init(int *argc, char ***argv, struct mlip_err *err)
{
	if (active())
		return MLIP_OK;
	if (MPI_Init(argc, argv) != MPI_SUCCESS)
		return mlip_err_set(err, MLIP_EIO, "cannot initialise MPI");
	/* Errors come back as codes, so a failed collective is reported, not fatal. */
	MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
	we_initialised = 1;
	return check_launcher(err);
}

void mlip_dist_finalize(void)
{
	if (we_initialised && active())
		MPI_Finalize();
	we_initialised = 0;
}

int mlip_dist_rank(void)
{
	int r = 0;
	if (active())
		MPI_Comm_rank(MPI_COMM_WORLD, &r);
	return r;
}

int mlip_dist_size(void)
{
	int s = 1;
	if (active())
		MPI_Comm_size(MPI_COMM_WORLD, &s);
	return s;
}

static int mpi_fail(struct mlip_err *err, const char *what, int code)
{
	char msg[MPI_MAX_ERROR_STRING];
	int len = 0;
	MPI_Error_string(code, msg, &len);
	return mlip_err_set(err, MLIP_EIO, "MPI %s failed: %s", what, msg);
}

int mlip_dist_agree(int status, struct mlip_err *err)
{
	if (mlip_dist_size() == 1)
		return status;
	/* Most severe = most negative; carry the rank along to name it. */
	int in[2] = { status, mlip_dist_rank() }, out[2];
	int rc = MPI_Allreduce(in, out, 1, MPI_2INT, MPI_MINLOC, MPI_COMM_WORLD);
	if (rc != MPI_SUCCESS)
		return mpi_fail(err, "allreduce", rc);
	if (out[0] != MLIP_OK && status == MLIP_OK)
		mlip_err_set(err, out[0], "rank %d failed (see its message)", out[1]);
	return out[0];
}

static int sum_chunks(void *buf, size_t n, MPI_Datatype type, size_t size, MPI_Op op,
		      struct mlip_err *err)
{
	if (mlip_dist_size() == 1)
		return MLIP_OK;
	for (size_t off = 0; off < n; off += CHUNK) {
		size_t m = n - off < CHUNK ? n - off : CHUNK;
		int rc = MPI_Allreduce(MPI_IN_PLACE, (char *)buf + off * size, (int)m, type, op,
				       MPI_COMM_WORLD);
		if (rc != MPI_SUCCESS)
			return mpi_fail(err, "allreduce", rc);
	}
	return MLIP_OK;
}

int mlip_dist_sum_double(double *buf, size_t n, struct mlip_err *err)
{
	return sum_chunks(buf, n, MPI_DOUBLE, sizeof(double), MPI_SUM, err);
}

int mlip_dist_sum_u64(uint64_t *buf, size_t n, struct mlip_err *err)
{
	return sum_chunks(buf, n, MPI_UINT64_T, sizeof(uint64_t), MPI_SUM, err);
}

int mlip_dist_max_double(double *buf, size_t n, struct mlip_err *err)
{
	return sum_chunks(buf, n, MPI_DOUBLE, sizeof(double), MPI_MAX, err);
}

int mlip_dist_bcast(void *buf, size_t bytes, int root, struct mlip_err *err)
{
	if (mlip_dist_size() == 1)
		return MLIP_OK;
	for (size_t off = 0; off < bytes; off += CHUNK) {
		size_t m = bytes - off < CHUNK ? bytes - off : CHUNK;
		int rc = MPI_Bcast((char *)buf + off, (int)m, MPI_BYTE, root, MPI_COMM_WORLD);
		if (rc != MPI_SUCCESS)
			return mpi_fail(err, "broadcast", rc);
	}
	return MLIP_OK;
}

void mlip_dist_shard(size_t n, int w, int r, size_t *start, size_t *count)
{
	size_t base = n / (size_t)w, extra = n % (size_t)w;
	*count = base + ((size_t)r < extra);
	*start = (size_t)r * base + ((size_t)r < extra ? (size_t)r : extra);
}

int mlip_dist_reduce_scatter_sum(double *buf, size_t n, struct mlip_err *err)
{
	int w = mlip_dist_size(), me = mlip_dist_rank();
	if (w == 1)
		return MLIP_OK;
	if (n > CHUNK) /* counts must be int: fall back to the (correct, costlier) all-reduce */
		return mlip_dist_sum_double(buf, n, err);
	int *counts = malloc((size_t)w * sizeof(int));
	if (!counts)
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	size_t start = 0, count = 0;
	for (int r = 0; r < w; r++) {
		size_t s, c;
		mlip_dist_shard(n, w, r, &s, &c);
		counts[r] = (int)c;
		if (r == me)
			start = s, count = c;
	}
	/* In place, MPI puts this rank's block at the start of buf; move it home.
	 * (MPI_Reduce with MPI_IN_PLACE at a non-zero root crashes in the
	 * MPICH 4.0 + UCX that Debian 12 ships, so reduce-scatter it is.) */
	int rc = MPI_Reduce_scatter(MPI_IN_PLACE, buf, counts, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
	free(counts);
	if (rc != MPI_SUCCESS)
		return mpi_fail(err, "reduce-scatter", rc);
	memmove(buf + start, buf, count * sizeof(double));
	return MLIP_OK;
}

int mlip_dist_allgather_shards(double *buf, size_t n, struct mlip_err *err)
{
	int w = mlip_dist_size();
	if (w == 1)
		return MLIP_OK;
	for (int r = 0; r < w; r++) {
		size_t start, count;
		mlip_dist_shard(n, w, r, &start, &count);
		int rc = mlip_dist_bcast(buf + start, count * sizeof(double), r, err);
		if (rc)
			return rc;
	}
	return MLIP_OK;
}

int mlip_dist_allgather_bytes(const void *mine, size_t n, unsigned char **all, uint64_t *sizes,
			      struct mlip_err *err)
{
	int w = mlip_dist_size(), me = mlip_dist_rank();
	size_t total = 0;
	int rc;
	*all = NULL;
	memset(sizes, 0, (size_t)w * sizeof(*sizes));
	sizes[me] = n;
	if ((rc = mlip_dist_sum_u64(sizes, (size_t)w, err)))
		return rc;
	for (int r = 0; r < w; r++)
		total += (size_t)sizes[r];
	*all = malloc(total + 1);
	rc = *all ? MLIP_OK : mlip_err_set(err, MLIP_ENOMEM, "out of memory for %zu gathered bytes", total);
	if ((rc = mlip_dist_agree(rc, err))) {
		free(*all);
		*all = NULL;
		return rc;
	}
	size_t at = 0;
	for (int r = 0; r < w; at += (size_t)sizes[r], r++) {
		if (r == me && n)
			memcpy(*all + at, mine, n);
		if ((rc = mlip_dist_bcast(*all + at, (size_t)sizes[r], r, err))) {
			free(*all);
			*all = NULL;
			return rc;
		}
	}
	return MLIP_OK;
}

void mlip_dist_barrier(void)
{
	if (mlip_dist_size() > 1)
		MPI_Barrier(MPI_COMM_WORLD);
}

void mlip_dist_abort(int code)
{
	if (active() && mlip_dist_size() > 1)
		MPI_Abort(MPI_COMM_WORLD, code);
	abort();
}
