/*
 * mlip-ckpt-convert - a training checkpoint (any number of shards, either
 * strategy) to one inference checkpoint.
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "log.h"
#include "plugin.h"
#include "potential.h"

static const char usage_text[] =
	"usage: mlip-ckpt-convert [OPTIONS] CHECKPOINT_DIR OUT\n"
	"\n"
	"Merge the shards of a training checkpoint (RUN/checkpoints/step_N or final)\n"
	"into one inference checkpoint that mlip-eval and mlip-finetune-init read.\n"
	"\n"
	"      --raw                make the raw weights primary (default: the EMA\n"
	"                           weights when the run kept an EMA)\n"
	"      --plugin-path DIR    search DIR for normalizer plugins first\n"
	"  -q, --quiet              say nothing on stderr on success\n"
	"  -h, --help               show this help and exit\n"
	"  -V, --version            show the version and exit\n";

enum { OPT_RAW = 256, OPT_PLUGIN_PATH };

static const struct option longopts[] = {
	{ "raw", no_argument, NULL, OPT_RAW },
	{ "plugin-path", required_argument, NULL, OPT_PLUGIN_PATH },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

int main(int argc, char **argv)
{
	struct mlip_err err = { 0 };
	struct mlip_plugins reg;
	struct mlip_potential p;
	int raw = 0, quiet = 0, c, rc;

	cli_init(argv[0]);
	mlip_plugins_init(&reg);
	while ((c = getopt_long(argc, argv, "qhV", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_RAW: raw = 1; break;
		case OPT_PLUGIN_PATH:
			if (mlip_plugins_add_dir(&reg, optarg, &err))
				return cli_fail(&err);
			break;
		case 'q': quiet = 1; break;
		case 'h': fputs(usage_text, stdout); return cli_finish(CLI_OK);
		case 'V': cli_version(); return cli_finish(CLI_OK);
		default: return cli_usage_error("unknown option");
		}
	}
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
