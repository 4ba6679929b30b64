/*
 * ghosts.h - the ghost-atom form of a periodic structure, as an MD code
 * (LAMMPS, a KIM simulator) hands it to mlip_compute_neighbors: for the
 * Check suites and the benchmarks. Failures of allocation abort.
 */
#ifndef MLIP_TEST_GHOSTS_H
#define MLIP_TEST_GHOSTS_H

#include <stdlib.h>
#include <string.h>

#include "nlist.h"
#include "structure.h"

/*
 * The ghost-atom form of a periodic structure, as an MD code builds it: the
 * structure's atoms (contributing) plus one ghost per lattice image that
 * some atom sees, with full neighbour lists (and a far ghost in every list,
 * which must be skipped). Particles are stored ghosts first so that the
 * order is not the contributing-first order the library uses inside.
 */
struct ghosts {
	size_t n_all, n;
	int *numbers, *contributing, *n_nbr, **nbr;
	double *pos;
	size_t *home; /* particle -> atom of the structure */
};

static const struct mlip_nlist *ghosts_sort_nl; /* qsort has no context argument */

/* Order of edges by the image they reach: neighbour, then shift. */
static inline int ghosts_cmp_image(const void *pa, const void *pb)
{
	size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
	const struct mlip_nlist *nl = ghosts_sort_nl;
	if (nl->j[a] != nl->j[b])
		return nl->j[a] < nl->j[b] ? -1 : 1;
	for (int x = 0; x < 3; x++)
		if (nl->shift[3 * a + x] != nl->shift[3 * b + x])
			return nl->shift[3 * a + x] < nl->shift[3 * b + x] ? -1 : 1;
	return 0;
}

static inline int ghosts_build(struct ghosts *g, const struct mlip_structure *s, double cutoff)
{
	struct mlip_err err = { 0 };
	struct mlip_nlist nl;
	mlip_nlist_init(&nl);
	if (mlip_nlist_build(&nl, s, cutoff, &err))
		return -1;
	size_t n = s->natoms, E = nl.n_edges, cap = n + E + 1;
	size_t *slot = malloc(E * sizeof(size_t)); /* edge -> particle (before reordering) */
	double *pos = malloc(3 * cap * sizeof(double));
	size_t *home = malloc(cap * sizeof(size_t));
	size_t m = n;
	memcpy(pos, s->positions, 3 * n * sizeof(double));
	for (size_t i = 0; i < n; i++)
		home[i] = i;
	/* one ghost per distinct image (j, shift) that some edge reaches: sort the
	 * image edges by that key */
	size_t *img = malloc((E ? E : 1) * sizeof(size_t)), n_img = 0;
	for (size_t e = 0; e < E; e++) {
		const int32_t *t = nl.shift + 3 * e;
		if (!t[0] && !t[1] && !t[2])
			slot[e] = (size_t)nl.j[e];
		else
			img[n_img++] = e;
	}
	ghosts_sort_nl = &nl;
	qsort(img, n_img, sizeof(size_t), ghosts_cmp_image);
	for (size_t k = 0; k < n_img; k++) {
		size_t e = img[k], j = (size_t)nl.j[e];
		const int32_t *t = nl.shift + 3 * e;
		if (k == 0 || ghosts_cmp_image(&img[k - 1], &img[k]) != 0) {
			for (int x = 0; x < 3; x++)
				pos[3 * m + x] = s->positions[3 * j + x] + t[0] * s->cell[x] +
						 t[1] * s->cell[3 + x] + t[2] * s->cell[6 + x];
			home[m++] = j;
		}
		slot[e] = m - 1;
	}
	free(img);
	/* the far ghost */
	for (int x = 0; x < 3; x++)
		pos[3 * m + x] = s->positions[x] + 50.0;
	home[m++] = 0;
	/* reorder: ghosts first, then the atoms */
	size_t n_gh = m - n;
	g->n_all = m;
	g->n = n;
	g->numbers = malloc(m * sizeof(int));
	g->contributing = malloc(m * sizeof(int));
	g->n_nbr = calloc(m, sizeof(int));
	g->nbr = calloc(m, sizeof(int *));
	g->pos = malloc(3 * m * sizeof(double));
	g->home = malloc(m * sizeof(size_t));
	size_t *to = malloc(m * sizeof(size_t));
	for (size_t p = 0; p < m; p++)
		to[p] = p < n ? n_gh + p : p - n;
	for (size_t p = 0; p < m; p++) {
		size_t q = to[p];
		g->numbers[q] = s->numbers[home[p]];
		g->contributing[q] = p < n;
		memcpy(g->pos + 3 * q, pos + 3 * p, 3 * sizeof(double));
		g->home[q] = home[p];
	}
	for (size_t i = 0; i < n; i++) {
		size_t q = to[i], cnt = nl.first[i + 1] - nl.first[i];
		g->nbr[q] = malloc((cnt + 1) * sizeof(int));
		for (size_t e = nl.first[i]; e < nl.first[i + 1]; e++)
			g->nbr[q][g->n_nbr[q]++] = (int)to[slot[e]];
		g->nbr[q][g->n_nbr[q]++] = (int)to[m - 1];
	}
	free(to);
	free(slot);
	free(pos);
	free(home);
	mlip_nlist_release(&nl);
	return 0;
}

static inline void ghosts_free(struct ghosts *g)
{
	for (size_t p = 0; p < g->n_all; p++)
		free(g->nbr[p]);
	free(g->numbers);
	free(g->contributing);
	free(g->n_nbr);
	free(g->nbr);
	free(g->pos);
	free(g->home);
}

#endif
