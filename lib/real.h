/*
 * real.h - mlip_real, the type of the model's parameters, gradients,
 * optimizer moments and EMA: always double (the master weights, and what
 * checkpoints store).
 *
 * There is no build switch for precision: model.precision: float32 runs the
 * network in float at run time on float copies of these weights (model.h,
 * network.h), and everything else stays double.
 */
#ifndef MLIP_REAL_H
#define MLIP_REAL_H

typedef double mlip_real;

#endif
