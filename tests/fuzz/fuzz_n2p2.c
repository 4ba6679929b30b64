/*
 * fuzz_n2p2.c - libFuzzer target: the n2p2 input.data reader. Bad input must
 * give MLIP_EDATA and nothing else.
 */
#include "fuzz.h"
#include "n2p2data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	return fuzz_read_list(data, size, "n2p2", "input.data", mlip_n2p2data_read);
}
