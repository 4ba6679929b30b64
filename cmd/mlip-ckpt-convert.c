/*
 * mlip-ckpt-convert - a training checkpoint (any number of shards, either
 * strategy) to one inference checkpoint; with --n2p2, a model to an n2p2
 * potential directory.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "log.h"
#include "n2p2.h"
#include "plugin.h"
#include "potential.h"

static const char usage_text[] =
	"usage: mlip-ckpt-convert [OPTIONS] CHECKPOINT_DIR OUT\n"
	"   or: mlip-ckpt-convert --n2p2 DIR [--head NAME] [--data STREAM]... [OPTIONS] MODEL\n"
	"\n"
	"Merge the shards of a training checkpoint (RUN/checkpoints/step_N or final)\n"
	"into one inference checkpoint that mlip-eval and mlip-finetune-init read.\n"
	"With --n2p2, write MODEL (an inference checkpoint or a training checkpoint\n"
	"directory) as an n2p2 potential directory for nnp-predict and LAMMPS.\n"
	"\n"
	"      --raw                make the raw weights primary (default: the EMA\n"
	"                           weights when the run kept an EMA); with --n2p2,\n"
	"                           export the raw weights\n"
	"      --n2p2 DIR           write input.nn, scaling.data and weights.ZZZ.data\n"
	"                           into DIR (created if missing)\n"
	"      --head NAME          the head to export (default: the first)\n"
	"      --data STREAM        batch stream whose atoms give the symmetry-function\n"
	"                           ranges of scaling.data (n2p2's extrapolation\n"
	"                           warnings); repeatable; use the training data\n"
	"      --plugin-path DIR    search DIR for normalizer plugins first\n"
	"  -q, --quiet              say nothing on stderr on success\n"
	"  -h, --help               show this help and exit\n"
	"  -V, --version            show the version and exit\n";

enum { OPT_RAW = 256, OPT_PLUGIN_PATH, OPT_N2P2, OPT_HEAD, OPT_DATA };

static const struct option longopts[] = {
	{ "raw", no_argument, NULL, OPT_RAW },
	{ "n2p2", required_argument, NULL, OPT_N2P2 },
	{ "head", required_argument, NULL, OPT_HEAD },
	{ "data", required_argument, NULL, OPT_DATA },
	{ "plugin-path", required_argument, NULL, OPT_PLUGIN_PATH },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* --n2p2: load the model, measure the ranges, write the directory. */
static int export_n2p2(const char *model, const char *dir, const char *head,
		       const char *const *data, size_t n_data, int raw, int quiet,
		       struct mlip_plugins *reg)
{
	struct mlip_err err = { 0 };
	struct mlip_potential p;
	struct mlip_n2p2_range rg;
	struct stat st;
	int rc, have_range = 0;
	if (stat(model, &st) == 0 && S_ISDIR(st.st_mode)) {
		if ((rc = mlip_potential_from_run(&p, model, reg, &err)))
			return cli_fail(&err);
		/* as the inference checkpoint this run gives: EMA weights unless --raw */
		if (!raw && p.ema)
			for (size_t k = 0; k < p.model->n_params; k++)
				p.model->params[k] = p.ema[k];
	} else if ((rc = mlip_potential_load(&p, model, reg,
					     raw ? MLIP_WEIGHTS_RAW : MLIP_WEIGHTS_PRIMARY, &err))) {
		/* a config this mlip refuses inside a checkpoint is bad data, not usage */
		if (rc == MLIP_EINVAL)
			err.code = MLIP_EDATA;
		return cli_fail(&err);
	}
	size_t h = 0;
	if (head) {
		while (h < p.model->config.n_heads && strcmp(p.model->config.heads[h], head) != 0)
			h++;
		if (h == p.model->config.n_heads) {
			char list[256] = "";
			for (size_t k = 0; k < p.model->config.n_heads; k++)
				snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s'%s'",
					 k ? ", " : "", p.model->config.heads[k]);
			mlip_potential_release(&p);
			return cli_usage_error("--head: the model has no head '%s' (it has %s)", head,
					       list);
		}
	}
	if (!(rc = mlip_n2p2_check(&p, h, &err)) && n_data &&
	    !(rc = mlip_n2p2_range_init(&rg, p.model, &err))) {
		have_range = 1;
		for (size_t k = 0; k < n_data && !rc; k++)
			rc = mlip_n2p2_range_load(&rg, p.model, data[k], &err);
	}
	if (!rc)
		rc = mlip_n2p2_write(&p, h, dir, have_range ? &rg : NULL, &err);
	if (!rc && !quiet) {
		size_t atoms = 0;
		for (size_t e = 0; have_range && e < p.model->config.n_elements; e++)
			atoms += rg.atoms[e];
		/* what the model holds: EMA weights when they are the checkpoint's primary ones */
		int ema = !raw && p.ema &&
			  memcmp(p.ema, p.model->params, p.model->n_params * sizeof(double)) == 0;
		mlip_log(MLIP_LOG_INFO, "%s: n2p2 potential of head '%s' (%zu element%s, %s weights)%s",
			 dir, p.model->config.heads[h], p.model->config.n_elements,
			 p.model->config.n_elements == 1 ? "" : "s", ema ? "EMA" : "raw",
			 have_range ? "" : "; no --data: scaling.data has no extrapolation ranges");
		if (have_range)
			mlip_log(MLIP_LOG_INFO, "symmetry-function ranges from %zu atoms", atoms);
	}
	if (have_range)
		mlip_n2p2_range_release(&rg);
	mlip_potential_release(&p);
	if (rc)
		return cli_fail(&err);
	return cli_finish(CLI_OK);
}

int main(int argc, char **argv)
{
	struct mlip_err err = { 0 };
	struct mlip_plugins reg;
	struct mlip_potential p;
	int raw = 0, quiet = 0, c, rc;
	const char *n2p2 = NULL, *head = NULL;
	const char **data = NULL;
	size_t n_data = 0;

	cli_init(argv[0]);
	mlip_plugins_init(&reg);
	data = calloc((size_t)argc + 1, sizeof(*data));
	if (!data)
		return cli_error(MLIP_ENOMEM, "out of memory");
	while ((c = getopt_long(argc, argv, "qhV", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_RAW: raw = 1; break;
		case OPT_N2P2: n2p2 = optarg; break;
		case OPT_HEAD: head = optarg; break;
		case OPT_DATA: data[n_data++] = optarg; break;
		case OPT_PLUGIN_PATH:
			if (mlip_plugins_add_dir(&reg, optarg, &err))
				return cli_fail(&err);
			break;
		case 'q': quiet = 1; break;
		case 'h': fputs(usage_text, stdout); return cli_finish(CLI_OK);
		case 'V': cli_version(); return cli_finish(CLI_OK);
		default: return cli_bad_option(argv, "qhV", longopts);
		}
	}
	if (n2p2) {
		if (argc - optind != 1)
			return cli_usage_error("--n2p2 DIR takes one MODEL (an inference checkpoint "
					       "or a training checkpoint directory)");
		if (quiet)
			mlip_log_set_level(MLIP_LOG_WARN);
		rc = export_n2p2(argv[optind], n2p2, head, data, n_data, raw, quiet, &reg);
		free(data);
		mlip_plugins_release(&reg);
		return rc;
	}
	free(data);
	if (head || n_data)
		return cli_usage_error("--head and --data go with --n2p2");
	if (argc - optind != 2)
		return cli_usage_error("expected CHECKPOINT_DIR and OUT");
	const char *dir = argv[optind], *out = argv[optind + 1];
	if ((rc = mlip_potential_from_run(&p, dir, &reg, &err))) {
		mlip_plugins_release(&reg);
		return cli_fail(&err);
	}
	rc = mlip_potential_save(&p, out, p.raw, p.ema, !raw, &err);
	if (!rc && !quiet)
		mlip_log(MLIP_LOG_INFO, "%s: %zu parameters, %s weights primary%s", out, p.model->n_params,
			 p.ema && !raw ? "EMA" : "raw", p.ema ? " (raw and EMA kept)" : "");
	mlip_potential_release(&p);
	mlip_plugins_release(&reg);
	if (rc)
		return cli_fail(&err);
	return cli_finish(CLI_OK);
}
