/*
 * svgplot.h - a small SVG writer for plots: a document built in memory,
 * XML text escaping, "nice" tick values on linear and log10 axes, and panels
 * (a plot area with two axes) to draw paths, markers, lines and legends in.
 *
 * The document is a string in memory, so the library writes no file and the
 * caller decides where it goes. Output depends only on the input: numbers
 * are printed with fixed formats (coordinates with two decimals) in the C
 * locale, and nothing carries a time or a random id, so the same plot is the
 * same bytes. Allocation failures are remembered and reported once, by
 * mlip_svg_finish, so drawing calls return nothing.
 *
 *     struct mlip_svg s;
 *     struct mlip_panel p = { .x = 80, .y = 50, .w = 680, .h = 380 };
 *     mlip_svg_init(&s);
 *     mlip_svg_begin(&s, 800, 500, "learning curve");
 *     mlip_axis_fit(&p.ax, 0, 400, 0);
 *     mlip_axis_fit(&p.ay, 0.03, 11, 1);
 *     mlip_panel_axes(&s, &p, "learning curve", "step", "loss");
 *     mlip_panel_path(&s, &p, x, y, n, "#0072B2", NULL, "loss");
 *     if (mlip_svg_finish(&s, err) == 0) fwrite(s.buf, 1, s.len, f);
 *     mlip_svg_release(&s);
 */
#ifndef MLIP_SVGPLOT_H
#define MLIP_SVGPLOT_H

#include <stddef.h>

#include "error.h"

struct mlip_svg {
	char *buf;        /* (cap) the document so far, NUL-terminated; owned */
	size_t len, cap;  /* bytes used (without the NUL) and allocated */
	int oom;          /* an allocation failed: the document is incomplete */
	unsigned next_id; /* ids of clip paths, unique within the document */
};

void mlip_svg_init(struct mlip_svg *s);
void mlip_svg_release(struct mlip_svg *s);

/* Append markup as it is (printf-style); text from outside goes through mlip_svg_escape. */
void mlip_svg_printf(struct mlip_svg *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Append text escaped for XML character data and attribute values: & < > " '
 * become entities; bytes that XML 1.0 does not allow (control characters
 * other than tab, line feed and carriage return; malformed UTF-8; U+FFFE and
 * U+FFFF) become '?', so any file name or key gives a well-formed document.
 */
void mlip_svg_escape(struct mlip_svg *s, const char *text);

/*
 * The XML declaration and the <svg> element, width × height user units with
 * the same viewBox, a white background, and title (escaped; NULL for none)
 * as <title>.
 */
void mlip_svg_begin(struct mlip_svg *s, double width, double height, const char *title);

/* Close the document: MLIP_ENOMEM if any allocation failed on the way. */
int mlip_svg_finish(struct mlip_svg *s, struct mlip_err *err);

/*
 * Text at (x, y) (the baseline): anchor "start", "middle" or "end"; size in
 * user units; attrs (NULL for none) is extra markup such as
 * "font-weight=\"bold\"" placed in the element as it is.
 */
void mlip_svg_text(struct mlip_svg *s, double x, double y, const char *anchor, double size,
		   const char *attrs, const char *text);

/* ------------------------------------------------------------- ticks */

/*
 * The smallest "nice" step (1, 2 or 5 times a power of ten) that divides span
 * into at most target intervals. span > 0 and finite, target >= 1.
 * mlip_nice_step(10, 5) == 2; mlip_nice_step(0.37, 4) == 0.1.
 */
double mlip_nice_step(double span, int target);

/*
 * Multiples of mlip_nice_step(hi - lo, target) that lie in [lo, hi] (with a
 * tolerance of 1e-9 steps at both ends), ascending, at most cap of them;
 * a tick within 1e-9 steps of zero is exactly 0. *step (may be NULL)
 * receives the step. Returns the number of ticks; 0 when hi <= lo or either
 * is not finite.
 */
size_t mlip_ticks_linear(double lo, double hi, int target, double *ticks, size_t cap,
			 double *step);

/*
 * Ticks for a log10 axis over [lo, hi], 0 < lo < hi: powers of ten when
 * three or more lie in the range (every k-th power when there would be more
 * than 8); else 1, 2 and 5 times powers of ten when two or more lie in it; else
 * 1 to 9 times them; else (a range narrower than one of those steps) linear
 * ticks, whose step is returned in *step. *step is 0 for the logarithmic
 * kinds. Returns the number of ticks (at most cap), ascending.
 */
size_t mlip_ticks_log(double lo, double hi, double *ticks, size_t cap, double *step);

/*
 * The label of tick v: step > 0 for linear ticks (as many decimals as the
 * step needs: step 0.05 gives "0.15"), 0 for log ticks (as many as v needs:
 * "0.002", "10"). Values outside [1e-4, 1e6) in magnitude use a short
 * exponent ("1e-5", "2.5e7"). Always NUL-terminated within size.
 */
void mlip_tick_label(char *buf, size_t size, double v, double step);

/* ------------------------------------------------------------- panels */

struct mlip_axis {
	double lo, hi;  /* the range shown, lo < hi (lo > 0 on a log axis) */
	int log;        /* log10 scale */
};

/*
 * Set a to show the data range [lo, hi] with a margin of 4 % of its span on
 * each side (of the log10 span on a log axis). A single value (lo == hi) gets
 * a range around it. log needs lo > 0. Non-finite input gives [0, 1].
 */
void mlip_axis_fit(struct mlip_axis *a, double lo, double hi, int log);

/* Where v falls on a: 0 at lo, 1 at hi (outside for values outside). */
double mlip_axis_frac(const struct mlip_axis *a, double v);

struct mlip_panel {
	double x, y, w, h;          /* plot area: left, top, width, height (user units) */
	struct mlip_axis ax, ay;    /* horizontal and vertical axis */
	unsigned clip;              /* its clip path, set by mlip_panel_axes */
};

/* The SVG coordinates of data point (x, y) in p. */
double mlip_panel_px(const struct mlip_panel *p, double x);
double mlip_panel_py(const struct mlip_panel *p, double y);

/*
 * Grid lines, the frame, ticks with labels on both axes (on a linear axis
 * the finest nice step whose labels do not run into each other, at most 10
 * intervals; a square panel with equal axes gets the same ticks on both),
 * the axis labels
 * and a title above (each escaped; NULL for none), and the clip path that
 * keeps what is drawn later inside the plot area. Call once per panel,
 * before drawing in it.
 */
void mlip_panel_axes(struct mlip_svg *s, struct mlip_panel *p, const char *title,
		     const char *xlabel, const char *ylabel);

/*
 * One <path> through the points (x[i], y[i]) in order, clipped to the panel:
 * "M x,y" then "L x,y" for each further point. A point that cannot be shown
 * (not finite, or <= 0 on a log axis) is left out and breaks the line (the
 * next point starts with "M"). dash is a stroke-dasharray ("6 3") or NULL;
 * name (escaped, may be NULL) goes to a data-name attribute. Returns the
 * number of points drawn.
 */
size_t mlip_panel_path(struct mlip_svg *s, const struct mlip_panel *p, const double *x,
		       const double *y, size_t n, const char *color, const char *dash,
		       const char *name);

/*
 * One <circle> of radius r per point that can be shown, in a group clipped
 * to the panel: filled with color at fill_opacity, or hollow (white inside)
 * when hollow. Returns the number drawn.
 */
size_t mlip_panel_markers(struct mlip_svg *s, const struct mlip_panel *p, const double *x,
			  const double *y, size_t n, const char *color, double r,
			  double fill_opacity, int hollow);

/* A line between two data points, clipped to the panel; dash may be NULL. */
void mlip_panel_line(struct mlip_svg *s, const struct mlip_panel *p, double x0, double y0,
		     double x1, double y1, const char *color, double width, const char *dash);

/* A legend entry: a short line (dash may be NULL) and, with marker, a circle. */
struct mlip_legend_entry {
	const char *label;
	const char *color;
	const char *dash;
	int marker;     /* 0 none, 1 filled circle, 2 hollow circle */
	int box;        /* a filled square in color instead of the line */
};

/* A boxed legend in the top right corner of the plot area. */
void mlip_panel_legend(struct mlip_svg *s, const struct mlip_panel *p,
		       const struct mlip_legend_entry *e, size_t n);

/* The colour of series k: a palette told apart by colour-blind readers (Okabe-Ito). */
const char *mlip_plot_color(size_t k);

#endif
