/*
 * A second "mae" loss, for the search-order test: it computes 2|p - t|
 * and says version "shadow", so a test can tell which copy was loaded.
 */
#include <math.h>

#include "../stub.h"

static int shadow_eval(void *state, double *loss, const struct mlip_loss_input *in, char *err)
{
	for (size_t i = 0; i < in->n * in->d; i++)
		loss[i] = 2 * fabs(in->pred[i] - in->target[i]);
	return 0;
}

static const struct mlip_plugin_ops ops = {
	.ops_size = sizeof(struct mlip_plugin_ops),
	.create = stub_create,
	.destroy = stub_destroy,
	.eval = shadow_eval,
};

static const struct mlip_plugin rec = {
	.abi = MLIP_PLUGIN_ABI,
	.struct_size = sizeof(struct mlip_plugin),
	.kind = "loss",
	.name = "mae",
	.version = "shadow",
	.description = "test: shadows the real mae",
	.ops = &ops,
};

MLIP_PLUGIN_EXPORT const struct mlip_plugin *mlip_plugin_entry(void)
{
	(void)stub_ops;
	return &rec;
}
