/*
 * plot.h - the figures of mlip-plot, drawn as SVG (svgplot.h) from what
 * plotdata.h reads: a learning curve and parity plots.
 *
 *     struct mlip_svg s;
 *     mlip_svg_init(&s);
 *     rc = mlip_plot_parity(&s, &pred, "parity: pred.xyz", err);
 *     // s.buf holds the whole document (s.len bytes)
 *     mlip_svg_release(&s);
 */
#ifndef MLIP_PLOT_H
#define MLIP_PLOT_H

#include "plotdata.h"
#include "svgplot.h"

struct mlip_curve_opts {
	const char *title;    /* above the plot (NULL: none) */
	const char *ylabel;   /* NULL: "value" */
	double lbfgs_start;   /* step where an L-BFGS phase starts, NAN for none */
	int linear;           /* a linear y axis even when every value is positive */
};

/*
 * A whole SVG document into s (which must be empty): series[0..n) against
 * step in one panel of 800 × 500, the y axis log10 unless opts->linear or a
 * value is <= 0, one colour per series (keys starting with "val/" dashed),
 * a marker on each point when a series has at most 150, hollow markers and a
 * shaded band with a dashed line for the L-BFGS phase, and a legend. Each
 * series is one <path class="series" data-name="KEY"> with one point per
 * value. MLIP_EINVAL when no series has a point; MLIP_ENOMEM.
 */
int mlip_plot_curve(struct mlip_svg *s, const struct mlip_series *series, size_t n,
		    const struct mlip_curve_opts *opts, struct mlip_err *err);

/*
 * A whole SVG document into s (which must be empty): parity panels side by
 * side for energy per atom and forces, and stress when p has stress pairs;
 * each with equal axes, the line y = x, one <circle> per pair, and its MAE,
 * RMSE and count as text (4 significant digits) and, exactly, as data-mae,
 * data-rmse and data-n attributes of <g class="stats">. Each panel is a
 * <g class="panel" data-panel="energy|forces|stress">. A panel without pairs
 * says so. title (NULL: none) goes above. MLIP_EINVAL when p has no pairs at
 * all; MLIP_ENOMEM.
 */
int mlip_plot_parity(struct mlip_svg *s, const struct mlip_predictions *p, const char *title,
		     struct mlip_err *err);

#endif
