/*
 * elements.h - chemical element symbols and atomic numbers (1..118).
 */
#ifndef MLIP_ELEMENTS_H
#define MLIP_ELEMENTS_H

#define MLIP_MAX_Z 118

/* Atomic number of a symbol ("Si" -> 14; case-sensitive as in ASE), 0 if unknown. */
int mlip_element_z(const char *symbol);

/* Same for a symbol of len bytes that need not be NUL-terminated. */
int mlip_element_zn(const char *symbol, size_t len);

/* Symbol of atomic number z, or NULL if z is out of 1..118. Borrowed, static. */
const char *mlip_element_symbol(int z);

#endif
