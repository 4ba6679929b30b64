/*
 * normalizer.h - a task's normalizer: a normalizer plugin plus its
 * parameters, with fit, norm / denorm and a JSON state for checkpoints
 * (share/doc/TRAINING.md, "Element references and normalizers").
 *
 * The standard plugin is `rmsd`: norm(t) = (t - mean) / rmsd,
 * denorm(y) = y * rmsd + mean, params `mean` and `rmsd` each optional and
 * fitted when absent. An energy head passes "mean: 0". `identity` does
 * nothing.
 *
 * JSON state (mlip_normalizer_to_json):
 *   {"name": "rmsd", "version": "1.0.0", "params": "<params text or null>",
 *    "state": {"mean": 0, "rmsd": 1.25}}
 * "state" is the plugin's own save() text (null when it has no save op);
 * version is informational.
 */
#ifndef MLIP_NORMALIZER_H
#define MLIP_NORMALIZER_H

#include <stddef.h>

#include "error.h"
#include "plugin.h"

struct mlip_normalizer {
	const struct mlip_plugin *plugin;  /* borrowed from the registry */
	void *state;                       /* the plugin's, from create() */
	char *params;                      /* owned copy of the params text, or NULL */
};

/*
 * Find the normalizer plugin `name` in reg and create it from params (text,
 * NULL = none). The registry must outlive the normalizer. MLIP_EPLUGIN for
 * a missing or broken plugin or rejected params, MLIP_ENOMEM.
 *
 *     struct mlip_normalizer n;
 *     rc = mlip_normalizer_init(&n, &reg, "rmsd", "mean: 0", &err);
 */
int mlip_normalizer_init(struct mlip_normalizer *n, struct mlip_plugins *reg, const char *name,
			 const char *params, struct mlip_err *err);

/* Destroy the state and free params; n may be released twice. */
void mlip_normalizer_release(struct mlip_normalizer *n);

/*
 * Fit to count raw values (a plugin without fit needs none: no-op).
 * MLIP_EPLUGIN with the plugin's reason (no values, all equal, not finite).
 */
int mlip_normalizer_fit(struct mlip_normalizer *n, const double *values, size_t count,
			struct mlip_err *err);

/* out[i] = norm(in[i]) for i < count; out may equal in. MLIP_EPLUGIN if not fitted. */
int mlip_normalizer_norm(const struct mlip_normalizer *n, double *out, const double *in,
			 size_t count, struct mlip_err *err);

/* out[i] = denorm(in[i]); out may equal in. MLIP_EPLUGIN if not fitted. */
int mlip_normalizer_denorm(const struct mlip_normalizer *n, double *out, const double *in,
			   size_t count, struct mlip_err *err);

/*
 * denorm as an affine map y -> scale * y + shift (shift = denorm(0),
 * scale = denorm(1) - denorm(0)): what forces and stress, derivatives of
 * the energy, need (they take scale and mean 0). MLIP_EPLUGIN if the
 * plugin is not affine (checked at y = -1 and 2, relative 1e-12).
 */
int mlip_normalizer_affine(const struct mlip_normalizer *n, double *scale, double *shift,
			   struct mlip_err *err);

/*
 * The state as a JSON text (layout above) into *json, malloc'd, owned by
 * the caller. MLIP_EPLUGIN if the plugin cannot save (e.g. not fitted).
 */
int mlip_normalizer_to_json(const struct mlip_normalizer *n, char **json, struct mlip_err *err);

/*
 * Make n (uninitialized) from a JSON text written by
 * mlip_normalizer_to_json: find the plugin by name in reg, create it with
 * the saved params and load the saved state. MLIP_EDATA for malformed
 * JSON, MLIP_EPLUGIN for a plugin failure.
 */
int mlip_normalizer_from_json(struct mlip_normalizer *n, struct mlip_plugins *reg,
			      const char *json, struct mlip_err *err);

#endif
