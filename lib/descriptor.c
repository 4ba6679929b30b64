/*
 * descriptor.c - symmetry functions: default sets, evaluation, VJP, JVP and
 * scaling statistics.
 *
 * How the evaluation is organised (the descriptor loops are the model's
 * cost, so this is where the time goes):
 *   - Functions are compiled per central element into a plan. Every
 *     distinct (η, r_s, r_c) becomes a "channel" c with the per-edge value
 *     e_c(R) = exp(−η(R − r_s)²) f_c(R) and its derivative; every distinct
 *     (λ, ζ) of an element-pair block becomes a "term"
 *     P(cos) = 2^{1−ζ} (1 + λ cos)^ζ. A G2 function is a channel summed over
 *     the neighbours of one element; a G9 function is a (term, channel) pair,
 *     since its summand factorises as P(cos θ_ijk) e_c(R_ij) e_c(R_ik).
 *   - Per edge, the transcendental part (one sincos per distinct r_c, one
 *     exp per channel with η > 0, two per chain of evenly spaced radial
 *     channels: struct sf_chain) is edge_values(); mlip_env_cache keeps it
 *     for all the passes of a batch.
 *   - Per atom i the neighbours are copied into structure-of-arrays scratch
 *     ("slots"), grouped by element; each group is followed by at least three
 *     zero slots and the next group starts at a multiple of four, and the
 *     channel values are formed there, four slots at a time.
 *   - A block's G9 functions are cut into dense tiles of up to 8 terms × 4
 *     channels (struct sf_tile). Pairs j<k are visited per tile as: for each
 *     j, the k of the partner group in chunks of four lanes (v4 below). A
 *     chunk may run past the group's end into its zero slots, whose channel
 *     values are 0, so they add nothing: no remainder loops, no masks. Per
 *     chunk, cos θ and the tile's terms are computed once in registers (the
 *     default terms ζ ∈ {1, 2, 4, 16} by straight-line squaring; others by a
 *     ladder of squares, or pow() per lane for a non-integer ζ), without the
 *     factor 2^{1−ζ}, which is applied once per function at the end. The
 *     tile's sums accumulate in four lanes per (term, channel) over all pairs
 *     and are reduced once per atom and tile. Each kernel is instantiated
 *     per channel count and term layout, so the accumulators are registers.
 *   - The VJP uses the same walk with the adjoints combined per chunk:
 *     A_c = Σ_f w_f P_f, B_c = Σ_f w_f P'_f, so ∂L/∂cos θ_jk = Σ_c B_c e_c(j) e_c(k).
 *     The angle's position terms are kept per slot as Σ ∂L/∂cos · u_other
 *     and Σ ∂L/∂cos · cos, and turned into vectors once per edge. Several
 *     weight sets (heads) share one slot load; the JVP likewise for several
 *     tangents.
 *   - G3 functions do not factorise (they need R_jk); they are summed per
 *     triplet, scalar, inside the same walk.
 *   - Atoms are independent: with OpenMP, threads take atoms, each with its
 *     own scratch, and every output (a G row, the edges of one atom) is
 *     written by one thread only, so results do not depend on the thread
 *     count.
 * Everything is double, G rows and their adjoints included (a float32
 * model rounds the scaled rows to float at its network input, model.h).
 * The four-lane structure (hence the order of every sum) is the
 * same whatever the instruction set; only the fused multiply-adds of the
 * AVX2 build (SF_CLONES) make results differ, at round-off, from a machine
 * without AVX2.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "descriptor.h"
#include "banned.h"

/* The lane helpers below are static and inlined: their vector ABI never crosses a call. */
#pragma GCC diagnostic ignored "-Wpsabi"

#ifdef _OPENMP
#define SF_PRAGMA(x) _Pragma(#x)
#else
#define SF_PRAGMA(x)
#endif

/* ---- four lanes ---------------------------------------------------------- */

/*
 * GCC / clang vector extensions: SSE2 pairs on baseline x86-64, one AVX
 * register where enabled. Every helper taking or returning a v4 is always
 * inlined: the AVX2 and baseline copies of the kernels (SF_CLONES) pass
 * vectors differently, so no such call may remain.
 */
#define SF_INLINE static inline __attribute__((always_inline))
#define SF_UNROLL _Pragma("GCC unroll 8") /* loops over the lanes of a tile */

/*
 * The per-atom work is built twice on x86-64, for AVX2 + FMA and for the
 * baseline, and the loader picks one (GCC function multiversioning). The AVX2
 * copy also contracts a·b + c into fused multiply-adds (about 10% faster);
 * the baseline copy splits each four-lane operation in two and runs several
 * times slower. The two agree to round-off (bit for bit without the
 * contraction). -DMLIP_NO_CLONES builds the baseline alone.
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 && \
	!defined(__AVX2__) && !defined(MLIP_NO_CLONES)
#define SF_CLONES                                                          \
	__attribute__((target_clones("arch=x86-64-v3", "default"), \
		       optimize("fp-contract=fast")))
#else
#define SF_CLONES
#endif

typedef double v4 __attribute__((vector_size(32)));
typedef long long v4l __attribute__((vector_size(32)));

SF_INLINE v4 vld(const double *p)
{
	v4 v;
	memcpy(&v, p, sizeof(v));
	return v;
}

/* *p := v (a macro: no v4 argument crosses a function boundary). */
#define vst(p, v)                                   \
	do {                                        \
		const v4 vst_ = (v);                \
		memcpy((p), &vst_, sizeof(vst_));   \
	} while (0)

SF_INLINE v4 vset(double x)
{
	return (v4){ x, x, x, x };
}

SF_INLINE double vsum(const v4 *v)
{
	double a[4];
	memcpy(a, v, sizeof(a));
	return (a[0] + a[1]) + (a[2] + a[3]);
}

/* max(*v, 0) lane by lane (NaN -> 0). */
SF_INLINE v4 vpos(const v4 *v)
{
	return (v4)((v4l)*v & (v4l)(*v > 0));
}

/* ---- the compiled plan ------------------------------------------------ */

#define SF_LADDER 11        /* b^(2^m) for m < 11 covers ζ − 1 < 2048 */
#define SF_TT 8             /* terms per tile */
#define SF_CT 4             /* channels per tile */
#define SF_ATOMS_PER_TASK 16 /* atoms a thread takes at a time */

struct sf_chan {
	double eta, rs, rc;
	size_t rci; /* index of rc in the plan's distinct cutoffs */
	int chain;  /* the chain it is evaluated in, or −1 */
	int xi;     /* outside chains with η > 0: index of its exp() in edge_values, else −1 */
};

/*
 * Channels with one η > 0 and r_c whose r_s are evenly spaced (the default
 * radial set) form a chain: along it exp(−η(R − r_s)²) changes by a ratio
 * that itself changes by the constant factor κ = exp(−2ηΔ²), so a chain of n
 * channels costs two exp() per edge instead of n. Chains are only made
 * where every exponent stays within ±600 for R in [0, r_c): no underflow or
 * overflow on the way.
 */
struct sf_chain {
	double eta, rs0, step, kappa;
	size_t rci, n;
	uint32_t *ch; /* (n) channels in r_s order */
};

struct sf_term {
	double lambda, zeta, pref; /* pref = 2^{1−ζ} */
	double zl;                 /* ζ λ */
	unsigned izeta;            /* ζ if it is an integer <= 1024, else 0 */
	unsigned li;               /* 0: λ = +1, 1: λ = −1 */
	unsigned nq;               /* integer ζ: (1 + λc)^{ζ−1} = Π_{m < nq} ladder[qb[m]] */
	unsigned char qb[SF_LADDER];
};

struct sf_ref {
	uint32_t term, ch, out;
};

/*
 * A dense piece of a block's G9 functions: up to SF_TT terms × SF_CT
 * channels, evaluated together on every pair (a (term, channel) slot without
 * a function costs a little work and adds nothing).
 */
struct sf_tile {
	unsigned n_terms, n_ch;
	unsigned ladder[2];         /* ladder entries for λ = +1, −1 (0: unused) */
	struct sf_term term[SF_TT]; /* copies of the block's terms */
	uint32_t ch[SF_CT];         /* plan channels */
	int std;                    /* terms among the default ones, in sf_std_slot order */
};

/*
 * The default set's terms, ζ ∈ {1, 2, 4, 16} × λ ∈ {−1, +1}, have a kernel
 * of their own (straight-line powers, no loops); a tile whose terms are all
 * among them keeps each in slot 2·(index of ζ) + (λ > 0).
 */
static int sf_std_slot(const struct sf_term *t)
{
	int z = t->izeta == 1 ? 0 : t->izeta == 2 ? 1 : t->izeta == 4 ? 2 : t->izeta == 16 ? 3 : -1;
	return z < 0 ? -1 : 2 * z + (t->lambda > 0);
}

struct sf_block {
	size_t n_terms, n9, n3, n_tiles;
	struct sf_term *terms; /* (n_terms) */
	struct sf_ref *g9;     /* (n9) */
	struct sf_ref *g3;     /* (n3) */
	uint32_t *g9_tile;     /* (n9) tile of each G9 function */
	uint32_t *g9_slot;     /* (n9) its place t·SF_CT + c in the tile */
	struct sf_tile *tiles; /* (n_tiles) */
};

struct sf_plan {
	size_t dim, n_ch, n_rc;
	struct sf_chan *ch;                      /* (n_ch) */
	double *rc;                              /* (n_rc) distinct cutoffs */
	size_t rad_start[MLIP_MAX_ELEMENTS + 1]; /* radial functions of neighbour element s */
	struct sf_ref *rad;                      /* (n radial), .term unused */
	struct sf_block *blocks;                 /* (S, S), used for s1 <= s2 */
	size_t n_chains;
	struct sf_chain *chains;                 /* (n_chains) */
	size_t n_vals;                           /* transcendental values per edge (edge_values) */
	int has_g3;
};

static int sf_is_angular(int kind)
{
	return kind == MLIP_SF_G3 || kind == MLIP_SF_G9;
}

static void plan_release(struct sf_plan *p, size_t S)
{
	if (!p)
		return;
	free(p->ch);
	free(p->rc);
	free(p->rad);
	if (p->blocks)
		for (size_t k = 0; k < S * S; k++) {
			free(p->blocks[k].terms);
			free(p->blocks[k].g9);
			free(p->blocks[k].g3);
			free(p->blocks[k].g9_tile);
			free(p->blocks[k].g9_slot);
			free(p->blocks[k].tiles);
		}
	free(p->blocks);
	for (size_t k = 0; p->chains && k < p->n_chains; k++)
		free(p->chains[k].ch);
	free(p->chains);
}

static size_t add_unique_rc(struct sf_plan *p, double rc)
{
	for (size_t k = 0; k < p->n_rc; k++)
		if (p->rc[k] == rc)
			return k;
	p->rc[p->n_rc] = rc;
	return p->n_rc++;
}

static uint32_t add_channel(struct sf_plan *p, const struct mlip_sf *f)
{
	for (size_t k = 0; k < p->n_ch; k++)
		if (p->ch[k].eta == f->eta && p->ch[k].rs == f->rs && p->ch[k].rc == f->rc)
			return (uint32_t)k;
	struct sf_chan *c = &p->ch[p->n_ch];
	c->eta = f->eta;
	c->rs = f->rs;
	c->rc = f->rc;
	c->rci = add_unique_rc(p, f->rc);
	c->chain = -1;
	return (uint32_t)p->n_ch++;
}

static uint32_t add_term(struct sf_block *b, const struct mlip_sf *f)
{
	for (size_t k = 0; k < b->n_terms; k++)
		if (b->terms[k].lambda == f->lambda && b->terms[k].zeta == f->zeta)
			return (uint32_t)k;
	struct sf_term *t = &b->terms[b->n_terms];
	t->lambda = f->lambda;
	t->zeta = f->zeta;
	t->pref = pow(2.0, 1.0 - f->zeta);
	t->zl = f->zeta * f->lambda;
	t->izeta = (f->zeta == floor(f->zeta) && f->zeta <= 1024) ? (unsigned)f->zeta : 0;
	t->li = f->lambda < 0;
	t->nq = 0;
	for (unsigned m = 0, ex = t->izeta ? t->izeta - 1 : 0; ex; m++, ex >>= 1)
		if (ex & 1)
			t->qb[t->nq++] = (unsigned char)m;
	return (uint32_t)b->n_terms++;
}

/*
 * Cut a block's G9 functions into tiles: the distinct terms in groups of
 * SF_TT, the distinct channels in groups of SF_CT, one tile per pair of
 * groups that holds a function.
 */
static int block_tiles(struct sf_block *b)
{
	size_t n = b->n9, nt = 0, nc = 0;
	uint32_t *tpos = calloc(b->n_terms + 1, sizeof(*tpos)), *chs = calloc(n + 1, sizeof(*chs));
	uint32_t *cpos = calloc(n + 1, sizeof(*cpos)), *tid = NULL;
	int rc = -1;
	if (!tpos || !chs || !cpos)
		goto out;
	for (size_t t = 0; t < b->n_terms; t++)
		tpos[t] = UINT32_MAX;
	for (size_t f = 0; f < n; f++) {
		if (tpos[b->g9[f].term] == UINT32_MAX)
			tpos[b->g9[f].term] = (uint32_t)nt++;
		size_t c = 0;
		while (c < nc && chs[c] != b->g9[f].ch)
			c++;
		if (c == nc)
			chs[nc++] = b->g9[f].ch;
		cpos[f] = (uint32_t)c;
	}
	size_t ntg = (nt + SF_TT - 1) / SF_TT, ncg = (nc + SF_CT - 1) / SF_CT;
	tid = malloc((ntg * ncg + 1) * sizeof(*tid));
	b->tiles = calloc(ntg * ncg + 1, sizeof(*b->tiles));
	b->g9_tile = calloc(n ? n : 1, sizeof(*b->g9_tile));
	b->g9_slot = calloc(n ? n : 1, sizeof(*b->g9_slot));
	if (!tid || !b->tiles || !b->g9_tile || !b->g9_slot)
		goto out;
	for (size_t g = 0; g < ntg * ncg; g++)
		tid[g] = UINT32_MAX;
	b->n_tiles = 0;
	for (size_t f = 0; f < n; f++) {
		size_t tp = tpos[b->g9[f].term], g = (tp / SF_TT) * ncg + cpos[f] / SF_CT;
		if (tid[g] == UINT32_MAX) {
			struct sf_tile *tl = &b->tiles[b->n_tiles];
			size_t t0 = tp / SF_TT * SF_TT, c0 = cpos[f] / SF_CT * SF_CT;
			for (size_t t = 0; t < b->n_terms; t++)
				if (tpos[t] != UINT32_MAX && tpos[t] >= t0 && tpos[t] < t0 + SF_TT) {
					struct sf_term *tm = &tl->term[tpos[t] - t0];
					*tm = b->terms[t];
					unsigned need = tm->nq ? tm->qb[tm->nq - 1] + 1u : 1u;
					if (need > tl->ladder[tm->li])
						tl->ladder[tm->li] = need;
					if (tpos[t] - t0 + 1 > tl->n_terms)
						tl->n_terms = (unsigned)(tpos[t] - t0 + 1);
				}
			for (size_t c = c0; c < nc && c < c0 + SF_CT; c++)
				tl->ch[tl->n_ch++] = chs[c];
			tid[g] = (uint32_t)b->n_tiles++;
		}
		b->g9_tile[f] = tid[g];
		b->g9_slot[f] = (uint32_t)((tp % SF_TT) * SF_CT + cpos[f] % SF_CT);
	}
	/* Tiles of default terms move each term to its standard slot. */
	for (size_t ti = 0; ti < b->n_tiles; ti++) {
		struct sf_tile *tl = &b->tiles[ti];
		struct sf_term moved[SF_TT];
		int perm[SF_TT], ok = 1;
		for (unsigned t = 0; t < tl->n_terms && ok; t++)
			ok = (perm[t] = sf_std_slot(&tl->term[t])) >= 0;
		if (!ok)
			continue;
		memset(moved, 0, sizeof(moved));
		for (unsigned t = 0; t < tl->n_terms; t++)
			moved[perm[t]] = tl->term[t];
		memcpy(tl->term, moved, sizeof(moved));
		tl->n_terms = SF_TT;
		tl->std = 1;
		for (size_t f = 0; f < n; f++)
			if (b->g9_tile[f] == ti)
				b->g9_slot[f] = (uint32_t)(perm[b->g9_slot[f] / SF_CT] * SF_CT +
							   b->g9_slot[f] % SF_CT);
	}
	rc = 0;
out:
	free(tpos);
	free(chs);
	free(cpos);
	free(tid);
	return rc;
}

/* Find the chains among the channels of p (see struct sf_chain). */
static int plan_chains(struct sf_plan *p)
{
	uint32_t *list = calloc(p->n_ch + 1, sizeof(*list));
	p->chains = calloc(p->n_ch / 3 + 1, sizeof(*p->chains));
	if (!list || !p->chains) {
		free(list);
		return -1;
	}
	for (size_t c0 = 0; c0 < p->n_ch; c0++) {
		const struct sf_chan *a = &p->ch[c0];
		size_t n = 0;
		if (a->chain >= 0 || !(a->eta > 0))
			continue;
		for (size_t c = c0; c < p->n_ch; c++)
			if (p->ch[c].chain < 0 && p->ch[c].eta == a->eta && p->ch[c].rc == a->rc)
				list[n++] = (uint32_t)c;
		if (n < 3)
			continue;
		for (size_t q = 1; q < n; q++) { /* by r_s (insertion sort) */
			uint32_t v = list[q];
			size_t m = q;
			for (; m > 0 && p->ch[list[m - 1]].rs > p->ch[v].rs; m--)
				list[m] = list[m - 1];
			list[m] = v;
		}
		double rs0 = p->ch[list[0]].rs, rs1 = p->ch[list[n - 1]].rs;
		double step = (rs1 - rs0) / (double)(n - 1), eta = a->eta;
		double dmax = rs1 > a->rc - rs0 ? rs1 : a->rc - rs0;
		int even = step > 0;
		for (size_t q = 0; q < n && even; q++) /* evenly spaced up to round-off */
			even = fabs(p->ch[list[q]].rs - (rs0 + (double)q * step)) <= 1e-14 * rs1;
		if (!even || eta * dmax * dmax > 600 || eta * (2 * step * dmax + step * step) > 600)
			continue;
		struct sf_chain *ch = &p->chains[p->n_chains];
		ch->ch = malloc(n * sizeof(*ch->ch));
		if (!ch->ch) {
			free(list);
			return -1;
		}
		memcpy(ch->ch, list, n * sizeof(*list));
		ch->n = n;
		ch->eta = eta;
		ch->rs0 = rs0;
		ch->step = step;
		ch->kappa = exp(-2 * eta * step * step);
		ch->rci = a->rci;
		for (size_t q = 0; q < n; q++)
			p->ch[list[q]].chain = (int)p->n_chains;
		p->n_chains++;
	}
	free(list);
	return 0;
}

/* Compile the functions of central element e (d->sf is validated and grouped). */
static int plan_build(struct sf_plan *p, const struct mlip_descriptor *d, size_t e,
		      struct mlip_err *err)
{
	size_t S = d->n_elements, n = d->dim[e];
	const struct mlip_sf *f = d->sf + d->sf_start[e];
	memset(p, 0, sizeof(*p));
	p->dim = n;
	p->ch = calloc(n, sizeof(*p->ch));
	p->rc = calloc(n, sizeof(*p->rc));
	p->rad = calloc(n, sizeof(*p->rad));
	p->blocks = calloc(S * S, sizeof(*p->blocks));
	if (!p->ch || !p->rc || !p->rad || !p->blocks)
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory for symmetry functions");
	/* Radial functions, grouped by neighbour element (counting sort). */
	size_t cnt[MLIP_MAX_ELEMENTS + 1] = { 0 };
	for (size_t k = 0; k < n; k++)
		if (f[k].kind == MLIP_SF_G2)
			cnt[d->species[f[k].z1] + 1]++;
	for (size_t s = 0; s < S; s++)
		cnt[s + 1] += cnt[s];
	memcpy(p->rad_start, cnt, sizeof(p->rad_start));
	for (size_t k = 0; k < n; k++) {
		if (f[k].kind != MLIP_SF_G2)
			continue;
		struct sf_ref *r = &p->rad[cnt[d->species[f[k].z1]]++];
		r->ch = add_channel(p, &f[k]);
		r->out = (uint32_t)k;
	}
	/* Angular functions, per unordered neighbour-element pair. */
	for (size_t k = 0; k < n; k++) {
		if (!sf_is_angular(f[k].kind))
			continue;
		size_t s1 = (size_t)d->species[f[k].z1], s2 = (size_t)d->species[f[k].z2];
		if (s1 > s2) {
			size_t t = s1;
			s1 = s2;
			s2 = t;
		}
		struct sf_block *b = &p->blocks[s1 * S + s2];
		if (!b->terms) {
			b->terms = calloc(n, sizeof(*b->terms));
			b->g9 = calloc(n, sizeof(*b->g9));
			b->g3 = calloc(n, sizeof(*b->g3));
			if (!b->terms || !b->g9 || !b->g3)
				return mlip_err_set(err, MLIP_ENOMEM,
						    "out of memory for symmetry functions");
		}
		struct sf_ref *r = f[k].kind == MLIP_SF_G9 ? &b->g9[b->n9++] : &b->g3[b->n3++];
		r->term = add_term(b, &f[k]);
		r->ch = add_channel(p, &f[k]);
		r->out = (uint32_t)k;
		if (f[k].kind == MLIP_SF_G3)
			p->has_g3 = 1;
	}
	for (size_t k = 0; k < S * S; k++) {
		struct sf_block *b = &p->blocks[k];
		if (!b->terms)
			continue;
		if (block_tiles(b))
			return mlip_err_set(err, MLIP_ENOMEM, "out of memory for symmetry functions");
	}
	if (plan_chains(p))
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory for symmetry functions");
	p->n_vals = 2 * p->n_rc + 2 * p->n_chains;
	for (size_t c = 0; c < p->n_ch; c++)
		p->ch[c].xi = p->ch[c].chain < 0 && p->ch[c].eta > 0 ? (int)p->n_vals++ : -1;
	return MLIP_OK;
}

/* ---- configuration ------------------------------------------------------ */

static int check_elements(const int *z, size_t n_el, struct mlip_err *err)
{
	if (n_el < 1 || n_el > MLIP_MAX_ELEMENTS)
		return mlip_err_set(err, MLIP_EINVAL, "the model needs 1 to %d elements, not %zu",
				    MLIP_MAX_ELEMENTS, n_el);
	for (size_t a = 0; a < n_el; a++) {
		if (z[a] < 1 || z[a] > MLIP_MAX_Z)
			return mlip_err_set(err, MLIP_EINVAL, "element %zu: bad atomic number %d",
					    a + 1, z[a]);
		for (size_t b = 0; b < a; b++)
			if (z[a] == z[b])
				return mlip_err_set(err, MLIP_EINVAL, "element '%s' is listed twice",
						    mlip_element_symbol(z[a]));
	}
	return MLIP_OK;
}

int mlip_descriptor_default(struct mlip_sf **out, size_t *n, const int *z, size_t n_el,
			    double cutoff, struct mlip_err *err)
{
	int rc;
	*out = NULL;
	*n = 0;
	if ((rc = check_elements(z, n_el, err)))
		return rc;
	if (!(cutoff > 0) || !isfinite(cutoff))
		return mlip_err_set(err, MLIP_EINVAL, "cutoff must be a positive number, not %g",
				    cutoff);
	const size_t n_rad = 8;
	const double eta_ang[3] = { 0.0, 2.0 / (cutoff * cutoff), 8.0 / (cutoff * cutoff) };
	const double zetas[4] = { 1, 2, 4, 16 }, lambdas[2] = { -1, 1 };
	size_t n_eta = n_el == 1 ? 3 : n_el == 2 ? 2 : 1;
	size_t per = n_el * n_rad + n_el * (n_el + 1) / 2 * n_eta * 4 * 2;
	struct mlip_sf *sf = calloc(per * n_el, sizeof(*sf));
	if (!sf)
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory for symmetry functions");
	double delta = cutoff / (double)(n_rad + 1);
	size_t m = 0;
	for (size_t c = 0; c < n_el; c++) {
		for (size_t s = 0; s < n_el; s++)
			for (size_t k = 1; k <= n_rad; k++)
				sf[m++] = (struct mlip_sf){ .kind = MLIP_SF_G2, .z = z[c], .z1 = z[s],
							    .eta = 1 / (2 * delta * delta),
							    .rs = (double)k * delta, .rc = cutoff };
		for (size_t s1 = 0; s1 < n_el; s1++)
			for (size_t s2 = s1; s2 < n_el; s2++)
				for (size_t a = 0; a < n_eta; a++)
					for (size_t b = 0; b < 4; b++)
						for (size_t l = 0; l < 2; l++)
							sf[m++] = (struct mlip_sf){
								.kind = MLIP_SF_G9, .z = z[c],
								.z1 = z[s1], .z2 = z[s2],
								.eta = eta_ang[a], .rs = 0,
								.lambda = lambdas[l],
								.zeta = zetas[b], .rc = cutoff
							};
	}
	MLIP_ASSERT(m == per * n_el);
	*out = sf;
	*n = m;
	return MLIP_OK;
}

int mlip_descriptor_angular_shells(struct mlip_sf **list, size_t *n, const int *z, size_t n_el,
				   double cutoff, size_t n_shells, struct mlip_err *err)
{
	int rc;
	if ((rc = check_elements(z, n_el, err)))
		return rc;
	if (!(cutoff > 0) || !isfinite(cutoff))
		return mlip_err_set(err, MLIP_EINVAL, "cutoff must be a positive number, not %g",
				    cutoff);
	const double zetas[3] = { 1, 2, 4 }, lambdas[2] = { -1, 1 };
	size_t add = n_el * n_el * (n_el + 1) / 2 * n_shells * 3 * 2;
	struct mlip_sf *sf = realloc(*list, (*n + add + 1) * sizeof(*sf));
	if (!sf)
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory for symmetry functions");
	*list = sf;
	double delta = 0.65 * cutoff / (double)(n_shells ? n_shells : 1);
	size_t m = *n;
	for (size_t c = 0; c < n_el; c++)
		for (size_t s1 = 0; s1 < n_el; s1++)
			for (size_t s2 = s1; s2 < n_el; s2++)
				for (size_t k = 0; k < n_shells; k++)
					for (size_t b = 0; b < 3; b++)
						for (size_t l = 0; l < 2; l++)
							sf[m++] = (struct mlip_sf){
								.kind = MLIP_SF_G9, .z = z[c],
								.z1 = z[s1], .z2 = z[s2],
								.eta = 1 / (2 * delta * delta),
								.rs = 0.35 * cutoff + ((double)k + 0.5) * delta,
								.lambda = lambdas[l], .zeta = zetas[b],
								.rc = cutoff
							};
	MLIP_ASSERT(m == *n + add);
	*n = m;
	return MLIP_OK;
}

static int check_sf(const struct mlip_sf *f, size_t idx, const struct mlip_descriptor *d,
		    struct mlip_err *err)
{
	const char *what = f->kind == MLIP_SF_G2 ? "G2" : f->kind == MLIP_SF_G3 ? "G3" : "G9";
	if (f->kind != MLIP_SF_G2 && !sf_is_angular(f->kind))
		return mlip_err_set(err, MLIP_EINVAL,
				    "symmetry function %zu: unknown kind %d (2, 3 or 9)", idx,
				    f->kind);
	if (f->z < 1 || f->z > MLIP_MAX_Z || d->species[f->z] < 0)
		return mlip_err_set(err, MLIP_EINVAL,
				    "symmetry function %zu: central element %d is not in the model",
				    idx, f->z);
	if (f->z1 < 1 || f->z1 > MLIP_MAX_Z || d->species[f->z1] < 0 ||
	    (sf_is_angular(f->kind) &&
	     (f->z2 < 1 || f->z2 > MLIP_MAX_Z || d->species[f->z2] < 0)))
		return mlip_err_set(err, MLIP_EINVAL,
				    "symmetry function %zu (%s): neighbour element is not in the model",
				    idx, what);
	if (!(f->eta >= 0) || !isfinite(f->eta))
		return mlip_err_set(err, MLIP_EINVAL, "symmetry function %zu: eta must be >= 0, not %g",
				    idx, f->eta);
	if (!(f->rs >= 0) || !isfinite(f->rs))
		return mlip_err_set(err, MLIP_EINVAL, "symmetry function %zu: rs must be >= 0, not %g",
				    idx, f->rs);
	if (!(f->rc > 0) || !(f->rc <= d->cutoff))
		return mlip_err_set(err, MLIP_EINVAL,
				    "symmetry function %zu: rc %g is not in (0, cutoff %g]", idx, f->rc,
				    d->cutoff);
	if (sf_is_angular(f->kind)) {
		if (f->lambda != 1 && f->lambda != -1)
			return mlip_err_set(err, MLIP_EINVAL,
					    "symmetry function %zu: lambda must be -1 or 1, not %g", idx,
					    f->lambda);
		if (!(f->zeta >= 1) || !isfinite(f->zeta))
			return mlip_err_set(err, MLIP_EINVAL,
					    "symmetry function %zu: zeta must be >= 1, not %g", idx,
					    f->zeta);
	}
	return MLIP_OK;
}

int mlip_descriptor_init(struct mlip_descriptor *d, const int *z, size_t n_el, double cutoff,
			 const struct mlip_sf *sf, size_t n_sf, struct mlip_err *err)
{
	int rc;
	struct mlip_sf *def = NULL;
	memset(d, 0, sizeof(*d));
	memset(d->species, -1, sizeof(d->species));
	if ((rc = check_elements(z, n_el, err)))
		return rc;
	if (!(cutoff > 0) || !isfinite(cutoff))
		return mlip_err_set(err, MLIP_EINVAL, "cutoff must be a positive number, not %g",
				    cutoff);
	d->n_elements = n_el;
	d->cutoff = cutoff;
	for (size_t e = 0; e < n_el; e++) {
		d->z[e] = z[e];
		d->species[z[e]] = (int8_t)e;
	}
	if (!sf || !n_sf) {
		if ((rc = mlip_descriptor_default(&def, &n_sf, z, n_el, cutoff, err)))
			return rc;
		sf = def;
	}
	for (size_t k = 0; k < n_sf; k++)
		if ((rc = check_sf(&sf[k], k + 1, d, err)))
			goto fail;
	d->sf = malloc(n_sf * sizeof(*d->sf));
	d->plan = calloc(n_el, sizeof(*d->plan));
	if (!d->sf || !d->plan) {
		rc = mlip_err_set(err, MLIP_ENOMEM, "out of memory for symmetry functions");
		goto fail;
	}
	/* Group by central element in model order, keeping the given order. */
	size_t m = 0;
	for (size_t e = 0; e < n_el; e++) {
		d->sf_start[e] = m;
		for (size_t k = 0; k < n_sf; k++) {
			if (sf[k].z != z[e])
				continue;
			struct mlip_sf f = sf[k];
			if (f.kind == MLIP_SF_G2)
				f.z2 = 0, f.lambda = 0, f.zeta = 0;
			d->sf[m++] = f;
		}
		d->dim[e] = m - d->sf_start[e];
		if (!d->dim[e]) {
			rc = mlip_err_set(err, MLIP_EINVAL, "element '%s' has no symmetry functions",
					  mlip_element_symbol(z[e]));
			goto fail;
		}
		if (d->dim[e] > d->max_dim)
			d->max_dim = d->dim[e];
	}
	d->sf_start[n_el] = m;
	d->n_sf = n_sf;
	for (size_t e = 0; e < n_el; e++)
		if ((rc = plan_build(&d->plan[e], d, e, err)))
			goto fail;
	free(def);
	return MLIP_OK;
fail:
	free(def);
	mlip_descriptor_release(d);
	return rc;
}

void mlip_descriptor_release(struct mlip_descriptor *d)
{
	if (d->plan)
		for (size_t e = 0; e < d->n_elements; e++)
			plan_release(&d->plan[e], d->n_elements);
	free(d->plan);
	free(d->sf);
	memset(d, 0, sizeof(*d));
	memset(d->species, -1, sizeof(d->species));
}

/* ---- environments ------------------------------------------------------- */

void mlip_env_init(struct mlip_env *env)
{
	memset(env, 0, sizeof(*env));
}

void mlip_env_release(struct mlip_env *env)
{
	free(env->species);
	free(env->system);
	free(env->first);
	free(env->nbr);
	free(env->r);
	free(env->volume);
	free(env->cache);
	mlip_env_init(env);
}

static int grow(void **p, size_t n, size_t size)
{
	void *q = realloc(*p, (n ? n : 1) * size);
	if (!q)
		return -1;
	*p = q;
	return 0;
}

static const char *sys_id(const struct mlip_batch *b, size_t s)
{
	return b->id && b->id[s] ? b->id[s] : "";
}

/* Room in env's per-atom, per-edge and per-system arrays for N atoms, E edges, B systems. */
int mlip_env_reserve(struct mlip_env *env, size_t N, size_t E, size_t B, struct mlip_err *err)
{
	if (N + 1 > env->alloc_atoms) {
		if (grow((void **)&env->species, N, sizeof(int32_t)) ||
		    grow((void **)&env->system, N, sizeof(int32_t)) ||
		    grow((void **)&env->first, N + 1, sizeof(size_t)))
			return mlip_err_set(err, MLIP_ENOMEM, "out of memory for %zu atoms", N);
		env->alloc_atoms = N + 1;
	}
	if (E > env->alloc_edges) {
		if (grow((void **)&env->nbr, E, sizeof(int32_t)) ||
		    grow((void **)&env->r, 3 * E, sizeof(double)))
			return mlip_err_set(err, MLIP_ENOMEM, "out of memory for %zu edges", E);
		env->alloc_edges = E;
	}
	if (B > env->alloc_systems) {
		if (grow((void **)&env->volume, B, sizeof(double)))
			return mlip_err_set(err, MLIP_ENOMEM, "out of memory for %zu systems", B);
		env->alloc_systems = B;
	}
	return MLIP_OK;
}

size_t mlip_env_bytes(const struct mlip_env *src)
{
	size_t N = src->n_atoms, E = src->n_edges, B = src->n_systems;
	return N * 2 * sizeof(int32_t) + (N + 1) * sizeof(size_t) + E * sizeof(int32_t) +
	       E * (3 + src->cache_stride) * sizeof(double) + B * sizeof(double);
}

int mlip_env_copy(struct mlip_env *dst, const struct mlip_env *src, struct mlip_err *err)
{
	size_t N = src->n_atoms, E = src->n_edges, B = src->n_systems, cs = src->cache_stride;
	int rc = mlip_env_reserve(dst, N, E, B, err);
	if (rc)
		return rc;
	if (E * cs > dst->alloc_cache) {
		if (grow((void **)&dst->cache, E * cs, sizeof(double)))
			return mlip_err_set(err, MLIP_ENOMEM, "out of memory for %zu edges", E);
		dst->alloc_cache = E * cs;
	}
	dst->n_atoms = N;
	dst->n_centres = src->n_centres;
	dst->n_edges = E;
	dst->n_systems = B;
	dst->max_nb = src->max_nb;
	dst->cache_stride = cs;
	memcpy(dst->species, src->species, N * sizeof(int32_t));
	memcpy(dst->system, src->system, N * sizeof(int32_t));
	memcpy(dst->first, src->first, (N + 1) * sizeof(size_t));
	memcpy(dst->nbr, src->nbr, E * sizeof(int32_t));
	memcpy(dst->r, src->r, 3 * E * sizeof(double));
	memcpy(dst->volume, src->volume, B * sizeof(double));
	if (cs)
		memcpy(dst->cache, src->cache, E * cs * sizeof(double));
	return MLIP_OK;
}

int mlip_env_build(struct mlip_env *env, const struct mlip_descriptor *d,
		   const struct mlip_batch *b, struct mlip_err *err)
{
	size_t N = b->n_atoms, E = b->n_edges, B = b->n_systems;
	if (b->cutoff < d->cutoff)
		return mlip_err_set(err, MLIP_EDATA,
				    "batch neighbour cutoff %g is below the model cutoff %g",
				    b->cutoff, d->cutoff);
	if (N > INT32_MAX)
		return mlip_err_set(err, MLIP_EDATA, "batch of %zu atoms is too large", N);
	int rc = mlip_env_reserve(env, N, E, B, err);
	if (rc)
		return rc;
	env->n_atoms = N;
	env->n_centres = N;
	env->n_systems = B;
	for (size_t s = 0; s < B; s++) {
		const double *h = b->cell + 9 * s;
		double vol = mlip_cell_volume(h);
		int periodic = b->pbc[3 * s] || b->pbc[3 * s + 1] || b->pbc[3 * s + 2];
		env->volume[s] = periodic && vol > 1e-12 ? vol : 0;
		for (size_t i = b->atom_start[s]; i < b->atom_start[s + 1]; i++) {
			int z = b->numbers[i];
			int sp = z >= 1 && z <= MLIP_MAX_Z ? d->species[z] : -1;
			if (sp < 0) {
				const char *sym = mlip_element_symbol(z);
				return mlip_err_set(err, MLIP_EDATA,
						    "system %zu ('%s'), atom %zu: element '%s' is not in the model",
						    s + 1, sys_id(b, s), i - b->atom_start[s] + 1,
						    sym ? sym : "?");
			}
			env->species[i] = sp;
			env->system[i] = (int32_t)s;
		}
	}
	/* Edges are sorted by i batch-wide, so first[] is filled in one sweep. */
	double rc2 = d->cutoff * d->cutoff;
	size_t m = 0, max_nb = 0, cur = 0;
	env->first[0] = 0;
	for (size_t e = 0; e < E; e++) {
		size_t i = (size_t)b->edge_i[e], j = (size_t)b->edge_j[e];
		if (b->edge_i[e] < 0 || b->edge_j[e] < 0 || i >= N || j >= N ||
		    env->system[i] != env->system[j])
			return mlip_err_set(err, MLIP_EDATA, "edge %zu (%zu, %zu) is out of range",
					    e + 1, i + 1, j + 1);
		if (i < cur)
			return mlip_err_set(err, MLIP_EDATA,
					    "edges are not sorted by central atom at edge %zu", e + 1);
		while (cur < i) {
			env->first[cur + 1] = m;
			if (m - env->first[cur] > max_nb)
				max_nb = m - env->first[cur];
			cur++;
		}
		const double *h = b->cell + 9 * (size_t)env->system[i];
		const int32_t *n = b->edge_shift + 3 * e;
		double r[3], r2 = 0;
		for (int x = 0; x < 3; x++) {
			r[x] = b->positions[3 * j + x] - b->positions[3 * i + x] + n[0] * h[x] +
			       n[1] * h[3 + x] + n[2] * h[6 + x];
			r2 += r[x] * r[x];
		}
		if (r2 >= rc2 || r2 == 0)
			continue;
		env->nbr[m] = (int32_t)j;
		memcpy(env->r + 3 * m, r, sizeof(r));
		m++;
	}
	while (cur < N) {
		env->first[cur + 1] = m;
		if (m - env->first[cur] > max_nb)
			max_nb = m - env->first[cur];
		cur++;
	}
	env->n_edges = m;
	env->max_nb = max_nb;
	env->cache_stride = 0;
	return MLIP_OK;
}

void mlip_env_gather(double *dpos, double *dstrain, size_t H, size_t h, const double *g_edge,
		     const struct mlip_env *env)
{
	for (size_t i = 0; i < env->n_atoms; i++) {
		double *vir = dstrain ? dstrain + 9 * H * (size_t)env->system[i] : NULL;
		for (size_t e = env->first[i]; e < env->first[i + 1]; e++) {
			const double *g = g_edge + 3 * e, *r = env->r + 3 * e;
			size_t j = (size_t)env->nbr[e];
			if (dpos)
				for (int x = 0; x < 3; x++) {
					dpos[(3 * i + x) * H + h] -= g[x];
					dpos[(3 * j + x) * H + h] += g[x];
				}
			if (vir)
				for (int a = 0; a < 3; a++)
					for (int b = 0; b < 3; b++)
						vir[(3 * a + b) * H + h] += r[a] * g[b];
		}
	}
}
/* ---- per-call scratch ----------------------------------------------------- */

/*
 * One thread's scratch for one atom at a time. Slot arrays have `stride`
 * entries; element s's neighbours fill slots off[s] .. off[s] + cnt[s] − 1,
 * then zero slots up to off[s + 1] (at least three, so a four-lane chunk
 * starting inside the group never reads the next group).
 */
struct sf_work {
	size_t stride, n_w, end;               /* slots; weight sets / tangents; slots in use */
	size_t n_ch, max_dim;                  /* sizes over all elements */
	size_t off[MLIP_MAX_ELEMENTS + 1];
	size_t cnt[MLIP_MAX_ELEMENTS];
	size_t *edge;                          /* (stride) edge of each slot */
	double *R, *inv, *ux, *uy, *uz;        /* (stride); 0 in padding */
	double *e, *de;                        /* (n_ch, stride) channel values, d/dR; 0 in padding */
	double *ge;                            /* VJP (n_w, n_ch, stride) ∂L/∂e */
	double *vx, *vy, *vz, *vs;             /* VJP (n_w, stride) Σ ∂L/∂cos u_other, Σ ∂L/∂cos cos */
	double *gx, *gy, *gz;                  /* VJP (n_w, stride) R_jk terms (G3) */
	double *tx, *ty, *tz, *Rd;             /* JVP (n_w, stride) edge tangents, dR; 0 in padding */
	double *ed;                            /* JVP (n_w, n_ch, stride) de */
	double *wt;                            /* VJP (n_w, max_dim) dL/dG of the atom */
	double *acc;                           /* (n_w, max_dim) G or dG of the atom */
	double *tmp;                           /* (stride) */
	double *vals;                          /* (n_vals, stride) edge_values of each slot */
	double *ev;                            /* (n_vals) edge_values of one edge */
	void *mem;
};

_Static_assert(sizeof(size_t) <= sizeof(double), "sf_work carves its size_t array as doubles");

static int work_alloc(struct sf_work *w, const struct mlip_descriptor *d, size_t max_nb,
		      size_t n_w)
{
	size_t S = d->n_elements, n_ch = 1, n_rc = 1, nv = 1;
	for (size_t e = 0; e < S; e++) {
		if (d->plan[e].n_ch > n_ch)
			n_ch = d->plan[e].n_ch;
		if (d->plan[e].n_rc > n_rc)
			n_rc = d->plan[e].n_rc;
		if (d->plan[e].n_vals > nv)
			nv = d->plan[e].n_vals;
	}
	size_t st = (max_nb + 6 * S + 3) & ~(size_t)3, md = d->max_dim ? d->max_dim : 1;
	memset(w, 0, sizeof(*w));
	w->stride = st;
	w->n_w = n_w;
	w->n_ch = n_ch;
	w->max_dim = md;
	/* Carve every array from one block, each rounded up to 64 bytes: the list
	 * runs twice, first to count, then to point. */
#define R8(x) (((x) + 7) & ~(size_t)7)
#define SF_ARRAYS                                                                              \
	TAKE(R, st); TAKE(inv, st); TAKE(ux, st); TAKE(uy, st); TAKE(uz, st);                  \
	TAKE(e, n_ch * st); TAKE(de, n_ch * st);                                               \
	TAKE(ge, n_w * n_ch * st); TAKE(ed, n_w * n_ch * st);                                  \
	TAKE(vx, n_w * st); TAKE(vy, n_w * st); TAKE(vz, n_w * st); TAKE(vs, n_w * st);        \
	TAKE(gx, n_w * st); TAKE(gy, n_w * st); TAKE(gz, n_w * st);                            \
	TAKE(tx, n_w * st); TAKE(ty, n_w * st); TAKE(tz, n_w * st); TAKE(Rd, n_w * st);        \
	TAKE(wt, n_w * md); TAKE(acc, n_w * md);                                               \
	TAKE(tmp, st); TAKE(vals, st * nv); TAKE(ev, nv);                                      \
	TAKE(edge, st) /* size_t fits a double's room (static assertion above) */
	size_t nd = 0;
#define TAKE(ptr, count) (nd += R8(count))
	SF_ARRAYS;
#undef TAKE
	w->mem = aligned_alloc(64, nd * sizeof(double));
	if (!w->mem)
		return -1;
	double *q = w->mem;
#define TAKE(ptr, count) (w->ptr = (void *)q, q += R8(count))
	SF_ARRAYS;
#undef TAKE
#undef SF_ARRAYS
#undef R8
	MLIP_ASSERT(q <= (double *)w->mem + nd);
	return 0;
}

static void work_free(struct sf_work *w)
{
	free(w->mem);
	w->mem = NULL;
}

/*
 * The transcendental values of one edge of length R for plan p: per distinct
 * r_c, f_c and f_c'; per chain, its first exp and first ratio; per channel
 * outside chains with η > 0, its exp (index xi). 0 beyond the cutoff.
 * Never inlined, like edge_length: mlip_env_cache and the AVX2 build of
 * load_atom (which contracts a·b + c) must run the same code, so that a
 * cached value equals a fresh one bit for bit.
 */
static __attribute__((noinline)) void edge_values(const struct sf_plan *p, double R, double *v)
{
	for (size_t q = 0; q < p->n_rc; q++) {
		double rc = p->rc[q];
		v[2 * q] = v[2 * q + 1] = 0;
		if (R < rc) {
			double sn, cs, x = M_PI / rc;
			sincos(x * R, &sn, &cs);
			v[2 * q] = 0.5 * (cs + 1);
			v[2 * q + 1] = -0.5 * x * sn;
		}
	}
	for (size_t q = 0; q < p->n_chains; q++) {
		const struct sf_chain *cn = &p->chains[q];
		double d = R - cn->rs0, *cv = v + 2 * p->n_rc + 2 * q;
		cv[0] = cv[1] = 0;
		if (v[2 * cn->rci] != 0 || v[2 * cn->rci + 1] != 0) {
			cv[0] = exp(-cn->eta * d * d);
			cv[1] = exp(cn->eta * (2 * cn->step * d - cn->step * cn->step));
		}
	}
	for (size_t c = 0; c < p->n_ch; c++) {
		const struct sf_chan *ch = &p->ch[c];
		double dr = R - ch->rs;
		if (ch->xi < 0)
			continue;
		v[ch->xi] = 0;
		if (v[2 * ch->rci] != 0 || v[2 * ch->rci + 1] != 0)
			v[ch->xi] = exp(-ch->eta * dr * dr);
	}
}

/* |r|, the same code everywhere (see edge_values). */
static __attribute__((noinline)) double edge_length(const double *r)
{
	return sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]);
}

int mlip_env_cache(struct mlip_env *env, const struct mlip_descriptor *d, struct mlip_err *err)
{
	size_t cs = 1, N = env->n_centres;
	for (size_t e = 0; e < d->n_elements; e++)
		if (d->plan[e].n_vals > cs)
			cs = d->plan[e].n_vals;
	env->cache_stride = 0;
	if (env->n_edges * cs > env->alloc_cache) {
		if (grow((void **)&env->cache, env->n_edges * cs, sizeof(double)))
			return mlip_err_set(err, MLIP_ENOMEM, "out of memory for %zu edges",
					    env->n_edges);
		env->alloc_cache = env->n_edges * cs;
	}
	int nt = mlip_descriptor_threads(d, N);
	(void)nt;
	SF_PRAGMA(omp parallel for num_threads(nt) if (nt > 1) schedule(dynamic, SF_ATOMS_PER_TASK))
	for (size_t i = 0; i < N; i++) {
		const struct sf_plan *p = &d->plan[env->species[i]];
		for (size_t e = env->first[i]; e < env->first[i + 1]; e++)
			edge_values(p, edge_length(env->r + 3 * e), env->cache + e * cs);
	}
	env->cache_stride = cs;
	return MLIP_OK;
}

/*
 * Copy the neighbours of atom i into the slots, grouped by element, and
 * evaluate every channel (and its R-derivative if deriv). Loops over slots
 * run over whole four-lane chunks (padding included, where R = 0 and the
 * cutoff functions are 0), so they vectorise without remainders.
 */
SF_CLONES static void load_atom(struct sf_work *w, const struct sf_plan *p, const struct mlip_env *env,
		      size_t S, size_t i, int deriv)
{
	size_t e0 = env->first[i], n = env->first[i + 1] - e0, st = w->stride;
	size_t pos[MLIP_MAX_ELEMENTS];
	memset(w->cnt, 0, S * sizeof(size_t));
	for (size_t k = 0; k < n; k++)
		w->cnt[env->species[env->nbr[e0 + k]]]++;
	w->off[0] = 0;
	for (size_t s = 0; s < S; s++) {
		pos[s] = w->off[s];
		w->off[s + 1] = (w->off[s] + w->cnt[s] + 3 + 3) & ~(size_t)3;
	}
	const size_t end = w->end = w->off[S];
	MLIP_ASSERT(end <= st);
	for (size_t s = 0; s < S; s++)
		for (size_t k = w->off[s] + w->cnt[s]; k < w->off[s + 1]; k++)
			w->R[k] = w->inv[k] = w->ux[k] = w->uy[k] = w->uz[k] = 0;
	for (size_t k = 0; k < n; k++) {
		size_t m = pos[env->species[env->nbr[e0 + k]]]++;
		const double *r = env->r + 3 * (e0 + k);
		double R = edge_length(r), inv = 1 / R;
		w->edge[m] = e0 + k;
		w->R[m] = R;
		w->inv[m] = inv;
		w->ux[m] = r[0] * inv;
		w->uy[m] = r[1] * inv;
		w->uz[m] = r[2] * inv;
	}
	/* The transcendental values, one row per value (edge_values order): from
	 * the cache, or evaluated here; 0 in the padding. */
	const double *R = w->R;
	const size_t nv = p->n_vals, cs = env->cache_stride;
	double *V = w->vals;
	for (size_t s = 0; s < S; s++) {
		for (size_t k = w->off[s]; k < w->off[s] + w->cnt[s]; k++) {
			const double *v = w->ev;
			if (cs)
				v = env->cache + w->edge[k] * cs;
			else
				edge_values(p, R[k], w->ev);
			for (size_t q = 0; q < nv; q++)
				V[q * st + k] = v[q];
		}
		for (size_t k = w->off[s] + w->cnt[s]; k < w->off[s + 1]; k++)
			for (size_t q = 0; q < nv; q++)
				V[q * st + k] = 0;
	}
	for (size_t q = 0; q < p->n_chains; q++) {
		const struct sf_chain *cn = &p->chains[q];
		const double *fc = V + 2 * cn->rci * st, *dfc = V + (2 * cn->rci + 1) * st;
		double *g = V + (2 * p->n_rc + 2 * q) * st, *r = g + st; /* advanced in place */
		for (size_t m = 0; m < cn->n; m++) {
			size_t c = cn->ch[m];
			double rs = p->ch[c].rs, eta2 = 2 * cn->eta, kappa = cn->kappa;
			double *e = w->e + c * st, *de = w->de + c * st;
			for (size_t k = 0; k < end; k += 4) {
				v4 gk = vld(g + k), f = vld(fc + k);
				vst(e + k, gk * f);
				if (deriv)
					vst(de + k, gk * (vld(dfc + k) - eta2 * (vld(R + k) - rs) * f));
				vst(g + k, gk * vld(r + k));
				vst(r + k, vld(r + k) * kappa);
			}
		}
	}
	/* The other channels (beyond the cutoff f_c = f_c' = 0 and the exp is 0, so
	 * e = de = 0 without a test). */
	for (size_t c = 0; c < p->n_ch; c++) {
		const struct sf_chan *ch = &p->ch[c];
		const double *fc = V + 2 * ch->rci * st, *dfc = V + (2 * ch->rci + 1) * st;
		const double *x = ch->xi >= 0 ? V + ch->xi * st : NULL;
		double *e = w->e + c * st, *de = w->de + c * st, eta2 = 2 * ch->eta, rs = ch->rs;
		if (ch->chain >= 0)
			continue;
		for (size_t k = 0; k < end; k += 4) {
			v4 g = x ? vld(x + k) : vset(1), f = vld(fc + k);
			vst(e + k, g * f);
			if (deriv)
				vst(de + k, g * (vld(dfc + k) - eta2 * (vld(R + k) - rs) * f));
		}
	}
}

/* End of element s's slots rounded up to whole chunks (inside its padding). */
static size_t seg_end4(const struct sf_work *w, size_t s)
{
	return w->off[s] + ((w->cnt[s] + 3) & ~(size_t)3);
}

/* Σ of x over element s's slots, in four lanes (the padding adds 0). */
static double seg_sum(const struct sf_work *w, size_t s, const double *x)
{
	v4 a = vset(0);
	for (size_t k = w->off[s]; k < seg_end4(w, s); k += 4)
		a += vld(x + k);
	return vsum(&a);
}

/* The k range of a j in block (s1, s2): [*lo, return value). */
static size_t pair_range(const struct sf_work *w, size_t s1, size_t s2, size_t j, size_t *lo)
{
	*lo = s1 == s2 ? j + 1 : w->off[s2];
	return w->off[s2] + w->cnt[s2];
}


/*
 * The terms of tile tl on four lanes of cos θ: P_t = (1 + λc)^ζ and, if
 * asked, ZQ_t = ζλ (1 + λc)^{ζ−1} = dP_t/dc, both without the factor
 * 2^{1−ζ}. 1 + λc is clamped at 0 against round-off. Entries past
 * tl->n_terms are left alone (the callers keep them at 0).
 */
SF_INLINE void tile_terms(const struct sf_tile *tl, const v4 *cp, v4 *P, v4 *ZQ, const int STD)
{
	const v4 c = *cp;
	if (STD) { /* slots 2·(0, 1, 2, 3) + (λ > 0) for ζ = 1, 2, 4, 16 */
		v4 bm = 1 - c, bp = 1 + c, x[2] = { vpos(&bm), vpos(&bp) };
		SF_UNROLL
		for (int li = 0; li < 2; li++) {
			const double lam = li ? 1 : -1;
			v4 b = x[li], b2 = b * b, b4 = b2 * b2, b8 = b4 * b4, b3 = b * b2;
			P[li] = b;
			P[2 + li] = b2;
			P[4 + li] = b4;
			P[6 + li] = b8 * b8;
			if (ZQ) {
				ZQ[li] = vset(lam);
				ZQ[2 + li] = (2 * lam) * b;
				ZQ[4 + li] = (4 * lam) * b3;
				ZQ[6 + li] = (16 * lam) * (b3 * b4 * b8);
			}
		}
		return;
	}
	v4 L[2][SF_LADDER];
	for (unsigned li = 0; li < 2; li++) {
		if (!tl->ladder[li])
			continue;
		v4 b = li ? 1 - c : 1 + c;
		L[li][0] = vpos(&b);
		for (unsigned m = 1; m < tl->ladder[li]; m++)
			L[li][m] = L[li][m - 1] * L[li][m - 1];
	}
	for (unsigned t = 0; t < tl->n_terms; t++) {
		const struct sf_term *tm = &tl->term[t];
		v4 x = L[tm->li][0], q = vset(1);
		if (tm->izeta) {
			for (unsigned m = 0; m < tm->nq; m++)
				q = m ? q * L[tm->li][tm->qb[m]] : L[tm->li][tm->qb[m]];
		} else {
			for (int l = 0; l < 4; l++)
				q[l] = x[l] > 0 ? pow(x[l], tm->zeta - 1) : 0;
		}
		P[t] = q * x;
		if (ZQ)
			ZQ[t] = tm->zl * q;
	}
}

/* The same for one cos θ (G3 triplets): *q = (1 + λc)^{ζ−1}, *pv = (1 + λc)^ζ. */
static void term_scalar(const struct sf_term *tm, double c, double *q, double *pv)
{
	double x = 1 + tm->lambda * c, r = 1;
	if (!(x > 0))
		x = 0;
	if (tm->izeta) {
		double y = x;
		for (unsigned ex = tm->izeta - 1; ex; ex >>= 1) {
			if (ex & 1)
				r *= y;
			y *= y;
		}
	} else {
		r = x > 0 ? pow(x, tm->zeta - 1) : 0;
	}
	*q = r;
	*pv = r * x;
}

/* The R_jk factor of a G3 function: value and d/dR_jk. */
static double g3_factor(const struct sf_chan *ch, double R, double *dv)
{
	if (R >= ch->rc) {
		*dv = 0;
		return 0;
	}
	double sn, cs, x = M_PI / ch->rc, dr = R - ch->rs, g = exp(-ch->eta * dr * dr);
	sincos(x * R, &sn, &cs);
	double fc = 0.5 * (cs + 1), dfc = -0.5 * x * sn;
	*dv = g * (dfc - 2 * ch->eta * dr * fc);
	return g * fc;
}

/* r_k − r_j from the slots, its length and cos θ_jk. */
static double jk_geometry(const struct sf_work *w, size_t j, size_t k, double d[3], double *c)
{
	d[0] = w->R[k] * w->ux[k] - w->R[j] * w->ux[j];
	d[1] = w->R[k] * w->uy[k] - w->R[j] * w->uy[j];
	d[2] = w->R[k] * w->uz[k] - w->R[j] * w->uz[j];
	*c = w->ux[j] * w->ux[k] + w->uy[j] * w->uy[k] + w->uz[j] * w->uz[k];
	return sqrt(d[0] * d[0] + d[1] * d[1] + d[2] * d[2]);
}

/*
 * The tile kernels. CT (the tile's channel count) is a constant in each
 * instance (TILE_INSTANCES below), so the SF_TT × CT accumulators and
 * products are straight-line code the compiler keeps in registers.
 */

/* res[t][q] := Σ_{j<k} P_t(cos θ_jk) e_q(j) e_q(k), without 2^{1−ζ}. */
SF_INLINE void fwd_tile(const struct sf_work *w, const struct sf_tile *tl, size_t s1, size_t s2,
			const int CT, const int STD, double res[SF_TT][SF_CT])
{
	const size_t st = w->stride;
	const double *restrict ux = w->ux, *restrict uy = w->uy, *restrict uz = w->uz;
	const double *ech[SF_CT];
	v4 acc[SF_TT][SF_CT] = { { { 0 } } }, P[SF_TT] = { { 0 } };
	SF_UNROLL
	for (int q = 0; q < CT; q++)
		ech[q] = w->e + tl->ch[q] * st;
	for (size_t j = w->off[s1]; j < w->off[s1] + w->cnt[s1]; j++) {
		size_t lo, hi = pair_range(w, s1, s2, j, &lo);
		double ej[SF_CT];
		int any = 0;
		SF_UNROLL
		for (int q = 0; q < CT; q++) {
			ej[q] = ech[q][j];
			any |= ej[q] != 0;
		}
		if (lo >= hi || !any) /* e_q(j) = 0: also de_q(j) = 0, nothing to add */
			continue;
		double xj = ux[j], yj = uy[j], zj = uz[j];
		for (size_t k = lo; k < hi; k += 4) {
			v4 c = xj * vld(ux + k) + yj * vld(uy + k) + zj * vld(uz + k), E2[SF_CT];
			tile_terms(tl, &c, P, NULL, STD);
			SF_UNROLL
			for (int q = 0; q < CT; q++)
				E2[q] = ej[q] * vld(ech[q] + k);
			SF_UNROLL
			for (int t = 0; t < SF_TT; t++)
				SF_UNROLL
				for (int q = 0; q < CT; q++)
					acc[t][q] += P[t] * E2[q];
		}
	}
	SF_UNROLL
	for (int t = 0; t < SF_TT; t++)
		SF_UNROLL
		for (int q = 0; q < CT; q++)
			res[t][q] = vsum(&acc[t][q]);
}

/*
 * Adjoints for the weights Wp[t][q] (of P_t e_q e_q, 2^{1−ζ} included),
 * weight set h: adds ∂L/∂e_q into ge and the angle terms into vx, vy, vz,
 * vs. Per chunk A_q = Σ_t Wp P_t and B_q = Σ_t Wp dP_t/dc, so
 * ∂L/∂cos θ_jk = Σ_q B_q e_q(j) e_q(k).
 */
SF_INLINE void vjp_tile(struct sf_work *w, const struct sf_tile *tl, size_t s1, size_t s2,
			const int CT, const int STD, const double Wp[SF_TT][SF_CT], size_t h)
{
	const size_t st = w->stride;
	const double *restrict ux = w->ux, *restrict uy = w->uy, *restrict uz = w->uz;
	double *restrict vx = w->vx + h * st, *restrict vy = w->vy + h * st;
	double *restrict vz = w->vz + h * st, *restrict vs = w->vs + h * st;
	const double *ech[SF_CT];
	double *gch[SF_CT];
	v4 P[SF_TT], ZQ[SF_TT];
	SF_UNROLL
	for (int q = 0; q < CT; q++) {
		ech[q] = w->e + tl->ch[q] * st;
		gch[q] = w->ge + (h * w->n_ch + tl->ch[q]) * st;
	}
	SF_UNROLL
	for (int t = 0; t < SF_TT; t++)
		P[t] = ZQ[t] = vset(0);
	for (size_t j = w->off[s1]; j < w->off[s1] + w->cnt[s1]; j++) {
		size_t lo, hi = pair_range(w, s1, s2, j, &lo);
		double ej[SF_CT];
		int any = 0;
		SF_UNROLL
		for (int q = 0; q < CT; q++) {
			ej[q] = ech[q][j];
			any |= ej[q] != 0;
		}
		if (lo >= hi || !any)
			continue;
		double xj = ux[j], yj = uy[j], zj = uz[j];
		v4 gj[SF_CT], jx = vset(0), jy = vset(0), jz = vset(0), js = vset(0);
		SF_UNROLL
		for (int q = 0; q < CT; q++)
			gj[q] = vset(0);
		for (size_t k = lo; k < hi; k += 4) {
			v4 uxk = vld(ux + k), uyk = vld(uy + k), uzk = vld(uz + k);
			v4 c = xj * uxk + yj * uyk + zj * uzk, A[SF_CT], B[SF_CT], dc = vset(0);
			tile_terms(tl, &c, P, ZQ, STD);
			SF_UNROLL
			for (int q = 0; q < CT; q++) {
				A[q] = Wp[0][q] * P[0];
				B[q] = Wp[0][q] * ZQ[0];
			}
			SF_UNROLL
			for (int t = 1; t < SF_TT; t++)
				SF_UNROLL
				for (int q = 0; q < CT; q++) {
					A[q] += Wp[t][q] * P[t];
					B[q] += Wp[t][q] * ZQ[t];
				}
			SF_UNROLL
			for (int q = 0; q < CT; q++) {
				v4 E = vld(ech[q] + k);
				dc += B[q] * (ej[q] * E);
				vst(gch[q] + k, vld(gch[q] + k) + ej[q] * A[q]);
				gj[q] += A[q] * E;
			}
			vst(vx + k, vld(vx + k) + dc * xj);
			vst(vy + k, vld(vy + k) + dc * yj);
			vst(vz + k, vld(vz + k) + dc * zj);
			vst(vs + k, vld(vs + k) + dc * c);
			jx += dc * uxk;
			jy += dc * uyk;
			jz += dc * uzk;
			js += dc * c;
		}
		SF_UNROLL
		for (int q = 0; q < CT; q++)
			gch[q][j] += vsum(&gj[q]);
		vx[j] += vsum(&jx);
		vy[j] += vsum(&jy);
		vz[j] += vsum(&jz);
		vs[j] += vsum(&js);
	}
}

/* res[t][q] := d/dτ of fwd_tile's sums along tangent h (w->tx.., w->Rd, w->ed). */
SF_INLINE void jvp_tile(const struct sf_work *w, const struct sf_tile *tl, size_t s1, size_t s2,
			const int CT, const int STD, size_t h, double res[SF_TT][SF_CT])
{
	const size_t st = w->stride;
	const double *restrict ux = w->ux, *restrict uy = w->uy, *restrict uz = w->uz;
	const double *restrict inv = w->inv;
	const double *restrict tx = w->tx + h * st, *restrict ty = w->ty + h * st;
	const double *restrict tz = w->tz + h * st, *restrict Rd = w->Rd + h * st;
	const double *ech[SF_CT], *edc[SF_CT];
	v4 acc[SF_TT][SF_CT] = { { { 0 } } }, P[SF_TT] = { { 0 } }, ZQ[SF_TT] = { { 0 } };
	SF_UNROLL
	for (int q = 0; q < CT; q++) {
		ech[q] = w->e + tl->ch[q] * st;
		edc[q] = w->ed + (h * w->n_ch + tl->ch[q]) * st;
	}
	for (size_t j = w->off[s1]; j < w->off[s1] + w->cnt[s1]; j++) {
		size_t lo, hi = pair_range(w, s1, s2, j, &lo);
		double ej[SF_CT], edj[SF_CT];
		int any = 0;
		SF_UNROLL
		for (int q = 0; q < CT; q++) {
			ej[q] = ech[q][j];
			edj[q] = edc[q][j];
			any |= ej[q] != 0;
		}
		if (lo >= hi || !any)
			continue;
		double xj = ux[j], yj = uy[j], zj = uz[j], ij = inv[j];
		double txj = tx[j], tyj = ty[j], tzj = tz[j], Rdj = Rd[j];
		for (size_t k = lo; k < hi; k += 4) {
			v4 uxk = vld(ux + k), uyk = vld(uy + k), uzk = vld(uz + k);
			v4 c = xj * uxk + yj * uyk + zj * uzk, X[SF_CT], Y[SF_CT];
			tile_terms(tl, &c, P, ZQ, STD);
			/* d cos θ_jk = (u_k·t_j − cos Ṙ_j)/R_j + (u_j·t_k − cos Ṙ_k)/R_k */
			v4 cd = (uxk * txj + uyk * tyj + uzk * tzj - c * Rdj) * ij +
				(xj * vld(tx + k) + yj * vld(ty + k) + zj * vld(tz + k) -
				 c * vld(Rd + k)) * vld(inv + k);
			SF_UNROLL
			for (int q = 0; q < CT; q++) {
				v4 E = vld(ech[q] + k);
				X[q] = cd * (ej[q] * E);
				Y[q] = edj[q] * E + ej[q] * vld(edc[q] + k);
			}
			SF_UNROLL
			for (int t = 0; t < SF_TT; t++)
				SF_UNROLL
				for (int q = 0; q < CT; q++)
					acc[t][q] += ZQ[t] * X[q] + P[t] * Y[q];
		}
	}
	SF_UNROLL
	for (int t = 0; t < SF_TT; t++)
		SF_UNROLL
		for (int q = 0; q < CT; q++)
			res[t][q] = vsum(&acc[t][q]);
}

/*
 * One instance of each kernel per channel count and term layout (generic or
 * default terms), and a dispatch on the tile.
 */
#define TILE_INSTANCES(CT, STD)                                                               \
	SF_CLONES static void fwd_tile_##CT##STD(const struct sf_work *w,                       \
						 const struct sf_tile *tl, size_t s1, size_t s2,  \
						 double res[SF_TT][SF_CT])                        \
	{                                                                                     \
		fwd_tile(w, tl, s1, s2, CT, STD, res);                                        \
	}                                                                                     \
	SF_CLONES static void vjp_tile_##CT##STD(struct sf_work *w, const struct sf_tile *tl,   \
						 size_t s1, size_t s2,                            \
						 const double Wp[SF_TT][SF_CT], size_t h)         \
	{                                                                                     \
		vjp_tile(w, tl, s1, s2, CT, STD, Wp, h);                                      \
	}                                                                                     \
	SF_CLONES static void jvp_tile_##CT##STD(const struct sf_work *w,                       \
						 const struct sf_tile *tl, size_t s1, size_t s2,  \
						 size_t h, double res[SF_TT][SF_CT])              \
	{                                                                                     \
		jvp_tile(w, tl, s1, s2, CT, STD, h, res);                                     \
	}
TILE_INSTANCES(1, 0)
TILE_INSTANCES(2, 0)
TILE_INSTANCES(3, 0)
TILE_INSTANCES(4, 0)
TILE_INSTANCES(1, 1)
TILE_INSTANCES(2, 1)
TILE_INSTANCES(3, 1)
TILE_INSTANCES(4, 1)
#undef TILE_INSTANCES

/* The instance for tile tl: index (n_ch − 1) + 4·std in the tables below. */
static size_t tile_kind(const struct sf_tile *tl)
{
	return (tl->n_ch - 1) + (tl->std ? 4 : 0);
}

typedef void (*fwd_fn)(const struct sf_work *, const struct sf_tile *, size_t, size_t,
		       double[SF_TT][SF_CT]);
typedef void (*vjp_fn)(struct sf_work *, const struct sf_tile *, size_t, size_t,
		       const double[SF_TT][SF_CT], size_t);
typedef void (*jvp_fn)(const struct sf_work *, const struct sf_tile *, size_t, size_t, size_t,
		       double[SF_TT][SF_CT]);
static const fwd_fn fwd_tiles[8] = { fwd_tile_10, fwd_tile_20, fwd_tile_30, fwd_tile_40,
				      fwd_tile_11, fwd_tile_21, fwd_tile_31, fwd_tile_41 };
static const vjp_fn vjp_tiles[8] = { vjp_tile_10, vjp_tile_20, vjp_tile_30, vjp_tile_40,
				      vjp_tile_11, vjp_tile_21, vjp_tile_31, vjp_tile_41 };
static const jvp_fn jvp_tiles[8] = { jvp_tile_10, jvp_tile_20, jvp_tile_30, jvp_tile_40,
				      jvp_tile_11, jvp_tile_21, jvp_tile_31, jvp_tile_41 };

/* ---- forward ---------------------------------------------------------------- */

static void g3_forward(struct sf_work *w, const struct sf_plan *p, const struct sf_block *b,
		       size_t s1, size_t s2, double *out)
{
	for (size_t f = 0; f < b->n3; f++) {
		const struct sf_chan *ch = &p->ch[b->g3[f].ch];
		const struct sf_term *tm = &b->terms[b->g3[f].term];
		const double *ec = w->e + b->g3[f].ch * w->stride;
		double sum = 0;
		for (size_t j = w->off[s1]; j < w->off[s1] + w->cnt[s1]; j++) {
			size_t lo, hi = pair_range(w, s1, s2, j, &lo);
			if (ec[j] == 0)
				continue;
			for (size_t k = lo; k < hi; k++) {
				double d[3], c, q, pv, dv;
				double e3 = g3_factor(ch, jk_geometry(w, j, k, d, &c), &dv);
				term_scalar(tm, c, &q, &pv);
				sum += pv * ec[j] * ec[k] * e3;
			}
		}
		out[b->g3[f].out] += tm->pref * sum;
	}
}

/* out[f] += 2^{1−ζ} res[slot of f] for the G9 functions of tile ti. */
static void tile_scatter(double *out, const struct sf_block *b, size_t ti,
			 double res[SF_TT][SF_CT])
{
	for (size_t f = 0; f < b->n9; f++)
		if (b->g9_tile[f] == ti)
			out[b->g9[f].out] += b->terms[b->g9[f].term].pref *
					     res[b->g9_slot[f] / SF_CT][b->g9_slot[f] % SF_CT];
}

SF_CLONES static void forward_atom(struct sf_work *w, const struct sf_plan *p, size_t S)
{
	double *acc = w->acc, res[SF_TT][SF_CT];
	memset(acc, 0, p->dim * sizeof(double));
	for (size_t s = 0; s < S; s++)
		for (size_t r = p->rad_start[s]; r < p->rad_start[s + 1]; r++)
			acc[p->rad[r].out] += seg_sum(w, s, w->e + p->rad[r].ch * w->stride);
	for (size_t s1 = 0; s1 < S; s1++)
		for (size_t s2 = s1; s2 < S; s2++) {
			const struct sf_block *b = &p->blocks[s1 * S + s2];
			for (size_t ti = 0; ti < b->n_tiles; ti++) {
				fwd_tiles[tile_kind(&b->tiles[ti])](w, &b->tiles[ti], s1, s2, res);
				tile_scatter(acc, b, ti, res);
			}
			if (b->n3)
				g3_forward(w, p, b, s1, s2, acc);
		}
}

/* ---- VJP ---------------------------------------------------------------------- */

static void g3_vjp(struct sf_work *w, const struct sf_plan *p, const struct sf_block *b,
		   size_t s1, size_t s2)
{
	const size_t st = w->stride, cst = w->n_ch * st;
	for (size_t h = 0; h < w->n_w; h++) {
		double *ge = w->ge + h * cst, *vx = w->vx + h * st, *vy = w->vy + h * st;
		double *vz = w->vz + h * st, *vs = w->vs + h * st;
		double *gx = w->gx + h * st, *gy = w->gy + h * st, *gz = w->gz + h * st;
		for (size_t f = 0; f < b->n3; f++) {
			const struct sf_chan *ch = &p->ch[b->g3[f].ch];
			const struct sf_term *tm = &b->terms[b->g3[f].term];
			const double *ec = w->e + b->g3[f].ch * st;
			double *gc = ge + b->g3[f].ch * st;
			double a = w->wt[h * w->max_dim + b->g3[f].out] * tm->pref;
			if (a == 0)
				continue;
			for (size_t j = w->off[s1]; j < w->off[s1] + w->cnt[s1]; j++) {
				size_t lo, hi = pair_range(w, s1, s2, j, &lo);
				double ej = ec[j];
				if (ej == 0)
					continue;
				for (size_t k = lo; k < hi; k++) {
					double d[3], c, q, pv, d3;
					double Rjk = jk_geometry(w, j, k, d, &c);
					double e3 = g3_factor(ch, Rjk, &d3);
					if (e3 == 0 && d3 == 0)
						continue;
					term_scalar(tm, c, &q, &pv);
					double ek = ec[k], dc = a * tm->zl * q * ej * ek * e3;
					gc[j] += a * pv * ek * e3;
					gc[k] += a * pv * ej * e3;
					/* R_jk = |r_k − r_j|: d/dr_k = u_jk, d/dr_j = −u_jk */
					double g = a * pv * ej * ek * d3 / Rjk;
					gx[k] += g * d[0];
					gy[k] += g * d[1];
					gz[k] += g * d[2];
					gx[j] -= g * d[0];
					gy[j] -= g * d[1];
					gz[j] -= g * d[2];
					vx[k] += dc * w->ux[j];
					vy[k] += dc * w->uy[j];
					vz[k] += dc * w->uz[j];
					vs[k] += dc * c;
					vx[j] += dc * w->ux[k];
					vy[j] += dc * w->uy[k];
					vz[j] += dc * w->uz[k];
					vs[j] += dc * c;
				}
			}
		}
	}
}

/* Adjoints of every slot for the weights w->wt (n_w sets). */
SF_CLONES static void vjp_atom(struct sf_work *w, const struct sf_plan *p, size_t S)
{
	const size_t st = w->stride, nw = w->n_w, end = w->end, md = w->max_dim;
	for (size_t h = 0; h < nw; h++) {
		for (size_t c = 0; c < p->n_ch; c++)
			memset(w->ge + (h * w->n_ch + c) * st, 0, end * sizeof(double));
		memset(w->vx + h * st, 0, end * sizeof(double));
		memset(w->vy + h * st, 0, end * sizeof(double));
		memset(w->vz + h * st, 0, end * sizeof(double));
		memset(w->vs + h * st, 0, end * sizeof(double));
		if (p->has_g3) {
			memset(w->gx + h * st, 0, end * sizeof(double));
			memset(w->gy + h * st, 0, end * sizeof(double));
			memset(w->gz + h * st, 0, end * sizeof(double));
		}
		for (size_t s = 0; s < S; s++)
			for (size_t r = p->rad_start[s]; r < p->rad_start[s + 1]; r++) {
				double a = w->wt[h * md + p->rad[r].out];
				double *gc = w->ge + (h * w->n_ch + p->rad[r].ch) * st;
				for (size_t k = w->off[s]; k < seg_end4(w, s); k += 4)
					vst(gc + k, vld(gc + k) + a);
			}
	}
	for (size_t s1 = 0; s1 < S; s1++)
		for (size_t s2 = s1; s2 < S; s2++) {
			const struct sf_block *b = &p->blocks[s1 * S + s2];
			for (size_t ti = 0; ti < b->n_tiles; ti++)
				for (size_t h = 0; h < nw; h++) {
					double Wp[SF_TT][SF_CT] = { { 0 } };
					for (size_t f = 0; f < b->n9; f++) {
						if (b->g9_tile[f] != ti)
							continue;
						size_t t = b->g9_slot[f] / SF_CT, q = b->g9_slot[f] % SF_CT;
						Wp[t][q] += w->wt[h * md + b->g9[f].out] *
							    b->terms[b->g9[f].term].pref;
					}
					vjp_tiles[tile_kind(&b->tiles[ti])](w, &b->tiles[ti], s1, s2, Wp, h);
				}
			if (b->n3)
				g3_vjp(w, p, b, s1, s2);
		}
}

/* Edge gradients of weight set h from the slot adjoints: g_edge rows of the atom's edges. */
SF_CLONES static void vjp_store(double *g_edge, const struct sf_work *w, const struct sf_plan *p, size_t S,
		      size_t h)
{
	const size_t st = w->stride;
	const double *ge = w->ge + h * w->n_ch * st;
	const double *vx = w->vx + h * st, *vy = w->vy + h * st, *vz = w->vz + h * st;
	const double *vs = w->vs + h * st;
	double *gr = w->tmp; /* ∂L/∂R per slot (the padding's garbage times de = 0 is 0) */
	for (size_t k = 0; k < w->end; k += 4) {
		v4 a = vld(ge + k) * vld(w->de + k);
		for (size_t c = 1; c < p->n_ch; c++)
			a += vld(ge + c * st + k) * vld(w->de + c * st + k);
		vst(gr + k, a);
	}
	for (size_t s = 0; s < S; s++)
		for (size_t k = w->off[s]; k < w->off[s] + w->cnt[s]; k++) {
			/* ∂cos θ_jk/∂r_k = (u_j − cos u_k)/R_k: Σ_j over it is (v_k − s_k u_k)/R_k */
			double g[3] = { gr[k] * w->ux[k] + w->inv[k] * (vx[k] - vs[k] * w->ux[k]),
					gr[k] * w->uy[k] + w->inv[k] * (vy[k] - vs[k] * w->uy[k]),
					gr[k] * w->uz[k] + w->inv[k] * (vz[k] - vs[k] * w->uz[k]) };
			if (p->has_g3) {
				g[0] += w->gx[h * st + k];
				g[1] += w->gy[h * st + k];
				g[2] += w->gz[h * st + k];
			}
			double *o = g_edge + 3 * w->edge[k];
			o[0] += g[0];
			o[1] += g[1];
			o[2] += g[2];
		}
}

/* ---- JVP ------------------------------------------------------------------------ */

static void g3_jvp(struct sf_work *w, const struct sf_plan *p, const struct sf_block *b,
		   size_t s1, size_t s2)
{
	const size_t st = w->stride, cst = w->n_ch * st;
	for (size_t h = 0; h < w->n_w; h++) {
		const double *tx = w->tx + h * st, *ty = w->ty + h * st, *tz = w->tz + h * st;
		const double *Rd = w->Rd + h * st;
		for (size_t f = 0; f < b->n3; f++) {
			const struct sf_chan *ch = &p->ch[b->g3[f].ch];
			const struct sf_term *tm = &b->terms[b->g3[f].term];
			const double *ec = w->e + b->g3[f].ch * st, *ed = w->ed + h * cst + b->g3[f].ch * st;
			double sum = 0;
			for (size_t j = w->off[s1]; j < w->off[s1] + w->cnt[s1]; j++) {
				size_t lo, hi = pair_range(w, s1, s2, j, &lo);
				double ej = ec[j], edj = ed[j];
				if (ej == 0)
					continue;
				for (size_t k = lo; k < hi; k++) {
					double d[3], c, q, pv, d3;
					double Rjk = jk_geometry(w, j, k, d, &c);
					double e3 = g3_factor(ch, Rjk, &d3);
					if (e3 == 0 && d3 == 0)
						continue;
					term_scalar(tm, c, &q, &pv);
					double Rjkd = (d[0] * (tx[k] - tx[j]) + d[1] * (ty[k] - ty[j]) +
						       d[2] * (tz[k] - tz[j])) / Rjk;
					double cd = (w->ux[k] * tx[j] + w->uy[k] * ty[j] + w->uz[k] * tz[j] -
						     c * Rd[j]) * w->inv[j] +
						    (w->ux[j] * tx[k] + w->uy[j] * ty[k] + w->uz[j] * tz[k] -
						     c * Rd[k]) * w->inv[k];
					double ek = ec[k];
					sum += tm->zl * q * cd * ej * ek * e3 +
					       pv * (edj * ek * e3 + ej * ed[k] * e3 + ej * ek * d3 * Rjkd);
				}
			}
			w->acc[h * w->max_dim + b->g3[f].out] += tm->pref * sum;
		}
	}
}

/* Tangents of every function along the edge tangents in w->tx.. (n_w sets) into w->acc. */
SF_CLONES static void jvp_atom(struct sf_work *w, const struct sf_plan *p, size_t S)
{
	const size_t st = w->stride, end = w->end, cst = w->n_ch * st;
	double res[SF_TT][SF_CT];
	for (size_t h = 0; h < w->n_w; h++) {
		double *acc = w->acc + h * w->max_dim, *Rd = w->Rd + h * st, *ed = w->ed + h * cst;
		const double *tx = w->tx + h * st, *ty = w->ty + h * st, *tz = w->tz + h * st;
		memset(acc, 0, p->dim * sizeof(double));
		for (size_t k = 0; k < end; k += 4)
			vst(Rd + k, vld(w->ux + k) * vld(tx + k) + vld(w->uy + k) * vld(ty + k) +
					    vld(w->uz + k) * vld(tz + k));
		for (size_t c = 0; c < p->n_ch; c++)
			for (size_t k = 0; k < end; k += 4)
				vst(ed + c * st + k, vld(w->de + c * st + k) * vld(Rd + k));
		for (size_t s = 0; s < S; s++)
			for (size_t r = p->rad_start[s]; r < p->rad_start[s + 1]; r++)
				acc[p->rad[r].out] += seg_sum(w, s, ed + p->rad[r].ch * st);
		for (size_t s1 = 0; s1 < S; s1++)
			for (size_t s2 = s1; s2 < S; s2++) {
				const struct sf_block *b = &p->blocks[s1 * S + s2];
				for (size_t ti = 0; ti < b->n_tiles; ti++) {
					jvp_tiles[tile_kind(&b->tiles[ti])](w, &b->tiles[ti], s1, s2, h, res);
					tile_scatter(acc, b, ti, res);
				}
			}
	}
	for (size_t s1 = 0; s1 < S; s1++)
		for (size_t s2 = s1; s2 < S; s2++) {
			const struct sf_block *b = &p->blocks[s1 * S + s2];
			if (b->n3)
				g3_jvp(w, p, b, s1, s2);
		}
}

/* ---- passes over the atoms ------------------------------------------------------ */

enum { SF_FORWARD, SF_VJP, SF_JVP };

struct sf_pass {
	int mode;
	size_t n_w;             /* weight sets (VJP) or tangents (JVP); 1 for forward */
	double *G;              /* forward, JVP: output rows */
	const double *dG;       /* VJP: input rows */
	const size_t *row;      /* (n_w, N) row offsets */
	double *g_edge;         /* VJP: (n_w, E, 3), accumulated */
	const double *t_edge;   /* JVP: (n_w, E, 3) */
};

static void pass_atom(struct sf_work *w, const struct sf_pass *ps, const struct mlip_descriptor *d,
		      const struct mlip_env *env, size_t i)
{
	const struct sf_plan *p = &d->plan[env->species[i]];
	const size_t S = d->n_elements, N = env->n_atoms, st = w->stride, md = w->max_dim;
	if (ps->mode == SF_VJP) {
		int any = 0;
		for (size_t h = 0; h < ps->n_w; h++) {
			const double *g = ps->dG + ps->row[h * N + i];
			for (size_t k = 0; k < p->dim; k++) {
				w->wt[h * md + k] = (double)g[k];
				any |= g[k] != 0;
			}
		}
		if (!any)
			return;
	}
	load_atom(w, p, env, S, i, ps->mode != SF_FORWARD);
	if (ps->mode == SF_FORWARD) {
		forward_atom(w, p, S);
	} else if (ps->mode == SF_VJP) {
		vjp_atom(w, p, S);
		for (size_t h = 0; h < ps->n_w; h++)
			vjp_store(ps->g_edge + 3 * env->n_edges * h, w, p, S, h);
		return;
	} else {
		for (size_t h = 0; h < ps->n_w; h++) {
			double *tx = w->tx + h * st, *ty = w->ty + h * st, *tz = w->tz + h * st;
			const double *t = ps->t_edge + 3 * env->n_edges * h;
			memset(tx, 0, w->end * sizeof(double));
			memset(ty, 0, w->end * sizeof(double));
			memset(tz, 0, w->end * sizeof(double));
			for (size_t s = 0; s < S; s++)
				for (size_t k = w->off[s]; k < w->off[s] + w->cnt[s]; k++) {
					const double *tv = t + 3 * w->edge[k];
					tx[k] = tv[0];
					ty[k] = tv[1];
					tz[k] = tv[2];
				}
		}
		jvp_atom(w, p, S);
	}
	for (size_t h = 0; h < ps->n_w; h++) {
		double *g = ps->G + ps->row[h * N + i];
		for (size_t k = 0; k < p->dim; k++)
			g[k] = w->acc[h * md + k];
	}
}

int mlip_pass_threads(int requested, size_t n_atoms, size_t atoms_per_task)
{
#ifdef _OPENMP
	int nt = requested > 0 ? requested : getenv("OMP_NUM_THREADS") ? omp_get_max_threads() : 1;
	size_t most = n_atoms / atoms_per_task + 1; /* no thread without a task */
	if ((size_t)nt > most)
		nt = (int)most;
	return nt > 1 ? nt : 1;
#else
	(void)requested;
	(void)n_atoms;
	(void)atoms_per_task;
	return 1;
#endif
}

int mlip_descriptor_threads(const struct mlip_descriptor *d, size_t n_atoms)
{
	return mlip_pass_threads(d->n_threads, n_atoms, SF_ATOMS_PER_TASK);
}

static int run_pass(const struct sf_pass *ps, const struct mlip_descriptor *d,
		    const struct mlip_env *env, struct mlip_err *err)
{
	const size_t N = env->n_centres;
	int nt = mlip_descriptor_threads(d, N), fail = 0;
	(void)nt;
	SF_PRAGMA(omp parallel num_threads(nt) if (nt > 1) reduction(| : fail))
	{
		struct sf_work w;
		fail = work_alloc(&w, d, env->max_nb, ps->n_w) != 0;
		SF_PRAGMA(omp for schedule(dynamic, SF_ATOMS_PER_TASK))
		for (size_t i = 0; i < N; i++)
			if (!fail)
				pass_atom(&w, ps, d, env, i);
		work_free(&w);
	}
	if (fail)
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory for descriptor scratch");
	return MLIP_OK;
}

int mlip_descriptor_forward(double *G, const size_t *row, const struct mlip_descriptor *d,
			    const struct mlip_env *env, struct mlip_err *err)
{
	struct sf_pass ps = { .mode = SF_FORWARD, .n_w = 1, .G = G, .row = row };
	return run_pass(&ps, d, env, err);
}

int mlip_descriptor_vjp_multi(double *g_edge, const double *dG, const size_t *row, size_t n,
			      const struct mlip_descriptor *d, const struct mlip_env *env,
			      struct mlip_err *err)
{
	struct sf_pass ps = { .mode = SF_VJP, .n_w = n, .dG = dG, .row = row, .g_edge = g_edge };
	return n ? run_pass(&ps, d, env, err) : MLIP_OK;
}

int mlip_descriptor_vjp(double *g_edge, const double *dG, const size_t *row,
			const struct mlip_descriptor *d, const struct mlip_env *env,
			struct mlip_err *err)
{
	return mlip_descriptor_vjp_multi(g_edge, dG, row, 1, d, env, err);
}

int mlip_descriptor_jvp_multi(double *dG, const size_t *row, const double *t_edge, size_t n,
			      const struct mlip_descriptor *d, const struct mlip_env *env,
			      struct mlip_err *err)
{
	struct sf_pass ps = { .mode = SF_JVP, .n_w = n, .G = dG, .row = row, .t_edge = t_edge };
	return n ? run_pass(&ps, d, env, err) : MLIP_OK;
}

int mlip_descriptor_jvp(double *dG, const size_t *row, const double *t_edge,
			const struct mlip_descriptor *d, const struct mlip_env *env,
			struct mlip_err *err)
{
	return mlip_descriptor_jvp_multi(dG, row, t_edge, 1, d, env, err);
}

/* ---- scaling statistics ------------------------------------------------------------ */

int mlip_sf_stats_init(struct mlip_sf_stats *s, const struct mlip_descriptor *d,
		       struct mlip_err *err)
{
	memset(s, 0, sizeof(*s));
	s->n_elements = d->n_elements;
	for (size_t e = 0; e < d->n_elements; e++)
		s->off[e + 1] = s->off[e] + d->dim[e];
	size_t n = s->off[d->n_elements];
	s->mean = calloc(n ? n : 1, sizeof(double));
	s->m2 = calloc(n ? n : 1, sizeof(double));
	if (!s->mean || !s->m2) {
		mlip_sf_stats_release(s);
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory for descriptor statistics");
	}
	return MLIP_OK;
}

void mlip_sf_stats_release(struct mlip_sf_stats *s)
{
	free(s->mean);
	free(s->m2);
	memset(s, 0, sizeof(*s));
}

void mlip_sf_stats_add(struct mlip_sf_stats *s, const double *G, const size_t *row,
		       const struct mlip_env *env)
{
	for (size_t i = 0; i < env->n_centres; i++) {
		size_t e = (size_t)env->species[i], o = s->off[e], n = s->off[e + 1] - o;
		double c = ++s->count[e];
		const double *g = G + row[i];
		for (size_t k = 0; k < n; k++) {
			double x = (double)g[k], dlt = x - s->mean[o + k];
			s->mean[o + k] += dlt / c;
			s->m2[o + k] += dlt * (x - s->mean[o + k]);
		}
	}
}

void mlip_sf_stats_merge(struct mlip_sf_stats *dst, const struct mlip_sf_stats *src)
{
	for (size_t e = 0; e < dst->n_elements; e++) {
		double na = dst->count[e], nb = src->count[e], n = na + nb;
		if (nb == 0)
			continue;
		for (size_t k = dst->off[e]; k < dst->off[e + 1]; k++) {
			double dlt = src->mean[k] - dst->mean[k];
			dst->mean[k] += dlt * nb / n;
			dst->m2[k] += src->m2[k] + dlt * dlt * na * nb / n;
		}
		dst->count[e] = n;
	}
}

void mlip_sf_stats_result(const struct mlip_sf_stats *s, size_t e, double *mean,
			  double *std)
{
	size_t o = s->off[e], n = s->off[e + 1] - o;
	for (size_t k = 0; k < n; k++) {
		double c = s->count[e];
		double sd = c > 0 ? sqrt(s->m2[o + k] / c) : 1;
		mean[k] = c > 0 ? s->mean[o + k] : 0;
		std[k] = sd < 1e-12 ? 1 : sd;
	}
}
