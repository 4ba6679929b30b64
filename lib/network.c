/*
 * network.c - MLP kernels on element blocks: primal, tangent (forward-mode)
 * and the reverse pass through both, with BLAS and naive loop paths, for
 * double and for float: the kernels are network_impl.h, included once per
 * type below; this file holds what does not depend on the type.
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

const char *mlip_precision_name(enum mlip_precision p)
{
	switch (p) {
	case MLIP_FLOAT64:
		return "float64";
	case MLIP_FLOAT32:
		return "float32";
	}
	return NULL;
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

/* ---- sizes (the same for both types) --------------------------------------- */

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

size_t mlip_mlp_scratch_count(const struct mlip_mlp *net, size_t n, size_t n_streams)
{
	size_t w = max_width(net);
	if (net->width[0] > w)
		w = net->width[0];
	return 2 * n_streams * n * w;
}

/* ---- the kernels, once per type (network_impl.h) ----------------------------- */

#define NET_T double
#define NET_FN(name) name##_f64
#define NET_GEMM cblas_dgemm
#define NET_TANH tanh
#define NET_EXP exp
#define NET_LOG1P log1p
#include "network_impl.h"

#define NET_T float
#define NET_FN(name) name##_f32
#define NET_GEMM cblas_sgemm
#define NET_TANH tanhf
#define NET_EXP expf
#define NET_LOG1P log1pf
#include "network_impl.h"
