/*
 * check_finetune.c - mlip_finetune_init: head rows of w_out / b_out kept,
 * copied, fresh and dropped; descriptor columns mapped by function (the
 * existing element's energies unchanged); strict refusals and their
 * non-strict fresh start; overrides; the task state per head; the heads
 * file; mlip_finetune_fit_scaling touching only the inputs it may; the
 * precision kept or overridden.
 *
 * The base is built in memory with random weights and scaling (so that a
 * wrong mapping cannot pass by accident) and fitted task state.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "finetune.h"
#include "log.h"
#include "model_fixtures.h"
#include "testutil.h"

static struct mlip_plugins reg;

static const char *two_heads =
	"seed: 5\n"
	"data: {train: x.mlb}\n"
	"model: {cutoff: 4.0, elements: [Si], hidden: [6, 5], heads: [energy, aux]}\n"
	"tasks:\n"
	"  - {name: e, property: energy, datasets: [a], loss: mse, normalizer: rmsd,\n"
	"     element_references: fit}\n"
	"  - {name: f, property: forces, datasets: [a], loss: mse}\n"
	"  - {name: e2, property: energy, head: aux, datasets: [a], loss: mse,\n"
	"     normalizer: {name: rmsd, mean: 0.5}, element_references: {Si: -3.0}}\n"
	"optim: {lr: 0.001}\n"
	"schedule: {epochs: 1}\n";

static const char *explicit_sf =
	"seed: 9\n"
	"data: {train: x.mlb}\n"
	"model:\n"
	"  cutoff: 4.0\n"
	"  elements: [Si]\n"
	"  hidden: [6]\n"
	"  descriptors:\n"
	"    - {kind: g2, elements: [Si], eta: 1.0, rs: 1.0}\n"
	"    - {kind: g2, elements: [Si], eta: 1.0, rs: 2.0}\n"
	"    - {kind: g9, elements: [Si, Si], eta: 0.1, lambda: 1, zeta: 2}\n"
	"tasks:\n"
	"  - {name: e, property: energy, datasets: [a], loss: mse, normalizer: rmsd,\n"
	"     element_references: fit}\n"
	"optim: {lr: 0.001}\n"
	"schedule: {epochs: 1}\n";

/* A batch of n random structures of the elements z (dataset "a", labelled). */
static void make_batch(struct mlip_batch *b, const int *z, size_t nz, size_t n, uint64_t seed)
{
	struct mlip_structure s[4];
	const struct mlip_structure *ptr[4];
	static const double cell[9] = { 6.5, 0, 0, 0, 6.5, 0, 0, 0, 6.5 };
	static const uint8_t pbc[3] = { 1, 1, 1 };
	uint64_t rng = seed;
	ck_assert_uint_le(n, 4);
	for (size_t k = 0; k < n; k++) {
		fx_random_structure(&s[k], cell, pbc, 7 + k, z, nz, 1.9, &rng);
		s[k].has = MLIP_HAS_ENERGY | MLIP_HAS_FORCES;
		s[k].energy = -4.0 * (double)s[k].natoms + test_rand_unif(&rng);
		for (size_t i = 0; i < 3 * s[k].natoms; i++)
			s[k].forces[i] = test_rand_unif(&rng) - 0.5;
		ptr[k] = &s[k];
	}
	mlip_batch_init(b);
	ck_assert_int_eq(mlip_batch_collate(b, ptr, n, 4.0, 0, "a", NULL), 0);
	for (size_t k = 0; k < n; k++)
		mlip_structure_release(&s[k]);
}

/* A base potential from text with random weights and scaling and fitted tasks. */
static void make_base(struct mlip_potential *p, const char *text)
{
	struct mlip_config cfg;
	struct mlip_err err = { 0 };
	struct mlip_batch b;
	const int si = 14;
	uint64_t rng = 77;
	ck_assert_msg(mlip_config_load_string(text, strlen(text), "base.yaml", NULL, 0, &cfg, &err) == 0,
		      "%s", err.msg);
	ck_assert_msg(mlip_potential_create(p, &cfg, &reg, &err) == 0, "%s", err.msg);
	struct mlip_model *m = p->model;
	for (size_t k = 0; k < m->tensors.n; k++) {
		const struct mlip_tensor *t = &m->tensors.t[k];
		int is_std = strstr(t->name, ".sf_std") != NULL;
		for (size_t i = 0; i < t->count; i++)
			m->params[t->offset + i] = is_std ? 0.5 + test_rand_unif(&rng)
							  : test_rand_unif(&rng) - 0.5;
	}
	p->raw = malloc(m->n_params * sizeof(double));
	for (size_t k = 0; k < m->n_params; k++)
		p->raw[k] = m->params[k];
	p->has_raw = 1;
	make_batch(&b, &si, 1, 3, 3);
	const struct mlip_batch *bp = &b;
	ck_assert_msg(mlip_tasks_fit(&p->tasks, &bp, 1, &err) == 0, "%s", err.msg);
	mlip_batch_release(&b);
}

static const mlip_real *tensor(const struct mlip_model *m, const char *name, size_t *count)
{
	const struct mlip_tensor *t = mlip_tensors_find(&m->tensors, name);
	ck_assert_msg(t != NULL, "no tensor %s", name);
	if (count)
		*count = t->count;
	return m->params + t->offset;
}

/* A freshly initialised model of m's configuration (the "fresh" values). */
static struct mlip_model *fresh_of(const struct mlip_model *m)
{
	struct mlip_model *f;
	struct mlip_err err = { 0 };
	ck_assert_msg(mlip_model_new(&f, &m->config, &err) == 0, "%s", err.msg);
	return f;
}

/* Raw energies (B, H) of a forward on b, copied. */
static double *energies(struct mlip_model *m, const struct mlip_batch *b)
{
	struct mlip_model_out out;
	struct mlip_err err = { 0 };
	ck_assert_msg(mlip_model_forward(m, b, 0, &out, &err) == 0, "%s", err.msg);
	double *e = malloc(out.n_systems * out.n_heads * sizeof(double));
	memcpy(e, out.energy, out.n_systems * out.n_heads * sizeof(double));
	return e;
}

static void setup(void)
{
	struct mlip_err err = { 0 };
	mlip_log_set_level(MLIP_LOG_ERROR);
	mlip_plugins_init(&reg);
	ck_assert_int_eq(mlip_plugins_add_dir(&reg, "lib/plugins", &err), 0);
}

static void teardown(void)
{
	mlip_plugins_release(&reg);
	mlip_log_set_level(MLIP_LOG_INFO);
}

static void heads_set(struct mlip_finetune_heads *h, const char *const *names,
		      const char *const *from, size_t n)
{
	h->n = n;
	h->heads = calloc(n, sizeof(*h->heads));
	for (size_t k = 0; k < n; k++) {
		h->heads[k].name = strdup(names[k]);
		h->heads[k].copy_from = from[k] ? strdup(from[k]) : NULL;
	}
}

START_TEST(test_keep_is_identity)
{
	struct mlip_potential base, out;
	struct mlip_finetune_opts o;
	struct mlip_err err = { 0 };
	make_base(&base, two_heads);
	mlip_finetune_opts_init(&o);
	ck_assert_msg(mlip_finetune_init(&out, &base, &o, &reg, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(out.model->n_params, base.model->n_params);
	for (size_t k = 0; k < out.model->n_params; k++) {
		ck_assert(out.model->params[k] == base.raw[k]);
		ck_assert(out.raw[k] == base.raw[k]);
	}
	ck_assert(mlip_config_equal(&out.cfg, &base.cfg));
	for (size_t h = 0; h < 2; h++) {
		ck_assert(out.tasks.heads[h].scale == base.tasks.heads[h].scale);
		ck_assert(out.tasks.heads[h].shift == base.tasks.heads[h].shift);
		ck_assert(out.tasks.heads[h].elref[14] == base.tasks.heads[h].elref[14]);
	}
	ck_assert(out.tasks.fitted);
	mlip_potential_release(&out);
	mlip_potential_release(&base);
}
END_TEST

START_TEST(test_head_rows)
{
	struct mlip_potential base, out;
	struct mlip_finetune_opts o;
	struct mlip_finetune_heads hs;
	struct mlip_err err = { 0 };
	struct mlip_batch b;
	const int si = 14;
	make_base(&base, two_heads);
	heads_set(&hs, (const char *[]){ "aux", "li", "other" },
		  (const char *[]){ NULL, "energy", NULL }, 3);
	mlip_finetune_opts_init(&o);
	o.heads = &hs;
	ck_assert_msg(mlip_finetune_init(&out, &base, &o, &reg, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(out.model->config.n_heads, 3);
	ck_assert_str_eq(out.model->config.heads[1], "li");

	size_t nb, nn;
	const mlip_real *bw = tensor(base.model, "Si.w_out", &nb), *nw = tensor(out.model, "Si.w_out", &nn);
	const mlip_real *bb = tensor(base.model, "Si.b_out", NULL), *nbo = tensor(out.model, "Si.b_out", NULL);
	struct mlip_model *fresh = fresh_of(out.model);
	const mlip_real *fw = tensor(fresh, "Si.w_out", NULL);
	size_t wL = 5;
	ck_assert_uint_eq(nb, 2 * wL);
	ck_assert_uint_eq(nn, 3 * wL);
	for (size_t c = 0; c < wL; c++) {
		ck_assert(nw[0 * wL + c] == bw[1 * wL + c]); /* aux: base row 1 */
		ck_assert(nw[1 * wL + c] == bw[0 * wL + c]); /* li: copy of energy */
		ck_assert(nw[2 * wL + c] == fw[2 * wL + c]); /* other: the fresh rule */
		ck_assert(nw[2 * wL + c] != 0);
	}
	ck_assert(nbo[0] == bb[1] && nbo[1] == bb[0] && nbo[2] == 0);
	/* every other tensor as in the base */
	for (size_t k = 0; k < out.model->tensors.n; k++) {
		const struct mlip_tensor *t = &out.model->tensors.t[k];
		if (strstr(t->name, "_out"))
			continue;
		size_t n;
		const mlip_real *x = tensor(base.model, t->name, &n);
		ck_assert_uint_eq(n, t->count);
		for (size_t i = 0; i < n; i++)
			ck_assert(out.model->params[t->offset + i] == x[i]);
	}
	/* predictions: li = base energy, aux = base aux */
	make_batch(&b, &si, 1, 2, 11);
	double *eb = energies(base.model, &b), *en = energies(out.model, &b);
	for (size_t s = 0; s < 2; s++) {
		ck_assert_double_eq_tol(en[s * 3 + 1], eb[s * 2 + 0], 1e-12 * (1 + fabs(eb[s * 2])));
		ck_assert_double_eq_tol(en[s * 3 + 0], eb[s * 2 + 1], 1e-12 * (1 + fabs(eb[s * 2 + 1])));
	}
	/* task state follows the sources; the fresh head has none */
	const struct mlip_head *h = out.tasks.heads;
	ck_assert(h[0].scale == base.tasks.heads[1].scale && h[0].shift == base.tasks.heads[1].shift);
	ck_assert(h[0].elref[14] == -3.0);
	ck_assert(h[1].scale == base.tasks.heads[0].scale && h[1].elref[14] == base.tasks.heads[0].elref[14]);
	ck_assert(h[1].has_norm && h[1].has_elref);
	ck_assert(!h[2].has_norm && !h[2].has_elref && h[2].scale == 1.0);
	/* the tasks of the dropped head 'energy' moved to its copy 'li' */
	ck_assert_uint_eq(out.cfg.n_tasks, 3);
	ck_assert_str_eq(mlip_config_task(&out.cfg, "e")->head, "li");
	ck_assert_str_eq(mlip_config_task(&out.cfg, "f")->head, "li");
	ck_assert_str_eq(mlip_config_task(&out.cfg, "e2")->head, "aux");

	/* round trip through the file */
	char path[] = "/tmp/check_finetune_XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_msg(mlip_potential_save(&out, path, out.raw, NULL, 0, &err) == 0, "%s", err.msg);
	struct mlip_potential back;
	ck_assert_msg(mlip_potential_load(&back, path, &reg, MLIP_WEIGHTS_RAW, &err) == 0, "%s", err.msg);
	unlink(path);
	ck_assert(!back.has_ema);
	for (size_t k = 0; k < out.model->n_params; k++)
		ck_assert(back.model->params[k] == out.model->params[k]);
	ck_assert(back.tasks.heads[1].scale == h[1].scale && !back.tasks.heads[2].has_norm);
	mlip_potential_release(&back);

	free(eb);
	free(en);
	mlip_batch_release(&b);
	mlip_model_free(fresh);
	mlip_finetune_heads_release(&hs);
	mlip_potential_release(&out);
	mlip_potential_release(&base);
}
END_TEST

START_TEST(test_drop_heads)
{
	struct mlip_potential base, out;
	struct mlip_finetune_opts o;
	struct mlip_finetune_heads hs;
	struct mlip_err err = { 0 };
	make_base(&base, two_heads);
	/* keep energy only: the aux task goes, the rows follow */
	heads_set(&hs, (const char *[]){ "energy" }, (const char *[]){ NULL }, 1);
	mlip_finetune_opts_init(&o);
	o.heads = &hs;
	ck_assert_msg(mlip_finetune_init(&out, &base, &o, &reg, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(out.cfg.n_tasks, 2);
	ck_assert_ptr_null(mlip_config_task(&out.cfg, "e2"));
	const mlip_real *bw = tensor(base.model, "Si.w_out", NULL), *nw = tensor(out.model, "Si.w_out", NULL);
	for (size_t c = 0; c < 5; c++)
		ck_assert(nw[c] == bw[c]);
	mlip_potential_release(&out);
	mlip_finetune_heads_release(&hs);
	/* a head list that leaves no task is refused; so is an unknown copy_from */
	heads_set(&hs, (const char *[]){ "new" }, (const char *[]){ NULL }, 1);
	o.heads = &hs;
	ck_assert_int_eq(mlip_finetune_init(&out, &base, &o, &reg, &err), MLIP_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "no task is left"));
	mlip_finetune_heads_release(&hs);
	heads_set(&hs, (const char *[]){ "energy", "x" }, (const char *[]){ NULL, "nope" }, 2);
	o.heads = &hs;
	ck_assert_int_eq(mlip_finetune_init(&out, &base, &o, &reg, &err), MLIP_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "copy_from 'nope'"));
	/* model.heads may not be set beside a heads file */
	o.overrides = (const char *[]){ "model.heads=[a]" };
	o.n_overrides = 1;
	ck_assert_int_eq(mlip_finetune_init(&out, &base, &o, &reg, &err), MLIP_EINVAL);
	mlip_finetune_heads_release(&hs);
	/* without a heads file, model.heads decides: a new name is a fresh head */
	o.heads = NULL;
	o.overrides = (const char *[]){ "model.heads=[aux, energy, z]" };
	ck_assert_msg(mlip_finetune_init(&out, &base, &o, &reg, &err) == 0, "%s", err.msg);
	nw = tensor(out.model, "Si.w_out", NULL);
	for (size_t c = 0; c < 5; c++)
		ck_assert(nw[c] == bw[5 + c] && nw[5 + c] == bw[c]);
	ck_assert(!out.tasks.heads[2].has_norm);
	mlip_potential_release(&out);
	mlip_potential_release(&base);
}
END_TEST

START_TEST(test_descriptor_columns)
{
	struct mlip_potential base, out;
	struct mlip_finetune_opts o;
	struct mlip_err err = { 0 };
	struct mlip_batch b;
	const int si = 14;
	make_base(&base, explicit_sf);
	/* reordered, one Li function added, Li added to the model */
	const char *ov[] = {
		"model.elements=[Si, Li]",
		"model.descriptors=[{kind: g2, elements: [Li], eta: 1.0, rs: 1.0},"
		" {kind: g9, elements: [Si, Si], eta: 0.1, lambda: 1, zeta: 2},"
		" {kind: g2, elements: [Si], eta: 1.0, rs: 2.0},"
		" {kind: g2, elements: [Si], eta: 1.0, rs: 1.0}]",
	};
	mlip_finetune_opts_init(&o);
	o.overrides = ov;
	o.n_overrides = 2;
	ck_assert_msg(mlip_finetune_init(&out, &base, &o, &reg, &err) == 0, "%s", err.msg);
	static const long map[4] = { -1, 2, 1, 0 };
	const mlip_real *bm = tensor(base.model, "Si.sf_mean", NULL), *nm = tensor(out.model, "Si.sf_mean", NULL);
	const mlip_real *bs = tensor(base.model, "Si.sf_std", NULL), *ns = tensor(out.model, "Si.sf_std", NULL);
	const mlip_real *bw = tensor(base.model, "Si.w1", NULL), *nw = tensor(out.model, "Si.w1", NULL);
	for (size_t j = 0; j < 4; j++) {
		ck_assert(nm[j] == (map[j] < 0 ? 0 : bm[map[j]]));
		ck_assert(ns[j] == (map[j] < 0 ? 1 : bs[map[j]]));
		for (size_t r = 0; r < 6; r++)
			ck_assert(nw[r * 4 + j] == (map[j] < 0 ? 0 : bw[r * 3 + (size_t)map[j]]));
	}
	/* Li: the fresh initialisation */
	struct mlip_model *fresh = fresh_of(out.model);
	size_t n;
	const mlip_real *lw = tensor(out.model, "Li.w1", &n), *fl = tensor(fresh, "Li.w1", NULL);
	for (size_t i = 0; i < n; i++)
		ck_assert(lw[i] == fl[i]);
	mlip_model_free(fresh);
	/* Si energies unchanged */
	make_batch(&b, &si, 1, 3, 21);
	double *eb = energies(base.model, &b), *en = energies(out.model, &b);
	for (size_t s = 0; s < 3; s++)
		ck_assert_double_eq_tol(en[s], eb[s], 1e-12 * (1 + fabs(eb[s])));
	free(eb);
	free(en);

	/* fitting the scaling changes only the new inputs, and no Si energy */
	struct mlip_batch mixed;
	const int zz[2] = { 14, 3 };
	make_batch(&mixed, zz, 2, 3, 31);
	const struct mlip_batch *mp = &mixed;
	size_t fitted = 0;
	mlip_real keep_m[4], keep_s[4];
	memcpy(keep_m, nm, sizeof(keep_m));
	memcpy(keep_s, ns, sizeof(keep_s));
	ck_assert_msg(mlip_finetune_fit_scaling(out.model, &mp, 1, &fitted, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(fitted, 1 + 4); /* the Li column of Si, and all of Li's inputs */
	for (size_t j = 1; j < 4; j++)
		ck_assert(nm[j] == keep_m[j] && ns[j] == keep_s[j]);
	ck_assert(nm[0] != 0 && ns[0] != 1);
	const mlip_real *lm = tensor(out.model, "Li.sf_mean", NULL);
	ck_assert(lm[3] != 0);
	/* the fitted values are mlip_model_fit_scaling's */
	struct mlip_model *ref = fresh_of(out.model);
	ck_assert_int_eq(mlip_model_fit_scaling(ref, &mp, 1, &err), 0);
	ck_assert(tensor(ref, "Si.sf_mean", NULL)[0] == nm[0]);
	ck_assert(tensor(ref, "Li.sf_std", NULL)[2] == tensor(out.model, "Li.sf_std", NULL)[2]);
	mlip_model_free(ref);
	en = energies(out.model, &b);
	eb = energies(base.model, &b);
	for (size_t s = 0; s < 3; s++)
		ck_assert_double_eq_tol(en[s], eb[s], 1e-12 * (1 + fabs(eb[s])));
	/* a second fit finds nothing left to fit */
	ck_assert_int_eq(mlip_finetune_fit_scaling(out.model, &mp, 1, &fitted, &err), 0);
	ck_assert_uint_eq(fitted, 0);
	free(eb);
	free(en);
	mlip_batch_release(&mixed);
	mlip_batch_release(&b);
	mlip_potential_release(&out);

	/* a base function missing from the new set: strict refuses, naming it */
	const char *lose[] = { "model.descriptors=[{kind: g2, elements: [Si], eta: 1.0, rs: 1.0}]" };
	o.overrides = lose;
	o.n_overrides = 1;
	ck_assert_int_eq(mlip_finetune_init(&out, &base, &o, &reg, &err), MLIP_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "Si.sf_mean"));
	ck_assert_ptr_nonnull(strstr(err.msg, "--pin-descriptors"));
	o.strict = false;
	ck_assert_msg(mlip_finetune_init(&out, &base, &o, &reg, &err) == 0, "%s", err.msg);
	ck_assert(tensor(out.model, "Si.sf_mean", NULL)[0] == bm[0]);
	ck_assert(tensor(out.model, "Si.w1", NULL)[1] == bw[3]);
	mlip_potential_release(&out);
	mlip_potential_release(&base);
}
END_TEST

START_TEST(test_pin_default_set)
{
	struct mlip_potential base, out;
	struct mlip_finetune_opts o;
	struct mlip_err err = { 0 };
	struct mlip_batch b;
	const int si = 14;
	make_base(&base, two_heads);
	const char *ov[] = { "model.elements=[Si, Li]" };
	mlip_finetune_opts_init(&o);
	o.overrides = ov;
	o.n_overrides = 1;
	/* the default set changes with the elements: refused, with the way out */
	ck_assert_int_eq(mlip_finetune_init(&out, &base, &o, &reg, &err), MLIP_EINVAL);
	ck_assert_msg(strstr(err.msg, "element Si") != NULL, "%s", err.msg);
	ck_assert_ptr_nonnull(strstr(err.msg, "--pin-descriptors"));
	o.pin_descriptors = true;
	ck_assert_msg(mlip_finetune_init(&out, &base, &o, &reg, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(out.cfg.model.n_descriptors, base.model->desc.dim[0]);
	/* the stored table of task e2 now covers Li, with 0 eV as the carried state */
	const struct mlip_config_task *e2 = mlip_config_task(&out.cfg, "e2");
	ck_assert_uint_eq(e2->n_elref, 2);
	ck_assert(e2->elref_z[1] == 3 && e2->elref_value[1] == 0.0);
	ck_assert(out.tasks.heads[1].elref[3] == 0.0 && out.tasks.heads[1].elref[14] == -3.0);
	size_t n;
	const mlip_real *x = tensor(out.model, "Si.w1", &n), *y = tensor(base.model, "Si.w1", NULL);
	for (size_t i = 0; i < n; i++)
		ck_assert(x[i] == y[i]);
	make_batch(&b, &si, 1, 2, 41);
	double *eb = energies(base.model, &b), *en = energies(out.model, &b);
	for (size_t s = 0; s < 4; s++)
		ck_assert(en[s] == eb[s]);
	free(eb);
	free(en);
	mlip_batch_release(&b);
	mlip_potential_release(&out);
	mlip_potential_release(&base);
}
END_TEST

START_TEST(test_shape_mismatch)
{
	struct mlip_potential base, out;
	struct mlip_finetune_opts o;
	struct mlip_err err = { 0 };
	make_base(&base, two_heads);
	const char *ov[] = { "model.hidden=[7, 5]" };
	mlip_finetune_opts_init(&o);
	o.overrides = ov;
	o.n_overrides = 1;
	ck_assert_int_eq(mlip_finetune_init(&out, &base, &o, &reg, &err), MLIP_EINVAL);
	ck_assert_msg(strstr(err.msg, "'Si.w1': shape (6, 32) in the model, (7, 32)") != NULL, "%s",
		      err.msg);
	o.strict = false;
	ck_assert_msg(mlip_finetune_init(&out, &base, &o, &reg, &err) == 0, "%s", err.msg);
	struct mlip_model *fresh = fresh_of(out.model);
	size_t n;
	const mlip_real *x = tensor(out.model, "Si.w1", &n), *f = tensor(fresh, "Si.w1", NULL);
	for (size_t i = 0; i < n; i++)
		ck_assert(x[i] == f[i]);
	x = tensor(out.model, "Si.w2", &n);
	f = tensor(fresh, "Si.w2", NULL);
	for (size_t i = 0; i < n; i++)
		ck_assert(x[i] == f[i]);
	/* w_out (2, 5) still fits and is kept */
	x = tensor(out.model, "Si.w_out", &n);
	f = tensor(base.model, "Si.w_out", NULL);
	for (size_t i = 0; i < n; i++)
		ck_assert(x[i] == f[i]);
	mlip_model_free(fresh);
	mlip_potential_release(&out);

	/* a layer more or less */
	o.strict = true;
	ov[0] = "model.hidden=[6, 5, 5]";
	ck_assert_int_eq(mlip_finetune_init(&out, &base, &o, &reg, &err), MLIP_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "'Si.w3'"));
	ov[0] = "model.hidden=[6]";
	ck_assert_int_eq(mlip_finetune_init(&out, &base, &o, &reg, &err), MLIP_EINVAL);
	ck_assert_msg(strstr(err.msg, "'Si.w_out': shape (2, 5) in the model, (2, 6)") != NULL, "%s",
		      err.msg);
	ck_assert_ptr_nonnull(strstr(err.msg, "and more"));
	mlip_potential_release(&base);
}
END_TEST

START_TEST(test_overrides)
{
	struct mlip_potential base, out;
	struct mlip_finetune_opts o;
	struct mlip_err err = { 0 };
	make_base(&base, two_heads);
	const char *ov[] = { "model.hiden=[3]", "model.activation=silu", "model.cutoff=abc" };
	mlip_finetune_opts_init(&o);
	o.overrides = ov;
	o.n_overrides = 3;
	ck_assert_int_eq(mlip_finetune_init(&out, &base, &o, &reg, &err), MLIP_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "unknown key 'model.hiden'"));
	/* not strict: the bad ones are skipped, the good one applies */
	o.strict = false;
	ck_assert_msg(mlip_finetune_init(&out, &base, &o, &reg, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(out.cfg.model.activation, MLIP_CFG_SILU);
	ck_assert(out.cfg.model.cutoff == 4.0);
	mlip_potential_release(&out);
	/* no raw weights, no start */
	free(base.raw);
	base.raw = NULL;
	ck_assert_int_eq(mlip_finetune_init(&out, &base, &o, &reg, &err), MLIP_EINVAL);
	mlip_potential_release(&base);
}
END_TEST

/*
 * The precision travels with the model: a float32 base gives a float32
 * start with the same weights and the same energies; model.precision=float64
 * runs the same weights in float64 (energies within float's round-off, and
 * not identical: the base really ran in float32).
 */
START_TEST(test_precision)
{
	static const char *f32_heads =
		"seed: 5\n"
		"data: {train: x.mlb}\n"
		"model: {cutoff: 4.0, elements: [Si], hidden: [6, 5], heads: [energy, aux],\n"
		"        precision: float32}\n"
		"tasks:\n"
		"  - {name: e, property: energy, datasets: [a], loss: mse, normalizer: rmsd}\n"
		"optim: {lr: 0.001}\n"
		"schedule: {epochs: 1}\n";
	struct mlip_potential base, out;
	struct mlip_finetune_opts o;
	struct mlip_err err = { 0 };
	struct mlip_batch b;
	const int si = 14;
	make_base(&base, f32_heads);
	ck_assert_int_eq(base.model->precision, MLIP_FLOAT32);
	make_batch(&b, &si, 1, 2, 11);
	double *e0 = energies(base.model, &b);
	const char *ov[] = { "model.precision=float64" };
	for (int k = 0; k < 2; k++) {
		mlip_finetune_opts_init(&o);
		o.overrides = ov;
		o.n_overrides = (size_t)k;
		ck_assert_msg(mlip_finetune_init(&out, &base, &o, &reg, &err) == 0, "%s", err.msg);
		ck_assert_int_eq(out.model->precision, k ? MLIP_FLOAT64 : MLIP_FLOAT32);
		ck_assert_int_eq(out.cfg.model.precision, k ? MLIP_CFG_FLOAT64 : MLIP_CFG_FLOAT32);
		for (size_t q = 0; q < out.model->n_params; q++)
			ck_assert(out.model->params[q] == base.raw[q]);
		double *e = energies(out.model, &b);
		for (size_t q = 0; q < 2 * b.n_systems; q++) {
			if (!k)
				ck_assert(e[q] == e0[q]);
			else
				ck_assert_double_eq_tol(e[q], e0[q], 1e-5 * fabs(e0[q]));
		}
		if (k)
			ck_assert(memcmp(e, e0, 2 * b.n_systems * sizeof(double)) != 0);
		free(e);
		mlip_potential_release(&out);
	}
	free(e0);
	mlip_batch_release(&b);
	mlip_potential_release(&base);
}
END_TEST

static int heads_from(const char *text, struct mlip_finetune_heads *h, struct mlip_err *err)
{
	char path[] = "/tmp/check_finetune_XXXXXX";
	int fd = mkstemp(path);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	int rc = mlip_finetune_heads_load(path, h, err);
	unlink(path);
	return rc;
}

START_TEST(test_heads_file)
{
	struct mlip_finetune_heads h;
	struct mlip_err err = { 0 };
	ck_assert_msg(heads_from("heads:\n  - {name: energy}\n  - {name: li, copy_from: energy}\n"
				 "  - other\n", &h, &err) == 0, "%s", err.msg);
	ck_assert_uint_eq(h.n, 3);
	ck_assert_str_eq(h.heads[1].name, "li");
	ck_assert_str_eq(h.heads[1].copy_from, "energy");
	ck_assert_ptr_null(h.heads[2].copy_from);
	ck_assert_str_eq(h.heads[2].name, "other");
	mlip_finetune_heads_release(&h);
	ck_assert_int_eq(heads_from("heads:\n  - {name: a, copy: b}\n", &h, &err), MLIP_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, ":2:"));
	ck_assert_ptr_nonnull(strstr(err.msg, "copy"));
	ck_assert_uint_eq(h.n, 0);
	ck_assert_int_eq(heads_from("heads: [a, a]\n", &h, &err), MLIP_EINVAL);
	ck_assert_ptr_nonnull(strstr(err.msg, "duplicate head 'a'"));
	ck_assert_int_eq(heads_from("heads: []\n", &h, &err), MLIP_EINVAL);
	ck_assert_int_eq(heads_from("hedas: [a]\n", &h, &err), MLIP_EINVAL);
	ck_assert_int_eq(heads_from("heads: [{copy_from: a}]\n", &h, &err), MLIP_EINVAL);
	ck_assert_int_eq(mlip_finetune_heads_load("/nonexistent/h.yaml", &h, &err), MLIP_EIO);
}
END_TEST

Suite *suite_finetune(void)
{
	Suite *s = suite_create("finetune");
	TCase *tc = tcase_create("heads");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_keep_is_identity);
	tcase_add_test(tc, test_head_rows);
	tcase_add_test(tc, test_drop_heads);
	tcase_add_test(tc, test_heads_file);
	suite_add_tcase(s, tc);
	tc = tcase_create("weights");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_descriptor_columns);
	tcase_add_test(tc, test_pin_default_set);
	tcase_add_test(tc, test_shape_mismatch);
	tcase_add_test(tc, test_overrides);
	tcase_add_test(tc, test_precision);
	suite_add_tcase(s, tc);
	return s;
}
