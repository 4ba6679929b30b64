/*
 * train.h - the training unit: what mlip-train runs (share/doc/TRAINING.md).
 *
 * One call runs a whole training: load the batch streams, build or resume
 * the potential, fit scaling / element references / normalizers (fresh runs
 * only), then step: forward, losses, backward, gradient all-reduce (ddp) or
 * reduce-scatter (sharded), clipping, AdamW, EMA, logging, schedule;
 * evaluate, checkpoint, and write the final model. Under MPI every rank
 * calls it; only rank 0 writes metrics and the run directory's shared files.
 *
 * The objective is global: each loss reduction divides by counts summed over
 * ranks, so the gradients of the ranks are summed, not averaged, and W ranks
 * on the same global batches follow the same loss curve as one process.
 */
#ifndef MLIP_TRAIN_H
#define MLIP_TRAIN_H

#include <signal.h>
#include <stdio.h>

#include "config.h"
#include "error.h"
#include "plugin.h"

struct mlip_train_opts {
	const char *run_dir;                 /* output directory (created) */
	const char *resume_dir;              /* checkpoint directory to resume from, or NULL */
	FILE *metrics;                       /* JSON Lines (rank 0), usually stdout; NULL = none */
	int progress;                        /* a progress line on stderr (rank 0, terminals) */
	volatile sig_atomic_t *stop;         /* set by a signal handler: checkpoint and stop */
	struct mlip_plugins *reg;            /* loss and normalizer plugins */
	int force;                           /* a fresh run may replace a run in run_dir */
};

/*
 * Run. cfg is taken over (released on return). Returns MLIP_OK, or
 * MLIP_ERUN when training diverged (too many non-finite steps), or another
 * error. *stopped is set when *opts->stop ended the run early (after its
 * checkpoint was written).
 */
int mlip_train_run(struct mlip_config *cfg, const struct mlip_train_opts *opts, int *stopped,
		   struct mlip_err *err);

/*
 * Resolve the configuration of a resumed run: the checkpoint's resume.yaml
 * config; when user (may be NULL) is given too, it must agree with it on
 * everything that changes the result (logging, evaluation and checkpoint
 * frequency may differ), else MLIP_EINVAL naming the first differing key.
 */
int mlip_train_resume_config(const char *ckpt_dir, struct mlip_config *user,
			     struct mlip_config *out, struct mlip_err *err);

#endif
