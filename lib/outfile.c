/*
 * outfile.c - atomic output files (write PATH.tmp, fsync, rename) and inputs
 * where "-" means a standard stream.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "outfile.h"
#include "banned.h"

int mlip_outfile_open(struct mlip_outfile *o, const char *path, struct mlip_err *err)
{
	memset(o, 0, sizeof(*o));
	if (!(o->path = strdup(path)))
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	if (strcmp(path, "-") == 0) {
		o->f = stdout;
		return MLIP_OK;
	}
	/* Devices, pipes and sockets (/dev/null, /dev/stdout, a FIFO) are written
	 * in place: renaming a temporary file over them would replace them. */
	struct stat st;
	if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		if (!(o->f = fopen(path, "wb"))) {
			int e = errno;
			free(o->path);
			memset(o, 0, sizeof(*o));
			return mlip_err_set(err, MLIP_EIO, "cannot open '%s': %s", path, strerror(e));
		}
		return MLIP_OK;
	}
	size_t n = strlen(path) + 5;
	if (!(o->tmp_path = malloc(n))) {
		free(o->path);
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	}
	snprintf(o->tmp_path, n, "%s.tmp", path);
	if (!(o->f = fopen(o->tmp_path, "wb"))) {
		int e = errno;
		free(o->path);
		free(o->tmp_path);
		memset(o, 0, sizeof(*o));
		return mlip_err_set(err, MLIP_EIO, "cannot create '%s.tmp': %s", path, strerror(e));
	}
	return MLIP_OK;
}

int mlip_outfile_commit(struct mlip_outfile *o, struct mlip_err *err)
{
	int rc = MLIP_OK;
	if (!o->f)
		return MLIP_OK;
	if (!o->tmp_path) {
		if (fflush(o->f) != 0 || ferror(o->f))
			rc = mlip_err_set(err, MLIP_EIO, "cannot write to '%s': %s", o->path, strerror(errno));
		if (o->f != stdout && fclose(o->f) != 0 && !rc)
			rc = mlip_err_set(err, MLIP_EIO, "cannot write to '%s': %s", o->path, strerror(errno));
	} else {
		if (fflush(o->f) != 0 || ferror(o->f) || fsync(fileno(o->f)) != 0)
			rc = mlip_err_set(err, MLIP_EIO, "cannot write '%s': %s", o->tmp_path, strerror(errno));
		if (fclose(o->f) != 0 && !rc)
			rc = mlip_err_set(err, MLIP_EIO, "cannot write '%s': %s", o->tmp_path, strerror(errno));
		o->f = NULL;
		if (!rc && rename(o->tmp_path, o->path) != 0)
			rc = mlip_err_set(err, MLIP_EIO, "cannot rename '%s' to '%s': %s", o->tmp_path,
					  o->path, strerror(errno));
		if (rc)
			unlink(o->tmp_path);
	}
	free(o->path);
	free(o->tmp_path);
	memset(o, 0, sizeof(*o));
	return rc;
}

void mlip_outfile_abort(struct mlip_outfile *o)
{
	if (o->f && o->tmp_path) {
		fclose(o->f);
		unlink(o->tmp_path);
	} else if (o->f && o->f != stdout) {
		fclose(o->f);
	}
	free(o->path);
	free(o->tmp_path);
	memset(o, 0, sizeof(*o));
}

int mlip_open_input(FILE **f, const char *path, struct mlip_err *err)
{
	if (strcmp(path, "-") == 0) {
		*f = stdin;
		return MLIP_OK;
	}
	if (!(*f = fopen(path, "rb")))
		return mlip_err_set(err, MLIP_EIO, "cannot open '%s': %s", path, strerror(errno));
	return MLIP_OK;
}

void mlip_close_input(FILE *f)
{
	if (f && f != stdin)
		fclose(f);
}
