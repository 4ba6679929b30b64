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
 *
 * Positions need not be wrapped into the cell: n always refers to the input
 * positions. Only the cell vectors of periodic axes are used; along a
 * non-periodic axis the cell may be anything, including zero (a cluster has no
 * cell at all). The periodic vectors must be linearly independent.
 *
 * Example:
 *	struct mlip_nlist nl;
 *	mlip_nlist_init(&nl);
 *	if (mlip_nlist_build(&nl, &s, 5.0, &err))
 *		return err.code;
 *	for (size_t e = nl.first[i]; e < nl.first[i + 1]; e++)
 *		... nl.j[e], nl.shift + 3 * e ...
 *	mlip_nlist_release(&nl);
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
	size_t natoms;   /* atoms of the structure last built */
	size_t *first;   /* (natoms + 1) edges of atom i are first[i] .. first[i + 1] - 1 */
};

void mlip_nlist_init(struct mlip_nlist *nl);
void mlip_nlist_release(struct mlip_nlist *nl);

/*
 * Build the list for s at cutoff (Å, > 0), replacing nl's contents (its
 * buffers are reused). O(N) for large N at fixed density: cell lists over the
 * fractional coordinates, the bounding box along non-periodic axes, images
 * enumerated as far as a thin cell needs. Returns MLIP_EDATA when two atoms
 * (or an atom and one of its own images) are closer than
 * MLIP_DUPLICATE_DISTANCE, naming both atoms (1-based; the first such pair in
 * edge order, as the brute force reports it), for non-finite positions or
 * periodic cell vectors, and for linearly dependent periodic cell vectors;
 * MLIP_EINVAL for a bad cutoff, or one that would need an absurd number of
 * images (over 10^8 per atom); MLIP_ENOMEM. On error nl holds no edges.
 */
int mlip_nlist_build(struct mlip_nlist *nl, const struct mlip_structure *s, double cutoff,
		     struct mlip_err *err);

/*
 * The reference: every atom pair against every image n with |n_k| <= reach[k]
 * (mlip_nlist_reach), O(N² · images). Same contract, output and error
 * messages as mlip_nlist_build; used by the tests to check the fast path.
 * Atoms far outside the cell make the reach (and the time) grow.
 */
int mlip_nlist_build_brute(struct mlip_nlist *nl, const struct mlip_structure *s,
			   double cutoff, struct mlip_err *err);

/*
 * Range of integer shifts that holds every edge of s at cutoff: n_k in
 * [-reach[k], reach[k]], 0 for non-periodic axes. A vector shorter than the
 * cutoff spans less than cutoff / w_k in fractional coordinate k, where w_k is
 * the perpendicular width of the cell along axis k (the distance between the
 * lattice planes spanned by the other two vectors, however skewed the cell),
 * so reach[k] = ceil(cutoff / w_k + spread_k) + 1, where spread_k is the range
 * of the atoms' fractional coordinates k (below 1 for wrapped positions; the
 * + 1 absorbs rounding). All zero if the periodic cell vectors are singular.
 */
void mlip_nlist_reach(int reach[3], const struct mlip_structure *s, double cutoff);

#endif
