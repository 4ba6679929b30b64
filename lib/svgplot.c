/*
 * svgplot.c - the SVG writer, tick values and panels of svgplot.h.
 *
 * Conventions: user units are SVG pixels with y pointing down; data values
 * are mapped to them by the panel's axes. Every coordinate is printed with
 * "%.2f" (a hundredth of a pixel is below what any renderer shows, and a
 * fixed format keeps the output byte-identical between runs). Text is
 * escaped in one place, mlip_svg_escape.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "svgplot.h"
#include "banned.h"

#define FONT_TICK 12.0
#define FONT_LABEL 13.0
#define FONT_TITLE 15.0
#define FONT_LEGEND 12.0
#define MAX_TICKS 64

void mlip_svg_init(struct mlip_svg *s)
{
	memset(s, 0, sizeof(*s));
}

void mlip_svg_release(struct mlip_svg *s)
{
	free(s->buf);
	memset(s, 0, sizeof(*s));
}

static int reserve(struct mlip_svg *s, size_t more)
{
	if (s->oom)
		return -1;
	if (s->len + more + 1 <= s->cap)
		return 0;
	size_t cap = s->cap ? s->cap : 4096;
	while (cap < s->len + more + 1)
		cap *= 2;
	char *b = realloc(s->buf, cap);
	if (!b) {
		s->oom = 1;
		return -1;
	}
	s->buf = b;
	s->cap = cap;
	return 0;
}

static void put(struct mlip_svg *s, const char *p, size_t n)
{
	if (reserve(s, n))
		return;
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	s->buf[s->len] = '\0';
}

void mlip_svg_printf(struct mlip_svg *s, const char *fmt, ...)
{
	va_list ap;
	if (s->oom)
		return;
	va_start(ap, fmt);
	int n = vsnprintf(s->buf ? s->buf + s->len : NULL, s->buf ? s->cap - s->len : 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		s->oom = 1;
		return;
	}
	if (s->buf && (size_t)n < s->cap - s->len) {
		s->len += (size_t)n;
		return;
	}
	if (reserve(s, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(s->buf + s->len, s->cap - s->len, fmt, ap);
	va_end(ap);
	s->len += (size_t)n;
}

/*
 * Length of the well-formed UTF-8 sequence at p that XML allows, or 0.
 * Overlong forms, surrogates and code points above U+10FFFF are malformed;
 * U+FFFE and U+FFFF are not XML characters.
 */
static size_t xml_char_len(const unsigned char *p)
{
	unsigned c = p[0];
	if (c < 0x80)
		return (c >= 0x20 || c == '\t' || c == '\n' || c == '\r') ? 1 : 0;
	size_t n;
	unsigned cp, min;
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2; cp = c & 0x1f; min = 0x80;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3; cp = c & 0x0f; min = 0x800;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4; cp = c & 0x07; min = 0x10000;
	} else {
		return 0;
	}
	for (size_t k = 1; k < n; k++) {
		if ((p[k] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[k] & 0x3f);
	}
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff) || cp == 0xfffe ||
	    cp == 0xffff)
		return 0;
	return n;
}

void mlip_svg_escape(struct mlip_svg *s, const char *text)
{
	const unsigned char *p = (const unsigned char *)(text ? text : "");
	while (*p) {
		const char *ent = NULL;
		switch (*p) {
		case '&': ent = "&amp;"; break;
		case '<': ent = "&lt;"; break;
		case '>': ent = "&gt;"; break;
		case '"': ent = "&quot;"; break;
		case '\'': ent = "&apos;"; break;
		}
		if (ent) {
			put(s, ent, strlen(ent));
			p++;
			continue;
		}
		size_t n = xml_char_len(p);
		if (n == 0) {
			put(s, "?", 1);
			p++;
		} else {
			put(s, (const char *)p, n);
			p += n;
		}
	}
}

void mlip_svg_begin(struct mlip_svg *s, double width, double height, const char *title)
{
	mlip_svg_printf(s,
			"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
			"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
			"viewBox=\"0 0 %.0f %.0f\" font-family=\"DejaVu Sans, Helvetica, Arial, "
			"sans-serif\">\n",
			width, height, width, height);
	if (title) {
		mlip_svg_printf(s, "<title>");
		mlip_svg_escape(s, title);
		mlip_svg_printf(s, "</title>\n");
	}
	mlip_svg_printf(s, "<rect width=\"%.0f\" height=\"%.0f\" fill=\"#ffffff\"/>\n", width, height);
}

int mlip_svg_finish(struct mlip_svg *s, struct mlip_err *err)
{
	mlip_svg_printf(s, "</svg>\n");
	if (s->oom)
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	return MLIP_OK;
}

void mlip_svg_text(struct mlip_svg *s, double x, double y, const char *anchor, double size,
		   const char *attrs, const char *text)
{
	mlip_svg_printf(s, "<text x=\"%.2f\" y=\"%.2f\" font-size=\"%g\" text-anchor=\"%s\"%s%s>",
			x, y, size, anchor, attrs ? " " : "", attrs ? attrs : "");
	mlip_svg_escape(s, text);
	mlip_svg_printf(s, "</text>\n");
}

/* ------------------------------------------------------------- ticks */

double mlip_nice_step(double span, int target)
{
	if (!(span > 0) || !isfinite(span) || target < 1)
		return 1;
	double raw = span / target;
	double mag = pow(10, floor(log10(raw)));
	double f = raw / mag;
	/* 1e-9: a span of exactly 5 steps of 2 (raw = 2.0000000001 after
	 * rounding) should still get the step 2 */
	double nice = f <= 1 + 1e-9 ? 1 : f <= 2 + 1e-9 ? 2 : f <= 5 + 1e-9 ? 5 : 10;
	return nice * mag;
}

size_t mlip_ticks_linear(double lo, double hi, int target, double *ticks, size_t cap,
			 double *step)
{
	if (!isfinite(lo) || !isfinite(hi) || !(hi > lo)) {
		if (step)
			*step = 0;
		return 0;
	}
	double st = mlip_nice_step(hi - lo, target);
	if (step)
		*step = st;
	/* integer multiples, not a running sum: no drift over many ticks */
	double k0 = ceil(lo / st - 1e-9), k1 = floor(hi / st + 1e-9);
	size_t n = 0;
	for (double k = k0; k <= k1 && n < cap; k++) {
		double v = k * st;
		ticks[n++] = fabs(v) < 1e-9 * st ? 0.0 : v;
	}
	return n;
}

/* Powers of ten times the multipliers m[] that lie in [lo, hi]. */
static size_t log_multiples(double lo, double hi, const int *m, size_t nm, double *ticks,
			    size_t cap)
{
	int d0 = (int)floor(log10(lo)) - 1, d1 = (int)ceil(log10(hi)) + 1;
	size_t n = 0;
	for (int d = d0; d <= d1; d++)
		for (size_t k = 0; k < nm; k++) {
			double v = m[k] * pow(10, d);
			if (v >= lo * (1 - 1e-12) && v <= hi * (1 + 1e-12) && n < cap)
				ticks[n++] = v;
		}
	return n;
}

size_t mlip_ticks_log(double lo, double hi, double *ticks, size_t cap, double *step)
{
	static const int one[] = { 1 }, one25[] = { 1, 2, 5 },
			 all[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 };
	*step = 0;
	if (!(lo > 0) || !(hi > lo) || !isfinite(hi))
		return 0;
	double buf[MAX_TICKS];
	size_t n = log_multiples(lo, hi, one, 1, buf, MAX_TICKS);
	if (n >= 3) {
		/* every k-th power so that at most 8 remain, on multiples of k */
		size_t k = (n + 7) / 8, out = 0;
		for (size_t i = 0; i < n; i++) {
			long d = lround(log10(buf[i]));
			if (d % (long)k == 0 && out < cap)
				ticks[out++] = buf[i];
		}
		return out;
	}
	if ((n = log_multiples(lo, hi, one25, 3, ticks, cap)) >= 2)
		return n;
	if ((n = log_multiples(lo, hi, all, 9, ticks, cap)) >= 2)
		return n;
	return mlip_ticks_linear(lo, hi, 4, ticks, cap, step);
}

/* "1e-05" -> "1e-5", "2.5e+07" -> "2.5e7": what a reader of a plot expects. */
static void short_exponent(char *buf)
{
	char *e = strchr(buf, 'e');
	if (!e)
		return;
	char *src = e + 1, *dst = e + 1;
	if (*src == '+')
		src++;
	else if (*src == '-')
		*dst++ = *src++;
	while (*src == '0' && src[1])
		src++;
	memmove(dst, src, strlen(src) + 1);
}

void mlip_tick_label(char *buf, size_t size, double v, double step)
{
	if (size == 0)
		return;
	double a = fabs(v);
	if (v == 0 || (step > 0 && a < 1e-9 * step)) {
		snprintf(buf, size, "0");
		return;
	}
	if (a >= 1e-4 && a < 1e6) {
		double q = step > 0 ? step : a;
		int dec = (int)-floor(log10(q) + 1e-9);
		if (dec < 0)
			dec = 0;
		snprintf(buf, size, "%.*f", dec, v);
		return;
	}
	/* significant digits: the tick's magnitude down to the step's */
	int digits = 1;
	if (step > 0)
		digits = (int)(floor(log10(a) + 1e-9) - floor(log10(step) + 1e-9)) + 1;
	if (digits < 1)
		digits = 1;
	if (digits > 15)
		digits = 15;
	snprintf(buf, size, "%.*e", digits - 1, v);
	short_exponent(buf);
}

/* ------------------------------------------------------------- panels */

void mlip_axis_fit(struct mlip_axis *a, double lo, double hi, int log)
{
	a->log = log;
	if (!isfinite(lo) || !isfinite(hi) || hi < lo || (log && !(lo > 0))) {
		a->lo = log ? 1 : 0;
		a->hi = log ? 10 : 1;
		return;
	}
	if (log) {
		double l0 = log10(lo), l1 = log10(hi);
		if (l1 - l0 < 1e-12) {
			l0 -= 0.5;
			l1 += 0.5;
		}
		double pad = 0.04 * (l1 - l0);
		a->lo = pow(10, l0 - pad);
		a->hi = pow(10, l1 + pad);
		return;
	}
	if (hi - lo <= 1e-12 * fmax(fabs(lo), fabs(hi))) {
		double d = fabs(lo) > 0 ? 0.1 * fabs(lo) : 1;
		lo -= d;
		hi += d;
	}
	double pad = 0.04 * (hi - lo);
	a->lo = lo - pad;
	a->hi = hi + pad;
}

double mlip_axis_frac(const struct mlip_axis *a, double v)
{
	if (a->log)
		return (log10(v) - log10(a->lo)) / (log10(a->hi) - log10(a->lo));
	return (v - a->lo) / (a->hi - a->lo);
}

double mlip_panel_px(const struct mlip_panel *p, double x)
{
	return p->x + p->w * mlip_axis_frac(&p->ax, x);
}

double mlip_panel_py(const struct mlip_panel *p, double y)
{
	return p->y + p->h * (1 - mlip_axis_frac(&p->ay, y));
}

/* Characters, not bytes: for estimating how wide a text is. */
static size_t text_chars(const char *t)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)t; *p; p++)
		n += (*p & 0xc0) != 0x80;
	return n;
}

/* An estimate of the width of text at font size: an average sans-serif glyph. */
static double text_width(const char *t, double size)
{
	return 0.6 * size * (double)text_chars(t);
}

/*
 * Ticks of a on an axis length units long: on a linear axis, the finest nice
 * step (at most 10 intervals) whose labels keep apart: their estimated
 * width plus a gap along a horizontal axis, two lines of text along a
 * vertical one.
 */
static size_t axis_ticks(const struct mlip_axis *a, double length, int horizontal,
			 double *ticks, double *step)
{
	if (a->log)
		return mlip_ticks_log(a->lo, a->hi, ticks, MAX_TICKS, step);
	double cand[MAX_TICKS], cstep;
	size_t n = 0;
	*step = 0;
	for (int target = 10; target >= 2; target--) {
		size_t cn = mlip_ticks_linear(a->lo, a->hi, target, cand, MAX_TICKS, &cstep);
		/* fewer than two ticks do not tell the scale: keep the finer step found */
		if (cn < 2 && n >= 2)
			break;
		memcpy(ticks, cand, cn * sizeof(*cand));
		n = cn;
		*step = cstep;
		double need = 2 * FONT_TICK;
		if (horizontal) {
			char label[64];
			double widest = 0;
			for (size_t i = 0; i < n; i++) {
				mlip_tick_label(label, sizeof(label), ticks[i], *step);
				widest = fmax(widest, text_width(label, FONT_TICK));
			}
			need = widest + FONT_TICK;
		}
		if (length * *step / (a->hi - a->lo) >= need)
			break;
	}
	return n;
}

/*
 * Unlabelled short ticks at 2..9 times the powers of ten on a log y axis of
 * at most six decades: they let a reader place a value between labels.
 */
static void log_minor_ticks(struct mlip_svg *s, const struct mlip_panel *p)
{
	int d0 = (int)floor(log10(p->ay.lo)), d1 = (int)floor(log10(p->ay.hi));
	if (d1 - d0 > 6)
		return;
	mlip_svg_printf(s, "<g class=\"minor\" stroke=\"#333333\">\n");
	for (int d = d0; d <= d1; d++)
		for (int m = 2; m <= 9; m++) {
			double v = m * pow(10, d);
			if (v < p->ay.lo || v > p->ay.hi)
				continue;
			double py = mlip_panel_py(p, v);
			mlip_svg_printf(s, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n",
					p->x - 3, py, p->x, py);
		}
	mlip_svg_printf(s, "</g>\n");
}

void mlip_panel_axes(struct mlip_svg *s, struct mlip_panel *p, const char *title,
		     const char *xlabel, const char *ylabel)
{
	double xt[MAX_TICKS], yt[MAX_TICKS], xstep, ystep;
	size_t nx = axis_ticks(&p->ax, p->w, 1, xt, &xstep), ny;
	if (p->ax.lo == p->ay.lo && p->ax.hi == p->ay.hi && p->ax.log == p->ay.log && p->w == p->h) {
		/* equal axes (a parity plot): the same ticks on both, or it looks skewed */
		memcpy(yt, xt, nx * sizeof(*xt));
		ny = nx;
		ystep = xstep;
	} else {
		ny = axis_ticks(&p->ay, p->h, 0, yt, &ystep);
	}
	char label[64];

	p->clip = s->next_id++;
	mlip_svg_printf(s, "<defs><clipPath id=\"clip%u\"><rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
			"height=\"%.2f\"/></clipPath></defs>\n", p->clip, p->x, p->y, p->w, p->h);
	mlip_svg_printf(s, "<g class=\"grid\" stroke=\"#e4e4e4\" stroke-width=\"1\">\n");
	for (size_t i = 0; i < nx; i++) {
		double px = mlip_panel_px(p, xt[i]);
		mlip_svg_printf(s, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", px, p->y,
				px, p->y + p->h);
	}
	for (size_t i = 0; i < ny; i++) {
		double py = mlip_panel_py(p, yt[i]);
		mlip_svg_printf(s, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\"/>\n", p->x, py,
				p->x + p->w, py);
	}
	mlip_svg_printf(s, "</g>\n");
	mlip_svg_printf(s, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\" fill=\"none\" "
			"stroke=\"#333333\" stroke-width=\"1\"/>\n", p->x, p->y, p->w, p->h);

	mlip_svg_printf(s, "<g class=\"xticks\">\n");
	for (size_t i = 0; i < nx; i++) {
		double px = mlip_panel_px(p, xt[i]);
		mlip_svg_printf(s, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
				"stroke=\"#333333\"/>\n", px, p->y + p->h, px, p->y + p->h + 5);
		mlip_tick_label(label, sizeof(label), xt[i], xstep);
		mlip_svg_text(s, px, p->y + p->h + 19, "middle", FONT_TICK, NULL, label);
	}
	mlip_svg_printf(s, "</g>\n<g class=\"yticks\">\n");
	double widest = 0;
	for (size_t i = 0; i < ny; i++) {
		double py = mlip_panel_py(p, yt[i]);
		mlip_svg_printf(s, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
				"stroke=\"#333333\"/>\n", p->x - 5, py, p->x, py);
		mlip_tick_label(label, sizeof(label), yt[i], ystep);
		mlip_svg_text(s, p->x - 8, py + 4, "end", FONT_TICK, NULL, label);
		widest = fmax(widest, text_width(label, FONT_TICK));
	}
	mlip_svg_printf(s, "</g>\n");
	if (p->ay.log && ystep == 0)
		log_minor_ticks(s, p);
	if (xlabel)
		mlip_svg_text(s, p->x + p->w / 2, p->y + p->h + 40, "middle", FONT_LABEL, NULL, xlabel);
	if (ylabel) {
		/* left of the widest tick label, rotated to read bottom to top */
		double lx = p->x - 8 - widest - 10, ly = p->y + p->h / 2;
		char attrs[96];
		snprintf(attrs, sizeof(attrs), "transform=\"rotate(-90 %.2f %.2f)\"", lx, ly);
		mlip_svg_text(s, lx, ly, "middle", FONT_LABEL, attrs, ylabel);
	}
	if (title)
		mlip_svg_text(s, p->x + p->w / 2, p->y - 12, "middle", FONT_TITLE,
			      "font-weight=\"bold\"", title);
}

static int showable(const struct mlip_panel *p, double x, double y)
{
	return isfinite(x) && isfinite(y) && (!p->ax.log || x > 0) && (!p->ay.log || y > 0);
}

size_t mlip_panel_path(struct mlip_svg *s, const struct mlip_panel *p, const double *x,
		       const double *y, size_t n, const char *color, const char *dash,
		       const char *name)
{
	size_t drawn = 0;
	int pen_down = 0;
	mlip_svg_printf(s, "<path class=\"series\"");
	if (name) {
		mlip_svg_printf(s, " data-name=\"");
		mlip_svg_escape(s, name);
		mlip_svg_printf(s, "\"");
	}
	mlip_svg_printf(s, " clip-path=\"url(#clip%u)\" fill=\"none\" stroke=\"%s\" "
			"stroke-width=\"1.8\" stroke-linejoin=\"round\"", p->clip, color);
	if (dash)
		mlip_svg_printf(s, " stroke-dasharray=\"%s\"", dash);
	mlip_svg_printf(s, " d=\"");
	for (size_t i = 0; i < n; i++) {
		if (!showable(p, x[i], y[i])) {
			pen_down = 0;
			continue;
		}
		mlip_svg_printf(s, "%s%s%.2f,%.2f", drawn ? " " : "", pen_down ? "L" : "M",
				mlip_panel_px(p, x[i]), mlip_panel_py(p, y[i]));
		pen_down = 1;
		drawn++;
	}
	mlip_svg_printf(s, "\"/>\n");
	return drawn;
}

size_t mlip_panel_markers(struct mlip_svg *s, const struct mlip_panel *p, const double *x,
			  const double *y, size_t n, const char *color, double r,
			  double fill_opacity, int hollow)
{
	size_t drawn = 0;
	if (hollow)
		mlip_svg_printf(s, "<g class=\"markers\" clip-path=\"url(#clip%u)\" fill=\"#ffffff\" "
				"stroke=\"%s\" stroke-width=\"1.2\">\n", p->clip, color);
	else
		mlip_svg_printf(s, "<g class=\"markers\" clip-path=\"url(#clip%u)\" fill=\"%s\" "
				"fill-opacity=\"%.2f\" stroke=\"none\">\n", p->clip, color, fill_opacity);
	for (size_t i = 0; i < n; i++) {
		if (!showable(p, x[i], y[i]))
			continue;
		mlip_svg_printf(s, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"%.2f\"/>\n",
				mlip_panel_px(p, x[i]), mlip_panel_py(p, y[i]), r);
		drawn++;
	}
	mlip_svg_printf(s, "</g>\n");
	return drawn;
}

void mlip_panel_line(struct mlip_svg *s, const struct mlip_panel *p, double x0, double y0,
		     double x1, double y1, const char *color, double width, const char *dash)
{
	mlip_svg_printf(s, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" stroke=\"%s\" "
			"stroke-width=\"%g\" clip-path=\"url(#clip%u)\"", mlip_panel_px(p, x0),
			mlip_panel_py(p, y0), mlip_panel_px(p, x1), mlip_panel_py(p, y1), color,
			width, p->clip);
	if (dash)
		mlip_svg_printf(s, " stroke-dasharray=\"%s\"", dash);
	mlip_svg_printf(s, "/>\n");
}

void mlip_panel_legend(struct mlip_svg *s, const struct mlip_panel *p,
		       const struct mlip_legend_entry *e, size_t n)
{
	if (n == 0)
		return;
	const double row = 18, sample = 26, pad = 8;
	double tw = 0;
	for (size_t i = 0; i < n; i++)
		tw = fmax(tw, text_width(e[i].label ? e[i].label : "", FONT_LEGEND));
	double w = pad + sample + 6 + tw + pad, h = pad + row * (double)n + pad - 4;
	double x0 = p->x + p->w - w - 10, y0 = p->y + 10;
	mlip_svg_printf(s, "<g class=\"legend\">\n<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" "
			"height=\"%.2f\" fill=\"#ffffff\" fill-opacity=\"0.9\" stroke=\"#999999\"/>\n",
			x0, y0, w, h);
	for (size_t i = 0; i < n; i++) {
		double cy = y0 + pad + row * (double)i + row / 2 - 2;
		double sx = x0 + pad;
		if (e[i].box) {
			mlip_svg_printf(s, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"10\" "
					"fill=\"%s\" stroke=\"#999999\"/>\n", sx + 4, cy - 5,
					sample - 8, e[i].color);
		} else {
			mlip_svg_printf(s, "<line x1=\"%.2f\" y1=\"%.2f\" x2=\"%.2f\" y2=\"%.2f\" "
					"stroke=\"%s\" stroke-width=\"1.8\"", sx, cy, sx + sample, cy,
					e[i].color);
			if (e[i].dash)
				mlip_svg_printf(s, " stroke-dasharray=\"%s\"", e[i].dash);
			mlip_svg_printf(s, "/>\n");
		}
		if (e[i].marker)
			mlip_svg_printf(s, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3\" fill=\"%s\" "
					"stroke=\"%s\"/>\n", sx + sample / 2, cy,
					e[i].marker == 2 ? "#ffffff" : e[i].color, e[i].color);
		mlip_svg_text(s, sx + sample + 6, cy + 4, "start", FONT_LEGEND, NULL,
			      e[i].label ? e[i].label : "");
	}
	mlip_svg_printf(s, "</g>\n");
}

const char *mlip_plot_color(size_t k)
{
	static const char *const palette[] = { "#0072B2", "#D55E00", "#009E73", "#CC79A7",
					       "#E69F00", "#56B4E9", "#000000" };
	return palette[k % (sizeof(palette) / sizeof(palette[0]))];
}
