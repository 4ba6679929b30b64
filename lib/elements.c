/*
 * elements.c - the periodic table, symbol <-> atomic number.
 */
#include <stddef.h>
#include <string.h>

#include "elements.h"
#include "banned.h"

static const char *const symbols[MLIP_MAX_Z + 1] = {
	"X",
	"H", "He", "Li", "Be", "B", "C", "N", "O", "F", "Ne",
	"Na", "Mg", "Al", "Si", "P", "S", "Cl", "Ar", "K", "Ca",
	"Sc", "Ti", "V", "Cr", "Mn", "Fe", "Co", "Ni", "Cu", "Zn",
	"Ga", "Ge", "As", "Se", "Br", "Kr", "Rb", "Sr", "Y", "Zr",
	"Nb", "Mo", "Tc", "Ru", "Rh", "Pd", "Ag", "Cd", "In", "Sn",
	"Sb", "Te", "I", "Xe", "Cs", "Ba", "La", "Ce", "Pr", "Nd",
	"Pm", "Sm", "Eu", "Gd", "Tb", "Dy", "Ho", "Er", "Tm", "Yb",
	"Lu", "Hf", "Ta", "W", "Re", "Os", "Ir", "Pt", "Au", "Hg",
	"Tl", "Pb", "Bi", "Po", "At", "Rn", "Fr", "Ra", "Ac", "Th",
	"Pa", "U", "Np", "Pu", "Am", "Cm", "Bk", "Cf", "Es", "Fm",
	"Md", "No", "Lr", "Rf", "Db", "Sg", "Bh", "Hs", "Mt", "Ds",
	"Rg", "Cn", "Nh", "Fl", "Mc", "Lv", "Ts", "Og",
};

int mlip_element_zn(const char *symbol, size_t len)
{
	if (len == 0 || len > 2)
		return 0;
	for (int z = 1; z <= MLIP_MAX_Z; z++)
		if (strlen(symbols[z]) == len && memcmp(symbols[z], symbol, len) == 0)
			return z;
	return 0;
}

int mlip_element_z(const char *symbol)
{
	return mlip_element_zn(symbol, strlen(symbol));
}

const char *mlip_element_symbol(int z)
{
	if (z < 1 || z > MLIP_MAX_Z)
		return NULL;
	return symbols[z];
}
