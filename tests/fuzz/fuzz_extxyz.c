/*
 * fuzz_extxyz.c - libFuzzer target: the extended XYZ reader, frame by frame
 * as mlip-collate reads a file. Bad input must give MLIP_EDATA and nothing else.
 */
#include "fuzz.h"
#include "extxyz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_read_list(data, size, "extxyz", "fuzz.xyz", mlip_extxyz_read);
}
