/*
 * network.c - MLP kernels on element blocks: primal, tangent (forward-mode)
 * and the reverse pass through both, with BLAS and naive loop paths.
 *
 * Conventions: row-major throughout; weights (out, in); stream s of a
 * (n_streams·n)-row buffer is the row block [s·n, s·n + n). The tangent
 * stream of a hidden layer stores ȧ in a[] and ḣ = φ'(a) ⊙ ȧ in h[], so the
 * backward pass finds both without recomputation.
 */
#include <cblas.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "network.h"
#include "banned.h"

#ifdef _OPENMP
#define NET_PRAGMA(x) _Pragma(#x)
#else
#define NET_PRAGMA(x)
#endif

#ifdef MLIP_REAL_FLOAT
#define GEMM cblas_sgemm
#else
#define GEMM cblas_dgemm
#endif

static const char *const act_names[] = { "tanh", "silu", "softplus" };

const char *mlip_activation_name(enum mlip_activation a)
{
	return (unsigned)a < sizeof(act_names) / sizeof(act_names[0]) ? act_names[a] : NULL;
}

int mlip_activation_parse(enum mlip_activation *a, const char *name, struct mlip_err *err)
{
	for (unsigned k = 0; k < sizeof(act_names) / sizeof(act_names[0]); k++)
		if (!strcmp(name, act_names[k])) {
			*a = (enum mlip_activation)k;
			return MLIP_OK;
		}
	return mlip_err_set(err, MLIP_EINVAL,
			    "unknown activation '%s' (tanh, silu or softplus)", name);
}

void mlip_act_eval(enum mlip_activation a, double x, double *f, double *d1, double *d2)
{
	double v, g1, g2;
	switch (a) {
	case MLIP_ACT_TANH:
		v = tanh(x);
		g1 = 1 - v * v;
		g2 = -2 * v * g1;
		break;
	case MLIP_ACT_SILU: {
		double s = 1 / (1 + exp(-x));
		v = x * s;
		g1 = s * (1 + x * (1 - s));
		g2 = s * (1 - s) * (2 + x * (1 - 2 * s));
		break;
	}
	case MLIP_ACT_SOFTPLUS:
	default: {
		/* log(1 + eˣ) without overflow; σ(x) = 1/(1 + e^{−x}) */
		double s = 1 / (1 + exp(-x));
		v = x > 0 ? x + log1p(exp(-x)) : log1p(exp(x));
		g1 = s;
		g2 = s * (1 - s);
		break;
	}
	}
	if (f)
		*f = v;
	if (d1)
		*d1 = g1;
	if (d2)
		*d2 = g2;
}

/* ---- FLOP count (train.profile_flops) --------------------------------------- */

/* Multiply-adds of the matrix products count 2 FLOPs each, as fairchem's
 * counter counts them; elementwise work is not included. Atomic because the
 * model's threads may run products concurrently. */
static _Atomic uint64_t matmul_flops;

static void count_flops(size_t m, size_t n, size_t k)
{
	atomic_fetch_add_explicit(&matmul_flops, (uint64_t)2 * m * n * k, memory_order_relaxed);
}

uint64_t mlip_matmul_flops(void)
{
	return atomic_load(&matmul_flops);
}

void mlip_matmul_flops_reset(void)
{
	atomic_store(&matmul_flops, 0);
}

/* ---- linear layer kernels ------------------------------------------------ */

void mlip_matmul_forward_naive(mlip_real *out, const mlip_real *in, const mlip_real *w,
			       const mlip_real *b, size_t rows, size_t in_dim, size_t out_dim)
{
	count_flops(rows, out_dim, in_dim);
	for (size_t r = 0; r < rows; r++)
		for (size_t o = 0; o < out_dim; o++) {
			double s = b ? (double)b[o] : 0;
			for (size_t i = 0; i < in_dim; i++)
				s += (double)in[r * in_dim + i] * (double)w[o * in_dim + i];
			out[r * out_dim + o] = (mlip_real)s;
		}
}

void mlip_matmul_forward(mlip_real *out, const mlip_real *in, const mlip_real *w,
			 const mlip_real *b, size_t rows, size_t in_dim, size_t out_dim)
{
	if (!rows)
		return;
	count_flops(rows, out_dim, in_dim);
	GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)out_dim, (int)in_dim, 1,
	     in, (int)in_dim, w, (int)in_dim, 0, out, (int)out_dim);
	if (b)
		for (size_t r = 0; r < rows; r++)
			for (size_t o = 0; o < out_dim; o++)
				out[r * out_dim + o] += b[o];
}

void mlip_matmul_backward_naive(mlip_real *din, mlip_real *dw, const mlip_real *dout,
				const mlip_real *in, const mlip_real *w, size_t rows, size_t in_dim,
				size_t out_dim)
{
	count_flops(out_dim, in_dim, rows * (din ? 2 : 1));
	for (size_t o = 0; o < out_dim; o++)
		for (size_t i = 0; i < in_dim; i++) {
			double s = 0;
			for (size_t r = 0; r < rows; r++)
				s += (double)dout[r * out_dim + o] * (double)in[r * in_dim + i];
			dw[o * in_dim + i] += (mlip_real)s;
		}
	if (din)
		for (size_t r = 0; r < rows; r++)
			for (size_t i = 0; i < in_dim; i++) {
				double s = 0;
				for (size_t o = 0; o < out_dim; o++)
					s += (double)dout[r * out_dim + o] * (double)w[o * in_dim + i];
				din[r * in_dim + i] += (mlip_real)s;
			}
}

void mlip_matmul_backward(mlip_real *din, mlip_real *dw, const mlip_real *dout,
			  const mlip_real *in, const mlip_real *w, size_t rows, size_t in_dim,
			  size_t out_dim)
{
	if (!rows)
		return;
	count_flops(out_dim, in_dim, rows * (din ? 2 : 1));
	GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, (int)out_dim, (int)in_dim, (int)rows, 1,
	     dout, (int)out_dim, in, (int)in_dim, 1, dw, (int)in_dim);
	if (din)
		GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)in_dim,
		     (int)out_dim, 1, dout, (int)out_dim, w, (int)in_dim, 1, din, (int)in_dim);
}

void mlip_bias_backward(mlip_real *db, const mlip_real *dout, size_t rows, size_t out_dim)
{
	for (size_t r = 0; r < rows; r++)
		for (size_t o = 0; o < out_dim; o++)
			db[o] += dout[r * out_dim + o];
}

static void linear_fwd(const struct mlip_mlp *net, mlip_real *out, const mlip_real *in,
		       const mlip_real *w, const mlip_real *b, size_t rows, size_t in_dim,
		       size_t out_dim)
{
	(net->naive ? mlip_matmul_forward_naive : mlip_matmul_forward)(out, in, w, b, rows, in_dim,
									out_dim);
}

static void linear_bwd(const struct mlip_mlp *net, mlip_real *din, mlip_real *dw,
		       const mlip_real *dout, const mlip_real *in, const mlip_real *w, size_t rows,
		       size_t in_dim, size_t out_dim)
{
	(net->naive ? mlip_matmul_backward_naive : mlip_matmul_backward)(din, dw, dout, in, w,
									  rows, in_dim, out_dim);
}

/* din := dout · w (overwrite), the input cotangent alone. */
static void linear_din(const struct mlip_mlp *net, mlip_real *din, const mlip_real *dout,
		       const mlip_real *w, size_t rows, size_t in_dim, size_t out_dim)
{
	if (!rows)
		return;
	count_flops(rows, in_dim, out_dim);
	if (net->naive) {
		for (size_t r = 0; r < rows; r++)
			for (size_t i = 0; i < in_dim; i++) {
				double s = 0;
				for (size_t o = 0; o < out_dim; o++)
					s += (double)dout[r * out_dim + o] * (double)w[o * in_dim + i];
				din[r * in_dim + i] = (mlip_real)s;
			}
		return;
	}
	GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)in_dim, (int)out_dim, 1,
	     dout, (int)out_dim, w, (int)in_dim, 0, din, (int)in_dim);
}

/* ---- MLP ------------------------------------------------------------------- */

static size_t max_width(const struct mlip_mlp *net)
{
	size_t m = 1;
	for (size_t l = 1; l <= net->n_hidden + 1; l++)
		if (net->width[l] > m)
			m = net->width[l];
	return m;
}

size_t mlip_mlp_cache_count(const struct mlip_mlp *net, size_t n, size_t n_streams)
{
	size_t c = n * net->width[net->n_hidden + 1];
	for (size_t l = 0; l < net->n_hidden; l++)
		c += 2 * n_streams * n * net->width[l + 1] + (n_streams > 1 ? 2 : 1) * n * net->width[l + 1];
	return c;
}

void mlip_mlp_cache_carve(struct mlip_mlp_cache *c, const struct mlip_mlp *net, mlip_real *buf,
			  size_t n, size_t n_streams, mlip_real *x)
{
	memset(c, 0, sizeof(*c));
	c->n = n;
	c->n_streams = n_streams;
	c->x = x;
	for (size_t l = 0; l < net->n_hidden; l++) {
		c->a[l] = buf;
		buf += n_streams * n * net->width[l + 1];
		c->h[l] = buf;
		buf += n_streams * n * net->width[l + 1];
		c->d1[l] = buf;
		buf += n * net->width[l + 1];
		if (n_streams > 1) { /* φ'' serves the tangent streams only */
			c->d2[l] = buf;
			buf += n * net->width[l + 1];
		}
	}
	c->out = buf;
}

size_t mlip_mlp_scratch_count(const struct mlip_mlp *net, size_t n, size_t n_streams)
{
	size_t w = max_width(net);
	if (net->width[0] > w)
		w = net->width[0];
	return 2 * n_streams * n * w;
}

/* Input of layer l (0..L) for all streams. */
static const mlip_real *layer_in(const struct mlip_mlp_cache *c, size_t l)
{
	return l ? c->h[l - 1] : c->x;
}

void mlip_mlp_forward(struct mlip_mlp_cache *c, const struct mlip_mlp *net,
		      const struct mlip_mlp_params *p)
{
	size_t n = c->n, L = net->n_hidden;
	for (size_t l = 0; l < L; l++) {
		size_t w = net->width[l + 1];
		linear_fwd(net, c->a[l], layer_in(c, l), p->w[l], p->b[l], n, net->width[l], w);
		mlip_real *a = c->a[l], *h = c->h[l], *d1 = c->d1[l], *d2 = c->d2[l];
		int nt = net->n_threads > 1 && n * w >= 4096 ? net->n_threads : 1;
		(void)nt;
		NET_PRAGMA(omp parallel for num_threads(nt) if (nt > 1) schedule(static))
		for (size_t k = 0; k < n * w; k++) {
			double f, g1, g2;
			mlip_act_eval(net->act, (double)a[k], &f, &g1, d2 ? &g2 : NULL);
			h[k] = (mlip_real)f;
			d1[k] = (mlip_real)g1;
			if (d2)
				d2[k] = (mlip_real)g2;
		}
	}
	linear_fwd(net, c->out, layer_in(c, L), p->w[L], p->b[L], n, net->width[L],
		   net->width[L + 1]);
}

void mlip_mlp_tangent(struct mlip_mlp_cache *c, const struct mlip_mlp *net,
		      const struct mlip_mlp_params *p, size_t n_tan)
{
	size_t n = c->n, L = net->n_hidden;
	MLIP_ASSERT(1 + n_tan <= c->n_streams);
	if (!n_tan)
		return;
	for (size_t l = 0; l < L; l++) {
		size_t w = net->width[l + 1], win = net->width[l];
		mlip_real *ad = c->a[l] + n * w, *hd = c->h[l] + n * w;
		linear_fwd(net, ad, layer_in(c, l) + n * win, p->w[l], NULL, n_tan * n, win, w);
		const mlip_real *d1 = c->d1[l];
		for (size_t t = 0; t < n_tan; t++)
			for (size_t k = 0; k < n * w; k++)
				hd[t * n * w + k] = (mlip_real)((double)d1[k] * (double)ad[t * n * w + k]);
	}
}

void mlip_mlp_input_grad(mlip_real *dx, mlip_real *scratch, const struct mlip_mlp_cache *c,
			 const struct mlip_mlp *net, const struct mlip_mlp_params *p)
{
	size_t n = c->n, L = net->n_hidden, H = net->width[L + 1];
	size_t half = mlip_mlp_scratch_count(net, n, H) / 2;
	mlip_real *zb = scratch, *ab = scratch + half;
	if (!n)
		return;
	/* Cotangent of h_L in stream h: row h of W_out, for every row. */
	size_t wl = net->width[L];
	mlip_real *top = L ? zb : dx;
	for (size_t h = 0; h < H; h++)
		for (size_t r = 0; r < n; r++)
			memcpy(top + (h * n + r) * wl, p->w[L] + h * wl, wl * sizeof(mlip_real));
	for (size_t l = L; l-- > 0;) {
		size_t w = net->width[l + 1];
		const mlip_real *d1 = c->d1[l];
		for (size_t h = 0; h < H; h++)
			for (size_t r = 0; r < n * w; r++)
				ab[h * n * w + r] = (mlip_real)((double)d1[r] * (double)zb[h * n * w + r]);
		linear_din(net, l ? zb : dx, ab, p->w[l], H * n, net->width[l], w);
	}
}

void mlip_mlp_backward(struct mlip_mlp_params *g, mlip_real *scratch, const mlip_real *dout,
		       const size_t *head, size_t n_tan, const struct mlip_mlp_cache *c,
		       const struct mlip_mlp *net, const struct mlip_mlp_params *p)
{
	size_t n = c->n, L = net->n_hidden, H = net->width[L + 1], S = 1 + n_tan;
	size_t half = mlip_mlp_scratch_count(net, n, S) / 2;
	mlip_real *ab = scratch, *zb = scratch + half;
	MLIP_ASSERT(S <= c->n_streams);
	if (!n)
		return;
	/* Output cotangents: dout on the primal rows, a unit vector on stream t's head. */
	memset(ab, 0, S * n * H * sizeof(mlip_real));
	if (dout)
		memcpy(ab, dout, n * H * sizeof(mlip_real));
	for (size_t t = 0; t < n_tan; t++)
		for (size_t r = 0; r < n; r++)
			ab[((1 + t) * n + r) * H + head[t]] = 1;
	linear_bwd(net, NULL, g->w[L], ab, layer_in(c, L), p->w[L], S * n, net->width[L], H);
	mlip_bias_backward(g->b[L], ab, n, H);
	if (!L)
		return;
	linear_din(net, zb, ab, p->w[L], S * n, net->width[L], H);
	for (size_t l = L; l-- > 0;) {
		size_t w = net->width[l + 1], nw = n * w;
		const mlip_real *ad = c->a[l] + nw, *g1 = c->d1[l], *g2 = c->d2[l];
		/* primal:  ā = z̄ φ'(a) + Σ_t z̄_t φ''(a) ȧ_t;  tangent t:  ā_t = z̄_t φ'(a) */
		for (size_t k = 0; k < nw; k++) {
			double d1 = (double)g1[k], d2 = n_tan ? (double)g2[k] : 0;
			double s = (double)zb[k] * d1;
			for (size_t t = 0; t < n_tan; t++) {
				double zt = (double)zb[(1 + t) * nw + k];
				s += zt * d2 * (double)ad[t * nw + k];
				ab[(1 + t) * nw + k] = (mlip_real)(zt * d1);
			}
			ab[k] = (mlip_real)s;
		}
		linear_bwd(net, NULL, g->w[l], ab, layer_in(c, l), p->w[l], S * n, net->width[l], w);
		mlip_bias_backward(g->b[l], ab, n, w);
		if (l)
			linear_din(net, zb, ab, p->w[l], S * n, net->width[l], w);
	}
}
