/*
 * jsonl.h - the one writer of JSON Lines records (metrics, evaluation
 * results, per-structure lines, stream dumps): objects are built with
 * jansson and written compact on one line, so every key and string is
 * escaped whatever a task, dataset or file name holds, and a non-finite
 * number becomes null instead of a token no JSON reader accepts. Reals are
 * written with 17 significant digits (they read back exactly).
 *
 *     json_t *o = mlip_jsonl_new("train");
 *     mlip_jsonl_int(o, "step", step);
 *     mlip_jsonl_real(o, "loss", loss);
 *     rc = mlip_jsonl_write(f, o, err);   // takes o
 */
#ifndef MLIP_JSONL_H
#define MLIP_JSONL_H

#include <stdio.h>

#include <jansson.h>

#include "error.h"

/* {"type": type}, or {} when type is NULL. NULL only when out of memory. */
json_t *mlip_jsonl_new(const char *type);

/* Set key (o may be NULL: then nothing happens, and the write reports the lack of memory). */
void mlip_jsonl_real(json_t *o, const char *key, double v);   /* null if not finite */
void mlip_jsonl_int(json_t *o, const char *key, long long v);
void mlip_jsonl_str(json_t *o, const char *key, const char *s); /* null if s is NULL */
void mlip_jsonl_bool(json_t *o, const char *key, int v);
void mlip_jsonl_null(json_t *o, const char *key);
void mlip_jsonl_set(json_t *o, const char *key, json_t *v);   /* takes v */

/* A string value (bytes that are not UTF-8 are kept as they are). */
json_t *mlip_jsonl_string(const char *s);
/* An array of n reals (non-finite ones null). */
json_t *mlip_jsonl_reals(const double *v, size_t n);

/*
 * Write o as one line to f and flush; takes o (also on failure). MLIP_EIO
 * for a write error ("write error: ..."), MLIP_ENOMEM when o is NULL.
 */
int mlip_jsonl_write(FILE *f, json_t *o, struct mlip_err *err);

/* o as one line with its newline, malloc'd (NULL when out of memory); takes o. */
char *mlip_jsonl_dumps(json_t *o);

#endif
