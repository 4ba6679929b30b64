/*
 * modelfile.c - the model part of an inference checkpoint (potential.h
 * documents the file): the config's model section, the descriptor list,
 * the weights and the heads' maps to physical units. Nothing here loads a
 * plugin or needs MPI, so the shared library of mlip.h is built from this
 * and the model's own modules.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "modelfile.h"
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
	if (cm->mtp_level > 0) {
		/* the moment tensor basis: its radial coefficients follow from the model seed,
		 * and are the tensor mtp.radial when trained */
		mc->mtp_level = (int)cm->mtp_level;
		mc->mtp_train_radial = cm->mtp_train_radial;
		mc->mtp.r_min = cm->mtp_r_min;
		mc->mtp.n_radial = (size_t)cm->mtp_n_radial;
		mc->mtp.max_order = (int)cm->mtp_max_order;
		mc->mtp.n_pair = (size_t)cm->mtp_n_pair;
		mc->mtp.seed = cm->seed;
		return MLIP_OK;
	}
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

/*
 * The parts of an inference checkpoint every reader needs: the container,
 * its JSON header (*root), the resolved config and the descriptor list.
 */
int mlip_modelfile_open(const char *path, struct mlip_ckpt *c, json_t **root,
			   struct mlip_config *cfg, struct mlip_sf **sf, size_t *n_sf,
			   struct mlip_err *err)
{
	json_error_t jerr;
	int rc;
	*root = NULL;
	*sf = NULL;
	if ((rc = mlip_ckpt_read(path, c, err)))
		return rc;
	*root = json_loads(c->json, 0, &jerr);
	const char *format = json_string_value(json_object_get(*root, "format"));
	const char *config = json_string_value(json_object_get(*root, "config"));
	if (!*root || !format || strcmp(format, "mlip-model") != 0 || !config)
		return mlip_err_set(err, MLIP_EDATA,
				    "%s: not an inference checkpoint (a training state file? convert "
				    "it with mlip-ckpt-convert)", path);
	if ((rc = mlip_config_load_string(config, strlen(config), path, NULL, 0, cfg, err))) {
		/* the file's own config does not hold: the file is at fault, not the user */
		if (rc == MLIP_EINVAL && err)
			err->code = MLIP_EDATA;
		return rc == MLIP_EINVAL ? MLIP_EDATA : rc;
	}
	*n_sf = 0;
	if (cfg->model.mtp_level > 0) /* the config defines the basis: no function list */
		return MLIP_OK;
	return read_descriptors(json_object_get(*root, "descriptors"), sf, n_sf, path, err);
}

/*
 * Check the tensor table against model m, copy the blobs into *raw / *ema
 * (NULL when absent) and put the chosen weights into m->params.
 */
int mlip_modelfile_weights(struct mlip_model *m, json_t *root, const struct mlip_ckpt *c,
			enum mlip_weights which, double **raw, double **ema, const char *path,
			struct mlip_err *err)
{
	int rc;
	*raw = *ema = NULL;
	if ((rc = check_tensors(&m->tensors, json_object_get(root, "tensors"), path, err)))
		return rc;
	if (c->blob_count != m->n_params)
		return mlip_err_set(err, MLIP_EDATA, "%s: %zu weights per blob, the model has %zu", path,
				    c->blob_count, m->n_params);
	json_t *blobs = json_object_get(root, "blobs");
	for (size_t k = 0; k < json_array_size(blobs) && k < c->n_blobs; k++) {
		const char *name = json_string_value(json_array_get(blobs, k));
		double **dst = name && !strcmp(name, "raw") ? raw : name && !strcmp(name, "ema") ? ema : NULL;
		if (!dst || *dst)
			continue;
		if (!(*dst = malloc(c->blob_count * sizeof(double))))
			return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
		memcpy(*dst, c->blobs + k * c->blob_count, c->blob_count * sizeof(double));
	}
	const double *use = NULL;
	const char *first = json_string_value(json_array_get(blobs, 0));
	if (which == MLIP_WEIGHTS_RAW)
		use = *raw;
	else if (which == MLIP_WEIGHTS_EMA)
		use = *ema;
	else
		use = first && !strcmp(first, "ema") ? *ema : *raw;
	if (!use)
		return mlip_err_set(err, MLIP_EDATA, "%s: has no %s weights", path,
				    which == MLIP_WEIGHTS_EMA ? "EMA" : "raw");
	for (size_t k = 0; k < m->n_params; k++)
		m->params[k] = (mlip_real)use[k];
	return MLIP_OK;
}

/*
 * A head's map from a checkpoint written before the "heads" list: the
 * normalizer states of the plugins that ship with mlip, read as those
 * plugins do (shift = denorm(0), scale = denorm(1) − denorm(0)).
 */
static int head_map_from_state(struct mlip_head_map *hm, json_t *o, const char *path,
			       struct mlip_err *err)
{
	json_t *nj = json_object_get(o, "normalizer");
	hm->scale = 1;
	hm->shift = 0;
	if (json_is_object(nj)) {
		const char *name = json_string_value(json_object_get(nj, "name"));
		json_t *st = json_object_get(nj, "state");
		if (name && !strcmp(name, "rmsd") && json_is_number(json_object_get(st, "mean")) &&
		    json_is_number(json_object_get(st, "rmsd"))) {
			double mean = json_number_value(json_object_get(st, "mean"));
			double rmsd = json_number_value(json_object_get(st, "rmsd"));
			hm->shift = 0 * rmsd + mean;
			hm->scale = (1 * rmsd + mean) - hm->shift;
		} else if (!name || strcmp(name, "identity") != 0) {
			return mlip_err_set(err, MLIP_EDATA,
					    "%s: head '%s' has a normalizer ('%s') that only its plugin "
					    "can apply; convert the checkpoint again with this version's "
					    "mlip-ckpt-convert", path, hm->name, name ? name : "?");
		}
	}
	return MLIP_OK;
}

static int read_head_maps(json_t *root, const struct mlip_model *m, struct mlip_head_map *heads,
			  const char *path, struct mlip_err *err)
{
	json_t *list = json_object_get(root, "heads");
	int from_state = !json_is_array(list);
	if (from_state)
		list = json_object_get(json_object_get(root, "tasks_state"), "heads");
	if (!json_is_array(list) || json_array_size(list) != m->config.n_heads)
		return mlip_err_set(err, MLIP_EDATA, "%s: expected %zu heads in the header", path,
				    m->config.n_heads);
	for (size_t h = 0; h < m->config.n_heads; h++) {
		struct mlip_head_map *hm = &heads[h];
		json_t *o = json_array_get(list, h);
		const char *name = json_string_value(json_object_get(o, "name"));
		memset(hm, 0, sizeof(*hm));
		if (!name || strcmp(name, m->config.heads[h]) != 0)
			return mlip_err_set(err, MLIP_EDATA, "%s: head %zu is '%s', the model's is '%s'",
					    path, h + 1, name ? name : "?", m->config.heads[h]);
		snprintf(hm->name, sizeof(hm->name), "%s", name);
		int rc;
		if (from_state) {
			if ((rc = head_map_from_state(hm, o, path, err)))
				return rc;
		} else if (json_unpack(o, "{s:F,s:F}", "scale", &hm->scale, "shift", &hm->shift)) {
			return mlip_err_set(err, MLIP_EDATA, "%s: head '%s' has no scale and shift", path, name);
		}
		json_t *r = json_object_get(o, "element_references");
		hm->has_elref = json_is_object(r);
		const char *sym;
		json_t *val;
		json_object_foreach(r, sym, val) {
			int z = mlip_element_z(sym);
			if (!z || !json_is_number(val))
				return mlip_err_set(err, MLIP_EDATA, "%s: head '%s': bad element reference '%s'",
						    path, name, sym);
			hm->elref[z] = json_number_value(val);
		}
		if (!isfinite(hm->scale) || !isfinite(hm->shift))
			return mlip_err_set(err, MLIP_EDATA, "%s: head '%s' has a non-finite scale or shift",
					    path, name);
	}
	return MLIP_OK;
}

int mlip_modelfile_load(const char *path, struct mlip_model **model,
				  struct mlip_head_map *heads, struct mlip_err *err)
{
	struct mlip_ckpt c;
	struct mlip_config cfg;
	struct mlip_model_config mc;
	json_t *root = NULL;
	struct mlip_sf *sf = NULL, *cfg_sf = NULL;
	double *raw = NULL, *ema = NULL;
	size_t n_sf = 0;
	int rc;
	*model = NULL;
	mlip_ckpt_init(&c);
	mlip_config_init(&cfg);
	if ((rc = mlip_modelfile_open(path, &c, &root, &cfg, &sf, &n_sf, err)) ||
	    (rc = mlip_potential_model_config(&cfg.model, &mc, &cfg_sf, err)))
		goto done;
	mc.sf = sf;
	mc.n_sf = n_sf;
	if ((rc = mlip_model_new(model, &mc, err))) {
		mlip_err_prefix(err, rc, "%s: ", path);
		goto done;
	}
	if ((rc = mlip_modelfile_weights(*model, root, &c, MLIP_WEIGHTS_PRIMARY, &raw, &ema, path, err)))
		goto done;
	rc = read_head_maps(root, *model, heads, path, err);
done:
	if (rc && *model) {
		mlip_model_free(*model);
		*model = NULL;
	}
	free(raw);
	free(ema);
	free(sf);
	free(cfg_sf);
	json_decref(root);
	mlip_config_release(&cfg);
	mlip_ckpt_release(&c);
	return rc;
}

