/*
 * loss_mse.c - the "mse" loss: l = (p - t)^2 per component.
 *
 * One entry per component (the host's mean divides by valid rows x d).
 */
#include "mlip_plugin.h"

static int mse_create(void **state, const char *params, const struct mlip_host_api *host, char *err)
{
	*state = NULL;
	return mlip_plugin_params_none(params, err) ? 1 : 0;
}

static void mse_destroy(void *state)
{
}

static int mse_eval(void *state, double *loss, const struct mlip_loss_input *in, char *err)
{
	for (size_t i = 0; i < in->n; i++) {
		int valid = !in->mask || in->mask[i];
		for (size_t k = 0; k < in->d; k++) {
			size_t j = i * in->d + k;
			double x = in->pred[j] - in->target[j];
			loss[j] = valid ? x * x : 0.0;
		}
	}
	return 0;
}

static int mse_grad(void *state, double *dpred, const struct mlip_loss_input *in, char *err)
{
	for (size_t i = 0; i < in->n; i++) {
		int valid = !in->mask || in->mask[i];
		for (size_t k = 0; k < in->d; k++) {
			size_t j = i * in->d + k;
			dpred[j] = valid ? 2.0 * (in->pred[j] - in->target[j]) : 0.0;
		}
	}
	return 0;
}

static const struct mlip_plugin_ops mse_ops = {
	.ops_size = sizeof(struct mlip_plugin_ops),
	.create = mse_create,
	.destroy = mse_destroy,
	.eval = mse_eval,
	.grad = mse_grad,
};

static const struct mlip_plugin mse_plugin = {
	.abi = MLIP_PLUGIN_ABI,
	.struct_size = sizeof(struct mlip_plugin),
	.kind = "loss",
	.name = "mse",
	.version = "1.0.0",
	.description = "mean squared error, (p - t)^2 per component",
	.ops = &mse_ops,
	.flags = 0,
};

MLIP_PLUGIN_EXPORT const struct mlip_plugin *mlip_plugin_entry(void)
{
	return &mse_plugin;
}
