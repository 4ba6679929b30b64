/*
 * optim.c - the optimizer, schedule, clipping and EMA as flat loops.
 */
#include <math.h>

#include "optim.h"
#include "banned.h"

void mlip_adamw_defaults(struct mlip_adamw *a)
{
	a->lr = 1e-3;
	a->beta1 = 0.9;
	a->beta2 = 0.999;
	a->eps = 1e-8;
	a->weight_decay = 0;
}

void mlip_adamw_step(double *params, const double *grads, double *m, double *v,
		     const uint8_t *decay, size_t n, const struct mlip_adamw *a,
		     double factor, uint64_t t)
{
	double lr = a->lr * factor;
	double bc1 = 1.0 - pow(a->beta1, (double)t);
	double bc2 = 1.0 - pow(a->beta2, (double)t);
	double shrink = 1.0 - lr * a->weight_decay;
	double b1 = a->beta1, b2 = a->beta2, eps = a->eps;
	double step = lr / bc1, sqrt_bc2 = sqrt(bc2);
	for (size_t k = 0; k < n; k++) {
		double g = grads[k];
		double p = params[k];
		if (!decay || decay[k])
			p *= shrink;
		m[k] = b1 * m[k] + (1.0 - b1) * g;
		v[k] = b2 * v[k] + (1.0 - b2) * g * g;
		/* PyTorch's form: denom = sqrt(v)/sqrt(bc2) + eps, θ −= (lr/bc1) m / denom */
		params[k] = p - step * m[k] / (sqrt(v[k]) / sqrt_bc2 + eps);
	}
}

double mlip_schedule_factor(const struct mlip_schedule *sch, uint64_t s)
{
	double wu = (double)(sch->warmup_steps ? sch->warmup_steps : 1);
	if ((double)s <= wu) {
		double alpha = (double)s / wu;
		return sch->warmup_factor * (1.0 - alpha) + alpha;
	}
	if (s >= sch->total_steps)
		return sch->lr_min_factor;
	double c = cos(M_PI * (double)s / (double)sch->total_steps);
	return sch->lr_min_factor + 0.5 * (1.0 - sch->lr_min_factor) * (1.0 + c);
}

uint64_t mlip_schedule_warmup_from_epochs(double warmup_epochs, uint64_t batches_per_epoch)
{
	double w = floor(warmup_epochs * (double)batches_per_epoch);
	return w < 1 ? 1 : (uint64_t)w;
}

double mlip_sum_squares(const double *x, size_t n)
{
	double s = 0;
	for (size_t k = 0; k < n; k++)
		s += x[k] * x[k];
	return s;
}

double mlip_clip_factor(double grad_norm, double max_norm)
{
	if (!(max_norm > 0))
		return 1.0;
	double f = max_norm / (grad_norm + 1e-6);
	return f < 1.0 ? f : 1.0;
}

void mlip_scale(double *x, size_t n, double s)
{
	for (size_t k = 0; k < n; k++)
		x[k] *= s;
}

void mlip_ema_update(double *ema, const double *params, size_t n, double decay, int first)
{
	if (first) {
		for (size_t k = 0; k < n; k++)
			ema[k] = params[k];
		return;
	}
	for (size_t k = 0; k < n; k++)
		ema[k] = decay * ema[k] + (1.0 - decay) * params[k];
}
