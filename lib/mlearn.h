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
 * Read every configuration of an mlearn JSON file from f (path for messages
 * and ids) and append them to out. Ids are "PATH:INDEX"; the dataset is left
 * NULL. Errors name the file and the structure index.
 */
int mlip_mlearn_read(FILE *f, const char *path, struct mlip_structure_list *out,
		     struct mlip_err *err);

#endif
