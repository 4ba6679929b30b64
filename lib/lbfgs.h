/*
 * lbfgs.h - limited-memory BFGS minimisation of a smooth function of n
 * variables (Nocedal & Wright, algorithms 7.4 and 7.5), one iteration per
 * call, with a backtracking line search on the Armijo condition.
 *
 * The caller supplies f(x) and ∇f(x) through a callback. Everything is
 * deterministic: under MPI every rank runs the same iterations on the same
 * (all-reduced) values and stays in step without further communication. The
 * state between iterations is the current f and g and the stored pairs
 * (k, head, s, y, rho): saving and restoring those (mlip_lbfgs_state_*)
 * continues the minimisation bit for bit.
 *
 * Line search: the first trial is the step of length 1 along the two-loop
 * direction (H₀ = γD, γ = sᵀy/yᵀDy of the newest pair, D a fixed positive
 * diagonal, the identity unless mlip_lbfgs_set_scaling gave one); without
 * pairs it is −Dg scaled to length min(|Dg|, 0.01). A trial is accepted when
 * f ≤ f₀ + 1e-4·step·gᵀd; otherwise the step is replaced by the minimiser
 * of the quadratic through f₀, gᵀd and the trial, kept in [0.1, 0.5] of
 * the previous step (a non-finite value counts as a failed trial). A pair
 * is stored only when its curvature yᵀs is clearly positive.
 *
 * Example:
 *     struct mlip_lbfgs lb;
 *     int moved = 1;
 *     size_t evals = 0;
 *     mlip_lbfgs_init(&lb, n, 10, &err);
 *     rc = mlip_lbfgs_start(&lb, x, fn, ctx, &err);
 *     while (!rc && moved && evals < budget)
 *             rc = mlip_lbfgs_iterate(&lb, x, fn, ctx, &evals, &moved, &err);
 *     mlip_lbfgs_release(&lb);
 */
#ifndef MLIP_LBFGS_H
#define MLIP_LBFGS_H

#include <stddef.h>

#include "error.h"

/* f := f(x), g := ∇f(x); a non-zero return stops with that status. */
typedef int (*mlip_lbfgs_fn)(void *ctx, const double *x, double *f, double *g,
			     struct mlip_err *err);

#define MLIP_LBFGS_MAX_TRIALS 20

struct mlip_lbfgs {
	size_t n, m;          /* variables, pairs kept */
	/* the state (what a checkpoint keeps) */
	size_t k;             /* pairs stored (<= m) */
	size_t head;          /* slot of the oldest pair */
	double *s, *y;        /* (m, n) x_{i+1} − x_i and g_{i+1} − g_i by slot */
	double *rho;          /* (m) 1 / yᵀs by slot */
	double *g;            /* (n) gradient at the current point */
	double f;             /* value at the current point */
	/* scratch */
	double *alpha, *d, *xt, *gt;
	double *h0;           /* (n) D, or NULL: the identity (set_scaling; not state) */
};

/* Allocate for n variables and m pairs (both >= 1). MLIP_EINVAL, MLIP_ENOMEM. */
int mlip_lbfgs_init(struct mlip_lbfgs *lb, size_t n, size_t m, struct mlip_err *err);
void mlip_lbfgs_release(struct mlip_lbfgs *lb);

/*
 * H₀'s diagonal D up to scale (n positive finite values, copied), or NULL for
 * the identity. A good D (e.g. the inverse square root of AdamW's second
 * moments) makes the first steps and every step's H₀ account for parameters
 * of different scales, which γI cannot. D is not part of the saved state:
 * the caller sets the same D again after a restore. MLIP_EINVAL, MLIP_ENOMEM.
 */
int mlip_lbfgs_set_scaling(struct mlip_lbfgs *lb, const double *h0, struct mlip_err *err);

/* Evaluate the starting point (one call of fn) and forget every pair.
 * MLIP_ERUN if f or g is not finite there. */
int mlip_lbfgs_start(struct mlip_lbfgs *lb, const double *x, mlip_lbfgs_fn fn, void *ctx,
		     struct mlip_err *err);

/*
 * One iteration from the current point x (updated in place when a trial is
 * accepted): at most MLIP_LBFGS_MAX_TRIALS calls of fn, counted into *evals.
 * *moved = 0 when no trial decreased f enough, or there is no descent
 * direction: x is then unchanged and further iterations cannot help.
 */
int mlip_lbfgs_iterate(struct mlip_lbfgs *lb, double *x, mlip_lbfgs_fn fn, void *ctx,
		       size_t *evals, int *moved, struct mlip_err *err);

#endif
