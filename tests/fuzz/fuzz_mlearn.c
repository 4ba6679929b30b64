/*
 * fuzz_mlearn.c - libFuzzer target: the mlearn JSON reader. Bad input must
 * give MLIP_EDATA and nothing else.
 */
#include "fuzz.h"
#include "mlearn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mlip_structure_list l;
	struct mlip_err err = { 0 };
	FILE *f = fuzz_stream(data, size);
	if (!f)
		abort();
	mlip_structure_list_init(&l);
	int rc = mlip_mlearn_read(f, "fuzz.json", &l, &err);
	fuzz_expect("mlearn", rc, &err, MLIP_EDATA, MLIP_EDATA);
	mlip_structure_list_release(&l);
	fclose(f);
	return 0;
}
