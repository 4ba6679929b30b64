/*
 * mlip.h - libmlip, the public C API: evaluate a trained mlip potential (an
 * inference checkpoint, model.mlip) from another program: an MD code, a
 * Python calculator, a Monte Carlo driver. This is the only header such a
 * program includes; link with -lmlip (pkg-config mlip). See mlip(3).
 *
 * What it needs: the model file alone. No MPI, no plugins, no config
 * files: the loss and normalizer plugins of training are not loaded, so the
 * library can live inside an MPI program of any MPI implementation.
 *
 * Units: Å, eV, eV/Å, eV/Å³. Arrays are row-major C arrays of double: a
 * position or force array of n atoms is (n, 3); a cell is three row vectors
 * a, b, c (cell[3*k + x] is component x of vector k); a 3×3 tensor is 9
 * values row-major.
 *
 * Sign conventions:
 *   forces   F_i = −∂E/∂r_i
 *   virial   W = −Σ_e r_e ⊗ ∂E/∂r_e over the model's edges e = (i → j),
 *            r_e = r_j − r_i (+ lattice images), i.e. W = Σ_i r_i ⊗ F_i for a
 *            finite system (eV): the virial LAMMPS's pair styles tally
 *            (P V = N k T + tr W / 3); KIM's partialVirial is −W, in Voigt
 *            order xx yy zz yz xz xy
 *   stress   σ = −W / V, ASE's sign (positive = tensile), eV/Å³, defined
 *            for structures with a periodic axis and a non-singular cell;
 *            zero otherwise
 *
 * Errors: every fallible call returns 0 (MLIP_OK) or a negative status
 * below; the message of a handle's last failed call is mlip_errmsg(handle)
 * (mlip_open, which has no handle yet, writes it into a caller's buffer).
 * Messages say "atom index 3" or "particle index 3" for C indices (from
 * 0); messages about a whole structure's geometry number atoms from 1, as
 * every mlip program does, and say so.
 *
 * Threads: one handle is used by one thread at a time; different handles
 * (even of the same file) may be used concurrently. A call may itself use
 * OpenMP threads: mlip_set_threads, or OMP_NUM_THREADS, else one.
 *
 * Stability: functions and the meaning of their arguments are only ever
 * added (MLIP_API_VERSION grows; the shared library's SONAME libmlip.so.1
 * changes only if something is removed or changed).
 *
 * Example:
 *     mlip_calculator *c;
 *     char msg[512];
 *     if (mlip_open("run/inference_ckpt.mlip", &c, msg, sizeof msg)) {
 *             fprintf(stderr, "%s\n", msg);
 *             return 1;
 *     }
 *     double e, f[3 * 8], s[9];
 *     int pbc[3] = { 1, 1, 1 };
 *     if (mlip_compute(c, 8, numbers, positions, cell, pbc, &e, f, s, NULL))
 *             fprintf(stderr, "%s\n", mlip_errmsg(c));
 *     mlip_close(c);
 */
#ifndef MLIP_H
#define MLIP_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MLIP_API_VERSION 1

/* Status codes (the library's and the programs' own; mlip(7) maps them to exit statuses). */
enum mlip_status {
	MLIP_OK = 0,
	MLIP_EINVAL = -1,   /* bad argument or configuration (CLI exit 2) */
	MLIP_EDATA = -2,    /* bad input data, format or version (exit 3) */
	MLIP_EIO = -3,      /* I/O or system error (exit 4) */
	MLIP_ENOMEM = -4,   /* out of memory (exit 4) */
	MLIP_EPLUGIN = -5,  /* plugin load or ABI error (exit 5) */
	MLIP_ERUN = -6,     /* the run failed: divergence, NaN (exit 1) */
};

typedef struct mlip_calculator mlip_calculator;

/* The library's version ("0.1.0") and API version (MLIP_API_VERSION of the build). */
const char *mlip_version(void);
int mlip_api_version(void);

/*
 * Open an inference checkpoint (mlip-ckpt(5)): its primary weights (EMA when
 * the run kept one), head 0, the model's precision. On success *out is a new
 * handle; on failure *out is NULL, the status is returned and, if msg is not
 * NULL, a message naming the file is written into msg (msg_size bytes).
 * A training checkpoint directory is refused (convert it first).
 */
int mlip_open(const char *path, mlip_calculator **out, char *msg, size_t msg_size);
void mlip_close(mlip_calculator *c);

/* The message of the last failed call on c ("" if none). Valid until the next call on c. */
const char *mlip_errmsg(const mlip_calculator *c);

/* The model's cutoff radius (Å): the neighbour lists it needs. */
double mlip_cutoff(const mlip_calculator *c);

/* Elements the model knows: their count, and atomic number k (0 <= k < count) in model
 * order; 0 for k out of range. */
int mlip_n_elements(const mlip_calculator *c);
int mlip_element(const mlip_calculator *c, int k);

/* The chemical symbol of atomic number z ("Si"), or NULL for no element (z outside 1..118). */
const char *mlip_symbol(int z);

/* Output heads (several for multi-fidelity models): count and name of head k (NULL for k
 * out of range). */
int mlip_n_heads(const mlip_calculator *c);
const char *mlip_head_name(const mlip_calculator *c, int k);

/* Evaluate head `name` from now on (MLIP_EINVAL naming the heads if there is none such). */
int mlip_set_head(mlip_calculator *c, const char *name);

/*
 * Threads: n > 0 for the descriptor passes (OpenMP) and the network's
 * matrix products (OpenBLAS, whose count is process-wide: this sets it for
 * the whole program); 0 for the defaults (OMP_NUM_THREADS if set, else 1,
 * and OpenBLAS's own). Results do not depend on it. An MPI program with one
 * rank per core wants 1.
 */
int mlip_set_threads(mlip_calculator *c, int n);

/*
 * The constant the current head adds once per structure (the mean of an
 * energy normalizer; 0 for models trained with the default `mean: 0`).
 * mlip_compute includes it; mlip_compute_neighbors, which sees only a part
 * of a structure, does not: add it once per structure yourself.
 */
double mlip_energy_shift(const mlip_calculator *c);

/*
 * A whole structure: n >= 1 atoms with atomic numbers numbers (n) and
 * positions (n, 3); cell (9) and pbc (3, 0 or 1 per cell vector) as in
 * extxyz. A structure with a periodic axis needs a non-singular cell (a
 * slab's non-periodic vector must be given too, of any non-zero length
 * out of the plane); cell may be NULL when no axis is periodic. The library builds the neighbour
 * list (lattice images included). Outputs, each NULL when not wanted:
 *   energy (1) eV; forces (n, 3) eV/Å; stress (9) eV/Å³ (zero for a
 *   finite system); virial (9) eV; atomic_energies (n) eV, which sum to
 *   energy less mlip_energy_shift.
 * The results equal mlip-eval's for the same structure. Errors:
 * MLIP_EDATA for an element the model does not know, atoms on top of each
 * other, a singular cell, non-finite input (naming the atom); MLIP_EINVAL
 * for n = 0, NULL inputs or pbc values other than 0 and 1.
 */
int mlip_compute(mlip_calculator *c, size_t n, const int *numbers, const double *positions,
		 const double *cell, const int *pbc, double *energy, double *forces,
		 double *stress, double *virial, double *atomic_energies);

/*
 * An MD code's view of its part of a system (LAMMPS, KIM): n_all particles
 * with atomic numbers and positions (n_all, 3), already unwrapped (ghost
 * particles are images or other ranks' atoms at their actual positions).
 * contributing[i] != 0 marks the particles whose energy this call counts
 * (owned atoms); the others are ghosts. For each contributing particle i,
 * neighbors[i] points at n_neighbors[i] particle indices: a full list (j in
 * i's list and i in j's when both contribute), which may hold particles
 * beyond the cutoff (skipped) but not i itself; the lists of ghosts are not
 * read (neighbors / n_neighbors entries of ghosts may be anything).
 *
 * Computes the partial quantities of the contributing particles, so that
 * sums over ranks (forces after reverse communication) give the whole:
 *   energy       Σ_{i contributing} E_i (without mlip_energy_shift)
 *   forces       (n_all, 3): −∂energy/∂r_j for every particle, ghosts too
 *   virial       (9) −Σ r_ij ⊗ ∂energy/∂r_ij over the edges of contributing i
 *   atomic_energies (n_all): E_i of contributing particles, 0 for ghosts
 *   atomic_virials  (n_all, 9): each edge's term split half to i and half
 *                to j (LAMMPS's per-atom virial); they sum to virial
 * Any output may be NULL. Errors: MLIP_EDATA for an unknown element or a
 * neighbour index out of range (naming the particle), MLIP_EINVAL.
 */
int mlip_compute_neighbors(mlip_calculator *c, size_t n_all, const int *numbers,
			   const double *positions, const int *contributing,
			   const int *const *neighbors, const int *n_neighbors, double *energy,
			   double *forces, double *virial, double *atomic_energies,
			   double *atomic_virials);

#ifdef __cplusplus
}
#endif

#endif
