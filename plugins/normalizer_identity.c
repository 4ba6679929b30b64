/*
 * normalizer_identity.c - the "identity" normalizer: norm and denorm copy
 * their input. No parameters, nothing to fit, no state to save.
 */
#include "mlip_plugin.h"

static int id_create(void **state, const char *params, const struct mlip_host_api *host, char *err)
{
	*state = NULL;
	return mlip_plugin_params_none(params, err) ? 1 : 0;
}

static void id_destroy(void *state)
{
}

static int id_copy(void *state, double *out, const double *in, size_t n, char *err)
{
	if (out != in)
		memmove(out, in, n * sizeof(*out));
	return 0;
}

static const struct mlip_plugin_ops id_ops = {
	.ops_size = sizeof(struct mlip_plugin_ops),
	.create = id_create,
	.destroy = id_destroy,
	.norm = id_copy,
	.denorm = id_copy,
};

static const struct mlip_plugin id_plugin = {
	.abi = MLIP_PLUGIN_ABI,
	.struct_size = sizeof(struct mlip_plugin),
	.kind = "normalizer",
	.name = "identity",
	.version = "1.0.0",
	.description = "no normalization: norm(t) = t",
	.ops = &id_ops,
	.flags = 0,
};

MLIP_PLUGIN_EXPORT const struct mlip_plugin *mlip_plugin_entry(void)
{
	return &id_plugin;
}
