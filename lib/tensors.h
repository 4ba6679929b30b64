/*
 * tensors.h - the parameter tensor table and the flat buffers carved from it.
 *
 * A model's parameters live in one flat array of n_params mlip_real values;
 * the table names the pieces: {name, shape[4], offset, count}. Every offset
 * is a multiple of MLIP_TENSOR_ALIGN bytes, and n_params is padded likewise,
 * so that the gradient, Adam-moment and parameter buffers carved from one
 * allocation all start on 64-byte boundaries. The padding between tensors is
 * zero in every buffer and stays zero: no kernel writes it, and an optimizer
 * that runs one flat loop over n_params sees a zero gradient there.
 *
 * Example:
 *     struct mlip_tensors t;
 *     mlip_real *buf[4];
 *     mlip_tensors_init(&t);
 *     mlip_tensors_add(&t, "Si.w1", 2, (size_t[]){24, 32}, 0, &err);
 *     mlip_tensors_add(&t, "Si.b1", 1, (size_t[]){24}, MLIP_TENSOR_NO_DECAY, &err);
 *     mlip_tensors_alloc(&t, 2, buf, &err);   // params, grads
 *     ...
 *     mlip_tensors_free(buf);
 *     mlip_tensors_release(&t);
 */
#ifndef MLIP_TENSORS_H
#define MLIP_TENSORS_H

#include <stddef.h>

#include "error.h"
#include "real.h"

#define MLIP_TENSOR_ALIGN 64        /* bytes */
#define MLIP_TENSOR_NAME_MAX 64     /* including the NUL */
#define MLIP_TENSOR_MAX_DIM 4

/* Tensor flags (the optimizer's parameter groups). */
enum {
	MLIP_TENSOR_NO_DECAY = 1u << 0, /* no weight decay (biases, scaling) */
	MLIP_TENSOR_FROZEN = 1u << 1,   /* never trained: its gradient is always zero */
};

struct mlip_tensor {
	char name[MLIP_TENSOR_NAME_MAX];
	size_t ndim;                       /* 1..4 */
	size_t shape[MLIP_TENSOR_MAX_DIM]; /* unused dimensions are 1 */
	size_t offset;                     /* elements from the buffer start */
	size_t count;                      /* product of the shape */
	unsigned flags;                    /* MLIP_TENSOR_* */
};

struct mlip_tensors {
	size_t n, alloc;
	struct mlip_tensor *t; /* (n) in offset order */
	size_t n_params;       /* elements per buffer, padding included */
};

void mlip_tensors_init(struct mlip_tensors *t);
void mlip_tensors_release(struct mlip_tensors *t);

/*
 * Append a tensor of the given shape (every dimension >= 1). Its offset is the
 * end of the previous tensor rounded up to MLIP_TENSOR_ALIGN bytes. Errors:
 * MLIP_EINVAL for a bad shape, a name too long or already used; MLIP_ENOMEM.
 */
int mlip_tensors_add(struct mlip_tensors *t, const char *name, size_t ndim, const size_t *shape,
		     unsigned flags, struct mlip_err *err);

/* The tensor called name, or NULL. Borrowed from t. */
const struct mlip_tensor *mlip_tensors_find(const struct mlip_tensors *t, const char *name);

/*
 * Allocate nbuf buffers of t->n_params elements each from one 64-byte aligned,
 * zero-filled block (llm.c's malloc_and_point_parameters): buf[0] is the block,
 * buf[k] = buf[0] + k * n_params. Release with mlip_tensors_free(buf).
 */
int mlip_tensors_alloc(const struct mlip_tensors *t, size_t nbuf, mlip_real **buf,
		       struct mlip_err *err);
void mlip_tensors_free(mlip_real **buf);

#endif
