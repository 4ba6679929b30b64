/*
 * descriptor.c - symmetry functions: default sets, evaluation, VJP, JVP and
 * scaling statistics.
 *
 * How the evaluation is organised (the descriptor loops dominate the model's
 * cost, so this is where the time goes):
 *   - Functions are compiled per central element into a plan. Every
 *     distinct (η, r_s, r_c) becomes a "channel" c with the per-edge value
 *     e_c(R) = exp(−η(R − r_s)²) f_c(R) and its derivative; every distinct
 *     (λ, ζ) of an element-pair block becomes a "term"
 *     P(cos) = 2^{1−ζ} (1 + λ cos)^ζ. A G2 function is a channel summed over
 *     the neighbours of one element; a G9 function is a (term, channel) pair,
 *     since its summand factorises as P(cos θ_ijk) e_c(R_ij) e_c(R_ik).
 *   - Per atom i the neighbours are copied into structure-of-arrays scratch,
 *     grouped by element, with the channel values evaluated once per edge
 *     (one cos per distinct r_c, one exp per channel).
 *   - Pairs j<k are visited as: for each j, for each element group after j,
 *     a contiguous range of k. Over that range cos θ and the terms P (by
 *     repeated squaring for integer ζ, no pow) are computed as arrays, and
 *     each G9 function is a dot product Σ_k P_t[k] e_c[k], times e_c[j].
 *     The VJP and JVP use the same walk, with the adjoint / tangent of the
 *     channel values kept per edge and turned into vectors once per edge.
 *   - G3 functions do not factorise (they need R_jk); they are summed per
 *     triplet inside the same walk.
 * Geometry and sums are in double; only G rows and their adjoints are mlip_real.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "descriptor.h"
#include "banned.h"

/* ---- the compiled plan ------------------------------------------------ */

struct sf_chan {
	double eta, rs, rc;
	size_t rci; /* index of rc in the plan's distinct cutoffs */
};

struct sf_term {
	double lambda, zeta, pref; /* pref = 2^{1−ζ} */
	unsigned izeta;            /* ζ if it is an integer <= 1024, else 0 */
};

struct sf_ref {
	uint32_t term, ch, out;
};

struct sf_block {
	size_t n_terms, n9, n3;
	struct sf_term *terms; /* (n_terms) */
	struct sf_ref *g9;     /* (n9) */
	struct sf_ref *g3;     /* (n3) */
};

struct sf_plan {
	size_t dim, n_ch, n_rc, max_terms;
	struct sf_chan *ch;                      /* (n_ch) */
	double *rc;                              /* (n_rc) distinct cutoffs */
	size_t rad_start[MLIP_MAX_ELEMENTS + 1]; /* radial functions of neighbour element s */
	struct sf_ref *rad;                      /* (n radial), .term unused */
	struct sf_block *blocks;                 /* (S, S), used for s1 <= s2 */
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
		}
	free(p->blocks);
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
	t->izeta = (f->zeta == floor(f->zeta) && f->zeta <= 1024) ? (unsigned)f->zeta : 0;
	return (uint32_t)b->n_terms++;
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
		if (b->n_terms > p->max_terms)
			p->max_terms = b->n_terms;
	}
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
	env->n_atoms = N;
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

enum { WANT_DERIV = 1, WANT_VJP = 2, WANT_JVP = 4 };

struct sf_work {
	size_t stride, n;                      /* capacity and current neighbour count */
	size_t gstart[MLIP_MAX_ELEMENTS + 1];  /* neighbours of element s: [gstart[s], gstart[s+1]) */
	size_t *edge;                          /* (stride) edge index of neighbour k */
	double *R, *inv, *ux, *uy, *uz;        /* (stride) */
	double *e, *de;                        /* (n_ch, stride) channel values, d/dR */
	double *c, *tb, *tq;                   /* (stride) cos θ, power scratch */
	double *P, *dP;                        /* (max_terms, stride) */
	double *ge, *gx, *gy, *gz, *dc;        /* VJP: channel adjoints (n_ch, stride), vectors */
	double *tx, *ty, *tz, *Rd, *ed, *cd;   /* JVP: tangents, dR, de (n_ch, stride), dcos */
	double *fc, *dfc;                      /* (n_ch) cutoff function per distinct r_c */
	double *acc;                           /* (max_dim) */
	double *mem;
};

static int work_alloc(struct sf_work *w, const struct mlip_descriptor *d, size_t max_nb,
		      struct mlip_err *err)
{
	size_t n_ch = 1, n_t = 1;
	for (size_t e = 0; e < d->n_elements; e++) {
		if (d->plan[e].n_ch > n_ch)
			n_ch = d->plan[e].n_ch;
		if (d->plan[e].max_terms > n_t)
			n_t = d->plan[e].max_terms;
	}
	size_t s = (max_nb + 7) & ~(size_t)7;
	if (!s)
		s = 8;
	memset(w, 0, sizeof(*w));
	w->stride = s;
	size_t nd = s * (5 + 3 + 4 + 5) + s * n_ch * 4 + s * n_t * 2 + 2 * n_ch + d->max_dim;
	w->mem = malloc(nd * sizeof(double));
	w->edge = malloc(s * sizeof(size_t));
	if (!w->mem || !w->edge) {
		free(w->mem);
		free(w->edge);
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory for descriptor scratch");
	}
	double *p = w->mem;
#define TAKE(ptr, count) (w->ptr = p, p += (count))
	TAKE(R, s); TAKE(inv, s); TAKE(ux, s); TAKE(uy, s); TAKE(uz, s);
	TAKE(c, s); TAKE(tb, s); TAKE(tq, s);
	TAKE(gx, s); TAKE(gy, s); TAKE(gz, s); TAKE(dc, s);
	TAKE(tx, s); TAKE(ty, s); TAKE(tz, s); TAKE(Rd, s); TAKE(cd, s);
	TAKE(e, s * n_ch); TAKE(de, s * n_ch); TAKE(ge, s * n_ch); TAKE(ed, s * n_ch);
	TAKE(P, s * n_t); TAKE(dP, s * n_t);
	TAKE(fc, n_ch); TAKE(dfc, n_ch);
	TAKE(acc, d->max_dim);
#undef TAKE
	MLIP_ASSERT(p <= w->mem + nd);
	return MLIP_OK;
}

static void work_free(struct sf_work *w)
{
	free(w->mem);
	free(w->edge);
}

/*
 * Copy the neighbours of atom i into the scratch, grouped by element, and
 * evaluate every channel (and its R-derivative if WANT_DERIV).
 */
static void load_atom(struct sf_work *w, const struct sf_plan *p, const struct mlip_env *env,
		      size_t S, size_t i, unsigned want)
{
	size_t e0 = env->first[i], n = env->first[i + 1] - e0, st = w->stride;
	size_t pos[MLIP_MAX_ELEMENTS + 1] = { 0 };
	for (size_t k = 0; k < n; k++)
		pos[env->species[env->nbr[e0 + k]] + 1]++;
	for (size_t s = 0; s < S; s++)
		pos[s + 1] += pos[s];
	memcpy(w->gstart, pos, (S + 1) * sizeof(size_t));
	for (size_t k = 0; k < n; k++) {
		size_t m = pos[env->species[env->nbr[e0 + k]]]++;
		const double *r = env->r + 3 * (e0 + k);
		double R = sqrt(r[0] * r[0] + r[1] * r[1] + r[2] * r[2]), inv = 1 / R;
		w->edge[m] = e0 + k;
		w->R[m] = R;
		w->inv[m] = inv;
		w->ux[m] = r[0] * inv;
		w->uy[m] = r[1] * inv;
		w->uz[m] = r[2] * inv;
	}
	w->n = n;
	double *fc = w->fc, *dfc = w->dfc;
	for (size_t k = 0; k < n; k++) {
		double R = w->R[k];
		for (size_t q = 0; q < p->n_rc; q++) {
			double rc = p->rc[q];
			if (R < rc) {
				double sn, cs, x = M_PI / rc;
				sincos(x * R, &sn, &cs);
				fc[q] = 0.5 * (cs + 1);
				dfc[q] = -0.5 * x * sn;
			} else {
				fc[q] = dfc[q] = 0;
			}
		}
		for (size_t c = 0; c < p->n_ch; c++) {
			const struct sf_chan *ch = &p->ch[c];
			double v = 0, dv = 0;
			if (fc[ch->rci] != 0 || dfc[ch->rci] != 0) {
				double dr = R - ch->rs, g = exp(-ch->eta * dr * dr);
				v = g * fc[ch->rci];
				dv = g * (dfc[ch->rci] - 2 * ch->eta * dr * fc[ch->rci]);
			}
			w->e[c * st + k] = v;
			if (want & WANT_DERIV)
				w->de[c * st + k] = dv;
		}
	}
}

/* cos θ_jk for k in [lo, hi). */
static void cos_range(struct sf_work *w, size_t j, size_t lo, size_t hi)
{
	double xj = w->ux[j], yj = w->uy[j], zj = w->uz[j];
	const double *restrict ux = w->ux, *restrict uy = w->uy, *restrict uz = w->uz;
	double *restrict c = w->c;
	for (size_t k = lo; k < hi; k++)
		c[k] = xj * ux[k] + yj * uy[k] + zj * uz[k];
}

/*
 * P_t[k] = 2^{1−ζ}(1 + λc)^ζ and, if dP, its c-derivative, for k in [lo, hi).
 * The common integer ζ have straight-line loops (they vectorise); any other
 * integer ζ uses repeated squaring, a non-integer ζ pow().
 */
static void term_range(struct sf_work *w, const struct sf_term *t, double *restrict P,
		       double *restrict dP, size_t lo, size_t hi)
{
	const double *restrict c = w->c;
	double lam = t->lambda, pf = t->pref, zl = t->zeta * t->lambda * t->pref;
#define BASE(k) (1 + lam * c[k] > 0 ? 1 + lam * c[k] : 0)
#define TERM_LOOP(PEXPR, DEXPR)                                     \
	do {                                                        \
		if (dP)                                             \
			for (size_t k = lo; k < hi; k++) {          \
				double b = BASE(k);                 \
				P[k] = pf * (PEXPR);                \
				dP[k] = zl * (DEXPR);               \
			}                                           \
		else                                                \
			for (size_t k = lo; k < hi; k++) {          \
				double b = BASE(k);                 \
				P[k] = pf * (PEXPR);                \
			}                                           \
	} while (0)
	switch (t->izeta) {
	case 1:
		TERM_LOOP(b, 1.0);
		return;
	case 2:
		TERM_LOOP(b * b, b);
		return;
	case 4:
		TERM_LOOP((b * b) * (b * b), (b * b) * b);
		return;
	case 8:
		TERM_LOOP(((b * b) * (b * b)) * ((b * b) * (b * b)), ((b * b) * (b * b)) * (b * b) * b);
		return;
	case 16: {
		TERM_LOOP(((b * b) * (b * b)) * ((b * b) * (b * b)) * (((b * b) * (b * b)) *
								      ((b * b) * (b * b))),
			  ((b * b) * (b * b)) * ((b * b) * (b * b)) * ((b * b) * (b * b)) *
				  (b * b) * b);
		return;
	}
	default:
		break;
	}
	double *restrict q = w->tq, *restrict bb = w->tb;
	if (t->izeta) {
		unsigned ex = t->izeta - 1;
		for (size_t k = lo; k < hi; k++) {
			bb[k] = BASE(k);
			q[k] = 1;
		}
		/* q = b^{ζ−1} by repeated squaring, the same exponent for the whole range. */
		while (ex) {
			if (ex & 1)
				for (size_t k = lo; k < hi; k++)
					q[k] *= bb[k];
			ex >>= 1;
			if (ex)
				for (size_t k = lo; k < hi; k++)
					bb[k] *= bb[k];
		}
	} else {
		for (size_t k = lo; k < hi; k++)
			q[k] = BASE(k) > 0 ? pow(BASE(k), t->zeta - 1) : 0;
	}
	for (size_t k = lo; k < hi; k++)
		P[k] = pf * q[k] * BASE(k);
	if (dP)
		for (size_t k = lo; k < hi; k++)
			dP[k] = zl * q[k];
#undef TERM_LOOP
#undef BASE
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

/* ---- forward ---------------------------------------------------------------- */

static void forward_atom(struct sf_work *w, const struct sf_plan *p, size_t S)
{
	size_t st = w->stride, n = w->n;
	double *acc = w->acc;
	memset(acc, 0, p->dim * sizeof(double));
	for (size_t s = 0; s < S; s++)
		for (size_t r = p->rad_start[s]; r < p->rad_start[s + 1]; r++) {
			const double *ec = w->e + p->rad[r].ch * st;
			double sum = 0;
			for (size_t k = w->gstart[s]; k < w->gstart[s + 1]; k++)
				sum += ec[k];
			acc[p->rad[r].out] += sum;
		}
	if (!p->max_terms)
		return;
	for (size_t j = 0; j + 1 < n; j++) {
		size_t sj = 0;
		while (j >= w->gstart[sj + 1])
			sj++;
		for (size_t s2 = sj; s2 < S; s2++) {
			const struct sf_block *b = &p->blocks[sj * S + s2];
			size_t lo = s2 == sj ? j + 1 : w->gstart[s2], hi = w->gstart[s2 + 1];
			if (lo >= hi || !b->n_terms)
				continue;
			cos_range(w, j, lo, hi);
			for (size_t t = 0; t < b->n_terms; t++)
				term_range(w, &b->terms[t], w->P + t * st, NULL, lo, hi);
			for (size_t f = 0; f < b->n9; f++) {
				const double *restrict ec = w->e + b->g9[f].ch * st;
				const double *restrict P = w->P + b->g9[f].term * st;
				if (ec[j] == 0)
					continue;
				double sum = 0;
				for (size_t k = lo; k < hi; k++)
					sum += P[k] * ec[k];
				acc[b->g9[f].out] += ec[j] * sum;
			}
			for (size_t f = 0; f < b->n3; f++) {
				const struct sf_chan *ch = &p->ch[b->g3[f].ch];
				const double *ec = w->e + b->g3[f].ch * st;
				const double *P = w->P + b->g3[f].term * st;
				if (ec[j] == 0)
					continue;
				double sum = 0, dv;
				for (size_t k = lo; k < hi; k++) {
					double dx = w->R[k] * w->ux[k] - w->R[j] * w->ux[j];
					double dy = w->R[k] * w->uy[k] - w->R[j] * w->uy[j];
					double dz = w->R[k] * w->uz[k] - w->R[j] * w->uz[j];
					double Rjk = sqrt(dx * dx + dy * dy + dz * dz);
					sum += P[k] * ec[k] * g3_factor(ch, Rjk, &dv);
				}
				acc[b->g3[f].out] += ec[j] * sum;
			}
		}
	}
}

int mlip_descriptor_forward(mlip_real *G, const size_t *row, const struct mlip_descriptor *d,
			    const struct mlip_env *env, struct mlip_err *err)
{
	struct sf_work w;
	int rc;
	if ((rc = work_alloc(&w, d, env->max_nb, err)))
		return rc;
	for (size_t i = 0; i < env->n_atoms; i++) {
		const struct sf_plan *p = &d->plan[env->species[i]];
		load_atom(&w, p, env, d->n_elements, i, 0);
		forward_atom(&w, p, d->n_elements);
		mlip_real *g = G + row[i];
		for (size_t k = 0; k < p->dim; k++)
			g[k] = (mlip_real)w.acc[k];
	}
	work_free(&w);
	return MLIP_OK;
}

/* ---- VJP ---------------------------------------------------------------------- */

/* dc[k] is dL/dcos θ_jk: add its position terms to the vectors of j and k. */
static void angle_vjp(struct sf_work *w, size_t j, size_t lo, size_t hi)
{
	const double *restrict ux = w->ux, *restrict uy = w->uy, *restrict uz = w->uz;
	const double *restrict c = w->c, *restrict dc = w->dc, *restrict inv = w->inv;
	double *restrict gx = w->gx, *restrict gy = w->gy, *restrict gz = w->gz;
	double xj = ux[j], yj = uy[j], zj = uz[j], sx = 0, sy = 0, sz = 0;
	/* ∂cos/∂r_k = (u_j − cos u_k)/R_k, ∂cos/∂r_j = (u_k − cos u_j)/R_j */
	for (size_t k = lo; k < hi; k++) {
		double a = dc[k] * inv[k];
		gx[k] += a * (xj - c[k] * ux[k]);
		gy[k] += a * (yj - c[k] * uy[k]);
		gz[k] += a * (zj - c[k] * uz[k]);
		sx += dc[k] * (ux[k] - c[k] * xj);
		sy += dc[k] * (uy[k] - c[k] * yj);
		sz += dc[k] * (uz[k] - c[k] * zj);
	}
	gx[j] += sx * inv[j];
	gy[j] += sy * inv[j];
	gz[j] += sz * inv[j];
}

static void vjp_atom(struct sf_work *w, const struct sf_plan *p, size_t S, const double *wt)
{
	size_t st = w->stride, n = w->n;
	memset(w->ge, 0, p->n_ch * st * sizeof(double));
	memset(w->gx, 0, n * sizeof(double));
	memset(w->gy, 0, n * sizeof(double));
	memset(w->gz, 0, n * sizeof(double));
	for (size_t s = 0; s < S; s++)
		for (size_t r = p->rad_start[s]; r < p->rad_start[s + 1]; r++) {
			double a = wt[p->rad[r].out];
			double *gc = w->ge + p->rad[r].ch * st;
			for (size_t k = w->gstart[s]; k < w->gstart[s + 1]; k++)
				gc[k] += a;
		}
	for (size_t j = 0; p->max_terms && j + 1 < n; j++) {
		size_t sj = 0;
		while (j >= w->gstart[sj + 1])
			sj++;
		for (size_t s2 = sj; s2 < S; s2++) {
			const struct sf_block *b = &p->blocks[sj * S + s2];
			size_t lo = s2 == sj ? j + 1 : w->gstart[s2], hi = w->gstart[s2 + 1];
			if (lo >= hi || !b->n_terms)
				continue;
			cos_range(w, j, lo, hi);
			for (size_t t = 0; t < b->n_terms; t++)
				term_range(w, &b->terms[t], w->P + t * st, w->dP + t * st, lo, hi);
			double *restrict dc = w->dc;
			for (size_t k = lo; k < hi; k++)
				dc[k] = 0;
			for (size_t f = 0; f < b->n9; f++) {
				const double *restrict ec = w->e + b->g9[f].ch * st;
				double *restrict gc = w->ge + b->g9[f].ch * st;
				const double *restrict P = w->P + b->g9[f].term * st;
				const double *restrict dP = w->dP + b->g9[f].term * st;
				double a = wt[b->g9[f].out], aej = a * ec[j], sum = 0;
				if (aej == 0)
					continue;
				for (size_t k = lo; k < hi; k++) {
					sum += P[k] * ec[k];
					gc[k] += aej * P[k];
					dc[k] += aej * dP[k] * ec[k];
				}
				gc[j] += a * sum;
			}
			for (size_t f = 0; f < b->n3; f++) {
				const struct sf_chan *ch = &p->ch[b->g3[f].ch];
				const double *ec = w->e + b->g3[f].ch * st;
				double *gc = w->ge + b->g3[f].ch * st;
				const double *P = w->P + b->g3[f].term * st;
				const double *dP = w->dP + b->g3[f].term * st;
				double a = wt[b->g3[f].out], ej = ec[j];
				if (a * ej == 0)
					continue;
				for (size_t k = lo; k < hi; k++) {
					double dx = w->R[k] * w->ux[k] - w->R[j] * w->ux[j];
					double dy = w->R[k] * w->uy[k] - w->R[j] * w->uy[j];
					double dz = w->R[k] * w->uz[k] - w->R[j] * w->uz[j];
					double Rjk = sqrt(dx * dx + dy * dy + dz * dz), d3;
					double e3 = g3_factor(ch, Rjk, &d3);
					if (e3 == 0 && d3 == 0)
						continue;
					double ek = ec[k];
					dc[k] += a * dP[k] * ej * ek * e3;
					gc[j] += a * P[k] * ek * e3;
					gc[k] += a * P[k] * ej * e3;
					/* R_jk = |r_k − r_j|: d/dr_k = u_jk, d/dr_j = −u_jk */
					double g = a * P[k] * ej * ek * d3 / Rjk;
					w->gx[k] += g * dx;
					w->gy[k] += g * dy;
					w->gz[k] += g * dz;
					w->gx[j] -= g * dx;
					w->gy[j] -= g * dy;
					w->gz[j] -= g * dz;
				}
			}
			angle_vjp(w, j, lo, hi);
		}
	}
}

int mlip_descriptor_vjp(double *g_edge, const mlip_real *dG, const size_t *row,
			const struct mlip_descriptor *d, const struct mlip_env *env,
			struct mlip_err *err)
{
	struct sf_work w;
	int rc;
	if ((rc = work_alloc(&w, d, env->max_nb, err)))
		return rc;
	double *wt = malloc((d->max_dim ? d->max_dim : 1) * sizeof(double));
	if (!wt) {
		work_free(&w);
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory for descriptor scratch");
	}
	size_t st = w.stride;
	for (size_t i = 0; i < env->n_atoms; i++) {
		const struct sf_plan *p = &d->plan[env->species[i]];
		const mlip_real *g = dG + row[i];
		int any = 0;
		for (size_t k = 0; k < p->dim; k++) {
			wt[k] = (double)g[k];
			any |= wt[k] != 0;
		}
		if (!any)
			continue;
		load_atom(&w, p, env, d->n_elements, i, WANT_DERIV);
		vjp_atom(&w, p, d->n_elements, wt);
		for (size_t k = 0; k < w.n; k++) {
			double gr = 0;
			for (size_t c = 0; c < p->n_ch; c++)
				gr += w.ge[c * st + k] * w.de[c * st + k];
			double *ge = g_edge + 3 * w.edge[k];
			ge[0] += w.gx[k] + gr * w.ux[k];
			ge[1] += w.gy[k] + gr * w.uy[k];
			ge[2] += w.gz[k] + gr * w.uz[k];
		}
	}
	free(wt);
	work_free(&w);
	return MLIP_OK;
}

/* ---- JVP ------------------------------------------------------------------------ */

static void jvp_atom(struct sf_work *w, const struct sf_plan *p, size_t S)
{
	size_t st = w->stride, n = w->n;
	double *acc = w->acc;
	memset(acc, 0, p->dim * sizeof(double));
	for (size_t k = 0; k < n; k++) {
		w->Rd[k] = w->ux[k] * w->tx[k] + w->uy[k] * w->ty[k] + w->uz[k] * w->tz[k];
		for (size_t c = 0; c < p->n_ch; c++)
			w->ed[c * st + k] = w->de[c * st + k] * w->Rd[k];
	}
	for (size_t s = 0; s < S; s++)
		for (size_t r = p->rad_start[s]; r < p->rad_start[s + 1]; r++) {
			const double *ed = w->ed + p->rad[r].ch * st;
			double sum = 0;
			for (size_t k = w->gstart[s]; k < w->gstart[s + 1]; k++)
				sum += ed[k];
			acc[p->rad[r].out] += sum;
		}
	for (size_t j = 0; p->max_terms && j + 1 < n; j++) {
		size_t sj = 0;
		while (j >= w->gstart[sj + 1])
			sj++;
		for (size_t s2 = sj; s2 < S; s2++) {
			const struct sf_block *b = &p->blocks[sj * S + s2];
			size_t lo = s2 == sj ? j + 1 : w->gstart[s2], hi = w->gstart[s2 + 1];
			if (lo >= hi || !b->n_terms)
				continue;
			cos_range(w, j, lo, hi);
			for (size_t t = 0; t < b->n_terms; t++)
				term_range(w, &b->terms[t], w->P + t * st, w->dP + t * st, lo, hi);
			{
				/* d cos θ_jk = (u_k·t_j − cos Ṙ_j)/R_j + (u_j·t_k − cos Ṙ_k)/R_k */
				const double *restrict ux = w->ux, *restrict uy = w->uy,
						       *restrict uz = w->uz;
				const double *restrict tx = w->tx, *restrict ty = w->ty,
						       *restrict tz = w->tz;
				const double *restrict c = w->c, *restrict Rd = w->Rd,
						       *restrict inv = w->inv;
				double *restrict cd = w->cd;
				double xj = ux[j], yj = uy[j], zj = uz[j];
				double txj = tx[j], tyj = ty[j], tzj = tz[j], Rdj = Rd[j],
				       ij = inv[j];
				for (size_t k = lo; k < hi; k++)
					cd[k] = (ux[k] * txj + uy[k] * tyj + uz[k] * tzj - c[k] * Rdj) * ij +
						(xj * tx[k] + yj * ty[k] + zj * tz[k] - c[k] * Rd[k]) *
							inv[k];
			}
			for (size_t f = 0; f < b->n9; f++) {
				const double *restrict ec = w->e + b->g9[f].ch * st;
				const double *restrict ed = w->ed + b->g9[f].ch * st;
				const double *restrict P = w->P + b->g9[f].term * st;
				const double *restrict dP = w->dP + b->g9[f].term * st;
				const double *restrict cd = w->cd;
				if (ec[j] == 0)
					continue;
				double s1 = 0, s2v = 0;
				for (size_t k = lo; k < hi; k++) {
					s1 += P[k] * ec[k];
					s2v += dP[k] * cd[k] * ec[k] + P[k] * ed[k];
				}
				acc[b->g9[f].out] += ed[j] * s1 + ec[j] * s2v;
			}
			for (size_t f = 0; f < b->n3; f++) {
				const struct sf_chan *ch = &p->ch[b->g3[f].ch];
				const double *ec = w->e + b->g3[f].ch * st;
				const double *ed = w->ed + b->g3[f].ch * st;
				const double *P = w->P + b->g3[f].term * st;
				const double *dP = w->dP + b->g3[f].term * st;
				double ej = ec[j], edj = ed[j], sum = 0;
				if (ej == 0)
					continue;
				for (size_t k = lo; k < hi; k++) {
					double dx = w->R[k] * w->ux[k] - w->R[j] * w->ux[j];
					double dy = w->R[k] * w->uy[k] - w->R[j] * w->uy[j];
					double dz = w->R[k] * w->uz[k] - w->R[j] * w->uz[j];
					double Rjk = sqrt(dx * dx + dy * dy + dz * dz), d3;
					double e3 = g3_factor(ch, Rjk, &d3);
					if (e3 == 0 && d3 == 0)
						continue;
					double Rjkd = (dx * (w->tx[k] - w->tx[j]) + dy * (w->ty[k] - w->ty[j]) +
						       dz * (w->tz[k] - w->tz[j])) / Rjk;
					double ek = ec[k];
					sum += dP[k] * w->cd[k] * ej * ek * e3 +
					       P[k] * (edj * ek * e3 + ej * ed[k] * e3 + ej * ek * d3 * Rjkd);
				}
				acc[b->g3[f].out] += sum;
			}
		}
	}
}

int mlip_descriptor_jvp(mlip_real *dG, const size_t *row, const double *t_edge,
			const struct mlip_descriptor *d, const struct mlip_env *env,
			struct mlip_err *err)
{
	struct sf_work w;
	int rc;
	if ((rc = work_alloc(&w, d, env->max_nb, err)))
		return rc;
	for (size_t i = 0; i < env->n_atoms; i++) {
		const struct sf_plan *p = &d->plan[env->species[i]];
		load_atom(&w, p, env, d->n_elements, i, WANT_DERIV);
		for (size_t k = 0; k < w.n; k++) {
			const double *t = t_edge + 3 * w.edge[k];
			w.tx[k] = t[0];
			w.ty[k] = t[1];
			w.tz[k] = t[2];
		}
		jvp_atom(&w, p, d->n_elements);
		mlip_real *g = dG + row[i];
		for (size_t k = 0; k < p->dim; k++)
			g[k] = (mlip_real)w.acc[k];
	}
	work_free(&w);
	return MLIP_OK;
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

void mlip_sf_stats_add(struct mlip_sf_stats *s, const mlip_real *G, const size_t *row,
		       const struct mlip_env *env)
{
	for (size_t i = 0; i < env->n_atoms; i++) {
		size_t e = (size_t)env->species[i], o = s->off[e], n = s->off[e + 1] - o;
		double c = ++s->count[e];
		const mlip_real *g = G + row[i];
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

void mlip_sf_stats_result(const struct mlip_sf_stats *s, size_t e, mlip_real *mean,
			  mlip_real *std)
{
	size_t o = s->off[e], n = s->off[e + 1] - o;
	for (size_t k = 0; k < n; k++) {
		double c = s->count[e];
		double sd = c > 0 ? sqrt(s->m2[o + k] / c) : 1;
		mean[k] = (mlip_real)(c > 0 ? s->mean[o + k] : 0);
		std[k] = (mlip_real)(sd < 1e-12 ? 1 : sd);
	}
}
