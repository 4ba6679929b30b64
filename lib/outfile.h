/*
 * outfile.h - output files that appear whole or not at all.
 *
 * mlip_outfile_open writes to PATH.tmp (or to stdout for "-");
 * mlip_outfile_commit flushes, fsyncs and renames it over PATH;
 * mlip_outfile_abort removes the temporary file. A failed run therefore never
 * leaves a half-written batch stream or checkpoint under the final name.
 */
#ifndef MLIP_OUTFILE_H
#define MLIP_OUTFILE_H

#include <stdio.h>

#include "error.h"

struct mlip_outfile {
	FILE *f;          /* write here */
	char *path;       /* final path (owned), "-" for stdout */
	char *tmp_path;   /* PATH.tmp (owned), NULL for stdout */
};

int mlip_outfile_open(struct mlip_outfile *o, const char *path, struct mlip_err *err);
int mlip_outfile_commit(struct mlip_outfile *o, struct mlip_err *err);
void mlip_outfile_abort(struct mlip_outfile *o);

/* Open PATH for reading ("-" = stdin); MLIP_EIO naming the path on failure. */
int mlip_open_input(FILE **f, const char *path, struct mlip_err *err);
/* Close what mlip_open_input opened (stdin is left open). */
void mlip_close_input(FILE *f);

#endif
