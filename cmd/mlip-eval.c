/*
 * mlip-eval - evaluate a trained potential on batch streams or structure
 * files: one JSON object of metrics on stdout (or appended to a history
 * file), optional per-structure errors and extxyz predictions, and an exit
 * status for cron (--fail-if). Runs as one process or under mpiexec.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "dist.h"
#include "evaluate.h"
#include "log.h"
#include "plugin.h"

static const char usage_text[] =
	"usage: mlip-eval [OPTIONS] MODEL [DATA...]\n"
	"\n"
	"Evaluate an inference checkpoint on batch streams or structure files (extxyz,\n"
	"mlearn JSON, n2p2 input.data; - or no DATA reads standard input) and print the\n"
	"metrics as one JSON object.\n"
	"\n"
	"  -t, --task NAME          evaluate only this task (repeatable)\n"
	"  -d, --dataset NAME       evaluate only this dataset (repeatable); structures\n"
	"                           that name none belong to the first (default: the\n"
	"                           model's only dataset, else 'default')\n"
	"      --tasks FILE         evaluate with the tasks: list of a YAML file instead\n"
	"      --weights WHICH      raw or ema (default: the model's primary weights)\n"
	"      --head NAME          head for --predictions and --per-structure (default: first)\n"
	"  -p, --predictions FILE   write predictions with the reference labels as extxyz\n"
	"      --per-structure      print one JSON line of errors per structure first\n"
	"      --jsonl FILE         append the results to FILE instead of printing them\n"
	"      --fail-if KEY>VALUE  exit 1 when a result crosses a threshold (also >=, <, <=;\n"
	"                           repeatable)\n"
	"      --plugin-path DIR    search DIR for loss and normalizer plugins first\n"
	"  -q, --quiet              no progress on stderr\n"
	"  -h, --help               show this help and exit\n"
	"  -V, --version            show the version and exit\n";

enum { OPT_TASKS = 256, OPT_WEIGHTS, OPT_HEAD, OPT_PER_STRUCTURE, OPT_JSONL, OPT_FAIL_IF,
       OPT_PLUGIN_PATH };

static const struct option longopts[] = {
	{ "task", required_argument, NULL, 't' },
	{ "dataset", required_argument, NULL, 'd' },
	{ "tasks", required_argument, NULL, OPT_TASKS },
	{ "weights", required_argument, NULL, OPT_WEIGHTS },
	{ "head", required_argument, NULL, OPT_HEAD },
	{ "predictions", required_argument, NULL, 'p' },
	{ "per-structure", no_argument, NULL, OPT_PER_STRUCTURE },
	{ "jsonl", required_argument, NULL, OPT_JSONL },
	{ "fail-if", required_argument, NULL, OPT_FAIL_IF },
	{ "plugin-path", required_argument, NULL, OPT_PLUGIN_PATH },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

int main(int argc, char **argv)
{
	struct mlip_eval_opts o;
	struct mlip_err err = { 0 };
	struct mlip_plugins reg;
	size_t cap = (size_t)argc + 1;
	const char **tasks = calloc(cap, sizeof(char *));
	const char **datasets = calloc(cap, sizeof(char *));
	struct mlip_eval_cond *conds = calloc(cap, sizeof(*conds));
	static const char *const stdin_only[] = { "-" };
	int quiet = 0, c, status;

	cli_init(argv[0]);
	mlip_plugins_init(&reg);
	mlip_eval_opts_init(&o);
	if (!tasks || !datasets || !conds)
		return cli_error(MLIP_ENOMEM, "out of memory");
	o.tasks = tasks;
	o.datasets = datasets;
	o.conds = conds;
	while ((c = getopt_long(argc, argv, "t:d:p:qhV", longopts, NULL)) != -1) {
		switch (c) {
		case 't': tasks[o.n_tasks++] = optarg; break;
		case 'd': datasets[o.n_datasets++] = optarg; break;
		case OPT_TASKS: o.tasks_file = optarg; break;
		case OPT_WEIGHTS:
			if (strcmp(optarg, "raw") == 0)
				o.weights = MLIP_WEIGHTS_RAW;
			else if (strcmp(optarg, "ema") == 0)
				o.weights = MLIP_WEIGHTS_EMA;
			else
				return cli_usage_error("--weights is raw or ema, not '%s'", optarg);
			break;
		case OPT_HEAD: o.head = optarg; break;
		case 'p': o.predictions = optarg; break;
		case OPT_PER_STRUCTURE: o.per_structure = 1; break;
		case OPT_JSONL: o.jsonl = optarg; break;
		case OPT_FAIL_IF:
			if (mlip_eval_cond_parse(optarg, &conds[o.n_conds], &err))
				return cli_usage_error("%s", err.msg);
			o.n_conds++;
			break;
		case OPT_PLUGIN_PATH:
			if (mlip_plugins_add_dir(&reg, optarg, &err))
				return cli_fail(&err);
			break;
		case 'q': quiet = 1; break;
		case 'h': fputs(usage_text, stdout); return cli_finish(CLI_OK);
		case 'V': cli_version(); return cli_finish(CLI_OK);
		default: return cli_bad_option(argv, "t:d:p:qhV", longopts);
		}
	}
	if (optind == argc)
		return cli_usage_error("missing MODEL (an inference checkpoint)");
	o.model = argv[optind++];
	o.inputs = optind < argc ? (const char *const *)argv + optind : stdin_only;
	o.n_inputs = optind < argc ? (size_t)(argc - optind) : 1;
	o.progress = !quiet;
	o.reg = &reg;

	if (mlip_dist_init(&argc, &argv, &err))
		return cli_fail(&err);
	int rank = mlip_dist_rank();
	if (quiet || rank != 0)
		mlip_log_set_level(MLIP_LOG_WARN);
	o.out = rank == 0 ? stdout : NULL;

	int rc = mlip_eval_run(&o, &err);
	/* every rank knows the status; the rank where it happened, and rank 0, say why */
	if (rc && (rank == 0 || strncmp(err.msg, "rank ", 5) != 0))
		status = cli_fail(&err);
	else
		status = cli_status(rc);
	free(tasks);
	free(datasets);
	free(conds);
	mlip_plugins_release(&reg);
	mlip_dist_finalize();
	return cli_finish(status);
}
