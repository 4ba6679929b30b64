/*
 * check_plotdata.c - the readers behind mlip-plot: metrics JSON Lines into
 * series, and mlip-eval's predictions extxyz into parity pairs, from
 * hand-written text (fmemopen). Every error names the file and the line.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "plotdata.h"

static FILE *text(const char *s)
{
	FILE *f = fmemopen((void *)s, strlen(s), "r");
	ck_assert_ptr_nonnull(f);
	return f;
}

static int read_log(struct mlip_metrics_log *m, const char *s, struct mlip_err *err)
{
	FILE *f = text(s);
	mlip_metrics_log_init(m);
	int rc = mlip_metrics_log_read(m, f, "m.jsonl", err);
	fclose(f);
	return rc;
}

static const char LOG[] =
	"{\"type\":\"train\",\"step\":10,\"epoch\":1,\"loss\":4.0,\"lr\":0.001}\n"
	"{\"type\":\"profile\",\"step\":1,\"forward_flops\":1e9}\n"
	"\n"
	"{\"type\":\"val\",\"step\":10,\"val/si,forces,mae\":0.5,\"val/loss\":3.0}\n"
	"{\"type\":\"train\",\"step\":20,\"epoch\":2,\"loss\":2.0,\"lr\":0.001}\n"
	"{\"type\":\"val\",\"step\":20,\"val/si,forces,mae\":null,\"val/loss\":1.5}\n"
	"{\"type\":\"train\",\"step\":25,\"optimizer\":\"lbfgs\",\"loss\":1.0}\n"
	"{\"type\":\"val\",\"step\":25,\"optimizer\":\"lbfgs\",\"val/loss\":0.9}\n"
	"{\"type\":\"end\",\"step\":25,\"loss\":1.0,\"wall_s\":3}\n";

START_TEST(test_metrics_series)
{
	struct mlip_metrics_log m;
	struct mlip_series s;
	struct mlip_err err = { 0 };
	ck_assert_int_eq(read_log(&m, LOG, &err), 0);
	ck_assert_uint_eq(m.n, 6);   /* profile and end left out */

	ck_assert_int_eq(mlip_metrics_log_series(&m, "loss", &s, &err), 0);
	ck_assert_uint_eq(s.n, 3);
	ck_assert_double_eq(s.x[0], 10);
	ck_assert_double_eq(s.y[1], 2.0);
	ck_assert_int_eq(s.lbfgs[1], 0);
	ck_assert_int_eq(s.lbfgs[2], 1);
	mlip_series_release(&s);

	/* null is skipped and counted */
	ck_assert_int_eq(mlip_metrics_log_series(&m, "val/si,forces,mae", &s, &err), 0);
	ck_assert_uint_eq(s.n, 1);
	ck_assert_uint_eq(s.n_null, 1);
	mlip_series_release(&s);

	/* L-BFGS starts after the last AdamW record, step 20 */
	ck_assert_double_eq(mlip_metrics_log_lbfgs_start(&m), 20);
	ck_assert(mlip_metrics_log_has(&m, "val/loss"));
	ck_assert(!mlip_metrics_log_has(&m, "forward_flops"));

	/* an unknown key lists the numeric ones, sorted, without step */
	ck_assert_int_eq(mlip_metrics_log_series(&m, "val/si,energy,mae", &s, &err), MLIP_EINVAL);
	ck_assert_str_eq(err.msg, "no train or val record in m.jsonl has 'val/si,energy,mae'; "
			 "numeric keys: epoch, loss, lr, val/loss, val/si,forces,mae");
	/* a key that holds a string */
	ck_assert_int_eq(mlip_metrics_log_series(&m, "optimizer", &s, &err), MLIP_EDATA);
	ck_assert_str_eq(err.msg, "m.jsonl:7: 'optimizer' is not a number");
	mlip_metrics_log_release(&m);

	/* no L-BFGS records */
	ck_assert_int_eq(read_log(&m, "{\"type\":\"train\",\"step\":1,\"loss\":1}\n", &err), 0);
	ck_assert(isnan(mlip_metrics_log_lbfgs_start(&m)));
	mlip_metrics_log_release(&m);
}
END_TEST

START_TEST(test_metrics_errors)
{
	static const struct { const char *in; int rc; const char *msg; } c[] = {
		{ "{\"type\":\"train\",\"step\":1,\"loss\":1}\n{\"type\":\"val\",\"st\n", MLIP_EDATA,
		  "m.jsonl:2: not JSON: " },
		{ "\n\nnot json\n", MLIP_EDATA, "m.jsonl:3: not JSON: " },
		{ "[1, 2]\n", MLIP_EDATA, "m.jsonl:1: not a JSON object" },
		{ "{\"step\":1,\"loss\":2}\n", MLIP_EDATA, "m.jsonl:1: no \"type\"" },
		{ "{\"type\":\"train\",\"loss\":2}\n", MLIP_EDATA,
		  "m.jsonl:1: train record without a numeric \"step\"" },
		{ "", MLIP_EDATA, "m.jsonl: no train or val records" },
		{ "{\"type\":\"end\",\"step\":3}\n", MLIP_EDATA, "m.jsonl: no train or val records" },
	};
	for (size_t k = 0; k < sizeof(c) / sizeof(c[0]); k++) {
		struct mlip_metrics_log m;
		struct mlip_err err = { 0 };
		ck_assert_int_eq(read_log(&m, c[k].in, &err), c[k].rc);
		ck_assert_msg(strncmp(err.msg, c[k].msg, strlen(c[k].msg)) == 0,
			      "case %zu: '%s' does not start '%s'", k, err.msg, c[k].msg);
		mlip_metrics_log_release(&m);
	}
}
END_TEST

static int read_pred(struct mlip_predictions *p, const char *s, struct mlip_err *err)
{
	FILE *f = text(s);
	mlip_predictions_init(p);
	int rc = mlip_predictions_read(p, f, "p.xyz", err);
	fclose(f);
	return rc;
}

/* Two frames as mlip-eval writes them; the second has a fixed atom and no ref_energy. */
static const char PRED[] =
	"2\n"
	"Lattice=\"5.0 0.0 0.0 0.0 5.0 0.0 0.0 0.0 5.0\" "
	"Properties=species:S:1:pos:R:3:forces:R:3:ref_forces:R:3 energy=-10.5 "
	"stress=\"1.0 0.0 0.0 0.0 1.0 0.0 0.0 0.0 1.0\" ref_energy=-10.0 "
	"ref_stress=\"0.5 0.0 0.0 0.0 0.5 0.0 0.0 0.0 0.5\" pbc=\"T T T\" dataset=\"a \\\"b\\\" \\\\c\"\n"
	"Si 0.0 0.0 0.0 1.0 -1.0 0.5 0.5 -0.5 0.5\n"
	"Si 1.25 1.25 1.25 -1.0 1.0 -0.5 -0.5 0.5 -1.5\n"
	"2\n"
	"Properties=species:S:1:pos:R:3:forces:R:3:ref_forces:R:3:move_mask:L:1 energy=-9.0 "
	"pbc=\"F F F\"\n"
	"Si 0.0 0.0 0.0 2.0 0.0 0.0 0.0 0.0 0.0 F\n"
	"Si 2.3 0.0 0.0 -3.0 0.0 0.0 -1.0 0.0 0.0 T\n";

START_TEST(test_predictions)
{
	struct mlip_predictions p;
	struct mlip_err err = { 0 };
	double mae, rmse;
	ck_assert_int_eq(read_pred(&p, PRED, &err), 0);
	ck_assert_uint_eq(p.frames, 2);
	/* energy per atom of the first frame only */
	ck_assert_uint_eq(p.energy.n, 1);
	ck_assert_double_eq(p.energy.pred[0], -5.25);
	ck_assert_double_eq(p.energy.ref[0], -5.0);
	ck_assert_double_eq(p.energy.err[0], -0.25);
	/* 6 force components, then 3 of the free atom of frame 2 */
	ck_assert_uint_eq(p.forces.n, 9);
	ck_assert_double_eq(p.forces.pred[6], -3.0);
	ck_assert_double_eq(p.forces.ref[6], -1.0);
	mlip_parity_errors(&p.forces, &mae, &rmse);
	/* |errors|: .5 .5 0 .5 .5 1, 2 0 0 -> 5/9; squares 2 + 4 = 6 */
	ck_assert_double_eq_tol(mae, 5.0 / 9.0, 1e-15);
	ck_assert_double_eq_tol(rmse, sqrt(6.0 / 9.0), 1e-15);
	ck_assert_uint_eq(p.stress.n, 9);
	mlip_parity_errors(&p.stress, &mae, &rmse);
	ck_assert_double_eq_tol(mae, 1.5 / 9.0, 1e-15);
	mlip_predictions_release(&p);

	/* an empty parity has no errors */
	struct mlip_parity none = { 0 };
	mlip_parity_errors(&none, &mae, &rmse);
	ck_assert(isnan(mae) && isnan(rmse));

	/* trailing blank lines and CRLF are fine */
	ck_assert_int_eq(read_pred(&p, "1\r\nProperties=species:S:1:pos:R:3 energy=1.0 ref_energy=0.5\r\n"
				   "Si 0 0 0\r\n\n\n", &err), 0);
	ck_assert_uint_eq(p.energy.n, 1);
	ck_assert_double_eq(p.energy.err[0], 0.5);
	mlip_predictions_release(&p);
}
END_TEST

START_TEST(test_predictions_errors)
{
	const char *P = "Properties=species:S:1:pos:R:3:forces:R:3:ref_forces:R:3";
	char buf[8][512];
	snprintf(buf[0], sizeof(buf[0]), "2\n%s energy=1.0\nSi 0 0 0 1 1 1 2 2 2\n", P);
	snprintf(buf[1], sizeof(buf[1]), "1\n%s energy=1.0\nSi 0 0 0 1 1 1 2 2\n", P);
	snprintf(buf[2], sizeof(buf[2]), "1\n%s energy=nan\nSi 0 0 0 1 1 1 2 2 2\n", P);
	snprintf(buf[3], sizeof(buf[3]), "1\n%s\nSi 0 0 0 1 1 1 2 2 0x1p3\n", P);
	snprintf(buf[4], sizeof(buf[4]), "1\n%s stress=\"1 2 3\"\nSi 0 0 0 1 1 1 2 2 2\n", P);
	snprintf(buf[5], sizeof(buf[5]), "1\n%s\nSi 0 0 0 1 1 1 2 2 2\n\n1\n%s\nSi 0 0 0 1 1 1 2 2 2\n",
		 P, P);
	snprintf(buf[6], sizeof(buf[6]), "1\n%s energy=1 energy=2\nSi 0 0 0 1 1 1 2 2 2\n", P);
	snprintf(buf[7], sizeof(buf[7]), "1\n%s dataset=\"a\\nb\"\nSi 0 0 0 1 1 1 2 2 2\n", P);
	const struct { const char *in; const char *msg; } c[] = {
		{ buf[0], "p.xyz:3: truncated: the frame of line 1 has 2 atoms, the file ends after 1" },
		{ buf[1], "p.xyz:3: atom 1: expected 10 columns (Properties), found 9" },
		{ buf[2], "p.xyz:2: energy: 'nan' is not a finite number" },
		{ buf[3], "p.xyz:3: atom 1, column 10: '0x1p3' is not a finite number" },
		{ buf[4], "p.xyz:2: stress: expected 9 numbers, found 3" },
		{ buf[5], "p.xyz:4: blank line between frames" },
		{ buf[6], "p.xyz:2: energy twice" },
		{ buf[7], "p.xyz:2: dataset: unknown escape '\\n'" },
		{ "3\n", "p.xyz:1: truncated: the frame of line 1 has no comment line" },
		{ "two\n", "p.xyz:1: expected the number of atoms of a frame, found 'two'" },
		{ "0\nProperties=species:S:1:pos:R:3\n", "p.xyz:1: expected the number of atoms" },
		{ "1\nenergy=1.0\nSi 0 0 0\n", "p.xyz:2: no Properties: not an extxyz frame" },
		{ "1\nProperties=pos:R:3:species:S:1\n0 0 0 Si\n",
		  "p.xyz:2: Properties must start with species:S:1" },
		{ "1\nProperties=species:S:1:forces:R:2\nSi 0 0\n",
		  "p.xyz:2: Properties: 'forces' must be R:3" },
		{ "1\nProperties=species:S:1:pos:X:3\nSi 0 0 0\n",
		  "p.xyz:2: Properties: 'pos' has type 'X' (not S, R, I or L)" },
		{ "1\nProperties=species:S:1:pos:R:3 energy\nSi 0 0 0\n",
		  "p.xyz:2: expected KEY=VALUE, found 'energy'" },
		{ "1\nProperties=species:S:1:pos:R:3 pbc=\"T T T\nSi 0 0 0\n",
		  "p.xyz:2: pbc: unterminated quoted value" },
		{ "1\nProperties=species:S:1:move_mask:L:1\nSi x\n",
		  "p.xyz:3: atom 1, column 2: 'x' is not T or F" },
		{ "", "p.xyz: no frames" },
		{ "\n\n", "p.xyz: no frames" },
	};
	for (size_t k = 0; k < sizeof(c) / sizeof(c[0]); k++) {
		struct mlip_predictions p;
		struct mlip_err err = { 0 };
		ck_assert_int_eq(read_pred(&p, c[k].in, &err), MLIP_EDATA);
		ck_assert_msg(strncmp(err.msg, c[k].msg, strlen(c[k].msg)) == 0,
			      "case %zu: '%s' does not start '%s'", k, err.msg, c[k].msg);
		mlip_predictions_release(&p);
	}
}
END_TEST

Suite *suite_plotdata(void)
{
	Suite *s = suite_create("plotdata");
	TCase *tc = tcase_create("metrics");
	tcase_add_test(tc, test_metrics_series);
	tcase_add_test(tc, test_metrics_errors);
	suite_add_tcase(s, tc);
	tc = tcase_create("predictions");
	tcase_add_test(tc, test_predictions);
	tcase_add_test(tc, test_predictions_errors);
	suite_add_tcase(s, tc);
	return s;
}
