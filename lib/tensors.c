/*
 * tensors.c - the parameter tensor table and its flat buffers.
 *
 * Offsets are in elements of mlip_real, rounded up so that offset *
 * sizeof(mlip_real) is a multiple of MLIP_TENSOR_ALIGN (ggml's GGML_PAD).
 */
#include <stdlib.h>
#include <string.h>

#include "tensors.h"
#include "banned.h"

#define PAD_ELEMS (MLIP_TENSOR_ALIGN / sizeof(mlip_real))

static size_t pad(size_t n)
{
	return (n + PAD_ELEMS - 1) / PAD_ELEMS * PAD_ELEMS;
}

void mlip_tensors_init(struct mlip_tensors *t)
{
	memset(t, 0, sizeof(*t));
}

void mlip_tensors_release(struct mlip_tensors *t)
{
	free(t->t);
	mlip_tensors_init(t);
}

const struct mlip_tensor *mlip_tensors_find(const struct mlip_tensors *t, const char *name)
{
	for (size_t k = 0; k < t->n; k++)
		if (!strcmp(t->t[k].name, name))
			return &t->t[k];
	return NULL;
}

int mlip_tensors_add(struct mlip_tensors *t, const char *name, size_t ndim, const size_t *shape,
		     unsigned flags, struct mlip_err *err)
{
	size_t len = strlen(name), count = 1;
	if (!len || len >= MLIP_TENSOR_NAME_MAX)
		return mlip_err_set(err, MLIP_EINVAL, "tensor name '%s' is empty or too long", name);
	if (mlip_tensors_find(t, name))
		return mlip_err_set(err, MLIP_EINVAL, "tensor '%s' is defined twice", name);
	if (ndim < 1 || ndim > MLIP_TENSOR_MAX_DIM)
		return mlip_err_set(err, MLIP_EINVAL, "tensor '%s' has %zu dimensions", name, ndim);
	for (size_t d = 0; d < ndim; d++) {
		if (!shape[d])
			return mlip_err_set(err, MLIP_EINVAL, "tensor '%s' has an empty dimension",
					    name);
		count *= shape[d];
	}
	if (t->n == t->alloc) {
		size_t alloc = t->alloc ? 2 * t->alloc : 16;
		struct mlip_tensor *nt = realloc(t->t, alloc * sizeof(*nt));
		if (!nt)
			return mlip_err_set(err, MLIP_ENOMEM, "out of memory for tensor '%s'", name);
		t->t = nt;
		t->alloc = alloc;
	}
	struct mlip_tensor *x = &t->t[t->n++];
	memset(x, 0, sizeof(*x));
	memcpy(x->name, name, len + 1);
	x->ndim = ndim;
	for (size_t d = 0; d < MLIP_TENSOR_MAX_DIM; d++)
		x->shape[d] = d < ndim ? shape[d] : 1;
	x->offset = t->n_params;
	x->count = count;
	x->flags = flags;
	t->n_params = pad(x->offset + count);
	return MLIP_OK;
}

int mlip_tensors_alloc(const struct mlip_tensors *t, size_t nbuf, mlip_real **buf,
		       struct mlip_err *err)
{
	size_t n = t->n_params ? t->n_params : PAD_ELEMS;
	void *p = NULL;
	if (nbuf && n > (size_t)-1 / sizeof(mlip_real) / nbuf)
		return mlip_err_set(err, MLIP_ENOMEM, "parameter buffers too large");
	if (posix_memalign(&p, MLIP_TENSOR_ALIGN, nbuf * n * sizeof(mlip_real)))
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory for %zu parameter buffers of %zu",
				    nbuf, n);
	memset(p, 0, nbuf * n * sizeof(mlip_real));
	for (size_t k = 0; k < nbuf; k++)
		buf[k] = (mlip_real *)p + k * n;
	return MLIP_OK;
}

void mlip_tensors_free(mlip_real **buf)
{
	free(buf[0]);
}
