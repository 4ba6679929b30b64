/* Claims a record smaller than ABI 1's (as a truncated header would give). */
#include "stub.h"

static const struct mlip_plugin rec = {
	.abi = MLIP_PLUGIN_ABI,
	.struct_size = 16,
	.kind = "loss",
	.name = "small",
	.version = "0",
	.description = "test: struct_size too small",
	.ops = &stub_ops,
};

MLIP_PLUGIN_EXPORT const struct mlip_plugin *mlip_plugin_entry(void)
{
	return &rec;
}
