/*
 * ckpt.c - the checkpoint container (layout in ckpt.h and mlip-ckpt(5)).
 *
 * The reader trusts no size in a header: each is held to a hard limit
 * (ckpt.h) and, for a regular file, to the bytes the file holds before
 * anything is allocated; a pipe is read as its bytes arrive. Damage is
 * MLIP_EDATA naming the file, the offset and the field.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ckpt.h"
#include "le.h"
#include "batch.h"
#include "outfile.h"
#include "banned.h"

static size_t pad64(size_t n)
{
	return (n + 63) & ~(size_t)63;
}

/* Little-endian bytes of n doubles (a copy only on big-endian hosts). */
static void le_doubles(unsigned char *out, const double *x, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		mlip_put_f64(out + 8 * k, x[k]);
	}
}

void mlip_ckpt_init(struct mlip_ckpt *c)
{
	memset(c, 0, sizeof(*c));
}

void mlip_ckpt_release(struct mlip_ckpt *c)
{
	free(c->json);
	free(c->blobs);
	mlip_ckpt_init(c);
}

int mlip_ckpt_write(const char *path, const char *json, const double *const *blobs,
		    size_t n_blobs, size_t blob_count, struct mlip_err *err)
{
	size_t json_bytes = strlen(json), json_padded = pad64(json_bytes);
	size_t body = json_padded + n_blobs * blob_count * 8;
	unsigned char *buf = calloc(MLIP_CKPT_HEADER_BYTES + body, 1);
	struct mlip_outfile out;
	int rc;
	if (!buf)
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory for a %zu-byte checkpoint", body);
	unsigned char *p = buf + MLIP_CKPT_HEADER_BYTES;
	memcpy(p, json, json_bytes);
	for (size_t b = 0; b < n_blobs; b++)
		le_doubles(p + json_padded + b * blob_count * 8, blobs[b], blob_count);
	memcpy(buf, MLIP_CKPT_MAGIC, 8);
	mlip_put_u32(buf + 8, MLIP_CKPT_VERSION);
	mlip_put_u32(buf + 12, MLIP_CKPT_HEADER_BYTES);
	mlip_put_u64(buf + 16, json_bytes);
	mlip_put_u64(buf + 24, n_blobs);
	mlip_put_u64(buf + 32, blob_count);
	mlip_put_u32(buf + 40, 8);
	mlip_put_u32(buf + 44, mlip_crc32(0, p, body));
	if ((rc = mlip_outfile_open(&out, path, err))) {
		free(buf);
		return rc;
	}
	if (fwrite(buf, 1, MLIP_CKPT_HEADER_BYTES + body, out.f) != MLIP_CKPT_HEADER_BYTES + body) {
		rc = mlip_err_set(err, MLIP_EIO, "cannot write '%s': %s", path, strerror(errno));
		mlip_outfile_abort(&out);
	} else {
		rc = mlip_outfile_commit(&out, err);
	}
	free(buf);
	return rc;
}

/*
 * Bytes of f left from the current position when that is known (a regular
 * file), so that sizes from the header are checked before anything is
 * allocated; -1 for pipes, which are read as the bytes arrive.
 */
static long long bytes_left(FILE *f)
{
	struct stat st;
	long pos;
	if (fstat(fileno(f), &st) || !S_ISREG(st.st_mode) || (pos = ftell(f)) < 0)
		return -1;
	return st.st_size >= pos ? (long long)(st.st_size - pos) : 0;
}

/*
 * Read exactly want bytes of body into *body (malloc'd), growing the buffer
 * only as data arrives, so that a damaged size on a pipe costs at most about
 * twice the bytes actually sent. *got tells how many there were (want + 1
 * means trailing data).
 */
static int read_body(FILE *f, size_t want, unsigned char **body, size_t *got, const char *path,
		     struct mlip_err *err)
{
	size_t cap = 0, have = 0;
	unsigned char *buf = NULL;
	for (;;) {
		if (have == cap) {
			size_t next = cap < ((size_t)1 << 20) ? ((size_t)1 << 20) : 2 * cap;
			if (next > want + 1)
				next = want + 1;
			if (next <= cap)
				break;
			unsigned char *b = realloc(buf, next);
			if (!b) {
				free(buf);
				return mlip_err_set(err, MLIP_ENOMEM, "%s: out of memory for %zu bytes", path,
						    want);
			}
			buf = b;
			cap = next;
		}
		size_t n = fread(buf + have, 1, cap - have, f);
		have += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		free(buf);
		return mlip_err_set(err, MLIP_EIO, "%s: read error: %s", path, strerror(errno));
	}
	*body = buf;
	*got = have;
	return MLIP_OK;
}

int mlip_ckpt_read(const char *path, struct mlip_ckpt *c, struct mlip_err *err)
{
	unsigned char h[MLIP_CKPT_HEADER_BYTES];
	unsigned char *body = NULL;
	FILE *f;
	int rc;
	mlip_ckpt_release(c);
	if ((rc = mlip_open_input(&f, path, err)))
		return rc;
	size_t got = fread(h, 1, sizeof(h), f);
	if (got < 8 || memcmp(h, MLIP_CKPT_MAGIC, 8) != 0) {
		rc = mlip_err_set(err, MLIP_EDATA,
				  "%s: not an mlip checkpoint (bad magic); models come from mlip-train "
				  "or mlip-ckpt-convert", path);
		goto done;
	}
	if (got < sizeof(h)) {
		rc = mlip_err_set(err, MLIP_EDATA, "%s: truncated header (%zu of %u bytes)", path, got,
				  MLIP_CKPT_HEADER_BYTES);
		goto done;
	}
	uint32_t version = mlip_get_u32(h + 8);
	if (version != MLIP_CKPT_VERSION) {
		rc = mlip_err_set(err, MLIP_EDATA,
				  "%s: checkpoint version %u; this mlip reads version %u (%s)", path,
				  version, MLIP_CKPT_VERSION,
				  version > MLIP_CKPT_VERSION ? "upgrade mlip" : "convert it with an older mlip");
		goto done;
	}
	/* Every size is checked against a hard limit here, and against the
	 * bytes the file holds below, before anything is allocated. */
	uint64_t json_bytes = mlip_get_u64(h + 16), n_blobs = mlip_get_u64(h + 24), count = mlip_get_u64(h + 32);
	static const unsigned char zero16[16];
	const char *bad = NULL;
	unsigned off = 0;
	if (mlip_get_u32(h + 12) != MLIP_CKPT_HEADER_BYTES)
		bad = "header_bytes is not 64", off = 12;
	else if (json_bytes > MLIP_CKPT_MAX_JSON)
		bad = "json_bytes is over the limit", off = 16;
	else if (n_blobs > MLIP_CKPT_MAX_BLOBS)
		bad = "n_blobs is over the limit", off = 24;
	else if (count > MLIP_CKPT_MAX_BLOB_COUNT)
		bad = "blob_count is over the limit", off = 32;
	else if (mlip_get_u32(h + 40) != 8)
		bad = "element size is not 8", off = 40;
	else if (memcmp(h + 48, zero16, sizeof(zero16)))
		bad = "reserved bytes are not zero", off = 48;
	if (bad) {
		rc = mlip_err_set(err, MLIP_EDATA,
				  "%s: damaged header: offset %u: %s (json_bytes %llu, n_blobs %llu, "
				  "blob_count %llu); the file is damaged or not from this mlip", path, off,
				  bad, (unsigned long long)json_bytes, (unsigned long long)n_blobs,
				  (unsigned long long)count);
		goto done;
	}
	size_t json_padded = pad64((size_t)json_bytes);
	size_t body_bytes = json_padded + (size_t)(n_blobs * count * 8);
	long long left = bytes_left(f);
	if (left >= 0 && (unsigned long long)left != body_bytes) {
		rc = mlip_err_set(err, MLIP_EDATA,
				  "%s: %s: %lld bytes after the header, expected %zu (header fields "
				  "json_bytes %llu, n_blobs %llu, blob_count %llu at offsets 16..39)",
				  path, (unsigned long long)left < body_bytes ? "truncated" : "trailing data",
				  left, body_bytes, (unsigned long long)json_bytes,
				  (unsigned long long)n_blobs, (unsigned long long)count);
		goto done;
	}
	if ((rc = read_body(f, body_bytes, &body, &got, path, err)))
		goto done;
	if (got != body_bytes) {
		rc = mlip_err_set(err, MLIP_EDATA, "%s: %s: %zu%s bytes after the header, expected %zu",
				  path, got < body_bytes ? "truncated" : "trailing data", got,
				  got > body_bytes ? " or more" : "", body_bytes);
		goto done;
	}
	if (mlip_crc32(0, body, body_bytes) != mlip_get_u32(h + 44)) {
		rc = mlip_err_set(err, MLIP_EDATA, "%s: checksum mismatch: the file is damaged", path);
		goto done;
	}
	/* Behind a valid CRC still: the JSON holds no NUL and its padding is
	 * zero, so that json_bytes cannot be off by a few bytes unnoticed. */
	const unsigned char *nul = memchr(body, 0, (size_t)json_bytes);
	for (size_t k = (size_t)json_bytes; k < json_padded && !nul; k++)
		if (body[k])
			nul = body + k;
	if (nul) {
		rc = mlip_err_set(err, MLIP_EDATA,
				  "%s: offset %zu: %s; the file is damaged", path,
				  MLIP_CKPT_HEADER_BYTES + (size_t)(nul - body),
				  (size_t)(nul - body) < json_bytes ? "NUL byte inside the JSON text"
								    : "padding after the JSON text is not zero");
		goto done;
	}
	if (!(c->blobs = malloc((n_blobs * count > 0 ? n_blobs * count : 1) * sizeof(double))) ||
	    !(c->json = malloc(json_bytes + 1))) {
		rc = mlip_err_set(err, MLIP_ENOMEM, "%s: out of memory", path);
		goto done;
	}
	memcpy(c->json, body, json_bytes);
	c->json[json_bytes] = '\0';
	c->json_bytes = (size_t)json_bytes;
	c->n_blobs = (size_t)n_blobs;
	c->blob_count = (size_t)count;
	for (size_t k = 0; k < n_blobs * count; k++) {
		c->blobs[k] = mlip_get_f64(body + json_padded + 8 * k);
	}
done:
	free(body);
	mlip_close_input(f);
	if (rc)
		mlip_ckpt_release(c);
	return rc;
}

int mlip_file_crc32(const char *path, char out[9], struct mlip_err *err)
{
	unsigned char buf[1 << 16];
	uint32_t crc = 0;
	size_t n;
	FILE *f;
	int rc;
	if ((rc = mlip_open_input(&f, path, err)))
		return rc;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		crc = mlip_crc32(crc, buf, n);
	rc = ferror(f) ? mlip_err_set(err, MLIP_EIO, "%s: read error", path) : MLIP_OK;
	mlip_close_input(f);
	snprintf(out, 9, "%08x", crc);
	return rc;
}
