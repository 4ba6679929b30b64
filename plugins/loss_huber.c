/*
 * loss_huber.c - the "huber" loss with parameter delta (default 1.0, as
 * torch.nn.HuberLoss): per component, with x = p - t,
 *   l = x^2 / 2              for |x| <= delta,
 *   l = delta (|x| - delta/2) beyond,
 * so l and dl/dx = clamp(x, -delta, delta) are continuous at |x| = delta.
 * One entry per component.
 */
#include <math.h>

#include "mlip_plugin.h"

struct huber {
	double delta;
	const struct mlip_host_api *host;   /* borrowed until destroy */
};

static int huber_create(void **state, const char *params, const struct mlip_host_api *host, char *err)
{
	struct mlip_plugin_param p;
	size_t pos = 0;
	double delta = 1.0;
	int r;
	while ((r = mlip_plugin_params_next(params, &pos, &p, err)) > 0) {
		if (strcmp(p.key, "delta") != 0) {
			snprintf(err, MLIP_PLUGIN_ERR_MAX, "unknown parameter '%s' (known: delta)", p.key);
			return 1;
		}
		if (mlip_plugin_param_double(&p, &delta, err))
			return 1;
		if (!(delta > 0)) {
			snprintf(err, MLIP_PLUGIN_ERR_MAX, "delta must be positive, not %g", delta);
			return 1;
		}
	}
	if (r < 0)
		return 1;
	struct huber *h = host->alloc(sizeof(*h));
	if (!h) {
		snprintf(err, MLIP_PLUGIN_ERR_MAX, "out of memory");
		return 1;
	}
	h->delta = delta;
	h->host = host;
	*state = h;
	return 0;
}

static void huber_destroy(void *state)
{
	struct huber *h = state;
	if (h)
		h->host->free(h);
}

static int huber_eval(void *state, double *loss, const struct mlip_loss_input *in, char *err)
{
	double delta = ((const struct huber *)state)->delta;
	for (size_t i = 0; i < in->n; i++) {
		int valid = !in->mask || in->mask[i];
		for (size_t k = 0; k < in->d; k++) {
			size_t j = i * in->d + k;
			double a = fabs(in->pred[j] - in->target[j]);
			loss[j] = !valid ? 0.0 : a <= delta ? 0.5 * a * a : delta * (a - 0.5 * delta);
		}
	}
	return 0;
}

static int huber_grad(void *state, double *dpred, const struct mlip_loss_input *in, char *err)
{
	double delta = ((const struct huber *)state)->delta;
	for (size_t i = 0; i < in->n; i++) {
		int valid = !in->mask || in->mask[i];
		for (size_t k = 0; k < in->d; k++) {
			size_t j = i * in->d + k;
			double x = in->pred[j] - in->target[j];
			dpred[j] = !valid ? 0.0 : x > delta ? delta : x < -delta ? -delta : x;
		}
	}
	return 0;
}

static const struct mlip_plugin_ops huber_ops = {
	.ops_size = sizeof(struct mlip_plugin_ops),
	.create = huber_create,
	.destroy = huber_destroy,
	.eval = huber_eval,
	.grad = huber_grad,
};

static const struct mlip_plugin huber_plugin = {
	.abi = MLIP_PLUGIN_ABI,
	.struct_size = sizeof(struct mlip_plugin),
	.kind = "loss",
	.name = "huber",
	.version = "1.0.0",
	.description = "huber loss per component, quadratic within delta and linear beyond",
	.ops = &huber_ops,
	.flags = 0,
};

MLIP_PLUGIN_EXPORT const struct mlip_plugin *mlip_plugin_entry(void)
{
	return &huber_plugin;
}
