/*
 * loss.h - a task's loss: a loss plugin (per-entry values and gradients)
 * plus the host-side reduction, coefficient and the exact gradient of the
 * reduced loss with respect to the predictions (share/doc/TRAINING.md, "Losses").
 *
 * Rows and entries. A task's predictions are rows of width d: one row per
 * system for system-level tasks (energy d = 1, stress d = 9), one per atom
 * for atom-level tasks (forces d = 3). A row is valid when its mask is set.
 * The plugin turns each valid row into entries:
 *   - per component (mae, mse, huber, per_atom_mae, per_atom_mse): d entries
 *     per row, as fairchem counts the elements of the masked tensor; for
 *     system energies (d = 1) one entry is one system;
 *   - per row (plugins flagged MLIP_LOSS_PER_ROW, i.e. l2norm): one entry per
 *     row, so for forces one entry per atom.
 *
 * Reductions, with l the entries of valid rows and c the coefficient:
 *   mean          L = c * sum(l) / max(G, 1), G = the number of valid entries
 *                 summed over all ranks (the caller adds up mlip_loss_count
 *                 over ranks), so L is the exact global mean for any W;
 *   sum           L = c * sum(l);
 *   per_structure L = c * sum_s (sum of l in s / a_s) / max(S, 1) over the
 *                 structures s with a_s >= 1 valid atom, S their number over
 *                 all ranks. a_s is the number of valid rows of s for
 *                 atom-level tasks and n_s (its atom count) for a valid
 *                 system-level row.
 * With no valid entry the loss is 0 and its gradient 0, never a division
 * error.
 */
#ifndef MLIP_LOSS_H
#define MLIP_LOSS_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "plugin.h"

enum mlip_reduction {
	MLIP_REDUCE_MEAN = 0,
	MLIP_REDUCE_SUM = 1,
	MLIP_REDUCE_PER_STRUCTURE = 2,
};

/* One task's rows in one batch (all borrowed). */
struct mlip_loss_batch {
	size_t n_rows;            /* rows: systems (system level) or atoms (atom level) */
	size_t width;             /* d: components per row */
	const double *pred;       /* (n_rows, width) */
	const double *target;     /* (n_rows, width); masked rows are not read by the built-in plugins */
	const uint8_t *mask;      /* (n_rows) nonzero = valid; NULL = every row valid */
	size_t n_systems;         /* systems in the batch */
	const size_t *natoms;     /* (n_systems) atoms per system */
	const size_t *system;     /* (n_rows) system of each atom row; NULL for system level,
	                           * where row b is system b and n_rows == n_systems */
};

struct mlip_loss {
	const struct mlip_plugin *plugin;  /* borrowed from the registry */
	void *state;                       /* the plugin's, from create() */
	double coefficient;
	enum mlip_reduction reduction;
};

/* "mean", "sum" or "per_structure" to *out; MLIP_EINVAL naming s otherwise. */
int mlip_reduction_parse(const char *s, enum mlip_reduction *out, struct mlip_err *err);

/* The config name of r ("mean", ...). */
const char *mlip_reduction_name(enum mlip_reduction r);

/*
 * Find the loss plugin `name` in reg (loading it if need be) and create its
 * state from params (text, see mlip_plugin.h; NULL = none). The registry
 * must outlive the loss. MLIP_EPLUGIN for a missing or broken plugin or
 * rejected params, MLIP_EINVAL for a non-finite coefficient.
 *
 *     struct mlip_loss l;
 *     rc = mlip_loss_init(&l, &reg, "huber", "{delta: 0.1}", 1.0, MLIP_REDUCE_MEAN, &err);
 */
int mlip_loss_init(struct mlip_loss *loss, struct mlip_plugins *reg, const char *name,
		   const char *params, double coefficient, enum mlip_reduction reduction,
		   struct mlip_err *err);

/* Destroy the plugin state; loss may be released twice. */
void mlip_loss_release(struct mlip_loss *loss);

/* Entries per valid row: 1 for per-row losses, else width. */
size_t mlip_loss_entries_per_row(const struct mlip_loss *loss, size_t width);

/*
 * This rank's share of the reduction's count: valid entries for mean (and
 * sum, where it is informational), structures with a valid atom for
 * per_structure. The caller sums it over ranks and passes the total to
 * mlip_loss_forward. MLIP_EINVAL for an inconsistent batch.
 */
int mlip_loss_count(const struct mlip_loss *loss, const struct mlip_loss_batch *b, size_t *count,
		    struct mlip_err *err);

/*
 * The per-entry loss, (n_rows, entries per row), and, if dell is not NULL,
 * the per-entry gradient d l / d pred, (n_rows, width), straight from the
 * plugin (masked rows 0). Both overwrite. MLIP_EPLUGIN when the plugin
 * fails or has no grad.
 */
int mlip_loss_entries(const struct mlip_loss *loss, const struct mlip_loss_batch *b, double *ell,
		      double *dell, struct mlip_err *err);

/*
 * The reduced loss into *out, with global_count the sum of mlip_loss_count
 * over ranks (ignored by sum). If dpred is not NULL, ADDS d out / d pred to
 * it, (n_rows, width): several tasks may share one head. Allocates scratch
 * per call. MLIP_EINVAL for an inconsistent batch, MLIP_EPLUGIN from the
 * plugin, MLIP_ENOMEM.
 *
 *     size_t g; mlip_loss_count(&l, &b, &g, &err);
 *     // MPI_Allreduce(MPI_IN_PLACE, &g, 1, MPI_UINT64_T, MPI_SUM, comm);
 *     rc = mlip_loss_forward(&l, &b, g, &value, dpred, &err);
 */
int mlip_loss_forward(const struct mlip_loss *loss, const struct mlip_loss_batch *b,
		      size_t global_count, double *out, double *dpred, struct mlip_err *err);

#endif
