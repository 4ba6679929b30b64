/*
 * potential.c - config -> model + tasks, and the inference checkpoint.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "potential.h"
#include "ckpt.h"
#include "runckpt.h"
#include "banned.h"

int mlip_potential_model_config(const struct mlip_config_model *cm,
				struct mlip_model_config *mc, struct mlip_sf **sf,
				struct mlip_err *err)
{
	mlip_model_config_init(mc);
	*sf = NULL;
	if (cm->init_from)
		return mlip_err_set(err, MLIP_EINVAL, "model.init_from must be resolved before building");
	if (cm->n_elements > MLIP_MAX_ELEMENTS)
		return mlip_err_set(err, MLIP_EINVAL, "model.elements: at most %d elements",
				    MLIP_MAX_ELEMENTS);
	if (cm->n_hidden > MLIP_MAX_HIDDEN)
		return mlip_err_set(err, MLIP_EINVAL, "model.hidden: at most %d layers", MLIP_MAX_HIDDEN);
	if (cm->n_heads > MLIP_MAX_HEADS)
		return mlip_err_set(err, MLIP_EINVAL, "model.heads: at most %d heads", MLIP_MAX_HEADS);
	snprintf(mc->name, sizeof(mc->name), "%s", cm->name ? cm->name : "bpnn");
	mc->cutoff = cm->cutoff;
	mc->n_elements = cm->n_elements;
	for (size_t k = 0; k < cm->n_elements; k++)
		mc->elements[k] = cm->elements[k];
	mc->n_hidden = cm->n_hidden;
	for (size_t k = 0; k < cm->n_hidden; k++)
		mc->hidden[k] = (size_t)cm->hidden[k];
	mc->activation = cm->activation == MLIP_CFG_SILU ? MLIP_ACT_SILU
		       : cm->activation == MLIP_CFG_SOFTPLUS ? MLIP_ACT_SOFTPLUS : MLIP_ACT_TANH;
	mc->n_heads = cm->n_heads;
	for (size_t k = 0; k < cm->n_heads; k++) {
		if (strlen(cm->heads[k]) >= MLIP_NAME_MAX)
			return mlip_err_set(err, MLIP_EINVAL, "head name '%s' is too long", cm->heads[k]);
		snprintf(mc->heads[k], MLIP_NAME_MAX, "%s", cm->heads[k]);
	}
	mc->seed = cm->seed;
	mc->precision = cm->precision == MLIP_CFG_FLOAT32 ? MLIP_FLOAT32 : MLIP_FLOAT64;
	if (cm->n_descriptors) {
		/* The config's list applies to every central element. */
		size_t n = cm->n_descriptors * cm->n_elements;
		struct mlip_sf *list = calloc(n, sizeof(*list));
		if (!list)
			return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
		for (size_t e = 0; e < cm->n_elements; e++)
			for (size_t k = 0; k < cm->n_descriptors; k++) {
				const struct mlip_config_descriptor *d = &cm->descriptors[k];
				struct mlip_sf *s = &list[e * cm->n_descriptors + k];
				s->kind = d->kind == MLIP_CFG_G2 ? MLIP_SF_G2 : d->kind == MLIP_CFG_G3 ? MLIP_SF_G3
												    : MLIP_SF_G9;
				s->z = cm->elements[e];
				s->z1 = d->elements[0];
				s->z2 = s->kind == MLIP_SF_G2 ? 0 : d->elements[1];
				s->eta = d->eta;
				s->rs = d->rs;
				s->lambda = s->kind == MLIP_SF_G2 ? 0 : d->lambda;
				s->zeta = s->kind == MLIP_SF_G2 ? 0 : d->zeta;
				s->rc = d->cutoff > 0 ? d->cutoff : cm->cutoff;
			}
		*sf = list;
		mc->sf = list;
		mc->n_sf = n;
	} else if (cm->angular_shells > 0) {
		/* the default set and its shells, made here so that the model keeps one list */
		struct mlip_sf *list = NULL;
		size_t n = 0;
		int rc = mlip_descriptor_default(&list, &n, cm->elements, cm->n_elements, cm->cutoff, err);
		if (!rc)
			rc = mlip_descriptor_angular_shells(&list, &n, cm->elements, cm->n_elements,
							    cm->cutoff, (size_t)cm->angular_shells, err);
		if (rc) {
			free(list);
			return rc;
		}
		*sf = list;
		mc->sf = list;
		mc->n_sf = n;
	}
	return MLIP_OK;
}

void mlip_potential_release(struct mlip_potential *p)
{
	mlip_tasks_release(&p->tasks);
	if (p->model)
		mlip_model_free(p->model);
	mlip_config_release(&p->cfg);
	free(p->raw);
	free(p->ema);
	memset(p, 0, sizeof(*p));
}

static int build(struct mlip_potential *p, const struct mlip_sf *sf_override, size_t n_override,
		 struct mlip_plugins *reg, struct mlip_err *err)
{
	struct mlip_model_config mc;
	struct mlip_sf *sf = NULL;
	int rc = mlip_potential_model_config(&p->cfg.model, &mc, &sf, err);
	if (!rc) {
		if (sf_override) {
			mc.sf = sf_override;
			mc.n_sf = n_override;
		}
		rc = mlip_model_new(&p->model, &mc, err);
	}
	free(sf);
	if (!rc)
		rc = mlip_tasks_init(&p->tasks, &p->cfg, reg, err);
	return rc;
}

int mlip_potential_create(struct mlip_potential *p, struct mlip_config *cfg,
			  struct mlip_plugins *reg, struct mlip_err *err)
{
	memset(p, 0, sizeof(*p));
	p->cfg = *cfg;
	memset(cfg, 0, sizeof(*cfg));
	int rc = build(p, NULL, 0, reg, err);
	if (rc)
		mlip_potential_release(p);
	return rc;
}

static json_t *descriptors_json(const struct mlip_model *m)
{
	json_t *a = json_array();
	for (size_t k = 0; k < m->desc.n_sf; k++) {
		const struct mlip_sf *s = &m->desc.sf[k];
		json_array_append_new(a, json_pack("{s:i,s:i,s:i,s:i,s:f,s:f,s:f,s:f,s:f}", "kind", s->kind,
						   "z", s->z, "z1", s->z1, "z2", s->z2, "eta", s->eta,
						   "rs", s->rs, "lambda", s->lambda, "zeta", s->zeta,
						   "rc", s->rc));
	}
	return a;
}

static json_t *tensors_json(const struct mlip_tensors *t)
{
	json_t *a = json_array();
	for (size_t k = 0; k < t->n; k++) {
		const struct mlip_tensor *x = &t->t[k];
		json_t *shape = json_array();
		for (size_t d = 0; d < x->ndim; d++)
			json_array_append_new(shape, json_integer((json_int_t)x->shape[d]));
		json_array_append_new(a, json_pack("{s:s,s:o,s:I,s:I,s:i}", "name", x->name, "shape", shape,
						   "offset", (json_int_t)x->offset, "count",
						   (json_int_t)x->count, "flags", (int)x->flags));
	}
	return a;
}

int mlip_potential_save(const struct mlip_potential *p, const char *path, const double *raw,
			const double *ema, int ema_primary, struct mlip_err *err)
{
	char *config = NULL, *state = NULL;
	size_t len;
	int rc;
	if ((rc = mlip_config_resolved_text(&p->cfg, &config, &len, err)))
		return rc;
	if ((rc = mlip_tasks_state_to_json(&p->tasks, &state, err))) {
		free(config);
		return rc;
	}
	json_error_t jerr;
	json_t *blobs = json_array();
	const double *order[2];
	size_t nb = 0;
	if (ema && ema_primary) {
		json_array_append_new(blobs, json_string("ema"));
		order[nb++] = ema;
	}
	json_array_append_new(blobs, json_string("raw"));
	order[nb++] = raw;
	if (ema && !ema_primary) {
		json_array_append_new(blobs, json_string("ema"));
		order[nb++] = ema;
	}
	json_t *root = json_pack("{s:s,s:i,s:s,s:s,s:o,s:I,s:o,s:o,s:o}", "format", "mlip-model",
				 "version", 1, "mlip", MLIP_VERSION, "config", config, "descriptors",
				 descriptors_json(p->model), "n_params", (json_int_t)p->model->n_params,
				 "tensors", tensors_json(&p->model->tensors), "tasks_state",
				 json_loads(state, 0, &jerr), "blobs", blobs);
	free(config);
	free(state);
	char *text = root ? json_dumps(root, JSON_INDENT(1) | JSON_REAL_PRECISION(17)) : NULL;
	json_decref(root);
	if (!text)
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	rc = mlip_ckpt_write(path, text, order, nb, p->model->n_params, err);
	free(text);
	return rc;
}

static int check_tensors(const struct mlip_tensors *t, json_t *a, const char *path,
			 struct mlip_err *err)
{
	if (!json_is_array(a) || json_array_size(a) != t->n)
		return mlip_err_set(err, MLIP_EDATA,
				    "%s: the checkpoint has %zu tensors, the model its config builds has %zu",
				    path, json_is_array(a) ? json_array_size(a) : 0, t->n);
	for (size_t k = 0; k < t->n; k++) {
		json_t *x = json_array_get(a, k);
		const char *name = json_string_value(json_object_get(x, "name"));
		json_int_t off = json_integer_value(json_object_get(x, "offset"));
		json_int_t cnt = json_integer_value(json_object_get(x, "count"));
		if (!name || strcmp(name, t->t[k].name) != 0 || (size_t)off != t->t[k].offset ||
		    (size_t)cnt != t->t[k].count)
			return mlip_err_set(err, MLIP_EDATA,
					    "%s: tensor %zu is '%s' (%lld values at %lld); the model expects "
					    "'%s' (%zu at %zu)", path, k + 1, name ? name : "?",
					    (long long)cnt, (long long)off, t->t[k].name, t->t[k].count,
					    t->t[k].offset);
	}
	return MLIP_OK;
}

static int read_descriptors(json_t *a, struct mlip_sf **out, size_t *n, const char *path,
			    struct mlip_err *err)
{
	if (!json_is_array(a) || json_array_size(a) == 0)
		return mlip_err_set(err, MLIP_EDATA, "%s: no descriptor list", path);
	*n = json_array_size(a);
	struct mlip_sf *sf = calloc(*n, sizeof(*sf));
	if (!sf)
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	for (size_t k = 0; k < *n; k++) {
		json_t *d = json_array_get(a, k);
		int kind, z, z1, z2;
		double eta, rs, lambda, zeta, rc;
		if (json_unpack(d, "{s:i,s:i,s:i,s:i,s:F,s:F,s:F,s:F,s:F}", "kind", &kind, "z", &z, "z1", &z1,
				"z2", &z2, "eta", &eta, "rs", &rs, "lambda", &lambda, "zeta", &zeta, "rc",
				&rc)) {
			free(sf);
			return mlip_err_set(err, MLIP_EDATA, "%s: descriptor %zu is malformed", path, k + 1);
		}
		sf[k] = (struct mlip_sf){ .kind = kind, .z = z, .z1 = z1, .z2 = z2, .eta = eta, .rs = rs,
					  .lambda = lambda, .zeta = zeta, .rc = rc };
	}
	*out = sf;
	return MLIP_OK;
}

int mlip_potential_load(struct mlip_potential *p, const char *path, struct mlip_plugins *reg,
			enum mlip_weights which, struct mlip_err *err)
{
	struct mlip_ckpt c;
	json_error_t jerr;
	json_t *root = NULL;
	struct mlip_sf *sf = NULL;
	size_t n_sf = 0;
	int rc;
	memset(p, 0, sizeof(*p));
	mlip_ckpt_init(&c);
	if ((rc = mlip_ckpt_read(path, &c, err)))
		return rc;
	root = json_loads(c.json, 0, &jerr);
	const char *format = json_string_value(json_object_get(root, "format"));
	const char *config = json_string_value(json_object_get(root, "config"));
	if (!root || !format || strcmp(format, "mlip-model") != 0 || !config) {
		rc = mlip_err_set(err, MLIP_EDATA,
				  "%s: not an inference checkpoint (a training state file? convert "
				  "it with mlip-ckpt-convert)", path);
		goto fail;
	}
	if ((rc = mlip_config_load_string(config, strlen(config), path, NULL, 0, &p->cfg, err)))
		goto fail;
	if ((rc = read_descriptors(json_object_get(root, "descriptors"), &sf, &n_sf, path, err)))
		goto fail;
	if ((rc = build(p, sf, n_sf, reg, err)))
		goto fail;
	if ((rc = check_tensors(&p->model->tensors, json_object_get(root, "tensors"), path, err)))
		goto fail;
	if (c.blob_count != p->model->n_params) {
		rc = mlip_err_set(err, MLIP_EDATA, "%s: %zu weights per blob, the model has %zu", path,
				  c.blob_count, p->model->n_params);
		goto fail;
	}
	json_t *blobs = json_object_get(root, "blobs");
	for (size_t k = 0; k < json_array_size(blobs) && k < c.n_blobs; k++) {
		const char *name = json_string_value(json_array_get(blobs, k));
		double **dst = name && !strcmp(name, "raw") ? &p->raw : name && !strcmp(name, "ema") ? &p->ema : NULL;
		if (!dst)
			continue;
		if (!(*dst = malloc(c.blob_count * sizeof(double)))) {
			rc = mlip_err_set(err, MLIP_ENOMEM, "out of memory");
			goto fail;
		}
		memcpy(*dst, c.blobs + k * c.blob_count, c.blob_count * sizeof(double));
	}
	p->has_raw = p->raw != NULL;
	p->has_ema = p->ema != NULL;
	const double *use = NULL;
	const char *first = json_string_value(json_array_get(blobs, 0));
	if (which == MLIP_WEIGHTS_RAW)
		use = p->raw;
	else if (which == MLIP_WEIGHTS_EMA)
		use = p->ema;
	else
		use = first && !strcmp(first, "ema") ? p->ema : p->raw;
	if (!use) {
		rc = mlip_err_set(err, MLIP_EDATA, "%s: has no %s weights", path,
				  which == MLIP_WEIGHTS_EMA ? "EMA" : "raw");
		goto fail;
	}
	for (size_t k = 0; k < p->model->n_params; k++)
		p->model->params[k] = (mlip_real)use[k];
	char *state = json_dumps(json_object_get(root, "tasks_state"), JSON_COMPACT | JSON_REAL_PRECISION(17));
	rc = state ? mlip_tasks_state_from_json(&p->tasks, reg, state, err)
		   : mlip_err_set(err, MLIP_EDATA, "%s: no task state", path);
	free(state);
	if (rc) {
		mlip_err_prefix(err, rc, "%s: ", path);
		goto fail;
	}
	free(sf);
	json_decref(root);
	mlip_ckpt_release(&c);
	return MLIP_OK;
fail:
	free(sf);
	json_decref(root);
	mlip_ckpt_release(&c);
	mlip_potential_release(p);
	return rc;
}

int mlip_potential_predict(struct mlip_potential *p, const struct mlip_batch *b, double *energy,
			   double *forces, double *stress, struct mlip_err *err)
{
	struct mlip_model_out out;
	unsigned flags = (forces ? MLIP_MODEL_FORCES : 0) | (stress ? MLIP_MODEL_STRESS : 0);
	int rc = mlip_model_forward(p->model, b, flags, &out, err);
	if (rc)
		return rc;
	mlip_tasks_physical(&p->tasks, b, out.energy, out.forces, out.stress, energy, forces, stress);
	return MLIP_OK;
}

int mlip_potential_from_run(struct mlip_potential *p, const char *ckpt_dir,
			    struct mlip_plugins *reg, struct mlip_err *err)
{
	struct mlip_run_state s;
	struct mlip_config cfg;
	int rc;
	memset(p, 0, sizeof(*p));
	if ((rc = mlip_runckpt_load(ckpt_dir, &s, err)))
		return rc;
	struct mlip_yaml_node *tree = s.config;
	s.config = NULL;
	mlip_config_init(&cfg);
	if ((rc = mlip_config_from_tree(tree, &cfg, err))) {
		mlip_err_prefix(err, rc, "%s/resume.yaml: ", ckpt_dir);
		goto done;
	}
	if ((rc = mlip_potential_create(p, &cfg, reg, err)))
		goto done;
	if (s.n_params != p->model->n_params) {
		rc = mlip_err_set(err, MLIP_EDATA, "%s: %zu parameters, the model its config builds has %zu",
				  ckpt_dir, s.n_params, p->model->n_params);
		goto done;
	}
	if ((rc = mlip_tasks_state_from_json(&p->tasks, reg, s.tasks_state, err)))
		goto done;
	for (size_t k = 0; k < s.n_params; k++)
		p->model->params[k] = (mlip_real)s.params[k];
	p->raw = s.params;
	s.params = NULL;
	p->has_raw = 1;
	if (s.ema && s.progress.ema_started) {
		p->ema = s.ema;
		s.ema = NULL;
		p->has_ema = 1;
	}
done:
	mlip_run_state_release(&s);
	if (rc)
		mlip_potential_release(p);
	return rc;
}
