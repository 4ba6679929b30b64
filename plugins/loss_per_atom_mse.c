/*
 * loss_per_atom_mse.c - the "per_atom_mse" loss: l = ((p - t) / n_b)^2 per
 * component, n_b the atom count of the row's system.
 *
 * Meant for system energies (d = 1), where one entry is one system.
 */
#include "mlip_plugin.h"

static int pas_create(void **state, const char *params, const struct mlip_host_api *host, char *err)
{
	*state = NULL;
	return mlip_plugin_params_none(params, err) ? 1 : 0;
}

static void pas_destroy(void *state)
{
}

static int pas_eval(void *state, double *loss, const struct mlip_loss_input *in, char *err)
{
	if (mlip_loss_check_natoms(in, err))
		return 1;
	for (size_t i = 0; i < in->n; i++) {
		int valid = !in->mask || in->mask[i];
		for (size_t k = 0; k < in->d; k++) {
			size_t j = i * in->d + k;
			double x = (in->pred[j] - in->target[j]) / (double)in->natoms[i];
			loss[j] = valid ? x * x : 0.0;
		}
	}
	return 0;
}

static int pas_grad(void *state, double *dpred, const struct mlip_loss_input *in, char *err)
{
	if (mlip_loss_check_natoms(in, err))
		return 1;
	for (size_t i = 0; i < in->n; i++) {
		int valid = !in->mask || in->mask[i];
		double n = (double)in->natoms[i];
		for (size_t k = 0; k < in->d; k++) {
			size_t j = i * in->d + k;
			dpred[j] = valid ? 2.0 * (in->pred[j] - in->target[j]) / (n * n) : 0.0;
		}
	}
	return 0;
}

static const struct mlip_plugin_ops pas_ops = {
	.ops_size = sizeof(struct mlip_plugin_ops),
	.create = pas_create,
	.destroy = pas_destroy,
	.eval = pas_eval,
	.grad = pas_grad,
};

static const struct mlip_plugin pas_plugin = {
	.abi = MLIP_PLUGIN_ABI,
	.struct_size = sizeof(struct mlip_plugin),
	.kind = "loss",
	.name = "per_atom_mse",
	.version = "1.0.0",
	.description = "per-atom squared error, ((p - t) / n_atoms)^2 (system energies)",
	.ops = &pas_ops,
	.flags = 0,
};

MLIP_PLUGIN_EXPORT const struct mlip_plugin *mlip_plugin_entry(void)
{
	return &pas_plugin;
}
