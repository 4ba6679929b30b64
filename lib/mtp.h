/*
 * mtp.h - the moment tensor basis (Shapeev, Multiscale Model. Simul. 14,
 * 1153 (2016); Gubaev et al., Comput. Mater. Sci. 156, 148 (2019), the basis
 * of MLIP/mlip-2): a complete, systematically improvable set of rotation,
 * reflection and permutation invariants of an atom's neighbourhood, evaluated
 * through the same interface as the symmetry functions (descriptor.h): the
 * forward pass (G rows), the VJP (edge gradients from dL/dG: forces and
 * stress) and the JVP (dG along edge tangents: training gradients of the
 * force and stress losses), with the same row[i] layout and _multi forms, on
 * the same struct mlip_env.
 *
 * Definition (units Å; i the central atom of element a, j over its edges,
 * r = r_ij, R = |r|, û = r / R, b the element of j):
 *
 *   Radial basis (β = 0 .. n_radial−1), on [r_min, r_c) with r_c = cutoff:
 *     ξ(R)   = (2R − r_min − r_c) / (r_c − r_min)
 *     Q_β(R) = T_β(ξ) · (1 − R/r_c)²            (T_β Chebyshev of the first kind)
 *   Q and dQ/dR vanish at r_c, so every function below is C¹ at the cutoff.
 *   (Shapeev's (r_c − R)² divided by r_c², so that the values are O(1).)
 *
 *   Radial functions (μ = 0 .. n_mu−1), per ordered element pair (a, b):
 *     f_μ(R; a, b) = Σ_β c[a][b][μ][β] Q_β(R)      (Shapeev's radial functions)
 *
 *   Moments (Shapeev's moment tensors, with the unit vector in place of r_ij:
 *   the factor R^ν moves into the radial part, and the tensors stay O(1) for
 *   any rank):
 *     M_{μ,ν} = Σ_j f_μ(R_j; a, b_j) û_j^{⊗ν},       lev(M_{μ,ν}) = 2 + 4μ + ν.
 *   A symmetric tensor of rank ν is stored by its (ν+1)(ν+2)/2 distinct
 *   components, one per monomial x^p y^q z^s of û (p + q + s = ν), in the
 *   order p descending, then q descending; its full-contraction weight is
 *   the multinomial ν! / (p! q! s!).
 *
 *   Basis functions: every scalar full contraction, without self-contractions,
 *   of a product of k moment tensors (k = 1 .. max_order), whose level (the
 *   sum of the factors' levels, as Shapeev defines it) is at most `level`:
 *     k = 1:  M_{μ,0}                                            (2-body)
 *     k = 2:  M_{μ1,ν} : M_{μ2,ν}                    (μ1 <= μ2)  (3-body)
 *     k = 3:  Σ M^1_{IJ} M^2_{IK} M^3_{JK},  |I| = (ν1 + ν2 − ν3)/2,
 *             |J| = (ν1 + ν3 − ν2)/2, |K| = (ν2 + ν3 − ν1)/2     (4-body)
 *             for labels (μ1,ν1) <= (μ2,ν2) <= (μ3,ν3) (lexicographic) with
 *             ν1 + ν2 + ν3 even and the triangle inequality.
 *   For k <= 3 the contraction is fixed by the ranks, and the functions are
 *   the O(3)-invariant polynomials Σ_{j,k,l} f f f (û_j·û_k)^{|I|}(û_j·û_l)^{|J|}
 *   (û_k·û_l)^{|K|}: as level -> infinity they span every smooth body-order-4
 *   invariant (Shapeev's completeness theorem restricted to k <= 3; ACE's
 *   B-basis to correlation order 3 spans the same space). Distinct functions
 *   are distinct monomials in the cosines, so they are linearly independent.
 *   Two-body functions beyond the level (option n_pair, as ACE's larger radial
 *   basis for its first order): M_{μ,0} for every μ < n_pair, also where
 *   2 + 4μ > level. They cost one radial function and one scalar moment per
 *   edge each, and give the network every radial function the coefficients
 *   can make (n_pair = n_radial: the whole radial basis) where the level
 *   alone gives ⌊(level − 2)/4⌋ + 1. Their levels are 2 + 4μ, so they come
 *   after the functions of the level.
 *
 *   Order: by level, then k, then the labels (μ1, ν1, μ2, ν2, μ3, ν3); the
 *   basis of a level is therefore a prefix of the basis of any higher level
 *   (and, for the same n_radial, so are its values: the default coefficient
 *   rows of a lower level are the first rows of a higher one's; without n_pair
 *   beyond the level). Every level is even (odd levels give the basis of the
 *   level below). The same basis serves every central element: dim[e] = n_basis.
 *
 *   Default radial coefficients (a model may train them: mlip_mtp_use_radial
 *   and mlip_mtp_radial_grad): for each ordered pair (a, b) of element indices, an
 *   n_mu × n_radial matrix with orthonormal rows, the rows being modified
 *   Gram-Schmidt (in row order) of a matrix of standard normal draws g, row
 *   major, from mlip_rng_seed2(seed, a·S + b): g = √(−2 ln(1 − u1))
 *   cos(2π u2) for two consecutive mlip_rng_uniform values u1, u2. The
 *   matrices are kept in `radial` (and may be given instead: options).
 *
 * Evaluation (mtp.c): per atom, the moments are accumulated over the edges,
 * four edges at a time in vector lanes (O(neighbours × moment components));
 * a k = 3 contraction is the full contraction of one factor with the
 * symmetrised partial product of the other two (e.g. M^3 : sym(M^1 ·_|I| M^2),
 * a rank-ν3 tensor shared by every function with the same two factors); VJP
 * and JVP run the same straight-line program backwards and forwards. Cost
 * per atom O(neighbours × moments + basis × contraction terms). A caller that
 * runs several passes on one environment may let the first keep each atom's
 * moments and products for the others (mlip_mtp_keep).
 * Threads as descriptor.h: atoms are shared among mlip_mtp_threads threads,
 * each atom's outputs written by one thread, so results are the same bit for
 * bit for any thread count.
 */
#ifndef MLIP_MTP_H
#define MLIP_MTP_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "descriptor.h"
#include "error.h"

#define MLIP_MTP_MAX_LEVEL 28 /* moment ranks stay <= 13 */
#define MLIP_MTP_MAX_ORDER 3  /* moment tensors per basis function */
#define MLIP_MTP_MAX_TANGENTS 8 /* of one mlip_mtp_radial_grad (a model's heads) */

/* One basis function: k moment tensors (μ[q], ν[q]), q < k; unused slots −1. */
struct mlip_mtp_func {
	int k;
	int level;
	int mu[MLIP_MTP_MAX_ORDER];
	int nu[MLIP_MTP_MAX_ORDER];
};

struct mlip_mtp_options {
	double r_min;          /* Å, start of the Chebyshev interval, 0 <= r_min < cutoff (0) */
	size_t n_radial;       /* Chebyshev functions; 0: max(8, n_mu) */
	int max_order;         /* 1 .. MLIP_MTP_MAX_ORDER; 0: 3 */
	size_t n_pair;         /* two-body functions M_{μ,0}, μ < n_pair (<= 64); 0 (or fewer
				  than the level's): the level's ⌊(level − 2)/4⌋ + 1 */
	uint64_t seed;         /* of the default radial coefficients */
	const double *radial;  /* (S, S, n_mu, n_radial) coefficients c[a][b][μ][β] to use
				  instead of the default; copied. NULL: default */
};

struct mtp_plan; /* compiled evaluation program (mtp.c) */

struct mlip_mtp {
	size_t n_elements;
	int z[MLIP_MAX_ELEMENTS];       /* atomic numbers, in model order */
	int8_t species[MLIP_MAX_Z + 1]; /* atomic number -> element index, −1 if absent */
	double cutoff, r_min;           /* Å */
	int level, max_order;
	size_t n_radial, n_mu;          /* n_mu = max(level's, n_pair) radial functions */
	uint64_t seed;
	double *radial;                 /* (S, S, n_mu, n_radial) owned: the default or given
					   coefficients */
	const double *coef;             /* (S, S, n_mu, n_radial) the coefficients every pass
					   reads: radial, or borrowed (mlip_mtp_use_radial) */
	size_t n_basis;
	struct mlip_mtp_func *func;     /* (n_basis) owned, in basis order */
	size_t dim[MLIP_MAX_ELEMENTS];  /* n_basis for every element */
	size_t max_dim;
	struct mtp_plan *plan;          /* owned */
	int n_threads;                  /* as struct mlip_descriptor's */
	struct mtp_keep *keep;          /* owned, NULL until mlip_mtp_keep: the passes' kept values */
};

/* Default options: r_min 0, n_radial 0 (max(8, n_mu)), max_order 3, n_pair 0, seed 0,
 * radial NULL. */
void mlip_mtp_options_init(struct mlip_mtp_options *opt);

/*
 * Initialise m for elements z (n_el distinct atomic numbers) at cutoff with
 * all basis functions of level <= level (2 .. MLIP_MTP_MAX_LEVEL); opt may be
 * NULL (defaults). n_mu = max(⌊(level − 2)/4⌋ + 1, n_pair) radial functions. On success
 * m->dim[e] = m->n_basis functions per element. MLIP_EINVAL (names the bad
 * value), MLIP_ENOMEM. Example:
 *     struct mlip_mtp m;  int z[] = {14};
 *     if (mlip_mtp_init(&m, z, 1, 5.0, 16, NULL, &err)) ...;
 *     ... mlip_mtp_forward(G, row, &m, &env, &err) ...;  mlip_mtp_release(&m);
 */
int mlip_mtp_init(struct mlip_mtp *m, const int *z, size_t n_el, double cutoff, int level,
		  const struct mlip_mtp_options *opt, struct mlip_err *err);
void mlip_mtp_release(struct mlip_mtp *m);

/*
 * Fill env from batch b at m's cutoff and elements (mlip_env_build's rules and
 * errors). env->cache is not used by this module.
 */
int mlip_mtp_env_build(struct mlip_env *env, const struct mlip_mtp *m,
		       const struct mlip_batch *b, struct mlip_err *err);

/*
 * The three evaluations, as mlip_descriptor_forward / _vjp / _jvp (row[i] is
 * atom i's offset in G or dG, n_basis values; only atoms < env->n_centres):
 *   forward: G rows := basis values.
 *   vjp:     g_edge (E, 3) += Σ_α dG[i][α] ∂B_α(i)/∂r_e   (accumulates).
 *   jvp:     dG rows := Σ_e ∂B_α(i)/∂r_e · t_edge[e]      (overwrites).
 * _multi: n sets in one walk, row (n, N), g_edge / t_edge (n, E, 3).
 * MLIP_ENOMEM (per-thread scratch).
 */
int mlip_mtp_forward(double *G, const size_t *row, const struct mlip_mtp *m,
		     const struct mlip_env *env, struct mlip_err *err);
int mlip_mtp_vjp(double *g_edge, const double *dG, const size_t *row, const struct mlip_mtp *m,
		 const struct mlip_env *env, struct mlip_err *err);
int mlip_mtp_jvp(double *dG, const size_t *row, const double *t_edge, const struct mlip_mtp *m,
		 const struct mlip_env *env, struct mlip_err *err);
int mlip_mtp_vjp_multi(double *g_edge, const double *dG, const size_t *row, size_t n,
		       const struct mlip_mtp *m, const struct mlip_env *env, struct mlip_err *err);
int mlip_mtp_jvp_multi(double *dG, const size_t *row, const double *t_edge, size_t n,
		       const struct mlip_mtp *m, const struct mlip_env *env, struct mlip_err *err);

/*
 * Trainable radial coefficients. use_radial makes every pass read c (S, S,
 * n_mu, n_radial; borrowed, e.g. a model's parameter tensor, which may change
 * between calls) instead of m->radial; NULL goes back to m->radial.
 *
 * radial_grad accumulates the gradient of a training loss L with respect to
 * those coefficients, where L depends on the basis through the rows G_i and
 * their tangents dG_{t,i} along t_edge + 3E·t (t < n_tan, as
 * mlip_mtp_jvp_multi): given the adjoints in adj, at row[i] for ∂L/∂G_i and
 * at row[(1 + t)·N + i] for ∂L/∂dG_{t,i} (row is (1 + n_tan, N)),
 *   g_radial (S, S, n_mu, n_radial) += Σ_i ∂L/∂G_i · ∂G_i/∂c
 *                                     + Σ_{t,i} ∂L/∂dG_{t,i} · ∂dG_{t,i}/∂c.
 * Exact: M and dM are linear in c, so per moment (μ, ν) the gradient is
 * Σ_j Q_β(R_j) (M̄ û_j^{⊗ν} + dM̄ d(û_j^{⊗ν})) + Q'_β(R_j) dR_j dM̄ û_j^{⊗ν},
 * with M̄ the adjoint of M (through G and through the second-order part of
 * dG) and dM̄ that of dM. Results are the same for any thread count (the
 * atoms' parts are summed in atom order). Costs about a JVP per tangent plus
 * a VJP; inference never calls it. MLIP_EINVAL (n_tan > MLIP_MTP_MAX_TANGENTS),
 * MLIP_ENOMEM.
 */
void mlip_mtp_use_radial(struct mlip_mtp *m, const double *c);
int mlip_mtp_radial_grad(double *g_radial, const double *adj, const size_t *row,
			 const double *t_edge, size_t n_tan, const struct mlip_mtp *m,
			 const struct mlip_env *env, struct mlip_err *err);

/*
 * Keeping the atoms' values between the passes of one evaluation (a training
 * step is a forward, a VJP, a JVP and a radial gradient on the same
 * environment and coefficients; each would otherwise evaluate every edge and
 * every atom's moments and products again). After mlip_mtp_keep(m, env,
 * max_bytes) the next forward on env keeps each atom's X (moments and
 * products), the VJP, JVP and radial gradient that follow on env use it, and
 * the JVP keeps its tangents for a radial gradient along the same t_edge.
 * Until mlip_mtp_keep_drop (or the next mlip_mtp_keep) the caller must change
 * neither env nor the coefficients (mlip_mtp_use_radial's c). Results are the
 * same bit for bit as without. When the values would take more than
 * max_bytes, or memory runs out, nothing is kept (and the passes evaluate as
 * before). Memory: n_centres × (1 + tangents) rows of X (2.7 KB per row at
 * level 16, 8.6 KB at level 20); it is kept, for reuse, until
 * mlip_mtp_release.
 */
void mlip_mtp_keep(struct mlip_mtp *m, const struct mlip_env *env, size_t max_bytes);
void mlip_mtp_keep_drop(struct mlip_mtp *m);

/* Threads for n_atoms atoms: mlip_descriptor_threads's rule with m->n_threads. */
int mlip_mtp_threads(const struct mlip_mtp *m, size_t n_atoms);

/*
 * The radial functions of pair (a, b) at R (r_min may exceed R; R < cutoff):
 * f[μ] and df[μ] = ∂f_μ/∂R, n_mu values each (either may be NULL). For tests
 * and plots.
 */
void mlip_mtp_radial(double *f, double *df, const struct mlip_mtp *m, size_t a, size_t b,
		     double R);

#endif
