/*
 * model-check.c - what mlip-kim-install(1) learns about a model before it
 * becomes a KIM item, through libmlip itself (so a model that installs is a
 * model the driver opens): that it opens, the head exists, and its energy is
 * a sum of atomic energies; and its cutoff, elements and heads.
 *
 *   model-check MODEL [HEAD]
 *
 * Prints "key value" lines on stdout (version, cutoff, elements, heads,
 * head). Exit status as mlip's programs: 2 no such head, 3 not a usable
 * model, 4 I/O. Built on the fly by the installer against the libmlip it
 * found, with that library's directory as RPATH.
 */
#include <stdio.h>
#include <string.h>

#include "mlip.h"


int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: model-check MODEL [HEAD]\n");
		return 2;
	}
	mlip_calculator *c;
	char msg[512];
	int rc = mlip_open(argv[1], &c, msg, sizeof msg);
	if (rc) {
		fprintf(stderr, "%s\n", msg);
		return rc == MLIP_EIO || rc == MLIP_ENOMEM ? 4 : 3;
	}
	if (argc == 3 && mlip_set_head(c, argv[2])) {
		fprintf(stderr, "%s\n", mlip_errmsg(c));
		mlip_close(c);
		return 2;
	}
	const char *head = argc == 3 ? argv[2] : mlip_head_name(c, 0);
	double shift = mlip_energy_shift(c);
	if (shift != 0) {
		fprintf(stderr, "'%s': head '%s' adds %.17g eV once per structure (an energy normalizer "
			"mean), so its energy is not a sum of atomic energies, which KIM needs; retrain "
			"with the normalizer's default mean 0\n", argv[1], head, shift);
		mlip_close(c);
		return 3;
	}
	printf("version %s\n", mlip_version());
	printf("cutoff %.17g\n", mlip_cutoff(c));
	printf("elements");
	for (int k = 0; k < mlip_n_elements(c); k++) {
		int z = mlip_element(c, k);
		if (!mlip_symbol(z)) {
			fprintf(stderr, "'%s': element %d has no KIM species name\n", argv[1], z);
			mlip_close(c);
			return 3;
		}
		printf(" %s", mlip_symbol(z));
	}
	printf("\nheads");
	for (int k = 0; k < mlip_n_heads(c); k++)
		printf(" %s", mlip_head_name(c, k));
	printf("\nhead %s\n", head);
	mlip_close(c);
	return ferror(stdout) || fclose(stdout) ? 4 : 0;
}
