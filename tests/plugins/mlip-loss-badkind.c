/* A kind the host does not know. */
#include "stub.h"

static const struct mlip_plugin rec = {
	.abi = MLIP_PLUGIN_ABI,
	.struct_size = sizeof(struct mlip_plugin),
	.kind = "metric",
	.name = "badkind",
	.version = "0",
	.description = "test: unknown kind",
	.ops = &stub_ops,
};

MLIP_PLUGIN_EXPORT const struct mlip_plugin *mlip_plugin_entry(void)
{
	return &rec;
}
