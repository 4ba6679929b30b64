/*
 * tasks.c - tasks, masks, element references, normalizers and the raw <->
 * physical mapping (conventions in tasks.h).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tasks.h"
#include "log.h"
#include "banned.h"

static size_t property_width(enum mlip_cfg_property p)
{
	return p == MLIP_CFG_ENERGY ? 1 : p == MLIP_CFG_FORCES ? 3 : 9;
}

static unsigned property_bit(enum mlip_cfg_property p)
{
	return p == MLIP_CFG_ENERGY ? MLIP_HAS_ENERGY : p == MLIP_CFG_FORCES ? MLIP_HAS_FORCES
									      : MLIP_HAS_STRESS;
}

/*
 * Params text for an energy head's normalizer: the config's, plus mean 0 for
 * rmsd unless given (energies are size-extensive; other plugins get theirs
 * unchanged).
 */
static char *energy_norm_params(const char *name, const char *params_json)
{
	json_error_t jerr;
	json_t *o = json_loads(params_json ? params_json : "{}", 0, &jerr);
	if (!o || !json_is_object(o)) {
		json_decref(o);
		o = json_object();
	}
	if (strcmp(name, "rmsd") == 0 && !json_object_get(o, "mean"))
		json_object_set_new(o, "mean", json_real(0.0));
	char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(17));
	json_decref(o);
	return s;
}

static int same_plugin(const struct mlip_config_plugin *a, const struct mlip_config_plugin *b)
{
	return a->name && b->name && strcmp(a->name, b->name) == 0 &&
	       strcmp(a->params_json ? a->params_json : "{}", b->params_json ? b->params_json : "{}") == 0;
}

void mlip_tasks_release(struct mlip_tasks *t)
{
	for (size_t k = 0; k < t->n_tasks; k++)
		if (t->tasks[k].has_loss)
			mlip_loss_release(&t->tasks[k].loss);
	for (size_t h = 0; h < t->n_heads; h++)
		if (t->heads[h].has_norm)
			mlip_normalizer_release(&t->heads[h].norm);
	free(t->tasks);
	free(t->heads);
	memset(t, 0, sizeof(*t));
}

int mlip_tasks_init(struct mlip_tasks *t, const struct mlip_config *cfg,
		    struct mlip_plugins *reg, struct mlip_err *err)
{
	int rc = MLIP_OK;
	memset(t, 0, sizeof(*t));
	const struct mlip_config_model *mc = &cfg->model;
	t->n_heads = mc->n_heads;
	t->n_tasks = cfg->n_tasks;
	t->heads = calloc(t->n_heads ? t->n_heads : 1, sizeof(*t->heads));
	t->tasks = calloc(t->n_tasks ? t->n_tasks : 1, sizeof(*t->tasks));
	if (!t->heads || !t->tasks) {
		mlip_tasks_release(t);
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	}
	for (size_t h = 0; h < t->n_heads; h++) {
		t->heads[h].name = mc->heads[h];
		t->heads[h].energy_task = -1;
		t->heads[h].scale = 1.0;
	}
	const struct mlip_config_task *norm_src[64] = { 0 };
	for (size_t k = 0; k < t->n_tasks; k++) {
		const struct mlip_config_task *c = &cfg->tasks[k];
		struct mlip_task *task = &t->tasks[k];
		task->cfg = c;
		task->index = k;
		task->width = property_width(c->property);
		task->atom_level = c->property == MLIP_CFG_FORCES;
		size_t h = 0;
		while (h < t->n_heads && strcmp(mc->heads[h], c->head) != 0)
			h++;
		if (h == t->n_heads) {
			rc = mlip_err_set(err, MLIP_EINVAL, "task '%s': the model has no head '%s'", c->name,
					  c->head);
			goto fail;
		}
		task->head = h;
		for (size_t i = 0; i < c->n_metrics; i++) {
			int m = mlip_metric_parse(c->metrics[i]);
			if (m < 0) {
				rc = mlip_err_set(err, MLIP_EINVAL, "task '%s': unknown metric '%s'", c->name,
						  c->metrics[i]);
				goto fail;
			}
			task->metrics[task->n_metrics++] = (enum mlip_metric)m;
		}
		if (!c->inference_only && c->loss.name) {
			if ((rc = mlip_loss_init(&task->loss, reg, c->loss.name, c->loss.params_json,
						 c->loss_coefficient, (enum mlip_reduction)c->loss_reduction,
						 err))) {
				mlip_err_prefix(err, rc, "task '%s': ", c->name);
				goto fail;
			}
			task->has_loss = 1;
		}
		struct mlip_head *head = &t->heads[h];
		if (c->property == MLIP_CFG_ENERGY) {
			if (head->energy_task < 0) {
				head->energy_task = (long)k;
			} else {
				const struct mlip_config_task *first = &cfg->tasks[head->energy_task];
				if (first->elref != c->elref ||
				    (c->normalizer.name && !same_plugin(&first->normalizer, &c->normalizer))) {
					rc = mlip_err_set(err, MLIP_EINVAL,
							  "task '%s': head '%s' already takes its normalizer and "
							  "element references from task '%s'; give them there only",
							  c->name, c->head, first->name);
					goto fail;
				}
			}
		}
		if (h < 64 && c->normalizer.name) {
			if (norm_src[h] && !same_plugin(&norm_src[h]->normalizer, &c->normalizer)) {
				rc = mlip_err_set(err, MLIP_EINVAL,
						  "task '%s': its normalizer conflicts with task '%s' on head "
						  "'%s'; forces and stress use the energy's scale with mean 0, so "
						  "set the normalizer on the energy task only",
						  c->name, norm_src[h]->name, c->head);
				goto fail;
			}
			if (!norm_src[h] || c->property == MLIP_CFG_ENERGY)
				norm_src[h] = c;
		}
	}
	for (size_t h = 0; h < t->n_heads && h < 64; h++) {
		struct mlip_head *head = &t->heads[h];
		if (norm_src[h]) {
			char *params = energy_norm_params(norm_src[h]->normalizer.name,
							  norm_src[h]->normalizer.params_json);
			if (!params) {
				rc = mlip_err_set(err, MLIP_ENOMEM, "out of memory");
				goto fail;
			}
			rc = mlip_normalizer_init(&head->norm, reg, norm_src[h]->normalizer.name, params, err);
			free(params);
			if (rc) {
				mlip_err_prefix(err, rc, "task '%s': ", norm_src[h]->name);
				goto fail;
			}
			head->has_norm = 1;
		}
		if (head->energy_task >= 0) {
			const struct mlip_config_task *c = &cfg->tasks[head->energy_task];
			if (c->elref == MLIP_CFG_ELREF_TABLE) {
				for (size_t i = 0; i < c->n_elref; i++)
					if (c->elref_z[i] > 0 && c->elref_z[i] <= MLIP_MAX_Z)
						head->elref[c->elref_z[i]] = c->elref_value[i];
				head->has_elref = 1;
			}
		}
	}
	return MLIP_OK;
fail:
	mlip_tasks_release(t);
	return rc;
}

long mlip_tasks_find(const struct mlip_tasks *t, const char *name)
{
	for (size_t k = 0; k < t->n_tasks; k++)
		if (strcmp(t->tasks[k].cfg->name, name) == 0)
			return (long)k;
	return -1;
}

static int dataset_listed(const struct mlip_config_task *c, const char *ds)
{
	for (size_t k = 0; k < c->n_datasets; k++)
		if (strcmp(c->datasets[k], ds) == 0)
			return 1;
	return 0;
}

size_t mlip_task_mask(const struct mlip_task *task, const struct mlip_batch *b, int free_only,
		      uint8_t *mask)
{
	unsigned bit = property_bit(task->cfg->property);
	size_t valid = 0;
	for (size_t s = 0; s < b->n_systems; s++) {
		int ok = (b->has[s] & bit) && dataset_listed(task->cfg, b->dataset[s]);
		if (!task->atom_level) {
			mask[s] = (uint8_t)ok;
			valid += ok;
			continue;
		}
		for (size_t a = b->atom_start[s]; a < b->atom_start[s + 1]; a++) {
			mask[a] = (uint8_t)(ok && !(free_only && b->fixed[a]));
			valid += mask[a];
		}
	}
	return valid;
}

/* Σ_i ref[Z_i] of system s. */
static double system_ref(const struct mlip_head *head, const struct mlip_batch *b, size_t s)
{
	double r = 0;
	if (!head->has_elref)
		return 0;
	for (size_t a = b->atom_start[s]; a < b->atom_start[s + 1]; a++)
		r += head->elref[b->numbers[a]];
	return r;
}

/* Solve the symmetric K x K system A x = y in place (Gaussian elimination, partial pivoting). */
static int solve(double *A, double *y, size_t K)
{
	for (size_t c = 0; c < K; c++) {
		size_t p = c;
		for (size_t r = c + 1; r < K; r++)
			if (fabs(A[r * K + c]) > fabs(A[p * K + c]))
				p = r;
		if (!(fabs(A[p * K + c]) > 0))
			return -1;
		if (p != c) {
			for (size_t k = 0; k < K; k++) {
				double tmp = A[c * K + k];
				A[c * K + k] = A[p * K + k];
				A[p * K + k] = tmp;
			}
			double tmp = y[c];
			y[c] = y[p];
			y[p] = tmp;
		}
		for (size_t r = c + 1; r < K; r++) {
			double f = A[r * K + c] / A[c * K + c];
			for (size_t k = c; k < K; k++)
				A[r * K + k] -= f * A[c * K + k];
			y[r] -= f * y[c];
		}
	}
	for (size_t c = K; c-- > 0;) {
		double s = y[c];
		for (size_t k = c + 1; k < K; k++)
			s -= A[c * K + k] * y[k];
		y[c] = s / A[c * K + c];
	}
	return 0;
}

static int fit_elref(struct mlip_head *head, const struct mlip_task *task,
		     const struct mlip_batch *const *bs, size_t n, struct mlip_err *err)
{
	/* Normal equations over the elements that occur: K is small. */
	int zs[MLIP_MAX_Z + 1], idx[MLIP_MAX_Z + 1];
	size_t K = 0;
	for (int z = 0; z <= MLIP_MAX_Z; z++)
		idx[z] = -1;
	for (size_t i = 0; i < n; i++)
		for (size_t a = 0; a < bs[i]->n_atoms; a++) {
			int z = bs[i]->numbers[a];
			if (idx[z] < 0) {
				idx[z] = (int)K;
				zs[K++] = z;
			}
		}
	double *A = calloc(K * K + 1, sizeof(double)), *y = calloc(K + 1, sizeof(double));
	double *cnt = calloc(K + 1, sizeof(double));
	uint8_t *mask = NULL;
	size_t used = 0;
	int rc = MLIP_OK;
	if (!A || !y || !cnt) {
		rc = mlip_err_set(err, MLIP_ENOMEM, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		const struct mlip_batch *b = bs[i];
		uint8_t *m = realloc(mask, b->n_systems + 1);
		if (!m) {
			rc = mlip_err_set(err, MLIP_ENOMEM, "out of memory");
			goto done;
		}
		mask = m;
		mlip_task_mask(task, b, 0, mask);
		for (size_t s = 0; s < b->n_systems; s++) {
			if (!mask[s])
				continue;
			memset(cnt, 0, K * sizeof(double));
			for (size_t a = b->atom_start[s]; a < b->atom_start[s + 1]; a++)
				cnt[idx[b->numbers[a]]] += 1;
			for (size_t r = 0; r < K; r++) {
				y[r] += cnt[r] * b->energy[s];
				for (size_t c = 0; c < K; c++)
					A[r * K + c] += cnt[r] * cnt[c];
			}
			used++;
		}
	}
	if (used == 0) {
		rc = mlip_err_set(err, MLIP_EINVAL,
				  "task '%s': no training system with an energy to fit element references",
				  task->cfg->name);
		goto done;
	}
	/* Compositions that never vary independently make A singular: a tiny ridge
	 * picks the minimum-norm-like solution instead of failing. */
	double maxd = 0;
	for (size_t r = 0; r < K; r++)
		maxd = fmax(maxd, A[r * K + r]);
	int ridge = 0;
	double *A2 = malloc(K * K * sizeof(double) + 1), *y2 = malloc(K * sizeof(double) + 1);
	if (!A2 || !y2) {
		free(A2);
		free(y2);
		rc = mlip_err_set(err, MLIP_ENOMEM, "out of memory");
		goto done;
	}
	memcpy(A2, A, K * K * sizeof(double));
	memcpy(y2, y, K * sizeof(double));
	if (solve(A2, y2, K) != 0 || !isfinite(y2[0])) {
		ridge = 1;
		memcpy(A2, A, K * K * sizeof(double));
		memcpy(y2, y, K * sizeof(double));
		for (size_t r = 0; r < K; r++)
			A2[r * K + r] += 1e-10 * maxd;
		solve(A2, y2, K);
	}
	if (ridge)
		mlip_log(MLIP_LOG_WARN, "task '%s': element references are not determined by the "
			 "training compositions; a small ridge was used", task->cfg->name);
	for (int z = 0; z <= MLIP_MAX_Z; z++)
		head->elref[z] = 0;
	for (size_t r = 0; r < K; r++)
		head->elref[zs[r]] = y2[r];
	head->has_elref = 1;
	free(A2);
	free(y2);
done:
	free(A);
	free(y);
	free(cnt);
	free(mask);
	return rc;
}

/* Values the head's normalizer is fitted on (see tasks.h). */
static int norm_values(const struct mlip_tasks *t, size_t h, const struct mlip_batch *const *bs,
		       size_t n, double **out, size_t *count, struct mlip_err *err)
{
	const struct mlip_task *ft = NULL;
	for (size_t k = 0; k < t->n_tasks && !ft; k++)
		if (t->tasks[k].head == h && t->tasks[k].cfg->property == MLIP_CFG_FORCES &&
		    !t->tasks[k].cfg->inference_only)
			ft = &t->tasks[k];
	const struct mlip_head *head = &t->heads[h];
	const struct mlip_task *et = head->energy_task >= 0 ? &t->tasks[head->energy_task] : NULL;
	size_t cap = 0, len = 0;
	double *v = NULL;
	uint8_t *mask = NULL;
	for (size_t i = 0; i < n; i++) {
		const struct mlip_batch *b = bs[i];
		size_t need = len + 3 * b->n_atoms + b->n_systems;
		if (need > cap) {
			cap = 2 * need;
			double *nv = realloc(v, cap * sizeof(double));
			if (!nv)
				goto oom;
			v = nv;
		}
		uint8_t *m = realloc(mask, b->n_atoms + b->n_systems + 1);
		if (!m)
			goto oom;
		mask = m;
		if (ft) {
			mlip_task_mask(ft, b, ft->cfg->train_on_free_atoms, mask);
			for (size_t a = 0; a < b->n_atoms; a++)
				if (mask[a])
					for (int c = 0; c < 3; c++)
						v[len++] = b->forces[3 * a + c];
		} else if (et) {
			mlip_task_mask(et, b, 0, mask);
			for (size_t s = 0; s < b->n_systems; s++)
				if (mask[s])
					v[len++] = (b->energy[s] - system_ref(head, b, s)) / b->natoms[s];
		}
	}
	free(mask);
	*out = v;
	*count = len;
	if (len == 0) {
		free(v);
		*out = NULL;
		return mlip_err_set(err, MLIP_EINVAL, "head '%s': no training %s to fit its normalizer",
				    head->name, ft ? "forces" : "energies");
	}
	return MLIP_OK;
oom:
	free(v);
	free(mask);
	return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
}

static int update_affine(struct mlip_head *head, struct mlip_err *err)
{
	if (!head->has_norm) {
		head->scale = 1;
		head->shift = 0;
		return MLIP_OK;
	}
	return mlip_normalizer_affine(&head->norm, &head->scale, &head->shift, err);
}

int mlip_tasks_fit(struct mlip_tasks *t, const struct mlip_batch *const *b, size_t n,
		   struct mlip_err *err)
{
	int rc;
	for (size_t h = 0; h < t->n_heads; h++) {
		struct mlip_head *head = &t->heads[h];
		if (head->energy_task >= 0) {
			const struct mlip_task *et = &t->tasks[head->energy_task];
			if (et->cfg->elref == MLIP_CFG_ELREF_FIT && (rc = fit_elref(head, et, b, n, err)))
				return rc;
		}
		if (head->has_norm) {
			double *v;
			size_t count;
			if ((rc = norm_values(t, h, b, n, &v, &count, err)))
				return rc;
			rc = mlip_normalizer_fit(&head->norm, v, count, err);
			free(v);
			if (rc)
				return mlip_err_prefix(err, rc, "head '%s': ", head->name);
		}
		if ((rc = update_affine(head, err)))
			return rc;
	}
	t->fitted = 1;
	return MLIP_OK;
}

int mlip_tasks_inherit(struct mlip_tasks *t, const struct mlip_tasks *base,
		       struct mlip_plugins *reg, struct mlip_err *err)
{
	for (size_t h = 0; h < t->n_heads; h++) {
		struct mlip_head *head = &t->heads[h];
		const struct mlip_head *from = NULL;
		for (size_t k = 0; k < base->n_heads && !from; k++)
			if (strcmp(base->heads[k].name, head->name) == 0)
				from = &base->heads[k];
		if (!from)
			continue;
		if (!head->has_norm && from->has_norm) {
			char *json = NULL;
			int rc = mlip_normalizer_to_json(&from->norm, &json, err);
			if (!rc)
				rc = mlip_normalizer_from_json(&head->norm, reg, json, err);
			free(json);
			if (rc)
				return mlip_err_prefix(err, rc, "head '%s': ", head->name);
			head->has_norm = 1;
		}
		int own_elref = head->energy_task >= 0 &&
				t->tasks[head->energy_task].cfg->elref != MLIP_CFG_ELREF_NONE;
		if (!own_elref && from->has_elref) {
			memcpy(head->elref, from->elref, sizeof(head->elref));
			head->has_elref = 1;
		}
		int rc = update_affine(head, err);
		if (rc)
			return rc;
	}
	return MLIP_OK;
}

int mlip_tasks_state_to_json(const struct mlip_tasks *t, char **json, struct mlip_err *err)
{
	json_t *root = json_object(), *heads = json_array();
	json_object_set_new(root, "heads", heads);
	for (size_t h = 0; h < t->n_heads; h++) {
		const struct mlip_head *head = &t->heads[h];
		json_t *o = json_object();
		json_object_set_new(o, "name", json_string(head->name));
		if (head->has_norm) {
			char *nj = NULL;
			int rc = mlip_normalizer_to_json(&head->norm, &nj, err);
			if (rc) {
				json_decref(o);
				json_decref(root);
				return rc;
			}
			json_error_t jerr;
			json_object_set_new(o, "normalizer", json_loads(nj, 0, &jerr));
			free(nj);
		} else {
			json_object_set_new(o, "normalizer", json_null());
		}
		if (head->has_elref) {
			json_t *r = json_object();
			for (int z = 1; z <= MLIP_MAX_Z; z++)
				if (head->elref[z] != 0)
					json_object_set_new(r, mlip_element_symbol(z), json_real(head->elref[z]));
			json_object_set_new(o, "element_references", r);
		} else {
			json_object_set_new(o, "element_references", json_null());
		}
		json_array_append_new(heads, o);
	}
	*json = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(17));
	json_decref(root);
	return *json ? MLIP_OK : mlip_err_set(err, MLIP_ENOMEM, "out of memory");
}

int mlip_tasks_state_from_json(struct mlip_tasks *t, struct mlip_plugins *reg, const char *json,
			       struct mlip_err *err)
{
	json_error_t jerr;
	json_t *root = json_loads(json, 0, &jerr);
	json_t *heads = json_object_get(root, "heads");
	int rc = MLIP_OK;
	if (!json_is_array(heads) || json_array_size(heads) != t->n_heads) {
		json_decref(root);
		return mlip_err_set(err, MLIP_EDATA, "task state: expected %zu heads", t->n_heads);
	}
	for (size_t h = 0; h < t->n_heads && !rc; h++) {
		struct mlip_head *head = &t->heads[h];
		json_t *o = json_array_get(heads, h);
		const char *name = json_string_value(json_object_get(o, "name"));
		if (!name || strcmp(name, head->name) != 0) {
			rc = mlip_err_set(err, MLIP_EDATA, "task state: head %zu is '%s', expected '%s'", h,
					  name ? name : "?", head->name);
			break;
		}
		json_t *nj = json_object_get(o, "normalizer");
		if (head->has_norm) {
			mlip_normalizer_release(&head->norm);
			head->has_norm = 0;
		}
		if (json_is_object(nj)) {
			char *text = json_dumps(nj, JSON_COMPACT | JSON_REAL_PRECISION(17));
			rc = text ? mlip_normalizer_from_json(&head->norm, reg, text, err)
				  : mlip_err_set(err, MLIP_ENOMEM, "out of memory");
			free(text);
			if (rc)
				break;
			head->has_norm = 1;
		}
		json_t *r = json_object_get(o, "element_references");
		for (int z = 0; z <= MLIP_MAX_Z; z++)
			head->elref[z] = 0;
		head->has_elref = json_is_object(r);
		if (head->has_elref) {
			const char *sym;
			json_t *val;
			json_object_foreach(r, sym, val) {
				int z = mlip_element_z(sym);
				if (!z || !json_is_number(val)) {
					rc = mlip_err_set(err, MLIP_EDATA, "task state: bad element reference '%s'", sym);
					break;
				}
				head->elref[z] = json_number_value(val);
			}
		}
		if (!rc)
			rc = update_affine(head, err);
	}
	json_decref(root);
	if (!rc)
		t->fitted = 1;
	return rc;
}

unsigned mlip_tasks_needs(const struct mlip_tasks *t, int training)
{
	unsigned need = 0;
	for (size_t k = 0; k < t->n_tasks; k++) {
		const struct mlip_task *task = &t->tasks[k];
		if (training && !task->has_loss)
			continue;
		if (task->cfg->property == MLIP_CFG_FORCES)
			need |= MLIP_HAS_FORCES;
		if (task->cfg->property == MLIP_CFG_STRESS)
			need |= MLIP_HAS_STRESS;
	}
	return need;
}

/* Gather task k's raw predictions and raw-space targets into rows. */
static void gather(const struct mlip_tasks *t, const struct mlip_task *task,
		   const struct mlip_batch *b, const double *raw_e, const double *raw_f,
		   const double *raw_s, const uint8_t *mask, double *pred, double *target)
{
	size_t H = t->n_heads, h = task->head;
	const struct mlip_head *head = &t->heads[h];
	double inv = 1.0 / head->scale;
	switch (task->cfg->property) {
	case MLIP_CFG_ENERGY:
		for (size_t s = 0; s < b->n_systems; s++) {
			pred[s] = raw_e[s * H + h];
			target[s] = mask[s] ? (b->energy[s] - system_ref(head, b, s) - head->shift) * inv : 0;
		}
		break;
	case MLIP_CFG_FORCES:
		for (size_t a = 0; a < b->n_atoms; a++)
			for (int c = 0; c < 3; c++) {
				pred[3 * a + c] = raw_f[(3 * a + c) * H + h];
				target[3 * a + c] = b->forces[3 * a + c] * inv;
			}
		break;
	case MLIP_CFG_STRESS:
		for (size_t s = 0; s < b->n_systems; s++)
			for (int c = 0; c < 9; c++) {
				pred[9 * s + c] = raw_s[(9 * s + c) * H + h];
				target[9 * s + c] = b->stress[9 * s + c] * inv;
			}
		break;
	}
}

struct loss_scratch {
	uint8_t *mask;
	double *pred, *target, *grad;
	size_t *natoms, *system;
};

static void scratch_free(struct loss_scratch *s)
{
	free(s->mask);
	free(s->pred);
	free(s->target);
	free(s->grad);
	free(s->natoms);
	free(s->system);
}

static int scratch_alloc(struct loss_scratch *s, const struct mlip_batch *b)
{
	size_t rows = b->n_atoms > b->n_systems ? b->n_atoms : b->n_systems;
	memset(s, 0, sizeof(*s));
	s->mask = malloc(rows + 1);
	s->pred = malloc((9 * rows + 1) * sizeof(double));
	s->target = malloc((9 * rows + 1) * sizeof(double));
	s->grad = malloc((9 * rows + 1) * sizeof(double));
	s->natoms = malloc((b->n_systems + 1) * sizeof(size_t));
	s->system = malloc((b->n_atoms + 1) * sizeof(size_t));
	if (!s->mask || !s->pred || !s->target || !s->grad || !s->natoms || !s->system) {
		scratch_free(s);
		return -1;
	}
	for (size_t k = 0; k < b->n_systems; k++) {
		s->natoms[k] = b->natoms[k];
		for (size_t a = b->atom_start[k]; a < b->atom_start[k + 1]; a++)
			s->system[a] = k;
	}
	return 0;
}

static void loss_batch(struct mlip_loss_batch *lb, const struct mlip_task *task,
		       const struct mlip_batch *b, const struct loss_scratch *s)
{
	lb->n_rows = task->atom_level ? b->n_atoms : b->n_systems;
	lb->width = task->width;
	lb->pred = s->pred;
	lb->target = s->target;
	lb->mask = s->mask;
	lb->n_systems = b->n_systems;
	lb->natoms = s->natoms;
	lb->system = task->atom_level ? s->system : NULL;
}

int mlip_tasks_loss_counts(const struct mlip_tasks *t, const struct mlip_batch *b,
			   uint64_t *counts, struct mlip_err *err)
{
	struct loss_scratch s;
	int rc = MLIP_OK;
	if (scratch_alloc(&s, b))
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	for (size_t k = 0; k < t->n_tasks && !rc; k++) {
		const struct mlip_task *task = &t->tasks[k];
		counts[k] = 0;
		if (!task->has_loss)
			continue;
		struct mlip_loss_batch lb;
		size_t c = 0;
		mlip_task_mask(task, b, task->cfg->train_on_free_atoms, s.mask);
		loss_batch(&lb, task, b, &s);
		rc = mlip_loss_count(&task->loss, &lb, &c, err);
		counts[k] = c;
	}
	scratch_free(&s);
	return rc;
}

int mlip_tasks_loss(const struct mlip_tasks *t, const struct mlip_batch *b, const double *raw_e,
		    const double *raw_f, const double *raw_s, const uint64_t *global_counts,
		    double *task_loss, double *dE, double *dF, double *dS, struct mlip_err *err)
{
	struct loss_scratch s;
	int rc = MLIP_OK;
	size_t H = t->n_heads;
	if (scratch_alloc(&s, b))
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	for (size_t k = 0; k < t->n_tasks && !rc; k++) {
		const struct mlip_task *task = &t->tasks[k];
		task_loss[k] = 0;
		if (!task->has_loss)
			continue;
		enum mlip_cfg_property p = task->cfg->property;
		if ((p == MLIP_CFG_FORCES && (!raw_f || !dF)) || (p == MLIP_CFG_STRESS && (!raw_s || !dS))) {
			rc = mlip_err_set(err, MLIP_EINVAL, "task '%s' needs the model's %s", task->cfg->name,
					  mlip_cfg_property_name(p));
			break;
		}
		struct mlip_loss_batch lb;
		mlip_task_mask(task, b, task->cfg->train_on_free_atoms, s.mask);
		gather(t, task, b, raw_e, raw_f, raw_s, s.mask, s.pred, s.target);
		loss_batch(&lb, task, b, &s);
		size_t n = lb.n_rows * lb.width, h = task->head;
		memset(s.grad, 0, n * sizeof(double));
		if ((rc = mlip_loss_forward(&task->loss, &lb, (size_t)global_counts[k], &task_loss[k],
					    s.grad, err))) {
			mlip_err_prefix(err, rc, "task '%s': ", task->cfg->name);
			break;
		}
		double *dst = p == MLIP_CFG_ENERGY ? dE : p == MLIP_CFG_FORCES ? dF : dS;
		for (size_t i = 0; i < n; i++)
			dst[i * H + h] += s.grad[i];
	}
	scratch_free(&s);
	return rc;
}

void mlip_tasks_physical(const struct mlip_tasks *t, const struct mlip_batch *b,
			 const double *raw_e, const double *raw_f, const double *raw_s,
			 double *energy, double *forces, double *stress)
{
	size_t H = t->n_heads;
	for (size_t h = 0; h < H; h++) {
		const struct mlip_head *head = &t->heads[h];
		if (energy && raw_e)
			for (size_t s = 0; s < b->n_systems; s++)
				energy[s * H + h] = head->scale * raw_e[s * H + h] + head->shift +
						    system_ref(head, b, s);
		if (forces && raw_f)
			for (size_t i = 0; i < 3 * b->n_atoms; i++)
				forces[i * H + h] = head->scale * raw_f[i * H + h];
		if (stress && raw_s)
			for (size_t i = 0; i < 9 * b->n_systems; i++)
				stress[i * H + h] = head->scale * raw_s[i * H + h];
	}
}

int mlip_tasks_add_metrics(const struct mlip_tasks *t, struct mlip_metrics *m,
			   const struct mlip_batch *b, const double *energy, const double *forces,
			   const double *stress, struct mlip_err *err)
{
	size_t H = t->n_heads;
	uint8_t *mask = malloc(b->n_atoms + b->n_systems + 1);
	long *ds = malloc((b->n_systems + 1) * sizeof(long));
	if (!mask || !ds) {
		free(mask);
		free(ds);
		return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
	}
	for (size_t s = 0; s < b->n_systems; s++)
		if ((ds[s] = mlip_metrics_dataset(m, b->dataset[s])) < 0) {
			free(mask);
			free(ds);
			return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
		}
	for (size_t k = 0; k < t->n_tasks; k++) {
		const struct mlip_task *task = &t->tasks[k];
		size_t h = task->head;
		double p[9], q[9];
		if (task->cfg->inference_only)
			continue;
		mlip_task_mask(task, b, task->cfg->eval_on_free_atoms, mask);
		for (size_t s = 0; s < b->n_systems; s++) {
			switch (task->cfg->property) {
			case MLIP_CFG_ENERGY:
				if (!mask[s] || !energy)
					break;
				p[0] = energy[s * H + h];
				q[0] = b->energy[s];
				mlip_metrics_add_row(m, (size_t)ds[s], k, p, q, 1, b->natoms[s],
						     task->cfg->energy_threshold);
				break;
			case MLIP_CFG_FORCES:
				if (!forces)
					break;
				for (size_t a = b->atom_start[s]; a < b->atom_start[s + 1]; a++) {
					if (!mask[a])
						continue;
					for (int c = 0; c < 3; c++) {
						p[c] = forces[(3 * a + c) * H + h];
						q[c] = b->forces[3 * a + c];
					}
					mlip_metrics_add_row(m, (size_t)ds[s], k, p, q, 3, b->natoms[s], 0);
				}
				break;
			case MLIP_CFG_STRESS:
				if (!mask[s] || !stress)
					break;
				for (int c = 0; c < 9; c++) {
					p[c] = stress[(9 * s + c) * H + h];
					q[c] = b->stress[9 * s + c];
				}
				mlip_metrics_add_row(m, (size_t)ds[s], k, p, q, 9, b->natoms[s], 0);
				break;
			}
		}
	}
	free(mask);
	free(ds);
	return MLIP_OK;
}
