/*
 * nlist.c - neighbour lists. (Brute-force reference; the cell-list fast path
 * replaces mlip_nlist_build.)
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nlist.h"
#include "banned.h"

void mlip_nlist_init(struct mlip_nlist *nl)
{
	memset(nl, 0, sizeof(*nl));
}

void mlip_nlist_release(struct mlip_nlist *nl)
{
	free(nl->i);
	free(nl->j);
	free(nl->shift);
	mlip_nlist_init(nl);
}

static int nlist_push(struct mlip_nlist *nl, int32_t i, int32_t j, const int n[3],
		      struct mlip_err *err)
{
	if (nl->n_edges == nl->alloc) {
		size_t alloc = nl->alloc ? 2 * nl->alloc : 1024;
		int32_t *ni = realloc(nl->i, alloc * sizeof(int32_t));
		if (ni) nl->i = ni;
		int32_t *nj = realloc(nl->j, alloc * sizeof(int32_t));
		if (nj) nl->j = nj;
		int32_t *ns = realloc(nl->shift, 3 * alloc * sizeof(int32_t));
		if (ns) nl->shift = ns;
		if (!ni || !nj || !ns)
			return mlip_err_set(err, MLIP_ENOMEM, "out of memory for %zu edges", alloc);
		nl->alloc = alloc;
	}
	size_t e = nl->n_edges++;
	nl->i[e] = i;
	nl->j[e] = j;
	nl->shift[3 * e + 0] = n[0];
	nl->shift[3 * e + 1] = n[1];
	nl->shift[3 * e + 2] = n[2];
	return MLIP_OK;
}

void mlip_nlist_reach(int reach[3], const struct mlip_structure *s, double cutoff)
{
	/* The perpendicular width of the cell along axis k is V / |b × c| (cyclic).
	 * Images beyond ceil(cutoff / width) + 1 cannot hold a neighbour of an atom
	 * anywhere in the home cell, even for atoms slightly outside it. */
	const double *h = s->cell;
	double vol = mlip_cell_volume(h);
	for (int k = 0; k < 3; k++) {
		reach[k] = 0;
		if (!s->pbc[k])
			continue;
		const double *u = h + 3 * ((k + 1) % 3), *v = h + 3 * ((k + 2) % 3);
		double cx = u[1] * v[2] - u[2] * v[1];
		double cy = u[2] * v[0] - u[0] * v[2];
		double cz = u[0] * v[1] - u[1] * v[0];
		double width = vol / sqrt(cx * cx + cy * cy + cz * cz);
		reach[k] = (int)ceil(cutoff / width) + 1;
	}
}

int mlip_nlist_build_brute(struct mlip_nlist *nl, const struct mlip_structure *s,
			   double cutoff, struct mlip_err *err)
{
	int reach[3], rc;
	if (!(cutoff > 0) || !isfinite(cutoff))
		return mlip_err_set(err, MLIP_EINVAL, "cutoff must be a positive number, not %g", cutoff);
	nl->n_edges = 0;
	mlip_nlist_reach(reach, s, cutoff);
	const double *h = s->cell, *pos = s->positions;
	double c2 = cutoff * cutoff, d2 = MLIP_DUPLICATE_DISTANCE * MLIP_DUPLICATE_DISTANCE;
	for (size_t i = 0; i < s->natoms; i++)
		for (size_t j = 0; j < s->natoms; j++) {
			int n[3];
			for (n[0] = -reach[0]; n[0] <= reach[0]; n[0]++)
			for (n[1] = -reach[1]; n[1] <= reach[1]; n[1]++)
			for (n[2] = -reach[2]; n[2] <= reach[2]; n[2]++) {
				double r2 = 0;
				for (int x = 0; x < 3; x++) {
					double d = pos[3 * j + x] - pos[3 * i + x]
						 + n[0] * h[x] + n[1] * h[3 + x] + n[2] * h[6 + x];
					r2 += d * d;
				}
				if (i == j && n[0] == 0 && n[1] == 0 && n[2] == 0)
					continue;
				if (r2 < d2)
					return mlip_err_set(err, MLIP_EDATA,
							    "atoms %zu and %zu are at the same position",
							    i + 1, j + 1);
				if (r2 < c2 && (rc = nlist_push(nl, (int32_t)i, (int32_t)j, n, err)))
					return rc;
			}
		}
	return MLIP_OK;
}

int mlip_nlist_build(struct mlip_nlist *nl, const struct mlip_structure *s, double cutoff,
		     struct mlip_err *err)
{
	return mlip_nlist_build_brute(nl, s, cutoff, err);
}
