/*
 * structure.c - atomic structures: lifetime, copying, validation, cell maths.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "structure.h"
#include "elements.h"
#include "banned.h"

void mlip_structure_init(struct mlip_structure *s)
{
	memset(s, 0, sizeof(*s));
}

void mlip_structure_release(struct mlip_structure *s)
{
	free(s->numbers);
	free(s->positions);
	free(s->forces);
	free(s->fixed);
	free(s->dataset);
	free(s->id);
	mlip_structure_init(s);
}

int mlip_structure_alloc(struct mlip_structure *s, size_t natoms, struct mlip_err *err)
{
	size_t n = natoms ? natoms : 1;
	free(s->numbers);
	free(s->positions);
	free(s->forces);
	free(s->fixed);
	s->numbers = calloc(n, sizeof(*s->numbers));
	s->positions = calloc(3 * n, sizeof(*s->positions));
	s->forces = calloc(3 * n, sizeof(*s->forces));
	s->fixed = calloc(n, sizeof(*s->fixed));
	s->natoms = natoms;
	if (!s->numbers || !s->positions || !s->forces || !s->fixed) {
		mlip_structure_release(s);
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory for %zu atoms", natoms);
	}
	return MLIP_OK;
}

int mlip_structure_resize(struct mlip_structure *s, size_t natoms, struct mlip_err *err)
{
	size_t n = natoms ? natoms : 1, old = s->natoms, keep = old < natoms ? old : natoms;
	if (!s->numbers)
		return mlip_structure_alloc(s, natoms, err);
	if (natoms <= old) {
		/* the arrays stay as large as they were */
		s->natoms = natoms;
		return MLIP_OK;
	}
	int32_t *z = realloc(s->numbers, n * sizeof(*z));
	if (z)
		s->numbers = z;
	double *p = z ? realloc(s->positions, 3 * n * sizeof(*p)) : NULL;
	if (p)
		s->positions = p;
	double *f = p ? realloc(s->forces, 3 * n * sizeof(*f)) : NULL;
	if (f)
		s->forces = f;
	uint8_t *x = f ? realloc(s->fixed, n) : NULL;
	if (!x)
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory for %zu atoms", natoms);
	s->fixed = x;
	if (natoms > keep) {
		memset(s->numbers + keep, 0, (natoms - keep) * sizeof(*s->numbers));
		memset(s->positions + 3 * keep, 0, 3 * (natoms - keep) * sizeof(double));
		memset(s->forces + 3 * keep, 0, 3 * (natoms - keep) * sizeof(double));
		memset(s->fixed + keep, 0, natoms - keep);
	}
	s->natoms = natoms;
	return MLIP_OK;
}

static int set_string(char **dst, const char *str, struct mlip_err *err)
{
	char *copy = NULL;
	if (str) {
		copy = strdup(str);
		if (!copy)
			return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	}
	free(*dst);
	*dst = copy;
	return MLIP_OK;
}

int mlip_structure_set_dataset(struct mlip_structure *s, const char *str, struct mlip_err *err)
{
	return set_string(&s->dataset, str, err);
}

int mlip_structure_set_id(struct mlip_structure *s, const char *str, struct mlip_err *err)
{
	return set_string(&s->id, str, err);
}

int mlip_structure_copy(struct mlip_structure *dst, const struct mlip_structure *src,
			struct mlip_err *err)
{
	int rc;
	size_t n = src->natoms;
	mlip_structure_release(dst);
	if ((rc = mlip_structure_alloc(dst, n, err)))
		return rc;
	memcpy(dst->numbers, src->numbers, n * sizeof(*dst->numbers));
	memcpy(dst->positions, src->positions, 3 * n * sizeof(double));
	memcpy(dst->forces, src->forces, 3 * n * sizeof(double));
	memcpy(dst->fixed, src->fixed, n);
	memcpy(dst->cell, src->cell, sizeof(dst->cell));
	memcpy(dst->pbc, src->pbc, sizeof(dst->pbc));
	memcpy(dst->stress, src->stress, sizeof(dst->stress));
	dst->has = src->has;
	dst->energy = src->energy;
	if ((rc = mlip_structure_set_dataset(dst, src->dataset, err)) ||
	    (rc = mlip_structure_set_id(dst, src->id, err))) {
		mlip_structure_release(dst);
		return rc;
	}
	return MLIP_OK;
}

int mlip_structure_n_periodic(const struct mlip_structure *s)
{
	return !!s->pbc[0] + !!s->pbc[1] + !!s->pbc[2];
}

double mlip_cell_volume(const double m[9])
{
	double det = m[0] * (m[4] * m[8] - m[5] * m[7])
		   - m[1] * (m[3] * m[8] - m[5] * m[6])
		   + m[2] * (m[3] * m[7] - m[4] * m[6]);
	return fabs(det);
}

int mlip_mat3_inverse(double inv[9], const double m[9])
{
	double c[9];
	c[0] = m[4] * m[8] - m[5] * m[7];
	c[1] = m[2] * m[7] - m[1] * m[8];
	c[2] = m[1] * m[5] - m[2] * m[4];
	c[3] = m[5] * m[6] - m[3] * m[8];
	c[4] = m[0] * m[8] - m[2] * m[6];
	c[5] = m[2] * m[3] - m[0] * m[5];
	c[6] = m[3] * m[7] - m[4] * m[6];
	c[7] = m[1] * m[6] - m[0] * m[7];
	c[8] = m[0] * m[4] - m[1] * m[3];
	double det = m[0] * c[0] + m[1] * c[3] + m[2] * c[6];
	double scale = 0;
	for (int k = 0; k < 9; k++)
		scale = fmax(scale, fabs(m[k]));
	if (!(fabs(det) > 1e-12 * scale * scale * scale) || !isfinite(det))
		return MLIP_EDATA;
	for (int k = 0; k < 9; k++)
		inv[k] = c[k] / det;
	return MLIP_OK;
}

static int all_finite(const double *x, size_t n, size_t *bad)
{
	for (size_t k = 0; k < n; k++)
		if (!isfinite(x[k])) {
			*bad = k;
			return 0;
		}
	return 1;
}

int mlip_structure_validate(const struct mlip_structure *s, struct mlip_err *err)
{
	size_t bad;
	if (s->natoms == 0)
		return mlip_err_set(err, MLIP_EDATA, "structure has no atoms");
	for (size_t i = 0; i < s->natoms; i++)
		if (!mlip_element_symbol(s->numbers[i]))
			return mlip_err_set(err, MLIP_EDATA, "atom %zu: atomic number %d is not an element",
					    i + 1, (int)s->numbers[i]);
	if (!all_finite(s->positions, 3 * s->natoms, &bad))
		return mlip_err_set(err, MLIP_EDATA, "atom %zu: position is not finite", bad / 3 + 1);
	if (!all_finite(s->cell, 9, &bad))
		return mlip_err_set(err, MLIP_EDATA, "cell is not finite");
	if (mlip_structure_n_periodic(s) > 0) {
		/* Each periodic axis needs a non-degenerate vector; all three together
		 * must span space for fractional coordinates to exist. */
		double inv[9];
		if (mlip_mat3_inverse(inv, s->cell))
			return mlip_err_set(err, MLIP_EDATA,
					    "cell is singular (volume %g Å³) but the structure is periodic",
					    mlip_cell_volume(s->cell));
	}
	if ((s->has & MLIP_HAS_ENERGY) && !isfinite(s->energy))
		return mlip_err_set(err, MLIP_EDATA, "energy is not finite");
	if ((s->has & MLIP_HAS_FORCES) && !all_finite(s->forces, 3 * s->natoms, &bad))
		return mlip_err_set(err, MLIP_EDATA, "atom %zu: force is not finite", bad / 3 + 1);
	if ((s->has & MLIP_HAS_STRESS) && !all_finite(s->stress, 9, &bad))
		return mlip_err_set(err, MLIP_EDATA, "stress component %zu is not finite", bad + 1);
	return MLIP_OK;
}

void mlip_structure_list_init(struct mlip_structure_list *l)
{
	memset(l, 0, sizeof(*l));
}

void mlip_structure_list_release(struct mlip_structure_list *l)
{
	for (size_t k = 0; k < l->n; k++)
		mlip_structure_release(&l->items[k]);
	free(l->items);
	mlip_structure_list_init(l);
}

int mlip_structure_list_take(struct mlip_structure_list *l, struct mlip_structure *s,
			     struct mlip_err *err)
{
	if (l->n == l->alloc) {
		size_t alloc = l->alloc ? 2 * l->alloc : 16;
		struct mlip_structure *items = realloc(l->items, alloc * sizeof(*items));
		if (!items)
			return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
		l->items = items;
		l->alloc = alloc;
	}
	l->items[l->n++] = *s;
	mlip_structure_init(s);
	return MLIP_OK;
}
