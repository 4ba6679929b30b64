/*
 * mtp.c - the moment tensor basis (mtp.h states the definition): basis
 * enumeration, default radial coefficients, and the forward, VJP and JVP
 * passes.
 *
 * How the evaluation is organised:
 *   - Every tensor an atom needs lives in one flat array X per atom: X[0] = 1
 *     (a rank-0 constant, so that a k = 1 function is the "contraction"
 *     1 · M_{μ,0} like the others), then the moments, μ-major, each μ holding
 *     all ranks 0 .. ν_max(μ) back to back (the monomials of û of degree
 *     <= ν_max(μ) in graded order), then the partial products
 *     P = sym(M^a ·_k M^b) of the k = 3 functions.
 *   - Moments: edges four at a time, one per vector lane (edge_block: an
 *     atom's edges in blocks, values lane-minor, so that every loop over
 *     monomials and moments is a vector operation with the same index in
 *     each lane): the Chebyshev values by recurrence, f_μ = c·Q, and the
 *     monomials of û, each its parent one degree lower times x, y or z.
 *     Their derivatives are an exponent times a lower monomial (index
 *     tables), so ∇_û needs nothing more per edge. Then M_μ[0..n) +=
 *     f_μ · mono[0..n) per lane, the lanes summed at the end:
 *     O(neighbours × components).
 *   - Partial products: terms X[out] += coef · X[a] · X[b], made once at init
 *     by summing over the contracted (I) and free (J, K) index multisets:
 *     for monomials m_I (degree k), m_J, m_K,
 *       P[m_J + m_K] += mult(m_I) mult(m_J) mult(m_K) / mult(m_J + m_K)
 *                       · A[m_I + m_J] · B[m_I + m_K]
 *     which is the symmetrisation of D_{JK} = Σ_I A_{IJ} B_{IK} (D : C =
 *     sym(D) : C for a symmetric C). Terms of a tensor with itself are merged
 *     (a <= b). Of the three ways to split a k = 3 function, the one whose
 *     product is already made, else the one most functions could share, is
 *     taken. The terms run as one vector loop into a buffer, then summed per
 *     component; the VJP uses the terms listed by factor (a gather per moment
 *     component instead of a scatter).
 *   - Every basis function is then a full contraction X_x : X_y =
 *     Σ_m mult(m) X_x[m] X_y[m].
 *   - VJP: the adjoints of the dots, then of the products (into the
 *     moments), then per edge ∂L/∂r = s û + (h − (h·û) û)/R with
 *     s = Σ_μ f'_μ Σ_m dM_μ[m] mono[m] and h = ∇_û Σ_m (Σ_μ f_μ dM_μ[m]) mono[m].
 *     JVP: the same program forwards on the tangents (û' = (t − (û·t) û)/R).
 *   - Atoms are independent: with OpenMP, threads take atoms in tasks of 16,
 *     each with its own scratch; every output (a G row, the edges of one
 *     atom) is written by one thread in a fixed order, so results do not
 *     depend on the thread count. Each pass evaluates the edges again; X
 *     too, unless the caller lets a forward keep every atom's X (and a JVP
 *     its tangents) for the passes that follow on the same environment
 *     (mlip_mtp_keep: a training step). Storing the edge values as well was
 *     measured slower than evaluating them again (1.5 KB per edge at level
 *     16, out of cache). Memory O(N + E) plus per-thread scratch of
 *     O(max_nb × monomials), plus O(N × X) when kept.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "mtp.h"
#include "rng.h"
#include "banned.h"

#ifdef _OPENMP
#define MTP_PRAGMA(x) _Pragma(#x)
#else
#define MTP_PRAGMA(x)
#endif

#define MTP_ATOMS_PER_TASK 16
#define MTP_LANES 4 /* edges evaluated together, one per vector lane (AVX2: 4 doubles) */
#define MTP_MAX_RANK 26 /* moment ranks a level can ask for (2 + ν <= level) */

/* Monomials x^p y^q z^s of degree <= d, graded, within a degree p then q descending. */
static size_t n_mono(int d)
{
	return d < 0 ? 0 : (size_t)(d + 1) * (d + 2) * (d + 3) / 6;
}

static size_t n_comp(int nu)
{
	return (size_t)(nu + 1) * (nu + 2) / 2;
}

/* Index of x^p y^q z^s (degree ν = p + q + s) among the monomials of degree ν. */
static size_t comp_index(int p, int q, int nu)
{
	return (size_t)(nu - p) * (nu - p + 1) / 2 + (size_t)(nu - p - q);
}

struct mtp_mono {
	int p, q, s, deg;
	double mult;         /* deg! / (p! q! s!) */
};

struct mtp_term {
	double coef;
	uint32_t out, a, b;
};

struct mtp_dot {
	uint32_t x, y, n;   /* X offsets, components */
	uint32_t g0;        /* first global monomial of the rank (multiplicities) */
};

struct mtp_plan {
	int max_rank;
	size_t n_mono;               /* monomials of degree <= max_rank */
	struct mtp_mono *mono;       /* (n_mono) */
	int nu_max[64];              /* per μ */
	size_t mom_off[65];          /* X offset of μ's block; mom_off[n_mu] ends the moments */
	size_t n_x;                  /* X length */
	size_t n_terms;
	struct mtp_term *terms;      /* (n_terms) sorted by out */
	size_t n_out;                /* product components: X[mom_off[n_mu] ..][n_out] */
	size_t *out_start;           /* (n_out + 1) terms of each */
	double *t_coef;              /* (n_terms) the terms as arrays, for the vector loops */
	int32_t *t_a, *t_b;          /* (n_terms) */
	/* the terms by factor, for the VJP (a gather per moment component, no scatter):
	 * entry q: ∂X[v]/∂... = r_coef[q] · X[r_other[q]] into X[r_out[q]], for v with
	 * r_start[v] <= q < r_start[v + 1], v < mom_off[n_mu] */
	size_t *r_start;             /* (mom_off[n_mu] + 1) */
	double *r_coef;              /* (2 n_terms) */
	int32_t *r_out, *r_other;    /* (2 n_terms) */
	struct mtp_dot *dots;        /* (n_basis) */
	size_t b_u;                  /* offset of û in an edge block (the monomials before it) */
	size_t blk_stride;           /* doubles per block of MTP_LANES edges (mtp.c, per edge) */
	double *mult;                /* (n_mono) multinomial weights */
	/* the monomials as products: mono[g] = mono[m_par[g]] · û[m_axis[g]] (g >= 1,
	 * the parent one degree lower) */
	int32_t *m_par, *m_axis;     /* (n_mono) */
	/*
	 * Derivatives by the monomials one degree lower: ∂mono[g]/∂û_a is e_a(g) times
	 * mono[g] with e_a lowered by one, so for a moment-sized vector v,
	 * Σ_g v[g] ∂mono[g]/∂û_a = Σ_m up_coef[a][m] v[up_idx[a][m]] mono[m] over the
	 * monomials m of degree < the rank: up_idx[a][m] is m · û_a, up_coef[a][m]
	 * its exponent of axis a. The passes contract per atom, once, what they
	 * would otherwise contract per edge (raise_adjoint).
	 */
	int32_t *up_idx[3];          /* (n_mono) each; defined below degree max_rank */
	double *up_coef[3];          /* (n_mono) each */
	size_t y_off[65];            /* per μ: offset of its monomials below rank nu_max[μ],
					n_mono(nu_max[μ] − 1) of them; y_off[n_mu] = n_y */
};

/* ---- basis enumeration ------------------------------------------------------ */

static int func_cmp(const void *pa, const void *pb)
{
	const struct mlip_mtp_func *a = pa, *b = pb;
	if (a->level != b->level)
		return a->level < b->level ? -1 : 1;
	if (a->k != b->k)
		return a->k < b->k ? -1 : 1;
	for (int q = 0; q < a->k; q++) {
		if (a->mu[q] != b->mu[q])
			return a->mu[q] < b->mu[q] ? -1 : 1;
		if (a->nu[q] != b->nu[q])
			return a->nu[q] < b->nu[q] ? -1 : 1;
	}
	return 0;
}

static void func_set(struct mlip_mtp_func *f, int k, const int (*lab)[2], const size_t *idx)
{
	memset(f, 0, sizeof(*f));
	f->k = k;
	for (int q = 0; q < MLIP_MTP_MAX_ORDER; q++) {
		f->mu[q] = q < k ? lab[idx[q]][0] : -1;
		f->nu[q] = q < k ? lab[idx[q]][1] : -1;
		if (q < k)
			f->level += 2 + 4 * f->mu[q] + f->nu[q];
	}
}

/*
 * All functions of level <= L with up to max_order factors, then the
 * two-body functions M_{μ,0} of the radial functions μ < n_mu beyond the
 * level (n_pair, mtp.h), sorted; *out malloc'ed (NULL with count only when
 * out is NULL).
 */
static size_t enumerate(struct mlip_mtp_func *out, int L, int max_order, size_t n_mu)
{
	int lab[512][2];
	size_t nl = 0, n = 0;
	for (int mu = 0; (size_t)mu < n_mu; mu++)
		if (2 + 4 * mu > L) {
			if (out) {
				lab[0][0] = mu, lab[0][1] = 0;
				func_set(&out[n], 1, lab, (size_t[]){ 0 });
			}
			n++;
		}
	for (int mu = 0; 2 + 4 * mu <= L; mu++)
		for (int nu = 0; 2 + 4 * mu + nu <= L && nu <= MTP_MAX_RANK; nu++) {
			lab[nl][0] = mu;
			lab[nl][1] = nu;
			nl++;
		}
#define LEV(i) (2 + 4 * lab[i][0] + lab[i][1])
	for (size_t i = 0; i < nl; i++) {
		if (lab[i][1] == 0) {
			if (out)
				func_set(&out[n], 1, lab, (size_t[]){ i });
			n++;
		}
		for (size_t j = i; max_order >= 2 && j < nl; j++) {
			if (LEV(i) + LEV(j) > L)
				continue;
			if (lab[i][1] == lab[j][1]) {
				if (out)
					func_set(&out[n], 2, lab, (size_t[]){ i, j });
				n++;
			}
			for (size_t l = j; max_order >= 3 && l < nl; l++) {
				int a = lab[i][1], b = lab[j][1], c = lab[l][1];
				if (LEV(i) + LEV(j) + LEV(l) > L || (a + b + c) % 2 || c > a + b ||
				    a > b + c || b > a + c)
					continue;
				if (out)
					func_set(&out[n], 3, lab, (size_t[]){ i, j, l });
				n++;
			}
		}
	}
#undef LEV
	if (out)
		qsort(out, n, sizeof(*out), func_cmp);
	return n;
}

/* ---- the compiled program ------------------------------------------------------ */

static void plan_free(struct mtp_plan *p)
{
	if (!p)
		return;
	free(p->mono);
	free(p->m_par);
	free(p->m_axis);
	for (int a = 0; a < 3; a++) {
		free(p->up_idx[a]);
		free(p->up_coef[a]);
	}
	free(p->terms);
	free(p->out_start);
	free(p->t_coef);
	free(p->t_a);
	free(p->t_b);
	free(p->r_start);
	free(p->r_coef);
	free(p->r_out);
	free(p->r_other);
	free(p->dots);
	free(p->mult);
	free(p);
}

static double factorial(int n)
{
	double f = 1;
	for (int k = 2; k <= n; k++)
		f *= k;
	return f;
}

/* Global index of x^p y^q z^s. */
static size_t mono_index(int p, int q, int s)
{
	int nu = p + q + s;
	return n_mono(nu - 1) + comp_index(p, q, nu);
}

static int mono_table(struct mtp_plan *p)
{
	size_t nm = p->n_mono = n_mono(p->max_rank);
	p->mono = calloc(nm, sizeof(*p->mono));
	p->m_par = calloc(nm, sizeof(int32_t));
	p->m_axis = calloc(nm, sizeof(int32_t));
	for (int a = 0; a < 3; a++) {
		p->up_idx[a] = calloc(nm, sizeof(int32_t));
		p->up_coef[a] = calloc(nm, sizeof(double));
		if (!p->up_idx[a] || !p->up_coef[a])
			return -1;
	}
	if (!p->mono || !p->m_par || !p->m_axis)
		return -1;
	for (int nu = 0; nu <= p->max_rank; nu++)
		for (int a = nu; a >= 0; a--)
			for (int b = nu - a; b >= 0; b--) {
				int c = nu - a - b, e[3] = { a, b, c };
				size_t g = mono_index(a, b, c);
				struct mtp_mono *m = &p->mono[g];
				m->p = a, m->q = b, m->s = c, m->deg = nu;
				m->mult = factorial(nu) / (factorial(a) * factorial(b) * factorial(c));
				for (int x = 0; x < 3 && nu < p->max_rank; x++) {
					int l[3] = { a, b, c };
					l[x]++;
					p->up_idx[x][g] = (int32_t)mono_index(l[0], l[1], l[2]);
					p->up_coef[x][g] = e[x] + 1;
				}
				/* the parent: x lowered if it can be, else y, else z */
				int x = a ? 0 : b ? 1 : 2;
				e[x]--;
				p->m_par[g] = nu ? (int32_t)mono_index(e[0], e[1], e[2]) : 0;
				p->m_axis[g] = x;
			}
	return 0;
}

/* X offset of moment (μ, ν). */
static size_t mom_at(const struct mtp_plan *p, int mu, int nu)
{
	return p->mom_off[mu] + n_mono(nu - 1);
}

/* A partial product sym(M_{μ1,ν1} ·_kI M_{μ2,ν2}), (μ1, ν1) <= (μ2, ν2), at X[off]. */
struct prod_key {
	int mu1, nu1, mu2, nu2, kI;
	size_t off;
};

/* The product of a k = 3 function's two factors other than factor q. */
static struct prod_key cand_key(const struct mlip_mtp_func *fn, int q)
{
	int a = q == 0 ? 1 : 0, b = q == 2 ? 1 : 2;
	return (struct prod_key){ fn->mu[a], fn->nu[a], fn->mu[b], fn->nu[b],
				  (fn->nu[a] + fn->nu[b] - fn->nu[q]) / 2, 0 };
}

/* Index of k in keys[0..n), or n. */
static size_t key_find(const struct prod_key *keys, size_t n, const struct prod_key *k)
{
	size_t q = 0;
	while (q < n && !(keys[q].mu1 == k->mu1 && keys[q].nu1 == k->nu1 && keys[q].mu2 == k->mu2 &&
			  keys[q].nu2 == k->nu2 && keys[q].kI == k->kI))
		q++;
	return q;
}

/*
 * Append the terms of P = sym(A ·_k B) (ranks νa, νb; P at X offset po) to
 * p->terms (room for them is made here).
 */
static int prod_terms(struct mtp_plan *p, size_t ao, int na, size_t bo, int nb, int k, size_t po,
		      int same)
{
	int pj = na - k, qk = nb - k, np = pj + qk;
	size_t cp = n_comp(np), ca = n_comp(na), cb = n_comp(nb);
	double *acc = calloc(cp * ca * cb, sizeof(double));
	if (!acc)
		return -1;
	const struct mtp_mono *mo = p->mono;
	for (size_t i = n_mono(k - 1); i < n_mono(k); i++)
		for (size_t j = n_mono(pj - 1); j < n_mono(pj); j++)
			for (size_t l = n_mono(qk - 1); l < n_mono(qk); l++) {
				int op = mo[j].p + mo[l].p, oq = mo[j].q + mo[l].q;
				size_t out = comp_index(op, oq, np);
				size_t ia = comp_index(mo[i].p + mo[j].p, mo[i].q + mo[j].q, na);
				size_t ib = comp_index(mo[i].p + mo[l].p, mo[i].q + mo[l].q, nb);
				if (same && ib < ia) {
					size_t t = ia;
					ia = ib;
					ib = t;
				}
				double w = mo[i].mult * mo[j].mult * mo[l].mult /
					   mo[n_mono(np - 1) + out].mult;
				acc[(out * ca + ia) * cb + ib] += w;
			}
	size_t cnt = 0;
	for (size_t q = 0; q < cp * ca * cb; q++)
		cnt += acc[q] != 0;
	struct mtp_term *t = realloc(p->terms, (p->n_terms + cnt + 1) * sizeof(*t));
	if (!t) {
		free(acc);
		return -1;
	}
	p->terms = t;
	for (size_t out = 0; out < cp; out++)
		for (size_t ia = 0; ia < ca; ia++)
			for (size_t ib = 0; ib < cb; ib++) {
				double w = acc[(out * ca + ia) * cb + ib];
				if (w == 0)
					continue;
				p->terms[p->n_terms++] = (struct mtp_term){
					.coef = w, .out = (uint32_t)(po + out), .a = (uint32_t)(ao + ia),
					.b = (uint32_t)(bo + ib) };
			}
	free(acc);
	return 0;
}

static int plan_build(struct mlip_mtp *m)
{
	struct mtp_plan *p = calloc(1, sizeof(*p));
	struct prod_key *keys = calloc(m->n_basis + 1, sizeof(*keys));
	size_t n_keys = 0;
	if (!p || !keys)
		goto fail;
	m->plan = p;
	for (size_t mu = 0; mu < m->n_mu; mu++)
		p->nu_max[mu] = 0;
	p->max_rank = 0;
	for (size_t f = 0; f < m->n_basis; f++)
		for (int q = 0; q < m->func[f].k; q++) {
			int mu = m->func[f].mu[q], nu = m->func[f].nu[q];
			if (nu > p->nu_max[mu])
				p->nu_max[mu] = nu;
			if (nu > p->max_rank)
				p->max_rank = nu;
		}
	if (mono_table(p))
		goto fail;
	size_t off = 1;
	for (size_t mu = 0; mu < m->n_mu; mu++) {
		p->mom_off[mu] = off;
		off += n_mono(p->nu_max[mu]);
	}
	p->mom_off[m->n_mu] = off;
	p->y_off[0] = 0;
	for (size_t mu = 0; mu < m->n_mu; mu++)
		p->y_off[mu + 1] = p->y_off[mu] + n_mono(p->nu_max[mu] - 1);
	p->dots = calloc(m->n_basis, sizeof(*p->dots));
	if (!p->dots)
		goto fail;
	for (size_t f = 0; f < m->n_basis; f++) {
		const struct mlip_mtp_func *fn = &m->func[f];
		struct mtp_dot *d = &p->dots[f];
		int rank = fn->nu[fn->k - 1];
		if (fn->k == 3) {
			/* Which factor to leave out of the partial product (q3 below)? */
			int best = -1;
			size_t best_cnt = 0, cand[3];
			for (int q = 2; q >= 0; q--) {
				struct prod_key kq = cand_key(fn, q);
				cand[q] = key_find(keys, n_keys, &kq);
				if (cand[q] < n_keys && best < 0)
					best = q; /* made already: free */
			}
			for (int q = 2; best < 0 && q >= 0; q--) {
				struct prod_key kq = cand_key(fn, q);
				size_t cnt = 0;
				for (size_t g = f; g < m->n_basis; g++)
					for (int r = 0; r < 3 && m->func[g].k == 3; r++) {
						struct prod_key kg = cand_key(&m->func[g], r);
						cnt += key_find(&kg, 1, &kq) == 0;
					}
				if (cnt > best_cnt)
					best_cnt = cnt, best = q;
			}
			(void)cand;
			struct prod_key kb = cand_key(fn, best);
			size_t q = key_find(keys, n_keys, &kb);
			if (q == n_keys) {
				kb.off = off;
				keys[n_keys++] = kb;
				int same = kb.mu1 == kb.mu2 && kb.nu1 == kb.nu2;
				if (prod_terms(p, mom_at(p, kb.mu1, kb.nu1), kb.nu1, mom_at(p, kb.mu2, kb.nu2),
					       kb.nu2, kb.kI, off, same))
					goto fail;
				off += n_comp(fn->nu[best]);
			}
			rank = fn->nu[best];
			d->x = (uint32_t)keys[q].off;
			d->y = (uint32_t)mom_at(p, fn->mu[best], rank);
		} else {
			d->x = fn->k == 1 ? 0 : (uint32_t)mom_at(p, fn->mu[0], fn->nu[0]);
			d->y = (uint32_t)mom_at(p, fn->mu[fn->k - 1], rank);
		}
		d->n = (uint32_t)n_comp(rank);
		d->g0 = (uint32_t)n_mono(rank - 1);
	}
	p->n_x = off;
	p->n_out = off - p->mom_off[m->n_mu];
	p->b_u = p->n_mono * MTP_LANES;
	p->blk_stride = p->b_u + (5 + 2 * m->n_mu + 2 * m->n_radial) * MTP_LANES;
	p->out_start = calloc(p->n_out + 1, sizeof(size_t));
	size_t nm = p->n_mono;
	p->mult = malloc(nm * sizeof(double));
	if (!p->out_start || !p->mult)
		goto fail;
	for (size_t g = 0; g < nm; g++)
		p->mult[g] = p->mono[g].mult;
	for (size_t t = 0; t < p->n_terms; t++) {
		size_t o = p->terms[t].out - p->mom_off[m->n_mu];
		MLIP_ASSERT(o < p->n_out && (t == 0 || p->terms[t - 1].out <= p->terms[t].out));
		p->out_start[o + 1]++;
	}
	for (size_t o = 0; o < p->n_out; o++)
		p->out_start[o + 1] += p->out_start[o];
	size_t nt = p->n_terms, nv = p->mom_off[m->n_mu];
	p->t_coef = malloc((nt + 1) * sizeof(double));
	p->t_a = malloc((nt + 1) * sizeof(int32_t));
	p->t_b = malloc((nt + 1) * sizeof(int32_t));
	p->r_start = calloc(nv + 1, sizeof(size_t));
	p->r_coef = malloc((2 * nt + 1) * sizeof(double));
	p->r_out = malloc((2 * nt + 1) * sizeof(int32_t));
	p->r_other = malloc((2 * nt + 1) * sizeof(int32_t));
	if (!p->t_coef || !p->t_a || !p->t_b || !p->r_start || !p->r_coef || !p->r_out ||
	    !p->r_other)
		goto fail;
	for (size_t t = 0; t < nt; t++) {
		p->t_coef[t] = p->terms[t].coef;
		p->t_a[t] = (int32_t)p->terms[t].a;
		p->t_b[t] = (int32_t)p->terms[t].b;
		p->r_start[p->terms[t].a + 1]++;
		p->r_start[p->terms[t].b + 1]++;
	}
	for (size_t v = 0; v < nv; v++)
		p->r_start[v + 1] += p->r_start[v];
	{
		size_t *fill = calloc(nv + 1, sizeof(size_t));
		if (!fill)
			goto fail;
		memcpy(fill, p->r_start, nv * sizeof(size_t));
		for (size_t t = 0; t < nt; t++)
			for (int side = 0; side < 2; side++) {
				size_t v = side ? p->terms[t].b : p->terms[t].a, q = fill[v]++;
				p->r_coef[q] = p->terms[t].coef;
				p->r_out[q] = (int32_t)p->terms[t].out;
				p->r_other[q] = (int32_t)(side ? p->terms[t].a : p->terms[t].b);
			}
		free(fill);
	}
	free(keys);
	return 0;
fail:
	free(keys);
	return -1;
}

/* ---- configuration ------------------------------------------------------------- */

void mlip_mtp_options_init(struct mlip_mtp_options *opt)
{
	memset(opt, 0, sizeof(*opt));
}

/* The default coefficients of pair (a, b) (mtp.h): n_mu orthonormal rows of length nr. */
static void default_radial(double *c, size_t n_mu, size_t nr, uint64_t seed, uint64_t stream)
{
	struct mlip_rng r;
	mlip_rng_seed2(&r, seed, stream);
	for (size_t k = 0; k < n_mu * nr; k++) {
		double u1 = mlip_rng_uniform(&r), u2 = mlip_rng_uniform(&r);
		c[k] = sqrt(-2 * log(1 - u1)) * cos(2 * M_PI * u2);
	}
	for (size_t mu = 0; mu < n_mu; mu++) {
		double *v = c + mu * nr;
		for (size_t q = 0; q < mu; q++) {
			const double *w = c + q * nr;
			double d = 0;
			for (size_t k = 0; k < nr; k++)
				d += v[k] * w[k];
			for (size_t k = 0; k < nr; k++)
				v[k] -= d * w[k];
		}
		double s = 0;
		for (size_t k = 0; k < nr; k++)
			s += v[k] * v[k];
		s = 1 / sqrt(s);
		for (size_t k = 0; k < nr; k++)
			v[k] *= s;
	}
}

int mlip_mtp_init(struct mlip_mtp *m, const int *z, size_t n_el, double cutoff, int level,
		  const struct mlip_mtp_options *opt, struct mlip_err *err)
{
	struct mlip_mtp_options def;
	memset(m, 0, sizeof(*m));
	memset(m->species, -1, sizeof(m->species));
	if (!opt) {
		mlip_mtp_options_init(&def);
		opt = &def;
	}
	if (n_el < 1 || n_el > MLIP_MAX_ELEMENTS)
		return mlip_err_set(err, MLIP_EINVAL, "the model needs 1 to %d elements, not %zu",
				    MLIP_MAX_ELEMENTS, n_el);
	for (size_t a = 0; a < n_el; a++) {
		if (z[a] < 1 || z[a] > MLIP_MAX_Z)
			return mlip_err_set(err, MLIP_EINVAL, "element %zu: bad atomic number %d",
					    a + 1, z[a]);
		if (m->species[z[a]] >= 0)
			return mlip_err_set(err, MLIP_EINVAL, "element '%s' is listed twice",
					    mlip_element_symbol(z[a]));
		m->z[a] = z[a];
		m->species[z[a]] = (int8_t)a;
	}
	if (!(cutoff > 0) || !isfinite(cutoff))
		return mlip_err_set(err, MLIP_EINVAL, "cutoff must be a positive number, not %g",
				    cutoff);
	if (!(opt->r_min >= 0) || !(opt->r_min < cutoff))
		return mlip_err_set(err, MLIP_EINVAL, "mtp r_min %g is not in [0, cutoff %g)",
				    opt->r_min, cutoff);
	if (level < 2 || level > MLIP_MTP_MAX_LEVEL)
		return mlip_err_set(err, MLIP_EINVAL, "mtp level %d is not in 2 .. %d", level,
				    MLIP_MTP_MAX_LEVEL);
	int order = opt->max_order ? opt->max_order : MLIP_MTP_MAX_ORDER;
	if (order < 1 || order > MLIP_MTP_MAX_ORDER)
		return mlip_err_set(err, MLIP_EINVAL, "mtp max_order %d is not in 1 .. %d",
				    opt->max_order, MLIP_MTP_MAX_ORDER);
	m->n_elements = n_el;
	m->cutoff = cutoff;
	m->r_min = opt->r_min;
	m->level = level;
	m->max_order = order;
	m->seed = opt->seed;
	if (opt->n_pair > 64)
		return mlip_err_set(err, MLIP_EINVAL, "mtp n_pair %zu is not in 0 .. 64", opt->n_pair);
	m->n_mu = (size_t)(level - 2) / 4 + 1;
	if (opt->n_pair > m->n_mu)
		m->n_mu = opt->n_pair;
	m->n_radial = opt->n_radial ? opt->n_radial : m->n_mu > 8 ? m->n_mu : 8;
	if (m->n_radial < m->n_mu || m->n_radial > 64)
		return mlip_err_set(err, MLIP_EINVAL,
				    "mtp n_radial %zu is not in %zu .. 64 (level %d%s needs %zu radial "
				    "functions)", m->n_radial, m->n_mu, level,
				    opt->n_pair == m->n_mu ? " with n_pair" : "", m->n_mu);
	size_t S = n_el, nc = S * S * m->n_mu * m->n_radial;
	m->radial = malloc(nc * sizeof(double));
	m->n_basis = enumerate(NULL, level, order, m->n_mu);
	m->func = calloc(m->n_basis, sizeof(*m->func));
	if (!m->radial || !m->func)
		goto nomem;
	enumerate(m->func, level, order, m->n_mu);
	for (size_t a = 0; a < S; a++)
		for (size_t b = 0; b < S; b++) {
			double *c = m->radial + (a * S + b) * m->n_mu * m->n_radial;
			if (!opt->radial)
				default_radial(c, m->n_mu, m->n_radial, m->seed, a * S + b);
		}
	if (opt->radial) {
		for (size_t k = 0; k < nc; k++)
			if (!isfinite(opt->radial[k])) {
				mlip_mtp_release(m);
				return mlip_err_set(err, MLIP_EINVAL,
						    "mtp radial coefficient %zu is not finite", k + 1);
			}
		memcpy(m->radial, opt->radial, nc * sizeof(double));
	}
	m->coef = m->radial;
	for (size_t e = 0; e < S; e++)
		m->dim[e] = m->n_basis;
	m->max_dim = m->n_basis;
	if (plan_build(m))
		goto nomem;
	return MLIP_OK;
nomem:
	mlip_mtp_release(m);
	return mlip_err_set(err, MLIP_ENOMEM, "out of memory for the moment tensor basis");
}

static void keep_free(struct mtp_keep *k);

void mlip_mtp_release(struct mlip_mtp *m)
{
	keep_free(m->keep);
	plan_free(m->plan);
	free(m->radial);
	free(m->func);
	memset(m, 0, sizeof(*m));
	memset(m->species, -1, sizeof(m->species));
}

int mlip_mtp_env_build(struct mlip_env *env, const struct mlip_mtp *m,
		       const struct mlip_batch *b, struct mlip_err *err)
{
	/* mlip_env_build reads the cutoff and the element map of a descriptor only. */
	struct mlip_descriptor d;
	memset(&d, 0, sizeof(d));
	d.n_elements = m->n_elements;
	memcpy(d.z, m->z, sizeof(d.z));
	memcpy(d.species, m->species, sizeof(d.species));
	d.cutoff = m->cutoff;
	return mlip_env_build(env, &d, b, err);
}

/* ---- per edge ------------------------------------------------------------------- */

/*
 * The per-atom work is built twice on x86-64, for AVX2 + FMA and for the
 * baseline, and the loader picks one (as descriptor.c's SF_CLONES); the loops
 * below are written to vectorise (contiguous, `omp simd`). The two copies
 * agree to round-off; on one machine the results are fixed, whatever the
 * thread count. -DMLIP_NO_CLONES builds the baseline alone.
 */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11 && \
	!defined(__AVX2__) && !defined(MLIP_NO_CLONES)
#define MTP_CLONES                                                         \
	__attribute__((target_clones("arch=x86-64-v3", "default"), \
		       optimize("fp-contract=fast")))
#else
#define MTP_CLONES
#endif
#define MTP_INLINE static inline __attribute__((always_inline))
#define MTP_SIMD MTP_PRAGMA(omp simd)
#define MTP_SIMD_SUM(v) MTP_PRAGMA(omp simd reduction(+ : v))

/*
 * Edges are evaluated MTP_LANES at a time, one per vector lane: an atom's
 * edges in blocks of MTP_LANES, each block's values lane-minor (value v of
 * lane l at v · MTP_LANES + l), so that the loops over monomials, moments and
 * radial functions are vector operations over edges with the same index in
 * every lane (no gathers). A block of blk_stride doubles holds, each value
 * × MTP_LANES:
 *   the monomials of û (n_mono) | û (3) | R | 1/R | f (n_mu) | f' (n_mu) |
 *   Q (n_radial) | Q' (n_radial)
 * Lanes past an atom's last edge get Q = Q' = f = f' = 0 (and a harmless
 * direction), so they add nothing, and what they would give is dropped. Each
 * monomial is its parent, one degree lower, times a component of û (the
 * plan's m_par, m_axis: one vector product per monomial, measured 5 % faster
 * than products of powers of x and a y z table). Their derivatives are never
 * made per edge: a contraction with them is a contraction of the lower
 * monomials with the adjoint raised once per atom (up_idx, raise_adjoint),
 * which costs three dots over the monomials below the rank instead of three
 * products per monomial and a dot; measured on bench_mtp level 16, the VJP
 * 8 % faster.
 */
#define NL MTP_LANES

/* The block of edges [e, e + nv) of an atom (nv <= NL), their coefficient rows cl[l]. */
MTP_INLINE void edge_block(double *blk, const struct mlip_mtp *m, const double *r,
			   const double *const *cl, size_t nv)
{
	const struct mtp_plan *p = m->plan;
	const size_t nr = m->n_radial, nm = m->n_mu;
	double *mono = blk, *u = blk + p->b_u, *R = u + 3 * NL, *inv = R + NL, *f = inv + NL;
	double *df = f + nm * NL, *Q = df + nm * NL, *dQ = Q + nr * NL;
	for (size_t l = 0; l < NL; l++) {
		double x = 0.5 * m->cutoff, y = 0, z = 0;
		if (l < nv)
			x = r[3 * l], y = r[3 * l + 1], z = r[3 * l + 2];
		double Rl = sqrt(x * x + y * y + z * z), il = 1 / Rl;
		R[l] = Rl, inv[l] = il;
		u[l] = x * il, u[NL + l] = y * il, u[2 * NL + l] = z * il;
	}
	/* Q_β = T_β(ξ) w by recurrence (0 in the lanes past the last edge), then f_μ = Σ c Q
	 * and f'_μ = Σ c Q' */
	double T[64 * NL], dT[64 * NL], xi[NL], w[NL], dw[NL];
	const double span = m->cutoff - m->r_min, dxi = 2 / span;
	MTP_SIMD
	for (size_t l = 0; l < NL; l++) {
		double t = 1 - R[l] / m->cutoff;
		xi[l] = (2 * R[l] - m->r_min - m->cutoff) / span;
		w[l] = t * t;
		dw[l] = -2 * t / m->cutoff;
		T[l] = 1, dT[l] = 0;
		T[NL + l] = xi[l], dT[NL + l] = 1;
	}
	for (size_t k = 2; k < nr; k++) {
		double *Tk = T + k * NL, *dTk = dT + k * NL;
		MTP_SIMD
		for (size_t l = 0; l < NL; l++) {
			Tk[l] = 2 * xi[l] * Tk[l - NL] - Tk[l - 2 * NL];
			dTk[l] = 2 * Tk[l - NL] + 2 * xi[l] * dTk[l - NL] - dTk[l - 2 * NL];
		}
	}
	for (size_t k = 0; k < nr; k++)
		MTP_SIMD
		for (size_t l = 0; l < NL; l++) {
			double on = l < nv;
			Q[k * NL + l] = on * T[k * NL + l] * w[l];
			dQ[k * NL + l] = on * (dT[k * NL + l] * dxi * w[l] + T[k * NL + l] * dw[l]);
		}
	int same = 1; /* one coefficient matrix for every lane (one element, most blocks) */
	for (size_t l = 1; l < NL; l++)
		same &= cl[l] == cl[0];
	for (size_t mu = 0; mu < nm; mu++) {
		double a[NL] = { 0 }, da[NL] = { 0 };
		for (size_t k = 0; k < nr && same; k++) {
			const double c = cl[0][mu * nr + k];
			MTP_SIMD
			for (size_t l = 0; l < NL; l++) {
				a[l] += c * Q[k * NL + l];
				da[l] += c * dQ[k * NL + l];
			}
		}
		for (size_t k = 0; k < nr && !same; k++) {
			double c[NL];
			for (size_t l = 0; l < NL; l++)
				c[l] = cl[l][mu * nr + k];
			MTP_SIMD
			for (size_t l = 0; l < NL; l++) {
				a[l] += c[l] * Q[k * NL + l];
				da[l] += c[l] * dQ[k * NL + l];
			}
		}
		MTP_SIMD
		for (size_t l = 0; l < NL; l++) {
			f[mu * NL + l] = a[l];
			df[mu * NL + l] = da[l];
		}
	}
	/* each monomial its parent (one degree lower) times a component of û */
	const int32_t *par = p->m_par, *ax = p->m_axis;
	MTP_SIMD
	for (size_t l = 0; l < NL; l++)
		mono[l] = 1;
	for (size_t g = 1; g < p->n_mono; g++) {
		const double *a = mono + par[g] * NL, *b = u + ax[g] * NL;
		MTP_SIMD
		for (size_t l = 0; l < NL; l++)
			mono[g * NL + l] = a[l] * b[l];
	}
}

void mlip_mtp_radial(double *f, double *df, const struct mlip_mtp *m, size_t a, size_t b,
		     double R)
{
	const struct mtp_plan *p = m->plan;
	double *blk = malloc(p->blk_stride * sizeof(double));
	double r[3] = { R, 0, 0 };
	const double *c = m->coef + (a * m->n_elements + b) * m->n_mu * m->n_radial;
	const double *cl[NL];
	MLIP_ASSERT(blk);
	for (size_t l = 0; l < NL; l++)
		cl[l] = c;
	edge_block(blk, m, r, cl, 1);
	const double *fv = blk + p->b_u + 5 * NL, *dfv = fv + m->n_mu * NL;
	for (size_t mu = 0; mu < m->n_mu; mu++) {
		if (f)
			f[mu] = fv[mu * NL];
		if (df)
			df[mu] = dfv[mu * NL];
	}
	free(blk);
}

/* ---- per atom -------------------------------------------------------------------- */

struct mtp_work {
	size_t n_w;
	double *X;    /* (n_x) the atom's: the scratch row X0 or a kept row */
	double *X0;
	double *dX;   /* (n_w, n_x) adjoints (VJP) or tangents (JVP) */
	double *nb;   /* (⌈max_nb / NL⌉, blk_stride) the atom's edge blocks */
	double *Y;    /* (n_w, n_y, 3) adjoints raised to the monomials below (raise_adjoint) */
	double *W;    /* (⌈max_nb / NL⌉, n_mu, 4, NL) the JVP's weights per block and μ */
	double *acc;  /* (mom_off[n_mu], NL) moments (or their tangents) per lane */
	double *tmp;  /* (4 n_terms) the terms' products (two sets: atom_radial) */
	double *G;    /* (n_basis) a row no one reads (the radial gradient's tangents) */
	void *mem;
};

static int work_alloc(struct mtp_work *w, const struct mlip_mtp *m, size_t max_nb, size_t n_w)
{
	const struct mtp_plan *p = m->plan;
#define R8(x) (((x) + 7) & ~(size_t)7)
	size_t nblk = (max_nb + NL - 1) / NL + 1, nx = R8(p->n_x);
	size_t ny = 3 * p->y_off[m->n_mu] + 1;
	size_t sizes[] = { nx, n_w * nx, R8(nblk * p->blk_stride), R8(n_w * ny),
			   R8(nblk * m->n_mu * 4 * NL),
			   R8(p->mom_off[m->n_mu] * NL), R8(4 * p->n_terms + 1), R8(m->n_basis) };
	double **at[] = { &w->X, &w->dX, &w->nb, &w->Y, &w->W, &w->acc, &w->tmp, &w->G };
	size_t nd = 0;
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++)
		nd += sizes[k];
#undef R8
	memset(w, 0, sizeof(*w));
	w->n_w = n_w;
	w->mem = aligned_alloc(64, nd * sizeof(double));
	if (!w->mem)
		return -1;
	double *q = w->mem;
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		*at[k] = q;
		q += sizes[k];
	}
	w->X0 = w->X;
	return 0;
}

static void work_free(struct mtp_work *w)
{
	free(w->mem);
	w->mem = NULL;
}

/*
 * Σ x[a .. b) in four partial sums: a moment component is a factor of up to
 * ~70 terms (level 16), and one chain of dependent additions would wait on
 * each add's latency.
 */
MTP_INLINE double range_sum(const double *x, size_t a, size_t b)
{
	double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
	size_t t = a;
	for (; t + 4 <= b; t += 4) {
		s0 += x[t];
		s1 += x[t + 1];
		s2 += x[t + 2];
		s3 += x[t + 3];
	}
	for (; t < b; t++)
		s0 += x[t];
	return (s0 + s1) + (s2 + s3);
}

/* out[o] = Σ x[start[o] .. start[o + 1]) (overwrites). */
MTP_INLINE void segment_sums(double *out, const double *x, const size_t *start, size_t n)
{
	for (size_t o = 0; o < n; o++)
		out[o] = range_sum(x, start[o], start[o + 1]);
}

/*
 * Products -> moments, the adjoint of the terms P[out] += coef · A · B by
 * factor (a gather per moment component instead of a scatter): dM[v] +=
 * Σ_q r_coef[q] · Pbar[r_out[q]] · X[r_other[q]] over the terms v is a factor
 * of, for the moment components v < mom_off[n_mu]; tmp holds 2 n_terms.
 */
MTP_INLINE void product_adjoint(double *dM, const double *Pbar, const double *X, double *tmp,
				const struct mtp_plan *p, size_t nv)
{
	const double *rc = p->r_coef;
	const int32_t *ro = p->r_out, *rx = p->r_other;
	const size_t nq = p->r_start[nv];
	MTP_SIMD
	for (size_t q = 0; q < nq; q++)
		tmp[q] = rc[q] * Pbar[ro[q]] * X[rx[q]];
	for (size_t v = 0; v < nv; v++)
		dM[v] += range_sum(tmp, p->r_start[v], p->r_start[v + 1]);
}

/* x[v] = the lanes' sum of acc[v] (v < n), lanes in order. */
MTP_INLINE void lane_sums(double *x, const double *acc, size_t n)
{
	for (size_t v = 0; v < n; v++) {
		const double *a = acc + v * NL;
		double s = a[0];
		for (size_t l = 1; l < NL; l++)
			s += a[l];
		x[v] = s;
	}
}

/*
 * out[l] = Σ_g a[g] · v[g][l], g < n (v lane-minor), in four independent
 * sums so that the FMAs do not wait on each other.
 */
MTP_INLINE void lane_dot(double *out, const double *a, const double *v, size_t n)
{
	if (n == 1) { /* a scalar moment (rank 0 only: the two-body functions of n_pair) */
		MTP_SIMD
		for (size_t l = 0; l < NL; l++)
			out[l] = a[0] * v[l];
		return;
	}
	double s0[NL] = { 0 }, s1[NL] = { 0 }, s2[NL] = { 0 }, s3[NL] = { 0 };
	size_t g = 0;
	for (; g + 4 <= n; g += 4) {
		const double *v0 = v + g * NL;
		MTP_SIMD
		for (size_t l = 0; l < NL; l++) {
			s0[l] += a[g] * v0[l];
			s1[l] += a[g + 1] * v0[NL + l];
			s2[l] += a[g + 2] * v0[2 * NL + l];
			s3[l] += a[g + 3] * v0[3 * NL + l];
		}
	}
	for (; g < n; g++)
		MTP_SIMD
		for (size_t l = 0; l < NL; l++)
			s0[l] += a[g] * v[g * NL + l];
	MTP_SIMD
	for (size_t l = 0; l < NL; l++)
		out[l] = (s0[l] + s1[l]) + (s2[l] + s3[l]);
}

/*
 * Y (n_y, 3) from a moment-sized vector v (X's layout): for each μ and
 * monomial m of degree < nu_max[μ], Y[y_off[μ] + m][a] = up_coef[a][m] ·
 * v[mom_off[μ] + up_idx[a][m]], so that Σ_g v_μ[g] ∂mono[g]/∂û_a = Σ_m
 * Y_μ[m][a] mono[m] (struct mtp_plan).
 */
MTP_INLINE void raise_adjoint(double *Y, const double *v, const struct mtp_plan *p, size_t nm)
{
	for (size_t mu = 0; mu < nm; mu++) {
		const double *vm = v + p->mom_off[mu];
		double *y = Y + 3 * p->y_off[mu];
		for (size_t g = 0, n = p->y_off[mu + 1] - p->y_off[mu]; g < n; g++)
			for (int a = 0; a < 3; a++)
				y[3 * g + a] = p->up_coef[a][g] * vm[p->up_idx[a][g]];
	}
}

/*
 * The lane dots of a block's monomials with v (n components) and with the
 * three axes of Y (n1 <= n monomials, raise_adjoint's layout): d (4, NL) = v·mono,
 * then Σ_g v[g] ∂mono[g]/∂û_a for a = x, y, z. One read of the monomials.
 */
MTP_INLINE void dir_dots(double *d, const double *v, const double *Y, const double *mono,
			 size_t n1, size_t n)
{
	double s0[NL] = { 0 }, s1[NL] = { 0 }, s2[NL] = { 0 }, s3[NL] = { 0 }, t[NL];
	if (n1 == 0) { /* rank 0: no direction */
		lane_dot(d, v, mono, n);
		memset(d + NL, 0, 3 * NL * sizeof(double));
		return;
	}
	for (size_t g = 0; g < n1; g++) {
		const double *mg = mono + g * NL, a = v[g], y0 = Y[3 * g], y1 = Y[3 * g + 1];
		const double y2 = Y[3 * g + 2];
		MTP_SIMD
		for (size_t l = 0; l < NL; l++) {
			s0[l] += a * mg[l];
			s1[l] += y0 * mg[l];
			s2[l] += y1 * mg[l];
			s3[l] += y2 * mg[l];
		}
	}
	lane_dot(t, v + n1, mono + n1 * NL, n - n1);
	MTP_SIMD
	for (size_t l = 0; l < NL; l++) {
		d[l] = s0[l] + t[l];
		d[NL + l] = s1[l];
		d[2 * NL + l] = s2[l];
		d[3 * NL + l] = s3[l];
	}
}

/* Atom i's edge blocks into w->nb (X not touched); the number of blocks. */
MTP_INLINE size_t edges_eval(struct mtp_work *w, const struct mlip_mtp *m,
			     const struct mlip_env *env, size_t i)
{
	const size_t S = m->n_elements, nm = m->n_mu, nr = m->n_radial, bs = m->plan->blk_stride;
	const size_t a = (size_t)env->species[i], e0 = env->first[i], ne = env->first[i + 1] - e0;
	const double *cl[NL];
	size_t nb = 0;
	for (size_t e = 0; e < ne; e += NL, nb++) {
		size_t nv = ne - e < NL ? ne - e : NL;
		for (size_t l = 0; l < NL; l++) {
			size_t b = (size_t)env->species[env->nbr[e0 + e + (l < nv ? l : 0)]];
			cl[l] = m->coef + (a * S + b) * nm * nr;
		}
		edge_block(w->nb + nb * bs, m, env->r + 3 * (e0 + e), cl, nv);
	}
	return nb;
}

/* edges_eval alone (X kept), as a function of its own so that it has the vector clones */
MTP_CLONES static void atom_edges(struct mtp_work *w, const struct mlip_mtp *m,
				  const struct mlip_env *env, size_t i)
{
	edges_eval(w, m, env, i);
}

/* X of atom i (moments, then products), keeping its edge blocks. */
MTP_CLONES static void atom_tensors(struct mtp_work *w, const struct mlip_mtp *m,
				    const struct mlip_env *env, size_t i)
{
	const struct mtp_plan *p = m->plan;
	const size_t nm = m->n_mu, bs = p->blk_stride, nv = p->mom_off[nm];
	size_t nb = edges_eval(w, m, env, i);
	double *X = w->X, *acc = w->acc;
	memset(acc, 0, nv * NL * sizeof(double));
	for (size_t b = 0; b < nb; b++) {
		const double *mono = w->nb + b * bs, *f = mono + p->b_u + 5 * NL;
		for (size_t mu = 0; mu < nm; mu++) {
			double *M = acc + p->mom_off[mu] * NL;
			const double *fm = f + mu * NL;
			const size_t n = p->mom_off[mu + 1] - p->mom_off[mu];
			for (size_t g = 0; g < n; g++)
				MTP_SIMD
				for (size_t l = 0; l < NL; l++)
					M[g * NL + l] += fm[l] * mono[g * NL + l];
		}
	}
	lane_sums(X, acc, nv);
	X[0] = 1;
	/* the terms in one vector loop, then their sums per component */
	const double *coef = p->t_coef;
	const int32_t *ta = p->t_a, *tb = p->t_b;
	double *restrict tmp = w->tmp;
	MTP_SIMD
	for (size_t t = 0; t < p->n_terms; t++)
		tmp[t] = coef[t] * X[ta[t]] * X[tb[t]];
	segment_sums(X + nv, tmp, p->out_start, p->n_out);
}

MTP_CLONES static void atom_forward(double *G, const struct mtp_work *w, const struct mlip_mtp *m)
{
	const struct mtp_plan *p = m->plan;
	const double *X = w->X;
	for (size_t f = 0; f < m->n_basis; f++) {
		const struct mtp_dot *d = &p->dots[f];
		const double *x = X + d->x, *y = X + d->y, *mult = p->mult + d->g0;
		double s = 0;
		MTP_SIMD_SUM(s)
		for (size_t c = 0; c < d->n; c++)
			s += mult[c] * x[c] * y[c];
		G[f] = s;
	}
}

/* Adjoints dX of weight row wt (dL/dG of the atom); edge gradients into g_edge. */
MTP_CLONES static void atom_vjp(double *g_edge, double *dX, const double *wt, struct mtp_work *w,
				const struct mlip_mtp *m, const struct mlip_env *env, size_t i)
{
	const struct mtp_plan *p = m->plan;
	const double *X = w->X;
	const size_t nm = m->n_mu, bs = p->blk_stride;
	memset(dX, 0, p->n_x * sizeof(double));
	for (size_t f = 0; f < m->n_basis; f++) {
		const struct mtp_dot *d = &p->dots[f];
		double a = wt[f];
		if (a == 0)
			continue;
		double *dx = dX + d->x, *dy = dX + d->y;
		const double *x = X + d->x, *y = X + d->y, *mult = p->mult + d->g0;
		if (d->x == d->y) {
			MTP_SIMD
			for (size_t c = 0; c < d->n; c++)
				dx[c] += 2 * a * mult[c] * x[c];
			continue;
		}
		MTP_SIMD
		for (size_t c = 0; c < d->n; c++)
			dx[c] += a * mult[c] * y[c];
		MTP_SIMD
		for (size_t c = 0; c < d->n; c++)
			dy[c] += a * mult[c] * x[c];
	}
	/* products -> moments */
	if (p->n_terms)
		product_adjoint(dX, dX, X, w->tmp, p, p->mom_off[nm]);
	/*
	 * Per edge: ∂L/∂r = s û + (h − (h·û) û)/R with s = Σ_μ f'_μ Σ_m dM_μ[m] mono[m]
	 * and h = Σ_μ f_μ ∇_û Σ_m dM_μ[m] mono[m] (through Y, raise_adjoint); four edges at a time.
	 */
	const size_t e0 = env->first[i], ne = env->first[i + 1] - e0;
	double *restrict Y = w->Y;
	raise_adjoint(Y, dX, p, nm);
	for (size_t e = 0, b = 0; e < ne; e += NL, b++) {
		const double *mono = w->nb + b * bs, *u = mono + p->b_u, *inv = u + 4 * NL;
		const double *f = u + 5 * NL, *df = f + nm * NL;
		double s[NL] = { 0 }, h0[NL] = { 0 }, h1[NL] = { 0 }, h2[NL] = { 0 };
		for (size_t mu = 0; mu < nm; mu++) {
			const double *fm = f + mu * NL, *dfm = df + mu * NL;
			double d[4 * NL];
			dir_dots(d, dX + p->mom_off[mu], Y + 3 * p->y_off[mu], mono,
				 p->y_off[mu + 1] - p->y_off[mu], p->mom_off[mu + 1] - p->mom_off[mu]);
			MTP_SIMD
			for (size_t l = 0; l < NL; l++) {
				s[l] += dfm[l] * d[l];
				h0[l] += fm[l] * d[NL + l];
				h1[l] += fm[l] * d[2 * NL + l];
				h2[l] += fm[l] * d[3 * NL + l];
			}
		}
		size_t nv = ne - e < NL ? ne - e : NL;
		for (size_t l = 0; l < nv; l++) {
			double ux = u[l], uy = u[NL + l], uz = u[2 * NL + l];
			double hu = h0[l] * ux + h1[l] * uy + h2[l] * uz;
			double *o = g_edge + 3 * (e0 + e + l);
			o[0] += s[l] * ux + (h0[l] - hu * ux) * inv[l];
			o[1] += s[l] * uy + (h1[l] - hu * uy) * inv[l];
			o[2] += s[l] * uz + (h2[l] - hu * uz) * inv[l];
		}
	}
}

/*
 * A block's edge tangents (edges e0 + e .., nv of them, from t, (E, 3)):
 * Rd = û·t (the tangent of R) and tu (3, NL) = (t − (û·t) û)/R (of û); zero
 * in the lanes past the last edge.
 */
MTP_INLINE void block_tangents(double *Rd, double *tu, const double *u, const double *t,
			       size_t nv)
{
	const double *inv = u + 4 * NL;
	for (size_t l = 0; l < NL; l++) {
		double t0 = 0, t1 = 0, t2 = 0;
		if (l < nv)
			t0 = t[3 * l], t1 = t[3 * l + 1], t2 = t[3 * l + 2];
		double ux = u[l], uy = u[NL + l], uz = u[2 * NL + l], rd = ux * t0 + uy * t1 + uz * t2;
		Rd[l] = rd;
		tu[l] = (t0 - rd * ux) * inv[l];
		tu[NL + l] = (t1 - rd * uy) * inv[l];
		tu[2 * NL + l] = (t2 - rd * uz) * inv[l];
	}
}

/* dG row of atom i along the edge tangents t (E, 3). */
MTP_CLONES static void atom_jvp(double *dG, double *dX, const double *t, struct mtp_work *w,
				const struct mlip_mtp *m, const struct mlip_env *env, size_t i)
{
	const struct mtp_plan *p = m->plan;
	const double *X = w->X;
	const size_t nm = m->n_mu, bs = p->blk_stride, nv = p->mom_off[nm];
	const size_t e0 = env->first[i], ne = env->first[i + 1] - e0;
	/*
	 * Ṁ_μ = Σ_edges f'_μ Ṙ mono + f_μ Σ_a tu_a ∂mono/∂û_a: the second part is
	 * gathered per lower monomial (into Y) over the edges, and raised to the
	 * moment's components once per atom. First each block's weights per μ
	 * (f'_μ Ṙ, f_μ tu_x, f_μ tu_y, f_μ tu_z), then per monomial a sum over the
	 * blocks in registers (monomial outermost: no accumulator goes through
	 * memory per edge).
	 */
	double *restrict W = w->W, *restrict Y = w->Y;
	size_t nb = 0;
	for (size_t e = 0; e < ne; e += NL, nb++) {
		const double *u = w->nb + nb * bs + p->b_u, *f = u + 5 * NL, *df = f + nm * NL;
		double Rd[NL], tu[3 * NL];
		block_tangents(Rd, tu, u, t + 3 * (e0 + e), ne - e < NL ? ne - e : NL);
		for (size_t mu = 0; mu < nm; mu++) {
			double *wm = W + (nb * nm + mu) * 4 * NL;
			const double *fm = f + mu * NL;
			MTP_SIMD
			for (size_t l = 0; l < NL; l++) {
				wm[l] = df[mu * NL + l] * Rd[l];
				wm[NL + l] = fm[l] * tu[l];
				wm[2 * NL + l] = fm[l] * tu[NL + l];
				wm[3 * NL + l] = fm[l] * tu[2 * NL + l];
			}
		}
	}
	for (size_t mu = 0; mu < nm; mu++) {
		const size_t n = p->mom_off[mu + 1] - p->mom_off[mu];
		const size_t n1 = p->y_off[mu + 1] - p->y_off[mu];
		double *dM = dX + p->mom_off[mu], *y = Y + 3 * p->y_off[mu];
		for (size_t g = 0; g < n; g++) {
			double s0[NL] = { 0 }, s1[NL] = { 0 }, s2[NL] = { 0 }, s3[NL] = { 0 };
			const double *mg = w->nb + g * NL, *wm = W + mu * 4 * NL;
			if (g < n1) {
				for (size_t b = 0; b < nb; b++, mg += bs, wm += nm * 4 * NL)
					MTP_SIMD
					for (size_t l = 0; l < NL; l++) {
						s0[l] += wm[l] * mg[l];
						s1[l] += wm[NL + l] * mg[l];
						s2[l] += wm[2 * NL + l] * mg[l];
						s3[l] += wm[3 * NL + l] * mg[l];
					}
				lane_sums(y + 3 * g, s1, 1);
				lane_sums(y + 3 * g + 1, s2, 1);
				lane_sums(y + 3 * g + 2, s3, 1);
			} else {
				for (size_t b = 0; b < nb; b++, mg += bs, wm += nm * 4 * NL)
					MTP_SIMD
					for (size_t l = 0; l < NL; l++)
						s0[l] += wm[l] * mg[l];
			}
			lane_sums(dM + g, s0, 1);
		}
	}
	for (size_t mu = 0; mu < nm; mu++) {
		double *dM = dX + p->mom_off[mu];
		const double *z = Y + 3 * p->y_off[mu];
		for (size_t g = 0, n1 = p->y_off[mu + 1] - p->y_off[mu]; g < n1; g++)
			for (int a = 0; a < 3; a++)
				dM[p->up_idx[a][g]] += p->up_coef[a][g] * z[3 * g + a];
	}
	dX[0] = 0;
	const double *coef = p->t_coef;
	const int32_t *ta = p->t_a, *tb = p->t_b;
	double *restrict tmp = w->tmp;
	MTP_SIMD
	for (size_t q = 0; q < p->n_terms; q++)
		tmp[q] = coef[q] * (dX[ta[q]] * X[tb[q]] + X[ta[q]] * dX[tb[q]]);
	segment_sums(dX + nv, tmp, p->out_start, p->n_out);
	for (size_t f = 0; f < m->n_basis; f++) {
		const struct mtp_dot *d = &p->dots[f];
		const double *x = X + d->x, *y = X + d->y, *dx = dX + d->x, *dy = dX + d->y;
		const double *mult = p->mult + d->g0;
		double s = 0;
		MTP_SIMD_SUM(s)
		for (size_t c = 0; c < d->n; c++)
			s += mult[c] * (dx[c] * y[c] + x[c] * dy[c]);
		dG[f] = s;
	}
}

/*
 * Atom i's part of the radial gradient (mlip_mtp_radial_grad), after
 * atom_tensors: gc (S, n_mu, n_radial) += over its edges, by neighbour
 * element. aG is ∂L/∂G_i, aT[t] ∂L/∂dG_{t,i}. The program: the tangents
 * Ẋ_t (atom_jvp), then the adjoints backwards through G = Σ mult x y and
 * Ġ_t = Σ mult (ẋ y + x ẏ) (into X̄ and Ẋ̄_t), through the products
 * P = Σ coef A B and Ṗ_t = Σ coef (Ȧ B + A Ḃ) (products are made of moments
 * only, so one sweep over the terms finishes them), and at last per edge
 * the moments' linear dependence on c.
 */
MTP_CLONES static void atom_radial(double *gc, struct mtp_work *w, const struct mlip_mtp *m,
			const struct mlip_env *env, size_t i, const double *aG,
			const double *const *aT, const double *t_edge, size_t n_tan,
			const double *Xd_kept)
{
	const struct mtp_plan *p = m->plan;
	const size_t nx = p->n_x, nm = m->n_mu, nr = m->n_radial, E = env->n_edges;
	const double *X = w->X;
	double *Xb = w->dX, *Xdb = w->dX + (1 + n_tan) * nx;
	const double *Xd = Xd_kept;
	if (!Xd) {
		for (size_t t = 0; t < n_tan; t++)
			atom_jvp(w->G, w->dX + (1 + t) * nx, t_edge + 3 * E * t, w, m, env, i);
		Xd = w->dX + nx;
	}
	memset(Xb, 0, nx * sizeof(double));
	memset(Xdb, 0, n_tan * nx * sizeof(double));
	for (size_t f = 0; f < m->n_basis; f++) {
		const struct mtp_dot *d = &p->dots[f];
		const double *x = X + d->x, *y = X + d->y, *mult = p->mult + d->g0;
		double a = aG[f], *xb = Xb + d->x, *yb = Xb + d->y;
		MTP_SIMD
		for (size_t c = 0; c < d->n; c++) {
			xb[c] += a * mult[c] * y[c];
			yb[c] += a * mult[c] * x[c];
		}
		for (size_t t = 0; t < n_tan; t++) {
			const double *xd = Xd + t * nx + d->x, *yd = Xd + t * nx + d->y;
			double *xdb = Xdb + t * nx + d->x, *ydb = Xdb + t * nx + d->y, b = aT[t][f];
			if (b == 0)
				continue;
			MTP_SIMD
			for (size_t c = 0; c < d->n; c++) {
				xdb[c] += b * mult[c] * y[c];
				ydb[c] += b * mult[c] * x[c];
				xb[c] += b * mult[c] * yd[c];
				yb[c] += b * mult[c] * xd[c];
			}
		}
	}
	/* products -> moments, per moment component a sum over the terms it is a
	 * factor of (atom_vjp's gather): X̄ from P̄ and from Ṗ̄ Ẋ, Ẋ̄ from Ṗ̄; the first
	 * tangent's Ẋ̄ in the same sweep as X̄ (one read of the term lists) */
	if (p->n_terms) {
		const double *rc = p->r_coef;
		const int32_t *ro = p->r_out, *rx = p->r_other;
		const size_t nv = p->mom_off[nm], nq = p->r_start[nv];
		double *restrict tmp = w->tmp, *restrict tmp1 = w->tmp + nq;
		if (n_tan) {
			const double *xd = Xd, *xdb = Xdb;
			MTP_SIMD
			for (size_t q = 0; q < nq; q++) {
				const double xo = X[rx[q]], b = xdb[ro[q]];
				tmp[q] = rc[q] * (Xb[ro[q]] * xo + b * xd[rx[q]]);
				tmp1[q] = rc[q] * b * xo;
			}
		} else {
			MTP_SIMD
			for (size_t q = 0; q < nq; q++)
				tmp[q] = rc[q] * Xb[ro[q]] * X[rx[q]];
		}
		for (size_t t = 1; t < n_tan; t++) {
			const double *xd = Xd + t * nx, *xdb = Xdb + t * nx;
			MTP_SIMD
			for (size_t q = 0; q < nq; q++)
				tmp[q] += rc[q] * xdb[ro[q]] * xd[rx[q]];
		}
		for (size_t v = 0; v < nv; v++) {
			Xb[v] += range_sum(tmp, p->r_start[v], p->r_start[v + 1]);
			if (n_tan)
				Xdb[v] += range_sum(tmp1, p->r_start[v], p->r_start[v + 1]);
		}
		for (size_t t = 1; t < n_tan; t++)
			product_adjoint(Xdb + t * nx, Xdb + t * nx, X, tmp, p, nv);
	}
	/* per block of edges: the factors of Q_β (s_val) and of Q'_β (s_der), per μ and lane;
	 * the tangents' adjoints raised once (Y, n_tan sets) for their ∂mono/∂û parts */
	const size_t e0 = env->first[i], ne = env->first[i + 1] - e0, bs = p->blk_stride;
	const size_t ny = 3 * p->y_off[nm];
	for (size_t t = 0; t < n_tan; t++)
		raise_adjoint(w->Y + t * ny, Xdb + t * nx, p, nm);
	for (size_t e = 0, b = 0; e < ne; e += NL, b++) {
		const double *mono = w->nb + b * bs, *u = mono + p->b_u;
		const size_t nv = ne - e < NL ? ne - e : NL;
		double s_val[64 * NL], s_der[64 * NL];
		for (size_t mu = 0; mu < nm; mu++) {
			const size_t o = p->mom_off[mu], n = p->mom_off[mu + 1] - o;
			lane_dot(s_val + mu * NL, Xb + o, mono, n);
			MTP_SIMD
			for (size_t l = 0; l < NL; l++)
				s_der[mu * NL + l] = 0;
		}
		for (size_t t = 0; t < n_tan; t++) {
			const double *xdb = Xdb + t * nx, *Y = w->Y + t * ny;
			double Rd[NL], tu[3 * NL];
			block_tangents(Rd, tu, u, t_edge + 3 * E * t + 3 * (e0 + e), nv);
			for (size_t mu = 0; mu < nm; mu++) {
				const size_t o = p->mom_off[mu], n = p->mom_off[mu + 1] - o;
				double d[4 * NL];
				dir_dots(d, xdb + o, Y + 3 * p->y_off[mu], mono,
					 p->y_off[mu + 1] - p->y_off[mu], n);
				MTP_SIMD
				for (size_t l = 0; l < NL; l++) {
					s_val[mu * NL + l] += tu[l] * d[NL + l] + tu[NL + l] * d[2 * NL + l] +
							      tu[2 * NL + l] * d[3 * NL + l];
					s_der[mu * NL + l] += Rd[l] * d[l];
				}
			}
		}
		/* g[b][μ][β] += Q_β s_val_μ + Q'_β s_der_μ, b the lane's neighbour element (the
		 * lanes past the last edge have Q = Q' = 0) */
		const double *Q = u + (5 + 2 * nm) * NL, *dQ = Q + nr * NL;
		size_t sb[NL] = { 0 };
		int same = 1;
		for (size_t l = 0; l < nv; l++) {
			sb[l] = (size_t)env->species[env->nbr[e0 + e + l]];
			same &= sb[l] == sb[0];
		}
		for (size_t mu = 0; mu < nm && same; mu++) {
			double *g = gc + (sb[0] * nm + mu) * nr;
			const double *sv = s_val + mu * NL, *sd = s_der + mu * NL;
			for (size_t k = 0; k < nr; k++) {
				const double *q = Q + k * NL, *dq = dQ + k * NL;
				double acc = 0;
				MTP_SIMD_SUM(acc)
				for (size_t l = 0; l < NL; l++)
					acc += q[l] * sv[l] + dq[l] * sd[l];
				g[k] += acc;
			}
		}
		for (size_t l = 0; l < nv && !same; l++) {
			double *g = gc + sb[l] * nm * nr;
			for (size_t mu = 0; mu < nm; mu++)
				for (size_t k = 0; k < nr; k++)
					g[mu * nr + k] += Q[k * NL + l] * s_val[mu * NL + l] +
							  dQ[k * NL + l] * s_der[mu * NL + l];
		}
	}
}

/* ---- values kept between passes (mlip_mtp_keep) ---------------------------------- */

/*
 * Only X is kept (and the JVP's tangents of X): the edge blocks are made again
 * in each pass, as storing them (1.5 KB per edge at level 16) and reading
 * them back from memory cost more than evaluating them.
 */
struct mtp_keep {
	const struct mlip_env *env; /* whose values are kept; NULL: nothing is */
	size_t n_centres, n_edges;
	const double *coef;         /* the coefficients they were made with */
	size_t max_bytes;
	int filled;                 /* x holds a forward's values */
	size_t n_tan;               /* tangents in xd (0: none), ... */
	const double *t_edge;       /* ... along these edge tangents */
	double *x;                  /* (n_centres, n_x) */
	size_t cap;                 /* doubles at x */
	double *xd;                 /* (n_centres, n_tan, n_x) the JVP's tangents of X */
	size_t cap_d;               /* doubles at xd */
};

void mlip_mtp_keep_drop(struct mlip_mtp *m)
{
	if (m->keep)
		m->keep->env = NULL;
}

static void keep_free(struct mtp_keep *k)
{
	if (k) {
		free(k->x);
		free(k->xd);
		free(k);
	}
}

/* A buffer of at least n doubles at *buf (capacity *cap), contents not kept; −1 if out of memory. */
static int keep_grow(double **buf, size_t *cap, size_t n)
{
	if (n <= *cap)
		return 0;
	free(*buf);
	*cap = 0;
	if (!(*buf = aligned_alloc(64, ((n + 7) & ~(size_t)7) * sizeof(double))))
		return -1;
	*cap = n;
	return 0;
}

void mlip_mtp_keep(struct mlip_mtp *m, const struct mlip_env *env, size_t max_bytes)
{
	const struct mtp_plan *p = m->plan;
	size_t N = env->n_centres, E = env->n_edges, need = N * p->n_x;
	mlip_mtp_keep_drop(m);
	if (need > max_bytes / sizeof(double))
		return;
	if (!m->keep && !(m->keep = calloc(1, sizeof(*m->keep))))
		return;
	struct mtp_keep *k = m->keep;
	if (keep_grow(&k->x, &k->cap, need))
		return;
	k->env = env;
	k->n_centres = N;
	k->n_edges = E;
	k->coef = m->coef;
	k->max_bytes = max_bytes;
	k->filled = 0;
	k->n_tan = 0;
	k->t_edge = NULL;
}

/* m's kept values for a pass on env, if they are env's. */
static struct mtp_keep *kept(const struct mlip_mtp *m, const struct mlip_env *env)
{
	struct mtp_keep *k = m->keep;
	return k && k->env == env && k->n_centres == env->n_centres && k->n_edges == env->n_edges &&
			       k->coef == m->coef ? k : NULL;
}

/*
 * X and the edge blocks of atom i in w->X and w->nb: X kept when a forward has
 * made it (the blocks evaluated), else both evaluated (X into the keep when
 * this pass fills it).
 */
static void atom_load(struct mtp_work *w, const struct mlip_mtp *m, const struct mlip_env *env,
		      size_t i, struct mtp_keep *k)
{
	if (!k) {
		w->X = w->X0;
		atom_tensors(w, m, env, i);
		return;
	}
	w->X = k->x + i * m->plan->n_x;
	if (!k->filled)
		atom_tensors(w, m, env, i);
	else
		atom_edges(w, m, env, i);
}

/* ---- passes over the atoms ------------------------------------------------------- */

enum { MTP_FORWARD, MTP_VJP, MTP_JVP, MTP_RADIAL };

struct mtp_pass {
	int mode;
	size_t n_w;
	double *G;            /* forward, JVP: output rows */
	const double *dG;     /* VJP: input rows */
	const size_t *row;    /* (n_w, N) */
	double *g_edge;       /* VJP: (n_w, E, 3) */
	const double *t_edge; /* JVP, radial: (n_w, E, 3) */
	const double *adj;    /* radial: adjoint rows, at row (1 + n_w, N) */
	double *g_atom;       /* radial: (n_centres, S, n_mu, n_radial) each atom's part */
	struct mtp_keep *keep; /* kept values of env, or NULL */
	double *xd;           /* JVP: kept tangents to write, radial: to read (n_centres, n_w, n_x),
				 or NULL */
};

static void pass_atom(struct mtp_work *w, const struct mtp_pass *ps, const struct mlip_mtp *m,
		      const struct mlip_env *env, size_t i)
{
	const size_t N = env->n_atoms, E = env->n_edges, nx = m->plan->n_x;
	if (ps->mode == MTP_RADIAL) {
		const size_t nc = m->n_elements * m->n_mu * m->n_radial;
		const double *aT[MLIP_MTP_MAX_TANGENTS];
		int any = 0;
		for (size_t h = 0; h <= ps->n_w && !any; h++) {
			const double *g = ps->adj + ps->row[h * N + i];
			for (size_t k = 0; k < m->n_basis && !any; k++)
				any = g[k] != 0;
		}
		if (!any)
			return;
		for (size_t t = 0; t < ps->n_w; t++)
			aT[t] = ps->adj + ps->row[(1 + t) * N + i];
		atom_load(w, m, env, i, ps->keep);
		atom_radial(ps->g_atom + i * nc, w, m, env, i, ps->adj + ps->row[i], aT, ps->t_edge,
			    ps->n_w, ps->xd ? ps->xd + i * ps->n_w * nx : NULL);
		return;
	}
	if (ps->mode == MTP_VJP) {
		int any = 0;
		for (size_t h = 0; h < ps->n_w && !any; h++) {
			const double *g = ps->dG + ps->row[h * N + i];
			for (size_t k = 0; k < m->n_basis && !any; k++)
				any = g[k] != 0;
		}
		if (!any)
			return;
	}
	atom_load(w, m, env, i, ps->keep);
	if (ps->mode == MTP_FORWARD)
		atom_forward(ps->G + ps->row[i], w, m);
	else if (ps->mode == MTP_VJP)
		for (size_t h = 0; h < ps->n_w; h++)
			atom_vjp(ps->g_edge + 3 * E * h, w->dX + h * nx, ps->dG + ps->row[h * N + i], w,
				 m, env, i);
	else
		for (size_t h = 0; h < ps->n_w; h++)
			atom_jvp(ps->G + ps->row[h * N + i],
				 ps->xd ? ps->xd + (i * ps->n_w + h) * nx : w->dX + h * nx,
				 ps->t_edge + 3 * E * h, w, m, env, i);
}

int mlip_mtp_threads(const struct mlip_mtp *m, size_t n_atoms)
{
	return mlip_pass_threads(m->n_threads, n_atoms, MTP_ATOMS_PER_TASK);
}

static int run_pass(struct mtp_pass *ps, const struct mlip_mtp *m, const struct mlip_env *env,
		    struct mlip_err *err)
{
	const size_t N = env->n_centres, nx = m->plan->n_x;
	struct mtp_keep *k = ps->keep = kept(m, env);
	/* Only a forward fills the keep; the JVP keeps its tangents when there is room. */
	if (k && !k->filled && ps->mode != MTP_FORWARD)
		k = ps->keep = NULL;
	if (k && ps->mode == MTP_JVP) {
		k->n_tan = 0;
		if ((k->cap + N * ps->n_w * nx) <= k->max_bytes / sizeof(double) &&
		    !keep_grow(&k->xd, &k->cap_d, N * ps->n_w * nx))
			ps->xd = k->xd;
	}
	if (k && ps->mode == MTP_RADIAL && k->n_tan == ps->n_w && k->t_edge == ps->t_edge)
		ps->xd = k->xd;
	int nt = mlip_mtp_threads(m, N), fail = 0;
	(void)nt;
	MTP_PRAGMA(omp parallel num_threads(nt) if (nt > 1) reduction(| : fail))
	{
		struct mtp_work w;
		/* Only the first n_w adjoint rows are used at a time; one pass holds them all.
		 * The radial gradient keeps X̄ and, per tangent, Ẋ and its adjoint. */
		fail = work_alloc(&w, m, env->max_nb,
				  ps->mode == MTP_RADIAL ? 1 + 2 * ps->n_w : ps->n_w) != 0;
		MTP_PRAGMA(omp for schedule(dynamic, MTP_ATOMS_PER_TASK))
		for (size_t i = 0; i < N; i++)
			if (!fail)
				pass_atom(&w, ps, m, env, i);
		work_free(&w);
	}
	if (fail) {
		mlip_mtp_keep_drop((struct mlip_mtp *)m);
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory for moment tensor scratch");
	}
	if (k && ps->mode == MTP_FORWARD)
		k->filled = 1;
	if (k && ps->mode == MTP_JVP && ps->xd) {
		k->n_tan = ps->n_w;
		k->t_edge = ps->t_edge;
	}
	return MLIP_OK;
}

int mlip_mtp_forward(double *G, const size_t *row, const struct mlip_mtp *m,
		     const struct mlip_env *env, struct mlip_err *err)
{
	struct mtp_pass ps = { .mode = MTP_FORWARD, .n_w = 1, .G = G, .row = row };
	return run_pass(&ps, m, env, err);
}

int mlip_mtp_vjp_multi(double *g_edge, const double *dG, const size_t *row, size_t n,
		       const struct mlip_mtp *m, const struct mlip_env *env, struct mlip_err *err)
{
	struct mtp_pass ps = { .mode = MTP_VJP, .n_w = n, .dG = dG, .row = row, .g_edge = g_edge };
	return n ? run_pass(&ps, m, env, err) : MLIP_OK;
}

int mlip_mtp_vjp(double *g_edge, const double *dG, const size_t *row, const struct mlip_mtp *m,
		 const struct mlip_env *env, struct mlip_err *err)
{
	return mlip_mtp_vjp_multi(g_edge, dG, row, 1, m, env, err);
}

int mlip_mtp_jvp_multi(double *dG, const size_t *row, const double *t_edge, size_t n,
		       const struct mlip_mtp *m, const struct mlip_env *env, struct mlip_err *err)
{
	struct mtp_pass ps = { .mode = MTP_JVP, .n_w = n, .G = dG, .row = row, .t_edge = t_edge };
	return n ? run_pass(&ps, m, env, err) : MLIP_OK;
}

int mlip_mtp_jvp(double *dG, const size_t *row, const double *t_edge, const struct mlip_mtp *m,
		 const struct mlip_env *env, struct mlip_err *err)
{
	return mlip_mtp_jvp_multi(dG, row, t_edge, 1, m, env, err);
}

void mlip_mtp_use_radial(struct mlip_mtp *m, const double *c)
{
	m->coef = c ? c : m->radial;
}

int mlip_mtp_radial_grad(double *g_radial, const double *adj, const size_t *row,
			 const double *t_edge, size_t n_tan, const struct mlip_mtp *m,
			 const struct mlip_env *env, struct mlip_err *err)
{
	const size_t S = m->n_elements, nc = S * m->n_mu * m->n_radial, N = env->n_centres;
	if (n_tan > MLIP_MTP_MAX_TANGENTS)
		return mlip_err_set(err, MLIP_EINVAL, "at most %d tangents, not %zu",
				    MLIP_MTP_MAX_TANGENTS, n_tan);
	double *g_atom = calloc(N * nc + 1, sizeof(double));
	if (!g_atom)
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory for the radial gradient");
	struct mtp_pass ps = { .mode = MTP_RADIAL, .n_w = n_tan, .row = row, .adj = adj,
			       .t_edge = t_edge, .g_atom = g_atom };
	int rc = run_pass(&ps, m, env, err);
	/* in atom order, whatever thread made each part */
	for (size_t i = 0; !rc && i < N; i++) {
		double *g = g_radial + (size_t)env->species[i] * nc;
		const double *ga = g_atom + i * nc;
		for (size_t k = 0; k < nc; k++)
			g[k] += ga[k];
	}
	free(g_atom);
	return rc;
}
