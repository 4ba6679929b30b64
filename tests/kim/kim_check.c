/*
 * kim_check.c - the KIM side of mlip_model_driver seen by a minimal KIM
 * simulator (no LAMMPS): a rattled 35-atom Si cluster, every atom
 * contributing, a full neighbour list of all other atoms. Checks against
 * libmlip's own mlip_compute on the same cluster (no periodic axis):
 *   energy and forces equal; the KIM virial (partialVirial, which LAMMPS
 *   never reads: it takes fdotr) is −W of mlip in KIM's Voigt order
 *   (xx yy zz yz xz xy); per-particle energies and virials sum to the
 *   totals; an energy-only call gives the same energy.
 *
 *   kim_check KIM_MODEL_NAME MODEL.mlip
 *
 * Exit 0 when all agree to 1e-10 relative, 1 otherwise (each failure named).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "KIM_SimulatorHeaders.h"
#include "mlip.h"

#define N 35

static int n_all = N;
static int *nbr;        /* (N, N-1) */

static int get_neigh(void *data, int n_lists, const double *cutoffs, int list, int i, int *n,
		     const int **nb)
{
	(void)data; (void)n_lists; (void)cutoffs; (void)list;
	if (i < 0 || i >= n_all)
		return 1;
	*n = n_all - 1;
	*nb = nbr + (size_t)i * (N - 1);
	return 0;
}

static int fails;

static void check(const char *what, const double *got, const double *want, int n)
{
	double scale = 0, err = 0;
	for (int k = 0; k < n; k++)
		scale = fmax(scale, fabs(want[k]));
	for (int k = 0; k < n; k++)
		err = fmax(err, fabs(got[k] - want[k]));
	double rel = scale > 0 ? err / scale : err;
	printf("%-34s rel. deviation %.2e\n", what, rel);
	if (!(rel <= 1e-10)) {
		printf("  FAILED: got %.17g, want %.17g (first component)\n", got[0], want[0]);
		fails++;
	}
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: kim_check KIM_MODEL_NAME MODEL.mlip\n");
		return 2;
	}
	/* a diamond fragment, rattled deterministically */
	double x[3 * N];
	int z[N], species[N], contributing[N];
	int m = 0;
	for (int a = 0; a < 4 && m < N; a++)
		for (int b = 0; b < 4 && m < N; b++)
			for (int c = 0; c < 4 && m < N; c++) {
				if ((a + b + c) % 2)
					continue;
				for (int s = 0; s < 2 && m < N; s++) {
					x[3 * m + 0] = 2.7155 * a + 1.357 * s + 0.07 * sin(1.3 * m);
					x[3 * m + 1] = 2.7155 * b + 1.357 * s + 0.07 * sin(2.1 * m + 1);
					x[3 * m + 2] = 2.7155 * c + 1.357 * s + 0.07 * sin(3.7 * m + 2);
					m++;
				}
			}
	if (m != N) {
		fprintf(stderr, "built %d atoms, not %d\n", m, N);
		return 2;
	}
	nbr = malloc(sizeof(int) * N * (N - 1));
	for (int i = 0; i < N; i++)
		for (int j = 0, q = 0; j < N; j++)
			if (j != i)
				nbr[i * (N - 1) + q++] = j;

	/* libmlip itself */
	mlip_calculator *calc;
	char msg[512];
	if (mlip_open(argv[2], &calc, msg, sizeof msg)) {
		fprintf(stderr, "%s\n", msg);
		return 2;
	}
	int pbc[3] = { 0, 0, 0 };
	double e_ref, f_ref[3 * N], w_ref[9];
	for (int i = 0; i < N; i++)
		z[i] = 14;
	if (mlip_compute(calc, N, z, x, NULL, pbc, &e_ref, f_ref, NULL, w_ref, NULL)) {
		fprintf(stderr, "%s\n", mlip_errmsg(calc));
		return 2;
	}
	mlip_close(calc);

	/* the same through KIM */
	int accepted, supported, code;
	KIM_Model *model;
	KIM_ComputeArguments *args;
	if (KIM_Model_Create(KIM_NUMBERING_zeroBased, KIM_LENGTH_UNIT_A, KIM_ENERGY_UNIT_eV,
			     KIM_CHARGE_UNIT_e, KIM_TEMPERATURE_UNIT_K, KIM_TIME_UNIT_ps, argv[1],
			     &accepted, &model) || !accepted) {
		fprintf(stderr, "KIM_Model_Create failed for '%s'\n", argv[1]);
		return 2;
	}
	if (KIM_Model_GetSpeciesSupportAndCode(model, KIM_SPECIES_NAME_Si, &supported, &code) ||
	    !supported) {
		fprintf(stderr, "the model does not support Si\n");
		return 2;
	}
	double e, f[3 * N], pe[N], v[6], pv[6 * N], e_only;
	for (int i = 0; i < N; i++) {
		species[i] = code;
		contributing[i] = 1;
	}
	if (KIM_Model_ComputeArgumentsCreate(model, &args) ||
	    KIM_ComputeArguments_SetArgumentPointerInteger(args, KIM_COMPUTE_ARGUMENT_NAME_numberOfParticles, &n_all) ||
	    KIM_ComputeArguments_SetArgumentPointerInteger(args, KIM_COMPUTE_ARGUMENT_NAME_particleSpeciesCodes, species) ||
	    KIM_ComputeArguments_SetArgumentPointerInteger(args, KIM_COMPUTE_ARGUMENT_NAME_particleContributing, contributing) ||
	    KIM_ComputeArguments_SetArgumentPointerDouble(args, KIM_COMPUTE_ARGUMENT_NAME_coordinates, x) ||
	    KIM_ComputeArguments_SetArgumentPointerDouble(args, KIM_COMPUTE_ARGUMENT_NAME_partialEnergy, &e) ||
	    KIM_ComputeArguments_SetArgumentPointerDouble(args, KIM_COMPUTE_ARGUMENT_NAME_partialForces, f) ||
	    KIM_ComputeArguments_SetArgumentPointerDouble(args, KIM_COMPUTE_ARGUMENT_NAME_partialParticleEnergy, pe) ||
	    KIM_ComputeArguments_SetArgumentPointerDouble(args, KIM_COMPUTE_ARGUMENT_NAME_partialVirial, v) ||
	    KIM_ComputeArguments_SetArgumentPointerDouble(args, KIM_COMPUTE_ARGUMENT_NAME_partialParticleVirial, pv) ||
	    KIM_ComputeArguments_SetCallbackPointer(args, KIM_COMPUTE_CALLBACK_NAME_GetNeighborList,
						    KIM_LANGUAGE_NAME_c, (KIM_Function *)get_neigh, NULL) ||
	    KIM_Model_Compute(model, args)) {
		fprintf(stderr, "KIM compute failed\n");
		return 2;
	}
	check("energy", &e, &e_ref, 1);
	check("forces", f, f_ref, 3 * N);
	double kim_w[6] = { -w_ref[0], -w_ref[4], -w_ref[8], -w_ref[5], -w_ref[2], -w_ref[1] };
	check("partialVirial = -W (xx yy zz yz xz xy)", v, kim_w, 6);
	/* W = sum r_i (x) F_i for a finite system: the sign, independently of mlip's W */
	double rf[6] = { 0 };
	for (int i = 0; i < N; i++) {
		const double *r = x + 3 * i, *fi = f + 3 * i;
		rf[0] -= r[0] * fi[0]; rf[1] -= r[1] * fi[1]; rf[2] -= r[2] * fi[2];
		rf[3] -= r[1] * fi[2]; rf[4] -= r[0] * fi[2]; rf[5] -= r[0] * fi[1];
	}
	check("partialVirial = -sum r_i (x) F_i", v, rf, 6);
	double se = 0, sv[6] = { 0 };
	for (int i = 0; i < N; i++) {
		se += pe[i];
		for (int k = 0; k < 6; k++)
			sv[k] += pv[6 * i + k];
	}
	check("sum of partialParticleEnergy", &se, &e, 1);
	check("sum of partialParticleVirial", sv, v, 6);
	/* energy only: the other outputs not asked for */
	if (KIM_ComputeArguments_SetArgumentPointerDouble(args, KIM_COMPUTE_ARGUMENT_NAME_partialEnergy, &e_only) ||
	    KIM_ComputeArguments_SetArgumentPointerDouble(args, KIM_COMPUTE_ARGUMENT_NAME_partialForces, NULL) ||
	    KIM_ComputeArguments_SetArgumentPointerDouble(args, KIM_COMPUTE_ARGUMENT_NAME_partialParticleEnergy, NULL) ||
	    KIM_ComputeArguments_SetArgumentPointerDouble(args, KIM_COMPUTE_ARGUMENT_NAME_partialVirial, NULL) ||
	    KIM_ComputeArguments_SetArgumentPointerDouble(args, KIM_COMPUTE_ARGUMENT_NAME_partialParticleVirial, NULL) ||
	    KIM_Model_Compute(model, args)) {
		fprintf(stderr, "KIM energy-only compute failed\n");
		return 2;
	}
	check("energy only", &e_only, &e_ref, 1);
	KIM_Model_ComputeArgumentsDestroy(model, &args);
	KIM_Model_Destroy(&model);
	free(nbr);
	return fails ? 1 : 0;
}
