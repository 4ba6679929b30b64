/*
 * check_network.c - activations, linear kernels (BLAS against naive loops)
 * and the MLP's primal, input-gradient, tangent and backward passes against
 * finite differences.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "network.h"
#include "testutil.h"

static void fill(mlip_real *x, size_t n, uint64_t *rng, double scale)
{
	for (size_t k = 0; k < n; k++)
		x[k] = (mlip_real)(scale * (2 * test_rand_unif(rng) - 1));
}

static void *zalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);
	ck_assert_ptr_nonnull(p);
	return p;
}

START_TEST(test_activations)
{
	const enum mlip_activation acts[3] = { MLIP_ACT_TANH, MLIP_ACT_SILU, MLIP_ACT_SOFTPLUS };
	struct mlip_err err;
	for (int a = 0; a < 3; a++) {
		enum mlip_activation back;
		ck_assert_int_eq(mlip_activation_parse(&back, mlip_activation_name(acts[a]), &err), 0);
		ck_assert_int_eq(back, acts[a]);
		for (double x = -6; x <= 6; x += 0.37) {
			double h = 1e-5, f, d1, d2, fp, fm, d1p, d1m;
			mlip_act_eval(acts[a], x, &f, &d1, &d2);
			mlip_act_eval(acts[a], x + h, &fp, &d1p, NULL);
			mlip_act_eval(acts[a], x - h, &fm, &d1m, NULL);
			ck_assert_double_eq_tol(d1, (fp - fm) / (2 * h), 1e-9);
			ck_assert_double_eq_tol(d2, (d1p - d1m) / (2 * h), 1e-9);
		}
	}
	/* Closed forms at a few points, and no overflow far out. */
	double f, d1, d2;
	mlip_act_eval(MLIP_ACT_SILU, 1.0, &f, &d1, NULL);
	ck_assert_double_eq_tol(f, 1 / (1 + exp(-1.0)), 1e-15);
	mlip_act_eval(MLIP_ACT_SOFTPLUS, 0.0, &f, &d1, &d2);
	ck_assert_double_eq_tol(f, log(2.0), 1e-15);
	ck_assert_double_eq_tol(d1, 0.5, 1e-15);
	ck_assert_double_eq_tol(d2, 0.25, 1e-15);
	mlip_act_eval(MLIP_ACT_SOFTPLUS, 800, &f, &d1, &d2);
	ck_assert_double_eq_tol(f, 800, 1e-12);
	mlip_act_eval(MLIP_ACT_SOFTPLUS, -800, &f, &d1, &d2);
	ck_assert(isfinite(f) && f >= 0 && f < 1e-300);
	mlip_act_eval(MLIP_ACT_SILU, -800, &f, &d1, &d2);
	ck_assert(isfinite(f) && isfinite(d1) && isfinite(d2));
	enum mlip_activation tmp;
	ck_assert_int_eq(mlip_activation_parse(&tmp, "relu", &err), MLIP_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "'relu'"));
}
END_TEST

START_TEST(test_matmul_blas_naive)
{
	uint64_t rng = 3;
	const size_t rows = 37, in = 19, out = 11;
	mlip_real *x = zalloc(rows * in, sizeof(mlip_real)), *w = zalloc(out * in, sizeof(mlip_real));
	mlip_real *b = zalloc(out, sizeof(mlip_real)), *dy = zalloc(rows * out, sizeof(mlip_real));
	mlip_real *y1 = zalloc(rows * out, sizeof(mlip_real)), *y2 = zalloc(rows * out, sizeof(mlip_real));
	mlip_real *dx1 = zalloc(rows * in, sizeof(mlip_real)), *dx2 = zalloc(rows * in, sizeof(mlip_real));
	mlip_real *dw1 = zalloc(out * in, sizeof(mlip_real)), *dw2 = zalloc(out * in, sizeof(mlip_real));
	fill(x, rows * in, &rng, 1);
	fill(w, out * in, &rng, 1);
	fill(b, out, &rng, 1);
	fill(dy, rows * out, &rng, 1);
	fill(dx1, rows * in, &rng, 1); /* backward accumulates: start from the same garbage */
	memcpy(dx2, dx1, rows * in * sizeof(mlip_real));
	fill(dw1, out * in, &rng, 1);
	memcpy(dw2, dw1, out * in * sizeof(mlip_real));
	mlip_matmul_forward(y1, x, w, b, rows, in, out);
	mlip_matmul_forward_naive(y2, x, w, b, rows, in, out);
	for (size_t k = 0; k < rows * out; k++)
		ck_assert_double_eq_tol(y1[k], y2[k], 1e-12);
	/* One entry by hand. */
	double s = b[3];
	for (size_t i = 0; i < in; i++)
		s += x[5 * in + i] * w[3 * in + i];
	ck_assert_double_eq_tol(y1[5 * out + 3], s, 1e-13);
	mlip_matmul_backward(dx1, dw1, dy, x, w, rows, in, out);
	mlip_matmul_backward_naive(dx2, dw2, dy, x, w, rows, in, out);
	for (size_t k = 0; k < rows * in; k++)
		ck_assert_double_eq_tol(dx1[k], dx2[k], 1e-12);
	for (size_t k = 0; k < out * in; k++)
		ck_assert_double_eq_tol(dw1[k], dw2[k], 1e-12);
	free(x), free(w), free(b), free(dy), free(y1), free(y2);
	free(dx1), free(dx2), free(dw1), free(dw2);
}
END_TEST

/* ---- MLP --------------------------------------------------------------------------------- */

struct tnet {
	struct mlip_mlp net;
	struct mlip_mlp_params p, g;
	mlip_real *pbuf, *gbuf;
	size_t n_params;
	size_t n, S;
	mlip_real *x, *cache, *scratch;
	struct mlip_mlp_cache c;
};

static void tnet_init(struct tnet *t, size_t L, const size_t *width, enum mlip_activation act,
		      size_t n, size_t S, uint64_t seed)
{
	uint64_t rng = seed;
	memset(t, 0, sizeof(*t));
	t->net.n_hidden = L;
	memcpy(t->net.width, width, (L + 2) * sizeof(size_t));
	t->net.act = act;
	for (size_t l = 0; l <= L; l++)
		t->n_params += width[l + 1] * (width[l] + 1);
	t->pbuf = zalloc(t->n_params, sizeof(mlip_real));
	t->gbuf = zalloc(t->n_params, sizeof(mlip_real));
	size_t o = 0;
	for (size_t l = 0; l <= L; l++) {
		t->p.w[l] = t->pbuf + o;
		t->g.w[l] = t->gbuf + o;
		o += width[l + 1] * width[l];
		t->p.b[l] = t->pbuf + o;
		t->g.b[l] = t->gbuf + o;
		o += width[l + 1];
	}
	fill(t->pbuf, t->n_params, &rng, 0.8);
	t->n = n;
	t->S = S;
	t->x = zalloc(S * n * width[0], sizeof(mlip_real));
	fill(t->x, S * n * width[0], &rng, 1.5);
	t->cache = zalloc(mlip_mlp_cache_count(&t->net, n, S), sizeof(mlip_real));
	size_t H = width[L + 1];
	t->scratch = zalloc(mlip_mlp_scratch_count(&t->net, n, S > H ? S : H), sizeof(mlip_real));
	mlip_mlp_cache_carve(&t->c, &t->net, t->cache, n, S, t->x);
}

static void tnet_free(struct tnet *t)
{
	free(t->pbuf), free(t->gbuf), free(t->x), free(t->cache), free(t->scratch);
}

START_TEST(test_mlp_input_grad)
{
	const size_t width[4] = { 6, 7, 5, 2 };
	for (int a = 0; a < 3; a++) {
		struct tnet t;
		tnet_init(&t, 2, width, (enum mlip_activation)a, 4, 1, 10 + a);
		size_t n = t.n, D = 6, H = 2;
		mlip_real *dx = zalloc(H * n * D, sizeof(mlip_real));
		mlip_mlp_forward(&t.c, &t.net, &t.p);
		mlip_mlp_input_grad(dx, t.scratch, &t.c, &t.net, &t.p);
		mlip_real *o0 = zalloc(n * H, sizeof(mlip_real));
		for (size_t r = 0; r < n; r++)
			for (size_t d = 0; d < D; d++) {
				double h = 1e-5, op[2], om[2];
				mlip_real keep = t.x[r * D + d];
				t.x[r * D + d] = keep + h;
				mlip_mlp_forward(&t.c, &t.net, &t.p);
				op[0] = t.c.out[r * H], op[1] = t.c.out[r * H + 1];
				t.x[r * D + d] = keep - h;
				mlip_mlp_forward(&t.c, &t.net, &t.p);
				om[0] = t.c.out[r * H], om[1] = t.c.out[r * H + 1];
				t.x[r * D + d] = keep;
				for (size_t q = 0; q < H; q++) {
					double fd = (op[q] - om[q]) / (2 * h);
					ck_assert_double_eq_tol(dx[(q * n + r) * D + d], fd,
								1e-8 * (1 + fabs(fd)));
				}
			}
		free(dx);
		free(o0);
		tnet_free(&t);
	}
}
END_TEST

/*
 * J(θ) = Σ dout·o + Σ_t Σ_r ȯ_t[r][head_t], with ȯ_t[r][h] = Σ_d ∂o_h/∂x_d ẋ_t[r][d]
 * evaluated through forward + input_grad (checked against differences above).
 */
static double objective(struct tnet *t, const mlip_real *dout, const size_t *head, size_t n_tan)
{
	size_t L = t->net.n_hidden, n = t->n, D = t->net.width[0], H = t->net.width[L + 1];
	mlip_real *dx = zalloc(H * n * D, sizeof(mlip_real));
	mlip_mlp_forward(&t->c, &t->net, &t->p);
	mlip_mlp_input_grad(dx, t->scratch, &t->c, &t->net, &t->p);
	double J = 0;
	for (size_t k = 0; k < n * H; k++)
		J += (double)dout[k] * (double)t->c.out[k];
	for (size_t s = 0; s < n_tan; s++)
		for (size_t r = 0; r < n; r++)
			for (size_t d = 0; d < D; d++)
				J += (double)dx[(head[s] * n + r) * D + d] *
				     (double)t->x[((1 + s) * n + r) * D + d];
	free(dx);
	return J;
}

static void check_backward(size_t L, const size_t *width, enum mlip_activation act, uint64_t seed)
{
	size_t H = width[L + 1], n = 5, n_tan = H, head[8];
	struct tnet t;
	tnet_init(&t, L, width, act, n, 1 + n_tan, seed);
	for (size_t s = 0; s < n_tan; s++)
		head[s] = n_tan - 1 - s; /* streams in reverse head order */
	uint64_t rng = seed + 100;
	mlip_real *dout = zalloc(n * H, sizeof(mlip_real));
	fill(dout, n * H, &rng, 1);
	/* Analytic gradient, BLAS and naive. */
	mlip_mlp_forward(&t.c, &t.net, &t.p);
	mlip_mlp_tangent(&t.c, &t.net, &t.p, n_tan);
	mlip_mlp_backward(&t.g, t.scratch, dout, head, n_tan, &t.c, &t.net, &t.p);
	mlip_real *g_blas = zalloc(t.n_params, sizeof(mlip_real));
	memcpy(g_blas, t.gbuf, t.n_params * sizeof(mlip_real));
	memset(t.gbuf, 0, t.n_params * sizeof(mlip_real));
	t.net.naive = 1;
	mlip_mlp_forward(&t.c, &t.net, &t.p);
	mlip_mlp_tangent(&t.c, &t.net, &t.p, n_tan);
	mlip_mlp_backward(&t.g, t.scratch, dout, head, n_tan, &t.c, &t.net, &t.p);
	t.net.naive = 0;
	double gmax = 0;
	for (size_t k = 0; k < t.n_params; k++) {
		ck_assert_double_eq_tol(g_blas[k], t.gbuf[k], 1e-12 * (1 + fabs(t.gbuf[k])));
		gmax = fmax(gmax, fabs(g_blas[k]));
	}
	ck_assert(gmax > 0.1);
	/* Central differences over every parameter. */
	for (size_t k = 0; k < t.n_params; k++) {
		double h = 1e-5;
		mlip_real keep = t.pbuf[k];
		t.pbuf[k] = keep + h;
		double jp = objective(&t, dout, head, n_tan);
		t.pbuf[k] = keep - h;
		double jm = objective(&t, dout, head, n_tan);
		t.pbuf[k] = keep;
		double fd = (jp - jm) / (2 * h);
		ck_assert_msg(fabs(g_blas[k] - fd) <= 1e-7 * fmax(fabs(fd), 1e-2 * gmax),
			      "act %d L %zu param %zu: backward %.12g fd %.12g", (int)act, L, k,
			      (double)g_blas[k], fd);
	}
	free(dout);
	free(g_blas);
	tnet_free(&t);
}

START_TEST(test_mlp_backward)
{
	const size_t w2[4] = { 6, 7, 5, 2 }, w1[3] = { 4, 6, 3 }, w0[2] = { 5, 2 };
	for (int a = 0; a < 3; a++) {
		check_backward(2, w2, (enum mlip_activation)a, 40 + a);
		check_backward(1, w1, (enum mlip_activation)a, 50 + a);
	}
	check_backward(0, w0, MLIP_ACT_TANH, 60);
	/* Energy-only backward on a one-stream cache (no φ'' kept) equals the
	 * same backward on a cache with room for tangents. */
	for (int a = 0; a < 3; a++) {
		struct tnet t1, t3;
		tnet_init(&t1, 2, w2, (enum mlip_activation)a, 6, 1, 70 + a);
		tnet_init(&t3, 2, w2, (enum mlip_activation)a, 6, 3, 70 + a);
		ck_assert_ptr_null(t1.c.d2[0]);
		ck_assert_ptr_nonnull(t3.c.d2[0]);
		mlip_real dout[12];
		for (int k = 0; k < 12; k++)
			dout[k] = (mlip_real)(0.1 * k - 0.5);
		mlip_mlp_forward(&t1.c, &t1.net, &t1.p);
		mlip_mlp_forward(&t3.c, &t3.net, &t3.p);
		mlip_mlp_backward(&t1.g, t1.scratch, dout, NULL, 0, &t1.c, &t1.net, &t1.p);
		mlip_mlp_backward(&t3.g, t3.scratch, dout, NULL, 0, &t3.c, &t3.net, &t3.p);
		ck_assert_uint_eq(t1.n_params, t3.n_params);
		ck_assert_int_eq(memcmp(t1.gbuf, t3.gbuf, t1.n_params * sizeof(mlip_real)), 0);
		double gmax = 0;
		for (size_t k = 0; k < t1.n_params; k++)
			gmax = fmax(gmax, fabs((double)t1.gbuf[k]));
		ck_assert(gmax > 0.01);
		tnet_free(&t1);
		tnet_free(&t3);
	}
}
END_TEST

START_TEST(test_mlp_blas_naive)
{
	const size_t width[4] = { 32, 24, 24, 2 };
	struct tnet t;
	tnet_init(&t, 2, width, MLIP_ACT_SILU, 53, 3, 77);
	size_t n = t.n, H = 2;
	mlip_real *dx1 = zalloc(H * n * 32, sizeof(mlip_real)), *dx2 = zalloc(H * n * 32, sizeof(mlip_real));
	mlip_real *o1 = zalloc(n * H, sizeof(mlip_real));
	mlip_mlp_forward(&t.c, &t.net, &t.p);
	mlip_mlp_input_grad(dx1, t.scratch, &t.c, &t.net, &t.p);
	memcpy(o1, t.c.out, n * H * sizeof(mlip_real));
	t.net.naive = 1;
	mlip_mlp_forward(&t.c, &t.net, &t.p);
	mlip_mlp_input_grad(dx2, t.scratch, &t.c, &t.net, &t.p);
	for (size_t k = 0; k < n * H; k++)
		ck_assert_double_eq_tol(o1[k], t.c.out[k], 1e-12 * (1 + fabs(o1[k])));
	for (size_t k = 0; k < H * n * 32; k++)
		ck_assert_double_eq_tol(dx1[k], dx2[k], 1e-12 * (1 + fabs(dx1[k])));
	free(dx1), free(dx2), free(o1);
	tnet_free(&t);
}
END_TEST

/* Two FLOPs per multiply-add of every product, whichever kernel ran it. */
START_TEST(test_flop_count)
{
	mlip_real in[3 * 4], w[5 * 4], out[3 * 5], dout[3 * 5], dw[5 * 4], din[3 * 4];
	for (int k = 0; k < 12; k++)
		in[k] = din[k] = 0.1 * k;
	for (int k = 0; k < 20; k++)
		w[k] = dw[k] = 0.05 * k;
	for (int k = 0; k < 15; k++)
		dout[k] = 0.01 * k;
	mlip_matmul_flops_reset();
	mlip_matmul_forward(out, in, w, NULL, 3, 4, 5);
	ck_assert_uint_eq(mlip_matmul_flops(), 2 * 3 * 4 * 5);
	mlip_matmul_forward_naive(out, in, w, NULL, 3, 4, 5);
	ck_assert_uint_eq(mlip_matmul_flops(), 2 * 2 * 3 * 4 * 5);
	mlip_matmul_flops_reset();
	mlip_matmul_backward(din, dw, dout, in, w, 3, 4, 5);     /* dW and dX */
	ck_assert_uint_eq(mlip_matmul_flops(), 2 * 2 * 3 * 4 * 5);
	mlip_matmul_backward_naive(NULL, dw, dout, in, w, 3, 4, 5); /* dW only */
	ck_assert_uint_eq(mlip_matmul_flops(), 3 * 2 * 3 * 4 * 5);
}
END_TEST

Suite *suite_network(void)
{
	Suite *s = suite_create("network");
	TCase *tc = tcase_create("kernels");
	tcase_add_test(tc, test_activations);
	tcase_add_test(tc, test_matmul_blas_naive);
	tcase_add_test(tc, test_flop_count);
	suite_add_tcase(s, tc);
	tc = tcase_create("mlp");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_mlp_input_grad);
	tcase_add_test(tc, test_mlp_backward);
	tcase_add_test(tc, test_mlp_blas_naive);
	suite_add_tcase(s, tc);
	return s;
}
