/*
 * plot.c - the learning-curve and parity figures of mlip-plot (plot.h).
 *
 * Layout is in SVG user units for a figure read at about 800 px wide:
 * fonts of 12-16 units and margins sized for tick labels of up to about
 * seven characters. Everything here is a pure function of the data, so the
 * same input gives the same bytes.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "plot.h"
#include "banned.h"

/* Series with more points than this get no markers: a marker per print_every
 * record of a long run would hide the line. */
#define CURVE_MARKERS_MAX 150

static int is_val_key(const char *key)
{
	return strncmp(key, "val/", 4) == 0;
}

int mlip_plot_curve(struct mlip_svg *s, const struct mlip_series *series, size_t n,
		    const struct mlip_curve_opts *opts, struct mlip_err *err)
{
	double xmin = INFINITY, xmax = -INFINITY, ymin = INFINITY, ymax = -INFINITY;
	size_t points = 0;
	int log = !opts->linear;
	for (size_t k = 0; k < n; k++)
		for (size_t i = 0; i < series[k].n; i++) {
			xmin = fmin(xmin, series[k].x[i]);
			xmax = fmax(xmax, series[k].x[i]);
			ymin = fmin(ymin, series[k].y[i]);
			ymax = fmax(ymax, series[k].y[i]);
			points++;
		}
	if (points == 0)
		return mlip_err_set(err, MLIP_EINVAL, "nothing to plot: no value in any series");
	if (ymin <= 0)
		log = 0;   /* a log axis cannot show zero or a negative metric */
	double lb = opts->lbfgs_start;
	if (isfinite(lb)) {
		xmin = fmin(xmin, lb);
		xmax = fmax(xmax, lb);
	}

	struct mlip_panel p = { .x = 85, .y = 50, .w = 685, .h = 385 };
	mlip_axis_fit(&p.ax, xmin, xmax, 0);
	mlip_axis_fit(&p.ay, ymin, ymax, log);
	mlip_svg_begin(s, 800, 500, opts->title);
	mlip_panel_axes(s, &p, opts->title, "step", opts->ylabel ? opts->ylabel : "value");

	struct mlip_legend_entry legend[66];
	size_t nl = 0;
	if (isfinite(lb)) {
		double x0 = mlip_panel_px(&p, lb), x1 = p.x + p.w;
		mlip_svg_printf(s, "<g class=\"lbfgs\" data-step=\"%.17g\">\n<rect x=\"%.2f\" "
				"y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"#999999\" "
				"fill-opacity=\"0.15\"/>\n", lb, x0, p.y, x1 - x0, p.h);
		mlip_svg_printf(s, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
				"stroke=\"#555555\" stroke-width=\"1.2\" stroke-dasharray=\"4 3\"/>\n",
				x0, p.y, x0, p.y + p.h);
		mlip_svg_text(s, x0 + 5, p.y + p.h - 8, "start", 12, "fill=\"#555555\"", "L-BFGS");
		mlip_svg_printf(s, "</g>\n");
	}
	for (size_t k = 0; k < n; k++) {
		const struct mlip_series *se = &series[k];
		const char *color = mlip_plot_color(k);
		const char *dash = is_val_key(se->key) ? "6 3" : NULL;
		mlip_panel_path(s, &p, se->x, se->y, se->n, color, dash, se->key);
		/* the L-BFGS records hollow, the others filled (when not too many) */
		double xs[2][CURVE_MARKERS_MAX], ys[2][CURVE_MARKERS_MAX];
		size_t nm[2] = { 0, 0 };
		int few = se->n <= CURVE_MARKERS_MAX;
		for (size_t i = 0; i < se->n; i++) {
			int h = se->lbfgs[i] != 0;
			if ((few || h) && nm[h] < CURVE_MARKERS_MAX) {
				xs[h][nm[h]] = se->x[i];
				ys[h][nm[h]++] = se->y[i];
			}
		}
		if (nm[0])
			mlip_panel_markers(s, &p, xs[0], ys[0], nm[0], color, 3, 1, 0);
		if (nm[1])
			mlip_panel_markers(s, &p, xs[1], ys[1], nm[1], color, 3.2, 1, 1);
		if (nl < sizeof(legend) / sizeof(legend[0]) - 1)
			legend[nl++] = (struct mlip_legend_entry){ .label = se->key, .color = color,
								   .dash = dash, .marker = few ? 1 : 0 };
	}
	if (isfinite(lb))
		legend[nl++] = (struct mlip_legend_entry){ .label = "L-BFGS phase (hollow markers)",
							   .color = "#e0e0e0", .box = 1 };
	mlip_panel_legend(s, &p, legend, nl);
	return mlip_svg_finish(s, err);
}

/* One parity panel of q, with its data range fitted to both axes alike. */
static void parity_panel(struct mlip_svg *s, struct mlip_panel *p, const struct mlip_parity *q,
			 const char *id, const char *title, const char *unit, const char *empty,
			 double radius)
{
	double lo = INFINITY, hi = -INFINITY, mae, rmse;
	char xl[64], yl[64], line[96];
	for (size_t i = 0; i < q->n; i++) {
		lo = fmin(lo, fmin(q->pred[i], q->ref[i]));
		hi = fmax(hi, fmax(q->pred[i], q->ref[i]));
	}
	mlip_axis_fit(&p->ax, lo, hi, 0);
	p->ay = p->ax;   /* equal axes: a square panel with one range */
	snprintf(xl, sizeof(xl), "reference (%s)", unit);
	snprintf(yl, sizeof(yl), "predicted (%s)", unit);
	mlip_svg_printf(s, "<g class=\"panel\" data-panel=\"%s\">\n", id);
	mlip_panel_axes(s, p, title, xl, yl);
	if (q->n == 0) {
		mlip_svg_text(s, p->x + p->w / 2, p->y + p->h / 2, "middle", 13, "fill=\"#555555\"",
			      empty);
		mlip_svg_printf(s, "</g>\n");
		return;
	}
	mlip_panel_line(s, p, p->ax.lo, p->ax.lo, p->ax.hi, p->ax.hi, "#666666", 1, "5 4");
	mlip_panel_markers(s, p, q->ref, q->pred, q->n, "#0072B2", radius, 0.5, 0);
	mlip_parity_errors(q, &mae, &rmse);
	mlip_svg_printf(s, "<g class=\"stats\" data-n=\"%zu\" data-mae=\"%.17g\" data-rmse=\"%.17g\">\n"
			"<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"62\" fill=\"#ffffff\" "
			"fill-opacity=\"0.85\"/>\n", q->n, mae, rmse, p->x + 1, p->y + 1, p->w * 0.62);
	snprintf(line, sizeof(line), "MAE %.4g %s", mae, unit);
	mlip_svg_text(s, p->x + 8, p->y + 18, "start", 13, NULL, line);
	snprintf(line, sizeof(line), "RMSE %.4g %s", rmse, unit);
	mlip_svg_text(s, p->x + 8, p->y + 36, "start", 13, NULL, line);
	snprintf(line, sizeof(line), "n = %zu", q->n);
	mlip_svg_text(s, p->x + 8, p->y + 54, "start", 13, "fill=\"#555555\"", line);
	mlip_svg_printf(s, "</g>\n</g>\n");
}

int mlip_plot_parity(struct mlip_svg *s, const struct mlip_predictions *pr, const char *title,
		     struct mlip_err *err)
{
	if (pr->energy.n == 0 && pr->forces.n == 0 && pr->stress.n == 0)
		return mlip_err_set(err, MLIP_EINVAL, "nothing to plot: no frame has ref_energy, "
				    "ref_forces or ref_stress beside the prediction");
	const double size = 320, left = 95, gap = 105, top = 70, bottom = 62, right = 30;
	int panels = pr->stress.n ? 3 : 2;
	double width = left + panels * size + (panels - 1) * gap + right;
	char t[3][96];
	mlip_svg_begin(s, width, top + size + bottom, title);
	if (title)
		mlip_svg_text(s, width / 2, 24, "middle", 16, "font-weight=\"bold\"", title);
	snprintf(t[0], sizeof(t[0]), "energy per atom (%zu frames)", pr->energy.n);
	snprintf(t[1], sizeof(t[1]), "forces (%zu components)", pr->forces.n);
	snprintf(t[2], sizeof(t[2]), "stress (%zu components)", pr->stress.n);
	struct mlip_panel p[3];
	for (int k = 0; k < panels; k++)
		p[k] = (struct mlip_panel){ .x = left + k * (size + gap), .y = top, .w = size, .h = size };
	parity_panel(s, &p[0], &pr->energy, "energy", t[0], "eV/atom",
		     "no frame with energy and ref_energy", 3);
	parity_panel(s, &p[1], &pr->forces, "forces", t[1], "eV/\xc3\x85",
		     "no frame with forces and ref_forces", 1.8);
	if (panels == 3)
		parity_panel(s, &p[2], &pr->stress, "stress", t[2], "eV/\xc3\x85\xc2\xb3",
			     "no frame with stress and ref_stress", 2.2);
	return mlip_svg_finish(s, err);
}
