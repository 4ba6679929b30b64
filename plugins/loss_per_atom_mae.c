/*
 * loss_per_atom_mae.c - the "per_atom_mae" loss: l = |p - t| / n_b per
 * component, n_b the atom count of the row's system.
 *
 * Meant for system energies (d = 1), where one entry is one system; for
 * d > 1 each component is an entry, as for mae. A row with n_b = 0 is a bug
 * in the caller and is refused.
 */
#include <math.h>

#include "mlip_plugin.h"

static int pam_create(void **state, const char *params, const struct mlip_host_api *host, char *err)
{
	*state = NULL;
	return mlip_plugin_params_none(params, err) ? 1 : 0;
}

static void pam_destroy(void *state)
{
}

static int pam_eval(void *state, double *loss, const struct mlip_loss_input *in, char *err)
{
	if (mlip_loss_check_natoms(in, err))
		return 1;
	for (size_t i = 0; i < in->n; i++) {
		int valid = !in->mask || in->mask[i];
		for (size_t k = 0; k < in->d; k++) {
			size_t j = i * in->d + k;
			loss[j] = valid ? fabs(in->pred[j] - in->target[j]) / (double)in->natoms[i] : 0.0;
		}
	}
	return 0;
}

static int pam_grad(void *state, double *dpred, const struct mlip_loss_input *in, char *err)
{
	if (mlip_loss_check_natoms(in, err))
		return 1;
	for (size_t i = 0; i < in->n; i++) {
		int valid = !in->mask || in->mask[i];
		for (size_t k = 0; k < in->d; k++) {
			size_t j = i * in->d + k;
			double x = in->pred[j] - in->target[j];
			dpred[j] = valid ? ((x > 0) - (x < 0)) / (double)in->natoms[i] : 0.0;
		}
	}
	return 0;
}

static const struct mlip_plugin_ops pam_ops = {
	.ops_size = sizeof(struct mlip_plugin_ops),
	.create = pam_create,
	.destroy = pam_destroy,
	.eval = pam_eval,
	.grad = pam_grad,
};

static const struct mlip_plugin pam_plugin = {
	.abi = MLIP_PLUGIN_ABI,
	.struct_size = sizeof(struct mlip_plugin),
	.kind = "loss",
	.name = "per_atom_mae",
	.version = "1.0.0",
	.description = "per-atom absolute error, |p - t| / n_atoms (system energies)",
	.ops = &pam_ops,
	.flags = 0,
};

MLIP_PLUGIN_EXPORT const struct mlip_plugin *mlip_plugin_entry(void)
{
	return &pam_plugin;
}
