/*
 * loss.c - host side of loss plugins: batch checks, the call into the
 * plugin, and the mean / sum / per_structure reductions with their exact
 * gradients (loss.h states the definitions).
 *
 * The host never trusts a plugin's values for masked rows: they are skipped
 * in every sum and get no gradient, so a plugin that writes junk there (or
 * reads an absent NaN target) cannot leak it into training.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "loss.h"
#include "banned.h"

static const char *const reduction_names[] = { "mean", "sum", "per_structure" };

int mlip_reduction_parse(const char *s, enum mlip_reduction *out, struct mlip_err *err)
{
	for (int r = 0; r < 3; r++)
		if (s && !strcmp(s, reduction_names[r])) {
			*out = (enum mlip_reduction)r;
			return MLIP_OK;
		}
	return mlip_err_set(err, MLIP_EINVAL,
			    "unknown loss reduction '%s' (expected mean, sum or per_structure)",
			    s ? s : "(null)");
}

const char *mlip_reduction_name(enum mlip_reduction r)
{
	return (unsigned)r < 3 ? reduction_names[r] : "unknown";
}

int mlip_loss_init(struct mlip_loss *loss, struct mlip_plugins *reg, const char *name,
		   const char *params, double coefficient, enum mlip_reduction reduction,
		   struct mlip_err *err)
{
	char perr[MLIP_PLUGIN_ERR_MAX] = { 0 };
	int rc;
	memset(loss, 0, sizeof(*loss));
	if (!isfinite(coefficient))
		return mlip_err_set(err, MLIP_EINVAL, "loss '%s': coefficient must be finite", name);
	if ((unsigned)reduction > MLIP_REDUCE_PER_STRUCTURE)
		return mlip_err_set(err, MLIP_EINVAL, "loss '%s': bad reduction %d", name, (int)reduction);
	if ((rc = mlip_plugins_find(reg, "loss", name, &loss->plugin, err)))
		return rc;
	if (loss->plugin->ops->create(&loss->state, params, mlip_plugin_host(), perr)) {
		rc = mlip_plugin_fail(loss->plugin, "create", perr, err);
		loss->plugin = NULL;
		loss->state = NULL;
		return rc;
	}
	loss->coefficient = coefficient;
	loss->reduction = reduction;
	return MLIP_OK;
}

void mlip_loss_release(struct mlip_loss *loss)
{
	if (loss->plugin)
		loss->plugin->ops->destroy(loss->state);
	loss->plugin = NULL;
	loss->state = NULL;
}

size_t mlip_loss_entries_per_row(const struct mlip_loss *loss, size_t width)
{
	return loss->plugin->flags & MLIP_LOSS_PER_ROW ? 1 : width;
}

static int row_valid(const struct mlip_loss_batch *b, size_t i)
{
	return !b->mask || b->mask[i];
}

static int check_batch(const struct mlip_loss *loss, const struct mlip_loss_batch *b,
		       struct mlip_err *err)
{
	const char *name = loss->plugin ? loss->plugin->name : "(released)";
	if (!loss->plugin)
		return mlip_err_set(err, MLIP_EINVAL, "loss used after release");
	if (b->width == 0)
		return mlip_err_set(err, MLIP_EINVAL, "loss '%s': rows of width 0", name);
	if (b->n_rows && (!b->pred || !b->target))
		return mlip_err_set(err, MLIP_EINVAL, "loss '%s': no predictions or targets", name);
	if (!b->system) {
		if (b->n_rows != b->n_systems)
			return mlip_err_set(err, MLIP_EINVAL,
					    "loss '%s': %zu system-level rows for %zu systems", name,
					    b->n_rows, b->n_systems);
	} else {
		for (size_t i = 0; i < b->n_rows; i++)
			if (b->system[i] >= b->n_systems)
				return mlip_err_set(err, MLIP_EINVAL,
						    "loss '%s': row %zu belongs to system %zu of %zu",
						    name, i, b->system[i], b->n_systems);
	}
	if (loss->reduction == MLIP_REDUCE_PER_STRUCTURE && !b->system && b->n_rows && !b->natoms)
		return mlip_err_set(err, MLIP_EINVAL,
				    "loss '%s': per_structure needs the atom count of every system", name);
	return MLIP_OK;
}

/* Valid atoms a_s per system (see loss.h); counts is (n_systems), zeroed here. */
static void valid_atoms(const struct mlip_loss_batch *b, size_t *counts)
{
	memset(counts, 0, b->n_systems * sizeof(*counts));
	for (size_t i = 0; i < b->n_rows; i++) {
		if (!row_valid(b, i))
			continue;
		if (b->system)
			counts[b->system[i]]++;
		else
			counts[i] = b->natoms[i];
	}
}

int mlip_loss_count(const struct mlip_loss *loss, const struct mlip_loss_batch *b, size_t *count,
		    struct mlip_err *err)
{
	int rc;
	*count = 0;
	if ((rc = check_batch(loss, b, err)))
		return rc;
	if (loss->reduction != MLIP_REDUCE_PER_STRUCTURE) {
		size_t rows = 0;
		for (size_t i = 0; i < b->n_rows; i++)
			rows += row_valid(b, i) != 0;
		*count = rows * mlip_loss_entries_per_row(loss, b->width);
		return MLIP_OK;
	}
	if (b->n_systems == 0)
		return MLIP_OK;
	size_t *a = malloc(b->n_systems * sizeof(*a));
	if (!a)
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory counting structures");
	valid_atoms(b, a);
	for (size_t s = 0; s < b->n_systems; s++)
		*count += a[s] > 0;
	free(a);
	return MLIP_OK;
}

int mlip_loss_entries(const struct mlip_loss *loss, const struct mlip_loss_batch *b, double *ell,
		      double *dell, struct mlip_err *err)
{
	char perr[MLIP_PLUGIN_ERR_MAX] = { 0 };
	size_t *row_natoms = NULL;
	int rc;
	if ((rc = check_batch(loss, b, err)))
		return rc;
	if (dell && !loss->plugin->ops->grad)
		return mlip_err_set(err, MLIP_EPLUGIN,
				    "loss plugin '%s' has no gradient, so it cannot be trained on",
				    loss->plugin->name);
	if (b->n_rows == 0)
		return MLIP_OK;
	struct mlip_loss_input in = {
		.n = b->n_rows,
		.d = b->width,
		.pred = b->pred,
		.target = b->target,
		.mask = b->mask,
		.natoms = NULL,
	};
	if (b->natoms && !b->system) {
		in.natoms = b->natoms;
	} else if (b->natoms) {
		if (!(row_natoms = malloc(b->n_rows * sizeof(*row_natoms))))
			return mlip_err_set(err, MLIP_ENOMEM, "out of memory for loss '%s'", loss->plugin->name);
		for (size_t i = 0; i < b->n_rows; i++)
			row_natoms[i] = b->natoms[b->system[i]];
		in.natoms = row_natoms;
	}
	if (loss->plugin->ops->eval(loss->state, ell, &in, perr))
		rc = mlip_plugin_fail(loss->plugin, "eval", perr, err);
	else if (dell && loss->plugin->ops->grad(loss->state, dell, &in, perr))
		rc = mlip_plugin_fail(loss->plugin, "grad", perr, err);
	free(row_natoms);
	return rc;
}

int mlip_loss_forward(const struct mlip_loss *loss, const struct mlip_loss_batch *b,
		      size_t global_count, double *out, double *dpred, struct mlip_err *err)
{
	double *ell = NULL, *dell = NULL;
	size_t *a = NULL;
	int rc;
	*out = 0;
	if ((rc = check_batch(loss, b, err)))
		return rc;
	size_t n = b->n_rows, d = b->width, epr = mlip_loss_entries_per_row(loss, d);
	if (n == 0)
		return MLIP_OK;
	ell = malloc(n * epr * sizeof(*ell));
	if (dpred)
		dell = malloc(n * d * sizeof(*dell));
	if (loss->reduction == MLIP_REDUCE_PER_STRUCTURE)
		a = malloc((b->n_systems ? b->n_systems : 1) * sizeof(*a));
	if (!ell || (dpred && !dell) || (loss->reduction == MLIP_REDUCE_PER_STRUCTURE && !a)) {
		rc = mlip_err_set(err, MLIP_ENOMEM, "out of memory for loss '%s'", loss->plugin->name);
		goto done;
	}
	if ((rc = mlip_loss_entries(loss, b, ell, dell, err)))
		goto done;

	double denom = global_count > 0 ? (double)global_count : 1.0;
	double c = loss->coefficient, total = 0;
	if (loss->reduction == MLIP_REDUCE_PER_STRUCTURE)
		valid_atoms(b, a);
	for (size_t i = 0; i < n; i++) {
		if (!row_valid(b, i))
			continue;
		double scale = c;   /* d out / d l for this row's entries */
		if (loss->reduction == MLIP_REDUCE_MEAN) {
			scale = c / denom;
		} else if (loss->reduction == MLIP_REDUCE_PER_STRUCTURE) {
			size_t as = a[b->system ? b->system[i] : i];
			if (as == 0)    /* a valid system-level row of a system with no atoms */
				continue;
			scale = c / (denom * (double)as);
		}
		double row = 0;
		for (size_t k = 0; k < epr; k++)
			row += ell[i * epr + k];
		total += scale * row;
		if (dpred)
			for (size_t k = 0; k < d; k++)
				dpred[i * d + k] += scale * dell[i * d + k];
	}
	*out = total;
done:
	free(ell);
	free(dell);
	free(a);
	return rc;
}
