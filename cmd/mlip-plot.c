/*
 * mlip-plot - pictures for batch jobs without Python: the learning curve of
 * mlip-train's metrics and the parity plots of mlip-eval's predictions, as
 * SVG (convert with rsvg-convert or any SVG renderer for a PNG).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "log.h"
#include "outfile.h"
#include "plot.h"

static const char usage_text[] =
	"usage: mlip-plot curve [-o FILE] [-k KEY]... [--linear] [-t TITLE] [METRICS]\n"
	"   or: mlip-plot parity [-o FILE] [-t TITLE] [PREDICTIONS]\n"
	"\n"
	"Draw a learning curve from mlip-train's metrics (JSON Lines) or parity plots\n"
	"from mlip-eval --predictions (extxyz) as SVG. - or no file reads standard input.\n"
	"\n"
	"  -o, --output FILE    write the SVG to FILE (default: standard output)\n"
	"  -k, --key KEY        curve: plot this key of the train and val records\n"
	"                       (repeatable; default: loss and val/loss)\n"
	"      --linear         curve: a linear y axis (default: log10 when all values\n"
	"                       are positive)\n"
	"  -t, --title TITLE    the title (default: the kind of plot and the file)\n"
	"  -h, --help           show this help and exit\n"
	"  -V, --version        show the version and exit\n";

enum { OPT_LINEAR = 256 };

static const struct option longopts[] = {
	{ "output", required_argument, NULL, 'o' },
	{ "key", required_argument, NULL, 'k' },
	{ "linear", no_argument, NULL, OPT_LINEAR },
	{ "title", required_argument, NULL, 't' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

/* Write the finished document to path ("-": standard output), whole or not at all. */
static int write_svg(const struct mlip_svg *s, const char *path, struct mlip_err *err)
{
	struct mlip_outfile o;
	int rc = mlip_outfile_open(&o, path, err);
	if (rc)
		return rc;
	if (fwrite(s->buf, 1, s->len, o.f) != s->len) {
		mlip_outfile_abort(&o);
		return mlip_err_set(err, MLIP_EIO, "cannot write '%s'", path);
	}
	return mlip_outfile_commit(&o, err);
}

static int plot_curve(struct mlip_svg *svg, FILE *f, const char *name, const char *const *keys,
		      size_t n_keys, int linear, const char *title, struct mlip_err *err)
{
	static const char *const defaults[] = { "loss", "val/loss" };
	struct mlip_metrics_log m;
	struct mlip_series series[64];
	size_t n = 0;
	char deftitle[300];
	int rc;

	mlip_metrics_log_init(&m);
	if ((rc = mlip_metrics_log_read(&m, f, name, err)))
		goto out;
	const char *present[2];
	int by_default = n_keys == 0;
	if (by_default) {
		/* the default keys the log has; when neither, "loss" fails naming the keys there are */
		for (size_t k = 0; k < 2; k++)
			if (mlip_metrics_log_has(&m, defaults[k]))
				present[n_keys++] = defaults[k];
		if (n_keys == 0)
			present[n_keys++] = defaults[0];
		keys = present;
	}
	for (; n < n_keys; n++) {
		if ((rc = mlip_metrics_log_series(&m, keys[n], &series[n], err)))
			goto out;
		if (series[n].n == 0)
			mlip_log(MLIP_LOG_WARN, "'%s' is null in every record that has it", keys[n]);
	}
	struct mlip_curve_opts o = {
		.title = title,
		.ylabel = by_default ? "loss (normalized)" : n_keys == 1 ? keys[0] : "value",
		.lbfgs_start = mlip_metrics_log_lbfgs_start(&m),
		.linear = linear,
	};
	if (!title) {
		snprintf(deftitle, sizeof(deftitle), "learning curve: %s", name);
		o.title = deftitle;
	}
	rc = mlip_plot_curve(svg, series, n, &o, err);
	if (rc == MLIP_EINVAL)
		rc = mlip_err_prefix(err, MLIP_EDATA, "%s: ", name);
out:
	while (n)
		mlip_series_release(&series[--n]);
	mlip_metrics_log_release(&m);
	return rc;
}

static int plot_parity(struct mlip_svg *svg, FILE *f, const char *name, const char *title,
		       struct mlip_err *err)
{
	struct mlip_predictions p;
	char deftitle[300];
	int rc;
	mlip_predictions_init(&p);
	if (!(rc = mlip_predictions_read(&p, f, name, err))) {
		if (!title) {
			snprintf(deftitle, sizeof(deftitle), "parity: %s", name);
			title = deftitle;
		}
		rc = mlip_plot_parity(svg, &p, title, err);
		/* unlabelled data is a fault of the input, not of the command line */
		if (rc == MLIP_EINVAL)
			rc = mlip_err_prefix(err, MLIP_EDATA, "%s: ", name);
	}
	mlip_predictions_release(&p);
	return rc;
}

int main(int argc, char **argv)
{
	struct mlip_err err = { 0 };
	struct mlip_svg svg;
	const char *output = "-", *title = NULL;
	const char **keys = calloc((size_t)argc + 1, sizeof(char *));
	size_t n_keys = 0;
	int linear = 0, c, rc;
	FILE *f;

	cli_init(argv[0]);
	if (!keys)
		return cli_error(MLIP_ENOMEM, "out of memory");
	static const char shortopts[] = "o:k:t:hV";
	while ((c = getopt_long(argc, argv, shortopts, longopts, NULL)) != -1) {
		switch (c) {
		case 'o': output = optarg; break;
		case 'k':
			if (n_keys == 64)
				return cli_usage_error("at most 64 --key");
			keys[n_keys++] = optarg;
			break;
		case OPT_LINEAR: linear = 1; break;
		case 't': title = optarg; break;
		case 'h': fputs(usage_text, stdout); return cli_finish(CLI_OK);
		case 'V': cli_version(); return cli_finish(CLI_OK);
		default: return cli_bad_option(argv, shortopts, longopts);
		}
	}
	if (optind == argc)
		return cli_usage_error("missing what to plot: curve or parity");
	const char *what = argv[optind++];
	int curve = strcmp(what, "curve") == 0;
	if (!curve && strcmp(what, "parity") != 0)
		return cli_usage_error("unknown plot '%s' (curve or parity)", what);
	if (!curve && (n_keys || linear))
		return cli_usage_error("%s is an option of 'curve'", n_keys ? "--key" : "--linear");
	if (argc - optind > 1)
		return cli_usage_error("one input file at most, got %d", argc - optind);
	size_t olen = strlen(output);
	if (olen >= 4 && strcmp(output + olen - 4, ".png") == 0)
		return cli_usage_error("mlip-plot writes SVG only; for a PNG: "
				       "mlip-plot %s ... | rsvg-convert -o '%s'", what, output);
	const char *path = optind < argc ? argv[optind] : "-";
	const char *name = strcmp(path, "-") == 0 ? "<stdin>" : path;

	if ((rc = mlip_open_input(&f, path, &err))) {
		free(keys);
		return cli_finish(cli_fail(&err));
	}
	mlip_svg_init(&svg);
	if (curve)
		rc = plot_curve(&svg, f, name, keys, n_keys, linear, title, &err);
	else
		rc = plot_parity(&svg, f, name, title, &err);
	mlip_close_input(f);
	if (!rc)
		rc = write_svg(&svg, output, &err);
	mlip_svg_release(&svg);
	free(keys);
	return cli_finish(rc ? cli_fail(&err) : CLI_OK);
}
