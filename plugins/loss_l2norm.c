/*
 * loss_l2norm.c - the "l2norm" loss: l = ||p - t||_2 per row (for forces:
 * one value per atom), MLIP_LOSS_PER_ROW.
 *
 * One entry per row, so the host's mean divides by the number of valid
 * rows. The gradient (p - t) / ||p - t|| is undefined at p = t; it is 0
 * there (a subgradient), so that a perfectly fitted atom pushes nothing.
 */
#include <math.h>

#include "mlip_plugin.h"

static int l2_create(void **state, const char *params, const struct mlip_host_api *host, char *err)
{
	*state = NULL;
	return mlip_plugin_params_none(params, err) ? 1 : 0;
}

static void l2_destroy(void *state)
{
}

/* ||p - t|| of row i, scaled to avoid overflow for huge components. */
static double row_norm(const struct mlip_loss_input *in, size_t i)
{
	const double *p = in->pred + i * in->d, *t = in->target + i * in->d;
	double scale = 0, sum = 1;
	for (size_t k = 0; k < in->d; k++) {
		double x = fabs(p[k] - t[k]);
		if (x == 0)
			continue;
		if (x > scale) {
			sum = 1 + sum * (scale / x) * (scale / x);
			scale = x;
		} else {
			sum += (x / scale) * (x / scale);
		}
	}
	return scale * sqrt(sum);
}

static int l2_eval(void *state, double *loss, const struct mlip_loss_input *in, char *err)
{
	for (size_t i = 0; i < in->n; i++)
		loss[i] = !in->mask || in->mask[i] ? row_norm(in, i) : 0.0;
	return 0;
}

static int l2_grad(void *state, double *dpred, const struct mlip_loss_input *in, char *err)
{
	for (size_t i = 0; i < in->n; i++) {
		double r = !in->mask || in->mask[i] ? row_norm(in, i) : 0.0;
		for (size_t k = 0; k < in->d; k++) {
			size_t j = i * in->d + k;
			dpred[j] = r > 0 ? (in->pred[j] - in->target[j]) / r : 0.0;
		}
	}
	return 0;
}

static const struct mlip_plugin_ops l2_ops = {
	.ops_size = sizeof(struct mlip_plugin_ops),
	.create = l2_create,
	.destroy = l2_destroy,
	.eval = l2_eval,
	.grad = l2_grad,
};

static const struct mlip_plugin l2_plugin = {
	.abi = MLIP_PLUGIN_ABI,
	.struct_size = sizeof(struct mlip_plugin),
	.kind = "loss",
	.name = "l2norm",
	.version = "1.0.0",
	.description = "euclidean norm of the error per row, ||p - t||_2 (forces: per atom)",
	.ops = &l2_ops,
	.flags = MLIP_LOSS_PER_ROW,
};

MLIP_PLUGIN_EXPORT const struct mlip_plugin *mlip_plugin_entry(void)
{
	return &l2_plugin;
}
