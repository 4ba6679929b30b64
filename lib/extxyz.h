/*
 * extxyz.h - extended XYZ reader and writer, compatible with ASE.
 *
 * Reads what ase.io.write(format="extxyz") writes, and what people write by
 * hand: Lattice="...", pbc="T T T", Properties=species:S:1:pos:R:3:..., info
 * keys energy (free_energy as a fallback), stress (9 values, or 6 in ASE's
 * Voigt order xx yy zz yz xz xy), dataset; forces from a forces (or force)
 * column; fixed atoms from move_mask (ASE's FixAtoms: F = fixed) or a fixed
 * column (T = fixed). Other info keys and columns are parsed and ignored.
 * Quoted values, T/F/True/False booleans, comment-only frames, blank trailing
 * lines and CRLF line ends are accepted. Without a Lattice, the structure is
 * non-periodic with a zero cell (pbc defaults to T T T with a Lattice, as ASE).
 */
#ifndef MLIP_EXTXYZ_H
#define MLIP_EXTXYZ_H

#include <stdio.h>

#include "error.h"
#include "structure.h"

struct mlip_extxyz_reader {
	FILE *f;           /* borrowed */
	const char *path;  /* for messages; borrowed */
	size_t line;       /* 1-based number of the last line read */
	size_t frame;      /* 0-based index of the next frame */
	char *buf;         /* line buffer (owned) */
	size_t cap;
};

/* Start reading frames from f; path is used in messages and ids. */
void mlip_extxyz_reader_init(struct mlip_extxyz_reader *r, FILE *f, const char *path);
void mlip_extxyz_reader_release(struct mlip_extxyz_reader *r);

/*
 * Read the next frame into s (released first). Returns 1 when a frame was
 * read, 0 at the end of input, or a negative status with err->msg of the form
 * "PATH:LINE: what is wrong". The id is set to "PATH:INDEX" (0-based frame
 * index) and the dataset from the info key `dataset` if present. The
 * structure is validated (mlip_structure_validate).
 */
int mlip_extxyz_read_next(struct mlip_extxyz_reader *r, struct mlip_structure *s,
			  struct mlip_err *err);

/*
 * Write s as one extxyz frame that ASE reads back exactly: every float with
 * %.17g. When ref is not NULL (same atoms), its labels are written too as
 * ref_energy, ref_stress and a ref_forces column (for parity plots).
 * Returns MLIP_EIO on a write error.
 */
int mlip_extxyz_write(FILE *f, const struct mlip_structure *s,
		      const struct mlip_structure *ref, struct mlip_err *err);

#endif
