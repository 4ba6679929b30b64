/*
 * n2p2.h - export a trained potential to an n2p2 potential directory, which
 * n2p2's tools (nnp-predict) and its LAMMPS pair style (pair_style nnp, or
 * hdnnp in LAMMPS's ML-HDNNP package) read:
 *
 *   input.nn            settings: elements, symmetry functions, scaling
 *                       type, network shape, normalisation, atomic energies
 *   scaling.data        per element and function: min, max, mean, sigma
 *   weights.ZZZ.data    per element (ZZZ = atomic number, 3 digits): the
 *                       network's weights and biases, one per line
 *
 * The mapping (share/doc/MODEL.md's model, one head h of it):
 *   - symmetry functions: share/doc/MODEL.md's G2, G3 and G9 are n2p2's types 2, 3
 *     and 9 with the cosine cutoff (cutoff_type 1, inner cutoff alpha 0):
 *     `symfunction_short E 2 E1 eta rs rc` and
 *     `symfunction_short E 3|9 E1 E2 eta lambda zeta rc rs`, every number
 *     with %.17g so that n2p2 reads back the same doubles;
 *   - order: n2p2 sorts the functions of an element (Element::
 *     sortSymmetryFunctions: type, cutoff type, alpha, rc, eta, rs, then
 *     zeta, lambda, e1, e2 for angular ones, elements by their index in the
 *     atomic-number-sorted element list); the lines of input.nn, the rows of
 *     scaling.data and the first-layer weights are written in that sorted
 *     order, permuted from mlip's;
 *   - scaling: scale_symmetry_functions_sigma with Smin 0 and Smax 1, so
 *     n2p2 computes (G − Gmean) / Gsigma, mlip's (G − μ) / s with μ =
 *     Sym.sf_mean and s = Sym.sf_std; Gmin / Gmax only feed n2p2's
 *     extrapolation warnings (below);
 *   - network: global_hidden_layers_short L, global_nodes_short the
 *     hidden widths, global_activation_short t (tanh) or p (softplus) per
 *     hidden layer and l for the output; weights in n2p2's order (layer by
 *     layer, for each neuron j of the previous layer, for each neuron k of
 *     the layer, W[k][j]; then the layer's biases), the output neuron being
 *     row h of Sym.w_out and b_out[h];
 *   - energy: n2p2 computes E = Σ_i o_i / conv_energy + N mean_energy +
 *     Σ_i atom_energy[Z_i]; mlip's head has E = scale Σ_i o_i + shift +
 *     Σ_i ref[Z_i]. So conv_energy = 1/scale, mean_energy 0, conv_length 1
 *     (the normalisation keywords are left out when scale is 1), and
 *     atom_energy lines for the element references; forces are scaled by
 *     1/conv_energy by n2p2 as by scale in mlip.
 *
 * Refused (MLIP_EDATA, with a message saying why): a SiLU network (n2p2 has
 * no SiLU; tanh and softplus map), a network without hidden layers (n2p2
 * needs at least one), a head with a nonzero energy shift (a constant per
 * structure: n2p2 adds constants per atom only), a scale that is not
 * positive, an element beyond No (Z 102, the last n2p2 knows), an element
 * without symmetry functions.
 *
 * Extrapolation warnings: n2p2 warns when a function leaves [Gmin, Gmax]
 * of scaling.data. mlip keeps no such range, so the caller may measure one
 * over structures (the training set: mlip_n2p2_range_add); without it Gmin
 * is 0 (every function is non-negative) and Gmax DBL_MAX, and n2p2 never
 * warns.
 *
 * Numbers: n2p2 evaluates the same expressions in another order, so energies
 * and forces agree with mlip's float64 model to round-off (an independent
 * evaluator written from n2p2's definitions, tests/n2p2/nnp_eval.py, gives
 * energies within 3e-16 relative and forces within 4e-14 eV/Å).
 * Its softplus is x above 35 and 0 below −35 (differences of at most 7e-16
 * per neuron); a float32 model's numbers are mlip's rounding, not n2p2's.
 *
 * Example:
 *     struct mlip_n2p2_range rg;
 *     mlip_n2p2_range_init(&rg, p.model, &err);
 *     mlip_n2p2_range_load(&rg, p.model, "train.mlb", &err);
 *     mlip_n2p2_write(&p, 0, "nnp", &rg, &err);
 *     mlip_n2p2_range_release(&rg);
 */
#ifndef MLIP_N2P2_H
#define MLIP_N2P2_H

#include <stddef.h>

#include "batch.h"
#include "error.h"
#include "model.h"
#include "potential.h"

/* Observed range of every symmetry function of a model (model function order). */
struct mlip_n2p2_range {
	size_t n_sf;
	double *min, *max;                 /* (n_sf); +inf / −inf until an atom is seen */
	size_t atoms[MLIP_MAX_ELEMENTS];   /* atoms seen per model element */
	double *G;                         /* scratch (owned) */
	size_t *row;                       /* scratch (owned) */
	size_t cap_g, cap_row;
	struct mlip_env env;
};

/* Start an empty range for m's functions. MLIP_ENOMEM. */
int mlip_n2p2_range_init(struct mlip_n2p2_range *r, const struct mlip_model *m,
			 struct mlip_err *err);
/*
 * Widen r by the descriptors of every atom of batch b (evaluated by m's
 * descriptor). Errors as mlip_env_build (MLIP_EDATA for an element the model
 * lacks or a batch cutoff below the model's, naming the system), MLIP_ENOMEM.
 */
int mlip_n2p2_range_add(struct mlip_n2p2_range *r, const struct mlip_model *m,
			const struct mlip_batch *b, struct mlip_err *err);
/*
 * mlip_n2p2_range_add for every batch of the stream at path ("-" = stdin).
 * Errors of the stream reader, and those of mlip_n2p2_range_add prefixed
 * with "PATH: ".
 */
int mlip_n2p2_range_load(struct mlip_n2p2_range *r, const struct mlip_model *m, const char *path,
			 struct mlip_err *err);
void mlip_n2p2_range_release(struct mlip_n2p2_range *r);

/*
 * Whether head h of p can be written as an n2p2 potential: MLIP_OK, or
 * MLIP_EDATA naming the obstacle (the refusals above), MLIP_EINVAL for a
 * head index out of range.
 */
int mlip_n2p2_check(const struct mlip_potential *p, size_t h, struct mlip_err *err);

/*
 * Write head h of p (its model's current weights, p->model->params) to the
 * directory dir, created if missing (its parent must exist); existing files
 * of those names are replaced, each atomically (mlip_outfile). range may be
 * NULL (no extrapolation range); an element it saw no atom of gets the
 * no-range bounds, with a warning logged. Errors: those of mlip_n2p2_check,
 * MLIP_EIO naming the file.
 */
int mlip_n2p2_write(const struct mlip_potential *p, size_t h, const char *dir,
		    const struct mlip_n2p2_range *range, struct mlip_err *err);

#endif
