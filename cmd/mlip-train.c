/*
 * mlip-train - train a potential from a YAML config and batch streams:
 * checkpoints and the model in a run directory, metrics as JSON Lines on
 * stdout, logs and progress on stderr. Runs as one process or under mpiexec.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "config.h"
#include "dist.h"
#include "log.h"
#include "plugin.h"
#include "train.h"

static const char usage_text[] =
	"usage: mlip-train -c CONFIG [-o RUN_DIR] [--set KEY=VALUE | --unset KEY]... [OPTIONS]\n"
	"   or: mlip-train --resume CHECKPOINT_DIR [-c CONFIG] [-o RUN_DIR] [OPTIONS]\n"
	"\n"
	"Train a potential (mlip-config(5)); metrics go to stdout as JSON Lines.\n"
	"\n"
	"  -c, --config FILE        the training configuration (YAML; - for stdin)\n"
	"  -o, --output RUN_DIR     run directory (default: run, or the resumed run's)\n"
	"      --set KEY=VALUE      override a config key, e.g. --set optim.lr=1e-4\n"
	"      --unset KEY          remove a config key or list item, e.g. --unset tasks.2\n"
	"      --resume DIR         continue from a checkpoint directory\n"
	"      --force              replace the run already in RUN_DIR (refused otherwise)\n"
	"      --plugin-path DIR    search DIR for loss and normalizer plugins first\n"
	"  -q, --quiet              no progress or information on stderr\n"
	"  -h, --help               show this help and exit\n"
	"  -V, --version            show the version and exit\n";

enum { OPT_SET = 256, OPT_UNSET, OPT_RESUME, OPT_PLUGIN_PATH, OPT_FORCE };

static const struct option longopts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "output", required_argument, NULL, 'o' },
	{ "set", required_argument, NULL, OPT_SET },
	{ "unset", required_argument, NULL, OPT_UNSET },
	{ "resume", required_argument, NULL, OPT_RESUME },
	{ "force", no_argument, NULL, OPT_FORCE },
	{ "plugin-path", required_argument, NULL, OPT_PLUGIN_PATH },
	{ "quiet", no_argument, NULL, 'q' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

/* The run directory of a checkpoint: RUN/checkpoints/step_N -> RUN. */
static char *run_dir_of(const char *ckpt)
{
	char *d = strdup(ckpt);
	size_t n = strlen(d);
	while (n > 1 && d[n - 1] == '/')
		d[--n] = '\0';
	for (int up = 0; up < 2; up++) {
		char *slash = strrchr(d, '/');
		if (!slash) {
			free(d);
			return strdup(".");
		}
		*slash = '\0';
	}
	return d;
}

int main(int argc, char **argv)
{
	const char *config = NULL, *out_dir = NULL, *resume = NULL;
	const char **sets = calloc((size_t)argc + 1, sizeof(char *));
	size_t n_sets = 0;
	int quiet = 0, force = 0, c, rc, status;
	struct mlip_err err = { 0 };
	struct mlip_plugins reg;

	cli_init(argv[0]);
	mlip_plugins_init(&reg);
	while ((c = getopt_long(argc, argv, "c:o:qhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'c': config = optarg; break;
		case 'o': out_dir = optarg; break;
		case OPT_SET:
			if (!strchr(optarg, '='))
				return cli_usage_error("--set takes KEY=VALUE, not '%s'", optarg);
			sets[n_sets++] = optarg;
			break;
		case OPT_UNSET:
			if (strchr(optarg, '=') || !*optarg)
				return cli_usage_error("--unset takes a KEY, not '%s'", optarg);
			sets[n_sets++] = optarg;
			break;
		case OPT_RESUME: resume = optarg; break;
		case OPT_FORCE: force = 1; break;
		case OPT_PLUGIN_PATH:
			if (mlip_plugins_add_dir(&reg, optarg, &err))
				return cli_fail(&err);
			break;
		case 'q': quiet = 1; break;
		case 'h': fputs(usage_text, stdout); return cli_finish(CLI_OK);
		case 'V': cli_version(); return cli_finish(CLI_OK);
		default: return cli_bad_option(argv, "c:o:qhV", longopts);
		}
	}
	if (optind < argc)
		return cli_usage_error("unexpected argument '%s'", argv[optind]);
	if (!config && !resume)
		return cli_usage_error("missing --config (or --resume)");
	if (resume && n_sets && !config)
		return cli_usage_error("--set and --unset need -c when resuming (the result must agree "
				       "with the checkpoint)");

	if (mlip_dist_init(&argc, &argv, &err))
		return cli_fail(&err);
	int rank = mlip_dist_rank();
	if (quiet || rank != 0)
		mlip_log_set_level(MLIP_LOG_WARN);

	struct mlip_config cfg, user;
	mlip_config_init(&cfg);
	mlip_config_init(&user);
	rc = MLIP_OK;
	if (config)
		rc = mlip_config_load(config, sets, n_sets, resume ? &user : &cfg, &err);
	if (!rc && resume)
		rc = mlip_train_resume_config(resume, config ? &user : NULL, &cfg, &err);
	mlip_config_release(&user);
	char *run_dir = NULL;
	if (!rc)
		run_dir = out_dir ? strdup(out_dir) : resume ? run_dir_of(resume) : strdup("run");

	if (!rc) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_signal;
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		struct mlip_train_opts opts = {
			.run_dir = run_dir, .resume_dir = resume, .metrics = rank == 0 ? stdout : NULL,
			.progress = !quiet, .stop = &stop_signal, .reg = &reg, .force = force,
		};
		int stopped = 0;
		rc = mlip_train_run(&cfg, &opts, &stopped, &err);
		if (!rc && stopped) {
			if (rank == 0)
				mlip_log(MLIP_LOG_WARN, "stopped by signal %d after writing a checkpoint; "
					 "continue with --resume", (int)stop_signal);
			free(run_dir);
			free(sets);
			mlip_plugins_release(&reg);
			mlip_dist_finalize();
			fflush(stdout);
			return 128 + (int)stop_signal;
		}
	} else {
		mlip_config_release(&cfg);
	}
	free(run_dir);
	free(sets);
	mlip_plugins_release(&reg);
	/* every rank knows the error; the rank it happened on, and rank 0, say it */
	if (rc) {
		if (rank == 0 || strncmp(err.msg, "rank ", 5) != 0)
			status = cli_fail(&err);
		else
			status = cli_status(rc);
	} else {
		status = CLI_OK;
	}
	mlip_dist_finalize();
	return cli_finish(status);
}
