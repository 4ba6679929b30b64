/*
 * fuzz_ckpt.c - libFuzzer target: the checkpoint container and the inference
 * model on it (mlip_modelfile_load, what mlip-eval, libmlip and the KIM
 * driver call). The input is read twice: as it is, where the container's
 * checks and CRC must refuse damage with MLIP_EDATA; and, when it starts with
 * the container magic, with its CRC recomputed, so that the fuzzer reaches
 * the JSON header, the embedded config and the tensor table behind a valid
 * checksum. There an invalid embedded config may also be MLIP_EINVAL.
 */
#include "fuzz.h"
#include "ckpt.h"
#include "batch.h"
#include "le.h"
#include "modelfile.h"

static void load(const uint8_t *data, size_t size, int allow)
{
	struct mlip_model *m = NULL;
	struct mlip_head_map *heads = calloc(MLIP_MAX_HEADS, sizeof(*heads));
	struct mlip_err err = { 0 };
	char path[64];
	if (!heads)
		abort();
	int fd = fuzz_file(data, size, path);
	int rc = mlip_modelfile_load(path, &m, heads, &err);
	fuzz_expect("ckpt", rc, &err, MLIP_EDATA, allow);
	if (m)
		mlip_model_free(m);
	free(heads);
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	load(data, size, MLIP_EDATA);
	if (size < MLIP_CKPT_HEADER_BYTES || memcmp(data, MLIP_CKPT_MAGIC, 8))
		return 0;
	uint8_t *fixed = malloc(size);
	if (!fixed)
		abort();
	memcpy(fixed, data, size);
	mlip_put_u32(fixed + 44, mlip_crc32(0, fixed + MLIP_CKPT_HEADER_BYTES,
					    size - MLIP_CKPT_HEADER_BYTES));
	load(fixed, size, MLIP_EINVAL);
	free(fixed);
	return 0;
}
