/*
 * api.c - the public C API (mlip.h) over the model: a handle holds the
 * model with its weights, the heads' maps to physical units and reusable
 * buffers, so that an MD code's calls allocate nothing after the first.
 *
 * Two entry points:
 *   mlip_compute           a whole structure: it is collated as mlip-collate
 *                          would (the same neighbour list) and evaluated as
 *                          mlip-eval does, so results agree with mlip-eval.
 *   mlip_compute_neighbors an MD code's owned and ghost particles with the
 *                          code's neighbour lists: the model's environment is
 *                          filled directly, contributing particles first (the
 *                          model's centres), ghosts after them as neighbours
 *                          only, so ghosts cost no descriptor and no network.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "mlip.h"
#include "batch.h"
#include "elements.h"
#include "model.h"
#include "modelfile.h"
#include "structure.h"
#include "banned.h"

struct mlip_calculator {
	struct mlip_model *model;
	struct mlip_head_map heads[MLIP_MAX_HEADS];
	size_t head;                 /* the head evaluated */
	struct mlip_structure s;     /* mlip_compute's input, reused */
	struct mlip_batch batch;     /* mlip_compute's batch, reused */
	size_t cap;                  /* entries of new_index / order */
	int32_t *new_index;          /* (n_all) particle -> environment atom */
	size_t *order;               /* (n_all) environment atom -> particle */
	char msg[MLIP_ERR_MSG_MAX];
};

const char *mlip_version(void)
{
	return MLIP_VERSION;
}

int mlip_api_version(void)
{
	return MLIP_API_VERSION;
}

static int fail(mlip_calculator *c, const struct mlip_err *err)
{
	snprintf(c->msg, sizeof(c->msg), "%s", err->msg);
	return err->code;
}

__attribute__((format(printf, 3, 4)))
static int fail_with(mlip_calculator *c, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->msg, sizeof(c->msg), fmt, ap);
	va_end(ap);
	return code;
}

/* Element z of the particle or atom at index i (from 0) is not one of the model's. */
static int unknown_element(mlip_calculator *c, const char *what, size_t i, int z)
{
	const struct mlip_model_config *mc = &c->model->config;
	char list[160] = "";
	size_t used = 0;
	for (size_t k = 0; k < mc->n_elements; k++) {
		int w = snprintf(list + used, sizeof(list) - used, "%s%s", k ? ", " : "",
				 mlip_element_symbol(mc->elements[k]));
		if (w > 0 && used + (size_t)w < sizeof(list))
			used += (size_t)w;
	}
	const char *sym = z >= 1 && z <= MLIP_MAX_Z ? mlip_element_symbol(z) : NULL;
	if (!sym)
		return fail_with(c, MLIP_EDATA, "%s index %zu: atomic number %d is not an element "
				 "(the model's elements: %s)", what, i, z, list);
	return fail_with(c, MLIP_EDATA, "%s index %zu: element '%s' (Z = %d) is not in the model "
			 "(its elements: %s)", what, i, sym, z, list);
}

int mlip_open(const char *path, mlip_calculator **out, char *msg, size_t msg_size)
{
	struct mlip_err err;
	mlip_err_clear(&err);
	if (out)
		*out = NULL;
	if (!path || !out) {
		if (msg && msg_size)
			snprintf(msg, msg_size, "mlip_open: %s is NULL", path ? "out" : "path");
		return MLIP_EINVAL;
	}
	mlip_calculator *c = calloc(1, sizeof(*c));
	if (!c) {
		if (msg && msg_size)
			snprintf(msg, msg_size, "out of memory");
		return MLIP_ENOMEM;
	}
	mlip_structure_init(&c->s);
	mlip_batch_init(&c->batch);
	int rc = mlip_modelfile_load(path, &c->model, c->heads, &err);
	if (rc) {
		if (msg && msg_size)
			snprintf(msg, msg_size, "%s", err.msg);
		mlip_close(c);
		return rc;
	}
	*out = c;
	return MLIP_OK;
}

void mlip_close(mlip_calculator *c)
{
	if (!c)
		return;
	if (c->model)
		mlip_model_free(c->model);
	mlip_structure_release(&c->s);
	mlip_batch_release(&c->batch);
	free(c->new_index);
	free(c->order);
	free(c);
}

const char *mlip_errmsg(const mlip_calculator *c)
{
	return c ? c->msg : "no handle (mlip_open failed?)";
}

double mlip_cutoff(const mlip_calculator *c)
{
	return c->model->config.cutoff;
}

int mlip_n_elements(const mlip_calculator *c)
{
	return (int)c->model->config.n_elements;
}

int mlip_element(const mlip_calculator *c, int k)
{
	if (k < 0 || (size_t)k >= c->model->config.n_elements)
		return 0;
	return c->model->config.elements[k];
}

const char *mlip_symbol(int z)
{
	return z >= 1 && z <= MLIP_MAX_Z ? mlip_element_symbol(z) : NULL;
}

int mlip_n_heads(const mlip_calculator *c)
{
	return (int)c->model->config.n_heads;
}

const char *mlip_head_name(const mlip_calculator *c, int k)
{
	if (k < 0 || (size_t)k >= c->model->config.n_heads)
		return NULL;
	return c->heads[k].name;
}

int mlip_set_head(mlip_calculator *c, const char *name)
{
	char list[256] = "";
	size_t used = 0;
	for (size_t h = 0; h < c->model->config.n_heads; h++) {
		if (name && !strcmp(name, c->heads[h].name)) {
			c->head = h;
			c->msg[0] = 0;
			return MLIP_OK;
		}
		int w = snprintf(list + used, sizeof(list) - used, "%s%s", h ? ", " : "", c->heads[h].name);
		if (w > 0 && used + (size_t)w < sizeof(list))
			used += (size_t)w;
	}
	return fail_with(c, MLIP_EINVAL, "the model has no head '%s' (heads: %s)", name ? name : "(null)",
			 list);
}

int mlip_set_threads(mlip_calculator *c, int n)
{
	if (n < 0)
		return fail_with(c, MLIP_EINVAL, "threads must be 0 (the default) or more, not %d", n);
	c->model->desc.n_threads = n;
	/* the network's matrix products: OpenBLAS's thread count is the process's */
	if (n > 0)
		openblas_set_num_threads(n);
	return MLIP_OK;
}

double mlip_energy_shift(const mlip_calculator *c)
{
	return c->heads[c->head].shift;
}

/* −Σ_e r_e ⊗ g_e of the environment's edges, times scale: the virial (eV). */
static void edge_virial(double *virial, const struct mlip_env *env, const double *g, double scale)
{
	double w[9] = { 0 };
	for (size_t e = 0; e < env->n_edges; e++) {
		const double *r = env->r + 3 * e, *ge = g + 3 * e;
		for (int a = 0; a < 3; a++)
			for (int b = 0; b < 3; b++)
				w[3 * a + b] += r[a] * ge[b];
	}
	for (int k = 0; k < 9; k++)
		virial[k] = -scale * w[k];
}

int mlip_compute(mlip_calculator *c, size_t n, const int *numbers, const double *positions,
		 const double *cell, const int *pbc, double *energy, double *forces,
		 double *stress, double *virial, double *atomic_energies)
{
	struct mlip_err err;
	struct mlip_model_out out;
	const struct mlip_head_map *hm = &c->heads[c->head];
	int rc;
	mlip_err_clear(&err);
	c->msg[0] = 0;
	if (n == 0 || !numbers || !positions || !pbc)
		return fail_with(c, MLIP_EINVAL, "mlip_compute: %s", n == 0 ? "no atoms"
				 : "numbers, positions and pbc must not be NULL");
	int periodic = 0;
	for (int k = 0; k < 3; k++) {
		if (pbc[k] != 0 && pbc[k] != 1)
			return fail_with(c, MLIP_EINVAL, "mlip_compute: pbc[%d] is %d, not 0 or 1", k, pbc[k]);
		periodic |= pbc[k];
	}
	if (periodic && !cell)
		return fail_with(c, MLIP_EINVAL, "mlip_compute: a periodic structure needs a cell");
	const struct mlip_descriptor *d = &c->model->desc;
	for (size_t i = 0; i < n; i++)
		if (numbers[i] < 1 || numbers[i] > MLIP_MAX_Z || d->species[numbers[i]] < 0)
			return unknown_element(c, "atom", i, numbers[i]);
	struct mlip_structure *s = &c->s;
	if (s->natoms != n && (rc = mlip_structure_alloc(s, n, &err)))
		return fail(c, &err);
	for (size_t i = 0; i < n; i++)
		s->numbers[i] = numbers[i];
	memcpy(s->positions, positions, 3 * n * sizeof(double));
	for (int k = 0; k < 9; k++)
		s->cell[k] = cell ? cell[k] : 0;
	for (int k = 0; k < 3; k++)
		s->pbc[k] = (uint8_t)pbc[k];
	s->has = 0;
	const struct mlip_structure *list[1] = { s };
	if ((rc = mlip_batch_collate(&c->batch, list, 1, c->model->config.cutoff, 0, NULL, &err))) {
		/* the collate messages speak of "structure 1" and number atoms from 1 */
		const char *m = err.msg, *p = "structure 1: ";
		if (!strncmp(m, p, strlen(p)))
			m += strlen(p);
		return fail_with(c, rc, "%s%s", m, strstr(m, "atom") ? " (atoms numbered from 1)" : "");
	}
	unsigned flags = MLIP_MODEL_ATOMIC;
	if (forces || virial || stress)
		flags |= MLIP_MODEL_FORCES | MLIP_MODEL_STRESS;
	if ((rc = mlip_model_forward(c->model, &c->batch, flags, &out, &err)))
		return fail(c, &err);
	size_t H = out.n_heads, h = c->head;
	/* as mlip_tasks_physical: scale·raw + shift + references, summed in atom order */
	double ref = 0;
	if (hm->has_elref)
		for (size_t i = 0; i < n; i++)
			ref += hm->elref[numbers[i]];
	if (energy)
		*energy = hm->scale * out.energy[h] + hm->shift + ref;
	if (forces)
		for (size_t k = 0; k < 3 * n; k++)
			forces[k] = hm->scale * out.forces[k * H + h];
	if (stress)
		for (size_t k = 0; k < 9; k++)
			stress[k] = hm->scale * out.stress[k * H + h];
	if (virial) {
		const struct mlip_env *env = mlip_model_env(c->model);
		edge_virial(virial, env, out.edge_grad + 3 * env->n_edges * h, hm->scale);
	}
	if (atomic_energies)
		for (size_t i = 0; i < n; i++)
			atomic_energies[i] = hm->scale * out.atomic_energy[i * H + h] +
					     (hm->has_elref ? hm->elref[numbers[i]] : 0);
	return MLIP_OK;
}

static int reserve_maps(mlip_calculator *c, size_t n)
{
	if (n <= c->cap)
		return 0;
	int32_t *ni = realloc(c->new_index, n * sizeof(*ni));
	if (ni)
		c->new_index = ni;
	size_t *ord = realloc(c->order, n * sizeof(*ord));
	if (ord)
		c->order = ord;
	if (!ni || !ord)
		return -1;
	c->cap = n;
	return 0;
}

int mlip_compute_neighbors(mlip_calculator *c, size_t n_all, const int *numbers,
			   const double *positions, const int *contributing,
			   const int *const *neighbors, const int *n_neighbors, double *energy,
			   double *forces, double *virial, double *atomic_energies,
			   double *atomic_virials)
{
	struct mlip_err err;
	struct mlip_model_out out;
	const struct mlip_head_map *hm = &c->heads[c->head];
	const struct mlip_descriptor *d = &c->model->desc;
	int rc;
	mlip_err_clear(&err);
	c->msg[0] = 0;
	if (!numbers || !positions || !contributing || !neighbors || !n_neighbors)
		return fail_with(c, MLIP_EINVAL, "mlip_compute_neighbors: numbers, positions, "
				 "contributing, neighbors and n_neighbors must not be NULL");
	if (n_all > INT32_MAX)
		return fail_with(c, MLIP_EINVAL, "mlip_compute_neighbors: %zu particles is too many", n_all);
	if (reserve_maps(c, n_all))
		return fail_with(c, MLIP_ENOMEM, "out of memory for %zu particles", n_all);
	/* contributing particles first, in their order: the model's centres */
	size_t n_c = 0, max_edges = 0;
	for (size_t i = 0; i < n_all; i++)
		if (contributing[i]) {
			if (n_neighbors[i] < 0 || (n_neighbors[i] > 0 && !neighbors[i]))
				return fail_with(c, MLIP_EINVAL, "particle index %zu: a neighbour list of %d entries "
						 "at %p", i, n_neighbors[i], (const void *)neighbors[i]);
			c->new_index[i] = (int32_t)n_c;
			c->order[n_c++] = i;
			max_edges += (size_t)n_neighbors[i];
		}
	for (size_t i = 0, g = n_c; i < n_all; i++)
		if (!contributing[i]) {
			c->new_index[i] = (int32_t)g;
			c->order[g++] = i;
		}
	struct mlip_env *env = mlip_model_env(c->model);
	if ((rc = mlip_env_reserve(env, n_all, max_edges, 1, &err)))
		return fail(c, &err);
	env->n_atoms = n_all;
	env->n_centres = n_c;
	env->n_systems = 1;
	env->volume[0] = 0;
	for (size_t k = 0; k < n_all; k++) {
		size_t i = c->order[k];
		int z = numbers[i];
		int sp = z >= 1 && z <= MLIP_MAX_Z ? d->species[z] : -1;
		if (sp < 0)
			return unknown_element(c, "particle", i, z);
		env->species[k] = sp;
		env->system[k] = 0;
	}
	double rc2 = d->cutoff * d->cutoff;
	size_t m = 0, max_nb = 0;
	for (size_t k = 0; k < n_c; k++) {
		size_t i = c->order[k];
		const double *xi = positions + 3 * i;
		env->first[k] = m;
		for (int q = 0; q < n_neighbors[i]; q++) {
			int j = neighbors[i][q];
			if (j < 0 || (size_t)j >= n_all)
				return fail_with(c, MLIP_EDATA, "particle index %zu: neighbour %d is not one of the "
						 "%zu particles", i, j, n_all);
			const double *xj = positions + 3 * (size_t)j;
			double r[3] = { xj[0] - xi[0], xj[1] - xi[1], xj[2] - xi[2] };
			double r2 = r[0] * r[0] + r[1] * r[1] + r[2] * r[2];
			if (!(r2 < rc2) || r2 == 0) { /* beyond the cutoff, itself, or NaN */
				if (isnan(r2))
					return fail_with(c, MLIP_EDATA, "particle index %zu or %d: position is not "
							 "finite", i, j);
				continue;
			}
			env->nbr[m] = c->new_index[j];
			memcpy(env->r + 3 * m, r, sizeof(r));
			m++;
		}
		if (m - env->first[k] > max_nb)
			max_nb = m - env->first[k];
	}
	for (size_t k = n_c; k <= n_all; k++)
		env->first[k] = m;
	env->n_edges = m;
	env->max_nb = max_nb;
	unsigned flags = MLIP_MODEL_ATOMIC;
	if (forces || virial || atomic_virials)
		flags |= MLIP_MODEL_FORCES;
	if ((rc = mlip_model_forward_env(c->model, flags, &out, &err)))
		return fail(c, &err);
	size_t H = out.n_heads, h = c->head;
	double scale = hm->scale;
	if (energy) {
		double ref = 0;
		if (hm->has_elref)
			for (size_t k = 0; k < n_c; k++)
				ref += hm->elref[numbers[c->order[k]]];
		*energy = scale * out.energy[h] + ref;
	}
	if (forces)
		for (size_t i = 0; i < n_all; i++)
			for (int x = 0; x < 3; x++)
				forces[3 * i + x] = scale * out.forces[(3 * (size_t)c->new_index[i] + x) * H + h];
	if (atomic_energies)
		for (size_t i = 0; i < n_all; i++)
			atomic_energies[i] = contributing[i]
				? scale * out.atomic_energy[(size_t)c->new_index[i] * H + h] +
					  (hm->has_elref ? hm->elref[numbers[i]] : 0)
				: 0;
	const double *g = out.edge_grad ? out.edge_grad + 3 * env->n_edges * h : NULL;
	if (virial)
		edge_virial(virial, env, g, scale);
	if (atomic_virials) {
		memset(atomic_virials, 0, 9 * n_all * sizeof(double));
		for (size_t k = 0; k < n_c; k++) {
			size_t i = c->order[k];
			for (size_t e = env->first[k]; e < env->first[k + 1]; e++) {
				size_t j = c->order[env->nbr[e]];
				const double *r = env->r + 3 * e, *ge = g + 3 * e;
				for (int a = 0; a < 3; a++)
					for (int b = 0; b < 3; b++) {
						double half = -0.5 * scale * r[a] * ge[b];
						atomic_virials[9 * i + 3 * a + b] += half;
						atomic_virials[9 * j + 3 * a + b] += half;
					}
			}
		}
	}
	return MLIP_OK;
}
