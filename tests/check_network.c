/*
 * check_network.c - activations, linear kernels (BLAS against naive loops)
 * and the MLP's primal, input-gradient, tangent and backward passes against
 * finite differences, in double; the float kernels against the double ones,
 * BLAS against naive in float, and float gradients against differences.
 */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "network.h"
#include "testutil.h"

static void fill(double *x, size_t n, uint64_t *rng, double scale)
{
	for (size_t k = 0; k < n; k++)
		x[k] = scale * (2 * test_rand_unif(rng) - 1);
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
			mlip_act_eval_f64(acts[a], x, &f, &d1, &d2);
			mlip_act_eval_f64(acts[a], x + h, &fp, &d1p, NULL);
			mlip_act_eval_f64(acts[a], x - h, &fm, &d1m, NULL);
			ck_assert_double_eq_tol(d1, (fp - fm) / (2 * h), 1e-9);
			ck_assert_double_eq_tol(d2, (d1p - d1m) / (2 * h), 1e-9);
		}
	}
	/* Closed forms at a few points, and no overflow far out. */
	double f, d1, d2;
	mlip_act_eval_f64(MLIP_ACT_SILU, 1.0, &f, &d1, NULL);
	ck_assert_double_eq_tol(f, 1 / (1 + exp(-1.0)), 1e-15);
	mlip_act_eval_f64(MLIP_ACT_SOFTPLUS, 0.0, &f, &d1, &d2);
	ck_assert_double_eq_tol(f, log(2.0), 1e-15);
	ck_assert_double_eq_tol(d1, 0.5, 1e-15);
	ck_assert_double_eq_tol(d2, 0.25, 1e-15);
	mlip_act_eval_f64(MLIP_ACT_SOFTPLUS, 800, &f, &d1, &d2);
	ck_assert_double_eq_tol(f, 800, 1e-12);
	mlip_act_eval_f64(MLIP_ACT_SOFTPLUS, -800, &f, &d1, &d2);
	ck_assert(isfinite(f) && f >= 0 && f < 1e-300);
	mlip_act_eval_f64(MLIP_ACT_SILU, -800, &f, &d1, &d2);
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
	double *x = zalloc(rows * in, sizeof(double)), *w = zalloc(out * in, sizeof(double));
	double *b = zalloc(out, sizeof(double)), *dy = zalloc(rows * out, sizeof(double));
	double *y1 = zalloc(rows * out, sizeof(double)), *y2 = zalloc(rows * out, sizeof(double));
	double *dx1 = zalloc(rows * in, sizeof(double)), *dx2 = zalloc(rows * in, sizeof(double));
	double *dw1 = zalloc(out * in, sizeof(double)), *dw2 = zalloc(out * in, sizeof(double));
	fill(x, rows * in, &rng, 1);
	fill(w, out * in, &rng, 1);
	fill(b, out, &rng, 1);
	fill(dy, rows * out, &rng, 1);
	fill(dx1, rows * in, &rng, 1); /* backward accumulates: start from the same garbage */
	memcpy(dx2, dx1, rows * in * sizeof(double));
	fill(dw1, out * in, &rng, 1);
	memcpy(dw2, dw1, out * in * sizeof(double));
	mlip_matmul_forward_f64(y1, x, w, b, rows, in, out);
	mlip_matmul_forward_naive_f64(y2, x, w, b, rows, in, out);
	for (size_t k = 0; k < rows * out; k++)
		ck_assert_double_eq_tol(y1[k], y2[k], 1e-12);
	/* One entry by hand. */
	double s = b[3];
	for (size_t i = 0; i < in; i++)
		s += x[5 * in + i] * w[3 * in + i];
	ck_assert_double_eq_tol(y1[5 * out + 3], s, 1e-13);
	mlip_matmul_backward_f64(dx1, dw1, dy, x, w, rows, in, out);
	mlip_matmul_backward_naive_f64(dx2, dw2, dy, x, w, rows, in, out);
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
	struct mlip_mlp_params_f64 p, g;
	double *pbuf, *gbuf;
	size_t n_params;
	size_t n, S;
	double *x, *cache, *scratch;
	struct mlip_mlp_cache_f64 c;
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
	t->pbuf = zalloc(t->n_params, sizeof(double));
	t->gbuf = zalloc(t->n_params, sizeof(double));
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
	t->x = zalloc(S * n * width[0], sizeof(double));
	fill(t->x, S * n * width[0], &rng, 1.5);
	t->cache = zalloc(mlip_mlp_cache_count(&t->net, n, S), sizeof(double));
	size_t H = width[L + 1];
	t->scratch = zalloc(mlip_mlp_scratch_count(&t->net, n, S > H ? S : H), sizeof(double));
	mlip_mlp_cache_carve_f64(&t->c, &t->net, t->cache, n, S, t->x);
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
		double *dx = zalloc(H * n * D, sizeof(double));
		mlip_mlp_forward_f64(&t.c, &t.net, &t.p);
		mlip_mlp_input_grad_f64(dx, t.scratch, &t.c, &t.net, &t.p);
		double *o0 = zalloc(n * H, sizeof(double));
		for (size_t r = 0; r < n; r++)
			for (size_t d = 0; d < D; d++) {
				double h = 1e-5, op[2], om[2];
				double keep = t.x[r * D + d];
				t.x[r * D + d] = keep + h;
				mlip_mlp_forward_f64(&t.c, &t.net, &t.p);
				op[0] = t.c.out[r * H], op[1] = t.c.out[r * H + 1];
				t.x[r * D + d] = keep - h;
				mlip_mlp_forward_f64(&t.c, &t.net, &t.p);
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
static double objective(struct tnet *t, const double *dout, const size_t *head, size_t n_tan)
{
	size_t L = t->net.n_hidden, n = t->n, D = t->net.width[0], H = t->net.width[L + 1];
	double *dx = zalloc(H * n * D, sizeof(double));
	mlip_mlp_forward_f64(&t->c, &t->net, &t->p);
	mlip_mlp_input_grad_f64(dx, t->scratch, &t->c, &t->net, &t->p);
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
	double *dout = zalloc(n * H, sizeof(double));
	fill(dout, n * H, &rng, 1);
	/* Analytic gradient, BLAS and naive. */
	mlip_mlp_forward_f64(&t.c, &t.net, &t.p);
	mlip_mlp_tangent_f64(&t.c, &t.net, &t.p, n_tan);
	mlip_mlp_backward_f64(&t.g, t.scratch, dout, head, n_tan, &t.c, &t.net, &t.p);
	double *g_blas = zalloc(t.n_params, sizeof(double));
	memcpy(g_blas, t.gbuf, t.n_params * sizeof(double));
	memset(t.gbuf, 0, t.n_params * sizeof(double));
	t.net.naive = 1;
	mlip_mlp_forward_f64(&t.c, &t.net, &t.p);
	mlip_mlp_tangent_f64(&t.c, &t.net, &t.p, n_tan);
	mlip_mlp_backward_f64(&t.g, t.scratch, dout, head, n_tan, &t.c, &t.net, &t.p);
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
		double keep = t.pbuf[k];
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
		double dout[12];
		for (int k = 0; k < 12; k++)
			dout[k] = 0.1 * k - 0.5;
		mlip_mlp_forward_f64(&t1.c, &t1.net, &t1.p);
		mlip_mlp_forward_f64(&t3.c, &t3.net, &t3.p);
		mlip_mlp_backward_f64(&t1.g, t1.scratch, dout, NULL, 0, &t1.c, &t1.net, &t1.p);
		mlip_mlp_backward_f64(&t3.g, t3.scratch, dout, NULL, 0, &t3.c, &t3.net, &t3.p);
		ck_assert_uint_eq(t1.n_params, t3.n_params);
		ck_assert_int_eq(memcmp(t1.gbuf, t3.gbuf, t1.n_params * sizeof(double)), 0);
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
	double *dx1 = zalloc(H * n * 32, sizeof(double)), *dx2 = zalloc(H * n * 32, sizeof(double));
	double *o1 = zalloc(n * H, sizeof(double));
	mlip_mlp_forward_f64(&t.c, &t.net, &t.p);
	mlip_mlp_input_grad_f64(dx1, t.scratch, &t.c, &t.net, &t.p);
	memcpy(o1, t.c.out, n * H * sizeof(double));
	t.net.naive = 1;
	mlip_mlp_forward_f64(&t.c, &t.net, &t.p);
	mlip_mlp_input_grad_f64(dx2, t.scratch, &t.c, &t.net, &t.p);
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
	double in[3 * 4], w[5 * 4], out[3 * 5], dout[3 * 5], dw[5 * 4], din[3 * 4];
	for (int k = 0; k < 12; k++)
		in[k] = din[k] = 0.1 * k;
	for (int k = 0; k < 20; k++)
		w[k] = dw[k] = 0.05 * k;
	for (int k = 0; k < 15; k++)
		dout[k] = 0.01 * k;
	mlip_matmul_flops_reset();
	mlip_matmul_forward_f64(out, in, w, NULL, 3, 4, 5);
	ck_assert_uint_eq(mlip_matmul_flops(), 2 * 3 * 4 * 5);
	mlip_matmul_forward_naive_f64(out, in, w, NULL, 3, 4, 5);
	ck_assert_uint_eq(mlip_matmul_flops(), 2 * 2 * 3 * 4 * 5);
	mlip_matmul_flops_reset();
	mlip_matmul_backward_f64(din, dw, dout, in, w, 3, 4, 5);     /* dW and dX */
	ck_assert_uint_eq(mlip_matmul_flops(), 2 * 2 * 3 * 4 * 5);
	mlip_matmul_backward_naive_f64(NULL, dw, dout, in, w, 3, 4, 5); /* dW only */
	ck_assert_uint_eq(mlip_matmul_flops(), 3 * 2 * 3 * 4 * 5);
}
END_TEST

/* ---- float32 ------------------------------------------------------------------------------ */

/* Unit roundoff of float: 2⁻²⁴. */
#define EPS32 5.9604644775390625e-8

/* Float activations against the double ones: a few ulps of float, and no overflow far out. */
START_TEST(test_activations_f32)
{
	for (int a = 0; a < 3; a++) {
		double worst = 0;
		for (double x = -12; x <= 12; x += 0.173) {
			float xf = (float)x, f, d1, d2;
			double F, D1, D2;
			mlip_act_eval_f32((enum mlip_activation)a, xf, &f, &d1, &d2);
			mlip_act_eval_f64((enum mlip_activation)a, (double)xf, &F, &D1, &D2);
			/* φ is good to a few ulps. φ' and φ'' subtract O(1) terms (1 − v²,
			 * 1 − σ) computed from a rounded v or σ, and silu multiplies 1 − σ
			 * by x: their error is absolute, a few u·(1 + |x|) */
			double tol = 16 * EPS32 * (1 + fabs(x));
			worst = fmax(worst, fabs(f - F));
			worst = fmax(worst, fabs(d1 - D1));
			worst = fmax(worst, fabs(d2 - D2));
			ck_assert_msg(fabs(f - F) <= 8 * EPS32 * (1 + fabs(F)) && fabs(d1 - D1) <= tol &&
				      fabs(d2 - D2) <= tol,
				      "act %d x %g: float %.9g %.9g %.9g double %.9g %.9g %.9g", a, x, f,
				      d1, d2, F, D1, D2);
		}
		ck_assert(worst > 0); /* really float arithmetic, not double rounded at the end */
		for (float x = -200; x <= 200; x += 400) {
			float f, d1, d2;
			mlip_act_eval_f32((enum mlip_activation)a, x, &f, &d1, &d2);
			ck_assert(isfinite(f) && isfinite(d1) && isfinite(d2));
		}
	}
}
END_TEST

static void fill32(float *x, size_t n, uint64_t *rng, double scale)
{
	for (size_t k = 0; k < n; k++)
		x[k] = (float)(scale * (2 * test_rand_unif(rng) - 1));
}

/*
 * sgemm against the naive loops (which accumulate in double, so they are the
 * product rounded once): a float dot product of n terms is off by at most
 * n·u·Σ|terms| (u = 2⁻²⁴), the bound asserted entry by entry.
 */
START_TEST(test_matmul_blas_naive_f32)
{
	uint64_t rng = 5;
	const size_t rows = 37, in = 19, out = 11;
	float *x = zalloc(rows * in, sizeof(float)), *w = zalloc(out * in, sizeof(float));
	float *b = zalloc(out, sizeof(float)), *dy = zalloc(rows * out, sizeof(float));
	float *y1 = zalloc(rows * out, sizeof(float)), *y2 = zalloc(rows * out, sizeof(float));
	float *dx1 = zalloc(rows * in, sizeof(float)), *dx2 = zalloc(rows * in, sizeof(float));
	float *dw1 = zalloc(out * in, sizeof(float)), *dw2 = zalloc(out * in, sizeof(float));
	fill32(x, rows * in, &rng, 1);
	fill32(w, out * in, &rng, 1);
	fill32(b, out, &rng, 1);
	fill32(dy, rows * out, &rng, 1);
	mlip_matmul_forward_f32(y1, x, w, b, rows, in, out);
	mlip_matmul_forward_naive_f32(y2, x, w, b, rows, in, out);
	size_t differ = 0;
	for (size_t r = 0; r < rows; r++)
		for (size_t o = 0; o < out; o++) {
			double mag = fabs(b[o]), exact = b[o];
			for (size_t i = 0; i < in; i++) {
				mag += fabs((double)x[r * in + i] * w[o * in + i]);
				exact += (double)x[r * in + i] * w[o * in + i];
			}
			float a = y1[r * out + o], n = y2[r * out + o];
			ck_assert_double_eq_tol(n, exact, EPS32 * fabs(exact) + 1e-300);
			ck_assert_double_eq_tol(a, exact, (in + 2) * EPS32 * mag);
			differ += a != n;
		}
	ck_assert(differ > 0); /* float accumulation really happened in sgemm */
	/* backward accumulates onto the same start */
	fill32(dx1, rows * in, &rng, 1);
	memcpy(dx2, dx1, rows * in * sizeof(float));
	fill32(dw1, out * in, &rng, 1);
	memcpy(dw2, dw1, out * in * sizeof(float));
	mlip_matmul_backward_f32(dx1, dw1, dy, x, w, rows, in, out);
	mlip_matmul_backward_naive_f32(dx2, dw2, dy, x, w, rows, in, out);
	for (size_t o = 0; o < out; o++)
		for (size_t i = 0; i < in; i++) {
			double mag = fabs(dw2[o * in + i]);
			for (size_t r = 0; r < rows; r++)
				mag += fabs((double)dy[r * out + o] * x[r * in + i]);
			ck_assert_double_eq_tol(dw1[o * in + i], dw2[o * in + i], (rows + 3) * EPS32 * mag);
		}
	for (size_t r = 0; r < rows; r++)
		for (size_t i = 0; i < in; i++) {
			double mag = fabs(dx2[r * in + i]);
			for (size_t o = 0; o < out; o++)
				mag += fabs((double)dy[r * out + o] * w[o * in + i]);
			ck_assert_double_eq_tol(dx1[r * in + i], dx2[r * in + i], (out + 3) * EPS32 * mag);
		}
	free(x), free(w), free(b), free(dy), free(y1), free(y2);
	free(dx1), free(dx2), free(dw1), free(dw2);
}
END_TEST

/* The float twin of a tnet: the same shape, its parameters and inputs rounded to float. */
struct tnet32 {
	struct mlip_mlp net;
	struct mlip_mlp_params_f32 p, g;
	float *pbuf, *gbuf, *x, *cache, *scratch;
	struct mlip_mlp_cache_f32 c;
};

/* Round t's parameters and inputs to float values (so that both twins see the
 * same numbers) and make the float twin. */
static void tnet32_init(struct tnet32 *f, struct tnet *t)
{
	size_t L = t->net.n_hidden, D = t->net.width[0], H = t->net.width[L + 1];
	memset(f, 0, sizeof(*f));
	f->net = t->net;
	f->pbuf = zalloc(t->n_params, sizeof(float));
	f->gbuf = zalloc(t->n_params, sizeof(float));
	for (size_t k = 0; k < t->n_params; k++)
		f->pbuf[k] = (float)(t->pbuf[k] = (float)t->pbuf[k]);
	for (size_t l = 0; l <= L; l++) {
		f->p.w[l] = f->pbuf + (t->p.w[l] - t->pbuf);
		f->p.b[l] = f->pbuf + (t->p.b[l] - t->pbuf);
		f->g.w[l] = f->gbuf + (t->g.w[l] - t->gbuf);
		f->g.b[l] = f->gbuf + (t->g.b[l] - t->gbuf);
	}
	size_t nx = t->S * t->n * D;
	f->x = zalloc(nx, sizeof(float));
	for (size_t k = 0; k < nx; k++)
		f->x[k] = (float)(t->x[k] = (float)t->x[k]);
	f->cache = zalloc(mlip_mlp_cache_count(&f->net, t->n, t->S), sizeof(float));
	f->scratch = zalloc(mlip_mlp_scratch_count(&f->net, t->n, t->S > H ? t->S : H), sizeof(float));
	mlip_mlp_cache_carve_f32(&f->c, &f->net, f->cache, t->n, t->S, f->x);
}

static void tnet32_free(struct tnet32 *f)
{
	free(f->pbuf), free(f->gbuf), free(f->x), free(f->cache), free(f->scratch);
}

/* ‖a − b‖₂ / ‖b‖₂ over n values (b not all zero). */
static double rel_err32(const float *a, const double *b, size_t n)
{
	double d = 0, s = 0;
	for (size_t k = 0; k < n; k++) {
		d += ((double)a[k] - b[k]) * ((double)a[k] - b[k]);
		s += b[k] * b[k];
	}
	ck_assert(s > 0);
	return sqrt(d / s);
}

/* The float objective J of check_backward, through forward + input_grad in float. */
static double objective32(struct tnet32 *f, size_t n, const float *dout, const size_t *head,
			  size_t n_tan)
{
	size_t L = f->net.n_hidden, D = f->net.width[0], H = f->net.width[L + 1];
	float *dx = zalloc(H * n * D, sizeof(float));
	mlip_mlp_forward_f32(&f->c, &f->net, &f->p);
	mlip_mlp_input_grad_f32(dx, f->scratch, &f->c, &f->net, &f->p);
	double J = 0;
	for (size_t k = 0; k < n * H; k++)
		J += (double)dout[k] * f->c.out[k];
	for (size_t s = 0; s < n_tan; s++)
		for (size_t r = 0; r < n; r++)
			for (size_t d = 0; d < D; d++)
				J += (double)dx[(head[s] * n + r) * D + d] * f->x[((1 + s) * n + r) * D + d];
	free(dx);
	return J;
}

/*
 * The float network on the same (rounded) weights and inputs as the double
 * one: outputs, ∂o/∂x and every weight gradient of the tangent-and-primal
 * objective agree to 1e-5 in norm (float keeps 24 bits, u = 6e-8; dot
 * products of ~30 terms through three layers lose a few more: measured
 * 3e-8 .. 4e-7, so the bound has a 25× margin and still fails on any
 * real error); the float BLAS and naive paths agree to the same bound; and
 * the float gradient is the derivative of the float objective (central
 * differences with a 2⁻⁸ step, loose: in float the quotient itself is only
 * good to ~1e-3; measured worst 7e-4 against the bound 3e-3).
 */
static void check_f32(size_t L, const size_t *width, enum mlip_activation act, uint64_t seed)
{
	size_t H = width[L + 1], n = 7, n_tan = H, head[8], D = width[0];
	struct tnet t;
	struct tnet32 f;
	tnet_init(&t, L, width, act, n, 1 + n_tan, seed);
	tnet32_init(&f, &t);
	for (size_t s = 0; s < n_tan; s++)
		head[s] = s;
	uint64_t rng = seed + 7;
	double *dout = zalloc(n * H, sizeof(double));
	float *dout32 = zalloc(n * H, sizeof(float));
	for (size_t k = 0; k < n * H; k++)
		dout32[k] = (float)(dout[k] = (float)(2 * test_rand_unif(&rng) - 1));
	double *dx = zalloc(H * n * D, sizeof(double));
	float *dx32 = zalloc(H * n * D, sizeof(float)), *dx32n = zalloc(H * n * D, sizeof(float));
	float *out_blas = zalloc(n * H, sizeof(float)), *g_blas = zalloc(t.n_params, sizeof(float));
	/* double reference */
	mlip_mlp_forward_f64(&t.c, &t.net, &t.p);
	mlip_mlp_input_grad_f64(dx, t.scratch, &t.c, &t.net, &t.p);
	mlip_mlp_tangent_f64(&t.c, &t.net, &t.p, n_tan);
	mlip_mlp_backward_f64(&t.g, t.scratch, dout, head, n_tan, &t.c, &t.net, &t.p);
	for (int naive = 0; naive < 2; naive++) {
		f.net.naive = naive;
		memset(f.gbuf, 0, t.n_params * sizeof(float));
		mlip_mlp_forward_f32(&f.c, &f.net, &f.p);
		mlip_mlp_input_grad_f32(naive ? dx32n : dx32, f.scratch, &f.c, &f.net, &f.p);
		mlip_mlp_tangent_f32(&f.c, &f.net, &f.p, n_tan);
		mlip_mlp_backward_f32(&f.g, f.scratch, dout32, head, n_tan, &f.c, &f.net, &f.p);
		double e_out = rel_err32(f.c.out, t.c.out, n * H);
		double e_dx = rel_err32(naive ? dx32n : dx32, dx, H * n * D);
		double e_g = rel_err32(f.gbuf, t.gbuf, t.n_params);
		ck_assert_msg(e_out < 1e-5 && e_dx < 1e-5 && e_g < 1e-5,
			      "act %d L %zu naive %d: float vs double: outputs %.3g, dx %.3g, grads %.3g",
			      (int)act, L, naive, e_out, e_dx, e_g);
		ck_assert(e_out > 0 && e_g > 0); /* and it really is float */
		if (!naive) {
			memcpy(out_blas, f.c.out, n * H * sizeof(float));
			memcpy(g_blas, f.gbuf, t.n_params * sizeof(float));
			continue;
		}
		/* BLAS against naive, both float */
		double d = 0, s = 0;
		for (size_t k = 0; k < n * H; k++)
			d = fmax(d, fabs((double)out_blas[k] - f.c.out[k])), s = fmax(s, fabs(f.c.out[k]));
		ck_assert_msg(d <= 1e-5 * s, "outputs: BLAS vs naive %.3g of %.3g", d, s);
		d = s = 0;
		for (size_t k = 0; k < t.n_params; k++)
			d = fmax(d, fabs((double)g_blas[k] - f.gbuf[k])), s = fmax(s, fabs(f.gbuf[k]));
		ck_assert_msg(d <= 1e-5 * s, "grads: BLAS vs naive %.3g of %.3g", d, s);
		d = s = 0;
		for (size_t k = 0; k < H * n * D; k++)
			d = fmax(d, fabs((double)dx32[k] - dx32n[k])), s = fmax(s, fabs(dx32n[k]));
		ck_assert_msg(d <= 1e-5 * s, "dx: BLAS vs naive %.3g of %.3g", d, s);
	}
	/* Central differences of the float objective over every parameter. The step
	 * is a power of two and the quotient uses the step float really took. */
	f.net.naive = 0;
	double gmax = 0;
	for (size_t k = 0; k < t.n_params; k++)
		gmax = fmax(gmax, fabs(g_blas[k]));
	ck_assert(gmax > 0.1);
	for (size_t k = 0; k < t.n_params; k++) {
		float keep = f.pbuf[k], up = keep + 0x1p-8f, dn = keep - 0x1p-8f;
		f.pbuf[k] = up;
		double jp = objective32(&f, n, dout32, head, n_tan);
		f.pbuf[k] = dn;
		double jm = objective32(&f, n, dout32, head, n_tan);
		f.pbuf[k] = keep;
		double fd = (jp - jm) / ((double)up - dn);
		ck_assert_msg(fabs(g_blas[k] - fd) <= 3e-3 * fmax(fabs(fd), 0.1 * gmax),
			      "act %d L %zu param %zu: float backward %.9g fd %.9g", (int)act, L, k,
			      (double)g_blas[k], fd);
	}
	free(dout), free(dout32), free(dx), free(dx32), free(dx32n), free(out_blas), free(g_blas);
	tnet32_free(&f);
	tnet_free(&t);
}

START_TEST(test_mlp_f32)
{
	const size_t w2[4] = { 32, 24, 24, 2 }, w1[3] = { 9, 6, 3 }, w0[2] = { 5, 2 };
	for (int a = 0; a < 3; a++) {
		check_f32(2, w2, (enum mlip_activation)a, 80 + a);
		check_f32(1, w1, (enum mlip_activation)a, 90 + a);
	}
	check_f32(0, w0, MLIP_ACT_TANH, 99);
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
	tc = tcase_create("float32");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_activations_f32);
	tcase_add_test(tc, test_matmul_blas_naive_f32);
	tcase_add_test(tc, test_mlp_f32);
	suite_add_tcase(s, tc);
	return s;
}
