/*
 * loss_mae.c - the "mae" loss: l = |p - t| per component.
 *
 * One entry per component, so the host's mean divides by (valid rows) x d,
 * as fairchem's mean over the elements of the masked tensor does. The
 * gradient is sign(p - t), with 0 at p = t (the subgradient the optimizer
 * sees there).
 */
#include <math.h>

#include "mlip_plugin.h"

static int mae_create(void **state, const char *params, const struct mlip_host_api *host, char *err)
{
	*state = NULL;
	return mlip_plugin_params_none(params, err) ? 1 : 0;
}

static void mae_destroy(void *state)
{
}

static int mae_eval(void *state, double *loss, const struct mlip_loss_input *in, char *err)
{
	for (size_t i = 0; i < in->n; i++) {
		int valid = !in->mask || in->mask[i];
		for (size_t k = 0; k < in->d; k++) {
			size_t j = i * in->d + k;
			loss[j] = valid ? fabs(in->pred[j] - in->target[j]) : 0.0;
		}
	}
	return 0;
}

static int mae_grad(void *state, double *dpred, const struct mlip_loss_input *in, char *err)
{
	for (size_t i = 0; i < in->n; i++) {
		int valid = !in->mask || in->mask[i];
		for (size_t k = 0; k < in->d; k++) {
			size_t j = i * in->d + k;
			double x = in->pred[j] - in->target[j];
			dpred[j] = valid ? (x > 0) - (x < 0) : 0.0;
		}
	}
	return 0;
}

static const struct mlip_plugin_ops mae_ops = {
	.ops_size = sizeof(struct mlip_plugin_ops),
	.create = mae_create,
	.destroy = mae_destroy,
	.eval = mae_eval,
	.grad = mae_grad,
};

static const struct mlip_plugin mae_plugin = {
	.abi = MLIP_PLUGIN_ABI,
	.struct_size = sizeof(struct mlip_plugin),
	.kind = "loss",
	.name = "mae",
	.version = "1.0.0",
	.description = "mean absolute error, |p - t| per component",
	.ops = &mae_ops,
	.flags = 0,
};

MLIP_PLUGIN_EXPORT const struct mlip_plugin *mlip_plugin_entry(void)
{
	return &mae_plugin;
}
