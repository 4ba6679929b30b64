/*
 * config.c - the training configuration: schema checks on a yamltree and
 * the typed struct mlip_config, and the resolved (all defaults) write-back.
 *
 * Conventions: every section is checked for unknown keys before its values
 * are read, so a misspelt key is reported as such and not as a missing one.
 * Keys are named by their dotted path in messages ("tasks.1.loss.name").
 * A null value (`key:` or `key: ~`) means "the default" wherever a key is
 * optional. Defaults are set in set_defaults() and task_defaults(), except
 * the ones that follow other keys (model.seed from seed, a task's level from
 * its property, a descriptor's cutoff from the model's). The resolved writer
 * emits every field, so a resolved file does not depend on the defaults of
 * the version that reads it.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "config.h"
#include "mtp.h"
#include "elements.h"
#include "banned.h"

#define KEYS(...) ((const char *const[]){ __VA_ARGS__, NULL })

static const char *const activation_names[] = { "tanh", "silu", "softplus", NULL };
static const char *const precision_names[] = { "float64", "float32", NULL };
static const char *const scaling_names[] = { "adamw", "none", NULL };
static const char *const sf_kind_names[] = { "g2", "g3", "g9", NULL };
static const char *const level_names[] = { "system", "atom", NULL };
static const char *const property_names[] = { "energy", "forces", "stress", NULL };
static const char *const reduction_names[] = { "mean", "sum", "per_structure", NULL };
static const char *const strategy_names[] = { "ddp", "sharded", NULL };
static const char *const model_names[] = { "bpnn", NULL };
/* adamw: gradient descent (then L-BFGS); lstsq: the exact solver of a linear model (lstsq.h) */
static const char *const optim_names[] = { "adamw", "lstsq", NULL };
static const char *const metric_names[] = { "mae", "mse", "rmse", "per_atom_mae",
					    "per_atom_mse", "cosine_similarity",
					    "magnitude_error", "energy_within_threshold", NULL };

const char *mlip_cfg_activation_name(enum mlip_cfg_activation a) { return activation_names[a]; }
const char *mlip_cfg_precision_name(enum mlip_cfg_precision p) { return precision_names[p]; }
const char *mlip_cfg_sf_kind_name(enum mlip_cfg_sf_kind k) { return sf_kind_names[k]; }
const char *mlip_cfg_level_name(enum mlip_cfg_level l) { return level_names[l]; }
const char *mlip_cfg_property_name(enum mlip_cfg_property p) { return property_names[p]; }
const char *mlip_cfg_reduction_name(enum mlip_cfg_reduction r) { return reduction_names[r]; }
const char *mlip_cfg_strategy_name(enum mlip_cfg_strategy s) { return strategy_names[s]; }

/* ---- small helpers ---- */

typedef struct mlip_yaml_node node_t;

/* "prefix.key" into buf ("key" for an empty prefix). */
static const char *join(char *buf, size_t size, const char *prefix, const char *key)
{
	if (snprintf(buf, size, "%s%s%s", prefix, *prefix ? "." : "", key) >= (int)size && size > 4)
		memcpy(buf + size - 4, "...", 4);
	return buf;
}

static const char *joini(char *buf, size_t size, const char *prefix, size_t i)
{
	if (snprintf(buf, size, "%s.%zu", prefix, i) >= (int)size && size > 4)
		memcpy(buf + size - 4, "...", 4);
	return buf;
}

/* "a, b, c" for hints. */
static const char *list_names(char *buf, size_t size, const char *const *names)
{
	size_t used = 0;
	buf[0] = '\0';
	for (size_t i = 0; names[i] && used < size; i++)
		used += (size_t)snprintf(buf + used, size - used, "%s%s", i ? ", " : "", names[i]);
	return buf;
}

/* Edit distance with adjacent transpositions (optimal string alignment). */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), d[33][33];
	if (la > 32 || lb > 32)
		return 99;
	for (size_t i = 0; i <= la; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= lb; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= la; i++) {
		for (size_t j = 1; j <= lb; j++) {
			size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	}
	return d[la][lb];
}

/*
 * The valid name closest to s when it is a plausible typo (one edit, or
 * two for names of five letters or more), else NULL.
 */
static const char *suggest(const char *s, const char *const *names)
{
	const char *best = NULL;
	size_t bd = 3;
	for (size_t i = 0; names[i]; i++) {
		size_t d = edit_distance(s, names[i]);
		size_t len = strlen(names[i]);
		if (d < bd && d < len && d <= (len >= 5 ? 2u : 1u)) {
			bd = d;
			best = names[i];
		}
	}
	return best;
}

static int in_list(const char *s, const char *const *names)
{
	for (int i = 0; names[i]; i++)
		if (!strcmp(s, names[i]))
			return i;
	return -1;
}

static int nomem(struct mlip_err *err)
{
	return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
}

static int bad(struct mlip_err *err, const node_t *n, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int bad(struct mlip_err *err, const node_t *n, const char *key, const char *fmt, ...)
{
	char msg[MLIP_ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return mlip_yaml_errf(err, MLIP_EINVAL, n, key, "%s", msg);
}

/* "must be > 0, got '-1'" */
static int range(struct mlip_err *err, const node_t *n, const char *key, const char *rule)
{
	return bad(err, n, key, "must be %s, got '%.60s'", rule, n->text ? n->text : "?");
}

static int need_map(const node_t *n, const char *key, struct mlip_err *err)
{
	if (n->kind == MLIP_YAML_MAPPING)
		return MLIP_OK;
	if (n->kind == MLIP_YAML_SCALAR)
		return bad(err, n, key, "expected a mapping, got %s%.60s%s",
			   mlip_yaml_is_null(n) ? "null" : "'", mlip_yaml_is_null(n) ? "" : n->text,
			   mlip_yaml_is_null(n) ? "" : "'");
	return bad(err, n, key, "expected a mapping, got a sequence");
}

/* Every key of map must be one of valid (NULL-terminated). */
static int check_keys(const node_t *map, const char *prefix, const char *const *valid,
		      struct mlip_err *err)
{
	for (size_t i = 0; i < map->n; i++) {
		const char *k = map->keys[i]->text;
		char full[256], hint[512];
		if (in_list(k, valid) >= 0)
			continue;
		const char *s = suggest(k, valid);
		list_names(hint, sizeof(hint), valid);
		join(full, sizeof(full), prefix, k);
		if (s)
			return mlip_yaml_errf(err, MLIP_EINVAL, map->keys[i], NULL,
					      "unknown key '%s' (did you mean '%s'? valid keys: %s)",
					      full, s, hint);
		return mlip_yaml_errf(err, MLIP_EINVAL, map->keys[i], NULL,
				      "unknown key '%s' (valid keys: %s)", full, hint);
	}
	return MLIP_OK;
}

/* The value of key in map unless absent or null. */
static const node_t *opt(const node_t *map, const char *key)
{
	const node_t *n = mlip_yaml_map_get(map, key);
	return n && !mlip_yaml_is_null(n) ? n : NULL;
}

/* The value of a required key (null counts as missing). */
static int req(const node_t *map, const char *prefix, const char *key, const node_t **out,
	       struct mlip_err *err)
{
	char full[256];
	if ((*out = opt(map, key)))
		return MLIP_OK;
	const node_t *k = mlip_yaml_map_key(map, key);
	return mlip_yaml_errf(err, MLIP_EINVAL, k ? k : map, NULL, "%s required key '%s'",
			      k ? "no value for" : "missing", join(full, sizeof(full), prefix, key));
}

static int get_double(const node_t *map, const char *prefix, const char *key, double *out,
		      const node_t **where, struct mlip_err *err)
{
	char full[256];
	const node_t *n = opt(map, key);
	if (where)
		*where = n;
	return n ? mlip_yaml_as_double(n, join(full, sizeof(full), prefix, key), 0, out, err)
		 : MLIP_OK;
}

static int get_int(const node_t *map, const char *prefix, const char *key, int64_t *out,
		   const node_t **where, struct mlip_err *err)
{
	char full[256];
	const node_t *n = opt(map, key);
	if (where)
		*where = n;
	return n ? mlip_yaml_as_int(n, join(full, sizeof(full), prefix, key), out, err) : MLIP_OK;
}

/* An integer >= min, if present. */
static int get_count(const node_t *map, const char *prefix, const char *key, int64_t min,
		     int64_t *out, struct mlip_err *err)
{
	const node_t *n;
	char full[256], rule[64];
	int rc = get_int(map, prefix, key, out, &n, err);
	if (rc || !n || *out >= min)
		return rc;
	snprintf(rule, sizeof(rule), ">= %lld", (long long)min);
	return range(err, n, join(full, sizeof(full), prefix, key), rule);
}

static int get_bool(const node_t *map, const char *prefix, const char *key, bool *out,
		    struct mlip_err *err)
{
	char full[256];
	const node_t *n = opt(map, key);
	return n ? mlip_yaml_as_bool(n, join(full, sizeof(full), prefix, key), out, err) : MLIP_OK;
}

/* A non-empty string, replacing *out (owned) if present. */
static int get_str(const node_t *map, const char *prefix, const char *key, char **out,
		   struct mlip_err *err)
{
	char full[256];
	const node_t *n = opt(map, key);
	const char *s;
	int rc;
	if (!n)
		return MLIP_OK;
	join(full, sizeof(full), prefix, key);
	if ((rc = mlip_yaml_as_string(n, full, &s, err)))
		return rc;
	if (!*s)
		return bad(err, n, full, "must not be empty");
	char *c = strdup(s);
	if (!c)
		return nomem(err);
	free(*out);
	*out = c;
	return MLIP_OK;
}

/* One of names for a node; *out is the index. */
static int as_enum(const node_t *n, const char *key, const char *const *names, int *out,
		   struct mlip_err *err)
{
	const char *s;
	char hint[256];
	int rc = mlip_yaml_as_string(n, key, &s, err), i;
	if (rc)
		return rc;
	if ((i = in_list(s, names)) >= 0) {
		*out = i;
		return MLIP_OK;
	}
	const char *sg = suggest(s, names);
	list_names(hint, sizeof(hint), names);
	if (sg)
		return bad(err, n, key, "unknown value '%.60s' (did you mean '%s'? valid: %s)", s,
			   sg, hint);
	return bad(err, n, key, "unknown value '%.60s' (valid: %s)", s, hint);
}

static int get_enum(const node_t *map, const char *prefix, const char *key,
		    const char *const *names, int *out, struct mlip_err *err)
{
	char full[256];
	const node_t *n = opt(map, key);
	return n ? as_enum(n, join(full, sizeof(full), prefix, key), names, out, err) : MLIP_OK;
}

/* A list of non-empty strings (a lone string counts), replacing *out. */
static int get_strings(const node_t *map, const char *prefix, const char *key, char ***out,
		       size_t *count, const node_t **where, struct mlip_err *err)
{
	char full[256];
	const node_t *n = opt(map, key);
	char **v;
	size_t k;
	int rc;
	if (where)
		*where = n;
	if (!n)
		return MLIP_OK;
	join(full, sizeof(full), prefix, key);
	if ((rc = mlip_yaml_as_strings(n, full, MLIP_YAML_SCALAR_AS_LIST, &v, &k, err)))
		return rc;
	for (size_t i = 0; i < k; i++) {
		if (!v[i][0]) {
			char ik[256];
			const node_t *item = n->kind == MLIP_YAML_SEQUENCE ? n->items[i] : n;
			mlip_yaml_strings_free(v, k);
			return bad(err, item, n->kind == MLIP_YAML_SEQUENCE ?
				   joini(ik, sizeof(ik), full, i) : full, "must not be empty");
		}
	}
	mlip_yaml_strings_free(*out, *count);
	*out = v;
	*count = k;
	return MLIP_OK;
}

static char **strings_dup(const char *const *s, size_t n)
{
	char **v = calloc(n ? n : 1, sizeof(*v));
	for (size_t i = 0; v && i < n; i++) {
		if (!(v[i] = strdup(s[i]))) {
			mlip_yaml_strings_free(v, i);
			return NULL;
		}
	}
	return v;
}

/* The i-th item node of a list value (the value itself for a lone scalar). */
static const node_t *item_of(const node_t *n, size_t i)
{
	return n->kind == MLIP_YAML_SEQUENCE ? n->items[i] : n;
}

static const char *item_key(char *buf, size_t size, const node_t *n, const char *key, size_t i)
{
	if (n->kind == MLIP_YAML_SEQUENCE)
		return joini(buf, size, key, i);
	snprintf(buf, size, "%s", key);
	return buf;
}

/* ---- defaults ---- */

static void plugin_release(struct mlip_config_plugin *p)
{
	free(p->name);
	mlip_yaml_free(p->params);
	free(p->params_json);
	memset(p, 0, sizeof(*p));
}

static void task_release(struct mlip_config_task *t)
{
	free(t->name);
	free(t->head);
	mlip_yaml_strings_free(t->datasets, t->n_datasets);
	plugin_release(&t->loss);
	plugin_release(&t->normalizer);
	free(t->elref_z);
	free(t->elref_value);
	mlip_yaml_strings_free(t->metrics, t->n_metrics);
	memset(t, 0, sizeof(*t));
}

void mlip_config_init(struct mlip_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
}

void mlip_config_release(struct mlip_config *cfg)
{
	struct mlip_config_model *m = &cfg->model;
	mlip_yaml_free(cfg->tree);
	mlip_yaml_strings_free(cfg->data.train, cfg->data.n_train);
	mlip_yaml_strings_free(cfg->data.val, cfg->data.n_val);
	free(m->init_from);
	free(m->name);
	free(m->elements);
	free(m->hidden);
	mlip_yaml_strings_free(m->heads, m->n_heads);
	free(m->descriptors);
	for (size_t i = 0; i < cfg->n_tasks; i++)
		task_release(&cfg->tasks[i]);
	free(cfg->tasks);
	free(cfg->optim.name);
	memset(cfg, 0, sizeof(*cfg));
}

/* Every default, in one place (the man page lists the same values). */
static int set_defaults(struct mlip_config *cfg)
{
	static const char *const energy[] = { "energy" };
	cfg->seed = 0;
	cfg->model.activation = MLIP_CFG_TANH;
	cfg->model.precision = MLIP_CFG_FLOAT64;
	cfg->optim.weight_decay = 0;
	cfg->optim.betas[0] = 0.9;
	cfg->optim.betas[1] = 0.999;
	cfg->optim.eps = 1e-8;
	cfg->optim.lbfgs_steps = 0;
	cfg->optim.lbfgs_history = 10;
	cfg->optim.lbfgs_scaling = MLIP_CFG_SCALING_ADAMW;
	cfg->optim.ridge = MLIP_CFG_DEFAULT_RIDGE;
	cfg->schedule.warmup_factor = 0.2;
	cfg->schedule.warmup_epochs = 0;
	cfg->schedule.lr_min_factor = 0.01;
	cfg->train.clip_grad_norm = 0;
	cfg->train.ema = false;
	cfg->train.print_every = 10;
	cfg->train.eval_every = 0;
	cfg->train.checkpoint_every = 0;
	cfg->train.max_saved_checkpoints = 2;
	cfg->train.strategy = MLIP_CFG_DDP;
	cfg->train.max_nonfinite_steps = 10;
	cfg->train.debug_checksums = false;
	cfg->train.profile_flops = false;
	cfg->train.save_inference_ckpt = true;
	if (!(cfg->model.name = strdup("bpnn")) || !(cfg->optim.name = strdup("adamw")) ||
	    !(cfg->model.heads = strings_dup(energy, 1)))
		return MLIP_ENOMEM;
	cfg->model.n_heads = 1;
	return MLIP_OK;
}

static int task_defaults(struct mlip_config_task *t)
{
	static const char *const mae[] = { "mae" };
	t->loss_coefficient = 1.0;
	t->loss_reduction = MLIP_CFG_MEAN;
	t->elref = MLIP_CFG_ELREF_NONE;
	t->energy_threshold = 0.02;
	t->train_on_free_atoms = true;
	t->eval_on_free_atoms = true;
	t->inference_only = false;
	if (!(t->head = strdup("energy")) || !(t->metrics = strings_dup(mae, 1)))
		return MLIP_ENOMEM;
	t->n_metrics = 1;
	return MLIP_OK;
}

/* ---- sections ---- */

static int load_data(const node_t *root, struct mlip_config *cfg, struct mlip_err *err)
{
	const node_t *d, *tn, *vn;
	int rc;
	if ((rc = req(root, "", "data", &d, err)) || (rc = need_map(d, "data", err)) ||
	    (rc = check_keys(d, "data", KEYS("train", "val"), err)) ||
	    (rc = req(d, "data", "train", &tn, err)) ||
	    (rc = get_strings(d, "data", "train", &cfg->data.train, &cfg->data.n_train, &tn, err)) ||
	    (rc = get_strings(d, "data", "val", &cfg->data.val, &cfg->data.n_val, &vn, err)))
		return rc;
	if (cfg->data.n_train == 0)
		return bad(err, tn, "data.train", "needs at least one batch stream");
	/* stdin can feed one stream only */
	const node_t *first = NULL;
	for (size_t k = 0; k < cfg->data.n_train + cfg->data.n_val; k++) {
		bool tr = k < cfg->data.n_train;
		size_t i = tr ? k : k - cfg->data.n_train;
		const node_t *item = item_of(tr ? tn : vn, i);
		char key[64], where[256];
		if (strcmp(tr ? cfg->data.train[i] : cfg->data.val[i], "-"))
			continue;
		if (first)
			return bad(err, item, item_key(key, sizeof(key), tr ? tn : vn,
						       tr ? "data.train" : "data.val", i),
				   "standard input ('-') is already used at %s",
				   mlip_yaml_where(first, where, sizeof(where)));
		first = item;
	}
	return MLIP_OK;
}

static int element_z(const node_t *n, const char *key, const char *sym, int *z,
		     struct mlip_err *err)
{
	if (!(*z = mlip_element_z(sym)))
		return bad(err, n, key, "unknown element symbol '%.20s'", sym);
	return MLIP_OK;
}

/*
 * model.descriptor: the descriptor family. {type: symmetry_functions} is the
 * default (model.descriptors / angular_shells say which functions);
 * {type: mtp, level: L, r_min, n_radial, max_order, n_pair, train_radial} is the
 * moment tensor basis of mtp.h, which takes neither.
 */
static int load_basis(const node_t *mn, struct mlip_config_model *m, struct mlip_err *err)
{
	static const char *const types[] = { "symmetry_functions", "mtp", NULL };
	const node_t *n = opt(mn, "descriptor"), *w;
	int type = 0, rc;
	if (!n)
		return MLIP_OK;
	if (n->kind != MLIP_YAML_MAPPING)
		return bad(err, n, "model.descriptor", "expected a mapping such as {type: mtp, level: 16}");
	if ((rc = check_keys(n, "model.descriptor", KEYS("type", "level", "r_min", "n_radial",
							     "max_order", "n_pair", "train_radial"), err)) ||
	    (rc = req(n, "model.descriptor", "type", &w, err)) ||
	    (rc = get_enum(n, "model.descriptor", "type", types, &type, err)))
		return rc;
	if (type == 0) {
		static const char *const mtp_only[] = { "level", "r_min", "n_radial", "max_order",
							"n_pair", "train_radial" };
		const node_t *extra = NULL;
		for (size_t k = 0; k < sizeof(mtp_only) / sizeof(mtp_only[0]) && !extra; k++)
			extra = opt(n, mtp_only[k]);
		return extra ? bad(err, extra, "model.descriptor", "level, r_min, n_radial, max_order, "
				   "n_pair and train_radial are options of type mtp") : MLIP_OK;
	}
	if (m->n_descriptors || m->angular_shells)
		return bad(err, n, "model.descriptor", "type mtp replaces the symmetry functions: "
			   "leave out model.descriptors and model.angular_shells");
	if ((rc = req(n, "model.descriptor", "level", &w, err)) ||
	    (rc = get_int(n, "model.descriptor", "level", &m->mtp_level, &w, err)))
		return rc;
	if (m->mtp_level < 2 || m->mtp_level > MLIP_MTP_MAX_LEVEL || m->mtp_level % 2)
		return range(err, w, "model.descriptor.level", "an even number in 2..28");
	m->mtp_max_order = 3;
	if ((rc = get_double(n, "model.descriptor", "r_min", &m->mtp_r_min, &w, err)))
		return rc;
	if (w && !(m->mtp_r_min >= 0 && m->mtp_r_min < m->cutoff))
		return range(err, w, "model.descriptor.r_min", ">= 0 and below model.cutoff");
	if ((rc = get_int(n, "model.descriptor", "n_radial", &m->mtp_n_radial, &w, err)))
		return rc;
	if (w && (m->mtp_n_radial < 0 || m->mtp_n_radial > 64))
		return range(err, w, "model.descriptor.n_radial", "in 0..64 (0: max(8, radial functions))");
	if ((rc = get_int(n, "model.descriptor", "max_order", &m->mtp_max_order, &w, err)))
		return rc;
	if (w && (m->mtp_max_order < 1 || m->mtp_max_order > MLIP_MTP_MAX_ORDER))
		return range(err, w, "model.descriptor.max_order", "in 1..3");
	if ((rc = get_int(n, "model.descriptor", "n_pair", &m->mtp_n_pair, &w, err)))
		return rc;
	if (w && (m->mtp_n_pair < 0 || m->mtp_n_pair > 64))
		return range(err, w, "model.descriptor.n_pair", "in 0..64 (0: the level's)");
	if (w && m->mtp_n_radial && m->mtp_n_pair > m->mtp_n_radial)
		return bad(err, w, "model.descriptor.n_pair", "must be at most n_radial (%d), got "
			   "'%.60s': more two-body functions than Chebyshev functions are linearly "
			   "dependent", (int)m->mtp_n_radial, w->text ? w->text : "?");
	/* absent: fixed, as in every model file written before the key existed */
	return get_bool(n, "model.descriptor", "train_radial", &m->mtp_train_radial, err);
}

/* Z must be one of the model's elements. */
static int model_has(const struct mlip_config_model *m, const node_t *n, const char *key, int z,
		     struct mlip_err *err)
{
	char list[256];
	size_t used = 0;
	for (size_t i = 0; i < m->n_elements; i++)
		if (m->elements[i] == z)
			return MLIP_OK;
	list[0] = '\0';
	for (size_t i = 0; i < m->n_elements && used < sizeof(list); i++)
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "",
					 mlip_element_symbol(m->elements[i]));
	return bad(err, n, key, "element '%s' is not in model.elements (%s)",
		   mlip_element_symbol(z), list);
}

static int load_descriptor(const node_t *d, const char *key, struct mlip_config_model *m,
			   struct mlip_config_descriptor *out, struct mlip_err *err)
{
	const node_t *n, *en, *w;
	char full[256];
	int kind = 0, rc;
	char **els = NULL;
	size_t nel = 0;

	memset(out, 0, sizeof(*out));
	if ((rc = need_map(d, key, err)) ||
	    (rc = check_keys(d, key, KEYS("kind", "elements", "eta", "rs", "lambda", "zeta",
					  "cutoff"), err)) ||
	    (rc = req(d, key, "kind", &n, err)) ||
	    (rc = as_enum(n, join(full, sizeof(full), key, "kind"), sf_kind_names, &kind, err)))
		return rc;
	out->kind = kind;
	if (kind == MLIP_CFG_G2) {
		for (int i = 0; i < 2; i++) {
			const char *k = i ? "zeta" : "lambda";
			if ((w = mlip_yaml_map_key(d, k)))
				return bad(err, w, join(full, sizeof(full), key, k),
					   "not used by g2 (only g3 and g9 have it)");
		}
	}
	if ((rc = req(d, key, "elements", &en, err)) ||
	    (rc = get_strings(d, key, "elements", &els, &nel, &en, err)))
		return rc;
	join(full, sizeof(full), key, "elements");
	size_t want = kind == MLIP_CFG_G2 ? 1 : 2;
	if (nel != want) {
		mlip_yaml_strings_free(els, nel);
		return bad(err, en, full, "%s takes %zu neighbour element%s, got %zu",
			   sf_kind_names[kind], want, want > 1 ? "s" : "", nel);
	}
	for (size_t i = 0; i < nel; i++) {
		char ik[256];
		const node_t *item = item_of(en, i);
		item_key(ik, sizeof(ik), en, full, i);
		if ((rc = element_z(item, ik, els[i], &out->elements[i], err)) ||
		    (rc = model_has(m, item, ik, out->elements[i], err)))
			break;
	}
	mlip_yaml_strings_free(els, nel);
	if (rc)
		return rc;

	if ((rc = req(d, key, "eta", &n, err)) ||
	    (rc = get_double(d, key, "eta", &out->eta, &w, err)))
		return rc;
	if (out->eta < 0)
		return range(err, w, join(full, sizeof(full), key, "eta"), ">= 0");
	if ((rc = get_double(d, key, "rs", &out->rs, &w, err)))
		return rc;
	if (out->rs < 0)
		return range(err, w, join(full, sizeof(full), key, "rs"), ">= 0");
	out->cutoff = m->cutoff;
	if ((rc = get_double(d, key, "cutoff", &out->cutoff, &w, err)))
		return rc;
	if (w && !(out->cutoff > 0 && out->cutoff <= m->cutoff)) {
		char rule[64];
		snprintf(rule, sizeof(rule), "in (0, model.cutoff = %g]", m->cutoff);
		return range(err, w, join(full, sizeof(full), key, "cutoff"), rule);
	}
	if (kind != MLIP_CFG_G2) {
		if ((rc = req(d, key, "lambda", &n, err)) ||
		    (rc = get_double(d, key, "lambda", &out->lambda, &w, err)))
			return rc;
		if (out->lambda != 1 && out->lambda != -1)
			return range(err, w, join(full, sizeof(full), key, "lambda"), "-1 or 1");
		if ((rc = req(d, key, "zeta", &n, err)) ||
		    (rc = get_double(d, key, "zeta", &out->zeta, &w, err)))
			return rc;
		if (!(out->zeta >= 1))
			return range(err, w, join(full, sizeof(full), key, "zeta"), ">= 1");
	}
	return MLIP_OK;
}

static int load_model(const node_t *root, struct mlip_config *cfg, struct mlip_err *err)
{
	struct mlip_config_model *m = &cfg->model;
	const node_t *mn, *n, *w;
	int rc, e;
	int64_t seed = (int64_t)cfg->seed;
	char **syms = NULL;
	size_t nsym = 0;

	if ((rc = req(root, "", "model", &mn, err)) || (rc = need_map(mn, "model", err)))
		return rc;
	if (opt(mn, "init_from")) {
		/* the checkpoint defines the model; a second definition would be ignored */
		for (size_t i = 0; i < mn->n; i++)
			if (strcmp(mn->keys[i]->text, "init_from"))
				return mlip_yaml_errf(err, MLIP_EINVAL, mn->keys[i], NULL,
						      "key 'model.%s' cannot be combined with "
						      "'model.init_from' (the model comes from the "
						      "checkpoint)", mn->keys[i]->text);
		free(m->name);
		m->name = NULL;
		mlip_yaml_strings_free(m->heads, m->n_heads);
		m->heads = NULL;
		m->n_heads = 0;
		return get_str(mn, "model", "init_from", &m->init_from, err);
	}
	if ((rc = check_keys(mn, "model", KEYS("name", "cutoff", "elements", "hidden",
					       "activation", "heads", "seed", "descriptors",
					       "angular_shells", "descriptor", "precision", "init_from"),
			     err)) ||
	    (rc = get_enum(mn, "model", "name", model_names, &e, err)))
		return rc;

	if ((rc = req(mn, "model", "cutoff", &n, err)) ||
	    (rc = get_double(mn, "model", "cutoff", &m->cutoff, &w, err)))
		return rc;
	if (!(m->cutoff > 0))
		return range(err, w, "model.cutoff", "> 0");

	if ((rc = req(mn, "model", "elements", &n, err)) ||
	    (rc = get_strings(mn, "model", "elements", &syms, &nsym, &n, err)))
		return rc;
	if (nsym == 0)
		return bad(err, n, "model.elements", "needs at least one element");
	if (!(m->elements = calloc(nsym, sizeof(*m->elements)))) {
		mlip_yaml_strings_free(syms, nsym);
		return nomem(err);
	}
	for (size_t i = 0; i < nsym && !rc; i++) {
		char ik[64];
		const node_t *item = item_of(n, i);
		item_key(ik, sizeof(ik), n, "model.elements", i);
		if ((rc = element_z(item, ik, syms[i], &m->elements[i], err)))
			break;
		for (size_t j = 0; j < i; j++)
			if (m->elements[j] == m->elements[i])
				rc = bad(err, item, ik, "duplicate element '%s'", syms[i]);
		m->n_elements = i + 1;
	}
	mlip_yaml_strings_free(syms, nsym);
	if (rc)
		return rc;

	if ((rc = req(mn, "model", "hidden", &n, err)) ||
	    (rc = mlip_yaml_as_ints(n, "model.hidden", MLIP_YAML_SCALAR_AS_LIST, &m->hidden,
				    &m->n_hidden, err)))
		return rc;
	for (size_t i = 0; i < m->n_hidden; i++) {
		char ik[64];
		if (m->hidden[i] < 1 || m->hidden[i] > 1000000)
			return range(err, item_of(n, i), item_key(ik, sizeof(ik), n, "model.hidden", i),
				     "a width in 1..1000000");
	}

	e = m->activation;
	if ((rc = get_enum(mn, "model", "activation", activation_names, &e, err)))
		return rc;
	m->activation = e;
	e = m->precision;
	if ((rc = get_enum(mn, "model", "precision", precision_names, &e, err)))
		return rc;
	m->precision = e;

	if ((rc = get_strings(mn, "model", "heads", &m->heads, &m->n_heads, &n, err)))
		return rc;
	if (n && m->n_heads == 0)
		return bad(err, n, "model.heads", "needs at least one head");
	for (size_t i = 0; i < m->n_heads; i++)
		for (size_t j = 0; j < i; j++)
			if (!strcmp(m->heads[i], m->heads[j])) {
				char ik[64];
				return bad(err, item_of(n, i), item_key(ik, sizeof(ik), n,
									"model.heads", i),
					   "duplicate head '%s'", m->heads[i]);
			}

	if ((rc = get_int(mn, "model", "seed", &seed, &w, err)))
		return rc;
	if (seed < 0)
		return range(err, w, "model.seed", ">= 0");
	m->seed = (uint64_t)seed;

	if ((n = opt(mn, "descriptors"))) {
		if (n->kind != MLIP_YAML_SEQUENCE)
			return bad(err, n, "model.descriptors", "expected a sequence of mappings");
		if (n->n == 0)
			return bad(err, n, "model.descriptors", "is empty (leave the key out for "
				   "the model's default set)");
		if (!(m->descriptors = calloc(n->n, sizeof(*m->descriptors))))
			return nomem(err);
		for (size_t i = 0; i < n->n; i++) {
			char ik[64];
			if ((rc = load_descriptor(n->items[i], joini(ik, sizeof(ik),
					"model.descriptors", i), m, &m->descriptors[i], err)))
				return rc;
			m->n_descriptors = i + 1;
		}
	}
	if ((rc = get_int(mn, "model", "angular_shells", &m->angular_shells, &w, err)))
		return rc;
	if (w && (m->angular_shells < 0 || m->angular_shells > 16))
		return range(err, w, "model.angular_shells", "in 0..16");
	if (w && m->angular_shells > 0 && m->n_descriptors > 0)
		return bad(err, w, "model.angular_shells", "adds to the default set; with "
			   "model.descriptors list the functions there instead");
	return load_basis(mn, m, err);
}

/*
 * A plugin reference: "NAME" or {name: NAME, ...params}; reserved keys are
 * not parameters.
 */
static int load_plugin(const node_t *n, const char *key, const char *const *reserved,
		       struct mlip_config_plugin *p, struct mlip_err *err)
{
	char full[256];
	const char *s;
	int rc;
	if (!(p->params = mlip_yaml_mapping_new()))
		return nomem(err);
	if (n->kind == MLIP_YAML_SCALAR) {
		if ((rc = mlip_yaml_as_string(n, key, &s, err)))
			return rc;
	} else {
		const node_t *nn;
		if ((rc = need_map(n, key, err)) || (rc = req(n, key, "name", &nn, err)) ||
		    (rc = mlip_yaml_as_string(nn, join(full, sizeof(full), key, "name"), &s, err)))
			return rc;
		for (size_t i = 0; i < n->n; i++) {
			const char *k = n->keys[i]->text;
			if (!strcmp(k, "name") || in_list(k, reserved) >= 0)
				continue;
			/* keep the parameter's key location for plugin messages */
			struct mlip_yaml_node *v = mlip_yaml_copy(n->items[i]);
			if (!v || mlip_yaml_map_set(p->params, k, v))
				return nomem(err);
		}
	}
	if (!*s)
		return bad(err, n, key, "plugin name must not be empty");
	if (!(p->name = strdup(s)))
		return nomem(err);
	void *j;
	if ((rc = mlip_yaml_to_json(p->params, &j, err)))
		return rc;
	p->params_json = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	return p->params_json ? MLIP_OK : nomem(err);
}

static int load_elref(const node_t *n, const char *key, struct mlip_config_task *t,
		      const struct mlip_config_model *m, struct mlip_err *err)
{
	int rc;
	if (n->kind == MLIP_YAML_SCALAR) {
		if (!n->quoted && !strcmp(n->text, "fit")) {
			t->elref = MLIP_CFG_ELREF_FIT;
			return MLIP_OK;
		}
		if (!n->quoted && !strcmp(n->text, "none")) {
			t->elref = MLIP_CFG_ELREF_NONE;
			return MLIP_OK;
		}
	}
	if (n->kind != MLIP_YAML_MAPPING)
		return bad(err, n, key, "expected 'fit', 'none' or a mapping of element symbols "
			   "to energies (eV)");
	t->elref = MLIP_CFG_ELREF_TABLE;
	if (!(t->elref_z = calloc(n->n ? n->n : 1, sizeof(*t->elref_z))) ||
	    !(t->elref_value = calloc(n->n ? n->n : 1, sizeof(*t->elref_value))))
		return nomem(err);
	for (size_t i = 0; i < n->n; i++) {
		char ik[256];
		int z;
		join(ik, sizeof(ik), key, n->keys[i]->text);
		if ((rc = element_z(n->keys[i], ik, n->keys[i]->text, &z, err)) ||
		    (!m->init_from && (rc = model_has(m, n->keys[i], ik, z, err))) ||
		    (rc = mlip_yaml_as_double(n->items[i], ik, 0, &t->elref_value[i], err)))
			return rc;
		t->elref_z[i] = z;
		t->n_elref = i + 1;
	}
	/* a forgotten element would silently get 0 eV */
	for (size_t e = 0; !m->init_from && e < m->n_elements; e++) {
		bool found = false;
		for (size_t i = 0; i < t->n_elref; i++)
			found |= t->elref_z[i] == m->elements[e];
		if (!found)
			return bad(err, n, key, "no value for element '%s' (the table must cover "
				   "model.elements)", mlip_element_symbol(m->elements[e]));
	}
	return MLIP_OK;
}

static int load_task(const node_t *tn, const char *key, struct mlip_config *cfg,
		     struct mlip_config_task *t, const node_t **name_nodes, size_t index,
		     struct mlip_err *err)
{
	const struct mlip_config_model *m = &cfg->model;
	const node_t *n, *w, *pn, *ln;
	char full[256];
	int rc, e;

	if ((rc = task_defaults(t)))
		return nomem(err);
	if ((rc = need_map(tn, key, err)) ||
	    (rc = check_keys(tn, key, KEYS("name", "level", "property", "head", "datasets",
					   "loss", "normalizer", "element_references", "metrics",
					   "energy_threshold", "train_on_free_atoms",
					   "eval_on_free_atoms", "inference_only"), err)) ||
	    (rc = req(tn, key, "name", &n, err)) || (rc = get_str(tn, key, "name", &t->name, err)))
		return rc;
	name_nodes[index] = n;
	for (size_t j = 0; j < index; j++) {
		char where[256];
		if (!strcmp(cfg->tasks[j].name, t->name))
			return bad(err, n, join(full, sizeof(full), key, "name"),
				   "duplicate task name '%s' (first at %s)", t->name,
				   mlip_yaml_where(name_nodes[j], where, sizeof(where)));
	}

	if ((rc = get_bool(tn, key, "inference_only", &t->inference_only, err)) ||
	    (rc = get_bool(tn, key, "train_on_free_atoms", &t->train_on_free_atoms, err)) ||
	    (rc = get_bool(tn, key, "eval_on_free_atoms", &t->eval_on_free_atoms, err)))
		return rc;

	if ((rc = req(tn, key, "property", &pn, err)) ||
	    (rc = as_enum(pn, join(full, sizeof(full), key, "property"), property_names, &e, err)))
		return rc;
	t->property = e;
	t->level = t->property == MLIP_CFG_FORCES ? MLIP_CFG_ATOM : MLIP_CFG_SYSTEM;
	if ((ln = opt(tn, "level"))) {
		if ((rc = as_enum(ln, join(full, sizeof(full), key, "level"), level_names, &e, err)))
			return rc;
		if ((enum mlip_cfg_level)e != t->level)
			return bad(err, ln, full, "property '%s' is %s-level, so level must be '%s', "
				   "got '%s'", property_names[t->property], level_names[t->level],
				   level_names[t->level], level_names[e]);
	}

	if ((rc = get_str(tn, key, "head", &t->head, err)))
		return rc;
	if (!m->init_from) {
		bool found = false;
		for (size_t i = 0; i < m->n_heads; i++)
			found |= !strcmp(m->heads[i], t->head);
		if (!found) {
			char hint[256];
			size_t used = 0;
			hint[0] = '\0';
			for (size_t i = 0; i < m->n_heads && used < sizeof(hint); i++)
				used += (size_t)snprintf(hint + used, sizeof(hint) - used, "%s%s",
							 i ? ", " : "", m->heads[i]);
			n = opt(tn, "head");
			return bad(err, n ? n : tn, join(full, sizeof(full), key, "head"),
				   "unknown head '%s' (model.heads: %s)", t->head, hint);
		}
	}

	if (!t->inference_only && (rc = req(tn, key, "datasets", &n, err)))
		return rc;
	if ((rc = get_strings(tn, key, "datasets", &t->datasets, &t->n_datasets, &n, err)))
		return rc;
	if (n && t->n_datasets == 0 && !t->inference_only)
		return bad(err, n, join(full, sizeof(full), key, "datasets"),
			   "needs at least one dataset name");

	if (!t->inference_only && (rc = req(tn, key, "loss", &n, err)))
		return rc;
	if ((n = opt(tn, "loss"))) {
		join(full, sizeof(full), key, "loss");
		if ((rc = load_plugin(n, full, KEYS("coefficient", "reduction"), &t->loss, err)))
			return rc;
		if (n->kind == MLIP_YAML_MAPPING) {
			if ((rc = get_double(n, full, "coefficient", &t->loss_coefficient, &w, err)))
				return rc;
			if (t->loss_coefficient < 0) {
				char ck[256];
				return range(err, w, join(ck, sizeof(ck), full, "coefficient"), ">= 0");
			}
			e = t->loss_reduction;
			if ((rc = get_enum(n, full, "reduction", reduction_names, &e, err)))
				return rc;
			t->loss_reduction = e;
		}
	}

	if ((n = opt(tn, "normalizer"))) {
		join(full, sizeof(full), key, "normalizer");
		bool none = n->kind == MLIP_YAML_SCALAR && !n->quoted && !strcmp(n->text, "none");
		if (!none && (rc = load_plugin(n, full, KEYS(NULL), &t->normalizer, err)))
			return rc;
	}

	if ((n = opt(tn, "element_references"))) {
		join(full, sizeof(full), key, "element_references");
		if ((rc = load_elref(n, full, t, m, err)))
			return rc;
		if (t->elref != MLIP_CFG_ELREF_NONE && t->property != MLIP_CFG_ENERGY)
			return bad(err, n, full, "element references apply to energy tasks only, "
				   "not to '%s'", property_names[t->property]);
	}

	if ((rc = get_strings(tn, key, "metrics", &t->metrics, &t->n_metrics, &n, err)))
		return rc;
	for (size_t i = 0; n && i < t->n_metrics; i++) {
		char ik[256], hint[256];
		int k = in_list(t->metrics[i], metric_names);
		item_key(ik, sizeof(ik), n, join(full, sizeof(full), key, "metrics"), i);
		if (k < 0) {
			const char *sg = suggest(t->metrics[i], metric_names);
			list_names(hint, sizeof(hint), metric_names);
			return bad(err, item_of(n, i), ik, "unknown metric '%s' (%s%s%svalid: %s)",
				   t->metrics[i], sg ? "did you mean '" : "", sg ? sg : "",
				   sg ? "'? " : "", hint);
		}
		bool energy_only = !strncmp(t->metrics[i], "per_atom_", 9) ||
				   !strcmp(t->metrics[i], "energy_within_threshold");
		bool forces_only = !strcmp(t->metrics[i], "cosine_similarity") ||
				   !strcmp(t->metrics[i], "magnitude_error");
		if ((energy_only && t->property != MLIP_CFG_ENERGY) ||
		    (forces_only && t->property != MLIP_CFG_FORCES))
			return bad(err, item_of(n, i), ik, "metric '%s' applies to %s tasks only, "
				   "not to '%s'", t->metrics[i], energy_only ? "energy" : "forces",
				   property_names[t->property]);
	}
	if ((rc = get_double(tn, key, "energy_threshold", &t->energy_threshold, &w, err)))
		return rc;
	if (!(t->energy_threshold > 0))
		return range(err, w, join(full, sizeof(full), key, "energy_threshold"), "> 0");
	return MLIP_OK;
}

static int load_tasks(const node_t *root, struct mlip_config *cfg, struct mlip_err *err)
{
	const node_t *tn;
	int rc;
	if ((rc = req(root, "", "tasks", &tn, err)))
		return rc;
	if (tn->kind != MLIP_YAML_SEQUENCE)
		return bad(err, tn, "tasks", "expected a sequence of task mappings");
	if (tn->n == 0)
		return bad(err, tn, "tasks", "needs at least one task");
	const node_t **names = calloc(tn->n, sizeof(*names));
	if (!names || !(cfg->tasks = calloc(tn->n, sizeof(*cfg->tasks)))) {
		free(names);
		return nomem(err);
	}
	for (size_t i = 0; i < tn->n; i++) {
		char key[64];
		cfg->n_tasks = i + 1;
		if ((rc = load_task(tn->items[i], joini(key, sizeof(key), "tasks", i), cfg,
				    &cfg->tasks[i], names, i, err)))
			break;
	}
	free(names);
	return rc;
}

static int load_optim(const node_t *root, struct mlip_config *cfg, struct mlip_err *err)
{
	struct mlip_config_optim *o = &cfg->optim;
	const node_t *on, *n, *w;
	int rc, e = 0;
	if ((rc = req(root, "", "optim", &on, err)) || (rc = need_map(on, "optim", err)) ||
	    (rc = check_keys(on, "optim",
			     KEYS("name", "lr", "weight_decay", "betas", "eps", "lbfgs", "ridge"), err)) ||
	    (rc = get_enum(on, "optim", "name", optim_names, &e, err)))
		return rc;
	if (strcmp(o->name, optim_names[e])) {
		free(o->name);
		if (!(o->name = strdup(optim_names[e])))
			return nomem(err);
	}
	int lstsq = !strcmp(o->name, "lstsq");
	/* the solver takes no step: it needs no learning rate, and only it has a ridge */
	if (!lstsq && (rc = req(on, "optim", "lr", &n, err)))
		return rc;
	if ((rc = get_double(on, "optim", "lr", &o->lr, &w, err)))
		return rc;
	if (w && !(o->lr > 0))
		return range(err, w, "optim.lr", "> 0");
	if ((rc = get_double(on, "optim", "ridge", &o->ridge, &w, err)))
		return rc;
	if (w && !lstsq)
		return bad(err, w, "optim.ridge", "is a setting of optim.name lstsq, not %s", o->name);
	if (!(o->ridge >= 0) || !isfinite(o->ridge))
		return range(err, w, "optim.ridge", ">= 0");
	if ((rc = get_double(on, "optim", "weight_decay", &o->weight_decay, &w, err)))
		return rc;
	if (o->weight_decay < 0)
		return range(err, w, "optim.weight_decay", ">= 0");
	if ((rc = get_double(on, "optim", "eps", &o->eps, &w, err)))
		return rc;
	if (!(o->eps > 0))
		return range(err, w, "optim.eps", "> 0");
	if ((n = opt(on, "betas"))) {
		double *b;
		size_t k;
		if ((rc = mlip_yaml_as_doubles(n, "optim.betas", 0, &b, &k, err)))
			return rc;
		if (k != 2) {
			free(b);
			return bad(err, n, "optim.betas", "expected two numbers [beta1, beta2], got %zu",
				   k);
		}
		for (size_t i = 0; i < 2; i++) {
			o->betas[i] = b[i];
			if (!(b[i] >= 0 && b[i] < 1)) {
				char ik[64];
				free(b);
				return range(err, n->items[i], joini(ik, sizeof(ik), "optim.betas", i),
					     "in [0, 1)");
			}
		}
		free(b);
	}
	if ((n = opt(on, "lbfgs"))) {
		if ((rc = need_map(n, "optim.lbfgs", err)) ||
		    (rc = check_keys(n, "optim.lbfgs", KEYS("steps", "history", "scaling"), err)) ||
		    (rc = req(n, "optim.lbfgs", "steps", &w, err)) ||
		    (rc = get_count(n, "optim.lbfgs", "steps", 0, &o->lbfgs_steps, err)) ||
		    (rc = get_count(n, "optim.lbfgs", "history", 1, &o->lbfgs_history, err)) ||
		    (rc = get_enum(n, "optim.lbfgs", "scaling", scaling_names, &o->lbfgs_scaling, err)))
			return rc;
	}
	return MLIP_OK;
}

static int load_schedule(const node_t *root, struct mlip_config *cfg, struct mlip_err *err)
{
	struct mlip_config_schedule *s = &cfg->schedule;
	const node_t *sn, *we, *ws, *ep, *st, *w;
	int rc;
	/* the solver takes no step: a schedule is optional (and unused) */
	if (!strcmp(cfg->optim.name, "lstsq") && !opt(root, "schedule"))
		return MLIP_OK;
	s->given = true;
	if ((rc = req(root, "", "schedule", &sn, err)) || (rc = need_map(sn, "schedule", err)) ||
	    (rc = check_keys(sn, "schedule", KEYS("warmup_factor", "warmup_epochs", "warmup_steps",
						  "lr_min_factor", "epochs", "steps"), err)) ||
	    (rc = get_double(sn, "schedule", "warmup_factor", &s->warmup_factor, &w, err)))
		return rc;
	if (!(s->warmup_factor >= 0 && s->warmup_factor <= 1))
		return range(err, w, "schedule.warmup_factor", "in [0, 1]");
	if ((rc = get_double(sn, "schedule", "lr_min_factor", &s->lr_min_factor, &w, err)))
		return rc;
	if (!(s->lr_min_factor >= 0 && s->lr_min_factor <= 1))
		return range(err, w, "schedule.lr_min_factor", "in [0, 1]");

	if ((rc = get_double(sn, "schedule", "warmup_epochs", &s->warmup_epochs, &we, err)) ||
	    (rc = get_count(sn, "schedule", "warmup_steps", 0, &s->warmup_steps, err)))
		return rc;
	ws = opt(sn, "warmup_steps");
	if (we && ws)
		return bad(err, mlip_yaml_map_key(sn, "warmup_steps"), NULL,
			   "give 'schedule.warmup_epochs' or 'schedule.warmup_steps', not both");
	if (we && s->warmup_epochs < 0)
		return range(err, we, "schedule.warmup_epochs", ">= 0");
	s->warmup_in_steps = ws != NULL;

	if ((rc = get_count(sn, "schedule", "epochs", 1, &s->epochs, err)) ||
	    (rc = get_count(sn, "schedule", "steps", 1, &s->steps, err)))
		return rc;
	ep = opt(sn, "epochs");
	st = opt(sn, "steps");
	if (ep && st)
		return bad(err, mlip_yaml_map_key(sn, "steps"), NULL,
			   "give 'schedule.epochs' or 'schedule.steps', not both");
	if (!ep && !st)
		return bad(err, sn, NULL, "missing required key 'schedule.epochs' (or "
			   "'schedule.steps')");
	s->in_steps = st != NULL;
	return MLIP_OK;
}

/* A number that may also be "off": null, none or 0. *on says which. */
static int get_switch(const node_t *map, const char *key, bool *on, double *value,
		      const node_t **where, struct mlip_err *err)
{
	char full[256];
	const node_t *n = opt(map, key);
	*where = n;
	if (!n)
		return MLIP_OK;
	if (n->kind == MLIP_YAML_SCALAR && !n->quoted && !strcmp(n->text, "none")) {
		*on = false;
		return MLIP_OK;
	}
	int rc = mlip_yaml_as_double(n, join(full, sizeof(full), "train", key), 0, value, err);
	if (rc)
		return rc;
	*on = *value != 0;
	if (!*on)
		*value = 0;
	return MLIP_OK;
}

static int load_train(const node_t *root, struct mlip_config *cfg, struct mlip_err *err)
{
	struct mlip_config_train *t = &cfg->train;
	const node_t *tn = opt(root, "train"), *w;
	int rc, e;
	bool on = false;
	if (!tn)
		return MLIP_OK;
	if ((rc = need_map(tn, "train", err)) ||
	    (rc = check_keys(tn, "train", KEYS("clip_grad_norm", "ema_decay", "print_every",
					       "eval_every", "checkpoint_every",
					       "max_saved_checkpoints", "strategy",
					       "max_nonfinite_steps", "debug_checksums",
					       "profile_flops", "save_inference_ckpt",
					       "eval_at_start"), err)) ||
	    (rc = get_switch(tn, "clip_grad_norm", &on, &t->clip_grad_norm, &w, err)))
		return rc;
	if (w && t->clip_grad_norm < 0)
		return range(err, w, "train.clip_grad_norm", ">= 0 (0 or none = off)");
	if ((rc = get_switch(tn, "ema_decay", &t->ema, &t->ema_decay, &w, err)))
		return rc;
	if (t->ema && !(t->ema_decay > 0 && t->ema_decay < 1))
		return range(err, w, "train.ema_decay", "in (0, 1) (or none = off)");
	e = t->strategy;
	if ((rc = get_count(tn, "train", "print_every", 0, &t->print_every, err)) ||
	    (rc = get_count(tn, "train", "eval_every", 0, &t->eval_every, err)) ||
	    (rc = get_count(tn, "train", "checkpoint_every", 0, &t->checkpoint_every, err)) ||
	    (rc = get_count(tn, "train", "max_saved_checkpoints", 1, &t->max_saved_checkpoints,
			    err)) ||
	    (rc = get_count(tn, "train", "max_nonfinite_steps", 1, &t->max_nonfinite_steps, err)) ||
	    (rc = get_enum(tn, "train", "strategy", strategy_names, &e, err)) ||
	    (rc = get_bool(tn, "train", "debug_checksums", &t->debug_checksums, err)) ||
	    (rc = get_bool(tn, "train", "profile_flops", &t->profile_flops, err)) ||
	    (rc = get_bool(tn, "train", "save_inference_ckpt", &t->save_inference_ckpt, err)) ||
	    (rc = get_bool(tn, "train", "eval_at_start", &t->eval_at_start, err)))
		return rc;
	t->strategy = e;
	return MLIP_OK;
}

int mlip_config_from_tree(struct mlip_yaml_node *tree, struct mlip_config *cfg,
			  struct mlip_err *err)
{
	const node_t *w;
	int64_t seed = 0;
	int rc;

	mlip_config_init(cfg);
	cfg->tree = tree;
	if (set_defaults(cfg)) {
		rc = nomem(err);
		goto fail;
	}
	if (mlip_yaml_is_null(tree)) {
		/* an empty file: report the first missing key, not "not a mapping" */
		struct mlip_yaml_node *m = mlip_yaml_mapping_new();
		if (!m) {
			rc = nomem(err);
			goto fail;
		}
		if (tree->file && !(m->file = strdup(tree->file))) {
			mlip_yaml_free(m);
			rc = nomem(err);
			goto fail;
		}
		m->line = tree->line;
		m->column = tree->column;
		mlip_yaml_free(tree);
		cfg->tree = tree = m;
	}
	if ((rc = need_map(tree, NULL, err)) ||
	    (rc = check_keys(tree, "", KEYS("seed", "data", "model", "tasks", "optim", "schedule",
					    "train"), err)) ||
	    (rc = get_int(tree, "", "seed", &seed, &w, err)))
		goto fail;
	if (seed < 0) {
		rc = range(err, w, "seed", ">= 0");
		goto fail;
	}
	cfg->seed = (uint64_t)seed;
	cfg->model.seed = cfg->seed;
	if ((rc = load_data(tree, cfg, err)) || (rc = load_model(tree, cfg, err)) ||
	    (rc = load_tasks(tree, cfg, err)) || (rc = load_optim(tree, cfg, err)) ||
	    (rc = load_schedule(tree, cfg, err)) || (rc = load_train(tree, cfg, err)))
		goto fail;
	return MLIP_OK;
fail:
	mlip_config_release(cfg);
	return rc;
}

static int finish_load(struct mlip_yaml_node *tree, const char *const *overrides,
		       size_t n_overrides, struct mlip_config *cfg, struct mlip_err *err)
{
	for (size_t i = 0; i < n_overrides; i++) {
		/* "KEY=VALUE" sets (--set), a bare "KEY" removes (--unset) */
		int rc = strchr(overrides[i], '=') ? mlip_yaml_set(&tree, overrides[i], err)
						   : mlip_yaml_unset(tree, overrides[i], err);
		if (rc) {
			mlip_yaml_free(tree);
			mlip_config_init(cfg);
			return rc;
		}
	}
	return mlip_config_from_tree(tree, cfg, err);
}

int mlip_config_load(const char *path, const char *const *overrides, size_t n_overrides,
		     struct mlip_config *cfg, struct mlip_err *err)
{
	struct mlip_yaml_node *tree = NULL;
	int rc;
	mlip_config_init(cfg);
	if (path && (rc = mlip_yaml_load_file(path, &tree, err)))
		return rc;
	if (!path && !(tree = mlip_yaml_mapping_new()))
		return nomem(err);
	if ((rc = finish_load(tree, overrides, n_overrides, cfg, err)) || !path || strcmp(path, "-"))
		return rc;
	/* the configuration came from stdin: no batch stream can */
	for (size_t k = 0; k < cfg->data.n_train + cfg->data.n_val; k++) {
		bool tr = k < cfg->data.n_train;
		if (strcmp(tr ? cfg->data.train[k] : cfg->data.val[k - cfg->data.n_train], "-"))
			continue;
		rc = mlip_yaml_errf(err, MLIP_EINVAL, mlip_yaml_get(cfg->tree, tr ? "data.train"
								   : "data.val"),
				    tr ? "data.train" : "data.val", "standard input ('-') already "
				    "holds the configuration");
		mlip_config_release(cfg);
		return rc;
	}
	return MLIP_OK;
}

int mlip_config_load_string(const char *text, size_t len, const char *name,
			    const char *const *overrides, size_t n_overrides,
			    struct mlip_config *cfg, struct mlip_err *err)
{
	struct mlip_yaml_node *tree;
	int rc;
	mlip_config_init(cfg);
	if ((rc = mlip_yaml_load_string(text, len, name, &tree, err)))
		return rc;
	return finish_load(tree, overrides, n_overrides, cfg, err);
}

const struct mlip_config_task *mlip_config_task(const struct mlip_config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_tasks; i++)
		if (!strcmp(cfg->tasks[i].name, name))
			return &cfg->tasks[i];
	return NULL;
}

/* ---- resolved write ---- */

/*
 * The resolved tree is built with a sticky failure flag: each helper does
 * nothing once an allocation has failed, and the caller checks once.
 */
struct builder {
	bool failed;
};

static node_t *b_put(struct builder *b, node_t *map, const char *key, node_t *v)
{
	if (!v || !map || mlip_yaml_map_set(map, key, v))
		b->failed = true;
	return v;
}

static void b_push(struct builder *b, node_t *seq, node_t *v)
{
	if (!v || !seq || mlip_yaml_seq_push(seq, v))
		b->failed = true;
}

/* A string that reads back as the same plain text and is no null/bool/number. */
static bool plain_safe(const char *s)
{
	static const char *const words[] = { "null", "Null", "NULL", "~", "true", "True", "TRUE",
		"false", "False", "FALSE", "yes", "Yes", "YES", "no", "No", "NO", "on", "On", "ON",
		"off", "Off", "OFF", "y", "Y", "n", "N", "none", "fit", NULL };
	if (!*s || in_list(s, words) >= 0)
		return false;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
		return false;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '_' || *p == '.' || *p == '/' ||
		      *p == '-' || *p == '+'))
			return false;
	return true;
}

static node_t *str_node(const char *s)
{
	return mlip_yaml_scalar_new(s, !plain_safe(s));
}

/*
 * The shortest text that strtod reads back to exactly x, written like
 * Python's repr: fixed notation for moderate exponents, always a float.
 */
static node_t *num_node(double x)
{
	char buf[64];
	int prec = 1, exp10;
	for (; prec < 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*e", prec - 1, x);
		if (strtod(buf, NULL) == x)
			break;
	}
	snprintf(buf, sizeof(buf), "%.*e", prec - 1, x);
	exp10 = atoi(strchr(buf, 'e') + 1);
	if (x != 0 && (exp10 < -4 || exp10 >= 16))
		return mlip_yaml_scalar_new(buf, false);
	snprintf(buf, sizeof(buf), "%.*f", prec - 1 - exp10 > 0 ? prec - 1 - exp10 : 0, x);
	if (!strchr(buf, '.'))
		strncat(buf, ".0", sizeof(buf) - strlen(buf) - 1);
	return mlip_yaml_scalar_new(buf, false);
}

static node_t *int_node(int64_t v)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "%lld", (long long)v);
	return mlip_yaml_scalar_new(buf, false);
}

static node_t *bool_node(bool v)
{
	return mlip_yaml_scalar_new(v ? "true" : "false", false);
}

static node_t *null_node(void)
{
	return mlip_yaml_scalar_new("null", false);
}

static node_t *strs_node(struct builder *b, char *const *s, size_t n)
{
	node_t *seq = mlip_yaml_sequence_new();
	for (size_t i = 0; i < n; i++)
		b_push(b, seq, str_node(s[i]));
	return seq;
}

static node_t *plugin_node(struct builder *b, const struct mlip_config_plugin *p)
{
	node_t *m = mlip_yaml_mapping_new();
	b_put(b, m, "name", str_node(p->name));
	for (size_t i = 0; p->params && i < p->params->n; i++)
		b_put(b, m, p->params->keys[i]->text, mlip_yaml_copy(p->params->items[i]));
	return m;
}

static node_t *model_node(struct builder *b, const struct mlip_config_model *m)
{
	node_t *mn = mlip_yaml_mapping_new(), *seq;
	if (m->init_from) {
		b_put(b, mn, "init_from", str_node(m->init_from));
		return mn;
	}
	b_put(b, mn, "name", str_node(m->name));
	b_put(b, mn, "cutoff", num_node(m->cutoff));
	seq = b_put(b, mn, "elements", mlip_yaml_sequence_new());
	for (size_t i = 0; i < m->n_elements; i++)
		b_push(b, seq, str_node(mlip_element_symbol(m->elements[i])));
	seq = b_put(b, mn, "hidden", mlip_yaml_sequence_new());
	for (size_t i = 0; i < m->n_hidden; i++)
		b_push(b, seq, int_node(m->hidden[i]));
	b_put(b, mn, "activation", str_node(activation_names[m->activation]));
	b_put(b, mn, "heads", strs_node(b, m->heads, m->n_heads));
	b_put(b, mn, "seed", int_node((int64_t)m->seed));
	if (m->mtp_level > 0) {
		node_t *dn = b_put(b, mn, "descriptor", mlip_yaml_mapping_new());
		b_put(b, dn, "type", str_node("mtp"));
		b_put(b, dn, "level", int_node(m->mtp_level));
		b_put(b, dn, "r_min", num_node(m->mtp_r_min));
		b_put(b, dn, "n_radial", int_node(m->mtp_n_radial));
		b_put(b, dn, "max_order", int_node(m->mtp_max_order));
		if (m->mtp_n_pair) /* files without it stay as they were */
			b_put(b, dn, "n_pair", int_node(m->mtp_n_pair));
		if (m->mtp_train_radial) /* fixed models' files stay as they were */
			b_put(b, dn, "train_radial", bool_node(true));
	} else if (m->n_descriptors == 0) {
		b_put(b, mn, "descriptors", null_node());
		if (m->angular_shells > 0)
			b_put(b, mn, "angular_shells", int_node(m->angular_shells));
	} else {
		seq = b_put(b, mn, "descriptors", mlip_yaml_sequence_new());
		for (size_t i = 0; i < m->n_descriptors; i++) {
			const struct mlip_config_descriptor *d = &m->descriptors[i];
			node_t *dn = mlip_yaml_mapping_new(), *els;
			b_push(b, seq, dn);
			b_put(b, dn, "kind", str_node(sf_kind_names[d->kind]));
			els = b_put(b, dn, "elements", mlip_yaml_sequence_new());
			for (int k = 0; k < (d->kind == MLIP_CFG_G2 ? 1 : 2); k++)
				b_push(b, els, str_node(mlip_element_symbol(d->elements[k])));
			b_put(b, dn, "eta", num_node(d->eta));
			b_put(b, dn, "rs", num_node(d->rs));
			if (d->kind != MLIP_CFG_G2) {
				b_put(b, dn, "lambda", num_node(d->lambda));
				b_put(b, dn, "zeta", num_node(d->zeta));
			}
			b_put(b, dn, "cutoff", num_node(d->cutoff));
		}
	}
	b_put(b, mn, "precision", str_node(precision_names[m->precision]));
	return mn;
}

static node_t *task_node(struct builder *b, const struct mlip_config_task *t)
{
	node_t *tn = mlip_yaml_mapping_new(), *n;
	b_put(b, tn, "name", str_node(t->name));
	b_put(b, tn, "level", str_node(level_names[t->level]));
	b_put(b, tn, "property", str_node(property_names[t->property]));
	b_put(b, tn, "head", str_node(t->head));
	b_put(b, tn, "datasets", strs_node(b, t->datasets, t->n_datasets));
	if (t->loss.name) {
		n = b_put(b, tn, "loss", plugin_node(b, &t->loss));
		b_put(b, n, "coefficient", num_node(t->loss_coefficient));
		b_put(b, n, "reduction", str_node(reduction_names[t->loss_reduction]));
	} else {
		b_put(b, tn, "loss", null_node());
	}
	b_put(b, tn, "normalizer", t->normalizer.name ? plugin_node(b, &t->normalizer)
						       : null_node());
	if (t->elref == MLIP_CFG_ELREF_TABLE) {
		n = b_put(b, tn, "element_references", mlip_yaml_mapping_new());
		for (size_t i = 0; i < t->n_elref; i++)
			b_put(b, n, mlip_element_symbol(t->elref_z[i]), num_node(t->elref_value[i]));
	} else {
		b_put(b, tn, "element_references", mlip_yaml_scalar_new(
			      t->elref == MLIP_CFG_ELREF_FIT ? "fit" : "none", false));
	}
	b_put(b, tn, "metrics", strs_node(b, t->metrics, t->n_metrics));
	b_put(b, tn, "energy_threshold", num_node(t->energy_threshold));
	b_put(b, tn, "train_on_free_atoms", bool_node(t->train_on_free_atoms));
	b_put(b, tn, "eval_on_free_atoms", bool_node(t->eval_on_free_atoms));
	b_put(b, tn, "inference_only", bool_node(t->inference_only));
	return tn;
}

int mlip_config_resolved_tree(const struct mlip_config *cfg, struct mlip_yaml_node **tree,
			      struct mlip_err *err)
{
	struct builder b = { false };
	node_t *root = mlip_yaml_mapping_new(), *n, *seq;
	const struct mlip_config_optim *o = &cfg->optim;
	const struct mlip_config_schedule *s = &cfg->schedule;
	const struct mlip_config_train *t = &cfg->train;

	b_put(&b, root, "seed", int_node((int64_t)cfg->seed));
	n = b_put(&b, root, "data", mlip_yaml_mapping_new());
	b_put(&b, n, "train", strs_node(&b, cfg->data.train, cfg->data.n_train));
	b_put(&b, n, "val", strs_node(&b, cfg->data.val, cfg->data.n_val));
	b_put(&b, root, "model", model_node(&b, &cfg->model));
	seq = b_put(&b, root, "tasks", mlip_yaml_sequence_new());
	for (size_t i = 0; i < cfg->n_tasks; i++)
		b_push(&b, seq, task_node(&b, &cfg->tasks[i]));

	n = b_put(&b, root, "optim", mlip_yaml_mapping_new());
	b_put(&b, n, "name", str_node(o->name));
	if (o->lr > 0) /* absent only for lstsq */
		b_put(&b, n, "lr", num_node(o->lr));
	if (!strcmp(o->name, "lstsq"))
		b_put(&b, n, "ridge", num_node(o->ridge));
	b_put(&b, n, "weight_decay", num_node(o->weight_decay));
	seq = b_put(&b, n, "betas", mlip_yaml_sequence_new());
	b_push(&b, seq, num_node(o->betas[0]));
	b_push(&b, seq, num_node(o->betas[1]));
	b_put(&b, n, "eps", num_node(o->eps));
	if (o->lbfgs_steps > 0) {
		node_t *lb = b_put(&b, n, "lbfgs", mlip_yaml_mapping_new());
		b_put(&b, lb, "steps", int_node(o->lbfgs_steps));
		b_put(&b, lb, "history", int_node(o->lbfgs_history));
		b_put(&b, lb, "scaling", str_node(scaling_names[o->lbfgs_scaling]));
	}

	if (s->given) { /* absent only for optim.name lstsq */
		n = b_put(&b, root, "schedule", mlip_yaml_mapping_new());
		b_put(&b, n, "warmup_factor", num_node(s->warmup_factor));
		if (s->warmup_in_steps)
			b_put(&b, n, "warmup_steps", int_node(s->warmup_steps));
		else
			b_put(&b, n, "warmup_epochs", num_node(s->warmup_epochs));
		b_put(&b, n, "lr_min_factor", num_node(s->lr_min_factor));
		if (s->in_steps)
			b_put(&b, n, "steps", int_node(s->steps));
		else
			b_put(&b, n, "epochs", int_node(s->epochs));
	}

	n = b_put(&b, root, "train", mlip_yaml_mapping_new());
	b_put(&b, n, "clip_grad_norm", num_node(t->clip_grad_norm));
	b_put(&b, n, "ema_decay", t->ema ? num_node(t->ema_decay) : null_node());
	b_put(&b, n, "print_every", int_node(t->print_every));
	b_put(&b, n, "eval_every", int_node(t->eval_every));
	b_put(&b, n, "checkpoint_every", int_node(t->checkpoint_every));
	b_put(&b, n, "max_saved_checkpoints", int_node(t->max_saved_checkpoints));
	b_put(&b, n, "strategy", str_node(strategy_names[t->strategy]));
	b_put(&b, n, "max_nonfinite_steps", int_node(t->max_nonfinite_steps));
	b_put(&b, n, "debug_checksums", bool_node(t->debug_checksums));
	b_put(&b, n, "profile_flops", bool_node(t->profile_flops));
	b_put(&b, n, "save_inference_ckpt", bool_node(t->save_inference_ckpt));
	b_put(&b, n, "eval_at_start", bool_node(t->eval_at_start));

	if (b.failed || !root) {
		mlip_yaml_free(root);
		return nomem(err);
	}
	*tree = root;
	return MLIP_OK;
}

int mlip_config_resolved_text(const struct mlip_config *cfg, char **text, size_t *len,
			      struct mlip_err *err)
{
	struct mlip_yaml_node *t;
	int rc = mlip_config_resolved_tree(cfg, &t, err);
	if (rc)
		return rc;
	rc = mlip_yaml_emit(t, text, len, err);
	mlip_yaml_free(t);
	return rc;
}

int mlip_config_write_resolved(const struct mlip_config *cfg, FILE *f, struct mlip_err *err)
{
	char *text;
	size_t len;
	int rc = mlip_config_resolved_text(cfg, &text, &len, err);
	if (rc)
		return rc;
	if (fputs("# mlip resolved configuration (mlip-config(5)): every default filled in\n",
		  f) == EOF || fwrite(text, 1, len, f) != len)
		rc = mlip_err_set(err, MLIP_EIO, "cannot write the resolved configuration");
	free(text);
	return rc;
}

/* ---- equality ---- */

static bool strs_eq(char *const *a, size_t na, char *const *b, size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]))
			return false;
	return true;
}

static bool str_eq(const char *a, const char *b)
{
	return (!a || !b) ? a == b : !strcmp(a, b);
}

static bool plugin_eq(const struct mlip_config_plugin *a, const struct mlip_config_plugin *b)
{
	if (!str_eq(a->name, b->name))
		return false;
	if (!a->params || !b->params)
		return (!a->params || !a->params->n) && (!b->params || !b->params->n);
	return mlip_yaml_equal(a->params, b->params);
}

static bool task_eq(const struct mlip_config_task *a, const struct mlip_config_task *b)
{
	if (!str_eq(a->name, b->name) || a->level != b->level || a->property != b->property ||
	    !str_eq(a->head, b->head) ||
	    !strs_eq(a->datasets, a->n_datasets, b->datasets, b->n_datasets) ||
	    !plugin_eq(&a->loss, &b->loss) || a->loss_coefficient != b->loss_coefficient ||
	    a->loss_reduction != b->loss_reduction || !plugin_eq(&a->normalizer, &b->normalizer) ||
	    a->elref != b->elref || a->n_elref != b->n_elref ||
	    !strs_eq(a->metrics, a->n_metrics, b->metrics, b->n_metrics) ||
	    a->energy_threshold != b->energy_threshold ||
	    a->train_on_free_atoms != b->train_on_free_atoms ||
	    a->eval_on_free_atoms != b->eval_on_free_atoms || a->inference_only != b->inference_only)
		return false;
	for (size_t i = 0; i < a->n_elref; i++)
		if (a->elref_z[i] != b->elref_z[i] || a->elref_value[i] != b->elref_value[i])
			return false;
	return true;
}

static bool model_eq(const struct mlip_config_model *a, const struct mlip_config_model *b)
{
	if (!str_eq(a->init_from, b->init_from) || !str_eq(a->name, b->name) ||
	    a->cutoff != b->cutoff || a->n_elements != b->n_elements ||
	    a->n_hidden != b->n_hidden || a->activation != b->activation ||
	    !strs_eq(a->heads, a->n_heads, b->heads, b->n_heads) || a->seed != b->seed ||
	    a->n_descriptors != b->n_descriptors || a->precision != b->precision ||
	    a->angular_shells != b->angular_shells || a->mtp_level != b->mtp_level ||
	    a->mtp_r_min != b->mtp_r_min || a->mtp_n_radial != b->mtp_n_radial ||
	    a->mtp_max_order != b->mtp_max_order || a->mtp_n_pair != b->mtp_n_pair ||
	    a->mtp_train_radial != b->mtp_train_radial)
		return false;
	for (size_t i = 0; i < a->n_elements; i++)
		if (a->elements[i] != b->elements[i])
			return false;
	for (size_t i = 0; i < a->n_hidden; i++)
		if (a->hidden[i] != b->hidden[i])
			return false;
	for (size_t i = 0; i < a->n_descriptors; i++) {
		const struct mlip_config_descriptor *x = &a->descriptors[i], *y = &b->descriptors[i];
		if (x->kind != y->kind || x->elements[0] != y->elements[0] ||
		    x->elements[1] != y->elements[1] || x->eta != y->eta || x->rs != y->rs ||
		    x->lambda != y->lambda || x->zeta != y->zeta || x->cutoff != y->cutoff)
			return false;
	}
	return true;
}

bool mlip_config_equal(const struct mlip_config *a, const struct mlip_config *b)
{
	const struct mlip_config_optim *oa = &a->optim, *ob = &b->optim;
	const struct mlip_config_schedule *sa = &a->schedule, *sb = &b->schedule;
	const struct mlip_config_train *ta = &a->train, *tb = &b->train;
	if (a->seed != b->seed ||
	    !strs_eq(a->data.train, a->data.n_train, b->data.train, b->data.n_train) ||
	    !strs_eq(a->data.val, a->data.n_val, b->data.val, b->data.n_val) ||
	    !model_eq(&a->model, &b->model) || a->n_tasks != b->n_tasks)
		return false;
	for (size_t i = 0; i < a->n_tasks; i++)
		if (!task_eq(&a->tasks[i], &b->tasks[i]))
			return false;
	if (!str_eq(oa->name, ob->name) || oa->lr != ob->lr || oa->weight_decay != ob->weight_decay ||
	    oa->betas[0] != ob->betas[0] || oa->betas[1] != ob->betas[1] || oa->eps != ob->eps ||
	    oa->lbfgs_steps != ob->lbfgs_steps || oa->ridge != ob->ridge ||
	    (oa->lbfgs_steps > 0 && (oa->lbfgs_history != ob->lbfgs_history ||
				     oa->lbfgs_scaling != ob->lbfgs_scaling)))
		return false;
	if (sa->warmup_factor != sb->warmup_factor || sa->warmup_in_steps != sb->warmup_in_steps ||
	    (sa->warmup_in_steps ? sa->warmup_steps != sb->warmup_steps
				 : sa->warmup_epochs != sb->warmup_epochs) ||
	    sa->lr_min_factor != sb->lr_min_factor || sa->in_steps != sb->in_steps ||
	    (sa->in_steps ? sa->steps != sb->steps : sa->epochs != sb->epochs))
		return false;
	return ta->clip_grad_norm == tb->clip_grad_norm && ta->ema == tb->ema &&
	       (!ta->ema || ta->ema_decay == tb->ema_decay) && ta->print_every == tb->print_every &&
	       ta->eval_every == tb->eval_every && ta->checkpoint_every == tb->checkpoint_every &&
	       ta->max_saved_checkpoints == tb->max_saved_checkpoints &&
	       ta->strategy == tb->strategy && ta->max_nonfinite_steps == tb->max_nonfinite_steps &&
	       ta->debug_checksums == tb->debug_checksums &&
	       ta->profile_flops == tb->profile_flops &&
	       ta->save_inference_ckpt == tb->save_inference_ckpt &&
	       ta->eval_at_start == tb->eval_at_start;
}
