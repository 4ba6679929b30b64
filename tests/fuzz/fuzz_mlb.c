/*
 * fuzz_mlb.c - libFuzzer target: the .mlb batch stream reader, as the
 * training and evaluation programs read a stream (concatenated streams
 * included). Bad input must give MLIP_EDATA; a batch the reader accepts must
 * pass mlip_batch_validate, since everything downstream trusts it.
 */
#include "fuzz.h"
#include "batch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mlip_batch_list l;
	struct mlip_err err = { 0 };
	FILE *f = fuzz_stream(data, size);
	if (!f)
		abort();
	mlip_batch_list_init(&l);
	int rc = mlip_batch_list_read(&l, f, "fuzz.mlb", &err);
	fuzz_expect("mlb", rc, &err, MLIP_EDATA, MLIP_EDATA);
	for (size_t k = 0; k < l.n; k++)
		if (mlip_batch_validate(&l.items[k], &err)) {
			fprintf(stderr, "mlb: batch %zu was accepted but does not validate: %s\n", k + 1,
				err.msg);
			abort();
		}
	mlip_batch_list_release(&l);
	fclose(f);
	return 0;
}
