/*
 * structio.h - read structure files of any supported format.
 */
#ifndef MLIP_STRUCTIO_H
#define MLIP_STRUCTIO_H

#include "error.h"
#include "structure.h"

enum mlip_format {
	MLIP_FORMAT_AUTO = 0,  /* by file name (.json = mlearn, .data = n2p2), else by the first byte */
	MLIP_FORMAT_EXTXYZ,
	MLIP_FORMAT_MLEARN,
	MLIP_FORMAT_N2P2,      /* n2p2's input.data (n2p2data.h) */
};

/* Parse a format name ("auto", "extxyz", "mlearn", "n2p2"); -1 if unknown. */
int mlip_format_parse(const char *name);

/*
 * The format of path as mlip_read_structures decides it: format itself
 * unless AUTO; "-" is extxyz; .json is mlearn; .xyz / .extxyz are extxyz;
 * a file called input.data, or any *.data, is n2p2; otherwise a first
 * non-blank '[' means mlearn JSON.
 */
enum mlip_format mlip_input_format(const char *path, enum mlip_format format);

/*
 * Read every structure in path ("-" = stdin, read as extxyz unless format
 * says otherwise) and append them to out. On error, out keeps what was read
 * before the bad structure; err names the file and the line or index.
 */
int mlip_read_structures(const char *path, enum mlip_format format,
			 struct mlip_structure_list *out, struct mlip_err *err);

#endif
