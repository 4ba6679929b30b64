/* Forgot MLIP_PLUGIN_EXPORT: with -fvisibility=hidden nothing is exported. */
#include "stub.h"

static const struct mlip_plugin rec = {
	.abi = MLIP_PLUGIN_ABI,
	.struct_size = sizeof(struct mlip_plugin),
	.kind = "loss",
	.name = "nosym",
	.version = "0",
	.description = "test: entry point not exported",
	.ops = &stub_ops,
};

const struct mlip_plugin *mlip_plugin_entry(void)
{
	return &rec;
}
