/*
 * nlist.c - neighbour lists: the O(N) cell-list build and the brute-force
 * reference it is tested against.
 *
 * Frame. Both builds work in a frame G whose rows are the cell vectors along
 * periodic axes and, along non-periodic axes, unit vectors orthogonal to them
 * (the identity for a cluster). Only periodic vectors ever enter r_ij (n = 0
 * elsewhere), so the cell given along a non-periodic axis is ignored and may
 * be zero. Fractional coordinates are f = r G⁻¹; a vector of length L spans at
 * most L / w_k in f_k, where w_k = 1 / |column k of G⁻¹| is the perpendicular
 * width of G along k. That bound holds for any skew and sizes both the brute
 * force's image range and the fast path's bins.
 *
 * Fast path (mlip_nlist_build):
 *  1. wrap each atom along periodic axes, r' = r − s·H with s = floor(f), and
 *     keep s: an image m of the wrapped atom j seen from the wrapped atom i is
 *     the image n = m + s_i − s_j of the input positions;
 *  2. bin f on a grid whose bins are at least R wide perpendicular to their
 *     faces ([0, 1) along periodic axes, the bounding box elsewhere; at most
 *     about 2N bins), counting-sorted so each bin's atoms are contiguous;
 *  3. for each atom i in input order, visit the bins within ceil(R / bin
 *     width) along each axis; past the edge of a periodic axis the bin index
 *     wraps and the image m changes, so a thin cell just visits more images;
 *  4. a candidate within R plus a rounding band is measured again with the
 *     brute force's exact expression r_j − r_i + n·H, so both builds decide
 *     the cutoff and the duplicate threshold identically, bit for bit;
 *  5. the edges of i are sorted by (j, n) (insertion sort for the usual few
 *     dozen, qsort beyond) and appended, so the output is ordered like the
 *     brute force's loops.
 * R = max(cutoff, MLIP_DUPLICATE_DISTANCE), so duplicates are always seen.
 * A duplicate is reported after atom i is complete, as the smallest (j, n),
 * which is the one the brute force's loop order meets first.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nlist.h"
#include "banned.h"

#define NLIST_BIN_MARGIN 1e-6        /* bins are R·(1 + this) wide at least */
#define NLIST_ROUND_BAND 1e-10       /* relative band re-measured exactly */
#define NLIST_MAX_STENCIL 1e8        /* bins (with images) visited per atom */
#define NLIST_MAX_SHIFT (1 << 29)    /* |s| for an unwrapped atom, |reach| */
#define NLIST_MAX_BINS_AXIS (1 << 20)
#define NLIST_INSERTION_SORT 48

struct nlist_frame {
	double g[9];      /* (3, 3) rows: periodic cell vectors, orthonormal completion */
	double ginv[9];   /* (3, 3) f = r · ginv */
	double width[3];  /* perpendicular width of G along each axis */
	int periodic[3];
};

struct nlist_edge {
	int32_t j;
	int32_t n[3];
};

void mlip_nlist_init(struct mlip_nlist *nl)
{
	memset(nl, 0, sizeof(*nl));
}

void mlip_nlist_release(struct mlip_nlist *nl)
{
	free(nl->i);
	free(nl->j);
	free(nl->shift);
	free(nl->first);
	mlip_nlist_init(nl);
}

static void cross3(double out[3], const double u[3], const double v[3])
{
	out[0] = u[1] * v[2] - u[2] * v[1];
	out[1] = u[2] * v[0] - u[0] * v[2];
	out[2] = u[0] * v[1] - u[1] * v[0];
}

static double norm3(const double v[3])
{
	return sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
}

static void scale3(double v[3], double a)
{
	v[0] *= a;
	v[1] *= a;
	v[2] *= a;
}

/* G from the periodic cell vectors; MLIP_EDATA if they are dependent. */
static int frame_init(struct nlist_frame *fr, const struct mlip_structure *s,
		      struct mlip_err *err)
{
	int per[3], np = 0;
	memset(fr, 0, sizeof(*fr));
	for (int k = 0; k < 3; k++) {
		per[k] = fr->periodic[k] = s->pbc[k] != 0;
		np += per[k];
		for (int x = 0; x < 3; x++) {
			if (!isfinite(s->cell[3 * k + x]))
				return mlip_err_set(err, MLIP_EDATA, "cell vector %d is not finite",
						    k + 1);
			if (per[k])
				fr->g[3 * k + x] = s->cell[3 * k + x];
		}
	}
	double *g = fr->g;
	if (np == 0) {
		g[0] = g[4] = g[8] = 1;
	} else if (np == 1) {
		int k = per[0] ? 0 : per[1] ? 1 : 2;
		double *a = g + 3 * k, *u = g + 3 * ((k + 1) % 3), *v = g + 3 * ((k + 2) % 3);
		double la = norm3(a), e[3] = { 0, 0, 0 };
		if (!(la > 0))
			return mlip_err_set(err, MLIP_EDATA,
					    "cell vector %d is zero but the structure is periodic along it",
					    k + 1);
		/* the axis least aligned with a gives a well-conditioned normal */
		int x = 0;
		for (int y = 1; y < 3; y++)
			if (fabs(a[y]) < fabs(a[x]))
				x = y;
		e[x] = 1;
		cross3(u, a, e);
		scale3(u, 1 / norm3(u));
		cross3(v, a, u);
		scale3(v, 1 / norm3(v));
	} else if (np == 2) {
		int k = !per[0] ? 0 : !per[1] ? 1 : 2;
		double *c = g + 3 * k;
		cross3(c, g + 3 * ((k + 1) % 3), g + 3 * ((k + 2) % 3));
		double lc = norm3(c);
		if (lc > 0)
			scale3(c, 1 / lc);
	}
	double prod = norm3(g) * norm3(g + 3) * norm3(g + 6);
	double vol = mlip_cell_volume(g);
	if (!(vol > 1e-10 * prod) || mlip_mat3_inverse(fr->ginv, g))
		return mlip_err_set(err, MLIP_EDATA,
				    "cell is singular along its periodic axes (volume %g Å³)",
				    mlip_cell_volume(s->cell));
	for (int k = 0; k < 3; k++) {
		const double *gi = fr->ginv;
		double col[3] = { gi[k], gi[3 + k], gi[6 + k] };
		fr->width[k] = 1 / norm3(col);
	}
	return MLIP_OK;
}

static void frac_of(double f[3], const double r[3], const double ginv[9])
{
	for (int k = 0; k < 3; k++)
		f[k] = r[0] * ginv[k] + r[1] * ginv[3 + k] + r[2] * ginv[6 + k];
}

/* Everything both builds refuse, checked in the same order. */
static int nlist_check(const struct mlip_structure *s, double cutoff, struct nlist_frame *fr,
		       struct mlip_err *err)
{
	if (!(cutoff > 0) || !isfinite(cutoff))
		return mlip_err_set(err, MLIP_EINVAL, "cutoff must be a positive number, not %g",
				    cutoff);
	if (s->natoms > INT32_MAX)
		return mlip_err_set(err, MLIP_EINVAL, "too many atoms (%zu) for a neighbour list",
				    s->natoms);
	for (size_t i = 0; i < 3 * s->natoms; i++)
		if (!isfinite(s->positions[i]))
			return mlip_err_set(err, MLIP_EDATA, "atom %zu: position is not finite",
					    i / 3 + 1);
	return frame_init(fr, s, err);
}

static void reach_of(int reach[3], const struct nlist_frame *fr, const struct mlip_structure *s,
		     double r)
{
	double lo[3] = { 0, 0, 0 }, hi[3] = { 0, 0, 0 };
	for (size_t i = 0; i < s->natoms; i++) {
		double f[3];
		frac_of(f, s->positions + 3 * i, fr->ginv);
		for (int k = 0; k < 3; k++) {
			lo[k] = i ? fmin(lo[k], f[k]) : f[k];
			hi[k] = i ? fmax(hi[k], f[k]) : f[k];
		}
	}
	for (int k = 0; k < 3; k++) {
		double x = ceil(r / fr->width[k] + (hi[k] - lo[k])) + 1;
		reach[k] = !fr->periodic[k] ? 0 : x < NLIST_MAX_SHIFT ? (int)x : NLIST_MAX_SHIFT;
	}
}

void mlip_nlist_reach(int reach[3], const struct mlip_structure *s, double cutoff)
{
	struct nlist_frame fr;
	reach[0] = reach[1] = reach[2] = 0;
	if (frame_init(&fr, s, NULL) == MLIP_OK)
		reach_of(reach, &fr, s, cutoff);
}

static int nlist_reserve(struct mlip_nlist *nl, size_t need, struct mlip_err *err)
{
	if (need <= nl->alloc)
		return MLIP_OK;
	size_t alloc = nl->alloc ? nl->alloc : 1024;
	while (alloc < need)
		alloc *= 2;
	int32_t *ni = realloc(nl->i, alloc * sizeof(int32_t));
	if (ni)
		nl->i = ni;
	int32_t *nj = realloc(nl->j, alloc * sizeof(int32_t));
	if (nj)
		nl->j = nj;
	int32_t *ns = realloc(nl->shift, 3 * alloc * sizeof(int32_t));
	if (ns)
		nl->shift = ns;
	if (!ni || !nj || !ns)
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory for %zu edges", alloc);
	nl->alloc = alloc;
	return MLIP_OK;
}

static int nlist_push(struct mlip_nlist *nl, int32_t i, int32_t j, const int n[3],
		      struct mlip_err *err)
{
	int rc = nlist_reserve(nl, nl->n_edges + 1, err);
	if (rc)
		return rc;
	size_t e = nl->n_edges++;
	nl->i[e] = i;
	nl->j[e] = j;
	nl->shift[3 * e + 0] = n[0];
	nl->shift[3 * e + 1] = n[1];
	nl->shift[3 * e + 2] = n[2];
	return MLIP_OK;
}

/* Start a build: no edges, first[] sized for s (all zero). */
static int nlist_begin(struct mlip_nlist *nl, size_t natoms, struct mlip_err *err)
{
	nl->n_edges = 0;
	if (nl->natoms != natoms || !nl->first) {
		size_t *first = realloc(nl->first, (natoms + 1) * sizeof(size_t));
		if (!first)
			return mlip_err_set(err, MLIP_ENOMEM, "out of memory for %zu atoms", natoms);
		nl->first = first;
		nl->natoms = natoms;
	}
	memset(nl->first, 0, (natoms + 1) * sizeof(size_t));
	return MLIP_OK;
}

/* Leave nl empty but consistent after an error. */
static int nlist_fail(struct mlip_nlist *nl, int rc)
{
	nl->n_edges = 0;
	if (nl->first)
		memset(nl->first, 0, (nl->natoms + 1) * sizeof(size_t));
	return rc;
}

static int duplicate_error(struct mlip_err *err, size_t i, size_t j, const int n[3])
{
	if (i == j)
		return mlip_err_set(err, MLIP_EDATA,
				    "atom %zu and its image (%d, %d, %d) are at the same position",
				    i + 1, n[0], n[1], n[2]);
	if (n[0] || n[1] || n[2])
		return mlip_err_set(err, MLIP_EDATA,
				    "atoms %zu and %zu are at the same position (image (%d, %d, %d) of atom %zu)",
				    i + 1, j + 1, n[0], n[1], n[2], j + 1);
	return mlip_err_set(err, MLIP_EDATA, "atoms %zu and %zu are at the same position",
			    i + 1, j + 1);
}

/*
 * The squared distance both builds use to decide: r_j − r_i + n·H, evaluated
 * in this order so that the two builds agree to the last bit.
 */
static inline double exact_r2(const double *pos, const double *h, size_t i, size_t j,
			      const int n[3])
{
	double r2 = 0;
	for (int x = 0; x < 3; x++) {
		double d = pos[3 * j + x] - pos[3 * i + x]
			 + n[0] * h[x] + n[1] * h[3 + x] + n[2] * h[6 + x];
		r2 += d * d;
	}
	return r2;
}

int mlip_nlist_build_brute(struct mlip_nlist *nl, const struct mlip_structure *s,
			   double cutoff, struct mlip_err *err)
{
	struct nlist_frame fr;
	int reach[3], rc;
	nl->n_edges = 0;
	if ((rc = nlist_check(s, cutoff, &fr, err)) || (rc = nlist_begin(nl, s->natoms, err)))
		return nlist_fail(nl, rc);
	reach_of(reach, &fr, s, fmax(cutoff, MLIP_DUPLICATE_DISTANCE));
	const double *h = s->cell, *pos = s->positions;
	double c2 = cutoff * cutoff, d2 = MLIP_DUPLICATE_DISTANCE * MLIP_DUPLICATE_DISTANCE;
	for (size_t i = 0; i < s->natoms; i++) {
		for (size_t j = 0; j < s->natoms; j++) {
			int n[3];
			for (n[0] = -reach[0]; n[0] <= reach[0]; n[0]++)
			for (n[1] = -reach[1]; n[1] <= reach[1]; n[1]++)
			for (n[2] = -reach[2]; n[2] <= reach[2]; n[2]++) {
				if (i == j && n[0] == 0 && n[1] == 0 && n[2] == 0)
					continue;
				double r2 = exact_r2(pos, h, i, j, n);
				if (r2 < d2)
					return nlist_fail(nl, duplicate_error(err, i, j, n));
				if (r2 < c2 && (rc = nlist_push(nl, (int32_t)i, (int32_t)j, n, err)))
					return nlist_fail(nl, rc);
			}
		}
		nl->first[i + 1] = nl->n_edges;
	}
	return MLIP_OK;
}

static inline int edge_less(const struct nlist_edge *a, const struct nlist_edge *b)
{
	if (a->j != b->j)
		return a->j < b->j;
	for (int k = 0; k < 3; k++)
		if (a->n[k] != b->n[k])
			return a->n[k] < b->n[k];
	return 0;
}

static int edge_cmp(const void *pa, const void *pb)
{
	const struct nlist_edge *a = pa, *b = pb;
	return edge_less(a, b) ? -1 : edge_less(b, a);
}

static void edges_sort(struct nlist_edge *e, size_t n)
{
	if (n > NLIST_INSERTION_SORT) {
		qsort(e, n, sizeof(*e), edge_cmp);
		return;
	}
	for (size_t a = 1; a < n; a++) {
		struct nlist_edge x = e[a];
		size_t b = a;
		for (; b > 0 && edge_less(&x, &e[b - 1]); b--)
			e[b] = e[b - 1];
		e[b] = x;
	}
}

static inline int floordiv(int a, int b)
{
	return a >= 0 ? a / b : -((-a + b - 1) / b);
}

/* Scratch of the fast path, freed in one place. */
struct nlist_work {
	double *xw;              /* (N, 3) wrapped positions, bin order */
	int32_t *sw;             /* (N, 3) wrap shift s, bin order */
	int32_t *atom;           /* (N) input index of each slot, bin order */
	int32_t *slot;           /* (N) slot of each input atom */
	int32_t *bin;            /* (N) bin of each input atom */
	size_t *start;           /* (nbins + 1) slots of bin b: start[b] .. start[b+1]-1 */
	struct nlist_edge *edges; /* (cap) edges of the current atom */
	size_t cap;
};

static void work_release(struct nlist_work *w)
{
	free(w->xw);
	free(w->sw);
	free(w->atom);
	free(w->slot);
	free(w->bin);
	free(w->start);
	free(w->edges);
}

struct nlist_grid {
	int nb[3];            /* bins along each axis */
	int nk[3];            /* bins visited on each side */
	double lo[3];         /* fractional coordinate of the grid's lower face */
	double inv_delta[3];  /* bins per unit of fractional coordinate */
	size_t nbins;
};

/* Bins a little over r wide (at most ~2N of them) and a stencil reaching r. */
static int grid_init(struct nlist_grid *gr, const struct nlist_frame *fr, const double lo[3],
		     const double hi[3], size_t natoms, double r, struct mlip_err *err)
{
	double ext[3], rm = r * (1 + NLIST_BIN_MARGIN);
	for (int k = 0; k < 3; k++) {
		gr->lo[k] = fr->periodic[k] ? 0 : lo[k];
		ext[k] = fr->periodic[k] ? 1 : hi[k] - lo[k];
		double nb = floor(ext[k] * fr->width[k] / rm);
		gr->nb[k] = nb < 1 ? 1 : nb > NLIST_MAX_BINS_AXIS ? NLIST_MAX_BINS_AXIS : (int)nb;
	}
	/* Sparse structures (a few atoms in a big box) would get mostly empty
	 * bins: coarser bins are still correct, only their stencils shrink. */
	uint64_t max_bins = 2 * (uint64_t)natoms + 8;
	while ((uint64_t)gr->nb[0] * gr->nb[1] * gr->nb[2] > max_bins) {
		int k = gr->nb[0] >= gr->nb[1] && gr->nb[0] >= gr->nb[2] ? 0
			: gr->nb[1] >= gr->nb[2] ? 1 : 2;
		gr->nb[k] = (gr->nb[k] + 1) / 2;
	}
	double stencil = 1;
	for (int k = 0; k < 3; k++) {
		if (!(ext[k] > 0)) {
			gr->inv_delta[k] = 0;
			gr->nk[k] = 0;
			continue;
		}
		double delta = ext[k] / gr->nb[k];
		gr->inv_delta[k] = gr->nb[k] / ext[k];
		double nk = ceil(rm / (fr->width[k] * delta));
		if (!fr->periodic[k] && nk > gr->nb[k] - 1)
			nk = gr->nb[k] - 1;
		if (!(nk <= NLIST_MAX_STENCIL))
			nk = NLIST_MAX_STENCIL;
		gr->nk[k] = (int)nk;
		stencil *= 2 * nk + 1;
	}
	if (stencil > NLIST_MAX_STENCIL)
		return mlip_err_set(err, MLIP_EINVAL,
				    "cutoff %g Å needs %.3g cell images per atom; the cell is too thin",
				    r, stencil);
	gr->nbins = (size_t)gr->nb[0] * gr->nb[1] * gr->nb[2];
	return MLIP_OK;
}

/* Wrap, bin and counting-sort the atoms into w. */
static int bin_atoms(struct nlist_work *w, struct nlist_grid *gr, double *tol_r,
		     const struct nlist_frame *fr, const struct mlip_structure *s, double r,
		     struct mlip_err *err)
{
	size_t n = s->natoms;
	const double *h = s->cell, *pos = s->positions;
	double *f = malloc(3 * n * sizeof(double));
	int32_t *sh = malloc(3 * n * sizeof(int32_t));
	int rc = MLIP_OK;
	w->xw = malloc(3 * n * sizeof(double));
	w->sw = malloc(3 * n * sizeof(int32_t));
	w->atom = malloc(n * sizeof(int32_t));
	w->slot = malloc(n * sizeof(int32_t));
	w->bin = malloc(n * sizeof(int32_t));
	if (!f || !sh || !w->xw || !w->sw || !w->atom || !w->slot || !w->bin) {
		rc = mlip_err_set(err, MLIP_ENOMEM, "out of memory for %zu atoms", n);
		goto out;
	}

	double lo[3] = { 0, 0, 0 }, hi[3] = { 0, 0, 0 }, pmax = 0, smax[3] = { 0, 0, 0 };
	for (size_t i = 0; i < n; i++) {
		double *fi = f + 3 * i;
		frac_of(fi, pos + 3 * i, fr->ginv);
		for (int k = 0; k < 3; k++) {
			double sk = 0;
			if (fr->periodic[k]) {
				sk = floor(fi[k]);
				if (!(fabs(sk) < NLIST_MAX_SHIFT)) {
					rc = mlip_err_set(err, MLIP_EDATA,
							  "atom %zu is %.3g cells outside the cell",
							  i + 1, sk);
					goto out;
				}
				fi[k] -= sk;
				smax[k] = fmax(smax[k], fabs(sk));
			}
			sh[3 * i + k] = (int32_t)sk;
			lo[k] = i ? fmin(lo[k], fi[k]) : fi[k];
			hi[k] = i ? fmax(hi[k], fi[k]) : fi[k];
			pmax = fmax(pmax, fabs(pos[3 * i + k]));
		}
	}
	if ((rc = grid_init(gr, fr, lo, hi, n, r, err)))
		goto out;

	/* Rounding in the wrapped-frame filter and in exact_r2 is a few ulps of
	 * the largest term either adds up; candidates within this band of R are
	 * re-measured exactly, so the filter never changes a decision. */
	double scale = r + pmax;
	for (int k = 0; k < 3; k++)
		scale += (smax[k] + gr->nk[k] + 2.0) * norm3(fr->g + 3 * k) * fr->periodic[k];
	*tol_r = NLIST_ROUND_BAND * scale;

	w->start = calloc(gr->nbins + 1, sizeof(size_t));
	if (!w->start) {
		rc = mlip_err_set(err, MLIP_ENOMEM, "out of memory for %zu bins", gr->nbins);
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		int b[3];
		for (int k = 0; k < 3; k++) {
			double x = floor((f[3 * i + k] - gr->lo[k]) * gr->inv_delta[k]);
			b[k] = x < 0 ? 0 : x >= gr->nb[k] ? gr->nb[k] - 1 : (int)x;
		}
		w->bin[i] = (int32_t)(((size_t)b[0] * gr->nb[1] + b[1]) * gr->nb[2] + b[2]);
		w->start[w->bin[i] + 1]++;
	}
	for (size_t b = 0; b < gr->nbins; b++)
		w->start[b + 1] += w->start[b];
	for (size_t i = 0; i < n; i++) {
		size_t p = w->start[w->bin[i]]++;
		const int32_t *si = sh + 3 * i;
		w->atom[p] = (int32_t)i;
		w->slot[i] = (int32_t)p;
		for (int x = 0; x < 3; x++) {
			w->xw[3 * p + x] = pos[3 * i + x] - si[0] * h[x] - si[1] * h[3 + x]
					 - si[2] * h[6 + x];
			w->sw[3 * p + x] = si[x];
		}
	}
	/* the placement loop advanced each start to the next bin's start */
	memmove(w->start + 1, w->start, gr->nbins * sizeof(size_t));
	w->start[0] = 0;
out:
	free(f);
	free(sh);
	return rc;
}

static int edges_grow(struct nlist_work *w, struct mlip_err *err)
{
	size_t cap = w->cap ? 2 * w->cap : 256;
	struct nlist_edge *e = realloc(w->edges, cap * sizeof(*e));
	if (!e)
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory for %zu neighbours", cap);
	w->edges = e;
	w->cap = cap;
	return MLIP_OK;
}

int mlip_nlist_build(struct mlip_nlist *nl, const struct mlip_structure *s, double cutoff,
		     struct mlip_err *err)
{
	struct nlist_frame fr;
	struct nlist_grid gr;
	struct nlist_work w;
	double tol_r = 0;
	int rc;
	memset(&w, 0, sizeof(w));
	memset(&gr, 0, sizeof(gr));
	nl->n_edges = 0;
	if ((rc = nlist_check(s, cutoff, &fr, err)) || (rc = nlist_begin(nl, s->natoms, err)))
		return nlist_fail(nl, rc);
	size_t n = s->natoms;
	if (n == 0)
		return MLIP_OK;
	double r = fmax(cutoff, MLIP_DUPLICATE_DISTANCE);
	if ((rc = bin_atoms(&w, &gr, &tol_r, &fr, s, r, err)) || (rc = edges_grow(&w, err)))
		goto out;

	const double *h = s->cell, *pos = s->positions, *g = fr.g;
	const double rb2 = (r + tol_r) * (r + tol_r);
	const double c2 = cutoff * cutoff;
	const double d2 = MLIP_DUPLICATE_DISTANCE * MLIP_DUPLICATE_DISTANCE;
	const int nb1 = gr.nb[1], nb2 = gr.nb[2];
	for (size_t i = 0; i < n; i++) {
		size_t slot = (size_t)w.slot[i], ne = 0;
		const double *xi = w.xw + 3 * slot;
		const int32_t *si = w.sw + 3 * slot;
		size_t bi = (size_t)w.bin[i];
		int b[3] = { (int)(bi / ((size_t)nb1 * nb2)), (int)(bi / nb2 % nb1), (int)(bi % nb2) };
		struct nlist_edge dup = { -1, { 0, 0, 0 } };
		int m[3], c[3];
		for (int d0 = -gr.nk[0]; d0 <= gr.nk[0]; d0++) {
			int e0 = b[0] + d0;
			if (!fr.periodic[0] && (e0 < 0 || e0 >= gr.nb[0]))
				continue;
			m[0] = floordiv(e0, gr.nb[0]);
			c[0] = e0 - m[0] * gr.nb[0];
			for (int d1 = -gr.nk[1]; d1 <= gr.nk[1]; d1++) {
				int e1 = b[1] + d1;
				if (!fr.periodic[1] && (e1 < 0 || e1 >= nb1))
					continue;
				m[1] = floordiv(e1, nb1);
				c[1] = e1 - m[1] * nb1;
				for (int d2i = -gr.nk[2]; d2i <= gr.nk[2]; d2i++) {
					int e2 = b[2] + d2i;
					if (!fr.periodic[2] && (e2 < 0 || e2 >= nb2))
						continue;
					m[2] = floordiv(e2, nb2);
					c[2] = e2 - m[2] * nb2;
					/* offset from atom i to the image m of the wrapped frame */
					double off[3];
					for (int x = 0; x < 3; x++)
						off[x] = m[0] * g[x] + m[1] * g[3 + x] + m[2] * g[6 + x]
						       - xi[x];
					size_t bin = ((size_t)c[0] * nb1 + c[1]) * nb2 + c[2];
					for (size_t p = w.start[bin]; p < w.start[bin + 1]; p++) {
						const double *xj = w.xw + 3 * p;
						double dx = xj[0] + off[0], dy = xj[1] + off[1],
						       dz = xj[2] + off[2];
						if (dx * dx + dy * dy + dz * dz >= rb2)
							continue;
						const int32_t *sj = w.sw + 3 * p;
						int32_t j = w.atom[p];
						int nn[3] = { m[0] + si[0] - sj[0], m[1] + si[1] - sj[1],
							      m[2] + si[2] - sj[2] };
						if ((size_t)j == i && !nn[0] && !nn[1] && !nn[2])
							continue;
						double r2 = exact_r2(pos, h, i, (size_t)j, nn);
						if (r2 >= c2 && r2 >= d2)
							continue;
						struct nlist_edge ed = { j, { nn[0], nn[1], nn[2] } };
						if (r2 < d2) {
							if (dup.j < 0 || edge_less(&ed, &dup))
								dup = ed;
							continue;
						}
						if (ne == w.cap && (rc = edges_grow(&w, err)))
							goto out;
						w.edges[ne++] = ed;
					}
				}
			}
		}
		if (dup.j >= 0) {
			rc = duplicate_error(err, i, (size_t)dup.j, dup.n);
			goto out;
		}
		edges_sort(w.edges, ne);
		if ((rc = nlist_reserve(nl, nl->n_edges + ne, err)))
			goto out;
		for (size_t e = 0; e < ne; e++) {
			size_t k = nl->n_edges + e;
			nl->i[k] = (int32_t)i;
			nl->j[k] = w.edges[e].j;
			memcpy(nl->shift + 3 * k, w.edges[e].n, 3 * sizeof(int32_t));
		}
		nl->n_edges += ne;
		nl->first[i + 1] = nl->n_edges;
	}
out:
	work_release(&w);
	return rc ? nlist_fail(nl, rc) : MLIP_OK;
}
