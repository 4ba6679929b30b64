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
 *
 * Two precisions (model.precision): every kernel exists for double (_f64)
 * and for float (_f32), from one source. The float kernels are the network
 * half of mixed precision (model.h): they run on float copies of the
 * weights and float activations, and their weight gradients are added into
 * the double gradient buffer by the caller.
 */
#ifndef MLIP_NETWORK_H
#define MLIP_NETWORK_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

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

/* Precision of the network pass. The parameters, their gradients and
 * everything outside the network stay double in both (model.h). */
enum mlip_precision {
	MLIP_FLOAT64 = 0,
	MLIP_FLOAT32 = 1,
};

/* "float64", "float32"; NULL for an unknown value. */
const char *mlip_precision_name(enum mlip_precision p);

/* Shape of one element network. */
struct mlip_mlp {
	size_t n_hidden;                     /* L >= 0 */
	size_t width[MLIP_MAX_HIDDEN + 2];   /* [0] inputs D, [1..L] hidden, [L+1] heads H */
	enum mlip_activation act;
	int naive;                           /* 1: loop kernels instead of BLAS */
	int n_threads;                       /* OpenMP threads of the activation loops (<= 1:
						one); elementwise, so results do not depend on it */
};

/* Values (of either type) a cache of n rows × n_streams needs (carved by mlip_mlp_cache_carve). */
size_t mlip_mlp_cache_count(const struct mlip_mlp *net, size_t n, size_t n_streams);
/* Scratch values needed by input_grad / backward for n rows and n_streams streams. */
size_t mlip_mlp_scratch_count(const struct mlip_mlp *net, size_t n, size_t n_streams);

/*
 * Everything below exists twice, generated from one source (network_impl.h):
 * for T = double with the suffix _f64 (mlip_mlp_forward_f64, struct
 * mlip_mlp_cache_f64, ...) and for T = float with _f32. The contracts,
 * written once for T:
 *
 * mlip_act_eval(a, x, f, d1, d2): φ(x), φ'(x), φ''(x) (any output pointer may
 *   be NULL), in T's arithmetic (tanhf, expf, log1pf for float).
 *
 * Linear layer kernels, llm.c style (outputs first, backward accumulates):
 *   mlip_matmul_forward[_naive](out, in, w, b, rows, in_dim, out_dim):
 *       out (rows, out_dim) = in (rows, in_dim) · wᵀ + b   (b may be NULL)
 *   mlip_matmul_backward[_naive](din, dw, dout, in, w, rows, in_dim, out_dim):
 *       dw (out_dim, in_dim) += doutᵀ · in;  din (rows, in_dim) += dout · w
 *       (din may be NULL)
 *   mlip_bias_backward(db, dout, rows, out_dim): db (out_dim) += Σ_rows dout
 * The BLAS path is cblas_dgemm / cblas_sgemm; the naive loops accumulate in
 * double for both types (the reference).
 *
 * struct mlip_mlp_params: layer l = 0..L maps width[l] -> width[l+1]:
 *   w[l] (width[l+1], width[l]), b[l] (width[l+1]).
 * struct mlip_mlp_cache: the activations of one block of n rows with room for
 *   n_streams streams (members below).
 *
 * mlip_mlp_cache_carve(c, net, buf, n, n_streams, x): point c's buffers into
 *   buf (mlip_mlp_cache_count values of T); x is borrowed.
 * mlip_mlp_forward(c, net, p): primal pass on rows 0..n−1: fills a, h, d1, d2
 *   and out (the derivatives are evaluated here once, for input_grad,
 *   tangent and backward).
 * mlip_mlp_input_grad(dx, scratch, c, net, p): ∂o_h/∂x for every head h and
 *   row: dx (H·n, width[0]), stream h = head h, overwritten. Needs a forward
 *   first. scratch: mlip_mlp_scratch_count(net, n, H) values.
 * mlip_mlp_tangent(c, net, p, n_tan): tangent pass for streams 1..n_tan
 *   (their x rows are the directions). Needs a forward.
 * mlip_mlp_backward(g, scratch, dout, head, n_tan, c, net, p): accumulate
 *   into g the gradient with respect to the weights and biases of
 *     Σ_rows Σ_h dout[r][h] o[r][h]  +  Σ_{t=1..n_tan} Σ_rows ȯ_t[r][head[t−1]].
 *   dout (n, H) may be NULL (no primal term). Needs forward and, if
 *   n_tan > 0, tangent. scratch: mlip_mlp_scratch_count(net, n, 1 + n_tan).
 * mlip_mlp_backward_input(g, dx, scratch, dout, head, n_tan, c, net, p): the
 *   same, and (dx not NULL) the gradient of that objective with respect to
 *   the inputs of every stream: dx ((1 + n_tan)·n, width[0]), overwritten;
 *   rows 0..n−1 the primal x (through o and, with φ'', through the ȯ_t),
 *   block 1 + t the direction ẋ_t (∂o[head[t]]/∂x). A trainable descriptor
 *   takes its gradient from there.
 */
#define MLIP_NETWORK_API(T, S)                                                                   \
	void mlip_act_eval##S(enum mlip_activation a, T x, T *f, T *d1, T *d2);                  \
	void mlip_matmul_forward##S(T *out, const T *in, const T *w, const T *b, size_t rows,    \
				    size_t in_dim, size_t out_dim);                              \
	void mlip_matmul_forward_naive##S(T *out, const T *in, const T *w, const T *b,           \
					  size_t rows, size_t in_dim, size_t out_dim);           \
	void mlip_matmul_backward##S(T *din, T *dw, const T *dout, const T *in, const T *w,      \
				     size_t rows, size_t in_dim, size_t out_dim);                \
	void mlip_matmul_backward_naive##S(T *din, T *dw, const T *dout, const T *in,            \
					   const T *w, size_t rows, size_t in_dim,               \
					   size_t out_dim);                                      \
	void mlip_bias_backward##S(T *db, const T *dout, size_t rows, size_t out_dim);           \
	struct mlip_mlp_params##S {                                                              \
		T *w[MLIP_MAX_HIDDEN + 1];                                                       \
		T *b[MLIP_MAX_HIDDEN + 1];                                                       \
	};                                                                                       \
	struct mlip_mlp_cache##S {                                                               \
		size_t n, n_streams;                                                             \
		T *x;                   /* (n_streams·n, width[0]) borrowed input */             \
		T *a[MLIP_MAX_HIDDEN];  /* (n_streams·n, width[l+1]) pre-activations */          \
		T *h[MLIP_MAX_HIDDEN];  /* (n_streams·n, width[l+1]) φ(a), or ḣ */               \
		T *d1[MLIP_MAX_HIDDEN]; /* (n, width[l+1]) φ'(a) of the primal rows */           \
		T *d2[MLIP_MAX_HIDDEN]; /* (n, width[l+1]) φ''(a) of the primal rows, or NULL    \
					   with one stream (no tangents) */                      \
		T *out;                 /* (n, H) primal outputs */                              \
	};                                                                                       \
	void mlip_mlp_cache_carve##S(struct mlip_mlp_cache##S *c, const struct mlip_mlp *net,    \
				     T *buf, size_t n, size_t n_streams, T *x);                  \
	void mlip_mlp_forward##S(struct mlip_mlp_cache##S *c, const struct mlip_mlp *net,        \
				 const struct mlip_mlp_params##S *p);                            \
	void mlip_mlp_input_grad##S(T *dx, T *scratch, const struct mlip_mlp_cache##S *c,        \
				    const struct mlip_mlp *net,                                  \
				    const struct mlip_mlp_params##S *p);                         \
	void mlip_mlp_tangent##S(struct mlip_mlp_cache##S *c, const struct mlip_mlp *net,        \
				 const struct mlip_mlp_params##S *p, size_t n_tan);              \
	void mlip_mlp_backward##S(struct mlip_mlp_params##S *g, T *scratch, const T *dout,       \
				  const size_t *head, size_t n_tan,                              \
				  const struct mlip_mlp_cache##S *c, const struct mlip_mlp *net, \
				  const struct mlip_mlp_params##S *p);                            \
	void mlip_mlp_backward_input##S(struct mlip_mlp_params##S *g, T *dx, T *scratch,        \
					const T *dout, const size_t *head, size_t n_tan,         \
					const struct mlip_mlp_cache##S *c,                       \
					const struct mlip_mlp *net,                              \
					const struct mlip_mlp_params##S *p);

MLIP_NETWORK_API(double, _f64)
MLIP_NETWORK_API(float, _f32)
#undef MLIP_NETWORK_API

#endif
