/* The entry point returns no record. */
#include "stub.h"

MLIP_PLUGIN_EXPORT const struct mlip_plugin *mlip_plugin_entry(void)
{
	(void)stub_ops;
	return NULL;
}
