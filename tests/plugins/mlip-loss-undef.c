/* Needs a symbol nothing defines: dlopen(RTLD_NOW) must fail, not a later call. */
#include "stub.h"

extern int mlip_test_no_such_symbol(void);

static int undef_create(void **state, const char *params, const struct mlip_host_api *host, char *err)
{
	*state = NULL;
	return mlip_test_no_such_symbol();
}

static const struct mlip_plugin_ops ops = {
	.ops_size = sizeof(struct mlip_plugin_ops),
	.create = undef_create,
	.destroy = stub_destroy,
	.eval = stub_eval,
};

static const struct mlip_plugin rec = {
	.abi = MLIP_PLUGIN_ABI,
	.struct_size = sizeof(struct mlip_plugin),
	.kind = "loss",
	.name = "undef",
	.version = "0",
	.description = "test: unresolved symbol",
	.ops = &ops,
};

MLIP_PLUGIN_EXPORT const struct mlip_plugin *mlip_plugin_entry(void)
{
	return &rec;
}
