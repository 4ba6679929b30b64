/*
 * lstsq.h - the exact solver of a linear model (`optim.name: lstsq`,
 * share/doc/TRAINING.md "Linear models"): regularised weighted least squares
 * on the energy, force and stress rows of the training tasks, through the
 * normal equations, summed over MPI ranks in one reduction and solved with
 * LAPACK.
 *
 * The model. With `model.hidden: []` every element network is one linear
 * layer, o_h(i) = Σ_d W_e[h][d] x_id + b_e[h] with x = (G − μ)/s the scaled
 * descriptor row of atom i (element e); the raw energy of a system is the
 * sum over its atoms. μ and s (mlip_model_fit_scaling) stay as they are; the
 * unknowns of head h are its rows of the w_out and b_out tensors, P columns:
 * per element, in model order, its D_e weights then its bias. Heads share
 * no parameter, so each head is its own problem with the same columns.
 *
 * Design rows (the same for every head; any descriptor, symmetry functions
 * or moment tensor basis):
 *   energy of system s   Σ_{i∈s, e_i=e} x_id;   bias: atoms of element e in s
 *   force on atom j      −∂/∂r_j of the energy column (bias: 0)
 *   stress of system s   (1/V) Σ_edges r ⊗ ∂/∂r of the energy column (bias: 0;
 *                        0 where the model reports no stress, V = 0)
 * The force and stress columns come from the descriptor's VJP with one-hot
 * cotangents, dG[i][d] = 1/s_d on the atoms of element e, several columns
 * per walk over the pairs (mlip_descriptor_vjp_multi, mlip_mtp_vjp_multi),
 * then mlip_env_gather, exactly as mlip_model_forward turns ∂o/∂G into
 * forces and stress. Cost per batch: about P VJP passes.
 *
 * Targets and weights come from the tasks (tasks.h), so that the quadratic
 * minimised is the training loss of mlip_tasks_loss for every quadratic
 * loss:
 *   y (raw space) = (E − shift − Σ_i ref[Z_i]) / scale,  F / scale,  σ / scale
 *   rows: the task's mask (datasets, label present, train_on_free_atoms)
 *   weight of a row component = c · p · r, with c the task's coefficient,
 *   p the plugin's factor (mse 1, per_atom_mse 1/n_s², n_s the atoms of the
 *   row's system) and r the reduction's: mean 1/G (G the task's valid
 *   entries over all ranks), sum 1, per_structure 1/(S·a_s) (loss.h).
 * Only mse and per_atom_mse are quadratic; any other loss is refused. Tasks
 * without a loss (inference_only) add no rows. A head that no task reads is
 * left as it is.
 *
 * Objective of head h, θ its P parameters, θ_w the weights without biases:
 *   Σ_rows w (a·θ − y)² + λ_h |θ_w|²,   λ_h = ridge · tr(N_ww) / P_w,
 * N = Σ w a aᵀ the normal matrix and tr(N_ww) / P_w the mean of its weight
 * diagonal: ridge is relative, so one value means the same whatever the
 * loss coefficients, units and dataset size (the default 1e-8 only bounds
 * the condition number near 1e8, where double precision still leaves eight
 * digits; MLIP_CFG_DEFAULT_RIDGE). Biases are not regularised (the energy zero is free).
 *
 * Solution: columns that no row touches (an element absent from the data,
 * a descriptor that is zero everywhere) are left out and their parameters
 * set to 0; the rest is solved by Cholesky (dpotrf/dpotrs), and when the
 * matrix is not positive definite (collinear columns with ridge 0) by the
 * symmetric eigendecomposition (dsyevd) as the minimum-norm least-squares
 * solution, eigenvalues below 1e-12 of the largest counting as 0; the
 * solver then logs a warning and says so in s->rank[h].
 *
 * MPI: every rank adds its own batches; mlip_lstsq_reduce sums the
 * accumulators (normal matrices, right-hand sides, target norms and the
 * tasks' counts: one buffer, one mlip_dist_sum_double) after combining
 * the ranks' status from the adds (mlip_dist_agree). mlip_lstsq_solve then
 * gives every rank rank 0's solution. Both are collective.
 *
 * Example:
 *     struct mlip_lstsq s;
 *     mlip_model_fit_scaling(m, train, n, &err);  mlip_tasks_fit(&tasks, train, n, &err);
 *     if ((rc = mlip_lstsq_init(&s, m, &tasks, 1e-8, &err))) ...
 *     for (k = rank; k < n && !rc; k += world) rc = mlip_lstsq_add(&s, m, &tasks, train[k], &err);
 *     if (!(rc = mlip_lstsq_reduce(&s, &err)))    (every rank, also after a failed add)
 *             rc = mlip_lstsq_solve(&s, m, &err);
 *     ... s.task_loss[k] ...
 *     mlip_lstsq_release(&s);
 */
#ifndef MLIP_LSTSQ_H
#define MLIP_LSTSQ_H

#include <stddef.h>
#include <stdint.h>

#include "batch.h"
#include "error.h"
#include "model.h"
#include "tasks.h"

/* A batch's design rows (the same for every head), (rows, P) row-major. */
struct mlip_lstsq_design {
	size_t n_systems, n_atoms;
	double *energy;   /* (B, P) */
	double *forces;   /* (N·3, P), or NULL when no task has forces */
	double *stress;   /* (B·9, P), or NULL when no task has stress */
};

/* Per task: what its rows' weights are made of (copied from the tasks at init). */
struct mlip_lstsq_task {
	size_t head;
	int active;              /* has a quadratic loss: adds rows */
	int per_atom;            /* per_atom_mse: rows weighted 1/n_s² */
	double coefficient;
	enum mlip_reduction reduction;
};

struct mlip_lstsq_work;

struct mlip_lstsq {
	size_t n_tasks, n_heads;
	size_t n_cols;                        /* P: Σ_e (D_e + 1) */
	size_t col0[MLIP_MAX_ELEMENTS];       /* element e's first weight column; its bias is
						 column col0[e] + D_e */
	size_t n_elements;
	size_t dim[MLIP_MAX_ELEMENTS];        /* D_e */
	double ridge;                         /* relative (above) */
	unsigned needs;                       /* MLIP_HAS_FORCES | MLIP_HAS_STRESS of the tasks */
	struct mlip_lstsq_task *task;         /* (n_tasks) */
	/*
	 * The accumulators, one buffer so that one reduction sums them: per task
	 * t, at t·stride: Σ ω a aᵀ (P, P; upper triangle, column-major as LAPACK
	 * reads it), Σ ω y a (P), Σ ω y², the reduction's count (G or S), with ω
	 * the row's weight without the global factor c·(1/G or 1/S).
	 */
	double *acc;                          /* (n_tasks, stride) */
	size_t stride;                        /* P² + P + 2 */
	int status;                           /* first failure of an add (reduce shares it) */
	int reduced;
	/* results of mlip_lstsq_solve */
	double lambda[MLIP_MAX_HEADS];        /* the absolute ridge λ_h used */
	size_t rank[MLIP_MAX_HEADS];          /* columns solved for (rank of the system) */
	size_t n_active[MLIP_MAX_HEADS];      /* columns touched by some row */
	double *task_loss;                    /* (n_tasks) each task's loss at the solution,
						 as mlip_tasks_loss sums it over the batches */
	struct mlip_lstsq_design design;      /* of the last mlip_lstsq_design */
	struct mlip_lstsq_work *work;         /* scratch (lstsq.c) */
};

/*
 * Check that m is linear (model.hidden empty) and that every task with a
 * loss has a quadratic one, and allocate for them. ridge >= 0 (relative, as
 * above). tasks must be fitted (mlip_tasks_fit) before the first add, and
 * m's scaling fitted too. MLIP_EINVAL naming the problem (hidden layers,
 * the task and its loss), MLIP_ENOMEM.
 */
int mlip_lstsq_init(struct mlip_lstsq *s, const struct mlip_model *m,
		    const struct mlip_tasks *tasks, double ridge, struct mlip_err *err);
void mlip_lstsq_release(struct mlip_lstsq *s);

/*
 * The design rows of batch b into s->design (valid until the next call;
 * forces and stress only as the tasks need them). Used by add; public for
 * tests and diagnostics. Errors as mlip_model_forward.
 */
int mlip_lstsq_design(struct mlip_lstsq *s, struct mlip_model *m, const struct mlip_batch *b,
		      struct mlip_err *err);

/*
 * Add batch b's rows of every task to the accumulators. A failure is also
 * kept in s->status, for mlip_lstsq_reduce. MLIP_EINVAL for tasks not
 * fitted; as mlip_lstsq_design; MLIP_ENOMEM.
 */
int mlip_lstsq_add(struct mlip_lstsq *s, struct mlip_model *m, const struct mlip_tasks *tasks,
		   const struct mlip_batch *b, struct mlip_err *err);

/*
 * Sum the accumulators over the MPI ranks (collective): first the ranks
 * agree on the worst status of their adds (a failed rank fails every rank,
 * err naming it), then one in-place sum. Without MPI a no-op but for the
 * status. Call once, after the last add.
 */
int mlip_lstsq_reduce(struct mlip_lstsq *s, struct mlip_err *err);

/*
 * Solve each head's normal equations and write the solution into m's w_out
 * and b_out (collective: every rank ends with rank 0's values). Fills
 * lambda, rank, n_active and task_loss. MLIP_EINVAL before reduce or for a
 * model of another layout than at init; MLIP_ERUN if LAPACK fails or the
 * system is not finite; MLIP_ENOMEM.
 */
int mlip_lstsq_solve(struct mlip_lstsq *s, struct mlip_model *m, struct mlip_err *err);

#endif
