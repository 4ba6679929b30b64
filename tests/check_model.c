/*
 * check_model.c - the tensor table, model creation and initialisation,
 * forces and stress against finite differences (triclinic multi-element,
 * thin and non-periodic cells), invariances, and every parameter gradient
 * of a loss mixing energy, force and stress terms against central
 * differences, for each activation and two heads; float32 against float64
 * on the same weights, and float32 gradients against differences.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mlearn.h"
#include "model.h"
#include "model_fixtures.h"
#ifdef _OPENMP
#include <omp.h>
#endif

/* ---- tensor table ------------------------------------------------------------------ */

START_TEST(test_tensors)
{
	struct mlip_tensors t;
	struct mlip_err err;
	double *buf[4];
	const size_t shapes[5][2] = { { 24, 31 }, { 24, 1 }, { 3, 5 }, { 1, 1 }, { 7, 9 } };
	mlip_tensors_init(&t);
	for (int k = 0; k < 5; k++) {
		char name[16];
		snprintf(name, sizeof(name), "t%d", k);
		ck_assert_int_eq(mlip_tensors_add(&t, name, k == 1 ? 1 : 2, shapes[k],
						  k == 1 ? MLIP_TENSOR_NO_DECAY : 0, &err), 0);
	}
	ck_assert_int_eq(mlip_tensors_add(&t, "t2", 1, shapes[0], 0, &err), MLIP_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "'t2'"));
	ck_assert_int_eq(mlip_tensors_add(&t, "z", 2, (size_t[]){ 3, 0 }, 0, &err), MLIP_EINVAL);
	ck_assert_int_eq(mlip_tensors_add(&t, "", 1, shapes[0], 0, &err), MLIP_EINVAL);
	ck_assert_uint_eq(t.n, 5);
	size_t end = 0;
	for (int k = 0; k < 5; k++) {
		const struct mlip_tensor *x = &t.t[k];
		ck_assert_uint_eq(x->count, shapes[k][0] * (k == 1 ? 1 : shapes[k][1]));
		ck_assert_uint_eq(x->offset * sizeof(double) % MLIP_TENSOR_ALIGN, 0);
		ck_assert_uint_ge(x->offset, end);
		ck_assert_uint_lt(x->offset, end + MLIP_TENSOR_ALIGN / sizeof(double));
		end = x->offset + x->count;
		ck_assert_ptr_eq(mlip_tensors_find(&t, x->name), x);
	}
	ck_assert_uint_eq(t.t[1].flags, MLIP_TENSOR_NO_DECAY);
	ck_assert_uint_eq(t.t[0].shape[2], 1);
	ck_assert_ptr_null(mlip_tensors_find(&t, "nope"));
	ck_assert_uint_eq(t.n_params * sizeof(double) % MLIP_TENSOR_ALIGN, 0);
	ck_assert_uint_ge(t.n_params, end);
	ck_assert_int_eq(mlip_tensors_alloc(&t, 4, buf, &err), 0);
	for (int b = 0; b < 4; b++) {
		ck_assert_uint_eq((uintptr_t)buf[b] % MLIP_TENSOR_ALIGN, 0);
		ck_assert_ptr_eq(buf[b], buf[0] + b * t.n_params);
		for (size_t k = 0; k < t.n_params; k++)
			ck_assert(buf[b][k] == 0);
	}
	mlip_tensors_free(buf);
	mlip_tensors_release(&t);
}
END_TEST

/* ---- helpers ------------------------------------------------------------------------- */

static const int Z3[3] = { 8, 14, 22 };

static struct mlip_model *new_model(size_t n_el, const int *z, size_t n_hidden, const size_t *hidden,
				    enum mlip_activation act, size_t n_heads, const struct mlip_sf *sf,
				    size_t n_sf, double cutoff, uint64_t seed)
{
	struct mlip_model_config c;
	struct mlip_model *m;
	struct mlip_err err;
	mlip_model_config_init(&c);
	c.cutoff = cutoff;
	c.n_elements = n_el;
	memcpy(c.elements, z, n_el * sizeof(int));
	c.n_hidden = n_hidden;
	memcpy(c.hidden, hidden, n_hidden * sizeof(size_t));
	c.activation = act;
	c.n_heads = n_heads;
	for (size_t h = 1; h < n_heads; h++) /* head 0 keeps the default name */
		snprintf(c.heads[h], MLIP_NAME_MAX, "head%zu", h);
	c.seed = seed;
	c.sf = sf;
	c.n_sf = n_sf;
	ck_assert_msg(mlip_model_new(&m, &c, &err) == 0, "%s", err.msg);
	return m;
}

/* A triclinic periodic cell, a thin periodic cell (2.1 Å axis) and a cluster, 3 elements. */
static void three_systems(struct mlip_structure s[3], uint64_t seed)
{
	uint64_t rng = seed;
	const double tri[9] = { 5.2, 0, 0, 0.8, 5.6, 0, -0.6, 0.9, 6.1 };
	const double thin[9] = { 4.4, 0, 0, 0.5, 4.8, 0, 0.3, -0.2, 2.1 };
	const double box[9] = { 7, 0, 0, 0, 7, 0, 0, 0, 7 };
	const uint8_t p3[3] = { 1, 1, 1 }, p0[3] = { 0, 0, 0 };
	fx_random_structure(&s[0], tri, p3, 11, Z3, 3, 1.6, &rng);
	fx_random_structure(&s[1], thin, p3, 4, Z3, 3, 1.7, &rng);
	fx_random_structure(&s[2], box, p0, 8, Z3, 3, 1.5, &rng);
}

static void build(struct mlip_batch *b, struct mlip_structure *s, size_t n, double cutoff)
{
	struct mlip_structure *ps[8];
	for (size_t k = 0; k < n; k++)
		ps[k] = &s[k];
	fx_batch_build(b, ps, n, cutoff);
}

static void fit(struct mlip_model *m, const struct mlip_batch *b)
{
	struct mlip_err err;
	ck_assert_msg(mlip_model_fit_scaling(m, &b, 1, &err) == 0, "%s", err.msg);
}

static void forward(struct mlip_model *m, const struct mlip_batch *b, unsigned flags,
		    struct mlip_model_out *out)
{
	struct mlip_err err;
	ck_assert_msg(mlip_model_forward(m, b, flags, out, &err) == 0, "%s", err.msg);
}

/* |a − b| <= tol · max(|b|, floor). */
#define ASSERT_REL(a, b, tol, floor, ...)                                               \
	ck_assert_msg(fabs((a) - (b)) <= (tol) * fmax(fabs(b), (floor)), __VA_ARGS__)

/* ---- creation ------------------------------------------------------------------------ */

START_TEST(test_create)
{
	const size_t hid[2] = { 24, 24 };
	struct mlip_model *m = new_model(1, (int[]){ 14 }, 2, hid, MLIP_ACT_TANH, 1, NULL, 0, 5.5, 42);
	const char *names[8] = { "Si.sf_mean", "Si.sf_std", "Si.w1", "Si.b1",
				 "Si.w2",      "Si.b2",     "Si.w_out", "Si.b_out" };
	const size_t shape0[8] = { 32, 32, 24, 24, 24, 24, 1, 1 }, shape1[8] = { 1, 1, 32, 1, 24, 1, 24, 1 };
	ck_assert_uint_eq(m->tensors.n, 8);
	ck_assert_str_eq(m->config.heads[0], "energy");
	ck_assert_uint_eq(m->config.n_sf, 32);
	for (int k = 0; k < 8; k++) {
		const struct mlip_tensor *t = &m->tensors.t[k];
		ck_assert_str_eq(t->name, names[k]);
		ck_assert_uint_eq(t->shape[0], shape0[k]);
		ck_assert_uint_eq(t->shape[1], shape1[k]);
		int is_bias = t->ndim == 1;
		ck_assert_int_eq(!!(t->flags & MLIP_TENSOR_NO_DECAY), is_bias);
		ck_assert_int_eq(!!(t->flags & MLIP_TENSOR_FROZEN), k < 2);
		const double *p = m->params + t->offset;
		if (k == 0 || (is_bias && k > 1))
			for (size_t q = 0; q < t->count; q++)
				ck_assert(p[q] == 0);
		if (k == 1)
			for (size_t q = 0; q < t->count; q++)
				ck_assert(p[q] == 1);
		if (!is_bias) {
			double lim = sqrt(6.0 / (double)(t->shape[0] + t->shape[1])), mx = 0, mean = 0;
			for (size_t q = 0; q < t->count; q++) {
				ck_assert(fabs(p[q]) <= lim);
				mx = fmax(mx, fabs(p[q]));
				mean += p[q] / (double)t->count;
			}
			if (t->count > 100) {
				ck_assert_double_gt(mx, 0.95 * lim);
				ck_assert_double_lt(fabs(mean), 0.15 * lim);
			}
		}
	}
	/* Padding is zero in every buffer. */
	for (size_t k = 0; k < m->tensors.n; k++) {
		size_t end = m->tensors.t[k].offset + m->tensors.t[k].count;
		size_t next = k + 1 < m->tensors.n ? m->tensors.t[k + 1].offset : m->n_params;
		for (size_t q = end; q < next; q++)
			ck_assert(m->params[q] == 0 && m->grads[q] == 0);
	}
	/* Same seed, same weights; another seed, other weights; init is per tensor name. */
	struct mlip_model *m2 = new_model(1, (int[]){ 14 }, 2, hid, MLIP_ACT_TANH, 1, NULL, 0, 5.5, 42);
	ck_assert_int_eq(memcmp(m->params, m2->params, m->n_params * sizeof(double)), 0);
	mlip_model_init_params(m2, 43);
	ck_assert_int_ne(memcmp(m->params, m2->params, m->n_params * sizeof(double)), 0);
	struct mlip_model *m3 = new_model(1, (int[]){ 14 }, 2, hid, MLIP_ACT_TANH, 3, NULL, 0, 5.5, 42);
	const struct mlip_tensor *a = mlip_tensors_find(&m->tensors, "Si.w2");
	const struct mlip_tensor *b = mlip_tensors_find(&m3->tensors, "Si.w2");
	ck_assert_int_eq(memcmp(m->params + a->offset, m3->params + b->offset,
				a->count * sizeof(double)), 0);
	ck_assert_uint_eq(mlip_tensors_find(&m3->tensors, "Si.w_out")->shape[0], 3);
	mlip_model_free(m);
	mlip_model_free(m2);
	mlip_model_free(m3);
}
END_TEST

START_TEST(test_bad_config)
{
	struct mlip_model_config c;
	struct mlip_model *m;
	struct mlip_err err;
	mlip_model_config_init(&c);
	c.n_elements = 1;
	c.elements[0] = 14;
	c.cutoff = 5;
	c.n_heads = 2;
	memcpy(c.heads[1], "energy", 7);
	ck_assert_int_eq(mlip_model_new(&m, &c, &err), MLIP_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "'energy' is listed twice"));
	c.n_heads = 1;
	c.n_hidden = MLIP_MAX_HIDDEN + 1;
	ck_assert_int_eq(mlip_model_new(&m, &c, &err), MLIP_EINVAL);
	c.n_hidden = 2;
	c.hidden[1] = 0;
	ck_assert_int_eq(mlip_model_new(&m, &c, &err), MLIP_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "hidden layer 2"));
	c.hidden[1] = 8;
	memcpy(c.name, "mace", 5);
	ck_assert_int_eq(mlip_model_new(&m, &c, &err), MLIP_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "'mace'"));
	memcpy(c.name, "bpnn", 5);
	c.n_elements = 0;
	ck_assert_int_eq(mlip_model_new(&m, &c, &err), MLIP_EINVAL);
	c.n_elements = 1;
	c.cutoff = 0;
	ck_assert_int_eq(mlip_model_new(&m, &c, &err), MLIP_EINVAL);
	c.cutoff = 5;
	ck_assert_int_eq(mlip_model_new(&m, &c, &err), 0);
	/* A batch with an element the model does not know. */
	struct mlip_structure s[3];
	struct mlip_batch b;
	struct mlip_model_out out;
	three_systems(s, 1);
	build(&b, s, 3, 5.5);
	ck_assert_int_eq(mlip_model_forward(m, &b, MLIP_MODEL_FORCES, &out, &err), MLIP_EDATA);
	ck_assert_ptr_nonnull(strstr(err.msg, "is not in the model"));
	double dE[3] = { 1, 1, 1 };
	ck_assert_int_eq(mlip_model_backward(m, &b, dE, NULL, NULL, &err), MLIP_EINVAL);
	fx_batch_free(&b);
	for (int k = 0; k < 3; k++)
		mlip_structure_release(&s[k]);
	mlip_model_free(m);
}
END_TEST

/* One isolated atom: no neighbours, two of three elements absent from the batch. */
START_TEST(test_isolated)
{
	const size_t hid[1] = { 5 };
	struct mlip_model *m = new_model(3, Z3, 1, hid, MLIP_ACT_SILU, 2, NULL, 0, 4.0, 1);
	struct mlip_structure s;
	struct mlip_batch b;
	struct mlip_model_out out;
	struct mlip_err err;
	mlip_structure_init(&s);
	ck_assert_int_eq(mlip_structure_alloc(&s, 1, NULL), 0);
	s.numbers[0] = 8;
	build(&b, &s, 1, 4.0);
	ck_assert_uint_eq(b.n_edges, 0);
	forward(m, &b, MLIP_MODEL_FORCES | MLIP_MODEL_STRESS | MLIP_MODEL_ATOMIC | MLIP_MODEL_TRAIN,
		&out);
	/* o = W_out φ(W_1 x + b_1) + b_out with x = (0 − 0)/1 = 0 and zero biases: 0. */
	for (size_t h = 0; h < 2; h++) {
		ck_assert_double_eq(out.energy[h], 0);
		ck_assert_double_eq(out.atomic_energy[h], 0);
	}
	for (size_t k = 0; k < 6; k++)
		ck_assert_double_eq(out.forces[k], 0);
	for (size_t k = 0; k < 18; k++)
		ck_assert_double_eq(out.stress[k], 0);
	/* x = 0 and no edges: ∂L/∂b_out = dE, ∂L/∂b1 = φ'(0) W_outᵀ dE, all else 0 (W_out sees
	 * φ(0) = 0 for silu, W1 sees x = 0, the force and stress terms have no edge to act on). */
	double dE[2] = { 0.5, -2 }, dF[6] = { 1, 1, 1, 1, 1, 1 }, dS[18] = { 1 };
	mlip_model_zero_grad(m);
	ck_assert_int_eq(mlip_model_backward(m, &b, dE, dF, dS, &err), 0);
	const struct mlip_tensor *bo = mlip_tensors_find(&m->tensors, "O.b_out");
	const struct mlip_tensor *b1 = mlip_tensors_find(&m->tensors, "O.b1");
	const struct mlip_tensor *wo = mlip_tensors_find(&m->tensors, "O.w_out");
	for (size_t k = 0; k < m->n_params; k++) {
		double want = 0;
		if (k >= bo->offset && k < bo->offset + 2)
			want = dE[k - bo->offset];
		if (k >= b1->offset && k < b1->offset + 5)
			for (size_t h = 0; h < 2; h++)
				want += 0.5 * dE[h] * m->params[wo->offset + 5 * h + (k - b1->offset)];
		ck_assert_double_eq_tol(m->grads[k], want, 1e-15);
	}
	fx_batch_free(&b);
	mlip_structure_release(&s);
	mlip_model_free(m);
}
END_TEST

/* ---- forces and stress ---------------------------------------------------------------------- */

/*
 * Energies of every system and head with atom coordinate k moved by t (k < 3N), or
 * with system s strained by t along component ab (k = 3N + 9s + ab).
 */
static void displaced_energy(double *E, struct mlip_model *m, struct mlip_batch *b, size_t k,
			     double t)
{
	struct mlip_model_out out;
	size_t N = b->n_atoms, B = b->n_systems, H = m->config.n_heads;
	double *pos0 = fx_calloc(3 * N, sizeof(double)), cell0[9];
	memcpy(pos0, b->positions, 3 * N * sizeof(double));
	if (k < 3 * N) {
		b->positions[k] += t;
	} else {
		size_t s = (k - 3 * N) / 9;
		double eps[9] = { 0 };
		eps[(k - 3 * N) % 9] = t;
		memcpy(cell0, b->cell + 9 * s, sizeof(cell0));
		fx_batch_strain(b, s, eps);
	}
	forward(m, b, 0, &out);
	memcpy(E, out.energy, B * H * sizeof(double));
	memcpy(b->positions, pos0, 3 * N * sizeof(double));
	if (k >= 3 * N)
		memcpy(b->cell + 9 * ((k - 3 * N) / 9), cell0, sizeof(cell0));
	free(pos0);
}

/* dE/dt by the fourth-order central stencil (h = 1e-4), for every system and head. */
static void fd_energy(double *dE, struct mlip_model *m, struct mlip_batch *b, size_t k)
{
	const double h = 1e-4, t[4] = { -2 * h, -h, h, 2 * h }, w[4] = { 1, -8, 8, -1 };
	size_t BH = b->n_systems * m->config.n_heads;
	double E[8 * MLIP_MAX_HEADS];
	memset(dE, 0, BH * sizeof(double));
	for (int q = 0; q < 4; q++) {
		displaced_energy(E, m, b, k, t[q]);
		for (size_t x = 0; x < BH; x++)
			dE[x] += w[q] * E[x] / (12 * h);
	}
}

static void check_forces_stress(struct mlip_model *m, struct mlip_batch *b)
{
	struct mlip_model_out out;
	size_t N = b->n_atoms, B = b->n_systems, H = m->config.n_heads;
	MLIP_ASSERT(B <= 8);
	forward(m, b, MLIP_MODEL_FORCES | MLIP_MODEL_STRESS, &out);
	double *F = fx_calloc(3 * N * H, sizeof(double)), *S = fx_calloc(9 * B * H, sizeof(double));
	memcpy(F, out.forces, 3 * N * H * sizeof(double));
	memcpy(S, out.stress, 9 * B * H * sizeof(double));
	double fmaxv = 0, smax = 0, dE[8 * MLIP_MAX_HEADS];
	for (size_t k = 0; k < 3 * N * H; k++)
		fmaxv = fmax(fmaxv, fabs(F[k]));
	for (size_t k = 0; k < 9 * B * H; k++)
		smax = fmax(smax, fabs(S[k]));
	ck_assert(fmaxv > 0.05);
	/* Newton's third law per system and head. */
	for (size_t s = 0; s < B; s++)
		for (size_t hd = 0; hd < H; hd++)
			for (int x = 0; x < 3; x++) {
				double sum = 0;
				for (size_t i = b->atom_start[s]; i < b->atom_start[s + 1]; i++)
					sum += F[(3 * i + x) * H + hd];
				ck_assert_double_eq_tol(sum, 0, 1e-12 * fmaxv * (double)N);
			}
	for (size_t k = 0; k < 3 * N; k++) {
		size_t s = 0;
		while (k / 3 >= b->atom_start[s + 1])
			s++;
		fd_energy(dE, m, b, k);
		for (size_t hd = 0; hd < H; hd++)
			ASSERT_REL(F[k * H + hd], -dE[s * H + hd], 1e-6, 1e-3 * fmaxv,
				   "force %zu.%zu head %zu: %.12g fd %.12g", k / 3, k % 3, hd,
				   F[k * H + hd], -dE[s * H + hd]);
	}
	size_t n_periodic = 0;
	for (size_t s = 0; s < B; s++) {
		double V = mlip_cell_volume(b->cell + 9 * s);
		int periodic = b->pbc[3 * s] || b->pbc[3 * s + 1] || b->pbc[3 * s + 2];
		n_periodic += periodic;
		for (size_t ab = 0; ab < 9; ab++) {
			if (periodic)
				fd_energy(dE, m, b, 3 * N + 9 * s + ab);
			for (size_t hd = 0; hd < H; hd++) {
				double got = S[(9 * s + ab) * H + hd];
				if (!periodic) {
					ck_assert(got == 0); /* not defined: reported as zero */
					continue;
				}
				double fd = dE[s * H + hd] / V;
				ASSERT_REL(got, fd, 1e-6, 1e-3 * smax,
					   "stress %zu[%zu] head %zu: %.12g fd %.12g", s, ab, hd, got, fd);
			}
		}
	}
	ck_assert(n_periodic == 0 || smax > 1e-3);
	free(F);
	free(S);
}

START_TEST(test_forces_stress)
{
	const size_t hid[2] = { 24, 24 };
	struct mlip_structure s[3];
	struct mlip_batch b;
	three_systems(s, 5);
	build(&b, s, 3, 5.0);
	struct mlip_model *m = new_model(3, Z3, 2, hid, (enum mlip_activation)_i, 2, NULL, 0, 4.5,
					 7 + _i);
	fit(m, &b);
	check_forces_stress(m, &b);
	/* The thin cell alone, where an atom sees several images of itself. */
	struct mlip_batch thin;
	build(&thin, &s[1], 1, 5.0);
	check_forces_stress(m, &thin);
	fx_batch_free(&thin);
	fx_batch_free(&b);
	for (int k = 0; k < 3; k++)
		mlip_structure_release(&s[k]);
	mlip_model_free(m);
}
END_TEST

/* ---- invariances ------------------------------------------------------------------------------ */

START_TEST(test_invariance)
{
	const size_t hid[2] = { 16, 16 };
	struct mlip_structure s[3];
	three_systems(s, 9);
	struct mlip_model *m = new_model(3, Z3, 2, hid, MLIP_ACT_SILU, 1, NULL, 0, 4.5, 3);
	struct mlip_batch b;
	build(&b, s, 3, 4.5);
	fit(m, &b);
	struct mlip_model_out out;
	forward(m, &b, MLIP_MODEL_FORCES | MLIP_MODEL_STRESS | MLIP_MODEL_ATOMIC, &out);
	size_t N = b.n_atoms;
	double E0[3], F0[3 * 32], S0[27], A0[32];
	memcpy(E0, out.energy, sizeof(E0));
	memcpy(F0, out.forces, 3 * N * sizeof(double));
	memcpy(S0, out.stress, sizeof(S0));
	memcpy(A0, out.atomic_energy, N * sizeof(double));
	for (size_t k = 0; k < 3; k++) {
		double sum = 0;
		for (size_t i = b.atom_start[k]; i < b.atom_start[k + 1]; i++)
			sum += A0[i];
		ck_assert_double_eq_tol(sum, E0[k], 1e-12 * (1 + fabs(E0[k])));
	}
	/* Rotation (r -> rQ, cells too) and translation. */
	double th = 0.7, ph = -1.1, Q[9], Rz[9] = { cos(th), sin(th), 0, -sin(th), cos(th), 0, 0, 0, 1 };
	double Rx[9] = { 1, 0, 0, 0, cos(ph), sin(ph), 0, -sin(ph), cos(ph) };
	for (int a = 0; a < 3; a++)
		for (int c = 0; c < 3; c++) {
			Q[3 * a + c] = 0;
			for (int k = 0; k < 3; k++)
				Q[3 * a + c] += Rz[3 * a + k] * Rx[3 * k + c];
		}
	struct mlip_structure r[3];
	for (int k = 0; k < 3; k++) {
		mlip_structure_init(&r[k]);
		ck_assert_int_eq(mlip_structure_copy(&r[k], &s[k], NULL), 0);
		double *rows[2] = { r[k].positions, r[k].cell };
		size_t cnt[2] = { r[k].natoms, 3 };
		for (int q = 0; q < 2; q++)
			for (size_t i = 0; i < cnt[q]; i++) {
				double v[3];
				for (int c = 0; c < 3; c++)
					v[c] = rows[q][3 * i] * Q[c] + rows[q][3 * i + 1] * Q[3 + c] +
					       rows[q][3 * i + 2] * Q[6 + c];
				for (int c = 0; c < 3; c++)
					rows[q][3 * i + c] = v[c] + (q == 0 ? 0.37 * (c + 1) : 0);
			}
	}
	struct mlip_batch br;
	build(&br, r, 3, 4.5);
	forward(m, &br, MLIP_MODEL_FORCES | MLIP_MODEL_STRESS, &out);
	for (int k = 0; k < 3; k++)
		ck_assert_double_eq_tol(out.energy[k], E0[k], 1e-10 * (1 + fabs(E0[k])));
	for (size_t i = 0; i < N; i++)
		for (int c = 0; c < 3; c++) {
			double want = F0[3 * i] * Q[c] + F0[3 * i + 1] * Q[3 + c] + F0[3 * i + 2] * Q[6 + c];
			ck_assert_double_eq_tol(out.forces[3 * i + c], want, 1e-9);
		}
	for (int k = 0; k < 3; k++)
		for (int a = 0; a < 3; a++)
			for (int c = 0; c < 3; c++) {
				double want = 0; /* σ' = Qᵀ σ Q */
				for (int p = 0; p < 3; p++)
					for (int q = 0; q < 3; q++)
						want += Q[3 * p + a] * S0[9 * k + 3 * p + q] * Q[3 * q + c];
				ck_assert_double_eq_tol(out.stress[9 * k + 3 * a + c], want, 1e-10);
			}
	/* Permutation of the atoms of each structure. */
	struct mlip_structure p[3];
	for (int k = 0; k < 3; k++) {
		mlip_structure_init(&p[k]);
		ck_assert_int_eq(mlip_structure_copy(&p[k], &s[k], NULL), 0);
		size_t n = s[k].natoms;
		for (size_t i = 0; i < n; i++) {
			size_t from = (i * 5 + 3) % n; /* a permutation: 5 is coprime with 11, 4, 8 */
			p[k].numbers[i] = s[k].numbers[from];
			memcpy(p[k].positions + 3 * i, s[k].positions + 3 * from, 3 * sizeof(double));
		}
	}
	struct mlip_batch bp;
	build(&bp, p, 3, 4.5);
	forward(m, &bp, MLIP_MODEL_FORCES | MLIP_MODEL_STRESS, &out);
	for (int k = 0; k < 3; k++) {
		ck_assert_double_eq_tol(out.energy[k], E0[k], 1e-11 * (1 + fabs(E0[k])));
		for (int c = 0; c < 9; c++)
			ck_assert_double_eq_tol(out.stress[9 * k + c], S0[9 * k + c], 1e-11);
		size_t a0 = b.atom_start[k], n = s[k].natoms;
		for (size_t i = 0; i < n; i++)
			for (int c = 0; c < 3; c++)
				ck_assert_double_eq_tol(out.forces[3 * (a0 + i) + c],
							F0[3 * (a0 + (i * 5 + 3) % n) + c], 1e-11);
	}
	/* A larger batch cutoff gives the same numbers. */
	struct mlip_batch bw;
	build(&bw, s, 3, 6.5);
	forward(m, &bw, MLIP_MODEL_FORCES | MLIP_MODEL_STRESS, &out);
	for (int k = 0; k < 3; k++)
		ck_assert_double_eq_tol(out.energy[k], E0[k], 1e-12 * (1 + fabs(E0[k])));
	for (size_t k = 0; k < 3 * N; k++)
		ck_assert_double_eq_tol(out.forces[k], F0[k], 1e-12);
	fx_batch_free(&bw);
	fx_batch_free(&bp);
	fx_batch_free(&br);
	fx_batch_free(&b);
	for (int k = 0; k < 3; k++) {
		mlip_structure_release(&s[k]);
		mlip_structure_release(&r[k]);
		mlip_structure_release(&p[k]);
	}
	mlip_model_free(m);
}
END_TEST

/* ---- training gradients ----------------------------------------------------------------------- */

/*
 * L = Σ a·E + Σ c·F + Σ d:σ + ½ q Σ |F|², so ∂L/∂E = a, ∂L/∂F = c + qF, ∂L/∂σ = d.
 */
struct loss {
	double *a, *c, *d, q;
};

static double loss_eval(struct mlip_model *m, const struct mlip_batch *b, const struct loss *l)
{
	struct mlip_model_out out;
	size_t N = b->n_atoms, B = b->n_systems, H = m->config.n_heads;
	forward(m, b, MLIP_MODEL_FORCES | MLIP_MODEL_STRESS, &out);
	double L = 0;
	for (size_t k = 0; k < B * H; k++)
		L += l->a[k] * out.energy[k];
	for (size_t k = 0; k < 3 * N * H; k++)
		L += l->c[k] * out.forces[k] + 0.5 * l->q * out.forces[k] * out.forces[k];
	for (size_t k = 0; k < 9 * B * H; k++)
		L += l->d[k] * out.stress[k];
	return L;
}

static void loss_backward(struct mlip_model *m, const struct mlip_batch *b, const struct loss *l,
			  int with_forces)
{
	struct mlip_model_out out;
	struct mlip_err err;
	size_t N = b->n_atoms, H = m->config.n_heads;
	forward(m, b, MLIP_MODEL_FORCES | MLIP_MODEL_STRESS | MLIP_MODEL_TRAIN, &out);
	double *dF = fx_calloc(3 * N * H, sizeof(double));
	for (size_t k = 0; k < 3 * N * H; k++)
		dF[k] = l->c[k] + l->q * out.forces[k];
	mlip_model_zero_grad(m);
	ck_assert_msg(mlip_model_backward(m, b, l->a, with_forces ? dF : NULL,
					  with_forces ? l->d : NULL, &err) == 0, "%s", err.msg);
	free(dF);
}

/* Compare every trainable parameter (or every stride-th) with central differences. */
static void check_param_grads(struct mlip_model *m, const struct mlip_batch *b, const struct loss *l,
			      size_t stride)
{
	double *g = fx_calloc(m->n_params, sizeof(double));
	loss_backward(m, b, l, 1);
	memcpy(g, m->grads, m->n_params * sizeof(double));
	double gmax = 0;
	for (size_t k = 0; k < m->n_params; k++)
		gmax = fmax(gmax, fabs(g[k]));
	ck_assert(gmax > 1e-2);
	size_t checked = 0;
	for (size_t t = 0; t < m->tensors.n; t++) {
		const struct mlip_tensor *x = &m->tensors.t[t];
		for (size_t q = 0; q < x->count; q++) {
			size_t k = x->offset + q;
			if (x->flags & MLIP_TENSOR_FROZEN) {
				ck_assert(g[k] == 0);
				continue;
			}
			if ((q + t) % stride)
				continue;
			double h = 1e-5;
			double keep = m->params[k];
			m->params[k] = keep + h;
			double lp = loss_eval(m, b, l);
			m->params[k] = keep - h;
			double lm = loss_eval(m, b, l);
			m->params[k] = keep;
			double fd = (lp - lm) / (2 * h);
			ASSERT_REL(g[k], fd, 1e-6, 1e-3 * gmax, "%s[%zu]: backward %.12g fd %.12g",
				   x->name, q, (double)g[k], fd);
			checked++;
		}
	}
	for (size_t t = 0; t < m->tensors.n; t++) { /* padding stays zero */
		size_t end = m->tensors.t[t].offset + m->tensors.t[t].count;
		size_t next = t + 1 < m->tensors.n ? m->tensors.t[t + 1].offset : m->n_params;
		for (size_t k = end; k < next; k++)
			ck_assert(m->grads[k] == 0);
	}
	ck_assert_uint_gt(checked, 50);
	free(g);
}

static struct loss make_loss(const struct mlip_batch *b, size_t H, uint64_t seed)
{
	uint64_t rng = seed;
	struct loss l;
	size_t N = b->n_atoms, B = b->n_systems;
	l.a = fx_calloc(B * H, sizeof(double));
	l.c = fx_calloc(3 * N * H, sizeof(double));
	l.d = fx_calloc(9 * B * H, sizeof(double));
	for (size_t k = 0; k < B * H; k++)
		l.a[k] = 2 * test_rand_unif(&rng) - 1;
	for (size_t k = 0; k < 3 * N * H; k++)
		l.c[k] = 2 * test_rand_unif(&rng) - 1;
	for (size_t k = 0; k < 9 * B * H; k++)
		l.d[k] = 20 * (2 * test_rand_unif(&rng) - 1); /* stresses are ~1/V smaller */
	l.q = 0.7;
	return l;
}

static void free_loss(struct loss *l)
{
	free(l->a), free(l->c), free(l->d);
}

/* A small explicit set over 3 elements with every kind of function. */
static struct mlip_sf *small_set(size_t *n)
{
	struct mlip_sf *sf = fx_calloc(64, sizeof(*sf));
	size_t m = 0;
	for (int c = 0; c < 3; c++) {
		for (int s = 0; s < 3; s++) {
			sf[m++] = (struct mlip_sf){ .kind = MLIP_SF_G2, .z = Z3[c], .z1 = Z3[s],
						    .eta = 0.8, .rs = 1.2, .rc = 4.5 };
			sf[m++] = (struct mlip_sf){ .kind = MLIP_SF_G2, .z = Z3[c], .z1 = Z3[s],
						    .eta = 0.3, .rs = 2.5, .rc = 4.0 };
		}
		for (int s1 = 0; s1 < 3; s1++)
			for (int s2 = s1; s2 < 3; s2++) {
				sf[m++] = (struct mlip_sf){ .kind = MLIP_SF_G9, .z = Z3[c], .z1 = Z3[s1],
							    .z2 = Z3[s2], .eta = 0.05, .lambda = -1,
							    .zeta = 2, .rc = 4.5 };
				sf[m++] = (struct mlip_sf){ .kind = MLIP_SF_G3, .z = Z3[c], .z1 = Z3[s1],
							    .z2 = Z3[s2], .eta = 0.02, .lambda = 1,
							    .zeta = 4, .rc = 4.5 };
			}
	}
	*n = m;
	return sf;
}

START_TEST(test_train_grads)
{
	const size_t hid[2] = { 6, 5 };
	size_t n_sf;
	struct mlip_sf *sf = small_set(&n_sf);
	struct mlip_structure s[3];
	struct mlip_batch b;
	three_systems(s, 13);
	build(&b, s, 3, 5.0);
	struct mlip_model *m = new_model(3, Z3, 2, hid, (enum mlip_activation)_i, 2, sf, n_sf, 4.5,
					 100 + _i);
	fit(m, &b);
	struct loss l = make_loss(&b, 2, 17 + _i);
	check_param_grads(m, &b, &l, 1);
	free_loss(&l);
	fx_batch_free(&b);
	for (int k = 0; k < 3; k++)
		mlip_structure_release(&s[k]);
	mlip_model_free(m);
	free(sf);
}
END_TEST

/* The default descriptor set and width, one head, a sample of the parameters. */
START_TEST(test_train_grads_default)
{
	const size_t hid[2] = { 24, 24 };
	struct mlip_structure s[3];
	struct mlip_batch b;
	three_systems(s, 19);
	build(&b, s, 3, 5.0);
	struct mlip_model *m = new_model(3, Z3, 2, hid, MLIP_ACT_TANH, 1, NULL, 0, 4.5, 5);
	fit(m, &b);
	struct loss l = make_loss(&b, 1, 23);
	check_param_grads(m, &b, &l, 29);
	/* Energy-only backward equals the gradient of Σ a·E. */
	struct loss le = l;
	le.c = fx_calloc(3 * b.n_atoms, sizeof(double));
	le.d = fx_calloc(9 * b.n_systems, sizeof(double));
	le.q = 0;
	loss_backward(m, &b, &le, 0);
	double *g0 = fx_calloc(m->n_params, sizeof(double));
	memcpy(g0, m->grads, m->n_params * sizeof(double));
	loss_backward(m, &b, &le, 1); /* zero force/stress cotangents: same result */
	for (size_t k = 0; k < m->n_params; k++)
		ck_assert_double_eq_tol(g0[k], m->grads[k], 1e-14 * (1 + fabs(g0[k])));
	check_param_grads(m, &b, &le, 13);
	free(g0);
	free(le.c);
	free(le.d);
	free_loss(&l);
	fx_batch_free(&b);
	for (int k = 0; k < 3; k++)
		mlip_structure_release(&s[k]);
	mlip_model_free(m);
}
END_TEST

/*
 * The moment tensor basis in place of the symmetry functions (model.mtp_level):
 * forces and stresses are the derivatives of the energy, and the training
 * gradient through the basis's JVP is exact, on three elements and two heads.
 */
START_TEST(test_mtp_model)
{
	const size_t hid[2] = { 6, 5 };
	struct mlip_model_config c;
	struct mlip_model *m;
	struct mlip_err err;
	struct mlip_structure s[3];
	struct mlip_batch b;
	three_systems(s, 31);
	build(&b, s, 3, 5.0);
	mlip_model_config_init(&c);
	c.cutoff = 4.5;
	c.n_elements = 3;
	memcpy(c.elements, Z3, 3 * sizeof(int));
	memcpy(c.hidden, hid, sizeof(hid));
	c.n_heads = 2;
	snprintf(c.heads[1], MLIP_NAME_MAX, "head1");
	c.seed = 3;
	c.mtp_level = 12;
	c.mtp.r_min = 0.5;
	ck_assert_msg(mlip_model_new(&m, &c, &err) == 0, "%s", err.msg);
	ck_assert_ptr_nonnull(m->mtp);
	ck_assert_uint_eq(m->desc.dim[0], m->mtp->n_basis);
	ck_assert_uint_eq(m->desc.n_sf, 0);
	fit(m, &b);
	check_forces_stress(m, &b);
	struct loss l = make_loss(&b, 2, 37);
	check_param_grads(m, &b, &l, 1);
	free_loss(&l);
	/* symmetry functions and a basis level at once are refused */
	size_t n_sf;
	struct mlip_sf *sf = small_set(&n_sf);
	c.sf = sf;
	c.n_sf = n_sf;
	struct mlip_model *bad;
	ck_assert_int_eq(mlip_model_new(&bad, &c, &err), MLIP_EINVAL);
	free(sf);
	fx_batch_free(&b);
	for (int k = 0; k < 3; k++)
		mlip_structure_release(&s[k]);
	mlip_model_free(m);
}
END_TEST

/* ---- trainable radial coefficients ------------------------------------------------------------ */

static double *model_outputs(struct mlip_model *m, const struct mlip_batch *b, uint64_t seed,
			     size_t *n);
static void assert_same_outputs(const double *a, const double *b, size_t n, const char *what);

static struct mlip_model *radial_model(size_t n_el, int train, enum mlip_precision prec)
{
	const size_t hid[2] = { 6, 5 };
	struct mlip_model_config c;
	struct mlip_model *m;
	struct mlip_err err;
	mlip_model_config_init(&c);
	c.cutoff = 4.5;
	c.n_elements = n_el;
	memcpy(c.elements, Z3, n_el * sizeof(int));
	memcpy(c.hidden, hid, sizeof(hid));
	c.n_heads = 2;
	snprintf(c.heads[1], MLIP_NAME_MAX, "head1");
	c.seed = 11;
	c.mtp_level = 12;
	c.mtp.r_min = 0.7;
	c.mtp_train_radial = train;
	c.precision = prec;
	ck_assert_msg(mlip_model_new(&m, &c, &err) == 0, "%s", err.msg);
	return m;
}

/* three_systems' cells with elements Z3[0 .. n_el). */
static void radial_systems(struct mlip_structure s[3], size_t n_el, uint64_t seed)
{
	uint64_t rng = seed;
	const double tri[9] = { 5.2, 0, 0, 0.8, 5.6, 0, -0.6, 0.9, 6.1 };
	const double thin[9] = { 4.4, 0, 0, 0.5, 4.8, 0, 0.3, -0.2, 2.1 };
	const double box[9] = { 7, 0, 0, 0, 7, 0, 0, 0, 7 };
	const uint8_t p3[3] = { 1, 1, 1 }, p0[3] = { 0, 0, 0 };
	fx_random_structure(&s[0], tri, p3, 11, Z3, n_el, 1.6, &rng);
	fx_random_structure(&s[1], thin, p3, 4, Z3, n_el, 1.7, &rng);
	fx_random_structure(&s[2], box, p0, 8, Z3, n_el, 1.5, &rng);
}

/* The gradient of l with respect to every radial coefficient against central differences. */
static void check_radial_grads(struct mlip_model *m, const struct mlip_batch *b,
			       const struct loss *l, const char *what)
{
	const struct mlip_tensor *x = mlip_tensors_find(&m->tensors, "mtp.radial");
	ck_assert_ptr_nonnull(x);
	double *g = fx_calloc(x->count, sizeof(double)), gmax = 0;
	loss_backward(m, b, l, 1);
	memcpy(g, m->grads + x->offset, x->count * sizeof(double));
	for (size_t q = 0; q < x->count; q++)
		gmax = fmax(gmax, fabs(g[q]));
	ck_assert_msg(gmax > 1e-3, "%s: radial gradient %g", what, gmax);
	for (size_t q = 0; q < x->count; q++) {
		const double h = 1e-5;
		double *p = m->params + x->offset + q, keep = *p;
		*p = keep + h;
		double lp = loss_eval(m, b, l);
		*p = keep - h;
		double lm = loss_eval(m, b, l);
		*p = keep;
		double fd = (lp - lm) / (2 * h);
		ASSERT_REL(g[q], fd, 1e-6, 1e-4 * gmax, "%s: mtp.radial[%zu]: backward %.12g fd %.12g",
			   what, q, g[q], fd);
	}
	free(g);
}

/*
 * model.descriptor.train_radial: the coefficients are the tensor mtp.radial
 * (NO_DECAY, last in the table), starting from the fixed basis's values, so
 * that an untrained model gives the fixed model's outputs and weight
 * gradients bit for bit; the gradient of energy, force, stress and mixed
 * losses with respect to every coefficient against central differences, for
 * one and two elements; init_params resets the tensor; kept geometry
 * recomputes the rows once the coefficients move; float32 agrees with float64.
 */
START_TEST(test_mtp_radial)
{
	for (size_t n_el = 1; n_el <= 2; n_el++) {
		struct mlip_structure s[3];
		struct mlip_batch b;
		struct mlip_model_out out;
		struct mlip_err err;
		radial_systems(s, n_el, 40 + n_el);
		build(&b, s, 3, 5.0);
		struct mlip_model *m0 = radial_model(n_el, 0, MLIP_FLOAT64);
		struct mlip_model *m = radial_model(n_el, 1, MLIP_FLOAT64);
		fit(m0, &b);
		fit(m, &b);
		const struct mlip_tensor *x = mlip_tensors_find(&m->tensors, "mtp.radial");
		ck_assert_ptr_nonnull(x);
		ck_assert_ptr_null(mlip_tensors_find(&m0->tensors, "mtp.radial"));
		ck_assert_uint_eq(x - m->tensors.t, m->tensors.n - 1);
		ck_assert_uint_eq(m->tensors.n, m0->tensors.n + 1);
		ck_assert_uint_eq(x->flags, MLIP_TENSOR_NO_DECAY);
		ck_assert_uint_eq(x->ndim, 4);
		ck_assert_uint_eq(x->shape[0], n_el);
		ck_assert_uint_eq(x->shape[1], n_el);
		ck_assert_uint_eq(x->shape[2], m->mtp->n_mu);
		ck_assert_uint_eq(x->shape[3], m->mtp->n_radial);
		ck_assert_int_eq(memcmp(m->params + x->offset, m0->mtp->radial,
					x->count * sizeof(double)), 0);
		/* untrained: the fixed model's numbers and weight gradients, bit for bit */
		size_t n0, n1;
		double *o0 = model_outputs(m0, &b, 7, &n0), *o1 = model_outputs(m, &b, 7, &n1);
		ck_assert_uint_eq(n1 - n0, m->n_params - m0->n_params);
		assert_same_outputs(o0, o1, n0 - m0->n_params + x->offset, "untrained radial model");
		free(o0);
		free(o1);
		/* every coefficient, each kind of term alone and mixed */
		struct loss l = make_loss(&b, 2, 50 + n_el);
		size_t N = b.n_atoms, B = b.n_systems;
		double *a = l.a, *c = l.c, *d = l.d, q = l.q;
		double *za = fx_calloc(B * 2, sizeof(double)), *zc = fx_calloc(3 * N * 2, sizeof(double));
		double *zd = fx_calloc(9 * B * 2, sizeof(double));
		struct loss kinds[4] = { { a, zc, zd, 0 }, { za, c, zd, q }, { za, zc, d, 0 }, l };
		const char *names[4] = { "energy", "forces", "stress", "mixed" };
		/* move the coefficients off their start, so that nothing rests on orthonormal rows */
		uint64_t rng = 3;
		for (size_t k = 0; k < x->count; k++)
			m->params[x->offset + k] += 0.1 * (2 * test_rand_unif(&rng) - 1);
		for (int k = 0; k < 4; k++)
			check_radial_grads(m, &b, &kinds[k], names[k]);
		/* the other weights' gradients stay exact with the radials moved */
		check_param_grads(m, &b, &l, 2);
		/* kept geometry: the rows follow the coefficients */
		double E1[6];
		ck_assert_int_eq(mlip_model_keep_geometry(m, 1, (size_t)1 << 30, &err), 0);
		ck_assert_int_eq(mlip_model_forward_kept(m, &b, 0, MLIP_MODEL_TRAIN, &out, &err), 0);
		m->params[x->offset + 1] += 0.05;
		ck_assert_int_eq(mlip_model_forward_kept(m, &b, 0, MLIP_MODEL_TRAIN, &out, &err), 0);
		memcpy(E1, out.energy, 6 * sizeof(double));
		forward(m, &b, MLIP_MODEL_TRAIN, &out);
		ck_assert_int_eq(memcmp(E1, out.energy, 6 * sizeof(double)), 0);
		mlip_model_drop_geometry(m);
		/* init_params puts the basis's coefficients back */
		mlip_model_init_params(m, 11);
		ck_assert_int_eq(memcmp(m->params + x->offset, m0->mtp->radial,
					x->count * sizeof(double)), 0);
		/* float32: the network in float, the radial gradient close to float64's */
		struct mlip_model *m32 = radial_model(n_el, 1, MLIP_FLOAT32);
		fit(m32, &b);
		memcpy(m32->params, m->params, m->n_params * sizeof(double));
		loss_backward(m, &b, &l, 1);
		loss_backward(m32, &b, &l, 1);
		double gmax = 0;
		for (size_t k = 0; k < x->count; k++)
			gmax = fmax(gmax, fabs(m->grads[x->offset + k]));
		for (size_t k = 0; k < x->count; k++)
			ck_assert_msg(fabs(m32->grads[x->offset + k] - m->grads[x->offset + k]) <=
					      1e-4 * gmax, "float32 mtp.radial[%zu]: %.9g vs %.9g", k,
				      m32->grads[x->offset + k], m->grads[x->offset + k]);
		mlip_model_free(m32);
		free(za);
		free(zc);
		free(zd);
		free_loss(&l);
		mlip_model_free(m0);
		mlip_model_free(m);
		fx_batch_free(&b);
		for (int k = 0; k < 3; k++)
			mlip_structure_release(&s[k]);
	}
}
END_TEST

/* ---- collation and threads -------------------------------------------------------------------- */

/* Energies, forces, stresses, atomic energies and the gradient of a mixed loss, in one array. */
static double *model_outputs(struct mlip_model *m, const struct mlip_batch *b, uint64_t seed,
			     size_t *n)
{
	struct mlip_model_out out;
	struct mlip_err err;
	size_t N = b->n_atoms, B = b->n_systems, H = m->config.n_heads;
	size_t cnt[5] = { B * H, 3 * N * H, 9 * B * H, N * H, m->n_params };
	forward(m, b, MLIP_MODEL_FORCES | MLIP_MODEL_STRESS | MLIP_MODEL_ATOMIC | MLIP_MODEL_TRAIN,
		&out);
	double *r = fx_calloc(cnt[0] + cnt[1] + cnt[2] + cnt[3] + cnt[4], sizeof(double)), *p = r;
	const double *src[4] = { out.energy, out.forces, out.stress, out.atomic_energy };
	for (int q = 0; q < 4; q++) {
		memcpy(p, src[q], cnt[q] * sizeof(double));
		p += cnt[q];
	}
	struct loss l = make_loss(b, H, seed);
	mlip_model_zero_grad(m);
	ck_assert_msg(mlip_model_backward(m, b, l.a, l.c, l.d, &err) == 0, "%s", err.msg);
	for (size_t k = 0; k < m->n_params; k++)
		p[k] = (double)m->grads[k];
	free_loss(&l);
	*n = cnt[0] + cnt[1] + cnt[2] + cnt[3] + cnt[4];
	return r;
}

/* The same numbers, bit for bit (a tolerance would hide a changed summation order). */
static void assert_same_outputs(const double *a, const double *b, size_t n, const char *what)
{
	size_t diff = 0, first = n;
	for (size_t k = 0; k < n; k++)
		if (memcmp(&a[k], &b[k], sizeof(double))) {
			diff++;
			if (first == n)
				first = k;
		}
	ck_assert_msg(diff == 0, "%s: %zu of %zu values differ, first [%zu] %.17g vs %.17g", what,
		      diff, n, first, first < n ? a[first] : 0, first < n ? b[first] : 0);
}

/*
 * The library's collation (mlip_batch_collate, the programs' path) and the
 * test fixture give the model the same batch: same outputs, bit for bit, for
 * the three-element systems (explicit set with G3, two heads; default set) and
 * for the first structures of the mlearn Si training set.
 */
START_TEST(test_collate_batches)
{
	const size_t hid[2] = { 8, 6 };
	struct mlip_err err;
	struct mlip_structure s[3];
	struct mlip_structure *ps[3] = { &s[0], &s[1], &s[2] };
	three_systems(s, 41);
	size_t n_sf;
	struct mlip_sf *sf = small_set(&n_sf);
	struct mlip_model *m3[2] = {
		new_model(3, Z3, 2, hid, MLIP_ACT_SILU, 2, sf, n_sf, 4.5, 3),
		new_model(3, Z3, 2, hid, MLIP_ACT_TANH, 1, NULL, 0, 4.5, 4),
	};
	/* the Si structures */
	char path[1024];
	snprintf(path, sizeof(path), "share/demo/si-train.json"); /* mlearn Si, a third */
	FILE *f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	struct mlip_structure_list list;
	mlip_structure_list_init(&list);
	ck_assert_msg(mlip_mlearn_read(f, path, &list, &err) == 0, "%s", err.msg);
	fclose(f);
	ck_assert_uint_ge(list.n, 4);
	struct mlip_structure *si[4] = { &list.items[0], &list.items[1], &list.items[2],
					  &list.items[3] };
	struct mlip_model *msi = new_model(1, (int[]){ 14 }, 2, hid, MLIP_ACT_TANH, 1, NULL, 0, 5.5, 5);
	struct {
		struct mlip_model *m;
		struct mlip_structure *const *s;
		size_t n;
		double cutoff;
	} cases[3] = { { m3[0], ps, 3, 5.0 }, { m3[1], ps, 3, 4.5 }, { msi, si, 4, 5.5 } };
	for (int c = 0; c < 3; c++) {
		struct mlip_batch fx, lib;
		mlip_batch_init(&lib);
		fx_batch_build(&fx, cases[c].s, cases[c].n, cases[c].cutoff);
		ck_assert_msg(mlip_batch_collate(&lib, (const struct mlip_structure *const *)cases[c].s,
						 cases[c].n, cases[c].cutoff, 0, NULL, &err) == 0,
			      "%s", err.msg);
		ck_assert_uint_eq(lib.n_atoms, fx.n_atoms);
		ck_assert_uint_eq(lib.n_edges, fx.n_edges);
		ck_assert_uint_gt(lib.n_edges, 10 * lib.n_systems);
		fit(cases[c].m, &lib);
		size_t n1, n2;
		double *a = model_outputs(cases[c].m, &fx, 60 + c, &n1);
		double *b = model_outputs(cases[c].m, &lib, 60 + c, &n2);
		ck_assert_uint_eq(n1, n2);
		assert_same_outputs(a, b, n1, c == 2 ? "mlearn Si" : "three systems");
		free(a);
		free(b);
		fx_batch_free(&fx);
		mlip_batch_release(&lib);
	}
	mlip_model_free(m3[0]);
	mlip_model_free(m3[1]);
	mlip_model_free(msi);
	mlip_structure_list_release(&list);
	for (int k = 0; k < 3; k++)
		mlip_structure_release(&s[k]);
	free(sf);
}
END_TEST

/*
 * Threads: the count rule, and outputs with two threads equal to one thread's,
 * bit for bit (a 216-atom Si cell with two heads; the three-element systems
 * with G3 functions). Without OpenMP everything runs on one thread and the
 * comparison still holds.
 */
START_TEST(test_threads)
{
	/* the Si layers are wide enough (216 × 20 values and more) for threaded activations */
	const size_t hid[2] = { 12, 10 }, hid_si[2] = { 24, 20 };
	struct mlip_structure s[4];
	uint64_t rng = 77;
	three_systems(s, 43);
	fx_diamond(&s[3], 3, 5.431, 0.15, &rng);
	size_t n_sf;
	struct mlip_sf *sf = small_set(&n_sf);
	struct mlip_model *m[2] = {
		new_model(3, Z3, 2, hid, MLIP_ACT_SOFTPLUS, 2, sf, n_sf, 4.5, 9),
		new_model(1, (int[]){ 14 }, 2, hid_si, MLIP_ACT_TANH, 2, NULL, 0, 5.5, 10),
	};
	struct mlip_batch b[2];
	build(&b[0], s, 3, 5.0);
	build(&b[1], &s[3], 1, 5.5);
	ck_assert_uint_eq(b[1].n_atoms, 216);
	/* OMP_NUM_THREADS unset: one thread, whatever the machine. */
	unsetenv("OMP_NUM_THREADS");
	ck_assert_int_eq(mlip_descriptor_threads(&m[1]->desc, 216), 1);
	m[1]->desc.n_threads = 2;
#ifdef _OPENMP
	ck_assert_int_eq(mlip_descriptor_threads(&m[1]->desc, 216), 2);
	ck_assert_int_eq(mlip_descriptor_threads(&m[1]->desc, 15), 1); /* one task only */
#else
	ck_assert_int_eq(mlip_descriptor_threads(&m[1]->desc, 216), 1);
#endif
	for (int c = 0; c < 2; c++) {
		fit(m[c], &b[c]);
		m[c]->desc.n_threads = 1;
		size_t n1, n2, n3;
		double *one = model_outputs(m[c], &b[c], 90 + c, &n1);
		m[c]->desc.n_threads = 2;
		double *two = model_outputs(m[c], &b[c], 90 + c, &n2);
		assert_same_outputs(one, two, n1, "2 threads (n_threads)");
		/* The environment's count: OMP_NUM_THREADS set, omp_set_num_threads(2). */
		m[c]->desc.n_threads = 0;
		setenv("OMP_NUM_THREADS", "2", 1);
#ifdef _OPENMP
		omp_set_num_threads(2);
		ck_assert_int_eq(mlip_descriptor_threads(&m[c]->desc, b[c].n_atoms), 2);
#endif
		double *env = model_outputs(m[c], &b[c], 90 + c, &n3);
		unsetenv("OMP_NUM_THREADS");
		ck_assert_uint_eq(n1, n2);
		ck_assert_uint_eq(n1, n3);
		assert_same_outputs(one, env, n1, "2 threads (OMP_NUM_THREADS)");
		free(one);
		free(two);
		free(env);
		fx_batch_free(&b[c]);
		mlip_model_free(m[c]);
	}
	for (int k = 0; k < 4; k++)
		mlip_structure_release(&s[k]);
	free(sf);
}
END_TEST

/* ---- BLAS against naive loops ------------------------------------------------------------------ */

START_TEST(test_blas_naive)
{
	const size_t hid[2] = { 24, 24 };
	struct mlip_structure s[3];
	struct mlip_batch b;
	three_systems(s, 29);
	build(&b, s, 3, 4.5);
	struct mlip_model *m = new_model(3, Z3, 2, hid, MLIP_ACT_SOFTPLUS, 2, NULL, 0, 4.5, 8);
	fit(m, &b);
	struct loss l = make_loss(&b, 2, 31);
	size_t N = b.n_atoms, B = b.n_systems, H = 2;
	struct mlip_model_out out;
	double *r1 = fx_calloc(B * H + 3 * N * H + 9 * B * H, sizeof(double));
	double *g1 = fx_calloc(m->n_params, sizeof(double));
	for (int naive = 0; naive < 2; naive++) {
		m->naive = naive;
		forward(m, &b, MLIP_MODEL_FORCES | MLIP_MODEL_STRESS, &out);
		const double *got[3] = { out.energy, out.forces, out.stress };
		size_t cnt[3] = { B * H, 3 * N * H, 9 * B * H };
		double *r = r1;
		for (int q = 0; q < 3; q++)
			for (size_t k = 0; k < cnt[q]; k++, r++) {
				if (!naive)
					*r = got[q][k];
				else
					ck_assert_double_eq_tol(*r, got[q][k], 1e-12 * (1 + fabs(*r)));
			}
		loss_backward(m, &b, &l, 1);
		for (size_t k = 0; k < m->n_params; k++) {
			if (!naive)
				g1[k] = m->grads[k];
			else
				ck_assert_double_eq_tol(g1[k], m->grads[k], 1e-12 * (1 + fabs(g1[k])));
		}
	}
	free(r1);
	free(g1);
	free_loss(&l);
	fx_batch_free(&b);
	for (int k = 0; k < 3; k++)
		mlip_structure_release(&s[k]);
	mlip_model_free(m);
}
END_TEST

/* ---- float32 ------------------------------------------------------------------------------------ */

/* ‖a − b‖₂ / ‖b‖₂ over n values. */
static double rel_err(const double *a, const double *b, size_t n)
{
	double d = 0, s = 0;
	for (size_t k = 0; k < n; k++) {
		d += (a[k] - b[k]) * (a[k] - b[k]);
		s += b[k] * b[k];
	}
	ck_assert(s > 0);
	return sqrt(d / s);
}

/*
 * The float32 model against the float64 one on the same weights and batch:
 * energies, forces, stresses, atomic energies (each as a vector) and the
 * gradient of a mixed E + F + σ loss (tensor by tensor) agree to tol in norm.
 */
static void compare_precisions(struct mlip_model *m, const struct mlip_batch *b, uint64_t seed,
			       double tol)
{
	size_t N = b->n_atoms, B = b->n_systems, H = m->config.n_heads, n;
	const char *what[4] = { "energies", "forces", "stress", "atomic energies" };
	size_t cnt[4] = { B * H, 3 * N * H, 9 * B * H, N * H };
	double *keep = fx_calloc(m->n_params, sizeof(double));
	memcpy(keep, m->params, m->n_params * sizeof(double));
	m->precision = MLIP_FLOAT64;
	double *r64 = model_outputs(m, b, seed, &n);
	m->precision = MLIP_FLOAT32;
	double *r32 = model_outputs(m, b, seed, &n);
	m->precision = MLIP_FLOAT64;
	/* the master weights are never touched */
	ck_assert_int_eq(memcmp(keep, m->params, m->n_params * sizeof(double)), 0);
	size_t at = 0;
	for (int q = 0; q < 4; q++) {
		double e = rel_err(r32 + at, r64 + at, cnt[q]);
		ck_assert_msg(e <= tol, "float32 %s: relative error %.3g > %.3g", what[q], e, tol);
		ck_assert_msg(e > 0, "float32 %s: identical to float64 (not float?)", what[q]);
		at += cnt[q];
	}
	const double *g32 = r32 + at, *g64 = r64 + at;
	for (size_t t = 0; t < m->tensors.n; t++) {
		const struct mlip_tensor *x = &m->tensors.t[t];
		if (x->flags & MLIP_TENSOR_FROZEN) {
			for (size_t q = 0; q < x->count; q++)
				ck_assert(g32[x->offset + q] == 0);
			continue;
		}
		double e = rel_err(g32 + x->offset, g64 + x->offset, x->count);
		ck_assert_msg(e <= tol, "float32 gradient of %s: relative error %.3g > %.3g", x->name,
			      e, tol);
	}
	for (size_t t = 0; t < m->tensors.n; t++) { /* padding stays zero */
		size_t end = m->tensors.t[t].offset + m->tensors.t[t].count;
		size_t next = t + 1 < m->tensors.n ? m->tensors.t[t + 1].offset : m->n_params;
		for (size_t k = end; k < next; k++)
			ck_assert(g32[k] == 0);
	}
	free(keep);
	free(r32);
	free(r64);
}

/*
 * float32 against float64 on the same weights: the three-element systems with
 * every kind of function and two heads, per activation, and four structures
 * of the mlearn Si training set with the default model. Tolerance 1e-5
 * relative in norm: float rounds the network's inputs, weights and every
 * activation to 24 bits (u = 6e-8), and the errors grow through the layers
 * and the tangent and adjoint passes, but everything downstream (the
 * symmetry-function derivatives, the sums over atoms and edges) is double,
 * so nothing amplifies them further. Measured: 2e-8 .. 4e-7, and 2.5e-6 for
 * the b_out gradient of the Si batch (a float sum over 250 atoms of ∂L/∂E
 * that partly cancel). The bound leaves room for another BLAS and still
 * catches any term computed wrongly or left out in float (those show up at
 * 1e-3 and above).
 */
START_TEST(test_f32_vs_f64)
{
	const size_t hid[2] = { 16, 12 }, hid_si[2] = { 24, 24 };
	size_t n_sf;
	struct mlip_sf *sf = small_set(&n_sf);
	struct mlip_structure s[3];
	struct mlip_batch b;
	three_systems(s, 53 + _i);
	build(&b, s, 3, 5.0);
	struct mlip_model *m = new_model(3, Z3, 2, hid, (enum mlip_activation)_i, 2, sf, n_sf, 4.5,
					 200 + _i);
	fit(m, &b);
	compare_precisions(m, &b, 61 + _i, 1e-5);
	mlip_model_free(m);
	fx_batch_free(&b);
	for (int k = 0; k < 3; k++)
		mlip_structure_release(&s[k]);
	free(sf);
	if (_i)
		return;
	/* mlearn Si, default descriptors and widths */
	struct mlip_err err;
	char path[1024];
	snprintf(path, sizeof(path), "share/demo/si-train.json"); /* mlearn Si, a third */
	FILE *f = fopen(path, "r");
	ck_assert_msg(f != NULL, "cannot open %s", path);
	struct mlip_structure_list list;
	mlip_structure_list_init(&list);
	ck_assert_msg(mlip_mlearn_read(f, path, &list, &err) == 0, "%s", err.msg);
	fclose(f);
	const struct mlip_structure *si[4] = { &list.items[0], &list.items[1], &list.items[2],
						&list.items[3] };
	mlip_batch_init(&b);
	ck_assert_msg(mlip_batch_collate(&b, si, 4, 5.5, 0, NULL, &err) == 0, "%s", err.msg);
	m = new_model(1, (int[]){ 14 }, 2, hid_si, MLIP_ACT_TANH, 1, NULL, 0, 5.5, 7);
	m->config.precision = MLIP_FLOAT32; /* only what creation reads; forward reads m->precision */
	fit(m, &b);
	compare_precisions(m, &b, 71, 1e-5);
	mlip_model_free(m);
	mlip_batch_release(&b);
	mlip_structure_list_release(&list);
}
END_TEST

/*
 * The float32 training gradient is the derivative of the float32 loss:
 * central differences over a sample of the parameters. Every trainable
 * parameter reaches the network through its float copy, so the step is the
 * one float sees, (float)(θ + h) − (float)(θ − h). Loose: the float loss
 * carries ~1e-7 relative noise, which the difference quotient divides by
 * the step: with h = 2⁻⁸ (noise and truncation balanced; 2⁻¹⁰ is noisier,
 * 2⁻⁷ truncates) the worst measured disagreement is 1e-3, bound 5e-3.
 */
START_TEST(test_f32_fd)
{
	const size_t hid[2] = { 8, 6 };
	size_t n_sf;
	struct mlip_sf *sf = small_set(&n_sf);
	struct mlip_structure s[3];
	struct mlip_batch b;
	three_systems(s, 13);
	build(&b, s, 3, 5.0);
	struct mlip_model *m = new_model(3, Z3, 2, hid, MLIP_ACT_SILU, 2, sf, n_sf, 4.5, 300);
	fit(m, &b);
	m->precision = MLIP_FLOAT32;
	struct loss l = make_loss(&b, 2, 19);
	double *g = fx_calloc(m->n_params, sizeof(double));
	loss_backward(m, &b, &l, 1);
	memcpy(g, m->grads, m->n_params * sizeof(double));
	double gmax = 0;
	for (size_t k = 0; k < m->n_params; k++)
		gmax = fmax(gmax, fabs(g[k]));
	ck_assert(gmax > 1e-2);
	size_t checked = 0;
	for (size_t t = 0; t < m->tensors.n; t++) {
		const struct mlip_tensor *x = &m->tensors.t[t];
		for (size_t q = 0; q < x->count && !(x->flags & MLIP_TENSOR_FROZEN); q++) {
			if ((q + t) % 5)
				continue;
			size_t k = x->offset + q;
			double keep = m->params[k], h = 0x1p-8;
			m->params[k] = keep + h;
			double lp = loss_eval(m, &b, &l), up = (float)m->params[k];
			m->params[k] = keep - h;
			double lm = loss_eval(m, &b, &l), dn = (float)m->params[k];
			m->params[k] = keep;
			double fd = (lp - lm) / (up - dn);
			double e = fabs(g[k] - fd) / fmax(fabs(fd), 1e-2 * gmax);
			ck_assert_msg(e <= 5e-3, "%s[%zu]: float32 backward %.9g fd %.9g", x->name, q,
				      g[k], fd);
			checked++;
		}
	}
	ck_assert_uint_gt(checked, 50);
	free(g);
	free_loss(&l);
	fx_batch_free(&b);
	for (int k = 0; k < 3; k++)
		mlip_structure_release(&s[k]);
	mlip_model_free(m);
	free(sf);
}
END_TEST

/*
 * float32 plumbing: BLAS against naive kernels, one thread against two (bit
 * for bit), the working memory, a precision switched between forward and
 * backward refused, and float64 after float32 unchanged bit for bit.
 */
START_TEST(test_f32_paths)
{
	const size_t hid[2] = { 24, 20 };
	struct mlip_structure s[1];
	uint64_t rng = 81;
	struct mlip_err err;
	fx_diamond(&s[0], 3, 5.431, 0.15, &rng);
	struct mlip_batch b;
	build(&b, s, 1, 5.5);
	struct mlip_model *m = new_model(1, (int[]){ 14 }, 2, hid, MLIP_ACT_TANH, 2, NULL, 0, 5.5, 12);
	fit(m, &b);
	size_t n, n2;
	unsetenv("OMP_NUM_THREADS");
	m->desc.n_threads = 1;
	double *before = model_outputs(m, &b, 5, &n);
	size_t bytes64 = mlip_model_work_bytes(m);
	m->precision = MLIP_FLOAT32;
	double *one = model_outputs(m, &b, 5, &n2);
	m->desc.n_threads = 2;
	double *two = model_outputs(m, &b, 5, &n2);
	assert_same_outputs(one, two, n, "float32, 2 threads");
	m->desc.n_threads = 1;
	m->naive = 1;
	double *naive = model_outputs(m, &b, 5, &n2);
	m->naive = 0;
	double e = rel_err(naive, one, n); /* everything at once: outputs and gradients */
	ck_assert_msg(e > 0 && e < 1e-5, "float32 naive vs BLAS: %.3g", e);
	/* A model created in float32 (buffers grow, never shrink, so a fresh one): the
	 * network's buffers are half the size, the descriptor buffers stay double. */
	struct mlip_model_config c32 = m->config;
	struct mlip_model *m32;
	c32.precision = MLIP_FLOAT32;
	ck_assert_int_eq(mlip_model_new(&m32, &c32, &err), 0);
	ck_assert_int_eq(m32->precision, MLIP_FLOAT32);
	memcpy(m32->params, m->params, m->n_params * sizeof(double));
	double *fresh = model_outputs(m32, &b, 5, &n2);
	assert_same_outputs(one, fresh, n, "float32, switched or created");
	size_t bytes32 = mlip_model_work_bytes(m32);
	ck_assert_msg(bytes32 < bytes64, "work bytes: float32 %zu, float64 %zu", bytes32, bytes64);
	free(fresh);
	mlip_model_free(m32);
	/* backward after a forward in the other precision */
	struct mlip_model_out out;
	double dE[2] = { 1, 1 };
	forward(m, &b, MLIP_MODEL_TRAIN, &out);
	m->precision = MLIP_FLOAT64;
	ck_assert_int_eq(mlip_model_backward(m, &b, dE, NULL, NULL, &err), MLIP_EINVAL);
	double *after = model_outputs(m, &b, 5, &n2);
	assert_same_outputs(before, after, n, "float64 after float32");
	/* an unknown precision is refused at creation */
	struct mlip_model_config c = m->config;
	struct mlip_model *bad;
	c.precision = (enum mlip_precision)7;
	ck_assert_int_eq(mlip_model_new(&bad, &c, &err), MLIP_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "precision"));
	free(before), free(one), free(two), free(naive), free(after);
	fx_batch_free(&b);
	mlip_structure_release(&s[0]);
	mlip_model_free(m);
}
END_TEST

/*
 * Kept geometry: forwards and backwards through mlip_model_forward_kept are
 * bit for bit those of mlip_model_forward, on the pass that fills a slot and
 * on later ones with other weights (the L-BFGS phase), in both precisions;
 * two batches keep two slots; a budget too small keeps nothing and changes
 * nothing; a slot out of range is refused.
 */
static void run_pass(struct mlip_model *m, const struct mlip_batch *b, long slot,
		     const struct loss *l, double *out_vals, double *grads)
{
	struct mlip_model_out out;
	struct mlip_err err;
	size_t N = b->n_atoms, B = b->n_systems, H = m->config.n_heads;
	unsigned fl = MLIP_MODEL_FORCES | MLIP_MODEL_STRESS | MLIP_MODEL_TRAIN;
	int rc = slot < 0 ? mlip_model_forward(m, b, fl, &out, &err)
			  : mlip_model_forward_kept(m, b, (size_t)slot, fl, &out, &err);
	ck_assert_msg(rc == 0, "%s", err.msg);
	memcpy(out_vals, out.energy, B * H * sizeof(double));
	memcpy(out_vals + B * H, out.forces, 3 * N * H * sizeof(double));
	memcpy(out_vals + B * H + 3 * N * H, out.stress, 9 * B * H * sizeof(double));
	mlip_model_zero_grad(m);
	ck_assert_msg(mlip_model_backward(m, b, l->a, l->c, l->d, &err) == 0, "%s", err.msg);
	memcpy(grads, m->grads, m->n_params * sizeof(double));
}

START_TEST(test_kept_geometry)
{
	const size_t hid[2] = { 6, 5 };
	size_t n_sf;
	struct mlip_sf *sf = small_set(&n_sf);
	struct mlip_structure s[3];
	struct mlip_batch b[2];
	struct mlip_err err;
	three_systems(s, 21);
	build(&b[0], s, 2, 5.0);
	build(&b[1], s + 2, 1, 5.0);
	struct mlip_model *m = new_model(3, Z3, 2, hid, MLIP_ACT_TANH, 2, sf, n_sf, 4.5, 7);
	fit(m, &b[0]);
	m->precision = _i ? MLIP_FLOAT32 : MLIP_FLOAT64;
	struct loss l[2] = { make_loss(&b[0], 2, 5), make_loss(&b[1], 2, 6) };
	size_t nv = 0;
	for (int k = 0; k < 2; k++) {
		size_t v = 13 * b[k].n_systems * 2 + 3 * b[k].n_atoms * 2;
		nv = v > nv ? v : nv;
	}
	double *va = fx_calloc(nv, sizeof(double)), *vb = fx_calloc(nv, sizeof(double));
	double *ga = fx_calloc(m->n_params, sizeof(double)), *gb = fx_calloc(m->n_params, sizeof(double));
	ck_assert_int_eq(mlip_model_keep_geometry(m, 2, (size_t)1 << 30, &err), 0);
	uint64_t rng = 99;
	for (int pass = 0; pass < 3; pass++) {
		for (int k = 0; k < 2; k++) {
			size_t n = 13 * b[k].n_systems * 2 + 3 * b[k].n_atoms * 2;
			run_pass(m, &b[k], -1, &l[k], va, ga);
			run_pass(m, &b[k], k, &l[k], vb, gb);
			ck_assert_msg(memcmp(va, vb, n * sizeof(double)) == 0, "outputs differ, pass %d batch %d", pass, k);
			ck_assert_msg(memcmp(ga, gb, m->n_params * sizeof(double)) == 0, "gradients differ, pass %d batch %d", pass, k);
		}
		if (pass == 0) {
			size_t n_kept;
			ck_assert_uint_gt(mlip_model_geometry_bytes(m, &n_kept), 0);
			ck_assert_uint_eq(n_kept, 2);
		}
		/* new weights, as an optimizer step would make */
		for (size_t t = 0; t < m->tensors.n; t++)
			if (!(m->tensors.t[t].flags & MLIP_TENSOR_FROZEN))
				for (size_t q = 0; q < m->tensors.t[t].count; q++)
					m->params[m->tensors.t[t].offset + q] += 0.05 * (2 * test_rand_unif(&rng) - 1);
	}
	size_t kept = mlip_model_geometry_bytes(m, NULL);
	/* a budget too small: nothing kept, the same results */
	ck_assert_int_eq(mlip_model_keep_geometry(m, 2, 16, &err), 0);
	run_pass(m, &b[0], -1, &l[0], va, ga);
	run_pass(m, &b[0], 0, &l[0], vb, gb);
	run_pass(m, &b[0], 0, &l[0], vb, gb);
	size_t none;
	ck_assert_uint_eq(mlip_model_geometry_bytes(m, &none), 0);
	ck_assert_uint_eq(none, 0);
	ck_assert(memcmp(ga, gb, m->n_params * sizeof(double)) == 0);
	ck_assert_uint_gt(kept, 0);
	struct mlip_model_out out;
	ck_assert_int_eq(mlip_model_forward_kept(m, &b[0], 2, MLIP_MODEL_FORCES, &out, &err), MLIP_EINVAL);
	mlip_model_drop_geometry(m);
	ck_assert_int_eq(mlip_model_forward_kept(m, &b[0], 0, MLIP_MODEL_FORCES, &out, &err), MLIP_EINVAL);
	free(va), free(vb), free(ga), free(gb);
	free_loss(&l[0]);
	free_loss(&l[1]);
	fx_batch_free(&b[0]);
	fx_batch_free(&b[1]);
	for (int k = 0; k < 3; k++)
		mlip_structure_release(&s[k]);
	mlip_model_free(m);
	free(sf);
}
END_TEST

Suite *suite_model(void)
{
	Suite *s = suite_create("model");
	TCase *tc = tcase_create("tensors");
	tcase_add_test(tc, test_tensors);
	suite_add_tcase(s, tc);
	tc = tcase_create("create");
	tcase_add_test(tc, test_create);
	tcase_add_test(tc, test_bad_config);
	tcase_add_test(tc, test_isolated);
	suite_add_tcase(s, tc);
	tc = tcase_create("physics");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_forces_stress, 0, 3);
	tcase_add_test(tc, test_invariance);
	suite_add_tcase(s, tc);
	tc = tcase_create("training");
	tcase_set_timeout(tc, 300);
	tcase_add_loop_test(tc, test_train_grads, 0, 3);
	tcase_add_test(tc, test_mtp_model);
	tcase_add_test(tc, test_mtp_radial);
	tcase_add_test(tc, test_train_grads_default);
	tcase_add_test(tc, test_blas_naive);
	suite_add_tcase(s, tc);
	tc = tcase_create("batches");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_collate_batches);
	tcase_add_test(tc, test_threads);
	tcase_add_loop_test(tc, test_kept_geometry, 0, 2);
	suite_add_tcase(s, tc);
	tc = tcase_create("float32");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, test_f32_vs_f64, 0, 3);
	tcase_add_test(tc, test_f32_fd);
	tcase_add_test(tc, test_f32_paths);
	suite_add_tcase(s, tc);
	return s;
}
