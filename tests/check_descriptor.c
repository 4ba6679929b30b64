/*
 * check_descriptor.c - symmetry functions: hand-worked dimer and trimer,
 * a brute-force reference on periodic multi-element cells (explicit, wide and
 * default sets), JVP against finite differences, VJP/JVP adjointness, the
 * multi-set forms, the edge cache, default sets, configuration errors,
 * environments and scaling statistics.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "descriptor.h"
#include "model_fixtures.h"

static double fc(double R, double rc)
{
	return R < rc ? 0.5 * (cos(M_PI * R / rc) + 1) : 0;
}

/* Descriptors of every atom in a dense (N, max_dim) double array, via the library. */
static void lib_G(double *out, const struct mlip_descriptor *d, const struct mlip_batch *b)
{
	struct mlip_env env;
	struct mlip_err err;
	size_t N = b->n_atoms, D = d->max_dim;
	size_t *row = fx_calloc(N, sizeof(size_t));
	double *G = fx_calloc(N * D, sizeof(double));
	mlip_env_init(&env);
	ck_assert_msg(mlip_env_build(&env, d, b, &err) == 0, "%s", err.msg);
	for (size_t i = 0; i < N; i++)
		row[i] = i * D;
	ck_assert_int_eq(mlip_descriptor_forward(G, row, d, &env, &err), 0);
	for (size_t k = 0; k < N * D; k++)
		out[k] = (double)G[k];
	free(G);
	free(row);
	mlip_env_release(&env);
}

/* share/doc/MODEL.md's formulas, term by term, over all j<k pairs of the batch edges. */
static void ref_G(double *out, const struct mlip_descriptor *d, const struct mlip_batch *b)
{
	size_t D = d->max_dim;
	memset(out, 0, b->n_atoms * D * sizeof(double));
	for (size_t s = 0; s < b->n_systems; s++) {
		const double *h = b->cell + 9 * s;
		for (size_t i = b->atom_start[s]; i < b->atom_start[s + 1]; i++) {
			double r[512][3], R[512];
			int zn[512];
			size_t n = 0;
			for (size_t e = b->edge_start[s]; e < b->edge_start[s + 1]; e++) {
				if ((size_t)b->edge_i[e] != i)
					continue;
				size_t j = (size_t)b->edge_j[e];
				const int32_t *sh = b->edge_shift + 3 * e;
				double v[3], r2 = 0;
				for (int x = 0; x < 3; x++) {
					v[x] = b->positions[3 * j + x] - b->positions[3 * i + x] +
					       sh[0] * h[x] + sh[1] * h[3 + x] + sh[2] * h[6 + x];
					r2 += v[x] * v[x];
				}
				if (sqrt(r2) >= d->cutoff)
					continue;
				ck_assert_uint_lt(n, 512);
				memcpy(r[n], v, sizeof(v));
				R[n] = sqrt(r2);
				zn[n++] = b->numbers[j];
			}
			size_t el = (size_t)d->species[b->numbers[i]];
			for (size_t q = 0; q < d->dim[el]; q++) {
				const struct mlip_sf *f = &d->sf[d->sf_start[el] + q];
				double g = 0;
				if (f->kind == MLIP_SF_G2) {
					for (size_t j = 0; j < n; j++)
						if (zn[j] == f->z1)
							g += exp(-f->eta * (R[j] - f->rs) * (R[j] - f->rs)) *
							     fc(R[j], f->rc);
				} else {
					for (size_t j = 0; j < n; j++)
						for (size_t k = j + 1; k < n; k++) {
							if (!((zn[j] == f->z1 && zn[k] == f->z2) ||
							      (zn[j] == f->z2 && zn[k] == f->z1)))
								continue;
							double c = (r[j][0] * r[k][0] + r[j][1] * r[k][1] +
								    r[j][2] * r[k][2]) / (R[j] * R[k]);
							double t = pow(2, 1 - f->zeta) *
								   pow(1 + f->lambda * c, f->zeta) *
								   exp(-f->eta * ((R[j] - f->rs) * (R[j] - f->rs) +
										  (R[k] - f->rs) * (R[k] - f->rs))) *
								   fc(R[j], f->rc) * fc(R[k], f->rc);
							if (f->kind == MLIP_SF_G3) {
								double dx = r[k][0] - r[j][0], dy = r[k][1] - r[j][1],
								       dz = r[k][2] - r[j][2];
								double Rjk = sqrt(dx * dx + dy * dy + dz * dz);
								t *= exp(-f->eta * (Rjk - f->rs) * (Rjk - f->rs)) *
								     fc(Rjk, f->rc);
							}
							g += t;
						}
				}
				out[i * D + q] = g;
			}
		}
	}
}

static struct mlip_sf SF_G2(int z, int z1, double eta, double rs, double rc)
{
	return (struct mlip_sf){ .kind = MLIP_SF_G2, .z = z, .z1 = z1, .eta = eta, .rs = rs, .rc = rc };
}

static struct mlip_sf SF_ANG(int kind, int z, int z1, int z2, double eta, double rs, double lam,
			     double zeta, double rc)
{
	return (struct mlip_sf){ .kind = kind, .z = z, .z1 = z1, .z2 = z2, .eta = eta, .rs = rs,
				 .lambda = lam, .zeta = zeta, .rc = rc };
}

/* ---- hand-worked values -------------------------------------------------------------- */

START_TEST(test_dimer)
{
	int z[2] = { 1, 8 };
	struct mlip_sf sf[] = {
		SF_G2(1, 8, 0.5, 0.3, 3.0),  SF_G2(1, 1, 0.5, 0.3, 3.0),
		SF_ANG(MLIP_SF_G9, 1, 8, 8, 0.1, 0, 1, 1, 3.0),
		SF_G2(8, 1, 1.2, 0.0, 2.5),  SF_G2(8, 1, 1.2, 0.0, 1.0),
	};
	struct mlip_descriptor d;
	struct mlip_err err;
	ck_assert_msg(mlip_descriptor_init(&d, z, 2, 3.0, sf, 5, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(d.dim[0], 3);
	ck_assert_uint_eq(d.dim[1], 2);
	struct mlip_structure s, *ps = &s;
	mlip_structure_init(&s);
	ck_assert_int_eq(mlip_structure_alloc(&s, 2, NULL), 0);
	s.numbers[0] = 1;
	s.numbers[1] = 8;
	s.positions[3] = 0.3;
	s.positions[4] = 1.0;
	s.positions[5] = -0.4;
	double R = sqrt(0.09 + 1.0 + 0.16);
	struct mlip_batch b;
	fx_batch_build(&b, &ps, 1, 3.0);
	double G[2 * 3];
	lib_G(G, &d, &b);
	/* H: the O neighbour at R; no H neighbour; no pair. */
	ck_assert_double_eq_tol(G[0], exp(-0.5 * (R - 0.3) * (R - 0.3)) *
					      0.5 * (cos(M_PI * R / 3.0) + 1), 1e-14);
	ck_assert_double_eq_tol(G[1], 0, 1e-300);
	ck_assert_double_eq_tol(G[2], 0, 1e-300);
	/* O: the H neighbour, and nothing beyond r_c = 1.0 < R. */
	ck_assert_double_eq_tol(G[3], exp(-1.2 * R * R) * 0.5 * (cos(M_PI * R / 2.5) + 1), 1e-14);
	ck_assert_double_eq_tol(G[4], 0, 1e-300);
	ck_assert(G[0] > 0.1 && G[3] > 0.01);
	fx_batch_free(&b);
	mlip_structure_release(&s);
	mlip_descriptor_release(&d);
}
END_TEST

START_TEST(test_trimer)
{
	/* O at the origin, H at (1.2, 0, 0) and (0, 1.5, 0): a right angle at O. */
	int z[2] = { 8, 1 };
	struct mlip_sf sf[] = {
		SF_ANG(MLIP_SF_G9, 8, 1, 1, 0.2, 0.0, 1, 1, 4.0),
		SF_ANG(MLIP_SF_G9, 8, 1, 1, 0.2, 0.5, -1, 4, 4.0),
		SF_ANG(MLIP_SF_G3, 8, 1, 1, 0.2, 0.0, 1, 2, 4.0),
		SF_ANG(MLIP_SF_G9, 8, 1, 8, 0.2, 0.0, 1, 1, 4.0),
		SF_ANG(MLIP_SF_G9, 1, 1, 8, 0.1, 0.0, 1, 2, 4.0), /* pair given as (H, O) */
		SF_ANG(MLIP_SF_G3, 1, 8, 1, 0.1, 0.3, -1, 1, 3.0),
		SF_ANG(MLIP_SF_G9, 1, 1, 1, 0.1, 0.0, 1, 1, 4.0),
	};
	struct mlip_descriptor d;
	struct mlip_err err;
	ck_assert_msg(mlip_descriptor_init(&d, z, 2, 4.0, sf, 7, &err) == 0, "%s", err.msg);
	struct mlip_structure s, *ps = &s;
	mlip_structure_init(&s);
	ck_assert_int_eq(mlip_structure_alloc(&s, 3, NULL), 0);
	s.numbers[0] = 8;
	s.numbers[1] = 1;
	s.numbers[2] = 1;
	s.positions[3] = 1.2;
	s.positions[7] = 1.5;
	struct mlip_batch b;
	fx_batch_build(&b, &ps, 1, 4.0);
	double G[3 * 4];
	lib_G(G, &d, &b);
	double a = 1.2, c = 1.5, hyp = sqrt(a * a + c * c);
	/* Centre O: one H–H pair, cos θ = 0. */
	double fa = fc(a, 4), fcc = fc(c, 4), fh = fc(hyp, 4);
	ck_assert_double_eq_tol(G[0], 1.0 * exp(-0.2 * (a * a + c * c)) * fa * fcc, 1e-14);
	ck_assert_double_eq_tol(G[1], pow(2, -3) * 1.0 *
					      exp(-0.2 * ((a - .5) * (a - .5) + (c - .5) * (c - .5))) *
					      fa * fcc, 1e-14);
	ck_assert_double_eq_tol(G[2], 0.5 * exp(-0.2 * (a * a + c * c + hyp * hyp)) * fa * fcc * fh,
				1e-14);
	ck_assert_double_eq_tol(G[3], 0, 1e-300);
	/* Centre H at (1.2, 0, 0): O at (−1.2, 0, 0), H at (−1.2, 1.5, 0). */
	double cs = a / hyp; /* (−1.2)(−1.2) / (1.2 · hyp) */
	ck_assert_double_eq_tol(G[4 + 0], 0.5 * (1 + cs) * (1 + cs) *
						  exp(-0.1 * (a * a + hyp * hyp)) * fa * fh, 1e-14);
	/* G3 with r_c = 3: the third side (H–O distance 1.5) is inside; rs = 0.3. */
	ck_assert_double_eq_tol(G[4 + 1], (1 - cs) *
						  exp(-0.1 * ((a - .3) * (a - .3) + (hyp - .3) * (hyp - .3) +
							      (c - .3) * (c - .3))) *
						  fc(a, 3) * fc(hyp, 3) * fc(c, 3), 1e-14);
	ck_assert_double_eq_tol(G[4 + 2], 0, 1e-300);
	ck_assert(G[0] > 1e-3 && G[4] > 1e-3 && G[5] > 1e-3);
	fx_batch_free(&b);
	mlip_structure_release(&s);
	mlip_descriptor_release(&d);
}
END_TEST

/* ---- reference on random cells ---------------------------------------------------------- */

/* A mixed explicit set over elements z (3 of them): every kind, non-integer ζ, several r_c. */
static struct mlip_sf *mixed_set(const int *z, size_t nz, size_t *n)
{
	struct mlip_sf *sf = fx_calloc(256, sizeof(*sf));
	size_t m = 0;
	for (size_t c = 0; c < nz; c++) {
		for (size_t s = 0; s < nz; s++) {
			sf[m++] = SF_G2(z[c], z[s], 0.5, 0.0, 4.5);
			sf[m++] = SF_G2(z[c], z[s], 2.0, 1.5, 4.5);
			sf[m++] = SF_G2(z[c], z[s], 1.0, 2.0, 3.0);
		}
		for (size_t s1 = 0; s1 < nz; s1++)
			for (size_t s2 = s1; s2 < nz; s2++) {
				sf[m++] = SF_ANG(MLIP_SF_G9, z[c], z[s1], z[s2], 0.1, 0, 1, 1, 4.5);
				sf[m++] = SF_ANG(MLIP_SF_G9, z[c], z[s2], z[s1], 0.05, 0.5, -1, 3.5, 3.5);
				sf[m++] = SF_ANG(MLIP_SF_G9, z[c], z[s1], z[s2], 0.02, 0, 1, 16, 4.5);
				sf[m++] = SF_ANG(MLIP_SF_G3, z[c], z[s1], z[s2], 0.02, 0, 1, 2, 4.5);
				sf[m++] = SF_ANG(MLIP_SF_G3, z[c], z[s1], z[s2], 0.3, 0.5, -1, 4, 4.0);
			}
	}
	*n = m;
	return sf;
}

/*
 * A wide explicit set: per element pair 12 angular terms (the 8 default
 * ones, then ζ = 3 and 2.5) on 6 channels, 36 G9 functions, so the
 * evaluation cuts each pair into several tiles (default terms and others,
 * up to 4 channels each); radial channels that form a chain (evenly spaced
 * r_s), one too steep to chain (η = 60) and an uneven one.
 */
static struct mlip_sf *wide_set(const int *z, size_t nz, size_t *n)
{
	static const double zl[12][2] = { { 1, -1 }, { 1, 1 },	 { 2, -1 },  { 2, 1 },
					  { 4, -1 }, { 4, 1 },	 { 16, -1 }, { 16, 1 },
					  { 3, 1 },  { 2.5, -1 }, { 3, -1 },  { 2.5, 1 } };
	static const double ch[6][3] = { { 0, 0, 4.5 },	   { 0.02, 0, 4.5 }, { 0.05, 0.5, 4.5 },
					 { 0.1, 0, 4.5 },  { 0.2, 1.0, 4.5 }, { 0.3, 0, 4.0 } };
	static const double rad[11][2] = { { 1, 0.5 },	{ 1, 1 },   { 1, 1.5 }, { 1, 2 },
					   { 1, 2.5 },	{ 60, 1 },  { 60, 2 },	{ 60, 3 },
					   { 0.7, 0.3 }, { 0.7, 1.1 }, { 0.7, 2.6 } };
	struct mlip_sf *sf = fx_calloc(nz * (nz * 11 + nz * (nz + 1) / 2 * 36), sizeof(*sf));
	size_t m = 0;
	for (size_t c = 0; c < nz; c++) {
		for (size_t s = 0; s < nz; s++)
			for (int r = 0; r < 11; r++)
				sf[m++] = SF_G2(z[c], z[s], rad[r][0], rad[r][1], 4.5);
		for (size_t s1 = 0; s1 < nz; s1++)
			for (size_t s2 = s1; s2 < nz; s2++)
				for (int t = 0; t < 12; t++)
					for (int q = 0; q < 3; q++) {
						const double *h = ch[(t + (q == 2 ? 3 : q)) % 6];
						sf[m++] = SF_ANG(MLIP_SF_G9, z[c], z[s1], z[s2], h[0], h[1],
								 zl[t][1], zl[t][0], h[2]);
					}
	}
	*n = m;
	return sf;
}

static const int Z3[3] = { 8, 14, 22 };

/* A triclinic periodic cell, a thin cell (one axis 2.1 Å) and a cluster of elements z. */
static void three_systems_of(struct mlip_structure s[3], const int *z, size_t nz, uint64_t seed)
{
	uint64_t rng = seed;
	const double tri[9] = { 5.2, 0, 0, 0.8, 5.6, 0, -0.6, 0.9, 6.1 };
	const double thin[9] = { 4.4, 0, 0, 0.5, 4.8, 0, 0.3, -0.2, 2.1 };
	const double box[9] = { 7, 0, 0, 0, 7, 0, 0, 0, 7 };
	const uint8_t p3[3] = { 1, 1, 1 }, p0[3] = { 0, 0, 0 };
	fx_random_structure(&s[0], tri, p3, 11, z, nz, 1.5, &rng);
	fx_random_structure(&s[1], thin, p3, 4, z, nz, 1.7, &rng);
	fx_random_structure(&s[2], box, p0, 9, z, nz, 1.4, &rng);
}

static void three_systems(struct mlip_structure s[3], uint64_t seed)
{
	three_systems_of(s, Z3, 3, seed);
}

/* Library against the brute-force formulas for one set (NULL: default) on three systems. */
static void check_reference(const int *z, size_t nz, const struct mlip_sf *sf, size_t n, uint64_t seed)
{
	struct mlip_descriptor d;
	struct mlip_err err;
	ck_assert_msg(mlip_descriptor_init(&d, z, nz, 4.5, sf, n, &err) == 0, "%s", err.msg);
	struct mlip_structure s[3];
	struct mlip_structure *ps[3] = { &s[0], &s[1], &s[2] };
	three_systems_of(s, z, nz, seed);
	struct mlip_batch b;
	fx_batch_build(&b, ps, 3, 5.0); /* batch cutoff above the model's */
	size_t N = b.n_atoms, D = d.max_dim;
	double *G = fx_calloc(N * D, sizeof(double)), *R = fx_calloc(N * D, sizeof(double));
	lib_G(G, &d, &b);
	ref_G(R, &d, &b);
	double gmax = 0;
	size_t nonzero = 0, used = 0;
	for (size_t i = 0; i < N; i++)
		used += d.dim[d.species[b.numbers[i]]];
	for (size_t k = 0; k < N * D; k++) {
		ck_assert_msg(fabs(G[k] - R[k]) <= 1e-12 * (1 + fabs(R[k])), "G[%zu] %.15g ref %.15g", k,
			      G[k], R[k]);
		gmax = fmax(gmax, fabs(R[k]));
		nonzero += R[k] != 0;
	}
	ck_assert(gmax > 0.5);
	ck_assert_uint_gt(nonzero, used / 2);
	free(G);
	free(R);
	fx_batch_free(&b);
	for (int k = 0; k < 3; k++)
		mlip_structure_release(&s[k]);
	mlip_descriptor_release(&d);
}

START_TEST(test_reference)
{
	size_t n;
	struct mlip_sf *sf = mixed_set(Z3, 3, &n);
	check_reference(Z3, 3, sf, n, 7);
	free(sf);
	sf = wide_set(Z3, 3, &n);
	check_reference(Z3, 3, sf, n, 8);
	free(sf);
	/* The default sets for 1, 2 and 3 elements (tiles of 3, 2 and 1 channels). */
	for (size_t nz = 1; nz <= 3; nz++)
		check_reference(Z3 + 3 - nz, nz, NULL, 0, 9 + nz);
}
END_TEST

/* ---- JVP and VJP ---------------------------------------------------------------------------- */

/* Edge tangents u_j − u_i + r_e ε_s for the env's edges. */
static void edge_tangent(double *t, const struct mlip_env *env, const double *u, const double *eps)
{
	for (size_t i = 0; i < env->n_atoms; i++)
		for (size_t e = env->first[i]; e < env->first[i + 1]; e++) {
			size_t j = (size_t)env->nbr[e];
			const double *r = env->r + 3 * e, *E = eps + 9 * (size_t)env->system[i];
			for (int x = 0; x < 3; x++)
				t[3 * e + x] = u[3 * j + x] - u[3 * i + x] + r[0] * E[x] + r[1] * E[3 + x] +
					       r[2] * E[6 + x];
		}
}

/* Displace every atom by h·u and strain each system by h·ε (then the edges follow). */
static void move(struct mlip_batch *b, const double *pos0, const double *cell0, const double *u,
		 const double *eps, double h)
{
	memcpy(b->positions, pos0, 3 * b->n_atoms * sizeof(double));
	memcpy(b->cell, cell0, 9 * b->n_systems * sizeof(double));
	for (size_t k = 0; k < 3 * b->n_atoms; k++)
		b->positions[k] += h * u[k];
	for (size_t s = 0; s < b->n_systems; s++) {
		double e[9];
		for (int k = 0; k < 9; k++)
			e[k] = h * eps[9 * s + k];
		fx_batch_strain(b, s, e);
	}
}

/* JVP against central differences of the forward for one set. */
static void check_jvp_fd(const struct mlip_sf *sf, size_t n)
{
	struct mlip_descriptor d;
	struct mlip_err err;
	ck_assert_msg(mlip_descriptor_init(&d, Z3, 3, 4.5, sf, n, &err) == 0, "%s", err.msg);
	struct mlip_structure s[3];
	struct mlip_structure *ps[3] = { &s[0], &s[1], &s[2] };
	three_systems(s, 11);
	struct mlip_batch b;
	fx_batch_build(&b, ps, 3, 4.8);
	size_t N = b.n_atoms, D = d.max_dim;
	uint64_t rng = 99;
	double *u = fx_calloc(3 * N, sizeof(double)), eps[27];
	for (size_t k = 0; k < 3 * N; k++)
		u[k] = 2 * test_rand_unif(&rng) - 1;
	for (int k = 0; k < 27; k++)
		eps[k] = 2 * test_rand_unif(&rng) - 1;
	double *pos0 = fx_calloc(3 * N, sizeof(double)), *cell0 = fx_calloc(27, sizeof(double));
	memcpy(pos0, b.positions, 3 * N * sizeof(double));
	memcpy(cell0, b.cell, 27 * sizeof(double));
	/* JVP at the reference geometry. */
	struct mlip_env env;
	mlip_env_init(&env);
	ck_assert_int_eq(mlip_env_build(&env, &d, &b, &err), 0);
	double *t = fx_calloc(3 * env.n_edges, sizeof(double));
	edge_tangent(t, &env, u, eps);
	size_t *row = fx_calloc(N, sizeof(size_t));
	for (size_t i = 0; i < N; i++)
		row[i] = i * D;
	double *J = fx_calloc(N * D, sizeof(double));
	ck_assert_int_eq(mlip_descriptor_jvp(J, row, t, &d, &env, &err), 0);
	/* Central differences. */
	double h = 1e-5;
	double *Gp = fx_calloc(N * D, sizeof(double)), *Gm = fx_calloc(N * D, sizeof(double));
	move(&b, pos0, cell0, u, eps, h);
	lib_G(Gp, &d, &b);
	move(&b, pos0, cell0, u, eps, -h);
	lib_G(Gm, &d, &b);
	double jmax = 0;
	for (size_t k = 0; k < N * D; k++)
		jmax = fmax(jmax, fabs((Gp[k] - Gm[k]) / (2 * h)));
	ck_assert(jmax > 0.1);
	for (size_t k = 0; k < N * D; k++) {
		double fd = (Gp[k] - Gm[k]) / (2 * h);
		ck_assert_msg(fabs((double)J[k] - fd) <= 1e-6 * fmax(fabs(fd), 1e-3 * jmax),
			      "dG[%zu/%zu] jvp %.12g fd %.12g", k / D, k % D, (double)J[k], fd);
	}
	free(Gp);
	free(Gm);
	free(J);
	free(row);
	free(t);
	free(u);
	free(pos0);
	free(cell0);
	mlip_env_release(&env);
	fx_batch_free(&b);
	for (int k = 0; k < 3; k++)
		mlip_structure_release(&s[k]);
	mlip_descriptor_release(&d);
}

START_TEST(test_jvp_fd)
{
	size_t n;
	struct mlip_sf *sf = mixed_set(Z3, 3, &n);
	check_jvp_fd(sf, n);
	free(sf);
	sf = wide_set(Z3, 3, &n);
	check_jvp_fd(sf, n);
	free(sf);
}
END_TEST

/* ⟨w, J t⟩ = ⟨Jᵀ w, t⟩ for random w (per G) and t (per edge), on the default and mixed sets. */
static void check_adjoint(const struct mlip_sf *sf, size_t n_sf, uint64_t seed)
{
	struct mlip_descriptor d;
	struct mlip_err err;
	ck_assert_msg(mlip_descriptor_init(&d, Z3, 3, 4.5, sf, n_sf, &err) == 0, "%s", err.msg);
	struct mlip_structure s[3];
	struct mlip_structure *ps[3] = { &s[0], &s[1], &s[2] };
	three_systems(s, seed);
	struct mlip_batch b;
	fx_batch_build(&b, ps, 3, 4.5);
	struct mlip_env env;
	mlip_env_init(&env);
	ck_assert_int_eq(mlip_env_build(&env, &d, &b, &err), 0);
	size_t N = b.n_atoms, D = d.max_dim, E = env.n_edges;
	uint64_t rng = seed * 31 + 1;
	size_t *row = fx_calloc(N, sizeof(size_t));
	double *w = fx_calloc(N * D, sizeof(double)), *J = fx_calloc(N * D, sizeof(double));
	double *t = fx_calloc(3 * E, sizeof(double)), *g = fx_calloc(3 * E, sizeof(double));
	for (size_t i = 0; i < N; i++)
		row[i] = i * D;
	for (size_t k = 0; k < N * D; k++)
		w[k] = 2 * test_rand_unif(&rng) - 1;
	for (size_t k = 0; k < 3 * E; k++)
		t[k] = 2 * test_rand_unif(&rng) - 1;
	ck_assert_int_eq(mlip_descriptor_jvp(J, row, t, &d, &env, &err), 0);
	ck_assert_int_eq(mlip_descriptor_vjp(g, w, row, &d, &env, &err), 0);
	double lhs = 0, rhs = 0, scale = 0;
	for (size_t i = 0; i < N; i++)
		for (size_t k = 0; k < d.dim[env.species[i]]; k++) {
			lhs += (double)w[i * D + k] * (double)J[i * D + k];
			scale += fabs((double)w[i * D + k] * (double)J[i * D + k]);
		}
	for (size_t k = 0; k < 3 * E; k++)
		rhs += g[k] * t[k];
	ck_assert(scale > 1);
	ck_assert_msg(fabs(lhs - rhs) <= 1e-12 * scale, "<w,Jt> %.15g <J'w,t> %.15g", lhs, rhs);
	free(row);
	free(w);
	free(J);
	free(t);
	free(g);
	mlip_env_release(&env);
	fx_batch_free(&b);
	for (int k = 0; k < 3; k++)
		mlip_structure_release(&s[k]);
	mlip_descriptor_release(&d);
}

START_TEST(test_adjoint)
{
	size_t n;
	struct mlip_sf *sf = mixed_set(Z3, 3, &n);
	check_adjoint(sf, n, 5);
	check_adjoint(NULL, 0, 6);
	free(sf);
	sf = wide_set(Z3, 3, &n);
	check_adjoint(sf, n, 7);
	free(sf);
}
END_TEST

/*
 * The _multi forms equal one call per set, bit for bit (rows of the sets
 * interleaved in one array), and the VJP accumulates into g_edge.
 */
START_TEST(test_multi)
{
	size_t n;
	struct mlip_sf *sf = wide_set(Z3, 3, &n);
	struct mlip_descriptor d;
	struct mlip_err err;
	ck_assert_msg(mlip_descriptor_init(&d, Z3, 3, 4.5, sf, n, &err) == 0, "%s", err.msg);
	struct mlip_structure s[3];
	struct mlip_structure *ps[3] = { &s[0], &s[1], &s[2] };
	three_systems(s, 21);
	struct mlip_batch b;
	fx_batch_build(&b, ps, 3, 4.5);
	struct mlip_env env;
	mlip_env_init(&env);
	ck_assert_int_eq(mlip_env_build(&env, &d, &b, &err), 0);
	enum { NW = 3 };
	size_t N = b.n_atoms, D = d.max_dim, E = env.n_edges;
	uint64_t rng = 5;
	size_t *row = fx_calloc(NW * N, sizeof(size_t));
	double *w = fx_calloc(NW * N * D, sizeof(double));
	double *J = fx_calloc(NW * N * D, sizeof(double)), *J1 = fx_calloc(NW * N * D, sizeof(double));
	double *t = fx_calloc(NW * 3 * E, sizeof(double)), *g = fx_calloc(NW * 3 * E, sizeof(double));
	double *g1 = fx_calloc(3 * E, sizeof(double));
	for (size_t q = 0; q < NW; q++)
		for (size_t i = 0; i < N; i++)
			row[q * N + i] = (i * NW + q) * D; /* sets interleaved by atom */
	for (size_t k = 0; k < NW * N * D; k++)
		w[k] = 2 * test_rand_unif(&rng) - 1;
	for (size_t k = 0; k < NW * 3 * E; k++) {
		t[k] = 2 * test_rand_unif(&rng) - 1;
		g[k] = 0.25; /* accumulated onto */
	}
	ck_assert_int_eq(mlip_descriptor_vjp_multi(g, w, row, NW, &d, &env, &err), 0);
	ck_assert_int_eq(mlip_descriptor_jvp_multi(J, row, t, NW, &d, &env, &err), 0);
	size_t nz = 0;
	for (size_t q = 0; q < NW; q++) {
		for (size_t k = 0; k < 3 * E; k++)
			g1[k] = 0.25;
		ck_assert_int_eq(mlip_descriptor_vjp(g1, w, row + q * N, &d, &env, &err), 0);
		ck_assert_int_eq(mlip_descriptor_jvp(J1, row + q * N, t + q * 3 * E, &d, &env, &err), 0);
		for (size_t k = 0; k < 3 * E; k++)
			ck_assert_msg(!memcmp(&g1[k], &g[q * 3 * E + k], sizeof(double)),
				      "set %zu edge %zu: vjp %.17g multi %.17g", q, k / 3, g1[k],
				      g[q * 3 * E + k]);
		for (size_t i = 0; i < N; i++) {
			size_t di = d.dim[env.species[i]];
			ck_assert_int_eq(memcmp(J1 + row[q * N + i], J + row[q * N + i],
						di * sizeof(double)), 0);
			for (size_t k = 0; k < di; k++)
				nz += J[row[q * N + i] + k] != 0;
		}
		for (size_t k = 0; k < 3 * E; k++)
			nz += g1[k] != 0.25;
	}
	ck_assert_uint_gt(nz, NW * (N * 50 + 3 * E / 2));
	free(row);
	free(w);
	free(J);
	free(J1);
	free(t);
	free(g);
	free(g1);
	mlip_env_release(&env);
	fx_batch_free(&b);
	for (int k = 0; k < 3; k++)
		mlip_structure_release(&s[k]);
	mlip_descriptor_release(&d);
	free(sf);
}
END_TEST

/*
 * mlip_env_cache changes no bit of the forward, VJP or JVP, also when the
 * elements have different sets (here O has no radial chain, so its edges
 * keep fewer cached values than the others).
 */
START_TEST(test_cache)
{
	size_t n, m = 0;
	struct mlip_sf *sf = wide_set(Z3, 3, &n);
	for (size_t k = 0; k < n; k++) /* drop O's evenly spaced radial functions */
		if (!(sf[k].z == 8 && sf[k].kind == MLIP_SF_G2 && sf[k].eta == 1))
			sf[m++] = sf[k];
	ck_assert_uint_lt(m, n);
	struct mlip_descriptor d;
	struct mlip_err err;
	ck_assert_msg(mlip_descriptor_init(&d, Z3, 3, 4.5, sf, m, &err) == 0, "%s", err.msg);
	struct mlip_structure s[3];
	struct mlip_structure *ps[3] = { &s[0], &s[1], &s[2] };
	three_systems(s, 31);
	struct mlip_batch b;
	fx_batch_build(&b, ps, 3, 4.5);
	struct mlip_env env;
	mlip_env_init(&env);
	ck_assert_int_eq(mlip_env_build(&env, &d, &b, &err), 0);
	size_t N = b.n_atoms, D = d.max_dim, E = env.n_edges;
	uint64_t rng = 3;
	size_t *row = fx_calloc(N, sizeof(size_t));
	double *G[2], *J[2], *w = fx_calloc(N * D, sizeof(double));
	double *g[2], *t = fx_calloc(3 * E, sizeof(double));
	for (size_t i = 0; i < N; i++)
		row[i] = i * D;
	for (size_t k = 0; k < N * D; k++)
		w[k] = 2 * test_rand_unif(&rng) - 1;
	for (size_t k = 0; k < 3 * E; k++)
		t[k] = 2 * test_rand_unif(&rng) - 1;
	for (int c = 0; c < 2; c++) {
		G[c] = fx_calloc(N * D, sizeof(double));
		J[c] = fx_calloc(N * D, sizeof(double));
		g[c] = fx_calloc(3 * E, sizeof(double));
		if (c) {
			ck_assert_int_eq(mlip_env_cache(&env, &d, &err), 0);
			ck_assert_uint_gt(env.cache_stride, 0);
		}
		ck_assert_int_eq(mlip_descriptor_forward(G[c], row, &d, &env, &err), 0);
		ck_assert_int_eq(mlip_descriptor_vjp(g[c], w, row, &d, &env, &err), 0);
		ck_assert_int_eq(mlip_descriptor_jvp(J[c], row, t, &d, &env, &err), 0);
	}
	for (size_t k = 0; k < N * D; k++) /* (a fused multiply-add in one path only shows here) */
		ck_assert_msg(!memcmp(&G[0][k], &G[1][k], sizeof(double)),
			      "G atom %zu (Z %d) [%zu]: %.17g cached %.17g", k / D, b.numbers[k / D],
			      k % D, (double)G[0][k], (double)G[1][k]);
	ck_assert_int_eq(memcmp(J[0], J[1], N * D * sizeof(double)), 0);
	ck_assert_int_eq(memcmp(g[0], g[1], 3 * E * sizeof(double)), 0);
	double gmax = 0;
	for (size_t k = 0; k < N * D; k++)
		gmax = fmax(gmax, fabs((double)G[0][k]));
	ck_assert(gmax > 0.5);
	/* A new environment drops the cache. */
	ck_assert_int_eq(mlip_env_build(&env, &d, &b, &err), 0);
	ck_assert_uint_eq(env.cache_stride, 0);
	for (int c = 0; c < 2; c++) {
		free(G[c]);
		free(J[c]);
		free(g[c]);
	}
	free(row);
	free(w);
	free(t);
	mlip_env_release(&env);
	fx_batch_free(&b);
	for (int k = 0; k < 3; k++)
		mlip_structure_release(&s[k]);
	mlip_descriptor_release(&d);
	free(sf);
}
END_TEST

/* ---- configuration ------------------------------------------------------------------------------ */

START_TEST(test_default_set)
{
	const int z[4] = { 14, 3, 8, 1 };
	const size_t want[4] = { 32, 64, 72, 112 };
	struct mlip_err err;
	for (size_t S = 1; S <= 4; S++) {
		struct mlip_descriptor d;
		ck_assert_msg(mlip_descriptor_init(&d, z, S, 5.5, NULL, 0, &err) == 0, "%s", err.msg);
		for (size_t e = 0; e < S; e++) {
			ck_assert_uint_eq(d.dim[e], want[S - 1]);
			size_t n2 = 0, n9 = 0;
			for (size_t k = 0; k < d.dim[e]; k++) {
				const struct mlip_sf *f = &d.sf[d.sf_start[e] + k];
				ck_assert_int_eq(f->z, z[e]);
				ck_assert_double_eq(f->rc, 5.5);
				n2 += f->kind == MLIP_SF_G2;
				n9 += f->kind == MLIP_SF_G9;
			}
			ck_assert_uint_eq(n2, 8 * S);
			ck_assert_uint_eq(n9, want[S - 1] - 8 * S);
		}
		mlip_descriptor_release(&d);
	}
	/* The radial grid of the rule: Δ = r_c/9, r_s = kΔ, η = 1/(2Δ²). */
	struct mlip_sf *sf;
	size_t n;
	ck_assert_int_eq(mlip_descriptor_default(&sf, &n, z, 1, 4.5, &err), 0);
	ck_assert_uint_eq(n, 32);
	ck_assert_double_eq_tol(sf[0].rs, 0.5, 1e-15);
	ck_assert_double_eq_tol(sf[7].rs, 4.0, 1e-15);
	ck_assert_double_eq_tol(sf[3].eta, 2.0, 1e-15);
	ck_assert_int_eq(sf[8].kind, MLIP_SF_G9);
	free(sf);
}
END_TEST

START_TEST(test_bad_config)
{
	const int z[2] = { 14, 8 };
	struct mlip_descriptor d;
	struct mlip_err err;
	struct mlip_sf bad[] = {
		SF_ANG(MLIP_SF_G9, 14, 14, 8, 0.1, 0, 0.5, 1, 4),  /* λ */
		SF_ANG(MLIP_SF_G9, 14, 14, 8, 0.1, 0, 1, 0.5, 4),  /* ζ */
		SF_G2(14, 8, 0.1, 0, 6),                          /* rc > cutoff */
		SF_G2(14, 8, -0.1, 0, 4),                         /* η */
		SF_G2(14, 26, 0.1, 0, 4),                         /* neighbour not in model */
		SF_G2(26, 8, 0.1, 0, 4),                          /* centre not in model */
		{ .kind = 4, .z = 14, .z1 = 8, .rc = 4 },         /* kind */
	};
	const char *want[] = { "lambda", "zeta", "rc", "eta", "neighbour", "central", "kind" };
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		struct mlip_sf set[3] = { SF_G2(14, 14, 1, 0, 4), SF_G2(8, 8, 1, 0, 4), bad[k] };
		ck_assert_int_eq(mlip_descriptor_init(&d, z, 2, 5.0, set, 3, &err), MLIP_EINVAL);
		ck_assert_msg(strstr(err.msg, want[k]) && strstr(err.msg, "function 3"), "%s", err.msg);
	}
	/* An element without functions; duplicate elements. */
	struct mlip_sf only_si = SF_G2(14, 14, 1, 0, 4);
	ck_assert_int_eq(mlip_descriptor_init(&d, z, 2, 5.0, &only_si, 1, &err), MLIP_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "'O' has no symmetry functions"));
	const int dup[2] = { 14, 14 };
	ck_assert_int_eq(mlip_descriptor_init(&d, dup, 2, 5.0, NULL, 0, &err), MLIP_EINVAL);
	ck_assert_int_eq(mlip_descriptor_init(&d, z, 2, -1, NULL, 0, &err), MLIP_EINVAL);
}
END_TEST

START_TEST(test_env)
{
	struct mlip_descriptor d;
	struct mlip_err err;
	const int z[2] = { 8, 14 };
	ck_assert_int_eq(mlip_descriptor_init(&d, z, 2, 4.5, NULL, 0, &err), 0);
	struct mlip_structure s[3];
	struct mlip_structure *ps[3] = { &s[0], &s[1], &s[2] };
	three_systems(s, 3);
	struct mlip_batch b;
	fx_batch_build(&b, ps, 3, 5.5);
	struct mlip_env env;
	mlip_env_init(&env);
	/* Ti (22) is in the structures but not in the model. */
	ck_assert_int_eq(mlip_env_build(&env, &d, &b, &err), MLIP_EDATA);
	ck_assert_msg(strstr(err.msg, "'Ti' is not in the model"), "%s", err.msg);
	mlip_descriptor_release(&d);
	ck_assert_int_eq(mlip_descriptor_init(&d, Z3, 3, 4.5, NULL, 0, &err), 0);
	ck_assert_int_eq(mlip_env_build(&env, &d, &b, &err), 0);
	/* Only edges inside the model cutoff; counts against the batch's own list. */
	size_t inside = 0;
	for (size_t e = 0; e < b.n_edges; e++) {
		size_t i = (size_t)b.edge_i[e], j = (size_t)b.edge_j[e], sys = 0;
		while (i >= b.atom_start[sys + 1])
			sys++;
		double r2 = 0;
		for (int x = 0; x < 3; x++) {
			double v = b.positions[3 * j + x] - b.positions[3 * i + x];
			for (int a = 0; a < 3; a++)
				v += b.edge_shift[3 * e + a] * b.cell[9 * sys + 3 * a + x];
			r2 += v * v;
		}
		inside += r2 < 4.5 * 4.5;
	}
	ck_assert_uint_eq(env.n_edges, inside);
	ck_assert_uint_lt(env.n_edges, b.n_edges);
	ck_assert_double_gt(env.volume[0], 100);
	ck_assert_double_eq(env.volume[2], 0); /* the cluster */
	/* A batch built at a cutoff below the model's is refused. */
	b.cutoff = 4.0;
	ck_assert_int_eq(mlip_env_build(&env, &d, &b, &err), MLIP_EDATA);
	ck_assert_ptr_nonnull(strstr(err.msg, "below the model cutoff"));
	b.cutoff = 5.5;
	/* Unsorted edges are refused. */
	int32_t t = b.edge_i[0];
	b.edge_i[0] = b.edge_i[b.edge_start[1] - 1];
	ck_assert_int_eq(mlip_env_build(&env, &d, &b, &err), MLIP_EDATA);
	b.edge_i[0] = t;
	mlip_env_release(&env);
	fx_batch_free(&b);
	for (int k = 0; k < 3; k++)
		mlip_structure_release(&s[k]);
	mlip_descriptor_release(&d);
}
END_TEST

START_TEST(test_stats)
{
	struct mlip_descriptor d;
	struct mlip_err err;
	ck_assert_int_eq(mlip_descriptor_init(&d, Z3, 3, 4.5, NULL, 0, &err), 0);
	struct mlip_structure s[3];
	struct mlip_structure *ps[3] = { &s[0], &s[1], &s[2] };
	three_systems(s, 21);
	struct mlip_batch b[3];
	for (int k = 0; k < 3; k++)
		fx_batch_build(&b[k], &ps[k], 1, 4.5);
	struct mlip_sf_stats all, part[2];
	ck_assert_int_eq(mlip_sf_stats_init(&all, &d, &err), 0);
	ck_assert_int_eq(mlip_sf_stats_init(&part[0], &d, &err), 0);
	ck_assert_int_eq(mlip_sf_stats_init(&part[1], &d, &err), 0);
	size_t D = d.max_dim, total = 0;
	double *G[3];
	struct mlip_env env;
	mlip_env_init(&env);
	for (int k = 0; k < 3; k++) {
		size_t N = b[k].n_atoms, *row = fx_calloc(N, sizeof(size_t));
		double *g = fx_calloc(N * D, sizeof(double));
		for (size_t i = 0; i < N; i++)
			row[i] = i * D;
		ck_assert_int_eq(mlip_env_build(&env, &d, &b[k], &err), 0);
		ck_assert_int_eq(mlip_descriptor_forward(g, row, &d, &env, &err), 0);
		mlip_sf_stats_add(&all, g, row, &env);
		mlip_sf_stats_add(&part[k == 0 ? 0 : 1], g, row, &env);
		G[k] = fx_calloc(N * D, sizeof(double));
		for (size_t q = 0; q < N * D; q++)
			G[k][q] = (double)g[q];
		total += N;
		free(g);
		free(row);
	}
	mlip_sf_stats_merge(&part[0], &part[1]);
	/* Two-pass reference per element. */
	for (size_t e = 0; e < 3; e++) {
		size_t De = d.dim[e];
		double *mu = fx_calloc(De, sizeof(double)), *sd = fx_calloc(De, sizeof(double));
		double *mu2 = fx_calloc(De, sizeof(double)), *sd2 = fx_calloc(De, sizeof(double));
		mlip_sf_stats_result(&all, e, mu, sd);
		mlip_sf_stats_result(&part[0], e, mu2, sd2);
		for (size_t q = 0; q < De; q++) {
			double sum = 0, cnt = 0, var = 0;
			for (int k = 0; k < 3; k++)
				for (size_t i = 0; i < b[k].n_atoms; i++)
					if (b[k].numbers[i] == Z3[e])
						sum += G[k][i * D + q], cnt++;
			double m = cnt ? sum / cnt : 0;
			for (int k = 0; k < 3; k++)
				for (size_t i = 0; i < b[k].n_atoms; i++)
					if (b[k].numbers[i] == Z3[e])
						var += (G[k][i * D + q] - m) * (G[k][i * D + q] - m);
			double sdev = cnt ? sqrt(var / cnt) : 1;
			if (sdev < 1e-12)
				sdev = 1;
			ck_assert_double_eq_tol((double)mu[q], m, 1e-12 * (1 + fabs(m)));
			ck_assert_double_eq_tol((double)sd[q], sdev, 1e-10 * (1 + sdev));
			ck_assert_double_eq_tol((double)mu2[q], m, 1e-12 * (1 + fabs(m)));
			ck_assert_double_eq_tol((double)sd2[q], sdev, 1e-10 * (1 + sdev));
		}
		free(mu);
		free(sd);
		free(mu2);
		free(sd2);
	}
	ck_assert_uint_eq(total, 24);
	for (int k = 0; k < 3; k++) {
		free(G[k]);
		fx_batch_free(&b[k]);
		mlip_structure_release(&s[k]);
	}
	mlip_env_release(&env);
	mlip_sf_stats_release(&all);
	mlip_sf_stats_release(&part[0]);
	mlip_sf_stats_release(&part[1]);
	mlip_descriptor_release(&d);
}
END_TEST

Suite *suite_descriptor(void)
{
	Suite *s = suite_create("descriptor");
	TCase *tc = tcase_create("values");
	tcase_add_test(tc, test_dimer);
	tcase_add_test(tc, test_trimer);
	tcase_add_test(tc, test_reference);
	suite_add_tcase(s, tc);
	tc = tcase_create("derivatives");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_jvp_fd);
	tcase_add_test(tc, test_adjoint);
	tcase_add_test(tc, test_multi);
	tcase_add_test(tc, test_cache);
	suite_add_tcase(s, tc);
	tc = tcase_create("config");
	tcase_add_test(tc, test_default_set);
	tcase_add_test(tc, test_bad_config);
	tcase_add_test(tc, test_env);
	tcase_add_test(tc, test_stats);
	suite_add_tcase(s, tc);
	return s;
}
