/*
 * real.h - the one floating-point type of parameters and network activations.
 *
 * mlip_real is double unless the library is built with -DMLIP_REAL_FLOAT,
 * which makes it float everywhere at once (parameters, gradients, optimizer
 * moments, descriptors fed to the network, activations). Geometry (positions,
 * cells, edge vectors), descriptor arithmetic, energies, forces and stresses
 * stay in double whatever the switch: they are sums over many terms and cost
 * little memory.
 */
#ifndef MLIP_REAL_H
#define MLIP_REAL_H

#ifdef MLIP_REAL_FLOAT
typedef float mlip_real;
#define MLIP_REAL_NAME "float32"
#else
typedef double mlip_real;
#define MLIP_REAL_NAME "float64"
#endif

#endif
