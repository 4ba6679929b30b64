/*
 * fuzz_mlearn.c - libFuzzer target: the mlearn JSON reader. Bad input must
 * give MLIP_EDATA and nothing else.
 */
#include "fuzz.h"
#include "mlearn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_read_list(data, size, "mlearn", "fuzz.json", mlip_mlearn_read);
}
