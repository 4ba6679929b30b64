/*
 * network.h - the per-element multilayer perceptron of the BPNN, run on
 * whole element blocks: rows are atoms, columns features (row-major).
 *
 *   h_0 = x;  a_l = h_{l−1} W_lᵀ + b_l,  h_l = φ(a_l)  for l = 1..L;
 *   o = h_L W_outᵀ + b_out  (H outputs, one per head).
 * Weights are stored (out, in) row-major, as PyTorch's nn.Linear.
 *
 * Training needs the derivative of forces with respect to the weights, so
 * besides the primal pass there are tangent "streams": a stream t carries a
 * direction ẋ_t through the network in forward mode,
 *   ȧ_l = ḣ_{l−1} W_lᵀ,  ḣ_l = φ'(a_l) ⊙ ȧ_l,  (ȯ = ḣ_L W_outᵀ),
 * and the backward pass differentiates Σ_rows dout·o + Σ_t Σ_rows ȯ_t[head_t]
 * with respect to W and b, through both streams (this uses φ''). Streams are
 * stacked as row blocks (stream s occupies rows s·n .. s·n + n − 1; s = 0 is
 * the primal), so every layer is one GEMM over all streams at once; only the
 * primal rows carry a bias.
 *
 * Each kernel has a BLAS path (cblas_dgemm / cblas_sgemm) and a naive loop
 * path (net->naive = 1) kept as the reference (llm.c's matmul_forward_naive).
 */
#ifndef MLIP_NETWORK_H
#define MLIP_NETWORK_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "real.h"

#define MLIP_MAX_HIDDEN 8

enum mlip_activation {
	MLIP_ACT_TANH = 0,
	MLIP_ACT_SILU = 1,     /* x σ(x) */
	MLIP_ACT_SOFTPLUS = 2, /* log(1 + eˣ) */
};

/* "tanh", "silu", "softplus"; NULL for an unknown value. */
const char *mlip_activation_name(enum mlip_activation a);
/* The activation called name; MLIP_EINVAL naming the choices if unknown. */
int mlip_activation_parse(enum mlip_activation *a, const char *name, struct mlip_err *err);

/*
 * FLOPs of the matrix products run since the last reset (2 per multiply-add,
 * as fairchem's FLOP counter counts them; elementwise work such as the
 * symmetry functions and activations is not included).
 */
uint64_t mlip_matmul_flops(void);
void mlip_matmul_flops_reset(void);

/* φ(x), φ'(x), φ''(x) (any output pointer may be NULL). */
void mlip_act_eval(enum mlip_activation a, double x, double *f, double *d1, double *d2);

/*
 * Linear layer kernels, llm.c style (outputs first, backward accumulates):
 *   forward:  out (rows, out_dim) = in (rows, in_dim) · wᵀ + b   (b may be NULL)
 *   backward: dw (out_dim, in_dim) += doutᵀ · in;  din (rows, in_dim) += dout · w
 *             (din may be NULL)
 *   bias_backward: db (out_dim) += Σ_rows dout
 */
void mlip_matmul_forward(mlip_real *out, const mlip_real *in, const mlip_real *w,
			 const mlip_real *b, size_t rows, size_t in_dim, size_t out_dim);
void mlip_matmul_forward_naive(mlip_real *out, const mlip_real *in, const mlip_real *w,
			       const mlip_real *b, size_t rows, size_t in_dim, size_t out_dim);
void mlip_matmul_backward(mlip_real *din, mlip_real *dw, const mlip_real *dout,
			  const mlip_real *in, const mlip_real *w, size_t rows, size_t in_dim,
			  size_t out_dim);
void mlip_matmul_backward_naive(mlip_real *din, mlip_real *dw, const mlip_real *dout,
				const mlip_real *in, const mlip_real *w, size_t rows, size_t in_dim,
				size_t out_dim);
void mlip_bias_backward(mlip_real *db, const mlip_real *dout, size_t rows, size_t out_dim);

/* Shape of one element network. */
struct mlip_mlp {
	size_t n_hidden;                     /* L >= 0 */
	size_t width[MLIP_MAX_HIDDEN + 2];   /* [0] inputs D, [1..L] hidden, [L+1] heads H */
	enum mlip_activation act;
	int naive;                           /* 1: loop kernels instead of BLAS */
	int n_threads;                       /* OpenMP threads of the activation loops (<= 1:
						one); elementwise, so results do not depend on it */
};

/* Layer l = 0..L maps width[l] -> width[l+1]: w[l] (width[l+1], width[l]), b[l] (width[l+1]). */
struct mlip_mlp_params {
	mlip_real *w[MLIP_MAX_HIDDEN + 1];
	mlip_real *b[MLIP_MAX_HIDDEN + 1];
};

/* Activations of one block of n rows with room for n_streams streams. */
struct mlip_mlp_cache {
	size_t n, n_streams;
	mlip_real *x;                        /* (n_streams·n, width[0]) borrowed input */
	mlip_real *a[MLIP_MAX_HIDDEN];       /* (n_streams·n, width[l+1]) pre-activations */
	mlip_real *h[MLIP_MAX_HIDDEN];       /* (n_streams·n, width[l+1]) φ(a), or ḣ */
	mlip_real *d1[MLIP_MAX_HIDDEN];      /* (n, width[l+1]) φ'(a) of the primal rows */
	mlip_real *d2[MLIP_MAX_HIDDEN];      /* (n, width[l+1]) φ''(a) of the primal rows, or
						NULL with one stream (no tangents) */
	mlip_real *out;                      /* (n, H) primal outputs */
};

/* mlip_real values a cache of n rows × n_streams needs (carved by mlip_mlp_cache_carve). */
size_t mlip_mlp_cache_count(const struct mlip_mlp *net, size_t n, size_t n_streams);
/* Point c's buffers into buf (mlip_mlp_cache_count values); x is borrowed. */
void mlip_mlp_cache_carve(struct mlip_mlp_cache *c, const struct mlip_mlp *net, mlip_real *buf,
			  size_t n, size_t n_streams, mlip_real *x);
/* Scratch values needed by input_grad / backward for n rows and n_streams streams. */
size_t mlip_mlp_scratch_count(const struct mlip_mlp *net, size_t n, size_t n_streams);

/* Primal pass on rows 0..n−1: fills a, h, d1, d2 and out (the derivatives are
 * evaluated here once, for input_grad, tangent and backward). */
void mlip_mlp_forward(struct mlip_mlp_cache *c, const struct mlip_mlp *net,
		      const struct mlip_mlp_params *p);

/*
 * ∂o_h/∂x for every head h and row: dx (H·n, width[0]), stream h = head h,
 * overwritten. Needs a forward first. scratch: mlip_mlp_scratch_count(net, n, H).
 */
void mlip_mlp_input_grad(mlip_real *dx, mlip_real *scratch, const struct mlip_mlp_cache *c,
			 const struct mlip_mlp *net, const struct mlip_mlp_params *p);

/* Tangent pass for streams 1..n_tan (their x rows are the directions). Needs a forward. */
void mlip_mlp_tangent(struct mlip_mlp_cache *c, const struct mlip_mlp *net,
		      const struct mlip_mlp_params *p, size_t n_tan);

/*
 * Accumulate into g the gradient with respect to the weights and biases of
 *   Σ_rows Σ_h dout[r][h] o[r][h]  +  Σ_{t=1..n_tan} Σ_rows ȯ_t[r][head[t−1]].
 * dout (n, H) may be NULL (no primal term). Needs forward and, if n_tan > 0,
 * tangent. scratch: mlip_mlp_scratch_count(net, n, 1 + n_tan).
 */
void mlip_mlp_backward(struct mlip_mlp_params *g, mlip_real *scratch, const mlip_real *dout,
		       const size_t *head, size_t n_tan, const struct mlip_mlp_cache *c,
		       const struct mlip_mlp *net, const struct mlip_mlp_params *p);

#endif
