/*
 * check_config.c - the training configuration schema: the complete example
 * and the minimal one with their values and defaults, overrides, fine-tuning
 * merges, resolved write -> load equality, and one broken document per kind
 * of error with its exact message and location.
 */
#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "testutil.h"

static const char *data_path(char *buf, size_t size, const char *name)
{
	const char *top = getenv("MLIP_TOP");
	snprintf(buf, size, "%s%stests/data/config/%s", top ? top : "", top ? "/" : "", name);
	return buf;
}

static void load_file_ok(const char *name, const char *const *ov, size_t nov,
			 struct mlip_config *c)
{
	char path[1024];
	struct mlip_err err = { 0 };
	int rc = mlip_config_load(data_path(path, sizeof(path), name), ov, nov, c, &err);
	ck_assert_msg(rc == 0, "%s: %s", name, err.msg);
}

/* The resolved text loads to an equal config, and resolves to the same text. */
static void resolved_round_trip(const struct mlip_config *c)
{
	struct mlip_err err = { 0 };
	char *text = NULL, *again = NULL;
	size_t len, len2;
	struct mlip_config d;
	ck_assert_int_eq(mlip_config_resolved_text(c, &text, &len, &err), 0);
	int rc = mlip_config_load_string(text, len, "resolved.yaml", NULL, 0, &d, &err);
	ck_assert_msg(rc == 0, "%s\n%s", err.msg, text);
	ck_assert_msg(mlip_config_equal(c, &d), "resolved config differs:\n%s", text);
	ck_assert(mlip_config_equal(&d, c));
	ck_assert_int_eq(mlip_config_resolved_text(&d, &again, &len2, &err), 0);
	ck_assert_str_eq(text, again);
	free(again);
	free(text);
	mlip_config_release(&d);
}

START_TEST(test_full)
{
	struct mlip_config c;
	load_file_ok("full.yaml", NULL, 0, &c);
	ck_assert_uint_eq(c.seed, 42);
	ck_assert_uint_eq(c.data.n_train, 1);
	ck_assert_str_eq(c.data.train[0], "si-train.mlb");
	ck_assert_uint_eq(c.data.n_val, 1); /* a lone string */
	ck_assert_str_eq(c.data.val[0], "si-val.mlb");

	const struct mlip_config_model *m = &c.model;
	ck_assert_ptr_null(m->init_from);
	ck_assert_str_eq(m->name, "bpnn");
	ck_assert_double_eq(m->cutoff, 5.0);
	ck_assert_uint_eq(m->n_elements, 1);
	ck_assert_int_eq(m->elements[0], 14);
	ck_assert_uint_eq(m->n_hidden, 2);
	ck_assert_int_eq(m->hidden[0], 32);
	ck_assert_int_eq(m->hidden[1], 32);
	ck_assert_int_eq(m->activation, MLIP_CFG_SILU);
	ck_assert_uint_eq(m->n_heads, 1);
	ck_assert_str_eq(m->heads[0], "energy");
	ck_assert_uint_eq(m->seed, 7);
	ck_assert_int_eq(m->precision, MLIP_CFG_FLOAT64);
	ck_assert_uint_eq(m->n_descriptors, 6);
	ck_assert_int_eq(m->descriptors[0].kind, MLIP_CFG_G2);
	ck_assert_int_eq(m->descriptors[0].elements[0], 14);
	ck_assert_int_eq(m->descriptors[0].elements[1], 0);
	ck_assert_double_eq(m->descriptors[1].eta, 0.5);
	ck_assert_double_eq(m->descriptors[1].rs, 2.0);
	ck_assert_double_eq(m->descriptors[1].cutoff, 5.0); /* the model's */
	ck_assert_double_eq(m->descriptors[2].cutoff, 4.5);
	ck_assert_int_eq(m->descriptors[4].kind, MLIP_CFG_G9);
	ck_assert_int_eq(m->descriptors[4].elements[1], 14);
	ck_assert_double_eq(m->descriptors[4].lambda, -1);
	ck_assert_double_eq(m->descriptors[4].zeta, 4);
	ck_assert_double_eq(m->descriptors[4].rs, 0);
	ck_assert_int_eq(m->descriptors[5].kind, MLIP_CFG_G3);

	ck_assert_uint_eq(c.n_tasks, 3);
	const struct mlip_config_task *e = mlip_config_task(&c, "energy");
	const struct mlip_config_task *f = mlip_config_task(&c, "forces");
	const struct mlip_config_task *s = mlip_config_task(&c, "stress");
	ck_assert_ptr_eq(e, &c.tasks[0]);
	ck_assert_ptr_eq(s, &c.tasks[2]);
	ck_assert_ptr_null(mlip_config_task(&c, "nope"));
	ck_assert_int_eq(e->level, MLIP_CFG_SYSTEM);
	ck_assert_int_eq(e->property, MLIP_CFG_ENERGY);
	ck_assert_str_eq(e->head, "energy");
	ck_assert_uint_eq(e->n_datasets, 1);
	ck_assert_str_eq(e->datasets[0], "si");
	ck_assert_str_eq(e->loss.name, "per_atom_mae");
	ck_assert_double_eq(e->loss_coefficient, 1.0);
	ck_assert_int_eq(e->loss_reduction, MLIP_CFG_MEAN);
	ck_assert_str_eq(e->loss.params_json, "{}");
	ck_assert_str_eq(e->normalizer.name, "rmsd");
	ck_assert_int_eq(e->elref, MLIP_CFG_ELREF_FIT);
	ck_assert_uint_eq(e->n_metrics, 4);
	ck_assert_str_eq(e->metrics[3], "energy_within_threshold");
	ck_assert_double_eq(e->energy_threshold, 0.01);
	ck_assert(e->train_on_free_atoms && e->eval_on_free_atoms && !e->inference_only);

	ck_assert_int_eq(f->level, MLIP_CFG_ATOM);
	ck_assert_int_eq(f->property, MLIP_CFG_FORCES);
	ck_assert_str_eq(f->loss.name, "huber");
	ck_assert_double_eq(f->loss_coefficient, 10.0);
	ck_assert_int_eq(f->loss_reduction, MLIP_CFG_PER_STRUCTURE);
	/* plugin parameters, not the reserved keys, as a tree and as JSON */
	ck_assert_str_eq(f->loss.params_json, "{\"delta\":0.01}");
	ck_assert_uint_eq(f->loss.params->n, 1);
	ck_assert_str_eq(mlip_yaml_get(f->loss.params, "delta")->text, "0.01");
	ck_assert_uint_eq(mlip_yaml_get(f->loss.params, "delta")->line, 47);
	ck_assert_str_eq(f->normalizer.name, "rmsd"); /* the short form */
	ck_assert_int_eq(f->elref, MLIP_CFG_ELREF_NONE);
	ck_assert_double_eq(f->energy_threshold, 0.02);

	ck_assert_int_eq(s->level, MLIP_CFG_SYSTEM); /* from the property */
	ck_assert_int_eq(s->property, MLIP_CFG_STRESS);
	ck_assert_double_eq(s->loss_coefficient, 0.1);
	ck_assert_int_eq(s->loss_reduction, MLIP_CFG_SUM);
	ck_assert_ptr_null(s->normalizer.name);
	ck_assert(!s->train_on_free_atoms && s->eval_on_free_atoms);

	ck_assert_str_eq(c.optim.name, "adamw");
	ck_assert_double_eq(c.optim.lr, 1e-3);
	ck_assert_double_eq(c.optim.weight_decay, 0.001);
	ck_assert_double_eq(c.optim.betas[0], 0.9);
	ck_assert_double_eq(c.optim.betas[1], 0.99);
	ck_assert_double_eq(c.optim.eps, 1e-8);
	ck_assert_double_eq(c.schedule.warmup_factor, 0.2);
	ck_assert(!c.schedule.warmup_in_steps);
	ck_assert_double_eq(c.schedule.warmup_epochs, 0.5);
	ck_assert_double_eq(c.schedule.lr_min_factor, 0.01);
	ck_assert(!c.schedule.in_steps);
	ck_assert_int_eq(c.schedule.epochs, 50);
	ck_assert_double_eq(c.train.clip_grad_norm, 10);
	ck_assert(c.train.ema);
	ck_assert_double_eq(c.train.ema_decay, 0.999);
	ck_assert_int_eq(c.train.print_every, 20);
	ck_assert_int_eq(c.train.eval_every, 100);
	ck_assert_int_eq(c.train.checkpoint_every, 500);
	ck_assert_int_eq(c.train.max_saved_checkpoints, 3);
	ck_assert_int_eq(c.train.strategy, MLIP_CFG_DDP);
	ck_assert_int_eq(c.train.max_nonfinite_steps, 5);
	ck_assert(!c.train.debug_checksums && c.train.profile_flops && c.train.save_inference_ckpt);
	/* the source tree stays, with its locations */
	ck_assert_uint_eq(mlip_yaml_get(c.tree, "optim.lr")->line, 59);
	resolved_round_trip(&c);
	mlip_config_release(&c);
	mlip_config_release(&c); /* released twice is harmless */
}
END_TEST

START_TEST(test_minimal_defaults)
{
	struct mlip_config c;
	load_file_ok("minimal.yaml", NULL, 0, &c);
	ck_assert_uint_eq(c.seed, 0);
	ck_assert_uint_eq(c.data.n_val, 0);
	ck_assert_str_eq(c.model.name, "bpnn");
	ck_assert_int_eq(c.model.activation, MLIP_CFG_TANH);
	ck_assert_int_eq(c.model.precision, MLIP_CFG_FLOAT64);
	ck_assert_uint_eq(c.model.n_heads, 1);
	ck_assert_str_eq(c.model.heads[0], "energy");
	ck_assert_uint_eq(c.model.seed, 0);
	ck_assert_uint_eq(c.model.n_descriptors, 0);
	const struct mlip_config_task *t = &c.tasks[0];
	ck_assert_str_eq(t->head, "energy");
	ck_assert_int_eq(t->level, MLIP_CFG_SYSTEM);
	ck_assert_str_eq(t->loss.name, "mae");
	ck_assert_double_eq(t->loss_coefficient, 1.0);
	ck_assert_int_eq(t->loss_reduction, MLIP_CFG_MEAN);
	ck_assert_ptr_null(t->normalizer.name);
	ck_assert_int_eq(t->elref, MLIP_CFG_ELREF_NONE);
	ck_assert_uint_eq(t->n_metrics, 1);
	ck_assert_str_eq(t->metrics[0], "mae");
	ck_assert_double_eq(t->energy_threshold, 0.02);
	ck_assert(t->train_on_free_atoms && t->eval_on_free_atoms && !t->inference_only);
	ck_assert_str_eq(c.optim.name, "adamw");
	ck_assert_double_eq(c.optim.weight_decay, 0);
	ck_assert_double_eq(c.optim.betas[0], 0.9);
	ck_assert_double_eq(c.optim.betas[1], 0.999);
	ck_assert_double_eq(c.optim.eps, 1e-8);
	ck_assert_double_eq(c.schedule.warmup_factor, 0.2);
	ck_assert(!c.schedule.warmup_in_steps);
	ck_assert_double_eq(c.schedule.warmup_epochs, 0);
	ck_assert_double_eq(c.schedule.lr_min_factor, 0.01);
	ck_assert_int_eq(c.schedule.epochs, 10);
	ck_assert_double_eq(c.train.clip_grad_norm, 0);
	ck_assert(!c.train.ema);
	ck_assert_int_eq(c.train.print_every, 10);
	ck_assert_int_eq(c.train.eval_every, 0);
	ck_assert_int_eq(c.train.checkpoint_every, 0);
	ck_assert_int_eq(c.train.max_saved_checkpoints, 2);
	ck_assert_int_eq(c.train.strategy, MLIP_CFG_DDP);
	ck_assert_int_eq(c.train.max_nonfinite_steps, 10);
	ck_assert(!c.train.debug_checksums && !c.train.profile_flops && c.train.save_inference_ckpt);
	resolved_round_trip(&c);
	mlip_config_release(&c);
}
END_TEST

START_TEST(test_finetune_file)
{
	struct mlip_config c;
	load_file_ok("finetune.yaml", NULL, 0, &c);
	ck_assert_str_eq(c.model.init_from, "base.mlip");
	ck_assert_uint_eq(c.model.n_heads, 0);
	ck_assert_uint_eq(c.model.seed, 3);
	ck_assert_int_eq(c.tasks[0].elref, MLIP_CFG_ELREF_TABLE);
	ck_assert_uint_eq(c.tasks[0].n_elref, 1);
	ck_assert_int_eq(c.tasks[0].elref_z[0], 3);
	ck_assert_double_eq(c.tasks[0].elref_value[0], -1.9);
	ck_assert(c.schedule.warmup_in_steps && c.schedule.in_steps);
	ck_assert_int_eq(c.schedule.warmup_steps, 100);
	ck_assert_int_eq(c.schedule.steps, 2000);
	ck_assert_double_eq(c.train.ema_decay, 0.99);
	resolved_round_trip(&c);
	mlip_config_release(&c);
}
END_TEST

START_TEST(test_overrides)
{
	static const char *const ov[] = {
		"optim.lr=1e-4", "model.hidden=[64, 64, 8]", "tasks.0.loss=mae",
		"tasks.1.loss.delta=0.5", "train.ema_decay=none", "data.val=[a.mlb, '-']",
		"model.elements=[Si, 'No']", "tasks.0.element_references={Si: -5.4, 'No': 1}",
		"schedule.epochs=", "schedule.steps=300", "seed=0x10",
	};
	struct mlip_config c;
	load_file_ok("full.yaml", ov, sizeof(ov) / sizeof(ov[0]), &c);
	ck_assert_double_eq(c.optim.lr, 1e-4);
	ck_assert_uint_eq(c.model.n_hidden, 3);
	ck_assert_int_eq(c.model.hidden[2], 8);
	ck_assert_str_eq(c.tasks[0].loss.name, "mae");
	ck_assert_str_eq(c.tasks[1].loss.params_json, "{\"delta\":0.5}");
	ck_assert(!c.train.ema);
	ck_assert_uint_eq(c.data.n_val, 2);
	ck_assert_str_eq(c.data.val[1], "-");
	ck_assert_int_eq(c.model.elements[1], 102);
	ck_assert_int_eq(c.tasks[0].elref, MLIP_CFG_ELREF_TABLE);
	ck_assert_double_eq(c.tasks[0].elref_value[1], 1);
	ck_assert(c.schedule.in_steps); /* a null epochs is no epochs */
	ck_assert_int_eq(c.schedule.steps, 300);
	ck_assert_uint_eq(c.seed, 16);
	ck_assert_uint_eq(c.model.seed, 7);
	resolved_round_trip(&c);
	mlip_config_release(&c);

	/* no file at all: everything from --set */
	static const char *const only[] = {
		"data.train=x.mlb", "model={cutoff: 4, elements: [H], hidden: [2]}",
		"tasks=[{name: e, property: energy, datasets: [d], loss: mse}]", "optim.lr=1",
		"schedule.steps=1",
	};
	struct mlip_err err = { 0 };
	ck_assert_int_eq(mlip_config_load(NULL, only, 5, &c, &err), 0);
	ck_assert_int_eq(c.model.elements[0], 1);
	resolved_round_trip(&c);
	mlip_config_release(&c);
}
END_TEST

/* Fine-tuning: a checkpoint's config deep-merged with the user's. */
START_TEST(test_from_merged_tree)
{
	char path[1024];
	struct mlip_err err = { 0 };
	struct mlip_yaml_node *base = NULL, *user = NULL;
	ck_assert_int_eq(mlip_yaml_load_file(data_path(path, sizeof(path), "full.yaml"), &base,
					     &err), 0);
	const char *text = "optim: {lr: 1.0e-5}\nmodel: {hidden: [8]}\ntrain: {ema_decay: ~}\n";
	ck_assert_int_eq(mlip_yaml_load_string(text, strlen(text), "user.yaml", &user, &err), 0);
	ck_assert_int_eq(mlip_yaml_merge(&base, user, &err), 0);
	mlip_yaml_free(user);
	struct mlip_config c;
	ck_assert_msg(mlip_config_from_tree(base, &c, &err) == 0, "%s", err.msg);
	ck_assert_double_eq(c.optim.lr, 1e-5);
	ck_assert_double_eq(c.optim.weight_decay, 0.001); /* kept from the base */
	ck_assert_uint_eq(c.model.n_hidden, 1);
	ck_assert_double_eq(c.model.cutoff, 5.0);
	ck_assert(!c.train.ema);
	mlip_config_release(&c);

	/* errors in merged values point at the file that set them */
	ck_assert_int_eq(mlip_yaml_load_file(path, &base, &err), 0);
	text = "optim:\n  betas: [0.9, 2]\n";
	ck_assert_int_eq(mlip_yaml_load_string(text, strlen(text), "user.yaml", &user, &err), 0);
	ck_assert_int_eq(mlip_yaml_merge(&base, user, &err), 0);
	mlip_yaml_free(user);
	ck_assert_int_eq(mlip_config_from_tree(base, &c, &err), MLIP_EINVAL);
	ck_assert_str_eq(err.msg, "user.yaml:2:16: key 'optim.betas.1': must be in [0, 1), got '2'");
	ck_assert_ptr_null(c.tree);
}
END_TEST

START_TEST(test_resolved_variants)
{
	struct mlip_config c, d;
	struct mlip_err err = { 0 };
	/* strings that plain YAML would read as something else */
	static const char *const ov[] = {
		"data.train=['-', 'yes', '007', 'a b.mlb', 'x: y', '#c', 'null', 'No']",
		"tasks.0.datasets=['true', '1.5', '']",
	};
	load_file_ok("minimal.yaml", ov, 1, &c);
	ck_assert_str_eq(c.data.train[1], "yes");
	ck_assert_str_eq(c.data.train[6], "null");
	resolved_round_trip(&c);
	mlip_config_release(&c);
	char path[1024];
	ck_assert_int_eq(mlip_config_load(data_path(path, sizeof(path), "minimal.yaml"), ov + 1, 1,
					  &c, &err), MLIP_EINVAL);
	ck_assert_str_eq(err.msg, "--set tasks.0.datasets=['true', '1.5', '']: "
			 "key 'tasks.0.datasets.2': must not be empty");

	/* an inference-only task needs no data set and no loss */
	static const char *const inf[] = {
		"model.heads=[energy, aux]",
		"tasks.1={name: aux_e, property: energy, head: aux, inference_only: true}",
	};
	load_file_ok("minimal.yaml", inf, 2, &c);
	ck_assert(c.tasks[1].inference_only);
	ck_assert_ptr_null(c.tasks[1].loss.name);
	ck_assert_uint_eq(c.tasks[1].n_datasets, 0);
	resolved_round_trip(&c);
	mlip_config_release(&c);

	/* exact doubles of every magnitude survive the resolved text */
	uint64_t s = 99;
	for (int i = 0; i < 300; i++) {
		char a[64], b[64], w[64];
		double lr = test_rand_unif(&s) * pow(10, (int)(test_rand_unif(&s) * 40) - 20);
		double cut = 4.5 + 5 * test_rand_unif(&s);
		snprintf(a, sizeof(a), "optim.lr=%.17g", lr);
		snprintf(b, sizeof(b), "model.cutoff=%.17g", cut);
		snprintf(w, sizeof(w), "schedule.warmup_epochs=%.17g", test_rand_unif(&s) * 3);
		const char *const o[] = { a, b, w };
		load_file_ok("full.yaml", o, 3, &c);
		ck_assert(c.optim.lr == lr && c.model.cutoff == cut);
		resolved_round_trip(&c);
		mlip_config_release(&c);
	}

	/* equality sees a one-ulp change and a changed plugin parameter */
	load_file_ok("full.yaml", NULL, 0, &c);
	char one[64];
	snprintf(one, sizeof(one), "optim.lr=%.17g", nextafter(1e-3, 1));
	const char *const o1[] = { one };
	load_file_ok("full.yaml", o1, 1, &d);
	ck_assert(!mlip_config_equal(&c, &d));
	mlip_config_release(&d);
	const char *const o2[] = { "tasks.1.loss.delta=0.02" };
	load_file_ok("full.yaml", o2, 1, &d);
	ck_assert(!mlip_config_equal(&c, &d));
	mlip_config_release(&d);
	const char *const o3[] = { "tasks.1.metrics=[mae, rmse, cosine_similarity]" };
	load_file_ok("full.yaml", o3, 1, &d);
	ck_assert(!mlip_config_equal(&c, &d));
	mlip_config_release(&d);
	const char *const o4[] = { "model.descriptors.3.zeta=2" };
	load_file_ok("full.yaml", o4, 1, &d);
	ck_assert(!mlip_config_equal(&c, &d));
	mlip_config_release(&d);
	const char *const o5[] = { "train.strategy=sharded" };
	load_file_ok("full.yaml", o5, 1, &d);
	ck_assert(!mlip_config_equal(&c, &d));
	resolved_round_trip(&d);
	mlip_config_release(&d);
	mlip_config_release(&c);
}
END_TEST

START_TEST(test_write_resolved_file)
{
	struct mlip_config c, d;
	struct mlip_err err = { 0 };
	load_file_ok("full.yaml", NULL, 0, &c);
	char path[] = "/tmp/mlip-resolved-XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	FILE *f = fdopen(fd, "w");
	ck_assert_int_eq(mlip_config_write_resolved(&c, f, &err), 0);
	fclose(f);
	ck_assert_int_eq(mlip_config_load(path, NULL, 0, &d, &err), 0);
	ck_assert(mlip_config_equal(&c, &d));
	mlip_config_release(&d);
	remove(path);
	mlip_config_release(&c);
}
END_TEST

START_TEST(test_config_on_stdin)
{
	char path[1024];
	struct mlip_config c;
	struct mlip_err err = { 0 };
	ck_assert_ptr_nonnull(freopen(data_path(path, sizeof(path), "minimal.yaml"), "r", stdin));
	ck_assert_int_eq(mlip_config_load("-", NULL, 0, &c, &err), 0);
	ck_assert_str_eq(c.data.train[0], "train.mlb");
	ck_assert_str_eq(mlip_yaml_get(c.tree, "data.train")->file, "<stdin>");
	mlip_config_release(&c);
	/* stdin cannot be both the configuration and a batch stream */
	const char *const ov[] = { "data.val='-'" };
	ck_assert_ptr_nonnull(freopen(path, "r", stdin));
	ck_assert_int_eq(mlip_config_load("-", ov, 1, &c, &err), MLIP_EINVAL);
	ck_assert_str_eq(err.msg, "--set data.val='-': key 'data.val': standard input ('-') "
			 "already holds the configuration");
	ck_assert_ptr_null(c.tree);
}
END_TEST

/* ---- one broken document per kind of error ---- */

/*
 * The base document below with some lines replaced: edit(n, line, text, ...)
 * where text may hold several lines. The base is valid (test_base_is_valid).
 */
static const char *const BASE[] = {
	"seed: 1",                                  /* 1 */
	"data:",                                    /* 2 */
	"  train: [a.mlb]",                         /* 3 */
	"  val: b.mlb",                             /* 4 */
	"model:",                                   /* 5 */
	"  cutoff: 5.0",                            /* 6 */
	"  elements: [Si, O]",                      /* 7 */
	"  hidden: [8]",                            /* 8 */
	"tasks:",                                   /* 9 */
	"  - name: e",                              /* 10 */
	"    property: energy",                     /* 11 */
	"    datasets: [d]",                        /* 12 */
	"    loss: mae",                            /* 13 */
	"  - name: f",                              /* 14 */
	"    property: forces",                     /* 15 */
	"    datasets: [d]",                        /* 16 */
	"    loss: {name: mse, coefficient: 2}",    /* 17 */
	"optim:",                                   /* 18 */
	"  lr: 0.01",                               /* 19 */
	"schedule:",                                /* 20 */
	"  epochs: 2",                              /* 21 */
	"train:",                                   /* 22 */
	"  print_every: 5",                         /* 23 */
};
#define NBASE (sizeof(BASE) / sizeof(BASE[0]))

static char *edit(int n, ...)
{
	const char *rep[NBASE + 1] = { 0 };
	va_list ap;
	va_start(ap, n);
	for (int i = 0; i < n; i++) {
		int line = va_arg(ap, int);
		ck_assert(line >= 1 && line <= (int)NBASE);
		rep[line] = va_arg(ap, const char *);
	}
	va_end(ap);
	size_t size = 1;
	for (size_t l = 1; l <= NBASE; l++)
		size += strlen(rep[l] ? rep[l] : BASE[l - 1]) + 1;
	char *doc = malloc(size), *p = doc;
	for (size_t l = 1; l <= NBASE; l++) {
		const char *s = rep[l] ? rep[l] : BASE[l - 1];
		size_t k = strlen(s);
		memcpy(p, s, k);
		p[k] = '\n';
		p += k + 1;
	}
	*p = '\0';
	return doc;
}

/* doc (taken) must fail with MLIP_EINVAL and exactly want. */
static void fails(char *doc, const char *want)
{
	struct mlip_config c;
	struct mlip_err err = { 0 };
	int rc = mlip_config_load_string(doc, strlen(doc), "c.yaml", NULL, 0, &c, &err);
	ck_assert_msg(rc == MLIP_EINVAL, "loaded, but should fail with: %s\n%s", want, doc);
	ck_assert_str_eq(err.msg, want);
	ck_assert_ptr_null(c.tree);
	ck_assert_ptr_null(c.tasks);
	free(doc);
}

START_TEST(test_base_is_valid)
{
	char *doc = edit(0);
	struct mlip_config c;
	struct mlip_err err = { 0 };
	ck_assert_msg(mlip_config_load_string(doc, strlen(doc), "c.yaml", NULL, 0, &c, &err) == 0,
		      "%s", err.msg);
	ck_assert_uint_eq(c.n_tasks, 2);
	ck_assert_double_eq(c.tasks[1].loss_coefficient, 2);
	mlip_config_release(&c);
	free(doc);
}
END_TEST

START_TEST(test_unknown_keys)
{
	fails(edit(1, 1, "sed: 1"), "c.yaml:1:1: unknown key 'sed' (did you mean 'seed'? valid "
	      "keys: seed, data, model, tasks, optim, schedule, train)");
	fails(edit(1, 1, "optimizer: {}"), "c.yaml:1:1: unknown key 'optimizer' (valid keys: "
	      "seed, data, model, tasks, optim, schedule, train)");
	fails(edit(1, 19, "  lrr: 0.01"), "c.yaml:19:3: unknown key 'optim.lrr' (did you mean "
	      "'lr'? valid keys: name, lr, weight_decay, betas, eps, lbfgs, ridge)");
	fails(edit(1, 13, "    los: mae"), "c.yaml:13:5: unknown key 'tasks.0.los' (did you mean "
	      "'loss'? valid keys: name, level, property, head, datasets, loss, normalizer, "
	      "element_references, metrics, energy_threshold, train_on_free_atoms, "
	      "eval_on_free_atoms, inference_only)");
	fails(edit(1, 4, "  test: b.mlb"), "c.yaml:4:3: unknown key 'data.test' (valid keys: "
	      "train, val)");
	fails(edit(1, 23, "  print_evry: 5"), "c.yaml:23:3: unknown key 'train.print_evry' (did "
	      "you mean 'print_every'? valid keys: clip_grad_norm, ema_decay, print_every, "
	      "eval_every, checkpoint_every, max_saved_checkpoints, strategy, "
	      "max_nonfinite_steps, debug_checksums, profile_flops, save_inference_ckpt, eval_at_start)");
	fails(edit(1, 21, "  epochs: 2\n  warmup: 1"), "c.yaml:22:3: unknown key "
	      "'schedule.warmup' (valid keys: warmup_factor, warmup_epochs, warmup_steps, "
	      "lr_min_factor, epochs, steps)");
	fails(edit(1, 8, "  hidden: [8]\n  layers: 2"), "c.yaml:9:3: unknown key 'model.layers' "
	      "(valid keys: name, cutoff, elements, hidden, activation, "
	      "heads, seed, descriptors, angular_shells, descriptor, precision, init_from)");
	fails(edit(1, 8, "  hidden: [8]\n  descriptors: [{kind: g2, elements: [O], eta: 1, "
		   "r_s: 0}]"), "c.yaml:9:51: unknown key 'model.descriptors.0.r_s' (did you mean "
	      "'rs'? valid keys: kind, elements, eta, rs, lambda, zeta, cutoff)");
}
END_TEST

START_TEST(test_wrong_types)
{
	fails(edit(1, 19, "  lr: abc"), "c.yaml:19:7: key 'optim.lr': expected a number, got 'abc'");
	fails(edit(1, 19, "  lr: '0.01'"), "c.yaml:19:7: key 'optim.lr': expected a number, got "
	      "the quoted string \"0.01\"");
	fails(edit(1, 1, "seed: 1.5"), "c.yaml:1:7: key 'seed': expected an integer, got '1.5'");
	fails(edit(1, 8, "  hidden: [8, wide]"), "c.yaml:8:15: key 'model.hidden.1': expected an "
	      "integer, got 'wide'");
	fails(edit(1, 23, "  print_every: often"), "c.yaml:23:16: key 'train.print_every': "
	      "expected an integer, got 'often'");
	fails(edit(1, 23, "  debug_checksums: 1"), "c.yaml:23:20: key 'train.debug_checksums': "
	      "expected a boolean (true or false), got '1'");
	fails(edit(1, 3, "  train: {a: 1}"), "c.yaml:3:10: key 'data.train': expected a list of "
	      "strings, got a mapping");
	fails(edit(2, 18, "optim: 0.01", 19, ""), "c.yaml:18:8: key 'optim': expected a mapping, got "
	      "'0.01'");
	fails(edit(9, 9, "tasks: {name: e}", 10, "", 11, "", 12, "", 13, "", 14, "", 15, "", 16, "", 17, ""), "c.yaml:9:8: key 'tasks': expected a sequence of "
	      "task mappings");
	fails(edit(4, 10, "  - e", 11, "", 12, "", 13, ""), "c.yaml:10:5: key 'tasks.0': expected a mapping, got 'e'");
	fails(edit(1, 13, "    loss: [mae]"), "c.yaml:13:11: key 'tasks.0.loss': expected a "
	      "mapping, got a sequence");
	fails(strdup("- a\n- b\n"), "c.yaml:1:1: expected a mapping, got a sequence");
	fails(strdup("just text\n"), "c.yaml:1:1: expected a mapping, got 'just text'");
}
END_TEST

START_TEST(test_out_of_range)
{
	fails(edit(1, 19, "  lr: 0"), "c.yaml:19:7: key 'optim.lr': must be > 0, got '0'");
	fails(edit(1, 19, "  lr: -1e-3"), "c.yaml:19:7: key 'optim.lr': must be > 0, got '-1e-3'");
	fails(edit(1, 19, "  lr: .inf"), "c.yaml:19:7: key 'optim.lr': expected a finite number, "
	      "got '.inf'");
	fails(edit(1, 19, "  lr: 0.01\n  betas: [0.9, 1.0]"), "c.yaml:20:16: key 'optim.betas.1': "
	      "must be in [0, 1), got '1.0'");
	fails(edit(1, 19, "  lr: 0.01\n  betas: [-0.1, 0.9]"), "c.yaml:20:11: key "
	      "'optim.betas.0': must be in [0, 1), got '-0.1'");
	fails(edit(1, 19, "  lr: 0.01\n  betas: [0.9]"), "c.yaml:20:10: key 'optim.betas': "
	      "expected two numbers [beta1, beta2], got 1");
	fails(edit(1, 19, "  lr: 0.01\n  eps: 0"), "c.yaml:20:8: key 'optim.eps': must be > 0, "
	      "got '0'");
	fails(edit(1, 19, "  lr: 0.01\n  weight_decay: -0.1"), "c.yaml:20:17: key "
	      "'optim.weight_decay': must be >= 0, got '-0.1'");
	fails(edit(1, 23, "  print_every: -1"), "c.yaml:23:16: key 'train.print_every': must be "
	      ">= 0, got '-1'");
	fails(edit(1, 23, "  checkpoint_every: -5"), "c.yaml:23:21: key 'train.checkpoint_every': "
	      "must be >= 0, got '-5'");
	fails(edit(1, 23, "  max_saved_checkpoints: 0"), "c.yaml:23:26: key "
	      "'train.max_saved_checkpoints': must be >= 1, got '0'");
	fails(edit(1, 23, "  ema_decay: 1.5"), "c.yaml:23:14: key 'train.ema_decay': must be in "
	      "(0, 1) (or none = off), got '1.5'");
	fails(edit(1, 23, "  clip_grad_norm: -1"), "c.yaml:23:19: key 'train.clip_grad_norm': "
	      "must be >= 0 (0 or none = off), got '-1'");
	fails(edit(1, 21, "  epochs: 0"), "c.yaml:21:11: key 'schedule.epochs': must be >= 1, "
	      "got '0'");
	fails(edit(1, 21, "  epochs: 2\n  warmup_factor: 1.5"), "c.yaml:22:18: key "
	      "'schedule.warmup_factor': must be in [0, 1], got '1.5'");
	fails(edit(1, 21, "  epochs: 2\n  warmup_steps: -1"), "c.yaml:22:17: key "
	      "'schedule.warmup_steps': must be >= 0, got '-1'");
	fails(edit(1, 1, "seed: -1"), "c.yaml:1:7: key 'seed': must be >= 0, got '-1'");
	fails(edit(1, 6, "  cutoff: 0"), "c.yaml:6:11: key 'model.cutoff': must be > 0, got '0'");
	fails(edit(1, 8, "  hidden: [8, 0]"), "c.yaml:8:15: key 'model.hidden.1': must be a width "
	      "in 1..1000000, got '0'");
	fails(edit(1, 17, "    loss: {name: mse, coefficient: -2}"), "c.yaml:17:36: key "
	      "'tasks.1.loss.coefficient': must be >= 0, got '-2'");
	fails(edit(1, 13, "    loss: mae\n    energy_threshold: 0"), "c.yaml:14:23: key "
	      "'tasks.0.energy_threshold': must be > 0, got '0'");
}
END_TEST

/*
 * optim.name lstsq, the linear model's solver: no learning rate needed, a
 * relative ridge (default MLIP_CFG_DEFAULT_RIDGE) that round-trips through
 * the resolved config and counts for equality; the ridge is refused with
 * adamw and below 0.
 */
START_TEST(test_lstsq_optim)
{
	struct mlip_config c, d;
	struct mlip_err err = { 0 };
	char *doc = edit(1, 19, "  name: lstsq");
	ck_assert_msg(mlip_config_load_string(doc, strlen(doc), "c.yaml", NULL, 0, &c, &err) == 0,
		      "%s", err.msg);
	free(doc);
	ck_assert_str_eq(c.optim.name, "lstsq");
	ck_assert_double_eq(c.optim.ridge, MLIP_CFG_DEFAULT_RIDGE);
	ck_assert_double_eq(c.optim.lr, 0);
	resolved_round_trip(&c);
	doc = edit(1, 19, "  name: lstsq\n  ridge: 1.0e-4\n  lr: 0.5");
	ck_assert_int_eq(mlip_config_load_string(doc, strlen(doc), "c.yaml", NULL, 0, &d, &err), 0);
	free(doc);
	ck_assert_double_eq(d.optim.ridge, 1e-4);
	ck_assert_double_eq(d.optim.lr, 0.5);
	ck_assert(!mlip_config_equal(&c, &d));
	resolved_round_trip(&d);
	mlip_config_release(&d);
	mlip_config_release(&c);
	/* the default stays adamw, with its rules */
	doc = edit(0);
	ck_assert_int_eq(mlip_config_load_string(doc, strlen(doc), "c.yaml", NULL, 0, &c, &err), 0);
	free(doc);
	ck_assert_str_eq(c.optim.name, "adamw");
	mlip_config_release(&c);
	fails(edit(1, 19, "  name: adamw"), "c.yaml:19:3: missing required key 'optim.lr'");
	fails(edit(1, 19, "  lr: 0.01\n  ridge: 0.1"), "c.yaml:20:10: key 'optim.ridge': is a "
	      "setting of optim.name lstsq, not adamw");
	fails(edit(1, 19, "  name: lstsq\n  ridge: -1"), "c.yaml:20:10: key 'optim.ridge': must be "
	      ">= 0, got '-1'");
	fails(edit(1, 19, "  name: lstsq\n  lr: 0"), "c.yaml:20:7: key 'optim.lr': must be > 0, "
	      "got '0'");
}
END_TEST

START_TEST(test_enums)
{
	fails(edit(1, 8, "  hidden: [8]\n  activation: relu"), "c.yaml:9:15: key "
	      "'model.activation': unknown value 'relu' (valid: tanh, silu, softplus)");
	fails(edit(1, 8, "  hidden: [8]\n  activation: tahn"), "c.yaml:9:15: key "
	      "'model.activation': unknown value 'tahn' (did you mean 'tanh'? valid: tanh, silu, "
	      "softplus)");
	fails(edit(1, 8, "  hidden: [8]\n  precision: float16"), "c.yaml:9:14: key "
	      "'model.precision': unknown value 'float16' (did you mean 'float64'? valid: "
	      "float64, float32)");
	fails(edit(1, 8, "  hidden: [8]\n  name: schnet"), "c.yaml:9:9: key 'model.name': unknown "
	      "value 'schnet' (valid: bpnn)");
	fails(edit(1, 13, "    loss: {name: mae, reduction: avg}"), "c.yaml:13:34: key "
	      "'tasks.0.loss.reduction': unknown value 'avg' (valid: mean, sum, per_structure)");
	fails(edit(1, 11, "    property: energies"), "c.yaml:11:15: key 'tasks.0.property': unknown "
	      "value 'energies' (valid: energy, forces, stress)");
	fails(edit(1, 11, "    property: enrgy"), "c.yaml:11:15: key 'tasks.0.property': unknown "
	      "value 'enrgy' (did you mean 'energy'? valid: energy, forces, stress)");
	fails(edit(1, 15, "    property: forces\n    level: global"), "c.yaml:16:12: key "
	      "'tasks.1.level': unknown value 'global' (valid: system, atom)");
	fails(edit(1, 19, "  lr: 0.01\n  name: sgd"), "c.yaml:20:9: key 'optim.name': unknown "
	      "value 'sgd' (valid: adamw, lstsq)");
	fails(edit(1, 23, "  strategy: fsdp"), "c.yaml:23:13: key 'train.strategy': unknown value "
	      "'fsdp' (valid: ddp, sharded)");
	fails(edit(1, 13, "    loss: mae\n    metrics: [mae, maee]"), "c.yaml:14:20: key "
	      "'tasks.0.metrics.1': unknown metric 'maee' (did you mean 'mae'? valid: mae, mse, "
	      "rmse, per_atom_mae, per_atom_mse, cosine_similarity, magnitude_error, "
	      "energy_within_threshold)");
	fails(edit(1, 13, "    loss: mae\n    metrics: cosine_similarity"), "c.yaml:14:14: key "
	      "'tasks.0.metrics': metric 'cosine_similarity' applies to forces tasks only, not to "
	      "'energy'");
	fails(edit(1, 17, "    loss: mse\n    metrics: [per_atom_mae]"), "c.yaml:18:15: key "
	      "'tasks.1.metrics.0': metric 'per_atom_mae' applies to energy tasks only, not to "
	      "'forces'");
	fails(edit(1, 13, "    loss: mae\n    element_references: guess"), "c.yaml:14:25: key "
	      "'tasks.0.element_references': expected 'fit', 'none' or a mapping of element "
	      "symbols to energies (eV)");
}
END_TEST

START_TEST(test_task_rules)
{
	fails(edit(1, 14, "  - name: e"), "c.yaml:14:11: key 'tasks.1.name': duplicate task name "
	      "'e' (first at c.yaml:10:11)");
	fails(edit(1, 15, "    property: forces\n    level: system"), "c.yaml:16:12: key "
	      "'tasks.1.level': property 'forces' is atom-level, so level must be 'atom', got "
	      "'system'");
	fails(edit(1, 11, "    property: energy\n    level: atom"), "c.yaml:12:12: key "
	      "'tasks.0.level': property 'energy' is system-level, so level must be 'system', got "
	      "'atom'");
	fails(edit(1, 11, "    property: stress\n    level: atom"), "c.yaml:12:12: key "
	      "'tasks.0.level': property 'stress' is system-level, so level must be 'system', got "
	      "'atom'");
	fails(edit(1, 13, "    loss: mae\n    head: forces"), "c.yaml:14:11: key 'tasks.0.head': "
	      "unknown head 'forces' (model.heads: energy)");
	fails(edit(1, 12, "    datasets: []"), "c.yaml:12:15: key 'tasks.0.datasets': needs at "
	      "least one dataset name");
	fails(edit(9, 9, "tasks: []", 10, "", 11, "", 12, "", 13, "", 14, "", 15, "", 16, "", 17, ""),
	      "c.yaml:9:8: key 'tasks': needs at least one task");
	fails(edit(1, 17, "    loss: mse\n    element_references: fit"), "c.yaml:18:25: key "
	      "'tasks.1.element_references': element references apply to energy tasks only, not "
	      "to 'forces'");
	fails(edit(1, 17, "    loss: {coefficient: 2}"), "c.yaml:17:11: missing required key "
	      "'tasks.1.loss.name'");
	fails(edit(1, 17, "    loss: ''"), "c.yaml:17:11: key 'tasks.1.loss': plugin name must "
	      "not be empty");
}
END_TEST

START_TEST(test_elements)
{
	fails(edit(1, 7, "  elements: [Si, Xx]"), "c.yaml:7:18: key 'model.elements.1': unknown "
	      "element symbol 'Xx'");
	fails(edit(1, 7, "  elements: [si]"), "c.yaml:7:14: key 'model.elements.0': unknown "
	      "element symbol 'si'");
	fails(edit(1, 7, "  elements: [Si, O, Si]"), "c.yaml:7:21: key 'model.elements.2': "
	      "duplicate element 'Si'");
	fails(edit(1, 7, "  elements: []"), "c.yaml:7:13: key 'model.elements': needs at least one "
	      "element");
	fails(edit(1, 13, "    loss: mae\n    element_references: {Si: -5.4, Li: -1.9}"),
	      "c.yaml:14:36: key 'tasks.0.element_references.Li': element 'Li' is not in "
	      "model.elements (Si, O)");
	fails(edit(1, 13, "    loss: mae\n    element_references: {Si: -5.4, Qq: -1.9}"),
	      "c.yaml:14:36: key 'tasks.0.element_references.Qq': unknown element symbol 'Qq'");
	fails(edit(1, 13, "    loss: mae\n    element_references: {Si: -5.4}"), "c.yaml:14:25: key "
	      "'tasks.0.element_references': no value for element 'O' (the table must cover "
	      "model.elements)");
	fails(edit(1, 13, "    loss: mae\n    element_references: {Si: -5.4, O: x}"), "c.yaml:14:39: "
	      "key 'tasks.0.element_references.O': expected a number, got 'x'");
	/* descriptors */
	fails(edit(1, 8, "  hidden: [8]\n  descriptors: [{kind: g2, elements: [Li], eta: 1}]"),
	      "c.yaml:9:39: key 'model.descriptors.0.elements.0': element 'Li' is not in "
	      "model.elements (Si, O)");
	fails(edit(1, 8, "  hidden: [8]\n  descriptors: [{kind: g9, elements: [Si], eta: 1}]"),
	      "c.yaml:9:38: key 'model.descriptors.0.elements': g9 takes 2 neighbour elements, "
	      "got 1");
	fails(edit(1, 8, "  hidden: [8]\n  descriptors: [{kind: g2, elements: Si, eta: 1, "
		   "zeta: 2}]"), "c.yaml:9:50: key 'model.descriptors.0.zeta': not used by g2 (only "
	      "g3 and g9 have it)");
	fails(edit(1, 8, "  hidden: [8]\n  descriptors: [{kind: g3, elements: [Si, O], eta: 1, "
		   "lambda: 0.5, zeta: 1}]"), "c.yaml:9:63: key 'model.descriptors.0.lambda': must be "
	      "-1 or 1, got '0.5'");
	fails(edit(1, 8, "  hidden: [8]\n  descriptors: [{kind: g3, elements: [Si, O], eta: 1, "
		   "lambda: 1, zeta: 0.5}]"), "c.yaml:9:72: key 'model.descriptors.0.zeta': must be "
	      ">= 1, got '0.5'");
	fails(edit(1, 8, "  hidden: [8]\n  descriptors: [{kind: g3, elements: [Si, O], eta: 1, "
		   "lambda: 1}]"), "c.yaml:9:17: missing required key 'model.descriptors.0.zeta'");
	fails(edit(1, 8, "  hidden: [8]\n  descriptors: [{kind: g2, elements: [O], eta: 1, "
		   "cutoff: 6}]"), "c.yaml:9:59: key 'model.descriptors.0.cutoff': must be in (0, "
	      "model.cutoff = 5], got '6'");
	fails(edit(1, 8, "  hidden: [8]\n  descriptors: [{kind: g2, elements: [O], eta: -1}]"),
	      "c.yaml:9:48: key 'model.descriptors.0.eta': must be >= 0, got '-1'");
	fails(edit(1, 8, "  hidden: [8]\n  descriptors: []"), "c.yaml:9:16: key 'model.descriptors':"
	      " is empty (leave the key out for the model's default set)");
	fails(edit(1, 8, "  hidden: [8]\n  descriptors: [{kind: g4, elements: [O], eta: 1}]"),
	      "c.yaml:9:24: key 'model.descriptors.0.kind': unknown value 'g4' (did you mean 'g2'? valid: g2, g3, g9)");
}
END_TEST

START_TEST(test_missing_and_exclusive)
{
	fails(edit(1, 19, "  weight_decay: 0"), "c.yaml:19:3: missing required key 'optim.lr'");
	fails(edit(1, 13, "    head: energy"), "c.yaml:10:5: missing required key 'tasks.0.loss'");
	fails(edit(1, 13, "    loss:"), "c.yaml:13:5: no value for required key 'tasks.0.loss'");
	fails(edit(1, 11, "    head: energy"), "c.yaml:10:5: missing required key "
	      "'tasks.0.property'");
	fails(edit(1, 6, "  seed: 1"), "c.yaml:6:3: missing required key 'model.cutoff'");
	fails(edit(2, 20, "# no schedule", 21, ""), "c.yaml:1:1: missing required key 'schedule'");
	fails(edit(3, 2, "# no data", 3, "", 4, ""), "c.yaml:1:1: missing required key 'data'");
	fails(edit(2, 3, "  val: a.mlb", 4, ""), "c.yaml:3:3: missing required key 'data.train'");
	fails(edit(1, 21, "  warmup_factor: 0.1"), "c.yaml:21:3: missing required key "
	      "'schedule.epochs' (or 'schedule.steps')");
	fails(edit(1, 21, "  epochs: 2\n  steps: 100"), "c.yaml:22:3: give 'schedule.epochs' or "
	      "'schedule.steps', not both");
	fails(edit(1, 21, "  epochs: 2\n  warmup_epochs: 1\n  warmup_steps: 10"), "c.yaml:23:3: "
	      "give 'schedule.warmup_epochs' or 'schedule.warmup_steps', not both");
	fails(edit(2, 3, "  train: ['-']", 4, "  val: ['-']"), "c.yaml:4:9: key 'data.val.0': "
	      "standard input ('-') is already used at c.yaml:3:11");
	fails(edit(1, 3, "  train: []"), "c.yaml:3:10: key 'data.train': needs at least one batch "
	      "stream");
	fails(edit(1, 6, "  init_from: base.mlip"), "c.yaml:7:3: key 'model.elements' cannot be "
	      "combined with 'model.init_from' (the model comes from the checkpoint)");
	fails(strdup(""), "c.yaml:1:1: missing required key 'data'");
}
END_TEST

START_TEST(test_override_errors)
{
	char *doc = edit(0);
	struct mlip_config c;
	struct mlip_err err = { 0 };
	static const struct { const char *ov, *msg; } cases[] = {
		{ "optim.lr=-1", "--set optim.lr=-1: key 'optim.lr': must be > 0, got '-1'" },
		{ "tasks.0.loss.name=x", "--set tasks.0.loss.name=x: 'tasks.0.loss' is a scalar (at "
		  "c.yaml:13:11), not a mapping or sequence" },
		{ "optim.lrate=1", "--set optim.lrate=1: unknown key 'optim.lrate' (valid keys: name, "
		  "lr, weight_decay, betas, eps, lbfgs, ridge)" },
		{ "model.hidden=[8, x]", "--set model.hidden=[8, x]: key 'model.hidden.1': expected "
		  "an integer, got 'x'" },
		{ "tasks.1.property=energy", "--set tasks.1.property=energy: key 'tasks.1.metrics': "
		  "never" },
		{ "noequals", "--unset noequals: the configuration has no 'noequals'" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *ov[] = { cases[i].ov };
		int rc = mlip_config_load_string(doc, strlen(doc), "c.yaml", ov, 1, &c, &err);
		if (i == 4) {
			/* a forces task turned into energy is fine: its level follows */
			ck_assert_msg(rc == 0, "%s", err.msg);
			ck_assert_int_eq(c.tasks[1].level, MLIP_CFG_SYSTEM);
			mlip_config_release(&c);
			continue;
		}
		ck_assert_int_eq(rc, MLIP_EINVAL);
		ck_assert_str_eq(err.msg, cases[i].msg);
		ck_assert_ptr_null(c.tree);
	}
	free(doc);
}
END_TEST

START_TEST(test_broken_files)
{
	static const struct { const char *file, *msg; } cases[] = {
		{ "bad-unknown-key.yaml", "13:3: unknown key 'optim.learning_rate' (valid keys: "
		  "name, lr, weight_decay, betas, eps, lbfgs, ridge)" },
		{ "bad-duplicate-key.yaml", "7:3: duplicate key 'cutoff' (first at %s:4:3)" },
		{ "bad-level.yaml", "13:12: key 'tasks.1.level': property 'forces' is atom-level, so "
		  "level must be 'atom', got 'system'" },
		{ "bad-element.yaml", "5:18: key 'model.elements.1': unknown element symbol 'SI'" },
		{ "bad-syntax.yaml", "3:6: invalid yaml: did not find expected ',' or ']' (while "
		  "parsing a flow sequence at line 2 column 10)" },
		{ "bad-lr.yaml", "13:7: key 'optim.lr': must be > 0, got '-0.001'" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char path[1024], want[2048], tail[1024];
		struct mlip_config c;
		struct mlip_err err = { 0 };
		data_path(path, sizeof(path), cases[i].file);
		snprintf(tail, sizeof(tail), cases[i].msg, path);
		snprintf(want, sizeof(want), "%s:%s", path, tail);
		ck_assert_int_eq(mlip_config_load(path, NULL, 0, &c, &err), MLIP_EINVAL);
		ck_assert_str_eq(err.msg, want);
	}
	struct mlip_config c;
	struct mlip_err err = { 0 };
	ck_assert_int_eq(mlip_config_load("/nonexistent/x.yaml", NULL, 0, &c, &err), MLIP_EIO);
	ck_assert_ptr_nonnull(strstr(err.msg, "/nonexistent/x.yaml"));
}
END_TEST

START_TEST(test_enum_names)
{
	ck_assert_str_eq(mlip_cfg_activation_name(MLIP_CFG_SOFTPLUS), "softplus");
	ck_assert_str_eq(mlip_cfg_precision_name(MLIP_CFG_FLOAT32), "float32");
	ck_assert_str_eq(mlip_cfg_sf_kind_name(MLIP_CFG_G9), "g9");
	ck_assert_str_eq(mlip_cfg_level_name(MLIP_CFG_ATOM), "atom");
	ck_assert_str_eq(mlip_cfg_property_name(MLIP_CFG_STRESS), "stress");
	ck_assert_str_eq(mlip_cfg_reduction_name(MLIP_CFG_PER_STRUCTURE), "per_structure");
	ck_assert_str_eq(mlip_cfg_strategy_name(MLIP_CFG_SHARDED), "sharded");
}
END_TEST

Suite *suite_config(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("load");
	tcase_add_test(tc, test_full);
	tcase_add_test(tc, test_minimal_defaults);
	tcase_add_test(tc, test_finetune_file);
	tcase_add_test(tc, test_overrides);
	tcase_add_test(tc, test_from_merged_tree);
	tcase_add_test(tc, test_enum_names);
	tcase_add_test(tc, test_config_on_stdin);
	suite_add_tcase(s, tc);
	tc = tcase_create("resolved");
	tcase_add_test(tc, test_resolved_variants);
	tcase_add_test(tc, test_write_resolved_file);
	suite_add_tcase(s, tc);
	tc = tcase_create("errors");
	tcase_add_test(tc, test_base_is_valid);
	tcase_add_test(tc, test_unknown_keys);
	tcase_add_test(tc, test_wrong_types);
	tcase_add_test(tc, test_out_of_range);
	tcase_add_test(tc, test_enums);
	tcase_add_test(tc, test_lstsq_optim);
	tcase_add_test(tc, test_task_rules);
	tcase_add_test(tc, test_elements);
	tcase_add_test(tc, test_missing_and_exclusive);
	tcase_add_test(tc, test_override_errors);
	tcase_add_test(tc, test_broken_files);
	suite_add_tcase(s, tc);
	return s;
}
