/*
 * model.h - the BPNN model (share/doc/MODEL.md): symmetry-function descriptors, one
 * MLP per element with H output heads, energies, forces and stresses, and
 * exact training gradients.
 *
 * Parameters live in two flat buffers carved from one tensor table
 * (tensors.h): params and grads (the optimizer's moments belong to the
 * trainer, which keeps only its rank's shard of them). Per element, in model order,
 * the table holds (Sym = element symbol, L hidden layers, D functions):
 *   Sym.sf_mean (D), Sym.sf_std (D)   input scaling; NO_DECAY | FROZEN
 *   Sym.w1 (w1, D), Sym.b1 (w1), ..., Sym.wL, Sym.bL
 *   Sym.w_out (H, wL), Sym.b_out (H)   biases are NO_DECAY
 * and, last, for a moment tensor basis with config.mtp_train_radial,
 *   mtp.radial (S, S, n_mu, n_radial)  the radial coefficients c[a][b][μ][β]
 *                                      of mtp.h; NO_DECAY
 * which starts from (and mlip_model_init_params resets it to) the basis's
 * default coefficients, so that an untrained model's descriptors are those
 * of the fixed basis bit for bit. Its gradient is exact (mlip_mtp_radial_grad
 * on the adjoints the network's backward returns for its inputs); the kept
 * geometry then keeps the environments but not the descriptor rows.
 * The scaling is stored as parameters so that it travels with the weights
 * (checkpoints are the table plus the blob); its gradient is always zero.
 *
 * Initialisation (deterministic): for each weight tensor, in table order, a
 * splitmix64 stream seeded with seed XOR FNV-1a-64(tensor name); each value
 * (row-major) is w = (2u − 1) √(6/(fan_in + fan_out)) with
 * u = (next() >> 11) · 2⁻⁵³. Biases are 0, sf_mean 0, sf_std 1 until
 * mlip_model_fit_scaling. Because the stream depends on the name only,
 * adding a head or an element leaves the other tensors' values unchanged.
 *
 * Training gradients without storing dG/dr: the force and stress terms of a
 * loss are directional derivatives of E. With v = ∂L/∂F and
 * ε = (∂L/∂σ)/V, Σ v·F + Σ (∂L/∂σ):σ = D_u E along the displacement field
 * u = −v and the strain ε. backward computes ẋ (the descriptor JVP along
 * that direction), pushes it through the network in forward mode, and takes
 * the reverse-mode derivative of Σ_i ȯ_i (plus the ∂L/∂E term) through both
 * streams. One tangent per head that has force or stress terms.
 *
 * Precision (config.precision, model.precision in the YAML): float64 runs
 * everything in double. float32 is mixed precision with double master
 * weights (as fairchem's AMP): params, grads, the optimizer's moments, checkpoints,
 * geometry, the symmetry functions and their derivatives, energies, forces,
 * stresses and every sum over atoms or systems stay double; the network runs
 * in float: at each forward the weights are copied to float, the scaled
 * descriptor rows are rounded to float at the network input, activations
 * are float (half the memory) and the products cblas_sgemm. The network's
 * outputs and ∂o/∂x (and the tangents' inputs) cross back to double at the
 * descriptor boundary; backward computes the weight gradients in float and
 * adds them into the double grads. Expect 1e-7 .. 1e-6 relative
 * differences from float64 in energies, forces and gradients (float's 24-bit
 * mantissa through a few layers; tests/check_model.c measures them).
 * m->precision may be changed between calls, like m->naive.
 *
 * Cost: the descriptor passes dominate (a forward, then a VJP for forces and
 * stress; a JVP in backward; all heads or tangents share one pass). The
 * edges' sincos/exp values are evaluated once per forward with forces,
 * stress or training (mlip_env_cache). Threads: m->desc.n_threads, or
 * OMP_NUM_THREADS when set, else 1 (mlip_descriptor_threads); the results
 * do not depend on the thread count.
 *
 * Stress: σ = (1/V) Σ_e r_e ⊗ ∂E/∂r_e, ASE sign (positive = tensile),
 * defined for systems with at least one periodic axis and a non-singular
 * cell. Elsewhere (molecules, clusters) the model reports a zero stress and
 * ignores ∂L/∂σ.
 *
 * Example:
 *     struct mlip_model_config cfg;
 *     struct mlip_model *m;
 *     struct mlip_model_out out;
 *     mlip_model_config_init(&cfg);
 *     cfg.cutoff = 5.5; cfg.n_elements = 1; cfg.elements[0] = 14;
 *     if (mlip_model_new(&m, &cfg, &err)) ...
 *     mlip_model_fit_scaling(m, batches, n_batches, &err);
 *     mlip_model_forward(m, b, MLIP_MODEL_FORCES | MLIP_MODEL_STRESS, &out, &err);
 *     ... out.energy[s * out.n_heads + h] ...
 *     mlip_model_free(m);
 */
#ifndef MLIP_MODEL_H
#define MLIP_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "descriptor.h"
#include "mtp.h"
#include "error.h"
#include "network.h"
#include "real.h"
#include "tensors.h"

#define MLIP_MAX_HEADS 8
#define MLIP_NAME_MAX 32

struct mlip_model_config {
	char name[MLIP_NAME_MAX];              /* "bpnn" (the only model so far) */
	double cutoff;                         /* Å */
	size_t n_elements;
	int elements[MLIP_MAX_ELEMENTS];       /* atomic numbers */
	size_t n_hidden;
	size_t hidden[MLIP_MAX_HIDDEN];        /* hidden widths */
	enum mlip_activation activation;
	size_t n_heads;
	char heads[MLIP_MAX_HEADS][MLIP_NAME_MAX];
	uint64_t seed;
	size_t n_sf;                           /* 0: the default set */
	const struct mlip_sf *sf;              /* (n_sf) borrowed */
	int mtp_level;                         /* > 0: the moment tensor basis of this level
						  (mtp.h) instead of symmetry functions */
	struct mlip_mtp_options mtp;           /* its options (radial NULL: the default) */
	int mtp_train_radial;                  /* 1: its radial coefficients are the trained
						  tensor mtp.radial (0: fixed, not stored) */
	enum mlip_precision precision;         /* of the network pass (network.h) */
};

/* Defaults: "bpnn", cutoff 5.0, no elements, hidden {24, 24}, tanh, one head "energy", seed 0,
 * default descriptors, float64. */
void mlip_model_config_init(struct mlip_model_config *c);

/* Flags of mlip_model_forward. */
enum {
	MLIP_MODEL_FORCES = 1u << 0,
	MLIP_MODEL_STRESS = 1u << 1,
	MLIP_MODEL_ATOMIC = 1u << 2, /* atomic energies */
	MLIP_MODEL_TRAIN = 1u << 3,  /* keep room for mlip_model_backward */
};

/* Results of the last forward; buffers borrowed from the model until the next call. */
struct mlip_model_out {
	size_t n_systems, n_atoms, n_heads;
	const double *energy;        /* (B, H) eV */
	const double *forces;        /* (N, 3, H) eV/Å, or NULL */
	const double *stress;        /* (B, 9, H) eV/Å³, ASE sign, or NULL */
	const double *atomic_energy; /* (N, H) eV, or NULL */
	const double *edge_grad;     /* with forces or stress: (H, E, 3) ∂E_h/∂r_e over the
					edges of mlip_model_env(m), else NULL */
};

struct mlip_model_work; /* buffers of the last forward (model.c) */

struct mlip_model {
	struct mlip_model_config config;  /* resolved copy: sf / n_sf point to desc */
	struct mlip_descriptor desc;      /* the symmetry functions; with an MTP basis only its
					     element map, cutoff, dim and thread count */
	struct mlip_mtp *mtp;             /* the moment tensor basis, or NULL */
	struct mlip_mlp net[MLIP_MAX_ELEMENTS];
	struct mlip_tensors tensors;
	size_t n_params;                  /* elements per buffer (tensors.n_params) */
	mlip_real *params, *grads;        /* (n_params) each, one allocation */
	size_t tensor0[MLIP_MAX_ELEMENTS]; /* first tensor of each element in the table */
	int train_radial;                 /* the table ends with mtp.radial, which m->mtp reads */
	size_t radial_offset;             /* of mtp.radial in params and grads */
	int naive;                        /* 1: loop kernels instead of BLAS (reference) */
	enum mlip_precision precision;    /* of the network pass; config.precision at creation */
	struct mlip_model_work *work;
};

/*
 * Create a model from c (copied; c->sf is copied too) and initialise its
 * parameters from c->seed. Errors: MLIP_EINVAL for a bad configuration,
 * naming the field; MLIP_ENOMEM.
 */
int mlip_model_new(struct mlip_model **out, const struct mlip_model_config *c,
		   struct mlip_err *err);
void mlip_model_free(struct mlip_model *m);

/* Re-initialise the weights from seed (rule above); biases 0; scaling untouched. */
void mlip_model_init_params(struct mlip_model *m, uint64_t seed);

/*
 * Fit the input scaling (mean, population std; std < 1e-12 -> 1) from the
 * atoms of n batches and store it in the sf_mean / sf_std tensors. Errors as
 * mlip_model_forward.
 */
int mlip_model_fit_scaling(struct mlip_model *m, const struct mlip_batch *const *b, size_t n,
			   struct mlip_err *err);

/*
 * The same in steps, for batches that are not all in memory at once (or are
 * spread over MPI ranks, whose statistics mlip_sf_stats_merge combines):
 * stats_init, stats_add per batch, then scaling_set stores the result.
 */
int mlip_model_scaling_stats_init(const struct mlip_model *m, struct mlip_sf_stats *st,
				  struct mlip_err *err);
int mlip_model_scaling_stats_add(struct mlip_model *m, struct mlip_sf_stats *st,
				 const struct mlip_batch *b, struct mlip_err *err);
void mlip_model_scaling_set(struct mlip_model *m, const struct mlip_sf_stats *st);
/* stats_init, then stats_add over n batches (st needs mlip_sf_stats_release even on error). */
int mlip_model_scaling_stats(struct mlip_model *m, struct mlip_sf_stats *st,
			     const struct mlip_batch *const *b, size_t n, struct mlip_err *err);

/*
 * The descriptor passes of m's basis (symmetry functions or moment tensors)
 * on an environment built with mlip_env_build(env, &m->desc, ...), threads
 * as m->desc says; arguments as mlip_descriptor_forward / _vjp_multi. For
 * code that needs the descriptor itself (the linear solver's design rows).
 */
int mlip_model_basis_forward(struct mlip_model *m, double *G, const size_t *row,
			     const struct mlip_env *env, struct mlip_err *err);
int mlip_model_basis_vjp_multi(struct mlip_model *m, double *g_edge, const double *dG,
			       const size_t *row, size_t n, const struct mlip_env *env,
			       struct mlip_err *err);

/*
 * Evaluate batch b: energies per system and head always, forces / stress /
 * atomic energies on request (flags). MLIP_MODEL_TRAIN keeps what backward
 * needs (the batch must then stay unchanged until backward). out is filled
 * with buffers owned by the model. Errors: MLIP_EDATA for an element not in
 * the model, a batch cutoff below the model's or a bad edge list (naming the
 * system / edge); MLIP_ENOMEM.
 */
int mlip_model_forward(struct mlip_model *m, const struct mlip_batch *b, unsigned flags,
		       struct mlip_model_out *out, struct mlip_err *err);

/*
 * Accumulate into m->grads the exact gradient of a loss L through the last
 * forward (which must have been on b with MLIP_MODEL_TRAIN):
 *   dE (B, H) = ∂L/∂E,  dF (N, 3, H) = ∂L/∂F or NULL,  dS (B, 9, H) = ∂L/∂σ or NULL.
 * Errors: MLIP_EINVAL if the last forward was not a training forward on b;
 * MLIP_ENOMEM.
 */
int mlip_model_backward(struct mlip_model *m, const struct mlip_batch *b, const double *dE,
			const double *dF, const double *dS, struct mlip_err *err);

/*
 * Atoms given by their environments instead of a batch (an MD code's
 * neighbour lists): fill the model's own environment (mlip_model_env; grow
 * it with mlip_env_reserve) with one system (n_systems 1, system[] 0):
 * species (model element indices) of all n_atoms atoms, n_centres, first[]
 * (n_atoms + 1 entries; no edges for atoms past n_centres), nbr and r of
 * the edges within the cutoff, n_edges, max_nb, and volume[0] (0: no
 * stress; else the stress is Σ r ⊗ ∂E/∂r / volume). Then
 * mlip_model_forward_env evaluates it as mlip_model_forward would a batch
 * with those edges: energies and atomic energies of the centres, forces on
 * every atom, ghosts included, and edge_grad. Not for training (MLIP_EINVAL).
 */
struct mlip_env *mlip_model_env(struct mlip_model *m);
int mlip_model_forward_env(struct mlip_model *m, unsigned flags, struct mlip_model_out *out,
			   struct mlip_err *err);

/*
 * Kept geometry. The neighbour environment, the edges' sincos/exp cache and
 * the descriptors depend on the positions only; a caller that evaluates the
 * same batches again and again with new weights (the L-BFGS phase of
 * training) keeps them: after mlip_model_keep_geometry(m, n, max_bytes),
 * mlip_model_forward_kept(m, b, k, ...) fills slot k (0 <= k < n) on its
 * first forward with forces, stress or training, while the kept bytes stay
 * under max_bytes, and later forwards of the same batch b (same pointer,
 * atom and edge counts; its contents must not have changed) skip those
 * passes. Results are bit for bit those of mlip_model_forward. Batches past
 * the budget are computed in full every time.
 */
int mlip_model_keep_geometry(struct mlip_model *m, size_t n_slots, size_t max_bytes,
			     struct mlip_err *err);
int mlip_model_forward_kept(struct mlip_model *m, const struct mlip_batch *b, size_t slot,
			    unsigned flags, struct mlip_model_out *out, struct mlip_err *err);
/* Bytes kept so far, and (n_kept, may be NULL) how many slots hold a batch. */
size_t mlip_model_geometry_bytes(const struct mlip_model *m, size_t *n_kept);
/* Forget every slot (also done by mlip_model_free). */
void mlip_model_drop_geometry(struct mlip_model *m);
/* grads := 0 (one memset). */
void mlip_model_zero_grad(struct mlip_model *m);

/* Bytes of working memory (buffers of forward and backward) currently allocated. */
size_t mlip_model_work_bytes(const struct mlip_model *m);

#endif
