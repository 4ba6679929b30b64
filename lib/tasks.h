/*
 * tasks.h - the supervised tasks of a run (share/doc/TRAINING.md): which model head
 * each task reads, masks by dataset / label presence / free atoms, element
 * references and normalizers per energy head, and the conversion between the
 * model's raw output and physical units.
 *
 * The model's raw output for head h is the normalized, referenced energy:
 *   E_phys = scale_h · E_raw + shift_h + Σ_i ref_h[Z_i]
 *   F_phys = scale_h · F_raw,   σ_phys = scale_h · σ_raw
 * (denorm(y) = scale·y + shift of the head's normalizer; 1 and 0 without
 * one). Losses are computed in raw space against targets mapped the other
 * way; metrics and predictions are in physical units.
 *
 * A head's normalizer and element references come from its energy task.
 * Forces and stress tasks of that head use its scale with mean 0; giving
 * them a normalizer of their own is an error unless it is the energy
 * task's, word for word. A head without an energy task may take its
 * normalizer from a forces task (mean 0, fitted on force components).
 *
 * Fitting (mlip_tasks_fit, float64, from the training batches):
 *   element references `fit`: least squares E_b ≈ Σ_Z count_b(Z) ref[Z] over
 *     the systems of the energy task's datasets that have an energy;
 *   normalizer (energy heads get `mean: 0` unless the config gives a mean):
 *     the root mean square of force components when a forces task reads
 *     the head, otherwise of referenced per-atom energies.
 */
#ifndef MLIP_TASKS_H
#define MLIP_TASKS_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "config.h"
#include "elements.h"
#include "error.h"
#include "loss.h"
#include "metrics.h"
#include "normalizer.h"
#include "plugin.h"

struct mlip_task {
	const struct mlip_config_task *cfg;  /* borrowed: the config outlives the tasks */
	size_t index;                        /* position in the task list */
	size_t head;                         /* model head index */
	size_t width;                        /* 1 energy, 3 forces, 9 stress */
	int atom_level;
	int has_loss;                        /* a loss plugin (not inference_only) */
	struct mlip_loss loss;
	size_t n_metrics;
	enum mlip_metric metrics[MLIP_METRIC_COUNT];
};

struct mlip_head {
	const char *name;                    /* borrowed from the config */
	long energy_task;                    /* the task that owns normalizer and refs, or -1 */
	int has_norm;
	struct mlip_normalizer norm;
	double scale, shift;                 /* denorm(y) = scale·y + shift */
	int has_elref;
	double elref[MLIP_MAX_Z + 1];        /* eV per atom of element Z */
};

struct mlip_tasks {
	size_t n_tasks;
	struct mlip_task *tasks;             /* (n_tasks) */
	size_t n_heads;
	struct mlip_head *heads;             /* (n_heads), in model head order */
	int fitted;                          /* normalizers and references are usable */
};

/*
 * Build tasks from cfg: resolve heads, load loss and normalizer plugins from
 * reg, check the energy-head scale rule. Element reference tables given in
 * the config are filled in; `fit` and fitted normalizers wait for
 * mlip_tasks_fit. MLIP_EINVAL naming the task for configuration conflicts,
 * MLIP_EPLUGIN from plugins.
 */
int mlip_tasks_init(struct mlip_tasks *t, const struct mlip_config *cfg,
		    struct mlip_plugins *reg, struct mlip_err *err);
void mlip_tasks_release(struct mlip_tasks *t);

/* Fit element references and normalizers from n training batches. */
int mlip_tasks_fit(struct mlip_tasks *t, const struct mlip_batch *const *b, size_t n,
		   struct mlip_err *err);

/*
 * Fine-tuning: give every head of t that configures neither a normalizer nor
 * element references (element_references absent or none) those of the head
 * of the same name in base. Heads that configure their own keep them (fitted
 * by mlip_tasks_fit). Call after mlip_tasks_fit.
 */
int mlip_tasks_inherit(struct mlip_tasks *t, const struct mlip_tasks *base,
		       struct mlip_plugins *reg, struct mlip_err *err);

/*
 * The fitted state (normalizers and element references per head) as a JSON
 * text (malloc'd), and back. from_json needs tasks built from the same
 * config. Layout: {"heads": [{"name": "energy", "normalizer": {...} | null,
 * "element_references": {"Si": -5.4, ...} | null}, ...]}.
 */
int mlip_tasks_state_to_json(const struct mlip_tasks *t, char **json, struct mlip_err *err);
int mlip_tasks_state_from_json(struct mlip_tasks *t, struct mlip_plugins *reg, const char *json,
			       struct mlip_err *err);

/*
 * Row mask of task k on batch b (rows: systems or atoms): label present,
 * dataset listed, and for atom-level rows the atom free when free_only.
 * mask is (B) or (N). Returns the number of valid rows.
 */
size_t mlip_task_mask(const struct mlip_task *task, const struct mlip_batch *b, int free_only,
		      uint8_t *mask);

/*
 * Raw-space losses of one training batch. raw_* are the model's outputs
 * (energy (B, H), forces (N, 3, H), stress (B, 9, H); forces/stress may be
 * NULL when no task needs them). First mlip_tasks_loss_counts gives this
 * rank's counts (n_tasks); the caller sums them over ranks and passes the
 * totals to mlip_tasks_loss, which writes each task's loss (n_tasks) and
 * ADDS the gradients into dE (B, H), dF (N, 3, H), dS (B, 9, H) (zeroed by
 * the caller; dF / dS may be NULL when no task needs them).
 */
int mlip_tasks_loss_counts(const struct mlip_tasks *t, const struct mlip_batch *b,
			   uint64_t *counts, struct mlip_err *err);
int mlip_tasks_loss(const struct mlip_tasks *t, const struct mlip_batch *b, const double *raw_e,
		    const double *raw_f, const double *raw_s, const uint64_t *global_counts,
		    double *task_loss, double *dE, double *dF, double *dS, struct mlip_err *err);

/* Which model outputs the tasks need: MLIP_HAS_FORCES | MLIP_HAS_STRESS bits. */
unsigned mlip_tasks_needs(const struct mlip_tasks *t, int training);

/*
 * Physical-unit predictions for every head from raw outputs: energy (B, H),
 * forces (N, 3, H), stress (B, 9, H) (any output may be NULL).
 */
void mlip_tasks_physical(const struct mlip_tasks *t, const struct mlip_batch *b,
			 const double *raw_e, const double *raw_f, const double *raw_s,
			 double *energy, double *forces, double *stress);

/*
 * Add a batch to metrics (physical predictions as from mlip_tasks_physical),
 * on rows with the eval mask of each task (inference-only tasks are skipped).
 */
int mlip_tasks_add_metrics(const struct mlip_tasks *t, struct mlip_metrics *m,
			   const struct mlip_batch *b, const double *energy, const double *forces,
			   const double *stress, struct mlip_err *err);

/* Index of the task named name, or -1. */
long mlip_tasks_find(const struct mlip_tasks *t, const char *name);

#endif
