/*
 * check_svgplot.c - the SVG writer: tick values (linear and log), tick
 * labels, XML escaping, axis ranges, and the paths and markers a panel
 * draws. Tick sets are checked against their contract over many random
 * ranges as well as on hand-picked ones, so a change to the algorithm that
 * breaks "at most target intervals" or "the finest such step" fails here.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "svgplot.h"
#include "testutil.h"

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* Is step 1, 2 or 5 times a power of ten? */
static int is_nice(double step)
{
	double mag = pow(10, floor(log10(step) + 1e-12));
	double f = step / mag;
	return fabs(f - 1) < 1e-9 || fabs(f - 2) < 1e-9 || fabs(f - 5) < 1e-9 ||
	       fabs(f - 10) < 1e-9;
}

/* The nice step just below step: 5 -> 2, 2 -> 1, 1 -> 0.5. */
static double finer(double step)
{
	double mag = pow(10, floor(log10(step) + 1e-12));
	double f = step / mag;
	return f > 4 ? 2 * mag : f > 1.5 ? mag : 0.5 * mag;
}

START_TEST(test_nice_step)
{
	ck_assert_double_eq_tol(mlip_nice_step(10, 5), 2, 1e-15);
	ck_assert_double_eq_tol(mlip_nice_step(0.37, 4), 0.1, 1e-15);
	ck_assert_double_eq_tol(mlip_nice_step(1, 1), 1, 1e-15);
	ck_assert_double_eq_tol(mlip_nice_step(100, 3), 50, 1e-12);
	ck_assert_double_eq_tol(mlip_nice_step(11, 2), 10, 1e-12);
	ck_assert_double_eq_tol(mlip_nice_step(3e-7, 6), 5e-8, 1e-22);
	/* nonsense in, a step that cannot loop forever out */
	ck_assert_double_eq(mlip_nice_step(0, 5), 1);
	ck_assert_double_eq(mlip_nice_step(NAN, 5), 1);
	ck_assert_double_eq(mlip_nice_step(-3, 5), 1);
}
END_TEST

START_TEST(test_ticks_linear_cases)
{
	double t[64], step;
	size_t n = mlip_ticks_linear(0, 10, 5, t, 64, &step);
	ck_assert_uint_eq(n, 6);
	ck_assert_double_eq(step, 2);
	for (size_t i = 0; i < n; i++)
		ck_assert_double_eq(t[i], 2.0 * (double)i);

	/* zero is exactly zero, not 5.55e-17 from 3 * 0.1 - 0.3 */
	n = mlip_ticks_linear(-0.3, 0.3, 6, t, 64, &step);
	ck_assert_uint_eq(n, 7);
	ck_assert_double_eq_tol(step, 0.1, 1e-15);
	ck_assert(t[3] == 0.0 && !signbit(t[3]));
	ck_assert_double_eq_tol(t[0], -0.3, 1e-15);

	/* the ends are kept when they are ticks up to rounding */
	n = mlip_ticks_linear(0.1 + 0.2, 0.9, 6, t, 64, &step);
	ck_assert_double_eq_tol(t[0], 0.3, 1e-15);
	ck_assert_double_eq_tol(t[n - 1], 0.9, 1e-15);

	/* cap is respected */
	ck_assert_uint_eq(mlip_ticks_linear(0, 100, 100, t, 3, &step), 3);
	/* empty and broken ranges */
	ck_assert_uint_eq(mlip_ticks_linear(1, 1, 5, t, 64, &step), 0);
	ck_assert_uint_eq(mlip_ticks_linear(2, 1, 5, t, 64, &step), 0);
	ck_assert_uint_eq(mlip_ticks_linear(0, INFINITY, 5, t, 64, &step), 0);
}
END_TEST

/* The contract on random ranges from 1e-9 to 1e9 wide, anywhere. */
START_TEST(test_ticks_linear_random)
{
	uint64_t rng = 42;
	double t[64], step;
	for (int trial = 0; trial < 20000; trial++) {
		double span = pow(10, -9 + 18 * test_rand_unif(&rng));
		double lo = (test_rand_unif(&rng) - 0.5) * span * pow(10, 4 * test_rand_unif(&rng));
		double hi = lo + span;
		int target = 2 + (int)(test_rand_unif(&rng) * 9);
		size_t n = mlip_ticks_linear(lo, hi, target, t, 64, &step);
		ck_assert_msg(is_nice(step), "step %.17g is not nice", step);
		/* at most target intervals, and the finest nice step that does it */
		ck_assert_msg(span / step <= target * (1 + 1e-9), "[%g, %g]/%d: step %g", lo, hi,
			      target, step);
		ck_assert_msg(span / finer(step) > target * (1 - 1e-9), "[%g, %g]/%d: step %g is "
			      "not the finest", lo, hi, target, step);
		/* every multiple of step in range: at least floor(span / step) of them
		 * (none when a step wider than the span straddles it) */
		ck_assert_msg(n >= (size_t)floor(span / step * (1 - 1e-9)) && n <= (size_t)target + 1,
			      "[%g, %g]/%d: %zu ticks of %g", lo, hi, target, n, step);
		if (n == 0)
			continue;
		for (size_t i = 0; i < n; i++) {
			ck_assert(t[i] >= lo - 1e-9 * step && t[i] <= hi + 1e-9 * step);
			/* a multiple of the step */
			double k = t[i] / step;
			ck_assert_msg(fabs(k - round(k)) < 1e-6, "tick %.17g, step %g", t[i], step);
			if (i)
				ck_assert_double_eq_tol(t[i] - t[i - 1], step, 1e-6 * step);
		}
		/* no multiple of step in range is missing at either end */
		ck_assert(t[0] - step < lo - 1e-9 * step);
		ck_assert(t[n - 1] + step > hi + 1e-9 * step);
	}
}
END_TEST

START_TEST(test_ticks_log)
{
	double t[64], step;
	/* three decades or more: the powers of ten */
	size_t n = mlip_ticks_log(0.0035, 11, t, 64, &step);
	ck_assert_double_eq(step, 0);
	ck_assert_uint_eq(n, 4);
	ck_assert_double_eq(t[0], 0.01);
	ck_assert_double_eq(t[1], 0.1);
	ck_assert_double_eq(t[2], 1);
	ck_assert_double_eq(t[3], 10);
	/* fewer: 1, 2, 5 */
	n = mlip_ticks_log(0.035, 3.5, t, 64, &step);
	static const double want125[] = { 0.05, 0.1, 0.2, 0.5, 1, 2 };
	ck_assert_uint_eq(n, 6);
	for (size_t i = 0; i < n; i++)
		ck_assert_double_eq_tol(t[i], want125[i], 1e-15 * want125[i]);
	/* within one 1-2-5 gap: 1..9 */
	n = mlip_ticks_log(1.5, 4.5, t, 64, &step);
	ck_assert_uint_eq(n, 3);
	ck_assert_double_eq(t[0], 2);
	ck_assert_double_eq(t[2], 4);
	ck_assert_double_eq(step, 0);
	/* narrower still: linear ticks, with their step */
	n = mlip_ticks_log(0.121, 0.139, t, 64, &step);
	ck_assert(step > 0);
	ck_assert(n >= 2);
	ck_assert(t[0] >= 0.121 && t[n - 1] <= 0.139);
	/* 17 decades: every third power, on multiples of three, at most 8 */
	n = mlip_ticks_log(1e-8, 1e8, t, 64, &step);
	ck_assert(n >= 3 && n <= 8);
	for (size_t i = 0; i < n; i++) {
		long d = lround(log10(t[i]));
		ck_assert_int_eq(d % 3, 0);
		ck_assert_double_eq_tol(t[i], pow(10, (double)d), 1e-12 * t[i]);
	}
	/* not a log range */
	ck_assert_uint_eq(mlip_ticks_log(0, 10, t, 64, &step), 0);
	ck_assert_uint_eq(mlip_ticks_log(-1, 10, t, 64, &step), 0);
}
END_TEST

START_TEST(test_tick_labels)
{
	static const struct { double v, step; const char *want; } c[] = {
		{ 0.15, 0.05, "0.15" },   { 100, 50, "100" },      { -2, 1, "-2" },
		{ 0.3, 0.1, "0.3" },      { 1.5, 0.5, "1.5" },     { 400, 100, "400" },
		{ 0.002, 0, "0.002" },    { 20, 0, "20" },         { 0.05, 0, "0.05" },
		{ 1e-5, 0, "1e-5" },      { 2e-7, 0, "2e-7" },     { 1e6, 0, "1e6" },
		{ 2.5e7, 5e6, "2.5e7" },  { -0.0, 1, "0" },        { 1e-17, 0.1, "0" },
		{ 0.0015, 0.0005, "0.0015" }, { 3e-5, 1e-5, "3e-5" }, { 1e9, 0, "1e9" },
	};
	char buf[64];
	for (size_t k = 0; k < sizeof(c) / sizeof(c[0]); k++) {
		mlip_tick_label(buf, sizeof(buf), c[k].v, c[k].step);
		ck_assert_msg(strcmp(buf, c[k].want) == 0, "label(%g, %g) = '%s', want '%s'", c[k].v,
			      c[k].step, buf, c[k].want);
	}
	/* a short buffer is cut, not overrun */
	char small[4] = "xyz";
	mlip_tick_label(small, 3, 12345, 1);
	ck_assert_str_eq(small, "12");
}
END_TEST

static char *escaped(struct mlip_svg *s, const char *text)
{
	mlip_svg_release(s);
	mlip_svg_init(s);
	mlip_svg_escape(s, text);
	return s->buf ? s->buf : "";
}

START_TEST(test_escape)
{
	struct mlip_svg s;
	mlip_svg_init(&s);
	ck_assert_str_eq(escaped(&s, "a<b & \"c\" 'd' >"),
			 "a&lt;b &amp; &quot;c&quot; &apos;d&apos; &gt;");
	ck_assert_str_eq(escaped(&s, "val/si,forces,mae"), "val/si,forces,mae");
	/* tab, newline and CR are XML characters; other controls are not */
	ck_assert_str_eq(escaped(&s, "a\tb\nc\rd\x01" "e\x1f"), "a\tb\nc\rd?e?");
	/* UTF-8 passes; malformed bytes do not */
	ck_assert_str_eq(escaped(&s, "eV/\xc3\x85\xc2\xb3 \xe2\x88\x86 \xf0\x9f\x98\x80"),
			 "eV/\xc3\x85\xc2\xb3 \xe2\x88\x86 \xf0\x9f\x98\x80");
	ck_assert_str_eq(escaped(&s, "x\xffy"), "x?y");
	ck_assert_str_eq(escaped(&s, "\xc0\xaf"), "??");              /* overlong '/' */
	ck_assert_str_eq(escaped(&s, "\xed\xa0\x80"), "???");         /* a surrogate */
	ck_assert_str_eq(escaped(&s, "\xef\xbf\xbe"), "???");         /* U+FFFE */
	ck_assert_str_eq(escaped(&s, "\xf4\x90\x80\x80"), "????");    /* above U+10FFFF */
	ck_assert_str_eq(escaped(&s, "ab\xc3"), "ab?");               /* cut short */
	ck_assert_str_eq(escaped(&s, ""), "");
	mlip_svg_release(&s);
}
END_TEST

START_TEST(test_axis_fit)
{
	struct mlip_axis a;
	mlip_axis_fit(&a, 0, 100, 0);
	ck_assert_double_eq_tol(a.lo, -4, 1e-12);
	ck_assert_double_eq_tol(a.hi, 104, 1e-12);
	ck_assert_double_eq_tol(mlip_axis_frac(&a, 50), 0.5, 1e-15);
	mlip_axis_fit(&a, 0.01, 100, 1);
	ck_assert_double_eq_tol(log10(a.lo), -2.16, 1e-12);
	ck_assert_double_eq_tol(log10(a.hi), 2.16, 1e-12);
	ck_assert_double_eq_tol(mlip_axis_frac(&a, 1), 0.5, 1e-12);
	/* a single value still gets a range around it */
	mlip_axis_fit(&a, 5, 5, 0);
	ck_assert(a.lo < 5 && a.hi > 5);
	mlip_axis_fit(&a, 0, 0, 0);
	ck_assert(a.lo < 0 && a.hi > 0);
	mlip_axis_fit(&a, 3, 3, 1);
	ck_assert(a.lo < 3 && a.hi > 3 && a.lo > 0);
	/* a log axis cannot start at zero */
	mlip_axis_fit(&a, 0, 3, 1);
	ck_assert(a.lo > 0 && a.hi > a.lo);
}
END_TEST

/* A panel with points the log axis cannot show and a NaN: paths break there. */
START_TEST(test_panel_drawing)
{
	struct mlip_svg s;
	struct mlip_err err = { 0 };
	struct mlip_panel p = { .x = 80, .y = 50, .w = 600, .h = 400 };
	const double x[] = { 1, 2, 3, 4, 5, 6 }, y[] = { 1, 10, -1, 100, NAN, 1000 };
	mlip_svg_init(&s);
	mlip_svg_begin(&s, 800, 500, "a <title> & more");
	mlip_axis_fit(&p.ax, 1, 6, 0);
	mlip_axis_fit(&p.ay, 1, 1000, 1);
	mlip_panel_axes(&s, &p, "t", "step", "loss");
	size_t drawn = mlip_panel_path(&s, &p, x, y, 6, "#000000", "6 3", "val/\"x\"");
	ck_assert_uint_eq(drawn, 4);
	ck_assert_uint_eq(mlip_panel_markers(&s, &p, x, y, 6, "#000000", 3, 0.5, 0), 4);
	struct mlip_legend_entry e[] = { { .label = "a&b", .color = "#000000" } };
	mlip_panel_legend(&s, &p, e, 1);
	ck_assert_int_eq(mlip_svg_finish(&s, &err), 0);
	ck_assert(strncmp(s.buf, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<svg ", 44) == 0);
	ck_assert_ptr_nonnull(strstr(s.buf, "viewBox=\"0 0 800 500\""));
	ck_assert_ptr_nonnull(strstr(s.buf, "<title>a &lt;title&gt; &amp; more</title>"));
	ck_assert_ptr_nonnull(strstr(s.buf, "data-name=\"val/&quot;x&quot;\""));
	ck_assert_ptr_nonnull(strstr(s.buf, ">a&amp;b</text>"));
	ck_assert_str_eq(s.buf + s.len - 7, "</svg>\n");
	ck_assert_uint_eq(strlen(s.buf), s.len);
	/* the path: M at the start and after each gap, L otherwise */
	const char *d = strstr(s.buf, " d=\"");
	ck_assert_ptr_nonnull(d);
	char path[256];
	snprintf(path, sizeof(path), "%.*s", (int)strcspn(d + 4, "\""), d + 4);
	ck_assert_uint_eq(count(path, "M"), 3);
	ck_assert_uint_eq(count(path, "L"), 1);
	/* points 1 and 2: y = 1 and 10 at the bottom and a third of the way up (3 decades + margins) */
	double y1 = p.y + p.h * (1 - mlip_axis_frac(&p.ay, 1));
	char first[64];
	snprintf(first, sizeof(first), "M%.2f,%.2f L", mlip_panel_px(&p, 1), y1);
	ck_assert_msg(strncmp(path, first, strlen(first)) == 0, "path '%s' does not start '%s'", path,
		      first);
	ck_assert_uint_eq(count(s.buf, "<circle"), 4 + 0);
	/* tags open and close in pairs */
	ck_assert_uint_eq(count(s.buf, "<g "), count(s.buf, "</g>"));
	ck_assert_uint_eq(count(s.buf, "<text "), count(s.buf, "</text>"));
	/* the same calls give the same bytes */
	struct mlip_svg s2;
	mlip_svg_init(&s2);
	mlip_svg_begin(&s2, 800, 500, "a <title> & more");
	struct mlip_panel p2 = { .x = 80, .y = 50, .w = 600, .h = 400 };
	p2.ax = p.ax;
	p2.ay = p.ay;
	mlip_panel_axes(&s2, &p2, "t", "step", "loss");
	mlip_panel_path(&s2, &p2, x, y, 6, "#000000", "6 3", "val/\"x\"");
	mlip_panel_markers(&s2, &p2, x, y, 6, "#000000", 3, 0.5, 0);
	mlip_panel_legend(&s2, &p2, e, 1);
	mlip_svg_finish(&s2, &err);
	ck_assert_uint_eq(s.len, s2.len);
	ck_assert_int_eq(memcmp(s.buf, s2.buf, s.len), 0);
	mlip_svg_release(&s);
	mlip_svg_release(&s2);
}
END_TEST

/* Appends larger than the first allocation, and printf output of any length. */
START_TEST(test_growth)
{
	struct mlip_svg s;
	struct mlip_err err = { 0 };
	char big[10000];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	mlip_svg_init(&s);
	for (int i = 0; i < 5; i++)
		mlip_svg_printf(&s, "%s%d", big, i);
	mlip_svg_escape(&s, big);
	ck_assert_int_eq(mlip_svg_finish(&s, &err), 0);
	ck_assert_uint_eq(s.len, 6 * (sizeof(big) - 1) + 5 + 7);
	ck_assert_uint_eq(strlen(s.buf), s.len);
	ck_assert_int_eq(s.buf[sizeof(big) - 1], '0');
	mlip_svg_release(&s);
}
END_TEST

Suite *suite_svgplot(void)
{
	Suite *s = suite_create("svgplot");
	TCase *tc = tcase_create("ticks");
	tcase_add_test(tc, test_nice_step);
	tcase_add_test(tc, test_ticks_linear_cases);
	tcase_add_test(tc, test_ticks_linear_random);
	tcase_add_test(tc, test_ticks_log);
	tcase_add_test(tc, test_tick_labels);
	suite_add_tcase(s, tc);
	tc = tcase_create("svg");
	tcase_add_test(tc, test_escape);
	tcase_add_test(tc, test_axis_fit);
	tcase_add_test(tc, test_panel_drawing);
	tcase_add_test(tc, test_growth);
	suite_add_tcase(s, tc);
	return s;
}
