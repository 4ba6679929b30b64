/*
 * descriptor.h - atom-centred symmetry functions (Behler-Parrinello; n2p2
 * types 2, 3 and 9 with the cosine cutoff), their vector-Jacobian product
 * (VJP: forces and stress from dL/dG) and their Jacobian-vector product (JVP:
 * the change of G along a displacement field and a strain), and the
 * mean/std statistics used for input scaling. share/doc/MODEL.md defines the functions;
 * this header states the conventions of the code.
 *
 * Functions (R_ij = |r_ij|, cos θ_ijk = r_ij·r_ik / (R_ij R_ik),
 * f_c(R) = ½[cos(πR/r_c) + 1] for R < r_c, else 0):
 *   G2  Σ_{j: Z_j = z1} exp(−η (R_ij − r_s)²) f_c(R_ij)
 *   G9  2^{1−ζ} Σ_{j<k: {Z_j,Z_k} = {z1,z2}} (1 + λ cos θ_ijk)^ζ
 *           · exp(−η[(R_ij − r_s)² + (R_ik − r_s)²]) f_c(R_ij) f_c(R_ik)
 *   G3  as G9, times exp(−η (R_jk − r_s)²) f_c(R_jk) inside the sum.
 * j<k is over unordered pairs of distinct neighbours (images included).
 *
 * Everything a descriptor of atom i depends on is the list of its edge vectors
 * r_e = r_ij (e over the edges of i inside the cutoff). The VJP therefore
 * returns dL/dr_e per edge (E×3) and the JVP takes a tangent per edge; the
 * model turns edge gradients into forces (F_j −= g_e, F_i += g_e) and the
 * virial (Σ_e r_e ⊗ g_e), and displacements u plus a strain ε into edge
 * tangents (u_j − u_i + r_e ε). No pair (triplet) data is kept between
 * calls: each call walks the neighbour pairs of every atom again. What may be
 * kept is per edge (mlip_env_cache: the sincos and exp values, 6 doubles per
 * edge for the default set), so memory stays O(N + E) plus a scratch of
 * O(max_nb) per thread.
 *
 * Threads: the evaluations share the atoms among OpenMP threads (see
 * mlip_descriptor_threads); each atom's outputs are written by one thread in
 * a fixed order, so results are the same for any thread count.
 *
 * Default set (mlip_descriptor_default), for cutoff r_c and S elements,
 * identical for every central element:
 *   - radial G2, for each neighbour element: 8 shifted Gaussians,
 *     Δ = r_c / 9, r_s = k Δ for k = 1..8, η = 1 / (2 Δ²);
 *   - wide angular G9, for each unordered pair of neighbour elements
 *     (a, b), a <= b in model order: r_s = 0, η ∈ {0, 2/r_c², 8/r_c²} truncated to the first
 *     n_η values with n_η = 3 (S = 1), 2 (S = 2), 1 (S >= 3),
 *     ζ ∈ {1, 2, 4, 16}, λ ∈ {−1, +1};
 *   - every function uses r_c = cutoff.
 * Order: radial by neighbour element, then r_s; angular by element pair,
 * then η, ζ, λ. Counts per element: S = 1: 32, 2: 64, 3: 72, 4: 112.
 */
#ifndef MLIP_DESCRIPTOR_H
#define MLIP_DESCRIPTOR_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "elements.h"
#include "error.h"

#define MLIP_MAX_ELEMENTS 16

enum mlip_sf_kind {
	MLIP_SF_G2 = 2, /* radial */
	MLIP_SF_G3 = 3, /* narrow angular */
	MLIP_SF_G9 = 9, /* wide angular */
};

/* One symmetry function. */
struct mlip_sf {
	int kind;      /* MLIP_SF_G2, G3 or G9 */
	int z;         /* central element (atomic number) */
	int z1, z2;    /* neighbour elements; G2 uses z1 only (z2 = 0); angular any order */
	double eta;    /* Å⁻², >= 0 */
	double rs;     /* Å, >= 0 */
	double lambda; /* angular only: −1 or +1 */
	double zeta;   /* angular only: >= 1 */
	double rc;     /* Å, 0 < rc <= cutoff */
};

struct sf_plan; /* compiled evaluation plan (descriptor.c) */

struct mlip_descriptor {
	size_t n_elements;
	int z[MLIP_MAX_ELEMENTS];             /* atomic numbers, in model order */
	int8_t species[MLIP_MAX_Z + 1];       /* atomic number -> element index, −1 if absent */
	double cutoff;                        /* Å, the model cutoff */
	size_t n_sf;
	struct mlip_sf *sf;                   /* (n_sf) owned; grouped by central element in
						 model order, the given order kept within */
	size_t dim[MLIP_MAX_ELEMENTS];        /* functions per central element */
	size_t sf_start[MLIP_MAX_ELEMENTS + 1]; /* element e owns sf[sf_start[e] .. +dim[e]) */
	size_t max_dim;
	struct sf_plan *plan;                 /* (n_elements) owned */
	int n_threads;                        /* threads of the evaluations (OpenMP builds): 0 (the
						 default) = OMP_NUM_THREADS's count if that variable
						 is set, else 1 */
};

/*
 * Build the default set (rule above) for n_el elements z at cutoff: *out is
 * malloc'ed (caller frees), *n its length. MLIP_EINVAL for a bad cutoff or
 * element list, MLIP_ENOMEM.
 */
int mlip_descriptor_default(struct mlip_sf **out, size_t *n, const int *z, size_t n_el,
			    double cutoff, struct mlip_err *err);

/*
 * Radially resolved angular functions, an option of the default set
 * (model.angular_shells): for each central element and each unordered pair
 * of neighbour elements, n_shells shells of width Δ = 0.65 r_c / n_shells
 * centred at r_s = 0.35 r_c + (k + ½)Δ (k = 0..n_shells−1), η = 1/(2Δ²),
 * ζ ∈ {1, 2, 4}, λ ∈ {−1, +1}: G9 functions that tell which neighbour shell
 * an angle is formed in (the default set's angular functions are centred at
 * 0 and mix all distances). 6·n_shells functions per element pair, appended
 * to *list (realloc'ed; *n updated). MLIP_EINVAL, MLIP_ENOMEM.
 */
int mlip_descriptor_angular_shells(struct mlip_sf **list, size_t *n, const int *z, size_t n_el,
				   double cutoff, size_t n_shells, struct mlip_err *err);

/*
 * Initialise d for elements z (distinct atomic numbers) at cutoff with the
 * given functions (copied; the default set if sf is NULL or n_sf is 0).
 * Checks every function (kind, elements in the list, η, r_s >= 0, λ = ±1,
 * ζ >= 1, 0 < r_c <= cutoff) and that every element has at least one
 * function; errors name the function by its 1-based index. MLIP_ENOMEM.
 */
int mlip_descriptor_init(struct mlip_descriptor *d, const int *z, size_t n_el, double cutoff,
			 const struct mlip_sf *sf, size_t n_sf, struct mlip_err *err);
void mlip_descriptor_release(struct mlip_descriptor *d);

/*
 * The atomic environments of a batch at the model cutoff: the batch's edges
 * with |r_ij| < cutoff (the batch's own cutoff may be larger), their vectors,
 * and per-atom element indices. Rebuilt for every batch; the arrays grow and
 * are reused.
 */
struct mlip_env {
	size_t n_atoms, n_edges, n_systems;
	size_t n_centres;     /* atoms 0 .. n_centres−1 have descriptors (and the model's
				 energies); the rest, if any, are only neighbours (an MD
				 code's ghost atoms): no edges, no energy. n_atoms when
				 built from a batch */
	size_t max_nb;        /* most edges of one atom */
	int32_t *species;     /* (N) element index in the descriptor's list */
	int32_t *system;      /* (N) system of each atom */
	size_t *first;        /* (N + 1) edges of atom i are first[i] .. first[i+1]−1 */
	int32_t *nbr;         /* (E) neighbour atom j, batch-global */
	double *r;            /* (E, 3) r_ij = r_j + n·H − r_i, Å */
	double *volume;       /* (B) |det H| where the stress is defined, else 0 */
	size_t cache_stride;  /* doubles per edge in cache; 0: no cache (mlip_env_cache) */
	double *cache;        /* (E, cache_stride) the edges' sincos and exp values */
	size_t alloc_atoms, alloc_edges, alloc_systems, alloc_cache;
};

void mlip_env_init(struct mlip_env *env);
/*
 * Make room for N atoms, E edges and B systems (arrays grow, contents are
 * kept only up to the old sizes). For callers that fill an environment
 * themselves (mlip_model_forward_env). MLIP_ENOMEM.
 */
int mlip_env_reserve(struct mlip_env *env, size_t N, size_t E, size_t B, struct mlip_err *err);
/* dst := a deep copy of src (dst's arrays grow as needed; its cache too). MLIP_ENOMEM. */
int mlip_env_copy(struct mlip_env *dst, const struct mlip_env *src, struct mlip_err *err);
/* Bytes of src's arrays in use (what mlip_env_copy copies). */
size_t mlip_env_bytes(const struct mlip_env *src);
void mlip_env_release(struct mlip_env *env);

/*
 * Fill env from batch b for descriptor d. The batch edges must be sorted by
 * their central atom and lie within one system. The stress is defined for a
 * system with at least one periodic axis and a non-singular cell; elsewhere
 * volume is 0 and the model reports a zero stress. Errors: MLIP_EDATA for an
 * element the model does not know (naming atom and system), unsorted or
 * out-of-range edges, a batch cutoff below d->cutoff; MLIP_ENOMEM.
 */
int mlip_env_build(struct mlip_env *env, const struct mlip_descriptor *d,
		   const struct mlip_batch *b, struct mlip_err *err);

/*
 * Evaluate once the transcendental part of every edge's radial terms (cutoff
 * functions and exponentials: a few doubles per edge, 6 for the default set)
 * and keep it in env, so that the forward, VJP and JVP passes that follow
 * read it instead of calling sincos and exp again; the results are the same,
 * bit for bit. Worth it when more than one pass follows (forces, training).
 * The cache holds d's values: evaluate only d on env until mlip_env_build,
 * which drops it. MLIP_ENOMEM.
 */
int mlip_env_cache(struct mlip_env *env, const struct mlip_descriptor *d, struct mlip_err *err);

/*
 * From edge gradients g_edge (E, 3) = ∂L/∂r_e to atoms and strain: adds
 * ∂L/∂r_j += g_e, ∂L/∂r_i −= g_e into component h of dpos (N, 3, H) and
 * Σ_e r_e ⊗ g_e (= ∂L/∂ε of system s, row-vector strain r -> r(1 + ε)) into
 * component h of dstrain (B, 9, H). Either output may be NULL. Forces are
 * −dpos; the stress is dstrain / V.
 */
void mlip_env_gather(double *dpos, double *dstrain, size_t H, size_t h, const double *g_edge,
		     const struct mlip_env *env);

/*
 * The three evaluations. row[i] is the offset of atom i's row (dim[species]
 * values) in G / dG, so callers choose any layout (the model uses element
 * blocks).
 *   forward: G rows := descriptors.
 *   vjp:     g_edge (E, 3) += Σ_d dG[i][d] ∂G_id/∂r_e   (accumulates).
 *   jvp:     dG rows := Σ_e ∂G_id/∂r_e · t_edge[e]      (overwrites).
 * The _multi forms do n of these in one walk over the atoms' pairs (cheaper
 * than n calls): row is (n, N) (row[q·N + i] for set q), g_edge and t_edge
 * are (n, E, 3).
 * Atoms are spread over mlip_descriptor_threads(d, N) OpenMP threads; the
 * results are the same, bit for bit, whatever the thread count.
 * Errors: MLIP_ENOMEM (per-thread scratch of O(max_nb) doubles).
 */
int mlip_descriptor_forward(double *G, const size_t *row, const struct mlip_descriptor *d,
			    const struct mlip_env *env, struct mlip_err *err);
int mlip_descriptor_vjp(double *g_edge, const double *dG, const size_t *row,
			const struct mlip_descriptor *d, const struct mlip_env *env,
			struct mlip_err *err);
int mlip_descriptor_jvp(double *dG, const size_t *row, const double *t_edge,
			const struct mlip_descriptor *d, const struct mlip_env *env,
			struct mlip_err *err);
int mlip_descriptor_vjp_multi(double *g_edge, const double *dG, const size_t *row, size_t n,
			      const struct mlip_descriptor *d, const struct mlip_env *env,
			      struct mlip_err *err);
int mlip_descriptor_jvp_multi(double *dG, const size_t *row, const double *t_edge, size_t n,
			      const struct mlip_descriptor *d, const struct mlip_env *env,
			      struct mlip_err *err);

/*
 * Threads the evaluations use for n_atoms atoms: d->n_threads if positive,
 * else the OpenMP default (omp_get_max_threads) if OMP_NUM_THREADS is set,
 * else 1 - so that ranks of an MPI job do not oversubscribe the cores unless
 * asked to; never more than one thread per 16 atoms. Always 1 in a build
 * without OpenMP.
 */
int mlip_descriptor_threads(const struct mlip_descriptor *d, size_t n_atoms);

/*
 * That rule for any per-atom pass (the moment tensor basis too): requested
 * threads if positive, else OMP_NUM_THREADS's count if set, else 1; at most
 * one thread per atoms_per_task atoms.
 */
int mlip_pass_threads(int requested, size_t n_atoms, size_t atoms_per_task);

/*
 * Running per-element mean and population variance of the descriptors
 * (Welford per atom; mlip_sf_stats_merge combines partial results, Chan et
 * al., e.g. across ranks). std below 1e-12 is reported as 1.
 */
struct mlip_sf_stats {
	size_t n_elements;
	size_t off[MLIP_MAX_ELEMENTS + 1]; /* element e's values at [off[e], off[e+1]) */
	double count[MLIP_MAX_ELEMENTS];   /* atoms seen per element */
	double *mean, *m2;                 /* (off[n_elements]) */
};

int mlip_sf_stats_init(struct mlip_sf_stats *s, const struct mlip_descriptor *d,
		       struct mlip_err *err);
void mlip_sf_stats_release(struct mlip_sf_stats *s);
void mlip_sf_stats_add(struct mlip_sf_stats *s, const double *G, const size_t *row,
		       const struct mlip_env *env);
void mlip_sf_stats_merge(struct mlip_sf_stats *dst, const struct mlip_sf_stats *src);
/* mean and std (dim[e] values each) of element e; mean 0 and std 1 if no atom was seen. */
void mlip_sf_stats_result(const struct mlip_sf_stats *s, size_t e, double *mean,
			  double *std);

#endif
