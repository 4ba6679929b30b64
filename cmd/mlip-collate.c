/*
 * mlip-collate - structures (extxyz, mlearn JSON, n2p2 input.data) to a
 * checksummed batch stream with neighbour lists; --dump turns batch streams
 * back into text.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "collate.h"
#include "log.h"
#include "n2p2data.h"

static const char usage_text[] =
	"usage: mlip-collate -c CUTOFF [-o OUT] [OPTIONS] FILE...\n"
	"   or: mlip-collate --split FRACTION -c CUTOFF -o TRAIN -o VAL [OPTIONS] FILE...\n"
	"   or: mlip-collate --dump [--dump-format json|extxyz|n2p2] [STREAM...]\n"
	"\n"
	"Read structures (extxyz, mlearn JSON for *.json, n2p2 input.data for *.data;\n"
	"FILE - is extxyz on stdin), build neighbour lists and write a batch stream\n"
	"(default: stdout).\n"
	"\n"
	"  -c, --cutoff R          neighbour-list cutoff in Å (required)\n"
	"  -o, --output FILE       output stream; twice with --split (default -)\n"
	"  -f, --format FMT        input format: auto, extxyz, mlearn, n2p2 (default auto)\n"
	"  -d, --dataset NAME      dataset of structures that name none (default 'default')\n"
	"  -b, --batch-size N      structures per batch (default 8)\n"
	"      --max-atoms M       pack batches greedily up to M atoms instead\n"
	"      --shuffle           shuffle the structures (reproducible with --seed)\n"
	"      --seed S            seed for --shuffle and --split (default 0)\n"
	"      --exclude KEYS      drop labels: comma list of energy, forces, stress\n"
	"      --energy-key KEY    extxyz info key of the energy (default energy, then\n"
	"                          free_energy), e.g. REF_energy\n"
	"      --forces-key KEY    extxyz column of the forces (default forces), e.g. REF_forces\n"
	"      --stress-key KEY    extxyz info key of the stress (default stress)\n"
	"      --virial-key KEY    extxyz info key of a virial, read as stress = -virial/volume\n"
	"                          where a frame has no stress (e.g. GAP's virial)\n"
	"      --split FRACTION    send a random FRACTION of structures to the first -o,\n"
	"                          the rest to the second\n"
	"      --dump              print batch streams (default stdin) as JSON Lines\n"
	"      --dump-format FMT   json (default), extxyz or n2p2 (input.data)\n"
	"  -q, --quiet             no progress or summary on stderr\n"
	"  -h, --help              show this help and exit\n"
	"  -V, --version           show the version and exit\n";

enum { OPT_MAX_ATOMS = 256, OPT_SHUFFLE, OPT_SEED, OPT_EXCLUDE, OPT_SPLIT, OPT_DUMP,
       OPT_DUMP_FORMAT, OPT_ENERGY_KEY, OPT_FORCES_KEY, OPT_STRESS_KEY, OPT_VIRIAL_KEY };

static const struct option longopts[] = {
	{ "cutoff", required_argument, NULL, 'c' },
	{ "output", required_argument, NULL, 'o' },
	{ "format", required_argument, NULL, 'f' },
	{ "dataset", required_argument, NULL, 'd' },
	{ "batch-size", required_argument, NULL, 'b' },
	{ "max-atoms", required_argument, NULL, OPT_MAX_ATOMS },
	{ "shuffle", no_argument, NULL, OPT_SHUFFLE },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "exclude", required_argument, NULL, OPT_EXCLUDE },
	{ "energy-key", required_argument, NULL, OPT_ENERGY_KEY },
	{ "forces-key", required_argument, NULL, OPT_FORCES_KEY },
	{ "stress-key", required_argument, NULL, OPT_STRESS_KEY },
	{ "virial-key", required_argument, NULL, OPT_VIRIAL_KEY },
	{ "split", required_argument, NULL, OPT_SPLIT },
	{ "dump", no_argument, NULL, OPT_DUMP },
	{ "dump-format", required_argument, NULL, OPT_DUMP_FORMAT },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static int parse_double(const char *arg, double *out)
{
	char *end;
	errno = 0;
	*out = strtod(arg, &end);
	return end != arg && *end == '\0' && errno == 0;
}

static int parse_size(const char *arg, size_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(arg, &end, 10);
	*out = (size_t)v;
	return end != arg && *end == '\0' && errno == 0 && arg[0] != '-';
}

int main(int argc, char **argv)
{
	struct mlip_collate_opts o;
	struct mlip_err err = { 0 };
	int dump = 0, n_out = 0, quiet = 0, c, rc;
	enum mlip_dump_format dump_format = MLIP_DUMP_JSON;
	size_t seed;

	cli_init(argv[0]);
	mlip_collate_opts_init(&o);
	while ((c = getopt_long(argc, argv, "c:o:f:d:b:qhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (!parse_double(optarg, &o.cutoff) || !(o.cutoff > 0))
				return cli_usage_error("--cutoff takes a positive number of Å, not '%s'", optarg);
			break;
		case 'o':
			if (n_out == 2)
				return cli_usage_error("at most two -o outputs (with --split)");
			o.outputs[n_out++] = optarg;
			break;
		case 'f':
			if ((rc = mlip_format_parse(optarg)) < 0)
				return cli_usage_error("unknown format '%s' (auto, extxyz, mlearn, n2p2)", optarg);
			o.format = (enum mlip_format)rc;
			break;
		case 'd': o.dataset = optarg; break;
		case 'b':
			if (!parse_size(optarg, &o.batch_size) || o.batch_size == 0)
				return cli_usage_error("--batch-size takes a positive integer, not '%s'", optarg);
			break;
		case OPT_MAX_ATOMS:
			if (!parse_size(optarg, &o.max_atoms) || o.max_atoms == 0)
				return cli_usage_error("--max-atoms takes a positive integer, not '%s'", optarg);
			break;
		case OPT_SHUFFLE: o.shuffle = 1; break;
		case OPT_SEED:
			if (!parse_size(optarg, &seed))
				return cli_usage_error("--seed takes a non-negative integer, not '%s'", optarg);
			o.seed = seed;
			break;
		case OPT_EXCLUDE:
			if (mlip_parse_exclude(optarg, &o.exclude, &err))
				return cli_usage_error("%s", err.msg);
			break;
		case OPT_SPLIT:
			if (!parse_double(optarg, &o.split) || !(o.split > 0 && o.split < 1))
				return cli_usage_error("--split takes a fraction between 0 and 1, not '%s'", optarg);
			break;
		case OPT_ENERGY_KEY: o.keys.energy = optarg; break;
		case OPT_FORCES_KEY: o.keys.forces = optarg; break;
		case OPT_STRESS_KEY: o.keys.stress = optarg; break;
		case OPT_VIRIAL_KEY: o.keys.virial = optarg; break;
		case OPT_DUMP: dump = 1; break;
		case OPT_DUMP_FORMAT:
			if (strcmp(optarg, "json") == 0)
				dump_format = MLIP_DUMP_JSON;
			else if (strcmp(optarg, "extxyz") == 0)
				dump_format = MLIP_DUMP_EXTXYZ;
			else if (strcmp(optarg, "n2p2") == 0)
				dump_format = MLIP_DUMP_N2P2;
			else
				return cli_usage_error("--dump-format is json, extxyz or n2p2, not '%s'",
						       optarg);
			break;
		case 'q': quiet = 1; break;
		case 'h': fputs(usage_text, stdout); return cli_finish(CLI_OK);
		case 'V': cli_version(); return cli_finish(CLI_OK);
		default: return cli_bad_option(argv, "c:o:f:d:b:qhV", longopts);
		}
	}

	if (dump) {
		static const char *const stdin_only[] = { "-" };
		const char *const *inputs = optind < argc ? (const char *const *)argv + optind : stdin_only;
		size_t n = optind < argc ? (size_t)(argc - optind) : 1;
		if (n_out)
			return cli_usage_error("--dump writes to stdout; -o is not used");
		rc = mlip_dump_run(inputs, n, dump_format, stdout, &err);
		if (rc)
			return cli_fail(&err);
		return cli_finish(CLI_OK);
	}

	if (o.cutoff == 0)
		return cli_usage_error("missing --cutoff");
	if (optind == argc)
		return cli_usage_error("no input files (use - for extxyz on stdin)");
	if (o.split > 0 && n_out != 2)
		return cli_usage_error("--split needs two outputs: -o TRAIN -o VAL");
	if (o.split == 0 && n_out == 2)
		return cli_usage_error("a second -o is only for --split");
	o.inputs = (const char *const *)argv + optind;
	o.n_inputs = (size_t)(argc - optind);
	o.progress = !quiet;
	if (quiet)
		mlip_log_set_level(MLIP_LOG_WARN);
	if ((rc = mlip_collate_run(&o, &err)))
		return cli_fail(&err);
	return cli_finish(CLI_OK);
}
