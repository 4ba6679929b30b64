/*
 * fuzz_config.c - libFuzzer target: a training config through
 * mlip_config_load_string (YAML parsing, the tree, the typed checks), as
 * mlip-train reads its -c file before any training. A config that is not
 * valid is a configuration error: MLIP_EINVAL and nothing else.
 */
#include "fuzz.h"
#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mlip_config cfg;
	struct mlip_err err = { 0 };
	mlip_config_init(&cfg);
	int rc = mlip_config_load_string((const char *)data, size, "fuzz.yaml", NULL, 0, &cfg, &err);
	fuzz_expect("config", rc, &err, MLIP_EINVAL, MLIP_EINVAL);
	mlip_config_release(&cfg);
	return 0;
}
