/* Built against a future ABI: the loader must refuse it naming both versions. */
#include "stub.h"

static const struct mlip_plugin rec = {
	.abi = 999,
	.struct_size = sizeof(struct mlip_plugin),
	.kind = "loss",
	.name = "badabi",
	.version = "0",
	.description = "test: wrong ABI number",
	.ops = &stub_ops,
};

MLIP_PLUGIN_EXPORT const struct mlip_plugin *mlip_plugin_entry(void)
{
	return &rec;
}
