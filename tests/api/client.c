/*
 * client.c - a program outside the tree that uses libmlip as a user would
 * (#include <mlip.h>, pkg-config mlip): reads structures from standard input
 * and prints the model's energy, stress and forces with 17 digits.
 *
 * Input, per structure: n; the cell (9 numbers, rows a, b, c); pbc (3
 * integers); n lines "Z x y z". Output, per structure: the energy, the
 * stress (9), then n lines of forces.
 */
#include <stdio.h>
#include <stdlib.h>

#include <mlip.h>

int main(int argc, char **argv)
{
	mlip_calculator *c;
	char msg[512];
	if (argc != 2) {
		fprintf(stderr, "usage: client MODEL < structures\n");
		return 2;
	}
	int rc = mlip_open(argv[1], &c, msg, sizeof(msg));
	if (rc) {
		fprintf(stderr, "client: %s\n", msg);
		return 3;
	}
	size_t n;
	while (scanf("%zu", &n) == 1) {
		double cell[9], e, stress[9];
		int pbc[3];
		int *z = malloc(n * sizeof(int));
		double *x = malloc(3 * n * sizeof(double)), *f = malloc(3 * n * sizeof(double));
		for (int k = 0; k < 9; k++)
			rc |= scanf("%lf", &cell[k]) != 1;
		for (int k = 0; k < 3; k++)
			rc |= scanf("%d", &pbc[k]) != 1;
		for (size_t i = 0; i < n; i++)
			rc |= scanf("%d %lf %lf %lf", &z[i], &x[3 * i], &x[3 * i + 1], &x[3 * i + 2]) != 4;
		if (rc) {
			fprintf(stderr, "client: malformed input\n");
			return 3;
		}
		if (mlip_compute(c, n, z, x, cell, pbc, &e, f, stress, NULL, NULL)) {
			fprintf(stderr, "client: %s\n", mlip_errmsg(c));
			return 1;
		}
		printf("%.17g\n", e);
		for (int k = 0; k < 9; k++)
			printf("%.17g%c", stress[k], k == 8 ? '\n' : ' ');
		for (size_t i = 0; i < n; i++)
			printf("%.17g %.17g %.17g\n", f[3 * i], f[3 * i + 1], f[3 * i + 2]);
		free(z);
		free(x);
		free(f);
	}
	mlip_close(c);
	return 0;
}
