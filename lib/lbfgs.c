/*
 * lbfgs.c - L-BFGS with an Armijo backtracking line search (see lbfgs.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lbfgs.h"
#include "banned.h"

#define ARMIJO_C1 1e-4
#define FIRST_STEP_LENGTH 1e-2

int mlip_lbfgs_init(struct mlip_lbfgs *lb, size_t n, size_t m, struct mlip_err *err)
{
	memset(lb, 0, sizeof(*lb));
	if (n == 0 || m == 0)
		return mlip_err_set(err, MLIP_EINVAL, "l-bfgs: needs at least one variable and one pair");
	lb->n = n;
	lb->m = m;
	lb->s = calloc(m * n, sizeof(double));
	lb->y = calloc(m * n, sizeof(double));
	lb->rho = calloc(m, sizeof(double));
	lb->alpha = calloc(m, sizeof(double));
	lb->g = calloc(n, sizeof(double));
	lb->d = calloc(n, sizeof(double));
	lb->xt = calloc(n, sizeof(double));
	lb->gt = calloc(n, sizeof(double));
	if (!lb->s || !lb->y || !lb->rho || !lb->alpha || !lb->g || !lb->d || !lb->xt || !lb->gt) {
		mlip_lbfgs_release(lb);
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	}
	return MLIP_OK;
}

void mlip_lbfgs_release(struct mlip_lbfgs *lb)
{
	free(lb->s);
	free(lb->y);
	free(lb->rho);
	free(lb->alpha);
	free(lb->g);
	free(lb->d);
	free(lb->xt);
	free(lb->gt);
	free(lb->h0);
	memset(lb, 0, sizeof(*lb));
}

static double dot(const double *a, const double *b, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += a[i] * b[i];
	return s;
}

int mlip_lbfgs_set_scaling(struct mlip_lbfgs *lb, const double *h0, struct mlip_err *err)
{
	if (!h0) {
		free(lb->h0);
		lb->h0 = NULL;
		return MLIP_OK;
	}
	for (size_t i = 0; i < lb->n; i++)
		if (!(h0[i] > 0) || !isfinite(h0[i]))
			return mlip_err_set(err, MLIP_EINVAL, "l-bfgs: scaling %zu is %g, not positive "
					    "and finite", i, h0[i]);
	if (!lb->h0 && !(lb->h0 = malloc(lb->n * sizeof(double))))
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	memcpy(lb->h0, h0, lb->n * sizeof(double));
	return MLIP_OK;
}

static int all_finite(const double *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!isfinite(x[i]))
			return 0;
	return 1;
}

int mlip_lbfgs_start(struct mlip_lbfgs *lb, const double *x, mlip_lbfgs_fn fn, void *ctx,
		     struct mlip_err *err)
{
	int rc = fn(ctx, x, &lb->f, lb->g, err);
	if (rc)
		return rc;
	lb->k = lb->head = 0;
	if (!isfinite(lb->f) || !all_finite(lb->g, lb->n))
		return mlip_err_set(err, MLIP_ERUN, "l-bfgs: non-finite loss or gradient at the starting point");
	return MLIP_OK;
}

/* d := −H g by the two-loop recursion, oldest pair last in the first loop;
 * H₀ = γD with γ = sᵀy / yᵀDy of the newest pair (D = I without scaling). */
static void direction(struct mlip_lbfgs *lb)
{
	size_t n = lb->n, m = lb->m;
	double *d = lb->d;
	for (size_t i = 0; i < n; i++)
		d[i] = -lb->g[i];
	for (size_t c = lb->k; c-- > 0;) {
		size_t j = (lb->head + c) % m;
		double a = lb->rho[j] * dot(lb->s + j * n, d, n);
		const double *y = lb->y + j * n;
		lb->alpha[j] = a;
		for (size_t i = 0; i < n; i++)
			d[i] -= a * y[i];
	}
	const double *h0 = lb->h0;
	if (lb->k > 0) {
		size_t j = (lb->head + lb->k - 1) % m;
		const double *y = lb->y + j * n;
		double ydy = 0;
		for (size_t i = 0; i < n; i++)
			ydy += y[i] * (h0 ? h0[i] : 1) * y[i];
		double gamma = 1.0 / (lb->rho[j] * ydy);
		for (size_t i = 0; i < n; i++)
			d[i] *= gamma * (h0 ? h0[i] : 1);
	} else if (h0) {
		for (size_t i = 0; i < n; i++)
			d[i] *= h0[i];
	}
	for (size_t c = 0; c < lb->k; c++) {
		size_t j = (lb->head + c) % m;
		double a = lb->alpha[j] - lb->rho[j] * dot(lb->y + j * n, d, n);
		const double *s = lb->s + j * n;
		for (size_t i = 0; i < n; i++)
			d[i] += a * s[i];
	}
}

/* Store (x_new − x_old, g_new − g_old) unless its curvature is not clearly positive. */
static void push_pair(struct mlip_lbfgs *lb, const double *x_new, const double *x_old,
		      const double *g_new, const double *g_old)
{
	size_t n = lb->n, m = lb->m, j;
	double sy = 0, ss = 0, yy = 0;
	for (size_t i = 0; i < n; i++) {
		double si = x_new[i] - x_old[i], yi = g_new[i] - g_old[i];
		sy += si * yi;
		ss += si * si;
		yy += yi * yi;
	}
	if (!(sy > 1e-10 * sqrt(ss * yy)))
		return;
	if (lb->k < m) {
		j = (lb->head + lb->k) % m;
		lb->k++;
	} else {
		j = lb->head;
		lb->head = (lb->head + 1) % m;
	}
	double *s = lb->s + j * n, *y = lb->y + j * n;
	for (size_t i = 0; i < n; i++) {
		s[i] = x_new[i] - x_old[i];
		y[i] = g_new[i] - g_old[i];
	}
	lb->rho[j] = 1.0 / sy;
}

int mlip_lbfgs_iterate(struct mlip_lbfgs *lb, double *x, mlip_lbfgs_fn fn, void *ctx,
		       size_t *evals, int *moved, struct mlip_err *err)
{
	size_t n = lb->n;
	int rc;
	*moved = 0;
	direction(lb);
	double gd = dot(lb->g, lb->d, n);
	if (!(gd < 0)) {                 /* not a descent direction: steepest descent, no pairs */
		lb->k = lb->head = 0;
		direction(lb);
		gd = dot(lb->g, lb->d, n);
		if (!(gd < 0))
			return MLIP_OK;  /* zero gradient */
	}
	double step = 1.0;
	if (lb->k == 0)
		step = fmin(1.0, FIRST_STEP_LENGTH / sqrt(dot(lb->d, lb->d, n)));
	for (int trial = 0; trial < MLIP_LBFGS_MAX_TRIALS; trial++) {
		double ft;
		for (size_t i = 0; i < n; i++)
			lb->xt[i] = x[i] + step * lb->d[i];
		if ((rc = fn(ctx, lb->xt, &ft, lb->gt, err)))
			return rc;
		(*evals)++;
		int finite = isfinite(ft) && all_finite(lb->gt, n);
		if (finite && ft <= lb->f + ARMIJO_C1 * step * gd) {
			push_pair(lb, lb->xt, x, lb->gt, lb->g);
			memcpy(x, lb->xt, n * sizeof(double));
			memcpy(lb->g, lb->gt, n * sizeof(double));
			lb->f = ft;
			*moved = 1;
			return MLIP_OK;
		}
		double next = 0.1 * step;
		if (finite) {
			double curv = ft - lb->f - gd * step;
			if (curv > 0)
				next = -gd * step * step / (2 * curv);
		}
		step = fmin(fmax(next, 0.1 * step), 0.5 * step);
	}
	return MLIP_OK;
}
