/*
 * structio.c - format dispatch for structure files.
 */
#include <ctype.h>
#include <string.h>

#include "structio.h"
#include "extxyz.h"
#include "mlearn.h"
#include "n2p2data.h"
#include "outfile.h"
#include "banned.h"

int mlip_format_parse(const char *name)
{
	if (strcmp(name, "auto") == 0) return MLIP_FORMAT_AUTO;
	if (strcmp(name, "extxyz") == 0 || strcmp(name, "xyz") == 0) return MLIP_FORMAT_EXTXYZ;
	if (strcmp(name, "mlearn") == 0 || strcmp(name, "json") == 0) return MLIP_FORMAT_MLEARN;
	if (strcmp(name, "n2p2") == 0) return MLIP_FORMAT_N2P2;
	return -1;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Peek at the first non-space byte: '[' means a JSON array. */
static enum mlip_format sniff(FILE *f)
{
	int c;
	while ((c = getc(f)) != EOF && isspace(c))
		;
	if (c != EOF)
		ungetc(c, f);
	return c == '[' ? MLIP_FORMAT_MLEARN : MLIP_FORMAT_EXTXYZ;
}

enum mlip_format mlip_input_format(const char *path, enum mlip_format format)
{
	if (format != MLIP_FORMAT_AUTO)
		return format;
	if (strcmp(path, "-") == 0 || ends_with(path, ".xyz") || ends_with(path, ".extxyz"))
		return MLIP_FORMAT_EXTXYZ;
	if (ends_with(path, ".json"))
		return MLIP_FORMAT_MLEARN;
	if (ends_with(path, ".data")) /* input.data included */
		return MLIP_FORMAT_N2P2;
	FILE *f = fopen(path, "rb");
	if (!f)
		return MLIP_FORMAT_EXTXYZ;
	format = sniff(f);
	fclose(f);
	return format;
}

int mlip_read_structures(const char *path, enum mlip_format format,
			 struct mlip_structure_list *out, struct mlip_err *err)
{
	FILE *f;
	int rc;
	if ((rc = mlip_open_input(&f, path, err)))
		return rc;
	const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;
	if (format == MLIP_FORMAT_AUTO) {
		if (ends_with(path, ".json"))
			format = MLIP_FORMAT_MLEARN;
		else if (f != stdin && ends_with(path, ".data"))
			format = MLIP_FORMAT_N2P2;
		else if (ends_with(path, ".xyz") || ends_with(path, ".extxyz") || f == stdin)
			format = MLIP_FORMAT_EXTXYZ;
		else
			format = sniff(f); /* on the open stream: a pipe cannot be opened twice */
	}
	if (format == MLIP_FORMAT_MLEARN)
		rc = mlip_mlearn_read(f, name, out, err);
	else if (format == MLIP_FORMAT_N2P2)
		rc = mlip_n2p2data_read(f, name, out, err);
	else
		rc = mlip_extxyz_read(f, name, out, err);
	mlip_close_input(f);
	return rc;
}
