/*
 * evaluate.h - evaluation of a potential on batches (share/doc/TRAINING.md, Metrics):
 * the per-batch step that mlip-train's validation and mlip-eval share, and
 * the whole of what mlip-eval does.
 *
 * Two layers:
 *
 * struct mlip_eval accumulates, batch by batch, the metrics of every task
 * (physical units, micro-averaged, per dataset), the total raw-space loss of
 * each batch (each batch on its own: its loss reductions divide by its own
 * counts), the number of structures and atoms, and the seconds spent in the
 * model's forward pass. mlip_eval_reduce sums all of it over MPI ranks;
 * mlip_eval_metrics_json adds the keys "<prefix><dataset>,<task>,<metric>"
 * and "<prefix>loss" (the mean loss per batch), null where nothing was seen.
 *
 * mlip_eval_run is mlip-eval: load an inference checkpoint, read batch
 * streams or structure files (collated at the model's cutoff), evaluate
 * batch k on rank k mod W, and write on rank 0 one JSON object of results,
 * optional per-structure lines and an extxyz file of predictions (in input
 * order whatever W), then check --fail-if conditions.
 */
#ifndef MLIP_EVALUATE_H
#define MLIP_EVALUATE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "batch.h"
#include "error.h"
#include "metrics.h"
#include "model.h"
#include "plugin.h"
#include "potential.h"
#include "tasks.h"

struct mlip_eval {
	struct mlip_model *model;        /* borrowed */
	const struct mlip_tasks *tasks;  /* borrowed */
	uint8_t *task_on;                /* (n_tasks) 1 = reported and in the loss (owned) */
	unsigned flags;                  /* MLIP_MODEL_* outputs of each forward */
	struct mlip_metrics metrics;
	double loss;                     /* Σ over batches of the batch's total loss */
	double batches;                  /* batches evaluated */
	uint64_t structures, atoms;
	uint64_t labelled;               /* structures with at least one label */
	double model_seconds;            /* forward passes; after reduce: the slowest rank's */
	/* physical predictions of the last batch, valid until the next mlip_eval_batch */
	double *energy;                  /* (B, H) eV */
	double *forces;                  /* (N, 3, H) eV/Å, or NULL without MLIP_MODEL_FORCES */
	double *stress;                  /* (B, 9, H) eV/Å³, or NULL without MLIP_MODEL_STRESS */
	/* scratch (owned), grown to the largest batch */
	size_t cap_b, cap_n;
	double *buf_f, *buf_s;           /* what forces / stress point to when computed */
	double *dE, *dF, *dS;
	uint64_t *counts;                /* (n_tasks) */
	double *task_loss;               /* (n_tasks) */
};

/*
 * Start an evaluation of model with tasks (both borrowed; the tasks must be
 * fitted). The forward computes what the tasks need plus the outputs in
 * extra (MLIP_MODEL_FORCES | MLIP_MODEL_STRESS). Every task is on.
 */
int mlip_eval_init(struct mlip_eval *ev, struct mlip_model *model, const struct mlip_tasks *tasks,
		   unsigned extra, struct mlip_err *err);
void mlip_eval_release(struct mlip_eval *ev);

/*
 * Evaluate only the tasks named (n > 0); others are neither reported nor
 * part of the loss. MLIP_EINVAL naming an unknown task and the known ones.
 */
int mlip_eval_select_tasks(struct mlip_eval *ev, const char *const *names, size_t n,
			   struct mlip_err *err);

/*
 * Forward b (timed), physical predictions into ev->energy / forces / stress,
 * metrics, and the batch's loss. Errors from the model (MLIP_EDATA for an
 * element the model lacks) and from loss plugins.
 */
int mlip_eval_batch(struct mlip_eval *ev, const struct mlip_batch *b, struct mlip_err *err);

/* Sum everything over ranks (call on every rank). */
int mlip_eval_reduce(struct mlip_eval *ev, struct mlip_err *err);

/*
 * Add the metric keys to the JSON object o (jsonl.h), each as
 * "<prefix><dataset>,<task>,<metric>": value (null where nothing was seen),
 * datasets in sorted order (after reduce), tasks and metrics in config
 * order, then "<prefix>loss".
 */
void mlip_eval_metrics_json(json_t *o, const struct mlip_eval *ev, const char *prefix);

/* A --fail-if condition "KEY>VALUE" (operators >, >=, <, <=). */
enum mlip_cmp { MLIP_CMP_GT, MLIP_CMP_GE, MLIP_CMP_LT, MLIP_CMP_LE };

struct mlip_eval_cond {
	char key[256];
	enum mlip_cmp op;
	double value;
	const char *text;                /* as given (borrowed) */
};

/*
 * Parse "KEY OP VALUE" (the last <, >, <= or >= splits it, so keys may hold
 * anything; blanks around the parts are ignored). MLIP_EINVAL for a missing
 * operator, an empty key or a value that is not a number.
 */
int mlip_eval_cond_parse(const char *text, struct mlip_eval_cond *c, struct mlip_err *err);

/*
 * Check conditions against a JSON object text (the results line). Returns
 * MLIP_OK when none is crossed; MLIP_ERUN when some are (each is logged;
 * err names them with key, value and threshold); MLIP_EINVAL when a key is
 * not in the results (err lists the keys that are) or is not a number. A
 * null value is not crossed; it is logged as a warning.
 */
int mlip_eval_check(const char *json_text, const struct mlip_eval_cond *c, size_t n,
		    struct mlip_err *err);

struct mlip_eval_opts {
	const char *model;               /* inference checkpoint */
	const char *const *inputs;       /* (n_inputs) batch streams or structure files, "-" = stdin */
	size_t n_inputs;
	const char *tasks_file;          /* YAML with a tasks: list, or NULL (the model's tasks) */
	const char *const *tasks;        /* (n_tasks) --task restriction */
	size_t n_tasks;
	const char *const *datasets;     /* (n_datasets) --dataset restriction; datasets[0] also
					  * names structures that name none ("default" if n = 0) */
	size_t n_datasets;
	enum mlip_weights weights;
	const char *head;                /* predictions and per-structure errors; NULL = first */
	const char *predictions;         /* extxyz output path, or NULL ("-" = stdout) */
	int per_structure;               /* one JSON line per structure on out */
	FILE *out;                       /* rank 0: per-structure lines and the results */
	const char *jsonl;               /* append the results line here instead of out, or NULL */
	const struct mlip_eval_cond *conds; /* (n_conds) --fail-if */
	size_t n_conds;
	int progress;                    /* progress on stderr when it is a terminal */
	struct mlip_plugins *reg;
};

void mlip_eval_opts_init(struct mlip_eval_opts *o);

/*
 * Run mlip-eval on every rank. Returns MLIP_OK; MLIP_ERUN when a --fail-if
 * condition is crossed (after the results were written); MLIP_EINVAL for
 * usage problems (unknown task, head or --fail-if key, a --tasks file that
 * does not fit the model); MLIP_EDATA for a file that is not a model or is
 * damaged, and for unreadable data; MLIP_EIO when a file cannot be opened;
 * MLIP_EPLUGIN. Every rank returns the same status.
 */
int mlip_eval_run(const struct mlip_eval_opts *o, struct mlip_err *err);

#endif
