/*
 * network_impl.h - the MLP kernels written once for an element type, and
 * included twice by network.c (ggml's way of keeping one source for
 * several types): T = double with the suffix _f64 and T = float with _f32.
 * network.h states the contracts.
 *
 * network.c defines, before each inclusion:
 *   NET_T                      the element type
 *   NET_FN(name)               name with the type's suffix (name##_f64)
 *   NET_GEMM                   cblas_dgemm or cblas_sgemm
 *   NET_TANH, NET_EXP, NET_LOG1P   the libm functions of that type
 * and this file undefines them at the end. No include guard on purpose.
 *
 * Arithmetic: elementwise work (activations, φ' ⊙ ȧ, the backward's
 * ā = z̄ φ' + Σ z̄_t φ'' ȧ_t, bias sums) is done in T, so the double
 * instantiation computes exactly what the double-only kernels did and the
 * float one vectorises twice as wide. The naive loop kernels accumulate
 * their dot products in double whatever T is: they are the reference.
 */
#if !defined(NET_T) || !defined(NET_FN) || !defined(NET_GEMM)
#error "network_impl.h is included by network.c only"
#endif

#define T NET_T

void NET_FN(mlip_act_eval)(enum mlip_activation a, T x, T *f, T *d1, T *d2)
{
	T v, g1, g2;
	switch (a) {
	case MLIP_ACT_TANH:
		v = NET_TANH(x);
		g1 = 1 - v * v;
		g2 = -2 * v * g1;
		break;
	case MLIP_ACT_SILU: {
		T s = 1 / (1 + NET_EXP(-x));
		v = x * s;
		g1 = s * (1 + x * (1 - s));
		g2 = s * (1 - s) * (2 + x * (1 - 2 * s));
		break;
	}
	case MLIP_ACT_SOFTPLUS:
	default: {
		/* log(1 + eˣ) without overflow; σ(x) = 1/(1 + e^{−x}) */
		T s = 1 / (1 + NET_EXP(-x));
		v = x > 0 ? x + NET_LOG1P(NET_EXP(-x)) : NET_LOG1P(NET_EXP(x));
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

/* ---- linear layer kernels ------------------------------------------------ */

void NET_FN(mlip_matmul_forward_naive)(T *out, const T *in, const T *w, const T *b, size_t rows,
				       size_t in_dim, size_t out_dim)
{
	count_flops(rows, out_dim, in_dim);
	for (size_t r = 0; r < rows; r++)
		for (size_t o = 0; o < out_dim; o++) {
			double s = b ? (double)b[o] : 0;
			for (size_t i = 0; i < in_dim; i++)
				s += (double)in[r * in_dim + i] * (double)w[o * in_dim + i];
			out[r * out_dim + o] = (T)s;
		}
}

void NET_FN(mlip_matmul_forward)(T *out, const T *in, const T *w, const T *b, size_t rows,
				 size_t in_dim, size_t out_dim)
{
	if (!rows)
		return;
	count_flops(rows, out_dim, in_dim);
	NET_GEMM(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)out_dim, (int)in_dim, 1,
		 in, (int)in_dim, w, (int)in_dim, 0, out, (int)out_dim);
	if (b)
		for (size_t r = 0; r < rows; r++)
			for (size_t o = 0; o < out_dim; o++)
				out[r * out_dim + o] += b[o];
}

void NET_FN(mlip_matmul_backward_naive)(T *din, T *dw, const T *dout, const T *in, const T *w,
					size_t rows, size_t in_dim, size_t out_dim)
{
	count_flops(out_dim, in_dim, rows * (din ? 2 : 1));
	for (size_t o = 0; o < out_dim; o++)
		for (size_t i = 0; i < in_dim; i++) {
			double s = 0;
			for (size_t r = 0; r < rows; r++)
				s += (double)dout[r * out_dim + o] * (double)in[r * in_dim + i];
			dw[o * in_dim + i] += (T)s;
		}
	if (din)
		for (size_t r = 0; r < rows; r++)
			for (size_t i = 0; i < in_dim; i++) {
				double s = 0;
				for (size_t o = 0; o < out_dim; o++)
					s += (double)dout[r * out_dim + o] * (double)w[o * in_dim + i];
				din[r * in_dim + i] += (T)s;
			}
}

void NET_FN(mlip_matmul_backward)(T *din, T *dw, const T *dout, const T *in, const T *w,
				  size_t rows, size_t in_dim, size_t out_dim)
{
	if (!rows)
		return;
	count_flops(out_dim, in_dim, rows * (din ? 2 : 1));
	NET_GEMM(CblasRowMajor, CblasTrans, CblasNoTrans, (int)out_dim, (int)in_dim, (int)rows, 1,
		 dout, (int)out_dim, in, (int)in_dim, 1, dw, (int)in_dim);
	if (din)
		NET_GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)in_dim,
			 (int)out_dim, 1, dout, (int)out_dim, w, (int)in_dim, 1, din, (int)in_dim);
}

void NET_FN(mlip_bias_backward)(T *db, const T *dout, size_t rows, size_t out_dim)
{
	for (size_t r = 0; r < rows; r++)
		for (size_t o = 0; o < out_dim; o++)
			db[o] += dout[r * out_dim + o];
}

static void NET_FN(linear_fwd)(const struct mlip_mlp *net, T *out, const T *in, const T *w,
			       const T *b, size_t rows, size_t in_dim, size_t out_dim)
{
	(net->naive ? NET_FN(mlip_matmul_forward_naive)
		    : NET_FN(mlip_matmul_forward))(out, in, w, b, rows, in_dim, out_dim);
}

static void NET_FN(linear_bwd)(const struct mlip_mlp *net, T *din, T *dw, const T *dout,
			       const T *in, const T *w, size_t rows, size_t in_dim, size_t out_dim)
{
	(net->naive ? NET_FN(mlip_matmul_backward_naive)
		    : NET_FN(mlip_matmul_backward))(din, dw, dout, in, w, rows, in_dim, out_dim);
}

/* din := dout · w (overwrite), the input cotangent alone. */
static void NET_FN(linear_din)(const struct mlip_mlp *net, T *din, const T *dout, const T *w,
			       size_t rows, size_t in_dim, size_t out_dim)
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
				din[r * in_dim + i] = (T)s;
			}
		return;
	}
	NET_GEMM(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)rows, (int)in_dim, (int)out_dim, 1,
		 dout, (int)out_dim, w, (int)in_dim, 0, din, (int)in_dim);
}

/* ---- MLP ------------------------------------------------------------------- */

void NET_FN(mlip_mlp_cache_carve)(struct NET_FN(mlip_mlp_cache) *c, const struct mlip_mlp *net,
				  T *buf, size_t n, size_t n_streams, T *x)
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

/* Input of layer l (0..L) for all streams. */
static const T *NET_FN(layer_in)(const struct NET_FN(mlip_mlp_cache) *c, size_t l)
{
	return l ? c->h[l - 1] : c->x;
}

void NET_FN(mlip_mlp_forward)(struct NET_FN(mlip_mlp_cache) *c, const struct mlip_mlp *net,
			      const struct NET_FN(mlip_mlp_params) *p)
{
	size_t n = c->n, L = net->n_hidden;
	for (size_t l = 0; l < L; l++) {
		size_t w = net->width[l + 1];
		NET_FN(linear_fwd)(net, c->a[l], NET_FN(layer_in)(c, l), p->w[l], p->b[l], n,
				   net->width[l], w);
		T *a = c->a[l], *h = c->h[l], *d1 = c->d1[l], *d2 = c->d2[l];
		int nt = net->n_threads > 1 && n * w >= 4096 ? net->n_threads : 1;
		(void)nt;
		NET_PRAGMA(omp parallel for num_threads(nt) if (nt > 1) schedule(static))
		for (size_t k = 0; k < n * w; k++) {
			T f, g1, g2;
			NET_FN(mlip_act_eval)(net->act, a[k], &f, &g1, d2 ? &g2 : NULL);
			h[k] = f;
			d1[k] = g1;
			if (d2)
				d2[k] = g2;
		}
	}
	NET_FN(linear_fwd)(net, c->out, NET_FN(layer_in)(c, L), p->w[L], p->b[L], n, net->width[L],
			   net->width[L + 1]);
}

void NET_FN(mlip_mlp_tangent)(struct NET_FN(mlip_mlp_cache) *c, const struct mlip_mlp *net,
			      const struct NET_FN(mlip_mlp_params) *p, size_t n_tan)
{
	size_t n = c->n, L = net->n_hidden;
	MLIP_ASSERT(1 + n_tan <= c->n_streams);
	if (!n_tan)
		return;
	for (size_t l = 0; l < L; l++) {
		size_t w = net->width[l + 1], win = net->width[l];
		T *ad = c->a[l] + n * w, *hd = c->h[l] + n * w;
		NET_FN(linear_fwd)(net, ad, NET_FN(layer_in)(c, l) + n * win, p->w[l], NULL, n_tan * n,
				   win, w);
		const T *d1 = c->d1[l];
		for (size_t t = 0; t < n_tan; t++)
			for (size_t k = 0; k < n * w; k++)
				hd[t * n * w + k] = d1[k] * ad[t * n * w + k];
	}
}

void NET_FN(mlip_mlp_input_grad)(T *dx, T *scratch, const struct NET_FN(mlip_mlp_cache) *c,
				 const struct mlip_mlp *net, const struct NET_FN(mlip_mlp_params) *p)
{
	size_t n = c->n, L = net->n_hidden, H = net->width[L + 1];
	size_t half = mlip_mlp_scratch_count(net, n, H) / 2;
	T *zb = scratch, *ab = scratch + half;
	if (!n)
		return;
	/* Cotangent of h_L in stream h: row h of W_out, for every row. */
	size_t wl = net->width[L];
	T *top = L ? zb : dx;
	for (size_t h = 0; h < H; h++)
		for (size_t r = 0; r < n; r++)
			memcpy(top + (h * n + r) * wl, p->w[L] + h * wl, wl * sizeof(T));
	for (size_t l = L; l-- > 0;) {
		size_t w = net->width[l + 1];
		const T *d1 = c->d1[l];
		for (size_t h = 0; h < H; h++)
			for (size_t r = 0; r < n * w; r++)
				ab[h * n * w + r] = d1[r] * zb[h * n * w + r];
		NET_FN(linear_din)(net, l ? zb : dx, ab, p->w[l], H * n, net->width[l], w);
	}
}

void NET_FN(mlip_mlp_backward_input)(struct NET_FN(mlip_mlp_params) *g, T *dx, T *scratch,
				     const T *dout, const size_t *head, size_t n_tan,
				     const struct NET_FN(mlip_mlp_cache) *c,
				     const struct mlip_mlp *net,
				     const struct NET_FN(mlip_mlp_params) *p)
{
	size_t n = c->n, L = net->n_hidden, H = net->width[L + 1], S = 1 + n_tan;
	size_t half = mlip_mlp_scratch_count(net, n, S) / 2;
	T *ab = scratch, *zb = scratch + half;
	MLIP_ASSERT(S <= c->n_streams);
	if (!n)
		return;
	/* Output cotangents: dout on the primal rows, a unit vector on stream t's head. */
	memset(ab, 0, S * n * H * sizeof(T));
	if (dout)
		memcpy(ab, dout, n * H * sizeof(T));
	for (size_t t = 0; t < n_tan; t++)
		for (size_t r = 0; r < n; r++)
			ab[((1 + t) * n + r) * H + head[t]] = 1;
	NET_FN(linear_bwd)(net, NULL, g->w[L], ab, NET_FN(layer_in)(c, L), p->w[L], S * n,
			   net->width[L], H);
	NET_FN(mlip_bias_backward)(g->b[L], ab, n, H);
	if (!L) {
		if (dx)
			NET_FN(linear_din)(net, dx, ab, p->w[L], S * n, net->width[L], H);
		return;
	}
	NET_FN(linear_din)(net, zb, ab, p->w[L], S * n, net->width[L], H);
	for (size_t l = L; l-- > 0;) {
		size_t w = net->width[l + 1], nw = n * w;
		const T *ad = c->a[l] + nw, *g1 = c->d1[l], *g2 = c->d2[l];
		/* primal:  ā = z̄ φ'(a) + Σ_t z̄_t φ''(a) ȧ_t;  tangent t:  ā_t = z̄_t φ'(a) */
		for (size_t k = 0; k < nw; k++) {
			T d1 = g1[k], d2 = n_tan ? g2[k] : 0;
			T s = zb[k] * d1;
			for (size_t t = 0; t < n_tan; t++) {
				T zt = zb[(1 + t) * nw + k];
				s += zt * d2 * ad[t * nw + k];
				ab[(1 + t) * nw + k] = zt * d1;
			}
			ab[k] = s;
		}
		NET_FN(linear_bwd)(net, NULL, g->w[l], ab, NET_FN(layer_in)(c, l), p->w[l], S * n,
				   net->width[l], w);
		NET_FN(mlip_bias_backward)(g->b[l], ab, n, w);
		if (l)
			NET_FN(linear_din)(net, zb, ab, p->w[l], S * n, net->width[l], w);
		else if (dx)
			NET_FN(linear_din)(net, dx, ab, p->w[l], S * n, net->width[l], w);
	}
}

void NET_FN(mlip_mlp_backward)(struct NET_FN(mlip_mlp_params) *g, T *scratch, const T *dout,
			       const size_t *head, size_t n_tan,
			       const struct NET_FN(mlip_mlp_cache) *c, const struct mlip_mlp *net,
			       const struct NET_FN(mlip_mlp_params) *p)
{
	NET_FN(mlip_mlp_backward_input)(g, NULL, scratch, dout, head, n_tan, c, net, p);
}

#undef T
#undef NET_T
#undef NET_FN
#undef NET_GEMM
#undef NET_TANH
#undef NET_EXP
#undef NET_LOG1P
