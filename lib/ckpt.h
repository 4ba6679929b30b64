/*
 * ckpt.h - the checkpoint container: a JSON header and raw float64 blobs in
 * one checksummed file. Inference checkpoints (model.mlip) and per-rank
 * training state files use it; what the JSON holds is up to the caller.
 *
 * Layout (all little-endian; see mlip-ckpt(5)):
 *    0  8 bytes  magic "MLIPCKPT"
 *    8  u32      version (1)
 *   12  u32      header_bytes (64)
 *   16  u64      json_bytes
 *   24  u64      n_blobs
 *   32  u64      blob_count (elements in each blob)
 *   40  u32      element size in bytes (8: float64)
 *   44  u32      CRC-32 of everything after the header (JSON, padding, blobs)
 *   48  16 bytes reserved (0)
 *   64  JSON text (json_bytes, UTF-8, no NUL), zero padding to a multiple of 64
 *       then n_blobs blobs of blob_count float64 each
 */
#ifndef MLIP_CKPT_H
#define MLIP_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

#define MLIP_CKPT_MAGIC "MLIPCKPT"
#define MLIP_CKPT_VERSION 1u
#define MLIP_CKPT_HEADER_BYTES 64u
/* Hard limits of a version-1 reader (mlip-ckpt(5)): 4 GiB of JSON, 64 blobs of
 * at most 2^36 elements each; the file must also hold every byte announced. */
#define MLIP_CKPT_MAX_JSON ((uint64_t)1 << 32)
#define MLIP_CKPT_MAX_BLOBS 64u
#define MLIP_CKPT_MAX_BLOB_COUNT ((uint64_t)1 << 36)

struct mlip_ckpt {
	char *json;            /* (json_bytes + 1) NUL-terminated header text, owned */
	size_t json_bytes;
	size_t n_blobs;
	size_t blob_count;
	double *blobs;         /* (n_blobs, blob_count), owned */
};

void mlip_ckpt_init(struct mlip_ckpt *c);
void mlip_ckpt_release(struct mlip_ckpt *c);

/*
 * Write atomically (PATH.tmp, fsync, rename). blobs[k] points at blob_count
 * doubles each. MLIP_EIO on failure, with nothing left under path.
 */
int mlip_ckpt_write(const char *path, const char *json, const double *const *blobs,
		    size_t n_blobs, size_t blob_count, struct mlip_err *err);

/*
 * Read and verify (magic, version, header fields against the limits above,
 * reserved bytes zero, file size, CRC, no NUL in the JSON and zero padding).
 * Nothing is allocated from a header size before the file is known to hold
 * that many bytes (regular files), or before the bytes arrive (pipes).
 * Messages say what is wrong and how to fix it ("not an mlip checkpoint",
 * "written by a newer mlip", "damaged header: offset 24: n_blobs is over the
 * limit", "truncated: N bytes after the header, expected M", "checksum
 * mismatch: the file is damaged"). MLIP_EDATA for bad content, MLIP_EIO when
 * the file cannot be read.
 */
int mlip_ckpt_read(const char *path, struct mlip_ckpt *c, struct mlip_err *err);

/* CRC-32 of a whole file's bytes, as 8 hex digits in out[9] (for eval's report). */
int mlip_file_crc32(const char *path, char out[9], struct mlip_err *err);

#endif
