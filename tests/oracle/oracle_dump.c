/*
 * oracle_dump.c - what mlip computes for a model and a set of structures, as
 * one JSON document, for an independent implementation to check
 * (bench/peers/torch_bpnn.py compare; tests/cli/t0500-oracle-torch.sh, t0505-oracle-mtp.sh).
 *
 * The model comes from an inference checkpoint (mlip_potential_load), the
 * structures from any file mlip reads (lib/structio.h), collated into ONE
 * batch at the model cutoff (mlip_batch_collate). One training forward gives
 * the raw energies (B, H), forces (N, 3, H) and stresses (B, 9, H); the
 * physical ones follow from the task state (mlip_tasks_physical). Then, for
 *   L = Σ_{b,h} a_bh E_bh + Σ_{i,x,h} c_ixh F_ixh + Σ_{b,k,h} d_bkh σ_bkh
 * (all raw), mlip_model_backward with dE = a, dF = c, dS = d gives ∂L/∂θ for
 * every tensor. The coefficients are pseudo-random in [−1, 1) from --seed
 * (splitmix64, u = (x >> 11) 2⁻⁵³, value 2u − 1; a, then c, then d, each
 * row-major over the whole batch) or read from --coefs FILE (whitespace-
 * separated numbers in the same order); they are printed either way.
 *
 * Output (numbers with 17 significant digits; arrays flat, row-major):
 *   {"model": PATH, "n_heads": H, "heads": [...], "cutoff": rc,
 *    "n_systems": B, "n_atoms": N, "n_edges": E, "n_params": P,
 *    "structures": [{"id", "natoms", "n_edges", "numbers", "positions" (n,3),
 *                    "cell" (3,3), "pbc" (3), "volume",
 *                    "raw": {"energy" (H), "forces" (n,3,H), "stress" (9,H)},
 *                    "physical": {...same...},
 *                    "coef": {"energy" (H), "forces" (n,3,H), "stress" (9,H)}}, ...],
 *    "mtp": {"level", "max_order", "n_mu", "n_radial", "r_min",
 *            "funcs": [[k, level, μ1, ν1, μ2, ν2, μ3, ν3], ...] (unused slots −1),
 *            "radial" (S, S, n_mu, n_radial)}   (moment tensor models only),
 *    "loss": L, "grads": {"Si.w1": [...], ...}}
 *
 * Usage: oracle_dump [--seed S] [--coefs FILE] [--weights primary|raw|ema]
 *                    [--naive] [--plugin-path DIR] MODEL.mlip STRUCTURES...
 */
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "model.h"
#include "plugin.h"
#include "potential.h"
#include "structio.h"
#include "structure.h"
#include "tasks.h"

static void die(const char *what, const struct mlip_err *err)
{
	fprintf(stderr, "oracle_dump: %s%s%s\n", what, err ? ": " : "", err ? err->msg : "");
	exit(1);
}

static uint64_t splitmix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void put_num(double v)
{
	if (isfinite(v))
		printf("%.17g", v);
	else
		fputs("null", stdout);
}

static void put_array(const double *v, size_t n)
{
	putchar('[');
	for (size_t k = 0; k < n; k++) {
		if (k)
			putchar(',');
		put_num(v[k]);
	}
	putchar(']');
}

static void put_string(const char *s)
{
	putchar('"');
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

/* energy (B, H), forces (N, 3, H), stress (B, 9, H): system s's rows as one object. */
static void put_outputs(const char *key, const struct mlip_batch *b, size_t s, size_t H,
			const double *e, const double *f, const double *st)
{
	size_t a0 = b->atom_start[s], n = b->natoms[s];
	printf(",\"%s\":{\"energy\":", key);
	put_array(e + s * H, H);
	fputs(",\"forces\":", stdout);
	put_array(f + a0 * 3 * H, n * 3 * H);
	fputs(",\"stress\":", stdout);
	put_array(st + s * 9 * H, 9 * H);
	putchar('}');
}

static void read_coefs(const char *path, double *c, size_t n)
{
	FILE *f = fopen(path, "r");
	if (!f)
		die("cannot open the coefficient file", NULL);
	for (size_t k = 0; k < n; k++)
		if (fscanf(f, "%lf", &c[k]) != 1) {
			fprintf(stderr, "oracle_dump: %s: expected %zu numbers, found %zu\n", path, n, k);
			exit(1);
		}
	double extra;
	if (fscanf(f, "%lf", &extra) == 1) {
		fprintf(stderr, "oracle_dump: %s: more than %zu numbers\n", path, n);
		exit(1);
	}
	fclose(f);
}

static const char usage[] =
	"usage: oracle_dump [--seed S] [--coefs FILE] [--weights primary|raw|ema] [--naive]\n"
	"                   [--plugin-path DIR] MODEL.mlip STRUCTURES...\n";

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "seed", required_argument, NULL, 's' },
		{ "coefs", required_argument, NULL, 'c' },
		{ "weights", required_argument, NULL, 'w' },
		{ "naive", no_argument, NULL, 'n' },
		{ "plugin-path", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct mlip_err err = { 0 };
	struct mlip_plugins reg;
	struct mlip_potential pot;
	struct mlip_structure_list list;
	struct mlip_batch b;
	struct mlip_model_out out;
	enum mlip_weights which = MLIP_WEIGHTS_PRIMARY;
	uint64_t seed = 1;
	const char *coef_path = NULL;
	int naive = 0, c;

	mlip_plugins_init(&reg);
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 's': seed = strtoull(optarg, NULL, 10); break;
		case 'c': coef_path = optarg; break;
		case 'w':
			if (!strcmp(optarg, "primary"))
				which = MLIP_WEIGHTS_PRIMARY;
			else if (!strcmp(optarg, "raw"))
				which = MLIP_WEIGHTS_RAW;
			else if (!strcmp(optarg, "ema"))
				which = MLIP_WEIGHTS_EMA;
			else {
				fputs(usage, stderr);
				return 2;
			}
			break;
		case 'n': naive = 1; break;
		case 'p':
			if (mlip_plugins_add_dir(&reg, optarg, &err))
				die("plugin path", &err);
			break;
		case 'h': fputs(usage, stdout); return 0;
		default: fputs(usage, stderr); return 2;
		}
	}
	if (argc - optind < 2) {
		fputs(usage, stderr);
		return 2;
	}
	const char *model_path = argv[optind];
	if (mlip_potential_load(&pot, model_path, &reg, which, &err))
		die("loading the model", &err);
	struct mlip_model *m = pot.model;
	m->naive = naive;
	mlip_structure_list_init(&list);
	for (int k = optind + 1; k < argc; k++)
		if (mlip_read_structures(argv[k], MLIP_FORMAT_AUTO, &list, &err))
			die("reading structures", &err);
	if (list.n == 0)
		die("no structures", NULL);
	const struct mlip_structure **ptr = malloc(list.n * sizeof(*ptr));
	if (!ptr)
		die("out of memory", NULL);
	for (size_t k = 0; k < list.n; k++)
		ptr[k] = &list.items[k];
	mlip_batch_init(&b);
	if (mlip_batch_collate(&b, ptr, list.n, m->config.cutoff, 0, "default", &err))
		die("collating", &err);
	free(ptr);

	size_t B = b.n_systems, N = b.n_atoms, H = m->config.n_heads;
	if (mlip_model_forward(m, &b, MLIP_MODEL_FORCES | MLIP_MODEL_STRESS | MLIP_MODEL_TRAIN, &out,
			       &err))
		die("forward", &err);
	size_t ne = B * H, nf = N * 3 * H, ns = B * 9 * H;
	double *raw = malloc((ne + nf + ns) * sizeof(double));
	double *phys = malloc((ne + nf + ns) * sizeof(double));
	double *coef = malloc((ne + nf + ns) * sizeof(double));
	if (!raw || !phys || !coef)
		die("out of memory", NULL);
	memcpy(raw, out.energy, ne * sizeof(double));
	memcpy(raw + ne, out.forces, nf * sizeof(double));
	memcpy(raw + ne + nf, out.stress, ns * sizeof(double));
	mlip_tasks_physical(&pot.tasks, &b, raw, raw + ne, raw + ne + nf, phys, phys + ne,
			    phys + ne + nf);
	if (coef_path) {
		read_coefs(coef_path, coef, ne + nf + ns);
	} else {
		uint64_t st = seed;
		for (size_t k = 0; k < ne + nf + ns; k++)
			coef[k] = 2.0 * ((double)(splitmix64(&st) >> 11) * (1.0 / 9007199254740992.0)) - 1.0;
	}
	double loss = 0;
	for (size_t k = 0; k < ne + nf + ns; k++)
		loss += coef[k] * raw[k];
	mlip_model_zero_grad(m);
	if (mlip_model_backward(m, &b, coef, coef + ne, coef + ne + nf, &err))
		die("backward", &err);

	printf("{\"model\":");
	put_string(model_path);
	printf(",\"precision\":\"%s\",\"n_heads\":%zu,\"heads\":[",
	       mlip_precision_name(m->precision), H);
	for (size_t h = 0; h < H; h++) {
		if (h)
			putchar(',');
		put_string(m->config.heads[h]);
	}
	printf("],\"cutoff\":");
	put_num(m->config.cutoff);
	printf(",\"n_systems\":%zu,\"n_atoms\":%zu,\"n_edges\":%zu,\"n_params\":%zu,\"seed\":%" PRIu64
	       ",\"structures\":[",
	       B, N, b.n_edges, m->n_params, seed);
	for (size_t s = 0; s < B; s++) {
		size_t a0 = b.atom_start[s], n = b.natoms[s];
		double pbc[3] = { b.pbc[3 * s], b.pbc[3 * s + 1], b.pbc[3 * s + 2] };
		if (s)
			putchar(',');
		printf("\n{\"id\":");
		put_string(b.id[s]);
		printf(",\"natoms\":%zu,\"n_edges\":%u,\"numbers\":[", n, (unsigned)b.nedges[s]);
		for (size_t i = 0; i < n; i++)
			printf("%s%d", i ? "," : "", (int)b.numbers[a0 + i]);
		fputs("],\"positions\":", stdout);
		put_array(b.positions + 3 * a0, 3 * n);
		fputs(",\"cell\":", stdout);
		put_array(b.cell + 9 * s, 9);
		fputs(",\"pbc\":", stdout);
		put_array(pbc, 3);
		fputs(",\"volume\":", stdout);
		put_num(mlip_cell_volume(b.cell + 9 * s));
		put_outputs("raw", &b, s, H, raw, raw + ne, raw + ne + nf);
		put_outputs("physical", &b, s, H, phys, phys + ne, phys + ne + nf);
		put_outputs("coef", &b, s, H, coef, coef + ne, coef + ne + nf);
		putchar('}');
	}
	fputs("]", stdout);
	if (m->mtp) {
		/* the moment tensor basis as mlip built it: its functions and the radial
		 * coefficients it evaluates with (the tensor mtp.radial when trained) */
		const struct mlip_mtp *t = m->mtp;
		printf(",\n\"mtp\":{\"level\":%d,\"max_order\":%d,\"n_mu\":%zu,\"n_radial\":%zu,"
		       "\"r_min\":", t->level, t->max_order, t->n_mu, t->n_radial);
		put_num(t->r_min);
		fputs(",\"funcs\":[", stdout);
		for (size_t k = 0; k < t->n_basis; k++) {
			const struct mlip_mtp_func *f = &t->func[k];
			printf("%s[%d,%d", k ? "," : "", f->k, f->level);
			for (int q = 0; q < MLIP_MTP_MAX_ORDER; q++)
				printf(",%d,%d", f->mu[q], f->nu[q]);
			putchar(']');
		}
		fputs("],\"radial\":", stdout);
		put_array(t->coef, t->n_elements * t->n_elements * t->n_mu * t->n_radial);
		putchar('}');
	}
	fputs(",\n\"loss\":", stdout);
	put_num(loss);
	fputs(",\"grads\":{", stdout);
	for (size_t k = 0; k < m->tensors.n; k++) {
		const struct mlip_tensor *t = &m->tensors.t[k];
		double *g = malloc((t->count ? t->count : 1) * sizeof(double));
		if (!g)
			die("out of memory", NULL);
		for (size_t q = 0; q < t->count; q++)
			g[q] = (double)m->grads[t->offset + q];
		printf("%s\n", k ? "," : "");
		put_string(t->name);
		putchar(':');
		put_array(g, t->count);
		free(g);
	}
	puts("}}");

	free(raw);
	free(phys);
	free(coef);
	mlip_batch_release(&b);
	mlip_structure_list_release(&list);
	mlip_potential_release(&pot);
	mlip_plugins_release(&reg);
	if (fflush(stdout) || ferror(stdout)) {
		fputs("oracle_dump: write error on standard output\n", stderr);
		return 1;
	}
	return 0;
}
