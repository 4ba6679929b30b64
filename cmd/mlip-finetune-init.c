/*
 * mlip-finetune-init - the starting model of a fine-tuning run: a trained
 * model's raw weights under a merged configuration, with heads kept, added
 * or dropped. mlip-train reads the result through model: {init_from: OUT}.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "finetune.h"
#include "log.h"
#include "plugin.h"
#include "potential.h"

static const char usage_text[] =
	"usage: mlip-finetune-init MODEL -o OUT [--set KEY=VALUE | --unset KEY]... [--heads FILE] "
	"[--no-strict] [OPTIONS]\n"
	"\n"
	"Make the starting model of a fine-tuning run from MODEL (an inference checkpoint\n"
	"or a training checkpoint directory; its raw weights), for mlip-train's\n"
	"model: {init_from: OUT}. Every head is kept unless --heads says otherwise.\n"
	"\n"
	"  -o, --output OUT         the inference checkpoint to write\n"
	"      --set KEY=VALUE      override a key of MODEL's configuration, e.g.\n"
	"                           --set model.elements=[Si,Li]\n"
	"      --unset KEY          remove a key or list item of it, e.g. --unset tasks.2\n"
	"      --heads FILE         the new head list (YAML: heads: [{name, copy_from}])\n"
	"      --no-strict          start weights that do not fit afresh and skip overrides\n"
	"                           that fail, with a warning each, instead of refusing\n"
	"      --pin-descriptors    write MODEL's descriptor set into the configuration, so\n"
	"                           new elements or a new cutoff leave it unchanged\n"
	"      --scaling-data FILE  fit the scaling of new inputs on this batch stream\n"
	"                           (repeatable)\n"
	"      --plugin-path DIR    search DIR for loss and normalizer plugins first\n"
	"  -q, --quiet              report only warnings and errors on stderr\n"
	"  -h, --help               show this help and exit\n"
	"  -V, --version            show the version and exit\n";

enum { OPT_SET = 256, OPT_UNSET, OPT_HEADS, OPT_NO_STRICT, OPT_PIN, OPT_SCALING, OPT_PLUGIN_PATH };

static const struct option longopts[] = {
	{ "output", required_argument, NULL, 'o' },
	{ "set", required_argument, NULL, OPT_SET },
	{ "unset", required_argument, NULL, OPT_UNSET },
	{ "heads", required_argument, NULL, OPT_HEADS },
	{ "no-strict", no_argument, NULL, OPT_NO_STRICT },
	{ "pin-descriptors", no_argument, NULL, OPT_PIN },
	{ "scaling-data", required_argument, NULL, OPT_SCALING },
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
	struct mlip_potential base, out;
	struct mlip_finetune_opts o;
	struct mlip_finetune_heads heads = { 0 };
	const char **sets = calloc((size_t)argc + 1, sizeof(char *));
	const char **scaling = calloc((size_t)argc + 1, sizeof(char *));
	const char *out_path = NULL, *heads_path = NULL;
	int c, rc;

	cli_init(argv[0]);
	if (!sets || !scaling)
		return cli_error(MLIP_ENOMEM, "out of memory");
	mlip_plugins_init(&reg);
	mlip_finetune_opts_init(&o);
	while ((c = getopt_long(argc, argv, "o:qhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'o': out_path = optarg; break;
		case OPT_SET:
			if (!strchr(optarg, '='))
				return cli_usage_error("--set takes KEY=VALUE, not '%s'", optarg);
			sets[o.n_overrides++] = optarg;
			break;
		case OPT_UNSET:
			if (strchr(optarg, '=') || !*optarg)
				return cli_usage_error("--unset takes a KEY, not '%s'", optarg);
			sets[o.n_overrides++] = optarg;
			break;
		case OPT_HEADS: heads_path = optarg; break;
		case OPT_NO_STRICT: o.strict = false; break;
		case OPT_PIN: o.pin_descriptors = true; break;
		case OPT_SCALING: scaling[o.n_scaling_data++] = optarg; break;
		case OPT_PLUGIN_PATH:
			if (mlip_plugins_add_dir(&reg, optarg, &err))
				return cli_fail(&err);
			break;
		case 'q': mlip_log_set_level(MLIP_LOG_WARN); break;
		case 'h': fputs(usage_text, stdout); return cli_finish(CLI_OK);
		case 'V': cli_version(); return cli_finish(CLI_OK);
		default: return cli_bad_option(argv, "o:qhV", longopts);
		}
	}
	if (argc == optind)
		return cli_usage_error("expected MODEL");
	if (argc - optind > 1)
		return cli_usage_error("unexpected argument '%s'", argv[optind + 1]);
	if (!out_path)
		return cli_usage_error("missing -o OUT");
	o.overrides = sets;
	o.scaling_data = scaling;
	if (heads_path) {
		if ((rc = mlip_finetune_heads_load(heads_path, &heads, &err)))
			return cli_fail(&err);
		o.heads = &heads;
	}
	rc = mlip_finetune_load_base(&base, argv[optind], &reg, &err);
	if (!rc) {
		rc = mlip_finetune_init(&out, &base, &o, &reg, &err);
		mlip_potential_release(&base);
	}
	if (!rc) {
		rc = mlip_potential_save(&out, out_path, out.raw, NULL, 0, &err);
		if (!rc)
			mlip_log(MLIP_LOG_INFO, "written to %s", out_path);
		mlip_potential_release(&out);
	}
	mlip_finetune_heads_release(&heads);
	mlip_plugins_release(&reg);
	free(sets);
	free(scaling);
	if (rc)
		return cli_fail(&err);
	return cli_finish(CLI_OK);
}
