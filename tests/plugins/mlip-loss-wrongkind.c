/* Named like a loss but its record says normalizer. */
#include "stub.h"

static const struct mlip_plugin rec = {
	.abi = MLIP_PLUGIN_ABI,
	.struct_size = sizeof(struct mlip_plugin),
	.kind = "normalizer",
	.name = "wrongkind",
	.version = "0",
	.description = "test: kind does not match the file name",
	.ops = &stub_ops,
};

MLIP_PLUGIN_EXPORT const struct mlip_plugin *mlip_plugin_entry(void)
{
	return &rec;
}
