/*
 * lineio.c - reading text a line at a time (lineio.h).
 */
#include <errno.h>
#include <string.h>

#include "lineio.h"
#include "banned.h"

ssize_t mlip_read_line(FILE *f, char **buf, size_t *cap, size_t *line, const char *path,
		       struct mlip_err *err)
{
	ssize_t n = getline(buf, cap, f);
	if (n < 0) {
		if (ferror(f)) {
			mlip_err_set(err, MLIP_EIO, "%s:%zu: read error: %s", path, *line + 1,
				     strerror(errno));
			return -2;
		}
		return -1;
	}
	(*line)++;
	while (n > 0 && ((*buf)[n - 1] == '\n' || (*buf)[n - 1] == '\r'))
		(*buf)[--n] = '\0';
	return n;
}
