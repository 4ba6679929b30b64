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
 *
 * The details follow ASE 3.22 (ase/io/extxyz.py):
 *  - The comment line is split as key_val_str_to_dict does: values may be
 *    quoted with "..." '...' {...} or [...], a backslash escapes the next
 *    character, a key alone means T, blanks may surround '=', and free text
 *    is a run of keys without values (ignored). Number lists are separated by
 *    blanks or commas.
 *  - Lattice holds the cell vectors a, b, c in turn (9 numbers). The keys
 *    Lattice, Properties and pbc are matched without regard to case; pbc may
 *    be one boolean for all three axes.
 *  - stress with 9 values is the 3×3 tensor column-major (ASE reshapes it with
 *    order='F'); with 6 values it is Voigt and the tensor is symmetric.
 *  - Column types R, I, S, L with any count; R and I values must be numbers
 *    in every column, and positions and forces must be finite. Species are
 *    capitalised as ASE does ("SI" is Si); an atomic number is accepted in
 *    the species column, and a Z (or numbers) I:1 column overrides species.
 *    move_mask L:3 (ASE's FixCartesian) fixes an atom only when all three
 *    components are F. Fields beyond the Properties are ignored, as in ASE.
 *  - Blank lines before a count line are skipped (ASE stops at the first).
 */
#ifndef MLIP_EXTXYZ_H
#define MLIP_EXTXYZ_H

#include <stdio.h>

#include "error.h"
#include "structure.h"

struct mlip_extxyz_column; /* one Properties entry; private to extxyz.c */

/*
 * Which info keys and column hold the labels, for files that do not use
 * ASE's names (NULL: the defaults): energy (default energy, else
 * free_energy), forces (column; default forces, else force), stress (info;
 * default stress), virial (info, 9 or 6 values like stress; none by
 * default: GAP's files carry virial = -stress * volume). A virial is read as
 * stress = -virial / volume when the frame has no stress of its own.
 * Examples: MACE's REF_energy / REF_forces / REF_stress, GAP's virial.
 */
struct mlip_label_keys {
	const char *energy, *forces, *stress, *virial;
};

/*
 * Label-like data a reader saw but did not read as a label: info keys whose
 * name holds "energy", "stress" or "virial", R:3 columns whose name holds
 * "force" (any case), with the number of frames each was in. The first
 * MLIP_UNUSED_LABELS_MAX names are kept.
 */
#define MLIP_UNUSED_LABELS_MAX 8
struct mlip_unused_labels {
	size_t n;
	struct {
		char name[64];
		int column;     /* 1: a Properties column, 0: an info key */
		size_t frames;
	} item[MLIP_UNUSED_LABELS_MAX];
};

struct mlip_extxyz_reader {
	FILE *f;           /* borrowed */
	const char *path;  /* for messages; borrowed */
	size_t line;       /* 1-based number of the last line read */
	size_t frame;      /* 0-based index of the next frame */
	char *buf;         /* line buffer (owned) */
	size_t cap;
	/* Scratch reused from frame to frame (owned), so that reading does not
	 * allocate per line or per field. */
	char *kv;          /* (kv_cap) comment line split into "key\0value\0" records */
	size_t kv_cap;
	struct mlip_extxyz_column *cols; /* (cols_cap) the frame's Properties */
	size_t cols_cap;
	struct mlip_label_keys keys;     /* where the labels are (strings borrowed) */
	struct mlip_unused_labels unused; /* filled while reading */
};

/*
 * Start reading frames from f; path (borrowed, NULL means "-") is used in
 * messages and ids. No allocation; release with mlip_extxyz_reader_release
 * (which does not close f).
 */
void mlip_extxyz_reader_init(struct mlip_extxyz_reader *r, FILE *f, const char *path);
/* Read the labels from these keys (copied; the strings are borrowed); NULL: the defaults. */
void mlip_extxyz_reader_set_keys(struct mlip_extxyz_reader *r, const struct mlip_label_keys *k);
void mlip_extxyz_reader_release(struct mlip_extxyz_reader *r);

/*
 * Read the next frame into s (released first). Returns 1 when a frame was
 * read, 0 at the end of input, or a negative status with err->msg of the form
 * "PATH:LINE: what is wrong". The id is set to "PATH:INDEX" (0-based frame
 * index) and the dataset from the info key `dataset` if present. The
 * structure is validated (mlip_structure_validate).
 *
 * Errors: MLIP_EDATA for bad input (s is released; reading further is not
 * meaningful), MLIP_EIO on a read error, MLIP_ENOMEM. A count line over
 * MLIP_MAX_ATOMS is bad input; below it, memory grows with the atom lines
 * actually read, never with the count alone. The LINE is the line at
 * fault: the count line for a truncated frame, the comment line for bad info
 * keys and for what mlip_structure_validate finds (a singular cell), the atom
 * line for bad fields.
 *
 *	struct mlip_extxyz_reader r;
 *	mlip_extxyz_reader_init(&r, f, path);
 *	while ((rc = mlip_extxyz_read_next(&r, &s, &err)) == 1)
 *		use(&s);
 *	mlip_extxyz_reader_release(&r);
 *	if (rc < 0)
 *		return rc;
 */
int mlip_extxyz_read_next(struct mlip_extxyz_reader *r, struct mlip_structure *s,
			  struct mlip_err *err);

/*
 * Read every frame of f and append them to out (as mlip_mlearn_read). On an
 * error the frames read before it stay in out.
 */
int mlip_extxyz_read(FILE *f, const char *path, struct mlip_structure_list *out,
		     struct mlip_err *err);

/*
 * Write s as one extxyz frame that ASE reads back exactly: every float with
 * %.17g. When ref is not NULL (same atoms), its labels are written too as
 * ref_energy, ref_stress and a ref_forces column (for parity plots).
 * Returns MLIP_EIO on a write error.
 *
 * Lattice is written when the cell is not zero; pbc always; energy, stress
 * (9 values, column-major as ASE) and a forces column only when present; a
 * move_mask column (T = free, F = fixed) when any atom is fixed, so that ASE
 * makes a FixAtoms; dataset last when set. A float that %.17g prints like an
 * integer gets ".0" appended, so that ASE does not read it as an int (which
 * would lose the sign of -0.0). The id is not written.
 *
 * Errors: MLIP_EINVAL when ref has other atoms, an atomic number is not an
 * element or the dataset name holds a line break (nothing is written then);
 * MLIP_EIO when ferror(f) is set afterwards. f is not flushed: callers check
 * fflush/fclose for errors that stdio buffered.
 */
int mlip_extxyz_write(FILE *f, const struct mlip_structure *s,
		      const struct mlip_structure *ref, struct mlip_err *err);

#endif
