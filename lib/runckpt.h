/*
 * runckpt.h - training checkpoints: RUN_DIR/checkpoints/step_N/ (mlip-ckpt(5)).
 *
 * A checkpoint directory holds
 *   resume.yaml           {progress: {...}, config: <the resolved config>}
 *   state.R.mlip          one per rank R of W (ckpt.h container): JSON header
 *                         {"format": "mlip-train-state", "rank", "world",
 *                         "shard_start", "shard_count", "n_params", ...} and the
 *                         blobs params, adam_m, adam_v[, ema] for the rank's
 *                         shard of the flat buffers (ddp: rank 0 holds all,
 *                         the others none; sharded: contiguous shards)
 *   inference_ckpt.mlip   (optional) the model at that step
 *   DONE                  written last by rank 0: the checkpoint is complete
 * Loading assembles the full buffers from every shard, so a checkpoint of any
 * world size and either strategy gives the same state.
 */
#ifndef MLIP_RUNCKPT_H
#define MLIP_RUNCKPT_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "lbfgs.h"
#include "yamltree.h"

struct mlip_run_progress {
	uint64_t step;            /* iterations done (skipped non-finite ones included) */
	uint64_t adam_t;          /* AdamW steps applied */
	uint64_t nonfinite;       /* consecutive non-finite steps at this point */
	uint64_t nonfinite_total; /* all skipped steps so far */
	int ema_started;          /* the EMA holds a value */
	int world;                /* ranks that wrote the checkpoint */
	char strategy[16];        /* "ddp" or "sharded" */
};

struct mlip_run_state {
	struct mlip_run_progress progress;
	struct mlip_yaml_node *config;   /* resolved config tree (owned) */
	char *tasks_state;               /* JSON text (owned) */
	size_t n_params;
	double *params, *adam_m, *adam_v, *ema; /* (n_params) each; ema NULL without EMA */
};

void mlip_run_state_init(struct mlip_run_state *s);
void mlip_run_state_release(struct mlip_run_state *s);

/*
 * Write this rank's state file into dir (which must exist): shard
 * [start, start + count) of the whole parameter vector params, and the
 * optimizer's state of that shard, which is all a rank holds of it: adam_m,
 * adam_v and ema (may be NULL) point at the shard's count values.
 * tasks_state is stored by rank 0 only (others pass NULL).
 */
int mlip_runckpt_write_shard(const char *dir, int rank, const struct mlip_run_progress *pg,
			     size_t n_params, size_t start, size_t count, const double *params,
			     const double *adam_m, const double *adam_v, const double *ema,
			     const char *tasks_state, struct mlip_err *err);

/* Rank 0, after every shard is written: resume.yaml from the config text, then DONE. */
int mlip_runckpt_write_resume(const char *dir, const struct mlip_run_progress *pg,
			      const char *config_yaml, struct mlip_err *err);
int mlip_runckpt_mark_done(const char *dir, struct mlip_err *err);

/*
 * Load a complete checkpoint directory: DONE present, resume.yaml readable,
 * every state file present and consistent (same n_params, shards covering
 * the buffers once). Messages say which part is missing or damaged.
 */
int mlip_runckpt_load(const char *dir, struct mlip_run_state *s, struct mlip_err *err);

/*
 * The L-BFGS phase (optim.lbfgs): DIR/lbfgs.mlip, written by rank 0 once the
 * phase has started (the state is the same on every rank). A ckpt.h
 * container: JSON {"format": "mlip-lbfgs-state", "n", "m", "k", "head",
 * "f", "rho": [m numbers]} and the blobs g, s_0..s_{m−1}, y_0..y_{m−1}
 * (n values each). Numbers are written with 17 significant digits, so the
 * state comes back bit for bit.
 */
int mlip_runckpt_write_lbfgs(const char *dir, const struct mlip_lbfgs *lb, struct mlip_err *err);
/* *found = 0 (and MLIP_OK) when dir has no lbfgs.mlip; else lb (initialised
 * by the caller for n and m) is filled. MLIP_EDATA for a damaged file or one
 * of another size. */
int mlip_runckpt_load_lbfgs(const char *dir, struct mlip_lbfgs *lb, int *found,
			    struct mlip_err *err);

/* Create dir and its parents (mkdir -p). */
int mlip_mkdirs(const char *dir, struct mlip_err *err);

/*
 * Keep the newest `keep` complete step_N directories under checkpoints_dir
 * (by N); remove older ones and incomplete ones older than the newest
 * complete one. "final" is never removed.
 */
int mlip_runckpt_prune(const char *checkpoints_dir, size_t keep, struct mlip_err *err);

/*
 * Make run_dir ready for a fresh run. A directory that holds a run
 * (config.yaml, inference_ckpt.mlip or checkpoints/) is refused with
 * MLIP_EINVAL naming what it holds, unless force: then that run's files
 * (config.yaml, inference_ckpt.mlip, checkpoints/, debug/) are removed, so
 * nothing of it mixes with the new run (a stale checkpoint would be resumed
 * from). Anything else in the directory is left alone.
 */
int mlip_runckpt_claim_dir(const char *run_dir, int force, struct mlip_err *err);

#endif
