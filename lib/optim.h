/*
 * optim.h - AdamW with a no-decay group, fairchem's warm-up + cosine
 * learning-rate factor, global-norm gradient clipping and EMA weights.
 *
 * Everything works on flat buffers (or a contiguous shard of them), so the
 * sharded strategy calls the same functions on its slice.
 */
#ifndef MLIP_OPTIM_H
#define MLIP_OPTIM_H

#include <stddef.h>
#include <stdint.h>

struct mlip_adamw {
	double lr;            /* base learning rate */
	double beta1, beta2;  /* 0.9, 0.999 */
	double eps;           /* 1e-8 */
	double weight_decay;  /* decoupled: θ ← θ(1 − lr_t·wd) for decaying entries */
};

void mlip_adamw_defaults(struct mlip_adamw *a);

/*
 * One AdamW step (PyTorch's torch.optim.AdamW, amsgrad off) on n entries:
 *   θ ← θ(1 − lr·wd·decay_i);  m ← β1 m + (1−β1) g;  v ← β2 v + (1−β2) g²;
 *   θ ← θ − lr · (m / (1−β1^t)) / (sqrt(v / (1−β2^t)) + eps)
 * with lr = a->lr · factor and t the 1-based step count. decay is a (n) mask
 * (1 = weight decays, 0 = no-decay group) or NULL for "all decay".
 */
void mlip_adamw_step(double *params, const double *grads, double *m, double *v,
		     const uint8_t *decay, size_t n, const struct mlip_adamw *a,
		     double factor, uint64_t t);

struct mlip_schedule {
	double warmup_factor;   /* λ at step 0 */
	uint64_t warmup_steps;  /* Wu ≥ 1 */
	uint64_t total_steps;   /* T */
	double lr_min_factor;
};

/*
 * fairchem's factor for the 0-based step s:
 *   s ≤ Wu: warmup_factor·(1 − s/Wu) + s/Wu;   s ≥ T: lr_min_factor;
 *   else lr_min_factor + ½(1 − lr_min_factor)(1 + cos(π s / T)).
 */
double mlip_schedule_factor(const struct mlip_schedule *sch, uint64_t s);

/*
 * Wu from warmup_epochs: max(floor(warmup_epochs · batches_per_epoch), 1).
 */
uint64_t mlip_schedule_warmup_from_epochs(double warmup_epochs, uint64_t batches_per_epoch);

/* Sum of squares of n entries (partial norms combine across shards/ranks). */
double mlip_sum_squares(const double *x, size_t n);

/*
 * Clip factor for a total gradient norm g: min(1, max_norm / (g + 1e-6)),
 * or 1 when max_norm ≤ 0 (clipping off).
 */
double mlip_clip_factor(double grad_norm, double max_norm);

/* x ← x · s over n entries. */
void mlip_scale(double *x, size_t n, double s);

/*
 * EMA: ema ← d·ema + (1 − d)·params; when first is set, ema ← params.
 */
void mlip_ema_update(double *ema, const double *params, size_t n, double decay, int first);

#endif
