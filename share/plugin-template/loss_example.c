/*
 * loss_example.c - a template loss plugin for mlip: the "example" loss,
 * a smooth log-cosh loss with parameter `scale` (s > 0, default 1):
 *
 *     l = s^2 log cosh((p - t) / s)      per component,
 *     dl/dp = s tanh((p - t) / s),
 *
 * which is (p - t)^2 / 2 for small errors and s |p - t| for large ones.
 *
 * Build (one line; point -I at the directory holding mlip_plugin.h, which is
 * plugins/ in the mlip source tree):
 *
 *   cc -std=c11 -O2 -Wall -fPIC -shared -fvisibility=hidden -I../../plugins -o mlip-loss-example.so loss_example.c -lm
 *
 * The file name matters: a loss named "example" is found as
 * mlip-loss-example.so (a name's '_' becomes '-' in the file name) in the
 * --plugin-path directories, then $MLIP_PLUGIN_PATH, then mlip's own plugin
 * directories. Use it in a task config as
 *
 *   loss: {name: example, scale: 0.5}
 *
 * Rules (mlip-plugin(7)): include only mlip_plugin.h, export only
 * mlip_plugin_entry (MLIP_PLUGIN_EXPORT), keep everything else static,
 * never print (use host->log), fail by returning nonzero with a message in
 * err, write 0 for rows whose mask is 0, and never read their target (it
 * may be NaN: "absent").
 */
#include <math.h>

#include "mlip_plugin.h"

struct example {
	double scale;                       /* s */
	const struct mlip_host_api *host;   /* borrowed until destroy */
};

/* Parse {scale: s}; refuse anything else, naming it. */
static int example_create(void **state, const char *params, const struct mlip_host_api *host,
			  char *err)
{
	struct mlip_plugin_param p;
	size_t pos = 0;
	double scale = 1.0;
	int r;
	while ((r = mlip_plugin_params_next(params, &pos, &p, err)) > 0) {
		if (strcmp(p.key, "scale") != 0) {
			snprintf(err, MLIP_PLUGIN_ERR_MAX, "unknown parameter '%s' (known: scale)", p.key);
			return 1;
		}
		if (mlip_plugin_param_double(&p, &scale, err))
			return 1;
		if (!(scale > 0)) {
			snprintf(err, MLIP_PLUGIN_ERR_MAX, "scale must be positive, not %g", scale);
			return 1;
		}
	}
	if (r < 0)
		return 1;
	struct example *e = host->alloc(sizeof(*e));
	if (!e) {
		snprintf(err, MLIP_PLUGIN_ERR_MAX, "out of memory");
		return 1;
	}
	e->scale = scale;
	e->host = host;
	*state = e;
	host->log(MLIP_PLUGIN_LOG_DEBUG, "example loss: scale %g", scale);
	return 0;
}

static void example_destroy(void *state)
{
	struct example *e = state;
	if (e)
		e->host->free(e);
}

/* log cosh x without overflow: |x| + log1p(exp(-2|x|)) - log 2. */
static double log_cosh(double x)
{
	double a = fabs(x);
	return a + log1p(exp(-2 * a)) - log(2.0);
}

static int example_eval(void *state, double *loss, const struct mlip_loss_input *in, char *err)
{
	double s = ((const struct example *)state)->scale;
	(void)err;   /* cannot fail */
	for (size_t i = 0; i < in->n; i++) {
		int valid = !in->mask || in->mask[i];
		for (size_t k = 0; k < in->d; k++) {
			size_t j = i * in->d + k;
			loss[j] = valid ? s * s * log_cosh((in->pred[j] - in->target[j]) / s) : 0.0;
		}
	}
	return 0;
}

static int example_grad(void *state, double *dpred, const struct mlip_loss_input *in, char *err)
{
	double s = ((const struct example *)state)->scale;
	(void)err;   /* cannot fail */
	for (size_t i = 0; i < in->n; i++) {
		int valid = !in->mask || in->mask[i];
		for (size_t k = 0; k < in->d; k++) {
			size_t j = i * in->d + k;
			dpred[j] = valid ? s * tanh((in->pred[j] - in->target[j]) / s) : 0.0;
		}
	}
	return 0;
}

static const struct mlip_plugin_ops example_ops = {
	.ops_size = sizeof(struct mlip_plugin_ops),
	.create = example_create,
	.destroy = example_destroy,
	.eval = example_eval,
	.grad = example_grad,
};

static const struct mlip_plugin example_plugin = {
	.abi = MLIP_PLUGIN_ABI,
	.struct_size = sizeof(struct mlip_plugin),
	.kind = "loss",
	.name = "example",
	.version = "1.0.0",
	.description = "template: log-cosh loss, quadratic below scale and linear above",
	.ops = &example_ops,
	.flags = 0,   /* MLIP_LOSS_PER_ROW for one value per row */
};

MLIP_PLUGIN_EXPORT const struct mlip_plugin *mlip_plugin_entry(void)
{
	return &example_plugin;
}
