/*
 * check_mtp.c - the moment tensor basis: values against a brute-force
 * evaluation of mtp.h's definition (sums over neighbour pairs and triples of
 * powers of cosines), a single neighbour by hand, invariance under rotations
 * (proper and improper), neighbour permutations and translations, VJP
 * against central differences (forces and strain), JVP against central
 * differences, VJP/JVP adjointness, the multi-set forms, thread-count
 * independence, the gradient with respect to the radial coefficients against
 * central differences, the growth and linear independence of the basis,
 * smoothness at the cutoff, and configuration errors.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mtp.h"
#include "model_fixtures.h"

static const int Z3[3] = { 14, 8, 1 };

static void mtp_ok(struct mlip_mtp *m, const int *z, size_t nz, double rc, int level,
		   const struct mlip_mtp_options *opt)
{
	struct mlip_err err;
	ck_assert_msg(mlip_mtp_init(m, z, nz, rc, level, opt, &err) == 0, "%s", err.msg);
}

/* One centre (atom 0, element a) with n neighbours r (n, 3) of elements sp (n). */
static void env_single(struct mlip_env *env, int a, const double *r, const int *sp, size_t n)
{
	struct mlip_err err;
	ck_assert_int_eq(mlip_env_reserve(env, n + 1, n, 1, &err), 0);
	env->n_atoms = n + 1;
	env->n_centres = 1;
	env->n_edges = n;
	env->n_systems = 1;
	env->max_nb = n;
	env->cache_stride = 0;
	env->species[0] = a;
	env->system[0] = 0;
	env->first[0] = 0;
	for (size_t j = 0; j < n; j++) {
		env->species[j + 1] = sp[j];
		env->system[j + 1] = 0;
		env->first[j + 1] = n;
		env->nbr[j] = (int32_t)(j + 1);
		memcpy(env->r + 3 * j, r + 3 * j, 3 * sizeof(double));
	}
	env->volume[0] = 0;
}

/* n random neighbours with lo <= R < hi and random elements < S. */
static void random_nbrs(double *r, int *sp, size_t n, size_t S, double lo, double hi,
			uint64_t *rng)
{
	for (size_t j = 0; j < n; j++) {
		double v[3], s;
		do {
			for (int x = 0; x < 3; x++)
				v[x] = 2 * test_rand_unif(rng) - 1;
			s = sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
		} while (s < 0.1 || s > 1);
		double R = lo + (hi - lo) * test_rand_unif(rng);
		for (int x = 0; x < 3; x++)
			r[3 * j + x] = v[x] / s * R;
		sp[j] = (int)(test_rand_u64(rng) % S);
	}
}

/* G of the one centre of env (n_basis values). */
static void single_G(double *G, const struct mlip_mtp *m, const struct mlip_env *env)
{
	struct mlip_err err;
	size_t row[1] = { 0 };
	ck_assert_int_eq(mlip_mtp_forward(G, row, m, env, &err), 0);
}

/* max_k |a_k − b_k| / max(max_k |b_k|, tiny) */
static double rel_err(const double *a, const double *b, size_t n)
{
	double d = 0, s = 1e-300;
	for (size_t k = 0; k < n; k++) {
		d = fmax(d, fabs(a[k] - b[k]));
		s = fmax(s, fabs(b[k]));
	}
	return d / s;
}

/* ---- the definition, term by term ---------------------------------------------------- */

/* f_μ(R; a, b) from the coefficients, T_β(ξ) = cos(β acos ξ) (needs r_min <= R). */
static double ref_f(const struct mlip_mtp *m, size_t a, size_t b, int mu, double R)
{
	double xi = (2 * R - m->r_min - m->cutoff) / (m->cutoff - m->r_min), t = 1 - R / m->cutoff;
	const double *c = m->radial + ((a * m->n_elements + b) * m->n_mu + (size_t)mu) * m->n_radial;
	double s = 0;
	for (size_t k = 0; k < m->n_radial; k++)
		s += c[k] * cos((double)k * acos(xi));
	return s * t * t;
}

static double ipow(double x, int n)
{
	double y = 1;
	while (n-- > 0)
		y *= x;
	return y;
}

static void ref_G(double *G, const struct mlip_mtp *m, int a, const double *r, const int *sp,
		  size_t n)
{
	double R[64], u[64][3], F[64][8], cs[64][64];
	ck_assert_uint_le(n, 64);
	for (size_t j = 0; j < n; j++) {
		R[j] = sqrt(r[3 * j] * r[3 * j] + r[3 * j + 1] * r[3 * j + 1] + r[3 * j + 2] * r[3 * j + 2]);
		for (int x = 0; x < 3; x++)
			u[j][x] = r[3 * j + x] / R[j];
		for (size_t mu = 0; mu < m->n_mu; mu++)
			F[j][mu] = ref_f(m, (size_t)a, (size_t)sp[j], (int)mu, R[j]);
	}
	for (size_t j = 0; j < n; j++)
		for (size_t k = 0; k < n; k++)
			cs[j][k] = u[j][0] * u[k][0] + u[j][1] * u[k][1] + u[j][2] * u[k][2];
	for (size_t f = 0; f < m->n_basis; f++) {
		const struct mlip_mtp_func *fn = &m->func[f];
		double s = 0;
		if (fn->k == 1) {
			for (size_t j = 0; j < n; j++)
				s += F[j][fn->mu[0]];
		} else if (fn->k == 2) {
			for (size_t j = 0; j < n; j++)
				for (size_t k = 0; k < n; k++)
					s += F[j][fn->mu[0]] * F[k][fn->mu[1]] * ipow(cs[j][k], fn->nu[0]);
		} else {
			int I = (fn->nu[0] + fn->nu[1] - fn->nu[2]) / 2;
			int J = (fn->nu[0] + fn->nu[2] - fn->nu[1]) / 2;
			int K = (fn->nu[1] + fn->nu[2] - fn->nu[0]) / 2;
			for (size_t j = 0; j < n; j++)
				for (size_t k = 0; k < n; k++)
					for (size_t l = 0; l < n; l++)
						s += F[j][fn->mu[0]] * F[k][fn->mu[1]] * F[l][fn->mu[2]] *
						     ipow(cs[j][k], I) * ipow(cs[j][l], J) *
						     ipow(cs[k][l], K);
		}
		G[f] = s;
	}
}

START_TEST(test_reference)
{
	struct mlip_mtp m;
	struct mlip_mtp_options opt;
	mlip_mtp_options_init(&opt);
	opt.r_min = 0.7;
	opt.seed = 3;
	uint64_t rng = 11;
	for (int L = 8; L <= 26; L += 6) {
		/* the last: level 8 (2 radial functions) with two-body functions up to μ = 6 */
		opt.n_pair = L > 20 ? 7 : 0;
		mtp_ok(&m, Z3, 3, 4.5, L > 20 ? 8 : L, &opt);
		ck_assert_uint_eq(m.n_mu, L > 20 ? 7 : (size_t)(L - 2) / 4 + 1);
		double r[3 * 24], *G = fx_calloc(m.n_basis, sizeof(double));
		double *Gr = fx_calloc(m.n_basis, sizeof(double));
		int sp[24];
		for (int rep = 0; rep < 3; rep++) {
			struct mlip_env env;
			mlip_env_init(&env);
			random_nbrs(r, sp, 24, 3, 0.8, 4.4, &rng);
			env_single(&env, rep, r, sp, 24);
			single_G(G, &m, &env);
			ref_G(Gr, &m, rep, r, sp, 24);
			for (size_t f = 0; f < m.n_basis; f++)
				ck_assert_msg(fabs(G[f] - Gr[f]) <= 1e-12 * fmax(1, fabs(Gr[f])),
					      "level %d function %zu (k %d): %.17g, reference %.17g", L,
					      f, m.func[f].k, G[f], Gr[f]);
			mlip_env_release(&env);
		}
		free(G);
		free(Gr);
		mlip_mtp_release(&m);
	}
}
END_TEST

/* One neighbour: every cosine is 1, so B = Π_q f_{μq}(R). */
START_TEST(test_single_neighbour)
{
	struct mlip_mtp m;
	int z[2] = { 14, 8 };
	mtp_ok(&m, z, 2, 5.0, 16, NULL);
	ck_assert_uint_eq(m.dim[0], m.n_basis);
	ck_assert_uint_eq(m.dim[1], m.n_basis);
	double r[3] = { 0.6, -1.1, 2.0 }, R = sqrt(0.36 + 1.21 + 4.0), f[8];
	int sp[1] = { 1 };
	double *G = fx_calloc(m.n_basis, sizeof(double));
	struct mlip_env env;
	mlip_env_init(&env);
	env_single(&env, 0, r, sp, 1);
	single_G(G, &m, &env);
	mlip_mtp_radial(f, NULL, &m, 0, 1, R);
	for (size_t mu = 0; mu < m.n_mu; mu++)
		ck_assert_double_eq_tol(f[mu], ref_f(&m, 0, 1, (int)mu, R), 1e-14);
	for (size_t k = 0; k < m.n_basis; k++) {
		double p = 1;
		for (int q = 0; q < m.func[k].k; q++)
			p *= f[m.func[k].mu[q]];
		ck_assert_double_eq_tol(G[k], p, 1e-13 * fmax(1, fabs(p)));
	}
	/* The other pair order has other coefficients. */
	double g[8];
	mlip_mtp_radial(g, NULL, &m, 1, 0, R);
	ck_assert(fabs(g[0] - f[0]) > 1e-6);
	free(G);
	mlip_env_release(&env);
	mlip_mtp_release(&m);
}
END_TEST

/* ---- invariance -------------------------------------------------------------------------- */

/* A random orthogonal matrix (Gram-Schmidt of a random one), det −1 if improper. */
static void random_orthogonal(double Q[9], int improper, uint64_t *rng)
{
	for (int k = 0; k < 9; k++)
		Q[k] = 2 * test_rand_unif(rng) - 1;
	for (int a = 0; a < 3; a++) {
		double *v = Q + 3 * a;
		for (int b = 0; b < a; b++) {
			double d = v[0] * Q[3 * b] + v[1] * Q[3 * b + 1] + v[2] * Q[3 * b + 2];
			for (int x = 0; x < 3; x++)
				v[x] -= d * Q[3 * b + x];
		}
		double s = sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
		for (int x = 0; x < 3; x++)
			v[x] /= s;
	}
	double det = Q[0] * (Q[4] * Q[8] - Q[5] * Q[7]) - Q[1] * (Q[3] * Q[8] - Q[5] * Q[6]) +
		     Q[2] * (Q[3] * Q[7] - Q[4] * Q[6]);
	if ((det < 0) != improper)
		for (int x = 0; x < 3; x++)
			Q[6 + x] = -Q[6 + x];
}

START_TEST(test_invariance)
{
	struct mlip_mtp m;
	mtp_ok(&m, Z3, 3, 5.0, 20, NULL);
	uint64_t rng = 99;
	enum { NB = 30 };
	double r[3 * NB], r2[3 * NB], Q[9];
	int sp[NB], sp2[NB];
	double *G = fx_calloc(m.n_basis, sizeof(double)), *G2 = fx_calloc(m.n_basis, sizeof(double));
	struct mlip_env env;
	mlip_env_init(&env);
	for (int rep = 0; rep < 6; rep++) {
		random_nbrs(r, sp, NB, 3, 1.0, 4.9, &rng);
		env_single(&env, rep % 3, r, sp, NB);
		single_G(G, &m, &env);
		double big = 0;
		for (size_t k = 0; k < m.n_basis; k++)
			big = fmax(big, fabs(G[k]));
		ck_assert(big > 1);
		/* rotation, proper or improper */
		random_orthogonal(Q, rep % 2, &rng);
		for (size_t j = 0; j < NB; j++)
			for (int x = 0; x < 3; x++)
				r2[3 * j + x] = Q[3 * x] * r[3 * j] + Q[3 * x + 1] * r[3 * j + 1] +
						Q[3 * x + 2] * r[3 * j + 2];
		env_single(&env, rep % 3, r2, sp, NB);
		single_G(G2, &m, &env);
		for (size_t k = 0; k < m.n_basis; k++)
			ck_assert_msg(fabs(G2[k] - G[k]) <= 1e-12 * fmax(1, fabs(G[k])),
				      "rotation %d (improper %d) function %zu: %.17g vs %.17g", rep,
				      rep % 2, k, G2[k], G[k]);
		/* permutation of the neighbours (elements travel with them) */
		size_t perm[NB];
		for (size_t j = 0; j < NB; j++)
			perm[j] = j;
		for (size_t j = NB; j > 1; j--) {
			size_t q = test_rand_u64(&rng) % j, t = perm[j - 1];
			perm[j - 1] = perm[q];
			perm[q] = t;
		}
		for (size_t j = 0; j < NB; j++) {
			memcpy(r2 + 3 * j, r + 3 * perm[j], 3 * sizeof(double));
			sp2[j] = sp[perm[j]];
		}
		env_single(&env, rep % 3, r2, sp2, NB);
		single_G(G2, &m, &env);
		for (size_t k = 0; k < m.n_basis; k++)
			ck_assert_msg(fabs(G2[k] - G[k]) <= 1e-12 * fmax(1, fabs(G[k])),
				      "permutation %d function %zu: %.17g vs %.17g", rep, k, G2[k], G[k]);
	}
	/* The basis tells the elements apart: swapping two neighbours' elements changes G. */
	sp[0] = 0, sp[1] = 1;
	env_single(&env, 0, r, sp, NB);
	single_G(G, &m, &env);
	sp[0] = 1, sp[1] = 0;
	env_single(&env, 0, r, sp, NB);
	single_G(G2, &m, &env);
	ck_assert(rel_err(G2, G, m.n_basis) > 1e-6);
	free(G);
	free(G2);
	mlip_env_release(&env);
	mlip_mtp_release(&m);
}
END_TEST

/* ---- periodic multi-element structures ----------------------------------------------------- */

/* Three periodic random structures of elements Z3 (a cubic, a triclinic, a small one). */
static void three_systems(struct mlip_structure s[3], uint64_t seed)
{
	uint64_t rng = seed;
	const uint8_t pbc[3] = { 1, 1, 1 };
	double c0[9] = { 6.2, 0, 0, 0, 6.0, 0, 0, 0, 6.4 };
	double c1[9] = { 5.5, 0.4, -0.3, 0.6, 5.8, 0.2, -0.5, 0.3, 6.1 };
	double c2[9] = { 4.0, 0, 0, 0.8, 4.2, 0, 0.3, -0.4, 4.4 };
	fx_random_structure(&s[0], c0, pbc, 14, Z3, 3, 1.4, &rng);
	fx_random_structure(&s[1], c1, pbc, 12, Z3, 3, 1.4, &rng);
	fx_random_structure(&s[2], c2, pbc, 5, Z3, 3, 1.4, &rng);
}

struct sys {
	struct mlip_structure s[3];
	struct mlip_batch b;
	struct mlip_env env;
	size_t N, E, D;
	size_t *row;
};

static void sys_build(struct sys *y, const struct mlip_mtp *m, uint64_t seed, double rc)
{
	struct mlip_structure *ps[3] = { &y->s[0], &y->s[1], &y->s[2] };
	struct mlip_err err;
	three_systems(y->s, seed);
	fx_batch_build(&y->b, ps, 3, rc);
	mlip_env_init(&y->env);
	ck_assert_msg(mlip_mtp_env_build(&y->env, m, &y->b, &err) == 0, "%s", err.msg);
	y->N = y->b.n_atoms;
	y->E = y->env.n_edges;
	y->D = m->n_basis;
	y->row = fx_calloc(y->N, sizeof(size_t));
	for (size_t i = 0; i < y->N; i++)
		y->row[i] = i * y->D;
}

static void sys_free(struct sys *y)
{
	free(y->row);
	mlip_env_release(&y->env);
	fx_batch_free(&y->b);
	for (int k = 0; k < 3; k++)
		mlip_structure_release(&y->s[k]);
}

/* Σ w·G over the batch, G evaluated from the batch's current positions and cells. */
static double energy(const struct mlip_mtp *m, struct sys *y, const double *w)
{
	struct mlip_env env;
	struct mlip_err err;
	double *G = fx_calloc(y->N * y->D, sizeof(double)), e = 0;
	mlip_env_init(&env);
	ck_assert_int_eq(mlip_mtp_env_build(&env, m, &y->b, &err), 0);
	ck_assert_int_eq(mlip_mtp_forward(G, y->row, m, &env, &err), 0);
	for (size_t k = 0; k < y->N * y->D; k++)
		e += w[k] * G[k];
	free(G);
	mlip_env_release(&env);
	return e;
}

START_TEST(test_translation)
{
	struct mlip_mtp m;
	struct sys y;
	struct mlip_err err;
	mtp_ok(&m, Z3, 3, 4.5, 16, NULL);
	sys_build(&y, &m, 4, 4.5);
	double *G = fx_calloc(y.N * y.D, sizeof(double)), *G2 = fx_calloc(y.N * y.D, sizeof(double));
	ck_assert_int_eq(mlip_mtp_forward(G, y.row, &m, &y.env, &err), 0);
	for (size_t i = 0; i < y.N; i++)
		for (int x = 0; x < 3; x++)
			y.b.positions[3 * i + x] += 0.37 + 0.11 * x;
	struct mlip_env env;
	mlip_env_init(&env);
	ck_assert_int_eq(mlip_mtp_env_build(&env, &m, &y.b, &err), 0);
	ck_assert_int_eq(mlip_mtp_forward(G2, y.row, &m, &env, &err), 0);
	ck_assert_msg(rel_err(G2, G, y.N * y.D) < 1e-12, "translation: %g",
		      rel_err(G2, G, y.N * y.D));
	free(G);
	free(G2);
	mlip_env_release(&env);
	sys_free(&y);
	mlip_mtp_release(&m);
}
END_TEST

/* ---- derivatives ------------------------------------------------------------------------- */

/*
 * Forces and strain derivative of E = Σ w·G from the VJP (gathered per atom
 * and per system) against central differences of E.
 */
START_TEST(test_vjp_fd)
{
	struct mlip_mtp m;
	struct mlip_mtp_options opt;
	struct sys y;
	struct mlip_err err;
	mlip_mtp_options_init(&opt);
	opt.r_min = 1.0;
	mtp_ok(&m, Z3, 3, 4.5, 16, &opt);
	sys_build(&y, &m, 8, 4.5);
	uint64_t rng = 77;
	double *w = fx_calloc(y.N * y.D, sizeof(double)), *g = fx_calloc(3 * y.E, sizeof(double));
	double *dpos = fx_calloc(3 * y.N, sizeof(double)), *dstr = fx_calloc(9 * 3, sizeof(double));
	for (size_t k = 0; k < y.N * y.D; k++)
		w[k] = (2 * test_rand_unif(&rng) - 1) * 1e-3;
	ck_assert_int_eq(mlip_mtp_vjp(g, w, y.row, &m, &y.env, &err), 0);
	mlip_env_gather(dpos, dstr, 1, 0, g, &y.env);
	const double h = 1e-5;
	double scale = 0;
	for (size_t k = 0; k < 3 * y.N; k++)
		scale = fmax(scale, fabs(dpos[k]));
	ck_assert(scale > 1e-3);
	for (size_t i = 0; i < y.N; i += 3)
		for (int x = 0; x < 3; x++) {
			double *p = &y.b.positions[3 * i + x], p0 = *p;
			*p = p0 + h;
			double ep = energy(&m, &y, w);
			*p = p0 - h;
			double em = energy(&m, &y, w);
			*p = p0;
			double fd = (ep - em) / (2 * h);
			ck_assert_msg(fabs(fd - dpos[3 * i + x]) <= 1e-6 * scale,
				      "atom %zu axis %d: vjp %.12g fd %.12g", i, x, dpos[3 * i + x], fd);
		}
	/* Strain of system 1 (triclinic): r -> r(1 + ε), cell too. */
	for (int ab = 0; ab < 9; ab++) {
		double eps[9] = { 0 };
		struct mlip_batch *b = &y.b;
		double *save = fx_calloc(3 * b->n_atoms + 9, sizeof(double));
		memcpy(save, b->positions, 3 * b->n_atoms * sizeof(double));
		memcpy(save + 3 * b->n_atoms, b->cell + 9, 9 * sizeof(double));
		eps[ab] = h;
		fx_batch_strain(b, 1, eps);
		double ep = energy(&m, &y, w);
		memcpy(b->positions, save, 3 * b->n_atoms * sizeof(double));
		memcpy(b->cell + 9, save + 3 * b->n_atoms, 9 * sizeof(double));
		eps[ab] = -h;
		fx_batch_strain(b, 1, eps);
		double em = energy(&m, &y, w);
		memcpy(b->positions, save, 3 * b->n_atoms * sizeof(double));
		memcpy(b->cell + 9, save + 3 * b->n_atoms, 9 * sizeof(double));
		double fd = (ep - em) / (2 * h), an = dstr[9 + ab];
		ck_assert_msg(fabs(fd - an) <= 1e-6 * fmax(1e-3, fabs(an)) + 1e-9,
			      "strain %d: vjp %.12g fd %.12g", ab, an, fd);
		free(save);
	}
	free(w);
	free(g);
	free(dpos);
	free(dstr);
	sys_free(&y);
	mlip_mtp_release(&m);
}
END_TEST

/* JVP along random edge tangents against central differences of G, per component. */
START_TEST(test_jvp_fd)
{
	struct mlip_mtp m;
	struct sys y;
	struct mlip_err err;
	struct mlip_mtp_options opt;
	mlip_mtp_options_init(&opt);
	opt.n_pair = 8; /* μ 5 .. 7 two-body only */
	mtp_ok(&m, Z3, 3, 4.5, 18, &opt);
	ck_assert_uint_eq(m.n_mu, 8);
	sys_build(&y, &m, 12, 4.5);
	uint64_t rng = 5;
	size_t ND = y.N * y.D;
	double *t = fx_calloc(3 * y.E, sizeof(double)), *J = fx_calloc(ND, sizeof(double));
	double *Gp = fx_calloc(ND, sizeof(double)), *Gm = fx_calloc(ND, sizeof(double));
	for (size_t k = 0; k < 3 * y.E; k++)
		t[k] = 2 * test_rand_unif(&rng) - 1;
	ck_assert_int_eq(mlip_mtp_jvp(J, y.row, t, &m, &y.env, &err), 0);
	struct mlip_env e2;
	mlip_env_init(&e2);
	ck_assert_int_eq(mlip_env_copy(&e2, &y.env, &err), 0);
	const double h = 1e-6;
	for (size_t k = 0; k < 3 * y.E; k++)
		e2.r[k] = y.env.r[k] + h * t[k];
	ck_assert_int_eq(mlip_mtp_forward(Gp, y.row, &m, &e2, &err), 0);
	for (size_t k = 0; k < 3 * y.E; k++)
		e2.r[k] = y.env.r[k] - h * t[k];
	ck_assert_int_eq(mlip_mtp_forward(Gm, y.row, &m, &e2, &err), 0);
	for (size_t i = 0; i < y.N; i++) {
		double sc = 0;
		for (size_t k = 0; k < y.D; k++)
			sc = fmax(sc, fabs(J[i * y.D + k]));
		for (size_t k = 0; k < y.D; k++) {
			double fd = (Gp[i * y.D + k] - Gm[i * y.D + k]) / (2 * h);
			ck_assert_msg(fabs(fd - J[i * y.D + k]) <= 1e-6 * fmax(1, sc),
				      "atom %zu function %zu: jvp %.12g fd %.12g", i, k,
				      J[i * y.D + k], fd);
		}
	}
	free(t);
	free(J);
	free(Gp);
	free(Gm);
	mlip_env_release(&e2);
	sys_free(&y);
	mlip_mtp_release(&m);
}
END_TEST

/* ⟨w, J t⟩ == ⟨Jᵀ w, t⟩ to round-off, for two levels and orders. */
START_TEST(test_adjoint)
{
	for (int c = 0; c < 3; c++) {
		struct mlip_mtp m;
		struct mlip_mtp_options opt;
		struct sys y;
		struct mlip_err err;
		mlip_mtp_options_init(&opt);
		opt.max_order = c == 2 ? 2 : 3;
		opt.seed = (uint64_t)c;
		mtp_ok(&m, Z3, 3, 4.5, c == 0 ? 12 : 20, &opt);
		sys_build(&y, &m, 30 + (uint64_t)c, 4.5);
		uint64_t rng = 17 + (uint64_t)c;
		size_t ND = y.N * y.D;
		double *w = fx_calloc(ND, sizeof(double)), *J = fx_calloc(ND, sizeof(double));
		double *t = fx_calloc(3 * y.E, sizeof(double)), *g = fx_calloc(3 * y.E, sizeof(double));
		for (size_t k = 0; k < ND; k++)
			w[k] = 2 * test_rand_unif(&rng) - 1;
		for (size_t k = 0; k < 3 * y.E; k++)
			t[k] = 2 * test_rand_unif(&rng) - 1;
		ck_assert_int_eq(mlip_mtp_jvp(J, y.row, t, &m, &y.env, &err), 0);
		ck_assert_int_eq(mlip_mtp_vjp(g, w, y.row, &m, &y.env, &err), 0);
		double lhs = 0, rhs = 0, scale = 0;
		for (size_t k = 0; k < ND; k++) {
			lhs += w[k] * J[k];
			scale += fabs(w[k] * J[k]);
		}
		for (size_t k = 0; k < 3 * y.E; k++)
			rhs += g[k] * t[k];
		ck_assert(scale > 1);
		ck_assert_msg(fabs(lhs - rhs) <= 1e-12 * scale, "case %d: <w,Jt> %.17g <J'w,t> %.17g",
			      c, lhs, rhs);
		free(w);
		free(J);
		free(t);
		free(g);
		sys_free(&y);
		mlip_mtp_release(&m);
	}
}
END_TEST

/* The _multi forms equal one call per set, bit for bit; the VJP accumulates. */
START_TEST(test_multi)
{
	struct mlip_mtp m;
	struct sys y;
	struct mlip_err err;
	mtp_ok(&m, Z3, 3, 4.5, 14, NULL);
	sys_build(&y, &m, 21, 4.5);
	enum { NW = 3 };
	size_t N = y.N, D = y.D, E = y.E;
	uint64_t rng = 5;
	size_t *row = fx_calloc(NW * N, sizeof(size_t));
	double *w = fx_calloc(NW * N * D, sizeof(double));
	double *J = fx_calloc(NW * N * D, sizeof(double)), *J1 = fx_calloc(NW * N * D, sizeof(double));
	double *t = fx_calloc(NW * 3 * E, sizeof(double)), *g = fx_calloc(NW * 3 * E, sizeof(double));
	double *g1 = fx_calloc(3 * E, sizeof(double));
	for (size_t q = 0; q < NW; q++)
		for (size_t i = 0; i < N; i++)
			row[q * N + i] = (i * NW + q) * D;
	for (size_t k = 0; k < NW * N * D; k++)
		w[k] = 2 * test_rand_unif(&rng) - 1;
	for (size_t k = 0; k < NW * 3 * E; k++) {
		t[k] = 2 * test_rand_unif(&rng) - 1;
		g[k] = 0.25;
	}
	ck_assert_int_eq(mlip_mtp_vjp_multi(g, w, row, NW, &m, &y.env, &err), 0);
	ck_assert_int_eq(mlip_mtp_jvp_multi(J, row, t, NW, &m, &y.env, &err), 0);
	size_t nz = 0;
	for (size_t q = 0; q < NW; q++) {
		for (size_t k = 0; k < 3 * E; k++)
			g1[k] = 0.25;
		ck_assert_int_eq(mlip_mtp_vjp(g1, w, row + q * N, &m, &y.env, &err), 0);
		ck_assert_int_eq(mlip_mtp_jvp(J1, row + q * N, t + q * 3 * E, &m, &y.env, &err), 0);
		ck_assert_int_eq(memcmp(g1, g + q * 3 * E, 3 * E * sizeof(double)), 0);
		for (size_t i = 0; i < N; i++) {
			ck_assert_int_eq(memcmp(J1 + row[q * N + i], J + row[q * N + i],
						D * sizeof(double)), 0);
			for (size_t k = 0; k < D; k++)
				nz += J[row[q * N + i] + k] != 0;
		}
		for (size_t k = 0; k < 3 * E; k++)
			nz += g1[k] != 0.25;
	}
	ck_assert_uint_gt(nz, NW * (N * D / 2 + 3 * E / 2));
	free(row);
	free(w);
	free(J);
	free(J1);
	free(t);
	free(g);
	free(g1);
	sys_free(&y);
	mlip_mtp_release(&m);
}
END_TEST

/* 1 and 2 threads give the same bits in all three passes. */
START_TEST(test_threads)
{
	struct mlip_mtp m;
	struct mlip_err err;
	int z[2] = { 14, 6 };
	mtp_ok(&m, z, 2, 5.0, 16, NULL);
	struct mlip_structure s, *ps = &s;
	uint64_t rng = 8;
	const uint8_t pbc[3] = { 1, 1, 1 };
	double cell[9] = { 9.5, 0, 0, 0.3, 9.0, 0, -0.2, 0.4, 9.8 };
	fx_random_structure(&s, cell, pbc, 70, z, 2, 1.5, &rng);
	struct mlip_batch b;
	fx_batch_build(&b, &ps, 1, 5.0);
	struct mlip_env env;
	mlip_env_init(&env);
	ck_assert_int_eq(mlip_mtp_env_build(&env, &m, &b, &err), 0);
	size_t N = b.n_atoms, D = m.n_basis, E = env.n_edges;
	size_t *row = fx_calloc(N, sizeof(size_t));
	for (size_t i = 0; i < N; i++)
		row[i] = i * D;
	double *out[2][3];
	double *w = fx_calloc(N * D, sizeof(double)), *t = fx_calloc(3 * E, sizeof(double));
	for (size_t k = 0; k < N * D; k++)
		w[k] = 2 * test_rand_unif(&rng) - 1;
	for (size_t k = 0; k < 3 * E; k++)
		t[k] = 2 * test_rand_unif(&rng) - 1;
	for (int th = 0; th < 2; th++) {
		m.n_threads = th + 1;
		out[th][0] = fx_calloc(N * D, sizeof(double));
		out[th][1] = fx_calloc(3 * E, sizeof(double));
		out[th][2] = fx_calloc(N * D, sizeof(double));
		ck_assert_int_eq(mlip_mtp_forward(out[th][0], row, &m, &env, &err), 0);
		ck_assert_int_eq(mlip_mtp_vjp(out[th][1], w, row, &m, &env, &err), 0);
		ck_assert_int_eq(mlip_mtp_jvp(out[th][2], row, t, &m, &env, &err), 0);
	}
#ifdef _OPENMP
	ck_assert_int_eq(mlip_mtp_threads(&m, N), 2);
#endif
	ck_assert_int_eq(memcmp(out[0][0], out[1][0], N * D * sizeof(double)), 0);
	ck_assert_int_eq(memcmp(out[0][1], out[1][1], 3 * E * sizeof(double)), 0);
	ck_assert_int_eq(memcmp(out[0][2], out[1][2], N * D * sizeof(double)), 0);
	for (int th = 0; th < 2; th++)
		for (int q = 0; q < 3; q++)
			free(out[th][q]);
	free(w);
	free(t);
	free(row);
	mlip_env_release(&env);
	fx_batch_free(&b);
	mlip_structure_release(&s);
	mlip_mtp_release(&m);
}
END_TEST

/* ---- trainable radial coefficients ---------------------------------------------------------- */

/* L(c) = Σ aG·G + Σ_t aT_t·dG_t (dG_t the JVP along t_edge + 3E·t), the basis reading c. */
static double radial_loss(struct mlip_mtp *m, const double *c, const struct sys *y,
			  const double *aG, const double *aT, const double *t_edge, size_t n_tan)
{
	struct mlip_err err;
	size_t ND = y->N * y->D;
	double *G = fx_calloc(ND, sizeof(double)), L = 0;
	mlip_mtp_use_radial(m, c);
	ck_assert_int_eq(mlip_mtp_forward(G, y->row, m, &y->env, &err), 0);
	for (size_t k = 0; k < ND; k++)
		L += aG[k] * G[k];
	for (size_t t = 0; t < n_tan; t++) {
		ck_assert_int_eq(mlip_mtp_jvp(G, y->row, t_edge + 3 * y->E * t, m, &y->env, &err), 0);
		for (size_t k = 0; k < ND; k++)
			L += aT[t * ND + k] * G[k];
	}
	mlip_mtp_use_radial(m, NULL);
	free(G);
	return L;
}

/*
 * mlip_mtp_radial_grad against central differences of L(c), every
 * coefficient of three elements, with no tangent (the energy-type term
 * alone), with one, and with two; and the same bits for 1 and 2 threads.
 */
START_TEST(test_radial_grad)
{
	struct mlip_mtp m;
	struct mlip_mtp_options opt;
	struct sys y;
	struct mlip_err err;
	mlip_mtp_options_init(&opt);
	opt.r_min = 0.8;
	opt.seed = 5;
	opt.n_pair = 6; /* two more radial functions, in two-body functions only */
	mtp_ok(&m, Z3, 3, 4.5, 14, &opt);
	ck_assert_uint_eq(m.n_mu, 6);
	sys_build(&y, &m, 21, 4.5);
	const size_t S = 3, nc = S * S * m.n_mu * m.n_radial, ND = y.N * y.D, T = 2;
	uint64_t rng = 99;
	double *adj = fx_calloc((1 + T) * ND, sizeof(double));
	double *t_edge = fx_calloc(T * 3 * y.E, sizeof(double));
	size_t *row = fx_calloc((1 + T) * y.N, sizeof(size_t));
	for (size_t k = 0; k < (1 + T) * ND; k++)
		adj[k] = 2 * test_rand_unif(&rng) - 1;
	for (size_t k = 0; k < T * 3 * y.E; k++)
		t_edge[k] = 2 * test_rand_unif(&rng) - 1;
	for (size_t q = 0; q <= T; q++)
		for (size_t i = 0; i < y.N; i++)
			row[q * y.N + i] = q * ND + i * y.D;
	double *c = fx_calloc(nc, sizeof(double)), *g = fx_calloc(nc, sizeof(double));
	double *g2 = fx_calloc(nc, sizeof(double));
	memcpy(c, m.radial, nc * sizeof(double));
	for (size_t n_tan = 0; n_tan <= T; n_tan++) {
		memset(g, 0, nc * sizeof(double));
		m.n_threads = 1;
		mlip_mtp_use_radial(&m, c);
		ck_assert_int_eq(mlip_mtp_radial_grad(g, adj, row, t_edge, n_tan, &m, &y.env, &err), 0);
		/* accumulates, and the thread count changes no bit */
		memcpy(g2, g, nc * sizeof(double));
		m.n_threads = 2;
		ck_assert_int_eq(mlip_mtp_radial_grad(g2, adj, row, t_edge, n_tan, &m, &y.env, &err), 0);
		double scale = 0; /* the sums round at the scale of the largest parts */
		for (size_t k = 0; k < nc; k++)
			scale = fmax(scale, fabs(g[k]));
		for (size_t k = 0; k < nc; k++) {
			double twice = 2 * g[k];
			ck_assert_msg(fabs(g2[k] - twice) <= 1e-14 * fabs(twice) + 1e-13 * scale,
				      "accumulate %zu: %.17g against %.17g", k, g2[k], twice);
		}
		memset(g2, 0, nc * sizeof(double));
		ck_assert_int_eq(mlip_mtp_radial_grad(g2, adj, row, t_edge, n_tan, &m, &y.env, &err), 0);
		ck_assert_int_eq(memcmp(g, g2, nc * sizeof(double)), 0);
		m.n_threads = 1;
		mlip_mtp_use_radial(&m, NULL);
		double gmax = 0;
		for (size_t k = 0; k < nc; k++)
			gmax = fmax(gmax, fabs(g[k]));
		ck_assert(gmax > 1e-2);
		const double h = 1e-5;
		for (size_t k = 0; k < nc; k++) {
			double keep = c[k];
			c[k] = keep + h;
			double lp = radial_loss(&m, c, &y, adj, adj + ND, t_edge, n_tan);
			c[k] = keep - h;
			double lm = radial_loss(&m, c, &y, adj, adj + ND, t_edge, n_tan);
			c[k] = keep;
			double fd = (lp - lm) / (2 * h);
			ck_assert_msg(fabs(fd - g[k]) <= 1e-7 * fabs(fd) + 1e-7 * gmax,
				      "%zu tangents, c[%zu]: grad %.12g fd %.12g", n_tan, k, g[k], fd);
		}
	}
	/* zero adjoints: nothing added */
	memset(adj, 0, (1 + T) * ND * sizeof(double));
	memset(g, 0, nc * sizeof(double));
	ck_assert_int_eq(mlip_mtp_radial_grad(g, adj, row, t_edge, T, &m, &y.env, &err), 0);
	for (size_t k = 0; k < nc; k++)
		ck_assert(g[k] == 0);
	ck_assert_int_eq(mlip_mtp_radial_grad(g, adj, row, t_edge, MLIP_MTP_MAX_TANGENTS + 1, &m,
					      &y.env, &err), MLIP_EINVAL);
	free(adj);
	free(t_edge);
	free(row);
	free(c);
	free(g);
	free(g2);
	sys_free(&y);
	mlip_mtp_release(&m);
}
END_TEST

/*
 * mlip_mtp_keep: a forward, a two-set VJP, a two-tangent JVP and a radial
 * gradient along the same tangents give the same bits with the atoms' values
 * kept as without, for 1 and 2 threads; the kept values are really used (a
 * change of the coefficients in place, which the contract forbids, shows in
 * a VJP that follows, and no longer after mlip_mtp_keep_drop); a pass on
 * another environment, or a keep over its memory bound, evaluates afresh.
 */
START_TEST(test_keep)
{
	struct mlip_mtp m;
	struct sys y, y2;
	struct mlip_err err;
	mtp_ok(&m, Z3, 3, 4.5, 16, NULL);
	sys_build(&y, &m, 31, 4.5);
	sys_build(&y2, &m, 31, 4.5); /* the same geometry in another environment */
	const size_t S = 3, nc = S * S * m.n_mu * m.n_radial, ND = y.N * y.D, E = y.E, T = 2;
	uint64_t rng = 7;
	double *c = fx_calloc(nc, sizeof(double)), *adj = fx_calloc((1 + T) * ND, sizeof(double));
	double *t_edge = fx_calloc(T * 3 * E, sizeof(double));
	size_t *row = fx_calloc((1 + T) * y.N, sizeof(size_t));
	memcpy(c, m.radial, nc * sizeof(double));
	for (size_t k = 0; k < (1 + T) * ND; k++)
		adj[k] = 2 * test_rand_unif(&rng) - 1;
	for (size_t k = 0; k < T * 3 * E; k++)
		t_edge[k] = 2 * test_rand_unif(&rng) - 1;
	for (size_t q = 0; q <= T; q++)
		for (size_t i = 0; i < y.N; i++)
			row[q * y.N + i] = q * ND + i * y.D;
	double *out[2][4];
	mlip_mtp_use_radial(&m, c);
	for (int kept = 0; kept < 2; kept++) {
		out[kept][0] = fx_calloc(ND, sizeof(double));
		out[kept][1] = fx_calloc(T * 3 * E, sizeof(double));
		out[kept][2] = fx_calloc(T * ND, sizeof(double));
		out[kept][3] = fx_calloc(nc * S, sizeof(double));
		for (int th = 1; th <= 2; th++) {
			m.n_threads = th;
			memset(out[kept][1], 0, T * 3 * E * sizeof(double));
			memset(out[kept][3], 0, nc * S * sizeof(double));
			if (kept)
				mlip_mtp_keep(&m, &y.env, (size_t)1 << 30);
			ck_assert_int_eq(mlip_mtp_forward(out[kept][0], row, &m, &y.env, &err), 0);
			ck_assert_int_eq(mlip_mtp_vjp_multi(out[kept][1], adj, row, T, &m, &y.env, &err), 0);
			ck_assert_int_eq(mlip_mtp_jvp_multi(out[kept][2], row, t_edge, T, &m, &y.env, &err), 0);
			ck_assert_int_eq(mlip_mtp_radial_grad(out[kept][3], adj, row, t_edge, T, &m, &y.env,
							      &err), 0);
			mlip_mtp_keep_drop(&m);
			if (!kept) /* the reference: nothing kept, threads change no bit */
				continue;
			ck_assert_int_eq(memcmp(out[0][0], out[1][0], ND * sizeof(double)), 0);
			ck_assert_int_eq(memcmp(out[0][1], out[1][1], T * 3 * E * sizeof(double)), 0);
			ck_assert_int_eq(memcmp(out[0][2], out[1][2], T * ND * sizeof(double)), 0);
			ck_assert_int_eq(memcmp(out[0][3], out[1][3], nc * S * sizeof(double)), 0);
		}
	}
	m.n_threads = 1;
	/* the kept X serves the VJP: with c changed in place it gives what the old c gave */
	double *G = fx_calloc(ND, sizeof(double)), *g = fx_calloc(3 * E, sizeof(double));
	double *fresh = fx_calloc(3 * E, sizeof(double));
	for (int variant = 0; variant < 4; variant++) {
		memcpy(c, m.radial, nc * sizeof(double));
		mlip_mtp_keep(&m, &y.env, variant == 3 ? 1 : (size_t)1 << 30);
		ck_assert_int_eq(mlip_mtp_forward(G, row, &m, &y.env, &err), 0);
		for (size_t k = 0; k < nc; k++)
			c[k] *= 1.25;
		if (variant == 1)
			mlip_mtp_keep_drop(&m);
		memset(g, 0, 3 * E * sizeof(double));
		ck_assert_int_eq(mlip_mtp_vjp(g, adj, row, &m, variant == 2 ? &y2.env : &y.env,
					      &err), 0);
		/* afresh, nothing kept */
		mlip_mtp_keep_drop(&m);
		memset(fresh, 0, 3 * E * sizeof(double));
		ck_assert_int_eq(mlip_mtp_vjp(fresh, adj, row, &m, &y.env, &err), 0);
		double d = rel_err(g, fresh, 3 * E);
		if (variant == 0)
			ck_assert_msg(d > 1e-3, "the kept moments were not used (%g)", d);
		else
			ck_assert_msg(d == 0, "variant %d: %g", variant, d);
	}
	mlip_mtp_use_radial(&m, NULL);
	for (int kept = 0; kept < 2; kept++)
		for (int q = 0; q < 4; q++)
			free(out[kept][q]);
	free(G);
	free(g);
	free(fresh);
	free(c);
	free(adj);
	free(t_edge);
	free(row);
	sys_free(&y);
	sys_free(&y2);
	mlip_mtp_release(&m);
}
END_TEST

/* ---- the basis --------------------------------------------------------------------------- */

/*
 * The basis grows with the level, a level's basis is a prefix of the next
 * one's (same n_mu), and the functions are linearly independent on random
 * environments: the standardised columns of G over many environments, put
 * through modified Gram-Schmidt, each keep a residual well above round-off.
 */
/*
 * The values of lo and hi (same elements) at centre element `centre` with 20
 * random neighbours (r, sp, from seed): hi's first lo->n_basis values are lo's.
 * G gets hi's (at most 512).
 */
static void same_prefix(double *G, const struct mlip_mtp *lo, const struct mlip_mtp *hi,
			uint64_t seed, int centre, double *r, int *sp)
{
	double Glo[512];
	struct mlip_env env;
	ck_assert(hi->n_basis <= 512 && lo->n_basis <= hi->n_basis);
	mlip_env_init(&env);
	random_nbrs(r, sp, 20, 2, 1.0, 4.9, &seed);
	env_single(&env, centre, r, sp, 20);
	single_G(Glo, lo, &env);
	single_G(G, hi, &env);
	ck_assert(rel_err(G, Glo, lo->n_basis) < 1e-14);
	mlip_env_release(&env);
}

START_TEST(test_basis)
{
	size_t prev = 0;
	for (int L = 2; L <= MLIP_MTP_MAX_LEVEL; L++) {
		struct mlip_mtp m;
		mtp_ok(&m, Z3, 1, 5.0, L, NULL);
		ck_assert_uint_ge(m.n_basis, prev);
		if (L % 2 == 0)
			ck_assert_uint_gt(m.n_basis, prev);
		for (size_t f = 0; f < m.n_basis; f++) {
			ck_assert_int_le(m.func[f].level, L);
			ck_assert(f == 0 || m.func[f - 1].level <= m.func[f].level);
		}
		prev = m.n_basis;
		mlip_mtp_release(&m);
	}
	struct mlip_mtp lo, hi;
	struct mlip_mtp_options opt;
	mlip_mtp_options_init(&opt);
	opt.n_radial = 8;
	mtp_ok(&lo, Z3, 2, 5.0, 16, &opt);
	mtp_ok(&hi, Z3, 2, 5.0, 18, &opt);
	ck_assert_uint_lt(lo.n_basis, hi.n_basis);
	ck_assert_int_eq(memcmp(lo.func, hi.func, lo.n_basis * sizeof(*lo.func)), 0);
	/* and the values too: the radial functions of the lower level come first */
	double r[3 * 20], G[512];
	int sp[20];
	same_prefix(G, &lo, &hi, 42, 1, r, sp);
	mlip_mtp_release(&hi);
	/* n_pair 8 at level 16: the same functions and values, then M_{μ,0} for μ = 4 .. 7
	 * (levels 18 .. 30), the values Σ_j f_μ(R_j) of the radial functions */
	opt.n_pair = 8;
	mtp_ok(&hi, Z3, 2, 5.0, 16, &opt);
	ck_assert_uint_eq(hi.n_basis, lo.n_basis + 4);
	ck_assert_uint_eq(hi.n_mu, 8);
	ck_assert_int_eq(memcmp(lo.func, hi.func, lo.n_basis * sizeof(*lo.func)), 0);
	for (size_t f = lo.n_basis; f < hi.n_basis; f++) {
		int mu = 4 + (int)(f - lo.n_basis);
		ck_assert(hi.func[f].k == 1 && hi.func[f].mu[0] == mu && hi.func[f].nu[0] == 0);
		ck_assert_int_eq(hi.func[f].level, 2 + 4 * mu);
	}
	same_prefix(G, &lo, &hi, 43, 0, r, sp);
	for (size_t mu = 4; mu < 8; mu++) {
		double sum = 0, f[64], df[64];
		for (size_t j = 0; j < 20; j++) {
			double R = sqrt(r[3 * j] * r[3 * j] + r[3 * j + 1] * r[3 * j + 1] +
					r[3 * j + 2] * r[3 * j + 2]);
			mlip_mtp_radial(f, df, &hi, 0, (size_t)sp[j], R);
			sum += f[mu];
		}
		double g = G[lo.n_basis + mu - 4];
		ck_assert_msg(fabs(g - sum) <= 1e-13 * fmax(1, fabs(sum)), "M(%zu,0) %.17g, sum %.17g",
			      mu, g, sum);
	}
	mlip_mtp_release(&lo);
	mlip_mtp_release(&hi);

	/* linear independence, one element and two */
	for (int c = 0; c < 2; c++) {
		struct mlip_mtp m;
		mtp_ok(&m, Z3, (size_t)c + 1, 5.0, c ? 14 : 18, NULL);
		size_t D = m.n_basis, n_env = 4 * D + 50;
		double *A = fx_calloc(n_env * D, sizeof(double)), r[3 * 40];
		int sp[40];
		uint64_t rng = 1234 + (uint64_t)c;
		struct mlip_env env;
		mlip_env_init(&env);
		for (size_t q = 0; q < n_env; q++) {
			size_t nb = 4 + test_rand_u64(&rng) % 30;
			random_nbrs(r, sp, nb, (size_t)c + 1, 1.5, 4.99, &rng);
			env_single(&env, (int)(q % ((size_t)c + 1)), r, sp, nb);
			single_G(A + q * D, &m, &env);
		}
		/* columns: centre and scale, then Gram-Schmidt twice */
		double worst = 1;
		for (size_t k = 0; k < D; k++) {
			double mean = 0, ss = 0;
			for (size_t q = 0; q < n_env; q++)
				mean += A[q * D + k] / (double)n_env;
			for (size_t q = 0; q < n_env; q++)
				ss += (A[q * D + k] - mean) * (A[q * D + k] - mean);
			ck_assert_msg(ss > 0, "function %zu is constant", k);
			for (size_t q = 0; q < n_env; q++)
				A[q * D + k] = (A[q * D + k] - mean) / sqrt(ss);
			for (int pass = 0; pass < 2; pass++)
				for (size_t l = 0; l < k; l++) {
					double d = 0;
					for (size_t q = 0; q < n_env; q++)
						d += A[q * D + k] * A[q * D + l];
					for (size_t q = 0; q < n_env; q++)
						A[q * D + k] -= d * A[q * D + l];
				}
			double nr = 0;
			for (size_t q = 0; q < n_env; q++)
				nr += A[q * D + k] * A[q * D + k];
			nr = sqrt(nr);
			worst = fmin(worst, nr);
			ck_assert_msg(nr > 1e-7, "%zu elements: function %zu (k %d, level %d) depends on "
				      "the earlier ones: residual %g", (size_t)c + 1, k, m.func[k].k,
				      m.func[k].level, nr);
			for (size_t q = 0; q < n_env; q++)
				A[q * D + k] /= nr;
		}
		fprintf(stderr, "mtp basis %zu functions (%zu elements): smallest Gram-Schmidt "
			"residual %.3g\n", D, (size_t)c + 1, worst);
		free(A);
		mlip_env_release(&env);
		mlip_mtp_release(&m);
	}
}
END_TEST

/* Values and first derivatives vanish at the cutoff (as (r_c − R)² and r_c − R). */
START_TEST(test_cutoff)
{
	struct mlip_mtp m;
	struct mlip_err err;
	const double rc = 5.0;
	mtp_ok(&m, Z3, 2, rc, 16, NULL);
	double f[8], df[8];
	for (int k = 1; k <= 3; k++) {
		double dl = pow(10, -2 * k);
		mlip_mtp_radial(f, df, &m, 0, 1, rc - dl);
		for (size_t mu = 0; mu < m.n_mu; mu++) {
			ck_assert(fabs(f[mu]) <= 10 * dl * dl);
			ck_assert(fabs(df[mu]) <= 10 * dl);
		}
	}
	/* An environment in which one neighbour approaches the cutoff: G and the
	 * gradient on that edge tend to those without it. */
	double r[3 * 9], rr[3 * 8];
	int sp[9];
	uint64_t rng = 3;
	random_nbrs(r, sp, 8, 2, 1.5, 4.0, &rng);
	memcpy(rr, r, sizeof(rr));
	sp[8] = 1;
	double *G0 = fx_calloc(m.n_basis, sizeof(double)), *G = fx_calloc(m.n_basis, sizeof(double));
	double *w = fx_calloc(m.n_basis, sizeof(double)), g[3 * 9];
	for (size_t k = 0; k < m.n_basis; k++)
		w[k] = 1;
	struct mlip_env env;
	mlip_env_init(&env);
	env_single(&env, 0, rr, sp, 8);
	single_G(G0, &m, &env);
	double last = 1e300, lastg = 1e300;
	for (int k = 2; k <= 5; k++) {
		double dl = pow(10, -k), u[3] = { 0.48, -0.6, 0.64 }; /* unit vector */
		for (int x = 0; x < 3; x++)
			r[24 + x] = (rc - dl) * u[x];
		env_single(&env, 0, r, sp, 9);
		single_G(G, &m, &env);
		memset(g, 0, sizeof(g));
		size_t row[1] = { 0 };
		ck_assert_int_eq(mlip_mtp_vjp(g, w, row, &m, &env, &err), 0);
		double d = rel_err(G, G0, m.n_basis);
		double gn = sqrt(g[24] * g[24] + g[25] * g[25] + g[26] * g[26]);
		ck_assert(d < last / 50);  /* quadratic: 100x per decade, with margin */
		ck_assert(gn < lastg / 5); /* linear: 10x per decade */
		last = d;
		lastg = gn;
	}
	ck_assert(last < 1e-6);
	free(G0);
	free(G);
	free(w);
	mlip_env_release(&env);
	mlip_mtp_release(&m);
}
END_TEST

START_TEST(test_config)
{
	struct mlip_mtp m;
	struct mlip_mtp_options opt;
	struct mlip_err err;
	int dup[2] = { 14, 14 };
	ck_assert_int_eq(mlip_mtp_init(&m, Z3, 1, 5.0, 1, NULL, &err), MLIP_EINVAL);
	ck_assert(strstr(err.msg, "level 1"));
	ck_assert_int_eq(mlip_mtp_init(&m, Z3, 1, 5.0, MLIP_MTP_MAX_LEVEL + 1, NULL, &err),
			 MLIP_EINVAL);
	ck_assert_int_eq(mlip_mtp_init(&m, dup, 2, 5.0, 10, NULL, &err), MLIP_EINVAL);
	ck_assert(strstr(err.msg, "twice"));
	ck_assert_int_eq(mlip_mtp_init(&m, Z3, 1, -1, 10, NULL, &err), MLIP_EINVAL);
	mlip_mtp_options_init(&opt);
	opt.r_min = 5.0;
	ck_assert_int_eq(mlip_mtp_init(&m, Z3, 1, 5.0, 10, &opt, &err), MLIP_EINVAL);
	ck_assert(strstr(err.msg, "r_min"));
	mlip_mtp_options_init(&opt);
	opt.max_order = 4;
	ck_assert_int_eq(mlip_mtp_init(&m, Z3, 1, 5.0, 10, &opt, &err), MLIP_EINVAL);
	mlip_mtp_options_init(&opt);
	opt.n_radial = 2;
	ck_assert_int_eq(mlip_mtp_init(&m, Z3, 1, 5.0, 10, &opt, &err), MLIP_EINVAL);
	ck_assert(strstr(err.msg, "n_radial"));
	mlip_mtp_options_init(&opt);
	opt.n_pair = 65;
	ck_assert_int_eq(mlip_mtp_init(&m, Z3, 1, 5.0, 10, &opt, &err), MLIP_EINVAL);
	ck_assert(strstr(err.msg, "n_pair 65"));
	opt.n_pair = 9; /* more two-body functions than Chebyshev functions */
	opt.n_radial = 8;
	ck_assert_int_eq(mlip_mtp_init(&m, Z3, 1, 5.0, 10, &opt, &err), MLIP_EINVAL);
	ck_assert(strstr(err.msg, "n_radial 8") && strstr(err.msg, "with n_pair"));
	opt.n_pair = 2; /* fewer than the level's: the level's */
	mtp_ok(&m, Z3, 1, 5.0, 10, &opt);
	ck_assert_uint_eq(m.n_mu, 3);
	size_t n10 = m.n_basis;
	mlip_mtp_release(&m);
	mtp_ok(&m, Z3, 1, 5.0, 10, NULL);
	ck_assert_uint_eq(m.n_basis, n10);
	mlip_mtp_release(&m);
	/* max_order limits k; explicit coefficients are taken as given */
	mlip_mtp_options_init(&opt);
	opt.max_order = 2;
	mtp_ok(&m, Z3, 1, 5.0, 16, &opt);
	for (size_t f = 0; f < m.n_basis; f++)
		ck_assert_int_le(m.func[f].k, 2);
	size_t nc = m.n_mu * m.n_radial;
	double *c = fx_calloc(4 * nc, sizeof(double));
	mlip_mtp_release(&m);
	/* The defaults are orthonormal rows, different per ordered pair and seed. */
	struct mlip_mtp a, b;
	int z2[2] = { 14, 8 };
	mtp_ok(&a, z2, 2, 5.0, 16, NULL);
	for (size_t p = 0; p < 4; p++)
		for (size_t i = 0; i < a.n_mu; i++)
			for (size_t j = 0; j < a.n_mu; j++) {
				double d = 0;
				for (size_t k = 0; k < a.n_radial; k++)
					d += a.radial[(p * a.n_mu + i) * a.n_radial + k] *
					     a.radial[(p * a.n_mu + j) * a.n_radial + k];
				ck_assert_double_eq_tol(d, i == j, 1e-13);
			}
	ck_assert(a.radial[0] != a.radial[nc]);
	mlip_mtp_options_init(&opt);
	opt.seed = 1;
	mtp_ok(&b, z2, 2, 5.0, 16, &opt);
	ck_assert(a.radial[0] != b.radial[0]);
	mlip_mtp_release(&b);
	for (size_t k = 0; k < 4 * nc; k++)
		c[k] = 0.01 * (double)k;
	opt.radial = c;
	mtp_ok(&b, z2, 2, 5.0, 16, &opt);
	ck_assert_int_eq(memcmp(b.radial, c, 4 * nc * sizeof(double)), 0);
	mlip_mtp_release(&b);
	c[3] = NAN;
	ck_assert_int_eq(mlip_mtp_init(&b, z2, 2, 5.0, 16, &opt, &err), MLIP_EINVAL);
	free(c);
	mlip_mtp_release(&a);
}
END_TEST

Suite *suite_mtp(void)
{
	Suite *s = suite_create("mtp");
	TCase *tc = tcase_create("values");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_reference);
	tcase_add_test(tc, test_single_neighbour);
	tcase_add_test(tc, test_invariance);
	tcase_add_test(tc, test_translation);
	suite_add_tcase(s, tc);
	tc = tcase_create("derivatives");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_vjp_fd);
	tcase_add_test(tc, test_jvp_fd);
	tcase_add_test(tc, test_adjoint);
	tcase_add_test(tc, test_multi);
	tcase_add_test(tc, test_threads);
	tcase_add_test(tc, test_radial_grad);
	tcase_add_test(tc, test_keep);
	suite_add_tcase(s, tc);
	tc = tcase_create("basis");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_basis);
	tcase_add_test(tc, test_cutoff);
	tcase_add_test(tc, test_config);
	suite_add_tcase(s, tc);
	return s;
}
