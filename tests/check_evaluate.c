/*
 * check_evaluate.c - the evaluation step against brute force (predictions,
 * metrics and losses computed directly), task selection, the JSON keys, and
 * --fail-if parsing and checking.
 */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "batch.h"
#include "config.h"
#include "evaluate.h"
#include "jsonl.h"
#include "log.h"
#include "potential.h"
#include "testutil.h"

static const char *config_text =
	"data: {train: x.mlb}\n"
	"model: {cutoff: 3.0, elements: [Li, Si], hidden: [4]}\n"
	"tasks:\n"
	"  - {name: e, property: energy, datasets: [a, 'q\"x\\'], loss: mse, normalizer: rmsd,\n"
	"     element_references: fit, metrics: [mae, per_atom_mae]}\n"
	"  - {name: f, property: forces, datasets: [a], loss: mae, metrics: [mae, rmse]}\n"
	"  - {name: s, property: stress, datasets: [a], loss: mse, metrics: [mae]}\n"
	"optim: {lr: 0.001}\n"
	"schedule: {epochs: 1}\n";

static struct mlip_plugins reg;
static struct mlip_potential pot;
static struct mlip_batch batch;

/* Three systems: two in dataset a with every label, one in dataset q"x\ (energy only). */
static void make_batch(void)
{
	struct mlip_structure s[3];
	const struct mlip_structure *ptr[3];
	static const char *ds[3] = { "a", "a", "q\"x\\" };
	static const int nat[3] = { 3, 4, 3 };
	uint64_t rng = 11;
	for (int k = 0; k < 3; k++) {
		mlip_structure_init(&s[k]);
		ck_assert_int_eq(mlip_structure_alloc(&s[k], (size_t)nat[k], NULL), 0);
		s[k].cell[0] = s[k].cell[4] = s[k].cell[8] = 5.5;
		s[k].pbc[0] = s[k].pbc[1] = s[k].pbc[2] = 1;
		for (int i = 0; i < nat[k]; i++) {
			s[k].numbers[i] = (i + k) % 2 ? 3 : 14;
			for (int x = 0; x < 3; x++) {
				s[k].positions[3 * i + x] = 1.2 * i + 0.5 * x + 0.2 * k + 0.3 * test_rand_unif(&rng);
				s[k].forces[3 * i + x] = test_rand_unif(&rng) - 0.5;
			}
		}
		s[k].has = MLIP_HAS_ENERGY;
		s[k].energy = -3.0 * nat[k] + test_rand_unif(&rng);
		if (k < 2) {
			s[k].has |= MLIP_HAS_FORCES | MLIP_HAS_STRESS;
			for (int c = 0; c < 9; c++)
				s[k].stress[c] = 0.01 * (test_rand_unif(&rng) - 0.5);
		}
		mlip_structure_set_dataset(&s[k], ds[k], NULL);
		ptr[k] = &s[k];
	}
	mlip_batch_init(&batch);
	ck_assert_int_eq(mlip_batch_collate(&batch, ptr, 3, 3.0, 0, NULL, NULL), 0);
	for (int k = 0; k < 3; k++)
		mlip_structure_release(&s[k]);
}

static void setup(void)
{
	struct mlip_err err = { 0 };
	struct mlip_config cfg;
	mlip_plugins_init(&reg);
	ck_assert_int_eq(mlip_plugins_add_dir(&reg, "lib/plugins", &err), 0);
	ck_assert_msg(mlip_config_load_string(config_text, strlen(config_text), "t.yaml", NULL, 0, &cfg,
					      &err) == 0, "%s", err.msg);
	ck_assert_msg(mlip_potential_create(&pot, &cfg, &reg, &err) == 0, "%s", err.msg);
	make_batch();
	const struct mlip_batch *bp = &batch;
	ck_assert_int_eq(mlip_model_fit_scaling(pot.model, &bp, 1, &err), 0);
	ck_assert_msg(mlip_tasks_fit(&pot.tasks, &bp, 1, &err) == 0, "%s", err.msg);
}

static void teardown(void)
{
	mlip_potential_release(&pot);
	mlip_batch_release(&batch);
	mlip_plugins_release(&reg);
}

START_TEST(test_batch_brute_force)
{
	struct mlip_err err = { 0 };
	struct mlip_eval ev;
	size_t B = batch.n_systems, N = batch.n_atoms;
	double *e = calloc(B, sizeof(double)), *f = calloc(3 * N, sizeof(double));
	double *s = calloc(9 * B, sizeof(double));
	ck_assert_int_eq(mlip_potential_predict(&pot, &batch, e, f, s, &err), 0);

	ck_assert_int_eq(mlip_eval_init(&ev, pot.model, &pot.tasks, 0, &err), 0);
	ck_assert_int_eq(mlip_eval_batch(&ev, &batch, &err), 0);
	ck_assert_int_eq(mlip_eval_batch(&ev, &batch, &err), 0); /* twice: sums double, means stay */
	ck_assert_int_eq(mlip_eval_reduce(&ev, &err), 0);
	ck_assert_uint_eq(ev.structures, 2 * B);
	ck_assert_uint_eq(ev.atoms, 2 * N);
	ck_assert_double_eq(ev.batches, 2);
	ck_assert(ev.model_seconds > 0);
	/* the physical predictions of the last batch are potential_predict's */
	for (size_t k = 0; k < B; k++)
		ck_assert_double_eq_tol(ev.energy[k], e[k], 1e-12 * fabs(e[k]));
	for (size_t k = 0; k < 3 * N; k++)
		ck_assert_double_eq_tol(ev.forces[k], f[k], 1e-12);

	/* metrics by brute force: dataset a is systems 0 and 1 */
	double mae_e = 0, pa = 0, mae_f = 0, sq_f = 0, mae_s = 0;
	for (size_t k = 0; k < 2; k++) {
		mae_e += fabs(e[k] - batch.energy[k]) / 2;
		pa += fabs(e[k] - batch.energy[k]) / batch.natoms[k] / 2;
		for (size_t c = 0; c < 9; c++)
			mae_s += fabs(s[9 * k + c] - batch.stress[9 * k + c]) / 18;
	}
	size_t na = batch.natoms[0] + batch.natoms[1];
	for (size_t i = 0; i < 3 * na; i++) {
		mae_f += fabs(f[i] - batch.forces[i]) / (3.0 * na);
		sq_f += (f[i] - batch.forces[i]) * (f[i] - batch.forces[i]) / (3.0 * na);
	}
	ck_assert_uint_eq(ev.metrics.n_datasets, 2);
	ck_assert_str_eq(ev.metrics.datasets[0], "a");
	double v;
	ck_assert(mlip_metrics_value(&ev.metrics, 0, 0, MLIP_METRIC_MAE, &v));
	ck_assert_double_eq_tol(v, mae_e, 1e-10 * mae_e);
	ck_assert(mlip_metrics_value(&ev.metrics, 0, 0, MLIP_METRIC_PER_ATOM_MAE, &v));
	ck_assert_double_eq_tol(v, pa, 1e-10 * pa);
	ck_assert(mlip_metrics_value(&ev.metrics, 0, 1, MLIP_METRIC_MAE, &v));
	ck_assert_double_eq_tol(v, mae_f, 1e-10 * mae_f);
	ck_assert(mlip_metrics_value(&ev.metrics, 0, 1, MLIP_METRIC_RMSE, &v));
	ck_assert_double_eq_tol(v, sqrt(sq_f), 1e-10 * sqrt(sq_f));
	ck_assert(mlip_metrics_value(&ev.metrics, 0, 2, MLIP_METRIC_MAE, &v));
	ck_assert_double_eq_tol(v, mae_s, 1e-10 * mae_s);
	/* the second dataset has an energy, no forces */
	ck_assert(mlip_metrics_value(&ev.metrics, 1, 0, MLIP_METRIC_MAE, &v));
	ck_assert_double_eq_tol(v, fabs(e[2] - batch.energy[2]), 1e-10);
	ck_assert(!mlip_metrics_value(&ev.metrics, 1, 1, MLIP_METRIC_MAE, &v));

	/* the loss: mean over batches of the sum of the task losses, from raw outputs */
	struct mlip_model_out out;
	uint64_t counts[3];
	double tl[3];
	double *dE = calloc(B * 1, sizeof(double)), *dF = calloc(3 * N, sizeof(double));
	double *dS = calloc(9 * B, sizeof(double));
	ck_assert_int_eq(mlip_model_forward(pot.model, &batch, MLIP_MODEL_FORCES | MLIP_MODEL_STRESS, &out,
					    &err), 0);
	ck_assert_int_eq(mlip_tasks_loss_counts(&pot.tasks, &batch, counts, &err), 0);
	ck_assert_int_eq(mlip_tasks_loss(&pot.tasks, &batch, out.energy, out.forces, out.stress, counts, tl,
					 dE, dF, dS, &err), 0);
	double want = tl[0] + tl[1] + tl[2];
	ck_assert(want > 0);
	ck_assert_double_eq_tol(ev.loss / ev.batches, want, 1e-12 * want);
	mlip_eval_release(&ev);

	/* selection: only f, its loss and its keys */
	const char *only[] = { "f" };
	ck_assert_int_eq(mlip_eval_init(&ev, pot.model, &pot.tasks, 0, &err), 0);
	ck_assert_int_eq(mlip_eval_select_tasks(&ev, only, 1, &err), 0);
	ck_assert_int_eq(mlip_eval_batch(&ev, &batch, &err), 0);
	ck_assert_int_eq(mlip_eval_reduce(&ev, &err), 0);
	ck_assert_double_eq_tol(ev.loss, tl[1], 1e-12 * tl[1]);
	json_t *rec = mlip_jsonl_new(NULL);
	mlip_jsonl_int(rec, "x", 0);
	mlip_eval_metrics_json(rec, &ev, "val/");
	char *text = mlip_jsonl_dumps(rec);
	ck_assert_ptr_nonnull(text);
	ck_assert(strchr(text, '\n') == text + strlen(text) - 1); /* one line */
	json_error_t jerr;
	json_t *root = json_loads(text, 0, &jerr);
	ck_assert_msg(root != NULL, "not JSON: %s (%s)", text, jerr.text);
	ck_assert(json_is_real(json_object_get(root, "val/a,f,mae")));
	ck_assert(json_is_real(json_object_get(root, "val/a,f,rmse")));
	/* the odd dataset name is escaped, and its forces have no entry: null */
	ck_assert(json_is_null(json_object_get(root, "val/q\"x\\,f,mae")));
	ck_assert(json_object_get(root, "val/a,e,mae") == NULL);
	ck_assert_double_eq_tol(json_real_value(json_object_get(root, "val/loss")), tl[1], 1e-9 * tl[1]);
	ck_assert_uint_eq(json_object_size(root), 1 + 2 * 2 + 1);
	json_decref(root);
	free(text);
	mlip_eval_release(&ev);

	const char *bad[] = { "f", "nope" };
	ck_assert_int_eq(mlip_eval_init(&ev, pot.model, &pot.tasks, 0, &err), 0);
	ck_assert_int_eq(mlip_eval_select_tasks(&ev, bad, 2, &err), MLIP_EINVAL);
	ck_assert_str_eq(err.msg, "unknown task 'nope' (the tasks are: e, f, s)");
	mlip_eval_release(&ev);
	free(e), free(f), free(s), free(dE), free(dF), free(dS);
}
END_TEST

START_TEST(test_cond_parse)
{
	struct mlip_eval_cond c;
	struct mlip_err err = { 0 };
	ck_assert_int_eq(mlip_eval_cond_parse("si,forces,mae>0.05", &c, &err), 0);
	ck_assert_str_eq(c.key, "si,forces,mae");
	ck_assert_int_eq(c.op, MLIP_CMP_GT);
	ck_assert_double_eq(c.value, 0.05);
	ck_assert_int_eq(mlip_eval_cond_parse(" loss >= 1e-3 ", &c, &err), 0);
	ck_assert_str_eq(c.key, "loss");
	ck_assert_int_eq(c.op, MLIP_CMP_GE);
	ck_assert_double_eq(c.value, 1e-3);
	ck_assert_int_eq(mlip_eval_cond_parse("x<-2", &c, &err), 0);
	ck_assert_int_eq(c.op, MLIP_CMP_LT);
	ck_assert_double_eq(c.value, -2);
	ck_assert_int_eq(mlip_eval_cond_parse("a<b,e,mae<=3", &c, &err), 0);  /* the last operator splits */
	ck_assert_str_eq(c.key, "a<b,e,mae");
	ck_assert_int_eq(c.op, MLIP_CMP_LE);
	static const char *bad[] = { "loss", "loss>", ">1", "loss>x", "loss>1x", "loss=>1", "loss>inf",
				     "loss>nan", "" };
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		ck_assert_msg(mlip_eval_cond_parse(bad[k], &c, &err) == MLIP_EINVAL, "accepted '%s'", bad[k]);
		ck_assert(strstr(err.msg, "--fail-if") != NULL);
	}
}
END_TEST

static int n_logged[4];
static char last_logged[512];

static void capture(enum mlip_log_level level, const char *msg, void *user)
{
	(void)user;
	n_logged[level]++;
	snprintf(last_logged, sizeof(last_logged), "%s", msg);
}

START_TEST(test_check)
{
	const char *res = "{\"structures\":7,\"si,f,mae\":0.5,\"si,e,mae\":null,\"loss\":2,\"model\":\"m\"}";
	struct mlip_eval_cond c[3];
	struct mlip_err err = { 0 };
	struct { const char *cond; int want; } cases[] = {
		{ "si,f,mae>0.5", MLIP_OK }, { "si,f,mae>=0.5", MLIP_ERUN }, { "si,f,mae<0.5", MLIP_OK },
		{ "si,f,mae<=0.5", MLIP_ERUN }, { "si,f,mae>0.4", MLIP_ERUN }, { "si,f,mae<0.6", MLIP_ERUN },
		{ "structures<8", MLIP_ERUN }, { "structures<7", MLIP_OK },
		{ "si,e,mae>0", MLIP_OK },     /* null: not crossed */
		{ "si,x,mae>0", MLIP_EINVAL }, { "model>0", MLIP_EINVAL },
	};
	mlip_log_set_callback(capture, NULL);
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		ck_assert_int_eq(mlip_eval_cond_parse(cases[k].cond, &c[0], &err), 0);
		ck_assert_msg(mlip_eval_check(res, c, 1, &err) == cases[k].want, "%s", cases[k].cond);
	}
	ck_assert_int_eq(n_logged[MLIP_LOG_WARN], 1);   /* the null one */
	ck_assert_str_eq(last_logged, "--fail-if 'si,e,mae>0': 'si,e,mae' is null (no valid entry); not checked");
	ck_assert_int_eq(n_logged[MLIP_LOG_ERROR], 0);
	ck_assert_int_eq(mlip_eval_cond_parse("si,x,mae>0", &c[0], &err), 0);
	ck_assert_int_eq(mlip_eval_check(res, c, 1, &err), MLIP_EINVAL);
	ck_assert(strstr(err.msg, "no key 'si,x,mae'") && strstr(err.msg, "si,f,mae") &&
		  strstr(err.msg, "loss"));
	/* several: an unknown key wins over a crossing; the last crossing is in err */
	ck_assert_int_eq(mlip_eval_cond_parse("loss>1", &c[0], &err), 0);
	ck_assert_int_eq(mlip_eval_cond_parse("si,f,mae>0.1", &c[1], &err), 0);
	ck_assert_int_eq(mlip_eval_check(res, c, 2, &err), MLIP_ERUN);
	ck_assert_str_eq(err.msg, "si,f,mae is 0.5, above the threshold 0.1 (--fail-if 'si,f,mae>0.1')");
	ck_assert_int_eq(n_logged[MLIP_LOG_ERROR], 1);  /* the first crossing, logged */
	ck_assert_str_eq(last_logged, "loss is 2, above the threshold 1 (--fail-if 'loss>1')");
	ck_assert_int_eq(mlip_eval_cond_parse("nope<1", &c[2], &err), 0);
	ck_assert_int_eq(mlip_eval_check(res, c, 3, &err), MLIP_EINVAL);
	mlip_log_set_callback(NULL, NULL);
}
END_TEST

Suite *suite_evaluate(void)
{
	Suite *s = suite_create("evaluate");
	TCase *tc = tcase_create("eval");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_batch_brute_force);
	suite_add_tcase(s, tc);
	tc = tcase_create("fail_if");
	tcase_add_test(tc, test_cond_parse);
	tcase_add_test(tc, test_check);
	suite_add_tcase(s, tc);
	return s;
}
