/*
 * finetune.h - the starting point of a fine-tuning run (mlip-finetune-init):
 * a trained potential's raw weights mapped onto a model built from its
 * configuration with overrides, with heads kept, added (fresh or copied from
 * a pretrained head) or dropped, and the pretrained normalizers and element
 * references carried over per head.
 *
 * The configuration: the base's resolved configuration, with the base's
 * descriptor set written out explicitly when asked (pin_descriptors), then
 * the KEY=VALUE overrides (mlip_yaml_set), then the head list (the heads
 * file, or model.heads as the overrides left it), then the task list fixed
 * up for the heads (below), checked with mlip_config_from_tree. Strict: any
 * override that fails is an error. Not strict: the overrides are tried one
 * at a time in order and one after which the configuration no longer checks
 * is skipped with a warning (so a pair that is only valid together must come
 * in that order).
 *
 * Heads. Each head of the new list takes its w_out row, b_out entry,
 * normalizer and element references from a source head of the base: its
 * copy_from head, else the base head of the same name; a head with neither
 * is new: its w_out row is the row a freshly initialised model of the new
 * configuration has at that position (model.h's seeded rule: the
 * splitmix64 stream of seed XOR FNV-1a-64("Sym.w_out"), read row-major), its
 * b_out 0, and it has no normalizer and no element references. Base heads
 * in no new head's source are dropped. Tasks of the stored configuration
 * follow their head: a task on a head that stays keeps it; a task on a head
 * that is dropped moves to the first new head copied from it, or is removed
 * when there is none (a configuration left without tasks is an error).
 *
 * Weights, tensor by tensor (names as model.h): an element the base does not
 * have is freshly initialised (descriptor scaling mean 0 / std 1). For an
 * element it has:
 *   - the inputs are matched by symmetry function (kind, neighbour elements,
 *     η, r_s, λ, ζ, r_c): sf_mean, sf_std and the columns of w1 follow
 *     their function; a function the base lacks gets mean 0, std 1 and a
 *     zero column of w1 (so the element's energies do not change); a base
 *     function the new set lacks is a refusal (strict) or lost (not strict).
 *     Adding an element to a model that uses the default set changes that
 *     set for every element (radial functions per neighbour element, fewer
 *     angular η): pin_descriptors keeps the base's functions;
 *   - w_out rows and b_out entries follow the heads (above);
 *   - every other tensor is copied when name and shape agree. A shape that
 *     differs (a hidden width override), a tensor the base lacks (a new
 *     layer) or a base tensor left over: strict, MLIP_EINVAL naming the
 *     tensor and both shapes; not strict, the fresh initialisation and a
 *     warning.
 * Every decision is logged (mlip_log INFO; WARN for what non-strict skips).
 *
 * Example:
 *     struct mlip_potential base, out;
 *     struct mlip_finetune_opts o;
 *     mlip_finetune_opts_init(&o);
 *     o.overrides = (const char *[]){ "model.elements=[Si, Li]" };
 *     o.n_overrides = 1;
 *     o.pin_descriptors = true;
 *     if (mlip_potential_load(&base, "si.mlip", &reg, MLIP_WEIGHTS_RAW, &err) ||
 *         mlip_finetune_init(&out, &base, &o, &reg, &err) ||
 *         mlip_potential_save(&out, "start.mlip", out.raw, NULL, 0, &err)) ...
 */
#ifndef MLIP_FINETUNE_H
#define MLIP_FINETUNE_H

#include <stdbool.h>
#include <stddef.h>

#include "batch.h"
#include "error.h"
#include "model.h"
#include "plugin.h"
#include "potential.h"

/* One head of the new list: name, and the pretrained head to copy (or NULL). */
struct mlip_finetune_head {
	char *name;         /* owned */
	char *copy_from;    /* owned, or NULL */
};

struct mlip_finetune_heads {
	size_t n;
	struct mlip_finetune_head *heads;  /* (n) */
};

/*
 * Read a heads file:
 *     heads:
 *       - {name: energy}                         # keep
 *       - {name: li_energy, copy_from: energy}   # new, copied
 *       - other                                  # a bare name: {name: other}
 * Errors: MLIP_EIO (cannot read), MLIP_EINVAL with file:line:column (bad
 * YAML, unknown keys, a duplicate or empty name, no heads, more than
 * MLIP_MAX_HEADS). On failure h is left empty.
 */
int mlip_finetune_heads_load(const char *path, struct mlip_finetune_heads *h,
			     struct mlip_err *err);
void mlip_finetune_heads_release(struct mlip_finetune_heads *h);

struct mlip_finetune_opts {
	const char *const *overrides;           /* (n_overrides) "KEY=VALUE" */
	size_t n_overrides;
	const struct mlip_finetune_heads *heads; /* NULL: model.heads after the overrides */
	bool strict;                            /* [true] */
	bool pin_descriptors;                   /* [false] */
	const char *const *scaling_data;        /* (n_scaling_data) batch streams, or none */
	size_t n_scaling_data;
};

/* Defaults: no overrides, keep the heads, strict, nothing pinned, no scaling data. */
void mlip_finetune_opts_init(struct mlip_finetune_opts *o);

/*
 * Load the base of a fine-tuning with its raw weights: an inference
 * checkpoint (mlip_potential_load, MLIP_WEIGHTS_RAW) or a training
 * checkpoint directory (mlip_potential_from_run). Errors as those.
 */
int mlip_finetune_load_base(struct mlip_potential *p, const char *path, struct mlip_plugins *reg,
			    struct mlip_err *err);

/*
 * Build out (a new potential: merged configuration, mapped raw weights in
 * out->model->params and a copy in out->raw, fitted task state) from base,
 * which must hold raw weights (mlip_potential_load with MLIP_WEIGHTS_RAW, or
 * mlip_potential_from_run). With scaling data, mlip_finetune_fit_scaling
 * runs on it at the end. reg must outlive out. Errors: MLIP_EINVAL for
 * configuration problems and strict refusals (the message names the
 * override, head or tensor), MLIP_EDATA / MLIP_EIO from the scaling data,
 * MLIP_EPLUGIN, MLIP_ENOMEM. On failure out is released.
 */
int mlip_finetune_init(struct mlip_potential *out, const struct mlip_potential *base,
		       const struct mlip_finetune_opts *o, struct mlip_plugins *reg,
		       struct mlip_err *err);

/*
 * Fit the descriptor scaling that was never fitted, from n batches: an input
 * whose scaling is the identity (mean 0, std 1) is fitted when its column
 * of the element's first weight matrix is all zero (an input that
 * fine-tuning added) or when every input of its element has the identity
 * scaling (an element new to the model). Every other input keeps its
 * scaling, so the model's predictions do not change. Meant for the start of
 * a fine-tuning run (mlip-train with model.init_from keeps the base's
 * scaling). *n_fitted (may be NULL) counts the inputs fitted. Errors as
 * mlip_model_fit_scaling.
 */
int mlip_finetune_fit_scaling(struct mlip_model *m, const struct mlip_batch *const *b, size_t n,
			      size_t *n_fitted, struct mlip_err *err);
/* The same from statistics already gathered (mlip_model_scaling_stats_add). MLIP_ENOMEM. */
int mlip_finetune_set_scaling(struct mlip_model *m, const struct mlip_sf_stats *st,
			      size_t *n_fitted, struct mlip_err *err);

#endif
