/*
 * normalizer_rmsd.c - the "rmsd" normalizer:
 *   norm(t) = (t - mean) / rmsd,   denorm(y) = y * rmsd + mean.
 *
 * Parameters: `mean` and `rmsd`, each optional. fit() computes what was not
 * given from the values: mean = their average, then
 * rmsd = sqrt(mean of (t - mean)^2) around the mean in force (given or
 * fitted). An energy head passes `mean: 0`, which makes rmsd the root mean
 * square of the values. State (for checkpoints): {"mean": m, "rmsd": r}.
 */
#include <math.h>

#include "mlip_plugin.h"

struct rmsd {
	const struct mlip_host_api *host;
	double mean, rmsd;
	int given_mean, given_rmsd;   /* fixed by params, fit leaves them */
	int fitted;                   /* mean and rmsd both hold usable values */
};

static int rmsd_create(void **state, const char *params, const struct mlip_host_api *host, char *err)
{
	struct mlip_plugin_param p;
	size_t pos = 0;
	double mean = 0, rmsd = 1;
	int given_mean = 0, given_rmsd = 0, r;
	while ((r = mlip_plugin_params_next(params, &pos, &p, err)) > 0) {
		if (!strcmp(p.key, "mean")) {
			if (mlip_plugin_param_double(&p, &mean, err))
				return 1;
			given_mean = 1;
		} else if (!strcmp(p.key, "rmsd")) {
			if (mlip_plugin_param_double(&p, &rmsd, err))
				return 1;
			if (!(rmsd > 0)) {
				snprintf(err, MLIP_PLUGIN_ERR_MAX, "rmsd must be positive, not %g", rmsd);
				return 1;
			}
			given_rmsd = 1;
		} else {
			snprintf(err, MLIP_PLUGIN_ERR_MAX, "unknown parameter '%s' (known: mean, rmsd)", p.key);
			return 1;
		}
	}
	if (r < 0)
		return 1;
	struct rmsd *s = host->alloc(sizeof(*s));
	if (!s) {
		snprintf(err, MLIP_PLUGIN_ERR_MAX, "out of memory");
		return 1;
	}
	s->host = host;
	s->mean = mean;
	s->rmsd = rmsd;
	s->given_mean = given_mean;
	s->given_rmsd = given_rmsd;
	s->fitted = given_mean && given_rmsd;
	*state = s;
	return 0;
}

static void rmsd_destroy(void *state)
{
	struct rmsd *s = state;
	if (s)
		s->host->free(s);
}

static int rmsd_fit(void *state, const double *values, size_t n, char *err)
{
	struct rmsd *s = state;
	if (s->given_mean && s->given_rmsd)
		return 0;
	if (n == 0) {
		snprintf(err, MLIP_PLUGIN_ERR_MAX, "cannot fit %s from no values",
			 s->given_mean ? "rmsd" : "mean and rmsd");
		return 1;
	}
	double mean = s->mean, sum = 0, sq = 0;
	for (size_t i = 0; i < n; i++) {
		if (!isfinite(values[i])) {
			snprintf(err, MLIP_PLUGIN_ERR_MAX, "value %zu is not finite", i);
			return 1;
		}
		sum += values[i];
	}
	if (!s->given_mean)
		mean = sum / (double)n;
	double rmsd = s->rmsd;
	if (!s->given_rmsd) {
		for (size_t i = 0; i < n; i++)
			sq += (values[i] - mean) * (values[i] - mean);
		rmsd = sqrt(sq / (double)n);
		if (!(rmsd > 0) || !isfinite(rmsd)) {
			snprintf(err, MLIP_PLUGIN_ERR_MAX,
				 "cannot fit rmsd: all %zu values equal the mean %g; give 'rmsd' explicitly",
				 n, mean);
			return 1;
		}
	}
	s->mean = mean;
	s->rmsd = rmsd;
	s->fitted = 1;
	return 0;
}

static int not_fitted(const struct rmsd *s, char *err)
{
	if (s->fitted)
		return 0;
	snprintf(err, MLIP_PLUGIN_ERR_MAX, "not fitted (fit it or give 'mean' and 'rmsd')");
	return 1;
}

static int rmsd_norm(void *state, double *out, const double *in, size_t n, char *err)
{
	const struct rmsd *s = state;
	if (not_fitted(s, err))
		return 1;
	for (size_t i = 0; i < n; i++)
		out[i] = (in[i] - s->mean) / s->rmsd;
	return 0;
}

static int rmsd_denorm(void *state, double *out, const double *in, size_t n, char *err)
{
	const struct rmsd *s = state;
	if (not_fitted(s, err))
		return 1;
	for (size_t i = 0; i < n; i++)
		out[i] = in[i] * s->rmsd + s->mean;
	return 0;
}

static long rmsd_save(void *state, char *buf, size_t cap, char *err)
{
	const struct rmsd *s = state;
	if (not_fitted(s, err))
		return -1;
	return snprintf(buf, cap, "{\"mean\": %.17g, \"rmsd\": %.17g}", s->mean, s->rmsd);
}

static int rmsd_load(void *state, const char *json, char *err)
{
	struct rmsd *s = state;
	struct mlip_plugin_param p;
	size_t pos = 0;
	double mean = 0, rmsd = 0;
	int have = 0, r;
	while ((r = mlip_plugin_params_next(json, &pos, &p, err)) > 0) {
		if (!strcmp(p.key, "mean")) {
			if (mlip_plugin_param_double(&p, &mean, err))
				return 1;
			have |= 1;
		} else if (!strcmp(p.key, "rmsd")) {
			if (mlip_plugin_param_double(&p, &rmsd, err))
				return 1;
			have |= 2;
		} else {
			snprintf(err, MLIP_PLUGIN_ERR_MAX, "unknown key '%s' in saved state", p.key);
			return 1;
		}
	}
	if (r < 0)
		return 1;
	if (have != 3 || !(rmsd > 0)) {
		snprintf(err, MLIP_PLUGIN_ERR_MAX, "saved state needs 'mean' and a positive 'rmsd'");
		return 1;
	}
	s->mean = mean;
	s->rmsd = rmsd;
	s->fitted = 1;
	return 0;
}

static const struct mlip_plugin_ops rmsd_ops = {
	.ops_size = sizeof(struct mlip_plugin_ops),
	.create = rmsd_create,
	.destroy = rmsd_destroy,
	.fit = rmsd_fit,
	.norm = rmsd_norm,
	.denorm = rmsd_denorm,
	.save = rmsd_save,
	.load = rmsd_load,
};

static const struct mlip_plugin rmsd_plugin = {
	.abi = MLIP_PLUGIN_ABI,
	.struct_size = sizeof(struct mlip_plugin),
	.kind = "normalizer",
	.name = "rmsd",
	.version = "1.0.0",
	.description = "(t - mean) / rmsd, mean and rmsd fitted or given",
	.ops = &rmsd_ops,
	.flags = 0,
};

MLIP_PLUGIN_EXPORT const struct mlip_plugin *mlip_plugin_entry(void)
{
	return &rmsd_plugin;
}
