/*
 * lineio.h - reading text files a line at a time, for the structure readers
 * (extxyz, n2p2 input.data): one place that knows line ends and read errors.
 */
#ifndef MLIP_LINEIO_H
#define MLIP_LINEIO_H

#include <stdio.h>
#include <sys/types.h>

#include "error.h"

/*
 * Read one line of f into *buf (grown as needed; *cap its size) without its
 * line end (\n, \r\n or a lone final \r), and count it in *line. Returns its
 * length, -1 at the end of input, or -2 on a read error (MLIP_EIO in err,
 * "PATH:LINE: read error: ...").
 */
ssize_t mlip_read_line(FILE *f, char **buf, size_t *cap, size_t *line, const char *path,
		       struct mlip_err *err);

#endif
