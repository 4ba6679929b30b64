/*
 * structure.h - one atomic structure with optional DFT labels.
 *
 * Units: positions and cell in Å, energy in eV, forces in eV/Å, stress in
 * eV/Å³ with ASE's sign (positive = tensile), stored as a full 3×3 row-major
 * matrix. The cell is three row vectors a, b, c (cell[3*k + x] = component x
 * of vector k). Labels are present only when their MLIP_HAS_* bit is set: an
 * absent label is never encoded as NaN.
 */
#ifndef MLIP_STRUCTURE_H
#define MLIP_STRUCTURE_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

enum {
	MLIP_HAS_ENERGY = 1u << 0,
	MLIP_HAS_FORCES = 1u << 1,
	MLIP_HAS_STRESS = 1u << 2,
};

struct mlip_structure {
	size_t natoms;
	int32_t *numbers;     /* (natoms) atomic numbers */
	double *positions;    /* (natoms, 3) Cartesian, Å */
	double cell[9];       /* (3, 3) rows a, b, c; zero where there is no cell */
	uint8_t pbc[3];       /* periodic along a, b, c */
	unsigned has;         /* MLIP_HAS_* bits */
	double energy;        /* eV, if MLIP_HAS_ENERGY */
	double *forces;       /* (natoms, 3) eV/Å; allocated always, valid if MLIP_HAS_FORCES */
	double stress[9];     /* (3, 3) eV/Å³ ASE sign, if MLIP_HAS_STRESS */
	uint8_t *fixed;       /* (natoms) 1 = fixed atom; allocated always, zero by default */
	char *dataset;        /* dataset name, or NULL when the source names none */
	char *id;             /* "source:index", or NULL */
};

/*
 * The most atoms the structure readers (extxyz, mlearn JSON, n2p2) accept in
 * one structure: a file that declares more is refused as damaged input
 * (MLIP_EDATA) before anything is allocated for it, so that mlip-collate and
 * mlip-eval stay within a known memory bound (mlip-collate(1)). DFT data sets
 * hold a few hundred to a few thousand atoms per structure.
 */
#define MLIP_MAX_ATOMS 1000000u

/* Zero a structure (no allocation). */
void mlip_structure_init(struct mlip_structure *s);

/* Free what s owns and re-initialise it. */
void mlip_structure_release(struct mlip_structure *s);

/*
 * Allocate the per-atom arrays for natoms atoms (numbers, positions, forces,
 * fixed; zero-filled). Any previous contents are released first.
 */
int mlip_structure_alloc(struct mlip_structure *s, size_t natoms, struct mlip_err *err);

/*
 * Change the number of atoms to natoms, keeping the first min(old, new)
 * atoms' data and zero-filling the rest (readers grow a structure as atom
 * lines arrive). MLIP_ENOMEM leaves s unchanged.
 */
int mlip_structure_resize(struct mlip_structure *s, size_t natoms, struct mlip_err *err);

/* Deep copy src into dst (dst is released first). */
int mlip_structure_copy(struct mlip_structure *dst, const struct mlip_structure *src,
			struct mlip_err *err);

/* Replace s->dataset / s->id by a copy of str (NULL clears). */
int mlip_structure_set_dataset(struct mlip_structure *s, const char *str, struct mlip_err *err);
int mlip_structure_set_id(struct mlip_structure *s, const char *str, struct mlip_err *err);

/* Number of periodic axes (0..3). */
int mlip_structure_n_periodic(const struct mlip_structure *s);

/*
 * Validate a structure: atomic numbers in 1..118, finite positions, cell and
 * labels, a non-singular cell when any axis is periodic. Returns MLIP_EDATA
 * with a message naming the first offending atom or label. Duplicate atoms
 * are found by the neighbour list (mlip_nlist_build), which sees every image.
 */
int mlip_structure_validate(const struct mlip_structure *s, struct mlip_err *err);

/* Cell volume |det H| (0 if the cell is absent). */
double mlip_cell_volume(const double cell[9]);

/* Inverse of a 3x3 row-major matrix; returns MLIP_EDATA if singular. */
int mlip_mat3_inverse(double inv[9], const double m[9]);

/*
 * A growable array of structures (owns its elements).
 */
struct mlip_structure_list {
	struct mlip_structure *items; /* (n) */
	size_t n, alloc;
};

void mlip_structure_list_init(struct mlip_structure_list *l);
void mlip_structure_list_release(struct mlip_structure_list *l);

/*
 * Append a structure, taking over what s owns (s is re-initialised).
 */
int mlip_structure_list_take(struct mlip_structure_list *l, struct mlip_structure *s,
			     struct mlip_err *err);

#endif
