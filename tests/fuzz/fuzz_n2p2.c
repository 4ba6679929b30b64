/*
 * fuzz_n2p2.c - libFuzzer target: the n2p2 input.data reader. Bad input must
 * give MLIP_EDATA and nothing else.
 */
#include "fuzz.h"
#include "n2p2data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mlip_structure_list l;
	struct mlip_err err = { 0 };
	FILE *f = fuzz_stream(data, size);
	if (!f)
		abort();
	mlip_structure_list_init(&l);
	int rc = mlip_n2p2data_read(f, "input.data", &l, &err);
	fuzz_expect("n2p2", rc, &err, MLIP_EDATA, MLIP_EDATA);
	mlip_structure_list_release(&l);
	fclose(f);
	return 0;
}
