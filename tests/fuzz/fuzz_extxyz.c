/*
 * fuzz_extxyz.c - libFuzzer target: the extended XYZ reader, frame by frame
 * as mlip-collate reads a file. Bad input must give MLIP_EDATA and nothing else.
 */
#include "fuzz.h"
#include "extxyz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mlip_structure_list l;
	struct mlip_err err = { 0 };
	FILE *f = fuzz_stream(data, size);
	if (!f)
		abort();
	mlip_structure_list_init(&l);
	int rc = mlip_extxyz_read(f, "fuzz.xyz", &l, &err);
	fuzz_expect("extxyz", rc, &err, MLIP_EDATA, MLIP_EDATA);
	mlip_structure_list_release(&l);
	fclose(f);
	return 0;
}
