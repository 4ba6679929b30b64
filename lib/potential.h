/*
 * potential.h - a trained potential: the resolved configuration, the model
 * with its weights, and the tasks with their fitted normalizers and element
 * references. This is what an inference checkpoint (model.mlip, mlip-ckpt(5))
 * holds and what mlip-eval and mlip-finetune-init load.
 *
 * The inference checkpoint is a ckpt.h container whose JSON header is
 *   {"format": "mlip-model", "version": 1, "mlip": "X.Y.Z",
 *    "config": "<resolved YAML text>",
 *    "descriptors": [{"kind": 2, "z": 14, "z1": 14, "z2": 0, "eta": ..., "rs": ...,
 *                     "lambda": ..., "zeta": ..., "rc": ...}, ...],
 *    "n_params": N, "tensors": [{"name", "shape", "offset", "count", "flags"}, ...],
 *    "tasks_state": {...mlip_tasks_state_to_json...},
 *    "heads": [{"name", "scale", "shift", "element_references": {"Si": ...} | null}, ...],
 *    "blobs": ["ema", "raw"]  (or ["raw"], or ["raw", "ema"] with raw primary)}
 * followed by the blobs in that order; the first is the primary weights
 * (what predictions use). A checkpoint without EMA holds only "raw".
 */
#ifndef MLIP_POTENTIAL_H
#define MLIP_POTENTIAL_H

#include <stddef.h>

#include "config.h"
#include "error.h"
#include "model.h"
#include "modelfile.h"
#include "plugin.h"
#include "tasks.h"

struct mlip_potential {
	struct mlip_config cfg;    /* resolved configuration (owned) */
	struct mlip_model *model;  /* model->params hold the weights in use */
	struct mlip_tasks tasks;
	int has_raw, has_ema;      /* which blobs a loaded checkpoint held */
	double *raw, *ema;         /* (n_params) copies of the loaded blobs, or NULL */
};

/*
 * Build a fresh potential from cfg (taken over: cfg is zeroed): the model
 * with initial weights and the tasks (not fitted). reg must outlive p.
 */
int mlip_potential_create(struct mlip_potential *p, struct mlip_config *cfg,
			  struct mlip_plugins *reg, struct mlip_err *err);
void mlip_potential_release(struct mlip_potential *p);

/*
 * Write an inference checkpoint (atomic). raw: the raw weights (n_params);
 * ema: the EMA weights or NULL; ema_primary: whether predictions use EMA.
 * The tasks must be fitted.
 */
int mlip_potential_save(const struct mlip_potential *p, const char *path, const double *raw,
			const double *ema, int ema_primary, struct mlip_err *err);

/*
 * Load an inference checkpoint and put the chosen weights into the model
 * (EMA requested from a checkpoint without EMA: MLIP_EDATA). Errors name the
 * file: not a checkpoint, damaged, tensors that do not match the model its
 * config builds.
 */
int mlip_potential_load(struct mlip_potential *p, const char *path, struct mlip_plugins *reg,
			enum mlip_weights which, struct mlip_err *err);

/*
 * Load a training checkpoint directory (any world size, either strategy):
 * the config from its resume.yaml, the fitted task state, the raw weights
 * into the model and p->raw, the EMA (when the run kept one) into p->ema.
 */
int mlip_potential_from_run(struct mlip_potential *p, const char *ckpt_dir,
			    struct mlip_plugins *reg, struct mlip_err *err);

/*
 * Evaluate batch b: physical energies (B, H), forces (N, 3, H), stress
 * (B, 9, H) into caller buffers (forces / stress may be NULL when not
 * wanted).
 */
int mlip_potential_predict(struct mlip_potential *p, const struct mlip_batch *b, double *energy,
			   double *forces, double *stress, struct mlip_err *err);

#endif
