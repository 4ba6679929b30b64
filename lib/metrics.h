/*
 * metrics.h - running error metrics per (dataset, task), in physical units,
 * as micro-averages over every valid entry seen (Σ error / Σ count), so that
 * sums from several batches or ranks combine exactly (share/doc/TRAINING.md, Metrics).
 *
 * Per (dataset, task) one accumulator of sums; the metric values are derived
 * at the end:
 *   mae, mse, rmse        over components (energy: one per system; forces:
 *                         three per atom; stress: nine per system);
 *                         rmse = sqrt(mse), a true root of the mean
 *   per_atom_mae/_mse     energy: |ΔE| / n_b and (ΔE / n_b)² per system
 *   cosine_similarity     forces: mean over atoms of p·t / (|p| |t|)
 *                         (0 when either vector is zero)
 *   magnitude_error       forces: mean over atoms of | |p| − |t| |
 *   energy_within_threshold  fraction of systems with |ΔE| < threshold
 * A (dataset, task) without a valid entry reports null.
 */
#ifndef MLIP_METRICS_H
#define MLIP_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

enum mlip_metric {
	MLIP_METRIC_MAE = 0,
	MLIP_METRIC_MSE,
	MLIP_METRIC_RMSE,
	MLIP_METRIC_PER_ATOM_MAE,
	MLIP_METRIC_PER_ATOM_MSE,
	MLIP_METRIC_COSINE_SIMILARITY,
	MLIP_METRIC_MAGNITUDE_ERROR,
	MLIP_METRIC_ENERGY_WITHIN_THRESHOLD,
	MLIP_METRIC_COUNT
};

/* "mae" -> MLIP_METRIC_MAE; -1 if unknown. */
int mlip_metric_parse(const char *name);
const char *mlip_metric_name(enum mlip_metric m);

/* The sums of one (dataset, task); all doubles so that one MPI sum reduces them. */
struct mlip_metric_sums {
	double n_comp;      /* components */
	double abs_err;     /* Σ |p − t| over components */
	double sq_err;      /* Σ (p − t)² */
	double n_rows;      /* rows (systems or atoms) */
	double pa_abs;      /* Σ |ΔE| / n_b */
	double pa_sq;       /* Σ (ΔE / n_b)² */
	double cos;         /* Σ cosine similarity per row */
	double mag;         /* Σ | |p| − |t| | per row */
	double within;      /* systems with |ΔE| < threshold */
};
#define MLIP_METRIC_NSUMS (sizeof(struct mlip_metric_sums) / sizeof(double))

struct mlip_metrics {
	size_t n_datasets, n_tasks;
	char **datasets;                  /* (n_datasets) owned */
	struct mlip_metric_sums *sums;    /* (n_datasets, n_tasks) */
};

/* Datasets are added on first use; n_tasks is fixed. */
int mlip_metrics_init(struct mlip_metrics *m, size_t n_tasks, struct mlip_err *err);
void mlip_metrics_release(struct mlip_metrics *m);

/* Index of dataset name, adding it if new; -1 when out of memory. */
long mlip_metrics_dataset(struct mlip_metrics *m, const char *name);

/*
 * Add one row of width d (1 energy, 3 forces, 9 stress) of task t on dataset
 * index ds. natoms is the system's atom count (energy per-atom metrics),
 * threshold the energy_within_threshold bound in eV.
 */
void mlip_metrics_add_row(struct mlip_metrics *m, size_t ds, size_t t, const double *pred,
			  const double *target, size_t d, size_t natoms, double threshold);

/*
 * Make every rank hold the same datasets in the same (sorted) order and sum
 * the accumulators over ranks. Call on every rank.
 */
int mlip_metrics_reduce(struct mlip_metrics *m, struct mlip_err *err);

/*
 * The value of metric k of (ds, t); returns 0 when there is no valid entry
 * (the JSON writer then prints null).
 */
int mlip_metrics_value(const struct mlip_metrics *m, size_t ds, size_t t, enum mlip_metric k,
		       double *value);

#endif
