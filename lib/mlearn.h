/*
 * mlearn.h - reader for the mlearn benchmark JSON files (Zuo et al. 2020).
 *
 * Each file is one JSON array of {structure: pymatgen Structure dict,
 * outputs: {energy, forces, virial_stress}, ...}. Energies (eV, total) and
 * forces (eV/Å) are taken as given; virial_stress (kBar, VASP sign, order
 * xx yy zz xy yz zx) becomes ASE-sign stress in eV/Å³:
 * σ = −0.1 · v / 160.21766208.
 */
#ifndef MLIP_MLEARN_H
#define MLIP_MLEARN_H

#include <stdio.h>

#include "error.h"
#include "structure.h"

/* Convert one mlearn virial_stress (6 values) to a 3×3 ASE-sign stress. */
void mlip_mlearn_stress(double stress[9], const double virial_kbar[6]);

/*
 * The largest mlearn JSON file read (128 MiB; mlearn's own sets are a few MB).
 * The whole document is held in memory while it is converted, at about 17
 * bytes per byte of file, so this bounds the reader's memory to about 2 GiB.
 */
#define MLIP_MLEARN_MAX_BYTES ((size_t)128 << 20)

/*
 * Read every configuration of an mlearn JSON file from f (path for messages
 * and ids) and append them to out. Ids are "PATH:INDEX"; the dataset is left
 * NULL. Errors name the file and the structure index. A file larger than
 * MLIP_MLEARN_MAX_BYTES, or a structure of more than MLIP_MAX_ATOMS sites, is
 * MLIP_EDATA.
 */
int mlip_mlearn_read(FILE *f, const char *path, struct mlip_structure_list *out,
		     struct mlip_err *err);

#endif
