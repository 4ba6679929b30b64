/*
 * potential.c - config -> model + tasks, and the inference checkpoint.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "potential.h"
#include "modelfile.h"
#include "ckpt.h"
#include "runckpt.h"
#include "banned.h"

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

/* Each head's map to physical units, for readers without the normalizer plugins. */
static json_t *heads_json(const struct mlip_tasks *t)
{
	json_t *a = json_array();
	for (size_t h = 0; h < t->n_heads; h++) {
		const struct mlip_head *head = &t->heads[h];
		json_t *refs = json_null();
		if (head->has_elref) {
			refs = json_object();
			for (int z = 1; z <= MLIP_MAX_Z; z++)
				if (head->elref[z] != 0)
					json_object_set_new(refs, mlip_element_symbol(z), json_real(head->elref[z]));
		}
		json_array_append_new(a, json_pack("{s:s,s:f,s:f,s:o}", "name", head->name, "scale",
						   head->scale, "shift", head->shift,
						   "element_references", refs));
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
	json_t *root = json_pack("{s:s,s:i,s:s,s:s,s:o,s:I,s:o,s:o,s:o,s:o}", "format", "mlip-model",
				 "version", 1, "mlip", MLIP_VERSION, "config", config, "descriptors",
				 descriptors_json(p->model), "n_params", (json_int_t)p->model->n_params,
				 "tensors", tensors_json(&p->model->tensors), "tasks_state",
				 json_loads(state, 0, &jerr), "heads", heads_json(&p->tasks), "blobs", blobs);
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

int mlip_potential_load(struct mlip_potential *p, const char *path, struct mlip_plugins *reg,
			enum mlip_weights which, struct mlip_err *err)
{
	struct mlip_ckpt c;
	json_t *root = NULL;
	struct mlip_sf *sf = NULL;
	size_t n_sf = 0;
	int rc;
	memset(p, 0, sizeof(*p));
	mlip_ckpt_init(&c);
	if ((rc = mlip_modelfile_open(path, &c, &root, &p->cfg, &sf, &n_sf, err)) ||
	    (rc = build(p, sf, n_sf, reg, err)) ||
	    (rc = mlip_modelfile_weights(p->model, root, &c, which, &p->raw, &p->ema, path, err)))
		goto fail;
	p->has_raw = p->raw != NULL;
	p->has_ema = p->ema != NULL;
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
