/*
 * nlist.h - neighbour lists for periodic (any triclinic cell), mixed-pbc and
 * non-periodic structures.
 *
 * An edge (i, j, n) means atom j in the image shifted by the integer vector n
 * is a neighbour of atom i: r_ij = r_j + n·H − r_i with 0 < |r_ij| < cutoff,
 * where H has the cell vectors as rows and n = 0 along non-periodic axes.
 * Both directions of each pair are listed ((j, i, −n) too). Cells thinner than
 * the cutoff are handled by enumerating as many images as needed, so an atom
 * may see several images of itself and of each neighbour.
 *
 * Edges are sorted by i, then j, then n (lexicographic), so two builds of the
 * same structure give identical arrays whatever the algorithm.
 */
#ifndef MLIP_NLIST_H
#define MLIP_NLIST_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "structure.h"

/* Two atoms (or an atom and an image) closer than this are duplicates. */
#define MLIP_DUPLICATE_DISTANCE 1e-6

struct mlip_nlist {
	size_t n_edges, alloc;
	int32_t *i;      /* (n_edges) central atom */
	int32_t *j;      /* (n_edges) neighbour atom */
	int32_t *shift;  /* (n_edges, 3) image of j, in cell vectors */
};

void mlip_nlist_init(struct mlip_nlist *nl);
void mlip_nlist_release(struct mlip_nlist *nl);

/*
 * Build the list for s at cutoff (Å, > 0), replacing nl's contents. O(N) for
 * large N (cell lists over the parallelepiped spanned by the cell). Returns
 * MLIP_EDATA when two atoms (or an atom and one of its own images) are closer
 * than MLIP_DUPLICATE_DISTANCE, naming both atoms; MLIP_EINVAL for a bad
 * cutoff; MLIP_ENOMEM.
 */
int mlip_nlist_build(struct mlip_nlist *nl, const struct mlip_structure *s, double cutoff,
		     struct mlip_err *err);

/*
 * The reference: every atom pair against every image inside the cutoff
 * sphere, O(N² · images). Same contract and same output order as
 * mlip_nlist_build; used by the tests to check the fast path.
 */
int mlip_nlist_build_brute(struct mlip_nlist *nl, const struct mlip_structure *s,
			   double cutoff, struct mlip_err *err);

/*
 * Range of integer shifts needed along each axis so that every image within
 * cutoff of the home cell is visited: n_k in [-reach[k], reach[k]], 0 for
 * non-periodic axes. reach[k] = ceil(cutoff / w_k) + 1-ish where w_k is the
 * perpendicular width of the cell along axis k (see nlist.c).
 */
void mlip_nlist_reach(int reach[3], const struct mlip_structure *s, double cutoff);

#endif
