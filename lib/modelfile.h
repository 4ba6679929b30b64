/*
 * modelfile.h - the model part of an inference checkpoint (the file is
 * described in potential.h): what predicting needs, without the tasks'
 * plugins. potential.c builds on it; so does the public API (api.c).
 */
#ifndef MLIP_MODELFILE_H
#define MLIP_MODELFILE_H

#include <stddef.h>

#include <jansson.h>

#include "ckpt.h"
#include "config.h"
#include "elements.h"
#include "error.h"
#include "model.h"

/*
 * The model configuration of a config's `model:` section. Explicit
 * descriptors are expanded for every central element (*sf, malloc'd, the
 * caller frees); NULL and 0 mean the model's default set.
 */
int mlip_potential_model_config(const struct mlip_config_model *cm,
				struct mlip_model_config *mc, struct mlip_sf **sf,
				struct mlip_err *err);

enum mlip_weights { MLIP_WEIGHTS_PRIMARY, MLIP_WEIGHTS_RAW, MLIP_WEIGHTS_EMA };

/*
 * Read the container at path into c, its JSON header into *root (the
 * caller decrefs it, also on failure), the resolved config into cfg and the
 * descriptor list into *sf (malloc'd, *n_sf entries). MLIP_EDATA for a file
 * that is not an inference checkpoint.
 */
int mlip_modelfile_open(const char *path, struct mlip_ckpt *c, json_t **root,
			struct mlip_config *cfg, struct mlip_sf **sf, size_t *n_sf,
			struct mlip_err *err);

/*
 * Check the header's tensor table against m, copy the blobs into *raw and
 * *ema (malloc'd, NULL when absent; the caller frees them, also on failure)
 * and put the weights `which` into m->params.
 */
int mlip_modelfile_weights(struct mlip_model *m, json_t *root, const struct mlip_ckpt *c,
			   enum mlip_weights which, double **raw, double **ema, const char *path,
			   struct mlip_err *err);

/*
 * What a program needs to predict with a model file alone (libmlip,
 * mlip.h): the model with its primary weights, and per head the map from
 * raw outputs to physical units, E = scale·E_raw + shift + Σ_i elref[Z_i],
 * F = scale·F_raw, σ = scale·σ_raw (tasks.h). No plugin is loaded: the
 * maps are the file's "heads" list (written since 0.1.0 by
 * mlip_potential_save), or for older files read from the states of the
 * normalizers that ship with mlip (rmsd, identity). heads holds
 * MLIP_MAX_HEADS entries; the model's n_heads are filled.
 */
struct mlip_head_map {
	char name[MLIP_NAME_MAX];
	double scale, shift;
	int has_elref;
	double elref[MLIP_MAX_Z + 1];  /* eV per atom of element Z; 0 where absent */
};

int mlip_modelfile_load(const char *path, struct mlip_model **model,
				  struct mlip_head_map *heads, struct mlip_err *err);

#endif
