/*
 * normalizer.c - host side of normalizer plugins: create from params, fit,
 * norm / denorm, and the JSON state kept in checkpoints (jansson; doubles
 * written with 17 significant digits so that they round-trip exactly).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "normalizer.h"
#include "banned.h"

#define JSON_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(17))

int mlip_normalizer_init(struct mlip_normalizer *n, struct mlip_plugins *reg, const char *name,
			 const char *params, struct mlip_err *err)
{
	char perr[MLIP_PLUGIN_ERR_MAX] = { 0 };
	int rc;
	memset(n, 0, sizeof(*n));
	if (params && !(n->params = strdup(params)))
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory for normalizer '%s'", name);
	if ((rc = mlip_plugins_find(reg, "normalizer", name, &n->plugin, err)))
		goto fail;
	if (n->plugin->ops->create(&n->state, params, mlip_plugin_host(), perr)) {
		rc = mlip_plugin_fail(n->plugin, "create", perr, err);
		goto fail;
	}
	return MLIP_OK;
fail:
	free(n->params);
	memset(n, 0, sizeof(*n));
	return rc;
}

void mlip_normalizer_release(struct mlip_normalizer *n)
{
	if (n->plugin)
		n->plugin->ops->destroy(n->state);
	free(n->params);
	memset(n, 0, sizeof(*n));
}

int mlip_normalizer_fit(struct mlip_normalizer *n, const double *values, size_t count,
			struct mlip_err *err)
{
	char perr[MLIP_PLUGIN_ERR_MAX] = { 0 };
	if (!n->plugin)
		return mlip_err_set(err, MLIP_EINVAL, "normalizer used after release");
	if (!n->plugin->ops->fit)
		return MLIP_OK;
	if (n->plugin->ops->fit(n->state, values, count, perr))
		return mlip_plugin_fail(n->plugin, "fit", perr, err);
	return MLIP_OK;
}

int mlip_normalizer_norm(const struct mlip_normalizer *n, double *out, const double *in,
			 size_t count, struct mlip_err *err)
{
	char perr[MLIP_PLUGIN_ERR_MAX] = { 0 };
	if (!n->plugin)
		return mlip_err_set(err, MLIP_EINVAL, "normalizer used after release");
	if (n->plugin->ops->norm(n->state, out, in, count, perr))
		return mlip_plugin_fail(n->plugin, "norm", perr, err);
	return MLIP_OK;
}

int mlip_normalizer_denorm(const struct mlip_normalizer *n, double *out, const double *in,
			   size_t count, struct mlip_err *err)
{
	char perr[MLIP_PLUGIN_ERR_MAX] = { 0 };
	if (!n->plugin)
		return mlip_err_set(err, MLIP_EINVAL, "normalizer used after release");
	if (n->plugin->ops->denorm(n->state, out, in, count, perr))
		return mlip_plugin_fail(n->plugin, "denorm", perr, err);
	return MLIP_OK;
}

int mlip_normalizer_affine(const struct mlip_normalizer *n, double *scale, double *shift,
			   struct mlip_err *err)
{
	const double y[4] = { 0, 1, -1, 2 };
	double v[4];
	int rc = mlip_normalizer_denorm(n, v, y, 4, err);
	if (rc)
		return rc;
	double a = v[1] - v[0], b = v[0];
	for (int k = 2; k < 4; k++) {
		double want = a * y[k] + b;
		if (!(fabs(v[k] - want) <= 1e-12 * (fabs(want) + fabs(a) + fabs(b))))
			return mlip_err_set(err, MLIP_EPLUGIN,
					    "normalizer plugin '%s' is not affine (denorm(%g) = %.17g, "
					    "expected %.17g)",
					    n->plugin->name, y[k], v[k], want);
	}
	*scale = a;
	*shift = b;
	return MLIP_OK;
}

/* The plugin's save() text into *text, malloc'd (the plugin has a save op). */
static int save_text(const struct mlip_normalizer *n, char **text, struct mlip_err *err)
{
	char perr[MLIP_PLUGIN_ERR_MAX] = { 0 };
	size_t cap = 512;
	*text = NULL;
	for (int tries = 0; tries < 2; tries++) {
		char *buf = malloc(cap);
		if (!buf)
			return mlip_err_set(err, MLIP_ENOMEM, "out of memory saving normalizer '%s'",
					    n->plugin->name);
		buf[0] = '\0';
		long len = n->plugin->ops->save(n->state, buf, cap, perr);
		if (len < 0) {
			free(buf);
			return mlip_plugin_fail(n->plugin, "save", perr, err);
		}
		if ((size_t)len < cap) {
			*text = buf;
			return MLIP_OK;
		}
		free(buf);
		cap = (size_t)len + 1;
	}
	return mlip_err_set(err, MLIP_EPLUGIN,
			    "normalizer plugin '%s': save wrote more than the length it asked for",
			    n->plugin->name);
}

int mlip_normalizer_to_json(const struct mlip_normalizer *n, char **json, struct mlip_err *err)
{
	json_t *root = NULL, *state = json_null();
	json_error_t jerr;
	char *text = NULL;
	int rc;
	*json = NULL;
	if (!n->plugin)
		return mlip_err_set(err, MLIP_EINVAL, "normalizer used after release");
	if (n->plugin->ops->save) {
		if ((rc = save_text(n, &text, err)))
			return rc;
		state = json_loads(text, JSON_DECODE_ANY, &jerr);
		if (!state) {
			rc = mlip_err_set(err, MLIP_EPLUGIN,
					  "normalizer plugin '%s' saved invalid JSON: %s: '%.80s'",
					  n->plugin->name, jerr.text, text);
			free(text);
			return rc;
		}
		free(text);
	}
	root = json_pack("{s:s, s:s, s:o, s:o}", "name", n->plugin->name, "version",
			 n->plugin->version, "params",
			 n->params ? json_string(n->params) : json_null(), "state", state);
	if (!root || !(*json = json_dumps(root, JSON_FLAGS))) {
		json_decref(root);
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory saving normalizer '%s'",
				    n->plugin->name);
	}
	json_decref(root);
	return MLIP_OK;
}

int mlip_normalizer_from_json(struct mlip_normalizer *n, struct mlip_plugins *reg,
			      const char *json, struct mlip_err *err)
{
	char perr[MLIP_PLUGIN_ERR_MAX] = { 0 };
	json_error_t jerr;
	json_t *root, *params, *state;
	const char *name;
	char *text = NULL;
	int rc;

	memset(n, 0, sizeof(*n));
	if (!(root = json_loads(json, 0, &jerr)))
		return mlip_err_set(err, MLIP_EDATA, "normalizer state: %d:%d: %s", jerr.line,
				    jerr.column, jerr.text);
	if (!json_is_object(root) || !json_is_string(json_object_get(root, "name"))) {
		rc = mlip_err_set(err, MLIP_EDATA, "normalizer state: not an object with a \"name\"");
		goto done;
	}
	name = json_string_value(json_object_get(root, "name"));
	params = json_object_get(root, "params");
	state = json_object_get(root, "state");
	if (params && !json_is_string(params) && !json_is_null(params)) {
		rc = mlip_err_set(err, MLIP_EDATA, "normalizer state: \"params\" of '%s' is not a string",
				  name);
		goto done;
	}
	if ((rc = mlip_normalizer_init(n, reg, name, json_is_string(params) ?
				       json_string_value(params) : NULL, err)))
		goto done;
	if (state && !json_is_null(state)) {
		if (!n->plugin->ops->load) {
			rc = mlip_err_set(err, MLIP_EPLUGIN,
					  "normalizer plugin '%s' cannot load the saved state (no load op)",
					  name);
			goto fail;
		}
		if (!(text = json_dumps(state, JSON_FLAGS | JSON_ENCODE_ANY))) {
			rc = mlip_err_set(err, MLIP_ENOMEM, "out of memory loading normalizer '%s'", name);
			goto fail;
		}
		if (n->plugin->ops->load(n->state, text, perr)) {
			rc = mlip_plugin_fail(n->plugin, "load", perr, err);
			goto fail;
		}
	}
	goto done;
fail:
	mlip_normalizer_release(n);
done:
	free(text);
	json_decref(root);
	return rc;
}
