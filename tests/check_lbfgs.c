/*
 * check_lbfgs.c - L-BFGS on functions with known minima (an ill-conditioned
 * quadratic, Rosenbrock's valley), the diagonal scaling of H₀, the state
 * round trip a checkpoint relies on, and its failure modes.
 */
#include <check.h>
#include <math.h>
#include <string.h>

#include "lbfgs.h"

/* f = ½ Σ c_i (x_i − i)², condition number 1e4 over 20 variables. */
#define QN 20
static int calls;

static int quadratic(void *ctx, const double *x, double *f, double *g, struct mlip_err *err)
{
	(void)ctx;
	(void)err;
	calls++;
	*f = 0;
	for (int i = 0; i < QN; i++) {
		double c = pow(1e4, (double)i / (QN - 1)), r = x[i] - i;
		*f += 0.5 * c * r * r;
		g[i] = c * r;
	}
	return MLIP_OK;
}

static int rosenbrock(void *ctx, const double *x, double *f, double *g, struct mlip_err *err)
{
	(void)ctx;
	(void)err;
	double a = 1 - x[0], b = x[1] - x[0] * x[0];
	*f = a * a + 100 * b * b;
	g[0] = -2 * a - 400 * x[0] * b;
	g[1] = 200 * b;
	return MLIP_OK;
}

/* Run up to `iters` iterations; returns the iterations that moved. */
static int minimise(struct mlip_lbfgs *lb, double *x, mlip_lbfgs_fn fn, int iters, size_t *evals)
{
	struct mlip_err err;
	int moved = 1, done = 0;
	while (done < iters && moved) {
		ck_assert_int_eq(mlip_lbfgs_iterate(lb, x, fn, NULL, evals, &moved, &err), MLIP_OK);
		done += moved;
	}
	return done;
}

START_TEST(test_quadratic_converges)
{
	struct mlip_lbfgs lb;
	struct mlip_err err;
	double x[QN] = { 0 };
	size_t evals = 0;
	calls = 0;
	ck_assert_int_eq(mlip_lbfgs_init(&lb, QN, 8, &err), MLIP_OK);
	ck_assert_int_eq(mlip_lbfgs_start(&lb, x, quadratic, NULL, &err), MLIP_OK);
	double f0 = lb.f;
	int it = minimise(&lb, x, quadratic, 3000, &evals);
	for (int i = 0; i < QN; i++)
		ck_assert_double_eq_tol(x[i], i, 1e-6);
	ck_assert(lb.f < 1e-12 * f0);
	ck_assert_int_eq((int)evals + 1, calls);       /* evaluations counted exactly */
	ck_assert(evals < 2 * (size_t)it + 20);          /* mostly one trial per iteration */
	mlip_lbfgs_release(&lb);
}
END_TEST

START_TEST(test_rosenbrock_converges)
{
	struct mlip_lbfgs lb;
	struct mlip_err err;
	double x[2] = { -1.2, 1.0 };
	size_t evals = 0;
	ck_assert_int_eq(mlip_lbfgs_init(&lb, 2, 5, &err), MLIP_OK);
	ck_assert_int_eq(mlip_lbfgs_start(&lb, x, rosenbrock, NULL, &err), MLIP_OK);
	double prev = lb.f;
	struct mlip_err e2;
	int moved = 1;
	for (int it = 0; it < 500 && moved; it++) {
		ck_assert_int_eq(mlip_lbfgs_iterate(&lb, x, rosenbrock, NULL, &evals, &moved, &e2), MLIP_OK);
		ck_assert(lb.f <= prev);                /* monotone: Armijo */
		prev = lb.f;
	}
	ck_assert_double_eq_tol(x[0], 1.0, 1e-5);
	ck_assert_double_eq_tol(x[1], 1.0, 1e-5);
	mlip_lbfgs_release(&lb);
}
END_TEST

/*
 * Two runs on the quadratic from x = 0 with m pairs: a scaled by h0, b with
 * the identity, each `iters` iterations (evaluations into *ea, *eb).
 */
static void scaled_and_plain(struct mlip_lbfgs *a, struct mlip_lbfgs *b, size_t m,
			     const double *h0, double *xa, double *xb, int iters, size_t *ea,
			     size_t *eb)
{
	struct mlip_err err;
	memset(xa, 0, QN * sizeof(double));
	memset(xb, 0, QN * sizeof(double));
	ck_assert_int_eq(mlip_lbfgs_init(a, QN, m, &err), MLIP_OK);
	ck_assert_int_eq(mlip_lbfgs_init(b, QN, m, &err), MLIP_OK);
	ck_assert_int_eq(mlip_lbfgs_set_scaling(a, h0, &err), MLIP_OK);
	ck_assert_int_eq(mlip_lbfgs_start(a, xa, quadratic, NULL, &err), MLIP_OK);
	ck_assert_int_eq(mlip_lbfgs_start(b, xb, quadratic, NULL, &err), MLIP_OK);
	minimise(a, xa, quadratic, iters, ea);
	minimise(b, xb, quadratic, iters, eb);
}

/* The quadratic's exact inverse Hessian as D: after the first (short) step
 * γ = 1 and the next step is Newton's, so it converges at once, where γI
 * needs tens of iterations on condition number 1e4. */
START_TEST(test_scaling_exact_diagonal)
{
	struct mlip_lbfgs a, b;
	double xa[QN], xb[QN], h0[QN], f0 = 0;
	size_t ea = 0, eb = 0;
	for (int i = 0; i < QN; i++) {
		h0[i] = 1 / pow(1e4, (double)i / (QN - 1));
		f0 += 0.5 * i * i / h0[i];              /* f(0) */
	}
	scaled_and_plain(&a, &b, 8, h0, xa, xb, 3, &ea, &eb);
	ck_assert(a.f < 1e-20 * f0);
	ck_assert(b.f > 1e-4 * f0);                     /* the identity is far from it */
	for (int i = 0; i < QN; i++)
		ck_assert_double_eq_tol(xa[i], i, 1e-8);
	mlip_lbfgs_release(&a);
	mlip_lbfgs_release(&b);
}
END_TEST

/* D = cI is the identity up to round-off (γ absorbs c); bad values are
 * refused; NULL goes back to the identity, bit for bit. */
START_TEST(test_scaling_uniform)
{
	struct mlip_lbfgs a, b;
	struct mlip_err err;
	double xa[QN], xb[QN], h0[QN];
	size_t ea = 0, eb = 0;
	for (int i = 0; i < QN; i++)
		h0[i] = 37.5;
	scaled_and_plain(&a, &b, 4, h0, xa, xb, 12, &ea, &eb);
	ck_assert_uint_eq(ea, eb);
	for (int i = 0; i < QN; i++)
		ck_assert_double_eq_tol(xa[i], xb[i], 1e-9 * (1 + fabs(xb[i])));
	h0[3] = 0;
	ck_assert_int_eq(mlip_lbfgs_set_scaling(&a, h0, &err), MLIP_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "scaling 3"));
	h0[3] = NAN;
	ck_assert_int_eq(mlip_lbfgs_set_scaling(&a, h0, &err), MLIP_EINVAL);
	h0[3] = INFINITY;
	ck_assert_int_eq(mlip_lbfgs_set_scaling(&a, h0, &err), MLIP_EINVAL);
	/* back to the identity: the same iterations as b from the same state */
	ck_assert_int_eq(mlip_lbfgs_set_scaling(&a, NULL, &err), MLIP_OK);
	ck_assert_ptr_null(a.h0);
	memcpy(xa, xb, sizeof(xa));
	ck_assert_int_eq(mlip_lbfgs_start(&a, xa, quadratic, NULL, &err), MLIP_OK);
	ck_assert_int_eq(mlip_lbfgs_start(&b, xb, quadratic, NULL, &err), MLIP_OK);
	minimise(&a, xa, quadratic, 5, &ea);
	minimise(&b, xb, quadratic, 5, &eb);
	ck_assert_int_eq(memcmp(xa, xb, sizeof(xa)), 0);
	mlip_lbfgs_release(&a);
	mlip_lbfgs_release(&b);
}
END_TEST

/* What a checkpoint stores (k, head, f, g, s, y, rho) continues the run bit for bit. */
START_TEST(test_state_round_trip)
{
	struct mlip_lbfgs a, b;
	struct mlip_err err;
	double xa[QN] = { 0 }, xb[QN];
	size_t ea = 0, eb = 0;
	ck_assert_int_eq(mlip_lbfgs_init(&a, QN, 4, &err), MLIP_OK);
	ck_assert_int_eq(mlip_lbfgs_init(&b, QN, 4, &err), MLIP_OK);
	ck_assert_int_eq(mlip_lbfgs_start(&a, xa, quadratic, NULL, &err), MLIP_OK);
	minimise(&a, xa, quadratic, 7, &ea);            /* the ring has wrapped: head != 0 */
	ck_assert_uint_eq(a.k, 4);
	ck_assert_uint_ne(a.head, 0);
	b.k = a.k;
	b.head = a.head;
	b.f = a.f;
	memcpy(b.g, a.g, QN * sizeof(double));
	memcpy(b.s, a.s, 4 * QN * sizeof(double));
	memcpy(b.y, a.y, 4 * QN * sizeof(double));
	memcpy(b.rho, a.rho, 4 * sizeof(double));
	memcpy(xb, xa, sizeof(xa));
	size_t before = ea;
	minimise(&a, xa, quadratic, 6, &ea);
	minimise(&b, xb, quadratic, 6, &eb);
	ck_assert_int_eq(memcmp(xa, xb, sizeof(xa)), 0);
	ck_assert_uint_eq(ea - before, eb);
	ck_assert(a.f == b.f);
	mlip_lbfgs_release(&a);
	mlip_lbfgs_release(&b);
}
END_TEST

static int failing(void *ctx, const double *x, double *f, double *g, struct mlip_err *err)
{
	(void)ctx;
	(void)x;
	(void)f;
	(void)g;
	return mlip_err_set(err, MLIP_EIO, "cannot read the data");
}

static int nonfinite(void *ctx, const double *x, double *f, double *g, struct mlip_err *err)
{
	(void)ctx;
	(void)err;
	*f = x[0] > 0.5 ? NAN : (x[0] - 1) * (x[0] - 1);
	g[0] = 2 * (x[0] - 1);
	return MLIP_OK;
}

START_TEST(test_failures)
{
	struct mlip_lbfgs lb;
	struct mlip_err err;
	double x[1] = { 0 };
	size_t evals = 0;
	int moved;
	ck_assert_int_eq(mlip_lbfgs_init(&lb, 0, 4, &err), MLIP_EINVAL);
	ck_assert_int_eq(mlip_lbfgs_init(&lb, 1, 4, &err), MLIP_OK);
	ck_assert_int_eq(mlip_lbfgs_start(&lb, x, failing, NULL, &err), MLIP_EIO);
	ck_assert_ptr_nonnull(strstr(err.msg, "cannot read"));
	x[0] = 2;
	ck_assert_int_eq(mlip_lbfgs_start(&lb, x, nonfinite, NULL, &err), MLIP_ERUN);
	ck_assert_ptr_nonnull(strstr(err.msg, "non-finite"));
	/* NaN beyond 0.5: trials there fail, shorter ones succeed; x stays finite below 0.5 */
	x[0] = 0;
	ck_assert_int_eq(mlip_lbfgs_start(&lb, x, nonfinite, NULL, &err), MLIP_OK);
	for (int it = 0; it < 50; it++) {
		ck_assert_int_eq(mlip_lbfgs_iterate(&lb, x, nonfinite, NULL, &evals, &moved, &err), MLIP_OK);
		ck_assert(x[0] <= 0.5);
		ck_assert(isfinite(lb.f));
		if (!moved)
			break;
	}
	ck_assert(x[0] > 0.3);                        /* it went as far as it could */
	mlip_lbfgs_release(&lb);
}
END_TEST

Suite *suite_lbfgs(void)
{
	Suite *s = suite_create("lbfgs");
	TCase *tc = tcase_create("core");
	tcase_add_test(tc, test_quadratic_converges);
	tcase_add_test(tc, test_rosenbrock_converges);
	tcase_add_test(tc, test_scaling_exact_diagonal);
	tcase_add_test(tc, test_scaling_uniform);
	tcase_add_test(tc, test_state_round_trip);
	tcase_add_test(tc, test_failures);
	suite_add_tcase(s, tc);
	return s;
}
