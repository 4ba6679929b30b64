/*
 * n2p2data.h - n2p2's (and RuNNer's) structure file, input.data: reader and
 * writer.
 *
 * A file is a sequence of structures, one keyword per line:
 *
 *     begin
 *     comment TEXT                     (optional, free text)
 *     lattice AX AY AZ                 (three lines, or none)
 *     atom X Y Z ELEMENT Q N FX FY FZ  (one line per atom)
 *     energy E                         (optional)
 *     charge Q                         (optional)
 *     end
 *
 * The lattice lines are the cell vectors a, b and c in turn. With three of
 * them the structure is periodic along all three axes; without any it is a
 * molecule or cluster (pbc F F F, zero cell). Any other count is refused:
 * the format cannot say that only some axes are periodic.
 *
 * Units: the format has none; n2p2 data sets are often in Bohr and Hartree.
 * The reader takes numbers as they stand, as Å, eV and eV/Å, and the writer
 * writes mlip's Å, eV and eV/Å; converting a file in atomic units is the
 * user's business (n2p2 itself would use conv_length / conv_energy).
 *
 * What maps onto mlip's labels: the energy line (absent: no energy label)
 * and the force columns of the atom lines, which every atom line has, so a
 * structure read from input.data always has forces (drop placeholder zeros
 * with `mlip-collate --exclude forces`). The charges (Q), the atomic energy
 * column (N) and the comment are checked to be well-formed and then
 * ignored. The format holds no stress and no fixed atoms.
 *
 * The writer prints every number with %.17g, so reading its output gives
 * back positions, cell, energy and forces bit for bit. A structure without
 * a force label gets zero force columns (the format has no way to leave
 * them out); one without an energy gets no energy line; charges are 0; the
 * comment line carries the structure's id.
 */
#ifndef MLIP_N2P2DATA_H
#define MLIP_N2P2DATA_H

#include <stddef.h>
#include <stdio.h>

#include "error.h"
#include "structure.h"

/*
 * Read every structure of f (path, borrowed, names it in messages and ids;
 * NULL means "-") and append them to out. Each structure's id is
 * "PATH:INDEX" (0-based); it names no dataset. Structures are validated
 * (mlip_structure_validate).
 *
 * Errors: MLIP_EDATA with "PATH:LINE: what is wrong", LINE being the line
 * at fault (the atom line with a bad field, the fourth lattice line, the
 * end line of a structure with one or two lattice lines or no atoms, the
 * begin line of a structure the file ends inside or that
 * mlip_structure_validate refuses); MLIP_EIO on a read error; MLIP_ENOMEM.
 * The structures before the bad one stay in out.
 */
int mlip_n2p2data_read(FILE *f, const char *path, struct mlip_structure_list *out,
		       struct mlip_err *err);

/*
 * Write s as one input.data structure (layout above). Errors, with nothing
 * written: MLIP_EDATA for a structure periodic along one or two axes only
 * (the format has no such structures), an atomic number that is not an
 * element; MLIP_EIO when ferror(f) is set afterwards. f is not flushed.
 */
int mlip_n2p2data_write(FILE *f, const struct mlip_structure *s, struct mlip_err *err);


#endif
