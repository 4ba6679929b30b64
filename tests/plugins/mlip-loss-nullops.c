/* A loss without the required eval op. */
#include "stub.h"

static const struct mlip_plugin_ops ops = {
	.ops_size = sizeof(struct mlip_plugin_ops),
	.create = stub_create,
	.destroy = stub_destroy,
	.eval = NULL,
};

static const struct mlip_plugin rec = {
	.abi = MLIP_PLUGIN_ABI,
	.struct_size = sizeof(struct mlip_plugin),
	.kind = "loss",
	.name = "nullops",
	.version = "0",
	.description = "test: NULL eval",
	.ops = &ops,
};

MLIP_PLUGIN_EXPORT const struct mlip_plugin *mlip_plugin_entry(void)
{
	return &rec;
}
