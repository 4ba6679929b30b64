/*
 * finetune.c - mlip-finetune-init's logic: merge the configuration, plan the
 * heads, map the weights tensor by tensor, carry the task state over
 * (finetune.h states the rules).
 *
 * Conventions: the configuration is handled as a yamltree until it checks;
 * "plan" is what the head list and the task fix-ups decided, logged once
 * at the end (the non-strict override loop builds it many times). Weight
 * tensors are viewed as (rows, cols) with cols = count / shape[0]; a
 * mapping of a dimension is an array of base indices, −1 meaning "new".
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "finetune.h"
#include "config.h"
#include "elements.h"
#include "log.h"
#include "tensors.h"
#include "yamltree.h"
#include "banned.h"

void mlip_finetune_opts_init(struct mlip_finetune_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->strict = true;
}

/* ---- the heads file ---- */

void mlip_finetune_heads_release(struct mlip_finetune_heads *h)
{
	for (size_t k = 0; k < h->n; k++) {
		free(h->heads[k].name);
		free(h->heads[k].copy_from);
	}
	free(h->heads);
	memset(h, 0, sizeof(*h));
}

static int nomem(struct mlip_err *err)
{
	return mlip_err_set(err, MLIP_ENOMEM, "out of memory");
}

static int head_entry(const struct mlip_yaml_node *item, const char *key,
		      struct mlip_finetune_head *out, struct mlip_err *err)
{
	const char *name = NULL, *from = NULL;
	char k2[96];
	int rc;
	if (item->kind == MLIP_YAML_SCALAR) {
		if ((rc = mlip_yaml_as_string(item, key, &name, err)))
			return rc;
	} else if (item->kind == MLIP_YAML_MAPPING) {
		for (size_t i = 0; i < item->n; i++) {
			const char *k = item->keys[i]->text;
			if (strcmp(k, "name") && strcmp(k, "copy_from"))
				return mlip_yaml_errf(err, MLIP_EINVAL, item->keys[i], NULL,
						      "unknown key '%s.%s' (valid keys: name, copy_from)",
						      key, k);
		}
		snprintf(k2, sizeof(k2), "%s.name", key);
		if ((rc = mlip_yaml_require(item, "name", err)) ||
		    (rc = mlip_yaml_get_string(item, "name", &name, err)))
			return rc;
		if (!name)
			return mlip_yaml_errf(err, MLIP_EINVAL, mlip_yaml_map_get(item, "name"), k2,
					      "a head needs a name");
		if ((rc = mlip_yaml_get_string(item, "copy_from", &from, err)))
			return rc;
	} else {
		return mlip_yaml_errf(err, MLIP_EINVAL, item, key,
				      "expected a head name or {name: NAME, copy_from: HEAD}");
	}
	if (!*name || strlen(name) >= MLIP_NAME_MAX)
		return mlip_yaml_errf(err, MLIP_EINVAL, item, key, "a head name has 1 to %d characters",
				      MLIP_NAME_MAX - 1);
	if (!(out->name = strdup(name)) || (from && !(out->copy_from = strdup(from))))
		return nomem(err);
	return MLIP_OK;
}

int mlip_finetune_heads_load(const char *path, struct mlip_finetune_heads *h,
			     struct mlip_err *err)
{
	struct mlip_yaml_node *root = NULL;
	const struct mlip_yaml_node *seq;
	int rc;
	memset(h, 0, sizeof(*h));
	if ((rc = mlip_yaml_load_file(path, &root, err)))
		return rc;
	if (root->kind != MLIP_YAML_MAPPING) {
		rc = mlip_yaml_errf(err, MLIP_EINVAL, root, NULL, "expected a mapping with the key 'heads'");
		goto done;
	}
	for (size_t i = 0; i < root->n; i++)
		if (strcmp(root->keys[i]->text, "heads")) {
			rc = mlip_yaml_errf(err, MLIP_EINVAL, root->keys[i], NULL,
					    "unknown key '%s' (valid keys: heads)", root->keys[i]->text);
			goto done;
		}
	if ((rc = mlip_yaml_require(root, "heads", err)))
		goto done;
	seq = mlip_yaml_map_get(root, "heads");
	if (seq->kind != MLIP_YAML_SEQUENCE || seq->n == 0 || seq->n > MLIP_MAX_HEADS) {
		rc = mlip_yaml_errf(err, MLIP_EINVAL, seq, "heads", "expected a list of 1 to %d heads",
				    MLIP_MAX_HEADS);
		goto done;
	}
	if (!(h->heads = calloc(seq->n, sizeof(*h->heads)))) {
		rc = nomem(err);
		goto done;
	}
	for (size_t i = 0; i < seq->n && !rc; i++) {
		char key[32];
		snprintf(key, sizeof(key), "heads.%zu", i);
		h->n = i + 1;
		rc = head_entry(seq->items[i], key, &h->heads[i], err);
		for (size_t j = 0; j < i && !rc; j++)
			if (!strcmp(h->heads[j].name, h->heads[i].name))
				rc = mlip_yaml_errf(err, MLIP_EINVAL, seq->items[i], key,
						    "duplicate head '%s'", h->heads[i].name);
	}
done:
	mlip_yaml_free(root);
	if (rc)
		mlip_finetune_heads_release(h);
	return rc;
}

/* ---- the configuration ---- */

static struct mlip_yaml_node *map_get_mut(struct mlip_yaml_node *map, const char *key)
{
	return (struct mlip_yaml_node *)mlip_yaml_map_get(map, key);
}

static void seq_remove(struct mlip_yaml_node *seq, size_t i)
{
	mlip_yaml_free(seq->items[i]);
	memmove(seq->items + i, seq->items + i + 1, (seq->n - i - 1) * sizeof(*seq->items));
	seq->n--;
}

/*
 * Give nodes made in memory a location for the schema's messages: label
 * (line 0 prints as just the label, as for overrides) instead of
 * "<memory>". Returns nonzero when out of memory.
 */
static int label_nodes(struct mlip_yaml_node *n, const char *label)
{
	if (!n)
		return 0;
	if (!n->file && !(n->file = strdup(label)))
		return 1;
	for (size_t i = 0; i < n->n; i++)
		if (label_nodes(n->items[i], label) || (n->keys && label_nodes(n->keys[i], label)))
			return 1;
	return 0;
}

/* What the head list and the task fix-ups decided. */
struct plan {
	size_t n_heads;
	char names[MLIP_MAX_HEADS][MLIP_NAME_MAX];
	long src[MLIP_MAX_HEADS];        /* base head index, or −1: new */
	int copied[MLIP_MAX_HEADS];      /* the source is a copy_from */
	size_t n_moved, n_removed;
	size_t n_zero_refs;              /* element references set to 0 in the stored tasks */
	char moved[16][2][MLIP_NAME_MAX]; /* task, new head (the first 16) */
	char removed[16][MLIP_NAME_MAX];  /* tasks (the first 16) */
};

static long base_head(const struct mlip_potential *base, const char *name)
{
	const struct mlip_model_config *c = &base->model->config;
	for (size_t h = 0; h < c->n_heads; h++)
		if (!strcmp(c->heads[h], name))
			return (long)h;
	return -1;
}

static void base_heads_text(const struct mlip_potential *base, char *buf, size_t size)
{
	const struct mlip_model_config *c = &base->model->config;
	size_t used = 0;
	buf[0] = '\0';
	for (size_t h = 0; h < c->n_heads && used < size; h++)
		used += (size_t)snprintf(buf + used, size - used, "%s%s", h ? ", " : "", c->heads[h]);
}

/*
 * Put the head list into tree (from the heads file, or as model.heads
 * stands) and make the tasks follow their heads. A model.heads that is not
 * a list of names is left for the schema check to report.
 */
static int apply_heads(struct mlip_yaml_node *tree, const struct mlip_finetune_heads *hf,
		       const struct mlip_potential *base, struct plan *pl, struct mlip_err *err)
{
	struct mlip_yaml_node *model = map_get_mut(tree, "model"), *tasks;
	char known[256];
	memset(pl, 0, sizeof(*pl));
	if (!model || model->kind != MLIP_YAML_MAPPING)
		return MLIP_OK;
	if (hf) {
		struct mlip_yaml_node *seq = mlip_yaml_sequence_new();
		if (!seq)
			return nomem(err);
		for (size_t k = 0; k < hf->n; k++)
			if (mlip_yaml_seq_push(seq, mlip_yaml_scalar_new(hf->heads[k].name, true))) {
				mlip_yaml_free(seq);
				return nomem(err);
			}
		if (label_nodes(seq, "--heads") || mlip_yaml_map_set(model, "heads", seq))
			return nomem(err);
	}
	const struct mlip_yaml_node *hn = mlip_yaml_map_get(model, "heads");
	if (!hn || hn->kind != MLIP_YAML_SEQUENCE || hn->n > MLIP_MAX_HEADS)
		return MLIP_OK;
	for (size_t k = 0; k < hn->n; k++) {
		const struct mlip_yaml_node *it = hn->items[k];
		if (it->kind != MLIP_YAML_SCALAR || !it->text || strlen(it->text) >= MLIP_NAME_MAX)
			return MLIP_OK;
		const char *from = hf ? hf->heads[k].copy_from : NULL;
		snprintf(pl->names[k], MLIP_NAME_MAX, "%s", it->text);
		pl->src[k] = base_head(base, from ? from : it->text);
		pl->copied[k] = from != NULL;
		if (from && pl->src[k] < 0) {
			base_heads_text(base, known, sizeof(known));
			return mlip_err_set(err, MLIP_EINVAL,
					    "head '%s': copy_from '%s' is not a head of the model (its "
					    "heads: %s)", it->text, from, known);
		}
	}
	pl->n_heads = hn->n;

	tasks = map_get_mut(tree, "tasks");
	if (!tasks || tasks->kind != MLIP_YAML_SEQUENCE)
		return MLIP_OK;
	size_t before = tasks->n;
	for (size_t i = 0; i < tasks->n;) {
		struct mlip_yaml_node *t = tasks->items[i];
		const struct mlip_yaml_node *h = mlip_yaml_map_get(t, "head"),
					    *nm = mlip_yaml_map_get(t, "name");
		const char *head = h && h->kind == MLIP_YAML_SCALAR && !mlip_yaml_is_null(h) ? h->text
											: "energy";
		const char *tname = nm && nm->kind == MLIP_YAML_SCALAR ? nm->text : "?";
		long b = t->kind == MLIP_YAML_MAPPING ? base_head(base, head) : -1;
		int kept = 0;
		for (size_t k = 0; k < pl->n_heads; k++)
			kept |= !strcmp(pl->names[k], head);
		if (kept || b < 0) { /* staying, or not ours to judge: the schema check will */
			i++;
			continue;
		}
		size_t to = 0;
		while (to < pl->n_heads && !(pl->copied[to] && pl->src[to] == b))
			to++;
		if (to < pl->n_heads) {
			if (pl->n_moved < 16) {
				snprintf(pl->moved[pl->n_moved][0], MLIP_NAME_MAX, "%s", tname);
				memcpy(pl->moved[pl->n_moved][1], pl->names[to], MLIP_NAME_MAX);
			}
			pl->n_moved++;
			if (mlip_yaml_map_set(t, "head", mlip_yaml_scalar_new(pl->names[to], true)))
				return nomem(err);
			i++;
		} else {
			if (pl->n_removed < 16)
				snprintf(pl->removed[pl->n_removed], MLIP_NAME_MAX, "%s", tname);
			pl->n_removed++;
			seq_remove(tasks, i);
		}
	}
	/* element reference tables of the stored tasks must cover new elements: 0 eV, as
	 * the carried state has it (the fine-tuning run's own tasks decide) */
	const struct mlip_yaml_node *els = mlip_yaml_map_get(model, "elements");
	for (size_t i = 0; els && els->kind == MLIP_YAML_SEQUENCE && i < tasks->n; i++) {
		struct mlip_yaml_node *ref = map_get_mut(tasks->items[i], "element_references");
		if (!ref || ref->kind != MLIP_YAML_MAPPING)
			continue;
		for (size_t k = 0; k < els->n; k++) {
			const char *sym = els->items[k]->text;
			if (els->items[k]->kind != MLIP_YAML_SCALAR || !sym || mlip_yaml_map_get(ref, sym))
				continue;
			if (mlip_yaml_map_set(ref, sym, mlip_yaml_scalar_new("0.0", false)))
				return nomem(err);
			pl->n_zero_refs++;
		}
	}
	if (before > 0 && tasks->n == 0)
		return mlip_err_set(err, MLIP_EINVAL,
				    "no task is left: every task of the model reads a head that is "
				    "dropped; keep one of those heads or copy it to a new one (copy_from)");
	return MLIP_OK;
}

/* Check tree (borrowed) with its heads applied; on success *cfg holds the result. */
static int check_tree(const struct mlip_yaml_node *tree, const struct mlip_finetune_heads *hf,
		      const struct mlip_potential *base, struct plan *pl, struct mlip_config *cfg,
		      struct mlip_err *err)
{
	struct mlip_yaml_node *t = mlip_yaml_copy(tree);
	int rc;
	mlip_config_init(cfg);
	if (!t)
		return nomem(err);
	if ((rc = apply_heads(t, hf, base, pl, err))) {
		mlip_yaml_free(t);
		return rc;
	}
	return mlip_config_from_tree(t, cfg, err);
}

static int put_num(struct mlip_yaml_node *map, const char *key, double x)
{
	char buf[40];
	snprintf(buf, sizeof(buf), "%.17g", x);
	return mlip_yaml_map_set(map, key, mlip_yaml_scalar_new(buf, false));
}

static int put_str(struct mlip_yaml_node *map, const char *key, const char *s)
{
	return mlip_yaml_map_set(map, key, mlip_yaml_scalar_new(s, false));
}

/*
 * Write the base model's descriptor set into model.descriptors. The
 * config's list applies to every central element, so the base's sets must
 * be one list for all its elements (the default set and any configured set
 * are).
 */
static int pin_descriptors(struct mlip_yaml_node *tree, const struct mlip_potential *base,
			   struct mlip_err *err)
{
	const struct mlip_descriptor *d = &base->model->desc;
	struct mlip_yaml_node *model = map_get_mut(tree, "model"), *seq;
	size_t D = d->dim[0];
	for (size_t e = 1; e < d->n_elements; e++) {
		int same = d->dim[e] == D;
		for (size_t k = 0; same && k < D; k++) {
			struct mlip_sf a = d->sf[d->sf_start[0] + k], b = d->sf[d->sf_start[e] + k];
			a.z = b.z = 0;
			same = !memcmp(&a, &b, sizeof(a));
		}
		if (!same)
			return mlip_err_set(err, MLIP_EINVAL,
					    "--pin-descriptors: the model's elements have different "
					    "descriptor sets, which model.descriptors cannot express");
	}
	if (!model || !(seq = mlip_yaml_sequence_new()))
		return nomem(err);
	for (size_t k = 0; k < D; k++) {
		const struct mlip_sf *s = &d->sf[d->sf_start[0] + k];
		struct mlip_yaml_node *m = mlip_yaml_mapping_new(), *els = mlip_yaml_sequence_new();
		int rc = !m || !els;
		enum mlip_cfg_sf_kind kind = s->kind == MLIP_SF_G2 ? MLIP_CFG_G2
					     : s->kind == MLIP_SF_G3 ? MLIP_CFG_G3 : MLIP_CFG_G9;
		if (!rc) {
			rc = mlip_yaml_seq_push(els, mlip_yaml_scalar_new(mlip_element_symbol(s->z1), false));
			if (!rc && s->kind != MLIP_SF_G2)
				rc = mlip_yaml_seq_push(els, mlip_yaml_scalar_new(mlip_element_symbol(s->z2),
											false));
		}
		rc = rc || put_str(m, "kind", mlip_cfg_sf_kind_name(kind));
		rc = rc || mlip_yaml_map_set(m, "elements", els);
		els = NULL;
		rc = rc || put_num(m, "eta", s->eta) || put_num(m, "rs", s->rs);
		if (s->kind != MLIP_SF_G2)
			rc = rc || put_num(m, "lambda", s->lambda) || put_num(m, "zeta", s->zeta);
		rc = rc || put_num(m, "cutoff", s->rc);
		if (rc || mlip_yaml_seq_push(seq, m)) {
			mlip_yaml_free(els);
			mlip_yaml_free(seq);
			return nomem(err);
		}
	}
	if (label_nodes(seq, "--pin-descriptors") || mlip_yaml_map_set(model, "descriptors", seq))
		return nomem(err);
	/* the list holds the angular shells too: they are no longer added to a default set */
	if (mlip_yaml_map_get(model, "angular_shells") &&
	    mlip_yaml_map_set(model, "angular_shells", mlip_yaml_scalar_new("0", false)))
		return nomem(err);
	return MLIP_OK;
}

/* The merged configuration (strict: every override or an error). */
static int merge_config(const struct mlip_potential *base, const struct mlip_finetune_opts *o,
			struct plan *pl, struct mlip_config *cfg, struct mlip_err *err)
{
	struct mlip_yaml_node *tree = NULL;
	int rc;
	mlip_config_init(cfg);
	if ((rc = mlip_config_resolved_tree(&base->cfg, &tree, err)))
		return rc;
	if (label_nodes(tree, "the model's configuration")) {
		mlip_yaml_free(tree);
		return nomem(err);
	}
	if (o->pin_descriptors) {
		const struct mlip_yaml_node *dn = mlip_yaml_get(tree, "model.descriptors");
		if (base->model->mtp)
			mlip_log(MLIP_LOG_INFO, "the model's moment tensor basis is set by its level and "
				 "options: there is no function list to pin");
		else if (dn && !mlip_yaml_is_null(dn))
			mlip_log(MLIP_LOG_INFO, "the model's descriptors are already explicit");
		else if ((rc = pin_descriptors(tree, base, err)))
			goto done;
	}
	/* the head list alone must fit the model; otherwise every override would be blamed */
	if ((rc = check_tree(tree, o->heads, base, pl, cfg, err)))
		goto done;
	mlip_config_release(cfg);
	for (size_t k = 0; k < o->n_overrides; k++) {
		const char *ov = o->overrides[k];
		struct mlip_yaml_node *next = mlip_yaml_copy(tree);
		if (!next) {
			rc = nomem(err);
			goto done;
		}
		if (o->heads && !strncmp(ov, "model.heads", 11) && (ov[11] == '=' || ov[11] == '.')) {
			mlip_yaml_free(next);
			rc = mlip_err_set(err, MLIP_EINVAL, "--set %s: the heads come from the heads file; "
					  "set them there", ov);
			goto done;
		}
		/* "KEY=VALUE" sets (--set), a bare "KEY" removes (--unset) */
		rc = strchr(ov, '=') ? mlip_yaml_set(&next, ov, err) : mlip_yaml_unset(next, ov, err);
		if (!rc && !o->strict)
			rc = check_tree(next, o->heads, base, pl, cfg, err);
		mlip_config_release(cfg);
		if (rc && !o->strict) {
			if (!strncmp(err->msg, "--set ", 6) || !strncmp(err->msg, "--unset ", 8))
				mlip_log(MLIP_LOG_WARN, "skipped %s", err->msg);
			else
				mlip_log(MLIP_LOG_WARN, "skipped %s %s: %s", strchr(ov, '=') ? "--set" : "--unset",
					 ov, err->msg);
			mlip_yaml_free(next);
			mlip_err_clear(err);
			rc = MLIP_OK;
			continue;
		}
		mlip_yaml_free(tree);
		tree = next;
		if (rc)
			goto done;
		if (strncmp(ov, "model.", 6) && strncmp(ov, "tasks", 5))
			mlip_log(MLIP_LOG_INFO, "--set %s: mlip-train takes only the model, the task "
				 "state (and mlip-eval the tasks) from a starting model", ov);
	}
	rc = check_tree(tree, o->heads, base, pl, cfg, err);
done:
	mlip_yaml_free(tree);
	return rc;
}

/* ---- weights ---- */

static int close_to(double a, double b)
{
	return fabs(a - b) <= 1e-12 * fmax(1.0, fmax(fabs(a), fabs(b)));
}

static int sf_same(const struct mlip_sf *a, const struct mlip_sf *b)
{
	if (a->kind != b->kind || !close_to(a->eta, b->eta) || !close_to(a->rs, b->rs) ||
	    !close_to(a->rc, b->rc))
		return 0;
	if (a->kind == MLIP_SF_G2)
		return a->z1 == b->z1;
	return ((a->z1 == b->z1 && a->z2 == b->z2) || (a->z1 == b->z2 && a->z2 == b->z1)) &&
	       close_to(a->lambda, b->lambda) && close_to(a->zeta, b->zeta);
}

static const char *sf_text(const struct mlip_sf *s, char *buf, size_t size)
{
	if (s->kind == MLIP_SF_G2)
		snprintf(buf, size, "g2 %s eta=%g rs=%g rc=%g", mlip_element_symbol(s->z1), s->eta,
			 s->rs, s->rc);
	else
		snprintf(buf, size, "g%d %s-%s eta=%g lambda=%g zeta=%g rc=%g", s->kind,
			 mlip_element_symbol(s->z1), mlip_element_symbol(s->z2), s->eta, s->lambda,
			 s->zeta, s->rc);
	return buf;
}

static const char *shape_text(const struct mlip_tensor *t, char *buf, size_t size)
{
	size_t used = (size_t)snprintf(buf, size, "(");
	for (size_t d = 0; d < t->ndim && used < size; d++)
		used += (size_t)snprintf(buf + used, size - used, "%s%zu", d ? ", " : "", t->shape[d]);
	if (used < size)
		snprintf(buf + used, size - used, ")");
	return buf;
}

static long elem_index(const struct mlip_model *m, int z)
{
	for (size_t e = 0; e < m->config.n_elements; e++)
		if (m->config.elements[e] == z)
			return (long)e;
	return -1;
}

/* One past element e's tensors (the table may end with the basis's mtp.radial). */
static size_t elem_end(const struct mlip_model *m, size_t e)
{
	return e + 1 < m->config.n_elements ? m->tensor0[e + 1] : m->tensors.n - (m->train_radial ? 1 : 0);
}

/* Both moment tensor bases share the radial basis Q_β (a function is then known by its labels). */
static int mtp_same_radial_basis(const struct mlip_mtp *a, const struct mlip_mtp *b)
{
	return close_to(a->cutoff, b->cutoff) && close_to(a->r_min, b->r_min) &&
	       a->n_radial == b->n_radial;
}

static int mtp_func_same(const struct mlip_mtp_func *a, const struct mlip_mtp_func *b)
{
	if (a->k != b->k)
		return 0;
	for (int q = 0; q < a->k; q++)
		if (a->mu[q] != b->mu[q] || a->nu[q] != b->nu[q])
			return 0;
	return 1;
}

/* Input i of element e of m, in words. */
static const char *input_text(const struct mlip_model *m, size_t e, size_t i, char *buf,
			      size_t size)
{
	if (!m->mtp)
		return sf_text(m->desc.sf + m->desc.sf_start[e] + i, buf, size);
	const struct mlip_mtp_func *f = &m->mtp->func[i];
	size_t used = (size_t)snprintf(buf, size, "moment function of level %d:", f->level);
	for (int q = 0; q < f->k && used < size; q++)
		used += (size_t)snprintf(buf + used, size - used, " M(%d,%d)", f->mu[q], f->nu[q]);
	return buf;
}

/*
 * Input j of element e of m is input cmap[j] of element eb of bm (−1: none):
 * the same symmetry function, or the same moment tensor function over the
 * same radial basis (what its radial coefficients make of it is the
 * business of mtp.radial, map_radial). Marks used[i] for the base's inputs
 * taken; returns how many matched.
 */
static size_t match_inputs(const struct mlip_model *m, size_t e, const struct mlip_model *bm,
			   size_t eb, long *cmap, char *used)
{
	size_t D = m->desc.dim[e], Db = bm->desc.dim[eb], matched = 0;
	int both_mtp = m->mtp && bm->mtp, comparable = both_mtp ? mtp_same_radial_basis(m->mtp, bm->mtp)
							       : !m->mtp && !bm->mtp;
	for (size_t j = 0; j < D; j++) {
		cmap[j] = -1;
		for (size_t i = 0; comparable && i < Db && cmap[j] < 0; i++) {
			int same = both_mtp ? mtp_func_same(&m->mtp->func[j], &bm->mtp->func[i])
					    : sf_same(m->desc.sf + m->desc.sf_start[e] + j,
						      bm->desc.sf + bm->desc.sf_start[eb] + i);
			if (!used[i] && same) {
				cmap[j] = (long)i;
				used[i] = 1;
				matched++;
			}
		}
	}
	return matched;
}

struct mapper {
	const struct mlip_potential *base;
	struct mlip_potential *out;
	const double *bw;        /* (base n_params) base raw weights */
	int strict;
	long head_map[MLIP_MAX_HEADS];
	size_t copied, mapped, fresh, refused;
	char first[MLIP_ERR_MSG_MAX]; /* the first strict refusal */
};

/* Strict: remember the first refusal; not strict: warn. */
static void refuse(struct mapper *mp, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void refuse(struct mapper *mp, const char *fmt, ...)
{
	char msg[MLIP_ERR_MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (mp->strict) {
		if (mp->refused++ == 0)
			snprintf(mp->first, sizeof(mp->first), "%s", msg);
	} else {
		mlip_log(MLIP_LOG_WARN, "%s", msg);
	}
}

/*
 * Copy base tensor tb into tensor t of the new model through the maps of
 * dimension 0 (rows) and the columns (NULL: identity, sizes must agree).
 * A new row keeps the fresh values; a new column of a mapped row gets
 * new_col (NAN: keep the fresh value). Returns 0 when the shapes do not
 * fit.
 */
static int map_tensor(struct mapper *mp, const struct mlip_tensor *t, const struct mlip_tensor *tb,
		      const long *rmap, size_t rmap_base, const long *cmap, size_t cmap_base,
		      double new_col)
{
	size_t rows = t->shape[0], cols = t->count / rows;
	size_t brows = tb->shape[0], bcols = tb->count / brows;
	if (t->ndim != tb->ndim || (rmap ? rmap_base != brows : rows != brows) ||
	    (cmap ? cmap_base != bcols : cols != bcols))
		return 0;
	mlip_real *w = mp->out->model->params + t->offset;
	const double *b = mp->bw + tb->offset;
	for (size_t r = 0; r < rows; r++) {
		long br = rmap ? rmap[r] : (long)r;
		if (br < 0)
			continue;
		for (size_t c = 0; c < cols; c++) {
			long bc = cmap ? cmap[c] : (long)c;
			if (bc >= 0)
				w[r * cols + c] = (mlip_real)b[(size_t)br * bcols + (size_t)bc];
			else if (!isnan(new_col))
				w[r * cols + c] = (mlip_real)new_col;
		}
	}
	return 1;
}

static int map_element(struct mapper *mp, size_t e, size_t eb, struct mlip_err *err)
{
	const struct mlip_model *bm = mp->base->model;
	struct mlip_model *m = mp->out->model;
	const char *sym = mlip_element_symbol(m->config.elements[e]);
	size_t D = m->desc.dim[e], Db = bm->desc.dim[eb], matched = 0, lost = 0;
	long *cmap = malloc((D + 1) * sizeof(long));
	char *used = calloc(Db + 1, 1);
	char s1[64], s2[64], fn[160];
	int rc = MLIP_OK;
	if (!cmap || !used) {
		free(cmap);
		free(used);
		return nomem(err);
	}
	matched = match_inputs(m, e, bm, eb, cmap, used);
	lost = Db - matched;
	int identity = D == Db && lost == 0;
	for (size_t j = 0; identity && j < D; j++)
		identity = cmap[j] == (long)j;
	if (lost) {
		const struct mlip_tensor *bt = &bm->tensors.t[bm->tensor0[eb]];
		const struct mlip_tensor *nt = &m->tensors.t[m->tensor0[e]];
		char s3[64], s4[64];
		size_t first = 0;
		while (used[first])
			first++;
		refuse(mp, "element %s: %zu of its %zu descriptor functions in the model are not in the "
		       "new set (the first: %s), so '%s.sf_mean', '%s.sf_std' %s and '%s.w1' %s do not map "
		       "onto %s and %s; new elements or a new cutoff change the default set of every "
		       "element: keep the model's functions with --pin-descriptors or give "
		       "model.descriptors explicitly (a moment tensor basis keeps its functions "
		       "with the same cutoff, r_min and n_radial)%s", sym, lost, Db,
		       input_text(bm, eb, first, fn, sizeof(fn)), sym, sym, shape_text(bt, s1, sizeof(s1)), sym,
		       shape_text(bt + 2, s3, sizeof(s3)), shape_text(nt, s2, sizeof(s2)),
		       shape_text(nt + 2, s4, sizeof(s4)),
		       mp->strict ? " (--no-strict maps what matches)" : "; the rest is mapped");
	}
	if (!identity && matched && !(lost && mp->strict))
		mlip_log(MLIP_LOG_INFO, "element %s: descriptor set of %zu functions, %zu of them from the "
			 "model (their scaling and weights kept); %zu new inputs start with scaling "
			 "mean 0 / std 1 and zero weights", sym, D, matched, D - matched);

	size_t n_base_used = 0;
	for (size_t k = m->tensor0[e]; k < elem_end(m, e); k++) {
		const struct mlip_tensor *t = &m->tensors.t[k];
		const struct mlip_tensor *tb = mlip_tensors_find(&bm->tensors, t->name);
		const char *what = strchr(t->name, '.') + 1;
		size_t pos = k - m->tensor0[e];
		if (tb && (size_t)(tb - bm->tensors.t) >= bm->tensor0[eb] &&
		    (size_t)(tb - bm->tensors.t) < elem_end(bm, eb))
			n_base_used++;
		else
			tb = NULL;
		if (!tb) {
			refuse(mp, "tensor '%s' %s is not in the model (a layer it does not have): %s",
			       t->name, shape_text(t, s2, sizeof(s2)),
			       mp->strict ? "change model.hidden back or use --no-strict to start it afresh"
					  : "freshly initialised");
			mp->fresh++;
			continue;
		}
		int is_sf = pos < 2, is_input = pos == 2, is_out = !strcmp(what, "w_out") ||
							      !strcmp(what, "b_out");
		const long *rmap = NULL, *cm = NULL;
		size_t rbase = 0, cbase = 0;
		double fill = NAN;
		if (is_sf) {
			rmap = cmap;
			rbase = Db;
		}
		if (is_out) {
			rmap = mp->head_map;
			rbase = bm->config.n_heads;
		}
		if (is_input) {
			cm = cmap;
			cbase = Db;
			fill = 0.0;
		}
		if (!map_tensor(mp, t, tb, rmap, rbase, cm, cbase, fill)) {
			refuse(mp, "tensor '%s': shape %s in the model, %s in the new one: %s", t->name,
			       shape_text(tb, s1, sizeof(s1)), shape_text(t, s2, sizeof(s2)),
			       mp->strict ? "use --no-strict to start it afresh" : "freshly initialised");
			mp->fresh++;
			continue;
		}
		int plain = !(is_sf || is_input) || identity;
		if (is_out)
			for (size_t h = 0; h < m->config.n_heads; h++)
				plain &= mp->head_map[h] == (long)h;
		plain &= !is_out || m->config.n_heads == bm->config.n_heads;
		if (plain)
			mp->copied++;
		else
			mp->mapped++;
	}
	if (n_base_used < elem_end(bm, eb) - bm->tensor0[eb]) {
		for (size_t k = bm->tensor0[eb]; k < elem_end(bm, eb); k++) {
			const struct mlip_tensor *tb = &bm->tensors.t[k];
			if (!mlip_tensors_find(&m->tensors, tb->name))
				refuse(mp, "tensor '%s' %s of the model has no place in the new one (a layer "
				       "it does not have): %s", tb->name, shape_text(tb, s1, sizeof(s1)),
				       mp->strict ? "change model.hidden back or use --no-strict to drop it"
						  : "dropped");
		}
	}
	free(cmap);
	free(used);
	return rc;
}

/*
 * The moment tensor basis's radial coefficients c[a][b][μ][β] from the
 * base's, for the element pairs both models know (the first min(n_mu) rows,
 * over the same radial basis; match_inputs refused the inputs otherwise). A
 * trained mtp.radial takes them (new pairs and rows keep their seeded
 * start). Fixed coefficients are not stored but derived from model.seed and
 * the element order: they must already be the base's for those pairs, else
 * the inputs of the kept elements would change under their weights.
 */
static void map_radial(struct mapper *mp)
{
	const struct mlip_model *bm = mp->base->model;
	struct mlip_model *m = mp->out->model;
	if (!m->mtp || !bm->mtp || !mtp_same_radial_basis(m->mtp, bm->mtp))
		return;
	const struct mlip_mtp *a = m->mtp, *b = bm->mtp;
	const double *from = bm->train_radial ? mp->bw + bm->radial_offset : b->radial;
	double *to = m->train_radial ? m->params + m->radial_offset : NULL;
	size_t S = a->n_elements, Sb = b->n_elements, R = a->n_radial;
	size_t mu = a->n_mu < b->n_mu ? a->n_mu : b->n_mu, pairs = 0, differ = 0;
	for (size_t i = 0; i < S; i++)
		for (size_t j = 0; j < S; j++) {
			long bi = elem_index(bm, a->z[i]), bj = elem_index(bm, a->z[j]);
			if (bi < 0 || bj < 0)
				continue;
			pairs++;
			for (size_t u = 0; u < mu; u++)
				for (size_t r = 0; r < R; r++) {
					double v = from[(((size_t)bi * Sb + (size_t)bj) * b->n_mu + u) * R + r];
					size_t k = ((i * S + j) * a->n_mu + u) * R + r;
					if (to)
						to[k] = v;
					else if (a->radial[k] != v)
						differ++;
				}
		}
	if (to && pairs) {
		mlip_log(MLIP_LOG_INFO, "mtp.radial: the radial coefficients of the %zu element pairs "
			 "the model knows are the model's%s", pairs,
			 pairs < S * S ? "; the new pairs start from their seeded values" : "");
		mp->mapped++;
	} else if (to) {
		mp->fresh++;
	}
	if (differ)
		refuse(mp, "the radial coefficients of the moment tensor basis are fixed (derived from "
		       "model.seed and the element order) and differ from the model's for the elements "
		       "it knows, so their inputs would change: set model.descriptor.train_radial: true "
		       "(the coefficients are then stored and mapped)");
}

static int map_weights(struct mapper *mp, struct mlip_err *err)
{
	const struct mlip_model *bm = mp->base->model;
	struct mlip_model *m = mp->out->model;
	int rc;
	for (size_t e = 0; e < m->config.n_elements; e++) {
		long eb = elem_index(bm, m->config.elements[e]);
		if (eb < 0) {
			mlip_log(MLIP_LOG_INFO, "element %s: new, its network freshly initialised and its "
				 "descriptor scaling mean 0 / std 1 until fitted (--scaling-data)",
				 mlip_element_symbol(m->config.elements[e]));
			mp->fresh += elem_end(m, e) - m->tensor0[e];
			continue;
		}
		if ((rc = map_element(mp, e, (size_t)eb, err)))
			return rc;
	}
	for (size_t e = 0; e < bm->config.n_elements; e++)
		if (elem_index(m, bm->config.elements[e]) < 0)
			mlip_log(MLIP_LOG_INFO, "element %s: dropped",
				 mlip_element_symbol(bm->config.elements[e]));
	map_radial(mp);
	if (mp->refused)
		return mlip_err_set(err, MLIP_EINVAL, "%s%s", mp->first,
				    mp->refused > 1 ? " (and more tensors like it)" : "");
	return MLIP_OK;
}

/* The task state of the new heads: their sources' normalizers and element references. */
static int carry_state(const struct mlip_potential *base, struct mlip_potential *out,
		       const struct plan *pl, struct mlip_plugins *reg, struct mlip_err *err)
{
	char *text = NULL;
	json_error_t jerr;
	int rc = mlip_tasks_state_to_json(&base->tasks, &text, err);
	if (rc)
		return rc;
	json_t *bs = json_loads(text, 0, &jerr);
	free(text);
	json_t *bheads = json_object_get(bs, "heads"), *root = json_object(), *heads = json_array();
	json_object_set_new(root, "heads", heads);
	for (size_t h = 0; h < out->tasks.n_heads; h++) {
		json_t *src = pl->src[h] >= 0 ? json_array_get(bheads, (size_t)pl->src[h]) : NULL;
		json_t *o = src ? json_deep_copy(src) : json_object();
		json_object_set_new(o, "name", json_string(out->tasks.heads[h].name));
		if (!src) {
			json_object_set_new(o, "normalizer", json_null());
			json_object_set_new(o, "element_references", json_null());
		}
		json_array_append_new(heads, o);
	}
	text = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(17));
	json_decref(root);
	json_decref(bs);
	if (!text)
		return nomem(err);
	rc = mlip_tasks_state_from_json(&out->tasks, reg, text, err);
	free(text);
	return rc;
}

static void log_plan(const struct mlip_potential *base, const struct plan *pl)
{
	const struct mlip_model_config *bc = &base->model->config;
	for (size_t h = 0; h < pl->n_heads; h++) {
		if (pl->src[h] < 0)
			mlip_log(MLIP_LOG_INFO, "head '%s': new, freshly initialised, without normalizer "
				 "or element references (give them in the fine-tuning tasks)", pl->names[h]);
		else if (pl->copied[h] && strcmp(bc->heads[pl->src[h]], pl->names[h]))
			mlip_log(MLIP_LOG_INFO, "head '%s': weights, normalizer and element references "
				 "copied from head '%s'", pl->names[h], bc->heads[pl->src[h]]);
	}
	for (size_t b = 0; b < bc->n_heads; b++) {
		long kept = -1, copy = -1;
		for (size_t h = 0; h < pl->n_heads; h++) {
			if (!strcmp(pl->names[h], bc->heads[b]))
				kept = (long)h;
			if (pl->src[h] == (long)b && copy < 0)
				copy = (long)h;
		}
		if (kept >= 0)
			continue;
		if (copy >= 0)
			mlip_log(MLIP_LOG_INFO, "head '%s': dropped (its copy '%s' stays)", bc->heads[b],
				 pl->names[copy]);
		else
			mlip_log(MLIP_LOG_INFO, "head '%s': dropped", bc->heads[b]);
	}
	for (size_t k = 0; k < pl->n_moved && k < 16; k++)
		mlip_log(MLIP_LOG_INFO, "task '%s': moved to head '%s'", pl->moved[k][0], pl->moved[k][1]);
	if (pl->n_zero_refs)
		mlip_log(MLIP_LOG_INFO, "%zu element reference%s of new elements set to 0 eV in the "
			 "stored tasks (refit them with element_references: fit)", pl->n_zero_refs,
			 pl->n_zero_refs > 1 ? "s" : "");
	for (size_t k = 0; k < pl->n_removed && k < 16; k++)
		mlip_log(MLIP_LOG_INFO, "task '%s': removed with its head", pl->removed[k]);
}

static int fit_from_files(struct mlip_model *m, const char *const *paths, size_t n,
			  struct mlip_err *err)
{
	struct mlip_batch_list l;
	const struct mlip_batch **bp = NULL;
	size_t fitted = 0;
	int rc = MLIP_OK;
	mlip_batch_list_init(&l);
	for (size_t k = 0; k < n && !rc; k++)
		rc = mlip_batch_list_load(&l, paths[k], err);
	if (!rc && l.n == 0)
		rc = mlip_err_set(err, MLIP_EDATA, "no batches in the scaling data");
	if (!rc && l.cutoff + 1e-12 < m->config.cutoff)
		rc = mlip_err_set(err, MLIP_EINVAL, "the scaling data were collated at %g Å, below the "
				  "model cutoff %g Å", l.cutoff, m->config.cutoff);
	if (!rc && !(bp = malloc(l.n * sizeof(*bp))))
		rc = nomem(err);
	for (size_t k = 0; !rc && k < l.n; k++)
		bp[k] = &l.items[k];
	if (!rc && !(rc = mlip_finetune_fit_scaling(m, bp, l.n, &fitted, err)))
		mlip_log(MLIP_LOG_INFO, "descriptor scaling fitted for %zu new inputs on %zu batches",
			 fitted, l.n);
	free(bp);
	mlip_batch_list_release(&l);
	return rc;
}

int mlip_finetune_init(struct mlip_potential *out, const struct mlip_potential *base,
		       const struct mlip_finetune_opts *o, struct mlip_plugins *reg,
		       struct mlip_err *err)
{
	struct mlip_config cfg;
	struct plan pl;
	struct mapper mp;
	int rc;
	memset(out, 0, sizeof(*out));
	if (!base->raw)
		return mlip_err_set(err, MLIP_EINVAL, "the model was loaded without its raw weights");
	if ((rc = merge_config(base, o, &pl, &cfg, err)))
		return rc;
	if ((rc = mlip_potential_create(out, &cfg, reg, err)))
		return rc;
	memset(&mp, 0, sizeof(mp));
	mp.base = base;
	mp.out = out;
	mp.bw = base->raw;
	mp.strict = o->strict;
	if (pl.n_heads != out->model->config.n_heads) {
		/* model.heads was not a list apply_heads could read: match by name */
		pl.n_heads = out->model->config.n_heads;
		for (size_t h = 0; h < pl.n_heads; h++) {
			snprintf(pl.names[h], MLIP_NAME_MAX, "%s", out->model->config.heads[h]);
			pl.src[h] = base_head(base, pl.names[h]);
			pl.copied[h] = 0;
		}
	}
	for (size_t h = 0; h < out->model->config.n_heads; h++)
		mp.head_map[h] = pl.src[h];
	log_plan(base, &pl);
	if ((rc = map_weights(&mp, err)) || (rc = carry_state(base, out, &pl, reg, err)))
		goto fail;
	if (o->n_scaling_data && (rc = fit_from_files(out->model, o->scaling_data, o->n_scaling_data,
						      err)))
		goto fail;
	if (!(out->raw = malloc(out->model->n_params * sizeof(double)))) {
		rc = nomem(err);
		goto fail;
	}
	for (size_t k = 0; k < out->model->n_params; k++)
		out->raw[k] = (double)out->model->params[k];
	out->has_raw = 1;
	mlip_log(MLIP_LOG_INFO, "%zu parameters in %zu tensors: %zu copied, %zu mapped (heads or "
		 "inputs), %zu freshly initialised", out->model->n_params, out->model->tensors.n,
		 mp.copied, mp.mapped, mp.fresh);
	return MLIP_OK;
fail:
	mlip_potential_release(out);
	return rc;
}

int mlip_finetune_load_base(struct mlip_potential *p, const char *path, struct mlip_plugins *reg,
			    struct mlip_err *err)
{
	struct stat st;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		return mlip_potential_from_run(p, path, reg, err);
	return mlip_potential_load(p, path, reg, MLIP_WEIGHTS_RAW, err);
}

/* ---- scaling ---- */

int mlip_finetune_set_scaling(struct mlip_model *m, const struct mlip_sf_stats *st,
			      size_t *n_fitted, struct mlip_err *err)
{
	size_t total = 0, count = 0;
	for (size_t e = 0; e < m->desc.n_elements; e++)
		total += m->desc.dim[e];
	/* (total) per input: fit it, and its scaling before the fit */
	char *fit = calloc(total + 1, 1);
	mlip_real *keep = malloc((2 * total + 1) * sizeof(mlip_real));
	if (!fit || !keep) {
		free(fit);
		free(keep);
		return nomem(err);
	}
	for (size_t e = 0, o = 0; e < m->desc.n_elements; o += m->desc.dim[e], e++) {
		const struct mlip_tensor *t = &m->tensors.t[m->tensor0[e]];
		const mlip_real *mean = m->params + t[0].offset, *sd = m->params + t[1].offset;
		const mlip_real *w = m->params + t[2].offset;
		size_t D = m->desc.dim[e], rows = t[2].shape[0];
		int all_identity = 1;
		for (size_t c = 0; c < D; c++)
			all_identity &= mean[c] == 0 && sd[c] == 1;
		for (size_t c = 0; c < D; c++) {
			int zero = 1;
			for (size_t r = 0; r < rows && zero; r++)
				zero = w[r * D + c] == 0;
			fit[o + c] = mean[c] == 0 && sd[c] == 1 && (zero || all_identity);
			keep[2 * (o + c)] = mean[c];
			keep[2 * (o + c) + 1] = sd[c];
		}
	}
	mlip_model_scaling_set(m, st);
	for (size_t e = 0, o = 0; e < m->desc.n_elements; o += m->desc.dim[e], e++) {
		const struct mlip_tensor *t = &m->tensors.t[m->tensor0[e]];
		mlip_real *mean = m->params + t[0].offset, *sd = m->params + t[1].offset;
		for (size_t c = 0; c < m->desc.dim[e]; c++) {
			if (fit[o + c]) {
				count++;
				continue;
			}
			mean[c] = keep[2 * (o + c)];
			sd[c] = keep[2 * (o + c) + 1];
		}
	}
	free(fit);
	free(keep);
	if (n_fitted)
		*n_fitted = count;
	return MLIP_OK;
}

int mlip_finetune_fit_scaling(struct mlip_model *m, const struct mlip_batch *const *b, size_t n,
			      size_t *n_fitted, struct mlip_err *err)
{
	struct mlip_sf_stats st;
	int rc = mlip_model_scaling_stats(m, &st, b, n, err);
	if (!rc)
		rc = mlip_finetune_set_scaling(m, &st, n_fitted, err);
	mlip_sf_stats_release(&st);
	return rc;
}
