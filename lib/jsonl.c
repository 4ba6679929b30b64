/*
 * jsonl.c - JSON Lines records through jansson (jsonl.h).
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "jsonl.h"
#include "banned.h"

/* jansson checks UTF-8; a name read from a file may not be, and is kept as it is. */
json_t *mlip_jsonl_string(const char *s)
{
	json_t *v = json_string(s);
	return v ? v : json_string_nocheck(s);
}

void mlip_jsonl_set(json_t *o, const char *key, json_t *v)
{
	if (!o || !v) {
		json_decref(v);
		return;
	}
	if (json_object_set_new(o, key, json_incref(v)))
		json_object_set_new_nocheck(o, key, json_incref(v));
	json_decref(v);
}

json_t *mlip_jsonl_new(const char *type)
{
	json_t *o = json_object();
	if (o && type)
		mlip_jsonl_str(o, "type", type);
	return o;
}

void mlip_jsonl_real(json_t *o, const char *key, double v)
{
	mlip_jsonl_set(o, key, isfinite(v) ? json_real(v) : json_null());
}

void mlip_jsonl_int(json_t *o, const char *key, long long v)
{
	mlip_jsonl_set(o, key, json_integer((json_int_t)v));
}

void mlip_jsonl_str(json_t *o, const char *key, const char *s)
{
	mlip_jsonl_set(o, key, s ? mlip_jsonl_string(s) : json_null());
}

void mlip_jsonl_bool(json_t *o, const char *key, int v)
{
	mlip_jsonl_set(o, key, json_boolean(v));
}

void mlip_jsonl_null(json_t *o, const char *key)
{
	mlip_jsonl_set(o, key, json_null());
}

json_t *mlip_jsonl_reals(const double *v, size_t n)
{
	json_t *a = json_array();
	for (size_t k = 0; a && k < n; k++)
		json_array_append_new(a, isfinite(v[k]) ? json_real(v[k]) : json_null());
	return a;
}

char *mlip_jsonl_dumps(json_t *o)
{
	char *text = o ? json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17)) : NULL;
	json_decref(o);
	if (!text)
		return NULL;
	size_t n = strlen(text);
	char *line = realloc(text, n + 2);
	if (!line) {
		free(text);
		return NULL;
	}
	line[n] = '\n';
	line[n + 1] = 0;
	return line;
}

int mlip_jsonl_write(FILE *f, json_t *o, struct mlip_err *err)
{
	char *line = mlip_jsonl_dumps(o);
	if (!line)
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	errno = 0;
	int bad = fputs(line, f) == EOF || fflush(f) != 0;
	free(line);
	if (bad)
		return mlip_err_set(err, MLIP_EIO, "write error: %s", strerror(errno ? errno : EIO));
	return MLIP_OK;
}
