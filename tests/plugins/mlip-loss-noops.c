/* A record without an ops table at all. */
#include "stub.h"

static const struct mlip_plugin rec = {
	.abi = MLIP_PLUGIN_ABI,
	.struct_size = sizeof(struct mlip_plugin),
	.kind = "loss",
	.name = "noops",
	.version = "0",
	.description = "test: NULL ops",
	.ops = NULL,
};

MLIP_PLUGIN_EXPORT const struct mlip_plugin *mlip_plugin_entry(void)
{
	return &rec;
}
